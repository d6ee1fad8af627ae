// The REST API (/api/v1): JWT login, servers resource; OpenAPI 3 from the route schemas.
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import jwt from '@fastify/jwt';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { Type, type Static } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Kysely } from 'kysely';
import type { DB } from '../store/db.js';
import { ConflictError, NotFoundError, ServerManager } from '../core/servers.js';
import { verifyPassword } from '../core/passwords.js';

const ErrorBody = Type.Object({
  code: Type.String(),
  message: Type.String(),
  errors: Type.Optional(Type.Array(Type.Object({ field: Type.String(), message: Type.String() }))),
});

const ServerFields = {
  server_name: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.-]+$' }),
  server_type: Type.Optional(Type.String({ maxLength: 32 })),
  server_port: Type.Integer({ minimum: 1, maximum: 65535 }),
  server_latency: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535, description: 'ms' })),
  server_maxbw: Type.Optional(Type.Integer({ minimum: -1, description: 'bytes/s; -1 = 1 Gbit/s' })),
  server_timeout: Type.Optional(Type.Integer({ minimum: 1, maximum: 3_600_000, description: 'peer idle timeout, ms' })),
  server_rcvbuf: Type.Optional(Type.Integer({ minimum: 47104, maximum: 2147483647, description: 'bytes' })),
  server_active: Type.Optional(Type.Boolean()),
  settings: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
};
const ServerCreate = Type.Object(ServerFields, { additionalProperties: false });
const ServerUpdate = Type.Partial(Type.Object(ServerFields), { additionalProperties: false });
const ServerView = Type.Object({
  id: Type.Integer(), ...ServerFields,
  server_active: Type.Boolean(),
  status: Type.Union([Type.Literal('running'), Type.Literal('stopped'), Type.Literal('failed')]),
  error: Type.Union([Type.String(), Type.Null()]),
  connections: Type.Integer(),
  streams: Type.Array(Type.String()),
  created_at: Type.String(),
  updated_at: Type.String(),
});
const IdParams = Type.Object({ id: Type.Integer({ minimum: 1 }) });
const Login = Type.Object({ username: Type.String({ minLength: 1 }), password: Type.String({ minLength: 1 }) }, { additionalProperties: false });

type Role = 'admin' | 'operator' | 'viewer';
interface TokenUser { sub: string; role: Role }

declare module '@fastify/jwt' {
  interface FastifyJWT { payload: TokenUser; user: TokenUser }
}

export interface AppOptions {
  db: Kysely<DB>;
  servers: ServerManager;
  jwtSecret: string;
  tokenTtl?: string;
  logger?: boolean;
}

