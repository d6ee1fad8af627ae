// The application services of `sluice serve`, wired once: the audit log, the API queue, SRT
// servers, their routes and recordings, gateways and the statistics history — started in
// dependency order and closed in reverse (tests build the same thing through this).
import type { Kysely } from 'kysely';
import type { DB } from '../store/db.js';
import { EventLog } from './events.js';
import { TaskQueue } from './tasks.js';
import { ServerManager } from './servers.js';
import { RouteManager } from './routes.js';
import type { RouteLimits } from './route-config.js';
import { GatewayManager } from './gateways.js';
import { StatsHistory } from './history.js';
import type { NodeManager } from './nodes.js';

export interface ControlPlaneOptions {
  /** Where recordings go (`<dataDir>/recordings/`). */
  dataDir: string;
  routeLimits?: Partial<RouteLimits>;
  /** Scale-out (ADR 17): this process is one node of several on a PostgreSQL store. */
  node?: NodeManager;
}

export class ControlPlane {
  readonly events: EventLog;
  readonly tasks: TaskQueue;
  readonly servers: ServerManager;
  readonly routes: RouteManager;
  readonly gateways: GatewayManager;
  readonly history: StatsHistory;
  readonly node: NodeManager | undefined;

  constructor(readonly db: Kysely<DB>, o: ControlPlaneOptions) {
    const node = o.node;
    this.node = node;
    this.events = new EventLog(db);
    if (node) this.events.node = node.name;
    this.tasks = new TaskQueue(db);
    this.servers = new ServerManager(db, this.events, node ? { cluster: node.serverHooks() } : {});
    // routes follow their servers from here on (started, stopped, removed with them); with several nodes, on the server's owner
    this.routes = new RouteManager(db, this.servers, this.events, o.dataDir, { ...(o.routeLimits ? { limits: o.routeLimits } : {}), ...(node ? { runsRoutesOf: node.runsRoutesOf } : {}) });
    this.gateways = new GatewayManager(db, this.events, node?.gatewayHooks());
    this.history = new StatsHistory(this.servers);
    node?.attach(this.servers, this.gateways, this.routes, this.events);
  }

  /**
   * Restores the saved state: tasks a crash interrupted are marked failed, then every server,
   * route and gateway marked active starts (one that cannot is shown failed; the others carry on).
   * `sampleHistory` starts the one-per-second statistics sampling (tests drive it by hand).
   */
  async start(o: { sampleHistory?: boolean } = {}): Promise<void> {
    const others = (await this.node?.join()) ?? 0; // before the servers: they carry the node credential
    // tasks left queued or running by a crash; with other nodes up, those may be theirs
    if (others === 0) await this.tasks.recover();
    await this.servers.startActive();
    await this.routes.startActive();
    await this.gateways.startActive();
    await this.node?.start();
    if (o.sampleHistory !== false) this.history.start();
  }

  /** Graceful stop: queued API tasks finish, then gateways, routes (last recording files closed) and servers (SHUTDOWN to every SRT peer). */
  async close(): Promise<void> {
    this.history.stop();
    await this.tasks.drain();
    await this.node?.close(); // heartbeats and edges stop
    await this.gateways.closeAll();
    await this.routes.closeAll();
    await this.servers.closeAll();
    await this.node?.leave(); // the other nodes take its servers and gateways at their next heartbeat
    await this.events.flush();
  }
}
