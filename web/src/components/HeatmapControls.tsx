import { legendGradient } from '../lib/colormap';
import { fmtDensity } from '../lib/format';

interface Props {
  on: boolean;
  opacity: number;
  /** people in the densest cell of the shown grid */
  max: number | null;
  onToggle: () => void;
  onOpacity: (v: number) => void;
}

const GRADIENT = legendGradient();

/** On/off, opacity and the colour legend of the heatmap layer. */
export function HeatmapControls({ on, opacity, max, onToggle, onOpacity }: Props) {
  return (
    <div className="controls" role="group" aria-label="Heatmap">
      <button type="button" className="toggle" aria-pressed={on} onClick={onToggle} data-testid="heatmap-toggle">
        Heatmap {on ? 'on' : 'off'}
      </button>
      <label className="opacity">
        <span>Opacity</span>
        <input
          type="range"
          min={10}
          max={100}
          step={5}
          value={Math.round(opacity * 100)}
          disabled={!on}
          onChange={(e) => onOpacity(Number(e.currentTarget.value) / 100)}
          data-testid="heatmap-opacity"
        />
      </label>
      <div className="legend" data-testid="legend" aria-label="Colour legend: people per cell">
        <div className="legend-bar" style={{ background: GRADIENT }} />
        <div className="legend-labels">
          <span>0</span>
          <span>people / cell</span>
          <span data-testid="legend-max">{max !== null ? fmtDensity(max) : '—'}</span>
        </div>
      </div>
    </div>
  );
}
