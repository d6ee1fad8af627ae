// REST API on a real SQLite file, through fastify's inject (no HTTP socket needed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dirname } from 'node:path';
import dgram from 'node:dgram';
import { dial } from '../../src/transport/api.js';
import { SrtRejectedError } from '../../src/transport/errors.js';
import { SRT_REJ } from '../../src/protocol/reject.js';
import { apiHarness } from '../support/api.js';
import { diffMessages, freePort, makeMessages, requireTool, sltConnected, spawnPeer, udpCollect, udpDrops, udpSendPaced, until } from '../support/peers.js';
import { fileTimeout } from '../support/file-timeout.js';

fileTimeout();

async function setup(file?: string) {
  const h = await apiHarness(file ? { dir: dirname(file) } : {});
  return { db: h.db, servers: h.servers, gateways: h.gateways, app: h.app, login: h.login, close: h.close, file: h.file };
}

test('auth: health and OpenAPI are open; everything else needs a token (Bearer or x-access-token); roles; bad logins', async () => {
  const t = await setup();
  try {
    assert.equal((await t.app.inject({ url: '/healthz' })).statusCode, 200);
    const spec = (await t.app.inject({ url: '/openapi.json' })).json() as { openapi: string; paths: Record<string, unknown> };
    assert.match(spec.openapi, /^3\./);
    assert.ok(spec.paths['/api/v1/servers'] && spec.paths['/api/v1/auth/login'], 'routes documented');
    const no = await t.app.inject({ url: '/api/v1/servers' });
    assert.equal(no.statusCode, 401);
    assert.equal((no.json() as { code: string }).code, 'API_ERR_UNAUTHORIZED');
    const bad = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username: 'admin', password: 'nope' } });
    assert.equal(bad.statusCode, 401);
    const token = await t.login('admin', 'admin-pass-1');
    assert.equal((await t.app.inject({ url: '/api/v1/servers', headers: { authorization: `Bearer ${token}` } })).statusCode, 200);
    assert.equal((await t.app.inject({ url: '/api/v1/servers', headers: { 'x-access-token': token } })).statusCode, 200);
    const viewer = await t.login('view', 'viewer-pass-1');
    const denied = await t.app.inject({ method: 'POST', url: '/api/v1/servers', headers: { authorization: `Bearer ${viewer}` }, payload: { server_name: 'x', server_port: 7000 } });
    assert.equal(denied.statusCode, 403);
    for (let i = 0; i < 5; i++) await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username: 'admin', password: 'wrong' } });
    const limited = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username: 'admin', password: 'admin-pass-1' } });
    assert.equal(limited.statusCode, 429, 'login rate limiting');
    for (const url of ['/v1/login', '/auth/login']) {
      const other = await t.app.inject({ method: 'POST', url, payload: { username: 'admin', password: 'admin-pass-1' } });
      assert.equal(other.statusCode, 429, `${url} shares the failed-login budget`);
    }
  } finally {
    await t.close();
  }
});

