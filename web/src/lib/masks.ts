// Areas not counted: polygons drawn over the live picture, in fractions of the frame (0..1).
// The editing state is plain data changed by pure functions (the view keeps it in React state).
// Limits mirror docs/api.md: 3 to 64 points each, at most 32 masks, names unique.

import type { Mask, Point } from './api';
import { fractionToBoxPoint, type Rect } from './align';

export const MIN_POINTS = 3;
export const MAX_POINTS = 64;
export const MAX_MASKS = 32;
/** A tap this close (CSS px) to the first vertex closes the polygon: a fingertip. */
export const CLOSE_RADIUS_PX = 22;
/** Name length kept (a label on the picture, not prose). */
export const MAX_NAME = 40;

export interface MaskEditor {
  masks: Mask[];
  /** the polygon being drawn, null when none */
  drawing: Point[] | null;
  /** the last refusal or hint, for the operator */
  hint: string | null;
  /** changed since loaded or saved */
  dirty: boolean;
}

export function startEditing(masks: readonly Mask[]): MaskEditor {
  return { masks: masks.map((m) => ({ name: m.name, points: m.points.map((p) => [p[0], p[1]] as Point) })), drawing: null, hint: null, dirty: false };
}

/** "area 1", "area 2", … the first not taken. */
export function nextName(masks: readonly Mask[]): string {
  const taken = new Set(masks.map((m) => m.name.trim()));
  for (let i = 1; ; i++) if (!taken.has(`area ${i}`)) return `area ${i}`;
}

/** Is `p` (fractions) within `radiusPx` CSS pixels of the polygon's first vertex, on this picture? */
export function nearFirstVertex(drawing: readonly Point[] | null, p: Point, rect: Rect, radiusPx = CLOSE_RADIUS_PX): boolean {
  if (!drawing || drawing.length === 0) return false;
  const a = fractionToBoxPoint(drawing[0][0], drawing[0][1], rect);
  const b = fractionToBoxPoint(p[0], p[1], rect);
  return Math.hypot(a.x - b.x, a.y - b.y) <= radiusPx;
}

const clamp01 = (v: number) => Math.min(1, Math.max(0, v));

/**
 * A tap on the picture at `p` (fractions): closes the polygon when it is on the first vertex
 * (3 points or more), else adds a vertex (starting a polygon when none is being drawn).
 */
export function tapPoint(ed: MaskEditor, p: Point, rect: Rect, radiusPx = CLOSE_RADIUS_PX): MaskEditor {
  const q: Point = [clamp01(p[0]), clamp01(p[1])];
  if (ed.drawing && ed.drawing.length >= MIN_POINTS && nearFirstVertex(ed.drawing, q, rect, radiusPx)) return finishDrawing(ed);
  if (!ed.drawing && ed.masks.length >= MAX_MASKS) return { ...ed, hint: `At most ${MAX_MASKS} areas: delete one first.` };
  const drawing = ed.drawing ?? [];
  if (drawing.length >= MAX_POINTS) return { ...ed, hint: `At most ${MAX_POINTS} corners: tap the first one or Done to close.` };
  const next = [...drawing, q];
  return {
    ...ed,
    drawing: next,
    hint: next.length >= MIN_POINTS ? 'Tap the first corner or Done to close the area.' : null,
  };
}

export function undoPoint(ed: MaskEditor): MaskEditor {
  if (!ed.drawing) return ed;
  const drawing = ed.drawing.slice(0, -1);
  return { ...ed, drawing: drawing.length ? drawing : null, hint: null };
}

export const cancelDrawing = (ed: MaskEditor): MaskEditor => ({ ...ed, drawing: null, hint: null });

/** Done: the polygon becomes a mask with a free name (3 points or more). */
export function finishDrawing(ed: MaskEditor): MaskEditor {
  const d = ed.drawing;
  if (!d || d.length < MIN_POINTS) return { ...ed, hint: `An area needs at least ${MIN_POINTS} corners.` };
  const mask: Mask = { name: nextName(ed.masks), points: d };
  return { ...ed, masks: [...ed.masks, mask], drawing: null, hint: `Added “${mask.name}”: rename it in the list, then Save.`, dirty: true };
}

export function renameMask(ed: MaskEditor, index: number, name: string): MaskEditor {
  return { ...ed, masks: ed.masks.map((m, i) => (i === index ? { ...m, name: name.slice(0, MAX_NAME) } : m)), dirty: true };
}

export function removeMask(ed: MaskEditor, index: number): MaskEditor {
  return { ...ed, masks: ed.masks.filter((_, i) => i !== index), hint: null, dirty: true };
}

/** What the daemon would refuse, in words, one line per problem; [] when the masks can be saved. */
export function maskProblems(masks: readonly Mask[]): string[] {
  const out: string[] = [];
  if (masks.length > MAX_MASKS) out.push(`${masks.length} areas: at most ${MAX_MASKS}.`);
  const seen = new Map<string, number>();
  masks.forEach((m, i) => {
    const name = m.name.trim();
    const label = name ? `“${name}”` : `Area ${i + 1}`;
    if (!name) out.push(`${label} has no name.`);
    else if (seen.has(name)) out.push(`${label} is used twice: names must be unique.`);
    else seen.set(name, i);
    if (m.points.length < MIN_POINTS || m.points.length > MAX_POINTS)
      out.push(`${label} has ${m.points.length} corners: ${MIN_POINTS} to ${MAX_POINTS}.`);
    if (!m.points.every((p) => p.length === 2 && p.every((v) => Number.isFinite(v) && v >= 0 && v <= 1)))
      out.push(`${label} goes outside the picture.`);
  });
  return out;
}

/** The PUT body: names trimmed, fractions rounded to 5 decimals (0.02 px on a 4K frame). */
export function masksBody(masks: readonly Mask[]): { masks: Mask[] } {
  const r = (v: number) => Math.round(clamp01(v) * 1e5) / 1e5;
  return { masks: masks.map((m) => ({ name: m.name.trim(), points: m.points.map((p) => [r(p[0]), r(p[1])] as Point) })) };
}

/** Polygon points (fractions) as an SVG `points` attribute in the box's CSS pixels. */
export function svgPoints(points: readonly Point[], rect: Rect): string {
  return points
    .map((p) => {
      const q = fractionToBoxPoint(p[0], p[1], rect);
      return `${q.x.toFixed(1)},${q.y.toFixed(1)}`;
    })
    .join(' ');
}

/** Where a polygon's label goes: the mean of its vertices (fractions). */
export function labelPoint(points: readonly Point[]): Point {
  let x = 0;
  let y = 0;
  for (const p of points) {
    x += p[0];
    y += p[1];
  }
  return points.length ? [x / points.length, y / points.length] : [0.5, 0.5];
}

export const sameMasks = (a: readonly Mask[], b: readonly Mask[]): boolean => JSON.stringify(masksBody(a)) === JSON.stringify(masksBody(b));

