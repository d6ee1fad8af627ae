// HSv5 rendezvous against srt-live-transmit 1.5.1: both directions, both roles, byte-exact; AES-128
// and AES-256; a wrong passphrase; `sluice transmit`; the same port number on both sides; RX and
// TX gateways in rendezvous mode (the far end in a network namespace, on the same ListenPort).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import dgram from 'node:dgram';
import { fileURLToPath } from 'node:url';
import { rendezvous } from '../../src/transport/api.js';
import type { SrtSocket } from '../../src/transport/socket.js';
import { SrtRejectedError } from '../../src/transport/errors.js';
import { cookieContest } from '../../src/protocol/rendezvous.js';
import { SRT_REJ } from '../../src/protocol/reject.js';
import { KmState } from '../../src/protocol/crypto.js';
import { GatewayManager } from '../../src/core/gateways.js';
import { EventLog } from '../../src/core/events.js';
import { openSqlite } from '../../src/store/db.js';
import { diffMessages, freePort, makeMessages, requireTool, sleep, sltConnected, spawnPeer, udpCollect, udpSendPaced, until, waitForUdpPort, type Peer } from '../support/peers.js';
import { eventually } from '../support/wait.js';
import { createNetns } from '../support/netns.js';
import { fileTimeout } from '../support/file-timeout.js';

fileTimeout();

requireTool('srt-live-transmit');
const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

/**
 * libsrt's rendezvous cookie (core.cpp CUDT::bake): the first 4 bytes (little-endian) of
 * MD5("<target host>:<target port>:<minutes since its socket started>"); 0 minutes here.
 */
function libsrtCookie(targetHost: string, targetPort: number): number {
  return createHash('md5').update(`${targetHost}:${targetPort}:0`).digest().readInt32LE(0);
}

/** A cookie that makes us `role` against a peer whose cookie is `peer`. */
function cookieFor(role: 'initiator' | 'responder', peer: number): number {
  let c = (peer + (role === 'initiator' ? 1 : -1)) | 0;
  if (c === 0) c = role === 'initiator' ? 2 : -2;
  assert.equal(cookieContest(c, peer), role);
  return c;
}

/** Pairs of local ports: Sluice binds `sluice`, srt-live-transmit binds `slt` (its port= key). */
async function ports(): Promise<{ sluice: number; slt: number }> {
  return { sluice: await freePort(), slt: await freePort() };
}

async function writePaced(s: SrtSocket, msgs: Buffer[]): Promise<void> {
  const start = performance.now();
  for (let i = 0; i < msgs.length; i++) {
    const wait = start + i - performance.now(); // 1000 packets/s
    if (wait > 1) await sleep(wait);
    s.write(msgs[i]!);
  }
}

type Role = 'initiator' | 'responder';

async function sluiceToSlt(role: Role, o: { sluiceFirst: boolean; n: number; pass?: string; pbkeylen?: 16 | 32 }): Promise<SrtSocket> {
  const p = await ports();
  const sink = await udpCollect();
  const enc = o.pass ? `&passphrase=${o.pass}${o.pbkeylen ? `&pbkeylen=${o.pbkeylen}` : ''}` : '';
  const sltUrl = `srt://127.0.0.1:${p.sluice}?mode=rendezvous&port=${p.slt}&latency=200${enc}`;
  let slt: Peer | null = null;
  const start = (): Peer => spawnPeer('srt-live-transmit', ['-q', sltUrl, `udp://127.0.0.1:${sink.port}`]);
  try {
    if (!o.sluiceFirst) {
      slt = start();
      await waitForUdpPort(p.slt, 'srt-live-transmit waving', slt); // it waves from the moment it binds
    }
    const pending = rendezvous({
      host: '127.0.0.1', port: p.slt, localPort: p.sluice, latency: 200, cookie: cookieFor(role, libsrtCookie('127.0.0.1', p.sluice)),
      ...(o.pass ? { passphrase: o.pass, pbkeylen: o.pbkeylen ?? 0 } : {}),
    });
    if (o.sluiceFirst) {
      await waitForUdpPort(p.sluice, 'Sluice waving'); // it waves from the moment it binds
      slt = start();
    }
    // srt-live-transmit as a source keeps what arrives once its side of the handshake is done, and
    // our last handshake packet goes before the first data packet: nothing to wait for
    const s = await pending;
    try {
      const msgs = makeMessages(o.n);
      await writePaced(s, msgs);
      await sink.waitFor(msgs.length, 5000, () => `stats: sent ${s.stats().pktSentTotal}, retrans ${s.stats().pktRetransTotal}; slt: ${slt!.output().slice(0, 500)}`);
      const st = s.stats();
      assert.equal(diffMessages(msgs, sink.messages), null, `stats: sent ${st.pktSentTotal}, retrans ${st.pktRetransTotal}; slt: ${slt!.output().slice(0, 500)}`);
      return s;
    } catch (e) {
      s.destroy(); // returned to the caller only when it worked
      throw e;
    }
  } finally {
    await slt?.kill();
    sink.close();
  }
}

