import { sqliteTable, text, integer, uniqueIndex, index } from 'drizzle-orm/sqlite-core';

export const PROFILE_KINDS = ['linux', 'memdisk-iso', 'wimboot', 'pxelinux', 'chain', 'local', 'menu'] as const;
export type ProfileKind = (typeof PROFILE_KINDS)[number];

export const profiles = sqliteTable('profiles', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  name: text('name').notNull().unique(),
  kind: text('kind', { enum: PROFILE_KINDS }).notNull(),
  description: text('description').notNull().default(''),
  /** Asset path under the asset root, or an absolute http(s) URL. */
  kernel: text('kernel'),
  initrds: text('initrds', { mode: 'json' }).$type<string[]>().notNull().default([]),
  cmdline: text('cmdline').notNull().default(''),
  /** Kind-specific settings: iso, wimboot/bcd/bootSdi/bootWim, url, entries/timeout/default, method. */
  options: text('options', { mode: 'json' }).$type<Record<string, unknown>>().notNull().default({}),
  /** Template that renders the iPXE script; empty = ipxe/<kind>.ipxe */
  bootTemplate: text('boot_template').notNull().default(''),
  /** Per-host files this profile offers: file name → template name (ks.cfg → kickstart/rhel.cfg). */
  files: text('files', { mode: 'json' }).$type<Record<string, string>>().notNull().default({}),
  variables: text('variables', { mode: 'json' }).$type<Record<string, string>>().notNull().default({}),
  createdAt: integer('created_at').notNull(),
  updatedAt: integer('updated_at').notNull(),
});

export const hosts = sqliteTable(
  'hosts',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    /** Lower-case colon form, 08:00:27:4d:4d:aa */
    mac: text('mac').notNull(),
    hostname: text('hostname'),
    profileId: integer('profile_id').references(() => profiles.id, { onDelete: 'restrict' }),
    variables: text('variables', { mode: 'json' }).$type<Record<string, string>>().notNull().default({}),
    notes: text('notes').notNull().default(''),
    /**
     * How proxyDHCP treats this host: follow (loader, then HTTP per its profile),
     * loader (always hand out the loader, never the HTTP loop-break),
     * ignore (not managed by chainboot: never answered).
     */
    dhcpMode: text('dhcp_mode', { enum: ['follow', 'loader', 'ignore'] }).notNull().default('follow'),
    /** Registered by its first boot rather than by an admin. */
    discovered: integer('discovered', { mode: 'boolean' }).notNull().default(false),
    /** What the client last said about itself (from iPXE's settings); untrusted. */
    facts: text('facts', { mode: 'json' }).$type<Record<string, string>>().notNull().default({}),
    firstSeen: integer('first_seen'),
    lastSeen: integer('last_seen'),
    createdAt: integer('created_at').notNull(),
    updatedAt: integer('updated_at').notNull(),
  },
  (t) => [uniqueIndex('hosts_mac_unique').on(t.mac), index('hosts_profile_idx').on(t.profileId)],
);

export const templates = sqliteTable(
  'templates',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    name: text('name').notNull(),
    version: integer('version').notNull(),
    body: text('body').notNull(),
    comment: text('comment').notNull().default(''),
    createdAt: integer('created_at').notNull(),
  },
  (t) => [uniqueIndex('templates_name_version_unique').on(t.name, t.version)],
);

export const bootEvents = sqliteTable(
  'boot_events',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    at: integer('at').notNull(),
    mac: text('mac'),
    clientIp: text('client_ip'),
    /** entry | script | pxelinux | file | asset | loader | error */
    kind: text('kind').notNull(),
    /** What the client asked for (path, file name). */
    request: text('request').notNull(),
    /** What it was given (action/profile/template, status). */
    result: text('result').notNull(),
    status: integer('status').notNull().default(200),
    detail: text('detail', { mode: 'json' }).$type<Record<string, unknown>>(),
  },
  (t) => [index('boot_events_mac_at_idx').on(t.mac, t.at), index('boot_events_at_idx').on(t.at)],
);

export const settings = sqliteTable('settings', {
  key: text('key').primaryKey(),
  value: text('value').notNull(),
});

export type Profile = typeof profiles.$inferSelect;
export type Host = typeof hosts.$inferSelect;
export type TemplateVersion = typeof templates.$inferSelect;
export type BootEvent = typeof bootEvents.$inferSelect;
export type NewBootEvent = typeof bootEvents.$inferInsert;
