/**
 * MAC normalisation: any text gives null or the canonical colon form, the
 * normaliser is idempotent, and every spelling of an address (colons,
 * hyphens, Cisco dots, bare hex, any case, surrounding blanks) gives that
 * address back.
 */
import fc from 'fast-check';
import { macHyphen, macPlain, normalizeMac } from '../../../src/boot/mac.js';
import { textOf } from '../arb.js';
import type { FuzzCase } from '../case.js';

const CANONICAL = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
const mac = fc.uint8Array({ minLength: 6, maxLength: 6 }).map((b) => [...b].map((x) => x.toString(16).padStart(2, '0')).join(':'));
const spell = (m: string, how: number, upper: boolean, pad: string) => {
  const hex = m.replace(/:/g, '');
  const forms = [m, m.replace(/:/g, '-'), hex, `${hex.slice(0, 4)}.${hex.slice(4, 8)}.${hex.slice(8)}`];
  const s = forms[how]!;
  return pad + (upper ? s.toUpperCase() : s) + pad;
};
const junk = textOf(['0', '8', 'a', 'F', 'g', ':', '-', '.', ' ', '\t', '\n', '\u00a0', '\u212a', '\u0130', 'ff:', '0800.'], 20);

export const macCases: FuzzCase[] = [
  {
    name: 'mac: any text → null or the canonical form; idempotent',
    runs: 3000,
    setup: () => ({
      property: fc.property(fc.oneof(junk, fc.string({ unit: 'binary', maxLength: 24 })), (s) => {
        const m = normalizeMac(s);
        if (m === null) return;
        if (!CANONICAL.test(m)) throw new Error(`${JSON.stringify(s)} → ${JSON.stringify(m)}`);
        if (normalizeMac(m) !== m) throw new Error(`not idempotent on ${m}`);
        if (normalizeMac(macHyphen(m)) !== m || normalizeMac(macPlain(m)) !== m) throw new Error(`hyphen/plain form of ${m} does not come back`);
      }),
    }),
  },
  {
    name: 'mac: every accepted spelling of an address normalises to it',
    runs: 1500,
    setup: () => ({
      property: fc.property(mac, fc.integer({ min: 0, max: 3 }), fc.boolean(), fc.constantFrom('', ' ', '\t', '\r\n'), (m, how, upper, pad) => {
        const s = spell(m, how, upper, pad);
        if (normalizeMac(s) !== m) throw new Error(`${JSON.stringify(s)} → ${normalizeMac(s)}, expected ${m}`);
      }),
    }),
  },
];
