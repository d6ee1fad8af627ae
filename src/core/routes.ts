// Application service: routes (pull, push, UDP in/out, recording) of the stored SRT servers and
// the recordings they write. A route runs while it is active and its server runs: it starts and
// stops with its server (ServerManager lifecycle hooks) and is removed with it.
import { existsSync } from 'node:fs';
import { rm, stat, unlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Kysely, Selectable } from 'kysely';
import { Recorder } from '../gateway/recorder.js';
import { PullRoute, PushRoute, UdpInRoute, UdpOutRoute, type RecordedFile, type RouteRunner } from '../gateway/routes.js';
import type { SrtStats } from '../protocol/stats.js';
import type { Server } from '../server/server.js';
import type { DB, RecordingsTable, RoutesTable } from '../store/db.js';
import type { EventLog } from './events.js';
import {
  boundPort, DEFAULT_LIMITS, normalizeRoute, publicConfig, routeLink, routeUdp,
  type RouteConfig, type RouteInput, type RouteKind, type RouteLimits,
} from './route-config.js';
import { ConflictError, NotFoundError, type ServerManager } from './servers.js';

export type RouteRow = Selectable<RoutesTable>;
export type RecordingRow = Selectable<RecordingsTable>;

export interface RouteView {
  id: number;
  server_id: number;
  kind: RouteKind;
  name: string;
  stream: string;
  config: RouteConfig;
  active: boolean;
  /** running: carrying (or ready to carry) data; stopped: inactive or its server is not running; failed: see error. */
  status: 'running' | 'stopped' | 'failed';
  error: string | null;
  server_running: boolean;
  /** SRT peer connected (pull/push), or data flowing (UDP, recording). */
  connected: boolean;
  peer: string | null;
  reconnections: number;
  /** Why the outside leg is not up right now (dial failure, stream busy). */
  link_error: string | null;
  messages: number;
  bytes: number;
  dropped: number;
  /** libsrt statistics of the SRT leg's connection (pull/push while connected). */
  srt: SrtStats | null;
  /** The file a record route is writing. */
  recording: { path: string; started_at: string; bytes: number } | null;
  created_at: string;
  updated_at: string;
}

export interface RecordingView extends RecordingRow {
  file_name: string;
}

export interface RouteUpdate {
  name?: string;
  stream?: string;
  config?: Record<string, unknown>;
  active?: boolean;
}

interface Running {
  runner: RouteRunner;
  serverId: number;
  /** Store writes of this route's recordings, in order (a file's row exists before it is closed). */
  ops: Promise<void>;
}

export class RouteManager {
  private readonly running = new Map<number, Running>();
  private readonly failures = new Map<number, string>();
  private readonly limits: RouteLimits;
  /** Scale-out: whether this node runs the routes of a server (its owner); always true on a single node. */
  private readonly gate: (serverId: number) => boolean;
  private readonly clustered: boolean;
  /** The `updated_at` each route was started (or failed) from: a change made on another node restarts it. */
  private readonly versions = new Map<number, string>();

  constructor(
    private readonly db: Kysely<DB>,
    private readonly servers: ServerManager,
    private readonly events: EventLog | undefined,
    private readonly dataDir: string,
    opts: { limits?: Partial<RouteLimits>; runsRoutesOf?: (serverId: number) => boolean } = {},
  ) {
    this.gate = opts.runsRoutesOf ?? ((): boolean => true);
    this.clustered = opts.runsRoutesOf !== undefined;
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
    // a route problem must never fail the server's own start, stop or removal
    const safe = (what: string, fn: () => Promise<void>): Promise<void> => fn().catch((e: Error) => process.emitWarning(`routes: ${what}: ${e.message}`));
    servers.onLifecycle({
      started: (id, s) => safe(`starting the routes of server ${id}`, () => this.startServerRoutes(id, s)),
      stopping: (id) => safe(`stopping the routes of server ${id}`, () => this.stopServerRoutes(id, 'server stopped')),
      removing: (id) => safe(`removing the routes of server ${id}`, () => this.removeServerChildren(id)),
    });
  }

