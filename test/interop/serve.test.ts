// `sluice serve` as a new user runs it: fresh data dir, admin from the environment, the default
// SRT server taking an ffmpeg publish, the API showing it, SIGTERM, and state after a restart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { freePort, requireTool, sleep, spawnPeer, tempDir, testMedia } from '../support/peers.js';
import { fileTimeout } from '../support/file-timeout.js';

fileTimeout();

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

async function waitFor(p: { output(): string }, re: RegExp, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!re.test(p.output()) && Date.now() < end) await sleep(50);
  assert.match(p.output(), re);
}

test('sluice serve: first start, ffmpeg publishes to the default server, API lists the stream, restart keeps state', async () => {
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
    const ff = spawnPeer('ffmpeg', ['-loglevel', 'error', '-re', '-i', testMedia(), '-t', '2', '-c', 'copy', '-f', 'mpegts', `srt://127.0.0.1:${srtPort}?streamid=publish:/live/x&pkt_size=1316`]);
    let streams: string[] = [];
    const end = Date.now() + 5000;
    while (!streams.includes('live/x') && Date.now() < end) {
      await sleep(200);
      const r = await fetch(`${base}/api/v1/servers`, { headers: { authorization: `Bearer ${token}` } });
      streams = ((await r.json()) as { streams: string[] }[])[0]!.streams;
    }
    assert.deepEqual(streams, ['live/x']);
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
