// Utilities: the SRT speed test and the network diagnostics (getStat), native and Callaba-shaped
// routes, on a real SQLite store through fastify's inject; the diagnostics function on its own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { diagnose, type ConnectionSnapshot, type ServerSnapshot } from '../../src/core/diagnostics.js';
import { dial } from '../../src/transport/api.js';
import type { SrtSocket } from '../../src/transport/socket.js';
import { apiHarness } from '../support/api.js';
import { freePort, sleep, until } from '../support/peers.js';
import { fileTimeout } from '../support/file-timeout.js';

fileTimeout();

async function setup() {
  const h = await apiHarness();
  const login = async (username: string, password: string): Promise<{ 'x-access-token': string }> => {
    const r = await h.app.inject({ method: 'POST', url: '/auth/login', payload: { username, password } });
    assert.equal(r.statusCode, 200, r.body);
    return { 'x-access-token': (r.json() as { token: string }).token };
  };
  return { db: h.db, servers: h.servers, app: h.app, login, close: h.close };
}

interface Speed {
  rtt_ms: number; latency: number; upload_bps: number; upload: number; recommended_maxbw: number; loss_percent: number; retransmitted: number;
  packets_sent: number; packets_lost: number; packets_dropped: number; bytes_sent: number; duration_ms: number; bitrate_requested: number; target: { local: boolean; port: number };
}

/**
 * What a speed test result must satisfy whatever the machine's load (no thresholds on RTT or
 * throughput: those are measurements, ADR 3): every figure present and consistent with the others,
 * and the pacing never above the requested bitrate.
 */
function assertSpeedConsistent(a: Speed, requested: { durationMs: number; bitrate: number }, m: string): void {
  const payload = 1316;
  for (const k of ['rtt_ms', 'latency', 'upload_bps', 'upload', 'recommended_maxbw', 'loss_percent', 'retransmitted', 'packets_sent', 'packets_lost', 'packets_dropped', 'bytes_sent', 'duration_ms'] as const) {
    assert.ok(Number.isFinite(a[k]) && a[k] >= 0, `${m}: ${k} = ${a[k]}`);
  }
  assert.equal(a.bitrate_requested, requested.bitrate, m);
  assert.ok(a.duration_ms >= requested.durationMs, `${m}: ran the requested ${requested.durationMs} ms at least (${a.duration_ms})`);
  assert.equal(a.latency, Math.max(Math.ceil(4 * a.rtt_ms), 120), `${m}: latency = max(4 × RTT, 120)`);
  assert.ok(a.packets_sent > 0, `${m}: packets were sent`);
  const cap = Math.floor(requested.durationMs * (requested.bitrate / 8 / payload / 1000)) + 1;
  assert.ok(a.packets_sent <= cap, `${m}: ${a.packets_sent} packets sent, at most ${cap} at the requested bitrate`);
  assert.equal(a.bytes_sent, a.packets_sent * payload, `${m}: bytes = packets × payload`);
  assert.ok(a.upload_bps > 0, `${m}: something was delivered`);
  assert.ok(a.upload_bps <= Math.ceil((a.bytes_sent * 8) / ((a.duration_ms - 0.5) / 1000)), `${m}: throughput ${a.upload_bps} bit/s cannot exceed what was sent`);
  assert.equal(a.upload, Math.round(a.upload_bps / 8), m);
  assert.equal(a.recommended_maxbw, Math.ceil(1.25 * (a.upload_bps / 8)), `${m}: maxbw = 1.25 × upload (bytes/s)`);
  assert.equal(a.loss_percent, Math.round((10000 * a.packets_lost) / a.packets_sent) / 100, `${m}: loss % = lost / sent`);
}

// ------------------------------------------------------------------ diagnose(), a pure function

