// Packet filter configuration (SRTO_PACKETFILTER / `packetfilter=`): parsing, validation and the
// handshake merge of both parties' strings, with libsrt's rules (packetfilter.cpp ParseFilterConfig,
// CheckFilterCompat; fec.cpp verifyConfig; core.cpp checkApplyFilterConfig). ADR 13.
import { OptionError } from './errors.js';

/** libsrt CSrtConfig::MAX_PFILTER_LENGTH. */
export const MAX_FILTER_LENGTH = 64;
/** Bytes the FEC filter adds to its control packets (fec.h EXTRA_SIZE): the live payload max drops to 1452. */
export const FEC_EXTRA_SIZE = 4;
/** libsrt SRT_LIVE_MAX_PLSIZE. */
export const LIVE_MAX_PAYLOAD = 1456;
/** Sluice bounds (ADR 13): the column index travels in a signed byte (-1 = row), and a matrix must fit the buffers. */
export const FEC_MAX_COLS = 255;
export const FEC_MAX_MATRIX = 4096;

/** fec.cpp defaultConfig: what a key left out means. */
const FEC_DEFAULTS: Readonly<Record<string, string>> = { rows: '1', layout: 'staircase', arq: 'onreq' };
const FEC_KEYS = new Set(['cols', 'rows', 'layout', 'arq']);

export type ArqLevel = 'never' | 'onreq' | 'always';

/** A parsed filter string: the type and its key:value pairs (pairs with an empty value are dropped, as libsrt does). */
export interface FilterConfig {
  type: string;
  params: Map<string, string>;
}

/** The FEC filter's effective settings. */
export interface FecConfig {
  cols: number;
  /** Rows per column group (always >= 1). */
  rows: number;
  /** `rows` was negative: column FEC only, no row FEC packets. */
  colsOnly: boolean;
  layout: 'even' | 'staircase';
  arq: ArqLevel;
}

/** An error in a filter string; `key` names the offending key (or 'type'/'syntax'). */
export class FilterConfigError extends OptionError {
  constructor(readonly key: string, message: string) {
    super('packetfilter', `${key}: ${message}`);
  }
}

/** libsrt SrtParseConfig: `type[,key:value...]`. */
export function parseFilterString(s: string): FilterConfig {
  if (Buffer.byteLength(s) > MAX_FILTER_LENGTH) {
    throw new FilterConfigError('syntax', `longer than ${MAX_FILTER_LENGTH} bytes`);
  }
  const parts = s.split(',');
  const type = parts[0]!;
  const params = new Map<string, string>();
  for (const part of parts.slice(1)) {
    const kv = part.split(':');
    if (kv.length !== 2) throw new FilterConfigError('syntax', `"${part}" is not key:value (use fec,cols:10,rows:5,...)`);
    if (kv[1] !== '') params.set(kv[0]!, kv[1]!);
  }
  if (type !== 'fec') {
    throw new FilterConfigError('type', `unknown packet filter "${type}" (the built-in filter is fec)`);
  }
  return { type, params };
}

/** C atoi: leading integer, 0 if none. */
function atoi(s: string): number {
  const m = /^\s*[+-]?\d+/.exec(s);
  return m ? parseInt(m[0], 10) : 0;
}

/** fec.cpp verifyConfig plus Sluice's bounds; throws FilterConfigError naming the key. */
export function verifyFec(cfg: FilterConfig, requireCols: boolean): void {
  for (const k of cfg.params.keys()) {
    if (!FEC_KEYS.has(k)) throw new FilterConfigError(k, 'unknown key; allowed only: cols, rows, layout, arq');
  }
  const layout = cfg.params.get('layout');
  if (layout !== undefined && layout !== 'even' && layout !== 'staircase') {
    throw new FilterConfigError('layout', `"${layout}" is not even or staircase`);
  }
  const colspec = cfg.params.get('cols');
  if (colspec === undefined) {
    if (requireCols) throw new FilterConfigError('cols', 'is mandatory (at least 2)');
  } else {
    const cols = atoi(colspec);
    if (cols < 2) throw new FilterConfigError('cols', `"${colspec}" must be at least 2`);
    if (cols > FEC_MAX_COLS) throw new FilterConfigError('cols', `"${colspec}" exceeds ${FEC_MAX_COLS}`);
  }
  const rowspec = cfg.params.get('rows');
  let rows = 1;
  if (rowspec !== undefined) {
    rows = atoi(rowspec);
    if (rows >= -1 && rows < 1) throw new FilterConfigError('rows', `"${rowspec}" must be >= 1 or < -1`);
  }
  if (colspec !== undefined && atoi(colspec) * Math.abs(rows) > FEC_MAX_MATRIX) {
    throw new FilterConfigError(rowspec !== undefined ? 'rows' : 'cols', `cols x rows = ${atoi(colspec) * Math.abs(rows)} exceeds ${FEC_MAX_MATRIX}`);
  }
  const arq = cfg.params.get('arq');
  if (arq !== undefined && arq !== 'never' && arq !== 'onreq' && arq !== 'always') {
    throw new FilterConfigError('arq', `"${arq}" is not never, onreq or always`);
  }
}

