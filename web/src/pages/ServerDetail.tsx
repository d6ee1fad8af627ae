// One SRT server: its live streams with publisher and players, charts that move every second,
// in-browser preview, kick, and ready-made publish/play URLs.
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { api, type Answer } from '../api';
import { Chart, PALETTE } from '../components/Chart';
import { Preview } from '../components/Preview';
import { Badge, CopyField, Dialog, Empty, ErrorNote, TextInput } from '../components/ui';
import { bits, duration, num } from '../lib/format';
import { usePoll } from '../lib/hooks';
import { href, navigate } from '../lib/router';
import { useConnectionHistory, useStreamHistory, type StreamSeries } from '../lib/series';
import { useSession } from '../session';
import { ServerButtons, ServerForm, useServerActions, type ServerView } from './Servers';

type StreamView = Answer<'/api/v1/servers/{id}/streams'>[number];
type Conn = NonNullable<StreamView['publisher']>;

const mbps = (v: number): string => `${v < 10 ? v.toFixed(2) : v.toFixed(1)} Mb/s`;
const ms = (v: number): string => `${Math.round(v)} ms`;
const perSec = (v: number): string => `${v < 10 ? Math.round(v * 10) / 10 : Math.round(v)}/s`;

export function ServerDetail({ id }: { id: number }): JSX.Element {
  const { canWrite, toast } = useSession();
  const server = usePoll((signal) => api.get('/api/v1/servers/{id}', { params: { id }, signal }), 2000, [id]);
  const running = server.data?.status === 'running';
  const streams = usePoll(async (signal) => (running ? api.get('/api/v1/servers/{id}/streams', { params: { id }, signal }) : []), 1000, [id, running]);
  const history = useStreamHistory(id);
  const actions = useServerActions(() => { server.reload(); streams.reload(); });
  const [editing, setEditing] = useState(false);
  const [urlsFor, setUrlsFor] = useState<string | null>(null);
  const s = server.data;

  if (server.error?.status === 404) return <section><h1>Server {id}</h1><Empty>This server does not exist (any more). <a href={href('servers')}>All servers</a></Empty></section>;
  return (
    <section aria-labelledby="server-title">
      <nav class="crumbs" aria-label="Breadcrumb"><a href={href('servers')}>Servers</a> <span aria-hidden="true">›</span> {s?.server_name ?? id}</nav>
      <header class="page-head">
        <h1 id="server-title">{s?.server_name ?? `Server ${id}`} {s && <Badge status={s.status} />}</h1>
        {s && canWrite && <ServerButtons s={s} actions={{ ...actions, remove: async (x) => { const ok = await actions.remove(x); if (ok) navigate(href('servers')); return ok; } }} onEdit={() => setEditing(true)} />}
      </header>
      <ErrorNote error={server.error} prefix="The server could not be loaded" />
      {s && (
        <dl class="facts">
          <div><dt>UDP port</dt><dd>{s.server_port}</dd></div>
          <div><dt>Latency</dt><dd>{s.server_latency ?? 120} ms</dd></div>
          <div><dt>Connections</dt><dd>{s.connections}</dd></div>
          <div><dt>Stream id code</dt><dd class="mono">{s.server_name_code}</dd></div>
          {s.error && <div><dt>Error</dt><dd class="err-inline">{s.error}</dd></div>}
        </dl>
      )}
      {s && <UrlsPanel server={s} />}
      <h2>Live streams</h2>
      {s && !running && <Empty>The server is {s.status}: start it to see its streams.</Empty>}
      <ErrorNote error={running ? streams.error : null} prefix="Streams could not be loaded" />
      {running && streams.data && streams.data.length === 0 && <Empty>No stream is published on this server yet. Publish one with a URL above.</Empty>}
      <div class="streams">
        {running && (streams.data ?? []).map((st) => (
          <StreamCard key={st.name} serverId={id} stream={st} series={history.get(st.name)} onUrls={() => setUrlsFor(st.name)} />
        ))}
      </div>
      {s && (
        <Dialog open={editing} title={`Edit ${s.server_name}`} onClose={() => setEditing(false)} wide>
          <ServerForm server={s} onDone={(_x, note) => { setEditing(false); toast(note); server.reload(); }} />
        </Dialog>
      )}
      {s && (
        <Dialog open={urlsFor !== null} title={`URLs for ${urlsFor ?? ''}`} onClose={() => setUrlsFor(null)} wide>
          {urlsFor !== null && <StreamUrls server={s} stream={urlsFor} />}
        </Dialog>
      )}
      {actions.confirmEl}
    </section>
  );
}

