// The REST API: Fastify + TypeBox schemas (OpenAPI 3 generated from them), JWT auth, and the
// route modules under routes/. Every mutating route runs through the task queue (common.asTask).
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import AjvCompiler from '@fastify/ajv-compiler';
import { SerializerSelector } from '@fastify/fast-json-stringify-compiler';
import jwt from '@fastify/jwt';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { Type } from '@sinclair/typebox';
import { sql } from 'kysely';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { ConflictError, NotFoundError } from '../core/servers.js';
import { ApiError, type App, type Guards, type Role } from './common.js';
import type { AppContext } from './context.js';
import { LoginLimiter, registerAuthRoutes } from './routes/auth.js';
import { registerServerRoutes } from './routes/servers.js';
import { registerTaskRoutes } from './routes/tasks.js';
import { registerEventRoutes } from './routes/events.js';
import { registerRxTxRoutes } from './routes/rxtx.js';
import { registerGatewayRoutes } from './routes/gateways.js';
import { registerMetricsRoutes } from './routes/metrics.js';
import { registerStatsRoutes } from './routes/stats.js';
import { registerCallabaRoutes } from './routes/callaba.js';
import { registerUtilRoutes } from './routes/utils.js';
import { registerRouteRoutes } from './routes/routes.js';
import { registerPreviewRoutes } from './routes/preview.js';
import { registerNodeRoutes } from './routes/nodes.js';
import { registerWeb } from './web.js';
import { maskSecrets, maskUrl, readsSecrets } from '../core/secrets.js';
import { TokenUsers } from './tokens.js';

export type { AppContext } from './context.js';
/** Kept for callers of the first version of the API. */
export type AppOptions = AppContext;

export const API_VERSION = '0.2.0';

