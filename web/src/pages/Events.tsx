// The events log (audit): who did what, connections, streams; filtered and paged.
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { api } from '../api';
import { Badge, Empty, ErrorNote, Field } from '../components/ui';
import { time } from '../lib/format';
import { usePoll } from '../lib/hooks';
import { Pager } from './Tasks';

const PAGE = 100;
type Level = 'info' | 'warn' | 'error';

export function Events(): JSX.Element {
  const [f, setF] = useState({ type: '', level: '' as Level | '', target: '', actor: '', q: '', since: '' });
  const [offset, setOffset] = useState(0);
  const [live, setLive] = useState(true);
  const set = (k: keyof typeof f) => (e: Event): void => {
    setF({ ...f, [k]: (e.currentTarget as HTMLInputElement).value });
    setOffset(0);
  };
  const since = f.since ? new Date(f.since).toISOString() : undefined;
  const list = usePoll((signal) => api.get('/api/v1/events', {
    query: { type: f.type || undefined, level: f.level || undefined, target: f.target || undefined, actor: f.actor || undefined, q: f.q || undefined, since, limit: PAGE, offset },
    signal,
  }), live ? 3000 : 0, [JSON.stringify(f), offset, live]);
  const items = list.data?.items ?? [];
  return (
    <section aria-labelledby="events-title">
      <header class="page-head">
        <h1 id="events-title">Events</h1>
        <label class="check"><input type="checkbox" checked={live} onChange={(e) => setLive((e.currentTarget as HTMLInputElement).checked)} /> refresh every 3 s</label>
      </header>
      <form class="filters" onSubmit={(e) => e.preventDefault()} aria-label="Filter events">
        <Field label="Type or prefix.">{(id) => <input id={id} value={f.type} placeholder="connection." title="an exact type, or a prefix ending in a dot" onInput={set('type')} />}</Field>
        <Field label="Level">
          {(id) => (
            <select id={id} value={f.level} onChange={set('level')}>
              <option value="">any</option><option value="info">info</option><option value="warn">warn</option><option value="error">error</option>
            </select>
          )}
        </Field>
        <Field label="Target">{(id) => <input id={id} value={f.target} placeholder="server:1" onInput={set('target')} />}</Field>
        <Field label="Actor">{(id) => <input id={id} value={f.actor} placeholder="admin" onInput={set('actor')} />}</Field>
        <Field label="Message contains">{(id) => <input id={id} value={f.q} onInput={set('q')} />}</Field>
        <Field label="Since">{(id) => <input id={id} type="datetime-local" value={f.since} onInput={set('since')} />}</Field>
      </form>
      <ErrorNote error={list.error} prefix="Events could not be loaded" />
      {list.data && items.length === 0 && <Empty>No event matches.</Empty>}
      {items.length > 0 && (
        <div class="table-wrap">
          <table class="table events">
            <thead><tr><th scope="col">Time</th><th scope="col">Level</th><th scope="col">Type</th><th scope="col">Actor</th><th scope="col">Target</th><th scope="col">Message</th></tr></thead>
            <tbody>
              {items.map((e) => (
                <tr key={e.id} data-type={e.type}>
                  <td>{time(e.ts)}</td>
                  <td><Badge status={e.level} /></td>
                  <td class="mono">{e.type}</td>
                  <td>{e.actor ?? '—'}</td>
                  <td class="mono">{e.target ?? '—'}</td>
                  <td>{e.message}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Pager offset={offset} total={list.data?.total ?? 0} page={PAGE} onOffset={setOffset} />
    </section>
  );
}
