// Socket options (SRT-DIGEST §11) and srt:// URL parsing.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { OptionError } from '../../src/protocol/errors.js';
import {
  DEFAULT_OPTIONS, OPTION_NAMES, PACKET_OVERHEAD, UDP_IP_OVERHEAD, bufferPackets, parseOptionValue, resolveOptions,
  type SrtOptions,
} from '../../src/protocol/options.js';
import { parseSrtUrl } from '../../src/transport/url.js';
import { fileTimeout } from '../support/file-timeout.js';

fileTimeout();

/** Asserts that fn throws an OptionError for `option` whose message matches `re`. */
function throwsOption(fn: () => unknown, option: string, re?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof OptionError, `expected OptionError, got ${String(e)}`);
    assert.equal(e.option, option);
    assert.equal(e.code, 'SRT_ERR_OPTION');
    assert.ok(e.message.startsWith(`${option}: `), e.message);
    if (re) assert.match(e.message, re);
    return true;
  });
}

describe('resolveOptions defaults', () => {
  test('live-mode defaults as libsrt', () => {
    const o = resolveOptions();
    assert.equal(o.transtype, 'live');
    assert.equal(o.rcvlatency, 120);
    assert.equal(o.peerlatency, 0);
    assert.equal(o.latency, undefined);
    assert.equal(o.streamid, '');
    assert.equal(o.maxbw, -1);
    assert.equal(o.inputbw, 0);
    assert.equal(o.oheadbw, 25);
    assert.equal(o.conntimeo, 3000);
    assert.equal(o.peeridletimeo, 5000);
    assert.equal(o.payloadsize, 1316);
    assert.equal(o.mss, 1500);
    assert.equal(o.fc, 25600);
    assert.equal(o.tlpktdrop, true);
    assert.equal(o.nakreport, true);
    assert.equal(o.snddropdelay, 0);
    assert.equal(o.passphrase, '');
    assert.equal(o.pbkeylen, 0);
    assert.equal(o.kmrefreshrate, 1 << 24);
    assert.equal(o.kmpreannounce, 1 << 12);
    assert.equal(o.enforcedencryption, true);
    assert.equal(o.congestion, 'live');
    assert.equal(o.messageapi, true);
    assert.equal(o.drifttracer, true);
    assert.equal(o.retransmitalgo, 1);
    assert.equal(o.minversion, 0x010000);
    assert.deepEqual(o, { ...DEFAULT_OPTIONS });
  });

  test('resolveOptions returns a fresh object; DEFAULT_OPTIONS is frozen', () => {
    const a = resolveOptions();
    a.rcvlatency = 999;
    assert.equal(resolveOptions().rcvlatency, 120);
    assert.equal(Object.isFrozen(DEFAULT_OPTIONS), true);
    assert.notEqual(resolveOptions(), resolveOptions());
  });

  test('constants', () => {
    assert.equal(PACKET_OVERHEAD, 44);
    assert.equal(UDP_IP_OVERHEAD, 28);
    assert.ok(OPTION_NAMES.includes('latency'));
    assert.ok(OPTION_NAMES.includes('streamid'));
    assert.ok(OPTION_NAMES.includes('passphrase'));
  });

  test('bufferPackets: bytes / (mss - 28), at least 32', () => {
    assert.equal(bufferPackets(8192 * 1472, 1500), 8192);
    assert.equal(bufferPackets(1472 * 10, 1500), 32);
    assert.equal(bufferPackets(1472 * 100 + 5, 1500), 100);
  });
});

describe('resolveOptions latency', () => {
  test('latency sets both rcvlatency and peerlatency', () => {
    const o = resolveOptions({ latency: 200 });
    assert.equal(o.rcvlatency, 200);
    assert.equal(o.peerlatency, 200);
  });

  test('explicit rcvlatency / peerlatency win over latency', () => {
    const o = resolveOptions({ latency: 200, rcvlatency: 50 });
    assert.equal(o.rcvlatency, 50);
    assert.equal(o.peerlatency, 200);
    const p = resolveOptions({ peerlatency: 10, latency: 300 });
    assert.equal(p.rcvlatency, 300);
    assert.equal(p.peerlatency, 10);
  });

  test('latency 0 is allowed', () => {
    const o = resolveOptions({ latency: 0 });
    assert.equal(o.rcvlatency, 0);
    assert.equal(o.peerlatency, 0);
  });

  test('undefined values are ignored', () => {
    const o = resolveOptions({ latency: undefined, rcvlatency: undefined });
    assert.equal(o.rcvlatency, 120);
  });
});

