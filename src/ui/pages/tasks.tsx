/** @jsxImportSource hono/jsx */
/**
 * Tasks: listed by state (refreshing by itself), assigned to hosts or a label,
 * cancelled, and each one's history of states and progress messages.
 */
import type { Hono } from 'hono';
import type { FC } from 'hono/jsx';
import { ACTIVE_TASK_STATES, TASK_STATES, type TaskEvent } from '../../db/schema.js';
import type { TaskView } from '../../tasks/store.js';
import { ConflictError, InvalidInputError, NotFoundError } from '../../errors.js';
import { field, flash, macPath, safeReturn, type Ui, type UiContext, type UiEnv } from '../context.js';
import { adminFieldErrors, parseList, type FieldErrors } from '../forms.js';
import { Badge, FormHead, page, Pager, PostButton, SelectField, TextArea, TextField, Time } from '../views/components.js';

const FILTERS = ['open', ...TASK_STATES, 'all'] as const;
type Filter = (typeof FILTERS)[number];
const PER = 50;
const POLL_MS = 2000;

function filterStates(f: Filter): string | undefined {
  if (f === 'all') return undefined;
  if (f === 'open') return ACTIVE_TASK_STATES.join(',');
  return f;
}

function readFilter(c: UiContext): { filter: Filter; page: number } {
  const s = c.req.query('state') ?? 'open';
  const filter = (FILTERS as readonly string[]).includes(s) ? (s as Filter) : 'open';
  const pageNo = Math.max(1, Number.parseInt(c.req.query('page') ?? '1', 10) || 1);
  return { filter, page: pageNo };
}

function listHref(ui: Ui, filter: Filter, pageNo = 1, fragment = false): string {
  const p = new URLSearchParams({ state: filter });
  if (pageNo > 1) p.set('page', String(pageNo));
  return `${ui.base}/tasks${fragment ? '/rows' : ''}?${p}`;
}

const TaskRows: FC<{ ui: Ui; csrf: string; tasks: TaskView[]; total: number; filter: Filter; pageNo: number; now: number }> = ({ ui, csrf, tasks, total, filter, pageNo, now }) => (
  <>
    <div class="table-wrap">
      <table class="tasks">
        <thead>
          <tr>
            <th scope="col" class="num">
              Task
            </th>
            <th scope="col">Host</th>
            <th scope="col">Profile</th>
            <th scope="col">State</th>
            <th scope="col">Attempt</th>
            <th scope="col">Last message</th>
            <th scope="col">Updated</th>
            <th scope="col">
              <span class="sr-only">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {tasks.length === 0 ? (
            <tr>
              <td colspan={8} class="empty">
                No {filter === 'all' ? '' : filter + ' '}tasks.
              </td>
            </tr>
          ) : (
            tasks.map((t) => (
              <tr data-task-id={String(t.id)}>
                <td class="num">
                  <a href={`${ui.base}/tasks/${t.id}`}>{t.id}</a>
                </td>
                <td>
                  <a href={`${ui.base}/hosts/${macPath(t.mac)}`} class="mono">
                    {t.mac}
                  </a>
                  {t.hostname ? <span class="muted"> {t.hostname}</span> : null}
                </td>
                <td>{t.profile}</td>
                <td>
                  <Badge value={t.state} />
                </td>
                <td>
                  {t.attempt} of {t.maxRetries + 1}
                </td>
                <td class="message">{t.message}</td>
                <td>
                  <Time at={t.updatedAt} now={now} />
                </td>
                <td>{(ACTIVE_TASK_STATES as string[]).includes(t.state) ? <PostButton action={`${ui.base}/tasks/${t.id}/cancel`} csrf={csrf} label="Cancel" confirm={`Cancel task ${t.id} for ${t.mac}?`} hidden={{ version: String(t.version), return: listHref(ui, filter, pageNo) }} /> : null}</td>
              </tr>
            ))
          )}
        </tbody>
      </table>
    </div>
    <Pager page={pageNo} pages={Math.max(1, Math.ceil(total / PER))} total={total} label="tasks" href={(p) => listHref(ui, filter, p)} />
  </>
);

