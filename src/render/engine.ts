/**
 * Template engine: eta, one instance per target language, each with that
 * language's escape function on `<%= %>`. Templates are found by name: the
 * newest admin-saved version in the database first, then the shipped file
 * templates/<name>.eta. Compiled functions are cached by name and version.
 */
import { Eta, type TemplateFunction } from 'eta';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { Script } from 'node:vm';
import { ESCAPERS, targetFor, type Target } from './escape.js';
import type { Store } from '../db/store.js';

export interface ResolvedTemplate {
  name: string;
  body: string;
  source: 'saved' | 'shipped';
  /** Saved version number; 0 for the shipped file. */
  version: number;
}

export class TemplateError extends Error {
  override name = 'TemplateError';
  constructor(
    message: string,
    readonly template: string,
    readonly line?: number,
  ) {
    super(message);
  }
}

export class TemplateNotFoundError extends Error {
  override name = 'TemplateNotFoundError';
}

export interface EngineDeps {
  store: Pick<Store, 'latestTemplate'>;
  shippedDir: string;
}

/**
 * Removes the newline that directly follows an exec tag (<% … %>), and only
 * that. At this stage eta has already escaped the template text for a JS
 * string literal, so a newline is the two characters backslash and n.
 */
function dropNewlineAfterLogic(ast: Array<string | { t: string; val: string }>): Array<string | { t: string; val: string }> {
  return ast.map((node, i) => {
    const prev = ast[i - 1];
    if (typeof node === 'string' && prev && typeof prev === 'object' && prev.t === 'e') return node.replace(/^(?:\\r)?\\n/, '');
    return node;
  });
}

function makeEta(target: Target, debug: boolean): Eta {
  return new Eta({
    autoEscape: true,
    escapeFunction: ESCAPERS[target],
    // Scripts are line-oriented: an interpolation at the end of a line keeps
    // its newline (eta's default 'nl' trim would join it to the next line),
    // while a line holding only logic (<% if … %>) leaves no empty line behind.
    autoTrim: false,
    plugins: [{ processAST: dropNewlineAfterLogic }],
    cache: false,
    debug,
    useWith: false,
    varName: 'it',
  });
}

export type Engine = ReturnType<typeof createEngine>;

export function createEngine(deps: EngineDeps) {
  const etas = new Map<string, Eta>();
  const eta = (target: Target, debug = false) => {
    const key = target + (debug ? ':debug' : '');
    let e = etas.get(key);
    if (!e) etas.set(key, (e = makeEta(target, debug)));
    return e;
  };
  const shipped = new Map<string, string | null>();
  const compiled = new Map<string, { key: string; fn: TemplateFunction }>();

  function shippedBody(name: string): string | null {
    if (shipped.has(name)) return shipped.get(name)!;
    let body: string | null = null;
    try {
      body = readFileSync(join(deps.shippedDir, name + '.eta'), 'utf8');
    } catch {
      body = null;
    }
    shipped.set(name, body);
    return body;
  }

  function resolve(name: string): ResolvedTemplate {
    const saved = deps.store.latestTemplate(name);
    if (saved) return { name, body: saved.body, source: 'saved', version: saved.version };
    const body = shippedBody(name);
    if (body === null) throw new TemplateNotFoundError(`template "${name}" does not exist (neither saved nor shipped)`);
    return { name, body, source: 'shipped', version: 0 };
  }

  /** Compiles without running: syntax errors come back with their line. */
  function check(name: string, body: string): void {
    try {
      eta(targetFor(name), true).compile(body);
    } catch (e) {
      throw asTemplateError(e, name, body);
    }
  }

  function renderResolved(t: ResolvedTemplate, data: object, opts: { debug?: boolean } = {}): string {
    const target = targetFor(t.name);
    const e = eta(target, !!opts.debug);
    let fn: TemplateFunction;
    if (opts.debug) {
      try {
        fn = e.compile(t.body);
      } catch (err) {
        throw asTemplateError(err, t.name, t.body);
      }
    } else {
      const key = `${t.source}:${t.version}`;
      const hit = compiled.get(t.name);
      if (hit && hit.key === key) fn = hit.fn;
      else {
        try {
          fn = e.compile(t.body);
        } catch (err) {
          throw asTemplateError(err, t.name, t.body);
        }
        compiled.set(t.name, { key, fn });
      }
    }
    let out: string;
    try {
      out = e.render(fn, data);
    } catch (err) {
      throw asTemplateError(err, t.name);
    }
    // cmd.exe misparses labels and GOTO in files with bare LF line ends.
    if (target === 'batch') out = out.replace(/\r?\n/g, '\r\n');
    return out;
  }

  return {
    resolve,
    check,
    render(name: string, data: object, opts: { debug?: boolean } = {}): string {
      return renderResolved(resolve(name), data, opts);
    },
    renderBody(name: string, body: string, data: object): string {
      return renderResolved({ name, body, source: 'saved', version: -1 }, data, { debug: true });
    },
    /** Renders a short inline template (a profile's kernel command line) in a target language. */
    renderInline(target: Target, body: string, data: object): string {
      if (!body.includes('<%')) return body;
      const key = `inline:${target}:${body}`;
      let hit = compiled.get(key);
      if (!hit) {
        try {
          hit = { key, fn: eta(target).compile(body) };
        } catch (err) {
          throw asTemplateError(err, 'profile cmdline', body);
        }
        if (compiled.size < 10_000) compiled.set(key, hit);
      }
      try {
        return eta(target).render(hit.fn, data);
      } catch (err) {
        throw asTemplateError(err, 'profile cmdline', body);
      }
    },
    /** Shipped template names (from templates/), for listings. */
    shippedNames(): string[] {
      const out: string[] = [];
      const walk = (dir: string) => {
        let entries: string[];
        try {
          entries = readdirSync(dir);
        } catch {
          return;
        }
        for (const f of entries) {
          const p = join(dir, f);
          if (statSync(p).isDirectory()) walk(p);
          else if (f.endsWith('.eta')) out.push(relative(deps.shippedDir, p).split(sep).join('/').slice(0, -4));
        }
      };
      walk(deps.shippedDir);
      return out.sort();
    },
    shippedBody,
  };
}

