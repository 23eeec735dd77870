/**
 * Maps a URL path below a prefix onto a file inside a root directory, refusing
 * every way out: "..", percent-encoded separators and dots, backslashes, NUL
 * and control characters, hidden files, and symlinks that resolve outside the
 * root.
 */
import { realpathSync, statSync, type Stats } from 'node:fs';
import { join, sep } from 'node:path';

export type SafePathResult = { ok: true; path: string; stats: Stats } | { ok: false; status: 400 | 403 | 404; reason: string };

export function resolveInRoot(root: string, rawRelPath: string): SafePathResult {
  if (rawRelPath === '' || rawRelPath.endsWith('/')) return { ok: false, status: 404, reason: 'not a file' };
  const segments: string[] = [];
  for (const raw of rawRelPath.split('/')) {
    let seg: string;
    try {
      seg = decodeURIComponent(raw);
    } catch {
      return { ok: false, status: 400, reason: 'bad percent-encoding' };
    }
    if (seg === '' || seg === '.' || seg === '..') return { ok: false, status: 403, reason: 'path segment "." or ".." or empty' };
    if (/[/\\\u0000-\u001f\u007f]/.test(seg)) return { ok: false, status: 403, reason: 'separator or control character inside a path segment' };
    if (seg.startsWith('.')) return { ok: false, status: 404, reason: 'hidden file' };
    segments.push(seg);
  }
  let realRoot: string;
  let real: string;
  try {
    realRoot = realpathSync(root);
    real = realpathSync(join(realRoot, ...segments));
  } catch {
    return { ok: false, status: 404, reason: 'no such file' };
  }
  if (!real.startsWith(realRoot + sep)) return { ok: false, status: 403, reason: 'resolves outside the root' };
  let stats: Stats;
  try {
    stats = statSync(real);
  } catch {
    return { ok: false, status: 404, reason: 'no such file' };
  }
  if (!stats.isFile()) return { ok: false, status: 404, reason: 'not a file' };
  return { ok: true, path: real, stats };
}
