// Scale-out (ADR 17): several `sluice serve` processes ("nodes") on one PostgreSQL database, which is
// the only coordinator. Each node heartbeats into `nodes`; servers and gateways have an owner
// (`node` column) taken with single-statement UPDATEs (PostgreSQL row locks serialise them: a row
// is claimed only while it has no live owner); every node runs every server's listener on its own
// address and the owner of a server runs its routes. The stream registry (`stream_origins`) says
// which node has the publisher of each stream; a node whose players want a stream it does not have
// pulls it over SRT from that node (an "edge"), once per stream, with the node-to-node credential.
import { randomBytes } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import { PullRoute } from '../gateway/routes.js';
import { SRT_REJX } from '../protocol/reject.js';
import { NODE_USER_PREFIX, type Server, type ServerConnection, type ServerRuntime } from '../server/server.js';
import type { StreamMode } from '../server/streamid.js';
import type { DB } from '../store/db.js';
import type { EventLog } from './events.js';
import type { GatewayClusterHooks, GatewayManager } from './gateways.js';
import type { RouteManager } from './routes.js';
import type { ServerClusterHooks, ServerManager } from './servers.js';

export interface NodeConfig {
  /** This node's name (--node-name), unique among the live nodes. */
  name: string;
  /** Where other nodes and players reach this node's SRT servers (--advertise-addr). */
  address: string;
  /** This node's API, for the node list. */
  httpUrl: string;
  /** SRT servers bind here unless their settings name a host (--srt-host); default all addresses. */
  srtHost?: string;
  /** Heartbeat period, ms (default 1000). */
  heartbeatMs?: number;
  /** A node whose last heartbeat is older than this is dead: others take its servers and gateways (default 5000 ms). */
  deadAfterMs?: number;
}

export interface NodeLoad {
  connections: number;
  /** Payload received by the streams of this node's servers (publishers and edges), Mbit/s. */
  mbps_in: number;
  /** Payload sent to players (SRT, edges of other nodes, local readers), Mbit/s. */
  mbps_out: number;
  /** CPU time of the process over the last heartbeat, % of one core. */
  cpu_percent: number;
}

export interface NodeView {
  name: string;
  address: string;
  http_url: string;
  started_at: string;
  /** up: heartbeating; down: silent beyond the dead time (its servers and gateways went to others). */
  status: 'up' | 'down';
  /** ms since its last heartbeat (database clock). */
  heartbeat_age_ms: number;
  draining: boolean;
  drain_reason: string | null;
  load: NodeLoad;
  /** Servers whose routes it runs, gateways it runs. */
  servers: number[];
  gateways: number[];
  /** The node that answered. */
  self: boolean;
}

/** An edge: this node pulls a stream from the node that has its publisher. */
interface Edge {
  serverId: number;
  stream: string;
  origin: string;
  runner: PullRoute;
  /** Not released for want of players before this (a player admitted by `route` is joining). */
  keepUntil: number;
  connected: Promise<boolean>;
}

interface Origin {
  node: string;
  address: string;
}

export const EDGE_LABEL = 'edge:';
/**
 * How long a player of a server without waitForPublisher is held while its edge dials (the stream
 * must exist to place it): below libsrt's 3 s connect timeout, so a slow edge answers 1404 instead.
 */
const EDGE_JOIN_MS = 2000;
const EDGE_KEEP_MS = 2000;

const dbNow = sql<number>`(extract(epoch from clock_timestamp()) * 1000)::bigint`;
const key = (serverId: number, stream: string): string => `${serverId}\n${stream}`;
const isEdge = (c: ServerConnection | null): boolean => c !== null && c.local === true && c.peer.startsWith(EDGE_LABEL);
const fromNode = (c: ServerConnection): boolean => c.user?.startsWith(NODE_USER_PREFIX) === true;

export class NodeError extends Error {}

