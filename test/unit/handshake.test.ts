// Handshake codec against real libsrt 1.5.1 captures (SRT-DIGEST §2), plus the extension codecs,
// the peer-IP and string byte-order quirks and rejection reason mapping.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { ParseError } from '../../src/protocol/errors.js';
import { CtrlType, checkControl, decodePacket, type ControlPacket } from '../../src/protocol/packet.js';
import {
  HS_CIF_SIZE, HS_MAGIC, HsExtFlag, HsExtType, HsType, MAX_SID_LENGTH, SLUICE_SRT_VERSION, SrtFlag, UDT_DGRAM,
  decodeHandshake, decodeHsGroup, decodeHsReq, decodeHsString, decodePeerIp, encodeHandshakeCif,
  encodeHandshakePacket, encodeHsGroup, encodeHsReq, encodeHsString, encodePeerIp, findExtension,
  type Handshake,
} from '../../src/protocol/handshake.js';
import {
  SRT_REJ, SRT_REJX, isValidRejectReason, rejectReasonFromWire, rejectReasonText, rejectReasonToWire,
} from '../../src/protocol/reject.js';
import { ListenerCore } from '../../src/protocol/listener.js';
import { MIN_MSS, resolveOptions } from '../../src/protocol/options.js';
import { CallerHandshake } from '../../src/protocol/caller.js';
import { fileTimeout } from '../support/file-timeout.js';

fileTimeout();

// dist/test/unit/ is three levels below the repository root.
const FIXTURE_URL = new URL('../../../test/fixtures/libsrt-1.5.1-handshakes.json', import.meta.url);

type Fixtures = Record<string, Record<string, string>>;
function loadFixtures(): Fixtures {
  const json = JSON.parse(readFileSync(FIXTURE_URL, 'utf8')) as Record<string, unknown>;
  const out: Fixtures = {};
  for (const [k, v] of Object.entries(json)) if (k !== '_about') out[k] = v as Record<string, string>;
  return out;
}
const FX = loadFixtures();
const live200 = FX['caller_streamid_latency200']!;
const unsecure = FX['rejected_unsecure']!;

function ctrl(hex: string): ControlPacket {
  const p = decodePacket(Buffer.from(hex, 'hex'));
  assert.equal(p.kind, 'control');
  return p as ControlPacket;
}

function hsOf(hex: string): { p: ControlPacket; hs: Handshake } {
  const p = ctrl(hex);
  assert.equal(p.type, CtrlType.Handshake);
  assert.equal(p.subtype, 0);
  assert.equal(p.typeInfo, 0);
  return { p, hs: decodeHandshake(p.cif) };
}

function reencode(hex: string): Buffer {
  const { p, hs } = hsOf(hex);
  return encodeHandshakePacket(hs, p.timestamp, p.dstSocketId);
}

const IPV4_LOOPBACK_WIRE = '0100007f' + '00'.repeat(12);

