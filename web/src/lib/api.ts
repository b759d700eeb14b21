// Types and parsers mirroring docs/api.md (skycountd's HTTP and Socket.IO API).
// Parsers are defensive: the daemon is a separate program and a field box may run
// an older or newer one, so anything malformed becomes null instead of a crash.

import { parseHistoryReport, type HistoryReport } from './history';
import { bool, isObj, num, str } from './json';
import { parseStreams, type StreamSummary } from './streams';

export type StreamState = 'waiting' | 'live' | 'stalled' | 'reconnecting';

export interface DensityGrid {
  width: number;
  height: number;
  /** people in the densest cell; cell value = data/255 * max */
  max: number;
  /** base64 of width*height u8, row-major, top-left first */
  data: string;
}

export interface Analysis {
  /** the drone's stream (`live_drone`); null from an older daemon */
  stream: string | null;
  seq: number;
  count: number;
  inference_ms: number;
  staleness_ms: number;
  frame_pts_ms: number | null;
  wall_time_ms: number;
  input_width: number;
  input_height: number;
  density: DensityGrid;
  /** made from the daemon's built-in demo recording because no drone streams (optional on the
   * wire; false when absent) */
  demo: boolean;
  /** the decoded frame the analysis was made from (native size); null from an older daemon */
  frame_width: number | null;
  frame_height: number | null;
  /** model runs this analysis took */
  tiles: number | null;
  /** the model's sum, masks applied, before the calibration's factor */
  raw_count: number | null;
  /** median count of the last analysis.smooth_ms; null from an older daemon */
  smoothed: number | null;
  /** the honest range around `smoothed` (low ≤ high); null when absent or malformed */
  band: [number, number] | null;
  /** a calibration from the operator's taps is applied (false when absent) */
  calibrated: boolean;
  /** per-zone counts, in the order of the stream's zones ([] when absent) */
  zones: ZoneCount[];
  /** whether the drone's camera moves (zones are paused while it does); null from an older
   * daemon */
  camera: CameraState | null;
}

/** `analysis.camera`: whether the camera moves, and whether zones are paused for it. */
export interface CameraState {
  /** the picture had texture enough to tell */
  judged: boolean;
  moving: boolean;
  /** the view is not the one the zones were set on */
  away: boolean;
  zones_paused: boolean;
  /** frame widths per second */
  speed: number | null;
}

/** A point: frame pixels or fractions of the frame, depending on where it is used. */
export type Point = [number, number];

/** An area not counted, in fractions of the frame (0..1). */
export interface Mask {
  name: string;
  points: Point[];
}

/** An area counted on its own, in fractions of the frame (0..1), with an optional limit. */
export interface Zone {
  name: string;
  points: Point[];
  /** people; null: no alert */
  limit: number | null;
}

/** One zone's part of an analysis. */
export interface ZoneCount {
  name: string;
  count: number;
  /** the zone's share of the whole count, 0..1 */
  share: number;
  limit: number | null;
  /** an alert is raised for this zone and not yet cleared */
  alerting: boolean;
}

/** A zone's count held above its limit (`alert` event, `status.alerts`). */
export interface Alert {
  id: number;
  stream: string;
  zone: string;
  limit: number;
  /** the zone's smoothed count when it was raised */
  count: number;
  raised_ms: number;
  cleared_ms: number | null;
  acknowledged_ms: number | null;
}

/** How the box analyses (`status.analysis`). */
export interface AnalysisReport {
  /** the analysis size in use; null before the first frame */
  width: number | null;
  height: number | null;
  /** analysis width / frame width */
  scale: number | null;
  /** calibration | default */
  from: string | null;
  tiles: number | null;
  /** analyses per second: what it costs */
  analysed_fps: number | null;
}

