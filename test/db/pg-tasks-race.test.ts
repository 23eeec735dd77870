/**
 * Two chainboot nodes on one PostgreSQL: two separate connection pools with
 * their own stores ("node A" and "node B"), as two processes behind a load
 * balancer would have. Both get the same host's boot at the same moment and
 * try to hand out its pending task: exactly one claim wins, every time, and
 * the task's history has one `served` row. The control shows the race is
 * real: served() (the SQLite store's non-atomic semantics) lets both nodes
 * hand the task out. Also across nodes: one MAC registered twice, one host
 * given two tasks, template saves numbered without gaps or clashes, boot
 * event batches for the same hosts without deadlock or time going back,
 * and an edit on one node seen by the other at once.
 *
 * PostgreSQL must be able to run here: if it cannot, every test fails with
 * the reason (pgProblem()); nothing is skipped.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { profileInputSchema } from '../../src/boot/profile.js';
import { openPg, type PgDb } from '../../src/db/pg/client.js';
import { createPgStore } from '../../src/db/pg/store.js';
import { createPgTaskStore } from '../../src/db/pg/tasks.js';
import type { Task } from '../../src/db/schema.js';
import type { SeenHost } from '../../src/db/store.js';
import { ConflictError } from '../../src/errors.js';
import { pgProblem, startPostgres, type PgCluster } from '../helpers/postgres.js';
import { createIcuDatabase } from './backends.js';

const ROUNDS = 50;
/** Claims per node per task: each node also races itself (two requests of the host on one node). */
const CLAIMS_PER_NODE = 2;

let cluster: PgCluster | undefined;
const pools: PgDb[] = [];

beforeAll(() => {
  // Fails (never skips) with the reason when PostgreSQL cannot run here.
  cluster = startPostgres();
}, 120_000);

// Each test's pools are closed after it: two nodes of 60 connections each are a good part of the cluster's 200.
afterEach(async () => {
  for (const p of pools.splice(0)) await p.$client.end();
});

afterAll(() => {
  cluster?.stop();
});

let n = 0;
/** Two nodes on a new database: separate pools (enough connections that every claim of a round is in flight at once). */
async function twoNodes() {
  if (!cluster) throw new Error(`PostgreSQL cannot run here: ${pgProblem() ?? 'the cluster did not start'}`);
  const url = await createIcuDatabase(cluster, `race_${process.pid}_${++n}`);
  const nodes = [];
  for (const name of ['A', 'B'] as const) {
    const db = await openPg(url, { max: 60 });
    pools.push(db);
    nodes.push({ name, db, store: createPgStore(db), tasks: createPgTaskStore(db, () => 'race-key') });
  }
  return nodes as [(typeof nodes)[0], (typeof nodes)[0]];
}

