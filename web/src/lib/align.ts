// Where a picture shown with `object-fit: contain` actually lands inside its box, so the
// heatmap canvas can be laid exactly over the picture (not over the black bars).

export interface Rect {
  x: number;
  y: number;
  w: number;
  h: number;
}

/**
 * The displayed picture's rectangle, in the box's CSS pixels, for a `videoW`×`videoH` picture
 * drawn with `object-fit: contain` (centred, `object-position: 50% 50%`) into a `boxW`×`boxH` box.
 * A picture of unknown size (0×0: no frame yet) fills the box.
 */
export function contentRect(videoW: number, videoH: number, boxW: number, boxH: number): Rect {
  if (!(boxW > 0) || !(boxH > 0)) return { x: 0, y: 0, w: 0, h: 0 };
  if (!(videoW > 0) || !(videoH > 0)) return { x: 0, y: 0, w: boxW, h: boxH };
  const scale = Math.min(boxW / videoW, boxH / videoH);
  const w = videoW * scale;
  const h = videoH * scale;
  return { x: (boxW - w) / 2, y: (boxH - h) / 2, w, h };
}

/**
 * The backing-store size of a canvas covering `rect` at `dpr` device pixels per CSS pixel,
 * limited to `maxPixels` in total (the heatmap is an upscaled 80×45 grid, so more pixels only
 * cost time). Never below 1×1.
 */
export function backingSize(rect: Rect, dpr: number, maxPixels = 1920 * 1080): { width: number; height: number } {
  let scale = dpr > 0 && Number.isFinite(dpr) ? dpr : 1;
  const px = rect.w * rect.h * scale * scale;
  if (px > maxPixels) scale *= Math.sqrt(maxPixels / px);
  return {
    width: Math.max(1, Math.round(rect.w * scale)),
    height: Math.max(1, Math.round(rect.h * scale)),
  };
}

/** Maps a point in the box (CSS pixels) to a density cell, or null outside the picture. */
export function boxPointToCell(
  px: number,
  py: number,
  rect: Rect,
  gridW: number,
  gridH: number,
): { col: number; row: number } | null {
  if (rect.w <= 0 || rect.h <= 0) return null;
  const u = (px - rect.x) / rect.w;
  const v = (py - rect.y) / rect.h;
  if (u < 0 || v < 0 || u >= 1 || v >= 1) return null;
  return { col: Math.floor(u * gridW), row: Math.floor(v * gridH) };
}

/** Centre of a density cell in the box's CSS pixels. */
export function cellCentre(col: number, row: number, rect: Rect, gridW: number, gridH: number): { x: number; y: number } {
  return {
    x: rect.x + ((col + 0.5) / gridW) * rect.w,
    y: rect.y + ((row + 0.5) / gridH) * rect.h,
  };
}

/**
 * A point in the box (CSS pixels) as fractions of the displayed picture (0..1 across `rect`,
 * the picture's own rectangle from `contentRect`, bars excluded). With `clamp`, a point on the
 * black bars lands on the picture's nearest edge. Null when the picture has no size.
 */
export function boxPointToFraction(px: number, py: number, rect: Rect, clamp = true): [number, number] | null {
  if (!(rect.w > 0) || !(rect.h > 0)) return null;
  let u = (px - rect.x) / rect.w;
  let v = (py - rect.y) / rect.h;
  if (clamp) {
    u = Math.min(1, Math.max(0, u));
    v = Math.min(1, Math.max(0, v));
  }
  return [u, v];
}

/** Fractions of the picture (0..1) → a point in the box's CSS pixels (the inverse of the above). */
export function fractionToBoxPoint(u: number, v: number, rect: Rect): { x: number; y: number } {
  return { x: rect.x + u * rect.w, y: rect.y + v * rect.h };
}
