#!/usr/bin/env node
// A stand-in for skycountd, following docs/api.md: serves web/dist and mocks /api/* and,
// optionally, the Socket.IO events with a synthetic crowd. Used by scripts/budget.mjs (no
// socket) and for development without a box:
//
//   node scripts/mock-server.mjs [--port 8080] [--host 127.0.0.1] [--state live|waiting]
//                                [--rate 2] [--no-socket] [--whep URL]
//
// `npm run dev` proxies to http://127.0.0.1:8080 by default, so the two work together.
//
// The operator's actions work too (docs/api.md, "Operator actions"): POST /api/operator/freeze
// keeps the crowd as it is and serves it as a 1920×1080 picture of people (a BMP; browsers sniff
// it) at /api/operator/frames/<id>.jpg; POST / DELETE /api/operator/calibration (a proposal with a verdict), POST
// /api/operator/calibration/<id>/apply and
// PUT /api/operator/masks are validated with the API's limits and then change the analyses (the
// calibration's factor and scale, masked cells emptied) and `status.analysis`, `calibration`,
// `masks`. Analyses carry frame_width/height, tiles, raw_count, smoothed, band and calibrated.

import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const DIST = path.resolve(here, '..', 'dist');

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
};

const GRID_W = 80;
const GRID_H = 45;

/** A drifting synthetic crowd: a few Gaussian blobs of people. */
export class Crowd {
  constructor(seed = 1) {
    this.seed = seed;
    this.t = 0;
    this.blobs = [
      { x: 0.3, y: 0.55, s: 0.06, people: 120, vx: 0.011, vy: 0.004 },
      { x: 0.7, y: 0.4, s: 0.09, people: 200, vx: -0.008, vy: 0.006 },
      { x: 0.5, y: 0.8, s: 0.05, people: 60, vx: 0.005, vy: -0.007 },
    ];
  }

  step(dt = 1) {
    this.t += dt;
    for (const b of this.blobs) {
      b.x += b.vx * dt;
      b.y += b.vy * dt;
      if (b.x < 0.1 || b.x > 0.9) b.vx = -b.vx;
      if (b.y < 0.15 || b.y > 0.85) b.vy = -b.vy;
    }
    // the crowd slowly grows and shrinks
    this.blobs[1].people = 200 + 80 * Math.sin(this.t / 40);
  }

  /** Float density per cell (people), row-major GRID_W×GRID_H. */
  density() {
    const d = new Float64Array(GRID_W * GRID_H);
    for (const b of this.blobs) {
      const sx = b.s * GRID_W;
      const sy = b.s * GRID_W; // round blobs in picture space (16:9 cells are square)
      const norm = b.people / (2 * Math.PI * sx * sy);
      for (let r = 0; r < GRID_H; r++) {
        const dy = (r + 0.5 - b.y * GRID_H) / sy;
        if (Math.abs(dy) > 4) continue;
        for (let c = 0; c < GRID_W; c++) {
          const dx = (c + 0.5 - b.x * GRID_W) / sx;
          if (Math.abs(dx) > 4) continue;
          d[r * GRID_W + c] += norm * Math.exp(-0.5 * (dx * dx + dy * dy));
        }
      }
    }
    // cells far from everyone are exactly empty, as a real model's quantised output mostly is
    for (let i = 0; i < d.length; i++) if (d[i] < 0.002) d[i] = 0;
    return d;
  }
}

export function encodeGrid(d) {
  let max = 0;
  let sum = 0;
  for (const v of d) {
    if (v > max) max = v;
    sum += v;
  }
  const bytes = Buffer.alloc(d.length);
  if (max > 0) for (let i = 0; i < d.length; i++) bytes[i] = Math.round((d[i] / max) * 255);
  return { max, sum, data: bytes.toString('base64') };
}

