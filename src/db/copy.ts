/**
 * `chainboot db copy --from A --to B`: every row of every table from one
 * database to another (SQLite ⇄ PostgreSQL, or SQLite → SQLite), so a
 * deployment can move to PostgreSQL without losing a row.
 *
 * - the source is read in one snapshot (a read transaction on SQLite,
 *   REPEATABLE READ on PostgreSQL), table by table in foreign-key order;
 * - the target is migrated first and must be empty; it is written in one
 *   transaction, so a failed copy leaves it as it was;
 * - ids are kept (PostgreSQL's identity sequences are moved past them);
 * - afterwards both sides are read again and compared table by table: row
 *   count and a digest of every row in key order (JSON compared by value), so
 *   "copied" means "the same rows".
 */
import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { getTableColumns, getTableName } from 'drizzle-orm';
import { PG_TABLES } from './pg/schema.js';
import { isPostgresUrl, openPg, redactUrl } from './pg/client.js';
import { openDb } from './client.js';

export type DbLocation = { kind: 'sqlite'; file: string } | { kind: 'postgres'; url: string };

export function parseDbLocation(text: string): DbLocation {
  if (isPostgresUrl(text)) return { kind: 'postgres', url: text };
  const file = text.replace(/^sqlite:(\/\/)?/i, '');
  if (!file) throw new Error(`"${text}" names no database: use sqlite:PATH or postgres://user@host/db`);
  return { kind: 'sqlite', file };
}

export function describeLocation(l: DbLocation): string {
  return l.kind === 'sqlite' ? `sqlite:${l.file}` : redactUrl(l.url);
}

type Kind = 'json' | 'bool' | 'int' | 'text';
interface TableSpec {
  name: string;
  key: string;
  columns: { name: string; kind: Kind }[];
}

/** Table and column names and kinds, from the PostgreSQL schema (the SQLite one has the same names). */
export const TABLES: TableSpec[] = Object.values(PG_TABLES).map((t) => {
  const cols = Object.values(getTableColumns(t));
  const kindOf = (type: string): Kind => (type === 'PgJsonb' ? 'json' : type === 'PgBoolean' ? 'bool' : type === 'PgText' ? 'text' : 'int');
  return {
    name: getTableName(t),
    key: cols.find((c) => c.primary)?.name ?? cols[0]!.name,
    columns: cols.map((c) => ({ name: c.name, kind: kindOf(c.columnType) })),
  };
});

type Row = Record<string, unknown>;

/** A value as both databases must agree on it: JSON parsed and keys sorted, booleans as booleans, numbers as numbers. */
function canonical(kind: Kind, v: unknown): unknown {
  if (v === null || v === undefined) return null;
  switch (kind) {
    case 'json':
      return sortKeys(typeof v === 'string' ? JSON.parse(v) : v);
    case 'bool':
      return v === true || v === 1 || v === '1' || v === 't';
    case 'int':
      return typeof v === 'bigint' ? Number(v) : Number(v);
    default:
      return String(v);
  }
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object') return Object.fromEntries(Object.keys(v as object).sort().map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]));
  return v;
}

interface Reader {
  rows(t: TableSpec, batch: number): AsyncIterable<Row[]>;
  count(t: TableSpec): Promise<number>;
  close(): Promise<void>;
}

interface Writer {
  isEmpty(t: TableSpec): Promise<boolean>;
  begin(): Promise<void>;
  insert(t: TableSpec, rows: Row[]): Promise<void>;
  commit(): Promise<void>;
  rollback(): Promise<void>;
  reader(): Reader;
  close(): Promise<void>;
}

const q = (name: string) => `"${name.replace(/"/g, '""')}"`;

