// npm run bench: one SRT connection on loopback, Sluice and srt-live-transmit in every pairing.
// For each pairing, the highest rate carried with zero loss, and CPU time per packet on each side.
// Sender tools read a paced stdin pipe; receiver tools send UDP to a counter (same I/O for all).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import { serverBench } from './server-bench.js';
import { apiBench } from './api-bench.js';
import { gatewayBench } from './gateway-bench.js';
import { fecBench } from './fec-bench.js';
import { gopBench } from './gop-bench.js';
import { coldBench } from './cold-bench.js';
import { fileBench } from './file-bench.js';
import { scaleBench } from './scale-bench.js';
import { cpuSeconds, median, udpDrops } from './util.js';

const here = (f: string): string => fileURLToPath(new URL(f, import.meta.url));
const CLI = here('../src/cli/main.js');
const GEN = here('./gen.js');
const COUNT = here('./count.js');
const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 4);
const RATES = (process.env['BENCH_RATES'] ?? '100,200,300,400,500,600,700,800').split(',').map(Number);
/**
 * Steady-state CPU is measured after a warm-up counted in packets, because V8 optimises a
 * function after a number of calls, not after a time: at 100 Mbit/s the code run per ACK or per
 * timer tick (a few hundred times a second) is still being compiled seconds after the data
 * starts. The warm-up is this many packets, and at least WARMUP_MIN_MS; then SECONDS are measured.
 */
const WARMUP_PKTS = Number(process.env['BENCH_WARMUP_PKTS'] ?? 50_000);
const WARMUP_MIN_MS = 1000;
/** Runs per pair and rate: CPU figures are their median, a rate is lossless only if every run was. */
const REPEAT = Math.max(1, Number(process.env['BENCH_REPEAT'] ?? 3));

type Tool = 'sluice' | 'slt';

const BENCH_PASSPHRASE = 'sluice-bench-passphrase';

function cryptoQuery(keyLen: number): string {
  return keyLen ? `&passphrase=${BENCH_PASSPHRASE}&pbkeylen=${keyLen}` : '';
}

function senderCmd(tool: Tool, port: number, keyLen: number): [string, string[]] {
  const url = `srt://127.0.0.1:${port}?mode=caller&latency=120&rcvbuf=100000000&sndbuf=100000000&fc=100000${cryptoQuery(keyLen)}`;
  return tool === 'sluice'
    ? [process.execPath, [CLI, 'transmit', '-q', '-', url]]
    : ['srt-live-transmit', ['-q', '-chunk', '1316', 'file://con', url]];
}

