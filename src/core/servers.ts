// Application service: SRT servers stored in the database, started and stopped at run time.
import type { Kysely, Selectable } from 'kysely';
import type { DB, ServersTable } from '../store/db.js';
import { OptionError } from '../protocol/errors.js';
import { validateFilterOption } from '../protocol/filter-config.js';
import { Server, type ServerConfig, type ServerRuntime } from '../server/server.js';
import { serverNameCode } from '../server/streamid.js';
import { RejectionThrottle, rejectSummaryText } from '../server/throttle.js';
import { ConflictError, NotFoundError } from './errors.js';
import type { EventLog } from './events.js';

export type ServerRow = Selectable<ServersTable>;

export interface ServerInput {
  server_name: string;
  server_type?: string;
  server_port: number;
  server_latency?: number;
  server_maxbw?: number;
  server_timeout?: number;
  server_rcvbuf?: number;
  server_active?: boolean;
  /** Sluice settings beyond the Callaba fields (ServerConfig keys: passphrase, accessMode, whitelist, streams, users, token, authHook, limits, …). */
  settings?: Record<string, unknown>;
}

export interface ServerView extends Omit<ServerRow, 'settings' | 'server_active' | 'node'> {
  /** Scale-out only: the node that runs the server's routes (every node runs its listener). */
  node?: string | null;
  server_active: boolean;
  server_name_code: string;
  settings: Record<string, unknown>;
  status: 'running' | 'stopped' | 'failed';
  error: string | null;
  connections: number;
  streams: string[];
}

export { ConflictError, NotFoundError } from './errors.js';

const SETTINGS_KEYS = new Set(['app', 'defaultStream', 'accessMode', 'whitelist', 'passphrase', 'streams', 'users', 'token', 'authHook',
  'maxConnections', 'maxPerStream', 'maxPerPeer', 'publisherGraceMs', 'playerQueue', 'startAtKeyframe', 'gopCache', 'gopCacheMaxBytes', 'publishPorts', 'host', 'waitForPublisher', 'waitForPublisherTimeoutMs', 'packetfilter']);

/** Children of a server (routes, recordings) follow it through these (core/routes.ts); hooks must not throw. */
export interface ServerLifecycle {
  started?(id: number, server: Server): Promise<void>;
  /** Before the server closes: local endpoints end cleanly while it still runs. */
  stopping?(id: number, server: Server): Promise<void>;
  /** After it stopped, before its row is deleted. */
  removing?(id: number): Promise<void>;
}

/** How a node of a scale-out runs its servers (core/nodes.ts). */
export interface ServerClusterHooks {
  /** SRT bind address when the server's settings name none (--srt-host). */
  host?: string;
  runtime(id: number): ServerRuntime;
}

export class ServerManager {
  private readonly running = new Map<number, Server>();
  private readonly failures = new Map<number, string>();
  private readonly lifecycle: ServerLifecycle[] = [];
  private readonly throttles = new Map<number, RejectionThrottle>();

  /** The `updated_at` of the row each running server was started from (scale-out: a change made on another node restarts it here). */
  private readonly versions = new Map<number, string>();

  /**
   * `rejectSummaryMs`: repeated rejections of one peer address, stream id and reason are summarised this often (default 5000).
   * `cluster` (scale-out, ADR 17): the SRT bind address of this node when a server's settings name none, and the run-time hooks of each server.
   */
  constructor(private readonly db: Kysely<DB>, private readonly events?: EventLog, private readonly opts: { rejectSummaryMs?: number; cluster?: ServerClusterHooks } = {}) {}

  static toConfig(row: ServerRow): ServerConfig {
    // packetfilter is an SRT option of every connection (libsrt's name), the rest ServerConfig keys
    const { packetfilter, ...settings } = JSON.parse(row.settings) as Partial<ServerConfig> & { packetfilter?: string };
    return {
      ...settings,
      name: row.server_name,
      port: row.server_port,
      srt: {
        latency: row.server_latency,
        maxbw: row.server_maxbw,
        peeridletimeo: row.server_timeout,
        rcvbuf: row.server_rcvbuf,
        ...(packetfilter ? { packetfilter } : {}),
      },
    };
  }

  private view(full: ServerRow): ServerView {
    const { node, ...row } = full;
    const s = this.running.get(row.id);
    const error = this.failures.get(row.id) ?? null;
    return {
      ...row,
      ...(this.opts.cluster ? { node } : {}),
      server_active: row.server_active === 1,
      server_name_code: serverNameCode(row.server_name),
      settings: JSON.parse(row.settings) as Record<string, unknown>,
      status: s ? 'running' : error ? 'failed' : 'stopped',
      error,
      connections: s ? s.connections().length : 0,
      streams: s ? s.streamNames() : [],
    };
  }

  async list(): Promise<ServerView[]> {
    const rows = await this.db.selectFrom('servers').selectAll().orderBy('id').execute();
    return rows.map((r) => this.view(r));
  }

