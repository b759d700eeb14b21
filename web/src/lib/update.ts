// Software updates of the box (docs/api.md, "Software update"; docs/update.md): what runs, what
// the other slot holds, what the updater is doing, the last update's outcome; the operator's
// upload (with the browser's own upload progress) and reboot. Data only: the views are
// components/UpdateSection.tsx and the Software row of components/HealthPanel.tsx.

import { isObj, num, str, bool, type Obj } from './json';
import { OperatorError, operatorRequest } from './operator';

export type UpdateState = 'idle' | 'receiving' | 'checking' | 'installing' | 'installed' | 'rebooting';
export type Outcome = 'refused' | 'failed' | 'installed' | 'updated' | 'rolled-back' | 'interrupted';

export interface Activity {
  state: UpdateState;
  bundle: string | null;
  version: string | null;
  /** RAUC's percentage and step while it installs */
  percent: number | null;
  step: string | null;
  /** bytes received of total, while an upload arrives */
  bytes: number | null;
  total: number | null;
  /** the slot it was installed into */
  slot: string | null;
  source: string | null;
}

export interface LastUpdate {
  outcome: Outcome | string;
  version: string | null;
  bundle: string | null;
  source: string | null;
  message: string;
  at_ms: number | null;
}

export interface UpdateReport {
  available: boolean;
  reason: string | null;
  compatible: string | null;
  running: { slot: string | null; version: string | null; skycountd: string | null; system: string | null };
  other: { slot: string; version: string | null; installed_at: string | null; good: boolean | null; next_boot: boolean } | null;
  activity: Activity;
  last: LastUpdate | null;
  /** an update installed into the running slot, not yet confirmed healthy */
  confirming: { version: string | null; to: string } | null;
  max_bundle_bytes: number;
  can_reboot: boolean;
  usb: { bundle: string; note: string } | null;
}

const STATES: readonly UpdateState[] = ['idle', 'receiving', 'checking', 'installing', 'installed', 'rebooting'];

function parseActivity(v: unknown): Activity {
  const o: Obj = isObj(v) ? v : {};
  const state = STATES.find((s) => s === o.state) ?? 'idle';
  return {
    state,
    bundle: str(o.bundle),
    version: str(o.version),
    percent: num(o.percent),
    step: str(o.step),
    bytes: num(o.bytes),
    total: num(o.total),
    slot: str(o.slot),
    source: str(o.source),
  };
}

export function parseUpdate(v: unknown): UpdateReport | null {
  if (!isObj(v) || typeof v.available !== 'boolean') return null;
  const running: Obj = isObj(v.running) ? v.running : {};
  const other = isObj(v.other) && typeof v.other.slot === 'string' ? v.other : null;
  const last = isObj(v.last) && typeof v.last.outcome === 'string' ? v.last : null;
  const confirming = isObj(v.confirming) && typeof v.confirming.to === 'string' ? v.confirming : null;
  const usb = isObj(v.usb) && typeof v.usb.bundle === 'string' ? v.usb : null;
  return {
    available: v.available,
    reason: str(v.reason),
    compatible: str(v.compatible),
    running: { slot: str(running.slot), version: str(running.version), skycountd: str(running.skycountd), system: str(running.system) },
    other: other
      ? { slot: String(other.slot), version: str(other.version), installed_at: str(other.installed_at), good: bool(other.good), next_boot: other.next_boot === true }
      : null,
    activity: parseActivity(v.activity),
    last: last
      ? { outcome: String(last.outcome), version: str(last.version), bundle: str(last.bundle), source: str(last.source), message: str(last.message) ?? '', at_ms: num(last.at_ms) }
      : null,
    confirming: confirming ? { version: str(confirming.version), to: String(confirming.to) } : null,
    max_bundle_bytes: num(v.max_bundle_bytes) ?? 0,
    can_reboot: v.can_reboot === true,
    usb: usb ? { bundle: String(usb.bundle), note: str(usb.note) ?? '' } : null,
  };
}

type FetchFn = typeof fetch;

export async function fetchUpdate(fetchFn: FetchFn = fetch): Promise<UpdateReport> {
  let res: Response;
  try {
    res = await fetchFn('/api/update', { cache: 'no-store', headers: { Accept: 'application/json' } });
  } catch (e) {
    throw new OperatorError(`The box did not answer (${e instanceof Error ? e.message : String(e)}).`, null);
  }
  const body: unknown = await res.json().catch(() => null);
  const r = parseUpdate(body);
  if (!res.ok || !r) {
    const said = isObj(body) && typeof body.error === 'string' ? body.error : `Software update: HTTP ${res.status}`;
    throw new OperatorError(said, res.status);
  }
  return r;
}

