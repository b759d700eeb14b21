import { describe, expect, it, vi } from 'vitest';
import { backoffDelay, negotiate, resolveLocation, waitForIceGathering, WhepError, WhepPlayer, type WhepStatus } from './whep';

/** Just enough of RTCPeerConnection for the WHEP client. */
class FakePC extends EventTarget {
  iceGatheringState: RTCIceGatheringState = 'new';
  connectionState: RTCPeerConnectionState = 'new';
  localDescription: { type: string; sdp: string } | null = null;
  remote: { type: string; sdp: string } | null = null;
  transceivers: [string, string | undefined][] = [];
  closed = false;
  ontrack: ((ev: unknown) => void) | null = null;
  onconnectionstatechange: (() => void) | null = null;
  constructor(
    readonly config: RTCConfiguration,
    private gatherMs = 1,
  ) {
    super();
  }
  addTransceiver(kind: string, init?: RTCRtpTransceiverInit) {
    this.transceivers.push([kind, init?.direction]);
  }
  async createOffer() {
    return { type: 'offer' as const, sdp: 'v=0\r\noffer\r\n' };
  }
  async setLocalDescription(d: { type: string; sdp: string }) {
    this.localDescription = { ...d };
    this.iceGatheringState = 'gathering';
    setTimeout(() => {
      this.localDescription = { type: d.type, sdp: d.sdp + 'a=candidate:1 1 udp 1 192.168.50.20 5000 typ host\r\n' };
      this.iceGatheringState = 'complete';
      this.dispatchEvent(new Event('icegatheringstatechange'));
    }, this.gatherMs);
  }
  async setRemoteDescription(d: { type: string; sdp: string }) {
    if (!d.sdp.startsWith('v=0')) throw new Error('not SDP');
    this.remote = d;
  }
  close() {
    this.closed = true;
  }
  setConnection(s: RTCPeerConnectionState) {
    this.connectionState = s;
    this.onconnectionstatechange?.();
  }
  track(stream: unknown) {
    this.ontrack?.({ streams: [stream], track: {} });
  }
}

const asPC = (p: FakePC) => p as unknown as RTCPeerConnection;
const URL_ = 'http://192.168.50.1:8889/live/drone/whep';

function answer(status = 201, body = 'v=0\r\nanswer\r\n', location: string | null = '/live/drone/whep/abc') {
  const headers = new Headers({ 'Content-Type': 'application/sdp' });
  if (location) headers.set('Location', location);
  return new Response(status === 204 ? null : body, { status, headers });
}

const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));
async function until(cond: () => boolean, ms = 1000) {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('timed out');
    await tick(2);
  }
}

describe('backoffDelay', () => {
  const o = { baseMs: 1000, capMs: 10_000, jitter: 0.2 };
  it('doubles up to the cap', () => {
    const mid = () => 0.5; // no jitter
    expect([1, 2, 3, 4, 5, 6].map((a) => backoffDelay(a, o, mid))).toEqual([1000, 2000, 4000, 8000, 10_000, 10_000]);
  });
  it('spreads by the jitter', () => {
    expect(backoffDelay(1, o, () => 0)).toBe(800);
    expect(backoffDelay(1, o, () => 1)).toBe(1200);
    expect(backoffDelay(50, o, () => 1)).toBe(12_000);
  });
});

describe('resolveLocation', () => {
  it('resolves relative session URLs against the endpoint', () => {
    expect(resolveLocation('/live/drone/whep/abc', URL_)).toBe('http://192.168.50.1:8889/live/drone/whep/abc');
    expect(resolveLocation('abc', URL_)).toBe('http://192.168.50.1:8889/live/drone/abc');
    expect(resolveLocation('http://x:1/s', URL_)).toBe('http://x:1/s');
    expect(resolveLocation(null, URL_)).toBeNull();
  });
});

describe('waitForIceGathering', () => {
  it('resolves when gathering completes', async () => {
    const pc = new FakePC({}, 5);
    await pc.setLocalDescription({ type: 'offer', sdp: 'v=0\r\n' });
    await waitForIceGathering(asPC(pc), 1000);
    expect(pc.iceGatheringState).toBe('complete');
  });
  it('gives up after the timeout', async () => {
    const pc = new FakePC({}, 10_000);
    pc.iceGatheringState = 'gathering';
    const t0 = Date.now();
    await waitForIceGathering(asPC(pc), 20);
    expect(Date.now() - t0).toBeLessThan(500);
  });
});