describe('resolveOptions errors name the option', () => {
  const bad: [Partial<Record<keyof SrtOptions, unknown>>, string][] = [
    [{ latency: -1 }, 'latency'],
    [{ latency: 65536 }, 'latency'],
    [{ latency: 1.5 }, 'latency'],
    [{ latency: '120' }, 'latency'],
    [{ rcvlatency: 70000 }, 'rcvlatency'],
    [{ peerlatency: -5 }, 'peerlatency'],
    [{ maxbw: -2 }, 'maxbw'],
    [{ oheadbw: 4 }, 'oheadbw'],
    [{ oheadbw: 101 }, 'oheadbw'],
    [{ conntimeo: 0 }, 'conntimeo'],
    [{ mss: 75 }, 'mss'],
    [{ mss: 1501 }, 'mss'],
    [{ payloadsize: 0 }, 'payloadsize'],
    [{ payloadsize: 1457 }, 'payloadsize'],
    [{ fc: 31 }, 'fc'],
    [{ rcvbuf: 100 }, 'rcvbuf'],
    [{ tlpktdrop: 1 }, 'tlpktdrop'],
    [{ nakreport: 'yes' }, 'nakreport'],
    [{ pbkeylen: 8 }, 'pbkeylen'],
    [{ pbkeylen: '16' }, 'pbkeylen'],
    [{ transtype: 'stream' }, 'transtype'],
    [{ congestion: 'bbr' }, 'congestion'],
    [{ retransmitalgo: 2 }, 'retransmitalgo'],
    [{ streamid: 'x'.repeat(513) }, 'streamid'],
    [{ streamid: 'é'.repeat(257) }, 'streamid'], // 514 bytes
    [{ streamid: 42 }, 'streamid'],
    [{ minversion: -1 }, 'minversion'],
  ];
  for (const [input, option] of bad) {
    test(`${JSON.stringify(input).slice(0, 60)} → OptionError(${option})`, () => {
      throwsOption(() => resolveOptions(input as Partial<SrtOptions>), option);
    });
  }

  test('the message states the allowed range', () => {
    throwsOption(() => resolveOptions({ latency: 70000 }), 'latency', /0 to 65535 \(ms\)/);
    throwsOption(() => resolveOptions({ pbkeylen: 8 as unknown as 16 }), 'pbkeylen', /one of 0, 16, 24, 32/);
    throwsOption(() => resolveOptions({ tlpktdrop: 'x' as unknown as boolean }), 'tlpktdrop', /boolean/);
  });

  test('unknown option', () => {
    throwsOption(() => resolveOptions({ bogus: 1 } as unknown as Partial<SrtOptions>), 'bogus', /unknown option/);
  });

  test('streamid of exactly 512 bytes is fine', () => {
    assert.equal(resolveOptions({ streamid: 'x'.repeat(512) }).streamid.length, 512);
  });

  test('passphrase shorter than 10 or longer than 79 characters', () => {
    throwsOption(() => resolveOptions({ passphrase: '123456789' }), 'passphrase', /10 to 79/);
    throwsOption(() => resolveOptions({ passphrase: 'a' }), 'passphrase');
    throwsOption(() => resolveOptions({ passphrase: 'p'.repeat(80) }), 'passphrase');
    assert.equal(resolveOptions({ passphrase: '0123456789' }).passphrase, '0123456789');
    assert.equal(resolveOptions({ passphrase: 'p'.repeat(79) }).passphrase.length, 79);
    assert.equal(resolveOptions({ passphrase: '' }).passphrase, '');
  });

  test('payloadsize may not exceed mss - 44', () => {
    throwsOption(() => resolveOptions({ mss: 1360, payloadsize: 1317 }), 'payloadsize', /mss - 44 = 1316/);
    throwsOption(() => resolveOptions({ mss: 1000 }), 'payloadsize', /1316 exceeds/);
    assert.equal(resolveOptions({ mss: 1360, payloadsize: 1316 }).payloadsize, 1316);
    assert.equal(resolveOptions({ payloadsize: 1456 }).payloadsize, 1456);
  });

  test('transtype=file applies libsrt\'s file defaults where not set explicitly (ADR 15)', () => {
    const o = resolveOptions({ transtype: 'file' });
    assert.deepEqual(
      [o.messageapi, o.tlpktdrop, o.nakreport, o.snddropdelay, o.congestion, o.linger, o.payloadsize, o.rcvlatency, o.peerlatency],
      [false, false, false, -1, 'file', 180, 1456, 0, 0],
    );
    const m = resolveOptions({ transtype: 'file', messageapi: true, linger: 5, payloadsize: 1000 });
    assert.deepEqual([m.messageapi, m.linger, m.payloadsize], [true, 5, 1000]);
    assert.equal(resolveOptions({ transtype: 'file', mss: 1360 }).payloadsize, 1316);
    assert.equal(resolveOptions(parseSrtUrl('srt://h:1?transtype=file').options).transtype, 'file');
  });

  test('file mode combinations libsrt would not run are refused', () => {
    throwsOption(() => resolveOptions({ congestion: 'file' }), 'congestion', /transtype=file/);
    throwsOption(() => resolveOptions({ transtype: 'file', congestion: 'live' }), 'congestion', /file mode/);
    throwsOption(() => resolveOptions({ transtype: 'file', packetfilter: 'fec,cols:4' }), 'packetfilter', /live mode only/);
  });

  test('messageapi=false is refused in live mode', () => {
    throwsOption(() => resolveOptions({ messageapi: false }), 'messageapi');
  });

  test('kmpreannounce must be at most (kmrefreshrate - 1) / 2', () => {
    throwsOption(() => resolveOptions({ kmrefreshrate: 1000, kmpreannounce: 500 }), 'kmpreannounce', /499/);
    assert.equal(resolveOptions({ kmrefreshrate: 1000, kmpreannounce: 499 }).kmpreannounce, 499);
  });

  test('valid boundary values are accepted', () => {
    const o = resolveOptions({ latency: 65535, maxbw: 0, oheadbw: 5, mss: 76, payloadsize: 32, fc: 32, snddropdelay: -1, pbkeylen: 32 });
    assert.equal(o.rcvlatency, 65535);
    assert.equal(o.mss, 76);
    assert.equal(o.pbkeylen, 32);
    assert.equal(o.snddropdelay, -1);
  });
});

