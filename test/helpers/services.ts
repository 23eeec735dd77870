/**
 * A real service stack over a private in-memory database with the real
 * migrations and the shipped templates.
 */
import { openDb } from '../../src/db/client.js';
import { createStore } from '../../src/db/store.js';
import { createEngine } from '../../src/render/engine.js';
import { createBootService } from '../../src/boot/service.js';
import { createEventLog } from '../../src/boot/events.js';
import { createAdmin } from '../../src/admin.js';
import { createApp } from '../../src/http/app.js';
import { tokenHash } from '../../src/http/routes/api.js';
import { silentLogger } from '../../src/log.js';
import { shippedTemplatesDir } from '../../src/paths.js';
import { createTaskStore } from '../../src/tasks/store.js';

export const TOKEN = 'test-admin-token-0123456789abcdef';

export function makeStack(opts: { baseUrl?: string; defaultProfile?: string; assetRoot?: string; loaderRoot?: string; now?: () => number } = {}) {
  const db = openDb(':memory:');
  const store = createStore(db, opts.now);
  const engine = createEngine({ store, shippedDir: shippedTemplatesDir });
  const events = createEventLog({ store, intervalMs: 10_000 });
  const baseUrl = opts.baseUrl ?? 'http://10.0.0.5:8080';
  const tasks = createTaskStore(db, () => 'test-task-key', opts.now);
  const boot = createBootService({ store, engine, events, baseUrl, defaultProfile: opts.defaultProfile, tasks });
  const admin = createAdmin({ store, engine, tasks });
  const app = createApp({
    boot,
    admin,
    store,
    events,
    tasks,
    log: silentLogger,
    assetRoot: opts.assetRoot ?? '/nonexistent',
    loaderRoot: opts.loaderRoot ?? '/nonexistent',
    tokenSha256: () => tokenHash(TOKEN),
  });
  const api = (path: string, init: RequestInit & { json?: unknown } = {}) => {
    const headers = new Headers(init.headers);
    if (!headers.has('authorization')) headers.set('authorization', `Bearer ${TOKEN}`);
    let body = init.body;
    if (init.json !== undefined) {
      body = JSON.stringify(init.json);
      headers.set('content-type', 'application/json');
    }
    return app.request(`/api/v1${path}`, { ...init, headers, body });
  };
  return { db, store, engine, events, tasks, boot, admin, app, api, baseUrl };
}
