/** @jsxImportSource hono/jsx */
/**
 * Templates: the list, the editor with a live preview for a chosen host,
 * version history with a line diff, and restore.
 */
import type { Hono } from 'hono';
import type { FC } from 'hono/jsx';
import { targetFor } from '../../render/escape.js';
import { InvalidInputError, NotFoundError } from '../../errors.js';
import { templateNameSchema } from '../../validate.js';
import { field, flash, type Ui, type UiContext, type UiEnv } from '../context.js';
import { diffStats, hunks, lineDiff, splitLines } from '../diff.js';
import { fileNamesFor, preview, previewKind, resolveHost, type PreviewResult } from '../preview.js';
import { Badge, Csrf, page, PostButton, Time } from '../views/components.js';

function editHref(ui: Ui, name: string, mac?: string, file?: string): string {
  const p = new URLSearchParams({ name });
  if (mac) p.set('mac', mac);
  if (file) p.set('file', file);
  return `${ui.base}/templates/edit?${p}`;
}

function historyHref(ui: Ui, name: string, extra: Record<string, string> = {}): string {
  return `${ui.base}/templates/history?${new URLSearchParams({ name, ...extra })}`;
}

function checkName(name: string | undefined): string {
  const r = templateNameSchema.safeParse(name ?? '');
  if (!r.success) throw new InvalidInputError(`template name: ${r.error.issues[0]?.message ?? 'invalid'}`);
  return r.data;
}

/** The editor's text: browsers send a textarea's line ends as CRLF; scripts want LF (batch files get CRLF when rendered). */
function textOf(body: Record<string, unknown>): string {
  return field(body, 'body').replace(/\r\n?/g, '\n');
}

function gutter(body: string): string {
  const n = Math.max(1, body.split('\n').length);
  let out = '';
  for (let i = 1; i <= n; i++) out += i + '\n';
  return out;
}

/** The preview panel's content; also the fragment the editor's script fetches. */
export const PreviewOutput: FC<{ r: PreviewResult; name: string }> = ({ r, name }) => (
  <div class="preview-result" data-error-line={r.line !== undefined ? String(r.line) : undefined} data-preview-state={r.error ? 'error' : r.body !== undefined ? 'ok' : 'none'}>
    {r.hostLabel || r.template ? (
      <p class="preview-meta">
        {r.hostLabel ? <>For {r.hostLabel}</> : null}
        {r.file ? <> · file {r.file}</> : null}
        {r.template ? <> · from {r.template}</> : null}
        {r.status ? (
          <>
            {' '}
            · <Badge value={r.status >= 400 ? 'failed' : 'ok'} label={`HTTP ${r.status}`} />
          </>
        ) : null}
        {r.summary && !r.error ? <span class="muted"> · {r.summary}</span> : null}
      </p>
    ) : null}
    {r.notice ? <p class="notice">{r.notice}</p> : null}
    {r.error !== undefined ? (
      <div class="render-error" role="alert">
        <p>
          <strong>{r.line !== undefined ? `Render error on line ${r.line}` : 'Render error'}</strong>
          {r.usesDraft ? (r.template === name || r.template === undefined ? ' in this template' : '') : ` in ${r.template ?? 'another template'}`}
        </p>
        <pre class="output">{r.error}</pre>
      </div>
    ) : r.body !== undefined ? (
      <pre class="output" aria-label="Rendered output">
        {r.body}
      </pre>
    ) : null}
  </div>
);

interface EditorState {
  name: string;
  body: string;
  comment: string;
  who: string;
  file: string;
  saved: { version: number; source: string };
  error?: string;
  result: PreviewResult;
}

