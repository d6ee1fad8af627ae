// GET /metrics (Prometheus) and the statistics history API with real SRT peers, on a real SQLite
// file through fastify's inject.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildApp } from '../../src/api/app.js';
import { dial } from '../../src/transport/api.js';
import { apiHarness } from '../support/api.js';
import { freePort, makeMessages, sleep, until } from '../support/peers.js';
import { fileTimeout } from '../support/file-timeout.js';

fileTimeout();

async function setup() {
  const h = await apiHarness(); // history not started: the test samples by hand
  return { ctx: h.ctx, db: h.db, servers: h.servers, history: h.history, app: h.app, login: h.login, close: h.close };
}

interface Sample { name: string; labels: Record<string, string>; value: number }

/** Parses the text exposition format (the lines that are samples). */
function parseMetrics(text: string): { samples: Sample[]; types: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    const ty = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (ty) types.set(ty[1]!, ty[2]!);
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return { samples, types };
}

function find(samples: Sample[], name: string, labels: Record<string, string>): Sample[] {
  return samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}

function one(samples: Sample[], name: string, labels: Record<string, string>): number {
  const f = find(samples, name, labels);
  assert.equal(f.length, 1, `${name}${JSON.stringify(labels)}: ${f.length} samples`);
  return f[0]!.value;
}

