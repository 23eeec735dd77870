/**
 * bench/sites: many clients at several remote sites booting at once through
 * the whole chain — proxyDHCP (through each site's DHCP relay) → the loader
 * over TFTP → the iPXE entry and per-host scripts over HTTP → the kernel and
 * initrd (--mb MiB in all per client) — once with every site's assets from
 * its own nginx cache (the site's assetBaseUrl) and once straight from the
 * centre, in the same run. Prints total time and the bytes that crossed the
 * sites' WAN links to the centre (the centre's interface counters), and the
 * ratio of the two modes. Run as root (after scripts/install-dhcp-test-deps.sh
 * and scripts/install-asset-test-deps.sh: dnsmasq, busybox, nginx):
 *
 *   flock /tmp/chainboot-bench.lock node --import tsx bench/sites/run.ts [--sites 4] [--clients 50] [--mb 100] [--modes cached,direct] [--wan-mbit N] [--no-build]
 *
 * --wan-mbit N caps each site's WAN link at N Mbit/s each way (a tbf qdisc on
 * both ends), as a branch office's line would be; 0 (the default) leaves the
 * veth pairs as fast as the machine is, where the site caches' extra hop
 * costs more than the bytes they save.
 *
 * Namespaces made here, nothing leaves them:
 *   cen        chainboot serve: proxyDHCP 67, TFTP 69, HTTP 8080; wanN 10.96.N.1/24 per site
 *   rtrN       the site's router: up0 10.96.N.2 ── down0 10.97.N.1 (giaddr), dnsmasq --dhcp-relay,
 *              nginx proxy_cache+slice on 10.97.N.1:8081 (cached mode), forwarding
 *   lanN       the site's machines: eth0 10.97.N.100… one address per client (bench/sites/client.ts)
 * Every wait is bounded; processes are stopped by PID and the namespaces deleted on exit.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab, labProblem, REPO, type Proc } from '../../test/dhcp/helpers/netns.js';
import { startNginxCache, type NginxCache } from '../../test/helpers/nginx-cache.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : def;
}
const SITES = Number(arg('sites', '4'));
const CLIENTS = Number(arg('clients', '50'));
const MB = Number(arg('mb', '100'));
const MODES = arg('modes', 'cached,direct').split(',') as ('cached' | 'direct')[];
const TIMEOUT_S = Number(arg('timeout', '600'));
const WAN_MBIT = Number(arg('wan-mbit', '0'));
const CLI = join(REPO, 'dist', 'src', 'cli.js');

if (!(SITES >= 1 && SITES <= 20 && CLIENTS >= 1 && CLIENTS <= 150 && MB >= 1 && MB <= 4096)) throw new Error('--sites 1–20, --clients 1–150, --mb 1–4096');
const problem = labProblem(['dnsmasq']);
if (problem) throw new Error(problem);
if (!process.argv.includes('--no-build')) execFileSync('npx', ['tsc', '-p', '.'], { cwd: REPO, stdio: 'inherit' });

const tmp = mkdtempSync(join(tmpdir(), 'chainboot-bench-sites-'));
chmodSync(tmp, 0o755);
const lab = new Lab('b');
const caches: NginxCache[] = [];

function writeRandom(path: string, bytes: number): void {
  const chunk = 8 * 1024 * 1024;
  const parts: Buffer[] = [];
  for (let left = bytes; left > 0; left -= chunk) parts.push(randomBytes(Math.min(chunk, left)));
  writeFileSync(path, Buffer.concat(parts));
}

function cli(data: string, ...args: string[]): string {
  return execFileSync(process.execPath, [CLI, ...args, '--data-dir', data], { encoding: 'utf8' });
}

/** The namespace's UDP counters (/proc/net/snmp): datagrams dropped for a full receive buffer, among others. */
function udpCounters(ns: string): Record<string, number> {
  const lines = lab.exec(ns, 'cat', ['/proc/net/snmp']).split('\n').filter((l) => l.startsWith('Udp:'));
  const [names, values] = [lines[0]!.split(/\s+/).slice(1), lines[1]!.split(/\s+/).slice(1)];
  return Object.fromEntries(names.map((n, i) => [n, Number(values[i])]));
}

function txBytes(ns: string, ifname: string): number {
  return Number(lab.exec(ns, 'cat', [`/sys/class/net/${ifname}/statistics/tx_bytes`]).trim());
}

interface SiteResult {
  site: number;
  clients: number;
  ok: number;
  failed: number;
  errors: string[];
  ms: number;
  medianPhaseMs: Record<string, number | null>;
  tftpBytes: number;
  assetBytes: number;
  assetHosts: string[];
}

