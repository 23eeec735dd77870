/**
 * Prometheus metrics, one registry per service instance (never prom-client's
 * global default registry: tests build many stacks in one process, each with
 * fresh numbers).
 *
 * The DHCP and TFTP servers already count what they do in plain objects; those
 * are read when Prometheus scrapes (collect()), so a DISCOVER storm or a TFTP
 * transfer pays nothing extra per packet. Likewise renders (the boot
 * service's renderStats), tasks by state (one GROUP BY per scrape) and the
 * boot event log. Only HTTP is measured as it happens, by one middleware
 * (http.ts), labelled by route pattern — never by raw path or MAC — and
 * status class, so the label sets stay bounded.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { TASK_STATES } from '../db/schema.js';
import type { ProxyDhcpCounters } from '../dhcp/server.js';
import type { TftpCounters } from '../tftp/server.js';
import type { RenderStats } from '../boot/service.js';
import type { BootCorrelator } from './boot-id.js';

export interface MetricsOptions {
  /** Tasks by state are counted in it at scrape time. */
  taskCounts?: () => Promise<Map<string, number>>;
  /** Renders and boots started (the boot service's renderStats and boots). */
  boot?: { renderStats: Readonly<RenderStats>; boots?: Pick<BootCorrelator, 'stats'> };
  /** The boot event log's backlog and drops. */
  events?: { readonly pending: number; readonly dropped: number };
  /**
   * Node.js process metrics (CPU, memory, open fds, event-loop delay, GC):
   * for serve, not for tests (each registry would start its own GC observer
   * and event-loop monitor).
   */
  processMetrics?: boolean;
}

type Source<T> = (() => T | null | undefined) | null;

/** HTTP methods kept as label values; anything else is "OTHER" (the method is client-chosen). */
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

export type Metrics = ReturnType<typeof createMetrics>;

