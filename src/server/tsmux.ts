// MPEG-TS helpers for players that should start at a random-access point.

/** True if any 188-byte TS packet in the message has random_access_indicator set (ISO 13818-1 2.4.3.5). */
export function hasRandomAccessPoint(msg: Buffer): boolean {
  for (let o = 0; o + 188 <= msg.length; o += 188) {
    if (msg[o] !== 0x47) return false; // not aligned TS: cannot tell
    const afc = (msg[o + 3]! >> 4) & 0x3;
    if ((afc === 2 || afc === 3) && msg[o + 4]! > 0 && (msg[o + 5]! & 0x40) !== 0) return true;
  }
  return false;
}
