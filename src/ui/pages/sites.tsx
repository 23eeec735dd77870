/** @jsxImportSource hono/jsx */
/**
 * Sites: the list with an address lookup ("which site is 10.20.3.4 in?"),
 * and one form for adding, editing and deleting a site. Every check is the
 * site admin's (the same as the API's and the CLI's); its messages are placed
 * beside the field they name.
 *
 * A site is edited at /sites/NAME/edit rather than /sites/NAME, so that a site
 * called "new" does not collide with the add form.
 */
import type { Hono } from 'hono';
import type { FC } from 'hono/jsx';
import type { Site } from '../../db/schema.js';
import { parseIpv4 } from '../../dhcp/packet.js';
import { ConflictError, InvalidInputError, NotFoundError } from '../../errors.js';
import { LOADER_KEYS, LOCAL_DEFAULT, type SiteMatch } from '../../sites/model.js';
import { field, flash, type Ui, type UiContext, type UiEnv } from '../context.js';
import { parseList, type FieldErrors } from '../forms.js';
import { FormHead, page, PostButton, SelectField, TextArea, TextField } from '../views/components.js';

type LoaderKey = (typeof LOADER_KEYS)[number];

const LOADER_LABELS: Record<LoaderKey, string> = {
  bios: 'x86 BIOS',
  efi32: 'IA32 UEFI',
  efi64: 'x64 UEFI',
  arm32: 'ARM32 UEFI',
  arm64: 'ARM64 UEFI',
  riscv64: 'RISC-V 64 UEFI',
  loong64: 'LoongArch64 UEFI',
};

const MENU_OPTIONS: [string, string][] = [
  ['', "the server's setting"],
  ['never', 'never'],
  ['always', 'always'],
  ['onkey', 'only when a key is pressed'],
];

/** Where the UI asks for a site's pages: the edit form is the site's page. */
export function sitePath(base: string, name: string): string {
  return `${base}/sites/${encodeURIComponent(name)}/edit`;
}

/** A site's overrides of the server's settings, one short phrase each (the list's "Overrides" column). */
export function siteOverrides(s: Site): string[] {
  const out: string[] = [];
  if (s.bootBaseUrl) out.push(`boot URL ${s.bootBaseUrl}`);
  // In the families' own order, whatever order they were stored in.
  const loaders = LOADER_KEYS.filter((k) => s.loaders[k]).map((k) => `${k}=${s.loaders[k]}`);
  if (loaders.length) out.push(`loaders ${loaders.join(', ')}`);
  if (s.defaultProfile) out.push(s.defaultProfile === LOCAL_DEFAULT ? 'default: local disk' : `default profile ${s.defaultProfile}`);
  if (s.menuDisplay) out.push(`menu ${s.menuDisplay}`);
  return out;
}

// ---- the form ---------------------------------------------------------------

export interface SiteFormValues {
  name: string;
  description: string;
  subnets: string;
  relays: string;
  assetBaseUrl: string;
  bootBaseUrl: string;
  loaders: Record<LoaderKey, string>;
  defaultProfile: string;
  menuDisplay: string;
  version?: string;
}

const loaderField = (k: LoaderKey) => `loader_${k}`;

export function siteFormValues(s?: Site): SiteFormValues {
  const loaders = {} as Record<LoaderKey, string>;
  for (const k of LOADER_KEYS) loaders[k] = s?.loaders[k] ?? '';
  return {
    name: s?.name ?? '',
    description: s?.description ?? '',
    subnets: (s?.subnets ?? []).join('\n'),
    relays: (s?.relays ?? []).join('\n'),
    assetBaseUrl: s?.assetBaseUrl ?? '',
    bootBaseUrl: s?.bootBaseUrl ?? '',
    loaders,
    defaultProfile: s?.defaultProfile ?? '',
    menuDisplay: s?.menuDisplay ?? '',
    version: s ? String(s.version) : undefined,
  };
}

