// The driver: one UDP socket, many SRT connections, one timer. This is the only place (with
// clock.ts) that touches sockets and the clock; the protocol state machines stay pure.
import dgram from 'node:dgram';
import dns from 'node:dns';
import { isIP } from 'node:net';
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { CallerHandshake } from '../protocol/caller.js';
import type { Connection } from '../protocol/connection.js';
import { ParseError } from '../protocol/errors.js';
import { ListenerCore, type AcceptDecision, type ConnectRequest } from '../protocol/listener.js';
import { RendezvousCore } from '../protocol/rendezvous.js';
import type { SrtOptions } from '../protocol/options.js';
import { checkControl, CtrlType, datagramDestination, decodePacket, HEADER_SIZE, type ControlPacket, type Packet } from '../protocol/packet.js';
import { SRT_REJ } from '../protocol/reject.js';
import { nowUs, randomCookie, randomIsn, randomSocketId } from './clock.js';
import { DeadlineHeap } from './heap.js';
import { SrtSocket } from './socket.js';

const TIMER_SLACK_US = 300;
const MIN_STEP_US = 100;
/**
 * How late the timer may serve a connection's receiving deadlines (play times, ACK and NAK
 * timers). Every data packet that arrives delivers what is due and serves a due timer at once
 * (onMessage), so while packets keep coming the timer is mostly a fallback; it need not wake the
 * process at each play time, and a Node timer, once armed, always wakes it. 1 ms is the timer's
 * resolution anyway.
 */
const RECEIVE_LATE_US = 1_000;
const ACCEPT_HOOK_TIMEOUT_MS = 10_000;
const UDP_BUFFER_BYTES = 4 * 1024 * 1024;

/**
 * The UDP socket's address lookup. Every datagram sent to a peer goes through it (an unconnected
 * socket resolves the destination of each send); dns.lookup answers an IP literal on the next
 * tick, this answers it at once, so a send leaves immediately instead of through the tick queue.
 * Host names still go to dns.lookup.
 */
function lookup(address: string, family: number, cb: (err: NodeJS.ErrnoException | null, address: string, family: number) => void): void {
  let f = literalFamily.get(address);
  if (f === undefined) {
    f = isIP(address); // a regular expression: remembered, since every send to a peer asks again
    if (f !== 0) {
      if (literalFamily.size >= 4096) literalFamily.clear();
      literalFamily.set(address, f);
    }
  }
  if (f !== 0) cb(null, address, f);
  else dns.lookup(address, family, cb);
}

/** IP literals already seen by lookup(), with their family (4 or 6). */
const literalFamily = new Map<string, number>();

interface Scheduled {
  heapTime: number;
  closed: boolean;
  onTimeout(now: number): void;
}

/** Driver-side state of one established connection. */
export class ConnEntry implements Scheduled {
  heapTime = Infinity;
  closed = false;
  paused = false;
  /** A rendezvous connection keeps its core: it answers the peer's repeated handshakes with AGREEMENT. */
  rdv: RendezvousCore | null = null;
  constructor(readonly mux: Multiplexer, readonly conn: Connection, readonly socket: SrtSocket, readonly address: string, readonly port: number) {}
  onTimeout(now: number): void {
    this.conn.handleTimeout(now);
    this.mux.service(this, now);
  }
}

/** A handshake in progress: a caller's, or a rendezvous (which also takes data packets: "pinning in"). */
interface Connector {
  readonly state: string;
  readonly connection: Connection | null;
  readonly rejectReason: number;
  handlePacket(now: number, p: Packet): void;
  handleTimeout(now: number): void;
  pollTransmit(): Buffer | null;
  nextDeadline(): number;
}

class CallerEntry implements Scheduled {
  heapTime = Infinity;
  closed = false;
  constructor(
    readonly mux: Multiplexer,
    readonly hs: Connector,
    readonly address: string,
    readonly port: number,
    readonly options: SrtOptions,
    readonly resolve: (s: SrtSocket) => void,
    readonly reject: (reason: number) => void,
    readonly rdv: RendezvousCore | null = null,
  ) {}
  onTimeout(now: number): void {
    this.hs.handleTimeout(now);
    this.mux.serviceCaller(this, now);
  }
}

export type AcceptHook = (req: ConnectRequest) => AcceptDecision | void | Promise<AcceptDecision | void>;

export interface MuxStats {
  datagramsReceived: number;
  datagramsInvalid: number;
  datagramsUnknownDestination: number;
  sendErrors: number;
}

