import { describe, expect, it } from 'vitest';
import type { Mask, Point } from './api';
import { boxPointToFraction, contentRect, fractionToBoxPoint } from './align';
import { maskProblems, MASKS, masksBody, MAX_MASKS, sameMasks } from './masks';
import {
  cancelDrawing,
  finishDrawing,
  labelPoint,
  MAX_POINTS,
  nearFirstVertex,
  nextName,
  removeShape,
  startEditing,
  svgPoints,
  tapPoint,
  undoPoint,
  updateShape,
} from './shapes';

// a 16:9 frame in a 4:3 stage: letterboxed (bars top and bottom)
const RECT = contentRect(1920, 1080, 800, 600); // { x: 0, y: 75, w: 800, h: 450 }
const tri: Point[] = [
  [0.1, 0.1],
  [0.3, 0.1],
  [0.3, 0.4],
];

describe('align: box point ↔ fraction of the picture (letterboxed)', () => {
  it('maps the picture rectangle to 0..1 and back; bars clamp to the edge', () => {
    expect(RECT).toEqual({ x: 0, y: 75, w: 800, h: 450 });
    expect(boxPointToFraction(400, 300, RECT)).toEqual([0.5, 0.5]);
    expect(boxPointToFraction(80, 75 + 45, RECT)).toEqual([0.1, 0.1]);
    expect(boxPointToFraction(400, 10, RECT)).toEqual([0.5, 0]); // on the top bar
    expect(boxPointToFraction(400, 10, RECT, false)![1]).toBeCloseTo(-65 / 450, 12);
    expect(fractionToBoxPoint(0.1, 0.1, RECT)).toEqual({ x: 80, y: 120 });
    expect(boxPointToFraction(1, 1, { x: 0, y: 0, w: 0, h: 0 })).toBeNull();
    // pillarboxed: a 4:3 picture in a 16:9 stage
    const pil = contentRect(640, 480, 1600, 900);
    const f = boxPointToFraction(fractionToBoxPoint(0.25, 0.75, pil).x, fractionToBoxPoint(0.25, 0.75, pil).y, pil)!;
    expect(f[0]).toBeCloseTo(0.25, 12);
    expect(f[1]).toBeCloseTo(0.75, 12);
  });
});

describe('masks: drawing a polygon', () => {
  it('taps add corners; a tap on the first corner closes it once there are 3', () => {
    let ed = startEditing(MASKS, []);
    ed = tapPoint(ed, [0.1, 0.1], RECT);
    expect(ed.drawing).toEqual([[0.1, 0.1]]);
    // near the first corner with only 1 point: just another corner
    ed = tapPoint(ed, [0.3, 0.1], RECT);
    ed = tapPoint(ed, [0.3, 0.4], RECT);
    expect(ed.drawing).toHaveLength(3);
    expect(ed.hint).toMatch(/first corner/);
    // 10 css px from the first corner: closes
    ed = tapPoint(ed, [0.1 + 10 / 800, 0.1], RECT);
    expect(ed.drawing).toBeNull();
    expect(ed.shapes).toEqual([{ name: 'area 1', points: tri }]);
    expect(ed.dirty).toBe(true);
  });

  it('a tap on the bars lands on the picture edge', () => {
    const ed = tapPoint(startEditing(MASKS, []), [1.4, -0.2], RECT);
    expect(ed.drawing).toEqual([[1, 0]]);
  });

  it('closing distance is in screen pixels', () => {
    expect(nearFirstVertex(tri, [0.1 + 20 / 800, 0.1], RECT, 22)).toBe(true);
    expect(nearFirstVertex(tri, [0.1 + 30 / 800, 0.1], RECT, 22)).toBe(false);
    expect(nearFirstVertex(null, [0.1, 0.1], RECT)).toBe(false);
  });

  it('Done needs 3 corners; undo and cancel', () => {
    let ed = tapPoint(tapPoint(startEditing(MASKS, []), [0.5, 0.5], RECT), [0.6, 0.5], RECT);
    expect(finishDrawing(ed).shapes).toEqual([]);
    expect(finishDrawing(ed).hint).toMatch(/at least 3/);
    ed = undoPoint(ed);
    expect(ed.drawing).toEqual([[0.5, 0.5]]);
    expect(undoPoint(ed).drawing).toBeNull();
    expect(cancelDrawing(tapPoint(ed, [0.7, 0.7], RECT)).drawing).toBeNull();
    ed = tapPoint(tapPoint(ed, [0.6, 0.5], RECT), [0.6, 0.6], RECT);
    expect(finishDrawing(ed).shapes[0].points).toHaveLength(3);
  });

  it('refuses a 65th corner and a 33rd area', () => {
    let ed = startEditing(MASKS, []);
    for (let i = 0; i < MAX_POINTS; i++) ed = tapPoint(ed, [0.2 + (i % 8) * 0.08, 0.2 + Math.floor(i / 8) * 0.08], RECT);
    expect(ed.drawing).toHaveLength(64);
    ed = tapPoint(ed, [0.95, 0.95], RECT);
    expect(ed.drawing).toHaveLength(64);
    expect(ed.hint).toMatch(/At most 64/);
    const many: Mask[] = Array.from({ length: MAX_MASKS }, (_, i) => ({ name: `m${i}`, points: tri }));
    const full = tapPoint(startEditing(MASKS, many), [0.5, 0.5], RECT);
    expect(full.drawing).toBeNull();
    expect(full.hint).toMatch(/At most 32/);
  });

  it('names: first free "area N"; rename, remove', () => {
    expect(nextName('area', [{ name: 'area 1', points: tri }, { name: 'area 3', points: tri }])).toBe('area 2');
    let ed = startEditing(MASKS, [{ name: 'roof', points: tri }]);
    expect(ed.dirty).toBe(false);
    ed = updateShape(ed, 0, { name: 'stage roof' });
    expect(ed.shapes[0].name).toBe('stage roof');
    // Names are cut at the daemon's 64 characters, and the editor says so.
    const long = updateShape(ed, 0, { name: 'x'.repeat(100) });
    expect(long.shapes[0].name).toHaveLength(64);
    expect(long.hint).toMatch(/^Names are at most 64 characters: cut to/);
    expect(updateShape(ed, 0, { name: 'y'.repeat(64) }).shapes[0].name).toHaveLength(64);
    expect(removeShape(ed, 0).shapes).toEqual([]);
  });

  it('editing works on a copy of the masks it was given', () => {
    const given: Mask[] = [{ name: 'roof', points: [[0.1, 0.1], [0.2, 0.1], [0.2, 0.2]] }];
    const ed = startEditing(MASKS, given);
    ed.shapes[0].points[0][0] = 0.9;
    expect(given[0].points[0][0]).toBe(0.1);
  });
});

