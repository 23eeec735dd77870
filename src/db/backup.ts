/**
 * Backup and restore of the SQLite database, and the pid file by which
 * `restore` knows that a server is using the data directory.
 *
 * A backup is SQLite's online backup (better-sqlite3's db.backup()) taken in
 * one step: one read transaction, so under WAL it is one consistent snapshot
 * while serve goes on writing, and a writer can never make it start over (a
 * stepwise backup restarts whenever another connection writes between steps,
 * and under a steady event stream may never finish).
 */
import Database from 'better-sqlite3';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { migrationsDir } from '../paths.js';
import { openDb } from './client.js';

export const DB_FILE_NAME = 'chainboot.db';
export const PID_FILE_NAME = 'chainboot.pid';

export const dbPath = (dataDir: string) => join(dataDir, DB_FILE_NAME);

export class MaintenanceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MaintenanceError';
  }
}

// ---- the server's pid file ------------------------------------------------

/** Written by serve into the data directory; returns the function that removes it (only if it is still ours). */
export function writePidFile(dataDir: string, pid = process.pid): () => void {
  mkdirSync(dataDir, { recursive: true });
  const file = join(dataDir, PID_FILE_NAME);
  writeFileSync(file, `${pid}\n`);
  return () => {
    try {
      if (readFileSync(file, 'utf8').trim() === String(pid)) rmSync(file, { force: true });
    } catch {
      // already gone
    }
  };
}

/**
 * The serve process holding this data directory, if one is alive. A pid file
 * left by a crash names a dead process (or, after a reboot, someone else's:
 * on Linux its command line must be a chainboot serve) and is ignored.
 */
export function runningServer(dataDir: string): { pid: number } | null {
  let pid: number;
  try {
    pid = Number(readFileSync(join(dataDir, PID_FILE_NAME), 'utf8').trim());
  } catch {
    return null;
  }
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return null;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return null; // ESRCH: no such process
  }
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    if (!cmdline.includes('serve')) return null;
  } catch {
    // no /proc (not Linux): trust the pid
  }
  return { pid };
}

// ---- what a database file holds -------------------------------------------

export interface MigrationLevel {
  tag: string;
  when: number;
}

/** The migrations this build knows, oldest first (drizzle stores each one's `when` as created_at). */
export function knownMigrations(): MigrationLevel[] {
  const journal = JSON.parse(readFileSync(join(migrationsDir, 'meta', '_journal.json'), 'utf8')) as { entries: { tag: string; when: number }[] };
  return journal.entries.map((e) => ({ tag: e.tag, when: e.when }));
}

const CORE_TABLES = ['hosts', 'profiles', 'templates', 'boot_events', 'settings'];

export type DatabaseCheck =
  | { ok: true; level: MigrationLevel; upgradeNeeded: boolean; rows: Record<string, number>; bytes: number }
  | { ok: false; problem: string };

/** Is this file a chainboot database this build can use: intact, with our tables, at a migration level we know? */
export function inspectDatabase(file: string): DatabaseCheck {
  if (!existsSync(file)) return { ok: false, problem: `${file} does not exist` };
  if (!statSync(file).isFile()) return { ok: false, problem: `${file} is not a file` };
  let db: Database.Database;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
  } catch (err) {
    return { ok: false, problem: `${file} cannot be opened: ${(err as Error).message}` };
  }
  try {
    let check: string;
    try {
      check = String(db.pragma('quick_check', { simple: true }));
    } catch (err) {
      return { ok: false, problem: `${file} is not an SQLite database (${(err as Error).message})` };
    }
    if (check !== 'ok') return { ok: false, problem: `${file} is damaged: quick_check says ${check}` };
    const tables = new Set((db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all() as string[]));
    if (!tables.has('__drizzle_migrations')) return { ok: false, problem: `${file} is not a chainboot database (no migration table)` };
    const missing = CORE_TABLES.filter((t) => !tables.has(t));
    if (missing.length) return { ok: false, problem: `${file} is not a chainboot database (no table ${missing.join(', ')})` };
    const last = Number(db.prepare('SELECT max(created_at) FROM __drizzle_migrations').pluck().get());
    const known = knownMigrations();
    const newest = known[known.length - 1]!;
    if (last > newest.when) return { ok: false, problem: `${file} was written by a newer chainboot (a migration from ${new Date(last).toISOString()}, after this build's newest, ${newest.tag}): upgrade chainboot first` };
    const level = known.find((m) => m.when === last);
    if (!level) return { ok: false, problem: `${file} is at a migration level this build does not know (${last}); it was not made by this line of chainboot` };
    const rows: Record<string, number> = {};
    for (const t of [...tables].filter((t) => t !== 'sqlite_sequence' && !t.startsWith('__')).sort()) {
      rows[t] = Number(db.prepare(`SELECT count(*) FROM "${t}"`).pluck().get());
    }
    return { ok: true, level, upgradeNeeded: level !== newest, rows, bytes: statSync(file).size };
  } finally {
    db.close();
  }
}

// ---- backup -------------------------------------------------------------

