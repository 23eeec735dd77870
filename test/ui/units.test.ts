/**
 * The UI's pure parts: the line diff, the timeline's boots and stop step, the
 * template syntax-error line, sessions.
 */
import { describe, expect, it } from 'vitest';
import { diffStats, hunks, lineDiff } from '../../src/ui/diff.js';
import { groupBoots, type TimelineEntry } from '../../src/ui/timeline.js';
import { createSessionStore } from '../../src/ui/session.js';

describe('lineDiff', () => {
  it('finds the changed lines and keeps the rest', () => {
    const d = lineDiff('a\nb\nc\nd\n', 'a\nB\nc\nd\ne\n');
    expect(d.map((l) => `${l.op === 'same' ? ' ' : l.op === 'add' ? '+' : '-'}${l.text}`)).toEqual([' a', '-b', '+B', ' c', ' d', '+e']);
    expect(d.find((l) => l.text === 'B')).toMatchObject({ b: 2 });
    expect(d.find((l) => l.text === 'b')).toMatchObject({ a: 2 });
    expect(diffStats(d)).toEqual({ added: 2, removed: 1 });
  });

  it('is a longest common subsequence, not a line-by-line compare', () => {
    const d = lineDiff('x\na\nb\nc', 'a\nb\nc\ny');
    expect(d.filter((l) => l.op === 'same').map((l) => l.text)).toEqual(['a', 'b', 'c']);
    expect(d.filter((l) => l.op !== 'same').map((l) => l.op + l.text)).toEqual(['delx', 'addy']);
  });

  it('handles empty texts and CRLF', () => {
    expect(lineDiff('', '')).toEqual([]);
    expect(lineDiff('', 'a\n').map((l) => l.op)).toEqual(['add']);
    expect(lineDiff('a\r\nb\r\n', 'a\nb\n').every((l) => l.op === 'same')).toBe(true);
  });

  it('groups changes into hunks with context', () => {
    const old = Array.from({ length: 30 }, (_, i) => `line ${i + 1}`).join('\n');
    const now = old.replace('line 3', 'LINE 3').replace('line 25', 'LINE 25');
    const hs = hunks(lineDiff(old, now), 3);
    expect(hs).toHaveLength(2);
    expect(hs[0]!.header).toBe('@@ -1,6 +1,6 @@');
    expect(hs[1]!.header).toBe('@@ -22,7 +22,7 @@');
    expect(hunks(lineDiff(old, old))).toEqual([]);
  });
});

const T0 = 1_700_000_000_000;
const ev = (s: number, source: string, what: string, status: number | null = 200, result = 'ok', actor?: string): TimelineEntry => ({
  at: T0 + s * 1000,
  source,
  what,
  result,
  status,
  clientIp: null,
  detail: actor ? { actor } : null,
});

