// What the end-to-end tests in this directory (dashboard.e2e.mjs, operator.e2e.mjs) share: the
// paths and browser settings, bounded waits, ports, HTTP, processes (nothing started here outlives
// the test process), and the parts of the set-up both make the same way (nginx-rtmp, the live
// publisher, skycountd, Node's own Socket.IO client, Chromium, the tear-down).
//
// Per-test state stays in each test file and is passed in: the `env` object (tmp, ports,
// processes, page, socket), the analyses and statuses Node has seen, the daemon's instance count.
//
// SKYCOUNTD_BIN overrides ../target/debug/skycountd; CHROMIUM overrides /usr/bin/chromium.
// Screenshots and the logs of every process go to ../artifacts/e2e/.

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { test } from 'node:test';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { io } from 'socket.io-client';
import { chromium } from 'playwright-core';

export const WEB = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const REPO = path.resolve(WEB, '..');
export const ARTIFACTS = path.join(REPO, 'artifacts', 'e2e');
export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
export const DEFAULT_BIN = path.join(REPO, 'target', 'debug', 'skycountd');
export const BIN = process.env.SKYCOUNTD_BIN ?? DEFAULT_BIN;
/** The dashboard the daemons serve: web/dist, or SKYCOUNT_WEB_DIST (another build, e.g. an older
 * one to see a new test fail against it). */
export const WEB_DIST = process.env.SKYCOUNT_WEB_DIST ?? path.join(WEB, 'dist');
export const MODEL = path.join(REPO, 'models', 'out', 'csrnet-tiny.onnx');
export const RTMP_MODULE = '/usr/lib/nginx/modules/ngx_rtmp_module.so';
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];
export const DESKTOP = { width: 1440, height: 900 };
export const PHONE = { width: 390, height: 844 };

// ---------------------------------------------------------------------------------------------
// Bounded waits.

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Rejects after `ms` unless `promise` settled. */
export function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Polls `fn` until it returns something truthy, for at most `timeout` ms; an error with
 * `fatal` set (see `fatal()`) ends the wait at once. */
export async function waitFor(what, fn, { timeout = 15_000, every = 100 } = {}) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      last = v;
    } catch (e) {
      if (e?.fatal) throw e;
      last = e;
    }
    if (Date.now() >= end) {
      const why = last instanceof Error ? last.message : JSON.stringify(last);
      throw new Error(`timed out after ${timeout} ms waiting for ${what} (last: ${why})`);
    }
    await sleep(every);
  }
}

/** An error that ends a `waitFor` at once (a process it waits for is gone). */
export const fatal = (message) => Object.assign(new Error(message), { fatal: true });

// ---------------------------------------------------------------------------------------------
// Ports and HTTP.

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export function portOpen(port) {
  return new Promise((resolve) => {
    const c = net.connect({ host: '127.0.0.1', port });
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
    c.setTimeout(1000, () => {
      c.destroy();
      resolve(false);
    });
  });
}

/** The ports of one run, all free on loopback, in `env`: RTMP, HTTP, WHEP, MediaMTX's API and
 * metrics (nothing listens on the last three: no MediaMTX in these tests), and the RTMP URL. */
export async function allocatePorts(env) {
  env.rtmpPort = await freePort();
  env.httpPort = await freePort();
  env.whepPort = await freePort();
  env.mtxApiPort = await freePort();
  env.mtxMetricsPort = await freePort();
  env.rtmpUrl = `rtmp://127.0.0.1:${env.rtmpPort}/live/drone`;
}

/**
 * An HTTP request to 127.0.0.1:`port` (with `headers`, e.g. the operator's Cookie): { status,
 * type, body (Buffer), json (null if not JSON), cookie (the Set-Cookie pair, if any) }.
 */
export async function request(port, method, p, body, timeout = 10_000, headers = {}) {
  const res = await fetch(`http://127.0.0.1:${port}${p}`, {
    method,
    headers: body === undefined ? headers : { 'Content-Type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(timeout),
  });
  const buf = Buffer.from(await res.arrayBuffer());
  let json = null;
  try {
    json = JSON.parse(buf.toString('utf8'));
  } catch {
    /* not JSON */
  }
  const cookie = (res.headers.get('set-cookie') ?? '').split(';')[0] || null;
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: buf, json, cookie };
}

