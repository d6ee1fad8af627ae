// Recording a server stream to MPEG-TS files: a new file every `segmentMs`, each starting at a
// keyframe with the stream's PAT and PMT in front (so every file plays and probes on its own),
// and retention by age and/or total size that deletes the oldest finished files.
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Server } from '../server/server.js';
import { PsiCache } from '../server/tsmux.js';
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
