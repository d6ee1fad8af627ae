// N publishers in one process, each sending numbered 1316-byte messages at a given rate.
// Usage: node publishers-proc.js <port> <prefix> <n> <mbps each>. Prints "ready" once all are connected.
import { dial } from '../src/transport/api.js';
import type { SrtSocket } from '../src/transport/socket.js';

const [port, prefix, n, mbps] = [Number(process.argv[2]), process.argv[3]!, Number(process.argv[4]), Number(process.argv[5])];
const socks: SrtSocket[] = [];
for (let i = 0; i < n; i++) socks.push(await dial({ host: '127.0.0.1', port, streamid: `publish:${prefix}/${i}`, latency: 120 }));
process.stdout.write('ready\n');
const pps = (mbps * 1e6) / 8 / 1316;
const payload = Buffer.alloc(1316, 0x47);
let seq = 0;
const start = performance.now();
setInterval(() => {
  const due = Math.floor(((performance.now() - start) / 1000) * pps);
  for (; seq < due; seq++) {
    payload.writeUInt32BE(seq, 4);
    for (const s of socks) s.write(Buffer.from(payload));
  }
}, 5);
process.on('SIGTERM', () => process.exit(0));
