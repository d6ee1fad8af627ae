// Route configuration: validation that names every bad field, normalization (defaults filled
// in), and the data-plane settings each kind maps to. The SRT and UDP legs are given as URLs with
// srt-live-transmit's query keys (srt://host:port?latency=…, udp://group:port?ttl=…).
import { isIP } from 'node:net';
import type { LinkConfig } from '../gateway/link.js';
import type { RouteKind } from '../gateway/routes.js';
import { isMulticast, parseUdpUrl, type UdpEndpoint } from '../gateway/udp.js';
import { OptionError } from '../protocol/errors.js';
import { parseSrtUrl } from '../transport/url.js';
import { MASK } from './secrets.js';

export type { RouteKind } from '../gateway/routes.js';
export const ROUTE_KINDS: readonly RouteKind[] = ['pull', 'push', 'udp-in', 'udp-out', 'record'];

/** A normalized configuration (stored as JSON): field → value. */
export type RouteConfig = Record<string, string | number>;

export interface FieldError {
  field: string;
  message: string;
}

/** One or more invalid fields (HTTP 400). */
export class RouteConfigError extends RangeError {
  readonly code = 'API_ERR_VALIDATION';
  constructor(readonly errors: FieldError[]) {
    super(errors.map((e) => `${e.field}: ${e.message}`).join('; '));
  }
}

export interface RouteLimits {
  /** Shortest segment a recording may use, s (10; tests lower it to rotate quickly). */
  minSegmentSeconds: number;
}
export const DEFAULT_LIMITS: RouteLimits = { minSegmentSeconds: 10 };

export const DEFAULT_SEGMENT_SECONDS = 600;
const MAX_SEGMENT_SECONDS = 86_400;
const MAX_RETAIN_HOURS = 87_600; // ten years
const MAX_PASSPHRASE = 79;

export interface RouteInput {
  kind: RouteKind;
  name: string;
  stream: string;
  config?: Record<string, unknown>;
}

export interface NormalizedRoute {
  kind: RouteKind;
  name: string;
  stream: string;
  config: RouteConfig;
}

/** Fields of each kind; `url` is required where present. */
const FIELDS: Record<RouteKind, readonly string[]> = {
  pull: ['url', 'passphrase'],
  push: ['url', 'passphrase'],
  'udp-in': ['url', 'chunk'],
  'udp-out': ['url'],
  record: ['segment_seconds', 'retain_hours', 'max_bytes'],
};

const URL_HELP: Record<RouteKind, string> = {
  pull: 'srt://host:port (we call the source), srt://:port (the source calls us) or srt://host:port?mode=rendezvous&port=local (both call each other; local port = port if not given)',
  push: 'srt://host:port (we call the receiver), srt://:port (the receiver calls us) or srt://host:port?mode=rendezvous&port=local (both call each other; local port = port if not given)',
  'udp-in': 'udp://address:port (a local address or a multicast group; ?source= for SSM, ?adapter= for the interface)',
  'udp-out': 'udp://host:port (a unicast address or a multicast group; ?ttl=, ?adapter=)',
  record: '',
};

const hasControl = (v: string): boolean => [...v].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f);

/** A stream name as the server stores it: no leading '/', printable, no spaces. */
export function normalizeStream(v: unknown): string | FieldError {
  if (typeof v !== 'string') return { field: 'stream', message: 'must be a string' };
  const s = v.replace(/^\/+/, '');
  if (s.length < 1 || s.length > 256) return { field: 'stream', message: 'must be 1 to 256 characters (not counting leading "/")' };
  if (/\s/.test(s) || hasControl(s)) return { field: 'stream', message: 'must not contain spaces or control characters' };
  return s;
}

function checkName(v: unknown): string | FieldError {
  if (typeof v !== 'string') return { field: 'name', message: 'must be a string' };
  if (v.trim() === '' || v.length > 64 || hasControl(v)) return { field: 'name', message: 'must be 1 to 64 printable characters' };
  return v;
}

