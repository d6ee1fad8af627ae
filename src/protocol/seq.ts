// 31-bit circular sequence arithmetic (draft-sharabayko-srt §3.1, libsrt common.h CSeqNo).
export const SEQ_MAX = 0x7fffffff;
const SEQ_THRESH = 0x3fffffff;

/** s + n modulo 2^31 (n may be negative). */
export function seqAdd(s: number, n: number): number {
  return (s + n) & SEQ_MAX;
}

export function seqInc(s: number): number {
  return (s + 1) & SEQ_MAX;
}

export function seqDec(s: number): number {
  return (s - 1) & SEQ_MAX;
}

/** Signed distance from a to b: > 0 when b is after a. */
export function seqOff(a: number, b: number): number {
  const d = b - a;
  if (d > SEQ_THRESH) return d - SEQ_MAX - 1;
  if (d < -SEQ_THRESH) return d + SEQ_MAX + 1;
  return d;
}

/** Compare a with b: negative if a is before b, 0 if equal, positive if after. */
export function seqCmp(a: number, b: number): number {
  return -seqOff(a, b);
}

/** Inclusive number of sequence numbers in [a, b]. */
export function seqLen(a: number, b: number): number {
  return seqOff(a, b) + 1;
}

// 26-bit message numbers: start at 1, wrap from 0x03FFFFFF back to 1 (0 is reserved).
export const MSGNO_MAX = 0x03ffffff;
export function msgNoInc(m: number): number {
  return m >= MSGNO_MAX ? 1 : m + 1;
}

/** Unwraps a 32-bit µs timestamp against a 64-bit reference (nearest epoch). */
export function unwrapTimestamp(ts32: number, ref64: number): number {
  const refLow = ref64 % 0x100000000;
  const diff = (ts32 - refLow) | 0; // signed 32-bit difference
  return ref64 + diff;
}
