// Network diagnostics of running SRT servers (Callaba's /utils/getStat "network diagnostic
// signals"): per connection the receiver-buffer pressure, drops, loss and slow readers, computed
// from the libsrt statistics that Server.stats() reports, plus human-readable warnings.
//
// `diagnose()` is a pure function of snapshots; `snapshotServer()` takes one from a running Server.
import type { Server } from '../server/server.js';

/** One connection as Server.stats() shows it, plus the Node write queue of the socket. */
export interface ConnectionSnapshot {
  id: number;
  role: string;
  stream: string;
  peer: string;
  streamId: string;
  connectedAt: number;
  /** libsrt SRT_TRACEBSTATS names (msRTT, msRcvBuf, pktRcvDropTotal, …). */
  stats: Readonly<Record<string, number | undefined>>;
  /** Bytes waiting in the socket's writable queue (not yet accepted by the SRT send buffer). */
  queuedBytes?: number;
}

export interface StreamSnapshot {
  name: string;
  publisher: ConnectionSnapshot | null;
  players: ConnectionSnapshot[];
  messages: number;
  bytes: number;
}

export interface ServerSnapshot {
  id: number;
  name: string;
  port: number;
  status: 'running' | 'stopped' | 'failed';
  error?: string | null;
  /** Configured SRT latency, ms. */
  latencyMs: number;
  /** Configured receiver buffer (server_rcvbuf), bytes. */
  rcvbufBytes: number;
  /** Per-player queue limit in bytes (playerQueue messages × 1456); beyond it a player is dropped. */
  playerQueueBytes: number;
  playersDropped?: number;
  streams: StreamSnapshot[];
}

export interface Thresholds {
  /** Receiver buffer fill (bytes used / capacity) that raises a warning, and a critical signal. */
  rcvbufWarn: number;
  rcvbufCritical: number;
  /** Buffered time / latency beyond which the application is not reading (TSBPD holds ≈ latency). */
  rcvbufLatencyRatio: number;
  /** Loss in percent that raises a warning, and a critical signal. */
  lossWarnPercent: number;
  lossCriticalPercent: number;
  /** Player queue fill that marks a slow reader. */
  queueWarn: number;
  /** A flow window this small (packets) means the peer's receive buffer is (nearly) full. */
  closedWindow: number;
}

export const DEFAULT_THRESHOLDS: Thresholds = {
  rcvbufWarn: 0.8,
  rcvbufCritical: 0.95,
  rcvbufLatencyRatio: 1.5,
  lossWarnPercent: 1,
  lossCriticalPercent: 10,
  queueWarn: 0.5,
  closedWindow: 16,
};

export type SignalLevel = 'info' | 'warning' | 'critical';
export type SignalKind = 'server_failed' | 'rcvbuf_full' | 'rcvbuf_backlog' | 'rcv_drop' | 'snd_drop' | 'loss' | 'slow_reader' | 'sndbuf_backlog' | 'players_dropped';

export interface Signal {
  level: SignalLevel;
  kind: SignalKind;
  server_id: number;
  server_name: string;
  connection_id?: number;
  stream?: string;
  peer?: string;
  message: string;
}

export interface ConnectionDiagnostics {
  id: number;
  role: string;
  stream: string;
  peer: string;
  stream_id: string;
  connected_at: string;
  rtt_ms: number;
  send_rate_mbps: number;
  recv_rate_mbps: number;
  /** The server receiving from this peer (meaningful for publishers). */
  receiver: {
    buffer_ms: number;
    latency_ms: number;
    /** buffer_ms / latency_ms: ≈ 1 is normal under TSBPD; well above 1 = the application is not reading. */
    buffer_latency_ratio: number;
    buffer_bytes: number;
    buffer_capacity_bytes: number;
    buffer_fill_percent: number;
    dropped_packets: number;
    lost_packets: number;
    loss_percent: number;
  };
  /** The server sending to this peer (meaningful for players). */
  sender: {
    buffer_ms: number;
    buffer_packets: number;
    buffer_bytes: number;
    flow_window: number;
    in_flight: number;
    dropped_packets: number;
    lost_packets: number;
    retransmitted: number;
    loss_percent: number;
  };
  /** Players only: the socket's write queue against the server's playerQueue limit. */
  queue: { bytes: number; limit_bytes: number; fill_percent: number } | null;
  slow_reader: boolean;
}

