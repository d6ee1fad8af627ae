// An SRT connection as a Node Duplex: one message per write (live mode), one message per read
// (readable object mode), backpressure in both directions.
import { Duplex } from 'node:stream';
import type { CloseReason } from '../protocol/connection.js';
import type { GroupTypeName, MemberState } from '../protocol/group.js';
import type { SrtStats } from '../protocol/stats.js';
import { SrtError } from './errors.js';
import { nowUs } from './clock.js';

/**
 * What a socket needs from its driver, and all it sees of the connection (the driver implements
 * it over the endpoint's connection handle).
 */
export interface SocketLink {
  readonly socketId: number;
  readonly peerSocketId: number;
  readonly streamId: string;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly pbkeylen: number;
  readonly negotiated: { rcvLatency: number; sndLatency: number; mss: number; peerSrtVersion: number };
  /** When the last packet (data or control) from the peer arrived, µs on the transport clock. */
  readonly lastHeardUs: number;
  /** The packet filter agreed in the handshake, '' if none. */
  readonly packetFilter: string;
  /** File mode's byte stream: write() hands over at most this many bytes per send() (0: one message per write). */
  readonly streamPiece: number;
  /** True while messages may be sent (connected, not closing). */
  readonly open: boolean;
  stats(clear: boolean): SrtStats;
  /** One message; false when the send buffer is full. Throws RangeError for an oversized one. */
  send(msg: Buffer): boolean;
  canSend(): boolean;
  /** The application reads again. */
  resume(): void;
  /** SHUTDOWN at once (what was received is still delivered). */
  close(): void;
  /** Graceful close: SHUTDOWN once everything sent is acknowledged (or SO_LINGER expires); then onFinished. */
  shutdown(): void;
  /** A connection group (bonding, ADR 16): the group and each member's statistics. */
  groupStats?(clear: boolean): GroupStats;
}

/** A connection group's statistics (bonding, ADR 16): the group's counters and each member's SRT statistics. */
export interface GroupStats {
  /** The group id (bit 30 set) and the peer's. */
  id: number;
  peerId: number;
  type: GroupTypeName;
  /** Messages sent through the group once each / delivered once each / copies dropped as duplicates. */
  pktSentUnique: number;
  pktRecvUnique: number;
  pktRecvDuplicate: number;
  /** Main/backup: switches to another member, and packets re-sent over the new one. */
  switches: number;
  pktBacklogResent: number;
  members: GroupMemberStats[];
}

export interface GroupMemberStats {
  socketId: number;
  address: string;
  port: number;
  weight: number;
  /** active, idle (main/backup standby), unstable or broken. */
  state: MemberState;
  stats: SrtStats;
}

export interface SrtSocketEvents {
  /** The connection ended: `reason` is local, peer (SHUTDOWN), timeout or error. */
  closed: [reason: CloseReason];
  /** After sendMessage() returned false: the send buffer has room again. */
  sendable: [];
}

export class SrtSocket extends Duplex {
  private link: SocketLink | null = null;
  private pendingWrite: { chunk: Buffer; cb: (err?: Error | null) => void } | null = null;
  private finalCb: ((err?: Error | null) => void) | null = null;
  private messageSink: ((msg: Buffer) => void) | null = null;
  private sendWaiting = false;
  closeReason: CloseReason | null = null;

  constructor() {
    super({ readableObjectMode: true, writableObjectMode: false, readableHighWaterMark: 1024, writableHighWaterMark: 64 * 1024, allowHalfOpen: true });
  }

  /** @internal */
  attach(link: SocketLink): void {
    this.link = link;
  }

  get socketId(): number {
    return this.link!.socketId;
  }

  get peerSocketId(): number {
    return this.link!.peerSocketId;
  }

  get streamId(): string {
    return this.link!.streamId;
  }

  get remoteAddress(): string {
    return this.link!.remoteAddress;
  }

  get remotePort(): number {
    return this.link!.remotePort;
  }

  /** The packet filter agreed in the handshake (SRTO_PACKETFILTER as libsrt reads it back), '' if none. */
  get packetFilter(): string {
    return this.link!.packetFilter;
  }

