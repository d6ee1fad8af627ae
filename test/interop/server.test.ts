// The SRT server with real peers: routing by every stream-id form, byte-exact fan-out,
// rejection codes seen by callers, publisher reconnect, slow players, the HTTP auth hook.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Server, type ServerConfig } from '../../src/server/server.js';
import { dial } from '../../src/transport/api.js';
import type { SrtSocket } from '../../src/transport/socket.js';
import { SRT_REJ, SRT_REJX } from '../../src/protocol/reject.js';
import { SrtRejectedError } from '../../src/transport/errors.js';
import { diffMessages, freePort, makeMessages, requireTool, sleep, spawnPeer, tempDir, testMedia, udpCollect, udpSendPaced, until, waitForOutput, sltConnected } from '../support/peers.js';
import { fileTimeout } from '../support/file-timeout.js';
import { waitFor } from '../support/wait.js';

fileTimeout();

requireTool('srt-live-transmit');
requireTool('ffmpeg');

async function startServer(cfg: Partial<ServerConfig> = {}): Promise<{ server: Server; port: number }> {
  const port = await freePort();
  const server = new Server({ name: 'srv1', host: '127.0.0.1', port, ...cfg });
  await server.start();
  return { server, port };
}

function collect(s: SrtSocket): Buffer[] {
  const got: Buffer[] = [];
  s.on('data', (d: Buffer) => got.push(d));
  return got;
}

/**
 * Where a live player's data may start: a player connected before the first byte is published must
 * receive everything; one that can only join once the stream exists (a real publisher such as
 * ffmpeg creates it by connecting and sends at once) may start later, but what it receives must be
 * an exact, contiguous suffix of what was published, down to the last byte.
 */
function isExactSuffix(published: Buffer, got: Buffer[]): boolean {
  const all = Buffer.concat(got);
  return all.length > 0 && all.length <= published.length && published.subarray(published.length - all.length).equals(all);
}

async function rejectionOf(port: number, streamid: string, extra: Record<string, unknown> = {}): Promise<number> {
  try {
    const s = await dial({ host: '127.0.0.1', port, streamid, conntimeo: 2000, ...extra });
    s.destroy();
    return -1;
  } catch (e) {
    assert.ok(e instanceof SrtRejectedError, String(e));
    return e.reason!;
  }
}

test('byte-exact fan-out: srt-live-transmit publishes, players of every stream-id form receive everything', async () => {
  const { server, port } = await startServer();
  const udpIn = await freePort();
  const pub = spawnPeer('srt-live-transmit', ['-v', `udp://127.0.0.1:${udpIn}`, `srt://127.0.0.1:${port}?streamid=#!::r=live/fan,m=publish`]);
  const sinks = await Promise.all([udpCollect(), udpCollect()]);
  const sltPlayers = [
    spawnPeer('srt-live-transmit', ['-q', `srt://127.0.0.1:${port}?streamid=read:/live/fan`, `udp://127.0.0.1:${sinks[0]!.port}`]),
    spawnPeer('srt-live-transmit', ['-q', `srt://127.0.0.1:${port}?streamid=receiver/srv1/live/fan`, `udp://127.0.0.1:${sinks[1]!.port}`]),
  ];
  const out = join(tempDir(), 'ffplayer.bin');
  let ff: ReturnType<typeof spawnPeer> | null = null;
  try {
    await until(() => server.streamNames().includes('live/fan'));
    assert.ok(server.streamNames().includes('live/fan'), 'published');
    const sluicePlayers = await Promise.all(['live/fan', '/live/fan', '%23!::r=live/fan,m=request'].map((sid) => dial({ host: '127.0.0.1', port, streamid: sid })));
    const got = sluicePlayers.map(collect);
    ff = spawnPeer('ffmpeg', ['-loglevel', 'error', '-f', 'data', '-i', `srt://127.0.0.1:${port}?streamid=%23!::r=live/fan&latency=120000`, '-map', '0', '-c', 'copy', '-f', 'data', '-y', out]);
    await until(() => server.stats().find((s) => s.name === 'live/fan')!.players.length === 6, 8000);
    assert.equal(server.stats()[0]!.players.length, 6, 'six players of four stream-id forms');
    await sltConnected(pub); // it discards its UDP input until then
    const msgs = makeMessages(2000);
    await udpSendPaced(udpIn, msgs, 1000);
    await until(() => got.every((g) => g.length >= 2000) && sinks.every((s) => s.messages.length >= 2000));
    for (const [i, g] of got.entries()) assert.equal(diffMessages(msgs, g), null, `Sluice player ${i}`);
    for (const [i, s] of sinks.entries()) assert.equal(diffMessages(msgs, s.messages), null, `srt-live-transmit player ${i}`);
    // ffmpeg was one of the six players before the first message: it must write every byte. Its
    // output is buffered (32 KiB), so wait for all but the last buffer-full, then stop it (it flushes).
    const whole = Buffer.concat(msgs);
    const written = (): number => { try { return statSync(out).size; } catch { return 0; } };
    await waitFor(() => written() >= whole.length - 65_536, { what: 'ffmpeg writes what it received', timeoutMs: 20_000, detail: () => `${written()} of ${whole.length} bytes` });
    pub.proc.kill('SIGINT');
    ff.proc.kill('SIGINT');
    await ff.exited;
    const ffGot = readFileSync(out);
    assert.equal(ffGot.length, whole.length, 'ffmpeg player: every byte');
    assert.ok(ffGot.equals(whole), 'ffmpeg player: byte-exact');
    for (const s of sluicePlayers) s.destroy();
  } finally {
    await pub.kill();
    for (const p of sltPlayers) await p.kill();
    await ff?.kill();
    for (const s of sinks) s.close();
    await server.close();
  }
});