// ---------------------------------------------------------------------------------------------
// Processes.

const procs = new Set();

/** Starts a process with its output in `log`; it is killed at the end whatever happens. */
export function startProc(name, cmd, args, { env = process.env, log } = {}) {
  const fd = fs.openSync(log, 'a');
  const child = spawn(cmd, args, { env, stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  const p = { name, child, log, code: undefined };
  p.exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      p.code = code ?? signal;
      procs.delete(p);
      resolve(p.code);
    });
    child.once('error', (e) => {
      p.code = `spawn error: ${e.message}`;
      procs.delete(p);
      resolve(p.code);
    });
  });
  p.alive = () => p.code === undefined;
  procs.add(p);
  return p;
}

/** SIGTERM (or `signal`), then SIGKILL after `graceMs`; resolves once the process is gone. */
export async function stopProc(p, { signal = 'SIGTERM', graceMs = 5000 } = {}) {
  if (!p || !p.alive()) return;
  try {
    p.child.kill(signal);
  } catch {
    /* already gone */
  }
  const done = await Promise.race([p.exited.then(() => true), sleep(graceMs).then(() => false)]);
  if (!done) {
    try {
      p.child.kill('SIGKILL');
    } catch {
      /* already gone */
    }
    await Promise.race([p.exited, sleep(3000)]);
  }
}

export function tail(file, lines = 25) {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

// Last line of defence: nothing a test started outlives it.
process.on('exit', () => {
  for (const p of procs) {
    try {
      p.child.kill('SIGKILL');
    } catch {
      /* gone */
    }
  }
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    for (const p of procs) p.child.kill('SIGKILL');
    process.exit(130);
  });
}

// ---------------------------------------------------------------------------------------------
// Set-up and tear-down.

/** The newest modification time under `p`. */
export function newest(p) {
  const st = fs.statSync(p);
  if (!st.isDirectory()) return st.mtimeMs;
  return Math.max(st.mtimeMs, ...fs.readdirSync(p).map((n) => newest(path.join(p, n))));
}