  /** Key length in use, bytes (libsrt's SRTO_PBKEYLEN read back): 16, 24, 32, or 0 unencrypted. */
  get pbkeylen(): number {
    return this.link!.pbkeylen;
  }

  /** Negotiated latencies (ms) and other connection parameters. */
  get negotiated(): { rcvLatency: number; sndLatency: number; mss: number; peerSrtVersion: number } {
    return this.link!.negotiated;
  }

  /** Time since the last packet from the peer arrived, ms (a live peer sends at least a keepalive a second). */
  get silentMs(): number {
    return (nowUs() - this.link!.lastHeardUs) / 1000;
  }

  /** When the last packet (data or control) from the peer arrived, µs on the transport clock. */
  get lastHeardUs(): number {
    return this.link!.lastHeardUs;
  }

  /** SRT_TRACEBSTATS statistics; `clear` starts a new interval. */
  /** A connection group's per-member statistics (null: a single connection). */
  groupStats(clear = false): GroupStats | null {
    return this.link?.groupStats ? this.link.groupStats(clear) : null;
  }

  stats(clear = false): SrtStats {
    return this.link!.stats(clear);
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
    const l = this.link;
    if (!l || !l.open) throw new SrtError('SRT_ECONNLOST', 'connection is closed');
    if (l.send(msg)) return true;
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
    this.link?.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    const l = this.link;
    if (!l || !l.open) {
      cb(new SrtError('SRT_ECONNLOST', 'connection is closed'));
      return;
    }
    this.writeFrom(l, chunk, cb);
  }

  /**
   * Sends `chunk` as one message, or in file mode's byte stream as pieces of at most streamPiece
   * bytes; what does not fit waits in pendingWrite for ACKs.
   */
  private writeFrom(l: SocketLink, chunk: Buffer, cb: (err?: Error | null) => void): void {
    const piece = l.streamPiece;
    let rest = chunk;
    try {
      while (rest.length > 0 || chunk.length === 0) {
        const part = piece > 0 && rest.length > piece ? rest.subarray(0, piece) : rest;
        if (!l.send(part)) {
          this.pendingWrite = { chunk: rest, cb }; // send buffer full: wait for ACKs
          return;
        }
        rest = rest.subarray(part.length);
        if (chunk.length === 0) break;
      }
    } catch (err) {
      cb(err as Error);
      return;
    }
    cb();
  }

  /** @internal the connection may have room again. */
  onWritable(): void {
    const l = this.link!;
    if (this.pendingWrite && l.canSend()) {
      const { chunk, cb } = this.pendingWrite;
      this.pendingWrite = null;
      this.writeFrom(l, chunk, cb);
    }
    if (this.sendWaiting && l.canSend()) {
      this.sendWaiting = false;
      this.emit('sendable');
    }
  }

  /**
   * end(): graceful close. Wait until everything sent is acknowledged (at most `linger` s, and at
   * least long enough for live data to be dropped by the sender), then give the peer its TSBPD
   * latency to play the tail out before SHUTDOWN — libsrt receivers discard what they still hold
   * when SHUTDOWN arrives.
   */
  override _final(cb: (err?: Error | null) => void): void {
    const l = this.link;
    if (!l || !l.open) {
      cb();
      return;
    }
    this.finalCb = cb; // called by onFinished
    l.shutdown();
  }

  /** @internal everything buffered has been delivered: end the readable side. */
  onFinished(reason: CloseReason): void {
    this.closeReason = reason;
    if (this.pendingWrite) {
      this.pendingWrite.cb(new SrtError('SRT_ECONNLOST', `connection closed (${reason})`));
      this.pendingWrite = null;
    }
    const cb = this.finalCb;
    this.finalCb = null;
    cb?.();
    // end the readable side; what is already buffered stays readable
    this.push(null);
    this.emit('closed', reason);
    if (reason === 'timeout') this.destroy(new SrtError('SRT_ECONNLOST', 'peer idle timeout: connection lost'));
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.link?.close();
    cb(err);
  }

  /** Sends SHUTDOWN at once (no linger) and ends the stream. */
  close(): void {
    this.destroy();
  }
}
