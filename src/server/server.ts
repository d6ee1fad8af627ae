// The Sluice SRT server: many publishers and players on one UDP port, routed by stream id,
// transparent fan-out (no remuxing), access control with SRT's real rejection codes.
import { EventEmitter } from 'node:events';
import type { ConnectRequest, AcceptDecision } from '../protocol/listener.js';
import type { SrtOptions } from '../protocol/options.js';
import { SRT_REJX } from '../protocol/reject.js';
import type { SrtStats } from '../protocol/stats.js';
import { listen, type SrtServer } from '../transport/api.js';
import { SrtRejectedError } from '../transport/errors.js';
import type { SrtSocket } from '../transport/socket.js';
import { LocalEndpoint } from './local.js';
import { parsePyLiteral } from './pydict.js';
import { parseStreamId, serverNameCode, type ParsedStreamId, type StreamMode } from './streamid.js';
import { GopCache, GOP_CACHE_MAX_BYTES } from './gopcache.js';
import { PsiCache } from './tsmux.js';

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

interface StreamState {
  name: string;
  publisher: ServerConnection | null;
  /** A standby publisher (stream id with `backup=1`): takes over when the main one fails. */
  backup: ServerConnection | null;
  players: Set<ServerConnection>;
  graceTimer: NodeJS.Timeout | null;
  createdAt: number;
  messages: number;
  bytes: number;
  /** PAT/PMT of the stream: which PIDs are video, and the tables a late-joining player needs first. */
  psi: PsiCache;
  /** The current GOP for late players (null when the server's gopCache is off). */
  gop: GopCache | null;
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

/**
 * How a Server is run inside a ClusterServer worker (ADR 14); not user configuration.
 * `route` is asked after access control and before the local routing decision of every
 * publisher, backup and player (cluster-wide publisher claims, relays of remote publishers);
 * it may refuse with an SRT rejection code.
 */
export interface ServerRuntime {
  reusePort?: boolean;
  route?: (name: string, mode: StreamMode, backup: boolean) => Promise<{ reject: number; message: string } | undefined>;
  /** A caller `route` let through did not become a connection (refused here, or its handshake failed). */
  release?: (name: string, mode: StreamMode, backup: boolean) => void;
}

export class Server extends EventEmitter<ServerEvents> {
  readonly config: ServerConfig;
  private srt: SrtServer | null = null;
  private readonly portListeners: SrtServer[] = [];
  private backendStreams: { at: number; passphrases: Map<string, string | undefined> } | null = null;
  private readonly streams = new Map<string, StreamState>();
  private readonly conns = new Map<number, ServerConnection>();
  private readonly whitelist: Set<string>;
  private readonly pending = new Map<ConnectRequest, { name: string; mode: StreamMode; user?: string; peer: string; backup?: boolean }>();
  private nextId = 1;
  /** Timeouts of SRT players waiting for their stream's publisher (waitForPublisherTimeoutMs). */
  private readonly waitTimers = new Map<ServerConnection, NodeJS.Timeout>();
  readonly counters = { accepted: 0, rejected: 0, playersDropped: 0 };

  constructor(config: ServerConfig, private readonly runtime: ServerRuntime = {}) {
    super();
    this.config = { accessMode: 'accept-all', publisherGraceMs: 5000, playerQueue: 4096, ...config };
    this.whitelist = new Set((config.whitelist ?? []).map(normalise));
  }

  async start(): Promise<void> {
    const srv = await listen({
      ...(this.config.srt ?? {}),
      host: this.config.host,
      port: this.config.port,
      accept: (req) => this.decide(req),
      reusePort: this.runtime.reusePort,
    });
    this.srt = srv;
    this.wire(srv);
    const r = this.config.publishPorts;
    if (r) {
      if (!Number.isInteger(r.first) || !Number.isInteger(r.last) || r.first < 1 || r.last > 65535 || r.last < r.first) {
        throw new RangeError(`publishPorts: ${r.first}..${r.last} is not a port range within 1..65535`);
      }
      if (r.last - r.first + 1 > MAX_PUBLISH_PORTS) throw new RangeError(`publishPorts: at most ${MAX_PUBLISH_PORTS} ports (got ${r.last - r.first + 1})`);
      try {
        for (let p = r.first; p <= r.last; p++) {
          const port = p;
          const l = await listen({ ...(this.config.srt ?? {}), host: this.config.host, port, accept: (req) => this.decidePortPublish(port, req) });
          this.portListeners.push(l);
          this.wire(l);
        }
      } catch (e) {
        await this.close();
        throw e;
      }
    }
  }