describe('negotiate', () => {
  it('POSTs the gathered recvonly offer as application/sdp and applies the answer', async () => {
    const pc = new FakePC({});
    const fetchFn = vi.fn(async () => answer());
    const r = await negotiate(asPC(pc), URL_, fetchFn as unknown as typeof fetch, { gatherTimeoutMs: 1000 });
    expect(pc.transceivers).toEqual([
      ['video', 'recvonly'],
      ['audio', 'recvonly'],
    ]);
    expect(fetchFn).toHaveBeenCalledTimes(1);
    const [url, init] = fetchFn.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe(URL_);
    expect(init.method).toBe('POST');
    expect((init.headers as Record<string, string>)['Content-Type']).toBe('application/sdp');
    expect(init.body).toContain('a=candidate:'); // the full offer, after gathering
    expect(pc.remote).toEqual({ type: 'answer', sdp: 'v=0\r\nanswer\r\n' });
    expect(r.location).toBe('http://192.168.50.1:8889/live/drone/whep/abc');
  });

  it('reports 404 as "no stream"', async () => {
    const p = negotiate(asPC(new FakePC({})), URL_, (async () => answer(404, 'no one is publishing', null)) as unknown as typeof fetch, {
      gatherTimeoutMs: 100,
    });
    await expect(p).rejects.toMatchObject({ kind: 'no-stream', status: 404 });
  });

  it('reports a network error as "unreachable"', async () => {
    const p = negotiate(asPC(new FakePC({})), URL_, (async () => {
      throw new TypeError('Failed to fetch');
    }) as unknown as typeof fetch, { gatherTimeoutMs: 100 });
    await expect(p).rejects.toMatchObject({ kind: 'unreachable' });
  });

  it('reports other HTTP errors with their status', async () => {
    const p = negotiate(asPC(new FakePC({})), URL_, (async () => answer(500, 'boom', null)) as unknown as typeof fetch, {
      gatherTimeoutMs: 100,
    });
    await expect(p).rejects.toBeInstanceOf(WhepError);
    await expect(p).rejects.toMatchObject({ kind: 'failed', status: 500 });
  });

  it('deletes the session when the answer is unusable', async () => {
    const calls: [string, string][] = [];
    const fetchFn = (async (url: string, init: RequestInit) => {
      calls.push([url, init.method ?? 'GET']);
      return init.method === 'POST' ? answer(201, 'garbage') : new Response(null, { status: 200 });
    }) as unknown as typeof fetch;
    await expect(negotiate(asPC(new FakePC({})), URL_, fetchFn, { gatherTimeoutMs: 100 })).rejects.toMatchObject({ kind: 'failed' });
    expect(calls).toEqual([
      [URL_, 'POST'],
      ['http://192.168.50.1:8889/live/drone/whep/abc', 'DELETE'],
    ]);
  });
});

