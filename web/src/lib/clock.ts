// The box may have no real-time clock source in the field, so its Unix times can be far off
// the browser's. The offset is estimated from analyses (wall_time_ms vs. receipt time).

/** Local time minus box time, in ms, from one analysis received at `receivedAt`. */
export function clockOffset(boxWallTimeMs: number, receivedAtMs: number): number {
  return Number.isFinite(boxWallTimeMs) ? receivedAtMs - boxWallTimeMs : 0;
}

/**
 * How long the daemon has been in its current state, in ms, or null when the box's time cannot
 * be trusted (the result would be negative or longer than the daemon's uptime).
 */
export function stateAgeMs(
  stateSinceMs: number | null,
  uptimeS: number | null,
  localNowMs: number,
  offsetMs: number,
): number | null {
  if (stateSinceMs === null || !Number.isFinite(stateSinceMs)) return null;
  const age = localNowMs - offsetMs - stateSinceMs;
  if (age < -2000) return null;
  if (uptimeS !== null && age > uptimeS * 1000 + 120_000) return null;
  return Math.max(0, age);
}
