// End-to-end test of the operator's flows against the real skycountd, written to docs/api.md
// ("analysis" fields frame_width/frame_height, tiles, raw_count, smoothed, band, calibrated;
// "status" parts analysis, calibration, masks; "Operator actions"):
//
//   nginx + Debian's RTMP module  <-  gst-launch-1.0 (live 1280×720 H.264, videotestsrc "ball")
//          |
//   target/debug/skycountd (tiny CSRNet model, CPU)  ->  HTTP + Socket.IO + web/dist
//          |                                  |
//   Debian's /usr/bin/chromium (playwright-core)   Node's own socket.io-client (the truth)
//
// In order: the honest count and the analysis row before any calibration; the operator's
// refusals straight from the API (too few taps, a tap outside the box, an unknown frame, masks
// with 2 points, duplicate names, 409 or a frame); the calibration flow in the page with a mouse
// (freeze → the frozen frame at its native size → wheel zoom → box → taps, one refused outside
// the box → undo → submit) checked against what the daemon kept (box and taps in frame pixels)
// and what it sends next (calibrated analyses, status.analysis from calibration, the count panel);
// the same flow at 390×844 with touch (pinch zoom, one-finger box and taps; closed without
// submitting); a mask drawn on the video, named, saved and checked in status.masks and drawn for a
// fresh page; skycountd restarted: calibration and masks survive; reset and masks cleared.
//
//   cd web && ORT_DYLIB_PATH=/path/to/libonnxruntime.so node --test --test-timeout=900000 e2e/operator.e2e.mjs
//
// Same prerequisites, variables (SKYCOUNTD_BIN, CHROMIUM) and artifacts directory as
// e2e/dashboard.e2e.mjs; screenshots are named operator-*.png. The helpers shared with it are in
// harness.mjs.

import { after, before } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import {
  stepper,
  DESKTOP,
  PHONE,
  connectSocket,
  fatal,
  lastSeenOf,
  launchBrowser,
  openDashboard,
  pictureAt,
  operatorCookie,
  pageHelpers,
  request,
  signInPage,
  sleep,
  startDaemon as startSkycountd,
  startPublisher,
  stopProc,
  tail,
  teardown,
  testid,
  waitFor,
  prepareOperatorSpec,
} from './harness.mjs';

const FRAME = { w: 1280, h: 720 }; // what the publisher sends
const TEST_TIMEOUT = 120_000;

// ---------------------------------------------------------------------------------------------
// Set-up.

const env = {};
let daemonInstance = 0;
const seen = []; // { instance, seq, t, a }
const statuses = [];
const pageErrors = [];

/** An HTTP request to the daemon as the signed-in operator: { status, type, body (Buffer), json }. */
const http = (method, p, body) => request(env.httpPort, method, p, body, 10_000, env.operator ?? {});

async function startDaemon() {
  daemonInstance++;
  await startSkycountd(env, {
    log: path.join(env.tmp, `operator-skycountd-${daemonInstance}.log`),
    what: `skycountd (instance ${daemonInstance}) on 127.0.0.1:${env.httpPort}`,
    requestTimeout: 10_000,
  });
  // Sessions live in the daemon's memory: a new daemon, a new sign-in.
  env.operator = await operatorCookie(env);
}

const lastSeen = () => lastSeenOf(seen, daemonInstance);
const lastStatus = () => statuses[statuses.length - 1] ?? null;
const { evalIn, attr, text: rawText, screenshot } = pageHelpers(env);
const text = async (id) => ((await rawText(id)) ?? '').trim();

const step = stepper(env, 'operator', screenshot, TEST_TIMEOUT);

before(async () => {
  await prepareOperatorSpec(env, 'operator');
  await startDaemon();

  startPublisher(env, path.join(env.tmp, 'operator-publisher.log'), FRAME);
  connectSocket(env, { seen, statuses, instance: () => daemonInstance });

  await waitFor(
    'live analyses at Node',
    () => {
      if (!env.publisher.alive()) throw fatal(`the publisher exited: ${tail(env.publisher.log)}`);
      return lastStatus()?.state === 'live' && seen.filter((s) => s.instance === daemonInstance).length >= 3;
    },
    { timeout: 40_000, every: 200 },
  );

  await launchBrowser(env, pageErrors);
  await openDashboard(env);
  await signInPage(env.page);
});

