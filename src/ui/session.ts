/**
 * Admin UI sessions, kept in memory: a restart signs everyone out, which is
 * the right default for a tool whose sign-in is a token printed at start.
 *
 * The cookie holds a random id; the map is keyed by its SHA-256, so the ids
 * themselves live only in the browsers. Each session has its own CSRF token,
 * remembers the admin token hash it signed in with (rotating the token ends
 * it), and expires after being idle or after a fixed lifetime.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export interface Flash {
  kind: 'ok' | 'error';
  text: string;
}

export interface Session {
  key: string;
  csrf: string;
  tokenSha256: string;
  created: number;
  seen: number;
  flash: Flash[];
}

export interface SessionOptions {
  idleMs?: number;
  maxAgeMs?: number;
  /** At most this many live sessions; the least recently used goes first. */
  max?: number;
  now?: () => number;
}

export const SESSION_COOKIE = 'chainboot_session';
export const LOGIN_COOKIE = 'chainboot_login';

export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

function keyOf(id: string): string {
  return createHash('sha256').update(id).digest('hex');
}

/** Constant-time comparison of two strings of any length. */
export function sameSecret(a: string, b: string): boolean {
  const x = createHash('sha256').update(a).digest();
  const y = createHash('sha256').update(b).digest();
  return timingSafeEqual(x, y) && a.length === b.length;
}

export type SessionStore = ReturnType<typeof createSessionStore>;

export function createSessionStore(opts: SessionOptions = {}) {
  const idleMs = opts.idleMs ?? 8 * 3_600_000;
  const maxAgeMs = opts.maxAgeMs ?? 24 * 3_600_000;
  const max = opts.max ?? 1000;
  const now = opts.now ?? Date.now;
  // Map order is insertion order; touching a session re-inserts it, so the first entry is the least recently used.
  const sessions = new Map<string, Session>();

  function alive(s: Session, t: number): boolean {
    return t - s.seen < idleMs && t - s.created < maxAgeMs;
  }

  return {
    /** A new session; returns the cookie value (never stored) and the session. */
    create(tokenSha256: string): { id: string; session: Session } {
      const t = now();
      for (const [k, s] of sessions) if (!alive(s, t)) sessions.delete(k);
      while (sessions.size >= max) sessions.delete(sessions.keys().next().value!);
      const id = randomToken();
      const session: Session = { key: keyOf(id), csrf: randomToken(), tokenSha256, created: t, seen: t, flash: [] };
      sessions.set(session.key, session);
      return { id, session };
    },
    /** The live session for a cookie value, signed in with the current admin token. */
    get(id: string | undefined, currentTokenSha256: string): Session | undefined {
      if (!id || id.length > 100) return undefined;
      const key = keyOf(id);
      const s = sessions.get(key);
      if (!s) return undefined;
      const t = now();
      if (!alive(s, t) || !sameSecret(s.tokenSha256, currentTokenSha256)) {
        sessions.delete(key);
        return undefined;
      }
      s.seen = t;
      sessions.delete(key);
      sessions.set(key, s);
      return s;
    },
    destroy(s: Session): void {
      sessions.delete(s.key);
    },
    get size() {
      return sessions.size;
    },
  };
}

// The sign-in limiter is shared with the API's bearer-token check.
export { createLoginLimiter } from '../http/limits.js';
