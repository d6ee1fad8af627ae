// Issue 15 §5: the control plane's security findings, one test each. Secrets are masked for every
// role but admin (and in the task history for everyone), failed logins are limited per
// (address, username) with concurrent attempts counted, tokens die with their user or its
// password, the data directory is private, and the minor findings (413, "..", recording paths,
// ?token= in the log).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { chmodSync, existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PassThrough } from 'node:stream';
import { ADMIN, apiHarness, VIEWER, type Harness } from '../support/api.js';
import { buildApp } from '../../src/api/app.js';
import { LoginLimiter } from '../../src/api/routes/auth.js';
import { freePort, spawnPeer, tempDir, waitForOutput } from '../support/peers.js';
import { fileTimeout } from '../support/file-timeout.js';

fileTimeout();

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

const SECRETS = {
  server: 'server-passphrase-1',
  publish: 'publish-passphrase-1',
  read: 'read-passphrase-1',
  userPassword: 'alice-password-1',
  userPassphrase: 'alice-passphrase-1',
  token: 'gosrt-token-1',
  gateway: 'gateway-passphrase-1',
};
const SETTINGS = {
  passphrase: SECRETS.server,
  streams: { cam: { publishPassphrase: SECRETS.publish, readPassphrase: SECRETS.read } },
  users: { alice: { password: SECRETS.userPassword, passphrase: SECRETS.userPassphrase, publish: true } },
  token: SECRETS.token,
  maxConnections: 10,
};
const MASKED = {
  passphrase: '***',
  streams: { cam: { publishPassphrase: '***', readPassphrase: '***' } },
  users: { alice: { password: '***', passphrase: '***', publish: true } },
  token: '***',
  maxConnections: 10,
};

function assertNoSecret(body: string, where: string): void {
  for (const s of Object.values(SECRETS)) assert.ok(!body.includes(s), `${where} shows the secret "${s}": ${body.slice(0, 400)}`);
}

/** A server with every kind of secret and a stopped RX gateway with a passphrase; an operator "ops". */
async function setup(t: Harness): Promise<{ admin: Record<string, string>; server: number; gateway: number }> {
  const admin = await t.bearer(ADMIN.username, ADMIN.password);
  const s = await t.app.inject({ method: 'POST', url: '/api/v1/servers', headers: admin, payload: { server_name: 'secret', server_port: await freePort(), server_active: false, settings: SETTINGS } });
  assert.equal(s.statusCode, 201, s.body);
  const gw = await t.app.inject({
    method: 'POST', url: '/api/v1/gateways', headers: admin,
    payload: { kind: 'rx', active: false, config: { ServiceName: 'rx-secret', Mode: 'listener', ListenPort: await freePort(), UdpOut: '127.0.0.1:5000', PassPhrase: SECRETS.gateway } },
  });
  assert.equal(gw.statusCode, 201, gw.body);
  const ops = await t.app.inject({ method: 'POST', url: '/api/v1/users', headers: admin, payload: { username: 'ops', password: 'operator-pass-1', role: 'operator' } });
  assert.equal(ops.statusCode, 201, ops.body);
  return { admin, server: (s.json() as { id: number }).id, gateway: (gw.json() as { id: number }).id };
}

