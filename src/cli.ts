#!/usr/bin/env node
/**
 * chainboot <command> [arguments] [--setting value …]
 * Settings (--data-dir, --http-port …) apply to every command; see "chainboot help".
 */
import { readFileSync, existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { ConfigError, configHelp, flagName, loadConfig, SETTINGS, type Config } from './config.js';
import { createLogger } from './log.js';
import { serve } from './main.js';
import { serveSatellite } from './satellite/index.js';
import { maskSecrets } from './db/store.js';
import type { Profile } from './db/schema.js';
import { createAdmin, parseMac } from './admin.js';
import { createEngine } from './render/engine.js';
import { createBootService } from './boot/service.js';
import { openBackend } from './db/backend.js';
import { tokenHash } from './http/routes/api.js';
import { shippedTemplatesDir } from './paths.js';
import { ConflictError, InvalidInputError, NotFoundError } from './errors.js';
import { profileToInput } from './boot/profile.js';
import { TemplateError } from './render/engine.js';
import { resolveBaseUrl } from './config.js';
import { dhcpConfigText, DHCP_SERVER_KINDS, type DhcpServerKind } from './dhcp/dhcp-config.js';
import { parseDhcpSettings } from './dhcp/settings.js';
import { doctorCommand } from './doctor/index.js';
import { dirname, resolve } from 'node:path';
import { backupDatabase, dbPath, MaintenanceError, restoreDatabase, runningServer } from './db/backup.js';
import { copyDatabase, parseDbLocation } from './db/copy.js';
import { createSiteDirectory } from './sites/store.js';
import { createSiteAdmin } from './sites/admin.js';
import { createAssetVersions } from './sites/asset-version.js';
import { parseIpv4 } from './dhcp/packet.js';
import { isPostgresUrl, redactUrl } from './db/url.js';

const USAGE = `usage: chainboot <command> [arguments] [settings]

commands:
  serve                                   run the boot service (HTTP; TFTP and proxyDHCP when built in)
  serve --role satellite --upstream URL --satellite-token T [--site NAME]
                                          a site satellite: proxyDHCP + TFTP + /boot.ipxe, no database; follows the
                                          centre at URL and sends clients to their local disk while it is unreachable
  hosts list [--q TEXT] [--json]          list hosts
  hosts show MAC                          one host as JSON
  hosts add MAC [--hostname H] [--profile P] [--var K=V]… [--notes TEXT] [--dhcp-mode follow|loader|ignore]
  hosts set MAC [--hostname H|--hostname ''] [--profile P|--profile ''] [--var K=V]… [--unset-var K]… [--notes TEXT] [--dhcp-mode M]
               [--label L]… [--menu-mode never|always|key] [--menu-timeout S] [--menu-profile P]…
               [--secret K=V]… [--unset-secret K]…
  hosts rm MAC
  hosts adopt MAC [--hostname H] [--profile P]   make a discovered host a managed one
  hosts timeline MAC [--limit N]          DHCP, TFTP, HTTP and task steps of one host, in order
  tasks assign MAC…|--label L --profile P [--not-before TIME] [--expires TIME]
               [--on-failure local|retry] [--retries N] [--comment C] [--replace]
  tasks list [--state S[,S]] [--mac MAC] [--batch B] [--json]
  tasks show ID | tasks cancel ID
  profiles list [--json]
  profiles show NAME
  profiles add --json FILE|-              a profile as JSON (see README for fields per kind)
  profiles add NAME --kind KIND [--kernel A] [--initrd A]… [--cmdline C] [--iso A] [--url U]
               [--option K=V]… [--file NAME=TEMPLATE]… [--var K=V]… [--description D]
  profiles set NAME --json FILE|-         replace a profile's definition
  profiles rm NAME
  sites list [--json]                     sites: subnets, relays, asset cache URL, overrides
  sites show NAME
  sites add NAME [--subnet CIDR]… [--relay IP]… [--asset-base-url URL] [--boot-base-url URL]
               [--loader FAMILY=FILE]… [--profile P|-] [--menu never|always|onkey] [--description D]
  sites add --json FILE|-                 a site as JSON
  sites set NAME [same flags]             change the given fields (--subnet/--relay/--loader replace the lists)
  sites rm NAME
  sites match IP [--relay IP]             which site an address (or a relay) belongs to
  templates list
  templates show NAME [--version N]
  templates save NAME FILE|- [--comment C]   save a new version (refused if it does not compile)
  templates versions NAME
  templates restore NAME VERSION          make an old version (0 = shipped) the newest
  import FILE|-                           host-os.conf: "MAC, profile[, hostname]" per line; all or nothing
  preview MAC [--file NAME] [--pxelinux] [--ip ADDR]   what this host would get now (from ADDR: its site's URLs)
  events [--mac MAC] [--limit N]          recent boot events
  token --rotate                          make a new admin token (the old one stops working)
  dhcp-config --for isc|kea|dnsmasq|windows   options 66/67 for your own DHCP server instead of proxyDHCP
  doctor [--json] [--no-probe] [--listen-seconds N] [--probe-interface IF]   check ports, loaders, address, other DHCP servers, firewall
  backup FILE [--force]                   online copy of the SQLite database (safe while serve runs; PostgreSQL: pg_dump)
  restore FILE                            replace the SQLite database with a backup (serve must be stopped; the old one is kept)
  db copy --from DB --to DB               every row into a new, empty database, verified (DB: sqlite:PATH or postgres://…);
                                          e.g. --from sqlite:./data/chainboot.db --to postgres://chainboot@db/chainboot

settings (flag, environment, default; a JSON config file with --config FILE):
${configHelp()}
`;

const SETTING_FLAGS = new Set([...SETTINGS.map((s) => flagName(s.key)), '--config']);

/** Splits argv into setting flags (for loadConfig) and command arguments. */
function splitArgs(argv: string[]): { settings: string[]; args: string[]; configFile?: string } {
  const settings: string[] = [];
  const args: string[] = [];
  let configFile: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const name = a.includes('=') ? a.slice(0, a.indexOf('=')) : a;
    if (SETTING_FLAGS.has(name)) {
      const value = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i];
      if (value === undefined) throw new ConfigError([`${name} needs a value`]);
      if (name === '--config') configFile = value;
      else settings.push(`${name}=${value}`);
    } else args.push(a);
  }
  return { settings, args, configFile };
}

