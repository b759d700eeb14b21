import { useEffect, useRef, useState } from 'react';
import type { Alert, CameraState, ZoneCount } from '../lib/api';
import type { Freshness } from '../lib/freshness';
import { alertText, unsounded } from '../lib/zones';

interface Props {
  /** the open alerts, oldest first */
  alerts: readonly Alert[];
  /** the signed-in operator may acknowledge */
  operator: boolean;
  onAcknowledge: (id: number) => Promise<void>;
  /** the zones' counts in the newest analysis: what each alerting zone holds now */
  zoneCounts?: readonly ZoneCount[];
  /** whether zones are paused (the camera moves) */
  camera?: CameraState | null;
  /** whether the box is reachable (else the counts are the last known ones) */
  fresh?: Freshness | null;
  /** a dialog covers the page and shows the alerts itself: nothing shown here (sound goes on) */
  hidden?: boolean;
  /** inside a dialog: a compact strip, silent (the page's banner beeps) */
  inDialog?: boolean;
}

/**
 * Open zone alerts, on every dashboard: a banner that stays until the alert is both cleared and
 * acknowledged, and a beep for each newly raised one. Browsers keep a page silent until the
 * person has touched it: the first tap or key anywhere turns the sound on, and until then the
 * banner offers a button that does.
 */
export function AlertBanner({ alerts, operator, onAcknowledge, zoneCounts = [], camera = null, fresh = null, hidden = false, inDialog = false }: Props) {
  const sounded = useRef(new Set<number>());
  // on already when this page was touched before (another view of it, e.g. History and back)
  const [soundOn, setSoundOn] = useState(() => audio !== null);
  const [busy, setBusy] = useState<number | null>(null);
  const [error, setError] = useState<string | null>(null);

  // The first gesture anywhere allows sound. On the click, not the pointerdown: the banner loses
  // its sound button then, and a page that moved between pointerdown and pointerup would send the
  // click that began on a link or button somewhere else.
  useEffect(() => {
    const unlock = () => {
      if (resumeAudio()) setSoundOn(true);
    };
    window.addEventListener('click', unlock, { once: true });
    window.addEventListener('keydown', unlock, { once: true });
    return () => {
      window.removeEventListener('click', unlock);
      window.removeEventListener('keydown', unlock);
    };
  }, []);

  useEffect(() => {
    if (inDialog) return;
    const unheard = unsounded(alerts, sounded.current);
    if (unheard.length === 0) return;
    unheard.forEach((a) => sounded.current.add(a.id));
    if (soundOn) beep();
  }, [alerts, soundOn, inDialog]);

  if (alerts.length === 0 || hidden) return null;
  const raised = alerts.some((a) => a.cleared_ms === null);
  const now = (zone: string) => {
    const z = zoneCounts.find((c) => c.name === zone);
    return { count: z ? z.count : null, paused: camera?.zones_paused === true, lastKnown: fresh?.lost === true };
  };
  return (
    <section
      className={`alert-banner${raised ? ' raised' : ''}${inDialog ? ' in-dialog' : ''}`}
      aria-label="Zone alerts"
      data-testid={inDialog ? 'dialog-alerts' : 'alert-banner'}
    >
      {/* Announced when an alert is raised, cleared or acknowledged; the zones' counts beside
          them change with every analysis and are not announced. */}
      {!inDialog && (
        <p className="sr-only" role="alert" data-testid="alert-announce">
          {alerts.map((a) => alertText(a)).join(' ')}
        </p>
      )}
      <ul>
        {alerts.map((a) => (
          <li key={a.id} data-testid="alert" data-id={a.id} data-zone={a.zone} data-acknowledged={String(a.acknowledged_ms !== null)} data-cleared={String(a.cleared_ms !== null)}>
            <span className="alert-icon" aria-hidden="true">
              {a.cleared_ms === null ? '⚠' : '✓'}
            </span>
            <span className="alert-text">{alertText(a, now(a.zone))}</span>
            {operator && a.acknowledged_ms === null && (
              <button
                type="button"
                className="primary"
                disabled={busy === a.id}
                onClick={async () => {
                  setBusy(a.id);
                  setError(null);
                  try {
                    await onAcknowledge(a.id);
                  } catch (e) {
                    setError(e instanceof Error ? e.message : String(e));
                  } finally {
                    setBusy(null);
                  }
                }}
                data-testid="alert-ack"
              >
                {busy === a.id ? 'Acknowledging…' : 'Acknowledge'}
              </button>
            )}
          </li>
        ))}
      </ul>
      {error && <p className="alert-error">{error}</p>}
      {!soundOn && !inDialog && (
        <button
          type="button"
          className="alert-sound"
          onClick={() => {
            if (resumeAudio()) {
              setSoundOn(true);
              beep();
            }
          }}
          data-testid="alert-sound"
        >
          Sound is off: tap to hear alerts
        </button>
      )}
    </section>
  );
}

let audio: AudioContext | null = null;

/** Creates or resumes the page's audio (inside a user gesture); false when the browser has none. */
function resumeAudio(): boolean {
  try {
    audio ??= new AudioContext();
    void audio.resume();
    return true;
  } catch {
    return false;
  }
}

/** Three short high beeps. */
function beep() {
  if (!audio) return;
  const t0 = audio.currentTime;
  for (let i = 0; i < 3; i++) {
    const t = t0 + i * 0.25;
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.frequency.value = 880;
    gain.gain.setValueAtTime(0.0001, t);
    gain.gain.exponentialRampToValueAtTime(0.3, t + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, t + 0.18);
    osc.connect(gain).connect(audio.destination);
    osc.start(t);
    osc.stop(t + 0.2);
  }
}
