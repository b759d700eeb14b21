// Pairing by approval, as the operator sees it (docs/api.md, `/api/operator/pairing`): the drones
// that tried to stream without the key and wait for the operator, the addresses allowed, and
// allowing, refusing and revoking. Operator only: a viewer's dashboard never asks. Data only:
// the view is components/DroneRequests.tsx.

import { fmtClock } from './format';
import { arr, isObj, num, str } from './json';
import { OperatorError, operatorRequest } from './operator';

/** What the hotspot's DHCP server knows of the address. */
export interface Client {
  mac: string;
  name: string | null;
}

export interface DroneRequest {
  address: string;
  path: string;
  first_ms: number;
  last_ms: number;
  attempts: number;
  client: Client | null;
}

export interface Approval {
  address: string;
  path: string;
  approved_ms: number;
  expires_ms: number;
  client: Client | null;
}

export interface Pairing {
  enabled: boolean;
  approval_minutes: number;
  /** newest first */
  requests: DroneRequest[];
  /** newest first */
  approvals: Approval[];
}

function parseClient(v: unknown): Client | null {
  if (!isObj(v) || typeof v.mac !== 'string') return null;
  return { mac: v.mac, name: str(v.name) };
}

function parseRequest(v: unknown): DroneRequest | null {
  if (!isObj(v)) return null;
  const address = str(v.address);
  const path = str(v.path);
  const last = num(v.last_ms);
  if (!address || !path || last === null) return null;
  return { address, path, first_ms: num(v.first_ms) ?? last, last_ms: last, attempts: num(v.attempts) ?? 1, client: parseClient(v.client) };
}

function parseApproval(v: unknown): Approval | null {
  if (!isObj(v)) return null;
  const address = str(v.address);
  const path = str(v.path);
  const approved = num(v.approved_ms);
  const expires = num(v.expires_ms);
  if (!address || !path || approved === null || expires === null) return null;
  return { address, path, approved_ms: approved, expires_ms: expires, client: parseClient(v.client) };
}

/** The daemon's answer; null when it is not one (an older daemon answers 404 before this). */
export function parsePairing(v: unknown): Pairing | null {
  if (!isObj(v) || typeof v.enabled !== 'boolean') return null;
  return {
    enabled: v.enabled,
    approval_minutes: num(v.approval_minutes) ?? 0,
    requests: arr(v.requests).map(parseRequest).filter((r): r is DroneRequest => r !== null),
    approvals: arr(v.approvals).map(parseApproval).filter((a): a is Approval => a !== null),
  };
}

type FetchFn = typeof fetch;

/** The requests and approvals; null when this daemon does not offer pairing at all (404). */
export async function fetchPairing(fetchFn: FetchFn = fetch): Promise<Pairing | null> {
  let res: Response;
  try {
    res = await fetchFn('/api/operator/pairing', { cache: 'no-store', headers: { Accept: 'application/json' } });
  } catch (e) {
    throw new OperatorError(`The box did not answer (${e instanceof Error ? e.message : String(e)}).`, null);
  }
  if (res.status === 404) return null;
  const body: unknown = await res.json().catch(() => null);
  if (!res.ok) {
    const said = isObj(body) && typeof body.error === 'string' ? body.error : `Drones waiting: HTTP ${res.status}`;
    throw new OperatorError(said, res.status);
  }
  return parsePairing(body);
}

export type Choice = Pick<DroneRequest, 'address' | 'path'>;

const choice = (c: Choice) => ({ address: c.address, path: c.path });

export async function allowDrone(c: Choice, fetchFn?: FetchFn): Promise<Approval | null> {
  const answer = await operatorRequest('POST', 'pairing/allow', choice(c), fetchFn);
  return isObj(answer) ? parseApproval(answer.approval) : null;
}

export async function refuseDrone(c: Choice, fetchFn?: FetchFn): Promise<void> {
  await operatorRequest('POST', 'pairing/refuse', choice(c), fetchFn);
}

/** Revokes an approval; answers how many of its streams the box ended. */
export async function revokeDrone(c: Choice, fetchFn?: FetchFn): Promise<number> {
  const answer = await operatorRequest('POST', 'pairing/revoke', choice(c), fetchFn);
  return isObj(answer) ? (num(answer.ended) ?? 0) : 0;
}

/** "A drone at 192.168.50.23 wants to stream to live/north". */
export function requestText(r: Choice): string {
  return `A drone at ${r.address} wants to stream to ${r.path}`;
}

/** Who it is, as the hotspot knows it: "DJI-RC (aa:bb:cc:dd:ee:01)", or null. */
export function clientText(c: Client | null): string | null {
  if (!c) return null;
  return c.name ? `${c.name} (${c.mac})` : c.mac;
}

/** When it asked: "since 14:05:09, 3 tries" or "at 14:05:09". */
export function askedText(r: DroneRequest): string {
  return r.attempts > 1 ? `since ${fmtClock(r.first_ms)}, ${r.attempts} tries` : `at ${fmtClock(r.last_ms)}`;
}

/** "until 14:05:09 tomorrow" style: the clock time it ends, with the day when not today. */
export function untilText(a: Approval, now: number): string {
  const ends = new Date(a.expires_ms);
  const today = new Date(now);
  const sameDay = ends.toDateString() === today.toDateString();
  return sameDay ? `until ${fmtClock(a.expires_ms)}` : `until ${ends.toLocaleDateString()} ${fmtClock(a.expires_ms)}`;
}

/** What to say after Allow: the pilot must start again (MediaMTX asked when it connected). */
export function allowedText(r: Choice): string {
  return `${r.address} may stream to ${r.path}: the pilot taps Start (Go live) again.`;
}

/** How long an approval lasts, in words: "a day", "12 hours", "90 minutes". */
export function approvalLength(minutes: number): string {
  if (minutes === 1440) return 'a day';
  if (minutes % 1440 === 0) return `${minutes / 1440} days`;
  if (minutes % 60 === 0) return minutes === 60 ? 'an hour' : `${minutes / 60} hours`;
  return `${minutes} minutes`;
}
