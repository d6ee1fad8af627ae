// `sluice srt-server`: a standalone SRT server (gosrt's server, plus Sluice's access control).
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Server, type ServerConfig } from '../server/server.js';
import { ClusterServer } from '../server/cluster.js';
import { RejectionThrottle, rejectSummaryText } from '../server/throttle.js';
import { rejectReasonText } from '../protocol/reject.js';
import { OptionError } from '../protocol/errors.js';
import { validateFilterOption } from '../protocol/filter-config.js';
import { OPTION_NAMES, parseOptionValue, type SrtOptions } from '../protocol/options.js';
import { parseCommandLine, parseHostPort } from './args.js';
import { UsageError } from './errors.js';

export const SRT_SERVER_HELP = `Usage: sluice srt-server --addr HOST:PORT [options]

Runs an SRT server: publishers and players on one UDP port, routed by stream id
(#!::r=NAME,m=publish|request,u=USER · publish:NAME · read:NAME · NAME ·
publisher/SERVER/NAME · receiver/SERVER/NAME), fanned out without remuxing.

Options:
  --addr HOST:PORT        Listen address (default 0.0.0.0:6000, as gosrt).
  --name CODE             Server name code for publisher/CODE/NAME stream ids (default "default").
  --app PREFIX            Only serve stream names under this prefix (e.g. /live).
  --token T               Require ?token=T (or token=T) in the stream id.
  --passphrase P          Passphrase for every connection (10..79 characters).
  --whitelist a,b,...     Whitelist mode: only these stream names are accepted (1403 otherwise).
  --default-stream NAME   Stream for encoders that send no stream id.
  --auth-url URL          POST each request to URL; the JSON answer {allow, reason, passphrase, stream} decides.
  --max-connections N     Connection limits (1402 OVERLOAD beyond them);
  --max-per-stream N        players per stream;
  --max-per-peer N          connections per peer address.
  --grace MS              Players wait this long for a publisher to reconnect (default 5000).
  --keyframe-start        New players start at the next MPEG-TS random-access point.
  --wait-for-publisher    Accept players of a stream that is not published yet and hold them until
                            its publisher arrives (instead of 1404); they also wait again when it ends.
  --wait-timeout MS       Close a waiting player after MS (SHUTDOWN); 0 = wait forever (default).
  --reject-log-interval MS  Repeated rejections of one address, stream id and reason: the first is
                            logged, the rest as one summary line per MS (default 5000).
  --no-gop-cache          New players get the live stream as it comes, not the current GOP first.
  --gop-cache-max-bytes N Bound of one stream's GOP cache (default 4194304).
  --publish-ports A-B     Flussonic-style publish ports: each port is one author's stream, resolved
  --config-backend URL      through URL's srt_port_resolve/{port} and streams (passphrases).
  --srt key=value,...     SRT options for every connection (latency=200,maxbw=…; libsrt names;
                            FEC: packetfilter=fec,cols:10,rows:5 — put it last or before another key=).
  --config FILE           JSON file with any ServerConfig fields (streams, users, …); flags override it.
  --workers N             Worker threads sharing the port (SO_REUSEPORT; peers spread by address):
                            1 = one thread (default), 0 = one per core. Connection limits count
                            per worker; not with --publish-ports. A crashed worker is not restarted.
  --logtopics a,b         Log topics to stderr: connect, reject, close, stream, stats (default: all but stats).
  -h, --help              This text.
`;

const SERVER_OPTIONS = {
  'addr': { type: 'string' },
  'name': { type: 'string' },
  'app': { type: 'string' },
  'token': { type: 'string' },
  'passphrase': { type: 'string' },
  'whitelist': { type: 'string' },
  'default-stream': { type: 'string' },
  'auth-url': { type: 'string' },
  'max-connections': { type: 'string' },
  'max-per-stream': { type: 'string' },
  'max-per-peer': { type: 'string' },
  'grace': { type: 'string' },
  'keyframe-start': { type: 'boolean' },
  'no-gop-cache': { type: 'boolean' },
  'gop-cache-max-bytes': { type: 'string' },
  'wait-for-publisher': { type: 'boolean' },
  'wait-timeout': { type: 'string' },
  'reject-log-interval': { type: 'string' },
  'workers': { type: 'string' },
  'publish-ports': { type: 'string' },
  'config-backend': { type: 'string' },
  'srt': { type: 'string' },
  'config': { type: 'string' },
  'logtopics': { type: 'string' },
  'help': { type: 'boolean', short: 'h' },
} as const;

