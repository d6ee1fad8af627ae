// Routes against real peers: pull from and push to srt-live-transmit (both as caller and as
// listener), UDP in and out, and recording ffmpeg's stream to MPEG-TS files that ffprobe reads,
// with rotation, retention, the recordings API and removal with the server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type RecordingView, type RouteView } from '../../src/core/routes.js';
import { dial } from '../../src/transport/api.js';
import type { SrtSocket } from '../../src/transport/socket.js';
import { apiHarness } from '../support/api.js';
import { diffMessages, freePort, makeMessages, type Peer, requireTool, sleep, sltConnected, spawnPeer, testMedia, udpCollect, udpSendPaced, until, waitForUdpPort } from '../support/peers.js';
import { fileTimeout } from '../support/file-timeout.js';

fileTimeout();

async function setup() {
  const h = await apiHarness({ routeLimits: { minSegmentSeconds: 1 } });
  const login = await h.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username: 'admin', password: 'admin-pass-1' } });
  const headers = { authorization: `Bearer ${(login.json() as { token: string }).token}` };
  const port = await freePort();
  const server = await h.servers.create({ server_name: 'main', server_port: port });
  assert.equal(server.status, 'running');
  const eventTypes = async (target: string): Promise<string[]> => (await h.events.list({ target, limit: 1000 })).items.map((e) => e.type);
  return { dir: h.dir, db: h.db, events: h.events, servers: h.servers, routes: h.routes, app: h.app, headers, port, serverId: server.id, eventTypes, close: h.close };
}

type Setup = Awaited<ReturnType<typeof setup>>;

async function createRoute(t: Setup, body: Record<string, unknown>): Promise<RouteView> {
  const r = await t.app.inject({ method: 'POST', url: `/api/v1/servers/${t.serverId}/routes`, headers: t.headers, payload: body });
  assert.equal(r.statusCode, 201, r.body);
  return r.json() as RouteView;
}

/** A Sluice player of the server's stream that collects what it gets. */
async function player(port: number, stream: string): Promise<{ sock: SrtSocket; got: Buffer[] }> {
  const sock = await dial({ host: '127.0.0.1', port, streamid: stream });
  const got: Buffer[] = [];
  sock.on('data', (m: Buffer) => got.push(m));
  return { sock, got };
}

/** Writes messages into an SRT socket at about `pps` messages a second. */
async function writePaced(s: SrtSocket, msgs: Buffer[], pps: number): Promise<void> {
  const start = Date.now();
  for (let i = 0; i < msgs.length; i++) {
    s.write(msgs[i]!);
    const ahead = start + (i * 1000) / pps - Date.now();
    if (ahead > 1) await sleep(ahead);
  }
}

