// Fuzz (issue 16 §3): random and mutated datagrams through the production datagram entry point.
// Counts exceptions escaping it (must be 0) and checks that no state is created by a datagram
// that does not carry a valid SYN cookie (connections, remembered answers, pending requests).
//
// The target is one function, feedDatagram(): it calls Multiplexer.onMessage (the UDP socket's
// 'message' handler), which hands the datagram to the sans-IO Endpoint (src/protocol/endpoint.ts,
// ADR 12) and drives it exactly as in production; the socket's sends are captured instead of sent,
// so nothing touches the network. stateSize() reads the Endpoint's tables.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Multiplexer } from '../src/transport/mux.js';
import type { SrtSocket } from '../src/transport/socket.js';
import { resolveOptions, type SrtOptions } from '../src/protocol/options.js';
import { HsExtType, HsType, HS_MAGIC, decodeHandshake, findExtension } from '../src/protocol/handshake.js';
import {
  CtrlType, ExtSubtype, encodeAck, encodeAckAck, encodeControl, encodeDataPacket, encodeDropReq, encodeKeepalive,
  encodeNak, encodePeerError, encodeShutdown, HEADER_SIZE,
} from '../src/protocol/packet.js';
import { envNum, here, verdict, type PartResult } from './util.js';

// ------------------------------------------------------------------ the target

interface Endpoint {
  name: string;
  mux: Multiplexer;
  /** Datagrams the endpoint sent (captured), newest last; cleared by the harness. */
  sent: { d: Buffer; address: string; port: number }[];
}

type EndpointInternals = {
  conns: Map<number, { owner: { socket: SrtSocket } }>;
  connectors: Map<number, unknown>;
  listener: { answers: Map<string, unknown>; pending: Set<string> } | null;
};
type Internals = {
  onMessage(msg: Buffer, address: string, port: number): void;
  endpoint: EndpointInternals;
};
const tables = (ep: Endpoint): EndpointInternals => (ep.mux as unknown as Internals).endpoint;

/** Feeds one datagram to an endpoint, as its UDP socket would. The one place to re-point at the sans-IO Endpoint. */
function feedDatagram(ep: Endpoint, d: Buffer, address: string, port: number): void {
  (ep.mux as unknown as Internals).onMessage(d, address, port);
}

/** Everything an endpoint keeps per peer: connections, handshakes in progress, remembered answers, pending requests. */
function stateSize(ep: Endpoint): number {
  const m = tables(ep);
  return m.conns.size + m.connectors.size + (m.listener ? m.listener.answers.size + m.listener.pending.size : 0);
}

function makeEndpoint(name: string): Endpoint {
  const mux = new Multiplexer('udp4');
  const ep: Endpoint = { name, mux, sent: [] };
  // capture sends: the socket is never bound, nothing leaves the process
  (mux.sock as unknown as { send: (d: Buffer, port?: number, address?: string) => void }).send = (d, port = 0, address = ''): void => {
    if (ep.sent.length < 64) ep.sent.push({ d: Buffer.from(d), address, port });
  };
  return ep;
}

// ------------------------------------------------------------------ corpus

type Fixture = Record<string, Record<string, unknown> | string>;
const load = (f: string): Fixture => JSON.parse(readFileSync(fileURLToPath(new URL(`../../test/fixtures/${f}`, import.meta.url)), 'utf8')) as Fixture;
const HS = load('libsrt-1.5.1-handshakes.json');
const RDV = load('libsrt-1.5.1-rendezvous.json');
const hex = (s: string): Buffer => Buffer.from(s, 'hex');
const hsCase = (k: string): Record<string, string> => HS[k] as Record<string, string>;

