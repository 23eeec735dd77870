/** @jsxImportSource hono/jsx */
/**
 * The admin UI as a Hono sub-app, mounted at /ui: sign-in with the admin
 * token, a session cookie (HttpOnly, SameSite=Strict, Secure over https), a
 * per-session CSRF token checked on every POST, and the pages.
 */
import { Hono } from 'hono';
import { html } from 'hono/html';
import { bodyLimit } from 'hono/body-limit';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { HTTPException } from 'hono/http-exception';
import type { Context } from 'hono';
import { tokenHash } from '../http/routes/api.js';
import { clientIp } from '../http/client-ip.js';
import { ConflictError, InvalidInputError, NotFoundError } from '../errors.js';
import type { Ui, UiContext, UiDeps, UiEnv } from './context.js';
import { field, safeReturn } from './context.js';
import { createLoginLimiter, createSessionStore, LOGIN_COOKIE, randomToken, sameSecret, SESSION_COOKIE, type Session } from './session.js';
import { STATIC_FILES } from './static.js';
import { Csrf, Layout } from './views/components.js';
import { dashboardRoutes } from './pages/dashboard.js';
import { hostRoutes } from './pages/hosts.js';
import { profileRoutes } from './pages/profiles.js';
import { templateRoutes } from './pages/templates.js';
import { taskRoutes } from './pages/tasks.js';
import { activityRoutes } from './pages/activity.js';
import { siteRoutes } from './pages/sites.js';

const SECURITY_HEADERS: Record<string, string> = {
  // Everything is served from here: no inline script or style, no frames, forms post only back here.
  'Content-Security-Policy': "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'",
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'same-origin',
};

function secure(ui: Ui, c: Context): boolean {
  return !!ui.secureCookies || new URL(c.req.url).protocol === 'https:';
}

/** Requests the page's script makes (fragments, previews) say so; they get a status, not a redirect. */
function isFetch(c: Context): boolean {
  return c.req.header('x-requested-with') === 'fetch';
}

/** A cross-site request in a browser that tells: refused before the token is even looked at. */
function crossSite(c: Context): boolean {
  const site = c.req.header('sec-fetch-site');
  if (site && site !== 'same-origin' && site !== 'none') return true;
  const origin = c.req.header('origin');
  if (origin === undefined) return false;
  try {
    return new URL(origin).host !== new URL(c.req.url).host;
  } catch {
    return true; // "null" and other opaque origins
  }
}

const LoginPage = (p: { ui: Ui; csrf: string; next: string; error?: string; notice?: string }) => (
  <Layout title="Sign in" section="login" base={p.ui.base} bare>
    {p.notice ? (
      <p class="flash ok" role="status">
        {p.notice}
      </p>
    ) : null}
    <form method="post" action={`${p.ui.base}/login`} class="stack narrow" novalidate>
      <Csrf token={p.csrf} />
      <input type="hidden" name="next" value={p.next} />
      <div class={`field${p.error ? ' has-error' : ''}`}>
        <label for="token">Admin token</label>
        <input id="token" name="token" type="password" autocomplete="current-password" required autofocus aria-invalid={p.error ? 'true' : undefined} aria-describedby={p.error ? 'token-error token-hint' : 'token-hint'} />
        <p class="hint" id="token-hint">
          The token chainboot printed on its first start (or --admin-token); <code>chainboot token --rotate</code> makes a new one.
        </p>
        {p.error ? (
          <p class="field-error" id="token-error" role="alert">
            {p.error}
          </p>
        ) : null}
      </div>
      <div class="actions">
        <button type="submit">Sign in</button>
      </div>
    </form>
  </Layout>
);

