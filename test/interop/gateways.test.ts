// RX/TX gateways (GatewayManager + data plane) against srt-live-transmit as the far end.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GatewayManager, type GatewayStatsView } from '../../src/core/gateways.js';
import { EventLog } from '../../src/core/events.js';
import { openSqlite } from '../../src/store/db.js';
import { dial } from '../../src/transport/api.js';
import { SrtRejectedError } from '../../src/transport/errors.js';
import { SRT_REJX } from '../../src/protocol/reject.js';
import { diffMessages, freePort, makeMessages, requireTool, sleep, sltConnected, spawnPeer, udpCollect, udpSendPaced, until, waitForUdpPort, type Peer } from '../support/peers.js';
import { eventually, waitFor } from '../support/wait.js';
import { fileTimeout } from '../support/file-timeout.js';

fileTimeout();

const HEADERS = 44; // IPv4 + UDP + SRT, counted in every byte statistic

async function managerOnMemory() {
  const db = await openSqlite(':memory:');
  const events = new EventLog(db);
  const m = new GatewayManager(db, events);
  return {
    m, events,
    close: async (): Promise<void> => { await m.closeAll(); await events.flush(); await db.destroy(); },
  };
}

/** Collects each new 1-second statistics interval of a gateway while `run` goes on. */
async function sampleDuring(m: GatewayManager, id: number, run: () => Promise<void>): Promise<GatewayStatsView[]> {
  const seen = new Set<unknown>();
  const samples: GatewayStatsView[] = [];
  let done = false;
  const poll = (async () => {
    while (!done) {
      const s = await m.stats(id);
      if (s.srt && !seen.has(s.srt)) {
        seen.add(s.srt);
        samples.push(s);
      }
      await sleep(100);
    }
  })();
  try {
    await run();
    // the 1-second interval that holds the tail: wait until one ends after the run
    const n = samples.length;
    await waitFor(() => samples.length > n, { what: 'a statistics interval after the run', timeoutMs: 5000 });
  } finally {
    done = true;
    await poll;
  }
  return samples;
}

// -v: srt-live-transmit says when its SRT side is connected (sltConnected); it discards its input before that
function sltListenerFromUdp(udpIn: number, srtPort: number, query = ''): Peer {
  return spawnPeer('srt-live-transmit', ['-v', `udp://127.0.0.1:${udpIn}?rcvbuf=4194304`, `srt://:${srtPort}?mode=listener&latency=120${query}`]);
}

function sltCallerFromUdp(udpIn: number, srtPort: number, query = ''): Peer {
  return spawnPeer('srt-live-transmit', ['-v', `udp://127.0.0.1:${udpIn}?rcvbuf=4194304`, `srt://127.0.0.1:${srtPort}?mode=caller&latency=120${query}`]);
}

function sltToUdp(srt: string, udpOut: number): Peer {
  return spawnPeer('srt-live-transmit', ['-v', srt, `udp://127.0.0.1:${udpOut}`]);
}

/**
 * The lossless-run checks of the statistics (RX: Recv*, TX: Send*). `srt` holds each 1-second
 * interval (libsrt names); the document's `fields` count since the connection was established:
 * they only grow, and end at the number of messages carried.
 */
