// The demultiplexer of one UDP port as a sans-IO state machine: every SRT connection, handshake
// in progress and listener behind one local address (quinn-proto's `Endpoint`). Both drivers run
// it: src/transport/mux.ts over a real UDP socket and a Node timer, test/support/simulator.ts
// over simulated links and a virtual clock, so every simulated test runs the production path.
//
// Inputs:  handleDatagram(now, d, address, port), handleTimeout(now), connect/rendezvous/listen,
//          decide(now, request, decision), send(now, h, payload) + flush(now, h), resume, close
// Outputs: pollTransmit() -> {datagram, address, port}, pollEvent(), nextDeadline() (a pure
//          read), and per connection the sink's deliver() (synchronous: it says whether to go on)
// All times are µs on the driver's monotonic clock; randomness comes from the driver.
import { CallerHandshake, type CallerState } from './caller.js';
import type { CloseReason, Connection } from './connection.js';
import { ParseError } from './errors.js';
import { DeadlineHeap } from './heap.js';
import type { RandomBytes } from './keying.js';
import { ListenerCore, type AcceptDecision, type ConnectRequest } from './listener.js';
import type { SrtOptions } from './options.js';
import { checkControl, CtrlType, datagramDestination, decodePacket, HEADER_SIZE, type ControlPacket, type Packet } from './packet.js';
import { SRT_REJ } from './reject.js';
import { RendezvousCore, type RendezvousState } from './rendezvous.js';
import { ConnectionGroup, GROUP_ID_BIT, type GroupTypeValue } from './group.js';

/**
 * How late the timer may serve a connection's receiving deadlines (play times, ACK and NAK
 * timers). Every data packet that arrives delivers what is due and serves a due timer at once
 * (the fast path of handleDatagram), so while packets keep coming the timer is mostly a
 * fallback; it need not wake the process at each play time. 1 ms is a Node timer's resolution.
 */
export const RECEIVE_LATE_US = 1_000;
/** Entries due within this much of `now` are served by the same handleTimeout (one wake-up). */
export const TIMER_SLACK_US = 300;
/** A deadline already due is served at least this much later (never a busy loop). */
export const MIN_STEP_US = 100;

export interface EndpointConfig {
  /** Key material and the like (the UDP driver passes crypto.randomBytes). */
  random: RandomBytes;
  /** A random socket id, non-zero, below 2^30; the endpoint retries on a collision. */
  socketId(): number;
  /** A random initial sequence number (31 bits). */
  isn(): number;
  receiveLateUs?: number;
  timerSlackUs?: number;
  minStepUs?: number;
}

/** What the driver does with each connection's deliveries (set once: no closure per packet). */
export interface EndpointSink {
  /** A connection was created (accepted or connected): attach the application side to `h.owner`. */
  opened(h: ConnHandle): void;
  /** One received message, in order; false = the application is full: hold the rest (see resume). */
  deliver(h: ConnHandle, payload: Buffer): boolean;
  /** After each service of a live connection: the send buffer may have room again. */
  serviced(h: ConnHandle): void;
}

interface Scheduled {
  heapTime: number;
  closed: boolean;
}

/** The endpoint's state of one established connection. */
export class ConnHandle implements Scheduled {
  heapTime = Infinity;
  /** Removed from the endpoint (the 'closed' event was queued). */
  closed = false;
  /** The application is not reading: deliveries wait (and their play times do not wake the timer). */
  paused = false;
  closeReason: CloseReason | null = null;
  closeMessage: string | undefined = undefined;
  /** The driver's object for this connection (an SrtSocket, a simulated side). */
  owner: unknown = null;
  /** The connection group this connection is a member of (ADR 16), or null. */
  group: ConnectionGroup | null = null;
  constructor(
    readonly conn: Connection,
    readonly address: string,
    readonly port: number,
    /** A rendezvous connection keeps its core: it answers the peer's repeated handshakes with AGREEMENT. */
    readonly rdv: RendezvousCore | null,
  ) {}
}