describe('WhepPlayer', () => {
  function setup(responses: (() => Response | Promise<Response>)[]) {
    const pcs: FakePC[] = [];
    const calls: [string, string][] = [];
    const statuses: WhepStatus[] = [];
    const streams: unknown[] = [];
    let n = 0;
    const fetchFn = (async (url: string, init: RequestInit) => {
      calls.push([url, init.method ?? 'GET']);
      if (init.method === 'DELETE') return new Response(null, { status: 200 });
      const r = responses[Math.min(n++, responses.length - 1)];
      return r();
    }) as unknown as typeof fetch;
    const player = new WhepPlayer({
      url: URL_,
      fetch: fetchFn,
      createPeerConnection: (c) => {
        const pc = new FakePC(c);
        pcs.push(pc);
        return asPC(pc);
      },
      onStatus: (s) => statuses.push(s),
      onStream: (s) => streams.push(s),
      backoff: { baseMs: 5, capMs: 20, jitter: 0 },
      noStreamBackoff: { baseMs: 5, capMs: 20, jitter: 0 },
      gatherTimeoutMs: 50,
      connectTimeoutMs: 200,
      disconnectGraceMs: 20,
    });
    return { player, pcs, calls, statuses, streams };
  }

  it('connects without STUN servers, plays, and DELETEs the session on stop', async () => {
    const { player, pcs, calls, statuses, streams } = setup([() => answer()]);
    player.start();
    await until(() => pcs[0]?.remote !== null && pcs.length === 1 && calls.length === 1);
    await tick(5);
    expect(pcs[0].config.iceServers).toEqual([]);
    const media = { id: 'stream' };
    pcs[0].track(media);
    pcs[0].setConnection('connected');
    expect(player.current.state).toBe('connected');
    expect(streams).toEqual([media]);
    player.stop();
    expect(pcs[0].closed).toBe(true);
    expect(calls).toContainEqual(['http://192.168.50.1:8889/live/drone/whep/abc', 'DELETE']);
    expect(statuses.map((s) => s.state)).toEqual(['connecting', 'connected', 'stopped']);
    expect(streams[streams.length - 1]).toBeNull();
  });

  it('waits for the drone: retries after 404 until the stream appears', async () => {
    const { player, pcs, statuses } = setup([() => answer(404, 'no', null), () => answer(404, 'no', null), () => answer()]);
    player.start();
    await until(() => pcs.length === 3 && pcs[2].remote !== null);
    const states = statuses.map((s) => s.state);
    expect(states.slice(0, 4)).toEqual(['connecting', 'no-stream', 'connecting', 'no-stream']);
    expect(statuses[1].retryAt).not.toBeNull();
    expect(statuses[3].attempt).toBe(2);
    expect(pcs[0].closed && pcs[1].closed).toBe(true);
    player.stop();
  });

  it('reconnects when the connection fails, tearing the old session down', async () => {
    const { player, pcs, calls } = setup([() => answer()]);
    player.start();
    await until(() => pcs[0]?.remote !== null);
    await tick(5);
    pcs[0].setConnection('connected');
    pcs[0].setConnection('failed');
    expect(pcs[0].closed).toBe(true);
    expect(calls.filter((c) => c[1] === 'DELETE').length).toBe(1);
    expect(player.current.state).toBe('failed');
    await until(() => pcs.length === 2 && pcs[1].remote !== null);
    pcs[1].setConnection('connected');
    expect(player.current).toMatchObject({ state: 'connected', attempt: 0 });
    player.stop();
  });

  it('gives a lost connection a grace period, then reconnects', async () => {
    const { player, pcs } = setup([() => answer()]);
    player.start();
    await until(() => pcs[0]?.remote !== null);
    await tick(5);
    pcs[0].setConnection('connected');
    pcs[0].setConnection('disconnected');
    expect(pcs[0].closed).toBe(false);
    await until(() => pcs.length === 2);
    expect(pcs[0].closed).toBe(true);
    player.stop();
  });

  it('reports an absent MediaMTX as unreachable and keeps trying', async () => {
    const { player, pcs, statuses } = setup([
      () => {
        throw new TypeError('Failed to fetch');
      },
    ]);
    player.start();
    await until(() => pcs.length >= 3);
    expect(statuses.some((s) => s.state === 'unreachable')).toBe(true);
    player.stop();
    const n = pcs.length;
    await tick(50);
    expect(pcs.length).toBe(n); // stopped means stopped
  });

  it('kick() retries at once with the backoff reset', async () => {
    const { player, pcs } = setup([() => answer(404, 'no', null), () => answer()]);
    // a long backoff that only kick() can cut short
    (player as unknown as { o: { noStreamBackoff: object } }).o.noStreamBackoff = { baseMs: 60_000, capMs: 60_000, jitter: 0 };
    player.start();
    await until(() => player.current.state === 'no-stream');
    player.kick();
    await until(() => pcs.length === 2 && pcs[1].remote !== null);
    expect(player.current.state).toBe('connecting');
    player.stop();
  });

  it('restart() drops a stalled session', async () => {
    const { player, pcs } = setup([() => answer()]);
    player.start();
    await until(() => pcs[0]?.remote !== null);
    await tick(5);
    pcs[0].setConnection('connected');
    player.restart('video stalled');
    expect(player.current).toMatchObject({ state: 'failed', detail: 'video stalled' });
    await until(() => pcs.length === 2);
    player.stop();
  });
});
