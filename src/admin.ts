/**
 * Admin operations shared by the JSON API and the CLI: validate input, check
 * references, apply. Every method either changes everything it was asked to or
 * nothing, and throws InvalidInputError/NotFoundError/ConflictError otherwise.
 */
import { z } from 'zod';
import type { Store } from './db/store.js';
import type { Engine } from './render/engine.js';
import { TemplateError, TemplateNotFoundError } from './render/engine.js';
import { profileInputSchema, profileToInput } from './boot/profile.js';
import { describeZodError, hostnameSchema, macSchema, notesSchema, profileNameSchema, templateNameSchema, variablesSchema } from './validate.js';
import { ConflictError, InvalidInputError, NotFoundError } from './errors.js';
import { parseHostOs } from './boot/import.js';
import { targetFor } from './render/escape.js';
import type { Profile } from './db/schema.js';

const hostFields = {
  hostname: hostnameSchema.nullable().optional(),
  profile: z.union([profileNameSchema, z.literal('')]).nullable().optional(),
  variables: variablesSchema.optional(),
  notes: notesSchema.optional(),
  dhcpMode: z.enum(['follow', 'loader', 'ignore']).optional(),
};
export const hostCreateSchema = z.object({ mac: macSchema, ...hostFields }).strict();
export const hostPatchSchema = z.object(hostFields).strict();

function parse<T extends z.ZodType>(schema: T, input: unknown, what: string): z.infer<T> {
  const r = schema.safeParse(input);
  if (!r.success) throw new InvalidInputError(`${what}: ${describeZodError(r.error)}`);
  return r.data;
}

export function parseMac(text: string): string {
  return parse(macSchema, text, 'mac');
}

export type Admin = ReturnType<typeof createAdmin>;

