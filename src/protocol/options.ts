// Socket options with libsrt / srt-live-transmit names and units (SRT-DIGEST §11).
import { OptionError } from './errors.js';
import { MAX_SID_LENGTH } from './handshake.js';
import { FEC_EXTRA_SIZE, LIVE_MAX_PAYLOAD, MAX_FILTER_LENGTH, validateFilterOption } from './filter-config.js';

export interface SrtOptions {
  /** `live` (TSBPD, LiveCC) or `file` (FileCC, no TSBPD, byte stream by default; ADR 15). */
  transtype: 'live' | 'file';
  /** Sets rcvlatency and peerlatency, ms. */
  latency?: number;
  rcvlatency: number; // ms
  peerlatency: number; // ms
  streamid: string;
  maxbw: number; // bytes/s; -1 = 1 Gbit/s, 0 = relative to input rate
  inputbw: number; // bytes/s
  mininputbw: number; // bytes/s
  oheadbw: number; // %
  conntimeo: number; // ms
  peeridletimeo: number; // ms
  payloadsize: number; // bytes
  mss: number; // bytes
  fc: number; // packets
  rcvbuf: number; // bytes
  sndbuf: number; // bytes
  tlpktdrop: boolean;
  nakreport: boolean;
  snddropdelay: number; // ms, -1 = never
  lossmaxttl: number; // packets
  passphrase: string;
  pbkeylen: 0 | 16 | 24 | 32;
  kmrefreshrate: number; // packets
  kmpreannounce: number; // packets
  enforcedencryption: boolean;
  /** 0 auto (caller: AES-CTR; listener: follow the caller), 1 AES-CTR, 2 AES-GCM (libsrt 1.5.2+ AEAD builds). */
  cryptomode: 0 | 1 | 2;
  congestion: 'live' | 'file';
  messageapi: boolean;
  linger: number; // seconds
  drifttracer: boolean;
  retransmitalgo: 0 | 1;
  minversion: number;
  /** SRTO_PACKETFILTER: '' (none) or `fec,cols:C,rows:R,layout:even|staircase,arq:always|onreq|never` (ADR 12). */
  packetfilter: string;
  /** SRTO_GROUPCONNECT: a listener accepts members of connection groups (bonding, ADR 16). */
  groupconnect: boolean;
  /** SRTO_GROUPMINSTABLETIMEO: a main/backup member that gets no answer for this long is unstable, ms. */
  groupminstabletimeo: number;
}

export const DEFAULT_OPTIONS: Readonly<SrtOptions> = Object.freeze({
  transtype: 'live',
  rcvlatency: 120,
  peerlatency: 0,
  streamid: '',
  maxbw: -1,
  inputbw: 0,
  mininputbw: 0,
  oheadbw: 25,
  conntimeo: 3000,
  peeridletimeo: 5000,
  payloadsize: 1316,
  mss: 1500,
  fc: 25600,
  rcvbuf: 8192 * 1472,
  sndbuf: 8192 * 1472,
  tlpktdrop: true,
  nakreport: true,
  snddropdelay: 0,
  lossmaxttl: 0,
  passphrase: '',
  pbkeylen: 0,
  kmrefreshrate: 1 << 24,
  kmpreannounce: 1 << 12,
  enforcedencryption: true,
  cryptomode: 0,
  congestion: 'live',
  messageapi: true,
  linger: 0,
  drifttracer: true,
  retransmitalgo: 1,
  minversion: 0x010000,
  packetfilter: '',
  groupconnect: false,
  groupminstabletimeo: 60,
} as SrtOptions);

/** Smallest MSS libsrt accepts (SRTO_MSS); a peer announcing less in its handshake is rogue. */
export const MIN_MSS = 76;

/** IPv4 + UDP overhead that libsrt assumes for every address family. */
export const UDP_IP_OVERHEAD = 28;
/** SRT header + UDP + IPv4: the 44 bytes libsrt adds to each payload in rate and byte counters. */
export const PACKET_OVERHEAD = 44;

type Kind = 'int' | 'bool' | 'string' | 'enum';
interface Spec {
  kind: Kind;
  min?: number;
  max?: number;
  values?: readonly (string | number)[];
  unit?: string;
}

