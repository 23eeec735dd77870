import { describe, expect, it } from 'vitest';
import { mkdtempSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeStack } from '../helpers/services.js';
import { parseCidr, siteMatcher } from '../../src/sites/model.js';
import { createSiteDirectory } from '../../src/sites/store.js';
import { createAssetVersions } from '../../src/sites/asset-version.js';
import type { Site } from '../../src/db/schema.js';

async function json(res: Response) {
  return { status: res.status, body: (await res.json()) as any };
}

function site(name: string, subnets: string[], relays: string[] = []): Site {
  return { id: 1, name, description: '', subnets, relays, assetBaseUrl: '', bootBaseUrl: '', loaders: {}, defaultProfile: '', menuDisplay: '', version: 1, createdAt: 0, updatedAt: 0 };
}

describe('site matching', () => {
  it.each([
    ['10.20.0.0/16', { net: 0x0a140000, prefix: 16 }],
    ['0.0.0.0/0', { net: 0, prefix: 0 }],
    ['192.168.7.9/32', { net: 0xc0a80709, prefix: 32 }],
  ])('parses %s', (text, want) => {
    expect(parseCidr(text)).toMatchObject(want);
  });

  it.each([
    ['10.20.1.0/16', 'host bits set (did you mean 10.20.0.0/16?)'],
    ['10.20.0.0/33', 'not an IPv4 CIDR'],
    ['10.20.0.0', 'not an IPv4 CIDR'],
    ['300.1.1.0/24', 'not an IPv4 CIDR'],
    ['10.20.0.0/16\nchain x', 'not an IPv4 CIDR'],
  ])('refuses %j', (text, message) => {
    expect(parseCidr(text)).toContain(message);
  });

  const match = siteMatcher([site('branch', ['10.20.0.0/16'], ['10.99.0.1']), site('lab', ['10.20.5.0/24']), site('rack', ['172.16.0.0/12'])]);

  it('prefers a listed relay, then the most specific subnet of the relay, then of the client', () => {
    expect(match({ relay: '10.99.0.1', client: '10.20.5.7' })).toMatchObject({ site: { name: 'branch' }, by: 'relay 10.99.0.1' });
    expect(match({ relay: '10.20.5.1' })).toMatchObject({ site: { name: 'lab' }, by: 'relay 10.20.5.1 in 10.20.5.0/24' });
    expect(match({ client: '10.20.5.7' })?.site.name).toBe('lab');
    expect(match({ client: '10.20.6.7' })?.site.name).toBe('branch');
    expect(match({ client: '::ffff:172.17.3.4' })?.site.name).toBe('rack');
    // A relay no site knows falls through to the client's address.
    expect(match({ relay: '192.0.2.1', client: '10.20.6.7' })?.site.name).toBe('branch');
  });

  it('gives no site for the centre’s own addresses, 0.0.0.0 and junk', () => {
    expect(match({ client: '192.168.1.5' })).toBeUndefined();
    expect(match({ relay: '0.0.0.0', client: '0.0.0.0' })).toBeUndefined();
    expect(match({ client: 'not-an-ip' })).toBeUndefined();
    expect(match({})).toBeUndefined();
  });

  it('re-reads the list after its TTL, at once after invalidate, and keeps the last good list when a read fails', () => {
    let t = 0;
    let list = [site('a', ['10.1.0.0/16'])];
    let fail = false;
    let reads = 0;
    const errors: string[] = [];
    const dir = createSiteDirectory(
      () => {
        reads++;
        if (fail) throw new Error('database is locked');
        return list;
      },
      { ttlMs: 1000, now: () => t, onError: (e) => errors.push(e.message) },
    );
    expect(dir.match({ client: '10.1.2.3' })?.site.name).toBe('a');
    list = [site('b', ['10.1.0.0/16'])];
    t = 999;
    expect(dir.match({ client: '10.1.2.3' })?.site.name).toBe('a');
    t = 1000;
    expect(dir.match({ client: '10.1.2.3' })?.site.name).toBe('b');
    list = [site('c', ['10.1.0.0/16'])];
    dir.invalidate();
    expect(dir.match({ client: '10.1.2.3' })?.site.name).toBe('c');
    fail = true;
    t = 5000;
    expect(dir.match({ client: '10.1.2.3' })?.site.name).toBe('c');
    expect(errors).toEqual(['database is locked']);
    expect(reads).toBe(4);
  });
});

