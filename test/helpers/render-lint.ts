/**
 * Small structural checks of rendered scripts, each written from the reading
 * rules of the program that consumes them. Each returns a list of problems
 * (empty when the text is fine), so a failing test says what is wrong.
 */

/** Commands of Debian's 2019 iPXE build that the shipped scripts may use. */
export const IPXE_COMMANDS = new Set(['chain', 'echo', 'exit', 'goto', 'isset', 'iseq', 'imgfree', 'kernel', 'initrd', 'boot', 'sanboot', 'menu', 'item', 'choose', 'set', 'prompt']);
/** Settings a shipped script may expand; anything else came from somewhere it should not. */
const IPXE_SETTINGS = new Set(['netX/mac', 'uuid', 'buildarch', 'platform', 'serial', 'manufacturer', 'product', 'target']);
/** Commands that fetch or boot something: their failure must be handled. */
const IPXE_MUST_HANDLE = new Set(['chain', 'kernel', 'initrd', 'boot', 'sanboot']);

/**
 * iPXE's reading of a line (core/exec.c): split on whitespace; "||", "&&" and
 * ";" tokens separate commands; a token starting with "#" starts a comment.
 */
export function ipxeCommands(line: string): { argv: string[]; then?: string }[] {
  const cmds: { argv: string[]; then?: string }[] = [{ argv: [] }];
  for (const tok of line.trim().split(/\s+/).filter(Boolean)) {
    if (tok.startsWith('#')) break;
    if (tok === '||' || tok === '&&' || tok === ';') {
      cmds[cmds.length - 1]!.then = tok;
      cmds.push({ argv: [] });
    } else cmds[cmds.length - 1]!.argv.push(tok);
  }
  return cmds;
}

export function lintIpxe(body: string): string[] {
  const problems: string[] = [];
  const lines = body.split('\n');
  if (lines[0] !== '#!ipxe') problems.push(`first line is ${JSON.stringify(lines[0])}, not #!ipxe`);
  if (!body.endsWith('\n')) problems.push('no newline at the end');
  const labels = new Set(lines.filter((l) => /^:[A-Za-z0-9_-]+$/.test(l)).map((l) => l.slice(1)));
  lines.forEach((line, i) => {
    const where = `line ${i + 1}`;
    if (/[\r\u0000-\u0008\u000b-\u001f\u007f]/.test(line)) problems.push(`${where}: control character`);
    if (line.startsWith(':')) return;
    const cmds = ipxeCommands(line);
    cmds.forEach((cmd, j) => {
      const [name, ...args] = cmd.argv;
      if (name === undefined) return;
      if (!IPXE_COMMANDS.has(name)) problems.push(`${where}: unknown command ${JSON.stringify(name)}`);
      if (name === 'goto' && !labels.has(args[0] ?? '')) problems.push(`${where}: goto ${args[0]} has no label`);
      if (IPXE_MUST_HANDLE.has(name) && cmd.then !== '||') problems.push(`${where}: ${name} does not handle its failure`);
      if (j > 0 && name !== 'goto') problems.push(`${where}: ${name} after an operator`);
    });
    for (const m of line.matchAll(/\$\{([^}:]*)(?::[a-z]+)?\}/g)) {
      if (!IPXE_SETTINGS.has(m[1]!)) problems.push(`${where}: expands unexpected setting ${JSON.stringify(m[1])}`);
    }
  });
  return problems;
}

const PXELINUX_KEYWORDS = new Set(['DEFAULT', 'PROMPT', 'TIMEOUT', 'LABEL', 'KERNEL', 'INITRD', 'APPEND', 'LOCALBOOT']);

export function lintPxelinux(body: string): string[] {
  const problems: string[] = [];
  const labels = new Set<string>();
  let def: string | undefined;
  body.split('\n').forEach((line, i) => {
    const t = line.trim();
    if (!t || t.startsWith('#')) return;
    if (/[\u0000-\u0008\u000b-\u001f\u007f]/.test(line)) problems.push(`line ${i + 1}: control character`);
    const [kw, ...rest] = t.split(/\s+/);
    if (!PXELINUX_KEYWORDS.has(kw!.toUpperCase())) problems.push(`line ${i + 1}: unknown keyword ${JSON.stringify(kw)}`);
    if (kw === 'LABEL') labels.add(rest[0] ?? '');
    if (kw === 'DEFAULT') def = rest[0];
    if (kw === 'KERNEL' && rest.length !== 1) problems.push(`line ${i + 1}: KERNEL takes one path`);
  });
  if (def === undefined || !labels.has(def)) problems.push(`DEFAULT ${def} names no LABEL`);
  return problems;
}