test('ffmpeg publishes with publish:NAME; a Callaba-form player gets the exact TS', async (t) => {
  const media = testMedia();
  const { server, port } = await startServer();
  const ff = spawnPeer('ffmpeg', ['-loglevel', 'error', '-re', '-i', media, '-c', 'copy', '-f', 'mpegts',
    `srt://127.0.0.1:${port}?streamid=publish:/live/tv&latency=200000&pkt_size=1316&linger=3`]);
  try {
    await until(() => server.streamNames().includes('live/tv'));
    const player = await dial({ host: '127.0.0.1', port, streamid: 'receiver/srv1/live/tv' });
    t.after(() => player.destroy());
    const got = collect(player);
    assert.equal(await ff.exited, 0, ff.output());
    // the player can only join once ffmpeg has created the stream (see isExactSuffix)
    const file = readFileSync(media);
    await waitFor(() => isExactSuffix(file, got), { what: 'the player receives an exact suffix of the file, to its last byte', detail: () => `${Buffer.concat(got).length} of ${file.length} bytes` });
    player.destroy();
  } finally {
    await ff.kill();
    await server.close();
  }
});

test('rejection codes as callers see them (Sluice caller and srt-live-transmit)', async (t) => {
  const { server, port } = await startServer({
    token: undefined,
    users: { alice: { passphrase: 'alice-secret-1', publish: true, read: true }, bob: { read: true, publish: false } },
    maxPerStream: 1,
    defaultStream: undefined,
  });
  const pub = await dial({ host: '127.0.0.1', port, streamid: 'publish:live/x' });
  try {
    assert.equal(await rejectionOf(port, '#!::r=live/x,q=1'), SRT_REJX.BAD_REQUEST, 'unknown single-letter key: 1400');
    assert.equal(await rejectionOf(port, ''), SRT_REJX.BAD_REQUEST, 'no stream id, no default: 1400');
    assert.equal(await rejectionOf(port, '#!::r=live/y,u=mallory'), SRT_REJX.UNAUTHORIZED, 'unknown user: 1401');
    assert.equal(await rejectionOf(port, '#!::r=live/y,m=publish,u=bob'), SRT_REJX.FORBIDDEN, 'user may not publish: 1403');
    assert.equal(await rejectionOf(port, 'read:live/nothing'), SRT_REJX.NOTFOUND, 'no such stream: 1404');
    assert.equal(await rejectionOf(port, 'receiver/otherserver/live/x'), SRT_REJX.NOTFOUND, 'other server code: 1404');
    assert.equal(await rejectionOf(port, '#!::r=live/x,m=sideways'), SRT_REJX.BAD_MODE, 'invalid mode: 1405');
    assert.equal(await rejectionOf(port, 'publish:live/x'), SRT_REJX.CONFLICT, 'already published: 1409');
    const p1 = await dial({ host: '127.0.0.1', port, streamid: 'live/x' });
    t.after(() => p1.destroy());
    assert.equal(await rejectionOf(port, 'live/x'), SRT_REJX.OVERLOAD, 'player limit: 1402');
    p1.destroy();
    assert.equal(await rejectionOf(port, '#!::r=live/z,m=publish,u=alice'), SRT_REJ.UNSECURE, 'alice must use her passphrase');
    assert.equal(await rejectionOf(port, '#!::r=live/z,m=publish,u=alice', { passphrase: 'alice-secret-1' }), -1, 'alice with her passphrase publishes');
    // srt-live-transmit shows the application reason for 1409 (2409 on the wire)
    const sink = await freePort();
    const slt = spawnPeer('srt-live-transmit', [`srt://127.0.0.1:${port}?streamid=publish:live/x`, `udp://127.0.0.1:${sink}`]);
    try {
      await waitForOutput(slt, /rejection reason|REJECT|Connection setup failure/i, 'srt-live-transmit reports the rejection');
    } finally {
      await slt.kill();
    }
    assert.match(slt.output(), /Application-defined rejection reason/, slt.output().slice(0, 1500));
  } finally {
    pub.destroy();
    await server.close();
  }
});