test('servers: create starts an SRT server that accepts callers; 400 lists every invalid field; 409 names the conflict; failed bind is reported; update restarts; delete frees the port; state survives a restart', async () => {
  const t = await setup();
  const port = await freePort();
  let reopened: Awaited<ReturnType<typeof setup>> | null = null;
  try {
    const auth = { authorization: `Bearer ${await t.login('admin', 'admin-pass-1')}` };
    const invalid = await t.app.inject({ method: 'POST', url: '/api/v1/servers', headers: auth, payload: { server_name: 'bad name!', server_port: 70000, server_latency: -5, bogus: 1 } });
    assert.equal(invalid.statusCode, 400);
    const fields = (invalid.json() as { errors: { field: string }[] }).errors.map((e) => e.field).sort();
    assert.deepEqual(fields, ['bogus', 'server_latency', 'server_name', 'server_port']);
    const created = await t.app.inject({ method: 'POST', url: '/api/v1/servers', headers: auth, payload: { server_name: 'studio', server_port: port, server_latency: 200, settings: { passphrase: 'studio-passphrase' } } });
    assert.equal(created.statusCode, 201, created.body);
    const s = created.json() as { id: number; status: string };
    assert.equal(s.status, 'running');
    const pub = await dial({ host: '127.0.0.1', port, streamid: 'publish:live/a', passphrase: 'studio-passphrase' });
    assert.equal(pub.negotiated.rcvLatency, 200, 'server_latency applies');
    await until(() => t.servers.runtime(s.id)!.streamNames().length > 0);
    const got = (await t.app.inject({ url: `/api/v1/servers/${s.id}`, headers: auth })).json() as { streams: string[]; connections: number };
    assert.deepEqual(got.streams, ['live/a']);
    assert.equal(got.connections, 1);
    const dup = await t.app.inject({ method: 'POST', url: '/api/v1/servers', headers: auth, payload: { server_name: 'other', server_port: port } });
    assert.equal(dup.statusCode, 409);
    assert.match((dup.json() as { message: string }).message, new RegExp(`server_port ${port} is used by server ${s.id} \\("studio"\\)`));
    // a port someone else holds: stored, shown as failed with the reason
    const squatter = dgram.createSocket('udp4');
    const busy = await freePort();
    await new Promise<void>((r) => squatter.bind(busy, '0.0.0.0', () => r()));
    try {
      const failed = await t.app.inject({ method: 'POST', url: '/api/v1/servers', headers: auth, payload: { server_name: 'blocked', server_port: busy } });
      assert.equal(failed.statusCode, 201);
      assert.equal((failed.json() as { status: string }).status, 'failed');
      assert.match((failed.json() as { error: string }).error, /EADDRINUSE/);
    } finally {
      squatter.close();
    }
    const upd = await t.app.inject({ method: 'PATCH', url: `/api/v1/servers/${s.id}`, headers: auth, payload: { server_latency: 300 } });
    assert.equal(upd.statusCode, 200);
    assert.equal((upd.json() as { restarted: boolean }).restarted, true, 'a running server is restarted and the response says so');
    await until(() => pub.closeReason !== null, 3000);
    assert.equal(pub.closeReason, 'peer', 'its peers were disconnected');
    assert.equal((await t.app.inject({ method: 'POST', url: `/api/v1/servers/${s.id}/stop`, headers: auth })).json().status, 'stopped');
    assert.equal((await t.app.inject({ method: 'POST', url: `/api/v1/servers/${s.id}/start`, headers: auth })).json().status, 'running');
    await t.app.close();
    await t.servers.closeAll();
    await t.db.destroy();
    // restart on the same database: active servers come back
    reopened = await setup(t.file);
    const auth2 = { authorization: `Bearer ${await reopened.login('admin', 'admin-pass-1')}` };
    const list = (await reopened.app.inject({ url: '/api/v1/servers', headers: auth2 })).json() as { server_name: string; status: string; server_latency: number }[];
    const studio = list.find((x) => x.server_name === 'studio')!;
    assert.equal(studio.status, 'running');
    assert.equal(studio.server_latency, 300);
    assert.equal((await reopened.app.inject({ method: 'DELETE', url: `/api/v1/servers/${s.id}`, headers: auth2 })).statusCode, 204);
    assert.equal((await reopened.app.inject({ url: `/api/v1/servers/${s.id}`, headers: auth2 })).statusCode, 404);
    const again = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => { again.once('error', reject); again.bind(port, '0.0.0.0', () => resolve()); });
    again.close();
    pub.destroy();
  } finally {
    if (reopened) await reopened.close();
    else await t.close().catch(() => undefined);
  }
});

test('streams and connections of a running server; DELETE kicks a connection', async (tc) => {
  const t = await setup();
  const port = await freePort();
  try {
    const auth = { authorization: `Bearer ${await t.login('admin', 'admin-pass-1')}` };
    const s = (await t.app.inject({ method: 'POST', url: '/api/v1/servers', headers: auth, payload: { server_name: 'live', server_port: port } })).json() as { id: number };
    const pub = await dial({ host: '127.0.0.1', port, streamid: 'publish:cam' });
    tc.after(() => pub.destroy());
    await until(() => t.servers.runtime(s.id)!.streamNames().length === 1);
    const player = await dial({ host: '127.0.0.1', port, streamid: 'cam' });
    tc.after(() => player.destroy());
    await until(() => t.servers.runtime(s.id)!.connections().length === 2);
    const streams = (await t.app.inject({ url: `/api/v1/servers/${s.id}/streams`, headers: auth })).json() as { name: string; publisher: { id: number; stats: Record<string, number> }; players: { id: number }[] }[];
    assert.equal(streams.length, 1);
    assert.equal(streams[0]!.name, 'cam');
    assert.equal(streams[0]!.players.length, 1);
    assert.ok('msRTT' in streams[0]!.publisher.stats && 'pktRecvTotal' in streams[0]!.publisher.stats, 'libsrt statistics names');
    const kick = await t.app.inject({ method: 'DELETE', url: `/api/v1/servers/${s.id}/connections/${streams[0]!.players[0]!.id}`, headers: auth });
    assert.equal(kick.statusCode, 204);
    await until(() => player.closeReason !== null, 3000);
    assert.equal(player.closeReason, 'peer', 'the kicked player got SHUTDOWN');
    assert.equal((await t.app.inject({ method: 'DELETE', url: `/api/v1/servers/${s.id}/connections/999`, headers: auth })).statusCode, 404);
    await t.app.inject({ method: 'POST', url: `/api/v1/servers/${s.id}/stop`, headers: auth });
    assert.equal((await t.app.inject({ url: `/api/v1/servers/${s.id}/streams`, headers: auth })).statusCode, 409);
    pub.destroy();
    player.destroy();
  } finally {
    await t.close();
  }
});

