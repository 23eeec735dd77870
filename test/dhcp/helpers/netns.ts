/**
 * Network namespaces for the socket tests and bench/dhcp: every port 67/68
 * exchange happens inside namespaces made here, joined by veth pairs and a
 * bridge, with no link to the host's interfaces and no route out. Processes
 * started here are stopped by their own PID; the namespaces are deleted.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

export const REPO = resolve(import.meta.dirname, '../../..');

/** Why these tests cannot run here, or null. They must fail (not skip) when this is not null. */
export function labProblem(need: ('dnsmasq' | 'udhcpc' | 'dhclient')[] = []): string | null {
  if (process.platform !== 'linux') return `network namespaces need Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return `network namespace tests need root (uid is ${process.getuid?.()}): run them as root, as CI does`;
  const missing: string[] = [];
  if (!existsSync('/usr/sbin/ip') && !existsSync('/sbin/ip') && !existsSync('/usr/bin/ip')) missing.push('ip (iproute2)');
  if (need.includes('dnsmasq') && !existsSync('/usr/sbin/dnsmasq')) missing.push('dnsmasq');
  if (need.includes('udhcpc')) {
    try {
      execFileSync('busybox', ['udhcpc', '--help'], { stdio: 'pipe' });
    } catch (e) {
      const out = String((e as { stderr?: Buffer }).stderr ?? '');
      if (!out.includes('udhcpc')) missing.push('busybox udhcpc (busybox-static)');
    }
  }
  if (need.includes('dhclient') && !existsSync('/usr/sbin/dhclient') && !existsSync('/sbin/dhclient')) missing.push('dhclient (isc-dhcp-client)');
  if (missing.length) return `missing ${missing.join(', ')}: run scripts/install-dhcp-test-deps.sh (as root)`;
  return null;
}

export class Proc {
  readonly lines: string[] = [];
  private waiters: { pred: (l: string) => boolean; ok: (l: string) => void }[] = [];
  exited: number | null = null;
  private exitWaiters: (() => void)[] = [];

  constructor(
    readonly label: string,
    readonly child: ChildProcess,
  ) {
    const feed = (stream: NodeJS.ReadableStream | null) => {
      let buf = '';
      stream?.setEncoding?.('utf8');
      stream?.on('data', (d: string) => {
        buf += d;
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          this.lines.push(line);
          for (const w of [...this.waiters]) {
            if (w.pred(line)) {
              this.waiters.splice(this.waiters.indexOf(w), 1);
              w.ok(line);
            }
          }
        }
      });
    };
    feed(child.stdout);
    feed(child.stderr);
    child.on('exit', (code, sig) => {
      this.exited = code ?? (sig ? 128 : -1);
      for (const w of this.exitWaiters) w();
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  /**
   * Resolves with the first line (past or future) that matches. The limit is
   * a failure guard, not synchronisation: the wait ends on the line itself.
   */
  waitFor(pred: RegExp | ((l: string) => boolean), what: string, limitMs = 20_000): Promise<string> {
    const test = typeof pred === 'function' ? pred : (l: string) => pred.test(l);
    const seen = this.lines.find(test);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((ok, fail) => {
      const w = { pred: test, ok: (l: string) => (clearTimeout(t), ok(l)) };
      const t = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        fail(new Error(`${this.label}: no ${what} within ${limitMs} ms${this.exited !== null ? ` (exited ${this.exited})` : ''}; output:\n  ${this.lines.slice(-40).join('\n  ')}`));
      }, limitMs);
      this.waiters.push(w);
    });
  }

  /** JSON lines of a given type (children of this repo print them). */
  json<T = Record<string, unknown>>(type?: string): T[] {
    const out: T[] = [];
    for (const l of this.lines) {
      if (!l.startsWith('{')) continue;
      try {
        const o = JSON.parse(l) as { type?: string };
        if (!type || o.type === type) out.push(o as T);
      } catch {
        /* not JSON */
      }
    }
    return out;
  }

  async waitJson<T = Record<string, unknown>>(type: string, pred: (o: T) => boolean, what: string, limitMs?: number): Promise<T> {
    const line = await this.waitFor(
      (l) => {
        if (!l.startsWith('{')) return false;
        try {
          const o = JSON.parse(l) as T & { type?: string };
          return o.type === type && pred(o);
        } catch {
          return false;
        }
      },
      what,
      limitMs,
    );
    return JSON.parse(line) as T;
  }

  stop(): Promise<void> {
    if (this.exited !== null) return Promise.resolve();
    return new Promise((ok) => {
      this.exitWaiters.push(ok);
      try {
        process.kill(this.pid, 'SIGTERM');
      } catch {
        ok();
      }
    });
  }
}

export class Lab {
  private namespaces: string[] = [];
  private procs: Proc[] = [];
  readonly prefix: string;

  constructor(tag: string) {
    // Short: interface names are limited to 15 characters.
    this.prefix = `cb${tag}${process.pid % 100000}`;
  }

  ip(...args: string[]): string {
    return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  }

  /** A new namespace with loopback up. */
  ns(name: string): string {
    const full = `${this.prefix}-${name}`;
    this.ip('netns', 'add', full);
    this.namespaces.push(full);
    this.ip('-n', full, 'link', 'set', 'lo', 'up');
    return full;
  }

  /** A veth pair between two namespaces, optionally addressed, both ends up. */
  link(a: { ns: string; ifname: string; addr?: string }, b: { ns: string; ifname: string; addr?: string }): void {
    this.ip('link', 'add', a.ifname, 'netns', a.ns, 'type', 'veth', 'peer', 'name', b.ifname, 'netns', b.ns);
    for (const end of [a, b]) {
      if (end.addr) this.ip('-n', end.ns, 'addr', 'add', end.addr, 'dev', end.ifname);
      this.ip('-n', end.ns, 'link', 'set', end.ifname, 'up');
    }
  }

  exec(ns: string, cmd: string, args: string[]): string {
    return execFileSync('ip', ['netns', 'exec', ns, cmd, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  }

  spawn(ns: string, label: string, cmd: string, args: string[], opts: { stdin?: boolean } = {}): Proc {
    const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { cwd: REPO, stdio: [opts.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    const p = new Proc(label, child);
    this.procs.push(p);
    return p;
  }

  /** A TypeScript helper of this repo, run with tsx inside the namespace. */
  node(ns: string, label: string, script: string, args: string[] = [], opts: { stdin?: boolean } = {}): Proc {
    return this.spawn(ns, label, process.execPath, ['--import', 'tsx', resolve(REPO, script), ...args], opts);
  }

  async cleanup(): Promise<void> {
    await Promise.all(this.procs.map((p) => p.stop()));
    for (const ns of this.namespaces.reverse()) {
      try {
        this.ip('netns', 'del', ns);
      } catch {
        /* already gone */
      }
    }
    this.namespaces = [];
  }
}
