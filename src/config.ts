/**
 * Configuration: one pure function from (argv, env, config file text) to a
 * validated Config. Precedence: CLI flag > CHAINBOOT_<NAME> environment
 * variable > config file (JSON) > default. Every problem is reported at once,
 * naming the setting and how it can be given.
 */
import { networkInterfaces } from 'node:os';
import { DHCP_SETTINGS, parseDhcpSettings, type DhcpSettingValues } from './dhcp/settings.js';
import { TFTP_SETTINGS, parseTftpSettings, type TftpSettingValues } from './tftp/settings.js';
import { HTTP_LIMIT_SETTINGS, parseHttpLimitSettings, type HttpLimitSettingValues } from './http/settings.js';

export type Switch = 'on' | 'off';

export interface Config extends Omit<DhcpSettingValues, 'advertiseIp'>, TftpSettingValues, HttpLimitSettingValues {
  dataDir: string;
  /** postgres://… runs the central service on PostgreSQL (several nodes may share it); empty: SQLite in dataDir. */
  databaseUrl: string;
  httpHost: string;
  httpPort: number;
  /** Address clients use to reach this server; empty = detected at start. */
  advertiseIp: string;
  /** Absolute http URL scripts are built from; empty = http://<advertise>:<httpPort> */
  baseUrl: string;
  adminToken: string;
  /** Bearer token GET /metrics requires; empty = /metrics is open. */
  metricsToken: string;
  assetRoot: string;
  loaderRoot: string;
  templateDir: string;
  tftp: Switch;
  tftpPort: number;
  dhcp: Switch;
  dhcpPort: number;
  proxyDhcpPort: number;
  /** Profile given to hosts without one (and to unknown MACs); empty = boot the local disk. */
  defaultProfile: string;
  /** Seconds a served task may go without the environment checking in before it expires. */
  taskCheckinTimeout: number;
  /** Seconds a running task may take before it expires. */
  taskRunTimeout: number;
  /** Mark admin UI cookies Secure even on plain http (behind a TLS-terminating proxy). */
  uiSecureCookies: Switch;
  /** Seconds running TFTP transfers and HTTP responses get to finish on SIGTERM/SIGINT before they are cut. */
  shutdownDeadline: number;
  /** Boot events older than this many days are deleted; 0 = kept however old. */
  eventRetentionDays: number;
  /** At most this many (the newest) boot events are kept; 0 = no limit. */
  eventRetentionCount: number;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** central: the full service with its database; satellite: proxyDHCP + TFTP + a small HTTP server at a site, stateless, following `upstream`. */
  role: 'central' | 'satellite';
  /** The centre's URL as this satellite reaches it (satellite only). */
  upstream: string;
  /** Bearer token of the centre's /satellite/v1 API, shared by the centre and its satellites; empty on the centre = that API is off. */
  satelliteToken: string;
  /** This satellite's site name at the centre (its loader and menu overrides, the entry URL); empty = none. */
  site: string;
  /** Seconds between a satellite's checks of the centre's /healthz. */
  upstreamCheckInterval: number;
  /** Seconds between a satellite's loader syncs (also run when the centre comes back, and on SIGHUP). */
  loaderSyncInterval: number;
  /** Seconds between a satellite's refreshes of the centre's host modes and its site's overrides. */
  hostSyncInterval: number;
}

type Kind = 'string' | 'port' | 'switch' | 'loglevel' | 'seconds' | 'count' | 'role';

interface Setting {
  key: keyof Config;
  kind: Kind;
  def: string | number;
  help: string;
}

