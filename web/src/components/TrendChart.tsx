import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { TrendWindow } from '../lib/trend';
import type { Theme } from '../lib/settings';
import { timeAxisLabels } from '../lib/format';
import { useElementSize } from '../hooks';

interface Props {
  trend: TrendWindow;
  /** bumps whenever a point was added */
  version: number;
  windowMin: number;
  theme: Theme;
}

const HEIGHT = 150;

function cssVar(name: string, fallback: string): string {
  const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return v || fallback;
}

/** The count over the last minutes (uPlot); the time axis scrolls with the clock. */
export function TrendChart({ trend, version, windowMin, theme }: Props) {
  const wrap = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const windowS = useRef(windowMin * 60);
  windowS.current = windowMin * 60;
  const size = useElementSize(wrap);

  const refresh = () => {
    const u = plot.current;
    if (!u) return;
    const [xs, ys, ss] = trend.series(Date.now(), windowS.current * 1000);
    u.setData([xs as unknown as number[], ys as unknown as number[], ss as unknown as number[]]);
  };

  useEffect(() => {
    const el = wrap.current;
    if (!el) return;
    const fg = cssVar('--fg', '#000');
    const grid = cssVar('--grid', 'rgba(0,0,0,0.15)');
    const line = cssVar('--accent', '#0a58ca');
    const fill = cssVar('--accent-fill', 'rgba(10,88,202,0.18)');
    const thin = cssVar('--muted', '#3d3d3d');
    const font = '600 13px system-ui, sans-serif';
    const u = new uPlot(
      {
        width: Math.max(200, el.clientWidth),
        height: HEIGHT,
        legend: { show: false },
        cursor: { drag: { x: false, y: false }, points: { size: 8 } },
        scales: {
          x: {
            time: true,
            range: () => {
              const now = Date.now() / 1000;
              return [now - windowS.current, now];
            },
          },
          y: { range: (_u, _min, max) => [0, Math.max(10, Math.ceil((max || 0) * 1.15))] },
        },
        series: [
          {},
          // each analysis's own count: thin and grey; the smoothed count the big number shows: thick
          { label: 'this frame', stroke: thin, width: 1, points: { show: false }, spanGaps: false },
          { label: 'smoothed', stroke: line, width: 2.5, fill, points: { show: false }, spanGaps: false },
        ],
        axes: [
          { stroke: fg, font, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid }, space: 70, values: (_u, splits) => timeAxisLabels(splits) },
          { stroke: fg, font, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid }, size: 44, space: 30 },
        ],
      },
      [[], [], []],
      el,
    );
    plot.current = u;
    refresh();
    const id = setInterval(refresh, 1000);
    return () => {
      clearInterval(id);
      u.destroy();
      plot.current = null;
    };
    // refresh only reads refs and the (stable) trend object
  }, [theme, trend]);

  useEffect(refresh, [version, windowMin]);

  useEffect(() => {
    if (size.w > 0) plot.current?.setSize({ width: size.w, height: HEIGHT });
  }, [size.w]);

  return (
    <div
      className="chart"
      ref={wrap}
      data-testid="trend-chart"
      aria-label={`People over the last ${windowMin} minutes: the smoothed count (thick) and each analysis's own (thin)`}
      role="img"
    />
  );
}
