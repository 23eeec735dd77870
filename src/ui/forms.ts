/**
 * Form text → API input, with errors per form field. The admin layer checks
 * everything again; these turn its messages into ones placed beside the
 * field they are about.
 */
import type { z } from 'zod';
import { ConflictError, InvalidInputError, NotFoundError } from '../errors.js';

export type FieldErrors = Record<string, string>;

/** "name=value" lines → a record; a line without "=" is an error naming its number. */
export function parsePairs(text: string, what: string): { value: Record<string, string>; error?: string } {
  const value: Record<string, string> = {};
  const bad: number[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const eq = line.indexOf('=');
    if (eq <= 0) {
      bad.push(i + 1);
      return;
    }
    value[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  });
  return bad.length ? { value, error: `line ${bad.join(', ')}: expected ${what} as name=value` } : { value };
}

export function pairsText(v: Record<string, string> | undefined): string {
  return Object.entries(v ?? {})
    .map(([k, x]) => `${k}=${x}`)
    .join('\n');
}

/** "a, b c" → ["a", "b", "c"] */
export function parseList(text: string): string[] {
  return text
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter(Boolean);
}

/** One entry per line (initrds). */
export function parseLines(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((s) => s.trim())
    .filter(Boolean);
}

/** Zod issues → the form field each is about (`fieldFor` maps the issue's path; "" = the form as a whole). */
export function zodFieldErrors(err: z.ZodError, fieldFor: (path: PropertyKey[]) => string): FieldErrors {
  const out: FieldErrors = {};
  for (const i of err.issues) {
    const f = fieldFor(i.path);
    const where = i.path.length > 1 ? `${i.path.slice(1).join('.')}: ` : '';
    const text = i.code === 'unrecognized_keys' ? i.message : where + i.message;
    out[f] = out[f] ? `${out[f]}; ${text}` : text;
  }
  return out;
}

/**
 * A message from the admin layer ("host: menuProfiles: …", "profile x: files.ks.cfg: …; entries: …")
 * split into parts and placed by the first field name each part mentions.
 */
export function adminFieldErrors(err: unknown, known: string[], fallback = ''): FieldErrors | undefined {
  if (!(err instanceof InvalidInputError || err instanceof NotFoundError || err instanceof ConflictError)) return undefined;
  const out: FieldErrors = {};
  const message = err.message.replace(/^(host|profile [^:]*|task|profile): /, '');
  for (const part of message.split('; ')) {
    const m = /^([A-Za-z]+)[.:]/.exec(part);
    let f = m && known.includes(m[1]!) ? m[1]! : fallback;
    if (!m && /profile "[^"]*" does not exist/.test(part) && known.includes('profile')) f = 'profile';
    if (/already exists/.test(part) && known.includes('mac')) f = f || 'mac';
    out[f] = out[f] ? `${out[f]}; ${part}` : part;
  }
  return out;
}
