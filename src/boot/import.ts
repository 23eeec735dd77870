/**
 * The classic host-os.conf: one host per line, "MAC, profile[, hostname]",
 * "#" comments and blank lines. Parsing is pure; the caller applies the lines
 * in one transaction only when no line has a problem.
 */
import { normalizeMac } from './mac.js';
import { isHostname } from '../validate.js';
import type { ImportLine } from '../db/store.js';

export interface ImportProblem {
  line: number;
  text: string;
  message: string;
}

export function parseHostOs(text: string, profileExists: (name: string) => boolean): { lines: ImportLine[]; problems: ImportProblem[] } {
  const lines: ImportLine[] = [];
  const problems: ImportProblem[] = [];
  const seen = new Map<string, number>();
  // CRLF, LF and a bare CR (old Mac editors, some spreadsheet exports) all end a line.
  const rows = text.replace(/^\uFEFF/, '').split(/\r\n|\r|\n/);
  rows.forEach((raw, i) => {
    const line = i + 1;
    // Everything from the first "#" is a comment. Not /#.*$/: "." stops at
    // U+2028/U+2029, and the comment (with its "#") would then stay in the line.
    const hash = raw.indexOf('#');
    const content = (hash < 0 ? raw : raw.slice(0, hash)).trim();
    if (content === '') return;
    const shown = raw.length > 120 ? raw.slice(0, 120) + '…' : raw;
    const problem = (message: string) => problems.push({ line, text: shown, message });
    const fields = content.split(',').map((f) => f.trim());
    if (fields.length < 2 || fields.length > 3) return problem(`expected "MAC, profile[, hostname]", found ${fields.length} field(s)`);
    const [macText, profile, hostname] = fields as [string, string, string | undefined];
    const mac = normalizeMac(macText);
    if (!mac) return problem(`"${macText}" is not a MAC address`);
    if (!profile) return problem('profile is empty');
    if (!profileExists(profile)) return problem(`profile "${profile}" does not exist`);
    if (hostname !== undefined && hostname !== '' && !isHostname(hostname)) return problem(`"${hostname}" is not a valid host name`);
    const earlier = seen.get(mac);
    if (earlier !== undefined) return problem(`${mac} is already given on line ${earlier}`);
    seen.set(mac, line);
    lines.push({ line, mac, profile, ...(hostname ? { hostname } : {}) });
  });
  return { lines, problems };
}
