// The operator's actions (docs/api.md, "Operator actions"): everything that changes what the box
// counts, under /api/operator/. The one place the coming operator login will protect: every
// request of the dashboard that changes the box goes through `operatorRequest`.

import { parseAlert, parseCalibration, parseMasks, parseProposal, parseZones, type Alert, type Calibration, type CalibrationProposal, type Mask, type Zone } from './api';
import type { CalibrationBody } from './calibration';

export interface FrozenFrame {
  /** as the daemon gave it (sent back unchanged) */
  frame_id: string | number;
  width: number;
  height: number;
  image_url: string;
}

/** A refused or failed operator request: the daemon's own sentence when it gave one. */
export class OperatorError extends Error {
  constructor(
    message: string,
    readonly status: number | null,
  ) {
    super(message);
    this.name = 'OperatorError';
  }
}

type FetchFn = typeof fetch;

/** What the dashboard says when the operator's session is gone (never an API path). */
export const SESSION_ENDED_TEXT = 'Your operator session has ended (the box restarted without keeping it, or it expired): sign in again.';

/**
 * Where the data layer says the operator's session is gone: every operator request answered 401
 * dispatches `ended` here, so the page drops what it may no longer show, whatever asked.
 */
export const sessionEvents = new EventTarget();

/** Whether a failed request means the operator's session is gone. */
export const sessionEnded = (e: unknown): boolean => e instanceof OperatorError && e.status === 401;

/** What a non-2xx answer means, in words (the daemon's own sentence when it gave one; never an
 * API path). */
function refusal(status: number, body: unknown): string {
  if (status === 401) return SESSION_ENDED_TEXT;
  const said = typeof body === 'object' && body !== null && typeof (body as { error?: unknown }).error === 'string' ? (body as { error: string }).error : null;
  if (said) return said;
  if (status === 409) return 'No video frame decoded yet: wait until the drone streams, then try again.';
  if (status === 404) return 'The box does not know this action: its skycountd may be older than this dashboard.';
  return `The box refused (HTTP ${status}).`;
}

