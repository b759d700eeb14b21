import type { StreamSummary } from '../lib/streams';
import { stripOf } from '../lib/streams';

interface Props {
  streams: readonly StreamSummary[];
  /** the drone on screen: another one's name, or null for the configured one */
  watching: string | null;
  /** show this drone (null: the configured one) */
  onWatch: (stream: string | null) => void;
}

/**
 * The live drones, above the video, when there is more than one: each with its name, its state
 * and its count with the honest band; the one on screen is marked. The sum across drones is
 * shown only with the warning that their views may overlap. With one drone: nothing.
 */
export function DroneStrip({ streams, watching, onWatch }: Props) {
  const strip = stripOf(streams);
  if (!strip) return null;
  const shownKey = watching ?? strip.items.find((i) => i.configured)?.key ?? null;
  return (
    <section className="drone-strip" aria-label="Drones" data-testid="drone-strip">
      <ul>
        {strip.items.map((i) => (
          <li key={i.key} data-testid="drone-card" data-stream={i.key} data-state={i.state}>
            <button
              type="button"
              className={`drone-card state-${i.state}${i.key === shownKey ? ' shown' : ''}`}
              aria-pressed={i.key === shownKey}
              disabled={i.state === 'refused'}
              title={i.note ?? undefined}
              onClick={() => onWatch(i.configured ? null : i.key)}
            >
              <span className="drone-name">{i.name}</span>
              <span className="drone-count">
                {i.value}
                {i.band && <span className="drone-band"> ({i.band})</span>}
              </span>
              <span className="drone-where">{i.key === shownKey ? 'on screen' : i.state === 'refused' ? 'box at its limit' : 'tap to show'}</span>
            </button>
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
