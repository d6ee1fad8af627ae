// Configuration of `sluice serve`: each option from the command line, a SLUICE_* variable or a
// JSON config file (in that order of precedence), validated once with messages that name the
// option, where it came from, and its allowed range.
import { readFileSync } from 'node:fs';
import { parseCommandLine, parseHostPort } from './args.js';
import { UsageError } from './errors.js';

/** A usage error of `sluice serve` that names the option, where its value came from, and what it allows. */
export class ConfigError extends UsageError {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

type Kind =
  | { type: 'string'; min?: number; max?: number }
  | { type: 'int'; min: number; max: number }
  | { type: 'hostport' }
  | { type: 'enum'; values: readonly string[] }
  | { type: 'duration' }
  | { type: 'database' };

interface OptionSpec {
  /** command-line flag without dashes, e.g. "http-addr"; config key is its camelCase form. */
  flag: string;
  env: string;
  kind: Kind;
  default?: string;
  help: string;
  secret?: boolean;
}

export const SERVE_OPTIONS: readonly OptionSpec[] = [
  { flag: 'data-dir', env: 'SLUICE_DATA_DIR', kind: { type: 'string', min: 1 }, default: './data', help: 'where the SQLite database and recordings live' },
  { flag: 'database', env: 'SLUICE_DATABASE', kind: { type: 'database' }, help: 'postgres://user:pass@host:port/db for several nodes, or a SQLite file (default DATA_DIR/sluice.db)' },
  { flag: 'http-addr', env: 'SLUICE_HTTP_ADDR', kind: { type: 'hostport' }, default: '0.0.0.0:8080', help: 'REST API and dashboard address' },
  { flag: 'srt-port', env: 'SLUICE_SRT_PORT', kind: { type: 'int', min: 1, max: 65535 }, default: '9000', help: 'UDP port of the "default" SRT server created on first start' },
  { flag: 'admin-password', env: 'SLUICE_ADMIN_PASSWORD', kind: { type: 'string', min: 8, max: 256 }, help: 'password of "admin" on first start (else generated and printed once)', secret: true },
  { flag: 'token-ttl', env: 'SLUICE_TOKEN_TTL', kind: { type: 'duration' }, default: '12h', help: 'lifetime of login tokens (e.g. 30m, 12h, 7d)' },
  { flag: 'log-level', env: 'SLUICE_LOG_LEVEL', kind: { type: 'enum', values: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] }, default: 'warn', help: 'API request log level (pino)' },
  { flag: 'node-name', env: 'SLUICE_NODE_NAME', kind: { type: 'string', min: 1, max: 64 }, help: 'scale-out: this node\'s name; several nodes share one postgres:// --database (docs/SCALE-OUT.md)' },
  { flag: 'advertise-addr', env: 'SLUICE_ADVERTISE_ADDR', kind: { type: 'string', min: 1, max: 255 }, help: 'scale-out: the host other nodes reach this node\'s SRT servers at (default --srt-host, else the hostname)' },
  { flag: 'srt-host', env: 'SLUICE_SRT_HOST', kind: { type: 'string', min: 1, max: 255 }, help: 'scale-out: the address SRT servers bind when their settings name no host (default all)' },
  { flag: 'metrics-token', env: 'SLUICE_METRICS_TOKEN', kind: { type: 'string', min: 8, max: 256 }, help: 'if set, /metrics requires "Authorization: Bearer TOKEN"', secret: true },
];

export interface ServeConfig {
  dataDir: string;
  database: string | null;
  httpHost: string;
  httpPort: number;
  srtPort: number;
  adminPassword: string | null;
  tokenTtl: string;
  logLevel: string;
  metricsToken: string | null;
  /** Scale-out (ADR 17): this node's name; null on a single node. */
  nodeName: string | null;
  advertiseAddr: string | null;
  srtHost: string | null;
  /** Where each option's value came from (for messages). */
  sources: Record<string, string>;
}

const camel = (flag: string): string => flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

function check(spec: OptionSpec, raw: unknown, from: string): string | number {
  const where = `${spec.flag} (from ${from})`;
  const text = typeof raw === 'number' ? String(raw) : raw;
  if (typeof text !== 'string') throw new ConfigError(`${where}: must be a ${spec.kind.type === 'int' ? 'number' : 'string'}`);
  const shown = spec.secret ? '…' : `"${text}"`;
  switch (spec.kind.type) {
    case 'string': {
      const { min = 0, max = 4096 } = spec.kind;
      if (text.length < min || text.length > max) throw new ConfigError(`${where}: must be ${min} to ${max} characters long`);
      return text;
    }
    case 'int': {
      const n = Number(text);
      if (!/^\d+$/.test(text.trim()) || n < spec.kind.min || n > spec.kind.max) throw new ConfigError(`${where}: ${shown} is not an integer from ${spec.kind.min} to ${spec.kind.max}`);
      return n;
    }
    case 'hostport':
      if (!parseHostPort(text)) throw new ConfigError(`${where}: ${shown} is not HOST:PORT with a port from 0 to 65535`);
      return text;
    case 'enum':
      if (!spec.kind.values.includes(text)) throw new ConfigError(`${where}: ${shown} is not one of ${spec.kind.values.join(', ')}`);
      return text;
    case 'duration':
      if (!/^\d+(s|m|h|d)$/.test(text) || Number(text.slice(0, -1)) === 0) throw new ConfigError(`${where}: ${shown} is not a duration like 30m, 12h or 7d (at least 1s)`);
      return text;
    case 'database':
      if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text) && !/^postgres(ql)?:\/\/[^/]+\/[^/?]+/.test(text)) {
        throw new ConfigError(`${where}: a database URL must be postgres://[user[:pass]@]host[:port]/dbname (or give a SQLite file path)`);
      }
      if (text === '') throw new ConfigError(`${where}: must not be empty`);
      return text;
  }
}