/**
 * POSIX shell word splitting as Python's shlex.split (posix=True, comments)
 * does it, which is how Anaconda reads kickstart lines. Null when a quote is
 * left open.
 */
export function shellWords(line: string): string[] | null {
  const out: string[] = [];
  let cur = '';
  let inWord = false;
  for (let i = 0; i < line.length; ) {
    const c = line[i]!;
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) return null;
      cur += line.slice(i + 1, end);
      inWord = true;
      i = end + 1;
    } else if (c === '"') {
      let j = i + 1;
      while (j < line.length && line[j] !== '"') {
        if (line[j] === '\\' && j + 1 < line.length && '\\"$`'.includes(line[j + 1]!)) {
          cur += line[j + 1];
          j += 2;
        } else cur += line[j++];
      }
      if (j >= line.length) return null;
      inWord = true;
      i = j + 1;
    } else if (c === '\\') {
      if (i + 1 >= line.length) return null;
      cur += line[i + 1];
      inWord = true;
      i += 2;
    } else if (/\s/.test(c)) {
      if (inWord) out.push(cur);
      cur = '';
      inWord = false;
      i++;
    } else if (c === '#' && !inWord) {
      break;
    } else {
      cur += c;
      inWord = true;
      i++;
    }
  }
  if (inWord) out.push(cur);
  return out;
}

const KICKSTART_COMMANDS = new Set(['text', 'skipx', 'firstboot', 'url', 'lang', 'keyboard', 'timezone', 'network', 'rootpw', 'sshkey', 'zerombr', 'ignoredisk', 'clearpart', 'autopart', 'bootloader', 'reboot']);

export function lintKickstart(body: string): string[] {
  const problems: string[] = [];
  let section: string | null = null;
  body.split('\n').forEach((line, i) => {
    const where = `line ${i + 1}`;
    const words = shellWords(line);
    if (words === null) return problems.push(`${where}: unbalanced quotes`);
    if (words.length === 0) return;
    const [first] = words;
    if (first!.startsWith('%')) {
      if (first === '%end') {
        if (!section) problems.push(`${where}: %end outside a section`);
        section = null;
      } else if (first === '%packages' || first === '%post' || first === '%pre') {
        if (section) problems.push(`${where}: ${first} inside ${section}`);
        section = first;
      } else problems.push(`${where}: unknown section ${first}`);
    } else if (!section && !KICKSTART_COMMANDS.has(first!)) problems.push(`${where}: unknown command ${JSON.stringify(first)}`);
    return undefined;
  });
  if (section) problems.push(`${section} not closed with %end`);
  return problems;
}

const DEBCONF_TYPES = new Set(['string', 'boolean', 'select', 'multiselect', 'password', 'note']);

/** debconf-set-selections: "owner question type value", the value being the rest of the line. */
export function preseedEntries(body: string): { line: number; owner: string; question: string; type: string; value: string }[] {
  const out: { line: number; owner: string; question: string; type: string; value: string }[] = [];
  body.split('\n').forEach((line, i) => {
    if (!line.trim() || line.startsWith('#')) return;
    const m = /^(\S+)\s+(\S+)\s+(\S+)(?:\s(.*))?$/.exec(line);
    out.push(m ? { line: i + 1, owner: m[1]!, question: m[2]!, type: m[3]!, value: m[4] ?? '' } : { line: i + 1, owner: '', question: '', type: '', value: line });
  });
  return out;
}

export function lintPreseed(body: string): string[] {
  const problems: string[] = [];
  for (const e of preseedEntries(body)) {
    if (!['d-i', 'tasksel', 'popularity-contest'].includes(e.owner)) problems.push(`line ${e.line}: owner ${JSON.stringify(e.owner)}`);
    if (!DEBCONF_TYPES.has(e.type)) problems.push(`line ${e.line}: type ${JSON.stringify(e.type)}`);
    if (e.value.endsWith('\\')) problems.push(`line ${e.line}: value continues onto the next line`);
  }
  return problems;
}

/**
 * The YAML subset the shipped templates write: mappings and sequences by
 * two-space indentation, scalars either plain words of our own or JSON
 * (double-quoted YAML) strings; comments only on lines of their own. PyYAML
 * (cloud-init, subiquity) also ends a line at U+0085, U+2028 and U+2029:
 * such a character is only harmless inside a quoted scalar.
 */
