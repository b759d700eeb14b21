import { useCallback, useEffect, useLayoutEffect, useRef, useState } from 'react';
import type { Alert, Calibration, CalibrationProposal, FrameCount } from '../lib/api';
import { AlertBanner } from './AlertBanner';
import { fmtHonest } from '../lib/format';
import {
  addTap,
  boxFromCorners,
  calibrationBody,
  calibrationProblem,
  clearTaps,
  GUIDANCE,
  MAX_TAPS,
  MIN_TAPS,
  newCalibration,
  REFUSAL_TEXT,
  setBox,
  wholeFrame,
  undoTap,
  type CalibState,
} from '../lib/calibration';
import { applyCalibration, freezeFrame, proposeCalibration, type FrozenFrame } from '../lib/operator';
import { clampView, fitRect, fitView, frameToView, panBy, pinchView, viewToFrame, wheelFactor, zoomAt, type Pt, type View } from '../lib/viewport';
import { useElementSize } from '../hooks';

interface Props {
  onClose: () => void;
  /** the operator applied a calibration: the daemon's answer */
  onApplied: (c: Calibration) => void;
  /** the open alerts: shown inside the dialog, which covers the page's banner */
  alerts: readonly Alert[];
  onAcknowledge: (id: number) => Promise<void>;
  /** the drone calibrated: its stream, or null for the configured drone */
  stream: string | null;
}

type Step = 'box' | 'taps' | 'verdict';

/** A pointer that moved less than this (CSS px) was a tap, not a drag. */
const TAP_SLOP = 8;

type Gesture =
  | { kind: 'none' }
  | { kind: 'pending'; id: number; start: Pt; pan: boolean }
  | { kind: 'box'; id: number; anchor: Pt }
  | { kind: 'pan'; id: number; last: Pt }
  | { kind: 'pinch'; view: View; a0: Pt; b0: Pt; ids: [number, number] }
  /** fingers left over after a pinch: ignored until all are up (no stray tap) */
  | { kind: 'spent' };

/**
 * Operator · Calibrate: freezes the newest frame, shows it at full resolution (pinch / wheel to
 * zoom, two fingers / drag to pan), then 1. a box dragged over part of the crowd, 2. a tap on each
 * person inside it. Sent in frame pixels; the daemon answers with its verdict.
 */
