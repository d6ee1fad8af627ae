// Login (JWT) and users with roles.
import { Type, type Static } from '@sinclair/typebox';
import { hashPassword, verifyPassword } from '../../core/passwords.js';
import { ApiError, AsyncQuery, asTask, errors, IdParams, type App, type Guards } from '../common.js';
import type { AppContext } from '../context.js';
import { tokenClaims, TokenUsers } from '../tokens.js';

const Login = Type.Object({ username: Type.String({ minLength: 1 }), password: Type.String({ minLength: 1 }) }, { additionalProperties: false });
const RoleSchema = Type.Union([Type.Literal('admin'), Type.Literal('operator'), Type.Literal('viewer')]);
const UserView = Type.Object({ id: Type.Integer(), username: Type.String(), role: RoleSchema, created_at: Type.String() });
const UserCreate = Type.Object({
  username: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.@-]+$' }),
  password: Type.String({ minLength: 8, maxLength: 256 }),
  role: RoleSchema,
}, { additionalProperties: false });
const UserUpdate = Type.Partial(Type.Object({ password: Type.String({ minLength: 8, maxLength: 256 }), role: RoleSchema }), { additionalProperties: false });

/** Login attempts per (client address, username): a burst of LOGIN_BURST, then one every LOGIN_REFILL_MS. */
export const LOGIN_BURST = 5;
export const LOGIN_REFILL_MS = 12_000;

/**
 * Login attempts, limited per (client address, username) by a token bucket: LOGIN_BURST attempts
 * at once, then one more every LOGIN_REFILL_MS (so at most 5 failures a minute in the long run).
 * An attempt takes its token before the asynchronous password check, so concurrent attempts
 * cannot exceed the budget; a correct password gives the token back and clears the pair.
 * The owner of an account is never locked out for long: even while somebody keeps guessing from
 * the same address, a correct password gets through within LOGIN_REFILL_MS (12 s) of trying —
 * instead of waiting out a minute-long ban. Failures for other usernames from the same address,
 * or for the same username from other addresses, never count.
 */
export class LoginLimiter {
  private readonly pairs = new Map<string, { tokens: number; at: number }>();

  private static key(ip: string, username: string): string {
    return `${ip}\u0000${username.slice(0, 256).toLowerCase()}`;
  }

  /** Takes a token for one attempt: a release function (true = the password was right), or the seconds to wait. */
  reserve(ip: string, username: string, now = Date.now()): ((ok: boolean) => void) | { retryAfter: number } {
    const k = LoginLimiter.key(ip, username);
    let p = this.pairs.get(k);
    if (!p) {
      p = { tokens: LOGIN_BURST, at: now };
      this.pairs.set(k, p);
      if (this.pairs.size > 100_000) this.prune(now);
    }
    p.tokens = Math.min(LOGIN_BURST, p.tokens + (now - p.at) / LOGIN_REFILL_MS);
    p.at = now;
    if (p.tokens < 1) return { retryAfter: Math.max(1, Math.ceil(((1 - p.tokens) * LOGIN_REFILL_MS) / 1000)) };
    p.tokens -= 1;
    const pair = p;
    let done = false;
    return (ok: boolean) => {
      if (done) return;
      done = true;
      if (ok && this.pairs.get(k) === pair) this.pairs.delete(k);
    };
  }

  private prune(now: number): void {
    for (const [k, v] of this.pairs) if (v.tokens + (now - v.at) / LOGIN_REFILL_MS >= LOGIN_BURST) this.pairs.delete(k);
  }
}

type UserRow = { id: number; username: string; role: 'admin' | 'operator' | 'viewer'; token_version: number };

/** Checks a username/password; records the login or the failure in the audit log. Shared by the compatibility logins. */
export async function checkLogin(ctx: AppContext, limiter: LoginLimiter, ip: string, username: string, password: string): Promise<UserRow> {
  const release = limiter.reserve(ip, username);
  if (typeof release !== 'function') {
    throw new ApiError(429, 'API_ERR_RATE_LIMITED', `too many failed logins for "${username}" from this address; try again in ${release.retryAfter} s`, undefined, { 'retry-after': String(release.retryAfter) });
  }
  let ok = false;
  try {
    const u = await ctx.db.selectFrom('users').selectAll().where('username', '=', username).executeTakeFirst();
    ok = !!u && await verifyPassword(password, u.password_hash);
    if (!u || !ok) {
      ctx.events.record({ type: 'auth.failed', level: 'warn', actor: username, message: `failed login for "${username}" from ${ip}`, data: { ip } });
      throw new ApiError(401, 'API_ERR_BAD_CREDENTIALS', 'wrong username or password');
    }
    ctx.events.record({ type: 'auth.login', actor: u.username, message: `${u.username} logged in from ${ip}`, data: { ip } });
    return { id: u.id, username: u.username, role: u.role, token_version: Number(u.token_version) };
  } finally {
    release(ok);
  }
}

