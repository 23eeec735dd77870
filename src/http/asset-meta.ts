/**
 * Pure facts about assets: media types by name, the names of a split image
 * set's segments, and validators computed from file metadata.
 */
import { createHash } from 'node:crypto';
import { extname } from 'node:path';
import { formatHttpDate } from './range.js';

const OCTETS = 'application/octet-stream';
const TEXT = 'text/plain; charset=utf-8';

const TYPES: Record<string, string> = {
  // Loaders and boot programs: binary, never rendered.
  '.efi': 'application/efi',
  '.kpxe': OCTETS,
  '.kkpxe': OCTETS,
  '.kkkpxe': OCTETS,
  '.pxe': OCTETS,
  '.0': OCTETS,
  '.lkrn': OCTETS,
  '.c32': OCTETS,
  '.com': OCTETS,
  '.sdi': OCTETS,
  '.wim': 'application/x-ms-wim',
  // Disc and disk images.
  '.iso': 'application/x-iso9660-image',
  '.img': OCTETS,
  '.raw': OCTETS,
  '.qcow2': OCTETS,
  '.vhd': OCTETS,
  '.vhdx': OCTETS,
  '.vmdk': OCTETS,
  '.squashfs': OCTETS,
  // Compressed payloads (initrds, root file systems, images).
  '.gz': 'application/gzip',
  '.xz': 'application/x-xz',
  '.zst': 'application/zstd',
  '.bz2': 'application/x-bzip2',
  '.lz4': OCTETS,
  '.tar': 'application/x-tar',
  '.tgz': 'application/gzip',
  // Scripts and configuration, read by people and by installers.
  '.ipxe': TEXT,
  '.cfg': TEXT,
  '.conf': TEXT,
  '.txt': TEXT,
  '.ks': TEXT,
  '.sh': TEXT,
  '.cmd': TEXT,
  '.bat': TEXT,
  '.yaml': TEXT,
  '.yml': TEXT,
  '.json': 'application/json',
  '.xml': 'application/xml',
  '.sig': OCTETS,
  '.asc': TEXT,
};

/** Names without an extension that installers read as text. */
const TEXT_NAMES = new Set(['.treeinfo', '.discinfo', 'SHA256SUMS', 'SHA512SUMS', 'MD5SUMS', 'sha256sum.txt']);

export function contentTypeFor(path: string): string {
  const name = path.slice(path.lastIndexOf('/') + 1);
  if (TEXT_NAMES.has(name)) return TEXT;
  return TYPES[extname(name).toLowerCase()] ?? OCTETS;
}

/**
 * A split image set: `stem.img` followed by `stem.002`, `stem.003`, … (the
 * layout of imaging tools that cut a disk image into 2 GB files for FAT32
 * media). When the first file's extension is itself a number (`stem.001`,
 * `stem.000`), the set continues from that number with the same width.
 * Returns the name of the segment at `index` (0 = the first file itself).
 */
export function segmentName(firstName: string, index: number): string {
  if (index === 0) return firstName;
  const dot = firstName.lastIndexOf('.');
  const stem = dot > 0 ? firstName.slice(0, dot) : firstName;
  const ext = dot > 0 ? firstName.slice(dot + 1) : '';
  if (/^[0-9]+$/.test(ext)) return `${stem}.${String(Number(ext) + index).padStart(ext.length, '0')}`;
  return `${stem}.${String(index + 1).padStart(3, '0')}`;
}

/** Segments past this many are not looked for: a set is a handful of files, not thousands. */
export const MAX_SEGMENTS = 1000;

export interface FileIdentity {
  ino: number;
  size: number;
  /** Milliseconds with a fraction: the float keeps sub-microsecond resolution for current dates. */
  mtimeMs: number;
}

/**
 * A strong entity-tag (§8.8.3) for the bytes of these files in this order:
 * inode, size and fine-grained mtime of each. Any rewrite changes the mtime, a
 * replacement by rename changes the inode, so a cache or an If-Range never
 * mixes two versions. Hashed so inode numbers are not published, and so a
 * joined set's tag differs from its first file's.
 */
export function entityTag(files: readonly FileIdentity[], joined: boolean): string {
  const h = createHash('sha256');
  h.update(joined ? 'joined' : 'file');
  for (const f of files) h.update(`|${f.ino}:${f.size}:${f.mtimeMs}`);
  return `"${h.digest('base64url').slice(0, 24)}"`;
}

/**
 * entityTag, remembered per file identity: the hash is a few microseconds,
 * which a flood of small range requests (a block device over HTTP) repeats
 * for the same file. Bounded; cleared whole when full.
 */
const tagCache = new Map<string, string>();
const TAG_CACHE_MAX = 4096;

export function cachedEntityTag(files: readonly FileIdentity[], joined: boolean): string {
  let key = joined ? 'j' : 'f';
  for (const f of files) key += `|${f.ino}:${f.size}:${f.mtimeMs}`;
  let tag = tagCache.get(key);
  if (tag === undefined) {
    if (tagCache.size >= TAG_CACHE_MAX) tagCache.clear();
    tag = entityTag(files, joined);
    tagCache.set(key, tag);
  }
  return tag;
}

const dateCache = new Map<number, string>();

/** formatHttpDate, remembered per whole second (Last-Modified of the same files, over and over). */
export function cachedHttpDate(ms: number): string {
  const sec = Math.floor(ms / 1000);
  let d = dateCache.get(sec);
  if (d === undefined) {
    if (dateCache.size >= TAG_CACHE_MAX) dateCache.clear();
    d = formatHttpDate(sec * 1000);
    dateCache.set(sec, d);
  }
  return d;
}