export function CalibrationDialog({ onClose, onApplied, alerts, onAcknowledge, stream }: Props) {
  const [frame, setFrame] = useState<FrozenFrame | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [cal, setCal] = useState<CalibState | null>(null);
  const [step, setStep] = useState<Step>('box');
  const [hint, setHint] = useState<string | null>(null);
  const [sending, setSending] = useState(false);
  const [sendError, setSendError] = useState<string | null>(null);
  const [proposal, setProposal] = useState<CalibrationProposal | null>(null);
  const [view, setView] = useState<View | null>(null);
  const [dragBox, setDragBox] = useState<{ a: Pt; b: Pt } | null>(null);
  const viewRef = useRef<HTMLDivElement>(null);
  const dialogRef = useRef<HTMLDivElement>(null);
  const size = useElementSize(viewRef);

  // Freeze the newest frame and wait until its picture is decoded.
  useEffect(() => {
    const ac = new AbortController();
    (async () => {
      try {
        const f = await freezeFrame(stream);
        const img = new Image();
        img.src = f.image_url;
        await img.decode();
        if (ac.signal.aborted) return;
        setFrame(f);
        setCal(newCalibration({ w: f.width, h: f.height }));
      } catch (e) {
        if (!ac.signal.aborted) setLoadError(e instanceof Error ? e.message : String(e));
      }
    })();
    return () => ac.abort();
  }, [stream]);

  useEffect(() => {
    dialogRef.current?.focus();
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') onClose();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [onClose]);

  const frameSize = frame ? { w: frame.width, h: frame.height } : null;

  // Whole frame in view at first and after a resize that leaves it fitted; else only re-clamped.
  const fitted = useRef(true);
  useLayoutEffect(() => {
    if (!frameSize || size.w <= 0 || size.h <= 0) return;
    setView((v) => (!v || fitted.current ? fitView(frameSize, size) : clampView(v, frameSize, size)));
  }, [frame, size.w, size.h]);

  const apply = useCallback(
    (next: View) => {
      if (!frameSize) return;
      const c = clampView(next, frameSize, size);
      fitted.current = Math.abs(c.scale - fitView(frameSize, size).scale) < 1e-9;
      setView(c);
    },
    [frame, size.w, size.h],
  );

  // Pointer gestures: mouse, pen and fingers alike.
  const pointers = useRef(new Map<number, Pt>());
  const gesture = useRef<Gesture>({ kind: 'none' });
  const local = (e: { clientX: number; clientY: number }): Pt => {
    const r = viewRef.current!.getBoundingClientRect();
    return { x: e.clientX - r.left, y: e.clientY - r.top };
  };

  const tap = (p: Pt) => {
    if (!cal || !view || step !== 'taps') return;
    const r = addTap(cal, viewToFrame(view, p));
    if (r.refused) setHint(REFUSAL_TEXT[r.refused]);
    else {
      setHint(null);
      setCal(r.state);
    }
  };

  const onPointerDown = (e: React.PointerEvent<HTMLDivElement>) => {
    if (!view || !cal) return;
    if (e.pointerType === 'mouse' && e.button !== 0 && e.button !== 1 && e.button !== 2) return;
    e.currentTarget.setPointerCapture?.(e.pointerId);
    const p = local(e);
    pointers.current.set(e.pointerId, p);
    if (pointers.current.size === 2) {
      // a second finger: pinch / two-finger pan; whatever the first one started is undone
      setDragBox(null);
      const [[ia, a], [ib, b]] = [...pointers.current.entries()];
      gesture.current = { kind: 'pinch', view, a0: a, b0: b, ids: [ia, ib] };
      return;
    }
    if (pointers.current.size > 2) return;
    // mouse: middle or right button, or Shift, pans in either step
    const pan = e.pointerType === 'mouse' && (e.button !== 0 || e.shiftKey);
    gesture.current = { kind: 'pending', id: e.pointerId, start: p, pan };
  };

  const onPointerMove = (e: React.PointerEvent<HTMLDivElement>) => {
    if (!pointers.current.has(e.pointerId) || !view || !cal) return;
    const p = local(e);
    pointers.current.set(e.pointerId, p);
    const g = gesture.current;
    if (g.kind === 'pinch') {
      const a1 = pointers.current.get(g.ids[0]);
      const b1 = pointers.current.get(g.ids[1]);
      if (a1 && b1) apply(pinchView(g.view, g.a0, g.b0, a1, b1));
      return;
    }
    if (g.kind === 'pending' && g.id === e.pointerId) {
      if (Math.hypot(p.x - g.start.x, p.y - g.start.y) < TAP_SLOP) return;
      if (step === 'box' && !g.pan) {
        gesture.current = { kind: 'box', id: e.pointerId, anchor: g.start };
        setDragBox({ a: g.start, b: p });
      } else {
        gesture.current = { kind: 'pan', id: e.pointerId, last: g.start };
      }
    }
    const h = gesture.current;
    if (h.kind === 'box' && h.id === e.pointerId) setDragBox({ a: h.anchor, b: p });
    if (h.kind === 'pan' && h.id === e.pointerId) {
      apply(panBy(view, p.x - h.last.x, p.y - h.last.y));
      gesture.current = { ...h, last: p };
    }
  };

  const onPointerUp = (e: React.PointerEvent<HTMLDivElement>) => {
    if (!pointers.current.has(e.pointerId)) return;
    const p = local(e);
    pointers.current.delete(e.pointerId);
    const g = gesture.current;
    if (e.type === 'pointercancel') {
      setDragBox(null);
      gesture.current = pointers.current.size ? { kind: 'spent' } : { kind: 'none' };
      return;
    }
    if (g.kind === 'pending' && g.id === e.pointerId && !g.pan) tap(p);
    if (g.kind === 'box' && g.id === e.pointerId && view && cal) {
      const box = boxFromCorners(viewToFrame(view, g.anchor), viewToFrame(view, p), cal.frame);
      setDragBox(null);
      if (box) {
        setCal(setBox(cal, box));
        setHint(null);
      } else setHint('That box is too small: drag across several people.');
    }
    gesture.current = pointers.current.size ? { kind: 'spent' } : { kind: 'none' };
  };

  // Wheel zoom at the cursor (a non-passive listener: the page must not scroll).
  const viewState = useRef({ view, apply });
  viewState.current = { view, apply };
  useEffect(() => {
    const el = viewRef.current;
    if (!el) return;
    const onWheel = (e: WheelEvent) => {
      e.preventDefault();
      const { view: v, apply: ap } = viewState.current;
      if (!v) return;
      const r = el.getBoundingClientRect();
      ap(zoomAt(v, wheelFactor(e.deltaY, e.deltaMode), { x: e.clientX - r.left, y: e.clientY - r.top }));
    };
    el.addEventListener('wheel', onWheel, { passive: false });
    return () => el.removeEventListener('wheel', onWheel);
  }, [frame]);

  const zoomButton = (factor: number) => view && apply(zoomAt(view, factor, { x: size.w / 2, y: size.h / 2 }));

  // Step 2 taps inside the box: the whole box in view, away from the toolbar (taps under it were
  // lost), as large as it fits.
  const toTaps = () => {
    setStep('taps');
    if (cal?.box && frameSize && size.w > 0) apply(fitRect(cal.box, size));
  };

  const submit = async () => {
    if (!frame || !cal) return;
    const problem = calibrationProblem(cal);
    if (problem) {
      setHint(problem);
      return;
    }
    setSending(true);
    setSendError(null);
    try {
      setProposal(await proposeCalibration(calibrationBody(frame.frame_id, cal), stream));
      setStep('verdict');
    } catch (e) {
      setSendError(e instanceof Error ? e.message : String(e));
    } finally {
      setSending(false);
    }
  };

  const applyProposal = async () => {
    if (!proposal) return;
    setSending(true);
    setSendError(null);
    try {
      onApplied(await applyCalibration(proposal.id, stream));
    } catch (e) {
      setSendError(e instanceof Error ? e.message : String(e));
    } finally {
      setSending(false);
    }
  };

  const box = cal?.box ?? null;
  const boxView = box && view ? { a: frameToView(view, { x: box.x, y: box.y }), b: frameToView(view, { x: box.x + box.w, y: box.y + box.h }) } : null;
  const shownBox = dragBox ?? boxView;
  const taps = cal?.taps ?? [];
  const n = taps.length;
  const zoomPct = view && frame ? Math.round(view.scale * 100) : null;
  // dots about a head's size: small when zoomed out (not hiding the people), never a speck
  const dotR = view ? Math.min(7, Math.max(3, 2.5 * view.scale)) : 5;

  return (
    <div className="dialog-backdrop">
      <div className="dialog calibrate" role="dialog" aria-modal="true" aria-labelledby="calibrate-title" tabIndex={-1} ref={dialogRef} data-testid="calibrate-dialog" data-step={frame ? step : 'loading'}>
        <header className="dialog-head">
          <span className="operator-tag">Operator</span>
          <h2 id="calibrate-title">Calibrate</h2>
          {frame && (
            <ol className="steps" aria-label="Steps">
              <li aria-current={step === 'box' ? 'step' : undefined}>1 Box</li>
              <li aria-current={step === 'taps' ? 'step' : undefined}>2 People</li>
              <li aria-current={step === 'verdict' ? 'step' : undefined}>3 Check, apply</li>
            </ol>
          )}
          <button type="button" className="close" onClick={onClose} aria-label="Close calibration" data-testid="calibrate-close">
            ✕
          </button>
        </header>
        {alerts.length > 0 && <AlertBanner alerts={alerts} operator onAcknowledge={onAcknowledge} inDialog />}
        <div
          className={`zoom-view step-${step}`}
          ref={viewRef}
          data-testid="calibrate-view"
          onPointerDown={onPointerDown}
          onPointerMove={onPointerMove}
          onPointerUp={onPointerUp}
          onPointerCancel={onPointerUp}
          onContextMenu={(e) => e.preventDefault()}
        >
          {frame && view && (
            <img
              className="frozen"
              data-testid="frozen-frame"
              src={frame.image_url}
              alt="Frozen frame"
              draggable={false}
              width={frame.width}
              height={frame.height}
              style={{ width: frame.width, height: frame.height, transform: `translate(${view.tx}px, ${view.ty}px) scale(${view.scale})` }}
            />
          )}
          {view && (
            <svg className="zoom-marks" width={size.w} height={size.h} aria-hidden="true">
              {shownBox && (
                <rect
                  className={dragBox ? 'box dragging' : 'box'}
                  data-testid="calibrate-box"
                  x={Math.min(shownBox.a.x, shownBox.b.x)}
                  y={Math.min(shownBox.a.y, shownBox.b.y)}
                  width={Math.abs(shownBox.b.x - shownBox.a.x)}
                  height={Math.abs(shownBox.b.y - shownBox.a.y)}
                />
              )}
              {taps.map((t, i) => {
                const q = frameToView(view, t);
                return <circle key={i} className="tap" cx={q.x} cy={q.y} r={dotR} />;
              })}
            </svg>
          )}
          {!frame && (
            <div className="zoom-status" role={loadError ? 'alert' : 'status'}>
              {loadError ? <strong>Cannot freeze a frame: {loadError}</strong> : 'Freezing the newest frame…'}
            </div>
          )}
          {step === 'verdict' && proposal && <VerdictView proposal={proposal} />}
        </div>
        {frame && cal && (
          <footer className="dialog-foot">
            <p className="guidance" data-testid="calibrate-guidance">
              {step === 'box' ? (
                <>
                  <strong>Drag a box over part of the crowd</strong> where you can tell people apart.{' '}
                  <span className="muted">Zoom: pinch or wheel · move: two fingers{' '}or right-drag.</span>
                </>
              ) : step === 'verdict' ? (
                <>
                  <strong>Check the verdict, then apply it or go back.</strong>{' '}
                  <span className="muted">Nothing changes for the viewers until you apply.</span>
                </>
              ) : (
                <>
                  <strong>Tap each person inside the box</strong> ({GUIDANCE}).{' '}
                  <span className="muted">Zoom: pinch or wheel · move: drag.</span>
                </>
              )}
            </p>
            {(hint || sendError) && (
              <p className={sendError ? 'hint error' : 'hint'} role={sendError ? 'alert' : 'status'} data-testid={sendError ? 'calibrate-error' : 'calibrate-hint'}>
                {sendError ?? hint}
              </p>
            )}
            <div className="dialog-actions">
              {step !== 'verdict' && (
              <div className="zoom-buttons" role="group" aria-label="Zoom">
                <button type="button" onClick={() => zoomButton(1 / 1.6)} aria-label="Zoom out">
                  −
                </button>
                <button type="button" onClick={() => frameSize && apply(fitView(frameSize, size))} aria-label="Whole frame" title="Whole frame">
                  {zoomPct !== null ? `${zoomPct}%` : 'Fit'}
                </button>
                <button type="button" onClick={() => zoomButton(1.6)} aria-label="Zoom in">
                  +
                </button>
              </div>
              )}
              {step === 'box' ? (
                <>
                  <button
                    type="button"
                    onClick={() => (setCal(wholeFrame(cal)), setHint('The whole frame is the box: tap every person in it.'))}
                    title="Tap every person in the frame: the best frames to fine-tune a model with"
                    data-testid="calibrate-whole"
                  >
                    Whole frame
                  </button>
                  <button type="button" className="primary" disabled={!box} onClick={toTaps} data-testid="calibrate-next">
                    Next: tap people
                  </button>
                </>
              ) : step === 'verdict' ? (
                <>
                  <button type="button" onClick={() => (setStep('taps'), setSendError(null))} data-testid="calibrate-back-to-taps">
                    Back to the taps
                  </button>
                  <button
                    type="button"
                    className="primary"
                    onClick={applyProposal}
                    disabled={sending || proposal?.calibration.verdict?.level === 'refused'}
                    data-testid="calibrate-apply"
                  >
                    {sending ? 'Applying…' : proposal?.calibration.verdict?.level === 'refused' ? 'Cannot apply' : 'Apply for every viewer'}
                  </button>
                </>
              ) : (
                <>
                  <span className="tap-count" data-testid="tap-count" data-value={n} aria-live="polite">
                    <strong>{n}</strong> {n === 1 ? 'person' : 'people'}
                    {n < MIN_TAPS && <span className="muted"> (at least {MIN_TAPS})</span>}
                    {n >= MAX_TAPS && <span className="muted"> (the most)</span>}
                  </span>
                  <button type="button" onClick={() => (setCal(undoTap(cal)), setHint(null))} disabled={n === 0} data-testid="calibrate-undo">
                    Undo
                  </button>
                  <button type="button" onClick={() => (setCal(clearTaps(cal)), setHint(null))} disabled={n === 0} data-testid="calibrate-clear">
                    Clear
                  </button>
                  <button type="button" onClick={() => (setStep('box'), setHint(null))} data-testid="calibrate-back">
                    Box
                  </button>
                  <button type="button" className="primary" onClick={submit} disabled={sending || n < MIN_TAPS} data-testid="calibrate-submit">
                    {sending ? 'Checking…' : 'Check'}
                  </button>
                </>
              )}
            </div>
          </footer>
        )}
        {!frame && loadError && (
          <footer className="dialog-foot">
            <div className="dialog-actions">
              <button type="button" className="primary" onClick={onClose}>
                Close
              </button>
            </div>
          </footer>
        )}
      </div>
    </div>
  );
}

const LEVEL_TEXT = { good: 'Good', doubtful: 'Doubtful', refused: 'Refused' } as const;

/** One frame count, as the count panel shows it: "≈ 190 (150–230)". */
function frameCountText(c: FrameCount | null): string {
  if (!c) return '—';
  const h = fmtHonest(c.count, c.band);
  return h.band ? `${h.value} (${h.band})` : h.value;
}

/** Step 3: the box check's verdict, why and what to do, and what the whole frame counts now and
 * with it. Nothing is applied until the operator applies it. */
function VerdictView({ proposal }: { proposal: CalibrationProposal }) {
  const v = proposal.calibration.verdict;
  const level = v?.level ?? 'doubtful';
  const { now, proposed } = proposal.preview;
  return (
    // Over the frozen frame (which stays as it was for going back to the taps); its own clicks are
    // not taps or pans.
    <div className="verdict-view" data-testid="calibrate-verdict" data-level={level} onPointerDown={(e) => e.stopPropagation()}>
      <p className={`verdict verdict-${level}`} role="status">
        <strong data-testid="verdict-level">{LEVEL_TEXT[level]}</strong>
        <span data-testid="verdict-reason"> {v?.reason ?? proposal.calibration.message ?? ''}</span>
      </p>
      {v?.advice && (
        <p className="verdict-advice" data-testid="verdict-advice">
          {v.advice}
        </p>
      )}
      <table className="preview" data-testid="calibrate-preview">
        <caption>The whole frozen frame</caption>
        <tbody>
          <tr>
            <th scope="row">Now</th>
            <td data-testid="preview-now">{frameCountText(now)}</td>
            <td className="muted small">{now ? `${now.calibrated ? 'calibrated' : 'not calibrated'}, analysed at ${now.width}x${now.height}` : ''}</td>
          </tr>
          <tr>
            <th scope="row">With this calibration</th>
            <td data-testid="preview-proposed">{frameCountText(proposed)}</td>
            <td className="muted small">
              {proposed ? `${proposed.calibrated ? 'calibrated' : 'not called calibrated: its band is wider than without'}, analysed at ${proposed.width}x${proposed.height}` : ''}
            </td>
          </tr>
        </tbody>
      </table>
      <p className="muted small">
        {proposal.calibration.taps ?? '?'} people tapped; the model counts {Math.round(proposal.calibration.model_in_box ?? 0)} in your box
        {proposal.expiresInS ? `. This check can be applied for ${Math.round(proposal.expiresInS / 60)} minutes.` : '.'}
      </p>
    </div>
  );
}