const EditorPage: FC<{ ui: Ui; csrf: string; s: EditorState; candidates: { mac: string; hostname: string | null }[]; files: string[] }> = ({ ui, csrf, s, candidates, files }) => {
  const kind = previewKind(s.name);
  return (
    <>
      <p class="subtitle">
        Language: <strong>{targetFor(s.name)}</strong> · {s.saved.source === 'saved' ? `saved version ${s.saved.version}` : 'shipped version (not changed here yet)'} ·{' '}
        <a href={historyHref(ui, s.name)}>History and diff</a>
      </p>
      {s.error ? (
        <p class="flash error" role="alert" id="save-error">
          {s.error}
        </p>
      ) : null}
      <div class="editor-layout">
        <form method="post" action={`${ui.base}/templates/save`} id="editor-form" class="stack" data-preview-url={`${ui.base}/templates/preview`}>
          <Csrf token={csrf} />
          <input type="hidden" name="name" value={s.name} />
          <div class="field">
            <label for="body">Template text</label>
            <div class="editor" data-editor data-lang={targetFor(s.name)}>
              <pre class="gutter" aria-hidden="true">
                {gutter(s.body)}
              </pre>
              <div class="code">
                <pre class="highlight" aria-hidden="true"></pre>
                <textarea id="body" name="body" spellcheck={false} wrap="off" autocapitalize="off" autocomplete="off" rows={24} aria-describedby="body-hint">
                  {s.body.startsWith('\n') ? '\n' + s.body : s.body}
                </textarea>
              </div>
            </div>
            <p class="hint" id="body-hint">
              Eta: <code>{'<%= value %>'}</code> escapes for this language, <code>{'<%~ url %>'}</code> writes raw, <code>{'<% code %>'}</code> runs. Tab moves to the next field.
            </p>
          </div>
          <div class="field">
            <label for="comment">Comment for this version</label>
            <input id="comment" name="comment" value={s.comment} maxlength={500} autocomplete="off" />
          </div>
          <label class="check-label">
            <input type="checkbox" name="force" value="1" /> save even if it fails to render for the preview host
          </label>
          <div class="actions">
            <button type="submit">Save as new version</button>
            <button type="submit" class="secondary" formaction={`${ui.base}/templates/edit`} data-no-js-only>
              Preview
            </button>
            <a href={`${ui.base}/templates`}>Back to templates</a>
          </div>
        </form>
        <section class="preview-panel" aria-labelledby="preview-title">
          <h2 id="preview-title">Live preview</h2>
          {kind === 'entry' ? (
            <p class="hint">The entry script is the same for every client.</p>
          ) : (
            <div class="grid2">
              <div class="field">
                <label for="preview-host">Host (MAC or host name)</label>
                <input id="preview-host" name="mac" form="editor-form" value={s.who} list="preview-hosts" autocomplete="off" data-preview-input />
                <datalist id="preview-hosts">
                  {candidates.map((h) => (
                    <option value={h.mac}>{h.hostname ?? ''}</option>
                  ))}
                </datalist>
              </div>
              {kind === 'file' ? (
                <div class="field">
                  <label for="preview-file">File it fetches</label>
                  <input id="preview-file" name="file" form="editor-form" value={s.file} list="preview-files" autocomplete="off" placeholder={files[0] ?? 'ks.cfg'} data-preview-input aria-describedby="preview-file-hint" />
                  <p class="hint" id="preview-file-hint">
                    Empty: {files[0] ?? 'the first file of its profile made from this template'}
                  </p>
                  <datalist id="preview-files">
                    {files.map((f) => (
                      <option value={f} />
                    ))}
                  </datalist>
                </div>
              ) : null}
            </div>
          )}
          <p id="preview-status" class="muted" role="status" aria-live="polite">
            {s.result.error ? (s.result.line !== undefined ? `Render error on line ${s.result.line}` : 'Render error') : s.result.body !== undefined ? 'Showing the current text' : ''}
          </p>
          <div id="preview">
            <PreviewOutput r={s.result} name={s.name} />
          </div>
        </section>
      </div>
    </>
  );
};

const DiffView: FC<{ oldText: string; newText: string; a: number; b: number }> = ({ oldText, newText, a, b }) => {
  const lines = lineDiff(oldText, newText);
  const stats = diffStats(lines);
  const hs = hunks(lines, 3);
  return (
    <section aria-labelledby="diff-title" class="card">
      <h2 id="diff-title">
        Version {a} → version {b}{' '}
        <span class="muted small">
          (<span class="add-count">+{stats.added}</span> <span class="del-count">−{stats.removed}</span>)
        </span>
      </h2>
      {hs.length === 0 ? (
        <p class="muted">No differences.</p>
      ) : (
        <div class="table-wrap">
          <table class="diff">
            <thead>
              <tr>
                <th scope="col" class="num">
                  v{a}
                </th>
                <th scope="col" class="num">
                  v{b}
                </th>
                <th scope="col">
                  <span class="sr-only">Change</span>
                </th>
                <th scope="col">Line</th>
              </tr>
            </thead>
            {hs.map((h) => (
              <tbody>
                <tr class="hunk">
                  <td colspan={4} class="mono">
                    {h.header}
                  </td>
                </tr>
                {h.lines.map((l) => (
                  <tr class={l.op}>
                    <td class="num">{l.a ?? ''}</td>
                    <td class="num">{l.b ?? ''}</td>
                    <td class="mark" aria-label={l.op === 'add' ? 'added' : l.op === 'del' ? 'removed' : 'unchanged'}>
                      {l.op === 'add' ? '+' : l.op === 'del' ? '−' : ''}
                    </td>
                    <td class="mono code-line">{l.text}</td>
                  </tr>
                ))}
              </tbody>
            ))}
          </table>
        </div>
      )}
    </section>
  );
};

