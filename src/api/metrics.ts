// Prometheus metrics: a Registry per app (never prom-client's global one) with the Node process
// metrics and gauges/counters read from the live servers when scraped. Units are in the names
// (seconds, bytes, bits_per_second); libsrt statistics are converted (msRTT / 1000 → seconds).
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { SrtStats } from '../protocol/stats.js';
import type { AppContext } from './context.js';

export interface ApiMetrics {
  registry: Registry;
  /** Observed by the app's onResponse hook. */
  httpDuration: Histogram<'method' | 'route' | 'status'>;
}

interface ConnSnap {
  id: number;
  role: string;
  stream: string;
  peer: string;
  stats: SrtStats;
}

interface ServerSnap {
  id: number;
  name: string;
  up: boolean;
  connections: number;
  counters: { accepted: number; rejected: number; playersDropped: number };
  streams: { name: string; publishers: number; players: number; bytes: number; messages: number }[];
  conns: ConnSnap[];
}

interface Snapshot {
  servers: ServerSnap[];
}

/** One read of every server: the store's list, then the running servers' live state. */
async function takeSnapshot(ctx: AppContext): Promise<Snapshot> {
  const views = await ctx.servers.list();
  const servers: ServerSnap[] = [];
  for (const v of views) {
    const rt = ctx.servers.runtime(v.id);
    const snap: ServerSnap = { id: v.id, name: v.server_name, up: rt !== undefined, connections: 0, counters: { accepted: 0, rejected: 0, playersDropped: 0 }, streams: [], conns: [] };
    servers.push(snap);
    if (!rt) continue;
    const all = rt.connections();
    snap.connections = all.length;
    snap.counters = { ...rt.counters };
    const seen = new Set<number>();
    for (const st of rt.stats()) {
      snap.streams.push({ name: st.name, publishers: st.publisher ? 1 : 0, players: st.players.length, bytes: st.bytes, messages: st.messages });
      for (const c of st.publisher ? [st.publisher, ...st.players] : st.players) {
        seen.add(c.id);
        snap.conns.push({ id: c.id, role: c.role, stream: c.stream, peer: c.peer, stats: c.stats });
      }
    }
    for (const c of all) {
      if (seen.has(c.id)) continue; // a standby publisher (backup) is in no stream view
      try {
        snap.conns.push({ id: c.id, role: c.role, stream: c.stream, peer: c.peer, stats: c.socket.stats() });
      } catch {
        // closed meanwhile
      }
    }
  }
  return { servers };
}

type Labels<L extends string> = Record<L, string | number>;
type Fill<L extends string> = (s: Snapshot, put: (labels: Labels<L>, value: number) => void) => void;

