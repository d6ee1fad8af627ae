// The control plane end to end over real sockets: `sluice serve` as a process, the REST API over
// HTTP, ffmpeg publishing, srt-live-transmit playing, statistics and events, a kick, async
// tasks, validation errors, then `kill -9` and a restart that restores everything.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { dial } from '../../src/transport/api.js';
import { freePort, requireTool, sleep, spawnPeer, tempDir, testMedia, udpCollect, waitForOutput, type Peer } from '../support/peers.js';
import { fileTimeout } from '../support/file-timeout.js';

fileTimeout();

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

async function waitFor(p: Peer, re: RegExp, ms = 10_000): Promise<void> {
  await waitForOutput(p, re, `the process prints ${re}`, ms);
}

async function poll<T>(fn: () => Promise<T>, ok: (v: T) => boolean, ms = 8000): Promise<T> {
  const end = Date.now() + ms;
  let v = await fn();
  while (!ok(v) && Date.now() < end) {
    await sleep(100);
    v = await fn();
  }
  if (!ok(v)) {
    let last: string;
    try { last = JSON.stringify(v)?.slice(0, 500) ?? String(v); } catch { last = String(v); }
    throw new Error(`poll: the condition was not met within ${ms} ms; last value: ${last}`);
  }
  return v;
}

interface Conn { id: number; role: string; peer: string; stats: Record<string, number> }
interface Stream { name: string; publisher: Conn | null; players: Conn[] }

