// An established live-mode SRT connection as a sans-IO state machine.
//
// Inputs:  handlePacket(now, packet), handleTimeout(now), send(now, payload), close(now)
// Outputs: pollTransmit(now) -> datagram, pollDelivery(now) -> payload, pollEvent(), nextDeadline()
// All times are µs on the driver's monotonic clock. Nothing here reads a clock or touches a socket.
import {
  CtrlType, decodeAck, decodeDropReq, decodeLossList, encodeAck, encodeAckAck, encodeDropReq,
  encodeControl, encodeKeepalive, encodeNak, encodeShutdown, ExtSubtype, HEADER_SIZE, dataKeyFlags, dataRetransmitted, dataSeq,
  Position, type ControlPacket, type Packet, type SeqRange,
} from './packet.js';
import { Receiver } from './receiver.js';
import { Sender } from './sender.js';
import { seqAdd, seqOff } from './seq.js';
import { buildStats, newCounters, type Counters, type SrtStats } from './stats.js';
import { bufferPackets, PACKET_OVERHEAD, type SrtOptions } from './options.js';
import { ParseError } from './errors.js';
import { ctrBatch, GCM_TAG_LEN, KmCipher, KmState, encodeKmState, type CtrItem, type CtrKey } from './crypto.js';
import { RxKeying, TxKeying } from './keying.js';
import { FecReceiver, FecSender } from './fec.js';
import { fecConfig, type ArqLevel } from './filter-config.js';
import { FileCC } from './filecc.js';
import type { GroupMembership } from './group.js';

const ACK_INTERVAL_US = 10_000; // libsrt COMM_SYN_INTERVAL_US
/**
 * Graceful close: after the last ACK, SHUTDOWN waits the peer's latency + 2 RTT + this margin. A
 * libsrt receiver hands the application only what it has read before SHUTDOWN arrives, and a
 * reader such as ffmpeg on a busy machine can lag its play times by tens of milliseconds (20 ms
 * lost the last messages to ffmpeg under load).
 */
const PLAY_OUT_MARGIN_MS = 100;
const LIGHT_ACK_PACKETS = 64; // SELF_CLOCK_INTERVAL
const MIN_NAK_INTERVAL_US = 20_000;
const KEEPALIVE_US = 1_000_000;
/** Full ACKs remembered for their ACKACK (libsrt's ACK window is 1024); the table starts small. */
const ACK_HISTORY = 1024;
const ACK_HISTORY_INITIAL = 32;
/** libsrt's initial smoothed delivery rate (packets/s) and bandwidth before the first full ACK. */
const INITIAL_DELIVERY_RATE = 16;
const INITIAL_BANDWIDTH = 1;
/** Messages taken from the receiver per pollDelivery batch. */
const DELIVERY_BATCH = 256;
/** A group member's first data packet this far or further from its ISN means the group's numbering. */
const GROUP_REBASE_MIN = 1024;

export interface ConnectionParams {
  options: SrtOptions;
  localSocketId: number;
  peerSocketId: number;
  /** Initial sequence number in each direction (HSv5: both are the caller's ISN). */
  sendIsn: number;
  recvIsn: number;
  mss: number;
  peerFlowWindow: number;
  /** Negotiated TSBPD delay for what we receive, ms. */
  rcvLatencyMs: number;
  /** Negotiated TSBPD delay the peer applies to what we send, ms. */
  sndLatencyMs: number;
  tsbpdRcv: boolean;
  tsbpdSnd: boolean;
  /** Too-late drop as a receiver (both sides agreed). */
  tlpktdropRcv: boolean;
  /** Too-late drop as a sender. */
  tlpktdropSnd: boolean;
  /** We send periodic NAKs. */
  nakReport: boolean;
  /** Local clock value at which our timestamps are 0. */
  startTime: number;
  /** Arrival time minus peer timestamp of the handshake packet that carried HSREQ/HSRSP. */
  tsbpdBase: number;
  /** That packet's peer timestamp. */
  peerTsRef: number;
  peerSrtVersion: number;
  streamId: string;
  peerAddress: string;
  peerPort: number;
  now: number;
  /** Encryption of what we send (null: clear). */
  tx?: TxKeying | null;
  /** Decryption of what we receive (null: no passphrase). */
  rx?: RxKeying | null;
  /** The packet filter both sides agreed on in the handshake ('' or absent: none). */
  filter?: string;
  /** A member of a connection group (the GROUP handshake extension, ADR 16). */
  group?: GroupMembership;
}

export type CloseReason = 'local' | 'peer' | 'timeout' | 'error';

export type ConnectionEvent =
  | { type: 'closed'; reason: CloseReason; message?: string };

export type ConnectionState = 'connected' | 'closed';

