// Live receiver: receive buffer, loss list, TSBPD delivery with drift tracking, too-late drop
// (draft-sharabayko-srt §4.5–4.8; libsrt buffer_rcv.cpp, tsbpd_time.cpp, core.cpp).
import { LossList } from './losslist.js';
import type { SeqRange } from './packet.js';
import { seqAdd, seqInc, seqOff, unwrapTimestamp } from './seq.js';
import type { Counters } from './stats.js';
import { PACKET_OVERHEAD } from './options.js';
import { RateEstimator } from './rate.js';
import type { CtrKey } from './crypto.js';

const INITIAL_RING = 64;
const DROPPED = Buffer.alloc(0); // slot marker: given up (DROPREQ from the sender, or undecryptable)

/** libsrt DriftTracer<1000, 5000>. */
export class DriftTracer {
  private sum = 0;
  private n = 0;
  drift = 0;
  overdrift = 0;
  update(sample: number): boolean {
    this.sum += sample;
    if (++this.n < 1000) return false;
    this.drift = this.sum / this.n;
    this.sum = 0;
    this.n = 0;
    if (Math.abs(this.drift) > 5000) {
      this.overdrift = this.drift < 0 ? -5000 : 5000;
      this.drift -= this.overdrift;
      return true;
    }
    this.overdrift = 0;
    return false;
  }
}

export interface ReceiverConfig {
  isn: number;
  capacity: number; // packets
  latencyUs: number;
  tsbpd: boolean;
  tlpktdrop: boolean;
  driftTracer: boolean;
  /** Local time minus peer timestamp, taken from the handshake packet that carried HSREQ/HSRSP. */
  tsbpdBase: number;
  /** Peer timestamp of that handshake packet (the unwrap reference). */
  tsRef: number;
}

export class Receiver {
  readonly capacity: number;
  readonly latencyUs: number;
  private readonly tsbpd: boolean;
  private readonly tlpktdrop: boolean;
  // Ring storage grows on demand up to `capacity` (idle connections stay small).
  private ring: number;
  private slots: (Buffer | undefined)[];
  private ts: Float64Array;
  /** AES-CTR key of each stored packet still encrypted (decrypted in batches at delivery). */
  private keys: (CtrKey | null)[];
  /** Each stored packet's PP bits (file mode's message API reassembles messages from them). */
  private bounds: Uint8Array;
  /** Sequence number, key and PP bits of the payload the last poll() returned. */
  deliveredSeq = 0;
  deliveredKey: CtrKey | null = null;
  deliveredBoundary = 3;
  private head = 0; // ring index of `base`
  /** First sequence number not yet delivered (ring head). */
  base: number;
  /** Highest sequence number received (isn - 1 initially). */
  maxSeq: number;
  /** Highest sequence number that arrived from the network (not rebuilt), for pktRcvLoss. */
  private physMaxSeq: number;
  /** First sequence number not yet received: everything before it is here or given up. */
  ackSeq: number;
  readonly loss = new LossList();
  readonly rate = new RateEstimator();
  private tsbpdBase: number;
  private tsRef: number;
  private readonly drift: DriftTracer | null;
  private firstRtt = -1;
  private dropScan = -1; // cached sequence of the first present packet after a head hole
  private buffered = 0; // packets stored and not delivered
  private bufferedBytes = 0;
  reorderDistance = 0;
  belatedTimeAvg = 0;
  nextPlayTime = Infinity;

  constructor(cfg: ReceiverConfig, private readonly c: Counters) {
    this.capacity = cfg.capacity;
    this.latencyUs = cfg.latencyUs;
    this.tsbpd = cfg.tsbpd;
    this.tlpktdrop = cfg.tlpktdrop;
    this.ring = Math.min(cfg.capacity, INITIAL_RING);
    this.slots = new Array<Buffer | undefined>(this.ring);
    this.ts = new Float64Array(this.ring);
    this.keys = new Array<CtrKey | null>(this.ring).fill(null);
    this.bounds = new Uint8Array(this.ring);
    this.base = cfg.isn;
    this.ackSeq = cfg.isn;
    this.maxSeq = seqAdd(cfg.isn, -1);
    this.physMaxSeq = this.maxSeq;
    this.tsbpdBase = cfg.tsbpdBase;
    this.tsRef = cfg.tsRef;
    this.drift = cfg.driftTracer ? new DriftTracer() : null;
  }

