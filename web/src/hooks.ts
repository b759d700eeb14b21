import { useEffect, useRef, useState, type RefObject } from 'react';
import { WhepPlayer, type WhepStatus } from './lib/whep';

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
