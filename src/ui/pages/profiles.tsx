/** @jsxImportSource hono/jsx */
/**
 * Profiles: the list, and one form whose fields follow the profile's kind.
 */
import type { Hono } from 'hono';
import type { Child, FC, PropsWithChildren } from 'hono/jsx';
import { profileInputSchema, profileToInput, PROFILE_KINDS } from '../../boot/profile.js';
import type { Profile } from '../../db/schema.js';
import { ConflictError, InvalidInputError, NotFoundError } from '../../errors.js';
import { field, fields, flash, type Ui, type UiContext, type UiEnv } from '../context.js';
import { adminFieldErrors, pairsText, parseLines, parseList, parsePairs, zodFieldErrors, type FieldErrors } from '../forms.js';
import { FieldError, FormHead, page, PostButton, SecretsFields, SelectField, TextArea, TextField } from '../views/components.js';

const KIND_HELP: Record<string, string> = {
  linux: 'kernel + initrds over HTTP',
  'memdisk-iso': 'an ISO through memdisk',
  wimboot: 'WinPE through wimboot',
  pxelinux: 'lpxelinux.0 over HTTP with a pxelinux config',
  chain: 'any iPXE script or EFI binary URL',
  local: 'the local disk',
  menu: 'an iPXE menu of other profiles',
};

export interface ProfileFormValues {
  name: string;
  kind: string;
  description: string;
  bootTemplate: string;
  files: string;
  variables: string;
  kernel: string;
  initrds: string;
  cmdline: string;
  iso: string;
  memdiskArgs: string;
  wimboot: string;
  bcd: string;
  bootSdi: string;
  bootWim: string;
  inject: string;
  url: string;
  method: string;
  title: string;
  entries: string[];
  timeout: string;
  default: string;
  secretNames: string[];
  secretRemove: string[];
  secretName: string;
  secretAlways: boolean;
}

export function profileFormValues(p?: Profile, kind = 'linux'): ProfileFormValues {
  const i = p ? profileToInput(p) : {};
  const s = (k: string) => (i[k] === undefined || i[k] === null ? '' : String(i[k]));
  return {
    name: s('name'),
    kind: p?.kind ?? kind,
    description: s('description'),
    bootTemplate: s('bootTemplate'),
    files: pairsText(i.files as Record<string, string> | undefined),
    variables: pairsText(i.variables as Record<string, string> | undefined),
    kernel: s('kernel'),
    initrds: ((i.initrds as string[] | undefined) ?? []).join('\n'),
    cmdline: s('cmdline'),
    iso: s('iso'),
    memdiskArgs: p ? s('memdiskArgs') : 'iso raw',
    wimboot: s('wimboot'),
    bcd: s('bcd'),
    bootSdi: s('bootSdi'),
    bootWim: s('bootWim'),
    inject: ((i.inject as string[] | undefined) ?? []).join(', '),
    url: s('url'),
    method: s('method') || 'exit',
    title: s('title'),
    entries: (i.entries as string[] | undefined) ?? [],
    timeout: s('timeout'),
    default: s('default'),
    secretNames: Object.keys(p?.secrets ?? {}),
    secretRemove: [],
    secretName: '',
    secretAlways: false,
  };
}

