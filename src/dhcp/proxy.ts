/**
 * The proxyDHCP decision, apart from the sockets: proxyReply(request, ctx)
 * returns the reply and where to send it, or why the request is ignored.
 *
 * A proxyDHCP server (PXE 2.1 §2.2.3) never hands out addresses: the site's
 * DHCP server does that. It answers PXE clients' DISCOVERs on port 67 with a
 * "proxy offer" (no yiaddr; option 60 PXEClient; option 54; the boot file)
 * and their unicast REQUESTs on port 4011 with an ACK carrying the boot file.
 */
import {
  BOOTREPLY,
  BOOTREQUEST,
  MessageType,
  Opt,
  PacketError,
  clientMac,
  ipToBytes,
  messageType,
  messageTypeName,
  requestsOption,
  type DhcpPacket,
} from './packet.js';
import { Discovery, PxeSub, decodeBootItem, decodeSubOptions, encodeBootItem, encodeBootMenu, encodeBootServers, encodeMenuPrompt, encodeSubOptions } from './pxe.js';
import { archName, chooseBootFile, clientFacts, type ClientFacts, type FirmwareQuirks, type HostMode, type Loaders } from './firmware.js';

export type MenuDisplay = 'never' | 'always' | 'onkey';

export interface MenuItemConfig {
  label: string;
  /** netboot: the loader (of this item's `loader` key, or the client's architecture); local: boot the local disk. */
  action: 'netboot' | 'local';
  loader?: string;
}

export interface MenuConfig {
  /**
   * never: no menu, the loader boots at once; always: the menu appears at
   * once and waits; onkey: the prompt counts down `timeoutSec`, F8 opens the
   * menu (the firmware's hot key), otherwise the first item boots.
   */
  display: MenuDisplay;
  prompt?: string;
  timeoutSec?: number;
  items?: MenuItemConfig[];
}

export const DEFAULT_MENU_ITEMS: MenuItemConfig[] = [
  { label: 'Network boot (chainboot)', action: 'netboot' },
  { label: 'Boot from local disk', action: 'local' },
];

/** Boot server type for netboot menu item i (types 32768–65534 are for vendors). */
export const menuItemType = (i: number) => 0x8000 + i + 1;

export interface ProxyPolicy extends FirmwareQuirks {
  loaders: Loaders;
  httpBaseUrl: string;
  menu?: MenuConfig;
  /** Answer PXE clients that send no option 97 (PXE 2.1 requires it; some firmware omits it). Default true. */
  answerWithoutUuid?: boolean;
  /** Mode for MACs the host table does not know. Default follow. */
  defaultMode?: HostMode;
}

export interface ProxyContext {
  /** Which listener received it: 'dhcp' (port 67) or 'proxy' (port 4011). */
  via: 'dhcp' | 'proxy';
  source: { address: string; port: number };
  /** This server's address for this request (option 54, siaddr), or why there is none. */
  server: { address: string } | { error: string };
  policy: ProxyPolicy;
  /** Per-host control: the host's dhcpMode, undefined for an unknown MAC. May throw (a broken store). */
  hostMode: (mac: string) => HostMode | undefined;
}

export type IgnoreReason =
  | 'not-request'
  | 'not-ethernet'
  | 'not-pxe'
  | 'unsupported-message'
  | 'request-not-for-boot-server'
  | 'host-ignored'
  | 'host-lookup-failed'
  | 'no-uuid'
  | 'no-loader'
  | 'unknown-arch'
  | 'unknown-boot-item'
  | 'no-server-address'
  | 'bad-vendor-options';

export interface Destination {
  address: string;
  port: number;
  broadcast: boolean;
}

export interface ProxyAnswer {
  reply: DhcpPacket;
  to: Destination;
  message: 'offer' | 'ack';
  outcome: 'loader' | 'http-loader' | 'boot-script' | 'menu';
  firmware: string;
  bootFile: string | null;
  why: string;
  facts: ClientFacts;
  mode: HostMode;
}