export interface ServerDiagnostics {
  id: number;
  name: string;
  port: number;
  status: 'running' | 'stopped' | 'failed';
  error: string | null;
  latency_ms: number;
  rcvbuf_bytes: number;
  players_dropped: number;
  streams: { name: string; messages: number; bytes: number; connections: ConnectionDiagnostics[] }[];
}

export interface Diagnostics {
  generated_at: string;
  servers: ServerDiagnostics[];
  signals: Signal[];
}

const num = (v: number | undefined): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
const round = (v: number, digits = 2): number => {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
};
const pct = (part: number, whole: number): number => (whole > 0 ? round((100 * part) / whole) : 0);

/** Diagnostics of one connection, and the signals it raises. */
export function diagnoseConnection(srv: ServerSnapshot, c: ConnectionSnapshot, t: Thresholds = DEFAULT_THRESHOLDS): { diag: ConnectionDiagnostics; signals: Signal[] } {
  const s = c.stats;
  const rtt = num(s['msRTT']);
  const rcvLatency = num(s['msRcvTsbPdDelay']) || srv.latencyMs;
  const sndLatency = num(s['msSndTsbPdDelay']) || srv.latencyMs;
  const bufBytes = num(s['byteRcvBuf']);
  const avail = s['byteAvailRcvBuf'];
  const capacity = typeof avail === 'number' && Number.isFinite(avail) ? bufBytes + avail : srv.rcvbufBytes;
  const bufMs = num(s['msRcvBuf']);
  const rcvLost = num(s['pktRcvLossTotal']);
  const rcvUnique = num(s['pktRecvUniqueTotal']);
  const sndLost = num(s['pktSndLossTotal']);
  const sentUnique = num(s['pktSentUniqueTotal']);
  const isPlayer = c.role === 'player';
  const queued = num(c.queuedBytes);
  const queue = isPlayer ? { bytes: queued, limit_bytes: srv.playerQueueBytes, fill_percent: pct(queued, srv.playerQueueBytes) } : null;
  const diag: ConnectionDiagnostics = {
    id: c.id,
    role: c.role,
    stream: c.stream,
    peer: c.peer,
    stream_id: c.streamId,
    connected_at: new Date(c.connectedAt).toISOString(),
    rtt_ms: round(rtt),
    send_rate_mbps: round(num(s['mbpsSendRate']), 3),
    recv_rate_mbps: round(num(s['mbpsRecvRate']), 3),
    receiver: {
      buffer_ms: bufMs,
      latency_ms: rcvLatency,
      buffer_latency_ratio: rcvLatency > 0 ? round(bufMs / rcvLatency) : 0,
      buffer_bytes: bufBytes,
      buffer_capacity_bytes: capacity,
      buffer_fill_percent: pct(bufBytes, capacity),
      dropped_packets: num(s['pktRcvDropTotal']),
      lost_packets: rcvLost,
      loss_percent: pct(rcvLost, rcvUnique + rcvLost),
    },
    sender: {
      buffer_ms: num(s['msSndBuf']),
      buffer_packets: num(s['pktSndBuf']),
      buffer_bytes: num(s['byteSndBuf']),
      flow_window: num(s['pktFlowWindow']),
      in_flight: num(s['pktFlightSize']),
      dropped_packets: num(s['pktSndDropTotal']),
      lost_packets: sndLost,
      retransmitted: num(s['pktRetransTotal']),
      loss_percent: pct(sndLost, sentUnique),
    },
    queue,
    slow_reader: false,
  };

  const signals: Signal[] = [];
  const where = `on server "${srv.name}" connection ${c.id} (${c.role} ${c.peer}, stream "${c.stream}")`;
  const add = (level: SignalLevel, kind: SignalKind, message: string): void => {
    signals.push({ level, kind, server_id: srv.id, server_name: srv.name, connection_id: c.id, stream: c.stream, peer: c.peer, message });
  };
  const recommendedLatency = Math.max(Math.ceil(4 * rtt), 120);

  // Receiver buffer (the server receiving: publishers)
  const fill = capacity > 0 ? bufBytes / capacity : 0;
  if (fill >= t.rcvbufWarn) {
    add(fill >= t.rcvbufCritical ? 'critical' : 'warning', 'rcvbuf_full',
      `receiver buffer ${Math.round(fill * 100)}% full ${where}: the application is not reading fast enough (disk, CPU or decoder too slow), or server_rcvbuf (${srv.rcvbufBytes} bytes) is too small for latency × bitrate`);
  } else if (rcvLatency > 0 && bufMs > t.rcvbufLatencyRatio * rcvLatency) {
    add('warning', 'rcvbuf_backlog',
      `receiver buffer holds ${bufMs} ms of data with a latency of ${rcvLatency} ms ${where}: the application is not reading and releasing the buffer fast enough`);
  }
  if (diag.receiver.dropped_packets > 0) {
    add('warning', 'rcv_drop',
      `${diag.receiver.dropped_packets} packets dropped by the receiver ${where}: they arrived or were recovered too late for the latency of ${rcvLatency} ms; consider server_latency ≥ ${recommendedLatency} ms (4 × RTT ${round(rtt)} ms, at least 120)`);
  }
  const rcvLoss = diag.receiver.loss_percent;
  if (rcvLoss >= t.lossWarnPercent) {
    add(rcvLoss >= t.lossCriticalPercent ? 'critical' : 'warning', 'loss',
      `${rcvLoss}% packet loss from the peer ${where}: check the network path and server_maxbw; retransmission needs latency ≥ ${recommendedLatency} ms`);
  }

  // Sender side (the server sending: players)
  if (isPlayer) {
    const windowLimited = diag.sender.buffer_packets > 0 && (diag.sender.flow_window <= t.closedWindow || diag.sender.in_flight >= diag.sender.flow_window);
    const backlog = diag.sender.buffer_ms > Math.max(sndLatency, 2 * rtt + 50);
    const queueFull = queue !== null && queue.limit_bytes > 0 && queue.bytes >= t.queueWarn * queue.limit_bytes;
    if (queueFull) {
      diag.slow_reader = true;
      add(queue.bytes >= 0.9 * queue.limit_bytes ? 'critical' : 'warning', 'slow_reader',
        `slow reader ${where}: its write queue is ${queue.fill_percent}% of the playerQueue limit (${queue.bytes} of ${queue.limit_bytes} bytes); the player is dropped at 100%`);
    } else if (backlog && windowLimited) {
      diag.slow_reader = true;
      add('warning', 'slow_reader',
        `slow reader ${where}: the player's receive buffer is full (flow window ${diag.sender.flow_window} packets) and ${diag.sender.buffer_ms} ms of data wait in the send buffer: the player is not reading fast enough`);
    } else if (backlog) {
      add('warning', 'sndbuf_backlog',
        `${diag.sender.buffer_ms} ms of data wait for acknowledgement ${where} (latency ${sndLatency} ms): the path to the player is slower than the stream; check its bandwidth or server_maxbw`);
    }
    if (diag.sender.dropped_packets > 0) {
      add('warning', 'snd_drop',
        `${diag.sender.dropped_packets} packets dropped by the sender ${where}: not acknowledged in time (too late to play)${diag.slow_reader ? '; the player is not reading fast enough' : '; the path to the player is too slow or lossy'}`);
    }
    const sndLoss = diag.sender.loss_percent;
    if (sndLoss >= t.lossWarnPercent) {
      add(sndLoss >= t.lossCriticalPercent ? 'critical' : 'warning', 'loss',
        `${sndLoss}% of the packets sent were reported lost by the player ${where} (${diag.sender.retransmitted} retransmitted)`);
    }
  }
  return { diag, signals };
}

