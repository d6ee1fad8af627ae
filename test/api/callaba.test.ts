// Callaba compatibility API (the routes of Callaba's SRT server tutorial) on a real SQLite file,
// through fastify's inject; SRT peers are Sluice callers, ffmpeg and srt-live-transmit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import { dial } from '../../src/transport/api.js';
import type { SrtSocket } from '../../src/transport/socket.js';
import { apiHarness } from '../support/api.js';
import { freePort, makeMessages, requireTool, sleep, spawnPeer, testMedia, udpCollect, until } from '../support/peers.js';
import { fileTimeout } from '../support/file-timeout.js';
import { waitFor } from '../support/wait.js';

fileTimeout();

async function setup() {
  const h = await apiHarness();
  /** Callaba login: POST /auth/login answers the token to send as x-access-token. */
  const login = async (username: string, password: string): Promise<{ 'x-access-token': string }> => {
    const r = await h.app.inject({ method: 'POST', url: '/auth/login', payload: { username, password } });
    assert.equal(r.statusCode, 200, r.body);
    const b = r.json() as { token: string; 'x-access-token': string; success: boolean };
    assert.equal(b.success, true);
    assert.equal(b['x-access-token'], b.token);
    return { 'x-access-token': b.token };
  };
  return { db: h.db, servers: h.servers, tasks: h.tasks, app: h.app, login, close: h.close };
}

interface CallabaServer {
  _id: string; id: number; server_name: string; server_name_code: string; server_type: string; server_port: number;
  server_latency: number; server_maxbw: number; server_timeout: number; server_rcvbuf: number; server_active: boolean;
  status: string; error: string | null; connections: number; streams: string[];
}

/** The document's example body, on a free port. */
const exampleBody = (port: number): Record<string, unknown> => ({
  server_name: 'Awesome SRT server',
  server_type: 'SERVER_TYPE_SRT',
  server_port: port,
  server_latency: 200,
  server_maxbw: -1,
  server_timeout: 60,
  server_rcvbuf: 48234496,
  server_active: true,
});

function collect(s: SrtSocket): Buffer[] {
  const got: Buffer[] = [];
  s.on('data', (d: Buffer) => got.push(d));
  return got;
}