/** The operator's calibration of this stream path (`status.calibration`, the POST's answer). */
export interface Calibration {
  at_ms: number | null;
  scale: number | null;
  factor: number | null;
  frame_width: number | null;
  frame_height: number | null;
  /** x, y, width, height in the frozen frame's pixels */
  box: [number, number, number, number] | null;
  taps: number | null;
  model_in_box: number | null;
  agreement: number | null;
  expected_error: number | null;
  /** where the truth is expected, as multiples of the count */
  range: [number, number] | null;
  message: string | null;
  /** the box check's verdict; null from an older daemon or a calibration kept before */
  verdict: Verdict | null;
}

export type VerdictLevel = 'good' | 'doubtful' | 'refused';

/** How far a calibration can be trusted, why, and what to do (docs/accuracy.md). */
export interface Verdict {
  level: VerdictLevel;
  reason: string;
  advice: string;
}

/** One frame's count at one analysis size (a calibration's preview). */
export interface FrameCount {
  count: number;
  band: [number, number] | null;
  width: number | null;
  height: number | null;
  calibrated: boolean;
}

/** `POST /api/operator/calibration`'s answer: a calibration computed, not yet applied. */
export interface CalibrationProposal {
  id: string;
  calibration: Calibration;
  preview: { now: FrameCount | null; proposed: FrameCount | null };
  expiresInS: number | null;
}

/** What MediaMTX (the media server beside skycountd) says about the drone's stream. Every field
 * is optional on the wire; absent ones are null. */
export interface MediamtxReport {
  /** its Control API answered */
  reachable: boolean | null;
  /** a drone publishes */
  publisher: boolean | null;
  codec: string | null;
  /** one sentence for the dashboard */
  message: string | null;
  /** what to tell the pilot about B-frames, when it matters */
  b_frames_warning: string | null;
}

/** `status.model.building`: what the model's loading is doing that takes long, and for how long
 * (by the box's clock, so that a phone with another time still shows the right figure). */
export interface ModelBuilding {
  what: string;
  started_ms: number | null;
  elapsed_ms: number | null;
}

export interface Status {
  state: StreamState | string;
  state_since_ms: number | null;
  error: string | null;
  source: string | null;
  decoder: string | null;
  codec: string | null;
  execution_provider: string | null;
  model: {
    path: string | null;
    input_width: number | null;
    input_height: number | null;
    /** the running model's name (its card's, else its file's) */
    name: string | null;
    /** the analysis scale the model asks for (a fine-tuned model's card) */
    analysis_scale: number | null;
    /** when the running model was loaded, ms since the epoch */
    loaded_at_ms: number | null;
    /** the file that runs: path, or its INT8 twin */
    file: string | null;
    /** fp32 | fp16 | int8; null before a model loads */
    precision: string | null;
    /** why in those numbers, in words */
    precision_reason: string | null;
    /** a slow step of loading while it lasts (a TensorRT engine build) */
    building: ModelBuilding | null;
  } | null;
  rates: { decoded_fps: number | null; analysed_fps: number | null; skipped_fps: number | null } | null;
  totals: { frames_decoded: number | null; frames_skipped: number | null; frames_analysed: number | null } | null;
  last_inference_ms: number | null;
  last_staleness_ms: number | null;
  uptime_s: number | null;
  version: string | null;
  /** the demo recording is being analysed because no drone streams (false when absent) */
  demo: boolean;
  /** null when the daemon does not watch MediaMTX (or is older) */
  mediamtx: MediamtxReport | null;
  /** how the box analyses; null from an older daemon */
  analysis: AnalysisReport | null;
  /** null: not calibrated (or an older daemon) */
  calibration: Calibration | null;
  /** areas not counted; [] when absent */
  masks: Mask[];
  /** areas counted on their own; [] when absent */
  zones: Zone[];
  /** open alerts, oldest first; [] when absent */
  alerts: Alert[];
  /** the flight history's state; null from a daemon without one */
  history: HistoryReport | null;
  /** the MQTT publisher; null when absent (an older daemon) */
  mqtt: MqttReport | null;
  /** every drone's stream, the configured one first; [] when absent (an older daemon) */
  streams: StreamSummary[];
}

