// Counter: receives numbered 1316-byte messages as UDP datagrams on 127.0.0.1:<port>; on SIGTERM
// prints {received, missing, outOfOrder, maxIndex} to stderr. Usage: node count.js <port>
import dgram from 'node:dgram';

const SIZE = 1316;
let received = 0;
let expected = 0;
let missing = 0;
let outOfOrder = 0;
let maxIndex = -1;
const sock = dgram.createSocket('udp4');
sock.on('message', (m: Buffer) => {
  if (m.length !== SIZE) return;
  const idx = m.readUInt32BE(0);
  received++;
  if (idx === expected) expected++;
  else if (idx > expected) { missing += idx - expected; expected = idx + 1; }
  else outOfOrder++;
  if (idx > maxIndex) maxIndex = idx;
});
sock.bind(Number(process.argv[2]), '127.0.0.1', () => {
  sock.setRecvBufferSize(4 * 1024 * 1024);
  process.stderr.write('{"ready":1}\n');
});
function report(): void {
  process.stderr.write(`${JSON.stringify({ received, missing, outOfOrder, maxIndex })}\n`);
  process.exit(0);
}
process.on('SIGTERM', report);