test('whitelist mode with run-time changes; gosrt token; 1403/1401', async (t) => {
  const { server, port } = await startServer({ accessMode: 'whitelist', whitelist: ['live/ok'], token: 'tok123' });
  try {
    assert.equal(await rejectionOf(port, 'publish:live/ok'), SRT_REJX.UNAUTHORIZED, 'token required');
    assert.equal(await rejectionOf(port, 'publish:live/ok?token=bad'), SRT_REJX.UNAUTHORIZED, 'wrong token');
    assert.equal(await rejectionOf(port, 'publish:live/other?token=tok123'), SRT_REJX.FORBIDDEN, 'not whitelisted');
    const a = await dial({ host: '127.0.0.1', port, streamid: 'publish:live/ok?token=tok123' });
    t.after(() => a.destroy());
    server.addToWhitelist('/live/other');
    const b = await dial({ host: '127.0.0.1', port, streamid: '#!::r=live/other,m=publish,token=tok123' });
    t.after(() => b.destroy());
    server.removeFromWhitelist('live/ok');
    assert.equal(await rejectionOf(port, 'read:live/ok?token=tok123'), SRT_REJX.FORBIDDEN, 'removed at run time');
    a.destroy();
    b.destroy();
  } finally {
    await server.close();
  }
});

test('per-stream publish and read passphrases chosen at handshake time', async () => {
  const { server, port } = await startServer({ streams: { 'live/sec': { publishPassphrase: 'publisher-only-pw', readPassphrase: 'viewer-only-pw1' } } });
  try {
    assert.equal(await rejectionOf(port, 'publish:live/sec', { passphrase: 'viewer-only-pw1' }), SRT_REJ.BADSECRET);
    const pub = await dial({ host: '127.0.0.1', port, streamid: 'publish:live/sec', passphrase: 'publisher-only-pw' });
    await until(() => server.streamNames().includes('live/sec'));
    assert.equal(await rejectionOf(port, 'read:live/sec', { passphrase: 'publisher-only-pw' }), SRT_REJ.BADSECRET);
    assert.equal(await rejectionOf(port, 'read:live/sec'), SRT_REJ.UNSECURE);
    const player = await dial({ host: '127.0.0.1', port, streamid: 'read:live/sec', passphrase: 'viewer-only-pw1' });
    const got = collect(player);
    const msgs = makeMessages(300);
    for (const m of msgs) { pub.write(m); await sleep(1); }
    await until(() => got.length >= 300);
    assert.equal(diffMessages(msgs, got), null);
    pub.destroy();
    player.destroy();
  } finally {
    await server.close();
  }
});