test('Callaba API: login, create with the example body, getAllByType, getById, publish/play by server_name_code, update restarts, stop/start, remove; server_timeout in seconds', async (tc) => {
  const t = await setup();
  const port = await freePort();
  const sockets: SrtSocket[] = [];
  try {
    // login: username (or Callaba Engine's email) and password; wrong ones are refused
    const auth = await t.login('admin', 'admin-pass-1');
    assert.equal((await t.app.inject({ method: 'POST', url: '/auth/login', payload: { email: 'admin', password: 'admin-pass-1' } })).statusCode, 200);
    assert.equal((await t.app.inject({ method: 'POST', url: '/auth/login', payload: { username: 'admin', password: 'nope' } })).statusCode, 401);
    assert.equal((await t.app.inject({ url: '/servers/getAllByType' })).statusCode, 401, 'a token is required');
    const viewer = await t.login('view', 'viewer-pass-1');
    assert.equal((await t.app.inject({ method: 'POST', url: '/servers/create', headers: viewer, payload: exampleBody(port) })).statusCode, 403, 'viewers may not create');

    // validation: every invalid field listed, Callaba fields Sluice lacks named as unsupported
    const bad = await t.app.inject({ method: 'POST', url: '/servers/create', headers: auth, payload: { ...exampleBody(port), server_type: 'SERVER_TYPE_RTMP', server_latency: -1, server_receiver_port: 1936, server_stats_callback: 'http://x' } });
    assert.equal(bad.statusCode, 400);
    const badBody = bad.json() as { message: string; errors: { field: string; message: string }[] };
    assert.deepEqual([...new Set(badBody.errors.map((e) => e.field))].sort(), ['server_latency', 'server_receiver_port', 'server_stats_callback', 'server_type']);
    assert.match(badBody.message, /unsupported fields "server_receiver_port", "server_stats_callback"|unsupported fields "server_stats_callback", "server_receiver_port"/);
    assert.match(badBody.errors.find((e) => e.field === 'server_type')!.message, /SERVER_TYPE_SRT/);

    // create: the document's exact example
    const created = await t.app.inject({ method: 'POST', url: '/servers/create', headers: auth, payload: exampleBody(port) });
    assert.equal(created.statusCode, 200, created.body);
    const s = created.json() as CallabaServer;
    assert.equal(s.server_name, 'Awesome SRT server');
    assert.equal(s.server_name_code, 'awesome-srt-server');
    assert.equal(s._id, String(s.id));
    assert.equal(s.server_type, 'SERVER_TYPE_SRT');
    assert.equal(s.server_timeout, 60, 'seconds out');
    assert.equal(s.status, 'running');
    assert.equal(s.server_active, true);
    const row = await t.db.selectFrom('servers').selectAll().where('id', '=', s.id).executeTakeFirstOrThrow();
    assert.equal(row.server_timeout, 60_000, 'stored in ms');
    assert.equal(row.server_type, 'SERVER_TYPE_SRT');
    assert.equal(t.servers.runtime(s.id)!.config.srt!.peeridletimeo, 60_000, 'the SRT peer idle timeout is 60 s');
    const native = (await t.app.inject({ url: `/api/v1/servers/${s.id}`, headers: auth })).json() as { server_timeout: number; server_name_code: string };
    assert.equal(native.server_timeout, 60_000, 'the native API shows ms');
    assert.equal(native.server_name_code, 'awesome-srt-server');
    const dup = await t.app.inject({ method: 'POST', url: '/servers/create', headers: auth, payload: exampleBody(port) });
    assert.equal(dup.statusCode, 409, 'server_name is unique');

    // a server made through the native API (a name with spaces is allowed there too) is listed as SERVER_TYPE_SRT
    const nativePort = await freePort();
    const n = await t.app.inject({ method: 'POST', url: '/api/v1/servers', headers: auth, payload: { server_name: 'Native one', server_port: nativePort, server_active: false } });
    assert.equal(n.statusCode, 201, n.body);
    const nativeId = (n.json() as { id: number }).id;

    // getAllByType: query string or body, optional filter
    const all = (await t.app.inject({ url: '/servers/getAllByType', headers: auth })).json() as CallabaServer[];
    assert.deepEqual(all.map((x) => x.server_name), ['Awesome SRT server', 'Native one']);
    assert.deepEqual(all.map((x) => x.server_name_code), ['awesome-srt-server', 'native-one']);
    const nativeView = all.find((x) => x.id === nativeId)!;
    assert.equal(nativeView.server_type, 'SERVER_TYPE_SRT');
    assert.equal(nativeView.server_timeout, 5, 'the native default 5000 ms is 5 s');
    assert.equal(((await t.app.inject({ url: '/servers/getAllByType?server_type=SERVER_TYPE_SRT', headers: auth })).json() as unknown[]).length, 2);
    assert.equal(((await t.app.inject({ method: 'POST', url: '/servers/getAllByType', headers: auth, payload: { server_type: 'SERVER_TYPE_SRT' } })).json() as unknown[]).length, 2);
    assert.deepEqual((await t.app.inject({ method: 'POST', url: '/servers/getAllByType', headers: auth, payload: { server_type: 'SERVER_TYPE_OTHER' } })).json(), []);
    assert.equal(((await t.app.inject({ method: 'POST', url: '/servers/getAllByType', headers: auth })).json() as unknown[]).length, 2, 'no body: every server');

    // getById: id or _id, query string or body
    for (const req of [
      { method: 'GET' as const, url: `/servers/getById?id=${s.id}` },
      { method: 'GET' as const, url: `/servers/getById?_id=${s._id}` },
      { method: 'POST' as const, url: '/servers/getById', payload: { id: s.id } },
      { method: 'POST' as const, url: '/servers/getById', payload: { _id: s._id } },
    ]) {
      const r = await t.app.inject({ ...req, headers: auth });
      assert.equal(r.statusCode, 200, `${req.method} ${req.url}: ${r.body}`);
      assert.equal((r.json() as CallabaServer).server_name_code, 'awesome-srt-server');
    }
    assert.equal((await t.app.inject({ url: '/servers/getById?id=999', headers: auth })).statusCode, 404);
    assert.equal((await t.app.inject({ url: '/servers/getById', headers: auth })).statusCode, 400, 'an id is required');

    // publish and play with the document's stream-id syntax
    const pub = await dial({ host: '127.0.0.1', port, streamid: 'publisher/awesome-srt-server/s1' });
    tc.after(() => pub.destroy());
    sockets.push(pub);
    assert.equal(pub.negotiated.sndLatency, 200, 'server_latency applies');
    await until(() => t.servers.runtime(s.id)!.streamNames().includes('s1'));
    const player = await dial({ host: '127.0.0.1', port, streamid: 'receiver/awesome-srt-server/s1' });
    tc.after(() => player.destroy());
    sockets.push(player);
    const got = collect(player);
    await until(() => t.servers.runtime(s.id)!.connections().length === 2);
    const msgs = makeMessages(200);
    for (const m of msgs) { pub.write(m); await sleep(1); }
    await until(() => got.length >= msgs.length, 5000);
    assert.equal(got.length, msgs.length, 'every message arrived');
    assert.ok(got.every((g, i) => g.equals(msgs[i]!)), 'byte-exact, in order');
    const live = (await t.app.inject({ method: 'POST', url: '/servers/getById', headers: auth, payload: { id: s.id } })).json() as CallabaServer;
    assert.deepEqual(live.streams, ['s1']);
    assert.equal(live.connections, 2);

    // update: id + fields; the running server restarts, its peers are disconnected
    const noId = await t.app.inject({ method: 'POST', url: '/servers/update', headers: auth, payload: { server_latency: 300 } });
    assert.equal(noId.statusCode, 400);
    const twoIds = await t.app.inject({ method: 'POST', url: '/servers/update', headers: auth, payload: { id: s.id, _id: String(nativeId), server_latency: 300 } });
    assert.equal(twoIds.statusCode, 400, 'id and _id must agree');
    const upd = await t.app.inject({ method: 'POST', url: '/servers/update', headers: auth, payload: { id: s.id, server_latency: 300, server_timeout: 30 } });
    assert.equal(upd.statusCode, 200, upd.body);
    const u = upd.json() as CallabaServer & { restarted: boolean };
    assert.equal(u.restarted, true, 'the response says the server was restarted');
    assert.equal(u.server_latency, 300);
    assert.equal(u.server_timeout, 30);
    assert.equal(u.status, 'running');
    assert.equal((await t.db.selectFrom('servers').select('server_timeout').where('id', '=', s.id).executeTakeFirstOrThrow()).server_timeout, 30_000);
    await until(() => pub.closeReason !== null && player.closeReason !== null, 3000);
    assert.equal(pub.closeReason, 'peer', 'the publisher was disconnected');
    assert.equal(player.closeReason, 'peer', 'the player was disconnected');
    // a client may post back what getById gave it, with _id and read-only fields
    const back = (await t.app.inject({ url: `/servers/getById?id=${s.id}`, headers: auth })).json() as Record<string, unknown>;
    const roundTrip = await t.app.inject({ method: 'POST', url: '/servers/update', headers: auth, payload: { ...back, server_maxbw: 2_000_000 } });
    assert.equal(roundTrip.statusCode, 200, roundTrip.body);
    assert.equal((roundTrip.json() as CallabaServer).server_maxbw, 2_000_000);
    assert.equal((roundTrip.json() as CallabaServer).server_timeout, 30, 'server_timeout survives a round trip in seconds');

    // stop / start
    const stopped = (await t.app.inject({ method: 'POST', url: '/servers/stop', headers: auth, payload: { id: s.id } })).json() as CallabaServer;
    assert.equal(stopped.status, 'stopped');
    assert.equal(stopped.server_active, false);
    assert.equal(t.servers.runtime(s.id), undefined);
    const started = (await t.app.inject({ method: 'POST', url: '/servers/start', headers: auth, payload: { _id: s._id } })).json() as CallabaServer;
    assert.equal(started.status, 'running');
    assert.equal(started.server_active, true);
    const again = await dial({ host: '127.0.0.1', port, streamid: 'publisher/awesome-srt-server/s2' });
    tc.after(() => again.destroy());
    sockets.push(again);
    assert.equal(again.negotiated.sndLatency, 300, 'the updated latency applies after the restart');

    // remove: stops it (its publisher is disconnected) and frees the port
    const removed = await t.app.inject({ method: 'POST', url: '/servers/remove', headers: auth, payload: { id: s.id } });
    assert.equal(removed.statusCode, 200, removed.body);
    assert.equal((removed.json() as { removed: boolean }).removed, true);
    await until(() => again.closeReason !== null, 3000);
    assert.equal(again.closeReason, 'peer');
    assert.equal((await t.app.inject({ url: `/servers/getById?id=${s.id}`, headers: auth })).statusCode, 404);
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => { sock.once('error', reject); sock.bind(port, '0.0.0.0', () => resolve()); });
    sock.close();

    // every mutation went through the task queue and the audit log
    const kinds = (await t.db.selectFrom('tasks').select(['kind', 'status']).orderBy('id').execute()).filter((k) => k.status === 'done').map((k) => k.kind);
    for (const k of ['server.create', 'server.update', 'server.stop', 'server.start', 'server.delete']) assert.ok(kinds.includes(k), `task ${k} recorded (${kinds.join(', ')})`);
    const params = await t.db.selectFrom('tasks').select('params').where('kind', '=', 'server.update').executeTakeFirstOrThrow();
    assert.match(params.params ?? '', /"server_timeout":30/, 'the Callaba body is kept with the task');
  } finally {
    for (const x of sockets) x.destroy();
    await t.close();
  }
});