function assertLosslessStats(samples: GatewayStatsView[], dir: 'Recv' | 'Send', maxBwMbps: number, carried: number): void {
  assert.ok(samples.length >= 2, `at least two intervals sampled (got ${samples.length})`);
  const [pkt, byte] = dir === 'Recv' ? ['pktRecv', 'byteRecv'] : ['pktSent', 'byteSent'];
  const iv = (s: GatewayStatsView): Record<string, number> => s.srt! as unknown as Record<string, number>;
  const busy = samples.filter((s) => iv(s)[pkt]! > 0);
  assert.ok(busy.some((s) => iv(s)[pkt]! >= 700), `an interval with ~1000 packets: ${busy.map((s) => iv(s)[pkt]).join(',')}`);
  let prev = 0;
  for (const s of samples) {
    const f = s.fields;
    const one = iv(s);
    // the interval's own counts (libsrt names)
    assert.equal(one[byte], one[pkt]! * (1316 + HEADERS), `${byte} = ${pkt} × (payload + 44): ${JSON.stringify(one)}`);
    assert.equal(one[`${pkt}Unique`], one[pkt], 'no duplicates in the interval');
    // the document's fields: totals of the connection, never smaller than before, at least the interval's own
    const total = f[`${dir}Packets`]!;
    assert.ok(total >= prev, `${dir}Packets only grows: ${prev} → ${total}`);
    assert.ok(total >= one[`${pkt}Total`]!, `${dir}Packets (now) ≥ the total at the interval's end`);
    prev = total;
    assert.equal(f[`${dir}Bytes`], total * (1316 + HEADERS), `${dir}Bytes = packets × (payload + 44): ${JSON.stringify(f)}`);
    assert.equal(f[`${dir}PacketsUnique`], total, 'no duplicates');
    assert.equal(f[`${dir}BytesUnique`], f[`${dir}Bytes`]);
    assert.equal(f[`${dir}PacketsLost`], 0);
    assert.equal(f[`${dir}PacketsRetransmitted`], 0);
    assert.equal(f[`${dir}PacketsDropped`], 0);
    assert.equal(f['LineLoss'], 0);
    assert.equal(f['LinkMaxBandwidth'], maxBwMbps, 'LinkMaxBandwidth = SrtBw / 1000');
    // 100 ms is SRT's initial RTT, kept until the first measurement (an idle link has none yet)
    assert.ok(f['LinkRtt']! >= 0 && f['LinkRtt']! <= 100, `LinkRtt ${f['LinkRtt']} ms on loopback`);
    // the rate is the last interval's and agrees with its byte count (the interval is ~1 s)
    const mbit = f[`${dir}MbitRate`]!;
    const expected = (one[byte]! * 8) / 1e6;
    assert.ok(Math.abs(mbit - expected) <= expected * 0.2 + 0.05, `${dir}MbitRate ${mbit} ≈ ${expected}`);
  }
  assert.equal(samples.at(-1)!.fields[`${dir}PacketsUnique`], carried, `the last sample counts every message of the connection (${carried})`);
  for (const s of busy) assert.ok(s.fields['LinkBandwidth']! > 0, `LinkBandwidth estimated while data flows: ${s.fields['LinkBandwidth']}`);
  assert.ok(samples.at(-1)!.fields['LinkRtt']! < 100, `LinkRtt measured on loopback after data flowed: ${samples.at(-1)!.fields['LinkRtt']}`);
  const best = busy.reduce((a, b) => (iv(a)[pkt]! > iv(b)[pkt]! ? a : b));
  const bestRate = best.fields[`${dir}MbitRate`]!;
  assert.ok(bestRate > 5 && bestRate < 20, `~10.9 Mbit/s at 1000 × 1360 bytes/s: ${bestRate}`);
}

test('RX caller: srt-live-transmit listener (UDP in) → RX gateway → UDP out, byte-exact; per-interval statistics; stop', async () => {
  requireTool('srt-live-transmit');
  const srtPort = await freePort();
  const udpIn = await freePort();
  const sink = await udpCollect();
  const t = await managerOnMemory();
  const slt = sltListenerFromUdp(udpIn, srtPort);
  try {
    await waitForUdpPort(srtPort, 'the srt-live-transmit listener', slt);
    const created = await t.m.create('rx', {
      ServiceName: 'rx-caller', Mode: 'Caller', TxIp: '127.0.0.1', ListenPort: String(srtPort), UdpOut: `127.0.0.1:${sink.port}`, Latency: '120', SrtBw: 12000,
    });
    assert.equal(created.status, 'running');
    assert.equal(created.config['Mode'], 'caller', 'Mode is case-insensitive and stored lower-case');
    assert.equal(created.config['ListenPort'], srtPort, 'numeric strings become numbers');
    assert.match(created.instance, /^[0-9a-f]{10}$/);
    await until(() => t.m.runtime(created.id)?.connected === 1, 8000);
    assert.equal((await t.m.get(created.id)).connected, 1, 'connected to the listener');
    await sltConnected(slt);
    const msgs = makeMessages(2500);
    const samples = await sampleDuring(t.m, created.id, async () => {
      await udpSendPaced(udpIn, msgs, 1000);
      await sink.waitFor(msgs.length, 5000);
    });
    assert.equal(diffMessages(msgs, sink.messages), null);
    assertLosslessStats(samples, 'Recv', 12, msgs.length);
    assert.equal(samples[0]!.fields['RecvPacketsBelated'], 0);
    assert.ok('RecvPacketsFilterExtra' in samples[0]!.fields && 'RecvBytesLost' in samples[0]!.fields);
    const stopped = await t.m.stop(created.id);
    assert.deepEqual([stopped.status, stopped.connected, stopped.instance, stopped.active], ['stopped', 0, '', false]);
    const after = await t.m.stats(created.id);
    assert.equal(after.srt, null);
    assert.equal(after.fields['RecvPackets'], 0, 'a stopped gateway reports zeros');
    assert.equal(after.fields['LinkMaxBandwidth'], 0);
  } finally {
    await t.close();
    await slt.kill();
    sink.close();
  }
});

