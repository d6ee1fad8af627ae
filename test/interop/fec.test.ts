// FEC packet filter interop with Debian's srt-live-transmit (libsrt 1.5.1), both directions,
// byte-exact: clean, with chosen data packets dropped (at most one per row and per column, so
// FEC alone must rebuild every one of them, even with arq:never), and through the random lossy
// relay (FEC + ARQ). Plus the handshake rejections (SRT_REJ_FILTER).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { listen, dial } from '../../src/transport/api.js';
import type { SrtSocket } from '../../src/transport/socket.js';
import { SrtRejectedError } from '../../src/transport/errors.js';
import { SRT_REJ } from '../../src/protocol/reject.js';
import { diffMessages, freePort, makeMessages, requireTool, sleep, sltConnected, spawnPeer, udpCollect, udpDrops, udpSendPaced, waitForOutput, waitForUdpPort, type Peer } from '../support/peers.js';
import { nextEvent, waitFor } from '../support/wait.js';
import { LossyRelay } from '../support/relay.js';
import { fileTimeout } from '../support/file-timeout.js';

fileTimeout();

requireTool('srt-live-transmit');

/** First transmissions of data packets (not FEC: msgno 0) whose sequence number is 7 mod 23. */
function pickedDataLoss(m: Buffer, toTarget: boolean): boolean {
  if (!toTarget || m.length < 16 || (m[0]! & 0x80) !== 0) return false;
  const w1 = m.readUInt32BE(4);
  if ((w1 & 0x03ffffff) === 0 || (w1 & 0x04000000) !== 0) return false;
  return (m.readUInt32BE(0) & 0x7fffffff) % 23 === 7;
}

interface Case {
  /** Filter strings of the sender and the receiver side. */
  send: string;
  recv: string;
  loss: 'none' | 'picked' | number;
  n: number;
  seed: number;
}

/** The message indexes (makeMessages: the payload's first 4 bytes) of the data packets the relay dropped. */
const droppedIndexes = new WeakMap<LossyRelay, number[]>();

function relayFor(c: Case, targetPort: number): LossyRelay | null {
  if (c.loss === 'none') return null;
  if (c.loss === 'picked') {
    const idx: number[] = [];
    const relay = new LossyRelay({
      targetPort, lossToTarget: 0, lossToClient: 0, seed: c.seed,
      dropIf: (m, toTarget) => {
        const drop = pickedDataLoss(m, toTarget);
        if (drop) idx.push(m.readUInt32BE(16));
        return drop;
      },
    });
    droppedIndexes.set(relay, idx);
    return relay;
  }
  return new LossyRelay({ targetPort, lossToTarget: c.loss, lossToClient: c.loss, seed: c.seed });
}

/** Messages after the checked ones, so that a loss near the end is noticed (see srt-live-transmit.test.ts). */
const TAIL = 100;

async function sltToSluice(c: Case): Promise<void> {
  const srtPort = await freePort();
  const udpIn = await freePort();
  const srv = await listen({ host: '127.0.0.1', port: srtPort, packetfilter: c.recv });
  const relay = relayFor(c, srtPort);
  const got: Buffer[] = [];
  let slt: Peer | null = null;
  try {
    const target = relay ? await relay.start() : srtPort;
    const conn = nextEvent<[SrtSocket]>(srv, 'connection', { what: 'srt-live-transmit connects' });
    slt = spawnPeer('srt-live-transmit', ['-v', `udp://127.0.0.1:${udpIn}`, `srt://127.0.0.1:${target}?mode=caller&latency=300&packetfilter=${c.send}`]);
    const [s] = await conn;
    s.on('data', (d: Buffer) => got.push(d));
    await sltConnected(slt); // it discards its UDP input until then
    const drops = udpDrops(udpIn);
    const all = makeMessages(c.n + TAIL);
    const msgs = all.slice(0, c.n);
    await udpSendPaced(udpIn, all, 1000);
    await waitFor(() => got.length >= msgs.length, { what: 'every message', timeoutMs: 10_000 }).catch(() => {}); // the assertion says what is missing
    const st = s.stats();
    const diff = diffMessages(msgs, got.slice(0, msgs.length));
    assert.equal(diff, null, `${diff} (filter ${s.packetFilter}; extra ${st.pktRcvFilterExtraTotal}, supply ${st.pktRcvFilterSupplyTotal}, filter loss ${st.pktRcvFilterLossTotal}, loss ${st.pktRcvLossTotal}, retrans ${st.pktRcvRetransTotal}; relay ${JSON.stringify(relay?.dropped)}; `
      + `the kernel dropped ${udpDrops(udpIn) - drops} datagrams at srt-live-transmit's UDP input)`);
    assert.ok(st.pktRcvFilterExtraTotal > 0, 'FEC packets arrived');
    if (c.loss === 'picked') {
      assert.ok(relay!.dropped.toTarget > 20, 'packets were dropped');
      assert.ok(st.pktRcvFilterSupplyTotal > 0, 'FEC rebuilt packets');
      if (s.packetFilter.includes('arq:never')) {
        // every dropped packet of the checked messages was rebuilt (no retransmission with arq:never);
        // of the tail, only those whose row or column is complete by the time of these statistics
        const checked = droppedIndexes.get(relay!)!.filter((i) => i < msgs.length).length;
        const supplied = st.pktRcvFilterSupplyTotal;
        assert.ok(supplied >= checked && supplied <= relay!.dropped.toTarget,
          `FEC rebuilt ${supplied} packets: every one of the ${checked} dropped among the checked messages, at most the ${relay!.dropped.toTarget} dropped in all`);
        assert.equal(st.pktSentNAKTotal, 0, 'no NAK with arq:never');
      }
    }
  } finally {
    await slt?.kill();
    relay?.close();
    await srv.close();
  }
}

