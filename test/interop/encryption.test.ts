// Encryption against libsrt 1.5.1 (srt-live-transmit) and ffmpeg: each key length, several key
// switches in one run, wrong and missing passphrases rejected with libsrt's reasons.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dial, listen } from '../../src/transport/api.js';
import type { SrtSocket } from '../../src/transport/socket.js';
import { SRT_REJ } from '../../src/protocol/reject.js';
import { KmState } from '../../src/protocol/crypto.js';
import { diffMessages, freePort, makeMessages, requireTool, sleep, sltConnected, spawnPeer, testMedia, udpCollect, udpDrops, udpSendPaced, waitForOutput, waitForUdpPort } from '../support/peers.js';
import { nextEvent, waitFor } from '../support/wait.js';
import { fileTimeout } from '../support/file-timeout.js';

fileTimeout();

requireTool('srt-live-transmit');
const PASS = 'sluice-interop-secret';

for (const pbkeylen of [16, 24, 32] as const) {
  test(`srt-live-transmit → Sluice, AES-${pbkeylen * 8}, key refresh every 1000 packets, byte-exact`, async () => {
    const srtPort = await freePort();
    const udpIn = await freePort();
    const srv = await listen({ host: '127.0.0.1', port: srtPort, passphrase: PASS });
    const got: Buffer[] = [];
    const conn = nextEvent<[SrtSocket]>(srv, 'connection', { what: 'srt-live-transmit connects' });
    const slt = spawnPeer('srt-live-transmit', ['-v', `udp://127.0.0.1:${udpIn}`,
      `srt://127.0.0.1:${srtPort}?mode=caller&passphrase=${PASS}&pbkeylen=${pbkeylen}&kmrefreshrate=1000&kmpreannounce=200`]);
    try {
      const [s] = await conn;
      s.on('data', (d: Buffer) => got.push(d));
      await sltConnected(slt); // it discards its UDP input until then
      const drops = udpDrops(udpIn);
      const msgs = makeMessages(3500);
      await udpSendPaced(udpIn, msgs, 1000);
      await waitFor(() => got.length >= msgs.length, { what: 'every message', timeoutMs: 10_000 }).catch(() => {}); // the assertion says what is missing
      const st = s.stats();
      assert.equal(diffMessages(msgs, got), null, `undecrypt ${st.pktRcvUndecryptTotal}, received ${st.pktRecvTotal}, lost ${st.pktRcvLossTotal}, dropped ${st.pktRcvDropTotal}, retransmitted ${st.pktRcvRetransTotal}; `
        + `the kernel dropped ${udpDrops(udpIn) - drops} datagrams at srt-live-transmit's UDP input (packets it never read — its input overflowing under load — show as received < messages with no loss)`);
      assert.equal(st.pktRcvUndecryptTotal, 0);
      assert.equal(st.pktRcvKMState, KmState.Secured);
      assert.ok(st.kmRcvUpdates! >= 2, `libsrt announced new keys in-band (${st.kmRcvUpdates} updates)`);
    } finally {
      await slt.kill();
      await srv.close();
    }
  });

  test(`Sluice → srt-live-transmit, AES-${pbkeylen * 8}, key refresh every 500 packets, byte-exact`, async () => {
    const srtPort = await freePort();
    const out = await udpCollect();
    const slt = spawnPeer('srt-live-transmit', ['-q', `srt://127.0.0.1:${srtPort}?mode=listener&passphrase=${PASS}`, `udp://127.0.0.1:${out.port}`]);
    try {
      await waitForUdpPort(srtPort, 'the srt-live-transmit listener', slt);
      const s = await dial({ host: '127.0.0.1', port: srtPort, passphrase: PASS, pbkeylen, kmrefreshrate: 500, kmpreannounce: 100 });
      const msgs = makeMessages(3000);
      const start = performance.now();
      for (let i = 0; i < msgs.length; i++) {
        const wait = start + i - performance.now();
        if (wait > 1) await sleep(wait);
        s.write(msgs[i]!);
      }
      await out.waitFor(msgs.length, 5000);
      assert.equal(diffMessages(msgs, out.messages), null);
      const st = s.stats();
      assert.ok(st.kmSndRefreshes! >= 5, `several key switches (${st.kmSndRefreshes})`);
      assert.equal(st.pktSndKMState, KmState.Secured, 'libsrt acknowledged every KM');
      s.destroy();
    } finally {
      await slt.kill();
      out.close();
    }
  });
}

