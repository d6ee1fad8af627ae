// HSv5 rendezvous handshake (SRT-DIGEST §2.9; libsrt core.cpp startConnect, processRendezvous,
// rendezvousSwitchState, backwardCompatibleCookieContest, processCtrlHS; handshake.h
// RendezvousState). Both peers bind the port the other one targets and run this same machine:
//
//   WAVEAHAND (type 0, cookie) both ways → the cookie contest picks INITIATOR and RESPONDER →
//   the initiator's CONCLUSION carries HSREQ (+SID, +KMREQ), the responder's CONCLUSION answers
//   with HSRSP (+KMRSP) → the initiator sends AGREEMENT (type −2) once and is connected; the
//   responder is connected on AGREEMENT or on the first data / KEEPALIVE / UMSG_EXT packet.
//
// States as libsrt's: waving → attention (got WAVEAHAND) or fine (got CONCLUSION) → initiated
// (responder: got CONCLUSION+HSREQ in attention) → connected. The current handshake is re-sent
// every 250 ms until connected, for 10 × SRTO_CONNTIMEO (libsrt `ttl *= 10` for rendezvous).
//
// Sans-IO: feed packets and timeouts, poll datagrams. The cookie is an input (the driver passes
// random bits; libsrt bakes an MD5 over the peer address and the minute, which only needs to be
// unpredictable and different on the two sides).
import { Connection } from './connection.js';
import {
  decodeHandshake, decodeHsReq, decodeHsString, encodeHandshakePacket, encodeHsReq, encodeHsString, encodePeerIp,
  findExtension, HsExtFlag, HsExtType, HsType, MAX_SID_LENGTH, SrtFlag, type Handshake, type HsExtension, type HsReq,
} from './handshake.js';
import { CtrlType, type Packet } from './packet.js';
import { advertisedFlowWindow, agreeFilterAsInitiator, agreeFilterAsResponder, buildHsRsp, checkPeerCongestion, congestionExtension, negotiateAsInitiator, negotiateAsResponder, type Negotiated } from './negotiate.js';
import { MIN_MSS, type SrtOptions } from './options.js';
import { rejectReasonFromWire, rejectReasonToWire, SRT_REJ } from './reject.js';
import { initiatorExtensions, initiatorKeying, keyingConfig } from './caller.js';
import { responderKeying } from './listener.js';
import { newKeys, type RandomBytes, type RxKeying, type TxKeying } from './keying.js';
import type { KeySet } from './crypto.js';
import { ParseError } from './errors.js';

const RESEND_US = 250_000;
/** libsrt startConnect: `if (m_config.bRendezvous) ttl *= 10;` */
export const RENDEZVOUS_TIMEOUT_FACTOR = 10;

export type HandshakeSide = 'draw' | 'initiator' | 'responder';

/**
 * libsrt's `backwardCompatibleCookieContest(agent, peer)`: both cookies as signed 32-bit values,
 * d = agent − peer in 64 bits. The low 32 bits of d zero → draw; bit 31 of d clear → initiator;
 * set → responder, unless bit 31 of (peer − agent) is set too (|d| = 2^31) and agent > peer.
 * This is serial-number order, not "the larger cookie wins": 0xed60d182 beats 0x78ca64ee (as
 * captured between two srt-live-transmit 1.5.1). A zero cookie is never valid (draw).
 */
export function cookieContest(agent: number, peer: number): HandshakeSide {
  const a = agent | 0, b = peer | 0;
  if (a === 0 || b === 0) return 'draw';
  const d = (a - b) >>> 0; // a − b is exact in a double; >>> 0 keeps its low 32 bits
  if (d === 0) return 'draw';
  if (d < 0x80000000) return 'initiator';
  if (d > 0x80000000) return 'responder';
  return a > b ? 'initiator' : 'responder';
}

export interface RendezvousConfig {
  options: SrtOptions;
  localSocketId: number;
  isn: number;
  /** Our cookie: random 32 bits from the driver, not 0. */
  cookie: number;
  peerAddress: string;
  peerPort: number;
  now: number;
  /** Randomness for key material (the driver passes crypto.randomBytes); needed with a passphrase. */
  random?: RandomBytes;
}