/**
 * Validates a locally configured filter string (SRTO_PACKETFILTER). As in libsrt, `cols` may be
 * left to the peer (e.g. just `fec`); it must be known once the connection is set up.
 */
export function validateFilterOption(s: string): void {
  if (s === '') return;
  verifyFec(parseFilterString(s), false);
}

export function formatFilter(cfg: FilterConfig): string {
  // libsrt rebuilds the merged string from its (sorted) std::map
  const keys = [...cfg.params.keys()].sort();
  return [cfg.type, ...keys.map((k) => `${k}:${cfg.params.get(k)!}`)].join(',');
}

/**
 * The handshake merge (core.cpp checkApplyFilterConfig): `mine` is our configured string ('' = none),
 * `peer` the string the peer sent. Returns the agreed string, or throws FilterConfigError naming the
 * conflicting key (the connection is then rejected with SRT_REJ_FILTER).
 * - a side without a filter takes the peer's;
 * - the initiator (caller) adopts every value the responder (listener) sent;
 * - the responder refuses a key both sides set to different values (a key set by one side only
 *   is taken; a key set by neither is compared with its default);
 * - rendezvous: both strings must be identical.
 */
export function mergeFilter(mine: string, peer: string, side: 'initiator' | 'responder' | 'rendezvous'): string {
  const theirs = parseFilterString(peer);
  verifyFec(theirs, false);
  if (mine === '') return peer;
  if (side === 'rendezvous' && mine !== peer) {
    throw new FilterConfigError('packetfilter', `rendezvous needs identical filter strings ("${mine}" vs "${peer}")`);
  }
  const ours = parseFilterString(mine);
  if (ours.type !== theirs.type) throw new FilterConfigError('type', `"${ours.type}" vs peer's "${theirs.type}"`);
  if (side === 'initiator') {
    for (const [k, v] of theirs.params) ours.params.set(k, v);
    return formatFilter(ours);
  }
  const a = new Map(ours.params), b = new Map(theirs.params);
  const keys = new Set([...a.keys(), ...b.keys()]);
  for (const k of keys) {
    if (!a.has(k)) a.set(k, b.get(k)!);
    if (!b.has(k)) b.set(k, a.get(k)!);
  }
  for (const [k, v] of Object.entries(FEC_DEFAULTS)) {
    if (!a.has(k)) a.set(k, v);
    if (!b.has(k)) b.set(k, v);
  }
  for (const k of keys) {
    if (a.get(k) !== b.get(k)) {
      throw new FilterConfigError(k, `collision: "${a.get(k)}" here, "${b.get(k)}" at the peer`);
    }
  }
  return formatFilter({ type: ours.type, params: a });
}

/** The effective FEC settings of an agreed string; throws FilterConfigError if `cols` is still missing. */
export function fecConfig(s: string): FecConfig {
  const cfg = parseFilterString(s);
  verifyFec(cfg, true);
  const p = cfg.params;
  const cols = atoi(p.get('cols')!);
  const rowsRaw = p.has('rows') ? atoi(p.get('rows')!) : 1;
  const layout = (p.get('layout') ?? FEC_DEFAULTS.layout!).startsWith('even') ? 'even' : 'staircase';
  return {
    cols,
    rows: Math.abs(rowsRaw),
    colsOnly: rowsRaw < 0,
    layout,
    arq: (p.get('arq') ?? FEC_DEFAULTS.arq!) as ArqLevel,
  };
}