/** A 24-bit BMP of the scene (field with dark dots where people are): any <img> decodes it. */
export function sceneBmp(d, w = 480, h = 270) {
  const rowBytes = Math.ceil((w * 3) / 4) * 4;
  const size = 54 + rowBytes * h;
  const buf = Buffer.alloc(size);
  buf.write('BM', 0);
  buf.writeUInt32LE(size, 2);
  buf.writeUInt32LE(54, 10);
  buf.writeUInt32LE(40, 14);
  buf.writeInt32LE(w, 18);
  buf.writeInt32LE(-h, 22); // top-down
  buf.writeUInt16LE(1, 26);
  buf.writeUInt16LE(24, 28);
  buf.writeUInt32LE(rowBytes * h, 34);
  let max = 0;
  for (const v of d) if (v > max) max = v;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const cell = d[Math.floor((y / h) * GRID_H) * GRID_W + Math.floor((x / w) * GRID_W)];
      const hash = ((x * 73856093) ^ (y * 19349663)) >>> 0;
      const person = max > 0 && (hash % 1000) / 1000 < (cell / max) * 0.35;
      const o = 54 + y * rowBytes + x * 3;
      const g = 110 + Math.round(40 * Math.sin(x / 37) * Math.cos(y / 23));
      if (person) {
        buf[o] = 40;
        buf[o + 1] = 40;
        buf[o + 2] = 60;
      } else {
        buf[o] = 60; // B
        buf[o + 1] = g; // G
        buf[o + 2] = 70; // R
      }
    }
  }
  return buf;
}

/** Native size of the mock drone's frames. */
export const FRAME_W = 1920;
export const FRAME_H = 1080;

/** A small deterministic PRNG (mulberry32). */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** People of the crowd as frame pixels: each blob's people around its centre (seeded). */
export function crowdPeople(blobs, seed, w = FRAME_W, h = FRAME_H) {
  const r = rng(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r());
  const out = [];
  for (const b of blobs) {
    const n = Math.round(b.people);
    for (let i = 0; i < n; i++) {
      const x = (b.x + gauss() * b.s) * w;
      const y = b.y * h + gauss() * b.s * w;
      if (x >= 4 && y >= 4 && x < w - 4 && y < h - 4) out.push([x, y]);
    }
  }
  return out;
}

/** A 24-bit BMP of a frame at its native size: a field with people seen from above. */
export function frameBmp(people, seed, w = FRAME_W, h = FRAME_H) {
  const rowBytes = Math.ceil((w * 3) / 4) * 4;
  const size = 54 + rowBytes * h;
  const buf = Buffer.alloc(size);
  buf.write('BM', 0);
  buf.writeUInt32LE(size, 2);
  buf.writeUInt32LE(54, 10);
  buf.writeUInt32LE(40, 14);
  buf.writeInt32LE(w, 18);
  buf.writeInt32LE(-h, 22); // top-down
  buf.writeUInt16LE(1, 26);
  buf.writeUInt16LE(24, 28);
  buf.writeUInt32LE(rowBytes * h, 34);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const o = 54 + y * rowBytes + x * 3;
      const g = 120 + Math.round(25 * Math.sin(x / 53) * Math.cos(y / 31) + 10 * Math.sin((x + y) / 7));
      buf[o] = 55; // B
      buf[o + 1] = g; // G
      buf[o + 2] = 80; // R
    }
  }
  const disc = (cx, cy, rad, b, g, r) => {
    for (let y = Math.max(0, Math.floor(cy - rad)); y <= Math.min(h - 1, Math.ceil(cy + rad)); y++) {
      for (let x = Math.max(0, Math.floor(cx - rad)); x <= Math.min(w - 1, Math.ceil(cx + rad)); x++) {
        if ((x - cx) ** 2 + (y - cy) ** 2 > rad * rad) continue;
        const o = 54 + y * rowBytes + x * 3;
        buf[o] = b;
        buf[o + 1] = g;
        buf[o + 2] = r;
      }
    }
  };
  const r = rng(seed ^ 0x5bd1e995);
  const shirts = [[200, 60, 40], [40, 40, 190], [230, 230, 230], [30, 160, 220], [120, 40, 140], [20, 20, 20]];
  for (const [x, y] of people) {
    const [b, g, rr] = shirts[Math.floor(r() * shirts.length)];
    disc(x, y + 4, 9, b, g, rr); // shoulders
    disc(x, y, 5.5, 30, 35, 45); // head
  }
  return buf;
}

