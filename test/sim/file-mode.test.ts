// File mode (transtype=file, ADR 15) in virtual time: two production endpoints over lossy links
// with a bottleneck. A file is sent as fast as FileCC and the receiver's window allow, closed with
// linger, and must arrive byte-exact — at 0, 2 and 10 % loss each way, through a slow reader
// (back-pressure, nothing dropped) and in the message API (messages over several packets).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { ConnHandle } from '../../src/protocol/endpoint.js';
import type { SrtOptions } from '../../src/protocol/options.js';
import { SRT_REJ } from '../../src/protocol/reject.js';
import { Rng, simulatePair, simulateRendezvous, type Endpoint, type Pair } from '../support/simulator.js';
import { fileTimeout } from '../support/file-timeout.js';

fileTimeout();

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** Drives an endpoint's protected `drive()` after an application call (as mux.ts does). */
function drive(e: Endpoint): void {
  (e as unknown as { drive(): void }).drive();
}

interface Transfer {
  pair: Pair;
  received: Buffer[];
  /** When the sender had queued the whole file, µs. */
  queuedAt: number;
  /** How often the reader paused. */
  pauses: number;
  /** The sender's smallest flow window (the receiver's advertised free buffer), packets. */
  minFlowWindow: number;
}

interface TransferCase {
  seed: number;
  loss: number;
  /** The application's writes (byte-stream pieces or messages). */
  writes: Buffer[];
  caller?: Partial<SrtOptions>;
  listener?: Partial<SrtOptions>;
  /** Slow reader: after this many deliveries the reader stops for `pauseUs`. */
  readBurst?: number;
  pauseUs?: number;
  bandwidthBps?: number;
}

function transfer(c: TransferCase): Transfer {
  const received: Buffer[] = [];
  let queuedAt = NaN;
  let pauses = 0;
  let minFlowWindow = Infinity;
  const link = { loss: c.loss, delayUs: 10_000, bandwidthBps: c.bandwidthBps ?? 100_000_000, queueLimitUs: 20_000 };
  const pair = simulatePair({
    seed: c.seed,
    caller: { transtype: 'file', ...c.caller },
    listener: { transtype: 'file', ...c.listener },
    forward: link,
    backward: { ...link },
    maxTimeUs: 600_000_000,
    drainUs: 590_000_000,
    maxEvents: 20_000_000,
    onConnected: (p) => {
      const { caller, listener, sim } = p;
      // the reader: every delivery is kept; a slow one stops after readBurst deliveries
      let sinceResume = 0;
      (listener as unknown as { deliver(h: ConnHandle, payload: Buffer): boolean }).deliver = (h, payload) => {
        received.push(Buffer.from(payload));
        minFlowWindow = Math.min(minFlowWindow, p.caller.conn!.sender.flowWindow);
        if (c.readBurst === undefined || ++sinceResume < c.readBurst) return true;
        sinceResume = 0;
        pauses++;
        sim.after(c.pauseUs ?? 50_000, () => {
          minFlowWindow = Math.min(minFlowWindow, p.caller.conn!.sender.flowWindow);
          if (process.env['FILE_SIM_VERBOSE']) process.stderr.write(`resume: fw=${p.caller.conn!.sender.flowWindow} avail=${p.listener.conn!.receiver.availBuf()} paused=${h.paused}\n`);
          if (h.closed && !h.paused) return;
          listener.ep!.resume(listener.localNow(), h);
          drive(listener);
        });
        return false;
      };
      // the writer: as much as the send buffer takes, then again a millisecond later
      let next = 0;
      const pump = (): void => {
        const h = caller.handle!;
        if (h.closed) return;
        const now = caller.localNow();
        while (next < c.writes.length && caller.ep!.send(now, h, c.writes[next]!)) next++;
        caller.ep!.flush(now, h);
        drive(caller);
        if (next < c.writes.length) {
          sim.after(1000, pump);
          return;
        }
        queuedAt = sim.now;
        caller.shutdown(); // linger: SHUTDOWN once everything is acknowledged
      };
      sim.after(0, pump);
    },
    stopWhen: (p) => p.caller.closed !== null && p.listener.closed !== null && (p.listener.handle === null || !p.listener.handle.paused),
  });
  return { pair, received, queuedAt, pauses, minFlowWindow };
}

/** A file of `bytes` pseudo-random bytes cut into byte-stream writes of `piece` bytes. */
function fileWrites(seed: number, bytes: number, piece: number): { file: Buffer; writes: Buffer[] } {
  const file = Rng.derive(seed, 'file').bytes(bytes);
  const writes: Buffer[] = [];
  for (let o = 0; o < bytes; o += piece) writes.push(file.subarray(o, Math.min(bytes, o + piece)));
  return { file, writes };
}

function assertDelivered(t: Transfer, file: Buffer, m: string): void {
  const { pair } = t;
  assert.notEqual(pair.caller.closed, null, `sender never closed, ${m}`);
  assert.equal(pair.caller.closed!.reason, 'local', `sender closed by ${pair.caller.closed!.reason}, ${m}`);
  assert.equal(pair.listener.closed?.reason, 'peer', m);
  const got = Buffer.concat(t.received);
  assert.equal(got.length, file.length, `received ${got.length} of ${file.length} bytes, ${m}`);
  assert.equal(sha(got), sha(file), `content differs, ${m}`);
  const rs = pair.listener.conn!.stats(pair.sim.now);
  const ss = pair.caller.conn!.stats(pair.sim.now);
  assert.equal(rs.pktRcvDropTotal, 0, `pktRcvDrop, ${m}`);
  assert.equal(ss.pktSndDropTotal, 0, `pktSndDrop, ${m}`);
}

