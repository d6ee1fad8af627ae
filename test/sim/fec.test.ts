// The `fec` packet filter (ADR 13) in virtual time: two production Endpoints, a lossy link.
// - arq:never: every isolated loss (at most one per row and per column) is rebuilt from FEC alone,
//   byte-exact, with no NAK and no retransmission, counted in pktRcvFilterSupply — also when the
//   lost packet's row FEC packet is lost too (its column rebuilds it). Without the filter the same
//   losses would have to be retransmitted or be dropped.
// - arq:onreq under random loss (the return path clean: it asks once per group) and arq:always under
//   random loss both ways: FEC rebuilds what it can, ARQ the rest; everything arrives exactly once,
//   in order, on time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { missingIndices, orderViolation, Rng, simulatePair, type LinkConfig, type Pair } from '../support/simulator.js';
import { fileTimeout } from '../support/file-timeout.js';

fileTimeout();

const MESSAGES = 3000;
const TAIL = 300;
const RATE = 1500; // packets/s
const COLS = 10;
const ROWS = 5;
const ISN = 1_000_000;
/** Two losses at least this many packets apart never share a group (a row spans 10, a column 41). */
const SPACING = 2 * COLS * ROWS;

interface Header { seq: number; msgno: number; fecIndex: number | null }

/** The fields of a data packet the drop rule needs; null for a control packet. */
function dataHeader(d: Buffer): Header | null {
  if (d.length < 17 || (d[0]! & 0x80) !== 0) return null;
  const msgno = d.readUInt32BE(4) & 0x03ff_ffff;
  // an FEC packet: message number 0, its first payload byte the group index (-1 = row)
  return { seq: d.readUInt32BE(0) & 0x7fff_ffff, msgno, fecIndex: msgno === 0 ? d.readInt8(16) : null };
}

/**
 * Drops data packets of the measured stream at random (probability `p`), but never two within
 * SPACING sequence numbers, so every loss is alone in its row and in its column. Every second loss
 * also loses its row's FEC packet (sent with the row's last sequence number): only the column can
 * rebuild that one. Retransmissions (R bit) pass.
 */
function isolatedLoss(seed: number, p: number): { drop: LinkConfig['drop']; lost: Set<number>; rowFecLost: Set<number> } {
  const rng = Rng.derive(seed, 'isolated');
  const lost = new Set<number>();
  const rowFecLost = new Set<number>();
  let last = -Infinity;
  const drop = (d: Buffer): boolean => {
    const h = dataHeader(d);
    if (!h) return false;
    const off = h.seq - ISN;
    if (h.fecIndex === -1) return rowFecLost.has(h.seq);
    if (h.fecIndex !== null || (d[4]! & 0x04) !== 0) return false; // column FEC, retransmission
    if (lost.has(h.seq)) return true; // a duplicate send of the same packet (none with arq:never)
    // the first 2 rows of matrices are left alone at the start (staircase columns begin there)
    if (off < 4 * SPACING || off >= MESSAGES || off - last < SPACING || !rng.chance(p)) return false;
    last = off;
    lost.add(h.seq);
    if (lost.size % 2 === 0) rowFecLost.add(ISN + Math.floor(off / COLS) * COLS + COLS - 1);
    return true;
  };
  return { drop, lost, rowFecLost };
}

function assertAllOnTime(pair: Pair, m: string): void {
  const rx = pair.listener;
  const idx = rx.deliveredIndices();
  assert.equal(orderViolation(idx), null, m);
  assert.deepEqual(missingIndices(rx, MESSAGES + TAIL), [], `messages never delivered, ${m}`);
  assert.equal(idx.length, MESSAGES + TAIL, `each message once, ${m}`);
  for (const d of rx.deliveries) {
    if (d.time > d.playTime + 2_000 || d.time < d.playTime - 1) assert.fail(`message ${d.index} delivered ${(d.time - d.playTime) / 1000} ms off its play time, ${m}`);
  }
  assert.equal(rx.conn!.stats(pair.sim.now).pktRcvDropTotal, 0, `pktRcvDrop, ${m}`);
}

