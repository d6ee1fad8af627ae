// HaiCrypt primitives against fixed vectors: PBKDF2 KEK, RFC 3394 wrap, CTR counter block, CTR and
// GCM against node:crypto's own modes, the KM codec, and a real libsrt KMREQ.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  buildKm, CtrKey, ctrBatch, ctrIv, decodeKm, decodeKmState, deriveKek, encodeKm, encodeKmState, gcmIv, KeyFlag, KeySet, KmCipher, KmState,
  openKm, unwrapKey, wrapKey,
} from '../../src/protocol/crypto.js';
import { ParseError } from '../../src/protocol/errors.js';
import { decodePacket, type ControlPacket } from '../../src/protocol/packet.js';
import { decodeHandshake, findExtension, HsExtType } from '../../src/protocol/handshake.js';
import { fileTimeout } from '../support/file-timeout.js';

fileTimeout();

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// First in this file on purpose: the CTR scratch buffer is per process and grows on first use,
// and the bug this guards against needed it still empty (a fresh receiver whose first encrypted
// data packet has an empty payload threw out of the datagram handler; found by `npm run soak` fuzz).
test('CTR: empty payloads (alone, first in a fresh process, or between others) are left alone', () => {
  const key = new CtrKey(Buffer.alloc(16, 7), Buffer.alloc(16, 9));
  const empty = { seq: 5, data: Buffer.alloc(0) };
  assert.doesNotThrow(() => ctrBatch([key], [empty]));
  const plain = Buffer.from('0123456789abcdef0123', 'utf8');
  const a = { seq: 6, data: Buffer.from(plain) };
  ctrBatch([key, key, key], [{ seq: 4, data: Buffer.alloc(0) }, a, { seq: 7, data: Buffer.alloc(0) }]);
  const b = { seq: 6, data: Buffer.from(plain) };
  ctrBatch([key], [b]);
  assert.deepEqual(a.data, b.data, 'the same ciphertext as without the empty neighbours');
  assert.notDeepEqual(a.data, plain);
});

test('KEK = PBKDF2-HMAC-SHA1(passphrase, last 8 salt bytes, 2048): vectors computed with Python hashlib', () => {
  const salt = Buffer.alloc(16);
  for (let i = 0; i < 16; i++) salt[i] = i;
  assert.equal(deriveKek('0123456789abc', salt, 16).toString('hex'), 'f77ad81d7bab455e514fa4b1338999c2');
  const salt2 = Buffer.concat([Buffer.alloc(8, 0xee), hex('0011223344556677')]);
  assert.equal(deriveKek('correct horse battery staple', salt2, 32).toString('hex'), 'aaf81a64ba71723fc7c851d204421a5e632f626268f836be7a97b843e9d7ba3d');
});

test('RFC 3394 key wrap: §4.1 (128-bit KEK, 128-bit key) and §4.6 (256-bit KEK, 256-bit key)', () => {
  const w1 = wrapKey(hex('000102030405060708090A0B0C0D0E0F'), hex('00112233445566778899AABBCCDDEEFF'));
  assert.equal(w1.toString('hex').toUpperCase(), '1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5');
  const kek = hex('000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F');
  const key = hex('00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F');
  const w6 = wrapKey(kek, key);
  assert.equal(w6.toString('hex').toUpperCase(), '28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21');
  assert.deepEqual(unwrapKey(kek, w6), key);
  const tampered = Buffer.from(w6);
  tampered[3] = tampered[3]! ^ 1;
  assert.equal(unwrapKey(kek, tampered), null, 'integrity check fails');
  assert.equal(unwrapKey(hex('00'.repeat(32)), w6), null, 'wrong KEK fails');
});

test('CTR initial counter block: seq at bytes 10..13, XOR salt[0..13], block counter bytes 14..15 zero', () => {
  const salt = hex('0102030405060708090a0b0c0d0e0f10');
  const iv = ctrIv(salt, 0x12345678);
  assert.equal(iv.toString('hex'), '0102030405060708090a' + (0x12345678 ^ 0x0b0c0d0e).toString(16).padStart(8, '0') + '0000');
  assert.equal(ctrIv(Buffer.alloc(16), 7).toString('hex'), '00000000000000000000000000070000');
});

test('GCM IV: seq at bytes 8..11, XOR salt[0..11]', () => {
  const salt = hex('ffeeddccbbaa99887766554433221100');
  assert.equal(gcmIv(salt, 1).toString('hex'), 'ffeeddccbbaa998877665545');
});

for (const keyLen of [16, 24, 32]) {
  test(`KeySet CTR (AES-${keyLen * 8}) equals node:crypto aes-ctr with the SRT counter block, both keys`, () => {
    const salt = randomBytes(16);
    const ks = new KeySet(salt, keyLen, KmCipher.Ctr);
    const even = randomBytes(keyLen), odd = randomBytes(keyLen);
    ks.setKey(KeyFlag.Even, even);
    ks.setKey(KeyFlag.Odd, odd);
    for (const [kk, key] of [[KeyFlag.Even, even], [KeyFlag.Odd, odd]] as const) {
      for (const len of [1, 15, 16, 17, 188, 1316, 1456]) {
        const seq = (len * 7919) & 0x7fffffff;
        const plain = randomBytes(len);
        const ref = createCipheriv(`aes-${keyLen * 8}-ctr`, key, ctrIv(salt, seq)).update(plain);
        const got = ks.ctr(kk, seq, plain);
        assert.deepEqual(got, ref, `len ${len}`);
        assert.deepEqual(ks.ctr(kk, seq, got), plain, 'CTR is its own inverse');
      }
    }
  });
}

