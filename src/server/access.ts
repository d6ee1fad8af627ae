// Access decisions of the SRT server (ADR 6), pure: no I/O, no timers. Given a parsed stream id,
// the server's configuration and a view of its registry, they say whether a caller is let in, as
// what, with which passphrase — or why not, as the SRT rejection code the caller gets. The Server
// runs them in its accept hook around the two asynchronous steps (the auth hook, a cluster's
// `route`), and reserves the caller in the same synchronous turn as the last one (`place`).
import { SRT_REJX } from '../protocol/reject.js';
import { serverNameCode, type ParsedStreamId, type StreamMode } from './streamid.js';
import type { ConnectionRole, ServerConfig } from './types.js';

/** A refusal: the SRT_REJ/SRT_REJX code the caller gets, and why (for the `rejected` event). */
export interface Rejection {
  reject: number;
  message: string;
}

/** A caller let in so far: the stream it is routed to, as what, and the passphrase its handshake must use. */
export interface Admission {
  name: string;
  mode: StreamMode;
  /** A standby publisher (`backup=1`). */
  backup: boolean;
  passphrase?: string;
  user?: string;
}

/** What the auth hook answered (backends.ts). */
export interface HookAnswer {
  allow: boolean;
  reason?: number;
  passphrase?: string;
  /** The stream the hook routes the caller to instead. */
  name?: string;
}

/** The registry as the access rules see it: connections plus reservations (callers still in their handshake). */
export interface RegistryView {
  /** Connections and reservations in total. */
  total(): number;
  /** Connections and reservations from this IP address. */
  fromAddress(address: string): number;
  /** The stream's current publisher, backup and players (undefined: no entry). */
  stream(name: string): { publisher: boolean; backup: boolean; players: number } | undefined;
  /** Reservations for the stream: a main publisher, a backup, players. */
  reserved(name: string): { publisher: boolean; backup: boolean; players: number };
}

export function isRejection(x: object): x is Rejection {
  return 'reject' in x;
}

function reject(code: number, message: string): Rejection {
  return { reject: code, message };
}

/** Stream names are compared without their leading slashes. */
export function normaliseName(name: string): string {
  return name.replace(/^\/+/, '');
}

/**
 * What the stream id alone decides (before the auth hook): the mode served, the server code,
 * the application prefix, the token, users, and the passphrase (per stream and mode, per user,
 * else the server's).
 */
export function admitStreamId(sid: ParsedStreamId, c: ServerConfig): Admission | Rejection {
  if (sid.mode === 'bidirectional') return reject(SRT_REJX.BAD_MODE, 'bidirectional streams are not served');
  if (sid.serverCode !== undefined && sid.serverCode !== c.name && sid.serverCode !== serverNameCode(c.name)) {
    return reject(SRT_REJX.NOTFOUND, `no server "${sid.serverCode}" here (this is "${serverNameCode(c.name)}")`);
  }
  const name = sid.name;
  if (c.app && c.app !== '') {
    const app = normaliseName(c.app);
    if (name !== app && !name.startsWith(`${app}/`)) return reject(SRT_REJX.NOTFOUND, `stream "${name}" is outside the application "${app}"`);
  }
  if (c.token !== undefined && c.token !== '' && sid.token !== c.token) {
    return reject(SRT_REJX.UNAUTHORIZED, sid.token ? 'wrong token' : 'token required');
  }
  const s = c.streams?.[name];
  let passphrase = (sid.mode === 'publish' ? s?.publishPassphrase : s?.readPassphrase) ?? c.passphrase;
  // users (u= / :user:pass) are checked when the server has a user list; otherwise the name is
  // only information for the auth hook and the logs
  if (c.users && (sid.user !== undefined || sid.password !== undefined)) {
    const u = sid.user !== undefined ? c.users[sid.user] : undefined;
    if (!u) return reject(SRT_REJX.UNAUTHORIZED, `unknown user "${sid.user ?? ''}"`);
    if (sid.password !== undefined && u.password !== sid.password) return reject(SRT_REJX.UNAUTHORIZED, 'wrong password');
    if (sid.mode === 'publish' && u.publish === false) return reject(SRT_REJX.FORBIDDEN, `user "${sid.user}" may not publish`);
    if (sid.mode === 'request' && u.read === false) return reject(SRT_REJX.FORBIDDEN, `user "${sid.user}" may not play`);
    if (u.passphrase) passphrase = u.passphrase;
  }
  const backup = sid.mode === 'publish' && ['1', 'true', 'yes'].includes(sid.query['backup'] ?? '');
  return { name, mode: sid.mode, backup, passphrase, user: sid.user };
}