export interface ProxyIgnore {
  ignore: IgnoreReason;
  why: string;
  facts?: ClientFacts;
  firmware?: string;
  /** Worth a boot event: the client looked like a PXE/HTTP boot client. */
  pxe: boolean;
}

export type ProxyDecision = ProxyAnswer | ProxyIgnore;

const ZERO = '0.0.0.0';

/*
 * Option values that recur in every reply, built once. A reply's option
 * values are only ever read (by encodePacket), never written, so replies may
 * share them.
 */
const MSG_OFFER = Buffer.from([MessageType.OFFER]);
const MSG_ACK = Buffer.from([MessageType.ACK]);
const CLASS_BYTES: Record<string, Buffer> = { PXEClient: Buffer.from('PXEClient', 'latin1'), HTTPClient: Buffer.from('HTTPClient', 'latin1') };
/** Option 43 with only PXE_DISCOVERY_CONTROL = boot the file in this packet. */
const USE_BOOT_FILE_43 = encodeSubOptions(new Map([[PxeSub.DISCOVERY_CONTROL, Buffer.from([Discovery.USE_BOOT_FILE])]]));
/** Interned latin1 bytes of the few strings that recur (loader names, URLs, server addresses); bounded. */
const latin1Cache = new Map<string, Buffer>();
function latin1(s: string): Buffer {
  let b = latin1Cache.get(s);
  if (!b) {
    if (latin1Cache.size >= 512) latin1Cache.clear();
    b = Buffer.from(s, 'latin1');
    latin1Cache.set(s, b);
  }
  return b;
}
const ipCache = new Map<string, Buffer>();
function ipBytes(ip: string): Buffer {
  let b = ipCache.get(ip);
  if (!b) {
    if (ipCache.size >= 512) ipCache.clear();
    b = ipToBytes(ip);
    ipCache.set(ip, b);
  }
  return b;
}

function ignore(reason: IgnoreReason, why: string, facts?: ClientFacts, firmware?: string): ProxyIgnore {
  return { ignore: reason, why, facts, firmware, pxe: !!facts?.clientClass };
}

/** RFC 2131 §4.1: via the relay when giaddr is set; else to ciaddr; else broadcast (no yiaddr to unicast to). */
function destination(req: DhcpPacket, ctx: ProxyContext): Destination {
  if (ctx.via === 'proxy' && ctx.source.address !== ZERO) return { address: ctx.source.address, port: ctx.source.port, broadcast: false };
  if (req.giaddr !== ZERO) return { address: req.giaddr, port: 67, broadcast: false };
  if (req.ciaddr !== ZERO) return { address: req.ciaddr, port: 68, broadcast: false };
  return { address: '255.255.255.255', port: 68, broadcast: true };
}