export type RendezvousState = 'waving' | 'attention' | 'fine' | 'initiated' | 'connected' | 'failed';

/** What an interpreted HSREQ (responder) gave: everything the Connection needs. */
interface Agreed {
  n: Negotiated;
  hsreq: HsReq;
  tx: TxKeying | null;
  rx: RxKeying | null;
  streamId: string;
  tsbpdBase: number;
  peerTs: number;
  peer: Handshake;
  filter: string;
}

export class RendezvousCore {
  state: RendezvousState = 'waving';
  side: HandshakeSide = 'draw';
  connection: Connection | null = null;
  /** SRT_REJ_* / SRT_REJX_* reason when the state is 'failed'. */
  rejectReason = -1;
  /** The peer's socket id (0 until a handshake from it arrived). */
  peerSocketId = 0;
  /** Handshakes that did not fit the state (libsrt rejects most of them as ROGUE; we wait). */
  ignored = 0;
  private readonly cfg: RendezvousConfig;
  private readonly startTime: number;
  private readonly deadline: number;
  private request: Handshake;
  private lastSent = -Infinity;
  private readonly outbox: Buffer[] = [];
  /** Our SND key length as advertised in the encryption field (libsrt iSndCryptoKeyLen). */
  private keyLen: number;
  private keys: KeySet | null = null;
  private kmreq: Buffer | null = null;
  private agreed: Agreed | null = null;

  constructor(cfg: RendezvousConfig) {
    if ((cfg.cookie | 0) === 0) throw new RangeError('the rendezvous cookie must not be 0');
    this.cfg = cfg;
    this.startTime = cfg.now;
    this.deadline = cfg.now + cfg.options.conntimeo * 1000 * RENDEZVOUS_TIMEOUT_FACTOR;
    const o = cfg.options;
    this.keyLen = o.pbkeylen;
    this.request = {
      version: 5,
      encryption: this.keyLen / 8,
      extension: 0,
      isn: cfg.isn,
      mss: o.mss,
      flowWindow: advertisedFlowWindow(o),
      type: HsType.Waveahand,
      socketId: cfg.localSocketId,
      cookie: cfg.cookie | 0,
      peerIp: encodePeerIp(cfg.peerAddress),
      extensions: [],
    };
    this.sendRequest(cfg.now);
  }

  private get connecting(): boolean {
    return this.state !== 'connected' && this.state !== 'failed';
  }

  private timestamp(now: number): number {
    return Math.floor(now - this.startTime) >>> 0;
  }

  /** Sends the current handshake to the peer's socket id as last seen (0 until then, like libsrt). */
  private sendRequest(now: number): void {
    this.outbox.push(encodeHandshakePacket(this.request, this.timestamp(now), this.peerSocketId));
    this.lastSent = now;
  }

  private setRequest(type: number, extensions: HsExtension[], flags: number): void {
    this.request = { ...this.request, type, encryption: this.keyLen / 8, extension: flags, extensions };
  }

  handlePacket(now: number, p: Packet): void {
    if (this.state === 'failed') return;
    if (p.kind !== 'control' || p.type !== CtrlType.Handshake) {
      if (this.state !== 'connected') this.onOtherPacket(now, p);
      return;
    }
    const hs = decodeHandshake(p.cif);
    if (this.state === 'connected') {
      // libsrt processCtrlHS: a connected rendezvous socket answers every handshake but an
      // AGREEMENT with an AGREEMENT (the peer missed ours and repeats its CONCLUSION)
      if (hs.type !== HsType.Agreement && hs.type < 1000) this.sendAgreement(now);
      return;
    }
    if (hs.type >= 1000) {
      this.fail(rejectReasonFromWire(hs.type));
      return;
    }
    if (hs.type === HsType.Induction) {
      this.reject(now, SRT_REJ.ROGUE); // a caller's INDUCTION reached a rendezvous socket
      return;
    }
    if (hs.version !== 5) {
      this.reject(now, SRT_REJ.VERSION); // HSv4 rendezvous (libsrt <= 1.2) is not supported
      return;
    }
    if (hs.type !== HsType.Waveahand && hs.type !== HsType.Conclusion && hs.type !== HsType.Agreement) {
      this.ignored++;
      return;
    }
    this.peerSocketId = hs.socketId;
    // libsrt checkUpdateCryptoKeyLen: a PBKEYLEN the peer advertises wins (we are not SRTO_SENDER);
    // it decides the length of the keys an initiator generates
    if (hs.encryption >= 2 && hs.encryption <= 4 && !this.keys) this.keyLen = hs.encryption * 8;
    if (this.side === 'draw') {
      this.side = cookieContest(this.cfg.cookie, hs.cookie);
      if (this.side === 'draw') {
        this.reject(now, SRT_REJ.RDVCOOKIE);
        return;
      }
    }
    if (this.side === 'initiator') this.initiatorStep(now, p.timestamp, hs);
    else this.responderStep(now, p.timestamp, hs);
  }

