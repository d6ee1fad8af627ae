// The stream preview WebSocket (GET /api/v1/servers/:id/streams/preview) over a real socket, and
// the dashboard's static files with the single-page fallback.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Fastify from 'fastify';
import jwt from '@fastify/jwt';
import { setImmediate as tick } from 'node:timers/promises';
import WebSocket from 'ws';
import { registerWeb } from '../../src/api/web.js';
import { PreviewClose, registerPreviewRoutes } from '../../src/api/routes/preview.js';
import { Server } from '../../src/server/server.js';
import type { AppContext } from '../../src/api/context.js';
import type { App } from '../../src/api/common.js';
import { dial } from '../../src/transport/api.js';
import { apiHarness } from '../support/api.js';
import { freePort, tempDir, until } from '../support/peers.js';
import { fileTimeout } from '../support/file-timeout.js';

fileTimeout();

/** A 1316-byte message of 7 TS packets; `key` sets random_access_indicator on the first. */
function tsMessage(i: number, key = false): Buffer {
  const b = Buffer.alloc(1316, 0xff);
  for (let o = 0; o < 1316; o += 188) {
    b[o] = 0x47;
    b[o + 1] = 0x01;
    b[o + 2] = 0x00;
    b[o + 3] = 0x10;
  }
  if (key) {
    b[3] = 0x30; // adaptation field + payload
    b[4] = 7;
    b[5] = 0x40; // random_access_indicator
  }
  b.writeUInt32BE(i, 100); // which message this is
  return b;
}

interface Closed { code: number; reason: string }

function open(url: string, protocols?: string[]): { ws: WebSocket; got: Buffer[]; closed: Promise<Closed>; opened: Promise<void> } {
  const ws = new WebSocket(url, protocols);
  const got: Buffer[] = [];
  ws.on('message', (d: Buffer) => got.push(d));
  ws.on('error', () => undefined);
  const closed = new Promise<Closed>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  const opened = new Promise<void>((resolve) => ws.on('open', () => resolve()));
  return { ws, got, closed, opened };
}