test('KeySet GCM: ciphertext + 16-byte tag, header authenticated, tampering detected', () => {
  const salt = randomBytes(16), key = randomBytes(32);
  const ks = new KeySet(salt, 32, KmCipher.Gcm);
  ks.setKey(KeyFlag.Odd, key);
  const header = randomBytes(16);
  const plain = randomBytes(1316);
  const sealed = ks.gcmSeal(KeyFlag.Odd, 99, header, plain);
  assert.equal(sealed.length, 1316 + 16);
  // independent reference: node's aes-256-gcm with the SRT IV and AAD
  const c = createCipheriv('aes-256-gcm', key, gcmIv(salt, 99));
  c.setAAD(header);
  const ref = Buffer.concat([c.update(plain), c.final(), c.getAuthTag()]);
  assert.deepEqual(sealed, ref);
  assert.deepEqual(ks.gcmOpen(KeyFlag.Odd, 99, header, sealed), plain);
  const badHeader = Buffer.from(header);
  badHeader[0] = badHeader[0]! ^ 0x80;
  assert.equal(ks.gcmOpen(KeyFlag.Odd, 99, badHeader, sealed), null, 'header is authenticated');
  const badBody = Buffer.from(sealed);
  badBody[10] = badBody[10]! ^ 1;
  assert.equal(ks.gcmOpen(KeyFlag.Odd, 99, header, badBody), null, 'payload is authenticated');
  assert.equal(ks.gcmOpen(KeyFlag.Odd, 100, header, sealed), null, 'sequence number is bound through the IV');
  const d = createDecipheriv('aes-256-gcm', key, gcmIv(salt, 99));
  d.setAAD(header);
  d.setAuthTag(sealed.subarray(1316));
  assert.deepEqual(Buffer.concat([d.update(sealed.subarray(0, 1316)), d.final()]), plain);
});

test('KM message codec: layout as libsrt (0x12, 0x2029, KK, cipher, SE, lengths) and round trip', () => {
  const salt = Buffer.alloc(16, 0xab);
  const km = buildKm('0123456789abc', salt, 16, KmCipher.Ctr, KeyFlag.Even, Buffer.alloc(16, 1));
  assert.equal(km.length, 56, 'AES-128, one key: 56 bytes');
  assert.equal(km.subarray(0, 16).toString('hex'), '12202901000000000200020000000404');
  const both = buildKm('0123456789abc', salt, 24, KmCipher.Ctr, KeyFlag.Both, Buffer.alloc(48, 2));
  assert.equal(both.length, 16 + 16 + 8 + 48);
  const d = decodeKm(both);
  assert.equal(d.keyFlags, KeyFlag.Both);
  assert.equal(d.keyLen, 24);
  assert.deepEqual(encodeKm(d), both);
  const gcm = decodeKm(buildKm('0123456789abc', salt, 32, KmCipher.Gcm, KeyFlag.Odd, Buffer.alloc(32, 3)));
  assert.equal(gcm.cipher, 4);
  assert.equal(gcm.auth, 1);
  const r = openKm('0123456789abc', both);
  assert.ok(r.ok);
  assert.deepEqual(r.ok && r.keys, [Buffer.alloc(24, 2), Buffer.alloc(24, 2)]);
  assert.deepEqual(openKm('wrong passphrase', both), { ok: false, state: KmState.BadSecret });
  assert.deepEqual(openKm('', both), { ok: false, state: KmState.NoSecret });
  assert.throws(() => decodeKm(Buffer.alloc(10)), ParseError);
  assert.throws(() => decodeKm(Buffer.from(km).fill(0, 0, 1)), ParseError);
});

test('KMRSP failure word is little-endian (x86 libsrt)', () => {
  assert.equal(encodeKmState(KmState.NoSecret).toString('hex'), '03000000');
  assert.equal(decodeKmState(Buffer.from('04000000', 'hex')), KmState.BadSecret);
});

test('a real libsrt 1.5.1 KMREQ (AES-192) unwraps with its passphrase, and the listener echoes it as KMRSP', () => {
  const fx = JSON.parse(readFileSync(new URL('../../../test/fixtures/libsrt-1.5.1-handshakes.json', import.meta.url), 'utf8')) as Record<string, Record<string, string>>;
  const e = fx['encrypted_aes192']!;
  const req = decodeHandshake((decodePacket(hex(e['conclusion_request']!)) as ControlPacket).cif);
  assert.equal(req.encryption, 3, 'pbkeylen 24 advertised as 3');
  const kmreq = findExtension(req, HsExtType.KmReq)!;
  const r = openKm(e['passphrase']!, kmreq.data);
  assert.ok(r.ok, 'unwrapped');
  assert.equal(r.ok && r.km.keyLen, 24);
  assert.equal(r.ok && r.km.keyFlags, KeyFlag.Even);
  assert.equal(r.ok && r.keys[0]!.length, 24);
  assert.deepEqual(openKm('0123456789abX', kmreq.data), { ok: false, state: KmState.BadSecret });
  const rsp = decodeHandshake((decodePacket(hex(e['conclusion_response']!)) as ControlPacket).cif);
  assert.deepEqual(findExtension(rsp, HsExtType.KmRsp)!.data, kmreq.data, 'KMRSP = byte-identical echo');
  assert.equal(rsp.encryption, 0);
  assert.equal(rsp.extension, 3, 'HSREQ|KMREQ flags');
});
