// The web console end to end: `sluice serve` as a process, Debian's chromium driven by
// playwright-core, ffmpeg publishing and srt-live-transmit playing. Log in, server form with the
// API's field-level errors, create a server, a stream appears and its chart moves, the in-browser
// preview plays (the <video>'s time advances), a player is kicked from the UI, phone width, keyboard.
// Screenshots go to test-artifacts/dashboard/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { freePort, requireTool, sleep, spawnPeer, tempDir, testMedia, udpCollect, waitForOutput, type Peer } from '../support/peers.js';
import { fileTimeout } from '../support/file-timeout.js';

fileTimeout();

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const WEB_INDEX = fileURLToPath(new URL('../../web/index.html', import.meta.url));
const ARTIFACTS = fileURLToPath(new URL('../../../test-artifacts/dashboard/', import.meta.url));
const CHROMIUM = process.env['SLUICE_CHROMIUM'] ?? '/usr/bin/chromium';

async function waitFor(p: Peer, re: RegExp, ms = 10_000): Promise<void> {
  await waitForOutput(p, re, `the process prints ${re}`, ms);
}

/** Polls fn until ok(value) or ms pass; returns the last value (the caller asserts). */
async function poll<T>(fn: () => Promise<T>, ok: (v: T) => boolean, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  let v = await fn();
  while (!ok(v) && Date.now() < end) {
    await sleep(150);
    v = await fn();
  }
  if (!ok(v)) {
    let last: string;
    try { last = JSON.stringify(v)?.slice(0, 500) ?? String(v); } catch { last = String(v); }
    throw new Error(`poll: the condition was not met within ${ms} ms; last value: ${last}`);
  }
  return v;
}

const shot = (page: Page, name: string): Promise<Buffer> => page.screenshot({ path: `${ARTIFACTS}${name}.png`, fullPage: true });

/** No horizontal scrolling: the page is as wide as the viewport. */
// (page code is passed as text: the test is compiled without the DOM's types)
const overflow = (page: Page): Promise<number> => page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth');

