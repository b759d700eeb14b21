import { useEffect, useState } from 'react';
import { lastKnownOnly } from '../lib/format';
import { fetchUpdate, softwareLine, type UpdateReport } from '../lib/update';

/** How often viewers' dashboards ask which software runs (an update is rare). */
const EVERY_MS = 30_000;

/**
 * The box's software in the health panel, for every viewer: the running version and slot, an
 * update under way, the last update's outcome (read-only; the operator acts in the Operator
 * panel's Software update). `stale` while the box does not answer: the last known line, greyed,
 * like every other figure of the panel.
 */
export function SoftwareRow({ stale = false }: { stale?: boolean }) {
  const [report, setReport] = useState<UpdateReport | null>(null);
  useEffect(() => {
    let live = true;
    const ask = () =>
      fetchUpdate()
        .then((r) => live && setReport(r))
        .catch(() => undefined);
    ask();
    const id = setInterval(ask, EVERY_MS);
    return () => {
      live = false;
      clearInterval(id);
    };
  }, []);
  if (!report) return null;
  const line = softwareLine(report);
  return (
    <>
      <dt>Software</dt>
      <dd
        data-testid="software"
        data-value={report.running.version ?? undefined}
        data-stale={stale ? 'true' : undefined}
        className={stale ? 'stale' : line.level ? `lvl lvl-${line.level}` : undefined}
      >
        {line.text}
        {stale && <small> ({lastKnownOnly})</small>}
      </dd>
    </>
  );
}
