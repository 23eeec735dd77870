/**
 * The shipped templates, rendered through the real boot service over a real
 * database, compared whole with golden files and checked for the structure
 * their readers (iPXE, pxelinux, Anaconda, debian-installer, cloud-init,
 * cmd.exe, diskpart, Windows setup) expect.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { Eta } from 'eta';
import { DEFAULT_FILES, type Rendered } from '../../src/boot/service.js';
import { PROFILE_KINDS } from '../../src/db/schema.js';
import { ESCAPERS, Safe, targetFor } from '../../src/render/escape.js';
import { buildContext } from '../../src/render/context.js';
import { BASE_URL, HOSTS, TEMPLATES_DIR, makeSite, type HostName, type Site } from '../helpers/render-fixtures.js';
import { ipxeCommands, lintFor, preseedEntries } from '../helpers/render-lint.js';

let site: Site;
beforeAll(() => {
  site = makeSite();
});

const SHIPPED = [
  'autoinstall/meta-data.yaml',
  'autoinstall/user-data.yaml',
  'ipxe/boot.ipxe',
  'ipxe/chain.ipxe',
  'ipxe/host-menu.ipxe',
  'ipxe/linux.ipxe',
  'ipxe/local.ipxe',
  'ipxe/memdisk-iso.ipxe',
  'ipxe/menu.ipxe',
  'ipxe/pxelinux.ipxe',
  'ipxe/wimboot.ipxe',
  'kickstart/rhel.cfg',
  'preseed/debian.cfg',
  'pxelinux/linux.cfg',
  'pxelinux/local.cfg',
  'pxelinux/memdisk-iso.cfg',
  'pxelinux/pxelinux.cfg',
  'winpe/autorun.bat',
  'winpe/diskpart.txt',
  'winpe/startnet.cmd',
  'winpe/unattend.xml',
];

describe('the shipped set', () => {
  it('is exactly the templates the boot service asks for', () => {
    expect(site.engine.shippedNames()).toEqual(SHIPPED);
    for (const kind of PROFILE_KINDS) expect(SHIPPED).toContain(`ipxe/${kind}.ipxe`);
    for (const template of Object.values(DEFAULT_FILES)) expect(SHIPPED).toContain(template);
    for (const kind of ['linux', 'pxelinux', 'memdisk-iso', 'local']) expect(SHIPPED).toContain(`pxelinux/${kind}.cfg`);
  });

  it.each(SHIPPED)('%s compiles', (name) => {
    const body = site.engine.shippedBody(name);
    expect(body).not.toBeNull();
    expect(() => site.engine.check(name, body!)).not.toThrow();
  });
});

/**
 * The layout rules in templates/README.md: logic leaves nothing behind, so
 * the output is the same whether or not the engine also drops the newline
 * after a logic tag itself.
 */
