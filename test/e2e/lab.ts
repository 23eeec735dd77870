/**
 * The end-to-end network, built by the test in network namespaces it owns:
 *
 *   ns "br":  bridge br0 (no address) + one tap per VM; QEMU runs here
 *   ns "cb":  chainboot serve (proxyDHCP 67/4011, TFTP 69, HTTP 8080) on 10.93.0.1
 *   ns "dh":  dnsmasq as a plain DHCP server (no PXE options) on 10.93.0.2
 *
 * Each namespace reaches the others only through br0; none has a route out,
 * and no link touches the host's interfaces. Processes are stopped by PID and
 * namespaces deleted in cleanup(), also when a test fails.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab, type Proc } from '../dhcp/helpers/netns.js';
import { CLI } from '../helpers/process.js';
import type { Artefacts } from './artefacts.js';

export const SERVER = '10.93.0.1';
export const HTTP = `http://${SERVER}:8080`;
export const TOKEN = 'e2e-admin-token-0123456789abcdef';

/**
 * Where Debian's packages put the loaders. The lab's loader root stays empty,
 * as on a fresh install: chainboot must find these itself (TFTP and HTTP).
 */
const LOADERS: Record<string, string> = {
  'undionly.kpxe': '/usr/lib/ipxe/undionly.kpxe',
  'ipxe.efi': '/usr/lib/ipxe/ipxe.efi',
  'snponly.efi': '/usr/lib/ipxe/snponly.efi',
  'lpxelinux.0': '/usr/lib/PXELINUX/lpxelinux.0',
  'ldlinux.c32': '/usr/lib/syslinux/modules/bios/ldlinux.c32',
  memdisk: '/usr/lib/syslinux/memdisk',
};

