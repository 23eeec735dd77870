/**
 * Static files: assets (kernels, initrds, WIMs, ISOs, disk images) under
 * /assets/… and loaders under /loaders/:name, with the full RFC 9110 range
 * and conditional machinery (decided in ../range.ts), split image sets as one
 * virtual file, and one boot event per response.
 *
 * URL forms:
 *   /assets/<path>            one file under the asset root
 *   /assets/<path>?joined     a split image set, <path> being its first file
 *                             (name.img + name.002 + name.003 …, see
 *                             segmentName), served as one file: one length,
 *                             one ETag over every segment, ranges that cross
 *                             segment boundaries
 *   /loaders/<name>           a boot loader found by findLoader
 */
import { Hono, type Context } from 'hono';
import { ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { decodeSegments, resolveInRoot, resolveSegments, type SafePathResult } from '../safe-path.js';
import { findLoader } from '../../boot/loaders.js';
import { contentRange, decide, multipartLayout, segmentPieces, type ByteRange, type Decision } from '../range.js';
import { cachedEntityTag, cachedHttpDate, contentTypeFor, MAX_SEGMENTS, segmentName } from '../asset-meta.js';
import { BodyReader, bodyToWebStream, pumpToNode, type BodyOutcome, type BodyPiece, type SegmentFile } from '../asset-body.js';
import { clientIp } from '../client-ip.js';
import type { EventLog } from '../../boot/events.js';

export { contentTypeFor } from '../asset-meta.js';

export interface FileRoutesOptions {
  assetRoot: string;
  loaderRoot: string;
  /** Where each response is recorded; optional so a bare app still serves. */
  events?: Pick<EventLog, 'record'>;
  /** The MAC that last booted from a client address, so asset events name the host. */
  macForIp?: (ip: string | undefined) => string | undefined;
  /** Told when a file body starts streaming (+1) and when it has ended or was cut (-1): the active-streams gauge. */
  onStream?: (kind: 'asset' | 'loader', delta: 1 | -1) => void;
  /** Read size and buffers in flight per response (defaults in asset-body.ts). */
  chunkSize?: number;
  depth?: number;
}

const TEXT = 'text/plain; charset=utf-8';
const MAX_LOGGED_REQUEST = 512;

/** The raw (still percent-encoded) path and query of the request: decoding is safe-path.ts's job, segment by segment. */
function rawPathAndQuery(c: Context): { path: string; query: string } {
  const url = c.req.url;
  const start = url.indexOf('/', url.indexOf('//') + 2);
  const q = url.indexOf('?', start);
  return q < 0 ? { path: url.slice(start), query: '' } : { path: url.slice(start, q), query: url.slice(q) };
}

/**
 * The node-server adapter skips writing a response whose headers carry this
 * marker: the handler has written to the Node response itself. It has to be
 * a native (undici) Response: @hono/node-server replaces the global Response
 * with a lightweight one it writes out on its own, marker or not, so the
 * native class is taken from under that replacement.
 */
const NativeResponse: typeof Response = (() => {
  let R = globalThis.Response;
  for (let p = Object.getPrototypeOf(R); typeof p === 'function' && p !== Function.prototype; p = Object.getPrototypeOf(p)) R = p;
  return R;
})();
/**
 * One instance for every such answer: building a native Response (its
 * Headers) cost ~8 µs a request, a measurable share of a small range. Nothing
 * reads it but the adapter (for the marker) and the metrics middleware (its
 * status is ignored once the head is sent): it carries no body to consume.
 */
const ALREADY_SENT = new NativeResponse(null, { headers: { 'x-hono-already-sent': 'true' } });
const alreadySent = () => ALREADY_SENT;

interface Target {
  kind: 'asset' | 'loader';
  /** The path relative to its root, for the event. */
  name: string;
  segments: SegmentFile[];
  joined: boolean;
}

type Lookup = { ok: true; target: Target } | { ok: false; status: 400 | 403 | 404; reason: string };

function segmentFile(r: Extract<SafePathResult, { ok: true }>): SegmentFile {
  return { path: r.path, size: r.stats.size, ino: r.stats.ino, mtimeMs: r.stats.mtimeMs };
}

/** Finds a file, or every segment of a split set, under the asset root. */
function lookupAsset(root: string, rawRel: string, joined: boolean): Lookup {
  const first = resolveInRoot(root, rawRel);
  if (!first.ok) return first;
  const segments = [segmentFile(first)];
  if (joined) {
    const parents = first.segments.slice(0, -1);
    const firstName = first.segments[first.segments.length - 1]!;
    for (let i = 1; i < MAX_SEGMENTS; i++) {
      const name = segmentName(firstName, i);
      // Each segment is jailed on its own: a name.002 symlinked out of the
      // root is refused like any other path, not trusted for being a sibling.
      const d = decodeSegments([...parents, name].map(encodeURIComponent).join('/'));
      if (!d.ok) return d;
      const r = resolveSegments(root, d.segments);
      if (!r.ok) {
        if (r.status === 404) break;
        return r;
      }
      segments.push(segmentFile(r));
    }
  }
  return { ok: true, target: { kind: 'asset', name: first.segments.join('/'), segments, joined } };
}

export function fileRoutes(opts: FileRoutesOptions): Hono {
  const app = new Hono();

  app.on(['GET', 'HEAD'], '/assets/*', (c) => {
    const t0 = performance.now();
    const { path, query } = rawPathAndQuery(c);
    const joined = query !== '' && new URLSearchParams(query).has('joined');
    const found = lookupAsset(opts.assetRoot, path.slice('/assets/'.length), joined);
    return respond(c, opts, t0, 'asset', path + query, found);
  });

  app.on(['GET', 'HEAD'], '/loaders/:name', (c) => {
    const t0 = performance.now();
    const { path } = rawPathAndQuery(c);
    const name = c.req.param('name');
    const file = findLoader(name, opts.loaderRoot);
    let found: Lookup = { ok: false, status: 404, reason: 'no such loader' };
    if (file && file === join(opts.loaderRoot, name)) {
      // In the loader root: symlinks may not lead out of it.
      const r = resolveInRoot(file.slice(0, file.lastIndexOf('/')) || '/', encodeURIComponent(file.slice(file.lastIndexOf('/') + 1)));
      found = r.ok ? { ok: true, target: { kind: 'loader', name, segments: [segmentFile(r)], joined: false } } : { ok: false, status: 404, reason: r.reason };
    } else if (file) {
      // A packaged loader (findLoader's fixed name in a fixed Debian folder), trusted
      // as TFTP trusts it: Debian's ipxe.efi is a link into /boot, followed.
      try {
        const real = realpathSync.native(file);
        const st = statSync(real);
        if (st.isFile()) found = { ok: true, target: { kind: 'loader', name, segments: [{ path: real, size: st.size, ino: st.ino, mtimeMs: st.mtimeMs }], joined: false } };
      } catch {
        /* gone since findLoader looked: 404 */
      }
    }
    return respond(c, opts, t0, 'loader', path, found);
  });

  // Everything else on these paths: the resource exists for reading only.
  app.all('/assets/*', (c) => c.body('method not allowed\n', 405, { 'Content-Type': TEXT, Allow: 'GET, HEAD' }));
  app.all('/loaders/:name', (c) => c.body('method not allowed\n', 405, { 'Content-Type': TEXT, Allow: 'GET, HEAD' }));

  return app;
}

function respond(c: Context, opts: FileRoutesOptions, t0: number, kind: 'asset' | 'loader', request: string, found: Lookup): Response | Promise<Response> {
  const ip = clientIp(c);
  const method = c.req.method;
  const rangeField = c.req.header('range');
  const record = (status: number, result: string, detail: Record<string, unknown>) => {
    if (!opts.events) return;
    if (method !== 'GET') detail.method = method;
    if (rangeField !== undefined) detail.range = rangeField.slice(0, 200);
    detail.ms = Math.round((performance.now() - t0) * 10) / 10;
    const ua = c.req.header('user-agent');
    if (ua) detail.ua = ua.slice(0, 120);
    opts.events.record({
      mac: opts.macForIp?.(ip) ?? null,
      clientIp: ip ?? null,
      kind,
      request: request.length > MAX_LOGGED_REQUEST ? request.slice(0, MAX_LOGGED_REQUEST) + '…' : request,
      result,
      status,
      detail,
    });
  };

  if (!found.ok) {
    record(found.status, `${found.status} ${found.reason}`, { bytes: 0 });
    const text = found.status === 404 ? 'not found\n' : found.status === 400 ? 'bad request\n' : 'refused\n';
    return c.body(text, found.status, { 'Content-Type': TEXT });
  }

  const { target } = found;
  const segs = target.segments;
  const size = segs.reduce((n, s) => n + s.size, 0);
  const now = Date.now();
  // Last-Modified is never later than the response's Date (§8.8.2.1).
  let newest = 0;
  for (const s of segs) newest = Math.max(newest, s.mtimeMs);
  const mtimeMs = Math.min(now, newest);
  const etag = cachedEntityTag(segs, target.joined);
  const type = contentTypeFor(target.name);
  const decision = decide(
    {
      method,
      range: rangeField,
      ifMatch: c.req.header('if-match'),
      ifNoneMatch: c.req.header('if-none-match'),
      ifModifiedSince: c.req.header('if-modified-since'),
      ifUnmodifiedSince: c.req.header('if-unmodified-since'),
      ifRange: c.req.header('if-range'),
    },
    { size, etag, lastModified: mtimeMs, now },
  );

  const lastModified = cachedHttpDate(mtimeMs);
  const detail: Record<string, unknown> = { path: target.name, size };
  if (target.joined) detail.segments = segs.length;
  const plan = bodyPlan(decision, segs.map((s) => s.size), type);

  const status = decision.status;
  let headers: Record<string, string>;
  let result: string;
  switch (decision.status) {
    case 304:
      // §15.4.5: a 304 carries the validators a 200 would have had, no content metadata.
      headers = { ETag: etag };
      result = '304 not modified';
      break;
    case 412:
      headers = { 'Content-Type': TEXT };
      result = `412 ${decision.reason}`;
      break;
    case 416:
      headers = { 'Accept-Ranges': 'bytes', ETag: etag, 'Last-Modified': lastModified, 'Content-Range': contentRange(null, size), 'Content-Type': TEXT };
      result = `416 ${rangeField ?? ''} of ${size}`;
      break;
    case 200:
      headers = { 'Accept-Ranges': 'bytes', ETag: etag, 'Last-Modified': lastModified, 'Content-Type': type, 'Content-Length': String(size) };
      result = decision.reason ? `200 (${decision.reason})` : '200';
      break;
    case 206:
      // Literals of one shape, not a spread and an added key: this runs for every range of a block-device-like client.
      if (decision.ranges.length === 1) {
        const r = decision.ranges[0]!;
        headers = {
          'Accept-Ranges': 'bytes',
          ETag: etag,
          'Last-Modified': lastModified,
          'Content-Type': plan!.contentType,
          'Content-Length': String(plan!.length),
          'Content-Range': contentRange(r, size),
        };
        result = `206 ${r.start}-${r.end}/${size}`;
      } else {
        headers = { 'Accept-Ranges': 'bytes', ETag: etag, 'Last-Modified': lastModified, 'Content-Type': plan!.contentType, 'Content-Length': String(plan!.length) };
        result = `206 ${decision.ranges.map((r) => `${r.start}-${r.end}`).join(',')}/${size}`;
      }
      detail.ranges = decision.ranges.length;
      break;
  }

  // Validator-carrying URLs (?v=<entity tag>, as rendered scripts name assets):
  // the bytes behind the current version never change, so caches may keep them
  // for good; a stale version gets today's bytes, which no cache may keep
  // under the old URL.
  if (kind === 'asset' && status !== 412 && c.req.url.includes('v=')) {
    const v = c.req.query('v');
    if (v !== undefined) {
      headers['Cache-Control'] = `"${v}"` === etag ? 'public, max-age=31536000, immutable' : 'no-store';
      detail.version = `"${v}"` === etag ? 'current' : 'stale';
    }
  }

  const small = decision.status === 412 ? 'precondition failed\n' : decision.status === 416 ? 'range not satisfiable\n' : null;
  if (small !== null) headers['Content-Length'] = String(Buffer.byteLength(small));
  const hasBody = method === 'GET' && plan !== null;
  detail.length = hasBody ? plan!.length : 0;

  const finished = (o: BodyOutcome) => {
    const suffix = o.aborted ? `, aborted after ${o.bytes} of ${plan?.length ?? 0} bytes${o.error ? `: ${o.error.message}` : ''}` : '';
    detail.bytes = o.bytes;
    if (o.aborted) detail.aborted = true;
    record(status, result + suffix, detail);
  };

  // Answers without a file body (HEAD, 304, 412, 416) go out as an ordinary
  // Response. Hono answers HEAD by running the GET route and re-wrapping its
  // Response, so a HEAD must never write to the Node response itself.
  if (!hasBody) {
    const text = method === 'GET' ? small : null;
    finished({ bytes: text ? Buffer.byteLength(text) : 0, aborted: false });
    return new Response(text, { status, headers });
  }
  const reader = new BodyReader(segs, plan!.pieces);
  const onStream = opts.onStream;
  // Both body writers call their callback exactly once, when the file is closed.
  const ended = onStream
    ? (o: BodyOutcome) => {
        onStream(kind, -1);
        finished(o);
      }
    : finished;
  const outgoing = (c.env as { outgoing?: unknown } | undefined)?.outgoing;
  if (outgoing instanceof ServerResponse) {
    outgoing.writeHead(status, headers);
    onStream?.(kind, 1);
    pumpToNode(outgoing, reader, plan!.length, ended, { chunkSize: opts.chunkSize, depth: opts.depth });
    return alreadySent();
  }
  // No Node response to write to (app.request() in tests, other runtimes).
  onStream?.(kind, 1);
  return new Response(bodyToWebStream(reader, plan!.length, ended, opts.chunkSize), { status, headers });
}

interface BodyPlan {
  contentType: string;
  length: number;
  pieces: BodyPiece[];
}

/** The bytes a 200 or 206 sends, as literal pieces and pieces of the segment files. */
function bodyPlan(decision: Decision, sizes: readonly number[], type: string): BodyPlan | null {
  const size = sizes.reduce((a, b) => a + b, 0);
  const file = (r: ByteRange): BodyPiece[] => segmentPieces(sizes, r).map((p) => ({ kind: 'file', ...p }));
  if (decision.status === 200) return { contentType: type, length: size, pieces: size > 0 ? file({ start: 0, end: size - 1 }) : [] };
  if (decision.status !== 206) return null;
  if (decision.ranges.length === 1) {
    const r = decision.ranges[0]!;
    return { contentType: type, length: r.end - r.start + 1, pieces: file(r) };
  }
  // Random, so no byte sequence in the file can be taken for a delimiter.
  const layout = multipartLayout(decision.ranges, size, type, `chainboot-${randomBytes(12).toString('hex')}`);
  const pieces: BodyPiece[] = [];
  for (const part of layout.parts) {
    pieces.push({ kind: 'bytes', data: Buffer.from(part.head, 'latin1') });
    pieces.push(...file(part.range));
  }
  pieces.push({ kind: 'bytes', data: Buffer.from(layout.tail, 'latin1') });
  return { contentType: layout.contentType, length: layout.length, pieces };
}
