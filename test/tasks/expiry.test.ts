/**
 * Time-driven parts of tasks with a clock the test moves: expiry of tasks
 * served but never checked in, "not before" scheduling, expiry of unserved
 * tasks. And the standing menu of a host without work.
 */
import { describe, expect, it } from 'vitest';
import { makeStack } from '../helpers/services.js';
import { profileInputSchema } from '../../src/boot/profile.js';
import { TASK_RESERVE_GUARD_MS } from '../../src/boot/service.js';

async function stack() {
  let clock = 1_000_000;
  const s = await makeStack({ now: () => clock });
  await s.store.createProfile(profileInputSchema.parse({ name: 'wipe', kind: 'chain', url: 'http://10.9.9.9/wipe.ipxe', description: 'Wipe the disks' }));
  await s.store.createProfile(profileInputSchema.parse({ name: 'diag', kind: 'chain', url: 'http://10.9.9.9/diag.ipxe', description: 'Diagnostics' }));
  await s.store.createHost({ mac: '08:00:27:00:00:01' });
  const script = async () => (await s.app.request('/ipxe?mac=08:00:27:00:00:01')).text();
  return { ...s, script, tick: (ms: number) => (clock += ms), at: () => clock };
}

const limits = { checkinTimeoutMs: 60_000, runTimeoutMs: 3_600_000 };

describe('task timing', () => {
  it('expires a task that was served but never checked in, and the host boots locally again', async () => {
    const s = await stack();
    const [t] = await s.admin.assignTasks({ profile: 'wipe', mac: '08:00:27:00:00:01' });
    expect(await s.script()).toContain('wipe.ipxe');
    s.tick(59_000);
    expect(await s.tasks.sweep(limits)).toEqual([]);
    s.tick(1_000);
    const expired = await s.tasks.sweep(limits);
    expect(expired.map((x) => [x.id, x.state, x.message])).toEqual([[t!.id, 'expired', 'served but never checked in within 60 s']]);
    expect(await s.script()).toMatch(/^exit/m);
    expect((await s.tasks.history(t!.id)).map((h) => [h.toState, h.actor])).toEqual([
      ['pending', 'admin'],
      ['served', 'boot'],
      ['expired', 'sweeper'],
    ]);
  });

  it('hands a task out once within the re-serve guard, again after it (a reboot before check-in)', async () => {
    const s = await stack();
    const [t] = await s.admin.assignTasks({ profile: 'wipe', mac: '08:00:27:00:00:01' });
    expect(await s.script()).toContain('wipe.ipxe');
    // The same boot asking again at once (a retry, or its request reaching a second node): no task.
    s.tick(TASK_RESERVE_GUARD_MS - 1);
    expect(await s.script()).toMatch(/^exit/m);
    // A real reboot comes later: the task is handed out again.
    s.tick(1);
    expect(await s.script()).toContain('wipe.ipxe');
    expect((await s.tasks.history(t!.id)).map((h) => h.toState)).toEqual(['pending', 'served', 'served']);
    await s.events.flush();
    const summaries = (await s.store.listEvents({ mac: '08:00:27:00:00:01', kinds: ['script'] })).map((e) => e.result);
    expect(summaries.some((r) => r.includes(`task ${t!.id} was handed out ${TASK_RESERVE_GUARD_MS - 1} ms ago, not again`))).toBe(true);
  });

  it('waits for "not before", and expires an unserved task at its expiry', async () => {
    const s = await stack();
    const [t] = await s.admin.assignTasks({ profile: 'wipe', mac: '08:00:27:00:00:01', notBefore: s.at() + 10_000, expiresAt: s.at() + 20_000 });
    expect(await s.script()).toMatch(/^exit/m);
    s.tick(10_000);
    s.tick(10_000);
    // Past its expiry it no longer decides the boot even before the sweeper runs.
    expect(await s.script()).toMatch(/^exit/m);
    expect((await s.tasks.sweep(limits)).map((x) => x.id)).toEqual([t!.id]);
    expect((await s.tasks.get(t!.id)).message).toBe('not served before its expiry');
  });

  it('a scheduled task runs once its time has come', async () => {
    const s = await stack();
    await s.admin.assignTasks({ profile: 'wipe', mac: '08:00:27:00:00:01', notBefore: s.at() + 5_000 });
    expect(await s.script()).toMatch(/^exit/m);
    s.tick(5_000);
    expect(await s.script()).toContain('wipe.ipxe');
  });

  it('refuses bad assignments naming the field', async () => {
    const s = await stack();
    await expect(s.admin.assignTasks({ profile: 'wipe' })).rejects.toThrow(/exactly one of mac, macs or label/);
    await expect(s.admin.assignTasks({ profile: 'wipe', mac: '08:00:27:00:00:01', notBefore: 10, expiresAt: 5 })).rejects.toThrow(/expiresAt must be after notBefore/);
    await expect(s.admin.assignTasks({ profile: 'nosuch', mac: '08:00:27:00:00:01' })).rejects.toThrow(/profile "nosuch" does not exist/);
    await expect(s.admin.assignTasks({ profile: 'wipe', label: 'empty-room' })).rejects.toThrow(/no host has the label/);
    expect((await s.tasks.list()).total).toBe(0);
  });
});

