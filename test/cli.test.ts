/**
 * The built CLI against a fresh data directory: what an admin types.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, requireBuilt, run } from './helpers/process.js';
import { startPostgres, type PgCluster } from './helpers/postgres.js';

/** The CLI on SQLite in dataDir (a DATABASE_URL in the caller's environment would send it to PostgreSQL). */
function cli(dataDir: string, ...args: string[]) {
  return cliWith({ DATABASE_URL: '' }, dataDir, ...args);
}

function cliWith(env: Record<string, string>, dataDir: string, ...args: string[]) {
  return run(process.execPath, [CLI, ...args, '--data-dir', dataDir, '--base-url', 'http://10.0.0.5:8080'], { env });
}

describe('chainboot CLI', () => {
  requireBuilt();

  it('adds profiles and hosts, previews, and refuses bad input with exit code 2', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'chainboot-cli-'));
    const add = await cli(dir, 'profiles', 'add', 'centos-5.5-i386', '--kind', 'linux', '--kernel', 'centos55/vmlinuz', '--initrd', 'centos55/initrd.img', '--cmdline', 'ks=<%= it.urls.file("ks.cfg") %>');
    expect(add.stderr).toBe('');
    expect(add.code).toBe(0);
    expect((await cli(dir, 'hosts', 'add', '08-00-27-4D-4D-AA', '--hostname', 'web01', '--profile', 'centos-5.5-i386', '--var', 'timezone=UTC')).code).toBe(0);

    const list = await cli(dir, 'hosts', 'list');
    expect(list.stdout).toMatch(/08:00:27:4d:4d:aa\s+web01\s+centos-5\.5-i386/);

    const preview = await cli(dir, 'preview', '0800274d4daa');
    expect(preview.code).toBe(0);
    expect(preview.stdout).toContain('http://10.0.0.5:8080/assets/centos55/vmlinuz');
    expect(preview.stdout).toContain('ks=http://10.0.0.5:8080/hosts/08-00-27-4d-4d-aa/ks.cfg');

    const bad = await cli(dir, 'hosts', 'add', '08:00:27:4d:4d:ab', '--hostname', 'bad_name');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('hostname: not an RFC 1123 host name');

    const badKind = await cli(dir, 'profiles', 'add', 'x', '--kind', 'linux');
    expect(badKind.code).toBe(2);
    expect(badKind.stderr).toContain('kernel');

    const badSetting = await cli(dir, 'hosts', 'list', '--http-port', 'eighty');
    expect(badSetting.code).toBe(2);
    expect(badSetting.stderr).toContain('flag --http-port: "eighty" is not a port number');
  });

  it('imports host-os.conf all or nothing, reporting lines', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'chainboot-cli-'));
    await cli(dir, 'profiles', 'add', 'debian-12', '--kind', 'local');
    const badFile = join(dir, 'bad.conf');
    writeFileSync(badFile, '# lab\n08:00:27:4d:4d:aa, debian-12\n08:00:27:4d:4d:zz, debian-12\n08:00:27:4d:4d:ab, windows\n');
    const bad = await cli(dir, 'import', badFile);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(`${badFile}:3: "08:00:27:4d:4d:zz" is not a MAC address`);
    expect(bad.stderr).toContain(`${badFile}:4: profile "windows" does not exist`);
    expect((await cli(dir, 'hosts', 'list')).stdout).toBe('');

    const good = join(dir, 'good.conf');
    writeFileSync(good, '08:00:27:4d:4d:aa, debian-12\n08:00:27:4d:4d:ab, debian-12, web02\n');
    const ok = await cli(dir, 'import', good);
    expect(ok.stdout).toBe('imported: 2 added, 0 updated\n');
  });

  it('saves template versions, refuses a broken one, restores', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'chainboot-cli-'));
    const f = join(dir, 't.eta');
    writeFileSync(f, 'network --hostname=<%= it.vars.hostname %>\n');
    expect((await cli(dir, 'templates', 'save', 'kickstart/site.cfg', f)).stdout).toBe('saved kickstart/site.cfg version 1\n');
    writeFileSync(f, 'oops <%= it.vars.hostname\n');
    const broken = await cli(dir, 'templates', 'save', 'kickstart/site.cfg', f);
    expect(broken.code).toBe(2);
    expect(broken.stderr).toMatch(/template kickstart\/site\.cfg/);
    writeFileSync(f, 'second\n');
    await cli(dir, 'templates', 'save', 'kickstart/site.cfg', f);
    expect((await cli(dir, 'templates', 'restore', 'kickstart/site.cfg', '1')).stdout).toBe('restored: kickstart/site.cfg is now version 3\n');
    expect((await cli(dir, 'templates', 'show', 'kickstart/site.cfg')).stdout).toBe('network --hostname=<%= it.vars.hostname %>\n');
  });
});

