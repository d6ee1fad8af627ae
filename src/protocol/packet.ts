// SRT packet codecs (draft-sharabayko-srt §3; libsrt packet.h / packet.cpp).
// Every decoder throws only ParseError. Encoders produce exactly the bytes libsrt sends.
import { ParseError } from './errors.js';

export const HEADER_SIZE = 16;

export const CtrlType = {
  Handshake: 0x0000,
  Keepalive: 0x0001,
  Ack: 0x0002,
  Nak: 0x0003,
  CongestionWarning: 0x0004,
  Shutdown: 0x0005,
  AckAck: 0x0006,
  DropReq: 0x0007,
  PeerError: 0x0008,
  UserDefined: 0x7fff,
} as const;
export type CtrlTypeValue = (typeof CtrlType)[keyof typeof CtrlType];

/** Subtypes of the 0x7FFF user-defined control packet (HSv4 extended handshake and in-band KM). */
export const ExtSubtype = { HsReq: 1, HsRsp: 2, KmReq: 3, KmRsp: 4 } as const;

/** PP field: packet position in message. Live mode always uses Solo. */
export const Position = { Middle: 0, Last: 1, First: 2, Solo: 3 } as const;

export interface DataPacket {
  readonly kind: 'data';
  seq: number;
  position: number;
  inOrder: boolean;
  keyFlags: number; // KK: 0 clear, 1 even, 2 odd
  retransmitted: boolean;
  msgNo: number;
  timestamp: number;
  dstSocketId: number;
  payload: Buffer;
  /** The whole datagram as received (no copy); AES-GCM authenticates its 16 header bytes. */
  datagram?: Buffer;
}

export interface ControlPacket {
  readonly kind: 'control';
  type: number;
  subtype: number;
  typeInfo: number;
  timestamp: number;
  dstSocketId: number;
  cif: Buffer;
}

export type Packet = DataPacket | ControlPacket;

export function isControl(buf: Buffer): boolean {
  return buf.length >= 1 && (buf[0]! & 0x80) !== 0;
}

export function decodePacket(buf: Buffer): Packet {
  if (buf.length < HEADER_SIZE) throw new ParseError(`packet too short: ${buf.length} bytes`);
  const w0 = buf.readUInt32BE(0);
  const w1 = buf.readUInt32BE(4);
  const timestamp = buf.readUInt32BE(8);
  const dstSocketId = buf.readUInt32BE(12);
  if (w0 & 0x80000000) {
    return {
      kind: 'control',
      type: (w0 >>> 16) & 0x7fff,
      subtype: w0 & 0xffff,
      typeInfo: w1,
      timestamp,
      dstSocketId,
      cif: buf.subarray(HEADER_SIZE),
    };
  }
  return {
    kind: 'data',
    seq: dataSeq(w0),
    position: w1 >>> 30,
    inOrder: ((w1 >>> 29) & 1) === 1,
    keyFlags: dataKeyFlags(w1),
    retransmitted: dataRetransmitted(w1),
    msgNo: w1 & 0x03ffffff,
    timestamp,
    dstSocketId,
    payload: buf.subarray(HEADER_SIZE),
    datagram: buf,
  };
}

// Fields of a data packet's header words, shared by decodePacket and the driver's receive fast
// path (Connection.handleData), which reads them from the datagram without a Packet object.
/** Sequence number, from word 0. */
export function dataSeq(w0: number): number {
  return w0 & 0x7fffffff;
}
/** KK (0 clear, 1 even, 2 odd), from word 1. */
export function dataKeyFlags(w1: number): number {
  return (w1 >>> 27) & 3;
}
/** R flag (a retransmission), from word 1. */
export function dataRetransmitted(w1: number): boolean {
  return ((w1 >>> 26) & 1) === 1;
}

/** Destination socket id of any packet (word 3); the datagram must hold at least HEADER_SIZE bytes. */
export function datagramDestination(buf: Buffer): number {
  return buf.readUInt32BE(12);
}

/** Word 1 of a data packet. */
export function dataWord1(position: number, inOrder: boolean, keyFlags: number, retransmitted: boolean, msgNo: number): number {
  return ((position << 30) | (inOrder ? 1 << 29 : 0) | (keyFlags << 27) | (retransmitted ? 1 << 26 : 0) | (msgNo & 0x03ffffff)) >>> 0;
}