describe('libsrt 1.5.1 fixtures', () => {
  test('the fixture file resolves from dist/test/unit', () => {
    assert.ok(existsSync(FIXTURE_URL), FIXTURE_URL.pathname);
    assert.deepEqual(Object.keys(FX).sort(), ['caller_streamid_latency200', 'encrypted_aes192', 'rejected_unsecure']);
  });

  test('every captured handshake re-encodes byte-identically; every packet passes checkControl', () => {
    let handshakes = 0;
    let packets = 0;
    for (const [capture, entries] of Object.entries(FX)) {
      for (const [name, hex] of Object.entries(entries)) {
        if (name === 'command' || name === 'passphrase') continue;
        const bytes = Buffer.from(hex, 'hex');
        const p = ctrl(hex);
        checkControl(p);
        packets++;
        if (p.type !== CtrlType.Handshake) continue;
        const hs = decodeHandshake(p.cif);
        assert.equal(encodeHandshakeCif(hs).toString('hex'), p.cif.toString('hex'), `${capture}.${name} CIF`);
        assert.equal(encodeHandshakePacket(hs, p.timestamp, p.dstSocketId).toString('hex'), bytes.toString('hex'), `${capture}.${name}`);
        handshakes++;
      }
    }
    assert.equal(packets, 10);
    assert.equal(handshakes, 8);
  });

  test('induction request', () => {
    const { p, hs } = hsOf(live200['induction_request']!);
    assert.equal(p.dstSocketId, 0);
    assert.equal(p.timestamp, 0x110);
    assert.equal(hs.version, 4);
    assert.equal(hs.encryption, 0);
    assert.equal(hs.extension, UDT_DGRAM);
    assert.equal(hs.extension, 2);
    assert.equal(hs.isn, 0x49b19ce5);
    assert.equal(hs.mss, 1500);
    assert.equal(hs.flowWindow, 8192);
    assert.equal(hs.type, HsType.Induction);
    assert.equal(hs.type, 1);
    assert.equal(hs.socketId, 0x319835d6);
    assert.equal(hs.cookie, 0);
    assert.equal(hs.peerIp.toString('hex'), IPV4_LOOPBACK_WIRE);
    assert.equal(decodePeerIp(hs.peerIp), '127.0.0.1');
    assert.deepEqual(hs.extensions, []);
    assert.equal(p.cif.length, HS_CIF_SIZE);
  });

  test('induction response', () => {
    const { p, hs } = hsOf(live200['induction_response']!);
    assert.equal(p.dstSocketId, 0x319835d6, 'sent to the caller');
    assert.equal(hs.version, 5);
    assert.equal(hs.extension, HS_MAGIC);
    assert.equal(hs.extension, 0x4a17);
    assert.equal(hs.encryption, 0);
    assert.equal(hs.type, HsType.Induction);
    assert.equal(hs.socketId, 0x319835d6, 'libsrt leaves the caller id in the socket-id field');
    assert.equal(hs.cookie, 0x09d8e2e3);
    assert.equal(hs.isn, 0x49b19ce5);
    assert.equal(hs.mss, 1500);
    assert.equal(hs.flowWindow, 8192);
    assert.equal(decodePeerIp(hs.peerIp), '127.0.0.1');
    assert.deepEqual(hs.extensions, []);
  });

  test('conclusion request with HSREQ and SID', () => {
    const { p, hs } = hsOf(live200['conclusion_request']!);
    assert.equal(p.dstSocketId, 0);
    assert.equal(hs.version, 5);
    assert.equal(hs.type, HsType.Conclusion);
    assert.equal(hs.type, -1);
    assert.equal(hs.extension, HsExtFlag.HsReq | HsExtFlag.Config);
    assert.equal(hs.cookie, 0x09d8e2e3);
    assert.equal(hs.socketId, 0x319835d6);
    assert.equal(hs.isn, 0x49b19ce5);
    assert.deepEqual(hs.extensions.map((e) => [e.type, e.data.length]), [[HsExtType.HsReq, 12], [HsExtType.Sid, 28]]);
    const req = decodeHsReq(findExtension(hs, HsExtType.HsReq)!.data);
    assert.deepEqual(req, { srtVersion: 0x010501, flags: 0xbf, recvDelay: 200, sendDelay: 200 });
    const sid = findExtension(hs, HsExtType.Sid)!.data;
    assert.equal(decodeHsString(sid), '#!::r=live/test,m=publish');
    assert.deepEqual(encodeHsString('#!::r=live/test,m=publish'), sid);
    assert.equal(findExtension(hs, HsExtType.KmReq), undefined);
  });

  test('conclusion response with HSRSP', () => {
    const { p, hs } = hsOf(live200['conclusion_response']!);
    assert.equal(Buffer.from(live200['conclusion_response']!, 'hex').length, 80);
    assert.equal(p.dstSocketId, 0x319835d6);
    assert.equal(hs.version, 5);
    assert.equal(hs.type, HsType.Conclusion);
    assert.equal(hs.extension, HsExtFlag.HsReq);
    assert.equal(hs.socketId, 0x11859727, 'the accepted socket id');
    assert.equal(hs.isn, 0x49b19ce5, "the caller's ISN");
    assert.equal(hs.cookie, 0x09d8e2e3);
    assert.deepEqual(hs.extensions.map((e) => e.type), [HsExtType.HsRsp]);
    assert.deepEqual(decodeHsReq(hs.extensions[0]!.data), { srtVersion: 0x010501, flags: 0xbf, recvDelay: 200, sendDelay: 200 });
    assert.equal(findExtension(hs, HsExtType.Sid), undefined, 'SID is not echoed');
  });

  test('default-latency conclusion request: 120/0', () => {
    const { hs } = hsOf(unsecure['conclusion_request']!);
    assert.equal(hs.extension, HsExtFlag.HsReq);
    assert.deepEqual(decodeHsReq(findExtension(hs, HsExtType.HsReq)!.data), { srtVersion: 0x010501, flags: 0xbf, recvDelay: 120, sendDelay: 0 });
    assert.equal(findExtension(hs, HsExtType.Sid), undefined);
  });

  test('rejection: type 1011 = SRT_REJ_UNSECURE', () => {
    const { p, hs } = hsOf(unsecure['rejection']!);
    assert.equal(p.dstSocketId, 0x2c4e1b6f);
    assert.equal(hs.version, 5);
    assert.equal(hs.type, 1011);
    assert.equal(rejectReasonFromWire(hs.type), 11);
    assert.equal(rejectReasonFromWire(hs.type), SRT_REJ.UNSECURE);
    assert.equal(rejectReasonText(rejectReasonFromWire(hs.type)), 'Password required or unexpected');
    assert.deepEqual(hs.extensions, []);
    assert.equal(decodePeerIp(hs.peerIp), '127.0.0.1');
  });

  test('KEEPALIVE and SHUTDOWN captures are 20-byte control packets', () => {
    for (const [name, type] of [['keepalive', CtrlType.Keepalive], ['shutdown', CtrlType.Shutdown]] as const) {
      const hex = live200[name]!;
      assert.equal(hex.length, 40);
      assert.equal(ctrl(hex).type, type);
    }
  });

  test('re-encoding after a field change alters exactly that field', () => {
    const { p, hs } = hsOf(live200['induction_request']!);
    const orig = Buffer.from(live200['induction_request']!, 'hex');
    const changed = encodeHandshakePacket({ ...hs, cookie: 0x01020304 }, p.timestamp, p.dstSocketId);
    assert.equal(changed.readUInt32BE(16 + 28), 0x01020304);
    assert.deepEqual(changed.subarray(0, 16 + 28), orig.subarray(0, 16 + 28));
    assert.deepEqual(changed.subarray(16 + 32), orig.subarray(16 + 32));
    assert.deepEqual(reencode(live200['induction_request']!), orig);
  });
});

