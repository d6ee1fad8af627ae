// Control-plane benchmarks (issue 5): how fast `sluice serve` is ready, and API latency at a fixed
// 500 requests/s (autocannon) while 50 streams flow through its SRT server.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';

const here = (f: string): string => fileURLToPath(new URL(f, import.meta.url));
const CLI = here('../src/cli/main.js');
const STREAMS = Number(process.env['BENCH_API_STREAMS'] ?? 50);
const RATE = Number(process.env['BENCH_API_RATE'] ?? 500);
const SECONDS = Number(process.env['BENCH_API_SECONDS'] ?? 10);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function waitLine(p: ChildProcess, re: RegExp, ms = 30_000): Promise<void> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const t = setTimeout(() => reject(new Error(`timeout waiting for ${re}: ${buf}`)), ms);
    p.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      if (re.test(buf)) { clearTimeout(t); resolve(); }
    });
  });
}

async function startServe(dataDir: string, httpPort: number, srtPort: number): Promise<{ proc: ChildProcess; readyMs: number }> {
  const t0 = performance.now();
  const proc = spawn(process.execPath, [CLI, 'serve', '--data-dir', dataDir, '--http-addr', `127.0.0.1:${httpPort}`, '--srt-port', String(srtPort), '--admin-password', 'bench-admin-pass', '--log-level', 'silent'], { stdio: ['ignore', 'pipe', 'inherit'] });
  await waitLine(proc, /REST API on/);
  return { proc, readyMs: performance.now() - t0 };
}

async function stop(p: ChildProcess): Promise<void> {
  const done = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  await done;
}

interface Latency { p50: number; p90: number; p99: number; max: number; rps: number; errors: number; non2xx: number }

async function load(url: string, headers: Record<string, string>): Promise<Latency> {
  const r = await autocannon({ url, headers, connections: 20, overallRate: RATE, duration: SECONDS });
  return { p50: r.latency.p50, p90: r.latency.p90, p99: r.latency.p99, max: r.latency.max, rps: r.requests.average, errors: r.errors, non2xx: r.non2xx };
}

export async function apiBench(): Promise<string[]> {
  const base = 25000 + Math.floor(Math.random() * 1000);
  const [httpPort, srtPort] = [base, base + 1];
  // ready time: a fresh data directory (migrations, admin user, default server) and a second start
  const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-'));
  const first = await startServe(dir, httpPort, srtPort);
  await stop(first.proc);
  const second = await startServe(dir, httpPort, srtPort);
  const proc = second.proc;
  let pubs: ChildProcess | null = null;
  try {
    const api = `http://127.0.0.1:${httpPort}`;
    const login = await fetch(`${api}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: 'bench-admin-pass' }) });
    const token = ((await login.json()) as { token: string }).token;
    const headers = { authorization: `Bearer ${token}` };
    pubs = spawn(process.execPath, [here('./publishers-proc.js'), String(srtPort), 'bench/s', String(STREAMS), '1'], { stdio: ['ignore', 'pipe', 'inherit'] });
    await waitLine(pubs, /ready/, 60_000);
    await sleep(1000);
    const servers = (await (await fetch(`${api}/api/v1/servers`, { headers })).json()) as { id: number; streams: string[] }[];
    const flowing = servers[0]!.streams.length;
    const list = await load(`${api}/api/v1/servers`, headers);
    const streams = await load(`${api}/api/v1/servers/${servers[0]!.id}/streams`, headers);
    const health = await load(`${api}/healthz`, {});
    const row = (name: string, l: Latency): string => `| ${name} | ${l.rps.toFixed(0)} | ${l.p50} | ${l.p90} | ${l.p99} | ${l.max} | ${l.errors + l.non2xx} |`;
    return [
      `Control plane (\`sluice serve\`, ${flowing} streams of 1 Mbit/s flowing through its SRT server, ${RATE} requests/s for ${SECONDS} s per route, autocannon 20 connections):`,
      '',
      `Ready (process spawn → "REST API on" printed): first start on an empty data directory ${first.readyMs.toFixed(0)} ms, restart ${second.readyMs.toFixed(0)} ms.`,
      '',
      '| route | requests/s | p50 ms | p90 ms | p99 ms | max ms | errors |',
      '| --- | --- | --- | --- | --- | --- | --- |',
      row('GET /api/v1/servers', list),
      row('GET /api/v1/servers/:id/streams (50 streams with statistics)', streams),
      row('GET /healthz', health),
    ];
  } finally {
    if (pubs) await stop(pubs);
    await stop(proc);
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  apiBench().then((lines) => process.stdout.write(`${lines.join('\n')}\n`), (e: unknown) => {
    process.stderr.write(`api bench: ${(e as Error).message}\n`);
    process.exit(1);
  });
}
