// The nodes of a scale-out (docs/SCALE-OUT.md): each node's address, state, load and what it runs,
// and drain/resume. On a single node the list is empty and says so.
import type { JSX } from 'preact';
import { api, type Answer } from '../api';
import { Badge, Empty, ErrorNote, useConfirm } from '../components/ui';
import { bits, duration, num, time } from '../lib/format';
import { usePoll } from '../lib/hooks';
import { useSession } from '../session';

type Node = Answer<'/api/v1/nodes'>[number];

export function Nodes(): JSX.Element {
  const { canWrite, toast } = useSession();
  const list = usePoll((signal) => api.get('/api/v1/nodes', { signal }), 2000, []);
  const [confirmEl, ask] = useConfirm();
  const act = async (n: Node, action: 'drain' | 'resume'): Promise<void> => {
    try {
      if (action === 'drain') {
        if (!(await ask(`Drain node ${n.name}? New players there are refused (1402); connected ones stay.`, 'Drain'))) return;
        await api.post('/api/v1/nodes/{name}/drain', { params: { name: n.name }, body: { reason: 'drained from the dashboard' } });
      } else {
        await api.post('/api/v1/nodes/{name}/resume', { params: { name: n.name } });
      }
      toast(`${n.name}: ${action === 'drain' ? 'draining' : 'takes new players again'}`);
    } catch (e) {
      toast(`${action} ${n.name}: ${(e as Error).message}`, 'error');
    } finally {
      list.reload();
    }
  };
  const nodes = list.data ?? [];
  return (
    <section aria-labelledby="nodes-title">
      <header class="page-head"><h1 id="nodes-title">Nodes</h1></header>
      <ErrorNote error={list.error} prefix="Nodes could not be loaded" />
      {list.data && nodes.length === 0 && <Empty>This Sluice runs as a single node (start several with --node-name on one PostgreSQL database).</Empty>}
      {nodes.length > 0 && (
        <div class="table-wrap">
          <table class="table">
            <thead><tr><th scope="col">Node</th><th scope="col">SRT address</th><th scope="col">State</th><th scope="col">Last heartbeat</th><th scope="col">Connections</th><th scope="col">In</th><th scope="col">Out</th><th scope="col">CPU</th><th scope="col">Servers (routes)</th><th scope="col">Gateways</th><th scope="col">Since</th>{canWrite && <th scope="col"><span class="sr-only">Actions</span></th>}</tr></thead>
            <tbody>
              {nodes.map((n) => (
                <tr key={n.name} data-node={n.name}>
                  <td>{n.name}{n.self ? ' (this one)' : ''}</td>
                  <td class="mono">{n.address}</td>
                  <td><Badge status={n.status === 'up' && n.draining ? 'draining' : n.status} title={n.drain_reason ?? undefined} /></td>
                  <td>{duration(n.heartbeat_age_ms)} ago</td>
                  <td class="num">{num(n.load.connections)}</td>
                  <td class="num">{bits(n.load.mbps_in * 1e6)}</td>
                  <td class="num">{bits(n.load.mbps_out * 1e6)}</td>
                  <td class="num">{num(n.load.cpu_percent)} %</td>
                  <td>{n.servers.length ? n.servers.join(', ') : '—'}</td>
                  <td>{n.gateways.length ? n.gateways.join(', ') : '—'}</td>
                  <td>{time(n.started_at)}</td>
                  {canWrite && (
                    <td>
                      {n.status === 'up' && (n.draining
                        ? <button type="button" class="btn btn-small" onClick={() => void act(n, 'resume')}>Resume</button>
                        : <button type="button" class="btn btn-small" onClick={() => void act(n, 'drain')}>Drain</button>)}
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {confirmEl}
    </section>
  );
}
