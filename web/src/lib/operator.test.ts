import { describe, expect, it } from 'vitest';
import { parseAnalysis, parseStatus } from './api';
import { fmtAnalysisScale, fmtHonest, honestStep } from './format';
import {
  acknowledgeAlert,
  applyCalibration,
  calibrationText,
  freezeFrame,
  OperatorError,
  parseFrozenFrame,
  preferRecent,
  proposeCalibration,
  resetCalibration,
  saveMasks,
  saveZones,
  SESSION_ENDED_TEXT,
  sessionEnded,
  sessionEvents,
 renameDrone } from './operator';

// The examples of docs/api.md.
const CALIBRATION = {
  at_ms: 1764050000000,
  scale: 0.667,
  factor: 1.0,
  frame_width: 1920,
  frame_height: 1080,
  box: [820, 400, 360, 202],
  taps: 31,
  model_in_box: 29.5,
  agreement: 0.95,
  expected_error: 0.25,
  message: 'calibrated 12:03: scale 1280x720, factor 1.00, agreement in your box 95 %',
};

interface Call {
  url: string;
  method: string;
  body: unknown;
  headers: Record<string, string>;
}

function fakeFetch(status: number, answer: unknown, calls: Call[] = []): typeof fetch {
  return (async (url: string, init: RequestInit = {}) => {
    calls.push({ url, method: init.method ?? 'GET', body: init.body ? JSON.parse(String(init.body)) : undefined, headers: init.headers as Record<string, string> });
    return new Response(answer === undefined ? 'not json' : JSON.stringify(answer), { status, headers: { 'Content-Type': 'application/json' } });
  }) as typeof fetch;
}

describe('api: the new analysis and status fields', () => {
  const A = {
    seq: 42,
    count: 123.4,
    density: { width: 80, height: 45, max: 0.42, data: 'AAECAw==' },
    frame_width: 1920,
    frame_height: 1080,
    tiles: 1,
    raw_count: 118.0,
    smoothed: 121.7,
    band: [104.2, 139.1],
    calibrated: false,
  };

  it('parse frame size, tiles, raw count, smoothed, band, calibrated', () => {
    const a = parseAnalysis(A)!;
    expect([a.frame_width, a.frame_height, a.tiles, a.raw_count, a.smoothed, a.band, a.calibrated]).toEqual([1920, 1080, 1, 118, 121.7, [104.2, 139.1], false]);
    expect(parseAnalysis({ ...A, calibrated: true })!.calibrated).toBe(true);
  });

  it('an older daemon or a broken band: nulls, not calibrated', () => {
    const a = parseAnalysis({ seq: 1, count: 3, density: A.density })!;
    expect([a.frame_width, a.tiles, a.raw_count, a.smoothed, a.band, a.calibrated]).toEqual([null, null, null, null, null, false]);
    expect(parseAnalysis({ ...A, band: [140, 100] })!.band).toBeNull();
    expect(parseAnalysis({ ...A, band: [1, '2'] })!.band).toBeNull();
    expect(parseAnalysis({ ...A, band: [1] })!.band).toBeNull();
    expect(parseAnalysis({ ...A, calibrated: 'yes' })!.calibrated).toBe(false);
  });

  it('parse status.analysis, status.calibration and status.masks', () => {
    const s = parseStatus({
      state: 'live',
      analysis: { width: 1280, height: 720, scale: 0.667, from: 'calibration', tiles: 1, analysed_fps: 0.8 },
      calibration: CALIBRATION,
      masks: [{ name: 'roof', points: [[0.1, 0.1], [0.3, 0.1], [0.3, 0.4]] }],
    })!;
    expect(s.analysis).toEqual({ width: 1280, height: 720, scale: 0.667, from: 'calibration', tiles: 1, analysed_fps: 0.8 });
    expect(s.calibration).toEqual({ ...CALIBRATION, range: null, verdict: null });
    expect(s.masks).toEqual([{ name: 'roof', points: [[0.1, 0.1], [0.3, 0.1], [0.3, 0.4]] }]);
  });

  it('status parts absent or malformed: null, null, []; a bad mask is dropped alone', () => {
    const s = parseStatus({ state: 'waiting' })!;
    expect([s.analysis, s.calibration, s.masks]).toEqual([null, null, []]);
    const t = parseStatus({
      state: 'live',
      analysis: { width: null, height: null, scale: 0.5, from: 'default' },
      calibration: { ...CALIBRATION, box: [1, 2, 3] },
      masks: [{ name: 'ok', points: [[0, 0], [1, 0], [1, 1]] }, { name: 'two', points: [[0, 0], [1, 1]] }, { points: [] }, 'x'],
    })!;
    expect(t.analysis?.width).toBeNull();
    expect(t.calibration?.box).toBeNull();
    expect(t.masks.map((m) => m.name)).toEqual(['ok']);
  });
});

