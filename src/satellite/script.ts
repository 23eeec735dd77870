/**
 * The satellite's /boot.ipxe, pure. While the centre is reachable it chains
 * to the centre's entry script (at the URL the site reaches it by); while it
 * is not, it ends at once with `exit`, which hands control back to the
 * firmware and so boots the next device, the local disk — as the centre's
 * own local boot does (templates/ipxe/local.ipxe.eta). Nothing here waits.
 */
import { safeScriptUrl } from './protocol.js';

/** Text for an iPXE `echo`: printable ASCII without anything iPXE expands or splits on. */
export function ipxeText(text: string, max = 160): string {
  return text
    .replace(/[^A-Za-z0-9 .,:;/()_+=@%[\]-]/g, ' ')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, max);
}

export interface EntryInput {
  /** Is the centre reachable now? */
  up: boolean;
  /** The centre's URL as this site reaches it (the site's bootBaseUrl, else upstream). */
  target: string;
  /** Why the centre counts as down (the last failed check). */
  reason?: string | null;
}

/**
 * The entry script. A target that is not a plain http(s) URL is never
 * written into the script: the client is sent to its local disk instead
 * (an injected newline would be a command run by every booting machine).
 */
export function satelliteEntryScript(input: EntryInput): { body: string; failSafe: boolean } {
  const target = safeScriptUrl(input.target);
  if (!input.up || !target) {
    const why = !target ? 'the centre URL this satellite has is not usable' : `the centre is unreachable (${ipxeText(input.reason ?? 'no answer')})`;
    return {
      failSafe: true,
      body: [
        '#!ipxe',
        '# chainboot satellite: the centre cannot be reached, so this machine boots',
        '# its local disk now instead of waiting for it.',
        `echo chainboot satellite: ${ipxeText(why)}`,
        'echo chainboot satellite: booting the local disk',
        '# Ending the script hands control back to the firmware, which tries the',
        '# next device in its boot order: the local disk when the network comes first.',
        'exit',
        '',
      ].join('\n'),
    };
  }
  return {
    failSafe: false,
    body: [
      '#!ipxe',
      '# chainboot satellite: the centre decides what this machine boots.',
      `chain --autofree ${target}/boot.ipxe || goto failed`,
      'exit 0',
      '',
      ':failed',
      '# The centre went away between the satellite\'s last check and this chain:',
      '# hand back to the firmware, which boots the next device.',
      `echo chainboot satellite: could not load ${target}/boot.ipxe`,
      'echo chainboot satellite: handing back to the firmware to try the next boot device',
      'exit 1',
      '',
    ].join('\n'),
  };
}
