/**
 * A satellite's loaders, kept equal to the centre's by content hash: fetch
 * the centre's manifest (name, size, sha256), download only the loaders
 * whose local sha256 differs, check size and sha256 of the download, and
 * only then rename it into place (atomic on one file system). A download
 * that fails any check is deleted and the old file stays; while the centre
 * is down nothing changes. The temporary file's name starts with "." — the
 * TFTP server never serves hidden names — so a partial file is never served.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Logger } from '../log.js';
import { API_PREFIX, createHashCache, LOADER_MAX_BYTES, manifestSchema, type HashCache, type ManifestEntry } from './protocol.js';
import { describeFetchError } from './health.js';
import { describeZodError } from '../validate.js';

export interface LoaderSyncState {
  /** When the last sync ended (ms), or null. */
  lastSync: number | null;
  /** When a sync last completed with every loader equal to the centre's. */
  lastSuccess: number | null;
  ok: boolean | null;
  /** Why the last sync failed (manifest unreachable, a download refused …). */
  lastError: string | null;
  /** Loaders in the last manifest. */
  loaders: number;
  /** Loaders replaced or added by syncs since start. */
  downloaded: number;
  /** Downloads refused (size or sha256 differed, or the transfer failed) since start. */
  refused: number;
  running: boolean;
}

export interface SyncResult {
  ok: boolean;
  /** Names downloaded and installed by this sync. */
  installed: string[];
  /** Names already equal to the centre's. */
  unchanged: string[];
  /** Names whose download was refused, with why. */
  failed: { name: string; error: string }[];
  error?: string;
}

export interface LoaderSyncOptions {
  upstream: string;
  token: string;
  /** The satellite's loader directory (created when missing). */
  dir: string;
  log: Logger;
  fetch?: typeof fetch;
  hashes?: HashCache;
  /** Deadline for the manifest and for each download. */
  timeoutMs?: number;
  /** Told after loaders were replaced (e.g. drop the TFTP cache). */
  onInstalled?: (names: string[]) => void;
  now?: () => number;
}

export class DownloadError extends Error {
  override name = 'DownloadError';
}

