// One SRT connection kept up for a gateway: a caller that redials by itself with exponential
// backoff, a listener that serves one peer at a time and takes the next one when it leaves, or a
// rendezvous peer that retries like a caller (from the same local port every time).
//
// A listener's peer that vanished (killed, rebooted, unplugged) is only noticed after the idle
// timeout (peeridletimeo, 5 s): until then its connection holds the one place. When that peer
// comes back it should not be refused, so a newcomer from the SAME IP ADDRESS replaces the held
// connection when that connection is dead:
// - same address and port, another caller socket id: at once — that UDP port now belongs to the
//   new socket, so the old one is gone (a caller bound to a fixed port, a restarted Sluice);
// - same address, another port (an encoder restarted: a new ephemeral port): once nothing has come
//   from the held peer for PEER_GONE_MS. A live SRT peer sends a packet at least every second (a
//   keepalive when it has nothing else), so that silence means it is gone; the decision waits
//   (while the newcomer's handshake is held) until the silence is that long, and refuses the
//   newcomer (SRT_REJX_CONFLICT, 1409) if the held peer speaks meanwhile — another process on the
//   same host, or hosts behind one NAT address, never push each other out;
// - another address: refused (1409) while a peer is served, as before.
import { EventEmitter } from 'node:events';
import type { AcceptDecision, ConnectRequest } from '../protocol/listener.js';
import type { SrtOptions } from '../protocol/options.js';
import { SRT_REJX } from '../protocol/reject.js';
import { dial, listen, type SrtServer } from '../transport/api.js';
import { SrtError } from '../transport/errors.js';
import type { SrtSocket } from '../transport/socket.js';
import type { SrtGroupSpec, SrtMode } from '../transport/url.js';

export type LinkMode = SrtMode;

/** Modes the link can run: all three SRT connection modes. */
export const SUPPORTED_LINK_MODES: ReadonlySet<LinkMode> = new Set<LinkMode>(['caller', 'listener', 'rendezvous']);

/** connecting: a caller or rendezvous dialing or waiting to redial; waiting: a listener with no peer. */
export type LinkState = 'idle' | 'connecting' | 'waiting' | 'connected' | 'closed';

export interface LinkConfig {
  mode: LinkMode;
  /** caller/rendezvous: the peer's address; listener: the local address to bind ('' = all). */
  host: string;
  /**
   * caller: the peer's port; listener: the local port; rendezvous: the port of both sides (the
   * RX/TX document: "En Rendezvous, tanto RX como TX tienen que poner el mismo ListenPort").
   */
  port: number;
  /** rendezvous only: a local port different from `port` (srt-live-transmit's `port=` key). */
  localPort?: number;
  /** rendezvous only: the local address to bind (srt-live-transmit's `adapter=` key; default all). */
  localAddress?: string;
  options: Partial<SrtOptions>;
  /** caller only: a connection group (bonding, ADR 16), one member per node; `host` is then ignored. */
  group?: SrtGroupSpec;
  /** Redial delays of a caller: first, then doubled up to max (ms). */
  backoff?: { initialMs: number; maxMs: number };
}

export interface LinkEvents {
  connected: [socket: SrtSocket];
  disconnected: [reason: string];
  /** A caller's or rendezvous' attempt failed (timeout, rejection); it tries again after `retryMs`. */
  attemptFailed: [error: Error, retryMs: number];
}

const DEFAULT_BACKOFF = { initialMs: 250, maxMs: 5000 };

/**
 * A served listener peer silent this long is taken as gone when its host calls again: libsrt and
 * Sluice send a keepalive after 1 s without other traffic, so a live peer is never this quiet.
 */
export const PEER_GONE_MS = 1500;

export class SrtLink extends EventEmitter<LinkEvents> {
  state: LinkState = 'idle';
  socket: SrtSocket | null = null;
  /** Connections made so far (the first one and every reconnection). */
  connections = 0;
  private server: SrtServer | null = null;
  private wake: (() => void) | null = null;
  /** The attempt in progress (a rendezvous holds its port for up to 10 × conntimeo). */
  private attempt: AbortController | null = null;
  private dialing: Promise<SrtSocket> | null = null;
  /** The current connection's end (resolves when it has been let go). */
  private served: Promise<void> | null = null;
  /** A listener deciding whether a newcomer replaces the connection it holds. */
  private admitting = false;
  /** The connection being replaced by its peer's new one (its disconnect reason says so). */
  private replaced: SrtSocket | null = null;

  constructor(readonly cfg: LinkConfig) {
    super();
  }

  get reconnections(): number {
    return Math.max(0, this.connections - 1);
  }

  /** Address of the connected peer, "host:port", or null. */
  get peer(): string | null {
    return this.socket ? `${this.socket.remoteAddress}:${this.socket.remotePort}` : null;
  }

  /** A listener binds here (and throws if it cannot); a caller or rendezvous starts dialing in the background. */
  async open(): Promise<void> {
    if (!SUPPORTED_LINK_MODES.has(this.cfg.mode)) {
      throw new SrtError('SRT_EINVPARAM', `${this.cfg.mode} mode is not supported yet`);
    }
    if (this.cfg.mode === 'listener') await this.openListener();
    else void this.callLoop();
  }

