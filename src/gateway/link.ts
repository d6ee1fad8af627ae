// One SRT connection kept up for a gateway: a caller that redials by itself with exponential
// backoff, a listener that serves one peer at a time and takes the next one when it leaves, or a
// rendezvous peer that retries like a caller (from the same local port every time).
import { EventEmitter } from 'node:events';
import type { SrtOptions } from '../protocol/options.js';
import { SRT_REJX } from '../protocol/reject.js';
import { dial, listen, type SrtServer } from '../transport/api.js';
import { SrtError } from '../transport/errors.js';
import type { SrtSocket } from '../transport/socket.js';
import type { SrtMode } from '../transport/url.js';

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
  options: Partial<SrtOptions>;
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
      // one peer at a time: the next caller is refused at the handshake while one is served
      accept: () => (this.socket ? { reject: SRT_REJX.CONFLICT } : undefined),
    });
    this.state = 'waiting';
    this.server.on('connection', (s) => {
      if (this.socket || this.state === 'closed') {
        s.close();
        return;
      }
      void this.serve(s).then(() => {
        if (this.state !== 'closed') this.state = 'waiting';
      });
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
          ? { ...this.cfg.options, host: this.cfg.host, port: this.cfg.port, mode: 'rendezvous', localPort: this.cfg.localPort ?? this.cfg.port, signal }
          : { ...this.cfg.options, host: this.cfg.host, port: this.cfg.port, signal });
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
    this.emit('connected', s);
    return new Promise((resolve) => {
      let done = false;
      const end = (reason: string): void => {
        if (done) return;
        done = true;
        if (this.socket === s) this.socket = null;
        this.emit('disconnected', reason);
        resolve();
      };
      s.once('closed', (reason) => end(reason));
      s.once('close', () => end(s.closeReason ?? 'local'));
    });
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
