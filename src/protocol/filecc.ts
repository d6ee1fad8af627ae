// FileCC: the congestion control of file mode (SRTO_TRANSTYPE=file), UDT's AIMD rate control as
// libsrt runs it (draft-sharabayko-srt §5.2; SRT-DIGEST §13). Pure: time comes in as `now` (µs),
// the random decrease threshold from a seeded generator.
//
// Slow start: the congestion window starts at 16 packets and grows by what each ACK acknowledges
// (at most once per 10 ms rate-control interval), with no pacing (1 µs period); once it passes
// the peer's flow window, or at the first loss report or retransmission timeout, the pacing
// period is set from the delivery rate the receiver reports. Then, on each ACK, the window follows
// the delivery rate over one RTT + 10 ms and, if no loss came since the last increase, the period
// shrinks by UDT's additive increase; a loss report beyond the last decrease point lengthens the
// period by 3 %, and further reports within that congestion period do so again at a random
// spacing, at most 5 decreases in all.
import { seqOff } from './seq.js';

/** libsrt COMM_SYN_INTERVAL_US: the rate-control interval. */
const RC_INTERVAL_US = 10_000;
/** Loss reports for less than this share of the packets in flight (‰) do not slow the sender down. */
const LOSS_IGNORE_PERMILLE = 20;
const DECREASE_FACTOR = 1.03;
const MAX_DECREASES = 5;

export interface FileCcConfig {
  /** The first sequence number we send. */
  isn: number;
  /** The peer's flow window from the handshake, packets: slow start ends above it. */
  maxCwnd: number;
  /** Our MSS, bytes (UDT's increase formula and the maxbw floor count whole MSS). */
  mss: number;
  /** SRTO_MAXBW in bytes/s: > 0 caps the rate; 0 or -1 leaves it to the controller. */
  maxbw: number;
  /** Seed of the random decrease spacing (any integer). */
  seed: number;
  /** When the connection was set up (µs): the first rate-control interval starts here. */
  now: number;
}

export class FileCC {
  /** Congestion window, packets (the sender keeps at most min(flow window, cwnd) in flight). */
  cwnd = 16;
  /** Pacing period between packets, µs. */
  periodUs = 1;
  slowStart = true;
  private readonly maxCwnd: number;
  private readonly mss: number;
  private readonly maxbw: number;
  private lastRcTime: number;
  private lastAck: number;
  private lossSinceIncrease = false;
  private lastDecSeq: number;
  private lastDecPeriod = 1;
  private nakCount = 0;
  private decRandom = 1;
  private avgNakNum = 0;
  private decCount = 0;
  private rand: number;

  constructor(cfg: FileCcConfig) {
    this.maxCwnd = cfg.maxCwnd;
    this.mss = cfg.mss;
    this.maxbw = cfg.maxbw;
    this.lastRcTime = cfg.now;
    this.lastAck = cfg.isn;
    this.lastDecSeq = (cfg.isn - 1) & 0x7fffffff;
    this.rand = (cfg.seed >>> 0) || 1;
  }

  /**
   * A full ACK arrived: `ackSeq` its position, `deliveryRate` and `bandwidth` the receiver's
   * smoothed reports (packets/s), `srtt` µs.
   */
  onAck(now: number, ackSeq: number, deliveryRate: number, bandwidth: number, srtt: number): void {
    if (now - this.lastRcTime < RC_INTERVAL_US) return;
    this.lastRcTime = now;
    if (this.slowStart) {
      const acked = seqOff(this.lastAck, ackSeq);
      if (acked > 0) {
        this.cwnd += acked;
        this.lastAck = ackSeq;
      }
      if (this.cwnd > this.maxCwnd) this.leaveSlowStart(deliveryRate, srtt);
    } else {
      this.cwnd = (deliveryRate / 1_000_000) * (srtt + RC_INTERVAL_US) + 16;
    }
    if (!this.slowStart) {
      if (this.lossSinceIncrease) {
        this.lossSinceIncrease = false;
      } else {
        // UDT's increase: the spare capacity B (packets/s) sets the step
        const lossBw = Math.trunc(2 * (1_000_000 / this.lastDecPeriod));
        const bw = Math.min(lossBw, bandwidth);
        let spare = Math.trunc(bw - 1_000_000 / this.periodUs);
        if (this.periodUs > this.lastDecPeriod && Math.trunc(bw / 9) < spare) spare = Math.trunc(bw / 9);
        let inc: number;
        if (spare <= 0) {
          inc = 1 / this.mss;
        } else {
          inc = (Math.pow(10, Math.ceil(Math.log10(spare * this.mss * 8))) * 0.0000015) / this.mss;
          inc = Math.max(inc, 1 / this.mss);
        }
        this.periodUs = (this.periodUs * RC_INTERVAL_US) / (this.periodUs * inc + RC_INTERVAL_US);
      }
    }
    if (this.maxbw > 0) {
      const floor = 1_000_000 / (this.maxbw / this.mss);
      if (this.periodUs < floor) this.periodUs = floor;
    }
  }

  private leaveSlowStart(deliveryRate: number, srtt: number): void {
    this.slowStart = false;
    this.periodUs = deliveryRate > 0 ? 1_000_000 / deliveryRate : this.cwnd / (srtt + RC_INTERVAL_US);
  }

  /**
   * A loss report: `firstLost` its first sequence number, `lossLength` the sender's loss list
   * length, `lastSent` the newest sequence number sent.
   */
  onLoss(firstLost: number, lossLength: number, lastSent: number, deliveryRate: number, srtt: number): void {
    if (this.slowStart) this.leaveSlowStart(deliveryRate, srtt);
    this.lossSinceIncrease = true;
    const inFlight = Math.trunc(srtt / this.periodUs);
    const permille = inFlight > 0 ? Math.trunc((lossLength * 1000) / inFlight) : 0;
    if (permille < LOSS_IGNORE_PERMILLE) {
      this.lastDecPeriod = this.periodUs;
      return;
    }
    if (seqOff(this.lastDecSeq, firstLost) > 0) {
      // a new congestion period
      this.lastDecPeriod = this.periodUs;
      this.periodUs = Math.ceil(this.periodUs * DECREASE_FACTOR);
      this.avgNakNum = Math.ceil(this.avgNakNum * 0.97 + this.nakCount * 0.03);
      this.nakCount = 1;
      this.decCount = 1;
      this.lastDecSeq = lastSent;
      this.decRandom = this.avgNakNum > 1 ? 1 + (this.random() % this.avgNakNum) : 1;
    } else if (this.decCount++ < MAX_DECREASES && ++this.nakCount % this.decRandom === 0) {
      this.periodUs = Math.ceil(this.periodUs * DECREASE_FACTOR);
      this.lastDecSeq = lastSent;
    }
  }

  /** The retransmission timer fired (no ACK for too long): slow start ends. */
  onTimeout(deliveryRate: number, srtt: number): void {
    if (this.slowStart) this.leaveSlowStart(deliveryRate, srtt);
  }

  /** xorshift32: the decrease spacing needs no quality, only no clock and no Math.random. */
  private random(): number {
    let x = this.rand;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.rand = x >>> 0;
    return this.rand;
  }
}
