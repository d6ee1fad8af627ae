// Route runners: re-streaming between a Sluice server's stream and the outside world. Pull takes
// a remote SRT source (we call it, or it calls us) and publishes it into the server; push sends a
// server stream to a remote SRT listener (or serves it to one caller); UDP in/out do the same with
// unicast or multicast datagrams. The recorder (recorder.ts) is a runner too.
import { EventEmitter } from 'node:events';
import type { SrtStats } from '../protocol/stats.js';
import type { LocalEndpoint } from '../server/local.js';
import type { Server } from '../server/server.js';
import type { SrtSocket } from '../transport/socket.js';
import { Chunker, MAX_LIVE_PAYLOAD, MessageLimiter } from './chunker.js';
import { SrtLink, type LinkConfig } from './link.js';
import { UdpSink, UdpSource, type UdpEndpoint } from './udp.js';

export type RouteKind = 'pull' | 'push' | 'udp-in' | 'udp-out' | 'record';

/** A file the recorder wrote (or is writing): `endedAt` is null while it is open. */
export interface RecordedFile {
  path: string;
  startedAt: string;
  endedAt: string | null;
  bytes: number;
}

export interface RouteEvents {
  /** The outside leg is up: an SRT peer connected, or UDP/stream data started flowing. */
  connected: [peer: string];
  disconnected: [reason: string];
  /** A caller's dial failed or the stream could not be published; it tries again. */
  attemptFailed: [error: Error];
  /** The runner cannot go on (socket error, server stopped); it has released everything. */
  failed: [error: Error];
  fileOpened: [file: RecordedFile];
  /** `rotated`: closed because its time was up (a new file follows), not because the route stopped. */
  fileClosed: [file: RecordedFile, rotated: boolean];
  /** Retention deleted a finished file. */
  fileDeleted: [path: string];
}

/** Seven TS packets: what encoders put in one UDP datagram and what SRT carries per packet. */
export const TS_MESSAGE = 7 * 188;
/** Output beyond this much waiting for the SRT sender is dropped (live data cannot wait). */
const MAX_QUEUED_BYTES = 8 * 1024 * 1024;
/** UDP input or stream data older than this means the source is gone. */
const IDLE_MS = 5000;
/** A reader that lost its stream (publisher gone for good, dropped as slow) attaches again after this. */
const REATTACH_MS = 200;

export abstract class RouteRunner extends EventEmitter<RouteEvents> {
  /** Messages and payload bytes carried (into the server for pull/udp-in, out of it otherwise). */
  messages = 0;
  bytes = 0;
  /** Messages that could not be carried: no peer connected, sender overloaded, stream busy. */
  dropped = 0;
  /** The last reason the outside leg is not up (dial failure, stream busy), cleared on connect. */
  linkError: string | null = null;
  protected closed = false;

  constructor(readonly server: Server, readonly stream: string, readonly label: string) {
    super();
  }

  abstract get connected(): boolean;
  get peer(): string | null {
    return null;
  }
  get reconnections(): number {
    return 0;
  }
  /** libsrt statistics of the SRT leg's current connection (cumulative), or null. */
  srtStats(): SrtStats | null {
    return null;
  }

  /** Binds what must be bound (listener ports, UDP sockets); throws with everything released. */
  abstract start(): Promise<void>;
  abstract close(): Promise<void>;

  /** Reports a fatal error once and releases the runner. */
  protected fail(e: Error): void {
    if (this.closed) return;
    void this.close().finally(() => this.emit('failed', e));
  }
}

/**
 * Keeps one local player of a server stream attached for the life of a route: the server ends
 * local players when their stream ends (publisher gone beyond its grace period) or drops them when
 * they fall behind, and a route must carry on when the stream comes back.
 */
export class StreamReader {
  ep: LocalEndpoint | null = null;
  /** Times the reader attached (the first time and after each stream end). */
  attachments = 0;
  lastDataAt = 0;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    private readonly server: Server,
    private readonly stream: string,
    private readonly label: string,
    private readonly onData: (msg: Buffer) => void,
    private readonly onLost: (reason: string, serverStopped: boolean) => void,
    private readonly opts: { startAtKeyframe?: boolean; queue?: number } = {},
  ) {}

  open(): void {
    if (this.stopped) return;
    const ep = this.server.playLocal(this.stream, this.label, this.opts);
    this.ep = ep;
    this.attachments++;
    ep.on('data', (msg: Buffer) => {
      this.lastDataAt = Date.now();
      this.onData(msg);
    });
    ep.on('close', () => {
      if (this.ep !== ep) return;
      this.ep = null;
      const reason = ep.closeReason ?? 'stream ended';
      const serverStopped = reason === 'server stopped';
      this.onLost(reason, serverStopped);
      if (this.stopped || serverStopped) return;
      this.timer = setTimeout(() => { this.timer = null; this.open(); }, REATTACH_MS);
      this.timer.unref();
    });
  }

  /** True while stream data has arrived within the idle limit. */
  get flowing(): boolean {
    return this.ep !== null && Date.now() - this.lastDataAt < IDLE_MS;
  }

  close(reason: string): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    const ep = this.ep;
    this.ep = null;
    ep?.close(reason);
  }
}

