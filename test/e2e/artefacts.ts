/**
 * What the end-to-end boots boot, made at test time from Debian packages and
 * cached between runs (CHAINBOOT_E2E_CACHE, default /var/tmp/chainboot-e2e):
 *
 *   vmlinuz      the kernel of Debian's linux-image package (apt-get download + dpkg -x)
 *   initrd.img   a busybox initramfs: /init prints a marker with its kernel
 *                command line on the serial console, loads the NIC driver
 *                modules (taken from the same package), gets an address by
 *                DHCP, fetches the kickstart URL it was given (inst.ks=) and
 *                prints its sha256, then powers off
 *   disk.img     a disk whose boot sector prints a marker on COM1 and ends
 *                QEMU through isa-debug-exit: proof of a local-disk boot
 *
 * Every artefact is written to a temporary name and renamed into place, so an
 * interrupted build never leaves a half file that a later run would trust.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const CACHE = process.env.CHAINBOOT_E2E_CACHE ?? '/var/tmp/chainboot-e2e';

/** Lines the tiny Linux prints; the tests look for them on the serial console. */
export const MARK = {
  booted: 'CHAINBOOT-E2E-BOOTED',
  ks: 'CHAINBOOT-E2E-KS',
  done: 'CHAINBOOT-E2E-DONE',
  disk: 'CHAINBOOT-E2E-LOCAL-DISK',
} as const;

export interface Artefacts {
  kernel: string;
  initrd: string;
  disk: string;
  kernelVersion: string;
}

/** The NIC drivers the VMs need: virtio-net over virtio-pci (modules in Debian's kernel). */
const ROOT_MODULES = ['virtio_pci', 'virtio_net'];

function sh(cmd: string, args: string[], opts: { cwd?: string } = {}): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], cwd: opts.cwd, maxBuffer: 64 * 1024 * 1024 });
}

/** The linux-image package linux-image-amd64 points at now, e.g. linux-image-6.1.0-57-amd64. */
function kernelPackage(): string {
  const deps = sh('apt-cache', ['depends', 'linux-image-amd64']);
  const m = /Depends: (linux-image-[0-9][^\s]*)/.exec(deps);
  if (!m) throw new Error(`cannot tell which kernel package linux-image-amd64 depends on:\n${deps}`);
  return m[1]!;
}

/** Downloads and unpacks the kernel package once; returns the unpacked tree and the kernel version. */
function unpackedKernel(): { tree: string; version: string } {
  const pkg = kernelPackage();
  const tree = join(CACHE, pkg);
  if (!existsSync(join(tree, '.complete'))) {
    const dl = join(CACHE, 'download');
    rmSync(dl, { recursive: true, force: true });
    mkdirSync(dl, { recursive: true });
    // apt drops privileges to _apt for downloads: the folder must be writable by it.
    chmodSync(dl, 0o777);
    try {
      sh('apt-get', ['download', pkg], { cwd: dl });
    } catch {
      sh('apt-get', ['update', '-q']);
      sh('apt-get', ['download', pkg], { cwd: dl });
    }
    const deb = readdirSync(dl).find((f) => f.endsWith('.deb'));
    if (!deb) throw new Error(`apt-get download ${pkg} left no .deb in ${dl}`);
    rmSync(tree, { recursive: true, force: true });
    sh('dpkg', ['-x', join(dl, deb), tree]);
    writeFileSync(join(tree, '.complete'), pkg + '\n');
    rmSync(dl, { recursive: true, force: true });
  }
  const version = readdirSync(join(tree, 'lib', 'modules'))[0];
  if (!version) throw new Error(`${tree} holds no lib/modules/<version>`);
  return { tree, version };
}

/** Every .ko under dir, by module name (dashes and underscores are the same to the kernel). */
function moduleIndex(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ko')) out.set(e.name.slice(0, -3).replace(/-/g, '_'), p);
    }
  };
  walk(dir);
  return out;
}

