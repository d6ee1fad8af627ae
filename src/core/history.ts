// Statistics history for charts: one sample per second per stream and per connection of every
// running server, kept for the last hour in rings of typed arrays (no object per sample).
//
// Memory: a series holds its timestamps in a Float64Array and each field in a Float32Array
// (7 significant digits are plenty for a chart). Rings start small and double up to `capacity`
// samples, so short-lived connections stay cheap; a full hour (3600 samples) costs 57.6 KB for a
// stream (2 fields) and 129.6 KB for a connection (7 fields). A series is dropped `retentionMs`
// after its stream or connection was last seen, and at most `maxSeries` exist: a new one takes the
// place of the series idle the longest, or is not recorded when every series is live.
import type { SrtStats } from '../protocol/stats.js';

/** The libsrt statistics a connection series is computed from. */
export type SampledStats = Pick<SrtStats, 'msRTT' | 'msRcvBuf' | 'byteSentTotal' | 'byteRecvTotal' | 'pktRcvLossTotal' | 'pktSndLossTotal'
  | 'pktRetransTotal' | 'pktRcvRetransTotal' | 'pktRcvDropTotal' | 'pktSndDropTotal'>;

export interface SampledConnection {
  id: number;
  role: string;
  stream: string;
  peer: string;
  connectedAt: number;
  stats: SampledStats;
}

export interface SampledStream {
  name: string;
  publisher: SampledConnection | null;
  players: SampledConnection[];
  /** Payload bytes received from the publisher since the stream was created. */
  bytes: number;
}

/** What StatsHistory reads from a running server (src/server/server.ts Server satisfies it). */
export interface SampledServer {
  stats(): SampledStream[];
  connections(): { id: number; role: string; stream: string; peer: string; connectedAt: number; socket: { stats(): SampledStats } }[];
}

/** The running servers by id (core/servers.ts ServerManager satisfies it). */
export interface HistorySource {
  runtimes(): Iterable<readonly [number, SampledServer]>;
}

export interface HistoryOptions {
  /** Sampling period of start(), ms (default 1000). */
  intervalMs?: number;
  /** Samples kept per series (default 3600: an hour at one per second). */
  capacity?: number;
  /** A series is dropped this long after its stream/connection was last seen; reads return nothing older (default 1 h). */
  retentionMs?: number;
  /** Most series kept (default 4,000: a full hour of a connection is ~130 KB, so at most ~0.5 GB). */
  maxSeries?: number;
  /** Slots a new series starts with; doubled up to `capacity` (default 64). */
  initialCapacity?: number;
  /** ms since the epoch (default Date.now). */
  now?: () => number;
}

export const STREAM_FIELDS = ['bitrate_in', 'players'] as const;
export const CONNECTION_FIELDS = ['mbps_send_rate', 'mbps_recv_rate', 'ms_rtt', 'loss_per_s', 'retrans_per_s', 'drop_per_s', 'ms_rcv_buf'] as const;
export type StreamField = (typeof STREAM_FIELDS)[number];
export type ConnectionField = (typeof CONNECTION_FIELDS)[number];

/** Sample times (ms since the epoch) and one array per field; null where a value is unknown (first sample, counter reset). */
export type SeriesData<F extends string> = { t: number[] } & Record<F, (number | null)[]>;

export interface StreamHistory extends SeriesData<StreamField> {
  stream: string;
  /** Seen in the latest sample. */
  live: boolean;
}

export interface ConnectionHistory extends SeriesData<ConnectionField> {
  connection_id: number;
  role: string;
  stream: string;
  peer: string;
  connected_at: number;
  live: boolean;
}

export interface ReadOptions {
  /** Only samples at or after this time (ms since the epoch). */
  since?: number;
  /** Average the samples into buckets of this many ms (aligned to the epoch); at most the sampling period means every sample. */
  stepMs?: number;
}

export interface ServerRates {
  /** Time of the sample. */
  at: number;
  /** bits/s received from publishers (SRT bytes incl. headers, as libsrt counts them). */
  bitrateIn: number;
  /** bits/s sent to players. */
  bitrateOut: number;
  /** Payload bits/s of all streams. */
  streamsBitrateIn: number;
}

