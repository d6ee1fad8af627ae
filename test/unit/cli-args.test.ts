// Command lines of `sluice transmit` and `sluice srt-server` (node:util parseArgs underneath):
// every flag in both `--flag value` and `--flag=value` forms, short aliases, and errors told as
// `unknown option --x` / `--x needs a value`, all UsageErrors (main.ts: exit 2).
import { test } from 'node:test';
import { availableParallelism } from 'node:os';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseCommandLine } from '../../src/cli/args.js';
import { ConfigError, resolveServeConfig } from '../../src/cli/config.js';
import { UsageError } from '../../src/cli/errors.js';
import { parseServerArgs } from '../../src/cli/srt-server.js';
import { parseTransmitArgs } from '../../src/cli/transmit.js';
import { tempDir } from '../support/peers.js';
import { fileTimeout } from '../support/file-timeout.js';

fileTimeout();

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

function usageError(fn: () => unknown, message: string | RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof UsageError, `expected a UsageError, got ${String(e)}`);
    if (typeof message === 'string') assert.equal(e.message, message);
    else assert.match(e.message, message);
    return true;
  });
}

test('transmit: every option in both forms, short aliases, positionals around options', () => {
  const full = { src: 'srt://:9000', dst: 'udp://127.0.0.1:5000', statsMs: 500, chunk: 188, bitrate: 5e6, warmup: 20_000, quiet: true };
  assert.deepEqual(parseTransmitArgs(['--stats', '500', '--chunk', '188', '--bitrate', '5M', '--quiet', 'srt://:9000', 'udp://127.0.0.1:5000']), full);
  assert.deepEqual(parseTransmitArgs(['srt://:9000', '--stats=500', '--chunk=188', '--bitrate=5M', 'udp://127.0.0.1:5000', '-q']), full);
  assert.deepEqual(parseTransmitArgs(['-s', '500', '-q', '--chunk', '188', '--bitrate', '5000k', 'srt://:9000', 'udp://127.0.0.1:5000']), full);
  assert.deepEqual(parseTransmitArgs(['-', 'file:///tmp/x.ts']), { src: '-', dst: 'file:///tmp/x.ts', statsMs: 0, warmup: 20_000, quiet: false });
  assert.deepEqual(parseTransmitArgs(['--', '-', '-']), { src: '-', dst: '-', statsMs: 0, warmup: 20_000, quiet: false });
  assert.equal((parseTransmitArgs(['--warmup', '0', 'a', 'b']) as { warmup: number }).warmup, 0);
  assert.equal((parseTransmitArgs(['--warmup=5000', 'a', 'b']) as { warmup: number }).warmup, 5000);
  assert.equal(parseTransmitArgs(['-h']), 'help');
  assert.equal(parseTransmitArgs(['--help', '--bogus']), 'help');
});

test('transmit: errors', () => {
  usageError(() => parseTransmitArgs(['--bogus', 'a', 'b']), 'unknown option --bogus');
  usageError(() => parseTransmitArgs(['--bogus=1', 'a', 'b']), 'unknown option --bogus');
  usageError(() => parseTransmitArgs(['-x', 'a', 'b']), 'unknown option -x');
  usageError(() => parseTransmitArgs(['a', 'b', '--stats']), '--stats needs a value');
  usageError(() => parseTransmitArgs(['a', 'b', '-s']), '-s needs a value');
  usageError(() => parseTransmitArgs(['--stats', '-5', 'a', 'b']), /^--stats needs a value \(one that starts with "-" is written --stats=-5\)$/);
  usageError(() => parseTransmitArgs(['--quiet=yes', 'a', 'b']), '--quiet takes no value');
  usageError(() => parseTransmitArgs(['--stats=5', 'a', 'b']), '--stats: interval must be an integer >= 10 (ms)');
  usageError(() => parseTransmitArgs(['--chunk', '2000', 'a', 'b']), '--chunk: must be 1 to 1456 bytes');
  usageError(() => parseTransmitArgs(['--bitrate', 'fast', 'a', 'b']), '--bitrate: "fast" is not a rate like 5000000, 5M or 800k');
  usageError(() => parseTransmitArgs(['--warmup', 'lots', 'a', 'b']), '--warmup: must be an integer from 0 to 1000000 (datagrams)');
  usageError(() => parseTransmitArgs(['--warmup=-1', 'a', 'b']), '--warmup: must be an integer from 0 to 1000000 (datagrams)');
  usageError(() => parseTransmitArgs(['a']), 'expected exactly two endpoints: <source> <destination>');
  usageError(() => parseTransmitArgs(['a', 'b', 'c']), 'expected exactly two endpoints: <source> <destination>');
});

