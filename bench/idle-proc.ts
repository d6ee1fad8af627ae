// Opens <n> idle SRT connections to a server from one UDP socket and keeps them, or measures
// handshake rate. Usage: node idle-proc.js <port> <n> [concurrency]
import { Multiplexer } from '../src/transport/mux.js';
import { resolveOptions } from '../src/protocol/options.js';

const [port, n, conc] = [Number(process.argv[2]), Number(process.argv[3]), Number(process.argv[4] ?? 64)];
const mux = new Multiplexer('udp4');
await mux.bind(0, '127.0.0.1');
const o = resolveOptions({ conntimeo: 10_000, peeridletimeo: 600_000 });
let done = 0, failed = 0, i = 0;
const t0 = performance.now();
async function worker(): Promise<void> {
  while (i < n) {
    const k = i++;
    try {
      const s = await mux.connect('127.0.0.1', port, { ...o, streamid: `publish:idle/${k}` });
      s.on('error', () => undefined);
      done++;
    } catch {
      failed++;
    }
  }
}
await Promise.all(Array.from({ length: conc }, () => worker()));
const secs = (performance.now() - t0) / 1000;
process.stdout.write(`${JSON.stringify({ connected: done, failed, seconds: secs, perSecond: done / secs })}\n`);
process.on('SIGTERM', () => process.exit(0));
