// Scale-out (issue 17): three `sluice serve` nodes on one PostgreSQL (127.0.0.2, .3, .4, one SRT
// port). One 4 Mbit/s publisher on node 1 (srt-live-transmit fed numbered, time-stamped datagrams);
// N players (Sluice callers, one process per node) either all on node 1, or a third on each node —
// nodes 2 and 3 then serve theirs through one edge pull each. Reported: zero-loss players, the
// end-to-end delay per node (the edge hop's added delay is node 2/3's minus node 1's), and each
// node's CPU over the sending window.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import { startPostgres } from '../test/support/postgres.js';
import { tempDir } from '../test/support/peers.js';
import { cpuSeconds, median, percentile, waitLine } from './util.js';

const here = (f: string): string => fileURLToPath(new URL(f, import.meta.url));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const CLI = here('../src/cli/main.js');
const PLAYERS = (process.env['BENCH_SCALE_PLAYERS'] ?? '60,150').split(',').map(Number);
const SECONDS = Number(process.env['BENCH_SCALE_SECONDS'] ?? 15);
const LATENCY = Number(process.env['BENCH_LATENCY'] ?? 120);
const HOSTS = ['127.0.0.2', '127.0.0.3', '127.0.0.4'];

interface PlayersResult { counts: number[]; gaps: number[]; hist: Record<string, number>; maxDelay: number }


interface Row { layout: string; n: number; perNode: { node: string; players: number; zeroLoss: number; p50: number; p99: number; cpuPct: number }[] }

/** One run: `split` players over the nodes (index = node), the publisher on node 1. */
async function run(nodes: ChildProcess[], port: number, stream: string, split: number[], label: string): Promise<Row> {
  const procs: ChildProcess[] = [];
  try {
    const udpIn = port + 1000 + Math.floor(Math.random() * 500);
    const pub = spawn('srt-live-transmit', ['-q', `udp://127.0.0.1:${udpIn}?rcvbuf=4194304`, `srt://${HOSTS[0]}:${port}?streamid=publish:${stream}&latency=${LATENCY}`], { stdio: 'ignore' });
    procs.push(pub);
    await sleep(1500); // connected, and in the stream registry
    const players = split.map((n, i) => (n > 0 ? spawn(process.execPath, [here('./players-proc.js'), String(port), stream, String(n), String(LATENCY), HOSTS[i]!], { stdio: ['ignore', 'pipe', 'inherit'] }) : null));
    for (const p of players) if (p) procs.push(p);
    for (const p of players) if (p) await waitLine(p, /ready/, 300_000);
    await sleep(1000);
    const total = Math.floor((4e6 / 8 / 1316) * SECONDS);
    const c0 = nodes.map((n) => cpuSeconds(n.pid!));
    const t0 = performance.now();
    const gen = spawn(process.execPath, [here('./udpgen.js'), '4', String(SECONDS), String(udpIn), 'stamp'], { stdio: ['ignore', 'ignore', 'pipe'] });
    procs.push(gen);
    await new Promise((r) => gen.once('exit', r));
    const elapsed = (performance.now() - t0) / 1000;
    const c1 = nodes.map((n) => cpuSeconds(n.pid!));
    await sleep(2 * LATENCY + 2000);
    const perNode: Row['perNode'] = [];
    for (const [i, p] of players.entries()) {
      if (!p) continue;
      const out = waitLine(p, /counts/, 30_000);
      p.kill('SIGTERM');
      const r = JSON.parse(await out) as PlayersResult;
      perNode.push({
        node: `n${i + 1}`, players: r.counts.length, zeroLoss: r.counts.filter((c, j) => c === total && r.gaps[j] === 0).length,
        p50: percentile(r.hist, 0.5), p99: percentile(r.hist, 0.99), cpuPct: ((c1[i]! - c0[i]!) / elapsed) * 100,
      });
    }
    // nodes without players still work (node 1 serves the edges): their CPU too
    for (let i = 0; i < nodes.length; i++) {
      if (!perNode.some((x) => x.node === `n${i + 1}`)) perNode.push({ node: `n${i + 1}`, players: 0, zeroLoss: 0, p50: NaN, p99: NaN, cpuPct: ((c1[i]! - c0[i]!) / elapsed) * 100 });
    }
    perNode.sort((a, b) => a.node.localeCompare(b.node));
    return { layout: label, n: split.reduce((a, b) => a + b, 0), perNode };
  } finally {
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGTERM');
    await sleep(2500); // the publisher's grace, edges released
  }
}

