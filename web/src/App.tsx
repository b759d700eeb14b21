import { useCallback, useEffect, useLayoutEffect, useRef, useState } from 'react';
import { fetchStatus, fetchStreamInfo, type Alert, type Analysis, type Calibration, type Mask, type Point, type Status, type StreamInfo, type Zone } from './lib/api';
import type { Rect } from './lib/align';
import { sameMasks, type MaskEditor } from './lib/masks';
import { tapPoint } from './lib/shapes';
import { mergeAlert, sameZones, type ZoneEditor } from './lib/zones';
import { acknowledgeAlert, preferRecent, SESSION_ENDED_TEXT, sessionEvents } from './lib/operator';
import { clockOffset, stateAgeMs } from './lib/clock';
import { freshness } from './lib/freshness';
import { openLink, type LinkInfo } from './lib/link';
import { RecentAnalyses } from './lib/pairing';
import { loadSettings, saveSettings, type Settings } from './lib/settings';
import { TrendWindow } from './lib/trend';
import { backoffDelay } from './lib/whep';
import { useNow, useWhep } from './hooks';
import { Stage } from './components/Stage';
import { HeatmapControls } from './components/HeatmapControls';
import { CountPanel } from './components/CountPanel';
import { HealthPanel } from './components/HealthPanel';
import type { Health } from './lib/health';
import { fetchSession, VIEWER, type Session } from './lib/auth';
import { OperatorPanel } from './components/OperatorPanel';
import { ShapeToolbar } from './components/ShapeToolbar';
import { AlertBanner } from './components/AlertBanner';
import { DroneRequests } from './components/DroneRequests';
import { DroneStrip } from './components/DroneStrip';
import { droneName, snapshotUrl, watchedOther } from './lib/streams';
import { CalibrationDialog } from './components/CalibrationDialog';

const RETAIN_MS = 15 * 60_000;
const STATUS_POLL_MS = 5000;
const HEALTH_POLL_MS = 10_000;
/** The operator's session is checked this often (and whenever the link comes back). */
const SESSION_CHECK_MS = 60_000;

