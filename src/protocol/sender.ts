// Live sender: send buffer, loss list, retransmission, LiveCC pacing, flow window and sender
// too-late drop (draft-sharabayko-srt §4.6, §5.1; libsrt buffer_snd.cpp, congctl.cpp LiveCC, core.cpp).
import { LossList } from './losslist.js';
import { dataWord1, HEADER_SIZE, Position, type SeqRange } from './packet.js';
import { msgNoInc, seqAdd, seqInc, seqOff } from './seq.js';
import type { Counters } from './stats.js';
import { PACKET_OVERHEAD } from './options.js';
import { ctrBatch, type CtrItem, type CtrKey } from './crypto.js';
import type { FecSender } from './fec.js';

/** How far pacing may fall behind before the backlog is forgiven (µs). */
const PACING_BURST_US = 2000;
const BW_INFINITE = 125_000_000; // 1 Gbit/s in bytes/s (libsrt common.h)
/** maxbw = 0: unsent packets beyond which the input rate is sampled again at once (see sampleInput). */
const RESAMPLE_BACKLOG_PKTS = 256;
/** The shortest input-rate sample taken because of a backlog (µs). */
const RESAMPLE_MIN_US = 100_000;

/** Encryption of outgoing payloads (the sender's keying state). */
export interface Sealer {
  /** Called once per new packet: its KK (applies the key refresh schedule). */
  keyFlags(): number;
  /** AES-CTR key for KK when encryption may be batched (in place, before transmission). */
  batchKey(kk: number): CtrKey | null;
  /** Encrypts one packet now (AES-GCM: the header is associated data). */
  seal(seq: number, header: Buffer, payload: Buffer): Buffer;
}

export interface SenderConfig {
  isn: number;
  capacity: number; // packets
  peerSocketId: number;
  peerFlowWindow: number;
  payloadSize: number;
  maxbw: number;
  inputbw: number;
  mininputbw: number;
  oheadbw: number;
  retransmitAlgo: 0 | 1;
  /** The FEC filter's sending side, if the connection agreed on one. */
  fec?: FecSender | null;
}

export class Sender {
  readonly capacity: number;
  // Ring storage grows on demand up to `capacity` (idle connections stay small).
  private ring: number;
  private dgrams: (Buffer | undefined)[];
  private origin: Float64Array; // local µs time of submission
  private lastSent: Float64Array;
  private encKeys: (CtrKey | null)[];
  /** First sequence number whose payload still awaits batch encryption. */
  private encNext: number;
  private head = 0; // ring index of `base`
  /** Oldest unacknowledged sequence number. */
  base: number;
  /** Next sequence number to send for the first time. */
  curr: number;
  /** Next sequence number to assign to a new message. */
  next: number;
  private msgNo = 1;
  readonly loss = new LossList();
  private readonly peerSocketId: number;
  peerFlowWindow: number;
  flowWindow: number;
  /** File mode: FileCC's congestion window, packets (Infinity in live mode: the flow window rules). */
  congestionWindow = Infinity;
  nextSendTime = 0;
  periodUs: number;
  private avgPayload: number;
  private bytesBuffered = 0;
  // input-rate sampling for maxbw = 0
  private readonly cfg: SenderConfig;
  private inRateStart = -1;
  private inRateBytes = 0;
  private inRatePkts = 0;
  private inRatePeriod = 500_000;
  inputRate = 0; // bytes/s
  maxBW: number; // bytes/s
  private lastDurationMark = -1;
  private readonly fec: FecSender | null;