test('§5.1 secrets: viewers and operators read "***" (same shapes), admins read them; "***" sent back keeps them', async () => {
  const t = await apiHarness();
  try {
    const { admin, server, gateway } = await setup(t);
    for (const [who, headers] of [['viewer', await t.bearer(VIEWER.username, VIEWER.password)], ['operator', await t.bearer('ops', 'operator-pass-1')]] as const) {
      const get = async (url: string): Promise<unknown> => {
        const r = await t.app.inject({ method: 'GET', url, headers });
        assert.equal(r.statusCode, 200, `${url}: ${r.body}`);
        assertNoSecret(r.body, `${who} GET ${url}`);
        return r.json();
      };
      assert.deepEqual((await get(`/api/v1/servers/${server}`) as { settings: unknown }).settings, MASKED);
      assert.deepEqual((await get('/api/v1/servers') as { id: number; settings: unknown }[]).find((x) => x.id === server)?.settings, MASKED);
      assert.deepEqual((await get(`/servers/getById?id=${server}`) as { settings: unknown }).settings, MASKED);
      assert.deepEqual((await get('/servers/getAllByType') as { id: number; settings: unknown }[]).find((x) => x.id === server)?.settings, MASKED);
      assert.equal((await get('/api/v1/gateways') as { config: Record<string, unknown> }[])[0]!.config['PassPhrase'], '***');
      assert.equal((await get(`/api/v1/gateways/${gateway}`) as { config: Record<string, unknown> }).config['PassPhrase'], '***');
      assert.equal((await get('/v1/get_rx') as Record<string, unknown>[])[0]!['PassPhrase'], '***');
      assert.equal((await get(`/v1/get_rx/${gateway}`) as Record<string, unknown>)['PassPhrase'], '***');
    }
    // admins read them in clear
    const a = await t.app.inject({ method: 'GET', url: `/api/v1/servers/${server}`, headers: admin });
    assert.deepEqual((a.json() as { settings: unknown }).settings, SETTINGS);
    const ag = await t.app.inject({ method: 'GET', url: `/v1/get_rx/${gateway}`, headers: admin });
    assert.equal((ag.json() as Record<string, unknown>)['PassPhrase'], SECRETS.gateway);

    // an operator edits what it read (masked) and sends it back: the stored secrets stay, the answer is masked
    const ops = await t.bearer('ops', 'operator-pass-1');
    const patched = await t.app.inject({ method: 'PATCH', url: `/api/v1/servers/${server}`, headers: ops, payload: { settings: { ...MASKED, maxConnections: 20 } } });
    assert.equal(patched.statusCode, 200, patched.body);
    assertNoSecret(patched.body, 'the PATCH answer to an operator');
    const cb = await t.app.inject({ method: 'POST', url: '/servers/update', headers: ops, payload: { id: server, settings: { ...MASKED, maxConnections: 30 } } });
    assert.equal(cb.statusCode, 200, cb.body);
    assertNoSecret(cb.body, 'the Callaba update answer to an operator');
    const row = await t.db.selectFrom('servers').select('settings').where('id', '=', server).executeTakeFirstOrThrow();
    assert.deepEqual(JSON.parse(row.settings), { ...SETTINGS, maxConnections: 30 });
    const gu = await t.app.inject({ method: 'PUT', url: `/v1/update_rx/${gateway}`, headers: ops, payload: { PassPhrase: '***', Latency: 300 } });
    assert.equal(gu.statusCode, 200, gu.body);
    assertNoSecret(gu.body, 'the gateway update answer to an operator');
    const grow = await t.db.selectFrom('gateways').select('config').where('id', '=', gateway).executeTakeFirstOrThrow();
    assert.equal((JSON.parse(grow.config) as Record<string, unknown>)['PassPhrase'], SECRETS.gateway);
    // "***" where nothing is stored is no secret: refused
    const bad = await t.app.inject({ method: 'POST', url: '/api/v1/servers', headers: admin, payload: { server_name: 'masked', server_port: await freePort(), server_active: false, settings: { passphrase: '***' } } });
    assert.equal(bad.statusCode, 400, bad.body);
  } finally {
    await t.close();
  }
});

test('§5.1 callers\' credentials in stream ids read "***" for non-admins (connections and the audit log)', async () => {
  const t = await apiHarness();
  try {
    const ids = ['publish:live/x:alice:alice-pw-1', 'read:live/x?token=tok-secret-1', '#!::r=live/x,m=publish,u=bob,token=acl-secret-1', 'live/plain'];
    for (const id of ids) t.events.record({ type: 'connection.accepted', target: 'server:1', message: 'accepted', data: { streamId: id } });
    await t.events.flush();
    const viewer = await t.bearer(VIEWER.username, VIEWER.password);
    const r = await t.app.inject({ method: 'GET', url: '/api/v1/events?type=connection.', headers: viewer });
    for (const s of ['alice-pw-1', 'tok-secret-1', 'acl-secret-1']) assert.ok(!r.body.includes(s), `a viewer reads "${s}"`);
    const seen = (r.json() as { items: { data: { streamId: string } }[] }).items.map((e) => e.data.streamId).sort();
    assert.deepEqual(seen, ['#!::r=live/x,m=publish,u=bob,token=***', 'live/plain', 'publish:live/x:alice:***', 'read:live/x?token=***']);
    const admin = await t.bearer(ADMIN.username, ADMIN.password);
    const a = await t.app.inject({ method: 'GET', url: '/api/v1/events?type=connection.', headers: admin });
    assert.deepEqual((a.json() as { items: { data: { streamId: string } }[] }).items.map((e) => e.data.streamId).sort(), [...ids].sort());
  } finally {
    await t.close();
  }
});

