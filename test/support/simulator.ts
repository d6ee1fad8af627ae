// Deterministic network simulator for the sans-IO protocol core.
//
// A fake clock with an event queue, a seeded PRNG, lossy/jittery/duplicating/bandwidth-limited
// links, and `simulatePair()`, which connects a caller to a listener through two such links,
// streams messages and records every delivery with its simulated time. Each side is the
// production demultiplexer (src/protocol/endpoint.ts, the one src/transport/mux.ts drives over
// UDP) driven the way mux.ts drives it: after any input, send what the endpoint queued, handle its
// events, then arm the one timer at endpoint.nextDeadline(). So the receive fast path, the
// RECEIVE_LATE_US timer rule and the polling order under test are the ones users run.
//
// Everything is a pure function of the seed: no Math.random, no wall clock. Every loop is bounded
// by simulated time and by an event cap.
import type { CallerHandshake } from '../../src/protocol/caller.js';
import type { CloseReason, Connection, ConnectionEvent } from '../../src/protocol/connection.js';
import { Endpoint as SrtEndpoint, type ConnHandle, type EndpointEvent, type EndpointSink, type Transmit } from '../../src/protocol/endpoint.js';
import { resolveOptions, type SrtOptions } from '../../src/protocol/options.js';
import { CtrlType, datagramDestination, decodePacket, HEADER_SIZE } from '../../src/protocol/packet.js';
import { decodeHandshake, HsType } from '../../src/protocol/handshake.js';
import type { RendezvousCore } from '../../src/protocol/rendezvous.js';

// ------------------------------------------------------------------ PRNG

/** mulberry32: a small, fast, well-distributed 32-bit PRNG. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Integer in [lo, hi] (inclusive). */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return p > 0 && this.next() < p;
  }
  /** `n` pseudo-random bytes (key material in simulated encrypted runs). */
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(0, 255);
    return b;
  }
  /** An independent stream derived from this seed and a label. */
  static derive(seed: number, label: string): Rng {
    let h = (seed ^ 0x9e3779b9) >>> 0;
    for (let i = 0; i < label.length; i++) {
      h = Math.imul(h ^ label.charCodeAt(i), 0x01000193) >>> 0;
    }
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
    return new Rng((h ^ (h >>> 16)) >>> 0);
  }
}

// ------------------------------------------------------------------ clock and event queue

interface SimEvent {
  time: number;
  order: number;
  fn: () => void;
}

/** Fake clock + binary-heap event queue; ties run in scheduling order (deterministic). */
export class Simulator {
  now: number;
  eventsRun = 0;
  private readonly heap: SimEvent[] = [];
  private order = 0;

  constructor(startTime = 0) {
    this.now = startTime;
  }

