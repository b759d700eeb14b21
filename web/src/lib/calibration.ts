// The calibration's editing state: a box over part of the crowd on the frozen frame, then one tap
// per person inside it. All coordinates are the frozen frame's pixels (floats while editing, whole
// pixels on the wire). Limits mirror docs/api.md: 5 to 1000 taps, all inside the box.

import type { Point } from './api';
import type { Pt, Size } from './viewport';

export const MIN_TAPS = 5;
export const MAX_TAPS = 1000;
/** What to ask of the operator: enough people for a useful factor, few enough to tap carefully. */
export const GUIDANCE = 'tap 10–40 people';
/** Smallest box side, in frame pixels (a smaller drag is taken for a slip). */
export const MIN_BOX_PX = 8;

/** x, y, width, height in frame pixels. */
export interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface CalibState {
  frame: Size;
  box: Box | null;
  taps: Pt[];
}

export type TapRefusal = 'no-box' | 'outside' | 'full';

export const REFUSAL_TEXT: Record<TapRefusal, string> = {
  'no-box': 'Draw the box first.',
  outside: 'That tap is outside the box: tap only the people inside it (zoom in to be precise).',
  full: `That is ${MAX_TAPS} people already, the most one calibration takes: submit.`,
};

export function newCalibration(frame: Size): CalibState {
  return { frame, box: null, taps: [] };
}

/** The box spanned by two corners (any order), cut to the frame; null when it is a slip. */
export function boxFromCorners(a: Pt, b: Pt, frame: Size): Box | null {
  const x0 = Math.max(0, Math.min(a.x, b.x));
  const y0 = Math.max(0, Math.min(a.y, b.y));
  const x1 = Math.min(frame.w, Math.max(a.x, b.x));
  const y1 = Math.min(frame.h, Math.max(a.y, b.y));
  if (!(x1 - x0 >= MIN_BOX_PX) || !(y1 - y0 >= MIN_BOX_PX)) return null;
  return { x: x0, y: y0, w: x1 - x0, h: y1 - y0 };
}

/** Inside the box, edges included. */
export function insideBox(box: Box, p: Pt): boolean {
  return p.x >= box.x && p.x <= box.x + box.w && p.y >= box.y && p.y <= box.y + box.h;
}

/** A new box; taps that are not inside it are dropped. */
export function setBox(s: CalibState, box: Box | null): CalibState {
  return { ...s, box, taps: box ? s.taps.filter((t) => insideBox(box, t)) : [] };
}

/** The whole frame as the box: every person in it is tapped (a fully annotated frame, the best
 * training data for models/finetune.py). */
export function wholeFrame(s: CalibState): CalibState {
  return setBox(s, { x: 0, y: 0, w: s.frame.w, h: s.frame.h });
}

/** One more person, or why not. */
export function addTap(s: CalibState, p: Pt): { state: CalibState; refused: TapRefusal | null } {
  if (!s.box) return { state: s, refused: 'no-box' };
  if (!insideBox(s.box, p)) return { state: s, refused: 'outside' };
  if (s.taps.length >= MAX_TAPS) return { state: s, refused: 'full' };
  return { state: { ...s, taps: [...s.taps, { x: p.x, y: p.y }] }, refused: null };
}

export const undoTap = (s: CalibState): CalibState => ({ ...s, taps: s.taps.slice(0, -1) });
export const clearTaps = (s: CalibState): CalibState => ({ ...s, taps: [] });

/** What stops the calibration from being sent, in words; null when it can go. */
export function calibrationProblem(s: CalibState): string | null {
  if (!s.box) return 'Drag a box over part of the crowd.';
  if (s.taps.length < MIN_TAPS) return `Tap at least ${MIN_TAPS} people (${s.taps.length} so far).`;
  if (s.taps.length > MAX_TAPS) return `At most ${MAX_TAPS} people.`;
  if (!s.taps.every((t) => insideBox(s.box!, t))) return 'Every tap must be inside the box.';
  return null;
}

export interface CalibrationBody {
  frame_id: string | number;
  box: [number, number, number, number];
  taps: Point[];
}

/**
 * The POST body in the frozen frame's whole pixels: the box grows outwards to whole pixels (and
 * stays inside the frame); each tap becomes the pixel it falls in, kept inside the box. Whole
 * pixels are valid whether the daemon reads them as integers or as floats.
 */
export function calibrationBody(frameId: string | number, s: CalibState): CalibrationBody {
  const problem = calibrationProblem(s);
  if (problem) throw new Error(problem);
  const b = s.box!;
  const W = Math.max(1, Math.round(s.frame.w));
  const H = Math.max(1, Math.round(s.frame.h));
  const x0 = Math.min(W - 1, Math.max(0, Math.floor(b.x)));
  const y0 = Math.min(H - 1, Math.max(0, Math.floor(b.y)));
  const x1 = Math.max(x0 + 1, Math.min(W, Math.ceil(b.x + b.w)));
  const y1 = Math.max(y0 + 1, Math.min(H, Math.ceil(b.y + b.h)));
  const px = (v: number, lo: number, hi: number) => Math.min(hi - 1, Math.max(lo, Math.floor(v)));
  return {
    frame_id: frameId,
    box: [x0, y0, x1 - x0, y1 - y0],
    taps: s.taps.map((t) => [px(t.x, x0, x1), px(t.y, y0, y1)]),
  };
}