function int(v: unknown, field: string, min: number, max: number, unit: string): number | FieldError {
  const n = typeof v === 'string' && /^\s*\d+\s*$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
    return { field, message: `${JSON.stringify(v)} is not an integer from ${min} to ${max} (${unit})` };
  }
  return n;
}

function num(v: unknown, field: string, min: number, max: number, unit: string): number | FieldError {
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isFinite(n) || n < min || n > max) return { field, message: `${JSON.stringify(v)} is not a number from ${min} to ${max} (${unit})` };
  return n;
}

function checkSrtUrl(kind: RouteKind, v: string): string | null {
  if (!v.startsWith('srt://')) return `must be an srt:// URL: ${URL_HELP[kind]}`;
  try {
    const ep = parseSrtUrl(v);
    // caller, listener or rendezvous (the peer's host:port; the local port is `port=`, else the same
    // port number, and the local address `adapter=`, as srt-live-transmit takes them)
    if (ep.mode !== 'listener' && !isIP(ep.host) && !/^[A-Za-z0-9.-]+$/.test(ep.host)) return `"${ep.host}" is not an IP address or host name`;
    if (ep.mode === 'rendezvous' && ep.adapter !== undefined && ep.adapter !== '' && !isIP(ep.adapter)) return `adapter "${ep.adapter}" is not a local IP address`;
    if (ep.options.passphrase !== undefined) return 'give the passphrase in config.passphrase, not in the URL (the URL is shown to every user)';
    return null;
  } catch (e) {
    return e instanceof OptionError ? e.message : (e as Error).message;
  }
}

function checkUdpUrl(kind: RouteKind, v: string): string | null {
  if (!v.startsWith('udp://')) return `must be a udp:// URL: ${URL_HELP[kind]}`;
  try {
    const ep = parseUdpUrl(v);
    if (kind === 'udp-out' && (ep.host === '' || (isIP(ep.host) === 0 && !/^[A-Za-z0-9.-]+$/.test(ep.host)))) return 'needs a destination host';
    if (kind === 'udp-in' && ep.host !== '' && isIP(ep.host) === 0) return `"${ep.host}" is not an IP address (a local address or a multicast group)`;
    if (kind === 'udp-in' && ep.ttl !== undefined) return 'ttl applies to udp-out only';
    if (ep.source !== undefined && !isMulticast(ep.host)) return 'source (SSM) needs a multicast group as the host';
    return null;
  } catch (e) {
    return e instanceof OptionError ? e.message : (e as Error).message;
  }
}

/**
 * Validates a route (config merged over `base`, the stored one, for updates). Throws
 * RouteConfigError with every bad field (`config.url`, `stream`, …).
 */
