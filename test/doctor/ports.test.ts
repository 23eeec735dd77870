/**
 * The built CLI's port checks against ports held by processes this test
 * starts, on ephemeral ports moved there with the ordinary settings
 * (--dhcp-port, --proxy-dhcp-port, --tftp-port, --http-port). No probe: this
 * runs in the host's network namespace and must not broadcast.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Proc } from '../dhcp/helpers/netns.js';
import { CLI, requireBuilt, run, startServe, type Served } from '../helpers/process.js';
import type { Check, Report } from '../../src/doctor/check.js';

interface PortData {
  port: number;
  bind?: { ok: boolean; code?: string };
  holders: { pid: number; name: string; command: string }[];
}

// Three UDP sockets and a TCP listener on ports the kernel picks, held until SIGTERM.
const HOLDER = `
const dgram = require('node:dgram'), net = require('node:net');
const udp = () => new Promise((ok) => { const s = dgram.createSocket('udp4'); s.bind(0, '0.0.0.0', () => ok(s)); });
(async () => {
  const socks = [await udp(), await udp(), await udp()];
  const srv = net.createServer().listen(0, '0.0.0.0', () => {
    console.log(JSON.stringify({ type: 'ports', udp: socks.map((s) => s.address().port), tcp: srv.address().port }));
  });
  process.on('SIGTERM', () => process.exit(0));
})();
`;

function doctor(args: string[]) {
  const dir = mkdtempSync(join(tmpdir(), 'chainboot-doctor-'));
  return run(process.execPath, [CLI, 'doctor', '--json', '--no-probe', '--data-dir', dir, '--loader-root', dir, ...args]);
}

const byId = (r: Report, id: string): Check => {
  const c = r.checks.find((x) => x.id === id);
  if (!c) throw new Error(`no check ${id} in ${r.checks.map((x) => x.id).join(', ')}`);
  return c;
};

describe('doctor: who holds the ports', () => {
  let holder: Proc;
  let ports: { udp: number[]; tcp: number };

  beforeAll(async () => {
    requireBuilt();
    holder = new Proc('holder', spawn(process.execPath, ['-e', HOLDER], { stdio: ['ignore', 'pipe', 'pipe'] }));
    ports = await holder.waitJson<{ udp: number[]; tcp: number }>('ports', () => true, 'the held ports');
  });

  afterAll(async () => {
    await holder?.stop();
  });

  it('names the process and PID behind each taken port, and fails the run', async () => {
    const [dhcpPort, proxyPort, tftpPort] = ports.udp as [number, number, number];
    const r = await doctor(['--dhcp-port', String(dhcpPort), '--proxy-dhcp-port', String(proxyPort), '--tftp-port', String(tftpPort), '--http-port', String(ports.tcp)]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout) as Report;
    for (const [id, port] of [
      ['port.dhcp', dhcpPort],
      ['port.proxy', proxyPort],
      ['port.tftp', tftpPort],
      ['port.http', ports.tcp],
    ] as const) {
      const c = byId(report, id);
      const data = c.data as PortData;
      expect(data.port).toBe(port);
      expect(data.bind).toMatchObject({ ok: false, code: 'EADDRINUSE' });
      expect(data.holders.map((h) => [h.pid, h.name])).toEqual([[holder.pid, 'node']]);
      expect(c.detail).toContain(`node (pid ${holder.pid}`);
      expect(c.fix).toContain(`kill ${holder.pid}`);
    }
    // The DHCP port taken is the supported "DHCP server on this host" case; the others stop a boot.
    expect(byId(report, 'port.dhcp').status).toBe('warn');
    expect(byId(report, 'port.proxy').status).toBe('fail');
    expect(byId(report, 'port.tftp').status).toBe('fail');
    expect(byId(report, 'port.http')).toMatchObject({ status: 'fail', name: `TCP ${ports.tcp} (HTTP)` });
    expect(byId(report, 'port.http').fix).toContain('--http-port');
    expect(report.ok).toBe(false);
  });

  it('prints the same findings as text, the fix under each', async () => {
    const r = await run(process.execPath, [CLI, 'doctor', '--no-probe', '--dhcp', 'off', '--tftp', 'off', '--http-port', String(ports.tcp), '--loader-root', tmpdir()]);
    expect(r.code).toBe(1);
    const text = r.stdout;
    expect(text).toContain(`[FAIL] TCP ${ports.tcp} (HTTP): in use by node (pid ${holder.pid}: `);
    expect(text).toMatch(new RegExp(`\\n {7}fix: stop node \\(systemctl stop <its unit>, or kill ${holder.pid}\\), or choose another port with --http-port\\n`));
    expect(text).toContain('[ok  ] UDP 67 (proxyDHCP): not checked: proxyDHCP is off (--dhcp off)');
    expect(text).toMatch(/\n\d+ checks ok, \d+ warnings?, \d+ failures?\n$/);
  });
});

describe('doctor: a running chainboot', () => {
  let served: Served | undefined;
  afterAll(async () => {
    await served?.stop();
  });

  it('reports its own HTTP port as held by chainboot serve, not as a problem', async () => {
    served = await startServe();
    const r = await doctor(['--dhcp', 'off', '--tftp', 'off', '--http-host', '127.0.0.1', '--http-port', String(served.port)]);
    const report = JSON.parse(r.stdout) as Report;
    const http = byId(report, 'port.http');
    expect(http.status).toBe('ok');
    expect(http.detail).toContain(`in use by chainboot itself: node (pid ${served.proc.pid}`);
  });
});
