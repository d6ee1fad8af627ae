// RX to a multicast group (with TTL) and TX from a multicast group, in a private network
// namespace whose loopback carries multicast (needs root, unshare, ip and tshark).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { requireTool, spawnPeer } from '../support/peers.js';
import { fileTimeout } from '../support/file-timeout.js';

fileTimeout();

const SCENARIO = fileURLToPath(new URL('../support/multicast-scenario.js', import.meta.url));

test('multicast: RX gateway → 239.1.2.3 with TTL 4 (seen on the wire), 239.1.2.4 → TX gateway; byte-exact both ways', async (t) => {
  for (const tool of ['unshare', 'ip', 'tshark']) requireTool(tool);
  assert.equal(process.getuid?.(), 0, 'network namespaces need root');
  const setup = 'ip link set lo up && ip link set lo multicast on && ip route add 224.0.0.0/4 dev lo';
  const p = spawnPeer('unshare', ['-n', 'sh', '-c', `${setup} && SLUICE_MULTICAST_SCENARIO=1 exec "${process.execPath}" "${SCENARIO}"`]);
  t.after(() => p.kill());
  const code = await p.exited;
  assert.equal(code, 0, p.output());
  const line = p.output().split('\n').find((l) => l.startsWith('{"rx"'));
  assert.ok(line, p.output());
  const r = JSON.parse(line) as { rx: { status: string; diff: string | null; ttls: number[] }; tx: { status: string; diff: string | null } };
  assert.equal(r.rx.status, 'running');
  assert.equal(r.rx.diff, null, 'every message arrived in the group, in order');
  assert.ok(r.rx.ttls.length > 0, 'datagrams to the group were captured');
  assert.deepEqual([...new Set(r.rx.ttls)], [4], 'TTL applies to the multicast output');
  assert.equal(r.tx.status, 'running');
  assert.equal(r.tx.diff, null, 'everything sent to the group reached the SRT peer');
});
