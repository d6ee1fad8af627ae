// The dashboard's Nodes page against two `sluice serve` nodes on a PostgreSQL the test starts
// (Debian's chromium, playwright-core): both nodes listed with their addresses and what they run,
// a drain from the page refuses new players on that node (1402) until it is resumed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { dial } from '../../src/transport/api.js';
import { SrtRejectedError } from '../../src/transport/errors.js';
import { freePort, spawnPeer, tempDir, waitForOutput, type Peer } from '../support/peers.js';
import { startPostgres } from '../support/postgres.js';
import { eventually } from '../support/wait.js';
import { fileTimeout } from '../support/file-timeout.js';

fileTimeout();

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const WEB_INDEX = fileURLToPath(new URL('../../web/index.html', import.meta.url));
const ARTIFACTS = fileURLToPath(new URL('../../../test-artifacts/dashboard/', import.meta.url));
const CHROMIUM = process.env['SLUICE_CHROMIUM'] ?? '/usr/bin/chromium';

test('dashboard Nodes page: two nodes with their addresses and load, drain and resume from the page', async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`chromium is not installed at ${CHROMIUM}: the dashboard test needs Debian's chromium (apt-get install -y chromium)`);
  if (!existsSync(WEB_INDEX)) throw new Error(`the dashboard is not built (${WEB_INDEX} missing): run npm run build:web`);
  mkdirSync(ARTIFACTS, { recursive: true });
  const pg = await startPostgres();
  const procs: Peer[] = [];
  let browser: Browser | null = null;
  try {
    const database = await pg.createDatabase();
    const srtPort = await freePort();
    const httpPorts: number[] = [];
    for (const [i, host] of ['127.0.0.2', '127.0.0.3'].entries()) {
      const p = spawnPeer(process.execPath, [CLI, 'serve', '--data-dir', join(tempDir(), `n${i + 1}`), '--database', database, '--node-name', `n${i + 1}`, '--advertise-addr', host,
        '--srt-host', host, '--srt-port', String(srtPort), '--http-addr', '127.0.0.1:0', '--admin-password', 'dash-admin-pass']);
      procs.push(p);
      await waitForOutput(p, /REST API on http:\/\/127\.0\.0\.1:\d+/, `node n${i + 1}`, 30_000);
      httpPorts.push(Number(/REST API on http:\/\/127\.0\.0\.1:(\d+)/.exec(p.output())![1]));
    }
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.setDefaultTimeout(15_000);
    await page.goto(`http://127.0.0.1:${httpPorts[0]}`);
    await page.getByLabel('Username').fill('admin');
    await page.getByLabel('Password').fill('dash-admin-pass');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Nodes' }).click();
    await page.getByRole('heading', { name: 'Nodes' }).waitFor();
    const n1 = page.locator('tr[data-node="n1"]');
    const n2 = page.locator('tr[data-node="n2"]');
    await n2.locator('.badge-up').waitFor();
    assert.equal(await n1.locator('td').nth(0).innerText(), 'n1 (this one)');
    assert.equal(await n2.locator('td').nth(1).innerText(), '127.0.0.3');
    // the default server's routes run on exactly one of them
    await page.waitForFunction('[...document.querySelectorAll("tr[data-node] td:nth-child(9)")].map((td) => td.textContent).sort().join("|") === "1|—"');
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: `${ARTIFACTS}nodes.png`, fullPage: true });
    // drain n2 from the page: it is shown draining and refuses a new player with 1402
    await n2.getByRole('button', { name: 'Drain' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Drain' }).click();
    await n2.locator('.badge-draining').waitFor();
    // node 2 reads its flag at its next heartbeat: its health says so
    const health = (): Promise<number> => fetch(`http://127.0.0.1:${httpPorts[1]}/healthz`).then((r) => r.status);
    await eventually(health, (st) => st === 503, { what: 'node 2 drains' });
    const refused = await dial({ host: '127.0.0.3', port: srtPort, streamid: 'read:live/x' }).then((s) => { s.close(); return null; }, (e: Error) => e);
    assert.ok(refused instanceof SrtRejectedError && refused.reason === 1402, `refused with 1402: ${String(refused)}`);
    await n2.getByRole('button', { name: 'Resume' }).click();
    await n2.locator('.badge-up').waitFor();
    await eventually(health, (st) => st === 200, { what: 'node 2 takes players again' });
    const ok = await dial({ host: '127.0.0.3', port: srtPort, streamid: 'read:live/x' });
    ok.close();
    assert.deepEqual(pageErrors, []);
  } finally {
    await browser?.close();
    for (const p of procs) await p.kill('SIGTERM');
    await pg.stop();
  }
});
