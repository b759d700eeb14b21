// End-to-end test of several drones on the dashboard against the real skycountd (docs/api.md,
// `status.streams`; docs/mediamtx.md, "Several drones"):
//
//   gst-launch-1.0 publishers (live/drone, live/north) -> nginx-rtmp -> skycountd -> HTTP + web/dist
//   a stand-in for MediaMTX's Control API (the paths that have a publisher)  ↗          |
//   Debian's /usr/bin/chromium (playwright-core): a viewer's page, on a laptop and a phone
//
// In order: with one drone the dashboard has no strip (it looks as it always did); a second
// drone asks to publish to live/north (as MediaMTX asks skycountd) and is refused until the
// signed-in operator allows it; it starts publishing and the strip shows both, each with its count
// and band, the one on screen marked, and their sum only with the warning that their views may
// overlap; tapping north shows north's counts and last analysed frame, and the operator masks part
// of north's picture and names it, for north alone; on a 390-px phone the strip fits and the page
// never scrolls sideways; the second drone stops and its card says it ended while the first is
// still counted. (No MediaMTX here: the stand-in answers as its openapi.yaml says, which
// daemon/tests/mediamtx_api.rs checks, the test asks skycountd's auth as MediaMTX would, and
// skycountd reads nginx-rtmp.)
//
//   cd web && ORT_DYLIB_PATH=/path/to/libonnxruntime.so node --test --test-timeout=900000 e2e/streams.e2e.mjs
//
// Same prerequisites, variables and artifacts directory as e2e/dashboard.e2e.mjs; screenshots
// are named streams-*.png.

import { after, before } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import path from 'node:path';
import {
  PHONE,
  DESKTOP,
  TINY_MODEL_TOML,
  WEB_DIST,
  launchBrowser,
  openDashboard,
  pictureAt,
  operatorToml,
  pageHelpers,
  prepareOperatorSpec,
  request,
  signInPage,
  sleep,
  startDaemon,
  startProc,
  stepper,
  stopProc,
  teardown,
  testid,
  waitFor,
} from './harness.mjs';

const TEST_TIMEOUT = 120_000;

const env = {};
const pageErrors = [];
const { screenshot, evalIn, attr } = pageHelpers(env);
const step = stepper(env, 'streams', screenshot, TEST_TIMEOUT);
/** The paths the stand-in says have a publisher. */
const online = new Set();
const publishers = {};

/** A path as MediaMTX's Control API describes one with an RTMP publisher. */
const pathOf = (name) => ({
  name,
  confName: 'all_others',
  online: true,
  ready: true,
  source: { type: 'rtmpConn', id: `id-${name}` },
  tracks2: [{ codec: 'H264', codecProps: { width: 320, height: 180, profile: 'Baseline', level: '3.0' } }],
  readers: [],
  inboundBytes: 1000,
});

function controlApi(port) {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    const send = (status, body) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (url.pathname === '/v3/paths/list') {
      const items = [...online].map(pathOf);
      return send(200, { itemCount: items.length, pageCount: 1, items });
    }
    if (url.pathname.startsWith('/v3/paths/get/')) {
      const name = decodeURIComponent(url.pathname.slice('/v3/paths/get/'.length));
      return online.has(name) ? send(200, pathOf(name)) : send(404, { error: 'path not found' });
    }
    if (url.pathname === '/v3/info') return send(200, { version: 'v1.20.1' });
    return send(404, { error: 'not found' });
  });
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)));
}

function publish(name) {
  const pipeline = `videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=180,framerate=15/1 ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=15 bframes=0 ! video/x-h264,profile=baseline ! h264parse ! flvmux streamable=true ! rtmp2sink location=rtmp://127.0.0.1:${env.rtmpPort}/live/${name}`;
  publishers[name] = startProc(`publisher ${name}`, 'gst-launch-1.0', ['-q', ...pipeline.split(' ')], {
    log: path.join(env.tmp, `publisher-${name}.log`),
  });
  online.add(`live/${name}`);
}

const toml = (e) => `[source]
stall_ms = 1000
reconnect_after_ms = 2000
backoff_initial_ms = 200
backoff_max_ms = 1000

${TINY_MODEL_TOML}
[analysis]
state_dir = "${e.stateDir}"
max_streams = 3

[server]
listen = "127.0.0.1:${e.httpPort}"
web_dir = "${WEB_DIST}"

[stream]
path = "live/drone"
key_file = "${e.tmp}/stream-key"
rtmp_port = ${e.rtmpPort}
read_protocol = "rtmp"
pairing = true
webrtc_port = ${e.whepPort}

[mediamtx]
watch = true
api = "127.0.0.1:${e.mtxApiPort}"
metrics = "127.0.0.1:${e.mtxMetricsPort}"
poll_ms = 200

${operatorToml(e)}`;

