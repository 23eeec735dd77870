/**
 * The data a template sees as `it`. URLs chainboot builds are Safe (already
 * checked, written as they are); everything that came from an admin or a client
 * is a plain string and gets the template's escaping on `<%= %>`.
 */
import type { Host, Profile } from '../db/schema.js';
import { macHyphen, macPlain } from '../boot/mac.js';
import { batch, ipxe, ipxeLabel, powershell, pxelinux, Safe, shell, xml, yaml } from './escape.js';

export interface ClientFacts {
  uuid?: string;
  arch?: string;
  platform?: string;
  serial?: string;
  manufacturer?: string;
  product?: string;
  ip?: string;
}

export interface UrlBuilder {
  base: Safe;
  entry: Safe;
  /** The per-host iPXE script, optionally for a menu choice. */
  script(choice?: string): Safe;
  /** /hosts/<mac>/<file> */
  file(name: string): Safe;
  /** An asset reference: a path under the asset root, or an http(s) URL as given. */
  asset(ref: string): Safe;
  /** A loader served over HTTP (lpxelinux.0, ldlinux.c32, memdisk, wimboot). */
  loader(name: string): Safe;
  pxelinuxConfig: Safe;
  pxelinuxPrefix: Safe;
}

/** Percent-encodes each path segment; keeps "/" between them. */
function encodePath(p: string): string {
  return p
    .split('/')
    .map((s) => encodeURIComponent(s))
    .join('/');
}

export interface AssetUrlOptions {
  /** Where big assets come from instead of <base>/assets (a site's cache or mirror). */
  assetBaseUrl?: string;
  /** The file's current version for ?v= (validator-carrying URLs), or null. */
  assetVersion?: (ref: string) => string | null;
}

