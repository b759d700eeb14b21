import type { Analysis } from '../lib/api';
import { DEMO_TEXT, fmtClock, fmtCount, fmtSlope } from '../lib/format';
import { WINDOW_CHOICES, type Theme } from '../lib/settings';
import { direction, type TrendWindow } from '../lib/trend';
import { TrendChart } from './TrendChart';

interface Props {
  analysis: Analysis | null;
  trend: TrendWindow;
  version: number;
  now: number;
  windowMin: number;
  onWindow: (min: number) => void;
  theme: Theme;
  /** the shown count is not current (link down or no stream) */
  stale: boolean;
}

const ARROW = { rising: '▲', falling: '▼', steady: '▬', unknown: '' } as const;
const WORD = { rising: 'growing', falling: 'shrinking', steady: 'steady', unknown: 'trend: not enough data' } as const;

export function CountPanel({ analysis, trend, version, now, windowMin, onWindow, theme, stale }: Props) {
  const slope = trend.slope(now);
  const dir = direction(slope);
  const peak = trend.peak;
  const windowPeak = trend.windowPeak(now, windowMin * 60_000);
  return (
    <section className="panel count-panel" aria-label="People count">
      <div className="count-row">
        <div className="count-box">
          <div className="label">People now</div>
          {analysis?.demo && (
            <div className="demo-badge" data-testid="demo-badge-count" role="note">
              {DEMO_TEXT}
            </div>
          )}
          <output
            className={stale ? 'count stale' : 'count'}
            data-testid="count"
            data-seq={analysis?.seq}
            data-count={analysis?.count}
            aria-live="polite"
          >
            {fmtCount(analysis?.count)}
          </output>
        </div>
        <div className={`trend-dir dir-${dir}`} data-testid="trend" data-direction={dir}>
          <span className="arrow" aria-hidden="true">
            {ARROW[dir]}
          </span>
          <span className="word">{WORD[dir]}</span>
          {slope && dir !== 'unknown' && <span className="slope">{fmtSlope(slope.perMinute)}</span>}
        </div>
      </div>
      <div className="peak-row">
        <span>
          Peak <strong data-testid="peak" data-value={peak?.count}>{fmtCount(peak?.count)}</strong>
          {peak && <span className="muted"> at {fmtClock(peak.t)}</span>}
        </span>
        <span className="muted">
          last {windowMin} min: <strong data-testid="window-peak">{fmtCount(windowPeak)}</strong>
        </span>
      </div>
      <TrendChart trend={trend} version={version} windowMin={windowMin} theme={theme} />
      <div className="segmented" role="group" aria-label="Chart window">
        {WINDOW_CHOICES.map((m) => (
          <button key={m} type="button" aria-pressed={m === windowMin} onClick={() => onWindow(m)}>
            {m} min
          </button>
        ))}
      </div>
    </section>
  );
}