const CAPTURED: Buffer[] = [];
for (const v of Object.values(HS)) {
  if (typeof v === 'string') continue;
  for (const [n, x] of Object.entries(v)) if (n !== 'command' && n !== 'passphrase' && typeof x === 'string') CAPTURED.push(hex(x));
}
const RDV_FRAMES: Buffer[] = [];
for (const v of Object.values(RDV)) {
  if (typeof v === 'string' || !Array.isArray((v as { frames?: unknown }).frames)) continue;
  for (const f of (v as { frames: { hex: string }[] }).frames) RDV_FRAMES.push(hex(f.hex));
}
const INDUCTION = hex(hsCase('caller_streamid_latency200')['induction_request']!);
const CONCLUSION_PLAIN = hex(hsCase('caller_streamid_latency200')['conclusion_request']!);
const CONCLUSION_NO_KM = hex(hsCase('rejected_unsecure')['conclusion_request']!);
const CONCLUSION_KM = hex(hsCase('encrypted_aes192')['conclusion_request']!);
const FIXTURE_PASSPHRASE = hsCase('encrypted_aes192')['passphrase']!;
const KM = findExtension(decodeHandshake(CONCLUSION_KM.subarray(HEADER_SIZE)), HsExtType.KmReq)!.data;
const IND_RSP = hex(hsCase('caller_streamid_latency200')['induction_response']!);
const CONC_RSP = hex(hsCase('caller_streamid_latency200')['conclusion_response']!);

// handshake CIF fields, as datagram offsets
const HS_VERSION = 16, HS_ENC = 20, HS_EXT = 22, HS_ISN = 24, HS_MSS = 28, HS_FLOW = 32, HS_TYPE = 36, HS_SOCKID = 40, HS_COOKIE = 44, HS_EXTS = 64;

// ------------------------------------------------------------------ randomness (seeded, reproducible)

