/**
 * Helpers for the lifecycle tests: the real built CLI with TFTP on an
 * ephemeral port, waits on log lines and process exit (never on sleeps), a
 * TFTP client that can be held between two blocks, and curl downloads.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { statSync } from 'node:fs';
import { encodeAck, encodeRequest } from '../../src/tftp/packet.js';
import { startServe, type Served } from '../helpers/process.js';
import { BOUND_MS, bytes, RawClient } from '../tftp/helpers.js';

export { BOUND_MS };

export interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

export interface Server extends Served {
  tftpPort: number;
  /** Resolves with the first log line (already written or to come) matching pred. */
  waitLog(pred: (l: LogLine) => boolean, what: string): Promise<LogLine>;
  lines(): LogLine[];
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
}

function parse(line: string): LogLine | null {
  try {
    const j = JSON.parse(line) as LogLine;
    return typeof j === 'object' && j && typeof j.msg === 'string' ? j : null;
  } catch {
    return null;
  }
}

/** `chainboot serve` with HTTP on 127.0.0.1 and (unless tftp off) TFTP on an ephemeral 127.0.0.1 port. */
export async function startServer(args: string[], opts: { tftp?: boolean } = {}): Promise<Server> {
  const tftpArgs = opts.tftp === false ? [] : ['--tftp', 'on', '--tftp-port', '0', '--tftp-bind-address', '127.0.0.1', '--tftp-fallback-port', 'off'];
  // No --log-level flag: flags outrank the config file, and the reload test changes the level there.
  const served = await startServe([...tftpArgs, ...args], {}, { omit: ['--log-level'] });
  const exited = new Promise<number | null>((resolve) => {
    if (served.proc.exitCode !== null) resolve(served.proc.exitCode);
    else served.proc.once('exit', (code) => resolve(code));
  });
  const lines = () => served.logs.map(parse).filter((l): l is LogLine => l !== null);
  const waitLog = (pred: (l: LogLine) => boolean, what: string) =>
    new Promise<LogLine>((resolve, reject) => {
      const check = () => {
        const hit = lines().find(pred);
        if (!hit) return false;
        served.proc.stderr!.off('data', onData);
        clearTimeout(timer);
        resolve(hit);
        return true;
      };
      // startServe's reader pushes the line into `logs` first (it listened earlier), then this runs.
      const onData = () => void setImmediate(check);
      const timer = setTimeout(() => {
        served.proc.stderr!.off('data', onData);
        reject(new Error(`no log line "${what}" within ${BOUND_MS} ms; log:\n${served.logs.join('\n')}`));
      }, BOUND_MS);
      served.proc.stderr!.on('data', onData);
      check();
    });
  let tftpPort = 0;
  if (opts.tftp !== false) tftpPort = (await waitLog((l) => l.msg.startsWith('TFTP listening'), 'TFTP listening')).port as number;
  return { ...served, tftpPort, waitLog, lines, exited };
}

export function signal(s: Server, sig: NodeJS.Signals): void {
  // Only the process this test started, by its pid.
  process.kill(s.proc.pid!, sig);
}

/** Resolves when `file` holds at least `bytes` bytes (curl writes as it receives): checked on each of curl's progress lines. */
export interface Curl {
  proc: ChildProcess;
  done: Promise<{ code: number | null; stderr: string }>;
  /** Resolves once the output file holds at least n bytes. */
  received(n: number): Promise<void>;
}

export function curl(args: string[], out: string): Curl {
  const proc = spawn('curl', ['-sS', '-o', out, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
    proc.once('error', (err) => reject(new Error(`curl could not run: ${err.message} (scripts/install-test-deps.sh installs it)`)));
    proc.once('exit', (code) => resolve({ code, stderr }));
  });
  const size = () => {
    try {
      return statSync(out).size;
    } catch {
      return 0;
    }
  };
  return {
    proc,
    done,
    // curl -s prints nothing while it runs: the file's size is the condition, checked on a short
    // poll (a condition with a bound, not a sleep standing in for one).
    received: (n) =>
      new Promise((resolve, reject) => {
        const t0 = Date.now();
        const tick = () => {
          if (size() >= n) return resolve();
          if (proc.exitCode !== null) return reject(new Error(`curl ended (code ${proc.exitCode}) with ${size()} of ${n} bytes: ${stderr}`));
          if (Date.now() - t0 > BOUND_MS) return reject(new Error(`curl received ${size()} of ${n} bytes within ${BOUND_MS} ms`));
          setTimeout(tick, 20);
        };
        tick();
      }),
  };
}

/**
 * A TFTP read (octet, no options: 512-byte blocks) that stops acknowledging
 * after block `holdAfter` until `release` resolves, so a transfer is known to
 * be running when the server is signalled. Duplicate DATA (the server
 * retransmitting while held) is acknowledged again and otherwise ignored.
 */
export async function heldTftpRead(port: number, name: string, holdAfter: number, release: Promise<void>): Promise<{ held: Promise<void>; result: Promise<{ data: Buffer; error?: { code: number; message: string } }> }> {
  const c = await RawClient.open();
  let onHeld: () => void = () => {};
  const held = new Promise<void>((r) => (onHeld = r));
  const result = (async () => {
    const parts: Buffer[] = [];
    let expected = 1;
    try {
      await c.send(encodeRequest('rrq', name, 'octet'), port);
      for (;;) {
        const r = await c.next(`DATA ${expected} of ${name}`);
        const p = r.packet;
        if (p.op === 'error') return { data: Buffer.concat(parts), error: { code: p.code, message: p.message } };
        if (p.op !== 'data') throw new Error(`unexpected ${p.op} during ${name}`);
        if (p.block !== expected % 65536) {
          await c.send(encodeAck(p.block), r.from.port);
          continue;
        }
        parts.push(p.data);
        if (expected === holdAfter) {
          onHeld();
          await release;
        }
        await c.send(encodeAck(p.block), r.from.port);
        expected++;
        if (p.data.length < 512) return { data: Buffer.concat(parts) };
      }
    } finally {
      c.close();
    }
  })();
  return { held, result };
}

/** A fixed pattern, so a mix-up of files shows (the TFTP tests' generator). */
export const pattern = (n: number, seed: number): Buffer => bytes(n, seed);