after(() => teardown(env, (f) => f.startsWith('operator-') && f.endsWith('.log')));

// ---------------------------------------------------------------------------------------------
// Page helpers for the calibration flow.

/** Frame pixels → page pixels, through the frozen picture's rectangle on screen (zoom and pan included). */
async function frameToPage(fx, fy) {
  const r = await env.page.locator(testid('frozen-frame')).boundingBox();
  return { x: r.x + (fx * r.width) / FRAME.w, y: r.y + (fy * r.height) / FRAME.h };
}

async function mouseDrag(a, b, button = 'left') {
  await env.page.mouse.move(a.x, a.y);
  await env.page.mouse.down({ button });
  for (let i = 1; i <= 10; i++) await env.page.mouse.move(a.x + ((b.x - a.x) * i) / 10, a.y + ((b.y - a.y) * i) / 10);
  await env.page.mouse.up({ button });
}

/** Real touch through the DevTools protocol (pointerType "touch" in the page). */
function touch(cdp) {
  const send = (type, pts) => cdp.send('Input.dispatchTouchEvent', { type, touchPoints: pts.map((p, id) => ({ x: p.x, y: p.y, id })) });
  return {
    tap: async (p) => (await send('touchStart', [p]), await send('touchEnd', []), await sleep(30)),
    drag: async (a, b) => {
      await send('touchStart', [a]);
      for (let i = 1; i <= 8; i++) await send('touchMove', [{ x: a.x + ((b.x - a.x) * i) / 8, y: a.y + ((b.y - a.y) * i) / 8 }]);
      await send('touchEnd', []);
    },
    pinch: async (a0, b0, a1, b1) => {
      await send('touchStart', [a0, b0]);
      for (let i = 1; i <= 8; i++) {
        const f = i / 8;
        await send('touchMove', [
          { x: a0.x + (a1.x - a0.x) * f, y: a0.y + (a1.y - a0.y) * f },
          { x: b0.x + (b1.x - b0.x) * f, y: b0.y + (b1.y - b0.y) * f },
        ]);
      }
      await send('touchEnd', []);
    },
  };
}

const tapCount = async () => Number(await attr('tap-count', 'data-value'));

// The box and the taps of the desktop calibration, in frame pixels.
const BOX = { x: 400, y: 200, w: 320, h: 180 };
const TAPS = Array.from({ length: 12 }, (_, i) => ({ x: BOX.x + 20 + (i % 4) * 80 + 0.5, y: BOX.y + 30 + Math.floor(i / 4) * 55 + 0.5 }));

// ---------------------------------------------------------------------------------------------
// The tests, in order.

step('analyses and status carry the new fields; the count panel is honest before calibrating', async (t) => {
  const a = lastSeen().a;
  assert.equal(a.frame_width, FRAME.w, 'frame_width');
  assert.equal(a.frame_height, FRAME.h, 'frame_height');
  assert.ok(Number.isInteger(a.tiles) && a.tiles >= 1, `tiles ${a.tiles}`);
  assert.equal(typeof a.raw_count, 'number');
  assert.equal(typeof a.smoothed, 'number');
  assert.ok(Array.isArray(a.band) && a.band.length === 2 && a.band[0] <= a.band[1], `band ${JSON.stringify(a.band)}`);
  assert.equal(a.calibrated, false);
  const s = (await http('GET', '/api/status')).json;
  assert.ok(s.analysis && s.analysis.from === 'default', `status.analysis ${JSON.stringify(s.analysis)}`);
  assert.equal(s.calibration, null);
  assert.deepEqual(s.masks, []);
  await waitFor('the honest count', async () => /^≈ \d+ \(\d+–\d+\), not calibrated by the operator Calibrate$/.test(await text('honest-count')));
  await waitFor('the analysis row', async () => /^analysing \d+x\d+ \(scale [\d.]+, from default\)/.test(await text('analysis-scale')));
  // the raw count keeps its meaning for dashboard.e2e.mjs: the UI's formatting of `count`
  const shown = await evalIn(() => {
    const el = document.querySelector('[data-testid="count"]');
    return { text: el.textContent, seq: Number(el.dataset.seq), count: Number(el.dataset.count) };
  });
  const ev = seen.find((x) => x.instance === daemonInstance && x.seq === shown.seq);
  assert.ok(ev, `seq ${shown.seq} seen by Node`);
  assert.equal(shown.text, await evalIn((c) => window.__skycount.fmtCount(c), ev.a.count));
  t.diagnostic(`${await text('honest-count')} · ${await text('analysis-scale')}`);
});