/** The form as profile input for its kind (other kinds' fields are ignored), or per-field errors. */
export function readProfileForm(body: Record<string, unknown>): { v: ProfileFormValues; input?: Record<string, unknown>; newSecrets: Record<string, { value: string; always?: boolean }>; errors: FieldErrors } {
  const v: ProfileFormValues = {
    name: field(body, 'name').trim(),
    kind: field(body, 'kind'),
    description: field(body, 'description'),
    bootTemplate: field(body, 'bootTemplate').trim(),
    files: field(body, 'files'),
    variables: field(body, 'variables'),
    kernel: field(body, 'kernel').trim(),
    initrds: field(body, 'initrds'),
    cmdline: field(body, 'cmdline'),
    iso: field(body, 'iso').trim(),
    memdiskArgs: field(body, 'memdiskArgs'),
    wimboot: field(body, 'wimboot').trim(),
    bcd: field(body, 'bcd').trim(),
    bootSdi: field(body, 'bootSdi').trim(),
    bootWim: field(body, 'bootWim').trim(),
    inject: field(body, 'inject'),
    url: field(body, 'url').trim(),
    method: field(body, 'method') || 'exit',
    title: field(body, 'title'),
    entries: fields(body, 'entries'),
    timeout: field(body, 'timeout').trim(),
    default: field(body, 'default'),
    secretNames: [],
    secretRemove: fields(body, 'secret_remove'),
    secretName: field(body, 'secret_name').trim(),
    secretAlways: field(body, 'secret_always') === '1',
  };
  const errors: FieldErrors = {};
  const files = parsePairs(v.files, 'files');
  if (files.error) errors.files = files.error;
  const vars = parsePairs(v.variables, 'variables');
  if (vars.error) errors.variables = vars.error;
  const input: Record<string, unknown> = {
    name: v.name,
    kind: v.kind,
    description: v.description,
    bootTemplate: v.bootTemplate,
    files: files.value,
    variables: vars.value,
  };
  switch (v.kind) {
    case 'linux':
    case 'pxelinux':
      Object.assign(input, { kernel: v.kernel, initrds: parseLines(v.initrds), cmdline: v.cmdline.trim() });
      break;
    case 'memdisk-iso':
      Object.assign(input, { iso: v.iso, ...(v.memdiskArgs.trim() ? { memdiskArgs: v.memdiskArgs.trim() } : {}) });
      break;
    case 'wimboot':
      Object.assign(input, { bcd: v.bcd, bootSdi: v.bootSdi, bootWim: v.bootWim, inject: parseList(v.inject), ...(v.wimboot ? { wimboot: v.wimboot } : {}) });
      break;
    case 'chain':
      input.url = v.url;
      break;
    case 'local':
      input.method = v.method;
      break;
    case 'menu': {
      Object.assign(input, { entries: v.entries, ...(v.title.trim() ? { title: v.title.trim() } : {}), ...(v.default ? { default: v.default } : {}) });
      if (v.timeout !== '') {
        if (/^\d{1,6}$/.test(v.timeout)) input.timeout = Number(v.timeout);
        else errors.timeout = 'a whole number of seconds';
      }
      break;
    }
    default:
      errors.kind = `choose one of ${PROFILE_KINDS.join(', ')}`;
  }
  const newSecrets: Record<string, { value: string; always?: boolean }> = {};
  const secretValue = field(body, 'secret_value');
  if (v.secretName) {
    if (!secretValue) errors.secret_value = 'give the value of the new secret';
    else newSecrets[v.secretName] = { value: secretValue, ...(v.secretAlways ? { always: true } : {}) };
  } else if (secretValue) errors.secret_name = 'give the new secret a name';
  const parsed = profileInputSchema.safeParse({ ...input, secrets: newSecrets });
  if (!parsed.success) {
    const found = zodFieldErrors(parsed.error, (path) => {
      const f = String(path[0] ?? '');
      return f === 'secrets' ? 'secret_name' : f in v ? f : '';
    });
    for (const [k, m] of Object.entries(found)) if (!errors[k]) errors[k] = m;
  }
  return Object.keys(errors).length ? { v, errors, newSecrets } : { v, input, newSecrets, errors };
}

const KNOWN = ['name', 'kind', 'description', 'bootTemplate', 'files', 'variables', 'kernel', 'initrds', 'cmdline', 'iso', 'memdiskArgs', 'wimboot', 'bcd', 'bootSdi', 'bootWim', 'inject', 'url', 'method', 'title', 'entries', 'timeout', 'default'];