describe('groupBoots', () => {
  it('keeps iPXE’s own DHCP after the TFTP loader in the same boot and marks a completed task boot', () => {
    const boots = groupBoots(
      [
        ev(0, 'dhcp', 'DISCOVER'),
        ev(1, 'tftp', 'undionly.kpxe'),
        ev(2, 'dhcp', 'DISCOVER iPXE'),
        ev(3, 'task', 'task 1 (rocky): pending → served', null, '', 'boot'),
        ev(3, 'script', '/ipxe', 200, 'linux rocky (task 1)'),
        ev(4, 'asset', '/assets/rocky/vmlinuz'),
        ev(9, 'file', '/hosts/x/ks.cfg'),
        ev(20, 'task', '/tasks/1/running'),
        ev(90, 'task', '/tasks/1/done'),
      ],
      T0 + 600_000,
    );
    expect(boots).toHaveLength(1);
    expect(boots[0]!.outcome).toBe('completed');
    expect(boots[0]!.stopAt).toBeNull();
    expect(boots[0]!.stages.map((s) => s.state)).toEqual(['ok', 'ok', 'ok', 'ok', 'ok', 'ok']);
    // The served change belongs to the boot whose script served it.
    expect(boots[0]!.steps[3]!.what).toContain('served');
  });

  it('starts a new boot when the machine starts over, and finds where each stopped', () => {
    const boots = groupBoots(
      [
        ev(0, 'dhcp', 'DISCOVER'),
        ev(1, 'tftp', 'undionly.kpxe'),
        ev(3, 'script', '/ipxe', 200, 'linux debian'),
        ev(4, 'asset', '/assets/debian/linux', 404, '404 no such file'),
        ev(60, 'dhcp', 'DISCOVER'),
        ev(61, 'tftp', 'undionly.kpxe', 408, 'timeout after 3 acknowledged block(s)'),
        ev(70, 'dhcp', 'DISCOVER'),
        ev(71, 'tftp', 'undionly.kpxe'),
      ],
      T0 + 3_600_000,
    );
    expect(boots).toHaveLength(2);
    expect(boots[0]!.outcome).toBe('failed');
    expect(boots[0]!.steps[boots[0]!.stopAt!]!.what).toBe('/assets/debian/linux');
    expect(boots[0]!.stages.find((s) => s.stage === 'assets')!.state).toBe('failed');
    // DHCP → TFTP (timeout) → DHCP → TFTP: no HTTP yet, so one attempt, failed at TFTP.
    expect(boots[1]!.outcome).toBe('failed');
    expect(boots[1]!.steps[boots[1]!.stopAt!]!.source).toBe('tftp');
  });

  it('tells a boot that is still going from one that stopped', () => {
    const entries = [ev(0, 'dhcp', 'DISCOVER'), ev(1, 'tftp', 'undionly.kpxe'), ev(3, 'script', '/ipxe', 200, 'linux debian')];
    const going = groupBoots(entries, T0 + 30_000);
    expect(going[0]!.outcome).toBe('in-progress');
    const stopped = groupBoots(entries, T0 + 3_600_000);
    expect(stopped[0]!.outcome).toBe('stopped');
    expect(stopped[0]!.stages.find((s) => s.stage === 'script')!.state).toBe('stopped');
    expect(stopped[0]!.stages.find((s) => s.stage === 'assets')!.state).toBe('unseen');
  });

  it('treats a boot sent to the local disk as complete, and a long pause as a new boot', () => {
    const boots = groupBoots([ev(0, 'script', '/ipxe', 200, 'local (no profile: local boot)'), ev(3600, 'script', '/ipxe', 200, 'linux x')], T0 + 7_200_000);
    expect(boots.map((b) => b.outcome)).toEqual(['completed', 'stopped']);
  });

  it('marks a failed task as the failure', () => {
    const boots = groupBoots([ev(0, 'script', '/ipxe'), ev(5, 'task', '/tasks/3/failed', 200, 'ok: task 3 is failed'), ev(5, 'task', 'task 3 (x): running → failed', null, 'disk not found', 'callback')], T0 + 7_200_000);
    expect(boots[0]!.outcome).toBe('failed');
    expect(boots[0]!.steps[boots[0]!.stopAt!]!.what).toContain('→ failed');
  });
});

describe('sessions', () => {
  it('expire when idle or old, and when the admin token changes', () => {
    let t = 0;
    const store = createSessionStore({ idleMs: 1000, maxAgeMs: 5000, now: () => t });
    const { id } = store.create('hash-a');
    expect(store.get(id, 'hash-a')).toBeDefined();
    t = 900;
    expect(store.get(id, 'hash-a')).toBeDefined();
    t = 1800; // idle 900 ms since the last use: still alive
    expect(store.get(id, 'hash-a')).toBeDefined();
    t = 3000; // idle 1200 ms
    expect(store.get(id, 'hash-a')).toBeUndefined();

    const b = store.create('hash-a');
    for (t = 3500; t < 8000; t += 500) store.get(b.id, 'hash-a');
    expect(store.get(b.id, 'hash-a')).toBeUndefined(); // older than maxAge

    const c = store.create('hash-a');
    expect(store.get(c.id, 'hash-b')).toBeUndefined();
    expect(store.get(c.id, 'hash-a')).toBeUndefined(); // ended, not just refused once
    expect(store.get('nonsense', 'hash-a')).toBeUndefined();
  });
});
