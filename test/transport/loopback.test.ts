// The transport layer end to end on loopback: Sluice <-> Sluice.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { dial, listen } from '../../src/transport/api.js';
import type { SrtSocket } from '../../src/transport/socket.js';
import { SRT_REJX } from '../../src/protocol/reject.js';
import { SrtRejectedError } from '../../src/transport/errors.js';
import { diffMessages, makeMessages, sleep, until } from '../support/peers.js';
import { fileTimeout } from '../support/file-timeout.js';

fileTimeout();

async function pump(s: SrtSocket, msgs: Buffer[], perMs = 2): Promise<void> {
  for (let i = 0; i < msgs.length; i++) {
    if (!s.write(msgs[i]!)) await new Promise((r) => s.once('drain', r));
    if (i % perMs === perMs - 1) await sleep(1);
  }
}

function collect(s: SrtSocket): Buffer[] {
  const got: Buffer[] = [];
  s.on('data', (d: Buffer) => got.push(d));
  return got;
}

/** What the listener sends back on a connection: 200 messages, each starting with the stream id. */
function greeting(streamId: string): Buffer[] {
  return makeMessages(200).map((m) => Buffer.concat([Buffer.from(streamId), m.subarray(streamId.length)]));
}

test('many callers on one listener port, each stream separate and exact (both directions)', async (t) => {
  const srv = await listen({ host: '127.0.0.1', port: 0 });
  t.after(() => srv.close());
  const port = srv.address().port;
  const serverSide = new Map<string, Buffer[]>();
  srv.on('connection', (s) => {
    serverSide.set(s.streamId, collect(s));
    // echo a greeting back on every connection (listener -> caller direction)
    void pump(s, greeting(s.streamId));
  });
  const callers = await Promise.all([0, 1, 2, 3, 4, 5, 6, 7].map((i) => dial({ host: '127.0.0.1', port, streamid: `stream-${i}` })));
  t.after(() => { for (const c of callers) c.destroy(); });
  const received = callers.map(collect);
  const sent = callers.map((_, i) => makeMessages(300).map((m) => { const b = Buffer.from(m); b[5] = i; return b; }));
  await Promise.all(callers.map((c, i) => pump(c, sent[i]!)));
  await until(() => [...serverSide.values()].every((g) => g.length >= 300) && received.every((r) => r.length >= 200));
  assert.equal(srv.connectionCount, 8);
  for (let i = 0; i < 8; i++) {
    assert.equal(diffMessages(sent[i]!, serverSide.get(`stream-${i}`) ?? []), null, `stream-${i} caller->listener`);
    assert.equal(diffMessages(greeting(`stream-${i}`), received[i]!), null, `stream-${i} listener->caller, byte-exact (no cross-talk)`);
  }
});

test('IPv6 loopback', async (t) => {
  const srv = await listen({ host: '::1', port: 0 });
  t.after(() => srv.close());
  let got: Buffer[] = [];
  srv.on('connection', (s) => { got = collect(s); });
  const c = await dial(`srt://[::1]:${srv.address().port}?streamid=v6&mss=1400&payloadsize=1316`);
  t.after(() => c.destroy());
  const msgs = makeMessages(300);
  await pump(c, msgs);
  await until(() => got.length >= 300);
  assert.equal(diffMessages(msgs, got), null);
  assert.equal(c.remoteAddress, '::1');
});

