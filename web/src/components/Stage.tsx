import { useEffect, useLayoutEffect, useRef, useState } from 'react';
import type { Analysis, Mask, Point, StreamInfo, Zone } from '../lib/api';
import { cellCentre, contentRect, type Rect } from '../lib/align';
import type { Shape, ShapeEditor } from '../lib/shapes';
import { ShapeLayer } from './ShapeLayer';
import { densestCell } from '../lib/density';
import { DEMO_TEXT, fmtClock, fmtDensity, fmtMs } from '../lib/format';
import { lastKnownText, type Freshness } from '../lib/freshness';
import { HeatmapRenderer, heatmapBackingSize } from '../lib/heatmap';
import { overlayLagMs, snapshotSeq } from '../lib/pairing';
import type { WhepStatus } from '../lib/whep';
import { useElementSize, useNow } from '../hooks';

export interface StageProps {
  stream: MediaStream | null;
  whep: WhepStatus;
  /** the video stopped advancing: the caller restarts the WHEP session */
  onVideoStall: (reason: string) => void;
  /** the newest analysis */
  analysis: Analysis | null;
  /** an analysis received lately, by seq (the one a snapshot's picture is of), with when it
   * arrived */
  lookup: (seq: number) => { a: Analysis; receivedAt: number } | null;
  receivedAt: number | null;
  info: StreamInfo | null;
  streamState: string | null;
  /** whether the box is reachable, and when the newest figure arrived */
  fresh: Freshness;
  heatmapOn: boolean;
  opacity: number;
  /** areas not counted (the daemon's, or the operator's draft while editing) */
  masks: readonly Mask[];
  /** zones (the daemon's, or the operator's draft while editing) */
  zones: readonly Zone[];
  /** the operator's mask or zone editor, while open */
  editor: ShapeEditor<Shape> | null;
  onShapeTap: (p: Point, rect: Rect) => void;
}

const STALL_MS = 6000;
const FIRST_FRAME_MS = 10_000;
const SNAPSHOT_POLL_MS = 4000;

interface Densest {
  col: number;
  row: number;
  gw: number;
  gh: number;
  value: number;
}

