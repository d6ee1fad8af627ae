// Re-streaming routes (pull, push, UDP in/out, record) and recordings. This part of the API is
// newer than the rest: the page asks the server's OpenAPI document whether it is there and says
// so when it is not (an older Sluice behind a newer console).
import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, availablePaths, getToken, type Answer } from '../api';
import { Badge, Dialog, Empty, ErrorNote, Field, fieldErrors, TextInput, useConfirm } from '../components/ui';
import { bits, bytes, num, time } from '../lib/format';
import { usePoll } from '../lib/hooks';
import { useSession } from '../session';

type RouteView = Answer<'/api/v1/routes'>[number];
type Recording = Answer<'/api/v1/recordings'>[number];
type RouteKind = RouteView['kind'];

const KINDS: RouteKind[] = ['pull', 'push', 'udp-in', 'udp-out', 'record'];
const CONFIG_HINT: Record<string, string> = {
  pull: '{"url": "srt://host:port?streamid=…"}',
  push: '{"url": "srt://host:port?streamid=…"}',
  'udp-in': '{"url": "udp://:5000"}',
  'udp-out': '{"url": "udp://127.0.0.1:5000"}',
  record: '{"segment_seconds": 600}',
};

export function useAvailable(path: string): boolean | null {
  const [ok, setOk] = useState<boolean | null>(null);
  useEffect(() => {
    let live = true;
    void availablePaths().then((p) => { if (live) setOk(p.has(path)); });
    return () => { live = false; };
  }, [path]);
  return ok;
}

export function RoutesPage(): JSX.Element {
  const routesOk = useAvailable('/api/v1/routes');
  const recOk = useAvailable('/api/v1/recordings');
  return (
    <section aria-labelledby="routes-title">
      <header class="page-head"><h1 id="routes-title">Routes and recordings</h1></header>
      {routesOk === false && <p class="note" data-unavailable="routes">Routes are not available on this Sluice: its API has no <span class="mono">/api/v1/routes</span>.</p>}
      {routesOk && <RoutesList />}
      <h2>Recordings</h2>
      {recOk === false && <p class="note" data-unavailable="recordings">Recordings are not available on this Sluice: its API has no <span class="mono">/api/v1/recordings</span>.</p>}
      {recOk && <Recordings />}
    </section>
  );
}