async function sltToSluice(role: Role, o: { sluiceFirst: boolean; n: number; pass?: string; pbkeylen?: 16 | 32 }): Promise<SrtSocket> {
  const p = await ports();
  const udpIn = await freePort();
  const enc = o.pass ? `&passphrase=${o.pass}${o.pbkeylen ? `&pbkeylen=${o.pbkeylen}` : ''}` : '';
  const sltUrl = `srt://127.0.0.1:${p.sluice}?mode=rendezvous&port=${p.slt}&latency=120${enc}`;
  let slt: Peer | null = null;
  const start = (): Peer => spawnPeer('srt-live-transmit', ['-v', `udp://127.0.0.1:${udpIn}?rcvbuf=4194304`, sltUrl]);
  try {
    if (!o.sluiceFirst) {
      slt = start();
      await waitForUdpPort(p.slt, 'srt-live-transmit waving', slt);
    }
    const pending = rendezvous({
      host: '127.0.0.1', port: p.slt, localPort: p.sluice, cookie: cookieFor(role, libsrtCookie('127.0.0.1', p.sluice)),
      ...(o.pass ? { passphrase: o.pass, pbkeylen: o.pbkeylen ?? 0 } : {}),
    });
    if (o.sluiceFirst) {
      await waitForUdpPort(p.sluice, 'Sluice waving');
      slt = start();
    }
    const s = await pending;
    try {
      const got: Buffer[] = [];
      s.on('data', (d: Buffer) => got.push(d));
      await sltConnected(slt!); // it discards its UDP input until then
      const msgs = makeMessages(o.n);
      await udpSendPaced(udpIn, msgs, 1000);
      await until(() => got.length >= msgs.length, 10_000).catch(() => {}); // the assertion says what is missing
      const st = s.stats();
      assert.equal(diffMessages(msgs, got), null, `stats: loss ${st.pktRcvLossTotal}, drop ${st.pktRcvDropTotal}, undecrypt ${st.pktRcvUndecryptTotal}`);
      return s;
    } catch (e) {
      s.destroy(); // returned to the caller only when it worked
      throw e;
    }
  } finally {
    await slt?.kill();
  }
}

for (const role of ['initiator', 'responder'] as const) {
  test(`Sluice (${role}) → srt-live-transmit, rendezvous, byte-exact (srt-live-transmit waves first)`, async () => {
    const s = await sluiceToSlt(role, { sluiceFirst: false, n: 2000 });
    s.destroy();
  });
  test(`srt-live-transmit → Sluice (${role}), rendezvous, byte-exact (Sluice waves first)`, async () => {
    const s = await sltToSluice(role, { sluiceFirst: true, n: 2000 });
    s.destroy();
  });
}

test('the other start orders: Sluice waves first and sends; srt-live-transmit waves first and sends', async () => {
  (await sluiceToSlt('responder', { sluiceFirst: true, n: 500 })).destroy();
  (await sltToSluice('initiator', { sluiceFirst: false, n: 500 })).destroy();
});

