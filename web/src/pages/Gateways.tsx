// RX (SRT → UDP) and TX (UDP → SRT) gateways: state, link, the rate of the last second and the
// packet counts of the current connection (as the RX/TX API reports them), create/edit with
// field-level messages, start/stop/restart/delete.
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { api, ApiError, type Answer } from '../api';
import { Badge, Dialog, Empty, ErrorNote, Field, TextInput, useConfirm } from '../components/ui';
import { bits, num } from '../lib/format';
import { usePoll } from '../lib/hooks';
import { useSession } from '../session';

type Gateway = Answer<'/api/v1/gateways'>[number];
type GatewayStats = Answer<'/api/v1/gateways/{id}/stats'>;

const LINK = ['disconnected', 'connected', 'waiting'];
const MAIN = ['ServiceName', 'Mode', 'TxIp', 'RxIp', 'ListenPort', 'UdpOut', 'UdpIn', 'Latency', 'PassPhrase'];

export function Gateways(): JSX.Element {
  const { canWrite } = useSession();
  const list = usePoll((signal) => api.get('/api/v1/gateways', { signal }), 2000, []);
  const running = (list.data ?? []).filter((g) => g.status === 'running').map((g) => g.id);
  const stats = usePoll(async (signal) => {
    const out = new Map<number, GatewayStats>();
    await Promise.all(running.map(async (id) => {
      try {
        out.set(id, await api.get('/api/v1/gateways/{id}/stats', { params: { id }, signal }));
      } catch {
        /* it stopped in between */
      }
    }));
    return out;
  }, 1000, [running.join(',')]);
  const [editing, setEditing] = useState<Gateway | 'rx' | 'tx' | null>(null);
  const [confirmEl, ask] = useConfirm();
  const { toast } = useSession();
  const act = async (g: Gateway, action: 'start' | 'stop' | 'restart' | 'delete'): Promise<void> => {
    try {
      if (action === 'delete') {
        if (!(await ask(`Delete the ${g.kind.toUpperCase()} gateway "${g.name}"?`, 'Delete'))) return;
        await api.delete('/api/v1/gateways/{id}', { params: { id: g.id } });
        toast(`${g.name} deleted`);
      } else {
        const path = action === 'start' ? '/api/v1/gateways/{id}/start' : action === 'stop' ? '/api/v1/gateways/{id}/stop' : '/api/v1/gateways/{id}/restart';
        const r = await api.post(path, { params: { id: g.id } });
        toast(`${g.name}: ${r.status}${r.error ? ` (${r.error})` : ''}`, r.status === 'failed' ? 'error' : 'ok');
      }
    } catch (e) {
      toast(`${action} ${g.name}: ${(e as Error).message}`, 'error');
    } finally {
      list.reload();
    }
  };
  const gws = list.data ?? [];
  return (
    <section aria-labelledby="gw-title">
      <header class="page-head">
        <h1 id="gw-title">Gateways</h1>
        {canWrite && (
          <div class="btns">
            <button type="button" class="btn btn-primary" onClick={() => setEditing('rx')}>New RX gateway</button>
            <button type="button" class="btn btn-primary" onClick={() => setEditing('tx')}>New TX gateway</button>
          </div>
        )}
      </header>
      <p class="muted">RX receives SRT and sends UDP; TX receives UDP and sends SRT. Rate: the last second; packets, lost and retransmitted: since the current connection was established.</p>
      <ErrorNote error={list.error} prefix="Gateways could not be loaded" />
      {list.data && gws.length === 0 && <Empty>No gateway yet.</Empty>}
      {gws.length > 0 && (
        <div class="table-wrap">
          <table class="table">
            <thead><tr><th scope="col">Name</th><th scope="col">Kind</th><th scope="col">Status</th><th scope="col">Link</th><th scope="col">Peer</th><th scope="col">Rate</th><th scope="col">RTT</th><th scope="col" title="packets since the connection was established">Packets</th><th scope="col" title="since the connection was established">Lost</th><th scope="col" title="since the connection was established">Retrans.</th><th scope="col">Reconnections</th>{canWrite && <th scope="col"><span class="sr-only">Actions</span></th>}</tr></thead>
            <tbody>
              {gws.map((g) => {
                const s = stats.data?.get(g.id);
                const srt = s?.srt ?? null;
                const rate = srt ? (g.kind === 'rx' ? srt['mbpsRecvRate'] : srt['mbpsSendRate']) : undefined;
                // counts of the current connection: the document's fields, as /v1/get_rx|tx shows them
                const f = s && s.connected === 1 ? s.fields : null;
                const dir = g.kind === 'rx' ? 'Recv' : 'Send';
                return (
                  <tr key={g.id} data-gateway={g.name}>
                    <td>{g.name}</td>
                    <td>{g.kind.toUpperCase()}</td>
                    <td><Badge status={g.status} title={g.error ?? undefined} />{g.error && <small class="err-inline">{g.error}</small>}</td>
                    <td title={g.linkError ?? undefined}>{LINK[g.connected] ?? g.connected}{g.linkError && <small class="err-inline">{g.linkError}</small>}</td>
                    <td class="mono">{g.peer ?? '—'}</td>
                    <td class="num">{rate === undefined ? '—' : bits(rate * 1e6)}</td>
                    <td class="num">{srt?.['msRTT'] === undefined ? '—' : `${Math.round(srt['msRTT'])} ms`}</td>
                    <td class="num">{f ? num(f[`${dir}Packets`] ?? 0) : '—'}</td>
                    <td class="num">{f ? num(f[`${dir}PacketsLost`] ?? 0) : '—'}</td>
                    <td class="num">{f ? num(f[`${dir}PacketsRetransmitted`] ?? 0) : '—'}</td>
                    <td class="num">{g.reconnections}</td>
                    {canWrite && (
                      <td>
                        <div class="btns" role="group" aria-label={`Actions for ${g.name}`}>
                          {g.status === 'running'
                            ? <button type="button" class="btn btn-small" onClick={() => void act(g, 'stop')}>Stop</button>
                            : <button type="button" class="btn btn-small" onClick={() => void act(g, 'start')}>Start</button>}
                          <button type="button" class="btn btn-small" onClick={() => void act(g, 'restart')}>Restart</button>
                          <button type="button" class="btn btn-small" onClick={() => setEditing(g)}>Edit</button>
                          <button type="button" class="btn btn-small btn-danger" onClick={() => void act(g, 'delete')}>Delete</button>
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
      <Dialog open={editing !== null} title={editing === null ? '' : typeof editing === 'string' ? `New ${editing.toUpperCase()} gateway` : `Edit ${editing.name}`} onClose={() => setEditing(null)} wide>
        {editing !== null && <GatewayForm gateway={typeof editing === 'string' ? null : editing} kind={typeof editing === 'string' ? editing : editing.kind} onDone={(note) => { setEditing(null); toast(note); list.reload(); }} />}
      </Dialog>
      {confirmEl}
    </section>
  );
}

function GatewayForm({ gateway, kind, onDone }: { gateway: Gateway | null; kind: 'rx' | 'tx'; onDone: (note: string) => void }): JSX.Element {
  const peerField = kind === 'rx' ? 'TxIp' : 'RxIp';
  const udpField = kind === 'rx' ? 'UdpOut' : 'UdpIn';
  const c = gateway?.config ?? {};
  const str = (k: string, d = ''): string => (c[k] === undefined ? d : String(c[k]));
  const [f, setF] = useState<Record<string, string>>({
    ServiceName: str('ServiceName'), Mode: str('Mode', 'listener'), [peerField]: str(peerField), ListenPort: str('ListenPort'),
    [udpField]: str(udpField), Latency: str('Latency', '120'), PassPhrase: '',
  });
  const rest = Object.fromEntries(Object.entries(c).filter(([k]) => !MAIN.includes(k)));
  const [extra, setExtra] = useState(gateway ? JSON.stringify(rest, null, 2) : '{}');
  const [active, setActive] = useState(gateway ? gateway.active : true);
  const [errs, setErrs] = useState<Record<string, string>>({});
  const [other, setOther] = useState<string[]>([]);
  const set = (k: string) => (v: string): void => setF((x) => ({ ...x, [k]: v }));

  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    let more: Record<string, unknown> = {};
    try {
      more = JSON.parse(extra || '{}') as Record<string, unknown>;
      if (!more || typeof more !== 'object' || Array.isArray(more)) throw new Error('must be a JSON object');
    } catch (err) {
      setErrs({ extra: `not valid: ${(err as Error).message}` });
      return;
    }
    const config: Record<string, unknown> = { ...more };
    for (const [k, v] of Object.entries(f)) {
      if (k === 'PassPhrase' && v === '' && gateway) continue; // keep the stored one
      if (v === '' && k !== 'ServiceName' && k !== 'PassPhrase' && k !== peerField) continue;
      config[k] = /^\d+$/.test(v) && ['ListenPort', 'Latency'].includes(k) ? Number(v) : v;
    }
    setErrs({});
    setOther([]);
    try {
      if (gateway) {
        const r = await api.patch('/api/v1/gateways/{id}', { params: { id: gateway.id }, body: { config, active } });
        onDone(`${r.gateway.name} saved${r.restarted ? ' and restarted' : ''}`);
      } else {
        const r = await api.post('/api/v1/gateways', { body: { kind, config, active } });
        onDone(`${r.name} created (${r.status})`);
      }
    } catch (err) {
      if (err instanceof ApiError && err.errors.length > 0) {
        const fe: Record<string, string> = {};
        const o: string[] = [];
        for (const x of err.errors) {
          const k = x.field.replace(/^config\.?/, '');
          if (k in f) fe[k] = fe[k] ? `${fe[k]}; ${x.message}` : x.message;
          else if (k) fe['extra'] = `${fe['extra'] ? `${fe['extra']}; ` : ''}${k}: ${x.message}`;
          else o.push(x.message);
        }
        setErrs(fe);
        setOther(o);
      } else setOther([(err as Error).message]);
    }
  };
  return (
    <form class="form" onSubmit={(e) => void submit(e)} noValidate>
      <div class="grid2">
        <TextInput label="Name (ServiceName)" name="ServiceName" value={f['ServiceName']!} onValue={set('ServiceName')} error={errs['ServiceName']} />
        <Field label="Mode" error={errs['Mode']}>
          {(id, d) => (
            <select id={id} name="Mode" value={f['Mode']} aria-describedby={d} onChange={(e) => set('Mode')((e.currentTarget as HTMLSelectElement).value)}>
              <option value="listener">listener</option>
              <option value="caller">caller</option>
              <option value="rendezvous">rendezvous</option>
            </select>
          )}
        </Field>
        <TextInput label={`${kind === 'rx' ? 'TX' : 'RX'} side address (${peerField})`} name={peerField} value={f[peerField]!} onValue={set(peerField)} error={errs[peerField]} hint="required for caller mode" />
        <TextInput label="SRT port (ListenPort)" name="ListenPort" value={f['ListenPort']!} onValue={set('ListenPort')} error={errs['ListenPort']} inputMode="numeric" />
        <TextInput label={kind === 'rx' ? 'UDP output (UdpOut)' : 'UDP input (UdpIn)'} name={udpField} value={f[udpField]!} onValue={set(udpField)} error={errs[udpField]} placeholder={kind === 'rx' ? '127.0.0.1:5000' : ':5000'} />
        <TextInput label="Latency (ms)" name="Latency" value={f['Latency']!} onValue={set('Latency')} error={errs['Latency']} inputMode="numeric" />
        <TextInput label="Passphrase" name="PassPhrase" type="password" value={f['PassPhrase']!} onValue={set('PassPhrase')} error={errs['PassPhrase']} hint={gateway ? 'empty keeps the current one' : '10 to 79 characters, or empty'} autoComplete="new-password" />
        <Field label="Active">
          {(id) => <label class="check"><input id={id} type="checkbox" checked={active} onChange={(e) => setActive((e.currentTarget as HTMLInputElement).checked)} /> run it</label>}
        </Field>
      </div>
      <Field label="Other fields (JSON)" error={errs['extra']} hint="SrtBw, PbKeyLen, TlpktDrop, TTL, InputBw, OverHead, …">
        {(id, d, invalid) => <textarea id={id} rows={3} class="mono" value={extra} aria-describedby={d} aria-invalid={invalid} onInput={(e) => setExtra((e.currentTarget as HTMLTextAreaElement).value)} />}
      </Field>
      {other.length > 0 && <ul class="note note-error" role="alert">{other.map((o) => <li key={o}>{o}</li>)}</ul>}
      <div class="actions"><button type="submit" class="btn btn-primary">{gateway ? 'Save' : 'Create gateway'}</button></div>
    </form>
  );
}
