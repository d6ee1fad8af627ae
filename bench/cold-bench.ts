// Cold-start bursts (issue 13 §2): fresh processes, one connection, a 2-second burst of numbered
// 1316-byte UDP datagrams at full rate from the first packet — the way a gateway or `sluice
// transmit` meets a feed that is already running. Per run:
//   udpgen → [sender tool: udp:// in → srt:// caller] → [receiver tool: srt:// listener → udp:// out] → count
// The pairs: srt-live-transmit → Sluice (Sluice receives), Sluice → srt-live-transmit (Sluice
// sends), and libsrt on both ends; every process is new for every run. A run is lossless when the
// counter got every datagram the generator sent, in order.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import { cpuSeconds, udpDrops, waitLine } from './util.js';

const here = (f: string): string => fileURLToPath(new URL(f, import.meta.url));
const CLI = here('../src/cli/main.js');
const UDPGEN = here('./udpgen.js');
const COUNT = here('./count.js');
const RATES = (process.env['BENCH_COLD_RATES'] ?? '400,500').split(',').map(Number);
const RUNS = Number(process.env['BENCH_COLD_RUNS'] ?? 5);
const BURST_SECONDS = Number(process.env['BENCH_COLD_SECONDS'] ?? 2);
const LATENCY = Number(process.env['BENCH_COLD_LATENCY'] ?? 120);
/** `sluice transmit --warmup N` (unset: its default). */
const WARMUP = process.env['BENCH_COLD_WARMUP'];
const warmArgs = WARMUP !== undefined ? ['--warmup', WARMUP] : [];
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

type Tool = 'sluice' | 'slt';