/** Command options: --name value (repeatable), --flag. */
function options(args: string[], booleans: string[] = []) {
  const pos: string[] = [];
  const opts = new Map<string, string[]>();
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a.startsWith('--') && a.length > 2) {
      const eq = a.indexOf('=');
      const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
      let value: string;
      if (eq > 0) value = a.slice(eq + 1);
      else if (booleans.includes(name)) value = 'true';
      else if (i + 1 < args.length) value = args[++i]!;
      else throw new InvalidInputError(`--${name} needs a value`);
      opts.set(name, [...(opts.get(name) ?? []), value]);
    } else pos.push(a);
  }
  return {
    pos,
    one: (n: string) => opts.get(n)?.at(-1),
    all: (n: string) => opts.get(n) ?? [],
    has: (n: string) => opts.has(n),
  };
}

function kv(list: string[], what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of list) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new InvalidInputError(`${what} "${item}" must be NAME=VALUE`);
    out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}

function readInput(file: string): string {
  return readFileSync(file === '-' ? 0 : file, 'utf8');
}

function print(v: unknown): void {
  process.stdout.write(JSON.stringify(v, null, 2) + '\n');
}

/** The database URL without its password, for messages. */
function shownUrl(url: string): string {
  return redactUrl(url).slice(0, 120);
}

/**
 * Whether the configuration names PostgreSQL (databaseUrl / DATABASE_URL);
 * a set value that is not a postgres:// URL is a usage error.
 */
function usesPostgres(cfg: Config): boolean {
  if (!cfg.databaseUrl) return false;
  if (isPostgresUrl(cfg.databaseUrl)) return true;
  throw new InvalidInputError(`DATABASE_URL must be a postgres:// or postgresql:// URL (got "${shownUrl(cfg.databaseUrl)}"); leave it unset for the embedded SQLite file in --data-dir`);
}

