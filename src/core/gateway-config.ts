// RX/TX gateway configuration with the field names of the RX/TX API document: validation (every
// bad field is named), normalization (numeric strings become numbers, defaults are filled in),
// the data-plane specification it maps to, and the document's response shape with statistics.
import { isIP } from 'node:net';
import { SUPPORTED_LINK_MODES, type LinkConfig, type LinkMode } from '../gateway/link.js';
import type { RxGatewaySpec, TxGatewaySpec } from '../gateway/rxtx.js';
import { isMulticast, type UdpEndpoint } from '../gateway/udp.js';
import type { SrtOptions } from '../protocol/options.js';
import { FilterConfigError, validateFilterOption } from '../protocol/filter-config.js';
import type { SrtStats } from '../protocol/stats.js';
import type { GroupStats } from '../transport/socket.js';
import { MASK } from './secrets.js';

export type GatewayKind = 'rx' | 'tx';
export type FieldValue = string | number;
/** A normalized configuration: document field name → value. */
export type GatewayConfig = Record<string, FieldValue>;

export interface FieldError {
  field: string;
  message: string;
}

/** One or more invalid fields (HTTP 400). */
export class GatewayConfigError extends RangeError {
  readonly code = 'API_ERR_VALIDATION';
  constructor(readonly errors: FieldError[]) {
    super(errors.map((e) => `${e.field}: ${e.message}`).join('; '));
  }
}

/** A valid setting this version cannot run (bonding, file mode): HTTP 422. */
export class UnsupportedError extends Error {
  readonly code = 'API_ERR_UNSUPPORTED';
  readonly statusCode = 422;
  constructor(readonly errors: FieldError[]) {
    super(errors.map((e) => `${e.field}: ${e.message}`).join('; '));
  }
}

type Spec =
  | { type: 'int'; min: number; max: number; unit?: string; def?: number }
  | { type: 'flag'; def: 0 | 1 }
  | { type: 'choice'; values: readonly (string | number)[]; def?: FieldValue }
  | { type: 'text'; check: (v: string) => string | null; def?: string };

/** 1 to 64 characters, none of them a control character. */
const serviceNameOk = (v: string): boolean => v.length >= 1 && v.length <= 64 && v.trim() !== '' && ![...v].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f);
const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*$/;

function checkHost(v: string, allowEmpty: boolean): string | null {
  if (v === '') return allowEmpty ? null : 'must not be empty';
  return isIP(v) || HOSTNAME.test(v) ? null : `"${v}" is not an IP address or host name`;
}

function checkIpOrEmpty(v: string): string | null {
  return v === '' || isIP(v) ? null : `"${v}" is not an IP address`;
}

/** "host:port" or "[v6]:port" → parts, or an error text. */
export function splitHostPort(v: string): { host: string; port: number } | string {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(v.trim());
  if (!m) return `"${v}" is not host:port (e.g. 224.10.10.149:5009)`;
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return `port ${port} is not from 1 to 65535`;
  return { host: m[1] ?? m[2]!, port };
}

function checkUdp(v: string, needIp: boolean): string | null {
  const hp = splitHostPort(v);
  if (typeof hp === 'string') return hp;
  if (needIp) return isIP(hp.host) ? null : `"${hp.host}" is not an IP address (a local address or a multicast group)`;
  return checkHost(hp.host, false);
}

