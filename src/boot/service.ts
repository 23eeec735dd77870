/**
 * The boot decisions as functions of (request → response text), shared by
 * the HTTP routes and the preview API. Recording is optional so a preview
 * shows exactly what the host would get, without side effects.
 */
import { decide, type BootPlan } from './decide.js';
import { buildContext, taskContext, type ClientFacts, type RenderContext } from '../render/context.js';
import { CONTENT_TYPES, Safe, targetFor, type Target } from '../render/escape.js';
import { TemplateError, TemplateNotFoundError, type Engine } from '../render/engine.js';
import type { AsyncStore, AsyncTaskStore } from '../db/backend.js';
import type { EventLog } from './events.js';
import type { Host, Profile, Task } from '../db/schema.js';
import { createBootCorrelator, type BootCorrelator } from '../metrics/boot-id.js';
import type { SiteDirectory } from '../sites/store.js';
import type { AssetVersions } from '../sites/asset-version.js';
import { LOCAL_DEFAULT, type SiteMatch } from '../sites/model.js';

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
  store: AsyncStore;
  engine: Engine;
  /**
   * Brings the engine's templates and the site list up to date before a
   * render (Backend.fresh: a no-op on SQLite, one query on PostgreSQL).
   */
  fresh?: () => Promise<void>;
  events?: EventLog;
  baseUrl: string;
  defaultProfile?: string;
  tasks?: AsyncTaskStore;
  /** Boot correlation ids (metrics/boot-id.ts); one is made when not given. */
  boots?: BootCorrelator;
  /** Sites: a request from a site's subnet gets the site's URLs and defaults. */
  sites?: SiteDirectory;
  /** Versions for validator-carrying asset URLs (?v=); none when not given. */
  assetVersion?: AssetVersions;
  /** The clock tasks are stamped with (tests move it). */
  now?: () => number;
}

/**
 * A task handed out less than this long ago is not handed out again: a
 * second request for it is the same boot asking twice (through another node
 * or a retry), not the machine rebooting before it checked in, which takes
 * longer than this even in a VM.
 */
export const TASK_RESERVE_GUARD_MS = 5000;

/** What was rendered for machines (previews not counted), for /metrics. */
export type RenderKind = 'script' | 'pxelinux' | 'file' | 'entry';
export type RenderStats = Record<RenderKind, { renders: number; errors: number }>;

export interface BootRequest {
  mac: string;
  client: ClientFacts;
  clientIp?: string;
  choice?: string;
  /** Record the boot event and register unknown hosts (false for previews). */
  record: boolean;
  /** An admin preview: secrets and task tokens are shown as placeholders. */
  preview?: boolean;
}

const TEXT = 'text/plain; charset=utf-8';

export type BootService = ReturnType<typeof createBootService>;

