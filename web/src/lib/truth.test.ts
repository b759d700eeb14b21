// The data layer of issue 23 ("a dashboard that never misleads"): what the views are given to say.
import { describe, expect, it } from 'vitest';
import { parseAnalysis, parseCamera, parseVerdict, type Analysis } from './api';
import { contrastRatio, over, parseColor } from './contrast';
import { COUNT_STATE_TEXT, countState } from './format';
import { freshness, lastKnownText } from './freshness';
import { pastStreamText } from './health';
import { calibrationChanges, calibrationLine, setupAt, setups, type HistoryEvent } from './history';
import { overlayLagMs, RecentAnalyses, snapshotSeq } from './pairing';
import { LABEL_CHARS, shortName } from './shapes';
import { TrendWindow } from './trend';
import { clampView, fitRect } from './viewport';

const analysis = (seq: number, extra: Record<string, unknown> = {}): Analysis =>
  parseAnalysis({ seq, count: 10, wall_time_ms: 1000 + seq, inference_ms: 5, staleness_ms: 300, density: { width: 4, height: 3, max: 1, data: '' }, ...extra })!;

describe('contrast (WCAG)', () => {
  it('parses computed colours', () => {
    expect(parseColor('rgb(255, 107, 107)')).toEqual([255, 107, 107, 1]);
    expect(parseColor('rgba(0, 0, 0, 0.5)')).toEqual([0, 0, 0, 0.5]);
    expect(parseColor('rgb(0 0 0 / 50%)')).toEqual([0, 0, 0, 0.5]);
    expect(parseColor('#ff6b6b')).toEqual([255, 107, 107, 1]);
    expect(parseColor('transparent')).toBeNull();
  });

  it('gives the ratios WCAG gives', () => {
    expect(contrastRatio([0, 0, 0, 1], [255, 255, 255, 1])).toBeCloseTo(21, 5);
    expect(contrastRatio([10, 10, 10, 1], [10, 10, 10, 1])).toBe(1);
    // The night theme's old banner: white on #ff6b6b, 2.78:1 (issue 23).
    expect(contrastRatio([255, 255, 255, 1], parseColor('#ff6b6b')!)).toBeCloseTo(2.78, 2);
    // Half-transparent black over white is mid grey.
    expect(over([0, 0, 0, 0.5], [255, 255, 255, 1])).toEqual([127.5, 127.5, 127.5, 1]);
  });
});

describe('freshness: the box lost, every figure the last known one', () => {
  it('is lost whenever the link is not connected', () => {
    expect(freshness('connected', 5).lost).toBe(false);
    expect(freshness('reconnecting', 5).lost).toBe(true);
    expect(freshness('connecting', null).lost).toBe(true);
  });

  it('says when the figures were last known, never as now', () => {
    const at = new Date(2026, 11, 7, 22, 2, 54).getTime();
    expect(lastKnownText(freshness('reconnecting', at))).toBe('last known at 22:02:54');
    expect(lastKnownText(freshness('reconnecting', null))).toBe('nothing received yet');
    expect(pastStreamText('live')).toBe('the drone’s video was arriving then');
    expect(pastStreamText('live')).not.toMatch(/video arriving$/);
    expect(pastStreamText('odd')).toBe('odd then');
  });
});

describe('pairing: an overlay with its own frame', () => {
  it('finds the analysis a snapshot is of, and forgets the oldest', () => {
    const r = new RecentAnalyses(3);
    for (let s = 1; s <= 5; s++) r.add(analysis(s), s * 100);
    expect(r.get(1)).toBeNull();
    expect(r.get(2)).toBeNull();
    expect(r.get(5)?.a.seq).toBe(5);
    expect(r.get(3)?.receivedAt).toBe(300);
    r.clear();
    expect(r.get(5)).toBeNull();
  });

  it('reads X-Skycount-Seq strictly', () => {
    expect(snapshotSeq(new Headers({ 'X-Skycount-Seq': '42' }))).toBe(42);
    expect(snapshotSeq(new Headers({ 'X-Skycount-Seq': ' 7 ' }))).toBe(7);
    expect(snapshotSeq(new Headers({ 'X-Skycount-Seq': '4x' }))).toBeNull();
    expect(snapshotSeq(new Headers({ 'X-Skycount-Seq': '-1' }))).toBeNull();
    expect(snapshotSeq(new Headers())).toBeNull();
  });

  it('says how old the overlay is against live video', () => {
    expect(overlayLagMs({ staleness_ms: 300 }, 1000, 1500)).toBe(800);
    // a clock that went back: never negative
    expect(overlayLagMs({ staleness_ms: 300 }, 2000, 1500)).toBe(300);
  });
});

describe('the camera and the verdict from the daemon', () => {
  it('parses analysis.camera, and null from an older daemon', () => {
    expect(parseCamera({ judged: true, moving: true, away: false, zones_paused: true, speed: 0.08 })).toEqual({
      judged: true,
      moving: true,
      away: false,
      zones_paused: true,
      speed: 0.08,
    });
    expect(analysis(1).camera).toBeNull();
    expect(analysis(1, { camera: { moving: true } }).camera?.zones_paused).toBe(false);
  });

  it('parses a verdict only with a known level', () => {
    expect(parseVerdict({ level: 'doubtful', reason: 'r', advice: 'a' })).toEqual({ level: 'doubtful', reason: 'r', advice: 'a' });
    expect(parseVerdict({ level: 'great', reason: 'r' })).toBeNull();
    expect(parseVerdict(null)).toBeNull();
  });
});

