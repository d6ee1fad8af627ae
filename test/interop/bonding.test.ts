// Connection groups (bonding, ADR 16) against libsrt 1.5.1 built with ENABLE_BONDING
// (.ci/libsrt-bonding.sh builds it from Debian's source package; Debian's srt-tools has no groups).
// srt-test-live is libsrt's application that dials groups in 1.5.1 (srt:////group?type=…&nodes=…)
// and takes them as a listener (groupconnect=1). Then Sluice ↔ Sluice over two real paths (two veth
// pairs into a network namespace), one of them cut with nftables during the stream.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import { dial, listen } from '../../src/transport/api.js';
import type { SrtSocket } from '../../src/transport/socket.js';
import { diffMessages, freePort, makeMessages, sleep, spawnPeer, udpCollect, udpSendPaced, until, type Peer } from '../support/peers.js';
import { createNetns, type Netns } from '../support/netns.js';
import { fileTimeout } from '../support/file-timeout.js';
import { GatewayManager } from '../../src/core/gateways.js';
import { groupMemberStats } from '../../src/core/gateway-config.js';
import { EventLog } from '../../src/core/events.js';
import { openSqlite } from '../../src/store/db.js';

fileTimeout();

/** srt-test-live of the bonding build (SLUICE_LIBSRT_BONDING_DIR, or the cache .ci/libsrt-bonding.sh fills: SLUICE_LIBSRT_CACHE or ~/.cache/sluice-libsrt-bonding). */
function srtTestLive(): string {
  const dirs = process.env['SLUICE_LIBSRT_BONDING_DIR']
    ? [process.env['SLUICE_LIBSRT_BONDING_DIR']]
    : (() => {
        const cache = process.env['SLUICE_LIBSRT_CACHE'] ?? join(homedir(), '.cache', 'sluice-libsrt-bonding');
        return existsSync(cache) ? readdirSync(cache).map((v) => join(cache, v)) : [];
      })();
  for (const d of dirs) if (existsSync(join(d, 'srt-test-live'))) return join(d, 'srt-test-live');
  throw new Error('libsrt with bonding is not built: run .ci/libsrt-bonding.sh (CI does, in .ci/run)');
}

const N = 1000;
const PPS = 400;

test('libsrt broadcast group (srt-test-live) → Sluice listener with groupconnect: both members, every message once, byte-exact', async (t) => {
  const port = await freePort();
  const udpIn = await freePort();
  const server = await listen({ port, groupconnect: true, latency: 200 });
  t.after(() => server.close());
  let group: SrtSocket | null = null;
  let members = 0;
  const got: Buffer[] = [];
  server.on('connection', (s) => {
    group = s;
    members++;
    s.setMessageSink((m) => got.push(Buffer.from(m)));
  });
  server.on('member', () => members++);
  const peer = spawnPeer(srtTestLive(), [`udp://:${udpIn}`, `srt:////group?type=broadcast&nodes=127.0.0.1:${port},127.0.0.1:${port}&latency=200`]);
  t.after(() => peer.kill());
  await until(() => members === 2, 10_000, 'both members of the libsrt group accepted', () => peer.output());
  const msgs = makeMessages(N);
  await udpSendPaced(udpIn, msgs, PPS);
  await until(() => got.length >= N, 10_000, `${N} messages`, () => `${got.length}`);
  await sleep(300); // a duplicate delivered late would show here
  assert.equal(diffMessages(msgs, got), null);
  const g = group!.groupStats()!;
  assert.equal(g.type, 'broadcast');
  assert.ok((g.peerId & 0x40000000) !== 0, 'the peer group id has bit 30');
  assert.equal(g.members.length, 2);
  assert.equal(g.pktRecvUnique, N);
  // both members carried every packet: one copy of each was dropped as a duplicate
  for (const m of g.members) assert.ok(m.stats.pktRecv >= N, `member ${m.socketId} received ${m.stats.pktRecv}`);
  assert.equal(g.pktRecvDuplicate, N);
});

