// The store and the services over it, against both backends: embedded SQLite and a real
// PostgreSQL started by the test (test/support/postgres.ts).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { openStore, type Store } from '../../src/store/db.js';
import { ServerManager, ConflictError } from '../../src/core/servers.js';
import { TaskQueue } from '../../src/core/tasks.js';
import { EventLog } from '../../src/core/events.js';
import { dial } from '../../src/transport/api.js';
import { freePort, tempDir, until } from '../support/peers.js';
import { within } from '../support/wait.js';
import { startPostgres, type Postgres } from '../support/postgres.js';
import { fileTimeout } from '../support/file-timeout.js';

fileTimeout();

let pgServer: Postgres | null = null;
before(async () => { pgServer = await startPostgres(); });
after(async () => { await pgServer?.stop(); });

const backends: { name: string; target: () => Promise<string> }[] = [
  { name: 'sqlite', target: async () => join(tempDir(), 'sluice.db') },
  { name: 'postgres', target: async () => pgServer!.createDatabase() },
];

for (const b of backends) {
  describe(`store on ${b.name}`, () => {
    test('migrations are versioned and idempotent; reopening keeps the data', async () => {
      const target = await b.target();
      let s: Store = await openStore(target);
      assert.equal(s.dialect, b.name);
      await s.db.insertInto('users').values({ username: 'ann', password_hash: 'x', role: 'admin', created_at: new Date().toISOString() }).execute();
      await s.db.destroy();
      s = await openStore(target);
      const applied = await s.db.selectFrom('kysely_migration' as never).select('name' as never).execute() as unknown as { name: string }[];
      assert.deepEqual(applied.map((r) => r.name).sort(), ['0001_initial', '0002_tasks_events_gateways', '0003_routes', '0004_token_version', '0005_nodes']);
      assert.equal((await s.db.selectFrom('users').selectAll().execute()).length, 1);
      // 0004: a user's token version starts at 0 and counts up in SQL (a password change revokes tokens)
      assert.equal(Number((await s.db.selectFrom('users').select('token_version').executeTakeFirstOrThrow()).token_version), 0);
      await s.db.updateTable('users').set((eb) => ({ token_version: eb('token_version', '+', 1) })).where('username', '=', 'ann').execute();
      assert.equal(Number((await s.db.selectFrom('users').select('token_version').executeTakeFirstOrThrow()).token_version), 1);
      await assert.rejects(s.db.insertInto('users').values({ username: 'ann', password_hash: 'y', role: 'viewer', created_at: '' }).execute(), 'usernames are unique');
      const now = new Date().toISOString();
      await s.db.insertInto('gateways').values({ kind: 'rx', name: 'a', config: '{}', active: 0, created_at: now, updated_at: now }).execute();
      await s.db.insertInto('gateways').values({ kind: 'tx', name: 'a', config: '{}', active: 0, created_at: now, updated_at: now }).execute();
      await assert.rejects(s.db.insertInto('gateways').values({ kind: 'rx', name: 'a', config: '{}', active: 0, created_at: now, updated_at: now }).execute(), 'one name per kind');
      const route = { server_id: 1, kind: 'record' as const, name: 'r', stream: 'cam', config: '{}', active: 1, created_at: now, updated_at: now };
      await s.db.insertInto('routes').values(route).execute();
      await s.db.insertInto('routes').values({ ...route, server_id: 2 }).execute();
      await assert.rejects(s.db.insertInto('routes').values(route).execute(), 'one route name per server');
      const rec = { route_id: null, server_id: 1, stream: 'cam', path: '/r/1.ts', started_at: now, ended_at: null, bytes: 5_000_000_000, status: 'recording' as const };
      await s.db.insertInto('recordings').values(rec).execute();
      assert.equal((await s.db.selectFrom('recordings').select('bytes').executeTakeFirstOrThrow()).bytes, 5_000_000_000, 'recording sizes beyond 2^32 come back as numbers');
      await assert.rejects(s.db.insertInto('recordings').values(rec).execute(), 'one row per file');
      await s.db.destroy();
    });

    test('servers: create, conflicts, update, large values, active ones come back after a reopen', async (t) => {
      const target = await b.target();
      const s = await openStore(target);
      const events = new EventLog(s.db);
      const m = new ServerManager(s.db, events);
      const port = await freePort();
      try {
        const a = await m.create({ server_name: 'alpha', server_port: port, server_rcvbuf: 2147483647, server_maxbw: 1_250_000_000, settings: { passphrase: 'alpha-passphrase' } });
        assert.equal(a.status, 'running');
        assert.equal(a.server_rcvbuf, 2147483647, 'bigint column comes back as a number');
        assert.equal(typeof a.server_maxbw, 'number');
        assert.equal(a.server_name_code, 'alpha');
        await assert.rejects(m.create({ server_name: 'alpha', server_port: port + 1 }), ConflictError);
        await assert.rejects(m.create({ server_name: 'beta', server_port: port }), ConflictError);
        const b2 = await m.create({ server_name: 'Beta Studio', server_port: await freePort(), server_active: false });
        assert.equal(b2.status, 'stopped');
        assert.equal(b2.server_name_code, 'beta-studio');
        const sock = await dial({ host: '127.0.0.1', port, streamid: 'publish:cam', passphrase: 'alpha-passphrase' });
        t.after(() => sock.destroy());
        await until(() => m.runtime(a.id)!.streamNames().length === 1);
        const u = await m.update(a.id, { server_latency: 250 });
        assert.equal(u.restarted, true);
        assert.equal(u.server.server_latency, 250);
        sock.destroy();
        await m.closeAll();
        await events.flush();
        const types = (await events.list({ target: `server:${a.id}` })).items.map((e) => e.type);
        assert.ok(types.includes('connection.accepted') && types.includes('stream.published'), `events: ${types.join(',')}`);
      } finally {
        await m.closeAll();
        await s.db.destroy();
      }
      const again = await openStore(target);
      const m2 = new ServerManager(again.db);
      try {
        await m2.startActive();
        const list = await m2.list();
        assert.deepEqual(list.map((x) => [x.server_name, x.status, x.server_latency]), [['alpha', 'running', 250], ['Beta Studio', 'stopped', 120]]);
      } finally {
        await m2.closeAll();
        await again.db.destroy();
      }
    });

    test('task queue: serialized per resource, parallel across resources, failures kept with their code, crash recovery', async () => {
      const s = await openStore(await b.target());
      const q = new TaskQueue(s.db);
      try {
        const order: string[] = [];
        // a (res:1) cannot finish before c (res:2) has started: only parallel resources let it finish
        let cStarted!: () => void;
        const cGate = new Promise<void>((r) => { cStarted = r; });
        const step = (name: string, gate?: Promise<void>) => async () => {
          order.push(`${name}+`);
          if (name === 'c') cStarted();
          if (gate) await within(gate, { what: 'a task on another resource starts while res:1 is busy' });
          order.push(`${name}-`);
          return { name };
        };
        const t1 = await q.submit('x.a', 'res:1', step('a', cGate));
        const t2 = await q.submit('x.b', 'res:1', step('b'));
        const t3 = await q.submit('x.c', 'res:2', step('c'));
        assert.equal(t2.task.status, 'queued');
        await Promise.all([t1.done, t2.done, t3.done]);
        assert.ok(order.indexOf('a-') < order.indexOf('b+'), `same resource in order: ${order.join(' ')}`);
        assert.ok(order.indexOf('c+') < order.indexOf('a-'), `other resource in parallel: ${order.join(' ')}`);
        const done = await q.get(t2.task.id);
        assert.equal(done.status, 'done');
        assert.deepEqual(done.result, { name: 'b' });
        assert.ok(done.started_at && done.finished_at);
        const bad = await q.submit('x.fail', 'res:1', async () => { throw Object.assign(new Error('port 9 is taken'), { code: 'API_ERR_CONFLICT' }); });
        await assert.rejects(bad.done, /port 9 is taken/);
        const failed = await q.get(bad.task.id);
        assert.equal(failed.status, 'failed');
        assert.deepEqual(failed.error, { code: 'API_ERR_CONFLICT', message: 'port 9 is taken' });
        const page = await q.list({ target: 'res:1', limit: 2 });
        assert.equal(page.total, 3);
        assert.equal(page.items.length, 2);
        assert.equal(page.items[0]!.kind, 'x.fail', 'newest first');
        assert.equal((await q.list({ status: 'failed' })).total, 1);
        // a task left "running" by a crash
        await s.db.insertInto('tasks').values({ kind: 'x.crash', target: 'res:3', status: 'running', actor: null, params: null, result: null, error: null, created_at: new Date().toISOString(), started_at: null, finished_at: null }).execute();
        assert.equal(await q.recover(), 1);
        const crashed = (await q.list({ kind: 'x.crash' })).items[0]!;
        assert.equal(crashed.status, 'failed');
        assert.equal(crashed.error?.code, 'API_ERR_INTERRUPTED');
      } finally {
        await q.drain();
        await s.db.destroy();
      }
    });

    test('event log: filters by type prefix, level, target and text; newest first; pagination; pruning', async () => {
      const s = await openStore(await b.target());
      const ev = new EventLog(s.db, 5);
      try {
        ev.record({ type: 'auth.login', actor: 'ann', message: 'ann logged in' });
        ev.record({ type: 'connection.accepted', target: 'server:1', message: 'publisher 127.0.0.1:5000 accepted', data: { peer: '127.0.0.1:5000' } });
        ev.record({ type: 'connection.rejected', level: 'warn', target: 'server:1', message: '127.0.0.1:5001 rejected (1403): wrong passphrase', data: { reason: 1403 } });
        ev.record({ type: 'connection.accepted', target: 'server:2', message: 'player 127.0.0.1:5002 accepted' });
        const conn = await ev.list({ type: 'connection.' });
        assert.equal(conn.total, 3);
        assert.equal(conn.items[0]!.message, 'player 127.0.0.1:5002 accepted', 'newest first');
        assert.equal((await ev.list({ type: 'connection.accepted', target: 'server:1' })).total, 1);
        const warn = await ev.list({ level: 'warn' });
        assert.equal(warn.total, 1);
        assert.deepEqual(warn.items[0]!.data, { reason: 1403 });
        assert.equal((await ev.list({ q: 'passphrase' })).total, 1);
        assert.equal((await ev.list({ actor: 'ann' })).items[0]!.type, 'auth.login');
        const p2 = await ev.list({ limit: 2, offset: 2 });
        assert.equal(p2.items.length, 2);
        assert.equal(p2.total, 4);
        assert.equal((await ev.list({ since: new Date(Date.now() + 60_000).toISOString() })).total, 0);
        for (let i = 0; i < 10; i++) ev.record({ type: 'stream.published', message: `s${i}` });
        await ev.prune();
        assert.equal((await ev.list()).total, 5, 'keeps the newest 5');
      } finally {
        await ev.flush();
        await s.db.destroy();
      }
    });
  });
}

test('a PostgreSQL URL that cannot be reached gives a clear error', async () => {
  const port = await freePort();
  await assert.rejects(openStore(`postgres://nobody@127.0.0.1:${port}/nothing`), /cannot connect to PostgreSQL at 127\.0\.0\.1:\d+\/nothing/);
});
