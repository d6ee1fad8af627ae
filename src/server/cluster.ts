// A multi-core SRT server (ADR 14): N worker threads, each a Server on the same UDP port with
// SO_REUSEPORT (the kernel spreads peers over the workers by address hash, and every datagram of
// one peer reaches the same worker), coordinated by this, the main thread: which worker has the
// publisher of which stream (claims, so that a second publisher on another worker still gets 1409
// CONFLICT and backup publishers keep their meaning), relays of a stream from the publisher's
// worker to the workers that have players of it, events, statistics, kicks and whitelist changes.
import { EventEmitter } from 'node:events';
import { MessageChannel, Worker } from 'node:worker_threads';
import { SRT_REJX } from '../protocol/reject.js';
import type { FromWorker, ToWorker, WorkerInit, ClusterConnection } from './cluster-worker.js';
import type { ConnectionStatsView, RejectInfo, ServerConfig, StreamStatsView } from './server.js';

export type { ClusterConnection } from './cluster-worker.js';

export interface ClusterServerEvents {
  accepted: [conn: ClusterConnection];
  rejected: [info: RejectInfo & { worker: number }];
  closed: [conn: ClusterConnection, reason: string];
  published: [stream: string, conn: ClusterConnection];
  unpublished: [stream: string];
  playerDropped: [conn: ClusterConnection, reason: string];
  /** A worker thread ended unexpectedly: its connections were closed (each reported), the others go on. */
  workerExit: [index: number, reason: string];
}

/** A connection's statistics with the worker that serves it. */
export type ClusterConnectionStatsView = ConnectionStatsView & { worker: number };

export interface ClusterStreamStatsView extends Omit<StreamStatsView, 'publisher' | 'players'> {
  publisher: ClusterConnectionStatsView | null;
  players: ClusterConnectionStatsView[];
}

export interface WorkerStatsView {
  index: number;
  alive: boolean;
  connections: number;
  publishers: number;
  players: number;
  /** Streams this worker receives from / sends to other workers. */
  relaysIn: number;
  relaysOut: number;
  /** CPU time of the thread, µs (process.threadCpuUsage). */
  cpuUserUs: number;
  cpuSystemUs: number;
  heapUsed: number;
  accepted: number;
  rejected: number;
  playersDropped: number;
}

export interface ClusterOptions {
  /** Worker threads (≥ 1). */
  workers: number;
}

interface StreamReg {
  /** Worker with the stream's publisher (active, or in its grace period); null: none. */
  owner: number | null;
  ownerConn: number | null;
  /** The owner's publisher is connected (not in its grace period). */
  active: boolean;
  /** A publisher let through by us and still handshaking on this worker. */
  claim: { worker: number; until: number } | null;
  /** The backup publisher (conn null while it is handshaking). */
  backup: { worker: number; conn: number | null; until: number } | null;
  /** Workers with players of the stream (or callers about to be). */
  interest: Set<number>;
  /** Relays: target worker → source worker. */
  forwards: Map<number, number>;
}

/** How long a claim of a handshaking publisher holds, ms (a handshake takes milliseconds). */
const CLAIM_MS = 10_000;

interface Slot {
  worker: Worker;
  alive: boolean;
  stopping: boolean;
}

export class ClusterServer extends EventEmitter<ClusterServerEvents> {
  readonly config: ServerConfig;
  readonly workers: number;
  private slots: Slot[] = [];
  private addr: { address: string; port: number } | null = null;
  private readonly streams = new Map<string, StreamReg>();
  private readonly conns = new Map<number, ClusterConnection>();
  private readonly whitelist: Set<string>;
  private nextReq = 1;
  private readonly replies = new Map<number, { worker: number; resolve: (v: unknown) => void }>();

  constructor(config: ServerConfig, o: ClusterOptions) {
    super();
    if (!Number.isInteger(o.workers) || o.workers < 1) throw new RangeError(`workers: ${o.workers} is not a positive integer`);
    if (config.publishPorts && o.workers > 1) throw new RangeError('publishPorts (Flussonic publish ports) are served by one worker only: use workers = 1');
    this.config = config;
    this.workers = o.workers;
    this.whitelist = new Set((config.whitelist ?? []).map(normalise));
  }

