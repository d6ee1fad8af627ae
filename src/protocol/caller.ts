// Caller side of the HSv5 caller-listener handshake (SRT-DIGEST §2.2; libsrt core.cpp startConnect,
// processConclusionResponse). Sans-IO: feed handshake packets and timeouts; poll datagrams.
import { Connection } from './connection.js';
import {
  decodeHandshake, decodeHsReq, encodeHandshakePacket, encodeHsReq, decodeHsString, encodeHsString, encodePeerIp,
  findExtension, HS_MAGIC, HsExtFlag, HsExtType, HsType, UDT_DGRAM, type Handshake, type HsExtension,
  decodeHsGroup, encodeHsGroup, type HsGroup,
} from './handshake.js';
import { GROUP_ID_BIT, type GroupMembership } from './group.js';
import { CtrlType, type ControlPacket } from './packet.js';
import { advertisedFlowWindow, agreeFilterAsInitiator, buildHsReq, checkPeerCongestion, congestionExtension, negotiateAsInitiator } from './negotiate.js';
import { MIN_MSS, type SrtOptions } from './options.js';
import { rejectReasonFromWire, SRT_REJ } from './reject.js';
import { decodeKmState, KmCipher, KmState } from './crypto.js';
import { cloneKeys, newKeys, RxKeying, TxKeying, type KeyingConfig, type RandomBytes } from './keying.js';
import type { KeySet } from './crypto.js';

const RESEND_US = 250_000;

export interface CallerConfig {
  options: SrtOptions;
  localSocketId: number;
  isn: number;
  peerAddress: string;
  peerPort: number;
  now: number;
  /** Randomness for key material (the driver passes crypto.randomBytes); needed with a passphrase. */
  random?: RandomBytes;
  /** A connection-group member: the GROUP block it sends (ADR 16). */
  group?: HsGroup;
  /** Local clock value at which our timestamps are 0 (a group's members share their group's). */
  startTime?: number;
}

/** Keying settings from the options (passphrase, key length, cipher, refresh schedule). */
export function keyingConfig(o: SrtOptions, random: RandomBytes | undefined, cipher?: number): KeyingConfig {
  return {
    passphrase: o.passphrase,
    keyLen: o.pbkeylen === 0 ? 16 : o.pbkeylen,
    cipher: cipher ?? (o.cryptomode === 2 ? KmCipher.Gcm : KmCipher.Ctr),
    refreshRate: o.kmrefreshrate,
    preAnnounce: o.kmpreannounce,
    random: random ?? noRandom,
  };
}

function noRandom(): Buffer {
  throw new Error('encryption needs a source of random bytes (config.random)');
}

/** The initiator's conclusion extensions in libsrt's order: HSREQ, SID (if set), FILTER (if set), KMREQ (if keys). */
export function initiatorExtensions(o: SrtOptions, kmreq: Buffer | null, group?: HsGroup): { extensions: HsExtension[]; flags: number } {
  const extensions: HsExtension[] = [{ type: HsExtType.HsReq, data: encodeHsReq(buildHsReq(o)) }];
  let flags: number = HsExtFlag.HsReq;
  if (o.streamid !== '') {
    extensions.push({ type: HsExtType.Sid, data: encodeHsString(o.streamid) });
    flags |= HsExtFlag.Config;
  }
  const cong = congestionExtension(o);
  if (cong) {
    extensions.push(cong);
    flags |= HsExtFlag.Config;
  }
  if (o.packetfilter !== '') {
    extensions.push({ type: HsExtType.Filter, data: encodeHsString(o.packetfilter) });
    flags |= HsExtFlag.Config;
  }
  if (group) {
    extensions.push({ type: HsExtType.Group, data: encodeHsGroup(group) });
    flags |= HsExtFlag.Config;
  }
  if (kmreq) {
    extensions.push({ type: HsExtType.KmReq, data: kmreq });
    flags |= HsExtFlag.KmReq;
  }
  return { extensions, flags };
}

/**
 * The initiator's keying once the peer answered (caller, rendezvous initiator): `keys`/`kmreq` are
 * what we announced in KMREQ, `kmrsp` the peer's answer. Returns the keying of both directions, or
 * the SRT_REJ_* reason to fail with (enforced encryption).
 */
