/**
 * The TFTP root: file names as firmware sends them mapped onto files inside
 * the loader directory (and nowhere else), a memory cache of those files that
 * is checked against the disk on every request, and the generated
 * autoexec.ipxe.
 */
import { closeSync, openSync, readSync, realpathSync, statSync } from 'node:fs';
import { readdir, readFile, realpath } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { ERR, toNetascii, type Mode } from './packet.js';
import type { Source } from './transfer.js';
import { findLoader } from '../boot/loaders.js';

export type NameCheck = { ok: true; segments: string[] } | { ok: false; reason: string };

/**
 * Firmware names: "/pxelinux.0", "boot\x86\wdsnbp.com", "pxelinux.cfg/01-aa-bb…".
 * Leading slashes mean the TFTP root (as tftpd-hpa --secure does), Windows
 * backslashes are separators. A drive letter, "..", hidden names and control
 * characters are refused: nothing outside the root can be named.
 */
export function checkName(raw: string): NameCheck {
  if (raw.length > 1024) return { ok: false, reason: `name of ${raw.length} characters` };
  if (/[\u0000-\u001f\u007f]/.test(raw)) return { ok: false, reason: 'control character in the name' };
  const name = raw.replace(/\\/g, '/');
  if (/^[A-Za-z]:/.test(name)) return { ok: false, reason: 'drive letter (absolute Windows path)' };
  const segments: string[] = [];
  for (const seg of name.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') return { ok: false, reason: '".." in the name' };
    if (seg.startsWith('.')) return { ok: false, reason: 'hidden name (starts with ".")' };
    segments.push(seg);
  }
  if (segments.length === 0) return { ok: false, reason: 'no file name' };
  return { ok: true, segments };
}

/** The two lines stock iPXE gets when it asks its TFTP server for autoexec.ipxe. */
export function autoexecScript(baseUrl: string): string {
  return `#!ipxe\nchain ${baseUrl.replace(/\/+$/, '')}/boot.ipxe\n`;
}

export const AUTOEXEC_NAME = 'autoexec.ipxe';

export type OpenResult =
  | {
      ok: true;
      source: Source;
      /** The file served (real path), or "(generated)". */
      path: string;
      /** Release the file (a no-op for cached files). */
      close(): void;
      cached: boolean;
    }
  | { ok: false; code: number; message: string; reason: string };

export interface LoaderFilesOptions {
  root: string;
  /** When the exact name is missing, look for one that differs only in case. */
  caseInsensitive?: boolean;
  /** Base URL for the generated autoexec.ipxe; without it autoexec.ipxe is looked up like any file. */
  baseUrl?: string;
  /**
   * A known loader (undionly.kpxe, ipxe.efi, lpxelinux.0, *.c32 …) missing from
   * the root is served from where Debian's packages install it, as the HTTP
   * /loaders/ route and serve's start-up report do (default on). Only those
   * exact names, and only from those fixed system folders.
   */
  systemLoaders?: boolean;
  /** Total bytes kept in memory (default 64 MiB). */
  cacheMaxBytes?: number;
  /** Files larger than this are read from disk block by block instead (default 16 MiB). */
  cacheMaxFileBytes?: number;
}

interface CacheEntry {
  mtimeMs: number;
  ctimeMs: number;
  size: number;
  ino: number;
  data: Buffer;
  netascii?: Buffer;
}

const bufferSource = (data: Buffer): Source => ({
  size: data.length,
  read: (offset, length) => data.subarray(offset, offset + length),
});

export type LoaderFiles = ReturnType<typeof createLoaderFiles>;

