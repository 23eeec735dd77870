/** @jsxImportSource hono/jsx */
/**
 * The page frame and the form pieces every page uses. Every value is written
 * through JSX, which HTML-escapes text and attribute values; nothing here
 * writes raw HTML.
 */
import type { Child, FC, PropsWithChildren } from 'hono/jsx';
import { html } from 'hono/html';
import type { Flash } from '../session.js';
import type { UiContext } from '../context.js';
import { fmtAgo, fmtTime } from '../context.js';

export const NAV = [
  ['dashboard', 'Dashboard', ''],
  ['hosts', 'Hosts', '/hosts'],
  ['profiles', 'Profiles', '/profiles'],
  ['sites', 'Sites', '/sites'],
  ['templates', 'Templates', '/templates'],
  ['tasks', 'Tasks', '/tasks'],
  ['activity', 'Boot activity', '/activity'],
] as const;
export type Section = (typeof NAV)[number][0] | 'login' | 'none';

interface LayoutProps {
  title: string;
  section: Section;
  base: string;
  csrf?: string;
  flash?: Flash[];
  /** Pages like the sign-in form have no navigation. */
  bare?: boolean;
}

export const Layout: FC<PropsWithChildren<LayoutProps>> = (p) => (
  <html lang="en">
    <head>
      <meta charset="utf-8" />
      <meta name="viewport" content="width=device-width, initial-scale=1" />
      {p.csrf ? <meta name="csrf-token" content={p.csrf} /> : null}
      <title>{p.title} · chainboot</title>
      <link rel="icon" href={`${p.base}/static/icon.svg`} type="image/svg+xml" />
      <link rel="stylesheet" href={`${p.base}/static/app.css`} />
      <script src={`${p.base}/static/app.js`} defer></script>
    </head>
    <body>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <a class="brand" href={`${p.base}/`}>
          chainboot
        </a>
        {p.bare ? null : (
          <nav aria-label="Main">
            <ul>
              {NAV.map(([id, label, path]) => (
                <li>
                  <a href={path ? p.base + path : p.base + '/'} aria-current={p.section === id ? 'page' : undefined}>
                    {label}
                  </a>
                </li>
              ))}
            </ul>
          </nav>
        )}
        {p.bare || !p.csrf ? null : (
          <form method="post" action={`${p.base}/logout`} class="logout">
            <Csrf token={p.csrf} />
            <button type="submit" class="link">
              Sign out
            </button>
          </form>
        )}
      </header>
      <main id="main" tabindex={-1}>
        <h1>{p.title}</h1>
        {(p.flash ?? []).map((f) => (
          <p class={`flash ${f.kind}`} role={f.kind === 'error' ? 'alert' : 'status'}>
            {f.text}
          </p>
        ))}
        {p.children}
      </main>
    </body>
  </html>
);

/** Renders a full page; flash messages are shown once. */
export function page(c: UiContext, title: string, section: Section, body: Child, status: 200 | 400 | 404 | 409 | 500 = 200) {
  const ui = c.get('ui');
  const session = c.get('session');
  const shown = session.flash.splice(0);
  return c.html(
    html`<!doctype html>${(
      <Layout title={title} section={section} base={ui.base} csrf={ui.csrf} flash={shown}>
        {body}
      </Layout>
    )}`,
    status,
  );
}

export const Csrf: FC<{ token: string }> = ({ token }) => <input type="hidden" name="_csrf" value={token} />;

/**
 * What an edit form starts with: its CSRF token, the version the record was
 * read at (a save against an older one is refused, not applied), and the
 * message about the form as a whole (errors beside fields are each field's).
 */
export const FormHead: FC<{ csrf: string; version?: string; error?: string }> = ({ csrf, version, error }) => (
  <>
    <Csrf token={csrf} />
    {version ? <input type="hidden" name="version" value={version} /> : null}
    {error ? (
      <p class="flash error" role="alert" id="form-error">
        {error}
      </p>
    ) : null}
  </>
);

