// SRT speed test (Callaba's /utils/speedtest): an SRT caller sends paced live data to a target for
// a while and reports what libsrt's statistics say about the path: RTT, the latency to configure
// (4 × RTT, at least 120 ms), the throughput achieved, a maxbw to configure, loss and
// retransmissions. Without a target it measures this machine: a temporary SRT listener on an
// ephemeral loopback port accepts only this probe and discards what it receives.
import { randomUUID } from 'node:crypto';
import { dial, listen, type SrtServer } from '../transport/api.js';
import type { SrtSocket } from '../transport/socket.js';
import { SRT_REJX } from '../protocol/reject.js';

export interface SpeedtestOptions {
  host?: string;
  port?: number;
  streamid?: string;
  passphrase?: string;
  /** How long data is sent, ms (default 2000, at most 10000). */
  durationMs?: number;
  /** Send rate, bits/s (default 20 Mbit/s). */
  bitrate?: number;
  /** Payload bytes per packet (default 1316: 7 MPEG-TS packets). */
  payloadSize?: number;
  /** SRT latency of the probe connection, ms (default 120). */
  latency?: number;
  /** Connection timeout, ms (default 3000). */
  connectTimeoutMs?: number;
}

export interface SpeedtestResult {
  target: { host: string; port: number; local: boolean };
  duration_ms: number;
  bitrate_requested: number;
  /** Smoothed round-trip time measured by SRT (ACK/ACKACK), ms. */
  rtt_ms: number;
  /** Recommended SRT latency, ms: max(4 × RTT, 120) rounded up. */
  latency: number;
  /** Throughput achieved (acknowledged payload), bits/s. */
  upload_bps: number;
  /** The same in bytes/s, the unit of server_maxbw. */
  upload: number;
  /** A server_maxbw to configure, bytes/s: 1.25 × the throughput achieved (25% for retransmissions). */
  recommended_maxbw: number;
  /** Link capacity estimated by the receiver from packet pairs (libsrt mbpsBandwidth), bits/s; 0 if unknown. */
  link_capacity_bps: number;
  /** Packets reported lost by the receiver, percent of the packets sent. */
  loss_percent: number;
  retransmitted: number;
  packets_sent: number;
  packets_lost: number;
  packets_dropped: number;
  bytes_sent: number;
}

export const SPEEDTEST_MAX_DURATION_MS = 10_000;
export const SPEEDTEST_DEFAULT_BITRATE = 20_000_000;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function speedtest(opts: SpeedtestOptions = {}): Promise<SpeedtestResult> {
  const durationMs = Math.min(Math.max(opts.durationMs ?? 2000, 100), SPEEDTEST_MAX_DURATION_MS);
  const bitrate = opts.bitrate ?? SPEEDTEST_DEFAULT_BITRATE;
  const payloadSize = opts.payloadSize ?? 1316;
  const latency = opts.latency ?? 120;
  if (!(bitrate > 0)) throw new RangeError('bitrate: must be positive');
  let local: SrtServer | null = null;
  let host = opts.host;
  let port = opts.port;
  let streamid = opts.streamid;
  let sock: SrtSocket | null = null;
  try {
    if (host === undefined) {
      // a sink for this probe only: it accepts the caller that knows the random stream id
      const token = `speedtest-${randomUUID()}`;
      local = await listen({ host: '127.0.0.1', port: 0, latency, ...(opts.passphrase ? { passphrase: opts.passphrase } : {}), accept: (req) => (req.streamId === token ? {} : { reject: SRT_REJX.FORBIDDEN }) });
      local.on('connection', (s) => {
        s.on('data', () => undefined);
        s.on('error', () => undefined);
      });
      local.on('error', () => undefined);
      host = '127.0.0.1';
      port = local.address().port;
      streamid = token;
    }
    if (port === undefined) throw new RangeError('port: a target host needs a port');
    sock = await dial({
      host, port, latency, conntimeo: opts.connectTimeoutMs ?? 3000,
      ...(streamid ? { streamid } : {}),
      ...(opts.passphrase ? { passphrase: opts.passphrase } : {}),
    });
    const s = sock;
    s.on('error', () => undefined);

    const payload = Buffer.alloc(payloadSize);
    for (let i = 0; i < payloadSize; i += 188) payload[i] = 0x47; // looks like MPEG-TS
    const packetsPerMs = bitrate / 8 / payloadSize / 1000;
    const start = performance.now();
    let written = 0;
    let closed = false;
    s.once('closed', () => { closed = true; });
    while (!closed) {
      const elapsed = performance.now() - start;
      if (elapsed >= durationMs) break;
      const due = Math.floor(elapsed * packetsPerMs) + 1;
      let burst = Math.min(due - written, 256);
      let full = false;
      while (burst-- > 0) {
        payload.writeUInt32BE(written >>> 0, 4);
        written++;
        if (!s.write(Buffer.from(payload))) { full = true; break; }
      }
      if (full) {
        await Promise.race([new Promise<void>((r) => s.once('drain', () => r())), sleep(durationMs - elapsed)]);
      } else {
        await sleep(Math.max(1, Math.min(5, (written + 1) / packetsPerMs - (performance.now() - start))));
      }
    }
    if (closed) throw new Error(`the target closed the connection (${s.closeReason ?? 'closed'})`);
    // let the tail be acknowledged (or dropped) before measuring
    const ackDeadline = performance.now() + Math.max(1000, 4 * s.stats().msRTT);
    while (s.writableLength > 0 || s.stats().pktSndBuf > 0) {
      if (performance.now() > ackDeadline || closed) break;
      await sleep(5);
    }
    const elapsedS = (performance.now() - start) / 1000;
    const st = s.stats();
    const unacked = st.pktSndBuf + Math.ceil(s.writableLength / payloadSize);
    const delivered = Math.max(0, st.pktSentUniqueTotal - st.pktSndDropTotal - unacked);
    const uploadBps = Math.round((delivered * payloadSize * 8) / elapsedS);
    const rtt = Math.round(st.msRTT * 1000) / 1000;
    return {
      target: { host, port, local: local !== null },
      duration_ms: Math.round(elapsedS * 1000),
      bitrate_requested: bitrate,
      rtt_ms: rtt,
      latency: Math.max(Math.ceil(4 * rtt), 120),
      upload_bps: uploadBps,
      upload: Math.round(uploadBps / 8),
      recommended_maxbw: Math.ceil((uploadBps / 8) * 1.25),
      link_capacity_bps: Math.round(st.mbpsBandwidth * 1e6),
      loss_percent: st.pktSentUniqueTotal > 0 ? Math.round((10000 * st.pktSndLossTotal) / st.pktSentUniqueTotal) / 100 : 0,
      retransmitted: st.pktRetransTotal,
      packets_sent: st.pktSentUniqueTotal,
      packets_lost: st.pktSndLossTotal,
      packets_dropped: st.pktSndDropTotal,
      bytes_sent: st.pktSentUniqueTotal * payloadSize,
    };
  } finally {
    sock?.destroy();
    await local?.close();
  }
}