async function sluiceToSlt(c: Case): Promise<void> {
  const srtPort = await freePort();
  const out = await udpCollect();
  const q = c.recv;
  const slt = spawnPeer('srt-live-transmit', ['-q', `srt://127.0.0.1:${srtPort}?mode=listener&latency=300&packetfilter=${q}`, `udp://127.0.0.1:${out.port}`]);
  const relay = relayFor(c, srtPort);
  try {
    const target = relay ? await relay.start() : srtPort;
    await waitForUdpPort(srtPort, 'the srt-live-transmit listener', slt);
    const s = await dial({ host: '127.0.0.1', port: target, latency: 300, packetfilter: c.send });
    try {
      const all = makeMessages(c.n + TAIL);
      const msgs = all.slice(0, c.n);
      const start = performance.now();
      for (let i = 0; i < all.length; i++) {
        const wait = start + i - performance.now(); // 1000 packets/s
        if (wait > 1) await sleep(wait);
        s.write(all[i]!);
      }
      const why = (): string => { const x = s.stats(); return `filter ${s.packetFilter}; FEC sent ${x.pktSndFilterExtraTotal}, retrans ${x.pktRetransTotal}, NAKs ${x.pktRecvNAKTotal}; relay ${JSON.stringify(relay?.dropped)}`; };
      await out.waitFor(msgs.length, 5000, why);
      const st = s.stats();
      const diff = diffMessages(msgs, out.messages.slice(0, msgs.length));
      assert.equal(diff, null, `${diff} (filter ${s.packetFilter}; FEC sent ${st.pktSndFilterExtraTotal}, retrans ${st.pktRetransTotal}, NAKs ${st.pktRecvNAKTotal}; relay ${JSON.stringify(relay?.dropped)})`);
      assert.ok(st.pktSndFilterExtraTotal > 0, 'FEC packets were sent');
      if (c.loss === 'picked') {
        assert.ok(relay!.dropped.toTarget > 20, 'packets were dropped');
        if (s.packetFilter.includes('arq:never')) assert.equal(st.pktRetransTotal, 0, 'nothing retransmitted: libsrt rebuilt every packet from our FEC');
      }
    } finally {
      s.destroy();
    }
  } finally {
    await slt.kill();
    relay?.close();
    out.close();
  }
}

let seed = 100;
for (const layout of ['even', 'staircase']) {
  for (const arq of ['always', 'onreq', 'never']) {
    const full = `fec,cols:10,rows:5,layout:${layout},arq:${arq}`;
    test(`srt-live-transmit (${full}) -> Sluice (fec), clean and with picked losses`, async () => {
      await sltToSluice({ send: full, recv: 'fec', loss: 'none', n: 1000, seed: seed++ });
      await sltToSluice({ send: full, recv: 'fec', loss: 'picked', n: 2000, seed: seed++ });
    });
    test(`Sluice (${full}) -> srt-live-transmit (fec), clean and with picked losses`, async () => {
      await sluiceToSlt({ send: full, recv: 'fec', loss: 'none', n: 1000, seed: seed++ });
      await sluiceToSlt({ send: full, recv: 'fec', loss: 'picked', n: 2000, seed: seed++ });
    });
  }
}

