// The RX/TX document's routes (/v1/…) and the native /api/v1/gateways, through fastify's inject.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dial } from '../../src/transport/api.js';
import type { SrtSocket } from '../../src/transport/socket.js';
import { apiHarness } from '../support/api.js';
import { freePort, makeMessages, sleep, udpCollect, until } from '../support/peers.js';
import { fileTimeout } from '../support/file-timeout.js';

fileTimeout();

async function setup() {
  const h = await apiHarness();
  const login = async (username: string, password: string): Promise<string> => {
    const r = await h.app.inject({ method: 'POST', url: '/v1/login', payload: { username, password } });
    assert.equal(r.statusCode, 200, r.body);
    return (r.json() as { jwt: string }).jwt;
  };
  return { app: h.app, gateways: h.gateways, events: h.events, login, close: h.close };
}

type Doc = Record<string, unknown>;

// The document's examples, in their order (get_rx; get_tx list).
const RX_KEYS = ['Id', 'ServiceName', 'Mode', 'TxIp', 'ListenPort', 'UdpOut', 'Latency', 'SrtBw', 'PassPhrase', 'PbKeyLen', 'TlpktDrop', 'TTL', 'FEC',
  'FecCols', 'FecRows', 'FecLayout', 'FecArq', 'Congestion', 'TransType', 'GroupConnect', 'GroupType', 'GroupIp1', 'GroupIp2', 'Ip1Weight', 'Ip2Weight',
  'Status', 'ContainerId', 'LinkRtt', 'LinkBandwidth', 'LinkMaxBandwidth', 'RecvPackets', 'RecvPacketsUnique', 'RecvPacketsLost', 'RecvPacketsDropped',
  'RecvPacketsRetransmitted', 'RecvPacketsBelated', 'RecvPacketsFilterExtra', 'RecvPacketsFilterSupply', 'RecvPacketsFilterLoss', 'RecvBytes',
  'RecvBytesUnique', 'RecvBytesLost', 'RecvBytesDropped', 'RecvMbitRate', 'LineLoss', 'Connected', 'Reconnections'];
const TX_KEYS = ['Id', 'ServiceName', 'Mode', 'RxIp', 'ListenPort', 'UdpIn', 'Latency', 'SrtBw', 'PassPhrase', 'PbKeyLen', 'GroupConnect', 'InputBw',
  'OverHead', 'PacketFilter', 'FecCols', 'FecRows', 'FecLayout', 'FecArq', 'Congestion', 'TransType', 'Status', 'ContainerId', 'LinkRtt', 'LinkBandwidth',
  'LinkMaxBandwidth', 'SendPackets', 'SendPacketsUnique', 'SendPacketsLost', 'SendPacketsDropped', 'SendPacketsRetransmitted', 'SendPacketsFilterExtra',
  'SendBytes', 'SendBytesUnique', 'SendBytesDropped', 'SendMbitRate', 'LineLoss', 'Connected', 'Reconnections'];

/** The document's add_rx body, with a loopback caller target (nothing leaves the machine). */
async function rxExample(): Promise<Doc> {
  return {
    ServiceName: 'Test_3', Mode: 'caller', TxIp: '127.0.0.1', ListenPort: await freePort(), UdpOut: '224.10.10.149:5009', Latency: 700, SrtBw: 12000,
    PassPhrase: 'mysecretpassword', PbKeyLen: 16, TlpktDrop: 0, TTL: 24, FEC: 0, FecCols: 10, FecRows: 5, FecLayOut: 'staircase', FecArq: 'always',
    Congestion: 'live', TransType: 'live', GroupConnect: 0, GroupType: 'backup', GroupIp1: '', GroupIp2: '', Ip1Weight: 60, Ip2Weight: 40,
  };
}

/** The document's add_tx body (numbers as strings, as the document sends them). */
async function txExample(): Promise<Doc> {
  return {
    ServiceName: 'TX_2', Mode: 'listener', RxIp: '', ListenPort: String(await freePort()), UdpIn: `127.0.0.1:${await freePort()}`, Latency: '700', SrtBw: '12000',
    PassPhrase: 'mysecretpassword', PbKeyLen: 16, GroupConnect: 0, InputBw: 0, OverHead: 25, FEC: 0, FecCols: 0, FecRows: 0, FecLayOut: 'staircase',
    FecArq: 'always', Congestion: 'live', TransType: 'live',
  };
}

const HTTP_DATE = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/;

