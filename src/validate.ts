/**
 * Validation at the door: every value that can later reach a boot script is
 * checked here, with a message that names what is wrong. Escaping for each
 * script language happens again at render time (render/escape.ts); this layer
 * keeps obviously hostile or broken values out of the database.
 */
import { z } from 'zod';
import { normalizeMac } from './boot/mac.js';

// Control characters (C0 and DEL): a newline in a value is a new command in
// an iPXE script, a kickstart or a batch file.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

export const macSchema = z
  .string()
  .transform((v, ctx) => {
    const mac = normalizeMac(v);
    if (!mac) {
      ctx.addIssue({ code: 'custom', message: `not a MAC address: ${JSON.stringify(v.slice(0, 40))} (expected 6 hex bytes, e.g. 08:00:27:4d:4d:aa)` });
      return z.NEVER;
    }
    return mac;
  });

/** RFC 1123 host name: labels of letters, digits and hyphens, 1–63 long, not starting or ending with a hyphen, 253 in all. */
export function isHostname(v: string): boolean {
  if (v.length === 0 || v.length > 253) return false;
  const labels = v.endsWith('.') ? v.slice(0, -1).split('.') : v.split('.');
  return labels.every((l) => /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(l));
}

export const hostnameSchema = z
  .string()
  .refine(isHostname, { message: 'not an RFC 1123 host name (letters, digits and hyphens in dot-separated labels of 1–63, no leading or trailing hyphen, 253 characters at most)' });

export const VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

export const variablesSchema = z
  .record(z.string(), z.union([z.string(), z.number(), z.boolean()]))
  .superRefine((vars, ctx) => {
    const names = Object.keys(vars);
    if (names.length > 200) ctx.addIssue({ code: 'custom', message: `at most 200 variables, got ${names.length}` });
    for (const name of names) {
      if (!VAR_NAME.test(name)) {
        ctx.addIssue({ code: 'custom', path: [name], message: `variable name ${JSON.stringify(name.slice(0, 70))} must match ${VAR_NAME.source}` });
        continue;
      }
      const value = String(vars[name]);
      if (value.length > 4096) ctx.addIssue({ code: 'custom', path: [name], message: `value is ${value.length} characters long, at most 4096 allowed` });
      if (CONTROL.test(value)) ctx.addIssue({ code: 'custom', path: [name], message: 'value contains a control character (newline, tab, NUL …), which is not allowed' });
    }
  })
  .transform((vars) => Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, String(v)])));

/** Free text shown to admins, never to scripts unescaped: one line-ish, bounded. */
export const notesSchema = z.string().max(4000);

export const profileNameSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$/, 'profile name must be 1–64 letters, digits, ".", "_", "+" or "-", starting with a letter or digit');

export const templateNameSchema = z
  .string()
  .max(128)
  .regex(
    /^[a-z0-9][a-z0-9_-]*(\/[a-z0-9][a-z0-9_-]*)*\.[a-z0-9]+$/,
    'template name must be lower-case path segments of letters, digits, "_" and "-", ending in an extension, e.g. kickstart/rhel.cfg',
  );

/** A file a host can fetch under /hosts/<mac>/<file>. */
export const hostFileNameSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'file name must be 1–64 letters, digits, ".", "_" or "-", e.g. ks.cfg');

/**
 * Where an asset comes from: a path under the asset root (debian12/linux) or an
 * absolute http(s) URL (a mirror). Either is written into boot scripts, so only
 * a conservative character set is allowed.
 */
export function checkAssetRef(v: string): string | null {
  if (v.length === 0) return 'must not be empty';
  if (v.length > 2048) return `is ${v.length} characters long, at most 2048 allowed`;
  if (CONTROL.test(v) || /\s/.test(v)) return 'contains whitespace or a control character';
  if (/^https?:\/\//i.test(v)) {
    let u: URL;
    try {
      u = new URL(v);
    } catch {
      return 'is not a valid URL';
    }
    if (u.username || u.password) return 'must not carry credentials';
    if (!/^[A-Za-z0-9._~:/?#[\]@!&'()*+,;=%-]+$/.test(v) || /[$"'`\\]/.test(v)) return 'contains characters that are not allowed in a boot script URL ($, quotes, backslash)';
    return null;
  }
  if (v.startsWith('/')) return 'must be relative to the asset root (no leading "/") or an http(s):// URL';
  if (v.includes('\\')) return 'must use "/" as separator, not "\\"';
  if (!/^[A-Za-z0-9._+@=,-]+(\/[A-Za-z0-9._+@=,-]+)*$/.test(v)) return 'may contain only letters, digits and . _ + @ = , - in "/"-separated segments';
  if (v.split('/').some((seg) => seg === '..' || seg === '.' || seg.startsWith('.'))) return 'must not contain "." or ".." segments or hidden files';
  return null;
}

export const assetRefSchema = z.string().superRefine((v, ctx) => {
  const problem = checkAssetRef(v);
  if (problem) ctx.addIssue({ code: 'custom', message: `asset ${JSON.stringify(v.slice(0, 80))} ${problem}` });
});

export const urlSchema = z.string().superRefine((v, ctx) => {
  if (!/^(https?|tftp):\/\//i.test(v)) {
    ctx.addIssue({ code: 'custom', message: 'must be an http://, https:// or tftp:// URL' });
    return;
  }
  const problem = checkAssetRef(v.replace(/^tftp:/i, 'http:'));
  if (problem) ctx.addIssue({ code: 'custom', message: `URL ${problem}` });
});

/** Kernel command line written by an admin: one line, no control characters. */
export const cmdlineSchema = z
  .string()
  .max(4096)
  .refine((v) => !CONTROL.test(v), { message: 'kernel command line must be one line without control characters' });

/** Turns a zod error into "field: message; field: message". */
export function describeZodError(err: z.ZodError): string {
  return err.issues
    .map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message))
    .join('; ');
}

export function hasControl(v: string): boolean {
  return CONTROL.test(v);
}

/**
 * Secret variables: { name: { value, always? } } (or just the value). Values
 * follow the same rules as variables; they are never shown back.
 */
export const secretsSchema = z
  .record(z.string(), z.union([z.string(), z.object({ value: z.string(), always: z.boolean().optional() }).strict(), z.null()]))
  .superRefine((vars, ctx) => {
    for (const [name, v] of Object.entries(vars)) {
      if (!VAR_NAME.test(name)) ctx.addIssue({ code: 'custom', path: [name], message: `secret name ${JSON.stringify(name.slice(0, 70))} must match ${VAR_NAME.source}` });
      const value = v === null ? '' : typeof v === 'string' ? v : v.value;
      if (value.length > 4096) ctx.addIssue({ code: 'custom', path: [name], message: `value is ${value.length} characters long, at most 4096 allowed` });
      if (CONTROL.test(value)) ctx.addIssue({ code: 'custom', path: [name], message: 'value contains a control character, which is not allowed' });
    }
  })
  .transform((vars) =>
    Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, v === null ? null : typeof v === 'string' ? { value: v } : v])),
  ) as z.ZodType<Record<string, { value: string; always?: boolean } | null>>;

export const labelSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'label must be 1–64 letters, digits, ".", "_" or "-", starting with a letter or digit');
