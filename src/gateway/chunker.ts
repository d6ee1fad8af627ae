import { Transform, type TransformCallback } from 'node:stream';

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