test('/v1/login answers { jwt, exp } with an HTTP date; /v1/protected names the user; bad logins and missing tokens are refused', async () => {
  const t = await setup();
  try {
    const r = await t.app.inject({ method: 'POST', url: '/v1/login', payload: { username: 'admin', password: 'admin-pass-1' } });
    assert.equal(r.statusCode, 200);
    const body = r.json() as { jwt: string; exp: string };
    assert.deepEqual(Object.keys(body), ['jwt', 'exp']);
    assert.match(body.jwt, /^[\w-]+\.[\w-]+\.[\w-]+$/);
    assert.match(body.exp, HTTP_DATE);
    const hours = (Date.parse(body.exp) - Date.now()) / 3_600_000;
    assert.ok(hours > 11.9 && hours <= 12, `expires in the token lifetime (12 h): ${hours}`);
    const p = await t.app.inject({ url: '/v1/protected', headers: { authorization: `Bearer ${body.jwt}` } });
    assert.equal(p.statusCode, 200);
    assert.deepEqual(p.json(), { 'Granted Access': 'admin' });
    assert.equal((await t.app.inject({ url: '/v1/protected' })).statusCode, 401);
    assert.equal((await t.app.inject({ url: '/v1/get_rx' })).statusCode, 401);
    const bad = await t.app.inject({ method: 'POST', url: '/v1/login', payload: { username: 'admin', password: 'wrong' } });
    assert.equal(bad.statusCode, 401);
    assert.equal((bad.json() as { code: string }).code, 'API_ERR_BAD_CREDENTIALS');
    // the token of the native login works here too, and the other way round
    const native = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username: 'view', password: 'viewer-pass-1' } });
    const vt = (native.json() as { token: string }).token;
    assert.deepEqual((await t.app.inject({ url: '/v1/protected', headers: { authorization: `Bearer ${vt}` } })).json(), { 'Granted Access': 'view' });
    assert.equal((await t.app.inject({ url: '/api/v1/gateways', headers: { authorization: `Bearer ${body.jwt}` } })).statusCode, 200);
  } finally {
    await t.close();
  }
});

test('RX: add (the document\'s body) → get/get one in the document\'s shape → update restarts → stop/start/restart → delete', async () => {
  const t = await setup();
  try {
    const auth = { authorization: `Bearer ${await t.login('admin', 'admin-pass-1')}` };
    const body = await rxExample();
    const add = await t.app.inject({ method: 'POST', url: '/v1/add_rx', headers: auth, payload: body });
    assert.equal(add.statusCode, 201, add.body);
    const rx = add.json() as Doc;
    assert.deepEqual(Object.keys(rx), RX_KEYS, 'fields and order of the document');
    assert.equal(rx['FecLayout'], 'staircase', 'FecLayOut in, FecLayout out');
    assert.deepEqual([rx['Status'], rx['Connected'], rx['Reconnections'], rx['LinkMaxBandwidth'], rx['RecvPackets'], rx['LineLoss']], [1, 2, 0, 12, 0, 0]);
    assert.match(rx['ContainerId'] as string, /^[0-9a-f]{10}$/);
    for (const k of RX_KEYS) {
      if (!['ServiceName', 'Mode', 'TxIp', 'UdpOut', 'PassPhrase', 'FecLayout', 'FecArq', 'Congestion', 'TransType', 'GroupType', 'GroupIp1', 'GroupIp2', 'ContainerId'].includes(k)) {
        assert.equal(typeof rx[k], 'number', `${k} is a number`);
      }
    }
    const id = rx['Id'] as number;
    const list = (await t.app.inject({ url: '/v1/get_rx', headers: auth })).json() as Doc[];
    assert.equal(list.length, 1);
    assert.deepEqual(Object.keys(list[0]!), RX_KEYS);
    const one = (await t.app.inject({ url: `/v1/get_rx/${id}`, headers: auth })).json() as Doc;
    assert.deepEqual({ ...one }, { ...list[0] });
    assert.equal(one['ListenPort'], body['ListenPort']);
    // update: a partial body is merged; the running gateway restarts (a new instance)
    const upd = await t.app.inject({ method: 'PUT', url: `/v1/update_rx/${id}`, headers: auth, payload: { Latency: '900', Mode: 'LISTENER' } });
    assert.equal(upd.statusCode, 200, upd.body);
    const u = upd.json() as Doc;
    assert.deepEqual([u['Latency'], u['Mode'], u['TxIp'], u['Status'], u['Connected']], [900, 'listener', '127.0.0.1', 1, 2]);
    assert.notEqual(u['ContainerId'], rx['ContainerId'], 'restarted');
    // a client may send back what GET gave it (Id, Status, statistics are ignored)
    const back = await t.app.inject({ method: 'PUT', url: `/v1/update_rx/${id}`, headers: auth, payload: { ...u, Latency: 800 } });
    assert.equal(back.statusCode, 200, back.body);
    assert.equal((back.json() as Doc)['Latency'], 800);
    const stop = (await t.app.inject({ method: 'POST', url: `/v1/stop_rx/${id}`, headers: auth })).json() as Doc;
    assert.deepEqual([stop['Status'], stop['ContainerId'], stop['Connected'], stop['LinkMaxBandwidth']], [0, '', 0, 0]);
    const start = (await t.app.inject({ method: 'POST', url: `/v1/start_rx/${id}`, headers: auth })).json() as Doc;
    assert.equal(start['Status'], 1);
    const restart = (await t.app.inject({ method: 'POST', url: `/v1/restart_rx/${id}`, headers: auth })).json() as Doc;
    assert.equal(restart['Status'], 1);
    assert.notEqual(restart['ContainerId'], start['ContainerId']);
    const del = await t.app.inject({ method: 'DELETE', url: `/v1/delete_rx/${id}`, headers: auth });
    assert.equal(del.statusCode, 200);
    assert.deepEqual(del.json(), { Id: id, Deleted: 1 });
    assert.equal((await t.app.inject({ url: `/v1/get_rx/${id}`, headers: auth })).statusCode, 404);
    const types = (await t.events.list({ type: 'gateway.' })).items.map((e) => e.type);
    for (const k of ['gateway.create', 'gateway.update', 'gateway.stop', 'gateway.start', 'gateway.restart', 'gateway.delete']) assert.ok(types.includes(k), `${k} audited`);
  } finally {
    await t.close();
  }
});

