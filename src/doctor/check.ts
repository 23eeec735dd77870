/**
 * What every doctor check returns, and the report as text or JSON. Pure.
 * A check is one question a newcomer would ask ("can it bind UDP 69?"), its
 * answer, and — when the answer is a problem — the fix in one line.
 */

export type Status = 'ok' | 'warn' | 'fail';

export interface Check {
  /** Stable identifier, e.g. "port.tftp", "loader.bios", "probe". */
  id: string;
  /** What was checked, for a person: "UDP 69 (TFTP)". */
  name: string;
  status: Status;
  /** The answer; may span several lines (one per loader, one per responder). */
  detail: string;
  /** The fix in one line; present when status is not ok, and for advice. */
  fix?: string;
  /** Structured facts behind the answer, for --json and tests. */
  data?: unknown;
}

export interface Report {
  checks: Check[];
  counts: Record<Status, number>;
  /** True when no check failed (warnings do not fail the run). */
  ok: boolean;
}

export function makeReport(checks: Check[]): Report {
  const counts: Record<Status, number> = { ok: 0, warn: 0, fail: 0 };
  for (const c of checks) counts[c.status]++;
  return { checks, counts, ok: counts.fail === 0 };
}

/** The process exit code for a report: 1 when a check failed. */
export function exitCode(r: Report): number {
  return r.ok ? 0 : 1;
}

const MARK: Record<Status, string> = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL' };

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** The report as a person reads it: one block per check, the fix under each problem. */
export function renderText(r: Report): string {
  const out: string[] = ['chainboot doctor', ''];
  for (const c of r.checks) {
    const [first = '', ...more] = c.detail.split('\n');
    out.push(`[${MARK[c.status]}] ${c.name}: ${first}`);
    for (const line of more) out.push(`       ${line}`);
    if (c.fix) out.push(`       ${c.status === 'ok' ? 'note' : 'fix'}: ${c.fix}`);
  }
  out.push('');
  out.push(`${plural(r.counts.ok, 'check', 'checks')} ok, ${plural(r.counts.warn, 'warning', 'warnings')}, ${plural(r.counts.fail, 'failure', 'failures')}`);
  return out.join('\n') + '\n';
}

export function renderJson(r: Report): string {
  return JSON.stringify(r, null, 2) + '\n';
}
