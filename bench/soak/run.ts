/**
 * bench/soak: the built service under mixed load for a long time, with its
 * RSS, open fds and event-loop delay sampled; at the end, whether each stayed
 * flat over the second half. See bench/soak/README.md.
 *
 *   node --import tsx bench/soak/run.ts [--minutes 30] [--interval 10] [--dhcp-rate 60] …
 *
 * Root only: it makes two network namespaces joined by a veth pair, the
 * server's (10.96.0.1: UDP 67, 69, 4011 and HTTP 8080, nowhere else) and the
 * load generator's (10.96.0.2, which owns UDP 68 there for the broadcast
 * offers). No route leads out of them. Everything it starts is stopped by PID,
 * and the namespaces are deleted, on success, failure, Ctrl-C or SIGTERM.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { condensedTable, parseCsv, renderChart, soakChart } from './plot.js';
import type { LoadSettings } from './load.js';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../..');

// ---------------------------------------------------------------- settings
const HELP = `bench/soak — chainboot under mixed load for a long time (root; see bench/soak/README.md)

  --minutes N         run time after seeding (30)
  --interval S        seconds between samples (10)
  --hosts N           hosts added through the API before the load starts (3000)
  --dhcp-rate R       DHCP packets/s: DISCOVERs (BIOS, UEFI, iPXE) to 67, REQUESTs to 4011 (150)
  --dhcp-macs N       distinct MACs the DISCOVERs cycle through (16777216: every DISCOVER of a run
                      from a new machine; a site's few thousand machines booting again and again: e.g. 5000)
  --event-retention-count N  the server's eventRetentionCount (300000: at the default rates the boot
                      event log reaches it in about 8 minutes, so the second half runs with retention
                      deleting every 30 s, as a server does for good; the service's own default, 1000000,
                      is reached only after ~25 minutes)
  --tftp-rate R       TFTP transfers/s, in batches every 5 s (2)
  --render-rate R     /ipxe, /boot.ipxe, /hosts/<mac>/ks.cfg requests/s (500)
  --range-rate R      range requests/s on the asset (12)
  --stream-rate R     whole downloads of the asset started per second (0.1)
  --abort-rate R      downloads aborted by the client mid-stream per second (0.5)
  --api-rate R        admin API calls/s (PATCH host, tasks, templates, reads) (5)
  --health-rate R     GET /healthz per second (outside view of the event loop) (5)
  --asset-mb N        size of the streamed asset (64)
  --no-build          run the build already in --build-dir
  --build-dir DIR     where the service is compiled to (bench/out/soak-build: a copy of its own,
                      so another engineer's rebuild of dist/ cannot change it mid-run)
  --out DIR           results folder (bench/out/soak/<time>)
  --pin               server on CPU 1, load generators on CPU 0
  --keep-data         keep the server's database (data/) in the results folder
  --rss-max-growth P  verdict: RSS fit over the second half grows < P % of its mean (5)
  --fd-max-growth P   verdict: fds likewise, P % or 2 fds, whichever is larger (5)
  --eld-max-growth P  verdict: event-loop p99 likewise, P % or 2 ms, whichever is larger (50)

Exit status: 0 all PASS, 3 a metric FAIL, 1 the run itself failed.`;

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  if (i > 0 && process.argv[i + 1] !== undefined) return process.argv[i + 1]!;
  const eq = process.argv.find((a) => a.startsWith(`--${name}=`));
  return eq ? eq.slice(name.length + 3) : def;
}
const flag = (name: string) => process.argv.includes(`--${name}`);
if (flag('help') || flag('h')) {
  process.stdout.write(HELP + '\n');
  process.exit(0);
}
function num(name: string, def: number, min: number, max: number): number {
  const v = Number(arg(name, String(def)));
  if (!Number.isFinite(v) || v < min || v > max) {
    process.stderr.write(`bench/soak: --${name} must be a number from ${min} to ${max}\n`);
    process.exit(2);
  }
  return v;
}
const MINUTES = num('minutes', 30, 0.5, 24 * 60);
const INTERVAL = num('interval', 10, 1, 600);
const HOSTS = num('hosts', 3000, 10, 100_000);
const ASSET_MB = num('asset-mb', 64, 1, 4096);
const DHCP_MACS = num('dhcp-macs', 1 << 24, 1, 1 << 24);
const RETENTION_COUNT = num('event-retention-count', 300_000, 0, 1e12);
const rates = {
  dhcp: num('dhcp-rate', 150, 0, 5000),
  tftp: num('tftp-rate', 2, 0, 100),
  render: num('render-rate', 500, 0, 5000),
  range: num('range-rate', 12, 0, 1000),
  stream: num('stream-rate', 0.1, 0, 10),
  abort: num('abort-rate', 0.5, 0, 50),
  api: num('api-rate', 5, 0, 500),
  health: num('health-rate', 5, 0.1, 100),
};
const LIMITS = { rss: num('rss-max-growth', 5, 0, 1000), fd: num('fd-max-growth', 5, 0, 1000), eld: num('eld-max-growth', 50, 0, 10000) };
const BUILD_DIR = resolve(arg('build-dir', join(repo, 'bench/out/soak-build')));
const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
const OUT = resolve(arg('out', join(repo, 'bench/out/soak', stamp)));
const PIN = flag('pin') && cpus().length >= 2;

const SRV_IP = '10.96.0.1';
const GEN_IP = '10.96.0.2';
const HTTP_PORT = 8080;
const TOKEN = randomBytes(24).toString('base64url');
const NS_PREFIX = 'cbsoak';
const nsName = (role: string) => `${NS_PREFIX}${process.pid}-${role}`;

// ---------------------------------------------------------------- processes and cleanup
interface Child {
  label: string;
  proc: ChildProcess;
  pid: number;
}
const children: Child[] = [];
const namespaces: string[] = [];
const log = (s: string) => process.stderr.write(`bench/soak: ${s}\n`);

function ip(args: string[]): string {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** Namespaces a killed earlier soak left behind (its PID gone): ours by name, so ours to remove. */
function removeStaleNamespaces(): void {
  let list = '';
  try {
    list = ip(['netns', 'list']);
  } catch {
    return;
  }
  for (const line of list.split('\n')) {
    const m = new RegExp(`^(${NS_PREFIX}(\\d+)-(srv|gen))\\b`).exec(line.trim());
    if (!m || Number(m[2]) === process.pid) continue;
    if (existsSync(`/proc/${m[2]}`)) continue; // that soak still runs
    // Anything still running inside belongs to that dead soak: end it by PID first.
    const pids = spawnSync('ip', ['netns', 'pids', m[1]!], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).map(Number);
    for (const p of pids) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    spawnSync('ip', ['netns', 'del', m[1]!]);
    log(`removed namespace ${m[1]} left by an earlier soak (pid ${m[2]}, no longer running)${pids.length ? `, and ended ${pids.length} process(es) in it` : ''}`);
  }
}