test('a publisher that reconnects within the grace period keeps its players', async () => {
  const { server, port } = await startServer({ publisherGraceMs: 3000 });
  try {
    let pub = await dial({ host: '127.0.0.1', port, streamid: 'publish:live/re' });
    await until(() => server.streamNames().includes('live/re'));
    const player = await dial({ host: '127.0.0.1', port, streamid: 'live/re' });
    const got = collect(player);
    const msgs = makeMessages(600);
    for (let i = 0; i < 300; i++) { pub.write(msgs[i]!); await sleep(1); }
    pub.end();
    await until(() => server.stats()[0]?.publisher === null);
    await sleep(500); // scenario: the stream stays without a publisher for a while (within the 3 s grace period)
    pub = await dial({ host: '127.0.0.1', port, streamid: 'publish:live/re' });
    for (let i = 300; i < 600; i++) { pub.write(msgs[i]!); await sleep(1); }
    await until(() => got.length >= 600);
    assert.equal(diffMessages(msgs, got), null, 'the player saw both sessions, in order');
    assert.ok(!player.destroyed && player.closeReason === null, 'player stayed connected');
    pub.destroy();
    player.destroy();
  } finally {
    await server.close();
  }
});

test('a slow player is dropped; the publisher and the other players are undisturbed', async (t) => {
  const { server, port } = await startServer({ playerQueue: 1024, srt: { sndbuf: 64 * 1472 } }); // a queue of ~1 s at this rate: a reading player survives a stall of the loaded machine, one that never reads does not (3000 messages > 1024 + 64 + 32)
  const dropped: string[] = [];
  server.on('playerDropped', (c, reason) => dropped.push(`${c.streamId}: ${reason}`));
  try {
    const pub = await dial({ host: '127.0.0.1', port, streamid: 'publish:live/slow' });
    t.after(() => pub.destroy());
    await until(() => server.streamNames().includes('live/slow'));
    const good = await Promise.all([0, 1].map(() => dial({ host: '127.0.0.1', port, streamid: 'live/slow' })));
    const goodGot = good.map(collect);
    // the slow player never reads and has a tiny receive buffer: its window closes
    const slow = await dial({ host: '127.0.0.1', port, streamid: 'live/slow?who=slow', rcvbuf: 32 * 1472 });
    t.after(() => slow.destroy());
    slow.pause();
    const msgs = makeMessages(3000);
    for (let i = 0; i < msgs.length; i++) { pub.write(msgs[i]!); if (i % 3 === 0) await sleep(1); }
    await until(() => goodGot.every((g) => g.length >= 3000));
    for (const g of goodGot) assert.equal(diffMessages(msgs, g), null, 'good players are perfect');
    assert.equal(dropped.length, 1, `exactly the slow player was dropped: ${dropped.join('; ')}`);
    assert.match(dropped[0]!, /who=slow/);
    assert.equal(server.counters.playersDropped, 1);
    assert.equal(pub.stats().pktSndDropTotal, 0);
    pub.destroy();
    for (const g of good) g.destroy();
    slow.destroy();
  } finally {
    await server.close();
  }
});

test('HTTP auth hook: allow with a passphrase, deny with a reason, timeout falls back to the default', async (t) => {
  const seen: Record<string, unknown>[] = [];
  let delay = 0;
  const hook = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      const q = JSON.parse(body) as Record<string, unknown>;
      seen.push(q);
      setTimeout(() => {
        res.setHeader('content-type', 'application/json');
        if (q['stream'] === 'live/denied') res.end(JSON.stringify({ allow: false, reason: SRT_REJX.LOCKED }));
        else res.end(JSON.stringify({ allow: true, passphrase: q['mode'] === 'publish' ? 'hook-chosen-secret' : undefined }));
      }, delay);
    });
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', () => r()));
  const hookPort = (hook.address() as { port: number }).port;
  const { server, port } = await startServer({ authHook: { url: `http://127.0.0.1:${hookPort}/auth`, timeoutMs: 300, onFailure: 'deny' } });
  try {
    assert.equal(await rejectionOf(port, '#!::r=live/denied,m=publish,u=eve'), SRT_REJX.LOCKED, 'the hook\'s reason is sent');
    assert.equal(await rejectionOf(port, 'publish:live/hooked'), SRT_REJ.UNSECURE, 'the hook chose a passphrase');
    const pub = await dial({ host: '127.0.0.1', port, streamid: 'publish:live/hooked', passphrase: 'hook-chosen-secret' });
    t.after(() => pub.destroy());
    const q = seen.find((x) => x['stream'] === 'live/denied')!;
    assert.equal(q['mode'], 'publish');
    assert.equal(q['user'], 'eve');
    assert.equal(q['server'], 'srv1');
    assert.equal((q['peer'] as { address: string }).address, '127.0.0.1');
    delay = 1000;
    assert.equal(await rejectionOf(port, 'read:live/hooked'), SRT_REJX.GW, 'hook timeout: deny (1502)');
    pub.destroy();
  } finally {
    await server.close();
    hook.close();
  }
});

