// The operator's sign-in (docs/security.md): viewers need none; the operator signs in with the
// passphrase shown on the box's console (or set in skycount.toml) and then sees the pilot's
// publish URL and may change what the box counts. The session is an HttpOnly cookie the browser
// keeps and sends by itself: no script here ever sees it.

export interface Session {
  operator: boolean;
  /** seconds left of the session, when signed in */
  expiresInS: number | null;
  /** the operator may change the passphrase here (false: it is set in skycount.toml) */
  changeable: boolean;
  /** why nobody can sign in on this box, when nobody can */
  unavailable: string | null;
}

export const VIEWER: Session = { operator: false, expiresInS: null, changeable: false, unavailable: null };

type FetchFn = typeof fetch;

export function parseSession(v: unknown): Session | null {
  if (typeof v !== 'object' || v === null) return null;
  const o = v as Record<string, unknown>;
  if (typeof o.operator !== 'boolean') return null;
  return {
    operator: o.operator,
    expiresInS: typeof o.expires_in_s === 'number' && Number.isFinite(o.expires_in_s) ? o.expires_in_s : null,
    changeable: o.changeable === true,
    unavailable: typeof o.unavailable === 'string' ? o.unavailable : null,
  };
}

/** A refused sign-in, in words; `retryAfterS` when the box asks to wait. */
export class SignInError extends Error {
  constructor(
    message: string,
    readonly status: number | null,
    readonly retryAfterS: number | null = null,
  ) {
    super(message);
    this.name = 'SignInError';
  }
}

/** What a refused answer means for a person. */
export function refusalText(status: number, said: string | null, retryAfterS: number | null): string {
  if (status === 401) return 'Wrong passphrase.';
  if (status === 429) return `Too many wrong passphrases: wait ${retryAfterS ?? 'a few'} s, then try again.`;
  if (status === 403) return said ?? 'Refused: open the dashboard from the box’s own address.';
  return said ?? `The box answered HTTP ${status}.`;
}

async function send(method: 'GET' | 'POST' | 'PUT', path: string, body: unknown, fetchFn: FetchFn): Promise<unknown> {
  let res: Response;
  try {
    res = await fetchFn(path, {
      method,
      cache: 'no-store',
      credentials: 'same-origin',
      headers: body === undefined ? { Accept: 'application/json' } : { Accept: 'application/json', 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new SignInError(`The box did not answer (${e instanceof Error ? e.message : String(e)}).`, null);
  }
  const parsed: unknown = await res.json().catch(() => null);
  if (!res.ok) {
    const said = typeof parsed === 'object' && parsed !== null && typeof (parsed as { error?: unknown }).error === 'string' ? (parsed as { error: string }).error : null;
    const retry = Number(res.headers.get('Retry-After'));
    const retryAfterS = Number.isFinite(retry) && retry > 0 ? retry : null;
    throw new SignInError(refusalText(res.status, said, retryAfterS), res.status, retryAfterS);
  }
  return parsed;
}

export async function fetchSession(fetchFn: FetchFn = fetch): Promise<Session> {
  return parseSession(await send('GET', '/api/auth/session', undefined, fetchFn)) ?? VIEWER;
}

export async function signIn(passphrase: string, fetchFn: FetchFn = fetch): Promise<void> {
  await send('POST', '/api/auth/login', { passphrase }, fetchFn);
}

export async function signOut(fetchFn: FetchFn = fetch): Promise<void> {
  await send('POST', '/api/auth/logout', {}, fetchFn);
}

export async function changePassphrase(current: string, next: string, fetchFn: FetchFn = fetch): Promise<void> {
  await send('PUT', '/api/auth/passphrase', { current, new: next }, fetchFn);
}
