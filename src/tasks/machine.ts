/**
 * The task state machine, pure. A task is one-shot work for one host:
 *
 *   pending ──boot──▶ served ──callback──▶ running ──▶ done | failed
 *      │                 │                    │
 *      └────────────┬────┴────────────────────┘
 *                   ▼
 *          cancelled (admin) | expired (never served before its expiry,
 *                                       served but never checked in, or
 *                                       running past the run timeout)
 *
 * failed goes back to pending when the task's policy is retry and attempts
 * remain. done, failed (without retry), expired and cancelled are final.
 */
import type { Task, TaskState } from '../db/schema.js';

export const FINAL_STATES: TaskState[] = ['done', 'failed', 'expired', 'cancelled'];

const ALLOWED: Record<TaskState, TaskState[]> = {
  pending: ['served', 'cancelled', 'expired'],
  served: ['served', 'running', 'done', 'failed', 'cancelled', 'expired'],
  running: ['running', 'done', 'failed', 'cancelled', 'expired'],
  failed: ['pending'],
  done: [],
  expired: [],
  cancelled: [],
};

export function canMove(from: TaskState, to: TaskState): boolean {
  return ALLOWED[from].includes(to);
}

export function isFinal(t: Pick<Task, 'state'>): boolean {
  return FINAL_STATES.includes(t.state);
}

/** After a failure: retry (back to pending, next attempt) or stay failed. */
export function afterFailure(t: Pick<Task, 'onFailure' | 'attempt' | 'maxRetries'>): 'retry' | 'stay' {
  return t.onFailure === 'retry' && t.attempt <= t.maxRetries ? 'retry' : 'stay';
}

/** Does this task decide the host's next boot now? */
export function isActiveAt(t: Pick<Task, 'state' | 'notBefore' | 'expiresAt'>, now: number): boolean {
  if (t.state === 'served' || t.state === 'running') return true;
  if (t.state !== 'pending') return false;
  if (t.notBefore !== null && t.notBefore > now) return false;
  if (t.expiresAt !== null && t.expiresAt <= now) return false;
  return true;
}

export interface SweepLimits {
  /** A served task that has not checked in after this long expires. */
  checkinTimeoutMs: number;
  /** A running task that has not finished after this long expires. */
  runTimeoutMs: number;
}

/** Why (if at all) a task should expire now. */
export function expiryReason(t: Pick<Task, 'state' | 'expiresAt' | 'servedAt' | 'startedAt' | 'updatedAt'>, now: number, limits: SweepLimits): string | null {
  if (t.state === 'pending' && t.expiresAt !== null && t.expiresAt <= now) return 'not served before its expiry';
  if (t.state === 'served' && (t.servedAt ?? t.updatedAt) + limits.checkinTimeoutMs <= now) return `served but never checked in within ${Math.round(limits.checkinTimeoutMs / 1000)} s`;
  if (t.state === 'running' && (t.startedAt ?? t.updatedAt) + limits.runTimeoutMs <= now) return `running but not finished within ${Math.round(limits.runTimeoutMs / 1000)} s`;
  return null;
}
