/**
 * The boot decisions as functions of (request → response text), shared by
 * the HTTP routes and the preview API. Recording is optional so a preview
 * shows exactly what the host would get, without side effects.
 */
import { decide, type BootPlan } from './decide.js';
import { buildContext, type ClientFacts, type RenderContext } from '../render/context.js';
import { CONTENT_TYPES, Safe, targetFor, type Target } from '../render/escape.js';
import { TemplateError, TemplateNotFoundError, type Engine } from '../render/engine.js';
import type { Store } from '../db/store.js';
import type { EventLog } from './events.js';
import type { Host, Profile } from '../db/schema.js';

/** Files every host can fetch without its profile naming them. */
export const DEFAULT_FILES: Record<string, string> = {
  'ks.cfg': 'kickstart/rhel.cfg',
  'preseed.cfg': 'preseed/debian.cfg',
  'user-data': 'autoinstall/user-data.yaml',
  'meta-data': 'autoinstall/meta-data.yaml',
  'autorun.bat': 'winpe/autorun.bat',
  'startnet.cmd': 'winpe/startnet.cmd',
  'diskpart.txt': 'winpe/diskpart.txt',
  'unattend.xml': 'winpe/unattend.xml',
};

export interface Rendered {
  status: number;
  body: string;
  contentType: string;
  /** What was decided and which template made it, for events and previews. */
  summary: string;
  template?: string;
  plan?: BootPlan;
}

export interface BootServiceDeps {
  store: Store;
  engine: Engine;
  events?: EventLog;
  baseUrl: string;
  defaultProfile?: string;
}

export interface BootRequest {
  mac: string;
  client: ClientFacts;
  clientIp?: string;
  choice?: string;
  /** Record the boot event and register unknown hosts (false for previews). */
  record: boolean;
}

const TEXT = 'text/plain; charset=utf-8';

export type BootService = ReturnType<typeof createBootService>;