export function templateRoutes(app: Hono<UiEnv>, ui: Ui): void {
  app.get('/templates', async (c) => {
    const list = await ui.admin.listTemplates();
    return page(
      c,
      'Templates',
      'templates',
      <>
        <form method="get" action={`${ui.base}/templates/edit`} class="toolbar inline-form">
          <label for="new-name">New template</label>
          <input id="new-name" name="name" placeholder="kickstart/web.cfg" required pattern="[a-z0-9][a-z0-9_\-]*(/[a-z0-9][a-z0-9_\-]*)*\.[a-z0-9]+" />
          <input type="hidden" name="new" value="1" />
          <button type="submit" class="secondary">
            Create
          </button>
        </form>
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Language</th>
                <th scope="col">Source</th>
                <th scope="col" class="num">
                  Version
                </th>
                <th scope="col">History</th>
              </tr>
            </thead>
            <tbody>
              {list.map((t) => (
                <tr>
                  <td class="mono">
                    <a href={editHref(ui, t.name)}>{t.name}</a>
                  </td>
                  <td>{t.target}</td>
                  <td>{t.source === 'saved' ? <Badge value="info" label={t.shipped ? 'changed here' : 'added here'} /> : <span class="muted">shipped</span>}</td>
                  <td class="num">{t.version}</td>
                  <td>
                    <a href={historyHref(ui, t.name)}>versions</a>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </>,
    );
  });

  /** The editor for `name` with `body` (saved text, or a draft) and its preview. */
  const editor = async (c: UiContext, name: string, body: string | undefined, opts: { who?: string; file?: string; comment?: string; error?: string; status?: 200 | 400 } = {}) => {
    let saved = { version: 0, source: 'new' };
    let current = '';
    try {
      const t = await ui.admin.getTemplate(name);
      saved = { version: t.version, source: t.source };
      current = t.body;
    } catch (e) {
      if (!(e instanceof NotFoundError)) throw e;
      if (body === undefined && c.req.query('new') !== '1') throw e;
    }
    const text = body ?? current;
    const mac = await resolveHost(ui, opts.who ?? '');
    const profileIds = (await ui.store.listProfiles())
      .filter((p) => (p.bootTemplate || `ipxe/${p.kind}.ipxe`) === name || Object.values(p.files).includes(name))
      .map((p) => p.id);
    const s: EditorState = {
      name,
      body: text,
      comment: opts.comment ?? '',
      who: opts.who ?? '',
      file: opts.file ?? '',
      saved,
      error: opts.error,
      // Unchanged text previews as the saved template: exactly what the host gets now.
      // A template that does not exist yet previews as its text.
      result: await preview(ui, name, saved.source === 'new' ? text : body === undefined || body === current ? undefined : body, opts.who ?? '', opts.file ?? ''),
    };
    const [candidates, files] = await Promise.all([ui.q.previewCandidates(profileIds), fileNamesFor(ui, name, mac)]);
    return page(
      c,
      `Template ${name}`,
      'templates',
      <EditorPage ui={ui} csrf={c.get('ui').csrf} s={s} candidates={candidates} files={files} />,
      opts.status ?? 200,
    );
  };

  app.get('/templates/edit', (c) => {
    const name = checkName(c.req.query('name'));
    return editor(c, name, undefined, { who: c.req.query('mac') ?? '', file: c.req.query('file') ?? '' });
  });

  // Without JavaScript the Preview button posts here: the same page, with the draft previewed.
  app.post('/templates/edit', async (c) => {
    const body = await c.req.parseBody();
    const name = checkName(field(body, 'name'));
    return editor(c, name, textOf(body), { who: field(body, 'mac'), file: field(body, 'file'), comment: field(body, 'comment') });
  });

  app.post('/templates/preview', async (c) => {
    const body = await c.req.parseBody();
    const name = checkName(field(body, 'name'));
    const r = await preview(ui, name, textOf(body), field(body, 'mac'), field(body, 'file'));
    return c.html(<PreviewOutput r={r} name={name} />);
  });

  app.post('/templates/save', async (c) => {
    const body = await c.req.parseBody();
    const name = checkName(field(body, 'name'));
    const text = textOf(body);
    const comment = field(body, 'comment');
    const who = field(body, 'mac');
    const file = field(body, 'file');
    // A broken template is never saved: compile errors always stop it, a
    // render error for the preview host unless the admin says otherwise.
    const r = await preview(ui, name, text, who, file);
    if (r.error !== undefined && r.usesDraft && (field(body, 'force') !== '1' || r.status === undefined)) {
      const where = r.line !== undefined ? ` (line ${r.line})` : '';
      return editor(c, name, text, { who, file, comment, error: `Not saved: the template does not render${where}. Fix it, or tick "save even if it fails" for a host-specific failure.`, status: 400 });
    }
    try {
      const v = await ui.admin.saveTemplate(name, text, comment);
      flash(c, 'ok', `Saved ${name} as version ${v.version}.`);
    } catch (e) {
      if (!(e instanceof InvalidInputError)) throw e;
      return editor(c, name, text, { who, file, comment, error: `Not saved: ${e.message}`, status: 400 });
    }
    return c.redirect(editHref(ui, name, who || undefined, file || undefined), 303);
  });

  app.get('/templates/history', async (c) => {
    const name = checkName(c.req.query('name'));
    const h = await ui.admin.templateVersions(name);
    const numbers = [...h.versions.map((v) => v.version), ...(h.shipped ? [0] : [])];
    const latest = numbers[0] ?? 0;
    const int = (v: string | undefined) => (v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined);
    const b = int(c.req.query('b')) ?? latest;
    const a = int(c.req.query('a')) ?? numbers[numbers.indexOf(b) + 1] ?? b;
    const view = int(c.req.query('view'));
    const showDiff = numbers.length > 0 && numbers.includes(a) && numbers.includes(b);
    const showView = view !== undefined && numbers.includes(view);
    // The texts the page shows, read before it is drawn.
    const wanted = [...new Set([...(showDiff ? [a, b] : []), ...(showView ? [view] : [])])];
    const texts = new Map(await Promise.all(wanted.map(async (n) => [n, (await ui.admin.templateVersion(name, n)).body] as const)));
    const body = (n: number) => texts.get(n)!;
    const csrf = c.get('ui').csrf;
    const rows = [...h.versions.map((v) => ({ version: v.version, comment: v.comment, at: v.createdAt as number | null })), ...(h.shipped ? [{ version: 0, comment: 'shipped with chainboot', at: null }] : [])];
    return page(
      c,
      `History of ${name}`,
      'templates',
      <>
        <p class="subtitle">
          <a href={editHref(ui, name)}>Edit {name}</a>
        </p>
        <form method="get" action={`${ui.base}/templates/history`} class="toolbar inline-form">
          <input type="hidden" name="name" value={name} />
          <label for="diff-a">Compare version</label>
          <select id="diff-a" name="a">
            {numbers.map((n) => (
              <option value={String(n)} selected={n === a}>
                {n}
              </option>
            ))}
          </select>
          <label for="diff-b">with</label>
          <select id="diff-b" name="b">
            {numbers.map((n) => (
              <option value={String(n)} selected={n === b}>
                {n}
              </option>
            ))}
          </select>
          <button type="submit" class="secondary">
            Show diff
          </button>
        </form>
        {showDiff ? <DiffView oldText={body(a)} newText={body(b)} a={a} b={b} /> : null}
        {showView ? (
          <section class="card" aria-labelledby="view-title">
            <h2 id="view-title">Version {view}</h2>
            <pre class="output numbered">
              {splitLines(body(view!))
                .map((l, i) => `${String(i + 1).padStart(4)}  ${l}`)
                .join('\n')}
            </pre>
          </section>
        ) : null}
        <div class="table-wrap">
          <table>
            <caption>Versions, newest first</caption>
            <thead>
              <tr>
                <th scope="col" class="num">
                  Version
                </th>
                <th scope="col">Saved</th>
                <th scope="col">Comment</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((v) => (
                <tr>
                  <td class="num">
                    {v.version}
                    {v.version === latest ? (
                      <>
                        {' '}
                        <Badge value="ok" label="current" />
                      </>
                    ) : null}
                  </td>
                  <td>{v.at === null ? <span class="muted">—</span> : <Time at={v.at} />}</td>
                  <td>{v.comment}</td>
                  <td class="row-actions">
                    <a href={historyHref(ui, name, { view: String(v.version), a: String(a), b: String(b) })}>view</a>
                    {v.version !== latest ? <a href={historyHref(ui, name, { a: String(v.version), b: String(latest) })}>diff with current</a> : null}
                    {v.version !== latest ? <PostButton action={`${ui.base}/templates/restore`} csrf={csrf} label={`Restore version ${v.version}`} hidden={{ name, version: String(v.version) }} confirm={`Make version ${v.version} the current one? (It is saved as a new version.)`} /> : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </>,
    );
  });

  app.post('/templates/restore', async (c) => {
    const body = await c.req.parseBody();
    const name = checkName(field(body, 'name'));
    const versionText = field(body, 'version');
    if (!/^\d+$/.test(versionText)) throw new InvalidInputError('version: must be a whole number');
    const v = await ui.admin.restoreTemplate(name, Number(versionText));
    flash(c, 'ok', `Version ${versionText} of ${name} restored as version ${v.version}.`);
    return c.redirect(historyHref(ui, name), 303);
  });
}
