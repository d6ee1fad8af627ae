// LossList: sorted, merged inclusive sequence ranges in the 31-bit circle.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { LossList } from '../../src/protocol/losslist.js';
import { SEQ_MAX, seqAdd, seqCmp, seqLen, seqOff } from '../../src/protocol/seq.js';
import type { SeqRange } from '../../src/protocol/packet.js';
import { fileTimeout } from '../support/file-timeout.js';

fileTimeout();

function listOf(...ranges: SeqRange[]): LossList {
  const l = new LossList();
  for (const [a, b] of ranges) l.add(a, b);
  return l;
}

/** Checks internal consistency: sorted, disjoint, non-adjacent ranges whose lengths sum to size. */
function checkInvariants(l: LossList): void {
  const r = l.ranges();
  let total = 0;
  for (let i = 0; i < r.length; i++) {
    const [a, b] = r[i]!;
    assert.ok(seqCmp(a, b) <= 0, `range ${a}..${b} is reversed`);
    total += seqLen(a, b);
    if (i > 0) {
      const prevLast = r[i - 1]![1];
      assert.ok(seqOff(prevLast, a) >= 2, `ranges ending ${prevLast} and starting ${a} overlap or touch`);
    }
  }
  assert.equal(l.size, total);
  assert.equal(l.rangeCount, r.length);
  assert.equal(l.isEmpty(), r.length === 0);
  assert.equal(l.peekFirst(), r[0]?.[0]);
}

