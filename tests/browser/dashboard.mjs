// The built-in dashboard in headless Chromium, on a firesight serving the demo log (started by
// tests/it/dashboard.rs): the API key prompt, the panels' numbers for the demo log, filtering by a
// country (from its table and from the world map), time ranges, the comparison, paging, a shared URL,
// CSV export, a phone-sized screen, Live (new requests, delivered through the Firehose endpoint,
// streamed into the table), the crawler panels, and the latency panels and host selector: empty on the
// demo (no durations, no hosts), filled by timed deliveries to the stream `timed` (its own log format).
//
// Usage: FIRESIGHT_TEST_FIREHOSE_KEY=<key> node tests/browser/dashboard.mjs <base-url> <api-key> <artifact-dir>
// The Firehose access key is the service's (FIRESIGHT_FIREHOSE__ACCESS_KEYS); its live tail sends at most
// LIVE_RATE documents a second (FIRESIGHT_TAIL__MAX_EVENTS_PER_SECOND).
// Screenshots of the main states go to <artifact-dir>. Exits 1 with the failing step on any failure.

import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { parseCsv, accessLine, timedLine } from './lines.mjs';

const [base, apiKey, artifacts] = process.argv.slice(2);
if (!base || !apiKey || !artifacts) {
  console.error('usage: node dashboard.mjs <base-url> <api-key> <artifact-dir>');
  process.exit(2);
}
const firehoseKey = process.env.FIRESIGHT_TEST_FIREHOSE_KEY;
if (!firehoseKey) {
  console.error('set FIRESIGHT_TEST_FIREHOSE_KEY to one of the service\'s Firehose access keys');
  process.exit(2);
}
const executablePath = process.env.FIRESIGHT_TEST_CHROMIUM || '/usr/bin/chromium';
if (!existsSync(executablePath)) {
  console.error(`Chromium not found at ${executablePath}: run dev/browser.sh (apt-get install chromium), or set FIRESIGHT_TEST_CHROMIUM`);
  process.exit(1);
}

// The demo log (tests/fixtures/access_logs), geolocated with GeoLite2-City 2019-12-24; the same figures
// as tests/scenarios. The demo shifts it to end now, so the last 7 days hold all of it.
const DEMO = {
  requests: 9999,
  status4xx: 217,
  notFound: 213,
  bots: 1991,
  bytes: '2.75 GB',
  countries: { US: 3897, FR: 865, DE: 549 },
};
const CSV_HEADER = 'id,timestamp,client_ip,country,city,method,path,query,http_version,status,bytes,referrer,user_agent,browser,os,device,bot,crawler,crawler_category';
const PANELS = ['summary', 'timeline', 'countries', 'cities', 'browsers', 'os', 'devices', 'paths', 'referrers', 'heatmap', 'status', 'delivery', 'logs'];
const LIVE_RATE = 5;
const TOP_PANELS = { browsers: 'browser', os: 'os', devices: 'device', paths: 'path', referrers: 'referrer_host', cities: 'city', status: 'status' };

await fs.mkdir(artifacts, { recursive: true });
const watchdog = setTimeout(() => {
  console.error('the browser test did not finish within 5 minutes');
  process.exit(1);
}, 300_000);