for (const layout of ['even', 'staircase'] as const) {
  test(`arq:never, cols:${COLS},rows:${ROWS}, layout:${layout}: every isolated loss is rebuilt from FEC, byte-exact, without a NAK`, () => {
    const filter = `fec,cols:${COLS},rows:${ROWS},layout:${layout},arq:never`;
    for (const seed of [1, 2, 3]) {
      const loss = isolatedLoss(seed, 0.05);
      const pair = simulatePair({
        seed, isn: ISN, messages: MESSAGES, tail: TAIL, rate: RATE,
        forward: { delayUs: 20_000, drop: loss.drop }, backward: { delayUs: 20_000 },
        caller: { latency: 120, packetfilter: filter },
      });
      const m = `seed=${seed} ${filter}`;
      assert.equal(pair.caller.conn!.filter, `fec,arq:never,cols:${COLS},layout:${layout},rows:${ROWS}`, `the agreed filter, ${m}`);
      assert.ok(loss.lost.size >= 15, `${loss.lost.size} data packets lost, ${m}`);
      assert.ok(loss.rowFecLost.size >= 7, `${loss.rowFecLost.size} of them with their row FEC packet, ${m}`);
      assertAllOnTime(pair, m);
      const rs = pair.listener.conn!.stats(pair.sim.now);
      const ss = pair.caller.conn!.stats(pair.sim.now);
      assert.equal(rs.pktRcvFilterSupplyTotal, loss.lost.size, `every lost packet rebuilt by the filter, ${m}`);
      assert.equal(rs.pktRcvLossTotal, loss.lost.size, `each counted as lost on the link, ${m}`);
      assert.deepEqual([rs.pktSentNAKTotal, ss.pktRetransTotal, rs.pktRcvFilterLossTotal], [0, 0, 0], `no NAK, no retransmission, ${m}`);
      // FEC packets: one per row and one per column, all counted on both sides but those lost
      const data = MESSAGES + TAIL;
      assert.ok(ss.pktSndFilterExtraTotal >= Math.floor(data / COLS) + Math.floor(data / COLS / ROWS) * COLS - 2 * COLS, `FEC packets sent: ${ss.pktSndFilterExtraTotal}, ${m}`);
      assert.equal(rs.pktRcvFilterExtraTotal, ss.pktSndFilterExtraTotal - loss.rowFecLost.size, `FEC packets received, ${m}`);
    }
  });
}

test('control: the same isolated losses without the filter, with a latency too short for a retransmission, are dropped', () => {
  // the drop rule alone, no filter, a latency shorter than the RTT (one-way 20 ms, latency 20 ms):
  // nothing rebuilds the losses in time, so the arq:never runs above owe their result to FEC
  const loss = isolatedLoss(1, 0.05);
  const pair = simulatePair({
    seed: 1, isn: ISN, messages: MESSAGES, tail: TAIL, rate: RATE,
    forward: { delayUs: 20_000, drop: loss.drop }, backward: { delayUs: 20_000 },
    caller: { latency: 20 }, listener: { latency: 20 },
  });
  const rs = pair.listener.conn!.stats(pair.sim.now);
  assert.equal(pair.listener.conn!.params.rcvLatencyMs, 20);
  assert.ok(loss.lost.size >= 15, `${loss.lost.size} lost`);
  assert.equal(rs.pktRcvFilterSupplyTotal, 0);
  const missing = missingIndices(pair.listener, MESSAGES + TAIL).length;
  assert.ok(missing > 0 && rs.pktRcvDropTotal === missing, `${missing} messages missing (${rs.pktRcvDropTotal} dropped) without the filter`);
});

/**
 * Random loss of the packets sent for the first time (data and FEC), from `fromOff` on; retransmissions pass.
 * With arq:onreq the receiver asks once per group (no periodic NAK, as libsrt), so a lost NAK or
 * retransmission would be final: the return path and retransmissions stay clean here.
 */
function firstSendLoss(seed: number, p: number): LinkConfig['drop'] {
  const rng = Rng.derive(seed, 'first-send');
  return (d) => {
    const h = dataHeader(d);
    if (!h || (d[4]! & 0x04) !== 0) return false;
    const off = h.seq - ISN;
    return off >= 750 && off < MESSAGES && rng.chance(p);
  };
}

