// The cold-start warm-up (src/gateway/warmup.ts): it really pushes datagrams through the UDP →
// SRT → UDP path, with and without encryption, and leaves no socket or timer behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { warmUp } from '../../src/gateway/warmup.js';
import { fileTimeout } from '../support/file-timeout.js';

fileTimeout();

const udpHandles = (): number => process.getActiveResourcesInfo().filter((r) => r === 'UDPWrap' || r === 'UDPWRAP').length;

for (const [name, srt] of [
  ['clear', {}],
  ['AES-128', { passphrase: 'warm-up-secret', pbkeylen: 16 }],
  ['FEC, complete matrix', { packetfilter: 'fec,cols:10,rows:5' }],
  // a string that leaves cols to the peer, as `sluice transmit` may be given: the warm-up completes it
  ['FEC, cols left to the peer', { packetfilter: 'fec,layout:even,arq:never' }],
] as const) {
  test(`warm-up (${name}): datagrams go through the whole path and every socket is closed`, async () => {
    const before = udpHandles();
    const r = await warmUp({ datagrams: 3000, rate: 20_000, srt });
    assert.equal(r.sent, 3000);
    assert.ok(r.received > 0 && r.received <= r.sent, `received ${r.received} of ${r.sent}`);
    assert.ok(r.delivered > 0 && r.delivered <= r.received, `delivered ${r.delivered} of ${r.received} received`);
    // closing is asynchronous in libuv: the handles leave within a few turns of the loop
    for (let i = 0; i < 50 && udpHandles() > before; i++) await new Promise((res) => setTimeout(res, 20));
    assert.equal(udpHandles(), before, `UDP sockets left open: ${process.getActiveResourcesInfo().join(', ')}`);
  });
}
