/**
 * bench/dhcp: DISCOVERs answered per second and latency, chainboot's
 * proxyDHCP against dnsmasq in proxy mode, in the same run on the same
 * namespaces. Run as root (after scripts/install-dhcp-test-deps.sh):
 *
 *   node --import tsx bench/dhcp/run.ts [--clients 16] [--seconds 10] [--rounds 2]
 *
 * Two namespaces joined by a veth pair: the server (10.95.0.1) and the load
 * generator (10.95.0.2), which owns UDP 68 there and so receives the
 * broadcast offers. Each round runs dnsmasq, then chainboot; the best round
 * of each is reported, with the server's CPU time per answered DISCOVER.
 */
import { readFileSync } from 'node:fs';
import { Lab, labProblem, type Proc } from '../../test/dhcp/helpers/netns.js';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
}
const clients = arg('clients', 16);
const seconds = arg('seconds', 10);
const rounds = arg('rounds', 2);
/** --no-events: chainboot without the boot event log (to show what recording every decision costs). */
const noEvents = process.argv.includes('--no-events');

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
}

/** utime + stime of a process, in seconds (/proc/PID/stat fields 14 and 15; USER_HZ is 100 on Linux). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function main(): Promise<void> {
  const problem = labProblem(['dnsmasq']);
  if (problem) throw new Error(problem);
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
      const gen1 = lab.node(gen, `loadgen-${name}`, 'bench/dhcp/loadgen.ts', ['10.95.0.1', String(clients), '1', String(seconds)]);
      await gen1.waitJson('measure-start', () => true, 'measure-start', 30_000);
      const c0 = cpuSeconds(server.pid);
      const r = await gen1.waitJson<Result>('result', () => true, 'result', (seconds + 30) * 1000);
      const c1 = cpuSeconds(server.pid);
      r.serverCpuUsPerReq = ((c1 - c0) / Math.max(1, r.answered)) * 1e6;
      r.serverCpuPct = ((c1 - c0) / r.seconds) * 100;
      return r;
    }

    const best: Record<string, Result> = {};
    const all: Record<string, Result[]> = { dnsmasq: [], chainboot: [] };
    for (let round = 1; round <= rounds; round++) {
      const dm = lab.spawn(srv, 'dnsmasq', '/usr/sbin/dnsmasq', ['-k', '--conf-file=/dev/null', '--port=0', '--log-facility=-', '--quiet-dhcp', '--interface=s0', '--dhcp-range=10.95.0.0,proxy', '--pxe-service=x86PC,chainboot,undionly', '--dhcp-leasefile=/dev/null', '--pid-file=']);
      await dm.waitFor(/proxy on subnet 10\.95\.0\.0/, 'dnsmasq ready');
      all.dnsmasq!.push(await measure('dnsmasq', dm));
      await dm.stop();

      const cb = noEvents
        ? lab.spawn(srv, 'chainboot', 'env', ['BENCH_NO_EVENTS=1', process.execPath, '--import', 'tsx', 'bench/dhcp/server.ts'])
        : lab.node(srv, 'chainboot', 'bench/dhcp/server.ts');
      await cb.waitJson('listening', () => true, 'chainboot listening', 30_000);
      all.chainboot!.push(await measure('chainboot', cb));
      await cb.stop();
      const counters = cb.json<{ counters: unknown }>('counters')[0];
      process.stderr.write(`round ${round}: dnsmasq ${all.dnsmasq!.at(-1)!.perSecond.toFixed(0)}/s, chainboot ${all.chainboot!.at(-1)!.perSecond.toFixed(0)}/s; chainboot counters ${JSON.stringify(counters?.counters)}\n`);
    }
    for (const k of Object.keys(all)) best[k] = all[k]!.reduce((a, b) => (b.perSecond > a.perSecond ? b : a));

    const row = (name: string, r: Result) =>
      `${name.padEnd(10)} ${r.perSecond.toFixed(0).padStart(9)} ${r.p50.toFixed(3).padStart(8)} ${r.p99.toFixed(3).padStart(8)} ${r.max.toFixed(2).padStart(8)} ${String(r.lost).padStart(6)} ${r.serverCpuUsPerReq!.toFixed(1).padStart(10)} ${r.serverCpuPct!.toFixed(0).padStart(6)}% ${r.loadgenCpuPct.toFixed(0).padStart(6)}%`;
    console.log(`\nbench/dhcp: ${clients} concurrent clients, ${seconds} s per run, best of ${rounds} round(s), BIOS PXE DISCOVERs broadcast over a veth pair${noEvents ? ', chainboot WITHOUT the boot event log' : ''}`);
    console.log(`${'server'.padEnd(10)} ${'answers/s'.padStart(9)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'max ms'.padStart(8)} ${'lost'.padStart(6)} ${'cpu µs/req'.padStart(10)} ${'srvcpu'.padStart(7)} ${'gencpu'.padStart(7)}`);
    console.log(row('dnsmasq', best.dnsmasq!));
    console.log(row('chainboot', best.chainboot!));
    const ratio = best.chainboot!.perSecond / best.dnsmasq!.perSecond;
    console.log(`ratio chainboot/dnsmasq (answers/s): ${ratio.toFixed(2)}   chainboot p99 ${best.chainboot!.p99.toFixed(3)} ms (target: ratio ≥ 1.0, p99 < 2 ms)`);
    console.log(JSON.stringify({ type: 'bench-dhcp', clients, seconds, rounds, all, best, ratio }));
  } finally {
    await lab.cleanup();
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