export class NodeManager {
  readonly name: string;
  private readonly heartbeatMs: number;
  private readonly deadAfterMs: number;
  private readonly instance = randomBytes(8).toString('hex');
  private nodeKey = '';
  private servers!: ServerManager;
  private gateways!: GatewayManager;
  private routes!: RouteManager;
  private events: EventLog | undefined;
  private readonly ownedServers = new Set<number>();
  private readonly edges = new Map<string, Edge>();
  private timer: NodeJS.Timeout | null = null;
  private ticking: Promise<void> | null = null;
  private closed = false;
  private left = false;
  /** When the last heartbeat reached the database (this process's clock), and whether this node stopped its gateways and routes since. */
  private lastBeat = Date.now();
  private fenced = false;
  private beatFailing = false;
  /** Registry writes in the order the server events came. */
  private writes: Promise<void> = Promise.resolve();
  draining = false;
  drainReason: string | null = null;
  load: NodeLoad = { connections: 0, mbps_in: 0, mbps_out: 0, cpu_percent: 0 };
  private lastSample = { at: 0, cpu: process.cpuUsage(), bytes: new Map<string, number>() };
  /** Live other nodes as of the last heartbeat (name → address, draining). */
  private peers: { name: string; address: string; draining: boolean }[] = [];

  constructor(private readonly db: Kysely<DB>, private readonly cfg: NodeConfig) {
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(cfg.name)) throw new NodeError(`node name "${cfg.name}": 1 to 64 letters, digits, "_", "." or "-"`);
    this.name = cfg.name;
    this.heartbeatMs = cfg.heartbeatMs ?? 1000;
    this.deadAfterMs = cfg.deadAfterMs ?? 5000;
  }

  /** Streams this node pulls from other nodes now. */
  get edgeCount(): number {
    return this.edges.size;
  }

  get address(): string {
    return this.cfg.address;
  }

  /** What the ServerManager needs: the SRT bind address and each server's run-time hooks. */
  serverHooks(): ServerClusterHooks {
    return {
      host: this.cfg.srtHost,
      runtime: (id): ServerRuntime => ({
        nodeCredential: this.nodeKey,
        route: (name, mode, backup) => this.route(id, name, mode, backup),
      }),
    };
  }

  gatewayHooks(): GatewayClusterHooks {
    return { node: this.name, claim: (id) => this.claimGateway(id) };
  }

  /** Whether this node runs the routes of a server (it owns it). */
  readonly runsRoutesOf = (serverId: number): boolean => this.ownedServers.has(serverId);

  /**
   * Joins the cluster: the shared node credential (created by the first node), this node's row
   * (refused while a live process has the name), its stale registry entries removed. Call before
   * the servers start. Returns how many other nodes are up.
   */
  async join(): Promise<number> {
    await this.db.insertInto('meta').values({ key: 'node_key', value: randomBytes(24).toString('base64url') }).onConflict((oc) => oc.column('key').doNothing()).execute();
    this.nodeKey = (await this.db.selectFrom('meta').select('value').where('key', '=', 'node_key').executeTakeFirstOrThrow()).value;
    const alive = await this.db.selectFrom('nodes').select(['instance', 'heartbeat_ms', 'address']).where('name', '=', this.name)
      .where('heartbeat_ms', '>', sql<number>`${dbNow} - ${this.deadAfterMs}`).executeTakeFirst();
    if (alive) throw new NodeError(`node name "${this.name}" is in use by a running node (${alive.address}): choose another --node-name`);
    const row = {
      name: this.name, address: this.cfg.address, http_url: this.cfg.httpUrl, instance: this.instance, started_at: new Date().toISOString(),
      heartbeat_ms: dbNow as unknown as number, draining: 0, drain_reason: null, load: JSON.stringify(this.load),
    };
    await this.db.insertInto('nodes').values(row).onConflict((oc) => oc.column('name').doUpdateSet({ ...row, name: undefined })).execute();
    await this.db.deleteFrom('stream_origins').where('node', '=', this.name).execute();
    const others = await this.db.selectFrom('nodes').select('name').where('name', '<>', this.name).where('heartbeat_ms', '>', this.alive()).execute();
    return others.length;
  }

  /** Connects the managers (built with this node's hooks) and follows the servers' streams. */
  attach(servers: ServerManager, gateways: GatewayManager, routes: RouteManager, events?: EventLog): void {
    this.servers = servers;
    this.gateways = gateways;
    this.routes = routes;
    this.events = events;
    servers.onLifecycle({
      started: async (id, s) => { this.watch(id, s); },
      stopping: async (id) => { this.write(() => this.db.deleteFrom('stream_origins').where('server_id', '=', id).where('node', '=', this.name).execute()); },
    });
  }

  /** The first heartbeat (claims what nobody runs), then one every heartbeat period. */
  async start(): Promise<void> {
    await this.tick();
    this.timer = setInterval(() => {
      // checked even while a heartbeat hangs: fence a heartbeat period before others may claim
      if (!this.fenced && Date.now() - this.lastBeat >= this.deadAfterMs - this.heartbeatMs) this.fence();
      if (this.ticking) return;
      this.ticking = this.tick().catch((e: Error) => this.missedBeat(e)).finally(() => { this.ticking = null; });
    }, this.heartbeatMs);
    this.timer.unref();
  }

  // ------------------------------------------------------------------ heartbeat and ownership

  private alive(): ReturnType<typeof sql<number>> {
    return sql<number>`${dbNow} - ${this.deadAfterMs}`;
  }

  /**
   * A heartbeat failed (the database is unreachable). Streams go on; gateways and routes stop when
   * the heartbeats have failed long enough (`fence`) and come back at the first one that works, if
   * still this node's.
   */
  private missedBeat(e: Error): void {
    if (!this.beatFailing) process.emitWarning(`node ${this.name}: heartbeat failed (reported once until one works): ${e.message}`);
    this.beatFailing = true;
  }

  /**
   * No heartbeat has reached the database for the dead time less one period (measured from the
   * start of the last one that did): the others may claim this node's servers and gateways at
   * their next heartbeat, so its gateways and routes stop here first.
   */
  private fence(): void {
    this.fenced = true;
    this.ownedServers.clear();
    this.events?.record({ type: 'node.fenced', level: 'error', target: `node:${this.name}`, message: `node ${this.name} has had no heartbeat for ${this.deadAfterMs - this.heartbeatMs} ms: its gateways and routes stop here`, data: { node: this.name } });
    void Promise.all([this.gateways.fence(), this.routes.fence()]).catch(() => undefined);
  }

  /** One heartbeat: load, drain flag, claims of orphans, then servers, routes, gateways and edges follow the store. */
  async tick(): Promise<void> {
    if (this.closed) return;
    this.sampleLoad();
    const startedAt = Date.now();
    const me = await this.db.updateTable('nodes').set({ heartbeat_ms: dbNow as unknown as number, load: JSON.stringify(this.load), address: this.cfg.address })
      .where('name', '=', this.name).where('instance', '=', this.instance).returning(['draining', 'drain_reason']).executeTakeFirst();
    if (!me) {
      // our row was taken (forgotten through the API, or by a process with our name after a long pause): stand down
      await this.standDown('this node\'s row was removed or taken over');
      await this.join();
      return;
    }
    this.lastBeat = startedAt;
    if (this.beatFailing) process.emitWarning(`node ${this.name}: heartbeats reach the database again`);
    this.beatFailing = false;
    this.fenced = false;
    this.draining = me.draining === 1;
    this.drainReason = me.drain_reason;
    const liveNames = this.db.selectFrom('nodes').select('name').where('heartbeat_ms', '>', this.alive());
    const taken = await this.db.updateTable('servers').set({ node: this.name })
      .where('server_active', '=', 1)
      .where((eb) => eb.or([eb('node', 'is', null), eb('node', 'not in', liveNames)]))
      .returning('id').execute();
    await this.db.updateTable('gateways').set({ node: this.name })
      .where('active', '=', 1)
      .where((eb) => eb.or([eb('node', 'is', null), eb('node', 'not in', liveNames)]))
      .execute();
    for (const t of taken) this.events?.record({ type: 'node.takeover', target: `server:${t.id}`, message: `node ${this.name} runs the routes of server ${t.id}`, data: { node: this.name } });
    const servers = await this.db.selectFrom('servers').select('id').where('node', '=', this.name).execute();
    this.ownedServers.clear();
    for (const s of servers) this.ownedServers.add(s.id);
    const gws = await this.db.selectFrom('gateways').select('id').where('node', '=', this.name).execute();
    this.peers = (await this.db.selectFrom('nodes').select(['name', 'address', 'draining']).where('heartbeat_ms', '>', this.alive()).where('name', '<>', this.name).execute())
      .map((p) => ({ name: p.name, address: p.address, draining: p.draining === 1 }));
    await this.servers.syncFromStore();
    await this.routes.syncOwned(taken.map((t) => t.id));
    await this.gateways.syncOwned(new Set(gws.map((g) => g.id)));
    await this.syncEdges();
  }

  /** A gateway started through this node's API: it is ours if nobody alive runs it. */
  private async claimGateway(id: number): Promise<boolean> {
    const liveNames = this.db.selectFrom('nodes').select('name').where('heartbeat_ms', '>', this.alive());
    const r = await this.db.updateTable('gateways').set({ node: this.name }).where('id', '=', id)
      .where((eb) => eb.or([eb('node', 'is', null), eb('node', '=', this.name), eb('node', 'not in', liveNames)]))
      .returning('id').executeTakeFirst();
    return r !== undefined;
  }

  private async standDown(reason: string): Promise<void> {
    this.ownedServers.clear();
    await this.routes.syncOwned();
    await this.gateways.syncOwned(new Set());
    process.emitWarning(`node ${this.name}: ${reason}`);
  }

  private sampleLoad(): void {
    const now = Date.now();
    const cpu = process.cpuUsage();
    const dt = now - this.lastSample.at;
    let connections = 0;
    let inBytes = 0;
    let outBytes = 0;
    const bytes = new Map<string, number>();
    for (const [id, s] of this.servers?.runtimes() ?? []) {
      connections += s.connections().length;
      for (const e of s.streamEntries()) {
        const k = key(id, e.name);
        bytes.set(k, e.bytes);
        const d = Math.max(0, e.bytes - (this.lastSample.bytes.get(k) ?? 0));
        inBytes += d;
        outBytes += d * e.players.length;
      }
    }
    if (this.lastSample.at > 0 && dt > 0) {
      const usedUs = cpu.user + cpu.system - this.lastSample.cpu.user - this.lastSample.cpu.system;
      const round = (x: number): number => Math.round(x * 1000) / 1000;
      this.load = { connections, mbps_in: round((inBytes * 8) / (dt * 1000)), mbps_out: round((outBytes * 8) / (dt * 1000)), cpu_percent: Math.round(usedUs / (dt * 10)) };
    } else {
      this.load = { ...this.load, connections };
    }
    this.lastSample = { at: now, cpu, bytes };
  }

  // ------------------------------------------------------------------ drain

  /** Drains a node (this one or another: it reads the flag at its next heartbeat); false when unknown. */
  async setDraining(name: string, draining: boolean, reason: string | null): Promise<boolean> {
    const r = await this.db.updateTable('nodes').set({ draining: draining ? 1 : 0, drain_reason: draining ? reason : null }).where('name', '=', name).returning('name').executeTakeFirst();
    if (r && name === this.name) [this.draining, this.drainReason] = [draining, draining ? reason : null];
    if (r) this.events?.record({ type: draining ? 'node.drained' : 'node.resumed', target: `node:${name}`, message: draining ? `node ${name} drains: new players are refused (1402)${reason ? `: ${reason}` : ''}` : `node ${name} takes new players again`, data: { node: name, reason } });
    return r !== undefined;
  }

  /** Forgets a node that is down (its row); false when unknown, an error when it is up. */
  async forget(name: string): Promise<boolean> {
    const r = await this.db.selectFrom('nodes').select('name').where('name', '=', name).where('heartbeat_ms', '>', this.alive()).executeTakeFirst();
    if (r) throw new NodeError(`node ${name} is up: stop it first`);
    const d = await this.db.deleteFrom('nodes').where('name', '=', name).executeTakeFirst();
    return Number(d.numDeletedRows) > 0;
  }

  async list(): Promise<NodeView[]> {
    const { now } = (await sql<{ now: number }>`select ${dbNow} as now`.execute(this.db)).rows[0]!;
    const rows = await this.db.selectFrom('nodes').selectAll().orderBy('name').execute();
    const servers = await this.db.selectFrom('servers').select(['id', 'node']).where('node', 'is not', null).orderBy('id').execute();
    const gateways = await this.db.selectFrom('gateways').select(['id', 'node']).where('node', 'is not', null).orderBy('id').execute();
    return rows.map((r) => {
      const age = Math.max(0, Number(now) - Number(r.heartbeat_ms));
      const up = age < this.deadAfterMs;
      return {
        name: r.name, address: r.address, http_url: r.http_url, started_at: r.started_at, status: up ? 'up' : 'down', heartbeat_age_ms: age,
        draining: r.draining === 1, drain_reason: r.drain_reason, load: JSON.parse(r.load) as NodeLoad,
        servers: up ? servers.filter((s) => s.node === r.name).map((s) => s.id) : [],
        gateways: up ? gateways.filter((g) => g.node === r.name).map((g) => g.id) : [],
        self: r.name === this.name,
      };
    });
  }

  // ------------------------------------------------------------------ stream registry

  private write(fn: () => Promise<unknown>): void {
    if (this.left) return;
    this.writes = this.writes.then(fn).then(() => undefined, (e: Error) => process.emitWarning(`node ${this.name}: stream registry not updated: ${e.message}`));
  }

  /** A publisher here (SRT, or a route's local one — not an edge) makes this node the stream's origin. */
  private watch(id: number, s: Server): void {
    s.on('published', (stream, c) => {
      if (isEdge(c)) return;
      const now = new Date().toISOString();
      this.write(() => this.db.insertInto('stream_origins').values({ server_id: id, stream, node: this.name, updated_at: now })
        .onConflict((oc) => oc.columns(['server_id', 'stream']).doUpdateSet({ node: this.name, updated_at: now })).execute());
      // a publisher that moved here from another node: this node's edge of it is replaced by the real one
    });
    s.on('closed', (c) => {
      if (c.role !== 'publisher' || isEdge(c)) return;
      this.write(() => this.db.deleteFrom('stream_origins').where('server_id', '=', id).where('stream', '=', c.stream).where('node', '=', this.name).execute());
    });
  }

  /** Where a stream is published, if on another live node. */
  private async origin(serverId: number, stream: string): Promise<Origin | undefined> {
    // without the database this node serves what it has (its own publishers), and no edge
    const r = await this.db.selectFrom('stream_origins as o').innerJoin('nodes as n', 'n.name', 'o.node')
      .select(['o.node', 'n.address']).where('o.server_id', '=', serverId).where('o.stream', '=', stream)
      .where('o.node', '<>', this.name).where('n.heartbeat_ms', '>', this.alive()).executeTakeFirst()
      .catch((e: Error) => { process.emitWarning(`node ${this.name}: stream registry not read: ${e.message}`); return undefined; });
    return r ? { node: r.node, address: r.address } : undefined;
  }

  /**
   * The server's `route` hook for every caller that passed access control: a publisher of a stream
   * published on another live node is refused (1409), one that moved here replaces this node's
   * edge; a player is refused (1402) while the node drains, and gets an edge when the stream is
   * published elsewhere.
   */
  private async route(serverId: number, name: string, mode: StreamMode, backup: boolean): Promise<{ reject: number; message: string } | undefined> {
    const s = this.servers.runtime(serverId);
    if (!s) return undefined;
    if (mode === 'publish') {
      if (backup) return undefined;
      const o = await this.origin(serverId, name);
      if (o) return { reject: SRT_REJX.CONFLICT, message: `"${name}" is published on node ${o.node}` };
      const edge = this.edges.get(key(serverId, name));
      if (edge) await this.closeEdge(edge, 'the publisher moved to this node');
      return undefined;
    }
    if (this.draining) {
      const others = this.peers.filter((p) => !p.draining).map((p) => `${p.name} (${p.address})`);
      return { reject: SRT_REJX.OVERLOAD, message: `node ${this.name} is draining${this.drainReason ? ` (${this.drainReason})` : ''}${others.length ? `: connect to ${others.join(', ')}` : ''}` };
    }
    // not published anywhere: the server's rules (wait, or 1404)
    await this.edgeFor(serverId, s, name, s.config.waitForPublisher !== true);
    return undefined;
  }

  /**
   * A local reader (the dashboard's preview) is about to read `stream`: when it is published on
   * another node, this node's edge of it is opened (or kept) and awaited. True when the stream is
   * here or now comes through an edge.
   */
  async attachEdge(serverId: number, stream: string): Promise<boolean> {
    const s = this.servers.runtime(serverId);
    if (!s) return false;
    return this.edgeFor(serverId, s, stream, true);
  }

  /** Opens (or keeps) the edge of a stream published elsewhere; with `wait`, until it is connected (bounded). */
  private async edgeFor(serverId: number, s: Server, name: string, wait: boolean): Promise<boolean> {
    if (this.closed) return false; // leaving: no new edge outlives close()
    const entry = s.streamEntries().find((e) => e.name === name);
    if (entry?.publisher && !isEdge(entry.publisher)) return true;
    let edge = this.edges.get(key(serverId, name));
    if (!edge) {
      const o = await this.origin(serverId, name);
      if (!o || this.closed) return false;
      edge = this.edges.get(key(serverId, name)) ?? this.openEdge(serverId, s, name, o); // another admission may have opened it meanwhile
    }
    edge.keepUntil = Date.now() + EDGE_KEEP_MS;
    if (wait && !entry?.publisher) {
      let t: NodeJS.Timeout | undefined;
      await Promise.race([edge.connected, new Promise((r) => { t = setTimeout(r, EDGE_JOIN_MS); })]);
      clearTimeout(t);
    }
    return true;
  }

  private openEdge(serverId: number, s: Server, stream: string, o: Origin): Edge {
    const c = s.config;
    const passphrase = c.streams?.[stream]?.readPassphrase ?? c.passphrase;
    const runner = new PullRoute(s, stream, `${EDGE_LABEL}${o.node}`, {
      mode: 'caller', host: o.address, port: c.port,
      options: { ...(c.srt ?? {}), streamid: `#!::r=${stream},m=request,node=${this.name},nodekey=${this.nodeKey}`, ...(passphrase !== undefined ? { passphrase } : {}) },
      backoff: { initialMs: 100, maxMs: 1000 },
    });
    let resolveConnected!: (ok: boolean) => void;
    const connected = new Promise<boolean>((r) => { resolveConnected = r; });
    runner.once('connected', () => resolveConnected(true));
    runner.once('failed', () => resolveConnected(false));
    const edge: Edge = { serverId, stream, origin: o.node, runner, keepUntil: Date.now() + EDGE_KEEP_MS, connected };
    this.edges.set(key(serverId, stream), edge);
    runner.start().catch((e: Error) => {
      resolveConnected(false);
      void this.closeEdge(edge, e.message);
    });
    this.events?.record({ type: 'node.edge.opened', target: `server:${serverId}`, message: `node ${this.name} pulls "${stream}" from node ${o.node}`, data: { node: this.name, origin: o.node, stream } });
    return edge;
  }

  private async closeEdge(edge: Edge, reason: string): Promise<void> {
    const k = key(edge.serverId, edge.stream);
    if (this.edges.get(k) !== edge) return;
    this.edges.delete(k);
    await edge.runner.close();
    this.events?.record({ type: 'node.edge.closed', target: `server:${edge.serverId}`, message: `node ${this.name} stopped pulling "${edge.stream}" from node ${edge.origin}: ${reason}`, data: { node: this.name, origin: edge.origin, stream: edge.stream, reason } });
  }

  /** Edges follow the players and the registry: opened for streams wanted here and published elsewhere, moved with their origin, released when unwanted. */
  private async syncEdges(): Promise<void> {
    const origins = new Map<string, Origin>();
    const rows = await this.db.selectFrom('stream_origins as o').innerJoin('nodes as n', 'n.name', 'o.node')
      .select(['o.server_id', 'o.stream', 'o.node', 'n.address']).where('o.node', '<>', this.name).where('n.heartbeat_ms', '>', this.alive()).execute();
    for (const r of rows) origins.set(key(r.server_id, r.stream), { node: r.node, address: r.address });
    const seen = new Set<string>();
    const now = Date.now();
    for (const [id, s] of this.servers.runtimes()) {
      for (const e of s.streamEntries()) {
        const k = key(id, e.name);
        seen.add(k);
        const want = e.players.some((p) => !fromNode(p)) && !(e.publisher && !isEdge(e.publisher));
        const o = origins.get(k);
        const edge = this.edges.get(k);
        if (edge && (!o || o.node !== edge.origin)) {
          await this.closeEdge(edge, o ? `"${e.name}" moved to node ${o.node}` : `"${e.name}" is no longer published on node ${edge.origin}`);
        } else if (edge && !want && now >= edge.keepUntil) {
          await this.closeEdge(edge, 'no players left');
          continue;
        }
        if (want && o && !this.edges.has(k)) this.openEdge(id, s, e.name, o);
      }
    }
    for (const [k, edge] of [...this.edges]) {
      if (!seen.has(k) && (now >= edge.keepUntil || !this.servers.runtime(edge.serverId))) await this.closeEdge(edge, 'no players left');
    }
  }

  /** Leaves the cluster: edges close, this node's servers and gateways are released at once, its registry entries and row go. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await this.ticking;
    for (const e of [...this.edges.values()]) await this.closeEdge(e, 'node stopping');
    await this.writes;
  }

  /** After the servers and gateways stopped: others take them at their next heartbeat instead of after the dead time. */
  async leave(): Promise<void> {
    await this.writes; // the servers' last departures, then their rows go in one step
    this.left = true;
    await this.db.updateTable('servers').set({ node: null }).where('node', '=', this.name).execute();
    await this.db.updateTable('gateways').set({ node: null }).where('node', '=', this.name).execute();
    await this.db.deleteFrom('stream_origins').where('node', '=', this.name).execute();
    await this.db.deleteFrom('nodes').where('name', '=', this.name).where('instance', '=', this.instance).execute();
  }
}