export function Stage(p: StageProps) {
  const boxRef = useRef<HTMLDivElement>(null);
  const videoRef = useRef<HTMLVideoElement>(null);
  const canvasRef = useRef<HTMLCanvasElement>(null);
  const renderer = useRef<HeatmapRenderer | null>(null);
  const box = useElementSize(boxRef);
  const [videoSize, setVideoSize] = useState({ w: 0, h: 0 });
  const [videoPlaying, setVideoPlaying] = useState(false);
  const [densest, setDensest] = useState<Densest | null>(null);

  const videoLive = p.whep.state === 'connected' && p.stream !== null && videoPlaying;
  const showSnapshot = !videoLive;
  const linkUp = !p.fresh.lost;
  const snap = useSnapshot(showSnapshot, p.info?.snapshot_url ?? '/api/snapshot.jpg', p.analysis?.seq ?? null, linkUp, p.lookup);
  // What the overlay (heatmap, densest spot, zone counts) is drawn from: over live video the
  // newest analysis (its age said in a badge); over the last analysed frame, that frame's own
  // analysis, shown together with its picture or not at all.
  const overlay = videoLive ? p.analysis : snap.analysis;

  // The received media goes into the native <video>, muted so autoplay is allowed everywhere.
  useEffect(() => {
    const v = videoRef.current;
    if (!v) return;
    v.muted = true;
    v.defaultMuted = true;
    v.setAttribute('muted', ''); // React sets only the property; iOS looks at the attribute
    if (v.srcObject !== p.stream) v.srcObject = p.stream;
    if (p.stream) v.play().catch(() => undefined);
    else setVideoPlaying(false);
  }, [p.stream]);

  useEffect(() => {
    const v = videoRef.current;
    if (!v) return;
    const size = () => {
      setVideoSize((s) => (s.w === v.videoWidth && s.h === v.videoHeight ? s : { w: v.videoWidth, h: v.videoHeight }));
      if (v.videoWidth > 0 && !v.paused) setVideoPlaying(true);
    };
    const stopped = () => setVideoPlaying(false);
    v.addEventListener('loadedmetadata', size);
    v.addEventListener('resize', size);
    v.addEventListener('playing', size);
    v.addEventListener('emptied', stopped);
    v.addEventListener('ended', stopped);
    return () => {
      v.removeEventListener('loadedmetadata', size);
      v.removeEventListener('resize', size);
      v.removeEventListener('playing', size);
      v.removeEventListener('emptied', stopped);
      v.removeEventListener('ended', stopped);
    };
  }, []);

  // Watchdog: a connected session whose picture does not move is restarted.
  const { onVideoStall } = p;
  useEffect(() => {
    if (!p.stream || p.whep.state !== 'connected') return;
    let last = -1;
    let lastChange = Date.now();
    let sawFrame = false;
    const id = setInterval(() => {
      const v = videoRef.current;
      if (!v || document.hidden) {
        lastChange = Date.now();
        return;
      }
      if (v.currentTime !== last) {
        last = v.currentTime;
        lastChange = Date.now();
        if (v.videoWidth > 0) sawFrame = true;
        if (v.paused) v.play().catch(() => undefined);
        return;
      }
      const limit = sawFrame ? STALL_MS : FIRST_FRAME_MS;
      if (Date.now() - lastChange > limit) {
        setVideoPlaying(false);
        onVideoStall(sawFrame ? 'video stalled' : 'no video frames');
      }
    }, 1000);
    return () => clearInterval(id);
  }, [p.stream, p.whep.state, onVideoStall]);

  // Where the picture is inside the box: the overlay goes exactly there.
  const pic = videoLive
    ? videoSize
    : snap.w > 0
      ? { w: snap.w, h: snap.h }
      : overlay
        ? { w: overlay.input_width, h: overlay.input_height }
        : { w: 16, h: 9 };
  const rect = contentRect(pic.w, pic.h, box.w, box.h);

  useLayoutEffect(() => {
    const c = canvasRef.current;
    if (!c) return;
    if (!renderer.current) {
      try {
        renderer.current = new HeatmapRenderer(c);
      } catch {
        return;
      }
    }
    c.style.left = `${rect.x}px`;
    c.style.top = `${rect.y}px`;
    c.style.width = `${rect.w}px`;
    c.style.height = `${rect.h}px`;
    const { width, height } = heatmapBackingSize(rect, window.devicePixelRatio || 1);
    renderer.current.resize(width, height);
  }, [rect.x, rect.y, rect.w, rect.h]);

  useEffect(() => {
    const r = renderer.current;
    const c = canvasRef.current;
    if (!r || !c) return;
    if (!overlay) {
      r.clear();
      c.dataset.seq = '';
      setDensest(null);
      return;
    }
    try {
      const d = r.update(overlay.density);
      c.dataset.seq = String(overlay.seq);
      const cell = densestCell(d);
      setDensest(cell ? { ...cell, gw: d.width, gh: d.height } : null);
    } catch (e) {
      console.warn('skycount: bad density grid', e);
    }
  }, [overlay]);

  const waiting =
    !p.fresh.lost && !videoLive && (p.streamState === 'waiting' || (p.whep.state === 'no-stream' && p.streamState !== 'live'));
  const videoState = videoLive ? 'live' : snap.src ? 'snapshot' : 'none';
  const demo = p.analysis?.demo === true;
  const marker = densest && p.heatmapOn && rect.w > 0 ? cellCentre(densest.col, densest.row, rect, densest.gw, densest.gh) : null;
  const camera = p.analysis?.camera ?? null;
  const paused = camera?.zones_paused === true && !p.fresh.lost;

  return (
    <section className="stage-area" aria-label="The drone's picture">
      <div className="stage-bar" data-testid="stage-bar">
        {demo && (
          <span className="demo-badge demo-banner" data-testid="demo-badge" role="note">
            {DEMO_TEXT}
          </span>
        )}
        <span className={`badge video-${videoState}`} data-testid="video-state" data-state={videoState}>
          {videoState === 'live' ? 'LIVE video' : videoState === 'snapshot' ? `Last analysed frame${snap.at ? `, ${fmtClock(snap.at)}` : ''}` : 'No picture'}
        </span>
        {overlay && p.heatmapOn && (
          <OverlayAge live={videoLive} analysis={overlay} receivedAt={videoLive ? p.receivedAt : snap.at} />
        )}
        {paused && (
          <span className="badge camera-moving" data-testid="camera-state" data-state={camera.moving ? 'moving' : 'away'}>
            {camera.moving ? 'Camera moving: zones paused' : 'Camera away from the zones’ view: zones paused'}
          </span>
        )}
      </div>
      <div className={`stage${waiting ? ' stage-waiting' : ''}${p.editor ? ' stage-editing' : ''}${p.fresh.lost ? ' stage-lost' : ''}`} ref={boxRef}>
        <video
          ref={videoRef}
          data-testid="video"
          className={videoLive ? 'media' : 'media hidden'}
          autoPlay
          muted
          playsInline
          disablePictureInPicture
        />
        {showSnapshot && snap.src && (
          <img
            data-testid="snapshot"
            data-seq={snap.seq ?? undefined}
            className="media"
            src={snap.src}
            alt="Last analysed frame"
            onLoad={snap.onLoad}
          />
        )}
        <canvas
          ref={canvasRef}
          data-testid="heatmap"
          className="heatmap"
          aria-label="Crowd density heatmap"
          role="img"
          style={{ opacity: p.heatmapOn ? p.opacity : 0, visibility: p.heatmapOn ? 'visible' : 'hidden' }}
        />
        {marker && (
          <div
            className="densest"
            data-testid="densest"
            style={{ transform: `translate(${marker.x}px, ${marker.y}px)` }}
            title={`Densest spot: ${fmtDensity(densest?.value)} people per cell`}
          />
        )}
        <ShapeLayer
          rect={rect}
          boxW={box.w}
          boxH={box.h}
          masks={p.masks}
          zones={p.zones}
          zoneCounts={overlay?.zones ?? []}
          zonesPaused={overlay?.camera?.zones_paused === true}
          editor={p.editor}
          onTap={p.onShapeTap}
        />
        {p.fresh.lost ? (
          <div className="notice notice-compact lost" data-testid="stage-lost">
            <span>
              <strong>The box is not answering</strong> · what is shown is the {lastKnownText(p.fresh)}
            </span>
          </div>
        ) : waiting ? (
          <div className="notice notice-compact waiting" data-testid="waiting" role="status">
            <div className="waiting-text">
              <strong>Waiting for the drone</strong>
              <span>The operator shows the pilot where to stream (Operator panel).</span>
            </div>
          </div>
        ) : (
          !videoLive && (
            <div className="notice notice-compact" data-testid="video-notice">
              <span>{videoNotice(p.whep)}</span>
            </div>
          )
        )}
      </div>
    </section>
  );
}