  get routeLimits(): RouteLimits {
    return this.limits;
  }

  /** The folder of every recording: <dataDir>/recordings. */
  get recordingsRoot(): string {
    return join(this.dataDir, 'recordings');
  }

  /** Where a server's recordings of `stream` go: <dataDir>/recordings/<server id>/<stream, URI-encoded>/. */
  recordingDir(serverId: number, stream: string): string {
    // encoded so that "live/cam" is one directory and ".." cannot climb out
    return join(this.dataDir, 'recordings', String(serverId), encodeURIComponent(stream).replace(/^\./, '%2E'));
  }

  // ---------------------------------------------------------------- views

  private view(row: RouteRow): RouteView {
    const rt = this.running.get(row.id);
    const r = rt?.runner;
    const error = this.failures.get(row.id) ?? null;
    const cur = r instanceof Recorder ? r.current : null;
    return {
      id: row.id, server_id: row.server_id, kind: row.kind, name: row.name, stream: row.stream,
      config: publicConfig(JSON.parse(row.config) as RouteConfig),
      active: row.active === 1,
      status: r ? 'running' : error ? 'failed' : 'stopped',
      error,
      server_running: this.servers.runtime(row.server_id) !== undefined,
      connected: r?.connected ?? false,
      peer: r?.peer ?? null,
      reconnections: r?.reconnections ?? 0,
      link_error: r?.linkError ?? null,
      messages: r?.messages ?? 0,
      bytes: r?.bytes ?? 0,
      dropped: r?.dropped ?? 0,
      srt: r?.srtStats() ?? null,
      recording: cur ? { path: cur.path, started_at: cur.startedAt, bytes: cur.bytes } : null,
      created_at: row.created_at,
      updated_at: row.updated_at,
    };
  }

  private async row(id: number): Promise<RouteRow> {
    const r = await this.db.selectFrom('routes').selectAll().where('id', '=', id).executeTakeFirst();
    if (!r) throw new NotFoundError(`route ${id} not found`);
    return r;
  }

  async list(serverId?: number): Promise<RouteView[]> {
    if (serverId !== undefined) await this.servers.get(serverId);
    let q = this.db.selectFrom('routes').selectAll();
    if (serverId !== undefined) q = q.where('server_id', '=', serverId);
    return (await q.orderBy('id').execute()).map((r) => this.view(r));
  }

  async get(id: number): Promise<RouteView> {
    return this.view(await this.row(id));
  }

  runtime(id: number): RouteRunner | undefined {
    return this.running.get(id)?.runner;
  }

  // ---------------------------------------------------------------- changes

  /** Same name on the server, a second publisher or recorder of a stream, or a local port in use. */
  private async checkConflicts(serverId: number, kind: RouteKind, name: string, stream: string, config: RouteConfig, exceptId?: number): Promise<void> {
    const rows = await this.db.selectFrom('routes').selectAll().execute();
    const port = boundPort(kind, config);
    const publishes = (k: RouteKind): boolean => k === 'pull' || k === 'udp-in';
    for (const r of rows) {
      if (r.id === exceptId) continue;
      const label = `route ${r.id} ("${r.name}")`;
      if (r.server_id === serverId && r.name === name) throw new ConflictError(`name "${name}" is used by ${label} of server ${serverId}`);
      if (r.server_id === serverId && r.stream === stream && publishes(kind) && publishes(r.kind)) {
        throw new ConflictError(`stream "${stream}" is already published by ${r.kind} ${label}`);
      }
      if (r.server_id === serverId && r.stream === stream && kind === 'record' && r.kind === 'record') {
        throw new ConflictError(`stream "${stream}" is already recorded by ${label}`);
      }
      if (port !== null && boundPort(r.kind, JSON.parse(r.config) as RouteConfig) === port) throw new ConflictError(`port ${port} is bound by ${r.kind} ${label}`);
    }
    if (port !== null) {
      const srv = (await this.servers.list()).find((s) => s.server_port === port);
      if (srv) throw new ConflictError(`port ${port} is the SRT port of server ${srv.id} ("${srv.server_name}")`);
    }
  }