/** `status.mqtt`: is the box reaching its MQTT broker, and what waits or was lost. */
export interface MqttReport {
  enabled: boolean;
  connected: boolean;
  /** host:port */
  broker: string | null;
  client_id: string | null;
  queued: number | null;
  dropped: number | null;
  last_error: string | null;
}

export interface StreamInfo {
  path: string;
  whep_url: string;
  player_url: string | null;
  /** the request came with the operator's session: only then is `rtmp_url` given */
  operator: boolean;
  /** the whole URL the pilot enters in the drone app (the stream key included when there is
   * one); null for viewers, who never see the key */
  rtmp_url: string | null;
  snapshot_url: string;
  /** a QR code of `rtmp_url` (SVG); null: the daemon does not say, try `/api/stream/qr.svg` */
  qr_url: string | null;
  /** why `rtmp_url` has no stream key, when it has none */
  key_error: string | null;
}

export function parseDensity(v: unknown): DensityGrid | null {
  if (!isObj(v)) return null;
  const width = num(v.width);
  const height = num(v.height);
  const max = num(v.max);
  const data = str(v.data);
  if (width === null || height === null || max === null || data === null) return null;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) return null;
  if (width * height > 1 << 20) return null;
  return { width, height, max: Math.max(0, max), data };
}

export function parseAnalysis(v: unknown): Analysis | null {
  if (!isObj(v)) return null;
  const seq = num(v.seq);
  const count = num(v.count);
  const density = parseDensity(v.density);
  if (seq === null || count === null || density === null) return null;
  return {
    stream: str(v.stream),
    seq,
    count,
    inference_ms: num(v.inference_ms) ?? NaN,
    staleness_ms: num(v.staleness_ms) ?? NaN,
    frame_pts_ms: num(v.frame_pts_ms),
    wall_time_ms: num(v.wall_time_ms) ?? NaN,
    input_width: num(v.input_width) ?? density.width,
    input_height: num(v.input_height) ?? density.height,
    density,
    demo: v.demo === true,
    frame_width: num(v.frame_width),
    frame_height: num(v.frame_height),
    tiles: num(v.tiles),
    raw_count: num(v.raw_count),
    smoothed: num(v.smoothed),
    band: parseBand(v.band),
    calibrated: v.calibrated === true,
    zones: parseZoneCounts(v.zones),
    camera: parseCamera(v.camera),
  };
}

export function parseCamera(v: unknown): CameraState | null {
  if (!isObj(v)) return null;
  return {
    judged: v.judged === true,
    moving: v.moving === true,
    away: v.away === true,
    zones_paused: v.zones_paused === true,
    speed: num(v.speed),
  };
}

/** Per-zone counts; malformed entries are dropped. */
export function parseZoneCounts(v: unknown): ZoneCount[] {
  if (!Array.isArray(v)) return [];
  const out: ZoneCount[] = [];
  for (const z of v) {
    if (!isObj(z) || typeof z.name !== 'string') continue;
    const count = num(z.count);
    if (count === null) continue;
    out.push({ name: z.name, count, share: num(z.share) ?? 0, limit: num(z.limit), alerting: z.alerting === true });
  }
  return out;
}

/** Zones as the daemon keeps them; malformed entries are dropped, not the whole list. */
export function parseZones(v: unknown): Zone[] {
  if (!Array.isArray(v)) return [];
  const out: Zone[] = [];
  for (const z of v) {
    const [shape] = parseMasks([z]);
    if (shape && isObj(z)) out.push({ ...shape, limit: num(z.limit) });
  }
  return out;
}

/** An alert; null when malformed. */
export function parseAlert(v: unknown): Alert | null {
  if (!isObj(v)) return null;
  const id = num(v.id);
  const limit = num(v.limit);
  const raised = num(v.raised_ms);
  if (id === null || limit === null || raised === null || typeof v.zone !== 'string') return null;
  return {
    id,
    stream: str(v.stream) ?? '',
    zone: v.zone,
    limit,
    count: num(v.count) ?? NaN,
    raised_ms: raised,
    cleared_ms: num(v.cleared_ms),
    acknowledged_ms: num(v.acknowledged_ms),
  };
}

