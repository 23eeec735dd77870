/**
 * Admin operations shared by the JSON API and the CLI: validate input, check
 * references, apply. Every method either changes everything it was asked to or
 * nothing, and throws InvalidInputError/NotFoundError/ConflictError otherwise.
 */
import { z } from 'zod';
import { maskSecrets, type Store } from './db/store.js';
import type { AsyncStore, AsyncTaskStore } from './db/backend.js';
import type { Engine } from './render/engine.js';
import { TemplateError, TemplateNotFoundError } from './render/engine.js';
import { profileInputSchema, profileToInput } from './boot/profile.js';
import { describeZodError, hostnameSchema, labelSchema, macSchema, notesSchema, profileNameSchema, secretsSchema, templateNameSchema, variablesSchema } from './validate.js';
import { ConflictError, InvalidInputError, NotFoundError } from './errors.js';
import { parseHostOs } from './boot/import.js';
import { targetFor } from './render/escape.js';
import type { Profile, TaskState } from './db/schema.js';
import { TASK_STATES } from './db/schema.js';

const hostFields = {
  hostname: hostnameSchema.nullable().optional(),
  profile: z.union([profileNameSchema, z.literal('')]).nullable().optional(),
  variables: variablesSchema.optional(),
  notes: notesSchema.optional(),
  dhcpMode: z.enum(['follow', 'loader', 'ignore']).optional(),
  labels: z.array(labelSchema).max(32).optional(),
  secrets: secretsSchema.optional(),
  menuMode: z.enum(['never', 'always', 'key']).optional(),
  menuTimeout: z.number().int().min(0).max(600).optional(),
  menuProfiles: z.array(profileNameSchema).max(40).optional(),
};
export const hostCreateSchema = z.object({ mac: macSchema, ...hostFields }).strict();
/** version: the host version the change was made against (or send If-Match); a stale one is refused with 409. */
export const hostPatchSchema = z.object({ ...hostFields, version: z.number().int().positive().optional() }).strict();

const timeSchema = z
  .union([z.number().int().nonnegative(), z.string().datetime({ offset: true })])
  .transform((v) => (typeof v === 'number' ? v : Date.parse(v)));

export const taskAssignSchema = z
  .object({
    profile: profileNameSchema,
    mac: macSchema.optional(),
    macs: z.array(macSchema).min(1).max(10_000).optional(),
    label: labelSchema.optional(),
    notBefore: timeSchema.optional(),
    expiresAt: timeSchema.optional(),
    onFailure: z.enum(['local', 'retry']).optional(),
    maxRetries: z.number().int().min(0).max(20).optional(),
    comment: z.string().max(500).optional(),
    replace: z.boolean().optional(),
  })
  .strict()
  .refine((t) => [t.mac, t.macs, t.label].filter((x) => x !== undefined).length === 1, { message: 'give exactly one of mac, macs or label' })
  .refine((t) => t.notBefore === undefined || t.expiresAt === undefined || t.expiresAt > t.notBefore, { message: 'expiresAt must be after notBefore', path: ['expiresAt'] });

function parse<T extends z.ZodType>(schema: T, input: unknown, what: string): z.infer<T> {
  const r = schema.safeParse(input);
  if (!r.success) throw new InvalidInputError(`${what}: ${describeZodError(r.error)}`);
  return r.data;
}

export function parseMac(text: string): string {
  return parse(macSchema, text, 'mac');
}

export type Admin = ReturnType<typeof createAdmin>;

function dropNulls<T>(m: Record<string, T | null>): Record<string, T> {
  return Object.fromEntries(Object.entries(m).filter((e): e is [string, T] => e[1] !== null));
}

/** A profile as the API shows it: secret values replaced by their names. */
export function profileView(p: Profile) {
  return { ...p, secrets: maskSecrets(p.secrets) };
}

export interface AdminDeps {
  store: AsyncStore;
  /** Renders and checks templates; its template lookup is synchronous (Backend.templates). */
  engine: Engine;
  tasks?: AsyncTaskStore;
  /**
   * Brings the engine's synchronous template view up to date (Backend.fresh)
   * before a template is resolved: on PostgreSQL a template saved on another
   * node is otherwise not seen until the next boot request refreshes it.
   */
  fresh?: () => Promise<void>;
}