describe('LossList basics', () => {
  test('empty list', () => {
    const l = new LossList();
    assert.equal(l.size, 0);
    assert.equal(l.rangeCount, 0);
    assert.equal(l.isEmpty(), true);
    assert.equal(l.popFirst(), undefined);
    assert.equal(l.peekFirst(), undefined);
    assert.equal(l.has(0), false);
    assert.equal(l.remove(5), false);
    assert.equal(l.removeBefore(100), 0);
    assert.equal(l.removeRange(0, 100), 0);
    assert.deepEqual(l.ranges(), []);
  });

  test('add single numbers and ranges; size counts numbers', () => {
    const l = listOf([5, 5], [10, 14]);
    assert.equal(l.size, 6);
    assert.deepEqual(l.ranges(), [[5, 5], [10, 14]]);
    assert.equal(l.has(5), true);
    assert.equal(l.has(6), false);
    assert.equal(l.has(9), false);
    assert.equal(l.has(10), true);
    assert.equal(l.has(14), true);
    assert.equal(l.has(15), false);
    assert.equal(l.has(4), false);
    checkInvariants(l);
  });

  test('appending an adjacent range extends the last range', () => {
    const l = listOf([1, 3], [4, 6]);
    assert.deepEqual(l.ranges(), [[1, 6]]);
    assert.equal(l.size, 6);
    checkInvariants(l);
  });

  test('out-of-order adds are inserted and merged with both neighbours', () => {
    const l = listOf([20, 25], [1, 2]);
    assert.deepEqual(l.ranges(), [[1, 2], [20, 25]]);
    l.add(10, 12);
    assert.deepEqual(l.ranges(), [[1, 2], [10, 12], [20, 25]]);
    l.add(3, 9); // touches [1,2] and [10,12]
    assert.deepEqual(l.ranges(), [[1, 12], [20, 25]]);
    l.add(11, 22); // overlaps both
    assert.deepEqual(l.ranges(), [[1, 25]]);
    assert.equal(l.size, 25);
    checkInvariants(l);
  });

  test('adding something already present changes nothing', () => {
    const l = listOf([10, 20]);
    l.add(12, 15);
    l.add(10, 10);
    l.add(20, 20);
    l.add(10, 20);
    assert.deepEqual(l.ranges(), [[10, 20]]);
    assert.equal(l.size, 11);
    checkInvariants(l);
  });

  test('a range that covers several ranges swallows them', () => {
    const l = listOf([2, 2], [4, 4], [6, 6], [8, 8], [30, 31]);
    l.add(1, 9);
    assert.deepEqual(l.ranges(), [[1, 9], [30, 31]]);
    assert.equal(l.size, 11);
    checkInvariants(l);
  });

  test('remove: single, range start, range end, middle split', () => {
    const l = listOf([1, 1], [10, 20]);
    assert.equal(l.remove(1), true);
    assert.deepEqual(l.ranges(), [[10, 20]]);
    assert.equal(l.remove(10), true);
    assert.deepEqual(l.ranges(), [[11, 20]]);
    assert.equal(l.remove(20), true);
    assert.deepEqual(l.ranges(), [[11, 19]]);
    assert.equal(l.remove(15), true);
    assert.deepEqual(l.ranges(), [[11, 14], [16, 19]]);
    assert.equal(l.remove(15), false);
    assert.equal(l.remove(5), false);
    assert.equal(l.remove(100), false);
    assert.equal(l.size, 8);
    checkInvariants(l);
  });

  test('removeBefore drops whole ranges and trims a straddling one', () => {
    const l = listOf([1, 3], [5, 9], [20, 20]);
    assert.equal(l.removeBefore(1), 0);
    assert.equal(l.removeBefore(7), 5); // 1,2,3,5,6
    assert.deepEqual(l.ranges(), [[7, 9], [20, 20]]);
    assert.equal(l.removeBefore(10), 3);
    assert.deepEqual(l.ranges(), [[20, 20]]);
    assert.equal(l.removeBefore(21), 1);
    assert.equal(l.isEmpty(), true);
    checkInvariants(l);
  });

  test('removeRange: inside, across ranges, partial overlaps, nothing', () => {
    const l = listOf([1, 10], [20, 30], [40, 40]);
    assert.equal(l.removeRange(4, 6), 3);
    assert.deepEqual(l.ranges(), [[1, 3], [7, 10], [20, 30], [40, 40]]);
    assert.equal(l.removeRange(9, 25), 8); // 9,10,20..25
    assert.deepEqual(l.ranges(), [[1, 3], [7, 8], [26, 30], [40, 40]]);
    assert.equal(l.removeRange(11, 19), 0);
    assert.equal(l.removeRange(0, 100), 11);
    assert.equal(l.isEmpty(), true);
    checkInvariants(l);
  });

  test('popFirst takes numbers in order', () => {
    const l = listOf([3, 4], [8, 8]);
    assert.equal(l.popFirst(), 3);
    assert.equal(l.popFirst(), 4);
    assert.equal(l.popFirst(), 8);
    assert.equal(l.popFirst(), undefined);
    assert.equal(l.size, 0);
  });

  test('clear', () => {
    const l = listOf([1, 100]);
    l.clear();
    assert.equal(l.size, 0);
    assert.deepEqual(l.ranges(), []);
    l.add(5, 5);
    assert.deepEqual(l.ranges(), [[5, 5]]);
  });

  test('ranges() is a copy', () => {
    const l = listOf([1, 2]);
    const r = l.ranges();
    r[0]![1] = 99;
    r.push([5, 5]);
    assert.deepEqual(l.ranges(), [[1, 2]]);
  });
});

describe('LossList at the sequence wrap', () => {
  const M = SEQ_MAX;

  test('a range crossing 0x7FFFFFFF → 0', () => {
    const l = listOf([M - 2, 2]);
    assert.equal(l.size, 6);
    for (const s of [M - 2, M - 1, M, 0, 1, 2]) assert.equal(l.has(s), true, `has ${s}`);
    assert.equal(l.has(M - 3), false);
    assert.equal(l.has(3), false);
    checkInvariants(l);
  });

  test('appending 0 after 0x7FFFFFFF merges', () => {
    const l = listOf([M - 1, M], [0, 1]);
    assert.deepEqual(l.ranges(), [[M - 1, 1]]);
    assert.equal(l.size, 4);
    checkInvariants(l);
  });

  test('ordering across the wrap: earlier numbers sort first', () => {
    const l = listOf([5, 6], [M - 5, M - 4]);
    assert.deepEqual(l.ranges(), [[M - 5, M - 4], [5, 6]]);
    assert.equal(l.popFirst(), M - 5);
    l.add(M, 4); // bridges to [5,6], touches nothing before
    assert.deepEqual(l.ranges(), [[M - 4, M - 4], [M, 6]]);
    checkInvariants(l);
  });

  test('remove splitting a range at the wrap', () => {
    const l = listOf([M - 1, 1]);
    assert.equal(l.remove(M), true);
    assert.deepEqual(l.ranges(), [[M - 1, M - 1], [0, 1]]);
    assert.equal(l.remove(0), true);
    assert.deepEqual(l.ranges(), [[M - 1, M - 1], [1, 1]]);
    checkInvariants(l);
  });

  test('removeBefore 0 / 1 across the wrap', () => {
    const l = listOf([M - 2, 3]);
    assert.equal(l.removeBefore(0), 3);
    assert.deepEqual(l.ranges(), [[0, 3]]);
    const l2 = listOf([M - 2, 3]);
    assert.equal(l2.removeBefore(2), 5);
    assert.deepEqual(l2.ranges(), [[2, 3]]);
    checkInvariants(l2);
  });

  test('removeRange across the wrap', () => {
    const l = listOf([M - 5, 5]);
    assert.equal(l.removeRange(M - 1, 1), 4);
    assert.deepEqual(l.ranges(), [[M - 5, M - 2], [2, 5]]);
    checkInvariants(l);
  });

  test('popFirst walks through the wrap', () => {
    const l = listOf([M - 1, 1]);
    assert.deepEqual([l.popFirst(), l.popFirst(), l.popFirst(), l.popFirst(), l.popFirst()], [M - 1, M, 0, 1, undefined]);
  });
});