export class Connection {
  readonly localSocketId: number;
  readonly peerSocketId: number;
  readonly streamId: string;
  readonly peerAddress: string;
  readonly peerPort: number;
  readonly options: SrtOptions;
  readonly params: ConnectionParams;
  state: ConnectionState = 'connected';
  closeReason: CloseReason | null = null;
  /**
   * Graceful close under way (closeGracefully): still connected — ACKs, retransmissions and
   * deliveries go on — but nothing more is sent; SHUTDOWN follows on the timer.
   */
  closing = false;
  /** While closing: the wait for the last ACK ends here (SO_LINGER, at least the peer's latency + 1.5 s). */
  private lingerUntil = Infinity;
  /** While closing, once everything sent is acknowledged: SHUTDOWN after the peer played the tail out. */
  private shutdownAt = Infinity;
  readonly sender: Sender;
  readonly receiver: Receiver;
  private readonly c: Counters = newCounters();
  private since: Counters = newCounters();
  private readonly startTime: number;
  private readonly connectTime: number;
  private readonly outbox: Buffer[] = [];
  private readonly events: ConnectionEvent[] = [];
  // RTT (µs), libsrt initial values
  srtt = 100_000;
  rttVar = 50_000;
  private haveRttSample = false;
  // receiver ACK state
  private ackNo = 0;
  private lastAckSeq: number; // position sent in the last full ACK
  private lastAckAckedSeq: number; // position confirmed by ACKACK
  private lastAckTime = -Infinity;
  /** File mode: the highest ACK position the peer sent us (the retransmission timer restarts when it moves). */
  private lastAckedBySeq: number;
  private nextAckTime: number;
  private packetsSinceAck = 0;
  // Sent full ACKs awaiting their ACKACK, by ACK number modulo the table's size. The table
  // starts at 32 entries (an idle or healthy connection has a few outstanding) and doubles up to
  // 1024 when an unanswered entry would be overwritten (long RTT, lost ACKACKs): 16 KiB per
  // connection only where needed.
  private ackHistNo = new Int32Array(ACK_HISTORY_INITIAL).fill(-1);
  private ackHistTime = new Float64Array(ACK_HISTORY_INITIAL);
  private ackHistSeq = new Int32Array(ACK_HISTORY_INITIAL);
  private nextNakTime = Infinity;
  private lastSendTime: number;
  private lastRecvTime: number;
  private readonly sndDropThresholdUs: number;
  private readonly maxNakWords: number;
  private flushed = false;
  /** Payloads taken from the receiver and decrypted, not yet handed to the application: rxQueue[rxPos..rxLen). */
  private readonly rxQueue: (Buffer | undefined)[] = [];
  private rxLen = 0;
  private rxPos = 0;
  /** Sequence numbers of rxQueue's payloads. */
  private readonly rxSeqs: number[] = [];
  /** Sequence number of the payload pollDelivery() returned last (connection groups de-duplicate by it). */
  deliveredSeq = -1;
  private gotData = false;
  private intervalStart: number;
  // sender-side info from the peer's ACKs
  readonly tx: TxKeying | null;
  readonly rx: RxKeying | null;
  private readonly maxPayload: number;
  /** The FEC filter's receiving side (null: no filter; then msgno-0 packets are ordinary data). */
  private readonly fecRx: FecReceiver | null = null;
  /** ARQ with a filter (libsrt m_PktFilterRexmitLevel): always without one. */
  readonly arq: ArqLevel = 'always';
  /** The agreed packet filter string ('' if none). */
  readonly filter: string;
  peerBandwidth = 0; // packets/s
  peerRecvRate = 0; // bytes/s
  // ---- file mode (ADR 15): FileCC, the retransmission timeout, messages over several packets
  /** transtype=file: FileCC, no TSBPD, no drops; everything is retransmitted until acknowledged. */
  readonly fileMode: boolean;
  /** File mode with the message API: a message may span packets (PP first/middle/last). */
  private readonly multiPacketMessages: boolean;
  private readonly cc: FileCC | null = null;
  /** Smoothed reports from the peer's full ACKs (libsrt avg_iir<8>), packets/s. */
  private deliveryRate = INITIAL_DELIVERY_RATE;
  private bandwidthEstimate = INITIAL_BANDWIDTH;
  /** When the last ACK that moved our send position arrived, and the timeout's multiplier. */
  private lastRspAckTime: number;
  private rexmitCount = 1;
  /** Packets of a message not yet complete (file mode, message API). */
  private partial: Buffer[] = [];
  private readonly deliveredBounds = new Uint8Array(DELIVERY_BATCH);
  /**
   * File mode: the free receive buffer the peer is known to have seen (from the ACK an ACKACK
   * confirmed). A libsrt sender sends nothing into a window it was told is (nearly) closed, so
   * once a reader frees space a full ACK goes out every 10 ms until one is confirmed.
   */
  private confirmedAvail = Infinity;
  private readonly ackHistAvail = new Int32Array(ACK_HISTORY);

