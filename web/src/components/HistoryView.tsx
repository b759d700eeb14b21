import { useEffect, useState } from 'react';
import { fetchSession } from '../lib/auth';
import {
  calibrationOf,
  deleteFlight,
  exportUrl,
  fetchFlight,
  fetchFlights,
  fmtDateTime,
  routeHash,
  zonePeaks,
  type FlightDetail,
  type FlightSummary,
  type HistoryRoute,
} from '../lib/history';
import { fmtClock, fmtCount, fmtDuration } from '../lib/format';
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

/** The history pages: the list of flights, one flight, its printable report. */
export function HistoryView({ route }: { route: Exclude<HistoryRoute, { view: 'live' }> }) {
  if (route.view === 'report') return <FlightReport id={route.id} />;
  return (
    <div className="app history">
      <header className="topbar">
        <h1>skycount · history</h1>
        <a className="button" href={routeHash({ view: 'live' })}>
          ← Live
        </a>
      </header>
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
        <FlightChart series={d.series} alerts={d.alerts} />
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

/** The printable report: what a safety officer files after the event. */
function FlightReport({ id }: { id: number }) {
  const got = useLoad((s) => fetchFlight(id, s), id);
  useEffect(() => {
    document.title = `skycount flight ${id} report`;
  }, [id]);
  if (got.state === 'loading') return <p className="muted">Loading flight {id}…</p>;
  if (got.state === 'error') return <p className="error">{got.error}</p>;
  const d = got.value;
  const cal = calibrationOf(d.events);
  const zones = zonePeaks(d.series);
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
      <h2>People over the flight</h2>
      <FlightChart series={d.series} alerts={d.alerts} width={680} height={240} paper />
      <p className="small">Thin line: the count of each analysis; thick line: the smoothed count; dashed: zones; red lines: alerts raised.</p>
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
      <p>
        {cal
          ? typeof cal.message === 'string'
            ? cal.message
            : 'Calibrated by the operator.'
          : 'Not calibrated: counts are the model’s own (see the box’s accuracy notes for their typical error).'}
      </p>
    </article>
  );
}
