// Sluice ↔ Sluice rendezvous on loopback through the real driver (mux.ts): both directions,
// encrypted, URL form, abort, timeout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { dial, rendezvous } from '../../src/transport/api.js';
import { SrtRejectedError } from '../../src/transport/errors.js';
import { SRT_REJ } from '../../src/protocol/reject.js';
import { KmState } from '../../src/protocol/crypto.js';
import { diffMessages, freePort, makeMessages, sleep, until } from '../support/peers.js';
import { waitFor } from '../support/wait.js';
import { fileTimeout } from '../support/file-timeout.js';

fileTimeout();

test('two Sluice peers meet in rendezvous (AES-256), data both ways byte-exact; one of them started 400 ms later', async (t) => {
  const pa = await freePort(), pb = await freePort();
  const enc = { passphrase: 'loopback rendezvous', pbkeylen: 32 as const, latency: 150 };
  // either side may connect while the other fails: each socket is destroyed whatever happens
  const a = rendezvous({ host: '127.0.0.1', port: pb, localPort: pa, ...enc });
  a.then((s) => t.after(() => s.destroy()), () => undefined);
  await sleep(400);
  const b = rendezvous(`srt://127.0.0.1:${pa}?mode=rendezvous&port=${pb}&passphrase=loopback rendezvous&pbkeylen=32&latency=150`);
  b.then((s) => t.after(() => s.destroy()), () => undefined);
  const [sa, sb] = await Promise.all([a, b]);
  try {
    assert.deepEqual([sa.remotePort, sb.remotePort], [pb, pa]);
    const gotA: Buffer[] = [], gotB: Buffer[] = [];
    sa.on('data', (d: Buffer) => gotA.push(d));
    sb.on('data', (d: Buffer) => gotB.push(d));
    const msgs = makeMessages(1000);
    for (let i = 0; i < msgs.length; i++) {
      sa.write(msgs[i]!);
      sb.write(msgs[i]!);
      if (i % 10 === 9) await sleep(10);
    }
    await until(() => gotA.length >= msgs.length && gotB.length >= msgs.length, 5000);
    assert.equal(diffMessages(msgs, gotB), null, 'a → b');
    assert.equal(diffMessages(msgs, gotA), null, 'b → a');
    for (const s of [sa, sb]) {
      const st = s.stats();
      assert.deepEqual([st.pktSndKMState, st.pktRcvKMState, st.msRcvTsbPdDelay, st.msSndTsbPdDelay], [KmState.Secured, KmState.Secured, 150, 150]);
    }
  } finally {
    sa.destroy();
    sb.destroy();
  }
});

test('no peer: WAVEAHANDs to the peer address, then SRT_REJ_TIMEOUT; an abort releases the port at once', async (t) => {
  // The timing itself (WAVEAHAND every 250 ms, TIMEOUT after 10 × conntimeo) is asserted in virtual
  // time in test/sim/rendezvous.test.ts; here the real driver must give up with the right reason and
  // must have been waving at the peer's address meanwhile.
  const pa = await freePort(), pb = await freePort();
  const peer = dgram.createSocket('udp4'); // stands at the peer's address and never answers
  t.after(() => peer.close());
  const waves: Buffer[] = [];
  peer.on('message', (m, from) => { if (from.port === pa) waves.push(m); });
  await new Promise<void>((resolve, reject) => { peer.once('error', reject); peer.bind(pb, '127.0.0.1', () => resolve()); });
  await assert.rejects(rendezvous({ host: '127.0.0.1', port: pb, localPort: pa, conntimeo: 100 }), (e: unknown) => e instanceof SrtRejectedError && e.reason === SRT_REJ.TIMEOUT);
  assert.ok(waves.length >= 1, 'the peer address was waved at');
  for (const w of waves) {
    // a control packet (F bit), type 0 = HANDSHAKE, to socket id 0 (the peer is unknown), 64 bytes (no extensions)
    assert.deepEqual([w[0]! & 0x80, w.readUInt16BE(0) & 0x7fff, w.readUInt32BE(12), w.length], [0x80, 0, 0, 64], 'a WAVEAHAND');
  }
  peer.removeAllListeners('message');

  const ac = new AbortController();
  let tries = 0;
  peer.on('message', (_m, from) => { if (from.port === pa) tries++; });
  const pending = dial({ host: '127.0.0.1', port: pb, localPort: pa, mode: 'rendezvous', signal: ac.signal });
  await waitFor(() => tries > 0, { what: 'the second attempt starts waving' }); // the attempt is under way
  ac.abort();
  await assert.rejects(pending, (e: unknown) => e instanceof SrtRejectedError && e.reason === SRT_REJ.CLOSE);
  const s = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => { s.once('error', reject); s.bind(pa, '0.0.0.0', () => resolve()); });
  s.close();
});
