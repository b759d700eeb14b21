import { describe, expect, it } from 'vitest';
import { activityText, bundleProblem, lastText, otherText, parseUpdate, runningText, softwareLine, uploadBundle, type UploadRequest } from './update';

/** GET /api/update as the daemon answers it (daemon/src/update/updater.rs, Report). */
const REPORT = {
  available: true,
  reason: null,
  compatible: 'skycount-raspberrypi5',
  running: { slot: 'A', version: '0.1.0', skycountd: '0.1.0', system: 'skycount field box 0.1.0' },
  other: { slot: 'B', version: '0.2.0', installed_at: '2026-12-06T22:53:16Z', good: true, next_boot: true },
  activity: { state: 'installing', bundle: 'skycount-0.2.0.raucb', source: 'upload', version: '0.2.0', percent: 90, step: 'Copying image to rootfs.1' },
  last: { outcome: 'rolled-back', version: '0.1.9', bundle: 'b.raucb', source: 'usb', message: '0.1.9 on slot B was not healthy within 600 s', at_ms: 5 },
  confirming: null,
  max_bundle_bytes: 2048000000,
  can_reboot: true,
  usb: null,
};

describe('software updates', () => {
  it('reads the daemon report and words it', () => {
    const r = parseUpdate(REPORT)!;
    expect(runningText(r)).toBe('skycountd 0.1.0 · system 0.1.0 (slot A)');
    expect(otherText(r)).toBe('slot B: 0.2.0, starts at the next reboot');
    expect(lastText(r.last)).toBe('rolled back 0.1.9');
    expect(activityText(r.activity)).toBe('Installing 0.2.0: 90 % Copying image to rootfs.1');
    expect(softwareLine(r)).toEqual({ text: 'Installing 0.2.0: 90 % Copying image to rootfs.1', level: 'warn' });
    const idle = parseUpdate({ ...REPORT, activity: { state: 'idle' }, other: { ...REPORT.other, version: null, next_boot: false, good: false } })!;
    expect(otherText(idle)).toBe('slot B: the version the box was flashed with, marked bad');
    expect(softwareLine(idle)).toEqual({ text: 'skycountd 0.1.0 · system 0.1.0 (slot A) · last update: rolled back 0.1.9', level: 'bad' });
    expect(activityText(idle.activity)).toBeNull();
    // An unknown state reads as idle; a report without `available` is not one.
    expect(parseUpdate({ ...REPORT, activity: { state: 'dancing' } })!.activity.state).toBe('idle');
    expect(parseUpdate({ running: {} })).toBeNull();
    const off = parseUpdate({ available: false, reason: 'RAUC is not installed on this machine', running: { skycountd: '0.1.0' }, activity: { state: 'idle' } })!;
    expect(off.reason).toMatch(/not installed/);
    expect(runningText(off)).toBe('skycountd 0.1.0');
    expect(lastText(off.last)).toBe('none yet');
  });

  it('refuses files the box would refuse before sending them', () => {
    expect(bundleProblem({ name: 'skycount-0.2.0.raucb', size: 10 }, 100)).toBeNull();
    expect(bundleProblem({ name: 'skycount.img', size: 10 }, 100)).toMatch(/not a software update bundle/);
    expect(bundleProblem({ name: 'a.raucb', size: 0 }, 100)).toMatch(/empty/);
    expect(bundleProblem({ name: 'a.raucb', size: 3e9 }, 2048000000)).toMatch(/up to 2048 MB/);
  });

  it('uploads with the progress the browser reports and words a refusal with the box reason', async () => {
    const made: FakeRequest[] = [];
    class FakeRequest implements UploadRequest {
      upload: UploadRequest['upload'] = { onprogress: null };
      onload: (() => void) | null = null;
      onerror: (() => void) | null = null;
      status = 0;
      responseText = '';
      opened = '';
      headers: Record<string, string> = {};
      body: Blob | null = null;
      constructor() {
        made.push(this);
      }
      open(method: string, url: string) {
        this.opened = `${method} ${url}`;
      }
      setRequestHeader(name: string, value: string) {
        this.headers[name] = value;
      }
      send(body: Blob) {
        this.body = body;
      }
    }
    const file = Object.assign(new Blob(['bundle bytes']), { name: 'sky count.raucb' });
    const progress: [number, number][] = [];
    const refused = uploadBundle(file, (a, b) => progress.push([a, b]), () => new FakeRequest());
    const req = made[0];
    expect(req.opened).toBe('PUT /api/operator/update/bundle?name=sky%20count.raucb');
    expect(req.body).toBe(file);
    req.upload.onprogress!({ loaded: 6, total: 12, lengthComputable: true });
    req.status = 422;
    req.responseText = JSON.stringify({ error: 'the bundle is not signed with a key this box trusts' });
    req.onload!();
    await expect(refused).rejects.toThrow('the bundle is not signed with a key this box trusts');
    expect(progress).toEqual([[6, 12]]);

    const ok = uploadBundle(file, () => undefined, () => new FakeRequest());
    made[1].status = 202;
    made[1].responseText = JSON.stringify(REPORT);
    made[1].onload!();
    expect((await ok).activity.state).toBe('installing');

    const broke = uploadBundle(file, () => undefined, () => new FakeRequest());
    made[2].onerror!();
    await expect(broke).rejects.toThrow(/did not reach the box/);
  });
});
