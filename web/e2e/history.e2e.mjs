// End-to-end test of the flight history against the real skycountd (issue 13, parts 2 and 3):
//
//   a recording (made here with GStreamer) -> target/debug/skycountd (tiny model, CPU) -> SQLite
//                                                  |  HTTP: /api/history/*, web/dist
//   Debian's /usr/bin/chromium (playwright-core) --+
//
// With the recording streaming, the browser opens History, sees the flight, opens it (curve,
// peak snapshot), exports its CSV (a real download, checked line by line against the API), then
// opens the printable report and prints it with Chromium's page.pdf(); the PDF's first page is
// rendered with poppler's pdftoppm and read back with pdftotext.
//
//   cd web && ORT_DYLIB_PATH=/path/to/libonnxruntime.so node --test e2e/history.e2e.mjs
//
// SKYCOUNTD_BIN overrides ../target/debug/skycountd. The PDF, its first page as PNG and the logs
// go to ../artifacts/e2e/.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  ARTIFACTS,
  TINY_MODEL_TOML,
  WEB,
  allocatePorts,
  cleanArtifacts,
  ensureDist,
  hasCommand,
  launchBrowser,
  pageHelpers,
  request,
  startDaemon,
  teardown,
  testid,
  waitFor,
  withTimeout,
} from './harness.mjs';

const env = {};
const pageErrors = [];
const { screenshot } = pageHelpers(env);

before(async (t) => {
  cleanArtifacts('history-');
  ensureDist(t);
  for (const tool of ['gst-launch-1.0', 'pdftoppm', 'pdftotext']) {
    assert.ok(hasCommand(tool), `${tool} is missing: apt-get install gstreamer1.0-tools poppler-utils (scripts/debian-test-packages.txt)`);
  }
  env.tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'skycount-history-e2e-'));
  await allocatePorts(env);
  env.clip = path.join(env.tmp, 'flight.mp4');
  const mk = spawnSync(
    'gst-launch-1.0',
    [
      '-q',
      ...`videotestsrc num-buffers=150 pattern=ball ! video/x-raw,width=640,height=360,framerate=15/1 ! x264enc bframes=0 key-int-max=15 ! h264parse ! mp4mux ! filesink location=${env.clip}`.split(' '),
    ],
    { encoding: 'utf8', timeout: 60_000 },
  );
  if (mk.status !== 0 || !fs.existsSync(env.clip)) throw new Error(`cannot make the recording: ${mk.stderr}`);
  env.config = path.join(env.tmp, 'skycount.toml');
  fs.writeFileSync(
    env.config,
    `[source]
url = "file://${env.clip}"

${TINY_MODEL_TOML}
[analysis]
state_dir = "${env.tmp}/state"

[server]
listen = "127.0.0.1:${env.httpPort}"
web_dir = "${path.join(WEB, 'dist')}"

[stream]
key_file = "${env.tmp}/stream-key"

[mediamtx]
watch = false

[history]
path = "${env.tmp}/history.sqlite"
`,
  );
  await startDaemon(env, {
    log: path.join(env.tmp, 'skycountd-history.log'),
    what: `skycountd serving /api/status on 127.0.0.1:${env.httpPort}`,
  });
  await launchBrowser(env, pageErrors);
});

after(async () => {
  await teardown(env, (f) => f.endsWith('.log'));
});

