// `sluice transmit <src> <dst>`: the counterpart of srt-live-transmit.
import { createReadStream, createWriteStream } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Readable, Writable } from 'node:stream';
import { Chunker, MAX_LIVE_PAYLOAD, MessageLimiter, pumpMessages, sendDatagram } from '../gateway/chunker.js';
import { parseUdpUrl, UdpSink, UdpSource } from '../gateway/udp.js';
import { warmUp } from '../gateway/warmup.js';
import { resolveOptions } from '../protocol/options.js';
import { SRT_REJ, rejectReasonText } from '../protocol/reject.js';
import { dial, listen, type SrtServer } from '../transport/api.js';
import { SrtRejectedError } from '../transport/errors.js';
import type { SrtSocket } from '../transport/socket.js';
import { parseSrtUrl } from '../transport/url.js';
import { parseCommandLine } from './args.js';
import { UsageError } from './errors.js';

export const TRANSMIT_HELP = `Usage: sluice transmit [options] <source> <destination>

Moves a live stream between SRT, UDP, files and stdio, like srt-live-transmit, and transfers
files in SRT file mode (transtype=file), like srt-file-transmit.

Endpoints:
  srt://host:port?key=value&...   SRT caller (host given), listener (srt://:port or mode=listener) or
                                  rendezvous (mode=rendezvous, or a host and adapter=): both peers
                                  bind the port they target unless port= names the local one.
                                  Query keys as srt-live-transmit: mode, latency (ms), rcvlatency,
                                  peerlatency, streamid, maxbw, inputbw, oheadbw, conntimeo,
                                  peeridletimeo, payloadsize, mss, fc, rcvbuf, sndbuf, tlpktdrop,
                                  nakreport, passphrase, pbkeylen, kmrefreshrate, kmpreannounce,
                                  enforcedencryption, transtype, congestion, messageapi, linger,
                                  adapter (local address), port (local port), bind=host:port,
                                  groupconnect=1 (a listener takes connection groups),
                                  groupminstabletimeo (ms).
  srt://a:p1,b:p2?grouptype=broadcast|backup&weight=w1,w2
                                  A connection group (bonding): one member per address, one
                                  stream (also libsrt's srt:////group?type=…&nodes=a:p1,b:p2).
  udp://host:port?ttl=&adapter=&source=&rcvbuf=&sndbuf=
                                  UDP unicast or multicast (224.0.0.0/4, ff00::/8). As a source
                                  it binds host:port (joins the group, on 'adapter', optionally
                                  source-specific); as a destination it sends there. A UDP
                                  input into SRT is live: a datagram that finds the SRT send
                                  buffer full is dropped, never queued (the count is printed
                                  at exit).
  file:///path/to/file            A file (read in payloadsize chunks, or written). Into SRT it
                                  waits while the send buffer is full: nothing is dropped.
  -  or  file://con               stdin as a source, stdout as a destination.

Options:
  --stats <ms>        Print one JSON line of SRT statistics (libsrt names) to stderr per interval.
  --chunk <bytes>     Message size when reading files/stdin (default: payloadsize, 1316).
  --bitrate <bits/s>  Pace file/stdin input at this rate (suffixes k, M, G). Default: unpaced.
  --warmup <n>        Before opening an SRT endpoint, push n datagrams through this process's
                      UDP → SRT → UDP path on loopback, so that a live feed meets compiled code
                      (about half a second; default 20000; 0 = off).
  -q, --quiet         No progress messages on stderr.
  -h, --help          This text.

File mode: add transtype=file to the srt:// URL (both peers must use it). It sets libsrt's file
defaults — byte stream (messageapi=0; messageapi=1 sends each --chunk as one message), FileCC
congestion control, no TSBPD and no drop (everything is retransmitted until acknowledged), the
receiver's free buffer holds the sender back, linger 180 s so that the whole file is acknowledged
before SHUTDOWN, payloadsize 1456. Interoperates with srt-file-transmit in both directions.

It exits 0 when the input ends (end of file, or the SRT peer shut down) after flushing what it
received; on SIGINT/SIGTERM it flushes, sends SHUTDOWN to SRT peers and exits 0. Errors (bad
URL, rejected connection, port in use) exit 1 with a message naming the cause.

Examples:
  sluice transmit udp://127.0.0.1:5000 'srt://example.net:9000?streamid=publish:live/a&latency=200'
  sluice transmit srt://:9000 udp://239.1.1.1:1234?ttl=4
  sluice transmit 'srt://203.0.113.7:9000?mode=rendezvous&passphrase=secret-words' udp://127.0.0.1:5000
  ffmpeg -re -i in.ts -f mpegts - | sluice transmit - srt://127.0.0.1:9000
  sluice transmit file:///data/recordings/1/cam1/2024-01-01T00:00:00.000Z.ts 'srt://host:9000?transtype=file'
  sluice transmit 'srt://:9000?transtype=file' file:///tmp/received.bin
`;

