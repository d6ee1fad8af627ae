// Connection groups (bonding, ADR 16) in the deterministic simulator: a caller group with two
// members over two independent paths to a listener with groupconnect. Both sides are the
// production Endpoint (src/protocol/endpoint.ts) driven the way mux.ts drives it. Broadcast loses
// nothing with loss on both paths and one path cut mid-stream; main/backup switches to the backup
// within the latency when the main path is cut, with zero loss.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Endpoint, type ConnectorHandle, type EndpointEvent, type EndpointSink, type ConnHandle } from '../../src/protocol/endpoint.js';
import { resolveOptions, type SrtOptions } from '../../src/protocol/options.js';
import { GROUP_ID_BIT, GroupType, type ConnectionGroup, type GroupTypeValue } from '../../src/protocol/group.js';
import { decodeHandshake, HsExtType, HsType, findExtension, decodeHsGroup, encodeHsGroup } from '../../src/protocol/handshake.js';
import { CtrlType, decodePacket } from '../../src/protocol/packet.js';
import { SRT_REJ } from '../../src/protocol/reject.js';
import { checkMessage, Link, makeMessage, Rng, Simulator, type LinkConfig } from '../support/simulator.js';
import { fileTimeout } from '../support/file-timeout.js';

fileTimeout();

const PORT_C = 40001;
const PORT_L = 4200;
/** Path i: the caller's address on it, the listener's address on it. */
const PATHS = [
  { caller: '10.1.0.1', listener: '10.1.0.2' },
  { caller: '10.2.0.1', listener: '10.2.0.2' },
];

interface Side extends EndpointSink {
  ep: Endpoint;
  timerAt: number;
  delivered: Buffer[];
  /** Simulated time of each delivery. */
  deliveredAt: number[];
  handles: ConnHandle[];
  events: EndpointEvent[];
}

interface World {
  sim: Simulator;
  caller: Side;
  listener: Side;
  /** up[i], down[i]: caller → listener and listener → caller on path i. */
  up: Link[];
  down: Link[];
  group: ConnectionGroup;
  connectors: ConnectorHandle[];
  /** Datagrams the caller sent, by path (handshakes decoded for inspection). */
  callerHandshakes: Buffer[];
  listenerHandshakes: Buffer[];
}

function side(sim: Simulator, seed: number, name: string, onEvent: (ev: EndpointEvent) => void, route: (d: Buffer, address: string) => void, hs: Buffer[]): Side {
  const ids = Rng.derive(seed, `${name}-ids`);
  const keys = Rng.derive(seed, `${name}-keys`);
  const s: Side = {
    ep: null as unknown as Endpoint,
    timerAt: Infinity,
    delivered: [],
    deliveredAt: [],
    handles: [],
    events: [],
    opened(h) {
      s.handles.push(h);
    },
    deliver(_h, payload) {
      s.delivered.push(Buffer.from(payload));
      s.deliveredAt.push(sim.now);
      return true;
    },
    serviced() {},
  };
  s.ep = new Endpoint({ random: (n) => keys.bytes(n), socketId: () => ids.int(1, 0x3fffffff), isn: () => ids.int(0, 0x7fffffff) }, s);
  const drive = (): void => {
    for (;;) {
      let t;
      while ((t = s.ep.pollTransmit()) !== null) {
        const d = Buffer.from(t.datagram);
        if ((d[0]! & 0x80) !== 0 && d.readUInt16BE(0) === (0x8000 | CtrlType.Handshake)) hs.push(d);
        route(d, t.address);
      }
      const ev = s.ep.pollEvent();
      if (ev === null) break;
      s.events.push(ev);
      onEvent(ev);
    }
    const next = s.ep.nextDeadline();
    if (next < s.timerAt) {
      s.timerAt = next;
      if (next !== Infinity) {
        sim.at(next, () => {
          if (s.timerAt !== next) return;
          s.timerAt = Infinity;
          s.ep.handleTimeout(sim.now);
          drive();
        });
      }
    }
  };
  (s as Side & { drive: () => void }).drive = drive;
  return s;
}