step('operator API: nothing without the session, nothing from another site', async (t) => {
  const anon = (method, p, body, headers = {}) => request(env.httpPort, method, p, body, 10_000, headers);
  for (const [method, p, body] of [
    ['POST', '/api/operator/freeze'],
    ['DELETE', '/api/operator/calibration'],
    ['PUT', '/api/operator/masks', { masks: [] }],
    ['POST', '/api/operator/calibration', {}],
  ]) {
    const r = await anon(method, p, body);
    assert.equal(r.status, 401, `${method} ${p} without a session: ${r.status} ${r.body}`);
    const forged = await anon(method, p, body, { Cookie: 'skycount_session=forged' });
    assert.equal(forged.status, 401, `${method} ${p} with a forged cookie`);
    const csrf = await anon(method, p, body, { ...env.operator, Origin: 'http://evil.example' });
    assert.equal(csrf.status, 403, `${method} ${p} from another site's page, even with the session`);
  }
  const info = (await anon('GET', '/api/stream/info')).json;
  assert.equal(info.rtmp_url, null, 'a viewer never gets the publish URL');
  assert.equal((await anon('GET', '/api/stream/qr.svg')).status, 401);
  const own = (await http('GET', '/api/stream/info')).json;
  assert.match(own.rtmp_url, /pass=/, 'the operator gets it, key included');
  t.diagnostic('401 without the session, 403 from a foreign Origin; the publish URL for the operator only');
});

step('operator API: refusals say what is wrong', async (t) => {
  const f = await http('POST', '/api/operator/freeze');
  assert.equal(f.status, 200, `freeze: ${f.status} ${f.body}`);
  assert.deepEqual([f.json.width, f.json.height], [FRAME.w, FRAME.h], 'the frozen frame is the native size');
  const img = await http('GET', f.json.image_url);
  assert.equal(img.status, 200);
  assert.match(img.type, /^image\/jpeg/);
  assert.deepEqual([...img.body.subarray(0, 3)], [0xff, 0xd8, 0xff], 'a JPEG');
  const id = f.json.frame_id;
  const box = [BOX.x, BOX.y, BOX.w, BOX.h];
  const ok5 = TAPS.slice(0, 5).map((p) => [Math.floor(p.x), Math.floor(p.y)]);
  const refused = async (what, r, status = 400) => {
    assert.equal(r.status, status, `${what}: HTTP ${r.status} ${r.body}`);
    assert.equal(typeof r.json?.error, 'string', `${what}: {"error": "…"}`);
    t.diagnostic(`${what}: ${r.status} ${r.json.error}`);
  };
  await refused('4 taps', await http('POST', '/api/operator/calibration', { frame_id: id, box, taps: ok5.slice(0, 4) }));
  await refused('a tap outside the box', await http('POST', '/api/operator/calibration', { frame_id: id, box, taps: [...ok5.slice(0, 4), [10, 10]] }));
  await refused('1001 taps', await http('POST', '/api/operator/calibration', { frame_id: id, box, taps: Array.from({ length: 1001 }, () => ok5[0]) }));
  await refused('an unknown frame', await http('POST', '/api/operator/calibration', { frame_id: `${id}-nope`, box, taps: ok5 }), 404);
  const tri = [[0.1, 0.1], [0.3, 0.1], [0.3, 0.4]];
  await refused('a mask with 2 points', await http('PUT', '/api/operator/masks', { masks: [{ name: 'a', points: tri.slice(0, 2) }] }));
  await refused('duplicate names', await http('PUT', '/api/operator/masks', { masks: [{ name: 'a', points: tri }, { name: 'a', points: tri }] }));
  await refused('33 masks', await http('PUT', '/api/operator/masks', { masks: Array.from({ length: 33 }, (_, i) => ({ name: `m${i}`, points: tri })) }));
  assert.equal((await http('GET', '/api/status')).json.calibration, null, 'nothing was applied');
});