test('a Sluice caller without pbkeylen takes the key length an srt-live-transmit listener set (AES-256)', async () => {
  const srtPort = await freePort();
  const out = await udpCollect();
  const slt = spawnPeer('srt-live-transmit', ['-q', `srt://127.0.0.1:${srtPort}?mode=listener&passphrase=${PASS}&pbkeylen=32`, `udp://127.0.0.1:${out.port}`]);
  try {
    await waitForUdpPort(srtPort, 'the srt-live-transmit listener', slt);
    const s = await dial({ host: '127.0.0.1', port: srtPort, passphrase: PASS });
    assert.equal(s.pbkeylen, 32, 'the listener\'s advertised key length is used');
    const msgs = makeMessages(300);
    for (const m of msgs) {
      s.write(m);
      await sleep(1);
    }
    await out.waitFor(msgs.length, 5000);
    assert.equal(diffMessages(msgs, out.messages), null);
    assert.equal(s.stats().pktSndKMState, KmState.Secured, 'libsrt unwrapped the 256-bit key');
    s.destroy();
  } finally {
    await slt.kill();
    out.close();
  }
});

test('ffmpeg publishes encrypted (AES-256) into a Sluice listener, byte-exact', async () => {
  requireTool('ffmpeg');
  const media = testMedia();
  const port = await freePort();
  const srv = await listen({ host: '127.0.0.1', port, passphrase: PASS });
  const chunks: Buffer[] = [];
  let sock: SrtSocket | null = null;
  srv.on('connection', (s) => { sock = s; s.on('data', (d: Buffer) => chunks.push(d)); });
  const ff = spawnPeer('ffmpeg', ['-loglevel', 'error', '-re', '-i', media, '-c', 'copy', '-f', 'mpegts',
    `srt://127.0.0.1:${port}?mode=caller&passphrase=${PASS}&pbkeylen=32&latency=200000&pkt_size=1316&linger=3`]);
  try {
    assert.equal(await ff.exited, 0, ff.output());
    const size = readFileSync(media).length;
    await waitFor(() => chunks.reduce((n, c) => n + c.length, 0) >= size, { what: 'the whole file delivered', detail: () => `${chunks.reduce((n, c) => n + c.length, 0)} of ${size} bytes` });
    assert.ok(Buffer.concat(chunks).equals(readFileSync(media)), 'same bytes');
    assert.equal(sock!.stats().pktRcvUndecryptTotal, 0);
  } finally {
    await ff.kill();
    await srv.close();
  }
});

async function sltAgainstSluice(callerPass: string | null): Promise<{ out: string; reasons: number[] }> {
  const srtPort = await freePort();
  const udpIn = await freePort();
  const reasons: number[] = [];
  const srv = await listen({ host: '127.0.0.1', port: srtPort, passphrase: PASS });
  srv.on('rejected', (_req, reason) => reasons.push(reason));
  let delivered = 0;
  srv.on('connection', (s) => s.on('data', () => delivered++));
  const q = callerPass ? `&passphrase=${callerPass}` : '';
  const slt = spawnPeer('srt-live-transmit', [`udp://127.0.0.1:${udpIn}`, `srt://127.0.0.1:${srtPort}?mode=caller${q}`]);
  try {
    await waitFor(() => reasons.length > 0, { what: 'Sluice rejects srt-live-transmit' });
    await waitForOutput(slt, /Incorrect passphrase|Password required or unexpected/, 'srt-live-transmit reports the rejection');
    assert.equal(srv.connectionCount, 0, 'nothing of a rejected caller is accepted');
    assert.equal(delivered, 0);
    return { out: slt.output(), reasons };
  } finally {
    await slt.kill();
    await srv.close();
  }
}

test('wrong passphrase: Sluice rejects with BADSECRET and srt-live-transmit shows "Incorrect passphrase"', async () => {
  const r = await sltAgainstSluice('not-the-right-one');
  assert.equal(r.reasons[0], SRT_REJ.BADSECRET);
  assert.match(r.out, /Incorrect passphrase/, r.out.slice(0, 2000));
});

test('missing passphrase: Sluice rejects with UNSECURE and srt-live-transmit shows "Password required or unexpected"', async () => {
  const r = await sltAgainstSluice(null);
  assert.equal(r.reasons[0], SRT_REJ.UNSECURE);
  assert.match(r.out, /Password required or unexpected/, r.out.slice(0, 2000));
});

test('Sluice caller with a wrong or missing passphrase gets libsrt\'s reasons from srt-live-transmit', async () => {
  const srtPort = await freePort();
  const sink = await freePort();
  const slt = spawnPeer('srt-live-transmit', ['-q', `srt://127.0.0.1:${srtPort}?mode=listener&passphrase=${PASS}`, `udp://127.0.0.1:${sink}`]);
  try {
    await waitForUdpPort(srtPort, 'the srt-live-transmit listener', slt);
    await assert.rejects(dial({ host: '127.0.0.1', port: srtPort, passphrase: 'another-secret-x' }), (e: Error & { reason?: number }) => e.reason === SRT_REJ.BADSECRET && /Incorrect passphrase/.test(e.message));
    await assert.rejects(dial({ host: '127.0.0.1', port: srtPort }), (e: Error & { reason?: number }) => e.reason === SRT_REJ.UNSECURE && /Password required or unexpected/.test(e.message));
  } finally {
    await slt.kill();
  }
});
