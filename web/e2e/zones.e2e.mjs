// End-to-end test of zones and alerts against the real skycountd (docs/api.md: `analysis.zones`,
// `status.zones`, `status.alerts`, the `alert` event, PUT /api/operator/zones and
// POST /api/operator/alerts/<id>/ack), with the same set-up as e2e/operator.e2e.mjs:
//
//   nginx + Debian's RTMP module  <-  gst-launch-1.0 (live 1280×720 H.264, videotestsrc "ball")
//          |
//   skycountd (tiny CSRNet model, CPU; smooth_ms 1000, alert_hold_ms 500)  ->  HTTP + Socket.IO + web/dist
//          |                                  |
//   Debian's /usr/bin/chromium (playwright-core)   Node's own socket.io-client (the truth)
//
// In order: the operator signs in, draws a zone on the video with the mouse and names it; its count
// is in the analyses, on the video and beside the total (equal to the analysis's, and, the zone
// covering the picture, close to the total); a low limit is set from the page: the alert banner
// shows on the operator's page and on a viewer's (who has no Acknowledge button), the zone turns
// red; the operator acknowledges it from the banner; a 390-px-wide phone shows the banner and the
// zone counts without scrolling sideways; the limit removed closes the alert and the banner goes.
//
//   cd web && ORT_DYLIB_PATH=/path/to/libonnxruntime.so node --test --test-timeout=900000 e2e/zones.e2e.mjs
//
// Same prerequisites, variables (SKYCOUNTD_BIN, CHROMIUM) and artifacts directory as
// e2e/dashboard.e2e.mjs; screenshots are named zones-*.png.

import { after, before } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import {
  operatorSpecToml,
  stepper,
  PHONE,
  connectSocket,
  fatal,
  launchBrowser,
  openDashboard,
  pictureAt,
  operatorCookie,
  pageHelpers,
  request,
  signInPage,
  sleep,
  startDaemon,
  startPublisher,
  tail,
  teardown,
  testid,
  waitFor,
  prepareOperatorSpec,
} from './harness.mjs';

const FRAME = { w: 1280, h: 720 };
const TEST_TIMEOUT = 120_000;

const env = {};
const seen = [];
const statuses = [];
const alertEvents = [];
const pageErrors = [];

const http = (method, p, body) => request(env.httpPort, method, p, body, 10_000, env.operator ?? {});
const status = async () => (await http('GET', '/api/status')).json;
const { evalIn, attr, screenshot } = pageHelpers(env);
const lastAnalysis = () => seen[seen.length - 1]?.a ?? null;

const step = stepper(env, 'zones', screenshot, TEST_TIMEOUT);

before(async () => {
  await prepareOperatorSpec(env, 'zones', (e) => operatorSpecToml(e, 'smooth_ms = 1000\nalert_hold_ms = 500\n'));
  await startDaemon(env, { log: path.join(env.tmp, 'zones-skycountd.log'), what: `skycountd on 127.0.0.1:${env.httpPort}`, requestTimeout: 10_000 });
  env.operator = await operatorCookie(env);
  startPublisher(env, path.join(env.tmp, 'zones-publisher.log'), FRAME);
  connectSocket(env, { seen, statuses, instance: () => 1 });
  env.socket.on('alert', (a) => alertEvents.push(a));
  await waitFor(
    'live analyses at Node',
    () => {
      if (!env.publisher.alive()) throw fatal(`the publisher exited: ${tail(env.publisher.log)}`);
      return statuses[statuses.length - 1]?.state === 'live' && seen.length >= 3;
    },
    { timeout: 40_000, every: 200 },
  );
  await launchBrowser(env, pageErrors);
  await openDashboard(env);
  await signInPage(env.page);
});

after(() => teardown(env, (f) => f.startsWith('zones-') && f.endsWith('.log')));

const ZONE = [
  [0.02, 0.02],
  [0.98, 0.02],
  [0.98, 0.98],
  [0.02, 0.98],
];