  /**
   * Starts the workers one after the other: the first binds the configured port (0 = any), the
   * others the same port. Resolves when all listen — every socket must be in the port's group
   * before peers arrive, since the kernel's choice of socket depends on how many there are.
   */
  async start(): Promise<void> {
    try {
      for (let i = 0; i < this.workers; i++) {
        const port = i === 0 ? this.config.port : this.addr!.port;
        const a = await this.startWorker(i, { ...this.config, port });
        if (i === 0) this.addr = a;
      }
    } catch (e) {
      await this.close();
      throw e;
    }
  }

  private startWorker(index: number, config: ServerConfig): Promise<{ address: string; port: number }> {
    const init: WorkerInit = { config, index, workers: this.workers };
    const worker = new Worker(new URL('./cluster-worker.js', import.meta.url), { workerData: init });
    const slot: Slot = { worker, alive: true, stopping: false };
    this.slots[index] = slot;
    return new Promise((resolve, reject) => {
      let started = false;
      worker.on('message', (m: FromWorker) => {
        if (m.t === 'ready') {
          started = true;
          resolve(m.address);
        } else if (m.t === 'startFailed') {
          started = true;
          reject(new Error(m.message));
        } else this.onMessage(index, m);
      });
      worker.on('error', (e) => {
        if (!started) reject(e);
        else this.onWorkerGone(index, `worker ${index} failed: ${e.message}`);
      });
      worker.on('exit', (code) => {
        if (!started) reject(new Error(`worker ${index} exited (${code}) before listening`));
        this.onWorkerGone(index, `worker ${index} exited (${code})`);
      });
    });
  }

  private send(index: number, m: ToWorker, transfer?: import('node:worker_threads').Transferable[]): void {
    const s = this.slots[index];
    if (s?.alive) s.worker.postMessage(m, transfer);
  }

  private reg(stream: string): StreamReg {
    let r = this.streams.get(stream);
    if (!r) {
      r = { owner: null, ownerConn: null, active: false, claim: null, backup: null, interest: new Set(), forwards: new Map() };
      this.streams.set(stream, r);
    }
    return r;
  }

  private tidy(stream: string): void {
    const r = this.streams.get(stream);
    if (r && r.owner === null && !r.claim && !r.backup && r.interest.size === 0 && r.forwards.size === 0) this.streams.delete(stream);
  }

  /** Relays `stream` from worker `from` to worker `to` (replacing a relay from elsewhere). */
  private relay(stream: string, r: StreamReg, from: number, to: number): void {
    const old = r.forwards.get(to);
    if (old === from) return;
    if (old !== undefined) this.send(old, { t: 'unforward', stream, to });
    const { port1, port2 } = new MessageChannel();
    this.send(from, { t: 'forward', stream, to, port: port1 }, [port1]);
    this.send(to, { t: 'relay', stream, from, port: port2 }, [port2]);
    r.forwards.set(to, from);
  }

