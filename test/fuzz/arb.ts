/**
 * Shared generators for the fuzz properties: raw bytes, and well-formed
 * inputs that are then damaged (truncated, bit-flipped, spliced), since
 * purely random bytes rarely get past a magic cookie or an opcode.
 */
import fc from 'fast-check';

export const bytes = (maxLength: number) => fc.uint8Array({ maxLength }).map((a) => Buffer.from(a));

type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'set'; at: number; value: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; data: Uint8Array }
  | { kind: 'delete'; at: number; n: number }
  | { kind: 'duplicate'; at: number; n: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat(7) }),
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.constantFrom(0, 1, 2, 0x7f, 0x80, 0xfe, 0xff) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), data: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 16 }) }),
  fc.record({ kind: fc.constant('duplicate' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 64 }) }),
);

function apply(buf: Buffer, m: Mutation): Buffer {
  if (buf.length === 0) return m.kind === 'insert' ? Buffer.from(m.data) : buf;
  const at = m.at % buf.length;
  switch (m.kind) {
    case 'flip': {
      const b = Buffer.from(buf);
      b[at] = b[at]! ^ (1 << m.bit);
      return b;
    }
    case 'set': {
      const b = Buffer.from(buf);
      b[at] = m.value;
      return b;
    }
    case 'truncate':
      return buf.subarray(0, at);
    case 'insert':
      return Buffer.concat([buf.subarray(0, at), m.data, buf.subarray(at)]);
    case 'delete':
      return Buffer.concat([buf.subarray(0, at), buf.subarray(at + m.n)]);
    case 'duplicate':
      return Buffer.concat([buf.subarray(0, at + m.n), buf.subarray(at)]);
  }
}

/** A well-formed input from `valid`, damaged by up to `max` mutations (none, sometimes). */
export function mutated(valid: fc.Arbitrary<Buffer>, max = 4): fc.Arbitrary<Buffer> {
  return fc.tuple(valid, fc.array(mutation, { maxLength: max })).map(([b, ms]) => ms.reduce(apply, b));
}

/** Latin-1 text (one byte per char), as packet strings decode to. */
export const latin1 = (opts: { minLength?: number; maxLength: number; noNul?: boolean }) =>
  fc
    .array(fc.integer({ min: opts.noNul ? 1 : 0, max: 255 }), { minLength: opts.minLength ?? 0, maxLength: opts.maxLength })
    .map((cs) => String.fromCharCode(...cs));

/** Text from a small alphabet that hits the parsers' delimiters often, mixed with any UTF-16. */
export function textOf(alphabet: string[], maxLength: number): fc.Arbitrary<string> {
  return fc.array(fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...alphabet) }, { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 3 }) }), { maxLength }).map((a) => a.join(''));
}