/** Diagnostics of every server: per-connection figures and the signals, most severe first. */
export function diagnose(servers: readonly ServerSnapshot[], now: Date = new Date(), t: Thresholds = DEFAULT_THRESHOLDS): Diagnostics {
  const signals: Signal[] = [];
  const out: ServerDiagnostics[] = [];
  for (const srv of servers) {
    if (srv.status === 'failed') {
      signals.push({ level: 'critical', kind: 'server_failed', server_id: srv.id, server_name: srv.name, message: `server "${srv.name}" (port ${srv.port}) is not running: ${srv.error ?? 'failed'}` });
    }
    if ((srv.playersDropped ?? 0) > 0) {
      signals.push({ level: 'info', kind: 'players_dropped', server_id: srv.id, server_name: srv.name,
        message: `server "${srv.name}" has dropped ${srv.playersDropped} slow players since it started (their queue went over the playerQueue limit)` });
    }
    const streams = srv.streams.map((st) => {
      const conns: ConnectionDiagnostics[] = [];
      for (const c of [...(st.publisher ? [st.publisher] : []), ...st.players]) {
        const r = diagnoseConnection(srv, c, t);
        conns.push(r.diag);
        signals.push(...r.signals);
      }
      return { name: st.name, messages: st.messages, bytes: st.bytes, connections: conns };
    });
    out.push({
      id: srv.id, name: srv.name, port: srv.port, status: srv.status, error: srv.error ?? null,
      latency_ms: srv.latencyMs, rcvbuf_bytes: srv.rcvbufBytes, players_dropped: srv.playersDropped ?? 0, streams,
    });
  }
  const rank: Record<SignalLevel, number> = { critical: 0, warning: 1, info: 2 };
  signals.sort((a, b) => rank[a.level] - rank[b.level]);
  return { generated_at: now.toISOString(), servers: out, signals };
}

