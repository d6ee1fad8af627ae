// Median-filtered interval windows (libsrt window.h: CPktTimeWindow), used for the ACK's
// receiving-rate and link-capacity fields.
const AS_SIZE = 16;
const PB_SIZE = 16;

function filteredMean(values: Float64Array): { mean: number; count: number } {
  const sorted = Float64Array.from(values).sort();
  const median = sorted[sorted.length >> 1]!;
  const lo = median / 8, hi = median * 8;
  let sum = 0, count = 0;
  for (const v of values) {
    if (v > lo && v < hi) {
      sum += v;
      count++;
    }
  }
  return { mean: count > 0 ? sum / count : 0, count };
}

export class RateEstimator {
  private arrival = new Float64Array(AS_SIZE).fill(1_000_000);
  private sizes = new Float64Array(AS_SIZE).fill(1316);
  private ai = 0;
  private lastArrival = -1;
  private probe = new Float64Array(PB_SIZE).fill(1000);
  private pi = 0;
  private probeStart = -1;
  private probeSeq = -1;

  onArrival(now: number, bytes: number): void {
    if (this.lastArrival >= 0) {
      this.arrival[this.ai] = now - this.lastArrival;
      this.sizes[this.ai] = bytes;
      this.ai = (this.ai + 1) % AS_SIZE;
    }
    this.lastArrival = now;
  }

  /** Packet-pair probing: seq ≡ 0 (mod 16) starts a pair, the next one closes it. */
  onProbe(now: number, seq: number): void {
    if ((seq & 0xf) === 0) {
      this.probeStart = now;
      this.probeSeq = seq;
    } else if ((seq & 0xf) === 1 && this.probeSeq >= 0 && ((this.probeSeq + 1) & 0x7fffffff) === seq) {
      this.probe[this.pi] = Math.max(1, now - this.probeStart);
      this.pi = (this.pi + 1) % PB_SIZE;
      this.probeSeq = -1;
    } else {
      this.probeSeq = -1;
    }
  }

  /** [packets/s, bytes/s incl. headers]; 0 unless more than half the window is consistent. */
  receiveRate(): [number, number] {
    const sorted = Float64Array.from(this.arrival).sort();
    const median = sorted[AS_SIZE >> 1]!;
    let sum = 0, count = 0, bytes = 0;
    for (let i = 0; i < AS_SIZE; i++) {
      const v = this.arrival[i]!;
      if (v > median / 8 && v < median * 8) {
        sum += v;
        count++;
        bytes += this.sizes[i]!;
      }
    }
    if (count <= AS_SIZE / 2 || sum <= 0) return [0, 0];
    const pps = Math.ceil((1_000_000 * count) / sum);
    return [pps, Math.ceil((1_000_000 * bytes) / sum)];
  }

  /** Estimated link capacity, packets/s. */
  bandwidth(): number {
    const { mean } = filteredMean(this.probe);
    return mean > 0 ? Math.ceil(1_000_000 / mean) : 0;
  }
}
