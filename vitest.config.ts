import { defineConfig } from 'vitest/config';

/**
 * Two projects, both run by `vitest run`:
 * - sqlite: every test, over the embedded SQLite database (the default);
 * - postgres: the tests that go through the service's stores (API, boot
 *   scripts, tasks, sites, UI, metrics, the two-node test) again, on a
 *   throwaway PostgreSQL cluster its globalSetup starts (Debian's server
 *   binaries; scripts/install-pg-test-deps.sh installs them).
 */
const onBothBackends = [
  'test/http/api.test.ts',
  'test/http/boot.test.ts',
  'test/tasks/**/*.test.ts',
  'test/sites/sites.test.ts',
  'test/ui/**/*.test.ts',
  'test/boot/import.test.ts',
  'test/render/errors.test.ts',
  'test/metrics/boot-flow.test.ts',
  'test/metrics/http.test.ts',
  'test/limits/api.test.ts',
  'test/satellite/centre.test.ts',
  'test/http/assets.test.ts',
  'test/http/loaders-route.test.ts',
  'test/limits/conn-limit.test.ts',
  'test/fuzz/fuzz.test.ts',
];

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 30_000,
    projects: [
      { extends: true, test: { name: 'sqlite', include: ['test/**/*.test.ts'], exclude: ['test/db/two-node.test.ts'] } },
      {
        extends: true,
        test: {
          name: 'postgres',
          include: [...onBothBackends, 'test/db/two-node.test.ts'],
          env: { CHAINBOOT_TEST_DATABASE: 'postgres' },
          globalSetup: ['test/helpers/pg-global.ts'],
        },
      },
    ],
  },
});