test('Callaba end-to-end: servers created through the native and the Callaba routes; ffmpeg publishes and srt-live-transmit plays through each', async () => {
  requireTool('ffmpeg');
  requireTool('srt-live-transmit');
  const media = testMedia();
  const file = readFileSync(media);
  const t = await setup();
  try {
    const auth = await t.login('admin', 'admin-pass-1');
    const callabaPort = await freePort();
    const c = await t.app.inject({ method: 'POST', url: '/servers/create', headers: auth, payload: exampleBody(callabaPort) });
    assert.equal(c.statusCode, 200, c.body);
    const nativePort = await freePort();
    const n = await t.app.inject({ method: 'POST', url: '/api/v1/servers', headers: { authorization: `Bearer ${auth['x-access-token']}` }, payload: { server_name: 'Studio B', server_port: nativePort, server_latency: 200 } });
    assert.equal(n.statusCode, 201, n.body);
    const targets = [
      { via: 'Callaba', port: callabaPort, id: (c.json() as CallabaServer).id, code: (c.json() as CallabaServer).server_name_code },
      { via: 'native', port: nativePort, id: (n.json() as { id: number }).id, code: (n.json() as { server_name_code: string }).server_name_code },
    ];
    assert.deepEqual(targets.map((x) => x.code), ['awesome-srt-server', 'studio-b']);
    for (const target of targets) {
      const sink = await udpCollect();
      const ff = spawnPeer('ffmpeg', ['-loglevel', 'error', '-re', '-i', media, '-c', 'copy', '-f', 'mpegts',
        `srt://127.0.0.1:${target.port}?streamid=publisher/${target.code}/srt-stream-01&latency=200000&pkt_size=1316&linger=3`]);
      let slt: ReturnType<typeof spawnPeer> | null = null;
      try {
        await until(() => t.servers.runtime(target.id)!.streamNames().includes('srt-stream-01'));
        assert.ok(t.servers.runtime(target.id)!.streamNames().includes('srt-stream-01'), `${target.via}: ffmpeg published (${ff.output()})`);
        slt = spawnPeer('srt-live-transmit', ['-q', `srt://127.0.0.1:${target.port}?streamid=receiver/${target.code}/srt-stream-01`, `udp://127.0.0.1:${sink.port}`]);
        await until(() => sink.messages.length > 0, 5000);
        assert.equal(await ff.exited, 0, ff.output());
        // the player can only join once ffmpeg has created the stream, so it may start late, but what
        // it gets must be an exact, contiguous suffix of the file, down to the last byte
        const suffix = (): boolean => { const all = Buffer.concat(sink.messages); return all.length > 0 && all.length <= file.length && file.subarray(file.length - all.length).equals(all); };
        await waitFor(suffix, { what: `${target.via}: srt-live-transmit receives an exact suffix of the stream, to its last byte`, detail: () => `${Buffer.concat(sink.messages).length} of ${file.length} bytes; ${slt!.output().slice(0, 500)}` });
        assert.ok(sink.messages.every((m) => m.length % 188 === 0 && m[0] === 0x47), `${target.via}: whole MPEG-TS packets`);
      } finally {
        await ff.kill();
        await slt?.kill();
        sink.close();
      }
    }
  } finally {
    await t.close();
  }
});

