/**
 * A small site for the template tests: a real in-memory database with the
 * real migrations, the shipped templates, one profile of every kind and a
 * host for each. Nothing here is random or depends on the clock, so rendered
 * output can be compared with golden files.
 *
 * SQLite only: `store` is the synchronous SQLite store (setup and direct
 * reads stay one-liners); the boot service gets it wrapped as the async store
 * it takes, so `script`, `pxelinux` and `file` return Promises.
 */
import { fileURLToPath } from 'node:url';
import { openDb } from '../../src/db/client.js';
import { createStore, type HostInput } from '../../src/db/store.js';
import { asyncStore } from '../../src/db/backend.js';
import { createEngine } from '../../src/render/engine.js';
import { createBootService } from '../../src/boot/service.js';
import { profileInputSchema } from '../../src/boot/profile.js';

export const FIXED_TIME = Date.UTC(2024, 4, 1, 12, 0, 0);
export const BASE_URL = 'http://10.0.0.5:8080';
export const TEMPLATES_DIR = fileURLToPath(new URL('../../templates', import.meta.url));

/** `openssl passwd -6` of throwaway passwords: real crypt(3) strings with "$" and "/". */
export const ROOT_HASH = '$6$chainbootfixture$BPnbaS3rUJ.A3.FsArtdDMAeRmA/WK5dTRnZYlZZMblfRxfIuvQSRwMRqKuKOdkHRi3ei5gVk7pi3o/bMTRsX/';
export const USER_HASH = '$6$opsfixture$iCJm3Cf6CNFtZDeYSPAkPPSIIBvkLxtbD8tKBb4oiyz1dLqd8ES23MqFcAbm74gM/EFCL9KB1/MNu/v6w95PK.';
export const SSH_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGNoYWluYm9vdCB0ZXN0IGtleSBvbmx5IG5vdCByZWFs ops@lab';

const PROFILES = [
  {
    name: 'debian12',
    kind: 'linux',
    description: 'Debian 12 installer',
    kernel: 'debian12/linux',
    initrds: ['debian12/initrd.gz', 'debian12/firmware.cpio.gz'],
    cmdline: 'auto=true priority=critical url=<%~ it.urls.file("preseed.cfg") %> hostname=<%= it.vars.hostname %> domain=<%= it.vars.domain %> console=ttyS0',
    variables: { mirror: 'deb.debian.org', timezone: 'Europe/Berlin' },
  },
  {
    name: 'rocky9',
    kind: 'linux',
    description: 'Rocky Linux 9 installer',
    kernel: 'https://mirror.example.org/rocky/9/BaseOS/x86_64/os/images/pxeboot/vmlinuz',
    initrds: ['https://mirror.example.org/rocky/9/BaseOS/x86_64/os/images/pxeboot/initrd.img'],
    cmdline: 'inst.ks=<%~ it.urls.file("ks.cfg") %> inst.repo=https://mirror.example.org/rocky/9/BaseOS/x86_64/os/ console=ttyS0',
    variables: { install_url: 'https://mirror.example.org/rocky/9/BaseOS/x86_64/os/' },
  },
  {
    name: 'ubuntu24',
    kind: 'linux',
    description: 'Ubuntu 24.04 autoinstall',
    kernel: 'ubuntu24/vmlinuz',
    initrds: ['ubuntu24/initrd'],
    cmdline: 'ip=dhcp url=<%~ it.urls.asset("ubuntu24/ubuntu-24.04-live-server-amd64.iso") %> autoinstall ds=nocloud-net;s=<%~ it.urls.file("") %> ---',
  },
  {
    name: 'alpine',
    kind: 'pxelinux',
    description: 'Alpine Linux (pxelinux)',
    kernel: 'alpine/vmlinuz-lts',
    initrds: ['alpine/initramfs-lts'],
    cmdline: 'modules=loop,squashfs quiet alpine_repo=https://dl-cdn.alpinelinux.org/alpine/v3.20/main modloop=<%~ it.urls.asset("alpine/modloop-lts") %>',
  },
  { name: 'gparted', kind: 'memdisk-iso', description: 'GParted live ISO', iso: 'tools/gparted-live.iso' },
  {
    name: 'win11',
    kind: 'wimboot',
    description: 'Windows 11 install',
    bcd: 'win11/boot/bcd',
    bootSdi: 'win11/boot/boot.sdi',
    bootWim: 'win11/sources/boot.wim',
    inject: ['startnet.cmd', 'autorun.bat', 'diskpart.txt'],
  },
  { name: 'netbootxyz', kind: 'chain', description: 'netboot.xyz', url: 'tftp://10.0.0.9/netboot.xyz.kpxe' },
  { name: 'disk', kind: 'local', description: 'Boot the first disk', method: 'sanboot' },
  { name: 'firmware-next', kind: 'local', description: 'Next firmware boot device' },
  {
    name: 'installers',
    kind: 'menu',
    description: 'Pick an installer',
    title: 'Install an OS',
    entries: ['debian12', 'rocky9', 'ubuntu24'],
    default: 'rocky9',
    timeout: 15,
  },
] as const;

