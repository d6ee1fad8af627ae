// Caller–listener handshake through lossy simulated links.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeHandshake } from '../../src/protocol/handshake.js';
import { CtrlType, decodePacket } from '../../src/protocol/packet.js';
import { SRT_REJ } from '../../src/protocol/reject.js';
import { HS, missingIndices, orderViolation, simulatePair, type Endpoint } from '../support/simulator.js';
import { fileTimeout } from '../support/file-timeout.js';

fileTimeout();

const TOL_US = 2_000;

function isConclusionResponse(d: Buffer): boolean {
  const p = decodePacket(d);
  return p.kind === 'control' && p.type === CtrlType.Handshake && decodeHandshake(p.cif).type === HS.Conclusion;
}

/** Everything `e` delivered arrived in order, intact, complete (0..total-1) and at its play time. */
function assertCleanStream(e: Endpoint, total: number, m: string): void {
  const idx = e.deliveredIndices();
  assert.equal(orderViolation(idx), null, `${e.name}: ${m}`);
  assert.deepEqual(missingIndices(e, total), [], `${e.name} missing messages, ${m}`);
  for (const d of e.deliveries) {
    assert.ok(d.time <= d.playTime + TOL_US && d.time >= d.playTime - 1,
      `${e.name}: message ${d.index} delivered at ${d.time}, play time ${d.playTime}, ${m}`);
  }
}

test('handshake completes through 30% loss each way; one connection; latency = max of both wishes', () => {
  let repeatedConclusions = 0;
  let resent = 0;
  for (let seed = 1; seed <= 12; seed++) {
    const m = `seed=${seed}`;
    const p = simulatePair({
      seed,
      sender: 'both',
      tail: 200, // sent over clean links once connected: proves the connection works both ways
      rate: 1000,
      forward: { loss: 0.3, delayUs: 15_000 },
      backward: { loss: 0.3, delayUs: 15_000 },
      caller: { rcvlatency: 200, peerlatency: 80 },
      listener: { rcvlatency: 150, peerlatency: 250 },
    });
    const { caller, listener } = p;
    assert.equal(caller.hs.state, 'connected', m);
    assert.ok(caller.conn && listener.conn, `both sides have a connection, ${m}`);
    assert.equal(listener.requests, 1, `one accept decision, ${m}`);
    assert.equal(listener.connectionsCreated, 1, `one connection, ${m}`);
    assert.equal(listener.conn.peerSocketId, caller.socketId, m);
    assert.equal(caller.conn.peerSocketId, listener.socketId, m);

    // the caller repeats its request every 250 ms until answered, never waiting longer
    const sends = [...(caller.hsSent.get(HS.Induction) ?? []), ...(caller.hsSent.get(HS.Conclusion) ?? [])]
      .map((x) => x.time).sort((a, b) => a - b);
    for (let i = 1; i < sends.length; i++) {
      assert.ok(sends[i]! - sends[i - 1]! <= 250_000, `handshake resend gap ${sends[i]! - sends[i - 1]!} µs, ${m}`);
    }
    resent += sends.length - 2;
    if ((listener.hsReceived.get(HS.Conclusion)?.length ?? 0) > 1) repeatedConclusions++;

    // latency per direction: the larger of the receiver's RCVLATENCY and the sender's PEERLATENCY
    assert.equal(caller.conn.params.rcvLatencyMs, 250, `caller rcv = max(200, listener peer 250), ${m}`);
    assert.equal(caller.conn.params.sndLatencyMs, 150, `caller snd = max(80, listener rcv 150), ${m}`);
    assert.equal(listener.conn.params.rcvLatencyMs, 150, m);
    assert.equal(listener.conn.params.sndLatencyMs, 250, m);

    // the TSBPD time base is the one-way delay of the handshake packet that carried HSREQ/HSRSP
    assert.equal(caller.tsbpdOffset, 15_000, `caller TSBPD base, ${m}`);
    assert.equal(listener.tsbpdOffset, 15_000, `listener TSBPD base, ${m}`);

    assertCleanStream(caller, 200, m);
    assertCleanStream(listener, 200, m);
  }
  assert.ok(resent > 0, 'some handshake packets had to be resent');
  assert.ok(repeatedConclusions > 0, 'some runs delivered the conclusion more than once');
});