describe('format: an honest count', () => {
  it('whole people under 100, two significant digits from 100', () => {
    expect(honestStep(37.4)).toBe(1);
    expect(honestStep(99.4)).toBe(1);
    expect(honestStep(100)).toBe(10);
    expect(honestStep(212)).toBe(10);
    expect(honestStep(1234)).toBe(100);
    expect(honestStep(15_400)).toBe(1000);
  });

  it('value and band with the same step, never below zero', () => {
    expect(fmtHonest(212.3, [188.4, 231.2])).toEqual({ value: '≈ 210', band: '190–230' });
    expect(fmtHonest(37.4, [30.2, 45.9])).toEqual({ value: '≈ 37', band: '30–46' });
    expect(fmtHonest(1234, [1010, 1490])).toEqual({ value: '≈ 1200', band: '1000–1500' });
    expect(fmtHonest(2.2, [-1, 5])).toEqual({ value: '≈ 2', band: '0–5' });
    expect(fmtHonest(50, null)).toEqual({ value: '≈ 50', band: null });
    expect(fmtHonest(null, [1, 2])).toEqual({ value: '—', band: null });
    // a band that does not contain the value is widened to it
    expect(fmtHonest(121.7, [125, 139.1])).toEqual({ value: '≈ 120', band: '120–140' });
  });

  it('the analysis scale and what it costs', () => {
    expect(fmtAnalysisScale({ width: 1280, height: 720, scale: 0.667, from: 'calibration', tiles: 1, analysed_fps: 0.8 })).toBe(
      'analysing 1280x720 (scale 0.67, from calibration) · 0.80 /s',
    );
    expect(fmtAnalysisScale({ width: 2560, height: 1440, scale: 1.333, from: 'default', tiles: 4, analysed_fps: 0.25 })).toBe(
      'analysing 2560x1440 (scale 1.33, from default) in 4 tiles · 0.25 /s',
    );
    expect(fmtAnalysisScale({ width: null, height: null, scale: null, from: null, tiles: null, analysed_fps: null })).toBe('analysing no frame yet · —');
    expect(fmtAnalysisScale(null)).toBe('—');
  });
});