/** The depends= field of a module's .modinfo section (the package ships no modules.dep). */
function moduleDepends(ko: string): string[] {
  const bytes = readFileSync(ko);
  const at = bytes.indexOf('\0depends=');
  if (at < 0) return [];
  const end = bytes.indexOf(0, at + 1);
  const list = bytes.subarray(at + '\0depends='.length, end).toString('latin1');
  return list ? list.split(',').map((m) => m.replace(/-/g, '_')) : [];
}

/** Module files in load order: every module after the ones it depends on. */
export function modulesInLoadOrder(index: Map<string, string>, roots: string[], builtin: Set<string>): string[] {
  const order: string[] = [];
  const seen = new Set<string>();
  const visit = (name: string, path: string[]) => {
    if (seen.has(name) || builtin.has(name)) return;
    if (path.includes(name)) throw new Error(`module dependency cycle: ${[...path, name].join(' → ')}`);
    const ko = index.get(name);
    if (!ko) throw new Error(`module ${name} is neither built in nor in the kernel package`);
    for (const dep of moduleDepends(ko)) visit(dep, [...path, name]);
    seen.add(name);
    order.push(ko);
  };
  for (const r of roots) visit(r, []);
  return order;
}

const INIT = `#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev /tmp /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
echo "${MARK.booted} cmdline=$(cat /proc/cmdline)"
for m in $(cat /modules/order); do insmod "/modules/$m" || echo "insmod $m failed"; done
ip link set lo up
ip link set eth0 up
# busybox 1.35's wget -T crashes: every wait is bounded with timeout instead.
timeout 60 udhcpc -i eth0 -n -q -t 20 -T 2 -s /udhcpc.script || echo "CHAINBOOT-E2E-DHCP failed"
ks=$(sed -n 's/.*inst\\.ks=\\([^ ]*\\).*/\\1/p' /proc/cmdline)
if [ -n "$ks" ]; then
  if timeout 60 wget -q -O /tmp/ks "$ks"; then
    echo "${MARK.ks} sha256=$(sha256sum /tmp/ks | cut -d' ' -f1) bytes=$(wc -c < /tmp/ks)"
  else
    echo "${MARK.ks} failed"
  fi
fi
echo "${MARK.done}"
poweroff -f
`;

const UDHCPC_SCRIPT = `#!/bin/sh
case "$1" in
  deconfig) ip addr flush dev "$interface"; ip link set "$interface" up ;;
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/\${mask:-24}" dev "$interface"
    echo "CHAINBOOT-E2E-DHCP bound $ip"
    ;;
esac
`;

function buildInitrd(out: string, modules: string[]): void {
  const stage = `${out}.stage`;
  rmSync(stage, { recursive: true, force: true });
  for (const d of ['bin', 'modules']) mkdirSync(join(stage, d), { recursive: true });
  copyFileSync('/bin/busybox', join(stage, 'bin', 'busybox'));
  chmodSync(join(stage, 'bin', 'busybox'), 0o755);
  writeFileSync(join(stage, 'init'), INIT, { mode: 0o755 });
  writeFileSync(join(stage, 'udhcpc.script'), UDHCPC_SCRIPT, { mode: 0o755 });
  const names: string[] = [];
  for (const ko of modules) {
    const name = ko.split('/').pop()!;
    copyFileSync(ko, join(stage, 'modules', name));
    names.push(name);
  }
  writeFileSync(join(stage, 'modules', 'order'), names.join('\n') + '\n');
  // newc cpio of the staging folder, gzip'd: what the kernel unpacks as its rootfs.
  const files = sh('find', ['.', '-mindepth', '1'], { cwd: stage }).trim().split('\n').sort();
  const cpio = execFileSync('cpio', ['--quiet', '-o', '-H', 'newc', '-R', '0:0'], { cwd: stage, input: files.join('\n') + '\n', maxBuffer: 256 * 1024 * 1024 });
  const gz = execFileSync('gzip', ['-9n'], { input: cpio, maxBuffer: 256 * 1024 * 1024 });
  writeFileSync(`${out}.tmp`, gz);
  renameSync(`${out}.tmp`, out);
  rmSync(stage, { recursive: true, force: true });
}