export async function scaleBench(): Promise<string[]> {
  const pg = await startPostgres();
  const nodes: ChildProcess[] = [];
  const port = 28000 + Math.floor(Math.random() * 1000);
  const rows: Row[] = [];
  try {
    const database = await pg.createDatabase();
    for (const [i, host] of HOSTS.entries()) {
      const n = spawn(process.execPath, [CLI, 'serve', '--data-dir', join(tempDir(), `n${i + 1}`), '--database', database, '--node-name', `n${i + 1}`,
        '--advertise-addr', host, '--srt-host', host, '--srt-port', String(port), '--http-addr', '127.0.0.1:0', '--admin-password', 'bench-admin-pass'], { stdio: ['ignore', 'pipe', 'inherit'] });
      nodes.push(n);
      await waitLine(n, /REST API on/, 60_000);
    }
    let k = 0;
    for (const n of PLAYERS) {
      const third = Math.floor(n / 3);
      rows.push(await run(nodes, port, `bench/one${k}`, [n, 0, 0], 'one node'));
      rows.push(await run(nodes, port, `bench/three${k}`, [n - 2 * third, third, third], 'three nodes'));
      k++;
      for (const r of rows.slice(-2)) process.stderr.write(`scale ${r.layout}, ${r.n} players: ${r.perNode.map((x) => `${x.node} ${x.zeroLoss}/${x.players} p50 ${x.p50} p99 ${x.p99} ms CPU ${x.cpuPct.toFixed(0)} %`).join('; ')}\n`);
    }
  } finally {
    for (const n of nodes) n.kill('SIGTERM');
    await Promise.all(nodes.map((n) => new Promise((r) => (n.exitCode !== null ? r(null) : n.once('exit', r)))));
    await pg.stop();
  }
  const cmd = `BENCH_ONLY=scale BENCH_SCALE_PLAYERS=${PLAYERS.join(',')} BENCH_SCALE_SECONDS=${SECONDS} BENCH_LATENCY=${LATENCY} npm run bench`;
  const edgeAdds = rows.filter((r) => r.layout === 'three nodes').flatMap((r) => {
    const origin = r.perNode.find((x) => x.node === 'n1')!.p50;
    return r.perNode.filter((x) => x.node !== 'n1' && x.players > 0).map((x) => x.p50 - origin);
  });
  return [
    `Scale-out fan-out: one 4 Mbit/s publisher (srt-live-transmit fed numbered, time-stamped 1316-byte datagrams for ${SECONDS} s) on node 1 of three \`sluice serve\` nodes on one PostgreSQL (127.0.0.2–4, one SRT port); players are Sluice callers, one process per node; latency ${LATENCY} ms on every hop. ${os.availableParallelism()} cores shared by everything; \`${cmd}\`.`,
    '',
    '| layout | players | node | players there | zero-loss | delay p50 / p99 (ms) | node CPU (% of one core) |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...rows.flatMap((r) => r.perNode.map((x) => `| ${r.layout} | ${r.n} | ${x.node} | ${x.players} | ${x.players ? `${x.zeroLoss}/${x.players}` : '—'} | ${x.players ? `${x.p50} / ${x.p99}` : '—'} | ${x.cpuPct.toFixed(0)} |`)),
    '',
    `Added delay of the edge hop (median delay on nodes 2 and 3 minus node 1's, same run): ${edgeAdds.map((d) => `${d} ms`).join(', ')} (median ${median(edgeAdds)} ms; one SRT hop with ${LATENCY} ms latency).`,
  ];
}
