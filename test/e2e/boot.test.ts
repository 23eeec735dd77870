/**
 * Real firmware boots through chainboot, in QEMU (TCG), inside network
 * namespaces this test builds (see lab.ts): SeaBIOS with QEMU's iPXE ROM,
 * OVMF's own PXE stack, a local-disk boot, pxelinux over HTTP, and four
 * machines at once. Each scenario asserts on the VM's serial console and on
 * chainboot's boot event log, and prints how long the boot took.
 *
 * Needs root and the packages of scripts/install-e2e-test-deps.sh, which this
 * test runs itself when something is missing (as CI does through
 * scripts/install-test-deps.sh). Without root it fails with the reason.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildArtefacts, MARK } from './artefacts.js';
import { E2eLab, e2eProblem, HTTP, tail, type VmResult } from './lab.js';
import { projectRoot } from '../../src/paths.js';

/** TCG on a shared 2-core machine: a BIOS boot takes ~20–40 s, UEFI ~40–60 s, four at once ~80 s. */
const BOOT_LIMIT = 300_000;

interface BootEvent {
  mac: string | null;
  kind: string;
  request: string;
  result: string;
  status: number | null;
  detail: Record<string, unknown> | null;
}

const hyphen = (mac: string) => mac.replace(/:/g, '-');

let lab: E2eLab;
const timings: string[] = [];

function linuxProfile(name: string, extra = '') {
  return {
    name,
    kind: 'linux',
    kernel: 'e2e/vmlinuz',
    initrds: ['e2e/initrd.img'],
    cmdline: `console=ttyS0 panic=-1 quiet e2e.profile=${name}${extra} inst.ks=<%= it.urls.file("ks.cfg") %>`,
    files: { 'ks.cfg': 'kickstart/rhel.cfg' },
  };
}

function marker(vm: VmResult): string {
  const line = vm.serial.split(/\r?\n/).find((l) => l.includes(MARK.booted));
  if (!line) throw new Error(`${vm.name}: no "${MARK.booted}" line on the serial console; last lines:\n${tail(vm.serial)}`);
  return line;
}

function events(mac: string): BootEvent[] {
  return lab.api<BootEvent[]>(`/events?mac=${mac}&limit=200`).reverse();
}

/** The kickstart chainboot renders for this host, digested the way the VM does. */
function expectKickstartFetched(vm: VmResult): void {
  const want = lab.sha256(`/hosts/${hyphen(vm.mac)}/ks.cfg`);
  expect(want).toMatch(/^[0-9a-f]{64}$/);
  expect(vm.serial).toContain(`${MARK.ks} sha256=${want}`);
}

function record(scenario: string, vm: VmResult): void {
  const line = `${scenario}: ${vm.name} (${vm.mac}) finished in ${vm.seconds.toFixed(1)} s`;
  timings.push(line);
  console.log(`e2e ${line}`);
}