test('history: open the flight, export its CSV, print its report to PDF', { timeout: 120_000 }, async () => {
  // The recording streams: a flight with analyses is in the history.
  const flight = await waitFor(
    'a flight with 10 analyses in /api/history/flights',
    async () => {
      const r = await request(env.httpPort, 'GET', '/api/history/flights');
      const f = r.json?.flights?.[0];
      return f && f.analyses >= 10 ? f : null;
    },
    { timeout: 60_000, every: 500 },
  );
  const status = (await request(env.httpPort, 'GET', '/api/status')).json;
  assert.equal(status.history.state, 'ok');
  assert.equal(status.history.flights, 1);

  // The dashboard's History link, then the list with the flight.
  const page = env.page;
  await withTimeout(page.goto(`http://127.0.0.1:${env.httpPort}/`), 30_000, 'opening the dashboard');
  await page.waitForSelector(testid('history-state'), { timeout: 20_000 });
  await page.click('a[href="#/history"]');
  await page.waitForSelector(`${testid('flights')} tbody tr`, { timeout: 20_000 });
  const rows = await page.locator(`${testid('flights')} tbody tr`).count();
  assert.equal(rows, 1);
  assert.match(await page.textContent(`${testid('flights')} tbody tr`), /going on/);

  // The flight: its curve (a uPlot canvas) and its peak snapshot, loaded, with its heatmap.
  await page.click(`${testid('flights')} tbody tr a`);
  await page.waitForSelector(`${testid('flight-chart')} canvas`, { timeout: 20_000 });
  await page.waitForFunction(() => {
    const img = document.querySelector('.peak-frame img');
    return img instanceof HTMLImageElement && img.complete && img.naturalWidth === 640;
  }, null, { timeout: 20_000 });
  assert.equal(await page.locator('canvas.peak-heat').count(), 1);
  await screenshot('history-flight.png', { fullPage: true });

  // Export CSV: a real download, the same analyses the API has.
  const [download] = await Promise.all([page.waitForEvent('download', { timeout: 20_000 }), page.click(testid('export-csv'))]);
  assert.equal(download.suggestedFilename(), `skycount-flight-${flight.id}-flight.csv`);
  const csvFile = path.join(env.tmp, 'export.csv');
  await download.saveAs(csvFile);
  const lines = fs.readFileSync(csvFile, 'utf8').trim().split('\n');
  assert.equal(lines[0], 'time_utc,t_ms,count,smoothed,band_low,band_high,calibrated,stream_state');
  assert.ok(lines.length - 1 >= 10, `${lines.length - 1} analyses in the CSV`);
  const [time, tMs, count] = lines[1].split(',');
  assert.equal(new Date(time).getTime(), Number(tMs));
  assert.ok(Number(tMs) >= flight.start_ms && Number.isFinite(Number(count)));

  // The printable report, printed by Chromium to PDF.
  await page.click(testid('report-link'));
  await page.waitForSelector(`${testid('report')} ${testid('flight-chart')} canvas`, { timeout: 20_000 });
  await page.waitForFunction(() => {
    const img = document.querySelector('.report .peak-frame img');
    return img instanceof HTMLImageElement && img.complete && img.naturalWidth > 0;
  }, null, { timeout: 20_000 });
  await page.emulateMedia({ media: 'print' });
  assert.equal(await page.locator('.no-print').isVisible(), false, 'the print button is not printed');
  const pdfFile = path.join(ARTIFACTS, 'history-report.pdf');
  const pdf = await withTimeout(page.pdf({ path: pdfFile, format: 'A4', printBackground: true }), 60_000, 'page.pdf');
  assert.equal(pdf.subarray(0, 5).toString(), '%PDF-');
  assert.ok(pdf.length > 20_000, `the PDF holds the chart and the snapshot (${pdf.length} bytes)`);

  // Its first page, as a reader sees it: the title, the box, the version, the peak.
  const txt = spawnSync('pdftotext', ['-f', '1', '-l', '1', '-layout', pdfFile, '-'], { encoding: 'utf8' });
  assert.equal(txt.status, 0, txt.stderr);
  const first = txt.stdout;
  assert.match(first, new RegExp(`Flight report: flight ${flight.id}`));
  assert.match(first, new RegExp(`skycount ${status.version}`));
  assert.match(first, /Peak/);
  assert.match(first, /People over the flight/);
  // Rendered, the first page is a page of ink on white, not a blank or a dark dashboard.
  const png = path.join(ARTIFACTS, 'history-report-page1');
  const r = spawnSync('pdftoppm', ['-f', '1', '-l', '1', '-r', '40', '-gray', '-png', '-singlefile', pdfFile, png], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const { width, height, dark, light } = await env.page.evaluate(async (b64) => {
    const img = new Image();
    img.src = `data:image/png;base64,${b64}`;
    await img.decode();
    const c = document.createElement('canvas');
    c.width = img.width;
    c.height = img.height;
    const ctx = c.getContext('2d');
    ctx.drawImage(img, 0, 0);
    const d = ctx.getImageData(0, 0, c.width, c.height).data;
    let dark = 0;
    let light = 0;
    for (let i = 0; i < d.length; i += 4) {
      if (d[i] < 96) dark++;
      else if (d[i] > 230) light++;
    }
    const n = d.length / 4;
    return { width: img.width, height: img.height, dark: dark / n, light: light / n };
  }, fs.readFileSync(`${png}.png`).toString('base64'));
  assert.ok(Math.abs(width / height - 210 / 297) < 0.02, `A4 portrait (${width}x${height})`);
  assert.ok(light > 0.5, `mostly white paper (${(light * 100).toFixed(0)} % light)`);
  assert.ok(dark > 0.01, `with text and pictures on it (${(dark * 100).toFixed(1)} % dark)`);
  assert.deepEqual(pageErrors, []);
});