const TaskDetail: FC<{ ui: Ui; csrf: string; t: TaskView; history: TaskEvent[] }> = ({ ui, csrf, t, history }) => (
  <>
    <dl class="facts card">
      <dt>State</dt>
      <dd>
        <Badge value={t.state} /> <span data-task-state>{t.state}</span>
      </dd>
      <dt>Host</dt>
      <dd>
        <a class="mono" href={`${ui.base}/hosts/${macPath(t.mac)}`}>
          {t.mac}
        </a>
        {t.hostname ? ` (${t.hostname})` : ''} · <a href={`${ui.base}/hosts/${macPath(t.mac)}/timeline`}>boot timeline</a>
      </dd>
      <dt>Profile</dt>
      <dd>{t.profile}</dd>
      <dt>Attempt</dt>
      <dd>
        {t.attempt} of {t.maxRetries + 1} (after a failure: {t.onFailure === 'retry' ? 'retry' : 'boot locally'})
      </dd>
      <dt>Last message</dt>
      <dd class="message" data-task-message>
        {t.message || <span class="muted">none</span>}
      </dd>
      <dt>Created</dt>
      <dd>
        <Time at={t.createdAt} />
      </dd>
      {t.notBefore ? (
        <>
          <dt>Not before</dt>
          <dd>
            <Time at={t.notBefore} />
          </dd>
        </>
      ) : null}
      {t.expiresAt ? (
        <>
          <dt>Expires</dt>
          <dd>
            <Time at={t.expiresAt} />
          </dd>
        </>
      ) : null}
      {t.comment ? (
        <>
          <dt>Comment</dt>
          <dd>{t.comment}</dd>
        </>
      ) : null}
      {t.batch ? (
        <>
          <dt>Batch</dt>
          <dd class="mono">{t.batch}</dd>
        </>
      ) : null}
    </dl>
    {(ACTIVE_TASK_STATES as string[]).includes(t.state) ? <PostButton action={`${ui.base}/tasks/${t.id}/cancel`} csrf={csrf} label="Cancel task" class="danger" confirm={`Cancel task ${t.id}?`} hidden={{ version: String(t.version), return: `${ui.base}/tasks/${t.id}` }} /> : null}
    <h2>History</h2>
    <ol class="history">
      {history.map((h) => (
        <li>
          <Time at={h.at} /> — <strong>{h.fromState ?? 'new'}</strong> → <Badge value={h.toState} /> <span class="muted">by {h.actor}</span>
          {h.message ? <span class="message">: {h.message}</span> : null}
        </li>
      ))}
    </ol>
  </>
);

export interface AssignValues {
  target: string;
  macs: string;
  label: string;
  profile: string;
  notBefore: string;
  expiresAt: string;
  onFailure: string;
  maxRetries: string;
  comment: string;
  replace: boolean;
}

const AssignForm: FC<{ ui: Ui; csrf: string; v: AssignValues; errors: FieldErrors; profiles: string[] }> = ({ ui, csrf, v, errors, profiles }) => (
  <form method="post" action={`${ui.base}/tasks/new`} class="stack" novalidate>
    <FormHead csrf={csrf} error={errors['']} />
    <SelectField name="profile" label="Boot into profile" value={v.profile} error={errors.profile} options={[['', '(choose a profile)'], ...profiles]} required />
    <fieldset class="field">
      <legend>Hosts</legend>
      <label class="check-label">
        <input type="radio" name="target" value="macs" checked={v.target !== 'label'} /> these MACs
      </label>
      <label class="check-label">
        <input type="radio" name="target" value="label" checked={v.target === 'label'} /> every host with a label
      </label>
      <TextArea name="macs" label="MAC addresses" value={v.macs} error={errors.macs} rows={3} hint="One per line or comma-separated" />
      <TextField name="label" label="Label" value={v.label} error={errors.label} />
    </fieldset>
    <div class="grid2">
      <TextField name="notBefore" label="Not before" type="datetime-local" value={v.notBefore} error={errors.notBefore} hint="Optional; server time" />
      <TextField name="expiresAt" label="Expires at" type="datetime-local" value={v.expiresAt} error={errors.expiresAt} hint="Optional" />
      <SelectField
        name="onFailure"
        label="After a failure"
        value={v.onFailure}
        error={errors.onFailure}
        options={[
          ['local', 'boot locally'],
          ['retry', 'retry'],
        ]}
      />
      <TextField name="maxRetries" label="Retries" value={v.maxRetries} error={errors.maxRetries} inputmode="numeric" />
    </div>
    <TextField name="comment" label="Comment" value={v.comment} error={errors.comment} />
    <label class="check-label">
      <input type="checkbox" name="replace" value="1" checked={v.replace} /> cancel a host's open task instead of refusing
    </label>
    <div class="actions">
      <button type="submit">Assign</button>
      <a href={`${ui.base}/tasks`}>Cancel</a>
    </div>
  </form>
);

