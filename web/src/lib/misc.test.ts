import { describe, expect, it } from 'vitest';
import { parseAnalysis, parseStatus, parseStreamInfo, qrUrlOf } from './api';
import { clockOffset, stateAgeMs } from './clock';
import { timeAxisLabels, fmtClock, fmtCount, fmtDensity, fmtDuration, fmtMs, fmtRate, fmtSlope } from './format';
import { DEFAULT_SETTINGS, sanitizeSettings } from './settings';

// The examples of docs/api.md.
const ANALYSIS = {
  stream: 'live_drone',
  seq: 42,
  count: 123.4,
  inference_ms: 812.5,
  staleness_ms: 845.1,
  frame_pts_ms: 120033,
  wall_time_ms: 1764050000000,
  input_width: 640,
  input_height: 360,
  density: { width: 80, height: 45, max: 0.42, data: 'AAECAw==' },
};
const STATUS = {
  state: 'live',
  state_since_ms: 1764050000000,
  error: null,
  source: 'rtmp://127.0.0.1:1935/live/drone',
  decoder: 'avdec_h264',
  codec: 'h264',
  execution_provider: 'cpu',
  model: { path: '/usr/share/skycount/models/csrnet.onnx', input_width: 640, input_height: 360, name: null, analysis_scale: null, loaded_at_ms: null, file: '/usr/share/skycount/models/csrnet-int8.onnx', precision: 'int8', precision_reason: 'the INT8 twin of csrnet.onnx', building: { what: 'the TensorRT engine', started_ms: 1764660000000, elapsed_ms: 5000 } },
  rates: { decoded_fps: 30.0, analysed_fps: 1.2, skipped_fps: 28.8 },
  totals: { frames_decoded: 9000, frames_skipped: 8640, frames_analysed: 360 },
  last_inference_ms: 812.5,
  last_staleness_ms: 845.1,
  uptime_s: 300,
  version: '0.1.0',
};

