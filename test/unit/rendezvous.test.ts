// RendezvousCore against captured libsrt 1.5.1 rendezvous exchanges (two srt-live-transmit, see
// test/fixtures/libsrt-1.5.1-rendezvous.json): we replay one side's packets into a core that has
// the other side's socket id, ISN and cookie, and compare what it answers with what libsrt sent.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { decodeHandshake, HsExtFlag, HsExtType, HsType, SrtFlag, type Handshake } from '../../src/protocol/handshake.js';
import { CtrlType, decodePacket, type ControlPacket } from '../../src/protocol/packet.js';
import { resolveOptions, type SrtOptions } from '../../src/protocol/options.js';
import { cookieContest, RendezvousCore } from '../../src/protocol/rendezvous.js';
import { KmState } from '../../src/protocol/crypto.js';
import { fileTimeout } from '../support/file-timeout.js';

fileTimeout();

const FIXTURE_URL = new URL('../../../test/fixtures/libsrt-1.5.1-rendezvous.json', import.meta.url);
interface Frame { t: number; from: 'A' | 'B'; hex: string }
interface Capture { command: string; frames: Frame[]; passphrase?: string }
const FX = JSON.parse(readFileSync(FIXTURE_URL, 'utf8')) as Record<string, Capture>;

function ctrl(f: Frame): ControlPacket {
  const p = decodePacket(Buffer.from(f.hex, 'hex'));
  assert.equal(p.kind, 'control');
  return p as ControlPacket;
}
const hsOf = (f: Frame): Handshake => decodeHandshake(ctrl(f).cif);
const hsFrames = (c: Capture, from: 'A' | 'B'): Frame[] => c.frames.filter((f) => f.from === from && ctrl(f).type === CtrlType.Handshake);

/** A core standing in for `side` of a capture (its id, ISN and cookie), at the capture's time. */
function coreAs(c: Capture, side: 'A' | 'B', o: Partial<SrtOptions>): RendezvousCore {
  const wave = hsOf(hsFrames(c, side)[0]!);
  assert.equal(wave.type, HsType.Waveahand);
  return new RendezvousCore({
    options: resolveOptions(o), localSocketId: wave.socketId, isn: wave.isn, cookie: wave.cookie,
    peerAddress: '127.0.0.1', peerPort: side === 'A' ? 15002 : 15001, now: 0, random: randomBytes,
  });
}

function feed(core: RendezvousCore, f: Frame): Buffer[] {
  core.handlePacket(f.t * 1e6 + 1_000_000, ctrl(f));
  const out: Buffer[] = [];
  let d: Buffer | null;
  while ((d = core.pollTransmit()) !== null) out.push(d);
  return out;
}

/**
 * Our handshake CIF equals libsrt's except that libsrt 1.5.1 also announces FILTERCAP (0x80) in
 * HSREQ/HSRSP, which Sluice does not (no packet filter, SRT-DIGEST §12 #10).
 */
function assertSameCif(ours: Buffer, theirs: Frame, what: string): void {
  const a = Buffer.from(ours.subarray(16));
  const b = ctrl(theirs).cif;
  const hs = decodeHandshake(a);
  const srt = hs.extensions.findIndex((x) => x.type === HsExtType.HsReq || x.type === HsExtType.HsRsp);
  if (srt >= 0) {
    const flagsAt = 48 + 4 + 4; // the HSREQ/HSRSP block comes first: header word, version, flags
    assert.equal(b.readUInt32BE(flagsAt), a.readUInt32BE(flagsAt) | SrtFlag.FilterCap, `${what}: flags`);
    a.writeUInt32BE(b.readUInt32BE(flagsAt), flagsAt);
  }
  assert.equal(a.toString('hex'), b.toString('hex'), what);
  assert.equal(ours.readUInt32BE(12), ctrl(theirs).dstSocketId, `${what}: destination socket id`);
}