  private wire(srv: SrtServer): void {
    srv.on('connection', (s, req) => this.onConnection(s, req));
    srv.on('rejected', (req, reason) => {
      // rejected by the transport after our decision (e.g. wrong passphrase): release it
      // (our own rejections were counted and reported when we decided)
      const p = this.pending.get(req);
      if (!p) return;
      this.pending.delete(req);
      this.runtime.release?.(p.name, p.mode, p.backup === true);
      this.counters.rejected++;
      this.emit('rejected', { streamId: req.streamId, peer: p.peer, reason, message: 'handshake failed after the access check (passphrase)' });
    });
  }

  // ------------------------------------------------------------------ Flussonic publish ports

  private async decidePortPublish(port: number, req: ConnectRequest): Promise<AcceptDecision> {
    const peer = `${req.peerAddress}:${req.peerPort}`;
    try {
      const r = this.config.publishPorts!;
      const base = r.configBackend.endsWith('/') ? r.configBackend : `${r.configBackend}/`;
      const url = `${base}srt_port_resolve/${port}?mode=publish&host=${encodeURIComponent(req.peerAddress)}`;
      let res: Response;
      try {
        res = await fetch(url, { signal: AbortSignal.timeout(r.timeoutMs ?? 2000) });
      } catch (e) {
        throw new SrtRejectedError(SRT_REJX.GW, `config backend unreachable: ${(e as Error).message}`);
      }
      if (!res.ok) throw new SrtRejectedError(SRT_REJX.NOTFOUND, `config backend has no stream for port ${port} (HTTP ${res.status})`);
      const name = normalise((await res.text()).trim());
      if (name === '') throw new SrtRejectedError(SRT_REJX.NOTFOUND, `config backend has no stream for port ${port}`);
      const passphrase = await this.backendPassphrase(name);
      if (this.config.accessMode === 'whitelist' && !this.whitelist.has(name)) throw new SrtRejectedError(SRT_REJX.FORBIDDEN, `stream "${name}" is not whitelisted`);
      this.checkLimits(req, name, 'publish');
      const st = this.streams.get(name);
      if ((st && st.publisher) || [...this.pending.values()].some((p) => p.name === name && p.mode === 'publish')) {
        throw new SrtRejectedError(SRT_REJX.CONFLICT, `stream "${name}" is already published`);
      }
      this.pending.set(req, { name, mode: 'publish', peer });
      return { options: passphrase !== undefined ? { passphrase } : {} };
    } catch (e) {
      const r = e instanceof SrtRejectedError ? e : new SrtRejectedError(SRT_REJX.ISE, String(e as Error));
      this.counters.rejected++;
      this.emit('rejected', { streamId: `port ${port}`, peer, reason: r.reason, message: r.message });
      return { reject: r.reason };
    }
  }

