// Handshake flood: valid SRT induction requests (random caller socket ids, from many source ports)
// and garbage datagrams at a server's port, paced per millisecond. Usage: node flooder-proc.js
// <port> <inductions/s> <garbage/s> <seconds> [sockets]. Prints {inductions, garbage, answers, seconds}.
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { encodeHandshakePacket, HsType, UDT_DGRAM } from '../src/protocol/handshake.js';

const [port, indRate, garbageRate, seconds] = process.argv.slice(2, 6).map(Number) as [number, number, number, number];
const nSockets = Number(process.argv[6] ?? 256);
const socks: dgram.Socket[] = [];
let answers = 0;
for (let i = 0; i < nSockets; i++) {
  const s = dgram.createSocket('udp4');
  s.on('message', () => { answers++; });
  s.on('error', () => {});
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  socks.push(s);
}
const induction = (): Buffer => encodeHandshakePacket({
  version: 4, encryption: 0, extension: UDT_DGRAM, isn: randomBytes(4).readUInt32BE(0) & 0x7fffffff, mss: 1500, flowWindow: 8192,
  type: HsType.Induction, socketId: (randomBytes(4).readUInt32BE(0) & 0x3fffffff) || 1, cookie: 0, peerIp: Buffer.from('0100007f000000000000000000000000', 'hex'), extensions: [],
}, 0, 0);
const garbage = (): Buffer => {
  const b = randomBytes(1 + Math.floor(Math.random() * 1500));
  if (b.length >= 16 && Math.random() < 0.5) b.writeUInt32BE(0, 12); // to the listener (destination 0)
  if (b.length >= 16 && Math.random() < 0.25) b[0] = 0x80; // looks like a control packet
  return b;
};
let inductions = 0, garbageSent = 0, k = 0;
const t0 = performance.now();
await new Promise<void>((resolve) => {
  const tick = (): void => {
    const t = (performance.now() - t0) / 1000;
    const end = t >= seconds;
    const tt = Math.min(t, seconds);
    for (const due = Math.floor(tt * indRate); inductions < due; inductions++) socks[k++ % nSockets]!.send(induction(), port, '127.0.0.1');
    for (const due = Math.floor(tt * garbageRate); garbageSent < due; garbageSent++) socks[k++ % nSockets]!.send(garbage(), port, '127.0.0.1');
    if (end) resolve();
    else setTimeout(tick, 1);
  };
  tick();
});
await new Promise((r) => setTimeout(r, 500));
process.stdout.write(`${JSON.stringify({ inductions, garbage: garbageSent, answers, seconds: (performance.now() - t0) / 1000 - 0.5 })}\n`);
for (const s of socks) s.close();
process.exit(0);
