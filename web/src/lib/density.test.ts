import { describe, expect, it } from 'vitest';
import { LUT } from './colormap';
import { cellValue, decodeBase64, decodeDensity, densestCell, encodeBase64, fillRgba, gridSum } from './density';

const b64 = (bytes: number[]) => Buffer.from(bytes).toString('base64');

describe('decodeBase64', () => {
  it('matches Node for all lengths and byte values', () => {
    for (let n = 0; n < 40; n++) {
      const bytes = Array.from({ length: n }, (_, i) => (i * 37 + n * 11) & 255);
      expect(Array.from(decodeBase64(b64(bytes)))).toEqual(bytes);
    }
    const all = Array.from({ length: 256 }, (_, i) => i);
    expect(Array.from(decodeBase64(b64(all)))).toEqual(all);
  });

  it('accepts missing padding, whitespace and the URL-safe alphabet', () => {
    const bytes = [251, 255, 191, 0, 1];
    const std = b64(bytes);
    expect(Array.from(decodeBase64(std.replace(/=+$/, '')))).toEqual(bytes);
    expect(Array.from(decodeBase64(std.slice(0, 4) + '\n' + std.slice(4)))).toEqual(bytes);
    expect(Array.from(decodeBase64(Buffer.from(bytes).toString('base64url')))).toEqual(bytes);
  });

  it('rejects invalid characters', () => {
    expect(() => decodeBase64('AA*A')).toThrow(/invalid base64/);
  });

  it('reuses a big enough scratch buffer', () => {
    const scratch = new Uint8Array(16);
    const out = decodeBase64(b64([1, 2, 3]), scratch);
    expect(out.buffer).toBe(scratch.buffer);
    expect(Array.from(out)).toEqual([1, 2, 3]);
  });

  it('round-trips with encodeBase64', () => {
    const bytes = new Uint8Array(3600).map((_, i) => (i * 7919) & 255);
    expect(encodeBase64(bytes)).toBe(Buffer.from(bytes).toString('base64'));
    expect(decodeBase64(encodeBase64(bytes))).toEqual(bytes);
    for (let n = 0; n < 5; n++) {
      const b = new Uint8Array(n).fill(200);
      expect(encodeBase64(b)).toBe(Buffer.from(b).toString('base64'));
    }
  });
});

describe('decodeDensity', () => {
  it('decodes an 80×45 grid as the daemon sends it', () => {
    const bytes = new Uint8Array(80 * 45);
    bytes[0] = 255;
    bytes[80 * 44 + 79] = 128;
    const d = decodeDensity({ width: 80, height: 45, max: 0.42, data: encodeBase64(bytes) });
    expect(d.width).toBe(80);
    expect(d.height).toBe(45);
    expect(d.bytes.length).toBe(3600);
    expect(cellValue(d.bytes[0], d.max)).toBeCloseTo(0.42, 9);
    expect(cellValue(d.bytes[3599], d.max)).toBeCloseTo((128 / 255) * 0.42, 9);
  });

  it('rejects data of the wrong length', () => {
    expect(() => decodeDensity({ width: 4, height: 2, max: 1, data: b64([1, 2, 3]) })).toThrow(/3 bytes for a 4×2 grid/);
  });

  it('sums to the count (within quantisation)', () => {
    // 10 cells of 1 person each, max 1 → each byte 255
    const bytes = new Uint8Array(80 * 45);
    for (let i = 0; i < 10; i++) bytes[i * 300] = 255;
    const d = decodeDensity({ width: 80, height: 45, max: 1, data: encodeBase64(bytes) });
    expect(gridSum(d)).toBeCloseTo(10, 9);
  });

  it('finds the densest cell (row-major, first on ties)', () => {
    const bytes = new Uint8Array(12);
    bytes[5] = 200;
    bytes[9] = 200;
    bytes[2] = 10;
    const d = decodeDensity({ width: 4, height: 3, max: 2, data: encodeBase64(bytes) });
    expect(densestCell(d)).toEqual({ col: 1, row: 1, value: (200 / 255) * 2 });
    const empty = decodeDensity({ width: 4, height: 3, max: 0, data: encodeBase64(new Uint8Array(12)) });
    expect(densestCell(empty)).toBeNull();
  });
});

describe('fillRgba', () => {
  it('colours each cell through the LUT, zero cells fully transparent', () => {
    const bytes = new Uint8Array([0, 255, 128, 0, 1, 0]);
    const out = fillRgba(bytes, LUT, new Uint8ClampedArray(bytes.length * 4));
    for (let i = 0; i < bytes.length; i++) {
      expect(Array.from(out.subarray(i * 4, i * 4 + 4))).toEqual(Array.from(LUT.subarray(bytes[i] * 4, bytes[i] * 4 + 4)));
    }
    expect(Array.from(out.subarray(0, 4))).toEqual([0, 0, 0, 0]);
    expect(out[1 * 4 + 3]).toBe(255);
  });

  it('works on unaligned views through the byte path', () => {
    const bytes = new Uint8Array([255, 0]);
    const backing = new Uint8ClampedArray(1 + 8);
    const out = fillRgba(bytes, LUT, backing.subarray(1));
    expect(Array.from(out.subarray(0, 4))).toEqual(Array.from(LUT.subarray(255 * 4, 256 * 4)));
    expect(Array.from(out.subarray(4, 8))).toEqual([0, 0, 0, 0]);
  });

  it('refuses a too small output', () => {
    expect(() => fillRgba(new Uint8Array(4), LUT, new Uint8ClampedArray(8))).toThrow();
  });
});
