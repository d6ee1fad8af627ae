// The GOP cache: a late player of an MPEG-TS stream gets the current group of pictures at once
// (from the last H.264 IDR / HEVC IRAP access unit), then the live stream, instead of video that
// starts mid-GOP or a wait of up to a GOP for the next keyframe.
//
// The publisher's messages are kept as they are (the fan-out's Buffers, no copy). Per message the
// cache reads the TS headers and, only on the video PID and only up to the first slice of each
// access unit, the elementary-stream bytes: enough to tell a keyframe and to keep the latest
// parameter sets (H.264 SPS/PPS, HEVC VPS/SPS/PPS), which may span TS packets. A publisher that
// sent them once at its start (GStreamer's h264parse, x265) leaves a later GOP without them: they
// are then spliced into the keyframe's PES for the new player, behind its access-unit delimiter,
// in TS packets whose continuity counters lead into the GOP's own.
import type { PsiCache } from './tsmux.js';

const TS = 188;
/** SRT live payload: 7 TS packets. */
const MESSAGE = 7 * TS;
const H264 = 0x1b;
const START_CODE = Buffer.from([0, 0, 0, 1]);

/** Default bound of one stream's cache in bytes (below the default player queue of 4096 × 1456 bytes). */
export const GOP_CACHE_MAX_BYTES = 4 * 1024 * 1024;

export class GopCache {
  /** Messages from the GOP's start (valid) or from the latest video PES start (not valid). */
  private msgs: Buffer[] = [];
  /** Offset in msgs[0] of the GOP's first TS packet. */
  private offset = 0;
  private bytes = 0;
  /** msgs[0] at `offset` starts a keyframe access unit: a player can be given the cache. */
  private valid = false;
  private pid = -1;
  private hevc = false;
  /** The current video PES: its index in msgs and offset, -1 when none is kept. */
  private auIndex = -1;
  private auOffset = 0;
  /** Scanning the current access unit's bytes (until its first slice). */
  private scanning = false;
  /** Parameter-set types seen in the current access unit before its first slice (bit per type - 32 for HEVC). */
  private seen = 0;
  private zeros = 0;
  /** NAL type of the unit being read; -2 = the next byte is a NAL header; -1 = none. */
  private nal = -1;
  private collecting: Buffer[] | null = null;
  private collectType = 0;
  /** Latest parameter sets by NAL type. */
  private readonly params = new Map<number, Buffer>();
  /** The GOP's keyframe access unit lacked some parameter set. */
  private missing = false;
  /** Messages seen that were not aligned MPEG-TS (they pass unchanged; nothing is cached). */
  nonTs = false;

  constructor(private readonly psi: PsiCache, readonly maxBytes = GOP_CACHE_MAX_BYTES) {}

  /** True when a GOP will come: an MPEG-TS stream whose PMT names H.264 or HEVC video. */
  get waitable(): boolean {
    return !this.nonTs && this.pid >= 0;
  }

  /** True when snapshot() has a GOP to give. */
  get ready(): boolean {
    return this.valid && this.psi.ready;
  }

  /** Bytes held (for statistics and tests). */
  get size(): number {
    return this.bytes;
  }

  /** Call with every message of the publisher, after PsiCache.observe(msg). */
  observe(msg: Buffer): void {
    if (msg.length === 0 || msg.length % TS !== 0 || msg[0] !== 0x47) {
      this.nonTs = true;
      this.reset();
      return;
    }
    this.nonTs = false;
    const video = this.psi.codedVideo;
    if (video === null) {
      if (this.pid >= 0) this.reset();
      return;
    }
    if (video.pid !== this.pid || (video.streamType !== H264) !== this.hevc) {
      this.reset();
      this.params.clear();
      this.pid = video.pid;
      this.hevc = video.streamType !== H264;
    }
    if (!this.valid && this.auIndex < 0) {
      // nothing kept: only a video PES start in this message can begin something
      if (!this.hasVideoStart(msg)) return;
    }
    this.msgs.push(msg);
    this.bytes += msg.length;
    for (let o = 0; o < msg.length; o += TS) {
      if (msg[o] !== 0x47) {
        this.nonTs = true;
        this.reset();
        return;
      }
      if ((((msg[o + 1]! & 0x1f) << 8) | msg[o + 2]!) !== this.pid) continue;
      const afc = (msg[o + 3]! >> 4) & 0x3;
      if ((afc & 1) === 0) continue; // no payload
      const payload = afc === 3 ? o + 5 + msg[o + 4]! : o + 4;
      if (payload >= o + TS) continue;
      if ((msg[o + 1]! & 0x40) !== 0) this.pesStart(msg, o, payload);
      else if (this.scanning) this.scan(msg, payload, o + TS);
    }
    this.bound();
  }

  private hasVideoStart(msg: Buffer): boolean {
    for (let o = 0; o + TS <= msg.length; o += TS) {
      if ((msg[o + 1]! & 0x40) !== 0 && (((msg[o + 1]! & 0x1f) << 8) | msg[o + 2]!) === this.pid) return true;
    }
    return false;
  }

