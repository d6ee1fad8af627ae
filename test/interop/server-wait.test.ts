// Players that connect before their stream's publisher (waitForPublisher), with srt-live-transmit
// as the decoder started first; repeated rejections summarised in the audit log and the CLI's log.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Server, type ServerConfig } from '../../src/server/server.js';
import { ServerManager } from '../../src/core/servers.js';
import { EventLog } from '../../src/core/events.js';
import { openSqlite } from '../../src/store/db.js';
import { dial } from '../../src/transport/api.js';
import type { SrtSocket } from '../../src/transport/socket.js';
import { SRT_REJX } from '../../src/protocol/reject.js';
import { SrtRejectedError } from '../../src/transport/errors.js';
import { diffMessages, freePort, makeMessages, requireTool, sleep, spawnPeer, tempDir, udpCollect, udpSendPaced, until, sltConnected, waitForOutput } from '../support/peers.js';
import { fileTimeout } from '../support/file-timeout.js';
import { within } from '../support/wait.js';

fileTimeout();

requireTool('srt-live-transmit');

async function startServer(cfg: Partial<ServerConfig> = {}): Promise<{ server: Server; port: number }> {
  const port = await freePort();
  const server = new Server({ name: 'srv1', host: '127.0.0.1', port, ...cfg });
  await server.start();
  return { server, port };
}

async function rejectionOf(port: number, streamid: string): Promise<number> {
  try {
    const s = await dial({ host: '127.0.0.1', port, streamid, conntimeo: 2000 });
    s.destroy();
    return -1;
  } catch (e) {
    assert.ok(e instanceof SrtRejectedError, String(e));
    return e.reason!;
  }
}

function collect(s: SrtSocket): Buffer[] {
  const got: Buffer[] = [];
  s.on('data', (d: Buffer) => got.push(d));
  return got;
}

test('waitForPublisher: srt-live-transmit players started before the publisher get its stream byte-exact, and wait again when it ends', async () => {
  const { server, port } = await startServer({ waitForPublisher: true, publisherGraceMs: 300 });
  const off = await startServer({ name: 'srv2' });
  const sinks = await Promise.all([udpCollect(), udpCollect()]);
  const players = [
    spawnPeer('srt-live-transmit', ['-q', `srt://127.0.0.1:${port}?streamid=receiver/srv1/live/early`, `udp://127.0.0.1:${sinks[0]!.port}`]),
    spawnPeer('srt-live-transmit', ['-q', `srt://127.0.0.1:${port}?streamid=#!::r=live/early,m=request`, `udp://127.0.0.1:${sinks[1]!.port}`]),
  ];
  const udpIn = await freePort();
  let pub: ReturnType<typeof spawnPeer> | null = null;
  let sluicePlayer: SrtSocket | null = null;
  try {
    // the option off: 1404 as before, whatever the stream-id form
    assert.equal(await rejectionOf(off.port, 'receiver/srv2/live/early'), SRT_REJX.NOTFOUND);
    assert.equal(await rejectionOf(off.port, 'read:live/early'), SRT_REJX.NOTFOUND);
    // the option on: accepted and held, listed as a stream without a publisher
    sluicePlayer = await dial({ host: '127.0.0.1', port, streamid: 'read:/live/early' });
    const got = collect(sluicePlayer);
    await until(() => server.stats().find((s) => s.name === 'live/early')?.players.length === 3, 8000);
    const waiting = server.stats().find((s) => s.name === 'live/early');
    assert.equal(waiting?.players.length, 3, JSON.stringify(server.stats().map((s) => [s.name, s.players.length])));
    assert.equal(waiting.publisher, null, 'waiting for the publisher');
    assert.equal(server.counters.rejected, 0, 'nobody was rejected');

    pub = spawnPeer('srt-live-transmit', ['-v', `udp://127.0.0.1:${udpIn}`, `srt://127.0.0.1:${port}?streamid=publish:live/early`]);
    await until(() => server.stats().find((s) => s.name === 'live/early')?.publisher !== null, 8000);
    await sltConnected(pub); // it discards its UDP input until then
    assert.notEqual(server.stats().find((s) => s.name === 'live/early')?.publisher ?? null, null, 'published');
    const first = makeMessages(1500);
    await udpSendPaced(udpIn, first, 1000);
    await until(() => got.length >= 1500 && sinks.every((s) => s.messages.length >= 1500), 8000);
    for (const [i, s] of sinks.entries()) assert.equal(diffMessages(first, s.messages), null, `srt-live-transmit player ${i}`);
    assert.equal(diffMessages(first, got), null, 'Sluice player');

    // the publisher goes; after its grace period the stream ends and the players wait again
    const unpublished = once(server, 'unpublished');
    await pub.kill();
    await within(unpublished, { what: 'the stream ends after the grace period' });
    const after = server.stats().find((s) => s.name === 'live/early');
    assert.equal(after?.players.length, 3, 'the players stay');
    assert.equal(after.publisher, null);
    assert.equal(after.messages, 0, 'a fresh stream entry');
    pub = spawnPeer('srt-live-transmit', ['-v', `udp://127.0.0.1:${udpIn}`, `srt://127.0.0.1:${port}?streamid=publish:live/early`]);
    await until(() => server.stats().find((s) => s.name === 'live/early')?.publisher !== null, 8000);
    await sltConnected(pub); // it discards its UDP input until then
    const second = makeMessages(3000).slice(1500);
    await udpSendPaced(udpIn, second, 1000);
    await until(() => got.length >= 3000 && sinks.every((s) => s.messages.length >= 3000), 8000);
    const all = [...first, ...second];
    for (const [i, s] of sinks.entries()) assert.equal(diffMessages(all, s.messages), null, `srt-live-transmit player ${i}, second publisher`);
    assert.equal(diffMessages(all, got), null, 'Sluice player, second publisher');
  } finally {
    sluicePlayer?.destroy();
    await pub?.kill();
    for (const p of players) await p.kill();
    for (const s of sinks) s.close();
    await server.close();
    await off.server.close();
  }
});