test('RX listener: srt-live-transmit caller (UDP in) → RX gateway listening → UDP out, byte-exact; Connected 2 while waiting', async () => {
  requireTool('srt-live-transmit');
  const srtPort = await freePort();
  const udpIn = await freePort();
  const sink = await udpCollect();
  const t = await managerOnMemory();
  let slt: Peer | null = null;
  try {
    const gw = await t.m.create('rx', { ServiceName: 'rx-listener', Mode: 'listener', ListenPort: srtPort, UdpOut: `127.0.0.1:${sink.port}`, Latency: 200 });
    assert.equal(gw.connected, 2, 'a listener without a peer is waiting');
    slt = sltCallerFromUdp(udpIn, srtPort);
    await until(() => t.m.runtime(gw.id)?.connected === 1, 8000);
    const v = await t.m.get(gw.id);
    assert.equal(v.connected, 1);
    assert.match(v.peer ?? '', /^127\.0\.0\.1:\d+$/);
    await sltConnected(slt);
    const msgs = makeMessages(2500);
    const samples = await sampleDuring(t.m, gw.id, async () => {
      await udpSendPaced(udpIn, msgs, 1000);
      await sink.waitFor(msgs.length, 5000);
    });
    assert.equal(diffMessages(msgs, sink.messages), null);
    assertLosslessStats(samples, 'Recv', 0, msgs.length);
  } finally {
    await t.close();
    await slt?.kill();
    sink.close();
  }
});

test('RX listener: a caller killed with SIGKILL and restarted is taken back at once (same source port, then a new one), not after the idle timeout; byte-exact after', async () => {
  requireTool('srt-live-transmit');
  const srtPort = await freePort();
  const udpIn = await freePort();
  const srcPort = await freePort();
  const sink = await udpCollect();
  const t = await managerOnMemory();
  let slt: Peer | null = null;
  try {
    const gw = await t.m.create('rx', { ServiceName: 'rx-restart', Mode: 'listener', ListenPort: srtPort, UdpOut: `127.0.0.1:${sink.port}` });
    const connectedAgain = async (n: number): Promise<void> => {
      await until(() => t.m.runtime(gw.id)?.connected === 1 && t.m.runtime(gw.id)?.reconnections === n, 8000);
      assert.deepEqual([t.m.runtime(gw.id)?.connected, t.m.runtime(gw.id)?.reconnections], [1, n]);
    };
    const carry = async (n: number): Promise<void> => {
      await sltConnected(slt!); // it discards its UDP input until then
      sink.messages.length = 0;
      const msgs = makeMessages(n);
      await udpSendPaced(udpIn, msgs, 1000);
      await sink.waitFor(msgs.length, 5000);
      assert.equal(diffMessages(msgs, sink.messages), null);
    };
    // an encoder with a fixed source port: killed, restarted, the same address and port
    slt = sltCallerFromUdp(udpIn, srtPort, `&port=${srcPort}`);
    await connectedAgain(0);
    assert.equal((await t.m.get(gw.id)).peer, `127.0.0.1:${srcPort}`);
    await carry(500);
    await slt.kill('SIGKILL');
    slt = sltCallerFromUdp(udpIn, srtPort, `&port=${srcPort}`);
    await connectedAgain(1);
    await carry(500);
    // an encoder on an ephemeral port: restarted, it calls from a new port of the same host
    await slt.kill('SIGKILL');
    slt = sltCallerFromUdp(udpIn, srtPort);
    await connectedAgain(2);
    const peer = (await t.m.get(gw.id)).peer ?? '';
    assert.match(peer, /^127\.0\.0\.1:\d+$/);
    assert.notEqual(peer, `127.0.0.1:${srcPort}`);
    await carry(500);
    // the dead connections ended because their peer came back, not by the 5 s idle timeout
    const evs = (await t.events.list({ type: 'gateway.disconnected', target: `gateway:rx:${gw.id}` })).items.reverse();
    assert.deepEqual(evs.map((e) => (e.data as { reason: string }).reason), ['replaced: 127.0.0.1 connected again', 'replaced: 127.0.0.1 connected again']);
  } finally {
    await t.close();
    await slt?.kill();
    sink.close();
  }
});

