/**
 * Pure: given what the database says about a client, what does it boot now?
 * No I/O here; the caller looks up the rows and hands them in.
 *
 * Order: an active task wins (a machine with work goes straight into it, no
 * menu, no delay); then a menu choice the client came back with, if the host
 * may have it; then the host's standing profile; then the default profile;
 * then the local disk.
 */
import type { Host, Profile, Task } from '../db/schema.js';

export type BootPlan =
  | { action: 'local'; reason: string }
  | { action: 'profile'; profile: Profile; reason: string }
  | { action: 'task'; task: Task; profile: Profile; reason: string };

export interface DecideInput {
  host: Host | undefined;
  /** The host's own profile, if it has one. */
  hostProfile: Profile | undefined;
  /** The configured default profile (for hosts without one), if any. */
  defaultProfile: Profile | undefined;
  /** A menu choice the client came back with (?choice=name), already looked up. */
  choice?: { name: string; profile: Profile | undefined };
  /** The host's active task and the profile it boots. */
  task?: { task: Task; profile: Profile };
}

/** Profiles a client may choose from: its menu profile's entries and its own menu list. */
export function allowedChoices(host: Host | undefined, standing: Profile | undefined): string[] {
  const fromMenu = standing?.kind === 'menu' ? ((standing.options.entries as string[] | undefined) ?? []) : [];
  const fromHost = host && host.menuMode !== 'never' ? host.menuProfiles : [];
  // A host menu's "no key pressed" path chains back with its standing profile.
  const own = host && host.menuMode !== 'never' && standing ? [standing.name] : [];
  return [...fromMenu, ...fromHost, ...own];
}

export function decide(input: DecideInput): BootPlan {
  if (input.task) {
    const { task, profile } = input.task;
    if (task.state === 'running') {
      // The environment checked in and the machine booted again: the job has
      // moved on (an installer rebooting into the new system), so boot locally.
      return { action: 'local', reason: `task ${task.id} is running: local boot while the environment finishes` };
    }
    return { action: 'task', task, profile, reason: `task ${task.id} (attempt ${task.attempt}): ${profile.name}` };
  }
  const standing = input.hostProfile ?? input.defaultProfile;
  const via = input.hostProfile ? 'host profile' : 'default profile';
  if (input.choice && input.choice.profile && allowedChoices(input.host, standing).includes(input.choice.name)) {
    return { action: 'profile', profile: input.choice.profile, reason: `menu choice ${input.choice.name}` };
  }
  // A choice that is not on this host's menu is ignored: the client gets its standing boot again.
  if (!standing) return { action: 'local', reason: input.host?.discovered || !input.host ? 'unknown host: default is local boot' : 'no profile: local boot' };
  return { action: 'profile', profile: standing, reason: `${via} ${standing.name}` };
}