function RoutesList(): JSX.Element {
  const { canWrite, toast } = useSession();
  const list = usePoll((signal) => api.get('/api/v1/routes', { signal }), 1000, []);
  const servers = usePoll((signal) => api.get('/api/v1/servers', { signal }), 5000, []);
  const [editing, setEditing] = useState<RouteView | 'new' | null>(null);
  const [confirmEl, ask] = useConfirm();
  const name = (id: number): string => servers.data?.find((s) => s.id === id)?.server_name ?? `server ${id}`;
  const act = async (r: RouteView, action: 'start' | 'stop' | 'restart' | 'delete'): Promise<void> => {
    try {
      if (action === 'delete') {
        if (!(await ask(`Delete the ${r.kind} route "${r.name}"? Its recordings are kept.`, 'Delete'))) return;
        await api.delete('/api/v1/routes/{rid}', { params: { rid: r.id } });
        toast(`${r.name} deleted`);
      } else {
        const path = action === 'start' ? '/api/v1/routes/{rid}/start' : action === 'stop' ? '/api/v1/routes/{rid}/stop' : '/api/v1/routes/{rid}/restart';
        const v = await api.post(path, { params: { rid: r.id } });
        toast(`${r.name}: ${v.status}${v.error ? ` (${v.error})` : ''}`, v.status === 'failed' ? 'error' : 'ok');
      }
    } catch (e) {
      toast(`${action} ${r.name}: ${(e as Error).message}`, 'error');
    } finally {
      list.reload();
    }
  };
  const routes = list.data ?? [];
  return (
    <>
      <div class="page-head">
        <h2>Routes</h2>
        {canWrite && <button type="button" class="btn btn-primary" onClick={() => setEditing('new')}>New route</button>}
      </div>
      <ErrorNote error={list.error} prefix="Routes could not be loaded" />
      {list.data && routes.length === 0 && <Empty>No route yet: routes pull or push SRT, take or give UDP, or record a stream.</Empty>}
      {routes.length > 0 && (
        <div class="table-wrap">
          <table class="table">
            <thead><tr><th scope="col">Name</th><th scope="col">Kind</th><th scope="col">Server / stream</th><th scope="col">Status</th><th scope="col">Link</th><th scope="col">Rate</th><th scope="col">Carried</th><th scope="col">Dropped</th><th scope="col">Reconn.</th>{canWrite && <th scope="col"><span class="sr-only">Actions</span></th>}</tr></thead>
            <tbody>
              {routes.map((r) => {
                const rate = r.srt ? (r.kind === 'pull' ? r.srt['mbpsRecvRate'] : r.srt['mbpsSendRate']) : undefined;
                return (
                  <tr key={r.id} data-route={r.name}>
                    <td>{r.name}</td>
                    <td>{r.kind}</td>
                    <td>{name(r.server_id)} / <span class="mono">{r.stream}</span></td>
                    <td><Badge status={r.status} title={r.error ?? undefined} />{r.error && <small class="err-inline">{r.error}</small>}{!r.server_running && r.active && <small class="muted"> waits for its server</small>}</td>
                    <td>{r.connected ? 'up' : 'down'}{r.peer && <small class="mono"> {r.peer}</small>}{r.link_error && <small class="err-inline">{r.link_error}</small>}</td>
                    <td class="num">{rate === undefined ? '—' : bits(rate * 1e6)}</td>
                    <td class="num">{bytes(r.bytes)}{r.recording && <small class="muted"> → {r.recording.path.split('/').pop()}</small>}</td>
                    <td class="num">{num(r.dropped)}</td>
                    <td class="num">{r.reconnections}</td>
                    {canWrite && (
                      <td>
                        <div class="btns" role="group" aria-label={`Actions for ${r.name}`}>
                          {r.status === 'running'
                            ? <button type="button" class="btn btn-small" onClick={() => void act(r, 'stop')}>Stop</button>
                            : <button type="button" class="btn btn-small" onClick={() => void act(r, 'start')}>Start</button>}
                          <button type="button" class="btn btn-small" onClick={() => void act(r, 'restart')}>Restart</button>
                          <button type="button" class="btn btn-small" onClick={() => setEditing(r)}>Edit</button>
                          <button type="button" class="btn btn-small btn-danger" onClick={() => void act(r, 'delete')}>Delete</button>
                        </div>
                      </td>
                    )}
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      <Dialog open={editing !== null} title={editing === 'new' ? 'New route' : `Edit ${editing ? editing.name : ''}`} onClose={() => setEditing(null)} wide>
        {editing !== null && <RouteForm route={editing === 'new' ? null : editing} servers={(servers.data ?? []).map((s) => ({ id: s.id, name: s.server_name }))} onDone={(note) => { setEditing(null); toast(note); list.reload(); }} />}
      </Dialog>
      {confirmEl}
    </>
  );
}

function RouteForm({ route, servers, onDone }: { route: RouteView | null; servers: { id: number; name: string }[]; onDone: (note: string) => void }): JSX.Element {
  const [serverId, setServerId] = useState(String(route?.server_id ?? servers[0]?.id ?? ''));
  const [kind, setKind] = useState<RouteKind>(route?.kind ?? 'pull');
  const [name, setName] = useState(route?.name ?? '');
  const [stream, setStream] = useState(route?.stream ?? '');
  const [config, setConfig] = useState(route ? JSON.stringify(route.config, null, 2) : '');
  const [active, setActive] = useState(route?.active ?? true);
  const [errs, setErrs] = useState<Record<string, string>>({});
  const [other, setOther] = useState<string[]>([]);
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    let cfg: Record<string, unknown> | undefined;
    if (config.trim()) {
      try {
        cfg = JSON.parse(config) as Record<string, unknown>;
      } catch (err) {
        setErrs({ config: `not valid JSON: ${(err as Error).message}` });
        return;
      }
    }
    setErrs({});
    setOther([]);
    try {
      if (route) {
        const r = await api.patch('/api/v1/routes/{rid}', { params: { rid: route.id }, body: { name, stream, active, ...(cfg ? { config: cfg } : {}) } });
        onDone(`${r.route.name} saved${r.restarted ? ' and restarted' : ''}`);
      } else {
        const r = await api.post('/api/v1/servers/{id}/routes', { params: { id: Number(serverId) }, body: { kind, name, stream, active, ...(cfg ? { config: cfg } : {}) } });
        onDone(`${r.name} created (${r.status})`);
      }
    } catch (err) {
      if (err instanceof ApiError && err.status === 400) {
        // config's own fields (url, passphrase, …) are shown under the configuration
        const mapped = err.errors.map((x) => (['kind', 'name', 'stream', 'active'].includes(x.field) ? x : { field: 'config', message: x.field.replace(/^config\.?/, '') ? `${x.field.replace(/^config\.?/, '')}: ${x.message}` : x.message }));
        const fe = fieldErrors(new ApiError(err.status, err.code, err.message, mapped), ['kind', 'name', 'stream', 'config', 'active']);
        setErrs(fe.fields);
        setOther(fe.other);
      } else setOther([(err as Error).message]);
    }
  };
  return (
    <form class="form" onSubmit={(e) => void submit(e)} noValidate>
      <div class="grid2">
        <Field label="Server">
          {(id) => (
            <select id={id} value={serverId} disabled={!!route} onChange={(e) => setServerId((e.currentTarget as HTMLSelectElement).value)}>
              {servers.map((s) => <option key={s.id} value={s.id}>{s.name}</option>)}
            </select>
          )}
        </Field>
        <Field label="Kind" error={errs['kind']}>
          {(id) => (
            <select id={id} value={kind} disabled={!!route} onChange={(e) => setKind((e.currentTarget as HTMLSelectElement).value as RouteKind)}>
              {KINDS.map((k) => <option key={k} value={k}>{k}</option>)}
            </select>
          )}
        </Field>
        <TextInput label="Name" name="name" value={name} onValue={setName} error={errs['name']} />
        <TextInput label="Stream" name="stream" value={stream} onValue={setStream} error={errs['stream']} hint="pull and udp-in publish it; push, udp-out and record read it" />
        <Field label="Active">
          {(id) => <label class="check"><input id={id} type="checkbox" checked={active} onChange={(e) => setActive((e.currentTarget as HTMLInputElement).checked)} /> run it</label>}
        </Field>
      </div>
      <Field label="Configuration (JSON)" error={errs['config']} hint={CONFIG_HINT[kind]}>
        {(id, d, invalid) => <textarea id={id} rows={4} class="mono" value={config} aria-describedby={d} aria-invalid={invalid} onInput={(e) => setConfig((e.currentTarget as HTMLTextAreaElement).value)} />}
      </Field>
      {other.length > 0 && <ul class="note note-error" role="alert">{other.map((o) => <li key={o}>{o}</li>)}</ul>}
      <div class="actions"><button type="submit" class="btn btn-primary">{route ? 'Save' : 'Create route'}</button></div>
    </form>
  );
}

function Recordings(): JSX.Element {
  const { canWrite, toast } = useSession();
  const list = usePoll((signal) => api.get('/api/v1/recordings', { query: { limit: 500 }, signal }), 3000, []);
  const [confirmEl, ask] = useConfirm();
  const download = async (r: Recording): Promise<void> => {
    try {
      const res = await fetch(`/api/v1/recordings/${r.id}/download`, { headers: { authorization: `Bearer ${getToken() ?? ''}` } });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const url = URL.createObjectURL(await res.blob());
      const a = document.createElement('a');
      a.href = url;
      a.download = r.file_name;
      a.click();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (e) {
      toast(`download ${r.file_name}: ${(e as Error).message}`, 'error');
    }
  };
  const remove = async (r: Recording): Promise<void> => {
    if (!(await ask(`Delete ${r.file_name} (${bytes(r.bytes)})?`, 'Delete'))) return;
    try {
      await api.delete('/api/v1/recordings/{id}', { params: { id: r.id } });
      toast(`${r.file_name} deleted`);
    } catch (e) {
      toast(`delete ${r.file_name}: ${(e as Error).message}`, 'error');
    } finally {
      list.reload();
    }
  };
  const recs = [...(list.data ?? [])].reverse(); // newest first
  return (
    <>
      <ErrorNote error={list.error} prefix="Recordings could not be loaded" />
      {list.data && recs.length === 0 && <Empty>No recording yet: a record route writes MPEG-TS files.</Empty>}
      {recs.length > 0 && (
        <div class="table-wrap">
          <table class="table">
            <thead><tr><th scope="col">File</th><th scope="col">Stream</th><th scope="col">Started</th><th scope="col">Ended</th><th scope="col">Size</th><th scope="col">Status</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
            <tbody>
              {recs.map((r) => (
                <tr key={r.id}>
                  <td class="mono">{r.file_name}</td>
                  <td class="mono">{r.stream}</td>
                  <td>{time(r.started_at)}</td>
                  <td>{time(r.ended_at)}</td>
                  <td class="num">{bytes(r.bytes)}</td>
                  <td><Badge status={r.status} /></td>
                  <td>
                    <div class="btns">
                      <button type="button" class="btn btn-small" onClick={() => void download(r)}>Download</button>
                      {canWrite && r.status !== 'recording' && <button type="button" class="btn btn-small btn-danger" onClick={() => void remove(r)}>Delete</button>}
                    </div>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {confirmEl}
    </>
  );
}