describe('the count’s state in words', () => {
  it('calls calibrated only what the daemon calls calibrated', () => {
    const good = { verdict: { level: 'good' } };
    expect(countState(true, good)).toBe('calibrated');
    expect(countState(true, { verdict: { level: 'doubtful' } })).toBe('calibrated-doubtful');
    // applied, but its band wider than uncalibrated: the daemon says not calibrated
    expect(countState(false, good)).toBe('untrusted');
    expect(countState(false, null)).toBe('not-calibrated');
    expect(COUNT_STATE_TEXT['not-calibrated']).toBe('not calibrated by the operator');
    expect(COUNT_STATE_TEXT.untrusted).not.toMatch(/^calibrated/);
  });

  it('the peak is of the smoothed count, as the big number is', () => {
    const w = new TrendWindow(60_000);
    w.push(1, 0, 100, 100);
    w.push(2, 1000, 188, 120); // one noisy frame
    w.push(3, 2000, 110, 118);
    expect(w.peak?.count).toBe(120);
    expect(w.windowPeak(2000, 60_000)).toBe(120);
    const [, counts, smoothed] = w.series(2000, 60_000);
    expect([...counts]).toEqual([100, 188, 110]);
    expect([...smoothed]).toEqual([100, 120, 118]);
    // without a smoothed count (an older daemon) the count stands for it
    const old = new TrendWindow(60_000);
    old.push(1, 0, 50);
    expect(old.peak?.count).toBe(50);
  });
});

describe('names on the picture', () => {
  it('are shortened with an ellipsis, by characters', () => {
    expect(shortName('stage')).toBe('stage');
    const long = 'Stage left crowd barrier near the gate';
    const s = shortName(long);
    expect(Array.from(s)).toHaveLength(LABEL_CHARS);
    expect(s.endsWith('…')).toBe(true);
    expect(long.startsWith(s.slice(0, -1))).toBe(true);
    // code points, not UTF-16 units: an emoji is not cut in half
    expect(shortName('😀'.repeat(30), 5)).toBe('😀😀😀😀…');
  });
});

describe('calibrating: the box brought into view', () => {
  it('fits the box whole, centred, clear of the edges', () => {
    const view = { w: 400, h: 800 };
    const frame = { w: 1280, h: 720 };
    const box = { x: 800, y: 100, w: 200, h: 100 };
    const v = clampView(fitRect(box, view), frame, view);
    const toView = (x: number, y: number) => ({ x: x * v.scale + v.tx, y: y * v.scale + v.ty });
    const a = toView(box.x, box.y);
    const b = toView(box.x + box.w, box.y + box.h);
    expect(a.x).toBeGreaterThanOrEqual(0);
    expect(a.y).toBeGreaterThanOrEqual(0);
    expect(b.x).toBeLessThanOrEqual(view.w);
    expect(b.y).toBeLessThanOrEqual(view.h);
    // it zooms in: the box takes most of the view's width
    expect(b.x - a.x).toBeGreaterThan(view.w * 0.7);
  });
});

describe('the report’s setups', () => {
  const ev = (t_ms: number, detail: Record<string, unknown>): HistoryEvent => ({ t_ms, kind: 'setup', detail });
  const cal = (at_ms: number, level: string) => ({ at_ms, message: `calibrated at ${at_ms}`, range: [0.8, 1.2], verdict: { level } });
  const events: HistoryEvent[] = [
    ev(0, { calibration: null, masks: [{ name: 'roof', points: [] }] }),
    { t_ms: 5, kind: 'camera', detail: null },
    ev(10, { calibration: cal(9, 'good'), masks: [{ name: 'roof', points: [] }] }),
    ev(20, { calibration: cal(9, 'good'), masks: 2 }), // only the masks changed (an old event: a count)
    ev(30, { calibration: null, masks: [] }),
  ];

  it('lists the setups in order, with the masks’ names when kept', () => {
    const all = setups(events);
    expect(all.map((s) => s.t_ms)).toEqual([0, 10, 20, 30]);
    expect(all[0].masks).toEqual(['roof']);
    expect(all[2].masks).toBeNull();
    expect(all[2].maskCount).toBe(2);
    expect(setupAt(all, 15)?.t_ms).toBe(10);
    expect(setupAt(all, -1)).toBeNull();
  });

  it('marks only where the calibration changed', () => {
    const all = setups(events);
    expect(calibrationChanges(all, 0).map((s) => s.t_ms)).toEqual([10, 30]);
    expect(calibrationChanges(all, 15).map((s) => s.t_ms)).toEqual([30]);
  });

  it('says a calibration in one line', () => {
    expect(calibrationLine(null)).toMatch(/^not calibrated by the operator/);
    expect(calibrationLine(cal(9, 'good'))).toBe('good: calibrated at 9, truth within 0.8× to 1.2× the count');
  });
});