/** The form as site input (lists split on lines, commas or spaces; empty loaders left out); checking is the admin's. */
export function readSiteForm(body: Record<string, unknown>): { v: SiteFormValues; input: Record<string, unknown>; version?: number } {
  const loaders = {} as Record<LoaderKey, string>;
  for (const k of LOADER_KEYS) loaders[k] = field(body, loaderField(k)).trim();
  const v: SiteFormValues = {
    name: field(body, 'name').trim(),
    description: field(body, 'description').trim(),
    subnets: field(body, 'subnets'),
    relays: field(body, 'relays'),
    assetBaseUrl: field(body, 'assetBaseUrl').trim(),
    bootBaseUrl: field(body, 'bootBaseUrl').trim(),
    loaders,
    defaultProfile: field(body, 'defaultProfile'),
    menuDisplay: field(body, 'menuDisplay'),
    version: field(body, 'version') || undefined,
  };
  const input = {
    name: v.name,
    description: v.description,
    subnets: parseList(v.subnets),
    relays: parseList(v.relays),
    assetBaseUrl: v.assetBaseUrl,
    bootBaseUrl: v.bootBaseUrl,
    loaders: Object.fromEntries(LOADER_KEYS.filter((k) => loaders[k]).map((k) => [k, loaders[k]])),
    defaultProfile: v.defaultProfile,
    menuDisplay: v.menuDisplay,
  };
  const version = v.version && /^\d{1,9}$/.test(v.version) ? Number(v.version) : undefined;
  return { v, input, version };
}

const FIELDS = ['name', 'description', 'subnets', 'relays', 'assetBaseUrl', 'bootBaseUrl', 'defaultProfile', 'menuDisplay'];

/**
 * The site admin's refusal, placed by field. Its messages read "site: subnets.1: …;
 * loaders.efi64: …" (the definition) or "site NAME: relay 10.20.0.1 already
 * belongs to site "b"; defaultProfile: …" (checks against other rows).
 */
export function siteFieldErrors(err: unknown): FieldErrors | undefined {
  if (err instanceof ConflictError) return /already exists/.test(err.message) ? { name: err.message } : { '': err.message };
  if (err instanceof NotFoundError) return { '': err.message };
  if (!(err instanceof InvalidInputError)) return undefined;
  const out: FieldErrors = {};
  const add = (f: string, text: string) => (out[f] = out[f] ? `${out[f]}; ${text}` : text);
  for (const part of err.message.replace(/^site(?: [A-Za-z0-9._-]+)?: /, '').split('; ')) {
    const loader = /^loaders\.([a-z0-9]+): (.*)$/s.exec(part);
    const item = /^(subnets|relays)\.\d+: (.*)$/s.exec(part);
    const named = /^([A-Za-z]+): (.*)$/s.exec(part);
    if (loader && (LOADER_KEYS as readonly string[]).includes(loader[1]!)) add(loaderField(loader[1] as LoaderKey), loader[2]!);
    else if (item) add(item[1]!, item[2]!);
    else if (named && FIELDS.includes(named[1]!)) add(named[1]!, named[2]!);
    else if (/^relay /.test(part)) add('relays', part);
    else if (/^subnet /.test(part)) add('subnets', part);
    else add('', part);
  }
  return out;
}

const SiteForm: FC<{ ui: Ui; csrf: string; action: string; v: SiteFormValues; errors: FieldErrors; creating: boolean; profiles: string[] }> = ({ ui, csrf, action, v, errors, creating, profiles }) => {
  const profileOptions: [string, string][] = [
    ['', ui.defaultProfile ? `server default (${ui.defaultProfile})` : 'server default (local disk)'],
    [LOCAL_DEFAULT, 'local disk'],
    ...profiles.map((p): [string, string] => [p, p]),
  ];
  // What was sent stays selected, even a profile deleted meanwhile (its error says so).
  if (!profileOptions.some(([value]) => value === v.defaultProfile)) profileOptions.push([v.defaultProfile, `${v.defaultProfile} (not a profile)`]);
  return (
    <form method="post" action={action} class="stack" novalidate>
      <FormHead csrf={csrf} version={v.version} error={errors['']} />
      <div class="grid2">
        <TextField name="name" label="Name" value={v.name} error={errors.name} required autocomplete="off" hint={creating ? 'Letters, digits, . _ -' : 'Renaming keeps everything else'} />
        <TextField name="description" label="Description" value={v.description} error={errors.description} />
        <TextArea name="subnets" label="Subnets" value={v.subnets} error={errors.subnets} rows={3} placeholder="10.20.0.0/16" hint="The site's client subnets as CIDRs, one per line (or comma-separated)" />
        <TextArea name="relays" label="Relays" value={v.relays} error={errors.relays} rows={3} placeholder="10.20.0.1" hint="Addresses of the site's DHCP relays (IP helpers), one per line (or comma-separated)" />
        <TextField name="assetBaseUrl" label="Asset base URL" value={v.assetBaseUrl} error={errors.assetBaseUrl} type="url" placeholder="http://cache.site.example/assets" hint="A cache or mirror of /assets at the site; empty: fetched from the centre" />
        <TextField name="bootBaseUrl" label="Boot base URL" value={v.bootBaseUrl} error={errors.bootBaseUrl} type="url" hint="The centre's URL as this site's clients reach it; empty: the server's own" />
        <SelectField name="defaultProfile" label="Default profile" value={v.defaultProfile} error={errors.defaultProfile} options={profileOptions} hint="For the site's hosts that have no profile of their own" />
        <SelectField name="menuDisplay" label="PXE menu" value={v.menuDisplay} error={errors.menuDisplay} options={MENU_OPTIONS} />
      </div>
      <fieldset>
        <legend>Loaders</legend>
        <p class="hint">A file in the loader directory per firmware family (e.g. snponly.efi); empty: the server's loader.</p>
        <div class="grid4">
          {LOADER_KEYS.map((k) => (
            <TextField name={loaderField(k)} label={`${k} (${LOADER_LABELS[k]})`} value={v.loaders[k]} error={errors[loaderField(k)]} autocomplete="off" />
          ))}
        </div>
      </fieldset>
      <div class="actions">
        <button type="submit">{creating ? 'Add site' : 'Save site'}</button>
        <a href={`${ui.base}/sites`}>Cancel</a>
      </div>
    </form>
  );
};

