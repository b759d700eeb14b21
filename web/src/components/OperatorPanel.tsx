import { useEffect, useRef, useState } from 'react';
import type { Calibration, Mask, StreamInfo, Zone } from '../lib/api';
import type { Session } from '../lib/auth';
import { AccountSection, PilotSection, SignInForm } from './OperatorAccess';
import { ModelSection } from './ModelSection';
import { ApprovedDrones } from './DroneRequests';
import { UpdateSection } from './UpdateSection';
import { maskProblems, MASKS, masksBody, MAX_MASKS, type MaskEditor } from '../lib/masks';
import { MAX_NAME, MIN_POINTS, removeShape, startEditing, updateShape } from '../lib/shapes';
import type { ZoneEditor } from '../lib/zones';
import { ZoneSection } from './ZoneSection';
import { DroneNameSection } from './DroneNameSection';
import { calibrationText, resetCalibration, saveMasks } from '../lib/operator';

interface Props {
  open: boolean;
  onToggle: () => void;
  /** the calibration in force (the daemon's, or the one just made) */
  calibration: Calibration | null;
  /** the masks in force (the daemon's, or the ones just saved) */
  masks: readonly Mask[];
  /** the daemon's status carries calibration and masks (an older daemon does not) */
  supported: boolean;
  onCalibrate: () => void;
  /** the calibration was reset (DELETE answered) */
  onReset: () => void;
  /** the last outcome of an operator action, to show at the top */
  note: { text: string; error: boolean } | null;
  onNote: (n: { text: string; error: boolean } | null) => void;
  editor: MaskEditor | null;
  setEditor: (f: (ed: MaskEditor | null) => MaskEditor | null) => void;
  /** the masks were saved: the daemon's answer */
  onSaved: (masks: Mask[]) => void;
  /** the zones in force (the daemon's, or the ones just saved) */
  zones: readonly Zone[];
  zoneEditor: ZoneEditor | null;
  setZoneEditor: (f: (ed: ZoneEditor | null) => ZoneEditor | null) => void;
  onZonesSaved: (zones: Zone[]) => void;
  /** who this browser is: a viewer, or the signed-in operator */
  session: Session;
  /** the session changed (signed in): read it and the stream info again */
  onSession: () => void;
  /** the operator signed out here */
  onSignedOut: () => void;
  /** the stream info, with the pilot's URL for the operator */
  info: StreamInfo | null;
  /** no drone streams: the pilot's section opens by itself */
  waiting: boolean;
  /** the drone on screen when it is not the configured one (several drones): calibration, areas
   * and zones below are its own (`key` its stream, `name` as the strip shows it); null: the
   * configured drone's */
  drone: { key: string; name: string } | null;
  /** several drones: the drone on screen's name, to change (null: one drone, nothing to name) */
  naming: { name: string | null; fallback: string } | null;
}

/**
 * Operator: where the pilot streams, and everything that changes what the box counts, for every
 * viewer (calibration and areas not counted). Behind the operator's sign-in: a viewer sees the
 * sign-in form here, and the daemon refuses these actions without the session.
 */
