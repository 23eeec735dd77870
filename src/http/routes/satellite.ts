/**
 * The centre's side of site satellites, under /satellite/v1 (bearer
 * satelliteToken; every route answers 404 while no token is set, so a centre
 * without satellites shows nothing here):
 *
 *   GET  /loaders      the loaders this centre serves, with size and sha256;
 *                      the bytes come from the ordinary /loaders/:name route
 *   GET  /hosts        hosts whose proxyDHCP mode is not "follow", with an
 *                      ETag (an unchanged list is a 304)
 *   GET  /site/:name   a site's loader/menu overrides and boot URL
 *   POST /events       a batch of the satellite's DHCP/TFTP boot events,
 *                      written to the boot event log (all or none)
 */
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { createHash, timingSafeEqual } from 'node:crypto';
import { readdirSync } from 'node:fs';
import type { EventLog } from '../../boot/events.js';
import { ESSENTIAL_LOADERS, findLoader } from '../../boot/loaders.js';
import { clientIp } from '../client-ip.js';
import { resolveInRoot } from '../safe-path.js';
import { createFailureLimiter, type FailureLimiter } from '../limits.js';
import { describeZodError } from '../../validate.js';
import { createHashCache, EVENT_BODY_MAX, eventBatchSchema, LOADER_NAME, type HashCache, type ManifestEntry } from '../../satellite/protocol.js';
import type { Site } from '../../db/schema.js';

export interface SatelliteRouteDeps {
  /** Hosts whose proxyDHCP mode is not "follow", ordered by MAC (Backend.dhcpOverrides). */
  hostModes: () => Promise<{ mac: string; dhcpMode: string }[]>;
  loaderRoot: string;
  /** The shared satellite token; undefined/empty = the satellite API is off (404). Asked per request. */
  token: () => string | undefined;
  /** A site by name (its overrides); absent = /site answers 404. */
  site?: (name: string) => Promise<Site | undefined>;
  events?: Pick<EventLog, 'record' | 'flush'>;
  /** Wrong tokens per client address: 10 a minute, as the admin API. */
  authLimiter?: FailureLimiter;
  hashes?: HashCache;
  now?: () => number;
}

const sha = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/** Loader names the centre serves: the essential ones wherever found, and every plain file in the loader root. */
function loaderNames(root: string): string[] {
  const names = new Set<string>(ESSENTIAL_LOADERS);
  try {
    for (const d of readdirSync(root, { withFileTypes: true })) {
      if (LOADER_NAME.test(d.name) && (d.isFile() || d.isSymbolicLink())) names.add(d.name);
    }
  } catch {
    /* no loader root: only what the system folders hold */
  }
  return [...names].sort();
}

export function satelliteRoutes(deps: SatelliteRouteDeps): Hono {
  const app = new Hono();
  const now = deps.now ?? Date.now;
  const limiter = deps.authLimiter ?? createFailureLimiter({ limit: 10, windowMs: 60_000, now });
  const hashes = deps.hashes ?? createHashCache();
  const batchSchema = eventBatchSchema(now);

  app.use('*', async (c, next) => {
    const token = deps.token();
    if (!token) return c.json({ error: 'the satellite API is off on this centre (set satelliteToken to turn it on)' }, 404);
    const client = clientIp(c) ?? 'local';
    if (limiter.blocked(client)) {
      const wait = limiter.retryAfter(client);
      return c.json({ error: `too many wrong satellite tokens from this address: try again in ${wait} s` }, 429, { 'Retry-After': String(wait) });
    }
    const header = c.req.header('authorization') ?? '';
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    // Compared as hashes: equal lengths, and no timing clue about the token.
    if (!m || !timingSafeEqual(sha(m[1]!), sha(token))) {
      if (header !== '') limiter.failed(client);
      return c.json({ error: 'authentication required: send "Authorization: Bearer <satellite token>"' }, 401, { 'WWW-Authenticate': 'Bearer realm="chainboot-satellite"' });
    }
    await next();
  });

  app.get('/loaders', async (c) => {
    const loaders: ManifestEntry[] = [];
    for (const name of loaderNames(deps.loaderRoot)) {
      const path = findLoader(name, deps.loaderRoot);
      if (!path) continue;
      // Exactly what GET /loaders/:name serves (it refuses a link out of its folder, as Debian's ipxe.efi → /boot is).
      const slash = path.lastIndexOf('/');
      const r = resolveInRoot(path.slice(0, slash) || '/', encodeURIComponent(path.slice(slash + 1)));
      if (!r.ok) continue;
      try {
        loaders.push({ name, size: r.stats.size, sha256: await hashes.sha256(r.path, r.stats) });
      } catch {
        /* vanished between the listing and the hash: not in this manifest */
      }
    }
    return c.json({ loaders }, 200, { 'Cache-Control': 'no-store' });
  });

  app.get('/hosts', async (c) => {
    // Only the two fields, in this order: the ETag is a hash of exactly this body.
    const rows = (await deps.hostModes()).map((h) => ({ mac: h.mac, dhcpMode: h.dhcpMode }));
    const body = JSON.stringify({ hosts: rows });
    const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
    const inm = c.req.header('if-none-match');
    if (inm && inm.split(',').some((t) => t.trim().replace(/^W\//, '') === etag)) return c.body(null, 304, { ETag: etag, 'Cache-Control': 'no-cache' });
    return c.body(body, 200, { 'Content-Type': 'application/json', ETag: etag, 'Cache-Control': 'no-cache' });
  });

  app.get('/site/:name', async (c) => {
    const name = c.req.param('name');
    const s = await deps.site?.(name);
    if (!s) return c.json({ error: `site "${name.slice(0, 64)}" does not exist at the centre` }, 404);
    return c.json({ name: s.name, loaders: s.loaders, menuDisplay: s.menuDisplay, bootBaseUrl: s.bootBaseUrl, version: s.version }, 200, { 'Cache-Control': 'no-store' });
  });

  app.post(
    '/events',
    bodyLimit({ maxSize: EVENT_BODY_MAX, onError: (c) => c.json({ error: `event batch over ${EVENT_BODY_MAX} bytes: send smaller batches` }, 413) }),
    async (c: Context) => {
      if (!deps.events) return c.json({ error: 'this centre keeps no boot event log' }, 404);
      let raw: unknown;
      try {
        raw = JSON.parse(await c.req.text());
      } catch (e) {
        return c.json({ error: `body must be JSON: ${(e as Error).message}` }, 400);
      }
      const r = batchSchema.safeParse(raw);
      if (!r.success) return c.json({ error: `event batch refused, nothing written: ${describeZodError(r.error)}` }, 400);
      // Named by the satellite's site, else by its address: the timeline says where the step happened.
      const from = r.data.satellite ?? `satellite@${clientIp(c) ?? 'unknown'}`;
      for (const e of r.data.events) {
        deps.events.record({ at: e.at, mac: e.mac, clientIp: e.clientIp, kind: e.kind, request: e.request, result: e.result, status: e.status, detail: { ...e.detail, satellite: from } });
      }
      return c.json({ accepted: r.data.events.length }, 202);
    },
  );

  return app;
}