/** A ring of samples: Float64 timestamps and one Float32 column per field, grown on demand. */
export class Ring {
  t: Float64Array;
  cols: Float32Array[];
  /** Index of the oldest sample. */
  private start = 0;
  length = 0;

  constructor(readonly fields: number, readonly capacity: number, initial = 64) {
    const n = Math.max(1, Math.min(initial, capacity));
    this.t = new Float64Array(n);
    this.cols = Array.from({ length: fields }, () => new Float32Array(n));
  }

  push(t: number, values: ArrayLike<number>): void {
    let size = this.t.length;
    if (this.length === size && size < this.capacity) {
      // not wrapped yet (start is 0): copy into a larger ring
      size = Math.min(size * 2, this.capacity);
      const nt = new Float64Array(size);
      nt.set(this.t);
      this.t = nt;
      this.cols = this.cols.map((c) => {
        const n = new Float32Array(size);
        n.set(c);
        return n;
      });
    }
    let i: number;
    if (this.length === size) {
      i = this.start;
      this.start = (this.start + 1) % size;
    } else {
      i = (this.start + this.length) % size;
      this.length++;
    }
    this.t[i] = t;
    for (let f = 0; f < this.fields; f++) this.cols[f]![i] = values[f] ?? NaN;
  }

  /** The i-th oldest sample's slot. */
  slot(i: number): number {
    return (this.start + i) % this.t.length;
  }

  last(): number {
    return this.length === 0 ? -1 : this.slot(this.length - 1);
  }

  bytes(): number {
    return this.t.byteLength + this.cols.reduce((s, c) => s + c.byteLength, 0);
  }
}

interface SeriesBase {
  server: number;
  /** Identity of the Server object (a restarted server starts its counters again). */
  gen: number;
  lastSeen: number;
  ring: Ring;
  /** Time of the previous sample (NaN: none yet, so no rates). */
  prevAt: number;
}

interface StreamSeries extends SeriesBase {
  kind: 'stream';
  stream: string;
  prevBytes: number;
}

interface ConnSeries extends SeriesBase {
  kind: 'conn';
  id: number;
  role: string;
  stream: string;
  peer: string;
  connectedAt: number;
  /** byteSent, byteRecv, loss, retransmitted, dropped totals at prevAt. */
  prev: Float64Array;
}

type Series = StreamSeries | ConnSeries;

/** The series of one server id (it outlives the Server object: kept across restarts and stops). */
interface ServerSeries {
  streams: Map<string, StreamSeries>;
  conns: Map<number, ConnSeries>;
}

function round(v: number): number | null {
  if (Number.isNaN(v)) return null;
  return Math.abs(v) >= 1000 ? Math.round(v) : Math.round(v * 1000) / 1000;
}

export class StatsHistory {
  readonly intervalMs: number;
  readonly capacity: number;
  readonly retentionMs: number;
  readonly maxSeries: number;
  private readonly initialCapacity: number;
  private readonly clock: () => number;
  private readonly byServer = new Map<number, ServerSeries>();
  private count = 0;
  /** No series was last seen before this (a lower bound): expiry scans only when the cutoff passes it. */
  private oldestSeen = Infinity;
  private readonly gens = new WeakMap<object, number>();
  private nextGen = 1;
  private readonly rates = new Map<number, ServerRates>();
  private readonly scratch = new Float64Array(CONNECTION_FIELDS.length);
  private timer: NodeJS.Timeout | null = null;
  private lastAt = -Infinity;
  /**
   * refused: series not kept because every place was taken by a live series; evicted: idle series
   * dropped for new ones; expired: series dropped an hour after last seen; errors: servers whose
   * statistics threw.
   */
  readonly counters = { refused: 0, evicted: 0, expired: 0, errors: 0 };

  constructor(private readonly source: HistorySource, opts: HistoryOptions = {}) {
    this.intervalMs = opts.intervalMs ?? 1000;
    this.capacity = opts.capacity ?? 3600;
    this.retentionMs = opts.retentionMs ?? 3_600_000;
    this.maxSeries = opts.maxSeries ?? 4_000;
    this.initialCapacity = opts.initialCapacity ?? 64;
    this.clock = opts.now ?? Date.now;
    if (!(this.intervalMs > 0) || !(this.capacity >= 1) || !(this.maxSeries >= 1)) throw new RangeError('history: intervalMs, capacity and maxSeries must be positive');
  }

