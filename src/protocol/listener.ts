// Listener side of the HSv5 handshake (SRT-DIGEST §2.2, §2.8, §12 #4–#10; libsrt core.cpp
// processConnectRequest, acceptAndRespond). Stateless induction with a SYN cookie; each conclusion
// becomes a ConnectRequest that the application decides on (accept hook) *before* anything is
// answered; repeated conclusions get the identical answer and never a second session.
import { createHmac } from 'node:crypto';
import { Connection } from './connection.js';
import { ParseError } from './errors.js';
import {
  decodeHandshake, decodeHsReq, decodeHsString, encodeHandshakePacket, encodeHsReq, encodeHsString, encodePeerIp,
  findExtension, HS_MAGIC, HsExtFlag, HsExtType, HsType, MAX_SID_LENGTH, type Handshake, type HsExtension, type HsReq,
  decodeHsGroup, encodeHsGroup, type HsGroup,
} from './handshake.js';
import { GROUP_ID_BIT, GroupType, type GroupMembership } from './group.js';
import { advertisedFlowWindow, agreeFilterAsResponder, buildHsRsp, checkPeerCongestion, congestionExtension, negotiateAsResponder } from './negotiate.js';
import { MAX_FILTER_LENGTH } from './filter-config.js';
import { MIN_MSS, resolveOptions, type SrtOptions } from './options.js';
import type { ControlPacket } from './packet.js';
import { isValidRejectReason, rejectReasonToWire, SRT_REJ } from './reject.js';
import { SrtFlag } from './handshake.js';
import { encodeKmState, KmCipher, KmState, openKm } from './crypto.js';
import { cloneKeys, keysFromKm, RxKeying, TxKeying, type RandomBytes } from './keying.js';
import { keyingConfig } from './caller.js';

const ANSWER_TTL_US = 30_000_000; // how long a decided answer is kept for repeated conclusions

/** What a listener learns about a caller before answering it (passed to the accept hook). */
export interface ConnectRequest {
  readonly peerAddress: string;
  readonly peerPort: number;
  readonly callerSocketId: number;
  readonly streamId: string;
  /** The caller's wish for its own receive latency and for ours (ms). */
  readonly requestedLatency: { rcv: number; peer: number };
  /** The caller advertised encryption (KMREQ present or a key length announced). */
  readonly encrypted: boolean;
  readonly pbkeylen: number;
  readonly srtVersion: number;
  readonly handshake: Handshake;
  readonly hsreq: HsReq;
  /** Arrival time and peer timestamp of the conclusion (the TSBPD time base). */
  readonly arrival: number;
  readonly peerTimestamp: number;
  /** The caller's packet filter string (FILTER block), or null. */
  readonly filter: string | null;
  /** The caller's GROUP block (a connection-group member; only with groupconnect), or null. */
  readonly group: HsGroup | null;
}

export interface AcceptDecision {
  /** Reject with this SRT_REJ_* / SRT_REJX_* reason (API value; +1000 goes on the wire). */
  reject?: number;
  /** Per-connection option overrides (latency, passphrase, …). */
  options?: Partial<SrtOptions>;
  /** A group member (request.group): the local group it joins (the endpoint decides, ADR 16). */
  group?: GroupMembership;
}

export type ListenerResult =
  | { kind: 'reply'; datagram: Buffer }
  | { kind: 'request'; request: ConnectRequest }
  | { kind: 'ignore'; reason: string };

interface Answer {
  datagram: Buffer;
  expires: number;
  connection: Connection | null;
}

export interface ListenerConfig {
  options: SrtOptions;
  /** Secret for the SYN cookie (random bytes from the driver). */
  secret: Buffer;
  now: number;
  /** Randomness for key refresh (the driver passes crypto.randomBytes). */
  random?: RandomBytes;
}

/**
 * The responder's keying (listener, rendezvous responder): unwrap the initiator's KMREQ with our
 * passphrase; on success its keys serve both directions and the KMRSP echoes it. Returns the
 * keying and the KMRSP contents (null: none), or the SRT_REJ_* reason (enforced encryption).
 */