const conn = (id: number, role: string, stats: Record<string, number>, queuedBytes = 0): ConnectionSnapshot => ({
  id, role, stream: 'live/a', peer: `10.0.0.${id}:5000`, streamId: role === 'player' ? 'read:live/a' : 'publish:live/a', connectedAt: 0, stats, queuedBytes,
});
const server = (streams: ServerSnapshot['streams'], extra: Partial<ServerSnapshot> = {}): ServerSnapshot => ({
  id: 7, name: 'Studio', port: 9000, status: 'running', latencyMs: 200, rcvbufBytes: 12_058_624, playerQueueBytes: 4096 * 1456, streams, ...extra,
});
const healthyPublisher = { msRTT: 12, msRcvTsbPdDelay: 200, msRcvBuf: 210, byteRcvBuf: 250_000, byteAvailRcvBuf: 11_000_000, pktRecvUniqueTotal: 10_000, pktRcvLossTotal: 3, pktRcvDropTotal: 0 };
const healthyPlayer = { msRTT: 12, msSndTsbPdDelay: 200, msSndBuf: 15, pktSndBuf: 3, byteSndBuf: 4000, pktFlowWindow: 8000, pktFlightSize: 3, pktSentUniqueTotal: 10_000, pktSndLossTotal: 2, pktSndDropTotal: 0 };

test('diagnose: healthy connections raise no signal; TSBPD holding about the latency is normal', () => {
  const d = diagnose([server([{ name: 'live/a', messages: 10, bytes: 13160, publisher: conn(1, 'publisher', healthyPublisher), players: [conn(2, 'player', healthyPlayer)] }])], new Date(0));
  assert.deepEqual(d.signals, []);
  const [pub, player] = d.servers[0]!.streams[0]!.connections;
  assert.equal(pub!.receiver.buffer_latency_ratio, 1.05);
  assert.equal(pub!.receiver.buffer_fill_percent, 2.22);
  assert.equal(pub!.queue, null, 'publishers have no write queue');
  assert.equal(player!.slow_reader, false);
  assert.deepEqual(player!.queue, { bytes: 0, limit_bytes: 4096 * 1456, fill_percent: 0 });
  assert.equal(d.generated_at, '1970-01-01T00:00:00.000Z');
});

test('diagnose: receiver buffer pressure, backlog, drops, loss, slow readers and failed servers become signals, most severe first', () => {
  const fullRcv = conn(1, 'publisher', { ...healthyPublisher, byteRcvBuf: 850_000, byteAvailRcvBuf: 150_000 });
  const backlog = conn(2, 'publisher', { ...healthyPublisher, msRcvBuf: 900 });
  const dropping = conn(3, 'publisher', { ...healthyPublisher, pktRcvDropTotal: 42, pktRcvLossTotal: 1500, pktRecvUniqueTotal: 8500 });
  const queued = conn(4, 'player', healthyPlayer, 0.6 * 4096 * 1456);
  const notReading = conn(5, 'player', { ...healthyPlayer, msSndBuf: 950, pktSndBuf: 900, pktFlowWindow: 2, pktFlightSize: 2, pktSndDropTotal: 120 });
  const slowPath = conn(6, 'player', { ...healthyPlayer, msSndBuf: 700, pktSndBuf: 600, pktFlowWindow: 6000, pktFlightSize: 600 });
  const d = diagnose([
    server([{ name: 'live/a', messages: 1, bytes: 1, publisher: fullRcv, players: [queued, notReading, slowPath] }, { name: 'live/b', messages: 1, bytes: 1, publisher: backlog, players: [] }, { name: 'live/c', messages: 1, bytes: 1, publisher: dropping, players: [] }], { playersDropped: 2 }),
    server([], { id: 8, name: 'Broken', status: 'failed', error: 'EADDRINUSE' }),
  ]);
  const by = (kind: string, id?: number) => d.signals.filter((s) => s.kind === kind && (id === undefined || s.connection_id === id));
  assert.equal(by('rcvbuf_full', 1).length, 1);
  assert.match(by('rcvbuf_full', 1)[0]!.message, /^receiver buffer 85% full on server "Studio" connection 1 .*: the application is not reading fast enough/);
  assert.equal(by('rcvbuf_full', 1)[0]!.level, 'warning');
  assert.match(by('rcvbuf_backlog', 2)[0]!.message, /holds 900 ms of data with a latency of 200 ms/);
  assert.match(by('rcv_drop', 3)[0]!.message, /42 packets dropped/);
  assert.equal(by('loss', 3)[0]!.level, 'critical', '15% loss');
  assert.match(by('slow_reader', 4)[0]!.message, /60% of the playerQueue limit/);
  assert.match(by('slow_reader', 5)[0]!.message, /receive buffer is full \(flow window 2 packets\)/);
  assert.match(by('snd_drop', 5)[0]!.message, /120 packets dropped by the sender.*not reading fast enough/);
  assert.equal(by('slow_reader', 6).length, 0, 'a slow path is not a slow reader');
  assert.equal(by('sndbuf_backlog', 6).length, 1);
  assert.equal(by('players_dropped').length, 1);
  const conns = d.servers[0]!.streams.flatMap((s) => s.connections);
  assert.deepEqual(conns.filter((c) => c.slow_reader).map((c) => c.id), [4, 5]);
  assert.equal(d.signals[0]!.level, 'critical');
  assert.ok(d.signals.findIndex((s) => s.level === 'info') > d.signals.findIndex((s) => s.level === 'warning'), 'sorted by severity');
  assert.equal(by('server_failed')[0]!.server_name, 'Broken');
  assert.match(by('server_failed')[0]!.message, /EADDRINUSE/);
});

