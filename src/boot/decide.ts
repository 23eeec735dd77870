/**
 * Pure: given what the database says about a client, what does it boot now?
 * No I/O here; the caller looks up the rows and hands them in.
 */
import type { Host, Profile } from '../db/schema.js';

export type BootPlan =
  | { action: 'local'; reason: string }
  | { action: 'profile'; profile: Profile; reason: string };

export interface DecideInput {
  host: Host | undefined;
  /** The host's own profile, if it has one. */
  hostProfile: Profile | undefined;
  /** The configured default profile (for hosts without one), if any. */
  defaultProfile: Profile | undefined;
  /** A menu choice the client came back with (?choice=name), already looked up. */
  choice?: { name: string; profile: Profile | undefined };
}

export function decide(input: DecideInput): BootPlan {
  const standing = input.hostProfile ?? input.defaultProfile;
  const via = input.hostProfile ? 'host profile' : 'default profile';
  if (input.choice) {
    const menu = standing?.kind === 'menu' ? standing : undefined;
    const allowed = (menu?.options.entries as string[] | undefined) ?? [];
    if (menu && allowed.includes(input.choice.name) && input.choice.profile) {
      return { action: 'profile', profile: input.choice.profile, reason: `menu ${menu.name}: chose ${input.choice.name}` };
    }
    // A choice that is not on this host's menu is ignored: the client gets its menu again.
  }
  if (!standing) return { action: 'local', reason: input.host?.discovered || !input.host ? 'unknown host: default is local boot' : 'no profile: local boot' };
  return { action: 'profile', profile: standing, reason: `${via} ${standing.name}` };
}
