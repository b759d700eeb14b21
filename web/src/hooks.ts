import { useEffect, useRef, useState, type RefObject } from 'react';
import { WhepPlayer, type WhepStatus } from './lib/whep';

/**
 * A button that acts on its second tap: `tap(act)` arms it the first time and runs `act` the
 * second; `armed` says which (for the label); it disarms by itself after `ms`.
 */
export function useTwoTap(ms = 4000): { armed: boolean; tap: (act: () => void) => void } {
  const [armed, setArmed] = useState(false);
  useEffect(() => {
    if (!armed) return;
    const id = setTimeout(() => setArmed(false), ms);
    return () => clearTimeout(id);
  }, [armed, ms]);
  const tap = (act: () => void) => {
    if (!armed) {
      setArmed(true);
      return;
    }
    setArmed(false);
    act();
  };
  return { armed, tap };
}

/** Date.now(), refreshed every `intervalMs`. */
export function useNow(intervalMs: number): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const id = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(id);
  }, [intervalMs]);
  return now;
}

/** The content-box size of an element, following resizes and rotations. */
export function useElementSize(ref: RefObject<HTMLElement | null>): { w: number; h: number } {
  const [size, setSize] = useState({ w: 0, h: 0 });
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    const update = () => {
      const w = el.clientWidth;
      const h = el.clientHeight;
      setSize((s) => (s.w === w && s.h === h ? s : { w, h }));
    };
    update();
    const ro = typeof ResizeObserver !== 'undefined' ? new ResizeObserver(update) : null;
    ro?.observe(el);
    // Belt and braces for browsers that report rotations late.
    window.addEventListener('resize', update);
    window.addEventListener('orientationchange', update);
    return () => {
      ro?.disconnect();
      window.removeEventListener('resize', update);
      window.removeEventListener('orientationchange', update);
    };
  }, [ref]);
  return size;
}

const IDLE: WhepStatus = { state: 'idle', detail: null, attempt: 0, retryAt: null };

/** Plays a WHEP URL for as long as the component lives; null URL = not yet known. */
export function useWhep(url: string | null): {
  status: WhepStatus;
  stream: MediaStream | null;
  player: RefObject<WhepPlayer | null>;
} {
  const [status, setStatus] = useState<WhepStatus>(IDLE);
  const [stream, setStream] = useState<MediaStream | null>(null);
  const player = useRef<WhepPlayer | null>(null);
  useEffect(() => {
    if (!url) return;
    if (typeof RTCPeerConnection === 'undefined') {
      setStatus({ state: 'failed', detail: 'this browser has no WebRTC', attempt: 0, retryAt: null });
      return;
    }
    const p = new WhepPlayer({ url, onStatus: setStatus, onStream: setStream });
    player.current = p;
    p.start();
    // Leave the MediaMTX session cleanly when the page goes away; resume from the back/forward cache.
    const onHide = () => p.stop();
    const onShow = (e: PageTransitionEvent) => {
      if (e.persisted) p.start();
    };
    window.addEventListener('pagehide', onHide);
    window.addEventListener('pageshow', onShow);
    return () => {
      window.removeEventListener('pagehide', onHide);
      window.removeEventListener('pageshow', onShow);
      p.stop();
      player.current = null;
    };
  }, [url]);
  return { status, stream, player };
}

/**
 * The QR code of the pilot's RTMP URL as a blob URL, while `url` is set (the pilot's panel is
 * open); null when the daemon does not answer 200 with an image (older daemon, no stream key).
 * Fetched again when the RTMP URL changes.
 */
export function useQr(url: string | null, rtmpUrl: string | null): string | null {
  const [src, setSrc] = useState<string | null>(null);
  useEffect(() => {
    if (!url) return;
    const ac = new AbortController();
    let obj: string | null = null;
    fetch(url, { cache: 'no-store', signal: ac.signal })
      .then(async (res) => {
        const type = res.headers.get('Content-Type') ?? '';
        if (!res.ok || !type.startsWith('image/')) return;
        const blob = await res.blob();
        if (ac.signal.aborted) return;
        obj = URL.createObjectURL(blob);
        setSrc(obj);
      })
      .catch(() => undefined);
    return () => {
      ac.abort();
      if (obj) URL.revokeObjectURL(obj);
      setSrc(null);
    };
  }, [url, rtmpUrl]);
  return src;
}