export const SETTINGS: Setting[] = [
  { key: 'dataDir', kind: 'string', def: './data', help: 'directory for the SQLite database' },
  { key: 'databaseUrl', kind: 'string', def: '', help: 'postgres://user:password@host/db: keep state in PostgreSQL (several central nodes may share it) instead of SQLite in --data-dir; also read from DATABASE_URL' },
  { key: 'httpHost', kind: 'string', def: '0.0.0.0', help: 'address the HTTP server listens on' },
  { key: 'httpPort', kind: 'port', def: 8080, help: 'HTTP port' },
  { key: 'advertiseIp', kind: 'string', def: '', help: 'IPv4 address clients reach this server on (default: first non-loopback interface)' },
  { key: 'baseUrl', kind: 'string', def: '', help: 'absolute URL boot scripts point at (default: http://<advertise-ip>:<http-port>)' },
  { key: 'adminToken', kind: 'string', def: '', help: 'bearer token for /api (default: generated on first start and stored in the database)' },
  { key: 'metricsToken', kind: 'string', def: '', help: 'bearer token GET /metrics requires (default: none, /metrics is open as Prometheus targets usually are on an internal network)' },
  { key: 'assetRoot', kind: 'string', def: './boot-assets', help: 'directory served under /assets' },
  { key: 'loaderRoot', kind: 'string', def: './boot-assets/loaders', help: 'directory of loaders (undionly.kpxe, ipxe.efi …)' },
  { key: 'templateDir', kind: 'string', def: './templates', help: 'directory of shipped templates' },
  { key: 'tftp', kind: 'switch', def: 'on', help: 'TFTP server on|off' },
  { key: 'tftpPort', kind: 'port', def: 69, help: 'TFTP port' },
  { key: 'dhcp', kind: 'switch', def: 'on', help: 'proxyDHCP on|off' },
  { key: 'dhcpPort', kind: 'port', def: 67, help: 'proxyDHCP port' },
  { key: 'proxyDhcpPort', kind: 'port', def: 4011, help: 'PXE boot server port' },
  { key: 'defaultProfile', kind: 'string', def: '', help: 'profile for hosts that have none (default: boot the local disk)' },
  { key: 'taskCheckinTimeout', kind: 'seconds', def: 3600, help: 'seconds a served task may wait for its environment to check in before it expires' },
  { key: 'taskRunTimeout', kind: 'seconds', def: 86400, help: 'seconds a running task may take before it expires' },
  { key: 'uiSecureCookies', kind: 'switch', def: 'off', help: 'mark admin UI cookies Secure even on plain http (set it behind a TLS-terminating proxy; https requests get Secure anyway)' },
  { key: 'shutdownDeadline', kind: 'seconds', def: 30, help: 'seconds running TFTP transfers and HTTP downloads get to finish on SIGTERM/SIGINT before they are cut (a second signal cuts at once)' },
  { key: 'eventRetentionDays', kind: 'count', def: 90, help: 'delete boot events older than this many days (0 = keep them however old)' },
  { key: 'eventRetentionCount', kind: 'count', def: 1000000, help: 'keep at most this many boot events, the newest (0 = no limit)' },
  { key: 'logLevel', kind: 'loglevel', def: 'info', help: 'fatal|error|warn|info|debug|trace|silent' },
  // Site satellites (src/satellite/): a stateless proxyDHCP + TFTP at a site that follows the centre.
  { key: 'role', kind: 'role', def: 'central', help: 'central (the full service) or satellite (proxyDHCP + TFTP at a site, no database, following --upstream)' },
  { key: 'upstream', kind: 'string', def: '', help: 'satellite: the centre\'s URL as this site reaches it, e.g. http://10.0.0.5:8080 (required for a satellite)' },
  { key: 'satelliteToken', kind: 'string', def: '', help: 'bearer token (16+ characters) of the centre\'s /satellite/v1 API, the same on the centre and its satellites (centre: unset = that API is off)' },
  { key: 'site', kind: 'string', def: '', help: 'satellite: its site name at the centre (loader/menu overrides, the site\'s boot URL; names its events)' },
  { key: 'upstreamCheckInterval', kind: 'seconds', def: 1, help: 'satellite: seconds between checks of the centre\'s /healthz (a failed check sends clients to their local disk)' },
  { key: 'loaderSyncInterval', kind: 'seconds', def: 60, help: 'satellite: seconds between loader syncs by sha256 (also when the centre comes back, and on SIGHUP)' },
  { key: 'hostSyncInterval', kind: 'seconds', def: 10, help: 'satellite: seconds between refreshes of the centre\'s host DHCP modes and the site\'s overrides' },
  // proxyDHCP's own settings (loaders per architecture, quirks, menu), parsed by dhcp/settings.ts.
  ...(DHCP_SETTINGS.filter((d) => d.key !== 'advertiseIp') as unknown as Setting[]),
  // TFTP's own settings (blksize, windowsize, quirks), parsed by tftp/settings.ts.
  ...(TFTP_SETTINGS as unknown as Setting[]),
  // HTTP connection limits and deadlines, parsed by http/settings.ts.
  ...(HTTP_LIMIT_SETTINGS as unknown as Setting[]),
];

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export const flagName = (key: string) => '--' + key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
export const envName = (key: string) => 'CHAINBOOT_' + key.replace(/[A-Z]/g, (c) => '_' + c).toUpperCase();

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super('invalid configuration:\n  ' + problems.join('\n  '));
    this.name = 'ConfigError';
  }
}

export interface ConfigSources {
  /** Flags after the subcommand, e.g. ['--http-port', '8081', '--dhcp=off']. */
  argv?: string[];
  env?: Record<string, string | undefined>;
  /** Text of the config file (JSON), and its path for messages. */
  file?: { path: string; text: string };
}

