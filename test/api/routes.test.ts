// Routes through the REST API: validation with every bad field named, conflicts, routes that
// follow their server (stop, start, restart, removal), failures, persistence across a restart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type RecordingView, type RouteView } from '../../src/core/routes.js';
import { dial } from '../../src/transport/api.js';
import { apiHarness } from '../support/api.js';
import { freePort, makeMessages, tempDir, udpCollect } from '../support/peers.js';
import { fileTimeout } from '../support/file-timeout.js';

fileTimeout();

async function setup(dir = tempDir()) {
  const h = await apiHarness({ dir });
  const token = async (username: string, password: string): Promise<Record<string, string>> => {
    const r = await h.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username, password } });
    return { authorization: `Bearer ${(r.json() as { token: string }).token}` };
  };
  const headers = await token('admin', 'admin-pass-1');
  return { dir, db: h.db, events: h.events, servers: h.servers, routes: h.routes, app: h.app, headers, token, close: h.close };
}

interface ErrorBody { code: string; message: string; errors?: { field: string; message: string }[] }

test('validation names every bad field; conflicts are 409; viewers cannot change routes; secrets are masked', async () => {
  const t = await setup();
  try {
    const port = await freePort();
    const srv = await t.servers.create({ server_name: 'a', server_port: port });
    const post = (payload: unknown, headers = t.headers) => t.app.inject({ method: 'POST', url: `/api/v1/servers/${srv.id}/routes`, headers, payload: payload as Record<string, unknown> });
    const fields = (r: { json(): unknown }): string[] => ((r.json() as ErrorBody).errors ?? []).map((e) => e.field).sort();

    let r = await post({ kind: 'pull', name: 'p', stream: 'has space', config: { url: 'http://x:1', ttl: 3 } });
    assert.equal(r.statusCode, 400, r.body);
    assert.equal((r.json() as ErrorBody).code, 'API_ERR_VALIDATION');
    assert.deepEqual(fields(r), ['config.ttl', 'config.url', 'stream']);
    assert.match(r.body, /must be an srt:\/\/ URL/);
    r = await post({ kind: 'push', name: 'p', stream: 's', config: { url: 'srt://10.0.0.1' } });
    assert.deepEqual([r.statusCode, fields(r)], [400, ['config.url']]);
    assert.match(r.body, /has no port/);
    r = await post({ kind: 'push', name: 'p', stream: 's', config: { url: 'srt://10.0.0.1:9000?latency=99999999' } });
    assert.match(r.body, /latency/);
    r = await post({ kind: 'pull', name: 'p', stream: 's', config: { url: 'srt://10.0.0.1:9000?passphrase=0123456789ab' } });
    assert.match(r.body, /config\.passphrase, not in the URL/);
    r = await post({ kind: 'pull', name: 'p', stream: 's', config: { url: 'srt://10.0.0.1:9000', passphrase: 'short' } });
    assert.deepEqual([r.statusCode, fields(r)], [400, ['config.passphrase']]);
    // rendezvous legs: the peer's host is needed, a local adapter must be an IP address, the local port a port
    r = await post({ kind: 'pull', name: 'p', stream: 's', config: { url: 'srt://:9000?mode=rendezvous' } });
    assert.deepEqual([r.statusCode, fields(r)], [400, ['config.url']]);
    assert.match(r.body, /rendezvous mode needs the peer's host/);
    r = await post({ kind: 'push', name: 'p', stream: 's', config: { url: 'srt://10.0.0.1:9000?mode=rendezvous&adapter=eth0' } });
    assert.deepEqual([r.statusCode, fields(r)], [400, ['config.url']]);
    assert.match((r.json() as ErrorBody).errors![0]!.message, /adapter "eth0" is not a local IP address/);
    r = await post({ kind: 'push', name: 'p', stream: 's', config: { url: 'srt://10.0.0.1:9000?mode=rendezvous&port=0' } });
    assert.deepEqual([r.statusCode, fields(r)], [400, ['config.url']]);
    // packetfilter= (FEC) is checked with the URL, the error naming the filter key
    r = await post({ kind: 'pull', name: 'p', stream: 's', config: { url: 'srt://10.0.0.1:9000?packetfilter=fec,cols:1,rows:5' } });
    assert.deepEqual([r.statusCode, fields(r)], [400, ['config.url']]);
    assert.match((r.json() as ErrorBody).errors![0]!.message, /^packetfilter: cols: "1" must be at least 2/);
    r = await post({ kind: 'push', name: 'p', stream: 's', config: { url: 'srt://10.0.0.1:9000?packetfilter=fec,cols:10,arq:sometimes' } });
    assert.deepEqual([r.statusCode, fields(r)], [400, ['config.url']]);
    assert.match((r.json() as ErrorBody).errors![0]!.message, /packetfilter: arq/);
    r = await post({ kind: 'udp-out', name: 'u', stream: 's', config: { url: 'udp://239.1.1.1:5000?ttl=0' } });
    assert.deepEqual([r.statusCode, fields(r)], [400, ['config.url']]);
    r = await post({ kind: 'udp-in', name: 'u', stream: 's', config: { url: 'udp://127.0.0.1:70000' } });
    assert.deepEqual([r.statusCode, fields(r)], [400, ['config.url']]);
    r = await post({ kind: 'udp-in', name: 'u', stream: 's', config: { url: 'udp://127.0.0.1:5000', chunk: 'bytes' } });
    assert.deepEqual([r.statusCode, fields(r)], [400, ['config.chunk']]);
    for (const seg of [5, 86_401, 'x']) {
      r = await post({ kind: 'record', name: 'r', stream: 's', config: { segment_seconds: seg } });
      assert.deepEqual([r.statusCode, fields(r)], [400, ['config.segment_seconds']], `segment_seconds ${seg}`);
    }
    r = await post({ kind: 'record', name: 'r', stream: 's', config: { retain_hours: 0, max_bytes: -1 } });
    assert.deepEqual(fields(r), ['config.max_bytes', 'config.retain_hours']);
    r = await post({ kind: 'relay', name: 'r', stream: 's' });
    assert.equal(r.statusCode, 400, 'kind is checked by the schema');
    r = await post({ kind: 'record', name: '', stream: '' });
    assert.deepEqual(fields(r), ['name', 'stream']);
    assert.equal((await t.app.inject({ method: 'POST', url: '/api/v1/servers/999/routes', headers: t.headers, payload: { kind: 'record', name: 'r', stream: 's' } })).statusCode, 404);
    assert.equal((await post({ kind: 'record', name: 'r', stream: 's' }, await t.token('view', 'viewer-pass-1'))).statusCode, 403);

    // conflicts
    const rec = await post({ kind: 'record', name: 'rec', stream: '/cam', config: { retain_hours: 24 } });
    assert.equal(rec.statusCode, 201, rec.body);
    const rv = rec.json() as RouteView;
    assert.deepEqual([rv.stream, rv.config], ['cam', { segment_seconds: 600, retain_hours: 24 }], 'defaults filled in, leading "/" dropped');
    assert.equal((await post({ kind: 'record', name: 'rec', stream: 'other' })).statusCode, 409, 'same name');
    assert.equal((await post({ kind: 'record', name: 'rec2', stream: 'cam' })).statusCode, 409, 'stream recorded twice');
    assert.equal((await post({ kind: 'pull', name: 'p', stream: 's', config: { url: `srt://:${port}` } })).statusCode, 409, 'the server\'s own port');
    const udpPort = await freePort();
    assert.equal((await post({ kind: 'udp-in', name: 'in1', stream: 'x', config: { url: `udp://127.0.0.1:${udpPort}` } })).statusCode, 201);
    const c = await post({ kind: 'pull', name: 'in2', stream: 'x', config: { url: 'srt://127.0.0.1:9' } });
    assert.equal(c.statusCode, 409, 'a stream has one publishing route');
    assert.match(c.body, /already published by udp-in/);
    assert.equal((await post({ kind: 'push', name: 'out', stream: 'y', config: { url: `srt://:${udpPort}` } })).statusCode, 409, 'a port bound by another route');

    // secrets: masked in views and task history; sending the mask back keeps the passphrase
    const p = await post({ kind: 'pull', name: 'secret', stream: 'z', config: { url: 'srt://127.0.0.1:9?latency=200', passphrase: 'pull-passphrase-1' }, active: false });
    assert.equal(p.statusCode, 201, p.body);
    const pv = p.json() as RouteView;
    assert.equal(pv.config['passphrase'], '***');
    assert.equal(pv.status, 'stopped');
    const patched = await t.app.inject({ method: 'PATCH', url: `/api/v1/routes/${pv.id}`, headers: t.headers, payload: { config: { passphrase: '***', url: 'srt://127.0.0.1:10' } } });
    assert.equal(patched.statusCode, 200, patched.body);
    const row = await t.db.selectFrom('routes').select('config').where('id', '=', pv.id).executeTakeFirstOrThrow();
    assert.deepEqual(JSON.parse(row.config), { url: 'srt://127.0.0.1:10', passphrase: 'pull-passphrase-1' });
    const tasks = await t.db.selectFrom('tasks').select('params').where('kind', '=', 'route.create').execute();
    assert.ok(tasks.length > 0 && tasks.every((x) => !(x.params ?? '').includes('pull-passphrase-1')), 'no passphrase in task history');
    const badPatch = await t.app.inject({ method: 'PATCH', url: `/api/v1/routes/${pv.id}`, headers: t.headers, payload: { config: { segment_seconds: 10 } } });
    assert.deepEqual([badPatch.statusCode, fields(badPatch)], [400, ['config.segment_seconds']], 'fields of another kind');
  } finally {
    await t.close();
  }
});

test('routes follow their server: stop, start, restart on update; a port in use fails the route; removal takes routes and recordings; active routes and interrupted recordings survive a restart', async () => {
  const dir = tempDir();
  let t = await setup(dir);
  const sink = await udpCollect();
  const blocker = dgram.createSocket('udp4');
  try {
    const port = await freePort();
    const srv = await t.servers.create({ server_name: 'b', server_port: port });
    const create = async (body: Record<string, unknown>): Promise<RouteView> => {
      const r = await t.app.inject({ method: 'POST', url: `/api/v1/servers/${srv.id}/routes`, headers: t.headers, payload: body });
      assert.equal(r.statusCode, 201, r.body);
      return r.json() as RouteView;
    };
    const out = await create({ kind: 'udp-out', name: 'out', stream: 'feed', config: { url: `udp://127.0.0.1:${sink.port}` } });
    assert.deepEqual([out.status, out.active, out.server_running], ['running', true, true]);

    const send = async (n: number): Promise<void> => {
      const pub = await dial({ host: '127.0.0.1', port, streamid: 'publish:feed' });
      try {
        for (const m of makeMessages(n)) pub.write(m);
        await sink.waitFor(sink.messages.length + n, 3000);
      } finally {
        pub.destroy();
      }
    };
    await send(50);
    assert.equal(sink.messages.length, 50);

    // the server stops: its routes stop (still active) and come back with it
    await t.app.inject({ method: 'POST', url: `/api/v1/servers/${srv.id}/stop`, headers: t.headers });
    let v = await t.routes.get(out.id);
    assert.deepEqual([v.status, v.active, v.server_running], ['stopped', true, false]);
    await t.app.inject({ method: 'POST', url: `/api/v1/servers/${srv.id}/start`, headers: t.headers });
    v = await t.routes.get(out.id);
    assert.deepEqual([v.status, v.server_running], ['running', true]);
    await send(30);
    assert.equal(sink.messages.length, 80, 'carrying again after the server restarted');
    // an update restarts the server: the route moves to the new instance
    const u = await t.app.inject({ method: 'PATCH', url: `/api/v1/servers/${srv.id}`, headers: t.headers, payload: { server_latency: 200 } });
    assert.equal(u.statusCode, 200, u.body);
    await send(20);
    assert.equal(sink.messages.length, 100);

    // stop/start through the API keep `active`
    const stopped = (await t.app.inject({ method: 'POST', url: `/api/v1/routes/${out.id}/stop`, headers: t.headers })).json() as RouteView;
    assert.deepEqual([stopped.status, stopped.active], ['stopped', false]);

    // a local port someone else holds: the route fails with the reason
    const taken = await freePort();
    await new Promise<void>((resolve) => blocker.bind(taken, '127.0.0.1', () => resolve()));
    const failed = await create({ kind: 'udp-in', name: 'in', stream: 'in', config: { url: `udp://127.0.0.1:${taken}` } });
    assert.equal(failed.status, 'failed');
    assert.match(failed.error ?? '', /EADDRINUSE/);
    await t.events.flush();
    assert.ok((await t.events.list({ target: `route:${failed.id}`, type: 'route.failed' })).total === 1);

    // a recording left open by a crash
    const recFile = join(dir, 'crashed.ts');
    writeFileSync(recFile, Buffer.alloc(188 * 10, 0x47));
    await t.db.insertInto('recordings').values({ route_id: null, server_id: srv.id, stream: 'feed', path: recFile, started_at: new Date().toISOString(), ended_at: null, bytes: 0, status: 'recording' }).execute();

    // restart the whole control plane on the same store
    await t.routes.start(out.id);
    await t.close();
    t = await setup(dir);
    v = await t.routes.get(out.id);
    assert.deepEqual([v.status, v.active], ['running', true], 'an active route is running again after a restart');
    assert.equal((await t.routes.get(failed.id)).status, 'failed', 'the port is still taken');
    await send(10);
    assert.equal(sink.messages.length, 110);
    const recs = (await t.app.inject({ url: `/api/v1/recordings?server_id=${srv.id}`, headers: t.headers })).json() as RecordingView[];
    assert.deepEqual(recs.map((r) => [r.status, r.bytes, r.file_name]), [['interrupted', 1880, 'crashed.ts']]);

    // removing the server removes its routes and recordings
    const del = await t.app.inject({ method: 'DELETE', url: `/api/v1/servers/${srv.id}`, headers: t.headers });
    assert.equal(del.statusCode, 204, del.body);
    assert.deepEqual(await t.routes.list(), []);
    assert.deepEqual(await t.routes.listRecordings(), []);
    assert.equal((await t.app.inject({ url: `/api/v1/routes/${out.id}`, headers: t.headers })).statusCode, 404);
    assert.equal(existsSync(recFile), false, 'with their files');
  } finally {
    blocker.close();
    sink.close();
    await t.close();
  }
});
