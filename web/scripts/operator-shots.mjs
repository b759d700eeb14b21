#!/usr/bin/env node
// Walks the operator's flows against the mock in Debian's Chromium and saves screenshots to
// ../artifacts/ui/: the honest count, the operator panel, calibration (box, zoom, taps, a refused
// tap, the verdict and its preview, Apply), masks (drawn on the video, named, saved, shown to every viewer), at
// 1440×900 with a mouse and at 390×844 with touch (one-finger drags and taps, two-finger pinch,
// through the DevTools protocol so the page gets real touch pointer events); then, for a viewer,
// the camera moving (zones paused) and the box not answering (every figure "last known").
// web/e2e/truth.e2e.mjs shoots the other states of issue 23 against the real daemon.
//
//   npm run build && node scripts/operator-shots.mjs [--chromium /usr/bin/chromium]

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startMockServer } from './mock-server.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const OUT = path.resolve(here, '..', '..', 'artifacts', 'ui');
const args = process.argv.slice(2);
const CHROMIUM = args.includes('--chromium') ? args[args.indexOf('--chromium') + 1] : (process.env.CHROMIUM ?? '/usr/bin/chromium');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

fs.mkdirSync(OUT, { recursive: true });
const mock = await startMockServer({ socket: true, state: 'live', rate: 2 });
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
});
const problems = [];

function check(cond, what) {
  if (!cond) problems.push(what);
  console.log(`${cond ? 'ok  ' : 'FAIL'} ${what}`);
}

/** Touch input through CDP: real touch events, so the page sees pointerType "touch". */
function touch(cdp) {
  const send = (type, points) => cdp.send('Input.dispatchTouchEvent', { type, touchPoints: points.map((p, i) => ({ x: p.x, y: p.y, id: i })) });
  return {
    async tap(p) {
      await send('touchStart', [p]);
      await send('touchEnd', []);
      await sleep(30);
    },
    async drag(a, b, steps = 8) {
      await send('touchStart', [a]);
      for (let i = 1; i <= steps; i++) await send('touchMove', [{ x: a.x + ((b.x - a.x) * i) / steps, y: a.y + ((b.y - a.y) * i) / steps }]);
      await send('touchEnd', []);
      await sleep(50);
    },
    /** Two fingers from a0/b0 to a1/b1. */
    async pinch(a0, b0, a1, b1, steps = 8) {
      await send('touchStart', [a0, b0]);
      for (let i = 1; i <= steps; i++) {
        const f = i / steps;
        await send('touchMove', [
          { x: a0.x + (a1.x - a0.x) * f, y: a0.y + (a1.y - a0.y) * f },
          { x: b0.x + (b1.x - b0.x) * f, y: b0.y + (b1.y - b0.y) * f },
        ]);
      }
      await send('touchEnd', []);
      await sleep(50);
    },
  };
}