describe('libsrt 1.5.1 rendezvous captures', () => {
  test('the captures: WAVEAHAND fields, and the cookie contest names the side that sent HSREQ', () => {
    assert.deepEqual(Object.keys(FX).filter((k) => k !== '_about').sort(), ['encrypted_pbkeylen32', 'plain_a_latency200', 'plain_b_initiator']);
    for (const [name, c] of Object.entries(FX)) {
      if (name === '_about') continue;
      const a = hsOf(hsFrames(c, 'A')[0]!), b = hsOf(hsFrames(c, 'B')[0]!);
      for (const w of [a, b]) {
        // version 5, type 0, no extension flags, PBKEYLEN advertised, 48 bytes, non-zero cookie
        assert.deepEqual([w.version, w.type, w.extension, w.extensions.length, w.mss, w.flowWindow], [5, 0, 0, 0, 1500, 8192], name);
        assert.equal(w.encryption, c.passphrase ? 4 : 0, name);
        assert.notEqual(w.cookie, 0);
      }
      assert.equal(ctrl(hsFrames(c, 'A')[0]!).dstSocketId, 0, 'the first WAVEAHAND goes to socket id 0');
      const sentHsReq = (s: 'A' | 'B'): boolean => hsFrames(c, s).some((f) => hsOf(f).extensions.some((x) => x.type === HsExtType.HsReq));
      const aInitiates = cookieContest(a.cookie, b.cookie) === 'initiator';
      assert.equal(cookieContest(b.cookie, a.cookie), aInitiates ? 'responder' : 'initiator');
      assert.equal(sentHsReq('A'), aInitiates, `${name}: A's cookie ${a.cookie.toString(16)} vs ${b.cookie.toString(16)}`);
      assert.equal(sentHsReq('B'), !aInitiates, name);
      // only the initiator sends AGREEMENT, type −2, no extensions, 48 bytes
      const agreements = c.frames.filter((f) => ctrl(f).type === CtrlType.Handshake && hsOf(f).type === HsType.Agreement);
      assert.equal(agreements.length, 1, name);
      assert.equal(agreements[0]!.from, aInitiates ? 'A' : 'B');
      assert.equal(ctrl(agreements[0]!).cif.length, 48);
    }
  });

  test('as the initiator (A, latency=200): our CONCLUSION+HSREQ and AGREEMENT are libsrt\'s, byte for byte', () => {
    const c = FX['plain_a_latency200']!;
    const B = hsFrames(c, 'B'), A = hsFrames(c, 'A');
    const core = coreAs(c, 'A', { latency: 200 });
    core.pollTransmit(); // our first WAVEAHAND
    const r1 = feed(core, B[0]!); // B's WAVEAHAND
    assert.equal(core.state, 'attention');
    assert.equal(core.side, 'initiator');
    const libsrtConclusion = A.find((f) => hsOf(f).type === HsType.Conclusion)!;
    assertSameCif(r1[0]!, libsrtConclusion, 'CONCLUSION+HSREQ');
    const rspFrame = B.find((f) => hsOf(f).extensions.some((x) => x.type === HsExtType.HsRsp))!;
    feed(core, B.find((f) => hsOf(f).type === HsType.Conclusion && hsOf(f).extension === 0)!); // the empty one: again
    const r2 = feed(core, rspFrame);
    assert.equal(core.state, 'connected');
    assertSameCif(r2[0]!, A.find((f) => hsOf(f).type === HsType.Agreement)!, 'AGREEMENT');
    const conn = core.connection!;
    assert.deepEqual([conn.params.rcvLatencyMs, conn.params.sndLatencyMs], [200, 200]);
    assert.equal(conn.params.recvIsn, hsOf(B[0]!).isn, 'we receive from B\'s ISN');
    assert.equal(conn.params.sendIsn, hsOf(A[0]!).isn, 'we send from our own');
    assert.equal(conn.peerSocketId, hsOf(B[0]!).socketId);
    // a repeated CONCLUSION after connecting is answered with AGREEMENT (libsrt processCtrlHS)
    const again = feed(core, rspFrame);
    assert.equal(hsOf({ t: 0, from: 'A', hex: again[0]!.toString('hex') }).type, HsType.Agreement);
  });

  test('as the responder (B, defaults): empty CONCLUSION, then CONCLUSION+HSRSP as libsrt\'s; connected on AGREEMENT', () => {
    const c = FX['plain_a_latency200']!;
    const A = hsFrames(c, 'A'), B = hsFrames(c, 'B');
    const core = coreAs(c, 'B', {});
    core.pollTransmit();
    const r1 = feed(core, A[3]!); // A's WAVEAHAND addressed to B
    assert.deepEqual([core.state, core.side], ['attention', 'responder']);
    assertSameCif(r1[0]!, B.find((f) => hsOf(f).type === HsType.Conclusion && hsOf(f).extension === 0)!, 'empty CONCLUSION');
    const r2 = feed(core, A.find((f) => hsOf(f).type === HsType.Conclusion)!);
    assert.equal(core.state, 'initiated');
    assertSameCif(r2[0]!, B.find((f) => hsOf(f).extensions.some((x) => x.type === HsExtType.HsRsp))!, 'CONCLUSION+HSRSP (latency 200/200)');
    feed(core, A.find((f) => hsOf(f).type === HsType.Agreement)!);
    assert.equal(core.state, 'connected');
    assert.deepEqual([core.connection!.params.rcvLatencyMs, core.connection!.params.sndLatencyMs], [200, 200]);
    assert.equal(core.connection!.params.recvIsn, hsOf(A[0]!).isn);
  });

  test('the other cookie order (B initiates): both roles again', () => {
    const c = FX['plain_b_initiator']!;
    const A = hsFrames(c, 'A'), B = hsFrames(c, 'B');
    // B as the initiator: A's WAVEAHAND (addressed to B) → CONCLUSION+HSREQ; HSRSP → AGREEMENT
    const b = coreAs(c, 'B', {});
    b.pollTransmit();
    const b1 = feed(b, A.find((f) => ctrl(f).dstSocketId !== 0)!);
    assert.deepEqual([b.state, b.side], ['attention', 'initiator']);
    assertSameCif(b1[0]!, B.find((f) => hsOf(f).type === HsType.Conclusion)!, 'B: CONCLUSION+HSREQ');
    const b2 = feed(b, A.find((f) => hsOf(f).type === HsType.Conclusion)!);
    assert.equal(b.state, 'connected');
    assertSameCif(b2[0]!, B.find((f) => hsOf(f).type === HsType.Agreement)!, 'B: AGREEMENT');
    // A as the responder: B's WAVEAHAND → empty CONCLUSION; CONCLUSION+HSREQ → HSRSP; AGREEMENT
    const a = coreAs(c, 'A', {});
    a.pollTransmit();
    feed(a, B[0]!);
    assert.deepEqual([a.state, a.side], ['attention', 'responder']);
    const a2 = feed(a, B.find((f) => hsOf(f).type === HsType.Conclusion)!);
    assertSameCif(a2[0]!, A.find((f) => hsOf(f).type === HsType.Conclusion)!, 'A: CONCLUSION+HSRSP (120/120)');
    feed(a, B.find((f) => hsOf(f).type === HsType.Agreement)!);
    assert.equal(a.state, 'connected');
  });

  test('encrypted (AES-256): our responder unwraps libsrt\'s KMREQ and answers exactly as libsrt did (KMRSP = the KMREQ)', () => {
    const c = FX['encrypted_pbkeylen32']!;
    const A = hsFrames(c, 'A'), B = hsFrames(c, 'B');
    const core = coreAs(c, 'B', { passphrase: c.passphrase!, pbkeylen: 32 });
    core.pollTransmit();
    const r1 = feed(core, A.find((f) => ctrl(f).dstSocketId !== 0)!);
    assertSameCif(r1[0]!, B.find((f) => hsOf(f).type === HsType.Conclusion && hsOf(f).extension === 0)!, 'empty CONCLUSION (enc 4)');
    const req = A.find((f) => hsOf(f).type === HsType.Conclusion)!;
    assert.equal(hsOf(req).extension, HsExtFlag.HsReq | HsExtFlag.KmReq);
    const r2 = feed(core, req);
    const ours = decodeHandshake(r2[0]!.subarray(16));
    const kmreq = hsOf(req).extensions.find((x) => x.type === HsExtType.KmReq)!;
    assert.ok(ours.extensions.find((x) => x.type === HsExtType.KmRsp)!.data.equals(kmreq.data), 'KMRSP echoes the KMREQ');
    assertSameCif(r2[0]!, B.find((f) => hsOf(f).extensions.some((x) => x.type === HsExtType.KmRsp))!, 'CONCLUSION+HSRSP+KMRSP');
    feed(core, A.find((f) => hsOf(f).type === HsType.Agreement)!);
    const conn = core.connection!;
    assert.equal(conn.rx!.state, KmState.Secured);
    assert.equal(conn.rx!.keys!.keyLen, 32);
    assert.equal(conn.tx!.keys.keyLen, 32, 'the same keys for what we send (bidirectional HSv5)');
  });

  test('as the encrypted initiator: the KMREQ has the peer\'s advertised key length; a wrong passphrase in the KMRSP is refused', () => {
    const c = FX['encrypted_pbkeylen32']!;
    const B = hsFrames(c, 'B');
    const core = coreAs(c, 'A', { passphrase: c.passphrase! }); // no PBKEYLEN of our own: B's 32 is adopted
    core.pollTransmit();
    const out = feed(core, B[0]!);
    const hs = decodeHandshake(out[0]!.subarray(16));
    assert.equal(hs.encryption, 4);
    const km = hs.extensions.find((x) => x.type === HsExtType.KmReq)!.data;
    assert.equal(km[15], 32 / 4, 'KLen field (in 4-byte words) says 256 bits');
    // libsrt's KMRSP answers libsrt's own KMREQ, not ours: with enforced encryption that is a rejection
    feed(core, B.find((f) => hsOf(f).extensions.some((x) => x.type === HsExtType.KmRsp))!);
    assert.equal(core.state, 'failed');
  });
});
