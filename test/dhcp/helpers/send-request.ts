/**
 * Sends one request (hex on argv[3]) to argv[2] (ip:port) from an ephemeral
 * port and prints the decoded reply as a JSON line; used inside namespaces.
 */
import dgram from 'node:dgram';
import { decodePacket, messageType } from '../../../src/dhcp/packet.js';

const [host, port] = process.argv[2]!.split(':');
const sock = dgram.createSocket('udp4');
sock.on('message', (msg, rinfo) => {
  const p = decodePacket(msg);
  process.stdout.write(JSON.stringify({ type: 'reply', from: `${rinfo.address}:${rinfo.port}`, msg: messageType(p), xid: p.xid, file: p.file, siaddr: p.siaddr, vendorClass: p.options.get(60)?.toString() ?? null }) + '\n');
  sock.close();
});
sock.bind(0, () => sock.send(Buffer.from(process.argv[3]!, 'hex'), Number(port), host));
