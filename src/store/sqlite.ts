// Kysely's SQLite dialect over Node's built-in `node:sqlite` (ADR 11): the embedded store needs
// no native addon, so `npm install` builds nothing and the store runs on whatever Node runs Sluice.
// Kysely's `SqliteDatabase` interface was written for better-sqlite3 (parameters as one array,
// a `reader` flag); this adapter maps it onto `DatabaseSync`/`StatementSync`.
import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
import type { SqliteDatabase, SqliteStatement } from 'kysely';

/** Rows from node:sqlite have a null prototype; the rest of Sluice (and deepEqual) expects plain objects. */
function plain(row: unknown): unknown {
  return row === undefined ? row : { ...(row as Record<string, unknown>) };
}

class Statement implements SqliteStatement {
  readonly reader: boolean;
  constructor(private readonly stmt: StatementSync) {
    this.reader = stmt.columns().length > 0;
  }

  all(parameters: ReadonlyArray<unknown>): unknown[] {
    return this.stmt.all(...(parameters as SQLInputValue[])).map(plain);
  }

  run(parameters: ReadonlyArray<unknown>): { changes: number | bigint; lastInsertRowid: number | bigint } {
    const r = this.stmt.run(...(parameters as SQLInputValue[]));
    return { changes: r.changes, lastInsertRowid: r.lastInsertRowid };
  }

  *iterate(parameters: ReadonlyArray<unknown>): IterableIterator<unknown> {
    for (const row of this.stmt.iterate(...(parameters as SQLInputValue[]))) yield plain(row);
  }
}

/** An open SQLite file (or `:memory:`) in WAL mode, ready for Kysely's `SqliteDialect`. */
export function openSqlite(path: string): SqliteDatabase {
  const db = new DatabaseSync(path);
  db.exec('PRAGMA journal_mode = WAL');
  db.exec('PRAGMA busy_timeout = 5000');
  return {
    close: () => db.close(),
    prepare: (sqlText: string) => new Statement(db.prepare(sqlText)),
  };
}
