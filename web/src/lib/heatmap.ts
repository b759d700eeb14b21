// Draws density grids onto the overlay canvas. Per update: decode the base64 grid into a
// reused buffer, colour it through the LUT into a grid-sized ImageData, put it on a small
// off-screen canvas, and let the browser upscale that with smoothing in one drawImage.
// Nothing loops over the pixels of the big canvas.
//
// The canvas's backing store is capped at HEATMAP_MAX_PIXELS whatever its displayed size: the
// picture is an 80×45 grid upscaled with bilinear smoothing, so beyond ~12× the grid extra
// pixels add no detail, only cost (a software-rasterised 1920×1080 drawImage takes ~8 ms,
// 960×540 ~1.5 ms). The browser scales the canvas to its CSS box, smoothly, when compositing.

import type { DensityGrid } from './api';
import { backingSize, type Rect } from './align';
import { LUT, type Lut } from './colormap';
import { decodeDensity, fillRgba, type DecodedDensity } from './density';

/** Backing-store pixel budget of the heatmap canvas (960×540). */
export const HEATMAP_MAX_PIXELS = 960 * 540;

/** The heatmap canvas's backing-store size for a displayed rect at a device pixel ratio. */
export function heatmapBackingSize(rect: Rect, dpr: number): { width: number; height: number } {
  return backingSize(rect, dpr, HEATMAP_MAX_PIXELS);
}

export class HeatmapRenderer {
  readonly canvas: HTMLCanvasElement;
  private ctx: CanvasRenderingContext2D;
  private src: HTMLCanvasElement;
  private srcCtx: CanvasRenderingContext2D;
  private image: ImageData | null = null;
  private scratch = new Uint8Array(80 * 45);
  private lut: Lut;
  private hasGrid = false;

  constructor(canvas: HTMLCanvasElement, lut: Lut = LUT) {
    this.canvas = canvas;
    this.lut = lut;
    const ctx = canvas.getContext('2d', { alpha: true });
    this.src = canvas.ownerDocument.createElement('canvas');
    const srcCtx = this.src.getContext('2d', { alpha: true });
    if (!ctx || !srcCtx) throw new Error('canvas 2D is not available');
    this.ctx = ctx;
    this.srcCtx = srcCtx;
  }

  /** Sets the backing-store size; redraws the current grid when it changed. */
  resize(width: number, height: number): void {
    if (this.canvas.width === width && this.canvas.height === height) return;
    this.canvas.width = width;
    this.canvas.height = height;
    this.draw();
  }

  /** Decodes and draws one grid. Returns the decoded grid (for the densest cell etc.). */
  update(grid: DensityGrid): DecodedDensity {
    const cells = grid.width * grid.height;
    if (this.scratch.length < cells) this.scratch = new Uint8Array(cells);
    const d = decodeDensity(grid, this.scratch);
    if (!this.image || this.image.width !== d.width || this.image.height !== d.height) {
      this.src.width = d.width;
      this.src.height = d.height;
      this.image = this.srcCtx.createImageData(d.width, d.height);
    }
    fillRgba(d.bytes, this.lut, this.image.data);
    this.srcCtx.putImageData(this.image, 0, 0);
    this.hasGrid = true;
    this.draw();
    return d;
  }

  /** Redraws the last grid scaled over the whole canvas. */
  draw(): void {
    const { ctx, canvas } = this;
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    if (!this.hasGrid) return;
    ctx.imageSmoothingEnabled = true;
    ctx.imageSmoothingQuality = 'low'; // bilinear: smooth and the cheapest
    ctx.drawImage(this.src, 0, 0, this.src.width, this.src.height, 0, 0, canvas.width, canvas.height);
  }

  clear(): void {
    this.hasGrid = false;
    this.ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
  }
}
