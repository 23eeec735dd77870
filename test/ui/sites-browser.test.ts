/**
 * The Sites page in Chromium: add a site through the form, edit it (a bad
 * subnet is refused beside its field and nothing is saved), find it with the
 * address lookup, and delete it behind its confirmation. Every wait is on a
 * condition in the page; screenshots go to test/ui/output/.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { TOKEN } from './helpers.js';
import { launchBrowser, startUiServer, type Browser, type UiServer } from './browser.js';

let server: UiServer;
let browser: Browser | Error;

beforeAll(async () => {
  server = await startUiServer();
  await server.s.admin.addProfile({ name: 'rocky-9', kind: 'linux', kernel: 'rocky9/vmlinuz', initrds: ['rocky9/initrd.img'] });
  browser = await launchBrowser();
}, 60_000);

afterAll(async () => {
  if (browser && !(browser instanceof Error)) await browser.close();
  await server?.close();
});

function open(): Browser {
  if (browser instanceof Error) throw browser;
  return browser;
}

async function submit(page: Page, button: string): Promise<void> {
  await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: button }).click()]);
}

describe('Sites page in Chromium', () => {
  it('creates a site, refuses a bad edit beside its field, saves a good one, finds it by address and deletes it', async () => {
    const b = open();
    const { page } = b;
    const { base, s } = server;

    await page.goto(`${base}/ui/sites`);
    await page.waitForURL(/\/ui\/login/);
    await page.getByLabel('Admin token').fill(TOKEN);
    await submit(page, 'Sign in');
    await page.getByRole('heading', { level: 1, name: 'Sites' }).waitFor();
    expect(await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Sites' }).getAttribute('aria-current')).toBe('page');

    // Add, with every kind of field.
    await page.getByRole('link', { name: 'Add site' }).click();
    await page.getByRole('heading', { level: 1, name: 'Add site' }).waitFor();
    await page.getByLabel('Name', { exact: true }).fill('branch-a');
    await page.getByLabel('Description').fill('Branch office A');
    await page.getByLabel('Subnets').fill('10.20.0.0/16\n10.21.0.0/16');
    await page.getByLabel('Relays').fill('10.20.0.1');
    await page.getByLabel('Asset base URL').fill('http://cache.branch-a.example/assets');
    await page.getByLabel('efi64 (x64 UEFI)').fill('snponly.efi');
    await page.getByLabel('Default profile').selectOption('rocky-9');
    await page.getByLabel('PXE menu').selectOption('onkey');
    await submit(page, 'Add site');
    await page.getByText('Site "branch-a" added.').waitFor();
    expect(await s.sites.admin.get('branch-a')).toMatchObject({
      subnets: ['10.20.0.0/16', '10.21.0.0/16'],
      relays: ['10.20.0.1'],
      assetBaseUrl: 'http://cache.branch-a.example/assets',
      loaders: { efi64: 'snponly.efi' },
      defaultProfile: 'rocky-9',
      menuDisplay: 'onkey',
      version: 1,
    });

    // A subnet with host bits set: refused beside the field, what was typed kept, nothing saved.
    await page.getByLabel('Subnets').fill('10.20.0.0/16\n10.21.3.7/16');
    await page.getByLabel('Description').fill('Branch office A, second floor');
    await submit(page, 'Save site');
    const err = page.locator('#subnets-error');
    await err.waitFor();
    expect(await err.textContent()).toBe('10.21.3.7/16 has host bits set (did you mean 10.21.0.0/16?)');
    expect(await page.getByLabel('Subnets').getAttribute('aria-invalid')).toBe('true');
    expect(await page.getByLabel('Subnets').inputValue()).toBe('10.20.0.0/16\n10.21.3.7/16');
    expect(await page.getByLabel('Description').inputValue()).toBe('Branch office A, second floor');
    expect(await s.sites.admin.get('branch-a')).toMatchObject({ description: 'Branch office A', subnets: ['10.20.0.0/16', '10.21.0.0/16'], version: 1 });
    await b.shot('sites-1-edit-refused');

    await page.getByLabel('Subnets').fill('10.20.0.0/16, 10.21.0.0/16');
    await page.getByLabel('Default profile').selectOption('-');
    await submit(page, 'Save site');
    await page.getByText('Site "branch-a" saved (version 2).').waitFor();
    expect(await s.sites.admin.get('branch-a')).toMatchObject({ description: 'Branch office A, second floor', defaultProfile: '-', version: 2 });

    // The list and the lookup.
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Sites' }).click();
    const row = page.locator('tr[data-site="branch-a"]');
    await row.waitFor();
    expect(await row.textContent()).toContain('default: local disk');
    await page.getByLabel('Client address').fill('10.21.3.4');
    await submit(page, 'Look up');
    const result = page.locator('#lookup-result');
    await result.waitFor();
    expect(await result.textContent()).toBe('Address 10.21.3.4: site branch-a (matched by client in 10.21.0.0/16)');
    await b.shot('sites-2-list-lookup');

    // At tablet width nothing is wider than the screen (the table scrolls inside its wrapper).
    await page.setViewportSize({ width: 768, height: 1024 });
    const overflow = () => page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    await page.reload();
    await result.waitFor();
    expect(await overflow()).toBeLessThanOrEqual(0);
    await page.goto(`${base}/ui/sites/branch-a/edit`);
    await page.getByLabel('loong64 (LoongArch64 UEFI)').waitFor();
    expect(await overflow()).toBeLessThanOrEqual(0);
    await b.shot('sites-3-edit-tablet');
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.goto(`${base}/ui/sites`);

    // Delete, behind the confirmation.
    await row.getByRole('link', { name: 'branch-a', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: 'Site branch-a' }).waitFor();
    await submit(page, 'Delete site');
    await page.getByText('Site "branch-a" deleted.').waitFor();
    expect(b.dialogs.at(-1)).toMatch(/^Delete site branch-a\?/);
    expect(await s.sites.admin.list()).toEqual([]);
    expect(await page.locator('tr[data-site]').count()).toBe(0);
    await b.shot('sites-4-deleted');

    expect(b.pageErrors).toEqual([]);
  });
});
