// Statistics for charts and dashboards: the per-second history of streams and connections
// (core/history.ts) and a summary across servers.
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { ApiError, errors, IdParams, type App, type Guards } from '../common.js';
import type { AppContext } from '../context.js';
import { NotFoundError } from '../../core/servers.js';

/** A number or null (a sample whose value is unknown: the first of a series, a counter reset). */
const MaybeNumber = Type.Unsafe<number | null>({ type: 'number', nullable: true });
const Samples = (description: string): TSchema => Type.Array(MaybeNumber, { description });

const HistoryQuery = {
  since: Type.Optional(Type.String({ description: 'only samples from this time: ms since the epoch or an ISO 8601 date-time' })),
  step: Type.Optional(Type.Integer({ minimum: 1, maximum: 3600, description: 'seconds: average the samples into buckets this long (aligned to the epoch); default every sample' })),
};

const SeriesMeta = {
  server_id: Type.Integer(),
  interval_ms: Type.Integer({ description: 'sampling period' }),
  step_ms: Type.Integer({ description: 'bucket length; the sampling period when not downsampled' }),
};

export const StreamSeries = Type.Object({
  stream: Type.String(),
  live: Type.Boolean({ description: 'in the latest sample' }),
  t: Type.Array(Type.Number(), { description: 'sample (or bucket start) times, ms since the epoch' }),
  bitrate_in: Samples('payload bits/s received from the publisher'),
  players: Samples('players connected'),
});

export const ConnectionSeries = Type.Object({
  ...SeriesMeta,
  connection_id: Type.Integer(),
  role: Type.String(),
  stream: Type.String(),
  peer: Type.String(),
  connected_at: Type.Number({ description: 'ms since the epoch' }),
  live: Type.Boolean({ description: 'in the latest sample' }),
  t: Type.Array(Type.Number(), { description: 'sample (or bucket start) times, ms since the epoch' }),
  mbps_send_rate: Samples('Mbit/s sent, SRT headers included'),
  mbps_recv_rate: Samples('Mbit/s received, SRT headers included'),
  ms_rtt: Samples('smoothed round-trip time, ms (libsrt msRTT)'),
  loss_per_s: Samples('packets lost per second (pktRcvLoss + pktSndLoss)'),
  retrans_per_s: Samples('packets retransmitted per second (pktRetrans + pktRcvRetrans)'),
  drop_per_s: Samples('packets dropped too late per second (pktRcvDrop + pktSndDrop)'),
  ms_rcv_buf: Samples('receive buffer span, ms (libsrt msRcvBuf)'),
});

const ServerSummary = Type.Object({
  id: Type.Integer(),
  server_name: Type.String(),
  status: Type.String(),
  connections: Type.Integer(),
  streams: Type.Integer(),
  publishers: Type.Integer(),
  players: Type.Integer(),
  bitrate_in: Type.Number({ description: 'bits/s received from publishers in the latest sample, SRT headers included' }),
  bitrate_out: Type.Number({ description: 'bits/s sent to players in the latest sample, SRT headers included' }),
});

export const StatsSummary = Type.Object({
  at: Type.Unsafe<number | null>({ type: 'number', nullable: true, description: 'time of the latest sample, ms since the epoch' }),
  servers: Type.Integer(),
  servers_running: Type.Integer(),
  connections: Type.Integer(),
  streams: Type.Integer(),
  publishers: Type.Integer(),
  players: Type.Integer(),
  bitrate_in: Type.Number({ description: 'bits/s' }),
  bitrate_out: Type.Number({ description: 'bits/s' }),
  per_server: Type.Array(ServerSummary),
  history: Type.Object({ series: Type.Integer(), streams: Type.Integer(), connections: Type.Integer(), bytes: Type.Integer({ description: 'memory held by the sample rings' }), max_series: Type.Integer() }),
});

/** `since` as ms since the epoch: digits are ms, anything else an ISO 8601 date-time. */
export function parseSince(s: string | undefined): number | undefined {
  if (s === undefined) return undefined;
  const v = /^\d+$/.test(s) ? Number(s) : Date.parse(s);
  if (!Number.isFinite(v)) throw new ApiError(400, 'API_ERR_VALIDATION', `since: "${s}" is neither ms since the epoch nor an ISO 8601 date-time`, [{ field: 'since', message: 'must be ms since the epoch or an ISO 8601 date-time' }]);
  return v;
}

