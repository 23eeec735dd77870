/**
 * The same tables for PostgreSQL (DATABASE_URL=postgres://…), column for
 * column and named alike, so rows move between the two databases unchanged
 * (`chainboot db copy`). Times stay milliseconds since the epoch (bigint, read
 * as JavaScript numbers); JSON columns are jsonb; ids are identity columns
 * that take the copied values. test/db/pg-schema.test.ts checks that this
 * file and ../schema.ts describe the same columns.
 */
import { pgTable, text, integer, bigint, boolean, jsonb, uniqueIndex, index } from 'drizzle-orm/pg-core';
import { PROFILE_KINDS, TASK_STATES, type SecretValue } from '../schema.js';

const ms = (name: string) => bigint(name, { mode: 'number' });
const id = () => integer('id').primaryKey().generatedByDefaultAsIdentity();
/** Event tables grow for as long as the service runs: 64-bit ids, as SQLite's are. */
const bigId = () => bigint('id', { mode: 'number' }).primaryKey().generatedByDefaultAsIdentity();

export const profiles = pgTable('profiles', {
  id: id(),
  name: text('name').notNull().unique(),
  kind: text('kind', { enum: PROFILE_KINDS }).notNull(),
  description: text('description').notNull().default(''),
  kernel: text('kernel'),
  initrds: jsonb('initrds').$type<string[]>().notNull().default([]),
  cmdline: text('cmdline').notNull().default(''),
  options: jsonb('options').$type<Record<string, unknown>>().notNull().default({}),
  bootTemplate: text('boot_template').notNull().default(''),
  files: jsonb('files').$type<Record<string, string>>().notNull().default({}),
  variables: jsonb('variables').$type<Record<string, string>>().notNull().default({}),
  secrets: jsonb('secrets').$type<Record<string, SecretValue>>().notNull().default({}),
  createdAt: ms('created_at').notNull(),
  updatedAt: ms('updated_at').notNull(),
});

export const hosts = pgTable(
  'hosts',
  {
    id: id(),
    mac: text('mac').notNull(),
    hostname: text('hostname'),
    profileId: integer('profile_id').references(() => profiles.id, { onDelete: 'restrict' }),
    variables: jsonb('variables').$type<Record<string, string>>().notNull().default({}),
    notes: text('notes').notNull().default(''),
    dhcpMode: text('dhcp_mode', { enum: ['follow', 'loader', 'ignore'] }).notNull().default('follow'),
    discovered: boolean('discovered').notNull().default(false),
    labels: jsonb('labels').$type<string[]>().notNull().default([]),
    secrets: jsonb('secrets').$type<Record<string, SecretValue>>().notNull().default({}),
    menuMode: text('menu_mode', { enum: ['never', 'always', 'key'] }).notNull().default('never'),
    menuTimeout: integer('menu_timeout').notNull().default(5),
    menuProfiles: jsonb('menu_profiles').$type<string[]>().notNull().default([]),
    version: integer('version').notNull().default(1),
    facts: jsonb('facts').$type<Record<string, string>>().notNull().default({}),
    firstSeen: ms('first_seen'),
    lastSeen: ms('last_seen'),
    createdAt: ms('created_at').notNull(),
    updatedAt: ms('updated_at').notNull(),
  },
  (t) => [uniqueIndex('hosts_mac_unique').on(t.mac), index('hosts_profile_idx').on(t.profileId)],
);

export const tasks = pgTable(
  'tasks',
  {
    id: id(),
    hostId: integer('host_id')
      .notNull()
      .references(() => hosts.id, { onDelete: 'cascade' }),
    profileId: integer('profile_id')
      .notNull()
      .references(() => profiles.id, { onDelete: 'restrict' }),
    state: text('state', { enum: TASK_STATES }).notNull(),
    batch: text('batch'),
    comment: text('comment').notNull().default(''),
    notBefore: ms('not_before'),
    expiresAt: ms('expires_at'),
    onFailure: text('on_failure', { enum: ['local', 'retry'] }).notNull().default('local'),
    maxRetries: integer('max_retries').notNull().default(0),
    attempt: integer('attempt').notNull().default(1),
    message: text('message').notNull().default(''),
    nonce: text('nonce').notNull(),
    version: integer('version').notNull().default(1),
    createdAt: ms('created_at').notNull(),
    updatedAt: ms('updated_at').notNull(),
    servedAt: ms('served_at'),
    startedAt: ms('started_at'),
    finishedAt: ms('finished_at'),
  },
  (t) => [index('tasks_host_state_idx').on(t.hostId, t.state), index('tasks_state_idx').on(t.state)],
);

export const taskEvents = pgTable(
  'task_events',
  {
    id: bigId(),
    taskId: integer('task_id')
      .notNull()
      .references(() => tasks.id, { onDelete: 'cascade' }),
    at: ms('at').notNull(),
    fromState: text('from_state'),
    toState: text('to_state').notNull(),
    message: text('message').notNull().default(''),
    actor: text('actor').notNull(),
  },
  (t) => [index('task_events_task_idx').on(t.taskId, t.at)],
);

export const templates = pgTable(
  'templates',
  {
    id: id(),
    name: text('name').notNull(),
    version: integer('version').notNull(),
    body: text('body').notNull(),
    comment: text('comment').notNull().default(''),
    createdAt: ms('created_at').notNull(),
  },
  (t) => [uniqueIndex('templates_name_version_unique').on(t.name, t.version)],
);

export const bootEvents = pgTable(
  'boot_events',
  {
    id: bigId(),
    at: ms('at').notNull(),
    mac: text('mac'),
    clientIp: text('client_ip'),
    kind: text('kind').notNull(),
    request: text('request').notNull(),
    result: text('result').notNull(),
    status: integer('status').notNull().default(200),
    detail: jsonb('detail').$type<Record<string, unknown>>(),
  },
  (t) => [index('boot_events_mac_at_idx').on(t.mac, t.at), index('boot_events_at_idx').on(t.at)],
);

export const sites = pgTable('sites', {
  id: id(),
  name: text('name').notNull().unique(),
  description: text('description').notNull().default(''),
  subnets: jsonb('subnets').$type<string[]>().notNull().default([]),
  relays: jsonb('relays').$type<string[]>().notNull().default([]),
  assetBaseUrl: text('asset_base_url').notNull().default(''),
  bootBaseUrl: text('boot_base_url').notNull().default(''),
  loaders: jsonb('loaders').$type<Record<string, string>>().notNull().default({}),
  defaultProfile: text('default_profile').notNull().default(''),
  menuDisplay: text('menu_display').notNull().default(''),
  version: integer('version').notNull().default(1),
  createdAt: ms('created_at').notNull(),
  updatedAt: ms('updated_at').notNull(),
});

export const settings = pgTable('settings', {
  key: text('key').primaryKey(),
  value: text('value').notNull(),
});

/** In foreign-key order: a table comes after the tables it refers to. */
export const PG_TABLES = { profiles, hosts, templates, sites, settings, tasks, taskEvents, bootEvents };
