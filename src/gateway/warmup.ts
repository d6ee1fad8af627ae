// JIT warm-up of the data path before a process meets a live feed (issue 13 §2).
//
// A fresh Node process runs its code interpreted until V8 has seen each function often enough to
// compile it; at 400–500 Mbit/s (38,000–47,500 datagrams a second) those first hundreds of
// milliseconds are slower than the feed, the socket buffers overflow, and a live input is lost
// where libsrt, compiled ahead of time, carries it. `warmUp()` runs the whole UDP ↔ SRT data path
// of this process on loopback before the real endpoints open — a UDP source feeding an SRT caller
// (the live send path: sendDatagram → sender → pacing → socket), an SRT listener delivering to a
// UDP sink (the receive path: datagram → Endpoint → receiver → TSBPD → message sink), ACK/ACKACK
// and the timers — with the caller's SRT options (encryption and packet filter included), so the
// same functions see the same shapes of objects. It takes a few hundred milliseconds of CPU.
import dgram from 'node:dgram';
import { fecConfig } from '../protocol/filter-config.js';
import type { SrtOptions } from '../protocol/options.js';
import { dial, listen } from '../transport/api.js';
import type { SrtSocket } from '../transport/socket.js';
import { sendDatagram } from './chunker.js';
import { UdpSink, UdpSource } from './udp.js';

export interface WarmUpOptions {
  /** Datagrams to push through (default 20,000). */
  datagrams?: number;
  /** Give up after this long, ms (default 3,000): a warm-up never delays a start by more. */
  maxMs?: number;
  /** Feed rate, datagrams a second (default 50,000: about 530 Mbit/s of 1316-byte datagrams). */
  rate?: number;
  /** Datagram size (default 1316). */
  size?: number;
  /** SRT options of the real connection that change the data path (encryption, packet filter). */
  srt?: Partial<Pick<SrtOptions, 'passphrase' | 'pbkeylen' | 'packetfilter' | 'payloadsize'>>;
}

export interface WarmUpResult {
  /** Datagrams fed to the UDP source, received by it, refused by the SRT send buffer, delivered at the far end. */
  sent: number;
  received: number;
  refused: number;
  delivered: number;
  ms: number;
}

/** Runs the UDP → SRT → UDP path on loopback until `datagrams` went through or `maxMs` passed. */
export async function warmUp(opts: WarmUpOptions = {}): Promise<WarmUpResult> {
  const total = opts.datagrams ?? 20_000;
  const maxMs = opts.maxMs ?? 3000;
  const size = Math.min(opts.size ?? 1316, opts.srt?.payloadsize ?? 1316);
  const t0 = performance.now();
  const srt: Partial<SrtOptions> = { latency: 40 };
  for (const [k, v] of Object.entries(opts.srt ?? {})) if (v !== undefined) (srt as Record<string, unknown>)[k] = v;
  const closers: (() => Promise<void> | void)[] = [];
  let sent = 0;
  let delivered = 0;
  let received = 0;
  let refused = 0;
  try {
    // receive side: SRT listener → UDP sink → a plain socket that counts
    const counter = dgram.createSocket('udp4');
    closers.push(() => new Promise<void>((r) => counter.close(() => r())));
    await new Promise<void>((r) => counter.bind(0, '127.0.0.1', r));
    counter.on('message', () => { delivered++; });
    const sink = new UdpSink({ host: '127.0.0.1', port: counter.address().port });
    closers.push(() => { sink.destroy(); });
    await sink.open();
    // a filter string may leave keys to the peer (libsrt's merge): the warm-up's listener completes
    // the FEC matrix if the caller's string has no cols, so both sides agree as with a real peer
    const lsrt: Partial<SrtOptions> = { ...srt };
    if (typeof srt.packetfilter === 'string' && srt.packetfilter !== '') {
      try {
        fecConfig(srt.packetfilter);
      } catch {
        lsrt.packetfilter = `${srt.packetfilter},cols:10`;
      }
    }
    const server = await listen({ ...lsrt, host: '127.0.0.1', port: 0 });
    closers.push(() => server.close());
    const accepted = new Promise<SrtSocket>((r) => server.once('connection', (s) => r(s)));
    const caller = await dial({ ...srt, host: '127.0.0.1', port: server.address().port });
    closers.push(() => { caller.destroy(); });
    const rx = await accepted;
    closers.push(() => { rx.destroy(); });
    rx.setMessageSink((m) => sink.send(m));
    // send side: a plain socket → UDP source → SRT caller
    const source = new UdpSource({ host: '127.0.0.1', port: 0 });
    closers.push(() => { source.destroy(); });
    await source.open();
    source.setMessageSink((m) => { received++; if (!caller.destroyed) refused += sendDatagram(caller, m); });
    const feed = dgram.createSocket('udp4');
    closers.push(() => new Promise<void>((r) => feed.close(() => r())));
    await new Promise<void>((r) => feed.bind(0, '127.0.0.1', r));
    const port = source.sock.address().port;
    const payload = Buffer.alloc(size, 0x47);
    // paced at `rate` datagrams a second, each turn of the loop sending what is due (at most 128)
    const rate = opts.rate ?? 50_000;
    const f0 = performance.now();
    while (sent < total && performance.now() - t0 < maxMs) {
      const due = Math.min(total, Math.floor(((performance.now() - f0) / 1000) * rate));
      for (let i = 0; i < 128 && sent < due; i++, sent++) feed.send(payload, port, '127.0.0.1');
      await new Promise((r) => setImmediate(r));
    }
    // let the tail play out (TSBPD 40 ms) and the ACKs come back
    // (what the cold loop dropped on the way never comes: stop once nothing has arrived for 60 ms)
    const until = performance.now() + Math.min(500, Math.max(0, maxMs - (performance.now() - t0)));
    let last = -1;
    let lastAt = performance.now();
    while (delivered < received - refused && performance.now() < until && performance.now() - lastAt < 60) {
      if (delivered !== last) { last = delivered; lastAt = performance.now(); }
      await new Promise((r) => setTimeout(r, 10));
    }
  } finally {
    for (const c of closers.reverse()) await Promise.resolve(c()).catch(() => undefined);
  }
  return { sent, received, refused, delivered, ms: performance.now() - t0 };
}
