// Utilities, native (/api/v1/utils/…) and Callaba-shaped (/utils/…): the SRT speed test and the
// network diagnostics of the running servers (getStat).
import { Type, type Static } from '@sinclair/typebox';
import { diagnose, snapshotServer, type Diagnostics } from '../../core/diagnostics.js';
import { speedtest, SPEEDTEST_DEFAULT_BITRATE, SPEEDTEST_MAX_DURATION_MS, type SpeedtestResult } from '../../core/speedtest.js';
import { SrtError, SrtRejectedError } from '../../transport/errors.js';
import { ApiError, errors, type App, type Guards } from '../common.js';
import type { AppContext } from '../context.js';
import { optionalBody } from './callaba.js';

const SpeedtestBody = Type.Object({
  host: Type.Optional(Type.String({ minLength: 1, maxLength: 253, pattern: '^[A-Za-z0-9.:_-]+$', description: 'target SRT listener; default: a temporary listener on this machine (loopback). Needs the admin or operator role.' })),
  port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, description: 'target port (with no host: 127.0.0.1, e.g. a running Sluice server)' })),
  streamid: Type.Optional(Type.String({ maxLength: 512, description: 'stream id for the target, e.g. publisher/{server_name_code}/speedtest' })),
  passphrase: Type.Optional(Type.String({ minLength: 10, maxLength: 79 })),
  duration_ms: Type.Optional(Type.Integer({ minimum: 100, maximum: SPEEDTEST_MAX_DURATION_MS, default: 2000, description: 'how long data is sent, ms' })),
  bitrate: Type.Optional(Type.Integer({ minimum: 100_000, maximum: 1_000_000_000, description: `send rate, bits/s (default ${SPEEDTEST_DEFAULT_BITRATE})` })),
}, { additionalProperties: false });

export const SpeedtestView = Type.Object({
  target: Type.Object({ host: Type.String(), port: Type.Integer(), local: Type.Boolean({ description: 'a temporary listener on this machine' }) }),
  duration_ms: Type.Integer(),
  bitrate_requested: Type.Integer({ description: 'bits/s' }),
  rtt_ms: Type.Number({ description: 'round-trip time measured by SRT (smoothed ACK/ACKACK RTT, libsrt msRTT), ms. Callaba\'s document calls the RTT "latency".' }),
  latency: Type.Integer({ description: 'the SRT latency to configure (server_latency), ms: max(4 × rtt_ms, 120). Not the RTT itself: see rtt_ms.' }),
  upload_bps: Type.Integer({ description: 'throughput achieved (acknowledged payload), bits/s; a lower bound when it equals bitrate_requested' }),
  upload: Type.Integer({ description: 'the same in bytes/s, the unit of server_maxbw' }),
  recommended_maxbw: Type.Integer({ description: 'server_maxbw to configure, bytes/s: 1.25 × upload (room for retransmissions)' }),
  link_capacity_bps: Type.Integer({ description: 'link capacity estimated by the receiver (libsrt mbpsBandwidth), bits/s; 0 if unknown' }),
  loss_percent: Type.Number({ description: 'packets reported lost (libsrt pktSndLoss) per packet sent, percent' }),
  retransmitted: Type.Integer({ description: 'packets retransmitted (libsrt pktRetrans)' }),
  packets_sent: Type.Integer(),
  packets_lost: Type.Integer(),
  packets_dropped: Type.Integer({ description: 'dropped by the sender as too late (libsrt pktSndDrop)' }),
  bytes_sent: Type.Integer(),
});

const Rx = Type.Object({
  buffer_ms: Type.Number(), latency_ms: Type.Number(), buffer_latency_ratio: Type.Number({ description: '≈ 1 is normal under TSBPD; well above 1: the application is not reading' }),
  buffer_bytes: Type.Number(), buffer_capacity_bytes: Type.Number(), buffer_fill_percent: Type.Number(),
  dropped_packets: Type.Number({ description: 'pktRcvDrop' }), lost_packets: Type.Number({ description: 'pktRcvLoss' }), loss_percent: Type.Number(),
});
const Tx = Type.Object({
  buffer_ms: Type.Number(), buffer_packets: Type.Number(), buffer_bytes: Type.Number(), flow_window: Type.Number({ description: 'packets the peer can take (its free receive buffer)' }),
  in_flight: Type.Number(), dropped_packets: Type.Number({ description: 'pktSndDrop' }), lost_packets: Type.Number({ description: 'pktSndLoss' }), retransmitted: Type.Number(), loss_percent: Type.Number(),
});
const ConnDiag = Type.Object({
  id: Type.Integer(), role: Type.String(), stream: Type.String(), peer: Type.String(), stream_id: Type.String(), connected_at: Type.String(),
  rtt_ms: Type.Number(), send_rate_mbps: Type.Number(), recv_rate_mbps: Type.Number(),
  receiver: Rx, sender: Tx,
  queue: Type.Union([Type.Object({ bytes: Type.Number(), limit_bytes: Type.Number(), fill_percent: Type.Number() }), Type.Null()], { description: 'players: the socket write queue against the playerQueue limit' }),
  slow_reader: Type.Boolean(),
});
export const SignalView = Type.Object({
  level: Type.String({ description: 'info, warning or critical' }),
  kind: Type.String({ description: 'server_failed, rcvbuf_full, rcvbuf_backlog, rcv_drop, snd_drop, loss, slow_reader, sndbuf_backlog, players_dropped' }),
  server_id: Type.Integer(), server_name: Type.String(),
  connection_id: Type.Optional(Type.Integer()), stream: Type.Optional(Type.String()), peer: Type.Optional(Type.String()),
  message: Type.String(),
});
export const StatView = Type.Object({
  generated_at: Type.String(),
  servers: Type.Array(Type.Object({
    id: Type.Integer(), name: Type.String(), port: Type.Integer(), status: Type.String(), error: Type.Union([Type.String(), Type.Null()]),
    latency_ms: Type.Number(), rcvbuf_bytes: Type.Number(), players_dropped: Type.Integer(),
    streams: Type.Array(Type.Object({ name: Type.String(), messages: Type.Integer(), bytes: Type.Integer(), connections: Type.Array(ConnDiag) })),
  })),
  signals: Type.Array(SignalView, { description: 'network diagnostic signals, most severe first' }),
});
const StatFilter = Type.Object({
  server_id: Type.Optional(Type.Integer({ minimum: 1 })),
  id: Type.Optional(Type.Integer({ minimum: 1, description: 'same as server_id (Callaba style)' })),
}, { additionalProperties: false });

