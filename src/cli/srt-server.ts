// `sluice srt-server`: a standalone SRT server (gosrt's server, plus Sluice's access control).
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Server, type ServerConfig } from '../server/server.js';
import { ClusterServer } from '../server/cluster.js';
import { RejectionThrottle, rejectSummaryText } from '../server/throttle.js';
import { rejectReasonText } from '../protocol/reject.js';
import { OPTION_NAMES, parseOptionValue, type SrtOptions } from '../protocol/options.js';
import { parseHostPort } from './args.js';

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
  --publish-ports A-B     Flussonic-style publish ports: each port is one author's stream, resolved
  --config-backend URL      through URL's srt_port_resolve/{port} and streams (passphrases).
  --srt key=value,...     SRT options for every connection (latency=200,maxbw=…; libsrt names).
  --config FILE           JSON file with any ServerConfig fields (streams, users, …); flags override it.
  --workers N             Worker threads sharing the port (SO_REUSEPORT; peers spread by address):
                            1 = one thread (default), 0 = one per core. Connection limits count
                            per worker; not with --publish-ports. A crashed worker is not restarted.
  --logtopics a,b         Log topics to stderr: connect, reject, close, stream, stats (default: all but stats).
  -h, --help              This text.
`;

class UsageError extends Error {}

export function parseServerArgs(argv: string[]): { config: ServerConfig; topics: Set<string>; rejectLogIntervalMs: number; workers: number } | 'help' {
  let file: Partial<ServerConfig> = {};
  const flags: Partial<ServerConfig> = {};
  let topics = new Set(['connect', 'reject', 'close', 'stream']);
  let rejectLogIntervalMs = 5000;
  let workers = 1;
  const int = (flag: string, v: string): number => {
    if (!/^\d+$/.test(v)) throw new UsageError(`${flag}: "${v}" is not a non-negative integer`);
    return Number(v);
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const val = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${a} needs a value`);
      return v;
    };
    switch (a) {
      case '-h': case '--help': return 'help';
      case '--addr': {
        const v = val();
        const hp = parseHostPort(v);
        if (!hp) throw new UsageError(`--addr: "${v}" is not HOST:PORT`);
        flags.host = hp.host;
        flags.port = hp.port;
        break;
      }
      case '--name': flags.name = val(); break;
      case '--app': flags.app = val(); break;
      case '--token': flags.token = val(); break;
      case '--passphrase': flags.passphrase = val(); break;
      case '--whitelist': flags.accessMode = 'whitelist'; flags.whitelist = val().split(',').filter(Boolean); break;
      case '--default-stream': flags.defaultStream = val(); break;
      case '--auth-url': flags.authHook = { url: val() }; break;
      case '--max-connections': flags.maxConnections = int(a, val()); break;
      case '--max-per-stream': flags.maxPerStream = int(a, val()); break;
      case '--max-per-peer': flags.maxPerPeer = int(a, val()); break;
      case '--grace': flags.publisherGraceMs = int(a, val()); break;
      case '--keyframe-start': flags.startAtKeyframe = true; break;
      case '--wait-for-publisher': flags.waitForPublisher = true; break;
      case '--wait-timeout': flags.waitForPublisherTimeoutMs = int(a, val()); break;
      case '--reject-log-interval': {
        rejectLogIntervalMs = int(a, val());
        if (rejectLogIntervalMs < 1) throw new UsageError(`${a}: at least 1 ms`);
        break;
      }
      case '--publish-ports': {
        const v = val();
        const m = /^(\d+)-(\d+)$/.exec(v);
        if (!m) throw new UsageError(`--publish-ports: "${v}" is not FIRST-LAST`);
        flags.publishPorts = { ...(flags.publishPorts ?? { configBackend: '' }), first: Number(m[1]), last: Number(m[2]) };
        break;
      }
      case '--config-backend':
        flags.publishPorts = { ...(flags.publishPorts ?? { first: 0, last: -1 }), configBackend: val() };
        break;
      case '--srt': {
        const srt: Record<string, unknown> = {};
        for (const kv of val().split(',')) {
          const [k, v = ''] = kv.split('=');
          if (!(OPTION_NAMES as string[]).includes(k!)) throw new UsageError(`--srt: unknown SRT option "${k}"`);
          srt[k!] = parseOptionValue(k!, v);
        }
        flags.srt = srt as Partial<SrtOptions>;
        break;
      }
      case '--config': {
        const f = val();
        try {
          file = JSON.parse(readFileSync(f, 'utf8')) as Partial<ServerConfig>;
        } catch (e) {
          throw new UsageError(`--config: cannot read ${f}: ${(e as Error).message}`);
        }
        break;
      }
      case '--workers': workers = int(a, val()); if (workers === 0) workers = availableParallelism(); break;
      case '--logtopics': topics = new Set(val().split(',').filter(Boolean)); break;
      default: throw new UsageError(`unknown option ${a}`);
    }
  }
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
  let parsed;
  try {
    parsed = parseServerArgs(argv);
  } catch (e) {
    process.stderr.write(`sluice srt-server: ${(e as Error).message}\n\n${SRT_SERVER_HELP}`);
    return 2;
  }
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
