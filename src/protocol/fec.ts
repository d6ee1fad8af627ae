// The built-in `fec` packet filter, interoperable with libsrt's (fec.cpp FECFilterBuiltin; ADR 13).
//
// Groups: a row is `cols` consecutive sequence numbers; a column takes every `cols`-th packet,
// `rows` of them. Sequence numbers are counted from the ISN of their direction; one "series" (a
// matrix) is M = cols × rows packets. In the even layout column c of series k starts at
// ISN + kM + c; in the staircase layout at ISN + kM + stair(c) (see columnOffsets) so that
// column FEC packets are spread out instead of all following the last row.
//
// An FEC packet is a data packet with message number 0 carrying the sequence number of the last
// data packet sent before it (the last of its group) and the XOR of the group's timestamps in the
// timestamp field; its payload is a 4-byte header — group index (int8: -1 row, else column),
// XOR of the KK flags (uint8), XOR of the payload lengths (uint16 BE) — and the XOR of the group's
// payloads, each zero-padded to the payload size. A single loss per group is rebuilt from it;
// a rebuilt packet is then clipped into its other group, which may rebuild another (recursion).
import type { FecConfig } from './filter-config.js';
import { seqAdd, seqOff } from './seq.js';
import type { SeqRange } from './packet.js';

export const FEC_HEADER = 4;

/**
 * Base offsets (from the series base) of the column groups (libsrt ConfigureColumns): even: c;
 * staircase: each column starts one row and one column after the previous one, wrapping back to
 * row 0 every `rows` columns.
 */
export function columnOffsets(cols: number, rows: number, layout: 'even' | 'staircase'): number[] {
  const out: number[] = [];
  let offset = 0;
  for (let c = 0; c < cols; c++) {
    if (layout === 'even') {
      out.push(c);
      continue;
    }
    out.push(offset);
    offset = c % rows === rows - 1 ? c + 1 : offset + 1 + cols;
  }
  return out;
}

class Clip {
  length = 0;
  flags = 0;
  ts = 0;
  readonly payload: Buffer;
  constructor(size: number) {
    this.payload = Buffer.alloc(size);
  }
  reset(): void {
    this.length = 0;
    this.flags = 0;
    this.ts = 0;
    this.payload.fill(0);
  }
  add(length: number, flags: number, ts: number, data: Buffer): void {
    this.length ^= length;
    this.flags ^= flags;
    this.ts = (this.ts ^ ts) >>> 0;
    const p = this.payload;
    const n = Math.min(data.length, p.length);
    for (let i = 0; i < n; i++) p[i]! ^= data[i]!;
  }
}

// ------------------------------------------------------------------ sender

interface SndGroup {
  base: number;
  collected: number;
  clip: Clip;
}

/** The sending side: clips every new data packet and says when an FEC packet is due. */
export class FecSender {
  private readonly row: SndGroup;
  private readonly colGroups: SndGroup[] = [];
  private readonly cols: number;
  private readonly rows: number;
  /** Timestamp field of the packet packControl() returned last (the XOR of the group's timestamps). */
  timestamp = 0;

  constructor(private readonly cfg: FecConfig, isn: number, readonly payloadSize: number) {
    this.cols = cfg.cols;
    this.rows = cfg.rows;
    this.row = { base: isn, collected: 0, clip: new Clip(payloadSize) };
    if (this.rows > 1) {
      for (const o of columnOffsets(cfg.cols, cfg.rows, cfg.layout)) {
        this.colGroups.push({ base: seqAdd(isn, o), collected: 0, clip: new Clip(payloadSize) });
      }
    }
  }

  /** A data packet sent for the first time: `payload` as on the wire (encrypted, if it is). */
  feed(seq: number, keyFlags: number, ts32: number, payload: Buffer): void {
    const off = seqOff(this.row.base, seq);
    if (off >= this.cols) this.resetGroup(this.row, this.cols);
    this.row.clip.add(payload.length, keyFlags, ts32, payload);
    this.row.collected++;
    if (this.rows < 2 || off < 0) return;
    const g = this.colGroups[off % this.cols]!;
    const voff = seqOff(g.base, seq);
    if (voff < 0 || voff % this.cols !== 0) return; // before this column's first group (staircase start)
    if (voff / this.cols >= this.rows) this.resetGroup(g, this.cols * this.rows);
    g.clip.add(payload.length, keyFlags, ts32, payload);
    g.collected++;
  }

