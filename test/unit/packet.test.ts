// Packet codecs: data packets, ACK / NAK / ACKACK / KEEPALIVE / SHUTDOWN / DROPREQ / PEERERROR /
// user-defined control packets (SRT-DIGEST §1).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ParseError } from '../../src/protocol/errors.js';
import {
  CtrlType, ExtSubtype, HEADER_SIZE, Position, ackKind, checkControl, dataWord1, decodeAck, decodeDropReq,
  decodeLossList, decodePacket, encodeAck, encodeAckAck, encodeControl, encodeDataPacket, encodeDropReq,
  encodeKeepalive, encodeLossList, encodeNak, encodePeerError, encodeShutdown, isControl, setRetransmitFlag,
  type AckInfo, type ControlPacket, type DataPacket, type SeqRange,
} from '../../src/protocol/packet.js';
import { fileTimeout } from '../support/file-timeout.js';

fileTimeout();

/** Builds a buffer from big-endian 32-bit words. */
function words(...ws: number[]): Buffer {
  const b = Buffer.alloc(ws.length * 4);
  ws.forEach((w, i) => b.writeUInt32BE(w >>> 0, i * 4));
  return b;
}

function asData(buf: Buffer): DataPacket {
  const p = decodePacket(buf);
  assert.equal(p.kind, 'data');
  return p as DataPacket;
}

function asControl(buf: Buffer): ControlPacket {
  const p = decodePacket(buf);
  assert.equal(p.kind, 'control');
  return p as ControlPacket;
}

function reencodeControl(p: ControlPacket): Buffer {
  return encodeControl(p.type, p.subtype, p.typeInfo, p.timestamp, p.dstSocketId, p.cif);
}

function reencodeData(p: DataPacket): Buffer {
  const { kind: _kind, ...rest } = p;
  return encodeDataPacket(rest);
}

describe('common header', () => {
  test('HEADER_SIZE is 16 and control type constants match the digest', () => {
    assert.equal(HEADER_SIZE, 16);
    assert.deepEqual(
      [CtrlType.Handshake, CtrlType.Keepalive, CtrlType.Ack, CtrlType.Nak, CtrlType.CongestionWarning,
        CtrlType.Shutdown, CtrlType.AckAck, CtrlType.DropReq, CtrlType.PeerError, CtrlType.UserDefined],
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 0x7fff],
    );
    assert.deepEqual(ExtSubtype, { HsReq: 1, HsRsp: 2, KmReq: 3, KmRsp: 4 });
    assert.deepEqual(Position, { Middle: 0, Last: 1, First: 2, Solo: 3 });
  });

  test('packets shorter than 16 bytes are a ParseError', () => {
    for (let n = 0; n < 16; n++) {
      assert.throws(() => decodePacket(Buffer.alloc(n, 0x80)), ParseError, `length ${n}`);
    }
  });

  test('isControl looks at the top bit of the first byte', () => {
    assert.equal(isControl(Buffer.from([0x80])), true);
    assert.equal(isControl(Buffer.from([0xff, 0, 0])), true);
    assert.equal(isControl(Buffer.from([0x7f, 0xff])), false);
    assert.equal(isControl(Buffer.alloc(0)), false);
  });

  test('timestamp and destination socket id are unsigned 32-bit', () => {
    const buf = words(0x80010000, 0, 0xffffffff, 0xfedcba98, 0);
    const p = asControl(buf);
    assert.equal(p.timestamp, 0xffffffff);
    assert.equal(p.dstSocketId, 0xfedcba98);
    assert.deepEqual(reencodeControl(p), buf);
  });
});

