// /api/v1/nodes: the nodes of a scale-out (ADR 17) — name, address, load, what each runs — and
// their drain. On a single node (no --node-name) the list is empty and a drain answers 404.
import { Type } from '@sinclair/typebox';
import { NodeError } from '../../core/nodes.js';
import { NotFoundError } from '../../core/errors.js';
import { ApiError, AsyncQuery, asTask, errors, type App, type Guards } from '../common.js';
import type { AppContext } from '../context.js';

const NodeLoad = Type.Object({
  connections: Type.Integer({ description: 'SRT connections and local endpoints on its servers' }),
  mbps_in: Type.Number({ description: 'stream payload received (publishers, edges), Mbit/s over the last heartbeat' }),
  mbps_out: Type.Number({ description: 'stream payload sent to players (SRT, other nodes\' edges, local readers), Mbit/s' }),
  cpu_percent: Type.Number({ description: 'CPU time of the process, % of one core' }),
});
export const NodeViewSchema = Type.Object({
  name: Type.String(),
  address: Type.String({ description: 'where its SRT servers are reached (--advertise-addr)' }),
  http_url: Type.String(),
  started_at: Type.String(),
  status: Type.Union([Type.Literal('up'), Type.Literal('down')], { description: 'down: no heartbeat within the dead time; its servers and gateways went to others' }),
  heartbeat_age_ms: Type.Number(),
  draining: Type.Boolean({ description: 'new players are refused with 1402 OVERLOAD; connected ones stay' }),
  drain_reason: Type.Union([Type.String(), Type.Null()]),
  load: NodeLoad,
  servers: Type.Array(Type.Integer(), { description: 'servers whose routes it runs (every node runs every server\'s listener)' }),
  gateways: Type.Array(Type.Integer(), { description: 'gateways it runs' }),
  self: Type.Boolean({ description: 'the node that answered' }),
});
const NameParams = Type.Object({ name: Type.String({ minLength: 1, maxLength: 64 }) });
const DrainBody = Type.Object({ reason: Type.Optional(Type.String({ maxLength: 256, description: 'told to refused players (in the rejection log) and shown in the node list' })) }, { additionalProperties: false });

export function registerNodeRoutes(app: App, ctx: AppContext, g: Guards): void {
  const tags = ['nodes'];
  const node = (): NonNullable<AppContext['node']> => {
    if (!ctx.node) throw new ApiError(404, 'API_ERR_NOT_FOUND', 'this Sluice runs as a single node (start it with --node-name and a PostgreSQL --database for several)');
    return ctx.node;
  };
  app.get('/api/v1/nodes', { ...g.read, schema: { tags, summary: 'The nodes sharing this database: address, load, what each runs (empty on a single node)', response: { 200: Type.Array(NodeViewSchema), ...errors(401) } } },
    async () => (ctx.node ? ctx.node.list() : []));
  for (const draining of [true, false]) {
    app.post(`/api/v1/nodes/:name/${draining ? 'drain' : 'resume'}`, {
      ...g.write,
      schema: {
        tags, params: NameParams, querystring: AsyncQuery, ...(draining ? { body: Type.Union([DrainBody, Type.Null()]) } : {}), response: { 200: NodeViewSchema, 202: Type.Unknown(), ...errors(400, 401, 403, 404) },
        summary: draining ? 'Drain a node: new players are refused with 1402 OVERLOAD (the reason names the other nodes), connected ones stay; /healthz answers 503' : 'End a drain: the node takes new players again',
      },
    }, async (req, reply) => {
      const n = node();
      const name = req.params.name;
      return asTask(ctx, req, reply, draining ? 'node.drain' : 'node.resume', `node:${name}`, async () => {
        if (!(await n.setDraining(name, draining, (req.body as { reason?: string } | null | undefined)?.reason ?? null))) throw new NotFoundError(`node ${name} not found`);
        return (await n.list()).find((v) => v.name === name)!;
      });
    });
  }
  app.delete('/api/v1/nodes/:name', { ...g.write, schema: { tags, summary: 'Forget a node that is down', params: NameParams, response: { 204: Type.Null(), ...errors(401, 403, 404, 409) } } }, async (req, reply) => {
    const n = node();
    try {
      if (!(await n.forget(req.params.name))) throw new NotFoundError(`node ${req.params.name} not found`);
    } catch (e) {
      if (e instanceof NodeError) throw new ApiError(409, 'API_ERR_CONFLICT', e.message);
      throw e;
    }
    return reply.code(204).send(null);
  });
}
