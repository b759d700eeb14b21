// End-to-end test of issue 23's item 6, "zones follow the picture, not the ground", against the
// real skycountd: a drone that hovers, pans away, hovers there, and pans back. While the camera
// moves or looks elsewhere the daemon says zones are paused (analysis.camera), and the dashboard
// says "zones paused" on the picture and beside the count instead of the zone's count; hovering
// over the view the zone was drawn on, the count is back.
//
//   Node (a textured picture, panned)  ->  gst-launch-1.0 (H.264)  ->  nginx-rtmp  ->  skycountd
//                                                                                 -> Chromium
//
// The picture is value noise drawn here (no test data needed): a 2560x720 strip, of which a
// 1280x720 window is sent, 15 frames a second: 8 s at the left, 3 s panning right (a third of the
// frame a second), 8 s at the right, 3 s back.
//
//   cd web && ORT_DYLIB_PATH=/path/to/libonnxruntime.so node --test e2e/camera.e2e.mjs

import { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {
  connectSocket,
  launchBrowser,
  openDashboard,
  operatorCookie,
  operatorSpecToml,
  pageHelpers,
  request,
  startDaemon,
  stepper,
  teardown,
  testid,
  waitFor,
  prepareOperatorSpec,
} from './harness.mjs';

const W = 1280;
const H = 720;
const FPS = 15;
const STRIP = 2 * W;
/** Where the window is at `t` seconds into the 22 s cycle: hover, pan right, hover, pan back. */
function offsetAt(t) {
  const c = t % 22;
  if (c < 8) return 0;
  if (c < 11) return Math.round(((c - 8) / 3) * W);
  if (c < 19) return W;
  return Math.round((1 - (c - 19) / 3) * W);
}

const env = {};
const seen = [];
const statuses = [];
const pageErrors = [];
const { screenshot } = pageHelpers(env);
const step = stepper(env, 'camera', screenshot, 120_000);
let sender = null;

/** A deterministic textured strip (RGB): value noise of two octaves, a picture to match. */
function strip() {
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  const octave = (cell) => {
    const gw = Math.ceil(STRIP / cell) + 2;
    const gh = Math.ceil(H / cell) + 2;
    const g = Float32Array.from({ length: gw * gh }, rand);
    return (x, y) => {
      const fx = x / cell;
      const fy = y / cell;
      const x0 = Math.floor(fx);
      const y0 = Math.floor(fy);
      const u = fx - x0;
      const v = fy - y0;
      const at = (i, j) => g[j * gw + i];
      return (at(x0, y0) * (1 - u) + at(x0 + 1, y0) * u) * (1 - v) + (at(x0, y0 + 1) * (1 - u) + at(x0 + 1, y0 + 1) * u) * v;
    };
  };
  const coarse = octave(48);
  const fine = octave(12);
  const buf = Buffer.alloc(STRIP * H * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < STRIP; x++) {
      const v = 0.7 * coarse(x, y) + 0.3 * fine(x, y);
      const i = (y * STRIP + x) * 3;
      buf[i] = Math.round(255 * v);
      buf[i + 1] = Math.round(200 * v + 30);
      buf[i + 2] = Math.round(160 * (1 - v) + 40);
    }
  }
  return buf;
}

/** The drone: frames of the strip, panned by `offsetAt`, H.264 to env.rtmpUrl. */
function startPanningPublisher(log) {
  const picture = strip();
  const frame = Buffer.alloc(W * H * 3);
  const pipeline = `fdsrc fd=0 ! rawvideoparse width=${W} height=${H} format=rgb framerate=${FPS}/1 ! videoconvert ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=${FPS} bframes=0 ! video/x-h264,profile=baseline ! h264parse ! flvmux streamable=true ! rtmp2sink location=${env.rtmpUrl}`;
  const fd = fs.openSync(log, 'a');
  const child = spawn('gst-launch-1.0', ['-q', ...pipeline.split(' ')], { stdio: ['pipe', fd, fd] });
  fs.closeSync(fd);
  child.stdin.on('error', () => undefined);
  const t0 = Date.now();
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return; // the encoder is behind: this frame is skipped, as a live camera's would be
    const off = offsetAt((Date.now() - t0) / 1000);
    for (let y = 0; y < H; y++) picture.copy(frame, y * W * 3, (y * STRIP + off) * 3, (y * STRIP + off + W) * 3);
    busy = !child.stdin.write(frame);
    if (busy) child.stdin.once('drain', () => (busy = false));
  }, 1000 / FPS);
  return {
    stop: () => {
      clearInterval(timer);
      child.stdin.end();
      child.kill('SIGTERM');
    },
    alive: () => child.exitCode === null && child.signalCode === null,
  };
}