describe('handshake CIF edge cases', () => {
  const conclusion = Buffer.from(live200['conclusion_request']!, 'hex');
  const HSREQ_END = 16 + HS_CIF_SIZE + 16; // header + CIF + HSREQ block

  function withExtraExtension(at: number, ext: Buffer): Buffer {
    return Buffer.concat([conclusion.subarray(0, at), ext, conclusion.subarray(at)]);
  }

  test('an unknown extension (type 48385, Blackmagic) is kept and the others are still found', () => {
    const vendor = Buffer.from('bd01' + '0002' + 'deadbeef' + 'cafebabe', 'hex');
    assert.equal(vendor.readUInt16BE(0), 48385);
    const bytes = withExtraExtension(HSREQ_END, vendor);
    const p = decodePacket(bytes) as ControlPacket;
    const hs = decodeHandshake(p.cif);
    assert.deepEqual(hs.extensions.map((e) => e.type), [HsExtType.HsReq, 48385, HsExtType.Sid]);
    assert.equal(findExtension(hs, 48385)!.data.toString('hex'), 'deadbeefcafebabe');
    assert.equal(decodeHsString(findExtension(hs, HsExtType.Sid)!.data), '#!::r=live/test,m=publish');
    assert.equal(decodeHsReq(findExtension(hs, HsExtType.HsReq)!.data).flags, 0xbf);
    assert.deepEqual(encodeHandshakePacket(hs, p.timestamp, p.dstSocketId), bytes);
  });

  test('unknown extensions with zero length, first or last', () => {
    const empty = Buffer.from('bd010000', 'hex');
    for (const at of [16 + HS_CIF_SIZE, HSREQ_END, conclusion.length]) {
      const bytes = withExtraExtension(at, empty);
      const hs = decodeHandshake((decodePacket(bytes) as ControlPacket).cif);
      assert.equal(hs.extensions.length, 3);
      assert.equal(findExtension(hs, 48385)!.data.length, 0);
      assert.equal(decodeHsString(findExtension(hs, HsExtType.Sid)!.data), '#!::r=live/test,m=publish');
    }
  });

  test('the listener skips an unknown extension and accepts the caller', () => {
    const listener = new ListenerCore({ options: resolveOptions(), secret: randomBytes(32), now: 0 });
    const induction = ctrl(live200['induction_request']!);
    const r1 = listener.handleHandshake(1000, '127.0.0.1', 40000, induction);
    if (r1.kind !== 'reply') assert.fail(`induction not answered: ${JSON.stringify(r1)}`);
    const rsp = decodeHandshake((decodePacket(r1.datagram) as ControlPacket).cif);
    assert.equal(rsp.version, 5);
    assert.equal(rsp.extension, HS_MAGIC);
    const { hs } = hsOf(live200['conclusion_request']!);
    hs.cookie = rsp.cookie;
    hs.extensions.splice(1, 0, { type: 48385, data: Buffer.from('0123456789abcdef', 'hex') });
    const concl = decodePacket(encodeHandshakePacket(hs, 2000, 0)) as ControlPacket;
    const r2 = listener.handleHandshake(2000, '127.0.0.1', 40000, concl);
    if (r2.kind !== 'request') assert.fail(`conclusion not turned into a request: ${JSON.stringify(r2)}`);
    assert.equal(r2.request.streamId, '#!::r=live/test,m=publish');
    assert.deepEqual(r2.request.requestedLatency, { rcv: 200, peer: 200 });
    assert.equal(r2.request.handshake.extensions.length, 3);
  });

  test('an extension that overruns the packet is a ParseError', () => {
    const cif = Buffer.concat([Buffer.alloc(HS_CIF_SIZE), Buffer.from('00050003' + 'aabbccdd', 'hex')]);
    assert.throws(() => decodeHandshake(cif), ParseError);
    const cif2 = Buffer.concat([Buffer.alloc(HS_CIF_SIZE), Buffer.from('0001ffff', 'hex')]);
    assert.throws(() => decodeHandshake(cif2), ParseError);
  });

  test('a CIF shorter than 48 bytes is a ParseError', () => {
    for (const n of [0, 4, 32, 47]) assert.throws(() => decodeHandshake(Buffer.alloc(n)), ParseError, `${n} bytes`);
    assert.equal(decodeHandshake(Buffer.alloc(48)).extensions.length, 0);
  });

  test('the handshake type is signed; rejection codes and AGREEMENT survive a round trip', () => {
    for (const type of [HsType.Induction, HsType.Waveahand, HsType.Conclusion, HsType.Agreement, HsType.Done, 1000, 1011, 2403, 3005]) {
      const hs = decodeHandshake(Buffer.alloc(48));
      hs.type = type;
      const back = decodeHandshake(encodeHandshakeCif(hs));
      assert.equal(back.type, type);
    }
    const neg = Buffer.alloc(48);
    neg.writeUInt32BE(0xfffffffe, 20);
    assert.equal(decodeHandshake(neg).type, HsType.Agreement);
  });

  test('the ISN top bit is masked on decode and encode', () => {
    const cif = Buffer.alloc(48);
    cif.writeUInt32BE(0xffffffff, 8);
    const hs = decodeHandshake(cif);
    assert.equal(hs.isn, 0x7fffffff);
    assert.equal(encodeHandshakeCif(hs).readUInt32BE(8), 0x7fffffff);
  });

  test('encodeHandshakeCif refuses extension data that is not a multiple of 4 bytes', () => {
    const hs = decodeHandshake(Buffer.alloc(48));
    hs.extensions.push({ type: 5, data: Buffer.alloc(3) });
    assert.throws(() => encodeHandshakeCif(hs), RangeError);
  });

  test('decoded extension data does not alias the input buffer', () => {
    const bytes = Buffer.from(conclusion);
    const hs = decodeHandshake((decodePacket(bytes) as ControlPacket).cif);
    bytes.fill(0);
    assert.equal(decodeHsString(findExtension(hs, HsExtType.Sid)!.data), '#!::r=live/test,m=publish');
    assert.equal(decodePeerIp(hs.peerIp), '127.0.0.1');
  });
});

