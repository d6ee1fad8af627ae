// Start delay of a late player (issue 15, GOP cache): ffmpeg publishes H.264 in MPEG-TS with a
// 4 s GOP (libx264, -g 100 at 25 fps) into a Sluice server; players join one after another at
// random moments and each measures, from the start of its dial, the first message and the first
// message that carries a video keyframe (its first decodable frame). Three server settings:
// gopCache on (the default), off with startAtKeyframe, off without it (the stream as it comes).
import { spawn } from 'node:child_process';
import { Server, type ServerConfig } from '../src/server/server.js';
import { PsiCache } from '../src/server/tsmux.js';
import { dial } from '../src/transport/api.js';
import { median } from './util.js';

const JOINS = Number(process.env['BENCH_GOP_JOINS'] ?? 8);
const GOP_S = 4;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface JoinTimes { firstMessageMs: number; firstKeyframeMs: number }

async function until(cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await sleep(10);
}

async function mode(cfg: Partial<ServerConfig>, port: number): Promise<JoinTimes[]> {
  const server = new Server({ name: 'gopbench', host: '127.0.0.1', port, ...cfg });
  await server.start();
  const watch = server.playLocal('bench/gop', 'watch', { startAtKeyframe: false, queue: 1 << 20 });
  const psi = new PsiCache();
  let keyframes = 0;
  watch.on('data', (m: Buffer) => { psi.observe(m); if (psi.keyframeOffset(m) >= 0) keyframes++; });
  const ff = spawn('ffmpeg', ['-loglevel', 'error', '-re', '-f', 'lavfi', '-i', 'testsrc=size=640x360:rate=25', '-c:v', 'libx264', '-preset', 'ultrafast',
    '-g', String(GOP_S * 25), '-bf', '0', '-b:v', '2M', '-f', 'mpegts', `srt://127.0.0.1:${port}?streamid=publish:bench/gop&pkt_size=1316`], { stdio: 'ignore' });
  const out: JoinTimes[] = [];
  try {
    await until(() => keyframes >= 2, 30_000);
    if (keyframes < 2) throw new Error('gop bench: the publisher sent no second keyframe');
    for (let i = 0; i < JOINS; i++) {
      await sleep(Math.random() * GOP_S * 1000);
      const t0 = performance.now();
      const player = await dial({ host: '127.0.0.1', port, streamid: 'bench/gop' });
      const mine = new PsiCache();
      const t: JoinTimes = { firstMessageMs: -1, firstKeyframeMs: -1 };
      player.on('data', (m: Buffer) => {
        const now = performance.now() - t0;
        if (t.firstMessageMs < 0) t.firstMessageMs = now;
        mine.observe(m);
        if (t.firstKeyframeMs < 0 && mine.ready && mine.keyframeOffset(m) >= 0) t.firstKeyframeMs = now;
      });
      await until(() => t.firstKeyframeMs >= 0, (GOP_S + 4) * 1000);
      player.destroy();
      out.push(t);
    }
  } finally {
    ff.kill('SIGINT');
    watch.close();
    await server.close();
  }
  return out;
}

export async function gopBench(): Promise<string[]> {
  let port = 27500 + Math.floor(Math.random() * 400);
  const modes: [string, Partial<ServerConfig>][] = [
    ['gopCache on (default)', {}],
    ['gopCache off, startAtKeyframe', { gopCache: false, startAtKeyframe: true }],
    ['gopCache off (stream as it comes)', { gopCache: false }],
  ];
  const rows: string[] = [];
  for (const [label, cfg] of modes) {
    const runs = await mode(cfg, port++);
    const fm = runs.map((r) => r.firstMessageMs);
    const fk = runs.map((r) => r.firstKeyframeMs).filter((x) => x >= 0);
    process.stderr.write(`gop ${label}: first message ${fm.map((x) => x.toFixed(0)).join(',')} ms; first keyframe ${runs.map((r) => r.firstKeyframeMs.toFixed(0)).join(',')} ms\n`);
    rows.push(`| ${label} | ${median(fm).toFixed(0)} / ${Math.max(...fm).toFixed(0)} | ${fk.length ? `${median(fk).toFixed(0)} / ${Math.max(...fk).toFixed(0)}` : '—'} |`);
  }
  return [
    `Late player start delay (${JOINS} joins at random moments; ffmpeg libx264 ${GOP_S} s GOP, 2 Mbit/s; SRT latency 120 ms), ms from dial to:`,
    '',
    '| server setting | first message, median / max | first video keyframe (first decodable frame), median / max |',
    '| --- | --- | --- |',
    ...rows,
  ];
}