function StreamCard({ serverId, stream, series, onUrls }: { serverId: number; stream: StreamView; series: StreamSeries | undefined; onUrls: () => void }): JSX.Element {
  const [preview, setPreview] = useState(false);
  const pub = stream.publisher;
  // connections whose charts are shown (the publisher's at first), below the table so that they fit a phone
  const [open, setOpen] = useState<Set<number | 'publisher'>>(() => new Set(['publisher']));
  const isOpen = (c: Conn): boolean => open.has(c.id) || (c.role !== 'player' && open.has('publisher'));
  const toggle = (c: Conn): void => {
    const next = new Set(open);
    if (isOpen(c)) {
      next.delete(c.id);
      if (c.role !== 'player') next.delete('publisher');
    } else next.add(c.id);
    setOpen(next);
  };
  const shown = [...(pub ? [pub] : []), ...stream.players].filter(isOpen);
  const bitrate = series ? lastValue(series.bitrate_in) : null;
  return (
    <article class="card stream" data-stream={stream.name} aria-labelledby={`stream-${stream.name}`}>
      <header class="card-head">
        <h3 id={`stream-${stream.name}`} class="mono">{stream.name}</h3>
        <span class="muted">{pub ? 'live' : 'waiting for its publisher'} · {stream.players.length} player{stream.players.length === 1 ? '' : 's'} · {bits(bitrate)}</span>
        <div class="btns">
          <button type="button" class="btn btn-small" aria-pressed={preview} onClick={() => setPreview(!preview)}>{preview ? 'Hide preview' : 'Preview'}</button>
          <button type="button" class="btn btn-small" onClick={onUrls}>URLs</button>
        </div>
      </header>
      {preview && <Preview serverId={serverId} stream={stream.name} onStop={() => setPreview(false)} />}
      <Chart title={`Bitrate in (bit/s) — ${stream.name}`} t={series?.t ?? []} ys={[series?.bitrate_in ?? []]} series={[{ label: 'bitrate in', color: PALETTE[0]!, fill: true }]} fmt={(v) => bits(v)} height={140} />
      <h4>Connections</h4>
      <div class="table-wrap">
        <table class="table conns">
          <thead><tr><th scope="col">Role</th><th scope="col">Peer</th><th scope="col">Connected</th><th scope="col">Rate</th><th scope="col">RTT</th><th scope="col">Lost</th><th scope="col">Retrans.</th><th scope="col">Rcv buffer</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
          <tbody>
            {pub && <ConnRow serverId={serverId} conn={pub} open={isOpen(pub)} onToggle={() => toggle(pub)} />}
            {stream.players.map((p) => <ConnRow key={p.id} serverId={serverId} conn={p} open={isOpen(p)} onToggle={() => toggle(p)} />)}
            {!pub && stream.players.length === 0 && <tr><td colSpan={9} class="muted">nobody</td></tr>}
          </tbody>
        </table>
      </div>
      {shown.map((c) => <ConnCharts key={c.id} serverId={serverId} conn={c} />)}
    </article>
  );
}

function ConnRow({ serverId, conn, open, onToggle }: { serverId: number; conn: Conn; open: boolean; onToggle: () => void }): JSX.Element {
  const { canWrite, toast } = useSession();
  const [kicking, setKicking] = useState(false);
  const st = conn.stats;
  const isPub = conn.role !== 'player';
  const rate = isPub ? st['mbpsRecvRate'] : st['mbpsSendRate'];
  const kick = async (): Promise<void> => {
    setKicking(true);
    try {
      await api.delete('/api/v1/servers/{id}/connections/{cid}', { params: { id: serverId, cid: conn.id } });
      toast(`${conn.role} ${conn.peer} kicked`);
    } catch (e) {
      toast(`kick ${conn.peer}: ${(e as Error).message}`, 'error');
      setKicking(false);
    }
  };
  return (
    <tr data-conn={conn.id} data-role={conn.role} data-peer={conn.peer}>
      <td><Badge status={conn.role} /></td>
      <td class="mono nowrap" title={`stream id: ${conn.streamId}`}>{conn.peer}</td>
      <td>{duration(Date.now() - conn.connectedAt)}</td>
      <td class="num">{rate === undefined ? '—' : mbps(rate)}</td>
      <td class="num">{st['msRTT'] === undefined ? '—' : ms(st['msRTT'])}</td>
      <td class="num">{num((st['pktRcvLossTotal'] ?? 0) + (st['pktSndLossTotal'] ?? 0))}</td>
      <td class="num">{num((st['pktRetransTotal'] ?? 0) + (st['pktRcvRetransTotal'] ?? 0))}</td>
      <td class="num">{st['msRcvBuf'] === undefined ? '—' : ms(st['msRcvBuf'])}</td>
      <td>
        <div class="btns">
          <button type="button" class="btn btn-small" aria-expanded={open} aria-controls={`charts-${conn.id}`} onClick={onToggle}>Charts</button>
          {canWrite && <button type="button" class="btn btn-small btn-danger" disabled={kicking} onClick={() => void kick()} aria-label={`Kick ${conn.role} ${conn.peer}`}>Kick</button>}
        </div>
      </td>
    </tr>
  );
}