  private pesStart(msg: Buffer, o: number, payload: number): void {
    this.endNal(); // a NAL unit ends with its PES
    const index = this.msgs.length - 1;
    if (!this.valid && index > 0) {
      // nothing before this PES is needed any more
      this.drop(index);
    }
    this.auIndex = this.msgs.length - 1;
    this.auOffset = o;
    this.scanning = false;
    this.seen = 0;
    this.zeros = 0;
    this.nal = -1;
    const end = o + TS;
    if (payload + 9 > end || msg[payload] !== 0 || msg[payload + 1] !== 0 || msg[payload + 2] !== 1) return;
    const es = payload + 9 + msg[payload + 8]!;
    if (es > end) return;
    this.scanning = true;
    this.scan(msg, es, end);
  }

  /** Reads elementary-stream bytes [from, to) of one TS packet of the current access unit. */
  private scan(msg: Buffer, from: number, to: number): void {
    let collectStart = this.collecting ? from : -1;
    for (let i = from; i < to; i++) {
      const b = msg[i]!;
      if (this.nal === -2) {
        const type = this.hevc ? (b >> 1) & 0x3f : b & 0x1f;
        this.nal = type;
        this.zeros = 0;
        if (this.hevc ? type <= 31 : type >= 1 && type <= 5) {
          this.firstSlice(this.hevc ? type >= 16 && type <= 21 : type === 5);
          return;
        }
        if (this.isParam(type)) {
          this.collecting = [];
          this.collectType = type;
          collectStart = i;
        }
        continue;
      }
      if (b === 0) {
        this.zeros++;
      } else if (b === 1 && this.zeros >= 2) {
        if (this.collecting) {
          this.collecting.push(msg.subarray(collectStart, i + 1));
          this.endNal();
          collectStart = -1;
        }
        this.nal = -2;
        this.zeros = 0;
      } else {
        this.zeros = 0;
      }
    }
    if (this.collecting) {
      this.collecting.push(msg.subarray(collectStart, to));
      if (this.collecting.length > 64) this.collecting = null; // not a parameter set of any real stream
    }
  }

  private isParam(type: number): boolean {
    return this.hevc ? type >= 32 && type <= 34 : type === 7 || type === 8;
  }

  /** Ends the parameter set being collected: its bytes up to the next start code (or PES end). */
  private endNal(): void {
    const parts = this.collecting;
    this.collecting = null;
    if (!parts) return;
    let nal = Buffer.concat(parts);
    let end = nal.length;
    if (end > 0 && nal[end - 1] === 1) end--; // the next start code's 01 …
    while (end > 0 && nal[end - 1] === 0) end--; // … its zeros and any trailing_zero_8bits
    nal = nal.subarray(0, end);
    if (nal.length < 2) return;
    this.params.set(this.collectType, nal);
    this.seen |= 1 << (this.collectType & 31);
  }

  private firstSlice(keyframe: boolean): void {
    this.scanning = false;
    this.endNal();
    if (!keyframe || this.auIndex < 0) return;
    this.drop(this.auIndex);
    this.bytes += this.offset - this.auOffset;
    this.offset = this.auOffset;
    this.valid = true;
    const need = this.hevc ? [32, 33, 34] : [7, 8];
    this.missing = need.some((t) => (this.seen & (1 << (t & 31))) === 0);
  }

  /** Drops msgs[0 .. n). */
  private drop(n: number): void {
    if (n <= 0) return;
    for (let i = 0; i < n; i++) this.bytes -= this.msgs[i]!.length;
    this.bytes += this.offset;
    this.offset = 0;
    this.msgs.splice(0, n);
    if (this.auIndex >= 0) this.auIndex -= n;
  }

  /** Keeps the cache within maxBytes: a GOP over it is dropped until the next keyframe. */
  private bound(): void {
    if (this.bytes <= this.maxBytes) return;
    if (this.valid) {
      this.valid = false;
      if (this.auIndex > 0) this.drop(this.auIndex);
      if (this.bytes <= this.maxBytes) return;
    }
    // one access unit larger than the bound: keep nothing until the next video PES
    this.msgs = [];
    this.bytes = 0;
    this.offset = 0;
    this.auIndex = -1;
    this.scanning = false;
    this.collecting = null;
  }

  private reset(): void {
    this.msgs = [];
    this.bytes = 0;
    this.offset = 0;
    this.valid = false;
    this.auIndex = -1;
    this.scanning = false;
    this.collecting = null;
    this.nal = -1;
    this.zeros = 0;
    this.seen = 0;
  }

