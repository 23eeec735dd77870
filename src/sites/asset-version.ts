/**
 * Validator-carrying asset URLs: a rendered script names a kernel as
 * /assets/debian12/linux?v=<tag>, where <tag> is the file's current entity
 * tag (inode, size, mtime, hashed). When an admin replaces the file, the next
 * script names a new URL, so a cache at a site (keyed on the whole URL, as
 * nginx's proxy_cache_key is by default) can never hand out the old kernel
 * for the new script. The asset route marks a URL whose tag is current as
 * immutable, and one whose tag is stale as not to be stored.
 */
import { entityTag } from '../http/asset-meta.js';
import { resolveInRoot } from '../http/safe-path.js';

export type AssetVersions = (ref: string) => string | null;

/** The tag as it appears in ?v= (the ETag without its quotes). */
export function versionOfTag(etag: string): string {
  return etag.replace(/^W\//, '').replace(/"/g, '');
}

/**
 * Looks a reference up under the asset root at most once per `ttlMs` (renders
 * name the same few kernels over and over); null for URLs and for files that
 * are missing, which then get no ?v= rather than failing the render.
 */
export function createAssetVersions(assetRoot: string, opts: { ttlMs?: number; now?: () => number; max?: number } = {}): AssetVersions {
  const ttl = opts.ttlMs ?? 1000;
  const clock = opts.now ?? Date.now;
  const max = opts.max ?? 4096;
  const cache = new Map<string, { v: string | null; at: number }>();
  return (ref) => {
    if (/^https?:\/\//i.test(ref)) return null;
    const t = clock();
    const hit = cache.get(ref);
    if (hit && t - hit.at < ttl) return hit.v;
    const r = resolveInRoot(assetRoot, ref.split('/').map(encodeURIComponent).join('/'));
    const v = r.ok ? versionOfTag(entityTag([{ ino: r.stats.ino, size: r.stats.size, mtimeMs: r.stats.mtimeMs }], false)) : null;
    if (cache.size >= max) cache.clear();
    cache.set(ref, { v, at: t });
    return v;
  };
}