const cards = () => env.page.locator(testid('drone-card'));
const card = (stream) => env.page.locator(`${testid('drone-card')}[data-stream="${stream}"]`);

before(async () => {
  await prepareOperatorSpec(env, 'streams', toml);
  env.api = await controlApi(env.mtxApiPort);
  publish('drone');
  await startDaemon(env, { log: path.join(env.tmp, 'skycountd.log'), what: 'skycountd answering', requestTimeout: 2000 });
  await launchBrowser(env, pageErrors);
});

after(async () => {
  for (const p of Object.values(publishers)) await stopProc(p);
  env.api?.close();
  await teardown(env, (f) => f.endsWith('.log'));
});

step('one drone: no strip, the dashboard looks as it always did', async () => {
  await openDashboard(env);
  // Counted first, so the status the page has is a whole one.
  await waitFor('an analysis on the page', async () => ((await env.page.locator(testid('count')).getAttribute('data-seq')) ?? '') !== '', { timeout: 30_000 });
  assert.equal(await env.page.locator(testid('drone-strip')).count(), 0);
});

/** MediaMTX's question (its documented body) for a keyless publisher at 192.168.50.24 on live/north. */
const northAsks = async () =>
  (
    await request(env.httpPort, 'POST', '/api/mediamtx/auth', {
      user: '',
      password: '',
      token: '',
      ip: '192.168.50.24',
      action: 'publish',
      path: 'live/north',
      protocol: 'rtmp',
      id: '6f7b4e9d-8ce2-4e1f-b4ca-4d8b2f7f3e21',
      query: '',
      userAgent: '',
    })
  ).status;

step('a second drone asks to stream to live/north; the operator allows it', async () => {
  assert.equal(await northAsks(), 401, 'refused until the operator allows it');
  await signInPage(env.page);
  const asking = env.page.locator(`${testid('drone-request')}[data-address="192.168.50.24"]`);
  await asking.waitFor({ state: 'visible', timeout: 15_000 });
  assert.match((await asking.textContent()) ?? '', /wants to stream to live\/north/);
  await asking.locator(testid('drone-allow')).click();
  await waitFor('the request gone from the page', async () => (await asking.count()) === 0, { timeout: 10_000 });
  assert.equal(await northAsks(), 200, 'the pilot taps Start again: let in');
});

step('a second drone: both in the strip with their counts, the sum with its warning', async () => {
  // What MediaMTX would let in now publishes (nginx-rtmp here) and its Control API lists it.
  publish('north');
  await waitFor('two drones counted in the strip', async () => {
    if ((await cards().count()) !== 2) return false;
    const north = (await card('live_north').textContent()) ?? '';
    return /≈ \d/.test(north);
  }, { timeout: 60_000 });
  const drone = (await card('live_drone').textContent()) ?? '';
  assert.match(drone, /drone/);
  assert.match(drone, /on screen/);
  const north = (await card('live_north').textContent()) ?? '';
  assert.match(north, /north/);
  assert.match(north, /≈ \d+ \(\d+–\d+\)/, `north's count with its band: ${north}`);
  const sum = env.page.locator(testid('drone-sum'));
  await sum.waitFor({ state: 'visible', timeout: 15_000 });
  assert.match((await sum.textContent()) ?? '', /≈ \d+.*Sum of 2 drones: their views may overlap/);
  await screenshot('streams-two-laptop.png');
});