async function main(): Promise<void> {
  const assets = join(tmp, 'assets');
  const loaders = join(tmp, 'loaders');
  const data = join(tmp, 'data');
  mkdirSync(join(assets, 'bench'), { recursive: true });
  mkdirSync(loaders, { recursive: true });
  // A kernel and an initrd of MB MiB together (1:9), random so no layer can shortcut them.
  const kernelBytes = Math.round((MB * 2 ** 20) / 10);
  writeRandom(join(assets, 'bench', 'vmlinuz'), kernelBytes);
  writeRandom(join(assets, 'bench', 'initrd.img'), MB * 2 ** 20 - kernelBytes);
  writeRandom(join(loaders, 'undionly.kpxe'), 72 * 1024);
  cli(data, 'profiles', 'add', 'bench', '--kind', 'linux', '--kernel', 'bench/vmlinuz', '--initrd', 'bench/initrd.img', '--cmdline', 'console=ttyS0');

  const cen = lab.ns('cen');
  const rtr: string[] = [];
  const lan: string[] = [];
  for (let n = 1; n <= SITES; n++) {
    rtr[n] = lab.ns(`r${n}`);
    lan[n] = lab.ns(`l${n}`);
    lab.link({ ns: cen, ifname: `wan${n}`, addr: `10.96.${n}.1/24` }, { ns: rtr[n]!, ifname: 'up0', addr: `10.96.${n}.2/24` });
    lab.link({ ns: rtr[n]!, ifname: 'down0', addr: `10.97.${n}.1/24` }, { ns: lan[n]!, ifname: 'eth0', addr: `10.97.${n}.50/24` });
    for (let i = 0; i < CLIENTS; i++) lab.ip('-n', lan[n]!, 'addr', 'add', `10.97.${n}.${100 + i}/24`, 'dev', 'eth0');
    lab.ip('-n', cen, 'route', 'add', `10.97.${n}.0/24`, 'via', `10.96.${n}.2`);
    lab.ip('-n', rtr[n]!, 'route', 'add', 'default', 'via', `10.96.${n}.1`);
    lab.ip('-n', lan[n]!, 'route', 'add', 'default', 'via', `10.97.${n}.1`);
    lab.exec(rtr[n]!, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    if (WAN_MBIT > 0) {
      for (const [ns, dev] of [[cen, `wan${n}`], [rtr[n]!, 'up0']] as const) lab.exec(ns, 'tc', ['qdisc', 'add', 'dev', dev, 'root', 'tbf', 'rate', `${WAN_MBIT}mbit`, 'burst', '256kb', 'latency', '200ms']);
    }
    cli(data, 'sites', 'add', `site-${n}`, '--relay', `10.97.${n}.1`, '--subnet', `10.97.${n}.0/24`, '--boot-base-url', `http://10.96.${n}.1:8080`);
  }

  const serve = lab.spawn(cen, 'serve', process.execPath, [CLI, 'serve', '--data-dir', data, '--http-port', '8080', '--tftp', 'on', '--dhcp', 'on', '--base-url', 'http://10.96.1.1:8080', '--asset-root', assets, '--loader-root', loaders, '--default-profile', 'bench', '--log-level', 'warn', '--http-max-connections-per-client', '256']);
  await serve.waitFor(/proxyDHCP|listening|error/i, 'serve started', 30_000).catch(() => undefined);
  // Ready when /readyz says so (TFTP and proxyDHCP bound).
  const readyBy = Date.now() + 30_000;
  for (;;) {
    try {
      if (lab.exec(cen, 'curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', 'http://127.0.0.1:8080/readyz']).trim() === '200') break;
    } catch {
      /* not yet */
    }
    if (Date.now() > readyBy) throw new Error(`chainboot not ready:\n${serve.lines.join('\n')}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const relays: Proc[] = [];
  for (let n = 1; n <= SITES; n++) {
    const r = lab.spawn(rtr[n]!, `relay${n}`, '/usr/sbin/dnsmasq', ['-k', '--conf-file=/dev/null', '--port=0', '--log-facility=-', `--dhcp-relay=10.97.${n}.1,10.96.${n}.1`, '--interface=down0', `--pid-file=${join(tmp, `relay${n}.pid`)}`]);
    await r.waitFor(/DHCP relay from/, `relay ${n} ready`);
    relays.push(r);
  }

  const rows: { mode: string; seconds: number; ok: number; failed: number; delivered: number; crossed: number; sites: SiteResult[] }[] = [];
  for (const mode of MODES) {
    for (const c of caches.splice(0)) await c.close();
    for (let n = 1; n <= SITES; n++) {
      if (mode === 'cached') {
        const cache = await startNginxCache({ dir: join(tmp, `nginx-${mode}-${n}`), netns: rtr[n]!, listen: `10.97.${n}.1`, port: 8081, upstreamHost: `10.96.${n}.1`, upstreamPort: 8080, maxSize: `${Math.max(1, Math.ceil((MB * 2) / 1024))}g` });
        caches.push(cache);
        cli(data, 'sites', 'set', `site-${n}`, '--asset-base-url', `${cache.url}/assets`);
      } else cli(data, 'sites', 'set', `site-${n}`, '--asset-base-url', '');
    }
    // The centre re-reads the site list at most once a second.
    await new Promise((r) => setTimeout(r, 1500));
    const clients: Proc[] = [];
    for (let n = 1; n <= SITES; n++) {
      const p = lab.node(lan[n]!, `clients${n}-${mode}`, 'bench/sites/client.ts', [String(n), String(CLIENTS), '100', String(TIMEOUT_S)], { stdin: true });
      await p.waitJson('ready', () => true, `site ${n} clients ready`);
      clients.push(p);
    }
    const before = Array.from({ length: SITES }, (_, i) => txBytes(cen, `wan${i + 1}`)).reduce((a, b) => a + b, 0);
    const udpBefore = udpCounters(cen);
    const t0 = performance.now();
    for (const p of clients) p.child.stdin!.write('go\n');
    const results = await Promise.all(clients.map((p, i) => p.waitJson<SiteResult>('site-result', () => true, `site ${i + 1} result`, TIMEOUT_S * 1000 + 10_000)));
    const seconds = (performance.now() - t0) / 1000;
    const after = Array.from({ length: SITES }, (_, i) => txBytes(cen, `wan${i + 1}`)).reduce((a, b) => a + b, 0);
    const udpAfter = udpCounters(cen);
    const udpDrops = (udpAfter.RcvbufErrors ?? 0) - (udpBefore.RcvbufErrors ?? 0);
    const row = {
      mode,
      seconds,
      ok: results.reduce((s, r) => s + r.ok, 0),
      failed: results.reduce((s, r) => s + r.failed, 0),
      delivered: results.reduce((s, r) => s + r.assetBytes + r.tftpBytes, 0),
      crossed: after - before,
      sites: results,
    };
    rows.push(row);
    console.log(`${mode}: ${row.ok}/${SITES * CLIENTS} clients booted in ${seconds.toFixed(1)} s; delivered ${(row.delivered / 1e9).toFixed(2)} GB; crossed to the centre ${(row.crossed / 1e9).toFixed(3)} GB; UDP datagrams the centre dropped for a full receive buffer: ${udpDrops}`);
    for (const r of results) {
      console.log(`  site ${r.site}: ${r.ok} ok, ${r.failed} failed in ${(r.ms / 1000).toFixed(1)} s; median ms dhcp ${r.medianPhaseMs.dhcp} tftp ${r.medianPhaseMs.tftp} scripts ${r.medianPhaseMs.ipxe} assets ${r.medianPhaseMs.assets}; assets from ${r.assetHosts.join(', ')}${r.errors.length ? `; errors: ${r.errors.join(' | ')}` : ''}`);
    }
  }

  console.log(`\nbench/sites: ${SITES} sites × ${CLIENTS} clients booting at once, ${MB} MiB of kernel+initrd each, loader ${72} KiB over TFTP, WAN links ${WAN_MBIT > 0 ? `capped at ${WAN_MBIT} Mbit/s each way` : 'uncapped'}`);
  console.log('mode      clients  failed  seconds  delivered GB  crossed to centre GB  crossed/delivered');
  for (const r of rows) {
    console.log(`${r.mode.padEnd(9)} ${String(r.ok).padStart(7)} ${String(r.failed).padStart(7)} ${r.seconds.toFixed(1).padStart(8)} ${(r.delivered / 1e9).toFixed(2).padStart(13)} ${(r.crossed / 1e9).toFixed(3).padStart(21)} ${(r.crossed / Math.max(1, r.delivered)).toFixed(4).padStart(18)}`);
  }
  const c = rows.find((r) => r.mode === 'cached');
  const d = rows.find((r) => r.mode === 'direct');
  if (c && d) console.log(`site caches: ${(d.crossed / Math.max(1, c.crossed)).toFixed(1)}× fewer bytes to the centre, boot time ratio cached/direct ${(c.seconds / d.seconds).toFixed(2)}`);
  console.log(JSON.stringify({ type: 'bench-sites', sites: SITES, clients: CLIENTS, mb: MB, wanMbit: WAN_MBIT, rows: rows.map(({ sites, ...r }) => ({ ...r, perSite: sites })) }));
  if (rows.some((r) => r.failed > 0)) {
    process.exitCode = 1;
    // What the centre said while clients failed (warnings and errors only: --log-level warn).
    const log = join(tmpdir(), `chainboot-bench-sites-serve-${process.pid}.log`);
    writeFileSync(log, serve.lines.join('\n') + '\n');
    // And the site caches' own error logs, before the temp dir goes.
    for (const d of readdirSync(tmp).filter((n) => n.startsWith('nginx-'))) {
      const e = join(tmp, d, 'error.log');
      if (existsSync(e)) copyFileSync(e, `${log}.${d}.error.log`);
    }
    console.log(`some clients failed; the centre's log (${serve.lines.length} lines) is in ${log}`);
  }
  await serve.stop();
  for (const r of relays) await r.stop();
}

try {
  await main();
} finally {
  for (const c of caches) await c.close().catch(() => undefined);
  await lab.cleanup();
  rmSync(tmp, { recursive: true, force: true });
}
