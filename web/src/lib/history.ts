// The flight history's data layer: the answers of /api/history/flights (docs/api.md) checked
// and typed, the view's route from the URL hash, and the chart's series built from a flight.

import type { DensityGrid } from './api';
import { arr, isObj, num, str } from './json';
import { operatorRequest } from './operator';

export interface FlightSummary {
  id: number;
  stream: string;
  start_ms: number;
  /** null while the flight goes on */
  end_ms: number | null;
  duration_s: number;
  peak: number;
  peak_ms: number;
  analyses: number;
  alerts: number;
}

export interface ZonePoint {
  name: string;
  count: number;
}

export interface SeriesPoint {
  t_ms: number;
  count: number;
  smoothed: number;
  band: [number, number];
  calibrated: boolean;
  state: string;
  zones: ZonePoint[];
}

export interface HistoryAlert {
  id: number;
  zone: string;
  limit: number;
  count: number;
  raised_ms: number;
  cleared_ms: number | null;
  acknowledged_ms: number | null;
}

export interface HistoryEvent {
  t_ms: number;
  kind: string;
  detail: Record<string, unknown> | null;
}

export interface PeakSnapshot {
  t_ms: number;
  count: number;
  url: string;
  density: DensityGrid | null;
}

/** The analysis at a flight's peak: its band, and whether it was calibrated. */
export interface PeakAnalysis {
  t_ms: number;
  smoothed: number;
  band: [number, number] | null;
  calibrated: boolean;
}

export interface FlightDetail {
  flight: FlightSummary;
  step: number;
  series: SeriesPoint[];
  alerts: HistoryAlert[];
  events: HistoryEvent[];
  peak: PeakSnapshot | null;
  /** null when no longer kept (or from an older daemon) */
  peakAnalysis: PeakAnalysis | null;
  box: string | null;
  version: string | null;
}

export function parseFlightSummary(v: unknown): FlightSummary | null {
  if (!isObj(v)) return null;
  const id = num(v.id);
  const start = num(v.start_ms);
  if (id === null || start === null) return null;
  return {
    id,
    stream: str(v.stream) ?? '',
    start_ms: start,
    end_ms: num(v.end_ms),
    duration_s: num(v.duration_s) ?? 0,
    peak: num(v.peak) ?? 0,
    peak_ms: num(v.peak_ms) ?? start,
    analyses: num(v.analyses) ?? 0,
    alerts: num(v.alerts) ?? 0,
  };
}

/** `GET /api/history/flights`: the flights, newest first; what does not parse is left out. */
export function parseFlightList(v: unknown): FlightSummary[] {
  if (!isObj(v)) return [];
  return arr(v.flights)
    .map(parseFlightSummary)
    .filter((f): f is FlightSummary => f !== null);
}

function parsePoint(v: unknown): SeriesPoint | null {
  if (!isObj(v)) return null;
  const t = num(v.t_ms);
  const count = num(v.count);
  if (t === null || count === null) return null;
  const band = arr(v.band).map(num);
  return {
    t_ms: t,
    count,
    smoothed: num(v.smoothed) ?? count,
    band: [band[0] ?? count, band[1] ?? count],
    calibrated: v.calibrated === true,
    state: str(v.state) ?? '',
    zones: arr(v.zones).flatMap((z) => {
      if (!isObj(z)) return [];
      const name = str(z.name);
      const c = num(z.count);
      return name !== null && c !== null ? [{ name, count: c }] : [];
    }),
  };
}

function parseAlert(v: unknown): HistoryAlert | null {
  if (!isObj(v)) return null;
  const id = num(v.id);
  const raised = num(v.raised_ms);
  if (id === null || raised === null) return null;
  return {
    id,
    zone: str(v.zone) ?? '',
    limit: num(v.limit) ?? 0,
    count: num(v.count) ?? 0,
    raised_ms: raised,
    cleared_ms: num(v.cleared_ms),
    acknowledged_ms: num(v.acknowledged_ms),
  };
}

function parseDensityGrid(v: unknown): DensityGrid | null {
  if (!isObj(v)) return null;
  const width = num(v.width);
  const height = num(v.height);
  const max = num(v.max);
  const data = str(v.data);
  if (width === null || height === null || max === null || data === null) return null;
  return { width, height, max, data };
}

