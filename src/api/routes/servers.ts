// /api/v1/servers: SRT servers (Callaba's fields + Sluice settings), their live streams and connections.
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import { restoreMasked } from '../../core/secrets.js';
import { ConflictError, NotFoundError } from '../../core/servers.js';
import { STAT_NAMES } from '../../protocol/stats.js';
import { AsyncQuery, asTask, errors, IdParams, type App, type Guards } from '../common.js';
import type { AppContext } from '../context.js';

const Passphrase = Type.String({ minLength: 10, maxLength: 79, description: 'SRT passphrase (10 to 79 characters, as libsrt)' });
const Limit = Type.Integer({ minimum: 1, maximum: 1_000_000 });
/** The server issue's settings (ServerConfig in src/server/types.ts), every value typed and bounded. */
export const ServerSettings = Type.Object({
  host: Type.Optional(Type.String({ minLength: 1, maxLength: 255, description: 'bind address (default all interfaces)' })),
  app: Type.Optional(Type.String({ maxLength: 256, description: 'stream names must start with this prefix (gosrt -app); "" = any' })),
  defaultStream: Type.Optional(Type.String({ minLength: 1, maxLength: 512, description: 'stream of encoders that send no stream id (they publish to it)' })),
  accessMode: Type.Optional(Type.Union([Type.Literal('accept-all'), Type.Literal('whitelist')])),
  whitelist: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 512 }), { maxItems: 100_000, description: 'streams allowed in whitelist mode' })),
  passphrase: Type.Optional(Passphrase),
  streams: Type.Optional(Type.Record(Type.String({ minLength: 1, maxLength: 512 }), Type.Object({
    publishPassphrase: Type.Optional(Passphrase),
    readPassphrase: Type.Optional(Passphrase),
  }, { additionalProperties: false }), { description: 'per-stream publish and read passphrases' })),
  users: Type.Optional(Type.Record(Type.String({ minLength: 1, maxLength: 128 }), Type.Object({
    passphrase: Type.Optional(Passphrase),
    password: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
    publish: Type.Optional(Type.Boolean()),
    read: Type.Optional(Type.Boolean()),
  }, { additionalProperties: false }), { description: 'users selected by u= (or :user:pass) with their rights' })),
  token: Type.Optional(Type.String({ minLength: 1, maxLength: 256, description: 'callers must send ?token= equal to it (gosrt)' })),
  authHook: Type.Optional(Type.Object({
    url: Type.String({ pattern: '^https?://', maxLength: 2048 }),
    timeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 60_000 })),
    onFailure: Type.Optional(Type.Union([Type.Literal('allow'), Type.Literal('deny')])),
  }, { additionalProperties: false })),
  maxConnections: Type.Optional(Limit),
  maxPerStream: Type.Optional(Limit),
  maxPerPeer: Type.Optional(Limit),
  publisherGraceMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 600_000, description: 'how long players wait for a publisher to come back' })),
  playerQueue: Type.Optional(Type.Integer({ minimum: 16, maximum: 1_000_000, description: 'messages a player may fall behind before it is dropped' })),
  startAtKeyframe: Type.Optional(Type.Boolean({ description: 'new players start at the next video keyframe, PAT/PMT first' })),
  waitForPublisher: Type.Optional(Type.Boolean({ description: 'players of a stream that is not published (yet) are accepted and wait for its publisher instead of 1404; they also wait again when it ends (default false; true on the "default" server of sluice serve)' })),
  waitForPublisherTimeoutMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 86_400_000, description: 'a player waiting this long is closed (SHUTDOWN); 0 = no limit (default)' })),
  gopCache: Type.Optional(Type.Boolean({ description: 'new players of an MPEG-TS stream with H.264/HEVC video get the current GOP at once (PAT/PMT and parameter sets first), then the live stream (default true)' })),
  gopCacheMaxBytes: Type.Optional(Type.Integer({ minimum: 65_536, maximum: 268_435_456, description: 'bound of one stream\'s GOP cache in bytes (default 4194304); a longer GOP is not cached and players wait for the next keyframe' })),
  packetfilter: Type.Optional(Type.String({ maxLength: 64, description: 'libsrt\'s SRTO_PACKETFILTER for every connection, e.g. "fec,cols:10,rows:5,layout:staircase,arq:onreq" (FEC; callers without a filter take it, callers with one must agree, else SRT_REJ_FILTER; "" = none)' })),
  publishPorts: Type.Optional(Type.Object({
    first: Type.Integer({ minimum: 1, maximum: 65535 }),
    last: Type.Integer({ minimum: 1, maximum: 65535 }),
    configBackend: Type.String({ pattern: '^https?://', maxLength: 2048 }),
    timeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 60_000 })),
    refreshMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 3_600_000 })),
  }, { additionalProperties: false, description: 'Flussonic-style publish ports with a configuration backend' })),
}, { additionalProperties: false });

