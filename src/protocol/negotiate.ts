// HSREQ/HSRSP contents and per-direction negotiation (SRT-DIGEST §2.3; libsrt core.cpp
// fillSrtHandshake_HSREQ/HSRSP, processSrtMsg_HSREQ/HSRSP).
import { SLUICE_SRT_VERSION, SrtFlag, type HsReq } from './handshake.js';
import { bufferPackets, type SrtOptions } from './options.js';

/** Flags Sluice announces in live mode. FILTERCAP is not set: no packet filter yet (DIGEST §12 #10). */
export function localSrtFlags(o: SrtOptions): number {
  let f = SrtFlag.TsbpdSnd | SrtFlag.TsbpdRcv | SrtFlag.HaiCrypt | SrtFlag.RexmitFlg;
  if (o.tlpktdrop) f |= SrtFlag.TlPktDrop;
  if (o.nakreport) f |= SrtFlag.NakReport;
  if (!o.messageapi) f |= SrtFlag.Stream;
  return f;
}

/** Caller's HSREQ: receiver delay = our RCVLATENCY, sender delay = our PEERLATENCY. */
export function buildHsReq(o: SrtOptions): HsReq {
  return { srtVersion: SLUICE_SRT_VERSION, flags: localSrtFlags(o), recvDelay: o.rcvlatency, sendDelay: o.peerlatency };
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
    tsbpdRcv: (peer.flags & SrtFlag.TsbpdSnd) !== 0,
    tsbpdSnd: (peer.flags & SrtFlag.TsbpdRcv) !== 0,
    tlpktdrop: o.tlpktdrop && (peer.flags & SrtFlag.TlPktDrop) !== 0,
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
    tsbpdRcv: (rsp.flags & SrtFlag.TsbpdSnd) !== 0,
    tsbpdSnd: (rsp.flags & SrtFlag.TsbpdRcv) !== 0,
    tlpktdrop: o.tlpktdrop && (rsp.flags & SrtFlag.TlPktDrop) !== 0,
    nakReport: o.nakreport,
  };
}
