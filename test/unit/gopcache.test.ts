// The GOP cache on MPEG-TS built here packet by packet: keyframe detection by NAL type (H.264 IDR,
// HEVC IRAP), parameter sets that span TS packets and are spliced into a GOP that lacks them,
// continuity counters, the byte bound, and non-TS messages that are never cached.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { GopCache, spliceParameterSets } from '../../src/server/gopcache.js';
import { PsiCache } from '../../src/server/tsmux.js';
import { fileTimeout } from '../support/file-timeout.js';

fileTimeout();

const VIDEO = 0x100;
const AUDIO = 0x101;
const PMT = 0x1000;

/** A small MPEG-TS muxer: PAT, PMT, PES packetized with continuity counters per PID. */
class Mux {
  private readonly cc = new Map<number, number>();
  constructor(private readonly videoType: number) {}

  private next(pid: number): number {
    const c = ((this.cc.get(pid) ?? -1) + 1) & 0x0f;
    this.cc.set(pid, c);
    return c;
  }

  private section(pid: number, body: number[]): Buffer {
    const p = Buffer.alloc(188, 0xff);
    p[0] = 0x47;
    p[1] = 0x40 | (pid >> 8);
    p[2] = pid & 0xff;
    p[3] = 0x10 | this.next(pid);
    p[4] = 0; // pointer field
    Buffer.from([...body, 0, 0, 0, 0]).copy(p, 5); // CRC not checked by the caches
    return p;
  }

  pat(): Buffer {
    // table 0, section_length 13, ts id 1, version/current, section 0/0, program 1 -> PMT PID
    return this.section(0, [0x00, 0xb0, 13, 0, 1, 0xc1, 0, 0, 0, 1, 0xe0 | (PMT >> 8), PMT & 0xff]);
  }

  pmt(): Buffer {
    const es = [this.videoType, 0xe0 | (VIDEO >> 8), VIDEO & 0xff, 0xf0, 0, 0x0f, 0xe0 | (AUDIO >> 8), AUDIO & 0xff, 0xf0, 0];
    const len = 9 + es.length + 4;
    return this.section(PMT, [0x02, 0xb0, len, 0, 1, 0xc1, 0, 0, 0xe0 | (VIDEO >> 8), VIDEO & 0xff, 0xf0, 0, ...es]);
  }

  /** A PES (stream 0xE0, a PTS) with `es` as TS packets; random_access_indicator on the first if `rai`. */
  pes(pid: number, es: Buffer, rai = false): Buffer[] {
    const header = Buffer.from([0, 0, 1, pid === VIDEO ? 0xe0 : 0xc0, 0, 0, 0x80, 0x80, 5, 0x21, 0, 1, 0, 1]);
    const data = Buffer.concat([header, es]);
    const out: Buffer[] = [];
    let d = 0;
    while (d < data.length) {
      const p = Buffer.alloc(188);
      p[0] = 0x47;
      p[1] = (d === 0 ? 0x40 : 0) | (pid >> 8);
      p[2] = pid & 0xff;
      const af = d === 0 && rai ? 2 : 0; // adaptation field: length + flags
      const room = 184 - af;
      const left = data.length - d;
      if (left >= room && af === 0) {
        p[3] = 0x10 | this.next(pid);
        data.copy(p, 4, d, d + 184);
        d += 184;
      } else {
        const take = Math.min(left, 184 - Math.max(af, 1));
        const afLength = 183 - take;
        p[3] = 0x30 | this.next(pid);
        p[4] = afLength;
        if (afLength > 0) {
          p[5] = d === 0 && rai ? 0x40 : 0;
          p.fill(0xff, 6, 5 + afLength);
        }
        data.copy(p, 5 + afLength, d, d + take);
        d += take;
      }
      out.push(p);
    }
    return out;
  }
}

const nal = (...bytes: number[]): Buffer => Buffer.from([0, 0, 0, 1, ...bytes]);
/** A NAL unit of `n` payload bytes after its header, with no zero bytes (no false start codes). */
const nalOf = (header: number[], n: number, seed: number): Buffer => Buffer.concat([nal(...header), Buffer.from(Array.from({ length: n }, (_, i) => 1 + ((i * 7 + seed) % 250)))]);

