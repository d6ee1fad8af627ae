// The multi-core server (ClusterServer, ADR 14) with real peers: two worker threads share one UDP
// port (SO_REUSEPORT), peers are placed on a chosen worker by their source port (the kernel's
// choice is a hash of the address pair, so a port is probed once to learn its worker).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClusterServer, type ClusterConnection } from '../../src/server/cluster.js';
import type { ServerConfig } from '../../src/server/server.js';
import { dial } from '../../src/transport/api.js';
import type { SrtSocket } from '../../src/transport/socket.js';
import { SRT_REJX } from '../../src/protocol/reject.js';
import { SrtRejectedError } from '../../src/transport/errors.js';
import { diffMessages, freePort, makeMessages, requireTool, spawnPeer, udpCollect, udpSendPaced, until, type Peer, type UdpCollector, sltConnected } from '../support/peers.js';
import { fileTimeout } from '../support/file-timeout.js';

fileTimeout();

requireTool('srt-live-transmit');

async function startCluster(cfg: Partial<ServerConfig> = {}): Promise<{ server: ClusterServer; port: number }> {
  const server = new ClusterServer({ name: 'mc', host: '127.0.0.1', port: 0, ...cfg }, { workers: 2 });
  await server.start();
  return { server, port: server.address().port };
}

/**
 * Local UDP ports whose callers the kernel hands to worker 0 and worker 1 (`n` each): each
 * candidate port calls once with a stream id that is refused, and the refusal names the worker.
 */
async function portsByWorker(server: ClusterServer, port: number, n: number): Promise<[number[], number[]]> {
  const out: [number[], number[]] = [[], []];
  const seen = new Map<number, number>();
  const onRejected = (r: { peer: string; worker: number }): void => { seen.set(Number(r.peer.split(':')[1]), r.worker); };
  server.on('rejected', onRejected);
  try {
    for (let i = 0; i < 64 && (out[0].length < n || out[1].length < n); i++) {
      const local = await freePort();
      await dial({ host: '127.0.0.1', port, localAddress: '127.0.0.1', localPort: local, streamid: "#!::r=cluster-probe,m=bidirectional", conntimeo: 3000 }).then(
        (s) => s.destroy(),
        (e: unknown) => assert.ok(e instanceof SrtRejectedError && e.reason === SRT_REJX.BAD_MODE, String(e)),
      );
      await until(() => seen.has(local));
      const w = seen.get(local);
      assert.ok(w === 0 || w === 1, `probe from ${local} was answered by a worker`);
      if (out[w].length < n) out[w].push(local);
    }
  } finally {
    server.off('rejected', onRejected);
  }
  assert.ok(out[0].length === n && out[1].length === n, `found ${n} ports per worker (${out[0].length}, ${out[1].length})`);
  return out;
}

function collect(s: SrtSocket): Buffer[] {
  const got: Buffer[] = [];
  s.on('data', (d: Buffer) => got.push(d));
  return got;
}

function player(port: number, local: number, streamid: string): Promise<SrtSocket> {
  return dial({ host: '127.0.0.1', port, localAddress: '127.0.0.1', localPort: local, streamid });
}

