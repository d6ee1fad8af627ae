// /api/v1/gateways: RX (SRT → UDP) and TX (UDP → SRT) gateways, configured with the RX/TX
// document's field names; their state and statistics.
import { Type, type Static } from '@sinclair/typebox';
import { AsyncQuery, asTask, errors, IdParams, type App, type Guards } from '../common.js';
import type { AppContext } from '../context.js';
import { precheck, withApiErrors } from './rxtx.js';

const Kind = Type.Union([Type.Literal('rx'), Type.Literal('tx')]);
const Config = Type.Record(Type.String(), Type.Unknown(), { description: 'the RX/TX document fields (ServiceName, Mode, TxIp/RxIp, ListenPort, UdpOut/UdpIn, Latency, …)' });
const GatewayCreate = Type.Object({ kind: Kind, config: Config, active: Type.Optional(Type.Boolean({ description: 'start it now (default true)' })) }, { additionalProperties: false });
const GatewayUpdate = Type.Object({ config: Type.Optional(Config), active: Type.Optional(Type.Boolean()) }, { additionalProperties: false });
const ListQuery = Type.Object({ kind: Type.Optional(Kind) });

export const GatewayViewSchema = Type.Object({
  id: Type.Integer(),
  kind: Kind,
  name: Type.String(),
  active: Type.Boolean(),
  status: Type.Union([Type.Literal('running'), Type.Literal('stopped'), Type.Literal('failed')]),
  error: Type.Union([Type.String(), Type.Null()]),
  instance: Type.String({ description: 'id of the running instance; empty when not running' }),
  connected: Type.Integer({ description: '0 disconnected, 1 connected, 2 waiting (listener) / connecting (caller)' }),
  peer: Type.Union([Type.String(), Type.Null()]),
  reconnections: Type.Integer(),
  linkError: Type.Union([Type.String(), Type.Null()], { description: 'why the last connection attempt of a caller failed' }),
  config: Type.Record(Type.String(), Type.Union([Type.String(), Type.Number()])),
  created_at: Type.String(),
  updated_at: Type.String(),
  node: Type.Optional(Type.Union([Type.String(), Type.Null()], { description: 'scale-out only: the node that runs it; its live state (connection, statistics) is answered fully by that node' })),
});
const StatsView = Type.Object({
  id: Type.Integer(),
  kind: Kind,
  connected: Type.Integer(),
  reconnections: Type.Integer(),
  intervalMs: Type.Integer(),
  srt: Type.Union([Type.Record(Type.String(), Type.Number()), Type.Null()], { description: 'libsrt statistics of the last complete interval (intervalMs), with the *Total counters of the connection at its end; null until the first interval ends or without a connection' }),
  fields: Type.Record(Type.String(), Type.Number(), { description: 'the RX/TX document fields: packet and byte counts are totals since the current connection was established (reset on reconnection, 0 without a connection), LineLoss over the connection, LinkRtt/LinkBandwidth current, Recv/SendMbitRate of the last interval' }),
});

export function registerGatewayRoutes(app: App, ctx: AppContext, g: Guards): void {
  const tags = ['gateways'];
  const views = { 200: GatewayViewSchema, 202: Type.Unknown(), ...errors(400, 401, 403, 404, 409, 422) };
  app.get('/api/v1/gateways', { ...g.read, schema: { tags, summary: 'List RX/TX gateways', querystring: ListQuery, response: { 200: Type.Array(GatewayViewSchema), ...errors(401) } } },
    async (req) => ctx.gateways.list(req.query.kind));
  app.get('/api/v1/gateways/:id', { ...g.read, schema: { tags, summary: 'One gateway', params: IdParams, response: views } }, async (req) => ctx.gateways.get(req.params.id));
  app.get('/api/v1/gateways/:id/stats', { ...g.read, schema: { tags, summary: 'Statistics: totals of the current connection and the rates of the last 1 s interval', params: IdParams, response: { 200: StatsView, ...errors(401, 404) } } },
    async (req) => ctx.gateways.stats(req.params.id) as unknown as Static<typeof StatsView>);
  app.post('/api/v1/gateways', { ...g.write, schema: { tags, summary: 'Create (and start, unless active is false) a gateway', querystring: AsyncQuery, body: GatewayCreate, response: { ...views, 201: GatewayViewSchema } } },
    async (req, reply) => {
      const b = req.body;
      precheck(b.kind, b.config);
      return asTask(ctx, req, reply, 'gateway.create', 'gateways', () => withApiErrors(() => ctx.gateways.create(b.kind, b.config, b.active !== false)), 201);
    });
  app.patch('/api/v1/gateways/:id', { ...g.write, schema: { tags, summary: 'Update a gateway (config fields are merged); a running one restarts', params: IdParams, querystring: AsyncQuery, body: GatewayUpdate, response: { ...views, 200: Type.Object({ gateway: GatewayViewSchema, restarted: Type.Boolean() }) } } },
    async (req, reply) => {
      const cur = await ctx.gateways.get(req.params.id);
      precheck(cur.kind, req.body.config ?? {}, cur.config);
      return asTask(ctx, req, reply, 'gateway.update', `gateway:${cur.kind}:${cur.id}`,
        () => withApiErrors(() => ctx.gateways.update(cur.id, req.body.config ?? {}, { active: req.body.active })));
    });
  app.delete('/api/v1/gateways/:id', { ...g.write, schema: { tags, summary: 'Stop and remove a gateway', params: IdParams, querystring: AsyncQuery, response: { 204: Type.Null(), 202: Type.Unknown(), ...errors(401, 403, 404) } } },
    async (req, reply) => {
      const cur = await ctx.gateways.get(req.params.id);
      return asTask(ctx, req, reply, 'gateway.delete', `gateway:${cur.kind}:${cur.id}`, () => ctx.gateways.remove(cur.id), 204);
    });
  for (const action of ['start', 'stop', 'restart'] as const) {
    app.post(`/api/v1/gateways/:id/${action}`, { ...g.write, schema: { tags, summary: `${action[0]!.toUpperCase()}${action.slice(1)} a gateway`, params: IdParams, querystring: AsyncQuery, response: views } },
      async (req, reply) => {
        const cur = await ctx.gateways.get(req.params.id);
        return asTask(ctx, req, reply, `gateway.${action}`, `gateway:${cur.kind}:${cur.id}`, () => {
          if (action === 'stop') return ctx.gateways.stop(cur.id);
          if (action === 'restart') return ctx.gateways.restart(cur.id);
          return ctx.gateways.start(cur.id);
        });
      });
  }
}