step('the operator draws a zone on the video; its count is on the video and beside the total', async (t) => {
  await env.page.click(testid('zones-edit'));
  await env.page.waitForSelector(testid('zone-toolbar'));
  await waitFor('the picture', async () => evalIn(() => Boolean(document.querySelector('[data-testid="snapshot"]')?.naturalWidth || document.querySelector('[data-testid="video"]')?.videoWidth)), { timeout: 20_000 });
  await sleep(500); // the stage scrolled into view
  const at = await pictureAt(evalIn);
  for (const [u, v] of ZONE) await env.page.mouse.click(at(u, v).x, at(u, v).y);
  assert.equal(await attr('zone-drawing', 'data-points'), '4');
  await env.page.click(testid('zone-done'));
  assert.equal(await env.page.inputValue(testid('zone-name')), 'zone 1', 'a free name');
  await env.page.fill(testid('zone-name'), 'stage front');
  await env.page.click(testid('zones-save'));
  await env.page.waitForSelector(testid('zone-toolbar'), { state: 'detached', timeout: 10_000 });
  const zones = (await status()).zones;
  t.diagnostic(`daemon: ${JSON.stringify(zones)}`);
  assert.equal(zones.length, 1);
  assert.equal(zones[0].name, 'stage front');
  assert.equal(zones[0].limit, null);
  zones[0].points.forEach((p, i) => assert.ok(Math.abs(p[0] - ZONE[i][0]) < 0.01 && Math.abs(p[1] - ZONE[i][1]) < 0.01, `corner ${i}: ${p} vs ${ZONE[i]}`));

  // The analyses count it; the page shows the analysis's number on the video and in the panel.
  await waitFor('analyses with the zone', () => lastAnalysis()?.zones?.length === 1, { timeout: 20_000 });
  const a = lastAnalysis();
  const z = a.zones[0];
  assert.equal(z.name, 'stage front');
  assert.ok(z.count <= a.count + 1e-9 && z.count >= 0.8 * a.count, `the zone covers most of the picture: ${z.count} of ${a.count}`);
  assert.ok(Math.abs(z.share - z.count / a.count) < 1e-9, `share ${z.share}`);
  await waitFor('the zone count beside the total', async () => (await env.page.locator(`${testid('zone-count')}[data-name="stage front"]`).count()) === 1);
  await waitFor('the count shown is an analysis’s', async () => {
    const shown = Number(await attr('zone-count', 'data-count'));
    return seen.slice(-10).some((s) => s.a.zones?.[0]?.count === shown);
  });
  await env.page.waitForSelector(`${testid('zone')}[data-name="stage front"]`);
  // Over the last analysed frame the zone's count is that frame's analysis's: "–" until a frame
  // analysed with the zone is shown.
  let onVideo = null;
  await waitFor('the count on the video', async () => /^\d+$/.test((onVideo = (await env.page.textContent(testid('zone-count-on-video'))).trim())), { timeout: 20_000 }).catch((e) => {
    throw new Error(`${e.message}: the count on the video: ${onVideo}`);
  });
  t.diagnostic(`zone ${z.count.toFixed(1)} of ${a.count.toFixed(1)}; on the video: ${onVideo}`);
  await screenshot('zones-01-zone-1440x900.png');
});