test('two workers: srt-live-transmit publishes on one, srt-live-transmit and Sluice players on both receive byte-exact; 1409 across workers; kick; stream end', async (t) => {
  const { server, port } = await startCluster({ publisherGraceMs: 1000 });
  const peers: Peer[] = [];
  const sinks: UdpCollector[] = [];
  const socks: SrtSocket[] = [];
  const events: string[] = [];
  const closed: ClusterConnection[] = [];
  server.on('published', (s, c) => events.push(`published ${s} on ${c.worker}`));
  server.on('unpublished', (s) => events.push(`unpublished ${s}`));
  server.on('closed', (c) => closed.push(c));
  try {
    const [on0, on1] = await portsByWorker(server, port, 4);
    // the publisher on worker 0
    const udpIn = await freePort();
    peers.push(spawnPeer('srt-live-transmit', ['-v', `udp://127.0.0.1:${udpIn}`, `srt://127.0.0.1:${port}?streamid=publish:live/mc&mode=caller&adapter=127.0.0.1&port=${on0[0]}`]));
    await until(() => events.includes('published live/mc on 0'), 8000);
    await sltConnected(peers[0]!); // it discards its UDP input until then
    assert.deepEqual(events, ['published live/mc on 0']);
    // a srt-live-transmit player and a Sluice player on each worker
    for (const local of [on0[1]!, on1[0]!]) {
      const sink = await udpCollect();
      t.after(() => sink.close());
      sinks.push(sink);
      peers.push(spawnPeer('srt-live-transmit', ['-q', `srt://127.0.0.1:${port}?streamid=read:live/mc&mode=caller&adapter=127.0.0.1&port=${local}`, `udp://127.0.0.1:${sink.port}`]));
    }
    socks.push(await player(port, on0[2]!, 'read:live/mc'), await player(port, on1[1]!, 'read:live/mc'));
    const got = socks.map(collect);
    await until(() => server.connections().filter((c) => c.role === 'player').length === 4, 8000);
    const players = server.connections().filter((c) => c.role === 'player');
    assert.deepEqual(players.map((c) => c.worker).sort(), [0, 0, 1, 1], 'two players on each worker');
    const ws = await server.workerStats();
    assert.deepEqual(ws.map((w) => [w.publishers, w.players, w.relaysOut, w.relaysIn]), [[1, 2, 1, 0], [0, 2, 0, 1]], 'worker 0 relays the stream to worker 1');

    // a second publisher of the stream on the other worker: 1409, as on one thread
    await assert.rejects(dial({ host: '127.0.0.1', port, localAddress: '127.0.0.1', localPort: on1[2]!, streamid: 'publish:live/mc', conntimeo: 3000 }),
      (e: unknown) => e instanceof SrtRejectedError && e.reason === SRT_REJX.CONFLICT);

    const msgs = makeMessages(1500);
    await udpSendPaced(udpIn, msgs, 1000);
    await until(() => got.every((g) => g.length >= msgs.length) && sinks.every((s) => s.messages.length >= msgs.length), 10_000);
    for (const [i, g] of got.entries()) assert.equal(diffMessages(msgs, g), null, `Sluice player on worker ${i}`);
    for (const [i, s] of sinks.entries()) assert.equal(diffMessages(msgs, s.messages), null, `srt-live-transmit player on worker ${i}`);
    const st = (await server.stats()).find((s) => s.name === 'live/mc')!;
    assert.equal(st.publisher?.worker, 0);
    assert.equal(st.players.length, 4);
    assert.equal(st.messages, 1500, 'the stream counters are the publisher worker\'s');

    // kicking from the main thread: the Sluice player on worker 1
    const victim = server.connections().find((c) => c.role === 'player' && c.worker === 1 && c.peer.endsWith(`:${on1[1]}`))!;
    assert.ok(server.closeConnection(victim.id));
    await until(() => socks[1]!.closeReason !== null);
    assert.notEqual(socks[1]!.closeReason, null, 'the kicked player was shut down');
    await until(() => closed.some((c) => c.id === victim.id));
    assert.ok(!server.connections().some((c) => c.id === victim.id));

    // the publisher leaves: after the grace period the stream ends for the players of both workers
    await peers[0]!.kill();
    await until(() => events.includes('unpublished live/mc') && socks[0]!.closeReason !== null, 8000);
    assert.deepEqual(events, ['published live/mc on 0', 'unpublished live/mc'], 'one unpublished for the cluster');
    assert.notEqual(socks[0]!.closeReason, null, 'the Sluice player on worker 0 was ended');
    await until(() => !server.connections().some((c) => c.role === 'player' && c.stream === 'live/mc' && c.peer.endsWith(`:${on1[0]}`)), 8000);
    assert.ok(!server.connections().some((c) => c.role === 'player' && c.stream === 'live/mc'), 'no player of the ended stream is left on any worker');
    assert.deepEqual((await server.workerStats()).map((w) => [w.relaysOut, w.relaysIn]), [[0, 0], [0, 0]], 'relays stopped');
  } finally {
    for (const s of socks) s.destroy();
    for (const p of peers) await p.kill();
    for (const s of sinks) s.close();
    await server.close();
  }
});

