// End-to-end test of the software update in the dashboard against the real skycountd and real
// RAUC (docs/update.md; docs/api.md, "Software update"):
//
//   nginx + Debian's RTMP module  <-  gst-launch-1.0 (live H.264): the box counts throughout
//          |
//   target/debug/skycountd  ->  rauc (the command)  ->  RAUC's service on a private D-Bus bus
//          |                                            (scripts/rauc-testbed: A/B slots on loop
//   Debian's /usr/bin/chromium (playwright-core)         devices, bootloader.sh as the bootloader)
//
// In order: a viewer sees the running software in the health panel and no upload; the operator
// signs in; a bundle signed with a stranger's key is refused with the box's reason, shown in the
// Software update section, and nothing is written; a good bundle is uploaded through the file
// input, RAUC's step and percentage are shown while it installs (the test bed's bootloader holds
// RAUC at its last step, so that the page is seen mid-install), the section then says the other
// slot holds the new version and asks twice before rebooting; the reboot request reaches the box.
//
//   cd web && ORT_DYLIB_PATH=/path/to/libonnxruntime.so node --test --test-timeout=900000 e2e/update.e2e.mjs
//
// Needs root (RAUC's service mounts bundles and writes the slots) and Debian's rauc, rauc-service
// and squashfs-tools, besides what e2e/dashboard.e2e.mjs needs. Screenshots: update-*.png.

import { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  REPO,
  allocatePorts,
  checkPrerequisites,
  cleanArtifacts,
  ensureDist,
  fatal,
  launchBrowser,
  openDashboard,
  operatorSpecToml,
  pageHelpers,
  request,
  signInPage,
  startDaemon,
  startNginx,
  startPublisher,
  stepper,
  tail,
  teardown,
  testid,
  waitFor,
} from './harness.mjs';

const TEST_TIMEOUT = 180_000;
const TESTBED = path.join(REPO, 'scripts', 'rauc-testbed', 'testbed.sh');

const env = {};
const pageErrors = [];
const { text: rawText, screenshot } = pageHelpers(env);
const text = async (id) => ((await rawText(id)) ?? '').trim();
const step = stepper(env, 'update', screenshot, TEST_TIMEOUT);

/** A screenshot with the Software update section in view (the side panel scrolls by itself). */
async function sectionShot(name) {
  await env.page.locator(testid('update-file')).evaluate((el) => el.closest('label')?.scrollIntoView({ block: 'center' }));
  return screenshot(name);
}

