/**
 * The admin UI over a real in-memory stack: the service's own app (boot
 * endpoints, callbacks, API and the UI at /ui, as createApp mounts them),
 * plus a small cookie-keeping client for app.request().
 */
import type { Hono } from 'hono';
import { onTestFinished } from 'vitest';
import { tokenHash } from '../../src/http/routes/api.js';
import { makeStack, TOKEN, type StackOptions } from '../helpers/services.js';

export { TOKEN };

export type UiStack = Awaited<ReturnType<typeof uiStack>>;

/**
 * The service's own app (createApp mounts the UI at /ui), with the admin
 * token set. Made inside a test, it is closed when the test ends; made
 * outside one (beforeAll), the caller closes it.
 */
export async function uiStack(opts: StackOptions = {}) {
  const s = await makeStack(opts);
  if (opts.storedToken) await s.store.setSetting('admin_token_sha256', tokenHash(TOKEN));
  try {
    onTestFinished(() => s.close());
  } catch {
    // Not inside a test.
  }
  return { ...s, web: s.app as Hono };
}

/** A browser-like client for app.request: keeps cookies, finds CSRF tokens in pages. */
export class UiClient {
  readonly cookies = new Map<string, string>();
  csrf = '';
  constructor(
    private readonly app: { request: Hono['request'] },
    readonly origin = 'http://localhost',
  ) {}

  async request(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.cookies.size) headers.set('cookie', [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '));
    const res = await this.app.request(this.origin + path, { ...init, headers, redirect: 'manual' });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq);
      const value = pair!.slice(eq + 1);
      if (value === '' || /max-age=0/i.test(c)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return res;
  }

  /** GET a page; remembers its CSRF token. */
  async get(path: string): Promise<{ status: number; html: string; res: Response }> {
    const res = await this.request(path);
    const html = await res.text();
    const m = /<meta name="csrf-token" content="([^"]+)"/.exec(html);
    if (m) this.csrf = m[1]!;
    return { status: res.status, html, res };
  }

  /** POST a form (with the page's CSRF token unless `_csrf` is given). */
  async post(path: string, form: Record<string, string | string[]>, opts: { csrf?: boolean; headers?: Record<string, string> } = {}): Promise<Response> {
    const body = new URLSearchParams();
    if (opts.csrf !== false && !('_csrf' in form)) body.append('_csrf', this.csrf);
    for (const [k, v] of Object.entries(form)) for (const x of Array.isArray(v) ? v : [v]) body.append(k, x);
    return this.request(path, { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded', ...opts.headers } });
  }

  async signIn(token = TOKEN): Promise<Response> {
    const login = await this.request('/ui/login');
    const html = await login.text();
    const m = /name="_csrf" value="([^"]+)"/.exec(html);
    const res = await this.post('/ui/login', { _csrf: m![1]!, token, next: '/ui/' });
    if (res.status === 303) await this.get('/ui/');
    return res;
  }
}
