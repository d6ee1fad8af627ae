// MPEG-TS helpers for players and recordings that should start at a video keyframe.

/**
 * True if any 188-byte TS packet in the message has random_access_indicator set (ISO 13818-1 2.4.3.5)
 * on any PID. Muxers set it on audio frames too: use PsiCache.keyframeOffset to find video keyframes.
 */
export function hasRandomAccessPoint(msg: Buffer): boolean {
  for (let o = 0; o + 188 <= msg.length; o += 188) {
    if (msg[o] !== 0x47) return false; // not aligned TS: cannot tell
    const afc = (msg[o + 3]! >> 4) & 0x3;
    if ((afc === 2 || afc === 3) && msg[o + 4]! > 0 && (msg[o + 5]! & 0x40) !== 0) return true;
  }
  return false;
}

const PAT_PID = 0;
const STREAM_TYPE_H264 = 0x1b;
const STREAM_TYPE_HEVC = 0x24;
/** PMT stream_type values of video: MPEG-1/2, MPEG-4 part 2, H.264, SVC, MVC, HEVC, VVC, AVS2/3, VC-1. */
const VIDEO_STREAM_TYPES = new Set([0x01, 0x02, 0x10, 0x1b, 0x1f, 0x20, 0x24, 0x33, 0xd2, 0xd4, 0xea]);

/**
 * The latest PAT and PMT packets of the stream, to put in front of each file: a file cut at a
 * keyframe would otherwise start without them and lose everything until the next PAT (ffmpeg
 * repeats it only every 100 ms). Only single-packet sections are kept (all common streams).
 * The PMT also tells which PIDs carry video: muxers set random_access_indicator on audio frames
 * too, and a file must start at a video keyframe.
 */
export class PsiCache {
  private pat: Buffer | null = null;
  private readonly pmts = new Map<number, Buffer>();
  private pmtPids = new Set<number>();
  /** Video PIDs of every PMT (by PMT PID). */
  private readonly video = new Map<number, Set<number>>();
  /** All of them (looked up for every packet with random_access_indicator). */
  private videoPids = new Set<number>();
  /** The first H.264 or HEVC elementary stream of the PMTs (the one a GOP cache follows), or null. */
  private coded: { pid: number; streamType: number } | null = null;
  private readonly codedByPmt = new Map<number, { pid: number; streamType: number } | null>();

  observe(msg: Buffer): void {
    for (let o = 0; o + 188 <= msg.length; o += 188) {
      if (msg[o] !== 0x47) return;
      const pusi = (msg[o + 1]! & 0x40) !== 0;
      if (!pusi) continue;
      const pid = ((msg[o + 1]! & 0x1f) << 8) | msg[o + 2]!;
      if (pid === PAT_PID) this.onPat(msg.subarray(o, o + 188));
      else if (this.pmtPids.has(pid)) this.onPmt(pid, msg.subarray(o, o + 188));
    }
  }

  private onPmt(pid: number, pkt: Buffer): void {
    const table = sectionStart(pkt, 0x02);
    if (table < 0) return;
    const sectionLength = ((pkt[table + 1]! & 0x0f) << 8) | pkt[table + 2]!;
    if (table + 3 + sectionLength > 188 || table + 12 > 188) return; // spans packets: not cached
    const end = table + 3 + sectionLength - 4;
    const programInfo = ((pkt[table + 10]! & 0x0f) << 8) | pkt[table + 11]!;
    const video = new Set<number>();
    let coded: { pid: number; streamType: number } | null = null;
    for (let p = table + 12 + programInfo; p + 5 <= end;) {
      const esPid = ((pkt[p + 1]! & 0x1f) << 8) | pkt[p + 2]!;
      if (VIDEO_STREAM_TYPES.has(pkt[p]!)) video.add(esPid);
      if (coded === null && (pkt[p] === STREAM_TYPE_H264 || pkt[p] === STREAM_TYPE_HEVC)) coded = { pid: esPid, streamType: pkt[p]! };
      p += 5 + (((pkt[p + 3]! & 0x0f) << 8) | pkt[p + 4]!);
    }
    this.pmts.set(pid, Buffer.from(pkt));
    this.video.set(pid, video);
    this.codedByPmt.set(pid, coded);
    this.derive();
  }