  private onMessage(w: number, m: FromWorker): void {
    switch (m.t) {
      case 'claim': {
        const r = this.reg(m.stream);
        const now = Date.now();
        let reject: number | undefined;
        let message: string | undefined;
        if (m.backup) {
          if (r.backup && r.backup.worker !== w && (r.backup.conn !== null || r.backup.until > now)) {
            reject = SRT_REJX.CONFLICT;
            message = `stream "${m.stream}" already has a backup publisher`;
          } else r.backup = { worker: w, conn: null, until: now + CLAIM_MS };
        } else if ((r.owner !== null && r.active) || (r.claim && r.claim.worker !== w && r.claim.until > now)) {
          reject = SRT_REJX.CONFLICT;
          message = `stream "${m.stream}" is already published`;
        } else r.claim = { worker: w, until: now + CLAIM_MS };
        this.send(w, { t: 'answer', reqId: m.reqId, reject, message });
        if (reject !== undefined) this.tidy(m.stream);
        break;
      }
      case 'release': {
        const r = this.streams.get(m.stream);
        if (!r || m.mode !== 'publish') break;
        if (m.backup && r.backup?.worker === w && r.backup.conn === null) r.backup = null;
        if (!m.backup && r.claim?.worker === w) r.claim = null;
        this.tidy(m.stream);
        break;
      }
      case 'subscribe': {
        const r = this.reg(m.stream);
        r.interest.add(w);
        if (r.owner !== null && r.owner !== w) this.relay(m.stream, r, r.owner, w);
        this.send(w, { t: 'answer', reqId: m.reqId });
        break;
      }
      case 'unsubscribe': {
        const r = this.streams.get(m.stream);
        if (!r) break;
        r.interest.delete(w);
        const from = r.forwards.get(w);
        if (from !== undefined) {
          this.send(from, { t: 'unforward', stream: m.stream, to: w });
          r.forwards.delete(w);
        }
        this.tidy(m.stream);
        break;
      }
      case 'accepted': {
        this.conns.set(m.conn.id, m.conn);
        const r = this.streams.get(m.conn.stream);
        if (r && m.conn.role === 'publisher' && r.claim?.worker === w) r.claim = null;
        if (r && m.conn.role === 'backup' && r.backup?.worker === w) r.backup.conn = m.conn.id;
        this.emit('accepted', m.conn);
        break;
      }
      case 'published': {
        const r = this.reg(m.stream);
        r.owner = w;
        r.ownerConn = m.conn.id;
        r.active = true;
        r.claim = null;
        if (r.backup?.conn === m.conn.id) r.backup = null;
        // relays now come from this worker, to every other worker with players
        for (const [to, from] of [...r.forwards]) {
          if (to === w || !r.interest.has(to)) {
            this.send(from, { t: 'unforward', stream: m.stream, to });
            r.forwards.delete(to);
          }
        }
        for (const to of r.interest) if (to !== w) this.relay(m.stream, r, w, to);
        this.emit('published', m.stream, this.conns.get(m.conn.id) ?? m.conn);
        break;
      }
      case 'closed': {
        this.conns.delete(m.conn.id);
        const r = this.streams.get(m.conn.stream);
        if (r && r.ownerConn === m.conn.id) {
          r.active = false;
          // a backup publisher on another worker takes over at once: its worker drops its relay
          if (r.backup && r.backup.conn !== null && r.backup.worker !== w) this.send(r.backup.worker, { t: 'unrelay', stream: m.conn.stream, end: false });
        } else if (r && m.conn.role === 'backup' && r.backup?.conn === m.conn.id) r.backup = null;
        this.emit('closed', m.conn, m.reason);
        break;
      }
      case 'unpublished': {
        const r = this.streams.get(m.stream);
        if (!r || r.owner !== w) break; // a relayed copy of the stream ended on its worker
        this.endStream(m.stream, r, true);
        break;
      }
      case 'rejected': this.emit('rejected', { ...m.info, worker: w }); break;
      case 'playerDropped': this.emit('playerDropped', m.conn, m.reason); break;
      case 'reply': {
        const p = this.replies.get(m.reqId);
        this.replies.delete(m.reqId);
        p?.resolve(m.value);
        break;
      }
      case 'stopped': break;
      default: break;
    }
  }

  /** The stream's owner ended it (or died): relays end, players elsewhere end (`end`) or wait for a grace period. */
  private endStream(stream: string, r: StreamReg, end: boolean): void {
    const owner = r.owner;
    r.owner = null;
    r.ownerConn = null;
    r.active = false;
    for (const [to, from] of r.forwards) {
      this.send(from, { t: 'unforward', stream, to });
      this.send(to, { t: 'unrelay', stream, end });
    }
    r.forwards.clear();
    if (owner !== null) this.emit('unpublished', stream);
    this.tidy(stream);
  }

  private onWorkerGone(index: number, reason: string): void {
    const s = this.slots[index];
    if (!s || !s.alive) return;
    s.alive = false;
    for (const [id, p] of [...this.replies]) {
      if (p.worker !== index) continue;
      this.replies.delete(id);
      p.resolve(null);
    }
    if (s.stopping) return;
    for (const c of [...this.conns.values()]) {
      if (c.worker !== index) continue;
      this.conns.delete(c.id);
      this.emit('closed', c, reason);
    }
    for (const [name, r] of [...this.streams]) {
      r.interest.delete(index);
      if (r.claim?.worker === index) r.claim = null;
      if (r.backup?.worker === index) r.backup = null;
      r.forwards.delete(index);
      if (r.owner === index) {
        // the other workers' players keep their stream for the grace period: a publisher that
        // reconnects (now to a surviving worker) continues it
        this.endStream(name, r, false);
      } else this.tidy(name);
    }
    this.emit('workerExit', index, reason);
  }

