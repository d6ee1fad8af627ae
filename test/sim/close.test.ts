// Graceful close (SrtSocket.end(), SO_LINGER) in virtual time: a connection state driven by its
// timer through the production endpoint — before ADR 12 it was transport-side Node timers that no
// simulated test could run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeDatagram, missingIndices, orderViolation, simulatePair, type Pair } from '../support/simulator.js';
import { fileTimeout } from '../support/file-timeout.js';

fileTimeout();

const N = 300;
const TAIL = 5;
const RATE = 1000;

/**
 * The caller streams N messages over 10 % loss each way (after a loss-free warm-up in which it
 * learns the RTT), then TAIL over clean links — a lost last packet is never NAKed, libsrt cannot
 * recover it either — and closes 1 µs after the last one, with the losses of the last RTTs still
 * being repaired.
 */
function closeAfterLast(seed: number, how: 'shutdown' | 'close'): { p: Pair; closeAt: number; shutdownSent: number[] } {
  let closeAt = NaN;
  const shutdownSent: number[] = [];
  const p = simulatePair({
    seed, messages: N, tail: TAIL, rate: RATE, drainUs: 8_000_000, warmupUs: 200_000,
    forward: { loss: 0.1, delayUs: 20_000 }, backward: { loss: 0.1, delayUs: 20_000 },
    caller: { latency: 200, linger: 3 },
    onConnected: (pair) => {
      pair.forward.tap = (fate, d, now) => {
        if (fate !== 'delivered' && describeDatagram(d) === 'SHUTDOWN') shutdownSent.push(now);
      };
      closeAt = pair.sim.now + Math.round(((N + TAIL - 1) * 1e6) / RATE) + 1;
      pair.sim.at(closeAt, () => (how === 'shutdown' ? pair.caller.shutdown() : pair.caller.close()));
    },
  });
  return { p, closeAt, shutdownSent };
}

for (const seed of [1, 2, 3, 4, 5]) {
  test(`graceful close under 10 % loss, seed ${seed}: every message played out at its time before SHUTDOWN`, () => {
    const { p, closeAt, shutdownSent } = closeAfterLast(seed, 'shutdown');
    const rx = p.listener;
    assert.equal(orderViolation(rx.deliveredIndices()), null);
    assert.deepEqual(missingIndices(rx, N + TAIL), [], 'the linger waited for the retransmissions');
    // nothing was left for the final flush: the tail was delivered at its play time, before SHUTDOWN
    assert.deepEqual(rx.deliveries.filter((d) => d.afterClose).map((d) => d.index), []);
    for (const d of rx.deliveries) assert.ok(d.time - d.playTime <= 2_000, `message ${d.index} played ${d.time - d.playTime} µs late`);
    assert.equal(p.caller.closed?.reason, 'local');
    assert.equal(rx.closed?.reason, 'peer');
    // one SHUTDOWN (the endpoint sends it on the connection's timer), after the peer's play-out
    assert.equal(shutdownSent.length, 1);
    const lastPlay = Math.max(...rx.deliveries.map((d) => d.playTime));
    assert.ok(shutdownSent[0]! > lastPlay - 20_000, `SHUTDOWN at ${shutdownSent[0]! - closeAt} µs after end(), last play time ${lastPlay - closeAt} µs`);
    assert.equal(p.caller.closed!.time, shutdownSent[0]);
    assert.ok(shutdownSent[0]! - closeAt < 3_000_000, 'drained before the linger expired');
    // the control: closing at once (srt_close without linger) loses what was still in flight
    const hard = closeAfterLast(seed, 'close');
    const lost = missingIndices(hard.p.listener, N + TAIL).length + hard.p.listener.deliveries.filter((d) => d.afterClose).length;
    assert.ok(lost > 0, 'an immediate close leaves the tail undelivered or flushed early');
    assert.equal(hard.shutdownSent[0], hard.closeAt);
  });
}

test('graceful close while the peer is unreachable: SHUTDOWN when the linger expires', () => {
  let closeAt = NaN;
  const p = simulatePair({
    seed: 7, messages: 300, rate: RATE, drainUs: 6_000_000,
    forward: { delayUs: 10_000 }, backward: { delayUs: 10_000 },
    caller: { latency: 120, linger: 3, peeridletimeo: 10_000, snddropdelay: -1 }, // no sender drop: the buffer never drains
    onConnected: (pair) => {
      closeAt = pair.sim.now + 200_000;
      pair.sim.at(closeAt - 50_000, () => { pair.backward.up = false; }); // no more ACKs
      pair.sim.at(closeAt, () => pair.caller.shutdown());
    },
  });
  assert.equal(p.caller.closed?.reason, 'local');
  const waited = p.caller.closed!.time - closeAt;
  assert.ok(waited >= 3_000_000 && waited <= 3_000_000 + 2_000, `SHUTDOWN ${waited} µs after end() (linger 3 s)`);
  assert.equal(p.listener.closed?.reason, 'peer');
  assert.equal(p.caller.sendRefused, 100, 'nothing is sent while closing');
});