test('libsrt main/backup group → Sluice: the higher weight carries the stream, the backup stays idle', async (t) => {
  const port = await freePort();
  const udpIn = await freePort();
  const server = await listen({ port, groupconnect: true, latency: 200 });
  t.after(() => server.close());
  let group: SrtSocket | null = null;
  let members = 0;
  const got: Buffer[] = [];
  server.on('connection', (s) => {
    group = s;
    members++;
    s.setMessageSink((m) => got.push(Buffer.from(m)));
  });
  server.on('member', () => members++);
  const peer = spawnPeer(srtTestLive(), [`udp://:${udpIn}`, `srt:////group?type=backup&nodes=127.0.0.1:${port}?weight=10,127.0.0.1:${port}?weight=5&latency=200`]);
  t.after(() => peer.kill());
  await until(() => members === 2, 10_000, 'both members accepted', () => peer.output());
  const msgs = makeMessages(N);
  await udpSendPaced(udpIn, msgs, PPS);
  await until(() => got.length >= N, 10_000, `${N} messages`, () => `${got.length}`);
  assert.equal(diffMessages(msgs, got), null);
  const g = group!.groupStats()!;
  assert.equal(g.type, 'backup');
  const main = g.members.find((m) => m.weight === 10)!;
  const backup = g.members.find((m) => m.weight === 5)!;
  assert.ok(main.stats.pktRecv >= N, `main received ${main.stats.pktRecv}`);
  assert.equal(backup.stats.pktRecv, 0, 'the idle backup carried no data');
});

for (const type of ['broadcast', 'backup'] as const) test(`Sluice ${type} group → libsrt listener with groupconnect (srt-test-live): every message once, in order, byte-exact`, async (t) => {
  const port = await freePort();
  const out = await udpCollect();
  t.after(() => out.close());
  const peer = spawnPeer(srtTestLive(), [`srt://:${port}?groupconnect=1&latency=200`, `udp://127.0.0.1:${out.port}`]);
  t.after(() => peer.kill());
  await sleep(300); // srt-test-live binds its listener (no output before a caller comes)
  let s: SrtSocket | null = null;
  await until(() => peer.proc.exitCode === null, 1000);
  for (let i = 0; i < 20 && !s; i++) {
    s = await dial(`srt://127.0.0.1:${port},127.0.0.1:${port}?grouptype=${type}&weight=10,5&latency=200`).catch(async () => { await sleep(100); return null; });
  }
  assert.ok(s, 'the group connected');
  const sock = s;
  t.after(() => sock.destroy());
  await until(() => sock.groupStats()!.members.filter((m) => m.state !== 'broken').length === 2, 5000, 'both members connected');
  const msgs = makeMessages(N);
  for (let i = 0; i < N; i++) {
    assert.equal(sock.sendMessage(msgs[i]!), true);
    await sleep(1000 / PPS);
  }
  await out.waitFor(N, 10_000);
  await sleep(300);
  assert.equal(diffMessages(msgs, out.messages), null);
  const g = sock.groupStats()!;
  assert.equal(g.pktSentUnique, N);
  if (type === 'broadcast') {
    for (const m of g.members) assert.ok(m.stats.pktSent >= N, `member ${m.socketId} sent ${m.stats.pktSent}`);
  } else {
    // the weight-10 member carried the stream, the other stayed idle
    const main = g.members.find((m) => m.weight === 10)!;
    const backup = g.members.find((m) => m.weight === 5)!;
    assert.deepEqual([main.state, backup.state], ['active', 'idle']);
    assert.ok(main.stats.pktSent >= N, `main sent ${main.stats.pktSent}`);
    assert.equal(backup.stats.pktSent, 0);
  }
});

// ---------------------------------------------------------------- two real paths, one cut

interface TwoPaths {
  ns: Netns;
  listener: Peer;
  port: number;
  collector: dgram.Socket;
  got: Buffer[];
}

