// The RX/TX gateway API of the RX/TX document, at the root: /v1/login, /v1/protected,
// /v1/add_rx … /v1/restart_tx, with its field names and response shapes.
import { Type, type TSchema } from '@sinclair/typebox';
import {
  checkSupported, documentStats, FIELDS, GatewayConfigError, groupMemberStats, isNumericField, normalizeConfig, STAT_FIELDS, UnsupportedError,
  type GatewayConfig, type GatewayKind,
} from '../../core/gateway-config.js';
import type { GatewayView } from '../../core/gateways.js';
import { ApiError, AsyncQuery, asTask, errors, IdParams, type App, type Guards } from '../common.js';
import type { AppContext } from '../context.js';
import { checkLogin, LoginLimiter } from './auth.js';
import { tokenClaims } from '../tokens.js';

const Login = Type.Object({ username: Type.String({ minLength: 1 }), password: Type.String({ minLength: 1 }) }, { additionalProperties: false });

/** Validation or "not supported yet" as API errors that list every field. */
export function toApiError(e: unknown): unknown {
  if (e instanceof GatewayConfigError) return new ApiError(400, e.code, `invalid gateway: ${e.message}`, e.errors);
  if (e instanceof UnsupportedError) return new ApiError(422, e.code, e.message, e.errors);
  return e;
}

/** Runs `fn`, rethrowing gateway validation errors as API errors. */
export async function withApiErrors<T>(fn: () => Promise<T> | T): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw toApiError(e);
  }
}

/**
 * Checks a body before it is queued, so that ?async=true callers also get 400/422 at once.
 * `lenient`: the other direction's fields are ignored (the /v1 compatibility routes).
 */
export function precheck(kind: GatewayKind, body: unknown, base?: GatewayConfig, lenient = false): void {
  try {
    checkSupported(kind, normalizeConfig(kind, body, base, { lenient }));
  } catch (e) {
    throw toApiError(e);
  }
}

function fieldSchema(name: string): TSchema {
  return isNumericField(name) ? Type.Number() : Type.String();
}

/** The response of get_rx/get_tx: Id, the fields, Status, ContainerId, statistics, Connected, Reconnections. */
function docSchema(kind: GatewayKind): TSchema {
  const props: Record<string, TSchema> = { Id: Type.Integer() };
  for (const f of FIELDS[kind]) props[f] = fieldSchema(f);
  props['Status'] = Type.Integer({ description: '1 running, 0 stopped' });
  props['ContainerId'] = Type.String({ description: 'id of the running instance; empty when stopped' });
  for (const f of STAT_FIELDS[kind]) props[f] = Type.Number();
  props['Connected'] = Type.Integer({ description: '0 disconnected, 1 connected, 2 waiting (listener) / connecting (caller)' });
  props['Reconnections'] = Type.Integer();
  const member: Record<string, TSchema> = {
    Ip: Type.String({ description: "the member's peer address" }),
    Port: Type.Integer(),
    Weight: Type.Integer({ description: 'main/backup priority (higher = preferred)' }),
    State: Type.String({ description: 'active, idle (backup standby), unstable or broken' }),
  };
  for (const f of STAT_FIELDS[kind]) member[f] = Type.Number();
  props['GroupMembers'] = Type.Optional(Type.Array(Type.Object(member), {
    description: 'GroupConnect = 1 and connected: each member connection of the group (bonding) with its own statistics, as the gateway\'s',
  }));
  return Type.Object(props);
}

/**
 * Request body: the document's fields (validated by normalizeConfig, which names every bad one).
 * As the original service did, fields it does not use are accepted: the other direction's
 * fields and the response-only ones (Id, Status, ContainerId, statistics) are ignored.
 */
function bodySchema(kind: GatewayKind): TSchema {
  const props: Record<string, TSchema> = {};
  for (const f of FIELDS[kind]) props[f] = Type.Optional(Type.Unknown({ description: isNumericField(f) ? 'number or numeric string' : 'string' }));
  const other = kind === 'rx' ? 'TX' : 'RX';
  return Type.Object(props, {
    additionalProperties: true,
    description: `the ${kind.toUpperCase()} fields; numbers may be sent as strings ("9001"). Fields of a ${other} gateway and response-only fields (Id, Status, ContainerId, Connected, Reconnections, statistics) are accepted and ignored; unknown names are refused (400 lists every bad field).`,
  });
}

export function documentView(ctx: AppContext, v: GatewayView): Record<string, unknown> {
  const out: Record<string, unknown> = { Id: v.id };
  for (const f of FIELDS[v.kind]) out[f] = v.config[f];
  out['Status'] = v.status === 'running' ? 1 : 0;
  out['ContainerId'] = v.instance;
  const rt = ctx.gateways.runtime(v.id);
  Object.assign(out, documentStats(v.kind, v.config, v.status === 'running', rt?.liveStats() ?? null, rt?.lastStats ?? null));
  out['Connected'] = v.connected;
  out['Reconnections'] = v.reconnections;
  if (v.config['GroupConnect'] === 1) out['GroupMembers'] = groupMemberStats(v.kind, v.config, rt?.groupStats() ?? null);
  return out;
}

