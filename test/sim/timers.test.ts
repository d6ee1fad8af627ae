// RTT estimation, keepalive / peer idle timeout and SHUTDOWN, on simulated time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CtrlType, decodePacket } from '../../src/protocol/packet.js';
import { missingIndices, orderViolation, simulatePair, type Endpoint } from '../support/simulator.js';
import { fileTimeout } from '../support/file-timeout.js';

fileTimeout();

const TOL_US = 2_000;

function isControl(d: Buffer, type: number): boolean {
  const p = decodePacket(d);
  return p.kind === 'control' && p.type === type;
}

test('ACK/ACKACK RTT estimate converges to the simulated RTT (within 20%)', () => {
  const cases = [
    { fwd: 10_000, bwd: 10_000, jitter: 0, loss: 0 },
    { fwd: 15_000, bwd: 35_000, jitter: 3_000, loss: 0 },
    { fwd: 5_000, bwd: 5_000, jitter: 2_000, loss: 0.02 },
    { fwd: 100_000, bwd: 60_000, jitter: 0, loss: 0.05 },
    // 80 full ACKs in flight: the ACK table must grow past its initial 32 entries
    { fwd: 400_000, bwd: 400_000, jitter: 0, loss: 0 },
  ];
  for (const c of cases) {
    for (const seed of [1, 2, 3]) {
      // the mean round trip: both one-way delays plus the mean jitter of each direction
      const rtt = c.fwd + c.bwd + c.jitter;
      const m = `seed=${seed} fwd=${c.fwd} bwd=${c.bwd} jitter=${c.jitter} loss=${c.loss} rtt=${rtt}µs`;
      const p = simulatePair({
        seed, sender: 'both', messages: 2000, rate: 1000, drainUs: 300_000,
        forward: { delayUs: c.fwd, jitterUs: c.jitter, loss: c.loss },
        backward: { delayUs: c.bwd, jitterUs: c.jitter, loss: c.loss },
        caller: { latency: 4 * Math.ceil(rtt / 1000) },
      });
      for (const e of [p.caller, p.listener]) {
        const conn = e.conn!;
        assert.ok(Math.abs(conn.srtt - rtt) <= 0.2 * rtt, `${e.name} SRTT ${conn.srtt} µs, ${m}`);
        assert.ok(conn.rttVar <= 0.5 * rtt, `${e.name} RTTVar ${conn.rttVar} µs, ${m}`);
        const s = conn.stats(p.sim.now);
        assert.ok(Math.abs(s.msRTT * 1000 - rtt) <= 0.2 * rtt, `${e.name} msRTT ${s.msRTT}, ${m}`);
      }
    }
  }
});

test('a sender that only sends takes the RTT from the receiver\'s ACKs', () => {
  for (const seed of [1, 2]) {
    const m = `seed=${seed}`;
    const p = simulatePair({ seed, messages: 1500, rate: 1000, forward: { delayUs: 30_000 }, backward: { delayUs: 20_000 }, drainUs: 300_000 });
    // the caller receives no data, so it never gets an ACKACK sample of its own
    assert.ok(Math.abs(p.listener.conn!.srtt - 50_000) <= 1, `receiver SRTT ${p.listener.conn!.srtt}, ${m}`);
    assert.ok(Math.abs(p.caller.conn!.srtt - 50_000) <= 0.2 * 50_000, `sender SRTT ${p.caller.conn!.srtt}, ${m}`);
  }
});

test('an idle connection lives on keepalives (no timeout in 12 s of silence)', () => {
  for (const seed of [1, 2]) {
    const m = `seed=${seed}`;
    let keepalives = 0;
    const p = simulatePair({
      seed, messages: 10, rate: 100, drainUs: 12_000_000,
      forward: { delayUs: 20_000 },
      backward: { delayUs: 20_000 },
      onConnected: (pair) => {
        pair.forward.tap = (fate, d) => {
          if (fate === 'queued' && isControl(d, CtrlType.Keepalive)) keepalives++;
        };
      },
    });
    assert.equal(p.caller.closed, null, m);
    assert.equal(p.listener.closed, null, m);
    assert.deepEqual(p.listener.deliveredIndices(), [...Array(10).keys()], m);
    // one keepalive per second of silence from the caller
    assert.ok(keepalives >= 10 && keepalives <= 13, `caller keepalives: ${keepalives}, ${m}`);
  }
});

test('peer idle timeout: with the link cut, both sides close with "timeout" after peeridletimeo', () => {
  for (const [seed, idleMs] of [[1, 5000], [2, 5000], [3, 2000]] as const) {
    const m = `seed=${seed} peeridletimeo=${idleMs}`;
    let cut = NaN;
    const p = simulatePair({
      seed, messages: 20_000, rate: 1000, // the caller keeps streaming into the void
      forward: { delayUs: 25_000, loss: 0.02 }, backward: { delayUs: 25_000, loss: 0.02 },
      caller: { peeridletimeo: idleMs }, listener: { peeridletimeo: idleMs },
      onConnected: (pair) => {
        cut = pair.sim.now + 700_000;
        pair.sim.at(cut, () => {
          pair.forward.up = false;
          pair.backward.up = false;
        });
      },
      stopWhen: (pair) => pair.caller.closed !== null && pair.listener.closed !== null,
    });
    for (const e of [p.caller, p.listener]) {
      assert.ok(e.closed, `${e.name} closed, ${m}`);
      assert.equal(e.closed.reason, 'timeout', `${e.name}, ${m}`);
      const idle = e.closed.time - e.lastArrival;
      assert.ok(idle >= idleMs * 1000 && idle <= idleMs * 1000 + 10_000, `${e.name} closed after ${idle} µs of silence, ${m}`);
      assert.ok(e.closed.time - cut >= idleMs * 1000 && e.closed.time - cut <= idleMs * 1000 + 100_000, `${e.name}, ${m}`);
      assert.equal(e.conn!.state, 'closed', m);
    }
    assert.ok(p.caller.sendRefused > 0, `sending fails once closed, ${m}`);
    // whatever the listener had buffered was handed over when it gave up
    const idx = p.listener.deliveredIndices();
    assert.equal(orderViolation(idx), null, m);
    assert.equal(p.listener.conn!.receiver.bufferedPackets(), 0, m);
    assert.ok(p.sim.now - cut < (idleMs + 1000) * 1000, `simulation stopped soon after the close, ${m}`);
  }
});

