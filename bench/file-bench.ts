// File mode throughput (issue 14 §3, ADR 15): one file (BENCH_FILE_MB, default 200 MB) sent in
// SRT file mode by `sluice transmit` and by srt-file-transmit, in every pairing, in the same run,
// clean and through the UDP impairment relay at BENCH_FILE_LOSS (default 2 %) loss each way.
// Time = from the sender's start to the receiver's exit; every run is checked by SHA-256.
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, createReadStream, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LossyRelay } from '../test/support/relay.js';
import { freePort, spawnPeer, waitForUdpPort, type Peer } from '../test/support/peers.js';
import { median } from './util.js';

const MB = Number(process.env['BENCH_FILE_MB'] ?? 200);
const LOSS = Number(process.env['BENCH_FILE_LOSS'] ?? 0.02);
const REPEAT = Number(process.env['BENCH_FILE_REPEAT'] ?? 1);
const BOUND_MS = 900_000;
const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

type Tool = 'sluice' | 'slt';
const name = (t: Tool): string => (t === 'slt' ? 'srt-file-transmit' : 'Sluice');

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

function receiver(tool: Tool, port: number, out: string): Peer {
  return tool === 'sluice'
    ? spawnPeer(process.execPath, [CLI, 'transmit', '-q', `srt://:${port}?transtype=file`, `file://${out}`])
    : spawnPeer('srt-file-transmit', [`srt://:${port}?transtype=file`, `file://${out}`]);
}

function sender(tool: Tool, port: number, src: string): Peer {
  return tool === 'sluice'
    ? spawnPeer(process.execPath, [CLI, 'transmit', '-q', `file://${src}`, `srt://127.0.0.1:${port}?transtype=file`])
    : spawnPeer('srt-file-transmit', [`file://${src}`, `srt://127.0.0.1:${port}?transtype=file`]);
}

async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_r, rej) => { timer = setTimeout(() => rej(new Error(`${what}: not within ${ms} ms`)), ms); })]);
  } finally {
    clearTimeout(timer);
  }
}

/** One transfer; seconds, or NaN if the copy differs. */
async function transfer(s: Tool, r: Tool, loss: number, src: string, sha: string): Promise<number> {
  // srt-file-transmit as a receiver names its output after the sender's stream id (its file's
  // name) in the output's directory: every receiver writes into a directory of its own
  const dir = mkdtempSync(join(tmpdir(), 'sluice-file-bench-'));
  const out = join(dir, 'big.bin');
  const port = await freePort();
  const rx = receiver(r, port, out);
  let relay: LossyRelay | null = null;
  let tx: Peer | null = null;
  try {
    await waitForUdpPort(port, name(r), rx);
    let target = port;
    if (loss > 0) {
      relay = new LossyRelay({ targetPort: port, lossToTarget: loss, lossToClient: loss, seed: 5 });
      target = await relay.start();
    }
    const t0 = performance.now();
    tx = sender(s, target, src);
    const sc = await within(tx.exited, BOUND_MS, `${s} sends`);
    const rc = await within(rx.exited, 60_000, `${r} finishes`);
    const seconds = (performance.now() - t0) / 1000;
    if (sc !== 0 || rc !== 0) throw new Error(`exit codes ${s} ${sc}, ${r} ${rc}: ${tx.output().slice(-500)} ${rx.output().slice(-500)}`);
    return (await sha256File(out)) === sha ? seconds : NaN;
  } finally {
    await tx?.kill();
    await rx.kill();
    relay?.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function fileBench(): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-file-bench-src-'));
  const src = join(dir, 'source.bin');
  const fd = openSync(src, 'w');
  const h = createHash('sha256');
  for (let i = 0; i < MB; i++) {
    const b = randomBytes(1 << 20);
    h.update(b);
    writeSync(fd, b);
  }
  closeSync(fd);
  const sha = h.digest('hex');
  const pairs: [Tool, Tool][] = [['sluice', 'slt'], ['slt', 'sluice'], ['slt', 'slt'], ['sluice', 'sluice']];
  const rows: string[] = [];
  try {
    for (const loss of [0, LOSS]) {
      for (const [s, r] of pairs) {
        const times: number[] = [];
        for (let i = 0; i < REPEAT; i++) {
          const t = await transfer(s, r, loss, src, sha);
          process.stderr.write(`file ${name(s)} -> ${name(r)} ${MB} MB at ${loss * 100} % loss: ${Number.isNaN(t) ? 'CONTENT DIFFERS' : `${t.toFixed(1)} s`}\n`);
          times.push(t);
        }
        const ok = times.every((t) => !Number.isNaN(t));
        const t = median(times);
        const mbps = (MB * 1024 * 1024 * 8) / t / 1e6;
        rows.push(`| ${name(s)} → ${name(r)} | ${loss * 100} % | ${ok ? t.toFixed(1) : 'differs'} | ${ok ? mbps.toFixed(0) : '—'} |`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return [
    `File mode (\`transtype=file\`), one ${MB} MB file on loopback, SHA-256 checked; loss each way through the UDP relay (seeded); median of ${REPEAT} run(s):`,
    '',
    '| sender → receiver | loss | seconds | Mbit/s |',
    '| --- | --- | --- | --- |',
    ...rows,
  ];
}
