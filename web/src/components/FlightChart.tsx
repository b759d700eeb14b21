import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { chartData, type HistoryAlert, type SeriesPoint } from '../lib/history';
import { timeAxisLabels } from '../lib/format';
import { useElementSize } from '../hooks';

interface Props {
  series: readonly SeriesPoint[];
  alerts: readonly HistoryAlert[];
  height?: number;
  /** fixed width (the printed report); otherwise the chart follows its box */
  width?: number;
  /** black on white whatever the dashboard's theme (the printed report) */
  paper?: boolean;
  /** times to mark with a dashed line (where the calibration changed) */
  marks?: readonly { t_ms: number; label: string }[];
}

const PAPER: Record<string, string> = { '--fg': '#000', '--grid': 'rgba(0,0,0,0.16)', '--accent': '#0047b3', '--bad': '#b3001b', '--muted': '#555', '--mark': '#6b2fb3' };

const ZONE_COLOURS = ['#b35c00', '#007a5a', '#8f2fb3', '#b3002d', '#0077a8', '#5c6b00'];

function cssVar(name: string, fallback: string): string {
  const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return v || fallback;
}

/** A flight's count, smoothed count and zone counts over time, with its alerts as red lines. */
const NO_MARKS: readonly { t_ms: number; label: string }[] = [];

export function FlightChart({ series, alerts, height = 220, width, paper = false, marks = NO_MARKS }: Props) {
  const wrap = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const size = useElementSize(wrap);

  useEffect(() => {
    const el = wrap.current;
    if (!el) return;
    const data = chartData(series);
    const colour = (name: string) => (paper ? PAPER[name] : cssVar(name, PAPER[name]));
    const fg = colour('--fg');
    const grid = colour('--grid');
    const accent = colour('--accent');
    const bad = colour('--bad');
    const muted = colour('--muted');
    const mark = colour('--mark');
    const font = '600 12px system-ui, sans-serif';
    const raised = alerts.map((a) => a.raised_ms / 1000);
    const marked = marks.map((m) => m.t_ms / 1000);
    const u = new uPlot(
      {
        width: width ?? Math.max(240, el.clientWidth),
        height,
        legend: { show: true, live: false },
        cursor: { drag: { x: false, y: false } },
        scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(10, Math.ceil((max || 0) * 1.1))] } },
        series: [
          {},
          // each analysis's count thin and grey, the smoothed one thick: two swatches, not one
          { label: 'count', stroke: muted, width: 1, points: { show: false } },
          { label: 'smoothed', stroke: accent, width: 2.5, points: { show: false } },
          ...data.zones.map((z, i) => ({
            label: z.name,
            stroke: ZONE_COLOURS[i % ZONE_COLOURS.length],
            width: 2,
            dash: [6, 3],
            points: { show: false },
            spanGaps: false,
          })),
        ],
        axes: [
          { stroke: fg, font, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid }, space: 70, values: (_u, splits) => timeAxisLabels(splits) },
          { stroke: fg, font, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid }, size: 48, space: 30 },
        ],
        hooks: {
          // Each alert: a red line where it was raised.
          draw: [
            (p: uPlot) => {
              const ctx = p.ctx;
              ctx.save();
              ctx.lineWidth = 2 * devicePixelRatio;
              verticalLines(p, raised, bad);
              // Where the calibration changed: dashed, in its own colour.
              ctx.setLineDash([6 * devicePixelRatio, 4 * devicePixelRatio]);
              verticalLines(p, marked, mark);
              ctx.restore();
            },
          ],
        },
      },
      [data.xs, data.count, data.smoothed, ...data.zones.map((z) => z.values)] as uPlot.AlignedData,
      el,
    );
    plot.current = u;
    return () => {
      u.destroy();
      plot.current = null;
    };
  }, [series, alerts, height, width, paper, marks]);

  useEffect(() => {
    if (width === undefined && size.w > 0) plot.current?.setSize({ width: size.w, height });
  }, [size.w, width, height]);

  return <div className="chart flight-chart" ref={wrap} data-testid="flight-chart" data-marks={marks.length} role="img" aria-label="People over the flight" />;
}

/** A line across the plot at each time `ts` (seconds) inside it, in `colour`. */
function verticalLines(p: uPlot, ts: readonly number[], colour: string) {
  const ctx = p.ctx;
  ctx.strokeStyle = colour;
  for (const t of ts) {
    const x = p.valToPos(t, 'x', true);
    if (x < p.bbox.left || x > p.bbox.left + p.bbox.width) continue;
    ctx.beginPath();
    ctx.moveTo(x, p.bbox.top);
    ctx.lineTo(x, p.bbox.top + p.bbox.height);
    ctx.stroke();
  }
}
