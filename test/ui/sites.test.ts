/**
 * The Sites page without a browser (app.request): the list and its address
 * lookup, the add/edit/delete forms with the site admin's checks placed per
 * field, stale edits refused, CSRF, escaping, and the host page's site line.
 */
import { describe, expect, it } from 'vitest';
import { uiStack, UiClient } from './helpers.js';

const linux = { name: 'rocky-9', kind: 'linux', kernel: 'rocky9/vmlinuz', initrds: ['rocky9/initrd.img'] };
const branch = { name: 'branch-a', description: 'Branch office A', subnets: ['10.20.0.0/16'], relays: ['10.20.0.1'], assetBaseUrl: 'http://cache.branch-a.example/assets' };

async function signedIn() {
  const s = await uiStack();
  const c = new UiClient(s.web);
  expect((await c.signIn()).status).toBe(303);
  return { s, c };
}

/** Every field of the site form, as a browser sends it (empty loaders included). */
function form(over: Record<string, string> = {}): Record<string, string> {
  const loaders = Object.fromEntries(['bios', 'efi32', 'efi64', 'arm32', 'arm64', 'riscv64', 'loong64'].map((k) => [`loader_${k}`, '']));
  return { name: '', description: '', subnets: '', relays: '', assetBaseUrl: '', bootBaseUrl: '', defaultProfile: '', menuDisplay: '', ...loaders, ...over };
}

describe('sites list', () => {
  it('is in the navigation and lists each site with its subnets, relays, asset source and overrides', async () => {
    const { s, c } = await signedIn();
    const empty = await c.get('/ui/sites');
    expect(empty.status).toBe(200);
    expect(empty.html).toContain('<a href="/ui/sites" aria-current="page">Sites</a>');
    expect(empty.html).toContain('No sites yet');

    await s.admin.addProfile(linux);
    await s.sites.admin.add(branch);
    await s.sites.admin.add({ name: 'lab', subnets: ['192.168.50.0/24'], bootBaseUrl: 'http://10.0.0.5:8080', loaders: { efi64: 'snponly.efi', bios: 'undionly.kpxe' }, defaultProfile: 'rocky-9', menuDisplay: 'onkey' });
    await s.sites.admin.add({ name: 'quiet', relays: ['10.30.0.1'], defaultProfile: '-' });
    const { html } = await c.get('/ui/sites');
    const row = (name: string) => new RegExp(`<tr data-site="${name}">(.*?)</tr>`, 's').exec(html)?.[1] ?? '';
    expect(row('branch-a')).toContain('10.20.0.0/16');
    expect(row('branch-a')).toContain('10.20.0.1');
    expect(row('branch-a')).toContain('http://cache.branch-a.example/assets');
    expect(row('branch-a')).toContain('Branch office A');
    expect(row('branch-a')).toContain('href="/ui/sites/branch-a/edit"');
    expect(row('lab')).toMatch(/<span class="muted">centre<\/span>/);
    expect(row('lab')).toContain('boot URL http://10.0.0.5:8080; loaders bios=undionly.kpxe, efi64=snponly.efi; default profile rocky-9; menu onkey');
    expect(row('quiet')).toContain('default: local disk');
    expect(row('quiet')).toMatch(/<td class="mono small"><span class="muted">none<\/span><\/td>/); // no subnets
  });

  it('says which site an address or a relay is in, and how it matched', async () => {
    const { s, c } = await signedIn();
    await s.sites.admin.add(branch);
    await s.sites.admin.add({ name: 'branch-a-lab', subnets: ['10.20.3.0/24'] });
    const result = async (q: string) => (/<p role="status" id="lookup-result">(.*?)<\/p>/s.exec((await c.get(`/ui/sites?${q}`)).html)?.[1] ?? '').replace(/<[^>]+>/g, '');
    expect(await result('ip=10.20.3.4')).toBe('Address 10.20.3.4: site branch-a-lab (matched by client in 10.20.3.0/24)');
    expect(await result('ip=10.20.9.9')).toBe('Address 10.20.9.9: site branch-a (matched by client in 10.20.0.0/16)');
    expect(await result('ip=10.20.3.4&relay=10.20.0.1')).toBe('Address 10.20.3.4 via relay 10.20.0.1: site branch-a (matched by relay 10.20.0.1)');
    expect(await result('relay=10.20.5.5')).toBe('Relay 10.20.5.5: site branch-a (matched by relay 10.20.5.5 in 10.20.0.0/16)');
    expect(await result('ip=192.168.1.10')).toBe("Address 192.168.1.10: the centre&#39;s own network (no site lists this relay or holds this address)");

    const bad = await c.get('/ui/sites?ip=10.20.3.400');
    expect(bad.html).toMatch(/id="ip-error">10.20.3.400 is not an IPv4 address/);
    expect(bad.html).not.toContain('id="lookup-result"');
    expect((await c.get('/ui/sites')).html).not.toContain('id="lookup-result"');
  });
});

