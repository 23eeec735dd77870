/**
 * Which ports a firewall must let in, whether this host's own firewall does,
 * and the relay (IP helper) setting routers need for clients on other
 * subnets. Reading ufw / firewalld / nftables / iptables state is the only
 * I/O; the parsing and the advice are pure.
 */
import { execFile } from 'node:child_process';
import type { Check } from './check.js';

export interface Ports {
  udp: number[];
  tcp: number[];
}

export interface FirewallFacts {
  /** `ufw status` output when ufw is installed and readable, else null. */
  ufw: string | null;
  /** `firewall-cmd --state` said running: then `firewall-cmd --list-all` output. */
  firewalld: string | null;
  /** `nft list ruleset` output, else null. */
  nft: string | null;
  /** `iptables -S INPUT` output (only read when nft is unavailable), else null. */
  iptables: string | null;
}

type Range = [lo: number, hi: number];

/** Port ranges a firewall lets in, per protocol. */
export interface OpenPorts {
  udp: Range[];
  tcp: Range[];
}

/** What one firewall lets in, and whether it filters at all. */
export interface FirewallState {
  tool: 'ufw' | 'firewalld' | 'nftables' | 'iptables';
  filtering: boolean;
  open: OpenPorts;
}

/** "67,69,4011", "6000:6100", "6000-6100" → ranges. */
function portList(spec: string): Range[] {
  const out: Range[] = [];
  for (const part of spec.split(',').map((x) => x.trim())) {
    const range = /^(\d+)[:-](\d+)$/.exec(part);
    if (range) out.push([Number(range[1]), Number(range[2])]);
    else if (/^\d+$/.test(part)) out.push([Number(part), Number(part)]);
  }
  return out;
}

function addPorts(into: OpenPorts, proto: string | undefined, ranges: Range[]): void {
  if (!proto || proto === 'udp') into.udp.push(...ranges);
  if (!proto || proto === 'tcp') into.tcp.push(...ranges);
}

export function isOpen(ranges: Range[], port: number): boolean {
  return ranges.some(([lo, hi]) => port >= lo && port <= hi);
}

const none = (): OpenPorts => ({ udp: [], tcp: [] });

/** `ufw status`: "Status: active", then rules such as "67,69,4011/udp  ALLOW  Anywhere". */
export function parseUfw(text: string): FirewallState {
  const open = none();
  for (const line of text.split('\n')) {
    const m = /^([\d,:]+)(?:\/(udp|tcp))?(?: \(v6\))?\s+ALLOW(?: IN)?\s/.exec(line.trim());
    if (m) addPorts(open, m[2], portList(m[1]!));
  }
  return { tool: 'ufw', filtering: /^Status: active/m.test(text), open };
}

const FIREWALLD_SERVICES: Record<string, [string, number]> = { dhcp: ['udp', 67], tftp: ['udp', 69], 'proxy-dhcp': ['udp', 4011], http: ['tcp', 80], https: ['tcp', 443] };

/** `firewall-cmd --list-all` of the default zone: "services: dhcp ssh", "ports: 8080/tcp 67/udp". */
export function parseFirewalld(text: string): FirewallState {
  const open = none();
  const services = /^\s*services:(.*)$/m.exec(text)?.[1]?.trim().split(/\s+/) ?? [];
  for (const s of services) {
    const known = FIREWALLD_SERVICES[s];
    if (known) addPorts(open, known[0], [[known[1], known[1]]]);
  }
  for (const p of /^\s*ports:(.*)$/m.exec(text)?.[1]?.trim().split(/\s+/) ?? []) {
    const m = /^([\d-]+)\/(udp|tcp)$/.exec(p);
    if (m) addPorts(open, m[2], portList(m[1]!));
  }
  return { tool: 'firewalld', filtering: true, open };
}

/** `nft list ruleset`: input-hook chains that drop (policy or rule), and their "udp/tcp dport … accept" rules. */
export function parseNft(text: string): FirewallState {
  const open = none();
  let filtering = false;
  for (const m of text.matchAll(/chain\s+\S+\s*\{([\s\S]*?)\n\s*\}/g)) {
    const body = m[1]!;
    if (!/hook input\b/.test(body)) continue;
    if (/policy drop;/.test(body) || /^\s*(?!.*\baccept\b).*\b(drop|reject)\b/m.test(body)) filtering = true;
    for (const line of body.split('\n')) {
      if (!/\baccept\b/.test(line)) continue;
      for (const r of line.matchAll(/\b(udp|tcp|th) dport (\{[^}]*\}|\d+(?:-\d+)?)/g)) {
        const list = portList(r[2]!.replace(/[{}\s]/g, ''));
        addPorts(open, r[1] === 'th' ? undefined : r[1], list);
      }
    }
  }
  return { tool: 'nftables', filtering, open };
}