  /** srt_publish.passphrase of a stream from the backend's /streams answer (cached). */
  private async backendPassphrase(name: string): Promise<string | undefined> {
    const r = this.config.publishPorts!;
    const fresh = this.backendStreams && Date.now() - this.backendStreams.at < (r.refreshMs ?? 10_000);
    if (!fresh || !this.backendStreams!.passphrases.has(name)) {
      const base = r.configBackend.endsWith('/') ? r.configBackend : `${r.configBackend}/`;
      let text: string;
      try {
        const res = await fetch(`${base}streams`, { signal: AbortSignal.timeout(r.timeoutMs ?? 2000) });
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        text = await res.text();
      } catch (e) {
        throw new SrtRejectedError(SRT_REJX.GW, `config backend /streams failed: ${(e as Error).message}`);
      }
      let doc: { streams?: { name?: string; srt_publish?: { passphrase?: string } }[] } | null;
      try {
        doc = parsePyLiteral(text) as typeof doc; // JSON, or Python's str(dict) as in Flussonic's example backend
      } catch (e) {
        throw new SrtRejectedError(SRT_REJX.GW, `config backend /streams: ${(e as Error).message}`);
      }
      if (!doc || typeof doc !== 'object' || !Array.isArray(doc.streams)) throw new SrtRejectedError(SRT_REJX.GW, 'config backend /streams: no "streams" list');
      const m = new Map<string, string | undefined>();
      for (const x of doc.streams) {
        if (!x || typeof x.name !== 'string') continue;
        const p = x.srt_publish?.passphrase;
        m.set(normalise(x.name), typeof p === 'string' && p !== '' ? p : undefined);
      }
      this.backendStreams = { at: Date.now(), passphrases: m };
    }
    if (!this.backendStreams!.passphrases.has(name)) throw new SrtRejectedError(SRT_REJX.NOTFOUND, `stream "${name}" is not in the config backend's /streams`);
    return this.backendStreams!.passphrases.get(name);
  }

  address(): { address: string; port: number } {
    return this.srt!.address();
  }

  // ------------------------------------------------------------------ access control

  private async decide(req: ConnectRequest): Promise<AcceptDecision> {
    const peer = `${req.peerAddress}:${req.peerPort}`;
    try {
      const d = await this.check(req);
      return d;
    } catch (e) {
      const r = e instanceof SrtRejectedError ? e : new SrtRejectedError(SRT_REJX.ISE, String(e as Error)); // StreamIdError is one too
      this.counters.rejected++;
      this.emit('rejected', { streamId: req.streamId, peer, reason: r.reason, message: r.message });
      return { reject: r.reason };
    }
  }

  private async check(req: ConnectRequest): Promise<AcceptDecision> {
    const c = this.config;
    const sid = parseStreamId(req.streamId, { defaultStream: c.defaultStream });
    if (sid.mode === 'bidirectional') throw new SrtRejectedError(SRT_REJX.BAD_MODE, 'bidirectional streams are not served');
    if (sid.serverCode !== undefined && sid.serverCode !== c.name && sid.serverCode !== serverNameCode(c.name)) {
      throw new SrtRejectedError(SRT_REJX.NOTFOUND, `no server "${sid.serverCode}" here (this is "${serverNameCode(c.name)}")`);
    }
    let name = sid.name;
    if (c.app && c.app !== '') {
      const app = normalise(c.app);
      if (name !== app && !name.startsWith(`${app}/`)) throw new SrtRejectedError(SRT_REJX.NOTFOUND, `stream "${name}" is outside the application "${app}"`);
    }
    if (c.token !== undefined && c.token !== '' && sid.token !== c.token) {
      throw new SrtRejectedError(SRT_REJX.UNAUTHORIZED, sid.token ? 'wrong token' : 'token required');
    }
    let passphrase = this.passphraseFor(sid, name);
    // users (u= / :user:pass) are checked when the server has a user list; otherwise the name is
    // only information for the auth hook and the logs
    if (c.users && (sid.user !== undefined || sid.password !== undefined)) {
      const u = sid.user !== undefined ? c.users?.[sid.user] : undefined;
      if (!u) throw new SrtRejectedError(SRT_REJX.UNAUTHORIZED, `unknown user "${sid.user ?? ''}"`);
      if (sid.password !== undefined && u.password !== sid.password) throw new SrtRejectedError(SRT_REJX.UNAUTHORIZED, 'wrong password');
      if (sid.mode === 'publish' && u.publish === false) throw new SrtRejectedError(SRT_REJX.FORBIDDEN, `user "${sid.user}" may not publish`);
      if (sid.mode === 'request' && u.read === false) throw new SrtRejectedError(SRT_REJX.FORBIDDEN, `user "${sid.user}" may not play`);
      if (u.passphrase) passphrase = u.passphrase;
    }
    if (c.authHook) {
      const r = await this.callAuthHook(req, sid);
      if (!r.allow) throw new SrtRejectedError(r.reason ?? SRT_REJX.FORBIDDEN, 'denied by the auth hook');
      if (r.passphrase !== undefined) passphrase = r.passphrase;
      if (r.name) name = normalise(r.name);
    }
    if (c.accessMode === 'whitelist' && !this.whitelist.has(name)) throw new SrtRejectedError(SRT_REJX.FORBIDDEN, `stream "${name}" is not whitelisted`);
    const backup = sid.mode === 'publish' && ['1', 'true', 'yes'].includes(sid.query['backup'] ?? '');
    if (this.runtime.route) {
      const r = await this.runtime.route(name, sid.mode, backup);
      if (r) throw new SrtRejectedError(r.reject, r.message);
      try {
        return this.route(req, name, sid, backup, passphrase);
      } catch (e) {
        this.runtime.release?.(name, sid.mode, backup);
        throw e;
      }
    }
    return this.route(req, name, sid, backup, passphrase);
  }