/** A handshake in progress: a caller's, or a rendezvous (which also takes data packets: "pinning in"). */
export interface Connector {
  readonly state: CallerState | RendezvousState;
  readonly connection: Connection | null;
  readonly rejectReason: number;
  handlePacket(now: number, p: Packet): void;
  handleTimeout(now: number): void;
  pollTransmit(): Buffer | null;
  nextDeadline(): number;
}

export class ConnectorHandle implements Scheduled {
  heapTime = Infinity;
  closed = false;
  /** The connection, once connected. */
  handle: ConnHandle | null = null;
  owner: unknown = null;
  /** A group member being connected: its group and weight. */
  member: { group: ConnectionGroup; weight: number } | null = null;
  constructor(
    readonly id: number,
    readonly hs: Connector,
    readonly address: string,
    readonly port: number,
    readonly rdv: RendezvousCore | null,
  ) {}
}

export type EndpointEvent =
  /** A caller asks to connect: answer with decide() (or abandon()). */
  | { type: 'request'; request: ConnectRequest }
  | { type: 'accepted'; handle: ConnHandle; request: ConnectRequest }
  | { type: 'rejected'; request: ConnectRequest; reason: number }
  /** A caller or rendezvous connector completed. */
  | { type: 'connected'; connector: ConnectorHandle; handle: ConnHandle }
  | { type: 'failed'; connector: ConnectorHandle; reason: number }
  /** A connection ended and everything it received was delivered. */
  | { type: 'closed'; handle: ConnHandle; reason: CloseReason; message?: string };

/** One datagram to send. pollTransmit() returns the same object each time: copy what you keep. */
export interface Transmit {
  datagram: Buffer;
  address: string;
  port: number;
}

export interface EndpointCounters {
  datagramsReceived: number;
  datagramsInvalid: number;
  datagramsUnknownDestination: number;
}

export class Endpoint {
  private readonly conns = new Map<number, ConnHandle>();
  private readonly connectors = new Map<number, ConnectorHandle>();
  private readonly heap = new DeadlineHeap<ConnHandle | ConnectorHandle>();
  private readonly due: (ConnHandle | ConnectorHandle)[] = [];
  private listener: ListenerCore | null = null;
  /** Listener side: the groups callers' members joined, by the peer's group id. */
  private readonly peerGroups = new Map<number, ConnectionGroup>();
  private readonly receiveLateUs: number;
  private readonly timerSlackUs: number;
  private readonly minStepUs: number;
  // the transmit queue: parallel arrays from txHead (no object per datagram)
  private readonly txData: Buffer[] = [];
  private readonly txAddress: string[] = [];
  private readonly txPort: number[] = [];
  private txHead = 0;
  private readonly tx: Transmit = { datagram: Buffer.alloc(0), address: '', port: 0 };
  private readonly events: EndpointEvent[] = [];
  readonly counters: EndpointCounters = { datagramsReceived: 0, datagramsInvalid: 0, datagramsUnknownDestination: 0 };

  constructor(private readonly cfg: EndpointConfig, private readonly sink: EndpointSink) {
    this.receiveLateUs = cfg.receiveLateUs ?? RECEIVE_LATE_US;
    this.timerSlackUs = cfg.timerSlackUs ?? TIMER_SLACK_US;
    this.minStepUs = cfg.minStepUs ?? MIN_STEP_US;
  }

  get connectionCount(): number {
    return this.conns.size;
  }

  get listening(): boolean {
    return this.listener !== null;
  }

  /** Answers callers from now on (handshakes to socket id 0); `secret` keys the SYN cookies. */
  listen(now: number, options: SrtOptions, secret: Buffer): void {
    this.listener = new ListenerCore({ options, secret, now, random: this.cfg.random });
  }

  stopListening(): void {
    this.listener = null;
  }

  private allocateSocketId(): number {
    for (;;) {
      const id = this.cfg.socketId();
      if (!this.conns.has(id) && !this.connectors.has(id)) return id;
    }
  }

  // ------------------------------------------------------------------ input

