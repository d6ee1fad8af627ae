// srt:// URLs with the query keys srt-live-transmit accepts (SRT-DIGEST §11).
import { OptionError } from '../protocol/errors.js';
import { validateFilterOption } from '../protocol/filter-config.js';
import { OPTION_NAMES, parseOptionValue, type SrtOptions } from '../protocol/options.js';
import type { GroupTypeName } from '../protocol/group.js';

export type SrtMode = 'caller' | 'listener' | 'rendezvous';

export interface SrtEndpoint {
  mode: SrtMode;
  host: string;
  port: number;
  /** Local address to bind (srt-live-transmit `adapter`). */
  adapter?: string;
  /** Local port (rendezvous, or a caller's fixed source port). */
  localPort?: number;
  options: Partial<SrtOptions>;
  /**
   * A caller group (bonding, ADR 16): `srt://a:p1,b:p2?grouptype=broadcast|backup&weight=w1,w2` or
   * libsrt's testing-application form `srt:////group?type=broadcast&nodes=a:p1?weight=w1,b:p2`.
   * host/port are the first node's.
   */
  group?: SrtGroupSpec;
}

export interface SrtGroupSpec {
  type: GroupTypeName;
  nodes: { host: string; port: number; weight: number }[];
}

function parseNode(text: string, key: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]*)\]|([^:/?#,]+)):(\d+)$/.exec(text);
  if (!m) throw new OptionError(key, `"${text}" is not host:port`);
  const port = Number(m[3]);
  if (port < 1 || port > 65535) throw new OptionError(key, `port ${m[3]} is not from 1 to 65535`);
  return { host: m[1] ?? m[2]!, port };
}

function parseGroupType(value: string, key: string): GroupTypeName {
  const v = value.toLowerCase();
  if (v === 'broadcast' || v === 'backup') return v;
  throw new OptionError(key, `"${value}" is not one of broadcast, backup (libsrt 1.5 has no other group type)`);
}

function parseWeight(text: string, key: string): number {
  if (!/^\d+$/.test(text) || Number(text) > 0xffff) throw new OptionError(key, `"${text}" is not a weight from 0 to 65535`);
  return Number(text);
}

/** The group forms of parseSrtUrl (see SrtEndpoint.group). */
function parseGroupUrl(text: string): SrtEndpoint {
  const q = text.indexOf('?');
  const head = q < 0 ? text : text.slice(0, q);
  const query = q < 0 ? '' : text.slice(q + 1);
  const rest: string[] = [];
  let type: GroupTypeName | undefined;
  let nodes: { host: string; port: number; weight: number }[] = [];
  let weights: number[] = [];
  if (/^srt:\/\/\/\/group\/?$/i.test(head)) {
    // libsrt srt-test-live: srt:////group?type=…&nodes=host:port?weight=N,host:port
    for (const part of query.split('&')) {
      const eq = part.indexOf('=');
      const key = (eq < 0 ? part : part.slice(0, eq)).toLowerCase();
      const value = eq < 0 ? '' : part.slice(eq + 1);
      if (key === 'type') type = parseGroupType(value, 'type');
      else if (key === 'nodes') {
        nodes = value.split(',').filter((n) => n !== '').map((n) => {
          const [hp, ...attrs] = n.split('?');
          let weight = 0;
          for (const a of attrs) {
            const [k, v] = a.split('=');
            if (k === 'weight') weight = parseWeight(v ?? '', 'weight');
          }
          return { ...parseNode(hp!, 'nodes'), weight };
        });
      } else if (part !== '') rest.push(part);
    }
    if (!type) throw new OptionError('type', 'srt:////group needs type=broadcast|backup');
    if (nodes.length === 0) throw new OptionError('nodes', 'srt:////group needs nodes=host:port,host:port');
  } else {
    const m = /^srt:\/\/(.*)$/.exec(head)!;
    nodes = m[1]!.replace(/\/$/, '').split(',').map((n) => ({ ...parseNode(n, 'url'), weight: 0 }));
    for (const part of query.split('&')) {
      const eq = part.indexOf('=');
      const key = (eq < 0 ? part : part.slice(0, eq)).toLowerCase();
      const value = eq < 0 ? '' : part.slice(eq + 1);
      if (key === 'grouptype') type = parseGroupType(value, 'grouptype');
      else if (key === 'weight') weights = value.split(',').map((w) => parseWeight(w, 'weight'));
      else if (part !== '') rest.push(part);
    }
    if (weights.length > 0 && weights.length !== 1 && weights.length !== nodes.length) {
      throw new OptionError('weight', `${weights.length} weights for ${nodes.length} addresses`);
    }
    nodes.forEach((n, i) => { n.weight = weights.length === 1 ? weights[0]! : (weights[i] ?? 0); });
    type ??= 'broadcast';
  }
  const first = nodes[0]!;
  const host = first.host.includes(':') ? `[${first.host}]` : first.host;
  const e = parseSrtUrl(`srt://${host}:${first.port}${rest.length ? `?${rest.join('&')}` : ''}`);
  if (e.mode !== 'caller') throw new OptionError('mode', 'a group URL dials: caller mode only (a listener takes groups with groupconnect=1)');
  return { ...e, group: { type, nodes } };
}

const TRANSPORT_KEYS = new Set(['mode', 'adapter', 'port', 'bind', 'blocking', 'timeout']);

/** Parses `srt://host:port?key=value&…`. Throws OptionError naming the bad key. */
export function parseSrtUrl(text: string): SrtEndpoint {
  if (/^srt:\/\/\/\/group/i.test(text) || /^srt:\/\/[^?]*,/.test(text) || /[?&]grouptype=/i.test(text)) return parseGroupUrl(text);
  const m = /^srt:\/\/(\[[^\]]*\]|[^:/?#]*)(?::(\d+))?\/?(?:\?(.*))?$/.exec(text);
  if (!m) throw new OptionError('url', `"${text}" is not an srt://host:port URL`);
  let host = m[1]!;
  if (host.startsWith('[')) host = host.slice(1, -1);
  if (!m[2]) throw new OptionError('url', `"${text}" has no port`);
  const port = Number(m[2]);
  if (port < 1 || port > 65535) throw new OptionError('port', `${port} is not from 1 to 65535`);
  const options: Record<string, unknown> = {};
  let mode: SrtMode | undefined;
  let adapter: string | undefined;
  let localPort: number | undefined;
  // Query values are taken literally (as srt-live-transmit and ffmpeg do), except that a stream id
  // given as %23!:: is understood as #!::.
  for (const part of (m[3] ?? '').split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const key = (eq < 0 ? part : part.slice(0, eq)).toLowerCase();
    const value = eq < 0 ? '' : part.slice(eq + 1);
    if (TRANSPORT_KEYS.has(key)) {
      if (key === 'mode') {
        const v = value.toLowerCase();
        if (v === 'client') mode = 'caller';
        else if (v === 'server') mode = 'listener';
        else if (v === 'caller' || v === 'listener' || v === 'rendezvous') mode = v;
        else throw new OptionError('mode', `"${value}" is not one of caller, listener, rendezvous`);
      } else if (key === 'adapter') {
        adapter = value;
      } else if (key === 'bind') {
        // srt-live-transmit: bind=host:port sets adapter (if a host is given) and port; a bare
        // host is taken as the adapter
        const b = /^(?:\[([^\]]*)\]|([^:]*)):(\d+)$/.exec(value);
        if (b) {
          const h = b[1] ?? b[2] ?? '';
          if (h !== '') adapter = h;
          const p = Number(b[3]);
          if (p < 1 || p > 65535) throw new OptionError('bind', `port "${b[3]}" is not from 1 to 65535`);
          localPort = p;
        } else {
          adapter = value;
        }
      } else if (key === 'port') {
        const p = Number(value);
        if (!Number.isInteger(p) || p < 1 || p > 65535) throw new OptionError('port', `"${value}" is not from 1 to 65535`);
        localPort = p;
      }
      continue;
    }
    if (!(OPTION_NAMES as string[]).includes(key)) throw new OptionError(key, 'unknown srt:// option');
    options[key] = parseOptionValue(key, value);
  }
  // packetfilter=fec,cols:10,rows:5,…: checked here (syntax, keys, values), so that a stored URL
  // (a route) is refused at once, naming the key; merging with the peer's happens at the handshake
  if (typeof options['packetfilter'] === 'string') validateFilterOption(options['packetfilter']);
  if (typeof options['streamid'] === 'string' && (options['streamid'] as string).startsWith('%23')) {
    options['streamid'] = `#${(options['streamid'] as string).slice(3)}`;
  }
  // srt-live-transmit's default mode (SrtInterpretMode): no host → listener; a host and an
  // adapter → rendezvous; a host alone → caller
  if (!mode) mode = host === '' ? 'listener' : adapter !== undefined && adapter !== '' ? 'rendezvous' : 'caller';
  if (mode === 'rendezvous' && host === '') throw new OptionError('url', 'rendezvous mode needs the peer\'s host');
  if (mode === 'caller' && host === '') throw new OptionError('url', 'caller mode needs a host');
  return { mode, host, port, adapter, localPort, options: options as Partial<SrtOptions> };
}
