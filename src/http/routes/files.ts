/**
 * Static files: assets (kernels, initrds, ISOs, WIMs, images) and loaders
 * over HTTP. Jailed to their roots; streamed, never buffered.
 */
import { Hono, type Context } from 'hono';
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { extname } from 'node:path';
import { resolveInRoot } from '../safe-path.js';
import { findLoader } from '../../boot/loaders.js';

const TYPES: Record<string, string> = {
  '.efi': 'application/efi',
  '.kpxe': 'application/octet-stream',
  '.pxe': 'application/octet-stream',
  '.0': 'application/octet-stream',
  '.c32': 'application/octet-stream',
  '.iso': 'application/x-iso9660-image',
  '.img': 'application/octet-stream',
  '.wim': 'application/octet-stream',
  '.sdi': 'application/octet-stream',
  '.cfg': 'text/plain; charset=utf-8',
  '.ipxe': 'text/plain; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
};

export function contentTypeFor(path: string): string {
  return TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream';
}

function streamFile(c: Context, path: string, size: number, mtime: Date): Response {
  const headers = {
    'Content-Type': contentTypeFor(path),
    'Content-Length': String(size),
    'Last-Modified': mtime.toUTCString(),
  };
  if (c.req.method === 'HEAD') return new Response(null, { status: 200, headers });
  const stream = createReadStream(path);
  return new Response(Readable.toWeb(stream) as ReadableStream, { status: 200, headers });
}

/** The part of the raw (still percent-encoded) URL path after a prefix. */
function rawTail(c: Context, prefix: string): string {
  const url = c.req.url;
  const start = url.indexOf('/', url.indexOf('//') + 2);
  const end = url.search(/[?#]/);
  const path = url.slice(start, end === -1 ? undefined : end);
  return path.slice(prefix.length);
}

export function fileRoutes(opts: { assetRoot: string; loaderRoot: string }): Hono {
  const app = new Hono();
  const TEXT = { 'Content-Type': 'text/plain; charset=utf-8' };

  app.on(['GET', 'HEAD'], '/assets/*', (c) => {
    const r = resolveInRoot(opts.assetRoot, rawTail(c, '/assets/'));
    if (!r.ok) return c.body(`${r.status === 404 ? 'not found' : 'refused'}\n`, r.status, TEXT);
    return streamFile(c, r.path, r.stats.size, r.stats.mtime);
  });

  app.on(['GET', 'HEAD'], '/loaders/:name', (c) => {
    const path = findLoader(c.req.param('name'), opts.loaderRoot);
    if (!path) return c.body('not found\n', 404, TEXT);
    const r = resolveInRoot(path.slice(0, path.lastIndexOf('/')), encodeURIComponent(path.slice(path.lastIndexOf('/') + 1)));
    if (!r.ok) return c.body('not found\n', 404, TEXT);
    return streamFile(c, r.path, r.stats.size, r.stats.mtime);
  });

  return app;
}