// ---- the address lookup -----------------------------------------------------

interface Lookup {
  ip: string;
  relay: string;
  errors: FieldErrors;
  /** Set when the lookup ran: the match, or undefined for the centre's own network. */
  result?: { match: SiteMatch | undefined };
}

function lookup(ui: Ui, ip: string, relay: string): Lookup {
  const l: Lookup = { ip: ip.trim().slice(0, 100), relay: relay.trim().slice(0, 100), errors: {} };
  if (!l.ip && !l.relay) return l;
  if (l.ip && parseIpv4(l.ip) === null) l.errors.ip = `${l.ip} is not an IPv4 address`;
  if (l.relay && parseIpv4(l.relay) === null) l.errors.relay = `${l.relay} is not an IPv4 address`;
  if (Object.keys(l.errors).length === 0 && ui.sites) l.result = { match: ui.sites.directory.match({ client: l.ip || undefined, relay: l.relay || undefined }) };
  return l;
}

const LookupForm: FC<{ ui: Ui; l: Lookup }> = ({ ui, l }) => {
  const asked = l.ip ? `Address ${l.ip}${l.relay ? ` via relay ${l.relay}` : ''}` : `Relay ${l.relay}`;
  return (
    <section aria-labelledby="lookup-title" class="card">
      <h2 id="lookup-title">Which site is an address in?</h2>
      <form method="get" action={`${ui.base}/sites`} role="search" class="grid3">
        <TextField name="ip" label="Client address" value={l.ip} error={l.errors.ip} placeholder="10.20.3.4" inputmode="decimal" autocomplete="off" />
        <TextField name="relay" label="Relay address (giaddr)" value={l.relay} error={l.errors.relay} placeholder="10.20.0.1" inputmode="decimal" autocomplete="off" />
        <div class="align-end">
          <button type="submit" class="secondary">
            Look up
          </button>
        </div>
      </form>
      {l.result ? (
        <p role="status" id="lookup-result">
          {l.result.match ? (
            <>
              {asked}: site <a href={sitePath(ui.base, l.result.match.site.name)}>{l.result.match.site.name}</a> <span class="muted">(matched by {l.result.match.by})</span>
            </>
          ) : (
            <>{asked}: the centre's own network <span class="muted">(no site lists this relay or holds this address)</span></>
          )}
        </p>
      ) : null}
    </section>
  );
};

// ---- routes -----------------------------------------------------------------