function start(label: string, ns: string, cmd: string, args: string[], opts: { stdin?: boolean; cpu?: number; env?: Record<string, string> } = {}): Child {
  const out = openSync(join(OUT, `${label}.out`), 'a');
  const inner = PIN && opts.cpu !== undefined ? ['taskset', '-c', String(opts.cpu), cmd, ...args] : [cmd, ...args];
  // "ip netns exec" execs the command: the PID is the process's own (taskset execs too).
  const proc = spawn('ip', ['netns', 'exec', ns, ...inner], { cwd: repo, stdio: [opts.stdin ? 'pipe' : 'ignore', opts.stdin ? 'pipe' : out, out], env: { ...process.env, ...opts.env } });
  closeSync(out);
  const c = { label, proc, pid: proc.pid! };
  children.push(c);
  return c;
}

async function stopChild(c: Child, graceMs: number): Promise<void> {
  if (c.proc.exitCode !== null || c.proc.signalCode !== null) return;
  const exited = new Promise<void>((ok) => c.proc.once('exit', () => ok()));
  try {
    process.kill(c.pid, 'SIGTERM');
  } catch {
    return;
  }
  const t = setTimeout(() => {
    if (c.proc.exitCode === null && c.proc.signalCode === null) {
      log(`${c.label} (pid ${c.pid}) did not stop within ${graceMs} ms: SIGKILL`);
      try {
        process.kill(c.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }, graceMs);
  await exited;
  clearTimeout(t);
}

let cleaned: Promise<void> | null = null;
function cleanup(): Promise<void> {
  return (cleaned ??= (async () => {
    // The load generator first (it stops its TFTP children), then the server.
    for (const c of [...children].reverse()) await stopChild(c, c.label === 'server' ? 40_000 : 20_000).catch(() => undefined);
    for (const ns of namespaces.reverse()) {
      // Nothing of ours may be left inside; whatever is, is a child of a child of ours.
      const pids = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).map(Number);
      for (const p of pids) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
      const r = spawnSync('ip', ['netns', 'del', ns], { encoding: 'utf8' });
      if (r.status !== 0) log(`could not delete namespace ${ns}: ${r.stderr.trim()}`);
    }
    namespaces.length = 0;
  })());
}
let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    if (interrupted) return;
    interrupted = true;
    log(`${sig}: stopping the load and the server, deleting the namespaces`);
    void cleanup().then(() => process.exit(130));
  });
}