describe('data packets', () => {
  test('round trip bytes → object → bytes for every PP/O/KK/R combination', () => {
    let n = 0;
    for (let pp = 0; pp < 4; pp++) {
      for (const o of [0, 1]) {
        for (let kk = 0; kk < 4; kk++) {
          for (const r of [0, 1]) {
            const msgNo = (0x01234567 + n * 0x10101) & 0x03ffffff;
            const w1 = ((pp << 30) | (o << 29) | (kk << 27) | (r << 26) | msgNo) >>> 0;
            const payload = Buffer.from(`payload-${n}`);
            const buf = Buffer.concat([words(0x12345678 + n, w1, 0x9abcdef0, 0x0badcafe), payload]);
            const p = asData(buf);
            assert.equal(p.seq, 0x12345678 + n);
            assert.equal(p.position, pp);
            assert.equal(p.inOrder, o === 1);
            assert.equal(p.keyFlags, kk);
            assert.equal(p.retransmitted, r === 1);
            assert.equal(p.msgNo, msgNo);
            assert.equal(p.timestamp, 0x9abcdef0);
            assert.equal(p.dstSocketId, 0x0badcafe);
            assert.deepEqual(p.payload, payload);
            assert.equal(dataWord1(pp, o === 1, kk, r === 1, msgNo), w1);
            assert.deepEqual(reencodeData(p), buf);
            n++;
          }
        }
      }
    }
    assert.equal(n, 64);
  });

  test('live-mode packet as FFmpeg/srt-live-transmit send it (solo, clear, msgno 1)', () => {
    const buf = Buffer.concat([words(0x7fffffff, 0xc0000001, 1000, 0x319835d6), Buffer.alloc(1316, 0x47)]);
    const p = asData(buf);
    assert.equal(p.seq, 0x7fffffff);
    assert.equal(p.position, Position.Solo);
    assert.equal(p.inOrder, false);
    assert.equal(p.keyFlags, 0);
    assert.equal(p.retransmitted, false);
    assert.equal(p.msgNo, 1);
    assert.equal(p.payload.length, 1316);
    assert.deepEqual(reencodeData(p), buf);
  });

  test('message number limits: 0x03FFFFFF and 0 (filter control)', () => {
    for (const msgNo of [0, 1, 0x03ffffff]) {
      const buf = encodeDataPacket({
        seq: 1, position: Position.Solo, inOrder: true, keyFlags: 2, retransmitted: true, msgNo, timestamp: 0, dstSocketId: 1, payload: Buffer.alloc(0),
      });
      const p = asData(buf);
      assert.equal(p.msgNo, msgNo);
      assert.equal(p.keyFlags, 2);
      assert.equal(p.inOrder, true);
      assert.equal(p.retransmitted, true);
    }
  });

  test('a 16-byte data packet has an empty payload', () => {
    const p = asData(words(5, 0xc0000001, 0, 0));
    assert.equal(p.payload.length, 0);
    assert.equal(p.seq, 5);
  });

  test('encodeDataPacket writes exact bytes', () => {
    const buf = encodeDataPacket({
      seq: 0x7fffffff, position: Position.First, inOrder: false, keyFlags: 1, retransmitted: false,
      msgNo: 0x03ffffff, timestamp: 0xffffffff, dstSocketId: 0x3fffffff, payload: Buffer.from([1, 2, 3]),
    });
    assert.equal(buf.toString('hex'), '7fffffff' + '8bffffff' + 'ffffffff' + '3fffffff' + '010203');
  });
});

describe('setRetransmitFlag', () => {
  test('sets only the R bit and leaves every other field alone', () => {
    const orig = encodeDataPacket({
      seq: 0x7ffffffe, position: Position.Solo, inOrder: true, keyFlags: 2, retransmitted: false,
      msgNo: 0x02aaaaaa, timestamp: 123456, dstSocketId: 0x11223344, payload: Buffer.from('abc'),
    });
    const copy = Buffer.from(orig);
    setRetransmitFlag(copy);
    const p = asData(copy);
    assert.equal(p.retransmitted, true);
    assert.equal(p.seq, 0x7ffffffe);
    assert.equal(p.position, Position.Solo);
    assert.equal(p.inOrder, true);
    assert.equal(p.keyFlags, 2);
    assert.equal(p.msgNo, 0x02aaaaaa);
    assert.equal(p.timestamp, 123456);
    assert.equal(p.dstSocketId, 0x11223344);
    assert.equal(p.payload.toString(), 'abc');
    for (let i = 0; i < orig.length; i++) {
      if (i === 4) assert.equal(copy[i], orig[i]! | 0x04);
      else assert.equal(copy[i], orig[i], `byte ${i} changed`);
    }
    setRetransmitFlag(copy); // idempotent
    assert.equal(copy[4], orig[4]! | 0x04);
  });

  test('works when every other word-1 bit is zero', () => {
    const buf = words(1, 0, 0, 0);
    setRetransmitFlag(buf);
    assert.equal(buf.readUInt32BE(4), 0x04000000);
    assert.equal(asData(buf).retransmitted, true);
    assert.equal(asData(buf).msgNo, 0);
  });
});