export function App() {
  const [settings, setSettings] = useState<Settings>(loadSettings);
  const update = useCallback((patch: Partial<Settings>) => {
    setSettings((s) => {
      const next = { ...s, ...patch };
      saveSettings(next);
      return next;
    });
  }, []);

  // a new window when the drone on screen changes (the trend is one drone's)
  const trendRef = useRef(new TrendWindow(RETAIN_MS));
  const trend = trendRef.current;
  // the analyses received lately, by seq: the overlay drawn over a picture is the picture's own
  const recent = useRef(new RecentAnalyses()).current;
  const [trendVersion, setTrendVersion] = useState(0);
  const [shown, setShown] = useState<{ a: Analysis; receivedAt: number } | null>(null);
  const [status, setStatus] = useState<Status | null>(null);
  // the drone on screen when it is not the configured one (several drones: the strip)
  const [watching, setWatching] = useState<string | null>(null);
  // when the newest analysis or status arrived (this browser's clock)
  const [lastReceivedAt, setLastReceivedAt] = useState<number | null>(null);
  const [link, setLink] = useState<LinkInfo>({ state: 'connecting', detail: null, attempt: 0 });
  const [info, setInfo] = useState<StreamInfo | null>(null);
  const [health, setHealth] = useState<Health | null>(null);
  const [session, setSession] = useState<Session>(VIEWER);
  // bumped when the session changes: the stream info (the pilot's URL) is read again
  const [sessionVersion, setSessionVersion] = useState(0);
  const onSession = useCallback(() => setSessionVersion((v) => v + 1), []);
  const now = useNow(1000);

  // Operator area (pilot's URL, calibration, masks): one panel, behind the operator's sign-in.
  const [operatorOpen, setOperatorOpen] = useState(false);
  const [calibrating, setCalibrating] = useState(false);
  const [maskEditor, setMaskEditor] = useState<MaskEditor | null>(null);
  const [zoneEditor, setZoneEditor] = useState<ZoneEditor | null>(null);
  const [alerts, setAlerts] = useState<Alert[]>([]);
  const [opNote, setOpNote] = useState<{ text: string; error: boolean } | null>(null);
  // what the operator just set, shown until the daemon's status says the same
  const [recentCal, setRecentCal] = useState<{ value: Calibration | null; at: number } | null>(null);
  const [recentMasks, setRecentMasks] = useState<{ value: readonly Mask[]; at: number } | null>(null);
  const [recentZones, setRecentZones] = useState<{ value: readonly Zone[]; at: number } | null>(null);
  const operatorRef = useRef<HTMLDivElement>(null);
  const isOperator = session.operator;
  const startCalibration = useCallback(() => {
    setOperatorOpen(true);
    setMaskEditor(null);
    setZoneEditor(null);
    // a viewer gets the sign-in form first
    if (isOperator) setCalibrating(true);
  }, [isOperator]);
  // one drawing at a time: masks or zones
  const editingMasks = maskEditor !== null;
  const editingZones = zoneEditor !== null;
  useEffect(() => {
    if (editingMasks) setZoneEditor(null);
  }, [editingMasks]);
  useEffect(() => {
    if (editingZones) setMaskEditor(null);
  }, [editingZones]);
  useEffect(() => {
    // the shapes are drawn on the video: bring it into view (on a phone the panel is below it)
    if (editingMasks || editingZones) document.querySelector('.stage')?.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
  }, [editingMasks, editingZones]);
  const onShapeTap = useCallback((p: Point, rect: Rect) => {
    setMaskEditor((ed) => (ed ? tapPoint(ed, p, rect) : ed));
    setZoneEditor((ed) => (ed ? tapPoint(ed, p, rect) : ed));
  }, []);
  const onAcknowledge = useCallback(async (id: number) => {
    const a = await acknowledgeAlert(id);
    setAlerts((open) => mergeAlert(open, a));
  }, []);

  // The operator's session is gone (the box refused an operator action, or said so when asked):
  // what only the operator may see goes at once, and the sign-in is offered in its place.
  const sessionRef = useRef(session);
  sessionRef.current = session;
  const sessionGone = useCallback(() => {
    if (!sessionRef.current.operator) return;
    sessionRef.current = { ...sessionRef.current, operator: false, expiresInS: null };
    setSession(sessionRef.current);
    setCalibrating(false);
    setMaskEditor(null);
    setZoneEditor(null);
    setOperatorOpen(true);
    setOpNote({ text: SESSION_ENDED_TEXT, error: true });
    setSessionVersion((v) => v + 1);
  }, []);
  useEffect(() => {
    const on = () => sessionGone();
    sessionEvents.addEventListener('ended', on);
    return () => sessionEvents.removeEventListener('ended', on);
  }, [sessionGone]);

  useLayoutEffect(() => {
    performance.mark?.('skycount:first-render');
  }, []);

  useEffect(() => {
    document.documentElement.dataset.theme = settings.theme;
  }, [settings.theme]);

  // Socket.IO: status and analyses as they happen, of the drone on screen (another drone: a new
  // link asking for it, and the trend and the analyses kept start again).
  useEffect(() => {
    trendRef.current = new TrendWindow(RETAIN_MS);
    recent.clear();
    setShown(null);
    setTrendVersion((v) => v + 1);
    const trendWindow = trendRef.current;
    return openLink(
      {
        onLink: setLink,
        onStatus: (s) => {
          setStatus(s);
          setAlerts(s.alerts);
          setLastReceivedAt(Date.now());
        },
        onAlert: (a) => setAlerts((open) => mergeAlert(open, a)),
        onAnalysis: (a) => {
          const t = Date.now();
          if (trendWindow.push(a.seq, t, a.count, a.smoothed)) setTrendVersion((v) => v + 1);
          setShown((prev) => {
            // a new daemon numbers its analyses from 1 again: the old ones pair with nothing
            if (prev && a.seq < prev.a.seq) recent.clear();
            return { a, receivedAt: t };
          });
          recent.add(a, t);
          setLastReceivedAt(t);
        },
      },
      undefined,
      watching,
    );
  }, [recent, watching]);
  // The drone on screen left the list (or was refused): back to the configured one.
  const other = watchedOther(status?.streams ?? [], watching);
  useEffect(() => {
    if (watching !== null && status !== null && other === null) setWatching(null);
  }, [watching, status, other]);
  const onWatch = useCallback((s: string | null) => {
    setWatching(s);
    setCalibrating(false);
    setMaskEditor(null);
    setZoneEditor(null);
    // what was just saved was the other drone's
    setRecentCal(null);
    setRecentMasks(null);
    setRecentZones(null);
  }, []);

  // Who this browser is: a viewer, or the signed-in operator (the cookie is the browser's). Asked
  // again whenever the link to the box comes back (it may have restarted) and every minute.
  const linkUp = link.state === 'connected';
  useEffect(() => {
    let gone = false;
    const check = () =>
      fetchSession().then(
        (s) => {
          if (gone) return;
          // signed in here, not any more on the box: say so, rather than quietly turn viewer
          if (sessionRef.current.operator && !s.operator) sessionGone();
          else setSession(s);
        },
        () => undefined,
      );
    void check();
    const id = setInterval(check, SESSION_CHECK_MS);
    return () => {
      gone = true;
      clearInterval(id);
    };
  }, [sessionVersion, linkUp, sessionGone]);

  // Where to play the video and where the pilot publishes (the operator's only); retried until
  // the daemon answers, and read again when the session changes.
  useEffect(() => {
    const ac = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let attempt = 0;
    const load = () => {
      fetchStreamInfo(ac.signal).then(setInfo, () => {
        if (ac.signal.aborted) return;
        timer = setTimeout(load, backoffDelay(++attempt));
      });
    };
    load();
    return () => {
      ac.abort();
      clearTimeout(timer);
    };
  }, [sessionVersion]);

  // Status over HTTP at start and whenever the Socket.IO link is down.
  useEffect(() => {
    if (linkUp) return;
    const ac = new AbortController();
    const poll = () =>
      fetchStatus(ac.signal).then(
        (s) => {
          setStatus(s);
          setAlerts(s.alerts);
        },
        () => undefined,
      );
    poll();
    const id = setInterval(poll, STATUS_POLL_MS);
    return () => {
      ac.abort();
      clearInterval(id);
    };
  }, [linkUp]);

  // The daemon's own verdict on its pipeline and model.
  useEffect(() => {
    const poll = async () => {
      try {
        const res = await fetch('/api/health', { cache: 'no-store' });
        // 200 while the box (daemon and model) works, whether or not a drone streams.
        const body = (await res.json().catch(() => ({}))) as { ok?: unknown; reason?: unknown };
        setHealth({ ok: res.ok && body.ok === true, reason: typeof body.reason === 'string' ? body.reason : res.ok ? null : `HTTP ${res.status}` });
      } catch {
        setHealth({ ok: false, reason: 'unreachable' });
      }
    };
    void poll();
    const id = setInterval(poll, HEALTH_POLL_MS);
    return () => clearInterval(id);
  }, []);

  const { status: whep, stream, player } = useWhep(info?.whep_url ?? null);
  const onVideoStall = useCallback((reason: string) => player.current?.restart(reason), [player]);

  // The drone just appeared: try the video now instead of waiting for the next retry.
  const streamState = other ? other.state : (status?.state ?? null);
  useEffect(() => {
    if (streamState === 'live') player.current?.kick();
  }, [streamState, player]);

  const analysis = shown?.a ?? null;
  const offset = shown ? clockOffset(shown.a.wall_time_ms, shown.receivedAt) : 0;
  const fresh = freshness(link.state, lastReceivedAt);
  const stateAge = status && !fresh.lost ? stateAgeMs(status.state_since_ms, status.uptime_s, now, offset) : null;
  const stale = fresh.lost || (streamState !== null && streamState !== 'live');
  // several drones: the summary of the one on screen (its name, to change)
  const streamList = status?.streams ?? [];
  const shownSummary = streamList.length >= 2 ? (other ?? streamList.find((s) => s.configured) ?? null) : null;
  // the drone on screen's calibration, masks and zones: each drone has its own
  const setupOf = other ?? status;
  const calibration = preferRecent(setupOf?.calibration ?? null, recentCal, (a, b) => (a === null) === (b === null) && a?.at_ms === b?.at_ms, now);
  const masks = preferRecent<readonly Mask[]>(setupOf?.masks ?? [], recentMasks, sameMasks, now);
  const zones = preferRecent<readonly Zone[]>(setupOf?.zones ?? [], recentZones, sameZones, now);
  const lookup = useCallback((seq: number) => recent.get(seq), [recent]);

  return (
    <div className="app">
      <header className="topbar">
        <h1>skycount</h1>
        <span className={`pill link-${link.state}`} title={link.detail ?? undefined} data-testid="link-pill">
          <span className="dot" aria-hidden="true" />
          {link.state === 'connected' ? 'connected' : link.state === 'connecting' ? 'connecting…' : 'reconnecting…'}
        </span>
        <button
          type="button"
          className="theme"
          onClick={() => update({ theme: settings.theme === 'sun' ? 'night' : 'sun' })}
          aria-label={`Switch to ${settings.theme === 'sun' ? 'night' : 'sun'} colours`}
          data-testid="theme-toggle"
        >
          {settings.theme === 'sun' ? '☾ Night' : '☀ Sun'}
        </button>
        <a className="history-link" href="#/history" data-testid="history-link">
          History
        </a>
      </header>
      {/* The one live region that is not an alert: the link to the box lost or back. */}
      <p className="sr-only" role="status" data-testid="link-announce">
        {fresh.lost && lastReceivedAt !== null ? 'The box is not answering: the figures shown are the last known ones.' : ''}
      </p>
      <DroneRequests operator={isOperator} hidden={calibrating} />
      <AlertBanner alerts={alerts} operator={isOperator} onAcknowledge={onAcknowledge} zoneCounts={analysis?.zones ?? []} camera={analysis?.camera ?? null} fresh={fresh} hidden={calibrating} />
      <DroneStrip streams={status?.streams ?? []} watching={other?.stream ?? null} onWatch={onWatch} />
      <main className="layout">
        <div className="viewer">
          <Stage
            stream={other ? null : stream}
            whep={whep}
            onVideoStall={onVideoStall}
            analysis={analysis}
            lookup={lookup}
            receivedAt={shown?.receivedAt ?? null}
            info={other && info ? { ...info, snapshot_url: snapshotUrl(info.snapshot_url, other.stream) } : info}
            streamState={streamState}
            fresh={fresh}
            heatmapOn={settings.heatmapOn}
            opacity={settings.opacity}
            masks={maskEditor ? maskEditor.shapes : masks}
            zones={zoneEditor ? zoneEditor.shapes : zones}
            editor={maskEditor ?? zoneEditor}
            onShapeTap={onShapeTap}
          />
          {maskEditor && (
            <ShapeToolbar
              editor={maskEditor}
              setEditor={setMaskEditor}
              onList={() => operatorRef.current?.scrollIntoView({ block: 'start', behavior: 'smooth' })}
            />
          )}
          {zoneEditor && (
            <ShapeToolbar
              editor={zoneEditor}
              setEditor={setZoneEditor}
              onList={() => operatorRef.current?.scrollIntoView({ block: 'start', behavior: 'smooth' })}
            />
          )}
          <HeatmapControls
            on={settings.heatmapOn}
            opacity={settings.opacity}
            max={analysis?.density.max ?? null}
            onToggle={() => update({ heatmapOn: !settings.heatmapOn })}
            onOpacity={(opacity) => update({ opacity })}
          />
        </div>
        <aside className="side">
          <CountPanel
            analysis={analysis}
            calibration={calibration}
            trend={trend}
            version={trendVersion}
            now={now}
            windowMin={settings.windowMin}
            onWindow={(windowMin) => update({ windowMin })}
            theme={settings.theme}
            stale={stale}
            fresh={fresh}
            operator={isOperator}
            onCalibrate={startCalibration}
          />
          <div ref={operatorRef} className="operator-slot">
            <OperatorPanel
              open={operatorOpen}
              onToggle={() => setOperatorOpen((o) => !o)}
              calibration={calibration}
              masks={masks}
              supported={status === null || status.analysis !== null || status.calibration !== null || status.masks.length > 0}
              onCalibrate={startCalibration}
              onReset={() => setRecentCal({ value: null, at: Date.now() })}
              note={opNote}
              onNote={setOpNote}
              editor={maskEditor}
              setEditor={setMaskEditor}
              onSaved={(kept) => setRecentMasks({ value: kept, at: Date.now() })}
              zones={zones}
              zoneEditor={zoneEditor}
              setZoneEditor={setZoneEditor}
              onZonesSaved={(kept) => setRecentZones({ value: kept, at: Date.now() })}
              session={session}
              onSession={onSession}
              onSignedOut={() => {
                sessionRef.current = VIEWER;
                setSession(VIEWER);
                setOpNote(null);
                onSession();
              }}
              info={info}
              waiting={streamState !== 'live'}
              drone={other ? { key: other.stream, name: droneName(other) } : null}
              naming={shownSummary ? { name: shownSummary.name, fallback: droneName({ ...shownSummary, name: null }) } : null}
            />
          </div>
          <HealthPanel
            status={status}
            analysis={analysis}
            link={link}
            whep={whep}
            info={info}
            health={health}
            stateAgeMs={stateAge}
            measuredRate={fresh.lost ? null : trend.rate(now)}
            fresh={fresh}
          />
        </aside>
      </main>
      {calibrating && (
        <CalibrationDialog
          alerts={alerts}
          onAcknowledge={onAcknowledge}
          stream={other?.stream ?? null}
          onClose={() => setCalibrating(false)}
          onApplied={(c: Calibration) => {
            setRecentCal({ value: c, at: Date.now() });
            setOpNote({ text: `Calibration applied (${c.taps ?? '?'} people in your box): counted with it from the next analysis.`, error: false });
            setCalibrating(false);
            requestAnimationFrame(() => operatorRef.current?.scrollIntoView({ block: 'nearest', behavior: 'smooth' }));
          }}
        />
      )}
    </div>
  );
}