  constructor(p: ConnectionParams) {
    this.params = p;
    this.options = p.options;
    this.localSocketId = p.localSocketId;
    this.peerSocketId = p.peerSocketId;
    this.streamId = p.streamId;
    this.peerAddress = p.peerAddress;
    this.peerPort = p.peerPort;
    this.startTime = p.startTime;
    this.connectTime = p.now;
    this.intervalStart = p.now;
    this.lastRspAckTime = p.now;
    this.lastSendTime = p.now;
    this.lastRecvTime = p.now;
    this.nextAckTime = p.now + ACK_INTERVAL_US;
    const o = p.options;
    this.tx = p.tx ?? null;
    this.rx = p.rx ?? null;
    const payloadMax = p.mss - PACKET_OVERHEAD;
    this.maxPayload = payloadMax - (this.tx && this.tx.keys.cipher === KmCipher.Gcm ? GCM_TAG_LEN : 0);
    this.maxNakWords = Math.floor(payloadMax / 4);
    this.filter = p.filter ?? '';
    let fecTx: FecSender | null = null;
    if (this.filter !== '') {
      // FEC clips are payloadsize bytes long (both sides use their SRTO_PAYLOADSIZE, as libsrt):
      // a message longer than that could not be protected, so it is refused like libsrt's live mode
      const fc = fecConfig(this.filter);
      const size = Math.min(o.payloadsize, this.maxPayload);
      this.maxPayload = size;
      fecTx = new FecSender(fc, p.sendIsn, size);
      this.fecRx = new FecReceiver(fc, p.recvIsn, size);
      this.arq = fc.arq;
    }
    this.sender = new Sender({
      isn: p.sendIsn,
      capacity: bufferPackets(o.sndbuf, p.mss),
      peerSocketId: p.peerSocketId,
      peerFlowWindow: p.peerFlowWindow,
      payloadSize: o.payloadsize,
      maxbw: o.maxbw,
      inputbw: o.inputbw,
      mininputbw: o.mininputbw,
      oheadbw: o.oheadbw,
      // algorithm 1 waits for the peer's periodic NAK to ask again; file mode has none (libsrt
      // applies it only when the peer sends NAKREPORT)
      retransmitAlgo: o.transtype === 'file' ? 0 : o.retransmitalgo,
      fec: fecTx,
    }, this.c);
    this.receiver = new Receiver({
      isn: p.recvIsn,
      capacity: bufferPackets(o.rcvbuf, p.mss),
      latencyUs: p.rcvLatencyMs * 1000,
      tsbpd: p.tsbpdRcv,
      tlpktdrop: p.tlpktdropRcv,
      driftTracer: o.drifttracer,
      tsbpdBase: p.tsbpdBase,
      tsRef: p.peerTsRef,
    }, this.c);
    this.lastAckSeq = p.recvIsn;
    this.lastAckAckedSeq = p.recvIsn;
    this.lastAckedBySeq = p.sendIsn;
    this.fileMode = o.transtype === 'file';
    this.multiPacketMessages = this.fileMode && o.messageapi;
    if (this.fileMode) {
      this.maxPayload = Math.min(this.maxPayload, o.payloadsize);
      this.cc = new FileCC({ isn: p.sendIsn, maxCwnd: p.peerFlowWindow, mss: p.mss, maxbw: o.maxbw, seed: p.localSocketId ^ p.sendIsn, now: p.now });
      this.applyCc();
    }
    // libsrt: max(PEERLATENCY + SNDDROPDELAY, 1000 ms) + 20 ms; SNDDROPDELAY -1 disables it
    this.sndDropThresholdUs = p.tlpktdropSnd && o.snddropdelay >= 0
      ? Math.max(p.sndLatencyMs + o.snddropdelay, 1000) * 1000 + 20_000
      : Infinity;
  }

  /** Header timestamp for a packet sent at `now`. */
  timestamp(now: number): number {
    return Math.floor(now - this.startTime) >>> 0;
  }

  // ------------------------------------------------------------------ inputs

  /** Application data: one message. Returns false if the send buffer is full (backpressure). */
  send(now: number, payload: Buffer, ts32 = this.timestamp(now)): boolean {
    if (this.state !== 'connected' || this.closing) return false;
    if (this.fileMode) return this.sendFile(now, payload);
    if (payload.length > this.maxPayload) {
      throw new RangeError(`message of ${payload.length} bytes exceeds the maximum payload ${this.maxPayload}`);
    }
    this.dropTooLate(now);
    const ok = this.sender.write(now, payload, ts32, this.tx ?? undefined);
    if (ok && this.tx) this.pollKm(now);
    return ok;
  }

  /**
   * File mode: one message (message API) or a piece of the byte stream, cut into packets of the
   * payload size with PP first/middle/last (libsrt CSndBuffer::addBuffer; one packet: solo). All
   * or nothing: false if the send buffer cannot take every packet now.
   */
  private sendFile(now: number, payload: Buffer): boolean {
    const size = this.maxPayload;
    const n = Math.max(1, Math.ceil(payload.length / size));
    if (n > this.sender.capacity) {
      throw new RangeError(`message of ${payload.length} bytes needs ${n} packets; the send buffer holds ${this.sender.capacity}`);
    }
    if (n > this.sender.free) return false;
    if (this.sender.isEmpty()) {
      // nothing was in flight: the retransmission timer starts now (libsrt sendmsg2)
      this.lastRspAckTime = now;
      this.rexmitCount = 1;
    }
    const ts = this.timestamp(now);
    const seal = this.tx ?? undefined;
    for (let i = 0; i < n; i++) {
      const pos = n === 1 ? Position.Solo : i === 0 ? Position.First : i === n - 1 ? Position.Last : Position.Middle;
      const piece = n === 1 ? payload : payload.subarray(i * size, Math.min(payload.length, (i + 1) * size));
      this.sender.write(now, piece, ts, seal, pos, this.multiPacketMessages);
    }
    if (this.tx) this.pollKm(now);
    return true;
  }

  /** FileCC's window and period to the sender. */
  private applyCc(): void {
    this.sender.congestionWindow = Math.max(2, Math.floor(this.cc!.cwnd));
    this.sender.periodUs = this.cc!.periodUs;
  }

  private pollKm(now: number): void {
    const km = this.tx!.pollKmReq(now, this.srtt);
    if (km) this.push(now, encodeControl(CtrlType.UserDefined, ExtSubtype.KmReq, 0, this.timestamp(now), this.peerSocketId, km));
  }

  canSend(): boolean {
    return this.state === 'connected' && !this.closing && !this.sender.isFull();
  }

  /**
   * File mode's byte stream (messageapi=0): the most bytes to hand to send() at once — 16 packets,
   * so that a write never needs more than a small send buffer holds. 0 in the message modes.
   */
  get streamPiece(): number {
    return this.fileMode && !this.options.messageapi ? 16 * this.maxPayload : 0;
  }