export async function operatorRequest(method: 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown, fetchFn: FetchFn = fetch): Promise<unknown> {
  let res: Response;
  try {
    res = await fetchFn(`/api/operator/${path}`, {
      method,
      cache: 'no-store',
      headers: body === undefined ? { Accept: 'application/json' } : { Accept: 'application/json', 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new OperatorError(`The box did not answer (${e instanceof Error ? e.message : String(e)}).`, null);
  }
  const parsed: unknown = await res.json().catch(() => null);
  if (!res.ok) {
    if (res.status === 401) sessionEvents.dispatchEvent(new Event('ended'));
    throw new OperatorError(refusal(res.status, parsed), res.status);
  }
  return parsed;
}

export function parseFrozenFrame(v: unknown): FrozenFrame | null {
  if (typeof v !== 'object' || v === null) return null;
  const o = v as Record<string, unknown>;
  const id = o.frame_id;
  if (!(typeof id === 'string' && id !== '') && !(typeof id === 'number' && Number.isFinite(id))) return null;
  const { width, height } = o;
  if (typeof width !== 'number' || typeof height !== 'number' || !(width > 0) || !(height > 0)) return null;
  return {
    frame_id: id,
    width,
    height,
    image_url: typeof o.image_url === 'string' && o.image_url ? o.image_url : `/api/operator/frames/${encodeURIComponent(String(id))}.jpg`,
  };
}

/** An operator route for the drone `stream` (docs/api.md: `?stream=`; its calibration, masks and
 * zones are its own), or for the configured drone (null). */
export function forStream(path: string, stream: string | null): string {
  return stream ? `${path}${path.includes('?') ? '&' : '?'}stream=${encodeURIComponent(stream)}` : path;
}

/** Keeps the newest decoded frame (of the drone `stream`, null: the configured one) at its native size. */
export async function freezeFrame(stream: string | null, fetchFn?: FetchFn): Promise<FrozenFrame> {
  const f = parseFrozenFrame(await operatorRequest('POST', forStream('freeze', stream), undefined, fetchFn));
  if (!f) throw new OperatorError('The box answered the freeze with something unexpected.', null);
  return f;
}

/** Computes and judges a calibration on the frozen frame: a proposal, nothing applied yet. */
export async function proposeCalibration(body: CalibrationBody, stream: string | null, fetchFn?: FetchFn): Promise<CalibrationProposal> {
  const p = parseProposal(await operatorRequest('POST', forStream('calibration', stream), body, fetchFn));
  if (!p) throw new OperatorError('The box answered the calibration with something unexpected (its skycountd may be older than this dashboard).', null);
  return p;
}

/** Applies a proposal (on the drone it was made for); answers the calibration as the box keeps it. */
export async function applyCalibration(id: string, stream: string | null, fetchFn?: FetchFn): Promise<Calibration> {
  const c = parseCalibration(await operatorRequest('POST', forStream(`calibration/${encodeURIComponent(id)}/apply`, stream), undefined, fetchFn));
  if (!c) throw new OperatorError('The box answered the calibration with something unexpected.', null);
  return c;
}

export async function resetCalibration(stream: string | null, fetchFn?: FetchFn): Promise<void> {
  await operatorRequest('DELETE', forStream('calibration', stream), undefined, fetchFn);
}

/** Saves the masks (fractions of the frame); answers the masks as the daemon kept them. */
export async function saveMasks(body: { masks: Mask[] }, stream: string | null, fetchFn?: FetchFn): Promise<Mask[]> {
  const answer = await operatorRequest('PUT', forStream('masks', stream), body, fetchFn);
  const list = typeof answer === 'object' && answer !== null && !Array.isArray(answer) ? (answer as { masks?: unknown }).masks : answer;
  return Array.isArray(list) ? parseMasks(list) : body.masks;
}

/** Saves the zones (fractions of the frame, limits); answers the zones as the daemon kept them. */
export async function saveZones(body: { zones: Zone[] }, stream: string | null, fetchFn?: FetchFn): Promise<Zone[]> {
  const answer = await operatorRequest('PUT', forStream('zones', stream), body, fetchFn);
  const list = typeof answer === 'object' && answer !== null && !Array.isArray(answer) ? (answer as { zones?: unknown }).zones : null;
  return Array.isArray(list) ? parseZones(list) : body.zones;
}

/** Names the drone `stream` (null: the configured one); `name` null or blank: no name. Answers the
 * name as kept. */
export async function renameDrone(name: string | null, stream: string | null, fetchFn?: FetchFn): Promise<string | null> {
  const answer = await operatorRequest('PUT', forStream('name', stream), { name }, fetchFn);
  const kept = typeof answer === 'object' && answer !== null ? (answer as { name?: unknown }).name : null;
  return typeof kept === 'string' ? kept : null;
}

/** Acknowledges an open alert; answers the alert as it is now. */
export async function acknowledgeAlert(id: number, fetchFn?: FetchFn): Promise<Alert> {
  const a = parseAlert(await operatorRequest('POST', `alerts/${encodeURIComponent(String(id))}/ack`, undefined, fetchFn));
  if (!a) throw new OperatorError('The box answered the acknowledgement with something unexpected.', null);
  return a;
}

/** The one sentence to show about a calibration. */
export function calibrationText(c: Calibration | null): string {
  if (!c) return 'Not calibrated: the box counts at its default scale.';
  if (c.message) return c.message;
  const parts = ['calibrated'];
  if (c.factor !== null) parts.push(`factor ${c.factor.toFixed(2)}`);
  if (c.agreement !== null) parts.push(`agreement in your box ${Math.round(c.agreement * 100)} %`);
  return parts.join(', ');
}

/**
 * What the operator just set, shown until the daemon's status says the same (or `holdMs` passed):
 * the status event does not always follow an operator action at once.
 */
export function preferRecent<T>(fromStatus: T, recent: { value: T; at: number } | null, same: (a: T, b: T) => boolean, now: number, holdMs = 15_000): T {
  if (!recent || now - recent.at > holdMs || same(fromStatus, recent.value)) return fromStatus;
  return recent.value;
}