/** Owns one UDP socket; demultiplexes by destination socket id and peer address. */
export class Multiplexer extends EventEmitter {
  readonly sock: dgram.Socket;
  private readonly conns = new Map<number, ConnEntry>();
  private readonly callers = new Map<number, CallerEntry>();
  private readonly heap = new DeadlineHeap<Scheduled>();
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Infinity;
  private listener: ListenerCore | null = null;
  private acceptHook: AcceptHook | null = null;
  private closing = false;
  /** Set when the UDP socket is connected to a single peer (a caller): sends skip the address. */
  private connectedPeer: { address: string; port: number } | null = null;
  readonly counters: MuxStats = { datagramsReceived: 0, datagramsInvalid: 0, datagramsUnknownDestination: 0, sendErrors: 0 };

  /** `reusePort`: SO_REUSEPORT, so that sockets of several threads share one port (the kernel spreads peers by address hash). */
  constructor(type: 'udp4' | 'udp6', o: { reusePort?: boolean } = {}) {
    super();
    this.sock = dgram.createSocket({ type, reuseAddr: false, reusePort: o.reusePort === true, lookup: lookup as unknown as typeof dns.lookup });
    this.sock.on('message', (msg, rinfo) => this.onMessage(msg, rinfo.address, rinfo.port));
    this.sock.on('error', (err) => {
      this.counters.sendErrors++;
      this.emit('socketError', err);
    });
  }

