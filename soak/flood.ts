// Handshake flood (issue 16 §3): an SRT server in its own process (server-proc.ts: the Server of
// `sluice srt-server`, which also reports its publisher's statistics) carries one 4 Mbit/s
// publisher to 20 players (another process, every byte of every message checked) while a flooder
// process sends 20,000 induction requests/s and 5,000 garbage datagrams/s at the same port. Players
// must lose nothing; the server's RSS after the flood (and a settle time, the stream still
// flowing) must come back to its level before it.
import { spawn, type ChildProcess } from 'node:child_process';
import { udpDrops } from '../bench/util.js';
import { cpuSeconds, envNum, here, mib, node, rssBytes, sleep, stop, verdict, waitLine, type PartResult } from './util.js';

export async function floodPart(): Promise<PartResult> {
  const SECONDS = envNum('SOAK_FLOOD_SECONDS', 60);
  const IND_RATE = envNum('SOAK_FLOOD_INDUCTIONS', 20_000);
  const GARBAGE_RATE = envNum('SOAK_FLOOD_GARBAGE', 5_000);
  const PLAYERS = envNum('SOAK_FLOOD_PLAYERS', 20);
  const MBPS = envNum('SOAK_FLOOD_MBPS', 4);
  const LEAD = envNum('SOAK_FLOOD_LEAD_SECONDS', 5);
  const SETTLE = envNum('SOAK_FLOOD_SETTLE_SECONDS', 30);
  /** RSS after may exceed RSS before by this much (MiB) and still count as "returned". */
  const TOLERANCE_MIB = envNum('SOAK_FLOOD_RSS_TOLERANCE_MIB', 8);
  const port = 20000 + Math.floor(Math.random() * 4000) * 2;
  const nodeOptions = process.env['SOAK_FLOOD_SERVER_NODE_OPTIONS'];
  const server = spawn(process.execPath, ['--expose-gc', ...(nodeOptions ? nodeOptions.split(' ') : []), here('./server-proc.js'), String(port)], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  const procs: ChildProcess[] = [server];
  try {
    await waitLine(server, /ready/);
    const pub = spawn(process.execPath, [here('./publisher-proc.js'), String(port), 'soak/flood', String(MBPS), String(LEAD + SECONDS + SETTLE)], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
    procs.push(pub);
    await waitLine(pub, /connected/);
    const players = node('./players-proc.js', [String(port), 'soak/flood', String(PLAYERS)]);
    procs.push(players);
    await waitLine(players, /ready/, 120_000);
    const sentLine = waitLine(pub, /"sent"/, (LEAD + SECONDS + SETTLE + 120) * 1000);
    const pid = server.pid!;
    const rss: { t: number; phase: string; rss: number }[] = [];
    const t0 = performance.now();
    const sample = (phase: string): number => {
      const r = rssBytes(pid);
      rss.push({ t: (performance.now() - t0) / 1000, phase, rss: r });
      return r;
    };
    const sampler = setInterval(() => sample('.'), 1000);
    pub.send('go');
    await sleep(LEAD * 1000);
    const ask = <T>(what: string): Promise<T> => new Promise<T>((resolve) => { server.once('message', (m) => resolve(m as T)); server.send(what); });
    const heapBefore = (await ask<NodeJS.MemoryUsage>('heap')).heapUsed;
    await sleep(1000);
    const rssBefore = sample('before');
    const drops0 = udpDrops([port])[port] ?? 0;
    const c0 = cpuSeconds(pid);
    const flooder = node('./flooder-proc.js', [String(port), String(IND_RATE), String(GARBAGE_RATE), String(SECONDS)]);
    procs.push(flooder);
    const fl = JSON.parse(await waitLine(flooder, /inductions/, (SECONDS + 60) * 1000)) as { inductions: number; garbage: number; answers: number; seconds: number };
    const cpuFlood = ((cpuSeconds(pid) - c0) / fl.seconds) * 100;
    const drops = (udpDrops([port])[port] ?? 0) - drops0;
    const rssPeak = Math.max(...rss.filter((s) => s.t >= LEAD).map((s) => s.rss));
    await sleep(SETTLE * 1000);
    const rssAfter = sample('after');
    const heapAfter = (await ask<NodeJS.MemoryUsage>('heap')).heapUsed;
    clearInterval(sampler);
    const pubStats = JSON.parse(await sentLine) as { sent: number; sndDrop: number; sndLoss: number; retrans: number };
    const sent = pubStats.sent;
    await sleep(1500); // the last messages' latency
    const serverStats = await ask<{ stream: string; messages: number; publisher: Record<string, number> | null }[]>('stats');
    const ps = serverStats.find((x) => x.stream === 'soak/flood')?.publisher;
    const out = waitLine(players, /counts/);
    players.kill('SIGTERM');
    const r = JSON.parse(await out) as { counts: number[]; gaps: number[]; corrupt: number[]; first: number[]; closed: number[]; missing: [number, number][]; rcvDrop: number; rcvLoss: number; rcvRetrans: number };
    const lossless = r.counts.every((c, i) => c === sent && r.gaps[i] === 0 && r.corrupt[i] === 0 && r.first[i] === 0);
    const rssOk = rssAfter <= rssBefore + TOLERANCE_MIB * 1048576;
    const flooded = fl.inductions >= IND_RATE * SECONDS * 0.9 && fl.garbage >= GARBAGE_RATE * SECONDS * 0.9;
    const curve = rss.filter((_, i) => i % Math.max(1, Math.floor(rss.length / 30)) === 0 || rss[i]!.phase !== '.').map((s) => `${s.t.toFixed(0)}s ${mib(s.rss)}${s.phase === '.' ? '' : ` (${s.phase})`}`).join(', ');
    return verdict('flood', lossless && rssOk && flooded, [
      `${PLAYERS} players of one ${MBPS} Mbit/s stream (${sent} messages of 1316 bytes over ${LEAD + SECONDS + SETTLE} s): ${lossless ? 'every player received every message, in order, byte-exact' : `LOSS: received min ${Math.min(...r.counts)}/${sent}, gaps ${r.gaps.reduce((a, b) => a + b, 0)}, corrupt ${r.corrupt.reduce((a, b) => a + b, 0)}, players closed ${r.closed.reduce((a, b) => a + b, 0)}`}`,
      `SRT statistics: publisher pktSndDrop ${pubStats.sndDrop}, pktSndLoss ${pubStats.sndLoss}, pktRetrans ${pubStats.retrans}; server from the publisher: ${ps ? `pktRecv ${ps['pktRecv']}, pktRcvLoss ${ps['pktRcvLoss']}, pktRcvRetrans ${ps['pktRcvRetrans']}, pktRcvDrop ${ps['pktRcvDrop']}, pktRcvBelated ${ps['pktRcvBelated']}` : 'no publisher'}; players (sum) pktRcvDrop ${r.rcvDrop}, pktRcvLoss ${r.rcvLoss}, pktRcvRetrans ${r.rcvRetrans}${r.missing.length ? `; player 0 missed ${r.missing.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)).join(', ')}` : ''}`,
      `flood for ${fl.seconds.toFixed(1)} s: ${fl.inductions} inductions (${(fl.inductions / fl.seconds).toFixed(0)}/s) from 256 source ports, ${fl.garbage} garbage datagrams (${(fl.garbage / fl.seconds).toFixed(0)}/s)${flooded ? '' : ' — BELOW the configured rates (the flooder could not keep up)'}`,
      `induction answers received by the flooder: ${fl.answers} (${((fl.answers / Math.max(1, fl.inductions)) * 100).toFixed(1)} %); kernel drops at the server's socket during the flood: ${drops}; server CPU during the flood ${cpuFlood.toFixed(0)} % of one core`,
      `server RSS: before the flood ${mib(rssBefore)} MiB, peak ${mib(rssPeak)} MiB, ${SETTLE} s after it ${mib(rssAfter)} MiB (${rssOk ? 'returned' : 'NOT returned'}: tolerance ${TOLERANCE_MIB} MiB); live heap after a full GC: ${mib(heapBefore)} MiB before, ${mib(heapAfter)} MiB after`,
      ...(!rssOk && heapAfter <= heapBefore + 1048576 ? [`the live heap came back (${mib(heapAfter - heapBefore)} MiB more after a full GC): the RSS kept is memory V8 and the allocator hold after the flood's allocation rate (the young generation grown to its maximum), not live objects`] : []),
      `RSS curve (MiB): ${curve}`,
    ]);
  } finally {
    for (const p of procs.reverse()) await stop(p);
  }
}

if (process.argv[1] === here('./flood.js')) {
  floodPart().then((r) => { process.stdout.write(`${r.lines.join('\n')}\n`); process.exit(r.pass ? 0 : 1); }, (e: unknown) => { process.stderr.write(`${(e as Error).stack}\n`); process.exit(1); });
}
