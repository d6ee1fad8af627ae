// The UDP driver: one UDP socket, one Node timer, around the sans-IO endpoint
// (src/protocol/endpoint.ts), which owns every connection, handshake and the listener behind the
// port. This is the only place (with clock.ts) that touches sockets and the clock.
import dgram from 'node:dgram';
import dns from 'node:dns';
import { isIP } from 'node:net';
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { CloseReason } from '../protocol/connection.js';
import { ConnHandle, Endpoint, TIMER_SLACK_US, type ConnectorHandle, type EndpointSink } from '../protocol/endpoint.js';
import type { AcceptDecision, ConnectRequest } from '../protocol/listener.js';
import type { SrtOptions } from '../protocol/options.js';
import { SRT_REJ } from '../protocol/reject.js';
import type { SrtStats } from '../protocol/stats.js';
import { nowUs, randomCookie, randomIsn, randomSocketId } from './clock.js';
import { SrtRejectedError } from './errors.js';
import { SrtSocket, type GroupStats, type SocketLink } from './socket.js';
import type { ConnectionGroup, GroupTypeValue } from '../protocol/group.js';

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

/** The socket's view of one connection: the narrow interface over the endpoint's handle. */
export class MuxLink implements SocketLink {
  constructor(readonly mux: Multiplexer, readonly h: ConnHandle, readonly socket: SrtSocket) {}
  get socketId(): number { return this.h.conn.localSocketId; }
  get peerSocketId(): number { return this.h.conn.peerSocketId; }
  get streamId(): string { return this.h.conn.streamId; }
  get remoteAddress(): string { return this.h.address; }
  get remotePort(): number { return this.h.port; }
  get pbkeylen(): number {
    const c = this.h.conn;
    return c.tx?.keys.keyLen ?? c.rx?.keys?.keyLen ?? 0;
  }
  get negotiated(): { rcvLatency: number; sndLatency: number; mss: number; peerSrtVersion: number } {
    const p = this.h.conn.params;
    return { rcvLatency: p.rcvLatencyMs, sndLatency: p.sndLatencyMs, mss: p.mss, peerSrtVersion: p.peerSrtVersion };
  }
  get lastHeardUs(): number { return this.h.conn.lastReceivedAt; }
  get packetFilter(): string { return this.h.conn.filter; }
  get streamPiece(): number { return this.h.conn.streamPiece; }
  get open(): boolean { return !this.h.closed && this.h.conn.state === 'connected' && !this.h.conn.closing; }
  stats(clear: boolean): SrtStats { return this.h.conn.stats(nowUs(), clear); }
  send(msg: Buffer): boolean { return this.mux.write(this.h, msg); }
  canSend(): boolean { return this.h.conn.canSend(); }
  resume(): void { this.mux.resume(this.h); }
  close(): void { this.mux.closeConnection(this.h); }
  shutdown(): void { this.mux.shutdownConnection(this.h); }
}

/**
 * A connection group as one socket (bonding, ADR 16): messages go to the group (every member or
 * the active one, one sequence number), deliveries come from whichever member has a message first.
 */