  bind(port: number, address?: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.sock.once('error', onError);
      this.sock.bind({ port, address, exclusive: true }, () => {
        this.sock.off('error', onError);
        try {
          this.sock.setRecvBufferSize(UDP_BUFFER_BYTES);
          this.sock.setSendBufferSize(UDP_BUFFER_BYTES);
        } catch {
          // the kernel caps the size; the default still works
        }
        resolve();
      });
    });
  }

  /** Connects the UDP socket to the only peer (caller side): cheaper sends, foreign datagrams filtered by the kernel. */
  connectPeer(address: string, port: number): Promise<void> {
    return new Promise((resolve) => {
      this.sock.connect(port, address, () => {
        this.connectedPeer = { address, port };
        resolve();
      });
    });
  }

  /** Sends one datagram to a peer. */
  sendTo(d: Buffer, port: number, address: string): void {
    if (this.connectedPeer) this.sock.send(d);
    else this.sock.send(d, port, address);
  }

  address(): { address: string; port: number } {
    const a = this.sock.address();
    return { address: a.address, port: a.port };
  }

  get connectionCount(): number {
    return this.conns.size;
  }

  setListener(options: SrtOptions, hook: AcceptHook | null): void {
    this.listener = new ListenerCore({ options, secret: randomBytes(32), now: nowUs(), random: randomBytes });
    this.acceptHook = hook;
  }

  private allocateSocketId(): number {
    for (;;) {
      const id = randomSocketId();
      if (!this.conns.has(id) && !this.callers.has(id)) return id;
    }
  }

  // ------------------------------------------------------------------ input

  private onMessage(msg: Buffer, address: string, port: number): void {
    this.counters.datagramsReceived++;
    // fast path, once per data packet: an established connection's data, without a Packet object
    if (msg.length >= HEADER_SIZE && (msg[0]! & 0x80) === 0) {
      const e = this.conns.get(datagramDestination(msg));
      if (e !== undefined) {
        if (address !== e.address || port !== e.port) {
          e.conn.countInvalid();
          this.counters.datagramsInvalid++;
          return;
        }
        const now = nowUs();
        e.conn.handleData(now, msg);
        // a timer deadline that has passed is served now, as the timer would (see RECEIVE_LATE_US)
        if (now >= e.conn.timeoutAt) e.conn.handleTimeout(now);
        this.service(e, now);
        return;
      }
    }
    const now = nowUs();
    let p: Packet;
    try {
      p = decodePacket(msg);
      if (p.kind === 'control') checkControl(p);
    } catch (e) {
      if (!(e instanceof ParseError)) throw e;
      this.counters.datagramsInvalid++;
      return;
    }
    const dst = p.dstSocketId;
    if (dst !== 0) {
      const e = this.conns.get(dst);
      if (e) {
        if (address !== e.address || port !== e.port) {
          e.conn.countInvalid();
          this.counters.datagramsInvalid++;
          return;
        }
        if (e.rdv && p.kind === 'control' && p.type === CtrlType.Handshake) this.answerRendezvous(e, now, p);
        e.conn.handlePacket(now, p);
        this.service(e, now);
        return;
      }
      const c = this.callers.get(dst);
      if (c && (p.kind === 'control' || c.rdv) && address === c.address && port === c.port) {
        this.feedCaller(c, now, p);
        return;
      }
      this.counters.datagramsUnknownDestination++;
      return;
    }
    if (p.kind === 'control' && p.type === CtrlType.Handshake) {
      if (this.listener) {
        this.onListenerHandshake(now, address, port, p);
        return;
      }
      // libsrt <= 1.3.0 answers callers with destination 0; a rendezvous peer waves to 0 until it knows our id
      for (const c of this.callers.values()) {
        if (c.address === address && c.port === port) {
          this.feedCaller(c, now, p);
          return;
        }
      }
    }
    this.counters.datagramsUnknownDestination++;
  }

  private feedCaller(c: CallerEntry, now: number, p: Packet): void {
    if (p.kind !== 'control' && !c.rdv) return;
    try {
      c.hs.handlePacket(now, p);
    } catch (e) {
      if (!(e instanceof ParseError)) throw e;
      this.counters.datagramsInvalid++;
      return;
    }
    this.serviceCaller(c, now);
  }

  /** A handshake for an established rendezvous connection (the peer missed our AGREEMENT). */
  private answerRendezvous(e: ConnEntry, now: number, p: ControlPacket): void {
    try {
      e.rdv!.handlePacket(now, p);
    } catch (err) {
      if (!(err instanceof ParseError)) throw err;
      return; // the connection counts it as invalid
    }
    let d: Buffer | null;
    while ((d = e.rdv!.pollTransmit()) !== null) this.sendTo(d, e.port, e.address);
  }

  private onListenerHandshake(now: number, address: string, port: number, p: Packet & { kind: 'control' }): void {
    const l = this.listener!;
    const r = l.handleHandshake(now, address, port, p);
    if (r.kind === 'reply') {
      this.sendTo(r.datagram, port, address);
      return;
    }
    if (r.kind === 'ignore') {
      this.counters.datagramsInvalid++;
      return;
    }
    const req = r.request;
    const finish = (decision: AcceptDecision): void => {
      if (this.closing || this.listener !== l) {
        l.abandon(req);
        return;
      }
      const t = nowUs();
      const id = this.allocateSocketId();
      const out = l.decide(t, req, decision, id);
      this.sendTo(out.datagram, req.peerPort, req.peerAddress);
      if (!out.connection) {
        this.emit('rejected', req, out.reason);
        return;
      }
      const e = this.adopt(out.connection, req.peerAddress, req.peerPort);
      this.emit('accepted', e.socket, req);
      this.service(e, t);
    };
    const hook = this.acceptHook;
    if (!hook) {
      finish({});
      return;
    }
    let result: AcceptDecision | void | Promise<AcceptDecision | void>;
    try {
      result = hook(req);
    } catch {
      finish({ reject: SRT_REJ.RESOURCE });
      return;
    }
    if (result && typeof (result as Promise<unknown>).then === 'function') {
      let settled = false;
      const timer = setTimeout(() => {
        if (settled) return;
        settled = true;
        finish({ reject: SRT_REJ.RESOURCE });
      }, ACCEPT_HOOK_TIMEOUT_MS);
      (result as Promise<AcceptDecision | void>).then(
        (d) => { if (!settled) { settled = true; clearTimeout(timer); finish(d ?? {}); } },
        () => { if (!settled) { settled = true; clearTimeout(timer); finish({ reject: SRT_REJ.RESOURCE }); } },
      );
    } else {
      finish((result as AcceptDecision | void) ?? {});
    }
  }

  private adopt(conn: Connection, address: string, port: number): ConnEntry {
    const socket = new SrtSocket();
    const e = new ConnEntry(this, conn, socket, address, port);
    socket.attach(e);
    this.conns.set(conn.localSocketId, e);
    return e;
  }

  // ------------------------------------------------------------------ caller

  connect(address: string, port: number, options: SrtOptions): Promise<SrtSocket> {
    return new Promise((resolve, reject) => {
      const now = nowUs();
      const id = this.allocateSocketId();
      const hs = new CallerHandshake({ options, localSocketId: id, isn: randomIsn(), peerAddress: address, peerPort: port, now, random: randomBytes });
      const c = new CallerEntry(this, hs, address, port, options, resolve, (reason) => reject(reason));
      this.callers.set(id, c);
      this.serviceCaller(c, now);
    });
  }

  /**
   * Rendezvous (HSv5): waves to the peer from this socket until the handshake completes; the
   * socket should be bound to the port the peer targets.
   */
  rendezvous(address: string, port: number, options: SrtOptions, cookie = randomCookie()): Promise<SrtSocket> {
    return new Promise((resolve, reject) => {
      const now = nowUs();
      const id = this.allocateSocketId();
      const hs = new RendezvousCore({
        options, localSocketId: id, isn: randomIsn(), cookie, peerAddress: address, peerPort: port, now, random: randomBytes,
      });
      const c = new CallerEntry(this, hs, address, port, options, resolve, (reason) => reject(reason), hs);
      this.callers.set(id, c);
      this.serviceCaller(c, now);
    });
  }

  serviceCaller(c: CallerEntry, now: number): void {
    let d: Buffer | null;
    while ((d = c.hs.pollTransmit()) !== null) this.sendTo(d, c.port, c.address);
    if (c.hs.state === 'connected') {
      this.callers.delete(c.hs.connection!.localSocketId);
      c.closed = true;
      const e = this.adopt(c.hs.connection!, c.address, c.port);
      e.rdv = c.rdv;
      c.resolve(e.socket);
      this.service(e, now);
      return;
    }
    if (c.hs.state === 'failed') {
      c.closed = true;
      for (const [id, x] of this.callers) if (x === c) this.callers.delete(id);
      c.reject(c.hs.rejectReason);
      return;
    }
    this.schedule(c, c.hs.nextDeadline());
  }

  // ------------------------------------------------------------------ connection service

  /** Moves deliveries, datagrams and events out of a connection and re-arms its deadline. */
  service(e: ConnEntry, now: number): void {
    const c = e.conn;
    if (!e.paused) {
      let d: Buffer | null;
      while ((d = c.pollDelivery(now)) !== null) {
        if (!e.socket.deliver(d)) {
          e.paused = true;
          break;
        }
      }
    }
    let p: Buffer | null;
    while ((p = c.pollTransmit(now)) !== null) this.sendTo(p, e.port, e.address);
    let ev;
    while ((ev = c.pollEvent()) !== null) e.socket.onConnectionEvent(ev);
    if (c.state === 'closed') {
      if (!e.paused && !e.closed) {
        e.closed = true;
        this.conns.delete(c.localSocketId);
        e.socket.onFinished(c.closeReason ?? 'local');
        this.emit('connectionClosed', e);
      }
      return;
    }
    e.socket.onWritable();
    // a deadline already due is served on the next timer tick (never a busy loop)
    this.schedule(e, Math.max(c.nextDeadline(e.paused, RECEIVE_LATE_US), now + MIN_STEP_US));
  }

  /** The application read: resume deliveries that were held back. */
  resume(e: ConnEntry): void {
    if (!e.paused) return;
    e.paused = false;
    this.service(e, nowUs());
  }

  private schedule(s: Scheduled, t: number): void {
    if (t >= s.heapTime) return;
    s.heapTime = t;
    this.heap.push(t, s);
    if (t < this.timerAt - TIMER_SLACK_US) this.arm(t);
  }

  private arm(t: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = t;
    if (t === Infinity) {
      this.timer = null;
      return;
    }
    // whole milliseconds, rounded up: Node keeps one timer list per distinct duration and fires
    // fractional ones early (then waits again), so a fractional delay costs extra wake-ups
    const delayMs = Math.max(1, Math.ceil((t - nowUs()) / 1000));
    this.timer = setTimeout(() => this.onTimer(), delayMs);
  }

  private onTimer(): void {
    this.timer = null;
    this.timerAt = Infinity;
    const now = nowUs();
    // take everything due first, so that a re-armed entry waits for the next tick (no spinning)
    const due: Scheduled[] = [];
    while (this.heap.peekTime() <= now + TIMER_SLACK_US) {
      const t = this.heap.peekTime();
      const s = this.heap.pop()!;
      if (t !== s.heapTime || s.closed) continue;
      s.heapTime = Infinity;
      due.push(s);
    }
    for (const s of due) if (!s.closed) s.onTimeout(now);
    this.arm(this.heap.peekTime());
  }

  // ------------------------------------------------------------------ application calls

  write(e: ConnEntry, payload: Buffer): boolean {
    const ok = e.conn.send(nowUs(), payload);
    if (ok) {
      // writes made in the same tick are transmitted together (one batch encryption, one deadline)
      this.dirty.add(e);
      if (!this.flushQueued) {
        this.flushQueued = true;
        queueMicrotask(this.flushDirty);
      }
    }
    return ok;
  }

  private readonly dirty = new Set<ConnEntry>();
  private flushQueued = false;
  private readonly flushDirty = (): void => {
    this.flushQueued = false;
    const now = nowUs();
    for (const e of this.dirty) if (!e.closed) this.service(e, now);
    this.dirty.clear();
  };

  closeConnection(e: ConnEntry): void {
    if (e.closed) return;
    const now = nowUs();
    e.conn.close(now);
    e.paused = false;
    this.service(e, now);
  }

  private closed: Promise<void> | null = null;

  /** Closes every connection (SHUTDOWN to each peer) and the UDP socket; every call resolves once it is closed. */
  close(): Promise<void> {
    this.closed ??= this.shutdown();
    return this.closed;
  }

  private async shutdown(): Promise<void> {
    this.closing = true;
    for (const e of [...this.conns.values()]) this.closeConnection(e);
    for (const c of [...this.callers.values()]) {
      c.closed = true;
      c.reject(SRT_REJ.CLOSE);
    }
    this.callers.clear();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await new Promise<void>((resolve) => {
      // let queued SHUTDOWN datagrams leave before the socket closes
      setImmediate(() => {
        try {
          this.sock.close(() => resolve());
        } catch {
          resolve();
        }
      });
    });
  }
}