export function responderKeying(
  o: SrtOptions, random: RandomBytes | undefined, kmreq: HsExtension | undefined,
): { tx: TxKeying | null; rx: RxKeying | null; kmrsp: Buffer | null } | number {
  if (!kmreq && o.passphrase === '') return { tx: null, rx: null, kmrsp: null };
  if (kmreq && o.passphrase !== '') {
    const r = openKm(o.passphrase, kmreq.data);
    const modeOk = r.ok && (o.cryptomode === 0 || (o.cryptomode === 2) === (r.km.cipher === KmCipher.Gcm));
    if (r.ok && modeOk) {
      const keys = keysFromKm(r.km, r.keys);
      return {
        rx: new RxKeying(o.passphrase, keys, KmState.Secured),
        tx: new TxKeying(keyingConfig(o, random, keys.cipher), cloneKeys(keys)),
        kmrsp: kmreq.data,
      };
    }
    const state = r.ok ? KmState.BadCryptoMode : r.state;
    if (o.enforcedencryption) return state === KmState.BadCryptoMode ? SRT_REJ.CRYPTO : SRT_REJ.BADSECRET;
    return { tx: null, rx: new RxKeying(o.passphrase, null, state), kmrsp: encodeKmState(state) };
  }
  if (o.enforcedencryption) return SRT_REJ.UNSECURE; // a passphrase on one side only
  if (kmreq) return { tx: null, rx: new RxKeying('', null, KmState.NoSecret), kmrsp: encodeKmState(KmState.NoSecret) };
  return { tx: null, rx: new RxKeying(o.passphrase, null, KmState.Unsecured), kmrsp: null };
}

export class ListenerCore {
  readonly options: SrtOptions;
  private readonly secret: Buffer;
  private readonly random: RandomBytes | undefined;
  readonly startTime: number;
  private readonly answers = new Map<string, Answer>();
  private readonly pending = new Set<string>();
  /** Why the last SRT_REJ_FILTER rejection was made (names the key), for the driver's log. */
  lastFilterError = '';
  /** Counters: malformed or rogue handshakes dropped. */
  droppedHandshakes = 0;
  badCookies = 0;

  constructor(cfg: ListenerConfig) {
    this.options = cfg.options;
    this.secret = cfg.secret;
    this.random = cfg.random;
    this.startTime = cfg.now;
  }

  private timestamp(now: number): number {
    return Math.floor(now - this.startTime) >>> 0;
  }

  private cookie(address: string, port: number, minute: number): number {
    return createHmac('sha256', this.secret).update(`${address}:${port}:${minute}`).digest().readUInt32BE(0);
  }

  private key(address: string, port: number, socketId: number): string {
    return `${address}|${port}|${socketId}`;
  }

  /** A handshake arrived with destination socket id 0. */
  handleHandshake(now: number, address: string, port: number, p: ControlPacket): ListenerResult {
    let hs: Handshake;
    try {
      hs = decodeHandshake(p.cif);
    } catch (e) {
      if (!(e instanceof ParseError)) throw e;
      this.droppedHandshakes++;
      return { kind: 'ignore', reason: e.message };
    }
    const minute = Math.floor((now - this.startTime) / 60_000_000);
    if (hs.type === HsType.Induction) {
      // version 4 induction: answer statelessly with version 5, the magic and our cookie
      const rsp: Handshake = {
        ...hs,
        version: 5,
        encryption: this.options.pbkeylen / 8,
        extension: HS_MAGIC,
        cookie: this.cookie(address, port, minute),
        extensions: [],
      };
      return { kind: 'reply', datagram: encodeHandshakePacket(rsp, this.timestamp(now), hs.socketId) };
    }
    if (hs.type !== HsType.Conclusion) {
      this.droppedHandshakes++;
      return { kind: 'ignore', reason: `unexpected handshake type ${hs.type}` };
    }
    if (hs.cookie !== this.cookie(address, port, minute) && hs.cookie !== this.cookie(address, port, minute - 1)) {
      this.badCookies++;
      return { kind: 'ignore', reason: 'wrong SYN cookie' };
    }
    const k = this.key(address, port, hs.socketId);
    this.expire(now);
    const done = this.answers.get(k);
    if (done) {
      // the same answer, but stamped now like libsrt's repeated response (addressAndSend): the
      // caller takes its TSBPD time base from this timestamp, so a stale one would delay by the
      // age of the cached answer everything the caller receives
      const datagram = Buffer.from(done.datagram);
      datagram.writeUInt32BE(this.timestamp(now), 8);
      return { kind: 'reply', datagram };
    }
    if (this.pending.has(k)) return { kind: 'ignore', reason: 'decision pending' };
    const reqOrReject = this.parseConclusion(now, address, port, p, hs);
    if (typeof reqOrReject === 'number') {
      return { kind: 'reply', datagram: this.reject(now, hs, reqOrReject, k) };
    }
    this.pending.add(k);
    return { kind: 'request', request: reqOrReject };
  }