export function createBootService(deps: BootServiceDeps) {
  const { store, engine } = deps;

  function facts(c: ClientFacts): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(c)) if (v) out[k] = v;
    return out;
  }

  function lookup(req: BootRequest): { host: Host | undefined; plan: BootPlan } {
    let { host, profile } = store.hostAndProfile(req.mac);
    if (!host && req.record) host = store.discoverHost(req.mac, facts(req.client));
    const defaultProfile = deps.defaultProfile ? store.getProfile(deps.defaultProfile) : undefined;
    const choice = req.choice ? { name: req.choice, profile: store.getProfile(req.choice) } : undefined;
    return { host, plan: decide({ host, hostProfile: profile, defaultProfile, choice }) };
  }

  function context(req: BootRequest, host: Host | undefined, profile: Profile | undefined, target: Target): RenderContext {
    const menuEntries =
      profile?.kind === 'menu'
        ? ((profile.options.entries as string[] | undefined) ?? []).map((n) => store.getProfile(n)).filter((p): p is Profile => !!p)
        : undefined;
    const ctx = buildContext({ baseUrl: deps.baseUrl, mac: req.mac, host, profile, client: req.client, menuEntries });
    if (ctx.profile && ctx.profile.cmdline) {
      // The command line is itself a small template (it may name per-host URLs
      // or variables), rendered in the language of the file it is written
      // into, and only when a template reads it: a per-host file that never
      // prints it must not fail on a value only the command line uses.
      const source = ctx.profile.cmdline;
      let rendered: Safe | undefined;
      let rendering = false;
      Object.defineProperty(ctx.profile, 'cmdline', {
        enumerable: true,
        get: () => {
          if (rendering) throw new TemplateError('the profile cmdline refers to itself', 'profile cmdline');
          if (!rendered) {
            rendering = true;
            try {
              rendered = new Safe(engine.renderInline(target, source, ctx));
            } finally {
              rendering = false;
            }
          }
          return rendered;
        },
      });
    }
    return ctx;
  }

  function failure(err: unknown, what: string): Rendered {
    if (err instanceof TemplateError || err instanceof TemplateNotFoundError) {
      return { status: 500, body: `chainboot: cannot render ${what}: ${err.message}\n`, contentType: TEXT, summary: `render error: ${err.message}` };
    }
    throw err;
  }

  /*
   * Which MAC last booted from which address: asset requests (kernels, WIMs)
   * carry no MAC, so their boot events are tied to the host this way. Bounded;
   * the oldest entry goes first.
   */
  const macByIp = new Map<string, string>();
  function rememberIp(ip: string | undefined, mac: string): void {
    if (!ip) return;
    macByIp.delete(ip);
    macByIp.set(ip, mac);
    if (macByIp.size > 50_000) macByIp.delete(macByIp.keys().next().value!);
  }

  function record(req: BootRequest, kind: string, request: string, r: Rendered): void {
    if (!req.record || !deps.events) return;
    rememberIp(req.clientIp, req.mac);
    deps.events.record(
      {
        mac: req.mac,
        clientIp: req.clientIp ?? null,
        kind,
        request,
        result: r.summary,
        status: r.status,
        detail: r.template ? { template: r.template, ...(req.choice ? { choice: req.choice } : {}) } : null,
      },
      facts(req.client),
    );
  }

  return {
    /** The MAC that last fetched a boot script or file from this address, if any. */
    macForIp(ip: string | undefined): string | undefined {
      return ip ? macByIp.get(ip) : undefined;
    },

    /** GET /ipxe: the per-host iPXE script. */
    script(req: BootRequest): Rendered {
      const { host, plan } = lookup(req);
      let r: Rendered;
      const profile = plan.action === 'profile' ? plan.profile : undefined;
      const template = profile ? profile.bootTemplate || `ipxe/${profile.kind}.ipxe` : 'ipxe/local.ipxe';
      try {
        const body = engine.render(template, context(req, host, profile, 'ipxe'));
        r = { status: 200, body, contentType: TEXT, summary: plan.action === 'local' ? `local (${plan.reason})` : `${profile!.kind} ${profile!.name} (${plan.reason})`, template, plan };
      } catch (err) {
        r = { ...failure(err, `the boot script for ${req.mac}`), template, plan };
      }
      record(req, 'script', req.choice ? `/ipxe choice=${req.choice}` : '/ipxe', r);
      return r;
    },

    /** GET /pxelinux.cfg/01-<mac>: a pxelinux config for this host. */
    pxelinux(req: BootRequest): Rendered {
      const { host, plan } = lookup(req);
      const profile = plan.action === 'profile' ? plan.profile : undefined;
      const template = profile && ['linux', 'pxelinux', 'memdisk-iso'].includes(profile.kind) ? `pxelinux/${profile.kind}.cfg` : 'pxelinux/local.cfg';
      let r: Rendered;
      try {
        const body = engine.render(template, context(req, host, profile, 'pxelinux'));
        r = { status: 200, body, contentType: TEXT, summary: profile ? `${profile.kind} ${profile.name}` : `local (${plan.reason})`, template, plan };
      } catch (err) {
        r = { ...failure(err, `the pxelinux config for ${req.mac}`), template, plan };
      }
      record(req, 'pxelinux', `/pxelinux.cfg/01-${req.mac.replace(/:/g, '-')}`, r);
      return r;
    },

    /** GET /hosts/<mac>/<file>: a per-host file (kickstart, autorun.bat …). */
    file(req: BootRequest, file: string): Rendered {
      const { host, plan } = lookup({ ...req, record: false });
      let r: Rendered;
      if (!host) {
        r = { status: 404, body: `chainboot: no host ${req.mac}\n`, contentType: TEXT, summary: 'unknown host' };
      } else {
        const profile = plan.action === 'profile' ? plan.profile : undefined;
        const template = profile?.files[file] ?? DEFAULT_FILES[file];
        if (!template) {
          r = { status: 404, body: `chainboot: no file "${file}" for ${req.mac} (its profile offers: ${Object.keys({ ...DEFAULT_FILES, ...(profile?.files ?? {}) }).join(', ')})\n`, contentType: TEXT, summary: 'no such file' };
        } else {
          const target = targetFor(template);
          try {
            const body = engine.render(template, context(req, host, profile, target));
            r = { status: 200, body, contentType: CONTENT_TYPES[target], summary: `${template}${profile ? ` for ${profile.name}` : ''}`, template };
          } catch (err) {
            r = { ...failure(err, `${file} for ${req.mac}`), template };
          }
        }
      }
      record(req, 'file', `/hosts/${req.mac.replace(/:/g, '-')}/${file}`, r);
      return r;
    },

    /** GET /boot.ipxe: the entry script every iPXE client is pointed at. */
    entry(clientIp?: string): Rendered {
      try {
        const body = engine.render('ipxe/boot.ipxe', { server: { baseUrl: new Safe(deps.baseUrl) }, urls: { base: new Safe(deps.baseUrl) } });
        if (deps.events) deps.events.record({ mac: null, clientIp: clientIp ?? null, kind: 'entry', request: '/boot.ipxe', result: 'entry script', status: 200 });
        return { status: 200, body, contentType: TEXT, summary: 'entry script', template: 'ipxe/boot.ipxe' };
      } catch (err) {
        return failure(err, 'the entry script');
      }
    },
  };
}
