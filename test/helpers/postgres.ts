/**
 * A throwaway PostgreSQL cluster for tests: Debian's server binaries
 * (package postgresql, installed by scripts/install-pg-test-deps.sh), a new
 * data directory in a temp folder, listening only on a Unix socket there (no
 * TCP port at all), trust authentication, fsync off. Stopped and removed by
 * stop(). As root the server runs as the "postgres" user the package makes.
 */
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

export interface PgCluster {
  /** postgres://chainboot@/postgres?host=<socket dir> */
  url(db?: string): string;
  /** A new, empty database; its URL. */
  createDatabase(name: string): Promise<string>;
  stop(): void;
}

/** Why a PostgreSQL test cannot run here, or null (such tests must fail with it, not skip). */
export function pgProblem(): string | null {
  if (!binDir()) return 'PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin: run scripts/install-pg-test-deps.sh (as root)';
  if (process.getuid?.() === 0) {
    try {
      execFileSync('id', ['-u', 'postgres'], { stdio: 'pipe' });
    } catch {
      return 'no "postgres" user to run the server as (the postgresql package makes it): run scripts/install-pg-test-deps.sh';
    }
  }
  return null;
}

function binDir(): string | null {
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return null;
  const versions = readdirSync(base)
    .filter((v) => existsSync(join(base, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions.length ? join(base, versions[0]!, 'bin') : null;
}

export function startPostgres(): PgCluster {
  const problem = pgProblem();
  if (problem) throw new Error(`PostgreSQL cannot run here: ${problem}`);
  const bin = binDir()!;
  const dir = mkdtempSync(join(tmpdir(), 'chainboot-pg-'));
  chmodSync(dir, 0o755);
  const root = process.getuid?.() === 0;
  if (root) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(dir, uid, gid);
  }
  const as = (cmd: string, args: string[]) => execFileSync(root ? 'runuser' : cmd, root ? ['-u', 'postgres', '--', cmd, ...args] : args, { stdio: 'pipe', encoding: 'utf8' });
  const data = join(dir, 'data');
  as(join(bin, 'initdb'), ['-D', data, '-U', 'chainboot', '--auth=trust', '-E', 'UTF8', '--locale=C.UTF-8']);
  // No TCP at all: the socket in `dir` is the only way in.
  as(join(bin, 'pg_ctl'), ['-D', data, '-l', join(dir, 'log'), '-w', '-t', '60', '-o', `-c listen_addresses='' -k ${dir} -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200`, 'start']);
  const url = (db = 'postgres') => `postgres://chainboot@/${db}?host=${encodeURIComponent(dir)}`;
  return {
    url,
    async createDatabase(name) {
      const c = new pg.Client({ connectionString: url() });
      await c.connect();
      try {
        await c.query(`CREATE DATABASE "${name.replace(/"/g, '')}"`);
      } finally {
        await c.end();
      }
      return url(name);
    },
    stop() {
      try {
        as(join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/** One statement on a connection of its own (opened and closed around it): the rows. */
export async function pgQuery<T extends pg.QueryResultRow>(url: string, text: string, params: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<T>(text, params)).rows;
  } finally {
    await c.end();
  }
}
