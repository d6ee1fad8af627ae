// Stream ID parsing (SRT-DIGEST §3): #!:: access control, %23!::, MediaMTX publish:/read:, Callaba
// publisher/receiver, plain names, empty stream id with a default stream; errors carry SRT_REJX reasons.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SRT_REJX } from '../../src/protocol/reject.js';
import { SrtRejectedError } from '../../src/transport/errors.js';
import { StreamIdError, parseStreamId, type ParsedStreamId, type StreamIdOptions } from '../../src/server/streamid.js';
import { fileTimeout } from '../support/file-timeout.js';

fileTimeout();

/** Asserts that parseStreamId(sid) throws a StreamIdError with the given reason (and message pattern). */
function rejects(sid: string, reason: number, message?: RegExp, opts?: StreamIdOptions): void {
  assert.throws(() => parseStreamId(sid, opts), (e: unknown) => {
    assert.ok(e instanceof StreamIdError, `expected StreamIdError, got ${String(e)}`);
    assert.ok(e instanceof SrtRejectedError, 'a stream id error is the rejection that answers the handshake');
    assert.equal(e.code, 'SRT_ERR_STREAMID');
    assert.equal(e.name, 'StreamIdError');
    assert.equal(e.reason, reason, `reason for ${JSON.stringify(sid)}: ${e.message}`);
    if (message) assert.match(e.message, message);
    return true;
  });
}

describe('the same stream named by every form', () => {
  const publish = ['#!::r=live/a,m=publish', '%23!::r=/live/a,m=publish', 'publish:/live/a', 'publisher/srv1/live/a'];
  const request = ['live/a', '/live/a', 'read:live/a', '#!::r=live/a', 'receiver/srv1/live/a'];
  for (const sid of publish) {
    test(`${sid} -> live/a publish`, () => {
      const p = parseStreamId(sid);
      assert.equal(p.name, 'live/a');
      assert.equal(p.mode, 'publish');
      assert.equal(p.raw, sid);
    });
  }
  for (const sid of request) {
    test(`${sid} -> live/a request`, () => {
      const p = parseStreamId(sid);
      assert.equal(p.name, 'live/a');
      assert.equal(p.mode, 'request');
      assert.equal(p.raw, sid);
    });
  }
  test('forms are reported', () => {
    assert.equal(parseStreamId('#!::r=live/a').form, 'acl');
    assert.equal(parseStreamId('%23!::r=live/a').form, 'acl');
    assert.equal(parseStreamId('publish:live/a').form, 'publish-read');
    assert.equal(parseStreamId('read:live/a').form, 'publish-read');
    assert.equal(parseStreamId('publisher/s/live/a').form, 'callaba');
    assert.equal(parseStreamId('receiver/s/live/a').form, 'callaba');
    assert.equal(parseStreamId('live/a').form, 'plain');
    assert.equal(parseStreamId('', { defaultStream: 'live/a' }).form, 'empty');
  });
});