  /** One datagram from `address`:`port`. */
  handleDatagram(now: number, d: Buffer, address: string, port: number): void {
    this.counters.datagramsReceived++;
    // fast path, once per data packet: an established connection's data, without a Packet object
    if (d.length >= HEADER_SIZE && (d[0]! & 0x80) === 0) {
      const h = this.conns.get(datagramDestination(d));
      if (h !== undefined) {
        if (address !== h.address || port !== h.port) {
          h.conn.countInvalid();
          this.counters.datagramsInvalid++;
          return;
        }
        const c = h.conn;
        c.handleData(now, d);
        // a timer deadline that has passed is served now, as the timer would (see RECEIVE_LATE_US)
        if (now >= c.timerDeadline()) c.handleTimeout(now);
        this.service(h, now);
        return;
      }
    }
    let p: Packet;
    try {
      p = decodePacket(d);
      if (p.kind === 'control') checkControl(p);
    } catch (e) {
      if (!(e instanceof ParseError)) throw e;
      this.counters.datagramsInvalid++;
      return;
    }
    const dst = p.dstSocketId;
    if (dst !== 0) {
      const h = this.conns.get(dst);
      if (h) {
        if (address !== h.address || port !== h.port) {
          h.conn.countInvalid();
          this.counters.datagramsInvalid++;
          return;
        }
        if (h.rdv && p.kind === 'control' && p.type === CtrlType.Handshake) this.answerRendezvous(h, now, p);
        h.conn.handlePacket(now, p);
        this.service(h, now);
        return;
      }
      const c = this.connectors.get(dst);
      if (c && (p.kind === 'control' || c.rdv) && address === c.address && port === c.port) {
        this.feedConnector(c, now, p);
        return;
      }
      this.counters.datagramsUnknownDestination++;
      return;
    }
    if (p.kind === 'control' && p.type === CtrlType.Handshake) {
      if (this.listener) {
        this.listenerHandshake(now, address, port, p);
        return;
      }
      // libsrt <= 1.3.0 answers callers with destination 0; a rendezvous peer waves to 0 until it knows our id
      for (const c of this.connectors.values()) {
        if (c.address === address && c.port === port) {
          this.feedConnector(c, now, p);
          return;
        }
      }
      // a rendezvous peer that missed our AGREEMENT still waves to 0: its connected core answers
      for (const h of this.conns.values()) {
        if (h.rdv && h.address === address && h.port === port) {
          this.answerRendezvous(h, now, p);
          return;
        }
      }
    }
    this.counters.datagramsUnknownDestination++;
  }

  private feedConnector(c: ConnectorHandle, now: number, p: Packet): void {
    if (p.kind !== 'control' && !c.rdv) return;
    try {
      c.hs.handlePacket(now, p);
    } catch (e) {
      if (!(e instanceof ParseError)) throw e;
      this.counters.datagramsInvalid++;
      return;
    }
    this.serviceConnector(c, now);
  }

  /** A handshake for an established rendezvous connection (the peer missed our AGREEMENT). */
  private answerRendezvous(h: ConnHandle, now: number, p: ControlPacket): void {
    const rdv = h.rdv!;
    try {
      rdv.handlePacket(now, p);
    } catch (err) {
      if (!(err instanceof ParseError)) throw err;
      return; // the connection counts it as invalid
    }
    let d: Buffer | null;
    while ((d = rdv.pollTransmit()) !== null) this.queue(d, h.address, h.port);
  }

  private listenerHandshake(now: number, address: string, port: number, p: ControlPacket): void {
    const r = this.listener!.handleHandshake(now, address, port, p);
    if (r.kind === 'reply') {
      this.queue(r.datagram, address, port);
      return;
    }
    if (r.kind === 'ignore') {
      this.counters.datagramsInvalid++;
      return;
    }
    this.events.push({ type: 'request', request: r.request });
  }