describe('validator-carrying asset versions', () => {
  it('changes when the file is replaced, is absent for missing files and URLs, and is cached for its TTL', () => {
    const root = mkdtempSync(join(tmpdir(), 'cb-av-'));
    mkdirSync(join(root, 'debian12'));
    writeFileSync(join(root, 'debian12', 'linux'), 'kernel one');
    let t = 0;
    const versions = createAssetVersions(root, { ttlMs: 1000, now: () => t });
    const v1 = versions('debian12/linux');
    expect(v1).toMatch(/^[A-Za-z0-9_-]{24}$/);
    expect(versions('debian12/missing')).toBeNull();
    expect(versions('http://mirror.example/linux')).toBeNull();
    // Replaced by rename, as an admin's copy tool does: a new inode.
    writeFileSync(join(root, 'debian12', 'linux.new'), 'kernel two');
    renameSync(join(root, 'debian12', 'linux.new'), join(root, 'debian12', 'linux'));
    expect(versions('debian12/linux')).toBe(v1);
    t = 1000;
    const v2 = versions('debian12/linux');
    expect(v2).not.toBe(v1);
    expect(v2).toMatch(/^[A-Za-z0-9_-]{24}$/);
  });
});

describe('sites API', () => {
  const branch = { name: 'branch-1', subnets: ['10.20.0.0/16'], relays: ['10.20.0.1'], assetBaseUrl: 'http://10.20.0.5:8081/assets/', bootBaseUrl: 'http://203.0.113.10:8080', loaders: { efi64: 'snponly.efi' } };

  it('creates, reads, patches with optimistic concurrency and deletes', async () => {
    const { api } = await makeStack();
    const created = await json(await api('/sites', { method: 'POST', json: branch }));
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ name: 'branch-1', assetBaseUrl: 'http://10.20.0.5:8081/assets', loaders: { efi64: 'snponly.efi' }, version: 1 });
    const got = await api('/sites/branch-1');
    expect(got.headers.get('etag')).toBe('"1"');
    const patched = await json(await api('/sites/branch-1', { method: 'PATCH', json: { description: 'Branch office' }, headers: { 'if-match': '"1"' } }));
    expect(patched.body).toMatchObject({ description: 'Branch office', subnets: ['10.20.0.0/16'], version: 2 });
    const stale = await json(await api('/sites/branch-1', { method: 'PATCH', json: { description: 'x' }, headers: { 'if-match': '"1"' } }));
    expect(stale.status).toBe(409);
    expect(stale.body.error).toContain('changed meanwhile');
    expect((await json(await api('/site-match?ip=10.20.3.4'))).body).toEqual({ site: 'branch-1', by: 'client in 10.20.0.0/16' });
    expect((await json(await api('/site-match?relay=10.20.0.1'))).body).toEqual({ site: 'branch-1', by: 'relay 10.20.0.1' });
    expect((await json(await api('/site-match?ip=192.168.0.4'))).body.site).toBeNull();
    expect((await api('/sites/branch-1', { method: 'DELETE' })).status).toBe(204);
    expect((await api('/sites/branch-1')).status).toBe(404);
    expect((await json(await api('/site-match?ip=10.20.3.4'))).body.site).toBeNull();
  });

  it.each([
    [{ name: 'bad name' }, 'site name must be'],
    [{ name: 's', subnets: ['10.0.0.1/8'] }, 'subnets.0: 10.0.0.1/8 has host bits set'],
    [{ name: 's', relays: ['10.0.0.256'] }, 'relays.0: "10.0.0.256" is not a relay'],
    [{ name: 's', assetBaseUrl: 'http://cache/assets\n#!ipxe' }, 'assetBaseUrl: URL contains whitespace or a control character'],
    [{ name: 's', assetBaseUrl: 'http://cache/$foo' }, 'assetBaseUrl: URL contains characters that are not allowed'],
    [{ name: 's', assetBaseUrl: 'ftp://cache/' }, 'assetBaseUrl: must be an http:// or https:// URL'],
    [{ name: 's', bootBaseUrl: 'http://centre/?x=1' }, 'bootBaseUrl: must not carry a query'],
    [{ name: 's', loaders: { efi64: '../../etc/passwd' } }, 'loaders.efi64: loader must be a file name'],
    [{ name: 's', loaders: { sparc: 'x.efi' } }, 'loaders'],
    [{ name: 's', defaultProfile: 'missing' }, 'defaultProfile: profile "missing" does not exist'],
    [{ name: 's', menuDisplay: 'sometimes' }, 'menuDisplay'],
    [{ name: 's', extra: 1 }, 'extra'],
  ])('refuses %j with a message naming the field, writing nothing', async (input, message) => {
    const { api, sites } = await makeStack();
    const r = await json(await api('/sites', { method: 'POST', json: input }));
    expect(r.status).toBe(400);
    expect(r.body.error).toContain(message);
    expect(await sites.store.list()).toEqual([]);
  });

  it('refuses a relay or subnet another site already claims, and a duplicate name', async () => {
    const { api, sites } = await makeStack();
    expect((await api('/sites', { method: 'POST', json: branch })).status).toBe(201);
    const dupNet = await json(await api('/sites', { method: 'POST', json: { name: 'other', subnets: ['10.20.0.0/16'], relays: ['10.20.0.1'] } }));
    expect(dupNet.status).toBe(400);
    expect(dupNet.body.error).toContain('relay 10.20.0.1 already belongs to site "branch-1"');
    expect(dupNet.body.error).toContain('subnet 10.20.0.0/16 already belongs to site "branch-1"');
    expect((await api('/sites', { method: 'POST', json: { name: 'branch-1' } })).status).toBe(409);
    expect((await sites.store.list()).map((s) => s.name)).toEqual(['branch-1']);
  });

  it('keeps a profile that is a site default from being deleted', async () => {
    const { api } = await makeStack();
    expect((await api('/profiles', { method: 'POST', json: { name: 'local-first', kind: 'local' } })).status).toBe(201);
    expect((await api('/sites', { method: 'POST', json: { name: 'lab', defaultProfile: 'local-first' } })).status).toBe(201);
    const del = await json(await api('/profiles/local-first', { method: 'DELETE' }));
    expect(del.status).toBe(409);
    expect(del.body.error).toContain('default profile of site(s) lab');
  });
});

