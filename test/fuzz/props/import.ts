/**
 * host-os.conf parsing: any text gives lines and problems (never a throw),
 * every line with content gives exactly one of them, a comment never changes
 * what a line means, and CR, LF and CRLF line ends read the same.
 */
import fc from 'fast-check';
import { parseHostOs } from '../../../src/boot/import.js';
import { textOf } from '../arb.js';
import type { FuzzCase } from '../case.js';

const PROFILES = new Set(['debian-12', 'rocky-9', 'local']);
const exists = (p: string) => PROFILES.has(p);
const macText = fc.oneof(
  fc.uint8Array({ minLength: 6, maxLength: 6 }).map((b) => [...b].map((x) => x.toString(16).padStart(2, '0')).join(':')),
  fc.constantFrom('08-00-27-4D-4D-AA', '0800.274d.4daa', 'nope', '', '08:00:27:4d:4d:aa'),
);
const field = fc.oneof(fc.constantFrom('debian-12', 'rocky-9', 'local', 'missing', '', 'web01', 'bad host', 'a.example.com'), fc.string({ unit: 'binary-ascii', maxLength: 8 }));
const blank = fc.constantFrom('', ' ', '\t');
// Comment text: anything but a line end (U+2028/U+2029, lone CR included: they are not line ends of a host-os.conf).
const commentText = fc.string({ unit: 'binary', maxLength: 12 }).map((s) => s.replace(/[\r\n]/g, ''));
const line = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(blank, macText, blank, field, fc.option(field, { nil: undefined }), blank).map(([a, m, b, p, h, c]) => `${a}${m},${b}${p}${h === undefined ? '' : `, ${h}`}${c}`) },
  { weight: 1, arbitrary: commentText.map((c) => `# ${c}`) },
  { weight: 1, arbitrary: blank },
  { weight: 1, arbitrary: textOf([',', '#', ' ', ':', '0', 'a', '\uFEFF', '\u2028', 'debian-12'], 10).map((s) => s.replace(/[\r\n]/g, '')) },
);
const file = fc.array(line.map((l) => l.replace(/[\r\n]/g, '')), { maxLength: 20 });

const strip = (r: ReturnType<typeof parseHostOs>) => JSON.stringify({ lines: r.lines, problems: r.problems.map((p) => ({ line: p.line, message: p.message })) });

export const importCases: FuzzCase[] = [
  {
    name: 'import: any text → one line or one problem per content line; MACs canonical and unique',
    runs: 1500,
    setup: () => ({
      property: fc.property(fc.oneof(file.map((ls) => ls.join('\n')), fc.string({ unit: 'binary', maxLength: 200 })), (text) => {
        const r = parseHostOs(text, exists);
        const numbers = [...r.lines.map((l) => l.line), ...r.problems.map((p) => p.line)];
        if (new Set(numbers).size !== numbers.length) throw new Error('a line both taken and refused, or reported twice');
        const macs = r.lines.map((l) => l.mac);
        if (new Set(macs).size !== macs.length) throw new Error('one MAC taken twice');
        for (const l of r.lines) {
          if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(l.mac)) throw new Error(`mac ${l.mac}`);
          if (!exists(l.profile)) throw new Error(`profile ${JSON.stringify(l.profile)} taken`);
        }
        for (const p of r.problems) if (p.text.length > 121) throw new Error('problem quotes more than 120 characters');
      }),
    }),
  },
  {
    name: 'import: a trailing comment never changes a line, and CR / LF / CRLF line ends read the same',
    runs: 1500,
    setup: () => ({
      property: fc.property(file, fc.array(commentText, { maxLength: 20 }), fc.constantFrom('\r\n', '\r'), (ls, comments, eol) => {
        const plain = parseHostOs(ls.join('\n'), exists);
        const commented = parseHostOs(ls.map((l, i) => (comments[i] !== undefined && !l.includes('#') ? `${l} #${comments[i]}` : l)).join('\n'), exists);
        if (strip(plain) !== strip(commented)) throw new Error(`a comment changed the result:\n${strip(plain)}\n${strip(commented)}`);
        const other = parseHostOs(ls.join(eol), exists);
        if (strip(plain) !== strip(other)) throw new Error(`line ends ${JSON.stringify(eol)} read differently:\n${strip(plain)}\n${strip(other)}`);
      }),
    }),
  },
];