export class GroupLink implements SocketLink {
  readonly handles: ConnHandle[] = [];
  /** The reason of the last member to close. */
  lastReason: CloseReason = 'local';
  finished = false;
  constructor(readonly mux: Multiplexer, readonly group: ConnectionGroup, readonly socket: SrtSocket) {}
  /** A connected member (the first live one) for what one connection answers. */
  private get lead(): ConnHandle | undefined {
    return this.handles.find((h) => !h.closed && h.conn.state === 'connected') ?? this.handles[0];
  }
  get socketId(): number { return this.group.id; }
  get peerSocketId(): number { return this.group.peerId; }
  get streamId(): string { return this.lead?.conn.streamId ?? ''; }
  get remoteAddress(): string { return this.lead?.address ?? ''; }
  get remotePort(): number { return this.lead?.port ?? 0; }
  get pbkeylen(): number {
    const c = this.lead?.conn;
    return c?.tx?.keys.keyLen ?? c?.rx?.keys?.keyLen ?? 0;
  }
  get negotiated(): { rcvLatency: number; sndLatency: number; mss: number; peerSrtVersion: number } {
    const p = this.lead!.conn.params;
    return { rcvLatency: p.rcvLatencyMs, sndLatency: p.sndLatencyMs, mss: p.mss, peerSrtVersion: p.peerSrtVersion };
  }
  get lastHeardUs(): number {
    let t = -Infinity;
    for (const h of this.handles) t = Math.max(t, h.conn.lastReceivedAt);
    return t;
  }
  get packetFilter(): string { return ''; }
  /** Groups carry messages (live mode): one message per write. */
  get streamPiece(): number { return 0; }
  get open(): boolean { return this.handles.some((h) => !h.closed && h.conn.state === 'connected' && !h.conn.closing); }
  /** The lead member's statistics with the group's unique counts (per member: groupStats). */
  stats(clear: boolean): SrtStats {
    const s = this.lead!.conn.stats(nowUs(), clear);
    const c = this.group.counters;
    return { ...s, pktSentUnique: c.pktSentUnique, pktRecvUnique: c.pktRecvUnique };
  }
  groupStats(clear: boolean): GroupStats {
    const c = this.group.counters;
    const now = nowUs();
    return {
      id: this.group.id,
      peerId: this.group.peerId,
      type: this.group.typeName,
      pktSentUnique: c.pktSentUnique,
      pktRecvUnique: c.pktRecvUnique,
      pktRecvDuplicate: c.pktRecvDuplicate,
      switches: c.switches,
      pktBacklogResent: c.pktBacklogResent,
      members: this.group.members.map((m) => {
        const h = this.handles.find((x) => x.conn === m.conn);
        return { socketId: m.conn.localSocketId, address: h?.address ?? m.conn.peerAddress, port: h?.port ?? m.conn.peerPort, weight: m.weight, state: m.state, stats: m.conn.stats(now, clear) };
      }),
    };
  }
  send(msg: Buffer): boolean { return this.mux.writeGroup(this, msg); }
  canSend(): boolean { return this.handles.some((h) => !h.closed && h.conn.canSend()); }
  resume(): void { for (const h of this.handles) this.mux.resume(h); }
  close(): void { for (const h of [...this.handles]) this.mux.closeConnection(h); }
  shutdown(): void { for (const h of [...this.handles]) this.mux.shutdownConnection(h); }
}

export type AcceptHook = (req: ConnectRequest) => AcceptDecision | void | Promise<AcceptDecision | void>;

export interface MuxStats {
  datagramsReceived: number;
  datagramsInvalid: number;
  datagramsUnknownDestination: number;
  sendErrors: number;
}

interface Pending {
  resolve: (s: SrtSocket) => void;
  reject: (reason: number) => void;
}

/** Owns one UDP socket and drives the endpoint behind it. */
export class Multiplexer extends EventEmitter {
  readonly sock: dgram.Socket;
  private readonly endpoint: Endpoint;
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Infinity;
  private acceptHook: AcceptHook | null = null;
  private closing = false;
  /** Set when the UDP socket is connected to a single peer (a caller): sends skip the address. */
  private connectedPeer: { address: string; port: number } | null = null;
  private sendErrors = 0;

  /** `reusePort`: SO_REUSEPORT, so that sockets of several threads share one port (the kernel spreads peers by address hash). */
  constructor(type: 'udp4' | 'udp6', o: { reusePort?: boolean } = {}) {
    super();
    const sink: EndpointSink = {
      opened: (h) => {
        if (h.group !== null) {
          // a group member: every member of one group shares one socket
          let link = this.groupLinks.get(h.group);
          if (!link) {
            const socket = new SrtSocket();
            link = new GroupLink(this, h.group, socket);
            this.groupLinks.set(h.group, link);
            socket.attach(link);
          }
          link.handles.push(h);
          h.owner = link;
          return;
        }
        const socket = new SrtSocket();
        const link = new MuxLink(this, h, socket);
        h.owner = link;
        socket.attach(link);
      },
      deliver: (h, payload) => (h.owner as MuxLink | GroupLink).socket.deliver(payload),
      serviced: (h) => (h.owner as MuxLink | GroupLink).socket.onWritable(),
    };
    this.endpoint = new Endpoint({ random: randomBytes, socketId: randomSocketId, isn: randomIsn }, sink);
    this.sock = dgram.createSocket({ type, reuseAddr: false, reusePort: o.reusePort === true, lookup: lookup as unknown as typeof dns.lookup });
    this.sock.on('message', (msg, rinfo) => this.onMessage(msg, rinfo.address, rinfo.port));
    this.sock.on('error', (err) => {
      this.sendErrors++;
      this.emit('socketError', err);
    });
  }