describe('string extensions (SID / CONGESTION / FILTER)', () => {
  test('the digest example: every 4-byte group reversed, NUL padded', () => {
    const enc = encodeHsString('#!::r=live/test,m=publish');
    assert.equal(enc.toString('latin1'), '::!#il=rt/ev,tseup=msilb\0\0\0h');
    assert.equal(enc.length, 28);
  });

  test('lengths 0..17 round trip, padded to a multiple of 4', () => {
    const alphabet = 'abcdefghijklmnopq';
    for (let n = 0; n <= 17; n++) {
      const s = alphabet.slice(0, n);
      const enc = encodeHsString(s);
      assert.equal(enc.length, Math.ceil(n / 4) * 4, `length ${n}`);
      assert.equal(decodeHsString(enc), s);
    }
  });

  test('"file" (CONGESTION) and "abcde"', () => {
    assert.equal(encodeHsString('file').toString('latin1'), 'elif');
    assert.equal(encodeHsString('abcde').toString('hex'), '64636261' + '00000065');
  });

  test('a 512-byte stream id round trips', () => {
    const s = 'x'.repeat(MAX_SID_LENGTH - 3) + 'end';
    assert.equal(Buffer.byteLength(s), 512);
    const enc = encodeHsString(s);
    assert.equal(enc.length, 512);
    assert.equal(decodeHsString(enc), s);
  });

  test('UTF-8 stream ids round trip (multi-byte characters crossing group boundaries)', () => {
    for (const s of ['#!::r=caméra', '日本語のストリーム', 'emoji 🎥🎬 end', 'ß', '\u00e9\u00e9\u00e9', 'a\u0000b']) {
      assert.equal(decodeHsString(encodeHsString(s)), s);
    }
  });

  test('decode strips all trailing NUL padding', () => {
    assert.equal(decodeHsString(Buffer.from('00636261', 'hex')), 'abc');
    assert.equal(decodeHsString(Buffer.alloc(8)), '');
    assert.equal(decodeHsString(Buffer.alloc(0)), '');
  });

  test('decode does not modify its input', () => {
    const enc = encodeHsString('hello world');
    const copy = Buffer.from(enc);
    decodeHsString(enc);
    assert.deepEqual(enc, copy);
  });

  test('property: decode(encode(s)) === s for strings without trailing NULs', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 200, size: 'max' }).filter((s) => !s.endsWith('\0')), (s) => {
      const enc = encodeHsString(s);
      assert.equal(enc.length % 4, 0);
      assert.ok(enc.length - Buffer.byteLength(s) < 4);
      assert.equal(decodeHsString(enc), s);
    }), { numRuns: 1000 });
  });
});

