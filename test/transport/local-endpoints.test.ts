// Local endpoints of a Server: an in-process publisher feeds SRT players; an in-process player
// reads an SRT publisher; conflicts, slow local readers, statistics and events.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Server } from '../../src/server/server.js';
import { dial } from '../../src/transport/api.js';
import { SrtRejectedError } from '../../src/transport/errors.js';
import { SRT_REJX } from '../../src/protocol/reject.js';
import { diffMessages, freePort, makeMessages, sleep, until } from '../support/peers.js';
import { fileTimeout } from '../support/file-timeout.js';

fileTimeout();

test('a local publisher feeds SRT players; a local player reads an SRT publisher', async () => {
  const port = await freePort();
  const srv = new Server({ name: 'local', port });
  await srv.start();
  const events: string[] = [];
  srv.on('accepted', (c) => events.push(`accepted ${c.role} ${c.peer}`));
  srv.on('closed', (c, r) => events.push(`closed ${c.role} ${c.peer} ${r}`));
  try {
    const pub = srv.publishLocal('live/in', 'route:1 pull');
    // the same typed rejection an SRT publisher of a taken stream gets (1409 conflict)
    assert.throws(() => srv.publishLocal('live/in', 'route:2 pull'), (e: unknown) =>
      e instanceof SrtRejectedError && e.reason === SRT_REJX.CONFLICT && e.message === 'stream "live/in" is already published');
    const player = await dial({ host: '127.0.0.1', port, streamid: 'live/in' });
    await until(() => srv.connections().length === 2);
    const got: Buffer[] = [];
    player.on('data', (m: Buffer) => got.push(m));
    const msgs = makeMessages(300);
    for (const m of msgs) { pub.write(m); await sleep(0); }
    await until(() => got.length === msgs.length, 5000);
    assert.equal(diffMessages(msgs, got), null);
    const st = srv.stats().find((s) => s.name === 'live/in')!;
    assert.equal(st.publisher!.peer, 'route:1 pull');
    assert.equal(st.publisher!.stats.pktRecvTotal, 300);

    // the other way: an SRT publisher, a local reader (a recorder, a push route)
    const reader = srv.playLocal('live/out', 'recorder:1');
    const read: Buffer[] = [];
    reader.on('data', (m: Buffer) => read.push(m));
    const spub = await dial({ host: '127.0.0.1', port, streamid: 'publish:live/out' });
    const out = makeMessages(200);
    for (const m of out) spub.write(m);
    await until(() => read.length === out.length, 5000);
    assert.equal(diffMessages(out, read), null);
    assert.equal(srv.stats().find((s) => s.name === 'live/out')!.players[0]!.stats.pktSentTotal, 200);

    // a local reader that never reads is dropped like a slow SRT player
    const small = new Server({ name: 'slow', port: await freePort(), playerQueue: 16 });
    await small.start();
    try {
      const stuck = small.playLocal('s', 'preview:stuck', { queue: 8 });
      const dropped: string[] = [];
      small.on('playerDropped', (c, reason) => dropped.push(`${c.peer}: ${reason}`));
      const feed = small.publishLocal('s', 'feed');
      for (let i = 0; i < 64; i++) feed.write(Buffer.alloc(188, 0x47));
      assert.equal(dropped.length, 1, 'dropped once');
      assert.match(dropped[0]!, /preview:stuck: queue over 16 messages/);
      assert.equal(stuck.destroyed, true);
    } finally {
      await small.close();
    }

    pub.close('route stopped');
    await until(() => events.some((e) => e === 'closed publisher route:1 pull route stopped'));
    assert.ok(events.includes('accepted publisher route:1 pull'), events.join('\n'));
    assert.ok(events.includes('closed publisher route:1 pull route stopped'), events.join('\n'));
    player.destroy();
    spub.destroy();
  } finally {
    await srv.close();
  }
});
