// Number and time formatting for the dashboard (plain strings, no Intl surprises).

export const DASH = '—';

/** What the demo badges say, over the picture and beside the count. */
/** Beside a figure of a box that does not answer (the health panel's rows). */
export const lastKnownOnly = 'last known';

export const DEMO_TEXT = 'DEMO — no drone streaming; showing a recorded sample';

const ok = (v: number | null | undefined): v is number => typeof v === 'number' && Number.isFinite(v);

/** Milliseconds as "812 ms", "4.2 s", "3 min 5 s". */
export function fmtMs(ms: number | null | undefined): string {
  if (!ok(ms)) return DASH;
  if (ms < 0) ms = 0;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 10_000) return `${(ms / 1000).toFixed(1)} s`;
  return fmtDuration(ms / 1000);
}

/** Seconds as "42 s", "3 min 5 s", "2 h 7 min", "3 d 4 h". */
export function fmtDuration(s: number | null | undefined): string {
  if (!ok(s)) return DASH;
  s = Math.max(0, Math.floor(s));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h} h ${m % 60} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

/** A head count: whole people. */
export function fmtCount(n: number | null | undefined): string {
  if (!ok(n)) return DASH;
  return String(Math.round(Math.max(0, n)));
}

/** A rate such as analyses per second: "1.2 /s", "0.25 /s". */
export function fmtRate(r: number | null | undefined): string {
  if (!ok(r)) return DASH;
  return `${r >= 10 ? r.toFixed(0) : r >= 1 ? r.toFixed(1) : r.toFixed(2)} /s`;
}

/** Signed people per minute: "+8 /min", "−3 /min". */
export function fmtSlope(perMinute: number | null | undefined): string {
  if (!ok(perMinute)) return DASH;
  const r = Math.round(perMinute);
  if (r === 0) return '±0 /min';
  return `${r > 0 ? '+' : '−'}${Math.abs(r)} /min`;
}

/** Local wall-clock time "14:05:09". */
export function fmtClock(tMs: number | null | undefined): string {
  if (!ok(tMs)) return DASH;
  const d = new Date(tMs);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** People per cell for the legend: "0.42", "3.1", "0.003". */
export function fmtDensity(v: number | null | undefined): string {
  if (!ok(v)) return DASH;
  if (v >= 10) return v.toFixed(0);
  if (v >= 1) return v.toFixed(1);
  if (v >= 0.01) return v.toFixed(2);
  return v.toPrecision(1);
}

/** Labels of time-axis ticks (Unix seconds): HH:MM, or HH:MM:SS when ticks are under a minute apart. */
export function timeAxisLabels(splits: number[]): string[] {
  const step = splits.length > 1 ? Math.abs(splits[1] - splits[0]) : 60;
  return splits.map((s) => {
    const c = fmtClock(s * 1000);
    return step < 60 || s % 60 !== 0 ? c : c.slice(0, 5);
  });
}

/**
 * The rounding step for an estimate of about `n` people: whole people under 100, two significant
 * digits from 100 on (212 → 210, 1234 → 1200): the model is not more precise than that.
 */
export function honestStep(n: number): number {
  if (!ok(n) || Math.abs(n) < 100) return 1;
  return 10 ** (Math.floor(Math.log10(Math.abs(n))) - 1);
}

/** `n` rounded to `step` (≥ 0). */
export const roundTo = (n: number, step: number): number => Math.max(0, Math.round(n / step) * step);

export interface HonestCount {
  /** "≈ 210" */
  value: string;
  /** "190–230" (same rounding step as the value), null without a band */
  band: string | null;
}

/** The smoothed count and its band, without false precision: "≈ 210" and "190–230". */
export function fmtHonest(smoothed: number | null | undefined, band: readonly [number, number] | null | undefined): HonestCount {
  if (!ok(smoothed)) return { value: DASH, band: null };
  const step = honestStep(smoothed);
  const value = `≈ ${roundTo(smoothed, step)}`;
  if (!band || !ok(band[0]) || !ok(band[1])) return { value, band: null };
  const lo = roundTo(Math.min(band[0], smoothed), step);
  const hi = roundTo(Math.max(band[1], smoothed), step);
  return { value, band: `${lo}–${hi}` };
}

/** "analysing 1280x720 (scale 0.67, from calibration) · 0.80 /s" from status.analysis. */
export function fmtAnalysisScale(a: {
  width: number | null;
  height: number | null;
  scale: number | null;
  from: string | null;
  tiles: number | null;
  analysed_fps: number | null;
} | null): string {
  if (!a) return DASH;
  const size = ok(a.width) && ok(a.height) ? `${a.width}x${a.height}` : 'no frame yet';
  const how = [ok(a.scale) ? `scale ${a.scale.toFixed(2)}` : null, a.from ? `from ${a.from}` : null].filter(Boolean).join(', ');
  const tiles = ok(a.tiles) && a.tiles > 1 ? ` in ${a.tiles} tiles` : '';
  return `analysing ${size}${how ? ` (${how})` : ''}${tiles} · ${fmtRate(a.analysed_fps)}`;
}

/** How the big count is to be read, in words: whether an operator's calibration makes it
 * trustworthy (docs/accuracy.md). */
export type CountState = 'calibrated' | 'calibrated-doubtful' | 'untrusted' | 'not-calibrated';

export function countState(
  analysisCalibrated: boolean,
  calibration: { verdict: { level: string } | null } | null,
): CountState {
  if (analysisCalibrated) return calibration?.verdict?.level === 'doubtful' ? 'calibrated-doubtful' : 'calibrated';
  // A calibration is applied but its band is wider than uncalibrated: it is not called calibrated.
  if (calibration) return 'untrusted';
  return 'not-calibrated';
}

export const COUNT_STATE_TEXT: Record<CountState, string> = {
  calibrated: 'calibrated',
  'calibrated-doubtful': 'calibrated, doubtful',
  untrusted: 'calibration too uncertain to trust',
  'not-calibrated': 'not calibrated by the operator',
};