test('pull: a caller route takes srt-live-transmit\'s listener into a stream, byte-exact, and redials when it comes back; a listener route takes srt-live-transmit as caller', async (tc) => {
  requireTool('srt-live-transmit');
  const t = await setup();
  const peers: Peer[] = [];
  try {
    const udpIn = await freePort();
    const srtPort = await freePort();
    const slt = (): Peer => {
      const p = spawnPeer('srt-live-transmit', ['-v', `udp://127.0.0.1:${udpIn}?rcvbuf=4194304`, `srt://:${srtPort}?mode=listener&latency=120`]);
      peers.push(p);
      return p;
    };
    const first = slt();
    await waitForUdpPort(srtPort, 'the srt-live-transmit listener', first);
    const route = await createRoute(t, { kind: 'pull', name: 'from slt', stream: 'pulled', config: { url: `srt://127.0.0.1:${srtPort}?latency=120` } });
    assert.equal(route.status, 'running');
    await until(() => t.routes.runtime(route.id)?.connected === true, 8000);
    const rt = t.servers.runtime(t.serverId)!;
    const pub = rt.stats().find((s) => s.name === 'pulled')?.publisher;
    assert.match(pub?.peer ?? '', /^route:\d+ pull from slt$/, 'the route is the stream\'s publisher in the server statistics');

    const p = await player(t.port, 'pulled');
    await until(() => rt.stats().find((s) => s.name === 'pulled')?.players.length === 1);
    await sltConnected(first); // it discards its UDP input until then
    const msgs = makeMessages(1500);
    await udpSendPaced(udpIn, msgs, 1000);
    await until(() => p.got.length >= msgs.length, 5000);
    assert.equal(diffMessages(msgs, p.got), null);
    const v = (await t.app.inject({ url: `/api/v1/routes/${route.id}`, headers: t.headers })).json() as RouteView;
    assert.equal(v.connected, true);
    assert.equal(v.messages, 1500);
    assert.equal(v.bytes, 1500 * 1316);
    assert.match(v.peer ?? '', /^127\.0\.0\.1:\d+$/);
    assert.ok(v.srt && v.srt['pktRecvTotal']! >= 1500, `libsrt statistics of the SRT leg: ${JSON.stringify(v.srt?.['pktRecvTotal'])}`);

    // the source goes away and comes back: the route redials and publishes again
    await first.kill();
    await until(() => t.routes.runtime(route.id)?.connected === false, 8000);
    slt();
    await until(() => t.routes.runtime(route.id)?.connected === true, 10_000);
    assert.equal((await t.routes.get(route.id)).reconnections, 1);
    await t.events.flush();
    const types = await t.eventTypes(`route:${route.id}`);
    for (const e of ['route.create', 'route.started', 'route.connected', 'route.disconnected']) assert.ok(types.includes(e), `${e} in ${types.join(',')}`);
    p.sock.destroy();

    // the source calls us: a pull listener, srt-live-transmit as caller
    const listenPort = await freePort();
    const udpIn2 = await freePort();
    const lroute = await createRoute(t, { kind: 'pull', name: 'slt calls', stream: 'pushed-in', config: { url: `srt://:${listenPort}` } });
    assert.equal(lroute.status, 'running');
    peers.push(spawnPeer('srt-live-transmit', ['-v', `udp://127.0.0.1:${udpIn2}?rcvbuf=4194304`, `srt://127.0.0.1:${listenPort}?mode=caller&latency=120`]));
    await until(() => t.routes.runtime(lroute.id)?.connected === true, 8000);
    const p2 = await player(t.port, 'pushed-in');
    await until(() => rt.stats().find((s) => s.name === 'pushed-in')?.players.length === 1);
    await sltConnected(peers[peers.length - 1]!); // it discards its UDP input until then
    const msgs2 = makeMessages(1000);
    await udpSendPaced(udpIn2, msgs2, 1000);
    await until(() => p2.got.length >= msgs2.length, 5000);
    assert.equal(diffMessages(msgs2, p2.got), null);
    p2.sock.destroy();

    // the stream now has a publisher: a third source for it is refused with the reason shown
    const busyPort = await freePort();
    const busy = await createRoute(t, { kind: 'pull', name: 'busy', stream: 'other', config: { url: `srt://:${busyPort}` } });
    const own = await dial({ host: '127.0.0.1', port: t.port, streamid: 'publish:other' });
    tc.after(() => own.destroy());
    await until(() => rt.stats().some((s) => s.name === 'other' && s.publisher !== null));
    const intruder = await dial({ host: '127.0.0.1', port: busyPort });
    tc.after(() => intruder.destroy());
    await until(() => t.routes.runtime(busy.id)?.linkError !== null, 3000);
    assert.match((await t.routes.get(busy.id)).link_error ?? '', /already published/);
    intruder.destroy();
    own.destroy();
  } finally {
    for (const p of peers) await p.kill();
    await t.close();
  }
});