test('TX: the document\'s body with numeric strings → numbers in responses, PacketFilter for FEC; ?async=true queues; viewer may read only', async () => {
  const t = await setup();
  try {
    const auth = { authorization: `Bearer ${await t.login('admin', 'admin-pass-1')}` };
    const body = await txExample();
    const add = await t.app.inject({ method: 'POST', url: '/v1/add_tx', headers: auth, payload: body });
    assert.equal(add.statusCode, 201, add.body);
    const tx = add.json() as Doc;
    assert.deepEqual(Object.keys(tx), TX_KEYS);
    assert.deepEqual([tx['ListenPort'], tx['Latency'], tx['SrtBw'], tx['PacketFilter'], tx['FecCols'], tx['RxIp'], tx['Status'], tx['Connected']],
      [Number(body['ListenPort']), 700, 12000, 0, 0, '', 1, 2]);
    assert.equal((await t.app.inject({ url: `/v1/get_rx/${tx['Id']}`, headers: auth })).statusCode, 404, 'a TX id is not an RX');
    const q = await t.app.inject({ method: 'POST', url: `/v1/stop_tx/${tx['Id']}?async=true`, headers: auth });
    assert.equal(q.statusCode, 202);
    const task = (q.json() as { task: { id: number; kind: string } }).task;
    assert.equal(task.kind, 'gateway.stop');
    let status = '';
    for (let i = 0; i < 100 && status !== 'done'; i++) {
      status = ((await t.app.inject({ url: `/api/v1/tasks/${task.id}`, headers: auth })).json() as { status: string }).status;
      if (status !== 'done') await sleep(20);
    }
    assert.equal(status, 'done');
    assert.equal(((await t.app.inject({ url: `/v1/get_tx/${tx['Id']}`, headers: auth })).json() as Doc)['Status'], 0);
    const viewer = { authorization: `Bearer ${await t.login('view', 'viewer-pass-1')}` };
    assert.equal((await t.app.inject({ url: '/v1/get_tx', headers: viewer })).statusCode, 200);
    assert.equal((await t.app.inject({ method: 'POST', url: `/v1/start_tx/${tx['Id']}`, headers: viewer })).statusCode, 403);
    const dup = await t.app.inject({ method: 'POST', url: '/v1/add_tx', headers: auth, payload: { ...body, ListenPort: await freePort() } });
    assert.equal(dup.statusCode, 409);
    assert.match((dup.json() as { message: string }).message, /ServiceName "TX_2" is used by TX gateway/);
    const port = await t.app.inject({ method: 'POST', url: '/v1/add_tx', headers: auth, payload: { ...body, ServiceName: 'TX_3' } });
    assert.equal(port.statusCode, 409, 'the same listener port');
  } finally {
    await t.close();
  }
});

