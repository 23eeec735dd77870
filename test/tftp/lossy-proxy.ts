/**
 * A UDP proxy for TFTP that loses and duplicates datagrams by a fixed plan.
 * It stands between a client and the server and keeps TFTP's port dance
 * intact: the client sends its request to the proxy's front port; each
 * server TID the proxy sees gets a front socket of its own, so the client
 * sees a distinct TID just as it would without the proxy.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';

export type Fate = 'pass' | 'drop' | 'dup';
/** Decides a datagram's fate from its direction and its number in that direction (0-based). */
export type Plan = (dir: 'up' | 'down', n: number, packet: Buffer) => Fate;

interface Leg {
  client: RemoteInfo;
  upstream: Socket;
  /** server TID port → front socket the client talks to for it */
  fronts: Map<number, Socket>;
}

export interface LossyProxy {
  port: number;
  stats: { up: Record<Fate, number>; down: Record<Fate, number> };
  close(): Promise<void>;
}

const bindLocal = (s: Socket) => new Promise<void>((resolve) => s.bind(0, '127.0.0.1', () => resolve()));

export async function createLossyProxy(serverPort: number, plan: Plan): Promise<LossyProxy> {
  const stats = { up: { pass: 0, drop: 0, dup: 0 }, down: { pass: 0, drop: 0, dup: 0 } };
  let nUp = 0;
  let nDown = 0;
  const sockets: Socket[] = [];
  const legs = new Map<string, Leg>();

  const forward = (dir: 'up' | 'down', via: Socket, msg: Buffer, port: number) => {
    const fate = plan(dir, dir === 'up' ? nUp++ : nDown++, msg);
    stats[dir][fate]++;
    if (fate === 'drop') return;
    via.send(msg, port, '127.0.0.1');
    if (fate === 'dup') via.send(msg, port, '127.0.0.1');
  };

  const front = createSocket('udp4');
  sockets.push(front);
  await bindLocal(front);

  async function legFor(client: RemoteInfo): Promise<Leg> {
    const key = `${client.address}:${client.port}`;
    let leg = legs.get(key);
    if (leg) return leg;
    const upstream = createSocket('udp4');
    sockets.push(upstream);
    leg = { client, upstream, fronts: new Map() };
    legs.set(key, leg);
    const l = leg;
    upstream.on('message', (msg, from) => {
      let f = l.fronts.get(from.port);
      if (!f) {
        const s = createSocket('udp4');
        sockets.push(s);
        f = s;
        l.fronts.set(from.port, s);
        const tid = from.port;
        s.on('message', (m) => forward('up', l.upstream, m, tid));
        // Bound synchronously enough for our purpose: sends queue until the bind completes.
        s.bind(0, '127.0.0.1');
      }
      forward('down', f, msg, l.client.port);
    });
    await bindLocal(upstream);
    return leg;
  }

  // Requests (and their repeats) go to the server's request port.
  front.on('message', (msg, from) => {
    void legFor(from).then((leg) => forward('up', leg.upstream, msg, serverPort));
  });

  return {
    port: front.address().port,
    stats,
    async close() {
      await Promise.all(sockets.map((s) => new Promise<void>((r) => s.close(() => r()))));
    },
  };
}
