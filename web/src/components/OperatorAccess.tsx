import { useEffect, useRef, useState, type FormEvent } from 'react';
import { qrUrlOf, type StreamInfo } from '../lib/api';
import { changePassphrase, signIn, signOut, type Session } from '../lib/auth';
import { copyText } from '../lib/clipboard';
import { useQr } from '../hooks';

/** The operator's sign-in: the passphrase shown on the box's console (or set in skycount.toml). */
export function SignInForm({ session, onSignedIn }: { session: Session; onSignedIn: () => void }) {
  const [passphrase, setPassphrase] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const errorRef = useRef<HTMLParagraphElement>(null);
  // A refusal is read where it is: in view (the side column scrolls on its own on a laptop).
  useEffect(() => {
    if (error) errorRef.current?.scrollIntoView({ block: 'nearest' });
  }, [error]);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!passphrase || busy) return;
    setBusy(true);
    setError(null);
    try {
      await signIn(passphrase);
      setPassphrase('');
      onSignedIn();
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="sign-in" onSubmit={submit} data-testid="sign-in">
      <p className="muted small">
        Viewers see the video, the counts and the health. To show the pilot where to stream, calibrate or mark areas not counted, sign in with the
        operator passphrase (on the box’s console screen, or in skycount.toml).
      </p>
      {session.unavailable && (
        <p className="small lvl-bad" role="alert">
          Nobody can sign in on this box: {session.unavailable}
        </p>
      )}
      <label>
        <span>Operator passphrase</span>
        <input
          type="password"
          autoComplete="current-password"
          value={passphrase}
          onChange={(e) => setPassphrase(e.target.value)}
          data-testid="passphrase"
          maxLength={128}
        />
      </label>
      <div className="op-actions">
        <button type="submit" className="primary" disabled={busy || !passphrase} data-testid="sign-in-submit">
          {busy ? 'Checking…' : 'Sign in'}
        </button>
      </div>
      {error && (
        <p className="op-note error" role="alert" data-testid="sign-in-error" ref={errorRef}>
          {error}
        </p>
      )}
    </form>
  );
}

/**
 * Where the pilot streams: the RTMP URL with its key and a QR code of it for the drone app. Only
 * the operator sees it; collapsible, open while no drone streams.
 */
export function PilotSection({ info, waiting }: { info: StreamInfo | null; waiting: boolean }) {
  const [open, setOpen] = useState<boolean | null>(null);
  const shown = open ?? waiting;
  const qr = useQr(shown && info?.operator ? qrUrlOf(info) : null, info?.rtmp_url ?? null);
  return (
    <details className="pilot" open={shown} data-testid="pilot">
      <summary
        onClick={(e) => {
          e.preventDefault();
          setOpen(!shown);
        }}
        data-testid="pilot-toggle"
      >
        Pilot: where the drone streams
      </summary>
      {shown && (
        <div className="pilot-body">
          {qr && <img className="qr" data-testid="rtmp-qr" src={qr} alt="QR code of the RTMP address for the drone app" />}
          <p className="small">Show the pilot this code, or have them enter the address in the drone app:</p>
          <code className="rtmp" data-testid="pilot-rtmp-url">
            {info?.rtmp_url ?? '—'}
          </code>
          {info?.rtmp_url && <CopyButton text={info.rtmp_url} />}
          {info?.key_error && <small className="key-error">No stream key: {info.key_error}</small>}
        </div>
      )}
    </details>
  );
}

/** Signing out, and changing the passphrase (unless skycount.toml sets it). */
export function AccountSection({ session, onSignedOut, onNote }: { session: Session; onSignedOut: () => void; onNote: (n: { text: string; error: boolean }) => void }) {
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [busy, setBusy] = useState(false);
  const change = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    try {
      await changePassphrase(current, next);
      setCurrent('');
      setNext('');
      onNote({ text: 'Passphrase changed: other signed-in devices are signed out.', error: false });
    } catch (err) {
      onNote({ text: err instanceof Error ? err.message : String(err), error: true });
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="account">
      {session.changeable && (
        <details>
          <summary>Change the operator passphrase</summary>
          <form onSubmit={change} className="sign-in">
            <label>
              <span>Current</span>
              <input type="password" autoComplete="current-password" value={current} onChange={(e) => setCurrent(e.target.value)} maxLength={128} />
            </label>
            <label>
              <span>New (6 to 128 characters)</span>
              <input type="password" autoComplete="new-password" value={next} onChange={(e) => setNext(e.target.value)} minLength={6} maxLength={128} />
            </label>
            <div className="op-actions">
              <button type="submit" disabled={busy || !current || next.length < 6}>
                {busy ? 'Changing…' : 'Change'}
              </button>
            </div>
          </form>
        </details>
      )}
      <div className="op-actions">
        <button
          type="button"
          data-testid="sign-out"
          onClick={() => {
            void signOut().finally(onSignedOut);
          }}
        >
          Sign out
        </button>
      </div>
    </div>
  );
}

/** Copies the pilot's URL (to paste into a message or the drone app on this device). */
function CopyButton({ text }: { text: string }) {
  const [said, setSaid] = useState<string | null>(null);
  useEffect(() => {
    if (!said) return;
    const id = setTimeout(() => setSaid(null), 4000);
    return () => clearTimeout(id);
  }, [said]);
  return (
    <span className="copy">
      <button
        type="button"
        data-testid="copy-rtmp-url"
        onClick={async () => setSaid((await copyText(text)) ? 'Copied.' : 'This browser would not copy it: select the address and copy it by hand.')}
      >
        Copy address
      </button>
      <span role="status" className="small" data-testid="copy-result">
        {said}
      </span>
    </span>
  );
}