function driveOf(s: Side): () => void {
  return (s as Side & { drive: () => void }).drive;
}

function world(seed: number, type: GroupTypeValue, paths: LinkConfig[], opts: Partial<SrtOptions>, listenerOpts: Partial<SrtOptions> = { groupconnect: true }, weights = [1, 1]): World {
  const sim = new Simulator(1_000_000);
  const callerHs: Buffer[] = [];
  const listenerHs: Buffer[] = [];
  const w = { sim, up: [] as Link[], down: [] as Link[], connectors: [] as ConnectorHandle[], callerHandshakes: callerHs, listenerHandshakes: listenerHs } as unknown as World;
  const listener = side(sim, seed, 'listener', (ev) => {
    if (ev.type === 'request') listener.ep.decide(sim.now, ev.request, {});
  }, (d, address) => {
    const i = PATHS.findIndex((p) => p.caller === address);
    w.down[i]!.send(d);
  }, listenerHs);
  const caller = side(sim, seed, 'caller', () => {}, (d, address) => {
    const i = PATHS.findIndex((p) => p.listener === address);
    w.up[i]!.send(d);
  }, callerHs);
  w.caller = caller;
  w.listener = listener;
  PATHS.forEach((p, i) => {
    w.up.push(new Link(sim, Rng.derive(seed, `up${i}`), paths[i]!, (d) => {
      listener.ep.handleDatagram(sim.now, d, p.caller, PORT_C);
      driveOf(listener)();
    }));
    w.down.push(new Link(sim, Rng.derive(seed, `down${i}`), paths[i]!, (d) => {
      caller.ep.handleDatagram(sim.now, d, p.listener, PORT_L);
      driveOf(caller)();
    }));
  });
  listener.ep.listen(sim.now, resolveOptions({ latency: 120, ...listenerOpts }), Rng.derive(seed, 'secret').bytes(32));
  const o = resolveOptions({ latency: 120, ...opts });
  w.group = caller.ep.createGroup(sim.now, type, o.groupminstabletimeo);
  PATHS.forEach((p, i) => {
    w.connectors.push(caller.ep.connect(sim.now, p.listener, PORT_L, o, { group: w.group, weight: weights[i]! }));
  });
  driveOf(caller)();
  return w;
}

/** Streams `n` messages at `rate`/s through the caller's group; `at(i)` runs before message i. */
function stream(w: World, n: number, rate: number, at: (i: number) => void = () => {}): { refused: number; sentAt: number[] } {
  const sentAt: number[] = [];
  let refused = 0;
  const start = w.sim.now;
  for (let i = 0; i < n; i++) {
    w.sim.at(start + (i * 1e6) / rate, () => {
      at(i);
      sentAt[i] = w.sim.now;
      if (!w.caller.ep.sendGroup(w.sim.now, w.group, makeMessage(i))) refused++;
      driveOf(w.caller)();
    });
  }
  w.sim.run(start + (n * 1e6) / rate + 2_000_000, 20_000_000);
  return { refused, sentAt };
}

function connect(w: World): void {
  w.sim.run(w.sim.now + 1_000_000, 1_000_000, () => w.group.live.length === 2 && w.listener.handles.length === 2);
  assert.equal(w.group.live.length, 2, 'both members connected');
  assert.equal(w.listener.handles.length, 2);
}

function assertAllOnce(w: World, n: number): void {
  const idx = w.listener.delivered.map((b) => checkMessage(b));
  assert.ok(!idx.includes(-1), 'every payload byte-exact');
  assert.equal(idx.length, n, `delivered ${idx.length} of ${n}`);
  for (let i = 0; i < n; i++) if (idx[i] !== i) assert.fail(`message ${i}: delivered ${idx[i]} in its place`);
}