test('§5.2 the task history masks secrets in result as in params, for admins too', async () => {
  const t = await apiHarness();
  try {
    const { admin } = await setup(t);
    const r = await t.app.inject({ method: 'GET', url: '/api/v1/tasks?limit=1000', headers: admin });
    assert.equal(r.statusCode, 200);
    assertNoSecret(r.body, 'GET /api/v1/tasks');
    const items = (r.json() as { items: { kind: string; result: { settings?: unknown; config?: Record<string, unknown> } | null }[] }).items;
    const created = items.find((x) => x.kind === 'server.create')!;
    assert.deepEqual(created.result!.settings, MASKED, 'the result keeps its shape');
    assert.equal(items.find((x) => x.kind === 'gateway.create')!.result!.config!['PassPhrase'], '***');
    const one = await t.app.inject({ method: 'GET', url: `/api/v1/tasks/${(created as unknown as { id: number }).id}`, headers: admin });
    assertNoSecret(one.body, 'GET /api/v1/tasks/:id');
    const none = await t.app.inject({ method: 'GET', url: '/api/v1/tasks/999999', headers: admin });
    assert.equal(none.statusCode, 404);
    assert.deepEqual(none.json(), { code: 'API_ERR_NOT_FOUND', message: 'task 999999 not found' });
    const rows = await t.db.selectFrom('tasks').select(['params', 'result']).execute();
    for (const x of rows) assertNoSecret(`${x.params ?? ''}${x.result ?? ''}`, 'the stored task');
  } finally {
    await t.close();
  }
});

const login = (t: Harness, username: string, password: string, ip: string, url = '/api/v1/auth/login') =>
  t.app.inject({ method: 'POST', url, remoteAddress: ip, payload: { username, password } });

test('§5.3 concurrent wrong logins: 5 are checked, the rest answered 429 with Retry-After', async () => {
  const t = await apiHarness();
  try {
    const answers = await Promise.all(Array.from({ length: 50 }, () => login(t, ADMIN.username, 'wrong-password', '10.1.1.1')));
    const codes = answers.map((r) => r.statusCode);
    assert.equal(codes.filter((c) => c === 401).length, 5, `codes: ${codes.join(',')}`);
    assert.equal(codes.filter((c) => c === 429).length, 45);
    const limited = answers.find((r) => r.statusCode === 429)!;
    assert.equal((limited.json() as { code: string }).code, 'API_ERR_RATE_LIMITED');
    assert.ok(Number(limited.headers['retry-after']) >= 1, 'Retry-After');
    // the budget is per (address, username): the pair stays limited on every login route
    for (const url of ['/api/v1/auth/login', '/v1/login', '/auth/login']) assert.equal((await login(t, ADMIN.username, 'wrong-password', '10.1.1.1', url)).statusCode, 429, url);
  } finally {
    await t.close();
  }
});

