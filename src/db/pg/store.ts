/**
 * The store (src/db/store.ts) over PostgreSQL: the same methods, arguments
 * and results, as Promises. Where the SQLite store relies on SQLite's single
 * writer (BEGIN IMMEDIATE locks the whole database), this one locks what it
 * reads before it writes, because two chainboot nodes write the same
 * database at once:
 *
 * - a row about to be changed is read FOR UPDATE, and the version check
 *   stays in the UPDATE's WHERE;
 * - a profile a new reference is made to (host, site default) is read
 *   FOR KEY SHARE / FOR SHARE, so a concurrent delete of it waits and then
 *   sees the reference and refuses;
 * - template saves take an advisory lock per template name (version n+1);
 * - unique and foreign-key violations that only a race can produce come
 *   back as the same ConflictError / NotFoundError the checks give.
 *
 * No profile or template cache: the SQLite store drops its cache when
 * SQLite's data_version moves, and PostgreSQL has no such counter; an edit on
 * one node must be seen by the other at once, so they are read per request
 * (one indexed lookup each). Text is ordered bytewise (COLLATE "C") and
 * searched with SQLite's LIKE rules (ASCII-only case folding, no escape
 * character), so listings match the SQLite store's whatever the database's
 * locale.
 */
import { and, asc, count, desc, eq, inArray, lt, max, or, sql, type SQL, type SQLWrapper } from 'drizzle-orm';
import type { PgDb } from './client.js';
import { bootEvents, hosts, profiles, settings, sites, tasks, templates } from './schema.js';
import type { Host, NewBootEvent, Profile, TemplateVersion } from '../schema.js';
import { maskSecrets, type HostInput, type HostView, type ImportLine, type SeenHost, type Store } from '../store.js';
import { ConflictError, NotFoundError } from '../../errors.js';
import { profileRow, type ProfileInput } from '../../boot/profile.js';
import type { Async } from './async.js';

/** A transaction handed to db.transaction's callback. */
export type Tx = Parameters<Parameters<PgDb['transaction']>[0]>[0];
/** Anything queries run on: the pool or a transaction. */
export type Q = PgDb | Tx;

/** The SQLSTATE of a PostgreSQL error, looking through drizzle's DrizzleQueryError wrapper. */
export function pgCode(e: unknown): string | undefined {
  let x = e as { code?: unknown; cause?: unknown } | undefined;
  for (let depth = 0; x && depth < 5; depth++) {
    if (typeof x.code === 'string' && /^[0-9A-Z]{5}$/.test(x.code)) return x.code;
    x = x.cause as typeof x;
  }
  return undefined;
}
export const UNIQUE_VIOLATION = '23505';
export const FOREIGN_KEY_VIOLATION = '23503';

/** ORDER BY a text column bytewise, as SQLite's BINARY collation does. */
export const bytewise = (col: SQLWrapper): SQL => sql`${col} collate "C"`;

const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const LOWER = 'abcdefghijklmnopqrstuvwxyz';
/**
 * SQLite's `col LIKE pattern`: case folded for ASCII letters only, % and _
 * as wildcards and no escape character (PostgreSQL's LIKE escapes with a
 * backslash unless told otherwise, and ILIKE folds every letter).
 */
function sqliteLike(col: SQLWrapper, pattern: string): SQL {
  return sql`translate(${col}, ${UPPER}, ${LOWER}) like translate(${pattern}::text, ${UPPER}, ${LOWER}) escape ''`;
}

/**
 * `col = any($1)` with the list as one array parameter: IN (…) takes a
 * parameter per value, and PostgreSQL's limit is 65535 of them (a big import
 * or assignment would hit it).
 */
export function anyOf(col: SQLWrapper, values: readonly (string | number)[], type: 'text' | 'int'): SQL {
  return type === 'text' ? sql`${col} = any(${sql.param(values)}::text[])` : sql`${col} = any(${sql.param(values)}::int[])`;
}

/** Advisory lock classes (the first key of pg_advisory_xact_lock(int, int)). */
export const LOCK_TEMPLATE_NAME = 0x63620001;

/** A read-only transaction that sees one snapshot throughout: a count and the page it counts agree. */
export const SNAPSHOT = { isolationLevel: 'repeatable read', accessMode: 'read only' } as const;