function ConnCharts({ serverId, conn }: { serverId: number; conn: Conn }): JSX.Element {
  const h = useConnectionHistory(serverId, conn.id);
  const t = h?.t ?? [];
  const label = `${conn.role} ${conn.peer}`;
  return (
    <section class="conn-charts" id={`charts-${conn.id}`} aria-label={`Charts of ${label}`}>
      <h4>{label}</h4>
      <div class="charts">
      <Chart title={`Bitrate (Mbit/s) — ${label}`} t={t} ys={[h?.mbps_recv_rate ?? [], h?.mbps_send_rate ?? []]} series={[{ label: 'received', color: PALETTE[0]! }, { label: 'sent', color: PALETTE[2]! }]} fmt={mbps} />
      <Chart title={`RTT (ms) — ${label}`} t={t} ys={[h?.ms_rtt ?? []]} series={[{ label: 'RTT', color: PALETTE[4]! }]} fmt={ms} />
      <Chart title={`Loss and retransmissions (packets/s) — ${label}`} t={t} ys={[h?.loss_per_s ?? [], h?.retrans_per_s ?? [], h?.drop_per_s ?? []]} series={[{ label: 'lost', color: PALETTE[1]! }, { label: 'retransmitted', color: PALETTE[3]! }, { label: 'dropped', color: PALETTE[5]! }]} fmt={perSec} />
      <Chart title={`Receive buffer (ms) — ${label}`} t={t} ys={[h?.ms_rcv_buf ?? []]} series={[{ label: 'receive buffer', color: PALETTE[2]!, fill: true }]} fmt={ms} />
      </div>
    </section>
  );
}

function lastValue(a: (number | null)[]): number | null {
  for (let i = a.length - 1; i >= 0; i--) if (a[i] !== null) return a[i]!;
  return null;
}

function hostForUrls(): string {
  const h = location.hostname || '127.0.0.1';
  return h.includes(':') ? `[${h}]` : h;
}

/** Ready-made publish and play commands for a stream of this server. */
export function StreamUrls({ server, stream }: { server: ServerView; stream: string }): JSX.Element {
  const name = stream.replace(/^\/+/, '');
  const base = `srt://${hostForUrls()}:${server.server_port}`;
  const latency = server.server_latency ?? 120;
  const pub = `streamid=publish:/${name}`;
  const play = `streamid=read:/${name}`;
  return (
    <div class="urls" data-urls={name}>
      <h3>Publish</h3>
      <CopyField label="ffmpeg" value={`ffmpeg -re -i input.ts -c copy -f mpegts '${base}?${pub}&latency=${latency * 1000}&pkt_size=1316'`} />
      <CopyField label="OBS (Settings › Stream › Custom, Server; no stream key)" value={`${base}?${pub}&latency=${latency * 1000}`} />
      <CopyField label="srt-live-transmit (from UDP :5000)" value={`srt-live-transmit udp://:5000 '${base}?${pub}&latency=${latency}'`} />
      <h3>Play</h3>
      <CopyField label="ffplay" value={`ffplay '${base}?${play}'`} />
      <CopyField label="ffmpeg (record to a file)" value={`ffmpeg -i '${base}?${play}' -c copy out.ts`} />
      <CopyField label="srt-live-transmit (to UDP :5000)" value={`srt-live-transmit '${base}?${play}&latency=${latency}' udp://127.0.0.1:5000`} />
      <p class="hint">ffmpeg and OBS take the latency in microseconds, srt-live-transmit in milliseconds. Stream ids also work as <span class="mono">#!::r={name},m=publish</span> and Callaba's <span class="mono">publisher/{server.server_name_code}/{name}</span>.</p>
    </div>
  );
}

function UrlsPanel({ server }: { server: ServerView }): JSX.Element {
  const [name, setName] = useState('live/cam');
  return (
    <details class="card urls-panel">
      <summary>Publish and play URLs for a new stream</summary>
      <TextInput label="Stream name" name="stream_name" value={name} onValue={setName} />
      {name.trim() ? <StreamUrls server={server} stream={name.trim()} /> : <p class="hint">Enter a stream name.</p>}
    </details>
  );
}