  private parseConclusion(now: number, address: string, port: number, p: ControlPacket, hs: Handshake): ConnectRequest | number {
    if (hs.version !== 5) return SRT_REJ.VERSION; // HSv4 callers are not supported
    if (hs.mss < MIN_MSS) return SRT_REJ.ROGUE; // would give a payload size <= 0 (and 28 divides by zero)
    const reqExt = findExtension(hs, HsExtType.HsReq);
    if (!reqExt) return SRT_REJ.ROGUE;
    let hsreq: HsReq;
    let streamId = '';
    let filter: string | null = null;
    try {
      hsreq = decodeHsReq(reqExt.data);
      const sid = findExtension(hs, HsExtType.Sid);
      if (sid) streamId = decodeHsString(sid.data);
      const f = findExtension(hs, HsExtType.Filter);
      if (f) filter = decodeHsString(f.data);
    } catch {
      return SRT_REJ.ROGUE;
    }
    if (hsreq.srtVersion < 0x010300) return SRT_REJ.ROGUE;
    if (hsreq.srtVersion < this.options.minversion) return SRT_REJ.VERSION;
    if (Buffer.byteLength(streamId) > MAX_SID_LENGTH) return SRT_REJ.ROGUE;
    if (((hsreq.flags & SrtFlag.Stream) !== 0) === this.options.messageapi) return SRT_REJ.MESSAGEAPI;
    const congestion = checkPeerCongestion(this.options, hs);
    if (congestion !== null) return congestion;
    if (filter !== null && (filter === '' || Buffer.byteLength(filter) > MAX_FILTER_LENGTH)) return SRT_REJ.FILTER;
    let group: HsGroup | null = null;
    const g = findExtension(hs, HsExtType.Group);
    if (g) {
      // libsrt interpretGroup: only a listener with SRTO_GROUPCONNECT takes members; the id must
      // be a group id and the type one libsrt 1.5 implements
      if (!this.options.groupconnect) return SRT_REJ.GROUP;
      try {
        group = decodeHsGroup(g.data);
      } catch {
        return SRT_REJ.ROGUE;
      }
      if ((group.groupId & GROUP_ID_BIT) === 0) return SRT_REJ.ROGUE;
      if (group.groupType !== GroupType.Broadcast && group.groupType !== GroupType.Backup) return SRT_REJ.GROUP;
      if (this.options.packetfilter !== '' || filter !== null) return SRT_REJ.GROUP; // FEC in groups: not supported
    }
    const km = findExtension(hs, HsExtType.KmReq);
    return {
      peerAddress: address,
      peerPort: port,
      callerSocketId: hs.socketId,
      streamId,
      requestedLatency: { rcv: hsreq.recvDelay, peer: hsreq.sendDelay },
      encrypted: km !== undefined || hs.encryption !== 0,
      pbkeylen: hs.encryption * 8,
      srtVersion: hsreq.srtVersion,
      handshake: hs,
      hsreq,
      arrival: now,
      peerTimestamp: p.timestamp,
      filter,
      group,
    };
  }

  private reject(now: number, hs: Handshake, reason: number, key: string): Buffer {
    const rsp: Handshake = {
      ...hs,
      version: 5,
      encryption: 0,
      type: rejectReasonToWire(reason),
      extensions: [],
      peerIp: hs.peerIp,
    };
    const datagram = encodeHandshakePacket(rsp, this.timestamp(now), hs.socketId);
    this.answers.set(key, { datagram, expires: now + ANSWER_TTL_US, connection: null });
    return datagram;
  }

