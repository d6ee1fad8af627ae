// The churn driver: SRT players connecting and disconnecting at a given rate, plus publishers
// coming and going. Usage: node churn-proc.js <port> <cycles/min> <publisher period s>. Two steady
// publishers (soak/churn/steady0, steady1, 1 Mbit/s) stay on; every cycle dials a player of one of
// them (or, one in five, of a coming-and-going publisher's stream that is on), keeps it 0-2 s, closes it.
// Every <period> s a publisher starts on a new stream soak/churn/p<k> for 5-20 s. Prints a JSON line of counters
// every 10 s and on SIGTERM.
import { dial } from '../src/transport/api.js';
import type { SrtSocket } from '../src/transport/socket.js';

const [port, perMin, pubPeriod] = [Number(process.argv[2]), Number(process.argv[3]), Number(process.argv[4])];
const c = { cycles: 0, started: 0, dialFailures: 0, bytes: 0, pubStarts: 0, pubEnds: 0, pubFailures: 0, open: 0 };
const payload = Buffer.alloc(1316, 0x47);
/** Streams of the coming-and-going publishers that are on now (players pick among them). */
const live = new Set<string>();

function publish(stream: string, seconds: number): void {
  dial({ host: '127.0.0.1', port, streamid: `publish:${stream}`, latency: 120 }).then((s: SrtSocket) => {
    c.pubStarts++;
    live.add(stream);
    s.on('error', () => {});
    const timer = setInterval(() => { for (let i = 0; i < 10; i++) s.write(Buffer.from(payload)); }, 100); // ~1 Mbit/s
    const end = (): void => { live.delete(stream); clearInterval(timer); s.destroy(); c.pubEnds++; };
    if (Number.isFinite(seconds)) setTimeout(end, seconds * 1000);
    s.on('close', () => clearInterval(timer));
  }, () => { c.pubFailures++; });
}

publish('soak/churn/steady0', Infinity);
publish('soak/churn/steady1', Infinity);
let pubNo = 0;
setInterval(() => publish(`soak/churn/p${pubNo++}`, 5 + Math.random() * 15), pubPeriod * 1000);

const cycle = (): void => {
  c.started++;
  c.open++;
  const others = [...live].filter((x) => !x.includes('steady'));
  const stream = Math.random() < 0.8 || others.length === 0 ? `soak/churn/steady${Math.floor(Math.random() * 2)}` : others[Math.floor(Math.random() * others.length)]!;
  dial({ host: '127.0.0.1', port, streamid: `read:${stream}`, latency: 120 }).then((s: SrtSocket) => {
    s.on('data', (m: Buffer) => { c.bytes += m.length; });
    s.on('error', () => {});
    setTimeout(() => { s.destroy(); c.open--; c.cycles++; }, Math.random() * 2000);
  }, () => { c.open--; c.dialFailures++; });
};
const t0 = performance.now();
let due = 0;
setInterval(() => {
  const target = Math.floor(((performance.now() - t0) / 60_000) * perMin);
  for (; due < target; due++) cycle();
}, 20);
const report = (): void => { process.stdout.write(`${JSON.stringify(c)}\n`); };
setTimeout(() => process.stdout.write('ready\n'), 0);
setInterval(report, 10_000);
process.on('SIGTERM', () => { report(); process.exit(0); });
