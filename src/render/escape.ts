/**
 * Escaping per target language. Eta's `<%= value %>` runs the escape function of
 * the template's target (chosen by its name, see targetFor); `<%~ value %>`
 * writes raw and is only for values already made safe (Safe instances built
 * by chainboot itself, e.g. URLs). A value that cannot be written safely into
 * its target is refused with an UnsafeValueError naming the offending
 * character: failing a render is better than running a command an attacker
 * smuggled into a host variable on every machine that boots.
 */

export type Target = 'ipxe' | 'pxelinux' | 'shell' | 'yaml' | 'xml' | 'batch' | 'powershell';

export class UnsafeValueError extends Error {
  override name = 'UnsafeValueError';
}

/** A string chainboot built itself and vouches for in every target (our own URLs). */
export class Safe {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
  toJSON(): string {
    return this.value;
  }
}

// C0, DEL, C1, and the Unicode line and paragraph separators: each of them
// ends a line for some consumer (Python's splitlines() in pykickstart, PyYAML).
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
const NOT_CONTROL = /[^\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

function describeChar(ch: string): string {
  const code = ch.codePointAt(0)!;
  if (ch === '\n') return 'a newline';
  if (ch === '\r') return 'a carriage return';
  if (ch === '\t') return 'a tab';
  if (ch === ' ') return 'a space';
  if (code < 0x20 || code === 0x7f) return `control character U+${code.toString(16).padStart(4, '0')}`;
  return `"${ch}"`;
}

function refuse(target: string, v: string, bad: string, hint = ''): never {
  const shown = v.length > 60 ? JSON.stringify(v.slice(0, 60)) + '…' : JSON.stringify(v);
  throw new UnsafeValueError(`value ${shown} cannot be written into ${target}: it contains ${describeChar(bad)}${hint}`);
}

function firstBad(v: string, allowed: RegExp): string | undefined {
  for (const ch of v) if (!allowed.test(ch)) return ch;
  return undefined;
}

function str(v: unknown): string {
  if (v === null || v === undefined) return '';
  return String(v);
}

/**
 * iPXE expands ${…} anywhere, splits arguments on whitespace and treats
 * `||`, `&&` and `;` tokens as operators; a newline starts a new command.
 * A value must therefore be a single token of inert characters.
 */
const IPXE_SAFE = /[A-Za-z0-9._:/=+,@%~?*!^()[\]{}-]/;
export function ipxe(value: unknown): string {
  if (value instanceof Safe) return value.value;
  const v = str(value);
  const bad = firstBad(v, IPXE_SAFE);
  if (bad !== undefined) refuse('an iPXE script', v, bad, ' (use it.label() for display text)');
  return v;
}

/** Display text in iPXE (menu items, echo): kept readable, made inert. */
export function ipxeLabel(value: unknown): Safe {
  // iPXE also splits a line into commands at words that are exactly "||",
  // "&&" or ";", and ignores the rest of a line from a word starting with "#".
  const v = str(value instanceof Safe ? value.value : value)
    .replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ')
    .replace(/\$/g, '')
    .slice(0, 200)
    .split(' ')
    .map((w) => (w === '||' || w === '&&' ? w[0]! : w === ';' ? ',' : w.replace(/^#+/, '')))
    .join(' ');
  return new Safe(v);
}

/** pxelinux config lines: keywords and space-separated arguments, no expansion. */
export function pxelinux(value: unknown): string {
  if (value instanceof Safe) return value.value;
  const v = str(value);
  const bad = firstBad(v, /[^\s\u0000-\u001f\u007f-\u009f\u2028\u2029]/);
  if (bad !== undefined) refuse('a pxelinux config', v, bad);
  return v;
}

/**
 * POSIX shell, and the shell-like line formats built on it (kickstart is
 * read line by line, then split with shlex; preseed values run through sh in
 * late_command). Plain tokens stay bare for readability; anything else is
 * single-quoted. A newline is refused: it would end the kickstart line before
 * any quoting is seen.
 */
const SHELL_BARE = /^[A-Za-z0-9._:/=+,@%-]+$/;
export function shell(value: unknown): string {
  if (value instanceof Safe) return value.value;
  const v = str(value);
  const bad = firstBad(v, NOT_CONTROL);
  if (bad !== undefined) refuse('a shell or kickstart line', v, bad);
  if (SHELL_BARE.test(v)) return v;
  return "'" + v.replace(/'/g, "'\\''") + "'";
}

/**
 * YAML (cloud-init, autoinstall): a JSON string is a valid YAML double-quoted
 * scalar, once the characters PyYAML treats as line breaks or refuses (DEL,
 * C1, U+2028/2029) are escaped too.
 */
export function yaml(value: unknown): string {
  const v = value instanceof Safe ? value.value : str(value);
  return JSON.stringify(v).replace(/[\u007f-\u009f\u2028\u2029]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
}

/** XML 1.0 text and attribute values. Characters XML cannot carry at all are refused. */
export function xml(value: unknown): string {
  const v = value instanceof Safe ? value.value : str(value);
  const bad = firstBad(v, /[^\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/);
  if (bad !== undefined) refuse('XML', v, bad);
  return v.replace(/[&<>"'\n\r\t\u0085\u2028\u2029]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * cmd.exe batch files and diskpart scripts. cmd expands %VAR% and !VAR! and
 * treats & | < > ^ ( ) " as syntax, with rules that change inside quotes, so no
 * escaping is reliable: only inert characters pass.
 */
const BATCH_SAFE = /[A-Za-z0-9 ._:\\/=+,@#~{}[\]$-]/;
export function batch(value: unknown): string {
  if (value instanceof Safe) return value.value;
  const v = str(value);
  const bad = firstBad(v, BATCH_SAFE);
  if (bad !== undefined) refuse('a batch or diskpart script', v, bad);
  return v;
}

/** PowerShell single-quoted string: only quote characters (including typographic ones) need doubling. */
export function powershell(value: unknown): string {
  const v = value instanceof Safe ? value.value : str(value);
  const bad = firstBad(v, NOT_CONTROL);
  if (bad !== undefined) refuse('a PowerShell script', v, bad);
  return "'" + v.replace(/['\u2018\u2019\u201a\u201b]/g, (q) => q + q) + "'";
}

export const ESCAPERS: Record<Target, (v: unknown) => string> = { ipxe, pxelinux, shell, yaml, xml, batch, powershell };

/** Which language a template speaks, from its name: its folder, then its extension. */
export function targetFor(templateName: string): Target {
  if (templateName.startsWith('ipxe/') || templateName.endsWith('.ipxe')) return 'ipxe';
  if (templateName.startsWith('pxelinux/')) return 'pxelinux';
  const ext = templateName.slice(templateName.lastIndexOf('.') + 1);
  switch (ext) {
    case 'xml':
      return 'xml';
    case 'bat':
    case 'cmd':
    case 'txt':
      return 'batch';
    case 'yaml':
    case 'yml':
      return 'yaml';
    case 'ps1':
      return 'powershell';
    default:
      return 'shell';
  }
}

export const CONTENT_TYPES: Record<Target, string> = {
  ipxe: 'text/plain; charset=utf-8',
  pxelinux: 'text/plain; charset=utf-8',
  shell: 'text/plain; charset=utf-8',
  yaml: 'text/yaml; charset=utf-8',
  xml: 'application/xml; charset=utf-8',
  batch: 'text/plain; charset=utf-8',
  powershell: 'text/plain; charset=utf-8',
};

export { CONTROL as CONTROL_CHARS };