test('push: a caller route sends a stream to srt-live-transmit\'s listener, byte-exact; a listener route with the fec filter (packetfilter= in its URL) serves srt-live-transmit as caller', async (tc) => {
  requireTool('srt-live-transmit');
  const t = await setup();
  const peers: Peer[] = [];
  const sinks = [await udpCollect(), await udpCollect()];
  try {
    const srtPort = await freePort();
    peers.push(spawnPeer('srt-live-transmit', ['-q', `srt://:${srtPort}?mode=listener&latency=120`, `udp://127.0.0.1:${sinks[0]!.port}`]));
    await waitForUdpPort(srtPort, 'the srt-live-transmit listener', peers[0]);
    const route = await createRoute(t, { kind: 'push', name: 'to slt', stream: 'out', config: { url: `srt://127.0.0.1:${srtPort}?latency=120` } });
    await until(() => t.routes.runtime(route.id)?.connected === true, 8000);
    const pub = await dial({ host: '127.0.0.1', port: t.port, streamid: 'publish:out' });
    tc.after(() => pub.destroy());
    const msgs = makeMessages(1500);
    await writePaced(pub, msgs, 1000);
    await sinks[0]!.waitFor(msgs.length, 5000);
    assert.equal(diffMessages(msgs, sinks[0]!.messages), null);
    const v = await t.routes.get(route.id);
    assert.equal(v.messages, 1500);
    assert.equal(v.dropped, 0);
    assert.ok(v.srt && v.srt['pktSentTotal']! >= 1500, 'libsrt statistics of the SRT leg');
    const players = t.servers.runtime(t.serverId)!.stats().find((s) => s.name === 'out')!.players;
    assert.ok(players.some((p) => p.peer === `route:${route.id} push to slt` && p.stats.pktSentTotal === 1500), 'the route is a player in the server statistics');
    pub.destroy();

    // the receiver calls us; the route's URL sets FEC, srt-live-transmit asks for the same
    const listenPort = await freePort();
    const lroute = await createRoute(t, { kind: 'push', name: 'slt pulls', stream: 'out2', config: { url: `srt://:${listenPort}?packetfilter=fec,cols:10,rows:5` } });
    peers.push(spawnPeer('srt-live-transmit', ['-q', `srt://127.0.0.1:${listenPort}?mode=caller&latency=120&packetfilter=fec,cols:10,rows:5`, `udp://127.0.0.1:${sinks[1]!.port}`]));
    await until(() => t.routes.runtime(lroute.id)?.connected === true, 8000);
    const pub2 = await dial({ host: '127.0.0.1', port: t.port, streamid: 'publish:out2' });
    tc.after(() => pub2.destroy());
    const msgs2 = makeMessages(1000);
    await writePaced(pub2, msgs2, 1000);
    await sinks[1]!.waitFor(msgs2.length, 5000);
    assert.equal(diffMessages(msgs2, sinks[1]!.messages), null);
    const lv = await t.routes.get(lroute.id);
    assert.ok(lv.srt && lv.srt['pktSndFilterExtraTotal']! >= msgs2.length / 10, `the route's SRT leg sent FEC packets: ${lv.srt?.['pktSndFilterExtraTotal']}`);
    pub2.destroy();
  } finally {
    for (const p of peers) await p.kill();
    for (const s of sinks) s.close();
    await t.close();
  }
});

