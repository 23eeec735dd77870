/**
 * Unauthenticated boot endpoints: what iPXE, pxelinux and installers fetch.
 */
import { Hono, type Context } from 'hono';
import type { BootService, Rendered } from '../../boot/service.js';
import type { ClientFacts } from '../../render/context.js';
import { normalizeMac } from '../../boot/mac.js';
import { clientIp } from '../client-ip.js';

const FACT_KEYS = ['uuid', 'arch', 'platform', 'serial', 'manufacturer', 'product'] as const;

/**
 * What iPXE tells us about the machine. Untrusted: control characters are
 * dropped and lengths bounded here; templates escape them again on output.
 */
export function readFacts(c: Context): ClientFacts {
  const facts: ClientFacts = {};
  for (const k of FACT_KEYS) {
    const v = c.req.query(k);
    if (v) facts[k] = v.replace(/[\u0000-\u001f\u007f]/g, '').slice(0, 128);
  }
  return facts;
}

function send(c: Context, r: Rendered): Response {
  return c.body(r.body, r.status as 200, { 'Content-Type': r.contentType, 'Cache-Control': 'no-store' });
}

const TEXT = { 'Content-Type': 'text/plain; charset=utf-8' };

export function bootRoutes(boot: BootService): Hono {
  const app = new Hono();

  app.get('/boot.ipxe', async (c) => send(c, await boot.entry(clientIp(c))));

  app.get('/ipxe', async (c) => {
    const raw = c.req.query('mac') ?? '';
    const mac = normalizeMac(raw);
    if (!mac) {
      // iPXE treats a non-2xx answer as a failed chain, so the entry script's
      // "|| goto failed" path runs and the machine moves on to its next device.
      return c.body(`chainboot: "mac" must be a MAC address, got ${JSON.stringify(raw.slice(0, 40))}\n`, 400, TEXT);
    }
    const choice = c.req.query('choice') || undefined;
    if (choice !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$/.test(choice)) return c.body('chainboot: "choice" is not a profile name\n', 400, TEXT);
    return send(c, await boot.script({ mac, client: readFacts(c), clientIp: clientIp(c), choice, record: true }));
  });

  // pxelinux asks for pxelinux.cfg/<uuid>, 01-<mac>, the hex IP and its prefixes,
  // then "default": answer the MAC form and "default", 404 the rest quickly.
  app.get('/pxelinux.cfg/:name', async (c) => {
    const name = c.req.param('name');
    const m = /^01-([0-9A-Fa-f]{2}(?:-[0-9A-Fa-f]{2}){5})$/.exec(name);
    if (m) {
      const mac = normalizeMac(m[1]!)!;
      return send(c, await boot.pxelinux({ mac, client: {}, clientIp: clientIp(c), record: true }));
    }
    if (name === 'default') return c.body('DEFAULT local\nPROMPT 0\nLABEL local\n  LOCALBOOT 0\n', 200, TEXT);
    return c.body('not found\n', 404, TEXT);
  });

  app.get('/hosts/:mac/:file', async (c) => {
    const mac = normalizeMac(c.req.param('mac'));
    if (!mac) return c.body('chainboot: not a MAC address\n', 400, TEXT);
    const file = c.req.param('file');
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(file)) return c.body('chainboot: bad file name\n', 400, TEXT);
    return send(c, await boot.file({ mac, client: {}, clientIp: clientIp(c), record: true }, file));
  });

  return app;
}
