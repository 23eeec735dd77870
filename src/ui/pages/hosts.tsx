/** @jsxImportSource hono/jsx */
/**
 * Hosts: the paged, sortable, searchable table with bulk actions; add, edit,
 * adopt and delete one host; import a host-os.conf file.
 */
import type { Hono } from 'hono';
import type { FC } from 'hono/jsx';
import { hostCreateSchema, hostPatchSchema, parseMac } from '../../admin.js';
import { describeZodError } from '../../validate.js';
import { parseHostOs } from '../../boot/import.js';
import { normalizeMac } from '../../boot/mac.js';
import type { HostView } from '../../db/store.js';
import { ConflictError, InvalidInputError, NotFoundError } from '../../errors.js';
import { field, fields, flash, macPath, safeReturn, type Ui, type UiContext, type UiEnv } from '../context.js';
import { adminFieldErrors, pairsText, parseList, parsePairs, zodFieldErrors, type FieldErrors } from '../forms.js';
import { HOST_SORTS, type HostRow, type HostSort } from '../queries.js';
import { Badge, Csrf, FieldError, FormHead, page, Pager, PostButton, SecretsFields, SelectField, TextArea, TextField, Time } from '../views/components.js';
import { sitePath } from './sites.js';

const PER_PAGE = [25, 50, 100, 200];
const SORT_LABELS: Record<HostSort, string> = {
  mac: 'MAC',
  hostname: 'Host name',
  profile: 'Profile',
  action: 'Default action',
  lastSeen: 'Last seen',
  task: 'Current task',
  status: 'Status',
};
const STATUS_LABELS: Record<HostRow['status'], string> = { ok: 'ok', failing: 'last step failed', discovered: 'discovered', new: 'never booted' };

interface ListQuery {
  q: string;
  sort: HostSort;
  dir: 'asc' | 'desc';
  page: number;
  per: number;
}

function listQuery(c: UiContext): ListQuery {
  const sort = (HOST_SORTS as readonly string[]).includes(c.req.query('sort') ?? '') ? (c.req.query('sort') as HostSort) : 'mac';
  const dir = c.req.query('dir') === 'desc' ? 'desc' : 'asc';
  const pageNo = Math.max(1, Math.min(1_000_000, Number.parseInt(c.req.query('page') ?? '1', 10) || 1));
  const perText = Number.parseInt(c.req.query('per') ?? '50', 10);
  const per = PER_PAGE.includes(perText) ? perText : 50;
  return { q: (c.req.query('q') ?? '').slice(0, 200), sort, dir, page: pageNo, per };
}

function listHref(base: string, q: ListQuery, change: Partial<ListQuery>): string {
  const v = { ...q, ...change };
  const p = new URLSearchParams();
  if (v.q) p.set('q', v.q);
  if (v.sort !== 'mac') p.set('sort', v.sort);
  if (v.dir !== 'asc') p.set('dir', v.dir);
  if (v.per !== 50) p.set('per', String(v.per));
  if (v.page !== 1) p.set('page', String(v.page));
  const s = p.toString();
  return `${base}/hosts${s ? '?' + s : ''}`;
}

/** What a host boots when it has no task, in words. */
export function defaultAction(h: { profile: string | null; profileKind: string | null; menuMode: string; dhcpMode: string }, defaultProfile?: string): string {
  const standing = h.profile ? `${h.profileKind ?? 'profile'} ${h.profile}` : defaultProfile ? `default profile ${defaultProfile}` : 'local disk';
  const menu = h.menuMode === 'always' ? `menu, then ${standing}` : h.menuMode === 'key' ? `${standing} (menu on key)` : standing;
  return h.dhcpMode === 'ignore' ? `${menu}; proxyDHCP ignores it` : menu;
}

