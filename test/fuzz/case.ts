import type fc from 'fast-check';

export interface Fixture {
  property: fc.IRawProperty<any, any>;
  dispose?: () => void | Promise<void>;
}

/** One fuzz property: `runs` is the CI budget (test/fuzz); bench/fuzz runs it for minutes with random seeds. */
export interface FuzzCase {
  name: string;
  runs: number;
  /** Builds the property and any fixture it needs (a temp dir, a service stack …); dispose removes the fixture. */
  setup(): Fixture | Promise<Fixture>;
}
