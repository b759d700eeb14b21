#!/usr/bin/env node
// A stand-in for skycountd, following docs/api.md: serves web/dist and mocks /api/* and,
// optionally, the Socket.IO events with a synthetic crowd. Used by scripts/budget.mjs (no
// socket) and for development without a box:
//
//   node scripts/mock-server.mjs [--port 8080] [--host 127.0.0.1] [--state live|waiting]
//                                [--rate 2] [--no-socket] [--whep URL]
//
// `npm run dev` proxies to http://127.0.0.1:8080 by default, so the two work together.

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
    model: { path: '/usr/share/skycount/models/csrnet.onnx', input_width: 640, input_height: 360 },
    rates: { decoded_fps: state === 'live' ? 30 : 0, analysed_fps: state === 'live' ? 1.2 : 0, skipped_fps: state === 'live' ? 28.8 : 0 },
    totals: { frames_decoded: 9000, frames_skipped: 8640, frames_analysed: 360 },
    last_inference_ms: 812.5,
    last_staleness_ms: 845.1,
    uptime_s: 300,
    version: '0.1.0-mock',
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

  const hostOf = (req) => (req.headers.host ?? `${host}`).replace(/:\d+$/, '');
  const json = (res, code, body) => {
    res.writeHead(code, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
    res.end(JSON.stringify(body));
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
        rtmp_url: `rtmp://${h}:1935/live/drone`,
        snapshot_url: '/api/snapshot.jpg',
      });
    }
    if (p === '/api/status') return json(res, 200, makeStatus(state));
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
      const density = crowd.density();
      const g = encodeGrid(density);
      seq++;
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
          input_width: 640,
          input_height: 360,
          density: { width: GRID_W, height: GRID_H, max: g.max, data: g.data },
        },
      };
      io.emit('analysis', latest.analysis);
    };
    io.on('connection', (s) => {
      s.emit('status', makeStatus(state));
      if (latest) s.emit('analysis', latest.analysis);
    });
    timer = setInterval(analyse, 1000 / (opts.rate ?? 1.2));
    const statusTimer = setInterval(() => io.emit('status', makeStatus(state)), 2000);
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
    url: `http://${host}:${port}`,
    setState: (s) => {
      state = s;
      io?.emit('status', makeStatus(state));
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