describe('ACK', () => {
  test('full ACK (7 words) round trip', () => {
    const buf = words(0x80020000, 42, 1000, 0x1234, 0x7fffffff, 20000, 5000, 8000, 4321, 98765, 123456789);
    const p = asControl(buf);
    assert.equal(p.type, CtrlType.Ack);
    assert.equal(p.typeInfo, 42);
    const a = decodeAck(p);
    assert.deepEqual(a, {
      ackNo: 42, ackSeq: 0x7fffffff, rtt: 20000, rttVar: 5000, availBuf: 8000, pktRecvRate: 4321, bandwidth: 98765, recvRate: 123456789,
    });
    assert.equal(ackKind(a), 'full');
    assert.deepEqual(encodeAck(a, 1000, 0x1234), buf);
  });

  test('small ACK (4 words) round trip', () => {
    const buf = words(0x80020000, 7, 55, 66, 100, 100000, 50000, 8192);
    const a = decodeAck(asControl(buf));
    assert.deepEqual(a, { ackNo: 7, ackSeq: 100, rtt: 100000, rttVar: 50000, availBuf: 8192 });
    assert.equal(ackKind(a), 'small');
    assert.deepEqual(encodeAck(a, 55, 66), buf);
  });

  test('light ACK (1 word, ACK number 0) round trip', () => {
    const buf = words(0x80020000, 0, 99, 77, 0x40000000);
    const a = decodeAck(asControl(buf));
    assert.deepEqual(a, { ackNo: 0, ackSeq: 0x40000000 });
    assert.equal(ackKind(a), 'light');
    assert.deepEqual(encodeAck(a, 99, 77), buf);
    assert.equal(encodeAck(a, 99, 77).length, 20);
  });

  test('UDT-era 6-word ACK: rates present, receiving rate absent', () => {
    const a = decodeAck(asControl(words(0x80020000, 3, 0, 0, 10, 1, 2, 3, 4, 5)));
    assert.deepEqual(a, { ackNo: 3, ackSeq: 10, rtt: 1, rttVar: 2, availBuf: 3, pktRecvRate: 4, bandwidth: 5 });
    assert.equal(ackKind(a), 'full');
    // re-encoded as a 7-word full ACK with recvRate 0
    const re = encodeAck(a, 0, 0);
    assert.equal(re.length, 16 + 28);
    assert.equal(re.readUInt32BE(16 + 24), 0);
  });

  test('2- and 3-word CIFs are read as light ACKs; 5 words as small', () => {
    assert.equal(ackKind(decodeAck(asControl(words(0x80020000, 0, 0, 0, 9, 1)))), 'light');
    assert.equal(ackKind(decodeAck(asControl(words(0x80020000, 0, 0, 0, 9, 1, 2)))), 'light');
    assert.equal(ackKind(decodeAck(asControl(words(0x80020000, 1, 0, 0, 9, 1, 2, 3, 4)))), 'small');
  });

  test('the top bit of the acknowledged sequence is masked', () => {
    assert.equal(decodeAck(asControl(words(0x80020000, 0, 0, 0, 0xffffffff))).ackSeq, 0x7fffffff);
  });

  test('CIF shorter than one word is a ParseError', () => {
    for (const extra of [0, 1, 2, 3]) {
      const buf = Buffer.concat([words(0x80020000, 1, 0, 0), Buffer.alloc(extra)]);
      assert.throws(() => decodeAck(asControl(buf)), ParseError);
    }
  });

  test('ackKind of hand-built objects', () => {
    assert.equal(ackKind({ ackNo: 0, ackSeq: 1 }), 'light');
    assert.equal(ackKind({ ackNo: 1, ackSeq: 1, rtt: 1, rttVar: 1, availBuf: 1 }), 'small');
    assert.equal(ackKind({ ackNo: 1, ackSeq: 1, rtt: 1, rttVar: 1, availBuf: 1, pktRecvRate: 0, bandwidth: 0, recvRate: 0 }), 'full');
  });

  test('encodeAck fills missing optional fields with 0', () => {
    const a: AckInfo = { ackNo: 5, ackSeq: 6, rtt: 7 };
    const b = encodeAck(a, 0, 0);
    assert.equal(b.length, 32);
    assert.deepEqual(b.subarray(16), words(6, 7, 0, 0));
  });
});