/** The database (SQLite in dataDir, or PostgreSQL) with the admin operations over it; close `backend` when done. */
async function openAdmin(cfg: Config) {
  usesPostgres(cfg);
  const backend = await openBackend({ databaseUrl: cfg.databaseUrl || undefined, file: join(cfg.dataDir, 'chainboot.db') });
  try {
    // The synchronous views (templates for the engine, the site list) as of now.
    await backend.fresh();
  } catch (e) {
    await backend.close();
    throw e;
  }
  const { store, tasks } = backend;
  const engine = createEngine({ store: backend.templates, shippedDir: cfg.templateDir === './templates' ? shippedTemplatesDir : resolve(cfg.templateDir) });
  const siteDirectory = createSiteDirectory(() => backend.siteList(), { ttlMs: 0 });
  const fresh = () => backend.fresh();
  return {
    backend,
    store,
    engine,
    tasks,
    fresh,
    admin: createAdmin({ store, engine, tasks, fresh }),
    sites: { admin: createSiteAdmin(backend.sites, siteDirectory), directory: siteDirectory },
  };
}

/** Site fields from command flags; only the flags given. */
function siteFlags(o: ReturnType<typeof options>): Record<string, unknown> {
  const input: Record<string, unknown> = {};
  if (o.has('description')) input.description = o.one('description');
  if (o.has('subnet')) input.subnets = o.all('subnet').filter(Boolean);
  if (o.has('relay')) input.relays = o.all('relay').filter(Boolean);
  if (o.has('asset-base-url')) input.assetBaseUrl = o.one('asset-base-url');
  if (o.has('boot-base-url')) input.bootBaseUrl = o.one('boot-base-url');
  if (o.has('loader')) input.loaders = kv(o.all('loader').filter(Boolean), '--loader');
  if (o.has('profile')) input.defaultProfile = o.one('profile');
  if (o.has('menu')) input.menuDisplay = o.one('menu');
  return input;
}

/** A profile as the CLI prints it: its input form, secret values masked. */
function shownProfile(p: Profile): Record<string, unknown> {
  return { ...profileToInput(p), secrets: maskSecrets(p.secrets) };
}

