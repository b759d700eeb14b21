import type { Mask, Point, Zone, ZoneCount } from '../lib/api';
import { boxPointToFraction, fractionToBoxPoint, type Rect } from '../lib/align';
import { labelPoint, MIN_POINTS, shortName, svgPoints, type Shape, type ShapeEditor } from '../lib/shapes';
import { zoneCountText } from '../lib/zones';

interface Props {
  /** the displayed picture inside the stage (contentRect: bars excluded) */
  rect: Rect;
  /** the stage's size */
  boxW: number;
  boxH: number;
  /** the areas not counted: the daemon's, or the operator's draft while editing them */
  masks: readonly Mask[];
  /** the zones: the daemon's, or the operator's draft while editing them */
  zones: readonly Zone[];
  /** the zones' counts in the analysis the overlay is drawn from (matched by name) */
  zoneCounts: readonly ZoneCount[];
  /** the camera moves: the zones cover other ground, their counts are not shown */
  zonesPaused?: boolean;
  /** set while the operator draws masks or zones: taps then add corners */
  editor: ShapeEditor<Shape> | null;
  onTap: (p: Point, rect: Rect) => void;
}

/**
 * What the operator drew, over the picture for every viewer: the areas not counted, hatched; the
 * zones, outlined with their counts (red while alerting). While the operator edits, the polygon
 * being drawn and a tap target covering the whole stage (taps on the bars land on the picture's
 * edge).
 */
export function ShapeLayer({ rect, boxW, boxH, masks, zones, zoneCounts, zonesPaused = false, editor, onTap }: Props) {
  if (rect.w <= 0 || (!editor && masks.length === 0 && zones.length === 0)) return null;
  const drawing = editor?.drawing ?? null;
  const id = editor?.kind.id ?? 'mask';
  const onClick = (e: React.MouseEvent<SVGSVGElement>) => {
    const r = e.currentTarget.getBoundingClientRect();
    const p = boxPointToFraction(e.clientX - r.left, e.clientY - r.top, rect);
    if (p) onTap(p, rect);
  };
  const first = drawing?.length ? fractionToBoxPoint(drawing[0][0], drawing[0][1], rect) : null;
  const label = (points: readonly Point[]) => fractionToBoxPoint(...labelPoint(points), rect);
  return (
    <svg
      className={editor ? 'shapes editing' : 'shapes'}
      data-testid="masks"
      data-count={masks.length}
      width={boxW}
      height={boxH}
      viewBox={`0 0 ${boxW} ${boxH}`}
      onClick={editor ? onClick : undefined}
      role={editor ? 'application' : 'img'}
      aria-label={
        editor
          ? `Tap the corners of a${editor.kind.noun === 'area' ? 'n area not to count' : ` ${editor.kind.noun}`}`
          : [masks.length ? `Areas not counted: ${masks.map((m) => m.name).join(', ')}` : '', zones.length ? `Zones: ${zones.map((z) => z.name).join(', ')}` : ''].filter(Boolean).join('. ')
      }
    >
      <defs>
        <pattern id="mask-hatch" width="10" height="10" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">
          <rect width="10" height="10" fill="rgba(0,0,0,0.28)" />
          <line x1="0" y1="0" x2="0" y2="10" stroke="rgba(255,255,255,0.75)" strokeWidth="3" />
        </pattern>
      </defs>
      {masks.map((m, i) => {
        const l = label(m.points);
        return (
          <g key={`${i}-${m.name}`} data-testid="mask" data-name={m.name}>
            <polygon className="mask-area" points={svgPoints(m.points, rect)} fill="url(#mask-hatch)" />
            <text className="shape-label" x={l.x} y={l.y} textAnchor="middle" dominantBaseline="middle">
              <title>{m.name}</title>
              {shortName(m.name)}
            </text>
          </g>
        );
      })}
      {zones.map((z, i) => {
        const l = label(z.points);
        const c = zoneCounts.find((x) => x.name === z.name.trim());
        return (
          <g key={`${i}-${z.name}`} className={c?.alerting ? 'zone alerting' : 'zone'} data-testid="zone" data-name={z.name} data-count={c?.count} data-alerting={c ? String(c.alerting) : undefined}>
            <polygon className="zone-area" points={svgPoints(z.points, rect)} />
            <text className="shape-label" x={l.x} y={l.y} textAnchor="middle" dominantBaseline="middle">
              <title>{z.name}</title>
              <tspan x={l.x} dy="-0.6em">
                {shortName(z.name)}
              </tspan>
              <tspan x={l.x} dy="1.2em" className="zone-count" data-testid="zone-count-on-video">
                {zonesPaused ? 'paused' : c ? zoneCountText(c) : '–'}
              </tspan>
            </text>
          </g>
        );
      })}
      {drawing && (
        <g className="shape-drawing" data-testid={`${id}-drawing`} data-points={drawing.length}>
          <polyline points={svgPoints(drawing, rect)} />
          {drawing.map((p, i) => {
            const q = fractionToBoxPoint(p[0], p[1], rect);
            return <circle key={i} cx={q.x} cy={q.y} r={i === 0 ? 9 : 5} className={i === 0 ? 'first' : undefined} />;
          })}
          {first && drawing.length >= MIN_POINTS && <circle className="close-target" cx={first.x} cy={first.y} r={20} />}
        </g>
      )}
    </svg>
  );
}