function videoNotice(w: WhepStatus): string {
  switch (w.state) {
    case 'idle':
    case 'connecting':
      return 'Connecting to live video…';
    case 'connected':
      return 'Live video connected, waiting for pictures…';
    case 'unreachable':
      return 'Live video unreachable (MediaMTX absent or blocked)';
    case 'no-stream':
      return 'No live video yet';
    case 'failed':
      return 'Live video failed, retrying';
    case 'stopped':
      return 'Live video stopped';
  }
}

/**
 * How old the overlay is. Over live video: how far the analysed frame is behind the picture (its
 * age when its result was ready, plus the time since it arrived). Over the last analysed frame:
 * picture and overlay are one frame; how old that frame is.
 */
function OverlayAge({ live, analysis, receivedAt }: { live: boolean; analysis: Analysis; receivedAt: number | null }) {
  const now = useNow(250);
  if (receivedAt === null) return null;
  const age = overlayLagMs(analysis, receivedAt, now);
  const level = age > 30_000 ? 'bad' : age > 5000 ? 'warn' : 'ok';
  return (
    <span className={`badge age-${level}`} data-testid="heatmap-age" data-age-ms={Math.round(age)} data-live={String(live)}>
      {live ? `Heatmap ${fmtMs(age)} behind the video` : `Heatmap of this frame, ${fmtMs(age)} old`}
    </span>
  );
}

interface Snapshot {
  src: string | null;
  /** the analysis the shown picture is of */
  seq: number | null;
  w: number;
  h: number;
  /** that analysis: what the overlay over the picture is drawn from */
  analysis: Analysis | null;
  /** when that analysis arrived (this browser's clock) */
  at: number | null;
  onLoad: (e: React.SyntheticEvent<HTMLImageElement>) => void;
}

interface Picture {
  src: string;
  seq: number;
  w: number;
  h: number;
}

