/**
 * bench/dhcp: DISCOVERs answered per second and latency, chainboot's
 * proxyDHCP against dnsmasq in proxy mode, in the same run on the same
 * namespaces. Run as root (after scripts/install-dhcp-test-deps.sh):
 *
 *   node --import tsx bench/dhcp/run.ts [--clients 16] [--seconds 10] [--rounds 3]
 *
 * Two namespaces joined by a veth pair: the server (10.95.0.1) and the load
 * generator (10.95.0.2), which owns UDP 68 there and so receives the
 * broadcast offers. Each round runs dnsmasq, then chainboot (then any
 * --compare build), each against a fresh load generator with the same
 * settings; the best round of each is reported, with the server's CPU time
 * per answered DISCOVER (all its threads: chainboot's event writer included).
 *
 * chainboot runs compiled from dist/ with plain node, as `chainboot serve`
 * does (this script builds it first; --no-build skips that).
 *
 *   --no-events      chainboot without the boot event log (what recording costs)
 *   --no-host-lookup chainboot without the per-request SQLite host lookup (what it costs)
 *   --no-host-cache  chainboot asking SQLite for every packet's host, without the cache (dhcp/host-cache.ts)
 *   --max-batch N    the event log's maxBatch (events posted to the writer at once)
 *   --repeat R       each MAC's DISCOVER sent R times with the same xid (firmware retransmissions;
 *                    chainboot then writes one event row per MAC, with a count); default 1: every
 *                    DISCOVER a new MAC (see loadgen.ts)
 *   --only NAME      dnsmasq or chainboot alone (quicker while tuning; no ratio)
 *   --compare DIR    also run the chainboot build in DIR (a dist/src folder), e.g. the code before a change
 *   --pin            load generator on CPU 0, the server under test on CPU 1 (both servers alike)
 *   --prof DIR       chainboot runs with --cpu-prof, profiles in DIR
 *
 * srvcpu is the server process (all threads), main its main thread alone;
 * gencpu the load generator. The machine may be shared: the "other" column is the CPU that neither the
 * server nor the load generator used during the run (of 100% × cores); a busy
 * neighbour there makes a round worth less.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { resolve } from 'node:path';
import { Lab, labProblem, REPO, type Proc } from '../../test/dhcp/helpers/netns.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
}
const clients = Number(arg('clients') ?? 16);
const seconds = Number(arg('seconds') ?? 10);
const rounds = Number(arg('rounds') ?? 2);
const noEvents = process.argv.includes('--no-events');
const noHostLookup = process.argv.includes('--no-host-lookup');
const noHostCache = process.argv.includes('--no-host-cache');
const maxBatch = arg('max-batch');
const repeat = Number(arg('repeat') ?? 1);
const only = arg('only');
const compareDir = arg('compare');
const profDir = arg('prof');
const pin = process.argv.includes('--pin');

interface Result {
  clients: number;
  seconds: number;
  sent: number;
  answered: number;
  lost: number;
  perSecond: number;
  p50: number;
  p99: number;
  max: number;
  loadgenCpuPct: number;
  serverCpuUsPerReq?: number;
  serverCpuPct?: number;
  /** The server's main thread alone, % of one core (the event loop that answers). */
  mainThreadCpuPct?: number;
  /** CPU used by everything else on the machine during the run, % of one core. */
  otherCpuPct?: number;
  /** The server's CPU by thread name (its main thread, the event writer, V8's and libuv's helpers), % of one core. */
  threadsCpuPct?: Record<string, number>;
}

/** CPU seconds per thread of a process, summed by thread name (/proc/PID/task/TID/comm). */
function threadCpuSeconds(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  let tids: string[] = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const name = tid === String(pid) ? 'main' : readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
      out[name] = (out[name] ?? 0) + cpuSeconds(`${pid}/task/${tid}`);
    } catch {
      // The thread ended meanwhile.
    }
  }
  return out;
}

/** utime + stime of a process (all its threads), in seconds (/proc/PID/stat fields 14 and 15; USER_HZ is 100 on Linux). */
function cpuSeconds(pid: number | string): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** utime + stime of a process's main thread alone (for chainboot: without the event writer and V8's helper threads). */
function mainThreadCpuSeconds(pid: number): number {
  return cpuSeconds(`${pid}/task/${pid}`);
}

/** Busy CPU time of the whole machine, in seconds (/proc/stat: all but idle and iowait). */
function machineBusySeconds(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return (total - f[3]! - f[4]!) / 100;
}