/** Groups packets into messages of 7 (the SRT payload). */
function messages(pkts: Buffer[]): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < pkts.length; i += 7) out.push(Buffer.concat(pkts.slice(i, i + 7)));
  return out;
}

function packets(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let o = 0; o < buf.length; o += 188) out.push(buf.subarray(o, o + 188));
  return out;
}
const pidOf = (p: Buffer): number => ((p[1]! & 0x1f) << 8) | p[2]!;

/** The elementary stream of the first PES on `pid` in `pkts` (up to the next PES start). */
function firstEs(pkts: Buffer[], pid: number): Buffer {
  const parts: Buffer[] = [];
  let started = false;
  for (const p of pkts) {
    if (pidOf(p) !== pid) continue;
    const pusi = (p[1]! & 0x40) !== 0;
    if (pusi && started) break;
    if (!pusi && !started) continue;
    const afc = (p[3]! >> 4) & 3;
    let o = afc === 3 ? 5 + p[4]! : 4;
    if (pusi) {
      started = true;
      o += 9 + p[o + 8]!;
    }
    parts.push(p.subarray(o));
  }
  return Buffer.concat(parts);
}

/** Asserts each PID's continuity counter advances by one from packet to packet (payload-carrying packets). */
function assertContinuous(pkts: Buffer[]): void {
  const last = new Map<number, number>();
  pkts.forEach((p, i) => {
    const pid = pidOf(p);
    const cc = p[3]! & 0x0f;
    const prev = last.get(pid);
    if (prev !== undefined) assert.equal(cc, (prev + 1) & 0x0f, `PID ${pid} packet ${i}: continuity counter ${cc} after ${prev}`);
    last.set(pid, cc);
  });
}

interface H264Stream { msgs: Buffer[]; idrAt: number[]; sps: Buffer; pps: Buffer }

/**
 * An H.264 stream: PAT/PMT, then `gops` GOPs of `frames` access units (AUD, SPS/PPS on the first
 * IDR or on every IDR, a large SEI, slices spanning packets), interleaved with audio PES. idrAt:
 * the index of each IDR's first TS packet in the whole packet list.
 */
function h264Stream(gops: number, frames: number, paramsEveryIdr: boolean, sliceBytes = 1500): H264Stream {
  const mux = new Mux(0x1b);
  const pkts: Buffer[] = [mux.pat(), mux.pmt()];
  const sps = nalOf([0x67, 0x64, 0x00, 0x1f], 300, 1); // spans two TS packets
  const pps = nalOf([0x68], 6, 2);
  const idrAt: number[] = [];
  for (let g = 0; g < gops; g++) {
    for (let f = 0; f < frames; f++) {
      const idr = f === 0;
      const es = idr
        ? Buffer.concat([nal(0x09, 0x10), ...(g === 0 || paramsEveryIdr ? [sps, pps] : []), nalOf([0x06, 0x05], 400, 3), nalOf([0x65, 0x88], sliceBytes, g)])
        : Buffer.concat([nal(0x09, 0x30), nalOf([0x41, 0x9a], 300, f)]);
      if (idr) idrAt.push(pkts.length);
      pkts.push(...mux.pes(VIDEO, es, idr));
      pkts.push(...mux.pes(AUDIO, Buffer.alloc(200, 0x55)));
      if (f % 3 === 2) pkts.push(mux.pat(), mux.pmt());
    }
  }
  return { msgs: messages(pkts), idrAt, sps: sps.subarray(4), pps: pps.subarray(4) };
}

function feed(msgs: Buffer[], max?: number): { psi: PsiCache; gop: GopCache } {
  const psi = new PsiCache();
  const gop = new GopCache(psi, max);
  for (const m of msgs) {
    psi.observe(m);
    gop.observe(m);
  }
  return { psi, gop };
}