/** Bytes a player's queue may hold before the server drops it (Server.fanOut's limit). */
export const PLAYER_QUEUE_MESSAGE_BYTES = 1456;

/** A snapshot of a server for diagnose(): its statistics and, for each connection, its write queue. */
export function snapshotServer(meta: { id: number; name: string; port: number; status: 'running' | 'stopped' | 'failed'; error?: string | null; latencyMs: number; rcvbufBytes: number }, server: Server | undefined): ServerSnapshot {
  if (!server) return { ...meta, playerQueueBytes: 0, streams: [] };
  const queued = new Map<number, number>();
  for (const c of server.connections()) queued.set(c.id, c.socket.writableLength);
  const conn = (v: { id: number; role: string; stream: string; peer: string; streamId: string; connectedAt: number; stats: object }): ConnectionSnapshot => ({
    id: v.id, role: v.role, stream: v.stream, peer: v.peer, streamId: v.streamId, connectedAt: v.connectedAt,
    stats: v.stats as Record<string, number>, queuedBytes: queued.get(v.id) ?? 0,
  });
  return {
    ...meta,
    playerQueueBytes: (server.config.playerQueue ?? 4096) * PLAYER_QUEUE_MESSAGE_BYTES,
    playersDropped: server.counters.playersDropped,
    streams: server.stats().map((st) => ({
      name: st.name, messages: st.messages, bytes: st.bytes,
      publisher: st.publisher ? conn(st.publisher) : null,
      players: st.players.map(conn),
    })),
  };
}
