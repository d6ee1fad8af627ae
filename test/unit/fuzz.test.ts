// Fuzzing: every decoder may only throw ParseError; the listener must never throw on any handshake;
// decode(encode(x)) === x for valid packets.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { ParseError } from '../../src/protocol/errors.js';
import {
  CtrlType, ackKind, checkControl, decodeAck, decodeDropReq, decodeLossList, decodePacket, encodeAck, encodeControl,
  encodeDataPacket, encodeDropReq, encodeLossList, type AckInfo, type ControlPacket, type DataPacket, type SeqRange,
} from '../../src/protocol/packet.js';
import {
  HsExtType, HsType, decodeHandshake, decodeHsGroup, decodeHsReq, decodeHsString, decodePeerIp, encodeHandshakePacket,
  encodeHsGroup, encodeHsReq, encodeHsString, type Handshake, type HsExtension,
} from '../../src/protocol/handshake.js';
import { ListenerCore, type AcceptDecision } from '../../src/protocol/listener.js';
import { resolveOptions } from '../../src/protocol/options.js';
import { SEQ_MAX } from '../../src/protocol/seq.js';
import { fileTimeout } from '../support/file-timeout.js';

fileTimeout();

const RUNS = 3000;

function buf(a: Uint8Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

/** Runs fn; a ParseError is fine, anything else fails the test. Returns true if fn returned normally. */
function onlyParseError(name: string, fn: () => unknown): boolean {
  try {
    fn();
    return true;
  } catch (e) {
    if (e instanceof ParseError) return false;
    assert.fail(`${name} threw a non-ParseError: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
  }
}

// size: 'max' so that lengths spread over the whole [minLength, maxLength] range (fast-check's default
// 'small' size would keep almost every array under ~10 elements).
const bytesArb = (maxLength: number, minLength = 0): fc.Arbitrary<Buffer> => fc.uint8Array({ minLength, maxLength, size: 'max' }).map(buf);
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const seqArb = fc.integer({ min: 0, max: SEQ_MAX });

function controlPacket(typeInfo: number, cif: Buffer, type = 0): ControlPacket {
  return { kind: 'control', type, subtype: 0, typeInfo, timestamp: 0, dstSocketId: 0, cif };
}

// ------------------------------------------------------------------ fixtures for mutation fuzzing

const FIXTURE_URL = new URL('../../../test/fixtures/libsrt-1.5.1-handshakes.json', import.meta.url);
const fixtureJson = JSON.parse(readFileSync(FIXTURE_URL, 'utf8')) as Record<string, Record<string, string> | string>;
const FIXTURE_PACKETS: Buffer[] = [];
for (const [k, v] of Object.entries(fixtureJson)) {
  if (k === '_about' || typeof v === 'string') continue;
  for (const [name, hex] of Object.entries(v)) if (name !== 'command') FIXTURE_PACKETS.push(Buffer.from(hex, 'hex'));
}
const CONCLUSION = Buffer.from((fixtureJson['caller_streamid_latency200'] as Record<string, string>)['conclusion_request']!, 'hex');

/** A fixture packet with a few random byte overwrites and an optional truncation / extension. */
const mutatedFixtureArb: fc.Arbitrary<Buffer> = fc.record({
  which: fc.integer({ min: 0, max: FIXTURE_PACKETS.length - 1 }),
  edits: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
  cut: fc.option(fc.nat(), { nil: undefined }),
  tail: bytesArb(16),
}).map(({ which, edits, cut, tail }) => {
  let b = Buffer.from(FIXTURE_PACKETS[which]!);
  for (const [i, v] of edits) b[i % b.length] = v;
  if (cut !== undefined) b = b.subarray(0, cut % (b.length + 1));
  return Buffer.concat([b, tail]);
});

// ------------------------------------------------------------------ structured generators

const extDataArb = fc.integer({ min: 0, max: 12 }).chain((words) => bytesArb(words * 4, words * 4));
const extensionArb: fc.Arbitrary<HsExtension> = fc.oneof(
  fc.record({ type: u16, data: extDataArb }),
  fc.record({ type: fc.constantFrom(1, 2, 3, 4, 5, 6, 7, 8, 48385), data: extDataArb }),
  fc.record({
    type: fc.constant(HsExtType.HsReq),
    data: fc.record({ srtVersion: fc.oneof(u32, fc.constantFrom(0x010501, 0x010300, 0x0102ff)), flags: u32, recvDelay: u16, sendDelay: u16 }).map(encodeHsReq),
  }),
  fc.record({ type: fc.constantFrom(HsExtType.Sid, HsExtType.Congestion, HsExtType.Filter), data: fc.string({ maxLength: 600, size: 'max' }).map(encodeHsString) }),
  fc.record({ type: fc.constant(HsExtType.Congestion), data: fc.constantFrom('live', 'file', '').map(encodeHsString) }),
  fc.record({ type: fc.constant(HsExtType.Group), data: fc.record({ groupId: u32, groupType: fc.integer({ min: 0, max: 255 }), flags: fc.integer({ min: 0, max: 255 }), weight: u16 }).map(encodeHsGroup) }),
);

const handshakeArb: fc.Arbitrary<Handshake> = fc.record({
  version: fc.oneof(u32, fc.constantFrom(4, 5)),
  encryption: fc.oneof(u16, fc.constantFrom(0, 2, 3, 4)),
  extension: u16,
  isn: seqArb,
  mss: fc.oneof(u32, fc.constantFrom(0, 1, 28, 44, 75, 76, 1500, 9000)),
  flowWindow: fc.oneof(u32, fc.constantFrom(0, 8192)),
  type: fc.oneof(fc.integer({ min: -0x80000000, max: 0x7fffffff }), fc.constantFrom(1, 0, -1, -2, -3, 1000, 1011, 2403)),
  socketId: u32,
  cookie: u32,
  peerIp: bytesArb(16, 16),
  extensions: fc.array(extensionArb, { maxLength: 5 }),
});

/** Conclusions that look like a real caller's, so that the listener gets past its first checks. */
const conclusionArb: fc.Arbitrary<Handshake> = fc.record({
  hs: handshakeArb,
  hsreq: fc.record({
    srtVersion: fc.constantFrom(0x010300, 0x010403, 0x010501, 0x010505, 0x020000),
    flags: fc.oneof(fc.constantFrom(0xbf, 0x3f, 0x37, 0xe4, 0x00), u32),
    recvDelay: u16,
    sendDelay: u16,
  }),
  sid: fc.option(fc.oneof(fc.string({ maxLength: 40 }), fc.string({ minLength: 500, maxLength: 520, size: 'max' })), { nil: undefined }),
  others: fc.array(extensionArb, { maxLength: 2 }),
  encryption: fc.constantFrom(0, 0, 0, 2, 4),
  mss: fc.oneof(fc.constantFrom(0, 1, 28, 29, 44, 75, 76, 1000, 1456, 1500), u32),
}).map(({ hs, hsreq, sid, others, encryption, mss }) => ({
  ...hs,
  version: 5,
  type: HsType.Conclusion,
  encryption,
  mss,
  extensions: [
    { type: HsExtType.HsReq, data: encodeHsReq(hsreq) },
    ...(sid === undefined ? [] : [{ type: HsExtType.Sid, data: encodeHsString(sid) }]),
    ...others,
  ],
}));

const ackArb: fc.Arbitrary<AckInfo> = fc.oneof(
  fc.record({ ackNo: fc.constant(0), ackSeq: seqArb }),
  fc.record({ ackNo: u32, ackSeq: seqArb, rtt: u32, rttVar: u32, availBuf: u32 }),
  fc.record({ ackNo: u32, ackSeq: seqArb, rtt: u32, rttVar: u32, availBuf: u32, pktRecvRate: u32, bandwidth: u32, recvRate: u32 }),
);

const rangeArb: fc.Arbitrary<SeqRange> = fc.oneof(
  seqArb.map((s): SeqRange => [s, s]),
  fc.tuple(seqArb, seqArb),
);

// ------------------------------------------------------------------ decoders

describe('decoders throw only ParseError', () => {
  test('decodePacket + checkControl on random bytes', () => {
    let ok = 0;
    fc.assert(fc.property(bytesArb(128), (b) => {
      if (onlyParseError('decodePacket', () => decodePacket(b))) {
        ok++;
        assert.ok(b.length >= 16);
        const p = decodePacket(b);
        if (p.kind === 'control') onlyParseError('checkControl', () => checkControl(p));
      } else {
        assert.ok(b.length < 16, 'decodePacket only fails on short input');
      }
    }), { numRuns: RUNS });
    assert.ok(ok > 0);
  });

  test('decodeHandshake on random bytes', () => {
    fc.assert(fc.property(bytesArb(200), (b) => {
      onlyParseError('decodeHandshake', () => decodeHandshake(b));
    }), { numRuns: RUNS });
  });

  test('decodeHandshake on a valid 48-byte CIF followed by random extension bytes', () => {
    let ok = 0;
    fc.assert(fc.property(bytesArb(48, 48), bytesArb(120), (head, tail) => {
      if (onlyParseError('decodeHandshake', () => decodeHandshake(Buffer.concat([head, tail])))) ok++;
    }), { numRuns: RUNS });
    assert.ok(ok > 0);
  });

  test('decodePacket + decodeHandshake on mutated libsrt captures', () => {
    fc.assert(fc.property(mutatedFixtureArb, (b) => {
      onlyParseError('decodePacket/decodeHandshake', () => {
        const p = decodePacket(b);
        if (p.kind === 'control') decodeHandshake(p.cif);
      });
    }), { numRuns: RUNS });
  });

  test('decodeHsReq on random bytes', () => {
    fc.assert(fc.property(bytesArb(24), (b) => {
      const ok = onlyParseError('decodeHsReq', () => decodeHsReq(b));
      assert.equal(ok, b.length >= 12);
    }), { numRuns: RUNS });
  });

  test('decodeAck on random CIFs', () => {
    fc.assert(fc.property(u32, bytesArb(40), (typeInfo, cif) => {
      const ok = onlyParseError('decodeAck', () => decodeAck(controlPacket(typeInfo, cif, CtrlType.Ack)));
      assert.equal(ok, cif.length >= 4);
    }), { numRuns: RUNS });
  });

  test('decodeLossList on random bytes (including well-aligned ones)', () => {
    fc.assert(fc.property(fc.oneof(bytesArb(64), fc.array(u32, { maxLength: 16, size: 'max' }).map((ws) => {
      const b = Buffer.alloc(ws.length * 4);
      ws.forEach((w, i) => b.writeUInt32BE(w, i * 4));
      return b;
    })), (b) => {
      if (onlyParseError('decodeLossList', () => decodeLossList(b))) {
        for (const [x, y] of decodeLossList(b)) {
          assert.ok(x >= 0 && x <= SEQ_MAX && y >= 0 && y <= SEQ_MAX, `range ${x}..${y} outside 31 bits`);
        }
      }
    }), { numRuns: RUNS });
  });

  test('decodeDropReq on random CIFs', () => {
    fc.assert(fc.property(u32, bytesArb(16), (typeInfo, cif) => {
      const ok = onlyParseError('decodeDropReq', () => decodeDropReq(controlPacket(typeInfo, cif, CtrlType.DropReq)));
      assert.equal(ok, cif.length >= 8);
    }), { numRuns: RUNS });
  });

  test('decodeHsGroup on random bytes', () => {
    fc.assert(fc.property(bytesArb(16), (b) => {
      const ok = onlyParseError('decodeHsGroup', () => decodeHsGroup(b));
      assert.equal(ok, b.length >= 8);
    }), { numRuns: RUNS });
  });

  test('decodeHsString and decodePeerIp on random bytes never throw', () => {
    fc.assert(fc.property(bytesArb(64), (b) => {
      assert.equal(typeof decodeHsString(b), 'string');
      assert.equal(typeof decodePeerIp(b.subarray(0, 16)), 'string');
    }), { numRuns: RUNS });
  });
});

// ------------------------------------------------------------------ listener

describe('ListenerCore never throws', () => {
  const decisionArb: fc.Arbitrary<AcceptDecision> = fc.oneof(
    fc.constant({}),
    fc.record({ reject: fc.oneof(fc.integer({ min: -5, max: 4000 }), fc.constantFrom(11, 1403, 2005)) }),
    fc.record({ options: fc.record({ latency: fc.integer({ min: -10, max: 70000 }) }, { requiredKeys: [] }) }),
    fc.record({ options: fc.constantFrom({ passphrase: '0123456789' }, { streamid: 'x' }, { rcvlatency: 500, peerlatency: 20 }) }),
  );

  function newListener(): ListenerCore {
    return new ListenerCore({ options: resolveOptions(), secret: randomBytes(32), now: 0 });
  }

  /** Asks the listener for its SYN cookie with a well-formed induction. */
  function cookieFor(l: ListenerCore, now: number, address: string, port: number): number {
    const induction = decodePacket(encodeHandshakePacket({
      version: 4, encryption: 0, extension: 2, isn: 1, mss: 1500, flowWindow: 8192, type: HsType.Induction,
      socketId: 0x1234, cookie: 0, peerIp: Buffer.alloc(16), extensions: [],
    }, 0, 0)) as ControlPacket;
    const r = l.handleHandshake(now, address, port, induction);
    if (r.kind !== 'reply') assert.fail(`induction not answered: ${JSON.stringify(r)}`);
    return decodeHandshake((decodePacket(r.datagram) as ControlPacket).cif).cookie;
  }

  test('random control packets of type 0', () => {
    const l = newListener();
    const kinds = new Set<string>();
    fc.assert(fc.property(bytesArb(160, 16), fc.integer({ min: 0, max: 10 ** 9 }), (b, now) => {
      b[0] = 0x80;
      b[1] = 0x00;
      const p = decodePacket(b);
      assert.equal(p.kind, 'control');
      const r = l.handleHandshake(now, '127.0.0.1', 5000, p as ControlPacket);
      kinds.add(r.kind);
      if (r.kind === 'reply') assert.ok(decodePacket(r.datagram).kind === 'control');
    }), { numRuns: RUNS });
    assert.ok(kinds.has('ignore'));
  });

  test('random handshakes, including conclusions with a valid cookie; decisions on every request', () => {
    const l = newListener();
    const kinds = new Set<string>();
    let socketId = 1000;
    fc.assert(fc.property(fc.oneof(handshakeArb, conclusionArb), fc.boolean(), fc.integer({ min: 0, max: 1000 }), decisionArb, (hs, withCookie, port, decision) => {
      const now = 1_000_000;
      if (withCookie) {
        hs.cookie = cookieFor(l, now, '10.0.0.1', port);
        if (hs.type !== HsType.Induction) hs.type = HsType.Conclusion;
      }
      const p = decodePacket(encodeHandshakePacket(hs, 0, 0)) as ControlPacket;
      const r = l.handleHandshake(now, '10.0.0.1', port, p);
      kinds.add(r.kind);
      if (r.kind === 'request') {
        const d = l.decide(now, r.request, decision, ++socketId);
        assert.ok(Buffer.isBuffer(d.datagram));
        const back = decodeHandshake((decodePacket(d.datagram) as ControlPacket).cif);
        if (d.connection) assert.equal(back.type, HsType.Conclusion);
        else assert.ok(back.type >= 1000, `rejection type ${back.type}`);
        // a repeated conclusion gets the identical answer (the header timestamp may be re-stamped)
        const again = l.handleHandshake(now + 1000, '10.0.0.1', port, p);
        if (again.kind !== 'reply') assert.fail(`repeat not answered: ${JSON.stringify(again)}`);
        assert.deepEqual(again.datagram.subarray(0, 8), d.datagram.subarray(0, 8));
        assert.deepEqual(again.datagram.subarray(12), d.datagram.subarray(12));
      }
    }), { numRuns: 2000 });
    assert.ok(kinds.has('request'), 'the generator reaches the accept hook');
    assert.ok(kinds.has('reply'));
  });

  test('mutated libsrt conclusions with a valid cookie', () => {
    const l = newListener();
    let port = 0;
    fc.assert(fc.property(mutatedFixtureArb, (b) => {
      const now = 2_000_000;
      const myPort = ++port;
      const concl = Buffer.from(b);
      if (concl.length >= 16 + 32) {
        concl[0] = 0x80;
        concl[1] = 0x00;
        concl.writeUInt32BE(cookieFor(l, now, '127.0.0.1', myPort), 16 + 28);
      }
      let p: ControlPacket;
      try {
        p = decodePacket(concl) as ControlPacket;
      } catch (e) {
        assert.ok(e instanceof ParseError);
        return;
      }
      if (p.kind !== 'control') return;
      const r = l.handleHandshake(now, '127.0.0.1', myPort, p);
      if (r.kind === 'request') l.decide(now, r.request, {}, 5000 + myPort);
    }), { numRuns: RUNS });
  });

  test('the unmodified libsrt conclusion with a valid cookie becomes a request', () => {
    const l = newListener();
    const b = Buffer.from(CONCLUSION);
    b.writeUInt32BE(cookieFor(l, 0, '127.0.0.1', 1), 16 + 28);
    const r = l.handleHandshake(0, '127.0.0.1', 1, decodePacket(b) as ControlPacket);
    assert.equal(r.kind, 'request');
  });
});

// ------------------------------------------------------------------ round trips

describe('decode(encode(x)) === x', () => {
  test('data packets', () => {
    const dataArb = fc.record({
      seq: seqArb,
      position: fc.integer({ min: 0, max: 3 }),
      inOrder: fc.boolean(),
      keyFlags: fc.integer({ min: 0, max: 3 }),
      retransmitted: fc.boolean(),
      msgNo: fc.integer({ min: 0, max: 0x03ffffff }),
      timestamp: u32,
      dstSocketId: u32,
      payload: bytesArb(1456),
    });
    fc.assert(fc.property(dataArb, (d) => {
      const wire = encodeDataPacket(d);
      assert.equal(wire.length, 16 + d.payload.length);
      const p = decodePacket(wire) as DataPacket;
      assert.equal(p.kind, 'data');
      const { kind: _k, datagram, ...rest } = p;
      assert.equal(datagram, wire, 'the datagram itself, not a copy');
      assert.deepEqual({ ...rest, payload: Buffer.from(rest.payload) }, { ...d, payload: Buffer.from(d.payload) });
    }), { numRuns: 1000 });
  });

  test('raw bytes → packet → bytes for any datagram of 16+ bytes', () => {
    fc.assert(fc.property(bytesArb(64, 16), (b) => {
      const p = decodePacket(b);
      const again = p.kind === 'data'
        ? encodeDataPacket(p)
        : encodeControl(p.type, p.subtype, p.typeInfo, p.timestamp, p.dstSocketId, p.cif);
      assert.deepEqual(again, b);
    }), { numRuns: RUNS });
  });

  test('ACKs (light, small, full)', () => {
    fc.assert(fc.property(ackArb, u32, u32, (a, ts, dst) => {
      const p = decodePacket(encodeAck(a, ts, dst)) as ControlPacket;
      assert.equal(p.type, CtrlType.Ack);
      assert.equal(p.timestamp, ts);
      assert.equal(p.dstSocketId, dst);
      const back = decodeAck(p);
      assert.deepEqual(back, { ...a }); // fc.record objects have a null prototype
      assert.equal(ackKind(back), ackKind(a));
    }), { numRuns: RUNS });
  });

  test('NAK range lists', () => {
    fc.assert(fc.property(fc.array(rangeArb, { maxLength: 50, size: 'max' }), (ranges) => {
      const cif = encodeLossList(ranges);
      assert.equal(cif.length, ranges.reduce((n, [a, b]) => n + (a === b ? 4 : 8), 0));
      assert.deepEqual(decodeLossList(cif), ranges);
    }), { numRuns: RUNS });
  });

  test('NAK range lists with a word cap decode to a prefix', () => {
    fc.assert(fc.property(fc.array(rangeArb, { maxLength: 30, size: 'max' }), fc.integer({ min: 0, max: 64 }), (ranges, cap) => {
      const cif = encodeLossList(ranges, cap);
      assert.ok(cif.length <= cap * 4);
      const back = decodeLossList(cif);
      assert.deepEqual(back, ranges.slice(0, back.length));
      if (back.length < ranges.length) {
        const [a, b] = ranges[back.length]!;
        assert.ok(cif.length / 4 + (a === b ? 1 : 2) > cap, 'stopped although the next entry fitted');
      }
    }), { numRuns: RUNS });
  });

  test('DROPREQ', () => {
    fc.assert(fc.property(u32, seqArb, seqArb, (msgNo, first, last) => {
      const p = decodePacket(encodeDropReq({ msgNo, first, last }, 0, 0)) as ControlPacket;
      assert.deepEqual(decodeDropReq(p), { msgNo, first, last });
    }), { numRuns: RUNS });
  });

  test('handshakes with arbitrary extensions', () => {
    fc.assert(fc.property(handshakeArb, u32, u32, (hs, ts, dst) => {
      const wire = encodeHandshakePacket(hs, ts, dst);
      const p = decodePacket(wire) as ControlPacket;
      assert.equal(p.type, CtrlType.Handshake);
      assert.equal(p.timestamp, ts);
      assert.equal(p.dstSocketId, dst);
      const back = decodeHandshake(p.cif);
      assert.deepEqual(
        { ...back, peerIp: [...back.peerIp], extensions: back.extensions.map((e) => [e.type, e.data.toString('hex')]) },
        { ...hs, peerIp: [...hs.peerIp], extensions: hs.extensions.map((e) => [e.type, e.data.toString('hex')]) },
      );
      assert.deepEqual(encodeHandshakePacket(back, ts, dst), wire);
    }), { numRuns: RUNS });
  });
});
