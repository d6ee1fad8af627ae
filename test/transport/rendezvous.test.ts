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

test('two Sluice peers meet in rendezvous (AES-256), data both ways byte-exact; one of them started 400 ms later', async () => {
  const pa = await freePort(), pb = await freePort();
  const enc = { passphrase: 'loopback rendezvous', pbkeylen: 32 as const, latency: 150 };
  const a = rendezvous({ host: '127.0.0.1', port: pb, localPort: pa, ...enc });
  await sleep(400);
  const [sa, sb] = await Promise.all([a, rendezvous(`srt://127.0.0.1:${pa}?mode=rendezvous&port=${pb}&passphrase=loopback rendezvous&pbkeylen=32&latency=150`)]);
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

test('no peer: the attempt times out after 10 × conntimeo; an abort releases the port at once', async () => {
  const pa = await freePort(), pb = await freePort();
  const t0 = Date.now();
  await assert.rejects(rendezvous({ host: '127.0.0.1', port: pb, localPort: pa, conntimeo: 100 }), (e: unknown) => e instanceof SrtRejectedError && e.reason === SRT_REJ.TIMEOUT);
  const took = Date.now() - t0;
  assert.ok(took >= 950 && took < 1500, `timed out after ${took} ms (10 × 100 ms)`);

  const ac = new AbortController();
  const pending = dial({ host: '127.0.0.1', port: pb, localPort: pa, mode: 'rendezvous', signal: ac.signal });
  await sleep(100);
  ac.abort();
  await assert.rejects(pending, (e: unknown) => e instanceof SrtRejectedError && e.reason === SRT_REJ.CLOSE);
  const s = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => { s.once('error', reject); s.bind(pa, '0.0.0.0', () => resolve()); });
  s.close();
});
