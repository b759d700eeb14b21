// A small WHEP (WebRTC-HTTP Egress Protocol) player for MediaMTX: one recvonly
// RTCPeerConnection, the whole offer (ICE gathered, no trickle) POSTed as application/sdp,
// the answer set from the body, the session DELETEd on teardown, and reconnection with
// backoff. No STUN/TURN: the box is an offline hotspot, host candidates are all there is.

export type WhepState =
  | 'idle'
  | 'connecting'
  | 'connected'
  | 'no-stream' // MediaMTX answered 404: nobody publishes on the path (the drone is not streaming)
  | 'unreachable' // the request failed: MediaMTX absent, blocked, or the network is down
  | 'failed' // any other error: HTTP error, ICE/DTLS failure, lost connection
  | 'stopped';

export interface WhepStatus {
  state: WhepState;
  detail: string | null;
  /** consecutive failed attempts */
  attempt: number;
  /** when the next attempt is due (Date.now() clock), while waiting for it */
  retryAt: number | null;
}

export class WhepError extends Error {
  readonly kind: 'no-stream' | 'unreachable' | 'failed';
  readonly status: number | null;
  constructor(kind: 'no-stream' | 'unreachable' | 'failed', message: string, status: number | null = null) {
    super(message);
    this.kind = kind;
    this.status = status;
  }
}

export interface BackoffOptions {
  baseMs: number;
  capMs: number;
  /** ± fraction of random spread, so many viewers do not retry in lockstep */
  jitter: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 1000, capMs: 10_000, jitter: 0.2 };

/** Delay before retry number `attempt` (1 = first retry): base·2^(attempt-1), capped, jittered. */
export function backoffDelay(attempt: number, o: BackoffOptions = DEFAULT_BACKOFF, rand: () => number = Math.random): number {
  const exp = o.baseMs * Math.pow(2, Math.max(0, attempt - 1));
  const d = Math.min(o.capMs, exp);
  return Math.round(d * (1 + o.jitter * (2 * rand() - 1)));
}

/** The WHEP session URL from a Location header, which may be relative to the endpoint. */
export function resolveLocation(location: string | null, endpoint: string): string | null {
  if (!location) return null;
  try {
    return new URL(location, endpoint).toString();
  } catch {
    return null;
  }
}

/** Resolves when ICE gathering completes, or after `timeoutMs` with what was gathered. */
export function waitForIceGathering(pc: RTCPeerConnection, timeoutMs: number): Promise<void> {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener('icegatheringstatechange', check);
      resolve();
    };
    const check = () => {
      if (pc.iceGatheringState === 'complete') done();
    };
    const timer = setTimeout(done, timeoutMs);
    pc.addEventListener('icegatheringstatechange', check);
  });
}

export interface NegotiateResult {
  location: string | null;
}

/** One WHEP exchange on a fresh peer connection. Throws WhepError. */
export async function negotiate(
  pc: RTCPeerConnection,
  endpoint: string,
  fetchFn: typeof fetch,
  opts: { gatherTimeoutMs: number; signal?: AbortSignal },
): Promise<NegotiateResult> {
  pc.addTransceiver('video', { direction: 'recvonly' });
  pc.addTransceiver('audio', { direction: 'recvonly' });
  const offer = await pc.createOffer();
  await pc.setLocalDescription(offer);
  await waitForIceGathering(pc, opts.gatherTimeoutMs);
  const sdp = pc.localDescription?.sdp ?? offer.sdp ?? '';
  let res: Response;
  try {
    res = await fetchFn(endpoint, {
      method: 'POST',
      headers: { 'Content-Type': 'application/sdp' },
      body: sdp,
      signal: opts.signal,
    });
  } catch (e) {
    throw new WhepError('unreachable', `WHEP endpoint unreachable: ${(e as Error)?.message ?? e}`);
  }
  if (res.status === 404) throw new WhepError('no-stream', 'no stream on the path yet', 404);
  if (!res.ok) {
    let why = '';
    try {
      why = (await res.text()).slice(0, 200);
    } catch {
      /* body unreadable */
    }
    throw new WhepError('failed', `WHEP HTTP ${res.status}${why ? `: ${why}` : ''}`, res.status);
  }
  const answer = await res.text();
  const location = resolveLocation(res.headers.get('Location'), endpoint);
  try {
    await pc.setRemoteDescription({ type: 'answer', sdp: answer });
  } catch (e) {
    if (location) void fetchFn(location, { method: 'DELETE', keepalive: true }).catch(() => undefined);
    throw new WhepError('failed', `bad SDP answer: ${(e as Error)?.message ?? e}`);
  }
  return { location };
}

export interface WhepPlayerOptions {
  url: string;
  onStatus: (s: WhepStatus) => void;
  /** the received media, or null when the session ends */
  onStream: (stream: MediaStream | null) => void;
  fetch?: typeof fetch;
  createPeerConnection?: (config: RTCConfiguration) => RTCPeerConnection;
  backoff?: BackoffOptions;
  /** backoff while nobody publishes: keep it short so the video appears soon after the drone */
  noStreamBackoff?: BackoffOptions;
  gatherTimeoutMs?: number;
  /** how long to wait for ICE to connect after the answer */
  connectTimeoutMs?: number;
  /** how long a 'disconnected' connection may take to recover */
  disconnectGraceMs?: number;
  random?: () => number;
}

