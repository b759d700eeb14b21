import { describe, expect, it } from 'vitest';
import { fetchSession, parseSession, refusalText, signIn, SignInError, VIEWER } from './auth';

const answer = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  (async () => new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json', ...headers } })) as unknown as typeof fetch;

describe('operator sign-in', () => {
  it('reads the session answer and falls back to a viewer', async () => {
    expect(parseSession({ operator: true, expires_in_s: 600, changeable: true, unavailable: null })).toEqual({
      operator: true,
      expiresInS: 600,
      changeable: true,
      unavailable: null,
    });
    expect(parseSession({})).toBeNull();
    expect(await fetchSession(answer(200, { nonsense: 1 }))).toEqual(VIEWER);
  });

  it('words refusals for a person, with the wait the box asks for', async () => {
    await expect(signIn('x', answer(401, { error: 'wrong passphrase' }))).rejects.toThrow('Wrong passphrase.');
    const err = await signIn('x', answer(429, { error: 'too many' }, { 'Retry-After': '8' })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SignInError);
    expect((err as SignInError).retryAfterS).toBe(8);
    expect((err as SignInError).message).toContain('wait 8 s');
    expect(refusalText(503, 'no operator passphrase: …', null)).toBe('no operator passphrase: …');
  });

  it('sends the passphrase as JSON to the login route', async () => {
    let seen: { url: string; init: RequestInit } | null = null;
    const f = (async (url: string, init: RequestInit) => {
      seen = { url, init };
      return new Response('{"operator":true}', { status: 200 });
    }) as unknown as typeof fetch;
    await signIn('pin-123456', f);
    expect(seen!.url).toBe('/api/auth/login');
    expect(seen!.init.method).toBe('POST');
    expect(JSON.parse(seen!.init.body as string)).toEqual({ passphrase: 'pin-123456' });
  });
});
