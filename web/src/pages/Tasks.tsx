// The API's task queue: every change runs as a task; queued, running, done or failed.
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { api, type Answer } from '../api';
import { Badge, Empty, ErrorNote, Field } from '../components/ui';
import { duration, time } from '../lib/format';
import { usePoll } from '../lib/hooks';

type Task = Answer<'/api/v1/tasks'>['items'][number];
type Status = NonNullable<Task['status']>;
const PAGE = 50;

export function Tasks(): JSX.Element {
  const [status, setStatus] = useState<Status | ''>('');
  const [kind, setKind] = useState('');
  const [offset, setOffset] = useState(0);
  const [open, setOpen] = useState<number | null>(null);
  const list = usePoll((signal) => api.get('/api/v1/tasks', { query: { status: status || undefined, kind: kind || undefined, limit: PAGE, offset }, signal }), 2000, [status, kind, offset]);
  const items = list.data?.items ?? [];
  const total = list.data?.total ?? 0;
  return (
    <section aria-labelledby="tasks-title">
      <header class="page-head"><h1 id="tasks-title">Task queue</h1></header>
      <form class="filters" onSubmit={(e) => e.preventDefault()} aria-label="Filter tasks">
        <Field label="Status">
          {(id) => (
            <select id={id} value={status} onChange={(e) => { setStatus((e.currentTarget as HTMLSelectElement).value as Status | ''); setOffset(0); }}>
              <option value="">any</option><option value="queued">queued</option><option value="running">running</option><option value="done">done</option><option value="failed">failed</option>
            </select>
          )}
        </Field>
        <Field label="Kind">
          {(id) => <input id={id} value={kind} placeholder="server.create" onInput={(e) => { setKind((e.currentTarget as HTMLInputElement).value); setOffset(0); }} />}
        </Field>
      </form>
      <ErrorNote error={list.error} prefix="Tasks could not be loaded" />
      {list.data && items.length === 0 && <Empty>No task matches.</Empty>}
      {items.length > 0 && (
        <div class="table-wrap">
          <table class="table">
            <thead><tr><th scope="col">#</th><th scope="col">Kind</th><th scope="col">Target</th><th scope="col">Status</th><th scope="col">By</th><th scope="col">Created</th><th scope="col">Took</th><th scope="col">Outcome</th></tr></thead>
            <tbody>
              {items.map((t) => (
                <tr key={t.id}>
                  <td class="num">{t.id}</td>
                  <td class="mono">{t.kind}</td>
                  <td class="mono">{t.target}</td>
                  <td><Badge status={t.status} /></td>
                  <td>{t.actor ?? '—'}</td>
                  <td>{time(t.created_at)}</td>
                  <td>{t.started_at && t.finished_at ? duration(Date.parse(t.finished_at) - Date.parse(t.started_at)) : '—'}</td>
                  <td>
                    {t.error ? <span class="err-inline">{t.error.message}</span> : null}
                    <button type="button" class="btn btn-small btn-link" aria-expanded={open === t.id} onClick={() => setOpen(open === t.id ? null : t.id)}>details</button>
                    {open === t.id && <pre class="json">{JSON.stringify({ params: t.params, result: t.result, error: t.error }, null, 2)}</pre>}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Pager offset={offset} total={total} page={PAGE} onOffset={setOffset} />
    </section>
  );
}

export function Pager({ offset, total, page, onOffset }: { offset: number; total: number; page: number; onOffset: (o: number) => void }): JSX.Element | null {
  if (total <= page && offset === 0) return null;
  return (
    <nav class="pager" aria-label="Pages">
      <button type="button" class="btn btn-small" disabled={offset === 0} onClick={() => onOffset(Math.max(0, offset - page))}>Newer</button>
      <span>{offset + 1}–{Math.min(total, offset + page)} of {total}</span>
      <button type="button" class="btn btn-small" disabled={offset + page >= total} onClick={() => onOffset(offset + page)}>Older</button>
    </nav>
  );
}