test('§5.4 wrong logins from an address do not lock the admin out', async () => {
  const t = await apiHarness();
  try {
    // an attacker's guesses at other accounts from the admin's own address (NAT, shared host)
    for (const user of ['root', VIEWER.username]) {
      for (let i = 0; i < 5; i++) assert.equal((await login(t, user, 'guess', '10.2.2.2')).statusCode, 401);
      assert.equal((await login(t, user, 'guess', '10.2.2.2')).statusCode, 429);
    }
    // guesses at the admin's account from elsewhere
    for (let i = 0; i < 6; i++) await login(t, ADMIN.username, 'guess', '10.9.9.9');
    assert.equal((await login(t, ADMIN.username, 'guess', '10.9.9.9')).statusCode, 429);
    // the admin logs in from its address on all three login routes
    for (const url of ['/api/v1/auth/login', '/v1/login', '/auth/login']) {
      const r = await login(t, ADMIN.username, ADMIN.password, '10.2.2.2', url);
      assert.equal(r.statusCode, 200, `${url}: ${r.body}`);
    }
    // a correct password clears the pair's failures
    for (let i = 0; i < 4; i++) assert.equal((await login(t, ADMIN.username, 'typo', '10.2.2.2')).statusCode, 401);
    assert.equal((await login(t, ADMIN.username, ADMIN.password, '10.2.2.2')).statusCode, 200);
    for (let i = 0; i < 5; i++) assert.equal((await login(t, ADMIN.username, 'typo', '10.2.2.2')).statusCode, 401);
  } finally {
    await t.close();
  }
});

test('§5.5 tokens die with their user, its password; the current role applies; unknown subjects are refused', async () => {
  const t = await apiHarness();
  try {
    const { admin, server } = await setup(t);
    const opsId = (await t.db.selectFrom('users').select('id').where('username', '=', 'ops').executeTakeFirstOrThrow()).id;
    const stop = (headers: Record<string, string>) => t.app.inject({ method: 'POST', url: `/api/v1/servers/${server}/stop`, headers });
    // a deleted user's token
    let ops = await t.bearer('ops', 'operator-pass-1');
    assert.equal((await stop(ops)).statusCode, 200);
    assert.equal((await t.app.inject({ method: 'DELETE', url: `/api/v1/users/${opsId}`, headers: admin })).statusCode, 204);
    let r = await stop(ops);
    assert.equal(r.statusCode, 401, r.body);
    assert.equal((r.json() as { code: string }).code, 'API_ERR_TOKEN_REVOKED');
    const preview = await t.app.inject({ method: 'GET', url: `/api/v1/servers/${server}/streams/preview?stream=x`, headers: ops });
    assert.equal(preview.statusCode, 401, preview.body);
    // a user re-created with the same name does not revive the old token
    assert.equal((await t.app.inject({ method: 'POST', url: '/api/v1/users', headers: admin, payload: { username: 'ops', password: 'operator-pass-1', role: 'operator' } })).statusCode, 201);
    assert.equal((await stop(ops)).statusCode, 401);
    // a token (signed with the server's key) for a subject that never existed, or without a user id
    for (const claims of [{ sub: 'nobody', role: 'admin' as const }, { sub: 'nobody', role: 'admin' as const, uid: 999 }, { sub: ADMIN.username, role: 'admin' as const }]) {
      r = await stop({ authorization: `Bearer ${t.app.jwt.sign(claims)}` });
      assert.equal(r.statusCode, 401, JSON.stringify(claims));
    }
    // a role taken away applies to the token at once
    ops = await t.bearer('ops', 'operator-pass-1');
    const newId = (await t.db.selectFrom('users').select('id').where('username', '=', 'ops').executeTakeFirstOrThrow()).id;
    assert.equal((await t.app.inject({ method: 'PATCH', url: `/api/v1/users/${newId}`, headers: admin, payload: { role: 'viewer' } })).statusCode, 200);
    assert.equal((await stop(ops)).statusCode, 403);
    const me = await t.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: ops });
    assert.deepEqual(me.json(), { username: 'ops', role: 'viewer' });
    // a password set by an admin revokes the user's tokens
    assert.equal((await t.app.inject({ method: 'PATCH', url: `/api/v1/users/${newId}`, headers: admin, payload: { password: 'operator-pass-2' } })).statusCode, 200);
    assert.equal((await t.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: ops })).statusCode, 401);
    // a user's own password change revokes its tokens too; the new password logs in
    ops = await t.bearer('ops', 'operator-pass-2');
    const other = await t.bearer('ops', 'operator-pass-2');
    assert.equal((await t.app.inject({ method: 'POST', url: '/api/v1/auth/password', headers: ops, payload: { current_password: 'operator-pass-2', new_password: 'operator-pass-3' } })).statusCode, 204);
    assert.equal((await t.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: other })).statusCode, 401);
    const fresh = await t.bearer('ops', 'operator-pass-3');
    assert.equal((await t.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: fresh })).statusCode, 200);
  } finally {
    await t.close();
  }
});

