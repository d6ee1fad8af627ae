// `sluice serve`'s process guard: an unhandled rejection is logged with its stack and the process
// keeps running (Node's default would exit and take every SRT server down with it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describeRejection } from '../../src/cli/process-guard.js';
import { fileTimeout } from '../support/file-timeout.js';

fileTimeout();

const GUARD = new URL('../../src/cli/process-guard.js', import.meta.url).href;

test('an unhandled rejection is logged with its stack and the process keeps running', async () => {
  // the child rejects a promise nobody handles, then, on a later turn, proves it is still alive
  const script = `
    const { logUnhandledRejections } = await import(${JSON.stringify(GUARD)});
    logUnhandledRejections();
    process.on('unhandledRejection', () => setImmediate(() => { process.stdout.write('still serving\\n'); process.exit(0); }));
    Promise.reject(new Error('stray failure 42'));
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', err = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
  const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  assert.equal(code, 0, `the process must keep running; stderr: ${err}`);
  assert.equal(out, 'still serving\n');
  assert.match(err, /^sluice serve: unhandled rejection \(kept running\): Error: stray failure 42\n {4}at /);
});

test('a rejection with a non-Error reason is logged as text', () => {
  assert.equal(describeRejection('just a string'), 'sluice serve: unhandled rejection (kept running): just a string\n');
  assert.equal(describeRejection(undefined), 'sluice serve: unhandled rejection (kept running): undefined\n');
});
