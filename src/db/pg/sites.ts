/**
 * The site store (src/sites/store.ts) over PostgreSQL: the same methods and
 * results as Promises. A site write checks the new definition against every
 * other site (no relay or subnet claimed twice) before writing; on SQLite the
 * database-wide write lock keeps that check true until the commit. Here the
 * sites table is locked against other writers (SHARE ROW EXCLUSIVE: reads go
 * on, a second site write on any node waits), and a default profile is read
 * FOR SHARE so it cannot be deleted before the site naming it is committed.
 */
import { asc, eq, sql } from 'drizzle-orm';
import type { PgDb } from './client.js';
import { profiles, sites } from './schema.js';
import type { Site } from '../schema.js';
import type { SiteStore } from '../../sites/store.js';
import { ConflictError, InvalidInputError, NotFoundError } from '../../errors.js';
import { LOCAL_DEFAULT, siteConflicts, type SiteInput } from '../../sites/model.js';
import type { Async } from './async.js';
import { bytewise, pgCode, UNIQUE_VIOLATION, type Q, type Tx } from './store.js';

export type PgSiteStore = ReturnType<typeof createPgSiteStore>;

export function createPgSiteStore(db: PgDb, now: () => number = Date.now) {
  async function byName(q: Q, name: string, lock = false): Promise<Site | undefined> {
    const query = q.select().from(sites).where(eq(sites.name, name));
    const [s] = lock ? await query.for('update') : await query;
    return s;
  }
  const listIn = (q: Q): Promise<Site[]> => q.select().from(sites).orderBy(bytewise(sites.name));

  async function checkRefs(q: Tx, s: SiteInput, others: Site[]): Promise<void> {
    const problems = siteConflicts(s, others);
    if (s.defaultProfile && s.defaultProfile !== LOCAL_DEFAULT) {
      const [p] = await q.select({ id: profiles.id }).from(profiles).where(eq(profiles.name, s.defaultProfile)).for('share');
      if (!p) problems.push(`defaultProfile: profile "${s.defaultProfile}" does not exist`);
    }
    if (problems.length) throw new InvalidInputError(`site ${s.name}: ${problems.join('; ')}`);
  }

  /** A site write: one at a time across all nodes (reads are not held up). */
  function write<T>(fn: (q: Tx) => Promise<T>): Promise<T> {
    return db.transaction(async (q) => {
      await q.execute(sql`lock table sites in share row exclusive mode`);
      return fn(q);
    });
  }

  return {
    async list(): Promise<Site[]> {
      return listIn(db);
    },
    async get(name: string): Promise<Site | undefined> {
      return byName(db, name);
    },
    async create(s: SiteInput): Promise<Site> {
      return write(async (q) => {
        if (await byName(q, s.name)) throw new ConflictError(`site "${s.name}" already exists`);
        await checkRefs(q, s, await listIn(q));
        const t = now();
        try {
          const [row] = await q
            .insert(sites)
            .values({ ...s, createdAt: t, updatedAt: t })
            .returning();
          return row!;
        } catch (e) {
          if (pgCode(e) === UNIQUE_VIOLATION) throw new ConflictError(`site "${s.name}" already exists`);
          throw e;
        }
      });
    },
    /** Replaces the definition; a rename is allowed (name in `s`). */
    async replace(name: string, s: SiteInput, expectVersion?: number): Promise<Site> {
      return write(async (q) => {
        const existing = await byName(q, name, true);
        if (!existing) throw new NotFoundError(`site "${name}" does not exist`);
        if (expectVersion !== undefined && expectVersion !== existing.version) {
          throw new ConflictError(`site "${name}" was changed meanwhile (now version ${existing.version}, you had ${expectVersion}): reload and apply your change again`);
        }
        if (s.name !== name && (await byName(q, s.name))) throw new ConflictError(`site "${s.name}" already exists`);
        await checkRefs(q, s, (await listIn(q)).filter((o) => o.id !== existing.id));
        const [row] = await q
          .update(sites)
          .set({ ...s, version: existing.version + 1, updatedAt: now() })
          .where(eq(sites.id, existing.id))
          .returning();
        return row!;
      });
    },
    async remove(name: string): Promise<void> {
      const gone = await db.delete(sites).where(eq(sites.name, name)).returning({ id: sites.id });
      if (gone.length === 0) throw new NotFoundError(`site "${name}" does not exist`);
    },
    /** Names of sites whose defaultProfile is this profile (a profile in use cannot be deleted). */
    async usingProfile(profile: string): Promise<string[]> {
      const rows = await db.select({ name: sites.name }).from(sites).where(eq(sites.defaultProfile, profile)).orderBy(asc(sites.id));
      return rows.map((r) => r.name);
    },
  } satisfies Async<SiteStore>;
}
