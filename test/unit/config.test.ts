// `sluice serve` configuration: precedence, validation messages that name the option and its range.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, resolveServeConfig, type ServeConfig } from '../../src/cli/config.js';
import { tempDir } from '../support/peers.js';
import { fileTimeout } from '../support/file-timeout.js';

fileTimeout();

const resolve = (argv: string[], env: NodeJS.ProcessEnv = {}): ServeConfig => resolveServeConfig(argv, env) as ServeConfig;

test('defaults on a fresh machine', () => {
  const c = resolve([]);
  assert.equal(c.dataDir, './data');
  assert.equal(c.database, null);
  assert.equal(c.httpHost, '0.0.0.0');
  assert.equal(c.httpPort, 8080);
  assert.equal(c.srtPort, 9000);
  assert.equal(c.tokenTtl, '12h');
  assert.equal(resolveServeConfig(['--help'], {}), 'help');
});

test('command line > environment > config file > default', () => {
  const file = join(tempDir(), 'sluice.json');
  writeFileSync(file, JSON.stringify({ srtPort: 7000, httpAddr: '127.0.0.1:1111', dataDir: '/from/file', 'token-ttl': '30m' }));
  const c = resolve(['--config', file, '--srt-port', '7001'], { SLUICE_HTTP_ADDR: '127.0.0.1:2222' });
  assert.equal(c.srtPort, 7001);
  assert.equal(c.sources['srtPort'], '--srt-port');
  assert.equal(c.httpPort, 2222);
  assert.equal(c.sources['httpAddr'], 'SLUICE_HTTP_ADDR');
  assert.equal(c.dataDir, '/from/file');
  assert.equal(c.tokenTtl, '30m');
  const viaEnv = resolve([], { SLUICE_CONFIG: file });
  assert.equal(viaEnv.srtPort, 7000);
  assert.equal(resolve(['--srt-port=6000']).srtPort, 6000);
  assert.equal(resolve(['--database', 'postgres://u:p@db:5432/sluice']).database, 'postgres://u:p@db:5432/sluice');
});

test('invalid values are refused with the option, its source and its range', () => {
  const cases: [string[], NodeJS.ProcessEnv, RegExp][] = [
    [['--srt-port', '70000'], {}, /^srt-port \(from --srt-port\): "70000" is not an integer from 1 to 65535$/],
    [[], { SLUICE_SRT_PORT: 'abc' }, /^srt-port \(from SLUICE_SRT_PORT\): "abc" is not an integer from 1 to 65535$/],
    [['--http-addr', 'localhost'], {}, /^http-addr .*is not HOST:PORT/],
    [['--token-ttl', 'forever'], {}, /^token-ttl .*is not a duration like 30m, 12h or 7d/],
    [['--log-level', 'loud'], {}, /^log-level .*is not one of fatal, error, warn, info, debug, trace, silent/],
    [['--database', 'mysql://x/y'], {}, /^database .*postgres:\/\//],
    [['--admin-password', 'short'], {}, /^admin-password \(from --admin-password\): must be 8 to 256 characters long$/],
    [['--bogus', '1'], {}, /^unknown option --bogus$/],
    [['--srt-port'], {}, /needs a value/],
  ];
  for (const [argv, env, re] of cases) assert.throws(() => resolveServeConfig(argv, env), (e: Error) => e instanceof ConfigError && re.test(e.message), `${argv.join(' ')} ${JSON.stringify(env)}`);
});

test('config file problems are named', () => {
  const dir = tempDir();
  const bad = join(dir, 'bad.json');
  writeFileSync(bad, '{ "srtPort": 1, ');
  assert.throws(() => resolve(['--config', bad]), /config .*bad\.json: not valid JSON/);
  const unknown = join(dir, 'unknown.json');
  writeFileSync(unknown, JSON.stringify({ srtPort: 9000, colour: 'blue' }));
  assert.throws(() => resolve(['--config', unknown]), /unknown option colour/);
  const range = join(dir, 'range.json');
  writeFileSync(range, JSON.stringify({ srtPort: 0 }));
  assert.throws(() => resolve(['--config', range]), /srt-port \(from config .*range\.json\): "0" is not an integer from 1 to 65535/);
  assert.throws(() => resolve(['--config', join(dir, 'missing.json')]), /cannot read it/);
});

test('scale-out options: a node name needs PostgreSQL; advertise and SRT host only with a node name', () => {
  const c = resolve(['--node-name', 'n1', '--database', 'postgres://db/sluice', '--advertise-addr', '10.0.0.5', '--srt-host', '10.0.0.5']);
  assert.deepEqual([c.nodeName, c.advertiseAddr, c.srtHost], ['n1', '10.0.0.5', '10.0.0.5']);
  const fromEnv = resolve([], { SLUICE_NODE_NAME: 'edge-2', SLUICE_DATABASE: 'postgresql://u@db:5432/s' });
  assert.equal(fromEnv.nodeName, 'edge-2');
  assert.deepEqual([resolve([]).nodeName, resolve([]).advertiseAddr, resolve([]).srtHost], [null, null, null]);
  assert.throws(() => resolve(['--node-name', 'n1']), (e: Error) => e instanceof ConfigError && e.message === 'node-name (from --node-name): several nodes share a PostgreSQL database: give --database postgres://…');
  assert.throws(() => resolve(['--node-name', 'n 1', '--database', 'postgres://db/s']), /node-name \(from --node-name\): "n 1" may hold only letters, digits/);
  assert.throws(() => resolve(['--advertise-addr', '10.0.0.5']), /advertise-addr \(from --advertise-addr\): only with --node-name \(scale-out\)/);
  assert.throws(() => resolve([], { SLUICE_SRT_HOST: '127.0.0.2' }), /srt-host \(from SLUICE_SRT_HOST\): only with --node-name/);
});