const MAC = (i: number) => `52:54:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;

/** ROUNDS hosts with one pending task each, made on node A; each node reads the task itself, as its boot path would. */
async function pendingTasks(nodes: Awaited<ReturnType<typeof twoNodes>>) {
  const [a, b] = nodes;
  const p = await a.store.createProfile(profileInputSchema.parse({ name: 'wipe', kind: 'chain', url: 'http://10.9.9.9/wipe.ipxe' }));
  const hostIds: number[] = [];
  for (let i = 0; i < ROUNDS; i++) hostIds.push((await a.store.createHost({ mac: MAC(i) })).id);
  const created = await a.tasks.create({ hostIds, profileId: p.id });
  expect(created).toHaveLength(ROUNDS);
  const reads: { id: number; byNode: [Task, Task] }[] = [];
  for (const [i, hostId] of hostIds.entries()) {
    const ta = await a.tasks.activeForHost(hostId);
    const tb = await b.tasks.activeForHost(hostId);
    expect(ta).toMatchObject({ id: created[i]!.id, state: 'pending', version: 1 });
    expect(tb).toEqual(ta);
    reads.push({ id: created[i]!.id, byNode: [ta!, tb!] });
  }
  return reads;
}

describe('two nodes, one database', () => {
  it('PostgreSQL can run here (these tests need it; they fail, never skip, when it cannot)', () => {
    expect(pgProblem()).toBeNull();
    expect(cluster).toBeDefined();
  });

  it(`serves each of ${ROUNDS} pending tasks exactly once when both nodes claim it at the same moment`, async () => {
    const nodes = await twoNodes();
    const reads = await pendingTasks(nodes);
    // Every claim of every task at once, a task's claims next to each other so they reach the server together.
    const attempts = reads.flatMap((r) =>
      Array.from({ length: CLAIMS_PER_NODE }, () =>
        nodes.map((node, i) => ({ task: r.id, node: node.name, claim: node.tasks.claim(r.byNode[i as 0 | 1]) })),
      ).flat(),
    );
    const results = await Promise.all(attempts.map(async (a) => ({ task: a.task, node: a.node, won: await a.claim })));
    const winsByNode = { A: 0, B: 0 };
    for (const r of reads) {
      const mine = results.filter((x) => x.task === r.id);
      expect(mine).toHaveLength(2 * CLAIMS_PER_NODE);
      const winners = mine.filter((x) => x.won !== undefined);
      expect(winners, `task ${r.id}`).toHaveLength(1);
      winsByNode[winners[0]!.node]++;
      expect(winners[0]!.won).toMatchObject({ id: r.id, state: 'served', version: 2 });
      const history = await nodes[1].tasks.history(r.id);
      expect(history.map((e) => `${e.fromState}>${e.toState}:${e.actor}`), `task ${r.id}`).toEqual(['null>pending:admin', 'pending>served:boot']);
      expect(await nodes[1].tasks.get(r.id)).toMatchObject({ state: 'served', version: 2 });
    }
    expect(winsByNode.A + winsByNode.B).toBe(ROUNDS);
  });

  it('(control) served(), which moves a task from whatever state it is in, lets both nodes hand the same task out', async () => {
    const nodes = await twoNodes();
    const reads = await pendingTasks(nodes);
    await Promise.all(reads.flatMap((r) => nodes.map((node, i) => node.tasks.served(r.byNode[i as 0 | 1]))));
    for (const r of reads) {
      const history = await nodes[0].tasks.history(r.id);
      // Both succeed, one after the other: pending → served, then served → served. Two nodes, two boots into the task.
      expect(history.map((e) => e.toState), `task ${r.id}`).toEqual(['pending', 'served', 'served']);
    }
  });

  it('a MAC registered on both nodes at once is created once; the other node is told it exists', async () => {
    const [a, b] = await twoNodes();
    const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => (i % 2 ? b : a).store.createHost({ mac: MAC(1), hostname: `h${i}` })));
    const ok = results.filter((r) => r.status === 'fulfilled');
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(ok).toHaveLength(1);
    expect(refused).toHaveLength(19);
    for (const r of refused) expect(r.reason).toEqual(new ConflictError(`host ${MAC(1)} already exists`));
    // And discovery racing on both nodes: one row, the same for everyone.
    const found = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? b : a).store.discoverHost(MAC(2), { n: String(i) })));
    expect(new Set(found.map((h) => h.id)).size).toBe(1);
    expect((await a.store.listHosts()).total).toBe(2);
  });

  it('one host given a task on both nodes at once gets one; the other assignment is refused', async () => {
    const [a, b] = await twoNodes();
    const p = await a.store.createProfile(profileInputSchema.parse({ name: 'wipe', kind: 'local' }));
    const h = await a.store.createHost({ mac: MAC(1) });
    const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => (i % 2 ? b : a).tasks.create({ hostIds: [h.id], profileId: p.id })));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect((r.reason as Error).message).toBe(`1 host(s) already have an open task (${MAC(1)}); cancel it or assign with replace`);
    expect((await b.tasks.list({ hostId: h.id })).total).toBe(1);
  });

  it('template saves on both nodes at once are numbered 1…n, none lost', async () => {
    const [a, b] = await twoNodes();
    const saved = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? b : a).store.saveTemplate('kickstart/rhel.cfg', `# ${i}\n`)));
    expect(saved.map((t) => t.version).sort((x, y) => x - y)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect((await b.store.templateVersions('kickstart/rhel.cfg')).length).toBe(40);
  });

  it('boot event batches from both nodes for the same hosts: no deadlock, every event kept, last seen never goes back', async () => {
    const [a, b] = await twoNodes();
    const macs = Array.from({ length: 40 }, (_, i) => MAC(i));
    for (const mac of macs) await a.store.createHost({ mac });
    const batch = (at: number, order: string[], facts: Record<string, string>) =>
      [order.map((mac) => ({ at, mac, kind: 'script', request: '/ipxe', result: 'x', status: 200 })), new Map<string, SeenHost>(order.map((mac) => [mac, { first: at, at, facts }]))] as const;
    // Node A's batch is newer and names the hosts in one order, node B's older in the reverse order, five times each, all at once.
    await Promise.all(
      Array.from({ length: 5 }, () => [a.store.writeEvents(...batch(2000, macs, { by: 'A' })), b.store.writeEvents(...batch(1000, [...macs].reverse(), { by: 'B' }))]).flat(),
    );
    expect((await a.store.listEvents({ limit: 1000 })).length).toBe(40 * 10);
    for (const mac of macs) {
      // Whichever committed last: the newest time, the earliest first sighting, the newest batch's facts.
      expect(await b.store.getHost(mac)).toMatchObject({ lastSeen: 2000, firstSeen: 1000, facts: { by: 'A' } });
    }
  });

  it('an edit on one node is seen by the other at once (no per-node cache)', async () => {
    const [a, b] = await twoNodes();
    await a.store.createProfile(profileInputSchema.parse({ name: 'p', kind: 'local' }));
    expect((await b.store.getProfile('p'))?.options).toEqual({ method: 'exit' });
    await a.store.replaceProfile('p', profileInputSchema.parse({ name: 'p', kind: 'local', method: 'sanboot' }));
    expect((await b.store.getProfile('p'))?.options).toEqual({ method: 'sanboot' });
    await b.store.saveTemplate('ipxe/local.ipxe', '#!ipxe\nexit 0\n');
    expect(await a.store.latestTemplate('ipxe/local.ipxe')).toMatchObject({ version: 1 });
    await a.store.createHost({ mac: MAC(1), profile: 'p' });
    expect((await b.store.hostAndProfile(MAC(1))).profile?.options).toEqual({ method: 'sanboot' });
  });
});
