// Paced generator: writes numbered 1316-byte messages to stdout at <mbps> for <seconds>.
// Usage: node gen.js <mbps> <seconds>
const mbps = Number(process.argv[2]);
const seconds = Number(process.argv[3]);
const SIZE = 1316;
const pps = (mbps * 1e6) / 8 / SIZE;
const total = Math.floor(pps * seconds);
const pattern = Buffer.alloc(SIZE);
for (let j = 0; j < SIZE; j++) pattern[j] = (j * 7) & 0xff;
let i = 0;
const start = performance.now();
function tick(): void {
  const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * pps));
  if (due > i) {
    const n = due - i;
    const buf = Buffer.allocUnsafe(n * SIZE);
    for (let k = 0; k < n; k++) {
      pattern.copy(buf, k * SIZE);
      buf.writeUInt32BE(i + k, k * SIZE);
    }
    i = due;
    if (!process.stdout.write(buf)) {
      process.stdout.once('drain', () => setTimeout(tick, 1));
      return;
    }
  }
  if (i >= total) {
    process.stderr.write(`${JSON.stringify({ sent: total })}\n`);
    // keep the pipe open briefly so the consumer does not see EOF before the tail is transmitted
    setTimeout(() => process.exit(0), 1500);
    return;
  }
  setTimeout(tick, 1);
}
tick();