  constructor(cfg: SenderConfig, private readonly c: Counters) {
    this.cfg = cfg;
    this.fec = cfg.fec ?? null;
    this.capacity = cfg.capacity;
    this.ring = Math.min(cfg.capacity, 64);
    this.dgrams = new Array<Buffer | undefined>(this.ring);
    this.origin = new Float64Array(this.ring);
    this.lastSent = new Float64Array(this.ring);
    this.encKeys = new Array<CtrKey | null>(this.ring).fill(null);
    this.base = this.curr = this.next = this.encNext = cfg.isn;
    this.peerSocketId = cfg.peerSocketId;
    this.peerFlowWindow = cfg.peerFlowWindow;
    this.flowWindow = cfg.peerFlowWindow;
    this.avgPayload = cfg.payloadSize;
    this.maxBW = this.computeMaxBW();
    this.periodUs = this.computePeriod();
  }

  /**
   * Connection groups (ADR 16): the next message gets sequence number `seq`, the group's. Only
   * while nothing is buffered (a member joining a running group, or a backup taking over).
   */
  rebase(seq: number): void {
    if (!this.isEmpty() || this.fec) return;
    this.base = this.curr = this.next = this.encNext = seq;
    this.loss.clear();
  }

  /** Packets submitted and not yet acknowledged or dropped. */
  get buffered(): number {
    return seqOff(this.base, this.next);
  }

  get bufferedBytes(): number {
    return this.bytesBuffered;
  }

  get flightSize(): number {
    return seqOff(this.base, this.curr);
  }

  isFull(): boolean {
    return this.buffered >= this.capacity;
  }

  isEmpty(): boolean {
    return this.base === this.next;
  }

  /**
   * Queues one message (one packet in live mode). `ts32` is the origin timestamp (µs since the
   * socket started). With `seal` (encryption) the payload is encrypted once here, with the header
   * (KK set, R clear) as its associated data; retransmissions reuse this ciphertext.
   * Returns false when the send buffer is full. File mode: `position` is the packet's place in a
   * message spanning several packets (PP) and `inOrder` the O flag; the message number advances
   * after the message's last (or solo) packet.
   */
  write(now: number, payload: Buffer, ts32: number, seal?: Sealer, position: number = Position.Solo, inOrder = false): boolean {
    if (this.isFull()) return false;
    const seq = this.next;
    const off = seqOff(this.base, seq);
    this.ensure(off);
    const idx = (this.head + off) % this.ring;
    const header = Buffer.allocUnsafe(HEADER_SIZE);
    header.writeUInt32BE(seq, 0);
    const kk = seal ? seal.keyFlags() : 0;
    header.writeUInt32BE(dataWord1(position, inOrder, kk, false, this.msgNo), 4);
    header.writeUInt32BE(ts32 >>> 0, 8);
    header.writeUInt32BE(this.peerSocketId, 12);
    const batch = seal ? seal.batchKey(kk) : null;
    this.encKeys[idx] = batch;
    const body = seal && !batch ? seal.seal(seq, header, payload) : payload;
    const d = Buffer.allocUnsafe(HEADER_SIZE + body.length);
    header.copy(d, 0);
    body.copy(d, HEADER_SIZE);
    this.dgrams[idx] = d;
    this.origin[idx] = now;
    this.lastSent[idx] = -1;
    this.next = seqInc(seq);
    if (position === Position.Solo || position === Position.Last) this.msgNo = msgNoInc(this.msgNo);
    this.bytesBuffered += body.length;
    this.sampleInput(now, body.length);
    if (this.lastDurationMark < 0) this.lastDurationMark = now;
    return true;
  }

  /** Makes room for ring offset `off` (< capacity), doubling the storage as needed. */
  private ensure(off: number): void {
    if (off < this.ring) return;
    let n = this.ring;
    while (n <= off) n *= 2;
    n = Math.min(n, this.capacity);
    const dgrams = new Array<Buffer | undefined>(n);
    const origin = new Float64Array(n);
    const lastSent = new Float64Array(n);
    const encKeys = new Array<CtrKey | null>(n).fill(null);
    for (let i = 0; i < this.ring; i++) {
      const j = (this.head + i) % this.ring;
      dgrams[i] = this.dgrams[j];
      origin[i] = this.origin[j]!;
      lastSent[i] = this.lastSent[j]!;
      encKeys[i] = this.encKeys[j]!;
    }
    this.dgrams = dgrams;
    this.origin = origin;
    this.lastSent = lastSent;
    this.encKeys = encKeys;
    this.head = 0;
    this.ring = n;
  }

