// Sorted list of inclusive sequence ranges (sender and receiver loss lists).
import { seqCmp, seqInc, seqDec, seqLen } from './seq.js';
import type { SeqRange } from './packet.js';

export class LossList {
  private first: number[] = [];
  private last: number[] = [];
  private count = 0;

  get size(): number {
    return this.count;
  }

  get rangeCount(): number {
    return this.first.length;
  }

  isEmpty(): boolean {
    return this.first.length === 0;
  }

  /** Adds [a, b]; merges with neighbours. */
  add(a: number, b: number): void {
    const n = this.first.length;
    // fast path: append after the last range
    if (n === 0 || seqCmp(a, this.last[n - 1]!) > 0) {
      if (n > 0 && seqInc(this.last[n - 1]!) === a) {
        this.count += seqLen(a, b);
        this.last[n - 1] = b;
      } else {
        this.first.push(a);
        this.last.push(b);
        this.count += seqLen(a, b);
      }
      return;
    }
    // general case: insert, then normalise
    let i = 0;
    while (i < n && seqCmp(this.first[i]!, a) < 0) i++;
    this.first.splice(i, 0, a);
    this.last.splice(i, 0, b);
    this.normalise();
  }

  private normalise(): void {
    const f: number[] = [];
    const l: number[] = [];
    for (let i = 0; i < this.first.length; i++) {
      const a = this.first[i]!, b = this.last[i]!;
      const k = f.length - 1;
      if (k >= 0 && seqCmp(a, seqInc(l[k]!)) <= 0) {
        if (seqCmp(b, l[k]!) > 0) l[k] = b;
      } else {
        f.push(a);
        l.push(b);
      }
    }
    this.first = f;
    this.last = l;
    let c = 0;
    for (let i = 0; i < f.length; i++) c += seqLen(f[i]!, l[i]!);
    this.count = c;
  }

  has(s: number): boolean {
    for (let i = 0; i < this.first.length; i++) {
      if (seqCmp(s, this.first[i]!) < 0) return false;
      if (seqCmp(s, this.last[i]!) <= 0) return true;
    }
    return false;
  }

  /** Removes one sequence number; returns true if it was present. */
  remove(s: number): boolean {
    for (let i = 0; i < this.first.length; i++) {
      const a = this.first[i]!, b = this.last[i]!;
      if (seqCmp(s, a) < 0) return false;
      if (seqCmp(s, b) > 0) continue;
      this.count--;
      if (a === b) {
        this.first.splice(i, 1);
        this.last.splice(i, 1);
      } else if (s === a) {
        this.first[i] = seqInc(a);
      } else if (s === b) {
        this.last[i] = seqDec(b);
      } else {
        this.first.splice(i + 1, 0, seqInc(s));
        this.last.splice(i + 1, 0, b);
        this.last[i] = seqDec(s);
      }
      return true;
    }
    return false;
  }

  /** Removes every sequence number before s; returns how many were removed. */
  removeBefore(s: number): number {
    let removed = 0;
    while (this.first.length > 0) {
      const a = this.first[0]!, b = this.last[0]!;
      if (seqCmp(a, s) >= 0) break;
      if (seqCmp(b, s) < 0) {
        removed += seqLen(a, b);
        this.first.shift();
        this.last.shift();
      } else {
        removed += seqLen(a, seqDec(s));
        this.first[0] = s;
        break;
      }
    }
    this.count -= removed;
    return removed;
  }

  /** Removes [a, b]; returns how many were removed. */
  removeRange(a: number, b: number): number {
    const before = this.count;
    const f: number[] = [];
    const l: number[] = [];
    for (let i = 0; i < this.first.length; i++) {
      const x = this.first[i]!, y = this.last[i]!;
      if (seqCmp(y, a) < 0 || seqCmp(x, b) > 0) {
        f.push(x);
        l.push(y);
        continue;
      }
      if (seqCmp(x, a) < 0) { f.push(x); l.push(seqDec(a)); }
      if (seqCmp(y, b) > 0) { f.push(seqInc(b)); l.push(y); }
    }
    this.first = f;
    this.last = l;
    this.normalise();
    return before - this.count;
  }

  /** Takes the first sequence number out of the list. */
  popFirst(): number | undefined {
    if (this.first.length === 0) return undefined;
    const a = this.first[0]!;
    if (a === this.last[0]) {
      this.first.shift();
      this.last.shift();
    } else {
      this.first[0] = seqInc(a);
    }
    this.count--;
    return a;
  }

  peekFirst(): number | undefined {
    return this.first[0];
  }

  ranges(): SeqRange[] {
    const out: SeqRange[] = [];
    for (let i = 0; i < this.first.length; i++) out.push([this.first[i]!, this.last[i]!]);
    return out;
  }

  clear(): void {
    this.first = [];
    this.last = [];
    this.count = 0;
  }
}
