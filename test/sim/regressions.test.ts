// Seeds that once exposed a bug, re-run in the scenario that found them; and determinism itself.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { missingIndices, orderViolation, simulatePair, type Endpoint, type Pair } from '../support/simulator.js';
import { fileTimeout } from '../support/file-timeout.js';

fileTimeout();

type Scenario = (seed: number) => void;

const SCENARIOS: Record<string, Scenario> = {
  /**
   * The caller streams for 500 ms, the link is cut after 300 ms and the application stops. The
   * sender still holds unacknowledged packets and has nothing to send.
   */
  cutWhileSenderHoldsData(seed) {
    const p = simulatePair({
      seed, messages: 500, rate: 1000, drainUs: 8_000_000,
      forward: { delayUs: 20_000 }, backward: { delayUs: 20_000 },
      onConnected: (pair) => pair.sim.at(pair.sim.now + 300_000, () => {
        pair.forward.up = false;
        pair.backward.up = false;
      }),
    });
    for (const e of [p.caller, p.listener]) assert.equal(e.closed?.reason, 'timeout', `${e.name} seed=${seed}`);
  },

  /** 30% loss, and the stream simply ends: its last packets may be lost with nothing after them. */
  lossyStreamWithoutTail(seed) {
    const p = simulatePair({
      seed, messages: 200, rate: 1000, drainUs: 3_000_000,
      forward: { loss: 0.3, delayUs: 20_000 }, backward: { loss: 0.3, delayUs: 20_000 },
      caller: { conntimeo: 10_000 },
    });
    assert.equal(orderViolation(p.listener.deliveredIndices()), null, `seed=${seed}`);
  },

  /** The handshake test's setup: 30% loss each way, data both ways over a clean link afterwards. */
  lossyHandshakeThenData(seed) {
    const p = simulatePair({
      seed, sender: 'both', messages: 0, tail: 100, rate: 1000,
      forward: { loss: 0.3, delayUs: 15_000 }, backward: { loss: 0.3, delayUs: 15_000 },
      caller: { rcvlatency: 200, peerlatency: 80, conntimeo: 10_000 },
      listener: { rcvlatency: 150, peerlatency: 250 },
    });
    assert.equal(p.caller.tsbpdOffset, 15_000, `caller TSBPD base seed=${seed}`);
    assert.equal(p.listener.tsbpdOffset, 15_000, `listener TSBPD base seed=${seed}`);
    for (const d of p.caller.deliveries) {
      assert.ok(d.time - d.sentAt <= 250_000 + 15_000 + 2_000, `caller got message ${d.index} after ${d.time - d.sentAt} µs, seed=${seed}`);
    }
    assert.deepEqual(missingIndices(p.caller, 100), [], `seed=${seed}`);
  },

  /**
   * A receive buffer (64 packets) smaller than latency × rate (180 packets): the stream degrades,
   * but every message is delivered at most once and counted otherwise.
   */
  receiveBufferTooSmall(seed) {
    const p = simulatePair({
      seed, messages: 3000, tail: 300, rate: 1500,
      forward: { delayUs: 20_000 }, backward: { delayUs: 20_000 },
      caller: { latency: 120 }, listener: { rcvbuf: 64 * 1472 },
    });
    const idx = p.listener.deliveredIndices();
    assert.equal(orderViolation(idx), null, `seed=${seed}`);
    const rs = p.listener.conn!.stats(p.sim.now);
    assert.equal(idx.length + rs.pktRcvDropTotal, 3300, `delivered ${idx.length} + pktRcvDrop ${rs.pktRcvDropTotal}, seed=${seed}`);
  },
};

/**
 * Each entry: the seed, the scenario, and what was wrong. Add a line whenever a seed fails.
 */
const REGRESSIONS: { seed: number; scenario: keyof typeof SCENARIOS; bug: string }[] = [
  // Connection.nextDeadline() returned lastSendTime + 100 ms whenever the send buffer held data, but
  // handleTimeout() did not move lastSendTime unless it sent something: the deadline stayed in the
  // past and the driver spun (setTimeout 0 in mux.ts, an endless loop on a fake clock) until the
  // next keepalive, then again a second later.
  { seed: 1, scenario: 'cutWhileSenderHoldsData', bug: 'busy timer loop while the sender holds unacknowledged data' },
  { seed: 4, scenario: 'lossyStreamWithoutTail', bug: 'busy timer loop while the sender holds unacknowledged data' },
  // ListenerCore answered a repeated conclusion with the cached datagram including its old
  // timestamp; the caller takes its TSBPD time base from that timestamp, so it played everything
  // from the listener late by the age of the cached answer (here 250–1250 ms on top of latency).
  { seed: 1, scenario: 'lossyHandshakeThenData', bug: 'stale timestamp on a repeated conclusion response' },
  { seed: 2, scenario: 'lossyHandshakeThenData', bug: 'stale timestamp on a repeated conclusion response' },
  { seed: 7, scenario: 'lossyHandshakeThenData', bug: 'stale timestamp on a repeated conclusion response' },
  { seed: 19, scenario: 'lossyHandshakeThenData', bug: 'stale timestamp on a repeated conclusion response' },
  { seed: 25, scenario: 'lossyHandshakeThenData', bug: 'stale timestamp on a repeated conclusion response' },
  // Receiver.onData counted a packet beyond the receive buffer's end in pktRcvDrop, although it
  // stays in the sender's buffer and is delivered after a NAK: delivered + pktRcvDrop > sent.
  { seed: 1, scenario: 'receiveBufferTooSmall', bug: 'pktRcvDrop counted packets that were later delivered' },
];

for (const r of REGRESSIONS) {
  test(`regression seed=${r.seed} ${r.scenario}: ${r.bug}`, () => {
    SCENARIOS[r.scenario]!(r.seed);
  });
}

/** Everything observable about a run, for comparing two runs. */
function fingerprint(p: Pair): string {
  const s = (e: Endpoint): unknown => ({
    deliveries: e.deliveries.map((d) => [d.index, d.time]),
    closed: e.closed,
    stats: e.conn ? e.conn.stats(p.sim.now) : null,
  });
  return JSON.stringify({
    connectedAt: p.connectedAt, events: p.sim.eventsRun, now: p.sim.now,
    caller: s(p.caller), listener: s(p.listener), fwd: p.forward.stats, bwd: p.backward.stats,
  });
}

test('the simulation is a pure function of its seed', () => {
  const run = (seed: number): string => fingerprint(simulatePair({
    seed, sender: 'both', messages: 1000, tail: 100, rate: 1500,
    forward: { loss: 0.05, delayUs: 20_000, jitterUs: 3_000, duplicate: 0.02 },
    backward: { loss: 0.05, delayUs: 25_000, jitterUs: 3_000, duplicate: 0.02 },
  }));
  for (const seed of [1, 2]) assert.equal(run(seed), run(seed), `seed=${seed}`);
  assert.notEqual(run(1), run(2), 'different seeds give different runs');
});