  // ------------------------------------------------------------------ rendezvousSwitchState

  private initiatorStep(now: number, ts: number, hs: Handshake): void {
    const hasExt = hs.extension !== 0;
    switch (this.state) {
      case 'waving':
        if (hs.type === HsType.Agreement) break;
        // WAVEAHAND → attention, CONCLUSION → fine; either way: CONCLUSION + HSREQ
        this.state = hs.type === HsType.Waveahand ? 'attention' : 'fine';
        this.sendConclusionHsReq(now);
        return;
      case 'attention':
      case 'fine':
        if (hs.type === HsType.Waveahand) {
          if (this.state === 'fine') break; // libsrt: invalid transition (ROGUE)
          this.sendRequest(now); // our CONCLUSION was lost: again
          return;
        }
        if (hs.type === HsType.Conclusion) {
          if (!hasExt) {
            this.sendRequest(now); // an empty CONCLUSION: wait for HSRSP, keep offering HSREQ
            return;
          }
          this.finishAsInitiator(now, ts, hs);
          return;
        }
        break; // AGREEMENT: only the initiator sends it
      default:
        break;
    }
    this.ignored++;
  }

  private responderStep(now: number, ts: number, hs: Handshake): void {
    const hasExt = hs.extension !== 0;
    switch (this.state) {
      case 'waving':
        if (hs.type === HsType.Waveahand) {
          this.state = 'attention';
          this.setRequest(HsType.Conclusion, [], 0); // no extensions until HSREQ came
          this.sendRequest(now);
          return;
        }
        if (hs.type === HsType.Conclusion && hasExt) {
          this.state = 'fine';
          this.answerHsReq(now, ts, hs);
          return;
        }
        break;
      case 'attention':
        if (hs.type === HsType.Waveahand || (hs.type === HsType.Conclusion && !hasExt)) {
          this.sendRequest(now); // the empty CONCLUSION again
          return;
        }
        if (hs.type === HsType.Conclusion) {
          this.state = 'initiated';
          this.answerHsReq(now, ts, hs);
          return;
        }
        break;
      case 'fine':
      case 'initiated':
        if (hs.type === HsType.Agreement) {
          this.connect(now);
          return;
        }
        if (hs.type === HsType.Conclusion) {
          // the initiator missed our HSRSP: answer again (libsrt interprets the HSREQ again)
          if (hasExt) this.answerHsReq(now, ts, hs);
          else this.sendRequest(now);
          return;
        }
        break;
      default:
        break;
    }
    this.ignored++;
  }

  /** libsrt processConnectResponse: data, KEEPALIVE or UMSG_EXT mean the peer is connected ("pinning in"). */
  private onOtherPacket(now: number, p: Packet): void {
    if (p.kind === 'control' && p.type === CtrlType.Shutdown) {
      this.fail(SRT_REJ.ROGUE);
      return;
    }
    const pins = p.kind === 'data' || p.type === CtrlType.Keepalive || p.type === CtrlType.UserDefined;
    if (!pins || !this.agreed || p.dstSocketId !== this.cfg.localSocketId) {
      this.ignored++;
      return;
    }
    this.connect(now);
    this.connection!.handlePacket(now, p);
  }

  // ------------------------------------------------------------------ initiator

