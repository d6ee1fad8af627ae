// /api/v1/servers/:id/routes, /api/v1/routes and /api/v1/recordings: re-streaming routes of a
// server (pull, push, UDP in/out, recording) and the MPEG-TS files recordings write.
import { createReadStream } from 'node:fs';
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyReply } from 'fastify';
import { normalizeRoute, RouteConfigError, type RouteKind } from '../../core/route-config.js';
import type { RouteView } from '../../core/routes.js';
import { ApiError, AsyncQuery, asTask, errors, IdParams, type App, type Guards } from '../common.js';
import type { AppContext } from '../context.js';

const Kind = Type.Union([Type.Literal('pull'), Type.Literal('push'), Type.Literal('udp-in'), Type.Literal('udp-out'), Type.Literal('record')]);
const Config = Type.Record(Type.String(), Type.Unknown(), {
  description: 'pull/push: url (srt://host:port?latency=…&streamid=… to call, srt://:port to listen, srt://host:port?mode=rendezvous&port=local to meet a rendezvous peer), passphrase; '
    + 'udp-in: url (udp://address:port, a multicast group with ?source=, ?adapter=), chunk ("ts": 7×188-byte messages, default; "datagram"); '
    + 'udp-out: url (udp://host:port?ttl=&adapter=); '
    + 'record: segment_seconds (default 600), retain_hours, max_bytes (the oldest finished files are deleted beyond them)',
});
const RouteCreate = Type.Object({
  kind: Kind,
  name: Type.String({ description: '1 to 64 characters, unique on the server' }),
  stream: Type.String({ description: 'the server stream: pull and udp-in publish it; push, udp-out and record read it' }),
  config: Type.Optional(Config),
  active: Type.Optional(Type.Boolean({ description: 'run it (default true): it starts now if its server runs, else with its server' })),
}, { additionalProperties: false });
const RouteUpdate = Type.Object({
  name: Type.Optional(Type.String()),
  stream: Type.Optional(Type.String()),
  config: Type.Optional(Config),
  active: Type.Optional(Type.Boolean()),
}, { additionalProperties: false });
const RidParams = Type.Object({ rid: Type.Integer({ minimum: 1 }) });

export const RouteViewSchema = Type.Object({
  id: Type.Integer(),
  server_id: Type.Integer(),
  kind: Kind,
  name: Type.String(),
  stream: Type.String(),
  config: Type.Record(Type.String(), Type.Union([Type.String(), Type.Number()]), { description: 'passphrase shown as ***' }),
  active: Type.Boolean(),
  status: Type.Union([Type.Literal('running'), Type.Literal('stopped'), Type.Literal('failed')]),
  error: Type.Union([Type.String(), Type.Null()], { description: 'why it failed' }),
  server_running: Type.Boolean({ description: 'an active route whose server is stopped starts with it' }),
  connected: Type.Boolean({ description: 'SRT peer connected (pull/push), or data flowing in the last 5 s (UDP, record)' }),
  peer: Type.Union([Type.String(), Type.Null()]),
  reconnections: Type.Integer(),
  link_error: Type.Union([Type.String(), Type.Null()], { description: 'why the outside leg is not up: dial failure, stream already published' }),
  messages: Type.Integer(),
  bytes: Type.Integer({ description: 'payload bytes carried (recorded)' }),
  dropped: Type.Integer({ description: 'messages not carried: no peer, sender overloaded, stream busy, waiting for a keyframe' }),
  srt: Type.Union([Type.Record(Type.String(), Type.Number()), Type.Null()], { description: 'libsrt statistics of the SRT connection (pull/push)' }),
  recording: Type.Union([Type.Object({ path: Type.String(), started_at: Type.String(), bytes: Type.Integer() }), Type.Null()], { description: 'the file being written (record)' }),
  created_at: Type.String(),
  updated_at: Type.String(),
});