/** web/dist from the current sources: built when missing or older than them. */
export function ensureDist(t) {
  if (process.env.SKYCOUNT_WEB_DIST) return;
  const index = path.join(WEB, 'dist', 'index.html');
  const sources = ['src', 'index.html', 'vite.config.ts', 'package.json'].map((n) => path.join(WEB, n));
  if (fs.existsSync(index) && fs.statSync(index).mtimeMs >= Math.max(...sources.map(newest))) return;
  t?.diagnostic?.('web/dist missing or older than the sources: npm run build');
  const r = spawnSync('npm', ['run', 'build'], { cwd: WEB, encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0) throw new Error(`npm run build failed:\n${r.stdout}\n${r.stderr}`);
}

/** Whether `tool` is on the PATH. */
/**
 * What a spec that runs skycountd, nginx-rtmp and Chromium needs; throws with every missing piece
 * and how to get it, so that a missing tool is never taken for a failing dashboard.
 */
export function checkPrerequisites(suite) {
  const problems = [];
  if (!process.env.ORT_DYLIB_PATH) problems.push('ORT_DYLIB_PATH is not set: export ORT_DYLIB_PATH=$(.venv/bin/python models/ort_lib.py) at the repository root');
  else if (!fs.existsSync(process.env.ORT_DYLIB_PATH)) problems.push(`ORT_DYLIB_PATH=${process.env.ORT_DYLIB_PATH} does not exist`);
  if (!fs.existsSync(MODEL)) problems.push(`${MODEL} is missing: run scripts/setup.sh`);
  if (!fs.existsSync(CHROMIUM)) problems.push(`no Chromium at ${CHROMIUM}: apt-get install chromium`);
  if (!fs.existsSync(RTMP_MODULE)) problems.push(`no ${RTMP_MODULE}: apt-get install nginx libnginx-mod-rtmp`);
  if (!fs.existsSync(BIN)) problems.push(`no skycountd at ${BIN}: cargo build (or set SKYCOUNTD_BIN)`);
  for (const tool of ['nginx', 'gst-launch-1.0']) if (!hasCommand(tool)) problems.push(`${tool} is not installed`);
  if (problems.length) throw new Error(`cannot run the ${suite} end-to-end test:\n  ${problems.join('\n  ')}`);
}

/**
 * `step(name, body)`: a test of `timeout` ms that, when it fails, keeps a screenshot of the page
 * as artifacts/e2e/FAILED-<suite>-<name>.png.
 */
export function stepper(env, suite, screenshot, timeout) {
  return (name, body) =>
    test(name, { timeout }, async (t) => {
      try {
        await body(t);
      } catch (e) {
        if (env.page) await screenshot(`FAILED-${suite}-${name.replace(/[^a-z0-9]+/gi, '-').slice(0, 50)}.png`).catch(() => undefined);
        throw e;
      }
    });
}

export const hasCommand = (tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;

/** The artifacts directory, without the failure screenshots of an earlier run named `prefix`*. */
export function cleanArtifacts(prefix) {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  for (const f of fs.readdirSync(ARTIFACTS)) if (f.startsWith(prefix)) fs.rmSync(path.join(ARTIFACTS, f));
}

/** nginx with Debian's RTMP module on env.rtmpPort (config and logs in env.tmp), as env.nginx. */
export async function startNginx(env) {
  const nginxConf = path.join(env.tmp, 'nginx.conf');
  fs.writeFileSync(
    nginxConf,
    `load_module ${RTMP_MODULE};
daemon off;
master_process off;
worker_processes 1;
pid ${env.tmp}/nginx.pid;
error_log ${env.tmp}/error.log info;
events { worker_connections 64; }
rtmp { server { listen 127.0.0.1:${env.rtmpPort}; chunk_size 4096; application live { live on; record off; } } }
`,
  );
  env.nginx = startProc('nginx', 'nginx', ['-c', nginxConf, '-p', env.tmp], { log: path.join(env.tmp, 'nginx.log') });
  await waitFor(`nginx-rtmp on 127.0.0.1:${env.rtmpPort}`, async () => {
    if (!env.nginx.alive()) throw fatal(`nginx exited: ${tail(path.join(env.tmp, 'error.log'))}`);
    return portOpen(env.rtmpPort);
  });
}

/** The drone: gst-launch-1.0 publishing a live H.264 "ball" (1280×720 unless `frame` says) to
 * env.rtmpUrl, its output in `log`, as env.publisher. */
export function startPublisher(env, log, frame = { w: 1280, h: 720 }) {
  const pipeline = `videotestsrc is-live=true pattern=ball ! video/x-raw,width=${frame.w},height=${frame.h},framerate=30/1 ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 bframes=0 ! video/x-h264,profile=baseline ! h264parse ! flvmux streamable=true ! rtmp2sink location=${env.rtmpUrl}`;
  env.publisher = startProc('gst-launch-1.0', 'gst-launch-1.0', ['-q', ...pipeline.split(' ')], { log });
}

/** The daemon's environment: ours without SKYCOUNT_* (the daemon takes those for configuration). */
export function daemonEnv() {
  const e = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('SKYCOUNT_') || k === 'NOTIFY_SOCKET' || k === 'JOURNAL_STREAM') continue;
    e[k] = v;
  }
  e.RUST_LOG = process.env.RUST_LOG ?? 'info';
  return e;
}

/**
 * skycountd with env.config, its output in `log`, as env.daemon; resolves once it answers
 * /api/status on env.httpPort (each request given `requestTimeout` ms), within 20 s (`what` names
 * the wait).
 */