async function run(label, viewport, mobile) {
  const ctx = await browser.newContext({ viewport, hasTouch: mobile, isMobile: mobile, deviceScaleFactor: mobile ? 2 : 1 });
  const page = await ctx.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  const cdp = mobile ? await ctx.newCDPSession(page) : null;
  const t = cdp && touch(cdp);
  const shot = async (name, opts = {}) => page.screenshot({ path: path.join(OUT, `${name}-${label}.png`), ...opts });
  const tapAt = async (p) => (t ? t.tap(p) : page.mouse.click(p.x, p.y));
  const dragFrom = async (a, b) => {
    if (t) return t.drag(a, b);
    await page.mouse.move(a.x, a.y);
    await page.mouse.down();
    for (let i = 1; i <= 8; i++) await page.mouse.move(a.x + ((b.x - a.x) * i) / 8, a.y + ((b.y - a.y) * i) / 8);
    await page.mouse.up();
  };

  await page.goto(mock.url);
  await page.waitForSelector('[data-testid="honest-count"][data-calibrated]', { timeout: 15_000 });
  await page.waitForSelector('[data-testid="snapshot"]');
  const honest = await page.textContent('[data-testid="honest-count"]');
  check(/^≈ \d+ \(\d+–\d+\), not calibrated by the operator Calibrate$/.test(honest.replace(/\s+/g, ' ').trim()), `${label}: uncalibrated count reads "${honest.trim()}"`);
  const scaleRow = await page.textContent('[data-testid="analysis-scale"]');
  check(/analysing 640x360 \(scale 0\.33, from default\)/.test(scaleRow), `${label}: analysis row "${scaleRow}"`);
  await shot('01-count-uncalibrated', { fullPage: true });

  // Calibrate from the count panel: opens the operator area and the flow.
  await page.click('[data-testid="calibrate-from-count"]');
  await page.waitForSelector('[data-testid="frozen-frame"]', { timeout: 15_000 });
  check(await page.isVisible('[data-testid="operator"] #operator-body'), `${label}: the operator panel opened with the flow`);
  await sleep(200);
  await shot('02-calibrate-step1-fit');

  const frameId = [...mock.op.frames.keys()].pop();
  const frame = mock.op.frames.get(frameId);
  // the densest part of the crowd: the mean of the people near the biggest blob
  const blob = mock.crowd.blobs[1];
  const centre = { x: blob.x * frame.width, y: blob.y * frame.height };
  const toScreen = async (fx, fy) => {
    const r = await page.locator('[data-testid="frozen-frame"]').boundingBox();
    return { x: r.x + (fx * r.width) / frame.width, y: r.y + (fy * r.height) / frame.height };
  };

  // Zoom in on the crowd: wheel at the cursor, or a pinch spreading over it.
  const c0 = await toScreen(centre.x, centre.y);
  if (t) {
    await t.pinch({ x: c0.x - 30, y: c0.y }, { x: c0.x + 30, y: c0.y }, { x: c0.x - 90, y: c0.y }, { x: c0.x + 90, y: c0.y });
    // a two-finger pan: the crowd's centre to the middle of the view
    const v = await page.locator('[data-testid="calibrate-view"]').boundingBox();
    const c1 = await toScreen(centre.x, centre.y);
    const mid = { x: v.x + v.width / 2, y: v.y + v.height / 2 };
    await t.pinch({ x: c1.x - 40, y: c1.y }, { x: c1.x + 40, y: c1.y }, { x: mid.x - 40, y: mid.y }, { x: mid.x + 40, y: mid.y });
  } else {
    await page.mouse.move(c0.x, c0.y);
    for (let i = 0; i < 5; i++) {
      await page.mouse.wheel(0, -240);
      await sleep(30);
    }
    // pan with a right-button drag: the crowd's centre to the middle of the view
    const v = await page.locator('[data-testid="calibrate-view"]').boundingBox();
    const c1 = await toScreen(centre.x, centre.y);
    const mid = { x: v.x + v.width / 2, y: v.y + v.height / 2 };
    await page.mouse.move(c1.x, c1.y);
    await page.mouse.down({ button: 'right' });
    for (let i = 1; i <= 8; i++) await page.mouse.move(c1.x + ((mid.x - c1.x) * i) / 8, c1.y + ((mid.y - c1.y) * i) / 8);
    await page.mouse.up({ button: 'right' });
    await sleep(100);
    const c2 = await toScreen(centre.x, centre.y);
    check(Math.hypot(c2.x - mid.x, c2.y - mid.y) < 2 || v.height < 2000, `${label}: right-drag panned the crowd from ${c1.x.toFixed(0)},${c1.y.toFixed(0)} to ${c2.x.toFixed(0)},${c2.y.toFixed(0)} (view middle ${mid.x.toFixed(0)},${mid.y.toFixed(0)})`);
  }
  await sleep(200);
  const scale = (await page.locator('[data-testid="frozen-frame"]').boundingBox()).width / frame.width;
  check(scale > 0.5, `${label}: zoomed in to ${scale.toFixed(2)} css px per frame px`);

  // Step 1: a box of 240×150 frame pixels over the crowd's centre.
  const bw = 240;
  const bh = 150;
  const a = await toScreen(centre.x - bw / 2, centre.y - bh / 2);
  const b = await toScreen(centre.x + bw / 2, centre.y + bh / 2);
  await dragFrom(a, b);
  await page.waitForSelector('[data-testid="calibrate-box"]');
  await shot('03-calibrate-step1-box');
  await page.click('[data-testid="calibrate-next"]');

  // Step 2: the people inside the box (not too near its edges), then one tap outside it.
  const inBox = frame.people.filter(([x, y]) => Math.abs(x - centre.x) < bw / 2 - 6 && Math.abs(y - centre.y) < bh / 2 - 6).slice(0, 40);
  for (const [x, y] of inBox) await tapAt(await toScreen(x, y));
  const n = Number(await page.getAttribute('[data-testid="tap-count"]', 'data-value'));
  check(n === inBox.length, `${label}: ${n} taps counted of ${inBox.length} made`);
  const outside = await toScreen(centre.x + bw / 2 + 12, centre.y);
  await tapAt(outside);
  const hint = await page.textContent('[data-testid="calibrate-hint"]').catch(() => null);
  check(/outside the box/.test(hint ?? ''), `${label}: a tap outside the box is refused: "${hint}"`);
  check(Number(await page.getAttribute('[data-testid="tap-count"]', 'data-value')) === n, `${label}: the refused tap was not counted`);
  await shot('04-calibrate-step2-taps');
  await page.click('[data-testid="calibrate-undo"]');
  check(Number(await page.getAttribute('[data-testid="tap-count"]', 'data-value')) === n - 1, `${label}: undo removes one tap`);
  await tapAt(await toScreen(inBox[inBox.length - 1][0], inBox[inBox.length - 1][1]));

  // Check: the verdict and the preview, nothing applied yet; then Apply.
  await page.click('[data-testid="calibrate-submit"]');
  await page.waitForSelector('[data-testid="calibrate-verdict"]', { timeout: 10_000 });
  const level = await page.getAttribute('[data-testid="calibrate-verdict"]', 'data-level');
  check(level === 'good' && mock.op.calibration === null, `${label}: verdict ${level}, nothing applied before Apply`);
  await shot('05-calibrate-step3-verdict');
  await page.click('[data-testid="calibrate-apply"]');
  await page.waitForSelector('[data-testid="calibrate-dialog"]', { state: 'detached', timeout: 10_000 });
  const note = await page.textContent('[data-testid="operator-note"]');
  const message = await page.textContent('[data-testid="calibration-message"]');
  check(/^Calibration applied/.test(note) && /^calibrated \d\d:\d\d: scale 1280x720, factor/.test(message), `${label}: the answer: "${note}" / "${message}"`);
  const sent = mock.op.calibration;
  check(sent?.taps === inBox.length, `${label}: the mock got ${sent?.taps} taps in box ${JSON.stringify(sent?.box)}`);
  const bx = sent.box;
  check(Math.abs(bx[0] - (centre.x - bw / 2)) <= 2 && Math.abs(bx[2] - bw) <= 3, `${label}: the box arrived in frame pixels (${bx.join(', ')} for ${Math.round(centre.x - bw / 2)}, ${Math.round(centre.y - bh / 2)}, ${bw}, ${bh})`);
  await page.waitForFunction(() => document.querySelector('[data-testid="honest-count"]')?.dataset.calibrated === 'true', null, { timeout: 10_000 });
  const honest2 = (await page.textContent('[data-testid="honest-count"]')).trim();
  check(/^≈ \d+ \(\d+–\d+\), calibrated$/.test(honest2), `${label}: calibrated count reads "${honest2}"`);
  await page.waitForFunction(() => /from calibration/.test(document.querySelector('[data-testid="analysis-scale"]')?.textContent ?? ''), null, { timeout: 10_000 });
  await page.locator('[data-testid="operator"]').scrollIntoViewIfNeeded();
  await shot('06-calibrated-panel', { fullPage: !mobile });

  // Masks: edit, four corners on the video, close on the first one, rename, save.
  await page.click('[data-testid="masks-edit"]');
  await page.waitForSelector('[data-testid="mask-toolbar"]');
  // the stage scrolls into view (smoothly): wait until it stands still
  let stage = null;
  for (let i = 0; i < 40; i++) {
    await sleep(100);
    const b = await page.locator('.stage').boundingBox();
    if (stage && b.y === stage.y) break;
    stage = b;
  }
  const pic = await page.evaluate(() => {
    const s = document.querySelector('.stage');
    const img = document.querySelector('[data-testid="snapshot"]');
    return window.__skycount.contentRect(img.naturalWidth, img.naturalHeight, s.clientWidth, s.clientHeight);
  });
  const at = (u, v) => ({ x: stage.x + pic.x + u * pic.w, y: stage.y + pic.y + v * pic.h });
  const corners = [
    [0.05, 0.08],
    [0.3, 0.08],
    [0.3, 0.3],
    [0.05, 0.3],
  ];
  for (const [u, v] of corners) await tapAt(at(u, v));
  await shot('07-masks-drawing');
  await tapAt(at(corners[0][0] + 0.005, corners[0][1])); // the first corner closes it
  check((await page.locator('[data-testid="mask-name"]').count()) === 1, `${label}: the area was closed and listed`);
  await page.fill('[data-testid="mask-name"]', 'stage roof');
  await page.locator('[data-testid="operator"]').scrollIntoViewIfNeeded();
  await shot('08-masks-named', { fullPage: !mobile });
  await page.click('[data-testid="masks-save"]');
  await page.waitForSelector('[data-testid="mask-toolbar"]', { state: 'detached' });
  const kept = mock.op.masks;
  check(kept.length === 1 && kept[0].name === 'stage roof', `${label}: the mock kept ${JSON.stringify(kept)}`);
  const err = Math.max(...kept[0].points.flatMap((p, i) => [Math.abs(p[0] - corners[i][0]), Math.abs(p[1] - corners[i][1])]));
  check(err < 0.004, `${label}: mask corners in frame fractions within ${err.toFixed(4)} of where they were tapped`);
  await page.waitForSelector('[data-testid="mask"][data-name="stage roof"]');
  await page.locator('.stage').scrollIntoViewIfNeeded();
  await sleep(1200);
  await shot('09-masks-shown', { fullPage: mobile });

  // Back to how it was, for the next run: reset (two taps) and no masks.
  await page.locator('[data-testid="calibration-reset"]').click();
  await page.locator('[data-testid="calibration-reset"]').click();
  await page.waitForFunction(() => document.querySelector('[data-testid="calibration-message"]')?.dataset.calibrated === 'false', null, { timeout: 10_000 });
  check(mock.op.calibration === null, `${label}: reset calibration`);
  await page.click('[data-testid="masks-edit"]');
  await page.click('[data-testid="mask-delete"]');
  await page.click('[data-testid="masks-save"]');
  await page.waitForSelector('[data-testid="mask-toolbar"]', { state: 'detached' });
  check(mock.op.masks.length === 0, `${label}: masks cleared`);
  check(errors.length === 0, `${label}: no page errors ${errors.join('; ')}`);
  await ctx.close();
}

