// N players of one stream in one process; each checks every byte of every numbered message
// (pattern.ts). Usage: node players-proc.js <port> <stream> <n>. Prints "ready" once all are
// connected; on SIGTERM prints {counts, gaps, corrupt, first, closed} per player, player 0's
// missing ranges and the players' summed SRT receive statistics (pktRcvDrop, pktRcvLoss, pktRcvRetrans).
import { dial } from '../src/transport/api.js';
import { check } from './pattern.js';

const [port, stream, n] = [Number(process.argv[2]), process.argv[3]!, Number(process.argv[4])];
const counts = new Array<number>(n).fill(0);
const gaps = new Array<number>(n).fill(0);
const corrupt = new Array<number>(n).fill(0);
const first = new Array<number>(n).fill(-1);
const closed = new Array<number>(n).fill(0);
const next = new Array<number>(n).fill(-1);
/** Player 0's missing ranges (the first 10), to see where a loss happened. */
const missing: [number, number][] = [];
const socks = await Promise.all(Array.from({ length: n }, () => dial({ host: '127.0.0.1', port, streamid: `read:${stream}`, latency: 120 })));
socks.forEach((s, i) => {
  s.on('data', (m: Buffer) => {
    const idx = check(m);
    if (idx < 0) { corrupt[i]!++; return; }
    if (first[i]! < 0) first[i] = idx;
    if (next[i]! >= 0 && idx !== next[i]) {
      gaps[i]! += Math.max(1, idx - next[i]!);
      if (i === 0 && missing.length < 10) missing.push([next[i]!, idx - 1]);
    }
    next[i] = idx + 1;
    counts[i]!++;
  });
  s.on('error', () => { closed[i] = 1; });
  s.on('close', () => { closed[i] = 1; });
});
process.stdout.write('ready\n');
process.on('SIGTERM', () => {
  const st = socks.map((s) => { try { return s.stats(); } catch { return null; } });
  const sum = (k: 'pktRcvDrop' | 'pktRcvLoss' | 'pktRcvRetrans'): number => st.reduce((a, x) => a + (x ? x[k] : 0), 0);
  process.stdout.write(`${JSON.stringify({ counts, gaps, corrupt, first, closed, missing, rcvDrop: sum('pktRcvDrop'), rcvLoss: sum('pktRcvLoss'), rcvRetrans: sum('pktRcvRetrans') })}\n`);
  process.exit(0);
});
