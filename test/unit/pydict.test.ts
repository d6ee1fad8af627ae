// The config backend answer parser (server/pydict.ts): JSON and Python's str(dict) — apostrophes
// inside strings, escapes, nesting, tuples and sets; malformed text gives a PyLiteralError.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MAX_DEPTH, parsePyLiteral, PyLiteralError } from '../../src/server/pydict.js';
import { fileTimeout } from '../support/file-timeout.js';

fileTimeout();

/** Python's str() of a value made of dicts, lists, strings, finite numbers, booleans and None. */
function pyRepr(v: unknown): string {
  if (v === null) return 'None';
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') {
    // Python: single quotes, unless the text has a ' and no "
    const q = v.includes("'") && !v.includes('"') ? '"' : "'";
    let out = q;
    for (const ch of v) {
      const c = ch.codePointAt(0)!;
      if (ch === '\\') out += '\\\\';
      else if (ch === q) out += `\\${q}`;
      else if (ch === '\n') out += '\\n';
      else if (ch === '\r') out += '\\r';
      else if (ch === '\t') out += '\\t';
      else if (c < 0x20 || c === 0x7f) out += `\\x${c.toString(16).padStart(2, '0')}`;
      else out += ch;
    }
    return out + q;
  }
  if (Array.isArray(v)) return `[${v.map(pyRepr).join(', ')}]`;
  return `{${Object.entries(v as object).map(([k, x]) => `${pyRepr(k)}: ${pyRepr(x)}`).join(', ')}}`;
}

describe('parsePyLiteral', () => {
  test("Flussonic's example backend answer (str(dict)) with apostrophes and quotes inside values", () => {
    // printed by CPython 3 for the dict in the comment of the file: exactly what a backend sends
    const text = `{'streams': [{'name': "O'Brien", 'title': 'say "hi"', 'both': 'it\\'s "x"', 'nl': 'a\\nb\\tc\\\\d', 'uni': 'café ☃ 😀', 'ctl': '\\x01\\x7f', 'n': None, 'ok': True, 'no': False, 'num': -1.5e-07, 'big': 100000000000000000000, 't': (1,), 'e': (), 's': {3}, 'nested': {'a': [{'b': {'c': [1, 2, {'d': "x'y"}]}}]}, 1: 'intkey'}]}`;
    assert.deepEqual(parsePyLiteral(text), {
      streams: [{
        name: "O'Brien", title: 'say "hi"', both: 'it\'s "x"', nl: 'a\nb\tc\\d', uni: 'café ☃ 😀', ctl: '\x01\x7f',
        n: null, ok: true, no: false, num: -1.5e-7, big: 1e20, t: [1], e: [], s: [3],
        nested: { a: [{ b: { c: [1, 2, { d: "x'y" }] } }] }, 1: 'intkey',
      }],
    });
  });

  test('the seed backend shape, passphrases with apostrophes', () => {
    const text = "{'streams': [{'name': 'publish_stream_name', 'inputs': [{'url': 'publish://'}], 'srt_publish': {'passphrase': \"Tom's secure pass\"}}]}";
    assert.deepEqual(parsePyLiteral(text), {
      streams: [{ name: 'publish_stream_name', inputs: [{ url: 'publish://' }], srt_publish: { passphrase: "Tom's secure pass" } }],
    });
  });

  test('JSON as JSON.parse reads it, including \\u escapes, surrogate pairs and \\/', () => {
    const text = '{"a": [1, -2.5e3, true, false, null, "x\\"y\\u00e9\\ud83d\\ude00\\/z"], "b": {}, "c": [], "": 0}';
    assert.deepEqual(parsePyLiteral(text), JSON.parse(text));
  });

  test('Python escapes, u-prefixed strings, trailing commas, whitespace', () => {
    assert.equal(parsePyLiteral("'\\101\\x41\\u0041\\U0001F600\\q'"), 'AAA😀\\q');
    assert.equal(parsePyLiteral("u'x'"), 'x');
    assert.deepEqual(parsePyLiteral("{\n\t'a': [1, 2,],\r\n 'b': (3, 4,),\n}"), { a: [1, 2], b: [3, 4] });
    assert.deepEqual(parsePyLiteral('{"__proto__": 1}'), JSON.parse('{"__proto__": 1}'));
    assert.equal(Object.getPrototypeOf(parsePyLiteral("{'__proto__': {'polluted': 1}}")), Object.prototype);
    assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
  });

  test('malformed text: a PyLiteralError naming the place', () => {
    const cases: [string, RegExp][] = [
      ['', /expected a value at line 1 column 1, found the end of the text/],
      ["{'a': 1", /expected "," or "}" at line 1 column 8/],
      ["{'a' 1}", /expected ":"/],
      ["{'name': 'O'Brien'}", /expected "," or "}" at line 1 column 13, found "Brien'}"/],
      ["'abc", /unterminated string at line 1 column 1/],
      ["'ab\ncd'", /line break inside a string/],
      ["'\\x4'", /expected 2 hex digits/],
      ["'\\U00110000'", /beyond U\+10FFFF/],
      ['[1 2]', /expected "," or "]"/],
      ['{(1, 2): 3}', /dict key must be/],
      ['[1] x', /unexpected text after the value/],
      ['undefined', /expected a value/],
      ['{,}', /expected a value/],
      ['"\\', /unterminated string/],
    ];
    for (const [text, re] of cases) {
      assert.throws(() => parsePyLiteral(text), (e: unknown) => e instanceof PyLiteralError && re.test(e.message), text);
    }
  });

  test(`nesting deeper than ${MAX_DEPTH} levels is refused, not a stack overflow`, () => {
    assert.ok(Array.isArray(parsePyLiteral(`${'['.repeat(MAX_DEPTH)}${']'.repeat(MAX_DEPTH)}`)));
    assert.throws(() => parsePyLiteral('['.repeat(100_000)), /nested deeper than 256 levels/);
  });

  test('property: Python str() of any value reads back as that value; JSON reads as JSON.parse', () => {
    const value = fc.letrec((tie) => ({
      v: fc.oneof({ depthSize: 'small' },
        fc.constantFrom(null, true, false), fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }).filter((d) => !Object.is(d, -0)),
        fc.string({ unit: 'grapheme-composite' }), fc.string({ unit: fc.constantFrom("'", '"', '\\', '\n', '\t', '\x00', '\x7f', 'a', 'é') }),
        fc.array(tie('v'), { maxLength: 4 }), fc.dictionary(fc.string(), tie('v'), { maxKeys: 4, noNullPrototype: true })),
    })).v;
    fc.assert(fc.property(value, (v) => {
      assert.deepEqual(parsePyLiteral(pyRepr(v)), v);
      const json = JSON.stringify(v);
      assert.deepEqual(parsePyLiteral(json), JSON.parse(json));
    }), { numRuns: 500 });
  });

  test('property: any text parses or throws a PyLiteralError (never another error, never a hang)', () => {
    const alphabet = fc.constantFrom(...`{}[](),:'"\\ 0123456789.-+eExuUTrueFalsNn\n`.split(''));
    fc.assert(fc.property(fc.string({ unit: alphabet, maxLength: 60 }), (text) => {
      try {
        parsePyLiteral(text);
      } catch (e) {
        assert.ok(e instanceof PyLiteralError, `${String(e)} for ${JSON.stringify(text)}`);
      }
    }), { numRuns: 3000 });
  });
});