describe('api parsers', () => {
  it('parse the documented analysis', () => {
    expect(parseAnalysis(ANALYSIS)).toEqual({
      ...ANALYSIS,
      demo: false,
      frame_width: null,
      frame_height: null,
      tiles: null,
      raw_count: null,
      smoothed: null,
      band: null,
      calibrated: false,
      zones: [],
      camera: null,
    });
  });

  it('parse the demo flag of an analysis: optional, false unless exactly true', () => {
    expect(parseAnalysis({ ...ANALYSIS, demo: true })?.demo).toBe(true);
    expect(parseAnalysis({ ...ANALYSIS, demo: false })?.demo).toBe(false);
    expect(parseAnalysis(ANALYSIS)?.demo).toBe(false);
    expect(parseAnalysis({ ...ANALYSIS, demo: 'yes' })?.demo).toBe(false);
    expect(parseAnalysis({ ...ANALYSIS, demo: 1 })?.demo).toBe(false);
  });

  it('tolerate missing optional analysis fields and reject broken ones', () => {
    const a = parseAnalysis({ seq: 1, count: 0, density: { width: 2, height: 1, max: 0, data: 'AAA=' } });
    expect(a?.frame_pts_ms).toBeNull();
    expect(a?.input_width).toBe(2);
    expect(Number.isNaN(a?.inference_ms)).toBe(true);
    expect(parseAnalysis({ ...ANALYSIS, density: null })).toBeNull();
    expect(parseAnalysis({ ...ANALYSIS, count: '5' })).toBeNull();
    expect(parseAnalysis({ ...ANALYSIS, density: { ...ANALYSIS.density, width: 0 } })).toBeNull();
    expect(parseAnalysis({ ...ANALYSIS, density: { ...ANALYSIS.density, width: 1.5 } })).toBeNull();
    expect(parseAnalysis('x')).toBeNull();
  });

  it('parse the documented status', () => {
    expect(parseStatus(STATUS)).toEqual({ ...STATUS, demo: false, mediamtx: null, analysis: null, calibration: null, masks: [], zones: [], alerts: [], mqtt: null, history: null, streams: [] });
  });

  it('parse the demo flag and the MediaMTX report of a status, all optional', () => {
    const full = {
      ...STATUS,
      demo: true,
      mediamtx: {
        reachable: true,
        version: 'v1.9.3',
        publisher: true,
        codec: 'H264',
        message: 'the drone publishes H264 1280x720',
        b_frames_warning: 'the drone sends B-frames: set the drone app to baseline',
        tracks: ['H264'],
      },
    };
    const s = parseStatus(full);
    expect(s?.demo).toBe(true);
    expect(s?.mediamtx).toEqual({
      reachable: true,
      publisher: true,
      codec: 'H264',
      message: 'the drone publishes H264 1280x720',
      b_frames_warning: 'the drone sends B-frames: set the drone app to baseline',
    });
    expect(parseStatus({ ...STATUS, mediamtx: {} })?.mediamtx).toEqual({
      reachable: null,
      publisher: null,
      codec: null,
      message: null,
      b_frames_warning: null,
    });
    expect(parseStatus({ ...STATUS, mediamtx: { reachable: 'no', message: 3 } })?.mediamtx?.message).toBeNull();
    expect(parseStatus({ ...STATUS, mediamtx: null })?.mediamtx).toBeNull();
    expect(parseStatus({ ...STATUS, mediamtx: ['x'] })?.mediamtx).toBeNull();
    expect(parseStatus({ ...STATUS, demo: 'true' })?.demo).toBe(false);
    expect(parseStatus({ ...STATUS, mqtt: { enabled: true, connected: false, queued: 3, dropped: 'x' } })?.mqtt).toEqual({
      enabled: true,
      connected: false,
      broker: null,
      client_id: null,
      queued: 3,
      dropped: null,
      last_error: null,
    });
  });

  it('parse a status before the first stream', () => {
    const s = parseStatus({ state: 'waiting', decoder: null, codec: null, execution_provider: 'cuda' });
    expect(s?.decoder).toBeNull();
    expect(s?.rates).toBeNull();
    expect(s?.execution_provider).toBe('cuda');
    expect(parseStatus({})).toBeNull();
  });

  it('parse stream info', () => {
    const info = {
      path: 'live/drone',
      whep_url: 'http://192.168.50.1:8889/live/drone/whep',
      player_url: 'http://192.168.50.1:8889/live/drone/',
      operator: true,
      rtmp_url: 'rtmp://192.168.50.1:1935/live/drone',
      snapshot_url: '/api/snapshot.jpg',
    };
    expect(parseStreamInfo(info)).toEqual({ ...info, qr_url: null, key_error: null });
    expect(parseStreamInfo({ whep_url: 'x', rtmp_url: 'y' })?.snapshot_url).toBe('/api/snapshot.jpg');
    // A viewer: where to watch, no publish URL.
    const viewer = parseStreamInfo({ whep_url: 'x', operator: false, rtmp_url: null });
    expect(viewer?.operator).toBe(false);
    expect(viewer?.rtmp_url).toBeNull();
    expect(parseStreamInfo({ rtmp_url: 'y' })).toBeNull();
    expect(qrUrlOf(parseStreamInfo(info))).toBe('/api/stream/qr.svg');
    expect(qrUrlOf(null)).toBe('/api/stream/qr.svg');
  });

  it('parse stream info with the stream key and the QR code', () => {
    const info = {
      path: 'live/drone',
      view_path: 'live/drone/view',
      whep_url: 'http://192.168.50.1:8889/live/drone/view/whep',
      player_url: 'http://192.168.50.1:8889/live/drone/view/',
      rtmp_url: 'rtmp://192.168.50.1:1935/live/drone?user=drone&pass=K3yK3yK3y',
      rtmp_server: 'rtmp://192.168.50.1:1935/live',
      rtmp_stream_key: 'drone?user=drone&pass=K3yK3yK3y',
      key_error: null,
      qr_url: '/api/stream/qr.svg?v=2',
      snapshot_url: '/api/snapshot.jpg',
    };
    const p = parseStreamInfo(info);
    expect(p?.rtmp_url).toBe(info.rtmp_url);
    expect(p?.qr_url).toBe('/api/stream/qr.svg?v=2');
    expect(qrUrlOf(p)).toBe('/api/stream/qr.svg?v=2');
    expect(p?.key_error).toBeNull();
    expect(parseStreamInfo({ ...info, key_error: 'no stream key configured' })?.key_error).toBe('no stream key configured');
  });
});

