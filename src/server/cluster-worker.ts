// One worker thread of a ClusterServer (ADR 14): a normal Server on the shared UDP port
// (SO_REUSEPORT: the kernel gives each peer address to one worker), coordinated by the main thread.
// A stream published on another worker reaches this worker's players through a relay: the
// publisher's worker reads the stream like a local player and posts its messages here in batches
// (one transferred ArrayBuffer per event-loop turn), where they are published into this Server as a
// local publisher — so keyframe start, the slow-player limit and statistics work as everywhere.
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import type { LocalEndpoint } from './local.js';
import { Server, type ServerConfig, type ServerConnection } from './server.js';
import type { StreamMode } from './streamid.js';

export interface WorkerInit {
  config: ServerConfig;
  index: number;
  workers: number;
}

/** A connection as the main thread sees it (no socket; ids unique across the workers). */
export interface ClusterConnection {
  id: number;
  role: ServerConnection['role'];
  stream: string;
  streamId: string;
  peer: string;
  user?: string;
  local?: boolean;
  connectedAt: number;
  /** Index of the worker thread that serves it. */
  worker: number;
}

export type FromWorker =
  | { t: 'ready'; address: { address: string; port: number } }
  | { t: 'startFailed'; message: string }
  | { t: 'claim'; reqId: number; stream: string; backup: boolean }
  | { t: 'release'; stream: string; mode: StreamMode; backup: boolean }
  | { t: 'subscribe'; reqId: number; stream: string }
  | { t: 'unsubscribe'; stream: string }
  | { t: 'accepted'; conn: ClusterConnection }
  | { t: 'rejected'; info: { streamId: string; peer: string; reason: number; message: string } }
  | { t: 'closed'; conn: ClusterConnection; reason: string }
  | { t: 'published'; stream: string; conn: ClusterConnection }
  | { t: 'unpublished'; stream: string }
  | { t: 'playerDropped'; conn: ClusterConnection; reason: string }
  | { t: 'reply'; reqId: number; value: unknown }
  | { t: 'stopped' };

export type ToWorker =
  | { t: 'answer'; reqId: number; reject?: number; message?: string }
  | { t: 'forward'; stream: string; to: number; port: MessagePort }
  | { t: 'unforward'; stream: string; to: number }
  | { t: 'relay'; stream: string; from: number; port: MessagePort }
  | { t: 'unrelay'; stream: string; end: boolean }
  | { t: 'kick'; id: number }
  | { t: 'whitelist'; add: boolean; name: string }
  | { t: 'stats'; reqId: number }
  | { t: 'workerStats'; reqId: number }
  | { t: 'stop' };

/** Labels of the relay endpoints (never shown as connections). */
export const RELAY_LABEL = 'cluster-relay:';

/** Global connection id of a worker's local one: ids interleave, (id - 1) % workers is the worker. */
export function globalId(local: number, index: number, workers: number): number {
  return (local - 1) * workers + index + 1;
}

/** How long a stream with no player here stays subscribed after the last player decision (pending handshakes), ms. */
const SUBSCRIPTION_HOLD_MS = 10_000;