describe('peer IP (word-reversed)', () => {
  /** Canonical IPv6 text (RFC 5952) via the WHATWG URL parser. */
  const canon6 = (a: string): string => new URL(`http://[${a}]/`).hostname;

  test('IPv4 encodes as libsrt writes it', () => {
    assert.equal(encodePeerIp('127.0.0.1').toString('hex'), IPV4_LOOPBACK_WIRE);
    assert.equal(encodePeerIp('192.168.1.20').toString('hex'), '1401a8c0' + '00'.repeat(12));
    assert.equal(decodePeerIp(Buffer.from('1401a8c0' + '00'.repeat(12), 'hex')), '192.168.1.20');
  });

  test('IPv4-mapped IPv6 is written as plain IPv4', () => {
    assert.equal(encodePeerIp('::ffff:127.0.0.1').toString('hex'), IPV4_LOOPBACK_WIRE);
    assert.equal(decodePeerIp(encodePeerIp('::ffff:127.0.0.1')), '127.0.0.1');
  });

  test('IPv6 addresses are reversed per 4-byte group', () => {
    assert.equal(encodePeerIp('::1').toString('hex'), '00'.repeat(12) + '01000000');
    assert.equal(encodePeerIp('2001:db8::1').toString('hex'), 'b80d0120' + '00'.repeat(8) + '01000000');
    assert.equal(
      encodePeerIp('2001:db8:85a3:8d3:1319:8a2e:370:7348').toString('hex'),
      'b80d0120' + 'd308a385' + '2e8a1913' + '48737003',
    );
    assert.equal(encodePeerIp('fe80::1%eth0').toString('hex'), '000080fe' + '00'.repeat(8) + '01000000');
  });

  test('IPv6 decodes to an equivalent address', () => {
    for (const a of ['::1', '2001:db8::1', '2001:db8:85a3:8d3:1319:8a2e:370:7348', 'fe80::abcd:1', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff']) {
      assert.equal(canon6(decodePeerIp(encodePeerIp(a))), canon6(a), a);
    }
  });

  test('IPv6 with an embedded dotted IPv4 suffix (inet_ntop style)', () => {
    assert.equal(encodePeerIp('::1.2.3.4').toString('hex'), '00'.repeat(12) + '04030201');
    assert.equal(encodePeerIp('64:ff9b::192.0.2.33').toString('hex'), encodePeerIp('64:ff9b::c000:221').toString('hex'));
    assert.equal(canon6(decodePeerIp(encodePeerIp('64:ff9b::192.0.2.33'))), canon6('64:ff9b::c000:221'));
  });

  test('unparseable addresses encode as 16 zero bytes', () => {
    for (const a of ['', 'localhost', '256.1.1.1', '1.2.3', '1::2::3', '12345::', '1:2:3:4:5:6:7:8:9', '::1.2.3.400']) {
      assert.deepEqual(encodePeerIp(a), Buffer.alloc(16), JSON.stringify(a));
    }
  });

  test('property: IPv4 round trip', () => {
    fc.assert(fc.property(fc.ipV4(), (a) => {
      const enc = encodePeerIp(a);
      assert.deepEqual(enc.subarray(4), Buffer.alloc(12));
      assert.deepEqual([...enc.subarray(0, 4)].reverse(), a.split('.').map(Number));
      assert.equal(decodePeerIp(enc), a);
    }), { numRuns: 500 });
  });

  test('property: IPv6 from 8 random groups encodes word-reversed and decodes to the same address', () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 }), (groups) => {
      const full = groups.map((g) => g.toString(16)).join(':');
      const plain = Buffer.alloc(16);
      groups.forEach((g, i) => plain.writeUInt16BE(g, i * 2));
      const wire = Buffer.alloc(16);
      for (let w = 0; w < 4; w++) for (let i = 0; i < 4; i++) wire[w * 4 + i] = plain[w * 4 + 3 - i]!;
      const compressed = canon6(full).slice(1, -1);
      assert.deepEqual(encodePeerIp(full), wire, full);
      assert.deepEqual(encodePeerIp(compressed), wire, compressed);
      const dec = decodePeerIp(wire);
      if (plain.subarray(4).every((b) => b === 0)) assert.equal(dec, [...plain.subarray(0, 4)].join('.'));
      else assert.equal(canon6(dec), canon6(full));
    }), { numRuns: 1000 });
  });

  test('property: generated IPv6 texts (incl. dotted suffixes) encode to the same bytes as their canonical form', () => {
    fc.assert(fc.property(fc.ipV6(), (a) => {
      const c = canon6(a).slice(1, -1);
      if (a.toLowerCase().startsWith('::ffff:') && a.includes('.')) return; // written as IPv4 on purpose
      assert.deepEqual(encodePeerIp(a), encodePeerIp(c), `${a} vs ${c}`);
    }), { numRuns: 1000 });
  });
});

