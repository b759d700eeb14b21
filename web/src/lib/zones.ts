// Zones (areas counted on their own, with an optional limit in people) and their alerts.
// Zones are drawn with the shared editor of ./shapes; what is theirs is the limit. Alerts arrive
// in `status.alerts` (the open ones) and one by one as `alert` events: `mergeAlert` keeps one list
// of open alerts from both, the way the daemon does (docs/api.md).

import type { Alert, Zone, ZoneCount } from './api';
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

/** One line for the banner. */
export function alertText(a: Alert): string {
  const held = Number.isFinite(a.count) ? `${Math.round(a.count)} people` : 'over its limit';
  const state = a.cleared_ms !== null ? 'back under its limit' : `${held}, limit ${a.limit}`;
  const ack = a.acknowledged_ms !== null ? ' (acknowledged)' : '';
  return `Zone “${a.zone}”: ${state}${ack}`;
}

/** A zone's count for the video and the count panel: "12 / 40" with a limit, "12" without. */
export function zoneCountText(z: ZoneCount): string {
  const n = Math.round(z.count).toString();
  return z.limit !== null ? `${n} / ${z.limit}` : n;
}