export function uiRoutes(deps: UiDeps): Hono<UiEnv> {
  const base = (deps.base ?? '/ui').replace(/\/+$/, '');
  const now = deps.now ?? Date.now;
  const ui: Ui = { ...deps, base, now, sessions: createSessionStore({ now }), q: deps.queries };
  // Followed, not copied: a reload (SIGHUP) may change the default profile.
  Object.defineProperty(ui, 'defaultProfile', { get: () => deps.defaultProfile, enumerable: true });
  const limiter = createLoginLimiter(10, 60_000, now);
  const app = new Hono<UiEnv>();

  app.use('*', async (c, next) => {
    await next();
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) c.res.headers.set(k, v);
    if (!c.res.headers.has('Cache-Control')) c.res.headers.set('Cache-Control', 'no-store');
  });
  // Before sign-in only the sign-in form can be posted: a small limit, so a
  // stranger cannot make the server buffer megabytes. Signed in, imports may
  // be large; nothing else comes near that.
  const tooLarge = (limit: string) => (c: Context) => c.text(`request body too large (limit ${limit})\n`, 413);
  const smallBody = bodyLimit({ maxSize: 64 * 1024, onError: tooLarge('64 KiB before sign-in') });
  const largeBody = bodyLimit({ maxSize: 17 * 1024 * 1024, onError: tooLarge('17 MiB') });
  app.use('*', async (c, next) => (ui.sessions.get(getCookie(c, SESSION_COOKIE), await deps.tokenSha256()) ? largeBody : smallBody)(c, next));

  // ---- static files (no session needed) -------------------------------------
  app.get('/static/:file', (c) => {
    const f = STATIC_FILES[c.req.param('file')];
    if (!f) return c.text('not found\n', 404);
    if (c.req.header('if-none-match') === f.etag) return c.body(null, 304, { ETag: f.etag, 'Cache-Control': 'no-cache' });
    return c.body(f.body, 200, { 'Content-Type': f.type, ETag: f.etag, 'Cache-Control': 'no-cache' });
  });

  // ---- sign-in ---------------------------------------------------------------
  const loginForm = (c: Context, status: 200 | 400 | 401 | 403 | 429, opts: { next?: string; error?: string; notice?: string } = {}) => {
    // Before there is a session, the form's CSRF token is a double-submit cookie.
    let token = getCookie(c, LOGIN_COOKIE);
    if (!token || token.length > 100) {
      token = randomToken();
      setCookie(c, LOGIN_COOKIE, token, { path: base, httpOnly: true, sameSite: 'Strict', secure: secure(ui, c), maxAge: 3600 });
    }
    const next = safeReturn(base, opts.next ?? c.req.query('next'), `${base}/`);
    return c.html(html`<!doctype html>${(<LoginPage ui={ui} csrf={token} next={next} error={opts.error} notice={opts.notice} />)}`, status);
  };

  app.get('/login', (c) => loginForm(c, 200, { notice: c.req.query('signed-out') === '1' ? 'You are signed out.' : undefined }));

  app.post('/login', async (c) => {
    const body = await c.req.parseBody();
    const next = field(body, 'next');
    const cookie = getCookie(c, LOGIN_COOKIE);
    const sent = field(body, '_csrf');
    if (crossSite(c) || !cookie || !sent || !sameSecret(cookie, sent)) return loginForm(c, 403, { next, error: 'The sign-in form expired; try again.' });
    const ip = clientIp(c) ?? 'local';
    if (limiter.blocked(ip)) return loginForm(c, 429, { next, error: 'Too many failed sign-ins from this address; wait a minute.' });
    const token = field(body, 'token').trim();
    const current = await deps.tokenSha256();
    if (!token || !sameSecret(tokenHash(token), current)) {
      limiter.failed(ip);
      deps.log.warn({ ip }, 'admin UI: failed sign-in');
      return loginForm(c, 401, { next, error: token ? 'That is not the admin token.' : 'Enter the admin token.' });
    }
    limiter.succeeded(ip);
    // Always a new session id on sign-in (no fixation).
    const { id } = ui.sessions.create(current);
    setCookie(c, SESSION_COOKIE, id, { path: base, httpOnly: true, sameSite: 'Strict', secure: secure(ui, c) });
    deleteCookie(c, LOGIN_COOKIE, { path: base, secure: secure(ui, c) });
    deps.log.info({ ip }, 'admin UI: signed in');
    return c.redirect(safeReturn(base, next, `${base}/`), 303);
  });

  // ---- everything else needs a session; every POST its CSRF token ----------
  app.use('*', async (c, next) => {
    const session: Session | undefined = ui.sessions.get(getCookie(c, SESSION_COOKIE), await deps.tokenSha256());
    if (!session) {
      if (c.req.method === 'GET' && !isFetch(c)) {
        const url = new URL(c.req.url);
        return c.redirect(`${base}/login?next=${encodeURIComponent(url.pathname + url.search)}`, 303);
      }
      return c.text('sign in first\n', 401);
    }
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD') {
      let token = c.req.header('x-csrf-token');
      if (!token) {
        const type = c.req.header('content-type') ?? '';
        if (type.startsWith('application/x-www-form-urlencoded') || type.startsWith('multipart/form-data')) token = field(await c.req.parseBody({ all: true }), '_csrf');
      }
      if (crossSite(c) || !token || !sameSecret(token, session.csrf)) {
        deps.log.warn({ path: c.req.path }, 'admin UI: POST without a valid CSRF token refused');
        return c.text('refused: this form did not come from a chainboot page of your session (missing or wrong CSRF token); reload the page and try again\n', 403);
      }
    }
    c.set('session', session);
    c.set('ui', { base, session, csrf: session.csrf, path: c.req.path });
    await next();
  });

  app.post('/logout', (c) => {
    ui.sessions.destroy(c.get('session'));
    deleteCookie(c, SESSION_COOKIE, { path: base, secure: secure(ui, c) });
    return c.redirect(`${base}/login?signed-out=1`, 303);
  });

  const dashboard = dashboardRoutes(app, ui);
  hostRoutes(app, ui);
  profileRoutes(app, ui);
  siteRoutes(app, ui);
  templateRoutes(app, ui);
  taskRoutes(app, ui);
  activityRoutes(app, ui);

  app.all('*', (c) => (c.req.method === 'GET' && c.req.path === `${base}/` ? dashboard(c as UiContext) : errorPage(c as UiContext, ui, 404, `No page at ${c.req.path}.`)));

  app.onError((err, c) => {
    const ctx = c as UiContext;
    if (err instanceof NotFoundError) return errorPage(ctx, ui, 404, err.message);
    if (err instanceof InvalidInputError) return errorPage(ctx, ui, 400, err.message);
    if (err instanceof ConflictError) return errorPage(ctx, ui, 409, err.message);
    if (err instanceof HTTPException) return err.getResponse();
    deps.log.error({ err, path: c.req.path, method: c.req.method }, 'admin UI request failed');
    return errorPage(ctx, ui, 500, 'Something went wrong on the server (it is in the log).');
  });

  return app;
}

function errorPage(c: UiContext, ui: Ui, status: 400 | 404 | 409 | 500, message: string) {
  if (isFetch(c)) return c.text(message + '\n', status);
  const s = c.get('session') as Session | undefined;
  return c.html(
    html`<!doctype html>${(
      <Layout title={status === 404 ? 'Not found' : status === 500 ? 'Server error' : 'Cannot do that'} section="none" base={ui.base} csrf={s?.csrf} bare={!s}>
        <p class="flash error" role="alert">
          {message}
        </p>
        <p>
          <a href={`${ui.base}/`}>Back to the dashboard</a>
        </p>
      </Layout>
    )}`,
    status,
  );
}
