// 31-bit sequence arithmetic, 26-bit message numbers and 32-bit timestamp unwrapping (SRT-DIGEST §1.2, §1.4).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  MSGNO_MAX, SEQ_MAX, msgNoInc, seqAdd, seqCmp, seqDec, seqInc, seqLen, seqOff, unwrapTimestamp,
} from '../../src/protocol/seq.js';
import { fileTimeout } from '../support/file-timeout.js';

fileTimeout();

const TWO31 = 2 ** 31;
const TWO32 = 2 ** 32;
const seqArb = fc.integer({ min: 0, max: SEQ_MAX });
/** Distances that are unambiguous in the 31-bit circle (|n| < 2^30). */
const distArb = fc.integer({ min: -(2 ** 30) + 1, max: 2 ** 30 - 1 });

/** Reference implementation straight from the digest (libsrt CSeqNo). */
function refIncN(s: number, n: number): number {
  return SEQ_MAX - s >= n ? s + n : s - SEQ_MAX + n - 1;
}
function refLen(a: number, b: number): number {
  return a <= b ? b - a + 1 : b - a + SEQ_MAX + 2;
}
/** Maps -0 to 0 (assert/strict compares with Object.is; seqCmp(a, a) may be -0, which is harmless). */
const z = (x: number): number => x + 0;

describe('constants', () => {
  test('SEQ_MAX and MSGNO_MAX', () => {
    assert.equal(SEQ_MAX, 0x7fffffff);
    assert.equal(MSGNO_MAX, 0x03ffffff);
  });
});

describe('seqInc / seqDec / seqAdd at the 31-bit wrap', () => {
  test('seqInc wraps 0x7FFFFFFF to 0', () => {
    assert.equal(seqInc(0x7fffffff), 0);
    assert.equal(seqInc(0x7ffffffe), 0x7fffffff);
    assert.equal(seqInc(0), 1);
    assert.equal(seqInc(0x3fffffff), 0x40000000);
  });

  test('seqDec wraps 0 to 0x7FFFFFFF', () => {
    assert.equal(seqDec(0), 0x7fffffff);
    assert.equal(seqDec(1), 0);
    assert.equal(seqDec(0x7fffffff), 0x7ffffffe);
  });

  test('seqAdd across the wrap, forwards and backwards', () => {
    assert.equal(seqAdd(0x7fffffff, 1), 0);
    assert.equal(seqAdd(0x7ffffffe, 5), 3);
    assert.equal(seqAdd(0, -1), 0x7fffffff);
    assert.equal(seqAdd(3, -5), 0x7ffffffe);
    assert.equal(seqAdd(12345, 0), 12345);
    assert.equal(seqAdd(0, TWO31), 0);
    assert.equal(seqAdd(7, -TWO31), 7);
    assert.equal(seqAdd(0x7fffffff, 0x7fffffff), 0x7ffffffe);
  });

  test('seqAdd matches the libsrt incseq(s, n) reference for n >= 0', () => {
    fc.assert(fc.property(seqArb, fc.integer({ min: 0, max: SEQ_MAX }), (s, n) => {
      assert.equal(seqAdd(s, n), refIncN(s, n));
    }), { numRuns: 2000 });
  });

  test('results always stay in [0, 2^31)', () => {
    fc.assert(fc.property(seqArb, fc.integer({ min: -(2 ** 40), max: 2 ** 40 }), (s, n) => {
      const r = seqAdd(s, n);
      assert.ok(Number.isInteger(r) && r >= 0 && r <= SEQ_MAX, `seqAdd(${s}, ${n}) = ${r}`);
      assert.equal(((s + n) % TWO31 + TWO31) % TWO31, r);
    }), { numRuns: 2000 });
  });

  test('seqInc/seqDec are inverse and equal seqAdd(±1)', () => {
    fc.assert(fc.property(seqArb, (s) => {
      assert.equal(seqDec(seqInc(s)), s);
      assert.equal(seqInc(seqDec(s)), s);
      assert.equal(seqInc(s), seqAdd(s, 1));
      assert.equal(seqDec(s), seqAdd(s, -1));
    }), { numRuns: 2000 });
  });
});

