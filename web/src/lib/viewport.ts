// Zoom and pan of a picture shown at its full resolution inside a view (the calibration's frozen
// frame). The picture is drawn with `transform: translate(tx, ty) scale(scale)` and
// `transform-origin: 0 0`, so a frame pixel (fx, fy) lands at view CSS pixel
//   (fx * scale + tx, fy * scale + ty)
// and everything here is that affine map, its inverse, and gestures that keep the point under the
// cursor or the fingers where it is.

export interface View {
  /** CSS pixels per frame pixel */
  scale: number;
  /** view CSS pixels of the frame's top-left corner */
  tx: number;
  ty: number;
}

export interface Size {
  w: number;
  h: number;
}

export interface Pt {
  x: number;
  y: number;
}

/** How far in one may zoom: this many CSS pixels per frame pixel, at least. */
export const MAX_PX_PER_FRAME_PX = 6;

/** View CSS pixels → frame pixels (floats: no rounding here). */
export function viewToFrame(v: View, p: Pt): Pt {
  return { x: (p.x - v.tx) / v.scale, y: (p.y - v.ty) / v.scale };
}

/** Frame pixels → view CSS pixels. */
export function frameToView(v: View, p: Pt): Pt {
  return { x: p.x * v.scale + v.tx, y: p.y * v.scale + v.ty };
}

/** The scale at which the whole frame fits the view. */
export function fitScale(frame: Size, view: Size): number {
  if (!(frame.w > 0) || !(frame.h > 0) || !(view.w > 0) || !(view.h > 0)) return 1;
  return Math.min(view.w / frame.w, view.h / frame.h);
}

/** Zoom limits: from the whole frame in view to MAX_PX_PER_FRAME_PX (or the fit, if larger). */
export function scaleLimits(frame: Size, view: Size): { min: number; max: number } {
  const fit = fitScale(frame, view);
  return { min: fit, max: Math.max(fit, MAX_PX_PER_FRAME_PX) };
}

/** The whole frame, centred. */
export function fitView(frame: Size, view: Size): View {
  const scale = fitScale(frame, view);
  return { scale, tx: (view.w - frame.w * scale) / 2, ty: (view.h - frame.h * scale) / 2 };
}

/**
 * Keeps the scale within its limits and the frame on screen: along an axis where the scaled frame
 * is smaller than the view it is centred, otherwise it covers the view (no empty margin).
 */
export function clampView(v: View, frame: Size, view: Size): View {
  const { min, max } = scaleLimits(frame, view);
  const scale = Math.min(max, Math.max(min, v.scale));
  const axis = (t: number, f: number, w: number) => {
    const c = f * scale;
    if (c <= w) return (w - c) / 2;
    return Math.min(0, Math.max(w - c, t));
  };
  return { scale, tx: axis(v.tx, frame.w, view.w), ty: axis(v.ty, frame.h, view.h) };
}

/**
 * The view that shows the frame rectangle `r` (frame pixels) whole and centred, with `margin` of
 * its size around it (step 2 of calibrating: the box to tap in, nowhere under the toolbar). Clamp
 * it with `clampView` for the frame's limits.
 */
export function fitRect(r: { x: number; y: number; w: number; h: number }, view: Size, margin = 0.08): View {
  const w = r.w * (1 + 2 * margin);
  const h = r.h * (1 + 2 * margin);
  const scale = w > 0 && h > 0 && view.w > 0 && view.h > 0 ? Math.min(view.w / w, view.h / h, MAX_PX_PER_FRAME_PX) : 1;
  const cx = r.x + r.w / 2;
  const cy = r.y + r.h / 2;
  return { scale, tx: view.w / 2 - cx * scale, ty: view.h / 2 - cy * scale };
}

/** Multiplies the scale by `factor`, keeping the frame point under `anchor` (view px) under it. */
export function zoomAt(v: View, factor: number, anchor: Pt): View {
  const f = viewToFrame(v, anchor);
  const scale = v.scale * factor;
  return { scale, tx: anchor.x - f.x * scale, ty: anchor.y - f.y * scale };
}

/** Moves the picture by (dx, dy) view pixels. */
export function panBy(v: View, dx: number, dy: number): View {
  return { scale: v.scale, tx: v.tx + dx, ty: v.ty + dy };
}

/**
 * Two fingers: from the view when they touched down at a0, b0 to where they are now (a1, b1).
 * The scale follows the distance between them; the frame point that was under their midpoint
 * stays under their midpoint (so moving both fingers pans).
 */
export function pinchView(start: View, a0: Pt, b0: Pt, a1: Pt, b1: Pt): View {
  const d0 = Math.hypot(b0.x - a0.x, b0.y - a0.y);
  const d1 = Math.hypot(b1.x - a1.x, b1.y - a1.y);
  const factor = d0 > 0 && d1 > 0 ? d1 / d0 : 1;
  const m0 = { x: (a0.x + b0.x) / 2, y: (a0.y + b0.y) / 2 };
  const m1 = { x: (a1.x + b1.x) / 2, y: (a1.y + b1.y) / 2 };
  const f = viewToFrame(start, m0);
  const scale = start.scale * factor;
  return { scale, tx: m1.x - f.x * scale, ty: m1.y - f.y * scale };
}

/** The zoom factor of one wheel event (deltaMode 0 = pixels, 1 = lines, 2 = pages). */
export function wheelFactor(deltaY: number, deltaMode = 0): number {
  const px = deltaMode === 1 ? deltaY * 16 : deltaMode === 2 ? deltaY * 400 : deltaY;
  return Math.exp(-Math.max(-300, Math.min(300, px)) * 0.0015);
}
