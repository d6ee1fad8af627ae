// Scale-out (ADR 17, docs/SCALE-OUT.md): three `sluice serve` processes on one real PostgreSQL,
// each with its own loopback address (127.0.0.2, .3, .4) and the same SRT port. ffmpeg publishes
// on node 1, srt-live-transmit plays on nodes 2 and 3 (edges pull from node 1), byte-exact; kill -9
// of node 2 moves its gateway to a live node, which runs it; stopping the publisher's node ends the
// stream for players elsewhere, and they resume when it is published on another node; a drained
// node refuses new players with 1402 and keeps the connected ones.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dial } from '../../src/transport/api.js';
import { SrtRejectedError } from '../../src/transport/errors.js';
import { freePort, makeMessages, requireTool, spawnPeer, tempDir, testMedia, udpCollect, waitForOutput, type Peer, type UdpCollector } from '../support/peers.js';
import { startPostgres } from '../support/postgres.js';
import { eventually, waitFor } from '../support/wait.js';
import { fileTimeout } from '../support/file-timeout.js';

fileTimeout();

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const PASSWORD = 'scale-admin-pass';

interface Node {
  name: string;
  host: string;
  httpPort: number;
  args: string[];
  proc: Peer;
  token?: string;
}

interface NodeView { name: string; address: string; status: string; draining: boolean; self: boolean; servers: number[]; gateways: number[]; load: { connections: number; mbps_in: number; mbps_out: number; cpu_percent: number } }
interface GatewayView { id: number; status: string; node: string | null }
interface ServerView { id: number; status: string; node: string | null }
interface EventView { type: string; message: string; data: Record<string, unknown> | null }