function localTime(text: string): number | undefined | 'bad' {
  if (!text) return undefined;
  const t = new Date(text).getTime();
  return Number.isFinite(t) ? t : 'bad';
}

export function taskRoutes(app: Hono<UiEnv>, ui: Ui): void {
  const list = (filter: Filter, pageNo: number) => ui.admin.listTasks({ state: filterStates(filter), limit: PER, offset: (pageNo - 1) * PER });

  app.get('/tasks', async (c) => {
    const { filter, page: pageNo } = readFilter(c);
    const [counts, r] = await Promise.all([ui.q.taskCounts(), list(filter, pageNo)]);
    const csrf = c.get('ui').csrf;
    const count = (f: Filter) => (f === 'all' ? Object.values(counts).reduce((a, b) => a + b, 0) : f === 'open' ? ACTIVE_TASK_STATES.reduce((a, s) => a + (counts[s] ?? 0), 0) : (counts[f] ?? 0));
    return page(
      c,
      'Tasks',
      'tasks',
      <>
        <div class="toolbar">
          <nav aria-label="Task states" class="tabs">
            <ul>
              {FILTERS.map((f) => (
                <li>
                  <a href={listHref(ui, f)} aria-current={f === filter ? 'page' : undefined}>
                    {f} <span class="count">{count(f)}</span>
                  </a>
                </li>
              ))}
            </ul>
          </nav>
          <a class="button" href={`${ui.base}/tasks/new`}>
            Assign task
          </a>
        </div>
        <div class="live-bar">
          <button type="button" class="secondary small" data-poll-toggle="task-rows" aria-pressed="true">
            Auto-refresh on
          </button>
          <span class="muted small" data-poll-status="task-rows"></span>
        </div>
        <div id="task-rows" data-poll={listHref(ui, filter, pageNo, true)} data-interval={String(POLL_MS)}>
          <TaskRows ui={ui} csrf={csrf} tasks={r.tasks} total={r.total} filter={filter} pageNo={pageNo} now={ui.now()} />
        </div>
      </>,
    );
  });

  app.get('/tasks/rows', async (c) => {
    const { filter, page: pageNo } = readFilter(c);
    const r = await list(filter, pageNo);
    return c.html(<TaskRows ui={ui} csrf={c.get('ui').csrf} tasks={r.tasks} total={r.total} filter={filter} pageNo={pageNo} now={ui.now()} />);
  });

  const profiles = async () => (await ui.store.listProfiles()).map((p) => p.name);
  const blank = (mac = ''): AssignValues => ({ target: 'macs', macs: mac, label: '', profile: '', notBefore: '', expiresAt: '', onFailure: 'local', maxRetries: '0', comment: '', replace: false });
  const assignPage = async (c: UiContext, v: AssignValues, errors: FieldErrors, status: 200 | 400 | 404 | 409 = 200) =>
    page(c, 'Assign task', 'tasks', <AssignForm ui={ui} csrf={c.get('ui').csrf} v={v} errors={errors} profiles={await profiles()} />, status);

  app.get('/tasks/new', (c) => assignPage(c, blank(c.req.query('mac') ?? ''), {}));

  app.post('/tasks/new', async (c) => {
    const body = await c.req.parseBody();
    const v: AssignValues = {
      target: field(body, 'target') === 'label' ? 'label' : 'macs',
      macs: field(body, 'macs'),
      label: field(body, 'label').trim(),
      profile: field(body, 'profile'),
      notBefore: field(body, 'notBefore'),
      expiresAt: field(body, 'expiresAt'),
      onFailure: field(body, 'onFailure') || 'local',
      maxRetries: field(body, 'maxRetries').trim() || '0',
      comment: field(body, 'comment'),
      replace: field(body, 'replace') === '1',
    };
    const errors: FieldErrors = {};
    if (!v.profile) errors.profile = 'choose the profile the task boots';
    const macs = parseList(v.macs);
    if (v.target === 'macs' && !macs.length) errors.macs = 'give at least one MAC address';
    if (v.target === 'label' && !v.label) errors.label = 'give the label';
    const notBefore = localTime(v.notBefore);
    const expiresAt = localTime(v.expiresAt);
    if (notBefore === 'bad') errors.notBefore = 'not a date and time';
    if (expiresAt === 'bad') errors.expiresAt = 'not a date and time';
    if (!/^\d{1,2}$/.test(v.maxRetries)) errors.maxRetries = 'a whole number from 0 to 20';
    if (Object.keys(errors).length) return assignPage(c, v, errors, 400);
    const input: Record<string, unknown> = {
      profile: v.profile,
      ...(v.target === 'label' ? { label: v.label } : { macs }),
      ...(typeof notBefore === 'number' ? { notBefore } : {}),
      ...(typeof expiresAt === 'number' ? { expiresAt } : {}),
      onFailure: v.onFailure,
      maxRetries: Number(v.maxRetries),
      ...(v.comment ? { comment: v.comment } : {}),
      replace: v.replace,
    };
    try {
      const created = await ui.admin.assignTasks(input);
      flash(c, 'ok', `${created.length} task(s) assigned: ${v.profile}.`);
      return c.redirect(created.length === 1 ? `${ui.base}/tasks/${created[0]!.id}` : listHref(ui, 'open'), 303);
    } catch (e) {
      const found = adminFieldErrors(e, ['profile', 'macs', 'mac', 'label', 'notBefore', 'expiresAt', 'onFailure', 'maxRetries', 'comment']);
      if (!found) throw e;
      if (found.mac) found.macs = found.mac;
      if (e instanceof NotFoundError && /profile/.test(e.message)) found.profile = e.message;
      else if (e instanceof NotFoundError || e instanceof ConflictError) found[v.target === 'label' ? 'label' : 'macs'] = e.message;
      return assignPage(c, v, found, e instanceof ConflictError ? 409 : e instanceof NotFoundError ? 404 : 400);
    }
  });

  const detail = async (c: UiContext, id: number) => {
    const t = await ui.admin.getTask(id);
    return <TaskDetail ui={ui} csrf={c.get('ui').csrf} t={t} history={t.history} />;
  };

  app.get('/tasks/:id{[0-9]{1,12}}', async (c) => {
    const id = Number(c.req.param('id'));
    const inner = await detail(c, id);
    return page(
      c,
      `Task ${id}`,
      'tasks',
      <>
        <div class="live-bar">
          <button type="button" class="secondary small" data-poll-toggle="task-detail" aria-pressed="true">
            Auto-refresh on
          </button>
          <span class="muted small" data-poll-status="task-detail"></span>
        </div>
        <div id="task-detail" data-poll={`${ui.base}/tasks/${id}/fragment`} data-interval={String(POLL_MS)}>
          {inner}
        </div>
      </>,
    );
  });

  app.get('/tasks/:id{[0-9]{1,12}}/fragment', async (c) => c.html(await detail(c, Number(c.req.param('id')))));

  app.post('/tasks/:id{[0-9]{1,12}}/cancel', async (c) => {
    const id = Number(c.req.param('id'));
    const body = await c.req.parseBody();
    const back = safeReturn(ui.base, field(body, 'return'), `${ui.base}/tasks/${id}`);
    const versionText = field(body, 'version');
    try {
      await ui.admin.cancelTask(id, /^\d+$/.test(versionText) ? Number(versionText) : undefined);
      flash(c, 'ok', `Task ${id} cancelled.`);
    } catch (e) {
      if (!(e instanceof ConflictError || e instanceof InvalidInputError)) throw e;
      flash(c, 'error', `Task ${id} not cancelled: ${e.message}`);
    }
    return c.redirect(back, 303);
  });
}
