/**
 * The task store (src/tasks/store.ts) over PostgreSQL: the same methods and
 * results as Promises, the same state machine (src/tasks/machine.ts), every
 * change in one transaction with its history row.
 *
 * Two nodes may get the same host's boot request at the same moment. The
 * SQLite store's served() re-reads the task and moves it on (served → served
 * is allowed, for a host that reboots before checking in), so two nodes
 * calling it would both hand the task out and both write a `served` row.
 * claim() is the atomic form: it moves the task to served only from the
 * version the caller read, in one conditional UPDATE; PostgreSQL re-checks
 * the WHERE of a waiting UPDATE against the row the first one committed, so
 * of any number of concurrent claims of one version exactly one gets the row.
 */
import { and, asc, count, desc, eq, inArray, lte, or, sql } from 'drizzle-orm';
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { PgDb } from './client.js';
import { hosts, profiles, taskEvents, tasks } from './schema.js';
import { ACTIVE_TASK_STATES, type Task, type TaskEvent, type TaskState } from '../schema.js';
import type { Actor, NewTasks, TaskStore, TaskView } from '../../tasks/store.js';
import { ConflictError, NotFoundError } from '../../errors.js';
import { afterFailure, canMove, expiryReason, isActiveAt, type SweepLimits } from '../../tasks/machine.js';
import type { Async } from './async.js';
import { anyOf, SNAPSHOT, type Q, type Tx } from './store.js';

/** Rows per INSERT when a task is assigned to many hosts at once (16 parameters a task row). */
const TASK_ROWS_PER_INSERT = 1000;

/** What the PG task store adds to the SQLite one's surface. */
export interface PgTaskStoreExtras {
  /**
   * Hands out `t` to its host, atomically: moves it to served only if it is
   * still at the version the caller read (pending, or served for a re-serve),
   * writing one `served` history row. Resolves to the served task when this
   * caller won, to undefined when the task had moved meanwhile (another
   * node served it, an admin cancelled it, the sweeper expired it). Never
   * throws for a lost race.
   */
  claim(t: Task): Promise<Task | undefined>;
}

export type PgTaskStore = ReturnType<typeof createPgTaskStore>;

