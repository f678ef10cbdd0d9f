// The dashboard in a real browser: Debian's Chromium, driven by playwright-core,
// against a real `asiarch daemon` on a seeded archive. It checks what a user
// sees (the lineage tree, the experiments table, an experiment page with its
// diagnostics) and that a live event changes the page without a reload.
// Screenshots are kept in $ASIARCH_ARTIFACTS (default build/test-artifacts/dashboard).
//   node dashboard_test.mjs   (env: ASIARCH_BINARY, ASIARCH_SEED_ARCHIVE, ASIARCH_TEST_CACHE)
import {test, after} from 'node:test';
import assert from 'node:assert/strict';
import {spawn, execFileSync} from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {createRequire} from 'node:module';

const require = createRequire(import.meta.url);
let chromium;
try {
  ({chromium} = require('playwright-core'));
} catch (e) {
  console.error('playwright-core is not installed: run `npm ci --prefix tests/web` (scripts/install-deps.sh does)');
  process.exit(1);
}

const binary = process.env.ASIARCH_BINARY;
const seed = process.env.ASIARCH_SEED_ARCHIVE;
const chromiumPath = process.env.ASIARCH_CHROMIUM || '/usr/bin/chromium';
const artifacts = process.env.ASIARCH_ARTIFACTS || path.resolve('test-artifacts/dashboard');
assert.ok(binary && fs.existsSync(binary), 'ASIARCH_BINARY must name the asiarch binary');
assert.ok(seed && fs.existsSync(seed), 'ASIARCH_SEED_ARCHIVE must name the seed_archive binary');
assert.ok(fs.existsSync(chromiumPath), chromiumPath + ' is missing: apt-get install chromium');
fs.mkdirSync(artifacts, {recursive: true});

const N = 200;
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'asiarch-dashboard-'));
execFileSync(seed, [work, String(N)]);
fs.writeFileSync(path.join(work, 'asiarch.json'), JSON.stringify({baselines: ['delta_net'], recheck: 0}));

const port = await new Promise((resolve) => {
  const s = net.createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
});
const base = `http://127.0.0.1:${port}`;
const log = fs.openSync(path.join(work, 'daemon.out'), 'w');
const env = {...process.env};
if (process.env.ASIARCH_TEST_CACHE) env.ASIARCH_CACHE_DIR = process.env.ASIARCH_TEST_CACHE;
// Budget 1 is already met by the seeded archive: the daemon serves and takes dropped plugins only.
const daemon = spawn(binary, ['daemon', '--workdir', work, '--port', String(port), '--preset', 'smoke', '--budget', '1'],
  {stdio: ['ignore', log, log], env});
let browser = null;