  /** Samples every intervalMs until stop(); the timer never keeps the process alive. */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Time of the latest sample (-Infinity before the first). */
  get lastSampleAt(): number {
    return this.lastAt;
  }

  /** Takes one sample of every running server at `now` (ms since the epoch); a time not after the previous sample is ignored. */
  sample(now = this.clock()): void {
    if (!(now > this.lastAt)) return;
    const fresh: Series[] = [];
    const seen = new Set<number>();
    for (const [id, server] of this.source.runtimes()) {
      seen.add(id);
      try {
        this.sampleServer(id, server, now, fresh);
      } catch {
        this.counters.errors++;
      }
    }
    for (const id of [...this.rates.keys()]) if (!seen.has(id)) this.rates.delete(id);
    this.admit(fresh, now);
    this.lastAt = now;
    this.expire(now);
  }

  private genOf(server: object): number {
    let g = this.gens.get(server);
    if (g === undefined) {
      g = this.nextGen++;
      this.gens.set(server, g);
    }
    return g;
  }

  private sampleServer(id: number, server: SampledServer, now: number, fresh: Series[]): void {
    const gen = this.genOf(server);
    const ss = this.byServer.get(id);
    const rates: ServerRates = { at: now, bitrateIn: 0, bitrateOut: 0, streamsBitrateIn: 0 };
    let promoted: Set<number> | null = null;
    for (const st of server.stats()) {
      let s = ss?.streams.get(st.name);
      if (!s) {
        s = { kind: 'stream', server: id, stream: st.name, gen, lastSeen: now, prevAt: NaN, prevBytes: 0, ring: new Ring(STREAM_FIELDS.length, this.capacity, this.initialCapacity) };
        fresh.push(s);
      }
      let bitrate = NaN;
      if (s.gen === gen) {
        const dt = (now - s.prevAt) / 1000;
        if (dt > 0 && st.bytes >= s.prevBytes) bitrate = ((st.bytes - s.prevBytes) * 8) / dt;
      }
      s.gen = gen;
      s.lastSeen = now;
      s.prevAt = now;
      s.prevBytes = st.bytes;
      this.scratch[0] = bitrate;
      this.scratch[1] = st.players.length;
      s.ring.push(now, this.scratch); // the first two values
      if (!Number.isNaN(bitrate)) rates.streamsBitrateIn += bitrate;
      if (st.publisher) {
        if (st.publisher.role === 'backup') (promoted ??= new Set()).add(st.publisher.id);
        this.sampleConn(id, ss, gen, st.publisher, now, fresh, rates);
      }
      for (const p of st.players) this.sampleConn(id, ss, gen, p, now, fresh, rates);
    }
    // standby publishers (backup=1) are in no stream view; one that took over was sampled above
    for (const c of server.connections()) {
      if (c.role !== 'backup' || promoted?.has(c.id)) continue;
      let stats: SampledStats;
      try {
        stats = c.socket.stats();
      } catch {
        continue; // closed meanwhile
      }
      this.sampleConn(id, ss, gen, { id: c.id, role: c.role, stream: c.stream, peer: c.peer, connectedAt: c.connectedAt, stats }, now, fresh, rates);
    }
    this.rates.set(id, rates);
  }