/** The auth hook's answer applied: a refusal, or its passphrase and stream name taking over. */
export function applyHookAnswer(a: Admission, r: HookAnswer): Admission | Rejection {
  if (!r.allow) return reject(r.reason ?? SRT_REJX.FORBIDDEN, 'denied by the auth hook');
  return {
    ...a,
    passphrase: r.passphrase !== undefined ? r.passphrase : a.passphrase,
    name: r.name ? normaliseName(r.name) : a.name,
  };
}

/** In `whitelist` access mode only whitelisted streams are served. */
export function checkWhitelist(name: string, c: ServerConfig, whitelist: ReadonlySet<string>): Rejection | undefined {
  if (c.accessMode === 'whitelist' && !whitelist.has(name)) return reject(SRT_REJX.FORBIDDEN, `stream "${name}" is not whitelisted`);
  return undefined;
}

/** The server's limits: connections in all, per peer address, players per stream. */
export function checkLimits(peerAddress: string, name: string, mode: StreamMode, c: ServerConfig, v: RegistryView): Rejection | undefined {
  if (c.maxConnections !== undefined && v.total() >= c.maxConnections) return reject(SRT_REJX.OVERLOAD, `server full (${c.maxConnections} connections)`);
  if (c.maxPerPeer !== undefined && v.fromAddress(peerAddress) >= c.maxPerPeer) {
    return reject(SRT_REJX.OVERLOAD, `too many connections from ${peerAddress} (${c.maxPerPeer})`);
  }
  if (c.maxPerStream !== undefined && mode === 'request') {
    const n = (v.stream(name)?.players ?? 0) + v.reserved(name).players;
    if (n >= c.maxPerStream) return reject(SRT_REJX.OVERLOAD, `stream "${name}" has its maximum of ${c.maxPerStream} players`);
  }
  return undefined;
}

/**
 * The one publish-reservation check: a (main) publisher is refused with 1409 CONFLICT while the
 * stream has a publisher or one is reserved (an SRT publisher in its handshake). SRT publishers,
 * Flussonic publish ports and `publishLocal` all go through it. A backup's reservation does not
 * block a main publisher (the backup stands by).
 */
export function publisherConflict(name: string, v: RegistryView): Rejection | undefined {
  if (v.stream(name)?.publisher || v.reserved(name).publisher) return reject(SRT_REJX.CONFLICT, `stream "${name}" is already published`);
  return undefined;
}

/**
 * Where a caller goes in the registry, after the limits: a backup needs the stream to have no
 * backup (nor one reserved), a publisher no publisher, a player a stream entry (or
 * `waitForPublisher`). The Server reserves the caller in the same synchronous turn.
 */
export function place(peerAddress: string, a: Pick<Admission, 'name' | 'mode' | 'backup'>, c: ServerConfig, v: RegistryView): { role: ConnectionRole } | Rejection {
  const limit = checkLimits(peerAddress, a.name, a.mode, c, v);
  if (limit) return limit;
  const st = v.stream(a.name);
  if (a.backup) {
    if (st?.backup || v.reserved(a.name).backup) return reject(SRT_REJX.CONFLICT, `stream "${a.name}" already has a backup publisher`);
    return { role: 'backup' };
  }
  if (a.mode === 'publish') return publisherConflict(a.name, v) ?? { role: 'publisher' };
  if (!st && c.waitForPublisher !== true) return reject(SRT_REJX.NOTFOUND, `stream "${a.name}" is not published`);
  return { role: 'player' };
}
