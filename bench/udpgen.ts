// Paced UDP generator: numbered 1316-byte datagrams to each of several ports at <mbps> each.
// Usage: node udpgen.js <mbps each> <seconds> <port,port,...> [stamp]. Prints {sent} (per port) at
// the end. With `stamp`, bytes 4..11 of each datagram carry its send time (float64, ms since the
// epoch: performance.timeOrigin + performance.now()) for end-to-end delays.
import dgram from 'node:dgram';

const mbps = Number(process.argv[2]);
const seconds = Number(process.argv[3]);
const ports = process.argv[4]!.split(',').map(Number);
const stamp = process.argv[5] === 'stamp';
const SIZE = 1316;
const pps = (mbps * 1e6) / 8 / SIZE;
const total = Math.floor(pps * seconds);
const sock = dgram.createSocket('udp4');
sock.bind(0, '127.0.0.1', () => {
  sock.setSendBufferSize(8 * 1024 * 1024);
  const pattern = Buffer.alloc(SIZE);
  for (let j = 0; j < SIZE; j++) pattern[j] = (j * 7) & 0xff;
  let i = 0;
  const start = performance.now();
  const tick = (): void => {
    const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * pps));
    for (; i < due; i++) {
      for (const p of ports) {
        const b = Buffer.from(pattern);
        b.writeUInt32BE(i, 0);
        if (stamp) b.writeDoubleBE(performance.timeOrigin + performance.now(), 4);
        sock.send(b, p, '127.0.0.1');
      }
    }
    if (i >= total) {
      setTimeout(() => { process.stderr.write(`${JSON.stringify({ sent: total })}\n`); process.exit(0); }, 500);
      return;
    }
    setTimeout(tick, 1);
  };
  tick();
});