describe('parseOptionValue', () => {
  test('integers', () => {
    assert.equal(parseOptionValue('latency', '200'), 200);
    assert.equal(parseOptionValue('maxbw', '-1'), -1);
    assert.equal(parseOptionValue('latency', '007'), 7);
    for (const bad of ['', 'abc', '1.5', '1e3', '0x10', '12ms', '+5']) {
      throwsOption(() => parseOptionValue('latency', bad), 'latency', /is not an integer/);
    }
  });

  test('booleans', () => {
    for (const t of ['1', 'true', 'TRUE', 'yes', 'on']) assert.equal(parseOptionValue('tlpktdrop', t), true, t);
    for (const f of ['0', 'false', 'No', 'off']) assert.equal(parseOptionValue('tlpktdrop', f), false, f);
    throwsOption(() => parseOptionValue('nakreport', 'maybe'), 'nakreport', /boolean/);
    throwsOption(() => parseOptionValue('nakreport', ''), 'nakreport');
  });

  test('enums: numeric values become numbers, others stay text', () => {
    assert.equal(parseOptionValue('pbkeylen', '16'), 16);
    assert.equal(parseOptionValue('retransmitalgo', '0'), 0);
    assert.equal(parseOptionValue('transtype', 'live'), 'live');
  });

  test('strings are taken literally', () => {
    assert.equal(parseOptionValue('streamid', '#!::r=a,m=b'), '#!::r=a,m=b');
    assert.equal(parseOptionValue('passphrase', 'a b'), 'a b');
  });

  test('unknown option', () => {
    throwsOption(() => parseOptionValue('nope', '1'), 'nope', /unknown option/);
  });
});

