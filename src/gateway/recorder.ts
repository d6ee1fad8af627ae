// Recording a server stream to MPEG-TS files: a new file every `segmentMs`, each starting at a
// keyframe with the stream's PAT and PMT in front (so every file plays and probes on its own),
// and retention by age and/or total size that deletes the oldest finished files.
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Server } from '../server/server.js';
import { RouteRunner, StreamReader, watchFlow, type RecordedFile } from './routes.js';

export interface RecorderConfig {
  /** Directory of this stream's files (created if missing); retention works on every .ts file in it. */
  dir: string;
  segmentMs: number;
  /** Delete finished files older than this (by their end time). */
  retainMs?: number;
  /** Delete the oldest finished files while all files together exceed this. */
  maxBytes?: number;
}

/** A stream whose keyframes are not marked still gets files: at most this long past the segment time. */
const KEYFRAME_WAIT_MS = 10_000;
/** How long the first file waits for the PAT/PMT before it starts without them. */
const PSI_WAIT_MS = 3000;
/** Age retention is also checked on this period (size retention runs at every rotation). */
const RETENTION_CHECK_MS = 60_000;

const PAT_PID = 0;
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
    for (let p = table + 12 + programInfo; p + 5 <= end;) {
      const esPid = ((pkt[p + 1]! & 0x1f) << 8) | pkt[p + 2]!;
      if (VIDEO_STREAM_TYPES.has(pkt[p]!)) video.add(esPid);
      p += 5 + (((pkt[p + 3]! & 0x0f) << 8) | pkt[p + 4]!);
    }
    this.pmts.set(pid, Buffer.from(pkt));
    this.video.set(pid, video);
    this.videoPids = new Set([...this.video.values()].flatMap((v) => [...v]));
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
      }
      this.videoPids = new Set([...this.video.values()].flatMap((v) => [...v]));
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

/** File name of a segment started at `t`: ISO 8601 UTC with ':' → '-' (valid on every file system). */
export function segmentName(t: Date): string {
  return `${t.toISOString().replace(/:/g, '-')}.ts`;
}

interface OpenFile {
  out: WriteStream;
  info: RecordedFile;
  opened: number;
}

export class Recorder extends RouteRunner {
  private readonly reader: StreamReader;
  private readonly psi = new PsiCache();
  private file: OpenFile | null = null;
  /** Set while no file is open: when stream data started coming in (for the PSI/keyframe waits). */
  private waitingSince = 0;
  private flowTimer: NodeJS.Timeout | null = null;
  private retentionTimer: NodeJS.Timeout | null = null;
  private retention: Promise<void> = Promise.resolve();
  /** Files closing (their last bytes being flushed). */
  private readonly closing = new Set<Promise<void>>();
  files = 0;
  deleted = 0;

  constructor(server: Server, stream: string, label: string, readonly cfg: RecorderConfig) {
    super(server, stream, label);
    // The keyframe gate is ours, not the server's (startAtKeyframe): the recorder must see the
    // PAT/PMT that come before the first keyframe.
    this.reader = new StreamReader(server, stream, label, (m) => this.onMessage(m), (reason, stopped) => {
      // the stream ended: close the file; the next one starts at the next keyframe
      this.closeFile(false);
      if (stopped) this.fail(new Error(`stream reader closed: ${reason}`));
    }, { startAtKeyframe: false });
  }

  get connected(): boolean {
    return this.reader.flowing;
  }

  /** The file being written, or null. */
  get current(): RecordedFile | null {
    return this.file ? { ...this.file.info } : null;
  }

  async start(): Promise<void> {
    await mkdir(this.cfg.dir, { recursive: true });
    this.reader.open();
    this.flowTimer = watchFlow(this, () => this.reader.flowing, this.stream);
    this.retentionTimer = setInterval(() => this.enforceRetention(), RETENTION_CHECK_MS);
    this.retentionTimer.unref();
    this.enforceRetention();
  }