  handlePacket(now: number, p: Packet): void {
    if (this.state !== 'connected') return;
    this.lastRecvTime = now;
    if (p.kind === 'data') {
      if (this.fecRx !== null && p.msgNo === 0) this.onFilterControl(now, p.seq, p.timestamp, p.payload);
      else this.onData(now, p.seq, p.keyFlags, p.retransmitted, p.timestamp, p.payload, p.datagram ?? null, p.position);
      return;
    }
    try {
      this.onControl(now, p);
    } catch (e) {
      if (!(e instanceof ParseError)) throw e;
      this.c.pktRecvInvalid++;
    }
  }

  /**
   * A data packet given as its datagram: the same as handlePacket(now, decodePacket(d)) without
   * building the Packet object (the driver's receive path, once per data packet). `d` must be a
   * data packet (F bit clear) of at least HEADER_SIZE bytes.
   */
  handleData(now: number, d: Buffer): void {
    if (this.state !== 'connected') return;
    this.lastRecvTime = now;
    const w1 = d.readUInt32BE(4);
    if (this.fecRx !== null && (w1 & 0x03ffffff) === 0) {
      this.onFilterControl(now, dataSeq(d.readUInt32BE(0)), d.readUInt32BE(8), d.subarray(HEADER_SIZE));
      return;
    }
    this.onData(now, dataSeq(d.readUInt32BE(0)), dataKeyFlags(w1), dataRetransmitted(w1), d.readUInt32BE(8), d.subarray(HEADER_SIZE), d, w1 >>> 30);
  }

  /** Counts a datagram that was malformed or addressed to us from a wrong peer. */
  countInvalid(): void {
    this.c.pktRecvInvalid++;
  }

  /** A packet-filter control packet (msgno 0): counted as received and in pktRcvFilterExtra, never delivered. */
  private onFilterControl(now: number, seq: number, timestamp: number, body: Buffer): void {
    const c = this.c;
    c.pktRecv++;
    c.byteRecv += body.length + PACKET_OVERHEAD;
    c.pktRcvFilterExtra++;
    this.fecRx!.onControl(seq, timestamp, body);
    this.takeFilterOutput(now);
  }

  /** Rebuilt packets go to the receiver (pktRcvFilterSupply); with arq:onreq what FEC gave up on is NAKed. */
  private takeFilterOutput(now: number): void {
    const f = this.fecRx!;
    if (f.rebuilt.length > 0) {
      for (const r of f.rebuilt) {
        this.c.pktRcvFilterSupply++;
        this.accept(now, r.seq, r.keyFlags, true, r.timestamp, r.payload, null, true);
      }
      f.rebuilt.length = 0;
    }
    if (f.lost.length > 0) {
      for (const [a, b] of f.lost) this.c.pktRcvFilterLoss += seqOff(a, b) + 1;
      this.sendNak(now, f.lost);
      f.lost.length = 0;
    }
  }

  private onData(now: number, seq: number, keyFlags: number, retransmitted: boolean, timestamp: number, wirePayload: Buffer, datagram: Buffer | null, boundary: number): void {
    if (this.fecRx !== null) {
      // the filter sees the payload as it came (encrypted, if it is), before it is stored
      this.fecRx.onData(seq, keyFlags, timestamp, wirePayload);
      this.accept(now, seq, keyFlags, retransmitted, timestamp, wirePayload, datagram, false);
      this.takeFilterOutput(now);
    } else {
      this.accept(now, seq, keyFlags, retransmitted, timestamp, wirePayload, datagram, false, boundary);
    }
    // FileCC needsQuickACK: a short packet usually ends a message or the stream: ACK it at once
    if (this.fileMode && wirePayload.length < this.params.mss - PACKET_OVERHEAD) this.nextAckTime = now;
    if (++this.packetsSinceAck >= LIGHT_ACK_PACKETS) {
      this.packetsSinceAck = 0;
      const ackSeq = this.receiver.ackSeq;
      if (ackSeq !== this.lastAckSeq) {
        this.push(now, encodeAck({ ackNo: 0, ackSeq }, this.timestamp(now), this.peerSocketId));
        this.c.pktSentACK++;
      }
    }
  }

  /** Decrypts (or keeps the key for batch decryption) and stores one packet; NAKs a new gap (ARQ always). */
  private accept(now: number, seq: number, keyFlags: number, retransmitted: boolean, timestamp: number, wirePayload: Buffer, datagram: Buffer | null, supplied: boolean, boundary = 3): void {
    let payload: Buffer | null = wirePayload;
    let key: CtrKey | null = null;
    if (keyFlags !== 0 && keyFlags !== 3) {
      if (this.rx && this.rx.isCtr) {
        // AES-CTR is decrypted at delivery, in batches; the packet keeps its key object
        key = this.rx.ctrKey(keyFlags);
        if (!key) payload = null;
      } else {
        payload = this.rx ? this.rx.open(keyFlags, seq, datagram ?? undefined, wirePayload) : null;
      }
    } else if (keyFlags === 3 || (this.rx && this.rx.state === KmState.Secured && this.rx.keys)) {
      payload = null; // KK=3 is never valid on data; a clear packet on a secured connection is not accepted
    }
    if (!payload) {
      this.c.pktRcvUndecrypt++;
      this.c.byteRcvUndecrypt += wirePayload.length + PACKET_OVERHEAD;
    }
    if (this.params.group !== undefined && !this.gotData && (seqOff(this.params.recvIsn, seq) < 0 || seqOff(this.params.recvIsn, seq) >= GROUP_REBASE_MIN)) {
      // a group member starts at the group's sequence number, not at its handshake ISN (ADR 16);
      // a first packet just after the ISN is this member's own numbering (the first ones were lost)
      this.receiver.rebase(seq);
      if (this.lastAckSeq === this.lastAckAckedSeq && this.receiver.ackSeq === seq) this.lastAckSeq = this.lastAckAckedSeq = seq;
    }
    this.gotData = true;
    const gap = this.receiver.onData(now, seq, timestamp, payload, retransmitted, wirePayload.length, key, supplied, boundary);
    // with a filter, losses are NAKed at once and periodically only with arq:always (libsrt)
    if (gap && this.arq === 'always') {
      this.sendNak(now, [gap]);
      if (this.params.nakReport && this.nextNakTime === Infinity) this.nextNakTime = now + this.nakInterval();
    }
  }

