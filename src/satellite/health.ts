/**
 * Is the centre reachable? A satellite asks <upstream>/healthz every
 * interval with a short deadline; one failed check makes it "down" (clients
 * are then sent to their local disk at once, so a fast answer matters more
 * than riding out one lost packet), one good check makes it "up" again.
 * Each transition is logged once, not every check.
 */
import type { Logger } from '../log.js';

export interface HealthState {
  up: boolean;
  /** When the current state began (ms); the start time before the first check. */
  since: number;
  /** Why the last failed check failed; null after a good one. */
  lastError: string | null;
  /** When the last check ended (ms); null before the first. */
  lastCheck: number | null;
  /** False until the first check has ended: the satellite starts as "down" (fail safe). */
  checked: boolean;
}

export type Transition = 'up' | 'down' | null;

export function initialHealth(now: number): HealthState {
  return { up: false, since: now, lastError: 'not checked yet', lastCheck: null, checked: false };
}

/** Pure: the state after one check (error = null for a good one) and the transition to log, if any. */
export function nextHealth(s: HealthState, error: string | null, now: number): { state: HealthState; transition: Transition } {
  const up = error === null;
  // The first check always reports: "down" before it was only an assumption.
  const changed = up !== s.up || !s.checked;
  const state: HealthState = { up, since: changed ? now : s.since, lastError: error, lastCheck: now, checked: true };
  return { state, transition: changed ? (up ? 'up' : 'down') : null };
}

/** One check: a 2xx from <upstream>/healthz within timeoutMs, else the reason. */
export async function checkUpstream(url: string, timeoutMs: number, fetchFn: typeof fetch = fetch): Promise<string | null> {
  try {
    const res = await fetchFn(`${url}/healthz`, { signal: AbortSignal.timeout(timeoutMs), headers: { accept: 'application/json' } });
    await res.body?.cancel().catch(() => {});
    return res.ok ? null : `GET /healthz answered ${res.status}`;
  } catch (err) {
    return describeFetchError(err, timeoutMs);
  }
}

/** fetch's errors say "fetch failed"; the reason is in their cause (ECONNREFUSED, a time-out …). */
export function describeFetchError(err: unknown, timeoutMs?: number): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError') return `no answer within ${timeoutMs ?? '?'} ms`;
  if (e?.name === 'AbortError') return 'aborted';
  const cause = e?.cause;
  if (cause?.message) return cause.message.slice(0, 200);
  if (cause?.code) return cause.code;
  return String(e?.message ?? err).slice(0, 200);
}

export interface UpstreamHealthOptions {
  url: string;
  intervalMs: number;
  timeoutMs?: number;
  log: Logger;
  fetch?: typeof fetch;
  now?: () => number;
  /** After each transition (the centre went away, or came back). */
  onChange?: (up: boolean) => void;
}

export function createUpstreamHealth(opts: UpstreamHealthOptions) {
  const now = opts.now ?? Date.now;
  let state = initialHealth(now());
  let interval = opts.intervalMs;
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<void> | null = null;
  let stopped = false;
  const timeoutMs = () => opts.timeoutMs ?? Math.min(1000, interval);

  async function checkNow(): Promise<HealthState> {
    running ??= (async () => {
      const error = await checkUpstream(opts.url, timeoutMs(), opts.fetch);
      if (stopped) return;
      const r = nextHealth(state, error, now());
      state = r.state;
      if (r.transition === 'down') opts.log.warn({ upstream: opts.url, error }, `centre ${opts.url} unreachable (${error}): clients are sent to their local disk until it is back`);
      else if (r.transition === 'up') opts.log.info({ upstream: opts.url }, `centre ${opts.url} reachable: clients chain to it again`);
      if (r.transition) opts.onChange?.(state.up);
    })().finally(() => (running = null));
    await running;
    return state;
  }

  /** The next check `interval` after the start of the previous one (at once if that one took longer). */
  function schedule(startedAt: number): void {
    if (stopped) return;
    timer = setTimeout(run, Math.max(0, startedAt + interval - now()));
    timer.unref();
  }
  function run(): void {
    const t = now();
    void checkNow().finally(() => schedule(t));
  }

  return {
    get state(): HealthState {
      return state;
    },
    /** First check at once, then every interval. */
    start(): void {
      run();
    },
    checkNow,
    setInterval(ms: number): void {
      interval = ms;
    },
    stop(): void {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}
export type UpstreamHealth = ReturnType<typeof createUpstreamHealth>;
