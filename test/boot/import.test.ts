import { describe, expect, it } from 'vitest';
import { parseHostOs } from '../../src/boot/import.js';
import { makeStack } from '../helpers/services.js';
import { profileInputSchema } from '../../src/boot/profile.js';

const profiles = new Set(['centos-5.5-i386', 'debian-12']);
const exists = (n: string) => profiles.has(n);

describe('parseHostOs', () => {
  it('reads the classic format with comments and blank lines', () => {
    const r = parseHostOs('# lab 3\n\n08:00:27:4d:4d:aa, centos-5.5-i386\n08-00-27-4D-4D-AB,debian-12, web02  # comment\r\n', exists);
    expect(r.problems).toEqual([]);
    expect(r.lines).toEqual([
      { line: 3, mac: '08:00:27:4d:4d:aa', profile: 'centos-5.5-i386' },
      { line: 4, mac: '08:00:27:4d:4d:ab', profile: 'debian-12', hostname: 'web02' },
    ]);
  });

  it('reports each bad line with its number', () => {
    const r = parseHostOs(
      ['08:00:27:4d:4d:aa, centos-5.5-i386', 'zz:00:27:4d:4d:aa, debian-12', '08:00:27:4d:4d:ac, windows-11', '08:00:27:4d:4d:aa, debian-12', '08:00:27:4d:4d:ad', '08:00:27:4d:4d:ae, debian-12, bad_host!'].join('\n'),
      exists,
    );
    expect(r.problems.map((p) => [p.line, p.message])).toEqual([
      [2, '"zz:00:27:4d:4d:aa" is not a MAC address'],
      [3, 'profile "windows-11" does not exist'],
      [4, '08:00:27:4d:4d:aa is already given on line 1'],
      [5, 'expected "MAC, profile[, hostname]", found 1 field(s)'],
      [6, '"bad_host!" is not a valid host name'],
    ]);
  });
});

describe('import into the database', () => {
  async function stack() {
    const s = await makeStack();
    await s.store.createProfile(profileInputSchema.parse({ name: 'centos-5.5-i386', kind: 'linux', kernel: 'centos/vmlinuz', initrds: ['centos/initrd.img'] }));
    await s.store.createProfile(profileInputSchema.parse({ name: 'debian-12', kind: 'local' }));
    return s;
  }

  it('takes all lines of a good file, updating hosts that exist', async () => {
    const s = await stack();
    await s.store.createHost({ mac: '08:00:27:4d:4d:ab', hostname: 'old', profile: null });
    const r = await s.admin.importHostOs('08:00:27:4d:4d:aa, centos-5.5-i386\n08:00:27:4d:4d:ab, debian-12, web02\n');
    expect(r).toMatchObject({ ok: true, added: 1, updated: 1 });
    expect((await s.store.getHost('08:00:27:4d:4d:aa'))?.profile).toBe('centos-5.5-i386');
    expect(await s.store.getHost('08:00:27:4d:4d:ab')).toMatchObject({ profile: 'debian-12', hostname: 'web02' });
  });

  it('takes none of a file with one bad line', async () => {
    const s = await stack();
    const r = await s.admin.importHostOs('08:00:27:4d:4d:aa, centos-5.5-i386\n08:00:27:4d:4d:ab, nosuch\n');
    expect(r.ok).toBe(false);
    expect(r.problems).toHaveLength(1);
    expect(r.problems[0]).toMatchObject({ line: 2 });
    expect((await s.store.listHosts()).total).toBe(0);
  });
});