  /**
   * A connection-group member's first data packet (ADR 16): the peer's group numbers every member
   * the same, so this member starts where the group is, not at its handshake ISN. Only before
   * anything was received.
   */
  rebase(seq: number): void {
    if (this.buffered !== 0 || this.maxSeq !== seqAdd(this.base, -1)) return;
    this.base = seq;
    this.ackSeq = seq;
    this.maxSeq = seqAdd(seq, -1);
    this.physMaxSeq = this.maxSeq;
  }

  /**
   * A connection-group member plays on the group's time base (its first member's), so that a copy
   * arriving over a slower path plays at the same time as over a faster one (ADR 16).
   */
  adoptTimeBase(other: Receiver): void {
    this.tsbpdBase = other.tsbpdBase;
    this.tsRef = other.tsRef;
  }

  /** Makes room for ring offset `off` (< capacity), doubling the storage as needed. */
  private ensure(off: number): void {
    if (off < this.ring) return;
    let n = this.ring;
    while (n <= off) n *= 2;
    n = Math.min(n, this.capacity);
    const slots = new Array<Buffer | undefined>(n);
    const ts = new Float64Array(n);
    const keys = new Array<CtrKey | null>(n).fill(null);
    const bounds = new Uint8Array(n);
    for (let i = 0; i < this.ring; i++) {
      const j = (this.head + i) % this.ring;
      slots[i] = this.slots[j];
      ts[i] = this.ts[j]!;
      keys[i] = this.keys[j]!;
      bounds[i] = this.bounds[j]!;
    }
    this.slots = slots;
    this.ts = ts;
    this.keys = keys;
    this.bounds = bounds;
    this.head = 0;
    this.ring = n;
  }

  /** Unwraps a 32-bit peer timestamp; advances the reference (also for control packets on idle links). */
  unwrap(ts32: number): number {
    const t = unwrapTimestamp(ts32, this.tsRef);
    if (t > this.tsRef) this.tsRef = t;
    return t;
  }

  playTime(ts64: number): number {
    return this.tsbpdBase + ts64 + this.latencyUs + (this.drift ? this.drift.drift : 0);
  }