test('srt-server: every option in both forms', () => {
  const dir = tempDir();
  const file = join(dir, 'server.json');
  writeFileSync(file, JSON.stringify({ name: 'from-file', users: [{ name: 'u', password: 'p' }], maxPerPeer: 3 }));
  const argv = [
    '--addr', '127.0.0.1:7000', '--name', 'srv1', '--app', '/live', '--token', 'tok', '--passphrase', 'long enough pass',
    '--whitelist', 'a,b,', '--default-stream', 'live/x', '--auth-url', 'http://127.0.0.1:1/auth', '--max-connections', '10',
    '--max-per-stream', '4', '--grace', '2500', '--keyframe-start', '--no-gop-cache', '--gop-cache-max-bytes', '1048576',
    '--wait-for-publisher', '--wait-timeout', '9000', '--workers', '1',
    '--reject-log-interval', '100', '--publish-ports', '7001-7003', '--config-backend', 'http://127.0.0.1:1/cb/',
    '--srt', 'latency=200,maxbw=1000000', '--config', file, '--logtopics', 'connect,stats',
  ];
  const expected = {
    config: {
      name: 'srv1', host: '127.0.0.1', port: 7000, users: [{ name: 'u', password: 'p' }], maxPerPeer: 3, app: '/live', token: 'tok',
      passphrase: 'long enough pass', accessMode: 'whitelist', whitelist: ['a', 'b'], defaultStream: 'live/x',
      authHook: { url: 'http://127.0.0.1:1/auth' }, maxConnections: 10, maxPerStream: 4, publisherGraceMs: 2500,
      startAtKeyframe: true, gopCache: false, gopCacheMaxBytes: 1048576, waitForPublisher: true, waitForPublisherTimeoutMs: 9000,
      publishPorts: { first: 7001, last: 7003, configBackend: 'http://127.0.0.1:1/cb/' }, srt: { latency: 200, maxbw: 1000000 },
    },
    topics: new Set(['connect', 'stats']),
    rejectLogIntervalMs: 100,
    workers: 1,
  };
  assert.deepEqual(parseServerArgs(argv), expected);
  // the same with --flag=value (booleans stay bare)
  const joined: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i + 1] !== undefined && !argv[i + 1]!.startsWith('--')) joined.push(`${argv[i]}=${argv[++i]}`);
    else joined.push(argv[i]!);
  }
  assert.ok(joined.includes('--addr=127.0.0.1:7000') && joined.includes('--keyframe-start'), joined.join(' '));
  assert.deepEqual(parseServerArgs(joined), expected);
  assert.deepEqual(parseServerArgs([]), { config: { name: 'default', host: '0.0.0.0', port: 6000 }, topics: new Set(['connect', 'reject', 'close', 'stream']), rejectLogIntervalMs: 5000, workers: 1 });
  const w = parseServerArgs(['--workers=2']);
  assert.equal(w !== 'help' && w.workers, 2);
  const all = parseServerArgs(['--workers', '0']);
  assert.equal(all !== 'help' && all.workers, availableParallelism(), '0 = one per core');
  usageError(() => parseServerArgs(['--workers', '2', '--publish-ports', '7001-7003', '--config-backend', 'http://127.0.0.1:1/']), '--workers above 1 cannot serve --publish-ports');
  assert.equal(parseServerArgs(['-h']), 'help');
  // FEC: the filter's own commas stay in its value, other keys may follow
  const fec = parseServerArgs(['--srt', 'latency=200,packetfilter=fec,cols:10,rows:5,layout:even,maxbw=1000000']);
  assert.notEqual(fec, 'help');
  assert.deepEqual(fec !== 'help' && fec.config.srt, { latency: 200, packetfilter: 'fec,cols:10,rows:5,layout:even', maxbw: 1000000 });
});