export function normalizeRoute(input: RouteInput, limits: RouteLimits = DEFAULT_LIMITS, base: RouteConfig = {}): NormalizedRoute {
  const errors: FieldError[] = [];
  const kind = input.kind;
  if (!ROUTE_KINDS.includes(kind)) throw new RouteConfigError([{ field: 'kind', message: `"${String(kind)}" is not one of ${ROUTE_KINDS.join(', ')}` }]);
  const name = checkName(input.name);
  if (typeof name !== 'string') errors.push(name);
  const stream = normalizeStream(input.stream);
  if (typeof stream !== 'string') errors.push(stream);
  const given = input.config ?? {};
  if (typeof given !== 'object' || Array.isArray(given)) throw new RouteConfigError([...errors, { field: 'config', message: 'must be an object' }]);
  const raw: Record<string, unknown> = { ...base, ...given };
  const config: RouteConfig = {};
  for (const k of Object.keys(given)) {
    if (!FIELDS[kind].includes(k)) errors.push({ field: `config.${k}`, message: `not a field of a ${kind} route (${FIELDS[kind].join(', ')})` });
  }
  const put = (field: string, r: number | string | FieldError): void => {
    if (typeof r === 'object') errors.push(r);
    else config[field] = r;
  };
  if (kind === 'record') {
    put('segment_seconds', int(raw['segment_seconds'] ?? DEFAULT_SEGMENT_SECONDS, 'config.segment_seconds', limits.minSegmentSeconds, MAX_SEGMENT_SECONDS, 's'));
    if (raw['retain_hours'] !== undefined && raw['retain_hours'] !== null) put('retain_hours', num(raw['retain_hours'], 'config.retain_hours', 0.001, MAX_RETAIN_HOURS, 'h'));
    if (raw['max_bytes'] !== undefined && raw['max_bytes'] !== null) put('max_bytes', int(raw['max_bytes'], 'config.max_bytes', 1, Number.MAX_SAFE_INTEGER, 'bytes'));
  } else {
    const url = raw['url'];
    if (typeof url !== 'string' || url.trim() === '') {
      errors.push({ field: 'config.url', message: `is required: ${URL_HELP[kind]}` });
    } else {
      const err = kind === 'pull' || kind === 'push' ? checkSrtUrl(kind, url.trim()) : checkUdpUrl(kind, url.trim());
      if (err) errors.push({ field: 'config.url', message: err });
      else config['url'] = url.trim();
    }
  }
  if (kind === 'pull' || kind === 'push') {
    // a client may send back the masked value it read: that keeps the stored passphrase
    const p = given['passphrase'] === MASK ? base['passphrase'] : raw['passphrase'];
    if (p !== undefined && p !== null && p !== '') {
      if (typeof p !== 'string' || p.length < 10 || p.length > MAX_PASSPHRASE) errors.push({ field: 'config.passphrase', message: `must be 10 to ${MAX_PASSPHRASE} characters` });
      else config['passphrase'] = p;
    }
  }
  if (kind === 'udp-in') {
    const c = raw['chunk'] ?? 'ts';
    if (c !== 'ts' && c !== 'datagram') errors.push({ field: 'config.chunk', message: `${JSON.stringify(c)} is not "ts" (regroup into 7×188-byte messages) or "datagram" (one message per datagram)` });
    else config['chunk'] = c;
  }
  if (errors.length > 0) throw new RouteConfigError(errors);
  return { kind, name: name as string, stream: stream as string, config };
}

/** The SRT leg of a pull or push route. */
export function routeLink(config: RouteConfig): LinkConfig {
  const ep = parseSrtUrl(String(config['url']));
  const options = { ...ep.options };
  if (typeof config['passphrase'] === 'string') options.passphrase = config['passphrase'];
  // a listener binds its adapter (or the URL's host) on the port; a caller dials host:port; a
  // rendezvous waves to host:port from its local port (port=, default the same) on adapter=
  const host = ep.mode === 'listener' ? (ep.adapter ?? ep.host) : ep.host;
  if (ep.mode === 'rendezvous') return { mode: ep.mode, host, port: ep.port, localPort: ep.localPort ?? ep.port, localAddress: ep.adapter || undefined, options };
  return { mode: ep.mode, host, port: ep.port, options };
}

export function routeUdp(config: RouteConfig): UdpEndpoint {
  return parseUdpUrl(String(config['url']));
}

/** The local UDP port a route binds exclusively (SRT listener or rendezvous, unicast UDP input), or null. */
export function boundPort(kind: RouteKind, config: RouteConfig): number | null {
  if (kind === 'pull' || kind === 'push') {
    const l = routeLink(config);
    return l.mode === 'listener' ? l.port : l.mode === 'rendezvous' ? (l.localPort ?? l.port) : null;
  }
  if (kind === 'udp-in') {
    const u = routeUdp(config);
    return isMulticast(u.host) ? null : u.port;
  }
  return null;
}

/** The configuration as the API shows it: secrets masked. */
export function publicConfig(config: RouteConfig): RouteConfig {
  return config['passphrase'] !== undefined ? { ...config, passphrase: MASK } : config;
}
