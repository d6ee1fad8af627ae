// File mode (transtype=file, ADR 15) against libsrt 1.5.1's srt-file-transmit, through the
// `sluice transmit` command: a 200 MB file in both directions, clean and at 2 % loss each way
// (the UDP impairment relay), compared by SHA-256; and a recording fetched over SRT in file mode.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, openSync, writeSync, closeSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, requireTool, spawnPeer, tempDir, testMedia, waitForOutput, waitForUdpPort, type Peer } from '../support/peers.js';
import { LossyRelay } from '../support/relay.js';
import { within } from '../support/wait.js';
import { fileTimeout } from '../support/file-timeout.js';

fileTimeout(900_000);

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
/** FILE_MODE_MB shrinks the file for a quick run; the figure is 200 MB. */
const MB = Number(process.env['FILE_MODE_MB'] ?? 200);
/** Generous bounds for a loaded 2-core machine: each transfer takes seconds when clean. */
const CLEAN_MS = 120_000;
const LOSSY_MS = 400_000;

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

let bigFile: { path: string; sha: string; dir: string } | null = null;

/** One random file of MB megabytes for the whole file (written once). */
async function big(): Promise<{ path: string; sha: string }> {
  if (bigFile) return bigFile;
  const dir = tempDir();
  const path = join(dir, 'big.bin');
  const fd = openSync(path, 'w');
  const h = createHash('sha256');
  for (let i = 0; i < MB; i++) {
    const b = randomBytes(1 << 20);
    h.update(b);
    writeSync(fd, b);
  }
  closeSync(fd);
  bigFile = { path, sha: h.digest('hex'), dir };
  return bigFile;
}

test.after(() => {
  if (bigFile) rmSync(bigFile.dir, { recursive: true, force: true });
});

interface Run {
  seconds: number;
  out: string;
  sender: Peer;
  receiver: Peer;
}

/** Sluice sends `src` to an srt-file-transmit listener (through a relay when lossy). */
async function sluiceToSlt(src: string, loss: number, boundMs: number): Promise<Run> {
  const port = await freePort();
  const out = join(tempDir(), 'received.bin');
  const receiver = spawnPeer('srt-file-transmit', [`srt://:${port}?transtype=file`, `file://${out}`]);
  let relay: LossyRelay | null = null;
  let sender: Peer | null = null;
  try {
    await waitForUdpPort(port, 'the srt-file-transmit listener', receiver);
    let target = port;
    if (loss > 0) {
      relay = new LossyRelay({ targetPort: port, lossToTarget: loss, lossToClient: loss, seed: 2 });
      target = await relay.start();
    }
    const t0 = performance.now();
    sender = spawnPeer(process.execPath, [CLI, 'transmit', `file://${src}`, `srt://127.0.0.1:${target}?transtype=file`]);
    const code = await within(sender.exited, { what: 'sluice transmit sends the whole file', timeoutMs: boundMs, detail: () => sender!.output().slice(-2000) });
    assert.equal(code, 0, `sluice transmit: ${sender.output().slice(-2000)}`);
    const rc = await within(receiver.exited, { what: 'srt-file-transmit finishes', timeoutMs: 30_000, detail: () => receiver.output().slice(-2000) });
    assert.equal(rc, 0, `srt-file-transmit: ${receiver.output().slice(-2000)}`);
    const seconds = (performance.now() - t0) / 1000;
    if (relay) assert.ok(relay.dropped.toTarget > 0 && relay.dropped.toClient > 0, 'the relay dropped packets both ways');
    return { seconds, out, sender, receiver };
  } finally {
    await sender?.kill();
    await receiver.kill();
    relay?.close();
  }
}

/** srt-file-transmit sends `src` to a `sluice transmit` listener (through a relay when lossy). */
async function sltToSluice(src: string, loss: number, boundMs: number): Promise<Run> {
  const port = await freePort();
  const out = join(tempDir(), 'received.bin');
  const receiver = spawnPeer(process.execPath, [CLI, 'transmit', `srt://:${port}?transtype=file`, `file://${out}`]);
  let relay: LossyRelay | null = null;
  let sender: Peer | null = null;
  try {
    await waitForOutput(receiver, /SRT source listening on/, 'sluice transmit listens');
    let target = port;
    if (loss > 0) {
      relay = new LossyRelay({ targetPort: port, lossToTarget: loss, lossToClient: loss, seed: 3 });
      target = await relay.start();
    }
    const t0 = performance.now();
    sender = spawnPeer('srt-file-transmit', [`file://${src}`, `srt://127.0.0.1:${target}?transtype=file`]);
    const sc = await within(sender.exited, { what: 'srt-file-transmit sends the whole file', timeoutMs: boundMs, detail: () => sender!.output().slice(-2000) });
    assert.equal(sc, 0, `srt-file-transmit: ${sender.output().slice(-2000)}`);
    const code = await within(receiver.exited, { what: 'sluice transmit exits once the sender closed', timeoutMs: 30_000, detail: () => receiver.output().slice(-2000) });
    assert.equal(code, 0, `sluice transmit: ${receiver.output().slice(-2000)}`);
    const seconds = (performance.now() - t0) / 1000;
    if (relay) assert.ok(relay.dropped.toTarget > 0 && relay.dropped.toClient > 0, 'the relay dropped packets both ways');
    return { seconds, out, sender, receiver };
  } finally {
    await sender?.kill();
    await receiver.kill();
    relay?.close();
  }
}