export const HOSTS = {
  /** Debian, full variables. */
  web01: {
    mac: '52:54:00:00:00:01',
    hostname: 'web01',
    profile: 'debian12',
    variables: { domain: 'lab.example', root_password_hash: ROOT_HASH, username: 'ops', user_password_hash: USER_HASH, disk: 'sda', proxy: 'http://10.0.0.3:3128/' },
  },
  /** Rocky, static addressing and everything else set. */
  db01: {
    mac: '52:54:00:00:00:02',
    hostname: 'db01',
    profile: 'rocky9',
    variables: {
      ip: '10.0.0.21',
      netmask: '255.255.255.0',
      gateway: '10.0.0.1',
      dns: '10.0.0.1,10.0.0.2',
      timezone: 'Europe/Berlin',
      keyboard: 'de',
      locale: 'de_DE.UTF-8',
      root_password_hash: ROOT_HASH,
      ssh_key: SSH_KEY,
      disk: 'sda',
    },
  },
  /** Ubuntu, static addressing with a prefix length. */
  app01: {
    mac: '52:54:00:00:00:03',
    hostname: 'app01',
    profile: 'ubuntu24',
    variables: { ip: '10.0.0.31', netmask: '24', gateway: '10.0.0.1', dns: '10.0.0.1, 10.0.0.2', username: 'ops', user_password_hash: USER_HASH, ssh_key: SSH_KEY, disk: 'nvme0n1' },
  },
  /** Windows on a BIOS machine, image from a share. */
  win01: {
    mac: '52:54:00:00:00:04',
    hostname: 'win01.lab.example',
    profile: 'win11',
    variables: {
      firmware: 'bios',
      disk: '1',
      share: '\\\\fileserver\\images',
      share_user: 'LAB\\deploy',
      share_password: 'Deploy-2024',
      image: 'Z:\\win11\\sources\\install.wim',
      image_index: '6',
      windows_locale: 'de-DE',
      windows_timezone: 'W. Europe Standard Time',
      admin_password: 'Pa<ss>&"word\'',
      product_key: 'VK7JG-NPHTM-C97JM-9MPGT-3V66T',
    },
  },
  tools01: { mac: '52:54:00:00:00:05', hostname: 'tools01', profile: 'alpine' },
  iso01: { mac: '52:54:00:00:00:06', hostname: 'iso01', profile: 'gparted' },
  lab01: { mac: '52:54:00:00:00:07', hostname: 'lab01', profile: 'netbootxyz' },
  desk01: { mac: '52:54:00:00:00:08', hostname: 'desk01', profile: 'disk' },
  desk02: { mac: '52:54:00:00:00:09', hostname: 'desk02', profile: 'firmware-next' },
  pick01: { mac: '52:54:00:00:00:0a', hostname: 'pick01', profile: 'installers' },
  /** Known, no profile, no variables: every per-host file with its defaults. */
  bare01: { mac: '52:54:00:00:00:0b', hostname: 'bare01' },
  /** Windows with only defaults (UEFI, disk 0, image from an URL). */
  win02: { mac: '52:54:00:00:00:0c', hostname: 'win02', profile: 'win11', variables: { image_url: 'http://10.0.0.5:8080/assets/win11/install.wim' } },
} satisfies Record<string, HostInput>;

export type HostName = keyof typeof HOSTS;

export function makeSite() {
  const db = openDb(':memory:');
  const store = createStore(db, () => FIXED_TIME);
  const engine = createEngine({ store, shippedDir: TEMPLATES_DIR });
  const service = createBootService({ store: asyncStore(store), engine, baseUrl: BASE_URL });
  for (const p of PROFILES) store.createProfile(profileInputSchema.parse(p));
  for (const h of Object.values(HOSTS)) store.createHost(h);

  const mac = (host: HostName) => HOSTS[host].mac;
  return {
    db,
    store,
    engine,
    service,
    mac,
    script: (host: HostName, choice?: string) => service.script({ mac: mac(host), client: {}, record: false, ...(choice ? { choice } : {}) }),
    pxelinux: (host: HostName) => service.pxelinux({ mac: mac(host), client: {}, record: false }),
    file: (host: HostName, name: string) => service.file({ mac: mac(host), client: {}, record: false }, name),
  };
}

export type Site = ReturnType<typeof makeSite>;
