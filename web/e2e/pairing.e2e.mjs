// End-to-end test of pairing by approval against the real skycountd (docs/security.md, "Pairing a
// drone"; docs/api.md: POST /api/mediamtx/auth, /api/operator/pairing*):
//
//   Node, asking as MediaMTX does (its documented body)  ->  skycountd  ->  HTTP + web/dist
//                                                                |
//   Debian's /usr/bin/chromium (playwright-core): a viewer's page and the operator's page
//
// In order: a keyless drone at 192.168.50.23 asks to publish to live/drone and is refused; the
// signed-in operator's page shows "A drone at 192.168.50.23 wants to stream to live/drone" with
// Allow and Refuse, on a laptop and on a 390-px phone; a viewer's page, open all along, never
// shows it nor asks for it; the operator allows it and the drone's next attempt is let in; the
// approval is listed in the Operator panel and revoked there, and the drone is refused again.
// (No MediaMTX here: the test asks as MediaMTX would, and skycountd reads nginx-rtmp.)
//
//   cd web && ORT_DYLIB_PATH=/path/to/libonnxruntime.so node --test --test-timeout=900000 e2e/pairing.e2e.mjs
//
// Same prerequisites, variables and artifacts directory as e2e/dashboard.e2e.mjs; screenshots
// are named pairing-*.png.

import { after, before } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import {
  PHONE,
  launchBrowser,
  openDashboard,
  pageHelpers,
  request,
  signInPage,
  startDaemon,
  stepper,
  teardown,
  testid,
  waitFor,
  withTimeout,
  prepareOperatorSpec,
} from './harness.mjs';

const TEST_TIMEOUT = 120_000;
const DRONE = '192.168.50.23';

const env = {};
const pageErrors = [];
const { screenshot } = pageHelpers(env);
const step = stepper(env, 'pairing', screenshot, TEST_TIMEOUT);
/** Every request a viewer's page made. */
const viewerAsked = [];

/** MediaMTX's question for a keyless publisher at DRONE: the daemon's status code. */
async function droneAsks() {
  const r = await request(env.httpPort, 'POST', '/api/mediamtx/auth', {
    user: '',
    password: '',
    token: '',
    ip: DRONE,
    action: 'publish',
    path: 'live/drone',
    protocol: 'rtmp',
    id: '5e6a3d8c-7bd1-4d0f-a3b9-3c7a1f6e2d10',
    query: '',
    userAgent: '',
  });
  return r.status;
}

before(async () => {
  // stream.pairing is on by default.
  await prepareOperatorSpec(env, 'pairing');
  await startDaemon(env, { log: path.join(env.tmp, 'skycountd.log'), what: 'skycountd answering', requestTimeout: 2000 });
  await launchBrowser(env, pageErrors);
  // A viewer's page, open throughout in its own browser context (no session).
  env.viewerCtx = await env.browser.newContext({ viewport: PHONE, hasTouch: true, isMobile: true });
  env.viewer = await env.viewerCtx.newPage();
  env.viewer.on('request', (r) => viewerAsked.push(new URL(r.url()).pathname));
  env.viewer.on('pageerror', (e) => pageErrors.push(`viewer: ${e.message}`));
  await withTimeout(env.viewer.goto(`http://127.0.0.1:${env.httpPort}/`), 30_000, 'opening the viewer page');
});

after(async () => {
  await withTimeout(env.viewerCtx?.close() ?? Promise.resolve(), 15_000, 'closing the viewer').catch(() => undefined);
  await teardown(env, (f) => f.endsWith('.log'));
});

step('a keyless drone is refused and waits for the operator', async () => {
  assert.equal(await droneAsks(), 401);
});

step('the operator sees the request with Allow and Refuse, on a laptop and a phone', async () => {
  await openDashboard(env);
  await signInPage(env.page);
  const asking = env.page.locator(`${testid('drone-request')}[data-address="${DRONE}"]`);
  await asking.waitFor({ state: 'visible', timeout: 15_000 });
  const said = (await asking.textContent()) ?? '';
  assert.match(said, /A drone at 192\.168\.50\.23 wants to stream to live\/drone/);
  assert.match(said, /at \d\d:\d\d:\d\d/);
  await asking.locator(testid('drone-allow')).waitFor({ state: 'visible' });
  await asking.locator(testid('drone-refuse')).waitFor({ state: 'visible' });
  await screenshot('pairing-request-laptop.png');
  await env.page.setViewportSize(PHONE);
  const box = await asking.boundingBox();
  assert.ok(box && box.x >= 0 && box.x + box.width <= PHONE.width, `the request fits the phone's width: ${JSON.stringify(box)}`);
  const allow = await asking.locator(testid('drone-allow')).boundingBox();
  assert.ok(allow && allow.x + allow.width <= PHONE.width && allow.height >= 40, `Allow is on screen and big enough to tap: ${JSON.stringify(allow)}`);
  const wide = await env.page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(wide <= PHONE.width, `no sideways scrolling on a phone (${wide} px)`);
  await screenshot('pairing-request-phone.png');
});

step("a viewer's page never shows the request nor asks for it", async () => {
  // The viewer's page has been open since before the drone asked, longer than the operator's
  // page took to show it.
  assert.equal(await env.viewer.locator(testid('drone-requests')).count(), 0);
  const body = (await env.viewer.textContent('body')) ?? '';
  assert.ok(!body.includes(DRONE), 'the drone address is not on the viewer page');
  assert.ok(!viewerAsked.some((p) => p.startsWith('/api/operator/pairing')), `the viewer page asked: ${viewerAsked.filter((p) => p.includes('pairing'))}`);
  // Nor does the box tell a viewer (no session) when asked directly.
  const r = await request(env.httpPort, 'GET', '/api/operator/pairing');
  assert.equal(r.status, 401);
  assert.ok(!r.body.toString().includes(DRONE));
});

step('Allow lets the drone in on its next attempt', async () => {
  const asking = env.page.locator(`${testid('drone-request')}[data-address="${DRONE}"]`);
  await asking.locator(testid('drone-allow')).click();
  const note = env.page.locator(testid('drone-note'));
  await note.waitFor({ state: 'visible', timeout: 10_000 });
  assert.match((await note.textContent()) ?? '', /192\.168\.50\.23 may stream to live\/drone: the pilot taps Start/);
  await waitFor('the request gone from the page', async () => (await asking.count()) === 0);
  assert.equal(await droneAsks(), 200);
  await screenshot('pairing-allowed-phone.png');
});

step('the approval is listed in the Operator panel and revoked there', async () => {
  await env.page.setViewportSize({ width: 1440, height: 900 });
  const toggle = env.page.locator(testid('operator-toggle'));
  if ((await toggle.getAttribute('aria-expanded')) !== 'true') await toggle.click();
  const approval = env.page.locator(testid('approval'));
  await approval.waitFor({ state: 'visible', timeout: 15_000 });
  assert.match((await approval.textContent()) ?? '', /192\.168\.50\.23 → live\/drone.*until/);
  await approval.locator(testid('approval-revoke')).click();
  await waitFor('the approval gone', async () => (await approval.count()) === 0);
  assert.equal(await droneAsks(), 401);
  // Refused again, and waiting again at the top of the page.
  await env.page.locator(`${testid('drone-request')}[data-address="${DRONE}"]`).waitFor({ state: 'visible', timeout: 15_000 });
  assert.deepEqual(pageErrors, []);
});