describe('clock', () => {
  it('estimates the offset of the box clock', () => {
    expect(clockOffset(1000, 6000)).toBe(5000);
    expect(clockOffset(NaN, 6000)).toBe(0);
  });

  it('gives the state age only when the box clock is believable', () => {
    expect(stateAgeMs(1000, 300, 61_000, 0)).toBe(60_000);
    expect(stateAgeMs(1000, 300, 61_000 + 3_600_000, 3_600_000)).toBe(60_000); // box 1 h behind
    expect(stateAgeMs(100_000, 300, 1000, 0)).toBeNull(); // in the future
    expect(stateAgeMs(0, 60, 10_000_000, 0)).toBeNull(); // longer than the uptime
    expect(stateAgeMs(null, 60, 1000, 0)).toBeNull();
  });
});

describe('format', () => {
  it('milliseconds', () => {
    expect(fmtMs(812.5)).toBe('813 ms');
    expect(fmtMs(4210)).toBe('4.2 s');
    expect(fmtMs(185_000)).toBe('3 min 5 s');
    expect(fmtMs(null)).toBe('—');
    expect(fmtMs(NaN)).toBe('—');
    expect(fmtMs(-5)).toBe('0 ms');
  });

  it('durations', () => {
    expect(fmtDuration(42)).toBe('42 s');
    expect(fmtDuration(7260)).toBe('2 h 1 min');
    expect(fmtDuration(90_000)).toBe('1 d 1 h');
  });

  it('counts, rates, slopes, densities, clock', () => {
    expect(fmtCount(123.4)).toBe('123');
    expect(fmtCount(-0.2)).toBe('0');
    expect(fmtCount(undefined)).toBe('—');
    expect(fmtRate(1.2)).toBe('1.2 /s');
    expect(fmtRate(0.25)).toBe('0.25 /s');
    expect(fmtRate(30)).toBe('30 /s');
    expect(fmtSlope(8.2)).toBe('+8 /min');
    expect(fmtSlope(-3)).toBe('−3 /min');
    expect(fmtSlope(0.2)).toBe('±0 /min');
    expect(fmtDensity(0.42)).toBe('0.42');
    expect(fmtDensity(3.14)).toBe('3.1');
    expect(fmtDensity(0.003)).toBe('0.003');
    expect(fmtClock(new Date(2025, 0, 1, 14, 5, 9).getTime())).toBe('14:05:09');
  });
});

describe('timeAxisLabels', () => {
  it('drops the seconds for whole-minute ticks', () => {
    const t0 = new Date(2025, 0, 1, 14, 5, 0).getTime() / 1000;
    expect(timeAxisLabels([t0, t0 + 60, t0 + 120])).toEqual(['14:05', '14:06', '14:07']);
    expect(timeAxisLabels([t0, t0 + 30])).toEqual(['14:05:00', '14:05:30']);
  });
});

describe('settings', () => {
  it('fall back to defaults on junk and clamp values', () => {
    expect(sanitizeSettings(null)).toEqual(DEFAULT_SETTINGS);
    expect(sanitizeSettings({ opacity: 5, windowMin: 7, theme: 'pink', heatmapOn: 'yes' })).toEqual({
      ...DEFAULT_SETTINGS,
      opacity: 1,
    });
    expect(sanitizeSettings({ heatmapOn: false, windowMin: 15, theme: 'night', opacity: 0.4 })).toEqual({
      heatmapOn: false,
      windowMin: 15,
      theme: 'night',
      opacity: 0.4,
    });
  });
});
