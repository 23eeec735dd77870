/**
 * Site changes from the API, the CLI and the UI: validated whole before
 * anything is written; the request paths see the change at once.
 */
import { InvalidInputError, NotFoundError } from '../errors.js';
import type { Site } from '../db/schema.js';
import { parseSiteInput, siteToInput } from './model.js';
import type { SiteDirectory, SiteStore } from './store.js';

export type SiteAdmin = ReturnType<typeof createSiteAdmin>;

export function createSiteAdmin(store: SiteStore, directory?: SiteDirectory) {
  const changed = <T>(v: T): T => {
    directory?.invalidate();
    return v;
  };
  return {
    list: (): Site[] => store.list(),
    get(name: string): Site {
      const s = store.get(name);
      if (!s) throw new NotFoundError(`site "${name}" does not exist`);
      return s;
    },
    add: (input: unknown): Site => changed(store.create(parseSiteInput(input))),
    /** PUT: the whole definition (the name in the path unless the body renames it). */
    replace(name: string, input: unknown, expectVersion?: number): Site {
      if (!input || typeof input !== 'object' || Array.isArray(input)) throw new InvalidInputError('site: body must be a JSON object');
      return changed(store.replace(name, parseSiteInput({ name, ...(input as object) }), expectVersion));
    },
    /** PATCH: the given fields over the stored definition. */
    patch(name: string, input: unknown, expectVersion?: number): Site {
      if (!input || typeof input !== 'object' || Array.isArray(input)) throw new InvalidInputError('site: body must be a JSON object');
      const existing = this.get(name);
      const given = input as Record<string, unknown>;
      if ('version' in given) {
        expectVersion ??= typeof given.version === 'number' ? given.version : undefined;
        delete given.version;
      }
      return changed(store.replace(name, parseSiteInput({ ...siteToInput(existing), ...given }), expectVersion));
    },
    remove(name: string): void {
      store.remove(name);
      directory?.invalidate();
    },
  };
}