const SPECS: Record<string, Spec> = {
  ServiceName: { type: 'text', check: (v) => (serviceNameOk(v) ? null : 'must be 1 to 64 printable characters') },
  Mode: { type: 'choice', values: ['caller', 'listener', 'rendezvous'] },
  TxIp: { type: 'text', check: (v) => checkHost(v, true), def: '' },
  RxIp: { type: 'text', check: (v) => checkHost(v, true), def: '' },
  ListenPort: { type: 'int', min: 1, max: 65535 },
  UdpIn: { type: 'text', check: (v) => checkUdp(v, true) },
  UdpOut: { type: 'text', check: (v) => checkUdp(v, false) },
  TTL: { type: 'int', min: 1, max: 255, def: 1 },
  Latency: { type: 'int', min: 0, max: 65535, unit: 'ms', def: 120 },
  SrtBw: { type: 'int', min: 0, max: 10_000_000, unit: 'kbit/s', def: 0 },
  InputBw: { type: 'int', min: 0, max: 10_000_000, unit: 'kbit/s', def: 0 },
  OverHead: { type: 'int', min: 5, max: 100, unit: '%', def: 25 },
  PassPhrase: { type: 'text', check: (v) => (v === '' || (v.length >= 10 && v.length <= 79) ? null : `must be empty or 10 to 79 characters (got ${v.length})`), def: '' },
  PbKeyLen: { type: 'choice', values: [16, 24, 32], def: 16 },
  TlpktDrop: { type: 'flag', def: 1 },
  FEC: { type: 'flag', def: 0 },
  PacketFilter: { type: 'flag', def: 0 },
  FecCols: { type: 'int', min: 0, max: 1000, def: 10 },
  FecRows: { type: 'int', min: 0, max: 1000, def: 5 },
  FecLayout: { type: 'choice', values: ['even', 'staircase'], def: 'staircase' },
  FecArq: { type: 'choice', values: ['always', 'onreq', 'never'], def: 'always' },
  Congestion: { type: 'choice', values: ['live', 'file'], def: 'live' },
  TransType: { type: 'choice', values: ['live', 'file'], def: 'live' },
  GroupConnect: { type: 'flag', def: 0 },
  GroupType: { type: 'choice', values: ['backup', 'broadcast', 'balancing'], def: 'backup' },
  GroupIp1: { type: 'text', check: checkIpOrEmpty, def: '' },
  GroupIp2: { type: 'text', check: checkIpOrEmpty, def: '' },
  Ip1Weight: { type: 'int', min: 0, max: 32767, def: 0 },
  Ip2Weight: { type: 'int', min: 0, max: 32767, def: 0 },
};

/** Each kind's fields in the order of the document's responses. */
export const FIELDS: Record<GatewayKind, readonly string[]> = {
  rx: ['ServiceName', 'Mode', 'TxIp', 'ListenPort', 'UdpOut', 'Latency', 'SrtBw', 'PassPhrase', 'PbKeyLen', 'TlpktDrop', 'TTL',
    'FEC', 'FecCols', 'FecRows', 'FecLayout', 'FecArq', 'Congestion', 'TransType', 'GroupConnect', 'GroupType', 'GroupIp1', 'GroupIp2',
    'Ip1Weight', 'Ip2Weight'],
  tx: ['ServiceName', 'Mode', 'RxIp', 'ListenPort', 'UdpIn', 'Latency', 'SrtBw', 'PassPhrase', 'PbKeyLen', 'GroupConnect', 'InputBw',
    'OverHead', 'PacketFilter', 'FecCols', 'FecRows', 'FecLayout', 'FecArq', 'Congestion', 'TransType'],
};

/** Statistics, in response order. */
export const STAT_FIELDS: Record<GatewayKind, readonly string[]> = {
  rx: ['LinkRtt', 'LinkBandwidth', 'LinkMaxBandwidth', 'RecvPackets', 'RecvPacketsUnique', 'RecvPacketsLost', 'RecvPacketsDropped',
    'RecvPacketsRetransmitted', 'RecvPacketsBelated', 'RecvPacketsFilterExtra', 'RecvPacketsFilterSupply', 'RecvPacketsFilterLoss',
    'RecvBytes', 'RecvBytesUnique', 'RecvBytesLost', 'RecvBytesDropped', 'RecvMbitRate', 'LineLoss'],
  tx: ['LinkRtt', 'LinkBandwidth', 'LinkMaxBandwidth', 'SendPackets', 'SendPacketsUnique', 'SendPacketsLost', 'SendPacketsDropped',
    'SendPacketsRetransmitted', 'SendPacketsFilterExtra', 'SendBytes', 'SendBytesUnique', 'SendBytesDropped', 'SendMbitRate', 'LineLoss'],
};

const REQUIRED: Record<GatewayKind, readonly string[]> = {
  rx: ['ServiceName', 'Mode', 'ListenPort', 'UdpOut'],
  tx: ['ServiceName', 'Mode', 'ListenPort', 'UdpIn'],
};

/** The peer address field of each kind (needed by callers and rendezvous). */
const PEER_FIELD: Record<GatewayKind, 'TxIp' | 'RxIp'> = { rx: 'TxIp', tx: 'RxIp' };