export function createLoaderFiles(opts: LoaderFilesOptions) {
  const cacheMaxBytes = opts.cacheMaxBytes ?? 64 * 1024 * 1024;
  const cacheMaxFileBytes = Math.min(opts.cacheMaxFileBytes ?? 16 * 1024 * 1024, cacheMaxBytes);
  const autoexec = opts.baseUrl ? Buffer.from(autoexecScript(opts.baseUrl), 'latin1') : null;
  // Map order doubles as LRU order: a hit is moved to the end.
  const cache = new Map<string, CacheEntry>();
  const loading = new Map<string, Promise<CacheEntry>>();
  let cachedBytes = 0;
  const counters = { hits: 0, loads: 0, reloads: 0, uncached: 0 };
  let caseInsensitive = opts.caseInsensitive === true;

  function evictFor(bytes: number): void {
    for (const [key, e] of cache) {
      if (cachedBytes + bytes <= cacheMaxBytes) break;
      cache.delete(key);
      cachedBytes -= e.data.length + (e.netascii?.length ?? 0);
    }
  }

  function put(key: string, e: CacheEntry): void {
    const old = cache.get(key);
    if (old) {
      cache.delete(key);
      cachedBytes -= old.data.length + (old.netascii?.length ?? 0);
    }
    evictFor(e.data.length);
    cache.set(key, e);
    cachedBytes += e.data.length;
  }

  async function load(real: string, st: { mtimeMs: number; ctimeMs: number; size: number; ino: number }, reload: boolean): Promise<CacheEntry> {
    // Single flight: a boot storm asking for one loader reads it once.
    const pending = loading.get(real);
    if (pending) {
      counters.hits++;
      return pending;
    }
    const p = (async () => {
      const data = await readFile(real);
      const e: CacheEntry = { mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, size: data.length, ino: st.ino, data };
      // The file changed while it was read: keep serving this copy, the next request checks again.
      put(real, e);
      if (reload) counters.reloads++;
      else counters.loads++;
      return e;
    })();
    loading.set(real, p);
    try {
      return await p;
    } finally {
      loading.delete(real);
    }
  }

  let realRoot: string | null = null;
  async function rootPath(): Promise<string> {
    // Re-resolved after a failure, so a root created after start is picked up.
    if (realRoot) return realRoot;
    realRoot = await realpath(opts.root);
    return realRoot;
  }

  /** Finds each segment ignoring case, preferring an exact match. */
  async function findIgnoringCase(base: string, segments: string[]): Promise<string | null> {
    let dir = base;
    for (const seg of segments) {
      let names: string[];
      try {
        names = await readdir(dir);
      } catch {
        return null;
      }
      const lower = seg.toLowerCase();
      const hit = names.includes(seg) ? seg : names.find((n) => n.toLowerCase() === lower);
      if (!hit) return null;
      dir = join(dir, hit);
    }
    return dir;
  }

  const notFound = (reason: string): OpenResult => ({ ok: false, code: ERR.NOT_FOUND, message: 'File not found', reason });
  const denied = (reason: string): OpenResult => ({ ok: false, code: ERR.ACCESS, message: 'Access violation', reason });

  async function open(rawName: string, mode: Mode): Promise<OpenResult> {
    const check = checkName(rawName);
    if (!check.ok) return denied(check.reason);
    const segs = check.segments;
    let root: string;
    try {
      root = await rootPath();
    } catch (err) {
      realRoot = null;
      return { ok: false, code: ERR.NOT_FOUND, message: 'File not found', reason: `TFTP root ${opts.root}: ${(err as Error).message}` };
    }

    let real: string | null = null;
    try {
      // Metadata calls are synchronous on purpose: on a local loader directory they take
      // microseconds, far less than a round trip through libuv's thread pool per request.
      real = realpathSync.native(join(root, ...segs));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EACCES') return denied('permission denied on the path');
      if (caseInsensitive) {
        const found = await findIgnoringCase(root, segs);
        if (found) {
          try {
            real = await realpath(found);
          } catch {
            real = null;
          }
        }
      }
    }
    // A packaged loader outside the root: trusted because both its name and
    // its folder are fixed (Debian's ipxe.efi is a link into /boot, followed).
    let packaged = false;
    if (real === null && opts.systemLoaders !== false && segs.length === 1) {
      const found = findLoader(segs[0]!, root);
      if (found) {
        try {
          real = realpathSync.native(found);
          packaged = true;
        } catch {
          real = null;
        }
      }
    }
    if (real === null) {
      if (autoexec && segs.length === 1 && segs[0]!.toLowerCase() === AUTOEXEC_NAME) {
        return { ok: true, source: bufferSource(mode === 'netascii' ? toNetascii(autoexec) : autoexec), path: '(generated)', close() {}, cached: true };
      }
      return notFound('no such file');
    }
    // A symlink may point anywhere; only what resolves inside the root is served.
    if (!packaged && !real.startsWith(root + sep)) return denied('resolves outside the TFTP root');

    let st;
    try {
      st = statSync(real);
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'EACCES' ? denied('permission denied') : notFound('vanished');
    }
    if (!st.isFile()) return notFound('not a regular file');

    if (st.size > cacheMaxFileBytes) {
      // Rare on a loader root (a big initrd for pxelinux): read block by block.
      if (mode === 'netascii') return { ok: false, code: ERR.UNDEFINED, message: 'netascii is not offered for files this large', reason: `netascii for a file of ${st.size} bytes` };
      let fd: number;
      try {
        fd = openSync(real, 'r');
      } catch (err) {
        return (err as NodeJS.ErrnoException).code === 'EACCES' ? denied('permission denied') : notFound('vanished');
      }
      counters.uncached++;
      const size = st.size;
      let closed = false;
      return {
        ok: true,
        path: real,
        cached: false,
        source: {
          size,
          read(offset, length) {
            const b = Buffer.allocUnsafe(length);
            const n = readSync(fd, b, 0, length, offset);
            // A file truncated under a transfer ends early rather than sending stale memory.
            return n === length ? b : b.subarray(0, n);
          },
        },
        close() {
          if (!closed) closeSync(fd);
          closed = true;
        },
      };
    }

    let entry = cache.get(real);
    if (entry && entry.mtimeMs === st.mtimeMs && entry.ctimeMs === st.ctimeMs && entry.size === st.size && entry.ino === st.ino) {
      counters.hits++;
      cache.delete(real);
      cache.set(real, entry);
    } else {
      try {
        entry = await load(real, st, entry !== undefined);
      } catch (err) {
        return (err as NodeJS.ErrnoException).code === 'EACCES' ? denied('permission denied') : notFound(`read failed: ${(err as Error).message}`);
      }
    }
    let data = entry.data;
    if (mode === 'netascii') {
      if (!entry.netascii) {
        entry.netascii = toNetascii(entry.data);
        if (entry.netascii !== entry.data && cache.get(real) === entry) cachedBytes += entry.netascii.length;
      }
      data = entry.netascii;
    }
    return { ok: true, source: bufferSource(data), path: real, close() {}, cached: true };
  }

  return {
    open,
    get stats() {
      return { ...counters, cachedFiles: cache.size, cachedBytes };
    },
    clear(): void {
      cache.clear();
      cachedBytes = 0;
      realRoot = null;
    },
    /**
     * SIGHUP: forget every cached file and the resolved root (a loader root
     * that is a symlink may now point at a new tree), and take the new
     * case-insensitivity setting. Transfers already running hold their own
     * buffer or descriptor and finish with the file they started with.
     */
    reload(next: { caseInsensitive?: boolean } = {}): { droppedFiles: number; droppedBytes: number } {
      const dropped = { droppedFiles: cache.size, droppedBytes: cachedBytes };
      cache.clear();
      cachedBytes = 0;
      realRoot = null;
      if (next.caseInsensitive !== undefined) caseInsensitive = next.caseInsensitive;
      return dropped;
    },
  };
}
