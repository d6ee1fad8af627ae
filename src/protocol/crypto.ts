// HaiCrypt as libsrt does it (SRT-DIGEST §7; libsrt haicrypt/hcrypt_msg.h, hcrypt.h, cryspr.c):
// the Keying Material message, PBKDF2-HMAC-SHA1 key derivation, RFC 3394 key wrap, AES-CTR
// payload encryption and the 1.5.4 AES-GCM variant. Pure computation (node:crypto), no I/O.
import { createCipheriv, createDecipheriv, pbkdf2Sync, type Cipheriv, type CipherGCMTypes } from 'node:crypto';
import { ParseError } from './errors.js';

export const KM_SIGNATURE = 0x2029;
export const KmCipher = { None: 0, Ecb: 1, Ctr: 2, Cbc: 3, Gcm: 4 } as const;
/** Key flags: in data packets (KK) and in the KM message. */
export const KeyFlag = { Even: 1, Odd: 2, Both: 3 } as const;
/** SRT_KM_STATE values (libsrt srt.h). */
export const KmState = { Unsecured: 0, Securing: 1, Secured: 2, NoSecret: 3, BadSecret: 4, BadCryptoMode: 5 } as const;

const PBKDF2_ITERATIONS = 2048;
const WRAP_IV = Buffer.from('A6A6A6A6A6A6A6A6', 'hex');
export const SALT_LEN = 16;
export const GCM_TAG_LEN = 16;

export interface KmMessage {
  keyFlags: number; // 1 even, 2 odd, 3 both (even first)
  cipher: number; // 2 CTR, 4 GCM
  auth: number; // 0 none, 1 GCM
  se: number; // stream encapsulation: 2 = SRT
  salt: Buffer; // 16 bytes
  keyLen: number; // 16 / 24 / 32
  wrapped: Buffer; // 8 + n * keyLen bytes
}

export function decodeKm(b: Buffer): KmMessage {
  if (b.length < 16) throw new ParseError(`KM message too short: ${b.length} bytes`);
  if (b[0] !== 0x12) throw new ParseError(`KM message: bad version/type byte 0x${b[0]!.toString(16)}`);
  if (b.readUInt16BE(1) !== KM_SIGNATURE) throw new ParseError('KM message: bad signature');
  const keyFlags = b[3]! & 3;
  if (keyFlags === 0) throw new ParseError('KM message without keys');
  const saltLen = b[14]! * 4;
  const keyLen = b[15]! * 4;
  if (saltLen !== SALT_LEN) throw new ParseError(`KM message: salt length ${saltLen}`);
  if (keyLen !== 16 && keyLen !== 24 && keyLen !== 32) throw new ParseError(`KM message: key length ${keyLen}`);
  const nKeys = keyFlags === KeyFlag.Both ? 2 : 1;
  const wrapLen = 8 + nKeys * keyLen;
  if (b.length < 16 + saltLen + wrapLen) throw new ParseError('KM message truncated');
  return {
    keyFlags,
    cipher: b[8]!,
    auth: b[9]!,
    se: b[10]!,
    salt: Buffer.from(b.subarray(16, 16 + saltLen)),
    keyLen,
    wrapped: Buffer.from(b.subarray(16 + saltLen, 16 + saltLen + wrapLen)),
  };
}

export function encodeKm(m: KmMessage): Buffer {
  const b = Buffer.alloc(16 + m.salt.length + m.wrapped.length);
  b[0] = 0x12; // S=0, V=1, PT=2 (KM)
  b.writeUInt16BE(KM_SIGNATURE, 1);
  b[3] = m.keyFlags & 3;
  // bytes 4..7 KEKI = 0
  b[8] = m.cipher;
  b[9] = m.auth;
  b[10] = m.se;
  b[14] = m.salt.length / 4;
  b[15] = m.keyLen / 4;
  m.salt.copy(b, 16);
  m.wrapped.copy(b, 16 + m.salt.length);
  return b;
}

/** KEK = PBKDF2-HMAC-SHA1(passphrase, last 8 bytes of the salt, 2048, keyLen). */
export function deriveKek(passphrase: string, salt: Buffer, keyLen: number): Buffer {
  return pbkdf2Sync(Buffer.from(passphrase, 'utf8'), salt.subarray(salt.length - 8), PBKDF2_ITERATIONS, keyLen, 'sha1');
}

function wrapAlgo(keyLen: number): string {
  return `id-aes${keyLen * 8}-wrap`;
}

/** RFC 3394 AES key wrap with the default IV. */
export function wrapKey(kek: Buffer, keys: Buffer): Buffer {
  const c = createCipheriv(wrapAlgo(kek.length), kek, WRAP_IV);
  return Buffer.concat([c.update(keys), c.final()]);
}

/** RFC 3394 unwrap; returns null when the integrity check fails (a wrong passphrase). */
export function unwrapKey(kek: Buffer, wrapped: Buffer): Buffer | null {
  try {
    const d = createDecipheriv(wrapAlgo(kek.length), kek, WRAP_IV);
    return Buffer.concat([d.update(wrapped), d.final()]);
  } catch {
    return null;
  }
}

