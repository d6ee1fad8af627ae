// Shared pieces of the route modules: error body, guards, and running a mutation as a task.
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest, RawReplyDefaultExpression, RawRequestDefaultExpression, RawServerDefault } from 'fastify';
import { Type, type TSchema } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { AppContext } from './context.js';
import type { TaskView } from '../core/tasks.js';
import { maskSecrets } from '../core/secrets.js';

export type App = FastifyInstance<RawServerDefault, RawRequestDefaultExpression, RawReplyDefaultExpression, FastifyBaseLogger, TypeBoxTypeProvider>;

export type Role = 'admin' | 'operator' | 'viewer';
export interface TokenUser {
  sub: string;
  role: Role;
  /** The user's id: a token whose user is gone (or was re-created) is refused. */
  uid?: number;
  /** The user's token_version when it was issued: a password change revokes older tokens. */
  tv?: number;
}

declare module '@fastify/jwt' {
  interface FastifyJWT { payload: TokenUser; user: TokenUser }
}

export const ErrorBody = Type.Object({
  code: Type.String(),
  message: Type.String(),
  errors: Type.Optional(Type.Array(Type.Object({ field: Type.String(), message: Type.String() }))),
}, { $id: 'Error' });

export const IdParams = Type.Object({ id: Type.Integer({ minimum: 1 }) });
export const AsyncQuery = Type.Object({ async: Type.Optional(Type.Boolean({ description: 'answer 202 with the queued task instead of waiting for it' })) });

export const TaskSchema = Type.Object({
  id: Type.Integer(),
  kind: Type.String(),
  target: Type.String(),
  status: Type.Union([Type.Literal('queued'), Type.Literal('running'), Type.Literal('done'), Type.Literal('failed')]),
  actor: Type.Union([Type.String(), Type.Null()]),
  params: Type.Unknown(),
  result: Type.Unknown(),
  error: Type.Union([Type.Object({ code: Type.String(), message: Type.String() }), Type.Null()]),
  created_at: Type.String(),
  started_at: Type.Union([Type.String(), Type.Null()]),
  finished_at: Type.Union([Type.String(), Type.Null()]),
});
export const Accepted = Type.Object({ task: TaskSchema });

/** Standard error responses for a route (merge with its own). */
export function errors(...codes: number[]): Record<number, TSchema> {
  const out: Record<number, TSchema> = {};
  for (const c of codes) out[c] = ErrorBody;
  return out;
}

export interface Guards {
  /** Any logged-in user. */
  read: { onRequest: ((req: FastifyRequest, reply: FastifyReply) => Promise<void>)[] };
  /** admin or operator. */
  write: { onRequest: ((req: FastifyRequest, reply: FastifyReply) => Promise<void>)[] };
  /** admin only. */
  admin: { onRequest: ((req: FastifyRequest, reply: FastifyReply) => Promise<void>)[] };
}

export class ApiError extends Error {
  constructor(readonly statusCode: number, readonly code: string, message: string, readonly errors?: { field: string; message: string }[], readonly headers?: Record<string, string>) {
    super(message);
  }
}

/**
 * Runs a mutation through the task queue. By default waits and answers with the result
 * (`status`, default 200); with `?async=true` answers 202 `{ task }` at once.
 */
export async function asTask<T>(ctx: AppContext, req: FastifyRequest, reply: FastifyReply, kind: string, target: string, fn: () => Promise<T>, status = 200): Promise<unknown> {
  const isAsync = (req.query as { async?: boolean } | undefined)?.async === true;
  const actor = req.user?.sub ?? null;
  const audited = async (): Promise<T> => {
    try {
      const r = await fn();
      // a creation on a collection ("servers") is audited on the resource it made ("server:7")
      const made = (r as { id?: unknown } | null)?.id;
      const on = !target.includes(':') && typeof made === 'number' ? `${target.replace(/s$/, '')}:${made}` : target;
      ctx.events.record({ type: kind, actor, target: on, message: `${kind} ${on}${actor ? ` by ${actor}` : ''}` });
      return r;
    } catch (e) {
      ctx.events.record({ type: kind, level: 'warn', actor, target, message: `${kind} ${target} failed: ${(e as Error).message}` });
      throw e;
    }
  };
  const h = await ctx.tasks.submit(kind, target, audited, { actor, params: redact(req.body ?? req.params ?? null) });
  if (isAsync) return reply.code(202).send({ task: h.task } satisfies { task: TaskView });
  const result = await h.done;
  if (status === 204) return reply.code(204).send(null);
  return reply.code(status).send(result);
}

/** Secrets never reach the task history: the queue masks params and results (core/secrets.ts). */
export function redact(v: unknown): unknown {
  return maskSecrets(v);
}
