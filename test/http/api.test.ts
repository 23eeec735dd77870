import { describe, expect, it } from 'vitest';
import { makeStack, TOKEN } from '../helpers/services.js';

const linux = { name: 'debian-12', kind: 'linux', kernel: 'debian12/linux', initrds: ['debian12/initrd.gz'], cmdline: 'console=ttyS0 auto=true url=<%= it.urls.file("preseed.cfg") %>' };

async function json(res: Response) {
  return { status: res.status, body: (await res.json()) as any };
}

describe('API authentication', () => {
  it('refuses requests without the bearer token', async () => {
    const { app } = await makeStack();
    const res = await app.request('/api/v1/hosts');
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toContain('Bearer');
    const wrong = await app.request('/api/v1/hosts', { headers: { authorization: 'Bearer ' + TOKEN + 'x' } });
    expect(wrong.status).toBe(401);
  });

  it('leaves boot endpoints open', async () => {
    const { app } = await makeStack();
    expect((await app.request('/ipxe?mac=08:00:27:00:00:01')).status).toBe(200);
  });
});

describe('hosts', () => {
  it('creates, reads, patches and deletes, normalising the MAC', async () => {
    const { api } = await makeStack();
    expect((await json(await api('/profiles', { method: 'POST', json: linux }))).status).toBe(201);
    const created = await json(await api('/hosts', { method: 'POST', json: { mac: '08-00-27-4D-4D-AA', hostname: 'web01', profile: 'debian-12', variables: { disk: '/dev/sda', count: 2 } } }));
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ mac: '08:00:27:4d:4d:aa', hostname: 'web01', profile: 'debian-12', variables: { disk: '/dev/sda', count: '2' } });

    const got = await json(await api('/hosts/0800274d4daa'));
    expect(got.body.hostname).toBe('web01');

    const patched = await json(await api('/hosts/08:00:27:4d:4d:aa', { method: 'PATCH', json: { hostname: 'web02', profile: '' } }));
    expect(patched.body).toMatchObject({ hostname: 'web02', profile: null });

    const list = await json(await api('/hosts?q=web'));
    expect(list.body.total).toBe(1);

    expect((await api('/hosts/08:00:27:4d:4d:aa', { method: 'DELETE' })).status).toBe(204);
    expect((await api('/hosts/08:00:27:4d:4d:aa')).status).toBe(404);
  });

  it.each([
    [{ mac: 'nope' }, 'mac: not a MAC address'],
    [{ mac: '08:00:27:4d:4d:aa', hostname: 'bad host\nchain http://evil' }, 'hostname: not an RFC 1123 host name'],
    [{ mac: '08:00:27:4d:4d:aa', hostname: '-leading' }, 'hostname: not an RFC 1123 host name'],
    [{ mac: '08:00:27:4d:4d:aa', variables: { 'bad-name': 'x' } }, 'variable name "bad-name"'],
    [{ mac: '08:00:27:4d:4d:aa', variables: { ok: 'line1\nline2' } }, 'variables.ok: value contains a control character'],
    [{ mac: '08:00:27:4d:4d:aa', profile: 'missing' }, 'profile "missing" does not exist'],
    [{ mac: '08:00:27:4d:4d:aa', extra: 1 }, 'extra'],
  ])('refuses %j with a message naming the field', async (input, message) => {
    const { api, store } = await makeStack();
    const r = await json(await api('/hosts', { method: 'POST', json: input }));
    expect([400, 404]).toContain(r.status);
    expect(r.body.error).toContain(message);
    expect((await store.listHosts()).total).toBe(0);
  });

  it('refuses a body that is not JSON', async () => {
    const { api } = await makeStack();
    const res = await api('/hosts', { method: 'POST', body: '{mac:', headers: { 'content-type': 'application/json' } });
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).error).toMatch(/body must be JSON/);
  });

  it('answers 409 for a duplicate MAC in any spelling', async () => {
    const { api } = await makeStack();
    await api('/hosts', { method: 'POST', json: { mac: '08:00:27:4d:4d:aa' } });
    const r = await json(await api('/hosts', { method: 'POST', json: { mac: '08-00-27-4d-4d-AA' } }));
    expect(r.status).toBe(409);
  });
});