export function registerStatsRoutes(app: App, ctx: AppContext, g: Guards): void {
  const tags = ['statistics'];
  const h = ctx.history;
  const stepMs = (step: number | undefined): number => (step !== undefined && step * 1000 > h.intervalMs ? step * 1000 : h.intervalMs);

  app.get('/api/v1/servers/:id/history', {
    ...g.read,
    schema: {
      tags, summary: 'Per-second history of the server\'s streams (the last hour), for charts',
      params: IdParams,
      querystring: Type.Object({ stream: Type.Optional(Type.String({ minLength: 1, description: 'only this stream' })), ...HistoryQuery }, { additionalProperties: false }),
      response: { 200: Type.Object({ ...SeriesMeta, streams: Type.Array(StreamSeries) }), ...errors(400, 401, 404) },
    },
  }, async (req) => {
    await ctx.servers.get(req.params.id);
    const since = parseSince(req.query.since);
    const streams = h.streams(req.params.id, { stream: req.query.stream, since, stepMs: req.query.step !== undefined ? req.query.step * 1000 : undefined });
    if (req.query.stream !== undefined && streams.length === 0) throw new NotFoundError(`no history of stream "${req.query.stream}" on server ${req.params.id}`);
    return { server_id: req.params.id, interval_ms: h.intervalMs, step_ms: stepMs(req.query.step), streams };
  });

  app.get('/api/v1/servers/:id/connections/:cid/history', {
    ...g.read,
    schema: {
      tags, summary: 'Per-second history of one connection\'s libsrt statistics (the last hour)',
      params: Type.Object({ id: Type.Integer({ minimum: 1 }), cid: Type.Integer({ minimum: 1 }) }),
      querystring: Type.Object(HistoryQuery, { additionalProperties: false }),
      response: { 200: ConnectionSeries, ...errors(400, 401, 404) },
    },
  }, async (req) => {
    await ctx.servers.get(req.params.id);
    const since = parseSince(req.query.since);
    const c = h.connection(req.params.id, req.params.cid, { since, stepMs: req.query.step !== undefined ? req.query.step * 1000 : undefined });
    if (!c) throw new NotFoundError(`no history of connection ${req.params.cid} on server ${req.params.id}`);
    return { server_id: req.params.id, interval_ms: h.intervalMs, step_ms: stepMs(req.query.step), ...c };
  });

  app.get('/api/v1/stats', { ...g.read, schema: { tags, summary: 'Summary across servers: connections, streams, bitrates now', response: { 200: StatsSummary, ...errors(401) } } }, async () => {
    const per: Static<typeof ServerSummary>[] = [];
    for (const v of await ctx.servers.list()) {
      const rt = ctx.servers.runtime(v.id);
      const conns = rt?.connections() ?? [];
      const r = h.serverRates(v.id);
      const fresh = r !== undefined && r.at === h.lastSampleAt;
      per.push({
        id: v.id, server_name: v.server_name, status: v.status,
        connections: conns.length,
        streams: rt ? rt.streamNames().length : 0,
        publishers: conns.filter((c) => c.role !== 'player').length,
        players: conns.filter((c) => c.role === 'player').length,
        bitrate_in: fresh ? Math.round(r.bitrateIn) : 0,
        bitrate_out: fresh ? Math.round(r.bitrateOut) : 0,
      });
    }
    const sum = (k: 'connections' | 'streams' | 'publishers' | 'players' | 'bitrate_in' | 'bitrate_out'): number => per.reduce((a, s) => a + s[k], 0);
    const info = h.info();
    return {
      at: info.lastSampleAt,
      servers: per.length,
      servers_running: per.filter((s) => s.status === 'running').length,
      connections: sum('connections'), streams: sum('streams'), publishers: sum('publishers'), players: sum('players'),
      bitrate_in: sum('bitrate_in'), bitrate_out: sum('bitrate_out'),
      per_server: per,
      history: { series: info.series, streams: info.streams, connections: info.connections, bytes: info.bytes, max_series: info.maxSeries },
    };
  });
}