  private sampleInput(now: number, bytes: number): void {
    if (this.cfg.maxbw !== 0 || this.cfg.inputbw !== 0) return;
    if (this.inRateStart < 0) this.inRateStart = now;
    this.inRateBytes += bytes + PACKET_OVERHEAD;
    this.inRatePkts++;
    const elapsed = now - this.inRateStart;
    // A backlog of packets not yet sent means the input comes faster than the last sample said
    // (e.g. it was taken while the process was still warming up and reading its input late):
    // sample again now, over at least RESAMPLE_MIN_US, instead of pacing too slowly for the rest
    // of a one-second period while the send buffer fills. (libsrt only samples on its schedule;
    // its input thread never falls behind the way a warming-up event loop can.)
    const behind = this.inputRate > 0 && elapsed >= RESAMPLE_MIN_US && seqOff(this.curr, this.next) > RESAMPLE_BACKLOG_PKTS;
    if (elapsed >= this.inRatePeriod || (this.inputRate === 0 && this.inRatePkts >= 2000) || behind) {
      const rate = elapsed > 0 ? (this.inRateBytes * 1_000_000) / elapsed : 0;
      if (rate > 0) this.inputRate = rate;
      this.inRateStart = now;
      this.inRateBytes = 0;
      this.inRatePkts = 0;
      this.inRatePeriod = 1_000_000;
      this.updateRate();
    }
  }

  private computeMaxBW(): number {
    const { maxbw, inputbw, mininputbw, oheadbw } = this.cfg;
    if (maxbw > 0) return maxbw;
    if (maxbw < 0) return BW_INFINITE;
    if (inputbw > 0) return (inputbw * (100 + oheadbw)) / 100;
    if (this.inputRate <= 0) return BW_INFINITE; // not measured yet
    return (Math.max(mininputbw, this.inputRate) * (100 + oheadbw)) / 100;
  }

  private computePeriod(): number {
    return ((this.avgPayload + PACKET_OVERHEAD) * 1_000_000) / this.maxBW;
  }

  /** LiveCC: recompute the pacing period (on ACK and on input-rate samples). */
  updateRate(): void {
    this.maxBW = this.computeMaxBW();
    this.periodUs = this.computePeriod();
  }

  /** Encrypts, in one batch per key, every queued packet not encrypted yet (before they are sent). */
  encryptPending(): void {
    if (seqOff(this.encNext, this.base) > 0) this.encNext = this.base;
    const n = seqOff(this.encNext, this.next);
    if (n <= 0) return;
    const items: CtrItem[] = [];
    const keys: CtrKey[] = [];
    let idx = (this.head + seqOff(this.base, this.encNext)) % this.ring;
    for (let i = 0; i < n; i++) {
      const k = this.encKeys[idx];
      if (k) {
        items.push({ seq: seqAdd(this.encNext, i), data: this.dgrams[idx]!.subarray(HEADER_SIZE) });
        keys.push(k);
        this.encKeys[idx] = null;
      }
      idx = idx + 1 === this.ring ? 0 : idx + 1;
    }
    if (items.length > 0) ctrBatch(keys, items);
    this.encNext = this.next;
  }

  /** Packets that may be in flight: the flow window, and in file mode the congestion window too. */
  get window(): number {
    return Math.min(this.flowWindow, this.congestionWindow);
  }

  /** Free places in the send buffer, packets. */
  get free(): number {
    return this.capacity - this.buffered;
  }

  /**
   * File mode's retransmission timeout (libsrt LATEREXMIT): everything sent and not acknowledged
   * goes back to the loss list. Returns how many packets.
   */
  requeueUnacked(): number {
    const n = this.flightSize;
    if (n <= 0) return 0;
    this.loss.add(this.base, seqAdd(this.curr, -1));
    this.c.pktSndLoss += n;
    return n;
  }

