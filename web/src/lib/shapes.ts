// Polygons drawn over the live picture, in fractions of the frame (0..1): the operator's areas not
// counted (masks) and zones, drawn the same way. The editing state is plain data changed by pure
// functions (the view keeps it in React state); what differs between masks and zones is a
// `ShapeKind` (its word, its limit, how a new one is made).
// Limits mirror docs/api.md: 3 to 64 points each, names unique.

import type { Point } from './api';
import { fractionToBoxPoint, type Rect } from './align';

export const MIN_POINTS = 3;
export const MAX_POINTS = 64;
/** A tap this close (CSS px) to the first vertex closes the polygon: a fingertip. */
export const CLOSE_RADIUS_PX = 22;
/** The longest name the daemon keeps, in characters (docs/api.md: 1 to 64). */
export const MAX_NAME = 64;
/** Labels on the picture longer than this are shortened with an ellipsis (the full name is in
 * the list and the label's tooltip). */
export const LABEL_CHARS = 24;

/** `name` shortened to `max` characters (code points) with "…" when longer. */
export function shortName(name: string, max = LABEL_CHARS): string {
  const chars = Array.from(name);
  return chars.length <= max ? name : `${chars.slice(0, max - 1).join('').trimEnd()}…`;
}

/** A named polygon in fractions of the frame. */
export interface Shape {
  name: string;
  points: Point[];
}

/** What makes masks and zones differ while drawing. */
export interface ShapeKind<S extends Shape> {
  /** for test ids and the like: `mask` | `zone` */
  id: string;
  /** the operator's word for one: "area", "zone" */
  noun: string;
  /** how many the daemon keeps */
  max: number;
  /** a new one, just drawn */
  make: (name: string, points: Point[]) => S;
}

export interface ShapeEditor<S extends Shape> {
  kind: ShapeKind<S>;
  shapes: S[];
  /** the polygon being drawn, null when none */
  drawing: Point[] | null;
  /** the last refusal or hint, for the operator */
  hint: string | null;
  /** changed since loaded or saved */
  dirty: boolean;
}

export function startEditing<S extends Shape>(kind: ShapeKind<S>, shapes: readonly S[]): ShapeEditor<S> {
  return { kind, shapes: shapes.map((s) => ({ ...s, points: s.points.map((p) => [p[0], p[1]] as Point) })), drawing: null, hint: null, dirty: false };
}

/** "area 1", "area 2", … the first not taken. */
export function nextName(noun: string, shapes: readonly Shape[]): string {
  const taken = new Set(shapes.map((m) => m.name.trim()));
  for (let i = 1; ; i++) if (!taken.has(`${noun} ${i}`)) return `${noun} ${i}`;
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
export function tapPoint<S extends Shape>(ed: ShapeEditor<S>, p: Point, rect: Rect, radiusPx = CLOSE_RADIUS_PX): ShapeEditor<S> {
  const q: Point = [clamp01(p[0]), clamp01(p[1])];
  const { noun, max } = ed.kind;
  if (ed.drawing && ed.drawing.length >= MIN_POINTS && nearFirstVertex(ed.drawing, q, rect, radiusPx)) return finishDrawing(ed);
  if (!ed.drawing && ed.shapes.length >= max) return { ...ed, hint: `At most ${max} ${noun}s: delete one first.` };
  const drawing = ed.drawing ?? [];
  if (drawing.length >= MAX_POINTS) return { ...ed, hint: `At most ${MAX_POINTS} corners: tap the first one or Done to close.` };
  const next = [...drawing, q];
  return {
    ...ed,
    drawing: next,
    hint: next.length >= MIN_POINTS ? `Tap the first corner or Done to close the ${noun}.` : null,
  };
}

export function undoPoint<S extends Shape>(ed: ShapeEditor<S>): ShapeEditor<S> {
  if (!ed.drawing) return ed;
  const drawing = ed.drawing.slice(0, -1);
  return { ...ed, drawing: drawing.length ? drawing : null, hint: null };
}

export const cancelDrawing = <S extends Shape>(ed: ShapeEditor<S>): ShapeEditor<S> => ({ ...ed, drawing: null, hint: null });

/** Done: the polygon becomes a shape with a free name (3 points or more). */
export function finishDrawing<S extends Shape>(ed: ShapeEditor<S>): ShapeEditor<S> {
  const d = ed.drawing;
  const { noun } = ed.kind;
  if (!d || d.length < MIN_POINTS) return { ...ed, hint: `A${/^[aeiou]/.test(noun) ? 'n' : ''} ${noun} needs at least ${MIN_POINTS} corners.` };
  const shape = ed.kind.make(nextName(noun, ed.shapes), d);
  return { ...ed, shapes: [...ed.shapes, shape], drawing: null, hint: `Added “${shape.name}”: rename it in the list, then Save.`, dirty: true };
}

/** Changes one shape's fields. A name longer than MAX_NAME characters is cut to it, and the
 * editor's hint says so (a cut is never silent). */
export function updateShape<S extends Shape>(ed: ShapeEditor<S>, index: number, patch: Partial<S>): ShapeEditor<S> {
  let hint = ed.hint;
  const fix = (s: S): S => {
    const name = patch.name ?? s.name;
    const chars = Array.from(name);
    if (chars.length <= MAX_NAME) return { ...s, ...patch, name };
    const cut = chars.slice(0, MAX_NAME).join('');
    hint = `Names are at most ${MAX_NAME} characters: cut to “${cut}”.`;
    return { ...s, ...patch, name: cut };
  };
  return { ...ed, shapes: ed.shapes.map((s, i) => (i === index ? fix(s) : s)), hint, dirty: true };
}

export function removeShape<S extends Shape>(ed: ShapeEditor<S>, index: number): ShapeEditor<S> {
  return { ...ed, shapes: ed.shapes.filter((_, i) => i !== index), hint: null, dirty: true };
}

const capital = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/** What the daemon would refuse, in words, one line per problem; [] when the shapes can be saved. */
export function shapeProblems<S extends Shape>(kind: ShapeKind<S>, shapes: readonly S[]): string[] {
  const out: string[] = [];
  if (shapes.length > kind.max) out.push(`${shapes.length} ${kind.noun}s: at most ${kind.max}.`);
  const seen = new Map<string, number>();
  shapes.forEach((m, i) => {
    const name = m.name.trim();
    const label = name ? `“${name}”` : `${capital(kind.noun)} ${i + 1}`;
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

/** For a PUT body: fractions rounded to 5 decimals (0.02 px on a 4K frame). */
export function roundPoints(points: readonly Point[]): Point[] {
  const r = (v: number) => Math.round(clamp01(v) * 1e5) / 1e5;
  return points.map((p) => [r(p[0]), r(p[1])] as Point);
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
