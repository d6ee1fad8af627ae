// The FEC filter module (pure): staircase layout, parity built by the sender and single losses
// rebuilt by the receiver per row and per column (with recursion), filter string rules.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { columnOffsets, FecReceiver, FecSender, FEC_HEADER } from '../../src/protocol/fec.js';
import { fecConfig, mergeFilter, validateFilterOption, FilterConfigError } from '../../src/protocol/filter-config.js';
import { resolveOptions } from '../../src/protocol/options.js';
import { seqAdd } from '../../src/protocol/seq.js';
import { fileTimeout } from '../support/file-timeout.js';

fileTimeout();

test('column bases: even is one apart, staircase one row and one column apart, wrapping every `rows` columns', () => {
  assert.deepEqual(columnOffsets(4, 3, 'even'), [0, 1, 2, 3]);
  assert.deepEqual(columnOffsets(10, 5, 'staircase'), [0, 11, 22, 33, 44, 5, 16, 27, 38, 49]);
  assert.deepEqual(columnOffsets(5, 5, 'staircase'), [0, 6, 12, 18, 24]);
});

interface Pkt { seq: number; ts: number; kk: number; payload: Buffer; fec: boolean }

/** Runs `n` packets through a sender (FEC packets where libsrt puts them) from `isn`. */
function stream(filter: string, n: number, isn: number, payloadSize = 100): Pkt[] {
  const tx = new FecSender(fecConfig(filter), isn, payloadSize);
  const out: Pkt[] = [];
  for (let i = 0; i < n; i++) {
    const seq = seqAdd(isn, i);
    // before each new packet: the FEC packets due after the previous one
    for (;;) {
      const last = seqAdd(seq, -1);
      if (!tx.ready(last)) { tx.packControl(last); break; }
      const payload = tx.packControl(last)!;
      out.push({ seq: last, ts: tx.timestamp, kk: 0, payload, fec: true });
    }
    const payload = Buffer.alloc(20 + ((i * 37) % 80), i & 0xff);
    payload.writeUInt32BE(i, 0);
    const p: Pkt = { seq, ts: 1000 + i * 1000, kk: i % 2 === 0 ? 1 : 2, payload, fec: false };
    tx.feed(p.seq, p.kk, p.ts, p.payload);
    out.push(p);
  }
  return out;
}

function receive(filter: string, pkts: Pkt[], isn: number, drop: (seq: number) => boolean, payloadSize = 100): { rebuilt: Map<number, Pkt>; lost: number[] } {
  const rx = new FecReceiver(fecConfig(filter), isn, payloadSize);
  const rebuilt = new Map<number, Pkt>();
  const lost: number[] = [];
  for (const p of pkts) {
    if (p.fec) rx.onControl(p.seq, p.ts, p.payload);
    else if (!drop(p.seq)) rx.onData(p.seq, p.kk, p.ts, p.payload);
    for (const r of rx.rebuilt) rebuilt.set(r.seq, { seq: r.seq, ts: r.timestamp, kk: r.keyFlags, payload: r.payload, fec: false });
    rx.rebuilt.length = 0;
    for (const [a, b] of rx.lost) for (let s = a; s !== seqAdd(b, 1); s = seqAdd(s, 1)) lost.push(s);
    rx.lost.length = 0;
  }
  return { rebuilt, lost };
}

function assertRebuilt(pkts: Pkt[], got: Map<number, Pkt>, dropped: number[]): void {
  for (const s of dropped) {
    const orig = pkts.find((p) => !p.fec && p.seq === s)!;
    const r = got.get(s);
    assert.ok(r, `packet ${s} rebuilt`);
    assert.ok(r.payload.equals(orig.payload), `payload of ${s}`);
    assert.equal(r.ts, orig.ts);
    assert.equal(r.kk, orig.kk);
  }
}

test('FEC packets: one per row and per column, header index/flags/length, sequence of the group\'s last packet', () => {
  const isn = 1000;
  const pkts = stream('fec,cols:4,rows:3,layout:even', 12 + 1, isn);
  const fec = pkts.filter((p) => p.fec);
  // a 4x3 even matrix: 3 rows + 4 columns
  assert.equal(fec.filter((p) => p.payload[0] === 0xff).length, 3);
  assert.equal(fec.filter((p) => p.payload[0] !== 0xff).length, 4);
  const row0 = fec.find((p) => p.payload[0] === 0xff)!;
  assert.equal(row0.seq, isn + 3);
  assert.equal(row0.payload.length, FEC_HEADER + 100);
  const data = pkts.filter((p) => !p.fec).slice(0, 4);
  assert.equal(row0.payload.readUInt16BE(2), data.reduce((x, p) => x ^ p.payload.length, 0));
  assert.equal(row0.payload[1], data.reduce((x, p) => x ^ p.kk, 0));
  assert.equal(row0.ts, data.reduce((x, p) => (x ^ p.ts) >>> 0, 0));
  // column 0 (packets 0, 4, 8) ends at isn + 8 and goes before the row FEC at the same position
  const col0 = fec.find((p) => p.payload[0] === 0)!;
  assert.equal(col0.seq, isn + 8);
  assert.ok(fec.indexOf(col0) < fec.findIndex((p) => p.payload[0] === 0xff && p.seq === isn + 11));
});