/** A route with an SRT leg: the link keeps it up (caller with backoff, or one-peer listener). */
abstract class SrtRoute extends RouteRunner {
  readonly link: SrtLink;

  constructor(server: Server, stream: string, label: string, link: LinkConfig) {
    super(server, stream, label);
    this.link = new SrtLink(link);
    this.link.on('attemptFailed', (e) => {
      this.linkError = e.message;
      this.emit('attemptFailed', e);
    });
  }

  override get peer(): string | null {
    return this.link.peer;
  }
  override get reconnections(): number {
    return this.link.reconnections;
  }
  override srtStats(): SrtStats | null {
    const s = this.link.socket;
    return s && !s.destroyed ? s.stats() : null;
  }
}

/** Remote SRT source → `server.publishLocal(stream)` while the source is connected. */
export class PullRoute extends SrtRoute {
  private ep: LocalEndpoint | null = null;

  constructor(server: Server, stream: string, label: string, link: LinkConfig) {
    super(server, stream, label, link);
    this.link.on('connected', (s) => this.onConnected(s));
    this.link.on('disconnected', (reason) => this.onDisconnected(reason));
  }

  get connected(): boolean {
    return this.ep !== null;
  }

  async start(): Promise<void> {
    await this.link.open();
  }

  private onConnected(s: SrtSocket): void {
    let ep: LocalEndpoint;
    try {
      // publish only while the source is up, so the stream ends (after the server's grace) when it goes
      ep = this.server.publishLocal(this.stream, this.label);
    } catch (e) {
      // someone else publishes the stream: hang up; a caller retries after its backoff
      this.linkError = (e as Error).message;
      this.emit('attemptFailed', e as Error);
      s.close();
      return;
    }
    this.ep = ep;
    this.linkError = null;
    s.on('data', (msg: Buffer) => {
      if (this.ep !== ep) return;
      this.messages++;
      this.bytes += msg.length;
      ep.write(msg);
    });
    // kicked through the API or closed by the server: drop the source too, so it republishes
    ep.on('close', () => {
      if (this.ep === ep && !s.destroyed) s.close();
    });
    this.emit('connected', `${s.remoteAddress}:${s.remotePort}`);
  }

  private onDisconnected(reason: string): void {
    const ep = this.ep;
    if (!ep) return; // it never published (stream busy): nothing was announced
    this.ep = null;
    ep.close(`source disconnected: ${reason}`);
    if (!this.closed) this.emit('disconnected', reason);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const ep = this.ep;
    this.ep = null;
    ep?.close('route stopped');
    await this.link.close();
  }
}

/** `server.playLocal(stream)` → a remote SRT listener we call, or the one caller of our listener. */
export class PushRoute extends SrtRoute {
  private readonly reader: StreamReader;

  constructor(server: Server, stream: string, label: string, link: LinkConfig) {
    super(server, stream, label, link);
    this.reader = new StreamReader(server, stream, label, (m) => this.forward(m), (reason, stopped) => {
      if (stopped) this.fail(new Error(`stream reader closed: ${reason}`));
    });
    this.link.on('connected', (s) => {
      this.linkError = null;
      s.resume(); // a receiver sends nothing we need: never let its side stall the driver
      this.emit('connected', `${s.remoteAddress}:${s.remotePort}`);
    });
    this.link.on('disconnected', (reason) => { if (!this.closed) this.emit('disconnected', reason); });
  }

  get connected(): boolean {
    return this.link.state === 'connected';
  }

  async start(): Promise<void> {
    try {
      await this.link.open();
    } catch (e) {
      await this.link.close();
      throw e;
    }
    this.reader.open();
  }

  private forward(msg: Buffer): void {
    const s = this.link.socket;
    if (!s || !s.writable || s.writableLength > MAX_QUEUED_BYTES) {
      this.dropped++;
      return;
    }
    this.messages++;
    this.bytes += msg.length;
    s.write(msg);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.reader.close('route stopped');
    await this.link.close();
  }
}

/**
 * UDP (unicast or a multicast group) → `server.publishLocal(stream)`. The stream is published at
 * the first datagram and unpublished after 5 s of silence, like a source that connects and leaves.
 * `chunk: 'ts'` regroups the byte stream into 7×188-byte messages (encoders sending 188 or 1316-byte
 * datagrams both come out as full SRT packets); `'datagram'` keeps each datagram as one message.
 */