async function api<T = unknown>(n: Node, method: string, path: string, body?: unknown): Promise<{ status: number; json: T }> {
  if (!n.token && !path.startsWith('/healthz')) {
    const r = await fetch(`http://127.0.0.1:${n.httpPort}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: PASSWORD }) });
    assert.equal(r.status, 200, `login on ${n.name}`);
    n.token = ((await r.json()) as { token: string }).token;
  }
  const headers: Record<string, string> = n.token ? { authorization: `Bearer ${n.token}` } : {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  const r = await fetch(`http://127.0.0.1:${n.httpPort}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  return { status: r.status, json: (text ? JSON.parse(text) : null) as T };
}

const concat = (c: UdpCollector): Buffer => Buffer.concat(c.messages);

test('three nodes on one PostgreSQL: edge pulls byte-exact, kill -9 takeover, the publisher\'s node stopping and coming back elsewhere, drain with 1402', async (t) => {
  requireTool('ffmpeg');
  requireTool('srt-live-transmit');
  const pg = await startPostgres();
  const nodes: Node[] = [];
  const peers: Peer[] = [];
  const sinks: UdpCollector[] = [];
  try {
    const database = await pg.createDatabase();
    const srtPort = await freePort();
    const spawnNode = (i: number): Node => {
      const name = `n${i}`;
      const host = `127.0.0.${i + 1}`;
      const existing = nodes.find((n) => n.name === name);
      const httpPort = existing?.httpPort ?? 0;
      const args = existing?.args ?? [];
      if (!existing) {
        args.push(CLI, 'serve', '--data-dir', join(tempDir(), name), '--database', database, '--node-name', name, '--advertise-addr', host, '--srt-host', host,
          '--srt-port', String(srtPort), '--admin-password', PASSWORD);
      }
      const n: Node = existing ?? { name, host, httpPort, args, proc: null as unknown as Peer };
      n.proc = spawnPeer(process.execPath, [...n.args, '--http-addr', `127.0.0.1:${n.httpPort}`]);
      if (!existing) nodes.push(n);
      return n;
    };
    const ready = async (n: Node): Promise<void> => {
      await waitForOutput(n.proc, /REST API on http:\/\/127\.0\.0\.1:\d+/, `node ${n.name} serves its API`, 30_000);
      n.httpPort = Number(/REST API on http:\/\/127\.0\.0\.1:(\d+)/.exec(n.proc.output())![1]);
    };
    // node 1 creates the database's content (admin, default server); 2 and 3 join it together
    const n1 = spawnNode(1);
    await ready(n1);
    const n2 = spawnNode(2);
    const n3 = spawnNode(3);
    await Promise.all([ready(n2), ready(n3)]);
    assert.match(n2.proc.output(), /node "n2" joined the cluster \(SRT at 127\.0\.0\.3\)/);

    // every node sees the three, each with its address
    const list = (await api<NodeView[]>(n2, 'GET', '/api/v1/nodes')).json;
    assert.deepEqual(list.map((v) => [v.name, v.address, v.status, v.self]), [['n1', '127.0.0.2', 'up', false], ['n2', '127.0.0.3', 'up', true], ['n3', '127.0.0.4', 'up', false]]);
    const health = await api<{ status: string; node: string }>(n3, 'GET', '/healthz');
    assert.deepEqual([health.status, health.json.status, health.json.node], [200, 'ok', 'n3']);

    // one configuration: a server created through node 1 runs on every node, on each node's address
    const port = await freePort();
    const created = await api<ServerView>(n1, 'POST', '/api/v1/servers', { server_name: 'live', server_port: port, server_latency: 200, settings: { waitForPublisher: true, gopCache: false } });
    assert.equal(created.status, 201);
    const sid = created.json.id;
    for (const n of nodes) {
      const v = await eventually(() => api<ServerView>(n, 'GET', `/api/v1/servers/${sid}`), (r) => r.json.status === 'running' && r.json.node !== null, { what: `server "live" running on ${n.name}, with an owner (taken at the next heartbeat)`, timeoutMs: 15_000 });
      assert.ok(['n1', 'n2', 'n3'].includes(v.json.node ?? ''), `the server has an owner (${v.json.node})`);
    }

    // a gateway created through node 2 is run by node 2
    const gwPort = await freePort();
    const gwSink = await udpCollect();
    sinks.push(gwSink);
    const gw = await api<GatewayView>(n2, 'POST', '/api/v1/gateways', { kind: 'rx', config: { ServiceName: 'feed', Mode: 'listener', ListenPort: gwPort, UdpOut: `127.0.0.1:${gwSink.port}` } });
    assert.equal(gw.status, 201);
    assert.deepEqual([gw.json.status, gw.json.node], ['running', 'n2']);
    const seen = await eventually(() => api<GatewayView>(n1, 'GET', `/api/v1/gateways/${gw.json.id}`), (r) => r.json.status === 'running', { what: 'node 1 shows the gateway running (on n2)' });
    assert.equal(seen.json.node, 'n2');

    // players first, on every node (they wait for the publisher), then ffmpeg publishes on node 1
    const play = async (n: Node, stream: string): Promise<UdpCollector> => {
      const sink = await udpCollect();
      sinks.push(sink);
      const p = spawnPeer('srt-live-transmit', ['-v', `srt://${n.host}:${port}?streamid=read:${stream}&latency=200`, `udp://127.0.0.1:${sink.port}`]);
      peers.push(p);
      // srt-live-transmit says nothing before data comes: the node's stream view shows the player
      await eventually(() => api<{ name: string; players: { peer: string }[] }[]>(n, 'GET', `/api/v1/servers/${sid}/streams`),
        (r) => r.json.some((st) => st.name === stream && st.players.some((x) => x.peer.startsWith('127.0.0.1:'))), { what: `player of ${stream} on ${n.name}` });
      return sink;
    };
    const [ref, p2, p3] = [await play(n1, 'live/cam'), await play(n2, 'live/cam'), await play(n3, 'live/cam')];
    const media = readFileSync(testMedia());
    const ff = spawnPeer('ffmpeg', ['-loglevel', 'error', '-re', '-i', testMedia(), '-c', 'copy', '-f', 'mpegts', `srt://${n1.host}:${port}?streamid=publish:live/cam&pkt_size=1316&linger=3&latency=200000`]);
    peers.push(ff);
    assert.equal(await ff.exited, 0, `ffmpeg published: ${ff.output()}`);
    // the player on the origin gets every byte ffmpeg sent (the media file, -c copy is byte-identical)
    await waitFor(() => concat(ref).length >= media.length, { what: 'the origin player got the whole stream', timeoutMs: 15_000, detail: () => `${concat(ref).length} of ${media.length}` });
    assert.ok(concat(ref).equals(media), 'origin player byte-exact');
    // edge players got the stream from the moment their node's edge joined, to its end, byte-exact
    for (const [n, sink] of [[n2, p2], [n3, p3]] as const) {
      await waitFor(() => { const b = concat(sink); return b.length > 0 && b.equals(media.subarray(media.length - b.length)); }, { what: `player on ${n.name}: a byte-exact tail of the stream, to its end`, timeoutMs: 15_000, detail: () => `${concat(sink).length} bytes` });
      assert.ok(concat(sink).length >= media.length / 2, `player on ${n.name} got most of the stream (${concat(sink).length} of ${media.length})`);
    }
    // one edge per stream per node, shared by its players: node 1 saw exactly two node connections
    const opened = (await api<{ items: EventView[] }>(n1, 'GET', '/api/v1/events?type=node.edge.opened&limit=50')).json.items;
    assert.deepEqual(opened.map((e) => e.data?.['node']).sort(), ['n2', 'n3']);
    assert.ok(opened.every((e) => e.data?.['origin'] === 'n1' && e.data?.['stream'] === 'live/cam'));
    const n1Load = (await api<NodeView[]>(n3, 'GET', '/api/v1/nodes')).json.find((v) => v.name === 'n1')!;
    assert.ok(n1Load.load.connections >= 1, `node 1 reports its load: ${JSON.stringify(n1Load.load)}`);

    // kill -9 node 2: its gateway goes to a live node and runs there (bounded by the dead time)
    n2.proc.proc.kill('SIGKILL');
    await n2.proc.exited;
    const killedAt = Date.now();
    const moved = await eventually(() => api<GatewayView>(n3, 'GET', `/api/v1/gateways/${gw.json.id}`), (r) => r.json.node !== 'n2' && r.json.status === 'running', { what: 'the gateway of node 2 runs on another node', timeoutMs: 20_000 });
    assert.ok(['n1', 'n3'].includes(moved.json.node!));
    t.diagnostic(`gateway running again on ${moved.json.node} ${Date.now() - killedAt} ms after kill -9 of its node`);
    const down = (await api<NodeView[]>(n1, 'GET', '/api/v1/nodes')).json.find((v) => v.name === 'n2')!;
    assert.deepEqual([down.status, down.gateways], ['down', []]);
    const servers = (await api<ServerView[]>(n1, 'GET', '/api/v1/servers')).json;
    assert.ok(servers.every((s) => s.node === 'n1' || s.node === 'n3'), `every server owned by a live node: ${JSON.stringify(servers.map((s) => s.node))}`);
    // the moved gateway carries data: SRT in on its port, UDP out
    const msgs = makeMessages(20);
    const caller = await dial({ host: '127.0.0.1', port: gwPort, mode: 'caller' });
    for (const m of msgs) caller.write(m);
    await gwSink.waitFor(20, 10_000);
    caller.close();
    assert.deepEqual(gwSink.messages.map((m) => m.readUInt32BE(0)), msgs.map((_, i) => i), 'the gateway forwards after the takeover');

    // node 2 comes back under its name
    spawnNode(2);
    await ready(n2);

    // a long publication on node 1, a player on node 3 (edge from node 1)
    const p3b = await play(n3, 'live/b');
    const longFf = spawnPeer('ffmpeg', ['-loglevel', 'error', '-re', '-stream_loop', '-1', '-i', testMedia(), '-t', '60', '-c', 'copy', '-f', 'mpegts', `srt://${n1.host}:${port}?streamid=publish:live/b&pkt_size=1316&linger=3`]);
    peers.push(longFf);
    await waitFor(() => p3b.messages.length > 200, { what: 'the player on node 3 gets live/b from node 1', timeoutMs: 15_000 });
    // stop node 1 (SIGTERM): the stream ends for the player on node 3, which stays waiting
    const stopAt = Date.now();
    assert.equal(await n1.proc.kill('SIGTERM'), 0, 'node 1 exits cleanly');
    await eventually(() => api<{ items: EventView[] }>(n3, 'GET', '/api/v1/events?type=stream.unpublished&limit=50'), (r) => r.json.items.some((e) => e.data?.['node'] === 'n3' && e.data?.['stream'] === 'live/b'),
      { what: 'node 3 saw live/b end', timeoutMs: 20_000 });
    t.diagnostic(`node 3 saw live/b end ${Date.now() - stopAt} ms after SIGTERM to the publisher's node (the grace period is 5 s)`);
    const mark = p3b.messages.length;
    const republishAt = Date.now();
    // published again on node 2: node 3's player resumes through an edge from node 2
    const againFf = spawnPeer('ffmpeg', ['-loglevel', 'error', '-re', '-i', testMedia(), '-c', 'copy', '-f', 'mpegts', `srt://${n2.host}:${port}?streamid=publish:live/b&pkt_size=1316&linger=3`]);
    peers.push(againFf);
    await waitFor(() => p3b.messages.length > mark, { what: 'the player on node 3 resumes with the stream published on node 2', timeoutMs: 15_000 });
    t.diagnostic(`the waiting player on node 3 got data ${Date.now() - republishAt} ms after ffmpeg started publishing on node 2`);
    await waitFor(() => p3b.messages.length > mark + 200, { what: 'the player on node 3 goes on with the stream published on node 2', timeoutMs: 15_000 });
    const fromN2 = (await api<{ items: EventView[] }>(n3, 'GET', '/api/v1/events?type=node.edge.opened&limit=50')).json.items;
    assert.ok(fromN2.some((e) => e.data?.['node'] === 'n3' && e.data?.['origin'] === 'n2' && e.data?.['stream'] === 'live/b'), 'node 3 pulled live/b from node 2');
    // and the tail it got since is byte-exact
    await waitFor(() => againFf.proc.exitCode !== null, { what: 'ffmpeg on node 2 finished', timeoutMs: 15_000 });
    await waitFor(() => { const b = Buffer.concat(p3b.messages.slice(mark)); const tail = b.subarray(b.length - 100 * 1316); return tail.length === 100 * 1316 && media.subarray(media.length - tail.length).equals(tail); },
      { what: 'the resumed stream on node 3 ends byte-exact with what node 2 got', timeoutMs: 15_000 });

    // drain node 3: a new player is refused with 1402 OVERLOAD, health says draining, the connected player stays
    const drained = await api<NodeView>(n2, 'POST', '/api/v1/nodes/n3/drain', { reason: 'maintenance' });
    assert.equal(drained.status, 200);
    assert.equal(drained.json.draining, true);
    await eventually(() => api<{ status: string }>(n3, 'GET', '/healthz'), (r) => r.status === 503 && r.json.status === 'draining', { what: 'node 3 health says draining' });
    const refused = await dial({ host: n3.host, port, mode: 'caller', streamid: 'read:live/b' }).then((s) => { s.close(); return null; }, (e: Error) => e);
    assert.ok(refused instanceof SrtRejectedError, `refused: ${String(refused)}`);
    assert.equal(refused.reason, 1402);
    const rejected = await eventually(() => api<{ items: EventView[] }>(n3, 'GET', '/api/v1/events?type=connection.rejected&limit=20'), (r) => r.json.items.some((e) => /draining \(maintenance\): connect to n2 \(127\.0\.0\.3\)/.test(e.message)),
      { what: 'the refusal names the other node' });
    assert.ok(rejected.json.items.length > 0);
    const conns = (await api<{ name: string; players: unknown[] }[]>(n3, 'GET', `/api/v1/servers/${sid}/streams`)).json;
    assert.equal(conns.find((s) => s.name === 'live/b')?.players.length, 1, 'the connected player stays');
    const resumed = await api<NodeView>(n3, 'POST', '/api/v1/nodes/n3/resume', {});
    assert.equal(resumed.status, 200, JSON.stringify(resumed.json));
    assert.equal(resumed.json.draining, false);
    const ok = await dial({ host: n3.host, port, mode: 'caller', streamid: 'read:live/b' });
    ok.close();
  } finally {
    for (const p of peers) await p.kill('SIGKILL');
    for (const n of nodes) await n.proc.kill('SIGTERM');
    for (const s of sinks) s.close();
    await pg.stop();
  }
});
