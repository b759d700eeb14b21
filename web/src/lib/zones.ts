// Zones (areas counted on their own, with an optional limit in people) and their alerts.
// Zones are drawn with the shared editor of ./shapes; what is theirs is the limit. Alerts arrive
// in `status.alerts` (the open ones) and one by one as `alert` events: `mergeAlert` keeps one list
// of open alerts from both, the way the daemon does (docs/api.md).

import type { Alert, Zone, ZoneCount } from './api';
import { fmtClock } from './format';
import { roundPoints, shapeProblems, type ShapeEditor, type ShapeKind } from './shapes';

export const MAX_ZONES = 16;
export const MAX_LIMIT = 1_000_000;

export const ZONES: ShapeKind<Zone> = { id: 'zone', noun: 'zone', max: MAX_ZONES, make: (name, points) => ({ name, points, limit: null }) };

export type ZoneEditor = ShapeEditor<Zone>;

/**
 * The limit field as typed: '' is no limit (null), a whole number 1 to MAX_LIMIT is a limit,
 * anything else is `undefined` (not a limit: say so).
 */
export function parseLimit(text: string): number | null | undefined {
  const t = text.trim();
  if (t === '') return null;
  if (!/^\d+$/.test(t)) return undefined;
  const n = Number(t);
  return n >= 1 && n <= MAX_LIMIT ? n : undefined;
}

/** What the daemon would refuse, in words; [] when the zones can be saved. */
export function zoneProblems(zones: readonly Zone[]): string[] {
  const out = shapeProblems(ZONES, zones);
  zones.forEach((z, i) => {
    if (z.limit !== null && !(Number.isInteger(z.limit) && z.limit >= 1 && z.limit <= MAX_LIMIT))
      out.push(`“${z.name.trim() || `Zone ${i + 1}`}” has a limit ${Number.isFinite(z.limit) ? `of ${z.limit}` : 'that is not a number'}: use 1 to ${MAX_LIMIT} people, or none.`);
  });
  return out;
}

/** The PUT body: names trimmed, fractions rounded. */
export function zonesBody(zones: readonly Zone[]): { zones: Zone[] } {
  return { zones: zones.map((z) => ({ name: z.name.trim(), points: roundPoints(z.points), limit: z.limit })) };
}

export const sameZones = (a: readonly Zone[], b: readonly Zone[]): boolean => JSON.stringify(zonesBody(a)) === JSON.stringify(zonesBody(b));

/** Closed: both cleared and acknowledged (the daemon stops listing it). */
export const isClosed = (a: Alert): boolean => a.cleared_ms !== null && a.acknowledged_ms !== null;

/** The open alerts with one alert's news applied (oldest first; a closed one leaves). */
export function mergeAlert(open: readonly Alert[], alert: Alert): Alert[] {
  const rest = open.filter((a) => a.id !== alert.id);
  if (isClosed(alert)) return rest;
  const i = open.findIndex((a) => a.id === alert.id);
  if (i < 0) return [...rest, alert];
  return open.map((a) => (a.id === alert.id ? alert : a));
}

/** Alerts raised that this page has not yet sounded for (by id). */
export function unsounded(open: readonly Alert[], sounded: ReadonlySet<number>): Alert[] {
  return open.filter((a) => a.cleared_ms === null && a.acknowledged_ms === null && !sounded.has(a.id));
}

/** What is known of a zone's count now, for the banner beside its alert. */
export interface ZoneNow {
  /** the zone's count in the newest analysis (null: the zone is not in it) */
  count: number | null;
  /** the camera moves: zones are paused */
  paused: boolean;
  /** the box is not reachable: the count is the last known one */
  lastKnown: boolean;
}

/** What the banner says of one alert: when it was raised and at what count, and the zone's count
 * now (the count at the raise is history: the crowd has moved since). */
export function alertText(a: Alert, now: ZoneNow | null = null): string {
  const limit = `its limit of ${a.limit}`;
  const raisedAt = fmtClock(a.raised_ms);
  const atRaise = Number.isFinite(a.count) ? ` (${Math.round(a.count)} when raised)` : '';
  const state =
    a.cleared_ms !== null
      ? `back under ${limit} at ${fmtClock(a.cleared_ms)} (over it from ${raisedAt})`
      : `over ${limit} since ${raisedAt}${atRaise}`;
  let live = '';
  if (now?.paused) live = ' · now: paused, camera moving';
  else if (now && now.count !== null) live = ` · ${now.lastKnown ? 'last known' : 'now'} ${Math.round(now.count)}`;
  const ack = a.acknowledged_ms !== null ? ' (acknowledged)' : '';
  return `Zone “${a.zone}”: ${state}${live}${ack}`;
}

/** A zone's count for the video and the count panel: "12 / 40" with a limit, "12" without. */
export function zoneCountText(z: ZoneCount): string {
  const n = Math.round(z.count).toString();
  return z.limit !== null ? `${n} / ${z.limit}` : n;
}
