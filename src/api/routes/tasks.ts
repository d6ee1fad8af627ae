// GET /api/v1/tasks[/:id]: the API queue and its history.
import { Type } from '@sinclair/typebox';
import { errors, IdParams, TaskSchema, type App, type Guards } from '../common.js';
import type { AppContext } from '../context.js';

export function registerTaskRoutes(app: App, ctx: AppContext, g: Guards): void {
  const Query = Type.Object({
    status: Type.Optional(Type.Union([Type.Literal('queued'), Type.Literal('running'), Type.Literal('done'), Type.Literal('failed')])),
    kind: Type.Optional(Type.String()),
    target: Type.Optional(Type.String()),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 50 })),
    offset: Type.Optional(Type.Integer({ minimum: 0, default: 0 })),
  }, { additionalProperties: false });
  app.get('/api/v1/tasks', { ...g.read, schema: { tags: ['tasks'], summary: 'API queue: tasks, newest first', querystring: Query, response: { 200: Type.Object({ items: Type.Array(TaskSchema), total: Type.Integer() }), ...errors(400, 401) } } },
    async (req) => ctx.tasks.list(req.query));
  app.get('/api/v1/tasks/:id', { ...g.read, schema: { tags: ['tasks'], summary: 'One task with its status, result or error', params: IdParams, response: { 200: TaskSchema, ...errors(401, 404) } } },
    async (req) => ctx.tasks.get(req.params.id));
}