/**
 * Copies `from` (any connection's view, WAL included) into `to` in one step,
 * then makes `to` a plain rollback-journal file: one self-contained file that
 * can be copied, mailed and opened read-only.
 */
async function snapshot(from: Database.Database, to: string): Promise<void> {
  rmSync(to, { force: true });
  rmSync(`${to}-wal`, { force: true });
  rmSync(`${to}-shm`, { force: true });
  await from.backup(to, { progress: () => 0x7fffffff });
  const out = new Database(to);
  try {
    out.pragma('journal_mode = DELETE');
  } finally {
    out.close();
  }
}

export interface BackupResult {
  file: string;
  bytes: number;
  ms: number;
  level: MigrationLevel;
  rows: Record<string, number>;
}

/** Online backup of the database at `dbFile` into `dest` (written beside it, then renamed: never a half-written dest). */
export async function backupDatabase(dbFile: string, dest: string, opts: { force?: boolean } = {}): Promise<BackupResult> {
  const t0 = performance.now();
  if (!existsSync(dbFile)) throw new MaintenanceError(`no database at ${dbFile} (wrong --data-dir?)`);
  if (resolve(dest) === resolve(dbFile)) throw new MaintenanceError('the backup file cannot be the database itself');
  if (existsSync(dest) && !opts.force) throw new MaintenanceError(`${dest} exists; choose another name or add --force to overwrite it`);
  if (!existsSync(dirname(resolve(dest)))) throw new MaintenanceError(`directory ${dirname(resolve(dest))} does not exist`);
  const partial = join(dirname(resolve(dest)), `.${basename(dest)}.partial-${process.pid}`);
  const src = new Database(dbFile, { fileMustExist: true });
  try {
    // A writer holding the lock only delays the start of the read transaction.
    src.pragma('busy_timeout = 10000');
    await snapshot(src, partial);
  } catch (err) {
    rmSync(partial, { force: true });
    throw new MaintenanceError(`backup of ${dbFile} failed: ${(err as Error).message}`);
  } finally {
    src.close();
  }
  const check = inspectDatabase(partial);
  if (!check.ok) {
    rmSync(partial, { force: true });
    throw new MaintenanceError(`the backup did not verify: ${check.problem}`);
  }
  renameSync(partial, dest);
  return { file: dest, bytes: check.bytes, ms: performance.now() - t0, level: check.level, rows: check.rows };
}

// ---- restore ------------------------------------------------------------

export interface RestoreResult {
  from: string;
  /** Where the database that was replaced was kept; null when there was none. */
  previous: string | null;
  level: MigrationLevel;
  upgraded: boolean;
  rows: Record<string, number>;
}

/**
 * Replaces the data directory's database with a backup. Refused while a
 * server holds the directory, and for a file that is not a chainboot database
 * this build can use; the database replaced is kept beside it as
 * chainboot.db.before-restore-<time>.
 */
export async function restoreDatabase(dataDir: string, from: string, now: () => number = Date.now): Promise<RestoreResult> {
  const running = runningServer(dataDir);
  if (running) throw new MaintenanceError(`chainboot serve (pid ${running.pid}) is using ${dataDir}: stop it first, restore, then start it again`);
  const dbFile = dbPath(dataDir);
  if (resolve(from) === resolve(dbFile)) throw new MaintenanceError(`${from} is the database itself`);
  const check = inspectDatabase(from);
  if (!check.ok) throw new MaintenanceError(`not restoring: ${check.problem}`);
  mkdirSync(dataDir, { recursive: true });

  // Staged beside the database and brought to this build's migration level
  // first, so a failure leaves the current database untouched.
  const staged = `${dbFile}.restoring`;
  const src = new Database(from, { readonly: true, fileMustExist: true });
  try {
    await snapshot(src, staged);
  } finally {
    src.close();
  }
  try {
    openDb(staged).$client.close();
  } catch (err) {
    rmSync(staged, { force: true });
    throw new MaintenanceError(`not restoring: bringing ${from} to this build's migration level failed: ${(err as Error).message}`);
  }

  let previous: string | null = null;
  if (existsSync(dbFile)) {
    previous = `${dbFile}.before-restore-${new Date(now()).toISOString().replace(/[:.]/g, '-')}`;
    // Through SQLite, not a file copy: a WAL left by a crash is part of the database.
    const cur = new Database(dbFile, { fileMustExist: true });
    try {
      await snapshot(cur, previous);
    } finally {
      cur.close();
    }
    // A stale -wal beside the new file would be replayed into it.
    for (const f of [dbFile, `${dbFile}-wal`, `${dbFile}-shm`]) rmSync(f, { force: true });
  }
  renameSync(staged, dbFile);
  for (const f of [`${staged}-wal`, `${staged}-shm`]) rmSync(f, { force: true });
  const after = inspectDatabase(dbFile);
  if (!after.ok) throw new MaintenanceError(`restored, but the result does not verify: ${after.problem}${previous ? ` (the previous database is ${previous})` : ''}`);
  return { from, previous, level: after.level, upgraded: check.level.when !== after.level.when, rows: after.rows };
}