/** AES-CTR initial counter block: zeros, seq at bytes 10..13, XOR salt[0..13]; bytes 14..15 count blocks. */
export function ctrIv(salt: Buffer, seq: number): Buffer {
  const iv = Buffer.alloc(16);
  iv.writeUInt32BE(seq >>> 0, 10);
  for (let i = 0; i < 14; i++) iv[i] = iv[i]! ^ salt[i]!;
  return iv;
}

/** AES-GCM 12-byte IV (libsrt 1.5.4+): zeros, seq at bytes 8..11, XOR salt[0..11]. */
export function gcmIv(salt: Buffer, seq: number): Buffer {
  const iv = Buffer.alloc(12);
  iv.writeUInt32BE(seq >>> 0, 8);
  for (let i = 0; i < 12; i++) iv[i] = iv[i]! ^ salt[i]!;
  return iv;
}

/**
 * One AES-CTR key with its salt. Packets are transformed in batches: the counter blocks of
 * all packets go through one AES-ECB call and the keystream is XORed in place — one cipher call
 * per batch instead of a cipher object per packet (SRT's counter block makes this exact AES-CTR).
 */
export class CtrKey {
  private ecb: Cipheriv | null = null;
  constructor(readonly salt: Buffer, readonly key: Buffer) {}

  private cipher(): Cipheriv {
    if (!this.ecb) {
      this.ecb = createCipheriv(`aes-${this.key.length * 8}-ecb`, this.key, null);
      this.ecb.setAutoPadding(false);
    }
    return this.ecb;
  }

  /** Encrypts/decrypts `items[from..to)` (all with this key) in place. */
  apply(items: readonly CtrItem[], from = 0, to = items.length): void {
    let blocks = 0;
    for (let i = from; i < to; i++) blocks += (items[i]!.data.length + 15) >> 4;
    if (blocks === 0) return; // only empty payloads (a peer may send them): nothing to transform
    const ctr = scratch(blocks * 16);
    const c32 = ctr.u32;
    const salt = this.salt;
    let o = 0;
    for (let i = from; i < to; i++) {
      const it = items[i]!;
      if (it.data.length === 0) continue;
      // block = salt[0..13] ⊕ (0^10 ‖ seq ‖ 0^2), then the 16-bit block counter in bytes 14..15
      ctr.bytes.fill(0, o * 4, o * 4 + 16);
      ctr.bytes.writeUInt32BE(it.seq >>> 0, o * 4 + 10);
      for (let k = 0; k < 14; k++) ctr.bytes[o * 4 + k] = ctr.bytes[o * 4 + k]! ^ salt[k]!;
      const w0 = c32[o]!, w1 = c32[o + 1]!, w2 = c32[o + 2]!, w3 = c32[o + 3]!;
      const n = (it.data.length + 15) >> 4;
      for (let b = 0; b < n; b++, o += 4) {
        c32[o] = w0;
        c32[o + 1] = w1;
        c32[o + 2] = w2;
        // bytes 14..15 = big-endian block index, in a little-endian word view
        c32[o + 3] = (w3 & 0x0000ffff) | ((b & 0xff) << 24) | ((b >>> 8) << 16);
      }
    }
    const ks = this.cipher().update(ctr.bytes.subarray(0, blocks * 16));
    let k = 0;
    for (let i = from; i < to; i++) {
      const d = items[i]!.data;
      xorInto(d, ks, k);
      k += ((d.length + 15) >> 4) * 16;
    }
  }
}

export interface CtrItem {
  seq: number;
  /** The payload, transformed in place. */
  data: Buffer;
}

let scratchBuf: { bytes: Buffer; u32: Uint32Array } = { bytes: Buffer.alloc(0), u32: new Uint32Array(0) };
function scratch(n: number): { bytes: Buffer; u32: Uint32Array } {
  if (scratchBuf.bytes.length < n) {
    const ab = new ArrayBuffer(Math.max(n, 64 * 1024));
    scratchBuf = { bytes: Buffer.from(ab), u32: new Uint32Array(ab) };
  }
  return scratchBuf;
}

/** d[i] ^= ks[off + i], word-wise when both are 4-byte aligned. */
function xorInto(d: Buffer, ks: Buffer, off: number): void {
  const n = d.length;
  let i = 0;
  if (((d.byteOffset | (ks.byteOffset + off)) & 3) === 0) {
    const words = n >> 2;
    const a = new Int32Array(d.buffer, d.byteOffset, words);
    const b = new Int32Array(ks.buffer, ks.byteOffset + off, words);
    for (let w = 0; w < words; w++) a[w] = a[w]! ^ b[w]!;
    i = words << 2;
  }
  for (; i < n; i++) d[i] = d[i]! ^ ks[off + i]!;
}

