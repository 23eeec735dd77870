/**
 * `chainboot doctor`: gathers what it can see (ports, /proc, interfaces,
 * loader files, firewall state, and — unless --no-probe — the DHCP answers
 * to a PXE DISCOVER), hands each to its pure check, and reports. The
 * gathering seams are options so tests can supply their own facts.
 */
import { existsSync, readdirSync } from 'node:fs';
import { detectAddress, type Config } from '../config.js';
import { parseDhcpSettings } from '../dhcp/settings.js';
import { InvalidInputError } from '../errors.js';
import { advertisedAddress, candidateInterfaces, checkAddress, readInterfaces, type InterfaceFacts } from './address.js';
import { exitCode, makeReport, renderJson, renderText, type Check, type Report } from './check.js';
import { checkFirewall, readFirewall, relayAdvice, type FirewallFacts } from './firewall.js';
import { checkLoader, checkLoaderRoot, gatherLoader, loadersToCheck, type DpkgVersion } from './loaders.js';
import { checkPort, checkPrivileges, readPrivileges, tryBind, type PortCheckInput, type Privileges } from './ports.js';
import { checkProbe, runProbe, type ProbeResult } from './probe.js';
import { portHolders } from './procnet.js';

export type { Check, Report } from './check.js';

export interface DoctorOptions {
  /**
   * The proxyDHCP probe broadcasts on a LAN: callers decide explicitly.
   * false = skipped; otherwise listen this long on that interface (default:
   * the advertised address's interface).
   */
  probe: false | { listenSeconds: number; iface?: string };
  /** Seams for tests; each defaults to reading this host. */
  interfaces?: InterfaceFacts[];
  detected?: string;
  privileges?: Privileges;
  firewall?: FirewallFacts;
  /** Look for loaders in Debian's system directories too (as serve does). */
  systemLoaderDirs?: boolean;
  dpkg?: DpkgVersion;
}

async function portChecks(cfg: Config, privileges: Privileges): Promise<Check[]> {
  const specs: Omit<PortCheckInput, 'bind' | 'holders' | 'privileges'>[] = [
    { id: 'port.dhcp', role: 'proxyDHCP', proto: 'udp', port: cfg.dhcpPort, standardPort: 67, address: cfg.dhcpBindAddress, portFlag: '--dhcp-port', addressFlag: '--dhcp-bind-address', disabled: cfg.dhcp === 'off' ? 'proxyDHCP is off (--dhcp off)' : undefined },
    { id: 'port.proxy', role: 'PXE boot server', proto: 'udp', port: cfg.proxyDhcpPort, standardPort: 4011, address: cfg.dhcpBindAddress, portFlag: '--proxy-dhcp-port', addressFlag: '--dhcp-bind-address', disabled: cfg.dhcp === 'off' ? 'proxyDHCP is off (--dhcp off)' : undefined },
    { id: 'port.tftp', role: 'TFTP', proto: 'udp', port: cfg.tftpPort, standardPort: 69, address: cfg.tftpBindAddress, portFlag: '--tftp-port', addressFlag: '--tftp-bind-address', disabled: cfg.tftp === 'off' ? 'TFTP is off (--tftp off)' : undefined },
    { id: 'port.http', role: 'HTTP', proto: 'tcp', port: cfg.httpPort, standardPort: null, address: cfg.httpHost, portFlag: '--http-port', addressFlag: '--http-host' },
  ];
  const out: Check[] = [];
  // One at a time: two settings naming the same port must not trip over each other's test bind.
  for (const s of specs) {
    const input: PortCheckInput = { ...s, privileges };
    if (!s.disabled && s.port !== 0) {
      input.bind = await tryBind(s.proto, s.port, s.address);
      if (!input.bind.ok && input.bind.code === 'EADDRINUSE') input.holders = portHolders(s.proto, s.port);
    }
    out.push(checkPort(input));
  }
  return out;
}

function probeInterface(ifaces: InterfaceFacts[], wanted: string | undefined, advertised: InterfaceFacts | null): InterfaceFacts | string {
  if (wanted) return ifaces.find((i) => i.name === wanted) ?? `there is no interface "${wanted}" (have: ${ifaces.map((i) => i.name).join(', ')})`;
  if (advertised && !advertised.loopback) return advertised;
  return candidateInterfaces(ifaces)[0] ?? 'no up, non-loopback interface with an IPv4 address to probe from';
}