/**
 * The last analysed frame, while live video is not playing: fetched once per analysis (and
 * every few seconds while the Socket.IO link is down), one request at a time, shown from a
 * blob URL so the picture only changes once the new one is complete. The answer says which
 * analysis the frame is of (`X-Skycount-Seq`): the picture is shown only together with that
 * analysis (it may arrive before it over Socket.IO, or after), so that the overlay drawn over it
 * is its own. From a daemon that does not say, the newest analysis when the fetch began.
 */
function useSnapshot(
  active: boolean,
  base: string,
  seq: number | null,
  linkUp: boolean,
  lookup: (seq: number) => { a: Analysis; receivedAt: number } | null,
): Snapshot {
  const [state, setState] = useState<{ pic: Picture | null; analysis: Analysis | null; at: number | null; w: number; h: number }>({
    pic: null,
    analysis: null,
    at: null,
    w: 0,
    h: 0,
  });
  const [tick, setTick] = useState(0);
  const inFlight = useRef(false);
  const wanted = useRef(0);
  const urls = useRef<string[]>([]);
  // a picture whose analysis has not arrived yet
  const pending = useRef<Picture | null>(null);
  const live = useRef({ active, base, seq, mounted: true, lookup });
  live.current = { active, base, seq, mounted: true, lookup };

  /** Shows the pending picture once its analysis is in hand. */
  const pair = () => {
    const p = pending.current;
    if (!p) return;
    const found = live.current.lookup(p.seq);
    if (!found) return;
    pending.current = null;
    setState((st) => ({ ...st, pic: p, analysis: found.a, at: found.receivedAt, w: p.w, h: p.h }));
  };

  useEffect(() => {
    if (!active || linkUp) return;
    const id = setInterval(() => setTick((t) => t + 1), SNAPSHOT_POLL_MS);
    return () => clearInterval(id);
  }, [active, linkUp]);

  // A new analysis may be the one a pending picture waits for.
  useEffect(pair, [seq]);

  useEffect(() => {
    if (!active) return;
    wanted.current++;
    if (inFlight.current) return; // the running loop picks the new request up
    inFlight.current = true;
    void (async () => {
      let done = -1;
      try {
        while (live.current.mounted && live.current.active && done !== wanted.current) {
          done = wanted.current;
          const { base: b, seq: newest } = live.current;
          const res = await fetch(`${b}${b.includes('?') ? '&' : '?'}t=${Date.now()}`, { cache: 'no-store' });
          if (!res.ok) continue; // 404 before the first analysis
          const of = snapshotSeq(res.headers) ?? newest;
          const blob = await res.blob();
          if (!live.current.mounted || of === null) break;
          const obj = URL.createObjectURL(blob);
          // Decoded before it is shown: the <img> then swaps pictures within one frame instead of
          // showing nothing (naturalWidth 0) while the new one decodes, and the overlay gets the
          // new picture's size in the same render.
          const pre = new Image();
          pre.src = obj;
          try {
            await pre.decode();
          } catch {
            URL.revokeObjectURL(obj); // not a picture: keep the last one
            continue;
          }
          if (!live.current.mounted) {
            URL.revokeObjectURL(obj);
            break;
          }
          urls.current.push(obj);
          pending.current = { src: obj, seq: of, w: pre.naturalWidth, h: pre.naturalHeight };
          pair();
        }
      } catch {
        /* daemon unreachable: keep the last picture */
      } finally {
        inFlight.current = false;
      }
    })();
  }, [active, base, seq, tick]);

  // Free the blob URLs of pictures older than the one now shown (pending ones are newer).
  const onLoad = (e: React.SyntheticEvent<HTMLImageElement>) => {
    const img = e.currentTarget;
    const at = urls.current.indexOf(img.getAttribute('src') ?? '');
    if (at > 0) {
      for (const u of urls.current.slice(0, at)) URL.revokeObjectURL(u);
      urls.current = urls.current.slice(at);
    }
    const w = img.naturalWidth;
    const h = img.naturalHeight;
    setState((s) => (s.w === w && s.h === h ? s : { ...s, w, h }));
  };

  useEffect(() => {
    live.current.mounted = true;
    return () => {
      live.current.mounted = false;
      for (const u of urls.current) URL.revokeObjectURL(u);
      urls.current = [];
    };
  }, []);

  return { src: state.pic?.src ?? null, seq: state.pic?.seq ?? null, w: state.w, h: state.h, analysis: state.analysis, at: state.at, onLoad };
}