/** `iptables -S INPUT`: "-P INPUT DROP", "-A INPUT -p udp -m udp --dport 67 -j ACCEPT", "--dports 67,69". */
export function parseIptables(text: string): FirewallState {
  const open = none();
  let filtering = /^-P INPUT (DROP|REJECT)/m.test(text);
  for (const line of text.split('\n')) {
    if (/-j (DROP|REJECT)\b/.test(line)) filtering = true;
    if (!/-j ACCEPT\b/.test(line)) continue;
    const proto = /-p (udp|tcp)\b/.exec(line)?.[1];
    const ports = /--dports? ([\d,:]+)/.exec(line)?.[1];
    if (proto && ports) addPorts(open, proto, portList(ports));
  }
  return { tool: 'iptables', filtering, open };
}

export function firewallStates(f: FirewallFacts): FirewallState[] {
  const out: FirewallState[] = [];
  if (f.ufw) out.push(parseUfw(f.ufw));
  if (f.firewalld) out.push(parseFirewalld(f.firewalld));
  // ufw and firewalld write nftables/iptables rules themselves: judge those tools by their own view.
  if (!f.ufw?.match(/^Status: active/m) && !f.firewalld) {
    if (f.nft) out.push(parseNft(f.nft));
    else if (f.iptables) out.push(parseIptables(f.iptables));
  }
  return out;
}

/** One-line commands to open the ports with each tool. */
export function openCommands(p: Ports): Record<'nft' | 'ufw' | 'firewalld', string> {
  const set = (l: number[]) => (l.length === 1 ? String(l[0]) : `{ ${l.join(', ')} }`);
  const nft = [p.udp.length ? `nft add rule inet filter input udp dport ${set(p.udp)} accept` : '', p.tcp.length ? `nft add rule inet filter input tcp dport ${set(p.tcp)} accept` : ''].filter(Boolean).join(' && ');
  const ufw = [p.udp.length ? `ufw allow ${p.udp.join(',')}/udp` : '', p.tcp.length ? `ufw allow ${p.tcp.join(',')}/tcp` : ''].filter(Boolean).join(' && ');
  const firewalld = `firewall-cmd --permanent ${[...p.udp.map((x) => `--add-port=${x}/udp`), ...p.tcp.map((x) => `--add-port=${x}/tcp`)].join(' ')} && firewall-cmd --reload`;
  return { nft, ufw, firewalld };
}

export interface FirewallContext {
  ports: Ports;
  /** TFTP transfers from a port of their own (not --tftp-single-port). */
  tftpPortPerTransfer: boolean;
}

