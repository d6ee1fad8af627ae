// Per-connection encryption state: the sending direction's keys with libsrt's refresh schedule
// (pre-announce, switch, decommission), the receiving direction's keys, and in-band KM
// exchange (SRT-DIGEST §7.5; libsrt crypto.cpp, haicrypt hcrypt_ctx_tx.c).
import { buildKm, encodeKmState, KeyFlag, KeySet, KmCipher, KmState, openKm, type CtrKey } from './crypto.js';
import type { Sealer } from './sender.js';

export type RandomBytes = (n: number) => Buffer;

export interface KeyingConfig {
  passphrase: string;
  keyLen: number;
  cipher: number; // KmCipher.Ctr | KmCipher.Gcm
  refreshRate: number; // packets per key (0 = never refresh)
  preAnnounce: number; // packets
  random: RandomBytes;
}

const KM_RETRIES = 10;

/** The sending direction: encrypts, and refreshes its keys on libsrt's packet schedule. */
export class TxKeying implements Sealer {
  readonly keys: KeySet;
  private active: number = KeyFlag.Even;
  private sinceSwitch = 0; // packets encrypted with the active key
  private pendingNew = false; // a new key was announced and not yet switched to
  private decommissioned = true;
  private readonly cfg: KeyingConfig;
  /** KM message currently announced to the peer and not yet acknowledged. */
  private announce: Buffer | null = null;
  private announceTries = 0;
  private announceAt = -Infinity;
  state: number = KmState.Secured;
  refreshes = 0;

  constructor(cfg: KeyingConfig, keys: KeySet) {
    this.cfg = cfg;
    this.keys = keys;
  }

  /** Called once per new packet, before `seal`: counts it, applies the refresh schedule, and returns its KK. */
  keyFlags(): number {
    this.sinceSwitch++;
    this.schedule();
    return this.active;
  }

  batchKey(kk: number): CtrKey | null {
    return this.keys.cipher === KmCipher.Ctr ? this.keys.ctrKey(kk) : null;
  }

  seal(seq: number, header: Buffer, payload: Buffer): Buffer {
    return this.keys.cipher === KmCipher.Gcm
      ? this.keys.gcmSeal(this.active, seq, header, payload)
      : this.keys.ctr(this.active, seq, payload);
  }

  /** libsrt's refresh points, counted in packets sent with the active key. */
  private schedule(): void {
    const { refreshRate, preAnnounce } = this.cfg;
    if (refreshRate <= 0) return;
    if (!this.pendingNew && this.sinceSwitch >= refreshRate - preAnnounce) {
      // pre-announce: a fresh key for the other parity, both keys in one KM (even first)
      const other = this.active === KeyFlag.Even ? KeyFlag.Odd : KeyFlag.Even;
      this.keys.setKey(other, this.cfg.random(this.keys.keyLen));
      this.pendingNew = true;
      this.decommissioned = false;
      this.sendKm(KeyFlag.Both);
    }
    if (this.pendingNew && this.sinceSwitch >= refreshRate) {
      this.active = this.active === KeyFlag.Even ? KeyFlag.Odd : KeyFlag.Even;
      this.sinceSwitch = 0;
      this.pendingNew = false;
      this.refreshes++;
    }
    if (!this.decommissioned && !this.pendingNew && this.sinceSwitch >= preAnnounce) {
      // decommission the old key: announce only the active one
      this.keys.setKey(this.active === KeyFlag.Even ? KeyFlag.Odd : KeyFlag.Even, null);
      this.decommissioned = true;
      this.sendKm(this.active);
    }
  }

  private sendKm(flags: number): void {
    const even = this.keys.key(KeyFlag.Even);
    const odd = this.keys.key(KeyFlag.Odd);
    const material = flags === KeyFlag.Both ? Buffer.concat([even!, odd!]) : flags === KeyFlag.Even ? even! : odd!;
    this.announce = buildKm(this.cfg.passphrase, this.keys.salt, this.keys.keyLen, this.keys.cipher, flags, material);
    this.announceTries = 0;
    this.announceAt = -Infinity;
  }

  /**
   * The in-band KMREQ to (re)send now, if any: repeated every 1.5 × SRTT (at least 10 ms)
   * until the peer echoes it, at most 10 times.
   */
  pollKmReq(now: number, srtt: number): Buffer | null {
    if (!this.announce || this.announceTries >= KM_RETRIES) return null;
    if (now - this.announceAt < Math.max(1.5 * srtt, 10_000)) return null;
    this.announceAt = now;
    this.announceTries++;
    return this.announce;
  }

