// Handshake CIF and extensions (draft-sharabayko-srt §3.2.1; libsrt handshake.h/.cpp, core.cpp).
import { ParseError } from './errors.js';
import { CtrlType, encodeControl } from './packet.js';

export const HS_CIF_SIZE = 48;
export const HS_MAGIC = 0x4a17; // induction response extension field
export const UDT_DGRAM = 2; // induction request extension field

export const HsType = {
  Induction: 1,
  Waveahand: 0,
  Conclusion: -1,
  Agreement: -2,
  Done: -3,
} as const;

export const HsExtFlag = { HsReq: 0x1, KmReq: 0x2, Config: 0x4 } as const;

export const HsExtType = {
  HsReq: 1,
  HsRsp: 2,
  KmReq: 3,
  KmRsp: 4,
  Sid: 5,
  Congestion: 6,
  Filter: 7,
  Group: 8,
} as const;

// SRT flags in HSREQ/HSRSP (libsrt SRT_OPT_*).
export const SrtFlag = {
  TsbpdSnd: 0x01,
  TsbpdRcv: 0x02,
  HaiCrypt: 0x04,
  TlPktDrop: 0x08,
  NakReport: 0x10,
  RexmitFlg: 0x20,
  Stream: 0x40,
  FilterCap: 0x80,
} as const;

/** The SRT version Sluice announces; libsrt enables version-dependent behaviour from it. */
export const SLUICE_SRT_VERSION = 0x00010501;

export interface HsExtension {
  type: number;
  data: Buffer; // contents in wire order (a multiple of 4 bytes)
}

export interface Handshake {
  version: number;
  encryption: number; // PBKEYLEN / 8, 0 if none
  extension: number; // 16 bits: UDT_DGRAM, HS_MAGIC, or HS_EXT flags
  isn: number;
  mss: number;
  flowWindow: number;
  type: number; // signed: HsType or >= 1000 rejection
  socketId: number;
  cookie: number;
  peerIp: Buffer; // 16 raw wire bytes (libsrt word-reversed)
  extensions: HsExtension[];
}

export function decodeHandshake(cif: Buffer): Handshake {
  if (cif.length < HS_CIF_SIZE) throw new ParseError(`handshake CIF too short: ${cif.length} bytes`);
  const hs: Handshake = {
    version: cif.readUInt32BE(0),
    encryption: cif.readUInt16BE(4),
    extension: cif.readUInt16BE(6),
    isn: cif.readUInt32BE(8) & 0x7fffffff,
    mss: cif.readUInt32BE(12),
    flowWindow: cif.readUInt32BE(16),
    type: cif.readInt32BE(20),
    socketId: cif.readUInt32BE(24),
    cookie: cif.readUInt32BE(28),
    peerIp: Buffer.from(cif.subarray(32, 48)),
    extensions: [],
  };
  let o = HS_CIF_SIZE;
  while (o + 4 <= cif.length) {
    const type = cif.readUInt16BE(o);
    const words = cif.readUInt16BE(o + 2);
    const end = o + 4 + words * 4;
    if (end > cif.length) throw new ParseError(`handshake extension type ${type} overruns the packet (${words} words)`);
    hs.extensions.push({ type, data: Buffer.from(cif.subarray(o + 4, end)) });
    o = end;
  }
  return hs;
}

export function encodeHandshakeCif(hs: Handshake): Buffer {
  let size = HS_CIF_SIZE;
  for (const e of hs.extensions) size += 4 + e.data.length;
  const b = Buffer.alloc(size);
  b.writeUInt32BE(hs.version >>> 0, 0);
  b.writeUInt16BE(hs.encryption & 0xffff, 4);
  b.writeUInt16BE(hs.extension & 0xffff, 6);
  b.writeUInt32BE(hs.isn & 0x7fffffff, 8);
  b.writeUInt32BE(hs.mss >>> 0, 12);
  b.writeUInt32BE(hs.flowWindow >>> 0, 16);
  b.writeInt32BE(hs.type | 0, 20);
  b.writeUInt32BE(hs.socketId >>> 0, 24);
  b.writeUInt32BE(hs.cookie >>> 0, 28);
  hs.peerIp.copy(b, 32, 0, 16);
  let o = HS_CIF_SIZE;
  for (const e of hs.extensions) {
    if (e.data.length % 4 !== 0) throw new RangeError('extension data must be a multiple of 4 bytes');
    b.writeUInt16BE(e.type, o);
    b.writeUInt16BE(e.data.length / 4, o + 2);
    e.data.copy(b, o + 4);
    o += 4 + e.data.length;
  }
  return b;
}

export function encodeHandshakePacket(hs: Handshake, timestamp: number, dst: number): Buffer {
  return encodeControl(CtrlType.Handshake, 0, 0, timestamp, dst, encodeHandshakeCif(hs));
}

// ---------------------------------------------------------------- peer IP (word-reversed, SRT-DIGEST §2.1)

/** Encodes an IP address the way libsrt writes it into the handshake. */
export function encodePeerIp(address: string): Buffer {
  const out = Buffer.alloc(16);
  const v4 = parseIPv4(address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address);
  if (v4) {
    for (let i = 0; i < 4; i++) out[i] = v4[3 - i]!;
    return out;
  }
  const v6 = parseIPv6(address);
  if (!v6) return out;
  for (let w = 0; w < 4; w++) for (let i = 0; i < 4; i++) out[w * 4 + i] = v6[w * 4 + 3 - i]!;
  return out;
}

