// Too-late packet drop when loss outruns the latency: libsrt semantics (SRT-DIGEST §5).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { orderViolation, simulatePair, type Pair } from '../support/simulator.js';
import { fileTimeout } from '../support/file-timeout.js';

fileTimeout();

const TOL_US = 2_000;

/**
 * The invariants of a TLPKTDROP receiver: strictly increasing delivery (no duplicates, nothing
 * corrupted), every message either delivered or counted in pktRcvDrop, and the stream runs to the
 * end (the clean tail is complete).
 */
function assertAccounted(p: Pair, m: string): { delivered: number; rcvDrop: number; sndDrop: number } {
  const rx = p.listener, tx = p.caller;
  const idx = rx.deliveredIndices();
  assert.equal(orderViolation(idx), null, m);
  const rs = rx.conn!.stats(p.sim.now);
  const ss = tx.conn!.stats(p.sim.now);
  const sent = tx.sentAt.filter((t) => !Number.isNaN(t)).length;
  assert.equal(sent, p.total, `the application could send everything, ${m}`);
  // sender-dropped packets reach the receiver's count through DROPREQ (or its own TLPKTDROP)
  assert.equal(idx.length + rs.pktRcvDropTotal, sent,
    `delivered ${idx.length} + pktRcvDrop ${rs.pktRcvDropTotal} (pktSndDrop ${ss.pktSndDropTotal}) != sent ${sent}, ${m}`);
  // the stream goes on: the tail is delivered completely
  const got = new Set(idx);
  for (let i = p.messages; i < p.total; i++) assert.ok(got.has(i), `tail message ${i} missing, ${m}`);
  assert.equal(rx.conn!.receiver.loss.isEmpty(), true, `receiver loss list drained, ${m}`);
  return { delivered: idx.length, rcvDrop: rs.pktRcvDropTotal, sndDrop: ss.pktSndDropTotal };
}

test('latency 20 ms, RTT 100 ms, 10% loss: lost packets are dropped on time, never delivered late', () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    const m = `seed=${seed}`;
    const p = simulatePair({
      seed, messages: 3000, tail: 300, rate: 1500,
      forward: { loss: 0.1, delayUs: 50_000 }, backward: { loss: 0.1, delayUs: 50_000 },
      caller: { latency: 20 },
    });
    const { rcvDrop } = assertAccounted(p, m);
    assert.ok(rcvDrop > 0, `a retransmission needs ≥ 100 ms, so some packets must be dropped, ${m}`);
    // nothing is held past its play time: a missing packet is skipped when its successor plays
    for (const d of p.listener.deliveries) {
      if (d.time > d.playTime + TOL_US || d.time < d.playTime - 1) {
        assert.fail(`message ${d.index} delivered ${(d.time - d.playTime) / 1000} ms off its play time, ${m}`);
      }
    }
    const rs = p.listener.conn!.stats(p.sim.now);
    // retransmissions that arrive after their slot was given up are discarded as belated
    assert.ok(rs.pktRcvBelatedTotal > 0, `belated retransmissions counted, ${m}`);
    assert.equal(rs.pktRcvBuf, 0, m);
  }
});

// A link outage: everything sent during it is lost, in both directions. As in libsrt (core.cpp
// tsbpd(), buffer_rcv.cpp insert()), a retransmitted packet that reaches the head of the receive
// buffer after its play time is still delivered — at once — so the packets of the outage come out
// late, in a burst; only what the sender gave up (older than max(latency, 1 s) + 20 ms) or what a
// later packet's play time overtook is dropped. The receiver itself never holds a packet beyond
// max(play time, arrival), and the stream is back on schedule right after the outage.
for (const outageMs of [500, 1500]) {
  test(`a ${outageMs} ms outage in the middle: ordered, accounted, back on time after it`, () => {
    for (const seed of [1, 2, 3]) {
      const m = `seed=${seed} outage=${outageMs}ms`;
      let outage: [number, number] = [0, 0];
      const p = simulatePair({
        seed, messages: 4000, tail: 300, rate: 1000,
        forward: { loss: 0.01, delayUs: 20_000 }, backward: { loss: 0.01, delayUs: 20_000 },
        caller: { latency: 120 },
        onConnected: (pair) => {
          outage = [pair.sim.now + 1_000_000, pair.sim.now + 1_000_000 + outageMs * 1000];
          pair.forward.outages.push(outage);
          pair.backward.outages.push([...outage]);
        },
      });
      const { sndDrop, rcvDrop } = assertAccounted(p, m);
      const rx = p.listener;
      let late = 0;
      for (const d of rx.deliveries) {
        const arrival = rx.arrived.get(d.index)!;
        assert.ok(d.time <= Math.max(d.playTime, arrival) + TOL_US,
          `message ${d.index} delivered ${(d.time - Math.max(d.playTime, arrival)) / 1000} ms after it was due and present, ${m}`);
        assert.ok(d.time >= d.playTime - 1, `message ${d.index} delivered before its play time, ${m}`);
        if (d.time > d.playTime + TOL_US) {
          late++;
          // only packets caught in the outage can be late
          assert.ok(d.sentAt >= outage[0] - 200_000 && d.sentAt < outage[1], `message ${d.index} late outside the outage, ${m}`);
        }
        // after the outage (plus the time to catch up) the stream is on schedule again
        if (d.sentAt > outage[1] + 200_000) {
          assert.ok(d.time <= d.playTime + TOL_US, `message ${d.index} late after the outage, ${m}`);
        }
      }
      assert.ok(late > 0, `the outage's packets were recovered late, ${m}`);
      if (outageMs > 1020) {
        assert.ok(sndDrop > 0, `the sender dropped packets older than 1.02 s, ${m}`);
        // (not necessarily all of them: some had arrived and only their ACK was lost)
        assert.ok(rcvDrop > 0, `…and the receiver gave up the ones it never got (DROPREQ), ${m}`);
      }
      const rs = rx.conn!.stats(p.sim.now);
      assert.equal(rs.pktRcvBuf, 0, m);
      assert.equal(rx.closed, null, `the connection survives the outage, ${m}`);
      assert.equal(p.caller.closed, null, m);
    }
  });
}
