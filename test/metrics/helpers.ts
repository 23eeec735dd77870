/**
 * Helpers for the observability tests: a real HTTP listener on an ephemeral
 * loopback port (with a way to wait until every response has closed, so
 * byte counters read at scrape time are settled without sleeping), and a
 * parser for the Prometheus text exposition format.
 */
import { serve, type ServerType } from '@hono/node-server';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Hono } from 'hono';
import { createApp, type AppDeps } from '../../src/http/app.js';
import { silentLogger } from '../../src/log.js';
import { TOKEN, type Stack } from '../helpers/services.js';
import { tokenHash } from '../../src/http/routes/api.js';

export interface Listening {
  url: string;
  /** Resolves once every response begun so far has emitted 'close' (and all its close listeners ran). */
  settled(): Promise<void>;
  close(): Promise<void>;
}

export async function listen(app: Hono): Promise<Listening> {
  let open = 0;
  let waiters: (() => void)[] = [];
  const server: ServerType = await new Promise((ok) => {
    const s = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => ok(s));
  });
  server.on('request', (_req: IncomingMessage, res: ServerResponse) => {
    open++;
    res.once('close', () => {
      open--;
      // Resolved promises continue after this emit returns, i.e. after every other close listener.
      if (open === 0) for (const w of waiters.splice(0)) w();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    settled: () => new Promise<void>((ok) => (open === 0 ? ok() : waiters.push(ok))),
    close: () =>
      new Promise<void>((ok) => {
        waiters = [];
        (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
        server.close(() => ok());
      }),
  };
}

/** createApp over a makeStack() stack, as buildServices wires it, with extra deps (metrics, metricsToken, readiness, log). */
export function appOver(s: Stack, extra: Partial<AppDeps> = {}): Hono {
  return createApp({
    boot: s.boot,
    admin: s.admin,
    store: s.store,
    backend: s.backend,
    events: s.events,
    tasks: s.tasks,
    log: silentLogger,
    assetRoot: '/nonexistent',
    loaderRoot: '/nonexistent',
    tokenSha256: () => tokenHash(TOKEN),
    engine: s.engine,
    baseUrl: s.baseUrl,
    ...extra,
  });
}

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses text format 0.0.4: `name{a="x",b="y"} value`, with \\ \" \n escapes in label values. */
export function parseExposition(text: string): { samples: Sample[]; types: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (!line) continue;
    if (line.startsWith('#')) {
      const m = /^# TYPE (\S+) (\S+)$/.exec(line);
      if (m) types.set(m[1]!, m[2]!);
      continue;
    }
    const name = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)![0];
    let i = name.length;
    const labels: Record<string, string> = {};
    if (line[i] === '{') {
      i++;
      while (line[i] !== '}') {
        const eq = line.indexOf('=', i);
        const key = line.slice(i, eq);
        if (line[eq + 1] !== '"') throw new Error(`bad label in ${line}`);
        let j = eq + 2;
        let v = '';
        while (line[j] !== '"') {
          if (line[j] === '\\') {
            const n = line[j + 1];
            v += n === 'n' ? '\n' : n;
            j += 2;
          } else v += line[j++];
        }
        labels[key] = v;
        i = j + 1;
        if (line[i] === ',') i++;
      }
      i++;
    }
    const rest = line.slice(i).trim().split(/\s+/);
    const value = rest[0] === '+Inf' ? Infinity : rest[0] === '-Inf' ? -Infinity : Number(rest[0]);
    if (Number.isNaN(value) && rest[0] !== 'NaN') throw new Error(`bad value in ${line}`);
    samples.push({ name, labels, value });
  }
  return { samples, types };
}

export class Scrape {
  constructor(
    readonly samples: Sample[],
    readonly types: Map<string, string>,
  ) {}

  static parse(text: string): Scrape {
    const { samples, types } = parseExposition(text);
    return new Scrape(samples, types);
  }

  /** The value of the one sample with this name whose labels include `labels`; 0 when there is none. */
  get(name: string, labels: Record<string, string> = {}): number {
    const hits = this.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
    if (hits.length > 1) throw new Error(`${name} ${JSON.stringify(labels)} matches ${hits.length} samples: ${JSON.stringify(hits)}`);
    return hits[0]?.value ?? 0;
  }

  /** Sum over every sample with this name whose labels include `labels`. */
  sum(name: string, labels: Record<string, string> = {}): number {
    return this.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((a, s) => a + s.value, 0);
  }

  /** Every distinct value a label takes in a metric. */
  labelValues(name: string, label: string): string[] {
    return [...new Set(this.samples.filter((s) => s.name === name && label in s.labels).map((s) => s.labels[label]!))].sort();
  }

  /** Difference after − before, per sample key (for counters that other requests in the same test also move). */
  static delta(before: Scrape, after: Scrape, name: string, labels: Record<string, string> = {}): number {
    return after.sum(name, labels) - before.sum(name, labels);
  }
}

export async function scrape(url: string, init: RequestInit = {}): Promise<Scrape> {
  const res = await fetch(`${url}/metrics`, init);
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}: ${await res.text()}`);
  return Scrape.parse(await res.text());
}
