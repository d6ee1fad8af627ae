// Server benchmarks (issue 4): fan-out of one 4 Mbit/s publisher to N players, memory per idle
// connection with 5,000 idle connections on one port, and handshakes per second.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dial } from '../src/transport/api.js';
import { cpuSeconds } from './util.js';

const here = (f: string): string => fileURLToPath(new URL(f, import.meta.url));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const PLAYERS = (process.env['BENCH_PLAYERS'] ?? '50,100,150,200,300').split(',').map(Number);
const IDLE = Number(process.env['BENCH_IDLE'] ?? 5000);
const FANOUT_SECONDS = Number(process.env['BENCH_FANOUT_SECONDS'] ?? 5);

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

function waitLine(p: ChildProcess, re: RegExp, ms = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const t = setTimeout(() => reject(new Error(`timeout waiting for ${re}`)), ms);
    p.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const line = buf.split('\n').find((l) => re.test(l));
      if (line) { clearTimeout(t); resolve(line); }
    });
  });
}

async function startServer(port: number): Promise<ChildProcess> {
  const s = spawn(process.execPath, [here('./server-proc.js'), String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  await waitLine(s, /ready/);
  return s;
}

async function fanout(n: number, port: number): Promise<{ n: number; lossless: boolean; sent: number; minReceived: number; gaps: number; serverCpuPct: number }> {
  const server = await startServer(port);
  const pub = await dial({ host: '127.0.0.1', port, streamid: 'publish:bench/fan', latency: 120 });
  const players = spawn(process.execPath, [here('./players-proc.js'), String(port), 'bench/fan', String(n)], { stdio: ['ignore', 'pipe', 'inherit'] });
  await waitLine(players, /ready/, 120_000);
  const pps = 4e6 / 8 / 1316;
  const total = Math.floor(pps * FANOUT_SECONDS);
  const c0 = cpuSeconds(server.pid!);
  const t0 = performance.now();
  let i = 0;
  while (i < total) {
    const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * pps));
    for (; i < due; i++) {
      const m = Buffer.alloc(1316, i & 0xff);
      m.writeUInt32BE(i, 0);
      pub.write(m);
    }
    await sleep(2);
  }
  const elapsed = (performance.now() - t0) / 1000;
  const c1 = cpuSeconds(server.pid!);
  await sleep(800);
  const out = waitLine(players, /counts/);
  players.kill('SIGTERM');
  const r = JSON.parse(await out) as { counts: number[]; gaps: number[] };
  pub.destroy();
  server.kill('SIGTERM');
  await sleep(300);
  const minReceived = Math.min(...r.counts);
  const gaps = r.gaps.reduce((a, b) => a + b, 0);
  return { n, lossless: minReceived === total && gaps === 0, sent: total, minReceived, gaps, serverCpuPct: ((c1 - c0) / elapsed) * 100 };
}

async function idle(port: number): Promise<{ connections: number; rssPerConnKiB: number; handshakesPerSecond: number; serverCpuIdlePct: number }> {
  const server = await startServer(port);
  await sleep(500);
  const rss0 = rssBytes(server.pid!);
  const client = spawn(process.execPath, ['--max-old-space-size=4096', here('./idle-proc.js'), String(port), String(IDLE), '64'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await waitLine(client, /perSecond/, 180_000);
  const res = JSON.parse(line) as { connected: number; failed: number; perSecond: number };
  await sleep(3000);
  const rss1 = rssBytes(server.pid!);
  const c0 = cpuSeconds(server.pid!);
  await sleep(3000);
  const c1 = cpuSeconds(server.pid!);
  client.kill('SIGTERM');
  server.kill('SIGTERM');
  await sleep(300);
  return { connections: res.connected, rssPerConnKiB: (rss1 - rss0) / res.connected / 1024, handshakesPerSecond: res.perSecond, serverCpuIdlePct: ((c1 - c0) / 3) * 100 };
}

export async function serverBench(): Promise<string[]> {
  let port = 26000 + Math.floor(Math.random() * 1000);
  const fan = [];
  let failures = 0;
  for (const n of PLAYERS) {
    const r = await fanout(n, port++);
    fan.push(r);
    process.stderr.write(`fan-out 4 Mbit/s → ${n} players: ${r.lossless ? 'lossless' : 'LOSS'} (min received ${r.minReceived}/${r.sent}, gaps ${r.gaps}), server CPU ${r.serverCpuPct.toFixed(0)} %\n`);
    if (!r.lossless && ++failures >= 2) break;
  }
  const id = await idle(port++);
  process.stderr.write(`idle: ${id.connections} connections, ${id.rssPerConnKiB.toFixed(1)} KiB RSS each, ${id.handshakesPerSecond.toFixed(0)} handshakes/s, idle CPU ${id.serverCpuIdlePct.toFixed(0)} %\n`);
  const best = fan.filter((r) => r.lossless).map((r) => r.n);
  return [
    '| fan-out of one 4 Mbit/s publisher | players | lossless | server CPU (% of one core) |',
    '| --- | --- | --- | --- |',
    ...fan.map((r) => `| | ${r.n} | ${r.lossless ? 'yes' : `no (min ${r.minReceived}/${r.sent})`} | ${r.serverCpuPct.toFixed(0)} |`),
    '',
    `Largest lossless fan-out: ${best.length ? Math.max(...best) : 0} players.`,
    '',
    `| idle connections on one port | RSS per connection | handshakes per second (64 concurrent callers) | server CPU while idle |`,
    '| --- | --- | --- | --- |',
    `| ${id.connections} | ${id.rssPerConnKiB.toFixed(1)} KiB | ${id.handshakesPerSecond.toFixed(0)} | ${id.serverCpuIdlePct.toFixed(0)} % |`,
  ];
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  serverBench().then((lines) => process.stdout.write(`${lines.join('\n')}\n`), (e: unknown) => { process.stderr.write(`${String(e)}\n`); process.exit(1); });
}
