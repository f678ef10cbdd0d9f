// The dashboard's load time with a large archive: a real daemon on a synthetic archive
// of 10,000 experiments against the same on 100, measured in the same run, in Debian's
// Chromium (playwright-core from tests/web). Target: what the page fetches per view is
// paged, so the table stays flat; the overview draws the whole lineage, so it grows,
// but must stay interactive (well under a second at 10,000).
//   node bench/dashboard_load.mjs [large=10000] [small=100] [repeats=5]
// env: ASIARCH_BINARY (default build/asiarch), ASIARCH_SEED_ARCHIVE (default build/bench/seed_archive)
import {spawn, execFileSync} from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {createRequire} from 'node:module';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const {chromium} = createRequire(path.join(root, 'tests/web/package.json'))('playwright-core');
const [large, small, repeats] = [Number(process.argv[2] || 10000), Number(process.argv[3] || 100), Number(process.argv[4] || 5)];
const binary = process.env.ASIARCH_BINARY || path.join(root, 'build/asiarch');
const seed = process.env.ASIARCH_SEED_ARCHIVE || path.join(root, 'build/bench/seed_archive');

const freePort = () => new Promise((resolve) => {
  const s = net.createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
});
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const browser = await chromium.launch({executablePath: process.env.ASIARCH_CHROMIUM || '/usr/bin/chromium', headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync']});
const results = {};
for (const n of [small, large]) {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'asiarch-dashboard-bench-'));
  let t0 = Date.now();
  execFileSync(seed, [work, String(n)]);
  console.log(`archive of ${n} experiments seeded in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  fs.writeFileSync(path.join(work, 'asiarch.json'), JSON.stringify({baselines: ['delta_net'], recheck: 0}));
  const port = await freePort();
  const daemon = spawn(binary, ['daemon', '--workdir', work, '--port', String(port), '--preset', 'smoke', '--budget', '1', '--quiet'],
    {stdio: 'ignore'});
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 600; ++i) { try { if ((await fetch(base + '/api/status')).ok) break; } catch (e) { /* starting */ } await sleep(100); }
  const page = await browser.newPage({viewport: {width: 1240, height: 900}});
  const r = {overview: [], table: [], experiment: []};
  for (let k = 0; k < repeats; ++k) {
    // Overview: navigation to the whole lineage and both charts drawn.
    t0 = performance.now();
    await page.goto(base + '/?run=' + k);
    await page.waitForFunction((n) => document.querySelector('#lineage').dataset.nodes === String(n), n, {timeout: 60000, polling: 'raf'});
    r.overview.push(performance.now() - t0);
    // The experiments table: a click to 50 rows shown.
    t0 = performance.now();
    await page.click('nav a[data-view="experiments"]');
    await page.waitForFunction(() => document.querySelectorAll('#experiments-table tbody tr[data-id]').length === 50, null, {polling: 'raf'});
    r.table.push(performance.now() - t0);
    // One experiment's page, with its history and diff.
    t0 = performance.now();
    await page.goto(base + '/?run=' + k + '#/e/50');
    await page.waitForSelector('#experiment[data-id="50"]');
    r.experiment.push(performance.now() - t0);
  }
  results[n] = Object.fromEntries(Object.entries(r).map(([k, v]) => [k, median(v)]));
  await page.close();
  daemon.kill('SIGTERM');
  await new Promise((res) => daemon.on('exit', res));
  fs.rmSync(work, {recursive: true, force: true});
}
await browser.close();
console.log(`\n${('view (median of ' + repeats + ')').padEnd(44)} ${'ms @small'.padStart(10)} ${'ms @large'.padStart(10)} ${'ratio'.padStart(8)}`);
const label = {overview: 'overview (status, lineage, charts drawn)', table: 'experiments table (first page)', experiment: 'experiment page (detail, history, diff)'};
for (const k of Object.keys(label))
  console.log(`${label[k].padEnd(44)} ${results[small][k].toFixed(1).padStart(10)} ${results[large][k].toFixed(1).padStart(10)} ${(results[large][k] / results[small][k]).toFixed(2).padStart(8)}`);
console.log(`(small = ${small}, large = ${large} experiments)`);