  hasWork(): boolean {
    return !this.loss.isEmpty() || (this.curr !== this.next && this.flightSize < this.window)
      || (this.fec !== null && this.fec.ready(seqAdd(this.curr, -1)));
  }

  /** When the next packet may leave (µs), or Infinity if nothing is waiting. */
  nextDue(): number {
    return this.hasWork() ? this.nextSendTime : Infinity;
  }

  /**
   * The next datagram to put on the wire at `now`, honouring pacing, retransmission priority and
   * the flow window; null if nothing may be sent now.
   */
  poll(now: number, srtt: number, rttVar: number): Buffer | null {
    if (now < this.nextSendTime) return null;
    const c = this.c;
    // retransmissions first
    while (!this.loss.isEmpty()) {
      const s = this.loss.popFirst()!;
      const off = seqOff(this.base, s);
      if (off < 0 || seqOff(s, this.curr) <= 0) continue;
      const idx = (this.head + off) % this.ring;
      const d = this.dgrams[idx];
      if (!d) continue;
      // SRTO_RETRANSMITALGO=1: skip if (re)sent less than SRTT - 4*RTTVar ago (the peer's periodic NAK asks again)
      if (this.cfg.retransmitAlgo === 1 && this.lastSent[idx]! >= 0 && now - this.lastSent[idx]! < srtt - 4 * rttVar) continue;
      const r = Buffer.from(d);
      r[4] = r[4]! | 0x04; // R flag
      this.lastSent[idx] = now;
      c.pktSent++;
      c.byteSent += r.length - HEADER_SIZE + PACKET_OVERHEAD;
      c.pktRetrans++;
      c.byteRetrans += r.length - HEADER_SIZE + PACKET_OVERHEAD;
      this.pace(now, r.length - HEADER_SIZE, false);
      return r;
    }
    // a filter control packet due after the last new packet goes before the next one (libsrt packData)
    if (this.fec !== null) {
      const f = this.packFec(now);
      if (f) return f;
    }
    if (this.curr === this.next || this.flightSize >= this.window) return null;
    const s = this.curr;
    const idx = (this.head + seqOff(this.base, s)) % this.ring;
    const d = this.dgrams[idx]!;
    this.lastSent[idx] = now;
    this.curr = seqInc(s);
    const bytes = d.length - HEADER_SIZE + PACKET_OVERHEAD;
    c.pktSent++;
    c.byteSent += bytes;
    c.pktSentUnique++;
    c.byteSentUnique += bytes;
    if (this.fec !== null) this.fec.feed(s, (d[4]! >>> 3) & 3, d.readUInt32BE(8), d.subarray(HEADER_SIZE));
    // packet-pair probing: a packet with seq ≡ 0 (mod 16) goes back to back with the next one
    this.pace(now, d.length - HEADER_SIZE, (s & 0xf) === 0);
    return d;
  }

  /**
   * The FEC packet due now, if any: a data packet with message number 0 (PP solo, no flags), the
   * sequence number of the last new packet sent and the group's timestamp clip (libsrt
   * PacketFilter::packControlPacket). Paced and counted like data (pktSent), and in pktSndFilterExtra.
   */
  private packFec(now: number): Buffer | null {
    const fec = this.fec!;
    const last = seqAdd(this.curr, -1);
    if (!fec.ready(last)) {
      fec.packControl(last); // a completed row in column-only mode: reset without a packet
      return null;
    }
    const body = fec.packControl(last)!;
    const d = Buffer.allocUnsafe(HEADER_SIZE + body.length);
    d.writeUInt32BE(last, 0);
    d.writeUInt32BE(dataWord1(Position.Solo, false, 0, false, 0), 4);
    d.writeUInt32BE(fec.timestamp >>> 0, 8);
    d.writeUInt32BE(this.peerSocketId, 12);
    body.copy(d, HEADER_SIZE);
    const c = this.c;
    c.pktSent++;
    c.byteSent += body.length + PACKET_OVERHEAD;
    c.pktSndFilterExtra++;
    this.pace(now, body.length, false);
    return d;
  }