/** Field names the document uses in other spellings, and FEC/PacketFilter (the same switch). */
const ALIASES: Record<GatewayKind, Record<string, string>> = {
  rx: { FecLayOut: 'FecLayout', PacketFilter: 'FEC' },
  tx: { FecLayOut: 'FecLayout', FEC: 'PacketFilter' },
};

/** Response-only fields: a client may send back what it got from GET; they are ignored. */
const READ_ONLY = new Set(['Id', 'Status', 'ContainerId', 'Connected', 'Reconnections', ...STAT_FIELDS.rx, ...STAT_FIELDS.tx]);

function toInt(v: unknown): number | null {
  if (typeof v === 'number') return Number.isInteger(v) ? v : null;
  if (typeof v === 'string' && /^\s*-?\d+\s*$/.test(v)) return Number(v);
  return null;
}

/** Parses one field; returns the value or an error text. */
function parseField(name: string, spec: Spec, v: unknown): { value: FieldValue } | { error: string } {
  switch (spec.type) {
    case 'int': {
      const n = toInt(v);
      if (n === null || n < spec.min || n > spec.max) return { error: `${JSON.stringify(v)} is not an integer from ${spec.min} to ${spec.max}${spec.unit ? ` (${spec.unit})` : ''}` };
      return { value: n };
    }
    case 'flag': {
      const n = typeof v === 'boolean' ? Number(v) : toInt(v);
      if (n !== 0 && n !== 1) return { error: `${JSON.stringify(v)} is not 0 or 1` };
      return { value: n };
    }
    case 'choice': {
      const numeric = typeof spec.values[0] === 'number';
      const x = numeric ? toInt(v) : typeof v === 'string' ? v.trim().toLowerCase() : null;
      if (x === null || !spec.values.includes(x)) return { error: `${JSON.stringify(v)} is not one of ${spec.values.join(', ')}` };
      return { value: x };
    }
    case 'text': {
      if (typeof v !== 'string') return { error: `${JSON.stringify(v)} is not a string` };
      const err = spec.check(name === 'ServiceName' || name === 'PassPhrase' ? v : v.trim());
      return err ? { error: err } : { value: name === 'ServiceName' || name === 'PassPhrase' ? v : v.trim() };
    }
  }
}

const KIND_NAME: Record<GatewayKind, string> = { rx: 'an RX', tx: 'a TX' };

/** The counterpart of each direction-specific field (for the hint when the wrong one is sent). */
const COUNTERPART: Record<string, string> = { UdpOut: 'UdpIn', UdpIn: 'UdpOut', TxIp: 'RxIp', RxIp: 'TxIp' };

export interface NormalizeOptions {
  /**
   * The RX/TX compatibility routes (/v1/*): fields of the other direction are ignored, as the
   * original service ignored what it did not use (a client may send one body shape for both).
   * Unknown names stay errors, so that a misspelt field is not silently lost.
   */
  lenient?: boolean;
}

/** Maps the input's keys to canonical field names; unknown (and, unless lenient, other-kind) fields are errors. */
function canonicalInput(kind: GatewayKind, input: Record<string, unknown>, errors: FieldError[], lenient: boolean, ignored: Set<string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const own = new Set(FIELDS[kind]);
  const other = new Set(FIELDS[kind === 'rx' ? 'tx' : 'rx']);
  for (const [k, v] of Object.entries(input)) {
    if (READ_ONLY.has(k)) continue;
    const name = ALIASES[kind][k] ?? k;
    if (own.has(name)) out[name] = v;
    else if (other.has(name)) {
      if (lenient) ignored.add(k);
      else errors.push({ field: k, message: `not a field of ${KIND_NAME[kind]} gateway${COUNTERPART[k] ? ` (${KIND_NAME[kind]} gateway takes ${COUNTERPART[k]})` : ''}` });
    } else errors.push({ field: k, message: 'unknown field' });
  }
  return out;
}

/**
 * Validates `input` (merged over `base`, the stored configuration, for updates) and returns the
 * normalized configuration. Throws GatewayConfigError listing every invalid field.
 */