export function createAdmin(deps: AdminDeps) {
  const { store, engine } = deps;
  const fresh = async () => {
    await deps.fresh?.();
  };
  const taskStore = () => {
    if (!deps.tasks) throw new Error('tasks are not available here');
    return deps.tasks;
  };

  async function checkMenuProfiles(names: string[] | undefined): Promise<void> {
    const list = names ?? [];
    const found = await Promise.all(list.map((n) => store.getProfile(n)));
    const missing = list.filter((_, i) => !found[i]);
    if (missing.length) throw new InvalidInputError(`host: menuProfiles: profile(s) ${missing.map((n) => `"${n}"`).join(', ')} do not exist`);
  }

  function templateExists(name: string): boolean {
    try {
      engine.resolve(name);
      return true;
    } catch (e) {
      if (e instanceof TemplateNotFoundError) return false;
      throw e;
    }
  }

  /** References a profile makes must resolve before it is saved. */
  async function checkProfileRefs(p: z.infer<typeof profileInputSchema>): Promise<void> {
    await fresh();
    const problems: string[] = [];
    const boot = p.bootTemplate || `ipxe/${p.kind}.ipxe`;
    if (!templateExists(boot)) problems.push(`bootTemplate: template "${boot}" does not exist`);
    else if (targetFor(boot) !== 'ipxe') problems.push(`bootTemplate: "${boot}" is not an iPXE template (name it ipxe/… or ….ipxe)`);
    for (const [file, t] of Object.entries(p.files)) if (!templateExists(t)) problems.push(`files.${file}: template "${t}" does not exist`);
    if (p.kind === 'menu') {
      const entries = await Promise.all(p.entries.map((name) => store.getProfile(name)));
      for (const [i, name] of p.entries.entries()) {
        const e = entries[i];
        if (!e) problems.push(`entries: profile "${name}" does not exist`);
        else if (e.kind === 'menu') problems.push(`entries: "${name}" is a menu itself; menus cannot nest`);
      }
      if (p.default !== undefined && !p.entries.includes(p.default)) problems.push(`default: "${p.default}" is not one of the entries`);
    }
    if (p.kind === 'wimboot') for (const f of p.inject) if (!(f in p.files) && !['autorun.bat', 'startnet.cmd', 'unattend.xml', 'diskpart.txt'].includes(f)) problems.push(`inject: no template for file "${f}" (add it to files)`);
    if (problems.length) throw new InvalidInputError(`profile ${p.name}: ${problems.join('; ')}`);
  }

  return {
    async addHost(input: unknown) {
      const h = parse(hostCreateSchema, input, 'host');
      await checkMenuProfiles(h.menuProfiles);
      return store.createHost({ ...h, hostname: h.hostname ?? null, profile: h.profile || null, secrets: h.secrets ? dropNulls(h.secrets) : undefined });
    },
    /** PATCH: the given fields; secrets merge by name (null removes one). expectVersion (or body.version) guards against lost updates. */
    async updateHost(macText: string, input: unknown, expectVersion?: number) {
      const mac = parseMac(macText);
      const { version, secrets, ...h } = parse(hostPatchSchema, input, 'host');
      await checkMenuProfiles(h.menuProfiles);
      const patch: Parameters<Store['updateHost']>[1] = { ...h, ...(h.profile === '' ? { profile: null } : {}), expectVersion: expectVersion ?? version };
      if (secrets) {
        const current = await store.getHostRow(mac);
        if (!current) throw new NotFoundError(`host ${mac} does not exist`);
        patch.secrets = dropNulls({ ...current.secrets, ...secrets });
      }
      return store.updateHost(mac, patch);
    },
    /** A discovered host becomes a managed one, optionally with its first settings. */
    async adoptHost(macText: string, input: unknown) {
      const mac = parseMac(macText);
      const h = await store.getHost(mac);
      if (!h) throw new NotFoundError(`host ${mac} does not exist (it has not booted yet: add it instead)`);
      if (!h.discovered) throw new ConflictError(`host ${mac} is already managed`);
      return this.updateHost(macText, input ?? {});
    },
    async removeHost(macText: string): Promise<void> {
      await store.deleteHost(parseMac(macText));
    },
    async getHost(macText: string) {
      const mac = parseMac(macText);
      const h = await store.getHost(mac);
      if (!h) throw new NotFoundError(`host ${mac} does not exist`);
      return h;
    },

    async addProfile(input: unknown): Promise<Profile> {
      const p = parse(profileInputSchema, input, 'profile');
      await checkProfileRefs(p);
      return store.createProfile(p);
    },
    /** PUT: the whole definition. */
    async replaceProfile(name: string, input: unknown): Promise<Profile> {
      const p = parse(profileInputSchema, { name, ...(input as object) }, 'profile');
      await checkProfileRefs(p);
      return store.replaceProfile(name, p);
    },
    /** PATCH: the given fields over the stored definition. */
    async patchProfile(name: string, input: unknown): Promise<Profile> {
      const existing = await store.getProfile(name);
      if (!existing) throw new NotFoundError(`profile "${name}" does not exist`);
      if (!input || typeof input !== 'object' || Array.isArray(input)) throw new InvalidInputError('profile: body must be a JSON object');
      const given = input as Record<string, unknown>;
      const merged: Record<string, unknown> = { ...profileToInput(existing), ...given };
      // Secrets merge by name (null removes one): the API never shows their values to send back.
      if (given.secrets && typeof given.secrets === 'object') merged.secrets = { ...existing.secrets, ...(given.secrets as object) };
      const p = parse(profileInputSchema, merged, 'profile');
      await checkProfileRefs(p);
      return store.replaceProfile(name, p);
    },
    async removeProfile(name: string): Promise<void> {
      await store.deleteProfile(name);
    },
    async getProfile(name: string): Promise<Profile> {
      const p = await store.getProfile(name);
      if (!p) throw new NotFoundError(`profile "${name}" does not exist`);
      return p;
    },

    async listTemplates() {
      const saved = new Map((await store.savedTemplateNames()).map((t) => [t.name, t]));
      const names = new Set([...engine.shippedNames(), ...saved.keys()]);
      return [...names].sort().map((name) => ({
        name,
        target: targetFor(name),
        shipped: engine.shippedBody(name) !== null,
        version: saved.get(name)?.version ?? 0,
        source: saved.has(name) ? 'saved' : 'shipped',
      }));
    },
    async getTemplate(nameText: string) {
      const name = parse(templateNameSchema, nameText, 'template name');
      await fresh();
      try {
        const t = engine.resolve(name);
        return { ...t, target: targetFor(name) };
      } catch (e) {
        if (e instanceof TemplateNotFoundError) throw new NotFoundError(e.message);
        throw e;
      }
    },
    /** Saves a new version after checking it compiles; a broken template is refused with its line. */
    async saveTemplate(nameText: string, body: unknown, comment: unknown = '') {
      const name = parse(templateNameSchema, nameText, 'template name');
      if (typeof body !== 'string') throw new InvalidInputError('body: must be a string');
      if (body.length > 256 * 1024) throw new InvalidInputError(`body: ${body.length} bytes, at most 262144 allowed`);
      const c = parse(z.string().max(500), comment ?? '', 'comment');
      try {
        engine.check(name, body);
      } catch (e) {
        if (e instanceof TemplateError) throw new InvalidInputError(`body: ${e.message}${e.line ? ` (line ${e.line})` : ''}`);
        throw e;
      }
      return store.saveTemplate(name, body, c);
    },
    async templateVersions(nameText: string) {
      const name = parse(templateNameSchema, nameText, 'template name');
      const versions = await store.templateVersions(name);
      const shipped = engine.shippedBody(name) !== null;
      if (!versions.length && !shipped) throw new NotFoundError(`template "${name}" does not exist`);
      return { name, shipped, versions };
    },
    async templateVersion(nameText: string, version: number) {
      const name = parse(templateNameSchema, nameText, 'template name');
      if (version === 0) {
        const body = engine.shippedBody(name);
        if (body === null) throw new NotFoundError(`template "${name}" has no shipped version`);
        return { name, version: 0, body, comment: 'shipped', createdAt: 0 };
      }
      const v = await store.templateVersion(name, version);
      if (!v) throw new NotFoundError(`template "${name}" has no version ${version}`);
      return v;
    },
    /** Restoring makes the old text the newest version; history is never rewritten. Version 0 is the shipped file. */
    async restoreTemplate(nameText: string, version: number) {
      const v = await this.templateVersion(nameText, version);
      return store.saveTemplate(v.name, v.body, `restored from version ${version}`);
    },

    /** One task per selected host, all or none; returns the created tasks. */
    async assignTasks(input: unknown) {
      const t = parse(taskAssignSchema, input, 'task');
      const tasks = taskStore();
      const profile = await store.getProfile(t.profile);
      if (!profile) throw new NotFoundError(`task: profile "${t.profile}" does not exist`);
      const sel = t.label !== undefined ? { label: t.label } : { macs: t.macs ?? [t.mac!] };
      const { ids, missing } = await store.hostIdsFor(sel);
      if (missing.length) throw new NotFoundError(`task: ${missing.length} MAC(s) are not hosts: ${missing.slice(0, 10).join(', ')}${missing.length > 10 ? ' …' : ''} (add or import them first); nothing was assigned`);
      if (!ids.length) throw new InvalidInputError(`task: no host has the label "${t.label}"`);
      const created = await tasks.create({
        hostIds: ids,
        profileId: profile.id,
        notBefore: t.notBefore ?? null,
        expiresAt: t.expiresAt ?? null,
        onFailure: t.onFailure,
        maxRetries: t.maxRetries,
        comment: t.comment,
        replace: t.replace,
      });
      return Promise.all(created.map((c) => tasks.view(c.id)));
    },
    async listTasks(q: { state?: string; mac?: string; batch?: string; limit?: number; offset?: number }) {
      const states = q.state ? q.state.split(',') : undefined;
      const bad = states?.filter((x) => !TASK_STATES.includes(x as TaskState));
      if (bad?.length) throw new InvalidInputError(`state: ${bad.join(', ')} is not one of ${TASK_STATES.join(', ')}`);
      let hostId: number | undefined;
      if (q.mac) {
        const h = await store.getHostRow(parseMac(q.mac));
        if (!h) throw new NotFoundError(`host ${q.mac} does not exist`);
        hostId = h.id;
      }
      return taskStore().list({ states: states as TaskState[] | undefined, hostId, batch: q.batch, limit: q.limit, offset: q.offset });
    },
    async getTask(id: number) {
      const tasks = taskStore();
      const view = await tasks.view(id);
      return { ...view, history: await tasks.history(id) };
    },
    async cancelTask(id: number, expectVersion?: number) {
      const tasks = taskStore();
      await tasks.cancel(id, expectVersion);
      return tasks.view(id);
    },
    /**
     * Everything that happened to one host, oldest first: DHCP, TFTP, HTTP
     * script/file/asset requests, task callbacks (boot events) and task state
     * changes, so an admin sees where a boot stopped.
     */
    async hostTimeline(macText: string, limit = 500) {
      const mac = parseMac(macText);
      const host = await store.getHostRow(mac);
      if (!host) throw new NotFoundError(`host ${mac} does not exist`);
      const events = (await store.listEvents({ mac, limit })).map((e) => ({ at: e.at, source: e.kind, what: e.request, result: e.result, status: e.status, clientIp: e.clientIp, detail: e.detail ?? null }));
      const changes = deps.tasks
        ? (await deps.tasks.historyForHost(host.id, limit)).map((t) => ({
            at: t.at,
            source: 'task',
            what: `task ${t.taskId} (${t.profile}): ${t.fromState ?? 'new'} → ${t.toState}`,
            result: t.message,
            status: null,
            clientIp: null,
            detail: { taskId: t.taskId, actor: t.actor },
          }))
        : [];
      return [...events, ...changes].sort((a, b) => a.at - b.at).slice(-limit);
    },

    async importHostOs(text: string) {
      // The parser asks per line, synchronously: the profile names are read once, before it runs.
      const profileNames = new Set((await store.listProfiles()).map((p) => p.name));
      const { lines, problems } = parseHostOs(text, (n) => profileNames.has(n));
      if (problems.length) return { ok: false as const, problems, added: 0, updated: 0 };
      if (!lines.length) return { ok: false as const, problems: [{ line: 0, text: '', message: 'the file holds no host lines' }], added: 0, updated: 0 };
      const r = await store.importHosts(lines);
      return { ok: true as const, problems: [], ...r };
    },
  };
}

export { ConflictError };
