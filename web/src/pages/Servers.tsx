// SRT servers: list with status, create/edit with the API's field-level validation messages,
// start/stop/restart/delete.
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { api, ApiError, type Answer } from '../api';
import { Badge, Dialog, Empty, ErrorNote, Field, fieldErrors, TextInput, useConfirm } from '../components/ui';
import { usePoll } from '../lib/hooks';
import { href } from '../lib/router';
import { useSession } from '../session';

export type ServerView = Answer<'/api/v1/servers/{id}'>;

// settings.packetfilter has its own input; other settings.* errors go to the JSON field
const FIELDS = ['server_name', 'server_port', 'server_latency', 'server_maxbw', 'server_timeout', 'server_rcvbuf', 'server_type', 'server_active', 'settings.packetfilter', 'settings'];

interface FormState {
  server_name: string;
  server_port: string;
  server_latency: string;
  server_maxbw: string;
  server_timeout: string;
  server_rcvbuf: string;
  server_type: string;
  server_active: boolean;
  /** libsrt's packetfilter (settings.packetfilter), e.g. fec,cols:10,rows:5; '' = none. */
  packetfilter: string;
  /** The other settings, as JSON. */
  settings: string;
}

function toForm(s: ServerView | null): FormState {
  const str = (v: number | undefined | null): string => (v === undefined || v === null ? '' : String(v));
  return {
    server_name: s?.server_name ?? '',
    server_port: str(s?.server_port),
    server_latency: str(s?.server_latency),
    server_maxbw: str(s?.server_maxbw),
    server_timeout: str(s?.server_timeout),
    server_rcvbuf: str(s?.server_rcvbuf),
    server_type: s?.server_type ?? '',
    server_active: s?.server_active ?? true,
    packetfilter: typeof s?.settings?.['packetfilter'] === 'string' ? s.settings['packetfilter'] : '',
    settings: settingsText(s),
  };
}

function settingsText(s: ServerView | null): string {
  const { packetfilter: _shownApart, ...rest } = (s?.settings ?? {}) as Record<string, unknown>;
  return Object.keys(rest).length > 0 ? JSON.stringify(rest, null, 2) : '';
}

/** A number when the text is one; otherwise the text itself, so that the API names the problem. */
function numeric(v: string): number | string | undefined {
  const t = v.trim();
  if (t === '') return undefined;
  return /^-?\d+$/.test(t) ? Number(t) : t;
}