export async function runDoctor(cfg: Config, o: DoctorOptions): Promise<Report> {
  const interfaces = o.interfaces ?? readInterfaces();
  const detected = o.detected ?? detectAddress();
  const privileges = o.privileges ?? readPrivileges();
  const dhcpOn = cfg.dhcp === 'on';
  const tftpOn = cfg.tftp === 'on';
  const checks: Check[] = [];

  const usedPorts = [...(dhcpOn ? [cfg.dhcpPort, cfg.proxyDhcpPort] : []), ...(tftpOn ? [cfg.tftpPort] : []), cfg.httpPort];
  checks.push(checkPrivileges(privileges, usedPorts));
  checks.push(...(await portChecks(cfg, privileges)));

  checks.push(checkAddress({ advertiseIp: cfg.advertiseIp, baseUrl: cfg.baseUrl, httpPort: cfg.httpPort, detected, dhcpOn, interfaces }));
  const adv = advertisedAddress({ advertiseIp: cfg.advertiseIp, detected, interfaces });

  const rootExists = existsSync(cfg.loaderRoot);
  let entries = 0;
  try {
    entries = readdirSync(cfg.loaderRoot).length;
  } catch {
    /* reported by checkLoaderRoot */
  }
  checks.push(checkLoaderRoot(cfg.loaderRoot, rootExists, entries));
  const archLoaders = parseDhcpSettings(cfg).value.loaders;
  for (const l of loadersToCheck(dhcpOn || tftpOn ? archLoaders : {})) {
    const facts = gatherLoader(l.name, l.keys, cfg.loaderRoot, { systemDirs: o.systemLoaderDirs, dpkg: o.dpkg });
    checks.push(checkLoader(facts, { tftpOn, dhcpOn }));
  }

  let probe: ProbeResult;
  if (o.probe === false) probe = { skipped: '--no-probe' };
  else {
    const iface = probeInterface(interfaces, o.probe.iface, adv.iface);
    probe =
      typeof iface === 'string'
        ? { error: iface, fix: 'choose the clients\' network with --probe-interface IF, or skip with --no-probe' }
        : await runProbe({ iface, listenMs: Math.round(o.probe.listenSeconds * 1000), localAddresses: interfaces.flatMap((i) => i.addresses.map((a) => a.address)) });
  }
  checks.push(...checkProbe(probe, { dhcpOn, advertised: adv.address }));

  const udp = [...(dhcpOn ? [cfg.dhcpPort, cfg.proxyDhcpPort] : []), ...(tftpOn ? [cfg.tftpPort] : [])].filter((p) => p > 0).sort((a, b) => a - b);
  checks.push(checkFirewall(o.firewall ?? (await readFirewall()), { ports: { udp, tcp: cfg.httpPort > 0 ? [cfg.httpPort] : [] }, tftpPortPerTransfer: tftpOn && cfg.tftpSinglePort !== 'on' }));
  checks.push(relayAdvice({ advertised: adv.address, dhcpOn, dhcpPort: cfg.dhcpPort, proxyPort: cfg.proxyDhcpPort, tftpPort: cfg.tftpPort, httpPort: cfg.httpPort }));
  return makeReport(checks);
}

export const DOCTOR_USAGE = 'doctor [--json] [--no-probe] [--listen-seconds N] [--probe-interface IF]';

export interface DoctorArgs {
  json: boolean;
  probe: DoctorOptions['probe'];
}

/** The doctor's own arguments (settings such as --http-port are taken off by the CLI before). */
export function parseDoctorArgs(args: string[]): DoctorArgs {
  let json = false;
  let noProbe = false;
  let listenSeconds = 4;
  let iface: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const eq = a.indexOf('=');
    const name = eq > 0 ? a.slice(0, eq) : a;
    const value = () => {
      const v = eq > 0 ? a.slice(eq + 1) : args[++i];
      if (v === undefined) throw new InvalidInputError(`${name} needs a value (usage: chainboot ${DOCTOR_USAGE})`);
      return v;
    };
    if (name === '--json') json = true;
    else if (name === '--no-probe') noProbe = true;
    else if (name === '--listen-seconds') {
      const v = value();
      listenSeconds = Number(v);
      if (!/^\d+(\.\d+)?$/.test(v) || listenSeconds < 0.5 || listenSeconds > 60) throw new InvalidInputError(`--listen-seconds "${v}" must be a number of seconds, 0.5–60`);
    } else if (name === '--probe-interface') iface = value();
    else throw new InvalidInputError(`doctor: unknown argument "${a}" (usage: chainboot ${DOCTOR_USAGE})`);
  }
  return { json, probe: noProbe ? false : { listenSeconds, iface } };
}

/** The CLI command: prints the report, returns the exit code (1 when a check failed). */
export async function doctorCommand(cfg: Config, args: string[], write: (s: string) => void = (s) => process.stdout.write(s)): Promise<number> {
  const a = parseDoctorArgs(args);
  const report = await runDoctor(cfg, { probe: a.probe });
  write(a.json ? renderJson(report) : renderText(report));
  return exitCode(report);
}