step('a low limit raises the alert banner on every dashboard; the operator acknowledges it', async (t) => {
  const count = lastAnalysis().zones[0].count;
  const limit = Math.max(1, Math.floor(count / 2));
  await env.page.click(testid('zones-edit'));
  await env.page.fill(testid('zone-limit'), 'ten');
  await env.page.waitForSelector(testid('zone-problems'));
  assert.equal(await env.page.isDisabled(testid('zones-save')), true, 'a limit that is not a number cannot be saved');
  await env.page.fill(testid('zone-limit'), String(limit));
  await env.page.click(testid('zones-save'));
  await env.page.waitForSelector(testid('zone-toolbar'), { state: 'detached', timeout: 10_000 });
  assert.equal((await status()).zones[0].limit, limit);

  // A viewer's page, not signed in, open before the alert.
  const viewer = await env.browser.newPage({ viewport: { width: 1024, height: 768 } });
  try {
    await viewer.goto(`http://127.0.0.1:${env.httpPort}/`);
    await env.page.waitForSelector(testid('alert-banner'), { timeout: 30_000 });
    await viewer.waitForSelector(testid('alert-banner'), { timeout: 30_000 });
    const s = await status();
    assert.equal(s.alerts.length, 1, JSON.stringify(s.alerts));
    const alert = s.alerts[0];
    assert.equal(alert.zone, 'stage front');
    assert.equal(alert.limit, limit);
    assert.ok(alertEvents.some((e) => e.id === alert.id), 'the alert event reached Node');
    assert.match(await env.page.textContent(testid('alert-banner')), /Zone “stage front”: over its limit of \d+ since \d\d:\d\d:\d\d \(\d+ when raised\)/);
    assert.equal(await viewer.locator(testid('alert-ack')).count(), 0, 'a viewer cannot acknowledge');
    assert.equal(await viewer.locator(testid('alert-sound')).count(), 1, 'no gesture yet: the banner offers the sound');
    await viewer.click(testid('alert-sound'));
    await viewer.waitForSelector(testid('alert-sound'), { state: 'detached' });
    await waitFor('the zone turns red on the video', async () => (await attr('zone', 'data-alerting')) === 'true', { timeout: 20_000 });
    await screenshot('zones-02-alert-1440x900.png');

    await env.page.click(testid('alert-ack'));
    await waitFor('acknowledged in the status', async () => (await status()).alerts[0]?.acknowledged_ms != null);
    await env.page.waitForSelector(`${testid('alert')}[data-acknowledged="true"]`);
    await viewer.waitForSelector(`${testid('alert')}[data-acknowledged="true"]`, { timeout: 15_000 });
    assert.equal(await env.page.locator(testid('alert-ack')).count(), 0, 'acknowledged once');
    t.diagnostic(`alert ${alert.id}: ${alert.count.toFixed(1)} people at a limit of ${limit}; acknowledged from the banner`);
  } finally {
    await viewer.close();
  }
});

step('on a 390-px-wide phone the banner and the zone counts fit', async () => {
  const ctx = await env.browser.newContext({ viewport: PHONE, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
  const phone = await ctx.newPage();
  const saved = env.page;
  try {
    await phone.goto(`http://127.0.0.1:${env.httpPort}/`);
    await phone.waitForSelector(testid('alert-banner'), { timeout: 30_000 });
    await phone.waitForSelector(testid('zone-count'), { timeout: 30_000 });
    const widths = await phone.evaluate(() => ({ page: document.documentElement.scrollWidth, banner: document.querySelector('[data-testid="alert-banner"]').getBoundingClientRect().right }));
    assert.ok(widths.page <= 390, `the page scrolls sideways: ${widths.page} px`);
    assert.ok(widths.banner <= 390, `the banner leaves the screen: ${widths.banner}`);
    // Untouched, the phone offers the sound: a button that can be read on the red banner.
    const sound = await phone.evaluate(() => {
      const b = getComputedStyle(document.querySelector('[data-testid="alert-sound"]'));
      return { color: b.color, background: b.backgroundColor };
    });
    assert.notEqual(sound.color, sound.background, `the sound button's text is invisible: ${JSON.stringify(sound)}`);
    env.page = phone;
    await screenshot('zones-03-phone-390x844.png');
  } finally {
    env.page = saved;
    await ctx.close();
  }
});

step('the limit removed: the alert clears, acknowledged already it closes, and the banner goes', async () => {
  await env.page.click(testid('zones-edit'));
  await env.page.fill(testid('zone-limit'), '');
  await env.page.click(testid('zones-save'));
  await env.page.waitForSelector(testid('alert-banner'), { state: 'detached', timeout: 30_000 });
  assert.deepEqual((await status()).alerts, []);
  assert.ok(alertEvents.some((e) => e.cleared_ms !== null && e.acknowledged_ms !== null), 'the closing alert event');
  assert.deepEqual(pageErrors, [], 'no uncaught errors in the page');
});