  private route(req: ConnectRequest, name: string, sid: ParsedStreamId, backup: boolean, passphrase: string | undefined): AcceptDecision {
    const c = this.config;
    // everything below is synchronous: the decision and the reservation happen together
    this.checkLimits(req, name, sid.mode);
    const st = this.streams.get(name);
    const reservedPublish = [...this.pending.values()].some((p) => p.name === name && p.mode === 'publish' && !p.backup);
    if (backup) {
      const reservedBackup = [...this.pending.values()].some((p) => p.name === name && p.backup);
      if ((st && st.backup) || reservedBackup) throw new SrtRejectedError(SRT_REJX.CONFLICT, `stream "${name}" already has a backup publisher`);
    } else if (sid.mode === 'publish') {
      if ((st && st.publisher) || reservedPublish) throw new SrtRejectedError(SRT_REJX.CONFLICT, `stream "${name}" is already published`);
    } else if (!st && c.waitForPublisher !== true) {
      throw new SrtRejectedError(SRT_REJX.NOTFOUND, `stream "${name}" is not published`);
    }
    this.pending.set(req, { name, mode: sid.mode, user: sid.user, peer: `${req.peerAddress}:${req.peerPort}`, backup });
    const options: Partial<SrtOptions> = {};
    if (passphrase !== undefined) options.passphrase = passphrase;
    return { options };
  }

  private passphraseFor(sid: ParsedStreamId, name: string): string | undefined {
    const s = this.config.streams?.[name];
    const p = sid.mode === 'publish' ? s?.publishPassphrase : s?.readPassphrase;
    return p ?? this.config.passphrase;
  }

  private checkLimits(req: ConnectRequest, name: string, mode: StreamMode): void {
    const c = this.config;
    const all = this.conns.size + this.pending.size;
    if (c.maxConnections !== undefined && all >= c.maxConnections) throw new SrtRejectedError(SRT_REJX.OVERLOAD, `server full (${c.maxConnections} connections)`);
    if (c.maxPerPeer !== undefined) {
      let n = 0;
      for (const x of this.conns.values()) if (x.peer.startsWith(`${req.peerAddress}:`)) n++;
      for (const p of this.pending.values()) if (p.peer.startsWith(`${req.peerAddress}:`)) n++;
      if (n >= c.maxPerPeer) throw new SrtRejectedError(SRT_REJX.OVERLOAD, `too many connections from ${req.peerAddress} (${c.maxPerPeer})`);
    }
    if (c.maxPerStream !== undefined && mode === 'request') {
      const st = this.streams.get(name);
      const n = (st?.players.size ?? 0) + [...this.pending.values()].filter((p) => p.name === name && p.mode === 'request').length;
      if (n >= c.maxPerStream) throw new SrtRejectedError(SRT_REJX.OVERLOAD, `stream "${name}" has its maximum of ${c.maxPerStream} players`);
    }
  }

