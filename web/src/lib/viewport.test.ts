import { describe, expect, it } from 'vitest';
import { clampView, fitScale, fitView, frameToView, panBy, pinchView, scaleLimits, viewToFrame, wheelFactor, zoomAt, type View } from './viewport';

const FRAME = { w: 1920, h: 1080 };
const PHONE = { w: 390, h: 600 };
const close = (a: { x: number; y: number }, b: { x: number; y: number }) => {
  expect(a.x).toBeCloseTo(b.x, 9);
  expect(a.y).toBeCloseTo(b.y, 9);
};

describe('viewport: view ↔ frame coordinates', () => {
  it('are inverse of each other at any zoom and pan', () => {
    const views: View[] = [
      { scale: 1, tx: 0, ty: 0 },
      { scale: 0.203125, tx: 0, ty: 190.3125 },
      { scale: 3.7, tx: -2411.5, ty: -1333.25 },
    ];
    for (const v of views) {
      for (const p of [{ x: 0, y: 0 }, { x: 137.25, y: 402.5 }, { x: 389.9, y: 599.1 }]) close(frameToView(v, viewToFrame(v, p)), p);
      for (const f of [{ x: 0, y: 0 }, { x: 1919.5, y: 1079.5 }, { x: 820.25, y: 400.75 }]) close(viewToFrame(v, frameToView(v, f)), f);
    }
  });

  it('map a known point exactly: zoom 2 panned to frame (800, 400)', () => {
    const v = { scale: 2, tx: -1600, ty: -800 };
    expect(viewToFrame(v, { x: 0, y: 0 })).toEqual({ x: 800, y: 400 });
    expect(viewToFrame(v, { x: 195, y: 300 })).toEqual({ x: 897.5, y: 550 });
    expect(frameToView(v, { x: 897.5, y: 550 })).toEqual({ x: 195, y: 300 });
  });

  it('fit the whole frame, centred (letterboxed on a phone)', () => {
    const v = fitView(FRAME, PHONE);
    expect(v.scale).toBeCloseTo(390 / 1920, 12);
    expect(v.tx).toBe(0);
    expect(v.ty).toBeCloseTo((600 - 1080 * (390 / 1920)) / 2, 9);
    close(viewToFrame(v, { x: 390, y: v.ty + 1080 * v.scale }), { x: 1920, y: 1080 });
    expect(fitScale(FRAME, { w: 0, h: 0 })).toBe(1);
  });

  it('zoom at a point keeps the frame point under it (wheel at the cursor)', () => {
    let v = fitView(FRAME, PHONE);
    const anchor = { x: 120, y: 333 };
    const before = viewToFrame(v, anchor);
    v = zoomAt(v, 3.5, anchor);
    expect(v.scale).toBeCloseTo((390 / 1920) * 3.5, 12);
    close(viewToFrame(v, anchor), before);
    v = zoomAt(v, wheelFactor(-120), { x: 10, y: 20 });
    expect(wheelFactor(-120)).toBeGreaterThan(1);
    expect(wheelFactor(120)).toBeLessThan(1);
    expect(wheelFactor(3, 1)).toBeCloseTo(wheelFactor(48), 12);
  });

  it('pan moves the picture by view pixels: the frame point moves under the finger', () => {
    const v = { scale: 2.5, tx: -1000, ty: -500 };
    const p = viewToFrame(v, { x: 100, y: 100 });
    const w = panBy(v, 40, -25);
    close(viewToFrame(w, { x: 140, y: 75 }), p);
  });

  it('pinch: scale follows the fingers, the point under their midpoint follows the midpoint', () => {
    const start = fitView(FRAME, PHONE);
    const a0 = { x: 150, y: 300 };
    const b0 = { x: 250, y: 300 };
    const mid0 = viewToFrame(start, { x: 200, y: 300 });
    // spread to twice the distance and move both 30 px right, 10 px up (two-finger pan)
    const v = pinchView(start, a0, b0, { x: 130, y: 290 }, { x: 330, y: 290 });
    expect(v.scale).toBeCloseTo(start.scale * 2, 12);
    close(viewToFrame(v, { x: 230, y: 290 }), mid0);
    // pure two-finger pan: same distance
    const p = pinchView(start, a0, b0, { x: 160, y: 320 }, { x: 260, y: 320 });
    expect(p.scale).toBeCloseTo(start.scale, 12);
    expect(p.tx - start.tx).toBeCloseTo(10, 9);
    expect(p.ty - start.ty).toBeCloseTo(20, 9);
  });

  it('clamp: no zooming out past the whole frame, no further in than the limit, no empty margins', () => {
    const { min, max } = scaleLimits(FRAME, PHONE);
    expect(min).toBeCloseTo(390 / 1920, 12);
    expect(max).toBe(6);
    expect(clampView({ scale: 0.01, tx: 50, ty: 50 }, FRAME, PHONE)).toEqual(fitView(FRAME, PHONE));
    expect(clampView({ scale: 100, tx: 0, ty: 0 }, FRAME, PHONE).scale).toBe(6);
    // zoomed in: the frame covers the view, edges stop at the view's edges
    const c = clampView({ scale: 1, tx: 200, ty: -5000 }, FRAME, PHONE);
    expect(c).toEqual({ scale: 1, tx: 0, ty: 600 - 1080 });
    // a pan inside the limits is kept
    expect(clampView({ scale: 1, tx: -300, ty: -200 }, FRAME, PHONE)).toEqual({ scale: 1, tx: -300, ty: -200 });
    // wider than the view but not taller: centred vertically, free horizontally
    const d = clampView({ scale: 0.4, tx: -100, ty: 0 }, FRAME, PHONE);
    expect(d.tx).toBe(-100);
    expect(d.ty).toBeCloseTo((600 - 1080 * 0.4) / 2, 9);
  });
});
