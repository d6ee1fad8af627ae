// Repeated rejections summarised per (peer address, stream id, reason), on mocked timers.
import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import { RejectionThrottle, rejectSummaryText, type RejectReport } from '../../src/server/throttle.js';
import type { RejectInfo } from '../../src/server/server.js';
import { fileTimeout } from '../support/file-timeout.js';

fileTimeout();

const rej = (peer: string, streamId = 'read:live/x', reason = 1404): RejectInfo => ({ peer, streamId, reason, message: `stream "${streamId}" is not published` });

test('the first rejection at once, repeats as one summary per interval, a quiet interval resets', () => {
  mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
  try {
    const out: RejectReport[] = [];
    const t = new RejectionThrottle((r) => out.push(r), 5000);
    // 1000 retries from new ports of one address, 4 ms apart: 4 s
    for (let i = 0; i < 1000; i++) {
      t.offer(rej(`10.0.0.7:${40000 + i}`));
      mock.timers.tick(4);
    }
    assert.equal(out.length, 1, 'only the first within the interval');
    assert.deepEqual({ ...out[0]!, info: out[0]!.info.peer }, { info: '10.0.0.7:40000', repeated: 0, seconds: 0, address: '10.0.0.7' });
    mock.timers.tick(1000); // the interval ends
    assert.equal(out.length, 2);
    assert.equal(out[1]!.repeated, 999);
    assert.equal(out[1]!.seconds, 5);
    assert.equal(out[1]!.info.peer, '10.0.0.7:40999', 'the summary names the latest attempt');
    assert.equal(rejectSummaryText(out[1]!), '999 more rejections (1404) of "read:live/x" from 10.0.0.7 in the last 5 s: stream "read:live/x" is not published');
    // still retrying: one summary per interval
    for (let i = 0; i < 3; i++) {
      t.offer(rej('10.0.0.7:50000'));
      mock.timers.tick(2000);
    }
    assert.equal(out.length, 3);
    assert.equal(out[2]!.repeated, 3);
    // a whole quiet interval: forgotten, the next rejection is reported at once
    mock.timers.tick(5000);
    assert.equal(out.length, 3, 'nothing to summarise');
    t.offer(rej('10.0.0.7:50001'));
    assert.equal(out.length, 4);
    assert.equal(out[3]!.repeated, 0);
    t.close();
  } finally {
    mock.timers.reset();
  }
});

test('addresses, stream ids and reasons are counted apart; close() reports what is pending; the key table is bounded', () => {
  mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 0 });
  try {
    const out: RejectReport[] = [];
    const t = new RejectionThrottle((r) => out.push(r), 5000, 3);
    t.offer(rej('10.0.0.1:1'));
    t.offer(rej('10.0.0.2:1'));
    t.offer(rej('10.0.0.1:2', 'read:live/y'));
    t.offer(rej('10.0.0.3:3', 'read:live/x', 1401)); // a fourth key: the table is full, it goes to the shared entry
    t.offer(rej('10.0.0.4:4', 'read:live/z', 1403)); // … and so does this one
    assert.deepEqual(out.map((r) => `${r.info.peer} ${r.info.streamId} ${r.info.reason}`), [
      '10.0.0.1:1 read:live/x 1404', '10.0.0.2:1 read:live/x 1404', '10.0.0.1:2 read:live/y 1404', '10.0.0.3:3 read:live/x 1401',
    ]);
    for (let i = 0; i < 7; i++) t.offer(rej('10.0.0.2:9'));
    mock.timers.tick(1500);
    t.close();
    assert.equal(out.length, 6);
    const sums = out.slice(4).sort((a, b) => a.repeated - b.repeated);
    assert.deepEqual(sums.map((r) => [r.info.peer, r.repeated, r.seconds, r.overflow ?? false]), [['10.0.0.4:4', 1, 1.5, true], ['10.0.0.2:9', 7, 1.5, false]]);
    assert.equal(rejectSummaryText(sums[0]!), '1 more rejection of various callers in the last 1.5 s (the latest: 10.0.0.4:4, 1403, "read:live/z")');
    mock.timers.tick(10_000);
    assert.equal(out.length, 6, 'closed: no timer left');
  } finally {
    mock.timers.reset();
  }
});