  private async callAuthHook(req: ConnectRequest, sid: ParsedStreamId): Promise<{ allow: boolean; reason?: number; passphrase?: string; name?: string }> {
    const h = this.config.authHook!;
    const body = {
      server: this.config.name,
      streamid: req.streamId,
      stream: sid.name,
      mode: sid.mode === 'publish' ? 'publish' : 'play',
      user: sid.user ?? null,
      token: sid.token ?? null,
      form: sid.form,
      peer: { address: req.peerAddress, port: req.peerPort },
      encrypted: req.encrypted,
      latency: req.requestedLatency,
    };
    try {
      const res = await fetch(h.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(h.timeoutMs ?? 2000),
      });
      if (!res.ok) {
        if (res.status === 401 || res.status === 403 || res.status === 404) {
          return { allow: false, reason: res.status === 401 ? SRT_REJX.UNAUTHORIZED : res.status === 404 ? SRT_REJX.NOTFOUND : SRT_REJX.FORBIDDEN };
        }
        throw new Error(`HTTP ${res.status}`);
      }
      const a = (await res.json()) as Record<string, unknown>;
      const allow = a['allow'] === true || a['result'] === 'allow';
      const reason = typeof a['reason'] === 'number' ? a['reason'] : undefined;
      return {
        allow,
        reason,
        passphrase: typeof a['passphrase'] === 'string' ? a['passphrase'] : undefined,
        name: typeof a['stream'] === 'string' ? a['stream'] : typeof a['name'] === 'string' ? a['name'] : undefined,
      };
    } catch (e) {
      if ((h.onFailure ?? 'deny') === 'allow') return { allow: true };
      throw new SrtRejectedError(SRT_REJX.GW, `auth hook failed: ${(e as Error).message}`);
    }
  }

  // ------------------------------------------------------------------ routing

  private onConnection(socket: SrtSocket, req: ConnectRequest): void {
    const p = this.pending.get(req);
    this.pending.delete(req);
    if (!p) {
      socket.close();
      return;
    }
    const conn: ServerConnection = {
      id: this.nextId++,
      role: p.mode === 'publish' ? (p.backup ? 'backup' : 'publisher') : 'player',
      stream: p.name,
      streamId: req.streamId,
      peer: p.peer,
      user: p.user,
      socket,
      connectedAt: Date.now(),
      waitingForKeyframe: false,
    };
    this.conns.set(conn.id, conn);
    this.counters.accepted++;
    socket.on('error', () => undefined); // reported through 'closed'
    socket.once('closed', (reason: string) => this.onClosed(conn, reason));
    socket.on('close', () => this.onClosed(conn, socket.closeReason ?? 'closed'));
    this.emit('accepted', conn);
    if (conn.role === 'publisher') this.attachPublisher(conn);
    else if (conn.role === 'backup') this.attachBackup(conn);
    else this.attachPlayer(conn);
  }

  private streamFor(name: string): StreamState {
    let st = this.streams.get(name);
    if (!st) {
      const psi = new PsiCache();
      const gop = this.config.gopCache === false ? null : new GopCache(psi, this.config.gopCacheMaxBytes ?? GOP_CACHE_MAX_BYTES);
      st = { name, gop, publisher: null, backup: null, players: new Set(), graceTimer: null, createdAt: Date.now(), messages: 0, bytes: 0, psi };
      this.streams.set(name, st);
    }
    return st;
  }

  private attachBackup(conn: ServerConnection): void {
    const st = this.streamFor(conn.stream);
    st.backup = conn;
    // its data is fanned out only while it is the active publisher
    conn.socket.on('data', (msg: Buffer) => { if (st.publisher === conn) this.fanOut(st, msg); });
    if (!st.publisher) this.promoteBackup(st);
  }

  private promoteBackup(st: StreamState): void {
    const b = st.backup;
    if (!b) return;
    if (st.graceTimer) {
      clearTimeout(st.graceTimer);
      st.graceTimer = null;
    }
    st.backup = null;
    st.publisher = b;
    this.stopWaiting(st);
    this.emit('published', st.name, b);
  }

