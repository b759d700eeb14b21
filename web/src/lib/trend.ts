// The count's recent history: a window of the last minutes for the chart, the peak, the
// rate of analyses and whether the crowd is growing. Times are milliseconds on one clock
// (the browser's, at receipt: the box may have no time source in the field).
//
// Each point has the analysis's own count and its smoothed count (the median the big number
// shows). Peaks are of the smoothed count, as History's are: one noisy frame is not a peak, and
// the peak reads beside the big number in the same terms.

export type Direction = 'rising' | 'falling' | 'steady' | 'unknown';

export interface Peak {
  count: number;
  t: number;
  seq: number;
}

export class TrendWindow {
  /** how long points are kept (the longest chart window offered) */
  readonly retainMs: number;
  private t: number[] = [];
  private c: number[] = [];
  /** the smoothed counts, one per point */
  private sm: number[] = [];
  private head = 0;
  private lastSeq: number | null = null;
  private _peak: Peak | null = null;

  constructor(retainMs: number) {
    this.retainMs = retainMs;
  }

  get length(): number {
    return this.t.length - this.head;
  }

  /** The highest smoothed count seen since the page opened (not pruned with the window). */
  get peak(): Peak | null {
    return this._peak;
  }

  get latest(): { t: number; count: number } | null {
    const n = this.t.length;
    return n > this.head ? { t: this.t[n - 1], count: this.c[n - 1] } : null;
  }

  /**
   * Adds one analysis. A repeat of the last seq (the daemon re-sends its latest analysis to
   * every client that (re)connects) or a time going backwards is ignored; returns whether
   * the point was added.
   */
  push(seq: number, tMs: number, count: number, smoothed: number | null = null): boolean {
    if (!Number.isFinite(tMs) || !Number.isFinite(count)) return false;
    if (seq === this.lastSeq) return false;
    const n = this.t.length;
    if (n > this.head && tMs < this.t[n - 1]) return false;
    const sm = smoothed !== null && Number.isFinite(smoothed) ? smoothed : count;
    this.lastSeq = seq;
    this.t.push(tMs);
    this.c.push(count);
    this.sm.push(sm);
    if (!this._peak || sm > this._peak.count) this._peak = { count: sm, t: tMs, seq };
    this.prune(tMs);
    return true;
  }

  /** Drops points older than `retainMs` before `nowMs`. */
  prune(nowMs: number): void {
    const cutoff = nowMs - this.retainMs;
    const first = lowerBound(this.t, cutoff, this.head);
    this.head = first;
    if (this.head > 1024 && this.head * 2 > this.t.length) {
      this.t = this.t.slice(this.head);
      this.c = this.c.slice(this.head);
      this.sm = this.sm.slice(this.head);
      this.head = 0;
    }
  }

  /** Index of the first kept point with time >= fromMs. */
  private from(fromMs: number): number {
    return lowerBound(this.t, fromMs, this.head);
  }

  /** Chart data for the last `windowMs` before `nowMs`: [times in seconds, counts, smoothed]. */
  series(nowMs: number, windowMs: number): [Float64Array, Float64Array, Float64Array] {
    const i0 = this.from(nowMs - windowMs);
    const n = this.t.length - i0;
    const xs = new Float64Array(n);
    const ys = new Float64Array(n);
    const ss = new Float64Array(n);
    for (let k = 0; k < n; k++) {
      xs[k] = this.t[i0 + k] / 1000;
      ys[k] = this.c[i0 + k];
      ss[k] = this.sm[i0 + k];
    }
    return [xs, ys, ss];
  }

  /** Highest smoothed count within the last `windowMs`. */
  windowPeak(nowMs: number, windowMs: number): number | null {
    const i0 = this.from(nowMs - windowMs);
    if (i0 >= this.t.length) return null;
    let m = -Infinity;
    for (let i = i0; i < this.sm.length; i++) if (this.sm[i] > m) m = this.sm[i];
    return m;
  }

  /** Analyses received per second over the last `spanMs` (null with fewer than 2). */
  rate(nowMs: number, spanMs = 10_000): number | null {
    const i0 = this.from(nowMs - spanMs);
    const n = this.t.length - i0;
    if (n < 2) return null;
    const dt = this.t[this.t.length - 1] - this.t[i0];
    return dt > 0 ? ((n - 1) * 1000) / dt : null;
  }

  /**
   * Least-squares slope of the count over the last `spanMs`, in people per minute, and the
   * mean count; null without at least 3 points spanning a third of the span.
   */
  slope(nowMs: number, spanMs = 60_000): { perMinute: number; mean: number } | null {
    const i0 = this.from(nowMs - spanMs);
    const n = this.t.length - i0;
    if (n < 3) return null;
    const t0 = this.t[i0];
    if (this.t[this.t.length - 1] - t0 < spanMs / 3) return null;
    let sx = 0;
    let sy = 0;
    for (let i = i0; i < this.t.length; i++) {
      sx += (this.t[i] - t0) / 60_000;
      sy += this.c[i];
    }
    const mx = sx / n;
    const my = sy / n;
    let sxy = 0;
    let sxx = 0;
    for (let i = i0; i < this.t.length; i++) {
      const dx = (this.t[i] - t0) / 60_000 - mx;
      sxy += dx * (this.c[i] - my);
      sxx += dx * dx;
    }
    if (sxx === 0) return null;
    return { perMinute: sxy / sxx, mean: my };
  }

  clear(): void {
    this.t = [];
    this.c = [];
    this.sm = [];
    this.head = 0;
    this.lastSeq = null;
    this._peak = null;
  }
}

/** Rising or falling when the slope beats 1 person/min and 3 %/min of the mean count. */
export function direction(s: { perMinute: number; mean: number } | null): Direction {
  if (!s) return 'unknown';
  const threshold = Math.max(1, 0.03 * Math.abs(s.mean));
  if (s.perMinute > threshold) return 'rising';
  if (s.perMinute < -threshold) return 'falling';
  return 'steady';
}

/** First index >= lo whose value is >= x (values ascending). */
function lowerBound(a: number[], x: number, lo: number): number {
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
