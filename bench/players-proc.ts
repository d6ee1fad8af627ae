// N players of one stream in one process; each checks the numbered messages it receives.
// Usage: node players-proc.js <port> <stream> <n>. Prints {ready} then, on SIGTERM, per-player counts.
import { dial } from '../src/transport/api.js';

const [port, stream, n] = [Number(process.argv[2]), process.argv[3]!, Number(process.argv[4])];
const counts = new Array<number>(n).fill(0);
const gaps = new Array<number>(n).fill(0);
const next = new Array<number>(n).fill(-1);
const socks = [];
for (let i = 0; i < n; i++) {
  const s = await dial({ host: '127.0.0.1', port, streamid: `read:${stream}`, latency: 120 });
  s.on('data', (m: Buffer) => {
    const idx = m.readUInt32BE(0);
    if (next[i]! >= 0 && idx !== next[i]) gaps[i]! += Math.max(1, idx - next[i]!);
    next[i] = idx + 1;
    counts[i]!++;
  });
  socks.push(s);
}
process.stdout.write('ready\n');
process.on('SIGTERM', () => {
  process.stdout.write(`${JSON.stringify({ counts, gaps })}\n`);
  process.exit(0);
});