export function ServerForm({ server, onDone }: { server: ServerView | null; onDone: (s: ServerView, note: string) => void }): JSX.Element {
  const [f, setF] = useState<FormState>(() => toForm(server));
  const [errs, setErrs] = useState<Record<string, string>>({});
  const [other, setOther] = useState<string[]>([]);
  const [busy, setBusy] = useState(false);
  const set = <K extends keyof FormState>(k: K) => (v: FormState[K]): void => setF((x) => ({ ...x, [k]: v }));
  const initial = toForm(server);

  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    const body: Record<string, unknown> = {};
    const local: Record<string, string> = {};
    for (const k of ['server_port', 'server_latency', 'server_maxbw', 'server_timeout', 'server_rcvbuf'] as const) {
      const v = numeric(f[k]);
      if (v !== undefined && (!server || f[k] !== initial[k])) body[k] = v;
    }
    if (!server || f.server_name !== initial.server_name) body['server_name'] = f.server_name.trim();
    if (f.server_type.trim() !== '' && (!server || f.server_type !== initial.server_type)) body['server_type'] = f.server_type.trim();
    if (!server || f.server_active !== initial.server_active) body['server_active'] = f.server_active;
    if (f.settings !== initial.settings || f.packetfilter !== initial.packetfilter) {
      // settings are replaced whole: the JSON field plus the packet filter field
      let settings: Record<string, unknown> | null = {};
      if (f.settings.trim() !== '') {
        try {
          const parsed = JSON.parse(f.settings) as unknown;
          if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) local['settings'] = 'must be a JSON object';
          settings = local['settings'] ? null : parsed as Record<string, unknown>;
        } catch (err) {
          local['settings'] = `not valid JSON: ${(err as Error).message}`;
          settings = null;
        }
      }
      if (settings) {
        const filter = f.packetfilter.trim();
        if (filter !== '') settings['packetfilter'] = filter;
        else if (f.packetfilter !== initial.packetfilter) delete settings['packetfilter'];
        body['settings'] = settings;
      }
    }
    setErrs(local);
    setOther([]);
    if (Object.keys(local).length > 0) return;
    setBusy(true);
    try {
      if (server) {
        if (Object.keys(body).length === 0) {
          onDone(server, 'nothing changed');
          return;
        }
        const r = await api.patch('/api/v1/servers/{id}', { params: { id: server.id }, body: body as never });
        onDone(r.server, r.restarted ? `${r.server.server_name} saved and restarted` : `${r.server.server_name} saved`);
      } else {
        const r = await api.post('/api/v1/servers', { body: body as never });
        onDone(r, `${r.server_name} created (${r.status})`);
      }
    } catch (err) {
      if (err instanceof ApiError && err.status === 400) {
        const fe = fieldErrors(err, FIELDS);
        setErrs(fe.fields);
        setOther(fe.other);
      } else if (err instanceof ApiError && err.status === 409) {
        const field = /port/i.test(err.message) ? 'server_port' : /name/i.test(err.message) ? 'server_name' : '';
        if (field) setErrs({ [field]: err.message });
        else setOther([err.message]);
      } else {
        setOther([(err as Error).message]);
      }
    } finally {
      setBusy(false);
    }
  };

  return (
    <form class="form" onSubmit={(e) => void submit(e)} noValidate aria-label={server ? `Edit ${server.server_name}` : 'New server'}>
      {server?.status === 'running' && <p class="note">Saving changes restarts the server: its peers are disconnected and reconnect.</p>}
      <div class="grid2">
        <TextInput label="Name" name="server_name" value={f.server_name} onValue={set('server_name')} error={errs['server_name']} hint="letters, digits, . _ - and inner spaces" />
        <TextInput label="UDP port" name="server_port" value={f.server_port} onValue={set('server_port')} error={errs['server_port']} inputMode="numeric" hint="1–65535" />
        <TextInput label="Latency (ms)" name="server_latency" value={f.server_latency} onValue={set('server_latency')} error={errs['server_latency']} inputMode="numeric" hint="default 120" />
        <TextInput label="Max bandwidth (bytes/s)" name="server_maxbw" value={f.server_maxbw} onValue={set('server_maxbw')} error={errs['server_maxbw']} inputMode="numeric" hint="-1 = 1 Gbit/s" />
        <TextInput label="Peer idle timeout (ms)" name="server_timeout" value={f.server_timeout} onValue={set('server_timeout')} error={errs['server_timeout']} inputMode="numeric" />
        <TextInput label="Receive buffer (bytes)" name="server_rcvbuf" value={f.server_rcvbuf} onValue={set('server_rcvbuf')} error={errs['server_rcvbuf']} inputMode="numeric" hint="at least 47104" />
        <TextInput label="Type" name="server_type" value={f.server_type} onValue={set('server_type')} error={errs['server_type']} hint="free text (Callaba's server_type)" />
        <Field label="Active" error={errs['server_active']}>
          {(id, d) => (
            <label class="check">
              <input id={id} type="checkbox" name="server_active" checked={f.server_active} aria-describedby={d} onChange={(e) => set('server_active')((e.currentTarget as HTMLInputElement).checked)} />
              run it (started now and after a restart of Sluice)
            </label>
          )}
        </Field>
      </div>
      <TextInput label="Packet filter (FEC)" name="packetfilter" value={f.packetfilter} onValue={set('packetfilter')} error={errs['settings.packetfilter']}
        hint="libsrt's packetfilter for every connection, e.g. fec,cols:10,rows:5 (layout:even|staircase, arq:always|onreq|never); callers with another filter are refused; empty = none" />
      <Field label="Settings (JSON)" error={errs['settings']} hint='e.g. {"waitForPublisher": true, "startAtKeyframe": true, "whitelist": ["live/cam"]} (waitForPublisher: players may connect before the publisher)'>
        {(id, d, invalid) => <textarea id={id} name="settings" rows={4} class="mono" value={f.settings} aria-describedby={d} aria-invalid={invalid} onInput={(e) => set('settings')((e.currentTarget as HTMLTextAreaElement).value)} />}
      </Field>
      {other.length > 0 && <ul class="note note-error" role="alert">{other.map((o) => <li key={o}>{o}</li>)}</ul>}
      <div class="actions">
        <button type="submit" class="btn btn-primary" disabled={busy}>{busy ? 'Saving…' : server ? 'Save' : 'Create server'}</button>
      </div>
    </form>
  );
}

