/**
 * The CI fuzz run: every property in test/fuzz/properties.ts with its CI
 * budget and one fixed seed, so a failure reproduces. fast-check prints the
 * seed, the shrunk counterexample and the path to replay it:
 *   FUZZ_SEED=<seed> npx vitest run test/fuzz
 * The long run with random seeds is bench/fuzz/run.ts.
 */
import { describe, it } from 'vitest';
import fc from 'fast-check';
import { CASES } from './properties.js';

const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : 0x5eed_c4a1;

describe(`fuzz (seed ${SEED})`, () => {
  for (const c of CASES) {
    it(c.name, async () => {
      const { property, dispose } = await c.setup();
      try {
        await fc.assert(property, { seed: SEED, numRuns: c.runs, endOnFailure: false });
      } finally {
        await dispose?.();
      }
    });
  }
});