export function createPgTaskStore(db: PgDb, getSecret: () => string | Promise<string>, now: () => number = Date.now) {
  const viewColumns = {
    id: tasks.id,
    hostId: tasks.hostId,
    profileId: tasks.profileId,
    state: tasks.state,
    batch: tasks.batch,
    comment: tasks.comment,
    notBefore: tasks.notBefore,
    expiresAt: tasks.expiresAt,
    onFailure: tasks.onFailure,
    maxRetries: tasks.maxRetries,
    attempt: tasks.attempt,
    message: tasks.message,
    version: tasks.version,
    createdAt: tasks.createdAt,
    updatedAt: tasks.updatedAt,
    servedAt: tasks.servedAt,
    startedAt: tasks.startedAt,
    finishedAt: tasks.finishedAt,
    mac: hosts.mac,
    hostname: hosts.hostname,
    profile: profiles.name,
  };

  /** openOf over the pool, prepared (every boot of a known host asks it). */
  const openOfStmt = db
    .select()
    .from(tasks)
    .where(and(eq(tasks.hostId, sql.placeholder('hostId')), inArray(tasks.state, ACTIVE_TASK_STATES)))
    .orderBy(desc(tasks.id))
    .prepare('chainboot_open_tasks_of_host');

  function openOf(q: Q, hostId: number): Promise<Task[]> {
    if (q === db) return openOfStmt.execute({ hostId });
    return q
      .select()
      .from(tasks)
      .where(and(eq(tasks.hostId, hostId), inArray(tasks.state, ACTIVE_TASK_STATES)))
      .orderBy(desc(tasks.id));
  }

  async function getIn(q: Q, id: number, lock = false): Promise<Task> {
    const query = q.select().from(tasks).where(eq(tasks.id, id));
    const [t] = lock ? await query.for('update') : await query;
    if (!t) throw new NotFoundError(`task ${id} does not exist`);
    return t;
  }

  /** Moves a task, writing its history; refuses moves the machine does not allow. */
  async function move(q: Tx, t: Task, to: TaskState, actor: Actor, message = '', extra: Partial<typeof tasks.$inferInsert> = {}): Promise<Task> {
    if (!canMove(t.state, to)) throw new ConflictError(`task ${t.id} is ${t.state}; it cannot become ${to}`);
    const at = now();
    const set: Partial<typeof tasks.$inferInsert> = { state: to, updatedAt: at, version: t.version + 1, ...extra };
    if (message) set.message = message;
    if (to === 'served') set.servedAt = at;
    if (to === 'running' && t.state !== 'running') set.startedAt = at;
    if (to === 'done' || to === 'failed' || to === 'expired' || to === 'cancelled') set.finishedAt = at;
    const [row] = await q
      .update(tasks)
      .set(set)
      .where(and(eq(tasks.id, t.id), eq(tasks.version, t.version)))
      .returning();
    if (!row) throw new ConflictError(`task ${t.id} was changed meanwhile: reload and try again`);
    await q.insert(taskEvents).values({ taskId: t.id, at, fromState: t.state, toState: to, message, actor });
    return row;
  }

  /** A change to one task: read FOR UPDATE, so a change on another node waits for this one and then sees its result. */
  function change(id: number, fn: (q: Tx, t: Task) => Promise<Task>): Promise<Task> {
    return db.transaction(async (q) => fn(q, await getIn(q, id, true)));
  }

  async function tokenFor(t: Pick<Task, 'id' | 'nonce'>): Promise<string> {
    return createHmac('sha256', await getSecret())
      .update(`task:${t.id}:${t.nonce}`)
      .digest('base64url')
      .slice(0, 32);
  }

  const taskStore = {
    /** The callback token of a task: an HMAC of its id and nonce, so no token is stored. */
    tokenFor,
    async checkToken(t: Pick<Task, 'id' | 'nonce'>, token: string): Promise<boolean> {
      const want = Buffer.from(await tokenFor(t));
      const got = Buffer.from(token);
      return want.length === got.length && timingSafeEqual(want, got);
    },

    async get(id: number): Promise<Task> {
      return getIn(db, id);
    },
    /** The task that decides this host's boot now, if any (a future "not before" task does not yet). */
    async activeForHost(hostId: number): Promise<Task | undefined> {
      const at = now();
      return (await openOf(db, hostId)).find((t) => isActiveAt(t, at));
    },
    /** Any pending/served/running task of the host, including one scheduled for later. */
    async openForHost(hostId: number): Promise<Task | undefined> {
      return (await openOf(db, hostId))[0];
    },

    /** One task per host, all or none. */
    async create(input: NewTasks): Promise<Task[]> {
      return db.transaction(async (q) => {
        const at = now();
        const batch = input.hostIds.length > 1 ? randomBytes(6).toString('hex') : null;
        // The hosts are locked (in id order, so two assignments cannot deadlock) until commit: two admins assigning
        // work to one host on two nodes are served one after the other, and the second sees the first's task.
        if (input.hostIds.length) {
          await q
            .select({ id: hosts.id })
            .from(hosts)
            .where(anyOf(hosts.id, input.hostIds, 'int'))
            .orderBy(asc(hosts.id))
            .for('no key update');
        }
        // Every open task of these hosts in one query (newest first, as openOf lists them).
        const openByHost = new Map<number, Task[]>();
        if (input.hostIds.length) {
          const rows = await q
            .select()
            .from(tasks)
            .where(and(anyOf(tasks.hostId, input.hostIds, 'int'), inArray(tasks.state, ACTIVE_TASK_STATES)))
            .orderBy(desc(tasks.id));
          for (const t of rows) openByHost.set(t.hostId, [...(openByHost.get(t.hostId) ?? []), t]);
        }
        const busy: number[] = [];
        for (const hostId of input.hostIds) {
          const open = openByHost.get(hostId) ?? [];
          if (open.length && !input.replace) busy.push(hostId);
          else {
            // A host listed twice (hostIdsFor by label lists a label given twice twice) has its tasks cancelled once.
            for (const t of open.splice(0)) await move(q, t, 'cancelled', 'admin', 'replaced by a new task');
          }
        }
        if (busy.length) {
          const macs = (await q.select({ mac: hosts.mac }).from(hosts).where(anyOf(hosts.id, busy, 'int')).orderBy(asc(hosts.id))).map((h) => h.mac);
          throw new ConflictError(`${macs.length} host(s) already have an open task (${macs.slice(0, 10).join(', ')}${macs.length > 10 ? ' …' : ''}); cancel it or assign with replace`);
        }
        const created: Task[] = [];
        for (let i = 0; i < input.hostIds.length; i += TASK_ROWS_PER_INSERT) {
          const rows = await q
            .insert(tasks)
            .values(
              input.hostIds.slice(i, i + TASK_ROWS_PER_INSERT).map((hostId) => ({
                hostId,
                profileId: input.profileId,
                state: 'pending' as const,
                batch,
                comment: input.comment ?? '',
                notBefore: input.notBefore ?? null,
                expiresAt: input.expiresAt ?? null,
                onFailure: input.onFailure ?? 'local',
                maxRetries: input.maxRetries ?? 0,
                nonce: randomBytes(16).toString('base64url'),
                createdAt: at,
                updatedAt: at,
              })),
            )
            .returning();
          // Identity values are taken in VALUES order; sorted by id, the rows are in the hosts' order.
          rows.sort((a, b) => a.id - b.id);
          await q.insert(taskEvents).values(rows.map((t) => ({ taskId: t.id, at, fromState: null, toState: 'pending', message: input.comment ?? '', actor: 'admin' })));
          created.push(...rows);
        }
        return created;
      });
    },

    /**
     * The boot script for this task was handed out: the SQLite store's
     * served(), which moves the task from whatever state it is in now.
     * Between nodes, use claim() instead.
     */
    async served(t: Task): Promise<Task> {
      return change(t.id, (q, current) => move(q, current, 'served', 'boot'));
    },

    claim(t: Task): Promise<Task | undefined> {
      if (!canMove(t.state, 'served')) return Promise.resolve(undefined);
      return db.transaction(async (q) => {
        const at = now();
        const [row] = await q
          .update(tasks)
          .set({ state: 'served', updatedAt: at, servedAt: at, version: t.version + 1 })
          // The version says the task is still as the caller read it (and so in t.state).
          .where(and(eq(tasks.id, t.id), eq(tasks.version, t.version), inArray(tasks.state, ['pending', 'served'])))
          .returning();
        if (!row) return undefined;
        await q.insert(taskEvents).values({ taskId: t.id, at, fromState: t.state, toState: 'served', message: '', actor: 'boot' });
        return row;
      });
    },

    /**
     * A report from the environment. running/progress keep it running (with
     * the message); done ends it; failed ends it or, by its policy, puts it
     * back to pending for another attempt.
     */
    async report(id: number, what: 'running' | 'progress' | 'done' | 'failed', message: string): Promise<Task> {
      return change(id, async (q, t) => {
        if (what === 'progress' || what === 'running') return move(q, t, 'running', 'callback', message);
        if (what === 'done') return move(q, t, 'done', 'callback', message);
        const failed = await move(q, t, 'failed', 'callback', message);
        if (afterFailure(failed) === 'retry') {
          return move(q, failed, 'pending', 'sweeper', `retry: attempt ${failed.attempt + 1} of ${failed.maxRetries + 1}`, { attempt: failed.attempt + 1 });
        }
        return failed;
      });
    },

    async cancel(id: number, expectVersion?: number): Promise<Task> {
      return change(id, (q, t) => {
        if (expectVersion !== undefined && expectVersion !== t.version) throw new ConflictError(`task ${id} was changed meanwhile (now version ${t.version}, you had ${expectVersion}): reload and try again`);
        return move(q, t, 'cancelled', 'admin', 'cancelled by an admin');
      });
    },

    /** Expires what is overdue; returns the tasks it expired. */
    async sweep(limits: SweepLimits): Promise<Task[]> {
      const at = now();
      const candidates = await db
        .select({ id: tasks.id })
        .from(tasks)
        .where(
          or(
            and(eq(tasks.state, 'pending'), lte(tasks.expiresAt, at)),
            and(eq(tasks.state, 'served'), lte(sql`coalesce(${tasks.servedAt}, ${tasks.updatedAt})`, at - limits.checkinTimeoutMs)),
            and(eq(tasks.state, 'running'), lte(sql`coalesce(${tasks.startedAt}, ${tasks.updatedAt})`, at - limits.runTimeoutMs)),
          ),
        )
        .orderBy(asc(tasks.id));
      const expired: Task[] = [];
      for (const { id } of candidates) {
        try {
          // Every node sweeps: the reason is judged again on the locked row, so a task another node (or a callback)
          // moved meanwhile is left alone.
          const t = await db.transaction(async (q) => {
            const current = await getIn(q, id, true);
            const why = expiryReason(current, at, limits);
            return why ? move(q, current, 'expired', 'sweeper', why) : undefined;
          });
          if (t) expired.push(t);
        } catch (e) {
          if (!(e instanceof ConflictError) && !(e instanceof NotFoundError)) throw e; // changed or gone meanwhile: next sweep looks again
        }
      }
      return expired;
    },

    async list(opts: { states?: TaskState[]; hostId?: number; batch?: string; limit?: number; offset?: number } = {}): Promise<{ total: number; tasks: TaskView[] }> {
      const conds = [];
      if (opts.states?.length) conds.push(inArray(tasks.state, opts.states));
      if (opts.hostId !== undefined) conds.push(eq(tasks.hostId, opts.hostId));
      if (opts.batch) conds.push(eq(tasks.batch, opts.batch));
      const where = conds.length ? and(...conds) : undefined;
      // Count and page from one snapshot.
      return db.transaction(async (q) => {
        const [{ n: total } = { n: 0 }] = await q.select({ n: count() }).from(tasks).where(where);
        const rows = await q
          .select(viewColumns)
          .from(tasks)
          .innerJoin(hosts, eq(hosts.id, tasks.hostId))
          .innerJoin(profiles, eq(profiles.id, tasks.profileId))
          .where(where)
          .orderBy(desc(tasks.id))
          .limit(Math.min(opts.limit ?? 100, 1000))
          .offset(opts.offset ?? 0);
        return { total, tasks: rows };
      }, SNAPSHOT);
    },
    async view(id: number): Promise<TaskView> {
      const [row] = await db
        .select(viewColumns)
        .from(tasks)
        .innerJoin(hosts, eq(hosts.id, tasks.hostId))
        .innerJoin(profiles, eq(profiles.id, tasks.profileId))
        .where(eq(tasks.id, id));
      if (!row) throw new NotFoundError(`task ${id} does not exist`);
      return row;
    },
    async history(id: number): Promise<TaskEvent[]> {
      return db.select().from(taskEvents).where(eq(taskEvents.taskId, id)).orderBy(taskEvents.at, taskEvents.id);
    },
    /** Task changes of a host, for its timeline. */
    async historyForHost(hostId: number, limit = 500): Promise<(TaskEvent & { profile: string })[]> {
      return db
        .select({ id: taskEvents.id, taskId: taskEvents.taskId, at: taskEvents.at, fromState: taskEvents.fromState, toState: taskEvents.toState, message: taskEvents.message, actor: taskEvents.actor, profile: profiles.name })
        .from(taskEvents)
        .innerJoin(tasks, eq(tasks.id, taskEvents.taskId))
        .innerJoin(profiles, eq(profiles.id, tasks.profileId))
        .where(eq(tasks.hostId, hostId))
        .orderBy(desc(taskEvents.at), desc(taskEvents.id))
        .limit(limit);
    },
  } satisfies Async<TaskStore> & PgTaskStoreExtras;
  return taskStore;
}
