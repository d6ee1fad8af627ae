// One publisher of numbered messages (pattern.ts) at a given rate. Usage: node publisher-proc.js
// <port> <stream> <mbps> <seconds>. Connects, prints "connected", waits for the IPC message "go",
// sends for <seconds>, then (1 s later) prints {sent, sndDrop, sndLoss, retrans} and stays connected until SIGTERM.
import { dial } from '../src/transport/api.js';
import { message, MSG_SIZE } from './pattern.js';

const [port, stream, mbps, seconds] = [Number(process.argv[2]), process.argv[3]!, Number(process.argv[4]), Number(process.argv[5])];
const s = await dial({ host: '127.0.0.1', port, streamid: `publish:${stream}`, latency: 120 });
s.on('error', (e) => { process.stderr.write(`publisher: ${e.message}\n`); process.exit(1); });
process.stdout.write('connected\n');
process.once('message', () => {
  const pps = (mbps * 1e6) / 8 / MSG_SIZE;
  const total = Math.floor(pps * seconds);
  const t0 = performance.now();
  let i = 0;
  const tick = (): void => {
    const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * pps));
    for (; i < due; i++) s.write(message(i));
    if (i < total) setTimeout(tick, 2);
    else setTimeout(() => {
      const st = s.stats();
      process.stdout.write(`${JSON.stringify({ sent: total, sndDrop: st.pktSndDrop, sndLoss: st.pktSndLoss, retrans: st.pktRetrans })}\n`);
    }, 1000);
  };
  tick();
});
process.on('SIGTERM', () => { s.destroy(); process.exit(0); });