  /** Validates (RouteConfigError → 400, conflicts → 409) and stores a route; starts it if active and its server runs. */
  async create(serverId: number, input: RouteInput, active = true): Promise<RouteView> {
    await this.servers.get(serverId);
    const n = normalizeRoute(input, this.limits);
    await this.checkConflicts(serverId, n.kind, n.name, n.stream, n.config);
    const now = new Date().toISOString();
    const r = await this.db.insertInto('routes').values({
      server_id: serverId, kind: n.kind, name: n.name, stream: n.stream, config: JSON.stringify(n.config), active: active ? 1 : 0, created_at: now, updated_at: now,
    }).returning('id').executeTakeFirstOrThrow();
    if (active) await this.startRoute(r.id);
    return this.get(r.id);
  }

  /** Checks an update without storing it (the API answers 400 before queuing the task). */
  async validateUpdate(id: number, input: RouteUpdate): Promise<void> {
    const cur = await this.row(id);
    normalizeRoute({ kind: cur.kind, name: input.name ?? cur.name, stream: input.stream ?? cur.stream, config: input.config }, this.limits, JSON.parse(cur.config) as RouteConfig);
  }

  /** Changes name, stream or config fields (merged); a running route restarts with them. */
  async update(id: number, input: RouteUpdate): Promise<{ route: RouteView; restarted: boolean }> {
    const cur = await this.row(id);
    const n = normalizeRoute({ kind: cur.kind, name: input.name ?? cur.name, stream: input.stream ?? cur.stream, config: input.config }, this.limits, JSON.parse(cur.config) as RouteConfig);
    await this.checkConflicts(cur.server_id, n.kind, n.name, n.stream, n.config, id);
    const active = input.active === undefined ? cur.active : input.active ? 1 : 0;
    await this.db.updateTable('routes').set({
      name: n.name, stream: n.stream, config: JSON.stringify(n.config), active, updated_at: new Date().toISOString(),
    }).where('id', '=', id).execute();
    const wasRunning = this.running.has(id);
    await this.stopRuntime(id, 'route updated');
    if (active === 1) await this.startRoute(id);
    return { route: await this.get(id), restarted: wasRunning && active === 1 };
  }

  /** Stops and deletes a route. Its recordings stay (listed, downloadable, deletable) with route_id null. */
  async remove(id: number): Promise<void> {
    await this.row(id);
    await this.stopRuntime(id, 'route deleted');
    await this.db.updateTable('recordings').set({ route_id: null }).where('route_id', '=', id).execute();
    await this.db.deleteFrom('routes').where('id', '=', id).execute();
    this.failures.delete(id);
  }

  async start(id: number): Promise<RouteView> {
    await this.row(id);
    await this.db.updateTable('routes').set({ active: 1 }).where('id', '=', id).execute();
    await this.startRoute(id);
    return this.get(id);
  }

  async stop(id: number): Promise<RouteView> {
    await this.row(id);
    await this.stopRuntime(id, 'route stopped');
    await this.db.updateTable('routes').set({ active: 0 }).where('id', '=', id).execute();
    return this.get(id);
  }

  async restart(id: number): Promise<RouteView> {
    await this.row(id);
    await this.stopRuntime(id, 'route restarted');
    return this.start(id);
  }

  // ---------------------------------------------------------------- run time