  private resetGroup(g: SndGroup, drop: number): void {
    g.base = seqAdd(g.base, drop);
    g.collected = 0;
    g.clip.reset();
  }

  /** Which group's FEC packet is due after data packet `lastSeq` was sent: a column index, -1 (row), or null. */
  private due(lastSeq: number): number | null {
    if (this.rows > 1) {
      const off = seqOff(this.row.base, lastSeq);
      if (off >= 0) {
        const c = off % this.cols;
        if (this.colGroups[c]!.collected >= this.rows) return c;
      }
    }
    if (this.row.collected >= this.cols) return -1;
    return null;
  }

  /** True if packControl(lastSeq) has a packet to send (a column, or a row unless column-only). */
  ready(lastSeq: number): boolean {
    const d = this.due(lastSeq);
    return d !== null && (d >= 0 || !this.cfg.colsOnly);
  }

  /**
   * The FEC packet's payload (FEC header + clip) due after data packet `lastSeq`, or null; its
   * timestamp field is left in `timestamp`. A completed row in column-only mode is reset silently.
   */
  packControl(lastSeq: number): Buffer | null {
    const d = this.due(lastSeq);
    if (d === null) return null;
    const g = d >= 0 ? this.colGroups[d]! : this.row;
    if (d < 0 && this.cfg.colsOnly) {
      this.resetGroup(g, this.cols);
      return null;
    }
    const out = Buffer.allocUnsafe(FEC_HEADER + this.payloadSize);
    out[0] = d & 0xff;
    out[1] = g.clip.flags & 0xff;
    out.writeUInt16BE(g.clip.length & 0xffff, 2);
    g.clip.payload.copy(out, FEC_HEADER);
    this.timestamp = g.clip.ts;
    this.resetGroup(g, d >= 0 ? this.cols * this.rows : this.cols);
    return out;
  }
}

// ------------------------------------------------------------------ receiver

interface RcvGroup {
  /** Offset of the first member from the series origin of the receiver. */
  base: number;
  step: number;
  size: number;
  collected: number;
  fec: boolean;
  reported: boolean;
  clip: Clip;
}

interface Series {
  rows: RcvGroup[];
  cols: RcvGroup[];
}

/** A packet rebuilt from an FEC group. */
export interface Rebuilt {
  seq: number;
  keyFlags: number;
  timestamp: number;
  payload: Buffer;
}

const SERIES_KEPT = 3;

/**
 * The receiving side: every data packet and FEC packet goes through it; rebuilt packets and (with
 * arq:onreq) the losses it gives up on are collected for the connection to take.
 */
export class FecReceiver {
  private readonly cols: number;
  private readonly rows: number;
  private readonly matrix: number;
  private readonly colOff: number[];
  /** Sequence number at series offset 0 (the ISN advanced by whole matrices). */
  private origin: number;
  private readonly series: Series[] = [];
  private readonly cells: Uint8Array;
  private readonly cellMask: number;
  /** Highest offset seen; groups are reported (arq:onreq) once it passes their end. */
  private maxOff = -1;
  private nextReportOff = 0;
  private readonly rowsOnly: boolean;
  private readonly reportRowsGrace: number;
  /** Rebuilt packets, in the order they were rebuilt (taken by the connection). */
  readonly rebuilt: Rebuilt[] = [];
  /** Sequence ranges the filter gave up on (only with arq:onreq), taken by the connection. */
  readonly lost: SeqRange[] = [];

  constructor(private readonly cfg: FecConfig, isn: number, readonly payloadSize: number) {
    this.cols = cfg.cols;
    this.rows = cfg.rows;
    this.matrix = cfg.cols * cfg.rows;
    this.rowsOnly = cfg.rows === 1;
    this.reportRowsGrace = Math.floor(cfg.cols / 3);
    this.colOff = columnOffsets(cfg.cols, cfg.rows, cfg.layout);
    this.origin = isn;
    let w = 1;
    while (w < (SERIES_KEPT + 2) * this.matrix) w *= 2;
    this.cells = new Uint8Array(w);
    this.cellMask = w - 1;
    for (let k = 0; k < SERIES_KEPT; k++) this.series.push(this.newSeries(k));
    this.nextReportOff = this.computeNextReport();
  }