function runWorker(port: MessagePort): void {
  const { config, index, workers } = workerData as WorkerInit;
  const post = (m: FromWorker): void => port.postMessage(m);
  let nextReq = 1;
  const asks = new Map<number, (a: { reject?: number; message?: string }) => void>();
  const ask = (m: { t: 'claim'; stream: string; backup: boolean } | { t: 'subscribe'; stream: string }): Promise<{ reject?: number; message?: string }> =>
    new Promise((resolve) => {
      const reqId = nextReq++;
      asks.set(reqId, resolve);
      post({ ...m, reqId });
    });

  /** Streams this worker has players for (or is about to): their relay from another worker, if any. */
  const subs = new Map<string, { relay: LocalEndpoint | null; port: MessagePort | null; lastNeeded: number }>();
  /** Streams published here and relayed to other workers: stream → target worker → relay reader. */
  const forwards = new Map<string, Map<number, { ep: LocalEndpoint; port: MessagePort }>>();

  const isRelay = (c: ServerConnection): boolean => c.local === true && c.peer.startsWith(RELAY_LABEL);
  const view = (c: ServerConnection): ClusterConnection => ({
    id: globalId(c.id, index, workers), role: c.role, stream: c.stream, streamId: c.streamId, peer: c.peer,
    ...(c.user !== undefined ? { user: c.user } : {}), ...(c.local ? { local: true } : {}), connectedAt: c.connectedAt, worker: index,
  });

  const server = new Server(config, {
    reusePort: workers > 1,
    route: async (name, mode, backup) => {
      if (mode === 'publish') {
        const a = await ask({ t: 'claim', stream: name, backup });
        if (a.reject !== undefined) return { reject: a.reject, message: a.message ?? 'refused by the cluster' };
        // a publisher here takes over from the relay of the old one (which is in its grace period)
        if (!backup) {
          dropRelay(name, false);
          return undefined;
        }
        // a backup here must see the main publisher of another worker as its stream's publisher
        // (through a relay), or its Server would promote it at once
      }
      const s = sub(name);
      s.lastNeeded = Date.now();
      await ask({ t: 'subscribe', stream: name }); // a relay, if published elsewhere, is set up before the answer
      return undefined;
    },
    release: (name, mode, backup) => post({ t: 'release', stream: name, mode, backup }),
  });

  function sub(name: string): { relay: LocalEndpoint | null; port: MessagePort | null; lastNeeded: number } {
    let s = subs.get(name);
    if (!s) {
      s = { relay: null, port: null, lastNeeded: Date.now() };
      subs.set(name, s);
    }
    return s;
  }

  /** Players and backup publishers of a stream here: what keeps its relay. */
  function players(name: string): number {
    let n = 0;
    for (const c of server.connections()) if (c.stream === name && (c.role === 'player' || c.role === 'backup') && !isRelay(c)) n++;
    return n;
  }

  /** Closes the relay of a stream; `end`: the stream ended on the publisher's worker, so it ends here at once. */
  function dropRelay(name: string, end: boolean): void {
    const s = subs.get(name);
    if (!s || !s.relay) return;
    const r = s.relay;
    s.relay = null;
    s.port?.close();
    s.port = null;
    r.close('publisher left on another worker');
    if (end) server.endStreamNow(name);
  }

  /** Stops relaying a stream nobody here plays any more. */
  function maybeUnsubscribe(name: string, now: number): void {
    const s = subs.get(name);
    if (!s || now - s.lastNeeded < SUBSCRIPTION_HOLD_MS || players(name) > 0) return;
    const had = s.relay !== null;
    dropRelay(name, false);
    if (had) server.endStreamNow(name);
    subs.delete(name);
    post({ t: 'unsubscribe', stream: name });
  }

  server.on('accepted', (c) => { if (!isRelay(c)) post({ t: 'accepted', conn: view(c) }); });
  server.on('rejected', (info) => post({ t: 'rejected', info }));
  server.on('closed', (c, reason) => {
    if (isRelay(c)) return;
    post({ t: 'closed', conn: view(c), reason });
    if (c.role === 'player' || c.role === 'backup') maybeUnsubscribe(c.stream, Date.now());
  });
  server.on('published', (stream, c) => { if (!isRelay(c)) post({ t: 'published', stream, conn: view(c) }); });
  server.on('unpublished', (stream) => post({ t: 'unpublished', stream }));
  server.on('playerDropped', (c, reason) => {
    if (!isRelay(c)) post({ t: 'playerDropped', conn: view(c), reason });
    else process.stderr.write(`sluice cluster worker ${index}: relay ${c.peer} of "${c.stream}" dropped (${reason})\n`);
  });
  server.on('error', () => undefined);

  const sweep = setInterval(() => {
    const now = Date.now();
    for (const name of [...subs.keys()]) maybeUnsubscribe(name, now);
  }, 1000);
  sweep.unref();

  function startForward(stream: string, to: number, p: MessagePort): void {
    stopForward(stream, to);
    const ep = server.playLocal(stream, `${RELAY_LABEL}${to}`, { startAtKeyframe: false, queue: 1 << 20 });
    let batch: Buffer[] = [];
    let bytes = 0;
    const flush = (): void => {
      const ab = new ArrayBuffer(bytes);
      const u8 = new Uint8Array(ab);
      const dv = new DataView(ab);
      let o = 0;
      for (const m of batch) {
        dv.setUint32(o, m.length);
        u8.set(m, o + 4);
        o += 4 + m.length;
      }
      batch = [];
      bytes = 0;
      p.postMessage(ab, [ab]);
    };
    ep.on('data', (m: Buffer) => {
      if (batch.length === 0) setImmediate(flush);
      batch.push(m);
      bytes += 4 + m.length;
    });
    ep.on('error', () => undefined);
    let m = forwards.get(stream);
    if (!m) forwards.set(stream, (m = new Map()));
    m.set(to, { ep, port: p });
  }

  function stopForward(stream: string, to: number): void {
    const m = forwards.get(stream);
    const f = m?.get(to);
    if (!m || !f) return;
    m.delete(to);
    if (m.size === 0) forwards.delete(stream);
    f.ep.close('relay stopped');
    f.port.close();
  }

  function startRelay(stream: string, from: number, p: MessagePort): void {
    const s = sub(stream);
    s.port?.close();
    s.port = p;
    if (!s.relay || s.relay.destroyed) {
      try {
        s.relay = server.publishLocal(stream, `${RELAY_LABEL}${from}`);
      } catch {
        // published here meanwhile: this worker's own publisher feeds its players
        s.port = null;
        p.close();
        return;
      }
    }
    const ep = s.relay;
    p.on('message', (ab: ArrayBuffer) => {
      if (s.relay !== ep || ep.destroyed) return;
      const dv = new DataView(ab);
      for (let o = 0; o + 4 <= ab.byteLength;) {
        const n = dv.getUint32(o);
        ep.write(Buffer.from(ab, o + 4, n));
        o += 4 + n;
      }
    });
  }

  port.on('message', (m: ToWorker) => {
    switch (m.t) {
      case 'answer': {
        const r = asks.get(m.reqId);
        asks.delete(m.reqId);
        r?.({ reject: m.reject, message: m.message });
        break;
      }
      case 'forward': startForward(m.stream, m.to, m.port); break;
      case 'unforward': stopForward(m.stream, m.to); break;
      case 'relay': startRelay(m.stream, m.from, m.port); break;
      case 'unrelay': dropRelay(m.stream, m.end); break;
      case 'kick': server.closeConnection(m.id); break;
      case 'whitelist': if (m.add) server.addToWhitelist(m.name); else server.removeFromWhitelist(m.name); break;
      case 'stats': {
        const value = server.stats().map((st) => ({
          ...st,
          publisher: st.publisher && !st.publisher.peer.startsWith(RELAY_LABEL) ? { ...st.publisher, id: globalId(st.publisher.id, index, workers), worker: index } : null,
          players: st.players.filter((p) => !p.peer.startsWith(RELAY_LABEL)).map((p) => ({ ...p, id: globalId(p.id, index, workers), worker: index })),
        }));
        post({ t: 'reply', reqId: m.reqId, value });
        break;
      }
      case 'workerStats': {
        const conns = server.connections().filter((c) => !isRelay(c));
        const cpu = process.threadCpuUsage();
        post({
          t: 'reply', reqId: m.reqId, value: {
            index,
            connections: conns.length,
            publishers: conns.filter((c) => c.role !== 'player').length,
            players: conns.filter((c) => c.role === 'player').length,
            relaysIn: [...subs.values()].filter((s) => s.relay).length,
            relaysOut: [...forwards.values()].reduce((a, f) => a + f.size, 0),
            cpuUserUs: cpu.user, cpuSystemUs: cpu.system,
            heapUsed: process.memoryUsage().heapUsed,
            ...server.counters,
          },
        });
        break;
      }
      case 'stop': {
        clearInterval(sweep);
        for (const [stream, f] of [...forwards]) for (const to of [...f.keys()]) stopForward(stream, to);
        for (const name of [...subs.keys()]) dropRelay(name, false);
        void server.close().then(() => {
          post({ t: 'stopped' });
          port.close();
        });
        break;
      }
    }
  });

  server.start().then(
    () => post({ t: 'ready', address: server.address() }),
    (e: unknown) => post({ t: 'startFailed', message: (e as Error).message }),
  );
}

if (parentPort) runWorker(parentPort);
