/**
 * The real service over a real socket with a real client: curl walks the
 * chain an iPXE client walks, from /boot.ipxe to the per-host kickstart.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, startServe, CLI, type Served } from '../helpers/process.js';

const TOKEN = 'curl-e2e-admin-token-0123456789';
let srv: Served;

beforeAll(async () => {
  srv = await startServe(['--admin-token', TOKEN, '--advertise-ip', '127.0.0.1']);
});
afterAll(async () => {
  await srv?.stop();
});

async function curl(args: string[]) {
  const r = await run('curl', ['-sS', '--max-time', '10', ...args]);
  if (r.code !== 0) throw new Error(`curl ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

/** What iPXE does to a chain URL: expand ${name[:type]} from its settings. */
function expandIpxe(url: string, settings: Record<string, string>): string {
  return url.replace(/\$\{([^}:]+)(?::([a-z]+))?\}/g, (_, name: string, type?: string) => {
    const v = settings[name] ?? '';
    if (type === 'uristring') return encodeURIComponent(v);
    if (type === 'hexhyp') return v.replace(/:/g, '-');
    return v;
  });
}

describe('curl through the boot chain', () => {
  it('goes from /boot.ipxe to the per-host kickstart', async () => {
    const api = (method: string, path: string, body?: unknown) =>
      curl(['-X', method, '-H', `Authorization: Bearer ${TOKEN}`, '-H', 'Content-Type: application/json', ...(body ? ['--data-binary', JSON.stringify(body)] : []), `${srv.baseUrl}/api/v1${path}`]);

    await api('POST', '/profiles', {
      name: 'rocky-9',
      kind: 'linux',
      kernel: 'rocky9/vmlinuz',
      initrds: ['rocky9/initrd.img'],
      cmdline: 'inst.ks=<%= it.urls.file("ks.cfg") %> console=ttyS0',
      files: { 'ks.cfg': 'kickstart/rhel.cfg' },
      variables: { timezone: 'Europe/Berlin' },
    });
    await api('POST', '/hosts', { mac: '52:54:00:12:34:56', hostname: 'db01', profile: 'rocky-9' });

    const entry = await curl([`${srv.baseUrl}/boot.ipxe`]);
    expect(entry.startsWith('#!ipxe\n')).toBe(true);
    const chain = /(http:\/\/\S+\/ipxe\?\S+)/.exec(entry)?.[1];
    expect(chain).toBeDefined();
    const settings = { 'netX/mac': '52:54:00:12:34:56', 'net0/mac': '52:54:00:12:34:56', uuid: '4c4c4544-0042-3510-8051-c7c04f4e3732', buildarch: 'x86_64', platform: 'efi', serial: 'SN 42', manufacturer: 'QEMU', product: 'Standard PC (Q35 + ICH9, 2009)' };
    const script = await curl([expandIpxe(chain!, settings)]);
    expect(script.startsWith('#!ipxe\n')).toBe(true);
    expect(script).toContain(`${srv.baseUrl}/assets/rocky9/vmlinuz`);
    expect(script).toContain(`${srv.baseUrl}/assets/rocky9/initrd.img`);
    const ks = /inst\.ks=(\S+)/.exec(script)?.[1];
    expect(ks).toBe(`${srv.baseUrl}/hosts/52-54-00-12-34-56/ks.cfg`);

    const kickstart = await curl([ks!]);
    expect(kickstart).toMatch(/--hostname=db01/);
    expect(kickstart).toContain('Europe/Berlin');

    // The boot was recorded with what the client reported about itself.
    const events = JSON.parse(await api('GET', '/events?mac=52:54:00:12:34:56')) as { kind: string; clientIp: string | null }[];
    const hosts = JSON.parse(await api('GET', '/hosts/52:54:00:12:34:56')) as { facts: Record<string, string>; lastSeen: number };
    expect(hosts.facts).toMatchObject({ platform: 'efi', serial: 'SN 42', product: 'Standard PC (Q35 + ICH9, 2009)' });
    expect(events.map((e) => e.kind)).toEqual(expect.arrayContaining(['script', 'file']));
    expect(events.every((e) => e.clientIp === '127.0.0.1')).toBe(true);
  });

  it('the CLI works against the same data directory', async () => {
    const r = await run(process.execPath, [CLI, 'hosts', 'list', '--data-dir', srv.dataDir]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('52:54:00:12:34:56');
    const bad = await run(process.execPath, [CLI, 'hosts', 'add', 'not-a-mac', '--data-dir', srv.dataDir]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('not a MAC address');
  });
});