  /**
   * Stores a data packet. Returns a newly detected loss range (for an immediate NAK), or null.
   * `payload` null: the packet arrived but cannot be used (decryption failed): its position
   * counts as received (no NAK for it) and it is given up (pktRcvDrop). `boundary`: the PP bits.
   */
  onData(now: number, seq: number, ts32: number, payload: Buffer | null, retransmitted: boolean, wireBytes = payload ? payload.length : 0, key: CtrKey | null = null, supplied = false, boundary = 3): SeqRange | null {
    const c = this.c;
    const bytes = wireBytes + PACKET_OVERHEAD;
    if (!supplied) {
      // a packet rebuilt by the FEC filter (`supplied`) did not cross the network: libsrt counts it
      // in neither pktRecv nor the link's rates
      c.pktRecv++;
      c.byteRecv += bytes;
      if (retransmitted) c.pktRcvRetrans++;
      this.rate.onArrival(now, bytes);
      this.rate.onProbe(now, seq);
    }
    const ts64 = supplied ? unwrapTimestamp(ts32, this.tsRef) : this.unwrap(ts32);
    const off = seqOff(this.base, seq);
    if (off < 0) {
      // its position was already delivered or given up
      c.pktRcvBelated++;
      const late = now - this.playTime(ts64);
      this.belatedTimeAvg = this.belatedTimeAvg === 0 ? late : (this.belatedTimeAvg * 7 + late) / 8;
      return null;
    }
    if (off >= this.capacity) {
      // no room: the sender overran our advertised window. Not a drop (libsrt does not count it
      // either): the packet is still in the sender's buffer and comes again when asked for.
      return null;
    }
    this.ensure(off);
    const idx = (this.head + off) % this.ring;
    if (this.slots[idx] !== undefined) return null; // duplicate
    this.ts[idx] = ts64;
    this.bounds[idx] = boundary;
    if (payload) {
      this.slots[idx] = payload;
      this.keys[idx] = key;
      this.buffered++;
      this.bufferedBytes += payload.length;
      c.pktRecvUnique++;
      c.byteRecvUnique += bytes;
    } else {
      this.slots[idx] = DROPPED;
      c.pktRcvDrop++;
      c.byteRcvDrop += bytes;
    }
    let gap: SeqRange | null = null;
    if (!supplied) {
      // pktRcvLoss counts gaps in what arrived (libsrt m_iRcvCurrPhySeqNo): a packet the FEC filter
      // rebuilt before its successor arrived still counts as lost on the link
      const pd = seqOff(this.physMaxSeq, seq);
      if (pd > 1) {
        c.pktRcvLoss += pd - 1;
        c.byteRcvLoss += (pd - 1) * bytes;
      }
      if (pd > 0) this.physMaxSeq = seq;
    }
    const d = seqOff(this.maxSeq, seq);
    if (d > 0) {
      if (d > 1) {
        gap = [seqInc(this.maxSeq), seqAdd(seq, -1)];
        this.loss.add(gap[0], gap[1]);
      }
      this.maxSeq = seq;
    } else {
      this.loss.remove(seq);
      if (!retransmitted && -d > this.reorderDistance) this.reorderDistance = -d;
      if (this.dropScan >= 0 && seqOff(seq, this.dropScan) > 0) this.dropScan = -1;
    }
    if (seq === this.ackSeq) this.advanceAck();
    return gap;
  }

  private advanceAck(): void {
    let s = this.ackSeq;
    let off = seqOff(this.base, s);
    const end = seqOff(this.base, this.maxSeq);
    while (off <= end && this.slots[(this.head + off) % this.ring] !== undefined) {
      s = seqInc(s);
      off++;
    }
    this.ackSeq = s;
  }

  /** Next payload due for delivery at `now`, or null (then `nextPlayTime` says when to look again). */
  poll(now: number, flush = false): Buffer | null {
    for (;;) {
      if (seqOff(this.base, this.maxSeq) < 0) {
        this.nextPlayTime = Infinity;
        return null;
      }
      const slot = this.slots[this.head];
      if (slot === DROPPED) {
        this.advanceHead(1);
        continue;
      }
      if (slot !== undefined) {
        const t = this.playTime(this.ts[this.head]!);
        if (flush || !this.tsbpd || t <= now) {
          this.buffered--;
          this.bufferedBytes -= slot.length;
          this.deliveredSeq = this.base;
          this.deliveredKey = this.keys[this.head]!;
          this.deliveredBoundary = this.bounds[this.head]!;
          this.advanceHead(1);
          return slot;
        }
        this.nextPlayTime = t;
        return null;
      }
      // a hole at the head
      if (!this.tlpktdrop && !flush) {
        this.nextPlayTime = Infinity;
        return null;
      }
      const k = this.findPresent();
      if (k < 0) {
        this.nextPlayTime = Infinity;
        return null;
      }
      const idx = (this.head + k) % this.ring;
      const t = this.playTime(this.ts[idx]!);
      if (!flush && t > now) {
        this.nextPlayTime = t;
        return null;
      }
      // too-late packet drop: give up the missing packets before it
      let missing = 0;
      for (let i = 0; i < k; i++) if (this.slots[(this.head + i) % this.ring] === undefined) missing++;
      this.c.pktRcvDrop += missing;
      this.c.byteRcvDrop += missing * (this.slots[idx]!.length + PACKET_OVERHEAD);
      const target = seqAdd(this.base, k);
      this.loss.removeBefore(target);
      this.advanceHead(k);
    }
  }