const mode = (p: string): number => statSync(p).mode & 0o777;

async function startServe(dataDir: string): Promise<{ kill(): Promise<unknown> }> {
  const serve = spawnPeer(process.execPath, [CLI, 'serve', '--data-dir', dataDir, '--http-addr', `127.0.0.1:${await freePort()}`, '--srt-port', String(await freePort()), '--admin-password', 'files-admin-pass', '--log-level', 'silent']);
  await waitForOutput(serve, /REST API on/, 'sluice serve starts its REST API', 15_000);
  return { kill: () => serve.kill('SIGTERM') };
}

test('§5.6 sluice serve keeps its data private: directory 0700, database, WAL and recordings 0600', async () => {
  // a fresh data directory
  const fresh = join(tempDir(), 'data');
  let serve = await startServe(fresh);
  try {
    assert.equal(mode(fresh), 0o700, 'data directory');
    for (const f of ['sluice.db', 'sluice.db-wal', 'sluice.db-shm']) if (existsSync(join(fresh, f))) assert.equal(mode(join(fresh, f)), 0o600, f);
    assert.ok(existsSync(join(fresh, 'sluice.db-wal')), 'the WAL exists while serving');
  } finally {
    await serve.kill();
  }
  // one an older version left readable by everyone
  const old = join(tempDir(), 'data');
  mkdirSync(join(old, 'recordings', '1', 'live'), { recursive: true });
  writeFileSync(join(old, 'recordings', '1', 'live', 'a.ts'), 'x');
  chmodSync(join(old, 'recordings', '1', 'live', 'a.ts'), 0o644);
  for (const d of [old, join(old, 'recordings'), join(old, 'recordings', '1'), join(old, 'recordings', '1', 'live')]) chmodSync(d, 0o755);
  serve = await startServe(old);
  await serve.kill();
  chmodSync(join(old, 'sluice.db'), 0o644);
  chmodSync(old, 0o755);
  serve = await startServe(old);
  try {
    assert.equal(mode(old), 0o700);
    assert.equal(mode(join(old, 'sluice.db')), 0o600);
    assert.equal(mode(join(old, 'recordings', '1', 'live')), 0o700);
    assert.equal(mode(join(old, 'recordings', '1', 'live', 'a.ts')), 0o600);
  } finally {
    await serve.kill();
  }
});