step('calibrate in the page with a mouse: box and taps arrive in frame pixels', async (t) => {
  await env.page.click(testid('calibrate-from-count'));
  await env.page.waitForSelector(testid('frozen-frame'), { timeout: 15_000 });
  assert.ok(await env.page.isVisible('#operator-body'), 'Calibrate opens the operator area');
  const nat = await evalIn(() => {
    const img = document.querySelector('[data-testid="frozen-frame"]');
    return [img.naturalWidth, img.naturalHeight];
  });
  assert.deepEqual(nat, [FRAME.w, FRAME.h], 'the frozen frame at full resolution');
  await screenshot('operator-01-frozen-1440x900.png');
  // wheel zoom at the box's centre, then the box and the taps where they now are on screen
  const c = await frameToPage(BOX.x + BOX.w / 2, BOX.y + BOX.h / 2);
  await env.page.mouse.move(c.x, c.y);
  for (let i = 0; i < 3; i++) await env.page.mouse.wheel(0, -200);
  await sleep(200);
  const scale = (await env.page.locator(testid('frozen-frame')).boundingBox()).width / FRAME.w;
  assert.ok(scale > 1, `zoomed in: ${scale.toFixed(2)} css px per frame px`);
  await mouseDrag(await frameToPage(BOX.x, BOX.y), await frameToPage(BOX.x + BOX.w, BOX.y + BOX.h));
  await env.page.waitForSelector(testid('calibrate-box'));
  await env.page.click(testid('calibrate-next'));
  for (const p of TAPS) {
    const q = await frameToPage(p.x, p.y);
    await env.page.mouse.click(q.x, q.y);
  }
  assert.equal(await tapCount(), TAPS.length);
  const out = await frameToPage(BOX.x + BOX.w + 15, BOX.y + 20);
  await env.page.mouse.click(out.x, out.y);
  assert.match(await text('calibrate-hint'), /outside the box/);
  assert.equal(await tapCount(), TAPS.length, 'the tap outside was refused');
  await env.page.click(testid('calibrate-undo'));
  assert.equal(await tapCount(), TAPS.length - 1);
  const lastTap = await frameToPage(TAPS.at(-1).x, TAPS.at(-1).y);
  await env.page.mouse.click(lastTap.x, lastTap.y);
  await screenshot('operator-02-taps-1440x900.png');
  const before = lastSeen()?.a;
  assert.ok(before && !before.calibrated, 'uncalibrated analyses before the submit');
  await env.page.click(testid('calibrate-submit'));
  // Check: a verdict and a preview, nothing applied; Apply applies it.
  await env.page.waitForSelector(testid('calibrate-verdict'), { timeout: 60_000 });
  const level = await env.page.getAttribute(testid('calibrate-verdict'), 'data-level');
  t.diagnostic(`verdict ${level}: ${await text('verdict-reason')}`);
  assert.equal((await http('GET', '/api/status')).json.calibration, null, 'checked, not applied');
  assert.notEqual(level, 'refused', 'these taps make a calibration that can be applied');
  await env.page.click(testid('calibrate-apply'));
  await env.page.waitForSelector(testid('calibrate-dialog'), { state: 'detached', timeout: 15_000 });
  const cal = (await http('GET', '/api/status')).json.calibration;
  assert.ok(cal, 'status.calibration after Apply');
  t.diagnostic(`daemon: ${JSON.stringify(cal)}`);
  assert.equal(cal.taps, TAPS.length);
  assert.deepEqual([cal.frame_width, cal.frame_height], [FRAME.w, FRAME.h]);
  cal.box.forEach((v, i) => assert.ok(Math.abs(v - [BOX.x, BOX.y, BOX.w, BOX.h][i]) <= 2, `box ${cal.box} vs ${JSON.stringify(BOX)}`));
  await waitFor('the message in the operator panel', async () => (await text('calibration-message')) === cal.message);
  await waitFor('calibrated analyses', () => lastSeen()?.a.calibrated === true, { timeout: 20_000 });
  {
    // The count changes because the analysis size does: the calibration's scale of the frame.
    const after = lastSeen().a;
    const want = [cal.scale * FRAME.w, cal.scale * FRAME.h].map((v) => Math.max(8, Math.floor(Math.round(v) / 8) * 8));
    assert.deepEqual([after.input_width, after.input_height], want, `analysis size at scale ${cal.scale}`);
    assert.notDeepEqual([after.input_width, after.input_height], [before.input_width, before.input_height]);
    assert.notEqual(after.count.toFixed(3), before.count.toFixed(3), `the count changed: ${before.count} → ${after.count}`);
  }
  await waitFor('status.analysis from calibration', () => lastStatus()?.analysis?.from === 'calibration', { timeout: 20_000 });
  await waitFor('the calibrated count', async () => /^≈ \d+ (\(\d+–\d+\))?, calibrated(, doubtful)?$/.test(await text('honest-count')), { timeout: 20_000 });
  await waitFor('the analysis row', async () => /from calibration/.test(await text('analysis-scale')));
  await screenshot('operator-03-calibrated-1440x900.png');
});

