// Median-filtered interval windows (libsrt window.h: CPktTimeWindow), used for the ACK's
// receiving-rate and link-capacity fields.
const AS_SIZE = 16;
const PB_SIZE = 16;

// scratch for the medians (these run on every full ACK: no allocation)
const scratch = new Float64Array(Math.max(AS_SIZE, PB_SIZE));

function median(values: Float64Array): number {
  const sorted = scratch.subarray(0, values.length);
  sorted.set(values);
  sorted.sort();
  return sorted[values.length >> 1]!;
}

/** Mean of the values within (median/8, median*8); 0 if none. */
function filteredMean(values: Float64Array): number {
  const m = median(values);
  const lo = m / 8, hi = m * 8;
  let sum = 0, count = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v > lo && v < hi) {
      sum += v;
      count++;
    }
  }
  return count > 0 ? sum / count : 0;
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
    const m = median(this.arrival);
    let sum = 0, count = 0, bytes = 0;
    for (let i = 0; i < AS_SIZE; i++) {
      const v = this.arrival[i]!;
      if (v > m / 8 && v < m * 8) {
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
    const mean = filteredMean(this.probe);
    return mean > 0 ? Math.ceil(1_000_000 / mean) : 0;
  }
}
