// The API queue (Callaba's "API Queue"): every mutating call runs as a task, serialized per
// resource, recorded in the store with its status, result and error (secrets masked: core/secrets.ts).
import type { Kysely, Selectable } from 'kysely';
import type { DB, TasksTable } from '../store/db.js';
import { NotFoundError } from './errors.js';
import { maskSecrets } from './secrets.js';

export type TaskStatus = 'queued' | 'running' | 'done' | 'failed';

export interface TaskView {
  id: number;
  kind: string;
  target: string;
  status: TaskStatus;
  actor: string | null;
  params: unknown;
  result: unknown;
  error: { code: string; message: string } | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
}

export interface TaskHandle {
  task: TaskView;
  /** Settles when the task is done: resolves with its result, rejects with its error. */
  done: Promise<unknown>;
}

export interface TaskFilter {
  status?: TaskStatus;
  kind?: string;
  target?: string;
  limit?: number;
  offset?: number;
}

const parse = (s: string | null): unknown => (s === null ? null : JSON.parse(s));

export function taskView(r: Selectable<TasksTable>): TaskView {
  return {
    ...r,
    // secrets never leave the history (rows stored before they were masked at write are masked here)
    params: maskSecrets(parse(r.params)),
    result: maskSecrets(parse(r.result)),
    error: r.error === null ? null : (JSON.parse(r.error) as { code: string; message: string }),
  };
}

/** Errors carry a stable code; the queue keeps it with the failed task. */
function errorRecord(e: unknown): { code: string; message: string } {
  const err = e as Error & { code?: unknown };
  return { code: typeof err.code === 'string' ? err.code : err instanceof RangeError ? 'API_ERR_VALIDATION' : 'API_ERR_INTERNAL', message: err.message ?? String(e) };
}

export class TaskQueue {
  /** Tail of the chain of tasks per resource key: tasks on one resource run one after another. */
  private readonly tails = new Map<string, Promise<void>>();
  private readonly pending = new Set<Promise<unknown>>();

  constructor(private readonly db: Kysely<DB>, private readonly keep = 10_000) {}

  /** On start-up: tasks left queued/running by a crash are marked failed (their outcome is unknown). */
  async recover(): Promise<number> {
    const now = new Date().toISOString();
    const r = await this.db.updateTable('tasks')
      .set({ status: 'failed', error: JSON.stringify({ code: 'API_ERR_INTERRUPTED', message: 'interrupted by a restart of sluice' }), finished_at: now })
      .where('status', 'in', ['queued', 'running']).executeTakeFirst();
    return Number(r.numUpdatedRows);
  }

  /** Queues `fn` on `target`; returns the recorded task at once and a promise of its outcome. */
  async submit<T>(kind: string, target: string, fn: () => Promise<T>, o: { actor?: string | null; params?: unknown } = {}): Promise<TaskHandle> {
    const created = new Date().toISOString();
    const row = await this.db.insertInto('tasks').values({
      kind, target, status: 'queued', actor: o.actor ?? null,
      params: o.params === undefined ? null : JSON.stringify(maskSecrets(o.params)), result: null, error: null,
      created_at: created, started_at: null, finished_at: null,
    }).returning('id').executeTakeFirstOrThrow();
    const id = row.id;
    const prev = this.tails.get(target) ?? Promise.resolve();
    const done = prev.then(async () => {
      await this.db.updateTable('tasks').set({ status: 'running', started_at: new Date().toISOString() }).where('id', '=', id).execute();
      try {
        const result = await fn();
        await this.db.updateTable('tasks').set({ status: 'done', result: result === undefined ? null : JSON.stringify(maskSecrets(result)), finished_at: new Date().toISOString() }).where('id', '=', id).execute();
        return result;
      } catch (e) {
        await this.db.updateTable('tasks').set({ status: 'failed', error: JSON.stringify(errorRecord(e)), finished_at: new Date().toISOString() }).where('id', '=', id).execute();
        throw e;
      }
    });
    const tail = done.then(() => undefined, () => undefined);
    this.tails.set(target, tail);
    this.pending.add(tail);
    void tail.then(() => {
      this.pending.delete(tail);
      if (this.tails.get(target) === tail) this.tails.delete(target);
    });
    done.catch(() => undefined); // the caller may not wait (async mode); the failure is recorded
    return { task: await this.get(id), done };
  }

  /** Runs a task and waits for it (the synchronous API mode). */
  async run<T>(kind: string, target: string, fn: () => Promise<T>, o: { actor?: string | null; params?: unknown } = {}): Promise<T> {
    const h = await this.submit(kind, target, fn, o);
    return (await h.done) as T;
  }

  async get(id: number): Promise<TaskView> {
    const r = await this.db.selectFrom('tasks').selectAll().where('id', '=', id).executeTakeFirst();
    if (!r) throw new NotFoundError(`task ${id} not found`);
    return taskView(r);
  }

  async list(f: TaskFilter = {}): Promise<{ items: TaskView[]; total: number }> {
    let q = this.db.selectFrom('tasks');
    if (f.status) q = q.where('status', '=', f.status);
    if (f.kind) q = q.where('kind', '=', f.kind);
    if (f.target) q = q.where('target', '=', f.target);
    const total = Number((await q.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
    const rows = await q.selectAll().orderBy('id', 'desc').limit(f.limit ?? 50).offset(f.offset ?? 0).execute();
    return { items: rows.map(taskView), total };
  }

  /** Keeps the newest `keep` finished tasks. */
  async prune(): Promise<void> {
    const cut = await this.db.selectFrom('tasks').select('id').orderBy('id', 'desc').offset(this.keep).limit(1).executeTakeFirst();
    if (cut) await this.db.deleteFrom('tasks').where('id', '<=', cut.id).where('status', 'in', ['done', 'failed']).execute();
  }

  /** Waits for every queued task (graceful shutdown). */
  async drain(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }
}
