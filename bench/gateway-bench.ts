// Gateway benchmarks (issue 6): UDP → TX gateway → SRT → RX gateway → UDP, lossless throughput of
// one gateway pair and of 20 pairs at once, CPU per gateway; the same chain with srt-live-transmit
// in both places, in the same run.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { cpuSeconds, median, udpDrops } from './util.js';

const here = (f: string): string => fileURLToPath(new URL(f, import.meta.url));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const SECONDS = Number(process.env['BENCH_GW_SECONDS'] ?? 5);
const REPEAT = Math.max(1, Number(process.env['BENCH_GW_REPEAT'] ?? 3));

function waitOut(p: ChildProcess, stream: 'stdout' | 'stderr', re: RegExp, ms = 20_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const t = setTimeout(() => reject(new Error(`timeout waiting for ${re}: ${buf}`)), ms);
    p[stream]!.on('data', (d: Buffer) => {
      buf += d.toString();
      const m = re.exec(buf);
      if (m) { clearTimeout(t); resolve(buf); }
    });
  });
}

interface Scenario { tool: 'sluice' | 'srt-live-transmit'; n: number; mbps: number; lossless: boolean; sent: number; received: number; txCpuPct: number; rxCpuPct: number; kernelDrops: { udpIn: number; srt: number; udpOut: number } }

/** Datagrams the kernel dropped at sockets bound to these local ports, all together. */
function droppedAt(ports: number[]): number {
  return Object.values(udpDrops(ports)).reduce((a, b) => a + b, 0);
}