test('preview WebSocket: token as subprotocol or query, refusals as close codes, MPEG-TS from a keyframe, a player that can be kicked', async () => {
  const h = await apiHarness();
  const { app, servers } = h;
  const srtPort = await freePort();
  const srv = await servers.create({ server_name: 'pv', server_port: srtPort });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  const url = (id: number, stream: string, extra = ''): string => `ws://127.0.0.1:${port}/api/v1/servers/${id}/streams/preview?stream=${encodeURIComponent(stream)}${extra}`;
  const pub = await dial({ host: '127.0.0.1', port: srtPort, streamid: 'publish:/live/pv' });
  try {
    const login = await app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username: 'admin', password: 'admin-pass-1' } });
    const token = (login.json() as { token: string }).token;

    // refusals: the socket opens, then closes with a code and a reason
    const noToken = open(url(srv.id, 'live/pv'));
    assert.deepEqual(await noToken.closed, { code: 4401, reason: 'a valid token is required (POST /api/v1/auth/login)' });
    const badToken = open(url(srv.id, 'live/pv'), ['sluice.preview', 'bearer.not-a-jwt']);
    assert.equal((await badToken.closed).code, 4401);
    const noServer = open(url(999, 'live/pv', `&token=${token}`));
    assert.equal((await noServer.closed).code, 4404);
    const noStream = open(url(srv.id, 'live/none', `&token=${token}`));
    assert.deepEqual(await noStream.closed, { code: 4404, reason: `no live stream "live/none" on server ${srv.id}` });
    assert.equal(servers.runtime(srv.id)!.streamNames().includes('live/none'), false, 'a refused preview leaves no stream behind');

    // a plain GET answers what an upgrade would, or 426
    assert.equal((await app.inject({ url: `/api/v1/servers/${srv.id}/streams/preview?stream=live/pv` })).statusCode, 401);
    await until(() => servers.runtime(srv.id)!.streamNames().includes('live/pv'));
    const plain = await app.inject({ url: `/api/v1/servers/${srv.id}/streams/preview?stream=live/pv`, headers: { authorization: `Bearer ${token}` } });
    assert.equal(plain.statusCode, 426);
    assert.equal((plain.json() as { code: string }).code, 'API_ERR_UPGRADE_REQUIRED');

    // the dashboard's way: token in the subprotocol; the stream from its next keyframe
    const viewer = open(url(srv.id, '/live/pv'), ['sluice.preview', `bearer.${token}`]);
    await viewer.opened;
    assert.equal(viewer.ws.protocol, 'sluice.preview');
    await until(() => servers.runtime(srv.id)!.stats()[0]!.players.length === 1);
    const sent = [tsMessage(0), tsMessage(1), tsMessage(2, true), tsMessage(3), tsMessage(4), tsMessage(5, true), tsMessage(6)];
    for (const m of sent) pub.write(m);
    await until(() => viewer.got.length === 5, 5000);
    assert.deepEqual(viewer.got.map((m) => m.readUInt32BE(100)), [2, 3, 4, 5, 6], 'starts at the keyframe, then every message in order');
    assert.ok(viewer.got[0]!.equals(sent[2]!), 'messages arrive unchanged');

    // it is a player of the stream, named after the user, and an operator can kick it
    const streams = (await app.inject({ url: `/api/v1/servers/${srv.id}/streams`, headers: { authorization: `Bearer ${token}` } })).json() as { players: { id: number; peer: string; stats: Record<string, number> }[] }[];
    const player = streams[0]!.players.find((p) => p.peer === 'preview:admin');
    assert.ok(player, JSON.stringify(streams));
    assert.equal(player.stats['pktSentTotal'], 5);
    const kick = await app.inject({ method: 'DELETE', url: `/api/v1/servers/${srv.id}/connections/${player.id}`, headers: { authorization: `Bearer ${token}` } });
    assert.equal(kick.statusCode, 204);
    assert.equal((await viewer.closed).code, 1000);
    await until(() => servers.runtime(srv.id)!.stats()[0]!.players.length === 0);
    assert.equal(servers.runtime(srv.id)!.stats()[0]!.players.length, 0);

    // a viewer that leaves is removed from the stream; ?token= works for other clients
    const other = open(url(srv.id, 'live/pv', `&token=${token}`));
    await other.opened;
    await until(() => servers.runtime(srv.id)!.stats()[0]!.players.length === 1);
    other.ws.close();
    await until(() => servers.runtime(srv.id)!.stats()[0]!.players.length === 0);
    assert.equal(servers.runtime(srv.id)!.stats()[0]!.players.length, 0, 'the local player is closed with the socket');

    // stopping the server ends the preview
    const last = open(url(srv.id, 'live/pv', `&token=${token}`));
    await last.opened;
    await until(() => servers.runtime(srv.id)!.stats()[0]!.players.length === 1);
    await servers.stop(srv.id);
    const end = await last.closed;
    assert.equal(end.code, 1000);
    assert.equal(end.reason, 'server stopped');
  } finally {
    pub.destroy();
    await h.close();
  }
});

test('dashboard files: index.html uncached, hashed assets cached, browser navigations fall back to index.html, API paths keep their 404', async () => {
  const root = tempDir();
  mkdirSync(join(root, 'assets'));
  writeFileSync(join(root, 'index.html'), '<!doctype html><title>Sluice</title>');
  writeFileSync(join(root, 'assets', 'index-abc123.js'), 'console.log(1)');
  const app = Fastify() as unknown as App;
  const dashboard = await registerWeb(app, root);
  app.setNotFoundHandler((req, reply) => (dashboard.fallback(req, reply) ? reply : reply.code(404).send({ code: 'API_ERR_NOT_FOUND' })));
  try {
    assert.equal(dashboard.available, true);
    const index = await app.inject({ url: '/' });
    assert.equal(index.statusCode, 200);
    assert.match(index.headers['content-type'] as string, /text\/html/);
    assert.equal(index.headers['cache-control'], 'no-cache');
    const asset = await app.inject({ url: '/assets/index-abc123.js' });
    assert.equal(asset.statusCode, 200);
    assert.match(asset.headers['cache-control'] as string, /immutable/);
    const deep = await app.inject({ url: '/servers-page/3', headers: { accept: 'text/html,application/xhtml+xml' } });
    assert.equal(deep.statusCode, 200);
    assert.match(deep.body, /<title>Sluice/);
    for (const path of ['/api/v1/nothing', '/v1/nothing', '/servers/nothing', '/docs/x']) {
      const r = await app.inject({ url: path, headers: { accept: 'text/html' } });
      assert.equal(r.statusCode, 404, path);
      assert.equal((r.json() as { code: string }).code, 'API_ERR_NOT_FOUND');
    }
    assert.equal((await app.inject({ url: '/assets/missing.js' })).statusCode, 404, 'a missing asset is not answered with HTML');
    assert.equal((await app.inject({ method: 'POST', url: '/somewhere', headers: { accept: 'text/html' } })).statusCode, 404);
  } finally {
    await app.close();
  }
  const bare = Fastify() as unknown as App;
  const none = await registerWeb(bare, join(root, 'missing'));
  assert.equal(none.available, false);
  const r = await bare.inject({ url: '/' });
  assert.equal(r.statusCode, 503);
  assert.match(r.body, /npm run build:web/);
  await bare.close();
});