function sqliteSide(file: string, mustExist: boolean): Writer {
  if (mustExist && !existsSync(file)) throw new Error(`sqlite:${file} does not exist`);
  // Migrated to the current schema (a source too: an older database is brought up to date first, as serve would).
  const db = openDb(file).$client as Database.Database;
  const reader: Reader = {
    async *rows(t, batch) {
      const stmt = db.prepare(`SELECT ${t.columns.map((c) => q(c.name)).join(', ')} FROM ${q(t.name)} ORDER BY ${q(t.key)}`);
      let buf: Row[] = [];
      for (const r of stmt.iterate() as Iterable<Row>) {
        buf.push(r);
        if (buf.length >= batch) {
          yield buf;
          buf = [];
        }
      }
      if (buf.length) yield buf;
    },
    async count(t) {
      return (db.prepare(`SELECT count(*) AS n FROM ${q(t.name)}`).get() as { n: number }).n;
    },
    async close() {},
  };
  return {
    async isEmpty(t) {
      return (await reader.count(t)) === 0;
    },
    async begin() {
      db.exec('BEGIN IMMEDIATE');
    },
    async insert(t, rows) {
      const stmt = db.prepare(`INSERT INTO ${q(t.name)} (${t.columns.map((c) => q(c.name)).join(', ')}) VALUES (${t.columns.map(() => '?').join(', ')})`);
      for (const r of rows) {
        stmt.run(
          t.columns.map((c) => {
            const v = r[c.name];
            if (v === null || v === undefined) return null;
            if (c.kind === 'json') return typeof v === 'string' ? v : JSON.stringify(v);
            if (c.kind === 'bool') return canonical('bool', v) ? 1 : 0;
            if (c.kind === 'int') return Number(v);
            return v;
          }),
        );
      }
    },
    async commit() {
      db.exec('COMMIT');
    },
    async rollback() {
      if (db.inTransaction) db.exec('ROLLBACK');
    },
    reader: () => ({
      ...reader,
      // One snapshot for the whole copy: a read transaction held until close.
      async *rows(t, batch) {
        if (!db.inTransaction) db.exec('BEGIN');
        yield* reader.rows(t, batch);
      },
      async close() {
        if (db.inTransaction) db.exec('COMMIT');
      },
    }),
    async close() {
      if (db.inTransaction) db.exec('ROLLBACK');
      db.close();
    },
  };
}