step("tapping a drone shows its counts and last analysed frame; back to the first", async () => {
  const shown = () => env.page.locator(testid('count')).getAttribute('data-stream');
  assert.equal(await shown(), 'live_drone');
  await card('live_north').locator('button').click();
  await waitFor("north's analyses on the page", async () => (await shown()) === 'live_north', { timeout: 20_000 });
  assert.equal(await card('live_north').locator('button').getAttribute('aria-pressed'), 'true');
  assert.equal(await card('live_drone').locator('button').getAttribute('aria-pressed'), 'false');
  // No live video of another drone here: its last analysed frame, under its own heatmap.
  await waitFor('the frame badge', async () => /Last analysed frame/.test((await env.page.textContent('body')) ?? ''), { timeout: 20_000 });
  // Every analysis from now on is north's.
  const seen = new Set();
  for (let i = 0; i < 10; i++) {
    seen.add(await shown());
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.deepEqual([...seen], ['live_north']);
  await screenshot('streams-north-shown.png');
  await card('live_drone').locator('button').click();
  await waitFor('the first drone back', async () => (await shown()) === 'live_drone', { timeout: 20_000 });
});

step("the operator masks part of north's picture while north is shown: north's alone, kept for it", async (t) => {
  const shown = () => env.page.locator(testid('count')).getAttribute('data-stream');
  await card('live_north').locator('button').click();
  await waitFor("north's analyses on the page", async () => (await shown()) === 'live_north', { timeout: 20_000 });
  // The panel says whose settings these are.
  await env.page.locator(testid('operator-for')).waitFor({ state: 'visible', timeout: 10_000 });
  assert.equal(await attr('operator-for', 'data-stream'), 'live_north');
  assert.match((await env.page.textContent(testid('operator-for'))) ?? '', /north/);
  await env.page.click(testid('masks-edit'));
  await env.page.waitForSelector(testid('mask-toolbar'));
  await env.page.locator(testid('snapshot')).waitFor({ state: 'visible', timeout: 10_000 });
  await sleep(300);
  const at = await pictureAt(evalIn);
  for (const [u, v] of [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5], [0.1, 0.5]]) await env.page.mouse.click(at(u, v).x, at(u, v).y);
  await env.page.mouse.click(at(0.1, 0.1).x + 3, at(0.1, 0.1).y); // the first corner closes it
  await env.page.fill(testid('mask-name'), 'car park');
  await env.page.click(testid('masks-save'));
  await env.page.waitForSelector(testid('mask-toolbar'), { state: 'detached', timeout: 10_000 });
  // The box keeps it for north alone.
  const streams = (await request(env.httpPort, 'GET', '/api/streams')).json;
  t.diagnostic(JSON.stringify(streams.map((s) => [s.stream, s.masks])));
  const of = (name) => streams.find((s) => s.stream === name);
  assert.deepEqual(of('live_north').masks.map((m) => m.name), ['car park']);
  assert.deepEqual(of('live_drone').masks, []);
  assert.deepEqual((await request(env.httpPort, 'GET', '/api/status')).json.masks, []);
  // Its outline is in the list of north's areas; back on the first drone, that list is empty.
  await waitFor("north's mask listed", async () => /car park/.test((await env.page.textContent(testid('operator'))) ?? ''), { timeout: 10_000 });
  // The operator names north: the strip shows the name for every viewer.
  await env.page.fill(testid('drone-name-input'), 'North gate');
  await env.page.click(testid('drone-name-save'));
  await waitFor('the new name in the strip', async () => /North gate/.test((await card('live_north').textContent()) ?? ''), { timeout: 10_000 });
  assert.equal((await request(env.httpPort, 'GET', '/api/streams')).json.find((s) => s.stream === 'live_north').name, 'North gate');
  await screenshot('streams-north-masked.png');
  await card('live_drone').locator('button').click();
  await waitFor('the first drone back', async () => (await shown()) === 'live_drone', { timeout: 20_000 });
  assert.equal(await env.page.locator(testid('operator-for')).count(), 0);
  assert.doesNotMatch((await env.page.textContent(testid('operator'))) ?? '', /car park/);
});

step('on a phone the strip fits and the page never scrolls sideways', async () => {
  await env.page.setViewportSize(PHONE);
  const strip = await env.page.locator(testid('drone-strip')).boundingBox();
  assert.ok(strip && strip.x >= 0 && strip.x + strip.width <= PHONE.width, `the strip fits the phone: ${JSON.stringify(strip)}`);
  const wide = await env.page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(wide <= PHONE.width, `no sideways scrolling on a phone (${wide} px)`);
  await screenshot('streams-two-phone.png');
  await env.page.setViewportSize(DESKTOP);
});

step('the second drone stops: its card says it ended, the first is still counted', async () => {
  online.delete('live/north');
  await stopProc(publishers.north);
  await waitFor('north ended', async () => (await card('live_north').getAttribute('data-state')) === 'ended', { timeout: 30_000 });
  assert.match((await card('live_north').textContent()) ?? '', /ended/);
  assert.equal(await card('live_drone').getAttribute('data-state'), 'live');
  assert.equal(await env.page.locator(testid('drone-sum')).count(), 0, 'no sum with one drone live');
  await screenshot('streams-ended.png');
  assert.deepEqual(pageErrors, []);
});