  async get(id: number): Promise<ServerView> {
    return this.view(await this.row(id));
  }

  private async row(id: number): Promise<ServerRow> {
    const r = await this.db.selectFrom('servers').selectAll().where('id', '=', id).executeTakeFirst();
    if (!r) throw new NotFoundError(`server ${id} not found`);
    return r;
  }

  onLifecycle(h: ServerLifecycle): void {
    this.lifecycle.push(h);
  }

  runtime(id: number): Server | undefined {
    return this.running.get(id);
  }

  /** The running servers by id (statistics sampling and metrics read them without the store). */
  runtimes(): [number, Server][] {
    return [...this.running];
  }

  private async checkConflicts(input: ServerInput, exceptId?: number): Promise<void> {
    const rows = await this.db.selectFrom('servers').select(['id', 'server_name', 'server_port']).execute();
    for (const r of rows) {
      if (r.id === exceptId) continue;
      if (r.server_name === input.server_name) throw new ConflictError(`server_name "${input.server_name}" is used by server ${r.id}`);
      if (r.server_port === input.server_port) throw new ConflictError(`server_port ${input.server_port} is used by server ${r.id} ("${r.server_name}")`);
    }
    for (const k of Object.keys(input.settings ?? {})) {
      if (!SETTINGS_KEYS.has(k)) throw new RangeError(`settings.${k}: unknown setting (one of ${[...SETTINGS_KEYS].join(', ')})`);
    }
    const filter = input.settings?.['packetfilter'];
    if (filter !== undefined) {
      try {
        if (typeof filter !== 'string') throw new OptionError('packetfilter', 'must be a string such as fec,cols:10,rows:5');
        validateFilterOption(filter);
      } catch (e) {
        // "settings.packetfilter: cols: "1" must be at least 2" (the API answers 400 naming the field)
        if (e instanceof OptionError) throw new RangeError(`settings.${e.message}`);
        throw e;
      }
    }
  }

  async create(input: ServerInput): Promise<ServerView> {
    await this.checkConflicts(input);
    const r = await this.db.insertInto('servers').values({
      server_name: input.server_name,
      server_type: input.server_type ?? 'SERVER',
      server_port: input.server_port,
      server_latency: input.server_latency ?? 120,
      server_maxbw: input.server_maxbw ?? -1,
      server_timeout: input.server_timeout ?? 5000,
      server_rcvbuf: input.server_rcvbuf ?? 12058624,
      server_active: input.server_active === false ? 0 : 1,
      settings: JSON.stringify(input.settings ?? {}),
      created_at: new Date().toISOString(),
      updated_at: new Date().toISOString(),
    }).returning('id').executeTakeFirstOrThrow();
    if (input.server_active !== false) await this.start(r.id);
    return this.get(r.id);
  }

  /** Updates a server; a running one is restarted (its peers are disconnected). */
  async update(id: number, input: Partial<ServerInput>): Promise<{ server: ServerView; restarted: boolean }> {
    const cur = await this.row(id);
    const merged: ServerInput = {
      server_name: input.server_name ?? cur.server_name,
      server_port: input.server_port ?? cur.server_port,
      settings: input.settings ?? (JSON.parse(cur.settings) as Record<string, unknown>),
    };
    await this.checkConflicts(merged, id);
    await this.db.updateTable('servers').set({
      server_name: merged.server_name,
      server_type: input.server_type ?? cur.server_type,
      server_port: merged.server_port,
      server_latency: input.server_latency ?? cur.server_latency,
      server_maxbw: input.server_maxbw ?? cur.server_maxbw,
      server_timeout: input.server_timeout ?? cur.server_timeout,
      server_rcvbuf: input.server_rcvbuf ?? cur.server_rcvbuf,
      server_active: input.server_active === undefined ? cur.server_active : input.server_active ? 1 : 0,
      settings: JSON.stringify(merged.settings),
      updated_at: new Date().toISOString(),
    }).where('id', '=', id).execute();
    const wasRunning = this.running.has(id);
    if (wasRunning) await this.stopRuntime(id);
    const row = await this.row(id);
    if (row.server_active === 1) await this.start(id);
    return { server: await this.get(id), restarted: wasRunning };
  }

  async remove(id: number): Promise<void> {
    await this.row(id);
    await this.stopRuntime(id);
    for (const h of this.lifecycle) await h.removing?.(id);
    await this.db.deleteFrom('servers').where('id', '=', id).execute();
    this.failures.delete(id);
  }