describe('standing boot menu of a host without work', () => {
  it('always: a menu of the allowed profiles, defaulting to the standing boot', async () => {
    const s = await stack();
    await s.admin.updateHost('08:00:27:00:00:01', { profile: 'diag', menuMode: 'always', menuTimeout: 7, menuProfiles: ['wipe', 'diag'] });
    const body = await s.script();
    expect(body).toContain('item wipe Wipe the disks');
    expect(body).toContain('item diag Diagnostics');
    expect(body).toContain('choose --default diag --timeout 7000 target');
    expect(body).not.toContain('prompt');
    // The choice comes back and is honoured because it is on the host's list.
    expect(await (await s.app.request('/ipxe?mac=08:00:27:00:00:01&choice=wipe')).text()).toContain('wipe.ipxe');
  });

  it('key: only a key press within the timeout opens the menu; a task skips it', async () => {
    const s = await stack();
    await s.admin.updateHost('08:00:27:00:00:01', { menuMode: 'key', menuTimeout: 3, menuProfiles: ['diag'] });
    const body = await s.script();
    expect(body).toMatch(/^prompt --timeout 3000 .* && goto menu \|\| goto default$/m);
    // No standing profile: the default path is the local disk.
    expect(body).toMatch(/^:default\ngoto local$/m);
    await s.admin.assignTasks({ profile: 'wipe', mac: '08:00:27:00:00:01' });
    const withTask = await s.script();
    expect(withTask).toContain('wipe.ipxe');
    expect(withTask).not.toContain('prompt');
  });

  it('never: straight to the standing boot, and a choice off the list is ignored', async () => {
    const s = await stack();
    await s.admin.updateHost('08:00:27:00:00:01', { profile: 'diag', menuProfiles: ['wipe'] });
    expect(await s.script()).toContain('diag.ipxe');
    expect(await (await s.app.request('/ipxe?mac=08:00:27:00:00:01&choice=wipe')).text()).toContain('diag.ipxe');
  });

  it('refuses a menu naming a profile that does not exist', async () => {
    const s = await stack();
    await expect(s.admin.updateHost('08:00:27:00:00:01', { menuProfiles: ['ghost'] })).rejects.toThrow(/menuProfiles: profile\(s\) "ghost" do not exist/);
  });
});

describe('secrets in render errors', () => {
  it('a secret the template cannot write is not quoted in the error or the event log', async () => {
    const s = await stack();
    await s.admin.updateHost('08:00:27:00:00:01', { secrets: { share_password: { value: 'p%ss&word!', always: true } }, variables: { share: 'srv', share_user: 'deploy' } });
    const res = await s.app.request('/hosts/08:00:27:00:00:01/autorun.bat');
    expect(res.status).toBe(500);
    const text = await res.text();
    expect(text).toContain('<secret>');
    expect(text).not.toContain('p%ss');
    await s.events.flush();
    expect(JSON.stringify(await s.store.listEvents())).not.toContain('p%ss');
  });
});