  private onMessage(msg: Buffer): void {
    this.psi.observe(msg);
    const now = Date.now();
    if (!this.file) {
      if (this.waitingSince === 0) this.waitingSince = now;
      const waited = now - this.waitingSince;
      const at = this.psi.keyframeOffset(msg);
      const keyframeOk = at >= 0 || waited >= KEYFRAME_WAIT_MS;
      if (!keyframeOk || (!this.psi.ready && waited < PSI_WAIT_MS)) {
        this.dropped++;
        return;
      }
      this.openFile(now);
      this.write(at > 0 ? msg.subarray(at) : msg);
      return;
    }
    const age = now - this.file.opened;
    if (age >= this.cfg.segmentMs) {
      const at = this.psi.keyframeOffset(msg);
      if (at >= 0 || age >= this.cfg.segmentMs + KEYFRAME_WAIT_MS) {
        // the old file keeps the packets before the keyframe: its last frame stays whole
        if (at > 0) this.write(msg.subarray(0, at));
        this.closeFile(true);
        this.openFile(now);
        this.write(at > 0 ? msg.subarray(at) : msg);
        return;
      }
    }
    this.write(msg);
  }

  private openFile(now: number): void {
    const t = new Date(now);
    let path = join(this.cfg.dir, segmentName(t));
    // two files within one millisecond (a stream that restarts at once) must not share a name
    if (this.file?.info.path === path) path = path.replace(/\.ts$/, `-${this.files}.ts`);
    const out = createWriteStream(path, { flags: 'wx' });
    out.on('error', (e) => this.fail(new Error(`cannot write ${path}: ${e.message}`)));
    this.file = { out, opened: now, info: { path, startedAt: t.toISOString(), endedAt: null, bytes: 0 } };
    this.files++;
    this.waitingSince = 0;
    this.emit('fileOpened', { ...this.file.info });
    this.write(this.psi.header());
  }

  private write(b: Buffer): void {
    const f = this.file;
    if (!f || b.length === 0) return;
    this.messages++;
    this.bytes += b.length;
    f.info.bytes += b.length;
    // live data: the write stream buffers while the disk catches up (no backpressure upstream)
    f.out.write(b);
  }

  private closeFile(rotated: boolean): void {
    const f = this.file;
    if (!f) return;
    this.file = null;
    f.info.endedAt = new Date().toISOString();
    const done = new Promise<void>((resolve) => {
      f.out.end(() => resolve());
      f.out.once('error', () => resolve());
    }).then(() => {
      this.closing.delete(done);
      this.emit('fileClosed', { ...f.info }, rotated);
      if (rotated) this.enforceRetention();
    });
    this.closing.add(done);
  }

  /** Runs retention after any run in progress (they list and delete the same directory). */
  private enforceRetention(): void {
    this.retention = this.retention.then(() => this.applyRetention()).catch(() => undefined);
  }

  private async applyRetention(): Promise<void> {
    const { retainMs, maxBytes } = this.cfg;
    if (retainMs === undefined && maxBytes === undefined) return;
    const names = (await readdir(this.cfg.dir)).filter((n) => n.endsWith('.ts')).sort(); // names sort by time
    const files: { path: string; size: number; mtime: number }[] = [];
    for (const n of names) {
      const path = join(this.cfg.dir, n);
      try {
        const st = await stat(path);
        files.push({ path, size: st.size, mtime: st.mtimeMs });
      } catch {
        // deleted meanwhile (through the API)
      }
    }
    const open = this.file?.info.path;
    let total = files.reduce((a, f) => a + f.size, 0);
    const now = Date.now();
    for (const f of files) {
      if (f.path === open) continue; // never the file being written
      const tooOld = retainMs !== undefined && now - f.mtime > retainMs;
      const tooBig = maxBytes !== undefined && total > maxBytes;
      if (!tooOld && !tooBig) continue;
      try {
        await unlink(f.path);
      } catch {
        continue;
      }
      total -= f.size;
      this.deleted++;
      this.emit('fileDeleted', f.path);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.flowTimer) clearInterval(this.flowTimer);
    if (this.retentionTimer) clearInterval(this.retentionTimer);
    this.reader.close('route stopped');
    this.closeFile(false);
    await Promise.all([...this.closing]);
    await this.retention;
  }
}
