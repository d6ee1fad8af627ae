// Secrets in API answers: one list of secret field names and one masking function. Admins read
// secrets in clear; every other role reads "***" where a secret is set (an empty or absent one is
// left as it is), and the task history is masked for everyone. Response shapes never change.
// A client may send "***" back unchanged in an update: that keeps the stored secret
// (restoreMasked below, route-config.ts and gateway-config.ts).
import { sep } from 'node:path';
/** What a masked secret reads as. */
export const MASK = '***';

/**
 * Field names whose values are secrets, wherever they appear in an answer:
 * - server settings: passphrase, streams.*.publishPassphrase / readPassphrase, users.*.password /
 *   passphrase, token (gosrt's ?token=);
 * - RX/TX gateways: PassPhrase; routes: config.passphrase;
 * - request bodies kept as task params: password, current_password, new_password.
 */
export const SECRET_FIELDS: ReadonlySet<string> = new Set([
  'passphrase', 'publishPassphrase', 'readPassphrase', 'password', 'token', 'PassPhrase',
  'current_password', 'new_password', 'jwt_secret',
]);

/** Query keys of URLs (srt://…?passphrase=…, …?token=…) whose values are secrets. */
const SECRET_QUERY = /([?&](?:passphrase|token|password)=)[^&#]*/gi;

/** Masks the secret query keys of a URL-like string (e.g. a route's srt:// URL, a logged request URL). */
export function maskUrl(url: string): string {
  return url.includes('=') ? url.replace(SECRET_QUERY, `$1${MASK}`) : url;
}

/**
 * Masks the credentials a caller's SRT stream id may carry: MediaMTX's `publish:NAME:user:pass`,
 * `?token=` / `?passphrase=` queries and the access-control form's `token=` / `user_token=` keys.
 */
export function maskStreamId(id: string): string {
  return id
    .replace(/^((?:publish|read):[^:?]*:[^:?]*:)[^?]*/, `$1${MASK}`)
    .replace(/(^|[?&,:])((?:user_)?token|passphrase|password)=[^&,]*/gi, `$1$2=${MASK}`);
}

function isSet(x: unknown): boolean {
  return x !== undefined && x !== null && x !== '';
}

/**
 * A copy of `v` with every secret field set to "***" and the secret query keys of `url` fields
 * masked, and the credentials in `streamId` fields (maskStreamId). Objects without secrets are
 * returned as they are (no copy). With `root`, a `path`
 * field below that folder is shown relative to it (where recordings are kept on the server's disk
 * is the server's business).
 */
export function maskSecrets<T>(v: T, root?: string): T {
  return mask(v, root && !root.endsWith(sep) ? root + sep : root) as T;
}

function mask(v: unknown, root: string | undefined): unknown {
  if (Array.isArray(v)) {
    let out: unknown[] | null = null;
    for (let i = 0; i < v.length; i++) {
      const m = mask(v[i], root);
      if (m !== v[i]) (out ??= v.slice())[i] = m;
    }
    return out ?? v;
  }
  if (v && typeof v === 'object' && !Buffer.isBuffer(v) && !(v instanceof Date)) {
    const o = v as Record<string, unknown>;
    let out: Record<string, unknown> | null = null;
    // for…in over plain JSON objects: no entry arrays (a statistics answer has ~10^5 numbers)
    for (const k in o) {
      const x = o[k];
      let m: unknown;
      if (SECRET_FIELDS.has(k)) m = isSet(x) ? MASK : x;
      else if (typeof x !== 'object' || x === null) {
        if (typeof x !== 'string') continue;
        m = k === 'url' ? maskUrl(x) : k === 'streamId' ? maskStreamId(x) : k === 'path' && root && x.startsWith(root) ? x.slice(root.length) : x;
      } else m = mask(x, root);
      if (m !== x) (out ??= { ...o })[k] = m;
    }
    return out ?? v;
  }
  return v;
}

/** Who reads secrets in clear. */
export function readsSecrets(role: string | undefined): boolean {
  return role === 'admin';
}

/**
 * `next` with every "***" at a secret field replaced by the value at the same place in `stored`
 * (a client that read masked settings may send them back). A "***" with nothing stored there is
 * left as it is (the validation then refuses it).
 */
export function restoreMasked<T>(next: T, stored: unknown): T {
  if (Array.isArray(next)) return next.map((x, i) => restoreMasked(x, Array.isArray(stored) ? stored[i] : undefined)) as T;
  if (next && typeof next === 'object') {
    const s = stored && typeof stored === 'object' ? (stored as Record<string, unknown>) : {};
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(next as Record<string, unknown>)) {
      out[k] = SECRET_FIELDS.has(k) && x === MASK && isSet(s[k]) ? s[k] : restoreMasked(x, s[k]);
    }
    return out as T;
  }
  return next;
}