test('GROUP extension: libsrt layout (type bits 31-24, flags 23-16, weight 15-0) and the mirror group in the response', () => {
  assert.equal(encodeHsGroup({ groupId: 0x40000005, groupType: 2, flags: 0, weight: 10 }).toString('hex'), '400000050200000a');
  const w = world(1, GroupType.Backup, [{ delayUs: 5000 }, { delayUs: 5000 }], {}, { groupconnect: true }, [10, 5]);
  connect(w);
  const conclusions = (list: Buffer[]) => list.map((d) => decodePacket(d)).filter((p) => p.kind === 'control').map((p) => decodeHandshake(p.cif)).filter((h) => h.type === HsType.Conclusion);
  const req = conclusions(w.callerHandshakes);
  const weights = req.map((h) => decodeHsGroup(findExtension(h, HsExtType.Group)!.data));
  assert.ok(weights.every((g) => g.groupId === w.group.id && (g.groupId & GROUP_ID_BIT) !== 0 && g.groupType === 2 && g.flags === 0));
  assert.deepEqual([...new Set(weights.map((g) => g.weight))].sort((a, b) => a - b), [5, 10]);
  // the listener answers with its own group's id: one group for both members
  const rsp = conclusions(w.listenerHandshakes).map((h) => decodeHsGroup(findExtension(h, HsExtType.Group)!.data));
  assert.equal(rsp.length >= 2, true);
  const mirror = rsp[0]!.groupId;
  assert.ok((mirror & GROUP_ID_BIT) !== 0);
  assert.ok(rsp.every((g) => g.groupId === mirror && g.groupType === 2));
  assert.equal(w.group.peerId, mirror);
  const lg = w.listener.handles.map((h) => h.group);
  assert.ok(lg[0] !== null && lg[0] === lg[1], 'both accepted members are in one group');
  assert.equal(lg[0]!.id, mirror);
  assert.equal(lg[0]!.peerId, w.group.id);
});

test('a listener without groupconnect rejects a group member with SRT_REJ_GROUP (1015 on the wire)', () => {
  const w = world(2, GroupType.Broadcast, [{ delayUs: 5000 }, { delayUs: 5000 }], {}, {});
  w.sim.run(w.sim.now + 1_000_000, 1_000_000);
  const failed = w.caller.events.filter((e) => e.type === 'failed');
  assert.equal(failed.length, 2);
  assert.ok(failed.every((e) => e.type === 'failed' && e.reason === SRT_REJ.GROUP));
  assert.equal(w.listener.handles.length, 0);
});

test('broadcast: 5 % loss on both paths and path 1 cut mid-stream — every message once, in order, byte-exact', () => {
  for (const seed of [11, 12, 13]) {
    // after the cut path 2 alone must recover its 5 % loss by ARQ: latency 300 ms is 6 RTTs
    const w = world(seed, GroupType.Broadcast, [{ delayUs: 10_000, loss: 0.05 }, { delayUs: 25_000, loss: 0.05 }], { latency: 300 }, { groupconnect: true, latency: 300 });
    connect(w);
    const n = 3000;
    const { refused } = stream(w, n, 500, (i) => {
      if (i === 1500) {
        w.up[0]!.up = false;
        w.down[0]!.up = false;
      }
    });
    assert.equal(refused, 0);
    assertAllOnce(w, n);
    const lg = w.listener.handles[0]!.group!;
    assert.equal(lg.counters.pktRecvUnique, n);
    assert.ok(lg.counters.pktRecvDuplicate > 1000, `duplicates dropped: ${lg.counters.pktRecvDuplicate}`);
    // every member carried the same numbering: the surviving member's receiver saw them all
    const survivor = w.listener.handles.find((h) => h.address === PATHS[1]!.caller)!;
    assert.equal(survivor.conn.stats(w.sim.now).pktRcvDrop, 0, `seed ${seed}: the surviving member dropped nothing`);
  }
});

