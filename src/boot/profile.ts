/**
 * What an admin may say about a profile, per kind. The API and CLI parse input
 * through profileInputSchema; the result maps 1:1 onto the profiles table.
 */
import { z } from 'zod';
import { PROFILE_KINDS } from '../db/schema.js';
import {
  assetRefSchema,
  cmdlineSchema,
  hostFileNameSchema,
  profileNameSchema,
  secretsSchema,
  templateNameSchema,
  urlSchema,
  variablesSchema,
} from '../validate.js';

const common = {
  name: profileNameSchema,
  description: z.string().max(500).refine((v) => !/[\u0000-\u001f\u007f]/.test(v), 'description must be one line').default(''),
  bootTemplate: z.union([templateNameSchema, z.literal('')]).default(''),
  files: z
    .record(hostFileNameSchema, templateNameSchema)
    .refine((f) => Object.keys(f).length <= 50, 'at most 50 files per profile')
    .default({}),
  variables: variablesSchema.default({}),
  secrets: secretsSchema.default({}),
};

const linuxish = {
  kernel: assetRefSchema,
  initrds: z.array(assetRefSchema).max(16).default([]),
  cmdline: cmdlineSchema.default(''),
};

export const profileInputSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('linux'), ...common, ...linuxish }).strict(),
  z.object({ kind: z.literal('pxelinux'), ...common, ...linuxish }).strict(),
  z
    .object({
      kind: z.literal('memdisk-iso'),
      ...common,
      iso: assetRefSchema,
      memdiskArgs: z.string().regex(/^[A-Za-z0-9 =._,-]*$/, 'memdisk arguments may contain letters, digits, spaces and = . _ , -').default('iso raw'),
    })
    .strict(),
  z
    .object({
      kind: z.literal('wimboot'),
      ...common,
      wimboot: assetRefSchema.optional(),
      bcd: assetRefSchema,
      bootSdi: assetRefSchema,
      bootWim: assetRefSchema,
      /** Per-host files injected by wimboot into X:\Windows\System32 (e.g. startnet.cmd, autorun.bat). */
      inject: z.array(hostFileNameSchema).max(16).default([]),
    })
    .strict(),
  z.object({ kind: z.literal('chain'), ...common, url: urlSchema }).strict(),
  z
    .object({
      kind: z.literal('local'),
      ...common,
      /** exit: hand back to the firmware's next boot device; sanboot: boot the first hard disk from iPXE. */
      method: z.enum(['exit', 'sanboot']).default('exit'),
    })
    .strict(),
  z
    .object({
      kind: z.literal('menu'),
      ...common,
      title: z.string().max(80).regex(/^[^\u0000-\u001f\u007f$]*$/, 'title must be one line without "$"').default('chainboot'),
      entries: z.array(profileNameSchema).min(1, 'a menu needs at least one entry').max(40),
      timeout: z.number().int().min(0).max(3600).default(10),
      default: profileNameSchema.optional(),
    })
    .strict(),
]);

export type ProfileInput = z.infer<typeof profileInputSchema>;

export const PROFILE_OPTION_KEYS: Record<string, string[]> = {
  'memdisk-iso': ['iso', 'memdiskArgs'],
  wimboot: ['wimboot', 'bcd', 'bootSdi', 'bootWim', 'inject'],
  chain: ['url'],
  local: ['method'],
  menu: ['title', 'entries', 'timeout', 'default'],
};

/** Splits parsed input into table columns: the kind-specific fields go into `options`. */
export function profileRow(input: ProfileInput) {
  const optionKeys = PROFILE_OPTION_KEYS[input.kind] ?? [];
  const rec = input as unknown as Record<string, unknown>;
  const options: Record<string, unknown> = {};
  for (const k of optionKeys) if (rec[k] !== undefined) options[k] = rec[k];
  return {
    name: input.name,
    kind: input.kind,
    description: input.description,
    kernel: 'kernel' in input ? input.kernel : null,
    initrds: 'initrds' in input ? input.initrds : [],
    cmdline: 'cmdline' in input ? input.cmdline : '',
    options,
    bootTemplate: input.bootTemplate,
    files: input.files,
    variables: input.variables,
    secrets: Object.fromEntries(Object.entries(input.secrets).filter((e): e is [string, { value: string; always?: boolean }] => e[1] !== null)),
  };
}

/** The inverse of profileRow: a stored profile as API input (for PATCH merges and export). */
export function profileToInput(p: {
  name: string;
  kind: string;
  description: string;
  kernel: string | null;
  initrds: string[];
  cmdline: string;
  options: Record<string, unknown>;
  bootTemplate: string;
  files: Record<string, string>;
  variables: Record<string, string>;
  secrets?: Record<string, { value: string; always?: boolean }>;
}): Record<string, unknown> {
  const out: Record<string, unknown> = {
    name: p.name,
    kind: p.kind,
    description: p.description,
    bootTemplate: p.bootTemplate,
    files: p.files,
    variables: p.variables,
    secrets: p.secrets ?? {},
    ...p.options,
  };
  if (p.kind === 'linux' || p.kind === 'pxelinux') {
    out.kernel = p.kernel;
    out.initrds = p.initrds;
    out.cmdline = p.cmdline;
  }
  return out;
}

export { PROFILE_KINDS };
