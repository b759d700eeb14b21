#!/usr/bin/env node
// Measures the dashboard's budgets on the built files (run `npm run build` first):
//   1. JavaScript shipped, gzipped: at most 150 KB (150 000 bytes)
//   2. first meaningful paint on loopback: under 1 s
//   3. one heatmap update drawn on a 1920×1080 canvas: under 4 ms median
// It serves web/dist with the mock daemon (mocked /api/*, no Socket.IO), drives Debian's
// Chromium through playwright-core and prints one figure per line. Exit status 1 when a
// budget is exceeded.
//
//   node scripts/budget.mjs [--runs 5] [--draws 200] [--chromium /usr/bin/chromium] [--json]

import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { startMockServer, DIST } from './mock-server.mjs';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const RUNS = Number(opt('runs', '5'));
const DRAWS = Number(opt('draws', '200'));
const CHROMIUM = opt('chromium', process.env.CHROMIUM ?? '/usr/bin/chromium');

const LIMIT_JS_GZIP = 150_000;
const LIMIT_FMP_MS = 1000;
const LIMIT_DRAW_MEDIAN_MS = 4;

const results = {};
const failures = [];
const line = (k, v) => console.log(`${k}: ${v}`);

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
function pct(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}
const r1 = (x) => Math.round(x * 10) / 10;
const r2 = (x) => Math.round(x * 100) / 100;

// 1. JavaScript size
function walk(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? walk(p) : [p];
  });
}
if (!fs.existsSync(path.join(DIST, 'index.html'))) {
  console.error(`no build in ${DIST}: run npm run build first`);
  process.exit(2);
}
const files = walk(DIST);
let jsRaw = 0;
let jsGzip = 0;
let cssGzip = 0;
for (const f of files) {
  const body = fs.readFileSync(f);
  if (f.endsWith('.js') || f.endsWith('.mjs')) {
    jsRaw += body.length;
    jsGzip += zlib.gzipSync(body, { level: 9 }).length;
  } else if (f.endsWith('.css')) cssGzip += zlib.gzipSync(body, { level: 9 }).length;
}
// Inline scripts of index.html count too.
const html = fs.readFileSync(path.join(DIST, 'index.html'), 'utf8');
const inline = [...html.matchAll(/<script(?![^>]*\bsrc=)[^>]*>([\s\S]*?)<\/script>/g)].map((m) => m[1]).join('\n');
const inlineGzip = inline.trim() ? zlib.gzipSync(Buffer.from(inline), { level: 9 }).length : 0;
results.js_files = files.filter((f) => f.endsWith('.js')).length;
results.js_raw_bytes = jsRaw;
results.js_gzip_bytes = jsGzip + inlineGzip;
results.css_gzip_bytes = cssGzip;
line('js files', results.js_files);
line('js raw bytes', jsRaw);
line('js gzip bytes', `${results.js_gzip_bytes} (${r1(results.js_gzip_bytes / 1000)} kB, incl. ${inlineGzip} B inline; limit ${LIMIT_JS_GZIP / 1000} kB)`);
line('css gzip bytes', cssGzip);
if (results.js_gzip_bytes > LIMIT_JS_GZIP) failures.push(`JS gzip ${results.js_gzip_bytes} B > ${LIMIT_JS_GZIP} B`);

// 2 and 3 need the browser.
let chromium;
try {
  ({ chromium } = await import('playwright-core'));
} catch {
  console.error('playwright-core is missing: npm ci');
  process.exit(2);
}
if (!fs.existsSync(CHROMIUM)) {
  console.error(`no Chromium at ${CHROMIUM} (apt-get install -y chromium)`);
  process.exit(2);
}

const mock = await startMockServer({ socket: false, state: 'waiting' });
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
});