test('encrypted AES-128: Sluice (responder) → srt-live-transmit; AES-256: srt-live-transmit → Sluice (initiator); KM states SECURED', async () => {
  const a = await sluiceToSlt('responder', { sluiceFirst: false, n: 1000, pass: 'rendezvous-secret-1', pbkeylen: 16 });
  const sa = a.stats();
  assert.deepEqual([sa.pktSndKMState, sa.pktRcvKMState], [KmState.Secured, KmState.Secured]);
  a.destroy();
  const b = await sltToSluice('initiator', { sluiceFirst: true, n: 1000, pass: 'rendezvous-secret-2', pbkeylen: 32 });
  const sb = b.stats();
  assert.deepEqual([sb.pktSndKMState, sb.pktRcvKMState, sb.pktRcvUndecryptTotal], [KmState.Secured, KmState.Secured, 0]);
  b.destroy();
});

test('encrypted AES-256 the other way round: Sluice (initiator) → srt-live-transmit; AES-128: srt-live-transmit → Sluice (responder)', async () => {
  (await sluiceToSlt('initiator', { sluiceFirst: true, n: 500, pass: 'rendezvous-secret-3', pbkeylen: 32 })).destroy();
  (await sltToSluice('responder', { sluiceFirst: false, n: 500, pass: 'rendezvous-secret-4', pbkeylen: 16 })).destroy();
});

test('a wrong passphrase fails at once: our responder rejects with BADSECRET; as initiator, libsrt 1.5.1 answers with SHUTDOWN only (ROGUE, as libsrt reports it)', async () => {
  // libsrt 1.5.1 (processAsyncConnectRequest) does not send its rendezvous rejection handshake
  // yet; it sends SHUTDOWN, which a connecting libsrt socket reports as SRT_REJ_ROGUE
  for (const [role, reason] of [['responder', SRT_REJ.BADSECRET], ['initiator', SRT_REJ.ROGUE]] as const) {
    const p = await ports();
    const sink = await freePort();
    const slt = spawnPeer('srt-live-transmit', ['-v', `srt://127.0.0.1:${p.sluice}?mode=rendezvous&port=${p.slt}&passphrase=the-right-one`, `udp://127.0.0.1:${sink}`]);
    try {
      await waitForUdpPort(p.slt, 'srt-live-transmit waving', slt);
      // "at once": the reason is the peer's answer, not SRT_REJ_TIMEOUT (which would take 10 × conntimeo)
      await assert.rejects(
        rendezvous({ host: '127.0.0.1', port: p.slt, localPort: p.sluice, passphrase: 'not-the-right-one', cookie: cookieFor(role, libsrtCookie('127.0.0.1', p.sluice)) }),
        (e: unknown) => e instanceof SrtRejectedError && e.reason === reason,
      );
      if (role === 'initiator') {
        await until(() => /BADSECRET/.test(slt.output()), 10_000);
        assert.match(slt.output(), /BADSECRET/, 'srt-live-transmit could not unwrap our KMREQ');
      }
    } finally {
      await slt.kill();
    }
  }
});

test('the same port number on both sides (default localPort = port): 127.0.0.1:P ↔ srt-live-transmit on 127.0.0.2:P via adapter=', async (t) => {
  const port = await freePort();
  const sink = await udpCollect();
  const slt = spawnPeer('srt-live-transmit', ['-q', `srt://127.0.0.1:${port}?mode=rendezvous&adapter=127.0.0.2`, `udp://127.0.0.1:${sink.port}`]);
  try {
    await waitForUdpPort(port, 'srt-live-transmit waving from 127.0.0.2', slt);
    const s = await rendezvous({ host: '127.0.0.2', port, localAddress: '127.0.0.1' });
    t.after(() => s.destroy());
    assert.deepEqual([s.remoteAddress, s.remotePort], ['127.0.0.2', port]);
    const msgs = makeMessages(500);
    await writePaced(s, msgs);
    await sink.waitFor(msgs.length, 5000);
    assert.equal(diffMessages(msgs, sink.messages), null);
    s.destroy();
  } finally {
    await slt.kill();
    sink.close();
  }
});

