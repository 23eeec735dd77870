/**
 * Task queries and state changes. Every change happens in one transaction
 * with its history row, and checks the task's version so two writers cannot
 * silently overwrite each other.
 */
import { and, desc, eq, inArray, lte, or, sql } from 'drizzle-orm';
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Db } from '../db/client.js';
import { ACTIVE_TASK_STATES, hosts, profiles, taskEvents, tasks, type Task, type TaskEvent, type TaskState } from '../db/schema.js';
import { ConflictError, NotFoundError } from '../errors.js';
import { afterFailure, canMove, expiryReason, isActiveAt, type SweepLimits } from './machine.js';
import { writeTx } from '../db/client.js';

export interface NewTasks {
  hostIds: number[];
  profileId: number;
  notBefore?: number | null;
  expiresAt?: number | null;
  onFailure?: 'local' | 'retry';
  maxRetries?: number;
  comment?: string;
  /** Cancel a host's active task instead of refusing the assignment. */
  replace?: boolean;
}

export interface TaskView extends Omit<Task, 'nonce'> {
  mac: string;
  hostname: string | null;
  profile: string;
}

export type Actor = 'admin' | 'boot' | 'callback' | 'sweeper';

export type TaskStore = ReturnType<typeof createTaskStore>;

export function createTaskStore(db: Db, getSecret: () => string, now: () => number = Date.now) {
  const activeForHostStmt = db
    .select()
    .from(tasks)
    .where(and(eq(tasks.hostId, sql.placeholder('hostId')), inArray(tasks.state, ACTIVE_TASK_STATES)))
    .orderBy(desc(tasks.id))
    .prepare();

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

  function get(id: number): Task {
    const t = db.select().from(tasks).where(eq(tasks.id, id)).get();
    if (!t) throw new NotFoundError(`task ${id} does not exist`);
    return t;
  }

  /** Moves a task, writing its history; refuses moves the machine does not allow. */
  function move(t: Task, to: TaskState, actor: Actor, message = '', extra: Partial<typeof tasks.$inferInsert> = {}): Task {
    if (!canMove(t.state, to)) throw new ConflictError(`task ${t.id} is ${t.state}; it cannot become ${to}`);
    const at = now();
    const set: Partial<typeof tasks.$inferInsert> = { state: to, updatedAt: at, version: t.version + 1, ...extra };
    if (message) set.message = message;
    if (to === 'served') set.servedAt = at;
    if (to === 'running' && t.state !== 'running') set.startedAt = at;
    if (to === 'done' || to === 'failed' || to === 'expired' || to === 'cancelled') set.finishedAt = at;
    const row = db
      .update(tasks)
      .set(set)
      .where(and(eq(tasks.id, t.id), eq(tasks.version, t.version)))
      .returning()
      .get();
    if (!row) throw new ConflictError(`task ${t.id} was changed meanwhile: reload and try again`);
    db.insert(taskEvents).values({ taskId: t.id, at, fromState: t.state, toState: to, message, actor }).run();
    return row;
  }

  const taskStore = {
    /** The callback token of a task: an HMAC of its id and nonce, so no token is stored. */
    tokenFor(t: Pick<Task, 'id' | 'nonce'>): string {
      return createHmac('sha256', getSecret()).update(`task:${t.id}:${t.nonce}`).digest('base64url').slice(0, 32);
    },
    checkToken(t: Pick<Task, 'id' | 'nonce'>, token: string): boolean {
      const want = Buffer.from(taskStore.tokenFor(t));
      const got = Buffer.from(token);
      return want.length === got.length && timingSafeEqual(want, got);
    },

    get,
    /** The task that decides this host's boot now, if any (a future "not before" task does not yet). */
    activeForHost(hostId: number): Task | undefined {
      const at = now();
      return activeForHostStmt.all({ hostId }).find((t) => isActiveAt(t, at));
    },
    /** Any pending/served/running task of the host, including one scheduled for later. */
    openForHost(hostId: number): Task | undefined {
      return activeForHostStmt.all({ hostId })[0];
    },

    /** One task per host, all or none. */
    create(input: NewTasks): Task[] {
      return writeTx(db, () => {
        const at = now();
        const batch = input.hostIds.length > 1 ? randomBytes(6).toString('hex') : null;
        const busy: number[] = [];
        for (const hostId of input.hostIds) {
          const open = activeForHostStmt.all({ hostId });
          if (open.length && !input.replace) busy.push(hostId);
          else for (const t of open) move(t, 'cancelled', 'admin', 'replaced by a new task');
        }
        if (busy.length) {
          const macs = db.select({ mac: hosts.mac }).from(hosts).where(inArray(hosts.id, busy)).all().map((h) => h.mac);
          throw new ConflictError(`${macs.length} host(s) already have an open task (${macs.slice(0, 10).join(', ')}${macs.length > 10 ? ' …' : ''}); cancel it or assign with replace`);
        }
        const created: Task[] = [];
        for (const hostId of input.hostIds) {
          const t = db
            .insert(tasks)
            .values({
              hostId,
              profileId: input.profileId,
              state: 'pending',
              batch,
              comment: input.comment ?? '',
              notBefore: input.notBefore ?? null,
              expiresAt: input.expiresAt ?? null,
              onFailure: input.onFailure ?? 'local',
              maxRetries: input.maxRetries ?? 0,
              nonce: randomBytes(16).toString('base64url'),
              createdAt: at,
              updatedAt: at,
            })
            .returning()
            .get();
          db.insert(taskEvents).values({ taskId: t.id, at, fromState: null, toState: 'pending', message: input.comment ?? '', actor: 'admin' }).run();
          created.push(t);
        }
        return created;
      });
    },

    /** The boot script for this task was handed out. */
    served(t: Task): Task {
      return writeTx(db, () => move(get(t.id), 'served', 'boot'));
    },

    /**
     * Hands out `t` to its host only if it is still at the version the caller
     * read: the served task, or undefined when it moved meanwhile (served by a
     * concurrent request, cancelled, expired). The PostgreSQL store's claim()
     * does the same atomically across nodes; here the write lock does.
     */
    claim(t: Task): Task | undefined {
      return writeTx(db, () => {
        const cur = db.select().from(tasks).where(eq(tasks.id, t.id)).get();
        if (!cur || cur.version !== t.version || !canMove(cur.state, 'served')) return undefined;
        return move(cur, 'served', 'boot');
      });
    },

    /**
     * A report from the environment. running/progress keep it running (with
     * the message); done ends it; failed ends it or, by its policy, puts it
     * back to pending for another attempt.
     */
    report(id: number, what: 'running' | 'progress' | 'done' | 'failed', message: string): Task {
      return writeTx(db, () => {
        const t = get(id);
        if (what === 'progress' && t.state === 'served') return move(t, 'running', 'callback', message);
        if (what === 'progress' || what === 'running') return move(t, 'running', 'callback', message);
        if (what === 'done') return move(t, 'done', 'callback', message);
        const failed = move(t, 'failed', 'callback', message);
        if (afterFailure(failed) === 'retry') {
          return move(failed, 'pending', 'sweeper', `retry: attempt ${failed.attempt + 1} of ${failed.maxRetries + 1}`, { attempt: failed.attempt + 1 });
        }
        return failed;
      });
    },

    cancel(id: number, expectVersion?: number): Task {
      return writeTx(db, () => {
        const t = get(id);
        if (expectVersion !== undefined && expectVersion !== t.version) throw new ConflictError(`task ${id} was changed meanwhile (now version ${t.version}, you had ${expectVersion}): reload and try again`);
        return move(t, 'cancelled', 'admin', 'cancelled by an admin');
      });
    },

    /** Expires what is overdue; returns the tasks it expired. */
    sweep(limits: SweepLimits): Task[] {
      const at = now();
      const candidates = db
        .select()
        .from(tasks)
        .where(
          or(
            and(eq(tasks.state, 'pending'), lte(tasks.expiresAt, at)),
            and(eq(tasks.state, 'served'), lte(sql`coalesce(${tasks.servedAt}, ${tasks.updatedAt})`, at - limits.checkinTimeoutMs)),
            and(eq(tasks.state, 'running'), lte(sql`coalesce(${tasks.startedAt}, ${tasks.updatedAt})`, at - limits.runTimeoutMs)),
          ),
        )
        .all();
      const expired: Task[] = [];
      for (const t of candidates) {
        const why = expiryReason(t, at, limits);
        if (!why) continue;
        try {
          expired.push(writeTx(db, () => move(get(t.id), 'expired', 'sweeper', why)));
        } catch (e) {
          if (!(e instanceof ConflictError)) throw e; // changed meanwhile: next sweep looks again
        }
      }
      return expired;
    },

    list(opts: { states?: TaskState[]; hostId?: number; batch?: string; limit?: number; offset?: number } = {}): { total: number; tasks: TaskView[] } {
      const conds = [];
      if (opts.states?.length) conds.push(inArray(tasks.state, opts.states));
      if (opts.hostId !== undefined) conds.push(eq(tasks.hostId, opts.hostId));
      if (opts.batch) conds.push(eq(tasks.batch, opts.batch));
      const where = conds.length ? and(...conds) : undefined;
      const total = db.select({ n: sql<number>`count(*)` }).from(tasks).where(where).get()!.n;
      const rows = db
        .select(viewColumns)
        .from(tasks)
        .innerJoin(hosts, eq(hosts.id, tasks.hostId))
        .innerJoin(profiles, eq(profiles.id, tasks.profileId))
        .where(where)
        .orderBy(desc(tasks.id))
        .limit(Math.min(opts.limit ?? 100, 1000))
        .offset(opts.offset ?? 0)
        .all();
      return { total, tasks: rows };
    },
    view(id: number): TaskView {
      const row = db
        .select(viewColumns)
        .from(tasks)
        .innerJoin(hosts, eq(hosts.id, tasks.hostId))
        .innerJoin(profiles, eq(profiles.id, tasks.profileId))
        .where(eq(tasks.id, id))
        .get();
      if (!row) throw new NotFoundError(`task ${id} does not exist`);
      return row;
    },
    history(id: number): TaskEvent[] {
      return db.select().from(taskEvents).where(eq(taskEvents.taskId, id)).orderBy(taskEvents.at, taskEvents.id).all();
    },
    /** Task changes of a host, for its timeline. */
    historyForHost(hostId: number, limit = 500): (TaskEvent & { profile: string })[] {
      return db
        .select({ id: taskEvents.id, taskId: taskEvents.taskId, at: taskEvents.at, fromState: taskEvents.fromState, toState: taskEvents.toState, message: taskEvents.message, actor: taskEvents.actor, profile: profiles.name })
        .from(taskEvents)
        .innerJoin(tasks, eq(tasks.id, taskEvents.taskId))
        .innerJoin(profiles, eq(profiles.id, tasks.profileId))
        .where(eq(tasks.hostId, hostId))
        .orderBy(desc(taskEvents.at), desc(taskEvents.id))
        .limit(limit)
        .all();
    },
  };
  return taskStore;
}