/** A Sluice listener (sluice transmit, groupconnect) inside a namespace reached over two veth pairs; its UDP output comes back over path 1's addresses to us. */
async function twoPaths(t: { after(fn: () => unknown): void }): Promise<TwoPaths> {
  const ns = createNetns(2);
  t.after(() => ns.close());
  const collector = dgram.createSocket('udp4');
  const got: Buffer[] = [];
  collector.on('message', (m) => got.push(m));
  await new Promise<void>((r) => collector.bind(0, ns.paths[0]!.hostIp, () => r()));
  collector.setRecvBufferSize(4 * 1024 * 1024);
  t.after(() => collector.close());
  const port = 9000 + (process.pid % 500);
  const main = join(process.cwd(), 'dist', 'src', 'cli', 'main.js');
  const listener = ns.spawn(process.execPath, [main, 'transmit', '--stats', '500', `srt://:${port}?groupconnect=1&latency=400`, `udp://${ns.paths[0]!.hostIp}:${collector.address().port}`]);
  t.after(() => listener.kill());
  await until(() => /listening/.test(listener.output()), 10_000, 'sluice transmit listens in the namespace', () => listener.output());
  return { ns, listener, port, collector, got };
}

/** Drops the SRT traffic of one path inside the namespace (nftables: both directions on its device). */
function cutPath(ns: Netns, dev: string, port: number): void {
  const script = `table inet sluicecut {
  chain in { type filter hook input priority 0; iifname "${dev}" udp dport ${port} drop; }
  chain out { type filter hook output priority 0; oifname "${dev}" udp sport ${port} drop; }
}
`;
  const r = spawnSync('ip', ['netns', 'exec', ns.name, 'nft', '-f', '-'], { input: script, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`nft: ${r.stderr}`);
}

async function streamWithCut(t: { after(fn: () => unknown): void }, url: (p: TwoPaths) => string): Promise<{ p: TwoPaths; sock: SrtSocket; msgs: Buffer[] }> {
  const p = await twoPaths(t);
  const sock = await dial(url(p));
  t.after(() => sock.destroy());
  await until(() => sock.groupStats()!.members.filter((m) => m.state !== 'broken').length === 2 && sock.groupStats()!.members.length === 2, 5000, 'both members connected');
  const total = 2000;
  const msgs = makeMessages(total);
  for (let i = 0; i < total; i++) {
    if (i === total / 2) cutPath(p.ns, p.ns.paths[0]!.nsDev, p.port);
    assert.equal(sock.sendMessage(msgs[i]!), true, `message ${i} taken`);
    await sleep(1000 / PPS);
  }
  await until(() => p.got.length >= total, 10_000, `${total} messages over the surviving path`, () => `${p.got.length}`);
  await sleep(500);
  return { p, sock, msgs };
}

test('two paths, broadcast: path 1 cut with nftables mid-stream — nothing lost, nothing twice', { skip: process.getuid?.() !== 0 ? 'needs root (network namespaces)' : false }, async (t) => {
  const { p, sock, msgs } = await streamWithCut(t, (p) => `srt://${p.ns.paths[0]!.nsIp}:${p.port},${p.ns.paths[1]!.nsIp}:${p.port}?grouptype=broadcast&latency=400`);
  assert.equal(diffMessages(msgs, p.got), null);
  const g = sock.groupStats()!;
  assert.equal(g.type, 'broadcast');
  assert.equal(g.members.length, 2);
  // the cut was real: path 1's member got no ACK since and its sender dropped what grew too old
  const cut = g.members.find((m) => m.address === p.ns.paths[0]!.nsIp)!;
  const kept = g.members.find((m) => m.address === p.ns.paths[1]!.nsIp)!;
  assert.ok(cut.stats.pktSndDrop > 0, `path 1 member dropped ${cut.stats.pktSndDrop}`);
  assert.equal(kept.stats.pktSndDrop, 0);
  // sluice transmit --stats on the receiving side: the group and each member (one per path)
  await until(() => /"group":/.test(p.listener.output()), 5000, 'a stats line with the group');
  const line = p.listener.output().split('\n').filter((l) => l.includes('"group":')).at(-1)!;
  const st = JSON.parse(line) as { side: string; pktRecvUnique: number; group: { type: string; pktRecvUnique: number; pktRecvDuplicate: number; members: { address: string; stats: { pktRecv: number } }[] } };
  assert.equal(st.side, 'source');
  assert.equal(st.group.type, 'broadcast');
  assert.equal(st.group.pktRecvUnique, msgs.length);
  assert.ok(st.group.pktRecvDuplicate >= msgs.length / 2 - 50, `copies over both paths before the cut: ${st.group.pktRecvDuplicate}`);
  assert.deepEqual(st.group.members.map((m) => m.address).sort(), [p.ns.paths[0]!.hostIp, p.ns.paths[1]!.hostIp].sort());
});

for (const type of ['broadcast', 'backup'] as const) test(`two paths, libsrt ${type} group (srt-test-live in the namespace) → Sluice listener; path 1 cut with nftables — nothing lost`, { skip: process.getuid?.() !== 0 ? 'needs root (network namespaces)' : false }, async (t) => {
  const ns = createNetns(2);
  t.after(() => ns.close());
  const port = 9600 + (process.pid % 300) + (type === 'backup' ? 1 : 0);
  const server = await listen({ port, groupconnect: true, latency: 400 });
  t.after(() => server.close());
  let group: SrtSocket | null = null;
  let members = 0;
  const got: Buffer[] = [];
  server.on('connection', (s) => {
    group = s;
    members++;
    s.setMessageSink((m) => got.push(Buffer.from(m)));
  });
  server.on('member', () => members++);
  // srt-test-live reads UDP inside the namespace: we send to it over path 2's addresses, which stay up
  const udpIn = 9900 + (process.pid % 90) + (type === 'backup' ? 1 : 0);
  const peer = ns.spawn(srtTestLive(), [`udp://${ns.paths[1]!.nsIp}:${udpIn}`, `srt:////group?type=${type}&nodes=${ns.paths[0]!.hostIp}:${port}?weight=10,${ns.paths[1]!.hostIp}:${port}?weight=5&latency=400`]);
  t.after(() => peer.kill());
  await until(() => members === 2, 10_000, 'both members of the libsrt group accepted', () => peer.output());
  const total = 2000;
  const msgs = makeMessages(total);
  const sender = dgram.createSocket('udp4');
  t.after(() => sender.close());
  for (let i = 0; i < total; i++) {
    if (i === total / 2) {
      // drop path 1's SRT traffic inside the namespace (libsrt's side here)
      const script = `table inet sluicecut {
  chain in { type filter hook input priority 0; iifname "${ns.paths[0]!.nsDev}" udp sport ${port} drop; }
  chain out { type filter hook output priority 0; oifname "${ns.paths[0]!.nsDev}" udp dport ${port} drop; }
}
`;
      const r = spawnSync('ip', ['netns', 'exec', ns.name, 'nft', '-f', '-'], { input: script, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
    }
    await new Promise<void>((resolve) => sender.send(msgs[i]!, udpIn, ns.paths[1]!.nsIp, () => resolve()));
    await sleep(1000 / PPS);
  }
  await until(() => got.length >= total, 10_000, `${total} messages`, () => `${got.length}`);
  await sleep(500);
  assert.equal(diffMessages(msgs, got), null);
  const g = group!.groupStats()!;
  assert.equal(g.members.length, 2);
  const cut = g.members.find((m) => m.address === ns.paths[0]!.nsIp)!;
  const kept = g.members.find((m) => m.address === ns.paths[1]!.nsIp)!;
  assert.ok(cut.stats.pktRecv < total - 200, `path 1 carried only the first half: ${cut.stats.pktRecv}`);
  if (type === 'broadcast') assert.ok(kept.stats.pktRecv >= total, `path 2 carried everything: ${kept.stats.pktRecv}`);
  else assert.ok(kept.stats.pktRecv >= total / 2 && kept.stats.pktRecv < total, `the backup took over at the cut: ${kept.stats.pktRecv}`);
});

test('two paths, main/backup: the main path cut with nftables mid-stream — the backup takes over with zero loss', { skip: process.getuid?.() !== 0 ? 'needs root (network namespaces)' : false }, async (t) => {
  const { p, sock, msgs } = await streamWithCut(t, (p) => `srt://${p.ns.paths[0]!.nsIp}:${p.port},${p.ns.paths[1]!.nsIp}:${p.port}?grouptype=backup&weight=10,5&latency=400`);
  assert.equal(diffMessages(msgs, p.got), null);
  const g = sock.groupStats()!;
  assert.equal(g.type, 'backup');
  assert.equal(g.switches, 1, 'one switch to the backup');
  const main = g.members.find((m) => m.weight === 10)!;
  const backup = g.members.find((m) => m.weight === 5)!;
  assert.notEqual(main.state, 'active');
  assert.equal(backup.state, 'active');
  assert.ok(g.pktBacklogResent > 0, 'the unacknowledged packets were re-sent over the backup');
});

test('RX/TX gateways with GroupConnect 1: RX caller backup group over GroupIp1/GroupIp2 (Ip1Weight 60, Ip2Weight 40) ← TX listener; byte-exact; GroupMembers statistics', async (t) => {
  const srtPort = await freePort();
  const udpIn = await freePort();
  const sink = await udpCollect();
  t.after(() => sink.close());
  const db = await openSqlite(':memory:');
  const events = new EventLog(db);
  const m = new GatewayManager(db, events);
  t.after(async () => { await m.closeAll(); await events.flush(); await db.destroy(); });
  const tx = await m.create('tx', { ServiceName: 'tx-bond', Mode: 'listener', RxIp: '', ListenPort: srtPort, UdpIn: `127.0.0.1:${udpIn}`, Latency: 200, GroupConnect: 1 });
  const rx = await m.create('rx', {
    ServiceName: 'rx-bond', Mode: 'caller', TxIp: '127.0.0.1', ListenPort: srtPort, UdpOut: `127.0.0.1:${sink.port}`, Latency: 200,
    GroupConnect: 1, GroupType: 'backup', GroupIp1: '127.0.0.1', GroupIp2: '127.0.0.1', Ip1Weight: 60, Ip2Weight: 40,
  });
  const members = (id: number, kind: 'rx' | 'tx'): Record<string, unknown>[] => groupMemberStats(kind, (kind === 'rx' ? rx : tx).config, m.runtime(id)?.groupStats() ?? null);
  await until(() => m.runtime(rx.id)?.connected === 1 && members(tx.id, 'tx').length === 2, 8000, 'both members connected', () => JSON.stringify(members(tx.id, 'tx')));
  const msgs = makeMessages(N);
  await udpSendPaced(udpIn, msgs, PPS);
  await sink.waitFor(N, 10_000);
  await sleep(300);
  assert.equal(diffMessages(msgs, sink.messages), null);
  // the TX (the group's sender) carries the stream over the member the RX weighted 60
  const txm = members(tx.id, 'tx');
  const main = txm.find((x) => x['Weight'] === 60)!;
  const backup = txm.find((x) => x['Weight'] === 40)!;
  assert.equal(main['State'], 'active');
  assert.equal(backup['State'], 'idle');
  assert.equal(main['SendPacketsUnique'], N);
  assert.equal(backup['SendPacketsUnique'], 0);
  const rxm = members(rx.id, 'rx');
  assert.deepEqual(rxm.map((x) => x['Weight']).sort(), [40, 60]);
  assert.equal(rxm.reduce((a, x) => a + (x['RecvPacketsUnique'] as number), 0), N);
});
