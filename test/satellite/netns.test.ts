/**
 * A centre and a site satellite, both the built `chainboot serve`, in network
 * namespaces this test makes (root required: without it the test fails with
 * the reason, it does not skip), with real DHCP, TFTP and HTTP clients:
 *
 *   centre ns (10.95.0.1, 10.95.0.10) ── veth "WAN" ── satellite ns (10.95.0.2)
 *                                                      br0 10.96.0.1/24 ── veth ── client ns (10.96.0.50)
 *
 * The satellite routes the site's LAN to the centre; broadcasts stay on the
 * LAN, so only the satellite's proxyDHCP hears the client.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab, labProblem, type Proc } from '../dhcp/helpers/netns.js';
import { CLI, requireBuilt, run } from '../helpers/process.js';
import { bootServerRequest, CLIENTS, rawRequest } from '../dhcp/helpers/wire.js';
import { udhcpcOffer, writeScript } from '../helpers/udhcpc.js';

const CENTRE = '10.95.0.1';
/** The centre's second address: the URL the site "branch" reaches it by (its bootBaseUrl). */
const CENTRE_SITE_URL = 'http://10.95.0.10:8080';
const SATELLITE = '10.96.0.1';
const CLIENT_IP = '10.96.0.50';
const CLIENT_MAC = '52:54:00:96:00:50';
const SAT_TOKEN = 'satellite-token-for-the-netns-test';
const ADMIN = 'admin-token-for-the-netns-test-0123';
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');


const problem = labProblem(['udhcpc']);

