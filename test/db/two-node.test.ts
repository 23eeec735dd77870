/**
 * Two central nodes on one PostgreSQL: two real `chainboot serve` processes
 * (the built CLI) with the same DATABASE_URL, each on its own loopback port,
 * as behind a load balancer. Runs in the vitest project "postgres" (its
 * globalSetup starts the cluster).
 *
 * - A one-shot task is handed out exactly once when its host's boot requests
 *   reach both nodes at the same moment: of all the concurrent answers, one
 *   carries the task's script and callbacks, the others the host's standing
 *   boot, and the task's history has one "served" step.
 * - An edit made through one node is what the other answers with on the
 *   very next request: a host's profile, a saved template, a new site.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServe, type Served } from '../helpers/process.js';
import { freshPgDatabase } from '../helpers/pg-fresh.js';

const TOKEN = 'two-node-admin-token-0123456789ab';
let db: { url: string; drop(): Promise<void> };
let a: Served;
let b: Served;

beforeAll(async () => {
  db = await freshPgDatabase();
  const args = ['--admin-token', TOKEN, '--advertise-ip', '127.0.0.1'];
  a = await startServe(args, { DATABASE_URL: db.url });
  b = await startServe(args, { DATABASE_URL: db.url });
  await api(a, 'POST', '/profiles', { name: 'install', kind: 'chain', url: 'http://10.9.9.9/install.ipxe' });
  await api(a, 'POST', '/profiles', { name: 'standing', kind: 'chain', url: 'http://10.9.9.9/standing.ipxe' });
  await api(a, 'POST', '/profiles', { name: 'other', kind: 'chain', url: 'http://10.9.9.9/other.ipxe' });
}, 60_000);

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await db?.drop();
});

async function api(node: Served, method: string, path: string, body?: unknown) {
  const res = await fetch(`${node.baseUrl}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status >= 400) throw new Error(`${method} ${path} on :${node.port}: ${res.status} ${text}`);
  return text ? (JSON.parse(text) as any) : null;
}

async function boot(node: Served, mac: string): Promise<string> {
  const res = await fetch(`${node.baseUrl}/ipxe?mac=${mac}&platform=efi&arch=x86_64`);
  const text = await res.text();
  expect(res.status, text).toBe(200);
  return text;
}

describe('two nodes on one PostgreSQL', () => {
  it('the node processes really share one database (a host made on A is listed by B)', async () => {
    await api(a, 'POST', '/hosts', { mac: '52:54:00:20:00:01', hostname: 'shared01' });
    const listed = await api(b, 'GET', '/hosts?q=shared01');
    expect(listed.hosts.map((h: any) => h.mac)).toEqual(['52:54:00:20:00:01']);
  });

  it('a one-shot task is served exactly once when both nodes get its host at the same moment', async () => {
    const rounds = 12;
    const perNode = 4;
    for (let round = 0; round < rounds; round++) {
      const mac = `52:54:00:21:00:${round.toString(16).padStart(2, '0')}`;
      await api(round % 2 ? a : b, 'POST', '/hosts', { mac, profile: 'standing' });
      const [task] = await api(round % 2 ? b : a, 'POST', '/tasks', { profile: 'install', mac });
      // All requests start together: half to each node.
      const answers = await Promise.all(Array.from({ length: perNode * 2 }, (_, i) => boot(i % 2 ? a : b, mac)));
      const withTask = answers.filter((t) => t.includes('install.ipxe'));
      const standing = answers.filter((t) => t.includes('standing.ipxe'));
      expect(withTask, `round ${round}: answers with the task`).toHaveLength(1);
      expect(standing, `round ${round}: the others get the standing boot`).toHaveLength(perNode * 2 - 1);
      const seen = await api(a, 'GET', `/tasks/${task.id}`);
      expect(seen.state).toBe('served');
      expect(seen.history.filter((h: any) => h.toState === 'served'), `round ${round}: served steps in the history`).toHaveLength(1);
    }
  });

  it("an edit through one node is the other's answer on the next request", async () => {
    const mac = '52:54:00:22:00:01';
    await api(a, 'POST', '/hosts', { mac, profile: 'standing' });
    expect(await boot(b, mac)).toContain('standing.ipxe');
    // A host's profile, changed on A, read by B at once.
    await api(a, 'PATCH', `/hosts/${mac}`, { profile: 'other' });
    expect(await boot(b, mac)).toContain('other.ipxe');
    // A template saved on B renders on A at once.
    await api(b, 'PUT', '/templates/ipxe/chain.ipxe', { body: '#!ipxe\necho saved-on-b\nchain <%= it.profile.options.url %>\n' });
    const script = await boot(a, mac);
    expect(script).toContain('echo saved-on-b');
    // A site made on A (loopback is its subnet) names B's entry script at once.
    await api(a, 'POST', '/sites', { name: 'loopback-site', subnets: ['127.0.0.0/8'], bootBaseUrl: 'http://192.0.2.10:8080' });
    const entry = await (await fetch(`${b.baseUrl}/boot.ipxe`)).text();
    expect(entry).toContain('http://192.0.2.10:8080');
  });
});
