// The Sluice SRT server: many publishers and players on one UDP port, routed by stream id,
// transparent fan-out (no remuxing), access control with SRT's real rejection codes (ADR 6).
// This class orchestrates: its listeners' accept hooks run the pure access rules (access.ts)
// around the HTTP backends (backends.ts) and a cluster's route hook, and reserve the caller; the
// registry (registry.ts) routes connections, fans out and keeps the streams.
import { timingSafeEqual } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { ConnectRequest, AcceptDecision } from '../protocol/listener.js';
import type { SrtOptions } from '../protocol/options.js';
import { SRT_REJX } from '../protocol/reject.js';
import { listen, type SrtServer } from '../transport/api.js';
import { SrtRejectedError } from '../transport/errors.js';
import type { SrtSocket } from '../transport/socket.js';
import { admitStreamId, applyHookAnswer, checkWhitelist, isRejection, normaliseName, place, publisherConflict, type Admission, type Rejection } from './access.js';
import { callAuthHook, ConfigBackend } from './backends.js';
import { LocalEndpoint } from './local.js';
import { StreamRegistry } from './registry.js';
import { parseStreamId, type ParsedStreamId, type StreamMode } from './streamid.js';
import {
  MAX_PUBLISH_PORTS, type ConnectionRole, type ConnectionStatsView, type ServerConfig, type ServerConnection, type ServerEvents,
  type StreamStatsView,
} from './types.js';

export {
  MAX_PUBLISH_PORTS, type AuthHookConfig, type ConnectionRole, type ConnectionStatsView, type PublishPortRange, type RejectInfo,
  type ServerConfig, type ServerConnection, type ServerEvents, type StreamCredentials, type StreamStatsView, type UserEntry,
} from './types.js';

/**
 * How a Server is run inside a ClusterServer worker (ADR 14); not user configuration.
 * `route` is asked after access control and before the local routing decision of every
 * publisher, backup and player (cluster-wide publisher claims, relays of remote publishers);
 * it may refuse with an SRT rejection code.
 */
export interface ServerRuntime {
  reusePort?: boolean;
  route?: (name: string, mode: StreamMode, backup: boolean) => Promise<{ reject: number; message: string } | undefined>;
  /** A caller `route` let through did not become a connection (refused here, or its handshake failed). */
  release?: (name: string, mode: StreamMode, backup: boolean) => void;
  /**
   * Scale-out (ADR 17): the secret another node of the same database presents when it pulls a
   * stream from this one (`#!::r=NAME,m=request,node=NODE,nodekey=SECRET`). Such a caller is a
   * player of NAME with the stream's read passphrase (else the server's); the token, users, auth
   * hook, whitelist and `route` do not apply to it.
   */
  nodeCredential?: string;
}

/** The `user` of a connection from another node (an edge pulling a stream): `node:NAME`. */
export const NODE_USER_PREFIX = 'node:';

export class Server extends EventEmitter<ServerEvents> {
  readonly config: ServerConfig;
  private srt: SrtServer | null = null;
  private readonly portListeners: SrtServer[] = [];
  private readonly configBackend: ConfigBackend | null;
  private readonly whitelist: Set<string>;
  readonly counters = { accepted: 0, rejected: 0, playersDropped: 0 };
  private readonly registry: StreamRegistry;

  constructor(config: ServerConfig, private readonly runtime: ServerRuntime = {}) {
    super();
    this.config = { accessMode: 'accept-all', publisherGraceMs: 5000, playerQueue: 4096, ...config };
    this.whitelist = new Set((config.whitelist ?? []).map(normaliseName));
    this.configBackend = config.publishPorts ? new ConfigBackend(config.publishPorts) : null;
    this.registry = new StreamRegistry(this.config, this, this.counters);
  }

  async start(): Promise<void> {
    const srv = await listen({
      ...(this.config.srt ?? {}),
      host: this.config.host,
      port: this.config.port,
      accept: (req) => this.decide(req),
      reusePort: this.runtime.reusePort,
    });
    this.srt = srv;
    this.wire(srv);
    const r = this.config.publishPorts;
    if (r) {
      if (!Number.isInteger(r.first) || !Number.isInteger(r.last) || r.first < 1 || r.last > 65535 || r.last < r.first) {
        throw new RangeError(`publishPorts: ${r.first}..${r.last} is not a port range within 1..65535`);
      }
      if (r.last - r.first + 1 > MAX_PUBLISH_PORTS) throw new RangeError(`publishPorts: at most ${MAX_PUBLISH_PORTS} ports (got ${r.last - r.first + 1})`);
      try {
        for (let p = r.first; p <= r.last; p++) {
          const port = p;
          const l = await listen({ ...(this.config.srt ?? {}), host: this.config.host, port, accept: (req) => this.decidePortPublish(port, req) });
          this.portListeners.push(l);
          this.wire(l);
        }
      } catch (e) {
        await this.close();
        throw e;
      }
    }
  }