function describedBy(name: string, error?: string, hint?: string): string | undefined {
  const ids = [hint ? `${name}-hint` : '', error ? `${name}-error` : ''].filter(Boolean);
  return ids.length ? ids.join(' ') : undefined;
}

export const FieldError: FC<{ name: string; error?: string }> = ({ name, error }) =>
  error ? (
    <p class="field-error" id={`${name}-error`}>
      {error}
    </p>
  ) : null;

interface InputProps {
  name: string;
  label: string;
  value?: string | number | null;
  error?: string;
  hint?: string;
  type?: string;
  required?: boolean;
  autocomplete?: string;
  placeholder?: string;
  inputmode?: string;
  readonly?: boolean;
  pattern?: string;
  list?: string;
}

/** What every field ends with: its hint (referenced by aria-describedby) and its error. */
const FieldFoot: FC<{ name: string; hint?: string; error?: string }> = ({ name, hint, error }) => (
  <>
    {hint ? (
      <p class="hint" id={`${name}-hint`}>
        {hint}
      </p>
    ) : null}
    <FieldError name={name} error={error} />
  </>
);

export const TextField: FC<InputProps> = (p) => (
  <div class={`field${p.error ? ' has-error' : ''}`}>
    <label for={p.name}>{p.label}</label>
    <input
      id={p.name}
      name={p.name}
      type={p.type ?? 'text'}
      value={p.value === null || p.value === undefined ? '' : String(p.value)}
      required={p.required}
      autocomplete={p.autocomplete}
      placeholder={p.placeholder}
      inputmode={p.inputmode as 'text'}
      readonly={p.readonly}
      list={p.list}
      aria-invalid={p.error ? 'true' : undefined}
      aria-describedby={describedBy(p.name, p.error, p.hint)}
    />
    <FieldFoot name={p.name} hint={p.hint} error={p.error} />
  </div>
);

/** An HTML parser drops one newline right after <textarea>: a value that starts with one gets another. */
function textareaText(v: string | number | null | undefined): string {
  const t = v === null || v === undefined ? '' : String(v);
  return t.startsWith('\n') ? '\n' + t : t;
}

export const TextArea: FC<InputProps & { rows?: number }> = (p) => (
  <div class={`field${p.error ? ' has-error' : ''}`}>
    <label for={p.name}>{p.label}</label>
    <textarea
      id={p.name}
      name={p.name}
      rows={p.rows ?? 4}
      placeholder={p.placeholder}
      spellcheck={false}
      aria-invalid={p.error ? 'true' : undefined}
      aria-describedby={describedBy(p.name, p.error, p.hint)}
    >
      {textareaText(p.value)}
    </textarea>
    <FieldFoot name={p.name} hint={p.hint} error={p.error} />
  </div>
);

export const SelectField: FC<InputProps & { options: (string | [string, string])[] }> = (p) => (
  <div class={`field${p.error ? ' has-error' : ''}`}>
    <label for={p.name}>{p.label}</label>
    <select id={p.name} name={p.name} required={p.required} aria-invalid={p.error ? 'true' : undefined} aria-describedby={describedBy(p.name, p.error, p.hint)}>
      {p.options.map((o) => {
        const [value, label] = typeof o === 'string' ? [o, o] : o;
        return (
          <option value={value} selected={String(p.value ?? '') === value}>
            {label}
          </option>
        );
      })}
    </select>
    <FieldFoot name={p.name} hint={p.hint} error={p.error} />
  </div>
);

export const Time: FC<{ at: number | null | undefined; now?: number }> = ({ at, now }) =>
  at === null || at === undefined ? (
    <span class="muted">never</span>
  ) : (
    <time datetime={new Date(at).toISOString()} title={now !== undefined ? fmtTime(at) : undefined}>
      {now !== undefined ? fmtAgo(at, now) : fmtTime(at)}
    </time>
  );