function registerKind(app: App, ctx: AppContext, g: Guards, kind: GatewayKind): void {
  const tags = ['rx/tx'];
  const K = kind.toUpperCase();
  const Doc = docSchema(kind);
  const Body = bodySchema(kind);
  const view = async (id: number): Promise<Record<string, unknown>> => documentView(ctx, await ctx.gateways.get(id, kind));

  app.post(`/v1/add_${kind}`, { ...g.write, schema: { tags, summary: `Add (and start) a ${K} gateway`, querystring: AsyncQuery, body: Body, response: { 201: Doc, 202: Type.Unknown(), ...errors(400, 401, 403, 409, 422) } } },
    async (req, reply) => {
      precheck(kind, req.body, undefined, true);
      return asTask(ctx, req, reply, `gateway.create`, 'gateways', () => withApiErrors(async () => documentView(ctx, await ctx.gateways.create(kind, req.body, true, { lenient: true }))), 201);
    });
  app.put(`/v1/update_${kind}/:id`, { ...g.write, schema: { tags, summary: `Update a ${K} gateway (a running one restarts)`, params: IdParams, querystring: AsyncQuery, body: Body, response: { 200: Doc, 202: Type.Unknown(), ...errors(400, 401, 403, 404, 409, 422) } } },
    async (req, reply) => {
      const cur = await ctx.gateways.get(req.params.id, kind);
      precheck(kind, req.body, cur.config, true);
      return asTask(ctx, req, reply, 'gateway.update', `gateway:${kind}:${cur.id}`,
        () => withApiErrors(async () => documentView(ctx, (await ctx.gateways.update(cur.id, req.body, { kind, lenient: true })).gateway)));
    });
  app.delete(`/v1/delete_${kind}/:id`, { ...g.write, schema: { tags, summary: `Stop and delete a ${K} gateway`, params: IdParams, querystring: AsyncQuery, response: { 200: Type.Object({ Id: Type.Integer(), Deleted: Type.Integer() }), 202: Type.Unknown(), ...errors(401, 403, 404) } } },
    async (req, reply) => {
      const id = req.params.id;
      await ctx.gateways.get(id, kind);
      return asTask(ctx, req, reply, 'gateway.delete', `gateway:${kind}:${id}`, async () => {
        await ctx.gateways.remove(id, kind);
        return { Id: id, Deleted: 1 };
      });
    });
  app.get(`/v1/get_${kind}`, { ...g.read, schema: { tags, summary: `All ${K} gateways with their state and statistics`, response: { 200: Type.Array(Doc), ...errors(401) } } },
    async () => (await ctx.gateways.list(kind)).map((v) => documentView(ctx, v)));
  app.get(`/v1/get_${kind}/:id`, { ...g.read, schema: { tags, summary: `One ${K} gateway`, params: IdParams, response: { 200: Doc, ...errors(401, 404) } } },
    async (req) => view(req.params.id));
  for (const action of ['start', 'stop', 'restart'] as const) {
    app.post(`/v1/${action}_${kind}/:id`, { ...g.write, schema: { tags, summary: `${action[0]!.toUpperCase()}${action.slice(1)} a ${K} gateway`, params: IdParams, querystring: AsyncQuery, response: { 200: Doc, 202: Type.Unknown(), ...errors(401, 403, 404) } } },
      async (req, reply) => {
        const id = req.params.id;
        await ctx.gateways.get(id, kind);
        return asTask(ctx, req, reply, `gateway.${action}`, `gateway:${kind}:${id}`, async () => {
          if (action === 'stop') await ctx.gateways.stop(id, kind);
          else if (action === 'restart') await ctx.gateways.restart(id, kind);
          else await ctx.gateways.start(id, kind);
          return view(id);
        });
      });
  }
}

export function registerRxTxRoutes(app: App, ctx: AppContext, g: Guards, limiter = new LoginLimiter()): void {
  app.post('/v1/login', {
    schema: { tags: ['rx/tx'], summary: 'Log in (RX/TX document): a JWT and its expiry as an HTTP date', security: [], body: Login, response: { 200: Type.Object({ jwt: Type.String(), exp: Type.String() }), ...errors(400, 401, 429) } },
  }, async (req) => {
    const u = await checkLogin(ctx, limiter, req.ip, req.body.username, req.body.password);
    const jwt = app.jwt.sign(tokenClaims(u));
    const exp = (app.jwt.decode<{ exp: number }>(jwt)?.exp ?? 0) * 1000;
    return { jwt, exp: new Date(exp).toUTCString() };
  });
  app.get('/v1/protected', { ...g.read, schema: { tags: ['rx/tx'], summary: 'Checks the token', response: { 200: Type.Object({ 'Granted Access': Type.String() }), ...errors(401) } } },
    async (req) => ({ 'Granted Access': req.user.sub }));
  registerKind(app, ctx, g, 'rx');
  registerKind(app, ctx, g, 'tx');
}