describe('profiles', () => {
  it('validates per kind and names the field', async () => {
    const { api } = await makeStack();
    const r1 = await json(await api('/profiles', { method: 'POST', json: { name: 'x', kind: 'linux' } }));
    expect(r1.status).toBe(400);
    expect(r1.body.error).toContain('kernel');
    const r2 = await json(await api('/profiles', { method: 'POST', json: { name: 'x', kind: 'linux', kernel: '../etc/passwd' } }));
    expect(r2.body.error).toContain('must not contain "." or ".." segments');
    const r3 = await json(await api('/profiles', { method: 'POST', json: { name: 'x', kind: 'chain', url: 'http://h/x y' } }));
    expect(r3.body.error).toContain('whitespace');
    const r4 = await json(await api('/profiles', { method: 'POST', json: { name: 'x', kind: 'linux', kernel: 'k', cmdline: 'a\nchain http://evil' } }));
    expect(r4.body.error).toContain('cmdline');
    const r5 = await json(await api('/profiles', { method: 'POST', json: { name: 'm', kind: 'menu', entries: ['nosuch'] } }));
    expect(r5.body.error).toContain('profile "nosuch" does not exist');
    const r6 = await json(await api('/profiles', { method: 'POST', json: { name: 'x', kind: 'teleport' } }));
    expect(r6.status).toBe(400);
    const r7 = await json(await api('/profiles', { method: 'POST', json: { ...linux, files: { 'ks.cfg': 'kickstart/nosuch.cfg' } } }));
    expect(r7.body.error).toContain('files.ks.cfg: template "kickstart/nosuch.cfg" does not exist');
  });

  it('patches, refuses to delete a profile in use, then deletes', async () => {
    const { api } = await makeStack();
    await api('/profiles', { method: 'POST', json: linux });
    const p = await json(await api('/profiles/debian-12', { method: 'PATCH', json: { cmdline: 'quiet' } }));
    expect(p.body).toMatchObject({ cmdline: 'quiet', kernel: 'debian12/linux' });
    await api('/hosts', { method: 'POST', json: { mac: '08:00:27:4d:4d:aa', profile: 'debian-12' } });
    const del = await json(await api('/profiles/debian-12', { method: 'DELETE' }));
    expect(del.status).toBe(409);
    expect(del.body.error).toContain('used by 1 host');
    await api('/hosts/08:00:27:4d:4d:aa', { method: 'DELETE' });
    expect((await api('/profiles/debian-12', { method: 'DELETE' })).status).toBe(204);
  });
});

describe('templates', () => {
  it('saves versions, refuses a broken template with its line, restores', async () => {
    const { api } = await makeStack();
    const name = 'kickstart/custom.cfg';
    const v1 = await json(await api(`/templates/${name}`, { method: 'PUT', json: { body: 'network --hostname=<%= it.vars.hostname %>\n', comment: 'first' } }));
    expect(v1).toMatchObject({ status: 201, body: { version: 1 } });
    const v2 = await api(`/templates/${name}?comment=second`, { method: 'PUT', body: 'text\n<%= it.vars.hostname %>\n', headers: { 'content-type': 'text/plain' } });
    expect(((await v2.json()) as any).version).toBe(2);

    const broken = await json(await api(`/templates/${name}`, { method: 'PUT', json: { body: 'line one\nline two\n<%= it.vars.hostname \n' } }));
    expect(broken.status).toBe(400);
    expect(broken.body.error).toMatch(/unclosed|line/i);

    const versions = await json(await api(`/templates/${name}/versions`));
    expect(versions.body.versions.map((v: any) => v.version)).toEqual([2, 1]);
    const restored = await json(await api(`/templates/${name}/versions/1/restore`, { method: 'POST' }));
    expect(restored.body.version).toBe(3);
    const current = await json(await api(`/templates/${name}`));
    expect(current.body).toMatchObject({ version: 3, source: 'saved', body: 'network --hostname=<%= it.vars.hostname %>\n' });
  });

  it('refuses bad template names', async () => {
    const { api } = await makeStack();
    const r = await json(await api('/templates/../etc/passwd', { method: 'PUT', json: { body: 'x' } }));
    expect(r.status).toBeGreaterThanOrEqual(400);
    const r2 = await json(await api('/templates/NoExt', { method: 'PUT', json: { body: 'x' } }));
    expect(r2.status).toBe(400);
    expect(r2.body.error).toContain('template name');
  });

  it('an admin-saved template overrides the shipped one by name', async () => {
    const { api, app, store } = await makeStack();
    await store.createHost({ mac: '08:00:27:4d:4d:aa', hostname: 'web01' });
    await api('/templates/ipxe/local.ipxe', { method: 'PUT', json: { body: '#!ipxe\necho custom local for <%= it.host.hostname %>\nexit\n' } });
    const res = await app.request('/ipxe?mac=08:00:27:4d:4d:aa');
    expect(await res.text()).toBe('#!ipxe\necho custom local for web01\nexit\n');
    await api('/templates/ipxe/local.ipxe/versions/0/restore', { method: 'POST' });
    expect(await (await app.request('/ipxe?mac=08:00:27:4d:4d:aa')).text()).not.toContain('custom local');
  });
});