async function scenario(tool: Scenario['tool'], n: number, mbps: number, base: number): Promise<Scenario> {
  const udpIn = Array.from({ length: n }, (_, i) => base + i);
  const srt = Array.from({ length: n }, (_, i) => base + 100 + i);
  const udpOut = Array.from({ length: n }, (_, i) => base + 200 + i);
  const procs: ChildProcess[] = [];
  const counter = spawn(process.execPath, [here('./countmulti.js'), udpOut.join(',')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let countText = '';
  counter.stderr!.on('data', (d: Buffer) => { countText += d.toString(); });
  await waitOut(counter, 'stderr', /ready/).catch(() => undefined);
  let rx: ChildProcess[], tx: ChildProcess[];
  if (tool === 'sluice') {
    const rxSpecs = srt.map((p, i) => ({ kind: 'rx', config: { ServiceName: `rx${i}`, Mode: 'listener', ListenPort: p, UdpOut: `127.0.0.1:${udpOut[i]}`, Latency: 120 } }));
    const txSpecs = srt.map((p, i) => ({ kind: 'tx', config: { ServiceName: `tx${i}`, Mode: 'caller', RxIp: '127.0.0.1', ListenPort: p, UdpIn: `127.0.0.1:${udpIn[i]}`, Latency: 120 } }));
    rx = [spawn(process.execPath, [here('./gateway-proc.js'), JSON.stringify(rxSpecs)], { stdio: ['ignore', 'pipe', 'inherit'] })];
    await waitOut(rx[0]!, 'stdout', /ready/);
    tx = [spawn(process.execPath, [here('./gateway-proc.js'), JSON.stringify(txSpecs)], { stdio: ['ignore', 'pipe', 'inherit'] })];
    await waitOut(tx[0]!, 'stdout', /ready/);
  } else {
    rx = srt.map((p, i) => spawn('srt-live-transmit', ['-q', `srt://:${p}?mode=listener&latency=120`, `udp://127.0.0.1:${udpOut[i]}`], { stdio: 'ignore' }));
    await sleep(300);
    tx = srt.map((p, i) => spawn('srt-live-transmit', ['-q', `udp://127.0.0.1:${udpIn[i]}?rcvbuf=4194304`, `srt://127.0.0.1:${p}?mode=caller&latency=120`], { stdio: 'ignore' }));
  }
  procs.push(counter, ...rx, ...tx);
  await sleep(1500); // callers connected
  const cpu0 = [...tx, ...rx].map((p) => cpuSeconds(p.pid!));
  const gen = spawn(process.execPath, [here('./udpgen.js'), String(mbps), String(SECONDS), udpIn.join(',')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let genText = '';
  gen.stderr!.on('data', (d: Buffer) => { genText += d.toString(); });
  await new Promise((r) => gen.on('exit', r));
  const cpu1 = [...tx, ...rx].map((p) => cpuSeconds(p.pid!));
  await sleep(500);
  const kernelDrops = { udpIn: droppedAt(udpIn), srt: droppedAt(srt), udpOut: droppedAt(udpOut) };
  const counted = new Promise((r) => counter.on('exit', r));
  counter.kill('SIGTERM');
  await counted;
  for (const p of [...tx, ...rx]) p.kill('SIGTERM'); // Sluice gateways report input they had to drop
  await sleep(300);
  for (const p of procs) p.kill('SIGKILL');
  const sent = (JSON.parse(genText.trim().split('\n').pop()!) as { sent: number }).sent;
  const per = JSON.parse(countText.trim().split('\n').pop()!) as { received: number; missing: number; outOfOrder: number }[];
  const received = per.reduce((a, s) => a + s.received, 0);
  const lossless = per.every((s) => s.received === sent && s.missing === 0 && s.outOfOrder === 0);
  const cpuOf = (from: number, to: number): number => cpu1.slice(from, to).reduce((a, c, i) => a + c - cpu0[from + i]!, 0);
  const txCpu = cpuOf(0, tx.length), rxCpu = cpuOf(tx.length, tx.length + rx.length);
  return { tool, n, mbps, lossless, sent: sent * n, received, kernelDrops, txCpuPct: (txCpu / SECONDS / n) * 100, rxCpuPct: (rxCpu / SECONDS / n) * 100 };
}

export async function gatewayBench(): Promise<string[]> {
  // all ports below the ephemeral range (32768–60999): 24 scenarios × 400 from here stay under 31000
  let base = 20000 + Math.floor(Math.random() * 100) * 10;
  const plan: [number, number][] = (process.env['BENCH_GW_PLAN'] ?? '1x100,1x300,1x400,20x10').split(',').map((x) => x.split('x').map(Number) as [number, number]);
  const groups: Scenario[][] = [];
  for (const [n, mbps] of plan) {
    const byTool = new Map<string, Scenario[]>();
    for (let rep = 0; rep < REPEAT; rep++) {
      for (const tool of ['sluice', 'srt-live-transmit'] as const) {
        const r = await scenario(tool, n, mbps, base);
        base += 400;
        byTool.set(tool, [...(byTool.get(tool) ?? []), r]);
        process.stderr.write(`gateways ${tool} ${n}x${mbps} Mbit/s: ${r.received}/${r.sent} ${r.lossless ? 'lossless' : 'LOSS'} cpu/gateway tx ${r.txCpuPct.toFixed(1)}% rx ${r.rxCpuPct.toFixed(1)}% kernel drops udp-in ${r.kernelDrops.udpIn} srt ${r.kernelDrops.srt} udp-out ${r.kernelDrops.udpOut}\n`);
      }
    }
    groups.push(...byTool.values());
  }
  return [
    `Gateways: UDP → TX gateway (caller) → SRT → RX gateway (listener) → UDP on loopback, ${SECONDS} s per run, ${REPEAT} runs per line (the two tools alternating), numbered 1316-byte datagrams checked for loss and order. CPU is per gateway, % of one core, median of the runs (Sluice: all gateways of a kind in one process; srt-live-transmit: one process per gateway). Delivered and kernel drops are the worst run's.`,
    '',
    '| gateways × rate | tool | lossless runs | delivered (worst run) | CPU per TX gateway | CPU per RX gateway | kernel drops (UDP in / SRT / UDP out) |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...groups.map((g) => {
      const r = g.reduce((a, b) => (b.sent - b.received > a.sent - a.received ? b : a));
      const ok = g.filter((x) => x.lossless).length;
      return `| ${r.n} × ${r.mbps} Mbit/s | ${r.tool} | ${ok === g.length ? `**${ok} of ${g.length}**` : `${ok} of ${g.length}`} | ${r.received}/${r.sent} | ${median(g.map((x) => x.txCpuPct)).toFixed(1)} % | ${median(g.map((x) => x.rxCpuPct)).toFixed(1)} % | ${r.kernelDrops.udpIn} / ${r.kernelDrops.srt} / ${r.kernelDrops.udpOut} |`;
    }),
  ];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  gatewayBench().then((l) => process.stdout.write(`${l.join('\n')}\n`), (e: unknown) => { process.stderr.write(`gateway bench: ${(e as Error).message}\n`); process.exit(1); });
}
