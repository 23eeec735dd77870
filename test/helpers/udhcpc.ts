/**
 * One DHCP exchange by busybox udhcpc inside a client namespace, with an
 * observer on UDP 68 beside it (test/dhcp/helpers/observe-68.ts): the proxy
 * offer as the client saw it. udhcpc's script only reports; it never touches
 * the host's files.
 */
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Lab } from '../dhcp/helpers/netns.js';

/** A BOOTP reply as observe-68.ts prints it. */
export interface ObservedPacket {
  type: 'packet';
  from: string;
  xid: number;
  msg: number;
  yiaddr: string;
  siaddr: string;
  giaddr: string;
  file: string;
  vendorClass: string | null;
  serverId: string | null;
  options: Record<string, string>;
  sub43: Record<string, string> | null;
}

/** An executable shell script in `dir`. */
export function writeScript(dir: string, name: string, body: string): string {
  const p = join(dir, name);
  writeFileSync(p, `#!/bin/sh\n${body}\n`);
  chmodSync(p, 0o755);
  return p;
}

/**
 * Runs udhcpc (-f -n, 5 tries 2 s apart) with `args` (vendor class, -x options, -B …)
 * on eth0 of `ns`; resolves with the first OFFER from `serverId`.
 */
export async function udhcpcOffer(lab: Lab, ns: string, opts: { dir: string; label: string; serverId: string; args: string[] }): Promise<ObservedPacket> {
  const obs = lab.node(ns, `${opts.label}-observer`, 'test/dhcp/helpers/observe-68.ts');
  await obs.waitJson('ready', () => true, 'observer ready');
  const sh = writeScript(opts.dir, `${opts.label}.sh`, 'echo "udhcpc-script $1"');
  const udhcpc = lab.spawn(ns, opts.label, 'busybox', ['udhcpc', '-f', '-i', 'eth0', '-s', sh, ...opts.args, '-t', '5', '-T', '2', '-n']);
  try {
    return await obs.waitJson<ObservedPacket>('packet', (p) => p.msg === 2 && p.serverId === opts.serverId, `a proxy offer from ${opts.serverId} at the client`);
  } finally {
    await udhcpc.stop();
    await obs.stop();
  }
}
