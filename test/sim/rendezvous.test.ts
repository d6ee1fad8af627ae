// HSv5 rendezvous: two RendezvousCores through simulated links (both cookie orders, serial and
// parallel arrangements, encryption, lost handshakes, timeout, cookie draw).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeHandshake } from '../../src/protocol/handshake.js';
import { CtrlType, decodePacket } from '../../src/protocol/packet.js';
import { cookieContest, RENDEZVOUS_TIMEOUT_FACTOR } from '../../src/protocol/rendezvous.js';
import { KmState } from '../../src/protocol/crypto.js';
import { SRT_REJ } from '../../src/protocol/reject.js';
import { HS, missingIndices, orderViolation, Rng, simulateRendezvous, type RendezvousEndpoint } from '../support/simulator.js';
import { fileTimeout } from '../support/file-timeout.js';

fileTimeout();

const BIG = 0x78ca64ee; // wins against SMALL ... in serial-number order, see cookieContest
const SMALL = 0x2f000000;

function hsType(d: Buffer): number | null {
  const p = decodePacket(d);
  return p.kind === 'control' && p.type === CtrlType.Handshake ? decodeHandshake(p.cif).type : null;
}

function assertStream(e: RendezvousEndpoint, total: number, m: string): void {
  assert.equal(orderViolation(e.deliveredIndices()), null, `${e.name}: ${m}`);
  assert.deepEqual(missingIndices(e, total), [], `${e.name} missing messages, ${m}`);
}

test('cookie contest: libsrt serial-number order, antisymmetric, draw on equal or zero cookies', () => {
  // captured between two srt-live-transmit 1.5.1 (test/fixtures/libsrt-1.5.1-rendezvous.json):
  // the first cookie of each pair was the INITIATOR (it sent HSREQ)
  assert.equal(cookieContest(0xed60d182, 0x78ca64ee), 'initiator');
  assert.equal(cookieContest(0x35c8bd28, 0x0fdbe845), 'initiator');
  assert.equal(cookieContest(0x98f1b4a5, 0x8ac1e512), 'initiator');
  assert.equal(cookieContest(0x78ca64ee, 0xed60d182), 'responder');
  // not "the larger wins": far apart, the order wraps
  assert.equal(cookieContest(0x7fffffff, 0x80000001), 'responder');
  assert.equal(cookieContest(1, 0x7fffffff), 'responder');
  assert.equal(cookieContest(0x10, 0x90000000), 'initiator');
  // exactly 2^31 apart: the signed larger one initiates
  assert.equal(cookieContest(0x40000000, 0xc0000000), 'initiator');
  assert.equal(cookieContest(0xc0000000, 0x40000000), 'responder');
  assert.equal(cookieContest(0x12345678, 0x12345678), 'draw');
  assert.equal(cookieContest(0, 5), 'draw');
  assert.equal(cookieContest(5, 0), 'draw');
  const rng = new Rng(99);
  for (let i = 0; i < 20_000; i++) {
    const a = rng.int(1, 0xffffffff), b = rng.int(1, 0xffffffff);
    const x = cookieContest(a, b), y = cookieContest(b, a);
    if (a === b) assert.deepEqual([x, y], ['draw', 'draw']);
    else assert.deepEqual([x, y].sort(), ['initiator', 'responder'], `${a.toString(16)} vs ${b.toString(16)}`);
  }
});