test('srt-server: errors', () => {
  usageError(() => parseServerArgs(['--bogus']), 'unknown option --bogus');
  usageError(() => parseServerArgs(['--addr']), '--addr needs a value');
  usageError(() => parseServerArgs(['--name', '--app', '/live']), '--name needs a value');
  usageError(() => parseServerArgs(['stray']), 'unexpected argument "stray"');
  usageError(() => parseServerArgs(['--keyframe-start=1']), '--keyframe-start takes no value');
  usageError(() => parseServerArgs(['--addr=nowhere']), '--addr: "nowhere" is not HOST:PORT');
  usageError(() => parseServerArgs(['--max-per-peer', 'x']), '--max-per-peer: "x" is not a non-negative integer');
  usageError(() => parseServerArgs(['--reject-log-interval=0']), '--reject-log-interval: at least 1 ms');
  usageError(() => parseServerArgs(['--publish-ports', '7001']), '--publish-ports: "7001" is not FIRST-LAST');
  usageError(() => parseServerArgs(['--publish-ports', '7001-7002']), '--publish-ports and --config-backend go together');
  usageError(() => parseServerArgs(['--config-backend', 'http://x/']), '--publish-ports and --config-backend go together');
  usageError(() => parseServerArgs(['--srt', 'latncy=1']), '--srt: unknown SRT option "latncy"');
  usageError(() => parseServerArgs(['--srt', 'latency=abc']), /^--srt: latency: "abc" is not an integer/);
  usageError(() => parseServerArgs(['--srt', 'packetfilter=fec,cols:1,rows:5']), '--srt: packetfilter: cols: "1" must be at least 2');
  usageError(() => parseServerArgs(['--srt', 'packetfilter=fec,cols:10,bogus:2']), /^--srt: packetfilter: bogus: unknown key/);
  usageError(() => parseServerArgs(['--passphrase', 'short']), '--passphrase: must be 10 to 79 characters (got 5)');
  usageError(() => parseServerArgs(['--config', join(tempDir(), 'missing.json')]), /^--config: cannot read .*missing\.json: /);
});

test('serve: parse errors are ConfigErrors (UsageErrors) with the same words', () => {
  for (const [argv, message] of [[['--bogus=1'], 'unknown option --bogus'], [['-x'], 'unknown option -x'], [['--config'], '--config needs a value'], [['extra'], 'unexpected argument "extra"']] as const) {
    assert.throws(() => resolveServeConfig([...argv], {}), (e: unknown) => e instanceof ConfigError && e instanceof UsageError && e.message === message, argv.join(' '));
  }
  assert.equal(resolveServeConfig(['--bogus', '-h'], {}), 'help');
});

test('parseCommandLine: a custom error class; own options only', () => {
  class MyError extends Error {}
  assert.throws(() => parseCommandLine(['--toString'], { a: { type: 'string' } }, { error: (m) => new MyError(m) }), (e: unknown) => e instanceof MyError && e.message === 'unknown option --toString');
  const r = parseCommandLine(['--a=1', '-b', 'p'], { a: { type: 'string' }, b: { type: 'boolean', short: 'b' } }, { positionals: true });
  assert.deepEqual({ ...r.values }, { a: '1', b: true });
  assert.deepEqual(r.positionals, ['p']);
});

test('sluice <command>: a usage error prints the command, the message and a pointer to --help; exit 2', () => {
  for (const [cmd, args, message] of [
    ['transmit', ['--stats'], '--stats needs a value'],
    ['srt-server', ['--bogus'], 'unknown option --bogus'],
    ['serve', ['--srt-port=0'], 'srt-port (from --srt-port): "0" is not an integer from 1 to 65535'],
  ] as const) {
    const r = spawnSync(process.execPath, [CLI, cmd, ...args], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stderr, `sluice ${cmd}: ${message}\nRun 'sluice ${cmd} --help' for its options.\n`);
    assert.equal(r.stdout, '');
  }
});
