// Stream ID parsing (SRT-DIGEST §3): the caller's SRTO_STREAMID names the resource and the direction.
// Accepted forms:
//   #!::k=v,k=v          SRT access-control convention (keys u r h s t m; multi-letter vendor keys kept)
//   %23!::k=v,...        the same (srt-live-transmit and FFmpeg send a literal '%23')
//   publish:NAME[:user:pass][?query], read:NAME[:user:pass][?query]   (MediaMTX / gosrt)
//   publisher/SERVER/NAME, receiver/SERVER/NAME                        (Callaba)
//   NAME[?query]         plain resource name, mode request
//   ''                   no stream ID (e.g. GStreamer 1.16): the configured default stream, mode publish
// Every failure is a StreamIdError carrying the SRT_REJX reason to reject the handshake with.
import { SRT_REJX } from '../protocol/reject.js';
import { SrtRejectedError } from '../transport/errors.js';

export type StreamMode = 'publish' | 'request' | 'bidirectional';
export type StreamIdForm = 'acl' | 'publish-read' | 'plain' | 'callaba' | 'empty';

export interface ParsedStreamId {
  form: StreamIdForm;
  /** Resource name, normalised: leading '/' removed (one or more), never empty. */
  name: string;
  mode: StreamMode;
  user?: string;      // acl 'u', or MediaMTX ':user:pass' user
  password?: string;  // MediaMTX ':user:pass' password
  session?: string;   // acl 's'
  host?: string;      // acl 'h'
  type?: string;      // acl 't'
  token?: string;     // '?token=...' query (publish-read / plain forms) or acl key 'token' / 'user_token'
  query: Record<string, string>; // all '?a=b&c=d' query params (publish-read / plain), custom acl keys (multi-letter)
  serverCode?: string; // callaba SERVER part
  raw: string;
}

/** A stream id that cannot be served: the rejection (SrtRejectedError) that answers its handshake. */
export class StreamIdError extends SrtRejectedError {
  override readonly code = 'SRT_ERR_STREAMID';
  constructor(reason: number, message: string) {
    super(reason, message);
    this.name = 'StreamIdError';
  }
}

export interface StreamIdOptions { defaultStream?: string }

/** Maximum resource name length in UTF-8 bytes (the whole SRTO_STREAMID is limited to 512 bytes). */
export const MAX_STREAM_NAME_BYTES = 512;

const ACL_PREFIX = '#!::';
const MODES: readonly StreamMode[] = ['publish', 'request', 'bidirectional'];
/** Keys of a #!:: stream id: letters, digits, '_', '-', '.' (no spaces, no separators). */
const ACL_KEY_RE = /^[A-Za-z0-9_.-]+$/;
// \p{Cc}: C0, DEL and C1 controls; \p{Cs}: lone surrogates (cannot come from UTF-8 on the wire).
const CONTROL_RE = /\p{Cc}/u;
const LONE_SURROGATE_RE = /\p{Cs}/u;

function badRequest(message: string): StreamIdError {
  return new StreamIdError(SRT_REJX.BAD_REQUEST, message);
}

/** Defines an own enumerable property (so keys such as "__proto__" or "constructor" are plain data). */
function setOwn(obj: Record<string, string>, key: string, value: string): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Strips leading '/' and validates: non-empty, ≤ 512 UTF-8 bytes, no control characters. */
function normaliseName(name: string, what: string): string {
  const n = name.replace(/^\/+/, '');
  if (n.length === 0) throw badRequest(`empty stream name in ${what}`);
  if (CONTROL_RE.test(n)) throw badRequest(`control character in stream name in ${what}`);
  if (LONE_SURROGATE_RE.test(n)) throw badRequest(`invalid UTF-16 (lone surrogate) in stream name in ${what}`);
  const bytes = Buffer.byteLength(n, 'utf8');
  if (bytes > MAX_STREAM_NAME_BYTES) {
    throw badRequest(`stream name too long in ${what}: ${bytes} bytes (max ${MAX_STREAM_NAME_BYTES})`);
  }
  return n;
}

/**
 * Parses 'a=b&c=d' (the part after '?'). Values are percent-decoded (decodeURIComponent, '+' is kept),
 * keys are not. Empty segments are skipped; a segment without '=' has the value ''.
 */
function parseQuery(qs: string, what: string): Record<string, string> {
  const query: Record<string, string> = {};
  for (const seg of qs.split('&')) {
    if (seg === '') continue;
    const eq = seg.indexOf('=');
    const key = eq < 0 ? seg : seg.slice(0, eq);
    const rawValue = eq < 0 ? '' : seg.slice(eq + 1);
    if (key === '') throw badRequest(`empty query key in ${what}`);
    if (Object.hasOwn(query, key)) throw badRequest(`duplicate query key "${key}" in ${what}`);
    let value: string;
    try {
      value = decodeURIComponent(rawValue);
    } catch {
      throw badRequest(`invalid percent-encoding in query value of "${key}" in ${what}`);
    }
    setOwn(query, key, value);
  }
  return query;
}

/** Splits 'NAME?query' at the first '?'. */
function splitQuery(s: string, what: string): { path: string; query: Record<string, string> } {
  const q = s.indexOf('?');
  if (q < 0) return { path: s, query: {} };
  return { path: s.slice(0, q), query: parseQuery(s.slice(q + 1), what) };
}

