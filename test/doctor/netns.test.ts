/**
 * The doctor's DHCP probe, for real, inside network namespaces this test
 * makes (root required: without it these tests fail with the reason, they do
 * not skip). The doctor only ever runs inside them: its broadcast never
 * reaches the host's interfaces.
 *
 *   doc ns: br0 10.96.0.1/24 (doctor; later chainboot's own proxyDHCP too)
 *     ├─ veth ── prx ns 10.96.0.2: dnsmasq as proxyDHCP (dhcp-range=…,proxy + pxe-service)
 *     └─ veth ── dhc ns 10.96.0.3: dnsmasq as a plain DHCP server
 *   nr ns: loopback only (doctor as an unprivileged user)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab, labProblem, type Proc } from '../dhcp/helpers/netns.js';
import { CLI, requireBuilt, run } from '../helpers/process.js';
import type { Check, Report } from '../../src/doctor/check.js';
import type { Responder } from '../../src/doctor/probe.js';

const problem = labProblem(['dnsmasq']);

const byId = (r: Report, id: string): Check => {
  const c = r.checks.find((x) => x.id === id);
  if (!c) throw new Error(`no check ${id} in ${r.checks.map((x) => x.id).join(', ')}`);
  return c;
};

describe('doctor in network namespaces', () => {
  const lab = new Lab('dr');
  let tmp: string;
  let doc: string;

  /** The built CLI inside a namespace; it ends by itself after its listening window. */
  async function doctorIn(ns: string, args: string[], asUser?: number): Promise<{ code: number; report: Report; stderr: string }> {
    const cmd = [process.execPath, CLI, 'doctor', '--json', '--data-dir', tmp, '--loader-root', tmp, ...args];
    const r = await run('ip', ['netns', 'exec', ns, ...(asUser !== undefined ? ['setpriv', `--reuid=${asUser}`, `--regid=${asUser}`, '--clear-groups', '--'] : []), ...cmd]);
    if (!r.stdout.startsWith('{')) throw new Error(`doctor printed no report (exit ${r.code}): ${r.stderr}`);
    return { code: r.code, report: JSON.parse(r.stdout) as Report, stderr: r.stderr };
  }

  beforeAll(async () => {
    if (problem) throw new Error(problem);
    requireBuilt();
    tmp = mkdtempSync(join(tmpdir(), 'chainboot-doctor-'));
    chmodSync(tmp, 0o755); // readable by the unprivileged run
    doc = lab.ns('doc');
    const prx = lab.ns('prx');
    const dhc = lab.ns('dhc');
    lab.ip('-n', doc, 'link', 'add', 'br0', 'type', 'bridge');
    lab.ip('-n', doc, 'addr', 'add', '10.96.0.1/24', 'dev', 'br0');
    lab.ip('-n', doc, 'link', 'set', 'br0', 'up');
    for (const [port, ns, addr] of [
      ['pp', prx, '10.96.0.2/24'],
      ['pd', dhc, '10.96.0.3/24'],
    ] as const) {
      lab.link({ ns: doc, ifname: port }, { ns, ifname: 'eth0', addr });
      lab.ip('-n', doc, 'link', 'set', port, 'master', 'br0');
    }
    const common = ['-k', '--conf-file=/dev/null', '--port=0', '--log-facility=-', '--log-dhcp', '--interface=eth0', '--bind-interfaces', '--dhcp-leasefile=/dev/null', '--pid-file='];
    const proxy = lab.spawn(prx, 'dnsmasq-proxy', '/usr/sbin/dnsmasq', [...common, '--dhcp-range=10.96.0.0,proxy', '--pxe-service=x86PC,Network boot,pxelinux', '--pxe-service=X86-64_EFI,EFI boot,grubx64.efi']);
    const dhcp = lab.spawn(dhc, 'dnsmasq-dhcp', '/usr/sbin/dnsmasq', [...common, '--no-ping', '--dhcp-range=10.96.0.100,10.96.0.150,255.255.255.0,1h']);
    await proxy.waitFor(/DHCP, proxy on subnet 10\.96\.0\.0/, 'dnsmasq proxyDHCP ready');
    await dhcp.waitFor(/DHCP, IP range 10\.96\.0\.100/, 'dnsmasq DHCP ready');
  });

  afterAll(async () => {
    await lab.cleanup();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('finds the other proxyDHCP and the DHCP server its PXE DISCOVER brings out', async () => {
    const { report } = await doctorIn(doc, ['--listen-seconds', '3']);
    const probe = byId(report, 'probe');
    const responders = (probe.data as { iface: string; responders: Responder[] }).responders;
    expect((probe.data as { iface: string }).iface).toBe('br0');

    const theirProxy = responders.find((r) => r.server === '10.96.0.2')!;
    expect(theirProxy).toMatchObject({ kind: 'proxy', self: false });
    const bios = theirProxy.offers.find((o) => o.arch === 0)!;
    expect(bios).toMatchObject({ address: null, vendorClass: 'PXEClient', menu: ['Network boot'] });
    expect(theirProxy.offers.some((o) => o.arch === 7)).toBe(true);

    const dhcpServer = responders.find((r) => r.server === '10.96.0.3')!;
    expect(dhcpServer).toMatchObject({ kind: 'dhcp', self: false });
    expect(dhcpServer.offers[0]!.address).toMatch(/^10\.96\.0\.(1[0-4]\d|150)$/);
    expect(responders).toHaveLength(2);

    expect(probe.detail).toContain('10.96.0.2: proxyDHCP (boot information only)');
    expect(probe.detail).toContain('10.96.0.3: DHCP server (gives addresses)');
    const conflict = byId(report, 'probe.proxy.10.96.0.2');
    expect(conflict.status).toBe('warn');
    expect(conflict.fix).toContain('stop the proxyDHCP on 10.96.0.2');
    expect(report.checks.some((c) => c.id.startsWith('probe.dhcp-boot'))).toBe(false);
    expect(report.checks.some((c) => c.id === 'probe.no-dhcp')).toBe(false);

    // Everything else seen from inside the namespace.
    expect(byId(report, 'address')).toMatchObject({ status: 'ok', data: { advertised: '10.96.0.1', iface: 'br0' } });
    for (const id of ['port.dhcp', 'port.proxy', 'port.tftp', 'port.http']) expect(byId(report, id).status).toBe('ok');
    expect(byId(report, 'relay').fix).toContain('ip helper-address 10.96.0.1');
  });

  it('tells its own running proxyDHCP apart from the others, and names the process on its ports', async () => {
    const ours: Proc = lab.node(doc, 'chainboot-proxy', 'test/dhcp/helpers/proxy-child.ts', [JSON.stringify({ httpBaseUrl: 'http://10.96.0.1:8080' })], { stdin: true });
    await ours.waitJson('listening', () => true, 'our proxyDHCP listening');
    try {
      const { report } = await doctorIn(doc, ['--listen-seconds', '3']);
      const responders = (byId(report, 'probe').data as { responders: Responder[] }).responders;
      const self = responders.find((r) => r.server === '10.96.0.1')!;
      expect(self).toMatchObject({ kind: 'proxy', self: true });
      expect(self.offers.find((o) => o.arch === 0)?.bootFile).toBe('undionly.kpxe');
      expect(self.offers.find((o) => o.arch === 7)?.bootFile).toBe('ipxe.efi');
      expect(report.checks.some((c) => c.id === 'probe.proxy.10.96.0.1')).toBe(false);
      expect(report.checks.some((c) => c.id === 'probe.proxy.10.96.0.2')).toBe(true);

      // `ip netns exec` execs the command: the holder's PID is the one we started.
      for (const id of ['port.dhcp', 'port.proxy']) {
        const holders = (byId(report, id).data as { holders: { pid: number; name: string }[] }).holders;
        expect(holders.map((h) => [h.pid, h.name])).toEqual([[ours.pid, 'node']]);
      }
      expect(byId(report, 'port.dhcp').status).toBe('warn');
    } finally {
      await ours.stop();
    }
  });

  it('as an unprivileged user: privileged ports need root or CAP_NET_BIND_SERVICE, said with the fix', async () => {
    // A fresh namespace has the kernel's default ip_unprivileged_port_start (1024), whatever the host's is.
    const nr = lab.ns('nr');
    const { code, report } = await doctorIn(nr, ['--no-probe', '--dhcp', 'off', '--tftp-port', '69', '--http-port', '0'], 65534);
    expect(code).toBe(1);
    const priv = byId(report, 'privileges');
    expect(priv.status).toBe('warn');
    expect(priv.detail).toContain('running as uid 65534 without CAP_NET_BIND_SERVICE: ports 69 are below 1024');
    const tftp = byId(report, 'port.tftp');
    expect(tftp.status).toBe('fail');
    expect((tftp.data as { bind: { code: string } }).bind.code).toBe('EACCES');
    expect(tftp.fix).toContain('setcap cap_net_bind_service=+ep $(readlink -f $(which node))');
    // No interface but loopback there: nothing to advertise.
    expect(byId(report, 'address').status).toBe('fail');
  });
});