function layoutProblems(source: string): string[] {
  const problems: string[] = [];
  const lines = source.split('\n');
  const tag = /<%([=~]?)([\s\S]*?)%>/g;
  let inBlock = false;
  lines.forEach((line, i) => {
    const where = `line ${i + 1}`;
    const nextIsEmpty = i + 1 < lines.length - 1 && lines[i + 1] === '';
    if (inBlock) {
      if (line.includes('%>')) {
        inBlock = false;
        if (!line.trimEnd().endsWith('-%>')) problems.push(`${where}: a multi-line logic tag ends without -%>`);
        if (nextIsEmpty) problems.push(`${where}: an empty line follows a logic tag`);
      } else if (/^\s*\/\//.test(line)) problems.push(`${where}: a // comment inside a tag (use /* */)`);
      return;
    }
    if (line.lastIndexOf('<%') > line.lastIndexOf('%>')) {
      inBlock = true;
      if (!line.startsWith('<%')) problems.push(`${where}: a multi-line tag does not start in the first column`);
      return;
    }
    const tags = [...line.matchAll(tag)];
    if (tags.length === 0) return;
    const rest = line.replace(tag, '');
    const hasLogic = tags.some((t) => t[1] === '');
    if (hasLogic && rest.trim() === '') {
      if (rest !== '') problems.push(`${where}: a logic line is indented`);
      if (!line.endsWith('-%>')) problems.push(`${where}: a logic line does not end with -%>`);
      if (nextIsEmpty) problems.push(`${where}: an empty line follows a logic line`);
    } else if (line.endsWith('%>') && tags[tags.length - 1]![1] === '') {
      problems.push(`${where}: a line of output ends with a logic tag`);
    }
    for (const t of tags) if (t[2]!.replace(/(['"`]).*?\1/g, '').includes('//')) problems.push(`${where}: a // comment inside a tag`);
  });
  return problems;
}

describe('template layout', () => {
  it.each(SHIPPED)('%s follows the line-end rules', (name) => {
    expect(layoutProblems(readFileSync(join(TEMPLATES_DIR, `${name}.eta`), 'utf8'))).toEqual([]);
  });

  it('the rules catch what they are meant to catch', () => {
    expect(layoutProblems('a\n<% if (x) { %>\nb\n<% } -%>\n\nc\n')).toEqual(['line 2: a logic line does not end with -%>', 'line 4: an empty line follows a logic line']);
    expect(layoutProblems('x <% if (a) { %>y<% } %>\n  <% } -%>\n')).toEqual(['line 1: a line of output ends with a logic tag', 'line 2: a logic line is indented']);
  });
});

// ---- golden files ------------------------------------------------------

type Case = [golden: string, render: () => Promise<Rendered>, template: string, host?: HostName];

const scriptCases: Case[] = [
  ['ipxe/web01-linux-debian.ipxe', () => site.script('web01'), 'ipxe/linux.ipxe', 'web01'],
  ['ipxe/db01-linux-rocky.ipxe', () => site.script('db01'), 'ipxe/linux.ipxe', 'db01'],
  ['ipxe/app01-linux-ubuntu.ipxe', () => site.script('app01'), 'ipxe/linux.ipxe', 'app01'],
  ['ipxe/win01-wimboot.ipxe', () => site.script('win01'), 'ipxe/wimboot.ipxe', 'win01'],
  ['ipxe/tools01-pxelinux.ipxe', () => site.script('tools01'), 'ipxe/pxelinux.ipxe', 'tools01'],
  ['ipxe/iso01-memdisk-iso.ipxe', () => site.script('iso01'), 'ipxe/memdisk-iso.ipxe', 'iso01'],
  ['ipxe/lab01-chain.ipxe', () => site.script('lab01'), 'ipxe/chain.ipxe', 'lab01'],
  ['ipxe/desk01-local-sanboot.ipxe', () => site.script('desk01'), 'ipxe/local.ipxe', 'desk01'],
  ['ipxe/desk02-local-exit.ipxe', () => site.script('desk02'), 'ipxe/local.ipxe', 'desk02'],
  ['ipxe/bare01-no-profile.ipxe', () => site.script('bare01'), 'ipxe/local.ipxe', 'bare01'],
  ['ipxe/pick01-menu.ipxe', () => site.script('pick01'), 'ipxe/menu.ipxe', 'pick01'],
  ['ipxe/pick01-chose-debian12.ipxe', () => site.script('pick01', 'debian12'), 'ipxe/linux.ipxe'],
  ['ipxe/boot.ipxe', () => site.service.entry(), 'ipxe/boot.ipxe'],
];

const pxelinuxCases: Case[] = [
  ['pxelinux/web01-linux.cfg', () => site.pxelinux('web01'), 'pxelinux/linux.cfg', 'web01'],
  ['pxelinux/tools01-pxelinux.cfg', () => site.pxelinux('tools01'), 'pxelinux/pxelinux.cfg', 'tools01'],
  ['pxelinux/iso01-memdisk-iso.cfg', () => site.pxelinux('iso01'), 'pxelinux/memdisk-iso.cfg', 'iso01'],
  ['pxelinux/bare01-local.cfg', () => site.pxelinux('bare01'), 'pxelinux/local.cfg', 'bare01'],
  ['pxelinux/win01-local.cfg', () => site.pxelinux('win01'), 'pxelinux/local.cfg', 'win01'],
];

const fileCase = (host: HostName, file: string): Case => [`files/${host}/${file}`, () => site.file(host, file), DEFAULT_FILES[file]!, host];
const fileCases: Case[] = [
  ...Object.keys(DEFAULT_FILES).map((f) => fileCase('bare01', f)),
  fileCase('web01', 'preseed.cfg'),
  fileCase('db01', 'ks.cfg'),
  fileCase('app01', 'user-data'),
  fileCase('app01', 'meta-data'),
  ...['autorun.bat', 'startnet.cmd', 'diskpart.txt', 'unattend.xml'].map((f) => fileCase('win01', f)),
  fileCase('win02', 'autorun.bat'),
  fileCase('win02', 'diskpart.txt'),
];

describe.each([
  ['iPXE scripts', scriptCases],
  ['pxelinux configs', pxelinuxCases],
  ['per-host files', fileCases],
])('%s', (_, cases) => {
  it.each(cases)('%s', async (golden, render, template) => {
    const r = await render();
    expect(r.body.startsWith('chainboot: cannot render') ? r.body : r.status).toBe(200);
    expect(r.template).toBe(template);
    expect(lintFor(template, r.body)).toEqual([]);
    await expect(r.body).toMatchFileSnapshot(`./golden/${golden}`);
  });
});

describe('what the golden files rest on', () => {
  it('a Linux kernel line names each initrd, and each initrd is loaded under that name', async () => {
    const body = (await site.script('web01')).body;
    const kernel = body.split('\n').find((l) => l.startsWith('kernel '))!;
    expect(kernel.split(' ').filter((w) => w.startsWith('initrd='))).toEqual(['initrd=initrd.gz', 'initrd=firmware.cpio.gz']);
    expect(body).toContain(`initrd --name initrd.gz ${BASE_URL}/assets/debian12/initrd.gz || goto failed\n`);
    expect(body).toContain(`initrd --name firmware.cpio.gz ${BASE_URL}/assets/debian12/firmware.cpio.gz || goto failed\n`);
    // imgfree comes before anything is fetched, boot after everything.
    const order = body.split('\n').map((l) => l.split(' ')[0]).filter((w) => ['imgfree', 'kernel', 'initrd', 'boot'].includes(w!));
    expect(order).toEqual(['imgfree', 'kernel', 'initrd', 'initrd', 'boot']);
  });

  it('the profile command line is rendered for the host', async () => {
    expect((await site.script('web01')).body).toContain(`url=${BASE_URL}/hosts/52-54-00-00-00-01/preseed.cfg hostname=web01 domain=lab.example console=ttyS0 || goto failed`);
    expect((await site.pxelinux('web01')).body).toContain(`  APPEND auto=true priority=critical url=${BASE_URL}/hosts/52-54-00-00-00-01/preseed.cfg hostname=web01 domain=lab.example console=ttyS0\n`);
  });

  it('wimboot gets every file under its own name, twice', async () => {
    const lines = (await site.script('win01')).body.split('\n').filter((l) => l.startsWith('initrd '));
    expect(lines.map((l) => ipxeCommands(l)[0]!.argv)).toEqual([
      ['initrd', '--name', 'BCD', `${BASE_URL}/assets/win11/boot/bcd`, 'BCD'],
      ['initrd', '--name', 'boot.sdi', `${BASE_URL}/assets/win11/boot/boot.sdi`, 'boot.sdi'],
      ['initrd', '--name', 'boot.wim', `${BASE_URL}/assets/win11/sources/boot.wim`, 'boot.wim'],
      ['initrd', '--name', 'startnet.cmd', `${BASE_URL}/hosts/52-54-00-00-00-04/startnet.cmd`, 'startnet.cmd'],
      ['initrd', '--name', 'autorun.bat', `${BASE_URL}/hosts/52-54-00-00-00-04/autorun.bat`, 'autorun.bat'],
      ['initrd', '--name', 'diskpart.txt', `${BASE_URL}/hosts/52-54-00-00-00-04/diskpart.txt`, 'diskpart.txt'],
    ]);
  });

  it('the menu offers each entry and local boot, and comes back with the choice', async () => {
    const body = (await site.script('pick01')).body;
    expect(body.split('\n').filter((l) => l.startsWith('item '))).toEqual([
      'item debian12 Debian 12 installer',
      'item rocky9 Rocky Linux 9 installer',
      'item ubuntu24 Ubuntu 24.04 autoinstall',
      'item --gap',
      'item _local Boot from the local disk',
    ]);
    expect(body).toContain('choose --default rocky9 --timeout 15000 target || goto local\n');
    expect(body).toContain(`chain --autofree ${BASE_URL}/ipxe?mac=52-54-00-00-00-0a&choice=\${target:uristring} || goto failed\n`);
    // A choice that is not on the menu gets the menu again.
    expect((await site.script('pick01', 'win11')).template).toBe('ipxe/menu.ipxe');
  });

  it('the entry script asks for this machine by MAC and hands back to the firmware on failure', async () => {
    const body = (await site.service.entry()).body;
    const chain = body.split('\n').find((l) => l.startsWith('chain '))!;
    const [cmd, fallback] = ipxeCommands(chain);
    expect(cmd!.argv.slice(0, 2)).toEqual(['chain', '--autofree']);
    const url = new URL(cmd!.argv[2]!);
    expect(`${url.origin}${url.pathname}`).toBe(`${BASE_URL}/ipxe`);
    expect([...url.searchParams.keys()]).toEqual(['mac', 'uuid', 'arch', 'platform', 'serial', 'manufacturer', 'product']);
    expect(url.searchParams.get('mac')).toBe('${netX/mac:hexhyp}');
    expect(fallback!.argv).toEqual(['goto', 'failed']);
    expect(body.slice(body.indexOf('\n:failed\n'))).toMatch(/\necho chainboot: [^\n]+\n[\s\S]*\nexit 1\n$/);
  });

  it('debconf values are written bare, as debconf reads them', async () => {
    const entries = preseedEntries((await site.file('web01', 'preseed.cfg')).body);
    const value = (q: string) => entries.find((e) => e.question === q)?.value;
    expect(value('passwd/root-password-crypted')).toBe(HOSTS.web01.variables.root_password_hash);
    expect(value('netcfg/get_hostname')).toBe('web01');
    expect(value('partman-auto/disk')).toBe('/dev/sda');
  });

  it('the XML carries the password as written, escaped for XML only', async () => {
    const body = (await site.file('win01', 'unattend.xml')).body;
    expect(body).toContain('<Value>Pa&#60;ss&#62;&#38;&#34;word&#39;</Value>');
    expect(body).toContain('<ComputerName>win01</ComputerName>');
  });

  it('batch files are CRLF throughout', async () => {
    for (const f of ['autorun.bat', 'startnet.cmd', 'diskpart.txt']) {
      const body = (await site.file('win01', f)).body;
      expect(body.split('\r\n').every((l) => !l.includes('\n'))).toBe(true);
      expect(body.endsWith('\r\n')).toBe(true);
    }
  });

  it('a Windows computer name longer than 15 characters is refused, naming it', async () => {
    site.store.updateHost(HOSTS.win02.mac, { hostname: 'averyveryverylongname.lab.example' });
    try {
      const r = await site.file('win02', 'unattend.xml');
      expect(r.status).toBe(500);
      expect(r.body).toContain('"averyveryverylongname.lab.example" is too long for a Windows computer name');
    } finally {
      site.store.updateHost(HOSTS.win02.mac, { hostname: HOSTS.win02.hostname });
    }
  });
});

// ---- independent of the engine's own newline handling ------------------

/**
 * The engine means to drop the newline after a logic tag (<% %>) by itself;
 * the templates close every logic line with -%> so that it does not matter.
 * Rendering with a plain eta that never trims (autoTrim: false, no plugin)
 * must give the same text as the engine does.
 */
describe('rendered the same without the engine newline rule', () => {
  const plain = new Map<string, Eta>();
  const plainEta = (name: string) => {
    const target = targetFor(name);
    if (!plain.has(target)) plain.set(target, new Eta({ autoEscape: true, escapeFunction: ESCAPERS[target], autoTrim: false, useWith: false, varName: 'it', cache: false }));
    return plain.get(target)!;
  };

  it.each([...scriptCases, ...pxelinuxCases, ...fileCases].filter((c) => c[3] !== undefined))('%s', async (_, render, template, hostName) => {
    const r = await render();
    const mac = HOSTS[hostName!].mac;
    const { host, profile } = site.store.hostAndProfile(mac);
    const target = targetFor(template);
    const menuEntries = profile?.kind === 'menu' ? ((profile.options.entries as string[]) ?? []).map((n) => site.store.getProfile(n)!) : undefined;
    const ctx = buildContext({ baseUrl: BASE_URL, mac, host, profile, client: {}, menuEntries });
    if (ctx.profile?.cmdline) ctx.profile.cmdline = new Safe(site.engine.renderInline(target, ctx.profile.cmdline, ctx)) as unknown as string;
    let body = plainEta(template).renderString(site.engine.shippedBody(template)!, ctx);
    if (target === 'batch') body = body.replace(/\r?\n/g, '\r\n');
    expect(body).toBe(r.body);
  });
});