describe('NAK loss lists', () => {
  test('singles and ranges decode, then re-encode byte-identically', () => {
    const cif = words(5, 0x8000000a, 0x0f, 0x7fffffff, 0xfffffffe, 0x00000001, 0x20);
    const ranges = decodeLossList(cif);
    assert.deepEqual(ranges, [[5, 5], [10, 15], [0x7fffffff, 0x7fffffff], [0x7ffffffe, 1], [0x20, 0x20]]);
    assert.deepEqual(encodeLossList(ranges), cif);
  });

  test('full NAK packet round trip', () => {
    const buf = Buffer.concat([words(0x80030000, 0, 1234, 0x55), words(0x80000001, 0x00000003, 9)]);
    const p = asControl(buf);
    assert.equal(p.type, CtrlType.Nak);
    const ranges = decodeLossList(p.cif);
    assert.deepEqual(ranges, [[1, 3], [9, 9]]);
    assert.deepEqual(encodeNak(ranges, 1234, 0x55), buf);
  });

  test('encodeLossList without a cap encodes everything', () => {
    const ranges: SeqRange[] = [[1, 1], [5, 9], [0x7ffffff0, 0x7fffffff]];
    const b = encodeLossList(ranges);
    assert.deepEqual(b, words(1, 0x80000005, 9, 0xfffffff0, 0x7fffffff));
    assert.deepEqual(encodeNak(ranges, 0, 0).subarray(16), b);
  });

  test('encodeLossList with maxWords never splits a range and never exceeds the cap', () => {
    const ranges: SeqRange[] = [[1, 1], [3, 5], [7, 7], [10, 20]];
    assert.deepEqual(encodeLossList(ranges, 0), Buffer.alloc(0));
    assert.deepEqual(encodeLossList(ranges, 1), words(1));
    assert.deepEqual(encodeLossList(ranges, 2), words(1)); // [3,5] needs two words
    assert.deepEqual(encodeLossList(ranges, 3), words(1, 0x80000003, 5));
    assert.deepEqual(encodeLossList(ranges, 4), words(1, 0x80000003, 5, 7));
    assert.deepEqual(encodeLossList(ranges, 5), words(1, 0x80000003, 5, 7));
    assert.deepEqual(encodeLossList(ranges, 6), words(1, 0x80000003, 5, 7, 0x8000000a, 20));
    assert.deepEqual(encodeLossList(ranges, 100), words(1, 0x80000003, 5, 7, 0x8000000a, 20));
    assert.deepEqual(encodeLossList(ranges, 3.9), words(1, 0x80000003, 5));
    assert.deepEqual(encodeNak(ranges, 0, 0, 3).subarray(16), words(1, 0x80000003, 5));
  });

  test('libsrt periodic NAK cap: 1456 / 4 = 364 words', () => {
    const ranges: SeqRange[] = [];
    for (let i = 0; i < 400; i++) ranges.push([i * 10, i * 10 + 1]);
    const b = encodeLossList(ranges, 364);
    assert.equal(b.length, 364 * 4);
    assert.deepEqual(decodeLossList(b), ranges.slice(0, 182));
  });

  test('empty loss list', () => {
    assert.deepEqual(decodeLossList(Buffer.alloc(0)), []);
    assert.deepEqual(encodeLossList([]), Buffer.alloc(0));
  });

  test('malformed loss lists are a ParseError', () => {
    assert.throws(() => decodeLossList(Buffer.alloc(5)), ParseError);
    assert.throws(() => decodeLossList(Buffer.alloc(2)), ParseError);
    assert.throws(() => decodeLossList(words(1, 0x80000002)), ParseError, 'range without end');
    assert.throws(() => decodeLossList(words(0x80000002, 0x80000005)), ParseError, 'range end with the range bit');
  });
});