export function proxyReply(req: DhcpPacket, ctx: ProxyContext): ProxyDecision {
  if (req.op !== BOOTREQUEST) return ignore('not-request', `op ${req.op} is a reply, not a request`);
  const mac = clientMac(req);
  if (!mac) return ignore('not-ethernet', `htype ${req.htype} hlen ${req.hlen}: not an Ethernet client`);
  const type = messageType(req);
  const facts = clientFacts(req, mac, ctx.policy);
  if (!facts.clientClass) return ignore('not-pxe', `vendor class ${facts.vendorClass === null ? 'absent' : JSON.stringify(facts.vendorClass)}: not a PXE or HTTP boot client`);

  // Port 67 takes DISCOVERs, and REQUESTs that are PXE boot server discovery
  // (they carry option 43 sub-option 71); the REQUEST for an address belongs
  // to the site's DHCP server. Port 4011 takes REQUESTs (and INFORMs, which
  // some firmware sends there).
  let bootItem: { type: number; layer: number } | null = null;
  let vendorSubs: Map<number, Buffer> | null = null;
  const v43 = req.options.get(Opt.VENDOR_SPECIFIC);
  if (v43 && facts.clientClass === 'PXEClient') {
    try {
      vendorSubs = decodeSubOptions(v43);
      const item = vendorSubs.get(PxeSub.BOOT_ITEM);
      if (item) bootItem = decodeBootItem(item);
    } catch (e) {
      return ignore('bad-vendor-options', (e as PacketError).message, facts);
    }
  }
  let message: 'offer' | 'ack';
  if (ctx.via === 'dhcp') {
    if (type === MessageType.DISCOVER) message = 'offer';
    else if (type === MessageType.REQUEST && bootItem) message = 'ack';
    else if (type === MessageType.REQUEST) return ignore('request-not-for-boot-server', 'REQUEST on port 67 without a PXE boot item: it is for the DHCP server', facts);
    else return ignore('unsupported-message', `${messageTypeName(type)} on port 67`, facts);
  } else {
    if (type === MessageType.REQUEST || type === MessageType.INFORM) message = 'ack';
    else return ignore('unsupported-message', `${messageTypeName(type)} on port 4011`, facts);
  }

  if (facts.uuidProblem === 'absent' && ctx.policy.answerWithoutUuid === false) {
    return ignore('no-uuid', 'no option 97 (client UUID) and answerWithoutUuid is off', facts);
  }

  let mode: HostMode;
  try {
    mode = ctx.hostMode(mac) ?? ctx.policy.defaultMode ?? 'follow';
  } catch (e) {
    // Fail closed: a host the table would have said to ignore must not be booted by accident.
    return ignore('host-lookup-failed', `host lookup failed: ${(e as Error).message}`, facts);
  }
  if (mode === 'ignore') return ignore('host-ignored', 'host is set to dhcpMode ignore (not managed by chainboot)', facts);

  if ('error' in ctx.server) return ignore('no-server-address', ctx.server.error, facts);
  const serverIp = ctx.server.address;

  const menu = ctx.policy.menu;
  const items = menu?.items?.length ? menu.items : DEFAULT_MENU_ITEMS;
  // A menu only makes sense for PXE firmware on its first pass: never for
  // iPXE (it would ask again after every loop-break) nor for HTTP Boot.
  const offerMenu =
    message === 'offer' && !!menu && menu.display !== 'never' && facts.clientClass === 'PXEClient' && !facts.ipxe && items.some((i) => i.action === 'netboot');

  let itemLoader: string | undefined;
  if (bootItem && bootItem.type !== 0) {
    // Type 0 is the PXE bootstrap server (what EDK2 asks for on 4011); others must be one of our menu items.
    const idx = bootItem.type - 0x8001;
    const item = items[idx];
    if (!item || item.action !== 'netboot') return ignore('unknown-boot-item', `boot item type ${bootItem.type} is not one of this server's menu items`, facts);
    itemLoader = item.loader;
  }

  let vendorOptions: Buffer | null = null;
  let bootFile: string | null = null;
  let outcome: ProxyAnswer['outcome'];
  let firmware: string;
  let why: string;
  if (offerMenu) {
    // The file comes with the ACK to the client's boot server discovery (unicast to us on 4011).
    const subs = new Map<number, Buffer>();
    const netItems = items.map((it, i) => ({ it, type: it.action === 'local' ? 0 : menuItemType(i) }));
    subs.set(PxeSub.DISCOVERY_CONTROL, Buffer.from([Discovery.NO_BROADCAST | Discovery.NO_MULTICAST | Discovery.ONLY_LISTED_SERVERS]));
    subs.set(PxeSub.BOOT_SERVERS, encodeBootServers(netItems.filter((n) => n.type !== 0).map((n) => ({ type: n.type, addresses: [serverIp] }))));
    subs.set(PxeSub.BOOT_MENU, encodeBootMenu(netItems.map((n) => ({ type: n.type, label: n.it.label }))));
    const timeout = menu!.display === 'always' ? 255 : Math.min(254, Math.max(1, menu!.timeoutSec ?? 10));
    subs.set(PxeSub.MENU_PROMPT, encodeMenuPrompt(timeout, menu!.prompt ?? 'Press F8 for the boot menu'));
    outcome = 'menu';
    // Offer the menu only if the netboot item could be served to this architecture.
    const probe = chooseBootFile(facts, { loaders: ctx.policy.loaders, httpBaseUrl: ctx.policy.httpBaseUrl, mode, loaderKey: items.find((i) => i.action === 'netboot')!.loader });
    if ('none' in probe) return ignore(probe.none, probe.why, facts, probe.firmware);
    firmware = probe.firmware;
    why = `PXE boot menu (${menu!.display}, ${netItems.length} items)`;
    vendorOptions = encodeSubOptions(subs);
  } else {
    const choice = chooseBootFile(facts, { loaders: ctx.policy.loaders, httpBaseUrl: ctx.policy.httpBaseUrl, mode, loaderKey: itemLoader });
    if ('none' in choice) return ignore(choice.none, choice.why, facts, choice.firmware);
    bootFile = choice.file;
    outcome = choice.outcome;
    firmware = choice.firmware;
    why = choice.why;
    if (facts.clientClass === 'PXEClient') {
      // Boot the file in this packet: no boot server discovery, no menu.
      vendorOptions = bootItem
        ? encodeSubOptions(
            new Map([
              [PxeSub.DISCOVERY_CONTROL, Buffer.from([Discovery.USE_BOOT_FILE])],
              [PxeSub.BOOT_ITEM, encodeBootItem(bootItem.type, bootItem.layer & 0x7fff)],
            ]),
          )
        : USE_BOOT_FILE_43;
    }
  }

  const options = new Map<number, Buffer>();
  options.set(Opt.MESSAGE_TYPE, message === 'offer' ? MSG_OFFER : MSG_ACK);
  options.set(Opt.SERVER_ID, ipBytes(serverIp));
  options.set(Opt.VENDOR_CLASS, CLASS_BYTES[facts.clientClass]!);
  const uuid = req.options.get(Opt.CLIENT_UUID);
  if (uuid) options.set(Opt.CLIENT_UUID, uuid); // PXE 2.1: echoed unchanged, junk or not
  if (vendorOptions) options.set(Opt.VENDOR_SPECIFIC, vendorOptions);

  // The `file` field is what PXE ROMs read; options 66/67 go to clients that
  // ask for them (option 55), to HTTP Boot and iPXE (they read 67 first), and
  // whenever the name is too long for the 128-byte field.
  const fits = bootFile !== null && bootFile.length <= 127; // latin1: one byte per character
  if (bootFile !== null) {
    const urlish = outcome === 'http-loader' || outcome === 'boot-script';
    if (!urlish && requestsOption(req, Opt.TFTP_SERVER_NAME)) options.set(Opt.TFTP_SERVER_NAME, latin1(serverIp));
    if (urlish || !fits || requestsOption(req, Opt.BOOTFILE_NAME)) options.set(Opt.BOOTFILE_NAME, latin1(bootFile));
  }

  const reply: DhcpPacket = {
    op: BOOTREPLY,
    htype: req.htype,
    hlen: req.hlen,
    hops: 0,
    xid: req.xid,
    secs: 0,
    flags: req.flags,
    ciaddr: message === 'ack' ? req.ciaddr : ZERO,
    yiaddr: ZERO,
    siaddr: serverIp,
    giaddr: req.giaddr,
    chaddr: req.chaddr,
    sname: '',
    file: fits ? bootFile! : '',
    options,
  };
  return { reply, to: destination(req, ctx), message, outcome, firmware, bootFile, why, facts, mode };
}

/** One line for logs and the boot event's request column. */
export function describeRequest(req: DhcpPacket, facts: ClientFacts | undefined): string {
  const t = messageTypeName(messageType(req));
  if (!facts) return t;
  return `${t} ${facts.vendorClass ?? '-'}${facts.userClasses.length ? ` user-class ${facts.userClasses.join(',')}` : ''} arch ${facts.arch ?? '-'} (${archName(facts.arch)})`;
}