function parseAlerts(v: unknown): Alert[] {
  return Array.isArray(v) ? v.map(parseAlert).filter((a): a is Alert => a !== null) : [];
}

function parseBand(v: unknown): [number, number] | null {
  if (!Array.isArray(v) || v.length !== 2) return null;
  const lo = num(v[0]);
  const hi = num(v[1]);
  if (lo === null || hi === null || lo > hi) return null;
  return [lo, hi];
}

function parsePoint(v: unknown): Point | null {
  if (!Array.isArray(v) || v.length !== 2) return null;
  const x = num(v[0]);
  const y = num(v[1]);
  return x === null || y === null ? null : [x, y];
}

/** Masks as the daemon keeps them; malformed entries are dropped, not the whole list. */
export function parseMasks(v: unknown): Mask[] {
  if (!Array.isArray(v)) return [];
  const out: Mask[] = [];
  for (const m of v) {
    if (!isObj(m) || typeof m.name !== 'string' || !Array.isArray(m.points)) continue;
    const points = m.points.map(parsePoint);
    if (points.length < 3 || points.some((p) => p === null)) continue;
    out.push({ name: m.name, points: points as Point[] });
  }
  return out;
}

export function parseAnalysisReport(v: unknown): AnalysisReport | null {
  if (!isObj(v)) return null;
  return {
    width: num(v.width),
    height: num(v.height),
    scale: num(v.scale),
    from: str(v.from),
    tiles: num(v.tiles),
    analysed_fps: num(v.analysed_fps),
  };
}

export function parseCalibration(v: unknown): Calibration | null {
  if (!isObj(v)) return null;
  const b = Array.isArray(v.box) && v.box.length === 4 ? v.box.map(num) : null;
  return {
    at_ms: num(v.at_ms),
    scale: num(v.scale),
    factor: num(v.factor),
    frame_width: num(v.frame_width),
    frame_height: num(v.frame_height),
    box: b && b.every((x) => x !== null) ? (b as [number, number, number, number]) : null,
    taps: num(v.taps),
    model_in_box: num(v.model_in_box),
    agreement: num(v.agreement),
    expected_error: num(v.expected_error),
    range: parseBand(v.range),
    message: str(v.message),
    verdict: parseVerdict(v.verdict),
  };
}

export function parseVerdict(v: unknown): Verdict | null {
  if (!isObj(v)) return null;
  const level = v.level;
  if (level !== 'good' && level !== 'doubtful' && level !== 'refused') return null;
  return { level, reason: str(v.reason) ?? '', advice: str(v.advice) ?? '' };
}

function parseFrameCount(v: unknown): FrameCount | null {
  if (!isObj(v)) return null;
  const count = num(v.count);
  if (count === null) return null;
  return { count, band: parseBand(v.band), width: num(v.width), height: num(v.height), calibrated: v.calibrated === true };
}

export function parseProposal(v: unknown): CalibrationProposal | null {
  if (!isObj(v)) return null;
  const id = str(v.id);
  const calibration = parseCalibration(v.calibration);
  if (id === null || id === '' || calibration === null) return null;
  const p = isObj(v.preview) ? v.preview : {};
  return {
    id,
    calibration,
    preview: { now: parseFrameCount(p.now), proposed: parseFrameCount(p.proposed) },
    expiresInS: num(v.expires_in_s),
  };
}