export function createAdmin(deps: { store: Store; engine: Engine }) {
  const { store, engine } = deps;

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
  function checkProfileRefs(p: z.infer<typeof profileInputSchema>): void {
    const problems: string[] = [];
    const boot = p.bootTemplate || `ipxe/${p.kind}.ipxe`;
    if (!templateExists(boot)) problems.push(`bootTemplate: template "${boot}" does not exist`);
    else if (targetFor(boot) !== 'ipxe') problems.push(`bootTemplate: "${boot}" is not an iPXE template (name it ipxe/… or ….ipxe)`);
    for (const [file, t] of Object.entries(p.files)) if (!templateExists(t)) problems.push(`files.${file}: template "${t}" does not exist`);
    if (p.kind === 'menu') {
      for (const name of p.entries) {
        const e = store.getProfile(name);
        if (!e) problems.push(`entries: profile "${name}" does not exist`);
        else if (e.kind === 'menu') problems.push(`entries: "${name}" is a menu itself; menus cannot nest`);
      }
      if (p.default !== undefined && !p.entries.includes(p.default)) problems.push(`default: "${p.default}" is not one of the entries`);
    }
    if (p.kind === 'wimboot') for (const f of p.inject) if (!(f in p.files) && !['autorun.bat', 'startnet.cmd', 'unattend.xml', 'diskpart.txt'].includes(f)) problems.push(`inject: no template for file "${f}" (add it to files)`);
    if (problems.length) throw new InvalidInputError(`profile ${p.name}: ${problems.join('; ')}`);
  }

  return {
    addHost(input: unknown) {
      const h = parse(hostCreateSchema, input, 'host');
      return store.createHost({ mac: h.mac, hostname: h.hostname ?? null, profile: h.profile || null, variables: h.variables, notes: h.notes, dhcpMode: h.dhcpMode });
    },
    updateHost(macText: string, input: unknown) {
      const mac = parseMac(macText);
      const h = parse(hostPatchSchema, input, 'host');
      return store.updateHost(mac, { ...h, ...(h.profile === '' ? { profile: null } : {}) });
    },
    removeHost(macText: string) {
      store.deleteHost(parseMac(macText));
    },
    getHost(macText: string) {
      const mac = parseMac(macText);
      const h = store.getHost(mac);
      if (!h) throw new NotFoundError(`host ${mac} does not exist`);
      return h;
    },

    addProfile(input: unknown): Profile {
      const p = parse(profileInputSchema, input, 'profile');
      checkProfileRefs(p);
      return store.createProfile(p);
    },
    /** PUT: the whole definition. */
    replaceProfile(name: string, input: unknown): Profile {
      const p = parse(profileInputSchema, { name, ...(input as object) }, 'profile');
      checkProfileRefs(p);
      return store.replaceProfile(name, p);
    },
    /** PATCH: the given fields over the stored definition. */
    patchProfile(name: string, input: unknown): Profile {
      const existing = store.getProfile(name);
      if (!existing) throw new NotFoundError(`profile "${name}" does not exist`);
      if (!input || typeof input !== 'object' || Array.isArray(input)) throw new InvalidInputError('profile: body must be a JSON object');
      const merged = { ...profileToInput(existing), ...(input as object) };
      const p = parse(profileInputSchema, merged, 'profile');
      checkProfileRefs(p);
      return store.replaceProfile(name, p);
    },
    removeProfile(name: string) {
      store.deleteProfile(name);
    },
    getProfile(name: string): Profile {
      const p = store.getProfile(name);
      if (!p) throw new NotFoundError(`profile "${name}" does not exist`);
      return p;
    },

    listTemplates() {
      const saved = new Map(store.savedTemplateNames().map((t) => [t.name, t]));
      const names = new Set([...engine.shippedNames(), ...saved.keys()]);
      return [...names].sort().map((name) => ({
        name,
        target: targetFor(name),
        shipped: engine.shippedBody(name) !== null,
        version: saved.get(name)?.version ?? 0,
        source: saved.has(name) ? 'saved' : 'shipped',
      }));
    },
    getTemplate(nameText: string) {
      const name = parse(templateNameSchema, nameText, 'template name');
      try {
        const t = engine.resolve(name);
        return { ...t, target: targetFor(name) };
      } catch (e) {
        if (e instanceof TemplateNotFoundError) throw new NotFoundError(e.message);
        throw e;
      }
    },
    /** Saves a new version after checking it compiles; a broken template is refused with its line. */
    saveTemplate(nameText: string, body: unknown, comment: unknown = '') {
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
    templateVersions(nameText: string) {
      const name = parse(templateNameSchema, nameText, 'template name');
      const versions = store.templateVersions(name);
      const shipped = engine.shippedBody(name) !== null;
      if (!versions.length && !shipped) throw new NotFoundError(`template "${name}" does not exist`);
      return { name, shipped, versions };
    },
    templateVersion(nameText: string, version: number) {
      const name = parse(templateNameSchema, nameText, 'template name');
      if (version === 0) {
        const body = engine.shippedBody(name);
        if (body === null) throw new NotFoundError(`template "${name}" has no shipped version`);
        return { name, version: 0, body, comment: 'shipped', createdAt: 0 };
      }
      const v = store.templateVersion(name, version);
      if (!v) throw new NotFoundError(`template "${name}" has no version ${version}`);
      return v;
    },
    /** Restoring makes the old text the newest version; history is never rewritten. Version 0 is the shipped file. */
    restoreTemplate(nameText: string, version: number) {
      const v = this.templateVersion(nameText, version);
      return store.saveTemplate(v.name, v.body, `restored from version ${version}`);
    },

    importHostOs(text: string) {
      const { lines, problems } = parseHostOs(text, (n) => !!store.getProfile(n));
      if (problems.length) return { ok: false as const, problems, added: 0, updated: 0 };
      if (!lines.length) return { ok: false as const, problems: [{ line: 0, text: '', message: 'the file holds no host lines' }], added: 0, updated: 0 };
      const r = store.importHosts(lines);
      return { ok: true as const, problems: [], ...r };
    },
  };
}

export { ConflictError };
