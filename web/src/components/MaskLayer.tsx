import type { Mask, Point } from '../lib/api';
import { boxPointToFraction, fractionToBoxPoint, type Rect } from '../lib/align';
import { labelPoint, MIN_POINTS, svgPoints, type MaskEditor } from '../lib/masks';

interface Props {
  /** the displayed picture inside the stage (contentRect: bars excluded) */
  rect: Rect;
  /** the stage's size */
  boxW: number;
  boxH: number;
  /** the masks to draw: the daemon's, or the operator's draft while editing */
  masks: readonly Mask[];
  /** set while the operator edits: taps then add corners */
  editor: MaskEditor | null;
  onTap: (p: Point, rect: Rect) => void;
}

/**
 * The areas not counted, hatched over the picture for every viewer; while the operator edits, the
 * polygon being drawn and a tap target covering the whole stage (taps on the bars land on the
 * picture's edge).
 */
export function MaskLayer({ rect, boxW, boxH, masks, editor, onTap }: Props) {
  if (rect.w <= 0 || (!editor && masks.length === 0)) return null;
  const drawing = editor?.drawing ?? null;
  const onClick = (e: React.MouseEvent<SVGSVGElement>) => {
    const r = e.currentTarget.getBoundingClientRect();
    const p = boxPointToFraction(e.clientX - r.left, e.clientY - r.top, rect);
    if (p) onTap(p, rect);
  };
  const first = drawing?.length ? fractionToBoxPoint(drawing[0][0], drawing[0][1], rect) : null;
  return (
    <svg
      className={editor ? 'masks editing' : 'masks'}
      data-testid="masks"
      data-count={masks.length}
      width={boxW}
      height={boxH}
      viewBox={`0 0 ${boxW} ${boxH}`}
      onClick={editor ? onClick : undefined}
      role={editor ? 'application' : 'img'}
      aria-label={editor ? 'Tap the corners of an area not to count' : `Areas not counted: ${masks.map((m) => m.name).join(', ')}`}
    >
      <defs>
        <pattern id="mask-hatch" width="10" height="10" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">
          <rect width="10" height="10" fill="rgba(0,0,0,0.28)" />
          <line x1="0" y1="0" x2="0" y2="10" stroke="rgba(255,255,255,0.75)" strokeWidth="3" />
        </pattern>
      </defs>
      {masks.map((m, i) => {
        const l = fractionToBoxPoint(...labelPoint(m.points), rect);
        return (
          <g key={`${i}-${m.name}`} data-testid="mask" data-name={m.name}>
            <polygon className="mask-area" points={svgPoints(m.points, rect)} fill="url(#mask-hatch)" />
            <text className="mask-label" x={l.x} y={l.y} textAnchor="middle" dominantBaseline="middle">
              {m.name}
            </text>
          </g>
        );
      })}
      {drawing && (
        <g className="mask-drawing" data-testid="mask-drawing" data-points={drawing.length}>
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