  private sendConclusionHsReq(now: number): void {
    const o = this.cfg.options;
    if (o.passphrase !== '' && !this.kmreq) {
      // the initiator generates the keys of both directions (libsrt CCryptoControl::init, HSD_INITIATOR)
      const k = newKeys(keyingConfig({ ...o, pbkeylen: this.keyLen as SrtOptions['pbkeylen'] }, this.cfg.random));
      this.keys = k.keys;
      this.kmreq = k.km;
    }
    const { extensions, flags } = initiatorExtensions(o, this.kmreq);
    this.setRequest(HsType.Conclusion, extensions, flags);
    this.sendRequest(now);
  }

  private finishAsInitiator(now: number, ts: number, hs: Handshake): void {
    const rspExt = findExtension(hs, HsExtType.HsRsp);
    if (!rspExt || hs.mss < MIN_MSS) {
      this.reject(now, SRT_REJ.ROGUE);
      return;
    }
    let rsp: HsReq;
    try {
      rsp = decodeHsReq(rspExt.data);
    } catch (e) {
      if (!(e instanceof ParseError)) throw e;
      this.reject(now, SRT_REJ.ROGUE);
      return;
    }
    const o = this.cfg.options;
    if (rsp.srtVersion < 0x010300) {
      this.reject(now, SRT_REJ.ROGUE);
      return;
    }
    if (rsp.srtVersion < o.minversion) {
      this.reject(now, SRT_REJ.VERSION);
      return;
    }
    const k = initiatorKeying(o, this.cfg.random, this.keys, this.kmreq, findExtension(hs, HsExtType.KmRsp));
    if (typeof k === 'number') {
      this.reject(now, k);
      return;
    }
    let filter: string;
    try {
      const f = findExtension(hs, HsExtType.Filter);
      filter = agreeFilterAsInitiator(o, f ? decodeHsString(f.data) : null, true);
    } catch {
      this.reject(now, SRT_REJ.FILTER);
      return;
    }
    const congestion = checkPeerCongestion(o, hs);
    if (congestion !== null) {
      this.reject(now, congestion);
      return;
    }
    const n = negotiateAsInitiator(o, rsp);
    this.state = 'connected';
    this.connection = this.newConnection(now, hs, n, rsp.srtVersion, o.streamid, now - ts, ts, k.tx, k.rx, filter);
    this.sendAgreement(now);
  }

  private sendAgreement(now: number): void {
    this.setRequest(HsType.Agreement, [], 0);
    this.sendRequest(now);
  }

  // ------------------------------------------------------------------ responder

  /** Interprets the initiator's CONCLUSION + HSREQ and answers with CONCLUSION + HSRSP (+ KMRSP). */
  private answerHsReq(now: number, ts: number, hs: Handshake): void {
    const o = this.cfg.options;
    const reqExt = findExtension(hs, HsExtType.HsReq);
    if (!reqExt || hs.mss < MIN_MSS) {
      this.reject(now, SRT_REJ.ROGUE);
      return;
    }
    let hsreq: HsReq;
    let streamId = o.streamid;
    try {
      hsreq = decodeHsReq(reqExt.data);
      // libsrt records the initiator's SID (interpretSrtHandshake) even in rendezvous
      const sid = findExtension(hs, HsExtType.Sid);
      if (sid) streamId = decodeHsString(sid.data);
    } catch (e) {
      if (!(e instanceof ParseError)) throw e;
      this.reject(now, SRT_REJ.ROGUE);
      return;
    }
    if (hsreq.srtVersion < 0x010300 || Buffer.byteLength(streamId) > MAX_SID_LENGTH) {
      this.reject(now, SRT_REJ.ROGUE);
      return;
    }
    if (hsreq.srtVersion < o.minversion) {
      this.reject(now, SRT_REJ.VERSION);
      return;
    }
    if (((hsreq.flags & SrtFlag.Stream) !== 0) === o.messageapi) {
      this.reject(now, SRT_REJ.MESSAGEAPI);
      return;
    }
    const congestion = checkPeerCongestion(o, hs);
    if (congestion !== null) {
      this.reject(now, congestion);
      return;
    }
    let filter: string;
    try {
      const f = findExtension(hs, HsExtType.Filter);
      filter = agreeFilterAsResponder(o, f ? decodeHsString(f.data) : null, hsreq.flags, true);
    } catch {
      this.reject(now, SRT_REJ.FILTER);
      return;
    }
    if (findExtension(hs, HsExtType.Group)) {
      this.reject(now, SRT_REJ.GROUP);
      return;
    }
    const k = responderKeying(o, this.cfg.random, findExtension(hs, HsExtType.KmReq));
    if (typeof k === 'number') {
      this.reject(now, k);
      return;
    }
    const n = negotiateAsResponder(o, hsreq);
    this.agreed = { n, hsreq, tx: k.tx, rx: k.rx, streamId, tsbpdBase: now - ts, peerTs: ts, peer: hs, filter };
    const extensions: HsExtension[] = [{ type: HsExtType.HsRsp, data: encodeHsReq(buildHsRsp(o, n)) }];
    const cong = congestionExtension(o);
    if (cong) extensions.push(cong);
    if (filter !== '') extensions.push({ type: HsExtType.Filter, data: encodeHsString(filter) });
    if (k.kmrsp) extensions.push({ type: HsExtType.KmRsp, data: k.kmrsp });
    this.setRequest(HsType.Conclusion, extensions, HsExtFlag.HsReq | (k.kmrsp ? HsExtFlag.KmReq : 0) | (filter !== '' || cong ? HsExtFlag.Config : 0));
    this.sendRequest(now);
  }