/** Start/stop/restart/delete of one server, with the outcome as a toast. */
export function useServerActions(reload: () => void): { run: (s: ServerView, action: 'start' | 'stop' | 'restart') => Promise<void>; remove: (s: ServerView) => Promise<boolean>; confirmEl: JSX.Element; busy: number | null } {
  const { toast } = useSession();
  const [confirmEl, ask] = useConfirm();
  const [busy, setBusy] = useState<number | null>(null);
  const run = async (s: ServerView, action: 'start' | 'stop' | 'restart'): Promise<void> => {
    setBusy(s.id);
    try {
      const path = action === 'start' ? '/api/v1/servers/{id}/start' : action === 'stop' ? '/api/v1/servers/{id}/stop' : '/api/v1/servers/{id}/restart';
      const r = await api.post(path, { params: { id: s.id } });
      toast(`${s.server_name}: ${r.status}${r.error ? ` (${r.error})` : ''}`, r.status === 'failed' ? 'error' : 'ok');
    } catch (e) {
      toast(`${action} ${s.server_name}: ${(e as Error).message}`, 'error');
    } finally {
      setBusy(null);
      reload();
    }
  };
  const remove = async (s: ServerView): Promise<boolean> => {
    if (!(await ask(`Delete server "${s.server_name}" (UDP ${s.server_port})? Its peers are disconnected and its routes removed.`, 'Delete'))) return false;
    try {
      await api.delete('/api/v1/servers/{id}', { params: { id: s.id } });
      toast(`${s.server_name} deleted`);
      return true;
    } catch (e) {
      toast(`delete ${s.server_name}: ${(e as Error).message}`, 'error');
      return false;
    } finally {
      reload();
    }
  };
  return { run, remove, confirmEl, busy };
}

export function ServerButtons({ s, actions, onEdit }: { s: ServerView; actions: ReturnType<typeof useServerActions>; onEdit: () => void }): JSX.Element {
  const busy = actions.busy === s.id;
  return (
    <div class="btns" role="group" aria-label={`Actions for ${s.server_name}`}>
      {s.status !== 'running'
        ? <button type="button" class="btn btn-small" disabled={busy} onClick={() => void actions.run(s, 'start')}>Start</button>
        : <button type="button" class="btn btn-small" disabled={busy} onClick={() => void actions.run(s, 'stop')}>Stop</button>}
      <button type="button" class="btn btn-small" disabled={busy} onClick={() => void actions.run(s, 'restart')}>Restart</button>
      <button type="button" class="btn btn-small" onClick={onEdit}>Edit</button>
      <button type="button" class="btn btn-small btn-danger" disabled={busy} onClick={() => void actions.remove(s)}>Delete</button>
    </div>
  );
}

export function Servers(): JSX.Element {
  const { canWrite, toast } = useSession();
  const list = usePoll((signal) => api.get('/api/v1/servers', { signal }), 2000, []);
  const actions = useServerActions(list.reload);
  const [editing, setEditing] = useState<ServerView | null | 'new'>(null);
  const servers = list.data ?? [];
  return (
    <section aria-labelledby="servers-title">
      <header class="page-head">
        <h1 id="servers-title">Servers</h1>
        {canWrite && <button type="button" class="btn btn-primary" onClick={() => setEditing('new')}>New server</button>}
      </header>
      <ErrorNote error={list.error} prefix="Servers could not be loaded" />
      {list.data && servers.length === 0 && <Empty>No SRT server yet.</Empty>}
      {servers.length > 0 && (
        <div class="table-wrap">
          <table class="table">
            <thead><tr><th scope="col">Name</th><th scope="col">Port</th><th scope="col">Status</th><th scope="col">Latency</th><th scope="col">Connections</th><th scope="col">Streams</th>{canWrite && <th scope="col"><span class="sr-only">Actions</span></th>}</tr></thead>
            <tbody>
              {servers.map((s) => (
                <tr key={s.id} data-server={s.server_name}>
                  <td><a href={href('servers', s.id)}>{s.server_name}</a></td>
                  <td class="num">{s.server_port}</td>
                  <td><Badge status={s.status} title={s.error ?? undefined} />{s.error && <small class="err-inline">{s.error}</small>}</td>
                  <td class="num">{s.server_latency ?? '—'}</td>
                  <td class="num">{s.connections}</td>
                  <td>{s.streams.length === 0 ? '—' : s.streams.join(', ')}</td>
                  {canWrite && <td><ServerButtons s={s} actions={actions} onEdit={() => setEditing(s)} /></td>}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Dialog open={editing !== null} title={editing === 'new' ? 'New server' : `Edit ${editing ? editing.server_name : ''}`} onClose={() => setEditing(null)} wide>
        {editing !== null && (
          <ServerForm server={editing === 'new' ? null : editing} onDone={(_s, note) => { setEditing(null); toast(note); list.reload(); }} />
        )}
      </Dialog>
      {actions.confirmEl}
    </section>
  );
}
