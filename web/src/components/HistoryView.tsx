import { useEffect, useMemo, useState } from 'react';
import { fetchStatus, type Alert } from '../lib/api';
import { fetchSession } from '../lib/auth';
import {
  calibrationChanges,
  calibrationLine,
  deleteFlight,
  exportUrl,
  fetchFlight,
  fetchFlights,
  fmtDateTime,
  routeHash,
  setupAt,
  setups,
  zonePeaks,
  type FlightDetail,
  type FlightSummary,
  type HistoryRoute,
} from '../lib/history';
import { fmtClock, fmtCount, fmtDuration, fmtHonest } from '../lib/format';
import { AlertBanner } from './AlertBanner';
import { FlightChart } from './FlightChart';
import { PeakSnapshot } from './PeakSnapshot';
import '../history.css';

type Loaded<T> = { state: 'loading' } | { state: 'error'; error: string } | { state: 'ok'; value: T };

function useLoad<T>(load: (signal: AbortSignal) => Promise<T>, key: unknown): Loaded<T> {
  const [got, setGot] = useState<Loaded<T>>({ state: 'loading' });
  useEffect(() => {
    const ac = new AbortController();
    setGot({ state: 'loading' });
    load(ac.signal).then(
      (value) => setGot({ state: 'ok', value }),
      (e: unknown) => !ac.signal.aborted && setGot({ state: 'error', error: e instanceof Error ? e.message : String(e) }),
    );
    return () => ac.abort();
    // `key` says when to load again; `load` is a new closure each render
  }, [key]);
  return got;
}

const ALERTS_POLL_MS = 5000;

/** The open alerts, from the box's status every few seconds (the history pages keep no link). */
function useOpenAlerts(): Alert[] {
  const [alerts, setAlerts] = useState<Alert[]>([]);
  useEffect(() => {
    const ac = new AbortController();
    // A new list only when it changed: the flight's page is not drawn again every few seconds.
    const poll = () =>
      fetchStatus(ac.signal).then(
        (s) => setAlerts((prev) => (JSON.stringify(prev) === JSON.stringify(s.alerts) ? prev : s.alerts)),
        () => undefined,
      );
    void poll();
    const id = setInterval(poll, ALERTS_POLL_MS);
    return () => {
      ac.abort();
      clearInterval(id);
    };
  }, []);
  return alerts;
}

/** The history pages: the list of flights, one flight, its printable report. */
export function HistoryView({ route }: { route: Exclude<HistoryRoute, { view: 'live' }> }) {
  const alerts = useOpenAlerts();
  if (route.view === 'report') return <FlightReport id={route.id} />;
  return (
    <div className="app history">
      <header className="topbar">
        <h1>skycount · history</h1>
        <a className="button" href={routeHash({ view: 'live' })}>
          ← Live
        </a>
      </header>
      {/* An alert open now is not history: it is shown here too, and acknowledged on the live page. */}
      <AlertBanner alerts={alerts} operator={false} onAcknowledge={async () => undefined} />
      {alerts.some((a) => a.acknowledged_ms === null) && (
        <p className="history-alert-hint">
          <a href={routeHash({ view: 'live' })}>Go to the live page</a> to see the zone and acknowledge the alert.
        </p>
      )}
      <main className="history-main">{route.view === 'list' ? <FlightList /> : <FlightView id={route.id} />}</main>
    </div>
  );
}