  /** Starts the route if its server runs (else it starts with the server); a failure is recorded. */
  private async startRoute(id: number): Promise<void> {
    if (this.running.has(id)) return;
    const row = await this.row(id);
    const server = this.servers.runtime(row.server_id);
    if (!server || !this.gate(row.server_id)) return;
    this.failures.delete(id);
    this.versions.set(id, row.updated_at);
    const target = `route:${id}`;
    const label = `route:${id} ${row.kind} ${row.name}`;
    let runner: RouteRunner | null = null;
    try {
      runner = this.runner(row, server, label);
      const rt: Running = { runner, serverId: row.server_id, ops: Promise.resolve() };
      this.watch(row, rt);
      await runner.start();
      this.running.set(id, rt);
      this.events?.record({ type: 'route.started', target, message: `${row.kind} route "${row.name}" of server ${row.server_id} started on "${row.stream}"`, data: { server: row.server_id, kind: row.kind, stream: row.stream } });
    } catch (e) {
      await runner?.close().catch(() => undefined);
      const msg = (e as Error).message;
      this.failures.set(id, msg);
      this.events?.record({ type: 'route.failed', level: 'error', target, message: `${row.kind} route "${row.name}" cannot start: ${msg}`, data: { server: row.server_id, reason: msg } });
    }
  }

  private runner(row: RouteRow, server: Server, label: string): RouteRunner {
    const cfg = JSON.parse(row.config) as RouteConfig;
    switch (row.kind) {
      case 'pull': return new PullRoute(server, row.stream, label, routeLink(cfg));
      case 'push': return new PushRoute(server, row.stream, label, routeLink(cfg));
      case 'udp-in': return new UdpInRoute(server, row.stream, label, routeUdp(cfg), cfg['chunk'] === 'datagram' ? 'datagram' : 'ts');
      case 'udp-out': return new UdpOutRoute(server, row.stream, label, routeUdp(cfg));
      case 'record': return new Recorder(server, row.stream, label, {
        dir: this.recordingDir(row.server_id, row.stream),
        segmentMs: Number(cfg['segment_seconds']) * 1000,
        retainMs: cfg['retain_hours'] !== undefined ? Number(cfg['retain_hours']) * 3_600_000 : undefined,
        maxBytes: cfg['max_bytes'] !== undefined ? Number(cfg['max_bytes']) : undefined,
      });
    }
  }

  /** Connections, failures and recorded files go to the audit log and the store. */
  private watch(row: RouteRow, rt: Running): void {
    const target = `route:${row.id}`;
    const what = `${row.kind} route "${row.name}"`;
    const r = rt.runner;
    const store = (fn: () => Promise<unknown>): void => {
      rt.ops = rt.ops.then(fn).then(() => undefined, (e: Error) => process.emitWarning(`route ${row.id}: recording not stored: ${e.message}`));
    };
    r.on('connected', (peer) => this.events?.record({ type: 'route.connected', target, message: `${what} connected: ${peer}`, data: { peer, stream: row.stream, reconnections: r.reconnections } }));
    r.on('disconnected', (reason) => this.events?.record({ type: 'route.disconnected', level: 'warn', target, message: `${what} disconnected: ${reason}`, data: { reason, stream: row.stream } }));
    r.on('failed', (e) => {
      if (this.running.get(row.id) !== rt) return;
      this.running.delete(row.id);
      this.failures.set(row.id, e.message);
      this.events?.record({ type: 'route.failed', level: 'error', target, message: `${what} failed: ${e.message}`, data: { reason: e.message } });
    });
    r.on('fileOpened', (f) => store(() => this.db.insertInto('recordings').values({
      route_id: row.id, server_id: row.server_id, stream: row.stream, path: f.path, started_at: f.startedAt, ended_at: null, bytes: 0, status: 'recording',
    }).execute()));
    r.on('fileClosed', (f, rotated) => store(async () => {
      await this.db.updateTable('recordings').set({ ended_at: f.endedAt, bytes: f.bytes, status: 'complete' }).where('path', '=', f.path).execute();
      if (!rotated) return;
      const rec = await this.db.selectFrom('recordings').select('id').where('path', '=', f.path).executeTakeFirst();
      this.events?.record({ type: 'recording.rotated', target, message: `${what} closed ${basename(f.path)} (${f.bytes} bytes) and started a new file`, data: { recording: rec?.id ?? null, path: f.path, bytes: f.bytes, started_at: f.startedAt, ended_at: f.endedAt } });
    }));
    r.on('fileDeleted', (path) => store(async () => {
      const rec = await this.db.selectFrom('recordings').select('id').where('path', '=', path).executeTakeFirst();
      await this.db.deleteFrom('recordings').where('path', '=', path).execute();
      this.events?.record({ type: 'recording.deleted', target, message: `${what}: retention deleted ${basename(path)}`, data: { recording: rec?.id ?? null, path } });
    }));
  }