  private attachPublisher(conn: ServerConnection): void {
    const st = this.streamFor(conn.stream);
    if (st.graceTimer) {
      clearTimeout(st.graceTimer);
      st.graceTimer = null;
    }
    st.publisher = conn;
    this.stopWaiting(st);
    const stream = st;
    conn.socket.on('data', (msg: Buffer) => this.fanOut(stream, msg));
    this.emit('published', conn.stream, conn);
  }

  private attachPlayer(conn: ServerConnection): void {
    const st = this.config.waitForPublisher === true ? this.streamFor(conn.stream) : this.streams.get(conn.stream);
    if (!st) {
      conn.socket.close();
      return;
    }
    // players only receive; anything they send is ignored
    conn.socket.on('data', () => undefined);
    this.joinPlayer(st, conn, undefined);
    if (!st.publisher) this.startWaiting(conn);
  }

  // ------------------------------------------------------------------ players waiting for a publisher

  /** Arms the wait timeout of an SRT player whose stream has no publisher (waitForPublisherTimeoutMs). */
  private startWaiting(p: ServerConnection): void {
    const ms = this.config.waitForPublisherTimeoutMs ?? 0;
    if (this.config.waitForPublisher !== true || p.local || ms <= 0 || this.waitTimers.has(p)) return;
    const t = setTimeout(() => {
      this.waitTimers.delete(p);
      const st = this.streams.get(p.stream);
      if (st?.publisher || !this.conns.has(p.id)) return;
      // the reason goes to 'closed' first; the socket's own close event then finds nothing to do
      this.onClosed(p, `no publisher for "${p.stream}" within ${ms / 1000} s`);
      p.socket.close(); // SHUTDOWN
    }, ms);
    t.unref();
    this.waitTimers.set(p, t);
  }

  /** The stream has a publisher again: its waiting players' timeouts stop. */
  private stopWaiting(st: StreamState): void {
    if (this.waitTimers.size === 0) return;
    for (const p of st.players) this.clearWait(p);
  }

  private clearWait(p: ServerConnection): void {
    const t = this.waitTimers.get(p);
    if (t === undefined) return;
    clearTimeout(t);
    this.waitTimers.delete(p);
  }

  /** Bytes a player may have queued before it is dropped as too slow. */
  private get queueLimit(): number {
    return (this.config.playerQueue ?? 4096) * 1456;
  }

  /**
   * Adds a player to its stream. `startAtKeyframe` false: the live stream as it comes (the
   * recorder); otherwise the cached GOP at once when there is one, or a wait for it on an MPEG-TS
   * stream with H.264/HEVC video, else the server's startAtKeyframe (or the caller's) applies.
   */
  private joinPlayer(st: StreamState, conn: ServerConnection, startAtKeyframe: boolean | undefined): void {
    conn.wantsKeyframe = startAtKeyframe ?? this.config.startAtKeyframe === true;
    conn.waitingForKeyframe = conn.wantsKeyframe;
    const gop = startAtKeyframe === false ? null : st.gop;
    if (gop) {
      conn.waitingForKeyframe = false;
      const snap = gop.ready && gop.size <= this.queueLimit * 0.75 ? gop.snapshot() : null;
      if (snap) {
        for (const m of snap) conn.socket.write(m);
      } else if (gop.waitable) {
        // an MPEG-TS stream with H.264/HEVC video but no GOP yet (or one over the bound): the next keyframe
        conn.waitingForGop = true;
      } else {
        // not a stream the cache serves (or nothing published yet: the publisher's start is clean)
        conn.waitingForKeyframe = conn.wantsKeyframe;
      }
    }
    st.players.add(conn);
  }