describe('masks: validation mirrors the API limits', () => {
  it('3 to 64 points, at most 32, unique non-empty names, inside 0..1', () => {
    expect(maskProblems([{ name: 'roof', points: tri }])).toEqual([]);
    expect(maskProblems([{ name: 'a', points: tri.slice(0, 2) }])).toEqual(['“a” has 2 corners: 3 to 64.']);
    const big = Array.from({ length: 65 }, (_, i) => [i / 100, 0.5] as Point);
    expect(maskProblems([{ name: 'a', points: big }])).toEqual(['“a” has 65 corners: 3 to 64.']);
    expect(maskProblems([{ name: ' a ', points: tri }, { name: 'a', points: tri }])).toEqual(['“a” is used twice: names must be unique.']);
    expect(maskProblems([{ name: '  ', points: tri }])).toEqual(['Area 1 has no name.']);
    expect(maskProblems([{ name: 'a', points: [[0, 0], [1.2, 0], [1, 1]] }])).toEqual(['“a” goes outside the picture.']);
    const many = Array.from({ length: 33 }, (_, i) => ({ name: `m${i}`, points: tri }));
    expect(maskProblems(many)).toEqual(['33 areas: at most 32.']);
  });

  it('the body: trimmed names, fractions rounded to 5 decimals', () => {
    expect(masksBody([{ name: ' roof ', points: [[1 / 3, 2 / 3], [0.1, 0.1], [1, 1]] }])).toEqual({
      masks: [{ name: 'roof', points: [[0.33333, 0.66667], [0.1, 0.1], [1, 1]] }],
    });
    expect(sameMasks([{ name: 'roof ', points: tri }], [{ name: 'roof', points: tri.map((p) => [p[0] + 1e-7, p[1]] as Point) }])).toBe(true);
    expect(sameMasks([{ name: 'roof', points: tri }], [])).toBe(false);
  });

  it('drawing helpers: SVG points in the box, label at the mean', () => {
    expect(svgPoints(tri, RECT)).toBe('80.0,120.0 240.0,120.0 240.0,255.0');
    const l = labelPoint(tri);
    expect(l[0]).toBeCloseTo(0.7 / 3, 12);
    expect(l[1]).toBeCloseTo(0.2, 12);
  });
});
