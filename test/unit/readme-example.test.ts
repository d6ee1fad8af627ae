// The README's library example, compiled by the test build (tsc) and run on loopback. The test
// also checks that README.md shows exactly this code (imported `from 'sluice'`), so the
// documented example can neither stop compiling nor drift from what is tested.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { freePort } from '../support/peers.js';
import { waitFor } from '../support/wait.js';
import { fileTimeout } from '../support/file-timeout.js';

fileTimeout();

const IMPORT_HERE = "const { Server, dial } = await import('../../src/index.js');";
const IMPORT_README = "import { Server, dial } from 'sluice';";

test('the README library example compiles, runs and is what README.md shows', { timeout: 60_000 }, async () => {
  const port = await freePort();
  const log: string[] = [];
  const console = { log: (s: unknown) => log.push(typeof s === 'string' ? s : JSON.stringify(s)) };
  const got: Buffer[] = [];
  // README:begin
  const { Server, dial } = await import('../../src/index.js');

  const server = new Server({ name: 'studio', port, passphrase: 'studio-secret', srt: { latency: 200 } });
  server.on('published', (stream) => console.log(`publishing ${stream}`));
  server.on('rejected', (r) => console.log(`${r.peer} rejected (${r.reason}): ${r.message}`));
  await server.start();

  const url = `srt://127.0.0.1:${port}?passphrase=studio-secret&streamid=`;
  const publisher = await dial(`${url}publish:live/cam`);
  const player = await dial(`${url}read:live/cam`);
  player.on('data', (msg: Buffer) => got.push(msg)); // each SRT message, as published
  publisher.write(Buffer.alloc(1316, 0x47));
  // README:end
  try {
    await assert.rejects(dial(`${url}read:live/other`), /1404|not found/i, 'no publisher on live/other');
    await waitFor(() => got.length > 0, { what: 'the player gets the message' });
    assert.equal(got.length, 1, 'the player got the message');
    assert.deepEqual(got[0], Buffer.alloc(1316, 0x47));
    assert.ok(log.includes('publishing live/cam'), log.join('\n'));
    assert.ok(log.some((l) => l.includes('rejected (1404)')), log.join('\n'));
    assert.equal(server.stats()[0]?.players.length, 1);
  } finally {
    publisher.destroy();
    player.destroy();
    await server.close();
  }

  const src = readFileSync(fileURLToPath(import.meta.url).replace(/dist\/(test\/.*)\.js$/, '$1.ts'), 'utf8');
  const block = src.slice(src.indexOf('// README:begin\n') + 16, src.indexOf('  // README:end'))
    .split('\n').map((l) => l.slice(2)).join('\n').replace(IMPORT_HERE, IMPORT_README);
  const readme = readFileSync(fileURLToPath(new URL('../../../README.md', import.meta.url)), 'utf8');
  assert.ok(readme.includes(block), `README.md must show the tested example:\n${block}`);
});