  /** Schedules `fn` at absolute time `t` (never in the past). */
  at(t: number, fn: () => void): void {
    const e: SimEvent = { time: Math.max(t, this.now), order: this.order++, fn };
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  after(dt: number, fn: () => void): void {
    this.at(this.now + dt, fn);
  }

  get pending(): number {
    return this.heap.length;
  }

  private pop(): SimEvent | undefined {
    const h = this.heap;
    if (h.length === 0) return undefined;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < h.length && before(h[l]!, h[m]!)) m = l;
        if (r < h.length && before(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }

  /**
   * Runs events up to (and including) time `until`, or until `stop()` returns true, or until
   * `maxEvents` events have run (then it throws: a runaway simulation is a bug).
   */
  run(until: number, maxEvents: number, stop?: () => boolean): 'time' | 'idle' | 'stopped' {
    let budget = maxEvents;
    for (;;) {
      if (stop?.()) return 'stopped';
      const next = this.heap[0];
      if (!next) return 'idle';
      if (next.time > until) {
        this.now = until;
        return 'time';
      }
      if (budget-- <= 0) throw new Error(`simulation exceeded ${maxEvents} events at t=${this.now} µs`);
      this.pop();
      this.now = next.time;
      this.eventsRun++;
      next.fn();
    }
  }
}

function before(a: SimEvent, b: SimEvent): boolean {
  return a.time < b.time || (a.time === b.time && a.order < b.order);
}

// ------------------------------------------------------------------ links

export interface LinkConfig {
  /** Probability that a datagram is lost. */
  loss?: number;
  /** One-way propagation delay, µs. */
  delayUs?: number;
  /** Extra uniformly distributed delay in [0, jitterUs], µs; reorders datagrams. */
  jitterUs?: number;
  /** Probability that a datagram is delivered twice (the copy gets its own delay). */
  duplicate?: number;
  /** Bottleneck rate, bits/s (serialisation delay, FIFO); 0/undefined = unlimited. */
  bandwidthBps?: number;
  /** With a bandwidth limit: tail-drop when the queue would exceed this delay, µs. */
  queueLimitUs?: number;
  /** Time windows [start, end) (absolute simulated µs) in which every datagram is lost. */
  outages?: [number, number][];
  /** Custom filter: return true to drop this datagram. */
  drop?: (datagram: Buffer, now: number) => boolean;
}

export interface LinkStats {
  sent: number;
  lost: number;
  duplicated: number;
  queueDropped: number;
  delivered: number;
}

/** UDP + IPv4 header bytes counted by the bandwidth limit. */
const UDP_IP_BYTES = 28;

/** One direction of a path. Impairments can be changed at any time (fields are mutable). */
export class Link {
  loss: number;
  delayUs: number;
  jitterUs: number;
  duplicate: number;
  bandwidthBps: number;
  queueLimitUs: number;
  outages: [number, number][];
  drop: ((datagram: Buffer, now: number) => boolean) | undefined;
  /** false = the cable is cut: everything is lost. */
  up = true;
  /** Observer for debugging: every datagram offered to the link and what became of it. */
  tap: ((fate: 'lost' | 'queued' | 'delivered', datagram: Buffer, now: number) => void) | undefined;
  readonly stats: LinkStats = { sent: 0, lost: 0, duplicated: 0, queueDropped: 0, delivered: 0 };
  private busyUntil = 0;

  constructor(
    private readonly sim: Simulator,
    private readonly rng: Rng,
    cfg: LinkConfig,
    private readonly deliver: (datagram: Buffer, sentAt: number) => void,
  ) {
    this.loss = cfg.loss ?? 0;
    this.delayUs = cfg.delayUs ?? 0;
    this.jitterUs = cfg.jitterUs ?? 0;
    this.duplicate = cfg.duplicate ?? 0;
    this.bandwidthBps = cfg.bandwidthBps ?? 0;
    this.queueLimitUs = cfg.queueLimitUs ?? Infinity;
    this.outages = cfg.outages ?? [];
    this.drop = cfg.drop;
  }

  /** Removes loss, duplication, outages and custom drops (delay, jitter and bandwidth stay). */
  clean(): void {
    this.loss = 0;
    this.duplicate = 0;
    this.outages = [];
    this.drop = undefined;
  }

  private inOutage(t: number): boolean {
    for (const [a, b] of this.outages) if (t >= a && t < b) return true;
    return false;
  }

  send(datagram: Buffer): void {
    const now = this.sim.now;
    this.stats.sent++;
    // draw every random number unconditionally so one impairment does not shift another's stream
    const lost = this.rng.chance(this.loss);
    const dup = this.rng.chance(this.duplicate);
    const j1 = this.rng.next() * this.jitterUs;
    const j2 = this.rng.next() * this.jitterUs;
    if (!this.up || this.inOutage(now) || lost || (this.drop?.(datagram, now) ?? false)) {
      this.stats.lost++;
      this.tap?.('lost', datagram, now);
      return;
    }
    this.tap?.('queued', datagram, now);
    let departs = now;
    if (this.bandwidthBps > 0) {
      const start = Math.max(now, this.busyUntil);
      if (start - now > this.queueLimitUs) {
        this.stats.queueDropped++;
        return;
      }
      this.busyUntil = start + ((datagram.length + UDP_IP_BYTES) * 8 * 1e6) / this.bandwidthBps;
      departs = this.busyUntil;
    }
    // the network hands the receiver its own copy, never the sender's buffer
    const copy = Buffer.from(datagram);
    this.sim.at(departs + this.delayUs + j1, () => {
      this.stats.delivered++;
      this.tap?.('delivered', copy, this.sim.now);
      this.deliver(copy, now);
    });
    if (dup) {
      this.stats.duplicated++;
      const copy2 = Buffer.from(datagram);
      this.sim.at(departs + this.delayUs + j2, () => {
        this.stats.delivered++;
        this.tap?.('delivered', copy2, this.sim.now);
        this.deliver(copy2, now);
      });
    }
  }
}

// ------------------------------------------------------------------ messages

export const DEFAULT_PAYLOAD = 1316;

/** A test message: the index in the first 4 bytes, the rest filled with a pattern of the index. */
export function makeMessage(index: number, size = DEFAULT_PAYLOAD): Buffer {
  const b = Buffer.alloc(size, (index * 7 + 3) & 0xff);
  b.writeUInt32BE(index >>> 0, 0);
  return b;
}

/** Index of a test message, or -1 if the payload is not exactly what makeMessage produced. */
export function checkMessage(b: Buffer, size = DEFAULT_PAYLOAD): number {
  if (b.length !== size || b.length < 4) return -1;
  const index = b.readUInt32BE(0);
  const fill = (index * 7 + 3) & 0xff;
  for (let i = 4; i < b.length; i++) if (b[i] !== fill) return -1;
  return index;
}

// ------------------------------------------------------------------ endpoints

export interface Delivery {
  /** Message index (-1: corrupted payload). */
  index: number;
  /** Simulated delivery time, µs. */
  time: number;
  /** When the peer application submitted it, µs (NaN if unknown). */
  sentAt: number;
  /**
   * TSBPD play time from the spec formula: submit time + latency + the time base taken from the
   * handshake (no drift correction, one clock for both sides).
   */
  playTime: number;
  /** Delivered after the connection closed (the final flush). */
  afterClose: boolean;
}

export interface ClosedInfo {
  time: number;
  reason: CloseReason;
  message?: string;
}

/** Same socket id on every draw (a side's only connection), then further ids from the seed. */
function idSource(first: number, rng: Rng): () => number {
  let used = false;
  return () => {
    if (used) return rng.int(1, 0x3fffffff);
    used = true;
    return first;
  };
}

/**
 * One side: the production endpoint (src/protocol/endpoint.ts) bound to this side's address,
 * driven the way src/transport/mux.ts drives it — after any input, send what it queued, handle
 * its events, arm the one timer at nextDeadline() — plus everything observed.
 */
export abstract class Endpoint implements EndpointSink {
  /** The production demultiplexer of this side (null until the side starts: its port is closed). */
  ep: SrtEndpoint | null = null;
  /** This side's connection (the first one for a listener). */
  handle: ConnHandle | null = null;
  conn: Connection | null = null;
  connectedAt = NaN;
  /** Time base of what this side receives: arrival − peer timestamp − peer start (spec §5). */
  tsbpdOffset = NaN;
  /** The peer's clock origin (its start time). */
  peerStart = NaN;
  readonly deliveries: Delivery[] = [];
  readonly events: { time: number; event: ConnectionEvent }[] = [];
  closed: ClosedInfo | null = null;
  /** First arrival time of each message whose data packet reached this side while connected. */
  readonly arrived = new Map<number, number>();
  /** Submit time of each message this side sent (index → µs); NaN if the send was refused. */
  readonly sentAt: number[] = [];
  sendRefused = 0;
  /** Datagrams that reached this side but had no destination (before connect / after close) or were invalid. */
  unroutable = 0;
  /** When the last datagram reached this side, µs. */
  lastArrival = NaN;
  /** Handshake datagrams this side transmitted, with their times (per handshake type). */
  readonly hsSent = new Map<number, { time: number; datagram: Buffer }[]>();
  /** Handshake datagrams that reached this side, with their times (per handshake type). */
  readonly hsReceived = new Map<number, { time: number; datagram: Buffer }[]>();
  /** The local time at which this side's timer is armed (Infinity: not armed). */
  timerAt = Infinity;
  /** Clock rate error of this side, parts per million (its clock runs at 1 + ppm·1e-6). */
  clockPpm = 0;
  /** Simulated time at which this side's clock reads the same as the simulator's. */
  clockOrigin = 0;
  private spinTime = NaN;
  private spinCount = 0;
  link!: Link; // outgoing
  peer!: Endpoint;

  constructor(readonly name: 'caller' | 'listener' | 'a' | 'b', readonly sim: Simulator, readonly seed: number) {}

  /** The peer's latency-adjusted play time of a message this side receives. */
  playTime(peerSentAt: number): number {
    return peerSentAt + this.rcvLatencyUs() + this.tsbpdOffset;
  }

  /** This side's clock: what it passes to the protocol as `now`, µs. */
  localNow(): number {
    const t = this.sim.now;
    return this.clockPpm === 0 ? t : this.clockOrigin + (t - this.clockOrigin) * (1 + this.clockPpm * 1e-6);
  }

  /** Simulated time at which this side's clock reads `local` (never earlier). */
  toSim(local: number): number {
    if (this.clockPpm === 0 || !Number.isFinite(local)) return local;
    return this.clockOrigin + (local - this.clockOrigin) / (1 + this.clockPpm * 1e-6) + 1e-3;
  }

  rcvLatencyUs(): number {
    return this.conn ? this.conn.params.rcvLatencyMs * 1000 : NaN;
  }

  /** Creates this side's production endpoint (its first socket id and ISN fixed by the seed). */
  protected open(socketId: number, isn: number, keys: Rng): SrtEndpoint {
    const more = Rng.derive(socketId, `${this.name}-more-ids`);
    this.ep = new SrtEndpoint({ random: (n) => keys.bytes(n), socketId: idSource(socketId, more), isn: () => isn }, this);
    return this.ep;
  }

  private noteHandshake(map: Map<number, { time: number; datagram: Buffer }[]>, d: Buffer): void {
    if (d.length < HEADER_SIZE || (d[0]! & 0x80) === 0) return;
    try {
      const p = decodePacket(d);
      if (p.kind !== 'control' || p.type !== CtrlType.Handshake) return;
      const t = decodeHandshake(p.cif).type;
      const list = map.get(t) ?? [];
      list.push({ time: this.sim.now, datagram: Buffer.from(d) });
      map.set(t, list);
    } catch {
      // not a handshake
    }
  }

  transmit(d: Buffer): void {
    this.noteHandshake(this.hsSent, d);
    this.link.send(d);
  }

  // EndpointSink: the endpoint hands this side its connection's deliveries
  opened(h: ConnHandle): void {
    h.owner = this;
  }

  deliver(h: ConnHandle, payload: Buffer): boolean {
    this.recordDelivery(payload, this.sim.now, h.conn.state === 'closed');
    return true;
  }

  serviced(): void {
    // nothing waits for send-buffer room in the simulation
  }

  /** mux.ts `drive`: send what the endpoint queued, handle its events, re-arm the timer. */
  protected drive(): void {
    const ep = this.ep!;
    let guard = 0;
    for (;;) {
      let t: Transmit | null;
      while ((t = ep.pollTransmit()) !== null) {
        if (++guard > 1_000_000) throw new Error(`${this.name}: pollTransmit never returned null (seed=${this.seed})`);
        this.onTransmit(t.datagram);
      }
      const ev = ep.pollEvent();
      if (ev === null) break;
      this.onEvent(ev);
    }
    this.afterDrive();
    this.schedule(ep.nextDeadline());
  }

  protected onTransmit(d: Buffer): void {
    this.transmit(d);
  }

  protected afterDrive(): void {
    // subclasses observe their connector here
  }

  protected onEvent(ev: EndpointEvent): void {
    if (ev.type === 'closed') {
      if (ev.handle !== this.handle) return;
      const time = this.sim.now;
      const event: ConnectionEvent = ev.message !== undefined ? { type: 'closed', reason: ev.reason, message: ev.message } : { type: 'closed', reason: ev.reason };
      this.events.push({ time, event });
      if (!this.closed) this.closed = ev.message !== undefined ? { time, reason: ev.reason, message: ev.message } : { time, reason: ev.reason };
    }
  }

  /** Adopts the endpoint's connection as this side's. */
  protected connected(h: ConnHandle): void {
    if (this.handle) return;
    this.handle = h;
    this.conn = h.conn;
    this.connectedAt = this.sim.now;
    this.tsbpdOffset = h.conn.params.tsbpdBase - this.peerStart;
  }

  private recordDelivery(d: Buffer, now: number, afterClose: boolean): void {
    const index = checkMessage(d, d.length);
    const sentAt = index >= 0 ? (this.peer.sentAt[index] ?? NaN) : NaN;
    this.deliveries.push({ index, time: now, sentAt, playTime: this.playTime(sentAt), afterClose });
  }

  /** mux.ts `drive` → `arm`: only ever moves the timer earlier; a superseded one does nothing. */
  schedule(t: number): void {
    if (t >= this.timerAt) return;
    this.timerAt = t;
    if (t === Infinity) return;
    this.sim.at(this.toSim(t), () => {
      if (this.timerAt !== t) return; // superseded
      this.onTimer();
    });
  }

  private onTimer(): void {
    const now = this.sim.now;
    // a deadline that is never in the future would spin the real driver: treat it as a bug
    if (now === this.spinTime) {
      if (++this.spinCount > 1000) {
        throw new Error(`${this.name}: timer keeps firing at t=${now} µs without progress (busy loop, seed=${this.seed})`);
      }
    } else {
      this.spinTime = now;
      this.spinCount = 0;
    }
    this.timerAt = Infinity;
    this.ep!.handleTimeout(this.localNow());
    this.drive();
  }

  /** A datagram arrived from the link, from the peer's address. */
  receive(d: Buffer, address: string, port: number): void {
    this.lastArrival = this.sim.now;
    const ep = this.ep;
    if (!ep) {
      this.unroutable++; // not bound yet
      return;
    }
    this.noteHandshake(this.hsReceived, d);
    const c = this.conn;
    if (c && c.state !== 'closed' && d.length >= HEADER_SIZE + 4 && (d[0]! & 0x80) === 0 && datagramDestination(d) === c.localSocketId) {
      const idx = d.readUInt32BE(HEADER_SIZE);
      if (!this.arrived.has(idx)) this.arrived.set(idx, this.sim.now);
    }
    const k = ep.counters;
    const before = k.datagramsInvalid + k.datagramsUnknownDestination;
    this.beforeReceive(d);
    ep.handleDatagram(this.localNow(), d, address, port);
    this.drive();
    this.afterReceive();
    this.unroutable += k.datagramsInvalid + k.datagramsUnknownDestination - before;
  }

  protected beforeReceive(_d: Buffer): void {
    // the listener marks repeated conclusions here
  }

  protected afterReceive(): void {
    // and unmarks them here
  }

  /** Application send (mux.ts `write`, flushed at once). */
  send(index: number, size: number): boolean {
    const h = this.handle;
    if (!h || h.closed || h.conn.state !== 'connected') {
      this.sentAt[index] = NaN;
      this.sendRefused++;
      return false;
    }
    const now = this.localNow();
    const ok = this.ep!.send(now, h, makeMessage(index, size));
    this.sentAt[index] = ok ? this.sim.now : NaN;
    if (!ok) {
      this.sendRefused++;
      return false;
    }
    this.ep!.flush(now, h);
    this.drive();
    return true;
  }

  /** Application close (mux.ts `closeConnection`). */
  close(): void {
    const h = this.handle;
    if (!h || h.closed) return;
    this.ep!.close(this.localNow(), h);
    this.drive();
  }

  /**
   * Application graceful close (SrtSocket.end(): SO_LINGER): SHUTDOWN once everything sent is
   * acknowledged and the peer had its latency to play the tail out, or once the linger expires.
   */
  shutdown(): void {
    const h = this.handle;
    if (!h || h.closed) return;
    this.ep!.shutdown(this.localNow(), h);
    this.drive();
  }

  /** Delivered message indices in delivery order. */
  deliveredIndices(): number[] {
    return this.deliveries.map((d) => d.index);
  }
}

export class CallerEndpoint extends Endpoint {
  hs!: CallerHandshake;
  socketId = 0;

  start(options: SrtOptions, socketId: number, isn: number): void {
    this.socketId = socketId;
    const ep = this.open(socketId, isn, Rng.derive(isn, 'caller-keys'));
    this.hs = ep.connect(this.localNow(), LISTENER_ADDR, LISTENER_PORT, options).hs as CallerHandshake;
    this.drive();
  }

  protected override onEvent(ev: EndpointEvent): void {
    if (ev.type === 'connected') this.connected(ev.handle);
    super.onEvent(ev);
  }
}

export class ListenerEndpoint extends Endpoint {
  /** Connections the endpoint accepted (must be exactly one per caller). */
  connectionsCreated = 0;
  requests = 0;
  /** Replies to repeated conclusions (after the decision). */
  readonly repeatReplies: Buffer[] = [];
  decisionDatagram: Buffer | null = null;
  socketId = 0;
  private repeatedConclusion = false;

  start(options: SrtOptions, secret: Buffer, socketId: number): void {
    const ep = this.open(socketId, 0, Rng.derive(socketId, 'listener-keys'));
    ep.listen(this.localNow(), options, secret);
    this.socketId = socketId;
  }

  protected override beforeReceive(d: Buffer): void {
    if (!this.decisionDatagram || d.length < HEADER_SIZE || (d[0]! & 0x80) === 0 || datagramDestination(d) !== 0) return;
    try {
      const p = decodePacket(d);
      this.repeatedConclusion = p.kind === 'control' && p.type === CtrlType.Handshake && decodeHandshake(p.cif).type === HsType.Conclusion;
    } catch {
      // not a handshake
    }
  }

  protected override afterReceive(): void {
    this.repeatedConclusion = false;
  }

  protected override onTransmit(d: Buffer): void {
    if (this.repeatedConclusion) this.repeatReplies.push(Buffer.from(d));
    super.onTransmit(d);
  }

  protected override onEvent(ev: EndpointEvent): void {
    if (ev.type === 'request') {
      // the accept decision is taken at once (no hook)
      this.requests++;
      const ep = this.ep!;
      ep.decide(this.localNow(), ev.request, {});
      const t = ep.pollTransmit();
      if (t) {
        this.decisionDatagram = Buffer.from(t.datagram);
        this.transmit(t.datagram);
      }
      return;
    }
    if (ev.type === 'accepted') {
      this.connectionsCreated++;
      this.connected(ev.handle);
    }
    super.onEvent(ev);
  }
}

// ------------------------------------------------------------------ the pair

export const CALLER_ADDR = '10.0.0.1';
export const CALLER_PORT = 40001;
export const LISTENER_ADDR = '10.0.0.2';
export const LISTENER_PORT = 4200;

export interface PairOptions {
  seed: number;
  caller?: Partial<SrtOptions>;
  listener?: Partial<SrtOptions>;
  /** caller → listener. */
  forward?: LinkConfig;
  /** listener → caller. */
  backward?: LinkConfig;
  /** Who sends the message stream. */
  sender?: 'caller' | 'listener' | 'both';
  /** Number of messages in the measured stream. */
  messages?: number;
  /** Extra messages sent after the stream over clean links (loss, duplication and outages off). */
  tail?: number;
  /**
   * Streaming time, µs, during which loss and duplication are suspended (both directions) so the
   * connection learns the RTT before the impairments start (the handshake itself stays lossy).
   */
  warmupUs?: number;
  /** Packets per second. */
  rate?: number;
  payloadSize?: number;
  /** Delay between "both sides connected" and the first message, µs. */
  sendDelayUs?: number;
  /** Simulated time to keep running after the last message, µs (default latency + 2 s). */
  drainUs?: number;
  /** Hard bound on simulated time from the start, µs. */
  maxTimeUs?: number;
  maxEvents?: number;
  /** Clock value at which the simulation starts, µs. */
  startTime?: number;
  /** The caller's initial sequence number (default: random from the seed). */
  isn?: number;
  /**
   * Clock rate errors, ppm (both clocks read `startTime` at the start). With a skew, Delivery.playTime
   * (which assumes one clock) is only approximate: judge `time - sentAt` instead.
   */
  callerClockPpm?: number;
  listenerClockPpm?: number;
  /** Called once both sides are connected, before the first message (schedule actions here). */
  onConnected?: (pair: Pair) => void;
  /** Stop early when this returns true (checked after every event). */
  stopWhen?: (pair: Pair) => boolean;
}

export interface Pair {
  readonly seed: number;
  /** Simulated clock value at the start (both sides' clock origin), µs. */
  readonly startTime: number;
  readonly sim: Simulator;
  readonly caller: CallerEndpoint;
  readonly listener: ListenerEndpoint;
  readonly forward: Link;
  readonly backward: Link;
  /** When both sides had a Connection (NaN if never). */
  connectedAt: number;
  /** First and last message submit times (per sending side, the later of the two for 'both'). */
  sendStart: number;
  sendEnd: number;
  /** How the run ended. */
  outcome: 'time' | 'idle' | 'stopped';
  readonly messages: number;
  readonly total: number;
}

/**
 * Connects a caller and a listener over two simulated links, streams `messages` (+ `tail`)
 * messages at `rate` packets/s from `sender`, and runs until everything had time to arrive.
 */
export function simulatePair(opts: PairOptions): Pair {
  const seed = opts.seed >>> 0;
  const start = opts.startTime ?? 1_000_000_000;
  const sim = new Simulator(start);
  const ids = Rng.derive(seed, 'ids');
  const callerOpts = resolveOptions(opts.caller ?? {});
  const listenerOpts = resolveOptions(opts.listener ?? {});
  const caller = new CallerEndpoint('caller', sim, seed);
  const listener = new ListenerEndpoint('listener', sim, seed);
  const forward = new Link(sim, Rng.derive(seed, 'forward'), opts.forward ?? {}, (d) => listener.receive(d, CALLER_ADDR, CALLER_PORT));
  const backward = new Link(sim, Rng.derive(seed, 'backward'), opts.backward ?? {}, (d) => caller.receive(d, LISTENER_ADDR, LISTENER_PORT));
  caller.link = forward;
  listener.link = backward;
  caller.peer = listener;
  listener.peer = caller;

  const messages = opts.messages ?? 0;
  const tail = opts.tail ?? 0;
  const total = messages + tail;
  const rate = opts.rate ?? 1000;
  const size = opts.payloadSize ?? DEFAULT_PAYLOAD;
  const senderSide = opts.sender ?? 'caller';
  const maxEvents = opts.maxEvents ?? 5_000_000;

  const pair: Pair = {
    seed, startTime: start, sim, caller, listener, forward, backward,
    connectedAt: NaN, sendStart: NaN, sendEnd: NaN, outcome: 'idle', messages, total,
  };

  const secret = Buffer.alloc(32);
  for (let i = 0; i < 32; i++) secret[i] = ids.int(0, 255);
  const listenerId = ids.int(1, 0x3fffffff);
  const callerId = ids.int(1, 0x3fffffff);
  const isn = opts.isn ?? ids.int(0, 0x7fffffff);
  caller.clockOrigin = listener.clockOrigin = start;
  caller.clockPpm = opts.callerClockPpm ?? 0;
  listener.clockPpm = opts.listenerClockPpm ?? 0;
  listener.start(listenerOpts, secret, listenerId);
  listener.peerStart = start; // the caller's clock origin (CallerHandshake startTime)
  caller.peerStart = start; // the listener core's clock origin
  caller.start(callerOpts, callerId, isn);

  const senders: Endpoint[] = senderSide === 'both' ? [caller, listener] : [senderSide === 'caller' ? caller : listener];
  const latencyUs = Math.max(callerOpts.rcvlatency, callerOpts.peerlatency, listenerOpts.rcvlatency, listenerOpts.peerlatency) * 1000;
  const drain = opts.drainUs ?? latencyUs + 2_000_000;
  const conntimeo = Math.max(callerOpts.conntimeo, 1000) * 1000;
  let hardEnd = start + (opts.maxTimeUs ?? conntimeo + 1_000_000 + (total / rate) * 1e6 + (opts.sendDelayUs ?? 0) + drain + 1_000_000);
  let started = false;

  const startSending = (): void => {
    started = true;
    pair.connectedAt = sim.now;
    opts.onConnected?.(pair);
    const t0 = sim.now + (opts.sendDelayUs ?? 0);
    pair.sendStart = t0;
    if (opts.warmupUs) {
      const saved = [forward, backward].map((l) => [l.loss, l.duplicate] as const);
      for (const l of [forward, backward]) {
        l.loss = 0;
        l.duplicate = 0;
      }
      sim.at(t0 + opts.warmupUs, () => {
        [forward, backward].forEach((l, i) => {
          l.loss = saved[i]![0];
          l.duplicate = saved[i]![1];
        });
      });
    }
    const period = 1e6 / rate;
    for (let i = 0; i < total; i++) {
      const t = t0 + Math.round(i * period);
      sim.at(t, () => {
        if (i === messages && tail > 0) {
          forward.clean();
          backward.clean();
        }
        for (const s of senders) s.send(i, size);
      });
    }
    pair.sendEnd = t0 + Math.round((total - 1) * period);
    const end = (total > 0 ? pair.sendEnd : t0) + drain;
    if (opts.maxTimeUs === undefined) hardEnd = end;
    else hardEnd = Math.min(hardEnd, end);
  };

  const stop = (): boolean => {
    if (!started && caller.conn && listener.conn) startSending();
    return opts.stopWhen?.(pair) ?? false;
  };

  // before the connection: bounded by conntimeo (+ margins); afterwards by the stream + drain
  pair.outcome = sim.run(Infinity, maxEvents, () => stop() || sim.now > hardEnd);
  if (sim.now > hardEnd) pair.outcome = 'time';
  return pair;
}

// ------------------------------------------------------------------ rendezvous

export const RDV_A_ADDR = '10.0.1.1';
export const RDV_B_ADDR = '10.0.1.2';
export const RDV_PORT = 5000;

/** One rendezvous peer: the production endpoint with a RendezvousCore, then its Connection. */
export class RendezvousEndpoint extends Endpoint {
  core!: RendezvousCore;
  socketId = 0;
  startedAt = NaN;
  /** Every state the core went through, in order (starting with 'waving'). */
  readonly states: string[] = [];

  start(options: SrtOptions, socketId: number, isn: number, cookie: number, peerAddress: string): void {
    this.socketId = socketId;
    this.startedAt = this.sim.now;
    const ep = this.open(socketId, isn, Rng.derive(isn, `${this.name}-keys`));
    this.core = ep.rendezvous(this.localNow(), peerAddress, RDV_PORT, options, cookie).hs as RendezvousCore;
    this.drive();
  }

  protected override afterDrive(): void {
    if (this.core && this.states[this.states.length - 1] !== this.core.state) this.states.push(this.core.state);
  }

  protected override onEvent(ev: EndpointEvent): void {
    if (ev.type === 'connected') this.connected(ev.handle);
    super.onEvent(ev);
  }
}

export interface RendezvousPairOptions {
  seed: number;
  a?: Partial<SrtOptions>;
  b?: Partial<SrtOptions>;
  /** a → b. */
  ab?: LinkConfig;
  /** b → a. */
  ba?: LinkConfig;
  /** Cookies (default: random from the seed). */
  cookieA?: number;
  cookieB?: number;
  /** B starts this much later, µs (its port is closed until then: what A sends is lost). */
  bDelayUs?: number;
  sender?: 'a' | 'b' | 'both';
  messages?: number;
  rate?: number;
  drainUs?: number;
  /** Hard bound on simulated time from the start, µs. */
  maxTimeUs?: number;
  startTime?: number;
}

export interface RendezvousPair {
  readonly seed: number;
  readonly sim: Simulator;
  readonly a: RendezvousEndpoint;
  readonly b: RendezvousEndpoint;
  readonly ab: Link;
  readonly ba: Link;
  connectedAt: number;
  outcome: 'time' | 'idle' | 'stopped';
}

/** Two RendezvousCores over two simulated links; optionally a message stream once both are connected. */
export function simulateRendezvous(opts: RendezvousPairOptions): RendezvousPair {
  const seed = opts.seed >>> 0;
  const start = opts.startTime ?? 1_000_000_000;
  const sim = new Simulator(start);
  const ids = Rng.derive(seed, 'rdv-ids');
  const aOpts = resolveOptions(opts.a ?? {});
  const bOpts = resolveOptions(opts.b ?? {});
  const a = new RendezvousEndpoint('a', sim, seed);
  const b = new RendezvousEndpoint('b', sim, seed);
  const ab = new Link(sim, Rng.derive(seed, 'ab'), opts.ab ?? {}, (d) => b.receive(d, RDV_A_ADDR, RDV_PORT));
  const ba = new Link(sim, Rng.derive(seed, 'ba'), opts.ba ?? {}, (d) => a.receive(d, RDV_B_ADDR, RDV_PORT));
  a.link = ab;
  b.link = ba;
  a.peer = b;
  b.peer = a;
  a.clockOrigin = b.clockOrigin = start;
  const pair: RendezvousPair = { seed, sim, a, b, ab, ba, connectedAt: NaN, outcome: 'idle' };
  const cookie = (): number => ids.int(1, 0xffffffff) | 0;
  const cookieA = opts.cookieA ?? cookie();
  const cookieB = opts.cookieB ?? cookie();
  const idA = ids.int(1, 0x3fffffff), idB = ids.int(1, 0x3fffffff);
  const isnA = ids.int(0, 0x7fffffff), isnB = ids.int(0, 0x7fffffff);
  const bDelay = opts.bDelayUs ?? 0;
  a.start(aOpts, idA, isnA, cookieA, RDV_B_ADDR);
  a.peerStart = start + bDelay;
  b.peerStart = start;
  sim.at(start + bDelay, () => b.start(bOpts, idB, isnB, cookieB, RDV_A_ADDR));

  const messages = opts.messages ?? 0;
  const rate = opts.rate ?? 1000;
  const senders = opts.sender === 'both' ? [a, b] : opts.sender === 'b' ? [b] : [a];
  const latencyUs = Math.max(aOpts.rcvlatency, aOpts.peerlatency, bOpts.rcvlatency, bOpts.peerlatency) * 1000;
  const drain = opts.drainUs ?? latencyUs + 1_000_000;
  const connectLimit = Math.max(aOpts.conntimeo, bOpts.conntimeo) * 1000 * 10 + bDelay + 1_000_000;
  let hardEnd = start + (opts.maxTimeUs ?? connectLimit + (messages / rate) * 1e6 + drain);
  let started = false;
  const stop = (): boolean => {
    if (!started && a.conn && b.conn) {
      started = true;
      pair.connectedAt = sim.now;
      const period = 1e6 / rate;
      for (let i = 0; i < messages; i++) sim.at(sim.now + Math.round(i * period), () => { for (const s of senders) s.send(i, DEFAULT_PAYLOAD); });
      const end = sim.now + Math.round(messages * period) + drain;
      hardEnd = Math.min(hardEnd, end);
    }
    return false;
  };
  pair.outcome = sim.run(Infinity, 2_000_000, () => stop() || sim.now > hardEnd);
  if (sim.now > hardEnd) pair.outcome = 'time';
  return pair;
}

// ------------------------------------------------------------------ checks shared by the tests

/** Returns a message describing the first violation of "strictly increasing, no duplicates", or null. */
export function orderViolation(indices: readonly number[]): string | null {
  for (let i = 0; i < indices.length; i++) {
    if (indices[i]! < 0) return `corrupted payload at delivery #${i}`;
    if (i > 0 && indices[i]! <= indices[i - 1]!) return `delivery #${i} is message ${indices[i]} after ${indices[i - 1]}`;
  }
  return null;
}

/** Message indices in [0, total) that `e` never delivered. */
export function missingIndices(e: Endpoint, total: number): number[] {
  const got = new Set(e.deliveredIndices());
  const out: number[] = [];
  for (let i = 0; i < total; i++) if (!got.has(i)) out.push(i);
  return out;
}

/** Handshake type constants for assertions. */
export const HS = HsType;

/** Short human-readable form of a datagram, for traces. */
export function describeDatagram(d: Buffer): string {
  try {
    const p = decodePacket(d);
    if (p.kind === 'data') {
      return `DATA seq=${p.seq}${p.retransmitted ? ' R' : ''} idx=${p.payload.length >= 4 ? p.payload.readUInt32BE(0) : '?'}`;
    }
    const names: Record<number, string> = { 0: 'HANDSHAKE', 1: 'KEEPALIVE', 2: 'ACK', 3: 'NAK', 5: 'SHUTDOWN', 6: 'ACKACK', 7: 'DROPREQ' };
    let extra = '';
    if (p.type === CtrlType.Ack) extra = ` no=${p.typeInfo} seq=${p.cif.readUInt32BE(0)}${p.cif.length >= 16 ? ` rtt=${p.cif.readUInt32BE(4)}` : ''}`;
    if (p.type === CtrlType.AckAck) extra = ` no=${p.typeInfo}`;
    if (p.type === CtrlType.Nak || p.type === CtrlType.DropReq) {
      const w: string[] = [];
      for (let i = 0; i + 4 <= p.cif.length; i += 4) {
        const x = p.cif.readUInt32BE(i);
        w.push(x & 0x80000000 ? `${x & 0x7fffffff}-` : `${x}`);
      }
      extra = ` [${w.join(' ')}]`;
    }
    return `${names[p.type] ?? `CTRL${p.type}`}${extra}`;
  } catch {
    return `? ${d.length} bytes`;
  }
}