for (const loss of [0, 0.02]) {
  test(`sluice transmit file → srt-file-transmit, ${MB} MB at ${loss * 100} % loss each way: SHA-256 equal`, async () => {
    requireTool('srt-file-transmit');
    const f = await big();
    const r = await sluiceToSlt(f.path, loss, loss > 0 ? LOSSY_MS : CLEAN_MS);
    try {
      assert.equal(await sha256File(r.out), f.sha);
      process.stderr.write(`sluice → srt-file-transmit ${MB} MB, ${loss * 100} % loss: ${r.seconds.toFixed(1)} s (${((MB * 8 * 1.048576) / r.seconds).toFixed(0)} Mbit/s)\n`);
    } finally {
      rmSync(r.out, { force: true });
    }
  });

  test(`srt-file-transmit → sluice transmit file, ${MB} MB at ${loss * 100} % loss each way: SHA-256 equal`, async () => {
    requireTool('srt-file-transmit');
    const f = await big();
    const r = await sltToSluice(f.path, loss, loss > 0 ? LOSSY_MS : CLEAN_MS);
    try {
      assert.equal(await sha256File(r.out), f.sha);
      process.stderr.write(`srt-file-transmit → sluice ${MB} MB, ${loss * 100} % loss: ${r.seconds.toFixed(1)} s (${((MB * 8 * 1.048576) / r.seconds).toFixed(0)} Mbit/s)\n`);
    } finally {
      rmSync(r.out, { force: true });
    }
  });
}

test('srt-file-transmit → sluice transmit file://con read slowly: back-pressure through the advertised window, nothing lost', async () => {
  requireTool('srt-file-transmit');
  const dir = tempDir();
  const src = join(dir, 'slow.bin');
  const data = randomBytes(24 * 1024 * 1024);
  const fd = openSync(src, 'w');
  writeSync(fd, data);
  closeSync(fd);
  const port = await freePort();
  // a receive buffer of 1000 packets (~1.4 MB): the reader below holds the whole transfer back
  const receiver = spawnPeer(process.execPath, [CLI, 'transmit', '--stats', '100', `srt://:${port}?transtype=file&rcvbuf=1472000&fc=1000`, 'file://con']);
  let sender: Peer | null = null;
  try {
    await waitForOutput(receiver, /SRT source listening on/, 'sluice transmit listens');
    // the reader: 8 MB/s at most (pause after each chunk for as long as the rate allows)
    const h = createHash('sha256');
    let bytes = 0;
    const t0 = performance.now();
    const stdout = receiver.proc.stdout!;
    stdout.removeAllListeners('data'); // the peer helper's output capture: this test reads the data itself
    const ended = new Promise<void>((resolve) => stdout.once('end', () => resolve()));
    stdout.on('data', (chunk: Buffer) => {
      h.update(chunk);
      bytes += chunk.length;
      const due = t0 + (bytes / (8 * 1024 * 1024)) * 1000;
      const wait = due - performance.now();
      if (wait > 1) {
        stdout.pause();
        setTimeout(() => stdout.resume(), wait);
      }
    });
    sender = spawnPeer('srt-file-transmit', [`file://${src}`, `srt://127.0.0.1:${port}?transtype=file`]);
    const sc = await within(sender.exited, { what: 'srt-file-transmit sends the whole file to the slow reader', timeoutMs: 120_000, detail: () => `${sender!.output().slice(-1000)} / ${receiver.output().slice(-1000)}` });
    assert.equal(sc, 0, sender.output().slice(-1000));
    await within(ended, { what: 'sluice transmit ends its output', timeoutMs: 60_000, detail: () => receiver.output().slice(-1000) });
    assert.equal(bytes, data.length);
    assert.equal(h.digest('hex'), createHash('sha256').update(data).digest('hex'));
    // the receive buffer was full while the reader lagged: the window told the sender to wait
    const stats = receiver.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, number>);
    const minAvail = Math.min(...stats.map((x) => x['byteAvailRcvBuf']!));
    // (sampled every 100 ms; the pipe to this process buffers too, so "full" is read as at least half full)
    assert.ok(minAvail < 500 * 1472, `the receive buffer never filled (least free ${minAvail} bytes)`);
    assert.ok(stats.every((x) => x['pktRcvDropTotal'] === 0), 'nothing dropped');
  } finally {
    await sender?.kill();
    await receiver.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a recording fetched over SRT in file mode: sluice transmit of an MPEG-TS recording → srt-file-transmit, byte-exact', async () => {
  requireTool('srt-file-transmit');
  const rec = testMedia(); // an MPEG-TS file like <dataDir>/recordings/<server>/<stream>/<time>.ts
  const r = await sluiceToSlt(rec, 0, CLEAN_MS);
  assert.ok(readFileSync(r.out).equals(readFileSync(rec)), 'the fetched recording equals the file');
});
