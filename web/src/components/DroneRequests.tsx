import { useCallback, useEffect, useState } from 'react';
import { allowDrone, allowedText, approvalLength, askedText, clientText, fetchPairing, refuseDrone, requestText, revokeDrone, untilText, type Choice, type Pairing } from '../lib/drones';

/** How often the operator's dashboard asks which drones wait (a pilot waits on it). */
const POLL_MS = 3000;
/** How long the outcome of Allow or Refuse stays shown. */
const NOTE_MS = 12_000;

/** The requests and approvals, read now and every `POLL_MS` while `active`. */
function usePairing(active: boolean): [Pairing | null, () => void] {
  const [pairing, setPairing] = useState<Pairing | null>(null);
  const [version, setVersion] = useState(0);
  const reload = useCallback(() => setVersion((v) => v + 1), []);
  useEffect(() => {
    if (!active) {
      setPairing(null);
      return;
    }
    let live = true;
    const read = () =>
      fetchPairing()
        .then((p) => live && setPairing(p))
        .catch(() => live && setPairing(null));
    read();
    const id = setInterval(read, POLL_MS);
    return () => {
      live = false;
      clearInterval(id);
    };
  }, [active, version]);
  return [pairing, reload];
}

interface Props {
  /** the signed-in operator (a viewer's page never asks, and shows nothing) */
  operator: boolean;
  /** a dialog covers the page */
  hidden?: boolean;
}

/**
 * "A drone at 192.168.50.23 wants to stream to live/drone — Allow / Refuse": the drones that
 * tried to stream without the key, for the operator, at the top of the page while any waits.
 */
export function DroneRequests({ operator, hidden = false }: Props) {
  const [pairing, reload] = usePairing(operator);
  const [busy, setBusy] = useState<string | null>(null);
  const [note, setNote] = useState<{ text: string; error: boolean } | null>(null);

  // An outcome is read, then goes (the list itself shows what is still waiting).
  useEffect(() => {
    if (!note) return;
    const id = setTimeout(() => setNote(null), NOTE_MS);
    return () => clearTimeout(id);
  }, [note]);

  const act = async (what: 'allow' | 'refuse', r: Choice) => {
    setBusy(`${r.address} ${r.path}`);
    try {
      if (what === 'allow') {
        await allowDrone(r);
        setNote({ text: allowedText(r), error: false });
      } else {
        await refuseDrone(r);
        setNote({ text: `Refused ${r.address}.`, error: false });
      }
    } catch (e) {
      setNote({ text: e instanceof Error ? e.message : String(e), error: true });
    } finally {
      setBusy(null);
      reload();
    }
  };

  if (!operator || hidden) return null;
  const requests = pairing?.requests ?? [];
  if (requests.length === 0 && !note) return null;
  return (
    <section className="drone-requests" aria-label="Drones waiting to stream" data-testid="drone-requests">
      {requests.length > 0 && (
        <ul>
          {requests.map((r) => {
            const key = `${r.address} ${r.path}`;
            const who = clientText(r.client);
            return (
              <li key={key} data-testid="drone-request" data-address={r.address} data-path={r.path}>
                <span className="drone-request-text">
                  <strong>{requestText(r)}</strong>
                  <span className="small">
                    {' '}
                    {who ? `${who}, ` : ''}
                    {askedText(r)}
                  </span>
                </span>
                <span className="op-actions">
                  <button type="button" className="primary" disabled={busy !== null} onClick={() => act('allow', r)} data-testid="drone-allow">
                    {busy === key ? '…' : 'Allow'}
                  </button>
                  <button type="button" disabled={busy !== null} onClick={() => act('refuse', r)} data-testid="drone-refuse">
                    Refuse
                  </button>
                </span>
              </li>
            );
          })}
        </ul>
      )}
      {note && (
        <p className={note.error ? 'op-note error' : 'op-note'} role={note.error ? 'alert' : 'status'} data-testid="drone-note">
          {note.text}
        </p>
      )}
    </section>
  );
}

/** The addresses allowed to stream without the key, with Revoke: in the operator's panel. */
export function ApprovedDrones({ onNote }: { onNote: (n: { text: string; error: boolean } | null) => void }) {
  const [pairing, reload] = usePairing(true);
  const [busy, setBusy] = useState(false);
  if (!pairing || !pairing.enabled) return null;
  const revoke = async (c: Choice) => {
    setBusy(true);
    try {
      const ended = await revokeDrone(c);
      onNote({ text: `${c.address} may no longer stream to ${c.path} without the key${ended > 0 ? ': its stream was ended' : ''}.`, error: false });
    } catch (e) {
      onNote({ text: e instanceof Error ? e.message : String(e), error: true });
    } finally {
      setBusy(false);
      reload();
    }
  };
  const now = Date.now();
  return (
    <>
      <h3>Drones allowed without the key</h3>
      {pairing.approvals.length === 0 ? (
        <p className="muted small" data-testid="approvals-none">
          None. A drone that streams to the box without the key is shown at the top of the page to allow or refuse; it may then stream for {approvalLength(pairing.approval_minutes)}.
        </p>
      ) : (
        <ul className="shape-list" data-testid="approvals">
          {pairing.approvals.map((a) => (
            <li key={`${a.address} ${a.path}`} data-testid="approval">
              <span className="shape-name">
                {a.address} → {a.path}
              </span>
              <span className="muted small">
                {clientText(a.client) ?? ''} {untilText(a, now)}
              </span>
              <button type="button" disabled={busy} onClick={() => revoke(a)} data-testid="approval-revoke">
                Revoke
              </button>
            </li>
          ))}
        </ul>
      )}
    </>
  );
}