export function normalizeConfig(kind: GatewayKind, input: unknown, base: GatewayConfig = {}, opts: NormalizeOptions = {}): GatewayConfig {
  if (!input || typeof input !== 'object' || Array.isArray(input)) {
    throw new GatewayConfigError([{ field: '', message: 'the body must be a JSON object with the gateway fields' }]);
  }
  const errors: FieldError[] = [];
  const ignored = new Set<string>();
  const given = canonicalInput(kind, input as Record<string, unknown>, errors, opts.lenient === true, ignored);
  // a client may send back the masked passphrase it read ("***"): that keeps the stored one
  if (given['PassPhrase'] === MASK && base['PassPhrase']) delete given['PassPhrase'];
  const raw: Record<string, unknown> = { ...base, ...given };
  const out: GatewayConfig = {};
  for (const name of FIELDS[kind]) {
    const spec = SPECS[name]!;
    const v = raw[name];
    if (v === undefined || v === null) {
      if (REQUIRED[kind].includes(name)) {
        const sent = COUNTERPART[name];
        errors.push({ field: name, message: `is required${sent && ignored.has(sent) ? ` (${sent} is the field of the other direction and is ignored here)` : ''}` });
      }
      else if (spec.def !== undefined) out[name] = spec.def;
      continue;
    }
    const r = parseField(name, spec, v);
    if ('error' in r) errors.push({ field: name, message: r.error });
    else out[name] = r.value;
  }
  const peer = PEER_FIELD[kind];
  if ((out['Mode'] === 'caller' || out['Mode'] === 'rendezvous') && out[peer] === '' && !errors.some((e) => e.field === peer)) {
    errors.push({ field: peer, message: `is required in ${out['Mode']} mode (the address of the ${kind === 'rx' ? 'TX' : 'RX'} side)` });
  }
  const fecSwitch = kind === 'rx' ? 'FEC' : 'PacketFilter';
  if (out[fecSwitch] === 1 && errors.length === 0) {
    // the FEC fields become libsrt's filter string; its rules (cols >= 2, rows >= 1 or < -1, ...) name the field
    try {
      validateFilterOption(packetFilter(out)!);
    } catch (e) {
      const key = e instanceof FilterConfigError ? e.key : '';
      const field = ({ cols: 'FecCols', rows: 'FecRows', layout: 'FecLayout', arq: 'FecArq' } as Record<string, string>)[key] ?? fecSwitch;
      errors.push({ field, message: e instanceof Error ? e.message : String(e) });
    }
  }
  if (errors.length > 0) throw new GatewayConfigError(errors);
  return out;
}

/** libsrt's `packetfilter` string of a configuration with FEC on (FEC / PacketFilter = 1), else null. */
export function packetFilter(cfg: GatewayConfig): string | null {
  if (cfg['FEC'] !== 1 && cfg['PacketFilter'] !== 1) return null;
  return `fec,cols:${cfg['FecCols'] as number},rows:${cfg['FecRows'] as number},layout:${cfg['FecLayout'] as string},arq:${cfg['FecArq'] as string}`;
}

/** Settings that are valid but not runnable yet; throws UnsupportedError naming them. */
export function checkSupported(kind: GatewayKind, cfg: GatewayConfig): void {
  const errors: FieldError[] = [];
  if (cfg['GroupConnect'] === 1) {
    // bonding (ADR 16): a listener takes a caller's group; an RX caller dials GroupIp1/GroupIp2
    if (cfg['Mode'] === 'rendezvous') errors.push({ field: 'GroupConnect', message: 'connection groups need caller or listener mode (libsrt has no rendezvous groups)' });
    if (cfg['Mode'] === 'caller' && kind === 'tx') errors.push({ field: 'GroupConnect', message: 'a TX caller has no GroupIp fields to dial; bond with a TX listener and an RX caller' });
    if (cfg['Mode'] === 'caller' && kind === 'rx' && cfg['GroupType'] === 'balancing') errors.push({ field: 'GroupType', message: 'balancing groups do not exist in libsrt 1.5; use backup or broadcast' });
    if (cfg['Mode'] === 'caller' && kind === 'rx' && cfg['GroupIp1'] === '' && cfg['GroupIp2'] === '') errors.push({ field: 'GroupIp1', message: 'a bonded RX caller needs GroupIp1 and/or GroupIp2 (the TX addresses to dial)' });
    if (cfg['FEC'] === 1 || cfg['PacketFilter'] === 1) errors.push({ field: 'GroupConnect', message: 'FEC in connection groups is not supported' });
  }
  if (!SUPPORTED_LINK_MODES.has(cfg['Mode'] as LinkMode)) errors.push({ field: 'Mode', message: `${cfg['Mode']} is not supported yet` });
  for (const f of ['Congestion', 'TransType']) {
    // ADR 15: file mode (FileCC, no TSBPD, no drop, retransmit until acknowledged) would make a
    // live UDP feed wait behind retransmissions and lose its timing; it is for file transfer
    if (cfg[f] === 'file') {
      errors.push({ field: f, message: 'file mode is not supported in RX/TX gateways: they carry live UDP streams (use live); transfer files with sluice transmit and transtype=file' });
    }
  }
  if (errors.length > 0) throw new UnsupportedError(errors);
}

