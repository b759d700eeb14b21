// The Socket.IO link to skycountd (same origin as the dashboard). socket.io-client reconnects
// on its own with backoff; this module turns its events into one link state.

import { io, type Socket } from 'socket.io-client';
import { parseAlert, parseAnalysis, parseStatus, type Alert, type Analysis, type Status } from './api';

export type LinkState = 'connecting' | 'connected' | 'reconnecting' | 'disconnected';

export interface LinkInfo {
  state: LinkState;
  /** the last connection error or disconnect reason */
  detail: string | null;
  /** reconnection attempts since the link was last up */
  attempt: number;
}

export interface LinkHandlers {
  onLink: (info: LinkInfo) => void;
  onAnalysis: (a: Analysis) => void;
  onStatus: (s: Status) => void;
  /** a zone's alert raised, cleared or acknowledged */
  onAlert: (a: Alert) => void;
}

/** Opens the link; returns a function that closes it. `stream`: watch that drone's analyses
 * (docs/api.md: the handshake's `stream`), else the configured drone's. */
export function openLink(h: LinkHandlers, url?: string, stream?: string | null): () => void {
  const opts = {
    ...(stream ? { query: { stream } } : {}),
    path: '/socket.io',
    reconnection: true,
    reconnectionAttempts: Infinity,
    reconnectionDelay: 500,
    reconnectionDelayMax: 5000,
    randomizationFactor: 0.3,
    timeout: 5000,
  };
  const socket: Socket = url ? io(url, opts) : io(opts);
  let attempt = 0;
  let detail: string | null = null;
  const emit = (state: LinkState) => h.onLink({ state, detail, attempt });

  emit('connecting');
  socket.on('connect', () => {
    attempt = 0;
    detail = null;
    emit('connected');
  });
  socket.on('disconnect', (reason) => {
    detail = reason;
    if (reason === 'io client disconnect') {
      emit('disconnected');
      return;
    }
    // The server closed the namespace: socket.io does not retry that on its own.
    if (reason === 'io server disconnect') socket.connect();
    emit('reconnecting');
  });
  socket.on('connect_error', (err) => {
    detail = err?.message ?? 'connection error';
    emit(socket.active ? 'reconnecting' : 'disconnected');
  });
  socket.io.on('reconnect_attempt', (n) => {
    attempt = n;
    emit('reconnecting');
  });
  socket.on('analysis', (raw: unknown) => {
    const a = parseAnalysis(raw);
    if (a) h.onAnalysis(a);
  });
  socket.on('status', (raw: unknown) => {
    const s = parseStatus(raw);
    if (s) h.onStatus(s);
  });
  socket.on('alert', (raw: unknown) => {
    const a = parseAlert(raw);
    if (a) h.onAlert(a);
  });

  return () => {
    socket.removeAllListeners();
    socket.io.removeAllListeners();
    socket.disconnect();
  };
}
