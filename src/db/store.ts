/**
 * All queries, over a db handed in. No module-level connection: tests open
 * ':memory:' with the real migrations and pass it here.
 */
import { and, asc, desc, eq, like, lt, or, sql, count, max, inArray } from 'drizzle-orm';
import type { Db } from './client.js';
import { bootEvents, hosts, profiles, settings, sites, tasks, templates, type Host, type NewBootEvent, type Profile, type SecretValue, type TemplateVersion } from './schema.js';
import { ConflictError, NotFoundError } from '../errors.js';
import { profileRow, type ProfileInput } from '../boot/profile.js';
import { writeTx } from './client.js';

export interface HostInput {
  mac: string;
  hostname?: string | null;
  profile?: string | null;
  variables?: Record<string, string>;
  notes?: string;
  dhcpMode?: 'follow' | 'loader' | 'ignore';
  labels?: string[];
  secrets?: Record<string, SecretValue>;
  menuMode?: 'never' | 'always' | 'key';
  menuTimeout?: number;
  menuProfiles?: string[];
  /** Refuse the change unless the host is still at this version (optimistic concurrency). */
  expectVersion?: number;
}

/** A host as the API shows it: profile by name, secrets by name only. */
export interface HostView extends Omit<Host, 'secrets'> {
  profile: string | null;
  secrets: Record<string, { set: true; always: boolean }>;
}

export function maskSecrets(secrets: Record<string, SecretValue>): Record<string, { set: true; always: boolean }> {
  return Object.fromEntries(Object.entries(secrets).map(([k, v]) => [k, { set: true as const, always: !!v.always }]));
}

export interface ImportLine {
  line: number;
  mac: string;
  profile: string;
  hostname?: string;
}

export type Store = ReturnType<typeof createStore>;

/** A host that booted during one event batch: its first and last time in the batch, and what it reported. */
export interface SeenHost {
  first: number;
  at: number;
  facts?: Record<string, string>;
}

