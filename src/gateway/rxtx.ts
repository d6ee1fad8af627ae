// RX and TX gateways: an RX gateway takes SRT in (caller or listener) and sends each message as
// one UDP datagram (unicast or multicast); a TX gateway takes UDP datagrams and sends them over SRT.
import { EventEmitter } from 'node:events';
import type { SrtStats } from '../protocol/stats.js';
import type { GroupStats, SrtSocket } from '../transport/socket.js';
import { sendDatagram } from './chunker.js';
import { SrtLink, type LinkConfig } from './link.js';
import { UdpSink, UdpSource, type UdpEndpoint } from './udp.js';

export interface GatewayEvents {
  connected: [peer: string];
  disconnected: [reason: string];
  attemptFailed: [error: Error, retryMs: number];
  /** The UDP side failed after start; the gateway stops carrying data. */
  error: [error: Error];
}

/** Connected as the RX/TX document counts it: 0 disconnected, 1 connected, 2 waiting/connecting. */
export type ConnectedState = 0 | 1 | 2;


export abstract class Gateway extends EventEmitter<GatewayEvents> {
  readonly link: SrtLink;
  /**
   * Statistics of the last complete interval of the current connection (libsrt names), or null:
   * the rates (mbpsRecvRate, mbpsSendRate) of the last second come from here.
   */
  lastStats: SrtStats | null = null;
  private sampler: NodeJS.Timeout | null = null;
  private running = false;

  constructor(link: LinkConfig, private readonly intervalMs = 1000) {
    super();
    this.link = new SrtLink(link);
    this.link.on('connected', (s) => this.onConnected(s));
    this.link.on('disconnected', (reason) => this.onDisconnected(reason));
    this.link.on('attemptFailed', (e, retryMs) => this.emit('attemptFailed', e, retryMs));
  }

  get connected(): ConnectedState {
    if (!this.running) return 0;
    const st = this.link.state;
    return st === 'connected' ? 1 : st === 'connecting' || st === 'waiting' ? 2 : 0;
  }

  get reconnections(): number {
    return this.link.reconnections;
  }

  /**
   * Statistics of the current connection as of now (its `*Total` counters count since it was
   * established; RTT and bandwidth are current), or null while there is no connection.
   */
  liveStats(): SrtStats | null {
    const s = this.link.socket;
    return this.running && s && !s.destroyed ? s.stats() : null;
  }

  /** A connection group (GroupConnect = 1): the group and each member's statistics as of now, or null. */
  groupStats(): GroupStats | null {
    const s = this.link.socket;
    return this.running && s && !s.destroyed ? s.groupStats() : null;
  }

  /** Opens the UDP side, then the SRT side; throws (with everything released) if either cannot bind. */
  async start(): Promise<void> {
    await this.openUdp();
    try {
      await this.link.open();
    } catch (e) {
      await this.link.close();
      this.closeUdp();
      throw e;
    }
    this.running = true;
  }

  async close(): Promise<void> {
    this.running = false;
    this.stopSampler();
    await this.link.close();
    this.closeUdp();
  }

  protected abstract openUdp(): Promise<void>;
  protected abstract closeUdp(): void;
  protected abstract attach(s: SrtSocket): void;

  private onConnected(s: SrtSocket): void {
    this.lastStats = null;
    s.stats(true); // the first interval starts at the connection
    this.stopSampler();
    this.sampler = setInterval(() => {
      if (!s.destroyed && this.link.socket === s) this.lastStats = s.stats(true);
    }, this.intervalMs);
    this.sampler.unref();
    this.attach(s);
    this.emit('connected', `${s.remoteAddress}:${s.remotePort}`);
  }

  private onDisconnected(reason: string): void {
    this.stopSampler();
    this.lastStats = null; // a link that is down carries nothing: no stale rates
    this.emit('disconnected', reason);
  }

  private stopSampler(): void {
    if (this.sampler) clearInterval(this.sampler);
    this.sampler = null;
  }

  protected fail(e: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', e);
  }
}

export interface RxGatewaySpec {
  link: LinkConfig;
  udpOut: UdpEndpoint;
  statsIntervalMs?: number;
}

/** SRT in → UDP out: one datagram per SRT message. */
export class RxGateway extends Gateway {
  private sink: UdpSink | null = null;

  constructor(readonly spec: RxGatewaySpec) {
    super(spec.link, spec.statsIntervalMs);
  }

  /** Datagrams sent to UdpOut since start. */
  get datagramsOut(): number {
    return this.sink?.datagrams ?? 0;
  }

  protected async openUdp(): Promise<void> {
    const sink = new UdpSink(this.spec.udpOut);
    sink.on('error', (e) => this.fail(e));
    try {
      await sink.open();
    } catch (e) {
      sink.destroy();
      throw e;
    }
    this.sink = sink;
  }

  protected closeUdp(): void {
    this.sink?.end();
    this.sink = null;
  }

  protected attach(s: SrtSocket): void {
    // each message straight to the UDP socket (no stream machinery per message)
    s.setMessageSink((msg) => this.sink?.send(msg));
  }
}

export interface TxGatewaySpec {
  link: LinkConfig;
  udpIn: UdpEndpoint;
  statsIntervalMs?: number;
}

/** UDP in → SRT out: each datagram becomes one SRT message (split if it exceeds a packet). */
export class TxGateway extends Gateway {
  private source: UdpSource | null = null;
  /** Datagrams received while no peer was connected or the sender was overloaded. */
  droppedInput = 0;

  constructor(readonly spec: TxGatewaySpec) {
    super(spec.link, spec.statsIntervalMs);
  }

  get datagramsIn(): number {
    return this.source?.datagrams ?? 0;
  }

  protected async openUdp(): Promise<void> {
    const src = new UdpSource(this.spec.udpIn);
    src.on('error', (e) => this.fail(e));
    try {
      await src.open();
    } catch (e) {
      src.destroy();
      throw e;
    }
    src.setMessageSink((d) => this.forward(d)); // each datagram straight on, no stream per datagram
    this.source = src;
  }

  protected closeUdp(): void {
    this.source?.destroy();
    this.source = null;
  }

  protected attach(s: SrtSocket): void {
    s.resume(); // nothing is expected from the receiver; never let its side stall the driver
  }

  /** A live input is never queued: a datagram that finds no peer or a full send buffer is dropped (and counted), as srt-live-transmit does. */
  private forward(d: Buffer): void {
    const s = this.link.socket;
    if (!s || !s.writable) {
      this.droppedInput++;
      return;
    }
    try {
      this.droppedInput += sendDatagram(s, d);
    } catch {
      this.droppedInput++; // the connection closed under us; the link reconnects or reports it
    }
  }
}
