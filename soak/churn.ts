// Churn soak (issue 16 §3): `sluice serve` (temporary data directory) while a driver process opens
// and closes 1,000 SRT player connections a minute and publishers come and go, and an API prober
// measures latency per window. RSS and open file descriptors of the serve process are sampled
// every 10 s and must stay flat; no unhandled rejection may be logged; the API p99 of the last
// window must not have grown against the first.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';
import { basePort, envNum, fdCount, heapAfterGc, type HeapReading, here, login, median, mib, node, quantile, rssBytes, sleep, startServe, stop, verdict, waitLine, type PartResult } from './util.js';

export async function churnPart(): Promise<PartResult> {
  const SECONDS = envNum('SOAK_CHURN_SECONDS', 3600);
  const PER_MIN = envNum('SOAK_CHURN_CYCLES_PER_MIN', 1000);
  const PUB_PERIOD = envNum('SOAK_CHURN_PUBLISHER_PERIOD_SECONDS', 10);
  const API_RATE = envNum('SOAK_CHURN_API_RATE', 20);
  const WINDOW = envNum('SOAK_CHURN_WINDOW_SECONDS', 60);
  const SAMPLE = envNum('SOAK_CHURN_SAMPLE_SECONDS', 10);
  const RSS_TOL_MIB = envNum('SOAK_CHURN_RSS_TOLERANCE_MIB', 16);
  const FD_TOL = envNum('SOAK_CHURN_FD_TOLERANCE', 8);
  const P99_FACTOR = envNum('SOAK_CHURN_P99_FACTOR', 2);
  /** RSS and fds are compared from the end of this warm-up (the heap grows to its working size first). */
  const WARMUP = envNum('SOAK_CHURN_WARMUP_SECONDS', Math.min(600, Math.max(60, SECONDS / 4)));
  const dir = mkdtempSync(join(tmpdir(), 'sluice-soak-churn-'));
  const base = basePort();
  const HEAP_EVERY = envNum('SOAK_CHURN_HEAP_SECONDS', 60);
  // the inspector lets the soak force a full GC and read what is live (heap and external memory)
  const inspectPort = base + 2;
  // extra environment for the serve process, e.g. SOAK_CHURN_SERVE_ENV=MALLOC_ARENA_MAX=2 (comma-separated K=V)
  const serveEnv = Object.fromEntries((process.env['SOAK_CHURN_SERVE_ENV'] ?? '').split(',').filter((kv) => kv.includes('=')).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
  const serve = await startServe(dir, base, base + 1, { ...serveEnv, NODE_OPTIONS: `${process.env['NODE_OPTIONS'] ?? ''} --inspect=127.0.0.1:${inspectPort}`.trim() });
  const pid = serve.proc.pid!;
  let exited: string | null = null;
  serve.proc.once('exit', (code, sig) => { exited = `exited (${code ?? sig})`; });
  let driver: ReturnType<typeof node> | null = null;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  try {
    const headers = await login(serve.api);
    const servers = (await (await fetch(`${serve.api}/api/v1/servers`, { headers })).json()) as { id: number }[];
    const sid = servers[0]!.id;
    driver = node('./churn-proc.js', [String(base + 1), String(PER_MIN), String(PUB_PERIOD)]);
    await waitLine(driver, /ready/);
    let counters: Record<string, number> = {};
    driver.stdout!.on('data', (d: Buffer) => {
      for (const l of d.toString().split('\n')) if (l.startsWith('{')) counters = JSON.parse(l) as Record<string, number>;
    });
    // the API prober: open loop at API_RATE/s, alternating the server list and its streams
    const windows: { lat: number[]; errors: number }[] = [];
    const t0 = performance.now();
    const win = (): { lat: number[]; errors: number } => {
      const i = Math.floor((performance.now() - t0) / 1000 / WINDOW);
      while (windows.length <= i) windows.push({ lat: [], errors: 0 });
      return windows[i]!;
    };
    let sent = 0;
    const probe = setInterval(() => {
      const due = Math.floor(((performance.now() - t0) / 1000) * API_RATE);
      for (; sent < due; sent++) {
        const start = performance.now();
        const w = win();
        const path = sent % 2 ? `/api/v1/servers/${sid}/streams` : '/api/v1/servers';
        const req = http.request({ host: '127.0.0.1', port: base, path, headers, agent }, (res) => {
          res.resume();
          res.on('end', () => { if (res.statusCode !== 200) w.errors++; else w.lat.push(performance.now() - start); });
        });
        req.on('error', () => { w.errors++; });
        req.end();
      }
    }, 10);
    const samples: { t: number; rss: number; fds: number; cycles: number }[] = [];
    const sample = (): void => { samples.push({ t: (performance.now() - t0) / 1000, rss: rssBytes(pid), fds: fdCount(pid), cycles: counters['cycles'] ?? 0 }); };
    const heaps: ({ t: number } & HeapReading)[] = [];
    let heapAt = 0;
    const heapSample = async (): Promise<void> => {
      const t = (performance.now() - t0) / 1000;
      try {
        heaps.push({ t, ...(await heapAfterGc(inspectPort)) });
        const h = heaps[heaps.length - 1]!;
        process.stderr.write(`churn ${t.toFixed(0)} s after a full GC: RSS ${mib(h.rss)} MiB, heap used ${mib(h.heapUsed)} of ${mib(h.heapTotal)}, external ${mib(h.external)} (array buffers ${mib(h.arrayBuffers)})\n`);
      } catch (e) {
        process.stderr.write(`churn ${t.toFixed(0)} s: heap reading failed: ${(e as Error).message}\n`);
      }
    };
    sample();
    await heapSample();
    while ((performance.now() - t0) / 1000 < SECONDS && !exited) {
      await sleep(Math.min(SAMPLE * 1000, Math.max(0, SECONDS * 1000 - (performance.now() - t0))));
      sample();
      const s = samples[samples.length - 1]!;
      process.stderr.write(`churn ${s.t.toFixed(0)} s: RSS ${mib(s.rss)} MiB, ${s.fds} fds, ${s.cycles} cycles\n`);
      if (s.t - heapAt >= HEAP_EVERY) { heapAt = s.t; await heapSample(); }
    }
    await heapSample();
    clearInterval(probe);
    await sleep(1000);
    const done = waitLine(driver, /cycles/);
    driver.kill('SIGTERM');
    counters = JSON.parse(await done) as Record<string, number>;
    const elapsed = (performance.now() - t0) / 1000;
    const rejections = serve.stderr.join('').split('\n').filter((l) => /unhandled rejection|uncaught exception/i.test(l));
    // flatness: the samples after the first window (warm-up) against the last three
    const warm = samples.filter((s) => s.t >= WARMUP);
    const early = warm.slice(0, Math.max(1, Math.min(3, warm.length >> 1)));
    const late = warm.slice(-3);
    const rssGrowth = median(late.map((s) => s.rss)) - median(early.map((s) => s.rss));
    const fdGrowth = median(late.map((s) => s.fds)) - median(early.map((s) => s.fds));
    const warmHeaps = heaps.filter((h) => h.t >= WARMUP);
    const heapGrowth = (k: 'heapUsed' | 'external'): string => warmHeaps.length < 2 ? 'n/a' : `${mib(warmHeaps[warmHeaps.length - 1]![k] - warmHeaps[0]![k])} MiB`;
    const full = windows.filter((w, i) => i < Math.floor(elapsed / WINDOW) && w.lat.length > 0);
    const p99 = full.map((w) => quantile(w.lat, 0.99));
    const p99Ok = p99.length < 2 || p99[p99.length - 1]! <= Math.max(P99_FACTOR * p99[0]!, p99[0]! + 10);
    const apiErrors = windows.reduce((a, w) => a + w.errors, 0);
    const cyclesOk = counters['cycles']! >= 0.9 * PER_MIN * (elapsed / 60) - 40; // the last ones are still open
    const dialsOk = counters['dialFailures']! <= Math.max(1, 0.01 * counters['started']!);
    const pass = !exited && dialsOk && rejections.length === 0 && rssGrowth <= RSS_TOL_MIB * 1048576 && fdGrowth <= FD_TOL && p99Ok && apiErrors === 0 && cyclesOk;
    return verdict('churn', pass, [
      `${elapsed.toFixed(0)} s on sluice serve: ${counters['cycles']} player connect/disconnect cycles (${((counters['cycles']! / elapsed) * 60).toFixed(0)}/min, target ${PER_MIN}/min), ${counters['dialFailures']} dials refused or failed${dialsOk ? '' : ' (more than 1 %)'}, ${counters['pubStarts']} publisher starts (${counters['pubEnds']} ended, ${counters['pubFailures']} failed), ${mib(counters['bytes']!)} MiB delivered to players`,
      `serve process: ${exited ?? 'alive'}; unhandled rejections / uncaught exceptions logged: ${rejections.length}${rejections.length ? ` (first: ${rejections[0]!.slice(0, 300)})` : ''}`,
      `RSS growth after the ${WARMUP} s warm-up (median of the last 3 samples against the first 3): ${mib(rssGrowth)} MiB (tolerance ${RSS_TOL_MIB}); open fds growth: ${fdGrowth} (tolerance ${FD_TOL})`,
      `API (${API_RATE} req/s, GET /api/v1/servers and /servers/:id/streams) p50/p99 ms per ${WINDOW} s window: ${full.map((w) => `${quantile(w.lat, 0.5).toFixed(1)}/${quantile(w.lat, 0.99).toFixed(1)}`).join(', ')}; errors ${apiErrors}${p99Ok ? '' : ` — p99 grew beyond ${P99_FACTOR}× the first window`}`,
      `live memory after a full GC (heap used / external MiB), growth after the warm-up: heap ${heapGrowth('heapUsed')}, external ${heapGrowth('external')}; curve (s: RSS, heap used, heap total, external MiB): ${heaps.map((h) => `${h.t.toFixed(0)}: ${mib(h.rss)}, ${mib(h.heapUsed)}, ${mib(h.heapTotal)}, ${mib(h.external)}`).join(' | ')}`,
      `curve (s: RSS MiB, fds, cycles): ${samples.map((s) => `${s.t.toFixed(0)}: ${mib(s.rss)}, ${s.fds}, ${s.cycles}`).join(' | ')}`,
    ]);
  } finally {
    agent.destroy();
    if (driver) await stop(driver);
    await stop(serve.proc);
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === here('./churn.js')) {
  churnPart().then((r) => { process.stdout.write(`${r.lines.join('\n')}\n`); process.exit(r.pass ? 0 : 1); }, (e: unknown) => { process.stderr.write(`${(e as Error).stack}\n`); process.exit(1); });
}