test('TX caller: UDP in → TX gateway → srt-live-transmit listener → UDP, byte-exact; Send* statistics', async () => {
  requireTool('srt-live-transmit');
  const srtPort = await freePort();
  const udpIn = await freePort();
  const sink = await udpCollect();
  const t = await managerOnMemory();
  const slt = sltToUdp(`srt://:${srtPort}?mode=listener`, sink.port);
  try {
    await waitForUdpPort(srtPort, 'the srt-live-transmit listener', slt);
    const gw = await t.m.create('tx', { ServiceName: 'tx-caller', Mode: 'caller', RxIp: '127.0.0.1', ListenPort: srtPort, UdpIn: `127.0.0.1:${udpIn}`, Latency: 120, SrtBw: '20000', InputBw: 0, OverHead: 25 });
    await until(() => t.m.runtime(gw.id)?.connected === 1, 8000);
    assert.equal((await t.m.get(gw.id)).connected, 1);
    await sltConnected(slt);
    const msgs = makeMessages(2500);
    const samples = await sampleDuring(t.m, gw.id, async () => {
      await udpSendPaced(udpIn, msgs, 1000);
      await sink.waitFor(msgs.length, 5000);
    });
    assert.equal(diffMessages(msgs, sink.messages), null);
    assertLosslessStats(samples, 'Send', 20, msgs.length);
    assert.ok('SendPacketsFilterExtra' in samples[0]!.fields && !('RecvPackets' in samples[0]!.fields), 'TX statistics are the Send* set');
  } finally {
    await t.close();
    await slt.kill();
    sink.close();
  }
});

test('TX listener: srt-live-transmit caller pulls from the TX gateway, byte-exact; one peer at a time; the next peer after it leaves', async () => {
  requireTool('srt-live-transmit');
  const srtPort = await freePort();
  const udpIn = await freePort();
  const sink = await udpCollect();
  const t = await managerOnMemory();
  let slt: Peer | null = null;
  try {
    const gw = await t.m.create('tx', { ServiceName: 'tx-listener', Mode: 'listener', RxIp: '', ListenPort: String(srtPort), UdpIn: `127.0.0.1:${udpIn}`, Latency: '120' });
    assert.equal(gw.connected, 2);
    slt = sltToUdp(`srt://127.0.0.1:${srtPort}?mode=caller`, sink.port);
    await until(() => t.m.runtime(gw.id)?.connected === 1, 8000);
    assert.equal((await t.m.get(gw.id)).connected, 1);
    // a second caller is refused while one is served
    await assert.rejects(dial({ host: '127.0.0.1', port: srtPort, conntimeo: 2000 }), (e: unknown) => e instanceof SrtRejectedError && e.reason === SRT_REJX.CONFLICT);
    // (srt-live-transmit as a source keeps what arrives before it reads: nothing to wait for)
    const msgs = makeMessages(2500);
    const samples = await sampleDuring(t.m, gw.id, async () => {
      await udpSendPaced(udpIn, msgs, 1000);
      await sink.waitFor(msgs.length, 5000);
    });
    assert.equal(diffMessages(msgs, sink.messages), null);
    assertLosslessStats(samples, 'Send', 0, msgs.length);
    // the feed stops, the link stays up: the counts of the connection stay (a client watching them
    // does not see a dead link), only the rate of the last second falls to 0
    const idle = await eventually(() => t.m.stats(gw.id), (st) => st.srt !== null && st.srt['pktSent'] === 0, { what: 'an interval with nothing sent', timeoutMs: 5000 });
    assert.deepEqual([idle.connected, idle.fields['SendMbitRate'], idle.fields['SendPacketsUnique'], idle.fields['SendBytesUnique']], [1, 0, msgs.length, msgs.length * (1316 + HEADERS)]);

    // the peer leaves and comes back: the listener takes it again, Reconnections counts it
    await slt.kill();
    await until(() => t.m.runtime(gw.id)?.connected === 2, 8000);
    assert.equal((await t.m.get(gw.id)).connected, 2, 'waiting again');
    sink.messages.length = 0;
    slt = sltToUdp(`srt://127.0.0.1:${srtPort}?mode=caller`, sink.port);
    await until(() => t.m.runtime(gw.id)?.connected === 1, 8000);
    const v = await t.m.get(gw.id);
    assert.deepEqual([v.connected, v.reconnections], [1, 1]);
    const more = makeMessages(500);
    await udpSendPaced(udpIn, more, 1000);
    await sink.waitFor(more.length, 5000);
    assert.equal(diffMessages(more, sink.messages), null, 'data flows to the new peer');
    // the counts start again with the new connection
    const again = await t.m.stats(gw.id);
    assert.deepEqual([again.connected, again.reconnections, again.fields['SendPacketsUnique'], again.fields['SendBytesUnique']], [1, 1, more.length, more.length * (1316 + HEADERS)]);
  } finally {
    await t.close();
    await slt?.kill();
    sink.close();
  }
});