export async function buildApp(o: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({ logger: o.logger ?? false, ajv: { customOptions: { allErrors: true, coerceTypes: 'array', removeAdditional: false } } }).withTypeProvider<TypeBoxTypeProvider>();
  await app.register(swagger, { openapi: { info: { title: 'Sluice API', version: '0.1.0' }, components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } }, security: [{ bearer: [] }] } });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  await app.register(jwt, { secret: o.jwtSecret, sign: { expiresIn: o.tokenTtl ?? '12h' } });

  app.setErrorHandler((err: Error & { validation?: { instancePath: string; message?: string; params?: Record<string, unknown> }[]; statusCode?: number }, _req, reply) => {
    if (err.validation) {
      const errors = err.validation.map((v) => ({
        field: (v.instancePath.replace(/^\//, '').replace(/\//g, '.') || String(v.params?.['missingProperty'] ?? v.params?.['additionalProperty'] ?? '')),
        message: v.message ?? 'invalid',
      }));
      return reply.code(400).send({ code: 'API_ERR_VALIDATION', message: `invalid request: ${errors.map((e) => `${e.field} ${e.message}`).join('; ')}`, errors });
    }
    if (err instanceof ConflictError) return reply.code(409).send({ code: err.code, message: err.message });
    if (err instanceof NotFoundError) return reply.code(404).send({ code: err.code, message: err.message });
    if (err instanceof RangeError) return reply.code(400).send({ code: 'API_ERR_VALIDATION', message: err.message, errors: [] });
    const status = err.statusCode ?? 500;
    return reply.code(status).send({ code: status === 401 ? 'API_ERR_UNAUTHORIZED' : 'API_ERR_INTERNAL', message: err.message });
  });

  // Authorization: Bearer … or x-access-token: … (Callaba's header)
  const authenticate = async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const alt = req.headers['x-access-token'];
    if (!req.headers.authorization && typeof alt === 'string') req.headers.authorization = `Bearer ${alt}`;
    try {
      await req.jwtVerify();
    } catch {
      await reply.code(401).send({ code: 'API_ERR_UNAUTHORIZED', message: 'a valid token is required (POST /api/v1/auth/login)' });
    }
  };
  const requireRole = (...roles: Role[]) => async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (!roles.includes(req.user.role)) await reply.code(403).send({ code: 'API_ERR_FORBIDDEN', message: `role ${req.user.role} may not do this` });
  };
  const write = { onRequest: [authenticate, requireRole('admin', 'operator')] };
  const read = { onRequest: [authenticate] };

  app.get('/healthz', { schema: { security: [], response: { 200: Type.Object({ status: Type.String() }) } } }, async () => ({ status: 'ok' }));
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  const failures = new Map<string, { n: number; until: number }>();
  app.post('/api/v1/auth/login', { schema: { security: [], body: Login, response: { 200: Type.Object({ token: Type.String(), role: Type.String() }), 401: ErrorBody, 429: ErrorBody } } }, async (req, reply) => {
    const f = failures.get(req.ip);
    if (f && f.n >= 5 && f.until > Date.now()) return reply.code(429).send({ code: 'API_ERR_RATE_LIMITED', message: 'too many failed logins; try again in a minute' });
    const u = await o.db.selectFrom('users').selectAll().where('username', '=', req.body.username).executeTakeFirst();
    if (!u || !(await verifyPassword(req.body.password, u.password_hash))) {
      const cur = failures.get(req.ip);
      failures.set(req.ip, { n: (cur && cur.until > Date.now() ? cur.n : 0) + 1, until: Date.now() + 60_000 });
      return reply.code(401).send({ code: 'API_ERR_BAD_CREDENTIALS', message: 'wrong username or password' });
    }
    failures.delete(req.ip);
    return { token: app.jwt.sign({ sub: u.username, role: u.role }), role: u.role };
  });

  const views = { 200: ServerView, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody };
  app.get('/api/v1/servers', { ...read, schema: { response: { 200: Type.Array(ServerView), 401: ErrorBody } } }, async () => o.servers.list());
  app.get('/api/v1/servers/:id', { ...read, schema: { params: IdParams, response: views } }, async (req) => o.servers.get(req.params.id));
  app.post('/api/v1/servers', { ...write, schema: { body: ServerCreate, response: { ...views, 201: ServerView } } }, async (req, reply) => {
    const s = await o.servers.create(req.body as Static<typeof ServerCreate>);
    return reply.code(201).send(s);
  });
  app.patch('/api/v1/servers/:id', { ...write, schema: { params: IdParams, body: ServerUpdate, response: { ...views, 200: Type.Object({ server: ServerView, restarted: Type.Boolean() }) } } },
    async (req) => o.servers.update(req.params.id, req.body as Static<typeof ServerUpdate>));
  app.delete('/api/v1/servers/:id', { ...write, schema: { params: IdParams, response: { 204: Type.Null(), 404: ErrorBody, 401: ErrorBody, 403: ErrorBody } } }, async (req, reply) => {
    await o.servers.remove(req.params.id);
    return reply.code(204).send(null);
  });
  app.post('/api/v1/servers/:id/start', { ...write, schema: { params: IdParams, response: views } }, async (req) => o.servers.start(req.params.id));
  app.post('/api/v1/servers/:id/stop', { ...write, schema: { params: IdParams, response: views } }, async (req) => o.servers.stop(req.params.id));
  app.post('/api/v1/servers/:id/restart', { ...write, schema: { params: IdParams, response: views } }, async (req) => {
    await o.servers.stop(req.params.id);
    return o.servers.start(req.params.id);
  });
  // live streams and connections of a running server
  const ConnView = Type.Object({ id: Type.Integer(), role: Type.String(), stream: Type.String(), peer: Type.String(), streamId: Type.String(), connectedAt: Type.Number(), stats: Type.Record(Type.String(), Type.Number()) });
  const StreamView = Type.Object({ name: Type.String(), publisher: Type.Union([ConnView, Type.Null()]), players: Type.Array(ConnView), messages: Type.Integer(), bytes: Type.Integer() });
  app.get('/api/v1/servers/:id/streams', { ...read, schema: { params: IdParams, response: { 200: Type.Array(StreamView), 401: ErrorBody, 404: ErrorBody, 409: ErrorBody } } }, async (req) => {
    await o.servers.get(req.params.id);
    const rt = o.servers.runtime(req.params.id);
    if (!rt) throw new ConflictError(`server ${req.params.id} is not running`);
    return rt.stats() as unknown as Static<typeof StreamView>[];
  });
  app.delete('/api/v1/servers/:id/connections/:cid', {
    ...write,
    schema: { params: Type.Object({ id: Type.Integer({ minimum: 1 }), cid: Type.Integer({ minimum: 1 }) }), response: { 204: Type.Null(), 401: ErrorBody, 403: ErrorBody, 404: ErrorBody } },
  }, async (req, reply) => {
    const rt = o.servers.runtime(req.params.id);
    if (!rt || !rt.closeConnection(req.params.cid)) throw new NotFoundError(`connection ${req.params.cid} not found on server ${req.params.id}`);
    return reply.code(204).send(null);
  });
  return app;
}