before(async () => {
  await prepareOperatorSpec(env, 'camera', (e) => operatorSpecToml(e, 'smooth_ms = 1000\n'));
  await startDaemon(env, { log: path.join(env.tmp, 'camera-skycountd.log'), what: 'skycountd', requestTimeout: 10_000 });
  env.operator = await operatorCookie(env);
  // A zone over the middle of the picture, set while the drone hovers at its first view.
  const zones = await request(env.httpPort, 'PUT', '/api/operator/zones', { zones: [{ name: 'stage', points: [[0.3, 0.3], [0.7, 0.3], [0.7, 0.7], [0.3, 0.7]] }] }, 10_000, env.operator);
  assert.equal(zones.status, 200, zones.body.toString());
  sender = startPanningPublisher(path.join(env.tmp, 'camera-publisher.log'));
  connectSocket(env, { seen, statuses, instance: () => 1 });
  await waitFor('judged analyses', () => seen.some((s) => s.a.camera?.judged === true), { timeout: 60_000, every: 200 });
  await launchBrowser(env, pageErrors);
  await openDashboard(env);
});

after(async () => {
  sender?.stop();
  await teardown(env, (f) => f.startsWith('camera-') && f.endsWith('.log'));
});

step('6: the drone pans: "zones paused" on the picture and beside the count; hovering over the zone’s view again: its count', async (t) => {
  const page = env.page;
  // What the page shows, looked at every 200 ms over two cycles of the flight at most.
  const shown = { paused: null, counted: null };
  await waitFor(
    'the page to show the zone paused, then counted again',
    async () => {
      if (!sender.alive()) throw new Error('the publisher exited');
      const s = await page.evaluate(() => {
        const badge = document.querySelector('[data-testid="camera-state"]');
        const onVideo = document.querySelector('[data-testid="zone-count-on-video"]')?.textContent?.trim() ?? null;
        const panel = document.querySelector('[data-testid="zone-count"] strong')?.textContent?.trim() ?? null;
        return { badge: badge?.textContent?.trim() ?? null, onVideo, panel, paused: document.querySelector('[data-testid="zones-paused"]')?.textContent?.trim() ?? null };
      });
      // (Over the last analysed frame the zone on the picture is that frame's: for a moment after
      // the camera starts moving it may still be a count, of a frame taken before.)
      if (s.badge && s.onVideo === 'paused' && !shown.paused) {
        shown.paused = s;
        await screenshot('camera-01-zones-paused-1440x900.png');
      }
      // Back over the zone's view after the pan (not the first hover): counted again.
      if (shown.paused && !s.badge && s.onVideo && /^\d+$/.test(s.onVideo) && !shown.counted) shown.counted = s;
      return shown.paused && shown.counted;
    },
    { timeout: 60_000, every: 200 },
  );
  t.diagnostic(JSON.stringify(shown));
  assert.match(shown.paused.badge, /^Camera (moving|away from the zones’ view): zones paused$/);
  assert.equal(shown.paused.onVideo, 'paused', 'the zone on the picture says paused, not a count');
  assert.equal(shown.paused.panel, 'paused', 'the zone beside the count says paused');
  assert.match(shown.paused.paused, /zones paused$/);
  assert.match(shown.counted.panel, /^\d+$/, 'hovering over the zone’s view, the count is back');
  // The daemon said so too: some analyses paused (moving or away), some not.
  const cams = seen.map((s) => s.a.camera).filter(Boolean);
  assert.ok(cams.some((c) => c.zones_paused && c.moving), 'an analysis while the camera moved');
  assert.ok(cams.some((c) => c.judged && !c.zones_paused), 'an analysis while it hovered over the zone’s view');
  assert.deepEqual(pageErrors, []);
});