function parseAcl(body: string, raw: string): ParsedStreamId {
  const what = '#!:: stream id';
  const seen = new Set<string>();
  const query: Record<string, string> = {};
  const out: ParsedStreamId = { form: 'acl', name: '', mode: 'request', query, raw };
  let resource: string | undefined;
  let tokenKey: string | undefined;
  for (const pair of body.split(',')) {
    const eq = pair.indexOf('=');
    if (eq < 0) throw badRequest(`missing '=' in "${pair}" in ${what}`);
    const key = pair.slice(0, eq);
    const value = pair.slice(eq + 1);
    if (key === '') throw badRequest(`empty key in ${what}`);
    if (!ACL_KEY_RE.test(key)) throw badRequest(`invalid key "${key}" in ${what}`);
    if (seen.has(key)) throw badRequest(`duplicate key "${key}" in ${what}`);
    seen.add(key);
    if (key.length === 1) {
      switch (key) {
        case 'r': resource = value; break;
        case 'u': out.user = value; break;
        case 'h': out.host = value; break;
        case 's': out.session = value; break;
        case 't': out.type = value; break;
        case 'm':
          if (!(MODES as readonly string[]).includes(value)) {
            throw new StreamIdError(SRT_REJX.BAD_MODE, `unknown mode "${value}" in ${what} (expected publish, request or bidirectional)`);
          }
          out.mode = value as StreamMode;
          break;
        default:
          throw badRequest(`unknown key "${key}" in ${what}`);
      }
    } else {
      setOwn(query, key, value);
      // 'token' takes precedence over 'user_token' when both are present.
      if (key === 'token' || (key === 'user_token' && tokenKey !== 'token')) {
        out.token = value;
        tokenKey = key;
      }
    }
  }
  if (resource === undefined) throw badRequest(`missing resource key "r" in ${what}`);
  out.name = normaliseName(resource, what);
  return out;
}

function parsePublishRead(mode: StreamMode, rest: string, raw: string, prefix: string): ParsedStreamId {
  const what = `${prefix}: stream id`;
  const { path, query } = splitQuery(rest, what);
  const parts = path.split(':');
  if (parts.length !== 1 && parts.length !== 3) {
    throw badRequest(`${what} must be "${prefix}:NAME" or "${prefix}:NAME:user:pass" (got ${parts.length} ':'-separated parts)`);
  }
  const out: ParsedStreamId = { form: 'publish-read', name: normaliseName(parts[0]!, what), mode, query, raw };
  if (parts.length === 3) {
    if (parts[1] === '') throw badRequest(`empty user in ${what}`);
    out.user = parts[1]!;
    out.password = parts[2]!;
  }
  if (Object.hasOwn(query, 'token')) out.token = query['token']!;
  return out;
}

function parseCallaba(mode: StreamMode, rest: string, raw: string, prefix: string): ParsedStreamId {
  const what = `${prefix}/ stream id`;
  const slash = rest.indexOf('/');
  if (slash < 0) throw badRequest(`${what} must be "${prefix}/SERVER/NAME" (missing NAME)`);
  const server = rest.slice(0, slash);
  if (server === '') throw badRequest(`${what} must be "${prefix}/SERVER/NAME" (empty SERVER)`);
  return { form: 'callaba', name: normaliseName(rest.slice(slash + 1), what), mode, serverCode: server, query: {}, raw };
}

/**
 * Parses an SRT stream id (SRTO_STREAMID as received in the handshake) into resource name, mode and
 * credentials. Throws StreamIdError (reason SRT_REJX.BAD_REQUEST or SRT_REJX.BAD_MODE) on anything malformed.
 */
export function parseStreamId(sid: string, opts: StreamIdOptions = {}): ParsedStreamId {
  const raw = sid;
  if (sid === '') {
    if (opts.defaultStream === undefined || opts.defaultStream === '') {
      throw badRequest('no stream id and no default stream');
    }
    return { form: 'empty', name: normaliseName(opts.defaultStream, 'default stream'), mode: 'publish', query: {}, raw };
  }
  if (CONTROL_RE.test(sid)) throw badRequest('control character in stream id');
  // srt-live-transmit and FFmpeg pass 'streamid=%23!::...' through literally.
  if (sid.startsWith('%23')) sid = '#' + sid.slice(3);

  if (sid.startsWith(ACL_PREFIX)) return parseAcl(sid.slice(ACL_PREFIX.length), raw);
  if (sid.startsWith('#!:')) {
    const nested = sid.startsWith('#!:{');
    throw badRequest(nested ? 'nested #!:{...} stream id syntax is not supported' : 'unsupported #!: stream id syntax (expected #!::)');
  }
  if (sid.startsWith('publish:')) return parsePublishRead('publish', sid.slice('publish:'.length), raw, 'publish');
  if (sid.startsWith('read:')) return parsePublishRead('request', sid.slice('read:'.length), raw, 'read');
  if (sid.startsWith('publisher/')) return parseCallaba('publish', sid.slice('publisher/'.length), raw, 'publisher');
  if (sid.startsWith('receiver/')) return parseCallaba('request', sid.slice('receiver/'.length), raw, 'receiver');

  const what = 'stream id';
  const { path, query } = splitQuery(sid, what);
  const out: ParsedStreamId = { form: 'plain', name: normaliseName(path, what), mode: 'request', query, raw };
  if (Object.hasOwn(query, 'token')) out.token = query['token']!;
  return out;
}

/**
 * Callaba's `server_name_code`: the server name as it appears in `publisher/{code}/…` stream ids —
 * lower case, every run of other characters than a–z and 0–9 made one "-" ("Awesome SRT server" → "awesome-srt-server").
 */
export function serverNameCode(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '') || 'server';
}