export function createMetrics(opts: MetricsOptions = {}) {
  const registry = new Registry();
  const registers = [registry];
  let dhcp: Source<ProxyDhcpCounters> = null;
  let tftp: Source<TftpCounters> = null;

  /** A counter whose value is read from elsewhere at scrape time. */
  function counterFrom(name: string, help: string, read: () => number | undefined): void {
    new Counter({
      name,
      help,
      registers,
      collect() {
        this.reset();
        const v = read();
        if (v !== undefined && v > 0) this.inc(v);
      },
    });
  }

  // ---- HTTP (measured by the middleware in http.ts) ----------------------
  const labelNames = ['method', 'route', 'status'] as const;
  const httpRequests = new Counter({ name: 'chainboot_http_requests_total', help: 'HTTP requests answered, by method, route pattern and status class', labelNames, registers });
  const httpBytes = new Counter({ name: 'chainboot_http_response_bytes_total', help: 'HTTP response body bytes written, by method, route pattern and status class', labelNames, registers });
  const httpSeconds = new Histogram({
    name: 'chainboot_http_request_duration_seconds',
    help: 'Time until the response head is ready (a streamed body is not included), by method, route pattern and status class',
    labelNames,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers,
  });
  const streams = new Gauge({ name: 'chainboot_http_active_streams', help: 'Asset and loader bodies being streamed now', labelNames: ['kind'], registers });
  streams.set({ kind: 'asset' }, 0);
  streams.set({ kind: 'loader' }, 0);

  // ---- proxyDHCP (read from the server's counters) -----------------------
  counterFrom('chainboot_dhcp_packets_received_total', 'DHCP packets received on ports 67 and 4011', () => dhcp?.()?.received);
  counterFrom('chainboot_dhcp_packets_malformed_total', 'DHCP packets that did not decode (dropped)', () => dhcp?.()?.malformed);
  counterFrom('chainboot_dhcp_rate_limited_total', 'DHCP packets dropped by the per-MAC rate limit', () => dhcp?.()?.rateLimited);
  counterFrom('chainboot_dhcp_replies_sent_total', 'DHCP replies handed to the network', () => dhcp?.()?.sent);
  counterFrom('chainboot_dhcp_send_errors_total', 'DHCP replies that failed to send', () => dhcp?.()?.sendErrors);
  counterFrom('chainboot_dhcp_encode_errors_total', 'DHCP replies that could not be encoded', () => dhcp?.()?.encodeErrors);
  new Counter({
    name: 'chainboot_dhcp_replies_total',
    help: 'proxyDHCP answers: message offer (port 67) or ack (port 4011 / boot server discovery), by architecture family (the loader family: bios, efi64, arm64 …, -http for UEFI HTTP Boot; ipxe for iPXE asking again) and outcome (loader, http-loader, boot-script, menu)',
    labelNames: ['message', 'arch', 'outcome'],
    registers,
    collect() {
      this.reset();
      const c = dhcp?.();
      if (!c) return;
      for (const [message, table] of [['offer', c.offers], ['ack', c.acks]] as const) {
        for (const [arch, row] of Object.entries(table)) for (const [outcome, n] of Object.entries(row)) this.inc({ message, arch, outcome }, n);
      }
    },
  });
  new Counter({
    name: 'chainboot_dhcp_ignored_total',
    help: 'DHCP requests not answered, by reason',
    labelNames: ['reason'],
    registers,
    collect() {
      this.reset();
      const c = dhcp?.();
      if (!c) return;
      for (const [reason, n] of Object.entries(c.ignored)) if (n) this.inc({ reason }, n);
    },
  });

  // ---- TFTP (read from the server's counters) ----------------------------
  counterFrom('chainboot_tftp_transfers_started_total', 'TFTP transfers started (file found, transfer begun)', () => tftp?.()?.transfers);
  new Counter({
    name: 'chainboot_tftp_transfers_finished_total',
    help: 'TFTP transfers ended, by result: complete (last block acknowledged) or failed (timeout, client error, superseded, shutdown)',
    labelNames: ['result'],
    registers,
    collect() {
      this.reset();
      const c = tftp?.();
      this.inc({ result: 'complete' }, c?.completed ?? 0);
      this.inc({ result: 'failed' }, c?.failed ?? 0);
    },
  });
  counterFrom('chainboot_tftp_bytes_total', 'TFTP file bytes acknowledged by clients', () => tftp?.()?.bytes);
  counterFrom('chainboot_tftp_errors_total', 'TFTP ERROR packets sent (not found, access, busy, write refused, wrong TID …)', () => tftp?.()?.errors);
  counterFrom('chainboot_tftp_retransmits_total', 'TFTP DATA/OACK packets sent again (counted when a transfer ends)', () => tftp?.()?.retransmits);
  counterFrom('chainboot_tftp_malformed_total', 'TFTP datagrams that did not decode (dropped)', () => tftp?.()?.malformed);
  counterFrom('chainboot_tftp_busy_total', 'TFTP requests refused because the session limit was reached', () => tftp?.()?.busy);
  new Gauge({
    name: 'chainboot_tftp_active_transfers',
    help: 'TFTP transfers running now',
    registers,
    collect() {
      this.set(tftp?.()?.active ?? 0);
    },
  });

  // ---- renders, boots, tasks, events -------------------------------------
  const boot = opts.boot;
  new Counter({
    name: 'chainboot_renders_total',
    help: 'Templates rendered for machines (previews not counted), by kind: script (/ipxe), pxelinux, file (per-host files), entry (/boot.ipxe)',
    labelNames: ['kind'],
    registers,
    collect() {
      this.reset();
      if (!boot) return;
      for (const [kind, s] of Object.entries(boot.renderStats)) this.inc({ kind }, s.renders);
    },
  });
  new Counter({
    name: 'chainboot_render_errors_total',
    help: 'Renders that failed (the client got a 500 naming the template error), by kind',
    labelNames: ['kind'],
    registers,
    collect() {
      this.reset();
      if (!boot) return;
      for (const [kind, s] of Object.entries(boot.renderStats)) this.inc({ kind }, s.errors);
    },
  });
  counterFrom('chainboot_boots_started_total', 'Machine boots seen start (a firmware DHCP DISCOVER, or a first step after a quiet gap): the boot correlation ids handed out', () => boot?.boots?.stats.started);

  const taskCounts = opts.taskCounts;
  if (taskCounts) {
    new Gauge({
      name: 'chainboot_tasks',
      help: 'Tasks by state',
      labelNames: ['state'],
      registers,
      async collect() {
        const counts = new Map<string, number>(TASK_STATES.map((s) => [s, 0]));
        try {
          for (const [state, n] of await taskCounts()) counts.set(state, n);
        } catch {
          // The database is closing (shutdown): the scrape goes on without this metric's fresh values.
          return;
        }
        for (const [state, n] of counts) this.set({ state }, n);
      },
    });
  }

  const events = opts.events;
  if (events) {
    counterFrom('chainboot_boot_events_dropped_total', 'Boot events dropped (the writer fell behind or failed)', () => events.dropped);
    new Gauge({
      name: 'chainboot_boot_events_pending',
      help: 'Boot events waiting to be handed to the writer',
      registers,
      collect() {
        this.set(events.pending);
      },
    });
  }

  if (opts.processMetrics) collectDefaultMetrics({ register: registry });

  return {
    registry,
    /** Read this server's counters at each scrape (null: none; a replaced server starts its counters again at 0). */
    watchDhcp(server: { readonly counters: ProxyDhcpCounters } | null): void {
      dhcp = server ? () => server.counters : null;
    },
    watchTftp(server: { readonly counters: Readonly<TftpCounters> } | null): void {
      tftp = server ? () => server.counters : null;
    },
    /** One answered HTTP request (the middleware in http.ts). */
    httpRequest(method: string, route: string, status: number, seconds: number): { method: string; route: string; status: string } {
      const labels = { method: METHODS.has(method) ? method : 'OTHER', route, status: `${Math.trunc(status / 100)}xx` };
      httpRequests.inc(labels);
      httpSeconds.observe(labels, seconds);
      return labels;
    },
    httpBytes(labels: { method: string; route: string; status: string }, bytes: number): void {
      if (bytes > 0) httpBytes.inc(labels, bytes);
    },
    /** The active-streams gauge, for fileRoutes' onStream. */
    stream(kind: 'asset' | 'loader', delta: 1 | -1): void {
      streams.inc({ kind }, delta);
    },
    /** The exposition text (Prometheus text format 0.0.4) and its content type. */
    async scrape(): Promise<{ text: string; contentType: string }> {
      return { text: await registry.metrics(), contentType: registry.contentType };
    },
  };
}
