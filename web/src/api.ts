// A typed client of the REST API: paths, parameters, bodies and answers come from the OpenAPI
// document (api-types.ts is generated from docs/openapi.json by `npm run gen:web-types`).
import type { paths } from './api-types';

export type { paths };
type Method = 'get' | 'post' | 'patch' | 'put' | 'delete';

/** The operation of a path and method (never when the path has no such method). */
type Op<P extends keyof paths, M extends Method> = paths[P][M] extends infer O ? (O extends undefined ? never : O) : never;
type PathsWith<M extends Method> = { [P in keyof paths]: [Op<P, M>] extends [never] ? never : P }[keyof paths];

type JsonOf<R> = R extends { content: { 'application/json': infer J } } ? J : undefined;
type Responses<O> = O extends { responses: infer R } ? R : never;
/** The answer of a successful call (200 or 201; undefined for 204). */
export type Ok<O> = 200 extends keyof Responses<O> ? JsonOf<Responses<O>[200]> : 201 extends keyof Responses<O> ? JsonOf<Responses<O>[201]> : undefined;
type BodyOf<O> = O extends { requestBody?: { content: { 'application/json': infer B } } } ? B : never;
type PathParamsOf<O> = O extends { parameters: { path: infer X } } ? (X extends undefined ? never : X) : never;
type QueryOf<O> = O extends { parameters: { query?: infer Q } } ? Q : never;

export type Answer<P extends keyof paths, M extends Method = 'get'> = Ok<Op<P, M>>;
export type Body<P extends keyof paths, M extends Method> = BodyOf<Op<P, M>>;

export interface CallOptions<O> {
  params?: PathParamsOf<O>;
  query?: QueryOf<O>;
  body?: BodyOf<O>;
  signal?: AbortSignal;
}

export interface FieldError { field: string; message: string }

/** An error answer of the API: HTTP status, the API's code, message and invalid fields. */
export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly errors: FieldError[] = []) {
    super(message);
  }
}

let token: string | null = null;
let onUnauthorized: (() => void) | null = null;

export function setToken(t: string | null): void {
  token = t;
}
export function getToken(): string | null {
  return token;
}
/** Called once per 401 answer to a logged-in call (the token expired or was revoked). */
export function setUnauthorizedHandler(fn: (() => void) | null): void {
  onUnauthorized = fn;
}

/** Fills `{name}` segments of a path template. */
export function fillPath(path: string, params: Record<string, unknown> = {}): string {
  return path.replace(/\{(\w+)\}/g, (_m, k: string) => {
    const v = params[k];
    if (v === undefined) throw new Error(`missing path parameter ${k} for ${path}`);
    return encodeURIComponent(String(v));
  });
}

function queryString(q: Record<string, unknown> | undefined): string {
  if (!q) return '';
  const s = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== null && v !== '') s.set(k, String(v));
  const t = s.toString();
  return t ? `?${t}` : '';
}

/** Any call by URL: for the API's untyped corners. */
export async function rawCall<T>(method: string, url: string, body?: unknown, signal?: AbortSignal): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (token) headers['authorization'] = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(url, { method: method.toUpperCase(), headers, body: body === undefined ? undefined : JSON.stringify(body), signal });
  } catch (e) {
    if ((e as Error).name === 'AbortError') throw e;
    throw new ApiError(0, 'NETWORK', `cannot reach Sluice: ${(e as Error).message}`);
  }
  const text = await res.text();
  let json: unknown = null;
  if (text) {
    try {
      json = JSON.parse(text);
    } catch {
      json = null;
    }
  }
  if (!res.ok) {
    const e = (json ?? {}) as { code?: string; message?: string; errors?: FieldError[] };
    if (res.status === 401 && token && onUnauthorized) onUnauthorized();
    throw new ApiError(res.status, e.code ?? `HTTP_${res.status}`, e.message ?? (text || res.statusText), e.errors ?? []);
  }
  return json as T;
}

function call<M extends Method>(method: M) {
  return <P extends PathsWith<M>>(path: P, o: CallOptions<Op<P, M>> = {}): Promise<Ok<Op<P, M>>> =>
    rawCall<Ok<Op<P, M>>>(method, fillPath(path as string, o.params as Record<string, unknown>) + queryString(o.query as Record<string, unknown>), o.body, o.signal);
}

export const api = {
  get: call('get'),
  post: call('post'),
  patch: call('patch'),
  delete: call('delete'),
};

/** The URL of a stream's preview WebSocket (the token travels as a subprotocol, not in the URL). */
export function previewUrl(serverId: number, stream: string): string {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${proto}//${location.host}${fillPath('/api/v1/servers/{id}/streams/preview', { id: serverId })}${queryString({ stream })}`;
}

/** Which paths this Sluice serves (from its OpenAPI document): parts of the console follow it. */
let available: Promise<Set<string>> | null = null;
export function availablePaths(): Promise<Set<string>> {
  available ??= rawCall<{ paths: Record<string, unknown> }>('get', '/openapi.json')
    .then((d) => new Set(Object.keys(d.paths)))
    .catch(() => {
      available = null;
      return new Set<string>();
    });
  return available;
}