function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(`config ${path}: cannot read it: ${(e as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`config ${path}: not valid JSON: ${(e as Error).message}`);
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new ConfigError(`config ${path}: must be a JSON object`);
  const known = new Set(SERVE_OPTIONS.flatMap((o) => [o.flag, camel(o.flag)]));
  const unknown = Object.keys(doc).filter((k) => !known.has(k));
  if (unknown.length > 0) throw new ConfigError(`config ${path}: unknown option${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')} (known: ${SERVE_OPTIONS.map((o) => camel(o.flag)).join(', ')})`);
  return doc as Record<string, unknown>;
}

/** Resolves the serve configuration: command line > environment > config file > defaults. */
export function resolveServeConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): ServeConfig | 'help' {
  const options: Record<string, { type: 'string' } | { type: 'boolean'; short: 'h' }> = { config: { type: 'string' }, help: { type: 'boolean', short: 'h' } };
  for (const o of SERVE_OPTIONS) options[o.flag] = { type: 'string' };
  const { values: flags } = parseCommandLine(argv, options, { error: (m) => new ConfigError(m) });
  if (flags['help']) return 'help';
  const cli = new Map<string, string>();
  for (const o of SERVE_OPTIONS) if (typeof flags[o.flag] === 'string') cli.set(o.flag, flags[o.flag] as string);
  const configPath = (flags['config'] as string | undefined) ?? env['SLUICE_CONFIG'];
  const file = configPath ? readConfigFile(configPath) : {};
  const values: Record<string, string | number | null> = {};
  const sources: Record<string, string> = {};
  for (const spec of SERVE_OPTIONS) {
    const key = camel(spec.flag);
    let raw: unknown;
    let from: string;
    if (cli.has(spec.flag)) [raw, from] = [cli.get(spec.flag), `--${spec.flag}`];
    else if (env[spec.env] !== undefined && env[spec.env] !== '') [raw, from] = [env[spec.env], spec.env];
    else if (file[key] !== undefined || file[spec.flag] !== undefined) [raw, from] = [file[key] ?? file[spec.flag], `config ${configPath}`];
    else if (spec.default !== undefined) [raw, from] = [spec.default, 'default'];
    else {
      values[key] = null;
      continue;
    }
    values[key] = check(spec, raw, from);
    sources[key] = from;
  }
  const hp = parseHostPort(values['httpAddr'] as string)!;
  const nodeName = values['nodeName'] as string | null;
  if (nodeName !== null) {
    if (!/^[A-Za-z0-9_.-]+$/.test(nodeName)) throw new ConfigError(`node-name (from ${sources['nodeName']}): "${nodeName}" may hold only letters, digits, "_", "." and "-"`);
    if (!/^postgres(ql)?:\/\//.test((values['database'] as string | null) ?? '')) throw new ConfigError(`node-name (from ${sources['nodeName']}): several nodes share a PostgreSQL database: give --database postgres://…`);
  }
  for (const k of ['advertiseAddr', 'srtHost']) {
    if (values[k] !== null && nodeName === null) throw new ConfigError(`${k === 'srtHost' ? 'srt-host' : 'advertise-addr'} (from ${sources[k]}): only with --node-name (scale-out)`);
  }
  return {
    dataDir: values['dataDir'] as string,
    database: values['database'] as string | null,
    httpHost: hp.host,
    httpPort: hp.port,
    srtPort: values['srtPort'] as number,
    adminPassword: values['adminPassword'] as string | null,
    tokenTtl: values['tokenTtl'] as string,
    logLevel: values['logLevel'] as string,
    metricsToken: values['metricsToken'] as string | null,
    nodeName,
    advertiseAddr: values['advertiseAddr'] as string | null,
    srtHost: values['srtHost'] as string | null,
    sources,
  };
}

export function serveOptionsHelp(): string {
  return SERVE_OPTIONS.map((o) => {
    const left = `  --${o.flag} ${o.kind.type === 'int' ? 'N' : 'VALUE'}`.padEnd(26);
    return `${left}${o.env.padEnd(24)}${o.help}${o.default !== undefined ? ` (default ${o.default})` : ''}`;
  }).join('\n');
}