const HostTable: FC<{ ui: Ui; rows: HostRow[]; q: ListQuery; now: number }> = ({ ui, rows, q, now }) => (
  <div class="table-wrap">
    <table class="hosts">
      <caption class="sr-only">Hosts, sorted by {SORT_LABELS[q.sort]} {q.dir === 'asc' ? 'ascending' : 'descending'}</caption>
      <thead>
        <tr>
          <th scope="col" class="check">
            <input type="checkbox" data-select-all aria-label="Select all hosts on this page" />
          </th>
          {HOST_SORTS.map((s) => {
            const active = q.sort === s;
            const next = active && q.dir === 'asc' ? 'desc' : 'asc';
            return (
              <th scope="col" aria-sort={active ? (q.dir === 'asc' ? 'ascending' : 'descending') : undefined}>
                <a href={listHref(ui.base, q, { sort: s, dir: next, page: 1 })}>
                  {SORT_LABELS[s]}
                  <span aria-hidden="true" class="sort-mark">
                    {active ? (q.dir === 'asc' ? ' ▲' : ' ▼') : ''}
                  </span>
                  <span class="sr-only">{active ? '' : ', sort'}</span>
                </a>
              </th>
            );
          })}
        </tr>
      </thead>
      <tbody>
        {rows.length === 0 ? (
          <tr>
            <td colspan={8} class="empty">
              No hosts{q.q ? ' match this search' : ' yet'}.
            </td>
          </tr>
        ) : (
          rows.map((h) => (
            <tr>
              <td class="check">
                <input type="checkbox" name="mac" value={h.mac} aria-label={`Select ${h.hostname ?? h.mac}`} />
              </td>
              <td class="mono">
                <a href={`${ui.base}/hosts/${macPath(h.mac)}`}>{h.mac}</a>
              </td>
              <td>{h.hostname ?? <span class="muted">—</span>}</td>
              <td>{h.profile ? <a href={`${ui.base}/profiles/${encodeURIComponent(h.profile)}`}>{h.profile}</a> : <span class="muted">none</span>}</td>
              <td>{defaultAction(h, ui.defaultProfile)}</td>
              <td>
                <Time at={h.lastSeen} now={now} />
              </td>
              <td>
                {h.taskId ? (
                  <a href={`${ui.base}/tasks/${h.taskId}`}>
                    <Badge value={h.taskState!} /> {h.taskProfile}
                  </a>
                ) : (
                  <span class="muted">none</span>
                )}
              </td>
              <td>
                <Badge value={h.status} label={STATUS_LABELS[h.status]} />
              </td>
            </tr>
          ))
        )}
      </tbody>
    </table>
  </div>
);

// ---- the add/edit form ------------------------------------------------------

export interface HostFormValues {
  mac: string;
  hostname: string;
  profile: string;
  labels: string;
  variables: string;
  notes: string;
  dhcpMode: string;
  menuMode: string;
  menuTimeout: string;
  menuProfiles: string[];
  version?: string;
  secretNames: string[];
  secretRemove: string[];
  secretName: string;
  secretAlways: boolean;
}

export function hostFormValues(h?: HostView): HostFormValues {
  return {
    mac: h?.mac ?? '',
    hostname: h?.hostname ?? '',
    profile: h?.profile ?? '',
    labels: (h?.labels ?? []).join(', '),
    variables: pairsText(h?.variables),
    notes: h?.notes ?? '',
    dhcpMode: h?.dhcpMode ?? 'follow',
    menuMode: h?.menuMode ?? 'never',
    menuTimeout: String(h?.menuTimeout ?? 5),
    menuProfiles: h?.menuProfiles ?? [],
    version: h ? String(h.version) : undefined,
    secretNames: Object.keys(h?.secrets ?? {}),
    secretRemove: [],
    secretName: '',
    secretAlways: false,
  };
}