function asTemplateError(err: unknown, name: string, body?: string): TemplateError {
  if (err instanceof TemplateError) return err;
  const e = err as Error;
  const msg = e?.message ?? String(err);
  // An UnsafeValueError is reported as it is: it names the value and the reason.
  const cause = (e as { cause?: Error })?.cause;
  const unsafe = e?.name === 'UnsafeValueError' ? e : cause?.name === 'UnsafeValueError' ? cause : undefined;
  if (unsafe) return new TemplateError(`template ${name}: ${unsafe.message}`, name, leadingLine(msg));
  // eta's "Bad template syntax" carries the generated function, template text
  // and all: keep only the JavaScript error, and find the tag it is in.
  const bad = /^Bad template syntax\s+([^\n]*)/.exec(msg);
  if (bad) {
    const where = body === undefined ? undefined : locateSyntaxError(body);
    const why = `bad template syntax: ${bad[1]}${where?.unclosed ? ' (what this tag opens is never closed)' : ''}`;
    const text = where?.line ? `line ${where.line}: ${why}` : why;
    return new TemplateError(`template ${name}: ${text}`, name, where?.line);
  }
  return new TemplateError(`template ${name}: ${msg}`, name, leadingLine(msg));
}

/**
 * eta puts the line first in its own messages: "unclosed tag at line 3 col 5"
 * (parse) and "line 3\n  1| …" (render, debug). Only the first line of the
 * message is looked at: the rest quotes template text, which may say "line 9".
 */
function leadingLine(msg: string): number | undefined {
  const m = /\bline (\d+)/.exec(msg.split('\n', 1)[0]!);
  return m ? Number(m[1]) : undefined;
}

/**
 * Where a template's JavaScript breaks. The tags' code is joined one tag at a
 * time inside a function left open, and only compiled (never run): the first
 * prefix that compiles, or fails with anything but "unexpected end of input"
 * (which a later tag may still complete), holds the error. When every prefix is only
 * incomplete, the whole never closes: the tag after the last point where the
 * code was complete opened what is never closed.
 */
export function locateSyntaxError(body: string): { line?: number; unclosed?: boolean } | undefined {
  let tags: { t: string; val: string; lineNo?: number }[];
  try {
    tags = (new Eta({ debug: true, autoTrim: false }).parse(body) as unknown[]).filter(
      (x): x is { t: string; val: string; lineNo?: number } => typeof x === 'object' && x !== null,
    );
  } catch {
    return undefined;
  }
  const compiles = (src: string): Error | null => {
    try {
      new Script(src);
      return null;
    } catch (err) {
      return err as Error;
    }
  };
  // A function declaration left open: no correct prefix can compile on its
  // own, so one that does has closed more blocks than it opened.
  let code = 'function template(it) {\n';
  let openedAt: number | undefined;
  for (const tag of tags) {
    code += tag.t === 'e' ? `${tag.val}\n` : `(${tag.val});\n`;
    const err = compiles(code);
    if (!err || !/end of input/i.test(err.message)) return { line: tag.lineNo };
    if (!compiles(code + '}')) openedAt = undefined;
    else openedAt ??= tag.lineNo;
  }
  return compiles(code + '}') ? { line: openedAt, unclosed: true } : undefined;
}
