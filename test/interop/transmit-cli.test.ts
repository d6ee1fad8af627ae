// The sluice transmit command against real peers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { diffMessages, freePort, makeMessages, requireTool, spawnPeer, tempDir, testMedia, udpCollect, udpSendPaced, waitForOutput, waitForUdpPort, type Peer } from '../support/peers.js';
import { within } from '../support/wait.js';
import { fileTimeout } from '../support/file-timeout.js';

fileTimeout();

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

test('ffmpeg -> sluice transmit srt://:port file://out.ts: byte-exact, exits 0, stats lines are JSON', async () => {
  requireTool('ffmpeg');
  const media = testMedia();
  const port = await freePort();
  const out = join(tempDir(), 'out.ts');
  const tx = spawnPeer(process.execPath, [CLI, 'transmit', '--stats', '500', `srt://127.0.0.1:${port}?mode=listener`, `file://${out}`]);
  let ff: Peer | null = null;
  try {
    await waitForOutput(tx, /SRT source listening on/, 'sluice transmit listens');
    ff = spawnPeer('ffmpeg', ['-loglevel', 'error', '-re', '-i', media, '-c', 'copy', '-f', 'mpegts',
      `srt://127.0.0.1:${port}?mode=caller&latency=120000&pkt_size=1316&linger=3`]);
    assert.equal(await ff.exited, 0, ff.output());
    const code = await within(tx.exited, { what: 'sluice transmit exits once its caller left', detail: () => tx.output().slice(-2000) });
    assert.equal(code, 0, `transmit exit code; output: ${tx.output().slice(-2000)}`);
    assert.ok(readFileSync(out).equals(readFileSync(media)), 'output file equals what ffmpeg sent');
    const statsLines = tx.output().split('\n').filter((l) => l.startsWith('{'));
    assert.ok(statsLines.length >= 2, 'stats printed periodically');
    const last = JSON.parse(statsLines[statsLines.length - 1]!) as Record<string, number>;
    assert.ok(last['pktRecvTotal']! > 100 && 'msRTT' in last && 'pktRcvLossTotal' in last, 'libsrt statistics names');
  } finally {
    await ff?.kill();
    await tx.kill();
  }
});

for (const fec of [false, true]) {
  test(`udp -> sluice transmit -> srt-live-transmit listener -> udp, byte-exact${fec ? ', with the fec packet filter (packetfilter= on both URLs)' : ''}`, async () => {
    requireTool('srt-live-transmit');
    const srtPort = await freePort();
    const udpIn = await freePort();
    const sink = await udpCollect();
    const sltFilter = fec ? '&packetfilter=fec,cols:10,rows:5' : '';
    const slt = spawnPeer('srt-live-transmit', ['-q', `srt://127.0.0.1:${srtPort}?mode=listener${sltFilter}`, `udp://127.0.0.1:${sink.port}`]);
    let tx: Peer | null = null;
    try {
      await waitForUdpPort(srtPort, 'the srt-live-transmit listener', slt);
      tx = spawnPeer(process.execPath, [CLI, 'transmit', ...(fec ? ['--stats', '200'] : []), `udp://127.0.0.1:${udpIn}`, `srt://127.0.0.1:${srtPort}?streamid=cli${fec ? '&packetfilter=fec,layout:even,arq:never' : ''}`]);
      // its UDP input is open before this line and keeps what arrives until the SRT side takes it
      await waitForOutput(tx, /SRT destination connected to/, 'sluice transmit connects');
      const msgs = makeMessages(1500);
      await udpSendPaced(udpIn, msgs, 1000);
      await sink.waitFor(msgs.length, 5000);
      assert.equal(diffMessages(msgs, sink.messages), null);
      if (fec) {
        // the filter was agreed (libsrt's cols and rows, our layout and arq) and FEC packets went out
        const sent = (): number => {
          const lines = tx!.output().split('\n').filter((l) => l.startsWith('{'));
          return lines.length === 0 ? 0 : (JSON.parse(lines[lines.length - 1]!) as Record<string, number>)['pktSndFilterExtraTotal'] ?? 0;
        };
        await waitForOutput(tx, /"pktSndFilterExtraTotal":[1-9]/, 'sluice transmit reports FEC packets sent');
        assert.ok(sent() >= Math.floor(msgs.length / 10), `FEC packets sent: ${sent()} (one per row of 10 at least)`);
      }
      // SIGINT: flush, SHUTDOWN, exit 0
      assert.equal(await tx.kill('SIGINT'), 0, tx.output());
    } finally {
      await tx?.kill();
      await slt.kill();
      sink.close();
    }
  });
}

test('sluice transmit rejects bad arguments with a clear message and exit code 2', async (t) => {
  const bad = spawnPeer(process.execPath, [CLI, 'transmit', 'srt://:9000?latency=abc', 'udp://127.0.0.1:5000']);
  t.after(() => bad.kill());
  assert.equal(await bad.exited, 2);
  assert.match(bad.output(), /latency: "abc" is not an integer/);
  const unknown = spawnPeer(process.execPath, [CLI, 'transmit', 'srt://:9000?bogus=1', 'udp://127.0.0.1:5000']);
  t.after(() => unknown.kill());
  assert.equal(await unknown.exited, 2);
  assert.match(unknown.output(), /bogus: unknown srt:\/\/ option/);
  const badFilter = spawnPeer(process.execPath, [CLI, 'transmit', 'srt://:9000?packetfilter=fec,cols:1', 'udp://127.0.0.1:5000']);
  t.after(() => badFilter.kill());
  assert.equal(await badFilter.exited, 2);
  assert.match(badFilter.output(), /packetfilter: cols: "1" must be at least 2/);
  const help = spawnPeer(process.execPath, [CLI, 'transmit', '--help']);
  t.after(() => help.kill());
  assert.equal(await help.exited, 0);
  assert.match(help.output(), /Usage: sluice transmit/);
});

test('sluice transmit: a port in use is reported, exit 1', async (t) => {
  const port = await freePort();
  const first = spawnPeer(process.execPath, [CLI, 'transmit', `srt://127.0.0.1:${port}?mode=listener`, 'udp://127.0.0.1:5999']);
  try {
    await waitForOutput(first, /SRT source listening on/, 'the first sluice transmit listens');
    const second = spawnPeer(process.execPath, [CLI, 'transmit', `srt://127.0.0.1:${port}?mode=listener`, 'udp://127.0.0.1:5999']);
    t.after(() => second.kill());
    assert.equal(await second.exited, 1);
    assert.match(second.output(), /cannot listen on 127\.0\.0\.1:\d+: .*EADDRINUSE/);
  } finally {
    await first.kill();
  }
});