function when(ms: number | null): string {
  return ms === null ? '-' : new Date(ms).toISOString().replace('.000Z', 'Z');
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(USAGE);
    return command ? 0 : 2;
  }
  const { settings, args, configFile } = splitArgs(rest);
  const env = process.env;
  const cfgPath = configFile ?? env.CHAINBOOT_CONFIG;
  if (cfgPath && !existsSync(cfgPath)) throw new ConfigError([`config file ${cfgPath} does not exist`]);
  const load = () => loadConfig({ argv: settings, env, file: cfgPath ? { path: cfgPath, text: readFileSync(cfgPath, 'utf8') } : undefined });
  const cfg = load();

  if (command === 'serve') {
    if (args.length) throw new InvalidInputError(`serve takes no arguments (got ${args.join(' ')})`);
    const log = createLogger(cfg.logLevel);
    // A reload reads the config file and the environment again; flags stay as given.
    const running = cfg.role === 'satellite' ? await serveSatellite(cfg, log, { reloadConfig: load }) : await serve(cfg, log, { reloadConfig: load });
    let signals = 0;
    const stop = (sig: string) => {
      if (++signals === 1) {
        log.info(`${sig}: shutting down (running transfers get up to the shutdown deadline; ${sig} again stops at once)`);
        running.close().then(
          () => process.exit(signals > 1 ? 1 : 0),
          (err: unknown) => {
            log.error({ err }, 'shutdown failed');
            process.exit(1);
          },
        );
      } else {
        log.warn(`${sig} again: stopping now, cutting what still runs`);
        running.close({ immediate: true }).finally(() => process.exit(1));
      }
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGHUP', () => {
      log.info('SIGHUP: reloading the configuration');
      running.reload();
    });
    return -1; // keep running
  }

  if (command === 'dhcp-config') {
    const kind = options(args).one('for') as DhcpServerKind | undefined;
    if (!kind || !DHCP_SERVER_KINDS.includes(kind)) throw new InvalidInputError(`usage: chainboot dhcp-config --for ${DHCP_SERVER_KINDS.join('|')}`);
    const d = parseDhcpSettings(cfg).value;
    const baseUrl = resolveBaseUrl(cfg);
    const serverIp = d.advertiseIp ?? new URL(baseUrl).hostname;
    process.stdout.write(dhcpConfigText(kind, { serverIp, httpBaseUrl: baseUrl, loaders: d.loaders }));
    return 0;
  }

  if (command === 'backup' || command === 'restore') {
    if (usesPostgres(cfg)) {
      const url = shownUrl(cfg.databaseUrl);
      throw new InvalidInputError(
        command === 'backup'
          ? `backup copies the embedded SQLite database only; this configuration keeps its data in PostgreSQL (${url}): back that up with pg_dump (e.g. pg_dump -Fc -f chainboot.dump "$DATABASE_URL")`
          : `restore replaces the embedded SQLite database only; this configuration keeps its data in PostgreSQL (${url}): restore a pg_dump with pg_restore, or load a chainboot SQLite backup into an empty database with "chainboot db copy --from sqlite:FILE --to postgres://…"`,
      );
    }
    return maintenance(command, args, cfg);
  }

  if (command === 'db') {
    const o = options(args);
    const from = o.one('from');
    const to = o.one('to');
    if (o.pos[0] !== 'copy' || !from || !to) throw new InvalidInputError('usage: chainboot db copy --from sqlite:PATH|postgres://… --to sqlite:PATH|postgres://…');
    const src = parseDbLocation(from);
    if (src.kind === 'sqlite') {
      const live = runningServer(dirname(resolve(src.file)));
      if (live) process.stderr.write(`warning: chainboot serve (pid ${live.pid}) is using ${src.file}: the copy is one consistent snapshot, but what it writes after that is not copied; stop it first for a move\n`);
    }
    try {
      const r = await copyDatabase(from, to, { log: (l) => process.stdout.write(`  ${l}\n`) });
      process.stdout.write(`copied ${r.rows} row(s) from ${r.from} to ${r.to} in ${r.ms} ms; verified table by table (rows and a digest of every row):\n`);
      for (const t of r.tables) process.stdout.write(`  ${t.table.padEnd(12)} ${String(t.rows).padStart(9)}  ${t.digest}\n`);
      return 0;
    } catch (e) {
      throw new InvalidInputError(`db copy: ${(e as Error).message}`);
    }
  }

  if (command === 'doctor') return doctorCommand(cfg, args);

  const { backend, store, engine, admin, sites, fresh } = await openAdmin(cfg);
  try {
    const [sub, ...more] = args;
    switch (command) {
      case 'hosts': {
        const o = options(more, ['json']);
        if (sub === 'list') {
          const r = await store.listHosts({ q: o.one('q'), limit: 1000 });
          if (o.has('json')) print(r);
          else for (const h of r.hosts) process.stdout.write(`${h.mac}  ${(h.hostname ?? '-').padEnd(24)} ${(h.profile ?? '-').padEnd(20)} ${h.discovered ? 'discovered' : ''}\n`);
          return 0;
        }
        const mac = o.pos[0];
        if (!mac) throw new InvalidInputError(`hosts ${sub ?? ''}: MAC required`);
        if (sub === 'show') return print(await admin.getHost(mac)), 0;
        if (sub === 'add') {
          print(await admin.addHost({ mac, hostname: o.one('hostname'), profile: o.one('profile'), variables: kv(o.all('var'), '--var'), notes: o.one('notes'), dhcpMode: o.one('dhcp-mode') }));
          return 0;
        }
        if (sub === 'set') {
          const current = await admin.getHost(mac);
          const patch: Record<string, unknown> = {};
          if (o.has('hostname')) patch.hostname = o.one('hostname') || null;
          if (o.has('profile')) patch.profile = o.one('profile') || null;
          if (o.has('notes')) patch.notes = o.one('notes');
          if (o.has('dhcp-mode')) patch.dhcpMode = o.one('dhcp-mode');
          if (o.has('label')) patch.labels = o.all('label').filter(Boolean);
          if (o.has('menu-mode')) patch.menuMode = o.one('menu-mode');
          if (o.has('menu-timeout')) patch.menuTimeout = Number(o.one('menu-timeout'));
          if (o.has('menu-profile')) patch.menuProfiles = o.all('menu-profile').filter(Boolean);
          if (o.has('secret') || o.has('unset-secret')) {
            patch.secrets = { ...kv(o.all('secret'), '--secret'), ...Object.fromEntries(o.all('unset-secret').map((k) => [k, null])) };
          }
          patch.version = current.version;
          if (o.has('var') || o.has('unset-var')) {
            const vars = { ...current.variables, ...kv(o.all('var'), '--var') };
            for (const k of o.all('unset-var')) delete vars[k];
            patch.variables = vars;
          }
          print(await admin.updateHost(mac, patch));
          return 0;
        }
        if (sub === 'rm') return await admin.removeHost(mac), 0;
        if (sub === 'adopt') {
          const patch: Record<string, unknown> = {};
          if (o.has('hostname')) patch.hostname = o.one('hostname') || null;
          if (o.has('profile')) patch.profile = o.one('profile') || null;
          print(await admin.adoptHost(mac, patch));
          return 0;
        }
        if (sub === 'timeline') {
          for (const e of await admin.hostTimeline(mac, Number(o.one('limit') ?? 200))) {
            process.stdout.write(`${when(e.at)} ${e.source.padEnd(7)} ${e.status ?? '   '} ${e.what} → ${e.result}\n`);
          }
          return 0;
        }
        break;
      }
      case 'profiles': {
        const o = options(more, ['json-out']);
        if (sub === 'list') {
          for (const p of await store.listProfiles()) process.stdout.write(`${p.name.padEnd(28)} ${p.kind.padEnd(12)} ${p.description}\n`);
          return 0;
        }
        const name = o.pos[0];
        if (sub === 'show' && name) return print(shownProfile(await admin.getProfile(name))), 0;
        if (sub === 'rm' && name) return await admin.removeProfile(name), 0;
        if (sub === 'add' || sub === 'set') {
          let input: Record<string, unknown>;
          if (o.has('json')) input = JSON.parse(readInput(o.one('json')!)) as Record<string, unknown>;
          else {
            input = { name, kind: o.one('kind') };
            if (o.has('description')) input.description = o.one('description');
            if (o.has('kernel')) input.kernel = o.one('kernel');
            if (o.has('initrd')) input.initrds = o.all('initrd');
            if (o.has('cmdline')) input.cmdline = o.one('cmdline');
            if (o.has('iso')) input.iso = o.one('iso');
            if (o.has('url')) input.url = o.one('url');
            if (o.has('template')) input.bootTemplate = o.one('template');
            if (o.has('file')) input.files = kv(o.all('file'), '--file');
            if (o.has('var')) input.variables = kv(o.all('var'), '--var');
            for (const [k, v] of Object.entries(kv(o.all('option'), '--option'))) {
              input[k] = k === 'entries' || k === 'inject' ? v.split(',') : /^\d+$/.test(v) ? Number(v) : v;
            }
          }
          if (sub === 'add') print(shownProfile(await admin.addProfile(input)));
          else if (name) print(shownProfile(await admin.replaceProfile(name, input)));
          else throw new InvalidInputError('profiles set: NAME required');
          return 0;
        }
        break;
      }
      case 'sites': {
        // --json is a switch for list and a FILE for add/set.
        const o = options(more, sub === 'list' ? ['json'] : []);
        if (sub === 'list') {
          const all = await sites.admin.list();
          if (o.has('json')) print(all);
          else for (const x of all) process.stdout.write(`${x.name.padEnd(20)} ${(x.subnets.join(',') || '-').padEnd(36)} ${(x.relays.join(',') || '-').padEnd(20)} ${x.assetBaseUrl || '(centre)'}\n`);
          return 0;
        }
        const name = o.pos[0];
        if (sub === 'match') {
          if (!name && !o.has('relay')) throw new InvalidInputError('sites match: IP (and/or --relay IP) required');
          const m = sites.directory.match({ client: name, relay: o.one('relay') });
          process.stdout.write(m ? `${m.site.name} (${m.by})\n` : "no site: the centre's own network\n");
          return 0;
        }
        if (sub === 'show' && name) return print(await sites.admin.get(name)), 0;
        if (sub === 'rm' && name) return await sites.admin.remove(name), 0;
        if (sub === 'add') {
          const input = o.has('json') ? (JSON.parse(readInput(o.one('json')!)) as unknown) : { name, ...siteFlags(o) };
          print(await sites.admin.add(input));
          return 0;
        }
        if (sub === 'set' && name) {
          const current = await sites.admin.get(name);
          print(await sites.admin.patch(name, o.has('json') ? (JSON.parse(readInput(o.one('json')!)) as unknown) : siteFlags(o), current.version));
          return 0;
        }
        break;
      }
      case 'templates': {
        const o = options(more);
        if (sub === 'list') {
          for (const t of await admin.listTemplates()) process.stdout.write(`${t.name.padEnd(32)} ${t.target.padEnd(10)} ${t.source === 'saved' ? `saved v${t.version}` : 'shipped'}\n`);
          return 0;
        }
        const name = o.pos[0];
        if (!name) throw new InvalidInputError(`templates ${sub ?? ''}: NAME required`);
        if (sub === 'show') {
          const v = o.one('version');
          process.stdout.write(v !== undefined ? (await admin.templateVersion(name, Number(v))).body : (await admin.getTemplate(name)).body);
          return 0;
        }
        if (sub === 'save') {
          if (!o.pos[1]) throw new InvalidInputError('templates save: FILE (or -) required');
          const v = await admin.saveTemplate(name, readInput(o.pos[1]), o.one('comment') ?? '');
          process.stdout.write(`saved ${v.name} version ${v.version}\n`);
          return 0;
        }
        if (sub === 'versions') return print(await admin.templateVersions(name)), 0;
        if (sub === 'restore') {
          if (!o.pos[1] || !/^\d+$/.test(o.pos[1])) throw new InvalidInputError('templates restore: VERSION (a number) required');
          const v = await admin.restoreTemplate(name, Number(o.pos[1]));
          process.stdout.write(`restored: ${v.name} is now version ${v.version}\n`);
          return 0;
        }
        break;
      }
      case 'tasks': {
        const o = options(more, ['replace', 'json']);
        if (sub === 'assign') {
          const input: Record<string, unknown> = { profile: o.one('profile') };
          const macs = [...o.pos, ...o.all('mac')];
          if (o.has('label')) input.label = o.one('label');
          else if (macs.length === 1) input.mac = macs[0];
          else if (macs.length > 1) input.macs = macs;
          if (o.has('not-before')) input.notBefore = o.one('not-before');
          if (o.has('expires')) input.expiresAt = o.one('expires');
          if (o.has('on-failure')) input.onFailure = o.one('on-failure');
          if (o.has('retries')) input.maxRetries = Number(o.one('retries'));
          if (o.has('comment')) input.comment = o.one('comment');
          if (o.has('replace')) input.replace = true;
          const made = await admin.assignTasks(input);
          for (const t of made) process.stdout.write(`task ${t.id}: ${t.mac} → ${t.profile} (${t.state})\n`);
          return 0;
        }
        if (sub === 'list') {
          const r = await admin.listTasks({ state: o.one('state'), mac: o.one('mac'), batch: o.one('batch'), limit: Number(o.one('limit') ?? 100) });
          if (o.has('json')) return print(r), 0;
          for (const t of r.tasks) process.stdout.write(`${String(t.id).padStart(6)} ${t.state.padEnd(9)} ${t.mac} ${(t.hostname ?? '-').padEnd(20)} ${t.profile.padEnd(20)} ${when(t.updatedAt)} ${t.message}\n`);
          return 0;
        }
        const id = o.pos[0];
        if (!id || !/^\d+$/.test(id)) throw new InvalidInputError(`tasks ${sub ?? ''}: task ID (a number) required`);
        if (sub === 'show') return print(await admin.getTask(Number(id))), 0;
        if (sub === 'cancel') {
          const t = await admin.cancelTask(Number(id));
          process.stdout.write(`task ${t.id}: ${t.state}\n`);
          return 0;
        }
        break;
      }
      case 'import': {
        if (!sub) throw new InvalidInputError('import: FILE (or -) required');
        const r = await admin.importHostOs(readInput(sub));
        if (!r.ok) {
          for (const p of r.problems) process.stderr.write(`${sub}:${p.line}: ${p.message}${p.text ? `  (${p.text.trim()})` : ''}\n`);
          process.stderr.write(`import refused: ${r.problems.length} problem(s); nothing was imported\n`);
          return 1;
        }
        process.stdout.write(`imported: ${r.added} added, ${r.updated} updated\n`);
        return 0;
      }
      case 'preview': {
        const o = options(args.slice(1), ['pxelinux']);
        const mac = args[0] ?? '';
        const boot = createBootService({ store, engine, fresh, baseUrl: resolveBaseUrl(cfg), defaultProfile: cfg.defaultProfile || undefined, sites: sites.directory, assetVersion: createAssetVersions(cfg.assetRoot) });
        const ip = o.one('ip');
        if (ip !== undefined && parseIpv4(ip) === null) throw new InvalidInputError('--ip: not an IPv4 address');
        const req = { mac: parseMac(mac), client: {}, clientIp: ip, record: false };
        const r = o.has('file') ? await boot.file(req, o.one('file')!) : o.has('pxelinux') ? await boot.pxelinux(req) : await boot.script(req);
        process.stdout.write(r.body);
        return r.status === 200 ? 0 : 1;
      }
      case 'events': {
        const o = options(args);
        const mac = o.one('mac');
        for (const e of (await store.listEvents({ mac: mac ? parseMac(mac) : undefined, limit: Number(o.one('limit') ?? 50) })).reverse()) {
          process.stdout.write(`${new Date(e.at).toISOString()} ${(e.mac ?? '-').padEnd(17)} ${(e.clientIp ?? '-').padEnd(15)} ${e.kind.padEnd(8)} ${e.status} ${e.request} → ${e.result}\n`);
        }
        return 0;
      }
      case 'token': {
        if (sub !== '--rotate' && !options(args, ['rotate']).has('rotate')) throw new InvalidInputError('token: use "token --rotate" to make a new admin token');
        if (cfg.adminToken) throw new InvalidInputError('the admin token is set in the configuration (adminToken); change it there');
        const token = randomBytes(24).toString('base64url');
        await store.setSetting('admin_token_sha256', tokenHash(token));
        process.stdout.write(`${token}\n`);
        return 0;
      }
    }
    throw new InvalidInputError(`unknown command "${[command, sub].filter(Boolean).join(' ')}" (see "chainboot help")`);
  } finally {
    await backend.close();
  }
}


