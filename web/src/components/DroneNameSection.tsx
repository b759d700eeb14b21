import { useEffect, useState } from 'react';
import { renameDrone } from '../lib/operator';

interface Props {
  /** the drone named: its stream, or null for the configured drone */
  stream: string | null;
  /** the name it has (the operator's), null: none */
  name: string | null;
  /** what the strip shows without a name (its path's last part) */
  fallback: string;
  onNote: (n: { text: string; error: boolean } | null) => void;
}

/** The operator names the drone on screen (several drones: the strip shows the name). */
export function DroneNameSection({ stream, name, fallback, onNote }: Props) {
  const [typed, setTyped] = useState(name ?? '');
  const [busy, setBusy] = useState(false);
  // Another drone on screen, or a name saved elsewhere: the field shows it.
  useEffect(() => setTyped(name ?? ''), [name, stream]);

  const save = async () => {
    setBusy(true);
    try {
      const kept = await renameDrone(typed.trim() === '' ? null : typed, stream);
      setTyped(kept ?? '');
      onNote({ text: kept ? `This drone is now called “${kept}”.` : `This drone has no name of its own: the strip shows “${fallback}”.`, error: false });
    } catch (e) {
      onNote({ text: e instanceof Error ? e.message : String(e), error: true });
    } finally {
      setBusy(false);
    }
  };

  return (
    <>
      <h3>Name of this drone</h3>
      <form
        className="op-actions drone-name-form"
        onSubmit={(e) => {
          e.preventDefault();
          void save();
        }}
      >
        <input
          type="text"
          value={typed}
          maxLength={64}
          placeholder={fallback}
          aria-label="Name of this drone (at most 64 characters; empty: its path's name)"
          onChange={(e) => setTyped(e.target.value)}
          data-testid="drone-name-input"
        />
        <button type="submit" disabled={busy || typed.trim() === (name ?? '')} data-testid="drone-name-save">
          Save name
        </button>
      </form>
    </>
  );
}
