import { describe, expect, it } from 'vitest';
import { addTap, boxFromCorners, wholeFrame, calibrationBody, calibrationProblem, clearTaps, insideBox, MAX_TAPS, newCalibration, setBox, undoTap, type CalibState } from './calibration';
import { fitView, frameToView, viewToFrame, zoomAt, panBy } from './viewport';

const FRAME = { w: 1920, h: 1080 };

function withTaps(n: number, box = { x: 820, y: 400, w: 360, h: 202 }): CalibState {
  let s = setBox(newCalibration(FRAME), box);
  for (let i = 0; i < n; i++) s = addTap(s, { x: box.x + 1 + (i % 30) * 10, y: box.y + 1 + Math.floor(i / 30) * 10 }).state;
  return s;
}

describe('calibration: box', () => {
  it('from two corners in any order, cut to the frame; a tiny drag is a slip', () => {
    expect(boxFromCorners({ x: 1180, y: 602 }, { x: 820, y: 400 }, FRAME)).toEqual({ x: 820, y: 400, w: 360, h: 202 });
    expect(boxFromCorners({ x: -50, y: -10 }, { x: 100, y: 2000 }, FRAME)).toEqual({ x: 0, y: 0, w: 100, h: 1080 });
    expect(boxFromCorners({ x: 10, y: 10 }, { x: 14, y: 300 }, FRAME)).toBeNull();
  });

  it('a new box drops the taps outside it', () => {
    let s = withTaps(10);
    s = setBox(s, { x: 820, y: 400, w: 45, h: 202 }); // keeps x 821..861
    expect(s.taps.map((t) => t.x)).toEqual([821, 831, 841, 851, 861]);
    expect(setBox(s, null).taps).toEqual([]);
  });
});

describe('calibration: taps', () => {
  it('refuses taps without a box, outside the box and beyond 1000', () => {
    const empty = newCalibration(FRAME);
    expect(addTap(empty, { x: 5, y: 5 }).refused).toBe('no-box');
    const s = setBox(empty, { x: 100, y: 100, w: 50, h: 50 });
    expect(addTap(s, { x: 99.9, y: 120 }).refused).toBe('outside');
    expect(addTap(s, { x: 150, y: 150 }).refused).toBeNull(); // edges count as inside
    const full = withTaps(MAX_TAPS, { x: 0, y: 0, w: 1920, h: 1080 });
    expect(full.taps).toHaveLength(1000);
    expect(addTap(full, { x: 5, y: 5 }).refused).toBe('full');
  });

  it('undo and clear', () => {
    const s = withTaps(7);
    expect(undoTap(s).taps).toHaveLength(6);
    expect(undoTap(s).taps[5]).toEqual(s.taps[5]);
    expect(clearTaps(s).taps).toEqual([]);
    expect(undoTap(clearTaps(s)).taps).toEqual([]);
  });

  it('says what stops a submit: no box, fewer than 5 taps', () => {
    expect(calibrationProblem(newCalibration(FRAME))).toMatch(/box/);
    expect(calibrationProblem(withTaps(4))).toBe('Tap at least 5 people (4 so far).');
    expect(calibrationProblem(withTaps(5))).toBeNull();
    expect(() => calibrationBody('f1', withTaps(4))).toThrow(/at least 5/);
  });
});

describe('calibration: the body in frame pixels', () => {
  it('box grows outwards to whole pixels; each tap is the pixel it falls in, inside the box', () => {
    let s = setBox(newCalibration(FRAME), { x: 820.4, y: 399.6, w: 359.2, h: 202.1 });
    for (const p of [
      { x: 820.4, y: 399.6 }, // the corner
      { x: 1179.6, y: 601.7 }, // the far corner: pixel 1179, 601
      { x: 1000.999, y: 500.001 },
      { x: 900.5, y: 450.5 },
      { x: 1100, y: 600 },
    ])
      s = addTap(s, p).state;
    const body = calibrationBody('abc', s);
    expect(body.frame_id).toBe('abc');
    expect(body.box).toEqual([820, 399, 360, 203]);
    expect(body.taps).toEqual([
      [820, 399],
      [1179, 601],
      [1000, 500],
      [900, 450],
      [1100, 600],
    ]);
    for (const [x, y] of body.taps) expect(insideBox({ x: 820, y: 399, w: 359, h: 202 }, { x, y })).toBe(true);
  });

  it('stays inside the frame at its edges', () => {
    let s = setBox(newCalibration(FRAME), { x: 1900, y: 1060, w: 20, h: 20 });
    for (let i = 0; i < 5; i++) s = addTap(s, { x: 1920, y: 1080 }).state;
    const body = calibrationBody(7, s);
    expect(body.box).toEqual([1900, 1060, 20, 20]);
    expect(body.taps[0]).toEqual([1919, 1079]);
  });

  it('taps made on a zoomed and panned view land on the frame pixels under the finger', () => {
    const viewSize = { w: 390, h: 600 };
    // zoomed 8× around a spot of the crowd, then panned by a drag
    let v = fitView(FRAME, viewSize);
    v = zoomAt(v, 8, { x: 200, y: 280 });
    v = panBy(v, -35, 12);
    // people at known frame pixels, tapped where they appear on screen
    const people = [
      { x: 1003.5, y: 539.5 },
      { x: 1010.25, y: 540.75 },
      { x: 990.5, y: 520.5 },
      { x: 1020.5, y: 560.5 },
      { x: 996.75, y: 551.25 },
    ];
    const onScreen = people.map((p) => frameToView(v, p));
    const a = viewToFrame(v, { x: onScreen[2].x - 30, y: onScreen[2].y - 30 });
    const b = viewToFrame(v, { x: onScreen[3].x + 30, y: onScreen[3].y + 30 });
    let s = setBox(newCalibration(FRAME), boxFromCorners(a, b, FRAME));
    for (const p of onScreen) {
      const r = addTap(s, viewToFrame(v, p));
      expect(r.refused).toBeNull();
      s = r.state;
    }
    s.taps.forEach((t, i) => {
      expect(t.x).toBeCloseTo(people[i].x, 9);
      expect(t.y).toBeCloseTo(people[i].y, 9);
    });
    expect(calibrationBody('f', s).taps).toEqual(people.map((p) => [Math.floor(p.x), Math.floor(p.y)]));
  });
});

describe('a whole frame', () => {
  it('is a box covering the frame, keeping the taps', () => {
    const s = wholeFrame({ ...newCalibration({ w: 1920, h: 1080 }), taps: [] });
    expect(s.box).toEqual({ x: 0, y: 0, w: 1920, h: 1080 });
    const t = addTap(s, { x: 1919, y: 1 });
    expect(t.refused).toBeNull();
  });
});