for (const layout of ['even', 'staircase'] as const) {
  test(`${layout}: one loss per row is rebuilt from the row, one per column from the column, and both at once (recursion)`, () => {
    const isn = 0x7fffffff - 30; // across the sequence wrap
    const filter = `fec,cols:5,rows:4,layout:${layout},arq:never`;
    const pkts = stream(filter, 400, isn);
    // rows: one per row; every 7th packet from the 3rd
    const rowDrops = new Set<number>();
    for (let i = 2; i < 380; i += 7) rowDrops.add(seqAdd(isn, i));
    const r1 = receive(filter, pkts, isn, (s) => rowDrops.has(s));
    assertRebuilt(pkts, r1.rebuilt, [...rowDrops]);
    // a whole row lost (5 in a row) except its first: only the columns can rebuild them
    const burst = new Set<number>();
    for (let i = 101; i < 105; i++) burst.add(seqAdd(isn, i));
    const r2 = receive(filter, pkts, isn, (s) => burst.has(s));
    assertRebuilt(pkts, r2.rebuilt, [...burst]);
    // two losses in one column and one row: the row rebuilds one, which lets the column rebuild the other
    const cross = new Set([seqAdd(isn, 200), seqAdd(isn, 201), seqAdd(isn, 206)]);
    const r3 = receive(filter, pkts, isn, (s) => cross.has(s));
    assertRebuilt(pkts, r3.rebuilt, [...cross]);
    assert.deepEqual(r3.lost, [], 'arq:never reports nothing');
  });
}

test('arq:onreq: what FEC cannot rebuild is reported once, after its column ends', () => {
  const isn = 500;
  const filter = 'fec,cols:5,rows:4,layout:even,arq:onreq';
  const pkts = stream(filter, 200, isn);
  // two losses in one row and the same column pair: 40,41 and 45,46 -> columns 0 and 1 each lose 2, rows each lose 2
  const lostSet = new Set([isn + 40, isn + 41, isn + 45, isn + 46]);
  const r = receive(filter, pkts, isn, (s) => lostSet.has(s));
  assert.equal(r.rebuilt.size, 0);
  assert.deepEqual(r.lost.sort((a, b) => a - b), [...lostSet].sort((a, b) => a - b));
});

test('filter strings: libsrt syntax and rules, errors name the key', () => {
  validateFilterOption('fec');
  validateFilterOption('fec,cols:10,rows:-5,layout:even,arq:never');
  const bad: [string, RegExp][] = [
    ['fec,cols:1', /cols/], ['fec,cols:10,rows:0', /rows/], ['fec,cols:10,rows:-1', /rows/],
    ['fec,cols:10,layout:diagonal', /layout/], ['fec,cols:10,arq:sometimes', /arq/], ['fec,cols:10,size:3', /size/],
    ['fec,cols', /syntax/], ['rs,cols:10', /type/], ['fec,cols:100,rows:100', /rows/], ['fec,cols:300', /cols/],
  ];
  for (const [s, key] of bad) {
    assert.throws(() => validateFilterOption(s), (e: unknown) => e instanceof FilterConfigError && key.test(e.message), s);
  }
  assert.throws(() => resolveOptions({ packetfilter: 'fec,cols:10', payloadsize: 1456 }), /payloadsize/);
  assert.throws(() => fecConfig('fec,rows:5'), /cols/);
});

test('merge: a side with only `fec` takes the other\'s values; the caller adopts the listener\'s; conflicts name the key', () => {
  assert.equal(mergeFilter('', 'fec,cols:10,rows:5', 'responder'), 'fec,cols:10,rows:5');
  assert.equal(mergeFilter('fec', 'fec,cols:10,rows:5', 'responder'), 'fec,arq:onreq,cols:10,layout:staircase,rows:5');
  assert.equal(mergeFilter('fec,cols:20', 'fec,cols:10,rows:5', 'initiator'), 'fec,cols:10,rows:5');
  assert.throws(() => mergeFilter('fec,cols:20', 'fec,cols:10', 'responder'), /cols/);
  assert.equal(mergeFilter('fec,cols:10,arq:never', 'fec,cols:10', 'responder'), 'fec,arq:never,cols:10,layout:staircase,rows:1');
  assert.throws(() => mergeFilter('fec,cols:10,arq:never', 'fec,cols:10,arq:always', 'responder'), /arq/);
  assert.throws(() => mergeFilter('fec,cols:10', 'fec,cols:10,rows:1', 'rendezvous'), /identical/);
});
