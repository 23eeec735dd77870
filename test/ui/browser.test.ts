/**
 * The admin UI in a real browser: Debian's Chromium driven headless by
 * playwright-core, against the UI and the boot service on a loopback socket.
 * Every wait is on a condition in the page (playwright's waits); screenshots
 * of each page go to test/ui/output/ (kept out of git).
 *
 * Chromium comes from scripts/install-ui-test-deps.sh (run as root). Without
 * it these tests fail, saying so; they are not skipped.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import { TOKEN, type UiStack } from './helpers.js';
import { launchBrowser, startUiServer, type Browser, type UiServer } from './browser.js';

const HOST = '52:54:00:12:34:56';
const HOST_PATH = '52-54-00-12-34-56';
const BROKEN_HOST = '52:54:00:aa:bb:cc';

let server: UiServer;
let base: string;
let s: UiStack;
let browser: Browser | undefined;
let context: BrowserContext;
let page: Page;
let launchError: Error | undefined;
/** Script errors and CSP violations the pages caused; none are expected. */
let pageErrors: string[] = [];

async function shot(name: string, p: Page = page): Promise<void> {
  await browser!.shot(name, p);
}

/** A plain HTTP client on loopback, as a booting machine would be. */
async function fetchText(path: string): Promise<{ status: number; text: string }> {
  const res = await fetch(base + path);
  return { status: res.status, text: await res.text() };
}