  /**
   * Applies the application's decision on a request. Returns the datagram to send and, if
   * accepted, the new connection (with `socketId` as its local id).
   */
  decide(now: number, req: ConnectRequest, decision: AcceptDecision, socketId: number): { datagram: Buffer; connection: Connection | null; reason: number } {
    const k = this.key(req.peerAddress, req.peerPort, req.callerSocketId);
    this.pending.delete(k);
    const hs = req.handshake;
    let reason = decision.reject;
    let o: SrtOptions = this.options;
    if (reason === undefined && decision.options) {
      try {
        o = resolveOptions({ ...this.options, latency: undefined, ...decision.options });
      } catch {
        reason = SRT_REJ.IPE;
      }
    }
    // Encryption (SRT-DIGEST §7.5): unwrap the caller's KM with our passphrase (which the accept
    // hook may have chosen for this stream); on success echo it and use its keys both ways.
    let tx: TxKeying | null = null;
    let rx: RxKeying | null = null;
    let kmrsp: Buffer | null = null;
    if (reason === undefined) {
      const kr = responderKeying(o, this.random, findExtension(hs, HsExtType.KmReq));
      if (typeof kr === 'number') reason = kr;
      else ({ tx, rx, kmrsp } = kr);
    }
    // packet filter (libsrt checkApplyFilterConfig): merged with the caller's, conflicts refused
    let filter = '';
    if (reason === undefined) {
      try {
        filter = agreeFilterAsResponder(o, req.filter, req.hsreq.flags);
      } catch (e) {
        this.lastFilterError = e instanceof Error ? e.message : String(e);
        reason = SRT_REJ.FILTER;
      }
    }
    if (reason !== undefined) {
      if (!isValidRejectReason(reason)) reason = SRT_REJ.UNKNOWN;
      return { datagram: this.reject(now, hs, reason, k), connection: null, reason };
    }
    const n = negotiateAsResponder(o, req.hsreq);
    const mss = Math.min(o.mss, hs.mss);
    const rspExts: HsExtension[] = [{ type: HsExtType.HsRsp, data: encodeHsReq(buildHsRsp(o, n)) }];
    const cong = congestionExtension(o);
    if (cong) rspExts.push(cong);
    if (filter !== '') rspExts.push({ type: HsExtType.Filter, data: encodeHsString(filter) });
    const group = req.group ? decision.group : undefined;
    if (group) rspExts.push({ type: HsExtType.Group, data: encodeHsGroup({ groupId: group.groupId, groupType: group.type, flags: 0, weight: 0 }) });
    if (kmrsp) rspExts.push({ type: HsExtType.KmRsp, data: kmrsp });
    const rsp: Handshake = {
      version: 5,
      encryption: 0, // libsrt answers with 0 here even when it echoes a KM
      extension: HsExtFlag.HsReq | (kmrsp ? HsExtFlag.KmReq : 0) | (filter !== '' || cong || group ? HsExtFlag.Config : 0),
      isn: hs.isn,
      mss,
      flowWindow: advertisedFlowWindow(o),
      type: HsType.Conclusion,
      socketId,
      cookie: hs.cookie,
      peerIp: encodePeerIp(req.peerAddress),
      extensions: rspExts,
    };
    const connection = new Connection({
      options: o,
      localSocketId: socketId,
      peerSocketId: hs.socketId,
      sendIsn: hs.isn,
      recvIsn: hs.isn,
      mss,
      peerFlowWindow: hs.flowWindow,
      rcvLatencyMs: n.rcvLatencyMs,
      sndLatencyMs: n.sndLatencyMs,
      tsbpdRcv: n.tsbpdRcv,
      tsbpdSnd: n.tsbpdSnd,
      tlpktdropRcv: n.tlpktdrop,
      tlpktdropSnd: n.tlpktdrop,
      nakReport: n.nakReport,
      startTime: this.startTime,
      tsbpdBase: req.arrival - req.peerTimestamp,
      peerTsRef: req.peerTimestamp,
      peerSrtVersion: req.hsreq.srtVersion,
      streamId: req.streamId,
      peerAddress: req.peerAddress,
      peerPort: req.peerPort,
      now,
      tx,
      rx,
      filter,
      ...(group ? { group } : {}),
    });
    const datagram = encodeHandshakePacket(rsp, this.timestamp(now), hs.socketId);
    this.answers.set(k, { datagram, expires: now + ANSWER_TTL_US, connection });
    return { datagram, connection, reason: -1 };
  }

  /** Forget a pending request without answering (e.g. the listener is closing). */
  abandon(req: ConnectRequest): void {
    this.pending.delete(this.key(req.peerAddress, req.peerPort, req.callerSocketId));
  }

  private expire(now: number): void {
    if (this.answers.size < 64) return;
    for (const [k, a] of this.answers) if (a.expires < now) this.answers.delete(k);
  }

  get pendingCount(): number {
    return this.pending.size;
  }
}