describe('operator requests', () => {
  it('freeze: POST, the frame as answered; 409 says to wait for a frame', async () => {
    const calls: Call[] = [];
    const f = await freezeFrame(null, fakeFetch(200, { frame_id: 'f7', width: 1920, height: 1080, image_url: '/api/operator/frames/f7.jpg' }, calls));
    expect(f).toEqual({ frame_id: 'f7', width: 1920, height: 1080, image_url: '/api/operator/frames/f7.jpg' });
    expect(calls[0]).toMatchObject({ url: '/api/operator/freeze', method: 'POST', body: undefined });
    await expect(freezeFrame(null, fakeFetch(409, {}))).rejects.toThrow(/No video frame decoded yet/);
    await expect(freezeFrame(null, fakeFetch(409, { error: 'no frame has been decoded yet' }))).rejects.toThrow('no frame has been decoded yet');
    await expect(freezeFrame(null, fakeFetch(200, { frame_id: 'x' }))).rejects.toBeInstanceOf(OperatorError);
  });

  it('frozen frame: numeric ids kept, image URL defaulted', () => {
    expect(parseFrozenFrame({ frame_id: 12, width: 640, height: 360 })).toEqual({ frame_id: 12, width: 640, height: 360, image_url: '/api/operator/frames/12.jpg' });
    expect(parseFrozenFrame({ frame_id: '', width: 640, height: 360 })).toBeNull();
    expect(parseFrozenFrame({ frame_id: 'a', width: 0, height: 360 })).toBeNull();
  });

  it('calibration: POST of the body as JSON answers a proposal (verdict, preview); apply is a second call', async () => {
    const calls: Call[] = [];
    const body = { frame_id: 'f7', box: [820, 400, 360, 202] as [number, number, number, number], taps: [[830, 410], [840, 420]] as [number, number][] };
    const verdict = { level: 'refused', reason: 'The model finds only 2 people in your box, where you tapped 12.', advice: 'Tap only people.' };
    const answer = {
      id: '1764050000123-12',
      calibration: { ...CALIBRATION, range: [0.8, 6.0], verdict },
      preview: {
        now: { count: 160.2, band: [80.1, 320.4], width: 640, height: 360, calibrated: false },
        proposed: { count: 200.0, band: [160.0, 1200.0], width: 240, height: 128, calibrated: false },
      },
      expires_in_s: 600,
    };
    const p = await proposeCalibration(body, null, fakeFetch(200, answer, calls));
    expect(calls[0]).toMatchObject({ url: '/api/operator/calibration', method: 'POST', body });
    expect(calls[0].headers['Content-Type']).toBe('application/json');
    expect(p.id).toBe('1764050000123-12');
    expect(p.calibration.verdict).toEqual(verdict);
    expect(p.calibration.range).toEqual([0.8, 6.0]);
    expect(p.preview.now).toEqual(answer.preview.now);
    expect(p.preview.proposed?.band).toEqual([160, 1200]);
    expect(p.expiresInS).toBe(600);
    // An older daemon answers the calibration itself: not a proposal, said so.
    await expect(proposeCalibration(body, null, fakeFetch(200, CALIBRATION))).rejects.toThrow(/older than this dashboard/);
    const err = (await proposeCalibration(body, null, fakeFetch(400, { error: 'tap at least 5 people' })).catch((e: unknown) => e)) as OperatorError;
    expect(err).toBeInstanceOf(OperatorError);
    expect(err.message).toBe('tap at least 5 people');
    expect(err.status).toBe(400);
    await expect(proposeCalibration(body, null, fakeFetch(500, undefined))).rejects.toThrow('The box refused (HTTP 500).');
    const down = (async () => {
      throw new TypeError('Failed to fetch');
    }) as unknown as typeof fetch;
    await expect(proposeCalibration(body, null, down)).rejects.toThrow('The box did not answer (Failed to fetch).');
    const applied: Call[] = [];
    const c = await applyCalibration('1764050000123-12', null, fakeFetch(200, CALIBRATION, applied));
    expect(applied[0]).toMatchObject({ url: '/api/operator/calibration/1764050000123-12/apply', method: 'POST', body: undefined });
    expect(c.message).toBe(CALIBRATION.message);
    await expect(applyCalibration('x', null, fakeFetch(422, { error: 'this calibration was refused: …' }))).rejects.toThrow('this calibration was refused');
  });

  it('a 401 is the session ended: said without an API path, and told to the page', async () => {
    let told = 0;
    const on = () => told++;
    sessionEvents.addEventListener('ended', on);
    try {
      const e = await resetCalibration(null, fakeFetch(401, { error: 'sign in as the operator first: …' })).catch((x: unknown) => x);
      expect(sessionEnded(e)).toBe(true);
      expect((e as Error).message).toBe(SESSION_ENDED_TEXT);
      expect((e as Error).message).not.toMatch(/\/api\//);
      expect(told).toBe(1);
      // 404 names no path either
      const n = (await resetCalibration(null, fakeFetch(404, undefined)).catch((x: unknown) => x)) as Error;
      expect(n.message).not.toMatch(/\/api\//);
    } finally {
      sessionEvents.removeEventListener('ended', on);
    }
  });

  it('reset: DELETE', async () => {
    const calls: Call[] = [];
    await resetCalibration(null, fakeFetch(200, { ok: true }, calls));
    expect(calls[0]).toMatchObject({ url: '/api/operator/calibration', method: 'DELETE' });
  });

  it('masks: PUT; the answer as kept (object or bare list)', async () => {
    const calls: Call[] = [];
    const masks = [{ name: 'roof', points: [[0.1, 0.1], [0.3, 0.1], [0.3, 0.4]] as [number, number][] }];
    expect(await saveMasks({ masks }, null, fakeFetch(200, { masks }, calls))).toEqual(masks);
    expect(calls[0]).toMatchObject({ url: '/api/operator/masks', method: 'PUT', body: { masks } });
    expect(await saveMasks({ masks }, null, fakeFetch(200, masks))).toEqual(masks);
    expect(await saveMasks({ masks }, null, fakeFetch(200, { ok: true }))).toEqual(masks);
    await expect(saveMasks({ masks }, null, fakeFetch(400, { error: 'names must be unique' }))).rejects.toThrow('names must be unique');
  });

  it("another drone's: every change names it (?stream=), the configured drone's names none", async () => {
    const calls: Call[] = [];
    const masks = [{ name: 'roof', points: [[0.1, 0.1], [0.3, 0.1], [0.3, 0.4]] as [number, number][] }];
    await saveMasks({ masks }, 'live_north', fakeFetch(200, { masks }, calls));
    await saveZones({ zones: [] }, 'live_north', fakeFetch(200, { zones: [] }, calls));
    await resetCalibration('live north', fakeFetch(200, { ok: true }, calls));
    await freezeFrame('live_north', fakeFetch(200, { frame_id: '7', width: 4, height: 3 }, calls)).catch(() => undefined);
    await applyCalibration('17-5', 'live_north', fakeFetch(200, CALIBRATION, calls)).catch(() => undefined);
    expect(calls.map((c) => c.url)).toEqual([
      '/api/operator/masks?stream=live_north',
      '/api/operator/zones?stream=live_north',
      '/api/operator/calibration?stream=live%20north',
      '/api/operator/freeze?stream=live_north',
      '/api/operator/calibration/17-5/apply?stream=live_north',
    ]);
  });

  it("naming a drone: PUT name (?stream= for another drone); the name as kept, null for none", async () => {
    const calls: Call[] = [];
    expect(await renameDrone('North gate', 'live_north', fakeFetch(200, { name: 'North gate' }, calls))).toBe('North gate');
    expect(calls[0]).toMatchObject({ url: '/api/operator/name?stream=live_north', method: 'PUT', body: { name: 'North gate' } });
    expect(await renameDrone(null, null, fakeFetch(200, { name: null }, calls))).toBeNull();
    expect(calls[1]).toMatchObject({ url: '/api/operator/name', body: { name: null } });
    await expect(renameDrone('a\u0007', null, fakeFetch(400, { error: 'the name has a control character' }))).rejects.toThrow('control character');
  });

  it('zones: PUT; the answer as kept; a refusal says why', async () => {
    const calls: Call[] = [];
    const zones = [{ name: 'stage', points: [[0.1, 0.1], [0.3, 0.1], [0.3, 0.4]] as [number, number][], limit: 40 }];
    expect(await saveZones({ zones }, null, fakeFetch(200, { zones }, calls))).toEqual(zones);
    expect(calls[0]).toMatchObject({ url: '/api/operator/zones', method: 'PUT', body: { zones } });
    await expect(saveZones({ zones }, null, fakeFetch(422, { error: 'zone 1 ("stage"): its edges 1 and 3 cross' }))).rejects.toThrow('edges 1 and 3 cross');
  });

  it('alerts: POST …/ack; the alert as it is now; 404 said in words', async () => {
    const calls: Call[] = [];
    const alert = { id: 17, stream: 'live_drone', zone: 'stage', limit: 40, count: 43, raised_ms: 1, cleared_ms: null, acknowledged_ms: 2 };
    expect(await acknowledgeAlert(17, fakeFetch(200, alert, calls))).toEqual(alert);
    expect(calls[0]).toMatchObject({ url: '/api/operator/alerts/17/ack', method: 'POST' });
    await expect(acknowledgeAlert(18, fakeFetch(404, { error: 'no open alert 18' }))).rejects.toThrow('no open alert 18');
    await expect(acknowledgeAlert(18, fakeFetch(200, { ok: true }))).rejects.toThrow(/unexpected/);
  });

  it('calibration text: the daemon’s message, else made up from the figures', () => {
    expect(calibrationText(null)).toMatch(/Not calibrated/);
    const c = parseStatus({ state: 'live', calibration: { ...CALIBRATION, message: null } })!.calibration;
    expect(calibrationText(c)).toBe('calibrated, factor 1.00, agreement in your box 95 %');
  });

  it('what the operator just set is shown until the status agrees or it is old', () => {
    const same = (a: number, b: number) => a === b;
    expect(preferRecent(1, null, same, 1000)).toBe(1);
    expect(preferRecent(1, { value: 2, at: 1000 }, same, 2000)).toBe(2);
    expect(preferRecent(2, { value: 2, at: 1000 }, same, 2000)).toBe(2);
    expect(preferRecent(1, { value: 2, at: 1000 }, same, 17_000)).toBe(1);
  });
});