for (const layout of ['even', 'staircase'] as const) {
  test(`arq:onreq, layout:${layout}, 10 % random loss: FEC rebuilds what it can, the filter asks for the rest, everything arrives exactly once, on time`, () => {
    const filter = `fec,cols:${COLS},rows:${ROWS},layout:${layout},arq:onreq`;
    for (const seed of [1, 2, 3]) {
      const rttUs = Rng.derive(seed, 'rtt').int(20_000, 60_000);
      const latencyMs = Math.max(Math.ceil((4 * rttUs) / 1000), 200);
      const pair = simulatePair({
        seed, isn: ISN, messages: MESSAGES, tail: TAIL, rate: RATE, warmupUs: 500_000,
        forward: { delayUs: rttUs / 2, drop: firstSendLoss(seed, 0.1) }, backward: { delayUs: rttUs / 2 },
        caller: { latency: latencyMs, packetfilter: filter },
      });
      const m = `seed=${seed} rtt=${rttUs}µs latency=${latencyMs}ms ${filter}`;
      assertAllOnTime(pair, m);
      const rs = pair.listener.conn!.stats(pair.sim.now);
      const ss = pair.caller.conn!.stats(pair.sim.now);
      assert.ok(rs.pktRcvLossTotal > 150, `losses: ${rs.pktRcvLossTotal}, ${m}`);
      assert.ok(rs.pktRcvFilterSupplyTotal > 0, `FEC rebuilt ${rs.pktRcvFilterSupplyTotal}, ${m}`);
      assert.ok(rs.pktRcvFilterLossTotal > 0 && rs.pktSentNAKTotal > 0, `the filter asked for ${rs.pktRcvFilterLossTotal} packets in ${rs.pktSentNAKTotal} NAKs, ${m}`);
      assert.ok(rs.pktRcvRetransTotal > 0, `retransmissions arrived: ${rs.pktRcvRetransTotal}, ${m}`);
      // the only NAKs are the filter's: nothing is retransmitted that it did not ask for (a packet it
      // asked for may still be rebuilt by its other group before the retransmission arrives)
      assert.ok(ss.pktRetransTotal <= rs.pktRcvFilterLossTotal, `retransmitted ${ss.pktRetransTotal} ≤ asked for ${rs.pktRcvFilterLossTotal}, ${m}`);
      assert.ok(rs.pktRcvFilterSupplyTotal + rs.pktRcvRetransTotal >= rs.pktRcvLossTotal, `rebuilt ${rs.pktRcvFilterSupplyTotal} + retransmitted ${rs.pktRcvRetransTotal} cover the ${rs.pktRcvLossTotal} lost, ${m}`);
    }
  });

  test(`arq:always, layout:${layout}, 5 % random loss each way: FEC and the receiver's own NAKs deliver everything exactly once, on time`, () => {
    const filter = `fec,cols:${COLS},rows:${ROWS},layout:${layout},arq:always`;
    for (const seed of [1, 2, 3]) {
      const rttUs = Rng.derive(seed, 'rtt').int(20_000, 60_000);
      const latencyMs = Math.max(Math.ceil((6 * rttUs) / 1000), 200);
      const link: LinkConfig = { loss: 0.05, delayUs: rttUs / 2 };
      const pair = simulatePair({
        seed, messages: MESSAGES, tail: TAIL, rate: RATE, warmupUs: 500_000,
        forward: link, backward: { ...link }, caller: { latency: latencyMs, packetfilter: filter },
      });
      const m = `seed=${seed} rtt=${rttUs}µs latency=${latencyMs}ms ${filter}`;
      assertAllOnTime(pair, m);
      const rs = pair.listener.conn!.stats(pair.sim.now);
      const ss = pair.caller.conn!.stats(pair.sim.now);
      assert.ok(rs.pktRcvLossTotal > 50, `losses: ${rs.pktRcvLossTotal}, ${m}`);
      assert.ok(rs.pktRcvFilterSupplyTotal > 0, `FEC rebuilt ${rs.pktRcvFilterSupplyTotal}, ${m}`);
      assert.ok(ss.pktRetransTotal > 0 && rs.pktSentNAKTotal > 0, `retransmitted ${ss.pktRetransTotal} after ${rs.pktSentNAKTotal} NAKs, ${m}`);
      assert.equal(rs.pktRcvFilterLossTotal, 0, `the filter reports nothing with arq:always (as libsrt), ${m}`);
    }
  });
}
