// What the API routes work on: the store and the application services of core/.
import type { Kysely } from 'kysely';
import type { DB } from '../store/db.js';
import type { ServerManager } from '../core/servers.js';
import type { GatewayManager } from '../core/gateways.js';
import type { RouteManager } from '../core/routes.js';
import type { TaskQueue } from '../core/tasks.js';
import type { EventLog } from '../core/events.js';
import type { StatsHistory } from '../core/history.js';
import type { NodeManager } from '../core/nodes.js';

export interface AppContext {
  db: Kysely<DB>;
  servers: ServerManager;
  /** RX/TX gateways (SRT ↔ UDP). */
  gateways: GatewayManager;
  /** Re-streaming routes of the servers (pull, push, UDP in/out, recording) and recordings. */
  routes: RouteManager;
  tasks: TaskQueue;
  events: EventLog;
  /** Per-second statistics of streams and connections (the last hour). */
  history: StatsHistory;
  /** Scale-out (ADR 17): this node, when several share the database. */
  node?: NodeManager;
  /** When set, GET /metrics requires `Authorization: Bearer <metricsToken>`. */
  metricsToken?: string;
  jwtSecret: string;
  /** Lifetime of a login token, e.g. "12h". */
  tokenTtl?: string;
  /** Fastify's logger: a level, and where the lines go (stdout by default; tests pass a stream). */
  logger?: boolean | { level: string; stream?: { write(line: string): void } };
}
