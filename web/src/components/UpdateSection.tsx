import { useCallback, useEffect, useRef, useState } from 'react';
import { useTwoTap } from '../hooks';
import {
  activityText,
  bundleProblem,
  fetchUpdate,
  lastText,
  mb,
  otherText,
  outcomeLevel,
  requestReboot,
  runningText,
  uploadBundle,
  type UpdateReport,
} from '../lib/update';

interface Props {
  /** the last outcome of an operator action, to show at the top of the panel */
  onNote: (n: { text: string; error: boolean } | null) => void;
}

/** How often the box is asked while an update is under way, and otherwise. */
const BUSY_MS = 1000;
const IDLE_MS = 15_000;

/**
 * Software update: what runs, what the other slot holds, the last update's outcome; uploading a
 * bundle (.raucb) with its progress, RAUC's steps while it installs, and the reboot into it,
 * asked twice. A refused bundle changes nothing on the box.
 */
export function UpdateSection({ onNote }: Props) {
  const [report, setReport] = useState<UpdateReport | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [sent, setSent] = useState<{ done: number; total: number } | null>(null);
  const confirm = useTwoTap();
  const [rebooting, setRebooting] = useState(false);
  const input = useRef<HTMLInputElement>(null);

  const refresh = useCallback(() => {
    fetchUpdate()
      .then((r) => setReport(r))
      .catch(() => undefined);
  }, []);

  const state = report?.activity.state ?? 'idle';
  const busy = sent !== null || state === 'receiving' || state === 'checking' || state === 'installing' || state === 'rebooting';
  useEffect(() => {
    refresh();
    const id = setInterval(refresh, busy ? BUSY_MS : IDLE_MS);
    return () => clearInterval(id);
  }, [busy, refresh]);

  const upload = async (file: File | undefined) => {
    if (!file) return;
    const wrong = bundleProblem(file, report?.max_bundle_bytes ?? 0);
    setProblem(wrong);
    if (wrong) {
      onNote({ text: wrong, error: true });
      return;
    }
    setSent({ done: 0, total: file.size });
    onNote({ text: `Sending ${file.name} to the box…`, error: false });
    try {
      const r = await uploadBundle(file, (done, total) => setSent({ done, total }));
      setReport(r);
      onNote({ text: `The box is installing ${file.name}; it keeps counting meanwhile.`, error: false });
    } catch (e) {
      const said = e instanceof Error ? e.message : String(e);
      setProblem(said);
      onNote({ text: said, error: true });
      refresh();
    } finally {
      setSent(null);
      if (input.current) input.current.value = '';
    }
  };

  const reboot = async () => {
    try {
      await requestReboot();
      setRebooting(true);
      onNote({ text: 'The box is rebooting into the update. The dashboard comes back in a minute or two.', error: false });
      refresh();
    } catch (e) {
      onNote({ text: e instanceof Error ? e.message : String(e), error: true });
    }
  };

  if (!report) {
    return (
      <>
        <h3>Software update</h3>
        <p className="muted small">Asking the box which software it runs…</p>
      </>
    );
  }
  const a = report.activity;
  const doing = rebooting && a.state !== 'rebooting' ? 'Rebooting into the update…' : activityText(a);
  const percent = sent ? Math.round((sent.done / Math.max(1, sent.total)) * 100) : a.state === 'installing' ? (a.percent ?? 0) : null;
  return (
    <>
      <h3>Software update</h3>
      <dl className="update-facts small">
        <dt>Running</dt>
        <dd data-testid="update-running">{runningText(report)}</dd>
        <dt>Other slot</dt>
        <dd data-testid="update-other">{otherText(report)}</dd>
        <dt>Last update</dt>
        <dd data-testid="update-last" data-outcome={report.last?.outcome ?? ''} className={report.last ? `lvl lvl-${outcomeLevel(report.last.outcome)}` : undefined}>
          {lastText(report.last)}
          {report.last?.message && <small> · {report.last.message}</small>}
        </dd>
      </dl>
      {report.confirming && <p className="small">Checking that {report.confirming.version ?? 'the update'} is healthy before keeping it.</p>}
      {report.usb && (
        <p className="small muted" data-testid="update-usb">
          USB stick: {report.usb.bundle}: {report.usb.note}
        </p>
      )}
      {!report.available ? (
        <p className="small lvl-warn" data-testid="update-unavailable">
          {report.reason ?? 'Software updates are not available on this box.'}
        </p>
      ) : (
        <>
          {(sent || doing) && (
            <div className="update-progress" role="status" data-testid="update-progress" data-state={sent ? 'sending' : a.state}>
              <p className="small" data-testid="update-step">
                {sent ? `Sending the bundle: ${percent} % of ${mb(sent.total)}` : doing}
              </p>
              {percent !== null && <progress max={100} value={percent} aria-label="Update progress" />}
            </div>
          )}
          {problem && !busy && (
            <p className="op-note error small" role="alert" data-testid="update-error">
              {problem}
            </p>
          )}
          <div className="op-actions">
            <label className={busy ? 'button disabled' : 'button'}>
              {sent ? 'Sending…' : 'Upload update (.raucb)'}
              <input ref={input} type="file" accept=".raucb" className="sr-only" disabled={busy} onChange={(e) => upload(e.target.files?.[0])} data-testid="update-file" />
            </label>
            {a.state === 'installed' && report.can_reboot && !rebooting && (
              <button type="button" onClick={() => confirm.tap(reboot)} className={confirm.armed ? 'danger' : 'primary'} data-testid="update-reboot">
                {confirm.armed ? 'Tap again: the video stops for a minute or two' : `Reboot into ${a.version ?? 'the update'}`}
              </button>
            )}
          </div>
          <p className="muted small">
            The update goes into the other slot while the box keeps counting; after the reboot the box keeps it only once it counts again, and otherwise goes back to
            this version by itself. Calibrations, zones, models and the history stay.
          </p>
        </>
      )}
    </>
  );
}
