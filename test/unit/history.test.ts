// StatsHistory driven by hand: sample(now) on fake servers, no timers, no sockets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StatsHistory, type HistorySource, type SampledConnection, type SampledServer, type SampledStats, type SampledStream } from '../../src/core/history.js';
import { until } from '../support/peers.js';
import { fileTimeout } from '../support/file-timeout.js';

fileTimeout();

const T0 = Date.UTC(2024, 0, 1); // aligned to 10 s buckets

function zeroStats(): SampledStats {
  return { msRTT: 0, msRcvBuf: 0, byteSentTotal: 0, byteRecvTotal: 0, pktRcvLossTotal: 0, pktSndLossTotal: 0, pktRetransTotal: 0, pktRcvRetransTotal: 0, pktRcvDropTotal: 0, pktSndDropTotal: 0 };
}

function conn(id: number, role: string, stream: string, connectedAt = T0): SampledConnection {
  return { id, role, stream, peer: `127.0.0.1:${4000 + id}`, connectedAt, stats: zeroStats() };
}

class FakeServer implements SampledServer {
  readonly streamMap = new Map<string, { bytes: number; publisher: SampledConnection | null; players: SampledConnection[] }>();
  backups: SampledConnection[] = [];
  fail = false;

  stream(name: string, players = 0): { bytes: number; publisher: SampledConnection | null; players: SampledConnection[] } {
    const st = { bytes: 0, publisher: null, players: Array.from({ length: players }, (_, i) => conn(1000 + i, 'player', name)) };
    this.streamMap.set(name, st);
    return st;
  }

  stats(): SampledStream[] {
    if (this.fail) throw new Error('broken');
    return [...this.streamMap].map(([name, s]) => ({ name, publisher: s.publisher, players: s.players, bytes: s.bytes }));
  }

  connections(): ReturnType<SampledServer['connections']> {
    const all: SampledConnection[] = [];
    for (const s of this.streamMap.values()) {
      if (s.publisher) all.push(s.publisher);
      all.push(...s.players);
    }
    all.push(...this.backups);
    return all.map((c) => ({ ...c, socket: { stats: () => c.stats } }));
  }
}

function source(): HistorySource & { servers: Map<number, FakeServer> } {
  const servers = new Map<number, FakeServer>();
  return { servers, runtimes: () => servers };
}

test('history: the ring keeps the last 3600 samples; memory grows with the samples and stops at 57.6 KB for a stream', () => {
  const src = source();
  const srv = new FakeServer();
  src.servers.set(1, srv);
  const cam = srv.stream('cam', 2);
  const h = new StatsHistory(src);
  h.sample(T0);
  let [s] = h.streams(1);
  assert.deepEqual(s!.bitrate_in, [null], 'no rate before a second sample');
  assert.deepEqual(s!.players, [2]);
  for (let i = 1; i <= 3700; i++) {
    cam.bytes += 1250; // 10,000 bits/s
    h.sample(T0 + i * 1000);
    if (i === 99) {
      // 100 samples: the rings have grown from 64 to 128 slots (stream: t + 2 fields; players: t + 7 fields each)
      const stream = 128 * 8 + 2 * 128 * 4, connection = 128 * 8 + 7 * 128 * 4;
      assert.equal(h.info().bytes, stream + 2 * connection);
    }
  }
  [s] = h.streams(1);
  assert.equal(s!.t.length, 3600);
  assert.equal(s!.t[0], T0 + 101_000, 'the oldest samples were overwritten');
  assert.equal(s!.t[3599], T0 + 3_700_000);
  assert.ok(s!.t.every((t, i) => i === 0 || t - s!.t[i - 1]! === 1000), 'in time order across the wrap');
  assert.ok(s!.bitrate_in.every((v) => v === 10_000), 'every kept sample has the rate');
  assert.ok(s!.players.every((v) => v === 2));
  assert.equal(s!.live, true);
  const info = h.info();
  assert.equal(info.series, 3, 'one stream, two players');
  assert.equal(info.bytes, (3600 * 8 + 2 * 3600 * 4) + 2 * (3600 * 8 + 7 * 3600 * 4), '57.6 KB per stream, 129.6 KB per connection');
  const c = h.connection(1, 1000)!;
  assert.equal(c.t.length, 3600);
  assert.equal(c.role, 'player');
});