export function siteRoutes(app: Hono<UiEnv>, ui: Ui): void {
  const sites = () => {
    if (!ui.sites) throw new NotFoundError('Sites are not available in this server.');
    return ui.sites;
  };
  const profileNames = async () => (await ui.store.listProfiles()).map((p) => p.name);

  app.get('/sites', async (c) => {
    const list = await sites().admin.list();
    const l = lookup(ui, c.req.query('ip') ?? '', c.req.query('relay') ?? '');
    return page(
      c,
      'Sites',
      'sites',
      <>
        <div class="toolbar-links">
          <a class="button" href={`${ui.base}/sites/new`}>
            Add site
          </a>
        </div>
        <LookupForm ui={ui} l={l} />
        <div class="table-wrap">
          <table class="sites">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Subnets</th>
                <th scope="col">Relays</th>
                <th scope="col">Assets from</th>
                <th scope="col">Overrides</th>
                <th scope="col">
                  <span class="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {list.length === 0 ? (
                <tr>
                  <td colspan={6} class="empty">
                    No sites yet: every client is on the centre's own network.
                  </td>
                </tr>
              ) : (
                list.map((s) => {
                  const overrides = siteOverrides(s);
                  return (
                    <tr data-site={s.name}>
                      <td>
                        <a href={sitePath(ui.base, s.name)}>{s.name}</a>
                        {s.description ? <div class="muted small">{s.description}</div> : null}
                      </td>
                      <td class="mono small">{s.subnets.length ? s.subnets.join(', ') : <span class="muted">none</span>}</td>
                      <td class="mono small">{s.relays.length ? s.relays.join(', ') : <span class="muted">none</span>}</td>
                      <td class="mono small">{s.assetBaseUrl || <span class="muted">centre</span>}</td>
                      <td class="small">{overrides.length ? overrides.join('; ') : <span class="muted">none</span>}</td>
                      <td>
                        <a href={sitePath(ui.base, s.name)} aria-label={`Edit site ${s.name}`}>
                          Edit
                        </a>
                      </td>
                    </tr>
                  );
                })
              )}
            </tbody>
          </table>
        </div>
      </>,
    );
  });

  const newForm = async (c: UiContext, v: SiteFormValues, errors: FieldErrors, status: 200 | 400 | 409 = 200) =>
    page(c, 'Add site', 'sites', <SiteForm ui={ui} csrf={c.get('ui').csrf} action={`${ui.base}/sites/new`} v={v} errors={errors} creating profiles={await profileNames()} />, status);

  app.get('/sites/new', (c) => {
    sites();
    return newForm(c, siteFormValues(), {});
  });

  app.post('/sites/new', async (c) => {
    const admin = sites().admin;
    const r = readSiteForm(await c.req.parseBody({ all: true }));
    try {
      const s = await admin.add(r.input);
      flash(c, 'ok', `Site "${s.name}" added.`);
      return c.redirect(sitePath(ui.base, s.name), 303);
    } catch (e) {
      const errors = siteFieldErrors(e);
      if (!errors) throw e;
      return newForm(c, r.v, errors, e instanceof ConflictError ? 409 : 400);
    }
  });

  const editPage = async (c: UiContext, s: Site, v: SiteFormValues, errors: FieldErrors, status: 200 | 400 | 409 = 200) =>
    page(
      c,
      `Site ${s.name}`,
      'sites',
      <>
        <div class="toolbar-links">
          <PostButton action={`${ui.base}/sites/${encodeURIComponent(s.name)}/delete`} csrf={c.get('ui').csrf} label="Delete site" class="danger" confirm={`Delete site ${s.name}? Its clients are then on the centre's own network.`} />
        </div>
        <SiteForm ui={ui} csrf={c.get('ui').csrf} action={sitePath(ui.base, s.name)} v={v} errors={errors} creating={false} profiles={await profileNames()} />
      </>,
      status,
    );

  app.get('/sites/:name', (c) => c.redirect(sitePath(ui.base, c.req.param('name')), 303));

  app.get('/sites/:name/edit', async (c) => {
    const s = await sites().admin.get(c.req.param('name'));
    return editPage(c, s, siteFormValues(s), {});
  });

  app.post('/sites/:name/edit', async (c) => {
    const admin = sites().admin;
    const s = await admin.get(c.req.param('name'));
    const r = readSiteForm(await c.req.parseBody({ all: true }));
    try {
      const saved = await admin.replace(s.name, r.input, r.version);
      flash(c, 'ok', `Site "${saved.name}" saved (version ${saved.version}).`);
      return c.redirect(sitePath(ui.base, saved.name), 303);
    } catch (e) {
      const errors = siteFieldErrors(e);
      if (!errors) throw e;
      if (e instanceof ConflictError && errors['']) errors[''] = `${errors['']}. Your changes are below, not saved; open the site again to see the current settings.`;
      return editPage(c, s, r.v, errors, e instanceof ConflictError ? 409 : 400);
    }
  });

  app.post('/sites/:name/delete', async (c) => {
    const name = c.req.param('name');
    try {
      await sites().admin.remove(name);
      flash(c, 'ok', `Site "${name}" deleted.`);
    } catch (e) {
      if (!(e instanceof NotFoundError)) throw e;
      flash(c, 'error', e.message);
    }
    return c.redirect(`${ui.base}/sites`, 303);
  });
}
