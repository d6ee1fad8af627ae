// The HTTP backends the server asks during a handshake (ADR 6): the auth hook (one POST per
// caller) and the Flussonic-style configuration backend of publish ports (port → stream, and the
// stream's publish passphrase from its cached `/streams` answer). Their failures are refusals
// (SrtRejectedError with the SRT code the caller gets).
import type { ConnectRequest } from '../protocol/listener.js';
import { SRT_REJX } from '../protocol/reject.js';
import { SrtRejectedError } from '../transport/errors.js';
import { normaliseName, type HookAnswer } from './access.js';
import { parsePyLiteral } from './pydict.js';
import type { ParsedStreamId } from './streamid.js';
import type { AuthHookConfig, PublishPortRange } from './types.js';

/**
 * Asks the auth hook about a caller. HTTP 401/403/404 deny with 1401/1403/1404; any other failure
 * (unreachable, timeout, other status) denies with 1502 — or allows, with `onFailure: 'allow'`.
 */
export async function callAuthHook(h: AuthHookConfig, serverName: string, req: ConnectRequest, sid: ParsedStreamId): Promise<HookAnswer> {
  const body = {
    server: serverName,
    streamid: req.streamId,
    stream: sid.name,
    mode: sid.mode === 'publish' ? 'publish' : 'play',
    user: sid.user ?? null,
    token: sid.token ?? null,
    form: sid.form,
    peer: { address: req.peerAddress, port: req.peerPort },
    encrypted: req.encrypted,
    latency: req.requestedLatency,
  };
  try {
    const res = await fetch(h.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(h.timeoutMs ?? 2000),
    });
    if (!res.ok) {
      if (res.status === 401 || res.status === 403 || res.status === 404) {
        return { allow: false, reason: res.status === 401 ? SRT_REJX.UNAUTHORIZED : res.status === 404 ? SRT_REJX.NOTFOUND : SRT_REJX.FORBIDDEN };
      }
      throw new Error(`HTTP ${res.status}`);
    }
    const a = (await res.json()) as Record<string, unknown>;
    const allow = a['allow'] === true || a['result'] === 'allow';
    const reason = typeof a['reason'] === 'number' ? a['reason'] : undefined;
    return {
      allow,
      reason,
      passphrase: typeof a['passphrase'] === 'string' ? a['passphrase'] : undefined,
      name: typeof a['stream'] === 'string' ? a['stream'] : typeof a['name'] === 'string' ? a['name'] : undefined,
    };
  } catch (e) {
    if ((h.onFailure ?? 'deny') === 'allow') return { allow: true };
    throw new SrtRejectedError(SRT_REJX.GW, `auth hook failed: ${(e as Error).message}`);
  }
}

/**
 * The configuration backend of a Flussonic-style publish range:
 * `GET {base}srt_port_resolve/{port}?mode=publish&host=…` names a port's stream, and
 * `GET {base}streams` (JSON, or Python's `str(dict)`) gives each stream's `srt_publish.passphrase`,
 * reused for `refreshMs` (default 10 s) unless it lacks the stream asked for.
 */
export class ConfigBackend {
  private cache: { at: number; passphrases: Map<string, string | undefined> } | null = null;

  constructor(private readonly range: PublishPortRange) {}

  private get base(): string {
    const b = this.range.configBackend;
    return b.endsWith('/') ? b : `${b}/`;
  }

  private get timeoutMs(): number {
    return this.range.timeoutMs ?? 2000;
  }

  /** The stream published on `port` by a caller from `host` (1502 unreachable, 1404 none). */
  async resolvePort(port: number, host: string): Promise<string> {
    const url = `${this.base}srt_port_resolve/${port}?mode=publish&host=${encodeURIComponent(host)}`;
    let res: Response;
    try {
      res = await fetch(url, { signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (e) {
      throw new SrtRejectedError(SRT_REJX.GW, `config backend unreachable: ${(e as Error).message}`);
    }
    if (!res.ok) throw new SrtRejectedError(SRT_REJX.NOTFOUND, `config backend has no stream for port ${port} (HTTP ${res.status})`);
    const name = normaliseName((await res.text()).trim());
    if (name === '') throw new SrtRejectedError(SRT_REJX.NOTFOUND, `config backend has no stream for port ${port}`);
    return name;
  }

  /** srt_publish.passphrase of a stream from the backend's /streams answer (cached); 1404 when it is not listed. */
  async passphrase(name: string): Promise<string | undefined> {
    let cache = this.cache;
    if (!cache || Date.now() - cache.at >= (this.range.refreshMs ?? 10_000) || !cache.passphrases.has(name)) {
      const passphrases = await this.fetchStreams();
      cache = this.cache = { at: Date.now(), passphrases };
    }
    if (!cache.passphrases.has(name)) throw new SrtRejectedError(SRT_REJX.NOTFOUND, `stream "${name}" is not in the config backend's /streams`);
    return cache.passphrases.get(name);
  }

  private async fetchStreams(): Promise<Map<string, string | undefined>> {
    let text: string;
    try {
      const res = await fetch(`${this.base}streams`, { signal: AbortSignal.timeout(this.timeoutMs) });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      text = await res.text();
    } catch (e) {
      throw new SrtRejectedError(SRT_REJX.GW, `config backend /streams failed: ${(e as Error).message}`);
    }
    let doc: { streams?: { name?: string; srt_publish?: { passphrase?: string } }[] } | null;
    try {
      doc = parsePyLiteral(text) as typeof doc; // JSON, or Python's str(dict) as in Flussonic's example backend
    } catch (e) {
      throw new SrtRejectedError(SRT_REJX.GW, `config backend /streams: ${(e as Error).message}`);
    }
    if (!doc || typeof doc !== 'object' || !Array.isArray(doc.streams)) throw new SrtRejectedError(SRT_REJX.GW, 'config backend /streams: no "streams" list');
    const m = new Map<string, string | undefined>();
    for (const x of doc.streams) {
      if (!x || typeof x.name !== 'string') continue;
      const p = x.srt_publish?.passphrase;
      m.set(normaliseName(x.name), typeof p === 'string' && p !== '' ? p : undefined);
    }
    return m;
  }
}