export function parseStatus(v: unknown): Status | null {
  if (!isObj(v)) return null;
  const state = str(v.state);
  if (state === null) return null;
  const model = isObj(v.model)
    ? {
        path: str(v.model.path),
        input_width: num(v.model.input_width),
        input_height: num(v.model.input_height),
        name: str(v.model.name),
        analysis_scale: num(v.model.analysis_scale),
        loaded_at_ms: num(v.model.loaded_at_ms),
        file: str(v.model.file),
        precision: str(v.model.precision),
        precision_reason: str(v.model.precision_reason),
        building: parseBuilding(v.model.building),
      }
    : null;
  const rates = isObj(v.rates)
    ? { decoded_fps: num(v.rates.decoded_fps), analysed_fps: num(v.rates.analysed_fps), skipped_fps: num(v.rates.skipped_fps) }
    : null;
  const totals = isObj(v.totals)
    ? {
        frames_decoded: num(v.totals.frames_decoded),
        frames_skipped: num(v.totals.frames_skipped),
        frames_analysed: num(v.totals.frames_analysed),
      }
    : null;
  return {
    state,
    state_since_ms: num(v.state_since_ms),
    error: str(v.error),
    source: str(v.source),
    decoder: str(v.decoder),
    codec: str(v.codec),
    execution_provider: str(v.execution_provider),
    model,
    rates,
    totals,
    last_inference_ms: num(v.last_inference_ms),
    last_staleness_ms: num(v.last_staleness_ms),
    uptime_s: num(v.uptime_s),
    version: str(v.version),
    demo: v.demo === true,
    mediamtx: parseMediamtx(v.mediamtx),
    analysis: parseAnalysisReport(v.analysis),
    calibration: parseCalibration(v.calibration),
    masks: parseMasks(v.masks),
    zones: parseZones(v.zones),
    alerts: parseAlerts(v.alerts),
    history: parseHistoryReport(v.history),
    mqtt: parseMqtt(v.mqtt),
    streams: parseStreams(v.streams, { calibration: parseCalibration, masks: parseMasks, zones: parseZones }),
  };
}

export function parseBuilding(v: unknown): ModelBuilding | null {
  if (!isObj(v)) return null;
  const what = str(v.what);
  if (what === null) return null;
  return { what, started_ms: num(v.started_ms), elapsed_ms: num(v.elapsed_ms) };
}

export function parseMqtt(v: unknown): MqttReport | null {
  if (!isObj(v)) return null;
  return {
    enabled: v.enabled === true,
    connected: v.connected === true,
    broker: str(v.broker),
    client_id: str(v.client_id),
    queued: num(v.queued),
    dropped: num(v.dropped),
    last_error: str(v.last_error),
  };
}

export function parseMediamtx(v: unknown): MediamtxReport | null {
  if (!isObj(v)) return null;
  return {
    reachable: bool(v.reachable),
    publisher: bool(v.publisher),
    codec: str(v.codec),
    message: str(v.message),
    b_frames_warning: str(v.b_frames_warning),
  };
}

export function parseStreamInfo(v: unknown): StreamInfo | null {
  if (!isObj(v)) return null;
  const whep = str(v.whep_url);
  const rtmp = str(v.rtmp_url);
  if (whep === null) return null;
  return {
    path: str(v.path) ?? '',
    whep_url: whep,
    player_url: str(v.player_url),
    operator: v.operator === true && rtmp !== null,
    rtmp_url: rtmp,
    snapshot_url: str(v.snapshot_url) ?? '/api/snapshot.jpg',
    qr_url: str(v.qr_url),
    key_error: str(v.key_error),
  };
}

async function getJson<T>(url: string, parse: (v: unknown) => T | null, signal?: AbortSignal): Promise<T> {
  const res = await fetch(url, { cache: 'no-store', signal, headers: { Accept: 'application/json' } });
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  const parsed = parse(await res.json());
  if (parsed === null) throw new Error(`${url}: unexpected answer`);
  return parsed;
}

export const fetchStreamInfo = (signal?: AbortSignal) => getJson('/api/stream/info', parseStreamInfo, signal);
export const fetchStatus = (signal?: AbortSignal) => getJson('/api/status', parseStatus, signal);

/** Where the QR code of the pilot's RTMP URL is served. */
export const qrUrlOf = (info: StreamInfo | null): string => info?.qr_url ?? '/api/stream/qr.svg';
