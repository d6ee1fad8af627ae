// Long runs on simulated time: clock drift (the TSBPD drift tracer) and the 32-bit timestamp wrap.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { missingIndices, orderViolation, simulatePair } from '../support/simulator.js';
import { fileTimeout } from '../support/file-timeout.js';

fileTimeout();

const MINUTE = 60_000_000;

function drifting(seed: number, ppm: number, drifttracer: boolean, minutes: number) {
  const rate = 100;
  const p = simulatePair({
    seed, messages: rate * minutes * 60, tail: 100, rate, callerClockPpm: ppm,
    forward: { delayUs: 20_000, jitterUs: 1_000, loss: 0.002 },
    backward: { delayUs: 20_000, jitterUs: 1_000, loss: 0.002 },
    caller: { latency: 120, drifttracer }, listener: { drifttracer },
    maxEvents: 10_000_000,
  });
  const e2e = p.listener.deliveries.map((d) => d.time - d.sentAt);
  return { p, e2e, nominal: e2e[0]! };
}

test('clock drift of ±200 ppm: the drift tracer keeps the end-to-end delay at latency + one-way delay', () => {
  for (const [seed, ppm] of [[1, -200], [2, 200]] as const) {
    const m = `seed=${seed} caller clock ${ppm} ppm`;
    const { p, e2e, nominal } = drifting(seed, ppm, true, 5);
    assert.ok(Math.abs(nominal - 141_000) <= 2_000, `initial end-to-end delay ${nominal} µs, ${m}`);
    const idx = p.listener.deliveredIndices();
    assert.equal(orderViolation(idx), null, m);
    assert.deepEqual(missingIndices(p.listener, p.total), [], m);
    assert.equal(p.listener.conn!.stats(p.sim.now).pktRcvDropTotal, 0, m);
    // 5 min at 200 ppm is 60 ms of drift; the tracer moves the time base in 5 ms steps
    for (let i = 0; i < e2e.length; i++) {
      if (Math.abs(e2e[i]! - nominal) > 8_000) assert.fail(`message ${idx[i]} took ${e2e[i]} µs (nominal ${nominal}), ${m}`);
    }
  }
});

test('the same drift without the drift tracer moves the delay by the full 60 ms (control)', () => {
  const { e2e, nominal } = drifting(1, -200, false, 5);
  const last = e2e[e2e.length - 1]!;
  assert.ok(nominal - last > 55_000, `end-to-end delay went from ${nominal} to ${last} µs, seed=1`);
});

test('timestamps wrap after 2^32 µs (71.6 min): the stream goes on, exactly once and on time', () => {
  const seed = 3;
  const rate = 10;
  const minutes = 73;
  const p = simulatePair({
    seed, messages: rate * minutes * 60, tail: 20, rate,
    forward: { delayUs: 20_000, jitterUs: 2_000, loss: 0.005 },
    backward: { delayUs: 20_000, jitterUs: 2_000, loss: 0.005 },
    caller: { latency: 250 },
    maxEvents: 10_000_000,
  });
  const m = `seed=${seed}`;
  const rx = p.listener;
  assert.equal(rx.closed, null, m);
  assert.equal(p.caller.closed, null, m);
  const idx = rx.deliveredIndices();
  assert.equal(orderViolation(idx), null, m);
  assert.deepEqual(missingIndices(rx, p.total), [], m);
  assert.equal(rx.conn!.stats(p.sim.now).pktRcvDropTotal, 0, m);
  const wrap = p.startTime + 2 ** 32;
  let aroundWrap = 0;
  for (const d of rx.deliveries) {
    // the drift tracer may move the time base by a fraction of the jitter
    if (d.time > d.playTime + 2_000 || d.time < d.playTime - 1_000) {
      assert.fail(`message ${d.index} sent ${(d.sentAt - p.startTime) / MINUTE} min in: ${(d.time - d.playTime) / 1000} ms off, ${m}`);
    }
    if (Math.abs(d.sentAt - wrap) < 10_000_000) aroundWrap++;
  }
  assert.ok(aroundWrap >= 190, `the stream crossed the wrap (${aroundWrap} messages within 10 s of it), ${m}`);
  assert.ok(p.sim.now - p.startTime > 2 ** 32 + 60_000_000, m);
});
