// Callaba compatibility API: the routes of Callaba Cloud's SRT server tutorial at the root
// (POST /auth/login, /servers/create|update|remove|start|stop, /servers/getAllByType, /servers/getById)
// with Callaba's field names and units, over the same ServerManager and task queue as /api/v1.
//
// Differences from the native API that a Callaba client sees:
// - server_timeout is in SECONDS here ("Thread timeout in seconds"); the store and /api/v1 keep ms.
// - ids come back as `_id` (a string, as Callaba's document ids are) and `id` (the integer);
//   either is accepted as `id` or `_id` in requests.
// - every answer is the server object itself (with server_name_code), not wrapped.
// - a server object read back may be sent to create or update: its read-only fields (_id/id on
//   create, server_name_code, status, …) are ignored; numbers and booleans may come as strings
//   ("1935", "true"). Callaba server fields Sluice does not implement are refused by name (they
//   change what the server does; ignoring them would run something else than was asked).
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import type { ServerInput, ServerView } from '../../core/servers.js';
import { ApiError, asTask, errors, type App, type Guards } from '../common.js';
import type { AppContext } from '../context.js';
import { checkLogin, LoginLimiter } from './auth.js';
import { tokenClaims } from '../tokens.js';
import { keepMaskedSecrets, ServerFields, ServerSettings } from './servers.js';

export const SERVER_TYPE_SRT = 'SERVER_TYPE_SRT';
/** The native API's default server_type; every Sluice server is an SRT server. */
const NATIVE_DEFAULT_TYPE = 'SERVER';

const MS_PER_S = 1000;

const CallabaFields = {
  server_name: { ...ServerFields.server_name, description: 'unique; letters, digits, _ . - and single inner spaces ("Awesome SRT server")' },
  server_type: Type.Literal(SERVER_TYPE_SRT, { description: 'SERVER_TYPE_SRT: an SRT server (routing publisher/{code}/… to receiver/{code}/…)' }),
  server_port: ServerFields.server_port,
  server_latency: Type.Integer({ minimum: 0, maximum: 65535, description: 'SRT latency, ms (recommended: 4 × RTT, at least 120)' }),
  server_maxbw: Type.Integer({ minimum: -1, description: 'maximum bandwidth, bytes/s; -1 = unlimited (1 Gbit/s)' }),
  server_timeout: Type.Number({ minimum: 1, maximum: 3600, description: 'peer idle timeout, SECONDS (Callaba unit; stored as ms)' }),
  server_rcvbuf: Type.Integer({ minimum: 47104, maximum: 2147483647, description: 'receiver buffer, bytes (48234496 recommended for 4K)' }),
  server_active: Type.Boolean({ description: 'start now / keep running' }),
  settings: { ...ServerSettings, description: 'Sluice extension: passphrase, accessMode, users, limits, … (as in /api/v1/servers)' },
};
type CallabaFieldName = keyof typeof CallabaFields;

/** Output fields a client may send back unchanged in a create or an update (read-only: ignored). */
const READ_ONLY = ['server_name_code', 'status', 'error', 'connections', 'streams', 'created_at', 'updated_at', 'restarted', 'removed'] as const;
const ReadOnlyFields = Object.fromEntries(READ_ONLY.map((k) => [k, Type.Optional(Type.Unknown({ description: 'read-only, ignored' }))])) as Record<(typeof READ_ONLY)[number], TSchema>;

const IdValue = Type.Union([Type.Integer({ minimum: 1 }), Type.String({ pattern: '^[1-9][0-9]{0,15}$' })], { description: 'server id (the `id` or `_id` of a server object)' });
const IdFields = { id: Type.Optional(IdValue), _id: Type.Optional(IdValue) };