describe('rendering for a site', () => {
  const linux = { name: 'debian-12', kind: 'linux', kernel: 'debian12/linux', initrds: ['debian12/initrd.gz'], cmdline: 'ks=<%= it.urls.file("ks.cfg") %>' };

  function stackWithAssets() {
    const root = mkdtempSync(join(tmpdir(), 'cb-site-'));
    mkdirSync(join(root, 'debian12'));
    writeFileSync(join(root, 'debian12', 'linux'), 'kernel');
    writeFileSync(join(root, 'debian12', 'initrd.gz'), 'initrd');
    return makeStack({ assetRoot: root });
  }

  it('fetches big assets from the site cache with ?v= and scripts from the centre as the site reaches it', async () => {
    const s = await stackWithAssets();
    expect((await s.api('/profiles', { method: 'POST', json: linux })).status).toBe(201);
    expect((await s.api('/hosts', { method: 'POST', json: { mac: '52:54:00:00:00:01', profile: 'debian-12' } })).status).toBe(201);
    expect((await s.api('/sites', { method: 'POST', json: { name: 'branch', subnets: ['10.20.0.0/16'], assetBaseUrl: 'http://10.20.0.5:8081/cb-assets', bootBaseUrl: 'http://203.0.113.10:8080' } })).status).toBe(201);

    const remote = await s.boot.script({ mac: '52:54:00:00:00:01', client: {}, clientIp: '10.20.1.9', record: true });
    const v = /\/debian12\/linux\?v=([A-Za-z0-9_-]+)/.exec(remote.body)?.[1];
    expect(v).toBeDefined();
    expect(remote.body).toContain(`kernel http://10.20.0.5:8081/cb-assets/debian12/linux?v=${v}`);
    expect(remote.body).toMatch(/initrd --name initrd\.gz http:\/\/10\.20\.0\.5:8081\/cb-assets\/debian12\/initrd\.gz\?v=[A-Za-z0-9_-]{24}/);
    expect(remote.body).toContain('ks=http://203.0.113.10:8080/hosts/52-54-00-00-00-01/ks.cfg');
    // The version is the asset route's own ETag: a cache sees one identity for it.
    const asset = await s.app.request('/assets/debian12/linux');
    expect(asset.headers.get('etag')).toBe(`"${v}"`);

    const local = await s.boot.script({ mac: '52:54:00:00:00:01', client: {}, clientIp: '192.168.1.9', record: true });
    expect(local.body).toContain(`kernel http://10.0.0.5:8080/assets/debian12/linux?v=${v}`);
    expect(local.body).toContain('ks=http://10.0.0.5:8080/hosts/52-54-00-00-00-01/ks.cfg');

    const entry = await s.boot.entry('10.20.1.9');
    expect(entry.body).toContain('http://203.0.113.10:8080/ipxe');
    expect(entry.summary).toBe('entry script (site branch)');

    await s.events.flush();
    const events = await s.store.listEvents({ mac: '52:54:00:00:00:01', limit: 10 });
    const sitesSeen = events.map((e) => (e.detail as { site?: string } | null)?.site ?? null);
    expect(sitesSeen).toHaveLength(2);
    expect(sitesSeen).toContain('branch');
    expect(sitesSeen).toContain(null);

    const preview = await json(await s.api('/preview?mac=52:54:00:00:00:01&ip=10.20.1.9'));
    expect(preview.body.body).toContain('http://10.20.0.5:8081/cb-assets/debian12/linux?v=');
    expect((await json(await s.api('/preview?mac=52:54:00:00:00:01&ip=nope'))).status).toBe(400);
  });

  it('uses the site default profile for hosts without one, and "-" to boot locally where the server has a default', async () => {
    const s = await stackWithAssets();
    expect((await s.api('/profiles', { method: 'POST', json: linux })).status).toBe(201);
    expect((await s.api('/profiles', { method: 'POST', json: { ...linux, name: 'rescue', cmdline: 'rescue' } })).status).toBe(201);
    s.live.setDefaultProfile('debian-12');
    expect((await s.api('/sites', { method: 'POST', json: { name: 'lab', subnets: ['10.30.0.0/16'], defaultProfile: 'rescue' } })).status).toBe(201);
    expect((await s.api('/sites', { method: 'POST', json: { name: 'dark', subnets: ['10.40.0.0/16'], defaultProfile: '-' } })).status).toBe(201);
    const mac = '52:54:00:00:00:02';
    expect((await s.boot.script({ mac, client: {}, clientIp: '10.30.0.7', record: false })).summary).toContain('rescue');
    expect((await s.boot.script({ mac, client: {}, clientIp: '10.40.0.7', record: false })).summary).toMatch(/^local/);
    expect((await s.boot.script({ mac, client: {}, clientIp: '192.168.0.7', record: false })).summary).toContain('debian-12');
  });
});

