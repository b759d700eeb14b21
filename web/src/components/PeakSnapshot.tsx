import { useEffect, useRef } from 'react';
import type { PeakSnapshot as Peak } from '../lib/history';
import { decodeDensity, fillRgba } from '../lib/density';
import { LUT } from '../lib/colormap';
import { fmtCount, fmtClock } from '../lib/format';

/** The frame at a flight's peak, with its density grid drawn over it as the live heatmap is. */
export function PeakSnapshot({ peak, heatmap = true }: { peak: Peak; heatmap?: boolean }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    const c = canvas.current;
    if (!c || !peak.density) return;
    let d;
    try {
      d = decodeDensity(peak.density);
    } catch {
      return;
    }
    c.width = d.width;
    c.height = d.height;
    const ctx = c.getContext('2d');
    if (!ctx) return;
    const img = ctx.createImageData(d.width, d.height);
    fillRgba(d.bytes, LUT, img.data);
    ctx.putImageData(img, 0, 0);
  }, [peak]);
  return (
    <figure className="peak-snapshot">
      <div className="peak-frame">
        <img src={peak.url} alt={`The frame at the peak, ${fmtClock(peak.t_ms)}`} />
        {heatmap && peak.density && <canvas ref={canvas} className="peak-heat" aria-hidden="true" />}
      </div>
      <figcaption>
        Peak snapshot at {fmtClock(peak.t_ms)}: about {fmtCount(peak.count)} people (smoothed)
      </figcaption>
    </figure>
  );
}
