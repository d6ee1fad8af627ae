// HSREQ/HSRSP contents and per-direction negotiation (SRT-DIGEST §2.3; libsrt core.cpp
// fillSrtHandshake_HSREQ/HSRSP, processSrtMsg_HSREQ/HSRSP).
import { decodeHsString, encodeHsString, findExtension, HsExtType, SLUICE_SRT_VERSION, SrtFlag, type Handshake, type HsExtension, type HsReq } from './handshake.js';
import { SRT_REJ } from './reject.js';
import { bufferPackets, type SrtOptions } from './options.js';
import { fecConfig, mergeFilter } from './filter-config.js';

/**
 * Flags Sluice announces (FILTERCAP always, as libsrt: the built-in fec filter is understood). File
 * mode has no TSBPD, so neither TSBPDSND/TSBPDRCV nor TLPKTDROP (libsrt sets TLPKTDROP only with
 * TSBPD): srt-file-transmit sends 0xE4.
 */
export function localSrtFlags(o: SrtOptions): number {
  let f = SrtFlag.HaiCrypt | SrtFlag.RexmitFlg | SrtFlag.FilterCap;
  if (o.transtype === 'live') f |= SrtFlag.TsbpdSnd | SrtFlag.TsbpdRcv | (o.tlpktdrop ? SrtFlag.TlPktDrop : 0);
  if (o.nakreport) f |= SrtFlag.NakReport;
  if (!o.messageapi) f |= SrtFlag.Stream;
  return f;
}

/** Caller's HSREQ: receiver delay = our RCVLATENCY, sender delay = our PEERLATENCY (0/0 without TSBPD, file mode). */
export function buildHsReq(o: SrtOptions): HsReq {
  const live = o.transtype === 'live';
  return { srtVersion: SLUICE_SRT_VERSION, flags: localSrtFlags(o), recvDelay: live ? o.rcvlatency : 0, sendDelay: live ? o.peerlatency : 0 };
}

/**
 * The CONGESTION extension (libsrt createSrtHandshake): sent, in the request and the answer, only
 * for a controller other than live.
 */
export function congestionExtension(o: SrtOptions): HsExtension | null {
  return o.congestion === 'live' ? null : { type: HsExtType.Congestion, data: encodeHsString(o.congestion) };
}

/**
 * The peer's congestion controller against ours (libsrt interpretSrtHandshake): a CONGESTION block
 * must name ours, and none means live. Returns SRT_REJ_CONGESTION on a mismatch, null if they agree.
 */
export function checkPeerCongestion(o: SrtOptions, hs: Handshake): number | null {
  const ext = findExtension(hs, HsExtType.Congestion);
  const peer = ext ? decodeHsString(ext.data) : 'live';
  return peer === o.congestion ? null : SRT_REJ.CONGESTION;
}

/** The flow window we advertise: min(receive buffer in packets, FC). */
export function advertisedFlowWindow(o: SrtOptions): number {
  return Math.min(bufferPackets(o.rcvbuf, o.mss), o.fc);
}

export interface Negotiated {
  rcvLatencyMs: number;
  sndLatencyMs: number;
  tsbpdRcv: boolean;
  tsbpdSnd: boolean;
  tlpktdrop: boolean;
  nakReport: boolean;
}

/** Responder side: latency in each direction is the larger wish of the two parties. */
export function negotiateAsResponder(o: SrtOptions, peer: HsReq): Negotiated {
  return {
    rcvLatencyMs: Math.max(o.rcvlatency, peer.sendDelay),
    sndLatencyMs: Math.max(o.peerlatency, peer.recvDelay),
    tsbpdRcv: o.transtype === 'live' && (peer.flags & SrtFlag.TsbpdSnd) !== 0,
    tsbpdSnd: o.transtype === 'live' && (peer.flags & SrtFlag.TsbpdRcv) !== 0,
    tlpktdrop: o.transtype === 'live' && o.tlpktdrop && (peer.flags & SrtFlag.TlPktDrop) !== 0,
    nakReport: o.nakreport,
  };
}

/** Responder's HSRSP: receiver delay = its RCV latency, sender delay = its PEER latency. */
export function buildHsRsp(o: SrtOptions, n: Negotiated): HsReq {
  return { srtVersion: SLUICE_SRT_VERSION, flags: localSrtFlags(o), recvDelay: n.rcvLatencyMs, sendDelay: n.sndLatencyMs };
}

/** Initiator side: adopt what the responder decided. */
export function negotiateAsInitiator(o: SrtOptions, rsp: HsReq): Negotiated {
  return {
    rcvLatencyMs: rsp.sendDelay,
    sndLatencyMs: rsp.recvDelay,
    tsbpdRcv: o.transtype === 'live' && (rsp.flags & SrtFlag.TsbpdSnd) !== 0,
    tsbpdSnd: o.transtype === 'live' && (rsp.flags & SrtFlag.TsbpdRcv) !== 0,
    tlpktdrop: o.transtype === 'live' && o.tlpktdrop && (rsp.flags & SrtFlag.TlPktDrop) !== 0,
    nakReport: o.nakreport,
  };
}

/**
 * The packet filter a responder agrees on (core.cpp checkApplyFilterConfig / createSrtHandshake):
 * `peerFilter` is the initiator's FILTER block (null if none). Without one, our own filter applies
 * if the peer is filter-capable (it then adopts the string we answer with). Throws
 * FilterConfigError (reject with SRT_REJ_FILTER) on a conflict or when `cols` is still unknown.
 */
export function agreeFilterAsResponder(o: SrtOptions, peerFilter: string | null, peerFlags: number, rendezvous = false): string {
  let agreed: string;
  if (peerFilter !== null) agreed = mergeFilter(o.packetfilter, peerFilter, rendezvous ? 'rendezvous' : 'responder');
  else agreed = (peerFlags & SrtFlag.FilterCap) !== 0 ? o.packetfilter : '';
  if (agreed !== '') fecConfig(agreed);
  return agreed;
}

/**
 * The packet filter an initiator ends up with: the responder's answer, merged over ours. A responder
 * that answers without a FILTER block does not run one, so neither do we.
 */
export function agreeFilterAsInitiator(o: SrtOptions, rspFilter: string | null, rendezvous = false): string {
  if (rspFilter === null) return '';
  const agreed = mergeFilter(o.packetfilter, rspFilter, rendezvous ? 'rendezvous' : 'initiator');
  fecConfig(agreed);
  return agreed;
}
