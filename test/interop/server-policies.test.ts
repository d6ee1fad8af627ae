// More server behaviour with real peers: default stream, keyframe start, kicking, statistics,
// connection limits, MediaMTX-style credentials.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Server, type ServerConfig } from '../../src/server/server.js';
import { PsiCache } from '../../src/server/tsmux.js';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dial } from '../../src/transport/api.js';
import { SrtRejectedError } from '../../src/transport/errors.js';
import { SRT_REJX } from '../../src/protocol/reject.js';
import { freePort, requireTool, sleep, spawnPeer, tempDir, testMedia, until } from '../support/peers.js';
import { fileTimeout } from '../support/file-timeout.js';

fileTimeout();

requireTool('ffmpeg');

async function startServer(cfg: Partial<ServerConfig> = {}): Promise<{ server: Server; port: number }> {
  const port = await freePort();
  const server = new Server({ name: 'srv2', host: '127.0.0.1', port, ...cfg });
  await server.start();
  return { server, port };
}

async function reason(p: Promise<unknown>): Promise<number> {
  try {
    const s = (await p) as { destroy(): void };
    s.destroy();
    return -1;
  } catch (e) {
    return (e as SrtRejectedError).reason ?? -2;
  }
}

test('an encoder without a stream id publishes to the default stream; a late player starts at a keyframe', async (t) => {
  const { server, port } = await startServer({ defaultStream: '/live/default', startAtKeyframe: true });
  const ff = spawnPeer('ffmpeg', ['-loglevel', 'error', '-re', '-i', testMedia(), '-c', 'copy', '-f', 'mpegts', `srt://127.0.0.1:${port}?pkt_size=1316&linger=3`]);
  try {
    await until(() => server.streamNames().includes('live/default'));
    assert.deepEqual(server.streamNames(), ['live/default']);
    await sleep(700); // join mid-GOP
    const player = await dial({ host: '127.0.0.1', port, streamid: 'live/default' });
    t.after(() => player.destroy());
    const got: Buffer[] = [];
    player.on('data', (d: Buffer) => got.push(d));
    await until(() => got.length > 300, 6000);
    assert.ok(got.length > 300, 'the player receives data');
    // first the stream's PAT and PMT, then a message that starts with a VIDEO keyframe (muxers
    // also mark audio frames as random-access points: starting there gives undecodable video)
    const psi = new PsiCache();
    psi.observe(got[0]!);
    assert.ok(psi.ready, 'the first message carries the PAT and PMT');
    assert.equal(got[0]!.length % 188, 0);
    assert.equal(psi.keyframeOffset(got[1]!), 0, 'the second message starts with a video keyframe');
    const file = join(tempDir(), 'late-player.ts');
    writeFileSync(file, Buffer.concat(got));
    const probe = spawnSync('ffprobe', ['-v', 'error', '-count_frames', '-show_entries', 'stream=codec_type,nb_read_frames', '-of', 'csv', file], { encoding: 'utf8' });
    assert.equal(probe.stderr.trim(), '', 'a late player\'s stream decodes without errors');
    assert.match(probe.stdout, /video,\d+/);
    const view = server.stats()[0]!;
    assert.equal(view.players.length, 1);
    assert.ok(view.publisher!.stats.pktRecvTotal > 0 && view.publisher!.stats.msRTT >= 0, 'per-connection libsrt statistics');
    player.destroy();
    await ff.exited;
  } finally {
    await ff.kill();
    await server.close();
  }
});

test('kicking a connection, connection limits, MediaMTX user:pass', async (t) => {
  const { server, port } = await startServer({ maxConnections: 3, maxPerPeer: 3, users: { ann: { password: 'pw1', publish: true, read: true } } });
  const closed: string[] = [];
  server.on('closed', (c, r) => closed.push(`${c.role}:${r}`));
  try {
    assert.equal(await reason(dial({ host: '127.0.0.1', port, streamid: 'publish:live/m:ann:wrong' })), SRT_REJX.UNAUTHORIZED);
    const pub = await dial({ host: '127.0.0.1', port, streamid: 'publish:live/m:ann:pw1' });
    const p1 = await dial({ host: '127.0.0.1', port, streamid: 'read:live/m:ann:pw1' });
    const p2 = await dial({ host: '127.0.0.1', port, streamid: 'read:live/m:ann:pw1' });
    t.after(() => p2.destroy());
    assert.equal(await reason(dial({ host: '127.0.0.1', port, streamid: 'read:live/m:ann:pw1' })), SRT_REJX.OVERLOAD, 'maxConnections');
    const victim = server.connections().find((c) => c.role === 'player')!;
    assert.ok(server.closeConnection(victim.id));
    await until(() => closed.length > 0);
    assert.equal(closed[0], 'player:local');
    await until(() => p1.closeReason !== null || p2.closeReason !== null);
    assert.ok([p1.closeReason, p2.closeReason].includes('peer'), 'the kicked caller got SHUTDOWN');
    assert.equal(server.closeConnection(99999), false);
    pub.destroy();
    p1.destroy();
    p2.destroy();
  } finally {
    await server.close();
  }
});

test('per-peer connection limit: 1402 OVERLOAD beyond it, other limits untouched', async (t) => {
  const { server, port } = await startServer({ maxPerPeer: 2 });
  try {
    const pub = await dial({ host: '127.0.0.1', port, streamid: 'publish:live/pp' });
    t.after(() => pub.destroy());
    await until(() => server.streamNames().includes('live/pp'));
    const p1 = await dial({ host: '127.0.0.1', port, streamid: 'live/pp' });
    t.after(() => p1.destroy());
    assert.equal(await reason(dial({ host: '127.0.0.1', port, streamid: 'live/pp' })), SRT_REJX.OVERLOAD);
    p1.destroy();
    await until(() => server.connections().length === 1);
    const p2 = await dial({ host: '127.0.0.1', port, streamid: 'live/pp' });
    t.after(() => p2.destroy());
    assert.equal(server.connections().length, 2, 'a freed slot can be used again');
    p2.destroy();
    pub.destroy();
  } finally {
    await server.close();
  }
});
