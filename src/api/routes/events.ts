// GET /api/v1/events: the audit log, filterable and paginated.
import { Type } from '@sinclair/typebox';
import { errors, type App, type Guards } from '../common.js';
import type { AppContext } from '../context.js';

export const EventSchema = Type.Object({
  id: Type.Integer(),
  ts: Type.String(),
  type: Type.String(),
  level: Type.Union([Type.Literal('info'), Type.Literal('warn'), Type.Literal('error')]),
  actor: Type.Union([Type.String(), Type.Null()]),
  target: Type.Union([Type.String(), Type.Null()]),
  message: Type.String(),
  data: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]),
});

export function registerEventRoutes(app: App, ctx: AppContext, g: Guards): void {
  const Query = Type.Object({
    type: Type.Optional(Type.String({ description: 'exact type, or a prefix ending in "." (e.g. connection.)' })),
    level: Type.Optional(Type.Union([Type.Literal('info'), Type.Literal('warn'), Type.Literal('error')])),
    target: Type.Optional(Type.String({ description: 'e.g. server:1' })),
    actor: Type.Optional(Type.String()),
    since: Type.Optional(Type.String({ format: 'date-time' })),
    until: Type.Optional(Type.String({ format: 'date-time' })),
    q: Type.Optional(Type.String({ description: 'substring of the message' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
    offset: Type.Optional(Type.Integer({ minimum: 0, default: 0 })),
  }, { additionalProperties: false });
  app.get('/api/v1/events', { ...g.read, schema: { tags: ['events'], summary: 'Audit log, newest first', querystring: Query, response: { 200: Type.Object({ items: Type.Array(EventSchema), total: Type.Integer() }), ...errors(400, 401) } } },
    async (req) => ctx.events.list(req.query));
}
