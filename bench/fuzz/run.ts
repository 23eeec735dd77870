/**
 * The long fuzz run: every property of test/fuzz/properties.ts, round-robin,
 * in batches with fresh random seeds, until the time is up. Prints runs per
 * property and every counterexample with the seed and path that replay it.
 *
 *   node --import tsx bench/fuzz/run.ts --minutes 10
 *   node --import tsx bench/fuzz/run.ts --seconds 30 --only tftp
 *   node --import tsx bench/fuzz/run.ts --seed 1234 --only "range: any"   # replay one seed
 *
 * Exit status 1 when any property failed.
 */
import fc from 'fast-check';
import { randomInt } from 'node:crypto';
import { CASES, type FuzzCase } from '../../test/fuzz/properties.js';

interface Args {
  ms: number;
  only?: string;
  seed?: number;
  /** Runs per batch, as a multiple of the property's CI budget. */
  factor: number;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { ms: 10 * 60_000, factor: 5 };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split('=', 2) as [string, string | undefined];
    const value = () => inline ?? argv[++i] ?? '';
    if (flag === '--minutes') a.ms = Number(value()) * 60_000;
    else if (flag === '--seconds') a.ms = Number(value()) * 1000;
    else if (flag === '--only') a.only = value();
    else if (flag === '--seed') a.seed = Number(value());
    else if (flag === '--factor') a.factor = Number(value());
    else if (flag === '--help' || flag === '-h') {
      console.log('usage: node --import tsx bench/fuzz/run.ts [--minutes N | --seconds N] [--only SUBSTRING] [--seed N] [--factor N]');
      process.exit(0);
    } else {
      console.error(`unknown argument ${argv[i]} (see --help)`);
      process.exit(2);
    }
  }
  if (!(a.ms > 0) || !(a.factor > 0)) {
    console.error('--minutes/--seconds and --factor must be positive numbers');
    process.exit(2);
  }
  return a;
}

interface Tally {
  c: FuzzCase;
  runs: number;
  batches: number;
  ms: number;
  failures: string[];
  fixture?: Awaited<ReturnType<FuzzCase['setup']>>;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const chosen = CASES.filter((c) => !args.only || c.name.includes(args.only));
  if (!chosen.length) {
    console.error(`no property matches ${JSON.stringify(args.only)}; properties:\n  ${CASES.map((c) => c.name).join('\n  ')}`);
    process.exit(2);
  }
  const tallies: Tally[] = chosen.map((c) => ({ c, runs: 0, batches: 0, ms: 0, failures: [] }));
  let started = Date.now();
  try {
    // Inside the try: a setup that throws still has the fixtures built before it disposed.
    for (const t of tallies) t.fixture = await t.c.setup();
    started = Date.now();
    const deadline = started + args.ms;
    console.log(`fuzzing ${tallies.length} properties for ${(args.ms / 1000).toFixed(0)} s${args.seed !== undefined ? ` with seed ${args.seed}` : ' with random seeds'}`);
    let lastReport = started;

    // At least one batch of each, even when the time is shorter.
    for (let round = 0; round === 0 || Date.now() < deadline; round++) {
      for (const t of tallies) {
        if (round > 0 && Date.now() >= deadline) break;
        if (t.failures.length >= 3) continue; // enough counterexamples for one property
        const seed = args.seed ?? randomInt(0, 2 ** 31);
        const numRuns = Math.max(1, Math.round(t.c.runs * args.factor));
        const t0 = Date.now();
        const details = await fc.check(t.fixture!.property, { seed, numRuns });
        t.ms += Date.now() - t0;
        t.runs += details.numRuns;
        t.batches++;
        if (details.failed) {
          const report = fc.defaultReportMessage(details) ?? `failed with seed ${seed}`;
          t.failures.push(report);
          console.log(`\nFAIL ${t.c.name}\n  replay: node --import tsx bench/fuzz/run.ts --seed ${seed} --only ${JSON.stringify(t.c.name.slice(0, 30))} --factor ${args.factor}\n${report.replace(/^/gm, '  ')}\n`);
        }
        if (args.seed !== undefined) break;
      }
      if (args.seed !== undefined) break;
      if (Date.now() - lastReport > 60_000) {
        lastReport = Date.now();
        console.log(`${((Date.now() - started) / 60_000).toFixed(1)} min: ${tallies.reduce((n, t) => n + t.runs, 0)} runs, ${tallies.reduce((n, t) => n + t.failures.length, 0)} failure(s)`);
      }
    }
  } finally {
    // A fixture's dispose may return a Promise (the boot HTTP stack closes its backend): await each in turn.
    for (const t of tallies) await t.fixture?.dispose?.();
  }

  console.log(`\n${'runs'.padStart(10)} ${'runs/s'.padStart(8)}  result  property`);
  for (const t of tallies) {
    const rate = t.ms > 0 ? Math.round((t.runs * 1000) / t.ms) : 0;
    console.log(`${String(t.runs).padStart(10)} ${String(rate).padStart(8)}  ${t.failures.length ? `FAIL ${t.failures.length}` : 'ok    '}  ${t.c.name}`);
  }
  const failed = tallies.filter((t) => t.failures.length).length;
  console.log(`\n${tallies.reduce((n, t) => n + t.runs, 0)} runs in ${((Date.now() - started) / 1000).toFixed(0)} s; ${failed ? `${failed} propert${failed === 1 ? 'y' : 'ies'} FAILED` : 'no counterexample'}`);
  process.exitCode = failed ? 1 : 0;
}

await main();
