import { describe, expect, it } from 'vitest';
import { makeStack } from '../helpers/services.js';
import { profileInputSchema } from '../../src/boot/profile.js';

describe('GET /ipxe', () => {
  it('registers an unknown MAC as discovered and boots it locally', async () => {
    const { app, store, events } = await makeStack();
    const res = await app.request('/ipxe?mac=08-00-27-AA-BB-CC&uuid=1234&serial=ABC%0Aecho');
    expect(res.status).toBe(200);
    const body = await res.text();
    expect(body.startsWith('#!ipxe\n')).toBe(true);
    expect(body).toMatch(/^exit/m);
    const host = await store.getHost('08:00:27:aa:bb:cc');
    expect(host).toMatchObject({ discovered: true, profile: null });
    await events.flush();
    // The control character in the reported serial is dropped at the door.
    expect((await store.getHost('08:00:27:aa:bb:cc'))!.facts).toEqual({ uuid: '1234', serial: 'ABCecho' });
  });

  it('gives unknown hosts the configured default profile', async () => {
    const { app, store } = await makeStack({ defaultProfile: 'inventory' });
    await store.createProfile(profileInputSchema.parse({ name: 'inventory', kind: 'chain', url: 'http://10.0.0.9/inventory.ipxe' }));
    const body = await (await app.request('/ipxe?mac=080027aabbcc')).text();
    expect(body).toContain('http://10.0.0.9/inventory.ipxe');
  });

  it.each(['08:00:27:4d:4d:aa', '08-00-27-4D-4D-AA', '0800274d4daa', '0800.274d.4daa'])('accepts the MAC form %s', async (mac) => {
    const { app, store } = await makeStack();
    await store.createProfile(profileInputSchema.parse({ name: 'p', kind: 'chain', url: 'http://10.0.0.9/x.ipxe' }));
    await store.createHost({ mac: '08:00:27:4d:4d:aa', profile: 'p' });
    expect(await (await app.request(`/ipxe?mac=${encodeURIComponent(mac)}`)).text()).toContain('http://10.0.0.9/x.ipxe');
  });

  it('answers a bad MAC with 400 so the entry script falls through', async () => {
    const { app } = await makeStack();
    const res = await app.request('/ipxe?mac=%0Achain%20http://evil');
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('"mac" must be a MAC address');
  });

  it('answers 500 with the reason when a template cannot render, and records it', async () => {
    const { app, store, admin, events } = await makeStack();
    await admin.saveTemplate('ipxe/local.ipxe', '#!ipxe\n<%= it.nothing.here %>\n');
    await store.createHost({ mac: '08:00:27:4d:4d:aa' });
    const res = await app.request('/ipxe?mac=08:00:27:4d:4d:aa');
    expect(res.status).toBe(500);
    expect(await res.text()).toContain('template ipxe/local.ipxe');
    await events.flush();
    expect((await store.listEvents({ mac: '08:00:27:4d:4d:aa' }))[0]).toMatchObject({ status: 500, kind: 'script' });
  });

  it('only honours a menu choice that is on the host\'s menu', async () => {
    const { app, store } = await makeStack();
    for (const name of ['a', 'b', 'secret']) await store.createProfile(profileInputSchema.parse({ name, kind: 'chain', url: `http://10.0.0.9/${name}.ipxe` }));
    await store.createProfile(profileInputSchema.parse({ name: 'm', kind: 'menu', entries: ['a', 'b'] }));
    await store.createHost({ mac: '08:00:27:4d:4d:aa', profile: 'm' });
    expect(await (await app.request('/ipxe?mac=08:00:27:4d:4d:aa&choice=b')).text()).toContain('http://10.0.0.9/b.ipxe');
    const sneaky = await (await app.request('/ipxe?mac=08:00:27:4d:4d:aa&choice=secret')).text();
    expect(sneaky).not.toContain('secret.ipxe');
    expect(sneaky).toMatch(/^menu /m);
  });
});

describe('GET /pxelinux.cfg/…', () => {
  it('answers 01-<mac> and default, 404 for the other names pxelinux tries', async () => {
    const { app, store } = await makeStack();
    await store.createProfile(profileInputSchema.parse({ name: 'winpe-iso', kind: 'memdisk-iso', iso: 'winpe/winpe.iso' }));
    await store.createHost({ mac: '08:00:27:4d:4d:aa', profile: 'winpe-iso' });
    const res = await app.request('/pxelinux.cfg/01-08-00-27-4d-4d-aa');
    expect(res.status).toBe(200);
    const cfg = await res.text();
    expect(cfg).toContain('http://10.0.0.5:8080/loaders/memdisk');
    expect(cfg).toContain('http://10.0.0.5:8080/assets/winpe/winpe.iso');
    expect((await app.request('/pxelinux.cfg/default')).status).toBe(200);
    expect((await app.request('/pxelinux.cfg/C0A80001')).status).toBe(404);
  });
});

describe('GET /hosts/<mac>/<file>', () => {
  it('renders per-host files and 404s unknown hosts and files', async () => {
    const { app, store } = await makeStack();
    await store.createHost({ mac: '08:00:27:4d:4d:aa', hostname: 'web01' });
    const ks = await app.request('/hosts/08-00-27-4d-4d-aa/ks.cfg');
    expect(ks.status).toBe(200);
    expect(await ks.text()).toContain('web01');
    expect((await app.request('/hosts/08-00-27-4d-4d-ab/ks.cfg')).status).toBe(404);
    const nofile = await app.request('/hosts/08-00-27-4d-4d-aa/shadow');
    expect(nofile.status).toBe(404);
    expect((await app.request('/hosts/08-00-27-4d-4d-aa/..%2f..%2fetc%2fpasswd')).status).toBe(400);
  });

  it('serves unattend.xml as XML', async () => {
    const { app, store } = await makeStack();
    await store.createHost({ mac: '08:00:27:4d:4d:aa', hostname: 'win01' });
    const res = await app.request('/hosts/08:00:27:4d:4d:aa/unattend.xml');
    expect(res.headers.get('content-type')).toContain('application/xml');
  });
});

// The static-file cases moved to test/http/assets.test.ts.

describe('MAC by client address', () => {
  it('remembers which MAC last booted from an address', async () => {
    const { boot } = await makeStack();
    expect(boot.macForIp('10.0.0.50')).toBeUndefined();
    await boot.script({ mac: '08:00:27:4d:4d:aa', client: {}, clientIp: '10.0.0.50', record: true });
    await boot.script({ mac: '08:00:27:4d:4d:ab', client: {}, clientIp: '10.0.0.51', record: true });
    // A preview records nothing and teaches nothing.
    await boot.script({ mac: '08:00:27:4d:4d:ac', client: {}, clientIp: '10.0.0.50', record: false });
    expect(boot.macForIp('10.0.0.50')).toBe('08:00:27:4d:4d:aa');
    expect(boot.macForIp('10.0.0.51')).toBe('08:00:27:4d:4d:ab');
  });
});