after(async () => {
  if (browser) await browser.close();
  if (daemon.exitCode === null) daemon.kill('SIGKILL');
  fs.copyFileSync(path.join(work, 'daemon.out'), path.join(artifacts, 'daemon.out'));
  fs.rmSync(work, {recursive: true, force: true});
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function waitFor(f, seconds, what) {
  for (const end = Date.now() + seconds * 1000; Date.now() < end; await sleep(200)) {
    try { if (await f()) return; } catch (e) { /* not yet */ }
  }
  throw new Error('timed out waiting for ' + what + '\n' + fs.readFileSync(path.join(work, 'daemon.out'), 'utf8').slice(-3000));
}
const getJson = async (p) => (await fetch(base + p)).json();

await waitFor(async () => (await fetch(base + '/api/status')).ok, 120, 'the daemon to answer');
browser = await chromium.launch({
  executablePath: chromiumPath,
  headless: true,
  // This machine has no network: Chromium's own background connections only fail slowly.
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
const page = await browser.newPage({viewport: {width: 1240, height: 900}});
const pageErrors = [];
page.on('pageerror', (e) => pageErrors.push(e.message));
const shot = (name) => page.screenshot({path: path.join(artifacts, name + '.png'), fullPage: true});

test('the overview draws the whole lineage tree and the charts from the archive', async () => {
  await page.goto(base + '/');
  await page.waitForSelector('body[data-ready="1"]', {timeout: 30000});
  await page.waitForFunction((n) => document.querySelector('#lineage').dataset.nodes === String(n), N, {timeout: 10000});
  const lineage = await getJson('/api/lineage');
  // Large answers come gzipped (not Brotli at its slowest, which took seconds at 10,000 nodes).
  const z = await fetch(base + '/api/lineage', {headers: {'Accept-Encoding': 'gzip, deflate, br'}});
  assert.equal(z.headers.get('content-encoding'), 'gzip');
  assert.equal((await z.json()).nodes.length, N);
  const ds = await page.$eval('#lineage', (c) => ({...c.dataset}));
  assert.equal(Number(ds.nodes), lineage.nodes.length);
  assert.equal(Number(ds.edges), lineage.edges.length);
  // The canvas is really painted: many distinct colours, not a blank box.
  const colours = await page.$eval('#lineage', (c) => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data, seen = new Set();
    for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0) seen.add(d[i] + ',' + d[i + 1] + ',' + d[i + 2]);
    return seen.size;
  });
  assert.ok(colours > 20, 'the lineage canvas has ' + colours + ' colours');
  const scored = lineage.nodes.filter((n) => n.fitness !== null).length;
  assert.equal(Number(await page.$eval('#fitness-chart', (c) => c.dataset.points)), scored);
  const ref = lineage.nodes.find((n) => n.name === 'delta_net').fitness;
  const beating = lineage.nodes.filter((n) => n.origin !== 'baseline' && n.fitness !== null && n.fitness > ref).length;
  assert.ok(beating > 0);
  assert.equal(Number(await page.$eval('#scaling-chart', (c) => c.dataset.beating)), beating);
  assert.match(await page.textContent('#status'), /scored \d+/);
  await shot('overview');
});

test('the experiments table pages, sorts by fitness and filters by status', async () => {
  await page.click('nav a[data-view="experiments"]');
  await page.waitForFunction(() => document.querySelectorAll('#experiments-table tbody tr[data-id]').length === 50);
  const ids = await page.$$eval('#experiments-table tbody tr', (rs) => rs.map((r) => Number(r.dataset.id)));
  assert.equal(ids[0], N);
  assert.match(await page.textContent('#page-info'), new RegExp(`1–50 of ${N}`));
  await page.click('#experiments-table th[data-sort="fitness"]');
  const best = (await getJson('/api/experiments?sort=-fitness&limit=1'))[0];
  await page.waitForFunction((id) => document.querySelector('#experiments-table tbody tr').dataset.id === String(id), best.id);
  await page.selectOption('#filters select[name="status"]', 'failed');
  await page.waitForFunction(() => {
    const rows = [...document.querySelectorAll('#experiments-table tbody tr[data-id]')];
    return rows.length > 0 && rows.every((r) => r.classList.contains('status-failed'));
  });
  const failed = (await getJson('/api/status')).counts.failed;
  assert.match(await page.textContent('#page-info'), new RegExp(`of ${failed}$`));
  await shot('experiments');
  await page.selectOption('#filters select[name="status"]', '');
});

test('an experiment page shows its compile diagnostics with their lines, and a scored one its curves and LLM calls', async () => {
  await page.goto(base + '/#/e/8');
  await page.waitForSelector('#attempts');
  const attempts = await page.textContent('#attempts');
  assert.match(attempts, /design_8\.cpp:39:13:/);
  assert.match(attempts, /cannot initialize a variable of type 'int'/);
  assert.match(await page.textContent('#fail-reason'), /did not build/);
  await shot('experiment-failed');
  await page.goto(base + '/#/e/15');
  await page.waitForSelector('#experiment[data-id="15"]');
  assert.equal(await page.$eval('#experiment canvas.loss-chart', (c) => c.dataset.curves), '1');
  assert.match(await page.textContent('#llm-calls'), /researcher/);
  assert.match(await page.textContent('#gates'), /causality/);
  // Each training run's peak memory (experiment 15: 20 MiB in the seeded archive).
  assert.match(await page.textContent('#training-runs'), /peak memory/);
  assert.equal(await page.$eval('#training-runs td.peak-memory', (td) => td.textContent), '20.0 MiB');
  assert.match(await page.textContent('#code'), /design_15/);
  // Its three seeds: each metric as mean ± 95% interval, and the verdict against DeltaNet paired by
  // seed (mqar 0.44, 0.45, 0.46 against 0.31, 0.32, 0.30: better on every seed).
  const measured = await page.textContent('#measured');
  assert.match(measured, /explore/);
  assert.match(measured, /0\.450 ± 0\.025/);
  assert.match(measured, /better: fitness \+0\.\d+/);
  assert.match(measured, /accuracy \+0\.140 ± 0\.0\d\d/);
  await shot('experiment-scored');
});

test('a plugin dropped while the page is open appears through the event stream, without a reload', async () => {
  await page.goto(base + '/#/experiments');
  await page.click('#experiments-table th[data-sort="id"]');  // newest first
  await page.waitForFunction((n) => document.querySelector('#experiments-table tbody tr').dataset.id === String(n), N);
  await page.evaluate(() => { window.notReloaded = true; });
  const before = (await getJson('/api/status')).last_event;
  fs.writeFileSync(path.join(work, 'plugins', 'live_broken.cpp'),
    '#include <asiarch/plugin.h>\nthis is not C++ at all;\n');
  await waitFor(async () => (await page.$$('#experiments-table tbody tr[data-id="' + (N + 1) + '"]')).length === 1, 240,
    'the dropped plugin to show in the table');
  assert.match(await page.textContent(`#experiments-table tbody tr[data-id="${N + 1}"]`), /live_broken/);
  await waitFor(async () => /failed/.test(await page.textContent(`#experiments-table tbody tr[data-id="${N + 1}"]`)), 240,
    'its failure to show');
  assert.equal(await page.evaluate(() => window.notReloaded), true);
  assert.ok(Number(await page.$eval('body', (b) => b.dataset.lastEvent)) > before);
  await shot('live-update');
  await page.click('nav a[data-view="plugins"]');
  await page.waitForSelector('#plugins-table tr[data-file="live_broken.cpp"]');
  assert.match(await page.textContent('#plugins-table tr[data-file="live_broken.cpp"]'), /failed/);
  await shot('plugins');
});

test('the daemon stops cleanly and the page raised no script error', async () => {
  assert.deepEqual(pageErrors, []);
  daemon.kill('SIGTERM');
  const code = await new Promise((r) => (daemon.exitCode !== null ? r(daemon.exitCode) : daemon.on('exit', (c) => r(c))));
  assert.equal(code, 0);
});
