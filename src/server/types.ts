// The Server's public types: its configuration, its connections, its events and statistics views
// (re-exported by server.ts and src/index.ts; shared by access.ts, backends.ts and registry.ts).
import type { SrtOptions } from '../protocol/options.js';
import type { SrtStats } from '../protocol/stats.js';
import type { SrtSocket } from '../transport/socket.js';
import type { LocalEndpoint } from './local.js';

export interface StreamCredentials {
  /** Passphrase a publisher of this stream must use. */
  publishPassphrase?: string;
  /** Passphrase a player of this stream must use. */
  readPassphrase?: string;
}

export interface UserEntry {
  /** SRT passphrase selected by `u=` (or MediaMTX `:user:pass` password). */
  passphrase?: string;
  password?: string;
  publish?: boolean;
  read?: boolean;
}

export interface AuthHookConfig {
  url: string;
  timeoutMs?: number;
  /** What to do when the hook fails or times out (default deny). */
  onFailure?: 'allow' | 'deny';
}

export interface ServerConfig {
  /** Server name code (Callaba `publisher/SERVER/NAME`). */
  name: string;
  host?: string;
  port: number;
  /** Stream names must start with this prefix (gosrt `-app`); '' = any. */
  app?: string;
  /** Stream used by encoders that send no stream id (they publish to it). */
  defaultStream?: string;
  accessMode?: 'accept-all' | 'whitelist';
  whitelist?: string[];
  /** Server-wide passphrase (when no per-stream or per-user one applies). */
  passphrase?: string;
  streams?: Record<string, StreamCredentials>;
  users?: Record<string, UserEntry>;
  /** gosrt-style token: callers must send `?token=` (or `token=` key) equal to it. */
  token?: string;
  authHook?: AuthHookConfig;
  maxConnections?: number;
  maxPerStream?: number;
  maxPerPeer?: number;
  /** How long a stream waits for its publisher to come back, ms (default 5000). */
  publisherGraceMs?: number;
  /** Per-player queue bound in messages; a player beyond it is dropped (default 4096). */
  playerQueue?: number;
  /** Start new players at the next MPEG-TS random-access point (when the GOP cache cannot serve them). */
  startAtKeyframe?: boolean;
  /**
   * Accept players of a stream that has no publisher (yet) and hold them — keepalives only — until
   * one arrives, instead of rejecting them with 1404 NOTFOUND (default false; `sluice serve`'s
   * default server turns it on). Access control and limits apply as to any player. With it on, SRT
   * players also stay (waiting again) when their stream ends after the publisher's grace period.
   */
  waitForPublisher?: boolean;
  /** How long a waiting SRT player is held, ms; then it is closed (SHUTDOWN). 0 = no limit (default). */
  waitForPublisherTimeoutMs?: number;
  /**
   * Give a new player of an MPEG-TS stream with H.264/HEVC video the current GOP at once (from the
   * last keyframe, PAT/PMT and parameter sets first), then the live stream (default true).
   */
  gopCache?: boolean;
  /** Bound of one stream's GOP cache in bytes (default 4 MiB); a longer GOP is not cached. */
  gopCacheMaxBytes?: number;
  /** SRT options for every connection (latency, …). */
  srt?: Partial<SrtOptions>;
  /**
   * Flussonic-style multi-author publishing: each port of the range is one author's publish port;
   * the configuration backend maps port → stream (`GET {base}srt_port_resolve/{port}?mode=publish&host=…`)
   * and stream → passphrase (`GET {base}streams`, `srt_publish.passphrase`).
   */
  publishPorts?: PublishPortRange;
}

export interface PublishPortRange {
  first: number;
  last: number;
  /** Base URL of the configuration backend, e.g. http://127.0.0.1:12345/config_backend/ */
  configBackend: string;
  timeoutMs?: number;
  /** How long the fetched /streams answer is reused, ms (default 10000). */
  refreshMs?: number;
}

/** Most ports a publish range may bind (each is a UDP socket). */
export const MAX_PUBLISH_PORTS = 4096;

export type ConnectionRole = 'publisher' | 'backup' | 'player';

export interface ServerConnection {
  id: number;
  role: ConnectionRole;
  stream: string;
  streamId: string;
  peer: string;
  user?: string;
  /** The SRT socket, or a LocalEndpoint for routes, recorders and previews (peer = its label). */
  socket: SrtSocket | LocalEndpoint;
  /** True for local endpoints (not an SRT peer). */
  local?: boolean;
  connectedAt: number;
  /** Player waiting for a random-access point. */
  waitingForKeyframe: boolean;
  /** Player waiting for the GOP cache to hold a GOP (it gets it, then the live stream). */
  waitingForGop?: boolean;
  /** Where a player released from the GOP wait starts: at a keyframe or at once. */
  wantsKeyframe?: boolean;
}

export interface RejectInfo {
  streamId: string;
  peer: string;
  reason: number;
  message: string;
}

export interface ServerEvents {
  accepted: [conn: ServerConnection];
  rejected: [info: RejectInfo];
  closed: [conn: ServerConnection, reason: string];
  published: [stream: string, conn: ServerConnection];
  unpublished: [stream: string];
  playerDropped: [conn: ServerConnection, reason: string];
  error: [err: Error];
}

export interface ConnectionStatsView {
  id: number;
  role: ConnectionRole;
  stream: string;
  peer: string;
  streamId: string;
  connectedAt: number;
  stats: SrtStats;
}

export interface StreamStatsView {
  name: string;
  publisher: ConnectionStatsView | null;
  players: ConnectionStatsView[];
  messages: number;
  bytes: number;
}