step('calibration flow at 390×844 with touch: pinch, one-finger box and taps', async () => {
  const ctx = await env.browser.newContext({ viewport: PHONE, hasTouch: true, isMobile: true, deviceScaleFactor: 2 });
  const page = await ctx.newPage();
  page.on('pageerror', (e) => pageErrors.push(e.message));
  const saved = env.page;
  env.page = page;
  try {
    await page.goto(`http://127.0.0.1:${env.httpPort}/`);
    await signInPage(page);
    await page.click(testid('calibrate'));
    await page.waitForSelector(testid('frozen-frame'), { timeout: 15_000 });
    const head = await page.locator(`${testid('calibrate-dialog')} .close`).boundingBox();
    assert.ok(head.x + head.width <= PHONE.width, 'the close button is on screen');
    const t = touch(await ctx.newCDPSession(page));
    const w0 = (await page.locator(testid('frozen-frame')).boundingBox()).width;
    const c = await frameToPage(BOX.x + BOX.w / 2, BOX.y + BOX.h / 2);
    await t.pinch({ x: c.x - 20, y: c.y }, { x: c.x + 20, y: c.y }, { x: c.x - 60, y: c.y }, { x: c.x + 60, y: c.y });
    await sleep(200);
    const w1 = (await page.locator(testid('frozen-frame')).boundingBox()).width;
    assert.ok(w1 > w0 * 2, `pinch zoomed ${w0.toFixed(0)} → ${w1.toFixed(0)} px wide`);
    await t.drag(await frameToPage(BOX.x + 60, BOX.y + 40), await frameToPage(BOX.x + 260, BOX.y + 140));
    await page.waitForSelector(testid('calibrate-box'));
    await page.click(testid('calibrate-next'));
    // Four people inside the box drawn by touch (whatever the frame shows there).
    const inner = [[90, 60], [150, 70], [200, 110], [240, 125]].map(([dx, dy]) => ({ x: BOX.x + dx, y: BOX.y + dy }));
    for (const p of inner) await t.tap(await frameToPage(p.x, p.y));
    assert.equal(await tapCount(), inner.length, `touch taps counted: ${await tapCount()}`);
    await screenshot('operator-04-touch-390x844.png');
    await page.click(testid('calibrate-close'));
    await page.waitForSelector(testid('calibrate-dialog'), { state: 'detached' });
  } finally {
    env.page = saved;
    await ctx.close();
  }
});