test('waiting players: access control and limits apply; a timeout closes them with SHUTDOWN and a reason; without the option the players end with the stream', async (t) => {
  const { server, port } = await startServer({ waitForPublisher: true, waitForPublisherTimeoutMs: 500, token: 'tok', maxPerStream: 1 });
  const closed: string[] = [];
  server.on('closed', (c, reason) => closed.push(`${c.role} ${c.stream}: ${reason}`));
  const off = await startServer({ name: 'srv2', publisherGraceMs: 100 });
  try {
    assert.equal(await rejectionOf(port, 'read:live/w'), SRT_REJX.UNAUTHORIZED, 'token required: 1401');
    assert.equal(await rejectionOf(port, 'read:live/w?token=bad'), SRT_REJX.UNAUTHORIZED, 'wrong token: 1401');
    const p1 = await dial({ host: '127.0.0.1', port, streamid: 'read:live/w?token=tok' });
    t.after(() => p1.destroy());
    const p1Closed = once(p1, 'closed') as Promise<[string]>;
    assert.equal(await rejectionOf(port, 'read:live/w?token=tok'), SRT_REJX.OVERLOAD, 'a waiting player counts against maxPerStream: 1402');
    // no publisher within 500 ms: the server closes it (the peer sees SHUTDOWN) and says why
    const [reason] = await p1Closed;
    assert.equal(reason, 'peer', 'closed by the server (SHUTDOWN)');
    await until(() => closed.length === 1);
    assert.deepEqual(closed, ['player live/w: no publisher for "live/w" within 0.5 s']);
    assert.equal(server.streamNames().includes('live/w'), false, 'the entry goes with its last waiting player');
    assert.equal(server.connections().length, 0);
    p1.destroy();

    // a publisher in time stops the timeout
    const p2 = await dial({ host: '127.0.0.1', port, streamid: 'read:live/w?token=tok' });
    t.after(() => p2.destroy());
    const got = collect(p2);
    const pub = await dial({ host: '127.0.0.1', port, streamid: 'publish:live/w?token=tok' });
    t.after(() => pub.destroy());
    const msgs = makeMessages(20);
    for (const m of msgs) pub.write(m);
    await until(() => got.length >= 20);
    assert.equal(diffMessages(msgs, got), null);
    await sleep(700); // beyond the wait timeout: a player with a publisher is never timed out
    assert.equal(closed.length, 1, closed.join('; '));
    assert.equal(server.connections().length, 2);
    pub.destroy();
    p2.destroy();

    // the option off: players end with their stream (the behaviour kept)
    const offPub = await dial({ host: '127.0.0.1', port: off.port, streamid: 'publish:live/o' });
    t.after(() => offPub.destroy());
    await until(() => off.server.streamNames().includes('live/o'));
    const offPlayer = await dial({ host: '127.0.0.1', port: off.port, streamid: 'read:live/o' });
    t.after(() => offPlayer.destroy());
    const ended = once(offPlayer, 'closed');
    offPub.destroy();
    await ended;
    assert.equal(off.server.streamNames().includes('live/o'), false);
    offPlayer.destroy();
  } finally {
    await server.close();
    await off.server.close();
  }
});