beforeAll(async () => {
  server = await startUiServer();
  ({ base, s } = server);

  await s.admin.addProfile({ name: 'rocky-9', kind: 'linux', kernel: 'rocky9/vmlinuz', initrds: ['rocky9/initrd.img'], cmdline: 'inst.ks=<%= it.urls.file("ks.cfg") %>', files: { 'ks.cfg': 'kickstart/rhel.cfg' }, description: 'Rocky Linux 9 kickstart' });
  await s.admin.addProfile({ name: 'debian-12', kind: 'linux', kernel: 'debian12/linux', initrds: ['debian12/initrd.gz'], description: 'Debian 12' });
  await s.admin.addProfile({ name: 'local-disk', kind: 'local', description: 'boot the first disk' });

  const b = await launchBrowser();
  if (b instanceof Error) {
    launchError = b;
    return;
  }
  browser = b;
  ({ context, page, pageErrors } = b);
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

function needBrowser(): void {
  if (launchError) throw launchError;
}

describe('admin UI in Chromium', () => {
  it('signs in with the admin token (a wrong one is refused)', async () => {
    needBrowser();
    await page.goto(`${base}/ui/`);
    await page.waitForURL(/\/ui\/login/);
    await page.getByLabel('Admin token').fill('not-the-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#token-error').waitFor();
    expect(await page.locator('#token-error').textContent()).toContain('not the admin token');
    await shot('01-login-refused');

    await page.getByLabel('Admin token').fill(TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { level: 1, name: 'Dashboard' }).waitFor();
    const cookies = await context.cookies(`${base}/ui/`);
    const session = cookies.find((c) => c.name === 'chainboot_session');
    expect(session).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/ui' });
    await shot('02-dashboard');
  });

  it('adds a host: a bad MAC is refused beside the field, a good one is saved', async () => {
    needBrowser();
    await page.goto(`${base}/ui/hosts`);
    await page.getByRole('link', { name: 'Add host' }).click();
    await page.getByLabel('MAC address').fill('52:54:00:zz:34:56');
    await page.getByLabel('Host name').fill('web01');
    await page.getByRole('button', { name: 'Add host' }).click();
    const err = page.locator('#mac-error');
    await err.waitFor();
    expect(await err.textContent()).toContain('not a MAC address');
    expect(await page.getByLabel('MAC address').getAttribute('aria-invalid')).toBe('true');
    // What was typed is kept.
    expect(await page.getByLabel('Host name').inputValue()).toBe('web01');
    await shot('03-host-bad-mac');

    await page.getByLabel('MAC address').fill('52-54-00-12-34-56');
    await page.getByLabel('Standing profile').selectOption('rocky-9');
    await page.getByLabel('Variables').fill('disk=/dev/vda\ntimezone=Europe/Berlin');
    await page.getByRole('button', { name: 'Add host' }).click();
    await page.getByText(`Host ${HOST} added.`).waitFor();
    expect(await s.store.getHost(HOST)).toMatchObject({ hostname: 'web01', profile: 'rocky-9', variables: { disk: '/dev/vda', timezone: 'Europe/Berlin' } });
    await shot('04-host-page');

    await page.goto(`${base}/ui/hosts`);
    await page.locator(`a[href="/ui/hosts/${HOST_PATH}"]`).waitFor();
    await shot('05-hosts');
  });

  it('edits a template and the live preview follows; a broken one shows its line and is not saved', async () => {
    needBrowser();
    await page.goto(`${base}/ui/templates`);
    await page.getByRole('link', { name: 'kickstart/rhel.cfg' }).click();
    await page.getByRole('heading', { level: 1, name: 'Template kickstart/rhel.cfg' }).waitFor();
    await page.getByLabel('Host (MAC or host name)').fill('web01');
    const output = page.locator('#preview pre.output');
    await output.filter({ hasText: '# chainboot: kickstart for web01 (52:54:00:12:34:56)' }).waitFor();
    expect(await output.textContent()).toContain('timezone Europe/Berlin --utc');

    const editor = page.getByLabel('Template text');
    const original = await editor.inputValue();
    const edited = original.replace('# chainboot: kickstart for', '# edited in the browser: kickstart for');
    await editor.fill(edited);
    await output.filter({ hasText: '# edited in the browser: kickstart for web01' }).waitFor();
    await page.locator('#preview-status').filter({ hasText: 'Preview updated' }).waitFor();
    await shot('06-template-preview');

    const brokenLine = edited.split('\n').length + 1;
    await editor.fill(edited + '\n<%= it.nope.bar %>\n');
    const renderError = page.locator('#preview .render-error');
    await renderError.filter({ hasText: `Render error on line ${brokenLine}` }).waitFor();
    expect(await renderError.textContent()).toContain("Cannot read properties of undefined (reading 'bar')");
    await page.locator('.editor .gutter .error-line').filter({ hasText: String(brokenLine) }).waitFor();
    await shot('07-template-render-error');

    await page.getByRole('button', { name: 'Save as new version' }).click();
    await page.locator('#save-error').filter({ hasText: `Not saved: the template does not render (line ${brokenLine})` }).waitFor();
    expect((await s.admin.templateVersions('kickstart/rhel.cfg')).versions).toHaveLength(0);
    await shot('08-template-save-refused');

    // A syntax error (eta gives no line for those) is found on its line too.
    await page.getByLabel('Template text').fill(edited + '\n<% if ( %>\n');
    await renderError.filter({ hasText: 'bad template syntax' }).waitFor();
    expect(await renderError.textContent()).toContain(`Render error on line ${brokenLine}`);

    await page.getByLabel('Template text').fill(edited);
    await output.filter({ hasText: '# edited in the browser' }).waitFor();
    await page.getByLabel('Comment for this version').fill('say where it was edited');
    await page.getByRole('button', { name: 'Save as new version' }).click();
    await page.getByText('Saved kickstart/rhel.cfg as version 1.').waitFor();
    expect((await fetchText(`/hosts/${HOST_PATH}/ks.cfg`)).text).toContain('# edited in the browser: kickstart for web01');

    await page.getByRole('link', { name: 'History and diff' }).click();
    const diff = page.locator('table.diff');
    await diff.waitFor();
    expect(await diff.locator('tr.add').first().textContent()).toContain('# edited in the browser');
    expect(await diff.locator('tr.del').first().textContent()).toContain('# chainboot: kickstart for');
    await shot('09-template-history-diff');

    await page.getByRole('button', { name: 'Restore version 0' }).click();
    await page.getByText('Version 0 of kickstart/rhel.cfg restored as version 2.').waitFor();
    expect((await fetchText(`/hosts/${HOST_PATH}/ks.cfg`)).text).toContain('# chainboot: kickstart for web01');
  });

  it('assigns a task from the host table and shows its state as the callbacks arrive', async () => {
    needBrowser();
    await page.goto(`${base}/ui/hosts`);
    await page.getByLabel('Select web01').check();
    await page.locator('[data-selected-count]').filter({ hasText: '1 selected' }).waitFor();
    await page.locator('#bulk-profile').selectOption('rocky-9');
    await page.getByRole('button', { name: 'Assign task' }).click();
    await page.getByText('Task "rocky-9" assigned to 1 host(s).').waitFor();
    await shot('10-task-assigned');

    const task = (await s.admin.listTasks({ mac: HOST })).tasks[0]!;
    await page.goto(`${base}/ui/tasks`);
    const row = page.locator(`tr[data-task-id="${task.id}"]`);
    await row.filter({ hasText: 'pending' }).waitFor();
    await page.goto(`${base}/ui/tasks/${task.id}`);
    const state = page.locator('[data-task-state]');
    await state.filter({ hasText: 'pending' }).waitFor();

    // The machine boots: its script is served, the installer fetches ks.cfg and calls back.
    const script = await fetchText(`/ipxe?mac=${HOST_PATH}`);
    expect(script.text).toContain('rocky9/vmlinuz');
    await state.filter({ hasText: 'served' }).waitFor();
    const ks = await fetchText(`/hosts/${HOST_PATH}/ks.cfg`);
    const urls = [...ks.text.matchAll(/'(http:\/\/127\.0\.0\.1:\d+\/tasks\/\d+\/(running|done)\?token=[^']+)'/g)].map((m) => ({ url: m[1]!, what: m[2]! }));
    const running = urls.find((u) => u.what === 'running')!.url;
    const done = urls.find((u) => u.what === 'done')!.url;
    expect(running).toContain(`/tasks/${task.id}/running?token=`);

    expect((await fetch(running)).status).toBe(200);
    await state.filter({ hasText: 'running' }).waitFor();
    expect((await fetch(running.replace('/running?', '/progress?') + '&message=' + encodeURIComponent('copying packages 40%'))).status).toBe(200);
    await page.locator('[data-task-message]').filter({ hasText: 'copying packages 40%' }).waitFor();
    await shot('11-task-running');

    expect((await fetch(done)).status).toBe(200);
    await state.filter({ hasText: 'done' }).waitFor();
    await page.locator('ol.history li').filter({ hasText: 'running' }).first().waitFor();
    await shot('12-task-done');

    await page.goto(`${base}/ui/tasks?state=done`);
    await page.locator(`tr[data-task-id="${task.id}"]`).filter({ hasText: 'done' }).waitFor();
    await shot('13-tasks-done');
  });

  it('shows a host timeline, and the step where a boot stopped', async () => {
    needBrowser();
    await page.goto(`${base}/ui/hosts/${HOST_PATH}/timeline`);
    const latest = page.locator('section.boot').first();
    await latest.waitFor();
    expect(await latest.getAttribute('data-outcome')).toBe('completed');
    for (const stage of ['HTTP script', 'Host files', 'Task callbacks']) expect(await latest.locator('.pipeline .stage.ok').filter({ hasText: stage }).count()).toBe(1);
    await shot('14-timeline-completed');

    // A second machine gets its script, then its kernel is missing on the server.
    await s.admin.addHost({ mac: BROKEN_HOST, hostname: 'db01', profile: 'debian-12' });
    expect((await fetchText('/ipxe?mac=52-54-00-aa-bb-cc')).status).toBe(200);
    expect((await fetchText('/assets/debian12/linux')).status).toBe(404);
    await page.goto(`${base}/ui/hosts/52-54-00-aa-bb-cc/timeline`);
    const boot = page.locator('section.boot').first();
    await boot.waitFor();
    expect(await boot.getAttribute('data-outcome')).toBe('failed');
    await boot.locator('.pipeline .stage.failed').filter({ hasText: 'Assets' }).waitFor();
    const here = boot.locator('tr.stopped-here');
    expect(await here.textContent()).toContain('failed here');
    expect(await here.textContent()).toContain('/assets/debian12/linux');
    await shot('15-timeline-failed');
  });

  it('shows boot activity live as machines boot', async () => {
    needBrowser();
    await page.goto(`${base}/ui/activity`);
    await page.locator('#event-rows table').waitFor();
    // A machine nobody registered boots while the page is open: the list refreshes by itself.
    expect((await fetchText('/ipxe?mac=52-54-00-99-99-01')).status).toBe(200);
    await page.locator('#event-rows tr').filter({ hasText: '52:54:00:99:99:01' }).waitFor();
    await page.locator('[data-poll-status="event-rows"]').filter({ hasText: 'Updated' }).waitFor();
    await shot('16-activity');

    await page.goto(`${base}/ui/`);
    await page.locator('[data-stat="booted-today"]').waitFor();
    expect(Number(await page.locator('[data-stat="booted-today"]').textContent())).toBeGreaterThanOrEqual(2);
    expect(Number(await page.locator('[data-stat="failures"]').textContent())).toBeGreaterThanOrEqual(1);
    await shot('17-dashboard-after-boots');
  });

  it('edits a profile with the fields of its kind', async () => {
    needBrowser();
    await page.goto(`${base}/ui/profiles/new`);
    await page.getByLabel('Kind').selectOption('chain');
    // Only the chain fields are shown (and sent).
    await page.getByLabel('URL').waitFor({ state: 'visible' });
    expect(await page.getByLabel('Kernel', { exact: true }).isVisible()).toBe(false);
    await page.getByLabel('Name', { exact: true }).fill('netboot-xyz');
    await page.getByLabel('URL').fill('http://boot.example/menu.ipxe');
    await page.getByRole('button', { name: 'Add profile' }).click();
    await page.getByText('Profile "netboot-xyz" added.').waitFor();
    expect(await s.store.getProfile('netboot-xyz')).toMatchObject({ kind: 'chain', options: { url: 'http://boot.example/menu.ipxe' } });
    await page.goto(`${base}/ui/profiles/rocky-9`);
    await page.getByLabel('Kernel', { exact: true }).waitFor({ state: 'visible' });
    await shot('18-profile-edit');
    await page.goto(`${base}/ui/profiles`);
    await shot('19-profiles');
  });

  it('is usable by keyboard and at tablet width', async () => {
    needBrowser();
    await page.goto(`${base}/ui/hosts`);
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Skip to content');
    await page.keyboard.press('Enter');
    await page.keyboard.press('Tab');
    // The first control after the skip target is the search field.
    expect(await page.evaluate(() => (document.activeElement as HTMLElement | null)?.id)).toBe('q');

    await page.setViewportSize({ width: 768, height: 1024 });
    await page.goto(`${base}/ui/hosts`);
    // Nothing wider than the screen except inside scrollable table wrappers.
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    await shot('20-hosts-tablet');
    if (overflow > 0) console.log(await page.evaluate(() => [...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > window.innerWidth && !e.closest('.table-wrap')).slice(0, 8).map((e) => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))));
    expect(overflow).toBeLessThanOrEqual(0);
    await page.goto(`${base}/ui/templates/edit?name=kickstart/rhel.cfg&mac=${HOST_PATH}`);
    await page.locator('#preview pre.output').waitFor();
    expect(await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)).toBeLessThanOrEqual(0);
    await shot('21-template-tablet');
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  it('ran every page without a script error or a CSP violation', () => {
    needBrowser();
    expect(pageErrors).toEqual([]);
  });

  it('signs out', async () => {
    needBrowser();
    await page.goto(`${base}/ui/`);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByText('You are signed out.').waitFor();
    await page.goto(`${base}/ui/hosts`);
    await page.waitForURL(/\/ui\/login\?next=%2Fui%2Fhosts/);
  });
});