/** Is (x, y) inside the polygon (even-odd rule)? */
export function inPolygon(x, y, pts) {
  let inside = false;
  for (let i = 0, j = pts.length - 1; i < pts.length; j = i++) {
    const [xi, yi] = pts[i];
    const [xj, yj] = pts[j];
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

/** The cells of a GRID_W×GRID_H grid whose centre is inside a mask are emptied. */
export function applyMasks(d, masks) {
  if (!masks.length) return d;
  for (let r = 0; r < GRID_H; r++) {
    for (let c = 0; c < GRID_W; c++) {
      const u = (c + 0.5) / GRID_W;
      const v = (r + 0.5) / GRID_H;
      if (masks.some((m) => inPolygon(u, v, m.points))) d[r * GRID_W + c] = 0;
    }
  }
  return d;
}

/** Checks a calibration request as docs/api.md says the daemon does; returns an error or null. */
export function checkCalibration(body, frame) {
  if (!body || typeof body !== 'object') return 'the body must be a JSON object {"frame_id", "box", "taps"}';
  const { box, taps } = body;
  if (!Array.isArray(box) || box.length !== 4 || !box.every((v) => typeof v === 'number' && Number.isFinite(v)))
    return 'box must be [x, y, width, height] in the frozen frame’s pixels';
  const [x, y, w, h] = box;
  if (w <= 0 || h <= 0 || x < 0 || y < 0 || x + w > frame.width || y + h > frame.height)
    return `the box must lie inside the ${frame.width}x${frame.height} frame`;
  if (!Array.isArray(taps) || taps.length < 5 || taps.length > 200) return `tap 5 to 200 people inside the box (got ${Array.isArray(taps) ? taps.length : 'none'})`;
  for (const t of taps) {
    if (!Array.isArray(t) || t.length !== 2 || !t.every((v) => typeof v === 'number' && Number.isFinite(v))) return 'each tap must be [x, y]';
    if (t[0] < x || t[1] < y || t[0] > x + w || t[1] > y + h) return `a tap at ${t[0]},${t[1]} is outside the box: tap only people inside it`;
  }
  return null;
}

/** Checks masks as docs/api.md says the daemon does; returns an error or null. */
export function checkMasks(body) {
  const masks = body?.masks;
  if (!Array.isArray(masks)) return 'the body must be {"masks": [{"name", "points"}]}';
  if (masks.length > 32) return `at most 32 masks (got ${masks.length})`;
  const names = new Set();
  for (const m of masks) {
    if (!m || typeof m.name !== 'string' || !m.name.trim()) return 'every mask needs a name';
    if (names.has(m.name)) return `the name "${m.name}" is used twice: names must be unique`;
    names.add(m.name);
    if (!Array.isArray(m.points) || m.points.length < 3 || m.points.length > 64) return `mask "${m.name}": 3 to 64 points`;
    for (const p of m.points) {
      if (!Array.isArray(p) || p.length !== 2 || !p.every((v) => typeof v === 'number' && v >= 0 && v <= 1))
        return `mask "${m.name}": points are [x, y] in fractions of the frame (0..1)`;
    }
  }
  return null;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

export function makeStatus(state, extra = {}) {
  const now = Date.now();
  return {
    state,
    state_since_ms: now - 42_000,
    error: null,
    source: 'rtmp://127.0.0.1:1935/live/drone',
    decoder: state === 'waiting' ? null : 'avdec_h264',
    codec: state === 'waiting' ? null : 'h264',
    execution_provider: 'cpu',
    model: { path: '/usr/share/skycount/models/csrnet-drone.onnx', input_width: 640, input_height: 360 },
    rates: { decoded_fps: state === 'live' ? 30 : 0, analysed_fps: state === 'live' ? 1.2 : 0, skipped_fps: state === 'live' ? 28.8 : 0 },
    totals: { frames_decoded: 9000, frames_skipped: 8640, frames_analysed: 360 },
    last_inference_ms: 812.5,
    last_staleness_ms: 845.1,
    uptime_s: 300,
    version: '0.1.0-mock',
    analysis: {
      width: state === 'waiting' ? null : 640,
      height: state === 'waiting' ? null : 360,
      scale: 0.333,
      from: 'default',
      tiles: 1,
      analysed_fps: state === 'live' ? 1.2 : 0,
    },
    calibration: null,
    masks: [],
    ...extra,
  };
}

/**
 * Starts the mock. Options: dist, host, port, socket (boolean), state, rate (analyses/s), whep.
 * Returns { server, url, close(), crowd }.
 */
export async function startMockServer(opts = {}) {
  const dist = opts.dist ?? DIST;
  const host = opts.host ?? '127.0.0.1';
  let state = opts.state ?? (opts.socket ? 'live' : 'waiting');
  const crowd = new Crowd();
  let latest = null; // { analysis, density }
  let seq = 0;
  // What the operator set (kept for as long as the mock runs).
  const op = { calibration: null, masks: [], frames: new Map(), nextFrame: 1, recent: [], proposals: new Map(), camera: null };
  const analysisReport = () => {
    const cal = op.calibration;
    const live = state === 'live';
    return {
      width: state === 'waiting' && !latest ? null : cal ? 1280 : 640,
      height: state === 'waiting' && !latest ? null : cal ? 720 : 360,
      scale: cal ? cal.scale : 0.333,
      from: cal ? 'calibration' : 'default',
      tiles: 1,
      analysed_fps: live ? (cal ? 0.8 : 1.2) : 0,
    };
  };
  const status = () => makeStatus(state, { analysis: analysisReport(), calibration: op.calibration, masks: op.masks });
  const readJson = (req) =>
    new Promise((resolve) => {
      let data = '';
      req.on('data', (c) => (data += c));
      req.on('end', () => {
        try {
          resolve(JSON.parse(data));
        } catch {
          resolve(undefined);
        }
      });
    });

  const hostOf = (req) => (req.headers.host ?? `${host}`).replace(/:\d+$/, '');
  const json = (res, code, body) => {
    res.writeHead(code, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
    res.end(JSON.stringify(body));
  };

  const operator = async (req, res, p) => {
    const m = req.method;
    if (p === '/api/operator/freeze' && m === 'POST') {
      if (!latest && state !== 'live') return json(res, 409, { error: 'no frame has been decoded yet: wait until the drone streams' });
      const id = `f${op.nextFrame++}`;
      const seed = (Date.now() ^ (op.nextFrame * 2654435761)) >>> 0;
      const people = crowdPeople(crowd.blobs, seed);
      op.frames.set(id, { width: FRAME_W, height: FRAME_H, people, seed, bmp: null });
      if (op.frames.size > 4) op.frames.delete(op.frames.keys().next().value);
      return json(res, 200, { frame_id: id, width: FRAME_W, height: FRAME_H, image_url: `/api/operator/frames/${id}.jpg` });
    }
    const fm = /^\/api\/operator\/frames\/([^/]+)\.jpg$/.exec(p);
    if (fm && m === 'GET') {
      const f = op.frames.get(decodeURIComponent(fm[1]));
      if (!f) return json(res, 404, { error: `no frozen frame ${fm[1]}: freeze one again` });
      f.bmp ??= frameBmp(f.people, f.seed);
      res.writeHead(200, { 'Content-Type': 'image/bmp', 'Cache-Control': 'no-store', 'Content-Length': f.bmp.length });
      return res.end(f.bmp);
    }
    if (p === '/api/operator/calibration' && m === 'POST') {
      const body = await readJson(req);
      const f = body && op.frames.get(String(body.frame_id));
      if (body && !f) return json(res, 404, { error: `no frozen frame ${body.frame_id}: freeze one again` });
      const err = checkCalibration(body, f ?? { width: FRAME_W, height: FRAME_H });
      if (err) return json(res, 400, { error: err });
      const [bx, by, bw, bh] = body.box;
      // what "the model" sees in the box: the crowd's people there, seen a little short
      const modelInBox = f.people.filter(([x, y]) => x >= bx && y >= by && x <= bx + bw && y <= by + bh).length * 0.9 + 0.5;
      const taps = body.taps.length;
      const factor = Math.min(3, Math.max(0.33, taps / modelInBox));
      const agreement = Math.max(0, 1 - Math.abs(modelInBox - taps) / taps);
      // The verdict the daemon's analyse::calibrate::judge gives (its thresholds: the box check
      // 0.67 to 1.5, 10 taps for good), with a band from the same ratio: wider than the mock
      // model's uncalibrated 0.5 to 2 is refused.
      const q = modelInBox / taps;
      const range = q < 0.67 ? [0.8, Math.min(6, 1 / q)] : q > 1.5 ? [Math.max(0.2, 1 / q), 1.2] : taps < 10 ? [0.7, 1.4] : [0.8, 1.2];
      const refused = range[1] / range[0] > 4 + 1e-9;
      const level = refused ? 'refused' : q < 0.67 || q > 1.5 || taps < 10 ? 'doubtful' : 'good';
      const verdict = {
        level,
        reason: `The model counts ${Math.round(modelInBox)} people in your box, where you tapped ${taps} (${Math.round(agreement * 100)} % agreement): the truth is expected between ${range[0]}× and ${range[1]}× the count.`,
        advice: level === 'good' ? 'Apply it.' : q > 1.5 ? 'Tap every person inside the box.' : taps < 10 ? 'Tap more people: 10 or more.' : 'Check that every tap is on a person.',
      };
      const d = new Date();
      const hhmm = `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
      const calibration = {
        at_ms: Date.now(),
        scale: 0.667,
        factor: Math.round(factor * 100) / 100,
        frame_width: f.width,
        frame_height: f.height,
        box: body.box,
        taps,
        model_in_box: Math.round(modelInBox * 10) / 10,
        agreement: Math.round(agreement * 100) / 100,
        expected_error: 0.25,
        range,
        message: `calibrated ${hhmm}: scale 1280x720, factor ${factor.toFixed(2)}, agreement in your box ${Math.round(agreement * 100)} %`,
        verdict,
      };
      const id = `${Date.now()}-${op.nextFrame++}`;
      op.proposals.set(id, calibration);
      const now = f.people.length * 0.9;
      const proposed = now * factor;
      return json(res, 200, {
        id,
        calibration,
        preview: {
          now: { count: now, band: [now * 0.5, now * 2], width: 640, height: 360, calibrated: false },
          proposed: { count: proposed, band: [proposed * range[0], proposed * range[1]], width: 853, height: 480, calibrated: !refused },
        },
        expires_in_s: 600,
      });
    }
    const am = /^\/api\/operator\/calibration\/([^/]+)\/apply$/.exec(p);
    if (am && m === 'POST') {
      const id = decodeURIComponent(am[1]);
      const c = op.proposals.get(id);
      if (!c) return json(res, 404, { error: 'no such calibration to apply: it expired or was applied already; check again' });
      if (c.verdict.level === 'refused') return json(res, 422, { error: `this calibration was refused: ${c.verdict.reason}` });
      op.proposals.delete(id);
      op.calibration = { ...c, at_ms: Date.now() };
      op.recent = [];
      io?.emit('status', status());
      return json(res, 200, op.calibration);
    }
    if (p === '/api/operator/calibration' && m === 'DELETE') {
      op.calibration = null;
      op.recent = [];
      io?.emit('status', status());
      return json(res, 200, { ok: true });
    }
    if (p === '/api/operator/masks' && m === 'PUT') {
      const body = await readJson(req);
      const err = checkMasks(body);
      if (err) return json(res, 400, { error: err });
      op.masks = body.masks.map((mk) => ({ name: mk.name, points: mk.points }));
      op.recent = [];
      io?.emit('status', status());
      return json(res, 200, { masks: op.masks });
    }
    return json(res, 404, { error: `not found: ${m} ${p}` });
  };

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const p = url.pathname;
    if (p.startsWith('/socket.io')) return; // handled by socket.io when attached; else 404 below
    if (p === '/api/stream/info') {
      const h = hostOf(req);
      return json(res, 200, {
        path: 'live/drone',
        // Port 9 (discard) refuses connections: WebRTC "cannot play", the snapshot stands in.
        whep_url: opts.whep ?? `http://${h}:9/live/drone/whep`,
        player_url: `http://${h}:8889/live/drone/`,
        // The mock treats every browser as the signed-in operator (no passphrase to type).
        operator: true,
        rtmp_url: `rtmp://${h}:1935/live/drone`,
        snapshot_url: '/api/snapshot.jpg',
      });
    }
    if (p === '/api/auth/session') return json(res, 200, { operator: true, expires_in_s: 3600, changeable: false, unavailable: null });
    if (p === '/api/auth/login' || p === '/api/auth/logout') return json(res, 200, { operator: p.endsWith('login') });
    if (p === '/api/status') return json(res, 200, status());
    if (p.startsWith('/api/operator/')) return operator(req, res, p);
    if (p === '/api/health') return json(res, 200, { ok: true });
    if (p === '/api/snapshot.jpg') {
      if (!latest) return json(res, 404, { error: 'no analysed frame yet' });
      const bmp = sceneBmp(latest.density);
      res.writeHead(200, { 'Content-Type': 'image/bmp', 'Cache-Control': 'no-store', 'Content-Length': bmp.length });
      return res.end(bmp);
    }
    if (p === '/metrics') {
      res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4' });
      return res.end(`skycount_analyses_total ${seq}\n`);
    }
    if (p.startsWith('/api/')) return json(res, 404, { error: 'not found' });
    // static files, index.html for anything else
    let file = path.join(dist, decodeURIComponent(p));
    if (!file.startsWith(dist)) return json(res, 403, { error: 'forbidden' });
    if (!fs.existsSync(file) || fs.statSync(file).isDirectory()) file = path.join(dist, 'index.html');
    fs.readFile(file, (err, body) => {
      if (err) {
        res.writeHead(404, { 'Content-Type': 'text/plain' });
        return res.end('web/dist is missing: run npm run build');
      }
      const immutable = file.includes(`${path.sep}assets${path.sep}`);
      res.writeHead(200, {
        'Content-Type': TYPES[path.extname(file)] ?? 'application/octet-stream',
        'Cache-Control': immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
      });
      res.end(body);
    });
  });

  let io = null;
  let timer = null;
  if (opts.socket) {
    const { Server } = await import('socket.io');
    io = new Server(server, { serveClient: false, cors: { origin: true } });
    const analyse = () => {
      if (state !== 'live') return;
      crowd.step(1);
      const density = applyMasks(crowd.density(), op.masks);
      const cal = op.calibration;
      const raw = density.reduce((a, b) => a + b, 0);
      if (cal) for (let i = 0; i < density.length; i++) density[i] *= cal.factor;
      const g = encodeGrid(density);
      seq++;
      op.recent.push(g.sum);
      if (op.recent.length > 8) op.recent.shift();
      const smoothed = median(op.recent);
      const spread = Math.max(...op.recent) - Math.min(...op.recent);
      const err = cal ? cal.expected_error : 0.4;
      const band = [Math.max(0, smoothed * (1 - err) - spread / 2), smoothed * (1 + err) + spread / 2];
      const inference = 700 + Math.random() * 200;
      latest = {
        density,
        analysis: {
          seq,
          count: g.sum,
          inference_ms: inference,
          staleness_ms: inference + 30 + Math.random() * 20,
          frame_pts_ms: seq * 833,
          wall_time_ms: Date.now(),
          input_width: cal ? 1280 : 640,
          input_height: cal ? 720 : 360,
          frame_width: FRAME_W,
          frame_height: FRAME_H,
          tiles: 1,
          raw_count: raw,
          smoothed,
          band,
          calibrated: cal !== null,
          camera: op.camera,
          density: { width: GRID_W, height: GRID_H, max: g.max, data: g.data },
        },
      };
      io.emit('analysis', latest.analysis);
    };
    io.on('connection', (s) => {
      s.emit('status', status());
      if (latest) s.emit('analysis', latest.analysis);
    });
    timer = setInterval(analyse, 1000 / (opts.rate ?? 1.2));
    const statusTimer = setInterval(() => io.emit('status', status()), 2000);
    timer.unref?.();
    statusTimer.unref?.();
    const stop = timer;
    timer = { clear: () => (clearInterval(stop), clearInterval(statusTimer)) };
  }

  server.on('request', (req, res) => {
    const p = (req.url ?? '').split('?')[0];
    if (p.startsWith('/socket.io') && !io) {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('no socket in this mock');
    }
  });

  await new Promise((resolve) => server.listen(opts.port ?? 0, host, resolve));
  const { port } = server.address();
  return {
    server,
    crowd,
    op,
    url: `http://${host}:${port}`,
    setState: (s) => {
      state = s;
      io?.emit('status', status());
    },
    /** `analysis.camera` from the next analysis on (null: an older daemon's, none). */
    setCamera: (c) => {
      op.camera = c;
    },
    close: () =>
      new Promise((resolve) => {
        timer?.clear();
        io?.close();
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}

// CLI
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const get = (name, dflt) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : dflt;
  };
  const m = await startMockServer({
    host: get('host', '127.0.0.1'),
    port: Number(get('port', '8080')),
    socket: !args.includes('--no-socket'),
    state: get('state', undefined),
    rate: Number(get('rate', '1.2')),
    whep: get('whep', undefined),
  });
  console.log(`mock skycountd on ${m.url} (dist: ${DIST})`);
}
