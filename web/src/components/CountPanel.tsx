import type { Analysis } from '../lib/api';
import { DEMO_TEXT, fmtClock, fmtCount, fmtHonest, fmtSlope } from '../lib/format';
import { zoneCountText } from '../lib/zones';
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
  /** opens the operator's calibration flow */
  onCalibrate: () => void;
}

const ARROW = { rising: '▲', falling: '▼', steady: '▬', unknown: '' } as const;
const WORD = { rising: 'growing', falling: 'shrinking', steady: 'steady', unknown: 'trend: not enough data' } as const;

export function CountPanel({ analysis, trend, version, now, windowMin, onWindow, theme, stale, onCalibrate }: Props) {
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
          <HonestCount analysis={analysis} stale={stale} onCalibrate={onCalibrate} />
          <div className="frame-count muted">
            this frame:{' '}
            {/* the raw per-analysis count (docs/api.md `count`): what the e2e test compares with the events */}
            <output className={stale ? 'count-raw stale' : 'count-raw'} data-testid="count" data-seq={analysis?.seq} data-count={analysis?.count}>
              {fmtCount(analysis?.count)}
            </output>
          </div>
        </div>
        <div className={`trend-dir dir-${dir}`} data-testid="trend" data-direction={dir}>
          <span className="arrow" aria-hidden="true">
            {ARROW[dir]}
          </span>
          <span className="word">{WORD[dir]}</span>
          {slope && dir !== 'unknown' && <span className="slope">{fmtSlope(slope.perMinute)}</span>}
        </div>
      </div>
      {analysis && analysis.zones.length > 0 && (
        <ul className="zone-counts" aria-label="People per zone" data-testid="zone-counts">
          {analysis.zones.map((z) => (
            <li key={z.name} className={z.alerting ? 'alerting' : undefined} data-testid="zone-count" data-name={z.name} data-count={z.count} data-alerting={String(z.alerting)}>
              <span className="zone-name">{z.name}</span>
              <strong className={stale ? 'stale' : undefined}>{zoneCountText(z)}</strong>
              <span className="muted small">{Math.round(z.share * 100)} %</span>
            </li>
          ))}
        </ul>
      )}
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

/**
 * The count as it should be read: the median of the last counts with its honest range, rounded
 * so that it claims no more precision than the model has, and whether it is calibrated.
 */
function HonestCount({ analysis, stale, onCalibrate }: { analysis: Analysis | null; stale: boolean; onCalibrate: () => void }) {
  const smoothed = analysis ? (analysis.smoothed ?? analysis.count) : null;
  const h = fmtHonest(smoothed, analysis?.band);
  const calibrated = analysis?.calibrated === true;
  return (
    <div
      className={stale ? 'honest stale' : 'honest'}
      data-testid="honest-count"
      data-smoothed={smoothed ?? undefined}
      data-band={analysis?.band ? analysis.band.join(' ') : undefined}
      data-calibrated={analysis ? String(calibrated) : undefined}
    >
      <span className="count" aria-live="polite">
        {h.value}
      </span>
      {analysis &&
        (calibrated ? (
          <span className="honest-note" data-testid="calibration-state" data-value="calibrated">
            {h.band && (
              <>
                <span className="vh"> </span>
                <span className="band">({h.band})</span>
              </>
            )}
            {h.band ? ', ' : <span className="vh">, </span>}calibrated
          </span>
        ) : (
          <span className="honest-note" data-testid="calibration-state" data-value="not-calibrated">
            <span className="vh">, </span>not calibrated: tap{' '}
            <button type="button" className="link-button" data-testid="calibrate-from-count" onClick={onCalibrate}>
              Calibrate
            </button>
          </span>
        ))}
    </div>
  );
}
