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
  secrets: text('secrets', { mode: 'json' }).$type<Record<string, SecretValue>>().notNull().default({}),
  createdAt: integer('created_at').notNull(),
  updatedAt: integer('updated_at').notNull(),
});

export interface SecretValue {
  value: string;
  /** Serve it even when no task is pending or running for the host. */
  always?: boolean;
}

export const TASK_STATES = ['pending', 'served', 'running', 'done', 'failed', 'expired', 'cancelled'] as const;
export type TaskState = (typeof TASK_STATES)[number];
export const ACTIVE_TASK_STATES: TaskState[] = ['pending', 'served', 'running'];

export const tasks = sqliteTable(
  'tasks',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    hostId: integer('host_id')
      .notNull()
      .references(() => hosts.id, { onDelete: 'cascade' }),
    profileId: integer('profile_id')
      .notNull()
      .references(() => profiles.id, { onDelete: 'restrict' }),
    state: text('state', { enum: TASK_STATES }).notNull(),
    /** Tasks made by one assignment (a list of MACs or a label) share it. */
    batch: text('batch'),
    comment: text('comment').notNull().default(''),
    notBefore: integer('not_before'),
    expiresAt: integer('expires_at'),
    /** After failed: local (give up) or retry (back to pending) while attempt <= maxRetries. */
    onFailure: text('on_failure', { enum: ['local', 'retry'] }).notNull().default('local'),
    maxRetries: integer('max_retries').notNull().default(0),
    attempt: integer('attempt').notNull().default(1),
    /** Last progress text or failure message from the environment. */
    message: text('message').notNull().default(''),
    /** Random per task; the callback token is an HMAC over it, so tokens are not stored. */
    nonce: text('nonce').notNull(),
    version: integer('version').notNull().default(1),
    createdAt: integer('created_at').notNull(),
    updatedAt: integer('updated_at').notNull(),
    servedAt: integer('served_at'),
    startedAt: integer('started_at'),
    finishedAt: integer('finished_at'),
  },
  (t) => [index('tasks_host_state_idx').on(t.hostId, t.state), index('tasks_state_idx').on(t.state)],
);

/** Every state change of every task, with time and message: the task's history. */
export const taskEvents = sqliteTable(
  'task_events',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    taskId: integer('task_id')
      .notNull()
      .references(() => tasks.id, { onDelete: 'cascade' }),
    at: integer('at').notNull(),
    fromState: text('from_state'),
    toState: text('to_state').notNull(),
    message: text('message').notNull().default(''),
    /** admin | boot | callback | sweeper */
    actor: text('actor').notNull(),
  },
  (t) => [index('task_events_task_idx').on(t.taskId, t.at)],
);

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
    /** Free-form group names ("lab3", "rack-12") for assigning tasks to many hosts at once. */
    labels: text('labels', { mode: 'json' }).$type<string[]>().notNull().default([]),
    /**
     * Variables only the host's per-host files see, and only while a task for
     * it is pending or running (or always, if `always`): password hashes,
     * product keys, join credentials. Never returned by the API.
     */
    secrets: text('secrets', { mode: 'json' }).$type<Record<string, SecretValue>>().notNull().default({}),
    /** The standing boot menu: never (straight to the default action), always, or key (only if a key is pressed within menuTimeout s). */
    menuMode: text('menu_mode', { enum: ['never', 'always', 'key'] }).notNull().default('never'),
    menuTimeout: integer('menu_timeout').notNull().default(5),
    /** Profiles this host's menu offers. */
    menuProfiles: text('menu_profiles', { mode: 'json' }).$type<string[]>().notNull().default([]),
    /** Optimistic concurrency: every change increments it; a change made against an older version is refused. */
    version: integer('version').notNull().default(1),
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

/**
 * A site: a place with its own subnets (a branch office, a rack row, a lab),
 * reached through DHCP relays or served by a satellite. Requests are matched
 * to a site by relay address (giaddr) or client address; the site can point
 * big downloads at a cache or mirror of its own and override the defaults.
 */
export const sites = sqliteTable('sites', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  name: text('name').notNull().unique(),
  description: text('description').notNull().default(''),
  /** IPv4 CIDRs of the site's client subnets ("10.20.0.0/16"). */
  subnets: text('subnets', { mode: 'json' }).$type<string[]>().notNull().default([]),
  /** Addresses of the site's DHCP relays (IP helpers): the giaddr of relayed requests. */
  relays: text('relays', { mode: 'json' }).$type<string[]>().notNull().default([]),
  /** Base URL kernels, initrds, WIMs, ISOs and images are fetched from at this site (a cache or mirror of /assets); empty = the centre. */
  assetBaseUrl: text('asset_base_url').notNull().default(''),
  /** The centre's URL as this site's clients reach it (scripts, per-host files); empty = the server's base URL. */
  bootBaseUrl: text('boot_base_url').notNull().default(''),
  /** Loader overrides by firmware family ({"efi64": "snponly.efi"}); merged over the server's. */
  loaders: text('loaders', { mode: 'json' }).$type<Record<string, string>>().notNull().default({}),
  /** Profile for this site's hosts that have none; empty = the server's default; "-" = boot the local disk. */
  defaultProfile: text('default_profile').notNull().default(''),
  /** PXE menu display at this site (never | always | onkey); empty = the server's. */
  menuDisplay: text('menu_display').notNull().default(''),
  version: integer('version').notNull().default(1),
  createdAt: integer('created_at').notNull(),
  updatedAt: integer('updated_at').notNull(),
});

export const settings = sqliteTable('settings', {
  key: text('key').primaryKey(),
  value: text('value').notNull(),
});

export type Profile = typeof profiles.$inferSelect;
export type Task = typeof tasks.$inferSelect;
export type TaskEvent = typeof taskEvents.$inferSelect;
export type Host = typeof hosts.$inferSelect;
export type TemplateVersion = typeof templates.$inferSelect;
export type BootEvent = typeof bootEvents.$inferSelect;
export type Site = typeof sites.$inferSelect;
export type NewBootEvent = typeof bootEvents.$inferInsert;