  /** Starts a server; a port that cannot be bound marks it failed with the reason. */
  async start(id: number): Promise<ServerView> {
    const row = await this.row(id);
    if (this.running.has(id)) return this.view(row);
    const cluster = this.opts.cluster;
    const config = ServerManager.toConfig(row);
    if (cluster?.host !== undefined && config.host === undefined) config.host = cluster.host;
    const s = new Server(config, cluster?.runtime(row.id));
    this.versions.set(id, row.updated_at);
    this.audit(id, s);
    try {
      await s.start();
      this.running.set(id, s);
      this.failures.delete(id);
    } catch (e) {
      await s.close().catch(() => undefined);
      this.failures.set(id, (e as Error).message);
      this.events?.record({ type: 'server.failed', level: 'error', target: `server:${id}`, message: `server "${row.server_name}" cannot start: ${(e as Error).message}` });
    }
    await this.db.updateTable('servers').set({ server_active: 1 }).where('id', '=', id).execute();
    if (this.running.get(id) === s) for (const h of this.lifecycle) await h.started?.(id, s);
    return this.get(id);
  }

  /** Connections accepted and rejected (with the reason), publish and unpublish go to the audit log. */
  private audit(id: number, s: Server): void {
    const ev = this.events;
    if (!ev) return;
    const target = `server:${id}`;
    s.on('accepted', (c) => ev.record({ type: 'connection.accepted', target, message: `${c.role} ${c.peer} accepted for "${c.stream}"`, data: { connection: c.id, peer: c.peer, role: c.role, stream: c.stream, streamId: c.streamId } }));
    // a caller retrying a refused stream id gets one event, then a summary per interval
    this.throttles.get(id)?.close();
    const throttle = new RejectionThrottle((x) => {
      const r = x.info;
      if (x.repeated === 0) ev.record({ type: 'connection.rejected', level: 'warn', target, message: `${r.peer} rejected (${r.reason}): ${r.message}`, data: { peer: r.peer, reason: r.reason, streamId: r.streamId } });
      else ev.record({ type: 'connection.rejected', level: 'warn', target, message: rejectSummaryText(x), data: { peer: r.peer, reason: r.reason, streamId: r.streamId, repeated: x.repeated, seconds: x.seconds } });
    }, this.opts.rejectSummaryMs ?? 5000);
    this.throttles.set(id, throttle);
    s.on('rejected', (r) => throttle.offer(r));
    s.on('closed', (c, reason) => ev.record({ type: 'connection.closed', target, message: `${c.role} ${c.peer} of "${c.stream}" closed: ${reason}`, data: { connection: c.id, peer: c.peer, role: c.role, stream: c.stream, reason } }));
    s.on('published', (stream, c) => ev.record({ type: 'stream.published', target, message: `"${stream}" published by ${c.peer}`, data: { stream, connection: c.id, peer: c.peer } }));
    s.on('unpublished', (stream) => ev.record({ type: 'stream.unpublished', target, message: `"${stream}" unpublished`, data: { stream } }));
    s.on('playerDropped', (c, reason) => ev.record({ type: 'connection.dropped', level: 'warn', target, message: `player ${c.peer} of "${c.stream}" dropped: ${reason}`, data: { connection: c.id, peer: c.peer, stream: c.stream, reason } }));
  }

  async stop(id: number): Promise<ServerView> {
    await this.row(id);
    await this.stopRuntime(id);
    await this.db.updateTable('servers').set({ server_active: 0 }).where('id', '=', id).execute();
    return this.get(id);
  }

  private async stopRuntime(id: number): Promise<void> {
    const s = this.running.get(id);
    this.running.delete(id);
    this.failures.delete(id);
    if (s) for (const h of this.lifecycle) await h.stopping?.(id, s);
    await s?.close();
    this.throttles.get(id)?.close(); // the pending summaries are recorded
    this.throttles.delete(id);
  }

  /**
   * Scale-out: makes this node run what the store says (changes made through another node's API):
   * active servers start, changed ones restart, stopped and deleted ones stop. A server that failed
   * is tried again only once its row changes.
   */
  async syncFromStore(): Promise<void> {
    const rows = await this.db.selectFrom('servers').select(['id', 'server_active', 'updated_at']).execute();
    const seen = new Set<number>();
    for (const r of rows) {
      seen.add(r.id);
      const version = this.versions.get(r.id);
      if (r.server_active !== 1) {
        if (this.running.has(r.id)) await this.stopRuntime(r.id);
        this.versions.delete(r.id);
        continue;
      }
      if (version === r.updated_at) continue; // running (or failed) as it is stored
      if (this.running.has(r.id)) await this.stopRuntime(r.id);
      await this.start(r.id);
    }
    for (const id of [...this.running.keys()]) if (!seen.has(id)) await this.stopRuntime(id);
    for (const id of [...this.versions.keys()]) if (!seen.has(id)) this.versions.delete(id);
  }

  /** Starts every server marked active (after a restart); failures are recorded, others carry on. */
  async startActive(): Promise<void> {
    const rows = await this.db.selectFrom('servers').select('id').where('server_active', '=', 1).execute();
    for (const r of rows) await this.start(r.id);
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.running.keys()].map((id) => this.stopRuntime(id)));
  }
}