test('history: since filters by time (ms), step averages into epoch-aligned buckets', () => {
  const src = source();
  const srv = new FakeServer();
  src.servers.set(1, srv);
  const st = srv.stream('cam');
  const h = new StatsHistory(src);
  for (let i = 0; i < 120; i++) {
    st.players = Array.from({ length: i % 10 }, (_, k) => conn(100 + k, 'player', 'cam'));
    st.bytes += 1000 * (i % 2 === 0 ? 1 : 3); // alternating 8 and 24 kbit/s
    h.sample(T0 + i * 1000);
  }
  const since = h.streams(1, { since: T0 + 60_000 })[0]!;
  assert.equal(since.t.length, 60);
  assert.equal(since.t[0], T0 + 60_000);
  const b = h.streams(1, { stepMs: 10_000 })[0]!;
  assert.deepEqual(b.t, Array.from({ length: 12 }, (_, k) => T0 + k * 10_000), 'bucket starts');
  assert.ok(b.players.every((v) => v === 4.5), `mean of 0..9: ${b.players.join()}`);
  // the first sample has no rate and is left out: 5 × 24,000 + 4 × 8,000 over 9
  assert.equal(b.bitrate_in[0], Math.round((5 * 24_000 + 4 * 8_000) / 9));
  assert.ok(b.bitrate_in.slice(1).every((v) => v === 16_000), b.bitrate_in.join());
  const mid = h.streams(1, { since: T0 + 55_000, stepMs: 10_000 })[0]!;
  assert.equal(mid.t[0], T0 + 50_000);
  assert.equal(mid.players[0], 7, 'only the samples since 55 s (players 5..9) count');
  assert.equal(mid.t.length, 7);
  assert.equal(h.streams(1, { stepMs: 1000 })[0]!.t.length, 120, 'a step of the sampling period is every sample');
  assert.equal(h.streams(1, { since: T0 + 200_000 })[0]!.t.length, 0);
  assert.deepEqual(h.streams(1, { stream: 'other' }), []);
  assert.deepEqual(h.streams(2), [], 'another server');
});

test('history: rates per second from counter deltas for connections (backups too); a restarted server starts new baselines', () => {
  const src = source();
  let srv = new FakeServer();
  src.servers.set(1, srv);
  const st = srv.stream('cam');
  const pub = conn(1, 'publisher', 'cam');
  const player = conn(2, 'player', 'cam');
  st.publisher = pub;
  st.players = [player];
  const backup = conn(3, 'backup', 'cam');
  srv.backups = [backup];
  const h = new StatsHistory(src);
  const times = [0, 1000, 2000, 4000]; // a missed tick: rates are still per second
  for (const [i, at] of times.entries()) {
    const secs = i === 0 ? 0 : (at - times[i - 1]!) / 1000;
    pub.stats = { ...pub.stats, byteRecvTotal: pub.stats.byteRecvTotal + 125_000 * secs, pktRcvLossTotal: pub.stats.pktRcvLossTotal + 2 * secs, pktRcvDropTotal: pub.stats.pktRcvDropTotal + secs, pktRcvRetransTotal: pub.stats.pktRcvRetransTotal + 3 * secs, msRTT: 12.5, msRcvBuf: 120 };
    player.stats = { ...player.stats, byteSentTotal: player.stats.byteSentTotal + 250_000 * secs, pktSndLossTotal: player.stats.pktSndLossTotal + secs, pktRetransTotal: player.stats.pktRetransTotal + 4 * secs, msRTT: 3 };
    backup.stats = { ...backup.stats, byteRecvTotal: backup.stats.byteRecvTotal + 62_500 * secs };
    st.bytes += 100_000 * secs;
    h.sample(T0 + at);
  }
  const p = h.connection(1, 1)!;
  assert.deepEqual(p.t, times.map((x) => T0 + x));
  assert.deepEqual(p.mbps_recv_rate, [null, 1, 1, 1]);
  assert.deepEqual(p.mbps_send_rate, [null, 0, 0, 0]);
  assert.deepEqual(p.loss_per_s, [null, 2, 2, 2]);
  assert.deepEqual(p.drop_per_s, [null, 1, 1, 1]);
  assert.deepEqual(p.retrans_per_s, [null, 3, 3, 3]);
  assert.deepEqual(p.ms_rtt, [12.5, 12.5, 12.5, 12.5]);
  assert.deepEqual(p.ms_rcv_buf, [120, 120, 120, 120]);
  assert.equal(p.peer, '127.0.0.1:4001');
  const pl = h.connection(1, 2)!;
  assert.deepEqual(pl.mbps_send_rate, [null, 2, 2, 2]);
  assert.deepEqual(pl.loss_per_s, [null, 1, 1, 1]);
  assert.deepEqual(pl.retrans_per_s, [null, 4, 4, 4]);
  assert.deepEqual(h.connection(1, 3)!.mbps_recv_rate, [null, 0.5, 0.5, 0.5], 'a standby backup is sampled from connections()');
  assert.equal(h.connection(1, 3)!.role, 'backup');
  assert.deepEqual(h.streams(1)[0]!.bitrate_in, [null, 800_000, 800_000, 800_000]);
  assert.deepEqual(h.serverRates(1), { at: T0 + 4000, bitrateIn: 1.5e6, bitrateOut: 2e6, streamsBitrateIn: 800_000 });
  assert.deepEqual(h.latestConnection(1, 2)!.mbps_send_rate, 2);
  assert.equal(h.connection(1, 99), null);

  // restart: a new Server object; counters start again and ids are reused by other peers
  srv = new FakeServer();
  src.servers.set(1, srv);
  const st2 = srv.stream('cam');
  st2.bytes = 5_000_000; // above the old counter: without the restart check this would be a bogus rate
  const other = conn(1, 'publisher', 'cam', T0 + 4500);
  st2.publisher = other;
  h.sample(T0 + 5000);
  const s = h.streams(1)[0]!;
  assert.equal(s.t.length, 5, 'the stream series carries on');
  assert.equal(s.bitrate_in[4], null, 'no rate across the restart');
  const c1 = h.connection(1, 1)!;
  assert.deepEqual(c1.t, [T0 + 5000], 'connection 1 is another connection now: a new series');
  assert.equal(c1.connected_at, T0 + 4500);
  assert.equal(h.connection(1, 2)!.live, false, 'the old player is gone but kept');
  st2.bytes = 10; // a counter going backwards is no rate either
  h.sample(T0 + 6000);
  assert.equal(h.streams(1)[0]!.bitrate_in[5], null);
  h.sample(T0 + 6000);
  h.sample(T0 + 5500);
  assert.equal(h.streams(1)[0]!.t.length, 6, 'a time not after the last sample is ignored');
});