export const ServerFields = {
  server_name: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.-]+( [A-Za-z0-9_.-]+)*$' }),
  server_type: Type.Optional(Type.String({ maxLength: 32 })),
  server_port: Type.Integer({ minimum: 1, maximum: 65535 }),
  server_latency: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535, description: 'ms' })),
  server_maxbw: Type.Optional(Type.Integer({ minimum: -1, description: 'bytes/s; -1 = 1 Gbit/s' })),
  server_timeout: Type.Optional(Type.Integer({ minimum: 1, maximum: 3_600_000, description: 'peer idle timeout, ms' })),
  server_rcvbuf: Type.Optional(Type.Integer({ minimum: 47104, maximum: 2147483647, description: 'bytes' })),
  server_active: Type.Optional(Type.Boolean()),
  settings: Type.Optional(ServerSettings),
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
  node: Type.Optional(Type.Union([Type.String(), Type.Null()], { description: 'scale-out only: the node that runs its routes (every node runs its listener; status, connections and streams are the answering node\'s)' })),
});
/** libsrt's SRT_TRACEBSTATS names, each a property (a fixed shape also serializes ~3x faster than a record). */
export const SrtStatsSchema = Type.Object(Object.fromEntries(STAT_NAMES.map((n) => [n, Type.Optional(Type.Number())])), { description: 'libsrt statistics (SRT_TRACEBSTATS names): NAME = this interval, NAMETotal = since connect' });
export const ConnView = Type.Object({ id: Type.Integer(), role: Type.String(), stream: Type.String(), peer: Type.String(), streamId: Type.String(), connectedAt: Type.Number(), stats: SrtStatsSchema });
export const StreamView = Type.Object({ name: Type.String(), publisher: Type.Union([ConnView, Type.Null()]), players: Type.Array(ConnView), messages: Type.Integer(), bytes: Type.Integer() });

/**
 * A client that read masked settings (core/secrets.ts) may send them back: before validation,
 * every "***" at a secret field of `settings` becomes the stored value at the same place.
 */
export function keepMaskedSecrets(ctx: AppContext, idOf: (req: FastifyRequest) => unknown): (req: FastifyRequest) => Promise<void> {
  return async (req) => {
    const b = req.body as { settings?: unknown } | null | undefined;
    if (!b || typeof b !== 'object' || !b.settings || typeof b.settings !== 'object') return;
    const id = Number(idOf(req));
    if (!Number.isSafeInteger(id) || id < 1) return;
    const cur = await ctx.servers.get(id).catch(() => null);
    if (cur) b.settings = restoreMasked(b.settings, cur.settings);
  };
}

export function registerServerRoutes(app: App, ctx: AppContext, g: Guards): void {
  const tags = ['servers'];
  const views = { 200: ServerView, 202: Type.Unknown(), ...errors(400, 401, 403, 404, 409) };
  app.get('/api/v1/servers', { ...g.read, schema: { tags, summary: 'List SRT servers', response: { 200: Type.Array(ServerView), ...errors(401) } } }, async () => ctx.servers.list());
  app.get('/api/v1/servers/:id', { ...g.read, schema: { tags, summary: 'One SRT server', params: IdParams, response: views } }, async (req) => ctx.servers.get(req.params.id));
  app.post('/api/v1/servers', { ...g.write, schema: { tags, summary: 'Create (and start, unless server_active is false) an SRT server', querystring: AsyncQuery, body: ServerCreate, response: { ...views, 201: ServerView } } },
    async (req, reply) => asTask(ctx, req, reply, 'server.create', 'servers', () => ctx.servers.create(req.body as Static<typeof ServerCreate>), 201));
  app.patch('/api/v1/servers/:id', { ...g.write, preValidation: keepMaskedSecrets(ctx, (req) => (req.params as { id?: unknown }).id), schema: { tags, summary: 'Update a server; a running one restarts and its peers are disconnected', params: IdParams, querystring: AsyncQuery, body: ServerUpdate, response: { ...views, 200: Type.Object({ server: ServerView, restarted: Type.Boolean() }) } } },
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