// ------------------------------------------------------------------ routes

test('speedtest: loopback by default (Callaba route with no body, native route with options); a running server as the target; roles; one at a time', async () => {
  const t = await setup();
  try {
    const admin = await t.login('admin', 'admin-pass-1');
    const viewer = await t.login('view', 'viewer-pass-1');
    assert.equal((await t.app.inject({ method: 'POST', url: '/utils/speedtest' })).statusCode, 401);
    const r = await t.app.inject({ method: 'POST', url: '/utils/speedtest', headers: viewer });
    assert.equal(r.statusCode, 200, r.body);
    const a = r.json() as Speed;
    assert.equal(a.target.local, true);
    assertSpeedConsistent(a, { durationMs: 2000, bitrate: 20_000_000 }, 'defaults (2 s at 20 Mbit/s)');

    const b = (await t.app.inject({ method: 'POST', url: '/api/v1/utils/speedtest', headers: admin, payload: { duration_ms: 1000, bitrate: 4_000_000 } })).json() as Speed;
    assertSpeedConsistent(b, { durationMs: 1000, bitrate: 4_000_000 }, '1 s at 4 Mbit/s');

    assert.equal((await t.app.inject({ method: 'POST', url: '/api/v1/utils/speedtest', headers: admin, payload: { duration_ms: 50_000 } })).statusCode, 400, 'at most 10 s');

    // a running Sluice server as the target, as a publisher of its own stream
    const port = await freePort();
    const s = await t.app.inject({ method: 'POST', url: '/servers/create', headers: admin, payload: { server_name: 'Probe target', server_type: 'SERVER_TYPE_SRT', server_port: port } });
    assert.equal(s.statusCode, 200, s.body);
    const c = (await t.app.inject({ method: 'POST', url: '/utils/speedtest', headers: admin, payload: { port, streamid: 'publisher/probe-target/speedtest', duration_ms: 800 } })).json() as Speed;
    assert.equal(c.target.local, false);
    assert.equal(c.target.port, port);
    assertSpeedConsistent(c, { durationMs: 800, bitrate: 20_000_000 }, `a server as the target: ${JSON.stringify(c)}`);
    const rejected = await t.app.inject({ method: 'POST', url: '/utils/speedtest', headers: admin, payload: { port, streamid: 'receiver/probe-target/nothing', duration_ms: 500 } });
    assert.equal(rejected.statusCode, 502);
    assert.match((rejected.json() as { message: string }).message, /rejected.*1404/);
    assert.equal((await t.app.inject({ method: 'POST', url: '/utils/speedtest', headers: viewer, payload: { port } })).statusCode, 403, 'viewers test only the local path');

    const both = await Promise.all([0, 1].map(() => t.app.inject({ method: 'POST', url: '/api/v1/utils/speedtest', headers: admin, payload: { duration_ms: 500 } })));
    assert.deepEqual(both.map((x) => x.statusCode).sort(), [200, 409], 'one speed test at a time');
  } finally {
    await t.close();
  }
});

interface StatBody {
  servers: { id: number; name: string; status: string; streams: { name: string; connections: { id: number; role: string; stream_id: string; slow_reader: boolean; sender: { flow_window: number; buffer_ms: number }; queue: unknown }[] }[] }[];
  signals: { kind: string; level: string; server_id: number; connection_id?: number; message: string }[];
}

