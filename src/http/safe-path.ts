/**
 * Maps a URL path below a prefix onto a file inside a root directory, refusing
 * every way out: "..", percent-encoded separators and dots, backslashes, NUL
 * and control characters, hidden files, and symlinks that resolve outside the
 * root.
 */
import { realpathSync, statSync, type Stats } from 'node:fs';
import { join, sep } from 'node:path';

export type SafePathResult =
  | { ok: true; path: string; stats: Stats; segments: string[] }
  | { ok: false; status: 400 | 403 | 404; reason: string };

/**
 * Hidden names that are served anyway. RHEL, Rocky, Alma, CentOS and Fedora
 * installers (anaconda, and `inst.repo=`/`inst.stage2=` pointing at an HTTP
 * copy of the DVD) read `.treeinfo` to find stage2 and the repositories, and
 * older ones `.discinfo`; an install tree copied from the ISO has them at its
 * top. Only these exact file names are let through, and only as the last
 * segment: a hidden directory (`.git/…`) or any other dotfile (`.htpasswd`,
 * `.env`) stays unreachable.
 */
export const SERVED_HIDDEN_NAMES: ReadonlySet<string> = new Set(['.treeinfo', '.discinfo']);

/** Splits and checks the raw (still percent-encoded) path without touching the disk. */
export function decodeSegments(rawRelPath: string): { ok: true; segments: string[] } | { ok: false; status: 400 | 403 | 404; reason: string } {
  if (rawRelPath === '' || rawRelPath.endsWith('/')) return { ok: false, status: 404, reason: 'not a file' };
  const raws = rawRelPath.split('/');
  const segments: string[] = [];
  for (let i = 0; i < raws.length; i++) {
    let seg: string;
    try {
      seg = decodeURIComponent(raws[i]!);
    } catch {
      return { ok: false, status: 400, reason: 'bad percent-encoding' };
    }
    // An empty segment is what an absolute path ("//etc/passwd") leaves.
    if (seg === '' || seg === '.' || seg === '..') return { ok: false, status: 403, reason: 'path segment "." or ".." or empty' };
    if (/[/\\\u0000-\u001f\u007f]/.test(seg)) return { ok: false, status: 403, reason: 'separator or control character inside a path segment' };
    if (seg.startsWith('.') && !(i === raws.length - 1 && SERVED_HIDDEN_NAMES.has(seg))) return { ok: false, status: 404, reason: 'hidden file' };
    segments.push(seg);
  }
  return { ok: true, segments };
}

export function resolveInRoot(root: string, rawRelPath: string): SafePathResult {
  const d = decodeSegments(rawRelPath);
  if (!d.ok) return d;
  return resolveSegments(root, d.segments);
}

/** Resolves already-checked segments, following symlinks only while they stay inside the root. */
/**
 * The root's real path, looked up again at most once a second: the root is
 * configuration and rarely moves, and each lookup walks every component.
 */
const realRoots = new Map<string, { real: string; at: number }>();
function realRoot(root: string): string {
  const now = Date.now();
  const hit = realRoots.get(root);
  if (hit && now - hit.at < 1000) return hit.real;
  const real = realpathSync.native(root);
  realRoots.set(root, { real, at: now });
  return real;
}

export function resolveSegments(root: string, segments: string[]): SafePathResult {
  let realRootPath: string;
  let real: string;
  try {
    // The libc realpath: Node's own walks the path with one lstat per
    // component in JavaScript, a measurable share of a small range request.
    realRootPath = realRoot(root);
    real = realpathSync.native(join(realRootPath, ...segments));
  } catch {
    return { ok: false, status: 404, reason: 'no such file' };
  }
  // A root of "/" already ends in the separator: "//" would match nothing.
  const prefix = realRootPath.endsWith(sep) ? realRootPath : realRootPath + sep;
  if (!real.startsWith(prefix)) return { ok: false, status: 403, reason: 'resolves outside the root' };
  // A symlink inside the root may still lead to a hidden file or directory
  // in it (link -> .git/config): the real path obeys the same rule.
  const realSegs = real.slice(prefix.length).split(sep);
  if (realSegs.some((s, i) => s.startsWith('.') && !(i === realSegs.length - 1 && SERVED_HIDDEN_NAMES.has(s)))) {
    return { ok: false, status: 404, reason: 'hidden file' };
  }
  const stats = statSync(real, { throwIfNoEntry: false });
  if (!stats) return { ok: false, status: 404, reason: 'no such file' };
  if (!stats.isFile()) return { ok: false, status: 404, reason: 'not a file' };
  return { ok: true, path: real, stats, segments };
}