export function encodeDataPacket(p: Omit<DataPacket, 'kind'>): Buffer {
  const buf = Buffer.allocUnsafe(HEADER_SIZE + p.payload.length);
  buf.writeUInt32BE(p.seq & 0x7fffffff, 0);
  buf.writeUInt32BE(dataWord1(p.position, p.inOrder, p.keyFlags, p.retransmitted, p.msgNo), 4);
  buf.writeUInt32BE(p.timestamp >>> 0, 8);
  buf.writeUInt32BE(p.dstSocketId >>> 0, 12);
  p.payload.copy(buf, HEADER_SIZE);
  return buf;
}

/** Sets the R (retransmitted) bit of an encoded data packet in place. */
export function setRetransmitFlag(datagram: Buffer): void {
  datagram[4] = datagram[4]! | 0x04;
}

export function encodeControl(type: number, subtype: number, typeInfo: number, timestamp: number, dstSocketId: number, cif?: Buffer): Buffer {
  const buf = Buffer.allocUnsafe(HEADER_SIZE + (cif ? cif.length : 0));
  writeControlHeader(buf, type, subtype, typeInfo, timestamp, dstSocketId);
  if (cif) cif.copy(buf, HEADER_SIZE);
  return buf;
}

/** Writes a control packet's 16-byte header at the start of `buf` (its CIF follows). */
function writeControlHeader(buf: Buffer, type: number, subtype: number, typeInfo: number, timestamp: number, dstSocketId: number): void {
  buf.writeUInt32BE((0x80000000 | ((type & 0x7fff) << 16) | (subtype & 0xffff)) >>> 0, 0);
  buf.writeUInt32BE(typeInfo >>> 0, 4);
  buf.writeUInt32BE(timestamp >>> 0, 8);
  buf.writeUInt32BE(dstSocketId >>> 0, 12);
}

const PAD4 = Buffer.alloc(4);

/** KEEPALIVE, SHUTDOWN and ACKACK as libsrt sends them: 16-byte header + 4 zero bytes. */
export function encodeKeepalive(timestamp: number, dst: number): Buffer {
  return encodeControl(CtrlType.Keepalive, 0, 0, timestamp, dst, PAD4);
}
export function encodeShutdown(timestamp: number, dst: number): Buffer {
  return encodeControl(CtrlType.Shutdown, 0, 0, timestamp, dst, PAD4);
}
export function encodeAckAck(ackNo: number, timestamp: number, dst: number): Buffer {
  return encodeControl(CtrlType.AckAck, 0, ackNo, timestamp, dst, PAD4);
}
export function encodePeerError(code: number, timestamp: number, dst: number): Buffer {
  return encodeControl(CtrlType.PeerError, 0, code, timestamp, dst, PAD4);
}

// ---------------------------------------------------------------- ACK (§3.2.4)

export interface AckInfo {
  ackNo: number; // 0 for light ACK
  ackSeq: number; // first sequence number not yet received
  rtt?: number; // µs
  rttVar?: number; // µs
  availBuf?: number; // packets
  pktRecvRate?: number; // packets/s
  bandwidth?: number; // packets/s (estimated link capacity)
  recvRate?: number; // bytes/s
}

export type AckKind = 'full' | 'small' | 'light';

export function ackKind(a: AckInfo): AckKind {
  if (a.rtt === undefined) return 'light';
  return a.pktRecvRate === undefined ? 'small' : 'full';
}

export function decodeAck(p: ControlPacket): AckInfo {
  const c = p.cif;
  if (c.length < 4) throw new ParseError(`ACK CIF too short: ${c.length} bytes`);
  const a: AckInfo = { ackNo: p.typeInfo, ackSeq: c.readUInt32BE(0) & 0x7fffffff };
  if (c.length < 16) return a; // light ACK: one word (anything shorter than 4 words is treated as light)
  a.rtt = c.readUInt32BE(4);
  a.rttVar = c.readUInt32BE(8);
  a.availBuf = c.readUInt32BE(12);
  if (c.length >= 24) {
    a.pktRecvRate = c.readUInt32BE(16);
    a.bandwidth = c.readUInt32BE(20);
    if (c.length >= 28) a.recvRate = c.readUInt32BE(24);
  }
  return a;
}