/** Applies AES-CTR to a list of packets in place, one cipher call per run of the same key. */
export function ctrBatch(keys: readonly CtrKey[], items: readonly CtrItem[]): void {
  let from = 0;
  for (let i = 1; i <= items.length; i++) {
    if (i === items.length || keys[i] !== keys[from]) {
      keys[from]!.apply(items, from, i);
      from = i;
    }
  }
}

/** One stream's keys: the salt and the even/odd SEKs. */
export class KeySet {
  readonly salt: Buffer;
  readonly keyLen: number;
  readonly cipher: number; // KmCipher.Ctr or KmCipher.Gcm
  private readonly keys: (CtrKey | null)[] = [null, null]; // [even, odd]

  constructor(salt: Buffer, keyLen: number, cipher: number) {
    this.salt = salt;
    this.keyLen = keyLen;
    this.cipher = cipher;
  }

  /** Installs a key: kk 1 = even, 2 = odd. */
  setKey(kk: number, key: Buffer | null): void {
    this.keys[kk === KeyFlag.Odd ? 1 : 0] = key ? new CtrKey(this.salt, key) : null;
  }

  key(kk: number): Buffer | null {
    return this.keys[kk === KeyFlag.Odd ? 1 : 0]?.key ?? null;
  }

  /** The key object for a parity (packets keep a reference, so a later refresh cannot touch them). */
  ctrKey(kk: number): CtrKey | null {
    return this.keys[kk === KeyFlag.Odd ? 1 : 0] ?? null;
  }

  hasKey(kk: number): boolean {
    return this.key(kk) !== null;
  }

  /** AES-CTR of one packet (encrypts and decrypts). Returns a new buffer. */
  ctr(kk: number, seq: number, data: Buffer): Buffer {
    const k = this.ctrKey(kk);
    if (!k) throw new Error('no key');
    const out = Buffer.from(data);
    k.apply([{ seq, data: out }]);
    return out;
  }

  /** AES-GCM seal: ciphertext followed by the 16-byte tag. `aad` is the header with R cleared. */
  gcmSeal(kk: number, seq: number, aad: Buffer, data: Buffer): Buffer {
    const key = this.key(kk);
    if (!key) throw new Error('no key');
    const c = createCipheriv(`aes-${this.keyLen * 8}-gcm` as CipherGCMTypes, key, gcmIv(this.salt, seq), { authTagLength: GCM_TAG_LEN });
    c.setAAD(aad);
    return Buffer.concat([c.update(data), c.final(), c.getAuthTag()]);
  }

  /** AES-GCM open; null when authentication fails. */
  gcmOpen(kk: number, seq: number, aad: Buffer, sealed: Buffer): Buffer | null {
    const key = this.key(kk);
    if (!key || sealed.length < GCM_TAG_LEN) return null;
    try {
      const d = createDecipheriv(`aes-${this.keyLen * 8}-gcm` as CipherGCMTypes, key, gcmIv(this.salt, seq), { authTagLength: GCM_TAG_LEN });
      d.setAAD(aad);
      d.setAuthTag(sealed.subarray(sealed.length - GCM_TAG_LEN));
      return Buffer.concat([d.update(sealed.subarray(0, sealed.length - GCM_TAG_LEN)), d.final()]);
    } catch {
      return null;
    }
  }
}

/** Builds a KM message carrying `keys` (even first when both) wrapped with the passphrase. */
export function buildKm(passphrase: string, salt: Buffer, keyLen: number, cipher: number, keyFlags: number, keys: Buffer): Buffer {
  const kek = deriveKek(passphrase, salt, keyLen);
  return encodeKm({
    keyFlags,
    cipher,
    auth: cipher === KmCipher.Gcm ? 1 : 0,
    se: 2,
    salt,
    keyLen,
    wrapped: wrapKey(kek, keys),
  });
}

export type KmResult = { ok: true; km: KmMessage; keys: Buffer[] } | { ok: false; state: number };

/** Unwraps a KM message with a passphrase: the keys in KK order, or BADSECRET/NOSECRET. */
export function openKm(passphrase: string, raw: Buffer): KmResult {
  let km: KmMessage;
  try {
    km = decodeKm(raw);
  } catch {
    return { ok: false, state: KmState.BadSecret };
  }
  if (passphrase === '') return { ok: false, state: KmState.NoSecret };
  if (km.cipher !== KmCipher.Ctr && km.cipher !== KmCipher.Gcm) return { ok: false, state: KmState.BadCryptoMode };
  const plain = unwrapKey(deriveKek(passphrase, km.salt, km.keyLen), km.wrapped);
  if (!plain) return { ok: false, state: KmState.BadSecret };
  const keys = km.keyFlags === KeyFlag.Both
    ? [plain.subarray(0, km.keyLen), plain.subarray(km.keyLen, 2 * km.keyLen)]
    : [plain];
  return { ok: true, km, keys };
}

/** The KMRSP failure form: one word holding the state, little-endian as x86 libsrt sends it. */
export function encodeKmState(state: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(state, 0);
  return b;
}

export function decodeKmState(b: Buffer): number {
  return b.length >= 4 ? b.readUInt32LE(0) : KmState.BadSecret;
}