export async function buildApp(ctx: AppContext): Promise<App> {
  const app = Fastify({
    // request URLs are logged with their secret query keys masked (a preview's ?token=)
    logger: ctx.logger ? { ...(ctx.logger === true ? {} : ctx.logger), serializers: { req: logRequest } } : false,
    ajv: { customOptions: { allErrors: true, coerceTypes: 'array', removeAdditional: false } },
    schemaController: { compilersFactory: { buildValidator: lazyValidators as never, buildSerializer: lazySerializers as never } },
  }).withTypeProvider<TypeBoxTypeProvider>();
  await app.register(swagger, {
    openapi: {
      info: { title: 'Sluice API', version: API_VERSION, description: 'SRT server and gateway control plane. Log in with POST /api/v1/auth/login and send the token as `Authorization: Bearer …` or `x-access-token`.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' }, accessToken: { type: 'apiKey', in: 'header', name: 'x-access-token' } } },
      security: [{ bearer: [] }, { accessToken: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  await app.register(jwt, { secret: ctx.jwtSecret, sign: { expiresIn: ctx.tokenTtl ?? '12h' } });

  app.setErrorHandler((err: Error & { validation?: { instancePath: string; message?: string; params?: Record<string, unknown> }[]; statusCode?: number; code?: string }, _req, reply) => {
    if (err.validation) {
      const errors = err.validation.map((v) => {
        // a missing or unknown property is named with its full path (settings.bogus)
        const path = v.instancePath.replace(/^\//, '').replace(/\//g, '.');
        const prop = v.params?.['missingProperty'] ?? v.params?.['additionalProperty'];
        return { field: prop === undefined ? path : path ? `${path}.${String(prop)}` : String(prop), message: v.message ?? 'invalid' };
      });
      return reply.code(400).send({ code: 'API_ERR_VALIDATION', message: `invalid request: ${errors.map((e) => `${e.field} ${e.message}`).join('; ')}`, errors });
    }
    if (err instanceof ApiError) {
      if (err.headers) void reply.headers(err.headers);
      return reply.code(err.statusCode).send({ code: err.code, message: err.message, ...(err.errors ? { errors: err.errors } : {}) });
    }
    if (err instanceof ConflictError) return reply.code(409).send({ code: err.code, message: err.message });
    if (err instanceof NotFoundError) return reply.code(404).send({ code: err.code, message: err.message });
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return reply.code(413).send({ code: 'API_ERR_TOO_LARGE', message: err.message });
    if (err instanceof RangeError && err.statusCode === undefined) {
      const field = /^([\w.[\]]+):/.exec(err.message)?.[1] ?? '';
      return reply.code(400).send({ code: 'API_ERR_VALIDATION', message: err.message, errors: [{ field, message: err.message }] });
    }
    const status = err.statusCode ?? 500;
    if (status >= 500) app.log.error(err);
    const code = typeof err.code === 'string' && err.code.startsWith('API_ERR_') ? err.code
      : status === 401 ? 'API_ERR_UNAUTHORIZED' : status === 404 ? 'API_ERR_NOT_FOUND' : status === 415 ? 'API_ERR_UNSUPPORTED_MEDIA_TYPE' : status === 400 ? 'API_ERR_BAD_REQUEST' : status === 413 ? 'API_ERR_TOO_LARGE' : status === 403 ? 'API_ERR_FORBIDDEN' : status < 500 ? 'API_ERR_BAD_REQUEST' : 'API_ERR_INTERNAL';
    return reply.code(status).send({ code, message: err.message });
  });
  // a path with a ".." segment (sent as is, or percent-encoded) names nothing here: 400 before any route or file lookup
  app.addHook('onRequest', async (req, reply) => {
    const path = req.raw.url?.split('?')[0] ?? '';
    if (DOT_SEGMENT.test(path)) await reply.code(400).send({ code: 'API_ERR_BAD_PATH', message: 'the path must not contain "." or ".." segments' });
  });
  // secrets (core/secrets.ts) read as "***" for every role but admin, in every answer, and
  // recording paths are relative to the recordings folder
  app.addHook('preSerialization', async (req, _reply, payload) => (req.user && !readsSecrets(req.user.role) ? maskSecrets(payload, ctx.routes.recordingsRoot) : payload));
  const dashboard = await registerWeb(app); // the web console at / (dist/web)
  app.setNotFoundHandler((req, reply) => (dashboard.fallback(req, reply) ? reply : reply.code(404).send({ code: 'API_ERR_NOT_FOUND', message: `no route ${req.method} ${req.url.split('?')[0]}` })));

  const users = new TokenUsers(ctx.db);
  // Authorization: Bearer … or x-access-token: … (Callaba's header)
  const authenticate = async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const alt = req.headers['x-access-token'];
    if (!req.headers.authorization && typeof alt === 'string') req.headers.authorization = `Bearer ${alt}`;
    try {
      await req.jwtVerify();
    } catch {
      await reply.code(401).send({ code: 'API_ERR_UNAUTHORIZED', message: 'a valid token is required (POST /api/v1/auth/login)' });
      return;
    }
    // the token's user must still exist with the same password; it acts with its current role
    const current = await users.resolve(req.user);
    if (!current) {
      await reply.code(401).send({ code: 'API_ERR_TOKEN_REVOKED', message: 'this token was revoked (its user was deleted or changed password): log in again' });
      return;
    }
    req.user = current;
  };
  const requireRole = (...roles: Role[]) => async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (!roles.includes(req.user.role)) await reply.code(403).send({ code: 'API_ERR_FORBIDDEN', message: `role ${req.user.role} may not do this` });
  };
  const guards: Guards = {
    read: { onRequest: [authenticate] },
    write: { onRequest: [authenticate, requireRole('admin', 'operator')] },
    admin: { onRequest: [authenticate, requireRole('admin')] },
  };

  const Health = Type.Object({
    status: Type.String({ description: 'ok; draining (scale-out: this node refuses new players, 503); error (the database does not answer, 503)' }),
    uptime: Type.Number(),
    node: Type.Optional(Type.String({ description: 'scale-out only: this node' })),
    error: Type.Optional(Type.String()),
  });
  app.get('/healthz', { schema: { security: [], summary: 'Health of this process (scale-out: of this node; 503 while it drains or cannot reach the database)', response: { 200: Health, 503: Health } } }, async (_req, reply) => {
    const node = ctx.node;
    if (!node) return { status: 'ok', uptime: process.uptime() };
    try {
      await sql`select 1`.execute(ctx.db);
    } catch (e) {
      return reply.code(503).send({ status: 'error', uptime: process.uptime(), node: node.name, error: `database: ${(e as Error).message}` });
    }
    if (node.draining) return reply.code(503).send({ status: 'draining', uptime: process.uptime(), node: node.name });
    return { status: 'ok', uptime: process.uptime(), node: node.name };
  });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  // one failed-login budget per client for every login route (native, RX/TX, Callaba)
  const logins = new LoginLimiter();
  registerAuthRoutes(app, ctx, guards, logins, users);
  registerServerRoutes(app, ctx, guards);
  registerTaskRoutes(app, ctx, guards);
  registerEventRoutes(app, ctx, guards);
  registerRxTxRoutes(app, ctx, guards, logins);
  registerGatewayRoutes(app, ctx, guards);
  registerMetricsRoutes(app, ctx, guards);
  registerStatsRoutes(app, ctx, guards);
  registerCallabaRoutes(app, ctx, guards, logins);
  registerUtilRoutes(app, ctx, guards);
  registerRouteRoutes(app, ctx, guards);
  registerNodeRoutes(app, ctx, guards);
  await registerPreviewRoutes(app, ctx, undefined, (claims) => users.resolve(claims));
  return app;
}

/** `.` or `..` as a path segment, also percent-encoded. */
const DOT_SEGMENT = /(^|\/)(\.|%2e){1,2}(\/|%2f|$)/i;

/** Fastify's request log line, with the URL's secret query keys masked. */
function logRequest(req: FastifyRequest): Record<string, unknown> {
  return { method: req.method, url: maskUrl(req.url), host: req.host, remoteAddress: req.ip, remotePort: req.socket?.remotePort };
}

// Fastify's own compilers (Ajv for requests, fast-json-stringify for responses), but each route's
// functions are compiled on its first request instead of at start-up: compiling ~80 routes'
// schemas took ~0.4 s of `sluice serve`'s start. Behaviour (coercion, defaults, formats, error
// lists) is exactly the default compilers'.
type RouteSchemaArgs = { schema: unknown; method: string; url: string; httpPart?: string; httpStatus?: string; contentType?: string };
type Validate = ((data: unknown) => unknown) & { errors?: unknown };

function lazyValidators(externalSchemas: unknown, options: unknown): (route: RouteSchemaArgs) => Validate {
  const build = (AjvCompiler as unknown as () => (e: unknown, o: unknown) => (r: RouteSchemaArgs) => Validate)()(externalSchemas, options);
  return (route) => {
    let compiled: Validate | null = null;
    const validate: Validate = (data) => {
      compiled ??= build(route);
      const ok = compiled(data);
      validate.errors = compiled.errors;
      return ok;
    };
    return validate;
  };
}

function lazySerializers(externalSchemas: unknown, options: unknown): (route: RouteSchemaArgs) => (data: unknown) => string {
  const build = (SerializerSelector as unknown as () => (e: unknown, o: unknown) => (r: RouteSchemaArgs) => (data: unknown) => string)()(externalSchemas, options);
  return (route) => {
    let compiled: ((data: unknown) => string) | null = null;
    return (data) => (compiled ??= build(route))(data);
  };
}
