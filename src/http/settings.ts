/**
 * The HTTP server's resource limits as config.ts holds them (flat strings:
 * flag, env, config file) and their parsing into limitConnections options.
 * Pure. config.ts spreads HTTP_LIMIT_SETTINGS into SETTINGS and adds
 * parseHttpLimitSettings(cfg).problems to its problem list, as for TFTP.
 */
import type { ConnLimitOptions } from './conn-limit.js';

export const HTTP_LIMIT_SETTINGS = [
  { key: 'httpMaxConnections', kind: 'string', def: '4096', help: 'concurrent HTTP connections overall; more are answered 503 (0 = no limit)' },
  { key: 'httpMaxConnectionsPerClient', kind: 'string', def: '64', help: 'concurrent HTTP connections from one address (IPv6: one /64); more are answered 429 — raise it for a caching proxy in front of many clients (0 = no limit)' },
  { key: 'httpHeadersTimeout', kind: 'string', def: '20', help: 'seconds a client has to send a request\'s headers (slow clients holding connections open)' },
  { key: 'httpRequestTimeout', kind: 'string', def: '120', help: 'seconds a client has to send a whole request, body included; responses such as image downloads are never cut by it' },
  { key: 'httpIdleTimeout', kind: 'string', def: '300', help: 'seconds a connection may go with nothing sent or received (a client that stopped reading its download) before it is closed (0 = never)' },
] as const;

export type HttpLimitSettingKey = (typeof HTTP_LIMIT_SETTINGS)[number]['key'];
export type HttpLimitSettingValues = { [K in HttpLimitSettingKey]: string };

/** Parses the flat settings; every problem names its setting. */
export function parseHttpLimitSettings(v: Partial<Record<HttpLimitSettingKey, string | number>>): { value: ConnLimitOptions; problems: string[] } {
  const problems: string[] = [];
  const def = (k: HttpLimitSettingKey) => HTTP_LIMIT_SETTINGS.find((s) => s.key === k)!.def;
  const int = (k: HttpLimitSettingKey, min: number, max: number): number => {
    const raw = String(v[k] ?? def(k)).trim();
    const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
    if (!(n >= min && n <= max)) {
      problems.push(`${k} ${JSON.stringify(raw)} must be a whole number ${min}–${max}`);
      return Number(def(k));
    }
    return n;
  };
  const value: ConnLimitOptions = {
    total: int('httpMaxConnections', 0, 1_000_000),
    perClient: int('httpMaxConnectionsPerClient', 0, 1_000_000),
    headersTimeoutMs: int('httpHeadersTimeout', 1, 3600) * 1000,
    requestTimeoutMs: int('httpRequestTimeout', 1, 86_400) * 1000,
    idleTimeoutMs: int('httpIdleTimeout', 0, 86_400) * 1000,
  };
  // Node refuses a header deadline past the request deadline.
  if (value.headersTimeoutMs > value.requestTimeoutMs) problems.push(`httpHeadersTimeout (${value.headersTimeoutMs / 1000} s) must not be longer than httpRequestTimeout (${value.requestTimeoutMs / 1000} s)`);
  return { value, problems };
}