describe('KEEPALIVE / SHUTDOWN / ACKACK / PEERERROR are 20 bytes', () => {
  test('KEEPALIVE matches the libsrt capture', () => {
    const captured = Buffer.from('8001000000000000000f719b319835d600000000', 'hex');
    const p = asControl(captured);
    assert.equal(p.type, CtrlType.Keepalive);
    assert.equal(p.subtype, 0);
    assert.equal(p.cif.length, 4);
    assert.deepEqual(encodeKeepalive(p.timestamp, p.dstSocketId), captured);
    assert.equal(encodeKeepalive(0, 0).length, 20);
  });

  test('SHUTDOWN matches the libsrt capture', () => {
    const captured = Buffer.from('8005000000000000001730f31185972700000000', 'hex');
    const p = asControl(captured);
    assert.equal(p.type, CtrlType.Shutdown);
    assert.equal(p.timestamp, 0x1730f3);
    assert.equal(p.dstSocketId, 0x11859727);
    assert.deepEqual(encodeShutdown(p.timestamp, p.dstSocketId), captured);
  });

  test('ACKACK carries the ACK number in word 1', () => {
    const b = encodeAckAck(0xdeadbeef, 10, 20);
    assert.equal(b.length, 20);
    assert.deepEqual(b, words(0x80060000, 0xdeadbeef, 10, 20, 0));
    const p = asControl(b);
    assert.equal(p.type, CtrlType.AckAck);
    assert.equal(p.typeInfo, 0xdeadbeef);
  });

  test('PEERERROR carries the error code in word 1', () => {
    const b = encodePeerError(4000, 1, 2);
    assert.deepEqual(b, words(0x80080000, 4000, 1, 2, 0));
    const p = asControl(b);
    assert.equal(p.type, CtrlType.PeerError);
    assert.equal(p.typeInfo, 4000);
    checkControl(p);
  });

  test('16-byte forms (no pad) decode too', () => {
    for (const type of [CtrlType.Keepalive, CtrlType.Shutdown, CtrlType.AckAck]) {
      const p = asControl(words(0x80000000 | (type << 16), 0, 0, 0));
      assert.equal(p.type, type);
      assert.equal(p.cif.length, 0);
      checkControl(p);
    }
  });
});

describe('DROPREQ', () => {
  test('round trip with message number and first/last', () => {
    const buf = words(0x80070000, 0x00abcdef, 1, 2, 0x7ffffffe, 0x00000003);
    const p = asControl(buf);
    assert.equal(p.type, CtrlType.DropReq);
    const d = decodeDropReq(p);
    assert.deepEqual(d, { msgNo: 0x00abcdef, first: 0x7ffffffe, last: 3 });
    assert.deepEqual(encodeDropReq(d, 1, 2), buf);
  });

  test('top bits of the sequence numbers are masked', () => {
    const d = decodeDropReq(asControl(words(0x80070000, 0, 0, 0, 0xffffffff, 0x80000001)));
    assert.equal(d.first, 0x7fffffff);
    assert.equal(d.last, 1);
  });

  test('CIF shorter than 8 bytes is a ParseError', () => {
    assert.throws(() => decodeDropReq(asControl(words(0x80070000, 0, 0, 0, 1))), ParseError);
    assert.throws(() => decodeDropReq(asControl(words(0x80070000, 0, 0, 0))), ParseError);
  });
});

describe('user-defined control packets (0x7FFF)', () => {
  test('type and subtype round trip for every subtype', () => {
    for (const subtype of [ExtSubtype.HsReq, ExtSubtype.HsRsp, ExtSubtype.KmReq, ExtSubtype.KmRsp, 0xffff]) {
      const cif = words(0x00010501, 0xbf, 0x00780000);
      const b = encodeControl(CtrlType.UserDefined, subtype, 0, 77, 88, cif);
      assert.equal(b.readUInt32BE(0), (0xffff0000 | subtype) >>> 0);
      const p = asControl(b);
      assert.equal(p.type, 0x7fff);
      assert.equal(p.subtype, subtype);
      assert.deepEqual(p.cif, cif);
      checkControl(p);
      assert.deepEqual(reencodeControl(p), b);
    }
  });
});

describe('checkControl', () => {
  test('types 0–8 with subtype 0 pass', () => {
    for (let type = 0; type <= 8; type++) {
      checkControl(asControl(words(0x80000000 | (type << 16), 0, 0, 0)));
    }
  });

  test('types 0–8 with a non-zero subtype are rejected', () => {
    for (let type = 0; type <= 8; type++) {
      for (const subtype of [1, 2, 0x8000, 0xffff]) {
        const p = asControl(words(0x80000000 | (type << 16) | subtype, 0, 0, 0));
        assert.equal(p.subtype, subtype);
        assert.throws(() => checkControl(p), ParseError, `type ${type} subtype ${subtype}`);
      }
    }
  });

  test('unknown control types are rejected', () => {
    for (const type of [9, 10, 0x100, 0x4000, 0x7ffe]) {
      const p = asControl(words(0x80000000 | (type << 16), 0, 0, 0));
      assert.equal(p.type, type);
      assert.throws(() => checkControl(p), ParseError, `type 0x${type.toString(16)}`);
    }
  });

  test('user-defined 0x7FFF accepts any subtype', () => {
    for (const subtype of [0, 1, 4, 0xffff]) checkControl(asControl(words(0xffff0000 | subtype, 0, 0, 0)));
  });
});