describe('versioned asset URLs at the asset route', () => {
  it('marks the current version immutable and a stale one not to be stored, with today’s bytes either way', async () => {
    const root = mkdtempSync(join(tmpdir(), 'cb-v-'));
    mkdirSync(join(root, 'k'));
    writeFileSync(join(root, 'k', 'vmlinuz'), 'one');
    const { app } = await makeStack({ assetRoot: root });
    const etag = (await app.request('/assets/k/vmlinuz', { method: 'HEAD' })).headers.get('etag')!;
    const v = etag.replace(/"/g, '');
    const current = await app.request(`/assets/k/vmlinuz?v=${v}`);
    expect(current.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(await current.text()).toBe('one');
    const ranged = await app.request(`/assets/k/vmlinuz?v=${v}`, { headers: { range: 'bytes=0-0' } });
    expect(ranged.status).toBe(206);
    expect(ranged.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    writeFileSync(join(root, 'k', 'vmlinuz.new'), 'two!');
    renameSync(join(root, 'k', 'vmlinuz.new'), join(root, 'k', 'vmlinuz'));
    const stale = await app.request(`/assets/k/vmlinuz?v=${v}`);
    expect(stale.headers.get('cache-control')).toBe('no-store');
    expect(await stale.text()).toBe('two!');
    // Without a version nothing is promised, as before.
    expect((await app.request('/assets/k/vmlinuz')).headers.get('cache-control')).toBeNull();
  });
});