export function urlBuilder(baseUrl: string, mac: string, assets: AssetUrlOptions = {}): UrlBuilder {
  const base = baseUrl.replace(/\/+$/, '');
  const assetBase = assets.assetBaseUrl ? assets.assetBaseUrl.replace(/\/+$/, '') : `${base}/assets`;
  const hy = macHyphen(mac);
  return {
    base: new Safe(base),
    entry: new Safe(`${base}/boot.ipxe`),
    script: (choice) => new Safe(`${base}/ipxe?mac=${hy}${choice ? `&choice=${encodeURIComponent(choice)}` : ''}`),
    file: (name) => new Safe(`${base}/hosts/${hy}/${encodeURIComponent(name)}`),
    asset: (ref) => {
      if (/^https?:\/\//i.test(ref)) {
        // Validated at the door (validate.ts checkAssetRef); checked again here
        // because this string is written raw into scripts.
        if (/[\s\u0000-\u001f\u007f$"'`\\]/.test(ref)) throw new Error(`asset URL ${JSON.stringify(ref)} contains characters a boot script cannot carry`);
        return new Safe(ref);
      }
      // The version is an entity tag (base64url characters only): safe in a URL as it is.
      const v = assets.assetVersion?.(ref);
      return new Safe(`${assetBase}/${encodePath(ref)}${v ? `?v=${v}` : ''}`);
    },
    loader: (name) => new Safe(`${base}/loaders/${encodeURIComponent(name)}`),
    pxelinuxConfig: new Safe(`${base}/pxelinux.cfg/01-${hy}`),
    pxelinuxPrefix: new Safe(`${base}/loaders/`),
  };
}

export interface RenderContext {
  server: { baseUrl: Safe };
  host: {
    mac: string;
    macHyphen: string;
    macPlain: string;
    hostname: string;
    known: boolean;
    variables: Record<string, string>;
  };
  profile: {
    name: string;
    kind: string;
    description: string;
    kernel: Safe | null;
    initrds: Safe[];
    /** File names of the initrds, for initrd=<name> on EFI. */
    initrdNames: string[];
    cmdline: string;
    options: Record<string, unknown>;
    files: Record<string, string>;
  } | null;
  /** Profile variables overlaid by host variables; hostname included. */
  vars: Record<string, string>;
  client: ClientFacts;
  urls: UrlBuilder;
  /** Escapers for writing a value into another language than the template's own. */
  esc: {
    ipxe: (v: unknown) => Safe;
    pxelinux: (v: unknown) => Safe;
    sh: (v: unknown) => Safe;
    yaml: (v: unknown) => Safe;
    xml: (v: unknown) => Safe;
    bat: (v: unknown) => Safe;
    ps: (v: unknown) => Safe;
  };
  /** iPXE display text (menus, echo): control characters and "$" removed. */
  label: (v: unknown) => Safe;
  /** Menu entries, for menu profiles and host menus. */
  menu?: { title: string; timeout: number; default: string; entries: { name: string; label: string }[]; mode?: 'always' | 'key' };
  /** The task this boot serves, with its callback URLs (the token is in them); null when there is none. */
  task: TaskContext | null;
  /** The site the request came from (by relay or client address); null on the centre's own network. */
  site: { name: string; description: string } | null;
  now: string;
}

export interface TaskContext {
  id: number;
  attempt: number;
  token: Safe;
  urls: {
    running: Safe;
    done: Safe;
    failed: Safe;
    /** Append a URL-encoded message: <%~ it.task.urls.progress %>copying%20image */
    progress: Safe;
  };
}

export function taskContext(baseUrl: string, id: number, attempt: number, token: string): TaskContext {
  const base = baseUrl.replace(/\/+$/, '');
  const u = (what: string, tail = '') => new Safe(`${base}/tasks/${id}/${what}?token=${encodeURIComponent(token)}${tail}`);
  return { id, attempt, token: new Safe(token), urls: { running: u('running'), done: u('done'), failed: u('failed'), progress: u('progress', '&message=') } };
}

const wrap = (f: (v: unknown) => string) => (v: unknown) => new Safe(f(v));
const ESC = {
  ipxe: wrap(ipxe),
  pxelinux: wrap(pxelinux),
  sh: wrap(shell),
  yaml: wrap(yaml),
  xml: wrap(xml),
  bat: wrap(batch),
  ps: wrap(powershell),
};

export function basename(ref: string): string {
  const path = ref.replace(/[?#].*$/, '');
  return path.slice(path.lastIndexOf('/') + 1);
}

export function buildContext(opts: {
  baseUrl: string;
  mac: string;
  host: Host | undefined;
  profile: Profile | undefined;
  client: ClientFacts;
  menuEntries?: Profile[];
  /** Secret variables to merge into vars (per-host files while a task is open). */
  secrets?: Record<string, string>;
  task?: TaskContext | null;
  site?: { name: string; description: string } | null;
  assets?: AssetUrlOptions;
  now?: Date;
}): RenderContext {
  const { host, profile } = opts;
  const urls = urlBuilder(opts.baseUrl, opts.mac, opts.assets);
  const hostname = host?.hostname ?? '';
  const vars: Record<string, string> = { ...(profile?.variables ?? {}), ...(host?.variables ?? {}), ...(opts.secrets ?? {}) };
  if (hostname) vars.hostname = hostname;
  const ctx: RenderContext = {
    server: { baseUrl: urls.base },
    host: {
      mac: opts.mac,
      macHyphen: macHyphen(opts.mac),
      macPlain: macPlain(opts.mac),
      hostname,
      known: !!host && !host.discovered,
      variables: host?.variables ?? {},
    },
    profile: profile
      ? {
          name: profile.name,
          kind: profile.kind,
          description: profile.description,
          kernel: profile.kernel ? urls.asset(profile.kernel) : null,
          initrds: profile.initrds.map((r) => urls.asset(r)),
          initrdNames: profile.initrds.map(basename),
          cmdline: profile.cmdline,
          options: profile.options,
          files: profile.files,
        }
      : null,
    vars,
    client: opts.client,
    urls,
    esc: ESC,
    label: ipxeLabel,
    task: opts.task ?? null,
    site: opts.site ?? null,
    now: (opts.now ?? new Date()).toISOString(),
  };
  if (profile?.kind === 'menu') {
    const byName = new Map((opts.menuEntries ?? []).map((p) => [p.name, p]));
    const names = (profile.options.entries as string[] | undefined) ?? [];
    ctx.menu = {
      title: String(profile.options.title ?? 'chainboot'),
      timeout: Number(profile.options.timeout ?? 10),
      default: String(profile.options.default ?? names[0] ?? ''),
      entries: names
        .filter((n) => byName.has(n))
        .map((n) => ({ name: n, label: byName.get(n)!.description || n })),
    };
  }
  return ctx;
}