const SPECS: Record<keyof SrtOptions, Spec> = {
  transtype: { kind: 'enum', values: ['live', 'file'] },
  latency: { kind: 'int', min: 0, max: 65535, unit: 'ms' },
  rcvlatency: { kind: 'int', min: 0, max: 65535, unit: 'ms' },
  peerlatency: { kind: 'int', min: 0, max: 65535, unit: 'ms' },
  streamid: { kind: 'string', max: MAX_SID_LENGTH },
  maxbw: { kind: 'int', min: -1, max: Number.MAX_SAFE_INTEGER, unit: 'bytes/s' },
  inputbw: { kind: 'int', min: 0, max: Number.MAX_SAFE_INTEGER, unit: 'bytes/s' },
  mininputbw: { kind: 'int', min: 0, max: Number.MAX_SAFE_INTEGER, unit: 'bytes/s' },
  oheadbw: { kind: 'int', min: 5, max: 100, unit: '%' },
  conntimeo: { kind: 'int', min: 1, max: 3_600_000, unit: 'ms' },
  peeridletimeo: { kind: 'int', min: 1, max: 3_600_000, unit: 'ms' },
  payloadsize: { kind: 'int', min: 1, max: 1456, unit: 'bytes' },
  mss: { kind: 'int', min: MIN_MSS, max: 1500, unit: 'bytes' },
  fc: { kind: 'int', min: 32, max: 1 << 24, unit: 'packets' },
  rcvbuf: { kind: 'int', min: 32 * 1472, max: 2 ** 31 - 1, unit: 'bytes' },
  sndbuf: { kind: 'int', min: 32 * 1472, max: 2 ** 31 - 1, unit: 'bytes' },
  tlpktdrop: { kind: 'bool' },
  nakreport: { kind: 'bool' },
  snddropdelay: { kind: 'int', min: -1, max: 3_600_000, unit: 'ms' },
  lossmaxttl: { kind: 'int', min: 0, max: 65535, unit: 'packets' },
  passphrase: { kind: 'string', max: 79 },
  pbkeylen: { kind: 'enum', values: [0, 16, 24, 32] },
  kmrefreshrate: { kind: 'int', min: 0, max: 2 ** 31 - 1, unit: 'packets' },
  kmpreannounce: { kind: 'int', min: 0, max: 2 ** 30, unit: 'packets' },
  enforcedencryption: { kind: 'bool' },
  cryptomode: { kind: 'enum', values: [0, 1, 2] },
  congestion: { kind: 'enum', values: ['live', 'file'] },
  messageapi: { kind: 'bool' },
  linger: { kind: 'int', min: 0, max: 3600, unit: 's' },
  drifttracer: { kind: 'bool' },
  retransmitalgo: { kind: 'enum', values: [0, 1] },
  minversion: { kind: 'int', min: 0, max: 0xffffff },
  packetfilter: { kind: 'string', max: MAX_FILTER_LENGTH },
  groupconnect: { kind: 'bool' },
  groupminstabletimeo: { kind: 'int', min: 60, max: 3_600_000, unit: 'ms' },
};

export const OPTION_NAMES = Object.keys(SPECS) as (keyof SrtOptions)[];

function describe(name: string, s: Spec): string {
  switch (s.kind) {
    case 'int': return `an integer from ${s.min} to ${s.max}${s.unit ? ` (${s.unit})` : ''}`;
    case 'bool': return 'a boolean (true/false, 1/0, yes/no, on/off)';
    case 'string': return name === 'passphrase' ? 'empty or 10 to 79 characters' : `a string of at most ${s.max} bytes`;
    case 'enum': return `one of ${s.values!.join(', ')}`;
  }
}

/** Parses one option from its textual form (URL query value). */
export function parseOptionValue(name: string, text: string): unknown {
  const spec = (SPECS as Record<string, Spec>)[name];
  if (!spec) throw new OptionError(name, 'unknown option');
  switch (spec.kind) {
    case 'int': {
      if (!/^-?\d+$/.test(text.trim())) throw new OptionError(name, `"${text}" is not ${describe(name, spec)}`);
      return Number(text);
    }
    case 'bool': {
      const t = text.toLowerCase();
      if (['1', 'true', 'yes', 'on'].includes(t)) return true;
      if (['0', 'false', 'no', 'off'].includes(t)) return false;
      throw new OptionError(name, `"${text}" is not ${describe(name, spec)}`);
    }
    case 'enum': {
      const n = Number(text);
      return spec.values!.includes(n) ? n : text;
    }
    case 'string':
      return text;
  }
}

