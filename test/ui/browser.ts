/**
 * What the Chromium tests share: the service's app on a loopback socket, and
 * Debian's Chromium driven headless by playwright-core, collecting the
 * script errors and CSP violations a page causes (none are expected) and
 * accepting confirmation dialogs (delete, cancel, restore) while noting what
 * they asked.
 *
 * Chromium comes from scripts/install-ui-test-deps.sh (run as root). Without
 * it the tests fail, saying so; they are not skipped.
 */
import { serve, type ServerType } from '@hono/node-server';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { uiStack, type UiStack } from './helpers.js';

export const CHROMIUM = '/usr/bin/chromium';
/** Screenshots go here (kept out of git). */
export const OUT = join(import.meta.dirname, 'output');
export const WAIT = 15_000;

export interface UiServer {
  base: string;
  s: UiStack;
  close(): Promise<void>;
}

/** The UI stack listening on 127.0.0.1 at an ephemeral port, its base URL known to the boot service. */
export async function startUiServer(): Promise<UiServer> {
  // The boot service must know its own base URL before it renders a script, so listen first.
  let handler: ((req: Request, env: unknown) => Response | Promise<Response>) | null = null;
  let server: ServerType | undefined;
  const port = await new Promise<number>((resolve) => {
    server = serve({ fetch: (req, env) => (handler ? handler(req, env) : new Response('starting', { status: 503 })), hostname: '127.0.0.1', port: 0 }, (info: AddressInfo) => resolve(info.port));
  });
  const base = `http://127.0.0.1:${port}`;
  const s = await uiStack({ baseUrl: base });
  handler = (req, env) => s.web.fetch(req, env as never);
  return {
    base,
    s,
    async close() {
      await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
      await s.events.close();
      await s.close();
    },
  };
}

export interface Browser {
  context: BrowserContext;
  page: Page;
  /** Script errors and CSP violations the pages caused. */
  pageErrors: string[];
  /** The messages of the confirmation dialogs accepted so far. */
  dialogs: string[];
  shot(name: string, p?: Page): Promise<void>;
  close(): Promise<void>;
}

/** Chromium with a fresh profile, or the reason it could not start (for the tests to throw). */
export async function launchBrowser(): Promise<Browser | Error> {
  mkdirSync(OUT, { recursive: true });
  if (!existsSync(CHROMIUM)) return new Error(`${CHROMIUM} is missing: run "sudo scripts/install-ui-test-deps.sh" (apt-get install chromium) first`);
  const profileDir = mkdtempSync(join(tmpdir(), 'chainboot-ui-chromium-'));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profileDir, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1280, height: 800 },
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  } catch (e) {
    rmSync(profileDir, { recursive: true, force: true });
    return new Error(`Chromium at ${CHROMIUM} did not start: ${(e as Error).message}`);
  }
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(WAIT);
  const pageErrors: string[] = [];
  const dialogs: string[] = [];
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    void d.accept();
  });
  page.on('pageerror', (e) => pageErrors.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    // Forms answered with their errors (wrong token 401, invalid input 400, stale edit 409) are meant; anything else is a fault.
    if (m.type() === 'error' && !/Failed to load resource: the server responded with a status of (400|401|409)\b/.test(m.text())) pageErrors.push(`console: ${m.text()} (${m.location().url})`);
  });
  return {
    context,
    page,
    pageErrors,
    dialogs,
    shot: async (name, p = page) => {
      await p.screenshot({ path: join(OUT, `${name}.png`), fullPage: true });
    },
    async close() {
      await context.close();
      rmSync(profileDir, { recursive: true, force: true });
    },
  };
}
