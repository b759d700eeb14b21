// Several drones (docs/api.md, `status.streams`): every drone's stream the box analyses or
// refused, the configured one first, as the strip above the video shows them. Data only: the
// view is components/DroneStrip.tsx.

import type { Calibration, Mask, Zone } from './api';
import { fmtHonest } from './format';
import { arr, isObj, num, str } from './json';

export interface StreamSummary {
  /** the stream's name: its path's key (`live_north`) */
  stream: string;
  /** MediaMTX's path (`live/north`), null for a source not on MediaMTX */
  path: string | null;
  /** the stream the rest of the dashboard shows */
  configured: boolean;
  /** waiting | live | stalled | reconnecting | ended | refused */
  state: string;
  reason: string | null;
  count: number | null;
  smoothed: number | null;
  band: [number, number] | null;
  analysed_ms: number | null;
  analyses: number;
  demo: boolean;
  /** the name the operator gave it; null: none */
  name: string | null;
  /** the operator's calibration, masks and zones for this drone (kept under its path) */
  calibration: Calibration | null;
  masks: Mask[];
  zones: Zone[];
}

/** How a drone's setup is read: api.ts's own parsers, handed in (api.ts imports this module). */
export interface SetupParsers {
  calibration: (v: unknown) => Calibration | null;
  masks: (v: unknown) => Mask[];
  zones: (v: unknown) => Zone[];
}

export function parseStreams(v: unknown, setup: SetupParsers): StreamSummary[] {
  const out: StreamSummary[] = [];
  for (const s of arr(v)) {
    if (!isObj(s)) continue;
    const stream = str(s.stream);
    const state = str(s.state);
    if (stream === null || state === null) continue;
    const b = arr(s.band).map(num);
    out.push({
      stream,
      path: str(s.path),
      configured: s.configured === true,
      state,
      reason: str(s.reason),
      count: num(s.count),
      smoothed: num(s.smoothed),
      band: b.length === 2 && b[0] !== null && b[1] !== null ? [b[0], b[1]] : null,
      analysed_ms: num(s.analysed_ms),
      analyses: num(s.analyses) ?? 0,
      demo: s.demo === true,
      name: str(s.name),
      calibration: setup.calibration(s.calibration),
      masks: setup.masks(s.masks),
      zones: setup.zones(s.zones),
    });
  }
  return out;
}

/** One drone in the strip. */
export interface StripItem {
  key: string;
  /** the path's last part (`north`), else the stream's name */
  name: string;
  configured: boolean;
  state: string;
  /** "≈ 210", or what the state says instead of a count */
  value: string;
  /** "190–230", null without one */
  band: string | null;
  /** why, in words (refused, an error) */
  note: string | null;
}

export interface Strip {
  items: StripItem[];
  /** the sum of the live drones' counts, with its warning; null with fewer than two live */
  sum: { value: string; band: string | null; warning: string } | null;
}

const WORDS: Record<string, string> = {
  waiting: 'waiting',
  stalled: 'no picture',
  reconnecting: 'reconnecting',
  ended: 'ended',
  refused: 'not counted',
};

/** A drone's name: the one the operator gave it, else its path's last part. */
export function droneName(s: Pick<StreamSummary, 'path' | 'stream'> & { name?: string | null }): string {
  if (s.name) return s.name;
  const last = s.path?.split('/').filter((p) => p !== '').pop();
  return last ?? s.stream;
}

/** The strip for `streams`; null with one stream or none (the dashboard looks as it always did). */
export function stripOf(streams: readonly StreamSummary[]): Strip | null {
  if (streams.length < 2) return null;
  const items = streams.map((s): StripItem => {
    const live = s.state === 'live' && s.smoothed !== null;
    const honest = fmtHonest(s.smoothed, s.band);
    return {
      key: s.stream,
      name: droneName(s),
      configured: s.configured,
      state: s.state,
      value: live ? honest.value : (WORDS[s.state] ?? s.state),
      band: live ? honest.band : null,
      note: s.reason,
    };
  });
  const live = streams.filter((s) => s.state === 'live' && s.smoothed !== null && !s.demo);
  let sum: Strip['sum'] = null;
  if (live.length >= 2) {
    const total = live.reduce((t, s) => t + (s.smoothed ?? 0), 0);
    const banded = live.every((s) => s.band !== null);
    const band: [number, number] | null = banded
      ? [live.reduce((t, s) => t + (s.band?.[0] ?? 0), 0), live.reduce((t, s) => t + (s.band?.[1] ?? 0), 0)]
      : null;
    const h = fmtHonest(total, band);
    sum = {
      value: h.value,
      band: h.band,
      warning: `Sum of ${live.length} drones: their views may overlap (the box cannot tell), so people seen by two are counted twice.`,
    };
  }
  return { items, sum };
}

/** The drone `watching` names, when it is another analysed drone than the configured one; null
 * otherwise (none chosen, or it left the list or was refused: the configured one is shown). */
export function watchedOther(streams: readonly StreamSummary[], watching: string | null): StreamSummary | null {
  if (watching === null) return null;
  return streams.find((s) => s.stream === watching && !s.configured && s.state !== 'refused') ?? null;
}

/** The last analysed frame of `stream` (the configured drone's for null). */
export function snapshotUrl(base: string, stream: string | null): string {
  if (stream === null) return base;
  return `${base}${base.includes('?') ? '&' : '?'}stream=${encodeURIComponent(stream)}`;
}
