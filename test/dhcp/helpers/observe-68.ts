/**
 * Listens on UDP 68 beside a real DHCP client (inside the client's network
 * namespace) and prints every BOOTP reply it sees as a JSON line, so a test
 * can check what the client was sent. SO_REUSEADDR lets it share port 68 with
 * dhclient's fallback socket; broadcasts reach every socket on the port.
 */
import dgram from 'node:dgram';
import { decodePacket, messageType } from '../../../src/dhcp/packet.js';
import { decodeSubOptions } from '../../../src/dhcp/pxe.js';

const sock = dgram.createSocket({ type: 'udp4', reuseAddr: true });
const out = (o: unknown) => process.stdout.write(JSON.stringify(o) + '\n');
sock.on('message', (msg, rinfo) => {
  try {
    const p = decodePacket(msg);
    const opts: Record<string, string> = {};
    for (const [k, v] of p.options) opts[k] = v.toString('hex');
    let sub43: Record<string, string> | null = null;
    const v43 = p.options.get(43);
    if (v43 && p.options.get(60)?.toString().startsWith('PXEClient')) {
      sub43 = {};
      for (const [k, v] of decodeSubOptions(v43)) sub43[k] = v.toString('hex');
    }
    out({ type: 'packet', from: `${rinfo.address}:${rinfo.port}`, op: p.op, xid: p.xid, msg: messageType(p), yiaddr: p.yiaddr, siaddr: p.siaddr, giaddr: p.giaddr, file: p.file, vendorClass: p.options.get(60)?.toString() ?? null, serverId: p.options.has(54) ? [...p.options.get(54)!].join('.') : null, options: opts, sub43 });
  } catch (e) {
    out({ type: 'bad', error: (e as Error).message });
  }
});
sock.bind(68, '0.0.0.0', () => out({ type: 'ready' }));
process.on('SIGTERM', () => sock.close(() => process.exit(0)));
