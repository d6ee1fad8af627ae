// Counts numbered 1316-byte datagrams on several loopback ports; on SIGTERM prints per-port
// {received, missing, outOfOrder}. Usage: node countmulti.js <port,port,...>
import dgram from 'node:dgram';

const ports = process.argv[2]!.split(',').map(Number);
const stats = ports.map(() => ({ received: 0, missing: 0, outOfOrder: 0, expected: 0 }));
let ready = 0;
ports.forEach((port, k) => {
  const s = dgram.createSocket('udp4');
  const st = stats[k]!;
  s.on('message', (m: Buffer) => {
    if (m.length !== 1316) return;
    const idx = m.readUInt32BE(0);
    st.received++;
    if (idx === st.expected) st.expected++;
    else if (idx > st.expected) { st.missing += idx - st.expected; st.expected = idx + 1; }
    else st.outOfOrder++;
  });
  s.bind(port, '127.0.0.1', () => {
    s.setRecvBufferSize(4 * 1024 * 1024);
    if (++ready === ports.length) process.stderr.write('{"ready":1}\n');
  });
});
process.on('SIGTERM', () => {
  process.stderr.write(`${JSON.stringify(stats.map(({ received, missing, outOfOrder }) => ({ received, missing, outOfOrder })))}\n`);
  process.exit(0);
});
