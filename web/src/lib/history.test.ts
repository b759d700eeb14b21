import { describe, expect, it } from 'vitest';
import { calibrationOf, chartData, deleteFlight, exportUrl, historyLine, parseFlightDetail, parseFlightList, parseHistoryReport, parseRoute, routeHash, zonePeaks } from './history';

// The example of docs/api.md, trimmed.
const DETAIL = {
  flight: { id: 3, stream: 'live_drone', start_ms: 1000, end_ms: null, duration_s: 2, peak: 812.4, peak_ms: 2000, analyses: 3, alerts: 1 },
  step: 1,
  series: [
    { t_ms: 1000, count: 10, smoothed: 9, band: [5, 18], calibrated: false, state: 'live', zones: [] },
    { t_ms: 2000, count: 20, smoothed: 19, band: [10, 38], calibrated: true, state: 'live', zones: [{ name: 'stage', count: 4, share: 0.2, limit: 3, alerting: true }] },
    { t_ms: 3000, count: 'x', smoothed: 1 },
    { t_ms: 4000, count: 30, smoothed: 29, band: [15, 58], calibrated: true, state: 'stalled', zones: [{ name: 'stage', count: 2 }, { name: 'exit', count: 7 }] },
  ],
  alerts: [{ id: 1, stream: 'live_drone', zone: 'stage', limit: 3, count: 4, raised_ms: 2000, cleared_ms: null, acknowledged_ms: null }, { id: 'bad' }],
  events: [
    { t_ms: 500, kind: 'setup', detail: { calibration: { factor: 1.2, message: 'calibrated' }, masks: 0, zones: [] } },
    { t_ms: 1000, kind: 'stream', detail: { state: 'live', error: null } },
  ],
  peak_snapshot: { t_ms: 2000, count: 19, url: '/api/history/flights/3/peak.jpg', density: { t_ms: 2000, count: 19, width: 2, height: 1, max: 0.5, data: 'AP8=' } },
  box: 'skycount',
  version: '0.1.0',
};

describe('history data', () => {
  it('parses the list and leaves out what is not a flight', () => {
    const list = parseFlightList({ flights: [DETAIL.flight, { id: 'x' }, null] });
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ id: 3, end_ms: null, peak: 812.4 });
    expect(parseFlightList(null)).toEqual([]);
    expect(parseFlightList({ error: 'the history is off' })).toEqual([]);
  });

  it('parses a flight, its series, alerts, events and peak snapshot', () => {
    const d = parseFlightDetail(DETAIL)!;
    expect(d.series.map((p) => p.t_ms)).toEqual([1000, 2000, 4000]);
    expect(d.series[1].zones).toEqual([{ name: 'stage', count: 4 }]);
    expect(d.alerts).toHaveLength(1);
    expect(d.peak).toMatchObject({ url: '/api/history/flights/3/peak.jpg', density: { width: 2, height: 1, max: 0.5, data: 'AP8=' } });
    expect(d.box).toBe('skycount');
    expect(parseFlightDetail({ flight: null })).toBeNull();
    expect(parseFlightDetail({ ...DETAIL, peak_snapshot: null })!.peak).toBeNull();
  });

  it('builds the chart with one series per zone, null before a zone existed', () => {
    const c = chartData(parseFlightDetail(DETAIL)!.series);
    expect(c.xs).toEqual([1, 2, 4]);
    expect(c.count).toEqual([10, 20, 30]);
    expect(c.zones).toEqual([
      { name: 'stage', values: [null, 4, 2] },
      { name: 'exit', values: [null, null, 7] },
    ]);
    expect(zonePeaks(parseFlightDetail(DETAIL)!.series)).toEqual([
      { name: 'stage', peak: 4, at_ms: 2000 },
      { name: 'exit', peak: 7, at_ms: 4000 },
    ]);
  });

  it('finds the calibration the flight flew with', () => {
    const d = parseFlightDetail(DETAIL)!;
    expect(calibrationOf(d.events)).toEqual({ factor: 1.2, message: 'calibrated' });
    expect(calibrationOf([...d.events, { t_ms: 9, kind: 'setup', detail: { calibration: null } }])).toBeNull();
    expect(calibrationOf([])).toBeNull();
  });

  it('routes by the hash and back', () => {
    expect(parseRoute('')).toEqual({ view: 'live' });
    expect(parseRoute('#/history')).toEqual({ view: 'list' });
    expect(parseRoute('#/history/12')).toEqual({ view: 'flight', id: 12 });
    expect(parseRoute('#/history/12/report')).toEqual({ view: 'report', id: 12 });
    expect(parseRoute('#/history/0')).toEqual({ view: 'list' });
    expect(parseRoute('#/history/abc')).toEqual({ view: 'live' });
    expect(parseRoute('#/history/99999999999999999999')).toEqual({ view: 'live' });
    for (const r of [{ view: 'list' } as const, { view: 'flight', id: 4 } as const, { view: 'report', id: 4 } as const]) {
      expect(parseRoute(routeHash(r))).toEqual(r);
    }
    expect(exportUrl(4, 'csv')).toBe('/api/history/flights/4.csv');
  });
});

describe('history status', () => {
  it('says what is kept, or why history is paused', () => {
    const ok = parseHistoryReport({ enabled: true, state: 'ok', reason: null, bytes: 3 * 1048576, max_bytes: 512 * 1048576, oldest_ms: null, flights: 2, lost_rows: 0 })!;
    expect(historyLine(ok)).toEqual({ text: '2 flights, 3.0 MB of 512 MB', level: 'ok' });
    const paused = parseHistoryReport({ ...ok, state: 'paused', reason: 'history paused: disk full (…)' })!;
    expect(historyLine(paused)).toEqual({ text: 'history paused: disk full (…)', level: 'warn' });
    expect(historyLine(parseHistoryReport({ enabled: false, state: 'off' })!).level).toBe('idle');
    expect(parseHistoryReport(undefined)).toBeNull();
  });
});

describe('deleting a flight', () => {
  it("asks the operator's route and passes on the daemon's refusal in its words", async () => {
    const calls: { url: string; method: string }[] = [];
    const answer = (status: number, body: unknown) =>
      (async (url: string, init: RequestInit = {}) => {
        calls.push({ url, method: init.method ?? 'GET' });
        return new Response(body === null ? null : JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
      }) as typeof fetch;
    await deleteFlight(12, answer(204, null));
    expect(calls).toEqual([{ url: '/api/operator/history/flights/12', method: 'DELETE' }]);
    const why = 'flight 13 is going on: it can be deleted once it has ended';
    await expect(deleteFlight(13, answer(409, { error: why }))).rejects.toThrow(why);
  });
});
