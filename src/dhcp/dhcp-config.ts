/**
 * For admins who would rather have their own DHCP server hand out the boot
 * file than run proxyDHCP: the same decisions (architecture → loader, iPXE →
 * boot.ipxe, HTTPClient → loader URL) written as ISC dhcpd, Kea, dnsmasq or
 * Windows DHCP Server configuration. Pure: settings in, text out.
 */
import { DEFAULT_LOADERS, type Loaders } from './firmware.js';

export type DhcpServerKind = 'isc' | 'kea' | 'dnsmasq' | 'windows';
export const DHCP_SERVER_KINDS: DhcpServerKind[] = ['isc', 'kea', 'dnsmasq', 'windows'];

export interface DhcpConfigOptions {
  /** TFTP server address for the loaders (next-server / siaddr / option 66). */
  serverIp: string;
  /** http://server:port, no trailing slash. */
  httpBaseUrl: string;
  loaders?: Loaders;
}

interface Rule {
  /** Loader family key. */
  key: string;
  archs: number[];
  label: string;
}

/** PXE (TFTP) architectures per loader family, and UEFI HTTP Boot architectures. */
const PXE_RULES: Rule[] = [
  { key: 'efi64', archs: [7, 9], label: 'UEFI x64' },
  { key: 'efi32', archs: [6], label: 'UEFI IA32' },
  { key: 'arm64', archs: [11], label: 'UEFI ARM64' },
  { key: 'arm32', archs: [10], label: 'UEFI ARM32' },
  { key: 'riscv64', archs: [27], label: 'UEFI RISC-V 64' },
  { key: 'loong64', archs: [39], label: 'UEFI LoongArch64' },
];
const HTTP_RULES: Rule[] = [
  { key: 'efi64', archs: [16], label: 'UEFI HTTP Boot x64' },
  { key: 'efi32', archs: [15], label: 'UEFI HTTP Boot IA32' },
  { key: 'arm64', archs: [19], label: 'UEFI HTTP Boot ARM64' },
  { key: 'arm32', archs: [18], label: 'UEFI HTTP Boot ARM32' },
  { key: 'riscv64', archs: [28], label: 'UEFI HTTP Boot RISC-V 64' },
  { key: 'loong64', archs: [40], label: 'UEFI HTTP Boot LoongArch64' },
];

