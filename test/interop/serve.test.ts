// `sluice serve` as a new user runs it: fresh data dir, admin from the environment, the default
// SRT server taking an ffmpeg publish, the API showing it, SIGTERM, and state after a restart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { dial } from '../../src/transport/api.js';
import { freePort, requireTool, sleep, spawnPeer, tempDir, testMedia, until, waitForOutput, type Peer } from '../support/peers.js';
import { fileTimeout } from '../support/file-timeout.js';

fileTimeout();

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

async function waitFor(p: Peer, re: RegExp, ms = 10_000): Promise<void> {
  await waitForOutput(p, re, `the process prints ${re}`, ms);
}

test('sluice serve: first start, ffmpeg publishes to the default server, API lists the stream, restart keeps state', async (t) => {
  requireTool('ffmpeg');
  const dataDir = tempDir();
  const httpPort = await freePort();
  const srtPort = await freePort();
  const args = [CLI, 'serve', '--data-dir', dataDir, '--http-addr', `127.0.0.1:${httpPort}`, '--srt-port', String(srtPort)];
  process.env['SLUICE_ADMIN_PASSWORD'] = 'first-admin-pass';
  let serve = spawnPeer(process.execPath, args);
  try {
    await waitFor(serve, /REST API on/);
    assert.match(serve.output(), new RegExp(`SRT server "default" on UDP ${srtPort}: running`));
    const base = `http://127.0.0.1:${httpPort}`;
    const login = await fetch(`${base}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: 'first-admin-pass' }) });
    assert.equal(login.status, 200);
    const { token } = (await login.json()) as { token: string };
    // the default server holds players that come before the publisher (a decoder started first)
    const list = (await (await fetch(`${base}/api/v1/servers`, { headers: { authorization: `Bearer ${token}` } })).json()) as { settings: Record<string, unknown> }[];
    assert.deepEqual(list[0]!.settings, { waitForPublisher: true });
    const early = await dial({ host: '127.0.0.1', port: srtPort, streamid: 'receiver/default/live/x' });
    t.after(() => early.destroy());
    const got: Buffer[] = [];
    early.on('data', (d: Buffer) => got.push(d));
    const ff = spawnPeer('ffmpeg', ['-loglevel', 'error', '-re', '-i', testMedia(), '-t', '2', '-c', 'copy', '-f', 'mpegts', `srt://127.0.0.1:${srtPort}?streamid=publish:/live/x&pkt_size=1316`]);
    t.after(() => ff.kill());
    let streams: string[] = [];
    const end = Date.now() + 5000;
    while (!streams.includes('live/x') && Date.now() < end) {
      await sleep(200);
      const r = await fetch(`${base}/api/v1/servers`, { headers: { authorization: `Bearer ${token}` } });
      streams = ((await r.json()) as { streams: string[] }[])[0]!.streams;
    }
    assert.deepEqual(streams, ['live/x']);
    await until(() => got.length >= 100, 5000, 'the early player gets 100 messages', () => `${got.length} messages`);
    assert.ok(got.length >= 100 && got.every((m) => m[0] === 0x47 && m.length % 188 === 0), `the early player gets the MPEG-TS (${got.length} messages)`);
    early.destroy();
    await ff.kill();
    assert.equal(await serve.kill('SIGTERM'), 0, 'graceful exit');
    // second start: same data, the admin password is not regenerated, the server comes back
    delete process.env['SLUICE_ADMIN_PASSWORD'];
    serve = spawnPeer(process.execPath, args);
    await waitFor(serve, /REST API on/);
    assert.doesNotMatch(serve.output(), /created user "admin"/);
    assert.match(serve.output(), /SRT server "default" on UDP \d+: running/);
    const again = await fetch(`${base}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: 'first-admin-pass' }) });
    assert.equal(again.status, 200);
  } finally {
    delete process.env['SLUICE_ADMIN_PASSWORD'];
    await serve.kill('SIGTERM');
  }
});
