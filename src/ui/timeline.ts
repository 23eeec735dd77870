/**
 * A host's timeline as boots: the flat list admin.hostTimeline returns (boot
 * events and task changes, oldest first) cut into boot attempts, each step
 * placed in its stage (DHCP → TFTP → HTTP script → assets → host files → task),
 * and the step where an attempt stopped found. Pure, so it is tested on lists.
 */

export const STAGES = ['dhcp', 'tftp', 'script', 'assets', 'files', 'task'] as const;
export type Stage = (typeof STAGES)[number] | 'other';

export const STAGE_LABELS: Record<Stage, string> = {
  dhcp: 'DHCP',
  tftp: 'TFTP',
  script: 'HTTP script',
  assets: 'Assets',
  files: 'Host files',
  task: 'Task callbacks',
  other: 'Other',
};

export interface TimelineEntry {
  at: number;
  source: string;
  what: string;
  result: string;
  status: number | null;
  clientIp: string | null;
  detail: Record<string, unknown> | null;
}

export interface Step extends TimelineEntry {
  stage: Stage;
  failed: boolean;
  /** A task change made by an admin (assign, cancel): context, not part of a boot. */
  admin: boolean;
}

export type Outcome =
  /** Reached its end: the task reported done, or the host was sent to its local disk. */
  | 'completed'
  /** A step failed (status ≥ 400, or a task that failed or expired). */
  | 'failed'
  /** The last step is recent: the boot may still be going on. */
  | 'in-progress'
  /** Nothing came after the last step. */
  | 'stopped'
  /** Only admin task changes, no boot steps. */
  | 'admin';

export interface StageState {
  stage: (typeof STAGES)[number];
  state: 'ok' | 'failed' | 'unseen' | 'stopped';
  steps: number;
}

export interface Boot {
  start: number;
  end: number;
  steps: Step[];
  outcome: Outcome;
  /** Index in `steps` of the step where the boot stopped or failed (highlighted); null when it completed. */
  stopAt: number | null;
  stages: StageState[];
}

/** A pause this long between two steps starts a new attempt. */
export const GAP_MS = 15 * 60_000;
/** The latest attempt counts as still going on while its last step is this recent. */
export const ACTIVE_MS = 2 * 60_000;

export function stageOf(source: string): Stage {
  switch (source) {
    case 'dhcp':
      return 'dhcp';
    case 'tftp':
      return 'tftp';
    case 'entry':
    case 'script':
    case 'pxelinux':
      return 'script';
    case 'asset':
    case 'loader':
      return 'assets';
    case 'file':
      return 'files';
    case 'task':
      return 'task';
    default:
      return 'other';
  }
}

function isFailure(e: TimelineEntry, stage: Stage): boolean {
  if (e.status !== null && e.status >= 400) return true;
  // Task state changes carry no status: failed/expired show in the text.
  if (stage === 'task' && e.status === null && /→ (failed|expired)$/.test(e.what)) return true;
  return false;
}

function isCompletion(s: Step): boolean {
  if (s.stage === 'task' && !s.admin && s.status === null && /→ done$/.test(s.what)) return true;
  if (s.stage === 'task' && s.status === 200 && /\/done$/.test(s.what)) return true;
  // The boot script sent the host to its local disk: that boot is over.
  if (s.stage === 'script' && !s.failed && /^local\b/.test(s.result)) return true;
  return false;
}

function isBootMark(s: Step): boolean {
  return s.stage === 'task' && s.status === null && (s.detail as { actor?: string } | null)?.actor === 'boot';
}

function neutral(s: Step): boolean {
  return s.admin || isBootMark(s);
}

function isServedBy(change: Step, script: Step): boolean {
  return isBootMark(change) && script.stage === 'script' && script.at - change.at <= 5_000;
}

const ORDER: Record<Stage, number> = { dhcp: 0, tftp: 1, script: 2, assets: 3, files: 4, task: 5, other: 6 };

export function toSteps(entries: TimelineEntry[]): Step[] {
  return entries.map((e) => {
    const stage = stageOf(e.source);
    const admin = e.source === 'task' && e.status === null && (e.detail as { actor?: string } | null)?.actor === 'admin';
    return { ...e, stage, failed: isFailure(e, stage), admin };
  });
}

/**
 * Cuts the steps into boot attempts: a new one starts after a long pause, when
 * DHCP comes after HTTP steps (the machine started over; iPXE's own DHCP
 * right after the TFTP loader is part of the same boot), or when a boot
 * script is fetched after assets, files or callbacks (iPXE without our DHCP).
 */
export function groupBoots(entries: TimelineEntry[], now: number): Boot[] {
  const steps = toSteps(entries);
  const groups: Step[][] = [];
  let cur: Step[] = [];
  let prev: Step | undefined;
  for (const s of steps) {
    // Admin changes and the boot service's own "served" mark say nothing about how far a boot got.
    const bootStep = prev && !neutral(prev) ? prev : [...cur].reverse().find((x) => !neutral(x));
    const startsOver =
      cur.length > 0 &&
      (s.at - cur[cur.length - 1]!.at > GAP_MS ||
        (!s.admin && bootStep !== undefined && s.stage === 'dhcp' && ORDER[bootStep.stage] >= ORDER.script) ||
        (!s.admin && bootStep !== undefined && s.stage === 'script' && ORDER[bootStep.stage] > ORDER.script));
    if (startsOver) {
      // The boot service marks a task served just before it records the script
      // that serves it: that change opens the new boot, it does not end the old one.
      const carried: Step[] = [];
      while (cur.length > 1 && isServedBy(cur[cur.length - 1]!, s)) carried.unshift(cur.pop()!);
      groups.push(cur);
      cur = carried;
    }
    cur.push(s);
    prev = s;
  }
  if (cur.length) groups.push(cur);
  return groups.map((g, i) => summarize(g, now, i === groups.length - 1));
}

function summarize(steps: Step[], now: number, latest: boolean): Boot {
  const start = steps[0]!.at;
  const end = steps[steps.length - 1]!.at;
  const bootSteps = steps.map((s, i) => ({ s, i })).filter((x) => !x.s.admin);
  let outcome: Outcome;
  let stopAt: number | null;
  const failure = bootSteps.find((x) => x.s.failed);
  const last = bootSteps[bootSteps.length - 1];
  if (!last) {
    outcome = 'admin';
    stopAt = null;
  } else if (failure) {
    outcome = 'failed';
    stopAt = failure.i;
  } else if (isCompletion(last.s)) {
    outcome = 'completed';
    stopAt = null;
  } else if (latest && now - last.s.at < ACTIVE_MS) {
    outcome = 'in-progress';
    stopAt = last.i;
  } else {
    outcome = 'stopped';
    stopAt = last.i;
  }
  const stages: StageState[] = STAGES.map((stage) => {
    const inStage = bootSteps.filter((x) => x.s.stage === stage);
    let state: StageState['state'] = inStage.length ? 'ok' : 'unseen';
    if (inStage.some((x) => x.s.failed)) state = 'failed';
    if (stopAt !== null && steps[stopAt]!.stage === stage && outcome !== 'failed') state = 'stopped';
    return { stage, state, steps: inStage.length };
  });
  return { start, end, steps, outcome, stopAt, stages };
}
