import { describe, expect, it } from 'vitest';
import { allowDrone, allowedText, approvalLength, askedText, clientText, fetchPairing, parsePairing, refuseDrone, requestText, revokeDrone } from './drones';
import { sessionEvents } from './operator';

// The daemon's answer as docs/api.md gives it (GET /api/operator/pairing).
const answer = {
  enabled: true,
  approval_minutes: 1440,
  requests: [
    { address: '192.168.50.23', path: 'live/north', first_ms: 1765000000000, last_ms: 1765000009000, attempts: 3, protocol: 'rtmp', client: { mac: 'aa:bb:cc:dd:ee:01', name: 'DJI-RC' } },
    { address: '10.0.0.9', path: 'live/drone', first_ms: 1765000001000, last_ms: 1765000001000, attempts: 1, protocol: 'rtmp', client: null },
    { address: 42, path: 'live/drone' },
  ],
  approvals: [{ address: '192.168.50.24', path: 'live/drone', approved_ms: 1765000000000, expires_ms: 1765086400000, client: { mac: 'aa:bb:cc:dd:ee:02', name: null } }],
};

describe('drones waiting for the operator', () => {
  it('parses the daemon answer, dropping what does not fit, and words each request', () => {
    const p = parsePairing(answer)!;
    expect(p.enabled).toBe(true);
    expect(p.requests.map((r) => r.address)).toEqual(['192.168.50.23', '10.0.0.9']);
    const [north, stranger] = p.requests;
    expect(requestText(north)).toBe('A drone at 192.168.50.23 wants to stream to live/north');
    expect(clientText(north.client)).toBe('DJI-RC (aa:bb:cc:dd:ee:01)');
    expect(clientText(stranger.client)).toBeNull();
    expect(clientText(p.approvals[0].client)).toBe('aa:bb:cc:dd:ee:02');
    expect(askedText(north)).toMatch(/^since \d\d:\d\d:\d\d, 3 tries$/);
    expect(askedText(stranger)).toMatch(/^at \d\d:\d\d:\d\d$/);
    expect(allowedText(north)).toBe('192.168.50.23 may stream to live/north: the pilot taps Start (Go live) again.');
    expect(parsePairing({ requests: [] })).toBeNull();
    expect(parsePairing(null)).toBeNull();
    expect(approvalLength(1440)).toBe('a day');
    expect(approvalLength(2880)).toBe('2 days');
    expect(approvalLength(60)).toBe('an hour');
    expect(approvalLength(720)).toBe('12 hours');
    expect(approvalLength(90)).toBe('90 minutes');
  });

  it('asks with no cache, and reads an older daemon (404) as no pairing', async () => {
    const seen: { url: string; init?: RequestInit }[] = [];
    const ok: typeof fetch = async (url, init) => {
      seen.push({ url: String(url), init });
      return new Response(JSON.stringify(answer), { status: 200 });
    };
    expect((await fetchPairing(ok))!.requests).toHaveLength(2);
    expect(seen[0].url).toBe('/api/operator/pairing');
    expect(seen[0].init?.cache).toBe('no-store');
    const old: typeof fetch = async () => new Response('{"error": "not found"}', { status: 404 });
    expect(await fetchPairing(old)).toBeNull();
  });

  it('allows, refuses and revokes exactly the address and path, and says why the box refused', async () => {
    const seen: { url: string; init?: RequestInit }[] = [];
    const box: typeof fetch = async (url, init) => {
      seen.push({ url: String(url), init });
      if (String(url).endsWith('/allow')) return new Response(JSON.stringify({ approval: answer.approvals[0] }), { status: 200 });
      if (String(url).endsWith('/revoke')) return seen.length === 3 ? new Response(JSON.stringify({ revoked: true, ended: 1 }), { status: 200 }) : new Response(JSON.stringify({ error: '192.168.50.24 is not allowed to stream to live/drone' }), { status: 404 });
      return new Response('{"refused": true}', { status: 200 });
    };
    const c = { address: '192.168.50.24', path: 'live/drone' };
    expect((await allowDrone(c, box))!.expires_ms).toBe(1765086400000);
    await refuseDrone(c, box);
    expect(await revokeDrone(c, box)).toBe(1);
    await expect(revokeDrone(c, box)).rejects.toThrow('192.168.50.24 is not allowed to stream to live/drone');
    expect(seen.map((s) => [s.url, s.init?.method, s.init?.body])).toEqual([
      ['/api/operator/pairing/allow', 'POST', JSON.stringify(c)],
      ['/api/operator/pairing/refuse', 'POST', JSON.stringify(c)],
      ['/api/operator/pairing/revoke', 'POST', JSON.stringify(c)],
      ['/api/operator/pairing/revoke', 'POST', JSON.stringify(c)],
    ]);
  });

  it('a viewer (no session) is told to sign in, and the page hears the session ended', async () => {
    let ended = 0;
    const on = () => ended++;
    sessionEvents.addEventListener('ended', on);
    const refused: typeof fetch = async () => new Response('{"error": "sign in as the operator first"}', { status: 401 });
    await expect(allowDrone({ address: '192.168.50.23', path: 'live/drone' }, refused)).rejects.toMatchObject({ status: 401 });
    await expect(fetchPairing(refused)).rejects.toMatchObject({ status: 401 });
    sessionEvents.removeEventListener('ended', on);
    expect(ended).toBe(1);
  });
});
