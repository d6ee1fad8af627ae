// Application service: RX/TX gateways stored in the database (the RX/TX document's fields),
// started and stopped at run time, with their connection state and statistics.
import { randomBytes } from 'node:crypto';
import type { Kysely, Selectable } from 'kysely';
import { RxGateway, TxGateway, type ConnectedState, type Gateway } from '../gateway/rxtx.js';
import type { SrtStats } from '../protocol/stats.js';
import type { DB, GatewaysTable } from '../store/db.js';
import type { EventLog } from './events.js';
import {
  boundPort, checkSupported, documentStats, normalizeConfig, rxSpec, txSpec,
  type GatewayConfig, type GatewayKind, type NormalizeOptions,
} from './gateway-config.js';
import { ConflictError, NotFoundError } from './servers.js';

export type GatewayRow = Selectable<GatewaysTable>;

export interface GatewayView {
  id: number;
  kind: GatewayKind;
  name: string;
  active: boolean;
  status: 'running' | 'stopped' | 'failed';
  /** Why it could not start (failed), else null. */
  error: string | null;
  /** Id of the running instance (the document's ContainerId); '' when not running. */
  instance: string;
  /** 0 disconnected, 1 connected, 2 waiting (listener) or connecting (caller). */
  connected: ConnectedState;
  peer: string | null;
  reconnections: number;
  /** The last failed connection attempt of a caller (rejection, timeout), while it retries. */
  linkError: string | null;
  config: GatewayConfig;
  created_at: string;
  updated_at: string;
  /** Scale-out only: the node that runs it (its live state — connection, statistics — is that node's). */
  node?: string | null;
}

/** How a node of a scale-out decides which gateways it runs (core/nodes.ts). */
export interface GatewayClusterHooks {
  /** This node's name. */
  node: string;
  /** Takes the gateway for this node if nobody (alive) runs it; true when it is this node's. */
  claim(id: number): Promise<boolean>;
}

export interface GatewayStatsView {
  id: number;
  kind: GatewayKind;
  connected: ConnectedState;
  reconnections: number;
  intervalMs: number;
  /** The last complete interval, libsrt names (with the *Total counters at its end). */
  srt: SrtStats | null;
  /**
   * The RX/TX document's names and units: packet and byte counts since the current connection was
   * established (as of now), rates of the last interval, RTT and bandwidth current.
   */
  fields: Record<string, number>;
}

interface Running {
  gw: Gateway;
  instance: string;
  linkError: string | null;
}

const KIND_LABEL: Record<GatewayKind, string> = { rx: 'RX', tx: 'TX' };
export const STATS_INTERVAL_MS = 1000;

export class GatewayManager {
  private readonly running = new Map<number, Running>();
  private readonly failures = new Map<number, string>();

  /** The `updated_at` of the row each gateway was started (or failed) from: a change made elsewhere restarts it. */
  private readonly versions = new Map<number, string>();

  constructor(private readonly db: Kysely<DB>, private readonly events?: EventLog, private readonly cluster?: GatewayClusterHooks) {}

  private static config(row: GatewayRow): GatewayConfig {
    return JSON.parse(row.config) as GatewayConfig;
  }

  private view(row: GatewayRow): GatewayView {
    const rt = this.running.get(row.id);
    let error = this.failures.get(row.id) ?? null;
    let status: GatewayView['status'] = rt ? 'running' : error ? 'failed' : 'stopped';
    if (this.cluster && row.node !== this.cluster.node && row.node !== null && row.node_state) {
      // run by another node: the state it last stored
      const st = JSON.parse(row.node_state) as { status: GatewayView['status']; error: string | null };
      [status, error] = [row.active === 1 ? st.status : 'stopped', st.error];
    }
    return {
      id: row.id,
      kind: row.kind,
      name: row.name,
      active: row.active === 1,
      status,
      error,
      instance: rt?.instance ?? '',
      connected: rt ? rt.gw.connected : 0,
      peer: rt?.gw.link.peer ?? null,
      reconnections: rt ? rt.gw.reconnections : 0,
      linkError: rt?.linkError ?? null,
      config: GatewayManager.config(row),
      created_at: row.created_at,
      updated_at: row.updated_at,
      ...(this.cluster ? { node: row.node } : {}),
    };
  }

  private async row(id: number, kind?: GatewayKind): Promise<GatewayRow> {
    const r = await this.db.selectFrom('gateways').selectAll().where('id', '=', id).executeTakeFirst();
    if (!r || (kind && r.kind !== kind)) throw new NotFoundError(`${kind ? `${KIND_LABEL[kind]} gateway` : 'gateway'} ${id} not found`);
    return r;
  }

