// Decoding the density grid of an `analysis` event (docs/api.md) and turning it into RGBA.

import type { DensityGrid } from './api';
import type { Lut } from './colormap';

export interface DecodedDensity {
  width: number;
  height: number;
  /** people in the densest cell */
  max: number;
  /** width*height bytes, row-major; cell value = byte/255 * max */
  bytes: Uint8Array;
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64_INDEX = (() => {
  const t = new Int16Array(256).fill(-1);
  for (let i = 0; i < 64; i++) t[B64.charCodeAt(i)] = i;
  t['-'.charCodeAt(0)] = 62; // base64url too
  t['_'.charCodeAt(0)] = 63;
  return t;
})();

/**
 * Decodes standard or URL-safe base64, with or without padding, ignoring whitespace.
 * Writes into `out` when it is large enough (no allocation per update). Throws on bad input.
 */
export function decodeBase64(s: string, out?: Uint8Array): Uint8Array {
  let len = s.length;
  while (len > 0 && (s.charCodeAt(len - 1) === 61 /* = */ || s.charCodeAt(len - 1) <= 32)) len--;
  // Upper bound of the output; whitespace only makes it shorter.
  const maxBytes = Math.floor((len * 3) / 4);
  const dst = out && out.length >= maxBytes ? out : new Uint8Array(maxBytes);
  let acc = 0;
  let bits = 0;
  let n = 0;
  for (let i = 0; i < len; i++) {
    const c = s.charCodeAt(i);
    if (c <= 32) continue;
    const v = c < 256 ? B64_INDEX[c] : -1;
    if (v < 0) throw new Error(`invalid base64 character at ${i}`);
    acc = ((acc << 6) | v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      dst[n++] = (acc >> bits) & 0xff;
    }
  }
  return dst.subarray(0, n);
}

/** Decodes a grid; throws when the data does not hold width*height bytes. */
export function decodeDensity(grid: DensityGrid, scratch?: Uint8Array): DecodedDensity {
  const cells = grid.width * grid.height;
  const bytes = decodeBase64(grid.data, scratch);
  if (bytes.length !== cells) {
    throw new Error(`density: ${bytes.length} bytes for a ${grid.width}×${grid.height} grid`);
  }
  return { width: grid.width, height: grid.height, max: grid.max, bytes };
}

/** People in one cell. */
export const cellValue = (byte: number, max: number): number => (byte / 255) * max;

/** Sum of all cells: the count as the grid encodes it (quantised to 1/255 of max). */
export function gridSum(d: DecodedDensity): number {
  let s = 0;
  for (let i = 0; i < d.bytes.length; i++) s += d.bytes[i];
  return (s / 255) * d.max;
}

/** The densest cell (first one in row-major order on ties); null for an empty grid. */
export function densestCell(d: DecodedDensity): { col: number; row: number; value: number } | null {
  let best = 0;
  let at = -1;
  const b = d.bytes;
  for (let i = 0; i < b.length; i++) {
    if (b[i] > best) {
      best = b[i];
      at = i;
    }
  }
  if (at < 0) return null;
  return { col: at % d.width, row: Math.floor(at / d.width), value: cellValue(best, d.max) };
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * Colours a grid through the LUT into `out` (width*height*4 RGBA bytes, as ImageData.data).
 * One 32-bit store per cell; the LUT is shared, so no per-update allocation.
 */
export function fillRgba(bytes: Uint8Array, lut: Lut, out: Uint8ClampedArray): Uint8ClampedArray {
  const n = bytes.length;
  if (out.length < n * 4) throw new Error('fillRgba: output too small');
  if (LITTLE_ENDIAN && out.byteOffset % 4 === 0 && lut.byteOffset % 4 === 0) {
    const o32 = new Uint32Array(out.buffer, out.byteOffset, n);
    const l32 = new Uint32Array(lut.buffer, lut.byteOffset, 256);
    for (let i = 0; i < n; i++) o32[i] = l32[bytes[i]];
  } else {
    for (let i = 0; i < n; i++) {
      const k = bytes[i] * 4;
      const j = i * 4;
      out[j] = lut[k];
      out[j + 1] = lut[k + 1];
      out[j + 2] = lut[k + 2];
      out[j + 3] = lut[k + 3];
    }
  }
  return out;
}

/** Encodes bytes as standard base64 (tests, benchmarks and mocks). */
export function encodeBase64(bytes: Uint8Array): string {
  let s = '';
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const v = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    s += B64[v >> 18] + B64[(v >> 12) & 63] + B64[(v >> 6) & 63] + B64[v & 63];
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const v = bytes[i] << 16;
    s += B64[v >> 18] + B64[(v >> 12) & 63] + '==';
  } else if (rest === 2) {
    const v = (bytes[i] << 16) | (bytes[i + 1] << 8);
    s += B64[v >> 18] + B64[(v >> 12) & 63] + B64[(v >> 6) & 63] + '=';
  }
  return s;
}
