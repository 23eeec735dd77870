/**
 * Full task cycles over real HTTP: the built service on a socket, the admin
 * API and the booting machine's requests, and the environment's callbacks
 * made with curl as an installer would.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, startServe, type Served } from '../helpers/process.js';

const TOKEN = 'tasks-e2e-admin-token-0123456789';
let srv: Served;

beforeAll(async () => {
  srv = await startServe(['--admin-token', TOKEN, '--advertise-ip', '127.0.0.1']);
  await api('POST', '/profiles', { name: 'rocky-9', kind: 'linux', kernel: 'rocky9/vmlinuz', initrds: ['rocky9/initrd.img'], cmdline: 'inst.ks=<%= it.urls.file("ks.cfg") %>', files: { 'ks.cfg': 'kickstart/rhel.cfg' } });
  await api('POST', '/profiles', { name: 'capture', kind: 'chain', url: 'http://10.9.9.9/capture.ipxe' });
  await api('POST', '/profiles', { name: 'standing', kind: 'chain', url: 'http://10.9.9.9/standing.ipxe' });
});
afterAll(async () => {
  await srv?.stop();
});

async function api(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${srv.baseUrl}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, etag: res.headers.get('etag'), body: text ? (JSON.parse(text) as any) : null };
}

async function boot(mac: string): Promise<string> {
  const res = await fetch(`${srv.baseUrl}/ipxe?mac=${mac}&platform=efi&arch=x86_64`);
  expect(res.status).toBe(200);
  return res.text();
}

async function curl(url: string, ...args: string[]) {
  const r = await run('curl', ['-sS', '--max-time', '10', '-w', '\n%{http_code}', ...args, url]);
  if (r.code !== 0) throw new Error(`curl failed: ${r.stderr}`);
  const lines = r.stdout.trimEnd().split('\n');
  return { status: Number(lines.pop()), body: lines.join('\n').trimEnd() };
}

function callbackUrls(text: string) {
  const find = (what: string) => new RegExp(`(http://\\S+/tasks/\\d+/${what}\\?token=[A-Za-z0-9_-]+)`).exec(text)?.[1];
  return { running: find('running'), done: find('done'), failed: find('failed') };
}

describe('a task, from assignment to local boot', () => {
  it('assign → boot into it → kickstart carries callbacks → running → done → local boot', async () => {
    const mac = '52:54:00:aa:00:01';
    await api('POST', '/hosts', { mac, hostname: 'node01', profile: 'standing', variables: { timezone: 'UTC' } });
    expect(await boot(mac)).toContain('standing.ipxe');

    const assigned = await api('POST', '/tasks', { profile: 'rocky-9', mac, comment: 'reinstall' });
    expect(assigned.status).toBe(201);
    const taskId = assigned.body[0].id as number;
    expect(assigned.body[0]).toMatchObject({ state: 'pending', mac, profile: 'rocky-9' });

    const script = await boot(mac);
    expect(script).toContain(`${srv.baseUrl}/assets/rocky9/vmlinuz`);
    expect((await api('GET', `/tasks/${taskId}`)).body.state).toBe('served');

    const ks = await curl(`${srv.baseUrl}/hosts/52-54-00-aa-00-01/ks.cfg`);
    const urls = callbackUrls(ks.body);
    expect(urls.running).toMatch(new RegExp(`/tasks/${taskId}/running\\?token=`));
    expect(urls.done).toBeDefined();

    expect(await curl(urls.running!)).toEqual({ status: 200, body: `ok: task ${taskId} is running` });
    const progress = await curl(urls.running!.replace('/running?', '/progress?'), '--data-binary', 'copying packages 40%', '-H', 'Content-Type: text/plain');
    expect(progress.status).toBe(200);
    // While running, a reboot (the installer's) boots the local disk.
    expect(await boot(mac)).toMatch(/^exit/m);
    expect(await curl(urls.done!)).toEqual({ status: 200, body: `ok: task ${taskId} is done` });

    // Done: the standing profile again, and the token no longer works.
    expect(await boot(mac)).toContain('standing.ipxe');
    expect((await curl(urls.done!)).status).toBe(409);
    expect((await curl(urls.running!)).status).toBe(409);

    const t = await api('GET', `/tasks/${taskId}`);
    expect(t.body.history.map((h: any) => h.toState)).toEqual(['pending', 'served', 'running', 'running', 'done']);
    expect(t.body.history[3].message).toBe('copying packages 40%');

    const timeline = await api('GET', `/hosts/${mac}/timeline`);
    const sources = timeline.body.map((e: any) => e.source);
    expect(sources).toEqual(expect.arrayContaining(['script', 'file', 'task']));
    const times = timeline.body.map((e: any) => e.at);
    expect([...times].sort((a: number, b: number) => a - b)).toEqual(times);
  });

  it('refuses a wrong token and a token of another task', async () => {
    const a = '52:54:00:aa:00:02';
    const b = '52:54:00:aa:00:03';
    await api('POST', '/hosts', { mac: a });
    await api('POST', '/hosts', { mac: b });
    const [ta] = (await api('POST', '/tasks', { profile: 'rocky-9', mac: a })).body;
    const [tb] = (await api('POST', '/tasks', { profile: 'rocky-9', mac: b })).body;
    await boot(a);
    await boot(b);
    const urlsA = callbackUrls((await curl(`${srv.baseUrl}/hosts/${a}/ks.cfg`)).body);
    const tokenA = /token=([^&\s]+)/.exec(urlsA.running!)![1];
    expect((await curl(`${srv.baseUrl}/tasks/${tb.id}/done?token=${tokenA}`)).status).toBe(403);
    expect((await curl(`${srv.baseUrl}/tasks/${ta.id}/done?token=${tokenA}x`)).status).toBe(403);
    expect((await curl(`${srv.baseUrl}/tasks/${ta.id}/done`)).status).toBe(403);
    expect((await api('GET', `/tasks/${tb.id}`)).body.state).toBe('served');
  });

  it('retries a failed task by its policy, then gives up to the local disk', async () => {
    const mac = '52:54:00:aa:00:04';
    await api('POST', '/hosts', { mac });
    const [t] = (await api('POST', '/tasks', { profile: 'capture', mac, onFailure: 'retry', maxRetries: 1 })).body;
    expect(await boot(mac)).toContain('capture.ipxe');
    const token = (await api('GET', `/tasks/${t.id}`)).body; // no token in the API
    expect(JSON.stringify(token)).not.toContain('nonce');
    const ks = callbackUrls((await curl(`${srv.baseUrl}/hosts/${mac}/ks.cfg`)).body);
    const first = await curl(`${ks.failed!}&message=${encodeURIComponent('disk not found')}`);
    expect(first.body).toBe(`ok: task ${t.id} is pending (retry, attempt 2)`);
    expect(await boot(mac)).toContain('capture.ipxe');
    const second = await curl(`${ks.failed!}&message=again`);
    expect(second.body).toBe(`ok: task ${t.id} is failed`);
    expect(await boot(mac)).toMatch(/^exit/m);
    const h = (await api('GET', `/tasks/${t.id}`)).body.history.map((e: any) => `${e.toState}:${e.message}`);
    expect(h).toEqual(['pending:', 'served:', 'failed:disk not found', 'pending:retry: attempt 2 of 2', 'served:', 'failed:again']);
  });

  it('assigns one task to 20 hosts of a label at once, all or nothing', async () => {
    const macs = Array.from({ length: 20 }, (_, i) => `52:54:00:bb:00:${i.toString(16).padStart(2, '0')}`);
    for (const mac of macs) await api('POST', '/hosts', { mac, labels: ['lab3'] });
    await api('POST', '/hosts', { mac: '52:54:00:bb:01:00', labels: ['lab4'] });
    // One host of the label already has work: nothing is assigned.
    await api('POST', '/tasks', { profile: 'capture', mac: macs[7] });
    const refused = await api('POST', '/tasks', { profile: 'rocky-9', label: 'lab3' });
    expect(refused.status).toBe(409);
    expect(refused.body.error).toContain(macs[7]);
    expect((await api('GET', '/tasks?state=pending&mac=' + macs[0])).body.total).toBe(0);

    const ok = await api('POST', '/tasks', { profile: 'rocky-9', label: 'lab3', replace: true });
    expect(ok.status).toBe(201);
    expect(ok.body).toHaveLength(20);
    const batch = ok.body[0].batch;
    expect(new Set(ok.body.map((t: any) => t.batch))).toEqual(new Set([batch]));
    expect((await api('GET', `/tasks?batch=${batch}`)).body.total).toBe(20);
    for (const mac of [macs[0]!, macs[19]!]) expect(await boot(mac)).toContain('rocky9/vmlinuz');
    expect(await boot('52:54:00:bb:01:00')).toMatch(/^exit/m);

    const unknown = await api('POST', '/tasks', { profile: 'rocky-9', macs: [macs[0], '52:54:00:ff:ff:ff'] });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error).toContain('52:54:00:ff:ff:ff');
  });

  it('keeps secrets out of API listings, previews and logs, and serves them only while a task is open', async () => {
    const mac = '52:54:00:aa:00:05';
    const secret = '$6$s3cr3t$notinlogs';
    await api('POST', '/hosts', { mac, hostname: 'vault01', profile: 'rocky-9', secrets: { root_password_hash: secret } });
    const shown = await api('GET', `/hosts/${mac}`);
    expect(JSON.stringify(shown.body)).not.toContain(secret);
    expect(shown.body.secrets).toEqual({ root_password_hash: { set: true, always: false } });
    expect(JSON.stringify((await api('GET', '/hosts?q=vault')).body)).not.toContain(secret);

    // No task: the kickstart carries no secret.
    expect((await curl(`${srv.baseUrl}/hosts/${mac}/ks.cfg`)).body).not.toContain(secret);
    await api('POST', '/tasks', { profile: 'rocky-9', mac });
    await boot(mac);
    const ks = (await curl(`${srv.baseUrl}/hosts/${mac}/ks.cfg`)).body;
    expect(ks).toContain(`rootpw --iscrypted '${secret}'`);
    const preview = await api('GET', `/preview?mac=${mac}&file=ks.cfg`);
    expect(preview.body.body).not.toContain(secret);
    expect(preview.body.body).toContain('PREVIEW-TOKEN');
    expect(srv.logs.join('\n')).not.toContain(secret);
    expect(srv.logs.join('\n')).not.toContain('s3cr3t');
  });

  it('refuses a change made against an old version (409), keeping the other admin\'s change', async () => {
    const mac = '52:54:00:aa:00:06';
    await api('POST', '/hosts', { mac, hostname: 'old' });
    const a = await api('GET', `/hosts/${mac}`);
    const b = await api('GET', `/hosts/${mac}`);
    expect(a.etag).toBe(b.etag);
    const first = await api('PATCH', `/hosts/${mac}`, { hostname: 'first' }, { 'if-match': a.etag! });
    expect(first.status).toBe(200);
    const second = await api('PATCH', `/hosts/${mac}`, { notes: 'second admin' }, { 'if-match': b.etag! });
    expect(second.status).toBe(409);
    expect(second.body.error).toContain('changed meanwhile');
    const now = await api('GET', `/hosts/${mac}`);
    expect(now.body).toMatchObject({ hostname: 'first', notes: '' });
    // With the fresh version the second change goes through.
    expect((await api('PATCH', `/hosts/${mac}`, { notes: 'second admin', version: now.body.version })).status).toBe(200);

    const [t] = (await api('POST', '/tasks', { profile: 'capture', mac })).body;
    const stale = `"${t.version}"`;
    await boot(mac); // served: the version moves on
    const cancel = await api('POST', `/tasks/${t.id}/cancel`, undefined, { 'if-match': stale });
    expect(cancel.status).toBe(409);
    expect((await api('POST', `/tasks/${t.id}/cancel`)).body.state).toBe('cancelled');
  });

  it('adopts a discovered host with what it reported', async () => {
    const mac = '52:54:00:aa:00:07';
    await fetch(`${srv.baseUrl}/ipxe?mac=${mac}&uuid=0c1e2d3f-0000-4000-8000-000000000007&serial=SN7&manufacturer=QEMU&product=Standard%20PC&arch=x86_64&platform=pcbios`);
    const found = await api('GET', `/hosts/${mac}`);
    expect(found.body).toMatchObject({ discovered: true, facts: { serial: 'SN7', manufacturer: 'QEMU', product: 'Standard PC', platform: 'pcbios' } });
    const adopted = await api('POST', `/hosts/${mac}/adopt`, { hostname: 'adopted07', profile: 'standing' });
    expect(adopted.body).toMatchObject({ discovered: false, hostname: 'adopted07', profile: 'standing' });
    expect((await api('POST', `/hosts/${mac}/adopt`, {})).status).toBe(409);
  });
});