function rawGet(port: number, path: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('§5.7a a body over the limit is 413 API_ERR_TOO_LARGE', async () => {
  const t = await apiHarness();
  try {
    const admin = await t.bearer(ADMIN.username, ADMIN.password);
    const big = await t.app.inject({ method: 'POST', url: '/api/v1/servers', headers: { ...admin, 'content-type': 'application/json' }, payload: `{"server_name":"${'x'.repeat(10 * 1024 * 1024)}"}` });
    assert.equal(big.statusCode, 413, big.body);
    assert.equal((big.json() as { code: string }).code, 'API_ERR_TOO_LARGE');
  } finally {
    await t.close();
  }
});

test('§5.7b a path with ".." segments (sent as is or encoded) is 400 API_ERR_BAD_PATH', async () => {
  const t = await apiHarness();
  try {
    const admin = await t.bearer(ADMIN.username, ADMIN.password);
    await t.app.listen({ host: '127.0.0.1', port: 0 });
    const addr = t.app.server.address();
    const port = typeof addr === 'object' && addr ? addr.port : 0;
    for (const path of ['/api/v1/recordings/../../etc/passwd', '/../../etc/passwd', '/assets/%2e%2e/%2e%2e/etc/passwd']) {
      const r = await rawGet(port, path, admin);
      assert.equal(r.status, 400, `${path}: ${r.body}`);
      assert.equal((JSON.parse(r.body) as { code: string }).code, 'API_ERR_BAD_PATH');
    }
    assert.equal((await rawGet(port, '/api/v1/recordings', admin)).status, 200, 'other paths are served');
  } finally {
    await t.close();
  }
});

test('§5.7c recordings show viewers their path relative to the recordings folder; admins the server path', async () => {
  const t = await apiHarness();
  try {
    const admin = await t.bearer(ADMIN.username, ADMIN.password);
    const viewer = await t.bearer(VIEWER.username, VIEWER.password);
    const server = await t.app.inject({ method: 'POST', url: '/api/v1/servers', headers: admin, payload: { server_name: 'rec', server_port: await freePort(), server_active: false } });
    const sid = (server.json() as { id: number }).id;
    const abs = join(t.dir, 'recordings', String(sid), 'live', '2024-01-01T00-00-00.000Z.ts');
    await t.db.insertInto('recordings').values({ route_id: null, server_id: sid, stream: 'live', path: abs, started_at: '2024-01-01T00:00:00.000Z', ended_at: null, bytes: 0, status: 'complete' }).execute();
    const seen = await t.app.inject({ method: 'GET', url: '/api/v1/recordings', headers: viewer });
    assert.equal((seen.json() as { path: string }[])[0]!.path, `${sid}/live/2024-01-01T00-00-00.000Z.ts`);
    assert.ok(!seen.body.includes(t.dir), 'no server path for a viewer');
    const seenAdmin = await t.app.inject({ method: 'GET', url: '/api/v1/recordings', headers: admin });
    assert.equal((seenAdmin.json() as { path: string }[])[0]!.path, abs);
  } finally {
    await t.close();
  }
});

test('§5.7d a preview ?token= is masked in the request log', async () => {
  const t = await apiHarness();
  const lines: string[] = [];
  const stream = new PassThrough();
  stream.on('data', (d: Buffer) => lines.push(d.toString()));
  const app = await buildApp({ ...t.ctx, logger: { level: 'info', stream } });
  try {
    const token = await t.login(VIEWER.username, VIEWER.password);
    const r = await app.inject({ method: 'GET', url: `/api/v1/servers/1/streams/preview?stream=live&token=${token}` });
    assert.equal(r.statusCode, 404, r.body);
    const log = lines.join('');
    assert.match(log, /preview\?stream=live&token=\*\*\*/, 'the request is logged, its token masked');
    assert.ok(!log.includes(token), 'the token is not in the log');
  } finally {
    await app.close();
    await t.close();
  }
});

test('§5.4 a correct password competes for one attempt every 12 s while someone keeps guessing from the same address; ≤ 5 failures a minute', () => {
  const l = new LoginLimiter();
  let now = 1_000_000;
  let failures = 0;
  let ownerIn: number | null = null;
  const attacker = (): void => {
    const a = l.reserve('10.3.3.3', 'admin', now);
    if (typeof a === 'function') { failures++; a(false); } else assert.ok(a.retryAfter >= 1 && a.retryAfter <= 12, `Retry-After ${a.retryAfter}`);
  };
  const owner = (): void => {
    const o = l.reserve('10.3.3.3', 'admin', now);
    if (typeof o === 'function') { o(true); ownerIn = s; }
  };
  // an attacker tries once a second for 10 minutes from the admin's own address; from t = 30 s the
  // admin, locked out at first, tries its correct password once a second too (who goes first: a seeded coin)
  let s = 0;
  let seed = 12345;
  for (; s < 600; s++, now += 1000) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    if (s < 30 || ownerIn !== null) attacker();
    else if ((seed >> 16) & 1) { owner(); attacker(); } else { attacker(); owner(); }
  }
  assert.ok(ownerIn !== null && ownerIn - 30 <= 60, `the owner got in ${ownerIn === null ? 'never' : `after ${ownerIn - 30} s`}`);
  // 600 s: a burst of 5, then one per 12 s; the owner's login cleared the pair once (a second burst)
  assert.ok(failures <= 2 * 5 + 600 / 12, `attacker failures in 10 min: ${failures}`);
  assert.ok(failures >= 50, `the limiter is not stricter than documented: ${failures}`);
});
