import type fc from 'fast-check';

/** One fuzz property: `runs` is the CI budget (test/fuzz); bench/fuzz runs it for minutes with random seeds. */
export interface FuzzCase {
  name: string;
  runs: number;
  /** Builds the property and any fixture it needs (a temp dir …); dispose removes the fixture. */
  setup(): { property: fc.IRawProperty<any, any>; dispose?: () => void } | Promise<{ property: fc.IRawProperty<any, any>; dispose?: () => void }>;
}