export function registerAuthRoutes(app: App, ctx: AppContext, g: Guards, limiter = new LoginLimiter(), users = new TokenUsers(ctx.db)): void {
  app.post('/api/v1/auth/login', {
    schema: { tags: ['auth'], summary: 'Log in: a JWT for the other routes', security: [], body: Login, response: { 200: Type.Object({ token: Type.String(), role: Type.String(), expires_at: Type.String() }), ...errors(400, 401, 429) } },
  }, async (req) => {
    const u = await checkLogin(ctx, limiter, req.ip, req.body.username, req.body.password);
    const token = app.jwt.sign(tokenClaims(u));
    const exp = (app.jwt.decode<{ exp: number }>(token)?.exp ?? 0) * 1000;
    return { token, role: u.role, expires_at: new Date(exp).toISOString() };
  });
  app.get('/api/v1/auth/me', { ...g.read, schema: { tags: ['auth'], summary: 'Who the token belongs to', response: { 200: Type.Object({ username: Type.String(), role: Type.String() }), ...errors(401) } } },
    async (req) => ({ username: req.user.sub, role: req.user.role }));

  app.post('/api/v1/auth/password', {
    ...g.read,
    schema: {
      tags: ['auth'], summary: 'Change your own password (any role)',
      body: Type.Object({ current_password: Type.String({ minLength: 1 }), new_password: Type.String({ minLength: 8, maxLength: 256 }) }, { additionalProperties: false }),
      response: { 204: Type.Null(), ...errors(400, 401) },
    },
  }, async (req, reply) => {
    const u = await ctx.db.selectFrom('users').selectAll().where('username', '=', req.user.sub).executeTakeFirst();
    if (!u || !(await verifyPassword(req.body.current_password, u.password_hash))) {
      throw new ApiError(400, 'API_ERR_VALIDATION', 'current_password: wrong password', [{ field: 'current_password', message: 'wrong password' }]);
    }
    const hashed = await hashPassword(req.body.new_password);
    // every token of the user is revoked, this one too: log in again with the new password
    await ctx.db.updateTable('users').set((eb) => ({ password_hash: hashed, token_version: eb('token_version', '+', 1) })).where('id', '=', u.id).execute();
    users.forget(u.id);
    ctx.events.record({ type: 'user.password', actor: u.username, target: `user:${u.id}`, message: `${u.username} changed their password` });
    return reply.code(204).send(null);
  });

  const view = (u: { id: number; username: string; role: 'admin' | 'operator' | 'viewer'; created_at: string }): Static<typeof UserView> => ({ id: u.id, username: u.username, role: u.role, created_at: u.created_at });
  const find = async (id: number) => {
    const u = await ctx.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
    if (!u) throw new ApiError(404, 'API_ERR_NOT_FOUND', `user ${id} not found`);
    return u;
  };
  const admins = async (): Promise<number> => Number((await ctx.db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('n')).where('role', '=', 'admin').executeTakeFirstOrThrow()).n);

  app.get('/api/v1/users', { ...g.admin, schema: { tags: ['users'], summary: 'Users and their roles', response: { 200: Type.Array(UserView), ...errors(401, 403) } } },
    async () => (await ctx.db.selectFrom('users').selectAll().orderBy('id').execute()).map(view));
  app.post('/api/v1/users', { ...g.admin, schema: { tags: ['users'], summary: 'Create a user', querystring: AsyncQuery, body: UserCreate, response: { 201: UserView, 202: Type.Unknown(), ...errors(400, 401, 403, 409) } } },
    async (req, reply) => asTask(ctx, req, reply, 'user.create', 'users', async () => {
      const b = req.body;
      if (await ctx.db.selectFrom('users').select('id').where('username', '=', b.username).executeTakeFirst()) throw new ApiError(409, 'API_ERR_CONFLICT', `username "${b.username}" is taken`);
      const r = await ctx.db.insertInto('users').values({ username: b.username, password_hash: await hashPassword(b.password), role: b.role, created_at: new Date().toISOString() }).returning('id').executeTakeFirstOrThrow();
      return view(await find(r.id));
    }, 201));
  app.patch('/api/v1/users/:id', { ...g.read, schema: { tags: ['users'], summary: 'Change a password or role (admins; anyone may change their own password)', params: IdParams, querystring: AsyncQuery, body: UserUpdate, response: { 200: UserView, 202: Type.Unknown(), ...errors(400, 401, 403, 404, 409) } } },
    async (req, reply) => {
      const u = await find(req.params.id);
      const self = u.username === req.user.sub;
      if (req.user.role !== 'admin' && (!self || req.body.role !== undefined)) throw new ApiError(403, 'API_ERR_FORBIDDEN', 'only an admin may change other users or roles');
      return asTask(ctx, req, reply, 'user.update', `user:${u.id}`, async () => {
        if (req.body.role && req.body.role !== 'admin' && u.role === 'admin' && (await admins()) <= 1) throw new ApiError(409, 'API_ERR_LAST_ADMIN', 'the last admin cannot lose the admin role');
        const hashed = req.body.password ? await hashPassword(req.body.password) : null;
        if (hashed || req.body.role) {
          // a new password revokes the user's tokens; a new role applies to them from the next request
          await ctx.db.updateTable('users').set((eb) => ({
            ...(hashed ? { password_hash: hashed, token_version: eb('token_version', '+', 1) } : {}),
            ...(req.body.role ? { role: req.body.role } : {}),
          })).where('id', '=', u.id).execute();
        }
        users.forget(u.id);
        return view(await find(u.id));
      });
    });
  app.delete('/api/v1/users/:id', { ...g.admin, schema: { tags: ['users'], summary: 'Delete a user', params: IdParams, querystring: AsyncQuery, response: { 204: Type.Null(), 202: Type.Unknown(), ...errors(401, 403, 404, 409) } } },
    async (req, reply) => {
      const u = await find(req.params.id);
      return asTask(ctx, req, reply, 'user.delete', `user:${u.id}`, async () => {
        if (u.role === 'admin' && (await admins()) <= 1) throw new ApiError(409, 'API_ERR_LAST_ADMIN', 'the last admin cannot be deleted');
        await ctx.db.deleteFrom('users').where('id', '=', u.id).execute();
        users.forget(u.id); // its tokens stop working now
      }, 204);
    });
}
