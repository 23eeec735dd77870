/**
 * The template preview: what a chosen host would get now, rendered with the
 * editor's unsaved text in place of the saved template. It runs the real boot
 * service (same decisions, context, escaping and secret masking) over an
 * engine that answers the edited template's name with the draft, and records
 * nothing.
 */
import { createBootService, DEFAULT_FILES, type BootService } from '../boot/service.js';
import { normalizeMac } from '../boot/mac.js';
import { Safe, targetFor } from '../render/escape.js';
import { TemplateError, type Engine } from '../render/engine.js';
import type { Ui } from './context.js';

export type PreviewKind = 'entry' | 'ipxe' | 'pxelinux' | 'file';

export interface PreviewResult {
  kind: PreviewKind;
  mac?: string;
  hostLabel?: string;
  file?: string;
  /** The template the host's request was rendered from. */
  template?: string;
  /** Whether that template is the one being edited (so the draft was used). */
  usesDraft: boolean;
  status?: number;
  summary?: string;
  body?: string;
  error?: string;
  /** Line of the edited template the error is on. */
  line?: number;
  notice?: string;
}

export function previewKind(name: string): PreviewKind {
  if (name === 'ipxe/boot.ipxe') return 'entry';
  const t = targetFor(name);
  if (t === 'ipxe') return 'ipxe';
  if (t === 'pxelinux') return 'pxelinux';
  return 'file';
}

/** An engine that renders `draft` for `name` (with line numbers in errors) and everything else as saved. */
function draftEngine(engine: Engine, name: string, draft: string): Engine {
  return {
    ...engine,
    render: (n: string, data: object, opts?: { debug?: boolean }) => (n === name ? engine.renderBody(n, draft, data) : engine.render(n, data, opts)),
  };
}

function lineOf(message: string, name: string): number | undefined {
  if (!message.includes(`template ${name}:`)) return undefined;
  const m = new RegExp(`template ${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: line (\\d+)`).exec(message);
  return m ? Number(m[1]) : undefined;
}

/** File names under which a host fetches the template `name`: its profile's files first, then the defaults. */
export async function fileNamesFor(ui: Ui, name: string, mac: string | undefined): Promise<string[]> {
  const out: string[] = [];
  if (mac) {
    const { host, profile } = await ui.store.hostAndProfile(mac);
    const task = host && ui.tasks ? await ui.tasks.activeForHost(host.id) : undefined;
    const effective = task ? await ui.store.getProfileById(task.profileId) : (profile ?? (ui.defaultProfile ? await ui.store.getProfile(ui.defaultProfile) : undefined));
    for (const [f, t] of Object.entries(effective?.files ?? {})) if (t === name) out.push(f);
  }
  for (const [f, t] of Object.entries(DEFAULT_FILES)) if (t === name && !out.includes(f)) out.push(f);
  return out;
}

export async function resolveHost(ui: Ui, who: string): Promise<string | undefined> {
  const t = who.trim();
  if (!t) return undefined;
  return normalizeMac(t) ?? (await ui.q.macByHostname(t));
}

/** Compile errors of a draft, with the line (the engine finds it even for JavaScript syntax errors). */
export function compileError(ui: Ui, name: string, body: string): { error: string; line?: number } | undefined {
  try {
    ui.engine.check(name, body);
    return undefined;
  } catch (e) {
    if (!(e instanceof TemplateError)) throw e;
    return { error: e.message, line: e.line };
  }
}

export async function preview(ui: Ui, name: string, draft: string | undefined, who: string, fileWanted: string): Promise<PreviewResult> {
  const kind = previewKind(name);
  // The saved templates as they are now (on PostgreSQL another node may have saved one).
  await ui.fresh?.();
  if (draft !== undefined) {
    const bad = compileError(ui, name, draft);
    if (bad) return { kind, usesDraft: true, ...bad };
  }
  if (kind === 'entry') {
    // The entry script is the same for every client.
    const body = draft ?? ui.engine.resolve(name).body;
    const data = { server: { baseUrl: new Safe(ui.baseUrl) }, urls: { base: new Safe(ui.baseUrl) } };
    try {
      return { kind, usesDraft: true, template: name, status: 200, summary: 'entry script (the same for every client)', body: ui.engine.renderBody(name, body, data) };
    } catch (e) {
      if (!(e instanceof TemplateError)) throw e;
      return { kind, usesDraft: true, template: name, error: e.message, line: e.line };
    }
  }
  if (!who.trim()) return { kind, usesDraft: false, notice: 'Pick a host (MAC or host name) to see what it would get.' };
  const mac = await resolveHost(ui, who);
  if (!mac) return { kind, usesDraft: false, notice: `No host has the MAC or host name "${who.trim().slice(0, 80)}".` };
  const host = await ui.store.getHost(mac);
  const hostLabel = host ? (host.hostname ? `${host.hostname} (${mac})` : mac) : `${mac} (not a host yet: it would be discovered)`;

  const boot: BootService =
    draft === undefined ? ui.boot : createBootService({ store: ui.store, engine: draftEngine(ui.engine, name, draft), fresh: ui.fresh, baseUrl: ui.baseUrl, defaultProfile: ui.defaultProfile, tasks: ui.tasks });
  const req = { mac, client: {}, record: false, preview: true };
  let file: string | undefined;
  let r;
  if (kind === 'ipxe') r = await boot.script(req);
  else if (kind === 'pxelinux') r = await boot.pxelinux(req);
  else {
    const names = await fileNamesFor(ui, name, mac);
    file = fileWanted.trim() || names[0];
    if (!file) return { kind, mac, hostLabel, usesDraft: false, notice: `No file of this host is rendered from ${name}; name the file to fetch (e.g. ks.cfg).` };
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(file)) return { kind, mac, hostLabel, usesDraft: false, notice: 'That is not a file name a host can fetch.' };
    r = await boot.file(req, file);
  }
  const usesDraft = r.template === name;
  const out: PreviewResult = { kind, mac, hostLabel, file, template: r.template, usesDraft, status: r.status, summary: r.summary };
  if (!usesDraft) out.notice = `This request is rendered from ${r.template ?? 'no template'}, not ${name}: shown is what the host gets now.`;
  if (r.status >= 500 && r.summary.startsWith('render error')) {
    out.error = r.summary.replace(/^render error: /, '');
    out.line = lineOf(r.summary, name);
  } else out.body = r.body;
  return out;
}
