// Persistence: Kysely over node:sqlite (embedded default) or PostgreSQL (several nodes),
// with versioned migrations written once for both dialects.
import {
  Kysely, Migrator, PostgresDialect, SqliteDialect, sql,
  type ColumnDefinitionBuilder, type CreateTableBuilder, type Migration, type MigrationProvider, type Generated,
} from 'kysely';
import { chmodSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { openSqlite as openSqliteFile } from './sqlite.js';

export interface UsersTable {
  id: Generated<number>;
  username: string;
  password_hash: string;
  role: 'admin' | 'operator' | 'viewer';
  created_at: string;
  /** Bumped when the password changes: login tokens carry it, older ones are refused. */
  token_version: Generated<number>;
}

export interface ServersTable {
  id: Generated<number>;
  server_name: string;
  server_type: string;
  server_port: number;
  server_latency: number;
  server_maxbw: number;
  server_timeout: number;
  server_rcvbuf: number;
  server_active: number; // 0/1
  settings: string; // JSON: passphrases, access mode, limits, …
  created_at: string;
  updated_at: string;
  /** Scale-out (ADR 17): the node that runs the server's routes; null on a single node. */
  node: Generated<string | null>;
}

export interface MetaTable {
  key: string;
  value: string;
}

/** An API task (Callaba's "API queue"): every mutating call runs as one. */
export interface TasksTable {
  id: Generated<number>;
  kind: string; // e.g. server.create
  target: string; // resource key the task is serialized on, e.g. server:3
  status: 'queued' | 'running' | 'done' | 'failed';
  actor: string | null;
  params: string | null; // JSON
  result: string | null; // JSON
  error: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
}

/** Audit log: logins, changes, connections accepted/rejected, publish/unpublish. */
export interface EventsTable {
  id: Generated<number>;
  ts: string; // ISO time
  type: string; // e.g. auth.login, server.updated, connection.rejected
  level: 'info' | 'warn' | 'error';
  actor: string | null;
  target: string | null; // e.g. server:3, gateway:rx:2
  message: string;
  data: string | null; // JSON
}

/** RX (SRT → UDP) and TX (UDP → SRT) gateways; `config` keeps the RX/TX document's fields. */
export interface GatewaysTable {
  id: Generated<number>;
  kind: 'rx' | 'tx';
  name: string; // ServiceName
  config: string; // JSON with the document's field names
  active: number; // 0/1
  created_at: string;
  updated_at: string;
  /** Scale-out (ADR 17): the node that runs the gateway; null on a single node. */
  node: Generated<string | null>;
  /** Scale-out: the owner's last status of it, JSON {status, error} (the other nodes show it). */
  node_state: Generated<string | null>;
}

/** Scale-out (ADR 17): the `sluice serve` processes sharing one PostgreSQL database. */
export interface NodesTable {
  name: string;
  /** Where this node's SRT servers are reached (--advertise-addr). */
  address: string;
  http_url: string;
  /** A random id per process: a second process with the same name is refused while this one lives. */
  instance: string;
  started_at: string;
  /** The database's clock, ms since the epoch, at the last heartbeat. */
  heartbeat_ms: number;
  draining: number; // 0/1
  drain_reason: string | null;
  /** JSON: connections, Mbit/s in and out, CPU. */
  load: string;
}

/** Scale-out stream registry: which node has the publisher of each stream of a server. */
export interface StreamOriginsTable {
  server_id: number;
  stream: string;
  node: string;
  updated_at: string;
}

/** Re-streaming routes of a server: pull, push, UDP in/out, recording; `config` depends on `kind`. */
export interface RoutesTable {
  id: Generated<number>;
  server_id: number;
  kind: 'pull' | 'push' | 'udp-in' | 'udp-out' | 'record';
  name: string;
  stream: string;
  config: string; // JSON
  active: number; // 0/1
  created_at: string;
  updated_at: string;
}

/** One MPEG-TS file written by a record route. `route_id` is null once its route is deleted. */
export interface RecordingsTable {
  id: Generated<number>;
  route_id: number | null;
  server_id: number;
  stream: string;
  path: string;
  started_at: string;
  ended_at: string | null;
  bytes: number;
  status: 'recording' | 'complete' | 'interrupted';
}

export interface DB {
  users: UsersTable;
  servers: ServersTable;
  meta: MetaTable;
  tasks: TasksTable;
  events: EventsTable;
  gateways: GatewaysTable;
  routes: RoutesTable;
  recordings: RecordingsTable;
  nodes: NodesTable;
  stream_origins: StreamOriginsTable;
}

export type Dialect = 'sqlite' | 'postgres';

/** An auto-increment integer primary key in either dialect. */
function withId<T extends string>(b: CreateTableBuilder<T, never>, dialect: Dialect): CreateTableBuilder<T, 'id'> {
  return dialect === 'postgres'
    ? b.addColumn('id', 'serial', (c: ColumnDefinitionBuilder) => c.primaryKey())
    : b.addColumn('id', 'integer', (c: ColumnDefinitionBuilder) => c.primaryKey().autoIncrement());
}

function migrations(dialect: Dialect): Record<string, Migration> {
  return {
    '0001_initial': {
      async up(db: Kysely<unknown>): Promise<void> {
        await db.schema.createTable('meta').addColumn('key', 'text', (c) => c.primaryKey()).addColumn('value', 'text', (c) => c.notNull()).execute();
        await withId(db.schema.createTable('users'), dialect)
          .addColumn('username', 'text', (c) => c.notNull().unique())
          .addColumn('password_hash', 'text', (c) => c.notNull())
          .addColumn('role', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull().defaultTo(sql`CURRENT_TIMESTAMP`))
          .execute();
        await withId(db.schema.createTable('servers'), dialect)
          .addColumn('server_name', 'text', (c) => c.notNull().unique())
          .addColumn('server_type', 'text', (c) => c.notNull())
          .addColumn('server_port', 'integer', (c) => c.notNull().unique())
          .addColumn('server_latency', 'integer', (c) => c.notNull())
          .addColumn('server_maxbw', 'bigint', (c) => c.notNull())
          .addColumn('server_timeout', 'integer', (c) => c.notNull())
          .addColumn('server_rcvbuf', 'bigint', (c) => c.notNull())
          .addColumn('server_active', 'integer', (c) => c.notNull())
          .addColumn('settings', 'text', (c) => c.notNull().defaultTo('{}'))
          .addColumn('created_at', 'text', (c) => c.notNull().defaultTo(sql`CURRENT_TIMESTAMP`))
          .addColumn('updated_at', 'text', (c) => c.notNull().defaultTo(sql`CURRENT_TIMESTAMP`))
          .execute();
      },
    },
    '0002_tasks_events_gateways': {
      async up(db: Kysely<unknown>): Promise<void> {
        await withId(db.schema.createTable('tasks'), dialect)
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('target', 'text', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('actor', 'text')
          .addColumn('params', 'text')
          .addColumn('result', 'text')
          .addColumn('error', 'text')
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('started_at', 'text')
          .addColumn('finished_at', 'text')
          .execute();
        await db.schema.createIndex('tasks_status').on('tasks').column('status').execute();
        await withId(db.schema.createTable('events'), dialect)
          .addColumn('ts', 'text', (c) => c.notNull())
          .addColumn('type', 'text', (c) => c.notNull())
          .addColumn('level', 'text', (c) => c.notNull())
          .addColumn('actor', 'text')
          .addColumn('target', 'text')
          .addColumn('message', 'text', (c) => c.notNull())
          .addColumn('data', 'text')
          .execute();
        await db.schema.createIndex('events_ts').on('events').column('ts').execute();
        await db.schema.createIndex('events_type').on('events').column('type').execute();
        await withId(db.schema.createTable('gateways'), dialect)
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('config', 'text', (c) => c.notNull())
          .addColumn('active', 'integer', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('gateways_kind_name').on('gateways').columns(['kind', 'name']).unique().execute();
      },
    },
    '0003_routes': {
      async up(db: Kysely<unknown>): Promise<void> {
        await withId(db.schema.createTable('routes'), dialect)
          .addColumn('server_id', 'integer', (c) => c.notNull())
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('stream', 'text', (c) => c.notNull())
          .addColumn('config', 'text', (c) => c.notNull())
          .addColumn('active', 'integer', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('routes_server_name').on('routes').columns(['server_id', 'name']).unique().execute();
        await withId(db.schema.createTable('recordings'), dialect)
          .addColumn('route_id', 'integer')
          .addColumn('server_id', 'integer', (c) => c.notNull())
          .addColumn('stream', 'text', (c) => c.notNull())
          .addColumn('path', 'text', (c) => c.notNull().unique())
          .addColumn('started_at', 'text', (c) => c.notNull())
          .addColumn('ended_at', 'text')
          .addColumn('bytes', 'bigint', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('recordings_server_stream').on('recordings').columns(['server_id', 'stream', 'started_at']).execute();
        await db.schema.createIndex('recordings_route').on('recordings').column('route_id').execute();
      },
    },
    '0004_token_version': {
      async up(db: Kysely<unknown>): Promise<void> {
        await db.schema.alterTable('users').addColumn('token_version', 'integer', (c) => c.notNull().defaultTo(0)).execute();
      },
    },
    '0005_nodes': {
      // scale-out (ADR 17): nodes with heartbeats, owners of servers and gateways, the stream registry
      async up(db: Kysely<unknown>): Promise<void> {
        await db.schema.createTable('nodes')
          .addColumn('name', 'text', (c) => c.primaryKey())
          .addColumn('address', 'text', (c) => c.notNull())
          .addColumn('http_url', 'text', (c) => c.notNull())
          .addColumn('instance', 'text', (c) => c.notNull())
          .addColumn('started_at', 'text', (c) => c.notNull())
          .addColumn('heartbeat_ms', 'bigint', (c) => c.notNull())
          .addColumn('draining', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('drain_reason', 'text')
          .addColumn('load', 'text', (c) => c.notNull().defaultTo('{}'))
          .execute();
        await db.schema.alterTable('servers').addColumn('node', 'text').execute();
        await db.schema.alterTable('gateways').addColumn('node', 'text').execute();
        await db.schema.alterTable('gateways').addColumn('node_state', 'text').execute();
        await db.schema.createTable('stream_origins')
          .addColumn('server_id', 'integer', (c) => c.notNull())
          .addColumn('stream', 'text', (c) => c.notNull())
          .addColumn('node', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('stream_origins_pk', ['server_id', 'stream'])
          .execute();
      },
    },
  };
}

class StaticProvider implements MigrationProvider {
  constructor(private readonly dialect: Dialect) {}
  async getMigrations(): Promise<Record<string, Migration>> {
    return migrations(this.dialect);
  }
}

export interface Store {
  db: Kysely<DB>;
  dialect: Dialect;
  /** Where it is, without credentials (for logs). */
  location: string;
}

async function migrate(db: Kysely<DB>, dialect: Dialect): Promise<void> {
  const { error, results } = await new Migrator({ db, provider: new StaticProvider(dialect) }).migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new Error(`database migration ${failed} failed: ${(error as Error).message}`);
  }
}


/** Opens (creating if needed) the SQLite database at `file` and migrates it to the latest version. */
export async function openSqlite(file: string): Promise<Kysely<DB>> {
  return (await openStore(file)).db;
}

/**
 * Opens the store named by `target`: a `postgres://` / `postgresql://` URL, or a SQLite file path
 * (`:memory:` for a throwaway one). Migrates it to the latest version.
 */
export async function openStore(target: string): Promise<Store> {
  if (/^postgres(ql)?:\/\//.test(target)) {
    // loaded only for PostgreSQL: the embedded default starts faster without it
    const pg = (await import('pg')).default;
    // BIGINT columns come back from pg as strings: they hold values below 2^53 here, so parse them.
    pg.types.setTypeParser(20, (v: string) => Number(v));
    const pool = new pg.Pool({ connectionString: target, max: 10 });
    // an idle connection the server ended (restart, failover, administrator): the pool replaces it
    // at the next query; unheard, the event would end the process
    pool.on('error', (e: Error) => process.emitWarning(`PostgreSQL: an idle connection ended: ${e.message}`));
    const db = new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
    try {
      await sql`select 1`.execute(db);
    } catch (e) {
      await db.destroy();
      const u = new URL(target);
      throw new Error(`cannot connect to PostgreSQL at ${u.host}${u.pathname}: ${(e as Error).message}`);
    }
    await migrate(db, 'postgres');
    const u = new URL(target);
    return { db, dialect: 'postgres', location: `postgres://${u.host}${u.pathname}` };
  }
  if (target !== ':memory:') mkdirSync(dirname(target), { recursive: true, mode: 0o700 });
  const sqlite = openSqliteFile(target);
  // the database holds the JWT secret, password hashes and passphrases: owner only (-wal and -shm too)
  if (target !== ':memory:') for (const f of [target, `${target}-wal`, `${target}-shm`]) if (existsSync(f)) chmodSync(f, 0o600);
  const db = new Kysely<DB>({ dialect: new SqliteDialect({ database: sqlite }) });
  await migrate(db, 'sqlite');
  return { db, dialect: 'sqlite', location: target };
}

/**
 * Makes a data directory private to its owner: the directory 0700, every file below it 0600 and
 * every folder 0700 (recordings included). Creates it if missing. Symbolic links are not followed.
 */
export function secureDataDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const walk = (d: string): void => {
    chmodSync(d, 0o700);
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else if (e.isFile()) chmodSync(join(d, e.name), 0o600);
    }
  };
  walk(dir);
}
