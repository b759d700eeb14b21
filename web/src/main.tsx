import './theme';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { Root } from './Root';
import { HeatmapRenderer, heatmapBackingSize } from './lib/heatmap';
import { cellCentre, contentRect } from './lib/align';
import { fmtCount } from './lib/format';
import { encodeBase64 } from './lib/density';
import { LUT } from './lib/colormap';
import { contrastRatio, over, parseColor } from './lib/contrast';
import './styles.css';

// Hooks for the budget script and end-to-end tests: the same code the dashboard draws with.
declare global {
  interface Window {
    __skycount?: {
      HeatmapRenderer: typeof HeatmapRenderer;
      heatmapBackingSize: typeof heatmapBackingSize;
      contentRect: typeof contentRect;
      cellCentre: typeof cellCentre;
      fmtCount: typeof fmtCount;
      encodeBase64: typeof encodeBase64;
      LUT: typeof LUT;
      contrastRatio: typeof contrastRatio;
      parseColor: typeof parseColor;
      over: typeof over;
    };
  }
}
window.__skycount = { HeatmapRenderer, heatmapBackingSize, contentRect, cellCentre, fmtCount, encodeBase64, LUT, contrastRatio, parseColor, over };

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <Root />
  </StrictMode>,
);