const STATE_CLASS: Record<string, string> = {
  pending: 'info',
  served: 'info',
  running: 'busy',
  done: 'ok',
  failed: 'bad',
  expired: 'bad',
  cancelled: 'muted',
  ok: 'ok',
  failing: 'bad',
  discovered: 'warn',
  new: 'muted',
};

export const Badge: FC<{ value: string; label?: string }> = ({ value, label }) => <span class={`badge ${STATE_CLASS[value] ?? ''}`}>{label ?? value}</span>;

export const StatusCode: FC<{ status: number | null }> = ({ status }) =>
  status === null ? null : <span class={`badge ${status >= 400 ? 'bad' : 'ok'}`}>{status}</span>;

/** Previous/next page links with "page X of Y". */
export const Pager: FC<{ page: number; pages: number; href: (page: number) => string; total: number; label: string }> = (p) =>
  p.pages <= 1 ? (
    <p class="pager-info">
      {p.total} {p.label}
    </p>
  ) : (
    <nav class="pager" aria-label="Pages">
      <a href={p.href(1)} aria-disabled={p.page <= 1 ? 'true' : undefined} class={p.page <= 1 ? 'disabled' : undefined}>
        « First
      </a>
      <a href={p.href(Math.max(1, p.page - 1))} rel="prev" aria-disabled={p.page <= 1 ? 'true' : undefined} class={p.page <= 1 ? 'disabled' : undefined}>
        ‹ Previous
      </a>
      <span aria-current="page">
        Page {p.page} of {p.pages} ({p.total} {p.label})
      </span>
      <a href={p.href(Math.min(p.pages, p.page + 1))} rel="next" aria-disabled={p.page >= p.pages ? 'true' : undefined} class={p.page >= p.pages ? 'disabled' : undefined}>
        Next ›
      </a>
      <a href={p.href(p.pages)} aria-disabled={p.page >= p.pages ? 'true' : undefined} class={p.page >= p.pages ? 'disabled' : undefined}>
        Last »
      </a>
    </nav>
  );

/** A button that POSTs (delete, cancel, restore …) with the CSRF token and an optional confirmation. */
export const PostButton: FC<{ action: string; csrf: string; label: string; confirm?: string; hidden?: Record<string, string>; class?: string }> = (p) => (
  <form method="post" action={p.action} class="inline" data-confirm={p.confirm}>
    <Csrf token={p.csrf} />
    {Object.entries(p.hidden ?? {}).map(([k, v]) => (
      <input type="hidden" name={k} value={v} />
    ))}
    <button type="submit" class={p.class ?? 'secondary'}>
      {p.label}
    </button>
  </form>
);

/** The secrets part of a host or profile form: names only (values are never shown), remove boxes, one new secret. */
export const SecretsFields: FC<{
  v: { secretNames: string[]; secretRemove: string[]; secretName: string; secretAlways: boolean };
  errors: Record<string, string | undefined>;
  hint: string;
}> = ({ v, errors, hint }) => (
  <fieldset class={`field${errors.secret_name || errors.secret_value ? ' has-error' : ''}`}>
    <legend>Secrets</legend>
    <p class="hint">{hint}</p>
    {v.secretNames.length ? (
      <ul class="plain">
        {v.secretNames.map((n) => (
          <li>
            <label class="check-label">
              <input type="checkbox" name="secret_remove" value={n} checked={v.secretRemove.includes(n)} /> remove <code>{n}</code>
            </label>
          </li>
        ))}
      </ul>
    ) : (
      <p class="muted">None set.</p>
    )}
    <div class="grid3">
      <TextField name="secret_name" label="New secret name" value={v.secretName} error={errors.secret_name} autocomplete="off" />
      <TextField name="secret_value" label="Value" type="password" value="" error={errors.secret_value} autocomplete="new-password" />
      <label class="check-label align-end">
        <input type="checkbox" name="secret_always" value="1" checked={v.secretAlways} /> serve always
      </label>
    </div>
  </fieldset>
);