export function lintYaml(body: string): string[] {
  const problems: string[] = [];
  body.split('\n').forEach((line, i) => {
    const where = `line ${i + 1}`;
    if (!line.trim()) return;
    if (/^\s*#/.test(line)) {
      if (/[\u0085\u2028\u2029]/.test(line)) problems.push(`${where}: a line separator in a comment`);
      if (i === 0 && line !== '#cloud-config' && body.startsWith('#cloud-config')) problems.push(`${where}: not #cloud-config`);
      return;
    }
    // dotAll: JavaScript's "." stops at U+2028 and U+2029 too.
    const m = /^( *)(- )?(?:([A-Za-z0-9_-]+):(?: (.*))?|(.*))$/s.exec(line)!;
    if (m[1]!.length % 2) problems.push(`${where}: odd indentation`);
    const scalar = m[4] ?? m[5];
    if (scalar === undefined || scalar === '') return;
    if (scalar.startsWith('"')) {
      try {
        if (typeof JSON.parse(scalar) !== 'string') problems.push(`${where}: not a string`);
      } catch {
        problems.push(`${where}: ${scalar.slice(0, 40)} is not one double-quoted scalar`);
      }
    } else if (!/^(true|false|default|lvm|[0-9]+)$/.test(scalar)) problems.push(`${where}: unexpected plain scalar ${JSON.stringify(scalar)}`);
  });
  return problems;
}

/** Double-quoted scalars of a YAML text written by lintYaml's rules, decoded. */
export function yamlStrings(body: string): string[] {
  return body.split('\n').flatMap((line) => {
    const m = /(?:^ *- |: )("(?:[^"\\]|\\.)*")$/s.exec(line);
    return m ? [JSON.parse(m[1]!) as string] : [];
  });
}

/** Tag balance of an XML document, with the declaration and comments skipped. */
export function lintXml(body: string): string[] {
  const problems: string[] = [];
  const stack: string[] = [];
  const text = body.replace(/^<\?xml[^>]*\?>/, '').replace(/<!--[\s\S]*?-->/g, '');
  for (const m of text.matchAll(/<(\/?)([A-Za-z_][\w.:-]*)([^<>]*?)(\/?)>|[<>]/g)) {
    if (m[0] === '<' || m[0] === '>') {
      problems.push(`a bare ${m[0]} in the text`);
      continue;
    }
    const [, close, name, , selfClose] = m;
    if (close) {
      const open = stack.pop();
      if (open !== name) problems.push(`</${name}> closes <${open}>`);
    } else if (!selfClose) stack.push(name!);
  }
  if (stack.length) problems.push(`not closed: ${stack.join(', ')}`);
  for (const m of text.matchAll(/&([^;\s]*);?/g)) {
    if (!/^&(#[0-9]+|#x[0-9a-fA-F]+|amp|lt|gt|quot|apos);$/.test(m[0])) problems.push(`bad entity ${m[0]}`);
  }
  return problems;
}

/** Text content of every element, entities decoded. */
export function xmlTexts(body: string): string[] {
  const decode = (s: string) =>
    s.replace(/&#([0-9]+);/g, (_, n: string) => String.fromCodePoint(Number(n))).replace(/&(amp|lt|gt|quot|apos);/g, (_, e: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" })[e]!);
  return [...body.matchAll(/>([^<>]+)</g)].map((m) => decode(m[1]!));
}

export function lintBatch(body: string): string[] {
  const problems: string[] = [];
  if (/[^\r]\n/.test(body) || body.startsWith('\n')) problems.push('a line ends with a bare LF (cmd.exe misreads labels then)');
  const lines = body.split('\r\n');
  const labels = new Set(lines.filter((l) => /^:[A-Za-z0-9_]+$/.test(l)).map((l) => l.slice(1).toLowerCase()));
  lines.forEach((line, i) => {
    if (/[\r\u0000-\u0008\u000b-\u001f\u007f]/.test(line)) problems.push(`line ${i + 1}: control character`);
    for (const m of line.matchAll(/\bgoto\s+:?(\S+)/gi)) {
      const label = m[1]!.toLowerCase();
      if (label !== 'eof' && !labels.has(label)) problems.push(`line ${i + 1}: goto ${label} has no label`);
    }
  });
  return problems;
}

/** The check for what a template renders, by its name. */
export function lintFor(template: string, body: string): string[] {
  if (template.startsWith('ipxe/')) return lintIpxe(body);
  if (template.startsWith('pxelinux/')) return lintPxelinux(body);
  if (template === 'kickstart/rhel.cfg') return lintKickstart(body);
  if (template === 'preseed/debian.cfg') return lintPreseed(body);
  if (/\.ya?ml$/.test(template)) return lintYaml(body);
  if (template.endsWith('.xml')) return lintXml(body);
  if (/\.(bat|cmd|txt)$/.test(template)) return lintBatch(body);
  throw new Error(`no check for ${template}`);
}

/** Lines as the consumer counts them: any of CR LF, LF or a lone CR ends one. */
export function lineCount(body: string): number {
  return body.split(/\r\n|\n|\r/).length;
}