const CreateBody = Type.Object({
  server_name: CallabaFields.server_name,
  server_type: Type.Optional(CallabaFields.server_type),
  server_port: CallabaFields.server_port,
  server_latency: Type.Optional(CallabaFields.server_latency),
  server_maxbw: Type.Optional(CallabaFields.server_maxbw),
  server_timeout: Type.Optional(CallabaFields.server_timeout),
  server_rcvbuf: Type.Optional(CallabaFields.server_rcvbuf),
  server_active: Type.Optional(CallabaFields.server_active),
  settings: Type.Optional(CallabaFields.settings),
  // a server object read back (getById) may be sent to create a copy: its id and outputs are ignored
  _id: Type.Optional(Type.Unknown({ description: 'read-only, ignored (a new id is given)' })),
  id: Type.Optional(Type.Unknown({ description: 'read-only, ignored (a new id is given)' })),
  ...ReadOnlyFields,
}, { additionalProperties: false });
const UpdateBody = Type.Object({
  ...IdFields,
  server_name: Type.Optional(CallabaFields.server_name),
  server_type: Type.Optional(CallabaFields.server_type),
  server_port: Type.Optional(CallabaFields.server_port),
  server_latency: Type.Optional(CallabaFields.server_latency),
  server_maxbw: Type.Optional(CallabaFields.server_maxbw),
  server_timeout: Type.Optional(CallabaFields.server_timeout),
  server_rcvbuf: Type.Optional(CallabaFields.server_rcvbuf),
  server_active: Type.Optional(CallabaFields.server_active),
  settings: Type.Optional(CallabaFields.settings),
  ...ReadOnlyFields,
}, { additionalProperties: false });
const IdBody = Type.Object(IdFields, { additionalProperties: false });
const TypeFilter = Type.Object({ server_type: Type.Optional(Type.String({ maxLength: 32, description: 'only servers of this type (SERVER_TYPE_SRT)' })) }, { additionalProperties: false });
const Login = Type.Object({
  username: Type.Optional(Type.String({ minLength: 1 })),
  email: Type.Optional(Type.String({ minLength: 1, description: 'Callaba Engine name of the username field' })),
  password: Type.String({ minLength: 1 }),
}, { additionalProperties: false });

export const CallabaServer = Type.Object({
  _id: Type.String({ description: 'the id as a string (Callaba document id)' }),
  id: Type.Integer(),
  server_name: Type.String(),
  server_name_code: Type.String({ description: 'the {code} of publisher/{code}/… and receiver/{code}/… stream ids' }),
  server_type: Type.String(),
  server_port: Type.Integer(),
  server_latency: Type.Integer({ description: 'ms' }),
  server_maxbw: Type.Integer({ description: 'bytes/s; -1 = unlimited' }),
  server_timeout: Type.Number({ description: 'seconds' }),
  server_rcvbuf: Type.Integer({ description: 'bytes' }),
  server_active: Type.Boolean(),
  settings: Type.Record(Type.String(), Type.Unknown()),
  status: Type.String({ description: 'running, stopped or failed' }),
  error: Type.Union([Type.String(), Type.Null()]),
  connections: Type.Integer(),
  streams: Type.Array(Type.String()),
  created_at: Type.String(),
  updated_at: Type.String(),
});
const Updated = Type.Object({ ...CallabaServer.properties, restarted: Type.Boolean({ description: 'the server was running and was restarted: its peers were disconnected' }) });
const Removed = Type.Object({ ...CallabaServer.properties, removed: Type.Boolean() });

export function callabaView(v: ServerView): Static<typeof CallabaServer> {
  return {
    _id: String(v.id),
    id: v.id,
    server_name: v.server_name,
    server_name_code: v.server_name_code,
    server_type: callabaType(v.server_type),
    server_port: v.server_port,
    server_latency: v.server_latency,
    server_maxbw: v.server_maxbw,
    server_timeout: v.server_timeout / MS_PER_S,
    server_rcvbuf: v.server_rcvbuf,
    server_active: v.server_active,
    settings: v.settings,
    status: v.status,
    error: v.error,
    connections: v.connections,
    streams: v.streams,
    created_at: v.created_at,
    updated_at: v.updated_at,
  };
}

function callabaType(t: string): string {
  return t === NATIVE_DEFAULT_TYPE ? SERVER_TYPE_SRT : t;
}

type CallabaInput = Partial<Record<CallabaFieldName, unknown>>;

/** Callaba body → ServerManager input: seconds → ms, type defaulted. */
function toInput(b: CallabaInput): Partial<ServerInput> {
  const out: Partial<ServerInput> = {};
  if (b.server_name !== undefined) out.server_name = b.server_name as string;
  if (b.server_type !== undefined) out.server_type = b.server_type as string;
  if (b.server_port !== undefined) out.server_port = b.server_port as number;
  if (b.server_latency !== undefined) out.server_latency = b.server_latency as number;
  if (b.server_maxbw !== undefined) out.server_maxbw = b.server_maxbw as number;
  if (b.server_timeout !== undefined) out.server_timeout = Math.round((b.server_timeout as number) * MS_PER_S);
  if (b.server_rcvbuf !== undefined) out.server_rcvbuf = b.server_rcvbuf as number;
  if (b.server_active !== undefined) out.server_active = b.server_active as boolean;
  if (b.settings !== undefined) out.settings = b.settings as Record<string, unknown>;
  return out;
}

interface AjvError { instancePath: string; keyword?: string; message?: string; params?: Record<string, unknown> }

/**
 * A 400 listing every invalid field. Fields this API does not know get a message of their own
 * (Callaba has many more server fields than Sluice implements; they are refused, not ignored).
 */
