// Scale-out in one process (ADR 17): two control planes as two nodes on a real PostgreSQL, each
// with its servers on its own loopback address. The edge pull with a server's passphrase and token
// (the node credential stands in for the token; a wrong one gets 1401), one edge per stream shared
// by its players and released after the last one, the name of a live node refused, ownership
// handed over on a graceful stop, and the API of a single node (SQLite) unchanged.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { buildApp } from '../../src/api/app.js';
import { ControlPlane } from '../../src/core/control-plane.js';
import { NodeManager } from '../../src/core/nodes.js';
import { openStore, type Store } from '../../src/store/db.js';
import { dial } from '../../src/transport/api.js';
import { SrtRejectedError } from '../../src/transport/errors.js';
import type { SrtSocket } from '../../src/transport/socket.js';
import { freePort, makeMessages, tempDir } from '../support/peers.js';
import { apiHarness, ADMIN } from '../support/api.js';
import { eventually, waitFor } from '../support/wait.js';
import { startPostgres, type Postgres } from '../support/postgres.js';
import { fileTimeout } from '../support/file-timeout.js';
import WebSocket from 'ws';
import pgClient from 'pg';

fileTimeout();

let pg: Postgres | null = null;
before(async () => { pg = await startPostgres(); });
after(async () => { await pg?.stop(); });

interface TestNode { cp: ControlPlane; node: NodeManager; store: Store; host: string }

async function startNode(url: string, name: string, host: string): Promise<TestNode> {
  const store = await openStore(url);
  const node = new NodeManager(store.db, { name, address: host, srtHost: host, httpUrl: `http://${host}:0`, heartbeatMs: 200, deadAfterMs: 1500 });
  const cp = new ControlPlane(store.db, { dataDir: tempDir(), node });
  try {
    await cp.start({ sampleHistory: false });
  } catch (e) {
    await store.db.destroy();
    throw e;
  }
  return { cp, node, store, host };
}

async function stopNode(n: TestNode): Promise<void> {
  await n.cp.close();
  await n.store.db.destroy();
}

const PASS = 'cluster-passphrase';

/** Seven TS packets carrying `i`; `key`: a random-access point (adaptation field flag) on the first. */
function ts(i: number, key: boolean): Buffer {
  const b = Buffer.alloc(1316, 0xff);
  for (let o = 0; o < b.length; o += 188) b.set([0x47, 0x01, 0x00, 0x10], o);
  if (key) b.set([0x30, 7, 0x40], 3);
  b.writeUInt32BE(i, 100);
  return b;
}