describe('chainboot tasks', () => {
  it('assigns, lists, shows and cancels tasks; adopts and shows a timeline', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'chainboot-cli-'));
    await cli(dir, 'profiles', 'add', 'wipe', '--kind', 'chain', '--url', 'http://10.9.9.9/wipe.ipxe');
    for (const mac of ['08:00:27:00:00:01', '08:00:27:00:00:02']) await cli(dir, 'hosts', 'add', mac);
    await cli(dir, 'hosts', 'set', '08:00:27:00:00:01', '--label', 'room7', '--secret', 'root_password_hash=$6$x$y');
    await cli(dir, 'hosts', 'set', '08:00:27:00:00:02', '--label', 'room7');
    const shown = await cli(dir, 'hosts', 'show', '08:00:27:00:00:01');
    expect(shown.stdout).not.toContain('$6$x$y');
    expect(JSON.parse(shown.stdout).secrets).toEqual({ root_password_hash: { set: true, always: false } });

    const assign = await cli(dir, 'tasks', 'assign', '--label', 'room7', '--profile', 'wipe', '--comment', 'decommission');
    expect(assign.code).toBe(0);
    expect(assign.stdout).toMatch(/^task 1: 08:00:27:00:00:01 → wipe \(pending\)\ntask 2: 08:00:27:00:00:02 → wipe \(pending\)\n$/);
    const again = await cli(dir, 'tasks', 'assign', '08:00:27:00:00:01', '--profile', 'wipe');
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('already have an open task');

    expect((await cli(dir, 'tasks', 'cancel', '2')).stdout).toBe('task 2: cancelled\n');
    const list = await cli(dir, 'tasks', 'list', '--state', 'pending');
    expect(list.stdout.trim().split('\n')).toHaveLength(1);
    expect(JSON.parse((await cli(dir, 'tasks', 'show', '2')).stdout).history.map((h: { toState: string }) => h.toState)).toEqual(['pending', 'cancelled']);
    const timeline = await cli(dir, 'hosts', 'timeline', '08:00:27:00:00:02');
    expect(timeline.stdout).toMatch(/task 2 \(wipe\): new → pending/);
    expect(timeline.stdout).toMatch(/task 2 \(wipe\): pending → cancelled/);
  });
});

describe('chainboot with a DATABASE_URL', () => {
  it('refuses backup and restore under PostgreSQL, pointing to pg_dump, without opening any database', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'chainboot-cli-'));
    // Port 1 on loopback: nothing answers there, and nothing must try.
    const env = { DATABASE_URL: 'postgres://chainboot:hunter2@127.0.0.1:1/chainboot' };
    const backup = await cliWith(env, dir, 'backup', join(dir, 'copy.db'));
    expect(backup.code).toBe(2);
    expect(backup.stderr).toContain('backup copies the embedded SQLite database only');
    expect(backup.stderr).toContain('pg_dump');
    expect(backup.stderr).toContain('postgres://chainboot:***@127.0.0.1:1/chainboot');
    expect(backup.stderr).not.toContain('hunter2');
    const restore = await cliWith(env, dir, 'restore', join(dir, 'copy.db'));
    expect(restore.code).toBe(2);
    expect(restore.stderr).toContain('pg_restore');
    expect(restore.stderr).not.toContain('hunter2');
    expect(existsSync(join(dir, 'chainboot.db'))).toBe(false);
    expect(existsSync(join(dir, 'copy.db'))).toBe(false);
  });

  it('refuses a DATABASE_URL that is not postgres:// as a usage error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'chainboot-cli-'));
    const r = await cliWith({ DATABASE_URL: 'mysql://root:pw@127.0.0.1/chainboot' }, dir, 'hosts', 'list');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('DATABASE_URL must be a postgres:// or postgresql:// URL');
    expect(r.stderr).not.toContain(':pw@');
    expect(existsSync(join(dir, 'chainboot.db'))).toBe(false);
  });
});

describe('chainboot on PostgreSQL (DATABASE_URL)', () => {
  let cluster: PgCluster | undefined;
  let url: string;
  beforeAll(async () => {
    requireBuilt();
    cluster = startPostgres();
    url = await cluster.createDatabase('cli');
  });
  afterAll(() => cluster?.stop());

  it('keeps what the commands change in PostgreSQL, not in a SQLite file, and every command exits', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'chainboot-cli-'));
    const pg = (...args: string[]) => cliWith({ DATABASE_URL: url }, dir, ...args);
    expect((await pg('profiles', 'add', 'wipe', '--kind', 'chain', '--url', 'http://10.9.9.9/wipe.ipxe')).code).toBe(0);
    expect((await pg('hosts', 'add', '08:00:27:00:00:01', '--hostname', 'pg01')).code).toBe(0);
    expect((await pg('hosts', 'list')).stdout).toMatch(/08:00:27:00:00:01\s+pg01/);
    // A saved template is what the next command's render uses.
    const t = join(dir, 'local.ipxe');
    writeFileSync(t, '#!ipxe\necho from postgres <%= it.host.hostname %>\nexit\n');
    expect((await pg('templates', 'save', 'ipxe/local.ipxe', t)).stdout).toBe('saved ipxe/local.ipxe version 1\n');
    expect((await pg('preview', '08:00:27:00:00:01')).stdout).toBe('#!ipxe\necho from postgres pg01\nexit\n');
    expect((await pg('sites', 'add', 'branch', '--subnet', '10.20.0.0/16')).code).toBe(0);
    expect((await pg('sites', 'match', '10.20.3.4')).stdout).toBe('branch (client in 10.20.0.0/16)\n');
    expect((await pg('tasks', 'assign', '08:00:27:00:00:01', '--profile', 'wipe')).stdout).toBe('task 1: 08:00:27:00:00:01 → wipe (pending)\n');
    expect((await pg('tasks', 'list', '--state', 'pending')).stdout).toContain('wipe');
    expect(existsSync(join(dir, 'chainboot.db'))).toBe(false);
    // The same data directory without DATABASE_URL is a different, empty database.
    expect((await cli(dir, 'hosts', 'list')).stdout).toBe('');
  }, 90_000);
});