describe('real firmware boots through chainboot (QEMU, network namespaces)', () => {
  beforeAll(async () => {
    if (e2eProblem()?.startsWith('missing') && process.getuid?.() === 0) {
      execFileSync('bash', [join(projectRoot, 'scripts', 'install-e2e-test-deps.sh')], { stdio: 'inherit' });
    }
    const problem = e2eProblem();
    if (problem) throw new Error(problem);
    const art = buildArtefacts();
    lab = new E2eLab(art);
    await lab.start();
    lab.api('/profiles', { method: 'POST', json: linuxProfile('bios-linux') });
    lab.api('/profiles', { method: 'POST', json: linuxProfile('uefi-linux') });
    lab.api('/profiles', {
      method: 'POST',
      json: { ...linuxProfile('via-pxelinux'), kind: 'pxelinux' },
    });
    for (const p of ['alpha', 'bravo', 'charlie', 'delta']) lab.api('/profiles', { method: 'POST', json: linuxProfile(`four-${p}`, ` e2e.four=${p}`) });
  }, 600_000);

  afterAll(async () => {
    if (timings.length) console.log(`e2e boot times:\n  ${timings.join('\n  ')}`);
    await lab?.cleanup();
  }, 60_000);

  it(
    'BIOS: SeaBIOS + iPXE ROM → proxyDHCP → boot.ipxe → per-MAC script → kernel + initrd over HTTP → kickstart',
    async () => {
      const mac = '52:54:00:e2:00:01';
      lab.api('/hosts', { method: 'POST', json: { mac, hostname: 'bios01', profile: 'bios-linux' } });
      const vm = await lab.boot({ name: 'bios01', mac, firmware: 'bios' }, BOOT_LIMIT);
      record('1 BIOS iPXE', vm);
      const line = marker(vm);
      expect(line).toContain('e2e.profile=bios-linux');
      expect(line).toContain(`inst.ks=${HTTP}/hosts/${hyphen(mac)}/ks.cfg`);
      expectKickstartFetched(vm);
      expect(vm.exitCode).toBe(0);

      const ev = events(mac);
      const dhcp = ev.find((e) => e.kind === 'dhcp' && e.result.includes('boot.ipxe'));
      expect(dhcp, 'proxyDHCP pointed the iPXE client at boot.ipxe').toBeTruthy();
      expect(ev.some((e) => e.kind === 'script' || e.request.startsWith('/ipxe'))).toBe(true);
      expect(ev.some((e) => e.kind === 'asset' && e.request.includes('e2e/vmlinuz') && e.status === 200)).toBe(true);
      expect(ev.some((e) => e.kind === 'asset' && e.request.includes('e2e/initrd.img') && e.status === 200)).toBe(true);
      expect(ev.some((e) => e.kind === 'file' && e.request.includes('ks.cfg') && e.status === 200)).toBe(true);
      // iPXE, not PXE: no TFTP on this path.
      expect(ev.some((e) => e.kind === 'tftp')).toBe(false);
    },
    BOOT_LIMIT + 30_000,
  );

  it(
    'UEFI: OVMF native PXE → proxyDHCP (+4011) → TFTP ipxe.efi → iPXE → HTTP → kernel → kickstart',
    async () => {
      const mac = '52:54:00:e2:00:02';
      lab.api('/hosts', { method: 'POST', json: { mac, hostname: 'uefi01', profile: 'uefi-linux' } });
      const vm = await lab.boot({ name: 'uefi01', mac, firmware: 'uefi' }, BOOT_LIMIT);
      record('2 UEFI PXE', vm);
      const line = marker(vm);
      expect(line).toContain('e2e.profile=uefi-linux');
      // Debian's 2019 iPXE on EFI hands the initrd over by name only.
      expect(line).toContain('initrd=initrd.img');
      expectKickstartFetched(vm);

      const ev = events(mac);
      const loaderOffer = ev.find((e) => e.kind === 'dhcp' && e.result.includes('ipxe.efi'));
      expect(loaderOffer, 'the firmware was pointed at ipxe.efi').toBeTruthy();
      expect(ev.some((e) => e.kind === 'tftp' && e.request.includes('ipxe.efi') && e.status === 200)).toBe(true);
      expect(ev.some((e) => e.kind === 'dhcp' && e.result.includes('boot.ipxe')), 'iPXE was sent on to HTTP').toBe(true);
      expect(ev.some((e) => e.kind === 'asset' && e.request.includes('e2e/vmlinuz') && e.status === 200)).toBe(true);
      // One boot id ties the firmware's DHCP, its TFTP fetch, iPXE's DHCP and every HTTP step.
      const steps = ev.filter((e) => ['dhcp', 'tftp', 'asset', 'file'].includes(e.kind));
      expect(new Set(steps.map((e) => e.kind))).toEqual(new Set(['dhcp', 'tftp', 'asset', 'file']));
      const ids = new Set(steps.map((e) => e.detail?.boot));
      expect([...ids]).toHaveLength(1);
      expect([...ids][0]).toMatch(/^[0-9a-f]{8}$/);
    },
    BOOT_LIMIT + 30_000,
  );

  it(
    'a host with no work boots its local disk at once, and fetches no kernel',
    async () => {
      const mac = '52:54:00:e2:00:03';
      lab.api('/hosts', { method: 'POST', json: { mac, hostname: 'idle01' } });
      const vm = await lab.boot({ name: 'idle01', mac, firmware: 'bios', disk: true }, BOOT_LIMIT);
      record('3 local disk', vm);
      expect(vm.serial).toContain(MARK.disk);
      expect(vm.serial).not.toContain(MARK.booted);
      // isa-debug-exit: (1 << 1) | 1.
      expect(vm.exitCode).toBe(3);
      const ev = events(mac);
      expect(ev.some((e) => e.request.startsWith('/ipxe') || e.kind === 'script'), 'the per-MAC script was asked for').toBe(true);
      expect(ev.some((e) => e.kind === 'asset')).toBe(false);
    },
    BOOT_LIMIT + 30_000,
  );

  it(
    'a pxelinux profile: lpxelinux.0 and its config over HTTP, then the kernel it names',
    async () => {
      const mac = '52:54:00:e2:00:04';
      lab.api('/hosts', { method: 'POST', json: { mac, hostname: 'pxl01', profile: 'via-pxelinux' } });
      const vm = await lab.boot({ name: 'pxl01', mac, firmware: 'bios' }, BOOT_LIMIT);
      record('4 pxelinux', vm);
      const line = marker(vm);
      expect(line).toContain('e2e.profile=via-pxelinux');
      expectKickstartFetched(vm);
      const ev = events(mac);
      expect(ev.some((e) => e.kind === 'loader' && e.request.includes('lpxelinux.0') && e.status === 200)).toBe(true);
      expect(ev.some((e) => e.request.includes('pxelinux.cfg/01-') && e.status === 200)).toBe(true);
      expect(ev.some((e) => e.kind === 'asset' && e.request.includes('e2e/vmlinuz') && e.status === 200)).toBe(true);
    },
    BOOT_LIMIT + 30_000,
  );

  it(
    'four machines at once, each gets its own profile',
    async () => {
      const four = ['alpha', 'bravo', 'charlie', 'delta'].map((p, i) => ({ p, mac: `52:54:00:e2:01:0${i + 1}` }));
      for (const { p, mac } of four) lab.api('/hosts', { method: 'POST', json: { mac, hostname: `four-${p}`, profile: `four-${p}` } });
      const vms = await Promise.all(four.map(({ p, mac }) => lab.boot({ name: `four-${p}`, mac, firmware: 'bios' }, BOOT_LIMIT)));
      for (const [i, vm] of vms.entries()) {
        record('5 four at once', vm);
        const line = marker(vm);
        expect(line).toContain(`e2e.profile=four-${four[i]!.p}`);
        expect(line).toContain(`e2e.four=${four[i]!.p}`);
        for (const other of four) if (other.p !== four[i]!.p) expect(line).not.toContain(`e2e.four=${other.p}`);
        expectKickstartFetched(vm);
        const ev = events(vm.mac);
        expect(ev.filter((e) => e.kind === 'asset' && e.request.includes('e2e/vmlinuz') && e.status === 200).length).toBeGreaterThanOrEqual(1);
      }
    },
    BOOT_LIMIT + 60_000,
  );
});