// ------------------------------------------------------------------- model-based property test

type Op =
  | { op: 'add'; a: number; len: number }
  | { op: 'remove'; s: number }
  | { op: 'removeBefore'; s: number }
  | { op: 'removeRange'; a: number; len: number }
  | { op: 'popFirst' };

const WINDOW = 80; // offsets from the base; all values stay well inside half the circle
const offArb = fc.integer({ min: 0, max: WINDOW - 1 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ op: fc.constant('add' as const), a: offArb, len: fc.integer({ min: 0, max: 8 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('remove' as const), s: offArb }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('removeBefore' as const), s: offArb }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('removeRange' as const), a: offArb, len: fc.integer({ min: 0, max: 10 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('popFirst' as const) }) },
);
// Bases near the wrap are the interesting ones; include a few anywhere else.
const baseArb = fc.oneof(
  fc.integer({ min: SEQ_MAX - WINDOW, max: SEQ_MAX }),
  fc.constant(0),
  fc.integer({ min: 0, max: SEQ_MAX }),
);

describe('LossList against a Set model', () => {
  test('property: random operation sequences behave like a set of offsets', () => {
    fc.assert(fc.property(baseArb, fc.array(opArb, { maxLength: 60, size: 'max' }), (base, ops) => {
      const l = new LossList();
      const model = new Set<number>();
      const seq = (off: number): number => seqAdd(base, off);
      for (const o of ops) {
        switch (o.op) {
          case 'add':
            l.add(seq(o.a), seq(o.a + o.len));
            for (let i = o.a; i <= o.a + o.len; i++) model.add(i);
            break;
          case 'remove':
            assert.equal(l.remove(seq(o.s)), model.delete(o.s));
            break;
          case 'removeBefore': {
            let n = 0;
            for (const x of [...model]) if (x < o.s) { model.delete(x); n++; }
            assert.equal(l.removeBefore(seq(o.s)), n);
            break;
          }
          case 'removeRange': {
            let n = 0;
            for (const x of [...model]) if (x >= o.a && x <= o.a + o.len) { model.delete(x); n++; }
            assert.equal(l.removeRange(seq(o.a), seq(o.a + o.len)), n);
            break;
          }
          case 'popFirst': {
            const min = model.size === 0 ? undefined : Math.min(...model);
            if (min !== undefined) model.delete(min);
            assert.equal(l.popFirst(), min === undefined ? undefined : seq(min));
            break;
          }
        }
        assert.equal(l.size, model.size, `size after ${JSON.stringify(o)}`);
      }
      checkInvariants(l);
      // ranges() enumerates exactly the model, in order
      const listed: number[] = [];
      for (const [a, b] of l.ranges()) for (let s = a, i = 0; i < seqLen(a, b); s = seqAdd(s, 1), i++) listed.push(seqOff(base, s));
      assert.deepEqual(listed, [...model].sort((x, y) => x - y));
      for (let off = -2; off < WINDOW + 12; off++) assert.equal(l.has(seq(off)), model.has(off), `has(${off})`);
    }), { numRuns: 1000 });
  });
});