function validationFailure(err: Error & { validation?: AjvError[]; validationContext?: string }, known: readonly string[]): ApiError {
  const seen = new Set<string>();
  const list: { field: string; message: string }[] = [];
  for (const v of err.validation ?? []) {
    const extra = v.keyword === 'additionalProperties' ? String(v.params?.['additionalProperty'] ?? '') : '';
    const path = v.instancePath.replace(/^\//, '').replace(/\//g, '.');
    const field = extra ? (path ? `${path}.${extra}` : extra) : path || String(v.params?.['missingProperty'] ?? '');
    let message: string;
    if (extra) message = `unsupported field "${extra}": Sluice does not implement it (supported: ${known.join(', ')})`;
    else if (v.keyword === 'const' && field === 'server_type') message = `must be "${SERVER_TYPE_SRT}"`;
    else if (field === 'id' || field === '_id') message = 'must be a server id (a positive integer, or the same as a string)';
    else message = v.message ?? 'invalid';
    // a union (id: integer | numeric string) reports each branch; one line per field and message
    const key = `${field}\u0000${message}`;
    if (seen.has(key) || v.keyword === 'anyOf') continue;
    seen.add(key);
    list.push({ field, message });
  }
  const unsupported = list.filter((e) => e.message.startsWith('unsupported field')).map((e) => e.field);
  const head = unsupported.length ? `unsupported field${unsupported.length > 1 ? 's' : ''} ${unsupported.map((f) => `"${f}"`).join(', ')}; ` : '';
  const rest = list.filter((e) => !e.message.startsWith('unsupported field'));
  return new ApiError(400, 'API_ERR_VALIDATION', `invalid request: ${head}${rest.map((e) => `${e.field} ${e.message}`).join('; ')}`.replace(/; $/, ''), list);
}

function check(req: FastifyRequest, known: readonly string[]): void {
  const e = (req as FastifyRequest & { validationError?: Error & { validation?: AjvError[] } }).validationError;
  if (e) throw validationFailure(e, known);
}

/** A POST without a body (curl -X POST …) is an empty object, not a validation error. */
export async function optionalBody(req: FastifyRequest): Promise<void> {
  if (req.body === undefined || req.body === null) req.body = {};
}

/** The server id of a request: `id` or `_id`, from the body or the query string. */
function idOf(...sources: unknown[]): number {
  for (const s of sources) {
    if (!s || typeof s !== 'object') continue;
    const o = s as { id?: unknown; _id?: unknown };
    const given = (x: unknown): boolean => x !== undefined && x !== null && x !== '';
    if (given(o.id) && given(o._id) && String(o.id) !== String(o._id)) {
      throw new ApiError(400, 'API_ERR_VALIDATION', `invalid request: id ${JSON.stringify(o.id)} and _id ${JSON.stringify(o._id)} name different servers`, [{ field: '_id', message: 'must be the same server as id' }]);
    }
    const v = given(o.id) ? o.id : o._id;
    if (given(v)) {
      const n = Number(v);
      if (Number.isSafeInteger(n) && n >= 1) return n;
      throw new ApiError(400, 'API_ERR_VALIDATION', `invalid request: id ${JSON.stringify(v)} is not a server id`, [{ field: 'id', message: 'must be a positive integer' }]);
    }
  }
  throw new ApiError(400, 'API_ERR_VALIDATION', 'invalid request: id (or _id) is required', [{ field: 'id', message: 'is required' }]);
}

export function registerCallabaRoutes(app: App, ctx: AppContext, g: Guards, limiter = new LoginLimiter()): void {
  const tags = ['callaba'];
  const writable = (keys: string[]): string[] => keys.filter((k) => !(READ_ONLY as readonly string[]).includes(k));
  const createKeys = writable(Object.keys(CreateBody.properties)).filter((k) => k !== 'id' && k !== '_id');
  const updateKeys = writable(Object.keys(UpdateBody.properties));
  const idKeys = Object.keys(IdBody.properties);
  const typeKeys = Object.keys(TypeFilter.properties);
  const one = { 200: CallabaServer, ...errors(400, 401, 403, 404, 409) };

  app.post('/auth/login', {
    attachValidation: true,
    schema: {
      tags, summary: 'Callaba login: a JWT to send as x-access-token', security: [], body: Login,
      response: { 200: Type.Object({ success: Type.Boolean(), token: Type.String(), 'x-access-token': Type.String(), role: Type.String(), expires_at: Type.String() }), ...errors(400, 401, 429) },
    },
  }, async (req) => {
    check(req, Object.keys(Login.properties));
    const username = req.body.username ?? req.body.email;
    if (!username) throw new ApiError(400, 'API_ERR_VALIDATION', 'invalid request: username (or email) is required', [{ field: 'username', message: 'is required' }]);
    const u = await checkLogin(ctx, limiter, req.ip, username, req.body.password);
    const token = app.jwt.sign(tokenClaims(u));
    const exp = (app.jwt.decode<{ exp: number }>(token)?.exp ?? 0) * 1000;
    return { success: true, token, 'x-access-token': token, role: u.role, expires_at: new Date(exp).toISOString() };
  });

  app.post('/servers/create', {
    ...g.write, attachValidation: true,
    schema: { tags, summary: 'Create (and start, unless server_active is false) an SRT server; server_timeout in seconds', body: CreateBody, response: one },
  }, async (req, reply) => {
    check(req, createKeys);
    const input = { ...toInput(req.body), server_type: req.body.server_type ?? SERVER_TYPE_SRT } as ServerInput;
    await asTask(ctx, req, reply, 'server.create', 'servers', async () => callabaView(await ctx.servers.create(input)));
    return reply;
  });

  app.post('/servers/update', {
    ...g.write, attachValidation: true,
    preValidation: keepMaskedSecrets(ctx, (req) => { const b = req.body as { id?: unknown; _id?: unknown } | null; return b?.id ?? b?._id; }),
    schema: { tags, summary: 'Update a server (id or _id plus the fields to change); a running server is stopped, its peers disconnected, and started again', body: UpdateBody, response: { ...one, 200: Updated } },
  }, async (req, reply) => {
    check(req, updateKeys);
    const id = idOf(req.body);
    await ctx.servers.get(id);
    const input = toInput(req.body);
    await asTask(ctx, req, reply, 'server.update', `server:${id}`, async () => {
      const r = await ctx.servers.update(id, input);
      return { ...callabaView(r.server), restarted: r.restarted };
    });
    return reply;
  });

  app.post('/servers/remove', {
    ...g.write, attachValidation: true,
    schema: { tags, summary: 'Stop a server, disconnect its streams and remove it', body: IdBody, response: { ...one, 200: Removed } },
  }, async (req, reply) => {
    check(req, idKeys);
    const id = idOf(req.body);
    const before = await ctx.servers.get(id);
    await asTask(ctx, req, reply, 'server.delete', `server:${id}`, async () => {
      await ctx.servers.remove(id);
      return { ...callabaView(before), status: 'stopped', server_active: false, connections: 0, streams: [], removed: true };
    });
    return reply;
  });

  for (const action of ['start', 'stop'] as const) {
    app.post(`/servers/${action}`, {
      ...g.write, attachValidation: true,
      schema: { tags, summary: action === 'start' ? 'Start a server: bind its UDP port and accept SRT callers' : 'Stop a server: disconnect its streams and release its port', body: IdBody, response: one },
    }, async (req, reply) => {
      check(req, idKeys);
      const id = idOf(req.body);
      await ctx.servers.get(id);
      await asTask(ctx, req, reply, `server.${action}`, `server:${id}`, async () => callabaView(action === 'start' ? await ctx.servers.start(id) : await ctx.servers.stop(id)));
      return reply;
    });
  }

  const listByType = async (type: string | undefined): Promise<Static<typeof CallabaServer>[]> => {
    const all = (await ctx.servers.list()).map(callabaView);
    return type ? all.filter((s) => s.server_type === type) : all;
  };
  const listSchema = (body: boolean) => ({
    tags, summary: 'All servers, optionally of one server_type', querystring: TypeFilter, ...(body ? { body: TypeFilter } : {}),
    response: { 200: Type.Array(CallabaServer), ...errors(400, 401) },
  });
  app.get('/servers/getAllByType', { ...g.read, attachValidation: true, schema: listSchema(false) }, async (req) => {
    check(req, typeKeys);
    return listByType(req.query.server_type);
  });
  app.post('/servers/getAllByType', { ...g.read, attachValidation: true, preValidation: optionalBody, schema: listSchema(true) }, async (req) => {
    check(req, typeKeys);
    return listByType((req.body as Static<typeof TypeFilter> | undefined)?.server_type ?? req.query.server_type);
  });

  const byIdSchema = (body: boolean) => ({
    tags, summary: 'One server by id (id or _id, in the query string or the body)', querystring: IdBody, ...(body ? { body: IdBody } : {}), response: one,
  });
  app.get('/servers/getById', { ...g.read, attachValidation: true, schema: byIdSchema(false) }, async (req) => {
    check(req, idKeys);
    return callabaView(await ctx.servers.get(idOf(req.query)));
  });
  app.post('/servers/getById', { ...g.read, attachValidation: true, preValidation: optionalBody, schema: byIdSchema(true) }, async (req) => {
    check(req, idKeys);
    return callabaView(await ctx.servers.get(idOf(req.body, req.query)));
  });
}