test('rendezvous legs: a pull route and a push route meet srt-live-transmit in rendezvous mode (mode=rendezvous, port= the local port), byte-exact; the local port is taken like a listener\'s', async (tc) => {
  requireTool('srt-live-transmit');
  const t = await setup();
  const peers: Peer[] = [];
  const sink = await udpCollect();
  try {
    // pull: srt-live-transmit reads UDP and waves from sltPort to routePort; the route waves back
    const udpIn = await freePort();
    const [sltPort, routePort] = [await freePort(), await freePort()];
    peers.push(spawnPeer('srt-live-transmit', ['-v', `udp://127.0.0.1:${udpIn}?rcvbuf=4194304`, `srt://127.0.0.1:${routePort}?mode=rendezvous&port=${sltPort}&latency=120`]));
    const pull = await createRoute(t, { kind: 'pull', name: 'rdv in', stream: 'rdv-in', config: { url: `srt://127.0.0.1:${sltPort}?mode=rendezvous&port=${routePort}&adapter=127.0.0.1&latency=120` } });
    assert.equal(pull.status, 'running', JSON.stringify(pull));
    await until(() => t.routes.runtime(pull.id)?.connected === true, 10000);
    assert.equal((await t.routes.get(pull.id)).peer, `127.0.0.1:${sltPort}`);
    const p = await player(t.port, 'rdv-in');
    const rt = t.servers.runtime(t.serverId)!;
    await until(() => rt.stats().find((s) => s.name === 'rdv-in')?.players.length === 1);
    await sltConnected(peers[0]!); // it discards its UDP input until then
    const msgs = makeMessages(1000);
    await udpSendPaced(udpIn, msgs, 1000);
    await until(() => p.got.length >= msgs.length, 5000);
    assert.equal(diffMessages(msgs, p.got), null);
    p.sock.destroy();
    // its local port is bound: a listener route on it is refused (409)
    const clash = await t.app.inject({ method: 'POST', url: `/api/v1/servers/${t.serverId}/routes`, headers: t.headers, payload: { kind: 'push', name: 'clash', stream: 'x', config: { url: `srt://:${routePort}` } } });
    assert.equal(clash.statusCode, 409, clash.body);

    // push without port=: the local port is the peer's port number, as srt-live-transmit does it (each
    // side on its own loopback address)
    const rdvPort = await freePort();
    const push = await createRoute(t, { kind: 'push', name: 'rdv out', stream: 'rdv-out', config: { url: `srt://127.0.0.2:${rdvPort}?mode=rendezvous&adapter=127.0.0.1&latency=120` } });
    peers.push(spawnPeer('srt-live-transmit', ['-q', `srt://127.0.0.1:${rdvPort}?mode=rendezvous&adapter=127.0.0.2&latency=120`, `udp://127.0.0.1:${sink.port}`]));
    await until(() => t.routes.runtime(push.id)?.connected === true, 10000);
    const pub = await dial({ host: '127.0.0.1', port: t.port, streamid: 'publish:rdv-out' });
    tc.after(() => pub.destroy());
    const out = makeMessages(1000);
    await writePaced(pub, out, 1000);
    await sink.waitFor(out.length, 5000);
    assert.equal(diffMessages(out, sink.messages), null);
    pub.destroy();
  } finally {
    for (const peer of peers) await peer.kill();
    sink.close();
    await t.close();
  }
});

test('udp-in and udp-out: datagrams into a stream and a stream out as datagrams (loopback unicast), byte-exact', async () => {
  const t = await setup();
  const sink = await udpCollect();
  try {
    const udpIn = await freePort();
    const inRoute = await createRoute(t, { kind: 'udp-in', name: 'udp in', stream: 'u', config: { url: `udp://127.0.0.1:${udpIn}` } });
    const outRoute = await createRoute(t, { kind: 'udp-out', name: 'udp out', stream: 'u', config: { url: `udp://127.0.0.1:${sink.port}` } });
    assert.deepEqual([inRoute.status, outRoute.status], ['running', 'running']);
    const p = await player(t.port, 'u');
    await until(() => t.servers.runtime(t.serverId)!.stats().find((s) => s.name === 'u')?.players.length === 2);
    const msgs = makeMessages(2000);
    await udpSendPaced(udpIn, msgs, 2000);
    await until(() => p.got.length >= msgs.length, 5000);
    await sink.waitFor(msgs.length, 5000);
    assert.equal(diffMessages(msgs, p.got), null, 'UDP → stream → SRT player');
    assert.equal(diffMessages(msgs, sink.messages), null, 'UDP → stream → UDP');
    const [vi, vo] = [await t.routes.get(inRoute.id), await t.routes.get(outRoute.id)];
    assert.deepEqual([vi.messages, vo.messages, vi.connected, vo.connected], [2000, 2000, true, true]);

    // 188-byte datagrams (one TS packet each) are regrouped into 7-packet messages
    const small = makeMessages(70, 188);
    p.got.length = 0;
    await udpSendPaced(udpIn, small, 2000);
    await until(() => p.got.length >= 10, 3000);
    assert.deepEqual(p.got.map((m) => m.length), new Array(10).fill(1316));
    assert.ok(Buffer.concat(p.got).equals(Buffer.concat(small)), 'same bytes, in order');
    p.sock.destroy();
  } finally {
    sink.close();
    await t.close();
  }
});

