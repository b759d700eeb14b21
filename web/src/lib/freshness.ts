// Is what the page shows live? The dashboard's figures come from the box over one Socket.IO link;
// when the link is down (the box restarts, is switched off, or this device left its network) every
// figure is only what was last known, and the page must say so rather than show it as live.

import { fmtClock } from './format';
import type { LinkState } from './link';

export interface Freshness {
  /** the box is not reachable now: every live figure is the last known one */
  lost: boolean;
  /** when the newest figure arrived (this browser's clock), null before any */
  lastKnownAt: number | null;
}

/** The link's state and when the newest analysis or status arrived. */
export function freshness(link: LinkState, lastReceivedAt: number | null): Freshness {
  return { lost: link !== 'connected', lastKnownAt: lastReceivedAt };
}

/** "last known at 22:02:54", or "nothing received yet". */
export function lastKnownText(f: Freshness): string {
  return f.lastKnownAt === null ? 'nothing received yet' : `last known at ${fmtClock(f.lastKnownAt)}`;
}