async function pgSide(url: string): Promise<Writer> {
  const pool = (await openPg(url, { max: 2 })).$client;
  const client = await pool.connect();
  let snapshot = false;
  const reader: Reader = {
    async *rows(t, batch) {
      if (!snapshot) {
        await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
        snapshot = true;
      }
      const cols = t.columns.map((c) => q(c.name)).join(', ');
      // Keyset paging in key order. Text keys compare bytewise (COLLATE "C"), as SQLite's do, so both sides list rows alike.
      const textKey = t.columns.find((c) => c.name === t.key)?.kind === 'text';
      const key = `${q(t.key)}${textKey ? ' COLLATE "C"' : ''}`;
      let last: unknown = null;
      for (;;) {
        const r = await client.query<Row>(
          last === null ? `SELECT ${cols} FROM ${q(t.name)} ORDER BY ${key} LIMIT $1` : `SELECT ${cols} FROM ${q(t.name)} WHERE ${key} > $2 ORDER BY ${key} LIMIT $1`,
          last === null ? [batch] : [batch, last],
        );
        if (!r.rows.length) return;
        yield r.rows;
        last = r.rows[r.rows.length - 1]![t.key];
        if (r.rows.length < batch) return;
      }
    },
    async count(t) {
      const r = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${q(t.name)}`);
      return Number(r.rows[0]!.n);
    },
    async close() {
      if (snapshot) await client.query('COMMIT');
      snapshot = false;
    },
  };
  return {
    isEmpty: async (t) => (await reader.count(t)) === 0,
    async begin() {
      await client.query('BEGIN');
    },
    async insert(t, rows) {
      const cols = t.columns;
      const params: unknown[] = [];
      const tuples = rows.map((r) => {
        const ph = cols.map((c) => {
          const v = r[c.name];
          params.push(v === null || v === undefined ? null : c.kind === 'json' ? (typeof v === 'string' ? v : JSON.stringify(v)) : c.kind === 'bool' ? canonical('bool', v) : v);
          return `$${params.length}${c.kind === 'json' ? '::jsonb' : ''}`;
        });
        return `(${ph.join(', ')})`;
      });
      // OVERRIDING SYSTEM VALUE is not needed for BY DEFAULT identities: the given ids are taken as they are.
      await client.query(`INSERT INTO ${q(t.name)} (${cols.map((c) => q(c.name)).join(', ')}) VALUES ${tuples.join(', ')}`, params);
    },
    async commit() {
      // Identity sequences continue after the copied ids.
      for (const t of TABLES) {
        if (t.key !== 'id') continue;
        await client.query(`SELECT setval(pg_get_serial_sequence($1, 'id'), coalesce((SELECT max(id) FROM ${q(t.name)}), 0) + 1, false)`, [t.name]);
      }
      await client.query('COMMIT');
    },
    async rollback() {
      await client.query('ROLLBACK').catch(() => undefined);
    },
    reader: () => reader,
    async close() {
      client.release();
      await pool.end();
    },
  };
}

async function open(l: DbLocation, role: 'source' | 'target'): Promise<Writer> {
  return l.kind === 'sqlite' ? sqliteSide(l.file, role === 'source') : pgSide(l.url);
}

export interface CopyReport {
  from: string;
  to: string;
  tables: { table: string; rows: number; digest: string }[];
  rows: number;
  ms: number;
}

/** Row count and sha256 over every row in key order, values canonical. */
async function digest(r: Reader, t: TableSpec): Promise<{ rows: number; digest: string }> {
  const h = createHash('sha256');
  let rows = 0;
  for await (const batch of r.rows(t, 2000)) {
    for (const row of batch) {
      h.update(JSON.stringify(t.columns.map((c) => canonical(c.kind, row[c.name]))));
      h.update('\n');
      rows++;
    }
  }
  return { rows, digest: h.digest('hex').slice(0, 16) };
}

export async function copyDatabase(fromText: string, toText: string, opts: { batch?: number; log?: (line: string) => void } = {}): Promise<CopyReport> {
  const t0 = Date.now();
  const from = parseDbLocation(fromText);
  const to = parseDbLocation(toText);
  if (from.kind === to.kind && (from.kind === 'sqlite' ? from.file === (to as { file: string }).file : from.url === (to as { url: string }).url)) {
    throw new Error('--from and --to name the same database');
  }
  const batch = opts.batch ?? 500;
  const src = await open(from, 'source');
  let dst: Writer | null = null;
  try {
    dst = await open(to, 'target');
    const notEmpty: string[] = [];
    for (const t of TABLES) if (!(await dst.isEmpty(t))) notEmpty.push(t.name);
    // A fresh database has its settings table empty too: serve or the CLI were never run on it.
    if (notEmpty.length) throw new Error(`the target ${describeLocation(to)} is not empty (${notEmpty.join(', ')} hold rows): copy into a new, empty database`);
    const reader = src.reader();
    await dst.begin();
    try {
      for (const t of TABLES) {
        let n = 0;
        for await (const rows of reader.rows(t, batch)) {
          await dst.insert(t, rows);
          n += rows.length;
        }
        opts.log?.(`${t.name}: ${n} row(s)`);
      }
      await dst.commit();
    } catch (e) {
      await dst.rollback();
      throw e;
    }
    // Compare what is now in the target with the same snapshot of the source.
    const tables: CopyReport['tables'] = [];
    const check = dst.reader();
    for (const t of TABLES) {
      const a = await digest(reader, t);
      const b = await digest(check, t);
      if (a.rows !== b.rows || a.digest !== b.digest) throw new Error(`verification failed for ${t.name}: source ${a.rows} rows (${a.digest}), target ${b.rows} rows (${b.digest})`);
      tables.push({ table: t.name, rows: a.rows, digest: a.digest });
    }
    await reader.close();
    await check.close();
    return { from: describeLocation(from), to: describeLocation(to), tables, rows: tables.reduce((s, t) => s + t.rows, 0), ms: Date.now() - t0 };
  } finally {
    await src.close();
    await dst?.close();
  }
}