test('validation: 400 names every bad field; required fields per kind and mode; FEC fields checked with libsrt\'s rules; 422 for bonding and file mode; 404 unknown ids', async () => {
  const t = await setup();
  try {
    const auth = { authorization: `Bearer ${await t.login('admin', 'admin-pass-1')}` };
    const fields = (r: { json(): unknown }): string[] => ((r.json() as { errors: { field: string }[] }).errors.map((e) => e.field)).sort();
    const bad = await t.app.inject({
      method: 'POST', url: '/v1/add_rx', headers: auth, payload: {
        ServiceName: '', Mode: 'sideways', TxIp: 'not an ip!', ListenPort: '70000', UdpOut: 'nope', TTL: 0, Latency: -1, SrtBw: 'fast', PassPhrase: 'short',
        PbKeyLen: 20, TlpktDrop: 2, FEC: 3, FecCols: 1.5, FecRows: 'x', FecLayOut: 'zigzag', FecArq: 'sometimes', Congestion: 'cubic', TransType: 'x', GroupConnect: 5,
        GroupType: 'x', GroupIp1: 'x', GroupIp2: '1.2.3', Ip1Weight: -1, Ip2Weight: 40000, Bogus: 1, InputBw: 5,
      },
    });
    assert.equal(bad.statusCode, 400);
    assert.equal((bad.json() as { code: string }).code, 'API_ERR_VALIDATION');
    // InputBw (a TX field) is ignored on /v1; Bogus is not a field of either kind
    assert.deepEqual(fields(bad), ['Bogus', 'Congestion', 'FEC', 'FecArq', 'FecCols', 'FecLayout', 'FecRows', 'GroupConnect', 'GroupIp1', 'GroupIp2', 'GroupType',
      'Ip1Weight', 'Ip2Weight', 'Latency', 'ListenPort', 'Mode', 'PassPhrase', 'PbKeyLen', 'ServiceName', 'SrtBw', 'TTL', 'TlpktDrop', 'TransType',
      'TxIp', 'UdpOut'].sort());
    const msg = (bad.json() as { message: string }).message;
    assert.match(msg, /PassPhrase: must be empty or 10 to 79 characters/);
    assert.match(msg, /ListenPort: "70000" is not an integer from 1 to 65535/);
    assert.match(msg, /Bogus: unknown field/);
    assert.doesNotMatch(msg, /InputBw/);
    const txBad = await t.app.inject({ method: 'POST', url: '/v1/add_tx', headers: auth, payload: { ServiceName: 'x', Mode: 'caller', ListenPort: 9000, UdpIn: 'example.com:5000', OverHead: 2, UdpOut: '1.2.3.4:5' } });
    assert.equal(txBad.statusCode, 400);
    assert.deepEqual(fields(txBad), ['OverHead', 'RxIp', 'UdpIn']);
    assert.match((txBad.json() as { message: string }).message, /RxIp: is required in caller mode/);
    assert.deepEqual(fields(await t.app.inject({ method: 'POST', url: '/v1/add_tx', headers: auth, payload: {} })), ['ListenPort', 'Mode', 'ServiceName', 'UdpIn']);
    assert.deepEqual(fields(await t.app.inject({ method: 'POST', url: '/v1/add_rx', headers: auth, payload: { ServiceName: 'a', Mode: 'caller', ListenPort: 1 } })), ['TxIp', 'UdpOut']);

    const base = await rxExample();
    const unsupported: [Doc, RegExp][] = [
      [{ GroupConnect: 1 }, /GroupIp1: a bonded RX caller needs GroupIp1 and\/or GroupIp2/],
      [{ GroupConnect: 1, GroupIp1: '10.0.0.1', GroupType: 'balancing' }, /GroupType: balancing groups do not exist in libsrt 1.5/],
      [{ GroupConnect: 1, GroupIp1: '10.0.0.1', Mode: 'rendezvous' }, /GroupConnect: connection groups need caller or listener mode/],
      [{ Congestion: 'file' }, /Congestion: file mode is not supported/],
      [{ TransType: 'FILE' }, /TransType: file mode is not supported/],
    ];
    for (const [extra, re] of unsupported) {
      const r = await t.app.inject({ method: 'POST', url: '/v1/add_rx', headers: auth, payload: { ...base, ...extra } });
      assert.equal(r.statusCode, 422, `${JSON.stringify(extra)}: ${r.body}`);
      assert.equal((r.json() as { code: string }).code, 'API_ERR_UNSUPPORTED');
      assert.match((r.json() as { message: string }).message, re);
    }
    // bonding: an RX caller group over GroupIp1/GroupIp2 is accepted; its document lists the group's members (none until connected)
    const bonded = await t.app.inject({ method: 'POST', url: '/v1/add_rx', headers: auth, payload: { ...base, ServiceName: 'bonded', GroupConnect: 1, GroupType: 'broadcast', GroupIp1: '127.0.0.1', GroupIp2: '127.0.0.1' } });
    assert.equal(bonded.statusCode, 201, bonded.body);
    assert.deepEqual((bonded.json() as Doc)['GroupMembers'], []);
    assert.equal((await t.app.inject({ method: 'DELETE', url: `/v1/delete_rx/${(bonded.json() as Doc)['Id']}`, headers: auth })).statusCode, 200);
    // FEC on: the fields must make a filter libsrt accepts (the example TX document has FecCols 0)
    const txFec = await t.app.inject({ method: 'POST', url: '/v1/add_tx', headers: auth, payload: { ...(await txExample()), FEC: 1 } });
    assert.equal(txFec.statusCode, 400);
    assert.deepEqual(fields(txFec), ['FecCols']);
    assert.match((txFec.json() as { message: string }).message, /FecCols: packetfilter: cols: "0" must be at least 2/);
    const rxFec = await t.app.inject({ method: 'POST', url: '/v1/add_rx', headers: auth, payload: { ...base, ServiceName: 'fec-rows', FEC: 1, FecRows: 0 } });
    assert.deepEqual(fields(rxFec), ['FecRows']);
    // async callers get the same answers at once, nothing is queued or stored
    assert.equal((await t.app.inject({ method: 'POST', url: '/v1/add_rx?async=true', headers: auth, payload: { ...base, GroupConnect: 1 } })).statusCode, 422);
    assert.equal((await t.app.inject({ method: 'POST', url: '/v1/add_rx?async=true', headers: auth, payload: { ...base, TTL: 300 } })).statusCode, 400);
    assert.deepEqual((await t.app.inject({ url: '/v1/get_rx', headers: auth })).json(), []);

    // stored FEC fields (off) are fine; an update to FEC 1 with a bad matrix is refused and leaves the gateway as it was
    const ok = (await t.app.inject({ method: 'POST', url: '/v1/add_rx', headers: auth, payload: base })).json() as Doc;
    const refused = await t.app.inject({ method: 'PUT', url: `/v1/update_rx/${ok['Id']}`, headers: auth, payload: { FEC: 1, FecCols: 1 } });
    assert.equal(refused.statusCode, 400);
    const same = (await t.app.inject({ url: `/v1/get_rx/${ok['Id']}`, headers: auth })).json() as Doc;
    assert.deepEqual([same['FEC'], same['ContainerId']], [0, ok['ContainerId']], 'not changed, not restarted');
    assert.deepEqual(fields(await t.app.inject({ method: 'PUT', url: `/v1/update_rx/${ok['Id']}`, headers: auth, payload: { TTL: '256', Latency: 'x' } })), ['Latency', 'TTL']);

    for (const [method, url] of [['GET', '/v1/get_rx/999'], ['PUT', '/v1/update_rx/999'], ['DELETE', '/v1/delete_tx/999'], ['POST', '/v1/start_tx/999'], ['POST', '/v1/stop_rx/999'], ['POST', '/v1/restart_rx/999']] as const) {
      const r = await t.app.inject({ method, url, headers: auth, ...(method === 'PUT' ? { payload: {} } : {}) });
      assert.equal(r.statusCode, 404, `${method} ${url}`);
      assert.equal((r.json() as { code: string }).code, 'API_ERR_NOT_FOUND');
    }
    assert.equal((await t.app.inject({ url: '/v1/get_rx/abc', headers: auth })).statusCode, 400);
  } finally {
    await t.close();
  }
});