test('two workers: players wait on both, the publisher arrives on worker 1, then reconnects on worker 0 within its grace period', async (t) => {
  const { server, port } = await startCluster({ publisherGraceMs: 10_000, waitForPublisher: true });
  const socks: SrtSocket[] = [];
  const events: string[] = [];
  server.on('published', (s, c) => events.push(`published ${s} on ${c.worker}`));
  server.on('unpublished', (s) => events.push(`unpublished ${s}`));
  try {
    const [on0, on1] = await portsByWorker(server, port, 2);
    socks.push(await player(port, on0[0]!, 'read:live/w'), await player(port, on1[0]!, 'read:live/w'));
    const got = socks.map(collect);
    const msgs = makeMessages(400);
    const pub1 = await dial({ host: '127.0.0.1', port, localAddress: '127.0.0.1', localPort: on1[1]!, streamid: 'publish:live/w' });
    t.after(() => pub1.destroy());
    await until(() => events.length === 1);
    assert.deepEqual(events, ['published live/w on 1']);
    for (const m of msgs.slice(0, 200)) pub1.write(m);
    await until(() => got.every((g) => g.length >= 200));
    pub1.close();
    await until(() => server.connections().filter((c) => c.role === 'publisher').length === 0);
    // the same stream now from worker 0: the old worker's players are fed by a relay from it
    const pub0 = await dial({ host: '127.0.0.1', port, localAddress: '127.0.0.1', localPort: on0[1]!, streamid: 'publish:live/w' });
    t.after(() => pub0.destroy());
    await until(() => events.length === 2);
    assert.deepEqual(events, ['published live/w on 1', 'published live/w on 0'], 'no unpublished within the grace period');
    for (const m of msgs.slice(200)) pub0.write(m);
    await until(() => got.every((g) => g.length >= 400), 8000);
    for (const [i, g] of got.entries()) assert.equal(diffMessages(msgs, g), null, `player on worker ${i}`);
    assert.deepEqual((await server.workerStats()).map((w) => [w.relaysOut, w.relaysIn]), [[1, 0], [0, 1]], 'the relay runs from worker 0 to worker 1 now');
    pub0.destroy();
  } finally {
    for (const s of socks) s.destroy();
    await server.close();
  }
});

test('two workers: a worker that dies loses its connections, the other goes on serving and takes new callers', async (t) => {
  const { server, port } = await startCluster();
  const socks: SrtSocket[] = [];
  const exits: string[] = [];
  const closed: ClusterConnection[] = [];
  server.on('workerExit', (i, reason) => exits.push(`${i}: ${reason}`));
  server.on('closed', (c, reason) => { if (reason.includes('exited')) closed.push(c); });
  try {
    const [on0, on1] = await portsByWorker(server, port, 2);
    const pub = await dial({ host: '127.0.0.1', port, localAddress: '127.0.0.1', localPort: on0[0]!, streamid: 'publish:live/x' });
    t.after(() => pub.destroy());
    await until(() => server.streamNames().includes('live/x'));
    socks.push(await player(port, on0[1]!, 'read:live/x'), await player(port, on1[0]!, 'read:live/x'));
    const got = socks.map(collect);
    await until(() => server.connections().filter((c) => c.role === 'player').length === 2);
    const msgs = makeMessages(300);
    for (const m of msgs.slice(0, 100)) pub.write(m);
    await until(() => got.every((g) => g.length >= 100));
    await server.terminateWorker(1);
    await until(() => exits.length === 1 && closed.length === 1);
    assert.equal(exits.length, 1);
    assert.match(exits[0]!, /^1: worker 1 exited/);
    assert.deepEqual(closed.map((c) => [c.worker, c.role, c.peer]), [[1, 'player', `127.0.0.1:${on1[0]}`]], 'its player was reported closed');
    assert.deepEqual(server.connections().map((c) => c.worker), [0, 0], 'worker 0 keeps its publisher and player');
    // a new caller (from a port that went to worker 1 before) now reaches worker 0
    const late = await player(port, on1[1]!, 'read:live/x');
    socks.push(late);
    const gotLate = collect(late);
    await until(() => server.connections().length === 3);
    assert.equal(server.connections().find((c) => c.peer.endsWith(`:${on1[1]}`))?.worker, 0);
    for (const m of msgs.slice(100)) pub.write(m);
    await until(() => got[0]!.length >= 300 && gotLate.length >= 200);
    assert.equal(diffMessages(msgs, got[0]!), null, 'the player of the surviving worker received everything');
    assert.equal(diffMessages(msgs.slice(100), gotLate), null, 'the new player received the rest');
    assert.equal((await server.workerStats())[1]!.alive, false);
    pub.destroy();
  } finally {
    for (const s of socks) s.destroy();
    await server.close();
  }
});