const HostForm: FC<{ ui: Ui; csrf: string; action: string; v: HostFormValues; errors: FieldErrors; creating: boolean; profiles: string[] }> = ({ ui, csrf, action, v, errors, creating, profiles }) => (
  <form method="post" action={action} class="stack" novalidate>
    <FormHead csrf={csrf} version={v.version} error={errors['']} />
    <div class="grid2">
      {creating ? (
        <TextField name="mac" label="MAC address" value={v.mac} error={errors.mac} required autocomplete="off" hint="Any spelling: 08:00:27:4d:4d:aa, 08-00-27-4D-4D-AA, 0800.274d.4daa" />
      ) : (
        <TextField name="mac" label="MAC address" value={v.mac} readonly />
      )}
      <TextField name="hostname" label="Host name" value={v.hostname} error={errors.hostname} autocomplete="off" hint="Optional; RFC 1123" />
      <SelectField name="profile" label="Standing profile" value={v.profile} error={errors.profile} options={[['', ui.defaultProfile ? `(none: default profile ${ui.defaultProfile})` : '(none: local disk)'], ...profiles]} />
      <TextField name="labels" label="Labels" value={v.labels} error={errors.labels} hint="Comma-separated, e.g. lab3, rack-12" />
      <SelectField
        name="dhcpMode"
        label="proxyDHCP"
        value={v.dhcpMode}
        error={errors.dhcpMode}
        options={[
          ['follow', 'follow: loader, then HTTP per profile'],
          ['loader', 'loader: always the loader'],
          ['ignore', 'ignore: never answered'],
        ]}
      />
      <SelectField
        name="menuMode"
        label="Boot menu"
        value={v.menuMode}
        error={errors.menuMode}
        options={[
          ['never', 'never'],
          ['always', 'always'],
          ['key', 'only when a key is pressed'],
        ]}
      />
      <TextField name="menuTimeout" label="Menu timeout (s)" value={v.menuTimeout} error={errors.menuTimeout} inputmode="numeric" />
    </div>
    <fieldset class={`field${errors.menuProfiles ? ' has-error' : ''}`} aria-describedby={errors.menuProfiles ? 'menuProfiles-error' : undefined}>
      <legend>Menu profiles</legend>
      {profiles.length ? (
        <div class="checks">
          {profiles.map((p) => (
            <label class="check-label">
              <input type="checkbox" name="menuProfiles" value={p} checked={v.menuProfiles.includes(p)} /> {p}
            </label>
          ))}
        </div>
      ) : (
        <p class="muted">No profiles yet.</p>
      )}
      <FieldError name="menuProfiles" error={errors.menuProfiles} />
    </fieldset>
    <TextArea name="variables" label="Variables" value={v.variables} error={errors.variables} rows={4} hint="One name=value per line; templates see them as it.vars" />
    <TextArea name="notes" label="Notes" value={v.notes} error={errors.notes} rows={2} />
    <SecretsFields v={v} errors={errors} hint="Values are never shown. They reach only this host's per-host files while a task is open (or always, if marked)." />
    <div class="actions">
      <button type="submit">{creating ? 'Add host' : 'Save changes'}</button>
      <a href={`${ui.base}/hosts`}>Cancel</a>
    </div>
  </form>
);

const KNOWN = ['mac', 'hostname', 'profile', 'labels', 'variables', 'notes', 'dhcpMode', 'menuMode', 'menuTimeout', 'menuProfiles', 'secrets'];

function fieldOfPath(path: PropertyKey[]): string {
  const f = String(path[0] ?? '');
  if (f === 'secrets') return 'secret_name';
  return KNOWN.includes(f) ? f : '';
}