test('/v1 accepts what the original API accepted: one body shape for both directions, read-only fields, numbers as strings; wrong values still named; /api/v1 stays strict', async () => {
  const t = await setup();
  try {
    const auth = { authorization: `Bearer ${await t.login('admin', 'admin-pass-1')}` };
    const fields = (r: { json(): unknown }): string[] => ((r.json() as { errors: { field: string }[] }).errors.map((e) => e.field)).sort();
    const rxPort = await freePort();
    const txPort = await freePort();
    const udpIn = await freePort();
    // what a client sends for either direction: the RX and TX fields together, numbers as strings,
    // and the read-only fields a GET gave it
    const union = (name: string, port: number): Doc => ({
      ServiceName: name, Mode: 'listener', TxIp: '', RxIp: '', ListenPort: String(port), UdpOut: '127.0.0.1:5009', UdpIn: `127.0.0.1:${udpIn}`,
      Latency: '700', SrtBw: '12000', PassPhrase: 'mysecretpassword', PbKeyLen: '16', TlpktDrop: '0', TTL: '24', FEC: '0', PacketFilter: 0,
      FecCols: '10', FecRows: '5', FecLayOut: 'staircase', FecArq: 'always', Congestion: 'live', TransType: 'live', GroupConnect: '0', GroupType: 'backup',
      GroupIp1: '', GroupIp2: '', Ip1Weight: '60', Ip2Weight: '40', InputBw: '6000', OverHead: '30',
      Id: 77, Status: 1, ContainerId: '93f1946d9e', LinkRtt: 33.4, RecvPackets: 273412, SendPackets: 4095, LineLoss: 0, Connected: 1, Reconnections: 0,
    });
    const rxR = await t.app.inject({ method: 'POST', url: '/v1/add_rx', headers: auth, payload: union('one-shape-rx', rxPort) });
    assert.equal(rxR.statusCode, 201, rxR.body);
    const rx = rxR.json() as Doc;
    assert.deepEqual(Object.keys(rx), RX_KEYS, 'the TX fields are not stored or shown');
    assert.deepEqual([rx['ListenPort'], rx['Latency'], rx['SrtBw'], rx['PbKeyLen'], rx['TlpktDrop'], rx['TTL'], rx['FecCols'], rx['Ip1Weight'], rx['UdpOut']],
      [rxPort, 700, 12000, 16, 0, 24, 10, 60, '127.0.0.1:5009'], 'numeric strings became numbers');
    assert.notEqual(rx['Id'], 77, 'Id is not taken from the body');
    assert.notEqual(rx['ContainerId'], '93f1946d9e');
    assert.deepEqual([rx['Connected'], rx['RecvPackets']], [2, 0], 'statistics are not taken from the body');
    const txR = await t.app.inject({ method: 'POST', url: '/v1/add_tx', headers: auth, payload: union('one-shape-tx', txPort) });
    assert.equal(txR.statusCode, 201, txR.body);
    const tx = txR.json() as Doc;
    assert.deepEqual(Object.keys(tx), TX_KEYS, 'the RX fields are not stored or shown');
    assert.deepEqual([tx['ListenPort'], tx['Latency'], tx['InputBw'], tx['OverHead'], tx['PacketFilter'], tx['UdpIn'], tx['RxIp']],
      [txPort, 700, 6000, 30, 0, `127.0.0.1:${udpIn}`, '']);
    // update takes the same shape: the other direction's fields are ignored, the rest applied
    const upd = await t.app.inject({ method: 'PUT', url: `/v1/update_tx/${tx['Id']}`, headers: auth, payload: { ...tx, Latency: '900', TTL: '5', TlpktDrop: 1, UdpOut: '1.2.3.4:5' } });
    assert.equal(upd.statusCode, 200, upd.body);
    assert.deepEqual([(upd.json() as Doc)['Latency'], Object.keys(upd.json() as Doc)], [900, TX_KEYS]);
    // wrong values are still refused, every bad own field named; ignored fields are not judged
    const bad = await t.app.inject({
      method: 'POST', url: '/v1/add_rx', headers: auth,
      payload: { ...union('bad', await freePort()), Latency: 'slow', TTL: '0', ListenPort: '9001x', PbKeyLen: '20', InputBw: 'whatever', OverHead: 'x', Typo: 1 },
    });
    assert.equal(bad.statusCode, 400);
    assert.deepEqual(fields(bad), ['Latency', 'ListenPort', 'PbKeyLen', 'TTL', 'Typo']);
    assert.match((bad.json() as { message: string }).message, /Latency: "slow" is not an integer from 0 to 65535 \(ms\)/);
    // a TX body with only the RX-side UdpOut: UdpIn is missing, and the answer says why
    const onlyOut = await t.app.inject({ method: 'POST', url: '/v1/add_tx', headers: auth, payload: { ServiceName: 'x', Mode: 'listener', ListenPort: '9002', UdpOut: '1.2.3.4:5' } });
    assert.equal(onlyOut.statusCode, 400);
    assert.deepEqual(fields(onlyOut), ['UdpIn']);
    assert.match((onlyOut.json() as { message: string }).message, /UdpIn: is required \(UdpOut is the field of the other direction and is ignored here\)/);
    // the native API stays strict: a field of the other kind is an error there
    const native = await t.app.inject({ method: 'POST', url: '/api/v1/gateways', headers: auth, payload: { kind: 'rx', config: { ServiceName: 'n', Mode: 'listener', ListenPort: await freePort(), UdpOut: '127.0.0.1:5009', InputBw: 0, UdpIn: '127.0.0.1:5010' } } });
    assert.equal(native.statusCode, 400);
    assert.deepEqual((native.json() as { errors: { field: string; message: string }[] }).errors, [
      { field: 'InputBw', message: 'not a field of an RX gateway' },
      { field: 'UdpIn', message: 'not a field of an RX gateway (an RX gateway takes UdpOut)' },
    ]);
    assert.equal((await t.app.inject({ url: '/v1/get_rx', headers: auth })).json().length, 1, 'nothing stored by the refused requests');
  } finally {
    await t.close();
  }
});

