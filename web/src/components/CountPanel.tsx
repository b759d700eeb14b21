import type { Analysis, Calibration } from '../lib/api';
import { COUNT_STATE_TEXT, countState, DEMO_TEXT, fmtClock, fmtCount, fmtHonest, fmtSlope, honestStep, roundTo } from '../lib/format';
import { lastKnownText, type Freshness } from '../lib/freshness';
import { zoneCountText } from '../lib/zones';
import { WINDOW_CHOICES, type Theme } from '../lib/settings';
import { direction, type TrendWindow } from '../lib/trend';
import { TrendChart } from './TrendChart';

interface Props {
  analysis: Analysis | null;
  /** the operator's calibration in force (status.calibration), with its verdict */
  calibration: Calibration | null;
  trend: TrendWindow;
  version: number;
  now: number;
  windowMin: number;
  onWindow: (min: number) => void;
  theme: Theme;
  /** the shown count is not current (link down or no stream) */
  stale: boolean;
  /** whether the box is reachable, and when the newest figure arrived */
  fresh: Freshness;
  /** the signed-in operator (who may calibrate) */
  operator: boolean;
  /** opens the operator's calibration flow */
  onCalibrate: () => void;
}

const ARROW = { rising: '▲', falling: '▼', steady: '▬', unknown: '' } as const;
const WORD = { rising: 'growing', falling: 'shrinking', steady: 'steady', unknown: 'trend: not enough data' } as const;

/** A smoothed count the way the big number shows it: "≈ 170". */
const approx = (n: number | null | undefined) => (n === null || n === undefined || !Number.isFinite(n) ? '—' : `≈ ${roundTo(n, honestStep(n))}`);

export function CountPanel({ analysis, calibration, trend, version, now, windowMin, onWindow, theme, stale, fresh, operator, onCalibrate }: Props) {
  const slope = fresh.lost ? null : trend.slope(now);
  const dir = direction(slope);
  const peak = trend.peak;
  const windowPeak = trend.windowPeak(now, windowMin * 60_000);
  const paused = analysis?.camera?.zones_paused === true;
  return (
    <section className={`panel count-panel${fresh.lost ? ' lost' : ''}`} aria-label="People count" data-testid="count-panel" data-lost={String(fresh.lost)}>
      <div className="count-row">
        <div className="count-box">
          <div className="label">People now</div>
          {analysis?.demo && (
            <div className="demo-badge" data-testid="demo-badge-count" role="note">
              {DEMO_TEXT}
            </div>
          )}
          <HonestCount analysis={analysis} calibration={calibration} stale={stale} operator={operator} onCalibrate={onCalibrate} />
          {fresh.lost && (
            <p className="last-known" data-testid="count-last-known">
              The box is not answering: {lastKnownText(fresh)}
            </p>
          )}
          <div className="frame-count muted">
            this frame:{' '}
            {/* the raw per-analysis count (docs/api.md `count`): what the e2e test compares with the events */}
            <span className={stale ? 'count-raw stale' : 'count-raw'} data-testid="count" data-seq={analysis?.seq} data-count={analysis?.count} data-stream={analysis?.stream ?? undefined}>
              {fmtCount(analysis?.count)}
            </span>{' '}
            <span className="small">(one analysis; the large number is the median of the last seconds)</span>
          </div>
        </div>
        <div className={`trend-dir dir-${dir}${fresh.lost ? ' stale' : ''}`} data-testid="trend" data-direction={dir}>
          <span className="arrow" aria-hidden="true">
            {ARROW[dir]}
          </span>
          <span className="word">{fresh.lost ? 'trend: not known while the box is not answering' : WORD[dir]}</span>
          {slope && dir !== 'unknown' && <span className="slope">{fmtSlope(slope.perMinute)}</span>}
        </div>
      </div>
      {analysis && analysis.zones.length > 0 && (
        <>
          {paused && (
            <p className="zones-paused" data-testid="zones-paused">
              {analysis.camera?.moving ? 'Camera moving: zones paused' : 'Camera away from the view the zones were drawn on: zones paused'}
            </p>
          )}
          <ul className={`zone-counts${fresh.lost || paused ? ' stale' : ''}`} aria-label="People per zone" data-testid="zone-counts">
            {analysis.zones.map((z) => (
              <li
                key={z.name}
                className={z.alerting ? 'alerting' : undefined}
                data-testid="zone-count"
                data-name={z.name}
                data-count={z.count}
                data-alerting={String(z.alerting)}
                data-paused={String(paused)}
              >
                <span className="zone-name" title={z.name}>
                  {z.name}
                </span>
                <strong className={stale || paused ? 'stale' : undefined}>{paused ? 'paused' : zoneCountText(z)}</strong>
                {!paused && <span className="muted small">{Math.round(z.share * 100)} %</span>}
              </li>
            ))}
          </ul>
        </>
      )}
      <div className={`peak-row${fresh.lost ? ' stale' : ''}`}>
        <span>
          Peak <strong data-testid="peak" data-value={peak?.count}>{approx(peak?.count)}</strong>
          {peak && <span className="muted"> at {fmtClock(peak.t)} (smoothed, since this page opened)</span>}
        </span>
        <span className="muted">
          last {windowMin} min: <strong data-testid="window-peak">{approx(windowPeak)}</strong>
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
 * so that it claims no more precision than the model has, and whether an operator's calibration
 * makes it trustworthy. Not a live region: it changes with every analysis.
 */
function HonestCount({
  analysis,
  calibration,
  stale,
  operator,
  onCalibrate,
}: {
  analysis: Analysis | null;
  calibration: Calibration | null;
  stale: boolean;
  operator: boolean;
  onCalibrate: () => void;
}) {
  const smoothed = analysis ? (analysis.smoothed ?? analysis.count) : null;
  const h = fmtHonest(smoothed, analysis?.band);
  const state = countState(analysis?.calibrated === true, calibration);
  return (
    <div
      className={stale ? 'honest stale' : 'honest'}
      data-testid="honest-count"
      data-smoothed={smoothed ?? undefined}
      data-band={analysis?.band ? analysis.band.join(' ') : undefined}
      data-calibrated={analysis ? String(analysis.calibrated) : undefined}
    >
      <span className="count">{h.value}</span>
      {analysis && (
        <span className="honest-note" data-testid="calibration-state" data-value={state}>
          {h.band && (
            <>
              <span className="vh"> </span>
              <span className="band" data-testid="count-band">
                ({h.band})
              </span>
            </>
          )}
          {h.band ? ', ' : <span className="vh">, </span>}
          {COUNT_STATE_TEXT[state]}
          {operator && (state === 'not-calibrated' || state === 'untrusted') && (
            <>
              {' '}
              <button type="button" className="link-button" data-testid="calibrate-from-count" onClick={onCalibrate}>
                Calibrate
              </button>
            </>
          )}
        </span>
      )}
    </div>
  );
}