describe('scale-out nodes on PostgreSQL', () => {
  test('an edge pulls with the server\'s passphrase and the node credential, is shared by its players and released after the last one', async () => {
    const url = await pg!.createDatabase();
    const a = await startNode(url, 'a', '127.0.0.2');
    const b = await startNode(url, 'b', '127.0.0.3');
    const socks: SrtSocket[] = [];
    try {
      const port = await freePort();
      // players do not wait here: node b's route hook has the edge connected before the player is placed
      const s = await a.cp.servers.create({ server_name: 'sec', server_port: port, settings: { token: 'tok', passphrase: PASS } });
      await eventually(async () => b.cp.servers.get(s.id), (v) => v.status === 'running', { what: 'node b runs the server created on a' });
      const pub = await dial({ host: a.host, port, streamid: '#!::r=live/x,m=publish,token=tok', passphrase: PASS });
      socks.push(pub);
      await eventually(async () => a.store.db.selectFrom('stream_origins').selectAll().execute(), (r) => r.length === 1 && r[0]!.node === 'a', { what: 'the registry names node a' });
      // a player on b: token and passphrase as on any node
      const players = [
        await dial({ host: b.host, port, streamid: '#!::r=live/x,m=request,token=tok', passphrase: PASS }),
        await dial({ host: b.host, port, streamid: 'read:live/x?token=tok', passphrase: PASS }),
      ];
      socks.push(...players);
      const got: Buffer[][] = players.map(() => []);
      players.forEach((p, i) => p.on('data', (m: Buffer) => got[i]!.push(m)));
      await waitFor(() => b.cp.servers.runtime(s.id)!.stats().find((x) => x.name === 'live/x')?.players.length === 2, { what: 'both players joined on b' });
      const msgs = makeMessages(300);
      for (const m of msgs) pub.write(m);
      await waitFor(() => got.every((g) => g.length >= msgs.length), { what: 'both players on b got every message through the edge', detail: () => got.map((g) => g.length).join(',') });
      for (const g of got) assert.ok(g.every((m, i) => m.equals(msgs[i]!)), 'byte-exact, in order');
      // on a: one connection from node b (shared by b's two players), its credential not shown
      const onA = a.cp.servers.runtime(s.id)!.stats().find((x) => x.name === 'live/x')!;
      assert.equal(onA.players.length, 1);
      assert.match(onA.players[0]!.streamId, /^#!::r=live\/x,m=request,node=b,nodekey=\*\*\*$/);
      // a wrong node credential: 1401; a node caller may not publish
      await assert.rejects(dial({ host: a.host, port, streamid: '#!::r=live/x,m=request,node=b,nodekey=wrong', passphrase: PASS }), (e: Error) => e instanceof SrtRejectedError && e.reason === 1401);
      // the last player leaves: the edge is released and a's node connection goes
      for (const p of players) p.close();
      await waitFor(() => (a.cp.servers.runtime(s.id)!.stats().find((x) => x.name === 'live/x')?.players.length ?? 0) === 0, { what: 'node b released its edge after its last player left' });
      // a publisher of the same stream on b while a has it: 1409
      await assert.rejects(dial({ host: b.host, port, streamid: '#!::r=live/x,m=publish,token=tok', passphrase: PASS }), (e: Error) => e instanceof SrtRejectedError && e.reason === 1409);
    } finally {
      for (const x of socks) x.close();
      await stopNode(b);
      await stopNode(a);
    }
  });

  test('a publisher that moves to another node within the grace period keeps its players on both nodes', async () => {
    const url = await pg!.createDatabase();
    const a = await startNode(url, 'a', '127.0.0.2');
    const b = await startNode(url, 'b', '127.0.0.3');
    const socks: SrtSocket[] = [];
    try {
      const port = await freePort();
      // players do not wait for publishers here: without the move their stream would end after the grace
      const s = await a.cp.servers.create({ server_name: 'mv', server_port: port, settings: { publisherGraceMs: 5000 } });
      await eventually(async () => b.cp.servers.get(s.id), (v) => v.status === 'running', { what: 'node b runs the server' });
      const pub1 = await dial({ host: a.host, port, streamid: 'publish:live/m' });
      socks.push(pub1);
      await eventually(async () => a.store.db.selectFrom('stream_origins').selectAll().execute(), (r) => r.length === 1 && r[0]!.node === 'a', { what: 'origin a' });
      const players = [await dial({ host: a.host, port, streamid: 'read:live/m' }), await dial({ host: b.host, port, streamid: 'read:live/m' })];
      socks.push(...players);
      const got: Buffer[][] = [[], []];
      const closed = [false, false];
      players.forEach((p, i) => { p.on('data', (m: Buffer) => got[i]!.push(m)); p.on('close', () => { closed[i] = true; }); });
      const msgs = makeMessages(200);
      for (const m of msgs.slice(0, 100)) pub1.write(m);
      await waitFor(() => got.every((g) => g.length === 100), { what: 'both players got the first half from a', detail: () => got.map((g) => g.length).join(',') });
      // the publisher leaves a and comes back on b
      pub1.close();
      await eventually(async () => a.store.db.selectFrom('stream_origins').selectAll().execute(), (r) => r.length === 0, { what: 'a is no longer the origin' });
      const pub2 = await dial({ host: b.host, port, streamid: 'publish:live/m' });
      socks.push(pub2);
      await eventually(async () => a.store.db.selectFrom('stream_origins').selectAll().execute(), (r) => r.length === 1 && r[0]!.node === 'b', { what: 'origin b' });
      // a's players now come through a's edge from b
      await waitFor(() => a.cp.servers.runtime(s.id)!.stats().find((x) => x.name === 'live/m')?.publisher?.peer === 'edge:b', { what: 'node a pulls live/m from b' });
      for (const m of msgs.slice(100)) pub2.write(m);
      await waitFor(() => got.every((g) => g.length === 200), { what: 'both players got the second half from b', detail: () => got.map((g) => g.length).join(',') });
      for (const g of got) assert.ok(g.every((m, i) => m.equals(msgs[i]!)), 'every message once, in order, across the move');
      assert.deepEqual(closed, [false, false], 'no player was disconnected');
    } finally {
      for (const x of socks) x.close();
      await stopNode(b);
      await stopNode(a);
    }
  });

  test('Callaba stream ids and the dashboard\'s preview on a node without the publisher', async () => {
    const url = await pg!.createDatabase();
    const a = await startNode(url, 'a', '127.0.0.2');
    const b = await startNode(url, 'b', '127.0.0.3');
    const app = await buildApp({ ...b.cp, jwtSecret: 'test-secret-test-secret' });
    const socks: SrtSocket[] = [];
    let ws: WebSocket | null = null;
    try {
      const { hashPassword } = await import('../../src/core/passwords.js');
      await b.store.db.insertInto('users').values({ username: ADMIN.username, password_hash: await hashPassword(ADMIN.password), role: 'admin', created_at: '' }).execute();
      const token = (await app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: ADMIN })).json<{ token: string }>().token;
      await app.listen({ host: '127.0.0.1', port: 0 });
      const httpPort = (app.server.address() as { port: number }).port;
      const port = await freePort();
      const s = await a.cp.servers.create({ server_name: 'cb', server_port: port });
      await eventually(async () => b.cp.servers.get(s.id), (v) => v.status === 'running', { what: 'node b runs the server' });
      const pub = await dial({ host: a.host, port, streamid: 'publisher/cb/live/y' });
      socks.push(pub);
      await eventually(async () => a.store.db.selectFrom('stream_origins').selectAll().execute(), (r) => r.length === 1, { what: 'the registry has live/y' });
      // the preview on b: its edge is opened before the preview reads
      ws = new WebSocket(`ws://127.0.0.1:${httpPort}/api/v1/servers/${s.id}/streams/preview?stream=live/y`, ['sluice.preview', `bearer.${token}`]);
      const preview: Buffer[] = [];
      ws.on('message', (d: Buffer) => preview.push(d));
      ws.on('error', () => undefined);
      // a Callaba player on b
      const player = await dial({ host: b.host, port, streamid: 'receiver/cb/live/y' });
      socks.push(player);
      const got: Buffer[] = [];
      player.on('data', (m: Buffer) => got.push(m));
      await waitFor(() => b.cp.servers.runtime(s.id)!.stats().find((x) => x.name === 'live/y')?.players.length === 2, { what: 'the preview and the Callaba player read live/y on b' });
      const msgs = [0, 1, 2, 3, 4].map((i) => ts(i, i === 2));
      for (const m of msgs) pub.write(m);
      await waitFor(() => got.length === 5 && preview.length === 3, { what: 'player and preview got the stream through the edge', detail: () => `${got.length}, ${preview.length}` });
      assert.ok(got.every((m, i) => m.equals(msgs[i]!)), 'the Callaba player: every message, unchanged');
      assert.ok(preview.every((m, i) => m.equals(msgs[i + 2]!)), 'the preview: from the keyframe, unchanged');
    } finally {
      ws?.close();
      for (const x of socks) x.close();
      await app.close();
      await stopNode(b);
      await stopNode(a);
    }
  });

  test('a server\'s routes run on its owner only, its UDP input becomes an origin other nodes pull from, and they move on a graceful stop', async () => {
    const url = await pg!.createDatabase();
    const a = await startNode(url, 'a', '127.0.0.2');
    const b = await startNode(url, 'b', '127.0.0.3');
    const nodes = [a, b];
    const stopped = new Set<TestNode>();
    const socks: SrtSocket[] = [];
    const udp = dgram.createSocket('udp4');
    let timer: NodeJS.Timeout | undefined;
    try {
      const port = await freePort();
      const s = await a.cp.servers.create({ server_name: 'rt', server_port: port });
      const owned = await eventually(async () => a.cp.servers.get(s.id), (v) => v.node !== null && v.node !== undefined, { what: 'the server has an owner' });
      const owner = owned.node === 'a' ? a : b;
      const other = owner === a ? b : a;
      // created through the node that does not own the server: it runs on the owner
      const udpPort = await freePort();
      const route = await other.cp.routes.create(s.id, { kind: 'udp-in', name: 'in', stream: 'u/in', config: { url: `udp://127.0.0.1:${udpPort}`, chunk: 'datagram' } });
      assert.equal(route.status, 'stopped', 'not run by the node it was created on');
      await eventually(async () => owner.cp.routes.get(route.id), (v) => v.status === 'running', { what: 'the owner runs the route' });
      // datagrams in: the stream is published on the owner, a player on the other node gets it through its edge
      const msgs = makeMessages(400);
      let i = 0;
      timer = setInterval(() => { if (i < msgs.length) udp.send(msgs[i++]!, udpPort, '127.0.0.1'); }, 5);
      await eventually(async () => owner.store.db.selectFrom('stream_origins').selectAll().execute(), (r) => r.length === 1 && r[0]!.node === owner.node.name, { what: 'the route\'s stream is in the registry under its owner' });
      const player = await dial({ host: other.host, port, streamid: 'read:u/in' });
      socks.push(player);
      const got: Buffer[] = [];
      player.on('data', (m: Buffer) => got.push(m));
      await waitFor(() => got.length >= 20, { what: 'the player on the other node gets the UDP input' });
      const first = got[0]!.readUInt32BE(0);
      assert.ok(got.every((m, k) => m.equals(msgs[first + k]!)), 'a contiguous run of the datagrams, unchanged');
      clearInterval(timer);
      player.close();
      // the owner stops: the other node takes the server's routes at its next heartbeat (the UDP port is free again)
      await stopNode(owner);
      stopped.add(owner);
      const moved = await eventually(async () => other.cp.routes.get(route.id), (v) => v.status === 'running', { what: 'the other node runs the route after the owner stopped' });
      assert.equal(moved.id, route.id);
      assert.equal((await other.cp.servers.get(s.id)).node, other.node.name);
    } finally {
      clearInterval(timer);
      udp.close();
      for (const x of socks) x.close();
      for (const n of nodes) if (!stopped.has(n)) await stopNode(n);
    }
  });

  test('a live node\'s name is refused; a graceful stop hands its gateways over at the next heartbeat', async () => {
    const url = await pg!.createDatabase();
    const a = await startNode(url, 'a', '127.0.0.2');
    let b: TestNode | null = null;
    try {
      await assert.rejects(startNode(url, 'a', '127.0.0.5'), /node name "a" is in use by a running node \(127\.0\.0\.2\)/);
      b = await startNode(url, 'b', '127.0.0.3');
      const g = await a.cp.gateways.create('rx', { ServiceName: 'feed', Mode: 'listener', ListenPort: await freePort(), UdpOut: '127.0.0.1:5009' });
      assert.deepEqual([g.status, g.node], ['running', 'a']);
      const onB = await eventually(async () => b!.cp.gateways.get(g.id), (v) => v.status === 'running', { what: 'node b shows the gateway running (on a)' });
      assert.equal(onB.node, 'a');
      await stopNode(a);
      const moved = await eventually(async () => b!.cp.gateways.get(g.id), (v) => v.node === 'b' && v.status === 'running' && b!.cp.gateways.runtime(g.id) !== undefined, { what: 'node b runs the gateway after a stopped' });
      assert.equal(moved.instance.length > 0, true);
      const nodes = await b.node.list();
      assert.deepEqual(nodes.map((n) => [n.name, n.status, n.gateways]), [['b', 'up', [g.id]]], 'a left the node list');
    } finally {
      if (b) await stopNode(b);
      await stopNode(a).catch(() => undefined);
    }
  });

  test('without the database a node keeps serving SRT, stops its gateways after the dead time (fencing) and runs them again when it is back', async () => {
    const url = await pg!.createDatabase();
    const dbName = new URL(url).pathname.slice(1);
    const admin = new pgClient.Client({ connectionString: url.replace(/\/[^/]+$/, '/postgres') });
    await admin.connect();
    const a = await startNode(url, 'a', '127.0.0.2');
    const socks: SrtSocket[] = [];
    let cut = false;
    try {
      const port = await freePort();
      const s = await a.cp.servers.create({ server_name: 'off', server_port: port });
      const g = await a.cp.gateways.create('rx', { ServiceName: 'feed', Mode: 'listener', ListenPort: await freePort(), UdpOut: '127.0.0.1:5009' });
      assert.equal(g.node, 'a');
      // the database goes away for this node
      await admin.query(`ALTER DATABASE ${dbName} WITH ALLOW_CONNECTIONS false`);
      await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [dbName]);
      cut = true;
      await waitFor(() => a.cp.gateways.runtime(g.id) === undefined, { what: 'node a stopped its gateway once its heartbeats had failed for the dead time' });
      // SRT goes on: a publisher and a player connect and the data flows
      const pub = await dial({ host: a.host, port, streamid: 'publish:live/z' });
      socks.push(pub);
      const player = await dial({ host: a.host, port, streamid: 'read:live/z' });
      socks.push(player);
      const got: Buffer[] = [];
      player.on('data', (m: Buffer) => got.push(m));
      const msgs = makeMessages(50);
      for (const m of msgs) pub.write(m);
      await waitFor(() => got.length === msgs.length, { what: 'the player got the stream without the database' });
      assert.ok(got.every((m, i) => m.equals(msgs[i]!)));
      assert.equal(a.cp.servers.runtime(s.id) !== undefined, true);
      // the database is back: the gateway, still this node's, runs again
      await admin.query(`ALTER DATABASE ${dbName} WITH ALLOW_CONNECTIONS true`);
      cut = false;
      await waitFor(() => a.cp.gateways.runtime(g.id) !== undefined, { what: 'node a runs its gateway again', timeoutMs: 15_000 });
    } finally {
      if (cut) await admin.query(`ALTER DATABASE ${dbName} WITH ALLOW_CONNECTIONS true`);
      await admin.end();
      for (const x of socks) x.close();
      await stopNode(a);
    }
  });

  test('drain and resume through the API (with or without a body); /healthz says draining with 503', async () => {
    const url = await pg!.createDatabase();
    const a = await startNode(url, 'a', '127.0.0.2');
    const app = await buildApp({ ...a.cp, jwtSecret: 'test-secret-test-secret' });
    try {
      const { hashPassword } = await import('../../src/core/passwords.js');
      await a.store.db.insertInto('users').values({ username: ADMIN.username, password_hash: await hashPassword(ADMIN.password), role: 'admin', created_at: '' }).execute();
      const token = (await app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: ADMIN })).json<{ token: string }>().token;
      const auth = { authorization: `Bearer ${token}` };
      const d = await app.inject({ method: 'POST', url: '/api/v1/nodes/a/drain', headers: auth });
      assert.equal(d.statusCode, 200, d.body);
      assert.deepEqual([d.json<{ draining: boolean }>().draining, d.json<{ drain_reason: string | null }>().drain_reason], [true, null]);
      const h = await app.inject({ url: '/healthz' });
      assert.deepEqual([h.statusCode, h.json<{ status: string; node: string }>().status, h.json<{ node: string }>().node], [503, 'draining', 'a']);
      const r = await app.inject({ method: 'POST', url: '/api/v1/nodes/a/resume', headers: auth });
      assert.equal(r.statusCode, 200, r.body);
      assert.equal(r.json<{ draining: boolean }>().draining, false);
      assert.equal((await app.inject({ url: '/healthz' })).statusCode, 200);
      assert.equal((await app.inject({ method: 'POST', url: '/api/v1/nodes/zz/drain', headers: auth })).statusCode, 404);
      // metrics: every series labelled with the node
      await a.cp.servers.create({ server_name: 'm', server_port: await freePort() });
      const m = (await app.inject({ url: '/metrics' })).body;
      assert.match(m, /^sluice_node_draining\{node="a"\} 0$/m);
      assert.match(m, /^sluice_server_up\{server="m",server_id="\d+",node="a"\} 1$/m);
      assert.match(m, /^sluice_process_cpu_seconds_total\{node="a"\} /m);
      // a node that is up cannot be forgotten
      assert.equal((await app.inject({ method: 'DELETE', url: '/api/v1/nodes/a', headers: auth })).statusCode, 409);
    } finally {
      await app.close();
      await stopNode(a);
    }
  });
});

test('a single node (SQLite): no node fields, an empty node list, drain answers 404, /healthz as before', async () => {
  const t = await apiHarness();
  try {
    const auth = await t.bearer(ADMIN.username, ADMIN.password);
    const s = await t.app.inject({ method: 'POST', url: '/api/v1/servers', headers: auth, payload: { server_name: 'one', server_port: await freePort() } });
    assert.equal(s.statusCode, 201);
    assert.equal('node' in s.json<object>(), false);
    assert.deepEqual((await t.app.inject({ url: '/api/v1/nodes', headers: auth })).json(), []);
    assert.equal((await t.app.inject({ method: 'POST', url: '/api/v1/nodes/x/drain', headers: auth })).statusCode, 404);
    const h = await t.app.inject({ url: '/healthz' });
    assert.equal(h.statusCode, 200);
    assert.deepEqual(Object.keys(h.json<object>()).sort(), ['status', 'uptime']);
    const ev = await t.app.inject({ url: '/api/v1/events?type=server.create', headers: auth });
    assert.equal(ev.json<{ items: { data: unknown }[] }>().items[0]!.data, null, 'events carry no node');
  } finally {
    await t.close();
  }
});

