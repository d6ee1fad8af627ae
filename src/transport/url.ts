// srt:// URLs with the query keys srt-live-transmit accepts (SRT-DIGEST §11).
import { OptionError } from '../protocol/errors.js';
import { validateFilterOption } from '../protocol/filter-config.js';
import { OPTION_NAMES, parseOptionValue, type SrtOptions } from '../protocol/options.js';

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
}

const TRANSPORT_KEYS = new Set(['mode', 'adapter', 'port', 'bind', 'blocking', 'timeout']);

/** Parses `srt://host:port?key=value&…`. Throws OptionError naming the bad key. */
export function parseSrtUrl(text: string): SrtEndpoint {
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