test('getStat: connections of a running server with receiver/sender figures; a player that never reads is flagged as a slow reader', async (tc) => {
  const t = await setup();
  const port = await freePort();
  const sockets: SrtSocket[] = [];
  let pump: NodeJS.Timeout | null = null;
  try {
    const auth = await t.login('admin', 'admin-pass-1');
    const created = await t.app.inject({ method: 'POST', url: '/servers/create', headers: auth, payload: { server_name: 'Diag', server_type: 'SERVER_TYPE_SRT', server_port: port, server_latency: 120 } });
    assert.equal(created.statusCode, 200, created.body);
    const id = (created.json() as { id: number }).id;
    const idle = (await t.app.inject({ url: '/api/v1/utils/getStat', headers: auth })).json() as StatBody;
    assert.deepEqual(idle.servers.map((s) => [s.name, s.status, s.streams.length]), [['Diag', 'running', 0]]);
    assert.deepEqual(idle.signals, []);

    const pub = await dial({ host: '127.0.0.1', port, streamid: 'publisher/diag/cam' });
    tc.after(() => pub.destroy());
    sockets.push(pub);
    await until(() => t.servers.runtime(id)!.streamNames().includes('cam'));
    const good = await dial({ host: '127.0.0.1', port, streamid: 'receiver/diag/cam' });
    tc.after(() => good.destroy());
    sockets.push(good);
    let goodGot = 0;
    good.on('data', () => { goodGot++; });
    // never reads; a small receive buffer fills quickly
    const slow = await dial({ host: '127.0.0.1', port, streamid: 'read:cam', rcvbuf: 47104 });
    tc.after(() => slow.destroy());
    sockets.push(slow);
    await until(() => t.servers.runtime(id)!.connections().length === 3);
    const payload = Buffer.alloc(1316, 0x47);
    pump = setInterval(() => { for (let i = 0; i < 3; i++) pub.write(payload); }, 3); // ≈ 1000 messages/s

    let stat: StatBody | null = null;
    const slowFlagged = (b: StatBody | null): boolean => !!b && b.signals.some((s) => s.kind === 'slow_reader');
    const end = Date.now() + 10_000;
    while (Date.now() < end) {
      stat = (await t.app.inject({ url: '/api/v1/utils/getStat', headers: auth })).json() as StatBody;
      if (slowFlagged(stat)) break;
      await sleep(200);
    }
    assert.ok(stat && slowFlagged(stat), `a slow_reader signal (got ${JSON.stringify(stat?.signals)})`);
    const conns = stat.servers[0]!.streams[0]!.connections;
    assert.deepEqual(conns.map((c) => c.role).sort(), ['player', 'player', 'publisher']);
    const slowDiag = conns.find((c) => c.stream_id === 'read:cam')!;
    const goodDiag = conns.find((c) => c.stream_id === 'receiver/diag/cam')!;
    assert.equal(slowDiag.slow_reader, true);
    assert.equal(goodDiag.slow_reader, false, `the reading player is fine (${JSON.stringify(goodDiag.sender)})`);
    assert.ok(goodGot > 100, 'the reading player receives');
    const signal = stat.signals.find((s) => s.kind === 'slow_reader')!;
    assert.equal(signal.connection_id, slowDiag.id);
    assert.equal(signal.server_id, id);
    assert.match(signal.message, /slow reader on server "Diag" connection \d+ \(player .*not reading fast enough/);
    assert.ok(!stat.signals.some((s) => s.connection_id === goodDiag.id), 'no signal for the reading player');

    // the Callaba-shaped routes answer the same document; a filter by server id
    const viaGet = (await t.app.inject({ url: '/utils/getStat', headers: auth })).json() as StatBody;
    assert.equal(viaGet.servers[0]!.streams[0]!.connections.length, 3);
    const viaPost = await t.app.inject({ method: 'POST', url: '/utils/getStat', headers: auth, payload: { id } });
    assert.equal(viaPost.statusCode, 200, viaPost.body);
    assert.equal((viaPost.json() as StatBody).servers.length, 1);
    assert.equal((await t.app.inject({ method: 'POST', url: '/utils/getStat', headers: auth })).statusCode, 200, 'no body');
    assert.equal((await t.app.inject({ url: '/api/v1/utils/getStat?server_id=999', headers: auth })).statusCode, 404);
  } finally {
    if (pump) clearInterval(pump);
    for (const s of sockets) s.destroy();
    await t.close();
  }
});