for (const [label, cookieA, cookieB] of [['A initiator', BIG, SMALL], ['B initiator', SMALL, BIG]] as const) {
  for (const arrangement of ['serial', 'parallel'] as const) {
    test(`${arrangement} arrangement, ${label}: states as libsrt, one AGREEMENT, own ISN per direction, latency = max per direction, data both ways`, () => {
      const p = simulateRendezvous({
        seed: 5,
        cookieA, cookieB,
        bDelayUs: arrangement === 'serial' ? 600_000 : 0,
        ab: { delayUs: 10_000 },
        ba: { delayUs: 10_000 },
        a: { rcvlatency: 200, peerlatency: 80 },
        b: { rcvlatency: 150, peerlatency: 250 },
        sender: 'both',
        messages: 500,
      });
      const { a, b } = p;
      const [ini, rsp] = cookieA === BIG ? [a, b] : [b, a];
      assert.equal(ini.core.side, 'initiator');
      assert.equal(rsp.core.side, 'responder');
      assert.ok(a.conn && b.conn, 'both connected');
      // serial: A waited, so B's WAVEAHAND reaches A first (A: attention) and A's CONCLUSION
      // reaches B while it is still waving (B: fine); parallel: both see a WAVEAHAND first
      const first = { a: 'attention', b: arrangement === 'serial' ? 'fine' : 'attention' };
      for (const e of [a, b]) {
        const expect = ['waving', first[e.name as 'a' | 'b']];
        if (e === rsp && expect[1] === 'attention') expect.push('initiated');
        expect.push('connected');
        assert.deepEqual(e.states, expect, `${e.name} (${e.core.side})`);
      }
      // serial: once; parallel: the responder's early empty CONCLUSION made the initiator repeat its
      // HSREQ, the responder answered it again, and the connected initiator answers that with AGREEMENT
      assert.equal(ini.hsSent.get(HS.Agreement)?.length, arrangement === 'serial' ? 1 : 2, 'AGREEMENTs from the initiator');
      assert.equal(rsp.hsSent.get(HS.Agreement), undefined, 'the responder never does');
      // the initiator's CONCLUSIONs carry HSREQ, the responder's HSRSP or nothing
      for (const c of ini.hsSent.get(HS.Conclusion) ?? []) assert.notEqual(decodeHandshake(c.datagram.subarray(16)).extension, 0);
      assert.ok((rsp.hsSent.get(HS.Conclusion) ?? []).some((c) => decodeHandshake(c.datagram.subarray(16)).extensions.some((x) => x.type === 2)));
      // each direction starts at its sender's ISN
      assert.equal(a.conn.params.sendIsn, b.conn.params.recvIsn);
      assert.equal(b.conn.params.sendIsn, a.conn.params.recvIsn);
      assert.notEqual(a.conn.params.sendIsn, b.conn.params.sendIsn);
      assert.equal(a.conn.peerSocketId, b.socketId);
      assert.equal(b.conn.peerSocketId, a.socketId);
      // receiver latency = max(receiver's RCVLATENCY, sender's PEERLATENCY), whoever initiated
      assert.deepEqual([a.conn.params.rcvLatencyMs, a.conn.params.sndLatencyMs], [250, 150]);
      assert.deepEqual([b.conn.params.rcvLatencyMs, b.conn.params.sndLatencyMs], [150, 250]);
      // TSBPD base = one-way delay of the packet that carried HSREQ / HSRSP
      assert.equal(a.tsbpdOffset, 10_000);
      assert.equal(b.tsbpdOffset, 10_000);
      assertStream(a, 500, label);
      assertStream(b, 500, label);
      for (const e of [a, b]) {
        for (const d of e.deliveries) assert.ok(Math.abs(d.time - d.playTime) <= 2_000, `${e.name}: message ${d.index} at its play time`);
      }
    });
  }
}

test('a clean serial handshake: the late side connects one round trip after it started', () => {
  const p = simulateRendezvous({ seed: 3, cookieA: BIG, cookieB: SMALL, bDelayUs: 400_000, ab: { delayUs: 20_000 }, ba: { delayUs: 20_000 } });
  // B waves (20 ms) → A: CONCLUSION+HSREQ (20 ms) → B: CONCLUSION+HSRSP (20 ms) → A connected, AGREEMENT (20 ms) → B connected
  assert.equal(p.a.connectedAt - p.b.startedAt, 60_000);
  assert.equal(p.b.connectedAt - p.b.startedAt, 80_000);
  assert.equal(p.b.hsSent.get(HS.Waveahand)?.length, 1);
  assert.equal(p.a.hsSent.get(HS.Conclusion)?.length, 1);
  assert.equal(p.b.hsSent.get(HS.Conclusion)?.length, 1);
});

for (const keylen of [16, 32] as const) {
  test(`encrypted (pbkeylen ${keylen}), both cookie orders: the initiator's keys serve both directions, SECURED both ways`, () => {
    for (const [cookieA, cookieB] of [[BIG, SMALL], [SMALL, BIG]]) {
      const pass = { passphrase: 'rendezvous secret', pbkeylen: keylen };
      const p = simulateRendezvous({ seed: 21, cookieA, cookieB, bDelayUs: 300_000, ab: { delayUs: 5_000, loss: 0.02 }, ba: { delayUs: 5_000, loss: 0.02 }, a: { ...pass, latency: 200 }, b: pass, sender: 'both', messages: 800 });
      const { a, b } = p;
      assert.ok(a.conn && b.conn);
      for (const e of [a, b]) {
        assert.equal(e.conn!.tx!.state, KmState.Secured, `${e.name} tx`);
        assert.equal(e.conn!.rx!.state, KmState.Secured, `${e.name} rx`);
        assert.equal(e.conn!.tx!.keys.keyLen, keylen);
        assert.equal(e.conn!.stats(e.sim.now, false).pktRcvUndecryptTotal, 0);
      }
      // the responder's KMRSP echoes the initiator's KMREQ byte for byte
      const [ini, rsp] = cookieA === BIG ? [a, b] : [b, a];
      const kmreq = decodeHandshake(ini.hsSent.get(HS.Conclusion)!.at(-1)!.datagram.subarray(16)).extensions.find((x) => x.type === 3)!;
      const kmrsp = decodeHandshake(rsp.hsSent.get(HS.Conclusion)!.at(-1)!.datagram.subarray(16)).extensions.find((x) => x.type === 4)!;
      assert.ok(kmreq.data.equals(kmrsp.data));
      assertStream(a, 800, `keylen ${keylen}`);
      assertStream(b, 800, `keylen ${keylen}`);
    }
  });
}

