/**
 * A real service stack with the real migrations and the shipped templates:
 * the same wiring as `serve` (buildServices), without sockets.
 *
 * The database is the run's backend: a private in-memory SQLite database, or
 * (the vitest project "postgres", CHAINBOOT_TEST_DATABASE=postgres) a fresh
 * PostgreSQL database of its own, copied from the migrated template the
 * project's globalSetup made (test/helpers/pg-global.ts). Tests await every
 * store call, so the same test runs on both.
 */
import { afterAll } from 'vitest';
import { freshPgDatabase, TEST_BACKEND } from './pg-fresh.js';
import { loadConfig } from '../../src/config.js';
import { buildServices } from '../../src/main.js';
import { silentLogger } from '../../src/log.js';
import { openBackend, type Backend } from '../../src/db/backend.js';

export const TOKEN = 'test-admin-token-0123456789abcdef';

export { TEST_BACKEND };

const open = new Set<Backend>();
// Under vitest: closed after the file's tests. A bench that imports this (bench/fuzz) closes its stacks itself.
if (process.env.VITEST) {
  afterAll(async () => {
    await Promise.all([...open].map((b) => b.close()));
    open.clear();
  });
}

/** A backend of this run's kind over a new, empty database; closed after the file's tests at the latest. */
export async function openTestBackend(opts: { now?: () => number } = {}): Promise<Backend> {
  let b: Backend;
  if (TEST_BACKEND === 'postgres') {
    const db = await freshPgDatabase();
    const inner = await openBackend({ databaseUrl: db.url, file: '', now: opts.now });
    let closing: Promise<void> | undefined;
    b = Object.assign(Object.create(inner) as Backend, {
      close: () => (closing ??= inner.close().then(() => db.drop())),
    });
  } else {
    b = await openBackend({ file: ':memory:', now: opts.now });
  }
  open.add(b);
  return b;
}

export interface StackOptions {
  baseUrl?: string;
  defaultProfile?: string;
  assetRoot?: string;
  loaderRoot?: string;
  now?: () => number;
  secureCookies?: boolean;
  /** No --admin-token: the token lives (as a hash) in the database, as after `chainboot token --rotate`. */
  storedToken?: boolean;
  /** Build on this backend (a second node on the same database) instead of a new one. */
  backend?: Backend;
}

export async function makeStack(opts: StackOptions = {}) {
  const argv = ['--asset-root', opts.assetRoot ?? '/nonexistent', '--loader-root', opts.loaderRoot ?? '/nonexistent'];
  if (!opts.storedToken) argv.push('--admin-token', TOKEN);
  if (opts.secureCookies) argv.push('--ui-secure-cookies', 'on');
  if (opts.defaultProfile) argv.push('--default-profile', opts.defaultProfile);
  const cfg = loadConfig({ argv });
  const baseUrl = opts.baseUrl ?? 'http://10.0.0.5:8080';
  const backend = opts.backend ?? (await openTestBackend({ now: opts.now }));
  // Events are flushed by the tests when they read them, not by a timer.
  const s = await buildServices(cfg, silentLogger, { backend, baseUrl, now: opts.now, eventIntervalMs: 10_000 });
  // The task token key is fixed so tests can compare tokens between runs.
  await s.store.setSetting('task_token_key', 'test-task-key');
  const api = (path: string, init: RequestInit & { json?: unknown } = {}) => {
    const headers = new Headers(init.headers);
    if (!headers.has('authorization')) headers.set('authorization', `Bearer ${TOKEN}`);
    let body = init.body;
    if (init.json !== undefined) {
      body = JSON.stringify(init.json);
      headers.set('content-type', 'application/json');
    }
    return s.app.request(`/api/v1${path}`, { ...init, headers, body });
  };
  /** Flushes the event log and closes the database (also done after the file's tests). */
  const close = async () => {
    await s.events.close();
    await backend.close();
  };
  return { ...s, api, close };
}

export type Stack = Awaited<ReturnType<typeof makeStack>>;