export function createBootService(deps: BootServiceDeps) {
  const { store, engine } = deps;
  const boots = deps.boots ?? createBootCorrelator();
  const renderStats: RenderStats = { script: { renders: 0, errors: 0 }, pxelinux: { renders: 0, errors: 0 }, file: { renders: 0, errors: 0 }, entry: { renders: 0, errors: 0 } };
  /** Counts a render that was served (not a preview); `r.template` is set only when a template was run. */
  function counted(kind: RenderKind, record: boolean, r: Rendered): void {
    if (!record || !r.template) return;
    const s = renderStats[kind];
    s.renders++;
    if (r.status >= 500) s.errors++;
  }

  function facts(c: ClientFacts): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(c)) if (v) out[k] = v;
    return out;
  }

  interface Lookup {
    host: Host | undefined;
    plan: BootPlan;
    site: SiteMatch | undefined;
    /** The host's open task (served or running, or pending and due) and its profile. */
    open?: { task: Task; profile: Profile };
    /** The profiles a menu may list (the host's own menu, a menu profile's entries), read ahead of the render. */
    menuProfiles: Map<string, Profile>;
    /** The plan had the host no task: what it gets when another request claimed the task first. */
    withoutTask: () => BootPlan;
  }

  function siteOf(clientIp: string | undefined): SiteMatch | undefined {
    return clientIp && deps.sites ? deps.sites.match({ client: clientIp }) : undefined;
  }

  /** The site's default profile ("-": the local disk), else the server's. */
  function defaultProfileName(site: SiteMatch | undefined): string | undefined {
    const own = site?.site.defaultProfile;
    if (own === LOCAL_DEFAULT) return undefined;
    return own || deps.defaultProfile || undefined;
  }

  /** The centre's URL as this request's site reaches it. */
  function baseUrlFor(site: SiteMatch | undefined): string {
    return site?.site.bootBaseUrl || deps.baseUrl;
  }

  async function lookup(req: BootRequest): Promise<Lookup> {
    const [, hp] = await Promise.all([deps.fresh?.(), store.hostAndProfile(req.mac)]);
    let { host } = hp;
    const { profile } = hp;
    if (!host && req.record) host = await store.discoverHost(req.mac, facts(req.client));
    const site = siteOf(req.clientIp);
    const defaultName = defaultProfileName(site);
    const [defaultProfile, choiceProfile, task] = await Promise.all([
      defaultName ? store.getProfile(defaultName) : undefined,
      req.choice ? store.getProfile(req.choice) : undefined,
      host && deps.tasks ? deps.tasks.activeForHost(host.id) : undefined,
    ]);
    const choice = req.choice ? { name: req.choice, profile: choiceProfile } : undefined;
    let open: Lookup['open'];
    if (task) {
      const tp = await store.getProfileById(task.profileId);
      if (tp) open = { task, profile: tp };
    }
    const inputs = { host, hostProfile: profile, defaultProfile, choice };
    const plan = decide({ ...inputs, task: open });
    const menuNames = (p: Profile | undefined) => (p?.kind === 'menu' ? ((p.options.entries as string[] | undefined) ?? []) : []);
    const names = new Set([...(host?.menuProfiles ?? []), ...[profile, defaultProfile, choiceProfile, open?.profile].flatMap(menuNames)]);
    const menuProfiles = new Map<string, Profile>();
    for (const p of await Promise.all([...names].map((n) => store.getProfile(n)))) if (p) menuProfiles.set(p.name, p);
    return { host, open, site, plan, menuProfiles, withoutTask: () => decide(inputs) };
  }

  /** Secret values a per-host file may carry now: while a task is open, or those marked always. */
  function secretsFor(req: BootRequest, host: Host, profile: Profile | undefined, taskOpen: boolean): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [k, v] of [...Object.entries(profile?.secrets ?? {}), ...Object.entries(host.secrets)]) {
      if (taskOpen || v.always) out[k] = req.preview ? '********' : v.value;
    }
    return out;
  }

  /** The task's callback token (a placeholder in previews). */
  async function tokenOf(req: BootRequest, task: Task | undefined): Promise<string | undefined> {
    if (!task || !deps.tasks) return undefined;
    return req.preview ? 'PREVIEW-TOKEN' : deps.tasks.tokenFor(task);
  }

  function context(
    req: BootRequest,
    look: { host: Host | undefined; site: SiteMatch | undefined; menuProfiles: Map<string, Profile> },
    profile: Profile | undefined,
    target: Target,
    extra: { task?: Task; token?: string; secrets?: Record<string, string>; hostMenu?: boolean } = {},
  ): RenderContext {
    const { host, site } = look;
    const baseUrl = baseUrlFor(site);
    const menuNames = extra.hostMenu && host ? host.menuProfiles : profile?.kind === 'menu' ? ((profile.options.entries as string[] | undefined) ?? []) : undefined;
    const menuEntries = menuNames?.map((n) => look.menuProfiles.get(n)).filter((p): p is Profile => !!p);
    const task = extra.task && extra.token !== undefined ? taskContext(baseUrl, extra.task.id, extra.task.attempt, extra.token) : null;
    const ctx = buildContext({
      baseUrl,
      mac: req.mac,
      host,
      profile,
      client: req.client,
      menuEntries,
      secrets: extra.secrets,
      task,
      site: site ? { name: site.site.name, description: site.site.description } : null,
      assets: { assetBaseUrl: site?.site.assetBaseUrl || undefined, assetVersion: deps.assetVersion },
    });
    if (extra.hostMenu && host) {
      // The host's own menu: its allowed profiles, defaulting to its standing boot.
      ctx.menu = {
        title: `chainboot: ${host.hostname ?? host.mac}`,
        timeout: host.menuTimeout,
        default: profile?.name ?? '',
        mode: host.menuMode === 'key' ? 'key' : 'always',
        entries: (menuEntries ?? []).map((p) => ({ name: p.name, label: p.description || p.name })),
      };
    }
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

  /** A render error can quote the value it refused: never let that be a secret (it goes to the event log). */
  function redact(r: Rendered, secrets: Record<string, string>): Rendered {
    let { body, summary } = r;
    for (const v of Object.values(secrets)) {
      if (v.length < 3) continue;
      for (const shown of [v, JSON.stringify(v), JSON.stringify(v.slice(0, 60)).slice(0, -1)]) {
        body = body.split(shown).join('<secret>');
        summary = summary.split(shown).join('<secret>');
      }
    }
    return { ...r, body, summary };
  }

  function failure(err: unknown, what: string): Rendered {
    if (err instanceof TemplateError || err instanceof TemplateNotFoundError) {
      return { status: 500, body: `chainboot: cannot render ${what}: ${err.message}\n`, contentType: TEXT, summary: `render error: ${err.message}` };
    }
    throw err;
  }

  /*
   * Which MAC last booted from which address (the correlator keeps it, also
   * learning it from DHCP): asset requests (kernels, WIMs) and TFTP carry no
   * MAC, so their boot events are tied to the host this way. Bounded.
   */
  function record(req: BootRequest, kind: string, request: string, r: Rendered, site?: SiteMatch): void {
    if (!req.record) return;
    const boot = boots.step(req.mac, req.clientIp);
    if (!deps.events) return;
    deps.events.record(
      {
        mac: req.mac,
        clientIp: req.clientIp ?? null,
        kind,
        request,
        result: r.summary,
        status: r.status,
        detail: r.template
          ? { boot, template: r.template, ...(req.choice ? { choice: req.choice } : {}), ...(site ? { site: site.site.name } : {}) }
          : site
            ? { boot, site: site.site.name }
            : { boot },
      },
      facts(req.client),
    );
  }

  function renderScript(req: BootRequest, look: Lookup, plan: BootPlan, token: string | undefined): Rendered {
    const { host } = look;
    const profile = plan.action === 'local' ? undefined : plan.profile;
    // A host's standing menu, unless it has work to do or came back with a choice.
    const hostMenu = plan.action !== 'task' && !req.choice && !!host && host.menuMode !== 'never' && host.menuProfiles.length > 0;
    const template = hostMenu ? 'ipxe/host-menu.ipxe' : profile ? profile.bootTemplate || `ipxe/${profile.kind}.ipxe` : 'ipxe/local.ipxe';
    try {
      const body = engine.render(template, context(req, look, profile, 'ipxe', { task: plan.action === 'task' ? plan.task : undefined, token, hostMenu }));
      const what = plan.action === 'local' ? `local (${plan.reason})` : `${profile!.kind} ${profile!.name} (${plan.reason})`;
      return { status: 200, body, contentType: TEXT, summary: hostMenu ? `host menu, default ${what}` : what, template, plan };
    } catch (err) {
      return { ...failure(err, `the boot script for ${req.mac}`), template, plan };
    }
  }

  return {
    /** The MAC that last fetched a boot script or file from this address, if any. */
    macForIp(ip: string | undefined): string | undefined {
      return boots.macForIp(ip);
    },

    /** Boot correlation ids: DHCP and TFTP are handed these (main.ts), HTTP uses them here and in app.ts. */
    boots,

    /** Renders served and render errors, by kind (read at scrape time). */
    renderStats: renderStats as Readonly<RenderStats>,

    /**
     * GET /ipxe: the per-host iPXE script. A task's script is rendered first
     * and then claimed (served, only from the version this request read): a
     * render error leaves the task pending, and of two requests for the same
     * task at the same moment, on this node or two, one gets the task and the
     * other the host's boot without it.
     */
    async script(req: BootRequest): Promise<Rendered> {
      const look = await lookup(req);
      let plan = look.plan;
      let note = '';
      if (plan.action === 'task' && req.record && plan.task.state === 'served' && plan.task.servedAt !== null) {
        const ago = (deps.now ?? Date.now)() - plan.task.servedAt;
        if (ago < TASK_RESERVE_GUARD_MS) {
          note = `; task ${plan.task.id} was handed out ${Math.max(0, ago)} ms ago, not again`;
          plan = look.withoutTask();
        }
      }
      const token = plan.action === 'task' ? await tokenOf(req, plan.task) : undefined;
      let r = renderScript(req, look, plan, token);
      if (plan.action === 'task' && r.status === 200 && req.record && deps.tasks) {
        const task = plan.task;
        if (!(await deps.tasks.claim(task))) {
          plan = look.withoutTask();
          r = renderScript(req, look, plan, undefined);
          r = { ...r, summary: `${r.summary}; task ${task.id} was handed out to a concurrent request` };
        }
      }
      if (note) r = { ...r, summary: r.summary + note };
      counted('script', req.record, r);
      record(req, 'script', req.choice ? `/ipxe choice=${req.choice}` : '/ipxe', r, look.site);
      return r;
    },

    /** GET /pxelinux.cfg/01-<mac>: a pxelinux config for this host. */
    async pxelinux(req: BootRequest): Promise<Rendered> {
      const look = await lookup(req);
      const { plan } = look;
      const profile = plan.action === 'local' ? undefined : plan.profile;
      const template = profile && ['linux', 'pxelinux', 'memdisk-iso'].includes(profile.kind) ? `pxelinux/${profile.kind}.cfg` : 'pxelinux/local.cfg';
      let r: Rendered;
      try {
        const body = engine.render(template, context(req, look, profile, 'pxelinux'));
        r = { status: 200, body, contentType: TEXT, summary: profile ? `${profile.kind} ${profile.name}` : `local (${plan.reason})`, template, plan };
      } catch (err) {
        r = { ...failure(err, `the pxelinux config for ${req.mac}`), template, plan };
      }
      counted('pxelinux', req.record, r);
      record(req, 'pxelinux', `/pxelinux.cfg/01-${req.mac.replace(/:/g, '-')}`, r, look.site);
      return r;
    },

    /** GET /hosts/<mac>/<file>: a per-host file (kickstart, autorun.bat …). */
    async file(req: BootRequest, file: string): Promise<Rendered> {
      const look = await lookup({ ...req, record: false });
      const { host, plan, open } = look;
      let r: Rendered;
      if (!host) {
        r = { status: 404, body: `chainboot: no host ${req.mac}\n`, contentType: TEXT, summary: 'unknown host' };
      } else {
        // While a task is open, its environment fetches the task profile's files (with the task's token and secrets).
        const profile = open ? open.profile : plan.action === 'local' ? undefined : plan.profile;
        const template = profile?.files[file] ?? DEFAULT_FILES[file];
        if (!template) {
          r = { status: 404, body: `chainboot: no file "${file}" for ${req.mac} (its profile offers: ${Object.keys({ ...DEFAULT_FILES, ...(profile?.files ?? {}) }).join(', ')})\n`, contentType: TEXT, summary: 'no such file' };
        } else {
          const target = targetFor(template);
          const secrets = secretsFor(req, host, profile, !!open);
          const token = await tokenOf(req, open?.task);
          try {
            const body = engine.render(template, context(req, look, profile, target, { task: open?.task, token, secrets }));
            r = { status: 200, body, contentType: CONTENT_TYPES[target], summary: `${template}${profile ? ` for ${profile.name}` : ''}${open ? ` (task ${open.task.id})` : ''}`, template };
          } catch (err) {
            r = { ...redact(failure(err, `${file} for ${req.mac}`), secrets), template };
          }
        }
      }
      counted('file', req.record, r);
      record(req, 'file', `/hosts/${req.mac.replace(/:/g, '-')}/${file}`, r, look.site);
      return r;
    },

    /** GET /boot.ipxe: the entry script every iPXE client is pointed at. */
    async entry(clientIp?: string): Promise<Rendered> {
      await deps.fresh?.();
      let r: Rendered;
      const site = siteOf(clientIp);
      const base = baseUrlFor(site);
      try {
        const body = engine.render('ipxe/boot.ipxe', { server: { baseUrl: new Safe(base) }, urls: { base: new Safe(base) }, site: site ? { name: site.site.name, description: site.site.description } : null });
        r = { status: 200, body, contentType: TEXT, summary: site ? `entry script (site ${site.site.name})` : 'entry script', template: 'ipxe/boot.ipxe' };
      } catch (err) {
        r = { ...failure(err, 'the entry script'), template: 'ipxe/boot.ipxe' };
      }
      counted('entry', true, r);
      if (deps.events) deps.events.record({ mac: null, clientIp: clientIp ?? null, kind: 'entry', request: '/boot.ipxe', result: r.summary, status: r.status, detail: clientIp ? { boot: boots.forIp(clientIp), ...(site ? { site: site.site.name } : {}) } : null });
      return r;
    },
  };
}