test('encrypted: the advertised PBKEYLEN of the peer decides the initiator\'s key length (libsrt checkUpdateCryptoKeyLen)', () => {
  const p = simulateRendezvous({ seed: 8, cookieA: BIG, cookieB: SMALL, a: { passphrase: 'rendezvous secret' }, b: { passphrase: 'rendezvous secret', pbkeylen: 24 }, sender: 'a', messages: 50 });
  assert.equal(p.a.conn!.tx!.keys.keyLen, 24, 'A (initiator, no PBKEYLEN) adopted the responder\'s 24');
  assert.equal(p.b.conn!.rx!.keys!.keyLen, 24);
  assertStream(p.b, 50, 'adopted key length');
});

test('encrypted: a wrong passphrase fails both sides with BADSECRET, a passphrase on one side with UNSECURE', () => {
  for (const [cookieA, cookieB] of [[BIG, SMALL], [SMALL, BIG]]) {
    const bad = simulateRendezvous({ seed: 4, cookieA, cookieB, a: { passphrase: 'the first secret' }, b: { passphrase: 'another secret!' } });
    assert.deepEqual([bad.a.core.state, bad.a.core.rejectReason, bad.b.core.state, bad.b.core.rejectReason], ['failed', SRT_REJ.BADSECRET, 'failed', SRT_REJ.BADSECRET]);
    assert.ok(bad.sim.now - 1_000_000_000 < 1_000_000, 'the rejection is immediate, not a timeout');
    const one = simulateRendezvous({ seed: 4, cookieA, cookieB, a: { passphrase: 'the first secret' } });
    assert.deepEqual([one.a.core.rejectReason, one.b.core.rejectReason], [SRT_REJ.UNSECURE, SRT_REJ.UNSECURE]);
  }
});

test('handshake through 30 % loss each way: both connect once, resends at most 250 ms apart, then a clean stream', () => {
  let lostHs = 0;
  for (let seed = 1; seed <= 16; seed++) {
    const m = `seed=${seed}`;
    const p = simulateRendezvous({
      seed, bDelayUs: (seed % 4) * 150_000,
      ab: { loss: 0.3, delayUs: 15_000, jitterUs: 3_000 },
      ba: { loss: 0.3, delayUs: 15_000, jitterUs: 3_000 },
      a: { latency: 300 }, b: { latency: 300 },
    });
    const { a, b } = p;
    assert.ok(a.conn && b.conn, `connected, ${m}: a=${a.states.join('>')} b=${b.states.join('>')}`);
    lostHs += p.ab.stats.lost + p.ba.stats.lost;
    for (const e of [a, b]) {
      const sends = [...e.hsSent.values()].flat().map((x) => x.time).filter((t) => t <= e.connectedAt).sort((x, y) => x - y);
      for (let i = 1; i < sends.length; i++) assert.ok(sends[i]! - sends[i - 1]! <= 250_000, `${e.name} handshake gap ${sends[i]! - sends[i - 1]!} µs, ${m}`);
    }
    assert.deepEqual([a.conn.params.rcvLatencyMs, b.conn.params.rcvLatencyMs], [300, 300], m);
  }
  assert.ok(lostHs > 20, 'handshake packets were lost and resent');
});

test('encrypted handshake through 30 % loss each way, both cookie orders', () => {
  for (let seed = 30; seed < 42; seed++) {
    const pass = { passphrase: 'lossy secret 123', pbkeylen: 32 as const, latency: 250 };
    const p = simulateRendezvous({
      seed, bDelayUs: (seed % 3) * 200_000,
      ab: { loss: 0.3, delayUs: 12_000 }, ba: { loss: 0.3, delayUs: 12_000 },
      a: pass, b: pass,
    });
    assert.ok(p.a.conn && p.b.conn, `seed=${seed}: a=${p.a.states.join('>')} b=${p.b.states.join('>')}`);
    assert.equal(p.a.conn.tx!.state, KmState.Secured);
    assert.equal(p.b.conn.rx!.state, KmState.Secured);
  }
});

