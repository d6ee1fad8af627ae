// An SRT connection as a Node Duplex: one message per write (live mode), one message per read
// (readable object mode), backpressure in both directions.
import { Duplex } from 'node:stream';
import type { CloseReason, ConnectionEvent } from '../protocol/connection.js';
import type { SrtStats } from '../protocol/stats.js';
import { nowUs } from './clock.js';
import { SrtError } from './errors.js';
import type { ConnEntry } from './mux.js';

export interface SrtSocketEvents {
  /** The connection ended: `reason` is local, peer (SHUTDOWN), timeout or error. */
  closed: [reason: CloseReason];
  /** After sendMessage() returned false: the send buffer has room again. */
  sendable: [];
}

export class SrtSocket extends Duplex {
  private entry: ConnEntry | null = null;
  private pendingWrite: { chunk: Buffer; cb: (err?: Error | null) => void } | null = null;
  private finalCb: ((err?: Error | null) => void) | null = null;
  private lingerTimer: NodeJS.Timeout | null = null;
  private draining = false;
  private messageSink: ((msg: Buffer) => void) | null = null;
  private sendWaiting = false;
  closeReason: CloseReason | null = null;

  constructor() {
    super({ readableObjectMode: true, writableObjectMode: false, readableHighWaterMark: 1024, writableHighWaterMark: 64 * 1024, allowHalfOpen: true });
  }

  /** @internal */
  attach(e: ConnEntry): void {
    this.entry = e;
  }

  get socketId(): number {
    return this.entry!.conn.localSocketId;
  }

  get peerSocketId(): number {
    return this.entry!.conn.peerSocketId;
  }

  get streamId(): string {
    return this.entry!.conn.streamId;
  }

  get remoteAddress(): string {
    return this.entry!.address;
  }

  get remotePort(): number {
    return this.entry!.port;
  }

  /** Key length in use, bytes (libsrt's SRTO_PBKEYLEN read back): 16, 24, 32, or 0 unencrypted. */
  /** The packet filter agreed in the handshake (SRTO_PACKETFILTER as libsrt reads it back), '' if none. */
  get packetFilter(): string {
    return this.entry!.conn.filter;
  }

  get pbkeylen(): number {
    const c = this.entry!.conn;
    return c.tx?.keys.keyLen ?? c.rx?.keys?.keyLen ?? 0;
  }

  /** Negotiated latencies (ms) and other connection parameters. */
  get negotiated(): { rcvLatency: number; sndLatency: number; mss: number; peerSrtVersion: number } {
    const p = this.entry!.conn.params;
    return { rcvLatency: p.rcvLatencyMs, sndLatency: p.sndLatencyMs, mss: p.mss, peerSrtVersion: p.peerSrtVersion };
  }

  /** SRT_TRACEBSTATS statistics; `clear` starts a new interval. */
  stats(clear = false): SrtStats {
    return this.entry!.conn.stats(nowUs(), clear);
  }

  /**
   * Hands every received message to `sink`, synchronously and in order, instead of the readable
   * stream: no stream buffering and no backpressure, for a consumer that never waits (a UDP
   * output). Messages already buffered go to the sink first. The readable side still ends ('end')
   * when the connection finishes. Once set, it cannot be undone; do not also read the stream.
   */
  setMessageSink(sink: (msg: Buffer) => void): void {
    let m: Buffer | null;
    while ((m = this.read() as Buffer | null) !== null) sink(m);
    this.messageSink = sink;
    this.resume(); // flowing with nothing pushed, so that 'end' follows the connection's end
  }

  /**
   * Sends one message at once, without the Writable machinery: for a producer that hands over
   * one message per call (a UDP input, a byte stream cut into messages). Returns false when the
   * send buffer is full — nothing is sent and 'sendable' follows once there is room (a live
   * source drops the message, as srt-live-transmit does; a file waits). Throws SrtError once
   * the connection is closed and RangeError for a message larger than the payload size. Do not
   * mix with write() on the same socket (their order is not kept); end() still closes
   * gracefully after the last message.
   */
  sendMessage(msg: Buffer): boolean {
    const e = this.entry;
    if (!e || e.closed || e.conn.state !== 'connected') throw new SrtError('SRT_ECONNLOST', 'connection is closed');
    if (e.mux.write(e, msg)) return true;
    this.sendWaiting = true;
    return false;
  }

