// Server benchmarks (issues 4 and 13): fan-out of one 4 Mbit/s publisher to N players by worker count, memory per idle
// connection with 5,000 idle connections on one port, and handshakes per second.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import { cpuSeconds, heapAfterGc, percentile, rssBytes, waitLine } from './util.js';

const here = (f: string): string => fileURLToPath(new URL(f, import.meta.url));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** Player counts of the fan-out runs; `BENCH_PLAYERS=` (empty) skips the fan-out (idle part only). */
const PLAYERS = (process.env['BENCH_PLAYERS'] ?? '100,200,300,400').split(',').map(Number).filter((n) => n > 0);
const WORKERS = (process.env['BENCH_WORKERS'] ?? '1,2').split(',').map(Number);
/** SRT latency of the publisher and the players, ms: the end-to-end floor is twice it (two TSBPD hops). */
const LATENCY = Number(process.env['BENCH_LATENCY'] ?? 120);
const CLI = here('../src/cli/main.js');
const IDLE = Number(process.env['BENCH_IDLE'] ?? 5000);
/** Idle CPU is read over IDLE_WINDOW_MS, starting IDLE_SETTLE_MS after the last handshake. */
const IDLE_SETTLE_MS = Number(process.env['BENCH_IDLE_SETTLE_MS'] ?? 12_000);
const IDLE_WINDOW_MS = Number(process.env['BENCH_IDLE_WINDOW_MS'] ?? 10_000);
const FANOUT_SECONDS = Number(process.env['BENCH_FANOUT_SECONDS'] ?? 15);

