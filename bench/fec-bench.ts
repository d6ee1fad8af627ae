// FEC recovery bench: srt-live-transmit sends through the lossy relay (random loss on the data
// direction) with `fec,cols:10,rows:5,layout:staircase,arq:never`; the receiver is Sluice or
// srt-live-transmit. Reports the messages neither FEC nor anything else recovered.
// Run: npx tsc -p tsconfig.json && BENCH_ONLY=fec npm run bench   (or node dist/bench/fec-bench.js)
import { listen } from '../src/transport/api.js';
import { LossyRelay } from '../test/support/relay.js';
import { freePort, makeMessages, sleep, spawnPeer, udpCollect, udpSendPaced } from '../test/support/peers.js';

const FILTER = process.env['BENCH_FEC_FILTER'] ?? 'fec,cols:10,rows:5,layout:staircase,arq:never';
const N = Number(process.env['BENCH_FEC_PACKETS'] ?? 5000);
const LOSSES = (process.env['BENCH_FEC_LOSS'] ?? '0.01,0.03,0.05').split(',').map(Number);

interface FecRun { receiver: 'sluice' | 'slt'; loss: number; dropped: number; unrecovered: number }

function missing(got: Buffer[]): number {
  const seen = new Set<number>();
  for (const m of got) if (m.length >= 4) { const i = m.readUInt32BE(0); if (i < N) seen.add(i); }
  return N - seen.size;
}

async function once(receiver: 'sluice' | 'slt', loss: number, seed: number): Promise<FecRun> {
  const srtPort = await freePort();
  const udpIn = await freePort();
  const got: Buffer[] = [];
  const out = receiver === 'slt' ? await udpCollect() : null;
  const srv = receiver === 'sluice' ? await listen({ host: '127.0.0.1', port: srtPort, latency: 300, packetfilter: FILTER }) : null;
  srv?.on('connection', (s) => s.on('data', (d: Buffer) => got.push(d)));
  const rcv = out ? spawnPeer('srt-live-transmit', ['-q', `srt://127.0.0.1:${srtPort}?mode=listener&latency=300&packetfilter=${FILTER}`, `udp://127.0.0.1:${out.port}`]) : null;
  const relay = new LossyRelay({ targetPort: srtPort, lossToTarget: 0, lossToClient: 0, seed, dropIf: (m, toTarget) => {
    // random loss on data and FEC packets toward the receiver (the handshake is let through)
    return toTarget && (m[0]! & 0x80) === 0 && rnd() < loss;
  } });
  let s = seed >>> 0;
  const rnd = (): number => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 4294967296; };
  const target = await relay.start();
  await sleep(300);
  const snd = spawnPeer('srt-live-transmit', ['-q', `udp://127.0.0.1:${udpIn}`, `srt://127.0.0.1:${target}?mode=caller&latency=300&packetfilter=${FILTER}`]);
  try {
    await sleep(500);
    await udpSendPaced(udpIn, makeMessages(N + 200), 1000);
    await sleep(1500);
    return { receiver, loss, dropped: relay.dropped.toTarget, unrecovered: missing(out ? out.messages : got) };
  } finally {
    await snd.kill();
    await rcv?.kill();
    relay.close();
    out?.close();
    await srv?.close();
  }
}

export async function fecBench(): Promise<string> {
  const rows: string[] = [];
  for (const loss of LOSSES) {
    const r: FecRun[] = [];
    for (const receiver of ['sluice', 'slt'] as const) {
      const x = await once(receiver, loss, 1000 + Math.round(loss * 1000));
      process.stderr.write(`fec ${FILTER} ${(loss * 100).toFixed(0)} % -> ${receiver}: dropped ${x.dropped}, unrecovered ${x.unrecovered} of ${N}\n`);
      r.push(x);
    }
    rows.push(`| ${(loss * 100).toFixed(0)} % | ${r[0]!.dropped} | ${r[0]!.unrecovered} | ${r[1]!.dropped} | ${r[1]!.unrecovered} |`);
  }
  return [
    `FEC \`${FILTER}\`, srt-live-transmit sending ${N} packets at 1000/s through the relay (random loss of data and FEC packets toward the receiver):`,
    '',
    '| loss | dropped (→ Sluice) | unrecovered, Sluice receiver | dropped (→ srt-live-transmit) | unrecovered, srt-live-transmit receiver |',
    '| --- | --- | --- | --- | --- |',
    ...rows,
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  fecBench().then((t) => { console.log(t); process.exit(0); }, (e) => { console.error(e); process.exit(1); });
}