function receiverCmd(tool: Tool, port: number, udpOut: number, keyLen: number): [string, string[]] {
  const url = `srt://127.0.0.1:${port}?mode=listener&latency=120&rcvbuf=100000000&sndbuf=100000000&fc=100000${cryptoQuery(keyLen)}`;
  const out = `udp://127.0.0.1:${udpOut}?sndbuf=4194304`;
  return tool === 'sluice'
    ? [process.execPath, [CLI, 'transmit', '-q', url, out]]
    : ['srt-live-transmit', ['-q', url, out]];
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function lastJson(s: string): Record<string, number> {
  const lines = s.trim().split('\n').filter((l) => l.startsWith('{'));
  return lines.length ? (JSON.parse(lines[lines.length - 1]!) as Record<string, number>) : {};
}

interface RunResult {
  mbps: number;
  sent: number;
  received: number;
  missing: number;
  /** Datagrams the kernel dropped at the SRT receiver's socket and at the counter's socket. */
  kernelDrops: { srtReceiver: number; counter: number };
  lossless: boolean;
  /** Whole transfer, warm-up included. */
  sndCpuUsPerPkt: number;
  rcvCpuUsPerPkt: number;
  /** Steady state: from the warm-up's end (warmupMs) until the generator stops, per packet of that window. */
  sndSteadyUsPerPkt: number;
  rcvSteadyUsPerPkt: number;
}

/**
 * The runs of one pair at one rate as one result: lossless only if every run was; CPU figures
 * are medians; the counts are the worst run's.
 */
function combine(runs: RunResult[]): RunResult & { repeats: number } {
  const med = (f: (r: RunResult) => number): number => median(runs.map(f));
  const worst = runs.reduce((a, b) => (b.sent - b.received > a.sent - a.received ? b : a));
  return {
    ...worst,
    lossless: runs.every((r) => r.lossless),
    sndCpuUsPerPkt: med((r) => r.sndCpuUsPerPkt),
    rcvCpuUsPerPkt: med((r) => r.rcvCpuUsPerPkt),
    sndSteadyUsPerPkt: med((r) => r.sndSteadyUsPerPkt),
    rcvSteadyUsPerPkt: med((r) => r.rcvSteadyUsPerPkt),
    repeats: runs.length,
  };
}

/** Packets per second of the generator at this rate (1316-byte messages). */
function ppsOf(mbps: number): number {
  return (mbps * 1e6) / 8 / 1316;
}

/** Warm-up before the steady-state window at this rate, ms. */
function warmupMs(mbps: number): number {
  return Math.max(WARMUP_MIN_MS, Math.ceil((WARMUP_PKTS / ppsOf(mbps)) * 1000));
}

async function runOnce(snd: Tool, rcv: Tool, mbps: number, port: number, keyLen: number): Promise<RunResult> {
  const procs: ChildProcess[] = [];
  // below the ephemeral range (32768–60999), where another process's UDP socket bound to port 0 may sit
  const udpOut = port - 10000;
  const counter = spawn(process.execPath, [COUNT, String(udpOut)], { stdio: ['ignore', 'ignore', 'pipe'] });
  const [rc, ra] = receiverCmd(rcv, port, udpOut, keyLen);
  const receiver = spawn(rc, ra, { stdio: ['ignore', 'ignore', 'pipe'] });
  const counterExit = new Promise((r) => counter.on('exit', r));
  let countOut = '';
  counter.stderr!.on('data', (d: Buffer) => { countOut += d.toString(); });
  // the tools' own messages, shown when a run delivers nothing (a failed connection, a port in use)
  let toolErr = '';
  receiver.stderr!.on('data', (d: Buffer) => { toolErr = (toolErr + d.toString()).slice(-2000); });
  procs.push(receiver, counter);
  await sleep(400);
  const [sc, sa] = senderCmd(snd, port, keyLen);
  const sender = spawn(sc, sa, { stdio: ['pipe', 'ignore', 'pipe'] });
  procs.push(sender);
  sender.stderr!.on('data', (d: Buffer) => { toolErr = (toolErr + d.toString()).slice(-2000); });
  await sleep(400); // connected
  const cpuS0 = cpuSeconds(sender.pid!), cpuR0 = cpuSeconds(receiver.pid!);
  const warmup = warmupMs(mbps);
  const gen = spawn(process.execPath, [GEN, String(mbps), String(SECONDS + warmup / 1000)], { stdio: ['ignore', 'pipe', 'pipe'] });
  gen.stdout!.pipe(sender.stdin!);
  let genOut = '';
  gen.stderr!.on('data', (d: Buffer) => { genOut += d.toString(); });
  // the steady-state window starts at the first byte the generator writes
  const steady = new Promise<[number, number, number]>((resolve) => {
    gen.stdout!.once('data', () => {
      const t0 = performance.now();
      setTimeout(() => {
        const a = [cpuSeconds(sender.pid!), cpuSeconds(receiver.pid!), performance.now()] as const;
        setTimeout(() => {
          const dt = (performance.now() - a[2]) / 1000;
          resolve([cpuSeconds(sender.pid!) - a[0], cpuSeconds(receiver.pid!) - a[1], dt]);
        }, SECONDS * 1000 + warmup - (performance.now() - t0));
      }, warmup);
    });
  });
  // read the drop counters while the run goes on: a receiver that exits when its peer shuts down
  // takes its socket, and the socket's counter, with it
  const drops: Record<number, number> = {};
  const readDrops = (): void => {
    for (const [p, n] of Object.entries(udpDrops([port, udpOut]))) drops[Number(p)] = Math.max(drops[Number(p)] ?? 0, n);
  };
  const dropWatch = setInterval(readDrops, 100);
  await new Promise((r) => gen.on('exit', r));
  const [sndSteady, rcvSteady, steadySeconds] = await steady;
  const cpuS1 = cpuSeconds(sender.pid!), cpuR1 = cpuSeconds(receiver.pid!);
  await sleep(300); // latency + tail
  readDrops();
  clearInterval(dropWatch);
  counter.kill('SIGTERM');
  await counterExit;
  for (const p of procs) p.kill('SIGKILL');
  await sleep(200);
  const sent = lastJson(genOut)['sent'] ?? 0;
  const c = lastJson(countOut);
  if (!(c['received'] ?? 0)) process.stderr.write(`nothing arrived: counter said ${JSON.stringify(countOut.trim())}; tools said ${JSON.stringify(toolErr.trim())}\n`);
  const received = c['received'] ?? 0;
  const pkts = Math.max(1, received);
  return {
    mbps,
    sent,
    received,
    missing: c['missing'] ?? 0,
    kernelDrops: { srtReceiver: drops[port] ?? 0, counter: drops[udpOut] ?? 0 },
    lossless: received === sent && sent > 0 && (c['missing'] ?? 0) === 0 && (c['outOfOrder'] ?? 0) === 0,
    sndCpuUsPerPkt: ((cpuS1 - cpuS0) * 1e6) / pkts,
    rcvCpuUsPerPkt: ((cpuR1 - cpuR0) * 1e6) / pkts,
    // the generator is paced: packets in the window = rate × window length
    sndSteadyUsPerPkt: (sndSteady * 1e6) / (steadySeconds * ppsOf(mbps)),
    rcvSteadyUsPerPkt: (rcvSteady * 1e6) / (steadySeconds * ppsOf(mbps)),
  };
}

interface PairResult {
  pair: string;
  maxLosslessMbps: number;
  runs: RunResult[];
}

/** A pair's label for the tables (srt-live-transmit spelt out). */
function name(pair: string): string {
  return pair.replace(/slt/g, 'srt-live-transmit');
}

function cpuTable(results: PairResult[], pick: (r: RunResult) => [number, number]): string[] {
  return [
    `| sender → receiver | ${RATES.join(' | ')} |`,
    `| --- |${RATES.map(() => ' --- |').join('')}`,
    ...results.map((r) => `| ${name(r.pair)} | ${RATES.map((mbps) => {
      const x = r.runs.find((u) => u.mbps === mbps);
      if (!x) return '—';
      const [snd, rcv] = pick(x);
      return `${snd.toFixed(1)} / ${rcv.toFixed(1)}${x.lossless ? '' : ' ✗'}`;
    }).join(' | ')} |`),
  ];
}

/** Sluice ÷ libsrt steady-state CPU per packet for each side (the other side srt-live-transmit in both pairs), by rate. */
function ratioRows(results: PairResult[]): string[] {
  const find = (label: string): PairResult | undefined => results.find((r) => r.pair === label);
  const sides: [string, string, (r: RunResult) => number][] = [
    ['receiver (srt-live-transmit sending)', 'slt -> sluice', (r) => r.rcvSteadyUsPerPkt],
    ['sender (srt-live-transmit receiving)', 'sluice -> slt', (r) => r.sndSteadyUsPerPkt],
  ];
  const libsrt = find('slt -> slt');
  const rows: string[] = [];
  for (const [side, ours, measured] of sides) {
    const a = find(ours);
    if (!a || !libsrt) continue;
    rows.push(`| ${side} | ${RATES.map((mbps) => {
      const x = a.runs.find((u) => u.mbps === mbps), y = libsrt.runs.find((u) => u.mbps === mbps);
      return x && y && x.lossless && y.lossless ? (measured(x) / measured(y)).toFixed(2) : '—';
    }).join(' | ')} |`);
  }
  return rows.length ? [`| Sluice ÷ libsrt | ${RATES.join(' | ')} |`, `| --- |${RATES.map(() => ' --- |').join('')}`, ...rows] : [];
}

async function main(): Promise<void> {
  if (spawnSync('sh', ['-c', 'command -v srt-live-transmit']).status !== 0) {
    throw new Error('srt-live-transmit is not installed (apt-get install -y srt-tools)');
  }
  // [sender, receiver, key length (0 = clear)]
  const pairs: [Tool, Tool, number][] = [
    ['sluice', 'sluice', 0], ['sluice', 'slt', 0], ['slt', 'sluice', 0], ['slt', 'slt', 0],
    ['sluice', 'sluice', 16], ['slt', 'slt', 16], ['sluice', 'sluice', 32], ['slt', 'slt', 32],
  ];
  const only = process.env['BENCH_PAIRS'];
  const part = process.env['BENCH_ONLY']; // 'transport' | 'server' | 'api' | 'gateway' | 'fec' | 'gop' | 'cold' | 'file' | 'scale' | undefined (all)
  const results: PairResult[] = [];
  let port = 24000 + Math.floor(Math.random() * 1000);
  // rates in the outer loop and the pairs inside, each rate REPEAT times: the pairs compared at a
  // rate run close together in time, so a machine that is busier for a while affects them alike
  const active = (part !== undefined && part !== 'transport' ? [] : pairs)
    .map(([s, r, keyLen]) => ({ s, r, keyLen, label: `${s} -> ${r}${keyLen ? ` AES-${keyLen * 8}` : ''}`, failures: 0, result: { pair: '', maxLosslessMbps: 0, runs: [] } as PairResult }))
    .filter((p) => !only || only.split(',').some((o) => p.label.includes(o)));
  for (const p of active) p.result.pair = p.label;
  for (const mbps of RATES) {
    const reps = new Map<string, RunResult[]>();
    for (let rep = 0; rep < REPEAT; rep++) {
      for (const p of active) {
        if (p.failures >= 2) continue;
        const res = await runOnce(p.s, p.r, mbps, port++, p.keyLen);
        reps.set(p.label, [...(reps.get(p.label) ?? []), res]);
        process.stderr.write(`${p.label} @ ${mbps} Mbit/s: ${res.received}/${res.sent} ${res.lossless ? 'lossless' : 'LOSS'} (kernel drops: srt rcv ${res.kernelDrops.srtReceiver}, counter ${res.kernelDrops.counter})  cpu/pkt snd ${res.sndCpuUsPerPkt.toFixed(2)} µs rcv ${res.rcvCpuUsPerPkt.toFixed(2)} µs; steady snd ${res.sndSteadyUsPerPkt.toFixed(2)} µs rcv ${res.rcvSteadyUsPerPkt.toFixed(2)} µs\n`);
      }
    }
    for (const p of active) {
      const runs = reps.get(p.label);
      if (!runs) continue;
      const m = combine(runs);
      p.result.runs.push(m);
      if (m.lossless) p.result.maxLosslessMbps = mbps;
      else p.failures++;
    }
  }
  results.push(...active.map((p) => p.result));
  const cmd = `BENCH_SECONDS=${SECONDS} BENCH_WARMUP_PKTS=${WARMUP_PKTS} BENCH_REPEAT=${REPEAT} BENCH_RATES=${RATES.join(',')} npm run bench`;
  const lines = [
    `| sender → receiver | highest lossless rate (Mbit/s, of ${RATES.join('/')}) |`,
    '| --- | --- |',
    ...results.map((r) => `| ${name(r.pair)} | ${r.maxLosslessMbps} |`),
    '',
    `CPU time per packet in steady state (the last ${SECONDS} s of the input, after a warm-up of ${WARMUP_PKTS} packets and at least ${WARMUP_MIN_MS / 1000} s: ${RATES.map((r) => `${(warmupMs(r) / 1000).toFixed(1)} s at ${r}`).join(', ')}; median of ${REPEAT} runs), µs (sender / receiver process), by rate in Mbit/s; ✗ = loss at that rate:`,
    '',
    ...cpuTable(results, (x) => [x.sndSteadyUsPerPkt, x.rcvSteadyUsPerPkt]),
    '',
    'Steady-state CPU per packet, Sluice ÷ libsrt (ratio of the medians above; — where either pair lost packets):',
    '',
    ...ratioRows(results),
    '',
    `CPU time per packet over the whole transfer (start-up and JIT warm-up included), µs (sender / receiver):`,
    '',
    ...cpuTable(results, (x) => [x.sndCpuUsPerPkt, x.rcvCpuUsPerPkt]),
  ];
  if (part === undefined || part === 'server') lines.push('', ...(await serverBench()));
  if (part === undefined || part === 'api') lines.push('', ...(await apiBench()));
  if (part === undefined || part === 'gateway') lines.push('', ...(await gatewayBench()));
  if (part === undefined || part === 'fec') lines.push('', await fecBench());
  if (part === undefined || part === 'gop') lines.push('', ...(await gopBench()));
  if (part === undefined || part === 'cold') lines.push('', ...(await coldBench()));
  if (part === undefined || part === 'file') lines.push('', ...(await fileBench()));
  if (part === undefined || part === 'scale') lines.push('', ...(await scaleBench()));
  const summary = { date: new Date().toISOString(), cpus: os.cpus().length, node: process.version, seconds: SECONDS, warmupPackets: WARMUP_PKTS, command: cmd, results };
  process.stdout.write(`${lines.join('\n')}\n`);
  writeFileSync('bench-results.json', `${JSON.stringify(summary, null, 2)}\n`);
  process.stderr.write('full results in bench-results.json\n');
}

main().catch((e: unknown) => {
  process.stderr.write(`bench: ${(e as Error).message}\n`);
  process.exit(1);
});