export function createLoaderSync(opts: LoaderSyncOptions) {
  const fetchFn = opts.fetch ?? fetch;
  const hashes = opts.hashes ?? createHashCache();
  const now = opts.now ?? Date.now;
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const closer = new AbortController();
  const state: LoaderSyncState = { lastSync: null, lastSuccess: null, ok: null, lastError: null, loaders: 0, downloaded: 0, refused: 0, running: false };
  let current: Promise<SyncResult> | null = null;
  let again = false;
  let swept = false;

  /** Downloads cut short by a crash leave hidden partial files (never served): removed before the first sync. */
  async function sweepPartials(): Promise<void> {
    if (swept) return;
    swept = true;
    for (const name of await readdir(opts.dir).catch(() => [] as string[])) {
      if (/^\..+\.partial-[0-9a-f]{12}$/.test(name)) await rm(join(opts.dir, name), { force: true }).catch(() => {});
    }
  }

  const signal = () => AbortSignal.any([closer.signal, AbortSignal.timeout(timeoutMs)]);

  async function localSha(name: string): Promise<string | null> {
    const path = join(opts.dir, name);
    try {
      const st = await stat(path);
      if (!st.isFile()) return null;
      return await hashes.sha256(path, st);
    } catch {
      return null;
    }
  }

  /** Downloads one loader beside its final place, checks it, renames it into place. */
  async function install(entry: ManifestEntry): Promise<void> {
    const tmp = join(opts.dir, `.${entry.name}.partial-${randomBytes(6).toString('hex')}`);
    try {
      const res = await fetchFn(`${opts.upstream}/loaders/${encodeURIComponent(entry.name)}`, { signal: signal() });
      if (!res.ok || !res.body) {
        await res.body?.cancel().catch(() => {});
        throw new DownloadError(`GET /loaders/${entry.name} answered ${res.status}`);
      }
      const h = createHash('sha256');
      let bytes = 0;
      const count = new Transform({
        transform(chunk: Buffer, _enc, done) {
          bytes += chunk.length;
          if (bytes > entry.size || bytes > LOADER_MAX_BYTES) return done(new DownloadError(`more than the ${entry.size} bytes the manifest lists`));
          h.update(chunk);
          done(null, chunk);
        },
      });
      await pipeline(Readable.fromWeb(res.body as import('node:stream/web').ReadableStream), count, createWriteStream(tmp, { flags: 'wx', mode: 0o644 }));
      if (bytes !== entry.size) throw new DownloadError(`got ${bytes} bytes, the manifest lists ${entry.size}`);
      const got = h.digest('hex');
      if (got !== entry.sha256) throw new DownloadError(`sha256 ${got} differs from the manifest's ${entry.sha256}`);
      await rename(tmp, join(opts.dir, entry.name));
    } catch (err) {
      await rm(tmp, { force: true }).catch(() => {});
      throw err;
    }
  }

  async function runOnce(): Promise<SyncResult> {
    const result: SyncResult = { ok: false, installed: [], unchanged: [], failed: [] };
    try {
      await mkdir(opts.dir, { recursive: true });
      await sweepPartials();
      const res = await fetchFn(`${opts.upstream}${API_PREFIX}/loaders`, { headers: { authorization: `Bearer ${opts.token}` }, signal: signal() });
      if (!res.ok) {
        await res.body?.cancel().catch(() => {});
        throw new Error(`GET ${API_PREFIX}/loaders answered ${res.status}${res.status === 401 ? ' (is satelliteToken the centre\'s?)' : res.status === 404 ? ' (is satelliteToken set on the centre?)' : ''}`);
      }
      const parsed = manifestSchema.safeParse(await res.json());
      if (!parsed.success) throw new Error(`the centre's loader manifest is refused: ${describeZodError(parsed.error)}`);
      state.loaders = parsed.data.loaders.length;
      for (const entry of parsed.data.loaders) {
        if (closer.signal.aborted) throw new Error('stopped');
        if ((await localSha(entry.name)) === entry.sha256) {
          result.unchanged.push(entry.name);
          continue;
        }
        try {
          await install(entry);
          result.installed.push(entry.name);
          state.downloaded++;
          opts.log.info({ loader: entry.name, size: entry.size, sha256: entry.sha256 }, `loader ${entry.name} updated from the centre (${entry.size} bytes, sha256 ${entry.sha256.slice(0, 12)}…)`);
        } catch (err) {
          const error = err instanceof DownloadError ? err.message : describeFetchError(err, timeoutMs);
          result.failed.push({ name: entry.name, error });
          state.refused++;
          opts.log.error({ loader: entry.name, error }, `loader ${entry.name} not updated, the old copy stays: ${error}`);
        }
      }
      result.ok = result.failed.length === 0;
      if (!result.ok) result.error = result.failed.map((f) => `${f.name}: ${f.error}`).join('; ');
    } catch (err) {
      result.error = describeFetchError(err, timeoutMs);
      opts.log.warn({ error: result.error }, `loader sync failed, the loaders here stay as they are: ${result.error}`);
    }
    if (result.installed.length) opts.onInstalled?.(result.installed);
    const t = now();
    state.lastSync = t;
    state.ok = result.ok;
    state.lastError = result.error ?? null;
    if (result.ok) state.lastSuccess = t;
    return result;
  }

  return {
    state,
    /**
     * One sync. A sync asked for while one runs makes one more run after it
     * (the centre may have changed meanwhile); both callers get that result.
     */
    sync(): Promise<SyncResult> {
      if (current) {
        again = true;
        return current;
      }
      state.running = true;
      current = (async () => {
        let r: SyncResult;
        do {
          again = false;
          r = await runOnce();
        } while (again && !closer.signal.aborted);
        return r;
      })().finally(() => {
        current = null;
        state.running = false;
      });
      return current;
    },
    close(): void {
      closer.abort();
    },
  };
}
export type LoaderSync = ReturnType<typeof createLoaderSync>;