test('any user changes their own password; the wrong current password is a field error', async () => {
  const t = await setup();
  try {
    const token = await t.login('view', 'viewer-pass-1');
    const auth = { authorization: `Bearer ${token}` };
    const wrong = await t.app.inject({ method: 'POST', url: '/api/v1/auth/password', headers: auth, payload: { current_password: 'nope', new_password: 'viewer-pass-2' } });
    assert.equal(wrong.statusCode, 400);
    assert.deepEqual((wrong.json() as { errors: { field: string }[] }).errors.map((e) => e.field), ['current_password']);
    const short = await t.app.inject({ method: 'POST', url: '/api/v1/auth/password', headers: auth, payload: { current_password: 'viewer-pass-1', new_password: 'short' } });
    assert.equal(short.statusCode, 400);
    const ok = await t.app.inject({ method: 'POST', url: '/api/v1/auth/password', headers: auth, payload: { current_password: 'viewer-pass-1', new_password: 'viewer-pass-2' } });
    assert.equal(ok.statusCode, 204);
    await t.login('view', 'viewer-pass-2');
    const old = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username: 'view', password: 'viewer-pass-1' } });
    assert.equal(old.statusCode, 401);
  } finally {
    await t.close();
  }
});

test('server settings are typed: every bad setting is named with its path', async () => {
  const t = await setup();
  try {
    const auth = { authorization: `Bearer ${await t.login('admin', 'admin-pass-1')}` };
    const r = await t.app.inject({
      method: 'POST', url: '/api/v1/servers', headers: auth,
      payload: { server_name: 'typed', server_port: await freePort(), settings: { maxConnections: 0, passphrase: 'short', accessMode: 'open', bogus: 1, streams: { cam: { publishPassphrase: 'x' } }, authHook: { url: 'ftp://x' }, gopCache: 'yes', gopCacheMaxBytes: 10 } },
    });
    assert.equal(r.statusCode, 400, r.body);
    const fields = [...new Set((r.json() as { errors: { field: string }[] }).errors.map((e) => e.field))].sort();
    assert.deepEqual(fields, ['settings.accessMode', 'settings.authHook.url', 'settings.bogus', 'settings.gopCache', 'settings.gopCacheMaxBytes', 'settings.maxConnections', 'settings.passphrase', 'settings.streams.cam.publishPassphrase']);
    const settings = { maxConnections: 10, accessMode: 'whitelist', whitelist: ['live/a'], startAtKeyframe: true, gopCache: false, gopCacheMaxBytes: 1048576 };
    const ok = await t.app.inject({ method: 'POST', url: '/api/v1/servers', headers: auth, payload: { server_name: 'typed', server_port: await freePort(), settings } });
    assert.equal(ok.statusCode, 201, ok.body);
    assert.deepEqual((ok.json() as { settings: unknown }).settings, settings);
  } finally {
    await t.close();
  }
});

