// The live sender's pacing when maxbw = 0 (relative to the measured input rate, as the RX/TX
// gateways use it): driven on a fake clock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Sender } from '../../src/protocol/sender.js';
import { newCounters } from '../../src/protocol/stats.js';
import { fileTimeout } from '../support/file-timeout.js';

fileTimeout();

interface Run { refused: number; maxBacklog: number; inputMbps: number; sent: number; written: number }

/**
 * Input at `mbps` in 1 ms bursts for `ms`, except that the first `slowPkts` packets come at half
 * that rate (a process still warming up, reading its input late); the peer acknowledges
 * everything sent once per millisecond.
 */
function drive(mbps: number, ms: number, slowPkts: number, maxbw = 0): Run {
  const s = new Sender({ isn: 1000, capacity: 8192, peerSocketId: 7, peerFlowWindow: 25600, payloadSize: 1316, maxbw, inputbw: 0, mininputbw: 0, oheadbw: 25, retransmitAlgo: 0 }, newCounters());
  const payload = Buffer.alloc(1316);
  const perMs = (mbps * 1e6) / 8 / 1316 / 1000;
  let due = 0, written = 0, refused = 0, sent = 0, maxBacklog = 0;
  for (let t = 0; t < ms * 1000; t += 100) {
    // input
    due += (written < slowPkts ? perMs / 2 : perMs) / 10;
    while (written + refused < Math.floor(due)) {
      if (s.write(t, payload, t)) written++;
      else refused++;
    }
    // transmission, paced
    while (s.poll(t, 10_000, 1_000) !== null) sent++;
    if (t % 1000 === 0) s.onAck(s.curr);
    maxBacklog = Math.max(maxBacklog, s.buffered - s.flightSize);
  }
  return { refused, maxBacklog, inputMbps: (s.inputRate * 8) / 1e6, sent, written };
}

test('maxbw=0: a first input-rate sample taken while the input was late is corrected as soon as a backlog builds (nothing refused)', () => {
  const r = drive(300, 3000, 2000);
  assert.equal(r.refused, 0, `messages refused by a full send buffer: ${JSON.stringify(r)}`);
  assert.ok(r.maxBacklog < 2000, `the unsent backlog stayed small: ${JSON.stringify(r)}`);
  // the estimate ends at the real input rate (headers included: 1360/1316 of the payload rate)
  assert.ok(Math.abs(r.inputMbps - 300 * 1360 / 1316) < 15, `input rate ${r.inputMbps.toFixed(1)} Mbit/s`);
  assert.ok(r.sent >= r.written - 40, `everything written was sent: ${JSON.stringify(r)}`);
});

test('maxbw=0: a steady input is paced at its rate plus overhead without a backlog', () => {
  const r = drive(100, 2000, 0);
  assert.equal(r.refused, 0);
  assert.ok(r.maxBacklog < 100, JSON.stringify(r));
});

test('an explicit maxbw below the input rate still limits the sender (the buffer fills, writes are refused)', () => {
  const r = drive(300, 1500, 0, 10_000_000); // 80 Mbit/s cap
  assert.ok(r.refused > 0, JSON.stringify(r));
  const sentMbps = (r.sent * 1360 * 8) / 1.5 / 1e6;
  // every 16th packet leaves back to back with the next (packet-pair probing, as libsrt): 17/16 of the cap
  assert.ok(sentMbps < 80 * 17 / 16 + 1, `sent ${sentMbps.toFixed(1)} Mbit/s under an 80 Mbit/s cap`);
});