function plan(o: DhcpConfigOptions) {
  const loaders: Loaders = o.loaders ?? DEFAULT_LOADERS;
  const base = o.httpBaseUrl.replace(/\/+$/, '');
  const url = (f: string) => (/^https?:\/\//.test(f) ? f : `${base}/loaders/${f}`);
  return {
    loaders,
    script: `${base}/boot.ipxe`,
    bios: loaders.bios ?? null,
    pxe: PXE_RULES.filter((r) => loaders[r.key]).map((r) => ({ ...r, file: loaders[r.key]! })),
    http: HTTP_RULES.filter((r) => loaders[r.key]).map((r) => ({ ...r, file: url(loaders[r.key]!) })),
  };
}

const hex16 = (n: number) => `${(n >> 8).toString(16).padStart(2, '0')}:${(n & 0xff).toString(16).padStart(2, '0')}`;
const q = (s: string) => JSON.stringify(s);

function isc(o: DhcpConfigOptions): string {
  const p = plan(o);
  const L: string[] = [];
  L.push('# chainboot boot options for ISC dhcpd (dhcpd.conf): "chainboot dhcp-config --for isc"');
  L.push('# Put the option definition at the top level, the classes inside or beside your subnet.');
  L.push('option client-arch code 93 = unsigned integer 16;');
  L.push('');
  L.push('class "chainboot-pxe" {');
  L.push('  match if substring(option vendor-class-identifier, 0, 9) = "PXEClient";');
  L.push(`  next-server ${o.serverIp};`);
  L.push('  # iPXE asks again with user class "iPXE": send it to HTTP, or it would load itself forever.');
  L.push('  if exists user-class and option user-class = "iPXE" {');
  L.push(`    filename ${q(p.script)};`);
  for (const r of p.pxe) {
    L.push(`  } elsif ${r.archs.map((a) => `option client-arch = ${hex16(a)}`).join(' or ')} {`);
    L.push(`    filename ${q(r.file)};  # ${r.label}`);
  }
  if (p.bios) {
    L.push('  } else {');
    L.push(`    filename ${q(p.bios)};  # x86 BIOS (arch 0)`);
  }
  L.push('  }');
  L.push('}');
  if (p.http.length) {
    L.push('');
    L.push('class "chainboot-httpclient" {');
    L.push('  match if substring(option vendor-class-identifier, 0, 10) = "HTTPClient";');
    L.push('  # UEFI HTTP Boot only takes offers that say HTTPClient back.');
    L.push('  option vendor-class-identifier "HTTPClient";');
    p.http.forEach((r, i) => {
      L.push(`  ${i === 0 ? 'if' : '} elsif'} ${r.archs.map((a) => `option client-arch = ${hex16(a)}`).join(' or ')} {`);
      L.push(`    filename ${q(r.file)};  # ${r.label}`);
    });
    L.push('  }');
    L.push('}');
  }
  return L.join('\n') + '\n';
}

function kea(o: DhcpConfigOptions): string {
  const p = plan(o);
  const classes: Record<string, unknown>[] = [];
  // Kea takes boot-file-name from the first matching class in this order.
  classes.push({
    name: 'chainboot-ipxe',
    test: "substring(option[60].hex,0,9) == 'PXEClient' and option[77].exists and substring(option[77].hex,0,4) == 'iPXE'",
    'next-server': o.serverIp,
    'boot-file-name': p.script,
  });
  for (const r of p.http) {
    classes.push({
      name: `chainboot-http-${r.key}`,
      test: `substring(option[60].hex,0,10) == 'HTTPClient' and (${r.archs.map((a) => `option[93].hex == 0x${a.toString(16).padStart(4, '0')}`).join(' or ')})`,
      'boot-file-name': r.file,
      'option-data': [{ name: 'vendor-class-identifier', data: 'HTTPClient' }],
    });
  }
  for (const r of p.pxe) {
    classes.push({
      name: `chainboot-${r.key}`,
      test: `substring(option[60].hex,0,9) == 'PXEClient' and not member('chainboot-ipxe') and (${r.archs.map((a) => `option[93].hex == 0x${a.toString(16).padStart(4, '0')}`).join(' or ')})`,
      'next-server': o.serverIp,
      'boot-file-name': r.file,
    });
  }
  if (p.bios) {
    classes.push({
      name: 'chainboot-bios',
      test: "substring(option[60].hex,0,9) == 'PXEClient' and not member('chainboot-ipxe') and option[93].hex == 0x0000",
      'next-server': o.serverIp,
      'boot-file-name': p.bios,
    });
  }
  const text = JSON.stringify({ 'client-classes': classes }, null, 2);
  return [
    '// chainboot boot options for Kea DHCPv4 (kea-dhcp4.conf): "chainboot dhcp-config --for kea"',
    '// Merge "client-classes" into your "Dhcp4" object.',
    text,
    '',
  ].join('\n');
}

function dnsmasq(o: DhcpConfigOptions): string {
  const p = plan(o);
  const L: string[] = [];
  L.push('# chainboot boot options for dnsmasq as the DHCP server: "chainboot dhcp-config --for dnsmasq"');
  L.push('# (Not proxy mode: chainboot itself is the proxyDHCP server, if you want one.)');
  L.push('dhcp-userclass=set:cb-ipxe,iPXE');
  L.push('dhcp-match=set:cb-ipxe,175');
  L.push('dhcp-vendorclass=set:cb-httpclient,HTTPClient');
  L.push('dhcp-match=set:cb-bios,option:client-arch,0');
  for (const r of p.pxe) for (const a of r.archs) L.push(`dhcp-match=set:cb-${r.key},option:client-arch,${a}`);
  for (const r of p.http) for (const a of r.archs) L.push(`dhcp-match=set:cb-http-${r.key},option:client-arch,${a}`);
  L.push('# iPXE: the HTTP entry script (breaks the loop)');
  L.push(`dhcp-boot=tag:cb-ipxe,${p.script}`);
  if (p.bios) L.push(`dhcp-boot=tag:!cb-ipxe,tag:cb-bios,${p.bios},,${o.serverIp}`);
  for (const r of p.pxe) L.push(`dhcp-boot=tag:!cb-ipxe,tag:cb-${r.key},${r.file},,${o.serverIp}`);
  if (p.http.length) {
    L.push('# UEFI HTTP Boot: the loader by URL, and option 60 "HTTPClient" back');
    L.push('dhcp-option-force=tag:cb-httpclient,option:vendor-class,HTTPClient');
    for (const r of p.http) L.push(`dhcp-boot=tag:cb-httpclient,tag:cb-http-${r.key},${r.file}`);
  }
  return L.join('\n') + '\n';
}

function windows(o: DhcpConfigOptions): string {
  const p = plan(o);
  const L: string[] = [];
  L.push('# chainboot boot options for Windows Server DHCP (PowerShell, DhcpServer module): "chainboot dhcp-config --for windows"');
  L.push('# Run on the DHCP server; policies apply server-wide (add -ScopeId to limit them to a scope).');
  L.push('Add-DhcpServerv4Class -Name "chainboot iPXE" -Type User -Data "iPXE"');
  const vendorClasses: { name: string; data: string }[] = [];
  if (p.bios) vendorClasses.push({ name: 'chainboot PXE BIOS', data: 'PXEClient:Arch:00000' });
  for (const r of p.pxe) for (const a of r.archs) vendorClasses.push({ name: `chainboot PXE ${r.label} (${a})`, data: `PXEClient:Arch:${String(a).padStart(5, '0')}` });
  for (const r of p.http) for (const a of r.archs) vendorClasses.push({ name: `chainboot HTTP ${r.label} (${a})`, data: `HTTPClient:Arch:${String(a).padStart(5, '0')}` });
  for (const c of vendorClasses) L.push(`Add-DhcpServerv4Class -Name "${c.name}" -Type Vendor -Data "${c.data}"`);
  L.push('');
  let order = 1;
  L.push('# iPXE first: the HTTP entry script breaks the loop');
  L.push(`Add-DhcpServerv4Policy -Name "chainboot iPXE" -Condition OR -UserClass EQ,"chainboot iPXE" -ProcessingOrder ${order++}`);
  L.push(`Set-DhcpServerv4OptionValue -PolicyName "chainboot iPXE" -OptionId 67 -Value "${p.script}"`);
  const policy = (cls: string, file: string, tftp: boolean) => {
    L.push(`Add-DhcpServerv4Policy -Name "${cls}" -Condition OR -VendorClass EQ,"${cls}*" -ProcessingOrder ${order++}`);
    if (tftp) L.push(`Set-DhcpServerv4OptionValue -PolicyName "${cls}" -OptionId 66 -Value "${o.serverIp}"`);
    L.push(`Set-DhcpServerv4OptionValue -PolicyName "${cls}" -OptionId 67 -Value "${file}"`);
  };
  if (p.bios) policy('chainboot PXE BIOS', p.bios, true);
  for (const r of p.pxe) for (const a of r.archs) policy(`chainboot PXE ${r.label} (${a})`, r.file, true);
  if (p.http.length) {
    L.push('# UEFI HTTP Boot needs option 60 "HTTPClient" in the reply; define option 60 once if the server lacks it');
    L.push('Add-DhcpServerv4OptionDefinition -OptionId 60 -Name "Vendor class (chainboot)" -Type String -ErrorAction SilentlyContinue');
    for (const r of p.http)
      for (const a of r.archs) {
        const cls = `chainboot HTTP ${r.label} (${a})`;
        policy(cls, r.file, false);
        L.push(`Set-DhcpServerv4OptionValue -PolicyName "${cls}" -OptionId 60 -Value "HTTPClient"`);
      }
  }
  return L.join('\r\n') + '\r\n';
}

export function dhcpConfigText(kind: DhcpServerKind, o: DhcpConfigOptions): string {
  switch (kind) {
    case 'isc':
      return isc(o);
    case 'kea':
      return kea(o);
    case 'dnsmasq':
      return dnsmasq(o);
    case 'windows':
      return windows(o);
    default:
      throw new Error(`unknown DHCP server kind "${kind as string}": use one of ${DHCP_SERVER_KINDS.join(', ')}`);
  }
}
