// The heatmap's colour map: a 256-entry RGBA lookup table indexed by the density byte.
// Colour follows Google's Turbo map (blue → green → yellow → red), which stays readable over
// video and in sunlight; alpha follows the density so empty cells are fully transparent and
// only crowded places are painted solidly.

export type Lut = Uint8ClampedArray; // 256 * 4 bytes, RGBA, not premultiplied

/** Turbo colour map, polynomial approximation (Mikhailov, Google, 2019). t in [0,1] → RGB 0..255. */
export function turbo(t: number): [number, number, number] {
  const x = Math.min(1, Math.max(0, t));
  const r = 0.13572138 + x * (4.6153926 + x * (-42.66032258 + x * (132.13108234 + x * (-152.94239396 + x * 59.28637943))));
  const g = 0.09140261 + x * (2.19418839 + x * (4.84296658 + x * (-14.18503333 + x * (4.27729857 + x * 2.82956604))));
  const b = 0.1066733 + x * (12.64194608 + x * (-60.58204836 + x * (110.36276771 + x * (-89.90310912 + x * 27.34824973))));
  const c = (v: number) => Math.round(Math.min(1, Math.max(0, v)) * 255);
  return [c(r), c(g), c(b)];
}

export interface LutOptions {
  /** density fraction (0..1 of the scale) at which a cell becomes fully opaque */
  opaqueAt: number;
  /** exponent of the alpha ramp; < 1 lifts low densities */
  gamma: number;
  /** where in Turbo the lowest non-zero density starts (skips Turbo's near-black start) */
  colourStart: number;
}

export const DEFAULT_LUT_OPTIONS: LutOptions = { opaqueAt: 0.6, gamma: 0.9, colourStart: 0.12 };

/** Alpha 0..1 of a density fraction t in [0,1]: exactly 0 at 0, 1 from `opaqueAt` on. */
export function alphaFor(t: number, o: LutOptions = DEFAULT_LUT_OPTIONS): number {
  if (!(t > 0)) return 0;
  return Math.min(1, Math.pow(Math.min(1, t / o.opaqueAt), o.gamma));
}

/** Colour fraction of Turbo used for density fraction t. */
export function colourFor(t: number, o: LutOptions = DEFAULT_LUT_OPTIONS): number {
  return o.colourStart + (1 - o.colourStart) * Math.min(1, Math.max(0, t));
}

export function buildLut(o: LutOptions = DEFAULT_LUT_OPTIONS): Lut {
  const lut = new Uint8ClampedArray(256 * 4);
  for (let i = 1; i < 256; i++) {
    const t = i / 255;
    const [r, g, b] = turbo(colourFor(t, o));
    lut[i * 4] = r;
    lut[i * 4 + 1] = g;
    lut[i * 4 + 2] = b;
    lut[i * 4 + 3] = Math.round(alphaFor(t, o) * 255);
  }
  // Entry 0 stays (0,0,0,0): an empty cell paints nothing at all.
  return lut;
}

/** The shared default table. */
export const LUT: Lut = buildLut();

/**
 * CSS gradient for the legend, drawn from the same table: each entry as it looks over a
 * mid-grey picture, so the legend shows the transparency of low densities too.
 */
export function legendGradient(lut: Lut = LUT, stops = 9, direction = 'to right'): string {
  const parts: string[] = [];
  for (let s = 0; s < stops; s++) {
    const i = Math.max(1, Math.round((s / (stops - 1)) * 255));
    const a = lut[i * 4 + 3] / 255;
    const mix = (c: number) => Math.round(c * a + 128 * (1 - a));
    parts.push(`rgb(${mix(lut[i * 4])},${mix(lut[i * 4 + 1])},${mix(lut[i * 4 + 2])}) ${Math.round((s / (stops - 1)) * 100)}%`);
  }
  return `linear-gradient(${direction},${parts.join(',')})`;
}
