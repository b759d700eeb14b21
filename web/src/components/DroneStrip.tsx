import type { StreamSummary } from '../lib/streams';
import { stripOf } from '../lib/streams';

interface Props {
  streams: readonly StreamSummary[];
}

/**
 * The live drones, above the video, when there is more than one: each with its name, its state
 * and its count with the honest band; the one on screen is marked. The sum across drones is
 * shown only with the warning that their views may overlap. With one drone: nothing.
 */
export function DroneStrip({ streams }: Props) {
  const strip = stripOf(streams);
  if (!strip) return null;
  return (
    <section className="drone-strip" aria-label="Drones" data-testid="drone-strip">
      <ul>
        {strip.items.map((i) => (
          <li
            key={i.key}
            className={`drone-card state-${i.state}${i.configured ? ' shown' : ''}`}
            data-testid="drone-card"
            data-stream={i.key}
            data-state={i.state}
            title={i.note ?? undefined}
          >
            <span className="drone-name">{i.name}</span>
            <span className="drone-count">
              {i.value}
              {i.band && <span className="drone-band"> ({i.band})</span>}
            </span>
            <span className="drone-where">{i.configured ? 'on screen' : i.note && i.state === 'refused' ? 'box at its limit' : '\u00a0'}</span>
          </li>
        ))}
      </ul>
      {strip.sum && (
        <p className="drone-sum" data-testid="drone-sum">
          <strong>
            {strip.sum.value}
            {strip.sum.band && <span className="drone-band"> ({strip.sum.band})</span>}
          </strong>{' '}
          <span>{strip.sum.warning}</span>
        </p>
      )}
    </section>
  );
}