export function initiatorKeying(
  o: SrtOptions, random: RandomBytes | undefined, keys: KeySet | null, kmreq: Buffer | null, kmrsp: HsExtension | undefined,
): { tx: TxKeying | null; rx: RxKeying | null } | number {
  if (keys && kmreq) {
    const kc = keyingConfig(o, random, keys.cipher);
    if (kmrsp && kmrsp.data.equals(kmreq)) {
      return { tx: new TxKeying(kc, keys), rx: new RxKeying(o.passphrase, cloneKeys(keys), KmState.Secured) };
    }
    const state = kmrsp ? decodeKmState(kmrsp.data) : KmState.NoSecret;
    if (o.enforcedencryption) {
      return state === KmState.BadSecret ? SRT_REJ.BADSECRET : state === KmState.BadCryptoMode ? SRT_REJ.CRYPTO : SRT_REJ.UNSECURE;
    }
    // not enforced (libsrt): connect anyway; we still encrypt, the peer counts what it cannot
    // decrypt, and the KM states say why
    const tx = new TxKeying(kc, keys);
    tx.state = state;
    return { tx, rx: new RxKeying(o.passphrase, null, state) };
  }
  if (kmrsp && o.enforcedencryption) return SRT_REJ.UNSECURE;
  return { tx: null, rx: null };
}

export type CallerState = 'induction' | 'conclusion' | 'connected' | 'failed';

export class CallerHandshake {
  state: CallerState = 'induction';
  connection: Connection | null = null;
  /** SRT_REJ_* / SRT_REJX_* reason when the state is 'failed'. */
  rejectReason = -1;
  private readonly cfg: CallerConfig;
  private readonly startTime: number;
  private request: Handshake;
  private lastSent = -Infinity;
  private readonly deadline: number;
  private readonly outbox: Buffer[] = [];
  private keys: KeySet | null = null;
  private kmreq: Buffer | null = null;
  /** PBKEYLEN the listener advertised in its induction answer (0: none). */
  private listenerKeyLen: 0 | 16 | 24 | 32 = 0;

  constructor(cfg: CallerConfig) {
    this.cfg = cfg;
    this.startTime = cfg.startTime ?? cfg.now;
    this.deadline = cfg.now + cfg.options.conntimeo * 1000;
    const o = cfg.options;
    this.request = {
      version: 4,
      encryption: 0,
      extension: UDT_DGRAM,
      isn: cfg.isn,
      mss: o.mss,
      flowWindow: advertisedFlowWindow(o),
      type: HsType.Induction,
      socketId: cfg.localSocketId,
      cookie: 0,
      peerIp: encodePeerIp(cfg.peerAddress),
      extensions: [],
    };
    this.sendRequest(cfg.now);
  }

  private timestamp(now: number): number {
    return Math.floor(now - this.startTime) >>> 0;
  }

  private sendRequest(now: number): void {
    this.outbox.push(encodeHandshakePacket(this.request, this.timestamp(now), 0));
    this.lastSent = now;
  }

