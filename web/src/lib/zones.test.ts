import { describe, expect, it } from 'vitest';
import { fmtClock } from './format';
import { parseAlert, parseAnalysis, parseStatus, type Alert, type Point, type Zone } from './api';
import { contentRect } from './align';
import { finishDrawing, startEditing, tapPoint, updateShape } from './shapes';
import { alertText, isClosed, mergeAlert, parseLimit, sameZones, unsounded, zoneCountText, zoneProblems, ZONES, zonesBody } from './zones';

const RECT = contentRect(1920, 1080, 800, 600);
const tri: Point[] = [
  [0.1, 0.1],
  [0.3, 0.1],
  [0.3, 0.4],
];
const alert = (id: number, patch: Partial<Alert> = {}): Alert => ({
  id,
  stream: 'live_drone',
  zone: 'stage',
  limit: 40,
  count: 43.2,
  raised_ms: 1000,
  cleared_ms: null,
  acknowledged_ms: null,
  ...patch,
});

describe('zones: drawn with the shared editor, with a limit', () => {
  it('a drawn zone is "zone N" with no limit; the limit is set in the list', () => {
    let ed = startEditing(ZONES, []);
    for (const p of tri) ed = tapPoint(ed, p, RECT);
    ed = finishDrawing(ed);
    expect(ed.shapes).toEqual([{ name: 'zone 1', points: tri, limit: null }]);
    expect(ed.hint).toMatch(/zone 1/);
    ed = updateShape(ed, 0, { limit: 40 });
    expect(ed.shapes[0].limit).toBe(40);
    expect(zonesBody(ed.shapes)).toEqual({ zones: [{ name: 'zone 1', points: tri, limit: 40 }] });
  });

  it('refuses a 17th zone', () => {
    const many: Zone[] = Array.from({ length: 16 }, (_, i) => ({ name: `z${i}`, points: tri, limit: null }));
    expect(tapPoint(startEditing(ZONES, many), [0.5, 0.5], RECT).hint).toMatch(/At most 16 zones/);
  });

  it('limits: empty is none, whole numbers 1 to 1000000, the rest refused', () => {
    expect(parseLimit('')).toBeNull();
    expect(parseLimit(' 40 ')).toBe(40);
    for (const bad of ['0', '-3', '2.5', 'ten', '1000001']) expect(parseLimit(bad)).toBeUndefined();
    expect(zoneProblems([{ name: 'a', points: tri, limit: 0 }])).toEqual(['“a” has a limit of 0: use 1 to 1000000 people, or none.']);
    expect(zoneProblems([{ name: 'b', points: tri, limit: NaN }])).toEqual(['“b” has a limit that is not a number: use 1 to 1000000 people, or none.']);
    expect(zoneProblems([{ name: 'a', points: tri, limit: null }, { name: 'a ', points: tri, limit: 5 }])).toEqual(['“a” is used twice: names must be unique.']);
    expect(sameZones([{ name: 'a ', points: tri, limit: 5 }], [{ name: 'a', points: tri, limit: 5 }])).toBe(true);
    expect(sameZones([{ name: 'a', points: tri, limit: 5 }], [{ name: 'a', points: tri, limit: 6 }])).toBe(false);
  });
});

describe('zones: on the wire', () => {
  it('analysis.zones and status.zones/alerts are parsed; malformed entries dropped', () => {
    const a = parseAnalysis({
      seq: 1,
      count: 10,
      density: { width: 1, height: 1, max: 0, data: 'AA==' },
      zones: [{ name: 'stage', count: 4.4, share: 0.44, limit: 5, alerting: true }, { name: 'x' }],
    });
    expect(a?.zones).toEqual([{ name: 'stage', count: 4.4, share: 0.44, limit: 5, alerting: true }]);
    expect(parseAnalysis({ seq: 1, count: 1, density: { width: 1, height: 1, max: 0, data: 'AA==' } })?.zones).toEqual([]);
    const s = parseStatus({ state: 'live', zones: [{ name: 'stage', points: tri, limit: 40 }, { name: 'bad', points: [] }], alerts: [alert(7), { id: 'x' }] });
    expect(s?.zones).toEqual([{ name: 'stage', points: tri, limit: 40 }]);
    expect(s?.alerts).toEqual([alert(7)]);
    expect(parseAlert({ ...alert(8), cleared_ms: 5 })?.cleared_ms).toBe(5);
  });
});

describe('alerts: one list of open alerts, sounded once', () => {
  it('raised, acknowledged, cleared: closed only when both', () => {
    let open = mergeAlert([], alert(1));
    open = mergeAlert(open, alert(2));
    expect(open.map((a) => a.id)).toEqual([1, 2]);
    open = mergeAlert(open, alert(1, { acknowledged_ms: 5 }));
    expect(open.map((a) => a.id)).toEqual([1, 2]);
    expect(open[0].acknowledged_ms).toBe(5);
    const done = alert(1, { acknowledged_ms: 5, cleared_ms: 9 });
    expect(isClosed(done)).toBe(true);
    expect(mergeAlert(open, done).map((a) => a.id)).toEqual([2]);
    expect(mergeAlert([], done)).toEqual([]);
  });

  it('only raised alerts not yet sounded beep', () => {
    const open = [alert(1), alert(2, { acknowledged_ms: 3 }), alert(3, { cleared_ms: 4 })];
    expect(unsounded(open, new Set()).map((a) => a.id)).toEqual([1]);
    expect(unsounded(open, new Set([1]))).toEqual([]);
  });

  it('words for the banner: when it was raised and at what count, and the zone now', () => {
    const at = (ms: number) => fmtClock(ms);
    expect(alertText(alert(1))).toBe(`Zone “stage”: over its limit of 40 since ${at(1000)} (43 when raised)`);
    // The count at the raise is history: the zone's count now beside it.
    expect(alertText(alert(1), { count: 52.4, paused: false, lastKnown: false })).toBe(
      `Zone “stage”: over its limit of 40 since ${at(1000)} (43 when raised) · now 52`,
    );
    expect(alertText(alert(1), { count: 52.4, paused: false, lastKnown: true })).toMatch(/· last known 52$/);
    expect(alertText(alert(1), { count: 52.4, paused: true, lastKnown: false })).toMatch(/· now: paused, camera moving$/);
    expect(alertText(alert(1, { cleared_ms: 62_000 }))).toBe(`Zone “stage”: back under its limit of 40 at ${at(62_000)} (over it from ${at(1000)})`);
    expect(alertText(alert(1, { acknowledged_ms: 2 }))).toMatch(/\(acknowledged\)$/);
    expect(zoneCountText({ name: 's', count: 12.4, share: 0.1, limit: 40, alerting: false })).toBe('12 / 40');
    expect(zoneCountText({ name: 's', count: 12.6, share: 0.1, limit: null, alerting: false })).toBe('13');
  });
});
