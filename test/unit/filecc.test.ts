// FileCC (src/protocol/filecc.ts): slow start, its end, the increase and the 3 % decreases as
// libsrt's congctl.cpp FileCC computes them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FileCC } from '../../src/protocol/filecc.js';

const ISN = 1000;
const make = (maxbw = -1): FileCC => new FileCC({ isn: ISN, maxCwnd: 8192, mss: 1500, maxbw, seed: 42, now: 0 });

test('slow start: window 16, no pacing; grows by what each ACK acknowledges, at most once per 10 ms', () => {
  const cc = make();
  assert.deepEqual([cc.cwnd, cc.periodUs, cc.slowStart], [16, 1, true]);
  cc.onAck(5_000, ISN + 100, 1000, 1000, 1000); // inside the first 10 ms: ignored
  assert.equal(cc.cwnd, 16);
  cc.onAck(10_000, ISN + 100, 1000, 1000, 1000);
  assert.equal(cc.cwnd, 116);
  cc.onAck(15_000, ISN + 300, 1000, 1000, 1000); // 5 ms later: ignored
  assert.equal(cc.cwnd, 116);
  cc.onAck(20_000, ISN + 300, 1000, 1000, 1000);
  assert.equal(cc.cwnd, 316);
  assert.equal(cc.periodUs, 1);
});

test('slow start ends above the flow window with period = 1 s / delivery rate; then the window follows the rate', () => {
  const cc = make();
  cc.onAck(10_000, ISN + 9000, 50_000, 80_000, 1000);
  assert.equal(cc.slowStart, false);
  // 1e6 / 50 000 = 20 µs, then one increase step in the same ACK (no loss since the last one)
  const spare = Math.trunc(Math.min(Math.trunc(2 * 1e6), 80_000) - 1e6 / 20);
  assert.ok(spare > 0);
  const inc = Math.max((10 ** Math.ceil(Math.log10(spare * 1500 * 8)) * 0.0000015) / 1500, 1 / 1500);
  assert.ok(Math.abs(cc.periodUs - (20 * 10_000) / (20 * inc + 10_000)) < 1e-9);
  cc.onAck(20_000, ISN + 9500, 40_000, 80_000, 2000);
  assert.ok(Math.abs(cc.cwnd - ((40_000 / 1e6) * (2000 + 10_000) + 16)) < 1e-9);
});

test('a loss ends slow start; a loss report for ≥ 2 % of the packets in flight lengthens the period by 3 %, at most 5 times per congestion period', () => {
  const cc = make();
  cc.onLoss(ISN + 10, 1, ISN + 20, 10_000, 100_000); // period 100 µs, 1000 in flight: 0.1 % → ignored
  assert.equal(cc.slowStart, false);
  assert.equal(cc.periodUs, 100);
  cc.onLoss(ISN + 30, 50, ISN + 40, 10_000, 100_000); // 5 %: a new congestion period
  assert.equal(cc.periodUs, 103);
  const periods: number[] = [];
  for (let i = 0; i < 10; i++) {
    cc.onLoss(ISN + 35, 50, ISN + 40, 10_000, 100_000); // before the last decrease point
    periods.push(cc.periodUs);
  }
  // decRandom is 1 here (no NAK history yet): 4 more decreases apply (5 in the period), then none
  assert.deepEqual(periods, [107, 111, 115, 119, 119, 119, 119, 119, 119, 119]);
});

test('a loss before any rate report: period = 1 s / 16 packets/s, as libsrt (its initial delivery rate), then + 3 %', () => {
  const cc = make();
  cc.onLoss(ISN + 5, 1, ISN + 10, 16, 100_000);
  assert.equal(cc.periodUs, Math.ceil(62_500 * 1.03));
});

test('maxbw caps the rate: the period never goes below MSS / maxbw', () => {
  const cc = make(1_500_000); // 1000 packets/s of 1500 bytes
  cc.onAck(10_000, ISN + 9000, 50_000, 80_000, 1000);
  assert.equal(cc.periodUs, 1000);
});

test('the retransmission timeout ends slow start like a loss (period from the delivery rate)', () => {
  const cc = make();
  cc.onTimeout(25_000, 1000);
  assert.deepEqual([cc.slowStart, cc.periodUs], [false, 40]);
});