export function registerUtilRoutes(app: App, ctx: AppContext, g: Guards): void {
  const tags = ['utils'];
  let running = false;

  const runSpeedtest = async (role: string, b: Static<typeof SpeedtestBody> | undefined): Promise<SpeedtestResult> => {
    const body = b ?? {};
    const custom = body.host !== undefined || body.port !== undefined;
    if (custom && role !== 'admin' && role !== 'operator') throw new ApiError(403, 'API_ERR_FORBIDDEN', 'only an admin or operator may test another target than the local one');
    if (running) throw new ApiError(409, 'API_ERR_BUSY', 'a speed test is already running; try again when it is done');
    running = true;
    try {
      return await speedtest({
        host: custom ? body.host ?? '127.0.0.1' : undefined,
        port: body.port,
        streamid: body.streamid,
        passphrase: body.passphrase,
        durationMs: body.duration_ms ?? 2000,
        bitrate: body.bitrate,
      });
    } catch (e) {
      if (e instanceof SrtRejectedError) throw new ApiError(502, 'API_ERR_SPEEDTEST', `the target rejected the speed test connection: ${e.message}`);
      if (e instanceof SrtError) throw new ApiError(502, 'API_ERR_SPEEDTEST', `speed test failed: ${e.message}`);
      if (e instanceof RangeError || e instanceof ApiError) throw e;
      throw new ApiError(502, 'API_ERR_SPEEDTEST', `speed test failed: ${(e as Error).message}`);
    } finally {
      running = false;
    }
  };
  const speedSchema = (summary: string) => ({
    tags, summary, body: SpeedtestBody,
    response: { 200: SpeedtestView, ...errors(400, 401, 403, 409, 502) },
  });
  app.post('/api/v1/utils/speedtest', { ...g.read, preValidation: optionalBody, schema: speedSchema('SRT speed test: RTT, recommended latency (4 × RTT, at least 120 ms), throughput and maxbw, loss') },
    async (req) => runSpeedtest(req.user.role, req.body));
  app.post('/utils/speedtest', { ...g.read, preValidation: optionalBody, schema: speedSchema('Callaba speedtest: `latency` is the latency to configure and `rtt_ms` the RTT; `upload` (bytes/s) and `recommended_maxbw` fit server_maxbw') },
    async (req) => runSpeedtest(req.user.role, req.body));

  const getStat = async (filter: Static<typeof StatFilter> | undefined): Promise<Diagnostics> => {
    const want = filter?.server_id ?? filter?.id;
    let views = await ctx.servers.list();
    if (want !== undefined) {
      views = views.filter((v) => v.id === want);
      if (views.length === 0) throw new ApiError(404, 'API_ERR_NOT_FOUND', `server ${want} not found`);
    }
    const snaps = views.map((v) => snapshotServer(
      { id: v.id, name: v.server_name, port: v.server_port, status: v.status, error: v.error, latencyMs: v.server_latency, rcvbufBytes: v.server_rcvbuf },
      ctx.servers.runtime(v.id),
    ));
    return diagnose(snaps);
  };
  const statSchema = (summary: string, body: boolean) => ({
    tags, summary, querystring: StatFilter, ...(body ? { body: StatFilter } : {}),
    response: { 200: StatView, ...errors(400, 401, 404) },
  });
  const statSummary = 'Network diagnostics of the servers: per connection receiver-buffer pressure, drops, loss and slow readers, with warning signals';
  app.get('/api/v1/utils/getStat', { ...g.read, schema: statSchema(statSummary, false) }, async (req) => getStat(req.query));
  app.get('/utils/getStat', { ...g.read, schema: statSchema(statSummary, false) }, async (req) => getStat(req.query));
  app.post('/utils/getStat', { ...g.read, preValidation: optionalBody, schema: statSchema(statSummary, true) }, async (req) => getStat({ ...req.query, ...(req.body ?? {}) }));
}