/** Every message in [0, n) reached `e` and was delivered exactly once, in order. */
function assertDeliveredAll(e: Endpoint, n: number, m: string): void {
  assert.equal(orderViolation(e.deliveredIndices()), null, m);
  assert.deepEqual(missingIndices(e, n), [], `${e.name} missing, ${m}`);
  assert.equal(e.deliveries.length, n, m);
}

test('SHUTDOWN: the peer closes with "peer" and delivers everything it had buffered', () => {
  for (const seed of [1, 2, 3]) {
    for (const closer of ['caller', 'listener'] as const) {
      const m = `seed=${seed} closer=${closer}`;
      let closeAt = NaN;
      const p = simulatePair({
        seed, sender: closer, messages: 2000, rate: 1000,
        forward: { delayUs: 20_000 }, backward: { delayUs: 20_000 },
        caller: { latency: 200 },
        onConnected: (pair) => {
          closeAt = pair.sim.now + 1_000_000;
          pair.sim.at(closeAt, () => (closer === 'caller' ? pair.caller : pair.listener).close());
        },
      });
      const tx = closer === 'caller' ? p.caller : p.listener;
      const rx = tx.peer;
      assert.equal(tx.closed?.reason, 'local', m);
      assert.equal(tx.closed?.time, closeAt, m);
      assert.equal(rx.closed?.reason, 'peer', m);
      assert.equal(rx.closed?.time, closeAt + 20_000, `the peer closes when the SHUTDOWN arrives, ${m}`);
      // everything submitted before the close was on the wire and is delivered, in order
      const sent = tx.sentAt.filter((t) => t < closeAt).length;
      assert.equal(sent, 1000, m);
      assertDeliveredAll(rx, sent, m);
      const flushed = rx.deliveries.filter((d) => d.afterClose);
      assert.ok(flushed.length >= 150, `~200 ms of buffered data flushed at close (${flushed.length}), ${m}`);
      for (const d of rx.deliveries) {
        if (d.afterClose) assert.equal(d.time, rx.closed!.time, `flushed at once, ${m}`);
        else assert.ok(Math.abs(d.time - d.playTime) <= TOL_US, `message ${d.index} on time, ${m}`);
      }
      assert.equal(rx.conn!.receiver.bufferedPackets(), 0, m);
      assert.equal(rx.conn!.pollDelivery(p.sim.now), null, m);
    }
  }
});

test('SHUTDOWN after a lossy stream: everything that reached the receiver is delivered', () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    const m = `seed=${seed}`;
    let closeAt = NaN;
    const p = simulatePair({
      seed, messages: 2000, rate: 1000,
      forward: { delayUs: 30_000, loss: 0.1 }, backward: { delayUs: 30_000, loss: 0.1 },
      caller: { latency: 300 },
      onConnected: (pair) => {
        closeAt = pair.sim.now + 1_000_000;
        pair.sim.at(closeAt, () => {
          pair.forward.loss = 0; // the SHUTDOWN itself gets through (see the next test otherwise)
          pair.caller.close();
        });
      },
    });
    const rx = p.listener;
    assert.equal(rx.closed?.reason, 'peer', m);
    const idx = rx.deliveredIndices();
    assert.equal(orderViolation(idx), null, m);
    // delivered == every message whose packet arrived (holes at the end are skipped and counted)
    const arrived = [...rx.arrived.keys()].sort((a, b) => a - b);
    assert.deepEqual(idx, arrived, `delivered exactly what arrived, ${m}`);
    const rs = rx.conn!.stats(p.sim.now);
    const lastArrived = arrived.at(-1)!;
    assert.equal(idx.length + rs.pktRcvDropTotal, lastArrived + 1, `holes before the last arrival are counted as dropped, ${m}`);
  }
});

test('a lost SHUTDOWN is noticed through the idle timeout; buffered data is still delivered', () => {
  const seed = 4;
  let closeAt = NaN;
  const p = simulatePair({
    seed, messages: 3000, rate: 1000, drainUs: 7_000_000,
    forward: { delayUs: 20_000, drop: (d) => isControl(d, CtrlType.Shutdown) },
    backward: { delayUs: 20_000 },
    caller: { latency: 200 },
    onConnected: (pair) => {
      closeAt = pair.sim.now + 1_000_000;
      pair.sim.at(closeAt, () => pair.caller.close());
    },
    stopWhen: (pair) => pair.listener.closed !== null,
  });
  const rx = p.listener;
  assert.equal(rx.closed?.reason, 'timeout', `seed=${seed}`);
  assert.ok(Math.abs(rx.closed!.time - (closeAt + 20_000 + 5_000_000)) <= 1_000, `seed=${seed}`);
  assertDeliveredAll(rx, 1000, `seed=${seed}`);
  // with no SHUTDOWN the buffered data played out at its own time, before the timeout
  assert.equal(rx.deliveries.filter((d) => d.afterClose).length, 0, `seed=${seed}`);
});