describe('HSREQ / HSRSP block', () => {
  test('exact bytes: receiver delay in the upper half, sender delay in the lower half', () => {
    const b = encodeHsReq({ srtVersion: 0x010501, flags: 0xbf, recvDelay: 120, sendDelay: 0 });
    assert.equal(b.toString('hex'), '00010501' + '000000bf' + '00780000');
    const c = encodeHsReq({ srtVersion: SLUICE_SRT_VERSION, flags: 0xe4, recvDelay: 0x1234, sendDelay: 0xfedc });
    assert.equal(c.toString('hex'), '00010501' + '000000e4' + '1234fedc');
  });

  test('libsrt flag values', () => {
    assert.equal(SrtFlag.TsbpdSnd | SrtFlag.TsbpdRcv | SrtFlag.HaiCrypt | SrtFlag.TlPktDrop | SrtFlag.NakReport | SrtFlag.RexmitFlg | SrtFlag.FilterCap, 0xbf);
    assert.equal(SrtFlag.HaiCrypt | SrtFlag.RexmitFlg | SrtFlag.Stream | SrtFlag.FilterCap, 0xe4);
    assert.equal(SLUICE_SRT_VERSION, 0x00010501);
  });

  test('decode ignores trailing words and rejects short blocks', () => {
    const long = Buffer.concat([encodeHsReq({ srtVersion: 1, flags: 2, recvDelay: 3, sendDelay: 4 }), Buffer.alloc(8, 0xff)]);
    assert.deepEqual(decodeHsReq(long), { srtVersion: 1, flags: 2, recvDelay: 3, sendDelay: 4 });
    for (const n of [0, 4, 8, 11]) assert.throws(() => decodeHsReq(Buffer.alloc(n)), ParseError);
  });

  test('property: round trip', () => {
    fc.assert(fc.property(
      fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 0xffffffff }),
      fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff }),
      (srtVersion, flags, recvDelay, sendDelay) => {
        const r = { srtVersion, flags, recvDelay, sendDelay };
        const b = encodeHsReq(r);
        assert.equal(b.length, 12);
        assert.deepEqual(decodeHsReq(b), r);
      },
    ), { numRuns: 1000 });
  });
});