  /**
   * What a new player gets before the live stream, or null when no GOP is ready: PAT and PMT in
   * one message (continuity counters leading into the GOP's), the keyframe's first TS packet with the latest
   * parameter sets spliced in when the GOP lacks them, then the GOP's messages up to the latest
   * one seen. Messages are at most 7 TS packets.
   */
  snapshot(): Buffer[] | null {
    if (!this.ready || this.msgs.length === 0) return null;
    const header = Buffer.from(this.psi.header());
    this.leadCounters(header);
    let first = this.msgs[0]!.subarray(this.offset);
    if (this.missing && this.params.size > 0) {
      const order = this.hevc ? [32, 33, 34] : [7, 8];
      const sets = order.map((t) => this.params.get(t)).filter((b): b is Buffer => b !== undefined);
      first = Buffer.concat([spliceParameterSets(first.subarray(0, TS), sets, this.hevc), first.subarray(TS)]);
    }
    const out: Buffer[] = [header]; // its own message, as a keyframe start gets it (server.ts)
    for (let o = 0; o < first.length; o += MESSAGE) out.push(first.subarray(o, Math.min(first.length, o + MESSAGE)));
    for (let i = 1; i < this.msgs.length; i++) out.push(this.msgs[i]!);
    return out;
  }

  /** Sets each PSI packet's continuity counter to one before that PID's first packet in the GOP. */
  private leadCounters(header: Buffer): void {
    const want = new Map<number, number>(); // header offset by PID
    for (let o = 0; o + TS <= header.length; o += TS) want.set(((header[o + 1]! & 0x1f) << 8) | header[o + 2]!, o);
    for (let i = 0; i < this.msgs.length && want.size > 0; i++) {
      const m = this.msgs[i]!;
      for (let o = i === 0 ? this.offset : 0; o + TS <= m.length && want.size > 0; o += TS) {
        const pid = ((m[o + 1]! & 0x1f) << 8) | m[o + 2]!;
        const at = want.get(pid);
        if (at === undefined) continue;
        header[at + 3] = (header[at + 3]! & 0xf0) | ((m[o + 3]! - 1) & 0x0f);
        want.delete(pid);
      }
    }
  }
}

/**
 * The first TS packet of a keyframe's PES with parameter sets added to its elementary stream
 * (after an access-unit delimiter that opens it, else first), as as many TS packets as needed:
 * the first keeps the original header and adaptation field (PCR, random_access_indicator), the
 * last carries the original continuity counter so that the next packet of the PID follows on.
 */
export function spliceParameterSets(pkt: Buffer, sets: Buffer[], hevc: boolean): Buffer {
  const afc = (pkt[3]! >> 4) & 0x3;
  const payload = afc === 3 ? 5 + pkt[4]! : 4;
  if (payload + 9 > TS) return pkt;
  const es = payload + 9 + pkt[payload + 8]!;
  if (es > TS) return pkt;
  const pesHeader = Buffer.from(pkt.subarray(payload, es));
  const body = pkt.subarray(es);
  const at = afterDelimiter(body, hevc);
  const insert = Buffer.concat(sets.flatMap((s) => [START_CODE, s]));
  const pesLength = pesHeader.readUInt16BE(4);
  if (pesLength !== 0) pesHeader.writeUInt16BE(pesLength + insert.length > 0xffff ? 0 : pesLength + insert.length, 4);
  const data = Buffer.concat([pesHeader, body.subarray(0, at), insert, body.subarray(at)]);
  const pid = ((pkt[1]! & 0x1f) << 8) | pkt[2]!;
  const firstRoom = TS - payload;
  const rest = data.length - firstRoom;
  const n = 1 + Math.ceil(rest / 184);
  const cc = pkt[3]! & 0x0f;
  const out = Buffer.alloc(n * TS);
  pkt.copy(out, 0, 0, payload);
  out[3] = (out[3]! & 0xf0) | ((cc - (n - 1)) & 0x0f);
  data.copy(out, payload, 0, firstRoom);
  let d = firstRoom;
  for (let k = 1; k < n; k++) {
    const o = k * TS;
    const left = data.length - d;
    const counter = (cc - (n - 1) + k) & 0x0f;
    out[o] = 0x47;
    out[o + 1] = (pid >> 8) & 0x1f;
    out[o + 2] = pid & 0xff;
    if (left >= 184) {
      out[o + 3] = 0x10 | counter;
      data.copy(out, o + 4, d, d + 184);
      d += 184;
      continue;
    }
    // the last packet: adaptation-field stuffing in front of the remaining bytes
    out[o + 3] = 0x30 | counter;
    const afLength = 183 - left;
    out[o + 4] = afLength;
    if (afLength > 0) {
      out[o + 5] = 0x00;
      out.fill(0xff, o + 6, o + 5 + afLength);
    }
    data.copy(out, o + 5 + afLength, d, d + left);
    d += left;
  }
  return out;
}

/** Offset in `es` just after an access-unit delimiter that opens it (before the next start code), else 0. */
function afterDelimiter(es: Buffer, hevc: boolean): number {
  let sc = -1;
  if (es.length >= 4 && es[0] === 0 && es[1] === 0 && es[2] === 1) sc = 3;
  else if (es.length >= 5 && es[0] === 0 && es[1] === 0 && es[2] === 0 && es[3] === 1) sc = 4;
  if (sc < 0) return 0;
  const type = hevc ? (es[sc]! >> 1) & 0x3f : es[sc]! & 0x1f;
  if (type !== (hevc ? 35 : 9)) return 0;
  const next = es.indexOf(Buffer.from([0, 0, 1]), sc + 1);
  if (next < 0) return 0;
  return next > sc + 1 && es[next - 1] === 0 ? next - 1 : next;
}