export const RecordingSchema = Type.Object({
  id: Type.Integer(),
  route_id: Type.Union([Type.Integer(), Type.Null()], { description: 'null once its route is deleted' }),
  server_id: Type.Integer(),
  stream: Type.String(),
  path: Type.String(),
  file_name: Type.String(),
  started_at: Type.String(),
  ended_at: Type.Union([Type.String(), Type.Null()]),
  bytes: Type.Integer(),
  status: Type.Union([Type.Literal('recording'), Type.Literal('complete'), Type.Literal('interrupted')], { description: 'interrupted: Sluice stopped without closing it' }),
});
const RecordingQuery = Type.Object({
  server_id: Type.Optional(Type.Integer({ minimum: 1 })),
  stream: Type.Optional(Type.String()),
  route_id: Type.Optional(Type.Integer({ minimum: 1 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000, default: 1000 })),
  offset: Type.Optional(Type.Integer({ minimum: 0, default: 0 })),
}, { additionalProperties: false });

/** Validation errors as a 400 that lists every field. */
function toApiError(e: unknown): unknown {
  return e instanceof RouteConfigError ? new ApiError(400, e.code, `invalid route: ${e.message}`, e.errors) : e;
}

async function withApiErrors<T>(fn: () => Promise<T> | T): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw toApiError(e);
  }
}

/** `bytes=a-b`, `bytes=a-`, `bytes=-n` (one range) → inclusive offsets; 'bad' if unsatisfiable; null if absent or not understood. */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | 'bad' | null {
  if (!header) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return null; // several ranges or junk: answer the whole file (RFC 9110 allows it)
  let start: number;
  let end: number;
  if (m[1] === '') {
    const n = Number(m[2]);
    if (n === 0) return 'bad';
    start = Math.max(0, size - n);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start >= size || start > end) return 'bad';
  return { start, end };
}