describe('GROUP extension', () => {
  test('exact bytes', () => {
    const b = encodeHsGroup({ groupId: 0x40000001, groupType: 2, flags: 0x01, weight: 10 });
    assert.equal(b.toString('hex'), '40000001' + '0201000a');
    assert.deepEqual(decodeHsGroup(b), { groupId: 0x40000001, groupType: 2, flags: 1, weight: 10 });
  });

  test('short data is a ParseError', () => {
    for (const n of [0, 4, 7]) assert.throws(() => decodeHsGroup(Buffer.alloc(n)), ParseError);
  });

  test('property: round trip', () => {
    fc.assert(fc.property(
      fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 0xff }),
      fc.integer({ min: 0, max: 0xff }), fc.integer({ min: 0, max: 0xffff }),
      (groupId, groupType, flags, weight) => {
        const g = { groupId, groupType, flags, weight };
        assert.deepEqual(decodeHsGroup(encodeHsGroup(g)), g);
      },
    ), { numRuns: 1000 });
  });
});

describe('rejection reasons', () => {
  test('API value + 1000 goes on the wire', () => {
    assert.equal(rejectReasonToWire(SRT_REJ.UNSECURE), 1011);
    assert.equal(rejectReasonToWire(SRT_REJX.FORBIDDEN), 2403);
    assert.equal(rejectReasonToWire(1403), 2403);
    assert.equal(rejectReasonToWire(2005), 3005);
    assert.equal(rejectReasonToWire(SRT_REJ.UNKNOWN), 1000);
    assert.equal(rejectReasonFromWire(2403), 1403);
    assert.equal(rejectReasonFromWire(3005), 2005);
    assert.equal(rejectReasonFromWire(1403), 403);
    for (let r = 0; r < 3000; r += 7) assert.equal(rejectReasonFromWire(rejectReasonToWire(r)), r);
  });

  test('libsrt numbering of the constants', () => {
    assert.equal(SRT_REJ.VERSION, 8);
    assert.equal(SRT_REJ.BADSECRET, 10);
    assert.equal(SRT_REJ.MESSAGEAPI, 12);
    assert.equal(SRT_REJ.CRYPTO, 17);
    assert.equal(SRT_REJX.CONFLICT, 1409);
    assert.equal(SRT_REJX.NOTFOUND, 1404);
  });

  test('validity ranges', () => {
    assert.equal(isValidRejectReason(0), true);
    assert.equal(isValidRejectReason(17), true);
    assert.equal(isValidRejectReason(18), false);
    assert.equal(isValidRejectReason(999), false);
    assert.equal(isValidRejectReason(1000), true);
    assert.equal(isValidRejectReason(2999), true);
    assert.equal(isValidRejectReason(3000), false);
    assert.equal(isValidRejectReason(-1), false);
    assert.equal(isValidRejectReason(1403.5), false);
  });

  test('texts', () => {
    assert.equal(rejectReasonText(SRT_REJ.UNSECURE), 'Password required or unexpected');
    assert.equal(rejectReasonText(SRT_REJ.BADSECRET), 'Incorrect passphrase');
    assert.equal(rejectReasonText(0), 'Unknown or erroneous');
    assert.equal(rejectReasonText(403), 'Unknown or erroneous');
    assert.match(rejectReasonText(1403), /^Application-defined rejection reason/);
    assert.match(rejectReasonText(1403), /SRT_REJX_FORBIDDEN/);
    assert.equal(rejectReasonText(1999), 'Application-defined rejection reason');
    assert.equal(rejectReasonText(2005), 'User-defined rejection reason');
    assert.equal(rejectReasonText(5000), 'Unknown or erroneous');
  });
});