export async function startDaemon(env, { log, what, requestTimeout }) {
  // The flight history in the test's directory, not the machine's /var/lib/skycount.
  const daemonVars = { ...daemonEnv(), SKYCOUNT_HISTORY__PATH: path.join(env.tmp, 'history.sqlite') };
  env.daemon = startProc('skycountd', BIN, ['--config', env.config, 'run'], { env: daemonVars, log });
  await waitFor(
    what,
    async () => {
      if (!env.daemon.alive()) throw fatal(`skycountd exited (${env.daemon.code}):\n${tail(log)}`);
      return (await request(env.httpPort, 'GET', '/api/status', undefined, requestTimeout)).status === 200;
    },
    { timeout: 20_000, every: 100 },
  ).catch((e) => {
    throw new Error(`${e.message}\n--- ${log}:\n${tail(log)}`);
  });
}

/**
 * Node's own Socket.IO client to the daemon, as env.socket: every analysis goes to `seen` as
 * { instance: instance(), seq, t (arrival, ms), a }, every status to `statuses`, in arrival order.
 */
export function connectSocket(env, { seen, statuses, instance }) {
  env.socket = io(`http://127.0.0.1:${env.httpPort}`, {
    transports: ['websocket'],
    reconnection: true,
    reconnectionDelay: 200,
    reconnectionDelayMax: 1000,
    timeout: 5000,
  });
  env.socket.on('analysis', (a) => {
    seen.push({ instance: instance(), seq: a.seq, t: Date.now(), a });
    if (seen.length > 20_000) seen.splice(0, 10_000);
  });
  env.socket.on('status', (s) => {
    statuses.push(s);
    if (statuses.length > 1000) statuses.splice(0, 500);
  });
}

/** The last analysis in `seen` from skycountd instance `instance`, or null. */
export function lastSeenOf(seen, instance) {
  for (let i = seen.length - 1; i >= 0; i--) if (seen[i].instance === instance) return seen[i];
  return null;
}

/** The analysis `seq` in `seen` from skycountd instance `instance`, or null. */
export function findSeenOf(seen, seq, instance) {
  for (let i = seen.length - 1; i >= 0; i--) if (seen[i].instance === instance && seen[i].seq === seq) return seen[i];
  return null;
}

/** Chromium with a desktop-sized page, as env.browser, env.ctx, env.page; the page's uncaught
 * errors go to `pageErrors`. */
export async function launchBrowser(env, pageErrors) {
  env.browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 60_000 });
  env.ctx = await env.browser.newContext({ viewport: DESKTOP });
  env.page = await env.ctx.newPage();
  env.page.on('pageerror', (e) => pageErrors.push(e.message));
}

/** The operator passphrase the e2e configurations set ([operator] passphrase). */
export const OPERATOR_PASSPHRASE = 'e2e-operator-pin';

/** The [operator] section of the e2e configurations: the passphrase, files in env.tmp. */
export const operatorToml = (env) => `[operator]
passphrase = "${OPERATOR_PASSPHRASE}"
hash_file = "${env.tmp}/operator.phc"
banner_file = "${env.tmp}/operator.issue"
sessions_file = "${env.tmp}/operator.sessions"
`;

/** The `[model]` section every e2e daemon runs with: the tiny CSRNet on one CPU thread. */
export const TINY_MODEL_TOML = `[model]
path = "${MODEL}"
input_width = 320
input_height = 176
execution_providers = ["cpu"]
threads = 1
`;

/**
 * The skycount.toml of the operator-side specs: the live RTMP stream, the tiny model, state in
 * `env.stateDir`, the built dashboard, the operator's passphrase. `analysis` adds lines to
 * `[analysis]`.
 */
export const operatorSpecToml = (env, analysis = '') => `[source]
url = "${env.rtmpUrl}"
stall_ms = 1000
reconnect_after_ms = 2000
backoff_initial_ms = 200
backoff_max_ms = 1000

${TINY_MODEL_TOML}
[analysis]
state_dir = "${env.stateDir}"
${analysis}
[server]
listen = "127.0.0.1:${env.httpPort}"
web_dir = "${WEB_DIST}"

[stream]
key_file = "${env.tmp}/stream-key"
rtmp_port = ${env.rtmpPort}
webrtc_port = ${env.whepPort}

[mediamtx]
api = "127.0.0.1:${env.mtxApiPort}"
metrics = "127.0.0.1:${env.mtxMetricsPort}"

${operatorToml(env)}`;