  private connect(now: number): void {
    const a = this.agreed!;
    this.state = 'connected';
    this.connection = this.newConnection(now, a.peer, a.n, a.hsreq.srtVersion, a.streamId, a.tsbpdBase, a.peerTs, a.tx, a.rx, a.filter);
  }

  // ------------------------------------------------------------------ common

  private newConnection(
    now: number, peer: Handshake, n: Negotiated, peerSrtVersion: number, streamId: string,
    tsbpdBase: number, peerTs: number, tx: TxKeying | null, rx: RxKeying | null, filter: string,
  ): Connection {
    const o = this.cfg.options;
    return new Connection({
      options: o,
      localSocketId: this.cfg.localSocketId,
      peerSocketId: peer.socketId,
      // rendezvous (libsrt applyResponseSettings): each side sends from its own ISN and receives
      // from the peer's (caller–listener instead share the caller's)
      sendIsn: this.cfg.isn,
      recvIsn: peer.isn,
      mss: Math.min(o.mss, peer.mss),
      peerFlowWindow: peer.flowWindow,
      rcvLatencyMs: n.rcvLatencyMs,
      sndLatencyMs: n.sndLatencyMs,
      tsbpdRcv: n.tsbpdRcv,
      tsbpdSnd: n.tsbpdSnd,
      tlpktdropRcv: n.tlpktdrop,
      tlpktdropSnd: n.tlpktdrop,
      nakReport: n.nakReport,
      startTime: this.startTime,
      tsbpdBase,
      peerTsRef: peerTs,
      peerSrtVersion,
      streamId,
      peerAddress: this.cfg.peerAddress,
      peerPort: this.cfg.peerPort,
      now,
      tx,
      rx,
      filter,
    });
  }

  /** Fails and tells the peer why (libsrt sendRendezvousRejection: our handshake, type 1000 + reason). */
  private reject(now: number, reason: number): void {
    this.setRequest(rejectReasonToWire(reason), [], 0);
    this.sendRequest(now);
    this.fail(reason);
  }

  private fail(reason: number): void {
    this.state = 'failed';
    this.rejectReason = reason;
  }

  handleTimeout(now: number): void {
    if (!this.connecting) return;
    if (now >= this.deadline) {
      this.fail(SRT_REJ.TIMEOUT);
      return;
    }
    if (now - this.lastSent >= RESEND_US) this.sendRequest(now);
  }

  pollTransmit(): Buffer | null {
    return this.outbox.shift() ?? null;
  }

  nextDeadline(): number {
    if (!this.connecting) return Infinity;
    return Math.min(this.deadline, this.lastSent + RESEND_US);
  }
}