describe('a rogue MSS in the handshake is refused (it used to crash Connection)', () => {
  function listenerAnswer(mss: number): { kind: string; type?: number; accepted?: boolean } {
    const listener = new ListenerCore({ options: resolveOptions(), secret: randomBytes(32), now: 0 });
    const r1 = listener.handleHandshake(0, '127.0.0.1', 40000, ctrl(live200['induction_request']!));
    if (r1.kind !== 'reply') assert.fail('induction not answered');
    const { hs } = hsOf(live200['conclusion_request']!);
    hs.cookie = decodeHandshake((decodePacket(r1.datagram) as ControlPacket).cif).cookie;
    hs.mss = mss;
    const r2 = listener.handleHandshake(0, '127.0.0.1', 40000, decodePacket(encodeHandshakePacket(hs, 0, 0)) as ControlPacket);
    if (r2.kind === 'reply') return { kind: 'reply', type: decodeHandshake((decodePacket(r2.datagram) as ControlPacket).cif).type };
    if (r2.kind !== 'request') return { kind: r2.kind };
    const d = listener.decide(0, r2.request, {}, 0x2000);
    return { kind: 'decided', type: decodeHandshake((decodePacket(d.datagram) as ControlPacket).cif).type, accepted: d.connection !== null };
  }

  test('listener: MSS below 76 is rejected as ROGUE (1004)', () => {
    assert.equal(MIN_MSS, 76);
    for (const mss of [0, 1, 28, 29, 44, 75]) {
      assert.deepEqual(listenerAnswer(mss), { kind: 'reply', type: rejectReasonToWire(SRT_REJ.ROGUE) }, `mss ${mss}`);
    }
  });

  test('listener: MSS 76 and up is accepted with min(own, peer)', () => {
    for (const mss of [76, 1000, 1500, 9000, 0xffffffff]) {
      assert.deepEqual(listenerAnswer(mss), { kind: 'decided', type: HsType.Conclusion, accepted: true }, `mss ${mss}`);
    }
  });

  function callerAfterResponse(mss: number): CallerHandshake {
    const caller = new CallerHandshake({ options: resolveOptions(), localSocketId: 0x1111, isn: 5, peerAddress: '127.0.0.1', peerPort: 9000, now: 0 });
    const ind = decodeHandshake((decodePacket(caller.pollTransmit()!) as ControlPacket).cif);
    assert.equal(ind.version, 4);
    caller.handlePacket(1000, decodePacket(encodeHandshakePacket({ ...ind, version: 5, extension: HS_MAGIC, cookie: 0xabcdef }, 1000, 0x1111)) as ControlPacket);
    assert.equal(caller.state, 'conclusion');
    const concl = decodeHandshake((decodePacket(caller.pollTransmit()!) as ControlPacket).cif);
    assert.equal(concl.cookie, 0xabcdef);
    const rsp: Handshake = {
      ...concl, mss, socketId: 0x2222, extension: HsExtFlag.HsReq,
      extensions: [{ type: HsExtType.HsRsp, data: encodeHsReq({ srtVersion: 0x010501, flags: 0xbf, recvDelay: 120, sendDelay: 120 }) }],
    };
    caller.handlePacket(2000, decodePacket(encodeHandshakePacket(rsp, 2000, 0x1111)) as ControlPacket);
    return caller;
  }

  test('caller: a conclusion response with MSS below 76 fails with ROGUE', () => {
    for (const mss of [0, 28, 75]) {
      const c = callerAfterResponse(mss);
      assert.equal(c.state, 'failed', `mss ${mss}`);
      assert.equal(c.rejectReason, SRT_REJ.ROGUE);
      assert.equal(c.connection, null);
    }
  });

  test('caller: a normal conclusion response connects', () => {
    const c = callerAfterResponse(1500);
    assert.equal(c.state, 'connected');
    assert.ok(c.connection);
  });
});