  private derive(): void {
    this.videoPids = new Set([...this.video.values()].flatMap((v) => [...v]));
    let coded: { pid: number; streamType: number } | null = null;
    for (const c of this.codedByPmt.values()) if (c && (coded === null || c.pid < coded.pid)) coded = c;
    if (coded?.pid !== this.coded?.pid || coded?.streamType !== this.coded?.streamType) this.coded = coded;
  }

  /** The PID and stream type (0x1B H.264, 0x24 HEVC) of the stream's first H.264/HEVC video, or null. */
  get codedVideo(): { pid: number; streamType: number } | null {
    return this.coded;
  }

  /**
   * Offset of the first TS packet that starts a keyframe (random_access_indicator on a video PID;
   * on any PID when the stream has no video or its PMT is not known yet), or -1.
   */
  keyframeOffset(msg: Buffer): number {
    const video = this.videoPids;
    for (let o = 0; o + 188 <= msg.length; o += 188) {
      if (msg[o] !== 0x47) return -1;
      const afc = (msg[o + 3]! >> 4) & 0x3;
      if (!((afc === 2 || afc === 3) && msg[o + 4]! > 0 && (msg[o + 5]! & 0x40) !== 0)) continue;
      const pid = ((msg[o + 1]! & 0x1f) << 8) | msg[o + 2]!;
      if (video.size === 0 || video.has(pid)) return o;
    }
    return -1;
  }

  private onPat(pkt: Buffer): void {
    const table = sectionStart(pkt, 0x00);
    if (table < 0 || table + 8 > 188) return;
    const sectionLength = ((pkt[table + 1]! & 0x0f) << 8) | pkt[table + 2]!;
    const end = table + 3 + sectionLength - 4; // the CRC closes the section
    if (table + 3 + sectionLength > 188) return; // spans packets: not cached
    const pids = new Set<number>();
    for (let p = table + 8; p + 4 <= end; p += 4) {
      const program = (pkt[p]! << 8) | pkt[p + 1]!;
      if (program !== 0) pids.add(((pkt[p + 2]! & 0x1f) << 8) | pkt[p + 3]!);
    }
    this.pat = Buffer.from(pkt);
    if (!sameSet(pids, this.pmtPids)) {
      this.pmtPids = pids;
      for (const k of [...this.pmts.keys()]) {
        if (pids.has(k)) continue;
        this.pmts.delete(k);
        this.video.delete(k);
        this.codedByPmt.delete(k);
      }
      this.derive();
    }
  }

  /** True once the PAT and every PMT it names have been seen. */
  get ready(): boolean {
    return this.pat !== null && this.pmtPids.size > 0 && [...this.pmtPids].every((p) => this.pmts.has(p));
  }

  /** PAT then PMTs, or an empty buffer if they are not known yet. */
  header(): Buffer {
    return this.ready ? Buffer.concat([this.pat!, ...this.pmts.values()]) : Buffer.alloc(0);
  }
}

/** Offset of the section with `tableId` in a packet that starts one (after the pointer field), or -1. */
function sectionStart(pkt: Buffer, tableId: number): number {
  const afc = (pkt[3]! >> 4) & 0x3;
  if (afc === 0 || afc === 2) return -1;
  const payload = afc === 3 ? 5 + pkt[4]! : 4;
  if (payload >= 188) return -1;
  const table = payload + 1 + pkt[payload]!;
  return table + 3 <= 188 && pkt[table] === tableId ? table : -1;
}

function sameSet(a: Set<number>, b: Set<number>): boolean {
  return a.size === b.size && [...a].every((x) => b.has(x));
}