// ---------------------------------------------------------------- /proc sampling
function procStatus(pid: number): { rssKb: number; hwmKb: number; threads: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (n: string) => Number(new RegExp(`^${n}:\\s+(\\d+)`, 'm').exec(s)?.[1] ?? NaN);
  return { rssKb: field('VmRSS'), hwmKb: field('VmHWM'), threads: field('Threads') };
}
/**
 * Nanoseconds the server's main thread (the event loop) has spent runnable but
 * waiting for a CPU (/proc/PID/task/PID/schedstat, field 2): when this climbs, a
 * slow loop is the machine's neighbours, not the server.
 */
function runQueueWaitNs(pid: number): number {
  try {
    return Number(readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').split(' ')[1]);
  } catch {
    return NaN;
  }
}
/** Busy CPU time of the whole machine, seconds (all CPUs; /proc/stat minus idle and iowait): the neighbours' share shows beside ours. */
function machineBusySeconds(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  return (f.slice(0, 8).reduce((a, b) => a + b, 0) - f[3]! - f[4]!) / 100;
}
const fdCount = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;
/** utime + stime, all threads, seconds. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}
function lastProbe(file: string): { p50: number; p99: number; max: number; heapUsed: number; external: number; arrayBuffers: number } | null {
  try {
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    return JSON.parse(lines.at(-1)!);
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------- verdict
/** Least-squares line through (x, y). */
function fit(xs: number[], ys: number[]): { slope: number; intercept: number } {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += (xs[i]! - mx) * (ys[i]! - my);
    sxx += (xs[i]! - mx) ** 2;
  }
  const slope = sxx ? sxy / sxx : 0;
  return { slope, intercept: my - slope * mx };
}
interface Verdict {
  metric: string;
  mean: number;
  growth: number;
  growthPct: number;
  limit: string;
  pass: boolean;
  slopePerHour: number;
  unit: string;
}
function judge(metric: string, unit: string, xsMin: number[], ys: number[], pct: number, absFloor: number): Verdict {
  const ok = xsMin.map((x, i) => [x, ys[i]!] as const).filter(([, y]) => Number.isFinite(y));
  const half = ok.filter(([x]) => x >= (xsMin.at(-1) ?? 0) / 2);
  const xs = half.map(([x]) => x);
  const vs = half.map(([, y]) => y);
  const mean = vs.reduce((a, b) => a + b, 0) / Math.max(1, vs.length);
  const { slope } = fit(xs, vs);
  // What the fitted line gains over the second half, against the mean there.
  const span = (xs.at(-1) ?? 0) - (xs[0] ?? 0);
  const growth = slope * span;
  const allowed = Math.max((Math.abs(mean) * pct) / 100, absFloor);
  return {
    metric,
    unit,
    mean,
    growth,
    growthPct: mean ? (growth / mean) * 100 : 0,
    limit: `< ${pct} %${absFloor ? ` or ${absFloor} ${unit}` : ''}`,
    pass: vs.length >= 3 && growth < allowed,
    slopePerHour: slope * 60,
  };
}

// ---------------------------------------------------------------- main
interface Snap {
  type: 'snap';
  t: number;
  final: boolean;
  loads: Record<string, { ok: number; err: number; skipped: number; inflight: number; bytes: number; p50: number | null; p99: number | null; max: number | null; errors: Record<string, number> }>;
  totals: Record<string, { ok: number; err: number; skipped: number }>;
  metrics: Record<string, number> | null;
  openTasks: number;
  apiOps?: Record<string, { n: number; mean: number; max: number }>;
}