  private request<T>(index: number, t: 'stats' | 'workerStats'): Promise<T | null> {
    const s = this.slots[index];
    if (!s?.alive) return Promise.resolve(null);
    return new Promise((resolve) => {
      const reqId = this.nextReq++;
      this.replies.set(reqId, { worker: index, resolve: resolve as (v: unknown) => void });
      s.worker.postMessage({ t, reqId } satisfies ToWorker);
    });
  }

  address(): { address: string; port: number } {
    if (!this.addr) throw new Error('the server is not started');
    return this.addr;
  }

  /** Live statistics per stream, gathered from the workers: the publisher and every player with its worker. */
  async stats(): Promise<ClusterStreamStatsView[]> {
    const per = await Promise.all(this.slots.map((_, i) => this.request<ClusterStreamStatsView[]>(i, 'stats')));
    const out = new Map<string, ClusterStreamStatsView>();
    for (const list of per) {
      for (const st of list ?? []) {
        const o = out.get(st.name);
        if (!o) {
          out.set(st.name, { ...st, players: [...st.players] });
          continue;
        }
        o.players.push(...st.players);
        if (st.publisher) {
          // the owner's counters: a relay only counts what it has relayed
          o.publisher = st.publisher;
          o.messages = st.messages;
          o.bytes = st.bytes;
        }
      }
    }
    return [...out.values()];
  }

  /** Per-worker figures: connections, relays, thread CPU time, counters; alive false for a worker that died. */
  async workerStats(): Promise<WorkerStatsView[]> {
    const per = await Promise.all(this.slots.map((_, i) => this.request<WorkerStatsView>(i, 'workerStats')));
    return per.map((v, i) => v ? { ...v, alive: true } : {
      index: i, alive: false, connections: 0, publishers: 0, players: 0, relaysIn: 0, relaysOut: 0,
      cpuUserUs: 0, cpuSystemUs: 0, heapUsed: 0, accepted: 0, rejected: 0, playersDropped: 0,
    });
  }

  connections(): ClusterConnection[] {
    return [...this.conns.values()];
  }

  /** Streams that have a publisher (or are in its grace period) or players. */
  streamNames(): string[] {
    const names = new Set<string>();
    for (const [n, r] of this.streams) if (r.owner !== null) names.add(n);
    for (const c of this.conns.values()) names.add(c.stream);
    return [...names];
  }

  /** Kicks a connection (SHUTDOWN) on its worker. */
  closeConnection(id: number): boolean {
    const c = this.conns.get(id);
    if (!c) return false;
    this.send(c.worker, { t: 'kick', id: Math.floor((id - 1) / this.workers) + 1 });
    return true;
  }

  addToWhitelist(name: string): void {
    this.whitelist.add(normalise(name));
    for (let i = 0; i < this.slots.length; i++) this.send(i, { t: 'whitelist', add: true, name });
  }

  removeFromWhitelist(name: string): void {
    this.whitelist.delete(normalise(name));
    for (let i = 0; i < this.slots.length; i++) this.send(i, { t: 'whitelist', add: false, name });
  }

  get whitelistEntries(): string[] {
    return [...this.whitelist];
  }

  /**
   * Ends a worker thread as a crash would (operators, tests). Its connections are lost; the others
   * go on. The worker is not restarted: a socket joining the port's group would make the kernel
   * send some peers of the surviving workers to it (ADR 14).
   */
  async terminateWorker(index: number): Promise<void> {
    const s = this.slots[index];
    if (!s?.alive) return;
    await s.worker.terminate();
  }

  async close(): Promise<void> {
    await Promise.all(this.slots.map(async (s) => {
      if (!s) return;
      if (s.alive) {
        s.stopping = true;
        const stopped = new Promise<void>((resolve) => {
          const t = setTimeout(resolve, 5000);
          s.worker.on('message', (m: FromWorker) => { if (m.t === 'stopped') { clearTimeout(t); resolve(); } });
          s.worker.once('exit', () => { clearTimeout(t); resolve(); });
        });
        s.worker.postMessage({ t: 'stop' } satisfies ToWorker);
        await stopped;
      }
      await s.worker.terminate();
    }));
    this.slots = [];
    this.conns.clear();
    this.streams.clear();
  }
}

function normalise(name: string): string {
  return name.replace(/^\/+/, '');
}