test('statistics through the API: counts since the connection was established (they stay when the feed stops, restart with a new connection), the rate of the last second', async () => {
  const t = await setup();
  const sink = await udpCollect();
  const callers: SrtSocket[] = [];
  try {
    const auth = { authorization: `Bearer ${await t.login('admin', 'admin-pass-1')}` };
    const port = await freePort();
    const rx = (await t.app.inject({ method: 'POST', url: '/v1/add_rx', headers: auth, payload: { ServiceName: 'feed', Mode: 'listener', ListenPort: port, UdpOut: `127.0.0.1:${sink.port}`, SrtBw: 8000 } })).json() as Doc;
    const id = rx['Id'] as number;
    const get = async (): Promise<Doc> => (await t.app.inject({ url: `/v1/get_rx/${id}`, headers: auth })).json() as Doc;
    const send = async (caller: SrtSocket, msgs: Buffer[]): Promise<void> => {
      const start = performance.now();
      for (let i = 0; i < msgs.length; i++) {
        caller.write(msgs[i]!);
        const wait = start + i - performance.now(); // 1000 messages/s
        if (wait > 1) await sleep(wait);
      }
    };
    const caller = await dial({ host: '127.0.0.1', port });
    callers.push(caller);
    await until(() => t.gateways.runtime(id)?.connected === 1);
    const msgs = makeMessages(1800);
    let rateSeen = 0;
    let last = 0;
    let sent = false;
    const watching = (async () => {
      // counts only grow while the feed runs; remember the highest rate of a second
      while (!sent) {
        const d = await get();
        assert.ok((d['RecvPacketsUnique'] as number) >= last, `RecvPacketsUnique only grows: ${last} → ${d['RecvPacketsUnique']}`);
        last = d['RecvPacketsUnique'] as number;
        rateSeen = Math.max(rateSeen, d['RecvMbitRate'] as number);
        await sleep(100);
      }
    })();
    try {
      await send(caller, msgs);
      await sink.waitFor(msgs.length, 5000);
    } finally {
      sent = true;
      await watching;
    }
    assert.equal(sink.messages.length, msgs.length);
    assert.ok(rateSeen > 5 && rateSeen < 20, `RecvMbitRate of a busy second ~10.9 Mbit/s: ${rateSeen}`);
    const one = await get();
    assert.deepEqual([one['Connected'], one['LinkMaxBandwidth'], one['RecvPacketsUnique'], one['RecvBytesUnique'], one['RecvPacketsLost']], [1, 8, msgs.length, msgs.length * 1360, 0]);
    assert.equal(one['RecvBytes'], (one['RecvPackets'] as number) * 1360);
    const native = (await t.app.inject({ url: `/api/v1/gateways/${id}/stats`, headers: auth })).json() as { srt: Record<string, number>; fields: Doc; connected: number };
    assert.equal(native.connected, 1);
    assert.equal(native.fields['RecvPacketsUnique'], msgs.length, 'the native API shows the same totals');
    assert.ok(native.srt['pktRecvTotal']! <= msgs.length && native.srt['pktRecv']! <= native.srt['pktRecvTotal']! && 'msRTT' in native.srt, 'srt: the last interval in libsrt names');
    // the feed stops, the link stays: a second without data shows rate 0 and the same totals
    let idle = await get();
    for (let i = 0; i < 50 && idle['RecvMbitRate'] !== 0; i++) {
      await sleep(100);
      idle = await get();
    }
    assert.deepEqual([idle['Connected'], idle['RecvPacketsUnique'], idle['RecvBytesUnique']], [1, msgs.length, msgs.length * 1360]);
    caller.destroy();
    await until(() => t.gateways.runtime(id)?.connected === 2);
    const after = await get();
    assert.deepEqual([after['Connected'], after['RecvPackets'], after['RecvMbitRate'], after['Reconnections']], [2, 0, 0, 0], 'no connection: nothing counted');
    // a new connection counts from zero
    const again = await dial({ host: '127.0.0.1', port });
    callers.push(again);
    await until(() => t.gateways.runtime(id)?.connected === 1);
    sink.messages.length = 0;
    const more = makeMessages(300);
    await send(again, more);
    await sink.waitFor(more.length, 5000);
    const next = await get();
    assert.deepEqual([next['Connected'], next['Reconnections'], next['RecvPacketsUnique'], next['RecvBytesUnique']], [1, 1, more.length, more.length * 1360]);
  } finally {
    for (const c of callers) c.destroy();
    sink.close();
    await t.close();
  }
});

