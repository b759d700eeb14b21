#!/usr/bin/env node
// Smoke test of the live-video path without MediaMTX: a second Chromium page plays the part
// of the WHEP server (it answers the dashboard's offer and sends an animated canvas), behind a
// cross-origin HTTP endpoint with CORS like MediaMTX's. Checks that the dashboard plays the
// video in its <video>, lays the heatmap over the picture, falls back to the snapshot when the
// sender goes away, comes back, DELETEs sessions, and shows "no stream" on 404.
//
//   npm run build && node scripts/whep-smoke.mjs

import http from 'node:http';
import fs from 'node:fs';
import { startMockServer } from './mock-server.mjs';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const { chromium } = await import('playwright-core');
if (!fs.existsSync(CHROMIUM)) {
  console.error(`no Chromium at ${CHROMIUM}`);
  process.exit(2);
}

let mode = 'serve'; // serve | 404
const events = [];
let sender = null;

const whep = http.createServer(async (req, res) => {
  const cors = {
    'Access-Control-Allow-Origin': '*',
    'Access-Control-Allow-Methods': 'OPTIONS, GET, POST, PATCH, DELETE',
    'Access-Control-Allow-Headers': 'Authorization, Content-Type, If-Match',
    'Access-Control-Expose-Headers': 'Link, Location, ETag',
  };
  if (req.method === 'OPTIONS') {
    res.writeHead(204, cors);
    return res.end();
  }
  if (req.method === 'DELETE') {
    events.push(`DELETE ${req.url}`);
    res.writeHead(200, cors);
    return res.end();
  }
  if (req.method === 'POST' && req.url === '/live/drone/whep') {
    let body = '';
    for await (const chunk of req) body += chunk;
    events.push(`POST ${req.headers['content-type']}`);
    if (mode === '404') {
      res.writeHead(404, { ...cors, 'Content-Type': 'application/json' });
      return res.end('{"error":"no one is publishing to path \'live/drone\'"}');
    }
    try {
      const answer = await sender.evaluate((offer) => window.answerOffer(offer), body);
      const id = Math.random().toString(36).slice(2);
      res.writeHead(201, { ...cors, 'Content-Type': 'application/sdp', Location: `/live/drone/whep/${id}` });
      return res.end(answer);
    } catch (e) {
      res.writeHead(500, cors);
      return res.end(String(e));
    }
  }
  res.writeHead(404, cors);
  res.end();
});
await new Promise((r) => whep.listen(0, '127.0.0.1', r));
const whepUrl = `http://127.0.0.1:${whep.address().port}/live/drone/whep`;

const mock = await startMockServer({ socket: true, state: 'live', rate: 2, whep: whepUrl });
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
    // both peers are on loopback in one browser: plain host candidates instead of mDNS names
    '--disable-features=WebRtcHideLocalIpsWithMdns',
  ],
});

let failed = 0;
const check = (ok, what) => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failed++;
};