test('sluice transmit udp → srt://…?mode=rendezvous&port= → srt-live-transmit (implicit rendezvous: host + adapter) → udp, byte-exact', async () => {
  const p = await ports();
  const udpIn = await freePort();
  const sink = await udpCollect();
  const slt2 = spawnPeer('srt-live-transmit', ['-q', `srt://127.0.0.1:${p.sluice}?adapter=127.0.0.1&port=${p.slt}&passphrase=transmit-secret`, `udp://127.0.0.1:${sink.port}`]);
  const tx2 = spawnPeer(process.execPath, [CLI, 'transmit', `udp://127.0.0.1:${udpIn}`, `srt://127.0.0.1:${p.slt}?mode=rendezvous&port=${p.sluice}&passphrase=transmit-secret&pbkeylen=32`]);
  try {
    await until(() => /connected in rendezvous/.test(tx2.output()), 8000);
    assert.match(tx2.output(), /SRT destination connected in rendezvous with 127\.0\.0\.1:\d+ \(local port \d+\)/);
    // sluice transmit's UDP input keeps what arrives until its SRT side takes it
    const msgs = makeMessages(1000);
    await udpSendPaced(udpIn, msgs, 1000);
    await sink.waitFor(msgs.length, 5000);
    assert.equal(diffMessages(msgs, sink.messages), null);
  } finally {
    await tx2.kill();
    await slt2.kill();
    sink.close();
  }
});

// ------------------------------------------------------------------ gateways

async function managerOnMemory() {
  const db = await openSqlite(':memory:');
  const events = new EventLog(db);
  const m = new GatewayManager(db, events);
  return { m, events, close: async (): Promise<void> => { await m.closeAll(); await events.flush(); await db.destroy(); } };
}

/** A UDP sink on `address` (reachable from the namespace). */
async function collectOn(address: string): Promise<{ port: number; messages: Buffer[]; close(): void }> {
  const s = dgram.createSocket('udp4');
  const messages: Buffer[] = [];
  s.on('message', (m) => messages.push(m));
  await new Promise<void>((resolve) => s.bind(0, address, () => resolve()));
  s.setRecvBufferSize(4 * 1024 * 1024);
  return { port: s.address().port, messages, close: () => s.close() };
}

test('RX gateway in rendezvous: srt-live-transmit (other host, same ListenPort) → RX → UDP, byte-exact; statistics', async () => {
  const ns = createNetns();
  const t = await managerOnMemory();
  const sink = await udpCollect();
  let slt: Peer | null = null;
  try {
    const port = await freePort();
    const udpIn = 5000 + (port % 1000);
    slt = ns.spawn('srt-live-transmit', ['-v', `udp://${ns.nsIp}:${udpIn}?rcvbuf=4194304`, `srt://${ns.hostIp}:${port}?mode=rendezvous&latency=120`]);
    const gw = await t.m.create('rx', { ServiceName: 'rx-rdv', Mode: 'Rendezvous', TxIp: ns.nsIp, ListenPort: port, UdpOut: `127.0.0.1:${sink.port}`, Latency: 120 });
    assert.equal(gw.status, 'running');
    assert.equal(gw.config['Mode'], 'rendezvous');
    await until(() => t.m.runtime(gw.id)?.connected === 1, 10_000);
    const v = await t.m.get(gw.id);
    assert.equal(v.connected, 1, `connected; slt: ${slt.output().slice(0, 500)}`);
    assert.equal(v.peer, `${ns.nsIp}:${port}`, 'the peer uses the same port');
    await sltConnected(slt); // it discards its UDP input until then
    const msgs = makeMessages(2000);
    await udpSendPaced(udpIn, msgs, 1000, ns.nsIp);
    await sink.waitFor(msgs.length, 5000);
    assert.equal(diffMessages(msgs, sink.messages), null);
    // the 1-second statistics interval that holds the last packets
    const st = await eventually(() => t.m.stats(gw.id), (v) => (v.srt?.['pktRecvTotal'] ?? 0) >= 2000, { what: 'the statistics count every packet' });
    assert.ok(st.srt && st.srt['pktRecvTotal']! >= 2000, `pktRecvTotal ${st.srt?.['pktRecvTotal']}`);
  } finally {
    await t.close();
    await slt?.kill();
    sink.close();
    ns.close();
  }
});