  handlePacket(now: number, p: ControlPacket): void {
    if (p.type !== CtrlType.Handshake) {
      // data or control after our conclusion means the listener accepted; a response may be lost
      return;
    }
    if (this.state !== 'induction' && this.state !== 'conclusion') return;
    const hs = decodeHandshake(p.cif);
    if (hs.type >= 1000) {
      this.fail(rejectReasonFromWire(hs.type));
      return;
    }
    if (this.state === 'induction') {
      if (hs.type !== HsType.Induction) return;
      if (hs.version !== 5 || hs.extension !== HS_MAGIC) {
        this.fail(hs.version !== 5 ? SRT_REJ.VERSION : SRT_REJ.ROGUE);
        return;
      }
      // HSv5: a listener that set PBKEYLEN advertises it in the induction answer; a caller left at
      // the default 0 takes it (libsrt's "the other party accepts the peer's value")
      if (hs.encryption >= 2 && hs.encryption <= 4) this.listenerKeyLen = (hs.encryption * 8) as 16 | 24 | 32;
      this.request = this.buildConclusion(hs.cookie);
      this.state = 'conclusion';
      this.sendRequest(now);
      return;
    }
    if (hs.type !== HsType.Conclusion || hs.version !== 5) return;
    const rspExt = findExtension(hs, HsExtType.HsRsp);
    if (!rspExt || hs.mss < MIN_MSS) {
      this.fail(SRT_REJ.ROGUE);
      return;
    }
    const rsp = decodeHsReq(rspExt.data);
    const o = this.cfg.options;
    const congestion = checkPeerCongestion(o, hs);
    if (congestion !== null) {
      this.fail(congestion);
      return;
    }
    const n = negotiateAsInitiator(o, rsp);
    let filter: string;
    try {
      const f = findExtension(hs, HsExtType.Filter);
      filter = agreeFilterAsInitiator(o, f ? decodeHsString(f.data) : null);
    } catch {
      this.fail(SRT_REJ.FILTER);
      return;
    }
    // encryption: the listener echoes our KM when it could unwrap it
    const k = initiatorKeying(o, this.cfg.random, this.keys, this.kmreq, findExtension(hs, HsExtType.KmRsp));
    if (typeof k === 'number') {
      this.fail(k);
      return;
    }
    const { tx, rx } = k;
    // a group member: the listener answers with its own (mirror) group's id and our type
    let group: GroupMembership | undefined;
    const mine = this.cfg.group;
    if (mine) {
      const g = findExtension(hs, HsExtType.Group);
      let peer: HsGroup | null = null;
      try {
        peer = g ? decodeHsGroup(g.data) : null;
      } catch {
        peer = null;
      }
      if (!peer || (peer.groupId & GROUP_ID_BIT) === 0 || peer.groupType !== mine.groupType) {
        this.fail(SRT_REJ.GROUP);
        return;
      }
      group = { groupId: mine.groupId, peerGroupId: peer.groupId, type: mine.groupType as 1 | 2, weight: mine.weight };
    }
    this.state = 'connected';
    this.connection = new Connection({
      options: o,
      localSocketId: this.cfg.localSocketId,
      peerSocketId: hs.socketId,
      sendIsn: this.cfg.isn,
      recvIsn: hs.isn,
      mss: Math.min(o.mss, hs.mss),
      peerFlowWindow: hs.flowWindow,
      rcvLatencyMs: n.rcvLatencyMs,
      sndLatencyMs: n.sndLatencyMs,
      tsbpdRcv: n.tsbpdRcv,
      tsbpdSnd: n.tsbpdSnd,
      tlpktdropRcv: n.tlpktdrop,
      tlpktdropSnd: n.tlpktdrop,
      nakReport: n.nakReport,
      startTime: this.startTime,
      tsbpdBase: now - p.timestamp,
      peerTsRef: p.timestamp,
      peerSrtVersion: rsp.srtVersion,
      streamId: o.streamid,
      peerAddress: this.cfg.peerAddress,
      peerPort: this.cfg.peerPort,
      now,
      tx,
      rx,
      filter,
      ...(group ? { group } : {}),
    });
  }

  private buildConclusion(cookie: number): Handshake {
    const o = this.cfg.options;
    let encryption = 0;
    if (o.passphrase !== '') {
      // the caller generates the stream's keys and sends them wrapped (KMREQ, last extension)
      if (!this.kmreq) {
        const k = newKeys(keyingConfig(o.pbkeylen === 0 && this.listenerKeyLen ? { ...o, pbkeylen: this.listenerKeyLen } : o, this.cfg.random));
        this.keys = k.keys;
        this.kmreq = k.km;
      }
      encryption = this.keys!.keyLen / 8;
    }
    const { extensions, flags } = initiatorExtensions(o, this.kmreq, this.cfg.group);
    return {
      ...this.request,
      version: 5,
      encryption,
      extension: flags,
      type: HsType.Conclusion,
      cookie,
      extensions,
    };
  }

  private fail(reason: number): void {
    this.state = 'failed';
    this.rejectReason = reason;
  }

  handleTimeout(now: number): void {
    if (this.state !== 'induction' && this.state !== 'conclusion') return;
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
    if (this.state !== 'induction' && this.state !== 'conclusion') return Infinity;
    return Math.min(this.deadline, this.lastSent + RESEND_US);
  }
}