  private newSeries(k: number): Series {
    const s: Series = { rows: [], cols: [] };
    if (!this.cfg.colsOnly) {
      for (let r = 0; r < this.rows; r++) s.rows.push(this.group(k * this.matrix + r * this.cols, 1, this.cols));
    }
    if (this.rows > 1) {
      for (let c = 0; c < this.cols; c++) s.cols.push(this.group(k * this.matrix + this.colOff[c]!, this.cols, this.rows));
    }
    return s;
  }

  private group(base: number, step: number, size: number): RcvGroup {
    return { base, step, size, collected: 0, fec: false, reported: false, clip: new Clip(this.payloadSize) };
  }

  /** Offset of `seq` from the origin after sliding the window forward if needed; -1 if in the past. */
  private place(seq: number): number {
    let o = seqOff(this.origin, seq);
    if (o < 0) return -1;
    if (o >= this.cells.length) {
      // a jump far beyond the window (a long outage): start afresh one series before it
      const shift = (Math.floor(o / this.matrix) - 1) * this.matrix;
      this.reportAll();
      this.origin = seqAdd(this.origin, shift);
      this.cells.fill(0);
      this.series.length = 0;
      for (let k = 0; k < SERIES_KEPT; k++) this.series.push(this.newSeries(k));
      this.maxOff = -1;
      o -= shift;
    }
    while (o >= SERIES_KEPT * this.matrix) {
      this.slide();
      o -= this.matrix;
    }
    if (o > this.maxOff) this.maxOff = o;
    return o;
  }

  /** Drops the oldest series: the origin moves one matrix forward. */
  private slide(): void {
    const old = this.series.shift()!;
    for (const g of old.cols) this.report(g);
    for (const g of old.rows) if (this.rowsOnly) this.report(g);
    for (let i = 0; i < this.matrix; i++) this.cells[(i + this.cellOrigin()) & this.cellMask] = 0;
    this.origin = seqAdd(this.origin, this.matrix);
    this.maxOff -= this.matrix;
    for (const s of this.series) {
      for (const g of s.rows) g.base -= this.matrix;
      for (const g of s.cols) g.base -= this.matrix;
    }
    // recycle the dropped series as the newest one
    const k = SERIES_KEPT - 1;
    old.rows.forEach((g, r) => this.resetGroup(g, k * this.matrix + r * this.cols));
    old.cols.forEach((g, c) => this.resetGroup(g, k * this.matrix + this.colOff[c]!));
    this.series.push(old);
    this.nextReportOff = this.computeNextReport();
  }

  private resetGroup(g: RcvGroup, base: number): void {
    g.base = base;
    g.collected = 0;
    g.fec = false;
    g.reported = false;
    g.clip.reset();
  }

  /** Cells are indexed by sequence number (mod the ring size), so sliding needs no copy. */
  private cellOrigin(): number {
    return this.origin;
  }

  private cellAt(off: number): number {
    return this.cells[(this.origin + off) & this.cellMask]!;
  }

  private setCell(off: number): void {
    this.cells[(this.origin + off) & this.cellMask] = 1;
  }

  private rowGroup(off: number): RcvGroup | null {
    if (this.cfg.colsOnly) return null;
    const k = Math.floor(off / this.matrix);
    return this.series[k]?.rows[Math.floor((off - k * this.matrix) / this.cols)] ?? null;
  }

  private colGroup(off: number): RcvGroup | null {
    if (this.rows < 2) return null;
    const c = off % this.cols;
    const rel = off - this.colOff[c]!;
    if (rel < 0) return null; // before the first group of this column (staircase start)
    return this.series[Math.floor(rel / this.matrix)]?.cols[c] ?? null;
  }