  private findPresent(): number {
    if (this.dropScan >= 0) {
      const k = seqOff(this.base, this.dropScan);
      if (k >= 0) return k;
    }
    const end = seqOff(this.base, this.maxSeq);
    for (let k = 1; k <= end; k++) {
      const s = this.slots[(this.head + k) % this.ring];
      if (s !== undefined && s !== DROPPED) {
        this.dropScan = seqAdd(this.base, k);
        return k;
      }
    }
    return -1;
  }

  private advanceHead(n: number): void {
    for (let i = 0; i < n; i++) {
      this.slots[this.head] = undefined;
      this.keys[this.head] = null;
      this.head = this.head + 1 === this.ring ? 0 : this.head + 1;
    }
    this.base = seqAdd(this.base, n);
    this.dropScan = -1;
    if (seqOff(this.ackSeq, this.base) > 0) {
      this.ackSeq = this.base;
      this.advanceAck();
    }
  }

  /** DROPREQ: the sender gave up [first, last]; stop asking for it. */
  onDropReq(first: number, last: number): void {
    if (seqOff(first, last) < 0) return;
    if (seqOff(this.base, first) < 0) first = this.base;
    if (seqOff(first, last) < 0) return;
    const n = Math.min(seqOff(first, last) + 1, this.capacity - seqOff(this.base, first));
    if (n <= 0) return;
    this.ensure(seqOff(this.base, first) + n - 1);
    for (let i = 0; i < n; i++) {
      const s = seqAdd(first, i);
      const idx = (this.head + seqOff(this.base, s)) % this.ring;
      if (this.slots[idx] === undefined) {
        this.slots[idx] = DROPPED;
        this.c.pktRcvDrop++;
      }
    }
    const lastDone = seqAdd(first, n - 1);
    if (seqOff(this.maxSeq, lastDone) > 0) this.maxSeq = lastDone;
    if (seqOff(this.physMaxSeq, lastDone) > 0) this.physMaxSeq = lastDone;
    this.loss.removeRange(first, lastDone);
    this.dropScan = -1;
    if (seqOff(this.ackSeq, first) <= 0) this.advanceAck();
  }

  /** ACKACK received: feed the drift tracer (libsrt CTsbpdTime::addDriftSample). */
  onAckAck(now: number, ts32: number, rtt: number): void {
    if (!this.drift) return;
    if (this.firstRtt < 0) this.firstRtt = rtt;
    const base = this.tsbpdBase + this.unwrap(ts32);
    const sample = now - base - (rtt - this.firstRtt) / 2;
    if (this.drift.update(sample)) this.tsbpdBase += this.drift.overdrift;
  }

  /** Free receive-buffer space, packets (ACK field). */
  availBuf(): number {
    return Math.max(0, this.capacity - (seqOff(this.base, this.maxSeq) + 1));
  }

  bufferedPackets(): number {
    return this.buffered;
  }

  bufferedBytesCount(): number {
    return this.bufferedBytes;
  }

  /** Timespan of buffered data, ms. */
  bufferedSpanMs(): number {
    if (this.buffered === 0) return 0;
    let first = -1, last = -1;
    const end = seqOff(this.base, this.maxSeq);
    for (let k = 0; k <= end; k++) {
      const s = this.slots[(this.head + k) % this.ring];
      if (s !== undefined && s !== DROPPED) { first = k; break; }
    }
    for (let k = end; k >= 0; k--) {
      const s = this.slots[(this.head + k) % this.ring];
      if (s !== undefined && s !== DROPPED) { last = k; break; }
    }
    if (first < 0) return 0;
    return Math.round((this.ts[(this.head + last) % this.ring]! - this.ts[(this.head + first) % this.ring]!) / 1000);
  }
}