/** backup FILE [--force] | restore FILE: before openAdmin, which would create and migrate a database. */
async function maintenance(command: 'backup' | 'restore', args: string[], cfg: Config): Promise<number> {
  const o = options(args, ['force']);
  const file = o.pos[0];
  if (!file || o.pos.length > 1) throw new InvalidInputError(`usage: chainboot ${command} FILE${command === 'backup' ? ' [--force]' : ''}`);
  const rows = (r: Record<string, number>) => Object.entries(r).map(([t, n]) => `${t} ${n}`).join(', ');
  try {
    if (command === 'backup') {
      const r = await backupDatabase(dbPath(cfg.dataDir), file, { force: o.has('force') });
      process.stdout.write(`backed up ${dbPath(cfg.dataDir)} to ${r.file}: ${r.bytes} bytes, migration ${r.level.tag}, in ${Math.round(r.ms)} ms\n  ${rows(r.rows)}\n`);
    } else {
      const r = await restoreDatabase(cfg.dataDir, file);
      process.stdout.write(`restored ${dbPath(cfg.dataDir)} from ${r.from} (migration ${r.level.tag}${r.upgraded ? ', upgraded from an older level' : ''})\n  ${rows(r.rows)}\n`);
      process.stdout.write(r.previous ? `the database it replaced is kept as ${r.previous}\n` : 'there was no database before\n');
    }
    return 0;
  } catch (err) {
    if (err instanceof MaintenanceError) throw new InvalidInputError(err.message);
    throw err;
  }
}

function isMain(): boolean {
  const entry = process.argv[1] ?? '';
  return entry.endsWith('/cli.js') || entry.endsWith('/cli.ts') || entry.endsWith('/chainboot');
}

if (isMain()) {
  main(process.argv.slice(2)).then(
    (code) => {
      if (code >= 0) process.exitCode = code;
    },
    (err: unknown) => {
      if (err instanceof ConfigError || err instanceof InvalidInputError || err instanceof NotFoundError || err instanceof ConflictError || err instanceof TemplateError) {
        process.stderr.write(`chainboot: ${err.message}\n`);
        process.exitCode = 2;
      } else if (err instanceof SyntaxError) {
        process.stderr.write(`chainboot: bad JSON input: ${err.message}\n`);
        process.exitCode = 2;
      } else {
        process.stderr.write(`chainboot: ${(err as Error)?.stack ?? String(err)}\n`);
        process.exitCode = 1;
      }
    },
  );
}