interface Args {
  src: string;
  dst: string;
  statsMs: number;
  chunk?: number;
  bitrate?: number;
  warmup: number;
  quiet: boolean;
}

function parseRate(s: string): number {
  const m = /^(\d+(?:\.\d+)?)([kKmMgG]?)$/.exec(s);
  if (!m) throw new UsageError(`--bitrate: "${s}" is not a rate like 5000000, 5M or 800k`);
  const mult = { '': 1, k: 1e3, m: 1e6, g: 1e9 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g'];
  return Number(m[1]) * mult;
}

const TRANSMIT_OPTIONS = {
  stats: { type: 'string', short: 's' },
  chunk: { type: 'string' },
  bitrate: { type: 'string' },
  warmup: { type: 'string' },
  quiet: { type: 'boolean', short: 'q' },
  help: { type: 'boolean', short: 'h' },
} as const;

export function parseTransmitArgs(argv: string[]): Args | 'help' {
  const { values: v, positionals: pos } = parseCommandLine(argv, TRANSMIT_OPTIONS, { positionals: true });
  if (v.help) return 'help';
  const a: Args = { src: '', dst: '', statsMs: 0, warmup: 20_000, quiet: v.quiet ?? false };
  if (v.warmup !== undefined) {
    a.warmup = Number(v.warmup);
    if (!Number.isInteger(a.warmup) || a.warmup < 0 || a.warmup > 1_000_000) throw new UsageError('--warmup: must be an integer from 0 to 1000000 (datagrams)');
  }
  if (v.stats !== undefined) {
    a.statsMs = Number(v.stats);
    if (!Number.isInteger(a.statsMs) || a.statsMs < 10) throw new UsageError('--stats: interval must be an integer >= 10 (ms)');
  }
  if (v.chunk !== undefined) {
    a.chunk = Number(v.chunk);
    if (!Number.isInteger(a.chunk) || a.chunk < 1 || a.chunk > 1456) throw new UsageError('--chunk: must be 1 to 1456 bytes');
  }
  if (v.bitrate !== undefined) a.bitrate = parseRate(v.bitrate);
  if (pos.length !== 2) throw new UsageError('expected exactly two endpoints: <source> <destination>');
  [a.src, a.dst] = pos as [string, string];
  return a;
}

interface Opened<T> {
  stream: T;
  srt?: SrtSocket;
  /** A byte stream not yet cut into messages of this size (sent to SRT by pumpMessages). */
  messageSize?: number;
  /** A UDP source: its datagrams can go to SRT without the stream in between. */
  udp?: UdpSource;
  server?: SrtServer;
  close(): Promise<void>;
}

function log(args: Args, msg: string): void {
  if (!args.quiet) process.stderr.write(`${msg}\n`);
}

async function openSrt(url: string, args: Args, role: 'source' | 'destination'): Promise<Opened<SrtSocket>> {
  const ep = parseSrtUrl(url);
  if (ep.mode === 'caller' || ep.mode === 'rendezvous') {
    const s = await dial({ ...ep.options, host: ep.host, port: ep.port, localAddress: ep.adapter, localPort: ep.localPort, mode: ep.mode, ...(ep.group ? { group: ep.group } : {}) });
    log(args, ep.group
      ? `SRT ${role} connected: ${ep.group.type} group to ${ep.group.nodes.map((n) => `${n.host}:${n.port}`).join(', ')}`
      : ep.mode === 'caller'
      ? `SRT ${role} connected to ${ep.host}:${ep.port}`
      : `SRT ${role} connected in rendezvous with ${ep.host}:${ep.port} (local port ${ep.localPort ?? ep.port})`);
    return { stream: s, srt: s, close: async () => { s.destroy(); } };
  }
  const server = await listen({ ...ep.options, host: ep.host || ep.adapter, port: ep.port });
  let taken = false;
  log(args, `SRT ${role} listening on ${ep.host || '0.0.0.0'}:${server.address().port}`);
  const s = await new Promise<SrtSocket>((resolve) => {
    server.on('connection', (sock) => {
      if (taken) {
        sock.close();
        return;
      }
      taken = true;
      resolve(sock);
    });
  });
  log(args, `SRT ${role} accepted ${s.remoteAddress}:${s.remotePort}${s.streamId ? ` streamid=${s.streamId}` : ''}`);
  return { stream: s, srt: s, server, close: async () => { s.destroy(); await server.close(); } };
}

function pacer(bitrate: number): (bytes: number) => Promise<void> {
  const start = performance.now();
  let sent = 0;
  return async (bytes) => {
    sent += bytes * 8;
    const due = start + (sent / bitrate) * 1000;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
  };
}

async function openSource(url: string, args: Args, msgSize: number): Promise<Opened<Readable>> {
  if (url.startsWith('srt://')) return openSrt(url, args, 'source');
  if (url.startsWith('udp://')) {
    const u = new UdpSource(parseUdpUrl(url));
    await u.open();
    if (args.dst.startsWith('srt://')) return { stream: u, udp: u, close: async () => { u.destroy(); } };
    const lim = new MessageLimiter(MAX_LIVE_PAYLOAD);
    u.pipe(lim);
    return { stream: lim, close: async () => { u.destroy(); lim.end(); } };
  }
  let raw: Readable;
  if (url === '-' || url === 'file://con') raw = process.stdin;
  else if (url.startsWith('file://')) raw = createReadStream(fileURLToPath(url), { highWaterMark: 64 * 1024 });
  else throw new UsageError(`unsupported source "${url}" (srt://, udp://, file://, -)`);
  const size = args.chunk ?? msgSize;
  if (!args.bitrate && args.dst.startsWith('srt://')) return { stream: raw, messageSize: size, close: async () => { raw.destroy(); } };
  const ch = new Chunker(size);
  raw.pipe(ch);
  if (args.bitrate) {
    const wait = pacer(args.bitrate);
    const { Transform } = await import('node:stream');
    const paced = new Transform({
      objectMode: true,
      transform(chunk: Buffer, _e, cb) {
        wait(chunk.length).then(() => cb(null, chunk), cb);
      },
    });
    ch.pipe(paced);
    return { stream: paced, close: async () => { raw.destroy(); } };
  }
  return { stream: ch, close: async () => { raw.destroy(); } };
}

async function openDestination(url: string, args: Args): Promise<Opened<Writable>> {
  if (url.startsWith('srt://')) return openSrt(url, args, 'destination');
  if (url.startsWith('udp://')) {
    const u = new UdpSink(parseUdpUrl(url));
    await u.open();
    return { stream: u, close: async () => { u.destroy(); } };
  }
  if (url === '-' || url === 'file://con') return { stream: process.stdout, close: async () => undefined };
  if (url.startsWith('file://')) {
    const f = createWriteStream(fileURLToPath(url));
    return { stream: f, close: async () => { f.destroy(); } };
  }
  throw new UsageError(`unsupported destination "${url}" (srt://, udp://, file://, -)`);
}

/** Checks both endpoints before anything opens (a UsageError names the bad one); the SRT payload size. */
function checkEndpoints(args: Args): number {
  let msgSize = 1316;
  for (const [u, role] of [[args.src, 'source'], [args.dst, 'destination']] as const) {
    try {
      if (u.startsWith('srt://')) msgSize = resolveOptions(parseSrtUrl(u).options).payloadsize;
      else if (u.startsWith('udp://')) parseUdpUrl(u);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    if (!/^(srt|udp|file):\/\//.test(u) && u !== '-') throw new UsageError(`unsupported ${role} "${u}" (srt://, udp://, file://, -)`);
  }
  return msgSize;
}

/** Runs the command; a bad command line throws UsageError (main.ts prints it and exits 2). */
export async function runTransmit(argv: string[]): Promise<number> {
  const parsed = parseTransmitArgs(argv);
  if (parsed === 'help') {
    process.stdout.write(TRANSMIT_HELP);
    return 0;
  }
  const args = parsed;
  const msgSize = checkEndpoints(args);
  const srtUrl = [args.src, args.dst].find((u) => u.startsWith('srt://'));
  const srtOpts = srtUrl !== undefined ? parseSrtUrl(srtUrl).options : undefined;
  // file mode waits for the network instead of dropping: nothing to gain from a warm-up
  if (srtOpts !== undefined && srtOpts.transtype !== 'file' && args.warmup > 0) {
    const o = srtOpts;
    try {
      const w = await warmUp({ datagrams: args.warmup, srt: { passphrase: o.passphrase, pbkeylen: o.pbkeylen, packetfilter: o.packetfilter, payloadsize: o.payloadsize } });
      log(args, `warm-up: ${w.delivered}/${w.sent} datagrams through UDP → SRT → UDP in ${w.ms.toFixed(0)} ms`);
    } catch (e) {
      // an optimisation only: whatever stopped it, the real endpoints open as they would without it
      log(args, `warm-up skipped: ${(e as Error).message}`);
    }
  }

  let src: Opened<Readable> | undefined;
  let dst: Opened<Writable> | undefined;
  let statsTimer: NodeJS.Timeout | undefined;
  try {
    [dst, src] = await Promise.all([openDestination(args.dst, args), openSource(args.src, args, msgSize)]);
  } catch (e) {
    const msg = e instanceof SrtRejectedError && e.reason === SRT_REJ.TIMEOUT
      ? 'connection timed out (no answer from the peer)'
      : (e as Error).message;
    process.stderr.write(`sluice transmit: ${msg}\n`);
    await Promise.allSettled([src?.close(), dst?.close()]);
    return 1;
  }
  const s = src, d = dst;
  if (args.statsMs > 0) {
    statsTimer = setInterval(() => {
      for (const [side, o] of [['source', s], ['destination', d]] as const) {
        if (o.srt && !o.srt.destroyed) {
          // a connection group (bonding): the group's counters and each member's statistics too
          const group = o.srt.groupStats(false);
          process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), side, ...o.srt.stats(true), ...(group ? { group } : {}) })}\n`);
        }
      }
    }, args.statsMs);
  }

  let stopping = false;
  /** UDP input dropped because the SRT send buffer was full (live input is never queued). */
  let droppedInput = 0;
  let stopPump: (() => void) | null = null;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log(args, `${signal}: flushing and closing`);
    s.stream.unpipe(d.stream);
    stopPump?.();
    d.stream.end();
    if (s.srt) s.srt.close();
    setTimeout(() => process.exit(0), 3000).unref();
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));

  const code = await new Promise<number>((resolve) => {
    let failed = false;
    const fail = (what: string, e: Error): void => {
      if (failed || stopping) return;
      failed = true;
      process.stderr.write(`sluice transmit: ${what}: ${e.message}\n`);
      resolve(1);
    };
    s.stream.on('error', (e) => fail('source', e));
    d.stream.on('error', (e) => fail('destination', e));
    s.stream.on('end', () => log(args, 'source ended'));
    d.stream.on('finish', () => resolve(failed ? 1 : 0));
    d.srt?.on('closed', (reason: string) => {
      // an SRT destination whose peer went away: nothing more can be sent
      if (stopping || reason === 'local') return;
      log(args, `destination closed by the peer (${reason})`);
      resolve(reason === 'timeout' ? 1 : 0);
    });
    if (d.srt && s.messageSize !== undefined) {
      // bytes → SRT: cut into messages sent straight to the connection (the source waits while its send buffer is full)
      stopPump = pumpMessages(s.stream, s.messageSize, d.srt, (e) => fail('destination', e));
    } else if (d.srt && s.udp) {
      // UDP → SRT: each datagram straight to the connection; a live input is dropped, never queued, while the send buffer is full
      const out = d.srt;
      s.udp.setMessageSink((msg) => {
        if (stopping || out.writableEnded || out.destroyed) return;
        try {
          droppedInput += sendDatagram(out, msg);
        } catch (e) {
          fail('destination', e as Error);
        }
      });
    } else if (s.srt && d.stream instanceof UdpSink) {
      // SRT → UDP: each message straight to the UDP socket, no stream machinery per message
      const u = d.stream;
      s.srt.setMessageSink((msg) => u.send(msg));
      s.stream.once('end', () => u.end());
    } else {
      s.stream.pipe(d.stream, { end: d.stream !== process.stdout });
    }
    if (d.stream === process.stdout) s.stream.on('end', () => resolve(0));
  });
  if (statsTimer) clearInterval(statsTimer);
  if (droppedInput > 0) process.stderr.write(`sluice transmit: ${droppedInput} input datagrams dropped: the SRT send buffer was full\n`);
  if (s.srt && s.srt.closeReason === 'timeout') log(args, 'source lost: peer idle timeout');
  await Promise.allSettled([s.close(), d.server?.close(), s.server?.close()]);
  return code;
}

export { rejectReasonText };