/** `GET /api/history/flights/<id>`; null when it is not a flight. */
export function parseFlightDetail(v: unknown): FlightDetail | null {
  if (!isObj(v)) return null;
  const flight = parseFlightSummary(v.flight);
  if (!flight) return null;
  const p = v.peak_snapshot;
  const peak: PeakSnapshot | null =
    isObj(p) && num(p.t_ms) !== null && str(p.url) !== null
      ? { t_ms: num(p.t_ms)!, count: num(p.count) ?? 0, url: str(p.url)!, density: parseDensityGrid(p.density) }
      : null;
  return {
    flight,
    step: num(v.step) ?? 1,
    series: arr(v.series)
      .map(parsePoint)
      .filter((x): x is SeriesPoint => x !== null),
    alerts: arr(v.alerts)
      .map(parseAlert)
      .filter((x): x is HistoryAlert => x !== null),
    events: arr(v.events).flatMap((e) => {
      if (!isObj(e) || num(e.t_ms) === null || str(e.kind) === null) return [];
      return [{ t_ms: num(e.t_ms)!, kind: str(e.kind)!, detail: isObj(e.detail) ? e.detail : null }];
    }),
    peak,
    peakAnalysis: parsePeakAnalysis(v.peak_analysis),
    box: str(v.box),
    version: str(v.version),
  };
}

function parsePeakAnalysis(v: unknown): PeakAnalysis | null {
  if (!isObj(v)) return null;
  const t = num(v.t_ms);
  const smoothed = num(v.smoothed);
  if (t === null || smoothed === null) return null;
  const b = arr(v.band).map(num);
  const band: [number, number] | null = b.length === 2 && b[0] !== null && b[1] !== null && b[0] <= b[1] ? [b[0], b[1]] : null;
  return { t_ms: t, smoothed, band, calibrated: v.calibrated === true };
}

/** What the operator had set at one time: from a `setup` event of the history. */
export interface SetupAt {
  t_ms: number;
  /** the calibration as the status gave it, or null (none) */
  calibration: Record<string, unknown> | null;
  /** the masks' names (null: the event, recorded before issue 23, kept only how many) */
  masks: string[] | null;
  maskCount: number;
}

/** The setups of a flight, in time order: the one it began with, then each change. */
export function setups(events: readonly HistoryEvent[]): SetupAt[] {
  const out: SetupAt[] = [];
  for (const e of events) {
    if (e.kind !== 'setup' || !e.detail) continue;
    const c = e.detail.calibration;
    const m = e.detail.masks;
    const names = Array.isArray(m) ? m.flatMap((x) => (isObj(x) && typeof x.name === 'string' ? [x.name] : [])) : null;
    out.push({ t_ms: e.t_ms, calibration: isObj(c) ? c : null, masks: names, maskCount: names ? names.length : (num(m) ?? 0) });
  }
  return out;
}

/** The setup in force at `t` (the last one at or before it), or null. */
export function setupAt(all: readonly SetupAt[], t: number): SetupAt | null {
  let found: SetupAt | null = null;
  for (const s of all) if (s.t_ms <= t) found = s;
  return found;
}

/** A calibration's identity across setup events (its time made, or none). */
const calKey = (c: Record<string, unknown> | null): string => (c ? String(c.at_ms ?? JSON.stringify(c)) : 'none');

/** The times during the flight when the calibration changed (applied, replaced or reset). */
export function calibrationChanges(all: readonly SetupAt[], startMs: number): SetupAt[] {
  const out: SetupAt[] = [];
  let prev: string | null = null;
  for (const s of all) {
    const k = calKey(s.calibration);
    if (prev !== null && k !== prev && s.t_ms >= startMs) out.push(s);
    prev = k;
  }
  return out;
}

/** One sentence for a calibration kept in the history. */
export function calibrationLine(c: Record<string, unknown> | null): string {
  if (!c) return 'not calibrated by the operator (the model’s own count, with its uncalibrated band)';
  const v = isObj(c.verdict) ? c.verdict : null;
  const level = v && typeof v.level === 'string' ? `${v.level}: ` : '';
  const range = arr(c.range).map(num);
  const band = range.length === 2 && range[0] !== null && range[1] !== null ? `, truth within ${range[0]}× to ${range[1]}× the count` : '';
  const msg = typeof c.message === 'string' ? c.message : 'calibrated by the operator';
  return `${level}${msg}${band}`;
}

/** The chart's data: time in seconds, the count, the smoothed count, then one series per zone
 *  (null where the zone did not exist), in the order the zones first appear. */
export interface ChartData {
  xs: number[];
  count: number[];
  smoothed: number[];
  zones: { name: string; values: (number | null)[] }[];
}

export function chartData(series: readonly SeriesPoint[]): ChartData {
  const names: string[] = [];
  for (const p of series) for (const z of p.zones) if (!names.includes(z.name)) names.push(z.name);
  return {
    xs: series.map((p) => p.t_ms / 1000),
    count: series.map((p) => p.count),
    smoothed: series.map((p) => p.smoothed),
    zones: names.map((name) => ({
      name,
      values: series.map((p) => p.zones.find((z) => z.name === name)?.count ?? null),
    })),
  };
}