async function main(): Promise<number> {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) throw new Error('needs Linux and root (network namespaces, ports 67/69/4011)');
  for (const [bin, why] of [
    ['/usr/sbin/ip', 'iproute2'],
    ['/usr/bin/cc', 'a C compiler for the TFTP load generator'],
  ] as const)
    if (!existsSync(bin)) throw new Error(`${bin} missing (${why})`);
  mkdirSync(OUT, { recursive: true });
  removeStaleNamespaces();

  // ---- build: the service as serve runs it, compiled to a folder of its own
  if (!flag('no-build')) {
    log(`building the service into ${BUILD_DIR}`);
    const t = spawnSync(process.execPath, [join(repo, 'node_modules/typescript/bin/tsc'), '-p', repo, '--outDir', BUILD_DIR], { cwd: repo, encoding: 'utf8' });
    // tsc still emits on type errors; another engineer's half-done file must not stop a soak, but it is said.
    if (t.status !== 0) log(`tsc reported errors (running what it emitted):\n${(t.stdout + t.stderr).trim().split('\n').slice(0, 20).join('\n')}`);
  }
  const cli = join(BUILD_DIR, 'src/cli.js');
  if (!existsSync(cli)) throw new Error(`${cli} missing: build first (or drop --no-build)`);
  const head = spawnSync('git', ['-C', repo, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).stdout.trim();
  const dirty = spawnSync('git', ['-C', repo, 'status', '--porcelain', '--', 'src'], { encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean).length;

  // ---- files: loaders (TFTP root), the streamed asset, the TFTP load generator
  const loaders = join(OUT, 'loaders');
  const assets = join(OUT, 'assets');
  const data = join(OUT, 'data');
  for (const d of [loaders, join(assets, 'soak'), data]) mkdirSync(d, { recursive: true });
  const fill = (file: string, size: number, seed: number) => {
    const fd = openSync(file, 'w');
    const chunk = Buffer.allocUnsafe(1 << 20);
    let x = seed >>> 0 || 1;
    for (let i = 0; i < chunk.length; i += 4) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      chunk.writeUInt32LE(x >>> 0, i);
    }
    for (let done = 0; done < size; ) {
      // Each MiB differs (its index mixed in), so a range served from the wrong offset is caught.
      chunk.writeUInt32LE(done / (1 << 20), 0);
      const n = Math.min(chunk.length, size - done);
      writeSync(fd, chunk, 0, n);
      done += n;
    }
    closeSync(fd);
  };
  fill(join(loaders, 'undionly.kpxe'), 74_000, 7);
  fill(join(loaders, 'ipxe.efi'), 1_048_576, 11);
  fill(join(loaders, 'snponly.efi'), 200_000, 13);
  for (const f of ['linux', 'initrd.gz', 'vmlinuz', 'initrd.img']) fill(join(assets, 'soak', f), 4096, 17);
  const assetSize = ASSET_MB * 1024 * 1024;
  fill(join(assets, 'soak/disk.img'), assetSize, 23);
  // bench/tftp-load/loadgen.c binds each client socket to the server's address (it was written for
  // a server on the same loopback); here the server is across a veth pair, so a copy binds to any address.
  const loadgen = join(OUT, 'tftp-loadgen');
  const bindServer = '.sin_addr = server.sin_addr, .sin_port = 0';
  const source = readFileSync(join(repo, 'bench/tftp-load/loadgen.c'), 'utf8');
  if (!source.includes(bindServer)) throw new Error(`bench/tftp-load/loadgen.c changed: "${bindServer}" not found; adapt bench/soak/run.ts`);
  writeFileSync(`${loadgen}.c`, source.replace(bindServer, '.sin_addr = { .s_addr = htonl(INADDR_ANY) }, .sin_port = 0'));
  const cc = spawnSync('/usr/bin/cc', ['-O2', '-Wall', '-o', loadgen, `${loadgen}.c`], { encoding: 'utf8' });
  if (cc.status !== 0) throw new Error(`compiling bench/tftp-load/loadgen.c failed:\n${cc.stderr}`);

  // ---- namespaces
  const srv = nsName('srv');
  const gen = nsName('gen');
  for (const ns of [srv, gen]) {
    ip(['netns', 'add', ns]);
    namespaces.push(ns);
    ip(['-n', ns, 'link', 'set', 'lo', 'up']);
  }
  const vs = `cbs${process.pid % 100000}s`;
  const vg = `cbs${process.pid % 100000}g`;
  ip(['link', 'add', vs, 'netns', srv, 'type', 'veth', 'peer', 'name', vg, 'netns', gen]);
  ip(['-n', srv, 'addr', 'add', `${SRV_IP}/24`, 'dev', vs]);
  ip(['-n', gen, 'addr', 'add', `${GEN_IP}/24`, 'dev', vg]);
  ip(['-n', srv, 'link', 'set', vs, 'up']);
  ip(['-n', gen, 'link', 'set', vg, 'up']);
  // Limited broadcasts (DISCOVERs) need a route; this namespace has only the server.
  ip(['-n', gen, 'route', 'add', 'default', 'dev', vg]);

  // ---- server
  const probeFile = join(OUT, 'probe.jsonl');
  const server = start(
    'server',
    srv,
    process.execPath,
    [
      '--import',
      join(here, 'probe.mjs'),
      cli,
      'serve',
      '--data-dir',
      data,
      '--http-port',
      String(HTTP_PORT),
      '--advertise-ip',
      SRV_IP,
      '--asset-root',
      assets,
      '--loader-root',
      loaders,
      '--admin-token',
      TOKEN,
      '--tftp',
      'on',
      '--dhcp',
      'on',
      '--event-retention-count',
      String(RETENTION_COUNT),
      '--log-level',
      'warn',
    ],
    { cpu: 1, env: { SOAK_PROBE_FILE: probeFile, SOAK_PROBE_INTERVAL_MS: String(INTERVAL * 1000) } },
  );
  // Bound: UDP 67, 69 and 4011 (ss inside the server's namespace), within 30 s.
  for (let i = 0; ; i++) {
    if (server.proc.exitCode !== null) throw new Error(`the server exited at start (${server.proc.exitCode}): ${tail(join(OUT, 'server.out'))}`);
    const ss = spawnSync('ip', ['netns', 'exec', srv, 'ss', '-Hlun'], { encoding: 'utf8' }).stdout;
    if ([':67 ', ':69 ', ':4011 '].every((p) => ss.includes(p))) break;
    if (i > 300) throw new Error(`the server did not bind UDP 67, 69 and 4011 within 30 s:\n${ss}\n${tail(join(OUT, 'server.out'))}`);
    await sleep(100);
  }

  // ---- load generator
  const settings: LoadSettings = {
    server: SRV_IP,
    httpPort: HTTP_PORT,
    token: TOKEN,
    hosts: HOSTS,
    deadlineMs: (MINUTES * 60 + 600) * 1000,
    rates,
    dhcpMacPool: DHCP_MACS,
    tftp: { loadgen, files: ['undionly.kpxe', 'ipxe.efi'].map((name) => ({ name, local: join(loaders, name) })), batchSeconds: 5, concurrency: 4 },
    asset: { path: 'soak/disk.img', local: join(assets, 'soak/disk.img'), size: assetSize },
  };
  const load = start('load', gen, process.execPath, ['--import', 'tsx', join(here, 'load.ts'), JSON.stringify(settings)], { stdin: true, cpu: 0 });
  const loadErr = join(OUT, 'load.out');
  const waiting = new Map<string, (o: Record<string, unknown>) => void>();
  let fatal: string | null = null;
  createInterface({ input: load.proc.stdout! }).on('line', (l) => {
    appendFileSync(join(OUT, 'load.jsonl'), l + '\n');
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(l);
    } catch {
      return;
    }
    if (o.type === 'fatal') fatal = String(o.error);
    if (o.type === 'seeded') log(`seeded ${o.hosts} hosts and ${o.profiles} profiles through the API in ${((o.ms as number) / 1000).toFixed(1)} s`);
    const w = waiting.get(String(o.type));
    if (w) {
      waiting.delete(String(o.type));
      w(o);
    }
  });
  const failures = new Set<(e: Error) => void>();
  load.proc.once('exit', () => {
    // A "snap" line printed just before exiting has been handled by now (readline ends first).
    setTimeout(() => {
      for (const f of failures) f(new Error(`load generator exited${fatal ? `: ${fatal}` : ''}\n${tail(loadErr)}`));
    }, 200);
  });
  const next = (type: string, limitMs: number) =>
    new Promise<Record<string, unknown>>((ok, fail) => {
      const done = () => (clearTimeout(t), failures.delete(fail));
      const t = setTimeout(() => (done(), fail(new Error(`load generator: no "${type}" within ${limitMs} ms${fatal ? `: ${fatal}` : ''}\n${tail(loadErr)}`))), limitMs);
      failures.add(fail);
      waiting.set(type, (o) => (done(), ok(o)));
    });
  await next('ready', 600_000);

  // ---- sampling
  const csv = join(OUT, 'soak.csv');
  const columns = [
    'minutes', 'rss_mb', 'hwm_mb', 'heap_mb', 'external_mb', 'fds', 'threads', 'cpu_pct', 'gen_cpu_pct', 'machine_busy_pct', 'cores', 'runq_wait_pct',
    'eld_p50_ms', 'eld_p99_ms', 'eld_max_ms', 'healthz_p50_ms', 'healthz_p99_ms', 'healthz_max_ms', 'metrics_eld_p99_ms', 'metrics_fds',
    ...['dhcp', 'tftp', 'render', 'range', 'stream', 'abort', 'api'].flatMap((k) => [`${k}_ok`, `${k}_err`, `${k}_skipped`]),
    'render_p99_ms', 'range_mb', 'stream_mb',
  ];
  writeFileSync(csv, columns.join(',') + '\n');
  const rows: Record<string, number>[] = [];
  const t0 = Date.now();
  let cpu0 = cpuSeconds(server.pid);
  let gcpu0 = cpuSeconds(load.pid);
  let busy0 = machineBusySeconds();
  let rq0 = runQueueWaitNs(server.pid);
  let tPrev = t0;
  const errorsSeen: Record<string, Record<string, number>> = {};
  const apiOps: Record<string, { n: number; sum: number; max: number }[]> = {};
  const header = `${'min'.padStart(6)} ${'rss MB'.padStart(7)} ${'heap'.padStart(6)} ${'fds'.padStart(4)} ${'cpu%'.padStart(5)} ${'rq%'.padStart(4)} ${'eld p99'.padStart(7)} ${'max'.padStart(6)} ${'hz p99'.padStart(7)} │ ${'dhcp ok/err'.padStart(12)} ${'tftp'.padStart(8)} ${'render'.padStart(11)} ${'range'.padStart(8)} ${'strm'.padStart(5)} ${'abrt'.padStart(5)} ${'api'.padStart(8)}`;
  process.stdout.write(
    `bench/soak: ${MINUTES} min, sample every ${INTERVAL} s; server pid ${server.pid} in netns ${srv} (${SRV_IP}), load pid ${load.pid} in ${gen}; build of ${head}${dirty ? ` + ${dirty} uncommitted file(s) under src/` : ''}; results in ${OUT}\n` +
      `rates/s: dhcp ${rates.dhcp}, tftp ${rates.tftp}, render ${rates.render}, range ${rates.range}, stream ${rates.stream}, abort ${rates.abort}, api ${rates.api}, healthz ${rates.health}; ${HOSTS} hosts; DHCP from ${DHCP_MACS} MACs; event retention ${RETENTION_COUNT}; asset ${ASSET_MB} MiB; ${cpus().length} CPUs, load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}\n` +
      `rq% = time the server's main thread waited for a CPU (other work on the machine), eld = event-loop delay measured inside the server (preloaded probe), hz = GET /healthz latency from the load namespace; counts are per interval (ok/err, sN = N skipped at the in-flight cap)\n${header}\n`,
  );

  const takeSample = async () => {
    const p = next('snap', 30_000);
    load.proc.stdin!.write('snap\n');
    const snap = (await p) as unknown as Snap;
    const now = Date.now();
    const st = procStatus(server.pid);
    const fds = fdCount(server.pid);
    const cpu1 = cpuSeconds(server.pid);
    let gcpu1 = gcpu0;
    try {
      gcpu1 = cpuSeconds(load.pid);
    } catch {
      /* exited (final snap) */
    }
    const dt = (now - tPrev) / 1000;
    const busy1 = machineBusySeconds();
    const rq1 = runQueueWaitNs(server.pid);
    const probe = lastProbe(probeFile);
    const L = snap.loads;
    const row: Record<string, number> = {
      minutes: Math.round(((now - t0) / 60_000) * 1000) / 1000,
      rss_mb: st.rssKb / 1024,
      hwm_mb: st.hwmKb / 1024,
      heap_mb: probe ? probe.heapUsed / 2 ** 20 : NaN,
      external_mb: probe ? (probe.external + probe.arrayBuffers) / 2 ** 20 : NaN,
      fds,
      threads: st.threads,
      cpu_pct: ((cpu1 - cpu0) / dt) * 100,
      gen_cpu_pct: ((gcpu1 - gcpu0) / dt) * 100,
      machine_busy_pct: ((busy1 - busy0) / dt) * 100,
      cores: cpus().length,
      runq_wait_pct: ((rq1 - rq0) / 1e9 / dt) * 100,
      eld_p50_ms: probe?.p50 ?? NaN,
      eld_p99_ms: probe?.p99 ?? NaN,
      eld_max_ms: probe?.max ?? NaN,
      healthz_p50_ms: L.health?.p50 ?? NaN,
      healthz_p99_ms: L.health?.p99 ?? NaN,
      healthz_max_ms: L.health?.max ?? NaN,
      metrics_eld_p99_ms: snap.metrics?.nodejs_eventloop_lag_p99_seconds !== undefined ? snap.metrics.nodejs_eventloop_lag_p99_seconds * 1000 : NaN,
      metrics_fds: snap.metrics?.process_open_fds ?? NaN,
      render_p99_ms: L.render?.p99 ?? NaN,
      range_mb: (L.range?.bytes ?? 0) / 2 ** 20,
      stream_mb: ((L.stream?.bytes ?? 0) + (L.abort?.bytes ?? 0)) / 2 ** 20,
    };
    for (const k of ['dhcp', 'tftp', 'render', 'range', 'stream', 'abort', 'api']) {
      row[`${k}_ok`] = L[k]?.ok ?? 0;
      row[`${k}_err`] = L[k]?.err ?? 0;
      row[`${k}_skipped`] = L[k]?.skipped ?? 0;
      for (const [why, n] of Object.entries(L[k]?.errors ?? {})) ((errorsSeen[k] ??= {})[why] = (errorsSeen[k]![why] ?? 0) + n);
    }
    for (const [op, o] of Object.entries(snap.apiOps ?? {})) {
      const half = row.minutes! < MINUTES / 2 ? 0 : 1;
      const a = ((apiOps[op] ??= [
        { n: 0, sum: 0, max: 0 },
        { n: 0, sum: 0, max: 0 },
      ])[half] ??= { n: 0, sum: 0, max: 0 });
      a.n += o.n;
      a.sum += o.mean * o.n;
      a.max = Math.max(a.max, o.max);
    }
    cpu0 = cpu1;
    gcpu0 = gcpu1;
    busy0 = busy1;
    rq0 = rq1;
    tPrev = now;
    rows.push(row);
    appendFileSync(csv, columns.map((c) => (Number.isFinite(row[c]) ? +row[c]!.toFixed(3) : '')).join(',') + '\n');
    const oe = (k: string) => `${row[`${k}_ok`]}/${row[`${k}_err`]}${row[`${k}_skipped`] ? `s${row[`${k}_skipped`]}` : ''}`;
    const f = (x: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '-');
    process.stdout.write(
      `${f(row.minutes!, 2).padStart(6)} ${f(row.rss_mb!).padStart(7)} ${f(row.heap_mb!).padStart(6)} ${String(fds).padStart(4)} ${f(row.cpu_pct!, 0).padStart(5)} ${f(row.runq_wait_pct!, 0).padStart(4)} ${f(row.eld_p99_ms!, 2).padStart(7)} ${f(row.eld_max_ms!, 0).padStart(6)} ${f(row.healthz_p99_ms!, 2).padStart(7)} │ ${oe('dhcp').padStart(12)} ${oe('tftp').padStart(8)} ${oe('render').padStart(11)} ${oe('range').padStart(8)} ${oe('stream').padStart(5)} ${oe('abort').padStart(5)} ${oe('api').padStart(8)}\n`,
    );
    return snap;
  };

  await takeSample(); // t = 0: right after seeding, the load just started
  const end = t0 + MINUTES * 60_000;
  for (let k = 1; ; k++) {
    const at = t0 + k * INTERVAL * 1000;
    if (at > end + 500) break;
    await sleep(at - Date.now());
    if (server.proc.exitCode !== null || server.proc.signalCode !== null) throw new Error(`the server exited during the run (${server.proc.exitCode ?? server.proc.signalCode}): ${tail(join(OUT, 'server.out'))}`);
    if (interrupted) return 1;
    await takeSample();
  }
  // The load stops; what was still running finishes (or is counted as an error) in the last snapshot.
  const finalSnapPromise = next('snap', 60_000);
  load.proc.stdin!.write('stop\n');
  const finalSnap = (await finalSnapPromise) as unknown as Snap;
  for (const k of Object.keys(finalSnap.loads)) for (const [why, n] of Object.entries(finalSnap.loads[k]!.errors)) ((errorsSeen[k] ??= {})[why] = (errorsSeen[k]![why] ?? 0) + n);
  const idle = { rss: procStatus(server.pid).rssKb / 1024, fds: fdCount(server.pid) };
  const serverLog = tail(join(OUT, 'server.out'), 4000);

  // ---- verdicts (the steady part: the last sample before the load stopped is the last one used)
  const xs = rows.map((r) => r.minutes!);
  const verdicts = [
    judge('RSS', 'MB', xs, rows.map((r) => r.rss_mb!), LIMITS.rss, 0),
    judge('open fds', 'fds', xs, rows.map((r) => r.fds!), LIMITS.fd, 2),
    judge('event-loop delay p99 (in-process)', 'ms', xs, rows.map((r) => r.eld_p99_ms!), LIMITS.eld, 2),
    judge('GET /healthz p99 (outside view)', 'ms', xs, rows.map((r) => r.healthz_p99_ms!), LIMITS.eld, 2),
  ];
  if (rows.some((r) => Number.isFinite(r.metrics_eld_p99_ms))) verdicts.push(judge('event-loop lag p99 (/metrics)', 'ms', xs, rows.map((r) => r.metrics_eld_p99_ms!), LIMITS.eld, 2));
  const info = [judge('V8 heap used (info)', 'MB', xs, rows.map((r) => r.heap_mb!), LIMITS.rss, 0)];

  const T = finalSnap.totals;
  const lines: string[] = [];
  lines.push('');
  lines.push(`totals over ${MINUTES} min (ok / errors / skipped at the in-flight cap):`);
  for (const k of ['dhcp', 'tftp', 'render', 'range', 'stream', 'abort', 'api', 'health']) lines.push(`  ${k.padEnd(7)} ${String(T[k]?.ok ?? 0).padStart(9)} / ${String(T[k]?.err ?? 0).padStart(6)} / ${String(T[k]?.skipped ?? 0).padStart(5)}${errorsSeen[k] ? `   ${Object.entries(errorsSeen[k]!).map(([w, n]) => `${n}× ${w}`).slice(0, 4).join('; ')}` : ''}`);
  const meanOf = (rs: Record<string, number>[], c: string) => rs.reduce((a, r) => a + (Number.isFinite(r[c]) ? r[c]! : 0), 0) / Math.max(1, rs.length);
  const mean = (c: string) => meanOf(rows, c);
  lines.push(`admin API latency by call, first half | second half (mean / max ms): ${Object.entries(apiOps).map(([op, [a, b]]) => `${op} ${a!.n ? (a!.sum / a!.n).toFixed(1) : '-'}/${a!.max.toFixed(0)} | ${b!.n ? (b!.sum / b!.n).toFixed(1) : '-'}/${b!.max.toFixed(0)}`).join('; ')}`);
  lines.push(`server CPU: mean ${mean('cpu_pct').toFixed(0)} % of one core; load generator (node, without its TFTP children) ${mean('gen_cpu_pct').toFixed(0)} %; whole machine busy ${mean('machine_busy_pct').toFixed(0)} % of ${cpus().length * 100} % (the rest of it is other work on the machine); the server's main thread waited for a CPU ${mean('runq_wait_pct').toFixed(0)} % of the time (first half ${meanOf(rows.filter((r) => r.minutes! < MINUTES / 2), 'runq_wait_pct').toFixed(0)} %, second half ${meanOf(rows.filter((r) => r.minutes! >= MINUTES / 2), 'runq_wait_pct').toFixed(0)} %)`);
  lines.push(`after the load stopped: RSS ${idle.rss.toFixed(1)} MB, ${idle.fds} fds; peak RSS (VmHWM) ${rows.at(-1)!.hwm_mb!.toFixed(1)} MB`);
  lines.push('');
  lines.push(`every ${MINUTES >= 15 ? 3 : 1} minute(s): RSS, heap and fds at the end of the window; CPU its mean; eld/hz p99 the median of its samples' p99s, eld max the largest; counts summed`);
  // From the CSV as written (what `plot.ts soak.csv` prints too).
  lines.push(condensedTable(parseCsv(readFileSync(csv, 'utf8')), MINUTES >= 15 ? 3 : 1));
  lines.push('');
  lines.push(`flatness over the second half (minutes ${(xs.at(-1)! / 2).toFixed(1)}–${xs.at(-1)!.toFixed(1)}): growth of the least-squares line across it, against its mean`);
  for (const v of [...verdicts, ...info]) {
    const tag = v.metric.endsWith('(info)') ? 'info' : v.pass ? 'PASS' : 'FAIL';
    lines.push(`  ${tag.padEnd(4)} ${v.metric.padEnd(36)} mean ${v.mean.toFixed(2).padStart(8)} ${v.unit.padEnd(3)} growth ${(v.growth >= 0 ? '+' : '') + v.growth.toFixed(2)} ${v.unit} (${(v.growthPct >= 0 ? '+' : '') + v.growthPct.toFixed(1)} %, ${(v.slopePerHour >= 0 ? '+' : '') + v.slopePerHour.toFixed(2)} ${v.unit}/h); limit ${v.limit}`);
  }
  const png = join(OUT, 'soak.png');
  writeFileSync(png, renderChart(soakChart(rows, `CHAINBOOT SOAK ${MINUTES} MIN ${new Date(t0).toISOString().slice(0, 16).replace('T', ' ')} BUILD ${head}${dirty ? '+WIP' : ''}`)));
  lines.push('');
  lines.push(`CSV ${csv}\nPNG ${png}\nserver log ${join(OUT, 'server.out')}, load generator ${join(OUT, 'load.jsonl')}`);
  if (/"level":(50|60)|\bERROR\b|\bFATAL\b/.test(serverLog)) lines.push(`server log has errors; its end:\n${serverLog.split('\n').slice(-10).join('\n')}`);
  process.stdout.write(lines.join('\n') + '\n');
  writeFileSync(join(OUT, 'summary.txt'), lines.join('\n') + '\n');
  writeFileSync(join(OUT, 'verdicts.json'), JSON.stringify({ minutes: MINUTES, interval: INTERVAL, rates, hosts: HOSTS, dhcpMacs: DHCP_MACS, eventRetentionCount: RETENTION_COUNT, build: head, dirtySrcFiles: dirty, verdicts, info, totals: T, errors: errorsSeen, idle }, null, 2));
  return verdicts.every((v) => v.pass) ? 0 : 3;
}

function tail(file: string, n = 2000): string {
  try {
    return readFileSync(file, 'utf8').slice(-n);
  } catch {
    return '';
  }
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

let code = 1;
try {
  code = await main();
} catch (e) {
  log(`failed: ${(e as Error).stack ?? e}`);
  code = 1;
} finally {
  await cleanup();
}
// The results stay in OUT; the generated asset and (unless --keep-data) the database, hundreds of MB after a long run, go.
try {
  rmSync(join(OUT, 'assets/soak/disk.img'), { force: true });
  if (!flag('keep-data')) rmSync(join(OUT, 'data'), { recursive: true, force: true });
} catch {
  /* fine */
}
process.exit(code);