test('garbage, truncated packets and wrong socket ids are dropped and counted; other connections keep flowing', async (t) => {
  const srv = await listen({ host: '127.0.0.1', port: 0 });
  t.after(() => srv.close());
  const port = srv.address().port;
  let got: Buffer[] = [];
  const holder: { s: SrtSocket | null } = { s: null };
  srv.on('connection', (s) => { holder.s = s; got = collect(s); });
  const c = await dial({ host: '127.0.0.1', port });
  t.after(() => c.destroy());
  const attacker = dgram.createSocket('udp4');
  t.after(() => { stop.v = true; attacker.close(); });
  await new Promise<void>((r) => attacker.bind(0, '127.0.0.1', () => r()));
  const stop = { v: false };
  const noise = (async () => {
    let i = 0;
    while (!stop.v) {
      const kind = i++ % 5;
      let d: Buffer;
      if (kind === 0) d = randomBytes(1 + (i % 1500));
      else if (kind === 1) d = randomBytes(i % 16); // truncated header
      else if (kind === 2) { d = randomBytes(64); d[0] = 0x80; d[1] = 0x00; d.writeUInt32BE(0, 12); } // bogus handshake to the listener
      else if (kind === 3) { d = randomBytes(200); d[0] = 0x00; d.writeUInt32BE(holder.s ? holder.s.socketId : 1, 12); } // data with the right id, from the wrong address
      else { d = randomBytes(40); d[0] = 0x80; d[1] = 0x02; d.writeUInt32BE(12345, 12); } // ACK to an unknown socket
      attacker.send(d, port, '127.0.0.1');
      if (i % 20 === 0) await sleep(1);
    }
  })();
  const msgs = makeMessages(1000);
  await pump(c, msgs);
  await until(() => got.length >= 1000);
  stop.v = true;
  await noise;
  assert.equal(diffMessages(msgs, got), null);
  const k = srv.counters;
  assert.ok(k.datagramsInvalid + k.datagramsUnknownDestination > 100, `noise was counted: ${JSON.stringify(k)}`);
  assert.ok(holder.s!.stats().pktRecvInvalidTotal > 0, 'packets for the connection from a foreign address were counted on it');
});

test('the accept hook sees the request before any answer, and may reject with any reason', async (t) => {
  const seen: { sid: string; lat: number; enc: boolean }[] = [];
  const srv = await listen({
    host: '127.0.0.1', port: 0,
    accept: async (req) => {
      seen.push({ sid: req.streamId, lat: req.requestedLatency.rcv, enc: req.encrypted });
      await sleep(50); // async decisions are allowed
      if (req.streamId === 'deny') return { reject: SRT_REJX.NOTFOUND };
      return { options: { rcvlatency: 250 } };
    },
  });
  t.after(() => srv.close());
  const port = srv.address().port;
  await assert.rejects(dial({ host: '127.0.0.1', port, streamid: 'deny', latency: 80 }), (e: SrtRejectedError) => e.reason === SRT_REJX.NOTFOUND);
  const ok = await dial({ host: '127.0.0.1', port, streamid: 'allow', latency: 80 });
  t.after(() => ok.destroy());
  assert.deepEqual(seen, [{ sid: 'deny', lat: 80, enc: false }, { sid: 'allow', lat: 80, enc: false }]);
  assert.equal(ok.negotiated.sndLatency, 250, 'the per-connection option chosen by the hook was negotiated');
  assert.equal(srv.connectionCount, 1);
});

test('peer close ends the reader after everything buffered; writer backpressure honoured', async (t) => {
  const srv = await listen({ host: '127.0.0.1', port: 0, latency: 300 });
  t.after(() => srv.close());
  const ended = new Promise<Buffer[]>((resolve) => {
    srv.on('connection', (s) => {
      const got = collect(s);
      s.on('end', () => resolve(got));
    });
  });
  const c = await dial({ host: '127.0.0.1', port: srv.address().port, sndbuf: 64 * 1472 });
  t.after(() => c.destroy());
  const msgs = makeMessages(3000);
  let sawBackpressure = false;
  for (const m of msgs) {
    if (!c.write(m)) {
      sawBackpressure = true;
      await new Promise((r) => c.once('drain', r));
    }
  }
  c.end();
  const got = await ended;
  assert.ok(sawBackpressure, 'a 64-packet send buffer pushed back');
  assert.equal(diffMessages(msgs, got), null);
});

test('dial to a port where nobody listens fails with SRT_REJ_TIMEOUT (when: test/sim/handshake.test.ts, in virtual time)', async () => {
  await assert.rejects(dial({ host: '127.0.0.1', port: 9, conntimeo: 600 }), (e: SrtRejectedError) => e.code === 'SRT_ECONNREJ' && e.reason === 16);
});

