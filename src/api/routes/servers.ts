// /api/v1/servers: SRT servers (Callaba's fields + Sluice settings), their live streams and connections.
import { Type, type Static } from '@sinclair/typebox';
import { ConflictError, NotFoundError } from '../../core/servers.js';
import { AsyncQuery, asTask, errors, IdParams, type App, type Guards } from '../common.js';
import type { AppContext } from '../context.js';

export const ServerFields = {
  server_name: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.-]+( [A-Za-z0-9_.-]+)*$' }),
  server_type: Type.Optional(Type.String({ maxLength: 32 })),
  server_port: Type.Integer({ minimum: 1, maximum: 65535 }),
  server_latency: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535, description: 'ms' })),
  server_maxbw: Type.Optional(Type.Integer({ minimum: -1, description: 'bytes/s; -1 = 1 Gbit/s' })),
  server_timeout: Type.Optional(Type.Integer({ minimum: 1, maximum: 3_600_000, description: 'peer idle timeout, ms' })),
  server_rcvbuf: Type.Optional(Type.Integer({ minimum: 47104, maximum: 2147483647, description: 'bytes' })),
  server_active: Type.Optional(Type.Boolean()),
  settings: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
};
export const ServerCreate = Type.Object(ServerFields, { additionalProperties: false });
export const ServerUpdate = Type.Partial(Type.Object(ServerFields), { additionalProperties: false });
export const ServerView = Type.Object({
  id: Type.Integer(), ...ServerFields,
  server_active: Type.Boolean(),
  server_name_code: Type.String({ description: 'the {code} of publisher/{code}/… and receiver/{code}/… stream ids' }),
  status: Type.Union([Type.Literal('running'), Type.Literal('stopped'), Type.Literal('failed')]),
  error: Type.Union([Type.String(), Type.Null()]),
  connections: Type.Integer(),
  streams: Type.Array(Type.String()),
  created_at: Type.String(),
  updated_at: Type.String(),
});
export const ConnView = Type.Object({ id: Type.Integer(), role: Type.String(), stream: Type.String(), peer: Type.String(), streamId: Type.String(), connectedAt: Type.Number(), stats: Type.Record(Type.String(), Type.Number()) });
export const StreamView = Type.Object({ name: Type.String(), publisher: Type.Union([ConnView, Type.Null()]), players: Type.Array(ConnView), messages: Type.Integer(), bytes: Type.Integer() });

export function registerServerRoutes(app: App, ctx: AppContext, g: Guards): void {
  const tags = ['servers'];
  const views = { 200: ServerView, 202: Type.Unknown(), ...errors(400, 401, 403, 404, 409) };
  app.get('/api/v1/servers', { ...g.read, schema: { tags, summary: 'List SRT servers', response: { 200: Type.Array(ServerView), ...errors(401) } } }, async () => ctx.servers.list());
  app.get('/api/v1/servers/:id', { ...g.read, schema: { tags, summary: 'One SRT server', params: IdParams, response: views } }, async (req) => ctx.servers.get(req.params.id));
  app.post('/api/v1/servers', { ...g.write, schema: { tags, summary: 'Create (and start, unless server_active is false) an SRT server', querystring: AsyncQuery, body: ServerCreate, response: { ...views, 201: ServerView } } },
    async (req, reply) => asTask(ctx, req, reply, 'server.create', 'servers', () => ctx.servers.create(req.body as Static<typeof ServerCreate>), 201));
  app.patch('/api/v1/servers/:id', { ...g.write, schema: { tags, summary: 'Update a server; a running one restarts and its peers are disconnected', params: IdParams, querystring: AsyncQuery, body: ServerUpdate, response: { ...views, 200: Type.Object({ server: ServerView, restarted: Type.Boolean() }) } } },
    async (req, reply) => {
      await ctx.servers.get(req.params.id);
      return asTask(ctx, req, reply, 'server.update', `server:${req.params.id}`, () => ctx.servers.update(req.params.id, req.body as Static<typeof ServerUpdate>));
    });
  app.delete('/api/v1/servers/:id', { ...g.write, schema: { tags, summary: 'Stop and remove a server with its children: its routes, its recordings and their files are deleted', params: IdParams, querystring: AsyncQuery, response: { 204: Type.Null(), 202: Type.Unknown(), ...errors(401, 403, 404) } } },
    async (req, reply) => {
      await ctx.servers.get(req.params.id);
      return asTask(ctx, req, reply, 'server.delete', `server:${req.params.id}`, () => ctx.servers.remove(req.params.id), 204);
    });
  for (const action of ['start', 'stop', 'restart'] as const) {
    app.post(`/api/v1/servers/:id/${action}`, { ...g.write, schema: { tags, summary: `${action[0]!.toUpperCase()}${action.slice(1)} a server`, params: IdParams, querystring: AsyncQuery, response: views } },
      async (req, reply) => {
        const id = (req.params as { id: number }).id;
        await ctx.servers.get(id);
        return asTask(ctx, req, reply, `server.${action}`, `server:${id}`, async () => {
          if (action === 'stop') return ctx.servers.stop(id);
          if (action === 'restart') await ctx.servers.stop(id);
          return ctx.servers.start(id);
        });
      });
  }
  app.get('/api/v1/servers/:id/streams', { ...g.read, schema: { tags, summary: 'Live streams with their publisher, players and libsrt statistics', params: IdParams, response: { 200: Type.Array(StreamView), ...errors(401, 404, 409) } } }, async (req) => {
    await ctx.servers.get(req.params.id);
    const rt = ctx.servers.runtime(req.params.id);
    if (!rt) throw new ConflictError(`server ${req.params.id} is not running`);
    return rt.stats() as unknown as Static<typeof StreamView>[];
  });
  app.delete('/api/v1/servers/:id/connections/:cid', {
    ...g.write,
    schema: { tags, summary: 'Kick a connection (it gets SHUTDOWN)', params: Type.Object({ id: Type.Integer({ minimum: 1 }), cid: Type.Integer({ minimum: 1 }) }), response: { 204: Type.Null(), ...errors(401, 403, 404) } },
  }, async (req, reply) => {
    const rt = ctx.servers.runtime(req.params.id);
    if (!rt || !rt.closeConnection(req.params.cid)) throw new NotFoundError(`connection ${req.params.cid} not found on server ${req.params.id}`);
    ctx.events.record({ type: 'connection.kicked', actor: req.user.sub, target: `server:${req.params.id}`, message: `connection ${req.params.cid} kicked by ${req.user.sub}`, data: { connection: req.params.cid } });
    return reply.code(204).send(null);
  });
}
