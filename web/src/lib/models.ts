// The counting model, as the operator manages it: the daemon's model shelf (what runs, what a
// rollback returns to), uploads and rollbacks (docs/api.md, "Models"). Data only: the view is
// components/ModelSection.tsx.

import { isObj } from './json';
import { OperatorError, operatorRequest } from './operator';

export interface ShelfEntry {
  name: string;
  sha256: string;
  bytes: number;
  added_ms: number;
  analysis_scale: number | null;
}

export interface ModelShelf {
  /** the uploaded model in use; null: the configured one (model.path) */
  current: ShelfEntry | null;
  /** what a rollback returns to; null: the configured one */
  previous: ShelfEntry | null;
  configured_path: string;
  max_upload_bytes: number;
}

function parseEntry(v: unknown): ShelfEntry | null {
  if (!isObj(v) || typeof v.name !== 'string' || typeof v.sha256 !== 'string') return null;
  return {
    name: v.name,
    sha256: v.sha256,
    bytes: typeof v.bytes === 'number' ? v.bytes : 0,
    added_ms: typeof v.added_ms === 'number' ? v.added_ms : 0,
    analysis_scale: typeof v.analysis_scale === 'number' ? v.analysis_scale : null,
  };
}

export function parseShelf(v: unknown): ModelShelf | null {
  if (!isObj(v) || typeof v.configured_path !== 'string') return null;
  return {
    current: parseEntry(v.current),
    previous: parseEntry(v.previous),
    configured_path: v.configured_path,
    max_upload_bytes: typeof v.max_upload_bytes === 'number' ? v.max_upload_bytes : 0,
  };
}

type FetchFn = typeof fetch;

async function answer(res: Response, what: string): Promise<ModelShelf> {
  const body: unknown = await res.json().catch(() => null);
  if (!res.ok) {
    const said = isObj(body) && typeof body.error === 'string' ? body.error : `${what}: HTTP ${res.status}`;
    throw new OperatorError(said, res.status);
  }
  const shelf = parseShelf(body);
  if (!shelf) throw new OperatorError(`${what}: the box's answer is not a model shelf`, res.status);
  return shelf;
}

export async function fetchShelf(fetchFn: FetchFn = fetch): Promise<ModelShelf> {
  let res: Response;
  try {
    res = await fetchFn('/api/operator/model', { cache: 'no-store', headers: { Accept: 'application/json' } });
  } catch (e) {
    throw new OperatorError(`The box did not answer (${e instanceof Error ? e.message : String(e)}).`, null);
  }
  return answer(res, 'Models');
}

/** Checks the file's size before sending it: the box refuses larger ones anyway. */
export function uploadProblem(file: { name: string; size: number }, maxBytes: number): string | null {
  if (!file.name.toLowerCase().endsWith('.onnx')) return `${file.name} is not an .onnx model file.`;
  if (file.size === 0) return `${file.name} is empty.`;
  if (maxBytes > 0 && file.size > maxBytes) return `${file.name} is ${mb(file.size)}; the box takes models up to ${mb(maxBytes)}.`;
  return null;
}

export async function uploadModel(file: Blob & { name: string }, fetchFn: FetchFn = fetch): Promise<ModelShelf> {
  let res: Response;
  try {
    res = await fetchFn(`/api/operator/model?name=${encodeURIComponent(file.name)}`, {
      method: 'PUT',
      cache: 'no-store',
      headers: { Accept: 'application/json', 'Content-Type': 'application/octet-stream' },
      body: file,
    });
  } catch (e) {
    throw new OperatorError(`The upload did not reach the box (${e instanceof Error ? e.message : String(e)}).`, null);
  }
  return answer(res, 'Upload');
}

export async function rollbackModel(fetchFn?: FetchFn): Promise<ModelShelf> {
  const shelf = parseShelf(await operatorRequest('POST', 'model/rollback', undefined, fetchFn));
  if (!shelf) throw new OperatorError('Rollback: the box’s answer is not a model shelf', null);
  return shelf;
}

export function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(bytes < 10e6 ? 1 : 0)} MB`;
}

/** What runs, in words. */
export function modelText(shelf: ModelShelf): string {
  const c = shelf.current;
  if (!c) return `The configured model (${shelf.configured_path.split('/').pop() || shelf.configured_path}).`;
  const scale = c.analysis_scale !== null ? `, counts at scale ${c.analysis_scale.toFixed(2)} unless calibrated` : '';
  return `${c.name} (uploaded, ${mb(c.bytes)}${scale}).`;
}

/** What a rollback would do, in words; null when there is nothing to roll back to. */
export function rollbackText(shelf: ModelShelf): string | null {
  if (!shelf.current && !shelf.previous) return null;
  return shelf.previous ? `Back to ${shelf.previous.name}` : 'Back to the configured model';
}