  /**
   * The application's answer to a 'request' event (at once or later): the reply goes out, and an
   * 'accepted' or 'rejected' event follows. Without a listener (stopped meanwhile) it is dropped.
   */
  decide(now: number, req: ConnectRequest, decision: AcceptDecision): void {
    const l = this.listener;
    if (!l) return;
    // a group member joins the group that mirrors its caller's group (one per peer group id)
    let group: ConnectionGroup | null = null;
    if (req.group && decision.reject === undefined) {
      group = this.peerGroups.get(req.group.groupId) ?? null;
      if (group && (group.type !== req.group.groupType || group.live.length === 0)) {
        if (group.type !== req.group.groupType) decision = { reject: SRT_REJ.GROUP };
        else group = null; // every member of the old group is gone: a new group
      }
      if (decision.reject === undefined) {
        const type = req.group.groupType as GroupTypeValue;
        group ??= new ConnectionGroup(this.allocateSocketId() | GROUP_ID_BIT, type, l.startTime, (decision.options?.groupminstabletimeo ?? l.options.groupminstabletimeo));
        decision = { ...decision, group: { groupId: group.id, peerGroupId: req.group.groupId, type, weight: req.group.weight } };
      }
    }
    const out = l.decide(now, req, decision, this.allocateSocketId());
    this.queue(out.datagram, req.peerAddress, req.peerPort);
    if (!out.connection) {
      this.events.push({ type: 'rejected', request: req, reason: out.reason });
      return;
    }
    if (group && req.group) {
      this.peerGroups.set(req.group.groupId, group);
      group.add(out.connection, req.group.weight);
    }
    const h = this.adopt(out.connection, req.peerAddress, req.peerPort, null, group);
    this.events.push({ type: 'accepted', handle: h, request: req });
    this.service(h, now);
  }

  /** Forgets a request that will not be decided (the driver is closing). */
  abandon(req: ConnectRequest): void {
    this.listener?.abandon(req);
  }

  private adopt(conn: Connection, address: string, port: number, rdv: RendezvousCore | null, group: ConnectionGroup | null = null): ConnHandle {
    const h = new ConnHandle(conn, address, port, rdv);
    h.group = group;
    this.conns.set(conn.localSocketId, h);
    this.sink.opened(h);
    return h;
  }

  // ------------------------------------------------------------------ connectors

  /**
   * Starts a caller handshake; a 'connected' or 'failed' event follows. With `member`, the
   * connection joins that group once connected (its GROUP block goes in the conclusion).
   */
  connect(now: number, address: string, port: number, options: SrtOptions, member?: { group: ConnectionGroup; weight: number }): ConnectorHandle {
    const id = this.allocateSocketId();
    const hs = new CallerHandshake({
      options, localSocketId: id, isn: this.cfg.isn(), peerAddress: address, peerPort: port, now, random: this.cfg.random,
      ...(member ? { group: { groupId: member.group.id, groupType: member.group.type, flags: 0, weight: member.weight }, startTime: member.group.startTime } : {}),
    });
    const c = new ConnectorHandle(id, hs, address, port, null);
    c.member = member ?? null;
    return this.startConnector(now, c);
  }

  /** A new connection group of this endpoint (caller side); its members come from connect(…, member). */
  createGroup(now: number, type: GroupTypeValue, minStableTimeoMs = 60): ConnectionGroup {
    return new ConnectionGroup(this.allocateSocketId() | GROUP_ID_BIT, type, now, minStableTimeoMs);
  }

  /**
   * One application message through a group: written to its members with one sequence number
   * (broadcast: all; main/backup: the active one). False when no member could take it.
   */
  sendGroup(now: number, g: ConnectionGroup, payload: Buffer): boolean {
    const written = g.send(now, payload);
    if (written === null) return false;
    this.serviceMembers(now, written);
    return true;
  }

  private serviceMembers(now: number, conns: readonly Connection[]): void {
    for (const c of conns) {
      const h = this.conns.get(c.localSocketId);
      if (h && h.conn === c) this.service(h, now);
    }
  }

