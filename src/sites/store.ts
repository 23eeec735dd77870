/**
 * Sites in the database, and a cached view of them for the request paths.
 * Every write checks the whole definition (and that no other site claims the
 * same relay or subnet) before anything is written.
 */
import { asc, eq } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { writeTx } from '../db/client.js';
import { profiles, sites, type Site } from '../db/schema.js';
import { ConflictError, InvalidInputError, NotFoundError } from '../errors.js';
import { LOCAL_DEFAULT, siteConflicts, siteMatcher, type SiteHints, type SiteInput, type SiteMatch } from './model.js';

export type SiteStore = ReturnType<typeof createSiteStore>;

export function createSiteStore(db: Db, now: () => number = Date.now) {
  const byName = (name: string) => db.select().from(sites).where(eq(sites.name, name)).get();

  function checkRefs(s: SiteInput, others: Site[]): void {
    const problems = siteConflicts(s, others);
    if (s.defaultProfile && s.defaultProfile !== LOCAL_DEFAULT) {
      const p = db.select({ id: profiles.id }).from(profiles).where(eq(profiles.name, s.defaultProfile)).get();
      if (!p) problems.push(`defaultProfile: profile "${s.defaultProfile}" does not exist`);
    }
    if (problems.length) throw new InvalidInputError(`site ${s.name}: ${problems.join('; ')}`);
  }

  return {
    list(): Site[] {
      return db.select().from(sites).orderBy(asc(sites.name)).all();
    },
    get(name: string): Site | undefined {
      return byName(name);
    },
    create(s: SiteInput): Site {
      return writeTx(db, () => {
        if (byName(s.name)) throw new ConflictError(`site "${s.name}" already exists`);
        checkRefs(s, this.list());
        const t = now();
        return db
          .insert(sites)
          .values({ ...s, createdAt: t, updatedAt: t })
          .returning()
          .get();
      });
    },
    /** Replaces the definition; a rename is allowed (name in `s`). */
    replace(name: string, s: SiteInput, expectVersion?: number): Site {
      return writeTx(db, () => {
        const existing = byName(name);
        if (!existing) throw new NotFoundError(`site "${name}" does not exist`);
        if (expectVersion !== undefined && expectVersion !== existing.version) {
          throw new ConflictError(`site "${name}" was changed meanwhile (now version ${existing.version}, you had ${expectVersion}): reload and apply your change again`);
        }
        if (s.name !== name && byName(s.name)) throw new ConflictError(`site "${s.name}" already exists`);
        checkRefs(s, this.list().filter((o) => o.id !== existing.id));
        return db
          .update(sites)
          .set({ ...s, version: existing.version + 1, updatedAt: now() })
          .where(eq(sites.id, existing.id))
          .returning()
          .get();
      });
    },
    remove(name: string): void {
      const r = db.delete(sites).where(eq(sites.name, name)).run();
      if (r.changes === 0) throw new NotFoundError(`site "${name}" does not exist`);
    },
    /** Names of sites whose defaultProfile is this profile (a profile in use cannot be deleted). */
    usingProfile(profile: string): string[] {
      return db
        .select({ name: sites.name })
        .from(sites)
        .where(eq(sites.defaultProfile, profile))
        .all()
        .map((r) => r.name);
    },
  };
}

export interface SiteDirectory {
  /** The site of a request, or undefined (the centre's own network). */
  match(hints: SiteHints): SiteMatch | undefined;
  /** Drops the cached list (this process just wrote it). */
  invalidate(): void;
}

/**
 * The site list as the request paths see it: read at most once per `ttlMs`
 * (the CLI and other processes write the table too), and at once after this
 * process changes it. A failing read keeps the last good list. The matcher
 * is rebuilt only when `list` gives a different array, so a list kept in
 * memory can be asked on every request (ttlMs 0).
 */
export function createSiteDirectory(list: () => Site[], opts: { ttlMs?: number; now?: () => number; onError?: (e: Error) => void } = {}): SiteDirectory {
  const ttl = opts.ttlMs ?? 1000;
  const clock = opts.now ?? Date.now;
  let loadedAt = -Infinity;
  let matcher: (h: SiteHints) => SiteMatch | undefined = () => undefined;
  let empty = true;
  let last: Site[] | undefined;
  function refresh(): void {
    const t = clock();
    if (t - loadedAt < ttl) return;
    loadedAt = t;
    try {
      const all = list();
      // An in-memory list (PostgreSQL's, kept current by Backend.fresh) is the same array until it changes.
      if (all === last) return;
      last = all;
      empty = all.length === 0;
      matcher = siteMatcher(all);
    } catch (e) {
      opts.onError?.(e as Error);
    }
  }
  return {
    match(hints) {
      refresh();
      return empty ? undefined : matcher(hints);
    },
    invalidate() {
      loadedAt = -Infinity;
      last = undefined;
    },
  };
}