describe('preview and events', () => {
  it('previews without recording or registering the host', async () => {
    const { api, store, events } = await makeStack();
    const r = await json(await api('/preview?mac=08:00:27:4d:4d:aa'));
    expect(r.body).toMatchObject({ status: 200, template: 'ipxe/local.ipxe' });
    expect(r.body.body.startsWith('#!ipxe')).toBe(true);
    await events.flush();
    expect((await store.listHosts()).total).toBe(0);
    expect(await store.listEvents()).toHaveLength(0);
  });

  it('records what each client asked for and what it was given', async () => {
    const { app, api, events } = await makeStack();
    await api('/profiles', { method: 'POST', json: linux });
    await api('/hosts', { method: 'POST', json: { mac: '08:00:27:4d:4d:aa', profile: 'debian-12' } });
    await app.request('/ipxe?mac=08-00-27-4d-4d-aa&arch=x86_64&platform=efi');
    await app.request('/hosts/08-00-27-4d-4d-aa/preseed.cfg');
    await events.flush();
    const r = await json(await api('/events?mac=08:00:27:4d:4d:aa'));
    expect(r.body.map((e: any) => [e.kind, e.request, e.status])).toEqual([
      ['file', '/hosts/08-00-27-4d-4d-aa/preseed.cfg', 200],
      ['script', '/ipxe', 200],
    ]);
    expect(r.body[1].result).toContain('linux debian-12');
    const host = await json(await api('/hosts/08:00:27:4d:4d:aa'));
    expect(host.body.facts).toEqual({ arch: 'x86_64', platform: 'efi' });
    expect(host.body.lastSeen).toBeGreaterThan(0);
  });
});

describe('import over the API', () => {
  it('reports bad lines and imports nothing', async () => {
    const { api, store } = await makeStack();
    await api('/profiles', { method: 'POST', json: linux });
    const r = await json(await api('/import', { method: 'POST', body: '08:00:27:4d:4d:aa, debian-12\nbad line\n' }));
    expect(r.status).toBe(400);
    expect(r.body.problems).toEqual([{ line: 2, text: 'bad line', message: 'expected "MAC, profile[, hostname]", found 1 field(s)' }]);
    expect((await store.listHosts()).total).toBe(0);
    const ok = await json(await api('/import', { method: 'POST', body: '08:00:27:4d:4d:aa, debian-12\n' }));
    expect(ok.body).toEqual({ added: 1, updated: 0 });
  });
});

describe('profiles a task refers to', () => {
  it('cannot be deleted: 409 naming the tasks, not a 500 from the foreign key', async () => {
    const { api } = await makeStack();
    expect((await api('/profiles', { method: 'POST', json: { name: 'wipe', kind: 'local' } })).status).toBe(201);
    expect((await api('/hosts', { method: 'POST', json: { mac: '52:54:00:00:00:01' } })).status).toBe(201);
    const [task] = (await json(await api('/tasks', { method: 'POST', json: { profile: 'wipe', mac: '52:54:00:00:00:01' } }))).body;
    expect((await api(`/tasks/${task.id}/cancel`, { method: 'POST' })).status).toBe(200);
    const del = await json(await api('/profiles/wipe', { method: 'DELETE' }));
    expect(del.status).toBe(409);
    expect(del.body.error).toBe('profile "wipe" is the profile of 1 task(s) (their history refers to it)');
    expect((await api('/profiles/wipe')).status).toBe(200);
  });
});