  get counters(): MuxStats {
    const c = this.endpoint.counters;
    return {
      datagramsReceived: c.datagramsReceived,
      datagramsInvalid: c.datagramsInvalid,
      datagramsUnknownDestination: c.datagramsUnknownDestination,
      sendErrors: this.sendErrors,
    };
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

  address(): { address: string; port: number } {
    const a = this.sock.address();
    return { address: a.address, port: a.port };
  }

  get connectionCount(): number {
    return this.endpoint.connectionCount;
  }

  setListener(options: SrtOptions, hook: AcceptHook | null): void {
    this.endpoint.listen(nowUs(), options, randomBytes(32));
    this.acceptHook = hook;
  }

  // ------------------------------------------------------------------ endpoint I/O

  private onMessage(msg: Buffer, address: string, port: number): void {
    this.endpoint.handleDatagram(nowUs(), msg, address, port);
    this.drive();
  }

  /** Sends what the endpoint queued, handles its events and re-arms the timer: after every endpoint call. */
  private drive(): void {
    const ep = this.endpoint;
    for (;;) {
      let t;
      while ((t = ep.pollTransmit()) !== null) {
        if (this.connectedPeer) this.sock.send(t.datagram);
        else this.sock.send(t.datagram, t.port, t.address);
      }
      const ev = ep.pollEvent();
      if (ev === null) break;
      switch (ev.type) {
        case 'request':
          this.onRequest(ev.request);
          break;
        case 'accepted': {
          const owner = ev.handle.owner as MuxLink | GroupLink;
          // a group is one connection for the application: announced with its first member
          if (owner instanceof GroupLink) {
            if (owner.handles.length === 1) this.emit('accepted', owner.socket, ev.request);
            else this.emit('memberAccepted', owner.socket, ev.request);
          } else {
            this.emit('accepted', owner.socket, ev.request);
          }
          break;
        }
        case 'rejected':
          this.emit('rejected', ev.request, ev.reason);
          break;
        case 'connected': {
          const p = ev.connector.owner as Pending;
          p.resolve((ev.handle.owner as MuxLink | GroupLink).socket);
          break;
        }
        case 'failed':
          (ev.connector.owner as Pending).reject(ev.reason);
          break;
        case 'closed':
          this.onClosed(ev.handle, ev.reason);
          break;
      }
    }
    const next = ep.nextDeadline();
    if (next < this.timerAt - TIMER_SLACK_US) this.arm(next);
  }

  private onClosed(h: ConnHandle, reason: CloseReason): void {
    const link = h.owner as MuxLink | GroupLink;
    if (link instanceof GroupLink) {
      // the group ends with its last member (a caller group also when no member is still connecting)
      link.lastReason = reason;
      this.emit('memberClosed', link, h);
      if (!link.finished && !link.open && this.pendingMembers.get(link.group) === undefined) {
        link.finished = true;
        this.groupLinks.delete(link.group);
        link.socket.onFinished(reason);
        this.emit('connectionClosed', link);
      }
      return;
    }
    link.socket.onFinished(reason);
    this.emit('connectionClosed', link);
  }

  private readonly groupLinks = new Map<ConnectionGroup, GroupLink>();
  /** Caller groups: members still connecting. */
  private readonly pendingMembers = new Map<ConnectionGroup, number>();

  /**
   * A caller group (bonding, ADR 16): one member connection to each node, all in one new group.
   * Resolves with the group's socket when the first member connects (libsrt srt_connect_group);
   * the others join as they connect. Rejects with the last member's reason if none connects.
   */
  connectGroup(type: GroupTypeValue, nodes: readonly { address: string; port: number; weight: number }[], options: SrtOptions): Promise<SrtSocket> {
    return new Promise((resolve, reject) => {
      if (this.closing) {
        reject(new SrtRejectedError(SRT_REJ.CLOSE));
        return;
      }
      if (nodes.length === 0) {
        reject(new SrtRejectedError(SRT_REJ.UNKNOWN));
        return;
      }
      const now = nowUs();
      const group = this.endpoint.createGroup(now, type, options.groupminstabletimeo);
      let waiting = nodes.length;
      let done = false;
      this.pendingMembers.set(group, waiting);
      const settleMember = (): void => {
        waiting--;
        if (waiting > 0) this.pendingMembers.set(group, waiting);
        else this.pendingMembers.delete(group);
      };
      for (const n of nodes) {
        const c = this.endpoint.connect(now, n.address, n.port, options, { group, weight: n.weight });
        c.owner = {
          resolve: (s: SrtSocket) => {
            settleMember();
            if (!done) {
              done = true;
              resolve(s);
            }
          },
          reject: (reason: number) => {
            settleMember();
            const link = this.groupLinks.get(group);
            if (waiting === 0 && link && !link.open && !link.finished) {
              link.finished = true;
              this.groupLinks.delete(group);
              link.socket.onFinished(link.lastReason);
              this.emit('connectionClosed', link);
            }
            if (!done && waiting === 0) {
              done = true;
              reject(new SrtRejectedError(reason));
            }
          },
        } satisfies Pending;
      }
      this.drive();
    });
  }

  /** One message through a group (see GroupLink). */
  writeGroup(link: GroupLink, payload: Buffer): boolean {
    const ok = this.endpoint.sendGroup(nowUs(), link.group, payload);
    this.drive();
    return ok;
  }

  private onRequest(req: ConnectRequest): void {
    const finish = (decision: AcceptDecision): void => {
      if (this.closing) {
        this.endpoint.abandon(req);
        return;
      }
      this.endpoint.decide(nowUs(), req, decision);
      this.drive();
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

  // ------------------------------------------------------------------ caller

  connect(address: string, port: number, options: SrtOptions): Promise<SrtSocket> {
    return this.startConnector((now) => this.endpoint.connect(now, address, port, options));
  }

  /**
   * Rendezvous (HSv5): waves to the peer from this socket until the handshake completes; the
   * socket should be bound to the port the peer targets.
   */
  rendezvous(address: string, port: number, options: SrtOptions, cookie = randomCookie()): Promise<SrtSocket> {
    return this.startConnector((now) => this.endpoint.rendezvous(now, address, port, options, cookie));
  }

  private startConnector(start: (now: number) => ConnectorHandle): Promise<SrtSocket> {
    return new Promise((resolve, reject) => {
      if (this.closing) {
        reject(new SrtRejectedError(SRT_REJ.CLOSE));
        return;
      }
      const c = start(nowUs());
      c.owner = { resolve, reject: (reason: number) => reject(new SrtRejectedError(reason)) } satisfies Pending;
      this.drive();
    });
  }

  // ------------------------------------------------------------------ timer

  private arm(t: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = t;
    if (t === Infinity || this.closing) {
      this.timer = null;
      this.timerAt = Infinity;
      return;
    }
    // whole milliseconds, rounded up: Node keeps one timer list per distinct duration and fires
    // fractional ones early (then waits again), so a fractional delay costs extra wake-ups
    const delayMs = Math.max(1, Math.ceil((t - nowUs()) / 1000));
    this.timer = setTimeout(this.onTimer, delayMs);
  }

  private readonly onTimer = (): void => {
    this.timer = null;
    this.timerAt = Infinity;
    this.endpoint.handleTimeout(nowUs());
    this.drive();
  };

  // ------------------------------------------------------------------ application calls

  write(h: ConnHandle, payload: Buffer): boolean {
    const ok = this.endpoint.send(nowUs(), h, payload);
    if (ok) {
      // writes made in the same tick are transmitted together (one batch encryption, one deadline)
      this.dirty.add(h);
      if (!this.flushQueued) {
        this.flushQueued = true;
        queueMicrotask(this.flushDirty);
      }
    }
    return ok;
  }

  private readonly dirty = new Set<ConnHandle>();
  private flushQueued = false;
  private readonly flushDirty = (): void => {
    this.flushQueued = false;
    const now = nowUs();
    for (const h of this.dirty) this.endpoint.flush(now, h);
    this.dirty.clear();
    this.drive();
  };

  /** The application reads again: deliveries held back resume. */
  resume(h: ConnHandle): void {
    if (!h.paused) return;
    this.endpoint.resume(nowUs(), h);
    this.drive();
  }

  /** Graceful close, driven by the connection's timer. */
  shutdownConnection(h: ConnHandle): void {
    if (h.closed) return;
    this.endpoint.shutdown(nowUs(), h);
    this.drive();
  }

  closeConnection(h: ConnHandle): void {
    if (h.closed) return;
    this.endpoint.close(nowUs(), h);
    this.drive();
  }

  private closed: Promise<void> | null = null;

  /** Closes every connection (SHUTDOWN to each peer) and the UDP socket; every call resolves once it is closed. */
  close(): Promise<void> {
    this.closed ??= this.shutdown();
    return this.closed;
  }

  private async shutdown(): Promise<void> {
    this.closing = true;
    this.endpoint.closeAll(nowUs());
    this.drive();
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