  private async openListener(): Promise<void> {
    this.server = await listen({
      ...this.cfg.options,
      host: this.cfg.host,
      port: this.cfg.port,
      // one peer at a time: the next caller is refused at the handshake while one is served,
      // unless it is the served peer coming back (see the top of this file)
      accept: (req) => this.admit(req),
    });
    this.state = 'waiting';
    this.server.on('connection', (s) => {
      if (this.socket || this.state === 'closed') {
        s.close();
        return;
      }
      void this.serve(s).then(() => {
        if (this.state !== 'closed' && !this.socket) this.state = 'waiting';
      });
    });
  }

  /** A listener's decision on a caller while it may be serving one. */
  private async admit(req: ConnectRequest): Promise<AcceptDecision | undefined> {
    const cur = this.socket;
    // another member of the connection group being served joins it (bonding, ADR 16)
    if (req.group && cur && cur.peerSocketId === req.group.groupId) return undefined;
    if (this.admitting) return { reject: SRT_REJX.CONFLICT };
    if (!cur) return undefined;
    if (req.peerAddress !== cur.remoteAddress) return { reject: SRT_REJX.CONFLICT };
    if (req.peerPort === cur.remotePort && req.callerSocketId === cur.peerSocketId) return { reject: SRT_REJX.CONFLICT }; // a late copy of its own handshake
    this.admitting = true;
    try {
      if (req.peerPort !== cur.remotePort) {
        const heard = cur.lastHeardUs;
        const wait = PEER_GONE_MS - cur.silentMs;
        if (wait > 0) await this.pause(wait, cur);
        if (this.state === 'closed') return { reject: SRT_REJX.CONFLICT };
        if (this.socket !== cur) return this.socket ? { reject: SRT_REJX.CONFLICT } : undefined; // it left meanwhile
        if (cur.lastHeardUs !== heard) return { reject: SRT_REJX.CONFLICT }; // it spoke: alive, someone else on that host
      }
      this.replaced = cur;
      const done = this.served;
      cur.close();
      await done;
      return this.state === 'closed' ? { reject: SRT_REJX.CONFLICT } : undefined;
    } finally {
      this.admitting = false;
    }
  }

  /** Waits `ms`, or less if `s` ends or the link closes. */
  private pause(ms: number, s: SrtSocket): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(t);
        s.off('close', done);
        s.off('closed', done);
        resolve();
      };
      const t = setTimeout(done, ms);
      s.once('close', done);
      s.once('closed', done);
    });
  }

  private async callLoop(): Promise<void> {
    const { initialMs, maxMs } = this.cfg.backoff ?? DEFAULT_BACKOFF;
    let delay = initialMs;
    while (this.state !== 'closed') {
      this.state = 'connecting';
      let s: SrtSocket;
      try {
        this.attempt = new AbortController();
        const signal = this.attempt.signal;
        this.dialing = dial(this.cfg.mode === 'rendezvous'
          ? { ...this.cfg.options, host: this.cfg.host, port: this.cfg.port, mode: 'rendezvous', localPort: this.cfg.localPort ?? this.cfg.port, localAddress: this.cfg.localAddress, signal }
          : { ...this.cfg.options, host: this.cfg.host, port: this.cfg.port, signal, ...(this.cfg.group ? { group: this.cfg.group } : {}) });
        s = await this.dialing;
      } catch (e) {
        if (this.isClosed()) return;
        this.emit('attemptFailed', e as Error, delay);
        await this.sleep(delay);
        delay = Math.min(delay * 2, maxMs);
        continue;
      }
      if (this.isClosed()) {
        s.close();
        return;
      }
      delay = initialMs;
      await this.serve(s);
      // a peer that just left is usually restarting: give it a moment before redialing
      if (!this.isClosed()) await this.sleep(initialMs);
    }
  }

  /** `state` is narrowed by the compiler inside loops; this re-reads it. */
  private isClosed(): boolean {
    return this.state === 'closed';
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => { this.wake = null; resolve(); }, ms);
      this.wake = () => { clearTimeout(t); this.wake = null; resolve(); };
    });
  }

  /** Holds `s` as the current connection; resolves when it ends. */
  private serve(s: SrtSocket): Promise<void> {
    this.socket = s;
    this.state = 'connected';
    this.connections++;
    // errors (idle timeout) also end the connection: 'closed'/'close' below report it
    s.on('error', () => undefined);
    const served = new Promise<void>((resolve) => {
      let done = false;
      const end = (reason: string): void => {
        if (done) return;
        done = true;
        if (this.socket === s) this.socket = null;
        if (this.replaced === s) {
          this.replaced = null;
          reason = `replaced: ${s.remoteAddress} connected again`;
        }
        this.emit('disconnected', reason);
        resolve();
      };
      s.once('closed', (reason) => end(reason));
      s.once('close', () => end(s.closeReason ?? 'local'));
    });
    this.served = served;
    this.emit('connected', s);
    return served;
  }

  /** Sends SHUTDOWN to the peer (if any) and releases the port. */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.wake?.();
    this.attempt?.abort();
    // an aborted attempt releases its local port before it settles
    await this.dialing?.catch(() => undefined);
    this.socket?.close();
    await this.server?.close();
    this.server = null;
  }
}