describe('#!:: access-control form', () => {
  test('all standard keys', () => {
    const p = parseStreamId('#!::u=admin,r=bluesbrothers1_hi,h=example.com,s=sess42,t=stream,m=bidirectional');
    assert.deepEqual(p, {
      form: 'acl', name: 'bluesbrothers1_hi', mode: 'bidirectional', user: 'admin', host: 'example.com',
      session: 'sess42', type: 'stream', query: {}, raw: '#!::u=admin,r=bluesbrothers1_hi,h=example.com,s=sess42,t=stream,m=bidirectional',
    });
  });

  test('digest example: file publish with user', () => {
    const p = parseStreamId('#!::u=johnny,t=file,m=publish,r=results.csv');
    assert.equal(p.user, 'johnny');
    assert.equal(p.type, 'file');
    assert.equal(p.mode, 'publish');
    assert.equal(p.name, 'results.csv');
  });

  test('mode defaults to request; explicit modes', () => {
    assert.equal(parseStreamId('#!::r=x').mode, 'request');
    assert.equal(parseStreamId('#!::r=x,m=request').mode, 'request');
    assert.equal(parseStreamId('#!::m=publish,r=x').mode, 'publish');
    assert.equal(parseStreamId('#!::r=x,m=bidirectional').mode, 'bidirectional');
  });

  test('SRS style r=app/stream', () => {
    const p = parseStreamId('#!::r=app/stream,m=publish');
    assert.equal(p.name, 'app/stream');
    assert.equal(p.mode, 'publish');
  });

  test('leading slashes removed from r (one or more)', () => {
    assert.equal(parseStreamId('#!::r=///live/a').name, 'live/a');
    assert.equal(parseStreamId('#!::r=live/a/').name, 'live/a/');
  });

  test('value split at the first "=" only', () => {
    const p = parseStreamId('#!::r=live/a,token=YWJj==,u=a=b');
    assert.equal(p.token, 'YWJj==');
    assert.equal(p.user, 'a=b');
  });

  test('multi-letter vendor keys kept in query (Blackmagic bmd_uuid, user_*)', () => {
    const p = parseStreamId('#!::bmd_uuid=1234-abcd,bmd_name=cam1,user_x=1,r=live/a');
    assert.deepEqual(p.query, { bmd_uuid: '1234-abcd', bmd_name: 'cam1', user_x: '1' });
    assert.equal(p.token, undefined);
  });

  test('token and user_token keys set token', () => {
    assert.equal(parseStreamId('#!::r=a,token=t1').token, 't1');
    assert.deepEqual(parseStreamId('#!::r=a,token=t1').query, { token: 't1' });
    assert.equal(parseStreamId('#!::r=a,user_token=t2').token, 't2');
    assert.deepEqual(parseStreamId('#!::r=a,user_token=t2').query, { user_token: 't2' });
    // 'token' wins over 'user_token' in either order
    assert.equal(parseStreamId('#!::r=a,user_token=t2,token=t1').token, 't1');
    assert.equal(parseStreamId('#!::r=a,token=t1,user_token=t2').token, 't1');
  });

  test('no percent-decoding of acl values', () => {
    const p = parseStreamId('#!::r=live%2Fa,u=al%20ice');
    assert.equal(p.name, 'live%2Fa');
    assert.equal(p.user, 'al%20ice');
  });

  test('empty values for optional keys are kept', () => {
    assert.equal(parseStreamId('#!::r=a,u=').user, '');
  });

  test('%23!:: treated like #!::, raw keeps the original', () => {
    const p = parseStreamId('%23!::u=bob,r=live/a,m=publish');
    assert.equal(p.form, 'acl');
    assert.equal(p.user, 'bob');
    assert.equal(p.raw, '%23!::u=bob,r=live/a,m=publish');
  });

  test('keys like __proto__ / constructor are plain data', () => {
    const p = parseStreamId('#!::r=a,__proto__=x,constructor=y');
    assert.equal(Object.getPrototypeOf(p.query), Object.prototype);
    assert.deepEqual(Object.keys(p.query), ['__proto__', 'constructor']);
    assert.equal(Object.getOwnPropertyDescriptor(p.query, '__proto__')?.value, 'x');
    assert.equal(p.query['constructor'], 'y');
  });

  test('errors', () => {
    rejects('#!::r=a,x=1', SRT_REJX.BAD_REQUEST, /unknown key "x" in #!:: stream id/);
    rejects('#!::r=a,R=1', SRT_REJX.BAD_REQUEST, /unknown key "R"/);
    rejects('#!::u=admin', SRT_REJX.BAD_REQUEST, /missing resource key "r"/);
    rejects('#!::', SRT_REJX.BAD_REQUEST, /missing '='/);
    rejects('#!::r=a,m=play', SRT_REJX.BAD_MODE, /unknown mode "play"/);
    rejects('#!::r=a,m=', SRT_REJX.BAD_MODE, /unknown mode ""/);
    rejects('#!::r=a,m=Publish', SRT_REJX.BAD_MODE);
    rejects('#!::r=a,r=b', SRT_REJX.BAD_REQUEST, /duplicate key "r"/);
    rejects('#!::r=a,m=publish,m=publish', SRT_REJX.BAD_REQUEST, /duplicate key "m"/);
    rejects('#!::r=a,bmd_uuid=1,bmd_uuid=2', SRT_REJX.BAD_REQUEST, /duplicate key "bmd_uuid"/);
    rejects('#!::r=a,flag', SRT_REJX.BAD_REQUEST, /missing '=' in "flag"/);
    rejects('#!::r=a,', SRT_REJX.BAD_REQUEST, /missing '='/);
    rejects('#!::r=a,=x', SRT_REJX.BAD_REQUEST, /empty key/);
    rejects('#!::r=a, m=publish', SRT_REJX.BAD_REQUEST, /invalid key " m"/);
    rejects('#!::r=', SRT_REJX.BAD_REQUEST, /empty stream name/);
    rejects('#!::r=//', SRT_REJX.BAD_REQUEST, /empty stream name/);
    rejects('#!:{"r":"a"}', SRT_REJX.BAD_REQUEST, /nested #!:\{\.\.\.\} stream id syntax is not supported/);
    rejects('%23!:{"r":"a"}', SRT_REJX.BAD_REQUEST, /nested/);
    rejects('#!:r=a', SRT_REJX.BAD_REQUEST, /unsupported #!: stream id syntax/);
  });

  test('mode error is reported even if r is missing', () => {
    rejects('#!::m=record', SRT_REJX.BAD_MODE);
  });
});

describe('publish: / read: form (MediaMTX, gosrt)', () => {
  test('user and password suffix', () => {
    const p = parseStreamId('publish:live/a:alice:secret');
    assert.deepEqual(p, {
      form: 'publish-read', name: 'live/a', mode: 'publish', user: 'alice', password: 'secret', query: {},
      raw: 'publish:live/a:alice:secret',
    });
    const r = parseStreamId('read:/live/a:bob:pw');
    assert.equal(r.mode, 'request');
    assert.equal(r.name, 'live/a');
    assert.equal(r.user, 'bob');
    assert.equal(r.password, 'pw');
  });

  test('empty password is allowed', () => {
    const p = parseStreamId('read:live/a:bob:');
    assert.equal(p.user, 'bob');
    assert.equal(p.password, '');
  });

  test('?query with token', () => {
    const p = parseStreamId('publish:/live/a?token=abc');
    assert.equal(p.name, 'live/a');
    assert.equal(p.mode, 'publish');
    assert.equal(p.token, 'abc');
    assert.deepEqual(p.query, { token: 'abc' });
    assert.equal(p.user, undefined);
  });

  test('?query after :user:pass', () => {
    const p = parseStreamId('read:live/a:alice:secret?token=t%2Bx&lang=en&empty');
    assert.equal(p.user, 'alice');
    assert.equal(p.password, 'secret');
    assert.equal(p.token, 't+x');
    assert.deepEqual(p.query, { token: 't+x', lang: 'en', empty: '' });
  });

  test('query values may contain ":" and "?"', () => {
    const p = parseStreamId('publish:live/a?next=http%3A%2F%2Fx?y&t=a:b');
    assert.equal(p.name, 'live/a');
    assert.deepEqual(p.query, { next: 'http://x?y', t: 'a:b' });
  });

  test('no percent-decoding outside query values', () => {
    const p = parseStreamId('publish:live%2Fa:al%40ice:p%3Aw?k%20ey=v%20al');
    assert.equal(p.name, 'live%2Fa');
    assert.equal(p.user, 'al%40ice');
    assert.equal(p.password, 'p%3Aw');
    assert.deepEqual(p.query, { 'k%20ey': 'v al' });
  });

  test('prefixes are case-sensitive', () => {
    const p = parseStreamId('PUBLISH:live/a');
    assert.equal(p.form, 'plain');
    assert.equal(p.mode, 'request');
    assert.equal(p.name, 'PUBLISH:live/a');
  });

  test('errors', () => {
    rejects('publish:live/a:alice', SRT_REJX.BAD_REQUEST, /must be "publish:NAME" or "publish:NAME:user:pass"/);
    rejects('read:live/a:alice:secret:extra', SRT_REJX.BAD_REQUEST, /got 4 ':'-separated parts/);
    rejects('publish:', SRT_REJX.BAD_REQUEST, /empty stream name in publish: stream id/);
    rejects('read:/', SRT_REJX.BAD_REQUEST, /empty stream name in read: stream id/);
    rejects('publish:?token=abc', SRT_REJX.BAD_REQUEST, /empty stream name/);
    rejects('publish::alice:secret', SRT_REJX.BAD_REQUEST, /empty stream name/);
    rejects('publish:live/a::secret', SRT_REJX.BAD_REQUEST, /empty user/);
    rejects('publish:live/a?token=%E0%A4%A', SRT_REJX.BAD_REQUEST, /invalid percent-encoding in query value of "token"/);
    rejects('publish:live/a?token=%zz', SRT_REJX.BAD_REQUEST, /invalid percent-encoding/);
    rejects('publish:live/a?token=a&token=b', SRT_REJX.BAD_REQUEST, /duplicate query key "token"/);
    rejects('read:live/a?=x', SRT_REJX.BAD_REQUEST, /empty query key/);
  });
});

describe('publisher/ receiver/ form (Callaba)', () => {
  test('server code and nested name', () => {
    const p = parseStreamId('publisher/srv1/live/a/b');
    assert.deepEqual(p, {
      form: 'callaba', name: 'live/a/b', mode: 'publish', serverCode: 'srv1', query: {}, raw: 'publisher/srv1/live/a/b',
    });
    const r = parseStreamId('receiver/SRV-2/cam');
    assert.equal(r.mode, 'request');
    assert.equal(r.serverCode, 'SRV-2');
    assert.equal(r.name, 'cam');
  });

  test('extra slashes before the name are stripped', () => {
    assert.equal(parseStreamId('publisher/srv1//live/a').name, 'live/a');
  });

  test('errors', () => {
    rejects('publisher/srv1', SRT_REJX.BAD_REQUEST, /"publisher\/SERVER\/NAME" \(missing NAME\)/);
    rejects('receiver/', SRT_REJX.BAD_REQUEST, /missing NAME/);
    rejects('publisher//live/a', SRT_REJX.BAD_REQUEST, /empty SERVER/);
    rejects('publisher/srv1/', SRT_REJX.BAD_REQUEST, /empty stream name in publisher\/ stream id/);
    rejects('receiver/srv1///', SRT_REJX.BAD_REQUEST, /empty stream name/);
  });

  test('"publisher" without a slash is a plain name', () => {
    const p = parseStreamId('publisher');
    assert.equal(p.form, 'plain');
    assert.equal(p.name, 'publisher');
  });
});

describe('plain form', () => {
  test('name with query and token', () => {
    const p = parseStreamId('/live/a?token=s3cr%C3%A9t&x=1');
    assert.deepEqual(p, {
      form: 'plain', name: 'live/a', mode: 'request', token: 's3crét', query: { token: 's3crét', x: '1' },
      raw: '/live/a?token=s3cr%C3%A9t&x=1',
    });
  });

  test('query without token, empty query', () => {
    assert.deepEqual(parseStreamId('live/a?x=1&&y=2&').query, { x: '1', y: '2' });
    const p = parseStreamId('live/a?');
    assert.deepEqual(p.query, {});
    assert.equal(p.token, undefined);
  });

  test('"+" in query values is kept (base64 tokens)', () => {
    assert.equal(parseStreamId('live/a?token=ab+c/d=').token, 'ab+c/d=');
  });

  test('file name as sent by srt-file-transmit, unicode names', () => {
    assert.equal(parseStreamId('f.bin').name, 'f.bin');
    assert.equal(parseStreamId('caméra/直播').name, 'caméra/直播');
  });

  test('a leading %23 without !:: becomes "#"', () => {
    assert.equal(parseStreamId('%23foo').name, '#foo');
    assert.equal(parseStreamId('#foo').name, '#foo');
    assert.equal(parseStreamId('a%23b').name, 'a%23b');
  });

  test('other names that merely look like prefixes', () => {
    assert.equal(parseStreamId('live:a').name, 'live:a');
    assert.equal(parseStreamId('readme').name, 'readme');
  });

  test('errors', () => {
    rejects('/', SRT_REJX.BAD_REQUEST, /empty stream name in stream id/);
    rejects('///?token=a', SRT_REJX.BAD_REQUEST, /empty stream name/);
    rejects('?token=a', SRT_REJX.BAD_REQUEST, /empty stream name/);
    rejects('live/a?token=%', SRT_REJX.BAD_REQUEST, /invalid percent-encoding/);
    rejects('live/a?x=1&x=2', SRT_REJX.BAD_REQUEST, /duplicate query key "x"/);
  });
});

describe('empty stream id', () => {
  test('default stream, mode publish, normalised', () => {
    assert.deepEqual(parseStreamId('', { defaultStream: '/live/default' }), {
      form: 'empty', name: 'live/default', mode: 'publish', query: {}, raw: '',
    });
  });

  test('no default stream', () => {
    rejects('', SRT_REJX.BAD_REQUEST, /no stream id and no default stream/);
    rejects('', SRT_REJX.BAD_REQUEST, /no stream id and no default stream/, {});
    rejects('', SRT_REJX.BAD_REQUEST, /no stream id and no default stream/, { defaultStream: '' });
  });

  test('invalid default stream', () => {
    rejects('', SRT_REJX.BAD_REQUEST, /empty stream name in default stream/, { defaultStream: '//' });
    rejects('', SRT_REJX.BAD_REQUEST, /control character/, { defaultStream: 'a\nb' });
  });

  test('defaultStream is ignored when a stream id is present', () => {
    assert.equal(parseStreamId('live/b', { defaultStream: 'live/a' }).name, 'live/b');
  });
});

describe('name validation', () => {
  test('512 bytes allowed, 513 rejected (counted in UTF-8 after stripping "/")', () => {
    const n512 = 'a'.repeat(512);
    assert.equal(parseStreamId(n512).name, n512);
    assert.equal(parseStreamId('/' + n512).name, n512);
    assert.equal(parseStreamId(`#!::r=${n512}`).name, n512);
    rejects('a'.repeat(513), SRT_REJX.BAD_REQUEST, /stream name too long in stream id: 513 bytes \(max 512\)/);
    rejects(`publish:${'a'.repeat(513)}`, SRT_REJX.BAD_REQUEST, /too long/);
    const e256 = 'é'.repeat(256); // 512 bytes
    assert.equal(parseStreamId(e256).name, e256);
    rejects('é'.repeat(257), SRT_REJX.BAD_REQUEST, /514 bytes/);
  });

  test('control characters rejected', () => {
    for (const c of ['\0', '\n', '\r', '\t', '\x1b', '\x7f', '\x85']) {
      rejects(`live${c}a`, SRT_REJX.BAD_REQUEST, /control character/);
      rejects(`#!::r=live${c}a`, SRT_REJX.BAD_REQUEST, /control character/);
      rejects(`publish:live${c}a`, SRT_REJX.BAD_REQUEST, /control character/);
      rejects(`publisher/s/live${c}a`, SRT_REJX.BAD_REQUEST, /control character/);
    }
    // anywhere in the stream id, not only in the name
    rejects('#!::r=a,u=x\ny', SRT_REJX.BAD_REQUEST, /control character in stream id/);
  });

  test('lone surrogates rejected', () => {
    rejects('live\ud800a', SRT_REJX.BAD_REQUEST, /lone surrogate/);
  });
});

describe('property: parseStreamId only returns or throws StreamIdError', () => {
  function check(sid: string, opts?: StreamIdOptions): void {
    let p: ParsedStreamId;
    try {
      p = parseStreamId(sid, opts);
    } catch (e) {
      if (!(e instanceof StreamIdError)) {
        assert.fail(`non-StreamIdError for ${JSON.stringify(sid)}: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
      }
      assert.ok(e.reason === SRT_REJX.BAD_REQUEST || e.reason === SRT_REJX.BAD_MODE, `reason ${e.reason}`);
      assert.ok(e.message.length > 0);
      return;
    }
    assert.equal(p.raw, sid);
    assert.ok(p.name.length > 0 && !p.name.startsWith('/'));
    assert.ok(Buffer.byteLength(p.name, 'utf8') <= 512);
    assert.doesNotMatch(p.name, /\p{Cc}/u);
    assert.ok(['publish', 'request', 'bidirectional'].includes(p.mode));
    assert.ok(['acl', 'publish-read', 'plain', 'callaba', 'empty'].includes(p.form));
    assert.equal(typeof p.query, 'object');
    for (const v of Object.values(p.query)) assert.equal(typeof v, 'string');
  }

  test('arbitrary strings', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 600 }), (s) => check(s)), { numRuns: 3000 });
    fc.assert(fc.property(fc.string({ unit: 'grapheme-ascii', maxLength: 80 }), fc.option(fc.string()),
      (s, d) => check(s, d === null ? {} : { defaultStream: d })), { numRuns: 3000 });
  });

  test('strings built from stream-id fragments', () => {
    const piece = fc.constantFrom(
      '#!::', '%23', '#!:', '{', 'publish:', 'read:', 'publisher/', 'receiver/', 'r=', 'm=', 'u=', 'x=', 'token=',
      'user_token=', 'bmd_uuid=', 'publish', 'request', 'bidirectional', ',', '=', ':', '/', '?', '&', '%', '%2F',
      '%E0%A4', '%zz', 'live', 'a', 'é', '\n', '\ud800', '__proto__', 'constructor',
    );
    const sidArb = fc.array(piece, { maxLength: 12 }).map((a) => a.join(''));
    fc.assert(fc.property(sidArb, fc.option(sidArb), (s, d) => check(s, d === null ? undefined : { defaultStream: d })),
      { numRuns: 5000 });
  });
});