const KindFields: FC<PropsWithChildren<{ kinds: string[] }>> = (p) => (
  <fieldset class="kind-fields" data-kind-fields={p.kinds.join(' ')}>
    <legend>{p.kinds.join(' / ')} settings</legend>
    {p.children}
  </fieldset>
);

const ProfileForm: FC<{ ui: Ui; csrf: string; action: string; v: ProfileFormValues; errors: FieldErrors; creating: boolean; others: string[]; templates: string[] }> = ({ ui, csrf, action, v, errors, creating, others, templates }) => (
  <form method="post" action={action} class="stack" novalidate>
    <FormHead csrf={csrf} error={errors['']} />
    <datalist id="template-names">
      {templates.map((t) => (
        <option value={t} />
      ))}
    </datalist>
    <div class="grid2">
      <TextField name="name" label="Name" value={v.name} error={errors.name} required hint={creating ? 'Letters, digits, . _ + -' : 'Renaming keeps the hosts that use it'} />
      <SelectField
        name="kind"
        label="Kind"
        value={v.kind}
        error={errors.kind}
        options={PROFILE_KINDS.map((k) => [k, `${k}: ${KIND_HELP[k]}`] as [string, string])}
        hint="The fields below follow the kind"
      />
      <TextField name="description" label="Description" value={v.description} error={errors.description} />
      <TextField name="bootTemplate" label="Boot template" value={v.bootTemplate} error={errors.bootTemplate} list="template-names" hint={`Empty: ipxe/${v.kind}.ipxe`} />
    </div>

    <KindFields kinds={['linux', 'pxelinux']}>
      <TextField name="kernel" label="Kernel" value={v.kernel} error={errors.kernel} hint="Path under the asset root (debian12/linux) or an http(s) URL" />
      <TextArea name="initrds" label="Initrds" value={v.initrds} error={errors.initrds} rows={3} hint="One per line" />
      <TextField name="cmdline" label="Kernel command line" value={v.cmdline} error={errors.cmdline} hint='A small template: inst.ks=<%= it.urls.file("ks.cfg") %>' />
    </KindFields>
    <KindFields kinds={['memdisk-iso']}>
      <TextField name="iso" label="ISO" value={v.iso} error={errors.iso} />
      <TextField name="memdiskArgs" label="memdisk arguments" value={v.memdiskArgs} error={errors.memdiskArgs} hint="Default: iso raw" />
    </KindFields>
    <KindFields kinds={['wimboot']}>
      <div class="grid2">
        <TextField name="bcd" label="BCD" value={v.bcd} error={errors.bcd} />
        <TextField name="bootSdi" label="boot.sdi" value={v.bootSdi} error={errors.bootSdi} />
        <TextField name="bootWim" label="boot.wim" value={v.bootWim} error={errors.bootWim} />
        <TextField name="wimboot" label="wimboot binary" value={v.wimboot} error={errors.wimboot} hint="Optional: the loader's wimboot by default" />
      </div>
      <TextField name="inject" label="Inject files" value={v.inject} error={errors.inject} hint="Per-host files put into X:\Windows\System32, comma-separated (startnet.cmd, autorun.bat)" />
    </KindFields>
    <KindFields kinds={['chain']}>
      <TextField name="url" label="URL" value={v.url} error={errors.url} type="url" />
    </KindFields>
    <KindFields kinds={['local']}>
      <SelectField
        name="method"
        label="Method"
        value={v.method}
        error={errors.method}
        options={[
          ['exit', 'exit: next boot device'],
          ['sanboot', 'sanboot: first hard disk'],
        ]}
      />
    </KindFields>
    <KindFields kinds={['menu']}>
      <div class="grid2">
        <TextField name="title" label="Title" value={v.title} error={errors.title} hint="Default: chainboot" />
        <TextField name="timeout" label="Timeout (s)" value={v.timeout} error={errors.timeout} inputmode="numeric" hint="Default: 10" />
      </div>
      <fieldset class={`field${errors.entries ? ' has-error' : ''}`}>
        <legend>Entries</legend>
        {others.length ? (
          <div class="checks">
            {others.map((p) => (
              <label class="check-label">
                <input type="checkbox" name="entries" value={p} checked={v.entries.includes(p)} /> {p}
              </label>
            ))}
          </div>
        ) : (
          <p class="muted">No other profiles yet.</p>
        )}
        <FieldError name="entries" error={errors.entries} />
      </fieldset>
      <SelectField name="default" label="Default entry" value={v.default} error={errors.default} options={[['', '(first entry)'], ...others]} />
    </KindFields>

    <TextArea name="files" label="Per-host files" value={v.files} error={errors.files} rows={3} hint="One file=template per line, e.g. ks.cfg=kickstart/rhel.cfg" />
    <TextArea name="variables" label="Variables" value={v.variables} error={errors.variables} rows={3} hint="One name=value per line" />
    <SecretsFields v={v} errors={errors} hint="Values are never shown; they reach per-host files only while a task is open (or always, if marked)." />
    <div class="actions">
      <button type="submit">{creating ? 'Add profile' : 'Save profile'}</button>
      <a href={`${ui.base}/profiles`}>Cancel</a>
    </div>
  </form>
);