/** The form as API input, or per-field errors. */
export function readHostForm(body: Record<string, unknown>, creating: boolean): { v: HostFormValues; input?: Record<string, unknown>; version?: number; errors: FieldErrors } {
  const v: HostFormValues = {
    mac: field(body, 'mac').trim(),
    hostname: field(body, 'hostname').trim(),
    profile: field(body, 'profile'),
    labels: field(body, 'labels'),
    variables: field(body, 'variables'),
    notes: field(body, 'notes'),
    dhcpMode: field(body, 'dhcpMode') || 'follow',
    menuMode: field(body, 'menuMode') || 'never',
    menuTimeout: field(body, 'menuTimeout').trim(),
    menuProfiles: fields(body, 'menuProfiles'),
    version: field(body, 'version') || undefined,
    secretNames: [],
    secretRemove: fields(body, 'secret_remove'),
    secretName: field(body, 'secret_name').trim(),
    secretAlways: field(body, 'secret_always') === '1',
  };
  const errors: FieldErrors = {};
  const vars = parsePairs(v.variables, 'variables');
  if (vars.error) errors.variables = vars.error;
  let menuTimeout: number | undefined;
  if (v.menuTimeout !== '') {
    if (/^\d{1,6}$/.test(v.menuTimeout)) menuTimeout = Number(v.menuTimeout);
    else errors.menuTimeout = 'a whole number of seconds';
  }
  const secrets: Record<string, { value: string; always?: boolean } | null> = {};
  for (const n of v.secretRemove) secrets[n] = null;
  const secretValue = field(body, 'secret_value');
  if (v.secretName) {
    if (!secretValue) errors.secret_value = 'give the value of the new secret';
    else secrets[v.secretName] = { value: secretValue, ...(v.secretAlways ? { always: true } : {}) };
  } else if (secretValue) errors.secret_name = 'give the new secret a name';
  const input: Record<string, unknown> = {
    hostname: v.hostname === '' ? null : v.hostname,
    profile: v.profile,
    labels: parseList(v.labels),
    variables: vars.value,
    notes: v.notes,
    dhcpMode: v.dhcpMode,
    menuMode: v.menuMode,
    ...(menuTimeout !== undefined ? { menuTimeout } : {}),
    menuProfiles: v.menuProfiles,
    ...(Object.keys(secrets).length ? { secrets } : {}),
  };
  if (creating) input.mac = v.mac;
  const parsed = (creating ? hostCreateSchema : hostPatchSchema).safeParse(input);
  if (!parsed.success) Object.assign(errors, { ...zodFieldErrors(parsed.error, fieldOfPath), ...errors });
  const version = v.version && /^\d+$/.test(v.version) ? Number(v.version) : undefined;
  return Object.keys(errors).length ? { v, errors } : { v, input, version, errors };
}

// ---- import -----------------------------------------------------------------

interface ImportRow {
  line: number;
  text: string;
  outcome: 'add' | 'update' | 'error';
  message: string;
}

async function importReport(ui: Ui, text: string): Promise<{ rows: ImportRow[]; ok: boolean }> {
  const profiles = new Set((await ui.store.listProfiles()).map((p) => p.name));
  const { lines, problems } = parseHostOs(text, (n) => profiles.has(n));
  const raw = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const rows: ImportRow[] = [];
  // One query for every line's host, not a round trip per line.
  const known = await ui.q.hostProfiles(lines.map((l) => l.mac));
  for (const l of lines) {
    const existing = known.has(l.mac) ? { profile: known.get(l.mac) ?? null } : undefined;
    rows.push({
      line: l.line,
      text: raw[l.line - 1] ?? '',
      outcome: existing ? 'update' : 'add',
      message: existing
        ? `update ${l.mac}: profile ${existing.profile ?? '(none)'} → ${l.profile}${l.hostname ? `, host name ${l.hostname}` : ''}`
        : `add ${l.mac} with profile ${l.profile}${l.hostname ? `, host name ${l.hostname}` : ''}`,
    });
  }
  for (const p of problems) rows.push({ line: p.line, text: p.text, outcome: 'error', message: p.message });
  rows.sort((a, b) => a.line - b.line);
  return { rows, ok: problems.length === 0 && lines.length > 0 };
}