test('RX caller reconnects by itself when the far end restarts: Reconnections 1, events recorded, data flows again', async () => {
  requireTool('srt-live-transmit');
  const srtPort = await freePort();
  const udpIn = await freePort();
  const sink = await udpCollect();
  const t = await managerOnMemory();
  let slt = sltListenerFromUdp(udpIn, srtPort);
  try {
    await waitForUdpPort(srtPort, 'the srt-live-transmit listener', slt);
    const gw = await t.m.create('rx', { ServiceName: 'rx-reconnect', Mode: 'caller', TxIp: '127.0.0.1', ListenPort: srtPort, UdpOut: `127.0.0.1:${sink.port}` });
    await until(() => t.m.runtime(gw.id)?.connected === 1, 8000);
    assert.equal((await t.m.get(gw.id)).reconnections, 0);
    await slt.kill();
    await until(() => t.m.runtime(gw.id)?.connected === 2, 8000);
    assert.equal((await t.m.get(gw.id)).connected, 2, 'connecting again after the peer left');
    await eventually(() => t.m.get(gw.id), (g) => g.linkError !== null, { what: 'a failed attempt while the far end is down', timeoutMs: 10_000 });
    slt = sltListenerFromUdp(udpIn, srtPort);
    await until(() => t.m.runtime(gw.id)?.connected === 1, 15000);
    const v = await t.m.get(gw.id);
    assert.deepEqual([v.connected, v.reconnections, v.status], [1, 1, 'running']);
    await sltConnected(slt);
    const msgs = makeMessages(1000);
    await udpSendPaced(udpIn, msgs, 1000);
    await sink.waitFor(msgs.length, 5000);
    assert.equal(diffMessages(msgs, sink.messages), null);
    const evs = (await t.events.list({ type: 'gateway.', target: `gateway:rx:${gw.id}` })).items.map((e) => e.type).reverse();
    assert.deepEqual(evs, ['gateway.connected', 'gateway.disconnected', 'gateway.connected']);
  } finally {
    await t.close();
    await slt.kill();
    sink.close();
  }
});