const browser = await chromium.launch({
  executablePath,
  // Chromium refuses to run as root without --no-sandbox; the rest keeps it off the (closed) network.
  args: [
    ...(process.getuid?.() === 0 ? ['--no-sandbox'] : []),
    '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});

let passed = 0;
let current = 'start';
const problems = [];

async function step(name, fn) {
  current = name;
  const started = Date.now();
  await fn();
  passed += 1;
  console.log(`ok ${passed} - ${name} (${Date.now() - started} ms)`);
}

async function newPage(options = {}) {
  const context = await browser.newContext({ locale: 'en-US', timezoneId: 'UTC', acceptDownloads: true, viewport: { width: 1280, height: 900 }, ...options });
  const page = await context.newPage();
  page.setDefaultTimeout(30_000);
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    // Chromium logs every 4xx answer; the refused key (401) and the refused range (400) are part of the
    // test and the page handles them. Anything else the console reports (CSP violations too) is not.
    const expected = /^Failed to load resource: the server responded with a status of 40[01] /.test(message.text());
    if (message.type() === 'error' && !expected) problems.push(`console: ${message.text()}`);
  });
  return page;
}

const generation = (page) => page.evaluate(() => Number(document.body.dataset.generation || 0));

// Runs `action`, then waits until every panel has loaded again.
async function act(page, action) {
  const before = await generation(page);
  await action();
  await page.waitForFunction((b) => document.body.dataset.state === 'ready' && Number(document.body.dataset.generation || 0) > b, before);
}

async function enterKey(page, key) {
  await page.locator('#key-dialog').waitFor({ state: 'visible' });
  await page.fill('#key-input', key);
  await page.click('#key-submit');
}

const figure = async (page, name) => Number(await page.getAttribute(`#panel-summary [data-figure="${name}"]`, 'data-value'));
const figureText = (page, name) => page.textContent(`#panel-summary [data-figure="${name}"] .value`);
const panelState = (page, name) => page.getAttribute(`#panel-${name}`, 'data-state');
const topTotal = async (page, name) => Number(await page.getAttribute(`#panel-${name} .toplist`, 'data-total'));
const timelineTotal = async (page) => Number(await page.getAttribute('#panel-timeline .legend', 'data-total'));
const heatmapTotal = async (page) => Number(await page.getAttribute('#panel-heatmap svg.heatmap', 'data-total'));
const shot = (page, name, fullPage = true) => page.screenshot({ path: path.join(artifacts, name), fullPage });

// Delivers lines as Amazon Kinesis Data Firehose does (HTTP endpoint protocol 1.0), answered 200 once durable.
// `stream`: the delivery stream's name, for a source with its own log format.
async function deliver(lines, stream = null) {
  const requestId = crypto.randomUUID();
  const source = stream ? { 'X-Amz-Firehose-Source-Arn': `arn:aws:firehose:eu-west-1:111122223333:deliverystream/${stream}` } : {};
  const records = lines.map((line) => ({ data: Buffer.from(`${line}\n`).toString('base64') }));
  const response = await fetch(`${base}/v1/firehose`, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      'X-Amz-Firehose-Protocol-Version': '1.0',
      'X-Amz-Firehose-Request-Id': requestId,
      'X-Amz-Firehose-Access-Key': firehoseKey,
      ...source,
    },
    body: JSON.stringify({ requestId, timestamp: Date.now(), records }),
  });
  assert.equal(response.status, 200, await response.text());
}

// The API's own answer, for the numbers a panel must show.
async function apiGet(pathAndQuery) {
  const response = await fetch(`${base}/v1${pathAndQuery}`, { headers: { Authorization: `Bearer ${apiKey}` } });
  const text = await response.text();
  assert.equal(response.status, 200, text);
  return JSON.parse(text);
}

const NO_DURATIONS = /No request durations in these logs: log `\$request_time` \(nginx\) or `%D` \(Apache\)/;

const liveRows = (page) => page.locator('#panel-logs tbody tr[data-live]').evaluateAll((rows) => rows.map((r) => r.dataset.path));
const liveFigure = async (page, id) => Number(await page.getAttribute(`#live-${id}`, 'data-value'));