/**
 * The set-up every operator-side spec shares, before it starts its daemon: its prerequisites
 * checked, web/dist current, its earlier failure screenshots gone, `env.tmp`, the ports, nginx-rtmp,
 * `env.stateDir` and `env.config` (skycount.toml: `toml(env)`, by default `operatorSpecToml(env)`).
 */
export async function prepareOperatorSpec(env, suite, toml = (e) => operatorSpecToml(e)) {
  checkPrerequisites(suite);
  ensureDist();
  cleanArtifacts(`FAILED-${suite}-`);
  env.tmp = fs.mkdtempSync(path.join(os.tmpdir(), `skycount-${suite}-e2e-`));
  await allocatePorts(env);
  await startNginx(env);
  // Calibration, masks and zones are kept per stream path in analysis.state_dir (docs/api.md).
  env.stateDir = path.join(env.tmp, 'state');
  fs.mkdirSync(env.stateDir);
  env.config = path.join(env.tmp, 'skycount.toml');
  fs.writeFileSync(env.config, toml(env));
}

export async function operatorCookie(env) {
  const r = await request(env.httpPort, 'POST', '/api/auth/login', { passphrase: OPERATOR_PASSPHRASE });
  if (r.status !== 200 || !r.cookie) throw new Error(`signing in over HTTP: ${r.status} ${r.body}`);
  return { Cookie: r.cookie };
}

/** Signs `page` in as the operator through the dashboard: the Operator panel's form. */
export async function signInPage(page) {
  const toggle = page.locator('[data-testid="operator-toggle"]');
  if ((await toggle.getAttribute('aria-expanded')) !== 'true') await toggle.click();
  await page.locator('[data-testid="passphrase"]').fill(OPERATOR_PASSPHRASE);
  await page.locator('[data-testid="sign-in-submit"]').click();
  await page.waitForSelector('[data-testid="sign-out"]', { state: 'visible', timeout: 15_000 });
}

/**
 * Where a point of the picture on the stage is on the page: `at(u, v)` for fractions of the frame
 * (the snapshot's or the video's own size, letterboxed as the dashboard draws it), for clicking on it.
 */
export async function pictureAt(evalIn) {
  const geo = await evalIn(() => {
    const stage = document.querySelector('.stage');
    const img = document.querySelector('[data-testid="snapshot"]') ?? document.querySelector('[data-testid="video"]');
    const w = img.naturalWidth || img.videoWidth;
    const h = img.naturalHeight || img.videoHeight;
    const r = stage.getBoundingClientRect();
    const pic = window.__skycount.contentRect(w, h, stage.clientWidth, stage.clientHeight);
    return { x: r.left + stage.clientLeft, y: r.top + stage.clientTop, pic };
  });
  return (u, v) => ({ x: geo.x + geo.pic.x + u * geo.pic.w, y: geo.y + geo.pic.y + v * geo.pic.h });
}

/** env.page opens the dashboard the daemon serves. */
export const openDashboard = (env) => withTimeout(env.page.goto(`http://127.0.0.1:${env.httpPort}/`), 30_000, 'opening the dashboard');

/**
 * Closes the socket and the browser, stops every process, copies the files of env.tmp for which
 * `keep(name)` holds to ../artifacts/e2e/logs/ and removes env.tmp.
 */