step('a mask drawn on the video, named and saved: in status.masks and drawn for every viewer', async (t) => {
  await env.page.click(testid('masks-edit'));
  await env.page.waitForSelector(testid('mask-toolbar'));
  await sleep(500);
  const at = await pictureAt(evalIn);
  const corners = [[0.6, 0.1], [0.9, 0.1], [0.9, 0.35], [0.6, 0.35]];
  for (const [u, v] of corners) await env.page.mouse.click(at(u, v).x, at(u, v).y);
  assert.equal(await attr('mask-drawing', 'data-points'), '4');
  await env.page.mouse.click(at(0.6, 0.1).x + 3, at(0.6, 0.1).y); // the first corner closes it
  await env.page.fill(testid('mask-name'), 'roof');
  await env.page.click(testid('masks-save'));
  await env.page.waitForSelector(testid('mask-toolbar'), { state: 'detached', timeout: 10_000 });
  const masks = (await http('GET', '/api/status')).json.masks;
  t.diagnostic(`daemon: ${JSON.stringify(masks)}`);
  assert.equal(masks.length, 1);
  {
    // The masked region leaves the density the heatmap is drawn from, and the count.
    const savedAt = seen.length;
    const unmasked = seen.slice(-5).map((x) => x.a.raw_count);
    await waitFor('analyses made with the mask', () => seen.length >= savedAt + 3, { timeout: 20_000 });
    const a = lastSeen().a;
    const g = a.density;
    const cells = Buffer.from(g.data, 'base64');
    let inside = 0;
    let hot = 0;
    for (let y = 0; y < g.height; y++) {
      for (let x = 0; x < g.width; x++) {
        const [u, v] = [(x + 0.5) / g.width, (y + 0.5) / g.height];
        if (u > 0.62 && u < 0.88 && v > 0.12 && v < 0.33) {
          inside++;
          if (cells[y * g.width + x] > 0) hot++;
        }
      }
    }
    assert.ok(inside > 0, 'grid cells under the mask');
    assert.equal(hot, 0, `${hot} of ${inside} grid cells under the mask still carry density`);
    // The grid sums to the count (area-weighted, 8-bit): with nothing under the mask, the masked
    // region is out of the count too.
    const gridSum = [...cells].reduce((p, c) => p + (c / 255) * g.max, 0);
    assert.ok(
      Math.abs(gridSum - a.raw_count) <= 0.02 * a.raw_count + 0.5,
      `the count is what the grid shows: grid ${gridSum.toFixed(2)} vs raw_count ${a.raw_count.toFixed(2)} (before the mask: ${unmasked.map((c) => c.toFixed(1)).join(', ')})`,
    );
  }
  assert.equal(masks[0].name, 'roof');
  masks[0].points.forEach((p, i) => assert.ok(Math.abs(p[0] - corners[i][0]) < 0.01 && Math.abs(p[1] - corners[i][1]) < 0.01, `corner ${i}: ${p} vs ${corners[i]}`));
  // another viewer sees it
  const other = await env.browser.newPage({ viewport: DESKTOP });
  try {
    await other.goto(`http://127.0.0.1:${env.httpPort}/`);
    await other.waitForSelector('[data-testid="mask"][data-name="roof"]', { timeout: 15_000 });
  } finally {
    await other.close();
  }
  await screenshot('operator-05-mask-1440x900.png');
});

step('skycountd restarts: calibration and masks survive', async () => {
  await stopProc(env.daemon);
  await startDaemon();
  const s = (await http('GET', '/api/status')).json;
  assert.equal(s.calibration?.taps, TAPS.length, `calibration after the restart: ${JSON.stringify(s.calibration)}`);
  assert.deepEqual(s.masks.map((m) => m.name), ['roof']);
  await waitFor('calibrated analyses from the new daemon', () => lastSeen()?.a.calibrated === true, { timeout: 40_000, every: 200 });
});

step('reset calibration and clear the masks from the page', async () => {
  await waitFor('the link back', async () => (await attr('link-state', 'data-value')) === 'connected', { timeout: 30_000 });
  // Sessions survive a restart (operator.sessions_file): after a reload the page is still signed in.
  await env.page.reload();
  const toggle = env.page.locator(testid('operator-toggle'));
  if ((await toggle.getAttribute('aria-expanded')) !== 'true') await toggle.click();
  await env.page.waitForSelector(testid('sign-out'), { timeout: 15_000 });
  await env.page.click(testid('calibration-reset'));
  await env.page.click(testid('calibration-reset')); // the second tap confirms
  await waitFor('status.calibration null', async () => (await http('GET', '/api/status')).json.calibration === null);
  await waitFor('uncalibrated analyses', () => lastSeen()?.a.calibrated === false, { timeout: 20_000 });
  await waitFor('the count says not calibrated', async () => /, not calibrated by the operator Calibrate$/.test(await text('honest-count')), { timeout: 20_000 });
  await env.page.click(testid('masks-edit'));
  await env.page.click(testid('mask-delete'));
  await env.page.click(testid('masks-save'));
  await waitFor('no masks', async () => (await http('GET', '/api/status')).json.masks.length === 0);
});

step('no uncaught errors in the pages', async () => {
  assert.deepEqual(pageErrors, []);
});
