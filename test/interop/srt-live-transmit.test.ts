// Interop with Debian's srt-live-transmit (libsrt 1.5.1), both directions, byte-exact.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { listen, dial } from '../../src/transport/api.js';
import type { SrtSocket } from '../../src/transport/socket.js';
import { SRT_REJ, SRT_REJX } from '../../src/protocol/reject.js';
import { diffMessages, freePort, makeMessages, requireTool, sleep, sltConnected, spawnPeer, udpCollect, udpDrops, udpSendPaced, until, waitForOutput, waitForUdpPort, type Peer } from '../support/peers.js';
import { nextEvent } from '../support/wait.js';
import { LossyRelay } from '../support/relay.js';
import { fileTimeout } from '../support/file-timeout.js';

fileTimeout();

requireTool('srt-live-transmit');

async function waitConnection(srv: Awaited<ReturnType<typeof listen>>, timeoutMs = 10_000): Promise<SrtSocket> {
  const [s] = await nextEvent<[SrtSocket]>(srv, 'connection', { what: 'srt-live-transmit connects to the Sluice listener', timeoutMs });
  return s;
}

/**
 * Messages sent after the ones checked when the relay loses packets. In live mode a receiver
 * learns of a loss from the next packet, and a sender whose peer sends periodic NAK reports
 * never retransmits blindly (libsrt's checkRexmitTimer does the same): a lost last packet is
 * only repaired if traffic goes on, so the stream goes on for 0.1 s after the checked part.
 */
function tailFor(loss: number): number {
  return loss > 0 ? 100 : 0;
}

async function sltCallerToSluice(opts: { loss: number; n: number; seed: number }): Promise<void> {
  const srtPort = await freePort();
  const udpIn = await freePort();
  const srv = await listen({ host: '127.0.0.1', port: srtPort });
  let relay: LossyRelay | null = null;
  let slt: Peer | null = null;
  const got: Buffer[] = [];
  try {
    let target = srtPort;
    if (opts.loss > 0) {
      relay = new LossyRelay({ targetPort: srtPort, lossToTarget: opts.loss, lossToClient: opts.loss, seed: opts.seed });
      target = await relay.start();
    }
    const conn = waitConnection(srv);
    slt = spawnPeer('srt-live-transmit', ['-v', `udp://127.0.0.1:${udpIn}`, `srt://127.0.0.1:${target}?mode=caller&streamid=interop-${opts.seed}&latency=200`]);
    const s = await conn;
    assert.equal(s.streamId, `interop-${opts.seed}`);
    s.on('data', (d: Buffer) => got.push(d));
    await sltConnected(slt); // it discards its UDP input until then
    const drops = udpDrops(udpIn);
    const all = makeMessages(opts.n + tailFor(opts.loss));
    const msgs = all.slice(0, opts.n);
    await udpSendPaced(udpIn, all, 1000);
    await until(() => got.length >= msgs.length, 10_000).catch(() => {}); // the assertion below reports what is missing
    const diff = diffMessages(msgs, got.slice(0, msgs.length));
    const st = s.stats();
    assert.equal(diff, null, `${diff} (stats: loss ${st.pktRcvLossTotal}, retrans ${st.pktRcvRetransTotal}, drop ${st.pktRcvDropTotal}; relay dropped ${JSON.stringify(relay?.dropped)}; `
      + `srt-live-transmit's UDP input dropped ${udpDrops(udpIn) - drops} datagrams in the kernel)`);
    if (relay) {
      assert.ok(relay.dropped.toTarget > 0, 'the relay dropped packets');
      assert.ok(st.pktRcvLossTotal > 0 && st.pktRcvRetransTotal > 0, 'losses were detected and repaired by retransmission');
    }
  } finally {
    await slt?.kill();
    relay?.close();
    await srv.close();
  }
}