test('Flussonic-style multi-author publishing: port range + config backend (Python-dict /streams as in Flussonic\'s example)', async (t) => {
  const first = await freePort();
  const backendCalls: string[] = [];
  const backend = http.createServer((req, res) => {
    backendCalls.push(req.url ?? '');
    const u = new URL(req.url ?? '/', 'http://x');
    if (u.pathname === '/config_backend/streams') {
      // exactly what the example backend writes: str(dict), not JSON (Python puts a value with an apostrophe in double quotes)
      res.end(`{'streams': [{'name': 'author_one', 'inputs': [{'url': 'publish://'}], 'srt_publish': {'passphrase': 'securePass1'}}, {'name': 'author_two', 'inputs': [{'url': 'publish://'}], 'srt_publish': {'passphrase': "O'Brien's pass"}}]}`);
    } else if (u.pathname.startsWith('/config_backend/srt_port_resolve/')) {
      const port = Number(u.pathname.split('/').pop());
      const name = port === first ? 'author_one' : port === first + 1 ? 'author_two' : null;
      if (name && u.searchParams.get('mode') === 'publish' && u.searchParams.get('host')) res.end(name);
      else { res.statusCode = 400; res.end('Invalid port or mode.'); }
    } else { res.statusCode = 404; res.end(); }
  });
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', () => r()));
  const base = `http://127.0.0.1:${(backend.address() as { port: number }).port}/config_backend/`;
  const { server, port } = await startServer({ publishPorts: { first, last: first + 2, configBackend: base } });
  const media = testMedia();
  try {
    assert.equal(await rejectionOf(first + 1, '', { passphrase: 'securePass1' }), SRT_REJ.BADSECRET, 'each author has their own passphrase');
    const two = await dial({ host: '127.0.0.1', port: first + 1, passphrase: "O'Brien's pass" });
    t.after(() => two.destroy());
    two.destroy();
    assert.equal(await rejectionOf(first + 2, '', { passphrase: 'securePass1' }), SRT_REJX.NOTFOUND, 'unmapped port: 1404');
    const ff = spawnPeer('ffmpeg', ['-loglevel', 'error', '-re', '-i', media, '-c', 'copy', '-f', 'mpegts', `srt://127.0.0.1:${first}?passphrase=securePass1&pkt_size=1316&linger=3`]);
    t.after(() => ff.kill());
    await until(() => server.streamNames().includes('author_one'));
    assert.ok(server.streamNames().includes('author_one'), 'the port resolved to its stream');
    const player = await dial({ host: '127.0.0.1', port, streamid: 'author_one' });
    t.after(() => player.destroy());
    const got = collect(player);
    assert.equal(await ff.exited, 0, ff.output());
    const file = readFileSync(media);
    await waitFor(() => isExactSuffix(file, got), { what: 'the player gets the author\'s stream intact (an exact suffix, to the last byte)', detail: () => `${Buffer.concat(got).length} of ${file.length} bytes` });
    assert.ok(backendCalls.some((c) => c.startsWith(`/config_backend/srt_port_resolve/${first}?mode=publish&host=127.0.0.1`)), backendCalls.join(' '));
    player.destroy();
  } finally {
    await server.close();
    backend.close();
  }
});