test('listening twice on the same port fails with a clear error', async (t) => {
  const a = await listen({ host: '127.0.0.1', port: 0 });
  t.after(() => a.close());
  await assert.rejects(listen({ host: '127.0.0.1', port: a.address().port }), /cannot listen on 127\.0\.0\.1:\d+: .*EADDRINUSE/);
});

test('the accept hook chooses the passphrase per stream id; each caller needs its own', async (t) => {
  const secrets: Record<string, string> = { 'cam-1': 'first-camera-secret', 'cam-2': 'second-camera-secret' };
  const srv = await listen({
    host: '127.0.0.1', port: 0,
    accept: (req) => (secrets[req.streamId] ? { options: { passphrase: secrets[req.streamId]! } } : { reject: SRT_REJX.NOTFOUND }),
  });
  t.after(() => srv.close());
  const port = srv.address().port;
  const got = new Map<string, Buffer[]>();
  srv.on('connection', (s) => got.set(s.streamId, collect(s)));
  const c1 = await dial({ host: '127.0.0.1', port, streamid: 'cam-1', passphrase: 'first-camera-secret', pbkeylen: 32 });
  t.after(() => c1.destroy());
  const c2 = await dial({ host: '127.0.0.1', port, streamid: 'cam-2', passphrase: 'second-camera-secret' });
  t.after(() => c2.destroy());
  await assert.rejects(dial({ host: '127.0.0.1', port, streamid: 'cam-1', passphrase: 'second-camera-secret' }), (e: SrtRejectedError) => e.reason === 10);
  await assert.rejects(dial({ host: '127.0.0.1', port, streamid: 'cam-2' }), (e: SrtRejectedError) => e.reason === 11);
  const m1 = makeMessages(200), m2 = makeMessages(200).map((b) => Buffer.from(b).fill(9, 8));
  await Promise.all([pump(c1, m1), pump(c2, m2)]);
  await until(() => (got.get('cam-1')?.length ?? 0) >= 200 && (got.get('cam-2')?.length ?? 0) >= 200);
  assert.equal(diffMessages(m1, got.get('cam-1') ?? []), null);
  assert.equal(diffMessages(m2, got.get('cam-2') ?? []), null);
  assert.equal(srv.connectionCount, 2);
});

test('passphrases outside 10..79 characters are refused with a clear error', async () => {
  await assert.rejects(listen({ port: 0, passphrase: 'short' }), /passphrase: must be empty or 10 to 79 characters \(got 5\)/);
  await assert.rejects(dial({ host: '127.0.0.1', port: 9, passphrase: 'x'.repeat(80) }), /passphrase/);
});

test('enforcedencryption=false: a one-sided passphrase connects; the KM states and undecryptable counts tell the story', async (t) => {
  const srv = await listen({ host: '127.0.0.1', port: 0, enforcedencryption: false });
  t.after(() => srv.close());
  const got: Buffer[] = [];
  let server: SrtSocket | null = null;
  srv.on('connection', (s) => { server = s; s.on('data', (d: Buffer) => got.push(d)); });
  const c = await dial({ host: '127.0.0.1', port: srv.address().port, passphrase: 'only-the-caller-has-it', enforcedencryption: false });
  t.after(() => c.destroy());
  await until(() => server !== null);
  await pump(c, makeMessages(50));
  await until(() => (server as SrtSocket | null)?.stats().pktRcvUndecryptTotal === 50);
  const st = (server as unknown as SrtSocket).stats();
  assert.equal(got.length, 0, 'nothing undecryptable is delivered');
  assert.equal(st.pktRcvUndecryptTotal, 50);
  assert.equal(st.pktRcvKMState, 3, 'SRT_KM_S_NOSECRET on the side without a passphrase');
  assert.equal(c.stats().pktSndKMState, 3, 'the caller learns the peer has no secret');
});