/** The states a viewer must not be misled in (issue 23): the camera moving, then the box gone. */
async function states(pages) {
  mock.setCamera({ judged: true, moving: true, away: false, zones_paused: true, speed: 0.08 });
  for (const [label, page] of pages) {
    await page.waitForSelector('[data-testid="camera-state"]', { timeout: 10_000 });
    check(/^Camera moving: zones paused$/.test((await page.textContent('[data-testid="camera-state"]')).trim()), `${label}: camera moving said`);
    await page.screenshot({ path: path.join(OUT, `10-camera-moving-${label}.png`) });
  }
  mock.setCamera(null);
  await mock.close();
  closed = true;
  for (const [label, page] of pages) {
    await page.waitForSelector('[data-testid="count-last-known"]', { timeout: 20_000 });
    const said = (await page.textContent('[data-testid="count-last-known"]')).trim();
    check(/last known at \d\d:\d\d:\d\d$/.test(said), `${label}: "${said}"`);
    check(!/drone video arriving/.test(await page.evaluate(() => document.body.innerText)), `${label}: nothing says the drone's video arrives`);
    await page.screenshot({ path: path.join(OUT, `11-box-not-answering-${label}.png`) });
  }
}

let closed = false;
try {
  await run('1440x900', { width: 1440, height: 900 }, false);
  await run('390x844', { width: 390, height: 844 }, true);
  const pages = [];
  for (const [label, viewport, mobile] of [['1440x900', { width: 1440, height: 900 }, false], ['390x844', { width: 390, height: 844 }, true]]) {
    const ctx = await browser.newContext({ viewport, hasTouch: mobile, isMobile: mobile, deviceScaleFactor: mobile ? 2 : 1 });
    const page = await ctx.newPage();
    await page.goto(mock.url);
    await page.waitForSelector('[data-testid="snapshot"]');
    pages.push([label, page]);
  }
  await states(pages);
} finally {
  await browser.close();
  if (!closed) await mock.close();
}
console.log(problems.length ? `operator-shots: ${problems.length} FAILED` : `operator-shots: ok (screenshots in ${OUT})`);
process.exit(problems.length ? 1 : 0);