try {
  const senderCtx = await browser.newContext();
  sender = await senderCtx.newPage();
  await sender.setContent('<canvas id="c" width="1280" height="720"></canvas>');
  await sender.evaluate(() => {
    const c = document.getElementById('c');
    const g = c.getContext('2d');
    let f = 0;
    setInterval(() => {
      g.fillStyle = `hsl(${f++ % 360} 60% 40%)`;
      g.fillRect(0, 0, 1280, 720);
      g.fillStyle = '#fff';
      g.fillRect((f * 8) % 1280, 300, 80, 80);
    }, 33);
    const stream = c.captureStream(30);
    window.pcs = [];
    window.answerOffer = async (offer) => {
      const pc = new RTCPeerConnection({ iceServers: [] });
      window.pcs.push(pc);
      await pc.setRemoteDescription({ type: 'offer', sdp: offer });
      for (const t of pc.getTransceivers()) {
        if (t.receiver.track.kind === 'video') {
          t.direction = 'sendonly';
          await t.sender.replaceTrack(stream.getVideoTracks()[0]);
        } else t.direction = 'inactive';
      }
      await pc.setLocalDescription(await pc.createAnswer());
      await new Promise((r) => {
        if (pc.iceGatheringState === 'complete') return r();
        pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && r());
        setTimeout(r, 2000);
      });
      return pc.localDescription.sdp;
    };
  });

  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  page.on('pageerror', (e) => console.log('pageerror', e.message));
  await page.goto(mock.url + '/');
  const state = () => page.getAttribute('[data-testid="video-state"]', 'data-state');

  await page.waitForSelector('[data-testid="video-state"][data-state="live"]', { timeout: 20_000 }).catch(() => null);
  check((await state()) === 'live', 'live video plays in the <video> element');
  check(events[0] === 'POST application/sdp', 'offer POSTed as application/sdp');
  const v = await page.evaluate(() => {
    const video = document.querySelector('[data-testid="video"]');
    const canvas = document.querySelector('[data-testid="heatmap"]');
    const vb = video.getBoundingClientRect();
    const cb = canvas.getBoundingClientRect();
    const { contentRect } = window.__skycount;
    const r = contentRect(video.videoWidth, video.videoHeight, vb.width, vb.height);
    return {
      tag: video.tagName,
      muted: video.muted,
      playsInline: video.playsInline,
      w: video.videoWidth,
      h: video.videoHeight,
      expected: { x: vb.x + r.x, y: vb.y + r.y, w: r.w, h: r.h },
      canvas: { x: cb.x, y: cb.y, w: cb.width, h: cb.height },
      snapshot: !!document.querySelector('[data-testid="snapshot"]'),
    };
  });
  check(v.tag === 'VIDEO' && v.muted && v.playsInline, 'native <video>, muted, playsinline');
  // WebRTC may start below the sent resolution while it estimates bandwidth; the shape holds.
  check(v.w > 0 && Math.abs(v.w / v.h - 16 / 9) < 0.02, `video picture ${v.w}x${v.h} (16:9)`);
  const near = (a, b) => Math.abs(a - b) < 1.01;
  check(
    near(v.canvas.x, v.expected.x) && near(v.canvas.y, v.expected.y) && near(v.canvas.w, v.expected.w) && near(v.canvas.h, v.expected.h),
    `heatmap over the picture: ${JSON.stringify(v.canvas)} vs ${JSON.stringify(v.expected)}`,
  );
  check(!v.snapshot, 'no snapshot while the video plays');

  // The sender goes away: fallback to the snapshot, then the video returns by itself.
  await sender.evaluate(() => window.pcs.forEach((pc) => pc.close()));
  await page.waitForSelector('[data-testid="video-state"][data-state="snapshot"]', { timeout: 20_000 }).catch(() => null);
  check((await state()) === 'snapshot', 'snapshot stands in when the video stops');
  check(events.some((e) => e.startsWith('DELETE /live/drone/whep/')), 'session DELETEd on teardown');
  await page.waitForSelector('[data-testid="video-state"][data-state="live"]', { timeout: 30_000 }).catch(() => null);
  check((await state()) === 'live', 'video reconnects on its own');

  // Nobody publishes: MediaMTX answers 404.
  mode = '404';
  await sender.evaluate(() => window.pcs.forEach((pc) => pc.close()));
  await page
    .waitForSelector('[data-testid="video-link"][data-value="no-stream"]', { timeout: 30_000 })
    .catch(() => null);
  check((await page.getAttribute('[data-testid="video-link"]', 'data-value')) === 'no-stream', '404 reported as no stream');
  check((await state()) === 'snapshot', 'snapshot while there is no stream');
  mode = 'serve';
  mock.setState('waiting');
  mock.setState('live'); // the daemon sees the drone again: the dashboard retries at once
  await page.waitForSelector('[data-testid="video-state"][data-state="live"]', { timeout: 15_000 }).catch(() => null);
  check((await state()) === 'live', 'video back when the drone returns');
  await ctx.close();
  await senderCtx.close();
} finally {
  await browser.close();
  await mock.close();
  whep.close();
}
console.log(`whep smoke: ${failed ? `${failed} FAILED` : 'ok'} (${events.length} WHEP requests)`);
process.exit(failed ? 1 : 0);