  /** @internal called by the driver with each delivered message; false = stop delivering. */
  deliver(payload: Buffer): boolean {
    if (this.destroyed || this.readableEnded) return true; // nobody will read it: discard, never stall the driver
    if (this.messageSink !== null) {
      this.messageSink(payload);
      return true;
    }
    return this.push(payload);
  }

  override _read(): void {
    if (this.entry) this.entry.mux.resume(this.entry);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    const e = this.entry;
    if (!e || e.closed || e.conn.state !== 'connected') {
      cb(new SrtError('SRT_ECONNLOST', 'connection is closed'));
      return;
    }
    try {
      if (e.mux.write(e, chunk)) {
        cb();
        return;
      }
    } catch (err) {
      cb(err as Error);
      return;
    }
    this.pendingWrite = { chunk, cb }; // send buffer full: wait for ACKs
  }

  /** @internal the connection may have room again. */
  onWritable(): void {
    const e = this.entry!;
    if (this.pendingWrite && e.conn.canSend()) {
      const { chunk, cb } = this.pendingWrite;
      this.pendingWrite = null;
      try {
        e.mux.write(e, chunk);
        cb();
      } catch (err) {
        cb(err as Error);
      }
    }
    if (this.sendWaiting && e.conn.canSend()) {
      this.sendWaiting = false;
      this.emit('sendable');
    }
    this.checkDrained();
  }

  /**
   * end(): graceful close. Wait until everything sent is acknowledged (at most `linger` s, and at
   * least long enough for live data to be dropped by the sender), then give the peer its TSBPD
   * latency to play the tail out before SHUTDOWN — libsrt receivers discard what they still hold
   * when SHUTDOWN arrives.
   */
  override _final(cb: (err?: Error | null) => void): void {
    const e = this.entry;
    if (!e || e.closed) {
      cb();
      return;
    }
    this.finalCb = cb;
    const ackWaitMs = Math.max(e.conn.options.linger * 1000, e.conn.params.sndLatencyMs + 1500);
    this.lingerTimer = setTimeout(() => this.finishFinal(), ackWaitMs);
    this.checkDrained();
  }

  private checkDrained(): void {
    const e = this.entry!;
    if (!this.finalCb || this.draining || !e.conn.sendBufferEmpty()) return;
    this.draining = true;
    if (this.lingerTimer) clearTimeout(this.lingerTimer);
    const playOutMs = e.conn.params.sndLatencyMs + Math.ceil((2 * e.conn.srtt) / 1000) + 20;
    this.lingerTimer = setTimeout(() => this.finishFinal(), playOutMs);
  }

  private finishFinal(): void {
    if (this.lingerTimer) clearTimeout(this.lingerTimer);
    this.lingerTimer = null;
    const cb = this.finalCb;
    this.finalCb = null;
    const e = this.entry!;
    e.mux.closeConnection(e);
    cb?.();
  }

  /** @internal */
  onConnectionEvent(ev: ConnectionEvent): void {
    if (ev.type === 'closed') this.closeReason = ev.reason;
  }

  /** @internal everything buffered has been delivered: end the readable side. */
  onFinished(reason: CloseReason): void {
    this.closeReason = reason;
    if (this.pendingWrite) {
      this.pendingWrite.cb(new SrtError('SRT_ECONNLOST', `connection closed (${reason})`));
      this.pendingWrite = null;
    }
    if (this.finalCb) this.finishFinal();
    // end the readable side; what is already buffered stays readable
    this.push(null);
    this.emit('closed', reason);
    if (reason === 'timeout') this.destroy(new SrtError('SRT_ECONNLOST', 'peer idle timeout: connection lost'));
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (this.lingerTimer) clearTimeout(this.lingerTimer);
    const e = this.entry;
    if (e && !e.closed) e.mux.closeConnection(e);
    cb(err);
  }

  /** Sends SHUTDOWN at once (no linger) and ends the stream. */
  close(): void {
    this.destroy();
  }
}