  async list(kind?: GatewayKind): Promise<GatewayView[]> {
    let q = this.db.selectFrom('gateways').selectAll();
    if (kind) q = q.where('kind', '=', kind);
    return (await q.orderBy('id').execute()).map((r) => this.view(r));
  }

  /** `kind`: only a gateway of this kind is found (the RX/TX routes). */
  async get(id: number, kind?: GatewayKind): Promise<GatewayView> {
    return this.view(await this.row(id, kind));
  }

  async stats(id: number, kind?: GatewayKind): Promise<GatewayStatsView> {
    const v = await this.get(id, kind);
    const gw = this.running.get(id)?.gw;
    const srt = gw?.lastStats ?? null;
    return {
      id, kind: v.kind, connected: v.connected, reconnections: v.reconnections, intervalMs: STATS_INTERVAL_MS,
      srt, fields: documentStats(v.kind, v.config, v.status === 'running', gw?.liveStats() ?? null, srt),
    };
  }

  runtime(id: number): Gateway | undefined {
    return this.running.get(id)?.gw;
  }

  /** Same ServiceName within a kind, or the same local SRT port (two sockets cannot bind it). */
  private async checkConflicts(kind: GatewayKind, cfg: GatewayConfig, exceptId?: number): Promise<void> {
    const rows = await this.db.selectFrom('gateways').selectAll().execute();
    const port = boundPort(cfg);
    for (const r of rows) {
      if (r.id === exceptId) continue;
      const label = `${KIND_LABEL[r.kind]} gateway ${r.id} ("${r.name}")`;
      if (r.kind === kind && r.name === cfg['ServiceName']) throw new ConflictError(`ServiceName "${r.name}" is used by ${label}`);
      if (port !== null && boundPort(GatewayManager.config(r)) === port) {
        throw new ConflictError(`ListenPort ${port} is bound by the ${String(GatewayManager.config(r)['Mode'])} of ${label}`);
      }
    }
  }

  /**
   * Validates (400/422/409) and stores a gateway; starts it unless `active` is false. `lenient`:
   * fields of the other direction are ignored (the RX/TX compatibility routes).
   */
  async create(kind: GatewayKind, input: unknown, active = true, opts: NormalizeOptions = {}): Promise<GatewayView> {
    const cfg = normalizeConfig(kind, input, {}, opts);
    checkSupported(kind, cfg);
    await this.checkConflicts(kind, cfg);
    const now = new Date().toISOString();
    const r = await this.db.insertInto('gateways').values({
      kind, name: cfg['ServiceName'] as string, config: JSON.stringify(cfg), active: active ? 1 : 0, created_at: now, updated_at: now,
    }).returning('id').executeTakeFirstOrThrow();
    if (active) await this.start(r.id);
    return this.get(r.id);
  }

  /** Merges `input` into the configuration; a running gateway restarts with it. */
  async update(id: number, input: unknown, opts: { active?: boolean; kind?: GatewayKind } & NormalizeOptions = {}): Promise<{ gateway: GatewayView; restarted: boolean }> {
    const cur = await this.row(id, opts.kind);
    const cfg = normalizeConfig(cur.kind, input ?? {}, GatewayManager.config(cur), { lenient: opts.lenient });
    checkSupported(cur.kind, cfg);
    await this.checkConflicts(cur.kind, cfg, id);
    const active = opts.active === undefined ? cur.active : opts.active ? 1 : 0;
    await this.db.updateTable('gateways').set({
      name: cfg['ServiceName'] as string, config: JSON.stringify(cfg), active, updated_at: new Date().toISOString(),
    }).where('id', '=', id).execute();
    const wasRunning = this.running.has(id);
    await this.stopRuntime(id);
    if (active === 1) await this.start(id);
    return { gateway: await this.get(id), restarted: wasRunning && active === 1 };
  }

  async remove(id: number, kind?: GatewayKind): Promise<void> {
    await this.row(id, kind);
    await this.stopRuntime(id);
    await this.db.deleteFrom('gateways').where('id', '=', id).execute();
    this.failures.delete(id);
  }

