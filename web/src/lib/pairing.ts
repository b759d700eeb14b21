// Pairing an overlay with its own frame. The heatmap, the densest spot and the zones' counts are
// computed from one analysed frame; drawn over another they lie (heat on empty pavement, a zone's
// count over people who were not there). When the dashboard shows the last analysed frame
// (`/api/snapshot.jpg`, which says in `X-Skycount-Seq` which analysis it is of), the overlay is
// that analysis's and no other: the picture and its analysis are shown together, or neither.

import type { Analysis } from './api';

/** The analyses received lately, by seq (a picture may arrive before its analysis, or after). */
export class RecentAnalyses {
  private bySeq = new Map<number, { a: Analysis; receivedAt: number }>();

  constructor(private readonly keep = 64) {}

  /** An analysis that arrived at `receivedAt` (this browser's clock). */
  add(a: Analysis, receivedAt: number): void {
    this.bySeq.delete(a.seq);
    this.bySeq.set(a.seq, { a, receivedAt });
    while (this.bySeq.size > this.keep) {
      const oldest = this.bySeq.keys().next().value as number;
      this.bySeq.delete(oldest);
    }
  }

  get(seq: number): { a: Analysis; receivedAt: number } | null {
    return this.bySeq.get(seq) ?? null;
  }

  /** A new daemon numbers its analyses from 1 again. */
  clear(): void {
    this.bySeq.clear();
  }
}

/** The seq a snapshot's answer says its frame is of; null from a daemon that does not say. */
export function snapshotSeq(headers: Headers): number | null {
  const v = headers.get('X-Skycount-Seq');
  if (v === null || !/^\d{1,15}$/.test(v.trim())) return null;
  return Number(v.trim());
}

/**
 * How old the overlay is against the live video, in ms: the analysed frame was `staleness_ms` old
 * when its result was ready and arrived `now - receivedAt` ago, while the video shows about now.
 */
export function overlayLagMs(a: Pick<Analysis, 'staleness_ms'>, receivedAt: number, now: number): number {
  return Math.max(0, now - receivedAt) + (Number.isFinite(a.staleness_ms) ? a.staleness_ms : 0);
}