  private onControl(now: number, p: ControlPacket): void {
    switch (p.type) {
      case CtrlType.Ack: {
        const a = decodeAck(p);
        this.c.pktRecvACK++;
        if (!this.sender.onAck(a.ackSeq)) {
          this.c.pktRecvInvalid++;
          return;
        }
        if (this.fileMode && seqOff(this.lastAckedBySeq, a.ackSeq) >= 0) {
          this.lastAckedBySeq = a.ackSeq;
          this.lastRspAckTime = now;
          this.rexmitCount = 1;
        }
        if (a.ackNo !== 0) {
          // full and small ACKs carry a number and are answered at once (the receiver paces them)
          this.push(now, encodeAckAck(a.ackNo, this.timestamp(now), this.peerSocketId));
        }
        if (a.rtt !== undefined && !this.haveRttSample && !(a.rtt === 100_000 && a.rttVar === 50_000)) {
          this.srtt = a.rtt;
          this.rttVar = a.rttVar ?? this.rttVar;
        }
        if (a.availBuf !== undefined) {
          this.sender.flowWindow = Math.max(2, Math.min(this.sender.peerFlowWindow, a.availBuf));
        }
        if (a.bandwidth !== undefined && a.bandwidth > 0) this.peerBandwidth = a.bandwidth;
        if (a.recvRate !== undefined) this.peerRecvRate = a.recvRate;
        if (this.cc) {
          if (a.pktRecvRate !== undefined) {
            this.deliveryRate = Math.trunc((this.deliveryRate * 7 + a.pktRecvRate) / 8);
            this.bandwidthEstimate = Math.trunc((this.bandwidthEstimate * 7 + (a.bandwidth ?? 0)) / 8);
          }
          if (a.ackNo !== 0) this.cc.onAck(now, a.ackSeq, this.deliveryRate, this.bandwidthEstimate, this.srtt);
          this.applyCc();
        } else {
          this.sender.updateRate();
        }
        if (this.closing) this.lingerCheck(now);
        return;
      }
      case CtrlType.Nak: {
        this.c.pktRecvNAK++;
        const ranges = decodeLossList(p.cif);
        const gone = this.sender.onNak(ranges);
        if (this.cc && ranges.length > 0) {
          this.cc.onLoss(ranges[0]![0], this.sender.loss.size, seqAdd(this.sender.curr, -1), this.deliveryRate, this.srtt);
          this.applyCc();
        }
        for (const [a, b] of gone) {
          this.push(now, encodeDropReq({ msgNo: 0, first: a, last: b }, this.timestamp(now), this.peerSocketId));
        }
        return;
      }
      case CtrlType.AckAck: {
        const no = p.typeInfo;
        const i = no % this.ackHistNo.length;
        if (this.ackHistNo[i] !== (no | 0)) return; // unknown or too old
        const rtt = now - this.ackHistTime[i]!;
        const seq = this.ackHistSeq[i]!;
        this.confirmedAvail = this.ackHistAvail[i]!;
        this.ackHistNo[i] = -1;
        this.updateRtt(rtt);
        if (seqOff(this.lastAckAckedSeq, seq) > 0) this.lastAckAckedSeq = seq;
        this.receiver.onAckAck(now, p.timestamp, rtt);
        return;
      }
      case CtrlType.Keepalive:
        this.receiver.unwrap(p.timestamp);
        return;
      case CtrlType.Shutdown:
        this.terminate('peer');
        return;
      case CtrlType.DropReq: {
        const d = decodeDropReq(p);
        this.receiver.onDropReq(d.first, d.last);
        return;
      }
      case CtrlType.Handshake:
        // a repeated conclusion/response after connecting: the listener layer answers it
        return;
      case CtrlType.UserDefined:
        if (p.subtype === ExtSubtype.KmReq) {
          // in-band key refresh from the peer's sender: install and echo (or report our state)
          const rsp = this.rx ? this.rx.onKmReq(p.cif) : encodeKmState(KmState.NoSecret);
          this.push(now, encodeControl(CtrlType.UserDefined, ExtSubtype.KmRsp, 0, this.timestamp(now), this.peerSocketId, rsp));
        } else if (p.subtype === ExtSubtype.KmRsp) {
          this.tx?.onKmRsp(p.cif);
        }
        return;
      case CtrlType.PeerError:
      case CtrlType.CongestionWarning:
        return;
      default:
        this.c.pktRecvInvalid++;
    }
  }

  private updateRtt(sample: number): void {
    if (!this.haveRttSample) {
      this.haveRttSample = true;
      this.srtt = sample;
      this.rttVar = sample / 2;
      return;
    }
    this.rttVar = (this.rttVar * 3 + Math.abs(this.srtt - sample)) / 4;
    this.srtt = (this.srtt * 7 + sample) / 8;
  }