export function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(bytes < 10e6 ? 1 : 0)} MB`;
}

/** Checks the file before sending it: the box refuses the same, after the upload. */
export function bundleProblem(file: { name: string; size: number }, maxBytes: number): string | null {
  if (!file.name.toLowerCase().endsWith('.raucb')) return `${file.name} is not a software update bundle (.raucb).`;
  if (file.size === 0) return `${file.name} is empty.`;
  if (maxBytes > 0 && file.size > maxBytes) return `${file.name} is ${mb(file.size)}; the box takes bundles up to ${mb(maxBytes)}.`;
  return null;
}

/** What XMLHttpRequest the upload needs: the part of it the tests replace. */
export interface UploadRequest {
  open(method: string, url: string): void;
  setRequestHeader(name: string, value: string): void;
  send(body: Blob): void;
  upload: { onprogress: ((e: { loaded: number; total: number; lengthComputable: boolean }) => void) | null };
  onload: (() => void) | null;
  onerror: (() => void) | null;
  status: number;
  responseText: string;
}

/**
 * Sends a bundle to the box (PUT /api/operator/update/bundle), reporting the bytes sent as they
 * go (fetch cannot tell). Resolves with the box's report once the install has started; rejects
 * with the box's own reason when it refuses (422, 413, 507, 409, 401...).
 */
export function uploadBundle(
  file: Blob & { name: string },
  onProgress: (sent: number, total: number) => void,
  makeRequest: () => UploadRequest = () => new XMLHttpRequest() as unknown as UploadRequest,
): Promise<UpdateReport> {
  return new Promise((resolve, reject) => {
    const xhr = makeRequest();
    xhr.open('PUT', `/api/operator/update/bundle?name=${encodeURIComponent(file.name)}`);
    xhr.setRequestHeader('Content-Type', 'application/octet-stream');
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : file.size);
    xhr.onerror = () => reject(new OperatorError('The upload did not reach the box (the connection broke off).', null));
    xhr.onload = () => {
      let body: unknown = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        body = null;
      }
      if (xhr.status >= 200 && xhr.status < 300) {
        const r = parseUpdate(body);
        if (r) resolve(r);
        else reject(new OperatorError('The box accepted the bundle but its answer is unreadable.', xhr.status));
        return;
      }
      const said = isObj(body) && typeof body.error === 'string' ? body.error : `The upload was refused (HTTP ${xhr.status}).`;
      reject(new OperatorError(said, xhr.status));
    };
    xhr.send(file);
  });
}

export async function requestReboot(fetchFn?: FetchFn): Promise<void> {
  await operatorRequest('POST', 'update/reboot', undefined, fetchFn);
}

/** The running software, in words: skycountd's version and the system image's, with its slot. */
export function runningText(r: UpdateReport): string {
  const parts = [];
  if (r.running.skycountd) parts.push(`skycountd ${r.running.skycountd}`);
  if (r.running.version) parts.push(`system ${r.running.version}`);
  const slot = r.running.slot ? ` (slot ${r.running.slot})` : '';
  return `${parts.join(' · ') || 'unknown version'}${slot}`;
}

/** The other slot, in words. */
export function otherText(r: UpdateReport): string {
  if (!r.other) return 'no other slot';
  const o = r.other;
  const what = o.version ? o.version : 'the version the box was flashed with';
  const state = o.next_boot ? ', starts at the next reboot' : o.good === false ? ', marked bad' : '';
  return `slot ${o.slot}: ${what}${state}`;
}

const OUTCOME_WORDS: Record<string, string> = {
  refused: 'refused',
  failed: 'failed',
  installed: 'installed, waiting for a reboot',
  updated: 'updated',
  'rolled-back': 'rolled back',
  interrupted: 'interrupted',
};

export function outcomeLevel(outcome: string): 'ok' | 'warn' | 'bad' {
  if (outcome === 'updated' || outcome === 'installed') return 'ok';
  if (outcome === 'refused' || outcome === 'interrupted') return 'warn';
  return 'bad';
}

/** The last update's outcome, in a few words (its message says the rest). */
export function lastText(last: LastUpdate | null): string {
  if (!last) return 'none yet';
  const v = last.version ? ` ${last.version}` : last.bundle ? ` ${last.bundle}` : '';
  return `${OUTCOME_WORDS[last.outcome] ?? last.outcome}${v}`;
}

/** What the updater is doing, in words; null when idle. */
export function activityText(a: Activity): string | null {
  switch (a.state) {
    case 'idle':
      return null;
    case 'receiving':
      return `Receiving ${a.bundle ?? 'the bundle'}${a.total ? `: ${Math.round(((a.bytes ?? 0) / a.total) * 100)} %` : a.bytes ? `: ${mb(a.bytes)}` : ''}`;
    case 'checking':
      return `Checking ${a.bundle ?? 'the bundle'} (signature, board)…`;
    case 'installing':
      return `Installing ${a.version ?? a.bundle ?? 'the update'}: ${a.percent ?? 0} % ${a.step ?? ''}`.trim();
    case 'installed':
      return `${a.version ?? 'The update'} is installed in slot ${a.slot ?? '?'}. It runs after a reboot; the box keeps counting until then.`;
    case 'rebooting':
      return `Rebooting into ${a.version ?? 'the update'}… The dashboard comes back in a minute or two.`;
  }
}

/** The one line viewers see in the health panel. */
export function softwareLine(r: UpdateReport): { text: string; level: 'ok' | 'warn' | 'bad' | undefined } {
  const busy = activityText(r.activity);
  if (busy && r.activity.state !== 'installed') return { text: busy, level: 'warn' };
  const parts = [runningText(r)];
  if (r.confirming) parts.push(`checking ${r.confirming.version ?? 'the update'} is healthy`);
  if (r.last) parts.push(`last update: ${lastText(r.last)}`);
  return { text: parts.join(' · '), level: r.last ? (r.last.outcome === 'refused' ? undefined : outcomeLevel(r.last.outcome)) : undefined };
}