  /** Records one connection's sample and adds its rates to the server's. */
  private sampleConn(server: number, ss: ServerSeries | undefined, gen: number, c: SampledConnection, now: number, fresh: Series[], rates: ServerRates): void {
    let s = ss?.conns.get(c.id);
    if (!s || s.gen !== gen || s.connectedAt !== c.connectedAt || s.peer !== c.peer) {
      const n: ConnSeries = {
        kind: 'conn', server, id: c.id, gen, role: c.role, stream: c.stream, peer: c.peer, connectedAt: c.connectedAt,
        lastSeen: now, prevAt: NaN, prev: new Float64Array(5), ring: new Ring(CONNECTION_FIELDS.length, this.capacity, this.initialCapacity),
      };
      if (s) ss!.conns.set(c.id, n); // the same id on a restarted server is another connection: it takes the place
      else fresh.push(n);
      s = n;
    }
    const st = c.stats, p = s.prev, v = this.scratch;
    const sent = st.byteSentTotal, recv = st.byteRecvTotal;
    const loss = st.pktRcvLossTotal + st.pktSndLossTotal, retrans = st.pktRetransTotal + st.pktRcvRetransTotal, drop = st.pktRcvDropTotal + st.pktSndDropTotal;
    const dt = (now - s.prevAt) / 1000; // NaN without a previous sample: every rate is NaN
    v[0] = dt > 0 && sent >= p[0]! ? ((sent - p[0]!) * 8) / dt / 1e6 : NaN;
    v[1] = dt > 0 && recv >= p[1]! ? ((recv - p[1]!) * 8) / dt / 1e6 : NaN;
    v[2] = st.msRTT;
    v[3] = dt > 0 && loss >= p[2]! ? (loss - p[2]!) / dt : NaN;
    v[4] = dt > 0 && retrans >= p[3]! ? (retrans - p[3]!) / dt : NaN;
    v[5] = dt > 0 && drop >= p[4]! ? (drop - p[4]!) / dt : NaN;
    v[6] = st.msRcvBuf;
    p[0] = sent;
    p[1] = recv;
    p[2] = loss;
    p[3] = retrans;
    p[4] = drop;
    s.prevAt = now;
    s.lastSeen = now;
    s.role = c.role;
    s.ring.push(now, v);
    if (c.role === 'player') {
      if (!Number.isNaN(v[0]!)) rates.bitrateOut += v[0]! * 1e6;
    } else if (!Number.isNaN(v[1]!)) {
      rates.bitrateIn += v[1]! * 1e6;
    }
  }

  /** Keeps the new series while there is room; an idle series (not in this sample) makes room, the longest idle first. */
  private admit(fresh: Series[], now: number): void {
    if (fresh.length === 0) return;
    let room = this.maxSeries - this.count;
    if (room < fresh.length) {
      const idle: Series[] = [];
      for (const ss of this.byServer.values()) {
        for (const s of ss.streams.values()) if (s.lastSeen < now) idle.push(s);
        for (const s of ss.conns.values()) if (s.lastSeen < now) idle.push(s);
      }
      idle.sort((a, b) => a.lastSeen - b.lastSeen);
      for (const s of idle) {
        if (room >= fresh.length) break;
        this.remove(s);
        this.counters.evicted++;
        room++;
      }
    }
    for (const s of fresh) {
      if (room <= 0) {
        this.counters.refused++;
        continue;
      }
      let ss = this.byServer.get(s.server);
      if (!ss) {
        ss = { streams: new Map(), conns: new Map() };
        this.byServer.set(s.server, ss);
      }
      if (s.kind === 'stream') ss.streams.set(s.stream, s);
      else ss.conns.set(s.id, s);
      this.count++;
      room--;
      this.oldestSeen = Math.min(this.oldestSeen, s.lastSeen);
    }
  }

  private remove(s: Series): void {
    const ss = this.byServer.get(s.server);
    if (!ss) return;
    if (s.kind === 'stream' ? ss.streams.delete(s.stream) : ss.conns.delete(s.id)) this.count--;
    if (ss.streams.size === 0 && ss.conns.size === 0) this.byServer.delete(s.server);
  }

  private expire(now: number): void {
    const cutoff = now - this.retentionMs;
    if (!(this.oldestSeen < cutoff)) return;
    let oldest = Infinity;
    for (const ss of [...this.byServer.values()]) {
      for (const map of [ss.streams, ss.conns] as Map<unknown, Series>[]) {
        for (const s of map.values()) {
          if (s.lastSeen < cutoff) {
            this.remove(s);
            this.counters.expired++;
          } else if (s.lastSeen < oldest) {
            oldest = s.lastSeen;
          }
        }
      }
    }
    this.oldestSeen = oldest;
  }

