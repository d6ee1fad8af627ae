// The stream registry of a Server (ADR 6): its connections and reservations, one entry per stream
// (publisher, backup, players, PSI and GOP caches, counters), the fan-out of a publisher's messages
// to its players (GOP cache join, keyframe start, slow-player drop), publisher grace and backup
// promotion, and players waiting for a publisher. It emits the Server's routing events.
import type { EventEmitter } from 'node:events';
import { GopCache, GOP_CACHE_MAX_BYTES } from './gopcache.js';
import { LocalEndpoint } from './local.js';
import { PsiCache } from './tsmux.js';
import type { RegistryView } from './access.js';
import type { StreamMode } from './streamid.js';
import type { ServerConfig, ServerConnection, ServerEvents } from './types.js';

export interface StreamState {
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

/** A caller let in by the access checks whose handshake has not completed yet. */
export interface Reservation {
  name: string;
  mode: StreamMode;
  user?: string;
  peer: string;
  backup?: boolean;
}

export class StreamRegistry implements RegistryView {
  readonly streams = new Map<string, StreamState>();
  readonly conns = new Map<number, ServerConnection>();
  /** Reservations, by the transport's connect request. */
  readonly reservations = new Map<object, Reservation>();
  /** Timeouts of SRT players waiting for their stream's publisher (waitForPublisherTimeoutMs). */
  private readonly waitTimers = new Map<ServerConnection, NodeJS.Timeout>();
  private lastId = 0;

  constructor(
    private readonly config: ServerConfig,
    private readonly events: EventEmitter<ServerEvents>,
    private readonly counters: { playersDropped: number },
  ) {}

  nextId(): number {
    return ++this.lastId;
  }

  // ------------------------------------------------------------------ RegistryView (access.ts)

  total(): number {
    return this.conns.size + this.reservations.size;
  }

  fromAddress(address: string): number {
    let n = 0;
    for (const x of this.conns.values()) if (x.peer.startsWith(`${address}:`)) n++;
    for (const p of this.reservations.values()) if (p.peer.startsWith(`${address}:`)) n++;
    return n;
  }

  stream(name: string): { publisher: boolean; backup: boolean; players: number } | undefined {
    const st = this.streams.get(name);
    return st ? { publisher: st.publisher !== null, backup: st.backup !== null, players: st.players.size } : undefined;
  }

  reserved(name: string): { publisher: boolean; backup: boolean; players: number } {
    const r = { publisher: false, backup: false, players: 0 };
    for (const p of this.reservations.values()) {
      if (p.name !== name) continue;
      if (p.backup) r.backup = true;
      else if (p.mode === 'publish') r.publisher = true;
      else if (p.mode === 'request') r.players++;
    }
    return r;
  }

  // ------------------------------------------------------------------ connections

  /** The stream's entry, created (empty) when there is none. */
  streamFor(name: string): StreamState {
    let st = this.streams.get(name);
    if (!st) {
      const psi = new PsiCache();
      const gop = this.config.gopCache === false ? null : new GopCache(psi, this.config.gopCacheMaxBytes ?? GOP_CACHE_MAX_BYTES);
      st = { name, gop, publisher: null, backup: null, players: new Set(), graceTimer: null, createdAt: Date.now(), messages: 0, bytes: 0, psi };
      this.streams.set(name, st);
    }
    return st;
  }

  /**
   * Registers a new connection (an SRT socket or a local endpoint), emits `accepted` and routes it
   * by its role. `startAtKeyframe` applies to local players (undefined: the server's rule).
   */
  add(conn: ServerConnection, startAtKeyframe?: boolean): void {
    const s = conn.socket;
    this.conns.set(conn.id, conn);
    s.on('error', () => undefined); // reported through 'closed'
    s.once('closed', (reason: string) => this.onClosed(conn, reason));
    s.on('close', () => this.onClosed(conn, s.closeReason ?? 'closed'));
    this.events.emit('accepted', conn);
    if (conn.role === 'publisher') this.attachPublisher(conn);
    else if (conn.role === 'backup') this.attachBackup(conn);
    else if (conn.local) this.joinPlayer(this.streamFor(conn.stream), conn, startAtKeyframe);
    else this.attachPlayer(conn);
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
    this.events.emit('published', st.name, b);
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
    this.events.emit('published', conn.stream, conn);
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

  // ------------------------------------------------------------------ fan-out

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
    this.events.emit('playerDropped', p, reason);
    this.streams.get(p.stream)?.players.delete(p);
    p.socket.close();
  }

  // ------------------------------------------------------------------ departures

  private onClosed(conn: ServerConnection, reason: string): void {
    if (!this.conns.has(conn.id)) return;
    this.conns.delete(conn.id);
    this.events.emit('closed', conn, reason);
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

  /** Ends a stream that has no publisher at once (see Server.endStreamNow). */
  endStreamNow(name: string): boolean {
    const st = this.streams.get(name);
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
    this.events.emit('unpublished', st.name);
    if (keep.length === 0) return;
    const next = this.streamFor(st.name);
    for (const p of keep) {
      p.waitingForGop = false;
      this.joinPlayer(next, p, undefined);
      if (!next.publisher) this.startWaiting(p);
    }
  }

  /** The server stops: timers stop, local endpoints close, the entries go (SRT sockets close with their listener). */
  close(): void {
    for (const st of this.streams.values()) if (st.graceTimer) clearTimeout(st.graceTimer);
    for (const t of this.waitTimers.values()) clearTimeout(t);
    this.waitTimers.clear();
    for (const c of [...this.conns.values()]) if (c.socket instanceof LocalEndpoint) c.socket.close('server stopped');
    this.streams.clear();
  }
}