test('Callaba create accepts what a client sends back: a getById object (ids and outputs ignored) and numbers/booleans as strings; bad values and unknown fields are still named', async () => {
  const t = await setup();
  try {
    const auth = await t.login('admin', 'admin-pass-1');
    const port = await freePort();
    // the document's example with every value as a string, as form-built clients send it
    const strings = await t.app.inject({
      method: 'POST', url: '/servers/create', headers: auth,
      payload: { server_name: 'Strings', server_type: 'SERVER_TYPE_SRT', server_port: String(port), server_latency: '200', server_maxbw: '-1', server_timeout: '60', server_rcvbuf: '48234496', server_active: 'false' },
    });
    assert.equal(strings.statusCode, 200, strings.body);
    const s = strings.json() as CallabaServer;
    assert.deepEqual([s.server_port, s.server_latency, s.server_maxbw, s.server_timeout, s.server_rcvbuf, s.server_active, s.status], [port, 200, -1, 60, 48234496, false, 'stopped']);
    // a copy: what getById answered, renamed and on another port; _id, id, server_name_code, status … are ignored
    const got = (await t.app.inject({ url: `/servers/getById?id=${s.id}`, headers: auth })).json() as Record<string, unknown>;
    const port2 = await freePort();
    const copy = await t.app.inject({ method: 'POST', url: '/servers/create', headers: auth, payload: { ...got, server_name: 'Strings copy', server_port: port2, status: 'running', connections: 5 } });
    assert.equal(copy.statusCode, 200, copy.body);
    const c = copy.json() as CallabaServer;
    assert.notEqual(c.id, s.id, 'a new server, not the one whose id was sent');
    assert.deepEqual([c.server_name_code, c.server_port, c.server_latency, c.server_timeout, c.status, c.connections], ['strings-copy', port2, 200, 60, 'stopped', 0]);
    assert.equal(((await t.app.inject({ url: '/servers/getAllByType', headers: auth })).json() as unknown[]).length, 2);
    // wrong values and unknown fields: 400, each named; nothing created
    const bad = await t.app.inject({ method: 'POST', url: '/servers/create', headers: auth, payload: { ...got, server_name: 'Bad', server_port: 'x', server_latency: '-5', server_dvr: true } });
    assert.equal(bad.statusCode, 400);
    assert.deepEqual([...new Set((bad.json() as { errors: { field: string }[] }).errors.map((e) => e.field))].sort(), ['server_dvr', 'server_latency', 'server_port']);
    assert.doesNotMatch((bad.json() as { message: string }).message, /supported: .*server_name_code/, 'the hint lists the fields one may set');
    assert.equal(((await t.app.inject({ url: '/servers/getAllByType', headers: auth })).json() as unknown[]).length, 2);
  } finally {
    await t.close();
  }
});