describe('site forms', () => {
  it('adds a site with every field; lists are taken one per line or comma-separated', async () => {
    const { s, c } = await signedIn();
    await s.admin.addProfile(linux);
    const page = await c.get('/ui/sites/new');
    expect(page.html).toContain('<option value="-">local disk</option>');
    expect(page.html).toContain('<option value="rocky-9">rocky-9</option>');
    for (const k of ['bios', 'efi32', 'efi64', 'arm32', 'arm64', 'riscv64', 'loong64']) expect(page.html).toContain(`name="loader_${k}"`);
    const res = await c.post(
      '/ui/sites/new',
      form({
        name: 'branch-b',
        description: 'Branch B',
        subnets: '10.40.0.0/16\r\n10.41.0.0/16, 10.42.0.0/24\r\n',
        relays: '10.40.0.1,10.41.0.1',
        assetBaseUrl: 'http://cache.b.example/assets/',
        bootBaseUrl: 'https://boot.example',
        loader_efi64: 'snponly.efi',
        loader_arm64: 'ipxe-arm64.efi',
        defaultProfile: 'rocky-9',
        menuDisplay: 'always',
      }),
    );
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/ui/sites/branch-b/edit');
    expect(await s.sites.admin.get('branch-b')).toMatchObject({
      description: 'Branch B',
      subnets: ['10.40.0.0/16', '10.41.0.0/16', '10.42.0.0/24'],
      relays: ['10.40.0.1', '10.41.0.1'],
      assetBaseUrl: 'http://cache.b.example/assets',
      bootBaseUrl: 'https://boot.example',
      loaders: { efi64: 'snponly.efi', arm64: 'ipxe-arm64.efi' },
      defaultProfile: 'rocky-9',
      menuDisplay: 'always',
      version: 1,
    });
    const edit = await c.get('/ui/sites/branch-b/edit');
    expect(edit.html).toContain('Site &quot;branch-b&quot; added.');
    expect(edit.html).toContain('<input type="hidden" name="version" value="1"/>');
    expect(edit.html).toContain('<option value="always" selected="">always</option>');
    // A new site is matched at once (the admin refreshes the directory).
    expect(s.sites.directory.match({ client: '10.42.0.7' })?.site.name).toBe('branch-b');
  });

  it('puts the site checks beside their fields, keeps what was typed and writes nothing', async () => {
    const { s, c } = await signedIn();
    await c.get('/ui/sites/new');
    const typed = form({
      name: 'bad name',
      subnets: '10.20.1.5/16\nnot-a-net',
      relays: '10.20.0.1, 300.1.1.1',
      assetBaseUrl: 'ftp://cache.example',
      bootBaseUrl: 'http://boot.example/?x=1',
      loader_efi64: '../etc/passwd',
      description: 'kept <as typed>',
    });
    const r = await c.post('/ui/sites/new', typed);
    expect(r.status).toBe(400);
    const html = await r.text();
    expect(html).toMatch(/id="name-error">site name must be 1–64 letters/);
    expect(html).toMatch(/id="subnets-error">10.20.1.5\/16 has host bits set \(did you mean 10.20.0.0\/16\?\); &quot;not-a-net&quot; is not an IPv4 CIDR/);
    expect(html).toMatch(/id="relays-error">&quot;300.1.1.1&quot; is not a relay&#39;s IPv4 address/);
    expect(html).toMatch(/id="assetBaseUrl-error">must be an http:\/\/ or https:\/\/ URL/);
    expect(html).toMatch(/id="bootBaseUrl-error">must not carry a query or fragment/);
    expect(html).toMatch(/id="loader_efi64-error">loader must be a file name in the loader directory/);
    expect(html).not.toContain('id="form-error"');
    // What was typed comes back as typed.
    expect(html).toContain('value="bad name"');
    expect(html).toContain('>10.20.1.5/16\nnot-a-net</textarea>');
    expect(html).toContain('value="../etc/passwd"');
    expect(html).toContain('value="kept &lt;as typed&gt;"');
    expect(html).toMatch(/<input id="loader_efi64"[^>]*aria-invalid="true"/);
    expect(await s.sites.admin.list()).toHaveLength(0);
  });

  it('refuses a relay or subnet another site has, a taken name and a missing profile', async () => {
    const { s, c } = await signedIn();
    await s.sites.admin.add(branch);
    await c.get('/ui/sites/new');
    const taken = await c.post('/ui/sites/new', form({ name: 'branch-c', subnets: '10.20.0.0/16', relays: '10.20.0.1' }));
    expect(taken.status).toBe(400);
    const html = await taken.text();
    expect(html).toMatch(/id="relays-error">relay 10.20.0.1 already belongs to site &quot;branch-a&quot;/);
    expect(html).toMatch(/id="subnets-error">subnet 10.20.0.0\/16 already belongs to site &quot;branch-a&quot;/);

    const dup = await c.post('/ui/sites/new', form({ name: 'branch-a' }));
    expect(dup.status).toBe(409);
    expect(await dup.text()).toMatch(/id="name-error">site &quot;branch-a&quot; already exists/);

    // A profile deleted while the form was open: the error names it and the choice stays selected.
    const gone = await c.post('/ui/sites/new', form({ name: 'branch-d', defaultProfile: 'deleted-meanwhile' }));
    const goneHtml = await gone.text();
    expect(goneHtml).toMatch(/id="defaultProfile-error">profile &quot;deleted-meanwhile&quot; does not exist/);
    expect(goneHtml).toContain('<option value="deleted-meanwhile" selected="">deleted-meanwhile (not a profile)</option>');
    expect((await s.sites.admin.list()).map((x) => x.name)).toEqual(['branch-a']);
  });

  it('refuses an edit made against an older version, and saves (and renames) against the current one', async () => {
    const { s, c } = await signedIn();
    await s.sites.admin.add(branch);
    const open = await c.get('/ui/sites/branch-a/edit');
    expect(open.html).toContain('value="http://cache.branch-a.example/assets"');
    expect(open.html).toContain('>10.20.0.0/16</textarea>');
    await s.sites.admin.patch('branch-a', { description: 'changed elsewhere' });

    const stale = await c.post('/ui/sites/branch-a/edit', form({ ...branch, subnets: '10.20.0.0/16', relays: '10.20.0.1', description: 'mine', version: '1' }));
    expect(stale.status).toBe(409);
    const html = await stale.text();
    expect(html).toMatch(/id="form-error">site &quot;branch-a&quot; was changed meanwhile \(now version 2, you had 1\).*not saved/);
    expect(html).toContain('value="mine"');
    expect(await s.sites.admin.get('branch-a')).toMatchObject({ description: 'changed elsewhere', version: 2 });

    const ok = await c.post('/ui/sites/branch-a/edit', form({ ...branch, name: 'branch-north', subnets: '10.20.0.0/16', relays: '', description: 'mine', menuDisplay: 'never', version: '2' }));
    expect(ok.status).toBe(303);
    expect(ok.headers.get('location')).toBe('/ui/sites/branch-north/edit');
    expect((await s.sites.admin.list()).map((x) => x.name)).toEqual(['branch-north']);
    expect(await s.sites.admin.get('branch-north')).toMatchObject({ description: 'mine', relays: [], menuDisplay: 'never', version: 3 });
    expect((await c.get('/ui/sites/branch-a/edit')).status).toBe(404);
  });

  it('deletes a site behind a confirmation, and only with the form token', async () => {
    const { s, c } = await signedIn();
    await s.sites.admin.add(branch);
    const page = await c.get('/ui/sites/branch-a/edit');
    expect(page.html).toMatch(/<form method="post" action="\/ui\/sites\/branch-a\/delete" class="inline" data-confirm="Delete site branch-a\?[^"]*">/);

    expect((await c.post('/ui/sites/branch-a/delete', {}, { csrf: false })).status).toBe(403);
    expect((await c.post('/ui/sites/new', form({ name: 'forged' }), { headers: { origin: 'http://evil.example' } })).status).toBe(403);
    expect((await c.post('/ui/sites/branch-a/edit', form({ name: 'branch-a', description: 'forged' }), { csrf: false })).status).toBe(403);
    expect(await s.sites.admin.list()).toMatchObject([{ name: 'branch-a', description: 'Branch office A' }]);

    const del = await c.post('/ui/sites/branch-a/delete', {});
    expect(del.status).toBe(303);
    expect(del.headers.get('location')).toBe('/ui/sites');
    expect(await s.sites.admin.list()).toHaveLength(0);
    expect((await c.get('/ui/sites')).html).toContain('Site &quot;branch-a&quot; deleted.');
    expect(s.sites.directory.match({ client: '10.20.3.4' })).toBeUndefined();
  });

  it('writes hostile values as text', async () => {
    const { s, c } = await signedIn();
    await s.sites.admin.add({ ...branch, description: '"><img src=x onerror=alert(1)>' });
    const pages = [await c.get('/ui/sites'), await c.get('/ui/sites/branch-a/edit'), await c.get(`/ui/sites?ip=${encodeURIComponent('"><script>alert(2)</script>')}`)];
    for (const p of pages) {
      expect(p.status).toBe(200);
      expect(p.html).not.toContain('<img src=x');
      expect(p.html).not.toContain('<script>alert');
    }
    expect(pages[0]!.html).toContain('&quot;&gt;&lt;img src=x onerror=alert(1)&gt;');
    expect(pages[2]!.html).toContain('&quot;&gt;&lt;script&gt;alert(2)&lt;/script&gt; is not an IPv4 address');
    const posted = await c.post('/ui/sites/new', form({ name: '<svg onload=alert(3)>' }));
    expect(await posted.text()).toContain('value="&lt;svg onload=alert(3)&gt;"');
  });
});

describe('host page', () => {
  it("names the site of the address a host last asked from, and previews its boot from there", async () => {
    const { s, c } = await signedIn();
    await s.admin.addProfile(linux);
    await s.sites.admin.add({ ...branch, defaultProfile: 'rocky-9' });
    await s.admin.addHost({ mac: '52:54:00:00:00:01', hostname: 'far' });
    await s.admin.addHost({ mac: '52:54:00:00:00:02', hostname: 'near' });
    await s.admin.addHost({ mac: '52:54:00:00:00:03', hostname: 'new' });

    const site = async (path: string) => (/<dd id="host-site">(.*?)<\/dd>/s.exec((await c.get(path)).html)?.[1] ?? '').replace(/<[^>]+>/g, '');
    expect(await site('/ui/hosts/52-54-00-00-00-03')).toBe('no address seen yet');

    await s.boot.script({ mac: '52:54:00:00:00:01', client: {}, clientIp: '10.20.3.4', record: true });
    // A later relayed DHCP request: its source is the relay, which says nothing of the host's own address.
    s.events.record({ mac: '52:54:00:00:00:01', clientIp: '192.168.7.1', kind: 'dhcp', request: 'DISCOVER', result: 'offer', status: 200 });
    await s.boot.script({ mac: '52:54:00:00:00:02', client: {}, clientIp: '192.168.1.20', record: true });

    const far = await c.get('/ui/hosts/52-54-00-00-00-01');
    expect(far.html).toMatch(/<dd id="host-site"><a href="\/ui\/sites\/branch-a\/edit">branch-a<\/a> <span class="muted">\(last seen from 10.20.3.4; client in 10.20.0.0\/16\)<\/span><\/dd>/);
    // The site's default profile is what this host boots from there.
    expect(far.html).toMatch(/<dt>Boots now<\/dt><dd>linux rocky-9/);
    expect(await site('/ui/hosts/52-54-00-00-00-02')).toBe('the centre&#39;s own network (last seen from 192.168.1.20)');
    expect((await c.get('/ui/hosts/52-54-00-00-00-02')).html).toMatch(/<dt>Boots now<\/dt><dd>local/);
  });
});
