// Local endpoints: publishers and players of a Server that are not SRT connections — a pull
// route or UDP ingest feeding a stream, a push route, UDP output, recorder or browser preview
// reading one. They look like an SrtSocket to the server (write / 'data' / close / stats), so
// the fan-out, limits, statistics and events treat them like any other connection.
import { PassThrough } from 'node:stream';
import { buildStats, newCounters, type SrtStats } from '../protocol/stats.js';

const HEADERS = 44; // counted like libsrt's byte counters (SRT + UDP + IPv4 headers)

export class LocalEndpoint extends PassThrough {
  closeReason: string | null = null;
  private readonly counters = newCounters();
  private readonly started = Date.now();

  /** `queue`: messages buffered for a slow local reader before writes report backpressure. */
  /** `role`: a publisher's messages count as received by the server, a player's as sent to it. */
  constructor(readonly label: string, queue = 1024, readonly role: 'publisher' | 'player' = 'player') {
    super({ objectMode: true, highWaterMark: queue });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: (err: Error | null, data: Buffer) => void): void {
    if (this.role === 'publisher') {
      this.counters.pktRecv++;
      this.counters.pktRecvUnique++;
      this.counters.byteRecv += chunk.length + HEADERS;
    } else {
      this.counters.pktSent++;
      this.counters.pktSentUnique++;
      this.counters.byteSent += chunk.length + HEADERS;
    }
    cb(null, chunk);
  }

  /** Messages written and not yet read, in bytes (as an SrtSocket's queue), for the slow-reader limit. */
  queuedBytes(): number {
    return (this.writableLength + this.readableLength) * 1316;
  }

  /** Ends the endpoint; the server sees it as a closed connection with this reason. */
  close(reason = 'closed'): void {
    if (this.closeReason !== null) return;
    this.closeReason = reason;
    this.emit('closed', reason);
    this.end();
    this.destroy();
  }

  stats(): SrtStats {
    const secs = Math.max(0.001, (Date.now() - this.started) / 1000);
    return buildStats(this.counters, newCounters(), {
      msTimeStamp: Date.now() - this.started, usPktSndPeriod: 0, pktFlowWindow: 0, pktCongestionWindow: 0, pktFlightSize: 0,
      msRTT: 0, mbpsBandwidth: 0, mbpsMaxBW: 0,
      mbpsSendRate: (this.counters.byteSent * 8) / secs / 1e6, mbpsRecvRate: (this.counters.byteRecv * 8) / secs / 1e6,
      byteAvailSndBuf: 0, byteAvailRcvBuf: 0, byteMSS: 1500, pktSndBuf: this.writableLength + this.readableLength, byteSndBuf: this.queuedBytes(), msSndBuf: 0,
      msSndTsbPdDelay: 0, pktRcvBuf: 0, byteRcvBuf: 0, msRcvBuf: 0, msRcvTsbPdDelay: 0, pktReorderDistance: 0, pktReorderTolerance: 0, pktRcvAvgBelatedTime: 0,
    });
  }
}