function ffprobe(file: string): { ok: boolean; stderr: string; video: boolean; frames: number } {
  const r = spawnSync('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v', '-show_entries', 'stream=codec_type,nb_read_frames', '-of', 'json', file], { encoding: 'utf8' });
  const streams = (JSON.parse(r.stdout || '{}') as { streams?: { codec_type: string; nb_read_frames?: string }[] }).streams ?? [];
  return { ok: r.status === 0 && r.stderr.trim() === '', stderr: r.stderr, video: streams.some((s) => s.codec_type === 'video'), frames: Number(streams[0]?.nb_read_frames ?? 0) };
}

async function publishMedia(port: number, stream: string, seconds: number): Promise<void> {
  const ff = spawnPeer('ffmpeg', ['-loglevel', 'error', '-re', '-stream_loop', '-1', '-i', testMedia(), '-t', String(seconds), '-c', 'copy', '-f', 'mpegts',
    `srt://127.0.0.1:${port}?mode=caller&streamid=publish:${stream}&latency=120000&pkt_size=1316&linger=3`]);
  const code = await ff.exited;
  assert.equal(code, 0, ff.output());
}

test('record: ffmpeg\'s stream becomes MPEG-TS files that rotate at keyframes and probe cleanly; list, download, retention, removal with the server', async () => {
  requireTool('ffmpeg');
  requireTool('ffprobe');
  const t = await setup();
  try {
    const route = await createRoute(t, { kind: 'record', name: 'rec', stream: 'live/cam', config: { segment_seconds: 2 } });
    assert.equal(route.config['segment_seconds'], 2);
    await publishMedia(t.port, 'live/cam', 6);
    await until(() => t.routes.runtime(route.id)?.connected === false, 8000); // the stream is gone
    const stopped = await t.app.inject({ method: 'POST', url: `/api/v1/routes/${route.id}/stop`, headers: t.headers });
    assert.equal(stopped.statusCode, 200, stopped.body);

    const list = await t.app.inject({ url: '/api/v1/recordings?server_id=' + t.serverId + '&stream=live/cam', headers: t.headers });
    assert.equal(list.statusCode, 200, list.body);
    const recs = list.json() as RecordingView[];
    assert.ok(recs.length >= 2, `rotated into at least two files: ${recs.map((r) => `${r.file_name} ${r.bytes}`).join(', ')}`);
    const dir = t.routes.recordingDir(t.serverId, 'live/cam');
    assert.equal(dir, join(t.dir, 'recordings', String(t.serverId), 'live%2Fcam'));
    assert.deepEqual(readdirSync(dir).sort(), recs.map((r) => r.file_name).sort(), 'one row per file on disk');
    let frames = 0;
    for (const r of recs) {
      assert.equal(r.status, 'complete');
      assert.equal(r.route_id, route.id);
      assert.match(r.file_name, /^\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}Z\.ts$/);
      assert.equal(readFileSync(r.path).length, r.bytes, 'stored size = file size');
      assert.ok(r.ended_at !== null && r.ended_at >= r.started_at);
      const probe = ffprobe(r.path);
      assert.ok(probe.ok, `ffprobe reads ${r.file_name} without errors: ${probe.stderr}`);
      assert.ok(probe.video && probe.frames > 0, `${r.file_name} has video frames (${probe.frames})`);
      frames += probe.frames;
    }
    assert.ok(frames >= 150 && frames <= 190, `about 6 s at 30 fps across the files: ${frames}`);
    await t.events.flush();
    const types = await t.eventTypes(`route:${route.id}`);
    assert.ok(types.filter((e) => e === 'recording.rotated').length >= 1, types.join(','));

    // metadata and download (whole file and a range)
    const one = recs[0]!;
    const meta = await t.app.inject({ url: `/api/v1/recordings/${one.id}`, headers: t.headers });
    assert.equal((meta.json() as RecordingView).bytes, one.bytes);
    const dl = await t.app.inject({ url: `/api/v1/recordings/${one.id}/download`, headers: t.headers });
    assert.equal(dl.statusCode, 200);
    assert.equal(dl.headers['content-type'], 'video/mp2t');
    assert.ok(dl.rawPayload.equals(readFileSync(one.path)), 'the download is the file');
    const part = await t.app.inject({ url: `/api/v1/recordings/${one.id}/download`, headers: { ...t.headers, range: 'bytes=188-375' } });
    assert.equal(part.statusCode, 206);
    assert.equal(part.headers['content-range'], `bytes 188-375/${one.bytes}`);
    assert.ok(part.rawPayload.equals(readFileSync(one.path).subarray(188, 376)));
    assert.equal((await t.app.inject({ url: `/api/v1/recordings/${one.id}/download`, headers: { ...t.headers, range: `bytes=${one.bytes}-` } })).statusCode, 416);

    // retention: with max_bytes tiny, each rotation deletes every finished file (never the open one)
    const patched = await t.app.inject({ method: 'PATCH', url: `/api/v1/routes/${route.id}`, headers: t.headers, payload: { config: { segment_seconds: 1, max_bytes: 1 }, active: true } });
    assert.equal(patched.statusCode, 200, patched.body);
    await until(() => readdirSync(dir).length === 0, 3000);
    assert.deepEqual(readdirSync(dir), [], 'the old files went when the route started with the new limit');
    await publishMedia(t.port, 'live/cam', 4);
    const beforeStop = readdirSync(dir);
    assert.ok(beforeStop.length <= 2, `at most the open file and one just closed: ${beforeStop.join(',')}`);
    await t.routes.stop(route.id);
    await t.events.flush();
    const deletions = (await t.events.list({ target: `route:${route.id}`, type: 'recording.deleted', limit: 1000 })).items.length;
    assert.ok(deletions >= recs.length + 1, `retention deleted the first run's files and the second run's older ones: ${deletions}`);
    const left = await t.routes.listRecordings({ route_id: route.id });
    assert.deepEqual(left.map((r) => r.file_name).sort(), readdirSync(dir).sort(), 'rows follow the files');
    assert.ok(left.length >= 1 && ffprobe(left[0]!.path).ok);

    // deleting a recording removes its file; removing the server removes its routes, recordings and files
    const del = await t.app.inject({ method: 'DELETE', url: `/api/v1/recordings/${left[0]!.id}`, headers: t.headers });
    assert.equal(del.statusCode, 204, del.body);
    assert.equal(existsSync(left[0]!.path), false);
    await t.routes.start(route.id);
    await publishMedia(t.port, 'live/cam', 2);
    assert.ok((await t.routes.listRecordings({ server_id: t.serverId })).length >= 1);
    const gone = await t.app.inject({ method: 'DELETE', url: `/api/v1/servers/${t.serverId}`, headers: t.headers });
    assert.equal(gone.statusCode, 204, gone.body);
    assert.deepEqual(await t.routes.listRecordings({}), []);
    assert.deepEqual(await t.routes.list(), []);
    assert.equal(existsSync(join(t.dir, 'recordings', String(t.serverId))), false, 'the server\'s recordings directory is gone');
  } finally {
    await t.close();
  }
});