  private read<F extends string>(ring: Ring, fields: readonly F[], o: ReadOptions): SeriesData<F> {
    const since = Math.max(o.since ?? -Infinity, this.lastAt - this.retentionMs);
    const step = o.stepMs !== undefined && o.stepMs > this.intervalMs ? o.stepMs : 0;
    const t: number[] = [];
    const cols: (number | null)[][] = fields.map(() => []);
    const sums = new Float64Array(fields.length);
    const counts = new Uint32Array(fields.length);
    let bucket = NaN;
    const flush = (): void => {
      if (Number.isNaN(bucket)) return;
      t.push(bucket);
      for (let f = 0; f < fields.length; f++) cols[f]!.push(counts[f]! > 0 ? round(sums[f]! / counts[f]!) : null);
      sums.fill(0);
      counts.fill(0);
    };
    for (let i = 0; i < ring.length; i++) {
      const k = ring.slot(i);
      const ts = ring.t[k]!;
      if (ts < since) continue;
      if (step === 0) {
        t.push(ts);
        for (let f = 0; f < fields.length; f++) cols[f]!.push(round(ring.cols[f]![k]!));
        continue;
      }
      const b = Math.floor(ts / step) * step;
      if (b !== bucket) {
        flush();
        bucket = b;
      }
      for (let f = 0; f < fields.length; f++) {
        const v = ring.cols[f]![k]!;
        if (!Number.isNaN(v)) {
          sums[f] += v;
          counts[f]!++;
        }
      }
    }
    flush();
    const out = { t } as SeriesData<F>;
    fields.forEach((f, i) => { (out as Record<string, unknown>)[f] = cols[i]; });
    return out;
  }

  /** Stream series of a server (all, or the one named), oldest stream first. */
  streams(server: number, o: ReadOptions & { stream?: string } = {}): StreamHistory[] {
    const ss = this.byServer.get(server);
    if (!ss) return [];
    const chosen = o.stream !== undefined ? [ss.streams.get(o.stream)].filter((s) => s !== undefined) : [...ss.streams.values()];
    const out = chosen.map((s): StreamHistory => ({ stream: s.stream, live: s.lastSeen === this.lastAt, ...this.read(s.ring, STREAM_FIELDS, o) }));
    return out.sort((a, b) => (a.t[0] ?? Infinity) - (b.t[0] ?? Infinity) || a.stream.localeCompare(b.stream));
  }

  /** One connection's series, or null when none is kept. */
  connection(server: number, id: number, o: ReadOptions = {}): ConnectionHistory | null {
    const s = this.byServer.get(server)?.conns.get(id);
    if (!s) return null;
    return { connection_id: s.id, role: s.role, stream: s.stream, peer: s.peer, connected_at: s.connectedAt, live: s.lastSeen === this.lastAt, ...this.read(s.ring, CONNECTION_FIELDS, o) };
  }

  /** The latest values of a live connection's series (null when it was not in the latest sample). */
  latestConnection(server: number, id: number): Record<ConnectionField, number> | null {
    const s = this.byServer.get(server)?.conns.get(id);
    if (!s || s.lastSeen !== this.lastAt) return null;
    const k = s.ring.last();
    const out = {} as Record<ConnectionField, number>;
    CONNECTION_FIELDS.forEach((f, i) => { out[f] = s.ring.cols[i]![k]!; });
    return out;
  }

  /** Totals of a running server's latest sample. */
  serverRates(server: number): ServerRates | undefined {
    return this.rates.get(server);
  }

  /** Series count and memory held by their rings. */
  info(): { series: number; streams: number; connections: number; bytes: number; maxSeries: number; lastSampleAt: number | null } & StatsHistory['counters'] {
    let streams = 0, bytes = 0;
    for (const ss of this.byServer.values()) {
      streams += ss.streams.size;
      for (const s of ss.streams.values()) bytes += s.ring.bytes();
      for (const s of ss.conns.values()) bytes += s.ring.bytes();
    }
    return { series: this.count, streams, connections: this.count - streams, bytes, maxSeries: this.maxSeries, lastSampleAt: Number.isFinite(this.lastAt) ? this.lastAt : null, ...this.counters };
  }
}
