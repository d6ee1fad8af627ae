// UDP (unicast and multicast) as Node streams of datagrams: one message per datagram.
import dgram from 'node:dgram';
import { isIP } from 'node:net';
import { Readable, Writable } from 'node:stream';
import { OptionError } from '../protocol/errors.js';

export interface UdpEndpoint {
  host: string;
  port: number;
  /** Local interface address (multicast interface / bind address). */
  adapter?: string;
  ttl?: number;
  /** Source-specific multicast: the sender's address. */
  source?: string;
  rcvbuf?: number;
  sndbuf?: number;
}

export function isMulticast(host: string): boolean {
  if (isIP(host) === 4) {
    const first = Number(host.split('.')[0]);
    return first >= 224 && first <= 239;
  }
  return isIP(host) === 6 && host.toLowerCase().startsWith('ff');
}

/** Parses `udp://host:port?ttl=&adapter=&source=&rcvbuf=&sndbuf=` (srt-live-transmit's keys). */
export function parseUdpUrl(text: string): UdpEndpoint {
  const m = /^udp:\/\/(\[[^\]]*\]|[^:/?#]*):(\d+)\/?(?:\?(.*))?$/.exec(text);
  if (!m) throw new OptionError('url', `"${text}" is not a udp://host:port URL`);
  let host = m[1]!;
  if (host.startsWith('[')) host = host.slice(1, -1);
  const port = Number(m[2]);
  if (port < 1 || port > 65535) throw new OptionError('port', `${port} is not from 1 to 65535`);
  const ep: UdpEndpoint = { host, port };
  for (const part of (m[3] ?? '').split('&')) {
    if (!part) continue;
    const [k, v = ''] = part.split('=');
    const int = (min: number, max: number): number => {
      const n = Number(v);
      if (!/^\d+$/.test(v) || n < min || n > max) throw new OptionError(k!, `"${v}" is not an integer from ${min} to ${max}`);
      return n;
    };
    switch (k) {
      case 'ttl': ep.ttl = int(1, 255); break;
      case 'adapter': case 'interface': case 'bind': ep.adapter = v; break;
      case 'source': ep.source = v; break;
      case 'rcvbuf': ep.rcvbuf = int(1024, 1 << 30); break;
      case 'sndbuf': ep.sndbuf = int(1024, 1 << 30); break;
      default: throw new OptionError(k!, 'unknown udp:// option (ttl, adapter, source, rcvbuf, sndbuf)');
    }
  }
  return ep;
}

function family(ep: UdpEndpoint): 'udp4' | 'udp6' {
  return isIP(ep.host) === 6 || (ep.adapter !== undefined && isIP(ep.adapter) === 6) ? 'udp6' : 'udp4';
}

/** Receives datagrams on host:port (joining the group if it is multicast). */
export class UdpSource extends Readable {
  readonly sock: dgram.Socket;
  datagrams = 0;
  private ready: Promise<void>;
  private messageSink: ((msg: Buffer) => void) | null = null;

  constructor(readonly ep: UdpEndpoint) {
    super({ objectMode: true, highWaterMark: 4096 });
    const mc = isMulticast(ep.host);
    this.sock = dgram.createSocket({ type: family(ep), reuseAddr: mc });
    this.sock.on('message', (msg) => {
      this.datagrams++;
      if (this.messageSink !== null) this.messageSink(msg);
      else this.push(msg); // live input cannot be paused: the consumer's buffers absorb bursts
    });
    this.ready = new Promise((resolve, reject) => {
      this.sock.once('error', reject);
      const bindAddr = mc ? undefined : ep.host === '' ? undefined : ep.host;
      this.sock.bind({ port: ep.port, address: bindAddr }, () => {
        this.sock.off('error', reject);
        this.sock.on('error', (err) => this.destroy(err));
        try {
          if (mc) {
            if (ep.source) this.sock.addSourceSpecificMembership(ep.source, ep.host, ep.adapter);
            else this.sock.addMembership(ep.host, ep.adapter);
          }
          this.sock.setRecvBufferSize(ep.rcvbuf ?? 4 * 1024 * 1024);
        } catch (e) {
          if (mc) {
            reject(e);
            return;
          }
        }
        resolve();
      });
    });
  }

  open(): Promise<void> {
    return this.ready;
  }

  /**
   * Hands every datagram to `sink` as it arrives instead of the readable stream (no stream
   * machinery per datagram). Datagrams already buffered go first. Once set it stays; do not also
   * read the stream ('error' and 'close' are still emitted).
   */
  setMessageSink(sink: (msg: Buffer) => void): void {
    let m: Buffer | null;
    while ((m = this.read() as Buffer | null) !== null) sink(m);
    this.messageSink = sink;
  }

  override _read(): void {
    // datagrams are pushed as they arrive
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    try {
      this.sock.close();
    } catch {
      // already closed
    }
    cb(err);
  }
}

/** Sends each written chunk as one datagram to host:port (multicast with ttl/interface). */
export class UdpSink extends Writable {
  readonly sock: dgram.Socket;
  private ready: Promise<void>;
  datagrams = 0;
  sendErrors = 0;

  constructor(readonly ep: UdpEndpoint) {
    super({ objectMode: true, highWaterMark: 256 });
    this.sock = dgram.createSocket({ type: family(ep) });
    this.ready = new Promise((resolve, reject) => {
      this.sock.once('error', reject);
      this.sock.bind({ port: 0, address: isMulticast(ep.host) ? undefined : ep.adapter }, () => {
        try {
          if (isMulticast(ep.host)) {
            if (ep.ttl !== undefined) this.sock.setMulticastTTL(ep.ttl);
            if (ep.adapter) this.sock.setMulticastInterface(ep.adapter);
            this.sock.setMulticastLoopback(true);
          } else if (ep.ttl !== undefined) {
            this.sock.setTTL(ep.ttl);
          }
          this.sock.setSendBufferSize(ep.sndbuf ?? 4 * 1024 * 1024);
        } catch {
          // kernel limits: defaults still work
        }
        // a connected socket sends without a per-datagram address lookup
        this.sock.connect(ep.port, ep.host, () => {
          this.sock.off('error', reject);
          this.sock.on('error', () => { this.sendErrors++; });
          resolve();
        });
      });
    });
  }

  open(): Promise<void> {
    return this.ready;
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.datagrams++;
    // UDP has no backpressure worth waiting for: hand the datagram to the kernel and go on
    this.sock.send(chunk);
    cb();
  }

  /**
   * Sends one datagram at once, without the Writable machinery (the same as write() for a UDP
   * sink, which never waits); ignored once the sink is ending or destroyed.
   */
  send(chunk: Buffer): void {
    if (this.writableEnded || this.destroyed) return;
    this.datagrams++;
    this.sock.send(chunk);
  }

  private sockClosed = false;

  private closeSock(cb: () => void): void {
    if (this.sockClosed) { cb(); return; }
    this.sockClosed = true;
    try {
      this.sock.close(() => cb());
    } catch {
      cb(); // never bound (the bind failed)
    }
  }

  override _final(cb: (err?: Error | null) => void): void {
    // let queued datagrams leave before closing
    setImmediate(() => this.closeSock(() => cb()));
  }

  /** destroy() without end() closes the socket as well (it used to stay open and keep the process alive). */
  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.closeSock(() => cb(err));
  }
}
