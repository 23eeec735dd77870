/**
 * Starting the real `chainboot serve` (the built CLI) and waiting for it by
 * reading its log, not by sleeping.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { projectRoot } from '../../src/paths.js';
import { freshPgDatabase, TEST_BACKEND } from './pg-fresh.js';

export const CLI = join(projectRoot, 'dist', 'src', 'cli.js');

export interface Served {
  proc: ChildProcess;
  port: number;
  baseUrl: string;
  dataDir: string;
  logs: string[];
  stop(): Promise<void>;
}

export function requireBuilt(): void {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build" first (npm test does it)`);
}

/** The flags every test server gets unless the test gives its own value (or leaves one out with `omit`). */
const SERVE_DEFAULTS: [string, () => string][] = [
  ['--data-dir', () => mkdtempSync(join(tmpdir(), 'chainboot-data-'))],
  ['--http-host', () => '127.0.0.1'],
  ['--http-port', () => '0'],
  ['--dhcp', () => 'off'],
  ['--tftp', () => 'off'],
  ['--log-level', () => 'info'],
];

export async function startServe(extraArgs: string[] = [], env: Record<string, string> = {}, opts: { omit?: string[] } = {}): Promise<Served> {
  requireBuilt();
  const defaults: string[] = [];
  for (const [flag, value] of SERVE_DEFAULTS) if (!extraArgs.includes(flag) && !opts.omit?.includes(flag)) defaults.push(flag, value());
  const all = [...defaults, ...extraArgs];
  const dataDir = all[all.indexOf('--data-dir') + 1]!;
  const args = [CLI, 'serve', ...all];
  // The postgres test project: each served process gets a database of its own unless the test names one.
  if (TEST_BACKEND === 'postgres' && !env.DATABASE_URL && !all.includes('--database-url')) env = { ...env, DATABASE_URL: (await freshPgDatabase()).url };
  const proc = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: string[] = [];
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`chainboot did not report listening within 20 s; log:\n${logs.join('\n')}`)), 20_000);
    const rl = createInterface({ input: proc.stderr! });
    rl.on('line', (line) => {
      logs.push(line);
      try {
        const j = JSON.parse(line) as { port?: number; msg?: string };
        if (j.msg?.startsWith('HTTP listening') && j.port) {
          clearTimeout(timer);
          resolve(j.port);
        }
      } catch {
        /* not JSON: the token banner */
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`chainboot exited with ${code}; log:\n${logs.join('\n')}`));
    });
  });
  return {
    proc,
    port,
    baseUrl: `http://127.0.0.1:${port}`,
    dataDir,
    logs,
    stop: () =>
      new Promise((resolve) => {
        if (proc.exitCode !== null) return resolve();
        proc.once('exit', () => resolve());
        proc.kill('SIGTERM');
      }),
  };
}

export function run(cmd: string, args: string[], opts: { input?: string; env?: Record<string, string> } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { env: { ...process.env, ...opts.env }, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err && typeof (err as NodeJS.ErrnoException).code === 'string') return reject(new Error(`${cmd} could not run: ${err.message} (install it: see scripts/install-test-deps.sh)`));
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
    if (opts.input !== undefined) child.stdin!.end(opts.input);
  });
}