/**
 * A 1 MiB disk whose boot sector writes MARK.disk to COM1 (0x3f8) and then
 * writes 1 to QEMU's isa-debug-exit port (0xf4): QEMU exits with status 3.
 * Hand-assembled 16-bit real-mode code, loaded by the BIOS at 0000:7c00.
 */
export function bootSector(message: string): Buffer {
  const text = Buffer.from(message + '\r\n\0', 'latin1');
  const code: number[] = [];
  code.push(0xfa); // cli
  code.push(0x31, 0xc0); // xor ax, ax
  code.push(0x8e, 0xd8); // mov ds, ax
  code.push(0xfc); // cld
  const movSi = code.length;
  code.push(0xbe, 0, 0); // mov si, msg (patched below)
  code.push(0xba, 0xf8, 0x03); // mov dx, 0x3f8
  const loop = code.length;
  code.push(0xac); // lodsb
  code.push(0x84, 0xc0); // test al, al
  code.push(0x74, 0x03); // jz +3 (over out + jmp)
  code.push(0xee); // out dx, al
  code.push(0xeb, (loop - (code.length + 2)) & 0xff); // jmp loop
  code.push(0xba, 0xf4, 0x00); // mov dx, 0xf4
  code.push(0xb0, 0x01); // mov al, 1
  code.push(0xee); // out dx, al
  const halt = code.length;
  code.push(0xf4); // hlt
  code.push(0xeb, (halt - (code.length + 2)) & 0xff); // jmp halt
  const msgAt = 0x7c00 + code.length;
  code[movSi + 1] = msgAt & 0xff;
  code[movSi + 2] = msgAt >> 8;
  const sector = Buffer.alloc(512);
  Buffer.from(code).copy(sector, 0);
  text.copy(sector, code.length);
  if (code.length + text.length > 446) throw new Error('boot sector code and message do not fit before the partition table');
  sector[510] = 0x55;
  sector[511] = 0xaa;
  return sector;
}

function buildDisk(out: string): void {
  const img = Buffer.alloc(1024 * 1024);
  bootSector(MARK.disk).copy(img, 0);
  writeFileSync(`${out}.tmp`, img);
  renameSync(`${out}.tmp`, out);
}

/** Builds what is missing in the cache and returns the paths. */
export function buildArtefacts(): Artefacts {
  mkdirSync(CACHE, { recursive: true });
  const { tree, version } = unpackedKernel();
  const dir = join(CACHE, `build-${version}`);
  mkdirSync(dir, { recursive: true });
  const kernel = join(dir, 'vmlinuz');
  if (!existsSync(kernel)) {
    copyFileSync(join(tree, 'boot', `vmlinuz-${version}`), `${kernel}.tmp`);
    renameSync(`${kernel}.tmp`, kernel);
  }
  const initrd = join(dir, 'initrd.img');
  // Rebuilt when this file's init script changes: its text is part of the stamp.
  const stamp = join(dir, 'initrd.stamp');
  const want = INIT + UDHCPC_SCRIPT + statSync('/bin/busybox').size;
  if (!existsSync(initrd) || !existsSync(stamp) || readFileSync(stamp, 'utf8') !== want) {
    const modDir = join(tree, 'lib', 'modules', version);
    const builtin = new Set(
      readFileSync(join(modDir, 'modules.builtin'), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => l.split('/').pop()!.replace(/\.ko$/, '').replace(/-/g, '_')),
    );
    buildInitrd(initrd, modulesInLoadOrder(moduleIndex(join(modDir, 'kernel')), ROOT_MODULES, builtin));
    writeFileSync(stamp, want);
  }
  const disk = join(dir, 'disk.img');
  if (!existsSync(disk)) buildDisk(disk);
  return { kernel, initrd, disk, kernelVersion: version };
}