  private wire(srv: SrtServer): void {
    srv.on('connection', (s, req) => this.onConnection(s, req));
    srv.on('rejected', (req, reason) => {
      // rejected by the transport after our decision (e.g. wrong passphrase): release it
      // (our own rejections were counted and reported when we decided)
      const p = this.registry.reservations.get(req);
      if (!p) return;
      this.registry.reservations.delete(req);
      this.runtime.release?.(p.name, p.mode, p.backup === true);
      this.counters.rejected++;
      this.emit('rejected', { streamId: req.streamId, peer: p.peer, reason, message: 'handshake failed after the access check (passphrase)' });
    });
  }

  address(): { address: string; port: number } {
    return this.srt!.address();
  }

  // ------------------------------------------------------------------ access control

  /** Runs a listener's decision; a refusal is counted, reported (`rejected`) and answered with its code. */
  private async answer(streamId: string, peer: string, decision: () => Promise<AcceptDecision>): Promise<AcceptDecision> {
    try {
      return await decision();
    } catch (e) {
      const r = e instanceof SrtRejectedError ? e : new SrtRejectedError(SRT_REJX.ISE, String(e as Error)); // StreamIdError is one too
      this.counters.rejected++;
      this.emit('rejected', { streamId, peer, reason: r.reason, message: r.message });
      return { reject: r.reason };
    }
  }

  private decide(req: ConnectRequest): Promise<AcceptDecision> {
    return this.answer(req.streamId, `${req.peerAddress}:${req.peerPort}`, () => this.check(req));
  }

  private async check(req: ConnectRequest): Promise<AcceptDecision> {
    const c = this.config;
    const sid = parseStreamId(req.streamId, { defaultStream: c.defaultStream });
    if (sid.query['nodekey'] !== undefined) return this.reserve(req, this.admitNode(sid));
    let a = refuseOn(admitStreamId(sid, c));
    if (c.authHook) a = refuseOn(applyHookAnswer(a, await callAuthHook(c.authHook, c.name, req, sid)));
    refuseOn(checkWhitelist(a.name, c, this.whitelist));
    if (this.runtime.route) {
      const r = await this.runtime.route(a.name, a.mode, a.backup);
      if (r) throw new SrtRejectedError(r.reject, r.message);
      try {
        return this.reserve(req, a);
      } catch (e) {
        this.runtime.release?.(a.name, a.mode, a.backup);
        throw e;
      }
    }
    return this.reserve(req, a);
  }

  /** A caller presenting a node credential: another node's edge pull (see ServerRuntime.nodeCredential). */
  private admitNode(sid: ParsedStreamId): Admission {
    const key = this.runtime.nodeCredential;
    const given = Buffer.from(sid.query['nodekey'] ?? '');
    if (key === undefined || given.length !== Buffer.byteLength(key) || !timingSafeEqual(given, Buffer.from(key))) {
      throw new SrtRejectedError(SRT_REJX.UNAUTHORIZED, 'wrong node credential');
    }
    if (sid.mode !== 'request') throw new SrtRejectedError(SRT_REJX.BAD_MODE, 'a node only reads streams from another node');
    const passphrase = this.config.streams?.[sid.name]?.readPassphrase ?? this.config.passphrase;
    return { name: sid.name, mode: 'request', backup: false, user: `${NODE_USER_PREFIX}${sid.query['node'] ?? '?'}`, ...(passphrase !== undefined ? { passphrase } : {}) };
  }

  /** The registry's decision and the caller's reservation, in one synchronous turn. */
  private reserve(req: ConnectRequest, a: Admission): AcceptDecision {
    refuseOn(place(req.peerAddress, a, this.config, this.registry));
    this.registry.reservations.set(req, { name: a.name, mode: a.mode, user: a.user, peer: `${req.peerAddress}:${req.peerPort}`, backup: a.backup });
    const options: Partial<SrtOptions> = {};
    if (a.passphrase !== undefined) options.passphrase = a.passphrase;
    return { options };
  }

  /** A caller on a Flussonic publish port: the config backend names its stream and passphrase. */
  private decidePortPublish(port: number, req: ConnectRequest): Promise<AcceptDecision> {
    return this.answer(`port ${port}`, `${req.peerAddress}:${req.peerPort}`, async () => {
      const name = await this.configBackend!.resolvePort(port, req.peerAddress);
      const passphrase = await this.configBackend!.passphrase(name);
      refuseOn(checkWhitelist(name, this.config, this.whitelist));
      refuseOn(place(req.peerAddress, { name, mode: 'publish', backup: false }, this.config, this.registry));
      this.registry.reservations.set(req, { name, mode: 'publish', peer: `${req.peerAddress}:${req.peerPort}` });
      return { options: passphrase !== undefined ? { passphrase } : {} };
    });
  }

  // ------------------------------------------------------------------ routing

