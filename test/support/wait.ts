// Waiting for events instead of sleeping (ADR 3). Every wait has a deadline, and a missed deadline
// FAILS with a message naming what did not happen: a deadline is a bound on a hang, never a
// measurement — keep it generous (the machine is shared), and assert behaviour, not durations.
import type { EventEmitter } from 'node:events';

export interface WaitOptions {
  /** What is awaited, in words: the error says "<what>: not within <timeoutMs> ms". */
  what: string;
  timeoutMs?: number;
  /** Extra detail for the error (the state seen last), evaluated only on failure. */
  detail?: () => string;
}

const DEFAULT_MS = 10_000;

function timeoutError(o: WaitOptions): Error {
  const extra = o.detail ? ` (${o.detail()})` : '';
  return new Error(`${o.what}: not within ${o.timeoutMs ?? DEFAULT_MS} ms${extra}`);
}

/** Polls `cond` (every 10 ms) until it holds; rejects once the deadline passes. */
export async function waitFor(cond: () => boolean, o: WaitOptions): Promise<void> {
  const end = Date.now() + (o.timeoutMs ?? DEFAULT_MS);
  while (!cond()) {
    if (Date.now() >= end) throw timeoutError(o);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** `p`, or a rejection naming `what` once the deadline passes (the timer never outlives the race). */
export async function within<T>(p: Promise<T>, o: WaitOptions): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(timeoutError(o)), o.timeoutMs ?? DEFAULT_MS); });
  try {
    return await Promise.race([p, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** The first `event` emitted by `em` (its arguments), within the deadline. */
export function nextEvent<T extends unknown[] = unknown[]>(em: EventEmitter, event: string, o: WaitOptions): Promise<T> {
  let listener: ((...args: unknown[]) => void) | undefined;
  const p = new Promise<T>((resolve) => { listener = (...args: unknown[]) => resolve(args as T); em.once(event, listener); });
  return within(p, o).finally(() => em.off(event, listener!));
}

/** Polls an async view (every 50 ms) until `ok` holds and returns it; fails with the last view once the deadline passes. */
export async function eventually<T>(get: () => Promise<T>, ok: (v: T) => boolean, o: WaitOptions): Promise<T> {
  const end = Date.now() + (o.timeoutMs ?? DEFAULT_MS);
  let v = await get();
  while (!ok(v)) {
    if (Date.now() >= end) throw timeoutError({ ...o, detail: () => `${o.detail ? `${o.detail()}; ` : ''}last: ${JSON.stringify(v)}` });
    await new Promise((r) => setTimeout(r, 50));
    v = await get();
  }
  return v;
}