test('native /api/v1/gateways: create with kind + config, list by kind, PATCH merges and restarts, stats, 400/422 with fields, delete', async () => {
  const t = await setup();
  try {
    const auth = { authorization: `Bearer ${await t.login('admin', 'admin-pass-1')}` };
    const port = await freePort();
    const c = await t.app.inject({ method: 'POST', url: '/api/v1/gateways', headers: auth, payload: { kind: 'tx', config: { ServiceName: 'native', Mode: 'listener', ListenPort: port, UdpIn: `127.0.0.1:${await freePort()}` } } });
    assert.equal(c.statusCode, 201, c.body);
    const g = c.json() as { id: number; status: string; connected: number; config: Doc; instance: string };
    assert.deepEqual([g.status, g.connected, g.config['OverHead'], g.config['Latency'], g.config['PacketFilter']], ['running', 2, 25, 120, 0], 'defaults filled in');
    const off = await t.app.inject({ method: 'POST', url: '/api/v1/gateways', headers: auth, payload: { kind: 'rx', active: false, config: { ServiceName: 'idle', Mode: 'caller', TxIp: '127.0.0.1', ListenPort: 7000, UdpOut: '127.0.0.1:7001' } } });
    assert.equal((off.json() as { status: string }).status, 'stopped');
    const rxOnly = (await t.app.inject({ url: '/api/v1/gateways?kind=rx', headers: auth })).json() as { name: string }[];
    assert.deepEqual(rxOnly.map((x) => x.name), ['idle']);
    const p = await t.app.inject({ method: 'PATCH', url: `/api/v1/gateways/${g.id}`, headers: auth, payload: { config: { Latency: 250 } } });
    assert.equal(p.statusCode, 200, p.body);
    const pj = p.json() as { gateway: { config: Doc; instance: string }; restarted: boolean };
    assert.equal(pj.restarted, true);
    assert.equal(pj.gateway.config['Latency'], 250);
    assert.equal(pj.gateway.config['ServiceName'], 'native', 'merged');
    assert.notEqual(pj.gateway.instance, g.instance);
    const st = (await t.app.inject({ url: `/api/v1/gateways/${g.id}/stats`, headers: auth })).json() as { srt: unknown; fields: Doc; intervalMs: number };
    assert.deepEqual([st.srt, st.fields['SendPackets'], st.intervalMs], [null, 0, 1000]);
    const v = await t.app.inject({ method: 'PATCH', url: `/api/v1/gateways/${g.id}`, headers: auth, payload: { config: { Latency: 'slow', UdpIn: 'x' } } });
    assert.equal(v.statusCode, 400);
    assert.deepEqual((v.json() as { errors: { field: string }[] }).errors.map((e) => e.field), ['UdpIn', 'Latency']);
    // rendezvous runs (both sides on the same ListenPort): it waves to its peer, Connected 2 until the peer answers
    const rdvPort = await freePort();
    const u = await t.app.inject({ method: 'POST', url: '/api/v1/gateways', headers: auth, payload: { kind: 'rx', config: { ServiceName: 'r', Mode: 'Rendezvous', TxIp: '127.0.0.2', ListenPort: rdvPort, UdpOut: '127.0.0.1:7003' } } });
    assert.equal(u.statusCode, 201, u.body);
    const uj = u.json() as { status: string; connected: number; config: Doc };
    assert.deepEqual([uj.status, uj.connected, uj.config['Mode'], uj.config['ListenPort']], ['running', 2, 'rendezvous', rdvPort]);
    // its ListenPort is taken like a listener's
    const clash = await t.app.inject({ method: 'POST', url: '/api/v1/gateways', headers: auth, payload: { kind: 'tx', config: { ServiceName: 'clash', Mode: 'listener', ListenPort: rdvPort, UdpIn: '127.0.0.1:7004' } } });
    assert.equal(clash.statusCode, 409, clash.body);
    assert.equal((await t.app.inject({ method: 'POST', url: `/api/v1/gateways/${g.id}/stop`, headers: auth })).json().status, 'stopped');
    assert.equal((await t.app.inject({ method: 'DELETE', url: `/api/v1/gateways/${g.id}`, headers: auth })).statusCode, 204);
    assert.equal((await t.app.inject({ url: `/api/v1/gateways/${g.id}`, headers: auth })).statusCode, 404);
    const spec = (await t.app.inject({ url: '/openapi.json' })).json() as { paths: Record<string, unknown> };
    for (const path of ['/v1/login', '/v1/add_rx', '/v1/get_tx/{id}', '/api/v1/gateways', '/api/v1/gateways/{id}/stats']) assert.ok(spec.paths[path], `${path} documented`);
  } finally {
    await t.close();
  }
});