  /** Rendezvous (HSv5): waves to the peer until the handshake completes; `cookie` non-zero. */
  rendezvous(now: number, address: string, port: number, options: SrtOptions, cookie: number): ConnectorHandle {
    const id = this.allocateSocketId();
    const hs = new RendezvousCore({
      options, localSocketId: id, isn: this.cfg.isn(), cookie, peerAddress: address, peerPort: port, now, random: this.cfg.random,
    });
    return this.startConnector(now, new ConnectorHandle(id, hs, address, port, hs));
  }

  private startConnector(now: number, c: ConnectorHandle): ConnectorHandle {
    this.connectors.set(c.id, c);
    this.serviceConnector(c, now);
    return c;
  }

  private serviceConnector(c: ConnectorHandle, now: number): void {
    let d: Buffer | null;
    while ((d = c.hs.pollTransmit()) !== null) this.queue(d, c.address, c.port);
    if (c.hs.state === 'connected') {
      this.connectors.delete(c.id);
      c.closed = true;
      if (c.member) c.member.group.add(c.hs.connection!, c.member.weight);
      const h = this.adopt(c.hs.connection!, c.address, c.port, c.rdv, c.member?.group ?? null);
      c.handle = h;
      this.events.push({ type: 'connected', connector: c, handle: h });
      this.service(h, now);
      return;
    }
    if (c.hs.state === 'failed') {
      this.connectors.delete(c.id);
      c.closed = true;
      this.events.push({ type: 'failed', connector: c, reason: c.hs.rejectReason });
      return;
    }
    this.schedule(c, c.hs.nextDeadline());
  }

  // ------------------------------------------------------------------ connection service

  /**
   * The polling order, in one place: deliveries (unless paused), then datagrams, then the
   * connection's events; then the deadline is re-armed (never in the past: a due deadline is
   * served MIN_STEP_US later, not in a busy loop).
   */
  private service(h: ConnHandle, now: number): void {
    const c = h.conn;
    // closed here (the end of a graceful close): what was received is delivered at once
    if (h.paused && c.closeReason === 'local') h.paused = false;
    if (!h.paused) {
      let d: Buffer | null;
      const g = h.group;
      while ((d = c.pollDelivery(now)) !== null) {
        if (g !== null && !g.accept(c.deliveredSeq)) continue; // another member delivered it first
        if (!this.sink.deliver(h, d)) {
          h.paused = true;
          break;
        }
      }
    }
    let p: Buffer | null;
    while ((p = c.pollTransmit(now)) !== null) this.queue(p, h.address, h.port);
    let ev;
    while ((ev = c.pollEvent()) !== null) {
      if (ev.type === 'closed' && h.closeReason === null) {
        h.closeReason = ev.reason;
        h.closeMessage = ev.message;
      }
    }
    if (c.state === 'closed') {
      if (!h.paused && !h.closed) {
        h.closed = true;
        this.conns.delete(c.localSocketId);
        const g = h.group;
        if (g !== null) {
          g.remove(c);
          // the last member gone: a listener forgets the mirror (a new member starts a new group)
          if (g.live.length === 0 && this.peerGroups.get(g.peerId) === g) this.peerGroups.delete(g.peerId);
        }
        const reason = c.closeReason ?? 'local';
        this.events.push(h.closeMessage !== undefined ? { type: 'closed', handle: h, reason, message: h.closeMessage } : { type: 'closed', handle: h, reason });
      }
      return;
    }
    this.sink.serviced(h);
    const next = h.group === null ? c.nextDeadline(h.paused, this.receiveLateUs) : Math.min(c.nextDeadline(h.paused, this.receiveLateUs), h.group.deadline());
    this.schedule(h, Math.max(next, now + this.minStepUs));
  }

  /** Serves a connection after application calls (send): deliveries, datagrams, deadline. */
  flush(now: number, h: ConnHandle): void {
    if (!h.closed) this.service(h, now);
  }

  /** One application message; false when the send buffer is full. Call flush() afterwards (batching writes is allowed). */
  send(now: number, h: ConnHandle, payload: Buffer): boolean {
    return h.conn.send(now, payload);
  }

