import { useState } from 'react';
import type { Zone } from '../lib/api';
import { MAX_NAME, MIN_POINTS, removeShape, startEditing, updateShape } from '../lib/shapes';
import { MAX_ZONES, parseLimit, zoneProblems, ZONES, zonesBody, type ZoneEditor } from '../lib/zones';
import { saveZones } from '../lib/operator';

interface Props {
  /** the drone they are for: its stream, or null for the configured drone */
  stream: string | null;
  /** the zones in force (the daemon's, or the ones just saved) */
  zones: readonly Zone[];
  editor: ZoneEditor | null;
  setEditor: (f: (ed: ZoneEditor | null) => ZoneEditor | null) => void;
  /** the zones were saved: the daemon's answer */
  onSaved: (zones: Zone[]) => void;
  onNote: (n: { text: string; error: boolean } | null) => void;
}

/** The operator's zones: drawn on the video like the areas not counted, named, with a limit. */
export function ZoneSection({ stream, zones, editor: ed, setEditor, onSaved, onNote }: Props) {
  const [busy, setBusy] = useState(false);
  // what is typed in each limit field (a half-typed number is not a limit yet)
  const [typed, setTyped] = useState<Record<number, string>>({});
  const problems = ed ? zoneProblems(ed.shapes) : [];
  const shown = ed ? ed.shapes : zones;

  const save = async () => {
    if (!ed || problems.length) return;
    setBusy(true);
    try {
      const kept = await saveZones(zonesBody(ed.shapes), stream);
      onSaved(kept);
      setEditor(() => null);
      setTyped({});
      onNote({ text: kept.length ? `Saved ${kept.length} zone${kept.length === 1 ? '' : 's'}, counted from the next analysis.` : 'No zones any more.', error: false });
    } catch (e) {
      onNote({ text: e instanceof Error ? e.message : String(e), error: true });
    } finally {
      setBusy(false);
    }
  };

  return (
    <>
      <h3>Zones</h3>
      {shown.length === 0 ? (
        <p className="muted small">{ed ? 'None yet: tap the corners of a zone on the video.' : 'None: draw zones to count the stage front, an exit… on their own.'}</p>
      ) : (
        <ul className="shape-list" data-testid="zone-list">
          {shown.map((z, i) => (
            <li key={i}>
              {ed ? (
                <>
                  <input
                    type="text"
                    value={z.name}
                    aria-label={`Name of zone ${i + 1} (at most ${MAX_NAME} characters)`}
                    onChange={(e) => setEditor((x) => x && updateShape(x, i, { name: e.target.value }))}
                    data-testid="zone-name"
                  />
                  <input
                    type="text"
                    inputMode="numeric"
                    className="limit"
                    placeholder="no limit"
                    value={typed[i] ?? (z.limit === null ? '' : String(z.limit))}
                    aria-label={`Limit of zone ${i + 1}, people (empty: no alert)`}
                    onChange={(e) => {
                      const text = e.target.value;
                      const limit = parseLimit(text);
                      setTyped((t) => ({ ...t, [i]: text }));
                      setEditor((x) => x && updateShape(x, i, { limit: limit === undefined ? NaN : limit }));
                    }}
                    data-testid="zone-limit"
                  />
                  <button
                    type="button"
                    onClick={() => {
                      setTyped({});
                      setEditor((x) => x && removeShape(x, i));
                    }}
                    aria-label={`Delete ${z.name || `zone ${i + 1}`}`}
                    data-testid="zone-delete"
                  >
                    Delete
                  </button>
                </>
              ) : (
                <>
                  <span className="shape-name" title={z.name}>
                    {z.name}
                  </span>
                  <span className="muted small">{z.limit === null ? 'no limit' : `limit ${z.limit}`}</span>
                </>
              )}
            </li>
          ))}
        </ul>
      )}
      {ed?.hint?.startsWith('Names are at most') && (
        <p className="hint" role="status" data-testid="zone-name-cut">
          {ed.hint}
        </p>
      )}
      {ed && problems.length > 0 && (
        <ul className="problems" role="alert" data-testid="zone-problems">
          {problems.map((t) => (
            <li key={t}>{t}</li>
          ))}
        </ul>
      )}
      <div className="op-actions">
        {ed ? (
          <>
            <button type="button" className="primary" onClick={save} disabled={busy || problems.length > 0 || ed.drawing !== null || !ed.dirty} data-testid="zones-save">
              {busy ? 'Saving…' : 'Save zones'}
            </button>
            <button
              type="button"
              onClick={() => {
                setTyped({});
                setEditor(() => null);
              }}
              data-testid="zones-discard"
            >
              {ed.dirty ? 'Discard changes' : 'Stop editing'}
            </button>
          </>
        ) : (
          <button type="button" onClick={() => setEditor(() => startEditing(ZONES, zones))} data-testid="zones-edit">
            Edit zones
          </button>
        )}
      </div>
      {ed && (
        <p className="muted small">
          On the video, tap the corners of a zone ({MIN_POINTS} or more), then the first corner or Done. A limit (people) raises an alert on every dashboard when the zone’s count holds above it.
          At most {MAX_ZONES} zones.
          {ed.drawing !== null && ' Finish or cancel the zone being drawn before saving.'}
        </p>
      )}
    </>
  );
}