describe('site satellite in network namespaces', () => {
  const lab = new Lab('s');
  let tmp: string;
  let centreNs: string, satNs: string, cliNs: string;
  let centreData: string, centreLoaders: string, satData: string;
  let centre: Proc;
  let satellite: Proc;
  const undionly = randomBytes(100_000);
  const ipxeEfi = randomBytes(150_000);

  const curl = async (ns: string, args: string[]) => {
    const r = await run('ip', ['netns', 'exec', ns, 'curl', '-sS', '--max-time', '5', ...args]);
    return r;
  };
  const get = async (ns: string, url: string, headers: string[] = []) => {
    const r = await curl(ns, ['-w', '\n%{http_code}', ...headers.flatMap((h) => ['-H', h]), url]);
    const nl = r.stdout.lastIndexOf('\n');
    return { status: Number(r.stdout.slice(nl + 1)), body: r.stdout.slice(0, nl), stderr: r.stderr };
  };
  /** A request to the centre from the satellite's namespace (across the "WAN"). */
  const toCentre = async (path: string, token: string, method = 'GET', body?: unknown) => {
    const args = ['-w', '\n%{http_code}', '-X', method, '-H', `Authorization: Bearer ${token}`];
    if (body !== undefined) args.push('-H', 'Content-Type: application/json', '--data-binary', typeof body === 'string' ? body : JSON.stringify(body));
    const r = await curl(satNs, [...args, `http://${CENTRE}:8080${path}`]);
    const nl = r.stdout.lastIndexOf('\n');
    return { status: Number(r.stdout.slice(nl + 1)), body: r.stdout.slice(0, nl), stderr: r.stderr };
  };
  const api = (path: string, method = 'GET', body?: unknown) => toCentre(`/api/v1${path}`, ADMIN, method, body);
  /** Polls until check() gives a value (or the deadline passes: then fails with the last observation). */
  async function until<T>(what: string, deadlineMs: number, check: () => Promise<T | undefined>): Promise<{ value: T; ms: number }> {
    const t0 = performance.now();
    let last: unknown;
    for (;;) {
      try {
        const v = await check();
        if (v !== undefined) return { value: v, ms: performance.now() - t0 };
      } catch (err) {
        last = err;
      }
      if (performance.now() - t0 > deadlineMs) throw new Error(`${what}: not within ${deadlineMs} ms${last ? ` (last: ${String(last)})` : ''}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  function startCentre(label: string): Proc {
    return lab.spawn(centreNs, label, process.execPath, [
      CLI, 'serve',
      '--data-dir', centreData,
      '--http-host', '0.0.0.0',
      '--http-port', '8080',
      '--advertise-ip', CENTRE,
      '--dhcp', 'off',
      '--tftp', 'off',
      '--loader-root', centreLoaders,
      '--admin-token', ADMIN,
      '--satellite-token', SAT_TOKEN,
      '--log-level', 'info',
    ]);
  }

  beforeAll(async () => {
    if (problem) throw new Error(problem);
    requireBuilt();
    tmp = mkdtempSync(join(tmpdir(), 'chainboot-sat-'));
    chmodSync(tmp, 0o755);
    centreData = join(tmp, 'centre');
    centreLoaders = join(tmp, 'centre-loaders');
    satData = join(tmp, 'satellite');
    for (const d of [centreData, centreLoaders, satData]) mkdirSync(d);
    writeFileSync(join(centreLoaders, 'undionly.kpxe'), undionly);
    writeFileSync(join(centreLoaders, 'ipxe.efi'), ipxeEfi);

    centreNs = lab.ns('c');
    satNs = lab.ns('sat');
    cliNs = lab.ns('cli');
    lab.link({ ns: centreNs, ifname: 'wan0', addr: `${CENTRE}/24` }, { ns: satNs, ifname: 'wan0', addr: '10.95.0.2/24' });
    lab.ip('-n', centreNs, 'addr', 'add', '10.95.0.10/24', 'dev', 'wan0');
    lab.ip('-n', satNs, 'link', 'add', 'br0', 'type', 'bridge');
    lab.ip('-n', satNs, 'addr', 'add', `${SATELLITE}/24`, 'dev', 'br0');
    lab.ip('-n', satNs, 'link', 'set', 'br0', 'up');
    lab.link({ ns: satNs, ifname: 'pc' }, { ns: cliNs, ifname: 'eth0' });
    lab.ip('-n', satNs, 'link', 'set', 'pc', 'master', 'br0');
    lab.ip('-n', cliNs, 'link', 'set', 'eth0', 'address', CLIENT_MAC);
    lab.ip('-n', cliNs, 'addr', 'add', `${CLIENT_IP}/24`, 'dev', 'eth0');
    lab.ip('-n', cliNs, 'route', 'add', 'default', 'via', SATELLITE);
    lab.ip('-n', centreNs, 'route', 'add', '10.96.0.0/24', 'via', '10.95.0.2');
    // The site's router: the satellite's namespace forwards between the LAN and the WAN (its own sysctl).
    lab.exec(satNs, 'sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1']);

    centre = startCentre('centre');
    await centre.waitFor(/HTTP listening/, 'the centre listening');
    // The site and the client's host exist at the centre before the satellite starts.
    const site = await api('/sites', 'POST', { name: 'branch', subnets: ['10.96.0.0/24'], bootBaseUrl: CENTRE_SITE_URL });
    expect(site.status, site.body).toBe(201);
    const host = await api('/hosts', 'POST', { mac: CLIENT_MAC, hostname: 'branch-pc' });
    expect(host.status, host.body).toBe(201);

    satellite = lab.spawn(satNs, 'satellite', process.execPath, [
      CLI, 'serve',
      '--role', 'satellite',
      '--upstream', `http://${CENTRE}:8080`,
      '--satellite-token', SAT_TOKEN,
      '--site', 'branch',
      '--data-dir', satData,
      '--advertise-ip', SATELLITE,
      '--http-port', '8080',
      '--dhcp', 'on',
      '--tftp', 'on',
      '--tftp-fallback-port', 'off',
      '--log-level', 'info',
    ]);
    await satellite.waitFor(/HTTP listening/, 'the satellite listening');
    await satellite.waitFor(/proxyDHCP listening/, 'the satellite proxyDHCP listening');
    await satellite.waitFor(/loader undionly\.kpxe updated from the centre/, 'the first loader sync');
    await satellite.waitFor(/site \\"branch\\" overrides from the centre applied/, 'the site overrides');
  }, 60_000);

  afterAll(async () => {
    await lab.cleanup();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  const script = (name: string, body: string) => writeScript(tmp, name, body);

  /** busybox udhcpc in the client namespace; resolves with the satellite's proxy offer as the client saw it. */
  const offerFor = (label: string, extra: string[]) =>
    udhcpcOffer(lab, cliNs, { dir: tmp, label, serverId: SATELLITE, args: ['-V', 'PXEClient:Arch:00000:UNDI:002001', '-x', '0x5d:0000', '-x', `0x61:00${'11'.repeat(16)}`, ...extra] });

  it('(a) a PXE client gets its loader from the satellite, over TFTP byte for byte the centre’s copy', async () => {
    const offer = await offerFor('pxe', []);
    expect(offer).toMatchObject({ siaddr: SATELLITE, file: 'undionly.kpxe', vendorClass: 'PXEClient' });
    // Firmware that asks the boot server again on 4011 (EDK2 does) from its new address, encoded by the test's own encoder:
    // the satellite learns which MAC is behind the address, so the TFTP step names the host.
    const req = rawRequest({ ...bootServerRequest(CLIENTS.bios(), CLIENT_IP, [0, 0]), mac: CLIENT_MAC }).toString('hex');
    const send = lab.node(cliNs, 'send4011', 'test/dhcp/helpers/send-request.ts', [`${SATELLITE}:4011`, req]);
    const ack = await send.waitJson<{ msg: number; from: string; file: string }>('reply', () => true, 'the ACK from the satellite’s port 4011');
    expect(ack).toMatchObject({ msg: 5, from: `${SATELLITE}:4011`, file: 'undionly.kpxe' });
    const out = join(tmp, 'undionly.got');
    const r = await run('ip', ['netns', 'exec', cliNs, 'curl', '-sS', '--max-time', '10', '-o', out, `tftp://${SATELLITE}/undionly.kpxe`]);
    expect(r.code, r.stderr).toBe(0);
    expect(sha(readFileSync(out))).toBe(sha(undionly));
    // Over the satellite's HTTP too (UEFI HTTP Boot clients are sent there).
    const http = await run('ip', ['netns', 'exec', cliNs, 'curl', '-sS', '--max-time', '10', '-o', out, `http://${SATELLITE}:8080/loaders/ipxe.efi`]);
    expect(http.code, http.stderr).toBe(0);
    expect(sha(readFileSync(out))).toBe(sha(ipxeEfi));
  });

  it('(b) an iPXE client is sent to the satellite’s /boot.ipxe, which chains to the centre at the site’s URL', async () => {
    const offer = await offerFor('ipxe', ['-x', '0x4d:69505845']);
    expect(offer.file).toBe(`http://${SATELLITE}:8080/boot.ipxe`);
    const entry = await get(cliNs, offer.file);
    expect(entry.status).toBe(200);
    expect(entry.body).toContain(`\nchain --autofree ${CENTRE_SITE_URL}/boot.ipxe || goto failed\n`);
    // Followed as iPXE would, from the client, through the site's router: the centre's entry script, for this site.
    const centreEntry = await get(cliNs, `${CENTRE_SITE_URL}/boot.ipxe`);
    expect(centreEntry.status).toBe(200);
    expect(centreEntry.body).toContain(`chain --autofree ${CENTRE_SITE_URL}/ipxe?mac=\${netX/mac:hexhyp}`);
    // The generated autoexec.ipxe (stock iPXE asks its TFTP server for it) points at the satellite too.
    const auto = await run('ip', ['netns', 'exec', cliNs, 'curl', '-sS', '--max-time', '5', `tftp://${SATELLITE}/autoexec.ipxe`]);
    expect(auto.stdout).toBe(`#!ipxe\nchain http://${SATELLITE}:8080/boot.ipxe\n`);
  });

  it('(e) the satellite’s DHCP and TFTP steps show in the centre’s timeline of that host, named by the site, with one boot id', async () => {
    const { value: steps } = await until('satellite events in the centre’s timeline', 15_000, async () => {
      const r = await api(`/hosts/${CLIENT_MAC}/timeline`);
      const list = JSON.parse(r.body) as { source: string; what: string; result: string; detail: Record<string, unknown> | null }[];
      const fromSite = list.filter((s) => s.detail?.satellite === 'branch');
      const has = (source: string, what: RegExp) => fromSite.some((s) => s.source === source && what.test(`${s.what} => ${s.result}`));
      return has('dhcp', /=> offer undionly\.kpxe$/) && has('dhcp', /=> ack undionly\.kpxe$/) && has('tftp', /undionly\.kpxe/) && has('dhcp', /=> offer http:\/\/10\.96\.0\.1:8080\/boot\.ipxe$/) ? fromSite : undefined;
    });
    expect(steps.every((s) => s.detail!.satellite === 'branch')).toBe(true);
    // One boot id across the DHCP and TFTP steps of the first boot, as on the centre.
    const ack = steps.find((s) => s.source === 'dhcp' && s.result === 'ack undionly.kpxe')!;
    const tftp = steps.find((s) => s.source === 'tftp')!;
    expect(ack.detail!.boot).toMatch(/^[0-9a-f]{8}$/);
    expect(tftp.detail!.boot).toBe(ack.detail!.boot);
  });

  it('(e) the centre refuses a wrong satellite token (401) and a bad event batch (400, nothing written)', async () => {
    const wrong = await toCentre('/satellite/v1/loaders', 'not-the-token-0123456789');
    expect(wrong.status).toBe(401);
    expect((await toCentre('/satellite/v1/loaders', SAT_TOKEN)).status).toBe(200);
    // Other events arrive meanwhile (the satellite keeps reporting): look for this batch's own marker.
    const marker = `DISCOVER marker-${randomBytes(4).toString('hex')}`;
    const written = async () => (JSON.parse((await api(`/events?mac=${CLIENT_MAC}&limit=1000`)).body) as { request: string }[]).filter((e) => e.request === marker).length;
    const good = { at: Date.now(), mac: CLIENT_MAC, clientIp: CLIENT_IP, kind: 'dhcp', request: marker, result: 'offer', status: 200, detail: null };
    const bad = await toCentre('/satellite/v1/events', SAT_TOKEN, 'POST', { satellite: 'branch', events: [good, { ...good, request: 'DISCOVER\nchain http://evil/' }] });
    expect(bad.status).toBe(400);
    expect(bad.body).toContain('refused, nothing written');
    expect(await written()).toBe(0);
    // The same good event alone is taken: the check above would have seen it.
    const ok = await toCentre('/satellite/v1/events', SAT_TOKEN, 'POST', { satellite: 'branch', events: [good] });
    expect(ok.status).toBe(202);
    expect(await written()).toBe(1);
  });

  it('(c) the centre stopped: within 2 s the satellite sends clients to their local disk and is not ready; the centre back: chains again', async () => {
    const t0 = performance.now();
    const stopped = centre.stop();
    const down = await until('the satellite’s fail-safe entry script', 2000, async () => {
      const r = await get(cliNs, `http://${SATELLITE}:8080/boot.ipxe`);
      return r.status === 200 && /\nexit\n/.test(r.body) && !/^chain /m.test(r.body) ? r.body : undefined;
    });
    const switchMs = performance.now() - t0;
    console.log(`satellite fail-safe: local-disk script ${switchMs.toFixed(0)} ms after the centre was sent SIGTERM`);
    expect(down.value).toContain('echo chainboot satellite: the centre is unreachable');
    expect(down.value).toContain('echo chainboot satellite: booting the local disk');
    const ready = await get(cliNs, `http://${SATELLITE}:8080/readyz`);
    expect(ready.status).toBe(503);
    expect(ready.body).toContain('centre unreachable: clients are sent to their local disk');
    const health = JSON.parse((await get(cliNs, `http://${SATELLITE}:8080/healthz`)).body) as { role: string; upstream: { up: boolean; lastError: string } };
    expect(health).toMatchObject({ role: 'satellite', upstream: { up: false } });
    const metrics = await get(cliNs, `http://${SATELLITE}:8080/metrics`);
    expect(metrics.body).toContain('\nchainboot_satellite_upstream_up 0\n');
    await satellite.waitFor((l) => l.includes('"level":40') && l.includes('unreachable'), 'the warning that the centre is down');
    // PXE firmware still gets its loader from the satellite's local copy.
    const out = join(tmp, 'undionly.down');
    const tftp = await run('ip', ['netns', 'exec', cliNs, 'curl', '-sS', '--max-time', '10', '-o', out, `tftp://${SATELLITE}/undionly.kpxe`]);
    expect(tftp.code, tftp.stderr).toBe(0);
    expect(sha(readFileSync(out))).toBe(sha(undionly));
    await stopped;

    centre = startCentre('centre-again');
    await centre.waitFor(/HTTP listening/, 'the centre listening again');
    const t1 = performance.now();
    const up = await until('the satellite chaining to the centre again', 5000, async () => {
      const r = await get(cliNs, `http://${SATELLITE}:8080/boot.ipxe`);
      return /^chain --autofree /m.test(r.body) ? r.body : undefined;
    });
    console.log(`satellite back to normal: chain script ${(performance.now() - t1).toFixed(0)} ms after the centre listened again`);
    expect(up.value).toContain(`chain --autofree ${CENTRE_SITE_URL}/boot.ipxe`);
    expect((await get(cliNs, `http://${SATELLITE}:8080/readyz`)).status).toBe(200);
    // Logged once per change: reachable at start, unreachable, reachable again.
    const transitions = satellite.lines.filter((l) => l.includes('"svc":"upstream"')).map((l) => JSON.parse(l) as { level: number; msg: string });
    expect(transitions.map((t) => [t.level, /unreachable/.test(t.msg) ? 'down' : 'up'])).toEqual([
      [30, 'up'],
      [40, 'down'],
      [30, 'up'],
    ]);
  });

  it('(d) a loader replaced at the centre is served by the satellite after a sync (SIGHUP)', async () => {
    const next = randomBytes(120_000);
    writeFileSync(join(centreLoaders, '.undionly.new'), next);
    renameSync(join(centreLoaders, '.undionly.new'), join(centreLoaders, 'undionly.kpxe'));
    process.kill(satellite.pid, 'SIGHUP');
    const out = join(tmp, 'undionly.new');
    const { ms } = await until('the new undionly.kpxe over the satellite’s TFTP', 15_000, async () => {
      const r = await run('ip', ['netns', 'exec', cliNs, 'curl', '-sS', '--max-time', '10', '-o', out, `tftp://${SATELLITE}/undionly.kpxe`]);
      return r.code === 0 && sha(readFileSync(out)) === sha(next) ? true : undefined;
    });
    console.log(`satellite loader sync: new undionly.kpxe served ${ms.toFixed(0)} ms after SIGHUP`);
    const health = JSON.parse((await get(cliNs, `http://${SATELLITE}:8080/healthz`)).body) as { loaderSync: { ok: boolean; refused: number } };
    expect(health.loaderSync).toMatchObject({ ok: true, refused: 0 });
  });

  it('(f) host modes and the site’s loader override from the centre reach the satellite’s proxyDHCP', async () => {
    expect((await api(`/hosts/${CLIENT_MAC}`, 'PATCH', { dhcpMode: 'ignore' })).status).toBe(200);
    const patched = await api('/sites/branch', 'PATCH', { loaders: { bios: 'ipxe.pxe' } });
    expect(patched.status, patched.body).toBe(200);
    process.kill(satellite.pid, 'SIGHUP');
    await until('the satellite holding the new host mode and site override', 10_000, async () => {
      const h = JSON.parse((await get(cliNs, `http://${SATELLITE}:8080/healthz`)).body) as { hosts: { count: number }; siteOverrides: { loaders: Record<string, string> } | null };
      return h.hosts.count === 1 && h.siteOverrides?.loaders.bios === 'ipxe.pxe' ? true : undefined;
    });
    // The ignored host is left alone (its DISCOVER logged as such)…
    const sh = script('ignored.sh', 'echo "udhcpc-script $1"');
    const udhcpc = lab.spawn(cliNs, 'udhcpc-ignored', 'busybox', ['udhcpc', '-f', '-i', 'eth0', '-s', sh, '-V', 'PXEClient:Arch:00000:UNDI:002001', '-x', '0x5d:0000', '-t', '3', '-T', '1', '-n']);
    const line = await satellite.waitFor((l) => l.includes(CLIENT_MAC) && l.includes('host-ignored'), 'the ignored host’s DISCOVER at the satellite');
    expect(line).toContain('not answered (host-ignored)');
    await udhcpc.stop();
    // …and another machine gets the site's BIOS loader.
    lab.ip('-n', cliNs, 'link', 'set', 'eth0', 'address', '52:54:00:96:00:51');
    const offer = await offerFor('site-loader', []);
    expect(offer.file).toBe('ipxe.pxe');
  });
});