try {
  line('browser', `Chromium ${browser.version()}`);

  // 2. First paint figures, each run in a fresh context (cold cache).
  const PROBE = () => {
    const t = { fp: null, fcp: null, countInDom: null, countPainted: null };
    window.__budget = t;
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        if (e.name === 'first-paint') t.fp = e.startTime;
        if (e.name === 'first-contentful-paint') t.fcp = e.startTime;
      }
    }).observe({ type: 'paint', buffered: true });
    const seen = () => {
      if (t.countInDom !== null || !document.querySelector('[data-testid="count"]')) return false;
      t.countInDom = performance.now();
      // the frame that shows it: the next animation frame's paint
      requestAnimationFrame(() => setTimeout(() => (t.countPainted = performance.now()), 0));
      return true;
    };
    new MutationObserver((_, obs) => {
      if (seen()) obs.disconnect();
    }).observe(document, { childList: true, subtree: true });
  };

  const runs = [];
  for (let i = 0; i < RUNS; i++) {
    const ctx = await browser.newContext({ viewport: { width: 412, height: 915 }, deviceScaleFactor: 1 });
    const page = await ctx.newPage();
    await page.addInitScript(PROBE);
    await page.goto(mock.url + '/', { waitUntil: 'load' });
    await page.waitForFunction(() => window.__budget?.countPainted !== null && window.__budget?.fcp !== null, null, { timeout: 10_000 });
    const m = await page.evaluate(() => {
      const nav = performance.getEntriesByType('navigation')[0];
      const mark = performance.getEntriesByName('skycount:first-render')[0];
      return {
        ...window.__budget,
        appRendered: mark ? mark.startTime : null,
        domContentLoaded: nav ? nav.domContentLoadedEventEnd : null,
        load: nav ? nav.loadEventEnd : null,
      };
    });
    runs.push(m);
    await ctx.close();
  }
  const fcp = runs.map((r) => r.fcp);
  const fmp = runs.map((r) => Math.max(r.fcp ?? 0, r.countPainted ?? 0));
  const app = runs.map((r) => r.appRendered ?? NaN);
  results.fcp_ms = r1(median(fcp));
  results.fmp_ms = r1(median(fmp));
  results.fmp_max_ms = r1(Math.max(...fmp));
  line('first-contentful-paint ms (median of ' + RUNS + ')', `${results.fcp_ms} (runs: ${fcp.map(r1).join(', ')})`);
  line('app rendered ms (median)', r1(median(app)));
  line('first meaningful paint ms (count shown, median)', `${results.fmp_ms} (max ${results.fmp_max_ms}; limit ${LIMIT_FMP_MS})`);
  line('load event ms (median)', r1(median(runs.map((r) => r.load ?? NaN))));
  if (results.fmp_ms >= LIMIT_FMP_MS) failures.push(`first meaningful paint ${results.fmp_ms} ms >= ${LIMIT_FMP_MS} ms`);

  // 3. Heatmap draw on a 1920×1080 canvas, with the renderer the dashboard uses.
  const ctx = await browser.newContext({ viewport: { width: 1920, height: 1080 } });
  const page = await ctx.newPage();
  await page.goto(mock.url + '/', { waitUntil: 'load' });
  await page.waitForFunction(() => !!window.__skycount);
  const benchmark = (full) =>
    page.evaluate(
      async ({ draws, full }) => {
        const { HeatmapRenderer, heatmapBackingSize, encodeBase64 } = window.__skycount;
        // The overlay as the dashboard lays it out over a 1920×1080 picture (CSS pixels, DPR 1);
        // `full` forces a 1920×1080 backing store too, for reference.
        const canvas = document.createElement('canvas');
        canvas.style.cssText = 'position:fixed;left:0;top:0;width:1920px;height:1080px;z-index:99;pointer-events:none';
        document.body.appendChild(canvas);
        const size = full ? { width: 1920, height: 1080 } : heatmapBackingSize({ x: 0, y: 0, w: 1920, h: 1080 }, 1);
        const r = new HeatmapRenderer(canvas);
        r.resize(size.width, size.height);
        const probe = canvas.getContext('2d');
        const grids = [];
        for (let i = 0; i < draws + 20; i++) {
          const b = new Uint8Array(80 * 45);
          for (let k = 0; k < b.length; k++) b[k] = (Math.random() * 256) | 0;
          grids.push({ width: 80, height: 45, max: 0.5 + Math.random(), data: encodeBase64(b) });
        }
        const flushed = [];
        const calls = [];
        for (let i = 0; i < grids.length; i++) {
          const t0 = performance.now();
          r.update(grids[i]);
          const t1 = performance.now();
          probe.getImageData(canvas.width >> 1, canvas.height >> 1, 1, 1); // forces rasterisation now
          const t2 = performance.now();
          if (i >= 20) {
            calls.push(t1 - t0);
            flushed.push(t2 - t0);
          }
        }
        // As the page does it: one update in an animation frame.
        const frames = [];
        await new Promise((resolve) => {
          let i = 0;
          const step = () => {
            const t0 = performance.now();
            r.update(grids[i % grids.length]);
            probe.getImageData(0, 0, 1, 1);
            frames.push(performance.now() - t0);
            if (++i < 60) requestAnimationFrame(step);
            else resolve();
          };
          requestAnimationFrame(step);
        });
        // Sanity: empty cells paint nothing, full cells paint.
        const z = new Uint8Array(80 * 45);
        for (let k = 0; k < 40 * 45; k++) z[Math.floor(k / 40) * 80 + 40 + (k % 40)] = 255; // right half full
        r.update({ width: 80, height: 45, max: 1, data: encodeBase64(z) });
        const left = probe.getImageData(Math.round(canvas.width * 0.05), canvas.height >> 1, 1, 1).data;
        const right = probe.getImageData(Math.round(canvas.width * 0.95), canvas.height >> 1, 1, 1).data;
        canvas.remove();
        return { size, flushed, calls, frames, left: Array.from(left), right: Array.from(right) };
      },
      { draws: DRAWS, full },
    );
  const bench = await benchmark(false);
  const ref = await benchmark(true);
  await ctx.close();

  results.heatmap_draw_median_ms = r2(median(bench.flushed));
  results.heatmap_draw_p95_ms = r2(pct(bench.flushed, 95));
  line(
    `heatmap update on a 1920x1080 canvas ms (backing store ${bench.size.width}x${bench.size.height}; ${DRAWS} random 80x45 grids; decode+colour+draw, rasterised)`,
    `median ${results.heatmap_draw_median_ms}, p95 ${results.heatmap_draw_p95_ms}, max ${r2(Math.max(...bench.flushed))} (limit median < ${LIMIT_DRAW_MEDIAN_MS})`,
  );
  line('heatmap update JS call only ms', `median ${r2(median(bench.calls))}, p95 ${r2(pct(bench.calls, 95))}`);
  line('heatmap update per animation frame ms', `median ${r2(median(bench.frames))}, p95 ${r2(pct(bench.frames, 95))}`);
  line(
    'reference: same with a full 1920x1080 backing store ms (not budgeted)',
    `median ${r2(median(ref.flushed))}, p95 ${r2(pct(ref.flushed, 95))}`,
  );
  line('heatmap check (empty half transparent, full half opaque)', `left rgba(${bench.left.join(',')}) right rgba(${bench.right.join(',')})`);
  if (bench.left[3] !== 0) failures.push('heatmap: an empty cell was painted');
  if (bench.right[3] < 200) failures.push('heatmap: a full cell was not painted');
  if (results.heatmap_draw_median_ms >= LIMIT_DRAW_MEDIAN_MS) failures.push(`heatmap draw median ${results.heatmap_draw_median_ms} ms >= ${LIMIT_DRAW_MEDIAN_MS} ms`);
} finally {
  await browser.close();
  await mock.close();
}

if (args.includes('--json')) console.log(JSON.stringify(results));
if (failures.length) {
  console.log(`budget: FAIL (${failures.join('; ')})`);
  process.exit(1);
}
console.log('budget: ok');