export async function teardown(env, keep) {
  try {
    env.socket?.close();
  } catch {
    /* closed */
  }
  await withTimeout(env.browser?.close() ?? Promise.resolve(), 15_000, 'closing Chromium').catch(() => undefined);
  await stopProc(env.publisher);
  await stopProc(env.daemon);
  await stopProc(env.nginx);
  for (const p of procs) await stopProc(p, { signal: 'SIGKILL' });
  if (env.tmp) {
    const logs = path.join(ARTIFACTS, 'logs');
    fs.mkdirSync(logs, { recursive: true });
    for (const f of fs.readdirSync(env.tmp)) if (keep(f)) fs.copyFileSync(path.join(env.tmp, f), path.join(logs, f));
    fs.rmSync(env.tmp, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// The page (env.page, read at each call: a test may swap it).

export const testid = (id) => `[data-testid="${id}"]`;

/**
 * Bounded reads of env.page: evalIn (page.evaluate), attr (an attribute of a data-testid), text
 * (its text content, as the page has it) and screenshot (to ../artifacts/e2e/`name`; resolves to
 * the file).
 */
export function pageHelpers(env) {
  const evalIn = (fn, arg, what = 'page.evaluate') => withTimeout(env.page.evaluate(fn, arg), 15_000, what);
  const attr = (id, name) => withTimeout(env.page.getAttribute(testid(id), name, { timeout: 5000 }), 8000, `${id}[${name}]`);
  const text = (id) => withTimeout(env.page.textContent(testid(id), { timeout: 5000 }), 8000, `${id} text`);
  async function screenshot(name, opts = {}) {
    const file = path.join(ARTIFACTS, name);
    await withTimeout(env.page.screenshot({ path: file, ...opts }), 30_000, `screenshot ${name}`);
    return file;
  }
  return { evalIn, attr, text, screenshot };
}

// ---------------------------------------------------------------------------------------------
// What a page says, measured in it.

/**
 * Every visible text of `page` under `root` whose contrast with what is behind it is under
 * `min` (WCAG: 4.5 for body text): [{ text, ratio, fg, bg }]. The background is the nearest
 * ancestor's opaque colour, semi-transparent ones composited over it (`window.__skycount`'s own
 * `parseColor`, `over` and `contrastRatio`). Text over a picture or canvas (the stage) is left
 * out: its background is the video.
 */
export function lowContrast(page, root = 'body', min = 4.5) {
  return page.evaluate(
    ({ root, min }) => {
      const { parseColor, over, contrastRatio } = window.__skycount;
      const out = [];
      const background = (el) => {
        const layers = [];
        for (let e = el; e; e = e.parentElement) {
          const c = parseColor(getComputedStyle(e).backgroundColor);
          if (c && c[3] > 0) {
            layers.push(c);
            if (c[3] >= 1) break;
          }
        }
        let bg = [255, 255, 255, 1];
        for (let i = layers.length - 1; i >= 0; i--) bg = over(layers[i], bg);
        return bg;
      };
      const walker = document.createTreeWalker(document.querySelector(root) ?? document.body, NodeFilter.SHOW_TEXT);
      for (let n = walker.nextNode(); n; n = walker.nextNode()) {
        const el = n.parentElement;
        if (!el || !n.textContent.trim() || el.closest('.stage, svg, .vh, .sr-only, [aria-hidden="true"]')) continue;
        const st = getComputedStyle(el);
        const r = el.getBoundingClientRect();
        if (st.visibility !== 'visible' || st.display === 'none' || r.width === 0 || r.height === 0 || Number(st.opacity) === 0) continue;
        const fg = parseColor(st.color);
        if (!fg) continue;
        const bg = background(el);
        const ratio = contrastRatio(over(fg, bg), bg);
        if (ratio < min) out.push({ text: n.textContent.trim().slice(0, 60), ratio: Math.round(ratio * 100) / 100, fg: st.color, bg: `rgb(${bg.slice(0, 3).map(Math.round).join(', ')})` });
      }
      return out;
    },
    { root, min },
  );
}

/** The text of every live region of `page` (aria-live, and the roles and elements that are
 * live by themselves: status, alert, log, timer, marquee, <output>), by a path that names it. */
export function liveRegions(page) {
  return page.evaluate(() => {
    const live = [...document.querySelectorAll('[aria-live], [role="status"], [role="alert"], [role="log"], [role="timer"], [role="marquee"], output')];
    return live
      .filter((el) => el.getAttribute('aria-live') !== 'off')
      .map((el) => ({ who: el.dataset.testid ?? `${el.tagName.toLowerCase()}.${el.className}`, text: el.textContent.trim() }));
  });
}