test('servers: settings.packetfilter (libsrt\'s fec filter) — srt-live-transmit publishes and plays through the server with FEC, byte-exact; a conflicting filter is refused (SRT_REJ_FILTER); a bad string answers 400 naming the field', async (tc) => {
  requireTool('srt-live-transmit');
  const t = await setup();
  tc.after(() => t.close());
  const auth = { authorization: `Bearer ${await t.login('admin', 'admin-pass-1')}` };
  const port = await freePort();
  // a bad filter string: 400 with the field and what is wrong, nothing stored
  for (const [filter, re] of [['fec,cols:1', /cols: "1" must be at least 2/], ['fec,cols:10,bogus:3', /bogus: unknown key/], ['rs,cols:10', /unknown packet filter "rs"/]] as const) {
    const bad = await t.app.inject({ method: 'POST', url: '/api/v1/servers', headers: auth, payload: { server_name: 'fec', server_port: port, settings: { packetfilter: filter } } });
    assert.equal(bad.statusCode, 400, bad.body);
    const body = bad.json() as { code: string; message: string; errors: { field: string; message: string }[] };
    assert.equal(body.code, 'API_ERR_VALIDATION');
    assert.deepEqual(body.errors.map((e) => e.field), ['settings.packetfilter'], bad.body);
    assert.match(body.message, re);
  }
  assert.deepEqual((await t.app.inject({ url: '/api/v1/servers', headers: auth })).json(), [], 'nothing stored');

  const filter = 'fec,cols:10,rows:5,arq:never';
  const created = await t.app.inject({ method: 'POST', url: '/api/v1/servers', headers: auth, payload: { server_name: 'fec', server_port: port, settings: { packetfilter: filter } } });
  assert.equal(created.statusCode, 201, created.body);
  const srv = created.json() as { id: number; status: string; settings: Record<string, unknown> };
  assert.deepEqual([srv.status, srv.settings['packetfilter']], ['running', filter]);
  // an update with a bad string is refused the same way and changes nothing
  const badUpdate = await t.app.inject({ method: 'PATCH', url: `/api/v1/servers/${srv.id}`, headers: auth, payload: { settings: { packetfilter: 'fec,cols:10,layout:diagonal' } } });
  assert.equal(badUpdate.statusCode, 400, badUpdate.body);
  assert.deepEqual((badUpdate.json() as { errors: { field: string }[] }).errors.map((e) => e.field), ['settings.packetfilter']);
  assert.equal(((await t.app.inject({ url: `/api/v1/servers/${srv.id}`, headers: auth })).json() as { settings: Record<string, unknown> }).settings['packetfilter'], filter);

  // srt-live-transmit publishes with the same filter; another one plays with it
  const udpIn = await freePort();
  const sink = await udpCollect();
  tc.after(() => sink.close());
  const pub = spawnPeer('srt-live-transmit', ['-v', `udp://127.0.0.1:${udpIn}`, `srt://127.0.0.1:${port}?streamid=publish:cam&packetfilter=${filter}`]);
  tc.after(() => pub.kill());
  await sltConnected(pub); // it discards its UDP input until then
  const play = spawnPeer('srt-live-transmit', ['-v', `srt://127.0.0.1:${port}?streamid=read:cam&packetfilter=${filter}`, `udp://127.0.0.1:${sink.port}`]);
  tc.after(() => play.kill());
  const rt = t.servers.runtime(srv.id)!;
  await until(() => rt.connections().length === 2, 10_000, 'the publisher and the player are connected', () => play.output().slice(-500));
  const msgs = makeMessages(1500);
  await udpSendPaced(udpIn, msgs, 1000);
  await sink.waitFor(msgs.length, 10_000, () => `kernel drops at the publisher's input: ${udpDrops(udpIn)}`);
  assert.equal(diffMessages(msgs, sink.messages), null);
  // both legs ran the filter: FEC packets came from the publisher and went to the player
  type Conn = { role: string; stats: Record<string, number> };
  const streams = (await t.app.inject({ url: `/api/v1/servers/${srv.id}/streams`, headers: auth })).json() as { name: string; publisher: Conn; players: Conn[] }[];
  assert.equal(streams[0]!.name, 'cam');
  assert.ok(streams[0]!.publisher.stats['pktRcvFilterExtraTotal']! >= msgs.length / 10, `FEC packets from the publisher: ${streams[0]!.publisher.stats['pktRcvFilterExtraTotal']}`);
  assert.ok(streams[0]!.players[0]!.stats['pktSndFilterExtraTotal']! >= msgs.length / 10, `FEC packets to the player: ${streams[0]!.players[0]!.stats['pktSndFilterExtraTotal']}`);

  // a caller whose filter contradicts the server's (cols 20 against 10) is refused with SRT_REJ_FILTER
  await assert.rejects(dial({ host: '127.0.0.1', port, streamid: 'read:cam', packetfilter: 'fec,cols:20,rows:5' }), (e: unknown) => e instanceof SrtRejectedError && e.reason === SRT_REJ.FILTER);
  // a caller without a filter takes the server's
  const plain = await dial({ host: '127.0.0.1', port, streamid: 'read:cam' });
  tc.after(() => plain.destroy());
  assert.equal(plain.packetFilter, filter, 'the server answers with its own string');
});