/** The SRT options of a configuration (kbit/s → bytes/s as libsrt counts them). */
export function srtOptions(kind: GatewayKind, cfg: GatewayConfig): Partial<SrtOptions> {
  const kbps = (f: string): number => Math.round(((cfg[f] as number) * 1000) / 8);
  const o: Partial<SrtOptions> = {
    latency: cfg['Latency'] as number,
    maxbw: kbps('SrtBw'), // 0: relative to the input rate (InputBw, or measured) + OverHead
    transtype: 'live',
    congestion: 'live',
  };
  const pass = cfg['PassPhrase'] as string;
  if (pass !== '') o.passphrase = pass;
  const filter = packetFilter(cfg);
  if (filter !== null) o.packetfilter = filter;
  if (kind === 'rx') {
    o.tlpktdrop = cfg['TlpktDrop'] === 1;
    // the key length is the sender's choice: a listener announces it, a caller takes it
  } else {
    o.inputbw = kbps('InputBw');
    o.oheadbw = cfg['OverHead'] as number;
    if (pass !== '') o.pbkeylen = cfg['PbKeyLen'] as 16 | 24 | 32;
  }
  return o;
}

export function linkConfig(kind: GatewayKind, cfg: GatewayConfig): LinkConfig {
  const mode = cfg['Mode'] as LinkMode;
  const options = srtOptions(kind, cfg);
  const link: LinkConfig = {
    mode,
    host: mode === 'listener' ? '' : (cfg[PEER_FIELD[kind]] as string),
    port: cfg['ListenPort'] as number,
    options,
  };
  if (cfg['GroupConnect'] === 1) {
    if (mode === 'listener') options.groupconnect = true;
    else if (kind === 'rx') {
      // the RX dials the TX over each of its addresses: GroupIp1 (Ip1Weight), GroupIp2 (Ip2Weight)
      const nodes: { host: string; port: number; weight: number }[] = [];
      for (const [ip, w] of [['GroupIp1', 'Ip1Weight'], ['GroupIp2', 'Ip2Weight']] as const) {
        if (cfg[ip] !== '') nodes.push({ host: cfg[ip] as string, port: link.port, weight: cfg[w] as number });
      }
      link.group = { type: cfg['GroupType'] === 'broadcast' ? 'broadcast' : 'backup', nodes };
      link.host = nodes[0]!.host;
    }
  }
  return link;
}

/**
 * A connection group's members in the document's statistics names (`GroupMembers` of get_rx/
 * get_tx: the address, weight and state of each member, then its own LinkRtt, Recv…/Send…).
 */
export function groupMemberStats(kind: GatewayKind, cfg: GatewayConfig, g: GroupStats | null): Record<string, unknown>[] {
  if (!g) return [];
  return g.members.map((m) => ({
    Ip: m.address,
    Port: m.port,
    Weight: m.weight,
    State: m.state,
    ...documentStats(kind, cfg, true, m.stats, null),
  }));
}

function udpEndpoint(text: string): UdpEndpoint {
  const hp = splitHostPort(text);
  if (typeof hp === 'string') throw new GatewayConfigError([{ field: 'Udp', message: hp }]);
  return hp;
}

export function rxSpec(cfg: GatewayConfig): RxGatewaySpec {
  const out = udpEndpoint(cfg['UdpOut'] as string);
  // TTL is the multicast hop limit; unicast keeps the system's default TTL
  if (isMulticast(out.host)) out.ttl = cfg['TTL'] as number;
  return { link: linkConfig('rx', cfg), udpOut: out };
}