async function sluiceCallerToSlt(opts: { loss: number; n: number; seed: number }): Promise<void> {
  const srtPort = await freePort();
  const out = await udpCollect();
  const slt = spawnPeer('srt-live-transmit', ['-q', `srt://127.0.0.1:${srtPort}?mode=listener&latency=200`, `udp://127.0.0.1:${out.port}`]);
  let relay: LossyRelay | null = null;
  try {
    let target = srtPort;
    if (opts.loss > 0) {
      relay = new LossyRelay({ targetPort: srtPort, lossToTarget: opts.loss, lossToClient: opts.loss, seed: opts.seed });
      target = await relay.start();
    }
    await waitForUdpPort(srtPort, 'the srt-live-transmit listener', slt);
    const s = await dial({ host: '127.0.0.1', port: target, streamid: 'to-slt' });
    try {
      const all = makeMessages(opts.n + tailFor(opts.loss));
      const msgs = all.slice(0, opts.n);
      const start = performance.now();
      for (let i = 0; i < all.length; i++) {
        const due = start + i; // 1000 packets/s
        const wait = due - performance.now();
        if (wait > 1) await sleep(wait);
        s.write(all[i]!);
      }
      await out.waitFor(msgs.length, 5000, () => { const x = s.stats(); return `stats: sent ${x.pktSentTotal}, retrans ${x.pktRetransTotal}, NAKs ${x.pktRecvNAKTotal}, sndDrop ${x.pktSndDropTotal}`; });
      const st = s.stats();
      const diff = diffMessages(msgs, out.messages.slice(0, msgs.length));
      assert.equal(diff, null, `${diff} (stats: sent ${st.pktSentTotal}, retrans ${st.pktRetransTotal}, NAKs ${st.pktRecvNAKTotal}, sndDrop ${st.pktSndDropTotal})`);
      if (relay) assert.ok(st.pktRetransTotal > 0, 'lost packets were retransmitted');
    } finally {
      s.destroy();
    }
  } finally {
    await slt.kill();
    relay?.close();
    out.close();
  }
}

test('srt-live-transmit caller -> Sluice listener, byte-exact', () => sltCallerToSluice({ loss: 0, n: 2000, seed: 1 }));
test('Sluice caller -> srt-live-transmit listener, byte-exact', () => sluiceCallerToSlt({ loss: 0, n: 2000, seed: 2 }));
test('srt-live-transmit caller -> lossy relay (5 % each way) -> Sluice listener, nothing lost', () => sltCallerToSluice({ loss: 0.05, n: 3000, seed: 3 }));
test('Sluice caller -> lossy relay (5 % each way) -> srt-live-transmit listener, nothing lost', () => sluiceCallerToSlt({ loss: 0.05, n: 3000, seed: 4 }));

async function rejectedBy(reason: number): Promise<string> {
  const srtPort = await freePort();
  const udpIn = await freePort();
  const seen: string[] = [];
  const srv = await listen({ host: '127.0.0.1', port: srtPort, accept: (req) => { seen.push(req.streamId); return { reject: reason }; } });
  const slt = spawnPeer('srt-live-transmit', [`udp://127.0.0.1:${udpIn}`, `srt://127.0.0.1:${srtPort}?mode=caller&streamid=#!::r=nope,m=publish`]);
  try {
    await waitForOutput(slt, /reject|Reject|REJECT/, 'srt-live-transmit reports the rejection');
    assert.ok(seen.includes('#!::r=nope,m=publish'), 'the accept hook saw the stream id');
    assert.equal(srv.connectionCount, 0, 'no connection was created');
    return slt.output();
  } finally {
    await slt.kill();
    await srv.close();
  }
}

test('a rejected stream id shows up in srt-live-transmit with the reason Sluice chose', async () => {
  const app = await rejectedBy(SRT_REJX.FORBIDDEN);
  assert.match(app, /Application-defined rejection reason/, app.slice(0, 2000));
  const internal = await rejectedBy(SRT_REJ.BADSECRET);
  assert.match(internal, /Incorrect passphrase/, internal.slice(0, 2000));
});

test('Sluice caller sees the reason an srt-live-transmit listener rejects with', async () => {
  const srtPort = await freePort();
  const sink = await freePort();
  const slt = spawnPeer('srt-live-transmit', ['-q', `srt://127.0.0.1:${srtPort}?mode=listener&passphrase=0123456789abc`, `udp://127.0.0.1:${sink}`]);
  try {
    await waitForUdpPort(srtPort, 'the srt-live-transmit listener', slt);
    await assert.rejects(dial({ host: '127.0.0.1', port: srtPort }), (e: Error & { reason?: number }) => {
      assert.equal(e.reason, SRT_REJ.UNSECURE, e.message);
      assert.match(e.message, /Password required or unexpected/);
      return true;
    });
  } finally {
    await slt.kill();
  }
});