  private nakInterval(): number {
    return Math.max((this.srtt + 4 * this.rttVar) / 2, MIN_NAK_INTERVAL_US);
  }

  private sendNak(now: number, ranges: SeqRange[]): void {
    this.push(now, encodeNak(ranges, this.timestamp(now), this.peerSocketId, this.maxNakWords));
    this.c.pktSentNAK++;
  }

  private dropTooLate(now: number): void {
    if (this.sndDropThresholdUs === Infinity) return;
    const dropped = this.sender.dropTooLate(now, this.sndDropThresholdUs);
    if (dropped) {
      this.push(now, encodeDropReq({ msgNo: 0, first: dropped[0], last: dropped[1] }, this.timestamp(now), this.peerSocketId));
    }
  }

  handleTimeout(now: number): void {
    if (this.state !== 'connected') return;
    this.sender.tickDuration(now);
    this.dropTooLate(now);
    // full ACK on the 10 ms timer
    if (now >= this.nextAckTime) {
      this.nextAckTime = now + ACK_INTERVAL_US;
      this.maybeFullAck(now);
    }
    // periodic NAK
    if (now >= this.nextNakTime) {
      if (this.params.nakReport && !this.receiver.loss.isEmpty()) {
        this.sendNak(now, this.receiver.loss.ranges());
        this.nextNakTime = now + this.nakInterval();
      } else {
        this.nextNakTime = Infinity;
      }
    }
    if (now - this.lastRecvTime >= this.options.peeridletimeo * 1000) {
      this.terminate('timeout', `no packet from the peer for ${this.options.peeridletimeo} ms`);
      return;
    }
    if (this.tx) this.pollKm(now);
    if (this.fileMode && now >= this.rexmitDeadline()) this.rexmitTimeout();
    if (now - this.lastSendTime >= KEEPALIVE_US) {
      this.push(now, encodeKeepalive(this.timestamp(now), this.peerSocketId));
    }
    if (this.closing) this.lingerCheck(now);
  }

  /**
   * File mode's retransmission timeout (libsrt checkRexmitTimer, LATEREXMIT): no ACK for
   * rexmitCount·(SRTT + 4·RTTVar + 20 ms) + 10 ms while packets are in flight. Without periodic
   * NAKs this is what recovers a lost tail or a lost NAK.
   */
  private rexmitDeadline(): number {
    if (this.sender.flightSize <= 0) return Infinity;
    return this.lastRspAckTime + this.rexmitCount * (this.srtt + 4 * this.rttVar + 2 * ACK_INTERVAL_US) + ACK_INTERVAL_US;
  }

  private rexmitTimeout(): void {
    if (this.sender.loss.isEmpty()) this.sender.requeueUnacked();
    this.rexmitCount++;
    this.cc!.onTimeout(this.deliveryRate, this.srtt);
    this.applyCc();
  }

  /** File mode: the peer last saw a quarter of the receive buffer or less free, and half is free now. */
  private windowUpdateDue(): boolean {
    return this.fileMode && this.confirmedAvail * 4 <= this.receiver.capacity && this.receiver.availBuf() * 2 >= this.receiver.capacity;
  }

  private maybeFullAck(now: number): void {
    const ackSeq = this.receiver.ackSeq;
    if (ackSeq === this.lastAckSeq && !this.windowUpdateDue()) {
      if (ackSeq === this.lastAckAckedSeq) return;
      if (now - this.lastAckTime < this.srtt + 4 * this.rttVar) return;
    }
    this.ackNo = this.ackNo >= 0x7fffffff ? 1 : this.ackNo + 1;
    const [pps, bps] = this.receiver.rate.receiveRate();
    const availBuf = this.receiver.availBuf();
    const pkt = encodeAck({
      ackNo: this.ackNo,
      ackSeq,
      rtt: Math.round(this.srtt),
      rttVar: Math.round(this.rttVar),
      availBuf,
      pktRecvRate: pps,
      bandwidth: this.receiver.rate.bandwidth(),
      recvRate: bps,
    }, this.timestamp(now), this.peerSocketId);
    let i = this.ackNo % this.ackHistNo.length;
    if (this.ackHistNo[i] !== -1 && this.ackHistNo.length < ACK_HISTORY) {
      this.growAckHistory();
      i = this.ackNo % this.ackHistNo.length;
    }
    this.ackHistNo[i] = this.ackNo;
    this.ackHistTime[i] = now;
    this.ackHistSeq[i] = ackSeq;
    this.ackHistAvail[i] = availBuf;
    this.lastAckSeq = ackSeq;
    this.lastAckTime = now;
    this.packetsSinceAck = 0;
    this.push(now, pkt);
    this.c.pktSentACK++;
  }

  private growAckHistory(): void {
    const n = this.ackHistNo.length * 2;
    const no = new Int32Array(n).fill(-1);
    const time = new Float64Array(n);
    const seq = new Int32Array(n);
    for (let j = 0; j < this.ackHistNo.length; j++) {
      const a = this.ackHistNo[j]!;
      if (a === -1) continue;
      const k = a % n;
      no[k] = a;
      time[k] = this.ackHistTime[j]!;
      seq[k] = this.ackHistSeq[j]!;
    }
    this.ackHistNo = no;
    this.ackHistTime = time;
    this.ackHistSeq = seq;
  }

  private push(now: number, d: Buffer): void {
    this.outbox.push(d);
    this.lastSendTime = now;
  }