  private onConnection(socket: SrtSocket, req: ConnectRequest): void {
    const p = this.registry.reservations.get(req);
    this.registry.reservations.delete(req);
    if (!p) {
      socket.close();
      return;
    }
    this.counters.accepted++;
    this.registry.add({
      id: this.registry.nextId(),
      role: p.mode === 'publish' ? (p.backup ? 'backup' : 'publisher') : 'player',
      stream: p.name,
      // another node's credential is not shown (stream views, audit log)
      streamId: p.user?.startsWith(NODE_USER_PREFIX) ? req.streamId.replace(/nodekey=[^,]*/, 'nodekey=***') : req.streamId,
      peer: p.peer,
      user: p.user,
      socket,
      connectedAt: Date.now(),
      waitingForKeyframe: false,
    });
  }

  /**
   * Ends a stream whose publisher is gone without waiting for the rest of its grace period (a
   * cluster worker's relayed stream, when the worker with the publisher ended it). False when the
   * stream is unknown or still has a publisher.
   */
  endStreamNow(stream: string): boolean {
    return this.registry.endStreamNow(normaliseName(stream));
  }

  // ------------------------------------------------------------------ local endpoints

  /**
   * Publishes into `stream` from inside Sluice (a pull route, UDP ingest): write MPEG-TS messages
   * to the returned endpoint; `close()` unpublishes. Throws SrtRejectedError(SRT_REJX.CONFLICT), as
   * an SRT publisher would get, when the stream already has a publisher.
   */
  publishLocal(stream: string, label: string): LocalEndpoint {
    const name = normaliseName(stream);
    refuseOn(publisherConflict(name, this.registry));
    return this.addLocal(name, 'publisher', label);
  }

  /**
   * Reads `stream` from inside Sluice (push route, UDP output, recorder, preview): the returned
   * endpoint is a readable of MPEG-TS messages. If the stream is not published yet it waits for it
   * (always, whatever `waitForPublisher` says, and with no timeout). It ends when the stream ends
   * (publisher gone beyond its grace period): `StreamReader` (gateway/routes.ts) re-attaches.
   * A reader that falls `queue` messages behind is dropped like a slow SRT player.
   */
  playLocal(stream: string, label: string, o: { startAtKeyframe?: boolean; queue?: number } = {}): LocalEndpoint {
    const name = normaliseName(stream);
    this.registry.streamFor(name);
    return this.addLocal(name, 'player', label, o.startAtKeyframe, o.queue);
  }

  private addLocal(name: string, role: ConnectionRole, label: string, startAtKeyframe?: boolean, queue?: number): LocalEndpoint {
    const ep = new LocalEndpoint(label, queue, role === 'publisher' ? 'publisher' : 'player');
    this.registry.add({
      id: this.registry.nextId(), role, stream: name, streamId: label, peer: label, socket: ep, local: true,
      connectedAt: Date.now(), waitingForKeyframe: false,
    }, startAtKeyframe);
    return ep;
  }

  // ------------------------------------------------------------------ management

  /** Kicks a connection (SHUTDOWN). */
  closeConnection(id: number): boolean {
    const c = this.registry.conns.get(id);
    if (!c) return false;
    c.socket.close();
    return true;
  }

  addToWhitelist(name: string): void {
    this.whitelist.add(normaliseName(name));
  }

  removeFromWhitelist(name: string): void {
    this.whitelist.delete(normaliseName(name));
  }

  get whitelistEntries(): string[] {
    return [...this.whitelist];
  }

  connections(): ServerConnection[] {
    return [...this.registry.conns.values()];
  }

  /** Each stream's publisher (null in its grace period or while players wait) and players, without statistics. */
  streamEntries(): { name: string; publisher: ServerConnection | null; players: ServerConnection[]; bytes: number }[] {
    return [...this.registry.streams.values()].map((st) => ({ name: st.name, publisher: st.publisher, players: [...st.players], bytes: st.bytes }));
  }

  streamNames(): string[] {
    return [...this.registry.streams.keys()];
  }

  private view(c: ServerConnection): ConnectionStatsView {
    return { id: c.id, role: c.role, stream: c.stream, peer: c.peer, streamId: c.streamId, connectedAt: c.connectedAt, stats: c.socket.stats() };
  }

  /** Live statistics per stream: publisher and players with libsrt statistics. */
  stats(): StreamStatsView[] {
    return [...this.registry.streams.values()].map((st) => ({
      name: st.name,
      publisher: st.publisher ? this.view(st.publisher) : null,
      players: [...st.players].map((p) => this.view(p)),
      messages: st.messages,
      bytes: st.bytes,
    }));
  }

  async close(): Promise<void> {
    this.registry.close();
    await Promise.all([this.srt?.close(), ...this.portListeners.map((l) => l.close())]);
    this.portListeners.length = 0;
    this.srt = null;
  }
}

/** Throws a rejection as the typed refusal the accept hooks answer with; passes anything else through. */
function refuseOn<T extends object>(x: T | Rejection): T;
function refuseOn(x: Rejection | undefined): void;
function refuseOn<T extends object>(x: T | Rejection | undefined): T | undefined {
  if (x !== undefined && isRejection(x)) throw new SrtRejectedError(x.reject, x.message);
  return x;
}
