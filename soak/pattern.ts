// The numbered messages of the flood and churn streams: 1316 bytes, the index in the first 4, the
// rest a pattern derived from the index, so that a receiver checks every byte.
export const MSG_SIZE = 1316;

export function message(i: number): Buffer {
  const b = Buffer.allocUnsafe(MSG_SIZE);
  b.writeUInt32BE(i >>> 0, 0);
  const k = (i * 31) & 0xff;
  for (let j = 4; j < MSG_SIZE; j++) b[j] = (k + j) & 0xff;
  return b;
}

/** The index of a message, or -1 if any byte differs from message(index). */
export function check(m: Buffer): number {
  if (m.length !== MSG_SIZE) return -1;
  const i = m.readUInt32BE(0);
  const k = (i * 31) & 0xff;
  for (let j = 4; j < MSG_SIZE; j++) if (m[j] !== ((k + j) & 0xff)) return -1;
  return i;
}
