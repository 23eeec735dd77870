/**
 * The admin JSON API under /api/v1. Bearer token required; every change goes
 * through src/admin.ts, which validates all of it before writing any of it.
 */
import { Hono, type Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { createHash, timingSafeEqual } from 'node:crypto';
import { profileView, type Admin } from '../../admin.js';
import type { AsyncStore } from '../../db/backend.js';
import type { BootService } from '../../boot/service.js';
import { normalizeMac } from '../../boot/mac.js';
import { InvalidInputError } from '../../errors.js';
import type { EventLog } from '../../boot/events.js';
import { bodyLimit } from 'hono/body-limit';
import { clientIp } from '../client-ip.js';
import { createFailureLimiter, type FailureLimiter } from '../limits.js';
import type { SiteAdmin } from '../../sites/admin.js';
import type { SiteDirectory } from '../../sites/store.js';
import { parseIpv4 } from '../../dhcp/packet.js';

export function tokenHash(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new InvalidInputError(`body must be JSON: ${(e as Error).message}`);
  }
}

/** Request bodies: JSON and templates up to 1 MiB, a host-os.conf import up to 16 MiB (checked before the body is read, see below). */
export const API_BODY_MAX = 1024 * 1024;
export const API_IMPORT_BODY_MAX = 16 * 1024 * 1024;

async function jsonBody(c: Context): Promise<unknown> {
  return parseJson(await c.req.text());
}

/** If-Match: "<version>" → the version; absent → undefined; anything else is a 400. */
function ifMatch(c: Context): number | undefined {
  const h = c.req.header('if-match');
  if (h === undefined) return undefined;
  const m = /^(?:W\/)?"(\d+)"$/.exec(h.trim());
  if (!m) throw new InvalidInputError('If-Match: expected a version in quotes, as sent in ETag (e.g. "3")');
  return Number(m[1]);
}

function intQuery(c: Context, name: string, def: number, min: number, max: number): number {
  const v = c.req.query(name);
  if (v === undefined || v === '') return def;
  if (!/^\d+$/.test(v)) throw new InvalidInputError(`${name}: must be a whole number`);
  const n = Number(v);
  if (n < min || n > max) throw new InvalidInputError(`${name}: must be between ${min} and ${max}`);
  return n;
}

/**
 * Template names contain "/", so the routes under /templates/ are parsed by
 * hand: <name>, <name>/versions, <name>/versions/<n>, <name>/versions/<n>/restore.
 * A template name always ends in an extension, so "versions" cannot be one.
 */
function templatePath(tail: string): { name: string; version?: number; restore?: boolean; versions?: boolean } {
  const m = /^(.+?)(?:\/(versions)(?:\/(\d+)(\/restore)?)?)?$/.exec(tail);
  if (!m) throw new HTTPException(404, { message: 'not found' });
  return { name: m[1]!, versions: !!m[2], version: m[3] !== undefined ? Number(m[3]) : undefined, restore: !!m[4] };
}

export interface ApiDeps {
  admin: Admin;
  store: AsyncStore;
  boot: BootService;
  events?: EventLog;
  /** The admin token's sha256 (hex); may be read from the database per request (a rotation on another node counts at once). */
  tokenSha256: () => string | Promise<string>;
  /** Failed bearer tokens per client address; default 10 a minute (as the UI's sign-in form). */
  authLimiter?: FailureLimiter;
  now?: () => number;
  /** Sites (/api/v1/sites); absent: those routes answer 404. */
  sites?: { admin: SiteAdmin; directory: SiteDirectory };
  /**
   * Brings the backend's synchronous views up to date (Backend.fresh): the
   * site list /site-match reads is, on PostgreSQL, only as new as the last
   * refresh, and a site just added (here or on another node) must count.
   */
  fresh?: () => Promise<void>;
}

