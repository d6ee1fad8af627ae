// The landing page: totals across servers now, and each server at a glance.
import type { JSX } from 'preact';
import { api } from '../api';
import { Badge, Empty, ErrorNote } from '../components/ui';
import { bits, bytes } from '../lib/format';
import { usePoll } from '../lib/hooks';
import { href } from '../lib/router';

export function Overview(): JSX.Element {
  const stats = usePoll((signal) => api.get('/api/v1/stats', { signal }), 1000, []);
  const s = stats.data;
  return (
    <section aria-labelledby="overview-title">
      <header class="page-head"><h1 id="overview-title">Overview</h1></header>
      <ErrorNote error={stats.error} prefix="Statistics could not be loaded" />
      {s && (
        <>
          <ul class="tiles" aria-label="Totals">
            <li><span class="tile-n">{s.servers_running}/{s.servers}</span><span class="tile-l">servers running</span></li>
            <li><span class="tile-n">{s.streams}</span><span class="tile-l">streams</span></li>
            <li><span class="tile-n">{s.publishers}</span><span class="tile-l">publishers</span></li>
            <li><span class="tile-n">{s.players}</span><span class="tile-l">players</span></li>
            <li><span class="tile-n">{bits(s.bitrate_in)}</span><span class="tile-l">in</span></li>
            <li><span class="tile-n">{bits(s.bitrate_out)}</span><span class="tile-l">out</span></li>
          </ul>
          {s.per_server.length === 0 ? <Empty>No server yet. <a href={href('servers')}>Create one</a>.</Empty> : (
            <div class="table-wrap">
              <table class="table">
                <thead><tr><th scope="col">Server</th><th scope="col">Status</th><th scope="col">Streams</th><th scope="col">Publishers</th><th scope="col">Players</th><th scope="col">In</th><th scope="col">Out</th></tr></thead>
                <tbody>
                  {s.per_server.map((p) => (
                    <tr key={p.id}>
                      <td><a href={href('servers', p.id)}>{p.server_name}</a></td>
                      <td><Badge status={p.status} /></td>
                      <td class="num">{p.streams}</td>
                      <td class="num">{p.publishers}</td>
                      <td class="num">{p.players}</td>
                      <td class="num">{bits(p.bitrate_in)}</td>
                      <td class="num">{bits(p.bitrate_out)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
          <p class="hint">Statistics history: {s.history.series} series ({s.history.streams} streams, {s.history.connections} connections), {bytes(s.history.bytes)}.</p>
        </>
      )}
    </section>
  );
}