let seed = 1;
function rnd(): number { // mulberry32
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const int = (n: number): number => Math.floor(rnd() * n);
const u32 = (): number => (int(0x10000) * 0x10000 + int(0x10000)) >>> 0;
const pick = <T>(a: readonly T[]): T => a[int(a.length)]!;
function bytes(n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = int(256);
  return b;
}
const INTERESTING32 = [0, 1, 2, 4, 5, 0x7f, 0x80, 0xff, 0x100, 0x4a17, 0x7fff, 0x8000, 0xffff, 0x10000, 0x3fffffff, 0x40000000, 0x7fffffff, 0x80000000, 0xffffffff, 0xfffffffe];
const interesting = (): number => (rnd() < 0.5 ? pick(INTERESTING32) : u32());

// ------------------------------------------------------------------ mutations

const MUTATIONS = ['bitflip', 'byteset', 'truncate', 'extend', 'ctrlType', 'socketId', 'dataHeader', 'hsField', 'hsExtLength', 'hsExtType'] as const;
type Mutation = (typeof MUTATIONS)[number];

function mutate(src: Buffer, m: Mutation, ids: number[]): Buffer {
  const b = Buffer.from(src);
  switch (m) {
    case 'bitflip':
      for (let n = 1 + int(8); n > 0 && b.length; n--) { const i = int(b.length); b[i] = b[i]! ^ (1 << int(8)); }
      return b;
    case 'byteset':
      for (let n = 1 + int(6); n > 0 && b.length; n--) b[int(b.length)] = pick([0, 0xff, 0x7f, 0x80, int(256)]);
      return b;
    case 'truncate':
      return b.subarray(0, pick([0, 1, 4, 15, 16, 17, 20, 63, 64, 67, int(b.length + 1)]));
    case 'extend':
      return Buffer.concat([b, bytes(pick([1, 3, 4, 8, 64, int(1500)]))]);
    case 'ctrlType':
      if (b.length < 4) return b;
      b.writeUInt16BE((0x8000 | pick([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0x7fff, int(0x8000)])) >>> 0, 0);
      b.writeUInt16BE(pick([0, 0, 1, 2, 3, 4, 5, int(0x10000)]), 2);
      if (rnd() < 0.5 && b.length >= 8) b.writeUInt32BE(interesting(), 4);
      return b;
    case 'socketId':
      if (b.length >= 16) b.writeUInt32BE(pick([0, 0, u32(), ...(ids.length ? [pick(ids), pick(ids)] : [])]) >>> 0, 12);
      if (b.length >= 44 && rnd() < 0.5) b.writeUInt32BE(pick([0, u32(), ...(ids.length ? [pick(ids)] : [])]) >>> 0, HS_SOCKID);
      return b;
    case 'dataHeader':
      if (b.length < 8) return b;
      b.writeUInt32BE(pick([u32() & 0x7fffffff, 0, 0x7fffffff, b.readUInt32BE(0) & 0x7fffffff ^ int(64)]) >>> 0, 0);
      b.writeUInt32BE(u32(), 4);
      return b;
    case 'hsField': {
      if (b.length < 64) return b;
      const f = pick([HS_VERSION, HS_ENC, HS_EXT, HS_ISN, HS_MSS, HS_FLOW, HS_TYPE, HS_SOCKID, HS_COOKIE]);
      if (f === HS_ENC || f === HS_EXT) b.writeUInt16BE(pick([0, 2, 3, 4, 5, 0x4a17, int(0x10000)]), f);
      else if (f === HS_TYPE) b.writeInt32BE(pick([1, 0, -1, -2, 2, 1000, 1002, 1017, 2403, u32() | 0]), f);
      else if (f === HS_VERSION) b.writeUInt32BE(pick([4, 5, 0, 6, u32()]), f);
      else if (f === HS_MSS) b.writeUInt32BE(pick([0, 1, 28, 44, 75, 76, 1500, 9000, u32()]), f);
      else b.writeUInt32BE(interesting(), f);
      return b;
    }
    case 'hsExtLength':
    case 'hsExtType': {
      const exts: number[] = [];
      for (let o = HS_EXTS; o + 4 <= b.length; o += 4 + b.readUInt16BE(o + 2) * 4) exts.push(o);
      if (!exts.length) return b;
      const o = pick(exts);
      if (m === 'hsExtLength') b.writeUInt16BE(pick([0, 1, (b.readUInt16BE(o + 2) + 1) & 0xffff, Math.max(0, b.readUInt16BE(o + 2) - 1), 0xffff, int(0x10000)]), o + 2);
      else b.writeUInt16BE(pick([1, 2, 3, 4, 5, 6, 7, 8, 0, 0xffff, int(0x10000)]), o);
      return b;
    }
  }
}

/** 1–3 stacked mutations (counted per kind). */
function mutateSome(src: Buffer, ids: number[], counts: Record<string, number>): Buffer {
  let b = src;
  for (let n = 1 + int(3); n > 0; n--) {
    const m = pick(MUTATIONS);
    counts[m] = (counts[m] ?? 0) + 1;
    b = mutate(b, m, ids);
  }
  return b;
}

// ------------------------------------------------------------------ generated packets (encoders)

interface Session { ep: Endpoint; address: string; port: number; localId: number; peerId: number; isn: number; socket: SrtSocket | null }

function generated(dst: number, isn: number): Buffer {
  const ts = u32();
  const near = (isn + int(20_000) - 10_000) & 0x7fffffff;
  switch (int(12)) {
    case 0: case 1: case 2:
      return encodeDataPacket({ seq: rnd() < 0.8 ? near : u32() & 0x7fffffff, position: 3, inOrder: rnd() < 0.5, keyFlags: pick([0, 0, 1, 2, 3]), retransmitted: rnd() < 0.2, msgNo: int(0x4000000), timestamp: ts, dstSocketId: dst, payload: bytes(pick([0, 1, 188, 1316, 1456, int(1500)])) });
    case 3: return encodeAck(pick([
      { ackNo: 0, ackSeq: near },
      { ackNo: u32(), ackSeq: near, rtt: u32(), rttVar: u32(), availBuf: u32() },
      { ackNo: int(100), ackSeq: near, rtt: int(1e6), rttVar: int(1e6), availBuf: int(8192), pktRecvRate: u32(), bandwidth: u32(), recvRate: u32() },
    ]), ts, dst);
    case 4: {
      const ranges: [number, number][] = [];
      for (let n = 1 + int(5); n > 0; n--) { const a = (near + int(100)) & 0x7fffffff; ranges.push(rnd() < 0.5 ? [a, a] : [a, (a + int(1000)) & 0x7fffffff]); }
      return encodeNak(ranges, ts, dst);
    }
    case 5: return encodeAckAck(int(1000), ts, dst);
    case 6: return encodeKeepalive(ts, dst);
    case 7: return encodeControl(CtrlType.UserDefined, pick([ExtSubtype.KmReq, ExtSubtype.KmRsp]), 0, ts, dst, rnd() < 0.7 ? KM : bytes(int(100)));
    case 8: return encodeDropReq({ msgNo: int(0x4000000), first: near, last: (near + int(100)) & 0x7fffffff }, ts, dst);
    case 9: return encodePeerError(u32(), ts, dst);
    case 10: return encodeControl(CtrlType.CongestionWarning, 0, 0, ts, dst, Buffer.alloc(4));
    default: return rnd() < 0.1 ? encodeShutdown(ts, dst) : encodeKeepalive(ts, dst);
  }
}

// ------------------------------------------------------------------ the run

export interface FuzzFigures {
  datagrams: number;
  seconds: number;
  perSecond: number;
  escapes: number;
  violations: number;
  inductions: number;
  stateFromInductions: number;
  validCookieConclusions: number;
  connectionsCreated: number;
  connectionsWithoutValidCookie: number;
  callerAttempts: number;
  rendezvousAttempts: number;
  categories: Record<string, number>;
  mutations: Record<string, number>;
  invalidCounted: number;
  firstFailures: string[];
}

export async function runFuzz(total: number, seedValue: number): Promise<FuzzFigures> {
  seed = seedValue;
  const plain = resolveOptions({});
  const eps = {
    plain: makeEndpoint('listener'),
    secure: makeEndpoint('listener+passphrase'),
    caller: makeEndpoint('caller'),
    rdv: makeEndpoint('rendezvous'),
  };
  eps.plain.mux.setListener(plain, null);
  eps.secure.mux.setListener(resolveOptions({ passphrase: FIXTURE_PASSPHRASE }), null);
  const f: FuzzFigures = {
    datagrams: 0, seconds: 0, perSecond: 0, escapes: 0, violations: 0, inductions: 0, stateFromInductions: 0, validCookieConclusions: 0,
    connectionsCreated: 0, connectionsWithoutValidCookie: 0, callerAttempts: 0, rendezvousAttempts: 0, categories: {}, mutations: {}, invalidCounted: 0, firstFailures: [],
  };
  const fail = (what: string, d: Buffer, e?: unknown): void => {
    if (f.firstFailures.length < 10) f.firstFailures.push(`${what}${e ? `: ${e instanceof Error ? e.stack?.split('\n').slice(0, 12).join(' | ') : String(e)}` : ''} (datagram ${d.toString('hex').slice(0, 200)})`);
  };
  // exceptions from timers (connections' and handshakes' deadlines) escape too
  const onUncaught = (e: unknown): void => { f.escapes++; fail('uncaught exception (timer)', Buffer.alloc(0), e); };
  process.on('uncaughtException', onUncaught);

  // the cookie each listener answered to each source: only a conclusion carrying it may create state
  const cookies = new Map<string, number>();
  const sessions: Session[] = [];
  let current: { d: Buffer; validCookie: boolean } = { d: Buffer.alloc(0), validCookie: false };
  for (const ep of [eps.plain, eps.secure]) {
    ep.mux.on('accepted', (socket: SrtSocket) => {
      f.connectionsCreated++;
      if (!current.validCookie) { f.connectionsWithoutValidCookie++; f.violations++; fail(`${ep.name}: connection created without a valid cookie`, current.d); }
      socket.on('data', () => {});
      socket.on('error', () => {});
    });
  }
  const learnCookies = (ep: Endpoint): void => {
    for (const s of ep.sent) {
      if (s.d.length >= 64 && s.d.readUInt32BE(0) === 0x80000000 && s.d.readInt32BE(HS_TYPE) === HsType.Induction && s.d.readUInt16BE(HS_EXT) === HS_MAGIC) {
        cookies.set(`${ep.name}|${s.address}|${s.port}`, s.d.readUInt32BE(HS_COOKIE));
      }
    }
  };
  /** Whether d, from address:port, is a handshake conclusion to ep carrying the cookie ep answered that source. */
  const carriesValidCookie = (ep: Endpoint, d: Buffer, address: string, port: number): boolean => {
    if (d.length < 64 || (d[0]! & 0x80) === 0) return false;
    const c = cookies.get(`${ep.name}|${address}|${port}`);
    return c !== undefined && d.readUInt32BE(HS_COOKIE) === c;
  };

  const feed = (ep: Endpoint, d: Buffer, address: string, port: number, category: string): void => {
    f.categories[category] = (f.categories[category] ?? 0) + 1;
    const isListener = ep === eps.plain || ep === eps.secure;
    const validCookie = isListener && carriesValidCookie(ep, d, address, port);
    const isInduction = d.length >= 64 && d.readUInt32BE(0) === 0x80000000 && d.readUInt32BE(12) === 0 && d.readInt32BE(HS_TYPE) === HsType.Induction;
    const before = isListener ? stateSize(ep) : 0;
    current = { d, validCookie };
    ep.sent.length = 0;
    try {
      feedDatagram(ep, d, address, port);
    } catch (e) {
      f.escapes++;
      fail(`${ep.name}: exception escaped`, d, e);
    }
    f.datagrams++;
    if (isInduction) f.inductions++;
    if (isListener) {
      const grown = stateSize(ep) - before;
      if (grown > 0 && isInduction) f.stateFromInductions++;
      if (grown > 0 && !validCookie) { f.violations++; fail(`${ep.name}: state grew by ${grown} without a valid cookie`, d); }
      learnCookies(ep);
    }
  };

  // a real session on a listener: induction, then a conclusion carrying the cookie
  let sourceNo = 0;
  const establish = (ep: Endpoint): void => {
    const address = `10.${int(256)}.${int(256)}.${1 + int(254)}`;
    const port = 1024 + (sourceNo++ % 60000);
    const peerId = 1 + int(0x3fffffff);
    const ind = Buffer.from(INDUCTION);
    ind.writeUInt32BE(peerId, HS_SOCKID);
    feed(ep, ind, address, port, 'session handshake');
    const cookie = cookies.get(`${ep.name}|${address}|${port}`);
    const conc = Buffer.from(ep === eps.secure ? pick([CONCLUSION_KM, CONCLUSION_KM, CONCLUSION_NO_KM]) : pick([CONCLUSION_PLAIN, CONCLUSION_PLAIN, CONCLUSION_KM]));
    conc.writeUInt32BE(peerId, HS_SOCKID);
    if (cookie !== undefined) conc.writeUInt32BE(cookie, HS_COOKIE);
    const mutated = rnd() < 0.3 ? mutateSome(conc, [], f.mutations) : conc; // field-aware fuzz past the cookie check
    if (mutated.length >= 64 && cookie !== undefined && mutated.readUInt32BE(HS_COOKIE) === cookie) f.validCookieConclusions++;
    const conns = tables(ep).conns;
    const ids = new Set(conns.keys());
    feed(ep, mutated, address, port, 'session handshake');
    for (const id of conns.keys()) {
      if (!ids.has(id)) sessions.push({ ep, address, port, localId: id, peerId, isn: conc.readUInt32BE(HS_ISN) & 0x7fffffff, socket: null });
    }
  };
  const endOldest = (): void => {
    const s = sessions.shift()!;
    feed(s.ep, encodeShutdown(0, s.localId), s.address, s.port, 'session handshake');
  };

  // the caller and rendezvous endpoints: one attempt at a time, towards a fixed peer
  const CALLER_PEER = { address: '10.250.0.1', port: 9000 };
  const RDV_PEER = { address: '10.250.0.2', port: 15001 };
  const callerIdOf = (ep: Endpoint): number => {
    const ids = [...tables(ep).connectors.keys()];
    return ids.length ? ids[0]! : 0;
  };
  const ensureAttempt = (ep: Endpoint): void => {
    const m = tables(ep);
    if (m.connectors.size > 0) return;
    for (const c of [...m.conns.values()]) c.owner.socket.destroy();
    const options: SrtOptions = resolveOptions({ passphrase: rnd() < 0.3 ? (ep === eps.rdv ? 'abcdefghijkl' : FIXTURE_PASSPHRASE) : '' });
    const p = ep === eps.rdv
      ? (f.rendezvousAttempts++, ep.mux.rendezvous(RDV_PEER.address, RDV_PEER.port, options))
      : (f.callerAttempts++, ep.mux.connect(CALLER_PEER.address, CALLER_PEER.port, options));
    p.then((s) => { s.on('data', () => {}); s.on('error', () => {}); }, () => {});
  };

  const POOL = Array.from({ length: 256 }, () => ({ address: `192.0.2.${int(256)}`, port: 1 + int(65535) }));
  const t0 = performance.now();
  let lastReport = t0;
  for (let i = 0; i < total; i++) {
    if ((i & 1023) === 0) {
      await new Promise((r) => setImmediate(r)); // let deadlines (timers) run
      ensureAttempt(eps.caller);
      ensureAttempt(eps.rdv);
      if (performance.now() - lastReport > 10_000) {
        lastReport = performance.now();
        process.stderr.write(`fuzz: ${i} datagrams, ${(i / ((lastReport - t0) / 1000)).toFixed(0)}/s, escapes ${f.escapes}, violations ${f.violations}\n`);
      }
    }
    const r = rnd();
    if (r < 0.002) {
      establish(rnd() < 0.5 ? eps.plain : eps.secure);
      while (sessions.length > 16) endOldest();
      continue;
    }
    const listener = rnd() < 0.5 ? eps.plain : eps.secure;
    const ids = sessions.map((s) => s.localId);
    if (r < 0.30 && sessions.length) {
      // datagrams for an established session: generated by the encoders, half of them mutated
      const s = pick(sessions);
      const g = generated(s.localId, s.isn);
      const d = rnd() < 0.5 ? mutateSome(g, ids, f.mutations) : g;
      const wrongPeer = rnd() < 0.05;
      feed(s.ep, d, s.address, wrongPeer ? s.port + 1 : s.port, 'session data/control');
    } else if (r < 0.45) {
      // captured libsrt handshakes (and rendezvous frames), mutated, from random sources
      const src = pick(POOL);
      const base = rnd() < 0.8 ? pick(CAPTURED) : pick(RDV_FRAMES);
      feed(listener, mutateSome(base, ids, f.mutations), src.address, src.port, 'mutated libsrt handshake');
    } else if (r < 0.55) {
      // valid inductions from random sources: answered, but no state
      const src = pick(POOL);
      const d = Buffer.from(INDUCTION);
      d.writeUInt32BE(u32(), HS_SOCKID);
      feed(listener, d, src.address, src.port, 'induction');
    } else if (r < 0.65) {
      // generated data/ACK/NAK/KM/... to unknown or random destinations, half mutated
      const g = generated(rnd() < 0.5 ? 0 : pick([u32(), ...ids]), u32() & 0x7fffffff);
      feed(listener, rnd() < 0.5 ? mutateSome(g, ids, f.mutations) : g, pick(POOL).address, pick(POOL).port, 'generated packet');
    } else if (r < 0.75) {
      // random datagrams, some with a control or data header look
      const d = bytes(pick([0, 1, 15, 16, 17, 20, 64, 100, int(1500)]));
      if (d.length >= 16 && rnd() < 0.5) d.writeUInt32BE(0, 12);
      feed(listener, d, pick(POOL).address, pick(POOL).port, 'random');
    } else if (r < 0.875) {
      // the caller's handshake: mutated libsrt answers from its peer, to its socket id
      const id = callerIdOf(eps.caller);
      const d = Buffer.from(pick([IND_RSP, CONC_RSP, IND_RSP, pick(CAPTURED)]));
      d.writeUInt32BE(rnd() < 0.9 ? id : 0, 12);
      if (d.length >= 48) d.writeUInt32BE(rnd() < 0.5 ? id : d.readUInt32BE(HS_SOCKID), HS_SOCKID);
      feed(eps.caller, rnd() < 0.6 ? mutateSome(d, [id], f.mutations) : d, CALLER_PEER.address, CALLER_PEER.port, 'caller handshake');
    } else {
      // the rendezvous handshake: mutated libsrt rendezvous frames from its peer
      const id = callerIdOf(eps.rdv);
      const d = Buffer.from(pick(RDV_FRAMES));
      if (rnd() < 0.5) d.writeUInt32BE(id, 12);
      feed(eps.rdv, rnd() < 0.6 ? mutateSome(d, [id], f.mutations) : d, RDV_PEER.address, RDV_PEER.port, 'rendezvous handshake');
    }
  }
  f.seconds = (performance.now() - t0) / 1000;
  f.perSecond = f.datagrams / f.seconds;
  for (const ep of Object.values(eps)) {
    f.invalidCounted += ep.mux.counters.datagramsInvalid + ep.mux.counters.datagramsUnknownDestination;
    await ep.mux.close().catch(() => {});
  }
  await new Promise((r) => setTimeout(r, 50));
  process.off('uncaughtException', onUncaught);
  return f;
}

export async function fuzzPart(): Promise<PartResult> {
  const total = envNum('SOAK_FUZZ_DATAGRAMS', 1e8);
  const seedValue = envNum('SOAK_SEED', Math.floor(Math.random() * 2 ** 31));
  const f = await runFuzz(total, seedValue);
  const sessionsOk = f.connectionsCreated > 0 || total < 10_000; // the harness reached established connections
  const pass = f.escapes === 0 && f.violations === 0 && f.stateFromInductions === 0 && sessionsOk;
  const top = (o: Record<string, number>): string => Object.entries(o).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ');
  return verdict('fuzz', pass, [
    `${f.datagrams.toLocaleString('en')} datagrams in ${f.seconds.toFixed(1)} s: ${f.perSecond.toFixed(0)} datagrams/s (10^8 would take ${(1e8 / f.perSecond / 3600).toFixed(1)} h); seed ${seedValue}`,
    `exceptions escaping: ${f.escapes}`,
    `state created without a valid cookie: ${f.violations} (inductions fed ${f.inductions}, state created by them ${f.stateFromInductions})`,
    `connections created: ${f.connectionsCreated}, all from conclusions carrying the cookie the listener answered (${f.validCookieConclusions} such conclusions fed, ${f.connectionsWithoutValidCookie} connections without)`,
    `caller handshakes attempted ${f.callerAttempts}, rendezvous ${f.rendezvousAttempts}; datagrams the endpoints counted invalid or unknown-destination: ${f.invalidCounted}`,
    `datagrams by kind: ${top(f.categories)}`,
    `mutations applied: ${top(f.mutations)}`,
    ...(sessionsOk ? [] : ['no connection was ever established: the harness did not reach the connection state machines']),
    ...f.firstFailures.map((x) => `failure: ${x}`),
  ]);
}

if (process.argv[1] === here('./fuzz.js')) {
  fuzzPart().then((r) => { process.stdout.write(`${r.lines.join('\n')}\n`); process.exit(r.pass ? 0 : 1); }, (e: unknown) => { process.stderr.write(`${(e as Error).stack}\n`); process.exit(1); });
}