export class UdpInRoute extends RouteRunner {
  private source: UdpSource | null = null;
  private ep: LocalEndpoint | null = null;
  private lastDataAt = 0;
  private retryAt = 0;
  private idleTimer: NodeJS.Timeout | null = null;

  constructor(server: Server, stream: string, label: string, readonly udp: UdpEndpoint, readonly chunk: 'ts' | 'datagram' = 'ts') {
    super(server, stream, label);
  }

  get connected(): boolean {
    return this.ep !== null;
  }

  get datagrams(): number {
    return this.source?.datagrams ?? 0;
  }

  async start(): Promise<void> {
    const src = new UdpSource(this.udp);
    try {
      await src.open();
    } catch (e) {
      src.destroy();
      throw e;
    }
    src.on('error', (e) => this.fail(e));
    const messages = this.chunk === 'ts' ? src.pipe(new Chunker(TS_MESSAGE)) : src.pipe(new MessageLimiter(MAX_LIVE_PAYLOAD));
    messages.on('data', (msg: Buffer) => this.publish(msg));
    this.source = src;
    this.idleTimer = setInterval(() => this.checkIdle(), 500);
    this.idleTimer.unref();
  }

  private publish(msg: Buffer): void {
    const now = Date.now();
    this.lastDataAt = now;
    if (!this.ep) {
      if (now < this.retryAt) {
        this.dropped++;
        return;
      }
      try {
        this.ep = this.server.publishLocal(this.stream, this.label);
      } catch (e) {
        // the stream has another publisher: try again in a second, drop the input meanwhile
        this.retryAt = now + 1000;
        this.linkError = (e as Error).message;
        this.dropped++;
        this.emit('attemptFailed', e as Error);
        return;
      }
      const ep = this.ep;
      ep.on('close', () => { if (this.ep === ep) this.ep = null; });
      this.linkError = null;
      this.emit('connected', `${this.udp.host || '*'}:${this.udp.port}`);
    }
    this.messages++;
    this.bytes += msg.length;
    this.ep.write(msg);
  }

  private checkIdle(): void {
    if (!this.ep || Date.now() - this.lastDataAt < IDLE_MS) return;
    const ep = this.ep;
    this.ep = null;
    ep.close(`no UDP input for ${IDLE_MS / 1000} s`);
    this.emit('disconnected', `no UDP input for ${IDLE_MS / 1000} s`);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.idleTimer) clearInterval(this.idleTimer);
    this.source?.destroy();
    this.source = null;
    const ep = this.ep;
    this.ep = null;
    ep?.close('route stopped');
  }
}

/** `server.playLocal(stream)` → one UDP datagram per message (unicast, or multicast with a TTL). */
export class UdpOutRoute extends RouteRunner {
  private sink: UdpSink | null = null;
  private readonly reader: StreamReader;
  private flowTimer: NodeJS.Timeout | null = null;

  constructor(server: Server, stream: string, label: string, readonly udp: UdpEndpoint) {
    super(server, stream, label);
    this.reader = new StreamReader(server, stream, label, (m) => this.forward(m), (reason, stopped) => {
      if (stopped) this.fail(new Error(`stream reader closed: ${reason}`));
    });
  }

  /** True while the stream's data flows out. */
  get connected(): boolean {
    return this.reader.flowing;
  }

  async start(): Promise<void> {
    const sink = new UdpSink(this.udp);
    try {
      await sink.open();
    } catch (e) {
      sink.destroy();
      throw e;
    }
    sink.on('error', (e) => this.fail(e));
    this.sink = sink;
    this.reader.open();
    this.flowTimer = watchFlow(this, () => this.reader.flowing, `${this.udp.host}:${this.udp.port}`);
  }

  private forward(msg: Buffer): void {
    if (!this.sink) return;
    this.messages++;
    this.bytes += msg.length;
    this.sink.write(msg);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.flowTimer) clearInterval(this.flowTimer);
    this.reader.close('route stopped');
    const sink = this.sink;
    this.sink = null;
    if (sink) await new Promise<void>((resolve) => sink.end(() => resolve()));
  }
}

/**
 * Emits connected/disconnected on a runner whose "connection" is data flowing from its stream
 * (UDP output, recorder): checked twice a second.
 */
export function watchFlow(r: RouteRunner, flowing: () => boolean, peer: string): NodeJS.Timeout {
  let was = false;
  const t = setInterval(() => {
    const now = flowing();
    if (now === was) return;
    was = now;
    if (now) r.emit('connected', peer);
    else r.emit('disconnected', `no stream data for ${IDLE_MS / 1000} s`);
  }, 500);
  t.unref();
  return t;
}
