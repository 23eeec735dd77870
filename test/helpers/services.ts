/**
 * A real service stack over a private in-memory database with the real
 * migrations and the shipped templates: the same wiring as `serve`
 * (buildServices), without sockets.
 */
import { loadConfig } from '../../src/config.js';
import { buildServices } from '../../src/main.js';
import { silentLogger } from '../../src/log.js';

export const TOKEN = 'test-admin-token-0123456789abcdef';

export interface StackOptions {
  baseUrl?: string;
  defaultProfile?: string;
  assetRoot?: string;
  loaderRoot?: string;
  now?: () => number;
  secureCookies?: boolean;
  /** No --admin-token: the token lives (as a hash) in the database, as after `chainboot token --rotate`. */
  storedToken?: boolean;
}

export function makeStack(opts: StackOptions = {}) {
  const argv = ['--asset-root', opts.assetRoot ?? '/nonexistent', '--loader-root', opts.loaderRoot ?? '/nonexistent'];
  if (!opts.storedToken) argv.push('--admin-token', TOKEN);
  if (opts.secureCookies) argv.push('--ui-secure-cookies', 'on');
  if (opts.defaultProfile) argv.push('--default-profile', opts.defaultProfile);
  const cfg = loadConfig({ argv });
  const baseUrl = opts.baseUrl ?? 'http://10.0.0.5:8080';
  // Events are flushed by the tests when they read them, not by a timer.
  const s = buildServices(cfg, silentLogger, { dbFile: ':memory:', baseUrl, now: opts.now, eventIntervalMs: 10_000 });
  // The task token key is fixed so tests can compare tokens between runs.
  s.store.setSetting('task_token_key', 'test-task-key');
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
  return { ...s, api };
}