test('sluice serve end to end: API over HTTP, ffmpeg → server → srt-live-transmit, stats, events, kick, async tasks, kill -9 and restore', async (tc) => {
  requireTool('ffmpeg');
  requireTool('srt-live-transmit');
  const dataDir = tempDir();
  const httpPort = await freePort();
  const base = `http://127.0.0.1:${httpPort}`;
  const args = [CLI, 'serve', '--data-dir', dataDir, '--http-addr', `127.0.0.1:${httpPort}`, '--srt-port', String(await freePort()), '--admin-password', 'e2e-admin-pass'];
  let serve = spawnPeer(process.execPath, args);
  const peers: Peer[] = [];
  const sink = await udpCollect();
  try {
    await waitFor(serve, /REST API on/);
    const login = async (): Promise<Record<string, string>> => {
      const r = await fetch(`${base}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: 'e2e-admin-pass' }) });
      assert.equal(r.status, 200);
      return { authorization: `Bearer ${((await r.json()) as { token: string }).token}`, 'content-type': 'application/json' };
    };
    let auth = await login();
    const api = async (method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> => {
      const r = await fetch(`${base}${path}`, { method, headers: body === undefined ? { authorization: auth.authorization! } : auth, body: body === undefined ? undefined : JSON.stringify(body) });
      const text = await r.text();
      return { status: r.status, json: text ? JSON.parse(text) : null };
    };

    // validation errors list every bad field
    const bad = await api('POST', '/api/v1/servers', { server_name: '', server_port: 0, server_latency: 'soon' });
    assert.equal(bad.status, 400);
    assert.deepEqual([...new Set((bad.json as { errors: { field: string }[] }).errors.map((e) => e.field))].sort(), ['server_latency', 'server_name', 'server_port']);

    // async create: 202 with a task, which completes
    const port = await freePort();
    const queued = await api('POST', '/api/v1/servers?async=true', { server_name: 'studio', server_port: port, server_latency: 200 });
    assert.equal(queued.status, 202);
    const task = (queued.json as { task: { id: number; kind: string; status: string } }).task;
    assert.equal(task.kind, 'server.create');
    const finished = await poll(() => api('GET', `/api/v1/tasks/${task.id}`), (r) => (r.json as { status: string }).status === 'done');
    const created = (finished.json as { result: { id: number; status: string } }).result;
    assert.equal(created.status, 'running');
    const id = created.id;

    // ffmpeg publishes, srt-live-transmit plays
    const ff = spawnPeer('ffmpeg', ['-loglevel', 'error', '-re', '-stream_loop', '-1', '-i', testMedia(), '-t', '30', '-c', 'copy', '-f', 'mpegts', `srt://127.0.0.1:${port}?streamid=publish:/live/cam&pkt_size=1316&latency=200000`]);
    peers.push(ff);
    const streamsNow = async (): Promise<Stream[]> => (await api('GET', `/api/v1/servers/${id}/streams`)).json as Stream[];
    let streams = await poll(streamsNow, (s) => s.length === 1 && s[0]!.publisher !== null);
    assert.equal(streams[0]!.name, 'live/cam');
    const slt = spawnPeer('srt-live-transmit', ['-q', `srt://127.0.0.1:${port}?streamid=read:/live/cam`, `udp://127.0.0.1:${sink.port}`]);
    peers.push(slt);
    streams = await poll(streamsNow, (s) => s[0]!.players.length === 1 && (s[0]!.players[0]!.stats['pktSentTotal'] ?? 0) > 50);
    const player = streams[0]!.players[0]!;
    assert.ok(streams[0]!.publisher!.stats['pktRecvTotal']! > 50, 'publisher statistics move');
    assert.ok(player.stats['pktSentTotal']! > 50, 'player statistics move');
    await poll(async () => sink.messages.length, (n) => n > 100);
    assert.ok(sink.messages.length > 100, `srt-live-transmit delivered ${sink.messages.length} datagrams`);
    assert.equal(sink.messages[0]![0], 0x47, 'MPEG-TS sync byte');

    // events: both connections accepted, the stream published
    const events = (await poll(() => api('GET', `/api/v1/events?target=server:${id}&limit=50`), (r) => (r.json as { items: { type: string }[] }).items.filter((e) => e.type === 'connection.accepted').length >= 2)).json as { items: { type: string; message: string }[] };
    const types = events.items.map((e) => e.type);
    assert.ok(types.filter((t) => t === 'connection.accepted').length >= 2, types.join(','));
    assert.ok(types.includes('stream.published'), types.join(','));
    assert.ok(types.includes('server.create'), 'the API change is audited');

    // kick the player: it is gone from the stream, the kick is in the log
    assert.equal((await api('DELETE', `/api/v1/servers/${id}/connections/${player.id}`)).status, 204);
    streams = await poll(streamsNow, (s) => s[0]!.players.every((p) => p.id !== player.id));
    assert.ok(streams[0]!.players.every((p) => p.id !== player.id), 'kicked player removed');
    const kicked = (await api('GET', '/api/v1/events?type=connection.kicked')).json as { total: number };
    assert.equal(kicked.total, 1);

    // an update through the API, so that there is something to restore
    const upd = await api('PATCH', `/api/v1/servers/${id}`, { server_latency: 300 });
    assert.equal(upd.status, 200);
    assert.equal((upd.json as { restarted: boolean }).restarted, true);

    // kill -9: nothing is flushed on purpose; a restart must restore the servers, users, tasks, events
    serve.proc.kill('SIGKILL');
    await serve.exited;
    serve = spawnPeer(process.execPath, args);
    await waitFor(serve, /REST API on/);
    assert.match(serve.output(), /SRT server "studio" on UDP \d+: running/);
    auth = await login();
    const after = (await api('GET', `/api/v1/servers/${id}`)).json as { status: string; server_latency: number };
    assert.equal(after.status, 'running');
    assert.equal(after.server_latency, 300);
    const tasks = (await api('GET', '/api/v1/tasks?kind=server.update')).json as { items: { status: string }[] };
    assert.equal(tasks.items[0]?.status, 'done', 'task history survives');
    const kept = (await api('GET', `/api/v1/events?type=connection.accepted&target=server:${id}`)).json as { total: number };
    assert.ok(kept.total >= 2, 'events survive');
    // the restored server takes a publisher again
    const ff2 = spawnPeer('ffmpeg', ['-loglevel', 'error', '-re', '-i', testMedia(), '-t', '3', '-c', 'copy', '-f', 'mpegts', `srt://127.0.0.1:${port}?streamid=publish:/live/again&pkt_size=1316`]);
    peers.push(ff2);
    const again = await poll(streamsNow, (s) => s.some((x) => x.name === 'live/again'));
    assert.ok(again.some((x) => x.name === 'live/again'));
    // SIGTERM: every SRT peer gets a SHUTDOWN (a Sluice player sees the peer close, not a timeout)
    const watcher = await dial({ host: '127.0.0.1', port, streamid: 'live/again' });
    tc.after(() => watcher.destroy());
    watcher.on('data', () => undefined);
    watcher.on('error', () => undefined);
    assert.equal(await serve.kill('SIGTERM'), 0, 'graceful exit on SIGTERM');
    await poll(async () => watcher.closeReason, (r) => r !== null, 3000);
    assert.equal(watcher.closeReason, 'peer', 'the player got SHUTDOWN from the server');
    watcher.destroy();
  } finally {
    sink.close();
    for (const p of peers) await p.kill('SIGKILL');
    await serve.kill('SIGKILL');
  }
});
