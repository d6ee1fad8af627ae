// Small argument helpers shared by the sluice commands.
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import { UsageError } from './errors.js';

/** Parses HOST:PORT, [IPv6]:PORT or :PORT (empty host = all interfaces); null if malformed. */
export function parseHostPort(text: string, defaultHost = '0.0.0.0'): { host: string; port: number } | null {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(text);
  if (!m || Number(m[3]) > 65535) return null;
  return { host: m[1] ?? (m[2] || defaultHost), port: Number(m[3]) };
}

/** What a command line is made of: its options (`--name value`, `--name=value`, `-x value`) and positionals. */
export interface CommandLine<O extends ParseArgsOptionsConfig> {
  values: { [K in keyof O]?: O[K]['type'] extends 'boolean' ? boolean : string };
  positionals: string[];
}

/**
 * `util.parseArgs` in strict mode, with its errors told the way the sluice commands tell them:
 * `unknown option --x`, `--x needs a value`, `--x takes no value`, `unexpected argument "y"`.
 * `--help`/`-h` anywhere wins over every error (the caller sees `values.help`).
 */
export function parseCommandLine<O extends ParseArgsOptionsConfig>(
  argv: string[],
  options: O,
  o: { positionals?: boolean; error?: (message: string) => Error } = {},
): CommandLine<O> {
  const allowPositionals = o.positionals ?? false;
  try {
    const r = parseArgs({ args: argv, options, strict: true, allowPositionals, allowNegative: false });
    return { values: r.values as CommandLine<O>['values'], positionals: r.positionals };
  } catch (e) {
    // strict mode says what is wrong but not in our words: find the argument it refused
    const { tokens } = parseArgs({ args: argv, options, strict: false, allowPositionals: true, tokens: true });
    const make = o.error ?? ((m: string) => new UsageError(m));
    if ('help' in options && tokens.some((t) => t.kind === 'option' && t.name === 'help')) {
      return { values: { help: true } as unknown as CommandLine<O>['values'], positionals: [] };
    }
    for (const t of tokens) {
      if (t.kind === 'option') {
        const spec = Object.hasOwn(options, t.name) ? options[t.name] : undefined;
        if (!spec) throw make(`unknown option ${t.rawName.startsWith('--') ? t.rawName : argv[t.index]}`); // -x, or a group like -qx
        if (spec.type === 'string' && t.value === undefined) throw make(`${t.rawName} needs a value`);
        if (spec.type === 'string' && !t.inlineValue && t.value!.length > 1 && t.value!.startsWith('-')) {
          // parseArgs refuses `--x -y`: -y is likely the next option, or a value that must be written --x=-y
          const next = t.value!.replace(/^--?/, '').split('=')[0]!;
          const isOption = Object.hasOwn(options, next) || Object.values(options).some((x) => x.short === next);
          throw make(isOption ? `${t.rawName} needs a value` : `${t.rawName} needs a value (one that starts with "-" is written --${t.name}=${t.value})`);
        }
        if (spec.type === 'boolean' && t.value !== undefined) throw make(`${t.rawName} takes no value`);
      } else if (t.kind === 'positional' && !allowPositionals) throw make(`unexpected argument "${t.value}"`);
    }
    throw make((e as Error).message);
  }
}
