// Login tokens are checked against the users table on every request: a token is refused once its
// user is deleted or its password changed (the user's token_version moved on), and the role a
// request acts with is the user's current role, not the one written in the token. Lookups are
// cached briefly (TOKEN_USER_TTL_MS) and the cache is cleared at once by this process's user
// changes; other nodes sharing a PostgreSQL store see a change within that TTL.
import type { Kysely } from 'kysely';
import type { DB } from '../store/db.js';
import type { Role, TokenUser } from './common.js';

export const TOKEN_USER_TTL_MS = 5_000;

interface UserRow { id: number; username: string; role: Role; token_version: number }

/** The claims a login token carries for a user. */
export function tokenClaims(u: UserRow): TokenUser {
  return { sub: u.username, role: u.role, uid: u.id, tv: u.token_version };
}

export class TokenUsers {
  private readonly cache = new Map<number, { at: number; row: Promise<UserRow | null> }>();

  constructor(private readonly db: Kysely<DB>, private readonly ttlMs = TOKEN_USER_TTL_MS) {}

  /** The user a verified token stands for, with its current role; null when the token is revoked. */
  async resolve(claims: Partial<TokenUser>): Promise<TokenUser | null> {
    const uid = claims.uid;
    if (typeof uid !== 'number' || !Number.isSafeInteger(uid) || typeof claims.sub !== 'string') return null;
    const row = await this.lookup(uid);
    if (!row || row.username !== claims.sub || row.token_version !== (claims.tv ?? 0)) return null;
    return tokenClaims(row);
  }

  /** Drops cached users (one, or all): call after a user is deleted or its role or password changes. */
  forget(uid?: number): void {
    if (uid === undefined) this.cache.clear();
    else this.cache.delete(uid);
  }

  private lookup(uid: number): Promise<UserRow | null> {
    const now = Date.now();
    const hit = this.cache.get(uid);
    if (hit && now - hit.at < this.ttlMs) return hit.row;
    const row = this.db.selectFrom('users').select(['id', 'username', 'role', 'token_version']).where('id', '=', uid).executeTakeFirst()
      .then((r) => (r ? { ...r, token_version: Number(r.token_version) } : null));
    this.cache.set(uid, { at: now, row });
    row.catch(() => this.cache.delete(uid)); // a failed query is not remembered
    if (this.cache.size > 10_000) for (const [k, v] of this.cache) if (now - v.at >= this.ttlMs) this.cache.delete(k);
    return row;
  }
}
