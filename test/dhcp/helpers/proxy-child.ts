/**
 * Runs createProxyDhcpServer inside a network namespace for the socket tests
 * and bench/dhcp: `ip netns exec NS node --import tsx proxy-child.ts JSON`.
 * Prints JSON lines on stdout: {"type":"listening",…}, one {"type":"event",…}
 * per boot event, {"type":"counters",…} on request; stops on SIGTERM or when
 * stdin closes.
 */
import { createProxyDhcpServer, type ProxyDhcpServerOptions } from '../../../src/dhcp/server.js';
import { silentLogger, createLogger } from '../../../src/log.js';
import type { HostMode } from '../../../src/dhcp/firmware.js';

type ChildConfig = Omit<ProxyDhcpServerOptions, 'log' | 'events' | 'hostLookup'> & { hosts?: Record<string, HostMode>; logLevel?: string; quiet?: boolean };

const cfg = JSON.parse(process.argv[2] ?? '{}') as ChildConfig;
const out = (o: unknown) => process.stdout.write(JSON.stringify(o) + '\n');
const hosts = new Map(Object.entries(cfg.hosts ?? {}));

const server = createProxyDhcpServer({
  ...cfg,
  log: cfg.logLevel ? createLogger(cfg.logLevel) : silentLogger,
  hostLookup: (mac) => {
    const m = hosts.get(mac);
    return m ? { dhcpMode: m } : undefined;
  },
  events: cfg.quiet ? undefined : { record: (e) => out({ type: 'event', ...e }) },
});

try {
  const report = await server.listen();
  out({ type: 'listening', report });
} catch (e) {
  out({ type: 'listen-failed', error: (e as Error).message });
  process.exit(3);
}

let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  out({ type: 'counters', counters: server.counters });
  void server.close().then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.stdin.on('end', stop);
process.stdin.on('data', (d) => {
  if (String(d).includes('counters')) out({ type: 'counters', counters: server.counters });
});
process.stdin.resume();
