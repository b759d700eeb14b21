import { describe, expect, it } from 'vitest';
import { backingSize, boxPointToCell, cellCentre, contentRect } from './align';

describe('contentRect (object-fit: contain)', () => {
  it('fills a box of the same aspect ratio exactly', () => {
    expect(contentRect(1920, 1080, 640, 360)).toEqual({ x: 0, y: 0, w: 640, h: 360 });
  });

  it('letterboxes a wide picture in a tall box (bars above and below)', () => {
    // phone held upright: 16:9 video in a 390×700 box
    const r = contentRect(1920, 1080, 390, 700);
    expect(r.x).toBe(0);
    expect(r.w).toBe(390);
    expect(r.h).toBeCloseTo(219.375, 6);
    expect(r.y).toBeCloseTo((700 - 219.375) / 2, 6);
  });

  it('pillarboxes a wide picture in a wider box (bars left and right)', () => {
    const r = contentRect(1280, 720, 1000, 400);
    expect(r.y).toBe(0);
    expect(r.h).toBe(400);
    expect(r.w).toBeCloseTo(711.111, 3);
    expect(r.x).toBeCloseTo((1000 - 711.111) / 2, 3);
  });

  it('handles a portrait picture (drone camera turned) in a landscape box', () => {
    const r = contentRect(1080, 1920, 800, 450);
    expect(r.h).toBe(450);
    expect(r.w).toBeCloseTo(253.125, 6);
    expect(r.x).toBeCloseTo(273.4375, 6);
  });

  it('follows a rotation of the phone (box dimensions swapped)', () => {
    const upright = contentRect(1920, 1080, 360, 640);
    const turned = contentRect(1920, 1080, 640, 360);
    expect(upright.w).toBe(360);
    expect(upright.y).toBeCloseTo((640 - 202.5) / 2, 6);
    expect(turned).toEqual({ x: 0, y: 0, w: 640, h: 360 });
  });

  it('is centred and scale-invariant in the picture size', () => {
    const a = contentRect(640, 360, 500, 500);
    const b = contentRect(1920, 1080, 500, 500);
    for (const k of ['x', 'y', 'w', 'h'] as const) expect(a[k]).toBeCloseTo(b[k], 9);
    expect(a.x + a.w / 2).toBeCloseTo(250, 9);
    expect(a.y + a.h / 2).toBeCloseTo(250, 9);
  });

  it('fills the box while the picture size is unknown', () => {
    expect(contentRect(0, 0, 300, 200)).toEqual({ x: 0, y: 0, w: 300, h: 200 });
    expect(contentRect(NaN, 10, 300, 200)).toEqual({ x: 0, y: 0, w: 300, h: 200 });
  });

  it('is empty for an empty box', () => {
    expect(contentRect(1920, 1080, 0, 0)).toEqual({ x: 0, y: 0, w: 0, h: 0 });
    expect(contentRect(1920, 1080, 100, 0)).toEqual({ x: 0, y: 0, w: 0, h: 0 });
  });
});

describe('backingSize', () => {
  it('multiplies by the device pixel ratio', () => {
    expect(backingSize({ x: 0, y: 0, w: 390, h: 219.4 }, 3)).toEqual({ width: 1170, height: 658 });
  });

  it('caps the total pixel count, keeping the aspect ratio', () => {
    const s = backingSize({ x: 0, y: 0, w: 2560, h: 1440 }, 2, 1920 * 1080);
    expect(s.width * s.height).toBeLessThanOrEqual(1920 * 1080 + 2000);
    expect(s.width / s.height).toBeCloseTo(16 / 9, 2);
  });

  it('never returns zero and ignores a bogus ratio', () => {
    expect(backingSize({ x: 0, y: 0, w: 0, h: 0 }, 2)).toEqual({ width: 1, height: 1 });
    expect(backingSize({ x: 0, y: 0, w: 100, h: 50 }, NaN)).toEqual({ width: 100, height: 50 });
  });
});

describe('cells and box points', () => {
  const rect = contentRect(1920, 1080, 390, 700); // letterboxed

  it('maps the picture corners to the first and last cells', () => {
    expect(boxPointToCell(rect.x + 0.01, rect.y + 0.01, rect, 80, 45)).toEqual({ col: 0, row: 0 });
    expect(boxPointToCell(rect.x + rect.w - 0.01, rect.y + rect.h - 0.01, rect, 80, 45)).toEqual({ col: 79, row: 44 });
  });

  it('returns null on the black bars', () => {
    expect(boxPointToCell(100, rect.y - 1, rect, 80, 45)).toBeNull();
    expect(boxPointToCell(100, rect.y + rect.h + 1, rect, 80, 45)).toBeNull();
  });

  it('round-trips cell centres', () => {
    const c = cellCentre(17, 30, rect, 80, 45);
    expect(boxPointToCell(c.x, c.y, rect, 80, 45)).toEqual({ col: 17, row: 30 });
  });
});