/** testbed.sh COMMAND DIR ARGS…: its output, or a thrown error with it. */
function testbed(command, ...args) {
  const r = spawnSync(TESTBED, [command, env.testbed, ...args], { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`testbed.sh ${command} failed:\n${r.stdout}\n${r.stderr}`);
  return r.stdout.trim();
}

/** The bootloader's state and the calls RAUC made to it. */
const bootloader = () =>
  Object.fromEntries(
    fs
      .readFileSync(path.join(env.testbed, 'bootloader.env'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => l.split('=')),
  );
const bootloaderWrites = () =>
  fs
    .readFileSync(path.join(env.testbed, 'bootloader.log'), 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('set-'));

const analysed = async () => (await request(env.httpPort, 'GET', '/api/status')).json?.totals?.frames_analysed ?? 0;

before(async () => {
  checkPrerequisites('update');
  if (process.getuid() !== 0) throw new Error('the update end-to-end test needs root: RAUC\'s service mounts bundles and writes the slots');
  for (const tool of ['rauc', 'mksquashfs', 'dbus-daemon']) {
    if (spawnSync('sh', ['-c', `command -v ${tool} || test -x /usr/sbin/${tool}`]).status !== 0) throw new Error(`${tool} is not installed (apt-get install rauc rauc-service squashfs-tools dbus)`);
  }
  ensureDist();
  cleanArtifacts('FAILED-update-');
  env.tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'skycount-update-e2e-'));
  env.testbed = path.join(env.tmp, 'testbed');
  fs.mkdirSync(env.testbed);
  testbed('up');
  env.bed = Object.fromEntries(
    fs
      .readFileSync(path.join(env.testbed, 'env'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
  // The daemon runs the rauc command, which talks to the test bed's service on its bus.
  for (const k of ['DBUS_STARTER_BUS_TYPE', 'DBUS_SESSION_BUS_ADDRESS']) process.env[k] = env.bed[k];
  env.good = path.join(env.tmp, 'skycount-2.0.0.raucb');
  testbed('bundle', env.good, '2.0.0', 'skycount-testbed', 'dev', '4096');
  env.stranger = path.join(env.tmp, 'skycount-2.0.1-unknown-key.raucb');
  testbed('bundle', env.stranger, '2.0.1', 'skycount-testbed', 'stranger', '256');

  await allocatePorts(env);
  await startNginx(env);
  env.stateDir = path.join(env.tmp, 'state');
  fs.mkdirSync(env.stateDir);
  env.rebootFile = path.join(env.tmp, 'run', 'reboot');
  env.config = path.join(env.tmp, 'skycount.toml');
  fs.writeFileSync(
    env.config,
    `${operatorSpecToml(env)}
[update]
rauc_config = "${env.bed.RAUC_CONF}"
dir = "${path.join(env.tmp, 'update')}"
usb_dir = ""
reboot_file = "${env.rebootFile}"
`,
  );
  await startDaemon(env, { log: path.join(env.tmp, 'update-skycountd.log'), what: `skycountd on 127.0.0.1:${env.httpPort}`, requestTimeout: 10_000 });
  startPublisher(env, path.join(env.tmp, 'update-publisher.log'), { w: 640, h: 360 });
  await waitFor(
    'analyses',
    async () => {
      if (!env.publisher.alive()) throw fatal(`the publisher exited: ${tail(env.publisher.log)}`);
      return (await analysed()) >= 3;
    },
    { timeout: 60_000, every: 250 },
  );
  await launchBrowser(env, pageErrors);
  await openDashboard(env);
});

after(async () => {
  if (env.testbed) spawnSync(TESTBED, ['down', env.testbed], { timeout: 60_000 });
  await teardown(env, (f) => f.endsWith('.log'));
});

step('a viewer sees the running software in the health panel, and no upload', async () => {
  await env.page.waitForSelector(testid('software'), { timeout: 30_000 });
  const line = await text('software');
  assert.match(line, /\(slot A\)/, line);
  const toggle = env.page.locator(testid('operator-toggle'));
  await toggle.click();
  assert.equal(await env.page.locator(testid('update-file')).count(), 0, 'a viewer has no Software update section');
  await screenshot('update-viewer.png');
});

step('a bundle signed with another key is refused with the reason, and nothing is written', async () => {
  await signInPage(env.page);
  await env.page.waitForSelector(testid('update-running'), { timeout: 15_000 });
  assert.match(await text('update-running'), /slot A/);
  assert.match(await text('update-other'), /slot B: the version the box was flashed with/);
  const before = bootloaderWrites();
  await env.page.locator(testid('update-file')).setInputFiles(env.stranger);
  await env.page.waitForSelector(testid('update-error'), { timeout: 60_000 });
  const said = await text('update-error');
  assert.match(said, /not signed with a key this box trusts/, said);
  await waitFor('the refusal as the last update', async () => (await env.page.getAttribute(testid('update-last'), 'data-outcome')) === 'refused', { timeout: 20_000 });
  assert.deepEqual(bootloaderWrites(), before, 'the bootloader was touched');
  await sectionShot('update-refused.png');
});

step('a good bundle installs with RAUC\'s steps shown, and the reboot is asked twice', async () => {
  // RAUC waits at its last step (switching the boot order) until the page has been seen there.
  fs.writeFileSync(path.join(env.testbed, 'hold'), 'set-primary');
  const countBefore = await analysed();
  await env.page.locator(testid('update-file')).setInputFiles(env.good);
  await waitFor('RAUC switching the boot order', () => bootloaderWrites().includes('set-primary B'), { timeout: 60_000 });
  // The page asks once a second: it shows RAUC's last step within a poll or two.
  await waitFor(
    'the page showing RAUC at its last step',
    async () => {
      const state = await env.page.getAttribute(testid('update-progress'), 'data-state').catch(() => null);
      const m = /^Installing 2\.0\.0: (\d+) % \S/.exec(await text('update-step'));
      return state === 'installing' && m && Number(m[1]) >= 80;
    },
    { timeout: 20_000, every: 100 },
  );
  const shown = await text('update-step');
  const value = Number(await env.page.getAttribute(`${testid('update-progress')} progress`, 'value'));
  assert.ok(value >= 80 && value <= 100, `progress ${value}: ${shown}`);
  assert.match(shown, /Copying image|Updating slots|Installing/, shown);
  await sectionShot('update-installing.png');
  fs.rmSync(path.join(env.testbed, 'hold'));

  await env.page.waitForSelector(testid('update-reboot'), { timeout: 60_000 });
  assert.match(await text('update-other'), /slot B: 2\.0\.0, starts at the next reboot/);
  assert.equal(await env.page.getAttribute(testid('update-last'), 'data-outcome'), 'installed');
  assert.equal(bootloader().BOOT_ORDER, 'B A');
  assert.ok((await analysed()) > countBefore, 'the box stopped counting during the update');
  await sectionShot('update-installed.png');

  const reboot = env.page.locator(testid('update-reboot'));
  await reboot.click();
  assert.match(await text('update-reboot'), /Tap again/);
  assert.equal(fs.existsSync(env.rebootFile), false, 'one tap rebooted');
  await reboot.click();
  await waitFor('the reboot request', () => fs.existsSync(env.rebootFile), { timeout: 10_000 });
  assert.match(fs.readFileSync(env.rebootFile, 'utf8'), /2\.0\.0/);
  await waitFor('the page saying it reboots', async () => /Rebooting into 2\.0\.0/.test(await text('update-step').catch(() => '')), { timeout: 10_000 });
  await sectionShot('update-rebooting.png');
  assert.deepEqual(pageErrors, []);
});