  /** The application reads again: deliveries held back resume. */
  resume(now: number, h: ConnHandle): void {
    if (!h.paused) return;
    h.paused = false;
    this.service(h, now);
  }

  /** Closes a connection at once: SHUTDOWN to the peer; what was received is still delivered. */
  close(now: number, h: ConnHandle): void {
    if (h.closed) return;
    h.conn.close(now);
    h.paused = false;
    this.service(h, now);
  }

  /**
   * Graceful close (SO_LINGER): the connection waits for the last ACK, lets the peer play the
   * tail out, then sends SHUTDOWN; a 'closed' event follows. Nothing more can be sent.
   */
  shutdown(now: number, h: ConnHandle): void {
    if (h.closed) return;
    h.conn.closeGracefully(now);
    this.service(h, now);
  }

  /** Closes everything: each connection (SHUTDOWN), each connector ('failed' with SRT_REJ_CLOSE), the listener. */
  closeAll(now: number): void {
    this.listener = null;
    for (const h of [...this.conns.values()]) this.close(now, h);
    for (const c of [...this.connectors.values()]) {
      c.closed = true;
      this.events.push({ type: 'failed', connector: c, reason: SRT_REJ.CLOSE });
    }
    this.connectors.clear();
  }

  // ------------------------------------------------------------------ timer table

  private schedule(s: ConnHandle | ConnectorHandle, t: number): void {
    if (t >= s.heapTime) return;
    s.heapTime = t;
    this.heap.push(t, s);
  }

  /**
   * The earliest deadline of any connection or handshake (Infinity: none). A pure read; it may
   * be early (an entry since superseded), never late.
   */
  nextDeadline(): number {
    return this.heap.peekTime();
  }

  /** The timer fired: serves every entry due by `now` (+ the slack). */
  handleTimeout(now: number): void {
    // take everything due first, so that a re-armed entry waits for the next call (no spinning)
    const due = this.due;
    const heap = this.heap;
    const limit = now + this.timerSlackUs;
    while (heap.peekTime() <= limit) {
      const t = heap.peekTime();
      const s = heap.pop()!;
      if (t !== s.heapTime || s.closed) continue;
      s.heapTime = Infinity;
      due.push(s);
    }
    for (let i = 0; i < due.length; i++) {
      const s = due[i]!;
      if (s.closed) continue;
      if (s instanceof ConnHandle) {
        s.conn.handleTimeout(now);
        this.service(s, now);
        // main/backup: a quiet active member hands over to the best idle one
        if (s.group !== null) this.serviceMembers(now, s.group.check(now));
      } else {
        s.hs.handleTimeout(now);
        this.serviceConnector(s, now);
      }
    }
    due.length = 0;
    this.purge();
  }

  /** Drops superseded entries from the top of the heap, so that nextDeadline() is exact there. */
  private purge(): void {
    const heap = this.heap;
    for (;;) {
      const t = heap.peekTime();
      if (t === Infinity) return;
      const s = heap.peekItem()!;
      if (t === s.heapTime && !s.closed) return;
      heap.pop();
    }
  }

  // ------------------------------------------------------------------ outputs

  private queue(d: Buffer, address: string, port: number): void {
    this.txData.push(d);
    this.txAddress.push(address);
    this.txPort.push(port);
  }

  /** The next datagram to send, or null. The returned object is reused by the next call. */
  pollTransmit(): Transmit | null {
    const i = this.txHead;
    if (i >= this.txData.length) {
      if (i > 0) {
        this.txHead = 0;
        this.txData.length = 0;
        this.txAddress.length = 0;
        this.txPort.length = 0;
      }
      return null;
    }
    const t = this.tx;
    t.datagram = this.txData[i]!;
    t.address = this.txAddress[i]!;
    t.port = this.txPort[i]!;
    this.txData[i] = EMPTY;
    this.txHead = i + 1;
    return t;
  }

  pollEvent(): EndpointEvent | null {
    return this.events.shift() ?? null;
  }
}

const EMPTY = Buffer.alloc(0);