test('preview WebSocket: a viewer that stops reading is dropped (4408) once its socket holds more than the limit', async () => {
  const server = new Server({ name: 'slow', port: await freePort() });
  await server.start();
  const app = Fastify() as unknown as App;
  await app.register(jwt, { secret: 'test-secret-test-secret' });
  const ctx = { servers: { get: async () => ({}), runtime: () => server } } as unknown as AppContext;
  await registerPreviewRoutes(app, ctx, 256 * 1024);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  const feed = server.publishLocal('live/slow', 'feed');
  const dropped: string[] = [];
  server.on('closed', (c, reason) => { if (c.peer.startsWith('preview:')) dropped.push(reason); });
  try {
    const token = app.jwt.sign({ sub: 'ops', role: 'viewer' });
    const viewer = open(`ws://127.0.0.1:${port}/api/v1/servers/1/streams/preview?stream=live/slow`, ['sluice.preview', `bearer.${token}`]);
    await viewer.opened;
    await until(() => server.stats()[0]!.players.length === 1);
    (viewer.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause(); // stops reading: the kernel buffers fill, then the server's queue
    const msg = tsMessage(0, true);
    for (let i = 0; i < 400 && dropped.length === 0; i++) {
      for (let j = 0; j < 100; j++) feed.write(msg);
      await tick();
    }
    assert.equal(dropped.length, 1, 'the slow viewer is dropped');
    assert.equal(dropped[0], 'viewer too slow: over 256 KiB queued');
    assert.equal(server.stats()[0]!.players.length, 0, 'and removed from the stream');
    (viewer.ws as unknown as { _socket: { resume(): void } })._socket.resume();
    assert.equal((await viewer.closed).code, PreviewClose.TOO_SLOW);
    assert.ok(viewer.got.length > 100, `it got data before (${viewer.got.length} messages)`);
  } finally {
    feed.close();
    await app.close();
    await server.close();
  }
});

test('preview WebSocket on a server with waitForPublisher: a stream not published yet is waited for (as SRT players are), not 4404', async (t) => {
  const h = await apiHarness();
  const { app, servers } = h;
  const srtPort = await freePort();
  const srv = await servers.create({ server_name: 'pw', server_port: srtPort, settings: { waitForPublisher: true } });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  let pub: Awaited<ReturnType<typeof dial>> | null = null;
  try {
    const token = await h.login('admin', 'admin-pass-1');
    const viewer = open(`ws://127.0.0.1:${port}/api/v1/servers/${srv.id}/streams/preview?stream=live/later`, ['sluice.preview', `bearer.${token}`]);
    await viewer.opened;
    const rt = servers.runtime(srv.id)!;
    await until(() => rt.stats().find((s) => s.name === 'live/later')?.players.length === 1);
    assert.equal(rt.stats().find((s) => s.name === 'live/later')?.publisher, null, 'listed, waiting for its publisher');
    // an SRT player (Callaba form) of the same stream is held as well, not refused 1404
    const early = await dial({ host: '127.0.0.1', port: srtPort, streamid: 'receiver/pw/live/later' });
    t.after(() => early.destroy());
    pub = await dial({ host: '127.0.0.1', port: srtPort, streamid: 'publish:live/later' });
    const sent = [tsMessage(0), tsMessage(1, true), tsMessage(2)];
    for (const m of sent) pub.write(m);
    await until(() => viewer.got.length === 2, 5000);
    assert.deepEqual(viewer.got.map((m) => m.readUInt32BE(100)), [1, 2], 'from the first keyframe of the publisher that came');
    early.destroy();
    viewer.ws.close();
    await viewer.closed;
  } finally {
    pub?.destroy();
    await h.close();
  }
});
