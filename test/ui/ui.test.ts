/**
 * The admin UI without a browser (app.request): sign-in and sessions, CSRF
 * refusal, escaping of hostile values, secrets, paging over 10,000 hosts, and
 * the forms' validation.
 */
import { describe, expect, it } from 'vitest';
import { tokenHash } from '../../src/http/routes/api.js';
import pg from 'pg';
import { sql } from 'drizzle-orm';
import { hostsPageSql } from '../../src/ui/queries.js';
import { pgHostsPageSql } from '../../src/ui/queries-pg.js';
import { uiStack, UiClient, TOKEN, type UiStack } from './helpers.js';

const linux = { name: 'rocky-9', kind: 'linux', kernel: 'rocky9/vmlinuz', initrds: ['rocky9/initrd.img'], files: { 'ks.cfg': 'kickstart/rhel.cfg' } };

async function signedIn(opts: Parameters<typeof uiStack>[0] = {}) {
  const s = await uiStack(opts);
  const c = new UiClient(s.web);
  expect((await c.signIn()).status).toBe(303);
  return { s, c };
}

describe('sign-in and sessions', () => {
  it('sends pages to the sign-in form and refuses fragments and POSTs without a session', async () => {
    const s = await uiStack();
    const c = new UiClient(s.web);
    const page = await c.request('/ui/hosts?q=web');
    expect(page.status).toBe(303);
    expect(page.headers.get('location')).toBe('/ui/login?next=%2Fui%2Fhosts%3Fq%3Dweb');
    expect((await c.request('/ui/activity/rows', { headers: { 'x-requested-with': 'fetch' } })).status).toBe(401);
    const post = await c.post('/ui/hosts/new', { mac: '52:54:00:00:00:01' }, { csrf: false });
    expect(post.status).toBe(401);
    expect((await s.store.listHosts()).total).toBe(0);
  });

  it('refuses a wrong token and a form without its sign-in cookie', async () => {
    const s = await uiStack();
    const c = new UiClient(s.web);
    const form = await c.get('/ui/login');
    const csrf = /name="_csrf" value="([^"]+)"/.exec(form.html)![1]!;
    const wrong = await c.post('/ui/login', { _csrf: csrf, token: TOKEN + 'x' });
    expect(wrong.status).toBe(401);
    expect(await wrong.text()).toContain('That is not the admin token.');
    expect(c.cookies.has('chainboot_session')).toBe(false);

    const stranger = new UiClient(s.web);
    const forged = await stranger.post('/ui/login', { _csrf: csrf, token: TOKEN });
    expect(forged.status).toBe(403);
    expect(stranger.cookies.has('chainboot_session')).toBe(false);
  });

  it('sets an HttpOnly, SameSite=Strict session cookie for /ui (Secure over https)', async () => {
    const s = await uiStack();
    const c = new UiClient(s.web);
    const login = await c.get('/ui/login');
    const csrf = /name="_csrf" value="([^"]+)"/.exec(login.html)![1]!;
    const res = await c.post('/ui/login', { _csrf: csrf, token: TOKEN, next: '/ui/tasks' });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/ui/tasks');
    const cookie = res.headers.getSetCookie().find((x) => x.startsWith('chainboot_session='))!;
    expect(cookie).toMatch(/; HttpOnly/);
    expect(cookie).toMatch(/; SameSite=Strict/);
    expect(cookie).toMatch(/; Path=\/ui/);
    expect(cookie).not.toMatch(/; Secure/);

    const tls = new UiClient(s.web, 'https://chainboot.example');
    const tlsLogin = await tls.get('/ui/login');
    const tlsCsrf = /name="_csrf" value="([^"]+)"/.exec(tlsLogin.html)![1]!;
    const tlsRes = await tls.post('/ui/login', { _csrf: tlsCsrf, token: TOKEN });
    expect(tlsRes.headers.getSetCookie().find((x) => x.startsWith('chainboot_session='))).toMatch(/; Secure/);
  });

  it('never redirects outside the UI after sign-in', async () => {
    const s = await uiStack();
    for (const next of ['//evil.example/x', 'https://evil.example/', '/api/v1/hosts', '/ui\\@evil']) {
      const c = new UiClient(s.web);
      const login = await c.get('/ui/login');
      const csrf = /name="_csrf" value="([^"]+)"/.exec(login.html)![1]!;
      const res = await c.post('/ui/login', { _csrf: csrf, token: TOKEN, next });
      expect(res.headers.get('location')).toBe('/ui/');
    }
  });

  it('ends the session on sign-out and when the admin token is rotated', async () => {
    const { c } = await signedIn();
    expect((await c.get('/ui/hosts')).status).toBe(200);
    const cookie = c.cookies.get('chainboot_session')!;
    const out = await c.post('/ui/logout', {});
    expect(out.status).toBe(303);
    c.cookies.set('chainboot_session', cookie); // a copy kept by an attacker
    expect((await c.request('/ui/hosts')).status).toBe(303);

    const rotated = await signedIn({ storedToken: true });
    expect((await rotated.c.get('/ui/hosts')).status).toBe(200);
    // What `chainboot token --rotate` does: a new hash in the database.
    await rotated.s.store.setSetting('admin_token_sha256', tokenHash('a-brand-new-admin-token-0123456789'));
    expect((await rotated.c.request('/ui/hosts')).status).toBe(303);
  });

  it('takes only small bodies before sign-in, and large imports after', async () => {
    const s = await uiStack();
    const stranger = new UiClient(s.web);
    await stranger.get('/ui/login');
    const big = await stranger.post('/ui/login', { token: 'x'.repeat(200 * 1024) });
    expect(big.status).toBe(413);
    expect(await big.text()).toContain('64 KiB before sign-in');

    const c = new UiClient(s.web);
    expect((await c.signIn()).status).toBe(303);
    await c.get('/ui/hosts/import');
    // 2 MB of comments and one host: over the sign-in limit, well under the import one.
    await s.admin.addProfile(linux);
    const text = '# ' + 'x'.repeat(2 * 1024 * 1024) + '\n52:54:00:00:00:31, rocky-9, big01\n';
    const res = await c.post('/ui/hosts/import', { text, mode: 'import' });
    expect(res.status).toBeLessThan(400);
    expect((await s.store.getHost('52:54:00:00:00:31'))?.hostname).toBe('big01');
  });

  it('follows a default profile changed by a reload', async () => {
    const { s, c } = await signedIn();
    await s.admin.addProfile(linux);
    expect((await c.get('/ui/hosts/new')).html).toContain('(none: local disk)');
    s.live.setDefaultProfile('rocky-9');
    expect((await c.get('/ui/hosts/new')).html).toContain('(none: default profile rocky-9)');
  });

  it('slows down repeated failed sign-ins', async () => {
    const s = await uiStack();
    const c = new UiClient(s.web);
    const login = await c.get('/ui/login');
    const csrf = /name="_csrf" value="([^"]+)"/.exec(login.html)![1]!;
    for (let i = 0; i < 10; i++) expect((await c.post('/ui/login', { _csrf: csrf, token: 'wrong' })).status).toBe(401);
    expect((await c.post('/ui/login', { _csrf: csrf, token: TOKEN })).status).toBe(429);
  });

  it('leaves boot endpoints open and the API on its bearer token', async () => {
    const s = await uiStack();
    expect((await s.web.request('/ipxe?mac=52:54:00:00:00:09')).status).toBe(200);
    expect((await s.web.request('/boot.ipxe')).status).toBe(200);
    expect((await s.web.request('/api/v1/hosts')).status).toBe(401);
    expect((await s.web.request('/api/v1/hosts', { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
    // The UI's own script and stylesheet need no session; pages carry a strict CSP.
    expect((await s.web.request('/ui/static/app.js')).status).toBe(200);
    const { c } = await signedIn();
    const res = await c.request('/ui/');
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(res.headers.get('x-frame-options')).toBe('DENY');
  });
});

describe('CSRF', () => {
  it('refuses a POST without the session token, with a wrong one, or from another site', async () => {
    const { s, c } = await signedIn();
    const form = { mac: '52:54:00:00:00:01', hostname: 'web01' };
    expect((await c.post('/ui/hosts/new', form, { csrf: false })).status).toBe(403);
    expect((await c.post('/ui/hosts/new', { ...form, _csrf: 'x'.repeat(43) })).status).toBe(403);
    expect((await c.post('/ui/hosts/new', form, { headers: { origin: 'http://evil.example' } })).status).toBe(403);
    expect((await c.post('/ui/hosts/new', form, { headers: { 'sec-fetch-site': 'cross-site' } })).status).toBe(403);
    expect((await s.store.listHosts()).total).toBe(0);

    const ok = await c.post('/ui/hosts/new', form, { headers: { origin: 'http://localhost', 'sec-fetch-site': 'same-origin' } });
    expect(ok.status).toBe(303);
    expect((await s.store.getHost('52:54:00:00:00:01'))?.hostname).toBe('web01');
  });

  it('takes the token from a header for the editor preview, and refuses it without', async () => {
    const { c } = await signedIn();
    const body = new URLSearchParams({ name: 'ipxe/boot.ipxe', body: '#!ipxe\necho hi\n' });
    const refused = await c.request('/ui/templates/preview', { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-requested-with': 'fetch' } });
    expect(refused.status).toBe(403);
    const ok = await c.request('/ui/templates/preview', { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-csrf-token': c.csrf, 'x-requested-with': 'fetch' } });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain('echo hi');
  });

  it('does not sign out on a forged POST', async () => {
    const { c } = await signedIn();
    expect((await c.post('/ui/logout', {}, { csrf: false })).status).toBe(403);
    expect((await c.get('/ui/hosts')).status).toBe(200);
  });
});

describe('escaping', () => {
  it('writes hostile values from the database, clients and templates as text', async () => {
    const { s, c } = await signedIn();
    await s.admin.addProfile({ ...linux, description: '"><img src=x onerror=alert(1)>' });
    await s.admin.addHost({ mac: '52:54:00:00:00:01', hostname: 'web01', profile: 'rocky-9', notes: '<script>alert("notes")</script>', variables: { motd: '<b onmouseover=alert(2)>' } });
    const [task] = await s.admin.assignTasks({ profile: 'rocky-9', mac: '52:54:00:00:00:01' });
    // What a client reports about itself ends up in facts and events.
    await s.web.request('/ipxe?mac=52-54-00-00-00-01&product=%3Cscript%3Ealert(3)%3C%2Fscript%3E');
    s.events.record({ mac: '52:54:00:00:00:01', clientIp: '10.0.0.9', kind: 'file', request: '/hosts/x/<svg onload=alert(4)>', result: '<iframe src=javascript:alert(5)>', status: 404 });
    await s.admin.saveTemplate('kickstart/evil.cfg', '# </textarea><script>alert(6)</script>\n', '<script>alert(7)</script>');
    const token = await s.tasks.tokenFor(await s.tasks.get(task!.id));
    expect((await s.web.request(`/tasks/${task!.id}/running?token=${token}`)).status).toBe(200);
    await s.web.request(`/tasks/${task!.id}/progress?token=${token}&message=${encodeURIComponent('<img src=x onerror=alert(8)>')}`);

    const pages = [
      '/ui/',
      '/ui/hosts',
      '/ui/hosts/52-54-00-00-00-01',
      '/ui/hosts/52-54-00-00-00-01/timeline',
      '/ui/profiles',
      '/ui/profiles/rocky-9',
      '/ui/activity',
      '/ui/tasks',
      `/ui/tasks/${task!.id}`,
      '/ui/templates/edit?name=kickstart/evil.cfg',
      '/ui/templates/history?name=kickstart/evil.cfg',
    ];
    const all: string[] = [];
    for (const p of pages) {
      const r = await c.get(p);
      expect(r.status, p).toBe(200);
      all.push(r.html);
      for (const raw of ['<script>alert', '<img src=x', '<b onmouseover', '<svg onload', '<iframe', '"><img']) expect(r.html, `${p} contains ${raw}`).not.toContain(raw);
      expect(r.html, p).not.toContain('</textarea><script>');
    }
    const joined = all.join('\n');
    for (const escaped of ['&lt;script&gt;alert(&quot;notes&quot;)&lt;/script&gt;', '&quot;&gt;&lt;img src=x onerror=alert(1)&gt;', '&lt;script&gt;alert(3)&lt;/script&gt;', '&lt;svg onload=alert(4)&gt;', '&lt;iframe src=javascript:alert(5)&gt;', '&lt;/textarea&gt;&lt;script&gt;alert(6)&lt;/script&gt;', '&lt;img src=x onerror=alert(8)&gt;']) {
      expect(joined).toContain(escaped);
    }
  });

  it('never shows a secret value, only its name', async () => {
    const { s, c } = await signedIn();
    await s.admin.addProfile({ ...linux, secrets: { join_password: 'Profile-S3cret-Value' } });
    await s.admin.addHost({ mac: '52:54:00:00:00:01', profile: 'rocky-9', secrets: { root_password_hash: { value: 'Host-S3cret-Value', always: true } } });
    await s.admin.saveTemplate('kickstart/rhel.cfg', 'rootpw --iscrypted <%= it.vars.root_password_hash %>\njoin <%= it.vars.join_password %>\n');
    for (const p of ['/ui/hosts/52-54-00-00-00-01', '/ui/profiles/rocky-9', '/ui/templates/edit?name=kickstart/rhel.cfg&mac=52-54-00-00-00-01', '/ui/hosts']) {
      const r = await c.get(p);
      expect(r.html).not.toContain('S3cret-Value');
    }
    const host = await c.get('/ui/hosts/52-54-00-00-00-01');
    expect(host.html).toContain('root_password_hash');
    const preview = await c.get('/ui/templates/edit?name=kickstart/rhel.cfg&mac=52-54-00-00-00-01');
    expect(preview.html).toContain('rootpw --iscrypted &#39;********&#39;');
    // Editing a host or profile without touching secrets keeps them.
    await c.get('/ui/profiles/rocky-9');
    const saved = await c.post('/ui/profiles/rocky-9', { name: 'rocky-9', kind: 'linux', kernel: 'rocky9/vmlinuz', initrds: 'rocky9/initrd.img', files: 'ks.cfg=kickstart/rhel.cfg', description: 'changed' });
    expect(saved.status).toBe(303);
    expect((await s.store.getProfile('rocky-9'))!.secrets).toEqual({ join_password: { value: 'Profile-S3cret-Value' } });
  });
});

describe('host table paging', () => {
  /** n hosts written straight into the database (the admin would take a minute for 10,000). */
  async function seed(s: UiStack, n: number) {
    await s.admin.addProfile(linux);
    const pid = (await s.store.getProfile('rocky-9'))!.id;
    const rows = Array.from({ length: n }, (_, i) => {
      const hex = i.toString(16).padStart(6, '0');
      return { mac: `52:54:00:${hex.slice(0, 2)}:${hex.slice(2, 4)}:${hex.slice(4, 6)}`, hostname: `node${String(i).padStart(5, '0')}`, profileId: i % 3 === 0 ? pid : null, lastSeen: i % 7 === 0 ? null : 1_700_000_000_000 + i * 1000 };
    });
    if (s.backend.pg) {
      await s.backend.pg.execute(
        sql`insert into hosts (mac, hostname, profile_id, last_seen, created_at, updated_at)
            select mac, hostname, profile_id, last_seen, 1, 1
              from unnest(${sql.param(rows.map((r) => r.mac))}::text[], ${sql.param(rows.map((r) => r.hostname))}::text[], ${sql.param(rows.map((r) => r.profileId))}::int[], ${sql.param(rows.map((r) => r.lastSeen))}::bigint[])
                as v(mac, hostname, profile_id, last_seen)`,
      );
      return;
    }
    const sqlite = s.backend.sqlite!.db.$client;
    const insert = sqlite.prepare('INSERT INTO hosts (mac, hostname, profile_id, last_seen, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)');
    sqlite.transaction(() => {
      for (const r of rows) insert.run(r.mac, r.hostname, r.profileId, r.lastSeen, 1, 1);
    })();
  }

  /** Counts the rows the database hands to JavaScript while `fn` runs (SQLite: statements prepared meanwhile; PostgreSQL: every query's result). */
  async function rowsLoaded<T>(s: UiStack, fn: () => Promise<T>): Promise<{ result: T; rows: number; largest: number }> {
    let rows = 0;
    let largest = 0;
    const seen = (n: number) => {
      rows += n;
      largest = Math.max(largest, n);
    };
    if (s.backend.pg) {
      const query = pg.Client.prototype.query;
      pg.Client.prototype.query = function (this: pg.Client, ...a: unknown[]) {
        const r = (query as (...x: unknown[]) => unknown).apply(this, a);
        if (r && typeof (r as Promise<unknown>).then === 'function') {
          void (r as Promise<{ rows?: unknown[] } | undefined>).then(
            (res) => seen(Array.isArray(res?.rows) ? res.rows.length : 0),
            () => undefined,
          );
        }
        return r;
      } as typeof query;
      try {
        return { result: await fn(), rows, largest };
      } finally {
        pg.Client.prototype.query = query;
      }
    }
    const sqlite = s.backend.sqlite!.db.$client;
    const prepare = sqlite.prepare;
    sqlite.prepare = function (this: typeof sqlite, source: string) {
      const st = prepare.call(this, source);
      for (const m of ['all', 'get'] as const) {
        const orig = (st[m] as (...a: unknown[]) => unknown).bind(st);
        (st as unknown as Record<string, unknown>)[m] = (...a: unknown[]) => {
          const r = orig(...a);
          seen(Array.isArray(r) ? r.length : r === undefined ? 0 : 1);
          return r;
        };
      }
      return st;
    } as typeof sqlite.prepare;
    try {
      const result = await fn();
      return { result, rows, largest };
    } finally {
      sqlite.prepare = prepare;
    }
  }

  it('renders a page of 10,000 hosts without loading them all', async () => {
    const { s, c } = await signedIn();
    await seed(s, 10_000);
    const { result: first, rows, largest } = await rowsLoaded(s, () => c.get('/ui/hosts'));
    expect(first.status).toBe(200);
    expect(first.html.match(/name="mac" value=/g)).toHaveLength(50);
    expect(first.html).toContain('Page 1 of 200 (10000 hosts)');
    expect(first.html).toContain('52:54:00:00:00:00');
    expect(largest).toBeLessThanOrEqual(50);
    expect(rows).toBeLessThan(200);

    const last = await c.get('/ui/hosts?page=200');
    expect(last.html.match(/name="mac" value=/g)).toHaveLength(50);
    expect(last.html).toContain('52:54:00:00:27:0f'); // host 9999
    expect(last.html).toContain('Page 200 of 200');

    const byName = await c.get('/ui/hosts?sort=hostname&dir=desc&per=25');
    expect(byName.html.match(/name="mac" value=/g)).toHaveLength(25);
    expect(byName.html.indexOf('node09999')).toBeGreaterThan(0);
    expect(byName.html.indexOf('node09999')).toBeLessThan(byName.html.indexOf('node09998'));
    expect(byName.html).toContain('aria-sort="descending"');

    const recent = await c.get('/ui/hosts?sort=lastSeen&dir=desc');
    expect(recent.html.indexOf('node09999')).toBeLessThan(recent.html.indexOf('node09997'));
    expect(recent.html).not.toContain('node09996'); // 9996 % 7 === 0: never seen, so last

    const found = await c.get('/ui/hosts?q=node04242');
    expect(found.html.match(/name="mac" value=/g)).toHaveLength(1);
    expect(found.html).toContain('1 hosts');
    // "%" and "_" in a search are literal characters, not wildcards.
    expect((await c.get('/ui/hosts?q=node_')).html).toContain('No hosts match this search.');

    for (const sort of ['profile', 'action', 'task', 'status'] as const) {
      const r = await rowsLoaded(s, () => c.get(`/ui/hosts?sort=${sort}&dir=desc`));
      expect(r.result.html.match(/name="mac" value=/g), sort).toHaveLength(50);
      expect(r.largest, sort).toBeLessThanOrEqual(50);
    }
  });

  it('walks the MAC index for the default order instead of sorting every host', async () => {
    const s = await uiStack();
    if (s.backend.pg) {
      const plan = await s.backend.pg.transaction(async (tx) => {
        // Sorting priced out: a plan that still sorts could not use the index for this order.
        await tx.execute(sql`set local enable_sort = off`);
        await tx.execute(sql`set local enable_seqscan = off`);
        return (await tx.execute(sql.raw('explain ' + pgHostsPageSql('mac', 'asc')))).rows.map((r) => String(Object.values(r)[0])).join('\n');
      });
      expect(plan).toMatch(/hosts_mac_unique/);
      expect(plan).not.toMatch(/\bSort\b/);
      return;
    }
    const plan = s.backend.sqlite!.db.$client.prepare('EXPLAIN QUERY PLAN ' + hostsPageSql('mac', 'asc')).all() as { detail: string }[];
    const text = plan.map((p) => p.detail).join('\n');
    expect(text).toMatch(/hosts_mac_unique/);
    expect(text).not.toMatch(/TEMP B-TREE/);
  });
});

describe('forms', () => {
  it('puts host validation messages beside their fields and keeps what was typed', async () => {
    const { s, c } = await signedIn();
    await c.get('/ui/hosts/new');
    const r = await c.post('/ui/hosts/new', { mac: 'nope', hostname: '-bad-', variables: 'disk=/dev/sda\njust words', menuTimeout: 'soon', secret_value: 'x' });
    expect(r.status).toBe(400);
    const html = await r.text();
    expect(html).toMatch(/id="mac-error">[^<]*not a MAC address/);
    expect(html).toMatch(/id="hostname-error">[^<]*not an RFC 1123 host name/);
    expect(html).toMatch(/id="variables-error">line 2: expected variables as name=value/);
    expect(html).toMatch(/id="menuTimeout-error">a whole number of seconds/);
    expect(html).toMatch(/id="secret_name-error">give the new secret a name/);
    expect(html).toContain('value="-bad-"');
    expect(html).toContain('aria-invalid="true"');
    expect((await s.store.listHosts()).total).toBe(0);

    await s.admin.addHost({ mac: '52:54:00:00:00:01' });
    const dup = await c.post('/ui/hosts/new', { mac: '52-54-00-00-00-01' });
    expect(dup.status).toBe(409);
    expect(await dup.text()).toMatch(/id="mac-error">host 52:54:00:00:00:01 already exists/);

    const missing = await c.post('/ui/hosts/new', { mac: '52-54-00-00-00-02', profile: 'nope' });
    expect(await missing.text()).toMatch(/id="profile-error">[^<]*profile &quot;nope&quot; does not exist/);
  });

  it('refuses an edit made against an older version of the host', async () => {
    const { s, c } = await signedIn();
    await s.admin.addHost({ mac: '52:54:00:00:00:01', hostname: 'web01' });
    await c.get('/ui/hosts/52-54-00-00-00-01');
    await s.admin.updateHost('52:54:00:00:00:01', { hostname: 'changed-elsewhere' });
    const r = await c.post('/ui/hosts/52-54-00-00-00-01', { hostname: 'mine', version: '1' });
    expect(r.status).toBe(409);
    expect(await r.text()).toContain('was changed meanwhile');
    expect((await s.store.getHost('52:54:00:00:00:01'))!.hostname).toBe('changed-elsewhere');
    const ok = await c.post('/ui/hosts/52-54-00-00-00-01', { hostname: 'mine', version: '2', secret_name: 'bmc_password', secret_value: 'hunter2-hunter2' });
    expect(ok.status).toBe(303);
    expect(await s.store.getHostRow('52:54:00:00:00:01')).toMatchObject({ hostname: 'mine', secrets: { bmc_password: { value: 'hunter2-hunter2' } } });
  });

  it('changes the profile of selected hosts all or nothing, and assigns tasks to them', async () => {
    const { s, c } = await signedIn();
    await s.admin.addProfile(linux);
    await s.admin.addHost({ mac: '52:54:00:00:00:01' });
    await s.admin.addHost({ mac: '52:54:00:00:00:02' });
    await c.get('/ui/hosts');
    const bad = await c.post('/ui/hosts/bulk', { action: 'profile', profile: 'rocky-9', mac: ['52:54:00:00:00:01', '52:54:00:00:00:99'], return: '/ui/hosts?q=52' });
    expect(bad.headers.get('location')).toBe('/ui/hosts?q=52');
    expect((await s.store.getHost('52:54:00:00:00:01'))!.profile).toBeNull();
    expect((await c.get('/ui/hosts?q=52')).html).toContain('Nothing was changed: host 52:54:00:00:00:99 does not exist');

    await c.post('/ui/hosts/bulk', { action: 'profile', profile: 'rocky-9', mac: ['52:54:00:00:00:01', '52:54:00:00:00:02'] });
    expect((await s.store.getHost('52:54:00:00:00:02'))!.profile).toBe('rocky-9');
    await c.post('/ui/hosts/bulk', { action: 'task', profile: 'rocky-9', mac: ['52:54:00:00:00:01', '52:54:00:00:00:02'] });
    expect((await s.admin.listTasks({ state: 'pending' })).total).toBe(2);
    // A second assignment is refused while they have open tasks, unless it replaces them.
    await c.post('/ui/hosts/bulk', { action: 'task', profile: 'rocky-9', mac: ['52:54:00:00:00:01'] });
    expect((await c.get('/ui/hosts')).html).toContain('already have an open task');
    await c.post('/ui/hosts/bulk', { action: 'task', profile: 'rocky-9', mac: ['52:54:00:00:00:01'], replace: '1' });
    expect((await s.admin.listTasks({ state: 'cancelled' })).total).toBe(1);
  });

  it('imports host-os.conf with a report per line, all lines or none', async () => {
    const { s, c } = await signedIn();
    await s.admin.addProfile(linux);
    await s.admin.addHost({ mac: '52:54:00:00:00:02', profile: 'rocky-9' });
    await c.get('/ui/hosts/import');
    const text = '# lab\n52:54:00:00:00:01, rocky-9, web01\nnot-a-mac, rocky-9\n52:54:00:00:00:03, nope\n';
    const bad = await c.post('/ui/hosts/import', { text, mode: 'import' });
    expect(bad.status).toBe(400);
    const html = await bad.text();
    expect(html).toContain('2 line(s) cannot be taken; nothing was imported.');
    expect(html).toMatch(/<td class="num">3<\/td><td class="mono">not-a-mac, rocky-9<\/td>.*&quot;not-a-mac&quot; is not a MAC address/);
    expect(html).toContain('profile &quot;nope&quot; does not exist');
    expect((await s.store.listHosts()).total).toBe(1);

    const good = await c.post('/ui/hosts/import', { text: '52:54:00:00:00:01, rocky-9, web01\n52-54-00-00-00-02, rocky-9, web02\n', mode: 'import' });
    expect(good.status).toBe(200);
    const report = await good.text();
    expect(report).toContain('Imported: 1 added, 1 updated.');
    expect(report).toContain('add 52:54:00:00:00:01 with profile rocky-9, host name web01');
    expect((await s.store.getHost('52:54:00:00:00:02'))!.hostname).toBe('web02');
  });

  it('shows the profile fields of its kind and checks them', async () => {
    const { s, c } = await signedIn();
    await c.get('/ui/profiles/new');
    const r = await c.post('/ui/profiles/new', { name: 'menu1', kind: 'chain', url: 'ftp://x', kernel: 'ignored/for/chain' });
    expect(r.status).toBe(400);
    expect(await r.text()).toMatch(/id="url-error">must be an http/);
    const ok = await c.post('/ui/profiles/new', { name: 'chainer', kind: 'chain', url: 'http://boot.example/x.ipxe', kernel: 'ignored/for/chain' });
    expect(ok.status).toBe(303);
    expect(await s.store.getProfile('chainer')).toMatchObject({ kind: 'chain', kernel: null, options: { url: 'http://boot.example/x.ipxe' } });
    const menu = await c.post('/ui/profiles/new', { name: 'm', kind: 'menu', entries: ['chainer'], default: 'nope' });
    expect(await menu.text()).toMatch(/id="default-error">[^<]*&quot;nope&quot; is not one of the entries/);
    await s.admin.addHost({ mac: '52:54:00:00:00:01', profile: 'chainer' });
    await c.post('/ui/profiles/chainer/delete', {});
    expect((await c.get('/ui/profiles/chainer')).html).toContain('is used by 1 host(s)');
  });

  it('refuses to save a template that does not compile or render, with its line', async () => {
    const { s, c } = await signedIn();
    await s.admin.addProfile(linux);
    await s.admin.addHost({ mac: '52:54:00:00:00:01', hostname: 'web01', profile: 'rocky-9' });
    await c.get('/ui/templates/edit?name=kickstart/rhel.cfg');
    const syntax = await c.post('/ui/templates/save', { name: 'kickstart/rhel.cfg', body: 'line 1\r\n<% if ( %>\r\n', mac: 'web01' });
    expect(syntax.status).toBe(400);
    const html = await syntax.text();
    expect(html).toContain('Not saved: the template does not render (line 2)');
    expect(html).toContain('data-error-line="2"');
    const runtime = await c.post('/ui/templates/save', { name: 'kickstart/rhel.cfg', body: 'a\nb\n<%= it.nope.x %>\n', mac: 'web01' });
    expect(await runtime.text()).toContain('Render error on line 3');
    expect((await s.admin.templateVersions('kickstart/rhel.cfg')).versions).toHaveLength(0);

    const ok = await c.post('/ui/templates/save', { name: 'kickstart/rhel.cfg', body: '# mine for <%= it.vars.hostname %>\r\n', comment: 'short', mac: 'web01' });
    expect(ok.status).toBe(303);
    // Browsers send textarea line ends as CRLF: stored as LF.
    expect((await s.admin.getTemplate('kickstart/rhel.cfg')).body).toBe('# mine for <%= it.vars.hostname %>\n');
    expect(await (await s.web.request('/hosts/52-54-00-00-00-01/ks.cfg')).text()).toBe('# mine for web01\n');

    // A new template starts empty and is created by its first save.
    const fresh = await c.get('/ui/templates/edit?name=kickstart/web.cfg&new=1');
    expect(fresh.status).toBe(200);
    expect(fresh.html).toContain('Template kickstart/web.cfg');
    expect((await c.get('/ui/templates/edit?name=kickstart/nothing.cfg')).status).toBe(404);
    expect((await c.post('/ui/templates/save', { name: 'kickstart/web.cfg', body: '# web\n' })).status).toBe(303);
    expect(await s.admin.getTemplate('kickstart/web.cfg')).toMatchObject({ version: 1, body: '# web\n' });

    const hist = await c.get('/ui/templates/history?name=kickstart/rhel.cfg');
    expect(hist.html).toContain('Version 0 → version 1');
    await c.post('/ui/templates/restore', { name: 'kickstart/rhel.cfg', version: '0' });
    expect(await s.admin.getTemplate('kickstart/rhel.cfg')).toMatchObject({ version: 2 });
  });

  it('previews the draft for the chosen host, or says when its request uses another template', async () => {
    const { s, c } = await signedIn();
    await s.admin.addProfile(linux);
    await s.admin.addHost({ mac: '52:54:00:00:00:01', hostname: 'web01', profile: 'rocky-9' });
    await c.get('/ui/templates');
    const preview = (name: string, body: string, mac: string) =>
      c.request('/ui/templates/preview', { method: 'POST', body: new URLSearchParams({ name, body, mac }), headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-csrf-token': c.csrf } }).then((r) => r.text());
    expect(await preview('ipxe/linux.ipxe', '#!ipxe\necho draft for <%= it.host.mac %>\n', 'web01')).toContain('echo draft for 52:54:00:00:00:01');
    const other = await preview('ipxe/chain.ipxe', '#!ipxe\necho never\n', '52:54:00:00:00:01');
    expect(other).toContain('This request is rendered from ipxe/linux.ipxe, not ipxe/chain.ipxe');
    expect(other).not.toContain('echo never');
    expect(await preview('ipxe/linux.ipxe', 'x', 'nobody')).toContain('No host has the MAC or host name');
    // Without JavaScript the Preview button posts the whole editor page back, draft included.
    const page = await c.post('/ui/templates/edit', { name: 'ipxe/linux.ipxe', body: '#!ipxe\necho posted draft\n', mac: 'web01' });
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('echo posted draft');
    expect((await s.admin.templateVersions('ipxe/linux.ipxe')).versions).toHaveLength(0);
  });

  it('cancels a task and lists tasks by state', async () => {
    const { s, c } = await signedIn();
    await s.admin.addProfile(linux);
    await s.admin.addHost({ mac: '52:54:00:00:00:01' });
    await c.get('/ui/tasks/new');
    const bad = await c.post('/ui/tasks/new', { profile: 'rocky-9', target: 'macs', macs: '52:54:00:00:00:77' });
    expect(bad.status).toBe(404);
    expect(await bad.text()).toMatch(/id="macs-error">[^<]*are not hosts/);
    const made = await c.post('/ui/tasks/new', { profile: 'rocky-9', target: 'macs', macs: '52-54-00-00-00-01', comment: 'reinstall' });
    expect(made.status).toBe(303);
    const id = (await s.admin.listTasks({})).tasks[0]!.id;
    expect(made.headers.get('location')).toBe(`/ui/tasks/${id}`);
    expect((await c.get('/ui/tasks?state=pending')).html).toContain(`data-task-id="${id}"`);
    await c.post(`/ui/tasks/${id}/cancel`, { version: '1', return: '/ui/tasks' });
    expect((await s.admin.getTask(id)).state).toBe('cancelled');
    expect((await c.get('/ui/tasks?state=pending')).html).not.toContain(`data-task-id="${id}"`);
    expect((await c.get('/ui/tasks?state=cancelled')).html).toContain(`data-task-id="${id}"`);
  });
});