export function profileRoutes(app: Hono<UiEnv>, ui: Ui): void {
  const templateNames = async () => (await ui.admin.listTemplates()).map((t) => t.name);
  const others = async (self: string) => (await ui.store.listProfiles()).filter((p) => p.name !== self && p.kind !== 'menu').map((p) => p.name);

  app.get('/profiles', async (c) => {
    const [profiles, used] = await Promise.all([ui.store.listProfiles(), ui.q.hostsPerProfile()]);
    return page(
      c,
      'Profiles',
      'profiles',
      <>
        <div class="toolbar-links">
          <a class="button" href={`${ui.base}/profiles/new`}>
            Add profile
          </a>
        </div>
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Kind</th>
                <th scope="col">Description</th>
                <th scope="col">Boots</th>
                <th scope="col">Files</th>
                <th scope="col" class="num">
                  Hosts
                </th>
              </tr>
            </thead>
            <tbody>
              {profiles.length === 0 ? (
                <tr>
                  <td colspan={6} class="empty">
                    No profiles yet.
                  </td>
                </tr>
              ) : (
                profiles.map((p) => (
                  <tr>
                    <td>
                      <a href={`${ui.base}/profiles/${encodeURIComponent(p.name)}`}>{p.name}</a>
                    </td>
                    <td>{p.kind}</td>
                    <td>{p.description}</td>
                    <td class="mono small">
                      {p.kind === 'linux' || p.kind === 'pxelinux' ? p.kernel : p.kind === 'chain' ? String(p.options.url ?? '') : p.kind === 'memdisk-iso' ? String(p.options.iso ?? '') : p.kind === 'menu' ? ((p.options.entries as string[] | undefined) ?? []).join(', ') : p.kind === 'wimboot' ? String(p.options.bootWim ?? '') : String(p.options.method ?? 'exit')}
                    </td>
                    <td class="mono small">{Object.keys(p.files).join(', ')}</td>
                    <td class="num">{used.get(p.id) ?? 0}</td>
                  </tr>
                ))
              )}
            </tbody>
          </table>
        </div>
      </>,
    );
  });

  const form = async (c: UiContext, title: string, action: string, v: ProfileFormValues, errors: FieldErrors, creating: boolean, self: string, status: 200 | 400 | 409 = 200, extra?: Child) => {
    const [otherNames, templates] = await Promise.all([others(self), templateNames()]);
    return page(
      c,
      title,
      'profiles',
      <>
        {extra}
        <ProfileForm ui={ui} csrf={c.get('ui').csrf} action={action} v={v} errors={errors} creating={creating} others={otherNames} templates={templates} />
      </>,
      status,
    );
  };

  app.get('/profiles/new', (c) => {
    const kind = c.req.query('kind') ?? 'linux';
    return form(c, 'Add profile', `${ui.base}/profiles/new`, profileFormValues(undefined, (PROFILE_KINDS as readonly string[]).includes(kind) ? kind : 'linux'), {}, true, '');
  });

  app.post('/profiles/new', async (c) => {
    const body = await c.req.parseBody({ all: true });
    const r = readProfileForm(body);
    if (!r.input) return form(c, 'Add profile', `${ui.base}/profiles/new`, r.v, r.errors, true, '', 400);
    try {
      const p = await ui.admin.addProfile({ ...r.input, secrets: r.newSecrets });
      flash(c, 'ok', `Profile "${p.name}" added.`);
      return c.redirect(`${ui.base}/profiles/${encodeURIComponent(p.name)}`, 303);
    } catch (e) {
      const errors = adminFieldErrors(e, KNOWN);
      if (!errors) throw e;
      if (e instanceof ConflictError) errors.name = e.message;
      return form(c, 'Add profile', `${ui.base}/profiles/new`, r.v, errors, true, '', e instanceof ConflictError ? 409 : 400);
    }
  });

  const editPage = (c: UiContext, p: Profile, v: ProfileFormValues, errors: FieldErrors, status: 200 | 400 | 409 = 200) =>
    form(
      c,
      `Profile ${p.name}`,
      `${ui.base}/profiles/${encodeURIComponent(p.name)}`,
      v,
      errors,
      false,
      p.name,
      status,
      <div class="toolbar-links">
        <a class="button secondary" href={`${ui.base}/hosts?q=${encodeURIComponent(p.name)}`}>
          Hosts using it
        </a>
        <PostButton action={`${ui.base}/profiles/${encodeURIComponent(p.name)}/delete`} csrf={c.get('ui').csrf} label="Delete profile" class="danger" confirm={`Delete profile ${p.name}?`} />
      </div>,
    );

  app.get('/profiles/:name', async (c) => {
    const p = await ui.admin.getProfile(c.req.param('name'));
    return editPage(c, p, profileFormValues(p), {});
  });

  app.post('/profiles/:name', async (c) => {
    const p = await ui.admin.getProfile(c.req.param('name'));
    const body = await c.req.parseBody({ all: true });
    const r = readProfileForm(body);
    r.v.secretNames = Object.keys(p.secrets);
    if (!r.input) return editPage(c, p, r.v, r.errors, 400);
    // The stored secret values travel server-side only: kept unless removed, new ones added.
    const secrets: Record<string, { value: string; always?: boolean }> = {};
    for (const [k, s] of Object.entries(p.secrets)) if (!r.v.secretRemove.includes(k)) secrets[k] = s;
    Object.assign(secrets, r.newSecrets);
    try {
      const saved = await ui.admin.replaceProfile(p.name, { ...r.input, secrets });
      flash(c, 'ok', `Profile "${saved.name}" saved.`);
      return c.redirect(`${ui.base}/profiles/${encodeURIComponent(saved.name)}`, 303);
    } catch (e) {
      const errors = adminFieldErrors(e, KNOWN);
      if (!errors) throw e;
      if (e instanceof ConflictError) errors.name = e.message;
      return editPage(c, p, r.v, errors, e instanceof ConflictError ? 409 : 400);
    }
  });

  app.post('/profiles/:name/delete', async (c) => {
    const name = c.req.param('name');
    try {
      await ui.admin.removeProfile(name);
      flash(c, 'ok', `Profile "${name}" deleted.`);
      return c.redirect(`${ui.base}/profiles`, 303);
    } catch (e) {
      if (!(e instanceof ConflictError || e instanceof NotFoundError || e instanceof InvalidInputError)) throw e;
      flash(c, 'error', e.message);
      return c.redirect(`${ui.base}/profiles/${encodeURIComponent(name)}`, 303);
    }
  });
}
