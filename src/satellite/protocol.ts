/**
 * What the centre and its satellites say to each other over /satellite/v1:
 * the loader manifest, the host-mode list, a site's overrides and event
 * batches. Both sides validate with these schemas: the centre what a
 * satellite posts, the satellite what the centre answers (a value that
 * reaches an iPXE script or a file name is checked on the way in).
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { z } from 'zod';
import { macSchema } from '../validate.js';
import { LOADER_KEYS, MENU_DISPLAYS } from '../sites/model.js';

/** The centre's satellite API, under its base URL. */
export const API_PREFIX = '/satellite/v1';

/** A loader name as /loaders/:name and findLoader take it: one plain file name. */
export const LOADER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** No loader is anywhere near this; a manifest claiming more is refused. */
export const LOADER_MAX_BYTES = 256 * 1024 * 1024;
export const SITE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export const manifestSchema = z.object({
  loaders: z
    .array(
      z.object({
        name: z.string().regex(LOADER_NAME, 'loader name must be a plain file name'),
        size: z.number().int().min(0).max(LOADER_MAX_BYTES),
        sha256: z.string().regex(/^[0-9a-f]{64}$/, 'sha256 must be 64 lowercase hex digits'),
      }),
    )
    .max(1000),
});
export type Manifest = z.infer<typeof manifestSchema>;
export type ManifestEntry = Manifest['loaders'][number];

export const hostModesSchema = z.object({
  hosts: z.array(z.object({ mac: macSchema, dhcpMode: z.enum(['ignore', 'loader']) })).max(1_000_000),
});
export type HostModes = z.infer<typeof hostModesSchema>;

/**
 * A site's overrides for its satellite. bootBaseUrl goes into the entry
 * script (chain <bootBaseUrl>/boot.ipxe), so it is held to the same strict
 * character set as the upstream setting.
 */
export const siteOverridesSchema = z.object({
  name: z.string().regex(SITE_NAME),
  loaders: z.partialRecord(z.enum(LOADER_KEYS), z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$/)).default({}),
  menuDisplay: z.enum(['', ...MENU_DISPLAYS]).default(''),
  bootBaseUrl: z
    .string()
    .refine((v) => v === '' || safeScriptUrl(v) !== null, 'bootBaseUrl must be a plain http(s) URL')
    .default(''),
});
export type SiteOverrides = z.infer<typeof siteOverridesSchema>;

/** Event kinds a satellite reports: its proxyDHCP, its TFTP, its entry script, its loaders over HTTP. */
export const SATELLITE_EVENT_KINDS = ['dhcp', 'tftp', 'entry', 'loader'] as const;
export const EVENT_BATCH_MAX = 1000;
/** A whole batch: 1000 events of a few hundred bytes, with room. */
export const EVENT_BODY_MAX = 2 * 1024 * 1024;
const DETAIL_MAX_CHARS = 4096;
/** Satellite clocks may be off a little; a day ahead is a broken clock, not skew. */
const FUTURE_SLACK_MS = 86_400_000;
const YEAR_2000 = 946_684_800_000;

const oneLine = (max: number) =>
  z
    .string()
    .max(max)
    .refine((v) => !/[\u0000-\u001f\u007f]/.test(v), 'must be one line without control characters');

export function eventBatchSchema(now: () => number = Date.now) {
  return z
    .object({
      satellite: z.string().regex(SITE_NAME, 'satellite must be a site name (1–64 letters, digits, ".", "_" or "-")').optional(),
      events: z
        .array(
          z
            .object({
              at: z
                .number()
                .int()
                .refine((t) => t >= YEAR_2000 && t <= now() + FUTURE_SLACK_MS, 'at must be a time in ms since 1970, not in the future'),
              mac: macSchema.nullable(),
              clientIp: z.ipv4().nullable(),
              kind: z.enum(SATELLITE_EVENT_KINDS),
              request: oneLine(512),
              result: oneLine(512),
              status: z.number().int().min(100).max(599),
              detail: z
                .record(z.string().max(64), z.unknown())
                .nullable()
                .refine((d) => d === null || JSON.stringify(d).length <= DETAIL_MAX_CHARS, `detail must be at most ${DETAIL_MAX_CHARS} characters of JSON`),
            })
            .strict(),
        )
        .min(1, 'events must hold at least one event')
        .max(EVENT_BATCH_MAX, `at most ${EVENT_BATCH_MAX} events per batch`),
    })
    .strict();
}
export type EventBatch = z.infer<ReturnType<typeof eventBatchSchema>>;
export type SatelliteEvent = EventBatch['events'][number];

/**
 * A URL fit to be written into an iPXE script as one token, or null: http(s),
 * no user, query or fragment, and only characters iPXE neither expands ($),
 * splits on (whitespace) nor treats as syntax (quotes, &&, ||, #, newline).
 * Returned without a trailing slash.
 */
export function safeScriptUrl(text: string): string | null {
  if (typeof text !== 'string' || text.length > 512) return null;
  if (!/^[A-Za-z0-9\-._~:/%[\]]+$/.test(text)) return null;
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    return null;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return null;
  if (u.username || u.password || u.search || u.hash) return null;
  return text.replace(/\/+$/, '');
}

/** sha256 (hex) of a file, streamed. */
export function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(path)
      .on('data', (d) => h.update(d))
      .on('error', reject)
      .on('end', () => resolve(h.digest('hex')));
  });
}

export interface FileStamp {
  size: number;
  mtimeMs: number;
  ino: number;
}

/**
 * sha256 of files, remembered by (path, size, mtime, inode): a loader is
 * hashed once, and again only when it was replaced or rewritten.
 */
export function createHashCache(maxEntries = 1000) {
  const cache = new Map<string, { stamp: FileStamp; sha256: string }>();
  const same = (a: FileStamp, b: FileStamp) => a.size === b.size && a.mtimeMs === b.mtimeMs && a.ino === b.ino;
  return {
    async sha256(path: string, stamp: FileStamp): Promise<string> {
      const hit = cache.get(path);
      if (hit && same(hit.stamp, stamp)) return hit.sha256;
      const sha256 = await sha256File(path);
      if (cache.size >= maxEntries) cache.delete(cache.keys().next().value!);
      cache.set(path, { stamp: { size: stamp.size, mtimeMs: stamp.mtimeMs, ino: stamp.ino }, sha256 });
      return sha256;
    },
    get size() {
      return cache.size;
    },
  };
}
export type HashCache = ReturnType<typeof createHashCache>;