test('sluice srt-server CLI: srt-live-transmit publishes (Callaba form) and plays, a bad stream id is logged with its code', async (t) => {
  const port = await freePort();
  const CLI = new URL('../../src/cli/main.js', import.meta.url).pathname;
  const srv = spawnPeer(process.execPath, [CLI, 'srt-server', '--addr', `127.0.0.1:${port}`, '--name', 'cli1', '--app', '/live']);
  const sink = await udpCollect();
  const udpIn = await freePort();
  try {
    const logged = (re: RegExp, what: string): Promise<void> => waitFor(() => re.test(srv.output()), { what, detail: () => srv.output().slice(-600) });
    await logged(/listening/, 'the CLI server says it is listening');
    const pub = spawnPeer('srt-live-transmit', ['-v', `udp://127.0.0.1:${udpIn}`, `srt://127.0.0.1:${port}?streamid=publisher/cli1/live/cam`]);
    t.after(() => pub.kill());
    await logged(/"topic":"connect".*"role":"publisher".*"stream":"live\/cam"/, 'the publisher is connected');
    await sltConnected(pub); // it discards its UDP input until then
    const play = spawnPeer('srt-live-transmit', ['-q', `srt://127.0.0.1:${port}?streamid=live/cam`, `udp://127.0.0.1:${sink.port}`]);
    t.after(() => play.kill());
    await logged(/"topic":"connect".*"role":"player"/, 'the player is connected');
    const msgs = makeMessages(1000);
    await udpSendPaced(udpIn, msgs, 1000);
    await sink.waitFor(1000, 10_000);
    assert.equal(diffMessages(msgs, sink.messages), null);
    assert.equal(await rejectionOf(port, 'publish:/other/x'), SRT_REJX.NOTFOUND, 'outside --app');
    await logged(/"topic":"reject".*"reason":1404/, 'the rejection is logged with its code');
    assert.match(srv.output(), /"topic":"connect".*"role":"publisher".*"stream":"live\/cam"/);
    await pub.kill();
    await play.kill();
    assert.equal(await srv.kill('SIGTERM'), 0);
  } finally {
    await srv.kill();
    sink.close();
  }
});

test('a backup publisher takes over at once when the main publisher fails', async (t) => {
  const { server, port } = await startServer({ publisherGraceMs: 10_000 });
  const events: string[] = [];
  server.on('published', (s, c) => events.push(`${s}:${c.role}`));
  try {
    const main = await dial({ host: '127.0.0.1', port, streamid: 'publish:live/bk' });
    t.after(() => main.destroy());
    await until(() => server.streamNames().includes('live/bk'));
    const backup = await dial({ host: '127.0.0.1', port, streamid: 'publish:live/bk?backup=1' });
    t.after(() => backup.destroy());
    assert.equal(await rejectionOf(port, 'publish:live/bk?backup=1'), SRT_REJX.CONFLICT, 'one backup per stream');
    const player = await dial({ host: '127.0.0.1', port, streamid: 'live/bk' });
    t.after(() => player.destroy());
    const got = collect(player);
    const tagged = (i: number, who: number): Buffer => { const b = makeMessages(1)[0]!; b.writeUInt32BE(i, 0); b[4] = who; return b; };
    for (let i = 0; i < 300; i++) { main.write(tagged(i, 1)); backup.write(tagged(i, 2)); await sleep(1); }
    await until(() => got.length >= 300);
    assert.ok(got.slice(0, 300).every((m, i) => m.readUInt32BE(0) === i && m[4] === 1), 'only the main publisher is heard while it is up');
    main.destroy(); // fails without a graceful end
    await until(() => events.includes('live/bk:backup'));
    for (let i = 300; i < 600; i++) { backup.write(tagged(i, 2)); await sleep(1); }
    await until(() => got.some((m) => m.readUInt32BE(0) === 599));
    const fromBackup = got.filter((m) => m[4] === 2);
    assert.ok(fromBackup.length >= 300, `the backup's stream reaches the player (${fromBackup.length})`);
    assert.equal(player.closeReason, null, 'the player never noticed');
    assert.deepEqual(events, ['live/bk:publisher', 'live/bk:backup']);
    backup.destroy();
    player.destroy();
  } finally {
    await server.close();
  }
});