test('TX gateway in rendezvous, AES-256: UDP → TX → srt-live-transmit (other host, same ListenPort), byte-exact; redials after the far end restarts', async () => {
  const ns = createNetns();
  const t = await managerOnMemory();
  const sink = await collectOn(ns.hostIp);
  const pass = 'gateway-rendezvous-1';
  let slt: Peer | null = null;
  try {
    const port = await freePort();
    const udpIn = await freePort();
    const sltArgs = ['-q', `srt://${ns.hostIp}:${port}?mode=rendezvous&passphrase=${pass}&pbkeylen=32`, `udp://${ns.hostIp}:${sink.port}`];
    const gw = await t.m.create('tx', { ServiceName: 'tx-rdv', Mode: 'rendezvous', RxIp: ns.nsIp, ListenPort: port, UdpIn: `127.0.0.1:${udpIn}`, PassPhrase: pass, PbKeyLen: 32 });
    assert.equal(gw.connected, 2, 'connecting: waving to the peer');
    await waitForUdpPort(port, 'the TX gateway waving'); // the gateway waves first this time (from the moment it binds)
    slt = ns.spawn('srt-live-transmit', sltArgs);
    await until(() => t.m.runtime(gw.id)?.connected === 1, 10_000);
    assert.equal((await t.m.get(gw.id)).connected, 1, `connected; slt: ${slt.output().slice(0, 500)}`);
    const sock = t.m.runtime(gw.id)!.link.socket!;
    assert.equal(sock.stats().pktSndKMState, KmState.Secured);
    // (srt-live-transmit as a source keeps what arrives once connected: nothing to wait for)
    const msgs = makeMessages(2000);
    await udpSendPaced(udpIn, msgs, 1000);
    await until(() => sink.messages.length >= msgs.length, 5000, 'the datagrams arrive', () => diffMessages(msgs, sink.messages) ?? '');
    assert.equal(diffMessages(msgs, sink.messages), null);

    // the far end restarts: the gateway notices, redials (rendezvous again) and carries on
    await slt.kill();
    await until(() => t.m.runtime(gw.id)?.connected === 2, 10_000);
    assert.equal((await t.m.get(gw.id)).connected, 2, 'connecting again');
    await sleep(800); // scenario: the gateway redials alone for a while before the far end is back
    slt = ns.spawn('srt-live-transmit', sltArgs);
    await until(() => t.m.runtime(gw.id)?.connected === 1, 15_000);
    const v = await t.m.get(gw.id);
    assert.deepEqual([v.connected, v.reconnections], [1, 1]);
    sink.messages.length = 0;
    const more = makeMessages(500);
    await udpSendPaced(udpIn, more, 1000);
    await until(() => sink.messages.length >= more.length, 5000, 'the datagrams arrive after the reconnection', () => diffMessages(more, sink.messages) ?? '');
    assert.equal(diffMessages(more, sink.messages), null, 'data flows after the reconnection');
  } finally {
    await t.close();
    await slt?.kill();
    sink.close();
    ns.close();
  }
});

test('a stopped rendezvous gateway releases its ListenPort at once (the attempt in progress is abandoned)', async () => {
  const t = await managerOnMemory();
  try {
    const port = await freePort();
    const gw = await t.m.create('rx', { ServiceName: 'rx-rdv-stop', Mode: 'rendezvous', TxIp: '127.0.0.1', ListenPort: port, UdpOut: `127.0.0.1:${await freePort()}` });
    await waitForUdpPort(port, 'the RX gateway waving'); // an attempt in progress
    assert.equal((await t.m.get(gw.id)).connected, 2);
    await t.m.stop(gw.id);
    const s = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => { s.once('error', reject); s.bind(port, '0.0.0.0', () => resolve()); });
    s.close();
  } finally {
    await t.close();
  }
});
