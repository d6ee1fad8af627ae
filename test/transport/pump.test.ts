// The direct paths into an SRT connection: a byte stream cut into messages (pumpMessages, used by
// `sluice transmit file://… srt://…`) and SrtSocket.sendMessage.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { dial, listen } from '../../src/transport/api.js';
import { pumpMessages } from '../../src/gateway/chunker.js';
import { nextEvent, waitFor, within } from '../support/wait.js';
import { fileTimeout } from '../support/file-timeout.js';

fileTimeout();

test('a byte stream larger than the send buffer is cut into messages and arrives whole, the source waiting while the buffer is full', async (t) => {
  const srv = await listen({ host: '127.0.0.1', port: 0, latency: 1000 });
  t.after(() => srv.close());
  const got: Buffer[] = [];
  let ended = false;
  srv.on('connection', (s) => {
    s.on('data', (d: Buffer) => got.push(d));
    s.on('end', () => { ended = true; });
  });
  // the smallest send buffer libsrt allows (32 packets): 2,000 messages must wait for ACKs many times
  const c = await dial({ host: '127.0.0.1', port: srv.address().port, latency: 1000, sndbuf: 32 * 1472 });
  t.after(() => c.destroy());
  const data = randomBytes(1316 * 2000 + 500); // the last message is short
  // chunks that do not line up with messages
  const chunks: Buffer[] = [];
  for (let o = 0; o < data.length; o += 10_007) chunks.push(data.subarray(o, Math.min(data.length, o + 10_007)));
  let waits = 0;
  c.on('sendable', () => waits++);
  const errors: Error[] = [];
  const finished = new Promise((r) => c.once('finish', r));
  pumpMessages(Readable.from(chunks), 1316, c, (e) => errors.push(e));
  await within(finished, { what: 'the pump ends the socket after the last message', timeoutMs: 60_000, detail: () => `errors: ${errors.join('; ')}` });
  await waitFor(() => ended, { what: 'the receiver sees the end of the stream', timeoutMs: 30_000, detail: () => `${got.length} messages received` });
  assert.deepEqual(errors, []);
  assert.ok(waits > 10, `the source waited for room ${waits} times`);
  assert.equal(got.length, 2001);
  assert.ok(got.slice(0, 2000).every((m) => m.length === 1316));
  assert.equal(got[2000]!.length, 500);
  assert.ok(Buffer.concat(got).equals(data), 'byte-exact');
});

test('sendMessage returns false on a full buffer and throws once the connection is closed', async (t) => {
  const srv = await listen({ host: '127.0.0.1', port: 0 });
  t.after(() => srv.close());
  srv.on('connection', (s) => s.resume());
  const c = await dial({ host: '127.0.0.1', port: srv.address().port, sndbuf: 32 * 1472 });
  t.after(() => c.destroy());
  const msg = Buffer.alloc(1316, 7);
  let accepted = 0;
  while (c.sendMessage(msg)) accepted++; // synchronous: no ACK can arrive in between
  assert.ok(accepted >= 30 && accepted <= 40, `${accepted} messages fit in a 32-packet buffer`);
  await nextEvent(c, 'sendable', { what: 'ACKs make room in the send buffer ("sendable")' });
  assert.equal(c.sendMessage(msg), true);
  assert.throws(() => c.sendMessage(Buffer.alloc(2000)), RangeError);
  c.destroy();
  await waitFor(() => c.destroyed, { what: 'the socket is destroyed' });
  assert.throws(() => c.sendMessage(msg), /closed/);
});