export function OperatorPanel(p: Props) {
  const [confirmReset, setConfirmReset] = useState(false);
  const [busy, setBusy] = useState<null | 'reset' | 'masks'>(null);
  const panel = useRef<HTMLElement>(null);

  // Opened (by its toggle, by Calibrate, or because the session ended): in view, in whatever
  // scrolls it (the side column on a laptop, the page on a phone).
  useEffect(() => {
    if (p.open) panel.current?.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
  }, [p.open]);

  // An outcome to read: in view.
  const noteRef = useRef<HTMLParagraphElement>(null);
  useEffect(() => {
    if (p.note) noteRef.current?.scrollIntoView({ block: 'nearest' });
  }, [p.note]);

  useEffect(() => {
    if (!confirmReset) return;
    const id = setTimeout(() => setConfirmReset(false), 4000);
    return () => clearTimeout(id);
  }, [confirmReset]);

  const reset = async () => {
    if (!confirmReset) {
      setConfirmReset(true);
      return;
    }
    setConfirmReset(false);
    setBusy('reset');
    try {
      await resetCalibration(p.drone?.key ?? null);
      p.onReset();
      p.onNote({ text: 'Calibration reset: the box counts at its default scale from the next analysis.', error: false });
    } catch (e) {
      p.onNote({ text: e instanceof Error ? e.message : String(e), error: true });
    } finally {
      setBusy(null);
    }
  };

  const ed = p.editor;
  const problems = ed ? maskProblems(ed.shapes) : [];
  const save = async () => {
    if (!ed || problems.length) return;
    setBusy('masks');
    try {
      const kept = await saveMasks(masksBody(ed.shapes), p.drone?.key ?? null);
      p.onSaved(kept);
      p.setEditor(() => null);
      p.onNote({ text: kept.length ? `Saved ${kept.length} area${kept.length === 1 ? '' : 's'} not counted, applied from the next analysis.` : 'No area excluded any more: the whole picture is counted.', error: false });
    } catch (e) {
      p.onNote({ text: e instanceof Error ? e.message : String(e), error: true });
    } finally {
      setBusy(null);
    }
  };

  const shownMasks = ed ? ed.shapes : p.masks;

  return (
    <section className={p.open ? 'panel operator open' : 'panel operator'} aria-label="Operator" data-testid="operator" ref={panel}>
      <h2>
        <button type="button" className="operator-toggle" aria-expanded={p.open} aria-controls="operator-body" onClick={p.onToggle} data-testid="operator-toggle">
          <span className="operator-tag">Operator</span>
          <span className="operator-title">{p.session.operator ? 'Pilot, calibration, areas not counted and zones' : 'Sign in to show the pilot where to stream'}</span>
          <span className="chevron" aria-hidden="true">
            {p.open ? '▴' : '▾'}
          </span>
        </button>
      </h2>
      {p.open && (
        <div id="operator-body" className="operator-body">
          {!p.session.operator ? (
            <>
              {p.note && (
                <p className={p.note.error ? 'op-note error' : 'op-note'} role={p.note.error ? 'alert' : 'status'} data-testid="operator-note" ref={noteRef}>
                  {p.note.text}
                </p>
              )}
              <SignInForm
                session={p.session}
                onSignedIn={() => {
                  p.onNote(null);
                  p.onSession();
                }}
              />
            </>
          ) : (
          <>
          <PilotSection info={p.info} waiting={p.waiting} />
          <ApprovedDrones onNote={p.onNote} />
          <p className="muted small operator-warning">Changes here apply to what the box counts, for every viewer.</p>
          {p.drone && (
            <p className="small operator-for" data-testid="operator-for" data-stream={p.drone.key}>
              Calibration, areas not counted and zones below are drone <strong>{p.drone.name}</strong>&apos;s, kept for it alone.
            </p>
          )}
          {!p.supported && <p className="small lvl-warn">This box’s daemon does not report calibration or masks: it may be older than this dashboard.</p>}
          {p.note && (
            <p className={p.note.error ? 'op-note error' : 'op-note'} role={p.note.error ? 'alert' : 'status'} data-testid="operator-note" ref={noteRef}>
              {p.note.text}
            </p>
          )}

          {p.naming && <DroneNameSection stream={p.drone?.key ?? null} name={p.naming.name} fallback={p.naming.fallback} onNote={p.onNote} />}

          <h3>Calibration</h3>
          <p className="calibration-text" data-testid="calibration-message" data-calibrated={p.calibration ? 'true' : 'false'}>
            {calibrationText(p.calibration)}
          </p>
          <div className="op-actions">
            <button type="button" className="primary" onClick={p.onCalibrate} data-testid="calibrate">
              Calibrate
            </button>
            {p.calibration && (
              <button type="button" onClick={reset} disabled={busy === 'reset'} data-testid="calibration-reset" className={confirmReset ? 'danger' : undefined}>
                {busy === 'reset' ? 'Resetting…' : confirmReset ? 'Tap again to reset' : 'Reset calibration'}
              </button>
            )}
          </div>

          <h3>Areas not counted</h3>
          {shownMasks.length === 0 ? (
            <p className="muted small">{ed ? 'None yet: tap the corners of an area on the video.' : 'None: the whole picture is counted.'}</p>
          ) : (
            <ul className="shape-list" data-testid="mask-list">
              {shownMasks.map((m, i) => (
                <li key={i}>
                  {ed ? (
                    <>
                      <input
                        type="text"
                        value={m.name}
                        aria-label={`Name of area ${i + 1} (at most ${MAX_NAME} characters)`}
                        onChange={(e) => p.setEditor((x) => x && updateShape(x, i, { name: e.target.value }))}
                        data-testid="mask-name"
                      />
                      <button type="button" onClick={() => p.setEditor((x) => x && removeShape(x, i))} aria-label={`Delete ${m.name || `area ${i + 1}`}`} data-testid="mask-delete">
                        Delete
                      </button>
                    </>
                  ) : (
                    <span className="shape-name">{m.name}</span>
                  )}
                  <span className="muted small">{m.points.length} corners</span>
                </li>
              ))}
            </ul>
          )}
          {ed?.hint?.startsWith('Names are at most') && (
            <p className="hint" role="status" data-testid="mask-name-cut">
              {ed.hint}
            </p>
          )}
          {ed && problems.length > 0 && (
            <ul className="problems" role="alert" data-testid="mask-problems">
              {problems.map((t) => (
                <li key={t}>{t}</li>
              ))}
            </ul>
          )}
          <div className="op-actions">
            {ed ? (
              <>
                <button type="button" className="primary" onClick={save} disabled={busy === 'masks' || problems.length > 0 || ed.drawing !== null || !ed.dirty} data-testid="masks-save">
                  {busy === 'masks' ? 'Saving…' : 'Save'}
                </button>
                <button type="button" onClick={() => p.setEditor(() => null)} data-testid="masks-discard">
                  {ed.dirty ? 'Discard changes' : 'Stop editing'}
                </button>
              </>
            ) : (
              <button type="button" onClick={() => p.setEditor(() => startEditing(MASKS, p.masks))} data-testid="masks-edit">
                Edit areas
              </button>
            )}
          </div>
          {ed && (
            <p className="muted small">
              On the video, tap the corners of an area not to count ({MIN_POINTS} or more), then the first corner or Done. At most {MAX_MASKS} areas.
              {ed.drawing !== null && ' Finish or cancel the area being drawn before saving.'}
            </p>
          )}
          <ZoneSection stream={p.drone?.key ?? null} zones={p.zones} editor={p.zoneEditor} setEditor={p.setZoneEditor} onSaved={p.onZonesSaved} onNote={p.onNote} />
          <ModelSection onNote={p.onNote} />
          <UpdateSection onNote={p.onNote} />
          <AccountSection session={p.session} onSignedOut={p.onSignedOut} onNote={p.onNote} />
          </>
          )}
        </div>
      )}
    </section>
  );
}