/** The highest count of each zone over the flight (for the report's zone table). */
export function zonePeaks(series: readonly SeriesPoint[]): { name: string; peak: number; at_ms: number }[] {
  const out = new Map<string, { peak: number; at_ms: number }>();
  for (const p of series) {
    for (const z of p.zones) {
      const cur = out.get(z.name);
      if (!cur || z.count > cur.peak) out.set(z.name, { peak: z.count, at_ms: p.t_ms });
    }
  }
  return [...out].map(([name, v]) => ({ name, ...v }));
}

/** The calibration the flight flew with: the last `setup` event's, or null (none). */
export function calibrationOf(events: readonly HistoryEvent[]): Record<string, unknown> | null {
  let cal: Record<string, unknown> | null = null;
  for (const e of events) {
    if (e.kind !== 'setup' || !e.detail) continue;
    const c = e.detail.calibration;
    cal = isObj(c) ? c : null;
  }
  return cal;
}

export type HistoryRoute = { view: 'live' } | { view: 'list' } | { view: 'flight'; id: number } | { view: 'report'; id: number };

/** `#/history`, `#/history/12`, `#/history/12/report`; anything else is the live dashboard. */
export function parseRoute(hash: string): HistoryRoute {
  const m = /^#\/history(?:\/(\d{1,15})(\/report)?)?\/?$/.exec(hash);
  if (!m) return { view: 'live' };
  if (!m[1]) return { view: 'list' };
  const id = Number(m[1]);
  if (!Number.isSafeInteger(id) || id <= 0) return { view: 'list' };
  return m[2] ? { view: 'report', id } : { view: 'flight', id };
}

export function routeHash(r: HistoryRoute): string {
  switch (r.view) {
    case 'live':
      return '#/';
    case 'list':
      return '#/history';
    case 'flight':
      return `#/history/${r.id}`;
    case 'report':
      return `#/history/${r.id}/report`;
  }
}

export const exportUrl = (id: number, form: 'csv' | 'json'): string => `/api/history/flights/${id}.${form}`;

/** A date and time for the report: "2026-12-02 10:50" (local). */
export function fmtDateTime(tMs: number | null | undefined): string {
  if (typeof tMs !== 'number' || !Number.isFinite(tMs)) return '—';
  const d = new Date(tMs);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
}

async function getJson<T>(url: string, parse: (v: unknown) => T, signal?: AbortSignal): Promise<T> {
  const res = await fetch(url, { signal, cache: 'no-store' });
  const body: unknown = await res.json().catch(() => null);
  if (!res.ok) {
    const why = isObj(body) && typeof body.error === 'string' ? body.error : `HTTP ${res.status}`;
    throw new Error(why);
  }
  return parse(body);
}

export const fetchFlights = (signal?: AbortSignal) => getJson('/api/history/flights', parseFlightList, signal);

/** Deletes an ended flight (the operator's; the daemon refuses one going on, with its reason). */
export async function deleteFlight(id: number, fetchFn?: typeof fetch): Promise<void> {
  await operatorRequest('DELETE', `history/flights/${encodeURIComponent(String(id))}`, undefined, fetchFn);
}

export async function fetchFlight(id: number, signal?: AbortSignal): Promise<FlightDetail> {
  const d = await getJson(`/api/history/flights/${id}`, parseFlightDetail, signal);
  if (!d) throw new Error(`flight ${id}: the box's answer is not a flight`);
  return d;
}

/** `status.history` (docs/api.md). */
export interface HistoryReport {
  enabled: boolean;
  state: 'ok' | 'paused' | 'off' | string;
  reason: string | null;
  bytes: number;
  max_bytes: number;
  oldest_ms: number | null;
  flights: number;
  lost_rows: number;
}

/** null from a daemon without a history. */
export function parseHistoryReport(v: unknown): HistoryReport | null {
  if (!isObj(v) || typeof v.enabled !== 'boolean' || str(v.state) === null) return null;
  return {
    enabled: v.enabled,
    state: str(v.state)!,
    reason: str(v.reason),
    bytes: num(v.bytes) ?? 0,
    max_bytes: num(v.max_bytes) ?? 0,
    oldest_ms: num(v.oldest_ms),
    flights: num(v.flights) ?? 0,
    lost_rows: num(v.lost_rows) ?? 0,
  };
}

const mib = (b: number): string => `${(b / 1048576).toFixed(b < 10 * 1048576 ? 1 : 0)} MB`;

/** One line for the health panel, and how it should look. */
export function historyLine(h: HistoryReport): { text: string; level: 'ok' | 'warn' | 'idle' } {
  if (!h.enabled || h.state === 'off') return { text: 'off', level: 'idle' };
  if (h.state === 'paused') return { text: h.reason ?? 'history paused', level: 'warn' };
  const since = h.oldest_ms === null ? '' : ` since ${fmtDateTime(h.oldest_ms)}`;
  return { text: `${h.flights} flight${h.flights === 1 ? '' : 's'}${since}, ${mib(h.bytes)} of ${mib(h.max_bytes)}`, level: 'ok' };
}