test('dashboard: login, server form errors, create, live stream and chart, preview plays, kick, phone width, keyboard', async (t) => {
  requireTool('ffmpeg');
  requireTool('srt-live-transmit');
  if (!existsSync(CHROMIUM)) throw new Error(`chromium is not installed at ${CHROMIUM}: the dashboard test needs Debian's chromium (apt-get install -y chromium)`);
  if (!existsSync(WEB_INDEX)) throw new Error(`the dashboard is not built (${WEB_INDEX} missing): run npm run build:web`);
  mkdirSync(ARTIFACTS, { recursive: true });

  const httpPort = await freePort();
  const base = `http://127.0.0.1:${httpPort}`;
  const serve = spawnPeer(process.execPath, [CLI, 'serve', '--data-dir', tempDir(), '--http-addr', `127.0.0.1:${httpPort}`, '--srt-port', String(await freePort()), '--admin-password', 'dash-admin-pass']);
  t.after(() => serve.kill());
  const peers: Peer[] = [];
  const sink = await udpCollect();
  t.after(() => sink.close());
  let browser: Browser | null = null;
  try {
    await waitFor(serve, /REST API on/);
    try {
      browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--autoplay-policy=no-user-gesture-required'] });
    } catch (e) {
      throw new Error(`chromium at ${CHROMIUM} did not start: ${(e as Error).message}`);
    }
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.setDefaultTimeout(10_000);

    // ---- log in (a wrong password first)
    await page.goto(base);
    await page.getByLabel('Username').fill('admin');
    await page.getByLabel('Password').fill('wrong-password');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByText('wrong username or password').waitFor();
    await page.getByLabel('Password').fill('dash-admin-pass');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
    await page.locator('.tiles').waitFor();
    await shot(page, '01-overview');

    // ---- servers: invalid values get the API's field-level messages
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Servers' }).click();
    await page.getByRole('heading', { name: 'Servers' }).waitFor();
    await page.locator('tr[data-server="default"]').waitFor();
    await page.getByRole('button', { name: 'New server' }).click();
    const form = page.getByRole('dialog');
    await form.getByLabel('Name').fill('bad name!');
    await form.getByLabel('UDP port').fill('0');
    await form.getByLabel('Latency (ms)').fill('soon');
    await form.getByRole('button', { name: 'Create server' }).click();
    const fieldError = (name: string) => form.locator(`.field:has([name="${name}"]) [data-field-error]`);
    await fieldError('server_port').waitFor();
    assert.match(await fieldError('server_name').innerText(), /pattern/);
    assert.match(await fieldError('server_port').innerText(), />= 1/);
    assert.match(await fieldError('server_latency').innerText(), /integer/);
    assert.equal(await form.locator('[name="server_port"]').getAttribute('aria-invalid'), 'true');
    assert.equal(await fieldError('server_maxbw').count(), 0, 'only the bad fields are marked');
    await shot(page, '02-validation');

    // ---- a bad packet filter: the API's message next to its own field (settings.packetfilter)
    const srtPort = await freePort();
    await form.getByLabel('Name').fill('studio');
    await form.getByLabel('UDP port').fill(String(srtPort));
    await form.getByLabel('Latency (ms)').fill('200');
    await form.getByLabel('Packet filter (FEC)').fill('fec,cols:1,rows:5');
    await form.getByRole('button', { name: 'Create server' }).click();
    await fieldError('packetfilter').waitFor();
    assert.match(await fieldError('packetfilter').innerText(), /cols: "1" must be at least 2/);
    assert.equal(await form.locator('[name="packetfilter"]').getAttribute('aria-invalid'), 'true');
    assert.equal(await fieldError('server_port').count(), 0, 'the fixed fields are no longer marked');

    // ---- a valid server with FEC: created and running; ffmpeg and srt-live-transmit below take its filter
    await form.getByLabel('Packet filter (FEC)').fill('fec,cols:10,rows:5');
    await form.getByRole('button', { name: 'Create server' }).click();
    await form.waitFor({ state: 'hidden' });
    const row = page.locator('tr[data-server="studio"]');
    await row.locator('.badge-running').waitFor();
    assert.equal(await row.locator('td').nth(1).innerText(), String(srtPort));
    await row.getByRole('link', { name: 'studio' }).click();
    await page.getByRole('heading', { name: /studio/ }).waitFor();
    await page.getByText('No stream is published on this server yet').waitFor();

    // ---- ffmpeg publishes: the stream appears with its publisher, its chart gets new points
    peers.push(spawnPeer('ffmpeg', ['-loglevel', 'error', '-re', '-stream_loop', '-1', '-i', testMedia(), '-c', 'copy', '-f', 'mpegts', `srt://127.0.0.1:${srtPort}?streamid=publish:/live/cam&pkt_size=1316&latency=200000`]));
    const card = page.locator('[data-stream="live/cam"]');
    await card.waitFor({ timeout: 15_000 });
    await card.locator('tr[data-role="publisher"]').waitFor();
    const chart = card.locator('[data-chart^="Bitrate in"]');
    const points = async (): Promise<{ n: number; last: number }> => ({ n: Number(await chart.getAttribute('data-points')), last: Number(await chart.getAttribute('data-last') ?? 0) });
    const p0 = await poll(points, (p) => p.n >= 1);
    assert.ok(p0.n >= 1, 'the bitrate chart has points');
    const p1 = await poll(points, (p) => p.n >= p0.n + 2 && p.last > p0.last, 8000);
    assert.ok(p1.n >= p0.n + 2 && p1.last >= p0.last + 1500, `the chart moves: ${JSON.stringify(p0)} → ${JSON.stringify(p1)}`);
    // the publisher's own charts (bitrate, RTT, loss, receive buffer) are open and filling
    const pubCharts = card.locator('[data-chart^="Bitrate (Mbit/s) — publisher"]');
    await poll(async () => Number(await pubCharts.getAttribute('data-points')), (n) => n >= 2);
    assert.ok(Number(await pubCharts.getAttribute('data-points')) >= 2, 'the publisher chart has points');
    assert.match(await card.locator('.card-head').innerText(), /Mbit\/s/);

    // ---- preview: the video plays what arrives
    await card.getByRole('button', { name: 'Preview' }).click();
    const v = 'document.querySelector(\'[data-stream="live/cam"] video\')';
    const currentTime = (): Promise<number> => page.evaluate<number>(`${v}.currentTime`);
    const playing = await poll(currentTime, (t) => t > 0.5, 15_000);
    assert.ok(playing > 0.5, `the preview plays (currentTime ${playing}, state ${await card.locator('.preview').getAttribute('data-state')}, ${await card.locator('.preview').getAttribute('data-bytes')} bytes)`);
    const later = await poll(() => page.evaluate<{ t: number; w: number; h: number; paused: boolean }>(`({ t: ${v}.currentTime, w: ${v}.videoWidth, h: ${v}.videoHeight, paused: ${v}.paused })`), (x) => x.t > playing + 0.8, 15_000);
    assert.ok(later.t > playing + 0.8, `the video's time advances (${playing} → ${later.t})`);
    assert.deepEqual([later.w, later.h], [640, 360], 'the decoded picture is the published one');
    assert.equal(later.paused, false);
    await card.locator('tr[data-peer="preview:admin"]').waitFor(); // the preview is a player of the stream
    await shot(page, '03-stream-preview');
    // the server's filter is stored, shown in its form, and ran with ffmpeg (FEC packets received)
    {
      const token = await page.evaluate<string>('JSON.parse(localStorage.getItem("sluice.session")).token');
      const api = async (path: string): Promise<unknown> => (await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${token}` } })).json();
      const studio = ((await api('/api/v1/servers')) as { id: number; server_name: string; settings: Record<string, unknown> }[]).find((x) => x.server_name === 'studio')!;
      assert.equal(studio.settings['packetfilter'], 'fec,cols:10,rows:5');
      const streams = (await api(`/api/v1/servers/${studio.id}/streams`)) as { publisher: { stats: Record<string, number> } }[];
      assert.ok(streams[0]!.publisher.stats['pktRcvFilterExtraTotal']! > 0, `FEC packets from ffmpeg: ${streams[0]!.publisher.stats['pktRcvFilterExtraTotal']}`);
    }

    // ---- a player (srt-live-transmit) is kicked from the UI
    peers.push(spawnPeer('srt-live-transmit', ['-q', `srt://127.0.0.1:${srtPort}?streamid=read:/live/cam`, `udp://127.0.0.1:${sink.port}`]));
    const sltRow = card.locator('tr[data-role="player"]:not([data-peer^="preview:"])').first();
    await sltRow.waitFor({ timeout: 10_000 });
    const kickedId = await sltRow.getAttribute('data-conn');
    assert.ok(kickedId);
    await poll(async () => sink.messages.length, (n) => n > 50);
    assert.ok(sink.messages.length > 50, 'srt-live-transmit receives the stream');
    await card.locator(`tr[data-conn="${kickedId}"]`).getByRole('button', { name: /^Kick player/ }).click();
    await page.locator('.toast', { hasText: 'kicked' }).waitFor();
    await card.locator(`tr[data-conn="${kickedId}"]`).waitFor({ state: 'detached', timeout: 5000 });
    const token = await page.evaluate<string>('JSON.parse(localStorage.getItem("sluice.session")).token');
    const events = (await (await fetch(`${base}/api/v1/events?type=connection.kicked`, { headers: { authorization: `Bearer ${token}` } })).json()) as { items: { data: { connection: number } }[] };
    assert.deepEqual(events.items.map((e) => e.data.connection), [Number(kickedId)], 'the kick went through the API');
    await shot(page, '04-kicked');

    // ---- the stream's URLs are ready to copy
    await card.getByRole('button', { name: 'URLs' }).click();
    const urls = page.getByRole('dialog');
    const ffmpegUrl = await urls.getByLabel('ffmpeg', { exact: true }).inputValue();
    assert.ok(ffmpegUrl.includes(`srt://127.0.0.1:${srtPort}?streamid=publish:/live/cam&latency=200000`), ffmpegUrl);
    assert.ok((await urls.getByLabel('srt-live-transmit (to UDP :5000)', { exact: true }).inputValue()).includes(`streamid=read:/live/cam&latency=200`));
    await page.keyboard.press('Escape');
    await urls.waitFor({ state: 'hidden' });

    // ---- the edit form shows the filter in its own field, not in the settings JSON
    await page.getByRole('button', { name: 'Edit', exact: true }).click();
    const edit = page.getByRole('dialog');
    assert.equal(await edit.getByLabel('Packet filter (FEC)').inputValue(), 'fec,cols:10,rows:5');
    assert.doesNotMatch(await edit.locator('[name="settings"]').inputValue(), /packetfilter/);
    await page.keyboard.press('Escape');
    await edit.waitFor({ state: 'hidden' });

    // ---- keyboard: Tab reaches the main navigation and the page's buttons; Enter follows a link
    await page.reload();
    await card.waitFor();
    const focused: string[] = [];
    for (let i = 0; i < 40; i++) {
      await page.keyboard.press('Tab');
      focused.push(await page.evaluate<string>(`(() => {
        const el = document.activeElement;
        if (!el) return '';
        const inNav = !!el.closest('nav[aria-label="Main"]');
        return (inNav ? 'nav:' : '') + el.tagName.toLowerCase() + ':' + (el.getAttribute('aria-label') ?? el.textContent ?? '').trim();
      })()`));
      if (focused[focused.length - 1] === 'button:Preview') break;
    }
    assert.ok(focused.includes('a:Skip to content'), focused.join(' | '));
    assert.ok(focused.includes('nav:a:Servers') && focused.includes('nav:a:Events'), `Tab reaches the main navigation: ${focused.join(' | ')}`);
    assert.ok(focused.includes('button:Restart') && focused.includes('button:Preview'), `Tab reaches the buttons: ${focused.join(' | ')}`);
    for (let i = 0; i < 20; i++) {
      await page.keyboard.press('Shift+Tab');
      if (await page.evaluate<boolean>('document.activeElement?.textContent === "Events"')) break;
    }
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Events' }).waitFor();
    await page.locator('tr[data-type="connection.kicked"]').waitFor();
    assert.equal(await page.evaluate<string>('document.activeElement?.id'), 'main', 'focus moves to the new page');

    // ---- phone width: no horizontal overflow, the menu opens with the keyboard
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${base}/#/servers`);
    await page.locator('tr[data-server="studio"]').waitFor();
    assert.ok((await overflow(page)) <= 0, `servers page fits 390 px (overflow ${await overflow(page)} px)`);
    await page.locator('tr[data-server="studio"]').getByRole('link').click();
    await card.waitFor();
    // the page is laid out once its charts are drawn (data-points > 0), not after a fixed pause
    await poll(async () => Number(await card.locator('[data-chart]').first().getAttribute('data-points')), (n) => n > 0);
    assert.ok((await overflow(page)) <= 0, `server page fits 390 px (overflow ${await overflow(page)} px)`);
    await shot(page, '05-phone-server');
    const nav = page.getByRole('navigation', { name: 'Main' });
    assert.equal(await nav.isVisible(), false, 'the navigation is folded away on a phone');
    await page.getByRole('button', { name: 'Menu' }).focus();
    await page.keyboard.press('Enter');
    await nav.waitFor();
    assert.equal(await page.getByRole('button', { name: 'Menu' }).getAttribute('aria-expanded'), 'true');
    await shot(page, '06-phone-menu');
    await nav.getByRole('link', { name: 'Overview' }).click();
    await page.locator('.tiles').waitFor();
    assert.ok((await overflow(page)) <= 0, 'overview fits 390 px');

    assert.deepEqual(pageErrors, [], 'no script errors in the page');
  } finally {
    await browser?.close();
    sink.close();
    for (const p of peers) await p.kill('SIGKILL');
    await serve.kill('SIGTERM');
  }
});
