// Repeated rejections, summarised: a caller that retries a refused stream id (srt-live-transmit
// does every ~11 ms) would otherwise write ~90 log lines and audit events a second. The first
// rejection of a (peer address, stream id, reason) is reported at once; the repeats within the
// next `intervalMs` are counted and reported as one summary at its end, and so on while they last.
import type { RejectInfo } from './server.js';

export interface RejectReport {
  /** The rejection (the latest one for a summary). */
  info: RejectInfo;
  /** 0 for a first rejection; for a summary, how many rejections it stands for. */
  repeated: number;
  /** For a summary: the seconds it covers. */
  seconds: number;
  /** The peer's address (without its port): repeats are grouped by it. */
  address: string;
  /** A summary of rejections of any address, stream id and reason, counted together while the key table was full. */
  overflow?: boolean;
}

/** "N more rejections of X from IP in the last T s". */
export function rejectSummaryText(r: RejectReport): string {
  const { info } = r;
  if (r.overflow) return `${r.repeated} more rejection${r.repeated === 1 ? '' : 's'} of various callers in the last ${r.seconds} s (the latest: ${info.peer}, ${info.reason}, "${info.streamId}")`;
  return `${r.repeated} more rejection${r.repeated === 1 ? '' : 's'} (${info.reason}) of "${info.streamId}" from ${r.address} in the last ${r.seconds} s: ${info.message}`;
}

const OVERFLOW = '\u0000overflow';

interface Entry {
  since: number;
  count: number;
  last: RejectInfo;
  timer: NodeJS.Timeout;
}

export class RejectionThrottle {
  private readonly entries = new Map<string, Entry>();

  /**
   * `report` gets each first rejection and each summary. `intervalMs`: how often repeats are
   * summarised (default 5000). `maxKeys`: distinct (address, stream id, reason) tracked at once;
   * beyond it, new keys share one entry whose summary names no single caller.
   */
  constructor(private readonly report: (r: RejectReport) => void, readonly intervalMs = 5000, private readonly maxKeys = 10_000) {}

  offer(info: RejectInfo): void {
    const address = peerAddress(info.peer);
    let key = `${address}\u0000${info.reason}\u0000${info.streamId}`;
    if (!this.entries.has(key) && this.entries.size >= this.maxKeys) key = OVERFLOW;
    const e = this.entries.get(key);
    if (e) {
      e.count++;
      e.last = info;
      return;
    }
    this.report({ info, repeated: 0, seconds: 0, address });
    this.open(key, info);
  }

  private open(key: string, info: RejectInfo): void {
    const timer = setTimeout(() => this.tick(key), this.intervalMs);
    timer.unref();
    this.entries.set(key, { since: Date.now(), count: 0, last: info, timer });
  }

  private tick(key: string): void {
    const e = this.entries.get(key);
    if (!e) return;
    this.entries.delete(key);
    if (e.count === 0) return; // quiet for a whole interval: the next one is reported at once
    this.summarise(key, e);
    this.open(key, e.last);
  }

  private summarise(key: string, e: Entry): void {
    const seconds = Math.max(0, Math.round((Date.now() - e.since) / 100) / 10);
    this.report({ info: e.last, repeated: e.count, seconds, address: peerAddress(e.last.peer), ...(key === OVERFLOW ? { overflow: true } : {}) });
  }

  /** Reports every pending summary now and forgets all entries (at shutdown). */
  close(): void {
    for (const [key, e] of this.entries) {
      clearTimeout(e.timer);
      if (e.count > 0) this.summarise(key, e);
    }
    this.entries.clear();
  }
}

function peerAddress(peer: string): string {
  const i = peer.lastIndexOf(':');
  return i > 0 ? peer.slice(0, i) : peer;
}