  private async stopRuntime(id: number, reason: string): Promise<void> {
    const rt = this.running.get(id);
    this.running.delete(id);
    this.failures.delete(id);
    if (!rt) return;
    await rt.runner.close();
    await rt.ops; // the last file's row is complete before anyone reads it
    this.events?.record({ type: 'route.stopped', target: `route:${id}`, message: `route ${id} stopped: ${reason}`, data: { reason } });
  }

  private async startServerRoutes(serverId: number, _s: Server): Promise<void> {
    const rows = await this.db.selectFrom('routes').select('id').where('server_id', '=', serverId).where('active', '=', 1).orderBy('id').execute();
    for (const r of rows) await this.startRoute(r.id);
  }

  /**
   * Scale-out: runs the active routes of the servers this node owns (a route changed through another
   * node's API restarts; a failed one is tried again once its row changes) and stops the others.
   * `takenOver`: servers this node just took from a dead node — their files left "recording" become "interrupted".
   */
  async syncOwned(takenOver: number[] = []): Promise<void> {
    for (const sid of takenOver) await this.interruptOpen(this.db.selectFrom('recordings').selectAll().where('status', '=', 'recording').where('server_id', '=', sid));
    const rows = await this.db.selectFrom('routes').select(['id', 'server_id', 'active', 'updated_at']).execute();
    const ids = new Set(rows.map((r) => r.id));
    for (const [id, rt] of [...this.running]) {
      if (!ids.has(id) || !this.gate(rt.serverId)) await this.stopRuntime(id, 'route moved to another node');
    }
    for (const r of rows) {
      const mine = r.active === 1 && this.gate(r.server_id) && this.servers.runtime(r.server_id) !== undefined;
      if (!mine) {
        if (this.running.has(r.id)) await this.stopRuntime(r.id, 'route stopped');
        this.versions.delete(r.id);
        continue;
      }
      if (this.versions.get(r.id) === r.updated_at) continue;
      await this.stopRuntime(r.id, 'route changed');
      await this.startRoute(r.id);
    }
  }

  private async stopServerRoutes(serverId: number, reason: string): Promise<void> {
    const ids = [...this.running].filter(([, rt]) => rt.serverId === serverId).map(([id]) => id);
    await Promise.all(ids.map((id) => this.stopRuntime(id, reason)));
  }

  /** A server is being removed: its routes, its recordings and their files go with it. */
  private async removeServerChildren(serverId: number): Promise<void> {
    await this.stopServerRoutes(serverId, 'server removed');
    const routes = await this.db.selectFrom('routes').select('id').where('server_id', '=', serverId).execute();
    // files outside the server's directory too (recorded under another data directory)
    const files = await this.db.selectFrom('recordings').select('path').where('server_id', '=', serverId).execute();
    for (const f of files) await unlink(f.path).catch(() => undefined);
    await this.db.deleteFrom('recordings').where('server_id', '=', serverId).execute();
    await this.db.deleteFrom('routes').where('server_id', '=', serverId).execute();
    for (const r of routes) this.failures.delete(r.id);
    await rm(join(this.dataDir, 'recordings', String(serverId)), { recursive: true, force: true });
  }