test('a lost AGREEMENT: the responder repeats CONCLUSION+HSRSP and the connected initiator answers with AGREEMENT', () => {
  let dropped = 0;
  const p = simulateRendezvous({
    seed: 11, cookieA: BIG, cookieB: SMALL, bDelayUs: 100_000,
    ab: { delayUs: 10_000, drop: (d) => hsType(d) === HS.Agreement && dropped++ < 2 },
    ba: { delayUs: 10_000 },
    sender: 'b', messages: 200,
  });
  assert.equal(dropped, 3, 'two AGREEMENTs lost, the third passed');
  assert.equal(p.a.hsSent.get(HS.Agreement)?.length, 3, 'one after HSRSP, then one per repeated CONCLUSION');
  assert.ok(p.b.connectedAt - p.a.connectedAt >= 500_000, 'B waited for two resends (250 ms each)');
  assertStream(p.a, 200, 'after the lost AGREEMENTs');
});

test('every AGREEMENT lost: the responder is "pinned in" by the initiator\'s first data packet, which it delivers', () => {
  const p = simulateRendezvous({
    seed: 12, cookieA: BIG, cookieB: SMALL, bDelayUs: 100_000,
    ab: { delayUs: 10_000, drop: (d) => hsType(d) === HS.Agreement },
    ba: { delayUs: 10_000 },
    sender: 'a', messages: 300, rate: 1000,
  });
  // A (initiator) is connected and sends at once; B still waits for AGREEMENT
  assert.ok(p.a.conn && p.b.conn);
  assert.deepEqual(p.b.states, ['waving', 'fine', 'connected']);
  assert.ok((p.b.hsReceived.get(HS.Agreement)?.length ?? 0) === 0);
  assertStream(p.b, 300, 'pinned in by data');
});

test('every AGREEMENT lost and no data: a KEEPALIVE pins the responder in within a second', () => {
  const p = simulateRendezvous({
    seed: 13, cookieA: SMALL, cookieB: BIG, bDelayUs: 100_000,
    ab: { delayUs: 10_000 },
    ba: { delayUs: 10_000, drop: (d) => hsType(d) === HS.Agreement },
    drainUs: 2_000_000,
  });
  assert.ok(p.a.conn && p.b.conn, `a=${p.a.states.join('>')}`);
  assert.equal(p.b.core.side, 'initiator');
  const gap = p.a.connectedAt - p.b.connectedAt;
  assert.ok(gap > 900_000 && gap < 1_200_000, `responder connected ${gap} µs after the initiator (keepalive after 1 s idle)`);
});

test('no peer: WAVEAHAND every 250 ms, then TIMEOUT after 10 × conntimeo (libsrt rendezvous TTL)', () => {
  const p = simulateRendezvous({ seed: 2, bDelayUs: 1e12, a: { conntimeo: 400 }, b: { conntimeo: 400 }, maxTimeUs: 8_000_000 });
  const a = p.a;
  assert.equal(RENDEZVOUS_TIMEOUT_FACTOR, 10);
  assert.equal(a.core.state, 'failed');
  assert.equal(a.core.rejectReason, SRT_REJ.TIMEOUT);
  const waves = a.hsSent.get(HS.Waveahand)!.map((x) => x.time - 1_000_000_000);
  assert.equal(waves.length, 16, 'at 0, 250 … 3750 ms');
  waves.forEach((t, i) => assert.equal(t, i * 250_000));
  assert.ok(a.timerAt === Infinity);
  // the WAVEAHAND itself: version 5, no extensions, our cookie, dst 0 (peer unknown)
  const w = a.hsSent.get(HS.Waveahand)![0]!.datagram;
  const hs = decodeHandshake(w.subarray(16));
  assert.deepEqual([hs.version, hs.extension, hs.encryption, hs.extensions.length, w.readUInt32BE(12), w.length], [5, 0, 0, 0, 0, 64]);
});

test('equal cookies: both sides fail with RDVCOOKIE and tell the peer (type 1009)', () => {
  const p = simulateRendezvous({ seed: 6, cookieA: 0x1234567, cookieB: 0x1234567, bDelayUs: 50_000 });
  assert.equal(p.a.core.rejectReason, SRT_REJ.RDVCOOKIE);
  assert.equal(p.b.core.rejectReason, SRT_REJ.RDVCOOKIE);
  assert.ok((p.a.hsSent.get(1000 + SRT_REJ.RDVCOOKIE)?.length ?? 0) + (p.b.hsSent.get(1000 + SRT_REJ.RDVCOOKIE)?.length ?? 0) >= 1);
});