/** Validates and completes options. Throws OptionError naming the option and its range. */
export function resolveOptions(input: Partial<SrtOptions> = {}): SrtOptions {
  const o: SrtOptions = { ...DEFAULT_OPTIONS };
  for (const [k, v] of Object.entries(input)) {
    if (v === undefined) continue;
    const spec = (SPECS as Record<string, Spec>)[k];
    if (!spec) throw new OptionError(k, 'unknown option');
    const bad = (): never => { throw new OptionError(k, `${JSON.stringify(v)} is not ${describe(k, spec)}`); };
    switch (spec.kind) {
      case 'int':
        if (typeof v !== 'number' || !Number.isInteger(v) || v < spec.min! || v > spec.max!) bad();
        break;
      case 'bool':
        if (typeof v !== 'boolean') bad();
        break;
      case 'string':
        if (typeof v !== 'string' || Buffer.byteLength(v) > spec.max!) bad();
        break;
      case 'enum':
        if (!spec.values!.includes(v as string | number)) bad();
        break;
    }
    (o as unknown as Record<string, unknown>)[k] = v;
  }
  if (input.latency !== undefined) {
    if (input.rcvlatency === undefined) o.rcvlatency = input.latency;
    if (input.peerlatency === undefined) o.peerlatency = input.latency;
  }
  if (o.passphrase !== '' && (o.passphrase.length < 10 || o.passphrase.length > 79)) {
    throw new OptionError('passphrase', `must be empty or 10 to 79 characters (got ${o.passphrase.length})`);
  }
  if (o.transtype === 'file') applyFileDefaults(o, input);
  else if (o.congestion === 'file') throw new OptionError('congestion', 'congestion=file needs transtype=file (file mode)');
  if (o.transtype === 'file') {
    if (o.congestion !== 'file') throw new OptionError('congestion', 'file mode (transtype=file) uses congestion=file');
    if (o.packetfilter !== '') throw new OptionError('packetfilter', 'a packet filter is supported in live mode only');
  } else if (!o.messageapi) {
    throw new OptionError('messageapi', 'live mode requires the message API (messageapi=true)');
  }
  if (o.payloadsize > o.mss - PACKET_OVERHEAD) {
    throw new OptionError('payloadsize', `${o.payloadsize} exceeds mss - 44 = ${o.mss - PACKET_OVERHEAD} bytes`);
  }
  validateFilterOption(o.packetfilter);
  if (o.packetfilter !== '' && o.payloadsize > LIVE_MAX_PAYLOAD - FEC_EXTRA_SIZE) {
    throw new OptionError('payloadsize', `${o.payloadsize} exceeds ${LIVE_MAX_PAYLOAD - FEC_EXTRA_SIZE} bytes, the maximum with a packet filter (its header takes ${FEC_EXTRA_SIZE})`);
  }
  if (o.kmpreannounce > 0 && o.kmrefreshrate > 0 && o.kmpreannounce > (o.kmrefreshrate - 1) / 2) {
    throw new OptionError('kmpreannounce', `must be at most (kmrefreshrate - 1) / 2 = ${Math.floor((o.kmrefreshrate - 1) / 2)}`);
  }
  return o;
}

/**
 * SRTO_TRANSTYPE=file as libsrt applies it (socketconfig.cpp): no TSBPD (latency 0), no too-late
 * drop in either direction, no periodic NAK, the byte-stream API, FileCC, linger 180 s and the
 * largest payload — each only where the caller did not set the option itself.
 */
function applyFileDefaults(o: SrtOptions, input: Partial<SrtOptions>): void {
  const unset = (k: keyof SrtOptions): boolean => input[k] === undefined;
  if (unset('latency') && unset('rcvlatency')) o.rcvlatency = 0;
  if (unset('latency') && unset('peerlatency')) o.peerlatency = 0;
  if (unset('messageapi')) o.messageapi = false;
  if (unset('tlpktdrop')) o.tlpktdrop = false;
  if (unset('nakreport')) o.nakreport = false;
  if (unset('snddropdelay')) o.snddropdelay = -1;
  if (unset('congestion')) o.congestion = 'file';
  if (unset('linger')) o.linger = 180;
  if (unset('payloadsize')) o.payloadsize = o.mss - PACKET_OVERHEAD;
}

/** Buffer sizes in packets, as libsrt derives them from the byte options. */
export function bufferPackets(bytes: number, mss: number): number {
  return Math.max(32, Math.floor(bytes / (mss - UDP_IP_OVERHEAD)));
}