test('row-only and column-only FEC, both directions, picked losses rebuilt with arq:never', async () => {
  await sltToSluice({ send: 'fec,cols:8,rows:1,arq:never', recv: 'fec', loss: 'picked', n: 2000, seed: 200 });
  await sluiceToSlt({ send: 'fec,cols:8,rows:1,arq:never', recv: 'fec', loss: 'picked', n: 2000, seed: 201 });
  await sltToSluice({ send: 'fec', recv: 'fec,cols:10,rows:-5,layout:even,arq:never', loss: 'picked', n: 2000, seed: 202 });
  await sluiceToSlt({ send: 'fec,cols:10,rows:-5,layout:even,arq:never', recv: 'fec', loss: 'picked', n: 2000, seed: 203 });
});

test('FEC with ARQ through the random lossy relay (3 % each way), both directions, nothing lost', async () => {
  await sltToSluice({ send: 'fec,cols:10,rows:5,arq:always', recv: 'fec', loss: 0.03, n: 2000, seed: 300 });
  await sluiceToSlt({ send: 'fec,cols:10,rows:5,arq:always', recv: 'fec', loss: 0.03, n: 2000, seed: 301 });
  await sltToSluice({ send: 'fec,cols:10,rows:5,layout:even,arq:onreq', recv: 'fec', loss: 0.03, n: 2000, seed: 302 });
  await sluiceToSlt({ send: 'fec,cols:10,rows:5,layout:even,arq:onreq', recv: 'fec', loss: 0.03, n: 2000, seed: 303 });
});

test('the agreed string: the listener merges, the caller adopts (both sides end up with the same filter)', async (t) => {
  const srtPort = await freePort();
  const sink = await freePort();
  const slt = spawnPeer('srt-live-transmit', ['-q', `srt://127.0.0.1:${srtPort}?mode=listener&packetfilter=fec,cols:10,rows:5`, `udp://127.0.0.1:${sink}`]);
  try {
    await waitForUdpPort(srtPort, 'the srt-live-transmit listener', slt);
    const s = await dial({ host: '127.0.0.1', port: srtPort, packetfilter: 'fec,layout:even', conntimeo: 2000 });
    t.after(() => s.destroy());
    assert.equal(s.packetFilter, 'fec,arq:onreq,cols:10,layout:even,rows:5'); // as libsrt merged it (defaults included)
    s.destroy();
  } finally {
    await slt.kill();
  }
});

test('conflicting filters are rejected with SRT_REJ_FILTER in both roles', async () => {
  // Sluice caller, srt-live-transmit listener
  const srtPort = await freePort();
  const sink = await freePort();
  const slt = spawnPeer('srt-live-transmit', ['-q', `srt://127.0.0.1:${srtPort}?mode=listener&packetfilter=fec,cols:10,rows:5`, `udp://127.0.0.1:${sink}`]);
  try {
    await waitForUdpPort(srtPort, 'the srt-live-transmit listener', slt);
    await assert.rejects(dial({ host: '127.0.0.1', port: srtPort, packetfilter: 'fec,cols:20', conntimeo: 2000 }),
      (e: unknown) => e instanceof SrtRejectedError && e.reason === SRT_REJ.FILTER);
  } finally {
    await slt.kill();
  }
  // srt-live-transmit caller, Sluice listener
  const port2 = await freePort();
  const udpIn = await freePort();
  const srv = await listen({ host: '127.0.0.1', port: port2, packetfilter: 'fec,cols:10,rows:5,arq:never' });
  const rejected = nextEvent<[unknown, number]>(srv, 'rejected', { what: 'Sluice rejects srt-live-transmit' });
  const caller = spawnPeer('srt-live-transmit', [`udp://127.0.0.1:${udpIn}`, `srt://127.0.0.1:${port2}?mode=caller&packetfilter=fec,cols:10,rows:5,arq:always`]);
  try {
    assert.equal((await rejected)[1], SRT_REJ.FILTER);
    await waitForOutput(caller, /Packet Filter settings error/, 'srt-live-transmit reports the filter rejection');
    assert.equal(srv.connectionCount, 0);
  } finally {
    await caller.kill();
    await srv.close();
  }
});