describe('GopCache', () => {
  test('non-TS messages pass without a cache', () => {
    const { gop } = feed([Buffer.from('hello'), Buffer.alloc(1316, 0x47).fill(1, 100), Buffer.alloc(188 * 7, 0)]);
    assert.equal(gop.snapshot(), null);
    assert.equal(gop.ready, false);
    assert.equal(gop.waitable, false);
    assert.equal(gop.nonTs, true);
    assert.equal(gop.size, 0);
    // a TS stream that turns into something else drops what it had
    const s = h264Stream(1, 5, true);
    const both = feed([...s.msgs, Buffer.alloc(100, 0x47)]);
    assert.equal(both.gop.snapshot(), null);
    assert.equal(both.gop.size, 0);
  });

  test('a late player gets PAT/PMT, then the stream byte for byte from the last IDR', () => {
    const s = h264Stream(3, 12, true);
    const { gop, psi } = feed(s.msgs);
    assert.ok(gop.ready && gop.waitable);
    const snap = gop.snapshot()!;
    const noCc = (b: Buffer): Buffer => Buffer.concat(packets(b).map((p) => Buffer.concat([p.subarray(0, 3), Buffer.from([p[3]! & 0xf0]), p.subarray(4)])));
    assert.deepEqual(noCc(snap[0]!), noCc(psi.header()), 'PAT and PMT first, in their own message (counters: below)');
    const all = packets(Buffer.concat(s.msgs));
    const fromIdr = Buffer.concat(all.slice(s.idrAt[2]));
    assert.deepEqual(Buffer.concat(snap.slice(1)), fromIdr, 'the GOP from its IDR to the latest message, unchanged');
    assert.ok(snap.every((m) => m.length <= 1316 && m.length % 188 === 0));
    assert.equal(gop.size, fromIdr.length);
    // the GOP carried its own SPS/PPS: nothing spliced; PSI counters lead into the GOP's
    assertContinuous(packets(Buffer.concat(snap)));
  });

  test('a GOP without SPS/PPS gets the latest ones spliced after its AUD, counters continuous', () => {
    const s = h264Stream(3, 12, false);
    const { gop } = feed(s.msgs);
    const snap = gop.snapshot()!;
    const pkts = packets(Buffer.concat(snap.slice(1)));
    const es = firstEs(pkts, VIDEO);
    const all = packets(Buffer.concat(s.msgs));
    const original = firstEs(all.slice(s.idrAt[2]), VIDEO);
    const aud = nal(0x09, 0x10);
    assert.deepEqual(es, Buffer.concat([aud, nal(), s.sps, nal(), s.pps, original.subarray(aud.length)]));
    // the first packet keeps its adaptation field (random_access_indicator), the rest follow unchanged
    assert.equal(pkts[0]![5]! & 0x40, 0x40);
    const added = Math.ceil((4 + s.sps.length + 4 + s.pps.length) / 184) + 1; // at most this many packets more
    const tail = Buffer.concat(all.slice(s.idrAt[2] + 1));
    const got = Buffer.concat(snap.slice(1));
    assert.ok(got.length - tail.length <= (added + 1) * 188);
    assert.deepEqual(got.subarray(got.length - tail.length), tail, 'after the spliced packet, the stream unchanged');
    assertContinuous(packets(Buffer.concat(snap)));
  });

  test('spliceParameterSets: one packet becomes several, the last with the original counter', () => {
    const mux = new Mux(0x1b);
    for (let i = 0; i < 5; i++) mux.pes(VIDEO, Buffer.alloc(10, 1)); // counters move on
    const pkt = mux.pes(VIDEO, Buffer.concat([nal(0x09, 0x10), nalOf([0x65, 0x88], 400, 0)]), true)[0]!;
    const sets = [nalOf([0x67], 400, 5).subarray(4), nalOf([0x68], 4, 6).subarray(4)];
    const out = packets(spliceParameterSets(pkt, sets, false));
    assert.equal(out.length, 4);
    assert.equal(out[out.length - 1]![3]! & 0x0f, pkt[3]! & 0x0f);
    assertContinuous(out);
    assert.ok(out.every((p) => p[0] === 0x47 && pidOf(p) === VIDEO));
    assert.deepEqual(out.map((p) => (p[1]! & 0x40) !== 0), [true, false, false, false], 'one PES start');
  });

  test('HEVC: IRAP types start a GOP, VPS/SPS/PPS are kept and spliced', () => {
    const mux = new Mux(0x24);
    const pkts: Buffer[] = [mux.pat(), mux.pmt()];
    const vps = nalOf([0x40, 0x01], 20, 1);
    const sps = nalOf([0x42, 0x01], 250, 2);
    const pps = nalOf([0x44, 0x01], 8, 3);
    const aud = nal(0x46, 0x01, 0x50);
    const starts: number[] = [];
    // IDR_W_RADL (19), then TRAIL_R (1) frames, then a CRA (21) without parameter sets
    const irap = [19, 21];
    irap.forEach((type, g) => {
      starts.push(pkts.length);
      pkts.push(...mux.pes(VIDEO, Buffer.concat([aud, ...(g === 0 ? [vps, sps, pps] : []), nalOf([type << 1, 0x01], 900, g)]), true));
      for (let f = 1; f < 8; f++) pkts.push(...mux.pes(VIDEO, Buffer.concat([aud, nalOf([1 << 1, 0x01], 200, f)])));
    });
    const { gop } = feed(messages(pkts));
    const snap = gop.snapshot()!;
    const got = packets(Buffer.concat(snap.slice(1)));
    const es = firstEs(got, VIDEO);
    const original = firstEs(pkts.slice(starts[1]), VIDEO);
    assert.deepEqual(es, Buffer.concat([aud, nal(), vps.subarray(4), nal(), sps.subarray(4), nal(), pps.subarray(4), original.subarray(aud.length)]));
    assertContinuous(packets(Buffer.concat(snap)));
    // a TRAIL_R access unit does not start a GOP: the snapshot still begins at the CRA
    const more = mux.pes(VIDEO, Buffer.concat([aud, nalOf([1 << 1, 0x01], 200, 99)]));
    for (const m of messages(more)) gop.observe(m);
    assert.deepEqual(firstEs(packets(Buffer.concat(gop.snapshot()!.slice(1))), VIDEO), es);
  });

  test('a start code split between TS packets is found', () => {
    // the SPS ends exactly where a packet ends: "00 00" closes one packet, "01" opens the next
    const mux = new Mux(0x1b);
    const firstRoom = 184 - 2 - 14; // random-access adaptation field, PES header
    const aud = nal(0x09, 0x10);
    const spsLen = firstRoom - aud.length - 2; // the next start code's 00 00 fill the packet
    const sps = nalOf([0x67, 0x42], spsLen - 6, 4);
    const es = Buffer.concat([aud, sps, Buffer.from([0, 0, 1, 0x68, 0xce, 0x38, 0x80]), nalOf([0x65, 0x88], 600, 1)]);
    const pkts = [mux.pat(), mux.pmt(), ...mux.pes(VIDEO, es, true)];
    const second = Buffer.concat([aud, nalOf([0x65, 0x88], 600, 2)]);
    pkts.push(...mux.pes(VIDEO, second, true));
    const { gop } = feed(messages(pkts));
    const got = firstEs(packets(Buffer.concat(gop.snapshot()!.slice(1))), VIDEO);
    assert.deepEqual(got, Buffer.concat([aud, nal(), sps.subarray(4), nal(0x68, 0xce, 0x38, 0x80), second.subarray(aud.length)]));
  });

  test('bounded in bytes: a GOP over the bound is dropped until the next keyframe', () => {
    const s = h264Stream(3, 30, true); // ~30 frames a GOP
    const all = packets(Buffer.concat(s.msgs));
    const gopBytes = (s.idrAt[1]! - s.idrAt[0]!) * 188;
    const max = Math.floor(gopBytes / 2);
    const psi = new PsiCache();
    const gop = new GopCache(psi, max);
    let starts = 0;
    let was = false;
    s.msgs.forEach((m, i) => {
      psi.observe(m);
      gop.observe(m);
      assert.ok(gop.size <= max, `message ${i}: ${gop.size} bytes held over the bound ${max}`);
      if (gop.ready && !was) {
        starts++;
        // what is given is the GOP's start, byte for byte
        const at = s.idrAt[starts - 1]!;
        const snap = gop.snapshot()!;
        const got = Buffer.concat(snap.slice(1));
        assert.deepEqual(got, Buffer.concat(all.slice(at, at + got.length / 188)));
      }
      was = gop.ready;
    });
    assert.equal(starts, 3, 'each keyframe starts the cache again');
    assert.equal(gop.ready, false, 'the last GOP grew over the bound');
    assert.equal(gop.snapshot(), null);
  });
});