  /**
   * On boot: files left "recording" by a crash become "interrupted" (with their size on disk), then
   * the active routes of every running server start.
   */
  async startActive(): Promise<void> {
    // scale-out: another node may be recording; a dead node's files are handled on takeover (syncOwned)
    if (!this.clustered) await this.interruptOpen(this.db.selectFrom('recordings').selectAll().where('status', '=', 'recording'));
    for (const [id, s] of this.servers.runtimes()) await this.startServerRoutes(id, s);
  }

  private async interruptOpen(q: { execute(): Promise<RecordingRow[]> }): Promise<void> {
    const open = await q.execute();
    for (const rec of open) {
      if ([...this.running.values()].some((rt) => rt.runner instanceof Recorder && rt.runner.current?.path === rec.path)) continue;
      const st = await stat(rec.path).catch(() => null);
      await this.db.updateTable('recordings').set({
        status: 'interrupted', bytes: st?.size ?? rec.bytes, ended_at: st ? st.mtime.toISOString() : rec.started_at,
      }).where('id', '=', rec.id).execute();
    }
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.running.keys()].map((id) => this.stopRuntime(id, 'shutting down')));
  }

  /** Scale-out: this node lost the database beyond the dead time (another node may run them now): stops every route here. */
  async fence(): Promise<void> {
    await Promise.all([...this.running.keys()].map((id) => this.stopRuntime(id, 'this node lost the database')));
    this.versions.clear();
  }

  // ---------------------------------------------------------------- recordings

  private recordingView(r: RecordingRow): RecordingView {
    // the file being written grows: show its size now
    const live = r.status === 'recording' ? this.liveFile(r.path) : null;
    return { ...r, bytes: live?.bytes ?? r.bytes, file_name: basename(r.path) };
  }

  private liveFile(path: string): RecordedFile | null {
    for (const rt of this.running.values()) {
      const cur = rt.runner instanceof Recorder ? rt.runner.current : null;
      if (cur?.path === path) return cur;
    }
    return null;
  }

  async listRecordings(f: { server_id?: number; stream?: string; route_id?: number; limit?: number; offset?: number } = {}): Promise<RecordingView[]> {
    let q = this.db.selectFrom('recordings').selectAll();
    if (f.server_id !== undefined) q = q.where('server_id', '=', f.server_id);
    if (f.stream !== undefined) q = q.where('stream', '=', f.stream.replace(/^\/+/, ''));
    if (f.route_id !== undefined) q = q.where('route_id', '=', f.route_id);
    const rows = await q.orderBy('started_at').orderBy('id').limit(f.limit ?? 1000).offset(f.offset ?? 0).execute();
    return rows.map((r) => this.recordingView(r));
  }

  private async recordingRow(id: number): Promise<RecordingRow> {
    const r = await this.db.selectFrom('recordings').selectAll().where('id', '=', id).executeTakeFirst();
    if (!r) throw new NotFoundError(`recording ${id} not found`);
    return r;
  }

  async getRecording(id: number): Promise<RecordingView> {
    return this.recordingView(await this.recordingRow(id));
  }

  /** The file of a recording and its size now (a file being written keeps growing). */
  async recordingFile(id: number): Promise<{ path: string; size: number; name: string }> {
    const r = await this.recordingRow(id);
    if (!existsSync(r.path)) throw new NotFoundError(`the file of recording ${id} is gone (${basename(r.path)})`);
    const st = await stat(r.path);
    return { path: r.path, size: st.size, name: basename(r.path) };
  }

  /** Deletes a finished recording and its file; the file being written cannot be deleted (409). */
  async removeRecording(id: number): Promise<void> {
    const r = await this.recordingRow(id);
    if (this.liveFile(r.path)) throw new ConflictError(`recording ${id} is being written: stop route ${r.route_id} or wait for its next file`);
    await unlink(r.path).catch((e: NodeJS.ErrnoException) => { if (e.code !== 'ENOENT') throw e; });
    await this.db.deleteFrom('recordings').where('id', '=', id).execute();
  }
}