  private pace(now: number, payload: number, probe: boolean): void {
    this.avgPayload = (this.avgPayload * 127 + payload) / 128;
    if (probe) return;
    this.nextSendTime = Math.max(this.nextSendTime, now - PACING_BURST_US) + this.periodUs;
  }

  /** Applies an ACK position. Returns false if it acknowledges packets never sent. */
  onAck(ackSeq: number): boolean {
    if (seqOff(ackSeq, this.curr) < 0) return false;
    const n = seqOff(this.base, ackSeq);
    if (n > 0) {
      this.release(n);
      this.loss.removeBefore(ackSeq);
    }
    return true;
  }

  private release(n: number): void {
    for (let i = 0; i < n; i++) {
      const d = this.dgrams[this.head];
      if (d) this.bytesBuffered -= d.length - HEADER_SIZE;
      this.dgrams[this.head] = undefined;
      this.encKeys[this.head] = null;
      this.head = this.head + 1 === this.ring ? 0 : this.head + 1;
    }
    this.base = seqAdd(this.base, n);
    if (seqOff(this.curr, this.base) > 0) this.curr = this.base;
  }

  /**
   * NAK: queues the reported packets for retransmission. Returns the ranges that are no longer in
   * the buffer (the caller answers them with DROPREQ).
   */
  onNak(ranges: readonly SeqRange[]): SeqRange[] {
    const gone: SeqRange[] = [];
    for (let [a, b] of ranges) {
      if (seqOff(a, b) < 0) continue;
      if (seqOff(this.base, a) < 0) {
        const goneEnd = seqOff(this.base, b) < 0 ? b : seqAdd(this.base, -1);
        gone.push([a, goneEnd]);
        if (seqOff(this.base, b) < 0) continue;
        a = this.base;
      }
      if (seqOff(b, this.curr) <= 0) b = seqAdd(this.curr, -1); // never sent yet: ignore the excess
      if (seqOff(a, b) < 0) continue;
      this.c.pktSndLoss += seqOff(a, b) + 1;
      this.loss.add(a, b);
    }
    return gone;
  }

  /**
   * Sender too-late drop: releases packets older than `thresholdUs`. Returns the dropped range,
   * or null.
   */
  dropTooLate(now: number, thresholdUs: number): SeqRange | null {
    let n = 0;
    const total = this.buffered;
    while (n < total && now - this.origin[(this.head + n) % this.ring]! > thresholdUs) n++;
    if (n === 0) return null;
    let bytes = 0;
    for (let i = 0; i < n; i++) {
      const d = this.dgrams[(this.head + i) % this.ring];
      if (d) bytes += d.length - HEADER_SIZE + PACKET_OVERHEAD;
    }
    const first = this.base;
    this.c.pktSndDrop += n;
    this.c.byteSndDrop += bytes;
    this.release(n);
    this.loss.removeBefore(this.base);
    return [first, seqAdd(this.base, -1)];
  }

  /** Submission time of the oldest packet still buffered (µs), or Infinity when empty. */
  oldestOrigin(): number {
    return this.isEmpty() ? Infinity : this.origin[this.head]!;
  }

  /** Sender-side duration accounting (usSndDuration). */
  tickDuration(now: number): void {
    if (this.lastDurationMark >= 0) {
      if (!this.isEmpty()) this.c.usSndDuration += now - this.lastDurationMark;
      this.lastDurationMark = this.isEmpty() ? -1 : now;
    }
  }

  /** Timespan of unacknowledged data, ms. */
  bufferedSpanMs(now: number): number {
    if (this.isEmpty()) return 0;
    return Math.round((now - this.origin[this.head]!) / 1000);
  }
}