/** Splits --name=value / --name value pairs off argv; returns the rest untouched. */
export function parseFlags(argv: string[]): { flags: Map<string, string>; rest: string[]; problems: string[] } {
  const flags = new Map<string, string>();
  const rest: string[] = [];
  const problems: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) {
      rest.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    if (eq > 0) flags.set(a.slice(0, eq), a.slice(eq + 1));
    else if (i + 1 < argv.length && !argv[i + 1]!.startsWith('--')) flags.set(a, argv[++i]!);
    else problems.push(`${a} needs a value (${a}=VALUE)`);
  }
  return { flags, rest, problems };
}

export function loadConfig(src: ConfigSources): Config {
  const env = src.env ?? {};
  const problems: string[] = [];
  const { flags, rest, problems: flagProblems } = parseFlags(src.argv ?? []);
  problems.push(...flagProblems);
  flags.delete('--config');
  if (rest.length) problems.push(`unexpected argument(s): ${rest.join(' ')}`);

  let file: Record<string, unknown> = {};
  if (src.file) {
    try {
      const parsed: unknown = JSON.parse(src.file.text);
      if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('top level must be an object');
      file = parsed as Record<string, unknown>;
    } catch (e) {
      problems.push(`config file ${src.file.path}: not valid JSON (${(e as Error).message})`);
    }
  }
  const known = new Set(SETTINGS.map((s) => s.key as string));
  for (const k of Object.keys(file)) {
    const camel = k.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    if (!known.has(camel)) problems.push(`config file ${src.file!.path}: unknown setting "${k}"`);
  }
  for (const f of flags.keys()) {
    if (!SETTINGS.some((s) => flagName(s.key) === f)) problems.push(`unknown flag ${f} (see --help)`);
  }

  const out: Record<string, unknown> = {};
  for (const s of SETTINGS) {
    const flag = flagName(s.key);
    const envKey = envName(s.key);
    const kebab = flag.slice(2);
    let raw: unknown;
    let from: string;
    if (flags.has(flag)) {
      raw = flags.get(flag);
      from = `flag ${flag}`;
    } else if (env[envKey] !== undefined) {
      raw = env[envKey];
      from = `environment ${envKey}`;
    } else if (s.key === 'databaseUrl' && env.DATABASE_URL !== undefined) {
      // The name every PostgreSQL deployment tool already sets.
      raw = env.DATABASE_URL;
      from = 'environment DATABASE_URL';
    } else if (file[s.key] !== undefined || file[kebab] !== undefined) {
      raw = file[s.key] ?? file[kebab];
      from = `config file setting "${s.key}"`;
    } else {
      out[s.key] = s.def;
      continue;
    }
    const value = coerce(s, raw);
    if (typeof value === 'object' && value !== null) problems.push(`${from}: ${value.problem}`);
    else out[s.key] = value;
  }

  const cfg = out as unknown as Config;
  if (cfg.baseUrl) {
    try {
      const u = new URL(cfg.baseUrl);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') problems.push(`baseUrl ${JSON.stringify(cfg.baseUrl)} must be an http:// or https:// URL`);
      if (/[\s$"'`\\]/.test(cfg.baseUrl)) problems.push('baseUrl must not contain whitespace, $, quotes or backslashes');
      cfg.baseUrl = cfg.baseUrl.replace(/\/+$/, '');
    } catch {
      problems.push(`baseUrl ${JSON.stringify(cfg.baseUrl)} is not a URL (e.g. http://10.0.0.5:8080)`);
    }
  }
  if (cfg.advertiseIp && !/^\d{1,3}(\.\d{1,3}){3}$/.test(cfg.advertiseIp)) problems.push(`advertiseIp ${JSON.stringify(cfg.advertiseIp)} must be an IPv4 address`);
  // proxyDHCP must never advertise loopback; with it off, 127.0.0.1 is a fine
  // address for HTTP-only use on one machine.
  else problems.push(...parseDhcpSettings(cfg.dhcp === 'on' ? cfg : { ...cfg, advertiseIp: '' }).problems);
  if (cfg.tftp === 'on') problems.push(...parseTftpSettings(cfg).problems);
  problems.push(...parseHttpLimitSettings(cfg).problems);
  if (cfg.adminToken && cfg.adminToken.length < 16) problems.push('adminToken must be at least 16 characters (or leave it unset to have one generated)');
  if (cfg.metricsToken && cfg.metricsToken.length < 16) problems.push('metricsToken must be at least 16 characters (or leave it unset for an open /metrics)');
  problems.push(...satelliteProblems(cfg));
  if (problems.length) throw new ConfigError(problems);
  if (cfg.upstream) cfg.upstream = cfg.upstream.replace(/\/+$/, '');
  return cfg;
}

/**
 * The satellite settings, checked together: the upstream URL ends up in the
 * iPXE script the satellite hands out (chain <upstream>/boot.ipxe), so
 * anything iPXE would expand or split on is refused here.
 */
function satelliteProblems(cfg: Config): string[] {
  const problems: string[] = [];
  const satellite = cfg.role === 'satellite';
  if (satellite) {
    if (!cfg.upstream) problems.push('upstream is required for --role satellite: the centre\'s URL as this site reaches it (e.g. --upstream http://10.0.0.5:8080)');
    if (!cfg.satelliteToken) problems.push('satelliteToken is required for --role satellite: the centre\'s --satellite-token (16+ characters)');
  } else {
    if (cfg.upstream) problems.push('upstream is only for --role satellite (this is the centre: leave it unset)');
    if (cfg.site) problems.push('site is only for --role satellite (the centre matches sites by subnet and relay)');
  }
  if (cfg.upstream) {
    let u: URL | null = null;
    try {
      u = new URL(cfg.upstream);
    } catch {
      problems.push(`upstream ${JSON.stringify(cfg.upstream.slice(0, 80))} is not a URL (e.g. http://10.0.0.5:8080)`);
    }
    if (u) {
      if (u.protocol !== 'http:' && u.protocol !== 'https:') problems.push(`upstream ${JSON.stringify(cfg.upstream)} must be an http:// or https:// URL`);
      else if (u.username || u.password) problems.push('upstream must not carry a user name or password (the satellite token is sent as a header)');
      else if (u.search || u.hash || /[?#]/.test(cfg.upstream)) problems.push('upstream must not carry a query or fragment: paths are appended to it');
      else if (!/^[A-Za-z0-9\-._~:/%[\]]+$/.test(cfg.upstream)) problems.push('upstream may hold only letters, digits and - . _ ~ : / % [ ] (it is written into iPXE scripts)');
    }
  }
  if (cfg.satelliteToken && cfg.satelliteToken.length < 16) problems.push('satelliteToken must be at least 16 characters');
  if (cfg.satelliteToken && /\s/.test(cfg.satelliteToken)) problems.push('satelliteToken must not contain whitespace (it is sent as "Authorization: Bearer <token>")');
  if (cfg.site && !/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(cfg.site)) problems.push(`site ${JSON.stringify(cfg.site.slice(0, 80))} must be a site name: 1–64 letters, digits, ".", "_" or "-", starting with a letter or digit`);
  return problems;
}

function coerce(s: Setting, raw: unknown): string | number | { problem: string } {
  const shown = JSON.stringify(raw);
  switch (s.kind) {
    case 'port': {
      const n = typeof raw === 'number' ? raw : /^\d+$/.test(String(raw)) ? Number(raw) : NaN;
      if (!Number.isInteger(n) || n < 0 || n > 65535) return { problem: `${shown} is not a port number (0–65535)` };
      return n;
    }
    case 'seconds': {
      const n = typeof raw === 'number' ? raw : /^\d+$/.test(String(raw)) ? Number(raw) : NaN;
      if (!Number.isInteger(n) || n < 1 || n > 365 * 86400) return { problem: `${shown} is not a number of seconds (1–31536000)` };
      return n;
    }
    case 'count': {
      const n = typeof raw === 'number' ? raw : /^\d+$/.test(String(raw)) ? Number(raw) : NaN;
      if (!Number.isInteger(n) || n < 0 || n > 1e12) return { problem: `${shown} is not a whole number (0 or more)` };
      return n;
    }
    case 'switch': {
      const v = String(raw).toLowerCase();
      if (['on', 'true', '1', 'yes'].includes(v)) return 'on';
      if (['off', 'false', '0', 'no'].includes(v)) return 'off';
      return { problem: `${shown} must be on or off` };
    }
    case 'role': {
      const v = String(raw).toLowerCase();
      return v === 'central' || v === 'satellite' ? v : { problem: `${shown} must be central or satellite` };
    }
    case 'loglevel': {
      const v = String(raw).toLowerCase();
      return LOG_LEVELS.includes(v) ? v : { problem: `${shown} must be one of ${LOG_LEVELS.join(', ')}` };
    }
    default:
      if (typeof raw !== 'string') return { problem: `${shown} must be a string` };
      return raw;
  }
}

/** First non-internal IPv4 address, for the advertised base URL when none is configured. */
export function detectAddress(): string {
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

export function resolveBaseUrl(cfg: Config, detect: () => string = detectAddress): string {
  if (cfg.baseUrl) return cfg.baseUrl;
  const addr = cfg.advertiseIp || detect();
  return `http://${addr}:${cfg.httpPort}`;
}

export function configHelp(): string {
  return SETTINGS.map((s) => `  ${flagName(s.key).padEnd(22)} ${envName(s.key).padEnd(30)} ${s.help} [${s.def === '' ? 'unset' : s.def}]`).join('\n');
}