function FlightList() {
  const got = useLoad(fetchFlights, 'list');
  if (got.state === 'loading') return <p className="muted">Loading the flights…</p>;
  if (got.state === 'error') return <p className="error">The history cannot be read: {got.error}</p>;
  const flights = got.value;
  if (flights.length === 0) return <p className="muted">No flight recorded yet: a flight begins when a drone streams.</p>;
  return (
    <section className="panel">
      <h2>Flights</h2>
      <table className="flights" data-testid="flights">
        <thead>
          <tr>
            <th>Start</th>
            <th>Duration</th>
            <th>Peak</th>
            <th>Peak at</th>
            <th>Alerts</th>
            <th>Stream</th>
          </tr>
        </thead>
        <tbody>
          {flights.map((f) => (
            <tr key={f.id}>
              <td>
                <a href={routeHash({ view: 'flight', id: f.id })}>{fmtDateTime(f.start_ms)}</a>
              </td>
              <td>
                {fmtDuration(f.duration_s)}
                {f.end_ms === null && <span className="ongoing"> (going on)</span>}
              </td>
              <td>{fmtCount(f.peak)}</td>
              <td>{fmtClock(f.peak_ms)}</td>
              <td>{f.alerts}</td>
              <td>{f.stream}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function FlightFacts({ f }: { f: FlightSummary }) {
  return (
    <dl className="facts">
      <dt>Start</dt>
      <dd>{fmtDateTime(f.start_ms)}</dd>
      <dt>End</dt>
      <dd>{f.end_ms === null ? 'going on' : fmtDateTime(f.end_ms)}</dd>
      <dt>Duration</dt>
      <dd>{fmtDuration(f.duration_s)}</dd>
      <dt>Peak</dt>
      <dd>
        {fmtCount(f.peak)} people at {fmtClock(f.peak_ms)}
      </dd>
      <dt>Stream</dt>
      <dd>{f.stream}</dd>
    </dl>
  );
}

function AlertTable({ d }: { d: FlightDetail }) {
  if (d.alerts.length === 0) return <p className="muted">No alert during this flight.</p>;
  return (
    <table className="alerts">
      <thead>
        <tr>
          <th>Zone</th>
          <th>Limit</th>
          <th>Count</th>
          <th>Raised</th>
          <th>Cleared</th>
          <th>Acknowledged</th>
        </tr>
      </thead>
      <tbody>
        {d.alerts.map((a) => (
          <tr key={`${a.id}-${a.raised_ms}`}>
            <td>{a.zone}</td>
            <td>{a.limit}</td>
            <td>{fmtCount(a.count)}</td>
            <td>{fmtClock(a.raised_ms)}</td>
            <td>{a.cleared_ms === null ? '—' : fmtClock(a.cleared_ms)}</td>
            <td>{a.acknowledged_ms === null ? '—' : fmtClock(a.acknowledged_ms)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function FlightView({ id }: { id: number }) {
  const got = useLoad((s) => fetchFlight(id, s), id);
  if (got.state === 'loading') return <p className="muted">Loading flight {id}…</p>;
  if (got.state === 'error') return <p className="error">{got.error}</p>;
  const d = got.value;
  return <FlightPage d={d} id={id} />;
}

function FlightPage({ d, id }: { d: FlightDetail; id: number }) {
  const marks = useMemo(() => calibrationMarks(d), [d]);
  return (
    <div className="flight" data-testid="flight">
      <p>
        <a href={routeHash({ view: 'list' })}>← All flights</a>
      </p>
      <section className="panel">
        <h2>Flight {d.flight.id}</h2>
        <FlightFacts f={d.flight} />
        <p className="exports">
          <a className="button" href={exportUrl(id, 'csv')} download data-testid="export-csv">
            Export CSV
          </a>
          <a className="button" href={exportUrl(id, 'json')} download>
            Export JSON
          </a>
          <a className="button" href={routeHash({ view: 'report', id })} data-testid="report-link">
            Printable report
          </a>
          {d.flight.end_ms !== null && <DeleteFlight id={id} />}
        </p>
      </section>
      <section className="panel">
        <h2>People over the flight</h2>
        {d.step > 1 && <p className="muted small">Every {d.step}th analysis shown; the exports have them all.</p>}
        <FlightChart series={d.series} alerts={d.alerts} marks={marks} />
        <ChartKey d={d} />
      </section>
      {d.peak && (
        <section className="panel">
          <h2>At the peak</h2>
          <PeakSnapshot peak={d.peak} />
        </section>
      )}
      <section className="panel">
        <h2>Alerts</h2>
        <AlertTable d={d} />
      </section>
    </div>
  );
}

/** The operator's Delete (a rehearsal, a test flight): two taps, then back to the list. */
function DeleteFlight({ id }: { id: number }) {
  const session = useLoad(() => fetchSession(), 'session');
  const [confirm, setConfirm] = useState(false);
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  useEffect(() => {
    if (!confirm) return;
    const t = setTimeout(() => setConfirm(false), 4000);
    return () => clearTimeout(t);
  }, [confirm]);
  if (session.state !== 'ok' || !session.value.operator) return null;
  const remove = async () => {
    if (!confirm) {
      setConfirm(true);
      return;
    }
    setBusy(true);
    setProblem(null);
    try {
      await deleteFlight(id);
      window.location.hash = routeHash({ view: 'list' });
    } catch (e) {
      setProblem(e instanceof Error ? e.message : String(e));
      setConfirm(false);
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <button type="button" onClick={remove} disabled={busy} className={confirm ? 'danger' : undefined} data-testid="flight-delete">
        {busy ? 'Deleting…' : confirm ? 'Tap again to delete this flight' : 'Delete flight'}
      </button>
      {problem && <span className="error">{problem}</span>}
    </>
  );
}

/** Where the calibration changed during the flight, for the chart. */
function calibrationMarks(d: FlightDetail): { t_ms: number; label: string }[] {
  return calibrationChanges(setups(d.events), d.flight.start_ms).map((s) => ({ t_ms: s.t_ms, label: s.calibration ? 'calibrated' : 'calibration reset' }));
}

function ChartKey({ d, paper = false }: { d: FlightDetail; paper?: boolean }) {
  const changes = calibrationMarks(d).length;
  return (
    <p className="small chart-key" data-testid="chart-key">
      Thin grey line: the count of each analysis; thick line: the smoothed count{d.series.some((p) => p.zones.length) ? '; dashed: zones' : ''}; red
      lines: alerts raised{changes ? `; dashed ${paper ? 'purple' : 'violet'} lines: the calibration changed (${changes})` : ''}.
    </p>
  );
}

/** The printable report: what a safety officer files after the event. */
function FlightReport({ id }: { id: number }) {
  const got = useLoad((s) => fetchFlight(id, s), id);
  useEffect(() => {
    document.title = `skycount flight ${id} report`;
  }, [id]);
  if (got.state === 'loading') return <p className="muted">Loading flight {id}…</p>;
  if (got.state === 'error') return <p className="error">{got.error}</p>;
  return <Report d={got.value} id={id} />;
}

function Report({ d, id }: { d: FlightDetail; id: number }) {
  const marks = useMemo(() => calibrationMarks(d), [d]);
  const all = setups(d.events);
  const changes = calibrationChanges(all, d.flight.start_ms);
  const atStart = setupAt(all, d.flight.start_ms);
  const atPeak = setupAt(all, d.flight.peak_ms);
  const zones = zonePeaks(d.series);
  const pa = d.peakAnalysis;
  const peakText = pa ? fmtHonest(pa.smoothed, pa.band) : null;
  return (
    <article className="report" data-testid="report">
      <p className="no-print">
        <a href={routeHash({ view: 'flight', id })}>← Back</a>{' '}
        <button type="button" onClick={() => window.print()}>
          Print or save as PDF
        </button>
      </p>
      <h1>Flight report: flight {d.flight.id}</h1>
      <p className="report-meta">
        Box <strong>{d.box ?? 'unknown'}</strong> · skycount {d.version ?? '?'} · printed {fmtDateTime(Date.now())}
      </p>
      <FlightFacts f={d.flight} />
      <p data-testid="report-peak">
        At the peak ({fmtClock(d.flight.peak_ms)}):{' '}
        {peakText ? (
          <>
            <strong>{peakText.value}</strong>
            {peakText.band && <> (between {peakText.band})</>}, {pa?.calibrated ? 'calibrated' : 'not calibrated'}
          </>
        ) : (
          <>{fmtCount(d.flight.peak)} people (smoothed; its band is no longer kept)</>
        )}
        .
      </p>
      <h2>People over the flight</h2>
      <FlightChart series={d.series} alerts={d.alerts} width={680} height={240} paper marks={marks} />
      <ChartKey d={d} paper />
      {d.peak && (
        <>
          <h2>At the peak</h2>
          <PeakSnapshot peak={d.peak} />
        </>
      )}
      <h2>Zones</h2>
      {zones.length === 0 ? (
        <p>No zone was set during this flight.</p>
      ) : (
        <table className="zones">
          <thead>
            <tr>
              <th>Zone</th>
              <th>Peak</th>
              <th>At</th>
            </tr>
          </thead>
          <tbody>
            {zones.map((z) => (
              <tr key={z.name}>
                <td>{z.name}</td>
                <td>{fmtCount(z.peak)}</td>
                <td>{fmtClock(z.at_ms)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h2>Alerts</h2>
      <AlertTable d={d} />
      <h2>Calibration</h2>
      <ul className="report-calibration" data-testid="report-calibration">
        <li>
          At the start ({fmtClock(d.flight.start_ms)}): {calibrationLine(atStart?.calibration ?? null)}.
        </li>
        {changes.map((c) => (
          <li key={c.t_ms}>
            {fmtClock(c.t_ms)}: {c.calibration ? 'calibrated: ' : 'reset: '}
            {calibrationLine(c.calibration)}.
          </li>
        ))}
        <li>
          <strong>At the peak</strong> ({fmtClock(d.flight.peak_ms)}): {calibrationLine(atPeak?.calibration ?? null)}.
        </li>
      </ul>
      <h2>Areas not counted</h2>
      <p data-testid="report-masks">
        {atPeak === null
          ? 'Not known for this flight.'
          : atPeak.maskCount === 0
            ? 'None at the peak: the whole picture was counted.'
            : atPeak.masks
              ? `At the peak: ${atPeak.masks.map((m) => `“${m}”`).join(', ')} (not counted).`
              : `At the peak: ${atPeak.maskCount} area${atPeak.maskCount === 1 ? '' : 's'} not counted.`}
      </p>
    </article>
  );
}