async function main(): Promise<void> {
  const problem = labProblem(['dnsmasq']);
  if (problem) throw new Error(problem);
  if (!process.argv.includes('--no-build')) {
    try {
      execFileSync(process.execPath, [resolve(REPO, 'node_modules/typescript/bin/tsc'), '-p', REPO], { cwd: REPO, stdio: 'inherit' });
    } catch {
      // tsc still emits; a type error elsewhere in the tree must not stop a DHCP bench.
      process.stderr.write('bench/dhcp: tsc reported errors (see above); benchmarking what it emitted\n');
    }
  }
  for (const dir of [resolve(REPO, 'dist/src'), ...(compareDir ? [resolve(compareDir)] : [])]) {
    if (!existsSync(resolve(dir, 'dhcp/server.js'))) throw new Error(`${dir}/dhcp/server.js is missing: build it (npx tsc -p .)`);
  }
  const pinned = pin && cpus().length >= 2;
  const taskset = (cpu: number, cmd: string, args: string[]): [string, string[]] => (pinned ? ['taskset', ['-c', String(cpu), cmd, ...args]] : [cmd, args]);

  const lab = new Lab('x');
  const stopAll = () => void lab.cleanup();
  process.once('SIGINT', stopAll);
  try {
    const srv = lab.ns('srv');
    const gen = lab.ns('gen');
    lab.link({ ns: srv, ifname: 's0', addr: '10.95.0.1/24' }, { ns: gen, ifname: 'g0', addr: '10.95.0.2/24' });
    // Limited broadcasts need a route; these namespaces have only each other.
    lab.ip('-n', gen, 'route', 'add', 'default', 'dev', 'g0');

    async function measure(name: string, server: Proc): Promise<Result> {
      const [cmd, args] = taskset(0, process.execPath, ['--import', 'tsx', resolve(REPO, 'bench/dhcp/loadgen.ts'), '10.95.0.1', String(clients), '1', String(seconds), String(repeat)]);
      const gen1 = lab.spawn(gen, `loadgen-${name}`, cmd, args);
      await gen1.waitJson('measure-start', () => true, 'measure-start', 30_000);
      const c0 = cpuSeconds(server.pid);
      const t0 = mainThreadCpuSeconds(server.pid);
      const th0 = threadCpuSeconds(server.pid);
      const m0 = machineBusySeconds();
      const r = await gen1.waitJson<Result>('result', () => true, 'result', (seconds + 30) * 1000);
      const c1 = cpuSeconds(server.pid);
      const t1 = mainThreadCpuSeconds(server.pid);
      const th1 = threadCpuSeconds(server.pid);
      const m1 = machineBusySeconds();
      r.threadsCpuPct = Object.fromEntries(Object.entries(th1).map(([k, v]) => [k, Math.round(((v - (th0[k] ?? 0)) / r.seconds) * 1000) / 10]).filter(([, v]) => (v as number) > 0));
      r.mainThreadCpuPct = ((t1 - t0) / r.seconds) * 100;
      r.serverCpuUsPerReq = ((c1 - c0) / Math.max(1, r.answered)) * 1e6;
      r.serverCpuPct = ((c1 - c0) / r.seconds) * 100;
      r.otherCpuPct = Math.max(0, ((m1 - m0 - (c1 - c0)) / r.seconds) * 100 - r.loadgenCpuPct);
      return r;
    }

    const variants: { name: string; dist?: string }[] = [];
    if (only !== 'chainboot') variants.push({ name: 'dnsmasq' });
    if (only !== 'dnsmasq') variants.push({ name: 'chainboot', dist: resolve(REPO, 'dist/src') });
    if (compareDir && only !== 'dnsmasq') variants.push({ name: 'compare', dist: resolve(compareDir) });

    const all: Record<string, Result[]> = Object.fromEntries(variants.map((v) => [v.name, []]));
    for (let round = 1; round <= rounds; round++) {
      const line: string[] = [];
      for (const v of variants) {
        if (!v.dist) {
          const [cmd, args] = taskset(1, '/usr/sbin/dnsmasq', ['-k', '--conf-file=/dev/null', '--port=0', '--log-facility=-', '--quiet-dhcp', '--interface=s0', '--dhcp-range=10.95.0.0,proxy', '--pxe-service=x86PC,chainboot,undionly', '--dhcp-leasefile=/dev/null', '--pid-file=']);
          const dm = lab.spawn(srv, 'dnsmasq', cmd, args);
          await dm.waitFor(/proxy on subnet 10\.95\.0\.0/, 'dnsmasq ready');
          all[v.name]!.push(await measure(v.name, dm));
          await dm.stop();
          line.push(`${v.name} ${all[v.name]!.at(-1)!.perSecond.toFixed(0)}/s (threads % ${JSON.stringify(all[v.name]!.at(-1)!.threadsCpuPct)})`);
          continue;
        }
        const env = [`CHAINBOOT_DIST=${v.dist}`, ...(noEvents ? ['BENCH_NO_EVENTS=1'] : []), ...(noHostLookup ? ['BENCH_NO_DB=1'] : []), ...(noHostCache ? ['BENCH_NO_HOST_CACHE=1'] : []), ...(maxBatch ? [`BENCH_MAX_BATCH=${maxBatch}`] : [])];
        const prof = profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [];
        const [cmd, args] = taskset(1, 'env', [...env, process.execPath, ...prof, resolve(REPO, 'bench/dhcp/server.mjs')]);
        const cb = lab.spawn(srv, v.name, cmd, args);
        await cb.waitJson('listening', () => true, `${v.name} listening`, 30_000);
        all[v.name]!.push(await measure(v.name, cb));
        await cb.stop();
        const counters = cb.json<{ counters: { received: number }; events: { rows: number; dropped: number; writeErrors: number }; eventLoopDelayMs: unknown }>('counters')[0];
        line.push(`${v.name} ${all[v.name]!.at(-1)!.perSecond.toFixed(0)}/s (threads % ${JSON.stringify(all[v.name]!.at(-1)!.threadsCpuPct)}, counters ${JSON.stringify(counters?.counters)}, events ${JSON.stringify(counters?.events)}, event loop delay ms ${JSON.stringify(counters?.eventLoopDelayMs)})`);
        // The event log must really have been written: a server whose writer died measures nothing.
        if (!noEvents && (!counters || counters.events.dropped > 0 || counters.events.writeErrors > 0 || counters.events.rows === 0)) {
          throw new Error(`${v.name}: the boot event log did not write: ${JSON.stringify(counters?.events)}\n  ${cb.lines.slice(-10).join('\n  ')}`);
        }
      }
      process.stderr.write(`round ${round}: ${line.join('; ')}\n`);
    }
    const best: Record<string, Result> = {};
    for (const k of Object.keys(all)) if (all[k]!.length) best[k] = all[k]!.reduce((a, b) => (b.perSecond > a.perSecond ? b : a));

    const row = (name: string, r: Result) =>
      `${name.padEnd(10)} ${r.perSecond.toFixed(0).padStart(9)} ${r.p50.toFixed(3).padStart(8)} ${r.p99.toFixed(3).padStart(8)} ${r.max.toFixed(2).padStart(8)} ${String(r.lost).padStart(6)} ${r.serverCpuUsPerReq!.toFixed(1).padStart(10)} ${r.serverCpuPct!.toFixed(0).padStart(6)}% ${r.mainThreadCpuPct!.toFixed(0).padStart(6)}% ${r.loadgenCpuPct.toFixed(0).padStart(6)}% ${r.otherCpuPct!.toFixed(0).padStart(6)}%`;
    console.log(
      `\nbench/dhcp: ${clients} concurrent clients, ${seconds} s per run, best of ${rounds} round(s), BIOS PXE DISCOVERs broadcast over a veth pair${noEvents ? ', chainboot WITHOUT the boot event log' : ''}${noHostLookup ? ', chainboot WITHOUT host lookups' : ''}${noHostCache ? ', chainboot WITHOUT the host lookup cache' : ''}${maxBatch ? `, event maxBatch ${maxBatch}` : ''}${repeat > 1 ? `, each DISCOVER sent ${repeat} times (same MAC and xid)` : ''}${pinned ? ', load generator on CPU 0 and server on CPU 1' : ''}${compareDir ? `, compare = ${compareDir}` : ''}`,
    );
    console.log(`${'server'.padEnd(10)} ${'answers/s'.padStart(9)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'max ms'.padStart(8)} ${'lost'.padStart(6)} ${'cpu µs/req'.padStart(10)} ${'srvcpu'.padStart(7)} ${'main'.padStart(7)} ${'gencpu'.padStart(7)} ${'other'.padStart(7)}`);
    for (const v of variants) if (best[v.name]) console.log(row(v.name, best[v.name]!));
    const ratio = best.chainboot && best.dnsmasq ? best.chainboot.perSecond / best.dnsmasq.perSecond : null;
    if (ratio !== null) console.log(`ratio chainboot/dnsmasq (answers/s): ${ratio.toFixed(2)}   chainboot p99 ${best.chainboot!.p99.toFixed(3)} ms (target: ratio ≥ 1.0, p99 < 2 ms)`);
    console.log(JSON.stringify({ type: 'bench-dhcp', clients, seconds, rounds, pinned, noEvents, noHostLookup, compare: compareDir ?? null, all, best, ratio }));
  } finally {
    await lab.cleanup();
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