describe('parseSrtUrl', () => {
  test('empty host → listener', () => {
    const e = parseSrtUrl('srt://:9000');
    assert.deepEqual(e, { mode: 'listener', host: '', port: 9000, adapter: undefined, localPort: undefined, options: {} });
  });

  test('host → caller', () => {
    const e = parseSrtUrl('srt://127.0.0.1:7001');
    assert.equal(e.mode, 'caller');
    assert.equal(e.host, '127.0.0.1');
    assert.equal(e.port, 7001);
    assert.deepEqual(e.options, {});
    assert.equal(parseSrtUrl('srt://example.com:4200/').host, 'example.com');
  });

  test('explicit mode (incl. client/server aliases)', () => {
    assert.equal(parseSrtUrl('srt://0.0.0.0:9000?mode=listener').mode, 'listener');
    assert.equal(parseSrtUrl('srt://host:9000?mode=caller').mode, 'caller');
    assert.equal(parseSrtUrl('srt://host:9000?mode=rendezvous').mode, 'rendezvous');
    assert.equal(parseSrtUrl('srt://host:9000?mode=client').mode, 'caller');
    assert.equal(parseSrtUrl('srt://:9000?mode=server').mode, 'listener');
    assert.equal(parseSrtUrl('srt://host:9000?MODE=Listener').mode, 'listener');
    throwsOption(() => parseSrtUrl('srt://host:9000?mode=push'), 'mode', /caller, listener, rendezvous/);
    throwsOption(() => parseSrtUrl('srt://:9000?mode=caller'), 'url', /needs a host/);
  });

  test('adapter and port: local binding and rendezvous', () => {
    const r = parseSrtUrl('srt://10.0.0.2:9000?adapter=10.0.0.1&port=9001');
    assert.equal(r.mode, 'rendezvous');
    assert.equal(r.adapter, '10.0.0.1');
    assert.equal(r.localPort, 9001);
    const c = parseSrtUrl('srt://10.0.0.2:9000?mode=caller&bind=10.0.0.1');
    assert.equal(c.mode, 'caller');
    assert.equal(c.adapter, '10.0.0.1');
    throwsOption(() => parseSrtUrl('srt://h:9000?port=0'), 'port');
    throwsOption(() => parseSrtUrl('srt://h:9000?port=abc'), 'port');
    throwsOption(() => parseSrtUrl('srt://h:9000?port=65536'), 'port');
  });

  test('rendezvous as srt-live-transmit reads it: a host and an adapter; bind=host:port; port= is the local port', () => {
    const a = parseSrtUrl('srt://10.0.0.2:9000?adapter=10.0.0.1');
    assert.deepEqual([a.mode, a.adapter, a.localPort], ['rendezvous', '10.0.0.1', undefined], 'no port=: the local port defaults to 9000 when dialing');
    const b = parseSrtUrl('srt://10.0.0.2:9000?bind=10.0.0.1:9100');
    assert.deepEqual([b.mode, b.adapter, b.localPort], ['rendezvous', '10.0.0.1', 9100]);
    const c = parseSrtUrl('srt://10.0.0.2:9000?bind=:9100');
    assert.deepEqual([c.mode, c.adapter, c.localPort], ['caller', undefined, 9100], 'bind without a host only fixes the source port');
    const d = parseSrtUrl('srt://[2001:db8::2]:9000?bind=[2001:db8::1]:9000');
    assert.deepEqual([d.mode, d.host, d.adapter, d.localPort], ['rendezvous', '2001:db8::2', '2001:db8::1', 9000]);
    assert.equal(parseSrtUrl('srt://10.0.0.2:9000?port=9001').mode, 'caller', 'port= alone: a caller with a fixed source port');
    assert.equal(parseSrtUrl('srt://10.0.0.2:9000?mode=rendezvous&port=9001').localPort, 9001);
    throwsOption(() => parseSrtUrl('srt://:9000?mode=rendezvous'), 'url', /needs the peer/);
    throwsOption(() => parseSrtUrl('srt://h:9000?bind=1.2.3.4:0'), 'bind');
  });

  test('transport-only keys (blocking, timeout) are accepted and not options', () => {
    const e = parseSrtUrl('srt://h:1?blocking=true&timeout=1000&latency=50');
    assert.deepEqual(e.options, { latency: 50 });
  });

  test('srt-live-transmit query keys', () => {
    const e = parseSrtUrl(
      'srt://127.0.0.1:7001?mode=caller&streamid=#!::r=live/test,m=publish&latency=200&maxbw=1000000&inputbw=0'
      + '&oheadbw=30&rcvlatency=100&peerlatency=50&tlpktdrop=0&nakreport=true&payloadsize=1316&mss=1500&fc=25600'
      + '&conntimeo=1000&peeridletimeo=2000&passphrase=0123456789&pbkeylen=16&enforcedencryption=no&lossmaxttl=3'
      + '&snddropdelay=-1&rcvbuf=12058624&sndbuf=12058624&minversion=66560&retransmitalgo=0&transtype=live&congestion=live',
    );
    assert.equal(e.mode, 'caller');
    assert.deepEqual(e.options, {
      streamid: '#!::r=live/test,m=publish', latency: 200, maxbw: 1_000_000, inputbw: 0, oheadbw: 30, rcvlatency: 100,
      peerlatency: 50, tlpktdrop: false, nakreport: true, payloadsize: 1316, mss: 1500, fc: 25600, conntimeo: 1000,
      peeridletimeo: 2000, passphrase: '0123456789', pbkeylen: 16, enforcedencryption: false, lossmaxttl: 3,
      snddropdelay: -1, rcvbuf: 12058624, sndbuf: 12058624, minversion: 66560, retransmitalgo: 0, transtype: 'live',
      congestion: 'live',
    });
    const o = resolveOptions(e.options);
    assert.equal(o.rcvlatency, 100);
    assert.equal(o.peerlatency, 50);
    assert.equal(o.pbkeylen, 16);
  });

  test('keys are case-insensitive', () => {
    assert.deepEqual(parseSrtUrl('srt://h:1?Latency=80&STREAMID=abc').options, { latency: 80, streamid: 'abc' });
  });

  test('%23!:: stream ids become #!::', () => {
    assert.equal(parseSrtUrl('srt://h:1?streamid=%23!::r=live/x,m=request').options.streamid, '#!::r=live/x,m=request');
    assert.equal(parseSrtUrl('srt://h:1?streamid=#!::u=a').options.streamid, '#!::u=a');
    assert.equal(parseSrtUrl('srt://h:1?streamid=plain').options.streamid, 'plain');
    assert.equal(parseSrtUrl('srt://h:1?streamid=').options.streamid, '');
  });

  test('IPv6 hosts in brackets', () => {
    const e = parseSrtUrl('srt://[::1]:9000');
    assert.equal(e.host, '::1');
    assert.equal(e.port, 9000);
    assert.equal(e.mode, 'caller');
    const f = parseSrtUrl('srt://[2001:db8::1]:1234?latency=10');
    assert.equal(f.host, '2001:db8::1');
    assert.deepEqual(f.options, { latency: 10 });
    assert.equal(parseSrtUrl('srt://[::]:9000?mode=listener').host, '::');
  });

  test('unknown keys are rejected, naming the key', () => {
    throwsOption(() => parseSrtUrl('srt://h:1?latncy=200'), 'latncy', /unknown srt:\/\/ option/);
    throwsOption(() => parseSrtUrl('srt://h:1?latency=200&foo'), 'foo');
  });

  test('bad values are rejected, naming the key', () => {
    throwsOption(() => parseSrtUrl('srt://h:1?latency=abc'), 'latency', /"abc" is not an integer/);
    throwsOption(() => parseSrtUrl('srt://h:1?latency='), 'latency');
    throwsOption(() => parseSrtUrl('srt://h:1?tlpktdrop=perhaps'), 'tlpktdrop');
    throwsOption(() => parseSrtUrl('srt://h:1?maxbw=1.5'), 'maxbw');
  });

  test('out-of-range values fail in resolveOptions, naming the key', () => {
    throwsOption(() => resolveOptions(parseSrtUrl('srt://h:1?latency=99999').options), 'latency');
    throwsOption(() => resolveOptions(parseSrtUrl('srt://h:1?pbkeylen=17').options), 'pbkeylen');
    throwsOption(() => resolveOptions(parseSrtUrl('srt://h:1?passphrase=short').options), 'passphrase');
  });

  test('packetfilter= (libsrt\'s fec filter): taken as written, checked at once naming the key and the bad part', () => {
    assert.equal(parseSrtUrl('srt://h:1?packetfilter=fec,cols:10,rows:5,layout:staircase,arq:never').options.packetfilter, 'fec,cols:10,rows:5,layout:staircase,arq:never');
    assert.equal(parseSrtUrl('srt://h:1?packetfilter=fec').options.packetfilter, 'fec', 'the peer may bring cols');
    throwsOption(() => parseSrtUrl('srt://h:1?packetfilter=fec,cols:1'), 'packetfilter', /cols: "1" must be at least 2/);
    throwsOption(() => parseSrtUrl('srt://h:1?packetfilter=fec,cols:10,bogus:1'), 'packetfilter', /bogus: unknown key/);
    throwsOption(() => parseSrtUrl('srt://h:1?packetfilter=rs,cols:10'), 'packetfilter', /unknown packet filter "rs"/);
    throwsOption(() => parseSrtUrl('srt://h:1?packetfilter=fec,cols:10,layout:diagonal'), 'packetfilter', /layout/);
    throwsOption(() => resolveOptions(parseSrtUrl('srt://h:1?packetfilter=fec,cols:10&payloadsize=1456').options), 'payloadsize');
  });

  test('malformed URLs', () => {
    throwsOption(() => parseSrtUrl('udp://h:1'), 'url');
    throwsOption(() => parseSrtUrl('srt://h'), 'url', /no port/);
    throwsOption(() => parseSrtUrl('srt://h:'), 'url');
    throwsOption(() => parseSrtUrl('srt://h:1/path'), 'url');
    throwsOption(() => parseSrtUrl('srt://::1:9000'), 'url');
    throwsOption(() => parseSrtUrl('srt://h:0'), 'port');
    throwsOption(() => parseSrtUrl('srt://h:70000'), 'port');
  });
});