  /** Starts a gateway; a port that cannot be bound (or a setting that cannot run) marks it failed. */
  async start(id: number, kind?: GatewayKind): Promise<GatewayView> {
    const row = await this.row(id, kind);
    await this.db.updateTable('gateways').set({ active: 1 }).where('id', '=', id).execute();
    if (this.running.has(id)) return this.get(id);
    // scale-out: another node runs it (it follows the change on its next heartbeat)
    if (this.cluster && !(await this.cluster.claim(id))) return this.get(id);
    this.versions.set(id, row.updated_at);
    const target = `gateway:${row.kind}:${id}`;
    let gw: Gateway | null = null;
    try {
      const cfg = GatewayManager.config(row);
      checkSupported(row.kind, cfg);
      gw = row.kind === 'rx' ? new RxGateway(rxSpec(cfg)) : new TxGateway(txSpec(cfg));
      const rt: Running = { gw, instance: randomBytes(5).toString('hex'), linkError: null };
      this.watch(id, row, rt);
      await gw.start();
      this.running.set(id, rt);
      this.failures.delete(id);
    } catch (e) {
      await gw?.close().catch(() => undefined);
      const msg = (e as Error).message;
      this.failures.set(id, msg);
      this.events?.record({ type: 'gateway.failed', level: 'error', target, message: `${KIND_LABEL[row.kind]} gateway "${row.name}" cannot start: ${msg}` });
    }
    await this.storeState(id);
    return this.get(id);
  }

  /** Scale-out: the owner stores the gateway's state for the other nodes' views. */
  private async storeState(id: number): Promise<void> {
    if (!this.cluster) return;
    const state = JSON.stringify({ status: this.running.has(id) ? 'running' : this.failures.has(id) ? 'failed' : 'stopped', error: this.failures.get(id) ?? null });
    await this.db.updateTable('gateways').set({ node_state: state }).where('id', '=', id).where('node', '=', this.cluster.node).execute();
  }

  /**
   * Scale-out: runs exactly the active gateways in `owned` (this node's), restarting one whose row
   * changed since it started (an update through another node's API); stops the others here.
   */
  async syncOwned(owned: Set<number>): Promise<void> {
    const rows = await this.db.selectFrom('gateways').select(['id', 'active', 'updated_at']).execute();
    for (const r of rows) {
      const mine = owned.has(r.id) && r.active === 1;
      const version = this.versions.get(r.id);
      if (!mine) {
        if (this.running.has(r.id)) await this.stopRuntime(r.id);
        this.versions.delete(r.id);
        this.failures.delete(r.id);
        continue;
      }
      if (version === r.updated_at) continue; // running (or failed) as stored
      await this.stopRuntime(r.id);
      await this.start(r.id);
    }
    const ids = new Set(rows.map((r) => r.id));
    for (const id of [...this.running.keys()]) if (!ids.has(id)) await this.stopRuntime(id);
  }

  /** Connections, disconnections and run-time failures go to the audit log. */
  private watch(id: number, row: GatewayRow, rt: Running): void {
    const target = `gateway:${row.kind}:${id}`;
    const label = `${KIND_LABEL[row.kind]} gateway "${row.name}"`;
    const gw = rt.gw;
    gw.on('attemptFailed', (e) => { rt.linkError = e.message; });
    gw.on('connected', (peer) => {
      rt.linkError = null;
      this.events?.record({ type: 'gateway.connected', target, message: `${label} connected to ${peer}`, data: { peer, instance: rt.instance, reconnections: gw.reconnections } });
    });
    gw.on('disconnected', (reason) => {
      this.events?.record({ type: 'gateway.disconnected', level: 'warn', target, message: `${label} disconnected: ${reason}`, data: { reason, instance: rt.instance } });
    });
    gw.on('error', (e) => {
      if (this.running.get(id) !== rt) return;
      this.running.delete(id);
      this.failures.set(id, e.message);
      void gw.close();
      void this.storeState(id).catch(() => undefined);
      this.events?.record({ type: 'gateway.failed', level: 'error', target, message: `${label} failed: ${e.message}` });
    });
  }

  async stop(id: number, kind?: GatewayKind): Promise<GatewayView> {
    await this.row(id, kind);
    await this.stopRuntime(id);
    await this.db.updateTable('gateways').set({ active: 0 }).where('id', '=', id).execute();
    await this.storeState(id);
    return this.get(id);
  }

  async restart(id: number, kind?: GatewayKind): Promise<GatewayView> {
    await this.row(id, kind);
    await this.stopRuntime(id);
    return this.start(id);
  }

  private async stopRuntime(id: number): Promise<void> {
    const rt = this.running.get(id);
    this.running.delete(id);
    this.failures.delete(id);
    await rt?.gw.close();
  }

  /** Starts every gateway marked active (on boot); failures are recorded, the others carry on. */
  async startActive(): Promise<void> {
    const rows = await this.db.selectFrom('gateways').select('id').where('active', '=', 1).orderBy('id').execute();
    for (const r of rows) await this.start(r.id);
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.running.keys()].map((id) => this.stopRuntime(id)));
  }

  /** Scale-out: this node lost the database beyond the dead time (others may run them now): stops every gateway here, without the store. */
  async fence(): Promise<void> {
    await this.closeAll();
    this.versions.clear();
  }
}