test('repeated rejections of a retrying srt-live-transmit: one audit event, then a summary that counts the rest', async () => {
  const db = await openSqlite(`${tempDir()}/sluice.db`);
  const events = new EventLog(db);
  // an interval longer than the test: everything after the first rejection is in one summary
  const manager = new ServerManager(db, events, { rejectSummaryMs: 3_600_000 });
  const port = await freePort();
  const sink = await freePort();
  const { id } = await manager.create({ server_name: 'rej', server_port: port });
  const server = manager.runtime(id)!;
  const player = spawnPeer('srt-live-transmit', [`srt://127.0.0.1:${port}?streamid=read:live/none`, `udp://127.0.0.1:${sink}`]);
  try {
    // srt-live-transmit redials about every 11 ms, but now and then waits out a connection timeout
    // first (seen under load: 27 in 20 s); 20 repeated rejections are plenty to show the summary
    await until(() => server.counters.rejected >= 20, 30_000, 'srt-live-transmit retries 20 times', () => `${server.counters.rejected} rejections; srt-live-transmit: ${player.output().slice(-500)}`);
    await player.kill();
    const n = server.counters.rejected;
    assert.ok(n >= 20, `srt-live-transmit retried (${n} rejections)`);
    const before = (await events.list({ type: 'connection.rejected' })).items;
    assert.equal(before.length, 1, 'while retrying: one event');
    assert.match(before[0]!.message, /^127\.0\.0\.1:\d+ rejected \(1404\): stream "live\/none" is not published$/);
    await manager.stop(id); // the pending summary is recorded
    const items = (await events.list({ type: 'connection.rejected' })).items.reverse();
    assert.equal(items.length, 2, items.map((e) => e.message).join('\n'));
    assert.equal(items[1]!.data!['repeated'], n - 1, 'the summary counts every other rejection');
    assert.match(items[1]!.message, new RegExp(`^${n - 1} more rejections \\(1404\\) of "read:live/none" from 127\\.0\\.0\\.1 in the last [\\d.]+ s: stream "live/none" is not published$`));
  } finally {
    await player.kill();
    await manager.closeAll();
    await events.flush();
    await db.destroy();
  }
});

test('sluice srt-server: --wait-for-publisher holds an early srt-live-transmit player; N rejections make two log lines', async () => {
  const port = await freePort();
  const CLI = new URL('../../src/cli/main.js', import.meta.url).pathname;
  const srv = spawnPeer(process.execPath, [CLI, 'srt-server', '--addr', `127.0.0.1:${port}`, '--name', 'cli1', '--wait-for-publisher', '--reject-log-interval', '3600000']);
  const sink = await udpCollect();
  const udpIn = await freePort();
  let play: ReturnType<typeof spawnPeer> | null = null;
  let pub: ReturnType<typeof spawnPeer> | null = null;
  try {
    await waitForOutput(srv, /listening/, 'sluice srt-server listens');
    play = spawnPeer('srt-live-transmit', ['-q', `srt://127.0.0.1:${port}?streamid=receiver/cli1/live/cam`, `udp://127.0.0.1:${sink.port}`]);
    await waitForOutput(srv, /"topic":"connect".*"role":"player".*"stream":"live\/cam"/, 'the player is accepted');
    assert.match(srv.output(), /"topic":"connect".*"role":"player".*"stream":"live\/cam"/, 'the player is accepted before the publisher');
    pub = spawnPeer('srt-live-transmit', ['-v', `udp://127.0.0.1:${udpIn}`, `srt://127.0.0.1:${port}?streamid=publisher/cli1/live/cam`]);
    await waitForOutput(srv, /"event":"published"/, 'the stream is published');
    await sltConnected(pub); // it discards its UDP input until then
    const msgs = makeMessages(1000);
    await udpSendPaced(udpIn, msgs, 1000);
    await sink.waitFor(1000, 5000);
    assert.equal(diffMessages(msgs, sink.messages), null);
    // 30 rejections of one address, stream id and reason (another server's code): 1 line now, 1 summary at exit
    for (let i = 0; i < 30; i++) assert.equal(await rejectionOf(port, 'receiver/other/live/cam'), SRT_REJX.NOTFOUND);
    await pub.kill();
    await play.kill();
    assert.equal(await srv.kill('SIGTERM'), 0);
    const rejects = srv.output().split('\n').filter((l) => l.includes('"topic":"reject"'));
    assert.equal(rejects.length, 2, rejects.join('\n'));
    assert.match(rejects[0]!, /"reason":1404.*"message":"no server \\"other\\" here/);
    assert.match(rejects[1]!, /"reason":1404.*"repeated":29.*"message":"29 more rejections \(1404\) of \\"receiver\/other\/live\/cam\\" from 127\.0\.0\.1 in the last [\d.]+ s: no server/);
  } finally {
    await pub?.kill();
    await play?.kill();
    await srv.kill();
    sink.close();
  }
});
