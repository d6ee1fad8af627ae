// Interop with ffmpeg (built with libsrt 1.5.1): publishing into Sluice and playing from Sluice.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { listen } from '../../src/transport/api.js';
import type { SrtSocket } from '../../src/transport/socket.js';
import { freePort, requireTool, sleep, spawnPeer, tempDir, testMedia } from '../support/peers.js';
import { fileTimeout } from '../support/file-timeout.js';
import { waitFor, within } from '../support/wait.js';

fileTimeout();

requireTool('ffmpeg');

test('ffmpeg publishes as caller into a Sluice listener, byte-exact', async () => {
  const media = testMedia();
  const port = await freePort();
  const srv = await listen({ host: '127.0.0.1', port });
  const chunks: Buffer[] = [];
  let sid = '';
  let lat = 0;
  srv.on('connection', (s: SrtSocket) => {
    sid = s.streamId;
    lat = s.negotiated.rcvLatency;
    s.on('data', (d: Buffer) => chunks.push(d));
  });
  const ff = spawnPeer('ffmpeg', ['-loglevel', 'error', '-re', '-i', media, '-c', 'copy', '-f', 'mpegts',
    `srt://127.0.0.1:${port}?mode=caller&streamid=publish:/live/a&latency=300000&pkt_size=1316&linger=3`]);
  try {
    const code = await ff.exited;
    assert.equal(code, 0, ff.output());
    const size = readFileSync(media).length;
    await waitFor(() => chunks.reduce((n, c) => n + c.length, 0) >= size, { what: 'the whole file delivered', detail: () => `${chunks.reduce((n, c) => n + c.length, 0)} of ${size} bytes` });
    assert.equal(sid, 'publish:/live/a');
    assert.equal(lat, 300, 'ffmpeg latency is in µs: 300000 -> 300 ms');
    const expected = readFileSync(media);
    const got = Buffer.concat(chunks);
    assert.ok(chunks.every((c) => c.length <= 1316), 'ffmpeg sends 1316-byte messages');
    assert.equal(got.length, expected.length, 'same size');
    assert.ok(got.equals(expected), 'same bytes');
  } finally {
    await ff.kill();
    await srv.close();
  }
});

test('ffmpeg receives as caller from a Sluice listener, byte-exact', async () => {
  const media = testMedia();
  const data = readFileSync(media);
  const port = await freePort();
  const out = join(tempDir(), 'out.bin');
  const srv = await listen({ host: '127.0.0.1', port });
  srv.on('connection', (s: SrtSocket) => {
    void (async () => {
      // pace at about 4x the media rate: 1316-byte messages, 1 ms apart
      for (let o = 0; o < data.length; o += 1316) {
        s.write(data.subarray(o, Math.min(data.length, o + 1316)));
        if ((o / 1316) % 2 === 1) await sleep(1);
      }
      s.end();
    })();
  });
  const ff = spawnPeer('ffmpeg', ['-loglevel', 'error', '-f', 'data', '-i', `srt://127.0.0.1:${port}?mode=caller&latency=120000&streamid=play`,
    '-map', '0', '-c', 'copy', '-f', 'data', '-y', out]);
  try {
    await within(ff.exited, { what: 'ffmpeg finishes', timeoutMs: 30_000, detail: () => ff.output() });
    const got = readFileSync(out);
    assert.equal(got.length, data.length, `same size (ffmpeg said: ${ff.output().slice(0, 500)})`);
    assert.ok(got.equals(data), 'same bytes');
  } finally {
    await ff.kill();
    await srv.close();
  }
});
