/**
 * proxyDHCP reconfigure() (what SIGHUP calls): the next packet gets the new
 * loader map, the sockets stay bound, and a bad set of values changes nothing.
 */
import { afterEach, describe, expect, it } from 'vitest';
import dgram from 'node:dgram';
import { createProxyDhcpServer, ProxyDhcpConfigError } from '../../src/dhcp/server.js';
import { decodePacket } from '../../src/dhcp/packet.js';
import { silentLogger } from '../../src/log.js';
import { bootServerRequest, CLIENTS, rawRequest } from '../dhcp/helpers/wire.js';

const IFACES = () => ({ eth0: [{ address: '10.0.0.5', netmask: '255.255.255.0', family: 'IPv4' as const, mac: '02:00:00:00:00:01', internal: false, cidr: '10.0.0.5/24' }] });
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

describe('proxyDHCP reconfigure', () => {
  it('changes the loader for the next request on the same sockets; refuses bad values whole', async () => {
    const server = createProxyDhcpServer({ port: 0, proxyPort: 0, bindAddress: '127.0.0.1', httpBaseUrl: 'http://10.0.0.5:8080', hostLookup: () => undefined, log: silentLogger, interfaces: IFACES });
    cleanups.push(() => server.close());
    const { proxy } = await server.listen();
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((ok) => sock.bind(0, '127.0.0.1', ok));
    cleanups.push(() => new Promise<void>((ok) => sock.close(() => ok())));
    const replies: Buffer[] = [];
    let wake: (() => void) | null = null;
    sock.on('message', (m) => {
      replies.push(m);
      wake?.();
    });
    const ask = async () => {
      sock.send(rawRequest(bootServerRequest(CLIENTS.uefi64(), '127.0.0.1', [0, 0])), proxy.port!, '127.0.0.1');
      while (!replies.length) await new Promise<void>((r) => (wake = r));
      return decodePacket(replies.shift()!).file;
    };
    expect(await ask()).toBe('ipxe.efi');
    server.reconfigure({ loaders: { bios: 'undionly.kpxe', efi64: 'snponly.efi' } });
    expect(await ask()).toBe('snponly.efi');
    expect(server.ports.proxy).toBe(proxy.port);
    // A menu item naming a loader key that does not exist: refused, and the running map stays.
    expect(() => server.reconfigure({ loaders: { efi64: 'ipxe.efi' }, menu: { display: 'always', items: [{ label: 'x', action: 'netboot', loader: 'nope' }] } })).toThrow(ProxyDhcpConfigError);
    expect(await ask()).toBe('snponly.efi');
  });
});