export function parseServerArgs(argv: string[]): { config: ServerConfig; topics: Set<string>; rejectLogIntervalMs: number; workers: number } | 'help' {
  const { values: v } = parseCommandLine(argv, SERVER_OPTIONS);
  if (v.help) return 'help';
  let file: Partial<ServerConfig> = {};
  const flags: Partial<ServerConfig> = {};
  const int = (flag: string, text: string): number => {
    if (!/^\d+$/.test(text)) throw new UsageError(`--${flag}: "${text}" is not a non-negative integer`);
    return Number(text);
  };
  if (v.addr !== undefined) {
    const hp = parseHostPort(v.addr);
    if (!hp) throw new UsageError(`--addr: "${v.addr}" is not HOST:PORT`);
    flags.host = hp.host;
    flags.port = hp.port;
  }
  if (v.name !== undefined) flags.name = v.name;
  if (v.app !== undefined) flags.app = v.app;
  if (v.token !== undefined) flags.token = v.token;
  if (v.passphrase !== undefined) flags.passphrase = v.passphrase;
  if (v.whitelist !== undefined) {
    flags.accessMode = 'whitelist';
    flags.whitelist = v.whitelist.split(',').filter(Boolean);
  }
  if (v['default-stream'] !== undefined) flags.defaultStream = v['default-stream'];
  if (v['auth-url'] !== undefined) flags.authHook = { url: v['auth-url'] };
  if (v['max-connections'] !== undefined) flags.maxConnections = int('max-connections', v['max-connections']);
  if (v['max-per-stream'] !== undefined) flags.maxPerStream = int('max-per-stream', v['max-per-stream']);
  if (v['max-per-peer'] !== undefined) flags.maxPerPeer = int('max-per-peer', v['max-per-peer']);
  if (v.grace !== undefined) flags.publisherGraceMs = int('grace', v.grace);
  if (v['keyframe-start']) flags.startAtKeyframe = true;
  if (v['no-gop-cache']) flags.gopCache = false;
  if (v['gop-cache-max-bytes'] !== undefined) flags.gopCacheMaxBytes = int('gop-cache-max-bytes', v['gop-cache-max-bytes']);
  if (v['wait-for-publisher']) flags.waitForPublisher = true;
  if (v['wait-timeout'] !== undefined) flags.waitForPublisherTimeoutMs = int('wait-timeout', v['wait-timeout']);
  let workers = 1;
  if (v.workers !== undefined) {
    workers = int('workers', v.workers);
    if (workers === 0) workers = availableParallelism();
  }
  let rejectLogIntervalMs = 5000;
  if (v['reject-log-interval'] !== undefined) {
    rejectLogIntervalMs = int('reject-log-interval', v['reject-log-interval']);
    if (rejectLogIntervalMs < 1) throw new UsageError('--reject-log-interval: at least 1 ms');
  }
  if (v['publish-ports'] !== undefined || v['config-backend'] !== undefined) {
    const range = v['publish-ports'] ?? '';
    const m = /^(\d+)-(\d+)$/.exec(range);
    if (v['publish-ports'] !== undefined && !m) throw new UsageError(`--publish-ports: "${range}" is not FIRST-LAST`);
    flags.publishPorts = { first: m ? Number(m[1]) : 0, last: m ? Number(m[2]) : -1, configBackend: v['config-backend'] ?? '' };
  }
  if (v.srt !== undefined) {
    // key=value pairs separated by commas; a piece without "=" continues the value before it, so
    // that packetfilter=fec,cols:10,rows:5 stays one value
    const pairs: [string, string][] = [];
    for (const piece of v.srt.split(',')) {
      const eq = piece.indexOf('=');
      if (eq < 0 && pairs.length > 0) pairs[pairs.length - 1]![1] += `,${piece}`;
      else pairs.push(eq < 0 ? [piece, ''] : [piece.slice(0, eq), piece.slice(eq + 1)]);
    }
    const srt: Record<string, unknown> = {};
    for (const [k, val] of pairs) {
      if (!(OPTION_NAMES as string[]).includes(k)) throw new UsageError(`--srt: unknown SRT option "${k}"`);
      try {
        srt[k] = parseOptionValue(k, val);
        if (k === 'packetfilter') validateFilterOption(val);
      } catch (e) {
        if (e instanceof OptionError) throw new UsageError(`--srt: ${e.message}`);
        throw e;
      }
    }
    flags.srt = srt as Partial<SrtOptions>;
  }
  if (v.config !== undefined) {
    try {
      file = JSON.parse(readFileSync(v.config, 'utf8')) as Partial<ServerConfig>;
    } catch (e) {
      throw new UsageError(`--config: cannot read ${v.config}: ${(e as Error).message}`);
    }
  }
  const topics = new Set(v.logtopics !== undefined ? v.logtopics.split(',').filter(Boolean) : ['connect', 'reject', 'close', 'stream']);
  const config: ServerConfig = { name: 'default', host: '0.0.0.0', port: 6000, ...file, ...flags };
  if (config.publishPorts && (config.publishPorts.configBackend === '' || config.publishPorts.last < config.publishPorts.first)) {
    throw new UsageError('--publish-ports and --config-backend go together');
  }
  if (config.passphrase !== undefined && config.passphrase !== '' && (config.passphrase.length < 10 || config.passphrase.length > 79)) {
    throw new UsageError(`--passphrase: must be 10 to 79 characters (got ${config.passphrase.length})`);
  }
  if (workers > 1 && config.publishPorts) throw new UsageError('--workers above 1 cannot serve --publish-ports');
  return { config, topics, rejectLogIntervalMs, workers };
}