/** Plays a WHEP endpoint and keeps doing so: every failure schedules a new session. */
export class WhepPlayer {
  private o: Required<Omit<WhepPlayerOptions, 'fetch' | 'createPeerConnection'>> & {
    fetch: typeof fetch;
    createPeerConnection: (config: RTCConfiguration) => RTCPeerConnection;
  };
  private pc: RTCPeerConnection | null = null;
  private location: string | null = null;
  private gen = 0;
  private attempt = 0;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private watchTimer: ReturnType<typeof setTimeout> | null = null;
  private abort: AbortController | null = null;
  private running = false;
  private status: WhepStatus = { state: 'idle', detail: null, attempt: 0, retryAt: null };

  constructor(opts: WhepPlayerOptions) {
    this.o = {
      backoff: DEFAULT_BACKOFF,
      noStreamBackoff: { baseMs: 1000, capMs: 4000, jitter: 0.2 },
      gatherTimeoutMs: 1500,
      connectTimeoutMs: 10_000,
      disconnectGraceMs: 4000,
      random: Math.random,
      ...opts,
      fetch: opts.fetch ?? ((input, init) => fetch(input, init)),
      createPeerConnection: opts.createPeerConnection ?? ((c) => new RTCPeerConnection(c)),
    };
  }

  get current(): WhepStatus {
    return this.status;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.attempt = 0;
    void this.connect();
  }

  stop(): void {
    this.running = false;
    this.teardown();
    this.clearRetry();
    this.setStatus('stopped', null);
  }

  /** Retries at once with the backoff reset (e.g. the daemon saw the drone appear). */
  kick(): void {
    if (!this.running) return;
    if (this.status.state === 'connected' || this.status.state === 'connecting') return;
    this.clearRetry();
    this.attempt = 0;
    void this.connect();
  }

  /** Drops the session and reconnects (e.g. the video stopped advancing). */
  restart(reason: string): void {
    if (!this.running) return;
    this.fail(new WhepError('failed', reason));
  }

  private setStatus(state: WhepState, detail: string | null, retryAt: number | null = null): void {
    this.status = { state, detail, attempt: this.attempt, retryAt };
    this.o.onStatus(this.status);
  }

  private clearRetry(): void {
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  private clearWatch(): void {
    if (this.watchTimer !== null) clearTimeout(this.watchTimer);
    this.watchTimer = null;
  }

  private teardown(): void {
    this.gen++;
    this.clearWatch();
    this.abort?.abort();
    this.abort = null;
    const pc = this.pc;
    this.pc = null;
    if (pc) {
      pc.ontrack = null;
      pc.onconnectionstatechange = null;
      try {
        pc.close();
      } catch {
        /* already closed */
      }
      this.o.onStream(null);
    }
    const loc = this.location;
    this.location = null;
    if (loc) void this.o.fetch(loc, { method: 'DELETE', keepalive: true }).catch(() => undefined);
  }

  private async connect(): Promise<void> {
    this.teardown();
    const gen = this.gen;
    this.setStatus('connecting', null);
    let pc: RTCPeerConnection;
    try {
      pc = this.o.createPeerConnection({ iceServers: [], bundlePolicy: 'max-bundle' });
    } catch (e) {
      this.fail(new WhepError('failed', `WebRTC unavailable: ${(e as Error)?.message ?? e}`));
      return;
    }
    this.pc = pc;
    let stream: MediaStream | null = null;
    pc.ontrack = (ev) => {
      if (gen !== this.gen) return;
      if (ev.streams[0]) stream = ev.streams[0];
      else {
        stream ??= new MediaStream();
        stream.addTrack(ev.track);
      }
      this.o.onStream(stream);
    };
    pc.onconnectionstatechange = () => {
      if (gen !== this.gen) return;
      const cs = pc.connectionState;
      if (cs === 'connected') {
        this.clearWatch();
        this.attempt = 0;
        this.setStatus('connected', null);
      } else if (cs === 'failed' || cs === 'closed') {
        this.fail(new WhepError('failed', `connection ${cs}`));
      } else if (cs === 'disconnected') {
        this.clearWatch();
        this.watchTimer = setTimeout(() => {
          if (gen === this.gen && pc.connectionState !== 'connected') this.fail(new WhepError('failed', 'connection lost'));
        }, this.o.disconnectGraceMs);
      }
    };
    const abort = new AbortController();
    this.abort = abort;
    try {
      const r = await negotiate(pc, this.o.url, this.o.fetch, { gatherTimeoutMs: this.o.gatherTimeoutMs, signal: abort.signal });
      if (gen !== this.gen) {
        if (r.location) void this.o.fetch(r.location, { method: 'DELETE', keepalive: true }).catch(() => undefined);
        return;
      }
      this.location = r.location;
      if (pc.connectionState !== 'connected') {
        this.watchTimer = setTimeout(() => {
          if (gen === this.gen && pc.connectionState !== 'connected') this.fail(new WhepError('failed', 'ICE did not connect'));
        }, this.o.connectTimeoutMs);
      }
    } catch (e) {
      if (gen !== this.gen) return;
      this.fail(e instanceof WhepError ? e : new WhepError('failed', String((e as Error)?.message ?? e)));
    }
  }

  private fail(err: WhepError): void {
    this.teardown();
    if (!this.running) return;
    this.attempt++;
    const delay = backoffDelay(this.attempt, err.kind === 'no-stream' ? this.o.noStreamBackoff : this.o.backoff, this.o.random);
    this.clearRetry();
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.connect();
    }, delay);
    this.setStatus(err.kind, err.message, Date.now() + delay);
  }
}
