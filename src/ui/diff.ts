/**
 * A line diff for template versions: the longest common subsequence of the
 * lines, after the common head and tail are set aside (most edits touch a few
 * lines in the middle, so the table stays small). Pure.
 */

export interface DiffLine {
  op: 'same' | 'del' | 'add';
  text: string;
  /** 1-based line number in the old text (same, del). */
  a?: number;
  /** 1-based line number in the new text (same, add). */
  b?: number;
}

export interface Hunk {
  /** "@@ -a,n +b,m @@" as in a unified diff. */
  header: string;
  lines: DiffLine[];
}

/** Above this many table cells the middle is shown as replaced whole rather than diffed. */
const MAX_CELLS = 4_000_000;

export function splitLines(text: string): string[] {
  if (text === '') return [];
  const lines = text.split(/\r?\n/);
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

export function lineDiff(oldText: string, newText: string): DiffLine[] {
  const a = splitLines(oldText);
  const b = splitLines(newText);
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++;

  const out: DiffLine[] = [];
  for (let i = 0; i < head; i++) out.push({ op: 'same', text: a[i]!, a: i + 1, b: i + 1 });

  const am = a.slice(head, a.length - tail);
  const bm = b.slice(head, b.length - tail);
  const n = am.length;
  const m = bm.length;
  if (n * m > MAX_CELLS) {
    am.forEach((text, i) => out.push({ op: 'del', text, a: head + i + 1 }));
    bm.forEach((text, j) => out.push({ op: 'add', text, b: head + j + 1 }));
  } else {
    // lcs[i][j]: length of the LCS of am[i..] and bm[j..], in one flat array.
    const w = m + 1;
    const lcs = new Uint32Array((n + 1) * w);
    for (let i = n - 1; i >= 0; i--) {
      for (let j = m - 1; j >= 0; j--) {
        lcs[i * w + j] = am[i] === bm[j] ? lcs[(i + 1) * w + j + 1]! + 1 : Math.max(lcs[(i + 1) * w + j]!, lcs[i * w + j + 1]!);
      }
    }
    let i = 0;
    let j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && am[i] === bm[j]) {
        out.push({ op: 'same', text: am[i]!, a: head + i + 1, b: head + j + 1 });
        i++;
        j++;
      } else if (j < m && (i === n || lcs[i * w + j + 1]! >= lcs[(i + 1) * w + j]!)) {
        out.push({ op: 'add', text: bm[j]!, b: head + j + 1 });
        j++;
      } else {
        out.push({ op: 'del', text: am[i]!, a: head + i + 1 });
        i++;
      }
    }
    // Deletions before additions within a change reads better: reorder each run.
    reorderRuns(out, head);
  }

  for (let k = 0; k < tail; k++) {
    const ai = a.length - tail + k;
    const bi = b.length - tail + k;
    out.push({ op: 'same', text: a[ai]!, a: ai + 1, b: bi + 1 });
  }
  return out;
}

function reorderRuns(lines: DiffLine[], from: number): void {
  let k = from;
  while (k < lines.length) {
    if (lines[k]!.op === 'same') {
      k++;
      continue;
    }
    let end = k;
    while (end < lines.length && lines[end]!.op !== 'same') end++;
    const run = lines.slice(k, end);
    const sorted = [...run.filter((l) => l.op === 'del'), ...run.filter((l) => l.op === 'add')];
    lines.splice(k, run.length, ...sorted);
    k = end;
  }
}

/** Groups a diff into hunks with `context` unchanged lines around each change. */
export function hunks(lines: DiffLine[], context = 3): Hunk[] {
  const changed = lines.map((l, i) => (l.op === 'same' ? -1 : i)).filter((i) => i >= 0);
  if (!changed.length) return [];
  const out: Hunk[] = [];
  let start = Math.max(0, changed[0]! - context);
  let end = Math.min(lines.length, changed[0]! + context + 1);
  const flush = () => {
    const part = lines.slice(start, end);
    const firstA = part.find((l) => l.a !== undefined)?.a ?? 0;
    const firstB = part.find((l) => l.b !== undefined)?.b ?? 0;
    const na = part.filter((l) => l.op !== 'add').length;
    const nb = part.filter((l) => l.op !== 'del').length;
    out.push({ header: `@@ -${na ? firstA : Math.max(0, firstA - 1)},${na} +${nb ? firstB : Math.max(0, firstB - 1)},${nb} @@`, lines: part });
  };
  for (const i of changed.slice(1)) {
    if (i - context <= end) end = Math.min(lines.length, i + context + 1);
    else {
      flush();
      start = Math.max(0, i - context);
      end = Math.min(lines.length, i + context + 1);
    }
  }
  flush();
  return out;
}

export function diffStats(lines: DiffLine[]): { added: number; removed: number } {
  let added = 0;
  let removed = 0;
  for (const l of lines) {
    if (l.op === 'add') added++;
    else if (l.op === 'del') removed++;
  }
  return { added, removed };
}