  nextKmDeadline(srtt: number): number {
    if (!this.announce || this.announceTries >= KM_RETRIES) return Infinity;
    return this.announceAt + Math.max(1.5 * srtt, 10_000);
  }

  /** In-band KMRSP from the peer. */
  onKmRsp(raw: Buffer): void {
    if (!this.announce) return;
    if (raw.equals(this.announce)) {
      this.announce = null;
      this.state = KmState.Secured;
    } else if (raw.length === 4) {
      this.state = raw.readUInt32LE(0);
      this.announce = null;
    }
  }
}

/** The receiving direction: decrypts and installs keys the peer announces. */
export class RxKeying {
  keys: KeySet | null;
  state: number;
  /** In-band KM messages from the peer that were installed (key refreshes). */
  updates = 0;
  constructor(private readonly passphrase: string, keys: KeySet | null, state: number) {
    this.keys = keys;
    this.state = state;
  }

  /** AES-CTR: the key for a parity (decryption is deferred to delivery and batched); null for GCM or no key. */
  ctrKey(kk: number): CtrKey | null {
    return this.keys && this.keys.cipher === KmCipher.Ctr ? this.keys.ctrKey(kk) : null;
  }

  get isCtr(): boolean {
    return this.keys !== null && this.keys.cipher === KmCipher.Ctr;
  }

  /** Plaintext, or null if the packet cannot be decrypted (unknown key, failed tag). */
  open(kk: number, seq: number, datagram: Buffer | undefined, payload: Buffer): Buffer | null {
    const k = this.keys;
    if (!k || !k.hasKey(kk)) return null;
    if (k.cipher === KmCipher.Gcm) {
      if (!datagram) return null;
      const aad = Buffer.from(datagram.subarray(0, 16));
      aad[4] = aad[4]! & ~0x04; // R flag is not authenticated (it changes on retransmission)
      return k.gcmOpen(kk, seq, aad, payload);
    }
    return k.ctr(kk, seq, payload);
  }

  /** In-band KMREQ: install the keys and return the KMRSP contents (echo, or a state word). */
  onKmReq(raw: Buffer): Buffer {
    const r = openKm(this.passphrase, raw);
    if (!r.ok) {
      this.state = r.state;
      return encodeKmState(r.state);
    }
    const { km, keys } = r;
    if (!this.keys || !this.keys.salt.equals(km.salt) || this.keys.keyLen !== km.keyLen || this.keys.cipher !== km.cipher) {
      this.keys = new KeySet(km.salt, km.keyLen, km.cipher);
    }
    if (km.keyFlags === KeyFlag.Both) {
      this.keys.setKey(KeyFlag.Even, keys[0]!);
      this.keys.setKey(KeyFlag.Odd, keys[1]!);
    } else {
      this.keys.setKey(km.keyFlags, keys[0]!);
    }
    this.state = KmState.Secured;
    this.updates++;
    return raw;
  }
}

/** Fresh keys for a connection we initiate (caller): salt + even SEK, and the KM announcing them. */
export function newKeys(cfg: KeyingConfig): { keys: KeySet; km: Buffer } {
  const salt = cfg.random(16);
  const sek = cfg.random(cfg.keyLen);
  const keys = new KeySet(salt, cfg.keyLen, cfg.cipher);
  keys.setKey(KeyFlag.Even, sek);
  return { keys, km: buildKm(cfg.passphrase, salt, cfg.keyLen, cfg.cipher, KeyFlag.Even, sek) };
}

/** Keys from a KM message we accepted (listener side); the same keys serve both directions. */
export function keysFromKm(km: { salt: Buffer; keyLen: number; cipher: number; keyFlags: number }, material: Buffer[]): KeySet {
  const k = new KeySet(km.salt, km.keyLen, km.cipher);
  if (km.keyFlags === KeyFlag.Both) {
    k.setKey(KeyFlag.Even, material[0]!);
    k.setKey(KeyFlag.Odd, material[1]!);
  } else {
    k.setKey(km.keyFlags, material[0]!);
  }
  return k;
}

/** Copies a key set (the responder clones its receive keys for sending, libsrt's "reverse KMX"). */
export function cloneKeys(k: KeySet): KeySet {
  const c = new KeySet(k.salt, k.keyLen, k.cipher);
  c.setKey(KeyFlag.Even, k.key(KeyFlag.Even));
  c.setKey(KeyFlag.Odd, k.key(KeyFlag.Odd));
  return c;
}