  private fanOut(st: StreamState, msg: Buffer): void {
    st.messages++;
    st.bytes += msg.length;
    const limit = this.queueLimit;
    st.psi.observe(msg);
    const gop = st.gop;
    gop?.observe(msg);
    let keyframe = -2; // not looked for yet
    for (const p of st.players) {
      let out = msg;
      let header: Buffer | null = null;
      let snap: Buffer[] | null = null;
      if (p.waitingForGop && gop) {
        // the GOP so far (this message included) as soon as the cache holds one
        if (gop.ready && gop.size <= limit * 0.75) snap = gop.snapshot();
        if (snap) {
          p.waitingForGop = false;
        } else if (!gop.waitable) {
          // not a stream the cache serves: as without it
          p.waitingForGop = false;
          p.waitingForKeyframe = p.wantsKeyframe === true;
        } else {
          continue;
        }
      }
      if (p.waitingForKeyframe) {
        // start at a video keyframe (muxers also mark audio frames), with the PAT/PMT in front
        if (keyframe === -2) keyframe = st.psi.keyframeOffset(msg);
        if (keyframe < 0) continue;
        p.waitingForKeyframe = false;
        const h = st.psi.header();
        if (h.length > 0) header = h; // its own message: with the keyframe it could exceed one SRT packet
        out = msg.subarray(keyframe);
      }
      const s = p.socket;
      if (s.destroyed) continue;
      if ((s instanceof LocalEndpoint ? s.queuedBytes() : s.writableLength) > limit) {
        this.dropPlayer(p, `queue over ${this.config.playerQueue} messages`);
        continue;
      }
      if (snap) {
        for (const m of snap) s.write(m);
        continue;
      }
      if (header) s.write(header);
      s.write(out); // the same Buffer for every player: no per-player copy here
    }
  }

  private dropPlayer(p: ServerConnection, reason: string): void {
    this.counters.playersDropped++;
    this.emit('playerDropped', p, reason);
    this.streams.get(p.stream)?.players.delete(p);
    p.socket.close();
  }

  private onClosed(conn: ServerConnection, reason: string): void {
    if (!this.conns.has(conn.id)) return;
    this.conns.delete(conn.id);
    this.emit('closed', conn, reason);
    const st = this.streams.get(conn.stream);
    if (!st) return;
    if (conn.role === 'player') {
      st.players.delete(conn);
      this.clearWait(conn);
      // an entry that only held waiting players goes when the last of them leaves
      if (!st.publisher && !st.backup && !st.graceTimer && st.players.size === 0) this.streams.delete(st.name);
      return;
    }
    if (st.backup === conn) {
      st.backup = null;
      return;
    }
    if (st.publisher !== conn) return;
    st.publisher = null;
    if (st.backup) {
      this.promoteBackup(st); // the backup takes over at once
      return;
    }
    // keep the players for a grace period: a reconnecting publisher continues the stream
    st.graceTimer = setTimeout(() => this.endStream(st), this.config.publisherGraceMs ?? 5000);
  }

  /**
   * Ends a stream whose publisher is gone without waiting for the rest of its grace period (a
   * cluster worker's relayed stream, when the worker with the publisher ended it). False when the
   * stream is unknown or still has a publisher.
   */
  endStreamNow(stream: string): boolean {
    const st = this.streams.get(normalise(stream));
    if (!st || st.publisher) return false;
    if (st.graceTimer) {
      clearTimeout(st.graceTimer);
      st.graceTimer = null;
    }
    this.endStream(st);
    return true;
  }

  private endStream(st: StreamState): void {
    if (this.streams.get(st.name) !== st) return;
    this.streams.delete(st.name);
    // with waitForPublisher, SRT players wait for the next publisher in a fresh entry (new PSI,
    // counters and keyframe start, as new players); local readers end as before (routes re-attach)
    const keep = this.config.waitForPublisher === true ? [...st.players].filter((p) => !p.local) : [];
    for (const p of st.players) if (!keep.includes(p)) p.socket.end();
    st.players.clear();
    this.emit('unpublished', st.name);
    if (keep.length === 0) return;
    const next = this.streamFor(st.name);
    for (const p of keep) {
      p.waitingForGop = false;
      this.joinPlayer(next, p, undefined);
      if (!next.publisher) this.startWaiting(p);
    }
  }

  // ------------------------------------------------------------------ local endpoints