export async function runSrtServer(argv: string[]): Promise<number> {
  const parsed = parseServerArgs(argv); // a UsageError goes to main.ts (exit 2)
  if (parsed === 'help') {
    process.stdout.write(SRT_SERVER_HELP);
    return 0;
  }
  const { config, topics, rejectLogIntervalMs, workers } = parsed;
  const log = (topic: string, fields: Record<string, unknown>): void => {
    if (topics.has(topic)) process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), topic, ...fields })}\n`);
  };
  const server = workers > 1 ? new ClusterServer(config, { workers }) : new Server(config);
  if (server instanceof ClusterServer) {
    server.on('workerExit', (_i, reason) => process.stderr.write(`sluice srt-server: ${reason}; its connections are lost, the other workers go on serving\n`));
  }
  server.on('accepted', (c) => log('connect', { id: c.id, role: c.role, stream: c.stream, peer: c.peer, streamid: c.streamId }));
  // a caller retrying a refused stream id: its first rejection, then a summary line per interval
  const rejects = new RejectionThrottle((x) => {
    const r = x.info;
    if (x.repeated === 0) log('reject', { streamid: r.streamId, peer: r.peer, reason: r.reason, text: rejectReasonText(r.reason), message: r.message });
    else log('reject', { streamid: r.streamId, peer: r.peer, reason: r.reason, text: rejectReasonText(r.reason), repeated: x.repeated, seconds: x.seconds, message: rejectSummaryText(x) });
  }, rejectLogIntervalMs);
  server.on('rejected', (r) => rejects.offer(r));
  server.on('closed', (c, reason) => log('close', { id: c.id, role: c.role, stream: c.stream, reason }));
  server.on('published', (s) => log('stream', { event: 'published', stream: s }));
  server.on('unpublished', (s) => log('stream', { event: 'unpublished', stream: s }));
  server.on('playerDropped', (c, reason) => log('close', { id: c.id, event: 'player dropped', reason }));
  try {
    await server.start();
  } catch (e) {
    process.stderr.write(`sluice srt-server: ${(e as Error).message}\n`);
    return 1;
  }
  const a = server.address();
  process.stderr.write(`sluice srt-server "${config.name}" listening on ${a.address}:${a.port}${workers > 1 ? ` (${workers} worker threads)` : ''}\n`);
  const statsTimer = topics.has('stats')
    ? setInterval(() => {
      void Promise.resolve(server.stats()).then((st) => log('stats', { streams: st.map((s) => ({ name: s.name, players: s.players.length, publisher: s.publisher?.peer ?? null, mbpsRecvRate: s.publisher?.stats.mbpsRecvRate ?? 0 })) }));
    }, 1000)
    : null;
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  if (statsTimer) clearInterval(statsTimer);
  await server.close();
  rejects.close(); // the pending summaries are logged
  return 0;
}