  /**
   * Graceful close (the application ended its stream): wait until everything sent is
   * acknowledged (at most SO_LINGER, and at least long enough for live data to be dropped by the
   * sender), then give the peer its TSBPD latency to play the tail out before SHUTDOWN — libsrt
   * receivers discard what they still hold when SHUTDOWN arrives. Driven by handleTimeout.
   */
  closeGracefully(now: number): void {
    if (this.state !== 'connected' || this.closing) return;
    this.closing = true;
    this.lingerUntil = now + Math.max(this.options.linger * 1000, this.params.sndLatencyMs + 1500) * 1000;
    this.lingerCheck(now);
  }

  private lingerCheck(now: number): void {
    if (this.shutdownAt === Infinity && this.sender.isEmpty()) {
      this.lingerUntil = Infinity;
      this.shutdownAt = now + (this.params.sndLatencyMs + Math.ceil((2 * this.srtt) / 1000) + PLAY_OUT_MARGIN_MS) * 1000;
    }
    if (now >= Math.min(this.lingerUntil, this.shutdownAt)) this.close(now);
  }

  /** Closes locally: one SHUTDOWN to the peer (libsrt sends no handshake for it). */
  close(now: number): void {
    if (this.state !== 'connected') return;
    this.push(now, encodeShutdown(this.timestamp(now), this.peerSocketId));
    this.terminate('local');
  }

