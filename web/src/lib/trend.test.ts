import { describe, expect, it } from 'vitest';
import { direction, TrendWindow } from './trend';

const MIN = 60_000;

describe('TrendWindow', () => {
  it('keeps only the retained minutes', () => {
    const w = new TrendWindow(5 * MIN);
    for (let i = 0; i <= 10 * 60; i++) w.push(i + 1, i * 1000, i); // one per second for 10 min
    expect(w.length).toBe(5 * 60 + 1);
    const [xs, ys] = w.series(10 * MIN, 5 * MIN);
    expect(xs[0]).toBe(300);
    expect(xs[xs.length - 1]).toBe(600);
    expect(ys[0]).toBe(300);
  });

  it('returns chart series for a shorter window in seconds', () => {
    const w = new TrendWindow(15 * MIN);
    for (let i = 0; i < 600; i++) w.push(i, 1_000_000 + i * 1000, i % 7);
    const [xs, ys] = w.series(1_000_000 + 599_000, 2 * MIN);
    expect(xs.length).toBe(121);
    expect(xs[0]).toBe((1_000_000 + 479_000) / 1000);
    expect(ys.length).toBe(xs.length);
    expect(xs).toBeInstanceOf(Float64Array);
  });

  it('is empty when nothing is recent', () => {
    const w = new TrendWindow(5 * MIN);
    w.push(1, 0, 10);
    expect(w.series(10 * MIN, 5 * MIN)[0].length).toBe(0);
    expect(w.windowPeak(10 * MIN, 5 * MIN)).toBeNull();
    expect(w.rate(10 * MIN)).toBeNull();
  });

  it('ignores the latest analysis re-sent on reconnect', () => {
    const w = new TrendWindow(5 * MIN);
    expect(w.push(7, 1000, 50)).toBe(true);
    expect(w.push(7, 2000, 50)).toBe(false);
    expect(w.length).toBe(1);
  });

  it('accepts a daemon restart (seq back to 1) and ignores time going backwards', () => {
    const w = new TrendWindow(5 * MIN);
    w.push(100, 1000, 5);
    expect(w.push(1, 2000, 6)).toBe(true);
    expect(w.push(2, 1500, 7)).toBe(false);
    expect(w.push(3, 2500, NaN)).toBe(false);
    expect(w.latest).toEqual({ t: 2000, count: 6 });
  });

  it('tracks the session peak beyond the window, and the window peak', () => {
    const w = new TrendWindow(2 * MIN);
    w.push(1, 0, 300);
    for (let i = 1; i < 300; i++) w.push(i + 1, i * 1000, 100 + (i % 10));
    expect(w.peak).toEqual({ count: 300, t: 0, seq: 1 });
    expect(w.windowPeak(299_000, 2 * MIN)).toBe(109);
  });

  it('measures analyses per second', () => {
    const w = new TrendWindow(5 * MIN);
    for (let i = 0; i < 30; i++) w.push(i, i * 500, 1); // 2 per second
    expect(w.rate(14_500, 10_000)).toBeCloseTo(2, 6);
  });

  it('fits the slope in people per minute', () => {
    const w = new TrendWindow(5 * MIN);
    for (let i = 0; i <= 60; i++) w.push(i, i * 1000, 100 + i * 0.5); // +30 per minute
    const s = w.slope(60_000, 60_000);
    expect(s).not.toBeNull();
    expect(s!.perMinute).toBeCloseTo(30, 6);
    expect(s!.mean).toBeCloseTo(115, 6);
  });

  it('does not guess a slope from too little data', () => {
    const w = new TrendWindow(5 * MIN);
    w.push(1, 0, 1);
    w.push(2, 1000, 2);
    expect(w.slope(1000)).toBeNull();
    w.push(3, 2000, 3);
    expect(w.slope(2000, 60_000)).toBeNull(); // 3 points over 2 s of a 60 s span
  });

  it('compacts its storage over long runs', () => {
    const w = new TrendWindow(MIN);
    for (let i = 0; i < 20_000; i++) w.push(i, i * 100, i);
    expect(w.length).toBe(601);
    expect(w.series(19_999 * 100, MIN)[1][0]).toBe(19_999 - 600);
  });

  it('clears', () => {
    const w = new TrendWindow(MIN);
    w.push(1, 0, 1);
    w.clear();
    expect(w.length).toBe(0);
    expect(w.peak).toBeNull();
    expect(w.push(1, 0, 1)).toBe(true);
  });
});

describe('direction', () => {
  it('needs a clear slope', () => {
    expect(direction(null)).toBe('unknown');
    expect(direction({ perMinute: 0.5, mean: 10 })).toBe('steady');
    expect(direction({ perMinute: 2, mean: 10 })).toBe('rising');
    expect(direction({ perMinute: -2, mean: 10 })).toBe('falling');
    // in a crowd of 1000, ±20/min is noise (threshold 3 %/min = 30)
    expect(direction({ perMinute: 20, mean: 1000 })).toBe('steady');
    expect(direction({ perMinute: 40, mean: 1000 })).toBe('rising');
  });
});