  /**
   * Publishes into `stream` from inside Sluice (a pull route, UDP ingest): write MPEG-TS messages
   * to the returned endpoint; `close()` unpublishes. Throws SrtRejectedError(SRT_REJX.CONFLICT), as
   * an SRT publisher would get, when the stream already has a publisher.
   */
  publishLocal(stream: string, label: string): LocalEndpoint {
    const name = normalise(stream);
    const st = this.streams.get(name);
    if ((st && st.publisher) || [...this.pending.values()].some((p) => p.name === name && p.mode === 'publish')) {
      throw new SrtRejectedError(SRT_REJX.CONFLICT, `stream "${name}" is already published`);
    }
    return this.addLocal(name, 'publisher', label);
  }

  /**
   * Reads `stream` from inside Sluice (push route, UDP output, recorder, preview): the returned
   * endpoint is a readable of MPEG-TS messages. If the stream is not published yet it waits for it
   * (always, whatever `waitForPublisher` says, and with no timeout). It ends when the stream ends
   * (publisher gone beyond its grace period): `StreamReader` (gateway/routes.ts) re-attaches.
   * A reader that falls `queue` messages behind is dropped like a slow SRT player.
   */
  playLocal(stream: string, label: string, o: { startAtKeyframe?: boolean; queue?: number } = {}): LocalEndpoint {
    const name = normalise(stream);
    this.streamFor(name);
    return this.addLocal(name, 'player', label, o.startAtKeyframe, o.queue);
  }

  private addLocal(name: string, role: ConnectionRole, label: string, startAtKeyframe?: boolean, queue?: number): LocalEndpoint {
    const ep = new LocalEndpoint(label, queue, role === 'publisher' ? 'publisher' : 'player');
    const conn: ServerConnection = {
      id: this.nextId++, role, stream: name, streamId: label, peer: label, socket: ep, local: true,
      connectedAt: Date.now(), waitingForKeyframe: false,
    };
    this.conns.set(conn.id, conn);
    ep.on('error', () => undefined);
    ep.once('closed', (reason: string) => this.onClosed(conn, reason));
    ep.on('close', () => this.onClosed(conn, ep.closeReason ?? 'closed'));
    this.emit('accepted', conn);
    if (role === 'publisher') this.attachPublisher(conn);
    else this.joinPlayer(this.streamFor(name), conn, startAtKeyframe);
    return ep;
  }

  // ------------------------------------------------------------------ management

  /** Kicks a connection (SHUTDOWN). */
  closeConnection(id: number): boolean {
    const c = this.conns.get(id);
    if (!c) return false;
    c.socket.close();
    return true;
  }

  addToWhitelist(name: string): void {
    this.whitelist.add(normalise(name));
  }

  removeFromWhitelist(name: string): void {
    this.whitelist.delete(normalise(name));
  }

  get whitelistEntries(): string[] {
    return [...this.whitelist];
  }

  connections(): ServerConnection[] {
    return [...this.conns.values()];
  }

  streamNames(): string[] {
    return [...this.streams.keys()];
  }

  private view(c: ServerConnection): ConnectionStatsView {
    return { id: c.id, role: c.role, stream: c.stream, peer: c.peer, streamId: c.streamId, connectedAt: c.connectedAt, stats: c.socket.stats() };
  }

  /** Live statistics per stream: publisher and players with libsrt statistics. */
  stats(): StreamStatsView[] {
    return [...this.streams.values()].map((st) => ({
      name: st.name,
      publisher: st.publisher ? this.view(st.publisher) : null,
      players: [...st.players].map((p) => this.view(p)),
      messages: st.messages,
      bytes: st.bytes,
    }));
  }

  async close(): Promise<void> {
    for (const st of this.streams.values()) if (st.graceTimer) clearTimeout(st.graceTimer);
    for (const t of this.waitTimers.values()) clearTimeout(t);
    this.waitTimers.clear();
    for (const c of [...this.conns.values()]) if (c.socket instanceof LocalEndpoint) c.socket.close('server stopped');
    this.streams.clear();
    await Promise.all([this.srt?.close(), ...this.portListeners.map((l) => l.close())]);
    this.portListeners.length = 0;
    this.srt = null;
  }
}

function normalise(name: string): string {
  return name.replace(/^\/+/, '');
}