  /**
   * A data packet (message number not 0). Returns false if it was already here (received or
   * rebuilt) or is older than the window; it is then not clipped again.
   */
  onData(seq: number, keyFlags: number, ts32: number, payload: Buffer): boolean {
    const o = this.place(seq);
    if (o < 0) return false;
    if (this.cellAt(o)) return false;
    this.setCell(o);
    const row = this.rowGroup(o);
    const col = this.colGroup(o);
    if (row) this.clipData(row, keyFlags, ts32, payload);
    if (col) this.clipData(col, keyFlags, ts32, payload);
    if (row) this.tryRebuild(row);
    if (col) this.tryRebuild(col);
    this.checkReports();
    return true;
  }

  /** An FEC packet (message number 0): `body` is its payload (FEC header + clip). */
  onControl(seq: number, ts32: number, body: Buffer): void {
    if (body.length < FEC_HEADER) return;
    const o = this.place(seq);
    if (o < 0) return;
    const index = (body[0]! << 24) >> 24;
    const g = index === -1 ? this.rowGroup(o) : this.colGroup(o);
    if (g && !g.fec) {
      g.fec = true;
      g.clip.add(body.readUInt16BE(2), body[1]!, ts32, body.subarray(FEC_HEADER));
      this.tryRebuild(g);
    }
    this.checkReports();
  }

  private clipData(g: RcvGroup, keyFlags: number, ts32: number, payload: Buffer): void {
    g.clip.add(payload.length, keyFlags, ts32, payload);
    g.collected++;
  }

  private tryRebuild(g: RcvGroup): void {
    if (!g.fec || g.collected !== g.size - 1) return;
    let missing = -1;
    for (let i = 0, off = g.base; i < g.size; i++, off += g.step) {
      if (off >= 0 && !this.cellAt(off)) {
        missing = off;
        break;
      }
    }
    if (missing < 0) return;
    const length = g.clip.length;
    if (length > this.payloadSize) return; // corrupt clip: nothing sensible to rebuild
    const p: Rebuilt = {
      seq: seqAdd(this.origin, missing),
      keyFlags: g.clip.flags & 3,
      timestamp: g.clip.ts,
      payload: Buffer.from(g.clip.payload.subarray(0, length)),
    };
    this.setCell(missing);
    g.collected++;
    this.rebuilt.push(p);
    // clip it into its other group, which may now rebuild one more (libsrt's recursion)
    const other = g.step === 1 ? this.colGroup(missing) : this.rowGroup(missing);
    if (other && other.collected < other.size) {
      this.clipData(other, p.keyFlags, p.timestamp, p.payload);
      this.tryRebuild(other);
    }
  }

  // ---------------------------------------------------------------- giving up (arq:onreq)

  /** Groups whose losses are reported: rows in row-only mode, columns otherwise. */
  private reportable(s: Series): RcvGroup[] {
    return this.rowsOnly ? s.rows : s.cols;
  }

  /** The offset past which `g` is given up: its last member (+ a third of a row, for rows: libsrt's grace). */
  private reportAt(g: RcvGroup): number {
    return g.base + (g.size - 1) * g.step + (g.step === 1 ? this.reportRowsGrace + 1 : 0);
  }

  private computeNextReport(): number {
    let m = Infinity;
    for (const s of this.series) for (const g of this.reportable(s)) if (!g.reported) m = Math.min(m, this.reportAt(g));
    return m;
  }

  private checkReports(): void {
    if (this.maxOff <= this.nextReportOff) return;
    for (const s of this.series) for (const g of this.reportable(s)) if (!g.reported && this.maxOff > this.reportAt(g)) this.report(g);
    this.nextReportOff = this.computeNextReport();
  }

  private report(g: RcvGroup): void {
    if (g.reported) return;
    g.reported = true;
    if (this.cfg.arq !== 'onreq') return;
    let start = -1, prev = -1;
    for (let i = 0, off = g.base; i < g.size; i++, off += g.step) {
      if (off < 0 || this.cellAt(off)) continue;
      if (start >= 0 && off === prev + 1) {
        prev = off;
        continue;
      }
      if (start >= 0) this.lost.push([seqAdd(this.origin, start), seqAdd(this.origin, prev)]);
      start = prev = off;
    }
    if (start >= 0) this.lost.push([seqAdd(this.origin, start), seqAdd(this.origin, prev)]);
  }

  private reportAll(): void {
    for (const s of this.series) for (const g of this.reportable(s)) this.report(g);
  }
}