async function startServer(port: number, nodeArgs: string[] = []): Promise<ChildProcess> {
  const s = spawn(process.execPath, [...nodeArgs, here('./server-proc.js'), String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  await waitLine(s, /ready/);
  return s;
}

interface FanoutResult {
  n: number;
  workers: number;
  sent: number;
  /** Players that received every message, in order. */
  zeroLoss: number;
  minReceived: number;
  p50: number;
  p99: number;
  max: number;
  serverCpuPct: number;
  serverRssMiB: number;
  playersCpuPct: number;
}


/**
 * One publisher, N players: `sluice srt-server --workers W`; srt-live-transmit publishes what a
 * paced generator sends it (numbered, time-stamped 1316-byte datagrams at 4 Mbit/s); the players
 * are Sluice callers in one other process (players-proc.ts) that count every message and its
 * end-to-end delay. Server CPU (all threads) is measured over the sending window, RSS at its end.
 */
async function fanout(n: number, workers: number, port: number): Promise<FanoutResult> {
  const server = spawn(process.execPath, [CLI, 'srt-server', '--addr', `127.0.0.1:${port}`, '--workers', String(workers), '--logtopics', 'none'], { stdio: ['ignore', 'ignore', 'pipe'] });
  const procs: ChildProcess[] = [server];
  try {
    await waitLine(server, /listening/, 30_000, 'stderr');
    const udpIn = port + 1000;
    const pub = spawn('srt-live-transmit', ['-q', `udp://127.0.0.1:${udpIn}?rcvbuf=4194304`, `srt://127.0.0.1:${port}?streamid=publish:bench/fan&latency=${LATENCY}`], { stdio: 'ignore' });
    procs.push(pub);
    await sleep(1000);
    const players = spawn(process.execPath, [here('./players-proc.js'), String(port), 'bench/fan', String(n), String(LATENCY)], { stdio: ['ignore', 'pipe', 'inherit'] });
    procs.push(players);
    await waitLine(players, /ready/, 300_000);
    const pps = 4e6 / 8 / 1316;
    const total = Math.floor(pps * FANOUT_SECONDS);
    const c0 = cpuSeconds(server.pid!);
    const t0 = performance.now();
    const gen = spawn(process.execPath, [here('./udpgen.js'), '4', String(FANOUT_SECONDS), String(udpIn), 'stamp'], { stdio: ['ignore', 'ignore', 'pipe'] });
    procs.push(gen);
    await new Promise((r) => gen.once('exit', r));
    const elapsed = (performance.now() - t0) / 1000;
    const c1 = cpuSeconds(server.pid!);
    const rss = rssBytes(server.pid!);
    await sleep(2 * LATENCY + 1500);
    const out = waitLine(players, /counts/, 30_000);
    players.kill('SIGTERM');
    const r = JSON.parse(await out) as { counts: number[]; gaps: number[]; hist: Record<string, number>; maxDelay: number; cpuSeconds: number };
    const zeroLoss = r.counts.filter((c, i) => c === total && r.gaps[i] === 0).length;
    return {
      n, workers, sent: total, zeroLoss, minReceived: Math.min(...r.counts),
      p50: percentile(r.hist, 0.5), p99: percentile(r.hist, 0.99), max: r.maxDelay,
      serverCpuPct: ((c1 - c0) / elapsed) * 100, serverRssMiB: rss / 2 ** 20,
      playersCpuPct: (r.cpuSeconds / elapsed) * 100,
    };
  } finally {
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGTERM');
    await sleep(500);
  }
}

async function idle(port: number): Promise<{ connections: number; rssPerConnKiB: number; liveRssPerConnKiB: number; heapPerConnKiB: number; externalPerConnKiB: number; handshakesPerSecond: number; serverCpuIdlePct: number }> {
  // the inspector lets the bench force a full GC: RSS and live memory without the garbage of the handshakes
  const inspect = port + 1;
  const server = await startServer(port, [`--inspect=127.0.0.1:${inspect}`]);
  await sleep(500);
  const rss0 = rssBytes(server.pid!);
  const h0 = await heapAfterGc(inspect);
  const client = spawn(process.execPath, ['--max-old-space-size=4096', here('./idle-proc.js'), String(port), String(IDLE), '64'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await waitLine(client, /perSecond/, 180_000);
  const res = JSON.parse(line) as { connected: number; failed: number; perSecond: number };
  // steady state: the first seconds after a burst of handshakes still carry its aftermath (the
  // listener's remembered answers expiring, first timers), which read ~20 % for 1,000 connections
  await sleep(IDLE_SETTLE_MS);
  const rss1 = rssBytes(server.pid!);
  const c0 = cpuSeconds(server.pid!);
  await sleep(IDLE_WINDOW_MS);
  const c1 = cpuSeconds(server.pid!);
  const h1 = await heapAfterGc(inspect);
  client.kill('SIGTERM');
  server.kill('SIGTERM');
  await sleep(300);
  const per = (a: number, b: number): number => (b - a) / res.connected / 1024;
  return { connections: res.connected, rssPerConnKiB: per(rss0, rss1), liveRssPerConnKiB: per(h0.rss, h1.rss), heapPerConnKiB: per(h0.heapUsed, h1.heapUsed), externalPerConnKiB: per(h0.external, h1.external), handshakesPerSecond: res.perSecond, serverCpuIdlePct: ((c1 - c0) / (IDLE_WINDOW_MS / 1000)) * 100 };
}

export async function serverBench(): Promise<string[]> {
  let port = 26000 + Math.floor(Math.random() * 1000);
  const fan: FanoutResult[] = [];
  const load = (): string => os.loadavg().map((x) => x.toFixed(1)).join(' ');
  const loads: string[] = [];
  for (const w of WORKERS) {
    let failures = 0;
    for (const n of PLAYERS) {
      const before = load();
      const r = await fanout(n, w, port);
      port += 2;
      fan.push(r);
      loads.push(`${before} → ${load()}`);
      process.stderr.write(`fan-out 4 Mbit/s, workers ${w} → ${n} players: ${r.zeroLoss}/${n} zero-loss (min received ${r.minReceived}/${r.sent}), delay p50 ${r.p50} p99 ${r.p99} max ${r.max.toFixed(0)} ms, server CPU ${r.serverCpuPct.toFixed(0)} % RSS ${r.serverRssMiB.toFixed(0)} MiB, players process CPU ${r.playersCpuPct.toFixed(0)} %, load ${loads[loads.length - 1]}\n`);
      if (r.zeroLoss < n && ++failures >= 2) break;
    }
  }
  const id = await idle(port++);
  process.stderr.write(`idle: ${id.connections} connections, ${id.rssPerConnKiB.toFixed(1)} KiB RSS each (${id.liveRssPerConnKiB.toFixed(1)} after a full GC: heap ${id.heapPerConnKiB.toFixed(1)}, external ${id.externalPerConnKiB.toFixed(1)}), ${id.handshakesPerSecond.toFixed(0)} handshakes/s, idle CPU ${id.serverCpuIdlePct.toFixed(0)} %\n`);
  const cmd = `BENCH_ONLY=server BENCH_WORKERS=${WORKERS.join(',')} BENCH_PLAYERS=${PLAYERS.join(',')} BENCH_FANOUT_SECONDS=${FANOUT_SECONDS} BENCH_LATENCY=${LATENCY} npm run bench`;
  return [
    `Fan-out of one 4 Mbit/s publisher (srt-live-transmit fed numbered, time-stamped 1316-byte datagrams for ${FANOUT_SECONDS} s) through \`sluice srt-server --workers W\` to N players (Sluice callers acknowledging as libsrt does, all in one other process); latency ${LATENCY} ms on both hops, so the end-to-end floor is ${2 * LATENCY} ms. ${os.availableParallelism()} cores; \`${cmd}\`.`,
    '',
    '| workers | players | zero-loss players | min received | delay p50 / p99 / max (ms) | server CPU (% of one core) | server RSS (MiB) | players process CPU (%) | load average before → after |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...fan.map((r, i) => `| ${r.workers} | ${r.n} | ${r.zeroLoss} | ${r.minReceived}/${r.sent} | ${r.p50} / ${r.p99} / ${r.max.toFixed(0)} | ${r.serverCpuPct.toFixed(0)} | ${r.serverRssMiB.toFixed(0)} | ${r.playersCpuPct.toFixed(0)} | ${loads[i]} |`),
    '',
    `| idle connections on one port | RSS per connection | RSS per connection after a full GC | live heap / external memory per connection | handshakes per second (64 concurrent callers) | server CPU while idle |`,
    '| --- | --- | --- | --- | --- | --- |',
    `| ${id.connections} | ${id.rssPerConnKiB.toFixed(1)} KiB | ${id.liveRssPerConnKiB.toFixed(1)} KiB | ${id.heapPerConnKiB.toFixed(1)} / ${id.externalPerConnKiB.toFixed(1)} KiB | ${id.handshakesPerSecond.toFixed(0)} | ${id.serverCpuIdlePct.toFixed(0)} % |`,
  ];
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  serverBench().then((lines) => process.stdout.write(`${lines.join('\n')}\n`), (e: unknown) => { process.stderr.write(`${String(e)}\n`); process.exit(1); });
}
