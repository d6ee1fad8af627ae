import { Transform, type Readable, type TransformCallback } from 'node:stream';
import type { SrtSocket } from '../transport/socket.js';

/** Largest live-mode payload (MSS 1500 - 44 bytes of headers): bigger datagrams are split. */
export const MAX_LIVE_PAYLOAD = 1456;

/** Splits a byte stream into messages of `size` bytes (the last one may be shorter). */
export class Chunker extends Transform {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(private readonly size: number) {
    super({ readableObjectMode: true });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.pendingBytes >= this.size) {
      const all = Buffer.concat(this.pending, this.pendingBytes);
      let o = 0;
      for (; o + this.size <= all.length; o += this.size) this.push(all.subarray(o, o + this.size));
      this.pending = o < all.length ? [all.subarray(o)] : [];
      this.pendingBytes = all.length - o;
    }
    cb();
  }

  override _flush(cb: TransformCallback): void {
    if (this.pendingBytes > 0) this.push(Buffer.concat(this.pending, this.pendingBytes));
    cb();
  }
}

/** Splits messages larger than `max` into several (datagram input to SRT). */
export class MessageLimiter extends Transform {
  constructor(private readonly max: number) {
    super({ objectMode: true });
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    for (let o = 0; o < chunk.length; o += this.max) this.push(chunk.subarray(o, Math.min(chunk.length, o + this.max)));
    cb();
  }
}

/**
 * Cuts a byte stream (a file, stdin) into messages of `size` bytes and sends each one straight to
 * an SRT socket (SrtSocket.sendMessage), without a stream per message in between; the source
 * pauses while the send buffer is full, so nothing is lost. When the source ends, the last short
 * message is sent and the socket is ended (graceful close). Returns a function that stops the
 * pump (the socket is left as it is).
 */
export function pumpMessages(src: Readable, size: number, sock: SrtSocket, onError: (e: Error) => void): () => void {
  let rest: Buffer | null = null; // the start of a message not yet complete
  const queue: Buffer[] = []; // complete messages the socket has not taken yet
  let head = 0;
  let ended = false;
  let stopped = false;
  const flush = (): boolean => {
    try {
      while (head < queue.length) {
        if (!sock.sendMessage(queue[head]!)) return false;
        head++;
      }
    } catch (e) {
      stop();
      onError(e as Error);
      return false;
    }
    queue.length = 0;
    head = 0;
    if (ended) {
      stop();
      sock.end();
    }
    return true;
  };
  const onSendable = (): void => {
    if (!stopped && flush() && !ended) src.resume();
  };
  const onData = (chunk: Buffer): void => {
    let buf = chunk;
    if (rest !== null) {
      buf = Buffer.concat([rest, chunk]);
      rest = null;
    }
    let o = 0;
    for (; o + size <= buf.length; o += size) queue.push(buf.subarray(o, o + size));
    if (o < buf.length) rest = buf.subarray(o);
    if (!flush()) src.pause();
  };
  const onEnd = (): void => {
    ended = true;
    if (rest !== null) queue.push(rest);
    rest = null;
    flush();
  };
  const stop = (): void => {
    stopped = true;
    src.off('data', onData);
    src.off('end', onEnd);
    sock.off('sendable', onSendable);
  };
  sock.on('sendable', onSendable);
  src.on('data', onData);
  src.on('end', onEnd);
  return stop;
}

/**
 * One datagram of a live input into SRT at once, as one message or, above MAX_LIVE_PAYLOAD, as
 * several. Returns how many of them a full send buffer refused (a live input drops them, never
 * queues). Throws SrtError once the connection is closed.
 */
export function sendDatagram(sock: SrtSocket, d: Buffer): number {
  if (d.length <= MAX_LIVE_PAYLOAD) return sock.sendMessage(d) ? 0 : 1;
  let refused = 0;
  for (let o = 0; o < d.length; o += MAX_LIVE_PAYLOAD) {
    if (!sock.sendMessage(d.subarray(o, Math.min(d.length, o + MAX_LIVE_PAYLOAD)))) refused++;
  }
  return refused;
}