/** Why the suite cannot run here (it then fails with this reason), or null. */
export function e2eProblem(): string | null {
  if (process.platform !== 'linux') return `the end-to-end boots need Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return `the end-to-end boots need root for network namespaces and taps (uid ${process.getuid?.()}); CI runs as root`;
  const missing = [
    ['qemu-system-x86_64', '/usr/bin/qemu-system-x86_64'],
    ['OVMF', '/usr/share/OVMF/OVMF_CODE_4M.fd'],
    ['dnsmasq', '/usr/sbin/dnsmasq'],
    ['busybox', '/bin/busybox'],
    ['cpio', '/usr/bin/cpio'],
    ...Object.entries(LOADERS),
  ].filter(([, p]) => !existsSync(p!));
  if (missing.length) return `missing ${missing.map(([n]) => n).join(', ')}: run scripts/install-e2e-test-deps.sh (as root)`;
  if (!existsSync(CLI)) return `${CLI} is missing: run "npm run build" first (npm test does it)`;
  return null;
}

export interface VmOptions {
  name: string;
  mac: string;
  firmware: 'bios' | 'uefi';
  /** Attach the local disk whose boot sector prints a marker (BIOS: booted after the network). */
  disk?: boolean;
}

export interface VmResult {
  name: string;
  mac: string;
  exitCode: number;
  seconds: number;
  serial: string;
}

export class E2eLab {
  readonly lab = new Lab('e');
  readonly tmp = mkdtempSync(join(tmpdir(), 'chainboot-e2e-'));
  br = '';
  cb = '';
  dh = '';
  chainboot!: Proc;
  dnsmasq!: Proc;
  private taps = 0;

  constructor(private readonly art: Artefacts) {}

  async start(): Promise<void> {
    const { lab } = this;
    this.br = lab.ns('br');
    this.cb = lab.ns('cb');
    this.dh = lab.ns('dh');
    lab.ip('-n', this.br, 'link', 'add', 'br0', 'type', 'bridge');
    lab.ip('-n', this.br, 'link', 'set', 'br0', 'up');
    lab.link({ ns: this.br, ifname: 'pcb' }, { ns: this.cb, ifname: 'eth0', addr: `${SERVER}/24` });
    lab.link({ ns: this.br, ifname: 'pdh' }, { ns: this.dh, ifname: 'eth0', addr: '10.93.0.2/24' });
    for (const p of ['pcb', 'pdh']) lab.ip('-n', this.br, 'link', 'set', p, 'master', 'br0');

    const assets = join(this.tmp, 'assets');
    const loaders = join(this.tmp, 'loaders');
    mkdirSync(join(assets, 'e2e'), { recursive: true });
    mkdirSync(loaders, { recursive: true });
    // Copies, not symlinks: chainboot refuses links that leave its roots.
    copyFileSync(this.art.kernel, join(assets, 'e2e', 'vmlinuz'));
    copyFileSync(this.art.initrd, join(assets, 'e2e', 'initrd.img'));

    this.dnsmasq = lab.spawn(this.dh, 'dnsmasq', '/usr/sbin/dnsmasq', [
      '--keep-in-foreground',
      '--conf-file=/dev/null',
      '--port=0',
      '--no-ping',
      '--user=root',
      '--interface=eth0',
      '--bind-interfaces',
      '--dhcp-range=10.93.0.100,10.93.0.199,255.255.255.0,1h',
      '--dhcp-authoritative',
      `--dhcp-leasefile=${join(this.tmp, 'leases')}`,
      `--pid-file=${join(this.tmp, 'dnsmasq.pid')}`,
      '--log-dhcp',
      '--log-facility=-',
    ]);
    await this.dnsmasq.waitFor(/DHCP, IP range 10\.93\.0\.100/, 'dnsmasq ready line');

    this.chainboot = lab.spawn(this.cb, 'chainboot', process.execPath, [
      CLI,
      'serve',
      '--data-dir',
      join(this.tmp, 'data'),
      '--http-port',
      '8080',
      '--advertise-ip',
      SERVER,
      '--admin-token',
      TOKEN,
      '--asset-root',
      assets,
      '--loader-root',
      loaders,
      '--tftp-fallback-port',
      'off',
    ]);
    await Promise.all([
      this.chainboot.waitFor(/HTTP listening/, 'chainboot HTTP listening'),
      this.chainboot.waitFor(/TFTP listening on/, 'chainboot TFTP listening'),
      this.chainboot.waitFor(/proxyDHCP listening|listening on UDP 67|port 67/, 'chainboot proxyDHCP listening'),
    ]);
  }

  /** curl inside chainboot's namespace (the only place its address is reachable). */
  curl(path: string, opts: { method?: string; json?: unknown } = {}): { status: number; body: string } {
    const args = ['-s', '-o', '-', '-w', '\n%{http_code}', '-H', `Authorization: Bearer ${TOKEN}`];
    if (opts.method) args.push('-X', opts.method);
    if (opts.json !== undefined) args.push('-H', 'Content-Type: application/json', '--data-binary', JSON.stringify(opts.json));
    const out = this.lab.exec(this.cb, 'curl', [...args, HTTP + path]);
    const nl = out.lastIndexOf('\n');
    return { status: Number(out.slice(nl + 1)), body: out.slice(0, nl) };
  }

  api<T = unknown>(path: string, opts: { method?: string; json?: unknown } = {}): T {
    const r = this.curl(`/api/v1${path}`, opts);
    if (r.status >= 300) throw new Error(`${opts.method ?? 'GET'} ${path}: ${r.status} ${r.body}`);
    return JSON.parse(r.body) as T;
  }

  /** Boots one VM to the end (QEMU exits: poweroff, or the disk's exit port) and returns its serial output. */
  async boot(vm: VmOptions, limitMs: number): Promise<VmResult> {
    const tap = `t${this.taps++}`;
    this.lab.ip('-n', this.br, 'tuntap', 'add', 'dev', tap, 'mode', 'tap');
    this.lab.ip('-n', this.br, 'link', 'set', tap, 'master', 'br0');
    this.lab.ip('-n', this.br, 'link', 'set', tap, 'up');
    const serial = join(this.tmp, `${vm.name}.serial`);
    const firmwareLog = join(this.tmp, `${vm.name}.firmware`);
    const args = ['-accel', 'tcg', '-m', '512', '-smp', '1', '-display', 'none', '-serial', `file:${serial}`, '-netdev', `tap,id=n0,ifname=${tap},script=no,downscript=no`];
    if (vm.firmware === 'bios') {
      // SeaBIOS runs the NIC's iPXE option ROM; the disk, if any, comes next.
      // A boot attempt that fails (iPXE's DHCP timing out on a starved
      // machine) reboots after 3 s and tries again, as a real machine set to
      // network boot would; SeaBIOS's own log goes to a file for diagnosis.
      args.push('-machine', 'pc', '-device', `virtio-net-pci,netdev=n0,mac=${vm.mac}`, '-boot', 'order=nc,reboot-timeout=3000');
      args.push('-chardev', `file,id=seabios,path=${firmwareLog}`, '-device', 'isa-debugcon,iobase=0x402,chardev=seabios');
      args.push('-device', 'isa-debug-exit,iobase=0xf4,iosize=0x04');
      if (vm.disk) args.push('-drive', `file=${this.art.disk},format=raw,if=ide,snapshot=on`);
    } else {
      // OVMF with the NIC's iPXE ROM removed (romfile=): EDK2's own PXE stack boots.
      args.push('-no-reboot');
      const vars = join(this.tmp, `${vm.name}.vars.fd`);
      copyFileSync('/usr/share/OVMF/OVMF_VARS_4M.fd', vars);
      args.push('-machine', 'q35');
      args.push('-drive', 'if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd');
      args.push('-drive', `if=pflash,format=raw,unit=1,file=${vars}`);
      args.push('-device', `virtio-net-pci,netdev=n0,mac=${vm.mac},romfile=`);
      args.push('-fw_cfg', 'name=opt/org.tianocore/IPv6PXESupport,string=no');
    }
    const started = performance.now();
    const qemu = this.lab.spawn(this.br, `qemu ${vm.name}`, 'qemu-system-x86_64', args);
    const exitCode = await new Promise<number>((resolve, reject) => {
      const limit = setTimeout(() => {
        void qemu.stop();
        const out = existsSync(serial) ? readFileSync(serial, 'latin1') : '';
        const fw = existsSync(firmwareLog) ? tail(readFileSync(firmwareLog, 'latin1'), 25) : '(none)';
        let events = '';
        try {
          events = JSON.stringify(this.api(`/events?mac=${vm.mac}&limit=40`));
        } catch (e) {
          events = `(could not read: ${(e as Error).message})`;
        }
        const dhcp = this.dnsmasq.lines.filter((l) => l.toLowerCase().includes(vm.mac)).slice(-10).join('\n');
        reject(new Error(`${vm.name} (${vm.firmware}) did not finish within ${limitMs / 1000} s; serial output:\n${tail(out)}\nfirmware log:\n${fw}\nchainboot events: ${events}\ndnsmasq: ${dhcp}\nqemu: ${qemu.lines.join('\n')}`));
      }, limitMs);
      qemu.child.once('exit', (code, signal) => {
        clearTimeout(limit);
        resolve(code ?? (signal ? 128 : -1));
      });
    });
    const seconds = (performance.now() - started) / 1000;
    return { name: vm.name, mac: vm.mac, exitCode, seconds, serial: existsSync(serial) ? readFileSync(serial, 'latin1') : '' };
  }

  async cleanup(): Promise<void> {
    await this.lab.cleanup();
    if (!process.env.CHAINBOOT_E2E_KEEP) rmSync(this.tmp, { recursive: true, force: true });
  }

  /** chainboot's log lines (JSON) for a debugging message. */
  logTail(n = 60): string {
    return this.chainboot.lines.slice(-n).join('\n');
  }

  sha256(path: string): string {
    return execFileSync('ip', ['netns', 'exec', this.cb, 'sh', '-c', `curl -s ${HTTP}${path} | sha256sum | cut -d' ' -f1`], { encoding: 'utf8' }).trim();
  }
}

/** The last lines of a serial log, without the escape sequences firmware paints with. */
export function tail(text: string, n = 40): string {
  const clean = text.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r/g, '');
  return clean.split('\n').slice(-n).join('\n');
}
