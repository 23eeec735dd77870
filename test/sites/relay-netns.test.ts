/**
 * A remote site reaching the centre through a DHCP relay (issue 10), in
 * network namespaces this test makes (root required: without it the test
 * fails with the reason). The real `chainboot serve` runs in the centre.
 *
 *   cen ns: chainboot (proxyDHCP 67, HTTP 8080), wan0 10.94.1.1/24 and the
 *           address the site reaches it on, 10.94.9.1; a second interface,
 *           aaa0 10.94.200.1, listed first (the relay is reached through wan0)
 *   rly ns: dnsmasq --dhcp-relay, up0 10.94.1.254 ── down0 10.95.0.1 (giaddr), forwarding
 *   cli ns: the site's client LAN, eth0 10.95.0.50/24, default route via the relay
 *
 * The site "branch" lists the relay and the subnet, overrides the EFI x64
 * loader (snponly.efi), names the centre's address as the site reaches it and
 * a site cache for assets. The test checks what a client behind the relay is
 * offered, what its iPXE entry script and boot script say, and that the boot
 * events carry the site.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab, labProblem, type Proc } from '../dhcp/helpers/netns.js';
import { CLI, requireBuilt, run } from '../helpers/process.js';
import { udhcpcOffer } from '../helpers/udhcpc.js';

const CENTRE = '10.94.1.1';
const PUBLIC = '10.94.9.1';
const GIADDR = '10.95.0.1';
const TOKEN = 'relay-netns-test-token-0123456789';
const GUID_HEX = '00' + '4c4c454400103380' + '4db8c04f394e3132';
const MAC = '52:54:00:95:00:50';

const problem = labProblem(['dnsmasq', 'udhcpc']);

describe('a site behind a DHCP relay', () => {
  const lab = new Lab('s');
  let tmp: string;
  let cen: string, rly: string, cli: string;
  let serve: Proc;
  let relay: Proc;

  beforeAll(async () => {
    if (problem) throw new Error(problem);
    requireBuilt();
    tmp = mkdtempSync(join(tmpdir(), 'chainboot-site-relay-'));
    chmodSync(tmp, 0o755);
    const data = join(tmp, 'data');
    const assets = join(tmp, 'assets');
    mkdirSync(join(assets, 'k'), { recursive: true });
    writeFileSync(join(assets, 'k', 'vmlinuz'), 'kernel');
    const cb = async (...args: string[]) => {
      const r = await run(process.execPath, [CLI, ...args, '--data-dir', data]);
      if (r.code !== 0) throw new Error(`chainboot ${args.join(' ')}: ${r.stderr}`);
    };
    await cb('profiles', 'add', 'deb', '--kind', 'linux', '--kernel', 'k/vmlinuz');
    await cb('hosts', 'add', MAC, '--profile', 'deb');
    await cb('sites', 'add', 'branch', '--relay', GIADDR, '--subnet', '10.95.0.0/24', '--loader', 'efi64=snponly.efi', '--boot-base-url', `http://${PUBLIC}:8080`, '--asset-base-url', 'http://10.95.0.5:8081/assets');

    cen = lab.ns('cen');
    rly = lab.ns('rly');
    cli = lab.ns('cli');
    lab.link({ ns: cen, ifname: 'wan0', addr: `${CENTRE}/24` }, { ns: rly, ifname: 'up0', addr: '10.94.1.254/24' });
    lab.ip('-n', cen, 'addr', 'add', `${PUBLIC}/32`, 'dev', 'wan0');
    lab.link({ ns: rly, ifname: 'down0', addr: `${GIADDR}/24` }, { ns: cli, ifname: 'eth0', addr: '10.95.0.50/24' });
    // Routes between our own namespaces only; nothing leads out of them.
    lab.ip('-n', cen, 'route', 'add', '10.95.0.0/24', 'via', '10.94.1.254');
    lab.ip('-n', rly, 'route', 'add', `${PUBLIC}/32`, 'via', CENTRE);
    lab.ip('-n', cli, 'route', 'add', 'default', 'via', GIADDR);
    lab.exec(rly, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    // A second interface that sorts first: the centre must not just advertise its first
    // address to a relay it reaches through another one (no advertiseIp is set).
    lab.link({ ns: cen, ifname: 'aaa0', addr: '10.94.200.1/24' }, { ns: lab.ns('oth'), ifname: 'eth0' });

    serve = lab.spawn(cen, 'serve', process.execPath, [CLI, 'serve', '--data-dir', data, '--http-port', '8080', '--tftp', 'off', '--dhcp', 'on', '--base-url', `http://${CENTRE}:8080`, '--asset-root', assets, '--loader-root', join(tmp, 'loaders'), '--admin-token', TOKEN]);
    await serve.waitFor(/proxyDHCP listening/, 'proxyDHCP listening');
    relay = lab.spawn(rly, 'relay', '/usr/sbin/dnsmasq', ['-k', '--conf-file=/dev/null', '--port=0', '--log-facility=-', '--log-dhcp', `--dhcp-relay=${GIADDR},${CENTRE}`, '--interface=down0', `--pid-file=${join(tmp, 'relay.pid')}`]);
    await relay.waitFor(/DHCP relay from 10\.95\.0\.1 to 10\.94\.1\.1/, 'relay ready');
  }, 60_000);

  afterAll(async () => {
    await lab.cleanup();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  /** One DHCP exchange by busybox udhcpc in the client namespace; the relayed proxy offer as the client saw it. */
  const offerFor = (label: string, extra: string[]) => udhcpcOffer(lab, cli, { dir: tmp, label, serverId: CENTRE, args: ['-B', '-x', `0x61:${GUID_HEX}`, ...extra] });

  const inCli = async (url: string) => {
    const r = await run('ip', ['netns', 'exec', cli, 'curl', '-sS', '--fail', '--max-time', '10', url]);
    if (r.code !== 0) throw new Error(`curl ${url} from the site: ${r.stderr}`);
    return r.stdout;
  };

  async function events(): Promise<{ kind: string; result: string; detail: Record<string, unknown> | null }[]> {
    const r = await run('ip', ['netns', 'exec', cen, 'curl', '-sS', '--fail', '-H', `Authorization: Bearer ${TOKEN}`, `http://127.0.0.1:8080/api/v1/events?limit=100`]);
    if (r.code !== 0) throw new Error(`events: ${r.stderr}`);
    return JSON.parse(r.stdout) as { kind: string; result: string; detail: Record<string, unknown> | null }[];
  }

  it('an EFI x64 PXE client behind the relay is offered the site’s loader, and the event names the site', async () => {
    const offer = await offerFor('efi', ['-V', 'PXEClient:Arch:00007:UNDI:003000', '-x', '0x5d:0007']);
    expect(offer.giaddr).toBe(GIADDR);
    expect(offer.file).toBe('snponly.efi');
    expect(offer.siaddr).toBe(CENTRE);
    const ev = (await events()).find((e) => e.kind === 'dhcp' && (e.detail as { xid?: number } | null)?.xid === offer.xid && e.result.startsWith('offer'));
    expect(ev?.detail).toMatchObject({ site: 'branch', giaddr: GIADDR, bootFile: 'snponly.efi', firmware: 'efi64' });
  });

  it('a BIOS PXE client keeps the server’s loader (the site overrides only EFI x64)', async () => {
    const offer = await offerFor('bios', ['-V', 'PXEClient:Arch:00000:UNDI:002001', '-x', '0x5d:0000']);
    expect(offer.file).toBe('undionly.kpxe');
  });

  it('iPXE behind the relay is sent to the centre as the site reaches it; its scripts fetch assets from the site cache', async () => {
    // Option 77 "iPXE", as iPXE sends it.
    const offer = await offerFor('ipxe', ['-V', 'PXEClient:Arch:00000:UNDI:002001', '-x', '0x5d:0000', '-x', `0x4d:${Buffer.from('iPXE').toString('hex')}`]);
    const bootFile = Buffer.from(offer.options['67'] ?? '', 'hex').toString('latin1');
    expect(bootFile).toBe(`http://${PUBLIC}:8080/boot.ipxe`);

    const entry = await inCli(bootFile);
    expect(entry).toContain(`http://${PUBLIC}:8080/ipxe?`);
    const boot = await inCli(`http://${PUBLIC}:8080/ipxe?mac=${MAC}`);
    expect(boot).toMatch(/^kernel http:\/\/10\.95\.0\.5:8081\/assets\/k\/vmlinuz\?v=[A-Za-z0-9_-]{24}\b/m);
    const evs = await events();
    expect(evs.find((e) => e.kind === 'script')?.detail).toMatchObject({ site: 'branch' });
    expect(evs.find((e) => e.kind === 'entry')?.detail).toMatchObject({ site: 'branch' });
  });
});