export function txSpec(cfg: GatewayConfig): TxGatewaySpec {
  return { link: linkConfig('tx', cfg), udpIn: udpEndpoint(cfg['UdpIn'] as string) };
}

/** The local UDP port a configuration binds for SRT (listener, rendezvous), or null for a caller. */
export function boundPort(cfg: GatewayConfig): number | null {
  return cfg['Mode'] === 'caller' ? null : (cfg['ListenPort'] as number);
}

const round = (x: number, digits: number): number => {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
};

/**
 * Statistics in the document's names and units (zeros without a connection). As the document's
 * examples show (RecvBytes = RecvPackets × 1360 at 6.4 Mbit/s is minutes of traffic; the second
 * example restarts after a reconnection), packet and byte counts are totals since the current
 * connection was established, from `live` (its `*Total` counters now); LineLoss is over the
 * connection; LinkRtt and LinkBandwidth are current; the Mbit rates are those of the last
 * complete interval (`interval`, 0 until the first one ends).
 */
export function documentStats(kind: GatewayKind, cfg: GatewayConfig, running: boolean, live: SrtStats | null, interval: SrtStats | null = null): Record<string, number> {
  const s = live;
  const link = {
    LinkRtt: s ? round(s.msRTT, 3) : 0,
    LinkBandwidth: s ? round(s.mbpsBandwidth, 3) : 0,
    LinkMaxBandwidth: running ? (cfg['SrtBw'] as number) / 1000 : 0,
  };
  const pct = (lost: number, all: number): number => (all > 0 ? round((100 * lost) / all, 4) : 0);
  const rate = (v: number | undefined): number => (s && v !== undefined ? round(v, 5) : 0);
  if (kind === 'rx') {
    return {
      ...link,
      RecvPackets: s?.pktRecvTotal ?? 0,
      RecvPacketsUnique: s?.pktRecvUniqueTotal ?? 0,
      RecvPacketsLost: s?.pktRcvLossTotal ?? 0,
      RecvPacketsDropped: s?.pktRcvDropTotal ?? 0,
      RecvPacketsRetransmitted: s?.pktRcvRetransTotal ?? 0,
      RecvPacketsBelated: s?.pktRcvBelatedTotal ?? 0,
      RecvPacketsFilterExtra: s?.pktRcvFilterExtraTotal ?? 0,
      RecvPacketsFilterSupply: s?.pktRcvFilterSupplyTotal ?? 0,
      RecvPacketsFilterLoss: s?.pktRcvFilterLossTotal ?? 0,
      RecvBytes: s?.byteRecvTotal ?? 0,
      RecvBytesUnique: s?.byteRecvUniqueTotal ?? 0,
      RecvBytesLost: s?.byteRcvLossTotal ?? 0,
      RecvBytesDropped: s?.byteRcvDropTotal ?? 0,
      RecvMbitRate: rate(interval?.mbpsRecvRate),
      // over the whole connection: packets reported lost per packet received (as for TX)
      LineLoss: s ? pct(s.pktRcvLossTotal, s.pktRecvTotal) : 0,
    };
  }
  return {
    ...link,
    SendPackets: s?.pktSentTotal ?? 0,
    SendPacketsUnique: s?.pktSentUniqueTotal ?? 0,
    SendPacketsLost: s?.pktSndLossTotal ?? 0,
    SendPacketsDropped: s?.pktSndDropTotal ?? 0,
    SendPacketsRetransmitted: s?.pktRetransTotal ?? 0,
    SendPacketsFilterExtra: s?.pktSndFilterExtraTotal ?? 0,
    SendBytes: s?.byteSentTotal ?? 0,
    SendBytesUnique: s?.byteSentUniqueTotal ?? 0,
    SendBytesDropped: s?.byteSndDropTotal ?? 0,
    SendMbitRate: rate(interval?.mbpsSendRate),
    // the document's example: 105 lost of 4095 sent = 2.5641 %
    LineLoss: s ? pct(s.pktSndLossTotal, s.pktSentTotal) : 0,
  };
}

/** Whether a configuration field holds a number (else a string): for response schemas. */
export function isNumericField(name: string): boolean {
  const s = SPECS[name];
  return !!s && (s.type === 'int' || s.type === 'flag' || (s.type === 'choice' && typeof s.values[0] === 'number'));
}