test('main/backup: the main path cut mid-stream — the backup takes over within the latency, zero loss', () => {
  for (const seed of [21, 22, 23]) {
    const w = world(seed, GroupType.Backup, [{ delayUs: 10_000 }, { delayUs: 20_000 }], {}, { groupconnect: true }, [10, 5]);
    connect(w);
    const n = 3000;
    let cutAt = NaN;
    const { refused, sentAt } = stream(w, n, 500, (i) => {
      if (i === 1500) {
        cutAt = w.sim.now;
        w.up[0]!.up = false;
        w.down[0]!.up = false;
      }
    });
    assert.equal(refused, 0);
    assertAllOnce(w, n);
    const [main, backup] = w.group.members;
    assert.equal(main!.weight, 10);
    assert.equal(main!.activations, 1, 'the main member carried the stream first');
    assert.equal(backup!.activations, 1, 'the backup took over once');
    assert.equal(w.group.counters.switches, 1);
    assert.ok(backup!.activatedAt - cutAt <= 60_000 + 2_000 + 10_000, `switch ${(backup!.activatedAt - cutAt) / 1000} ms after the cut`);
    // before the cut the backup path carried no data: only the main member's packets arrived
    const backupConn = w.listener.handles.find((h) => h.address === PATHS[1]!.caller)!.conn;
    const bs = backupConn.stats(w.sim.now);
    assert.ok(bs.pktRecvUnique < n - 1500 + 200, `backup received ${bs.pktRecvUnique}`);
    assert.ok(w.group.counters.pktBacklogResent > 0);
    // within the latency: every message played at its play time on the group's time base (sent +
    // the main path's 10 ms + 120 ms), the ones re-sent over the backup included; nothing too late
    const lg = w.listener.handles[0]!.group!;
    assert.equal(lg.counters.pktRecvUnique, n);
    let worst = 0;
    for (let i = 0; i < n; i++) worst = Math.max(worst, w.listener.deliveredAt[i]! - sentAt[i]!);
    assert.ok(worst <= 130_000 + 2_000, `latest delivery ${worst / 1000} ms after sending`);
    for (const h of w.listener.handles) assert.equal(h.conn.stats(w.sim.now).pktRcvDrop, 0);
  }
});

test('main/backup: the main path comes back — after a second alive again it takes the stream back, still zero loss', () => {
  for (const seed of [31, 32, 33]) {
    const w = world(seed, GroupType.Backup, [{ delayUs: 10_000 }, { delayUs: 20_000 }], {}, { groupconnect: true }, [10, 5]);
    connect(w);
    const n = 4000;
    const { refused, sentAt } = stream(w, n, 500, (i) => {
      if (i === 1000 || i === 2000) {
        const up = i === 2000; // cut at 2 s, restored at 4 s
        w.up[0]!.up = up;
        w.down[0]!.up = up;
      }
    });
    assert.equal(refused, 0);
    assertAllOnce(w, n);
    const [main, backup] = w.group.members;
    assert.equal(backup!.activations, 1, 'the backup took over once');
    assert.equal(main!.activations, 2, 'the main member took the stream back');
    assert.equal(main!.state, 'active');
    assert.equal(backup!.state, 'idle');
    assert.equal(w.group.counters.switches, 2);
    // back on the main path within about a second of it answering again, not at once
    assert.ok(main!.activatedAt - sentAt[2000]! >= 1_000_000 && main!.activatedAt - sentAt[2000]! <= 2_600_000, `returned ${(main!.activatedAt - sentAt[2000]!) / 1000} ms after the restore`);
    let worst = 0;
    for (let i = 0; i < n; i++) worst = Math.max(worst, w.listener.deliveredAt[i]! - sentAt[i]!);
    assert.ok(worst <= 130_000 + 2_000, `latest delivery ${worst / 1000} ms after sending`);
  }
});