export function apiRoutes(deps: ApiDeps): Hono {
  const { admin, store, boot } = deps;
  // Reads of events and last-seen times first write what is still batched in memory.
  const fresh = async () => {
    await deps.events?.flush();
  };
  const app = new Hono();

  const limiter = deps.authLimiter ?? createFailureLimiter({ limit: 10, windowMs: 60_000, now: deps.now });
  app.use('*', async (c, next) => {
    const client = clientIp(c) ?? 'local';
    // While an address is over its failures every request from it is refused,
    // the right token too: otherwise a 200 among the 429s would still tell a
    // guesser when it has guessed right.
    if (limiter.blocked(client)) {
      const wait = limiter.retryAfter(client);
      return c.json({ error: `too many wrong admin tokens from this address: try again in ${wait} s` }, 429, { 'Retry-After': String(wait) });
    }
    const header = c.req.header('authorization') ?? '';
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    const expected = Buffer.from(await deps.tokenSha256(), 'hex');
    const given = m ? Buffer.from(tokenHash(m[1]!), 'hex') : Buffer.alloc(expected.length);
    if (!m || expected.length !== given.length || !timingSafeEqual(expected, given)) {
      // A request without credentials is not a guess; a wrong token (or a mangled header) is.
      if (header !== '') limiter.failed(client);
      return c.json({ error: 'authentication required: send "Authorization: Bearer <admin token>"' }, 401, { 'WWW-Authenticate': 'Bearer realm="chainboot"' });
    }
    // No reset on success: failures age out of the window on their own, so an
    // authenticated client on the same address cannot clear a guesser's count.
    await next();
  });

  // Bodies are limited after authentication (no one unauthenticated gets a
  // byte buffered) and before any handler reads them: a Content-Length over
  // the limit is refused without reading, a chunked body as soon as it passes it.
  app.use('*', async (c, next) => {
    const max = c.req.method === 'POST' && /\/import$/.test(c.req.path) ? API_IMPORT_BODY_MAX : API_BODY_MAX;
    return bodyLimit({
      maxSize: max,
      onError: (c) => c.json({ error: `request body too large: this endpoint takes at most ${max / (1024 * 1024)} MiB` }, 413),
    })(c, next);
  });

  // ---- hosts --------------------------------------------------------------
  app.get('/hosts', async (c) => {
    await fresh();
    const q = c.req.query('q');
    return c.json(await store.listHosts({ q: q || undefined, limit: intQuery(c, 'limit', 100, 1, 1000), offset: intQuery(c, 'offset', 0, 0, 10_000_000) }));
  });
  app.post('/hosts', async (c) => c.json(await admin.addHost(await jsonBody(c)), 201));
  app.get('/hosts/:mac', async (c) => {
    await fresh();
    const h = await admin.getHost(c.req.param('mac'));
    return c.json(h, 200, { ETag: `"${h.version}"` });
  });
  // Optimistic concurrency: If-Match: "<version>" (from GET's ETag) or a
  // "version" field; a change made against an older version answers 409.
  app.patch('/hosts/:mac', async (c) => {
    const h = await admin.updateHost(c.req.param('mac'), await jsonBody(c), ifMatch(c));
    return c.json(h, 200, { ETag: `"${h.version}"` });
  });
  app.post('/hosts/:mac/adopt', async (c) => {
    const text = await c.req.text();
    const body = text.trim() ? parseJson(text) : {};
    return c.json(await admin.adoptHost(c.req.param('mac'), body));
  });
  app.get('/hosts/:mac/timeline', async (c) => {
    await fresh();
    return c.json(await admin.hostTimeline(c.req.param('mac'), intQuery(c, 'limit', 500, 1, 5000)));
  });

  // ---- tasks ----------------------------------------------------------------
  app.get('/tasks', async (c) =>
    c.json(
      await admin.listTasks({
        state: c.req.query('state') || undefined,
        mac: c.req.query('mac') || undefined,
        batch: c.req.query('batch') || undefined,
        limit: intQuery(c, 'limit', 100, 1, 1000),
        offset: intQuery(c, 'offset', 0, 0, 10_000_000),
      }),
    ),
  );
  app.post('/tasks', async (c) => c.json(await admin.assignTasks(await jsonBody(c)), 201));
  app.get('/tasks/:id{[0-9]+}', async (c) => {
    const t = await admin.getTask(Number(c.req.param('id')));
    return c.json(t, 200, { ETag: `"${t.version}"` });
  });
  app.post('/tasks/:id{[0-9]+}/cancel', async (c) => c.json(await admin.cancelTask(Number(c.req.param('id')), ifMatch(c))));
  app.delete('/hosts/:mac', async (c) => {
    await admin.removeHost(c.req.param('mac'));
    return c.body(null, 204);
  });

  // ---- profiles -----------------------------------------------------------
  app.get('/profiles', async (c) => c.json((await store.listProfiles()).map(profileView)));
  app.post('/profiles', async (c) => c.json(profileView(await admin.addProfile(await jsonBody(c))), 201));
  app.get('/profiles/:name', async (c) => c.json(profileView(await admin.getProfile(c.req.param('name')))));
  app.put('/profiles/:name', async (c) => c.json(profileView(await admin.replaceProfile(c.req.param('name'), await jsonBody(c)))));
  app.patch('/profiles/:name', async (c) => c.json(profileView(await admin.patchProfile(c.req.param('name'), await jsonBody(c)))));
  app.delete('/profiles/:name', async (c) => {
    await admin.removeProfile(c.req.param('name'));
    return c.body(null, 204);
  });

  // ---- templates ----------------------------------------------------------
  app.get('/templates', async (c) => c.json(await admin.listTemplates()));
  app.get('/templates/*', async (c) => {
    const p = templatePath(c.req.path.replace(/^.*?\/templates\//, ''));
    if (p.restore) throw new HTTPException(405, { message: 'use POST to restore' });
    if (p.version !== undefined) return c.json(await admin.templateVersion(p.name, p.version));
    if (p.versions) return c.json(await admin.templateVersions(p.name));
    return c.json(await admin.getTemplate(p.name));
  });
  app.put('/templates/*', async (c) => {
    const p = templatePath(c.req.path.replace(/^.*?\/templates\//, ''));
    if (p.versions) throw new HTTPException(405, { message: 'PUT the template itself, not its versions' });
    const type = c.req.header('content-type') ?? '';
    let body: unknown;
    let comment: unknown = '';
    if (type.startsWith('application/json')) {
      const j = (await jsonBody(c)) as { body?: unknown; comment?: unknown } | null;
      body = j?.body;
      comment = j?.comment ?? '';
    } else {
      body = await c.req.text();
      comment = c.req.query('comment') ?? '';
    }
    const v = await admin.saveTemplate(p.name, body, comment);
    return c.json({ name: v.name, version: v.version, createdAt: v.createdAt, comment: v.comment }, 201);
  });
  app.post('/templates/*', async (c) => {
    const p = templatePath(c.req.path.replace(/^.*?\/templates\//, ''));
    if (!p.restore || p.version === undefined) throw new HTTPException(404, { message: 'not found (restore is POST …/versions/<n>/restore)' });
    const v = await admin.restoreTemplate(p.name, p.version);
    return c.json({ name: v.name, version: v.version, comment: v.comment }, 201);
  });

  // ---- sites ----------------------------------------------------------------
  const sites = () => {
    if (!deps.sites) throw new HTTPException(404, { message: 'sites are not available here' });
    return deps.sites;
  };
  const siteName = (c: Context) => {
    const n = c.req.param('name') ?? '';
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(n)) throw new InvalidInputError('site name must be 1–64 letters, digits, ".", "_" or "-"');
    return n;
  };
  app.get('/sites', async (c) => c.json(await sites().admin.list()));
  app.post('/sites', async (c) => c.json(await sites().admin.add(await jsonBody(c)), 201));
  // Which site an address belongs to: ?ip=<client> and/or ?relay=<giaddr>.
  app.get('/site-match', async (c) => {
    const ip = c.req.query('ip') || undefined;
    const relay = c.req.query('relay') || undefined;
    for (const [k, v] of [['ip', ip], ['relay', relay]] as const) if (v !== undefined && parseIpv4(v) === null) throw new InvalidInputError(`${k}: not an IPv4 address`);
    if (!ip && !relay) throw new InvalidInputError('give ip=<client address> and/or relay=<relay address>');
    const { directory } = sites();
    await deps.fresh?.();
    const m = directory.match({ client: ip, relay });
    return c.json(m ? { site: m.site.name, by: m.by } : { site: null, by: 'no site holds this address: the centre\'s own network' });
  });
  app.get('/sites/:name', async (c) => {
    const s = await sites().admin.get(siteName(c));
    return c.json(s, 200, { ETag: `"${s.version}"` });
  });
  app.put('/sites/:name', async (c) => {
    const s = await sites().admin.replace(siteName(c), await jsonBody(c), ifMatch(c));
    return c.json(s, 200, { ETag: `"${s.version}"` });
  });
  app.patch('/sites/:name', async (c) => {
    const s = await sites().admin.patch(siteName(c), await jsonBody(c), ifMatch(c));
    return c.json(s, 200, { ETag: `"${s.version}"` });
  });
  app.delete('/sites/:name', async (c) => {
    await sites().admin.remove(siteName(c));
    return c.body(null, 204);
  });

  // ---- boot events ------------------------------------------------------------
  app.get('/events', async (c) => {
    await fresh();
    const macText = c.req.query('mac');
    const mac = macText ? normalizeMac(macText) : undefined;
    if (macText && !mac) throw new InvalidInputError('mac: not a MAC address');
    const kind = c.req.query('kind');
    return c.json(
      await store.listEvents({
        mac: mac ?? undefined,
        before: intQuery(c, 'before', 0, 0, Number.MAX_SAFE_INTEGER) || undefined,
        limit: intQuery(c, 'limit', 100, 1, 1000),
        kinds: kind ? kind.split(',') : undefined,
      }),
    );
  });

  // ---- preview: exactly what a MAC would get now, without recording it ----
  app.get('/preview', async (c) => {
    const mac = normalizeMac(c.req.query('mac') ?? '');
    if (!mac) throw new InvalidInputError('mac: required, a MAC address');
    const file = c.req.query('file');
    const kind = c.req.query('kind') ?? (file ? 'file' : 'ipxe');
    const choice = c.req.query('choice') || undefined;
    // ip=<address>: preview as a request from that address (its site's URLs and defaults).
    const ip = c.req.query('ip') || undefined;
    if (ip !== undefined && parseIpv4(ip) === null) throw new InvalidInputError('ip: not an IPv4 address');
    const req = { mac, client: {}, choice, clientIp: ip, record: false, preview: true };
    let r;
    if (kind === 'ipxe') r = await boot.script(req);
    else if (kind === 'pxelinux') r = await boot.pxelinux(req);
    else if (kind === 'file' && file) r = await boot.file(req, file);
    else throw new InvalidInputError('kind: one of ipxe, pxelinux, file (with file=<name>)');
    return c.json({ mac, kind, status: r.status, contentType: r.contentType, template: r.template ?? null, summary: r.summary, body: r.body });
  });

  // ---- import host-os.conf --------------------------------------------------
  app.post('/import', async (c) => {
    const r = await admin.importHostOs(await c.req.text());
    if (!r.ok) return c.json({ error: `import refused: ${r.problems.length} line(s) could not be taken, nothing was imported`, problems: r.problems }, 400);
    return c.json({ added: r.added, updated: r.updated });
  });

  return app;
}