export function createStore(db: Db, now: () => number = Date.now) {
  const hostByMac = db
    .select()
    .from(hosts)
    .where(eq(hosts.mac, sql.placeholder('mac')))
    .prepare();
  const profileById = db
    .select()
    .from(profiles)
    .where(eq(profiles.id, sql.placeholder('id')))
    .prepare();
  const profileByName = db
    .select()
    .from(profiles)
    .where(eq(profiles.name, sql.placeholder('name')))
    .prepare();
  const latestTemplateStmt = db
    .select()
    .from(templates)
    .where(eq(templates.name, sql.placeholder('name')))
    .orderBy(desc(templates.version))
    .limit(1)
    .prepare();

  /*
   * Profiles and templates are read on every boot and change rarely: they are
   * cached, and the cache is dropped when this process writes them or when
   * SQLite's data_version says another connection (the CLI, say) committed.
   */
  const dataVersion = db.$client.prepare('PRAGMA data_version').pluck();
  let cacheKey = -1;
  let ownWrites = 0;
  const profileCacheById = new Map<number, Profile | undefined>();
  const profileCacheByName = new Map<string, Profile | undefined>();
  const templateCache = new Map<string, TemplateVersion | undefined>();
  function freshCache(): void {
    const key = (dataVersion.get() as number) * 1_000_000 + ownWrites;
    if (key !== cacheKey) {
      profileCacheById.clear();
      profileCacheByName.clear();
      templateCache.clear();
      cacheKey = key;
    }
  }
  const wrote = () => {
    ownWrites++;
  };
  function cachedProfileById(id: number): Profile | undefined {
    freshCache();
    if (profileCacheById.has(id)) return profileCacheById.get(id);
    const p = profileById.get({ id });
    profileCacheById.set(id, p);
    return p;
  }
  function cachedProfileByName(name: string): Profile | undefined {
    freshCache();
    if (profileCacheByName.has(name)) return profileCacheByName.get(name);
    const p = profileByName.get({ name });
    if (profileCacheByName.size < 10_000) profileCacheByName.set(name, p);
    return p;
  }

  // The boot hot path and the event batch writer use plain prepared statements:
  // drizzle's per-call query building costs more than the query itself here.
  const rawHostByMac = db.$client.prepare('SELECT * FROM hosts WHERE mac = ?');
  const rawInsertEvent = db.$client.prepare(
    'INSERT INTO boot_events (at, mac, client_ip, kind, request, result, status, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
  );
  const rawMarkSeen = db.$client.prepare(
    'UPDATE hosts SET last_seen = ?, first_seen = coalesce(first_seen, ?), facts = coalesce(?, facts) WHERE mac = ?',
  );
  const writeBatch = db.$client.transaction((events: NewBootEvent[], seen: Map<string, SeenHost>) => {
    for (const e of events) {
      rawInsertEvent.run(e.at, e.mac ?? null, e.clientIp ?? null, e.kind, e.request, e.result, e.status ?? 200, e.detail ? JSON.stringify(e.detail) : null);
    }
    for (const [mac, v] of seen) {
      rawMarkSeen.run(v.at, v.first, v.facts && Object.keys(v.facts).length ? JSON.stringify(v.facts) : null, mac);
    }
  });

  function hostFromRow(r: Record<string, unknown> | undefined): Host | undefined {
    if (!r) return undefined;
    return {
      id: r.id as number,
      mac: r.mac as string,
      hostname: (r.hostname as string | null) ?? null,
      profileId: (r.profile_id as number | null) ?? null,
      variables: JSON.parse(r.variables as string) as Record<string, string>,
      notes: r.notes as string,
      dhcpMode: r.dhcp_mode as Host['dhcpMode'],
      labels: JSON.parse(r.labels as string) as string[],
      secrets: JSON.parse(r.secrets as string) as Record<string, SecretValue>,
      menuMode: r.menu_mode as Host['menuMode'],
      menuTimeout: r.menu_timeout as number,
      menuProfiles: JSON.parse(r.menu_profiles as string) as string[],
      version: r.version as number,
      discovered: r.discovered === 1,
      facts: JSON.parse(r.facts as string) as Record<string, string>,
      firstSeen: (r.first_seen as number | null) ?? null,
      lastSeen: (r.last_seen as number | null) ?? null,
      createdAt: r.created_at as number,
      updatedAt: r.updated_at as number,
    };
  }

  function profileIdFor(name: string | null | undefined): number | null {
    if (name === null || name === undefined || name === '') return null;
    const p = profileByName.get({ name });
    if (!p) throw new NotFoundError(`profile "${name}" does not exist`);
    return p.id;
  }

  function view(h: Host): HostView {
    const p = h.profileId === null ? undefined : cachedProfileById(h.profileId);
    return { ...h, profile: p?.name ?? null, secrets: maskSecrets(h.secrets) };
  }

  const store = {
    db,

    // ---- profiles -------------------------------------------------------
    listProfiles(): Profile[] {
      return db.select().from(profiles).orderBy(asc(profiles.name)).all();
    },
    getProfile(name: string): Profile | undefined {
      return cachedProfileByName(name);
    },
    getProfileById(id: number): Profile | undefined {
      return cachedProfileById(id);
    },
    createProfile(input: ProfileInput): Profile {
      if (profileByName.get({ name: input.name })) throw new ConflictError(`profile "${input.name}" already exists`);
      const t = now();
      wrote();
      return db.insert(profiles).values({ ...profileRow(input), createdAt: t, updatedAt: t }).returning().get();
    },
    /** Replaces a profile's definition (renaming it when input.name differs). */
    replaceProfile(name: string, input: ProfileInput): Profile {
      const existing = profileByName.get({ name });
      if (!existing) throw new NotFoundError(`profile "${name}" does not exist`);
      if (input.name !== name && profileByName.get({ name: input.name })) throw new ConflictError(`profile "${input.name}" already exists`);
      wrote();
      return db.update(profiles).set({ ...profileRow(input), updatedAt: now() }).where(eq(profiles.id, existing.id)).returning().get();
    },
    deleteProfile(name: string): void {
      const existing = profileByName.get({ name });
      if (!existing) throw new NotFoundError(`profile "${name}" does not exist`);
      const used = db.select({ n: count() }).from(hosts).where(eq(hosts.profileId, existing.id)).get()!.n;
      if (used > 0) throw new ConflictError(`profile "${name}" is used by ${used} host(s); move them to another profile first`);
      const inTasks = db.select({ n: count() }).from(tasks).where(eq(tasks.profileId, existing.id)).get()!.n;
      if (inTasks > 0) throw new ConflictError(`profile "${name}" is the profile of ${inTasks} task(s) (their history refers to it)`);
      const menus = db
        .select()
        .from(profiles)
        .where(eq(profiles.kind, 'menu'))
        .all()
        .filter((m) => ((m.options.entries as string[] | undefined) ?? []).includes(name));
      if (menus.length) throw new ConflictError(`profile "${name}" is an entry of menu(s) ${menus.map((m) => m.name).join(', ')}`);
      const atSites = db.select({ name: sites.name }).from(sites).where(eq(sites.defaultProfile, name)).all();
      if (atSites.length) throw new ConflictError(`profile "${name}" is the default profile of site(s) ${atSites.map((x) => x.name).join(', ')}`);
      wrote();
      db.delete(profiles).where(eq(profiles.id, existing.id)).run();
    },

    // ---- hosts ----------------------------------------------------------
    getHost(mac: string): HostView | undefined {
      const h = hostByMac.get({ mac });
      return h && view(h);
    },
    /** The stored host row, secrets included (for internal merges; never sent out). */
    getHostRow(mac: string): Host | undefined {
      return hostFromRow(rawHostByMac.get(mac) as Record<string, unknown> | undefined);
    },
    /** Host ids for MACs (all must exist) or for a label. */
    hostIdsFor(sel: { macs?: string[]; label?: string }): { ids: number[]; missing: string[] } {
      if (sel.label !== undefined) {
        const rows = db.$client.prepare('SELECT DISTINCT hosts.id FROM hosts, json_each(hosts.labels) WHERE json_each.value = ? ORDER BY hosts.id').pluck().all(sel.label) as number[];
        return { ids: rows, missing: [] };
      }
      const ids: number[] = [];
      const missing: string[] = [];
      for (const mac of sel.macs ?? []) {
        const h = hostByMac.get({ mac });
        if (h) ids.push(h.id);
        else missing.push(mac);
      }
      return { ids: [...new Set(ids)], missing };
    },
    /** The boot hot path: host and its profile, with no extra mapping. */
    hostAndProfile(mac: string): { host: Host | undefined; profile: Profile | undefined } {
      const host = hostFromRow(rawHostByMac.get(mac) as Record<string, unknown> | undefined);
      const profile = host && host.profileId !== null ? cachedProfileById(host.profileId) : undefined;
      return { host, profile };
    },
    listHosts(opts: { q?: string; limit?: number; offset?: number } = {}): { total: number; hosts: HostView[] } {
      const where = opts.q
        ? or(like(hosts.mac, `%${opts.q.toLowerCase()}%`), like(hosts.hostname, `%${opts.q}%`), like(hosts.notes, `%${opts.q}%`))
        : undefined;
      const total = db.select({ n: count() }).from(hosts).where(where).get()!.n;
      const rows = db
        .select()
        .from(hosts)
        .where(where)
        .orderBy(asc(hosts.mac))
        .limit(opts.limit ?? 100)
        .offset(opts.offset ?? 0)
        .all();
      return { total, hosts: rows.map(view) };
    },
    createHost(input: HostInput): HostView {
      if (hostByMac.get({ mac: input.mac })) throw new ConflictError(`host ${input.mac} already exists`);
      const t = now();
      const row = db
        .insert(hosts)
        .values({
          mac: input.mac,
          hostname: input.hostname ?? null,
          profileId: profileIdFor(input.profile),
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
        .returning()
        .get();
      return view(row);
    },
    /** Applies only the fields given; a discovered host becomes a managed one. */
    updateHost(mac: string, patch: Omit<Partial<HostInput>, 'mac'>): HostView {
      const existing = hostByMac.get({ mac });
      if (!existing) throw new NotFoundError(`host ${mac} does not exist`);
      if (patch.expectVersion !== undefined && patch.expectVersion !== existing.version) {
        throw new ConflictError(`host ${mac} was changed meanwhile (now version ${existing.version}, you had ${patch.expectVersion}): reload and apply your change again`);
      }
      const set: Partial<typeof hosts.$inferInsert> = { updatedAt: now(), discovered: false, version: existing.version + 1 };
      if (patch.hostname !== undefined) set.hostname = patch.hostname;
      if (patch.profile !== undefined) set.profileId = profileIdFor(patch.profile);
      if (patch.variables !== undefined) set.variables = patch.variables;
      if (patch.notes !== undefined) set.notes = patch.notes;
      if (patch.dhcpMode !== undefined) set.dhcpMode = patch.dhcpMode;
      if (patch.labels !== undefined) set.labels = patch.labels;
      if (patch.secrets !== undefined) set.secrets = patch.secrets;
      if (patch.menuMode !== undefined) set.menuMode = patch.menuMode;
      if (patch.menuTimeout !== undefined) set.menuTimeout = patch.menuTimeout;
      if (patch.menuProfiles !== undefined) set.menuProfiles = patch.menuProfiles;
      // The version in the WHERE clause closes the gap between the read above and this write.
      const row = db
        .update(hosts)
        .set(set)
        .where(and(eq(hosts.id, existing.id), eq(hosts.version, existing.version)))
        .returning()
        .get();
      if (!row) throw new ConflictError(`host ${mac} was changed meanwhile: reload and apply your change again`);
      return view(row);
    },
    deleteHost(mac: string): void {
      const r = db.delete(hosts).where(eq(hosts.mac, mac)).run();
      if (r.changes === 0) throw new NotFoundError(`host ${mac} does not exist`);
    },
    /** Registers a MAC seen for the first time; returns the existing row if another request won the race. */
    discoverHost(mac: string, facts: Record<string, string>): Host {
      const t = now();
      db.insert(hosts)
        .values({ mac, discovered: true, facts, firstSeen: t, lastSeen: t, createdAt: t, updatedAt: t })
        .onConflictDoNothing()
        .run();
      return hostByMac.get({ mac })!;
    },
    /** Batched by the event log: events and the last-seen times (and reported facts) of the hosts they name, in one transaction. */
    writeEventBatch(events: NewBootEvent[], seen: Map<string, SeenHost>): void {
      if (events.length === 0 && seen.size === 0) return;
      writeBatch.immediate(events, seen);
    },

    /** All-or-nothing: either every line is applied or none (the caller validated the lines). */
    importHosts(lines: ImportLine[]): { added: number; updated: number } {
      return writeTx(db, () => {
        let added = 0;
        let updated = 0;
        for (const l of lines) {
          if (hostByMac.get({ mac: l.mac })) {
            store.updateHost(l.mac, { profile: l.profile, ...(l.hostname ? { hostname: l.hostname } : {}) });
            updated++;
          } else {
            store.createHost({ mac: l.mac, profile: l.profile, hostname: l.hostname ?? null });
            added++;
          }
        }
        return { added, updated };
      });
    },

    // ---- templates ------------------------------------------------------
    latestTemplate(name: string): TemplateVersion | undefined {
      freshCache();
      if (templateCache.has(name)) return templateCache.get(name);
      const t = latestTemplateStmt.get({ name });
      if (templateCache.size < 10_000) templateCache.set(name, t);
      return t;
    },
    /** Names that have admin-saved versions, with the newest version number. */
    savedTemplateNames(): { name: string; version: number; updatedAt: number }[] {
      return db
        .select({ name: templates.name, version: max(templates.version), updatedAt: max(templates.createdAt) })
        .from(templates)
        .groupBy(templates.name)
        .orderBy(asc(templates.name))
        .all()
        .map((r) => ({ name: r.name, version: r.version ?? 0, updatedAt: r.updatedAt ?? 0 }));
    },
    templateVersions(name: string): Omit<TemplateVersion, 'body'>[] {
      return db
        .select({ id: templates.id, name: templates.name, version: templates.version, comment: templates.comment, createdAt: templates.createdAt })
        .from(templates)
        .where(eq(templates.name, name))
        .orderBy(desc(templates.version))
        .all();
    },
    templateVersion(name: string, version: number): TemplateVersion | undefined {
      return db.select().from(templates).where(and(eq(templates.name, name), eq(templates.version, version))).get();
    },
    /** Every save is a new version; nothing is overwritten. */
    saveTemplate(name: string, body: string, comment = ''): TemplateVersion {
      wrote();
      return writeTx(db, () => {
        const last = latestTemplateStmt.get({ name });
        return db
          .insert(templates)
          .values({ name, version: (last?.version ?? 0) + 1, body, comment, createdAt: now() })
          .returning()
          .get();
      });
    },

    // ---- boot events ----------------------------------------------------
    listEvents(opts: { mac?: string; before?: number; limit?: number; kinds?: string[] } = {}) {
      const conds = [];
      if (opts.mac) conds.push(eq(bootEvents.mac, opts.mac));
      if (opts.before) conds.push(lt(bootEvents.id, opts.before));
      if (opts.kinds?.length) conds.push(inArray(bootEvents.kind, opts.kinds));
      return db
        .select()
        .from(bootEvents)
        .where(conds.length ? and(...conds) : undefined)
        .orderBy(desc(bootEvents.id))
        .limit(Math.min(opts.limit ?? 100, 1000))
        .all();
    },

    // ---- settings -------------------------------------------------------
    getSetting(key: string): string | undefined {
      return db.select().from(settings).where(eq(settings.key, key)).get()?.value;
    },
    setSetting(key: string, value: string): void {
      db.insert(settings).values({ key, value }).onConflictDoUpdate({ target: settings.key, set: { value } }).run();
    },
  };
  return store;
}