test('metrics and history: a publisher and a player on a server created through the API', async () => {
  const t = await setup();
  const port = await freePort();
  let pub: Awaited<ReturnType<typeof dial>> | null = null;
  let player: Awaited<ReturnType<typeof dial>> | null = null;
  let guarded: Awaited<ReturnType<typeof buildApp>> | null = null;
  try {
    const auth = { authorization: `Bearer ${await t.login('admin', 'admin-pass-1')}` };
    const created = await t.app.inject({ method: 'POST', url: '/api/v1/servers', headers: auth, payload: { server_name: 'cams', server_port: port } });
    assert.equal(created.statusCode, 201, created.body);
    const id = (created.json() as { id: number }).id;
    const idle = await t.app.inject({ method: 'POST', url: '/api/v1/servers', headers: auth, payload: { server_name: 'idle', server_port: await freePort(), server_active: false } });
    assert.equal(idle.statusCode, 201, idle.body);
    const rt = t.servers.runtime(id)!;

    pub = await dial({ host: '127.0.0.1', port, streamid: 'publish:cam' });
    await until(() => rt.streamNames().length === 1);
    player = await dial({ host: '127.0.0.1', port, streamid: 'cam' });
    let got = 0;
    player.on('data', () => { got++; });
    await until(() => rt.connections().length === 2);
    assert.equal(rt.connections().length, 2);
    const pubId = rt.connections().find((c) => c.role === 'publisher')!.id;
    const playerId = rt.connections().find((c) => c.role === 'player')!.id;

    // three samples with data in between: rates need two
    const msgs = makeMessages(300);
    t.history.sample();
    for (let round = 1; round <= 2; round++) {
      for (const m of msgs.slice((round - 1) * 150, round * 150)) pub.write(m);
      await until(() => got >= round * 150, 5000);
      assert.equal(got, round * 150, 'the player got everything');
      await sleep(20);
      t.history.sample();
    }

    // ---- /metrics: open (no token configured), text exposition
    const scrape = await t.app.inject({ url: '/metrics' });
    assert.equal(scrape.statusCode, 200, scrape.body);
    assert.match(String(scrape.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    const { samples, types } = parseMetrics(scrape.body);
    const srv = { server: 'cams', server_id: String(id) };
    assert.equal(one(samples, 'sluice_server_up', srv), 1);
    assert.equal(one(samples, 'sluice_server_up', { server: 'idle' }), 0, 'a stopped server is down');
    assert.equal(one(samples, 'sluice_server_connections', srv), 2);
    assert.equal(one(samples, 'sluice_server_streams', srv), 1);
    assert.equal(one(samples, 'sluice_server_connections_accepted_total', srv), 2);
    const cam = { server: 'cams', stream: 'cam' };
    assert.equal(one(samples, 'sluice_stream_publishers', cam), 1);
    assert.equal(one(samples, 'sluice_stream_players', cam), 1);
    assert.equal(one(samples, 'sluice_stream_received_bytes_total', cam), 300 * 1316);
    assert.equal(one(samples, 'sluice_stream_messages_received_total', cam), 300);
    assert.equal(types.get('sluice_stream_received_bytes_total'), 'counter');

    const pubL = { server: 'cams', stream: 'cam', connection_id: String(pubId), role: 'publisher' };
    const playerL = { server: 'cams', stream: 'cam', connection_id: String(playerId), role: 'player' };
    for (const l of [pubL, playerL]) {
      const rtt = find(samples, 'sluice_srt_rtt_seconds', l);
      assert.equal(rtt.length, 1, `rtt of ${l.role}`);
      assert.match(rtt[0]!.labels['peer']!, /^127\.0\.0\.1:\d+$/);
      assert.ok(rtt[0]!.value > 0 && rtt[0]!.value < 1, `rtt in seconds: ${rtt[0]!.value}`);
      assert.equal(find(samples, 'sluice_srt_packets_lost_total', l).length, 2, 'lost: send and receive');
      assert.ok(find(samples, 'sluice_srt_receive_buffer_seconds', l).length === 1);
    }
    assert.ok(one(samples, 'sluice_srt_packets_received_total', pubL) >= 300, 'the publisher connection received the data');
    assert.ok(one(samples, 'sluice_srt_received_bytes_total', pubL) >= 300 * (1316 + 44));
    assert.ok(one(samples, 'sluice_srt_packets_sent_total', playerL) >= 300, 'the player connection sent it');
    assert.ok(one(samples, 'sluice_srt_sent_bytes_total', playerL) >= 300 * (1316 + 44));
    assert.ok(one(samples, 'sluice_srt_receive_rate_bits_per_second', pubL) > 0);
    assert.ok(one(samples, 'sluice_srt_send_rate_bits_per_second', playerL) > 0);
    assert.equal(one(samples, 'sluice_srt_packets_dropped_total', { ...pubL, direction: 'receive' }), 0, 'nothing dropped on loopback');
    assert.equal(types.get('sluice_srt_packets_received_total'), 'counter');
    assert.equal(types.get('sluice_srt_rtt_seconds'), 'gauge');
    assert.ok(find(samples, 'sluice_process_cpu_user_seconds_total', {}).length === 1, 'default process metrics with the sluice_ prefix');
    assert.ok(find(samples, 'sluice_nodejs_heap_size_used_bytes', {}).length === 1);
    assert.ok(one(samples, 'sluice_history_series', {}) >= 3);
    assert.equal(one(samples, 'sluice_http_request_duration_seconds_count', { method: 'POST', route: '/api/v1/servers', status: '201' }), 2, 'API requests are timed by route pattern');
    assert.equal(types.get('sluice_http_request_duration_seconds'), 'histogram');

    // ---- history of the stream
    const hist = await t.app.inject({ url: `/api/v1/servers/${id}/history?stream=cam`, headers: auth });
    assert.equal(hist.statusCode, 200, hist.body);
    const h = hist.json() as { server_id: number; interval_ms: number; step_ms: number; streams: { stream: string; live: boolean; t: number[]; bitrate_in: (number | null)[]; players: (number | null)[] }[] };
    assert.equal(h.streams.length, 1);
    const s = h.streams[0]!;
    assert.equal(s.stream, 'cam');
    assert.equal(s.live, true);
    assert.equal(s.t.length, 3);
    assert.ok(s.t.every((x) => x > Date.now() - 60_000 && x <= Date.now()), 'ms since the epoch');
    assert.equal(s.bitrate_in[0], null, 'no rate for the first sample');
    assert.ok(s.bitrate_in[1]! > 0 && s.bitrate_in[2]! > 0, `bitrate_in: ${s.bitrate_in.join()}`);
    assert.deepEqual(s.players, [1, 1, 1]);
    const all = (await t.app.inject({ url: `/api/v1/servers/${id}/history`, headers: auth })).json() as typeof h;
    assert.deepEqual(all.streams.map((x) => x.stream), ['cam']);
    const sinceIso = (await t.app.inject({ url: `/api/v1/servers/${id}/history?stream=cam&since=${encodeURIComponent(new Date(s.t[1]!).toISOString())}`, headers: auth })).json() as typeof h;
    assert.deepEqual(sinceIso.streams[0]!.t, s.t.slice(1), 'since as an ISO date-time');
    const sinceMs = (await t.app.inject({ url: `/api/v1/servers/${id}/history?stream=cam&since=${s.t[2]!}`, headers: auth })).json() as typeof h;
    assert.deepEqual(sinceMs.streams[0]!.t, s.t.slice(2), 'since as ms');
    const stepped = (await t.app.inject({ url: `/api/v1/servers/${id}/history?stream=cam&step=3600`, headers: auth })).json() as typeof h;
    assert.equal(stepped.step_ms, 3_600_000);
    assert.ok(stepped.streams[0]!.t.length >= 1 && stepped.streams[0]!.t.length <= 2, 'one-hour buckets');
    assert.equal(stepped.streams[0]!.t[0]! % 3_600_000, 0, 'aligned');
    assert.equal((await t.app.inject({ url: `/api/v1/servers/${id}/history?stream=cam` })).statusCode, 401);
    assert.equal((await t.app.inject({ url: `/api/v1/servers/${id}/history?stream=nope`, headers: auth })).statusCode, 404);
    assert.equal((await t.app.inject({ url: `/api/v1/servers/999/history`, headers: auth })).statusCode, 404);
    const bad = await t.app.inject({ url: `/api/v1/servers/${id}/history?since=yesterday`, headers: auth });
    assert.equal(bad.statusCode, 400);
    assert.equal((bad.json() as { errors: { field: string }[] }).errors[0]!.field, 'since');

    // ---- history of a connection
    const ch = await t.app.inject({ url: `/api/v1/servers/${id}/connections/${pubId}/history`, headers: auth });
    assert.equal(ch.statusCode, 200, ch.body);
    const c = ch.json() as { connection_id: number; role: string; stream: string; peer: string; t: number[]; ms_rtt: (number | null)[]; mbps_recv_rate: (number | null)[]; loss_per_s: (number | null)[]; ms_rcv_buf: (number | null)[] };
    assert.equal(c.connection_id, pubId);
    assert.equal(c.role, 'publisher');
    assert.equal(c.stream, 'cam');
    assert.equal(c.t.length, 3);
    assert.ok(c.ms_rtt.every((v) => v !== null && v > 0), `ms_rtt: ${c.ms_rtt.join()}`);
    assert.ok(c.mbps_recv_rate[1]! > 0 && c.mbps_recv_rate[2]! > 0);
    assert.deepEqual(c.loss_per_s.slice(1), [0, 0]);
    assert.ok(c.ms_rcv_buf.every((v) => v !== null && v >= 0));
    const pc = (await t.app.inject({ url: `/api/v1/servers/${id}/connections/${playerId}/history`, headers: auth })).json() as { role: string; mbps_send_rate: (number | null)[] };
    assert.equal(pc.role, 'player');
    assert.ok(pc.mbps_send_rate[2]! > 0);
    assert.equal((await t.app.inject({ url: `/api/v1/servers/${id}/connections/999/history`, headers: auth })).statusCode, 404);

    // ---- summary
    const sum = await t.app.inject({ url: '/api/v1/stats', headers: auth });
    assert.equal(sum.statusCode, 200, sum.body);
    const st = sum.json() as { at: number; servers: number; servers_running: number; connections: number; streams: number; publishers: number; players: number; bitrate_in: number; bitrate_out: number; per_server: { server_name: string; status: string; connections: number }[]; history: { series: number; bytes: number } };
    assert.equal(st.servers, 2);
    assert.equal(st.servers_running, 1);
    assert.equal(st.connections, 2);
    assert.equal(st.streams, 1);
    assert.equal(st.publishers, 1);
    assert.equal(st.players, 1);
    assert.ok(st.bitrate_in > 0 && st.bitrate_out > 0, `bitrates ${st.bitrate_in} ${st.bitrate_out}`);
    assert.equal(st.at, t.history.lastSampleAt);
    assert.deepEqual(st.per_server.map((x) => [x.server_name, x.status, x.connections]), [['cams', 'running', 2], ['idle', 'stopped', 0]]);
    assert.equal(st.history.series, 3, 'a stream and two connections');
    assert.ok(st.history.bytes > 0 && st.history.bytes < 20_000, `small rings for 3 samples: ${st.history.bytes} bytes`);

    // the routes just called are timed too
    const again = parseMetrics((await t.app.inject({ url: '/metrics' })).body).samples;
    assert.equal(one(again, 'sluice_http_request_duration_seconds_count', { method: 'GET', route: '/api/v1/servers/:id/history', status: '404' }), 2);
    assert.equal(one(again, 'sluice_http_request_duration_seconds_count', { method: 'GET', route: '/metrics', status: '200' }), 1);

    // ---- with a metrics token
    guarded = await buildApp({ ...t.ctx, metricsToken: 'scrape-secret' });
    assert.equal((await guarded.inject({ url: '/metrics' })).statusCode, 401);
    assert.equal((await guarded.inject({ url: '/metrics', headers: auth })).statusCode, 401, 'a login token is not the metrics token');
    assert.equal((await guarded.inject({ url: '/metrics', headers: { authorization: 'Bearer scrape-secr' } })).statusCode, 401);
    const ok = await guarded.inject({ url: '/metrics', headers: { authorization: 'Bearer scrape-secret' } });
    assert.equal(ok.statusCode, 200);
    assert.equal(one(parseMetrics(ok.body).samples, 'sluice_server_connections', srv), 2);

    // after the peers leave: gone from /metrics, the history keeps them (not live)
    pub.destroy();
    player.destroy();
    await until(() => rt.connections().length === 0, 8000);
    assert.equal(rt.connections().length, 0);
    t.history.sample();
    const after = parseMetrics((await t.app.inject({ url: '/metrics' })).body).samples;
    assert.equal(find(after, 'sluice_srt_rtt_seconds', {}).length, 0);
    assert.equal(one(after, 'sluice_server_connections', srv), 0);
    const kept = (await t.app.inject({ url: `/api/v1/servers/${id}/connections/${pubId}/history`, headers: auth })).json() as { live: boolean; t: number[] };
    assert.equal(kept.live, false);
    assert.equal(kept.t.length, 3);
  } finally {
    pub?.destroy();
    player?.destroy();
    await guarded?.close();
    await t.close();
  }
});