test('two workers: a backup publisher on the other worker stays silent while the main one is up and takes over at once when it fails', async (t) => {
  const { server, port } = await startCluster({ publisherGraceMs: 10_000 });
  const socks: SrtSocket[] = [];
  const events: string[] = [];
  server.on('published', (s, c) => events.push(`${s}:${c.role}@${c.worker}`));
  server.on('unpublished', (s) => events.push(`unpublished ${s}`));
  try {
    const [on0, on1] = await portsByWorker(server, port, 3);
    const main = await dial({ host: '127.0.0.1', port, localAddress: '127.0.0.1', localPort: on0[0]!, streamid: 'publish:live/bk' });
    await until(() => events.length === 1);
    const backup = await dial({ host: '127.0.0.1', port, localAddress: '127.0.0.1', localPort: on1[0]!, streamid: 'publish:live/bk?backup=1' });
    t.after(() => backup.destroy());
    await until(() => server.connections().some((c) => c.role === 'backup'));
    assert.deepEqual(events, ['live/bk:publisher@0'], 'the backup on worker 1 was not promoted while the main publisher is up');
    await assert.rejects(dial({ host: '127.0.0.1', port, localAddress: '127.0.0.1', localPort: on0[1]!, streamid: 'publish:live/bk?backup=1', conntimeo: 3000 }),
      (e: unknown) => e instanceof SrtRejectedError && e.reason === SRT_REJX.CONFLICT, 'one backup per stream across workers');
    socks.push(await player(port, on0[2]!, 'read:live/bk'), await player(port, on1[1]!, 'read:live/bk'));
    const got = socks.map(collect);
    await until(() => server.connections().filter((c) => c.role === 'player').length === 2);
    const tagged = (i: number, who: number): Buffer => { const b = makeMessages(1)[0]!; b.writeUInt32BE(i, 0); b[4] = who; return b; };
    for (let i = 0; i < 200; i++) { main.write(tagged(i, 1)); backup.write(tagged(i, 2)); }
    await until(() => got.every((g) => g.length >= 200));
    for (const [w, g] of got.entries()) assert.ok(g.length === 200 && g.every((m, i) => m.readUInt32BE(0) === i && m[4] === 1), `worker ${w}'s player hears only the main publisher (${g.length})`);
    main.destroy(); // fails without a graceful end
    await until(() => events.length === 2);
    assert.deepEqual(events, ['live/bk:publisher@0', 'live/bk:backup@1'], 'the backup took over without an unpublished');
    for (let i = 200; i < 400; i++) backup.write(tagged(i, 2));
    await until(() => got.every((g) => g.some((m) => m.readUInt32BE(0) === 399)), 8000);
    for (const [w, g] of got.entries()) {
      const fromBackup = g.filter((m) => m[4] === 2).map((m) => m.readUInt32BE(0));
      assert.deepEqual(fromBackup, Array.from({ length: 200 }, (_, i) => 200 + i), `worker ${w}'s player gets the backup's stream`);
    }
    for (const s of socks) assert.equal(s.closeReason, null, 'the players never noticed');
    backup.destroy();
  } finally {
    for (const s of socks) s.destroy();
    await server.close();
  }
});

test('sluice srt-server --workers 2: srt-live-transmit publishes, eight Sluice players receive byte-exact', async () => {
  const port = await freePort();
  const CLI = new URL('../../src/cli/main.js', import.meta.url).pathname;
  const srv = spawnPeer(process.execPath, [CLI, 'srt-server', '--addr', `127.0.0.1:${port}`, '--workers', '2']);
  const udpIn = await freePort();
  const socks: SrtSocket[] = [];
  let pub: Peer | null = null;
  try {
    await until(() => srv.output().includes('listening'), 8000);
    assert.match(srv.output(), /listening on 127\.0\.0\.1:\d+ \(2 worker threads\)/);
    pub = spawnPeer('srt-live-transmit', ['-v', `udp://127.0.0.1:${udpIn}`, `srt://127.0.0.1:${port}?streamid=publish:live/cli`]);
    await until(() => /"event":"published","stream":"live\/cli"/.test(srv.output()), 8000);
    await sltConnected(pub); // it discards its UDP input until then
    for (let i = 0; i < 8; i++) socks.push(await dial({ host: '127.0.0.1', port, streamid: 'read:live/cli' }));
    const got = socks.map(collect);
    const msgs = makeMessages(500);
    await udpSendPaced(udpIn, msgs, 1000);
    await until(() => got.every((g) => g.length >= msgs.length), 8000);
    for (const [i, g] of got.entries()) assert.equal(diffMessages(msgs, g), null, `player ${i}`);
    for (const s of socks) s.destroy();
    await pub.kill();
    assert.equal(await srv.kill('SIGTERM'), 0);
  } finally {
    for (const s of socks) s.destroy();
    await pub?.kill();
    await srv.kill();
  }
});