export function createMetrics(ctx: AppContext): ApiMetrics {
  const registry = new Registry();
  // scale-out: every series of this node carries its name, so one Prometheus tells the nodes apart
  const node = ctx.node;
  if (node) registry.setDefaultLabels({ node: node.name });
  collectDefaultMetrics({ register: registry, prefix: 'sluice_' });

  // Every live metric's collect() is called synchronously at the start of a scrape: they share
  // one snapshot, taken once per scrape.
  let pending: Promise<Snapshot> | null = null;
  const snapshot = (): Promise<Snapshot> => {
    if (!pending) pending = takeSnapshot(ctx).finally(() => { pending = null; });
    return pending;
  };
  const ok = (v: number): boolean => Number.isFinite(v);
  const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[], fill: Fill<L>): void => {
    new Gauge<L>({
      name, help, labelNames, registers: [registry],
      async collect() {
        const s = await snapshot();
        this.reset();
        fill(s, (labels, v) => { if (ok(v)) this.set(labels, v); });
      },
    });
  };
  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[], fill: Fill<L>): void => {
    new Counter<L>({
      name, help, labelNames, registers: [registry],
      async collect() {
        const s = await snapshot();
        this.reset();
        fill(s, (labels, v) => { if (ok(v) && v >= 0) this.inc(labels, v); });
      },
    });
  };

  // ---- servers
  const SL = ['server', 'server_id'] as const;
  const sl = (s: ServerSnap): Labels<(typeof SL)[number]> => ({ server: s.name, server_id: s.id });
  const perServer = (f: (s: ServerSnap) => number): Fill<(typeof SL)[number]> => (snap, put) => { for (const s of snap.servers) put(sl(s), f(s)); };
  gauge('sluice_server_up', 'Whether the SRT server is running (1) or not (0)', SL, perServer((s) => (s.up ? 1 : 0)));
  gauge('sluice_server_connections', 'SRT connections of the server (publishers, backups and players)', SL, perServer((s) => s.connections));
  gauge('sluice_server_streams', 'Streams of the server', SL, perServer((s) => s.streams.length));
  const runningOnly = (f: (s: ServerSnap) => number): Fill<(typeof SL)[number]> => (snap, put) => { for (const s of snap.servers) if (s.up) put(sl(s), f(s)); };
  counter('sluice_server_connections_accepted_total', 'Callers accepted since the server started', SL, runningOnly((s) => s.counters.accepted));
  counter('sluice_server_connections_rejected_total', 'Callers rejected since the server started', SL, runningOnly((s) => s.counters.rejected));
  counter('sluice_server_players_dropped_total', 'Players dropped for falling behind since the server started', SL, runningOnly((s) => s.counters.playersDropped));

  // ---- streams
  const TL = ['server', 'stream'] as const;
  type TS = ServerSnap['streams'][number];
  const perStream = (f: (t: TS) => number): Fill<(typeof TL)[number]> => (snap, put) => {
    for (const s of snap.servers) for (const t of s.streams) put({ server: s.name, stream: t.name }, f(t));
  };
  gauge('sluice_stream_publishers', 'Whether the stream has a publisher (1) or is in its grace period (0)', TL, perStream((t) => t.publishers));
  gauge('sluice_stream_players', 'Players of the stream', TL, perStream((t) => t.players));
  counter('sluice_stream_received_bytes_total', 'Payload bytes received from the stream\'s publishers and fanned out', TL, perStream((t) => t.bytes));
  counter('sluice_stream_messages_received_total', 'Messages received from the stream\'s publishers and fanned out', TL, perStream((t) => t.messages));

  // ---- connections (libsrt statistics)
  const CL = ['server', 'stream', 'connection_id', 'role', 'peer'] as const;
  type CLabel = (typeof CL)[number];
  const cl = (s: ServerSnap, c: ConnSnap): Labels<CLabel> => ({ server: s.name, stream: c.stream, connection_id: c.id, role: c.role, peer: c.peer });
  const perConn = (f: (c: ConnSnap, s: ServerSnap) => number): Fill<CLabel> => (snap, put) => {
    for (const s of snap.servers) for (const c of s.conns) put(cl(s, c), f(c, s));
  };
  const DL = [...CL, 'direction'] as const;
  const perConnDir = (snd: (c: ConnSnap) => number, rcv: (c: ConnSnap) => number): Fill<(typeof DL)[number]> => (snap, put) => {
    for (const s of snap.servers) {
      for (const c of s.conns) {
        put({ ...cl(s, c), direction: 'send' }, snd(c));
        put({ ...cl(s, c), direction: 'receive' }, rcv(c));
      }
    }
  };
  // rates over the last second from the statistics history; libsrt's (since connect) until it has one
  const rate = (c: ConnSnap, s: ServerSnap, field: 'mbps_send_rate' | 'mbps_recv_rate', libsrt: number): number => {
    const v = ctx.history.latestConnection(s.id, c.id)?.[field];
    return (v !== undefined && !Number.isNaN(v) ? v : libsrt) * 1e6;
  };
  gauge('sluice_srt_rtt_seconds', 'Smoothed round-trip time (libsrt msRTT)', CL, perConn((c) => c.stats.msRTT / 1000));
  gauge('sluice_srt_send_rate_bits_per_second', 'Sending rate over the last second, SRT headers included (libsrt mbpsSendRate)', CL, perConn((c, s) => rate(c, s, 'mbps_send_rate', c.stats.mbpsSendRate)));
  gauge('sluice_srt_receive_rate_bits_per_second', 'Receiving rate over the last second, SRT headers included (libsrt mbpsRecvRate)', CL, perConn((c, s) => rate(c, s, 'mbps_recv_rate', c.stats.mbpsRecvRate)));
  gauge('sluice_srt_bandwidth_bits_per_second', 'Estimated link bandwidth (libsrt mbpsBandwidth)', CL, perConn((c) => c.stats.mbpsBandwidth * 1e6));
  gauge('sluice_srt_receive_buffer_seconds', 'Span of the receive buffer, i.e. data waiting for its play time (libsrt msRcvBuf)', CL, perConn((c) => c.stats.msRcvBuf / 1000));
  gauge('sluice_srt_receive_buffer_bytes', 'Bytes in the receive buffer (libsrt byteRcvBuf)', CL, perConn((c) => c.stats.byteRcvBuf));
  gauge('sluice_srt_send_buffer_seconds', 'Span of the unacknowledged data in the send buffer (libsrt msSndBuf)', CL, perConn((c) => c.stats.msSndBuf / 1000));
  gauge('sluice_srt_connected_seconds', 'Time since the connection was established (libsrt msTimeStamp)', CL, perConn((c) => c.stats.msTimeStamp / 1000));
  counter('sluice_srt_packets_sent_total', 'Data packets sent, retransmissions included (libsrt pktSentTotal)', CL, perConn((c) => c.stats.pktSentTotal));
  counter('sluice_srt_packets_received_total', 'Data packets received (libsrt pktRecvTotal)', CL, perConn((c) => c.stats.pktRecvTotal));
  counter('sluice_srt_packets_retransmitted_total', 'Data packets retransmitted (libsrt pktRetransTotal)', CL, perConn((c) => c.stats.pktRetransTotal));
  counter('sluice_srt_packets_lost_total', 'Data packets lost: reported by the peer (send, libsrt pktSndLossTotal) or detected here (receive, pktRcvLossTotal)', DL,
    perConnDir((c) => c.stats.pktSndLossTotal, (c) => c.stats.pktRcvLossTotal));
  counter('sluice_srt_packets_dropped_total', 'Data packets dropped too late to be played (libsrt pktSndDropTotal / pktRcvDropTotal)', DL,
    perConnDir((c) => c.stats.pktSndDropTotal, (c) => c.stats.pktRcvDropTotal));
  counter('sluice_srt_sent_bytes_total', 'Bytes sent, 44 bytes of SRT+UDP+IP headers per packet included (libsrt byteSentTotal)', CL, perConn((c) => c.stats.byteSentTotal));
  counter('sluice_srt_received_bytes_total', 'Bytes received, headers included (libsrt byteRecvTotal)', CL, perConn((c) => c.stats.byteRecvTotal));

  // ---- scale-out: this node
  if (node) {
    const nodeGauge = (name: string, help: string, f: () => number): void => {
      new Gauge({ name, help, registers: [registry], collect() { this.set(f()); } });
    };
    nodeGauge('sluice_node_draining', 'Whether this node drains (1): new players are refused with 1402', () => (node.draining ? 1 : 0));
    nodeGauge('sluice_node_edges', 'Streams this node pulls from the nodes that have their publishers', () => node.edgeCount);
    nodeGauge('sluice_node_receive_bits_per_second', 'Stream payload received over the last heartbeat (publishers and edges)', () => node.load.mbps_in * 1e6);
    nodeGauge('sluice_node_send_bits_per_second', 'Stream payload sent to players over the last heartbeat (SRT, other nodes\' edges, local readers)', () => node.load.mbps_out * 1e6);
  }

  // ---- statistics history
  const historyGauge = (name: string, help: string, f: (i: ReturnType<AppContext['history']['info']>) => number): void => {
    new Gauge({ name, help, registers: [registry], collect() { this.set(f(ctx.history.info())); } });
  };
  historyGauge('sluice_history_series', 'Series kept by the statistics history', (i) => i.series);
  historyGauge('sluice_history_bytes', 'Memory held by the statistics history\'s sample rings', (i) => i.bytes);

  const httpDuration = new Histogram<'method' | 'route' | 'status'>({
    name: 'sluice_http_request_duration_seconds',
    help: 'REST API requests by method, route pattern and status code',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  return { registry, httpDuration };
}