function sender(tool: Tool, udpIn: number, srtPort: number): ChildProcess {
  const dst = `srt://127.0.0.1:${srtPort}?mode=caller&latency=${LATENCY}`;
  // srt-live-transmit's UDP input needs these above ~100 Mbit/s (TEST-PEERS.md); Sluice's udp://
  // input asks for a 4 MiB receive buffer by default
  return tool === 'sluice'
    ? spawn(process.execPath, [CLI, 'transmit', ...warmArgs, `udp://127.0.0.1:${udpIn}`, dst], { stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn('srt-live-transmit', ['-v', '-buffering', '100', `udp://127.0.0.1:${udpIn}?rcvbuf=4194304`, dst], { stdio: ['ignore', 'pipe', 'pipe'] });
}

function receiver(tool: Tool, srtPort: number, udpOut: number): ChildProcess {
  const src = `srt://127.0.0.1:${srtPort}?mode=listener&latency=${LATENCY}`;
  const dst = `udp://127.0.0.1:${udpOut}`;
  return tool === 'sluice'
    ? spawn(process.execPath, [CLI, 'transmit', ...warmArgs, src, dst], { stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn('srt-live-transmit', ['-v', src, dst], { stdio: ['ignore', 'pipe', 'pipe'] });
}

interface ColdRun { sent: number; received: number; missing: number; drops: { udpIn: number; srt: number; counter: number }; sndCpu: number; rcvCpu: number }

async function once(snd: Tool, rcv: Tool, mbps: number, port: number): Promise<ColdRun> {
  const udpOut = port - 10000, udpIn = port - 9000;
  const procs: ChildProcess[] = [];
  let said = '';
  const keep = (p: ChildProcess): ChildProcess => {
    procs.push(p);
    p.stderr?.on('data', (d: Buffer) => { said = (said + d.toString()).slice(-2000); });
    return p;
  };
  try {
    const counter = keep(spawn(process.execPath, [COUNT, String(udpOut)], { stdio: ['ignore', 'ignore', 'pipe'] }));
    let countOut = '';
    counter.stderr!.on('data', (d: Buffer) => { countOut += d.toString(); });
    const r = keep(receiver(rcv, port, udpOut));
    await sleep(300);
    const s = keep(sender(snd, udpIn, port));
    // connected: both tools say so (srt-live-transmit -v prints "connected"; sluice transmit logs it)
    const either = (p: ChildProcess, re: RegExp): Promise<unknown> => Promise.any([waitLine(p, re, 5000, 'stdout'), waitLine(p, re, 5000, 'stderr')]);
    await Promise.all([either(s, /connected/i), either(r, /connected|accepted/i)]).catch(() => {
      throw new Error(`cold: the tools did not connect; they said ${JSON.stringify(said.trim())}`);
    });
    await sleep(200);
    const c0 = [cpuSeconds(s.pid!), cpuSeconds(r.pid!)];
    const gen = spawn(process.execPath, [UDPGEN, String(mbps), String(BURST_SECONDS), String(udpIn)], { stdio: ['ignore', 'ignore', 'pipe'] });
    procs.push(gen);
    let genOut = '';
    gen.stderr!.on('data', (d: Buffer) => { genOut += d.toString(); });
    const drops: Record<number, number> = {};
    const readDrops = (): void => {
      for (const [p, n] of Object.entries(udpDrops([udpIn, port, udpOut]))) drops[Number(p)] = Math.max(drops[Number(p)] ?? 0, n);
    };
    const watch = setInterval(readDrops, 100);
    await new Promise((res) => gen.on('exit', res));
    await sleep(LATENCY * 2 + 500);
    readDrops();
    clearInterval(watch);
    const c1 = [cpuSeconds(s.pid!), cpuSeconds(r.pid!)];
    const done = new Promise((res) => counter.on('exit', res));
    counter.kill('SIGTERM');
    await done;
    const last = (t: string): Record<string, number> => {
      const l = t.trim().split('\n').filter((x) => x.startsWith('{')).pop();
      return l ? (JSON.parse(l) as Record<string, number>) : {};
    };
    const g = last(genOut), c = last(countOut);
    const sent = g['sent'] ?? 0;
    if (!(c['received'] ?? 0)) process.stderr.write(`cold: nothing arrived; tools said ${JSON.stringify(said.trim())}\n`);
    return { sent, received: c['received'] ?? 0, missing: c['missing'] ?? 0, drops: { udpIn: drops[udpIn] ?? 0, srt: drops[port] ?? 0, counter: drops[udpOut] ?? 0 }, sndCpu: c1[0]! - c0[0]!, rcvCpu: c1[1]! - c0[1]! };
  } finally {
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    await sleep(200);
  }
}

export async function coldBench(): Promise<string[]> {
  const pairs: [Tool, Tool][] = [['slt', 'sluice'], ['sluice', 'slt'], ['slt', 'slt']];
  const label = (p: [Tool, Tool]): string => p.map((t) => (t === 'slt' ? 'srt-live-transmit' : 'Sluice')).join(' → ');
  let port = 23000 + Math.floor(Math.random() * 500) * 2;
  const rows: string[] = [];
  for (const mbps of RATES) {
    const results = new Map<string, ColdRun[]>();
    // the pairs alternate within each round, so a busier moment of the machine hits them alike
    for (let i = 0; i < RUNS; i++) {
      for (const p of pairs) {
        const r = await once(p[0], p[1], mbps, port);
        port += 2;
        results.set(label(p), [...(results.get(label(p)) ?? []), r]);
        process.stderr.write(`cold ${label(p)} @ ${mbps} Mbit/s: ${r.received}/${r.sent}${r.received === r.sent && r.missing === 0 ? ' lossless' : ` LOSS ${(((r.sent - r.received) / Math.max(1, r.sent)) * 100).toFixed(2)} %`} (kernel drops: udp in ${r.drops.udpIn}, srt ${r.drops.srt}, counter ${r.drops.counter}); CPU s sender ${r.sndCpu.toFixed(2)} receiver ${r.rcvCpu.toFixed(2)}\n`);
      }
    }
    for (const p of pairs) {
      const rs = results.get(label(p))!;
      const ok = rs.filter((r) => r.sent > 0 && r.received === r.sent && r.missing === 0).length;
      const worst = Math.max(...rs.map((r) => (r.sent - r.received) / Math.max(1, r.sent)));
      const drops = rs.map((r) => `${r.drops.udpIn}/${r.drops.srt}/${r.drops.counter}`).join(', ');
      const cpu = (f: (r: ColdRun) => number): string => ((rs.reduce((a, r) => a + f(r), 0) / rs.reduce((a, r) => a + r.sent, 0)) * 1e6).toFixed(2);
      rows.push(`| ${label(p)} | ${mbps} | ${ok}/${rs.length} | ${(worst * 100).toFixed(2)} % | ${drops} | ${cpu((r) => r.sndCpu)} / ${cpu((r) => r.rcvCpu)} |`);
    }
  }
  const cmd = `BENCH_ONLY=cold ${WARMUP !== undefined ? `BENCH_COLD_WARMUP=${WARMUP} ` : ''}BENCH_COLD_RATES=${RATES.join(',')} BENCH_COLD_RUNS=${RUNS} BENCH_COLD_SECONDS=${BURST_SECONDS} npm run bench`;
  return [
    `Cold start: fresh processes for every run, a ${BURST_SECONDS}-second burst of 1316-byte UDP datagrams at full rate into the sender's udp:// input (srt:// latency ${LATENCY} ms, other options default), out of the receiver's udp:// output into a counter; ${os.availableParallelism()} cores, load average ${os.loadavg()[0]!.toFixed(1)} at the end; \`${cmd}\`.`,
    '',
    '| sender → receiver | Mbit/s | lossless runs | worst run\'s loss | kernel drops per run (udp in / srt receiver / counter) | CPU per packet of the burst, µs (sender / receiver) |',
    '| --- | --- | --- | --- | --- | --- |',
    ...rows,
  ];
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  coldBench().then((lines) => process.stdout.write(`${lines.join('\n')}\n`), (e: unknown) => { process.stderr.write(`${String(e)}\n`); process.exit(1); });
}
