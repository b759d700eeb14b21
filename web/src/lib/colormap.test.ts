import { describe, expect, it } from 'vitest';
import { alphaFor, buildLut, DEFAULT_LUT_OPTIONS, legendGradient, LUT, turbo } from './colormap';

describe('turbo', () => {
  it('runs from dark blue through green to dark red', () => {
    const [r0, g0, b0] = turbo(0.1);
    expect(b0).toBeGreaterThan(r0);
    expect(b0).toBeGreaterThan(g0);
    const [, gMid] = turbo(0.5);
    expect(gMid).toBeGreaterThan(200);
    const [r1, g1, b1] = turbo(1);
    expect(r1).toBeGreaterThan(100);
    expect(r1).toBeGreaterThan(g1 * 5);
    expect(b1).toBeLessThan(10);
  });

  it('clamps its input', () => {
    expect(turbo(-1)).toEqual(turbo(0));
    expect(turbo(2)).toEqual(turbo(1));
  });
});

describe('LUT', () => {
  it('has 256 RGBA entries', () => {
    expect(LUT).toBeInstanceOf(Uint8ClampedArray);
    expect(LUT.length).toBe(1024);
  });

  it('makes zero density fully transparent and colourless', () => {
    expect(Array.from(LUT.subarray(0, 4))).toEqual([0, 0, 0, 0]);
  });

  it('has alpha that never decreases with density and is opaque at the top', () => {
    for (let i = 1; i < 256; i++) expect(LUT[i * 4 + 3]).toBeGreaterThanOrEqual(LUT[(i - 1) * 4 + 3]);
    expect(LUT[255 * 4 + 3]).toBe(255);
    expect(LUT[Math.ceil(255 * DEFAULT_LUT_OPTIONS.opaqueAt) * 4 + 3]).toBe(255);
  });

  it('keeps the faintest densities nearly invisible', () => {
    expect(LUT[1 * 4 + 3]).toBeLessThan(10);
    expect(LUT[1 * 4 + 3]).toBeGreaterThan(0);
  });

  it('paints high densities red and low ones blue', () => {
    const hi = LUT.subarray(250 * 4, 251 * 4);
    expect(hi[0]).toBeGreaterThan(hi[1]);
    expect(hi[0]).toBeGreaterThan(hi[2]);
    const lo = LUT.subarray(10 * 4, 11 * 4);
    expect(lo[2]).toBeGreaterThan(lo[0]);
  });

  it('is deterministic', () => {
    expect(buildLut()).toEqual(LUT);
  });

  it('honours options', () => {
    const lut = buildLut({ opaqueAt: 1, gamma: 1, colourStart: 0 });
    expect(lut[128 * 4 + 3]).toBe(128);
    expect(alphaFor(0)).toBe(0);
    expect(alphaFor(-0.5)).toBe(0);
    expect(alphaFor(1)).toBe(1);
  });
});

describe('legendGradient', () => {
  it('is a CSS linear gradient with the requested stops', () => {
    const g = legendGradient(LUT, 5);
    expect(g.startsWith('linear-gradient(to right,')).toBe(true);
    expect(g.match(/rgb\(/g)?.length).toBe(5);
    expect(g).toContain(' 0%');
    expect(g).toContain(' 100%');
  });
});