let page;
try {
  page = await newPage();

  await step('the page and its assets come from the service, with a strict CSP', async () => {
    const response = await page.goto(`${base}/`);
    assert.equal(response.status(), 200);
    const headers = response.headers();
    assert.match(headers['content-security-policy'], /script-src 'self'/);
    assert.equal(headers['x-content-type-options'], 'nosniff');
    assert.match(await page.title(), /firesight$/);
  });

  await step('asks for the API key and refuses a wrong one', async () => {
    await enterKey(page, 'not-the-key');
    await page.waitForFunction(() => document.querySelector('#key-error').textContent.includes('refused'));
    assert.ok(await page.locator('#key-dialog').isVisible());
    await shot(page, 'key-dialog.png', false);
  });

  await step('with the right key every panel loads (last 24 hours, the default)', async () => {
    await page.fill('#key-input', apiKey);
    await page.click('#key-submit');
    await page.waitForFunction(() => document.body.dataset.state === 'ready');
    assert.equal(await page.locator('#key-dialog').isVisible(), false);
    const lastDay = await figure(page, 'requests');
    // The sample spans four days: the last 24 hours hold part of it.
    assert.ok(lastDay > 1000 && lastDay < DEMO.requests, `last 24 hours: ${lastDay}`);
    assert.equal(await timelineTotal(page), lastDay);
    assert.match(await page.textContent('#updated'), /^Updated \d\d:\d\d:\d\d$/);
    assert.equal(await page.getAttribute('#range-buttons [data-range="24h"]', 'aria-pressed'), 'true');
  });

  await step('last 7 days: the panels show the demo log\'s numbers', async () => {
    await act(page, () => page.click('#range-buttons [data-range="7d"]'));
    assert.match(page.url(), /[?&]range=7d/);
    assert.equal(await figure(page, 'requests'), DEMO.requests);
    assert.equal(await figureText(page, 'requests'), '9,999');
    assert.equal(await figureText(page, 'bytes'), DEMO.bytes);
    assert.match(await page.textContent('#panel-summary [data-figure="error_rate_4xx"]'), /217 requests/);
    for (const name of PANELS) {
      assert.equal(await panelState(page, name), 'ready', `panel ${name}`);
    }
    assert.equal(await timelineTotal(page), DEMO.requests);
    assert.equal(await heatmapTotal(page), DEMO.requests);
    for (const name of Object.keys(TOP_PANELS)) assert.equal(await topTotal(page, name), DEMO.requests, `${name} total`);
    const firstCountry = page.locator('#panel-countries tbody tr').first();
    assert.equal(await firstCountry.getAttribute('data-key'), 'US');
    assert.equal(await firstCountry.getAttribute('data-count'), String(DEMO.countries.US));
    assert.match(await firstCountry.textContent(), /United States/);
    assert.equal(await page.locator('#panel-countries svg.bars .bar-row').count(), 10);
    assert.equal(await page.getAttribute('#panel-status .bucket[data-key="404"]', 'data-count'), String(DEMO.notFound));
    assert.equal(await page.locator('#panel-browsers .bucket').count(), 8);
    assert.equal(await page.locator('#panel-paths .bucket').count(), 10);
    assert.equal(await page.locator('#panel-logs tbody tr').count(), 50);
    assert.equal(await page.getAttribute('#panel-delivery [data-figure="delivery_errors"]', 'data-value'), '0');
    assert.match(await page.textContent('#panel-delivery'), /CloudWatch polling is off/);
    assert.equal(await page.getAttribute('#panel-delivery [data-figure="recovered"]', 'data-value'), '0');
    assert.match(await page.textContent('#panel-delivery'), /Recoverable \/ replayed\s*0 \/ 0/);
    // The test service runs one alert rule that the demo's three 5xx answers keep firing.
    assert.equal(await page.getAttribute('#panel-delivery [data-figure="firing_alerts"]', 'data-value'), '1');
    assert.match(await page.textContent('#panel-delivery .alerts'), /any 5xx this week.*% 5xx/);
    await shot(page, 'overview.png');
    // The picture in the README: the top of the page at 1280 px.
    await page.screenshot({ path: path.join(artifacts, 'dashboard.png'), fullPage: true, clip: { x: 0, y: 0, width: 1280, height: 1500 } });
  });

  await step('bots can be left out or shown alone', async () => {
    await act(page, () => page.click('#panel-summary [data-bot="false"]'));
    assert.equal(await figure(page, 'requests'), DEMO.requests - DEMO.bots);
    assert.equal(await figure(page, 'bot_share'), 0);
    assert.match(await page.textContent('#filters'), /Bots: excluded/);
    await act(page, () => page.click('#panel-summary [data-bot="true"]'));
    assert.equal(await figure(page, 'requests'), DEMO.bots);
    await act(page, () => page.click('#panel-summary [data-bot=""]'));
    assert.equal(await figure(page, 'requests'), DEMO.requests);
    assert.doesNotMatch(page.url(), /bot=/);
  });

  await step('crawlers by category and by name match the API; a category filters', async () => {
    const from = 'now-7d';
    const categories = await apiGet(`/stats/top/crawler_category?from=${from}&limit=10`);
    const crawlers = await apiGet(`/stats/top/crawler?from=${from}&limit=10`);
    assert.ok(categories.buckets.length > 0 && crawlers.buckets.length > 0, 'the demo has crawlers');
    const shownCategories = await page.locator('#panel-crawler-categories .bar-row').evaluateAll((rows) => rows.map((r) => [r.dataset.key, Number(r.dataset.count)]));
    assert.deepEqual(shownCategories, categories.buckets.map((b) => [b.key, b.count]));
    const shownCrawlers = await page.locator('#panel-crawlers .bucket').evaluateAll((rows) => rows.map((r) => [r.dataset.key, Number(r.dataset.count)]));
    assert.deepEqual(shownCrawlers, crawlers.buckets.map((b) => [b.key, b.count]));
    const first = categories.buckets[0];
    await act(page, () => page.click(`#panel-crawler-categories .bar-row[data-key="${first.key}"]`));
    assert.match(page.url(), new RegExp(`[?&]crawler_category=${first.key}`));
    assert.match(await page.textContent(`#filters .chip[data-dim="crawler_category"][data-value="${first.key}"]`), new RegExp(`Crawler type: ${first.key}`));
    assert.equal(await figure(page, 'requests'), first.count);
    await act(page, () => page.click('#filters .chip[data-dim="crawler_category"] .chip-remove'));
    assert.equal(await figure(page, 'requests'), DEMO.requests);
    assert.doesNotMatch(page.url(), /crawler_category=/);
  });

  await step('without durations or hosts: the latency panels explain, no latency tiles, no host selector', async () => {
    assert.equal((await apiGet('/stats/summary?from=now-7d')).duration_p50_ms, null);
    for (const name of ['latency', 'slowest']) {
      assert.equal(await panelState(page, name), 'empty', `panel ${name}`);
      assert.match(await page.textContent(`#panel-${name} .state.empty`), NO_DURATIONS);
    }
    assert.equal(await page.locator('#panel-summary [data-figure="duration_p50_ms"]').count(), 0);
    assert.equal((await apiGet('/stats/top/vhost?from=now-7d&limit=50')).buckets.length, 0);
    assert.equal(await page.locator('#vhost-select').isVisible(), false);
  });

  await step('clicking a country filters every panel to it', async () => {
    const before = await generation(page);
    await page.click('#panel-countries button.cell-button[data-key="US"]');
    await page.waitForFunction((b) => document.body.dataset.state === 'ready' && Number(document.body.dataset.generation) > b, before);
    assert.match(page.url(), /[?&]country=US/);
    const chip = page.locator('#filters .chip[data-dim="country"][data-value="US"]');
    assert.match(await chip.textContent(), /Country: United States \(US\)/);
    assert.equal(await page.title(), 'Last 7 days · United States (US) · firesight');
    const us = DEMO.countries.US;
    assert.equal(await figure(page, 'requests'), us);
    assert.equal(await timelineTotal(page), us);
    assert.equal(await heatmapTotal(page), us);
    for (const name of Object.keys(TOP_PANELS)) assert.equal(await topTotal(page, name), us, `${name} total`);
    assert.deepEqual(await page.locator('#panel-countries tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.key)), ['US']);
    const countries = await page.locator('#panel-logs tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.country));
    assert.ok(countries.length > 0 && countries.every((c) => c === 'US'), `log rows: ${countries}`);
    await shot(page, 'filtered-country.png');
  });

  await step('a second filter from another panel narrows further; a chip removes it', async () => {
    await act(page, () => page.click('#panel-timeline .legend-item[data-key="4xx"]'));
    assert.match(page.url(), /status=4xx/);
    const usErrors = await figure(page, 'requests');
    assert.ok(usErrors > 0 && usErrors < 217, `US 4xx: ${usErrors}`);
    assert.equal(await figure(page, 'error_rate_4xx'), 1);
    await act(page, () => page.click('#filters .chip[data-dim="status"] .chip-remove'));
    assert.equal(await figure(page, 'requests'), DEMO.countries.US);
    assert.doesNotMatch(page.url(), /status=/);
  });

  await step('the URL carries the view: reloading it shows the same filtered view', async () => {
    const shared = page.url();
    await page.goto(shared);
    await page.waitForFunction(() => document.body.dataset.state === 'ready');
    assert.equal(await figure(page, 'requests'), DEMO.countries.US);
    assert.equal(await page.locator('#filters .chip').count(), 1);
    await act(page, () => page.click('#filters .chip[data-dim="country"] .chip-remove'));
    assert.equal(await figure(page, 'requests'), DEMO.requests);
    assert.equal(await page.locator('#filters .chip').count(), 0);
    // Back in history restores the filter.
    await act(page, () => page.goBack());
    assert.equal(await figure(page, 'requests'), DEMO.countries.US);
    await act(page, () => page.click('#filters .chip[data-dim="country"] .chip-remove'));
  });

  await step('the world map fills countries by requests; clicking one filters like the table', async () => {
    const map = page.locator('#panel-countries svg.worldmap');
    assert.ok((await map.locator('path.country').count()) > 150, 'a path per country');
    // Germany: one compact shape, so a click on its box's centre lands on it.
    const de = map.locator('path.country[data-key="DE"]');
    const tableCount = await page.getAttribute('#panel-countries tbody tr[data-key="DE"]', 'data-count');
    assert.equal(tableCount, String(DEMO.countries.DE));
    assert.equal(await de.getAttribute('data-count'), tableCount);
    assert.equal(await de.locator('title').textContent(), `Germany: ${Number(tableCount).toLocaleString('en-US')} requests`);
    const fill = (locator) => locator.evaluate((node) => getComputedStyle(node).fill);
    const neutral = await fill(map.locator('path.country[data-count="0"]').first());
    assert.ok(Number(await de.getAttribute('data-step')) > 0);
    assert.notEqual(await fill(de), neutral, 'Germany is filled');
    // The busiest country takes the darkest step.
    assert.equal(await map.locator('path.country[data-key="US"]').getAttribute('data-step'), '5');
    assert.equal(await map.locator('path.country.active').count(), 0);
    await act(page, () => de.click());
    assert.match(page.url(), /[?&]country=DE/);
    assert.match(await page.textContent('#filters .chip[data-dim="country"][data-value="DE"]'), /Country: Germany \(DE\)/);
    assert.equal(await figure(page, 'requests'), DEMO.countries.DE);
    assert.equal(await timelineTotal(page), DEMO.countries.DE);
    for (const name of Object.keys(TOP_PANELS)) assert.equal(await topTotal(page, name), DEMO.countries.DE, `${name} total`);
    const selected = page.locator('#panel-countries svg.worldmap path.country.active');
    assert.equal(await selected.getAttribute('data-key'), 'DE');
    assert.equal(await selected.getAttribute('aria-pressed'), 'true');
    assert.notEqual(await selected.evaluate((node) => getComputedStyle(node).stroke), 'rgb(255, 255, 255)', 'outlined');
    await shot(page, 'worldmap-filtered.png');
    // Clicking it again removes the filter, as the table's button does.
    await act(page, () => page.locator('#panel-countries svg.worldmap path.country[data-key="DE"]').click());
    assert.doesNotMatch(page.url(), /country=/);
    assert.equal(await figure(page, 'requests'), DEMO.requests);
  });

  await step('the last 15 minutes show fewer requests, consistently across panels', async () => {
    await act(page, () => page.click('#range-buttons [data-range="15m"]'));
    assert.match(page.url(), /[?&]range=15m/);
    const recent = await figure(page, 'requests');
    assert.ok(recent > 0 && recent < DEMO.requests, `last 15 minutes: ${recent}`);
    assert.equal(await timelineTotal(page), recent);
    assert.equal(await topTotal(page, 'browsers'), recent);
    await shot(page, 'range-15m.png', false);
  });

  await step('a custom range and the comparison with the previous period', async () => {
    await page.click('#range-buttons [data-range="custom"]');
    await page.locator('#custom-range').waitFor({ state: 'visible' });
    // From 7 days ago to 2 days ago (UTC, the page's time zone here).
    const pad = (n) => String(n).padStart(2, '0');
    const local = (d) => `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}T${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
    const now = Date.now();
    await page.fill('#custom-from', local(new Date(now - 7 * 86400_000)));
    await page.fill('#custom-to', local(new Date(now - 2 * 86400_000)));
    await act(page, () => page.click('#custom-range button[type="submit"]'));
    assert.match(page.url(), /range=custom&from=.*&to=/);
    const older = await figure(page, 'requests');
    assert.ok(older > 0 && older < DEMO.requests, `custom range: ${older}`);

    await act(page, () => page.click('#range-buttons [data-range="24h"]'));
    await act(page, () => page.check('#compare'));
    assert.match(page.url(), /compare=1/);
    assert.equal(await page.locator('#panel-summary [data-figure="requests"] .delta').count(), 1);
    assert.match(await page.textContent('#panel-summary [data-figure="requests"] .foot'), /[+\u2212]\d+(\.\d)?%|±0%/);
    assert.equal(await page.locator('#panel-timeline polyline.previous').count(), 1);
    assert.match(await page.textContent('#resolved-range'), /compared with/);
    await shot(page, 'compare.png', false);
    await act(page, () => page.uncheck('#compare'));
  });

  await step('the log table pages through the results', async () => {
    await act(page, () => page.click('#range-buttons [data-range="7d"]'));
    const firstPage = await page.locator('#panel-logs tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.id));
    assert.ok(await page.isDisabled('#logs-newer'));
    await page.click('#logs-older');
    await page.waitForFunction(() => document.querySelector('#logs-page').textContent.startsWith('Page 2'));
    const secondPage = await page.locator('#panel-logs tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.id));
    assert.equal(secondPage.length, 50);
    assert.ok(secondPage.every((id) => !firstPage.includes(id)), 'page 2 repeats rows of page 1');
    await page.click('#logs-newer');
    await page.waitForFunction(() => document.querySelector('#logs-page').textContent.startsWith('Page 1'));
  });

  await step('CSV export holds exactly the filtered requests', async () => {
    await act(page, () => page.click('#panel-countries button.cell-button[data-key="FR"]'));
    assert.equal(await figure(page, 'requests'), DEMO.countries.FR);
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export-csv')]);
    assert.match(download.suggestedFilename(), /^firesight-logs-.*\.csv$/);
    const file = path.join(artifacts, 'export-fr.csv');
    await download.saveAs(file);
    const rows = parseCsv(await fs.readFile(file, 'utf8'));
    assert.equal(rows[0].join(','), CSV_HEADER);
    const data = rows.slice(1);
    assert.equal(data.length, DEMO.countries.FR);
    const country = rows[0].indexOf('country');
    assert.ok(data.every((r) => r[country] === 'FR'), 'every exported row is from FR');
    assert.equal(new Set(data.map((r) => r[0])).size, data.length, 'ids are unique');
    await page.waitForFunction(() => document.querySelector('#export-status').textContent.includes('downloaded'));
  });

  await step('a refused key (e.g. a rotated one) asks again, then the view comes back', async () => {
    await page.evaluate(() => sessionStorage.setItem('firesight.apiKey', 'rotated-away'));
    await page.reload();
    await page.waitForFunction(() => document.querySelector('#key-error').textContent.includes('refused'));
    await enterKey(page, apiKey);
    await page.waitForFunction(() => document.body.dataset.state === 'ready');
    assert.equal(await figure(page, 'requests'), DEMO.countries.FR);
  });

  await step('a view the API refuses (a range too long) says so once and offers a way back', async () => {
    await page.goto(`${base}/?range=custom&from=2000-01-01T00:00:00Z&country=FR`);
    await page.locator('#banner').waitFor({ state: 'visible' });
    assert.match(await page.textContent('#banner'), /could not load this view: from: .*at most/);
    assert.equal(await panelState(page, 'summary'), 'error');
    await shot(page, 'error-state.png', false);
    await act(page, () => page.click('#banner button'));
    assert.ok(await page.locator('#banner').isHidden());
    assert.match(page.url(), /range=24h&country=FR/);
    assert.equal(await panelState(page, 'summary'), 'ready');
  });

  await step('auto-refresh can be switched off and on; refresh now reloads', async () => {
    assert.ok(await page.isChecked('#auto-refresh'));
    await page.uncheck('#auto-refresh');
    assert.equal(await page.evaluate(() => sessionStorage.getItem('firesight.autoRefresh')), 'off');
    await act(page, () => page.click('#refresh-now'));
    await page.check('#auto-refresh');
  });

  await step('phone-sized screen: one column, nothing wider than the screen; auto-refresh; keyboard', async () => {
    const phone = await newPage({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
    // A clock the test can move: the 60 s auto-refresh without waiting a minute.
    await phone.clock.install();
    await phone.goto(`${base}/?range=7d`);
    await enterKey(phone, apiKey);
    await phone.waitForFunction(() => document.body.dataset.state === 'ready');
    assert.equal(await figure(phone, 'requests'), DEMO.requests);
    const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the page is ${overflow}px wider than the screen`);
    const widths = await phone.locator('.panel').evaluateAll((nodes) => nodes.map((n) => n.getBoundingClientRect().width));
    assert.ok(widths.every((w) => w <= 390 && w > 300), `panel widths ${widths}`);
    await shot(phone, 'mobile-top.png', false);
    await phone.screenshot({ path: path.join(artifacts, 'mobile.png'), fullPage: true, scale: 'css' });

    const before = await generation(phone);
    await phone.clock.fastForward('01:01');
    await phone.waitForFunction((b) => document.body.dataset.state === 'ready' && Number(document.body.dataset.generation) > b, before);
    assert.equal(await figure(phone, 'requests'), DEMO.requests);

    // A country bar is a button for the keyboard as well.
    await phone.focus('#panel-countries svg .bar-row[data-key="FR"]');
    await act(phone, () => phone.keyboard.press('Enter'));
    assert.equal(await figure(phone, 'requests'), DEMO.countries.FR);
    assert.match(phone.url(), /country=FR/);
    await phone.context().close();
  });

  await step('Live streams new requests matching the filters into the table, and says what it skipped', async () => {
    await page.goto(`${base}/?range=24h&status=5xx`);
    await page.waitForFunction(() => document.body.dataset.state === 'ready');
    assert.ok(await page.locator('#live-bar').isHidden());
    await page.click('#live-toggle');
    await page.waitForFunction(() => document.querySelector('#live-bar').dataset.state === 'live');
    assert.equal(await page.getAttribute('#live-toggle', 'aria-pressed'), 'true');
    assert.match(await page.textContent('#live-state'), /matching the filters/);
    const run = `/live-${Date.now()}`;
    await deliver([accessLine(`${run}/a`, 503), accessLine(`${run}/b`, 200), accessLine(`${run}/c`, 500)]);
    // The 200 is not a 5xx: two rows, newest first.
    await page.waitForFunction(() => document.querySelectorAll('#panel-logs tbody tr[data-live]').length === 2);
    assert.deepEqual(await liveRows(page), [`${run}/c`, `${run}/a`]);
    assert.equal(await liveFigure(page, 'count'), 2);
    assert.match(await page.textContent('#live-count'), /^2 new requests$/);
    assert.ok(await page.locator('#live-skipped').isHidden());
    const row = page.locator(`#panel-logs tbody tr[data-path="${run}/c"]`);
    assert.equal(await row.getAttribute('data-status'), '500');
    assert.match(await row.textContent(), /198\.51\.100\.23.*GET.*500/);
    await shot(page, 'live.png', false);

    // More at once than the stream sends a second: what it passed over is counted, not queued.
    await new Promise((resolve) => setTimeout(resolve, 1000)); // the stream's rate budget refills
    const burst = Array.from({ length: 12 }, (_, i) => accessLine(`${run}/burst/${i}`, 502));
    await deliver(burst);
    await page.waitForFunction(() => Number(document.querySelector('#live-skipped').dataset.value) > 0);
    await page.waitForFunction(() => Number(document.querySelector('#live-count').dataset.value) + Number(document.querySelector('#live-skipped').dataset.value) === 14);
    const shown = (await liveFigure(page, 'count')) - 2;
    const skipped = await liveFigure(page, 'skipped');
    assert.ok(shown >= 1 && shown <= LIVE_RATE + 1, `${shown} of the burst shown`);
    assert.equal(shown + skipped, burst.length);
    assert.ok(await page.locator('#live-skipped').isVisible());
    assert.match(await page.textContent('#live-skipped'), new RegExp(`^${skipped} skipped`));
    await page.waitForFunction((n) => document.querySelectorAll('#panel-logs tbody tr[data-live]').length === n, 2 + shown);
    const burstRows = (await liveRows(page)).filter((p) => p.startsWith(`${run}/burst/`));
    assert.deepEqual(burstRows, burst.slice(0, shown).map((_, i) => `${run}/burst/${i}`).reverse());
    await shot(page, 'live-lag.png', false);

    // Stop: the bar goes, and new requests no longer appear.
    await page.click('#live-stop');
    assert.ok(await page.locator('#live-bar').isHidden());
    assert.equal(await page.getAttribute('#live-toggle', 'aria-pressed'), 'false');
    await deliver([accessLine(`${run}/after-stop`, 500)]);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.equal((await liveRows(page)).length, 2 + shown);
    assert.equal(await page.locator(`#panel-logs tbody tr[data-path="${run}/after-stop"]`).count(), 0);
  });

  await step('with timed requests from two hosts: latency chart, tiles, slowest endpoints, host selector', async () => {
    const lines = [];
    for (let i = 0; i < 48; i += 1) {
      const host = i % 3 === 0 ? 'shop.example' : 'www.example';
      const [path, seconds] = i % 2 ? ['/api/search', 0.4 + (i % 7) * 0.1] : [`/static/app-${i % 4}.js`, 0.002 * (1 + (i % 5))];
      lines.push(timedLine(host, path, seconds));
    }
    await deliver(lines, 'timed');
    const summary = await apiGet('/stats/summary?from=now-1h');
    assert.ok(summary.duration_p50_ms !== null, 'the timed lines have durations');
    await page.goto(`${base}/?range=1h`);
    await page.waitForFunction(() => document.body.dataset.state === 'ready');
    assert.equal(await figure(page, 'requests'), summary.requests);

    assert.equal(await panelState(page, 'latency'), 'ready');
    assert.ok(Number(await page.getAttribute('#panel-latency .legend', 'data-points')) > 0);
    assert.ok(await page.locator('#panel-latency svg .point circle').count() > 0);
    assert.ok(await page.locator('#panel-latency svg polyline.line, #panel-latency svg .point').count() > 0);
    assert.equal(await figure(page, 'duration_p95_ms'), summary.duration_p95_ms);
    assert.match(await page.textContent('#panel-summary [data-figure="duration_p99_ms"]'), /Latency p99\s*[\d.,]+ ms/);

    const slowest = await apiGet('/stats/top/path?from=now-1h&rank_by=duration_p95&min_requests=5&limit=10');
    const first = slowest.buckets[0];
    assert.equal(first.key, '/api/search');
    const row = page.locator('#panel-slowest tbody tr').first();
    assert.equal(await row.getAttribute('data-key'), first.key);
    assert.equal(Number(await row.getAttribute('data-count')), first.count);
    assert.equal(Number(await row.getAttribute('data-p95')), first.duration_p95_ms);
    await shot(page, 'latency.png');
    await act(page, () => page.click(`#panel-slowest button.cell-button[data-key="${first.key}"]`));
    assert.match(page.url(), /[?&]path=%2Fapi%2Fsearch/);
    assert.equal(await figure(page, 'requests'), first.count);
    await act(page, () => page.click('#filters .chip[data-dim="path"] .chip-remove'));

    const hosts = await apiGet('/stats/top/vhost?from=now-1h&limit=50');
    assert.deepEqual(hosts.buckets.map((b) => b.key).sort(), ['shop.example', 'www.example']);
    assert.ok(await page.locator('#vhost-select').isVisible());
    const options = await page.locator('#vhost-input option').evaluateAll((os) => os.map((o) => o.value));
    assert.deepEqual(options, ['', ...hosts.buckets.map((b) => b.key)]);
    const shop = hosts.buckets.find((b) => b.key === 'shop.example');
    await act(page, () => page.selectOption('#vhost-input', 'shop.example'));
    assert.match(page.url(), /[?&]vhost=shop\.example/);
    assert.match(await page.textContent('#filters .chip[data-dim="vhost"]'), /Host: shop\.example/);
    assert.equal(await figure(page, 'requests'), shop.count);
    assert.equal(await page.inputValue('#vhost-input'), 'shop.example');
    await act(page, () => page.selectOption('#vhost-input', ''));
    assert.doesNotMatch(page.url(), /vhost=/);
    assert.equal(await figure(page, 'requests'), summary.requests);
  });

  await step('no script errors and no blocked resources', async () => {
    assert.deepEqual(problems, []);
  });

  console.log(`dashboard: all ${passed} steps passed`);
  await browser.close();
  clearTimeout(watchdog);
} catch (error) {
  console.error(`not ok - ${current}`);
  console.error(error?.stack || error);
  if (problems.length) console.error(`page problems:\n  ${problems.join('\n  ')}`);
  if (page) await page.screenshot({ path: path.join(artifacts, 'failure.png'), fullPage: true }).catch(() => {});
  await browser.close().catch(() => {});
  process.exit(1);
}