/** Boot events per INSERT: 8 parameters a row, well under PostgreSQL's 65535. */
const EVENT_ROWS_PER_INSERT = 1000;

/** What the PG store has that the SQLite one says differently. */
export interface PgStoreExtras {
  /**
   * The boot-event batch writer: the events (multi-row INSERTs) and the
   * last-seen times and reported facts of the hosts they name, in one
   * transaction. Takes the place of writeEventBatch / the event writer
   * thread's sink (src/boot/event-sink.ts).
   */
  writeEvents(events: NewBootEvent[], seen: Map<string, SeenHost>): Promise<void>;
}

/** SQLite specifics the PG store leaves out: the SQLite handle, and the synchronous batch writer (writeEvents instead). */
export type StoreSqliteOnly = 'db' | 'writeEventBatch';

export type PgStore = ReturnType<typeof createPgStore>;

export function createPgStore(db: PgDb, now: () => number = Date.now) {
  const tx = <T>(fn: (q: Tx) => Promise<T>): Promise<T> => db.transaction(fn);

  async function hostRow(q: Q, mac: string, lock = false): Promise<Host | undefined> {
    const query = q.select().from(hosts).where(eq(hosts.mac, mac));
    const [h] = lock ? await query.for('update') : await query;
    return h;
  }

  async function profileNamed(q: Q, name: string): Promise<Profile | undefined> {
    const [p] = await q.select().from(profiles).where(eq(profiles.name, name));
    return p;
  }

  /**
   * The id of the profile a host is about to refer to. FOR KEY SHARE keeps it
   * from being deleted until this transaction ends: a concurrent
   * deleteProfile waits, then counts this host and refuses.
   */
  async function profileIdFor(q: Tx, name: string | null | undefined): Promise<{ id: number; name: string } | null> {
    if (name === null || name === undefined || name === '') return null;
    const [p] = await q.select({ id: profiles.id, name: profiles.name }).from(profiles).where(eq(profiles.name, name)).for('key share');
    if (!p) throw new NotFoundError(`profile "${name}" does not exist`);
    return p;
  }

  /*
   * The boot path's reads (every /ipxe asks for its host and profile, maybe a
   * profile by name or id) as named prepared statements: built once, and
   * parsed and planned once per pooled connection instead of per request.
   */
  const hostAndProfileStmt = db
    .select({ host: hosts, profile: profiles })
    .from(hosts)
    .leftJoin(profiles, eq(profiles.id, hosts.profileId))
    .where(eq(hosts.mac, sql.placeholder('mac')))
    .prepare('chainboot_host_and_profile');
  const profileByNameStmt = db.select().from(profiles).where(eq(profiles.name, sql.placeholder('name'))).prepare('chainboot_profile_by_name');
  const profileByIdStmt = db.select().from(profiles).where(eq(profiles.id, sql.placeholder('id'))).prepare('chainboot_profile_by_id');

  const withProfileName = { host: hosts, profile: profiles.name };
  function view(r: { host: Host; profile: string | null }): HostView {
    return { ...r.host, profile: r.profile, secrets: maskSecrets(r.host.secrets) };
  }
  async function viewById(q: Q, id: number): Promise<HostView> {
    const [r] = await q.select(withProfileName).from(hosts).leftJoin(profiles, eq(profiles.id, hosts.profileId)).where(eq(hosts.id, id));
    return view(r!);
  }

  async function createHostIn(q: Tx, input: HostInput): Promise<HostView> {
    if (await hostRow(q, input.mac)) throw new ConflictError(`host ${input.mac} already exists`);
    const profile = await profileIdFor(q, input.profile);
    const t = now();
    let row: Host | undefined;
    try {
      [row] = await q
        .insert(hosts)
        .values({
          mac: input.mac,
          hostname: input.hostname ?? null,
          profileId: profile?.id ?? null,
          variables: input.variables ?? {},
          notes: input.notes ?? '',
          dhcpMode: input.dhcpMode ?? 'follow',
          labels: input.labels ?? [],
          secrets: input.secrets ?? {},
          menuMode: input.menuMode ?? 'never',
          menuTimeout: input.menuTimeout ?? 5,
          menuProfiles: input.menuProfiles ?? [],
          createdAt: t,
          updatedAt: t,
        })
        .returning();
    } catch (e) {
      // Another node registered the MAC between the check and the insert.
      if (pgCode(e) === UNIQUE_VIOLATION) throw new ConflictError(`host ${input.mac} already exists`);
      throw e;
    }
    return view({ host: row!, profile: profile?.name ?? null });
  }

  async function updateHostIn(q: Tx, mac: string, patch: Omit<Partial<HostInput>, 'mac'>): Promise<HostView> {
    // FOR UPDATE: a concurrent change on another node waits for this one, then sees its version.
    const existing = await hostRow(q, mac, true);
    if (!existing) throw new NotFoundError(`host ${mac} does not exist`);
    if (patch.expectVersion !== undefined && patch.expectVersion !== existing.version) {
      throw new ConflictError(`host ${mac} was changed meanwhile (now version ${existing.version}, you had ${patch.expectVersion}): reload and apply your change again`);
    }
    const set: Partial<typeof hosts.$inferInsert> = { updatedAt: now(), discovered: false, version: existing.version + 1 };
    if (patch.hostname !== undefined) set.hostname = patch.hostname;
    if (patch.profile !== undefined) set.profileId = (await profileIdFor(q, patch.profile))?.id ?? null;
    if (patch.variables !== undefined) set.variables = patch.variables;
    if (patch.notes !== undefined) set.notes = patch.notes;
    if (patch.dhcpMode !== undefined) set.dhcpMode = patch.dhcpMode;
    if (patch.labels !== undefined) set.labels = patch.labels;
    if (patch.secrets !== undefined) set.secrets = patch.secrets;
    if (patch.menuMode !== undefined) set.menuMode = patch.menuMode;
    if (patch.menuTimeout !== undefined) set.menuTimeout = patch.menuTimeout;
    if (patch.menuProfiles !== undefined) set.menuProfiles = patch.menuProfiles;
    const [row] = await q
      .update(hosts)
      .set(set)
      .where(and(eq(hosts.id, existing.id), eq(hosts.version, existing.version)))
      .returning({ id: hosts.id });
    if (!row) throw new ConflictError(`host ${mac} was changed meanwhile: reload and apply your change again`);
    return viewById(q, row.id);
  }

  async function latestTemplateIn(q: Q, name: string): Promise<TemplateVersion | undefined> {
    const [t] = await q.select().from(templates).where(eq(templates.name, name)).orderBy(desc(templates.version)).limit(1);
    return t;
  }

  const store = {
    // ---- profiles -------------------------------------------------------
    async listProfiles(): Promise<Profile[]> {
      return db.select().from(profiles).orderBy(bytewise(profiles.name));
    },
    async getProfile(name: string): Promise<Profile | undefined> {
      const [p] = await profileByNameStmt.execute({ name });
      return p;
    },
    async getProfileById(id: number): Promise<Profile | undefined> {
      const [p] = await profileByIdStmt.execute({ id });
      return p;
    },
    async createProfile(input: ProfileInput): Promise<Profile> {
      if (await profileNamed(db, input.name)) throw new ConflictError(`profile "${input.name}" already exists`);
      const t = now();
      try {
        const [row] = await db
          .insert(profiles)
          .values({ ...profileRow(input), createdAt: t, updatedAt: t })
          .returning();
        return row!;
      } catch (e) {
        if (pgCode(e) === UNIQUE_VIOLATION) throw new ConflictError(`profile "${input.name}" already exists`);
        throw e;
      }
    },
    /** Replaces a profile's definition (renaming it when input.name differs). */
    async replaceProfile(name: string, input: ProfileInput): Promise<Profile> {
      return tx(async (q) => {
        const [existing] = await q.select().from(profiles).where(eq(profiles.name, name)).for('update');
        if (!existing) throw new NotFoundError(`profile "${name}" does not exist`);
        if (input.name !== name && (await profileNamed(q, input.name))) throw new ConflictError(`profile "${input.name}" already exists`);
        try {
          const [row] = await q
            .update(profiles)
            .set({ ...profileRow(input), updatedAt: now() })
            .where(eq(profiles.id, existing.id))
            .returning();
          return row!;
        } catch (e) {
          if (pgCode(e) === UNIQUE_VIOLATION) throw new ConflictError(`profile "${input.name}" already exists`);
          throw e;
        }
      });
    },
    async deleteProfile(name: string): Promise<void> {
      await tx(async (q) => {
        // FOR UPDATE waits for transactions that are adding a reference to it (hosts, sites), so the counts below include them.
        const [existing] = await q.select().from(profiles).where(eq(profiles.name, name)).for('update');
        if (!existing) throw new NotFoundError(`profile "${name}" does not exist`);
        const [{ n: used } = { n: 0 }] = await q.select({ n: count() }).from(hosts).where(eq(hosts.profileId, existing.id));
        if (used > 0) throw new ConflictError(`profile "${name}" is used by ${used} host(s); move them to another profile first`);
        const menus = (await q.select().from(profiles).where(eq(profiles.kind, 'menu')).orderBy(asc(profiles.id))).filter((m) =>
          ((m.options.entries as string[] | undefined) ?? []).includes(name),
        );
        if (menus.length) throw new ConflictError(`profile "${name}" is an entry of menu(s) ${menus.map((m) => m.name).join(', ')}`);
        const atSites = await q.select({ name: sites.name }).from(sites).where(eq(sites.defaultProfile, name)).orderBy(asc(sites.id));
        if (atSites.length) throw new ConflictError(`profile "${name}" is the default profile of site(s) ${atSites.map((x) => x.name).join(', ')}`);
        // tasks.profile_id is ON DELETE RESTRICT: a profile any task (even a finished one) names stays.
        const [{ n: inTasks } = { n: 0 }] = await q.select({ n: count() }).from(tasks).where(eq(tasks.profileId, existing.id));
        if (inTasks > 0) throw new ConflictError(`profile "${name}" is the profile of ${inTasks} task(s) (their history refers to it)`);
        await q.delete(profiles).where(eq(profiles.id, existing.id));
      });
    },

    // ---- hosts ----------------------------------------------------------
    async getHost(mac: string): Promise<HostView | undefined> {
      const [r] = await db.select(withProfileName).from(hosts).leftJoin(profiles, eq(profiles.id, hosts.profileId)).where(eq(hosts.mac, mac));
      return r && view(r);
    },
    /** The stored host row, secrets included (for internal merges; never sent out). */
    async getHostRow(mac: string): Promise<Host | undefined> {
      return hostRow(db, mac);
    },
    /** Host ids for MACs (all must exist) or for a label. */
    async hostIdsFor(sel: { macs?: string[]; label?: string }): Promise<{ ids: number[]; missing: string[] }> {
      if (sel.label !== undefined) {
        // Each host once, however often its labels name the label (jsonb equality: the string, not a number spelled alike).
        const rows = await db
          .selectDistinct({ id: hosts.id })
          .from(hosts)
          .innerJoin(sql`jsonb_array_elements(${hosts.labels}) as label(value)`, sql`label.value = to_jsonb(${sel.label}::text)`)
          .orderBy(asc(hosts.id));
        return { ids: rows.map((r) => r.id), missing: [] };
      }
      const macs = sel.macs ?? [];
      const found = new Map<string, number>();
      if (macs.length) for (const r of await db.select({ id: hosts.id, mac: hosts.mac }).from(hosts).where(anyOf(hosts.mac, macs, 'text'))) found.set(r.mac, r.id);
      const ids: number[] = [];
      const missing: string[] = [];
      for (const mac of macs) {
        const id = found.get(mac);
        if (id !== undefined) ids.push(id);
        else missing.push(mac);
      }
      return { ids: [...new Set(ids)], missing };
    },
    /** The boot hot path: host and its profile, in one query. */
    async hostAndProfile(mac: string): Promise<{ host: Host | undefined; profile: Profile | undefined }> {
      const [r] = await hostAndProfileStmt.execute({ mac });
      return { host: r?.host, profile: r?.profile ?? undefined };
    },
    async listHosts(opts: { q?: string; limit?: number; offset?: number } = {}): Promise<{ total: number; hosts: HostView[] }> {
      const where = opts.q
        ? or(sqliteLike(hosts.mac, `%${opts.q.toLowerCase()}%`), sqliteLike(hosts.hostname, `%${opts.q}%`), sqliteLike(hosts.notes, `%${opts.q}%`))
        : undefined;
      // Count and page from one snapshot (READ COMMITTED would give each statement its own).
      return db.transaction(async (q) => {
        const [{ n: total } = { n: 0 }] = await q.select({ n: count() }).from(hosts).where(where);
        const rows = await q
          .select(withProfileName)
          .from(hosts)
          .leftJoin(profiles, eq(profiles.id, hosts.profileId))
          .where(where)
          .orderBy(bytewise(hosts.mac))
          .limit(opts.limit ?? 100)
          .offset(opts.offset ?? 0);
        return { total, hosts: rows.map(view) };
      }, SNAPSHOT);
    },
    async createHost(input: HostInput): Promise<HostView> {
      return tx((q) => createHostIn(q, input));
    },
    /** Applies only the fields given; a discovered host becomes a managed one. */
    async updateHost(mac: string, patch: Omit<Partial<HostInput>, 'mac'>): Promise<HostView> {
      return tx((q) => updateHostIn(q, mac, patch));
    },
    async deleteHost(mac: string): Promise<void> {
      const gone = await db.delete(hosts).where(eq(hosts.mac, mac)).returning({ id: hosts.id });
      if (gone.length === 0) throw new NotFoundError(`host ${mac} does not exist`);
    },
    /** Registers a MAC seen for the first time; returns the existing row if another request (or node) won the race. */
    async discoverHost(mac: string, facts: Record<string, string>): Promise<Host> {
      // Look first: an INSERT … ON CONFLICT DO NOTHING takes an identity value even when it inserts nothing.
      const known = await hostRow(db, mac);
      if (known) return known;
      const t = now();
      const [row] = await db.insert(hosts).values({ mac, discovered: true, facts, firstSeen: t, lastSeen: t, createdAt: t, updatedAt: t }).onConflictDoNothing().returning();
      return row ?? (await hostRow(db, mac))!;
    },
    async writeEvents(events: NewBootEvent[], seen: Map<string, SeenHost>): Promise<void> {
      if (events.length === 0 && seen.size === 0) return;
      await tx(async (q) => {
        for (let i = 0; i < events.length; i += EVENT_ROWS_PER_INSERT) {
          await q.insert(bootEvents).values(
            events.slice(i, i + EVENT_ROWS_PER_INSERT).map((e) => ({
              at: e.at,
              mac: e.mac ?? null,
              clientIp: e.clientIp ?? null,
              kind: e.kind,
              request: e.request,
              result: e.result,
              status: e.status ?? 200,
              detail: e.detail ? e.detail : null,
            })),
          );
        }
        if (seen.size === 0) return;
        const macs = [...seen.keys()];
        // Rows locked in id order first: two nodes' writers updating the same hosts then queue instead of deadlocking.
        await q.select({ id: hosts.id }).from(hosts).where(anyOf(hosts.mac, macs, 'text')).orderBy(asc(hosts.id)).for('no key update');
        const at = macs.map((m) => seen.get(m)!.at);
        const first = macs.map((m) => seen.get(m)!.first);
        const facts = macs.map((m) => {
          const f = seen.get(m)!.facts;
          return f && Object.keys(f).length ? JSON.stringify(f) : null;
        });
        // Batches from two nodes may commit out of time order: last_seen never goes back, first_seen never forward,
        // and facts are taken only from a batch at least as recent as what is stored. One writer in time order gets
        // exactly the SQLite store's result (last_seen = at, first_seen kept, facts replaced when reported).
        await q.execute(sql`
          update hosts as h set
            last_seen = greatest(h.last_seen, v.at),
            first_seen = least(h.first_seen, v.first),
            facts = case when v.facts is not null and (h.last_seen is null or v.at >= h.last_seen) then v.facts::jsonb else h.facts end
          from unnest(${sql.param(macs)}::text[], ${sql.param(at)}::bigint[], ${sql.param(first)}::bigint[], ${sql.param(facts)}::text[]) as v(mac, at, first, facts)
          where h.mac = v.mac`);
      });
    },

    /** All-or-nothing: either every line is applied or none (the caller validated the lines). */
    async importHosts(lines: ImportLine[]): Promise<{ added: number; updated: number }> {
      // The first line naming a missing profile fails the import, as it would mid-way: checked before anything is
      // written so no identity values are used up by a rolled-back import.
      const named = [...new Set(lines.map((l) => l.profile).filter((p) => p !== ''))];
      const have = new Set(named.length ? (await db.select({ name: profiles.name }).from(profiles).where(anyOf(profiles.name, named, 'text'))).map((p) => p.name) : []);
      for (const l of lines) if (l.profile !== '' && !have.has(l.profile)) throw new NotFoundError(`profile "${l.profile}" does not exist`);
      return tx(async (q) => {
        // The existing hosts are locked up front in id order, as the event writer and task assignment lock them:
        // locking them in line order could deadlock with a concurrent batch on another node.
        const macs = [...new Set(lines.map((l) => l.mac))];
        if (macs.length) await q.select({ id: hosts.id }).from(hosts).where(anyOf(hosts.mac, macs, 'text')).orderBy(asc(hosts.id)).for('update');
        let added = 0;
        let updated = 0;
        for (const l of lines) {
          if (await hostRow(q, l.mac)) {
            await updateHostIn(q, l.mac, { profile: l.profile, ...(l.hostname ? { hostname: l.hostname } : {}) });
            updated++;
          } else {
            await createHostIn(q, { mac: l.mac, profile: l.profile, hostname: l.hostname ?? null });
            added++;
          }
        }
        return { added, updated };
      });
    },

    // ---- templates ------------------------------------------------------
    async latestTemplate(name: string): Promise<TemplateVersion | undefined> {
      return latestTemplateIn(db, name);
    },
    /** Names that have admin-saved versions, with the newest version number. */
    async savedTemplateNames(): Promise<{ name: string; version: number; updatedAt: number }[]> {
      const rows = await db
        .select({ name: templates.name, version: max(templates.version), updatedAt: max(templates.createdAt) })
        .from(templates)
        .groupBy(templates.name)
        .orderBy(bytewise(templates.name));
      return rows.map((r) => ({ name: r.name, version: r.version ?? 0, updatedAt: r.updatedAt ?? 0 }));
    },
    async templateVersions(name: string): Promise<Omit<TemplateVersion, 'body'>[]> {
      return db
        .select({ id: templates.id, name: templates.name, version: templates.version, comment: templates.comment, createdAt: templates.createdAt })
        .from(templates)
        .where(eq(templates.name, name))
        .orderBy(desc(templates.version));
    },
    async templateVersion(name: string, version: number): Promise<TemplateVersion | undefined> {
      const [t] = await db.select().from(templates).where(and(eq(templates.name, name), eq(templates.version, version)));
      return t;
    },
    /** Every save is a new version; nothing is overwritten. */
    async saveTemplate(name: string, body: string, comment = ''): Promise<TemplateVersion> {
      return tx(async (q) => {
        // Two nodes saving the same template at once: one waits, then takes the next number.
        await q.execute(sql`select pg_advisory_xact_lock(${LOCK_TEMPLATE_NAME}::int, hashtext(${name}::text))`);
        const last = await latestTemplateIn(q, name);
        const [row] = await q
          .insert(templates)
          .values({ name, version: (last?.version ?? 0) + 1, body, comment, createdAt: now() })
          .returning();
        return row!;
      });
    },

    // ---- boot events ----------------------------------------------------
    async listEvents(opts: { mac?: string; before?: number; limit?: number; kinds?: string[] } = {}) {
      const conds = [];
      if (opts.mac) conds.push(eq(bootEvents.mac, opts.mac));
      if (opts.before) conds.push(lt(bootEvents.id, opts.before));
      if (opts.kinds?.length) conds.push(inArray(bootEvents.kind, opts.kinds));
      return db
        .select()
        .from(bootEvents)
        .where(conds.length ? and(...conds) : undefined)
        .orderBy(desc(bootEvents.id))
        .limit(Math.min(opts.limit ?? 100, 1000));
    },

    // ---- settings -------------------------------------------------------
    async getSetting(key: string): Promise<string | undefined> {
      const [s] = await db.select().from(settings).where(eq(settings.key, key));
      return s?.value;
    },
    async setSetting(key: string, value: string): Promise<void> {
      await db.insert(settings).values({ key, value }).onConflictDoUpdate({ target: settings.key, set: { value } });
    },
  } satisfies Async<Omit<Store, StoreSqliteOnly>> & PgStoreExtras;
  return store;
}