test('repeated conclusions get the same answer (freshly stamped) and never a second connection', () => {
  for (const seed of [1, 2, 3]) {
    const m = `seed=${seed}`;
    let dropped = 0;
    const p = simulatePair({
      seed,
      sender: 'listener',
      messages: 500,
      rate: 1000,
      forward: { delayUs: 20_000 },
      // the first three conclusion responses are lost: the caller repeats its conclusion
      backward: { delayUs: 20_000, drop: (d) => isConclusionResponse(d) && dropped++ < 3 },
      listener: { latency: 120 },
    });
    const { caller, listener } = p;
    assert.equal(dropped, 4, `three responses dropped (the fourth passed), ${m}`);
    const conclusions = caller.hsSent.get(HS.Conclusion) ?? [];
    assert.equal(conclusions.length, 4, `caller sent its conclusion four times, ${m}`);
    assert.equal(listener.hsReceived.get(HS.Conclusion)?.length, 4, m);
    assert.equal(listener.requests, 1, `one accept decision, ${m}`);
    assert.equal(listener.connectionsCreated, 1, `one connection, ${m}`);
    assert.equal(listener.repeatReplies.length, 3, m);
    const first = listener.decisionDatagram!;
    for (const r of listener.repeatReplies) {
      // identical handshake (CIF and header) apart from the timestamp, which is the send time
      assert.ok(r.subarray(16).equals(first.subarray(16)), `repeated answer carries the same handshake, ${m}`);
      assert.equal(r.readUInt32BE(0), first.readUInt32BE(0), m);
      assert.equal(r.readUInt32BE(4), first.readUInt32BE(4), m);
      assert.equal(r.readUInt32BE(12), first.readUInt32BE(12), m);
      assert.ok(r.readUInt32BE(8) > first.readUInt32BE(8), `repeated answer is stamped when sent, ${m}`);
    }
    // consequence: the caller's TSBPD base is the one-way delay, not the age of the first answer
    assert.equal(caller.tsbpdOffset, 20_000, `caller TSBPD base, ${m}`);
    assertCleanStream(caller, 500, m);
    for (const d of caller.deliveries) {
      assert.ok(d.time - d.sentAt <= 120_000 + 20_000 + TOL_US, `end-to-end delay of message ${d.index} is ${d.time - d.sentAt} µs, ${m}`);
    }
  }
});

test('handshake with a clean network takes one round trip per phase', () => {
  const seed = 7;
  const p = simulatePair({ seed, forward: { delayUs: 10_000 }, backward: { delayUs: 30_000 } });
  assert.equal(p.connectedAt - p.startTime, 80_000, `two round trips of 40 ms, seed=${seed}`);
  assert.equal(p.caller.hsSent.get(HS.Induction)?.length, 1);
  assert.equal(p.caller.hsSent.get(HS.Conclusion)?.length, 1);
  assert.equal(p.listener.connectionsCreated, 1);
});

test('nobody answers: the caller repeats its INDUCTION and gives up with SRT_REJ_TIMEOUT exactly conntimeo after it started', () => {
  const seed = 11;
  const p = simulatePair({ seed, caller: { conntimeo: 600 }, forward: { loss: 1 }, maxTimeUs: 3_000_000, stopWhen: (x) => x.caller.hs.state === 'failed' });
  assert.equal(p.caller.hs.state, 'failed', `seed=${seed}`);
  assert.equal(p.caller.hs.rejectReason, SRT_REJ.TIMEOUT);
  assert.equal(p.sim.now - p.startTime, 600_000, 'failed at conntimeo, not before or after');
  assert.ok((p.caller.hsSent.get(HS.Induction)?.length ?? 0) > 1, 'the INDUCTION was repeated while waiting');
  assert.ok(Number.isNaN(p.connectedAt));
});
