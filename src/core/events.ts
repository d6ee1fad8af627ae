// The audit log: logins, changes, connections accepted and rejected, publish/unpublish.
// Persisted in the store; writes are queued so a burst of connections never blocks the data path.
import { EventEmitter } from 'node:events';
import type { Kysely, Selectable } from 'kysely';
import type { DB, EventsTable } from '../store/db.js';

export type EventLevel = 'info' | 'warn' | 'error';

export interface EventInput {
  type: string;
  level?: EventLevel;
  actor?: string | null;
  target?: string | null;
  message: string;
  data?: Record<string, unknown>;
}

export interface EventView {
  id: number;
  ts: string;
  type: string;
  level: EventLevel;
  actor: string | null;
  target: string | null;
  message: string;
  data: Record<string, unknown> | null;
}

export interface EventFilter {
  type?: string; // exact, or a prefix ending in '.' / '*' (e.g. "connection.")
  level?: EventLevel;
  target?: string;
  actor?: string;
  since?: string;
  until?: string;
  q?: string; // substring of the message
  limit?: number;
  offset?: number;
}

export function eventView(r: Selectable<EventsTable>): EventView {
  return { ...r, level: r.level, data: r.data === null ? null : (JSON.parse(r.data) as Record<string, unknown>) };
}

export class EventLog extends EventEmitter<{ event: [EventView] }> {
  private queue: { row: Omit<Selectable<EventsTable>, 'id'>; resolve: () => void }[] = [];
  private flushing: Promise<void> | null = null;
  private seq = 0;

  /** Scale-out: every event carries the name of the node that recorded it (`data.node`). */
  node: string | null = null;

  constructor(private readonly db: Kysely<DB>, private readonly keep = 100_000) {
    super();
  }

  /** Records an event (written in the background; `flush()` waits for it). */
  record(e: EventInput): void {
    const row = {
      ts: new Date().toISOString(), type: e.type, level: e.level ?? 'info', actor: e.actor ?? null, target: e.target ?? null,
      message: e.message, data: this.node !== null ? JSON.stringify({ node: this.node, ...e.data }) : e.data ? JSON.stringify(e.data) : null,
    };
    this.queue.push({ row, resolve: () => undefined });
    this.emit('event', { id: --this.seq, ...row, data: e.data ?? null });
    if (!this.flushing) this.flushing = this.write();
  }

  private async write(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, 500);
        try {
          await this.db.insertInto('events').values(batch.map((b) => b.row)).execute();
        } catch (err) {
          process.emitWarning(`event log: ${batch.length} events not written: ${(err as Error).message}`);
        }
      }
    } finally {
      this.flushing = null;
    }
  }

  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  async list(f: EventFilter = {}): Promise<{ items: EventView[]; total: number }> {
    await this.flush();
    let q = this.db.selectFrom('events');
    if (f.type) {
      const t = f.type.replace(/\*$/, '');
      q = t.endsWith('.') ? q.where('type', 'like', `${t}%`) : q.where('type', '=', t);
    }
    if (f.level) q = q.where('level', '=', f.level);
    if (f.target) q = q.where('target', '=', f.target);
    if (f.actor) q = q.where('actor', '=', f.actor);
    if (f.since) q = q.where('ts', '>=', f.since);
    if (f.until) q = q.where('ts', '<', f.until);
    if (f.q) q = q.where('message', 'like', `%${f.q.replace(/[%_]/g, '')}%`);
    const total = Number((await q.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
    const rows = await q.selectAll().orderBy('id', 'desc').limit(f.limit ?? 100).offset(f.offset ?? 0).execute();
    return { items: rows.map(eventView), total };
  }

  async prune(): Promise<void> {
    await this.flush();
    const cut = await this.db.selectFrom('events').select('id').orderBy('id', 'desc').offset(this.keep).limit(1).executeTakeFirst();
    if (cut) await this.db.deleteFrom('events').where('id', '<=', cut.id).execute();
  }
}