test('history: a series is dropped an hour after its stream or connection was last seen', () => {
  const src = source();
  const srv = new FakeServer();
  src.servers.set(1, srv);
  const st = srv.stream('cam', 1);
  st.publisher = conn(1, 'publisher', 'cam');
  const h = new StatsHistory(src);
  for (let i = 0; i < 10; i++) h.sample(T0 + i * 1000);
  assert.equal(h.info().series, 3);
  srv.streamMap.clear();
  src.servers.clear(); // and the server stops: the series stay readable
  const last = T0 + 9000;
  h.sample(last + 1000);
  assert.equal(h.streams(1)[0]!.live, false);
  assert.equal(h.streams(1)[0]!.t.length, 10);
  assert.equal(h.serverRates(1), undefined, 'no rates for a server that is not running');
  h.sample(last + 3_600_000);
  assert.equal(h.info().series, 3, 'exactly an hour: still kept');
  assert.equal(h.streams(1)[0]!.t.length, 1, 'reads return only the last hour');
  h.sample(last + 3_601_000);
  assert.equal(h.info().series, 0);
  assert.equal(h.info().expired, 3);
  assert.deepEqual(h.streams(1), []);
  assert.equal(h.connection(1, 1), null);
  assert.equal(h.info().bytes, 0);
});

test('history: at most maxSeries; a new series replaces the one idle the longest, never a live one', () => {
  const src = source();
  const srv = new FakeServer();
  src.servers.set(1, srv);
  const h = new StatsHistory(src, { maxSeries: 3 });
  const names = (): string[] => h.streams(1).map((s) => s.stream).sort();
  for (const n of ['a', 'b', 'c']) srv.stream(n);
  h.sample(T0);
  h.sample(T0 + 1000);
  srv.streamMap.delete('a');
  h.sample(T0 + 2000); // a idle from now on
  srv.streamMap.delete('b');
  h.sample(T0 + 3000); // b idle, a idle longer
  srv.stream('d');
  h.sample(T0 + 4000);
  assert.deepEqual(names(), ['b', 'c', 'd'], 'a (idle the longest) made room');
  assert.equal(h.info().evicted, 1);
  srv.stream('e');
  srv.stream('f');
  h.sample(T0 + 5000);
  assert.deepEqual(names(), ['c', 'd', 'e'], 'b made room for e; f finds only live series');
  assert.equal(h.info().refused, 1);
  assert.equal(h.info().series, 3);
  srv.streamMap.delete('c');
  h.sample(T0 + 6000);
  assert.deepEqual(names(), ['d', 'e', 'f'], 'f gets the place c left as soon as c is missing from a sample');
  assert.equal(h.streams(1, { stream: 'f' })[0]!.t[0], T0 + 6000);
  assert.equal(h.info().evicted, 3);
});

test('history: a server whose statistics throw is skipped; start() samples on its own clock until stop()', async () => {
  const src = source();
  const bad = new FakeServer();
  bad.stream('x');
  bad.fail = true;
  const good = new FakeServer();
  good.stream('y', 1);
  src.servers.set(1, bad);
  src.servers.set(2, good);
  let now = T0;
  const h = new StatsHistory(src, { intervalMs: 5, now: () => (now += 1000) });
  h.start();
  await until(() => h.info().lastSampleAt !== null && h.streams(2)[0]!.t.length >= 3, 2000);
  h.stop();
  const n = h.streams(2)[0]!.t.length;
  assert.ok(n >= 3, `sampled by the timer: ${n}`);
  assert.ok(h.streams(2)[0]!.t.every((t, i, a) => i === 0 || t - a[i - 1]! === 1000), 'times come from the injected clock');
  assert.deepEqual(h.streams(1), []);
  assert.ok(h.info().errors >= 3);
  // scenario: six periods of the 5 ms timer pass (timers of one period fire in order); a stopped
  // history takes no sample in them
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(h.streams(2)[0]!.t.length, n, 'stopped');
  assert.throws(() => new StatsHistory(src, { intervalMs: 0 }), RangeError);
});