export function encodeAck(a: AckInfo, timestamp: number, dst: number): Buffer {
  const words = a.rtt === undefined ? 1 : a.pktRecvRate === undefined ? 4 : 7;
  // the CIF is written in place after the header (no separate CIF buffer to copy)
  const buf = Buffer.allocUnsafe(HEADER_SIZE + words * 4);
  writeControlHeader(buf, CtrlType.Ack, 0, a.ackNo, timestamp, dst);
  buf.writeUInt32BE(a.ackSeq >>> 0, 16);
  if (words > 1) {
    buf.writeUInt32BE(a.rtt! >>> 0, 20);
    buf.writeUInt32BE((a.rttVar ?? 0) >>> 0, 24);
    buf.writeUInt32BE((a.availBuf ?? 0) >>> 0, 28);
    if (words > 4) {
      buf.writeUInt32BE(a.pktRecvRate! >>> 0, 32);
      buf.writeUInt32BE((a.bandwidth ?? 0) >>> 0, 36);
      buf.writeUInt32BE((a.recvRate ?? 0) >>> 0, 40);
    }
  }
  return buf;
}

// ---------------------------------------------------------------- NAK (§3.2.5, Appendix A)

/** Inclusive [first, last] ranges of sequence numbers. */
export type SeqRange = [number, number];

export function decodeLossList(cif: Buffer): SeqRange[] {
  if (cif.length % 4 !== 0) throw new ParseError(`loss list length ${cif.length} is not a multiple of 4`);
  const out: SeqRange[] = [];
  for (let i = 0; i < cif.length; i += 4) {
    const w = cif.readUInt32BE(i);
    if (w & 0x80000000) {
      if (i + 8 > cif.length) throw new ParseError('loss list range without its end');
      const last = cif.readUInt32BE(i + 4);
      if (last & 0x80000000) throw new ParseError('loss list range end has the range bit set');
      out.push([w & 0x7fffffff, last]);
      i += 4;
    } else {
      out.push([w, w]);
    }
  }
  return out;
}

export function encodeLossList(ranges: readonly SeqRange[], maxWords = Infinity): Buffer {
  let words = 0;
  for (const [a, b] of ranges) words += a === b ? 1 : 2;
  const buf = Buffer.allocUnsafe(Math.max(0, Math.min(words, Math.floor(maxWords))) * 4);
  let o = 0;
  for (const [a, b] of ranges) {
    const need = a === b ? 4 : 8;
    if (o + need > buf.length) break;
    if (a === b) {
      buf.writeUInt32BE(a & 0x7fffffff, o);
    } else {
      buf.writeUInt32BE((0x80000000 | a) >>> 0, o);
      buf.writeUInt32BE(b & 0x7fffffff, o + 4);
    }
    o += need;
  }
  return o === buf.length ? buf : buf.subarray(0, o);
}

export function encodeNak(ranges: readonly SeqRange[], timestamp: number, dst: number, maxWords?: number): Buffer {
  return encodeControl(CtrlType.Nak, 0, 0, timestamp, dst, encodeLossList(ranges, maxWords));
}

// ---------------------------------------------------------------- DROPREQ (§3.2.9)

export interface DropReq {
  msgNo: number;
  first: number;
  last: number;
}

export function decodeDropReq(p: ControlPacket): DropReq {
  if (p.cif.length < 8) throw new ParseError(`DROPREQ CIF too short: ${p.cif.length} bytes`);
  return { msgNo: p.typeInfo, first: p.cif.readUInt32BE(0) & 0x7fffffff, last: p.cif.readUInt32BE(4) & 0x7fffffff };
}

export function encodeDropReq(d: DropReq, timestamp: number, dst: number): Buffer {
  const cif = Buffer.allocUnsafe(8);
  cif.writeUInt32BE(d.first, 0);
  cif.writeUInt32BE(d.last, 4);
  return encodeControl(CtrlType.DropReq, 0, d.msgNo, timestamp, dst, cif);
}

/** Validates the control subtype/type combination; types 0–8 carry subtype 0. */
export function checkControl(p: ControlPacket): void {
  if (p.type <= CtrlType.PeerError) {
    if (p.subtype !== 0) throw new ParseError(`control type ${p.type} with non-zero subtype ${p.subtype}`);
  } else if (p.type !== CtrlType.UserDefined) {
    throw new ParseError(`unknown control type 0x${p.type.toString(16)}`);
  }
}
