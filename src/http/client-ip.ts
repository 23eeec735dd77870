import type { Context } from 'hono';
import { getConnInfo } from '@hono/node-server/conninfo';

/** The peer address of the TCP connection (no trust in X-Forwarded-For). Undefined under app.request() in tests. */
export function clientIp(c: Context): string | undefined {
  try {
    const addr = getConnInfo(c).remote.address;
    return addr?.startsWith('::ffff:') ? addr.slice(7) : addr;
  } catch {
    return undefined;
  }
}
