// A parser for the answers of Flussonic-style configuration backends: JSON, or the text Python's
// `str(dict)` writes (the backend example in Flussonic's documentation sends `str(response)`):
// 'single' or "double" quoted strings with Python escapes, True/False/None, dicts, lists, tuples
// and sets (both become arrays), trailing commas. One pass over the text, so malformed input ends
// in a PyLiteralError naming the place, never in a hang.

export class PyLiteralError extends SyntaxError {
  constructor(message: string, readonly offset: number) {
    super(message);
    this.name = 'PyLiteralError';
  }
}

/** Deeper nesting than this is refused (the parser recurses once per level). */
export const MAX_DEPTH = 256;

const NAMES: Record<string, unknown> = {
  True: true, False: false, None: null,
  true: true, false: false, null: null,
  inf: Infinity, nan: NaN, Infinity, NaN,
};

const SIMPLE_ESCAPES: Record<string, string> = {
  '\\': '\\', "'": "'", '"': '"', '/': '/',
  a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v',
};

/** Parses JSON or a Python literal (`str()` of dicts, lists, tuples, strings, numbers, booleans, None). */
export function parsePyLiteral(text: string): unknown {
  let i = 0;

  const where = (at: number): string => {
    const before = text.slice(0, at);
    const line = before.split('\n').length;
    const col = at - before.lastIndexOf('\n');
    return `at line ${line} column ${col}`;
  };
  const fail: (what: string, at?: number) => never = (what, at = i) => {
    const found = at >= text.length ? 'the end of the text' : JSON.stringify(text.slice(at, at + 12));
    throw new PyLiteralError(`${what} ${where(at)}, found ${found}`, at);
  };
  const skipSpace = (): void => {
    while (i < text.length && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')) i++;
  };

  const hex = (digits: number, at: number): number => {
    const h = text.slice(i, i + digits);
    if (h.length !== digits || !/^[0-9a-fA-F]+$/.test(h)) fail(`expected ${digits} hex digits in an escape`, at);
    i += digits;
    return parseInt(h, 16);
  };

  const parseString = (): string => {
    const quote = text[i]!;
    const start = i++;
    let out = '';
    let run = i; // start of the current stretch without escapes
    for (;;) {
      if (i >= text.length) fail('unterminated string', start);
      const c = text[i]!;
      if (c === quote) {
        out += text.slice(run, i);
        i++;
        return out;
      }
      if (c === '\n' || c === '\r') fail('line break inside a string (unterminated string?)', start);
      if (c !== '\\') {
        i++;
        continue;
      }
      out += text.slice(run, i);
      const at = i;
      i++;
      if (i >= text.length) fail('unterminated string', start);
      const e = text[i++]!;
      if (e in SIMPLE_ESCAPES) out += SIMPLE_ESCAPES[e];
      else if (e === 'x') out += String.fromCharCode(hex(2, at));
      else if (e === 'u') out += String.fromCharCode(hex(4, at)); // JSON surrogate pairs come as two of these
      else if (e === 'U') {
        const cp = hex(8, at);
        if (cp > 0x10ffff) fail('escape beyond U+10FFFF', at);
        out += String.fromCodePoint(cp);
      } else if (e >= '0' && e <= '7') {
        let n = e.charCodeAt(0) - 48;
        for (let k = 0; k < 2 && text[i]! >= '0' && text[i]! <= '7'; k++) n = n * 8 + text.charCodeAt(i++) - 48;
        out += String.fromCharCode(n);
      } else if (e === '\n') { /* a line continuation */ } else out += `\\${e}`; // Python keeps unknown escapes as they are
      run = i;
    }
  };

  const parseNumber = (): number => {
    const m = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
    if (!m) return fail('expected a number');
    i += m[0].length;
    return Number(m[0]);
  };

  /** Items up to `close`, separated by commas (a trailing one allowed). */
  const parseItems = (close: string, item: () => void): void => {
    for (;;) {
      skipSpace();
      if (text[i] === close) {
        i++;
        return;
      }
      item();
      skipSpace();
      if (text[i] === ',') i++;
      else if (text[i] === close) {
        i++;
        return;
      } else fail(`expected "," or "${close}"`);
    }
  };

  const parseValue = (depth: number): unknown => {
    if (depth > MAX_DEPTH) fail(`nested deeper than ${MAX_DEPTH} levels`);
    skipSpace();
    const c = text[i];
    if (c === undefined) return fail('expected a value');
    if (c === "'" || c === '"') return parseString();
    if ((c === 'u' || c === 'U') && (text[i + 1] === "'" || text[i + 1] === '"')) {
      i++;
      return parseString();
    }
    if (c === '[' || c === '(') {
      i++;
      const arr: unknown[] = [];
      parseItems(c === '[' ? ']' : ')', () => arr.push(parseValue(depth + 1)));
      return arr;
    }
    if (c === '{') {
      i++;
      skipSpace();
      if (text[i] === '}') {
        i++;
        return {};
      }
      const first = parseValue(depth + 1);
      skipSpace();
      if (text[i] !== ':') {
        // a set: {1, 2}
        const arr: unknown[] = [first];
        if (text[i] === ',') i++;
        else if (text[i] !== '}') fail('expected ":", "," or "}"');
        parseItems('}', () => arr.push(parseValue(depth + 1)));
        return arr;
      }
      const entries: [string, unknown][] = [];
      let key = first;
      for (;;) {
        if (key !== null && typeof key === 'object') fail('a dict key must be a string, number, True, False or None');
        i++; // the ':'
        entries.push([String(key), parseValue(depth + 1)]);
        skipSpace();
        if (text[i] === ',') {
          i++;
          skipSpace();
        } else if (text[i] !== '}') fail('expected "," or "}"');
        if (text[i] === '}') {
          i++;
          return Object.fromEntries(entries); // own properties, even for a "__proto__" key
        }
        const at = i;
        key = parseValue(depth + 1);
        skipSpace();
        if (text[i] !== ':') fail('expected ":" after a dict key', i > at ? i : at);
      }
    }
    if (c === '-' || c === '+' || c === '.' || (c >= '0' && c <= '9')) {
      const inf = /^-(?:inf|Infinity)(?![A-Za-z0-9_])/.exec(text.slice(i, i + 10));
      if (inf) {
        i += inf[0].length;
        return -Infinity;
      }
      return parseNumber();
    }
    const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i, i + 64));
    if (m && m[0] in NAMES) {
      i += m[0].length;
      return NAMES[m[0]];
    }
    return fail('expected a value');
  };

  const value = parseValue(0);
  skipSpace();
  if (i < text.length) fail('unexpected text after the value');
  return value;
}
