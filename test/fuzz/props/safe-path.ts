/**
 * URL path → file under a root: against a real directory with symlinks that
 * point inside, outside (relative, absolute, via a sibling whose name starts
 * with the root's), at hidden files and at themselves, no generated path —
 * plain, percent-encoded, double-encoded, with backslashes and NULs — ever
 * resolves to anything but one of the root's visible regular files.
 */
import fc from 'fast-check';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeSegments, resolveInRoot } from '../../../src/http/safe-path.js';
import type { FuzzCase } from '../case.js';

export function makeTree(): { base: string; root: string; served: Set<string>; dispose: () => void } {
  const base = realpathSync(mkdtempSync(join(tmpdir(), 'chainboot-fuzz-')));
  const root = join(base, 'root');
  const file = (p: string) => {
    mkdirSync(join(p, '..'), { recursive: true });
    writeFileSync(p, p);
  };
  for (const p of ['root/a.txt', 'root/dir/b.txt', 'root/dir/.git/config', 'root/.treeinfo', 'root/.env', 'root/dir/.treeinfo', 'outside/secret.txt', 'outside/.treeinfo', 'root2/x.txt', 'root/name with space', 'root/%2e%2e', 'root/ü.txt']) file(join(base, p));
  mkdirSync(join(root, 'empty'));
  const links: [string, string][] = [
    ['root/link-out', '../outside/secret.txt'],
    ['root/link-out-abs', join(base, 'outside/secret.txt')],
    ['root/link-outdir', '../outside'],
    ['root/link-sibling', '../root2/x.txt'],
    ['root/link-sibling-dir', '../root2'],
    ['root/link-in', 'dir/b.txt'],
    ['root/link-dir', 'dir'],
    ['root/link-hidden', 'dir/.git/config'],
    ['root/link-hidden-dir', 'dir/.git'],
    ['root/link-self', '.'],
    ['root/link-parent', '..'],
    ['root/link-loop', 'link-loop'],
    ['root/dir/link-up', '../a.txt'],
    ['root/dir/link-up2', '../../outside/secret.txt'],
    ['root/link-treeinfo-out', '../outside/.treeinfo'],
    ['root/link-etc', '/etc/passwd'],
  ];
  for (const [at, to] of links) symlinkSync(to, join(base, at));
  // The configured root may itself be a symlink, or written with a trailing slash.
  symlinkSync('root', join(base, 'root-link'));
  // The only files a request may ever reach (real paths).
  const served = new Set(['a.txt', 'dir/b.txt', '.treeinfo', 'dir/.treeinfo', 'name with space', '%2e%2e', 'ü.txt'].map((p) => join(root, p)));
  return { base, root, served, dispose: () => rmSync(base, { recursive: true, force: true }) };
}

const NAMES = [
  'a.txt', 'dir', 'b.txt', '.git', 'config', '.treeinfo', '.env', 'outside', 'secret.txt', 'root', 'root2', 'x.txt', 'empty', 'name with space', 'ü.txt',
  'link-out', 'link-out-abs', 'link-outdir', 'link-sibling', 'link-sibling-dir', 'link-in', 'link-dir', 'link-hidden', 'link-hidden-dir', 'link-self', 'link-parent', 'link-loop', 'link-up', 'link-up2', 'link-treeinfo-out', 'link-etc', 'etc', 'passwd',
  '..', '.', '', '...', '%2e%2e', '%2E%2e', '.%2e', '%2e', '%2f', '..%2f', '%2fetc', '%5c', '..%5c..', '\\', '..\\..', '%00', 'a.txt%00', '%252e%252e', '%2e%2e%2f%2e%2e', '%', '%zz', '%c0%ae%c0%ae', '%ef%bc%8e%ef%bc%8e', 'name%20with%20space', '%C3%BC.txt', '%252e%252e', 'a.txt?x', 'a.txt#y', '~', '*',
];
const REAL = NAMES.slice(0, NAMES.indexOf('..'));
const segment = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...REAL) },
  { weight: 4, arbitrary: fc.constantFrom(...NAMES) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 6 }) },
  { weight: 1, arbitrary: fc.constantFrom(...NAMES).map(encodeURIComponent) },
);
// Mostly paths the checks let through to the disk (that is where symlinks bite), some that they must stop.
const edge = (common: string, rare: string[]) => fc.oneof({ weight: 6, arbitrary: fc.constant(common) }, { weight: 1, arbitrary: fc.constantFrom(...rare) });
export const rawPath = fc
  .tuple(edge('', ['/', '//', './', '../']), fc.array(segment, { minLength: 1, maxLength: 5 }), edge('', ['/']))
  .map(([lead, segs, trail]) => lead + segs.join('/') + trail);

export const safePathCases: FuzzCase[] = [
  {
    name: 'safe-path: no generated path resolves to anything but a visible regular file inside the root (real dir, symlinks)',
    runs: 2500,
    setup: () => {
      const t = makeTree();
      return {
        dispose: t.dispose,
        property: fc.property(fc.constantFrom(t.root, t.root + '/', join(t.base, 'root-link'), join(t.base, 'root-link') + '/'), rawPath, (root, p) => {
          const r = resolveInRoot(root, p);
          if (!r.ok) {
            if (![400, 403, 404].includes(r.status)) throw new Error(`status ${r.status}`);
            return;
          }
          if (!t.served.has(r.path)) throw new Error(`${JSON.stringify(p)} resolved to ${r.path}`);
          if (!r.stats.isFile()) throw new Error(`${r.path} is not a regular file`);
        }),
      };
    },
  },
  {
    name: 'safe-path: decoded segments never contain a separator, NUL, control character, "." or ".."',
    runs: 3000,
    setup: () => ({
      property: fc.property(fc.oneof(rawPath, fc.string({ unit: 'binary', maxLength: 40 })), (p) => {
        const d = decodeSegments(p);
        if (!d.ok) return;
        for (const s of d.segments) if (s === '' || s === '.' || s === '..' || /[/\\\u0000-\u001f\u007f]/.test(s)) throw new Error(`segment ${JSON.stringify(s)} from ${JSON.stringify(p)}`);
      }),
    }),
  },
];