export function checkFirewall(f: FirewallFacts, ctx: FirewallContext): Check {
  const cmds = openCommands(ctx.ports);
  const wanted = `${ctx.ports.udp.map((p) => `UDP ${p}`).join(', ')}${ctx.ports.tcp.length ? `, ${ctx.ports.tcp.map((p) => `TCP ${p}`).join(', ')}` : ''}`;
  const states = firewallStates(f);
  const base = { id: 'firewall', name: 'Firewall', data: { wanted: ctx.ports, states, commands: cmds } };
  const tftpNote = ctx.tftpPortPerTransfer && ctx.ports.udp.length ? '; TFTP data flows from a new port per transfer: keep "ct state established,related accept" (every default ruleset has it) or use --tftp-single-port' : '';
  const filtering = states.filter((s) => s.filtering);
  if (filtering.length === 0) {
    const seen = states.length ? states.map((s) => s.tool).join(', ') : 'none of ufw, firewalld, nftables, iptables readable';
    return {
      ...base,
      status: 'ok',
      detail: [`no filtering host firewall found (${seen}); a firewall between clients and this host must let in ${wanted}${tftpNote}`, `nftables:  ${cmds.nft}`, `ufw:       ${cmds.ufw}`, `firewalld: ${cmds.firewalld}`].join('\n'),
    };
  }
  const lines: string[] = [];
  const missingAll: Ports = { udp: [], tcp: [] };
  for (const s of filtering) {
    const missing: Ports = { udp: ctx.ports.udp.filter((p) => !isOpen(s.open.udp, p)), tcp: ctx.ports.tcp.filter((p) => !isOpen(s.open.tcp, p)) };
    const miss = [...missing.udp.map((p) => `UDP ${p}`), ...missing.tcp.map((p) => `TCP ${p}`)];
    lines.push(`${s.tool} filters incoming traffic; ${miss.length ? `no rule found letting in ${miss.join(', ')}` : `it lets in ${wanted}`}`);
    for (const p of missing.udp) if (!missingAll.udp.includes(p)) missingAll.udp.push(p);
    for (const p of missing.tcp) if (!missingAll.tcp.includes(p)) missingAll.tcp.push(p);
  }
  const missingAny = missingAll.udp.length + missingAll.tcp.length > 0;
  if (!missingAny) return { ...base, status: 'ok', detail: lines.join('\n') + tftpNote };
  const m = openCommands(missingAll);
  const tool = filtering.find((s) => s.tool !== 'iptables')?.tool ?? 'iptables';
  const ipt = [missingAll.udp.length ? `iptables -I INPUT -p udp -m multiport --dports ${missingAll.udp.join(',')} -j ACCEPT` : '', missingAll.tcp.length ? `iptables -I INPUT -p tcp -m multiport --dports ${missingAll.tcp.join(',')} -j ACCEPT` : ''].filter(Boolean).join(' && ');
  const fix = tool === 'ufw' ? m.ufw : tool === 'firewalld' ? m.firewalld : tool === 'nftables' ? `${m.nft} (adjust "inet filter input" to your table and chain)` : ipt;
  return { ...base, status: 'warn', detail: lines.join('\n') + tftpNote, fix };
}

export interface RelayContext {
  advertised: string | null;
  dhcpOn: boolean;
  dhcpPort: number;
  proxyPort: number;
  tftpPort: number;
  httpPort: number;
}

/** Advice, not a finding: what routers need for clients on other subnets. */
export function relayAdvice(c: RelayContext): Check {
  const me = c.advertised ?? '<this server>';
  const base = { id: 'relay', name: 'Clients on other subnets', data: c };
  if (!c.dhcpOn) {
    return {
      ...base,
      status: 'ok',
      detail: `proxyDHCP is off: routers relay only to the site's DHCP server, whose options 66/67 must point PXE clients at ${me} ("chainboot dhcp-config"); UDP ${c.tftpPort} and TCP ${c.httpPort} on ${me} must be routable from those subnets`,
    };
  }
  return {
    ...base,
    status: 'ok',
    detail: [
      `DHCP broadcasts stop at the router: on each client subnet's router add ${me} as a second DHCP relay target (IP helper), beside the site's DHCP server.`,
      `The relay forwards every DISCOVER to both: the DHCP server gives the address, chainboot (UDP ${c.dhcpPort}, answered to the relay's giaddr) the boot file.`,
      `Clients then reach ${me} directly: UDP ${c.proxyPort} (some UEFI firmware), UDP ${c.tftpPort} (TFTP) and TCP ${c.httpPort} (HTTP) must be routed and allowed.`,
    ].join('\n'),
    fix: `Cisco/Arista: "interface Vlan<N>" then "ip helper-address <dhcp-server>" and "ip helper-address ${me}"; Juniper: add ${me} to the dhcp-relay server-group; Linux: dhcrelay -i <if> <dhcp-server> ${me}`,
  };
}

// ---- gathering ------------------------------------------------------------

function output(cmd: string, args: string[]): Promise<string | null> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 5000, encoding: 'utf8' }, (err, stdout) => resolve(err ? null : stdout));
  });
}

export async function readFirewall(): Promise<FirewallFacts> {
  const [ufw, state, nft] = await Promise.all([output('ufw', ['status']), output('firewall-cmd', ['--state']), output('nft', ['list', 'ruleset'])]);
  const firewalld = state?.trim() === 'running' ? await output('firewall-cmd', ['--list-all']) : null;
  const iptables = nft === null ? await output('iptables', ['-S', 'INPUT']) : null;
  return { ufw, firewalld, nft, iptables };
}