/** Decodes the handshake's peer IP field into a textual address. */
export function decodePeerIp(raw: Buffer): string {
  const plain = Buffer.alloc(16);
  for (let w = 0; w < 4; w++) for (let i = 0; i < 4; i++) plain[w * 4 + i] = raw[w * 4 + 3 - i] ?? 0;
  if (plain.subarray(4).every((x) => x === 0)) return `${plain[0]}.${plain[1]}.${plain[2]}.${plain[3]}`;
  const parts: string[] = [];
  for (let i = 0; i < 16; i += 2) parts.push(plain.readUInt16BE(i).toString(16));
  return parts.join(':');
}

function parseIPv4(s: string): number[] | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return null;
  const b = m.slice(1).map(Number);
  return b.every((x) => x <= 255) ? b : null;
}

function parseIPv6(s: string): Buffer | null {
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  if (s.includes('.')) {
    // embedded IPv4 (e.g. ::1.2.3.4, 64:ff9b::1.2.3.4, as inet_ntop prints them): the last two groups
    const colon = s.lastIndexOf(':');
    const v4 = parseIPv4(s.slice(colon + 1));
    if (colon < 0 || !v4) return null;
    s = `${s.slice(0, colon + 1)}${((v4[0]! << 8) | v4[1]!).toString(16)}:${((v4[2]! << 8) | v4[3]!).toString(16)}`;
  }
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const toGroups = (h: string): string[] => (h === '' ? [] : h.split(':'));
  const head = toGroups(halves[0]!);
  const tail = halves.length === 2 ? toGroups(halves[1]!) : [];
  const missing = 8 - head.length - tail.length;
  if (missing < 0 || (halves.length === 1 && missing !== 0)) return null;
  const groups = [...head, ...Array<string>(missing).fill('0'), ...tail];
  const out = Buffer.alloc(16);
  for (let i = 0; i < 8; i++) {
    const v = parseInt(groups[i]!, 16);
    if (!/^[0-9a-fA-F]{1,4}$/.test(groups[i]!) || Number.isNaN(v)) return null;
    out.writeUInt16BE(v, i * 2);
  }
  return out;
}

// ---------------------------------------------------------------- HSREQ / HSRSP (§3.2.1.1)

export interface HsReq {
  srtVersion: number;
  flags: number;
  recvDelay: number; // ms, upper 16 bits: the receiver TSBPD delay
  sendDelay: number; // ms, lower 16 bits: the sender TSBPD delay
}

export function decodeHsReq(data: Buffer): HsReq {
  if (data.length < 12) throw new ParseError(`HSREQ/HSRSP too short: ${data.length} bytes`);
  const w2 = data.readUInt32BE(8);
  return { srtVersion: data.readUInt32BE(0), flags: data.readUInt32BE(4), recvDelay: w2 >>> 16, sendDelay: w2 & 0xffff };
}

export function encodeHsReq(r: HsReq): Buffer {
  const b = Buffer.allocUnsafe(12);
  b.writeUInt32BE(r.srtVersion >>> 0, 0);
  b.writeUInt32BE(r.flags >>> 0, 4);
  b.writeUInt32BE((((r.recvDelay & 0xffff) << 16) | (r.sendDelay & 0xffff)) >>> 0, 8);
  return b;
}

// ---------------------------------------------------------------- string extensions (SID, CONGESTION, FILTER)

export const MAX_SID_LENGTH = 512;

/** libsrt's layout: UTF-8, NUL-padded to 4 bytes, each 4-byte group reversed (SRT-DIGEST §2.4). */
export function encodeHsString(s: string): Buffer {
  const raw = Buffer.from(s, 'utf8');
  const padded = Buffer.alloc(Math.ceil(raw.length / 4) * 4);
  raw.copy(padded);
  for (let o = 0; o < padded.length; o += 4) {
    const a = padded[o]!, b = padded[o + 1]!;
    padded[o] = padded[o + 3]!;
    padded[o + 1] = padded[o + 2]!;
    padded[o + 2] = b;
    padded[o + 3] = a;
  }
  return padded;
}

export function decodeHsString(data: Buffer): string {
  const b = Buffer.from(data);
  for (let o = 0; o + 4 <= b.length; o += 4) {
    const x = b[o]!, y = b[o + 1]!;
    b[o] = b[o + 3]!;
    b[o + 1] = b[o + 2]!;
    b[o + 2] = y;
    b[o + 3] = x;
  }
  let end = b.length;
  while (end > 0 && b[end - 1] === 0) end--;
  return b.toString('utf8', 0, end);
}

export function findExtension(hs: Handshake, type: number): HsExtension | undefined {
  return hs.extensions.find((e) => e.type === type);
}

// ---------------------------------------------------------------- GROUP (§3.2.1.4)

export interface HsGroup {
  groupId: number;
  groupType: number;
  flags: number;
  weight: number;
}

export function decodeHsGroup(data: Buffer): HsGroup {
  if (data.length < 8) throw new ParseError(`GROUP extension too short: ${data.length} bytes`);
  const w1 = data.readUInt32BE(4);
  return { groupId: data.readUInt32BE(0), groupType: w1 >>> 24, flags: (w1 >>> 16) & 0xff, weight: w1 & 0xffff };
}

export function encodeHsGroup(g: HsGroup): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeUInt32BE(g.groupId >>> 0, 0);
  b.writeUInt32BE((((g.groupType & 0xff) << 24) | ((g.flags & 0xff) << 16) | (g.weight & 0xffff)) >>> 0, 4);
  return b;
}