for (const loss of [0, 0.02, 0.1]) {
  test(`a 4 MB file over a 100 Mbit/s bottleneck at ${loss * 100} % loss each way arrives byte-exact, closed with linger`, () => {
    for (const seed of [1, 2, 3]) {
      const { file, writes } = fileWrites(seed, 4 * 1024 * 1024, 16 * 1456);
      const t = transfer({ seed, loss, writes });
      const m = `seed=${seed} loss=${loss}`;
      assertDelivered(t, file, m);
      const ss = t.pair.caller.conn!.stats(t.pair.sim.now);
      if (loss > 0) assert.ok(ss.pktRetransTotal > 0, `no retransmissions at ${loss * 100} % loss, ${m}`);
      // every data packet is full but the last (the byte stream is cut into 1456-byte packets)
      assert.equal(ss.pktSentUniqueTotal, Math.ceil(file.length / 1456), m);
      const secs = (t.pair.listener.closed!.time - t.pair.connectedAt) / 1e6;
      if (process.env['FILE_SIM_VERBOSE']) {
        process.stderr.write(`${m}: ${secs.toFixed(2)} s, ${((file.length * 8) / secs / 1e6).toFixed(1)} Mbit/s, retrans ${ss.pktRetransTotal}, `
          + `queue drops ${t.pair.forward.stats.queueDropped}, period ${ss.usPktSndPeriod.toFixed(1)} µs, cwnd ${ss.pktCongestionWindow}\n`);
      }
    }
  });
}

test('the byte stream is read by a slow reader: the sender is held back by the advertised window and nothing is lost', () => {
  const seed = 7;
  const { file, writes } = fileWrites(seed, 2 * 1024 * 1024, 16 * 1456);
  // a small receive buffer (64 packets) and a reader that stops for 50 ms every 100 packets
  const t = transfer({ seed, loss: 0, writes, listener: { rcvbuf: 64 * 1472, fc: 64 }, readBurst: 100, pauseUs: 50_000 });
  assertDelivered(t, file, `seed=${seed} slow reader`);
  assert.ok(t.pauses > 10, `the reader paused ${t.pauses} times`);
  // the receiver's ACKs closed the sender's window while the reader was away
  assert.ok(t.minFlowWindow <= 4, `the sender's window never closed (least ${t.minFlowWindow} packets)`);
  // the reader's pauses, not the link, set the pace: 2 MB at 100 packets per 50 ms takes > 7 s
  const packets = Math.ceil(file.length / 1456);
  const minUs = Math.floor(packets / 100) * 50_000;
  assert.ok(t.queuedAt - t.pair.connectedAt >= minUs - 1_000_000, `queued after ${(t.queuedAt - t.pair.connectedAt) / 1e6} s`);
});

test('message API in file mode: messages over several packets (PP first/middle/last) arrive whole and in order at 10 % loss', () => {
  const seed = 11;
  const rng = Rng.derive(seed, 'sizes');
  const messages: Buffer[] = [];
  for (let i = 0; i < 400; i++) {
    const size = i % 50 === 0 ? 1456 * 300 + 7 : rng.int(1, 20_000); // some longer than one delivery batch
    const b = Rng.derive(seed * 1000 + i, 'msg').bytes(size);
    b.writeUInt32BE(i, 0 % Math.max(1, size - 3)); // the index where it fits
    messages.push(b);
  }
  const t = transfer({ seed, loss: 0.1, writes: messages, caller: { messageapi: true }, listener: { messageapi: true } });
  assert.equal(t.pair.caller.closed?.reason, 'local');
  assert.equal(t.received.length, messages.length, `${t.received.length} messages of ${messages.length}`);
  for (let i = 0; i < messages.length; i++) {
    assert.equal(t.received[i]!.length, messages[i]!.length, `message ${i} length`);
    assert.ok(t.received[i]!.equals(messages[i]!), `message ${i} content`);
  }
});

test('file mode meets live mode: rejected with MESSAGEAPI (stream vs message API) or CONGESTION (file vs live)', () => {
  const stream = simulatePair({ seed: 3, caller: { transtype: 'file' }, listener: {} });
  assert.equal(stream.caller.conn, null);
  assert.equal(stream.caller.hs.rejectReason, SRT_REJ.MESSAGEAPI);
  const msg = simulatePair({ seed: 3, caller: { transtype: 'file', messageapi: true }, listener: {} });
  assert.equal(msg.caller.conn, null);
  assert.equal(msg.caller.hs.rejectReason, SRT_REJ.CONGESTION);
  // a live caller at a file listener (message API on both): the listener names the congestion controller
  const rev = simulatePair({ seed: 3, caller: {}, listener: { transtype: 'file', messageapi: true } });
  assert.equal(rev.caller.conn, null);
  assert.equal(rev.caller.hs.rejectReason, SRT_REJ.CONGESTION);
});

test('rendezvous in file mode: both sides agree on FileCC (CONGESTION block both ways) and the data arrives in order at 2 % loss', () => {
  const pair = simulateRendezvous({
    seed: 5, a: { transtype: 'file' }, b: { transtype: 'file' }, sender: 'a', messages: 300, rate: 2000,
    ab: { loss: 0.02, delayUs: 5000 }, ba: { loss: 0.02, delayUs: 5000 },
  });
  assert.ok(pair.a.conn?.fileMode && pair.b.conn?.fileMode, 'both connected in file mode');
  const idx = pair.b.deliveredIndices();
  assert.deepEqual(idx, Array.from({ length: 300 }, (_, i) => i));
  const mixed = simulateRendezvous({ seed: 5, a: { transtype: 'file', messageapi: true }, b: {} });
  assert.equal(mixed.a.conn, null);
  assert.equal(mixed.b.conn, null);
});