export function registerRouteRoutes(app: App, ctx: AppContext, g: Guards): void {
  const tags = ['routes'];
  const views = { 200: RouteViewSchema, 202: Type.Unknown(), ...errors(400, 401, 403, 404, 409) };
  const asView = (v: RouteView): Static<typeof RouteViewSchema> => v as unknown as Static<typeof RouteViewSchema>;

  app.get('/api/v1/servers/:id/routes', { ...g.read, schema: { tags, summary: 'Routes of a server with their state and counters', params: IdParams, response: { 200: Type.Array(RouteViewSchema), ...errors(401, 404) } } },
    async (req) => (await ctx.routes.list(req.params.id)).map(asView));
  app.post('/api/v1/servers/:id/routes', {
    ...g.write,
    schema: { tags, summary: 'Create a route (pull, push, udp-in, udp-out, record); it starts now if active and its server runs', params: IdParams, querystring: AsyncQuery, body: RouteCreate, response: { ...views, 201: RouteViewSchema } },
  }, async (req, reply) => {
    const b = req.body;
    await ctx.servers.get(req.params.id);
    await withApiErrors(() => normalizeRoute({ ...b, kind: b.kind as RouteKind }, ctx.routes.routeLimits)); // 400 before queuing
    return asTask(ctx, req, reply, 'route.create', 'routes',
      () => withApiErrors(async () => asView(await ctx.routes.create(req.params.id, { ...b, kind: b.kind as RouteKind }, b.active !== false))), 201);
  });
  app.get('/api/v1/routes', { ...g.read, schema: { tags, summary: 'Routes of every server', querystring: Type.Object({ server_id: Type.Optional(Type.Integer({ minimum: 1 })) }), response: { 200: Type.Array(RouteViewSchema), ...errors(401, 404) } } },
    async (req) => (await ctx.routes.list(req.query.server_id)).map(asView));
  app.get('/api/v1/routes/:rid', { ...g.read, schema: { tags, summary: 'One route', params: RidParams, response: views } },
    async (req) => asView(await ctx.routes.get(req.params.rid)));
  app.patch('/api/v1/routes/:rid', {
    ...g.write,
    schema: { tags, summary: 'Update a route (config fields are merged; kind cannot change); a running one restarts', params: RidParams, querystring: AsyncQuery, body: RouteUpdate, response: { ...views, 200: Type.Object({ route: RouteViewSchema, restarted: Type.Boolean() }) } },
  }, async (req, reply) => {
    const id = req.params.rid;
    await withApiErrors(() => ctx.routes.validateUpdate(id, req.body));
    return asTask(ctx, req, reply, 'route.update', `route:${id}`, () => withApiErrors(async () => {
      const r = await ctx.routes.update(id, req.body);
      return { route: asView(r.route), restarted: r.restarted };
    }));
  });
  app.delete('/api/v1/routes/:rid', { ...g.write, schema: { tags, summary: 'Stop and delete a route; its recordings are kept (route_id becomes null)', params: RidParams, querystring: AsyncQuery, response: { 204: Type.Null(), 202: Type.Unknown(), ...errors(401, 403, 404) } } },
    async (req, reply) => {
      await ctx.routes.get(req.params.rid);
      return asTask(ctx, req, reply, 'route.delete', `route:${req.params.rid}`, () => ctx.routes.remove(req.params.rid), 204);
    });
  for (const action of ['start', 'stop', 'restart'] as const) {
    app.post(`/api/v1/routes/:rid/${action}`, { ...g.write, schema: { tags, summary: `${action[0]!.toUpperCase()}${action.slice(1)} a route`, params: RidParams, querystring: AsyncQuery, response: views } },
      async (req, reply) => {
        const id = (req.params as { rid: number }).rid;
        await ctx.routes.get(id);
        return asTask(ctx, req, reply, `route.${action}`, `route:${id}`, async () => asView(
          action === 'stop' ? await ctx.routes.stop(id) : action === 'restart' ? await ctx.routes.restart(id) : await ctx.routes.start(id)));
      });
  }

  const rtags = ['recordings'];
  app.get('/api/v1/recordings', { ...g.read, schema: { tags: rtags, summary: 'Recorded MPEG-TS files, oldest first', querystring: RecordingQuery, response: { 200: Type.Array(RecordingSchema), ...errors(400, 401) } } },
    async (req) => ctx.routes.listRecordings(req.query));
  app.get('/api/v1/recordings/:id', { ...g.read, schema: { tags: rtags, summary: 'One recording', params: IdParams, response: { 200: RecordingSchema, ...errors(401, 404) } } },
    async (req) => ctx.routes.getRecording(req.params.id));
  app.get('/api/v1/recordings/:id/download', {
    ...g.read,
    schema: { tags: rtags, summary: 'The MPEG-TS file (video/mp2t); supports a single Range (a file being written is served up to its size now)', params: IdParams,
      response: {
        200: { description: 'the whole file', content: { 'video/mp2t': { schema: Type.String({ format: 'binary' }) } } },
        206: { description: 'the requested range (Content-Range)', content: { 'video/mp2t': { schema: Type.String({ format: 'binary' }) } } },
        ...errors(401, 404, 416),
      } },
  }, async (req, typed) => {
    const reply = typed as FastifyReply; // a file stream or an error body, not the schema's string
    const f = await ctx.routes.recordingFile(req.params.id);
    const range = parseRange(req.headers.range, f.size);
    reply.header('accept-ranges', 'bytes').header('content-disposition', `attachment; filename="${f.name}"`);
    if (range === 'bad') {
      return reply.code(416).header('content-range', `bytes */${f.size}`).send({ code: 'API_ERR_RANGE', message: `range "${req.headers.range}" is outside the file (${f.size} bytes)` });
    }
    const { start, end } = range ?? { start: 0, end: f.size - 1 };
    if (range) reply.code(206).header('content-range', `bytes ${start}-${end}/${f.size}`);
    reply.header('content-type', 'video/mp2t').header('content-length', String(end - start + 1));
    if (f.size === 0) return reply.send(Buffer.alloc(0));
    return reply.send(createReadStream(f.path, { start, end }));
  });
  app.delete('/api/v1/recordings/:id', { ...g.write, schema: { tags: rtags, summary: 'Delete a recording and its file (not the one being written: 409)', params: IdParams, querystring: AsyncQuery, response: { 204: Type.Null(), 202: Type.Unknown(), ...errors(401, 403, 404, 409) } } },
    async (req, reply) => {
      await ctx.routes.getRecording(req.params.id);
      return asTask(ctx, req, reply, 'recording.delete', `recording:${req.params.id}`, () => ctx.routes.removeRecording(req.params.id), 204);
    });
}