test('encrypted: TX listener with PassPhrase/PbKeyLen 32 → srt-live-transmit caller; RX caller ← srt-live-transmit listener with passphrase; a wrong PassPhrase never connects', async () => {
  requireTool('srt-live-transmit');
  const pass = 'gateway-secret-42';
  const t = await managerOnMemory();
  const peers: Peer[] = [];
  const sinks = [await udpCollect(), await udpCollect()];
  try {
    // TX listener, encrypted
    const txPort = await freePort();
    const txIn = await freePort();
    const tx = await t.m.create('tx', { ServiceName: 'tx-enc', Mode: 'listener', ListenPort: txPort, UdpIn: `127.0.0.1:${txIn}`, PassPhrase: pass, PbKeyLen: 32 });
    peers.push(sltToUdp(`srt://127.0.0.1:${txPort}?mode=caller&passphrase=${pass}`, sinks[0]!.port));
    await until(() => t.m.runtime(tx.id)?.connected === 1, 8000);
    const txSock = t.m.runtime(tx.id)!.link.socket!;
    assert.ok(txSock, 'connected');
    const a = makeMessages(1000);
    await udpSendPaced(txIn, a, 1000);
    await sinks[0]!.waitFor(a.length, 5000);
    assert.equal(diffMessages(a, sinks[0]!.messages), null);
    assert.equal(txSock.stats().pktSndKMState, 2, 'SRT_KM_S_SECURED');

    // RX caller, encrypted (the listener's sender picks the key length)
    const rxPort = await freePort();
    const rxIn = await freePort();
    peers.push(sltListenerFromUdp(rxIn, rxPort, `&passphrase=${pass}&pbkeylen=24`));
    await waitForUdpPort(rxPort, 'the srt-live-transmit listener', peers[1]);
    const rx = await t.m.create('rx', { ServiceName: 'rx-enc', Mode: 'caller', TxIp: '127.0.0.1', ListenPort: rxPort, UdpOut: `127.0.0.1:${sinks[1]!.port}`, PassPhrase: pass });
    await until(() => t.m.runtime(rx.id)?.connected === 1, 8000);
    assert.equal(t.m.runtime(rx.id)?.connected, 1);
    await sltConnected(peers[1]!);
    const b = makeMessages(1000);
    await udpSendPaced(rxIn, b, 1000);
    await sinks[1]!.waitFor(b.length, 5000);
    assert.equal(diffMessages(b, sinks[1]!.messages), null);

    // wrong passphrase: keeps trying, says why, never connects
    const badPort = await freePort();
    const badIn = await freePort();
    peers.push(sltListenerFromUdp(badIn, badPort, `&passphrase=${pass}`));
    await waitForUdpPort(badPort, 'the srt-live-transmit listener', peers[2]);
    const bad = await t.m.create('rx', { ServiceName: 'rx-bad', Mode: 'caller', TxIp: '127.0.0.1', ListenPort: badPort, UdpOut: `127.0.0.1:${sinks[1]!.port}`, PassPhrase: 'not-the-right-one' });
    const v = await eventually(() => t.m.get(bad.id), (g) => g.linkError !== null, { what: 'the gateway with the wrong PassPhrase reports why', timeoutMs: 8000 });
    assert.equal(v.connected, 2);
    assert.match(v.linkError ?? '', /passphrase|rejected/i);
  } finally {
    await t.close();
    for (const p of peers) await p.kill();
    for (const s of sinks) s.close();
  }
});

test('a port that cannot be bound marks that gateway failed with the reason; the others start; 409 on a taken ListenPort or ServiceName', async () => {
  const t = await managerOnMemory();
  const dgram = await import('node:dgram');
  const squatter = dgram.createSocket('udp4');
  const busy = await freePort();
  await new Promise<void>((r) => squatter.bind(busy, '0.0.0.0', () => r()));
  try {
    const free = await freePort();
    const sinkPort = await freePort();
    const bad = await t.m.create('rx', { ServiceName: 'blocked', Mode: 'listener', ListenPort: busy, UdpOut: `127.0.0.1:${sinkPort}` });
    assert.equal(bad.status, 'failed');
    assert.match(bad.error ?? '', /EADDRINUSE/);
    const good = await t.m.create('rx', { ServiceName: 'fine', Mode: 'listener', ListenPort: free, UdpOut: `127.0.0.1:${sinkPort}` });
    assert.equal(good.status, 'running');
    await assert.rejects(t.m.create('tx', { ServiceName: 'clash', Mode: 'listener', ListenPort: free, UdpIn: '127.0.0.1:5999' }), /ListenPort \d+ is bound by the listener of RX gateway/);
    await assert.rejects(t.m.create('rx', { ServiceName: 'fine', Mode: 'caller', TxIp: '10.0.0.1', ListenPort: 7000, UdpOut: `127.0.0.1:${sinkPort}` }), /ServiceName "fine" is used by RX gateway/);
    // a TX may have the same ServiceName as an RX
    const tx = await t.m.create('tx', { ServiceName: 'fine', Mode: 'caller', RxIp: '127.0.0.1', ListenPort: free, UdpIn: `127.0.0.1:${await freePort()}` }, false);
    assert.equal(tx.status, 'stopped');
    // startActive after a "reboot": the failed one fails again, the others run
    await t.m.closeAll();
    await t.m.startActive();
    const list = await t.m.list();
    assert.deepEqual(list.map((g) => [g.name, g.kind, g.status]), [['blocked', 'rx', 'failed'], ['fine', 'rx', 'running'], ['fine', 'tx', 'stopped']]);
    const evs = (await t.events.list({ type: 'gateway.failed' })).items;
    assert.equal(evs.length, 2);
    assert.match(evs[0]!.message, /RX gateway "blocked" cannot start: .*EADDRINUSE/);
  } finally {
    squatter.close();
    await t.close();
  }
});
