import { describe, expect, it } from 'vitest';
import { afterFailure, canMove, expiryReason, isActiveAt } from '../../src/tasks/machine.js';

describe('task state machine', () => {
  it.each([
    ['pending', 'served', true],
    ['pending', 'running', false],
    ['pending', 'done', false],
    ['served', 'running', true],
    ['served', 'done', true],
    ['running', 'done', true],
    ['running', 'pending', false],
    ['failed', 'pending', true],
    ['done', 'running', false],
    ['cancelled', 'served', false],
    ['expired', 'running', false],
  ] as const)('%s → %s allowed: %s', (from, to, ok) => {
    expect(canMove(from, to)).toBe(ok);
  });

  it('retries while attempts remain', () => {
    expect(afterFailure({ onFailure: 'retry', attempt: 1, maxRetries: 2 })).toBe('retry');
    expect(afterFailure({ onFailure: 'retry', attempt: 3, maxRetries: 2 })).toBe('stay');
    expect(afterFailure({ onFailure: 'local', attempt: 1, maxRetries: 5 })).toBe('stay');
  });

  it('a task scheduled for later, or past its expiry, does not decide the boot', () => {
    const t = { state: 'pending' as const, notBefore: 2000, expiresAt: 5000 };
    expect(isActiveAt(t, 1000)).toBe(false);
    expect(isActiveAt(t, 2000)).toBe(true);
    expect(isActiveAt(t, 5000)).toBe(false);
    expect(isActiveAt({ ...t, state: 'done' }, 3000)).toBe(false);
  });

  it('names why a task expires', () => {
    const limits = { checkinTimeoutMs: 60_000, runTimeoutMs: 600_000 };
    const base = { expiresAt: null, servedAt: null, startedAt: null, updatedAt: 0 };
    expect(expiryReason({ ...base, state: 'pending', expiresAt: 10 }, 10, limits)).toBe('not served before its expiry');
    expect(expiryReason({ ...base, state: 'served', servedAt: 0 }, 59_999, limits)).toBeNull();
    expect(expiryReason({ ...base, state: 'served', servedAt: 0 }, 60_000, limits)).toBe('served but never checked in within 60 s');
    expect(expiryReason({ ...base, state: 'running', startedAt: 0 }, 600_000, limits)).toBe('running but not finished within 600 s');
    expect(expiryReason({ ...base, state: 'done' }, 1e12, limits)).toBeNull();
  });
});
