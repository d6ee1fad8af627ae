// Persistence: Kysely over better-sqlite3 (embedded default), with versioned migrations.
import Database from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect, sql, type Migration, type MigrationProvider, type Generated } from 'kysely';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

export interface UsersTable {
  id: Generated<number>;
  username: string;
  password_hash: string;
  role: 'admin' | 'operator' | 'viewer';
  created_at: string;
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
}

export interface MetaTable {
  key: string;
  value: string;
}

export interface DB {
  users: UsersTable;
  servers: ServersTable;
  meta: MetaTable;
}

const migrations: Record<string, Migration> = {
  '0001_initial': {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.createTable('meta').addColumn('key', 'text', (c) => c.primaryKey()).addColumn('value', 'text', (c) => c.notNull()).execute();
      await db.schema.createTable('users')
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('username', 'text', (c) => c.notNull().unique())
        .addColumn('password_hash', 'text', (c) => c.notNull())
        .addColumn('role', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull().defaultTo(sql`CURRENT_TIMESTAMP`))
        .execute();
      await db.schema.createTable('servers')
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('server_name', 'text', (c) => c.notNull().unique())
        .addColumn('server_type', 'text', (c) => c.notNull())
        .addColumn('server_port', 'integer', (c) => c.notNull().unique())
        .addColumn('server_latency', 'integer', (c) => c.notNull())
        .addColumn('server_maxbw', 'integer', (c) => c.notNull())
        .addColumn('server_timeout', 'integer', (c) => c.notNull())
        .addColumn('server_rcvbuf', 'integer', (c) => c.notNull())
        .addColumn('server_active', 'integer', (c) => c.notNull())
        .addColumn('settings', 'text', (c) => c.notNull().defaultTo('{}'))
        .addColumn('created_at', 'text', (c) => c.notNull().defaultTo(sql`CURRENT_TIMESTAMP`))
        .addColumn('updated_at', 'text', (c) => c.notNull().defaultTo(sql`CURRENT_TIMESTAMP`))
        .execute();
    },
  },
};

class StaticProvider implements MigrationProvider {
  async getMigrations(): Promise<Record<string, Migration>> {
    return migrations;
  }
}

/** Opens (creating if needed) the SQLite database at `file` and migrates it to the latest version. */
export async function openSqlite(file: string): Promise<Kysely<DB>> {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const db = new Kysely<DB>({ dialect: new SqliteDialect({ database: new Database(file) }) });
  const { error, results } = await new Migrator({ db, provider: new StaticProvider() }).migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new Error(`database migration ${failed} failed: ${(error as Error).message}`);
  }
  return db;
}
