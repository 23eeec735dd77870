/**
 * Site changes from the API, the CLI and the UI: validated whole before
 * anything is written; the request paths see the change at once.
 */
import { InvalidInputError, NotFoundError } from '../errors.js';
import type { Site } from '../db/schema.js';
import type { AsyncSiteStore } from '../db/backend.js';
import { parseSiteInput, siteToInput } from './model.js';
import type { SiteDirectory } from './store.js';

export type SiteAdmin = ReturnType<typeof createSiteAdmin>;

export function createSiteAdmin(store: AsyncSiteStore, directory?: SiteDirectory) {
  const changed = <T>(v: T): T => {
    directory?.invalidate();
    return v;
  };
  const body = (input: unknown): object => {
    if (!input || typeof input !== 'object' || Array.isArray(input)) throw new InvalidInputError('site: body must be a JSON object');
    return input;
  };
  return {
    list: (): Promise<Site[]> => store.list(),
    async get(name: string): Promise<Site> {
      const s = await store.get(name);
      if (!s) throw new NotFoundError(`site "${name}" does not exist`);
      return s;
    },
    async add(input: unknown): Promise<Site> {
      const s = parseSiteInput(input);
      return changed(await store.create(s));
    },
    /** PUT: the whole definition (the name in the path unless the body renames it). */
    async replace(name: string, input: unknown, expectVersion?: number): Promise<Site> {
      const s = parseSiteInput({ name, ...body(input) });
      return changed(await store.replace(name, s, expectVersion));
    },
    /** PATCH: the given fields over the stored definition. */
    async patch(name: string, input: unknown, expectVersion?: number): Promise<Site> {
      const given = body(input) as Record<string, unknown>;
      const existing = await this.get(name);
      if ('version' in given) {
        expectVersion ??= typeof given.version === 'number' ? given.version : undefined;
        delete given.version;
      }
      const s = parseSiteInput({ ...siteToInput(existing), ...given });
      return changed(await store.replace(name, s, expectVersion));
    },
    async remove(name: string): Promise<void> {
      await store.remove(name);
      directory?.invalidate();
    },
  };
}
