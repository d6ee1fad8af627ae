// Control-plane benchmarks (issue 5): how fast `sluice serve` is ready, and API latency at a fixed
// 500 requests/s (open loop, evenly paced) while 50 streams flow through its SRT server.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import http from 'node:http';

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

/**
 * Open-loop load at a fixed rate: one request every 1000/RATE ms on keep-alive connections, each
 * timed from its scheduled send time (so a stalled server is not hidden by fewer requests being
 * sent — no coordinated omission). autocannon's fixed-rate mode sends each second's requests in a
 * burst over all connections, which measures its own queueing rather than the API's latency.
 */
async function load(url: string, headers: Record<string, string>): Promise<Latency> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const u = new URL(url);
  const lat: number[] = [];
  let errors = 0, non2xx = 0, inflight = 0;
  const one = (scheduled: number): void => {
    inflight++;
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname + u.search, headers, agent }, (res) => {
      res.resume();
      res.on('end', () => {
        inflight--;
        if (res.statusCode! < 200 || res.statusCode! > 299) non2xx++;
        lat.push(performance.now() - scheduled);
      });
    });
    req.on('error', () => { inflight--; errors++; });
    req.end();
  };
  const interval = 1000 / RATE;
  const start = performance.now() + 50;
  const total = RATE * SECONDS;
  let sent = 0;
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = performance.now();
      while (sent < total && start + sent * interval <= now) one(start + sent++ * interval);
      if (sent < total) setTimeout(tick, Math.max(0, Math.min(1, start + sent * interval - performance.now())));
      else resolve();
    };
    tick();
  });
  const end = performance.now() + 5000;
  while (inflight > 0 && performance.now() < end) await sleep(10);
  agent.destroy();
  lat.sort((a, b) => a - b);
  const q = (p: number): number => Math.round((lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] ?? NaN) * 10) / 10;
  return { p50: q(0.5), p90: q(0.9), p99: q(0.99), max: q(1), rps: lat.length / SECONDS, errors, non2xx };
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
      `Control plane (\`sluice serve\`, ${flowing} streams of 1 Mbit/s flowing through its SRT server, ${RATE} requests/s for ${SECONDS} s per route, open loop: one request every ${(1000 / RATE).toFixed(1)} ms on keep-alive connections, latency counted from its scheduled time):`,
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