describe('parseSrtUrl: connection groups (bonding)', () => {
  test('srt://a:p1,b:p2?grouptype=…&weight=w1,w2: one node per address, the other keys as usual', () => {
    const e = parseSrtUrl('srt://10.0.0.1:9000,[::1]:9001?grouptype=backup&weight=10,5&latency=300&groupminstabletimeo=80');
    assert.equal(e.mode, 'caller');
    assert.deepEqual(e.group, { type: 'backup', nodes: [{ host: '10.0.0.1', port: 9000, weight: 10 }, { host: '::1', port: 9001, weight: 5 }] });
    assert.deepEqual([e.host, e.port], ['10.0.0.1', 9000]);
    assert.deepEqual(e.options, { latency: 300, groupminstabletimeo: 80 });
    // one weight for all; broadcast by default with several addresses
    assert.deepEqual(parseSrtUrl('srt://a:1,b:2?weight=7').group, { type: 'broadcast', nodes: [{ host: 'a', port: 1, weight: 7 }, { host: 'b', port: 2, weight: 7 }] });
    // a group of one
    assert.deepEqual(parseSrtUrl('srt://a:1?grouptype=broadcast').group, { type: 'broadcast', nodes: [{ host: 'a', port: 1, weight: 0 }] });
  });

  test("libsrt's srt:////group?type=…&nodes=host:port?weight=N,…", () => {
    const e = parseSrtUrl('srt:////group?type=backup&nodes=127.0.0.1:5001?weight=10,127.0.0.2:5002&latency=200');
    assert.deepEqual(e.group, { type: 'backup', nodes: [{ host: '127.0.0.1', port: 5001, weight: 10 }, { host: '127.0.0.2', port: 5002, weight: 0 }] });
    assert.deepEqual(e.options, { latency: 200 });
  });

  test('bad group URLs name the key', () => {
    throwsOption(() => parseSrtUrl('srt://a:1,b:2?grouptype=balancing'), 'grouptype');
    throwsOption(() => parseSrtUrl('srt://a:1,b:2,c:3?weight=1,2'), 'weight');
    throwsOption(() => parseSrtUrl('srt://a:1,b?grouptype=backup'), 'url');
    throwsOption(() => parseSrtUrl('srt://a:1,b:2?weight=70000'), 'weight');
    throwsOption(() => parseSrtUrl('srt:////group?nodes=a:1'), 'type');
    throwsOption(() => parseSrtUrl('srt:////group?type=broadcast'), 'nodes');
    throwsOption(() => parseSrtUrl('srt://a:1,b:2?mode=listener'), 'mode');
    throwsOption(() => parseSrtUrl('srt://a:1,b:2?bogus=1'), 'bogus');
  });

  test('groupconnect and groupminstabletimeo are options with libsrt names and ranges', () => {
    assert.deepEqual(parseSrtUrl('srt://:9000?groupconnect=1').options, { groupconnect: true });
    assert.equal(resolveOptions({}).groupconnect, false);
    assert.equal(resolveOptions({}).groupminstabletimeo, 60);
    throwsOption(() => resolveOptions({ groupminstabletimeo: 59 }), 'groupminstabletimeo');
  });
});