describe('seqOff / seqCmp / seqLen', () => {
  test('seqOff across the wrap', () => {
    assert.equal(seqOff(0x7fffffff, 0), 1);
    assert.equal(seqOff(0, 0x7fffffff), -1);
    assert.equal(seqOff(0x7ffffff0, 0x10), 0x20);
    assert.equal(seqOff(0x10, 0x7ffffff0), -0x20);
    assert.equal(seqOff(5, 5), 0);
    assert.equal(seqOff(100, 50), -50);
    assert.equal(seqOff(50, 100), 50);
  });

  test('seqOff at the half-circle thresholds', () => {
    // 0x3FFFFFFF apart is still a plain difference; one further flips to the other side.
    assert.equal(seqOff(0, 0x3fffffff), 0x3fffffff);
    assert.equal(seqOff(0x3fffffff, 0), -0x3fffffff);
    assert.equal(seqOff(0, 0x40000001), 0x40000001 - TWO31);
    assert.equal(seqOff(0x40000001, 0), TWO31 - 0x40000001);
  });

  test('seqCmp orders across the wrap', () => {
    assert.ok(seqCmp(0, 0x7fffffff) > 0, '0 comes after 0x7FFFFFFF');
    assert.ok(seqCmp(0x7fffffff, 0) < 0);
    assert.ok(seqCmp(1, 2) < 0);
    assert.ok(seqCmp(2, 1) > 0);
    assert.equal(z(seqCmp(77, 77)), 0);
    assert.ok(seqCmp(0x7ffffff0, 5) < 0);
  });

  test('seqLen is the inclusive count, also across the wrap', () => {
    assert.equal(seqLen(5, 5), 1);
    assert.equal(seqLen(5, 9), 5);
    assert.equal(seqLen(0x7fffffff, 0), 2);
    assert.equal(seqLen(0x7ffffffe, 1), 4);
    assert.equal(seqLen(0x7fffffff, 0x7fffffff), 1);
  });

  test('property: seqOff(a, seqAdd(a, n)) === n for |n| < 2^30', () => {
    fc.assert(fc.property(seqArb, distArb, (a, n) => {
      assert.equal(seqOff(a, seqAdd(a, n)), n);
      assert.equal(z(seqOff(seqAdd(a, n), a)), z(-n));
    }), { numRuns: 5000 });
  });

  test('property: seqCmp sign follows the direction of the distance', () => {
    fc.assert(fc.property(seqArb, distArb, (a, n) => {
      const b = seqAdd(a, n);
      assert.equal(z(Math.sign(seqCmp(a, b))), z(-Math.sign(n)));
      assert.equal(z(Math.sign(seqCmp(b, a))), z(Math.sign(n)));
    }), { numRuns: 5000 });
  });

  test('property: seqLen(a, seqAdd(a, n)) === n + 1 and matches the digest formula', () => {
    fc.assert(fc.property(seqArb, fc.integer({ min: 0, max: 2 ** 30 - 1 }), (a, n) => {
      const b = seqAdd(a, n);
      assert.equal(seqLen(a, b), n + 1);
      assert.equal(seqLen(a, b), refLen(a, b));
    }), { numRuns: 5000 });
  });

  test('property: seqOff is congruent to b - a mod 2^31 and within half a circle', () => {
    fc.assert(fc.property(seqArb, seqArb, (a, b) => {
      const d = seqOff(a, b);
      assert.ok(Math.abs(d) <= 2 ** 30, `|seqOff(${a}, ${b})| = ${Math.abs(d)}`);
      assert.equal(((d - (b - a)) % TWO31 + TWO31) % TWO31, 0);
    }), { numRuns: 5000 });
  });
});

describe('msgNoInc (26-bit, 0 reserved)', () => {
  test('wraps from 0x03FFFFFF back to 1, never to 0', () => {
    assert.equal(msgNoInc(0x03ffffff), 1);
    assert.equal(msgNoInc(0x03fffffe), 0x03ffffff);
    assert.equal(msgNoInc(1), 2);
    assert.equal(msgNoInc(0), 1);
  });

  test('property: result is in [1, 0x03FFFFFF]', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: MSGNO_MAX }), (m) => {
      const r = msgNoInc(m);
      assert.ok(r >= 1 && r <= MSGNO_MAX);
      assert.equal(r, m === MSGNO_MAX ? 1 : m + 1);
    }), { numRuns: 1000 });
  });
});

describe('unwrapTimestamp across the 32-bit wrap', () => {
  test('forwards: a small timestamp after a reference just before the wrap', () => {
    assert.equal(unwrapTimestamp(5, TWO32 - 10), TWO32 + 5);
    assert.equal(unwrapTimestamp(0, TWO32 - 1), TWO32);
    assert.equal(unwrapTimestamp(100, 3 * TWO32 - 100), 3 * TWO32 + 100);
  });

  test('backwards: a large timestamp before a reference just after the wrap', () => {
    assert.equal(unwrapTimestamp(0xfffffff0, TWO32 + 5), TWO32 - 16);
    assert.equal(unwrapTimestamp(0xffffffff, TWO32), TWO32 - 1);
    assert.equal(unwrapTimestamp(0xffffff00, 5 * TWO32 + 0x10), 5 * TWO32 - 0x100);
  });

  test('no wrap: plain difference in the same epoch', () => {
    assert.equal(unwrapTimestamp(1000, 500), 1000);
    assert.equal(unwrapTimestamp(500, 1000), 500);
    assert.equal(unwrapTimestamp(0x80000000, 0x80000000), 0x80000000);
    assert.equal(unwrapTimestamp(TWO32 - 1000, 2 * TWO32 - 2000), 2 * TWO32 - 1000);
  });

  test('property: picks the nearest epoch for |delta| < 2^31', () => {
    fc.assert(fc.property(
      fc.integer({ min: TWO31, max: 2 ** 50 }),
      fc.integer({ min: -TWO31, max: TWO31 - 1 }),
      (ref, delta) => {
        const truth = ref + delta;
        assert.equal(unwrapTimestamp(truth % TWO32, ref), truth);
      },
    ), { numRuns: 5000 });
  });
});
