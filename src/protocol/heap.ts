/** Minimal binary min-heap of (time, item) used by the single timer loop. */
export class DeadlineHeap<T> {
  private times: number[] = [];
  private items: T[] = [];

  get size(): number {
    return this.times.length;
  }

  peekTime(): number {
    return this.times.length > 0 ? this.times[0]! : Infinity;
  }

  peekItem(): T | undefined {
    return this.items[0];
  }

  push(t: number, item: T): void {
    const times = this.times, items = this.items;
    let i = times.length;
    times.push(t);
    items.push(item);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (times[p]! <= t) break;
      times[i] = times[p]!;
      items[i] = items[p]!;
      i = p;
    }
    times[i] = t;
    items[i] = item;
  }

  pop(): T | undefined {
    const times = this.times, items = this.items;
    if (times.length === 0) return undefined;
    const top = items[0]!;
    const lt = times.pop()!;
    const li = items.pop()!;
    const n = times.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && times[r]! < times[l]! ? r : l;
        if (times[c]! >= lt) break;
        times[i] = times[c]!;
        items[i] = items[c]!;
        i = c;
      }
      times[i] = lt;
      items[i] = li;
    }
    return top;
  }
}
