// Encryption under loss: retransmitted packets keep their ciphertext and key and decrypt, across
// several key refreshes, with AES-CTR (each key length) and AES-GCM.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { SrtOptions } from '../../src/protocol/options.js';
import { KmState } from '../../src/protocol/crypto.js';
import { missingIndices, orderViolation, simulatePair } from '../support/simulator.js';
import { fileTimeout } from '../support/file-timeout.js';

fileTimeout();

const MESSAGES = 3000;
const TAIL = 300;

function run(seed: number, sec: Partial<SrtOptions>, loss: number) {
  const link = { loss, delayUs: 10_000, jitterUs: 0, duplicate: 0 };
  return simulatePair({
    seed,
    messages: MESSAGES,
    tail: TAIL,
    rate: 1500,
    warmupUs: 500_000,
    forward: link,
    backward: { ...link },
    caller: { latency: 200, passphrase: 'sim passphrase 1', ...sec },
    listener: { passphrase: 'sim passphrase 1', cryptomode: sec.cryptomode ?? 0 },
  });
}

for (const [label, sec] of [
  ['AES-128 CTR', { pbkeylen: 16 }],
  ['AES-192 CTR', { pbkeylen: 24 }],
  ['AES-256 CTR', { pbkeylen: 32 }],
  ['AES-128 GCM', { pbkeylen: 16, cryptomode: 2 }],
  ['AES-256 GCM', { pbkeylen: 32, cryptomode: 2 }],
] as [string, Partial<SrtOptions>][]) {
  test(`${label}: 5 % loss each way, key refresh every 500 packets: every packet decrypts, in order`, () => {
    for (const seed of [11, 12, 13]) {
      const pair = run(seed, { ...sec, kmrefreshrate: 500, kmpreannounce: 100 }, 0.05);
      const m = `seed=${seed} ${label}`;
      const rx = pair.listener;
      const idx = rx.deliveredIndices();
      assert.equal(orderViolation(idx), null, m);
      assert.ok(!idx.includes(-1), `a corrupted (wrongly decrypted) payload was delivered, ${m}`);
      assert.deepEqual(missingIndices(rx, MESSAGES + TAIL), [], m);
      const rs = rx.conn!.stats(pair.sim.now);
      const ss = pair.caller.conn!.stats(pair.sim.now);
      assert.equal(rs.pktRcvUndecryptTotal, 0, m);
      assert.ok(ss.pktRetransTotal > 0 && rs.pktRcvRetransTotal > 0, `retransmissions happened, ${m}`);
      assert.ok(pair.caller.conn!.tx!.refreshes >= 5, `several key switches (${pair.caller.conn!.tx!.refreshes}), ${m}`);
      assert.equal(rs.pktRcvKMState, KmState.Secured, m);
      assert.equal(ss.pktSndKMState, KmState.Secured, m);
    }
  });
}

test('listener → caller direction is encrypted with the cloned keys and refreshes on its own', () => {
  const link = { loss: 0.02, delayUs: 10_000, jitterUs: 0, duplicate: 0 };
  const pair = simulatePair({
    seed: 21, messages: 2000, tail: 200, rate: 1500, warmupUs: 500_000, sender: 'listener',
    forward: link, backward: { ...link },
    caller: { latency: 200, passphrase: 'sim passphrase 2' },
    listener: { passphrase: 'sim passphrase 2', kmrefreshrate: 300, kmpreannounce: 50 },
  });
  const rx = pair.caller;
  assert.equal(orderViolation(rx.deliveredIndices()), null);
  assert.deepEqual(missingIndices(rx, 2200), []);
  assert.equal(rx.conn!.stats(pair.sim.now).pktRcvUndecryptTotal, 0);
  assert.ok(pair.listener.conn!.tx!.refreshes >= 5);
});
