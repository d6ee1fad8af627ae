// N players of one stream in one process — Sluice callers, which acknowledge as libsrt receivers do
// (full ACK every 10 ms while data arrives, light ACK every 64 packets, ACKACK answered, NAK on a
// gap, keepalive when idle; src/protocol/connection.ts). Each counts the numbered messages it gets
// (index in bytes 0..3) and their end-to-end delay: bytes 4..11 carry the generator's send time
// (performance.timeOrigin + performance.now(), ms — the wall clock both processes share).
// Usage: node players-proc.js <port> <stream> <n> [latency ms] [host]. Prints "ready" once all are
// connected, then on SIGTERM one JSON line: per-player counts and gaps, a delay histogram (1 ms
// buckets, all players), the largest delay, and this process's CPU time.
import { dial } from '../src/transport/api.js';
import type { SrtSocket } from '../src/transport/socket.js';

const [port, stream, n] = [Number(process.argv[2]), process.argv[3]!, Number(process.argv[4])];
const latency = Number(process.argv[5] ?? 120);
const host = process.argv[6] ?? '127.0.0.1';
const counts = new Array<number>(n).fill(0);
const gaps = new Array<number>(n).fill(0);
const next = new Array<number>(n).fill(-1);
const HIST_MS = 10_000;
const hist = new Uint32Array(HIST_MS + 1);
let maxDelay = 0;
const socks: SrtSocket[] = [];
const origin = performance.timeOrigin;

function attach(i: number, s: SrtSocket): void {
  s.on('data', (m: Buffer) => {
    const idx = m.readUInt32BE(0);
    if (next[i]! >= 0 && idx !== next[i]) gaps[i]! += Math.max(1, idx - next[i]!);
    next[i] = idx + 1;
    counts[i]!++;
    const d = origin + performance.now() - m.readDoubleBE(4);
    if (d > maxDelay) maxDelay = d;
    hist[Math.min(HIST_MS, Math.max(0, Math.round(d)))]!++;
  });
  s.on('error', () => undefined);
}

// 16 handshakes at a time
for (let i = 0; i < n; i += 16) {
  const batch = await Promise.all(Array.from({ length: Math.min(16, n - i) }, () => dial({ host, port, streamid: `read:${stream}`, latency })));
  batch.forEach((s, j) => { attach(i + j, s); socks.push(s); });
}
const cpu0 = process.cpuUsage();
process.stdout.write('ready\n');
process.on('SIGTERM', () => {
  const c = process.cpuUsage(cpu0);
  const h: Record<number, number> = {};
  hist.forEach((v, ms) => { if (v) h[ms] = v; });
  process.stdout.write(`${JSON.stringify({ counts, gaps, hist: h, maxDelay, cpuSeconds: (c.user + c.system) / 1e6 })}\n`);
  process.exit(0);
});
