/**
 * bench/tftp: chainboot's TFTP server against tftpd-hpa and dnsmasq, in one run.
 *
 * Each server runs on port 69 in a network namespace of its own (dnsmasq's
 * TFTP port cannot be changed), with only loopback in it; the load generator
 * (bench/tftp-load/loadgen.c, compiled here) runs inside the same namespace,
 * so no packet leaves 127.0.0.1 of a namespace this script created. Each
 * server's CPU time is read from a cgroup of its own (tftpd-hpa forks a child
 * per transfer). Every load run is bounded in transfers and in seconds; the
 * servers are stopped by PID and the namespaces deleted at the end.
 *
 * Matrix: 64 concurrent downloads of a 74 KB (undionly.kpxe-sized) and a
 * 1 MiB (ipxe.efi-sized) file, blksize 512 and 1468, windowsize 1 and 8.
 * tftpd-hpa and dnsmasq do not implement windowsize (RFC 7440): they leave it
 * out of the OACK and the transfer runs at windowsize 1.
 *
 * usage: node --import tsx bench/tftp/run.ts [--rounds 3] [--seconds 4] [--concurrency 64] [--servers chainboot,tftpd-hpa,dnsmasq] [--json out.json]
 *        [--files ipxe.efi] [--blksizes 1468] [--windows 1]   (a part of the matrix)
 * BENCH_TFTP_NODE_ARGS adds node flags to chainboot's server (a CPU profile, perf maps);
 * BENCH_TFTP_REF=DIR with --servers …,chainboot-ref runs another checkout's server too (A/B).
 * needs: root, cc, ip; scripts/install-tftp-test-deps.sh installs the peers.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../..');

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1]! : def;
}
const ROUNDS = Math.max(1, Math.min(10, Number(arg('rounds', '3'))));
const SECONDS = Math.max(1, Math.min(30, Number(arg('seconds', '4'))));
const CONC = Math.max(1, Math.min(512, Number(arg('concurrency', '64'))));
const SERVERS = arg('servers', 'chainboot,tftpd-hpa,dnsmasq').split(',');
const JSON_OUT = arg('json', '');

// The 1 MiB runs get twice the time: at 64 concurrent one transfer can take a second or more.
const FILES = [
  { name: 'undionly.kpxe', size: 74_000, maxTransfers: 40_000, timeFactor: 1 },
  { name: 'ipxe.efi', size: 1_048_576, maxTransfers: 4_000, timeFactor: 2 },
];
// --files, --blksizes, --windows narrow the matrix while iterating on one case.
const onlyFiles = arg('files', '').split(',').filter(Boolean);
if (onlyFiles.length) FILES.splice(0, FILES.length, ...FILES.filter((f) => onlyFiles.includes(f.name)));
const BLKSIZES = arg('blksizes', '512,1468').split(',').map(Number);
const WINDOWS = arg('windows', '1,8').split(',').map(Number);

function need(path: string, what: string): void {
  if (!existsSync(path)) {
    process.stderr.write(`bench/tftp: ${path} missing (${what}); run scripts/install-tftp-test-deps.sh as root\n`);
    process.exit(1);
  }
}
if (process.getuid?.() !== 0) {
  process.stderr.write('bench/tftp: needs root (network namespaces, port 69, cgroups)\n');
  process.exit(1);
}
need('/usr/sbin/ip', 'iproute2');
need('/usr/bin/cc', 'a C compiler for the load generator');
if (SERVERS.includes('tftpd-hpa')) need('/usr/sbin/in.tftpd', 'Debian package tftpd-hpa');
if (SERVERS.includes('dnsmasq')) need('/usr/sbin/dnsmasq', 'Debian package dnsmasq');

const work = mkdtempSync(join(tmpdir(), 'chainboot-bench-tftp-'));
const root = join(work, 'root');
mkdirSync(root);
// in.tftpd --user nobody and dnsmasq (which drops to nobody) must read the files.
chmodSync(work, 0o755);
chmodSync(root, 0o755);
for (const f of FILES) {
  const b = Buffer.allocUnsafe(f.size);
  let x = 0x9e3779b9;
  for (let i = 0; i < b.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  writeFileSync(join(root, f.name), b, { mode: 0o644 });
}
const loadgen = join(work, 'loadgen');
const cc = spawnSync('/usr/bin/cc', ['-O2', '-Wall', '-o', loadgen, join(repo, 'bench/tftp-load/loadgen.c')], { encoding: 'utf8' });
if (cc.status !== 0) {
  process.stderr.write(`bench/tftp: compiling the load generator failed:\n${cc.stderr}\n`);
  process.exit(1);
}

interface Running {
  name: string;
  ns: string;
  proc: ChildProcess;
  pid: number;
  cgroup: string | null;
  outFile: string;
  errFile: string;
}

const tail = (file: string) => {
  try {
    return readFileSync(file, 'utf8').slice(-2000);
  } catch {
    return '';
  }
};

const CG_BASE = '/sys/fs/cgroup/cpuacct';
const running: Running[] = [];
const namespaces: string[] = [];

function ip(args: string[]): void {
  const r = spawnSync('/usr/sbin/ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr.trim()}`);
}

function cpuNs(r: Running): number | null {
  if (!r.cgroup) return null;
  try {
    return Number(readFileSync(join(r.cgroup, 'cpuacct.usage'), 'utf8'));
  } catch {
    return null;
  }
}

function commandFor(name: string): string[] {
  switch (name) {
    case 'chainboot':
      // BENCH_TFTP_NODE_ARGS: node flags for chainboot's server process only, e.g.
      // "--cpu-prof --cpu-prof-dir=/tmp/prof" or "--perf-basic-prof" (for perf).
      return [process.execPath, ...(process.env.BENCH_TFTP_NODE_ARGS ?? '').split(' ').filter(Boolean), '--import', 'tsx', join(repo, 'bench/tftp/serve.ts'), root, '69'];
    case 'chainboot-ref':
      // Another checkout of chainboot (BENCH_TFTP_REF=DIR), for A/B runs of a change within one bench.
      return [process.execPath, '--import', 'tsx', join(resolve(process.env.BENCH_TFTP_REF ?? '.'), 'bench/tftp/serve.ts'), root, '69'];
    case 'tftpd-hpa':
      return ['/usr/sbin/in.tftpd', '--foreground', '-4', '--address', ':69', '--secure', '--user', 'nobody', root];
    case 'dnsmasq':
      return ['/usr/sbin/dnsmasq', '-k', '--conf-file=/dev/null', '--pid-file=', '--port=0', '--enable-tftp', `--tftp-root=${root}`, '--tftp-max=1000', '--log-facility=-'];
    default:
      throw new Error(`unknown server ${name}`);
  }
}

function listening69(ns: string): boolean {
  const r = spawnSync('/usr/sbin/ip', ['netns', 'exec', ns, 'ss', '-Hlun', 'sport = :69'], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.trim().length > 0;
}

async function start(name: string): Promise<Running> {
  const ns = `cbtftp-${process.pid}-${name.replace(/[^a-z]/g, '')}`;
  ip(['netns', 'add', ns]);
  namespaces.push(ns);
  ip(['netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up']);
  // "ip netns exec" execs the command: the PID is the server's own.
  // Output goes to files: a pipe nobody reads while the load runs would stall a server that logs every transfer.
  const outFile = join(work, `${name}.out`);
  const errFile = join(work, `${name}.err`);
  const proc = spawn('/usr/sbin/ip', ['netns', 'exec', ns, ...commandFor(name)], { cwd: repo, stdio: ['ignore', openSync(outFile, 'w'), openSync(errFile, 'w')] });
  const r: Running = { name, ns, proc, pid: proc.pid!, cgroup: null, outFile, errFile };
  running.push(r);
  if (existsSync(CG_BASE)) {
    const cg = join(CG_BASE, `chainboot-bench-tftp-${process.pid}-${name}`);
    try {
      mkdirSync(cg);
      writeFileSync(join(cg, 'cgroup.procs'), String(r.pid));
      r.cgroup = cg;
    } catch (err) {
      process.stderr.write(`bench/tftp: no cgroup for ${name} (${(err as Error).message}): CPU not measured\n`);
    }
  }
  // Bounded wait for the port: 150 × 100 ms.
  for (let i = 0; i < 150; i++) {
    if (r.proc.exitCode !== null) throw new Error(`${name} exited at start (${r.proc.exitCode}): ${tail(r.errFile)}`);
    if (listening69(ns)) return r;
    await new Promise((ok) => setTimeout(ok, 100));
  }
  throw new Error(`${name} did not listen on udp/69 within 15 s: ${tail(r.errFile)}`);
}

async function stop(r: Running): Promise<void> {
  if (r.proc.exitCode === null && r.proc.signalCode === null) {
    const exited = new Promise<void>((ok) => r.proc.once('exit', () => ok()));
    process.kill(r.pid, 'SIGTERM');
    const t = setTimeout(() => {
      if (r.proc.exitCode === null) process.kill(r.pid, 'SIGKILL');
    }, 10_000);
    await exited;
    clearTimeout(t);
  }
  if (r.cgroup) {
    // tftpd-hpa's per-transfer children outlive their parent for a moment: they are ours, end them by PID.
    for (let i = 0; i < 50; i++) {
      const pids = readFileSync(join(r.cgroup, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
      if (pids.length === 0) break;
      for (const p of pids) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      await new Promise((ok) => setTimeout(ok, 100));
    }
    try {
      rmdirSync(r.cgroup);
    } catch (err) {
      process.stderr.write(`bench/tftp: could not remove ${r.cgroup}: ${(err as Error).message}\n`);
    }
  }
}

interface Load {
  ok: number;
  failed: number;
  corrupt: number;
  unfinished: number;
  retries: number;
  seconds: number;
  transfersPerSec: number;
  MBps: number;
  goodputMBps: number;
  p50ms: number;
  p99ms: number;
  maxms: number;
}
interface Row extends Load {
  server: string;
  file: string;
  blksize: number;
  windowsize: number;
  round: number;
  serverCpuUsPerTransfer: number | null;
  serverCpuShare: number | null;
}

function loadRun(r: Running, file: (typeof FILES)[number], blksize: number, windowsize: number): Load {
  const args = ['netns', 'exec', r.ns, loadgen, '127.0.0.1', '69', file.name, join(root, file.name), String(CONC), String(file.maxTransfers), String(SECONDS * file.timeFactor), String(blksize), String(windowsize)];
  const out = spawnSync('/usr/sbin/ip', args, { encoding: 'utf8', timeout: (SECONDS * file.timeFactor + 30) * 1000 });
  if (out.status !== 0) throw new Error(`loadgen against ${r.name}: ${out.stderr || out.error}`);
  return JSON.parse(out.stdout.trim().split('\n').pop()!) as Load;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

async function main(): Promise<void> {
  const loadBefore = loadavg().map((x) => x.toFixed(2)).join(' ');
  const rows: Row[] = [];
  let chainbootCounters: string | undefined;
  try {
    for (const s of SERVERS) await start(s);
    process.stderr.write(`bench/tftp: ${running.map((r) => `${r.name} pid ${r.pid} in netns ${r.ns}`).join('; ')}\n`);
    for (let round = 1; round <= ROUNDS; round++) {
      for (const file of FILES) {
        for (const blksize of BLKSIZES) {
          for (const windowsize of WINDOWS) {
            // Servers interleaved within each configuration, so drift on a shared machine hits all alike.
            for (const r of running) {
              const before = cpuNs(r);
              const load = loadRun(r, file, blksize, windowsize);
              const after = cpuNs(r);
              const cpu = before !== null && after !== null ? (after - before) / 1000 : null;
              const row: Row = {
                server: r.name,
                file: file.name,
                blksize,
                windowsize,
                round,
                ...load,
                serverCpuUsPerTransfer: cpu !== null && load.ok > 0 ? Math.round(cpu / load.ok) : null,
                serverCpuShare: cpu !== null ? Math.round((cpu / 1e6 / load.seconds) * 100) / 100 : null,
              };
              rows.push(row);
              process.stderr.write(
                `round ${round} ${file.name} blksize ${blksize} windowsize ${windowsize} ${r.name}: ${load.transfersPerSec.toFixed(0)} transfers/s, ${load.MBps.toFixed(1)} MB/s, p99 ${load.p99ms.toFixed(1)} ms, failed ${load.failed}, corrupt ${load.corrupt}, server CPU ${row.serverCpuUsPerTransfer ?? '?'} µs/transfer\n`,
              );
            }
          }
        }
      }
    }
  } finally {
    for (const r of running) await stop(r).catch((e: unknown) => process.stderr.write(`stopping ${r.name}: ${(e as Error).message}\n`));
    for (const ns of namespaces) {
      try {
        ip(['netns', 'del', ns]);
      } catch (e) {
        process.stderr.write(`${(e as Error).message}\n`);
      }
    }
    const cb = running.find((r) => r.name === 'chainboot');
    chainbootCounters = cb ? tail(cb.outFile).match(/counters (.*)/)?.[1] : undefined;
    rmSync(work, { recursive: true, force: true });
  }


  // Medians over rounds.
  type Key = string;
  const groups = new Map<Key, Row[]>();
  for (const r of rows) {
    const k = `${r.file}|${r.blksize}|${r.windowsize}|${r.server}`;
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  const med = (file: string, blksize: number, windowsize: number, server: string) => {
    const g = groups.get(`${file}|${blksize}|${windowsize}|${server}`);
    if (!g) return null;
    return {
      tps: median(g.map((x) => x.transfersPerSec)),
      mbps: median(g.map((x) => x.MBps)),
      p99: median(g.map((x) => x.p99ms)),
      cpu: g.every((x) => x.serverCpuUsPerTransfer !== null) ? median(g.map((x) => x.serverCpuUsPerTransfer!)) : null,
      failed: g.reduce((a, x) => a + x.failed + x.corrupt, 0),
    };
  };

  const lines: string[] = [];
  lines.push(`bench/tftp — ${CONC} concurrent, ${SECONDS} s per run, median of ${ROUNDS} round(s); ${new Date().toISOString()}`);
  lines.push(`machine: ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}); load average before ${loadBefore}, after ${loadavg().map((x) => x.toFixed(2)).join(' ')} — other work on the machine skews every number, the servers alike (they are interleaved)`);
  lines.push('');
  lines.push('| file | blksize | window | server | transfers/s | MB/s | p99 ms | failed | server CPU µs/transfer |');
  lines.push('|---|---:|---:|---|---:|---:|---:|---:|---:|');
  for (const f of FILES) {
    for (const b of BLKSIZES) {
      for (const w of WINDOWS) {
        for (const s of SERVERS) {
          const m = med(f.name, b, w, s);
          if (!m) continue;
          lines.push(`| ${f.name} | ${b} | ${w} | ${s}${!s.startsWith('chainboot') && w > 1 ? ' (no RFC 7440: runs at 1)' : ''} | ${m.tps.toFixed(0)} | ${m.mbps.toFixed(1)} | ${m.p99.toFixed(1)} | ${m.failed} | ${m.cpu ?? '?'} |`);
        }
      }
    }
  }
  const peers = SERVERS.filter((s) => !s.startsWith('chainboot'));
  if (SERVERS.includes('chainboot') && peers.length) {
    lines.push('');
    lines.push('Ratios (transfers/s, chainboot ÷ best peer at windowsize 1):');
    for (const f of FILES) {
      for (const b of BLKSIZES) {
        const best = Math.max(...peers.map((p) => med(f.name, b, 1, p)?.tps ?? 0));
        const cb1 = med(f.name, b, 1, 'chainboot')?.tps ?? 0;
        const cb8 = med(f.name, b, 8, 'chainboot')?.tps ?? 0;
        lines.push(`  ${f.name} blksize ${b}: windowsize 1 ${(cb1 / best).toFixed(2)}× (target ≥ 1.0), windowsize 8 ${(cb8 / best).toFixed(2)}×${f.name === 'ipxe.efi' ? ' (target ≥ 2.0)' : ''}`);
      }
    }
  }
  if (chainbootCounters) lines.push('', `chainboot counters: ${chainbootCounters}`);
  process.stdout.write(lines.join('\n') + '\n');
  if (JSON_OUT) writeFileSync(JSON_OUT, JSON.stringify({ concurrency: CONC, seconds: SECONDS, rounds: ROUNDS, rows }, null, 2));
}

let interrupted = false;
const onSignal = () => {
  if (interrupted) return;
  interrupted = true;
  process.stderr.write('bench/tftp: interrupted, cleaning up\n');
  void (async () => {
    for (const r of running) await stop(r).catch(() => undefined);
    for (const ns of namespaces) spawnSync('/usr/sbin/ip', ['netns', 'del', ns]);
    rmSync(work, { recursive: true, force: true });
    process.exit(130);
  })();
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

await main();