const ImportPage: FC<{ ui: Ui; csrf: string; text: string; report?: { rows: ImportRow[]; ok: boolean; applied: boolean; checked: boolean } }> = ({ ui, csrf, text, report }) => (
  <>
    <p>
      One host per line: <code>MAC, profile[, hostname]</code>; <code>#</code> starts a comment. All lines are taken or none.
    </p>
    <form method="post" action={`${ui.base}/hosts/import`} enctype="multipart/form-data" class="stack">
      <Csrf token={csrf} />
      <div class="field">
        <label for="file">host-os.conf file</label>
        <input type="file" id="file" name="file" accept=".conf,.txt,text/plain" />
      </div>
      <TextArea name="text" label="…or paste its lines" value={text} rows={8} placeholder="08:00:27:4d:4d:aa, debian-12, web01" />
      <div class="actions">
        <button type="submit" name="mode" value="check" class="secondary">
          Check only
        </button>
        <button type="submit" name="mode" value="import">
          Import
        </button>
      </div>
    </form>
    {report ? (
      <section aria-labelledby="report-title">
        <h2 id="report-title">Report</h2>
        <p class={`flash ${report.ok ? 'ok' : 'error'}`} role={report.ok ? 'status' : 'alert'}>
          {report.ok
            ? report.applied
              ? `Imported: ${report.rows.filter((r) => r.outcome === 'add').length} added, ${report.rows.filter((r) => r.outcome === 'update').length} updated.`
              : `All ${report.rows.length} line(s) can be imported; nothing was written yet.`
            : report.rows.length === 0
              ? 'The file holds no host lines; nothing was imported.'
              : `${report.rows.filter((r) => r.outcome === 'error').length} line(s) cannot be taken; nothing was imported.`}
        </p>
        <div class="table-wrap">
          <table class="import-report">
            <thead>
              <tr>
                <th scope="col">Line</th>
                <th scope="col">Text</th>
                <th scope="col">Result</th>
              </tr>
            </thead>
            <tbody>
              {report.rows.map((r) => (
                <tr class={r.outcome === 'error' ? 'row-bad' : undefined}>
                  <td class="num">{r.line}</td>
                  <td class="mono">{r.text}</td>
                  <td>
                    <Badge value={r.outcome === 'error' ? 'failed' : 'done'} label={r.outcome} /> {r.message}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </section>
    ) : null}
  </>
);

// ---- bulk: standing profile -------------------------------------------------

/**
 * Sets (profile '' clears) the standing profile of these hosts, all or none.
 * The MACs and the profile name are checked as admin.updateHost checks them,
 * then the store's all-or-nothing import applies the change in one
 * transaction (each host updated as updateHost does it: a new version, a
 * discovered host becomes managed). The stores are awaited now, so a
 * transaction can no longer be wrapped around per-host admin calls.
 */
async function setStandingProfile(ui: Ui, macTexts: string[], profile: string): Promise<void> {
  const macs = [...new Set(macTexts.map((m) => parseMac(m)))];
  const checked = hostPatchSchema.safeParse({ profile });
  if (!checked.success) throw new InvalidInputError(`host: ${describeZodError(checked.error)}`);
  const { missing } = await ui.store.hostIdsFor({ macs });
  if (missing.length) throw new NotFoundError(`host ${missing[0]} does not exist`);
  await ui.store.importHosts(macs.map((mac, i) => ({ line: i + 1, mac, profile })));
}

// ---- routes -----------------------------------------------------------------

export function hostRoutes(app: Hono<UiEnv>, ui: Ui): void {
  const profileNames = async () => (await ui.store.listProfiles()).map((p) => p.name);

  app.get('/hosts', async (c) => {
    await ui.events?.flush();
    const q = listQuery(c);
    const first = await ui.q.hostsPage({ q: q.q, sort: q.sort, dir: q.dir, limit: q.per, offset: (q.page - 1) * q.per });
    const pages = Math.max(1, Math.ceil(first.total / q.per));
    // A page past the end (hosts were deleted meanwhile) shows the last one.
    const result = q.page > pages ? await ui.q.hostsPage({ q: q.q, sort: q.sort, dir: q.dir, limit: q.per, offset: (pages - 1) * q.per }) : first;
    if (q.page > pages) q.page = pages;
    const now = ui.now();
    const csrf = c.get('ui').csrf;
    const back = listHref(ui.base, q, {});
    const profiles = await profileNames();
    return page(
      c,
      'Hosts',
      'hosts',
      <>
        <div class="toolbar">
          <form method="get" action={`${ui.base}/hosts`} role="search" class="search">
            <label for="q">Search</label>
            <input type="search" id="q" name="q" value={q.q} placeholder="MAC, host name, profile, label, notes" />
            {q.sort !== 'mac' ? <input type="hidden" name="sort" value={q.sort} /> : null}
            {q.dir !== 'asc' ? <input type="hidden" name="dir" value={q.dir} /> : null}
            <label for="per">Per page</label>
            <select id="per" name="per">
              {PER_PAGE.map((n) => (
                <option value={String(n)} selected={n === q.per}>
                  {n}
                </option>
              ))}
            </select>
            <button type="submit" class="secondary">
              Search
            </button>
          </form>
          <div class="toolbar-links">
            <a class="button" href={`${ui.base}/hosts/new`}>
              Add host
            </a>
            <a class="button secondary" href={`${ui.base}/hosts/import`}>
              Import host-os.conf
            </a>
          </div>
        </div>
        <form method="post" action={`${ui.base}/hosts/bulk`} id="bulk" data-bulk>
          <Csrf token={csrf} />
          <input type="hidden" name="return" value={back} />
          <fieldset class="bulk">
            <legend>With the selected hosts</legend>
            <label for="bulk-profile">Profile</label>
            <select id="bulk-profile" name="profile">
              <option value="">(none)</option>
              {profiles.map((p) => (
                <option value={p}>{p}</option>
              ))}
            </select>
            <button type="submit" name="action" value="task">
              Assign task
            </button>
            <label class="check-label">
              <input type="checkbox" name="replace" value="1" /> replace open tasks
            </label>
            <button type="submit" name="action" value="profile" class="secondary">
              Set standing profile
            </button>
            <span class="muted" data-selected-count aria-live="polite">
              0 selected
            </span>
          </fieldset>
          <HostTable ui={ui} rows={result.rows} q={q} now={now} />
        </form>
        <Pager page={q.page} pages={pages} total={result.total} label="hosts" href={(p) => listHref(ui.base, q, { page: p })} />
      </>,
    );
  });

  app.post('/hosts/bulk', async (c) => {
    const body = await c.req.parseBody({ all: true });
    const back = safeReturn(ui.base, field(body, 'return'), `${ui.base}/hosts`);
    const macs = fields(body, 'mac');
    const profile = field(body, 'profile');
    const action = field(body, 'action');
    if (!macs.length) {
      flash(c, 'error', 'Select at least one host first.');
      return c.redirect(back, 303);
    }
    try {
      if (action === 'task') {
        if (!profile) throw new InvalidInputError('choose the profile the task boots');
        const created = await ui.admin.assignTasks({ profile, macs, replace: field(body, 'replace') === '1' });
        flash(c, 'ok', `Task "${profile}" assigned to ${created.length} host(s).`);
      } else if (action === 'profile') {
        await setStandingProfile(ui, macs, profile);
        flash(c, 'ok', profile ? `Standing profile of ${macs.length} host(s) set to "${profile}".` : `Standing profile of ${macs.length} host(s) cleared.`);
      } else throw new InvalidInputError('choose an action');
    } catch (e) {
      if (!(e instanceof InvalidInputError || e instanceof NotFoundError || e instanceof ConflictError)) throw e;
      flash(c, 'error', `Nothing was changed: ${e.message}`);
    }
    return c.redirect(back, 303);
  });

  const newForm = async (c: UiContext, v: HostFormValues, errors: FieldErrors, status: 200 | 400 | 409 = 200) =>
    page(c, 'Add host', 'hosts', <HostForm ui={ui} csrf={c.get('ui').csrf} action={`${ui.base}/hosts/new`} v={v} errors={errors} creating profiles={await profileNames()} />, status);

  app.get('/hosts/new', (c) => {
    const v = hostFormValues();
    const mac = normalizeMac(c.req.query('mac') ?? '');
    if (mac) v.mac = mac;
    return newForm(c, v, {});
  });

  app.post('/hosts/new', async (c) => {
    const body = await c.req.parseBody({ all: true });
    const r = readHostForm(body, true);
    if (!r.input) return newForm(c, r.v, r.errors, 400);
    try {
      const h = await ui.admin.addHost(r.input);
      flash(c, 'ok', `Host ${h.mac} added.`);
      return c.redirect(`${ui.base}/hosts/${macPath(h.mac)}`, 303);
    } catch (e) {
      const errors = adminFieldErrors(e, KNOWN);
      if (!errors) throw e;
      return newForm(c, r.v, errors, e instanceof ConflictError ? 409 : 400);
    }
  });

  app.get('/hosts/import', (c) => page(c, 'Import host-os.conf', 'hosts', <ImportPage ui={ui} csrf={c.get('ui').csrf} text="" />));

  app.post('/hosts/import', async (c) => {
    const body = await c.req.parseBody({ all: true });
    const file = body.file;
    const upload = file instanceof File && file.size > 0 ? file : undefined;
    if (upload && upload.size > 16 * 1024 * 1024) throw new InvalidInputError('file: larger than 16 MiB');
    const text = upload ? await upload.text() : field(body, 'text');
    const report = await importReport(ui, text);
    let applied = false;
    if (report.ok && field(body, 'mode') !== 'check') {
      const r = await ui.admin.importHostOs(text);
      applied = r.ok;
    }
    return page(c, 'Import host-os.conf', 'hosts', <ImportPage ui={ui} csrf={c.get('ui').csrf} text={upload ? '' : text} report={{ ...report, applied, checked: !applied }} />, report.ok ? 200 : 400);
  });

  const hostPage = async (c: UiContext, h: HostView, v: HostFormValues, errors: FieldErrors, status: 200 | 400 | 409 = 200) => {
    await ui.events?.flush();
    const fresh = (await ui.store.getHost(h.mac)) ?? h;
    const csrf = c.get('ui').csrf;
    const now = ui.now();
    const [task, lastIp, profiles] = await Promise.all([
      ui.tasks ? ui.tasks.openForHost(fresh.id) : undefined,
      // Its site, from the address it last asked from: the preview then renders as its next request would.
      ui.sites ? ui.q.lastClientIp(fresh.mac) : undefined,
      profileNames(),
    ]);
    const taskView = task && ui.tasks ? await ui.tasks.view(task.id) : undefined;
    const site = lastIp ? ui.sites?.directory.match({ client: lastIp }) : undefined;
    const preview = await ui.boot.script({ mac: fresh.mac, client: {}, clientIp: lastIp, record: false, preview: true });
    const facts = Object.entries(fresh.facts);
    return page(
      c,
      `Host ${fresh.hostname ?? fresh.mac}`,
      'hosts',
      <>
        <div class="toolbar-links">
          <a class="button secondary" href={`${ui.base}/hosts/${macPath(fresh.mac)}/timeline`}>
            Boot timeline
          </a>
          <a class="button secondary" href={`${ui.base}/tasks/new?mac=${encodeURIComponent(fresh.mac)}`}>
            Assign task
          </a>
          {fresh.discovered ? <PostButton action={`${ui.base}/hosts/${macPath(fresh.mac)}/adopt`} csrf={csrf} label="Adopt (manage this host)" class="primary" /> : null}
          <PostButton action={`${ui.base}/hosts/${macPath(fresh.mac)}/delete`} csrf={csrf} label="Delete host" class="danger" confirm={`Delete host ${fresh.mac}? Its tasks go with it.`} />
        </div>
        <section aria-labelledby="summary-title" class="card">
          <h2 id="summary-title">Summary</h2>
          <dl class="facts">
            <dt>MAC</dt>
            <dd class="mono">{fresh.mac}</dd>
            <dt>Status</dt>
            <dd>{fresh.discovered ? <Badge value="discovered" label="discovered (booted, not managed yet)" /> : <Badge value="ok" label="managed" />}</dd>
            <dt>First seen</dt>
            <dd>
              <Time at={fresh.firstSeen} />
            </dd>
            <dt>Last seen</dt>
            <dd>
              <Time at={fresh.lastSeen} now={now} />
            </dd>
            {ui.sites ? (
              <>
                <dt>Site</dt>
                <dd id="host-site">
                  {!lastIp ? (
                    <span class="muted">no address seen yet</span>
                  ) : site ? (
                    <>
                      <a href={sitePath(ui.base, site.site.name)}>{site.site.name}</a> <span class="muted">(last seen from {lastIp}; {site.by})</span>
                    </>
                  ) : (
                    <>
                      the centre's own network <span class="muted">(last seen from {lastIp})</span>
                    </>
                  )}
                </dd>
              </>
            ) : null}
            <dt>Current task</dt>
            <dd>
              {taskView ? (
                <>
                  <a href={`${ui.base}/tasks/${taskView.id}`}>
                    task {taskView.id}: {taskView.profile}
                  </a>{' '}
                  <Badge value={taskView.state} /> {taskView.message ? <span class="muted">{taskView.message}</span> : null}
                </>
              ) : (
                <span class="muted">none</span>
              )}
            </dd>
            <dt>Boots now</dt>
            <dd>
              {preview.summary} {preview.template ? <span class="muted">(template {preview.template})</span> : null}
            </dd>
            {facts.length ? (
              <>
                <dt>Reported by the client</dt>
                <dd>
                  {facts.map(([k, val]) => (
                    <span class="fact">
                      {k}: <code>{val}</code>
                    </span>
                  ))}
                </dd>
              </>
            ) : null}
          </dl>
          <details>
            <summary>The boot script it gets now</summary>
            <pre class="output">{preview.body}</pre>
          </details>
        </section>
        <section aria-labelledby="edit-title">
          <h2 id="edit-title">Settings</h2>
          <HostForm ui={ui} csrf={csrf} action={`${ui.base}/hosts/${macPath(fresh.mac)}`} v={v} errors={errors} creating={false} profiles={profiles} />
        </section>
      </>,
      status,
    );
  };

  app.get('/hosts/:mac', async (c) => {
    const h = await ui.admin.getHost(c.req.param('mac'));
    return hostPage(c, h, hostFormValues(h), {});
  });

  app.post('/hosts/:mac', async (c) => {
    const h = await ui.admin.getHost(c.req.param('mac'));
    const body = await c.req.parseBody({ all: true });
    const r = readHostForm(body, false);
    r.v.mac = h.mac;
    r.v.secretNames = Object.keys(h.secrets);
    if (!r.input) return hostPage(c, h, r.v, r.errors, 400);
    try {
      const saved = await ui.admin.updateHost(h.mac, r.input, r.version);
      flash(c, 'ok', `Host ${saved.mac} saved (version ${saved.version}).`);
      return c.redirect(`${ui.base}/hosts/${macPath(saved.mac)}`, 303);
    } catch (e) {
      const errors = adminFieldErrors(e, KNOWN);
      if (!errors) throw e;
      if (e instanceof ConflictError) errors[''] = `${e.message}. Your changes are below, not saved; open the host again to see the current settings.`;
      return hostPage(c, h, r.v, errors, e instanceof ConflictError ? 409 : 400);
    }
  });

  app.post('/hosts/:mac/adopt', async (c) => {
    const h = await ui.admin.adoptHost(c.req.param('mac'), {});
    flash(c, 'ok', `Host ${h.mac} is managed now.`);
    return c.redirect(`${ui.base}/hosts/${macPath(h.mac)}`, 303);
  });

  app.post('/hosts/:mac/delete', async (c) => {
    const h = await ui.admin.getHost(c.req.param('mac'));
    await ui.admin.removeHost(h.mac);
    flash(c, 'ok', `Host ${h.mac} deleted.`);
    return c.redirect(`${ui.base}/hosts`, 303);
  });
}