  private terminate(reason: CloseReason, message?: string): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.closeReason = reason;
    this.events.push(message ? { type: 'closed', reason, message } : { type: 'closed', reason });
  }

  // ------------------------------------------------------------------ outputs

  pollTransmit(now: number): Buffer | null {
    const o = this.outbox.shift();
    if (o) return o;
    if (this.state !== 'connected') return null;
    if (this.tx) this.sender.encryptPending();
    const d = this.sender.poll(now, this.srtt, this.rttVar);
    if (d) this.lastSendTime = now;
    return d;
  }

  /**
   * The next payload whose TSBPD time has come. After the peer closed, everything still
   * buffered is delivered at once (holes skipped) so nothing received is lost.
   */
  pollDelivery(now: number): Buffer | null {
    const q = this.rxQueue;
    if (this.rxPos < this.rxLen) return this.takeQueued();
    this.rxPos = 0;
    this.rxLen = 0;
    const flush = this.state === 'closed';
    if (flush && this.flushed) return null;
    // take every payload due now; decrypt the AES-CTR ones in one batch per key (no allocation
    // for clear payloads: this runs after every received packet)
    let n = 0;
    let pulled = 0;
    do {
      let items: CtrItem[] | null = null;
      let keys: CtrKey[] | null = null;
      let d: Buffer | null;
      pulled = 0;
      while (pulled < DELIVERY_BATCH && (d = this.receiver.poll(now, flush)) !== null) {
        this.rxSeqs[pulled] = this.receiver.deliveredSeq;
        q[pulled] = d;
        this.deliveredBounds[pulled++] = this.receiver.deliveredBoundary;
        const k = this.receiver.deliveredKey;
        if (k) {
          (items ??= []).push({ seq: this.receiver.deliveredSeq, data: d });
          (keys ??= []).push(k);
        }
      }
      if (items !== null) ctrBatch(keys!, items);
      n = this.multiPacketMessages ? this.assembleMessages(pulled) : pulled;
      // a message longer than one batch: keep pulling until one is complete or nothing is left
    } while (n === 0 && pulled === DELIVERY_BATCH);
    if (n === 0) {
      if (flush && pulled === 0) this.flushed = true;
      return pulled > 0 ? this.pollDelivery(now) : null;
    }
    this.rxLen = n;
    if (!flush && this.receiver.ackSeq !== this.lastAckSeq && this.receiver.availBuf() < 2) {
      // the buffer was full: tell the sender about the space at once
      this.maybeFullAck(now);
    } else if (!flush && this.windowUpdateDue()) {
      // file mode: the reader freed half the buffer after the peer saw little room: tell it now
      this.maybeFullAck(now);
    }
    return this.takeQueued();
  }

  /**
   * File mode with the message API: joins the `count` payloads just taken (rxQueue[0..count), PP
   * bits in deliveredBounds) into whole messages, written back from rxQueue[0]; a message not yet
   * complete waits in `partial`. Returns the number of messages.
   */
  private assembleMessages(count: number): number {
    const q = this.rxQueue;
    let out = 0;
    for (let i = 0; i < count; i++) {
      const d = q[i]!;
      q[i] = undefined;
      const b = this.deliveredBounds[i]!;
      if (b === Position.Solo) {
        this.partial.length = 0; // a message cut short cannot be delivered (nothing is lost in file mode)
        this.rxSeqs[out] = this.rxSeqs[i]!;
        q[out++] = d;
      } else if (b === Position.First) {
        this.partial = [d];
      } else {
        this.partial.push(d);
        if (b === Position.Last) {
          this.rxSeqs[out] = this.rxSeqs[i]!; // a message is known by its last packet's number
          q[out++] = this.partial.length === 1 ? d : Buffer.concat(this.partial);
          this.partial = [];
        }
      }
    }
    return out;
  }

  private takeQueued(): Buffer {
    const d = this.rxQueue[this.rxPos]!;
    this.deliveredSeq = this.rxSeqs[this.rxPos]!;
    this.rxQueue[this.rxPos++] = undefined; // the application owns it now
    return d;
  }

  pollEvent(): ConnectionEvent | null {
    return this.events.shift() ?? null;
  }

  /**
   * The earliest time at which handleTimeout has something to do (ACK and NAK timers, keepalive,
   * idle timeout, key refresh, sender drop). A pure read: a driver may call handleTimeout whenever
   * this has passed, not only when its timer fires (the endpoint does on every data packet).
   */
  timerDeadline(): number {
    if (this.state !== 'connected') return Infinity;
    return Math.min(this.sendTimerDeadline(), this.receiveTimerDeadline());
  }

  private sendTimerDeadline(): number {
    let t = Math.min(this.lastRecvTime + this.options.peeridletimeo * 1000, this.lastSendTime + KEEPALIVE_US);
    if (this.tx) t = Math.min(t, this.tx.nextKmDeadline(this.srtt));
    // sender too-late drop: when the oldest buffered packet passes the threshold (dropTooLate
    // drops only packets strictly older than it, hence the +1 µs)
    if (this.sndDropThresholdUs !== Infinity) t = Math.min(t, this.sender.oldestOrigin() + this.sndDropThresholdUs + 1);
    if (this.closing) t = Math.min(t, this.lingerUntil, this.shutdownAt);
    if (this.fileMode) t = Math.min(t, this.rexmitDeadline());
    return t;
  }

  private receiveTimerDeadline(): number {
    return this.receiver.ackSeq !== this.lastAckAckedSeq || this.windowUpdateDue() ? Math.min(this.nextNakTime, this.nextAckTime) : this.nextNakTime;
  }

  /**
   * Earliest time at which handleTimeout/pollTransmit/pollDelivery has something to do; a pure read.
   * `deliveryPaused`: the application is not reading, so play times do not count.
   * `receiveLateUs`: how late the caller may serve the receiver's own deadlines (play times, ACK
   * and NAK timers) — for a driver that, on every received data packet, also delivers what is
   * due and calls handleTimeout once timerDeadline() has passed, so that its timer is only the
   * fallback for a pause in the traffic.
   */
  nextDeadline(deliveryPaused = false, receiveLateUs = 0): number {
    if (this.state !== 'connected') return this.outbox.length > 0 || !this.flushed ? 0 : Infinity;
    if (this.outbox.length > 0 || (!deliveryPaused && this.rxPos < this.rxLen)) return 0;
    const t = this.sendTimerDeadline();
    const rcv = this.receiveTimerDeadline();
    const play = deliveryPaused ? Infinity : this.receiver.nextPlayTime;
    return Math.min(t, rcv + receiveLateUs, play + receiveLateUs, this.sender.nextDue());
  }

  /** When the last packet from the peer arrived (µs, the driver's clock). */
  get lastReceivedAt(): number {
    return this.lastRecvTime;
  }

  /** True once everything sent has been acknowledged (or dropped). */
  sendBufferEmpty(): boolean {
    return this.sender.isEmpty();
  }

  /** SRT_TRACEBSTATS; `clear` starts a new interval (libsrt srt_bstats(..., clear)). */
  stats(now: number, clear = false): SrtStats {
    const s = this.sender, r = this.receiver;
    const intervalMs = Math.max(1, (now - this.intervalStart) / 1000);
    const sentBytes = this.c.byteSent - this.since.byteSent;
    const recvBytes = this.c.byteRecv - this.since.byteRecv;
    const out = buildStats(this.c, this.since, {
      msTimeStamp: Math.round((now - this.connectTime) / 1000),
      usPktSndPeriod: s.periodUs,
      pktFlowWindow: s.flowWindow,
      pktCongestionWindow: this.fileMode ? s.window : s.flowWindow,
      pktFlightSize: s.flightSize,
      msRTT: this.srtt / 1000,
      // a sender reports the peer's estimate (from ACKs), a pure receiver its own (libsrt does the same)
      mbpsBandwidth: ((this.peerBandwidth || this.receiver.rate.bandwidth()) * (this.options.payloadsize + PACKET_OVERHEAD) * 8) / 1e6,
      mbpsMaxBW: (s.maxBW * 8) / 1e6,
      mbpsSendRate: (sentBytes * 8) / (intervalMs * 1000),
      mbpsRecvRate: (recvBytes * 8) / (intervalMs * 1000),
      byteAvailSndBuf: (s.capacity - s.buffered) * (this.params.mss - 28),
      byteAvailRcvBuf: r.availBuf() * (this.params.mss - 28),
      byteMSS: this.params.mss,
      pktSndBuf: s.buffered,
      byteSndBuf: s.bufferedBytes,
      msSndBuf: s.bufferedSpanMs(now),
      msSndTsbPdDelay: this.params.tsbpdSnd ? this.params.sndLatencyMs : 0,
      pktRcvBuf: r.bufferedPackets(),
      byteRcvBuf: r.bufferedBytesCount(),
      msRcvBuf: r.bufferedSpanMs(),
      msRcvTsbPdDelay: this.params.tsbpdRcv ? this.params.rcvLatencyMs : 0,
      pktReorderDistance: r.reorderDistance,
      pktReorderTolerance: this.options.lossmaxttl,
      pktRcvAvgBelatedTime: r.belatedTimeAvg / 1000,
      pktSndKMState: this.tx ? this.tx.state : KmState.Unsecured,
      pktRcvKMState: this.rx ? this.rx.state : KmState.Unsecured,
      kmSndRefreshes: this.tx ? this.tx.refreshes : 0,
      kmRcvUpdates: this.rx ? this.rx.updates : 0,
    });
    if (clear) {
      this.since = { ...this.c };
      this.intervalStart = now;
    }
    return out;
  }
}
