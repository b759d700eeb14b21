import { describe, expect, it } from 'vitest';
import { parseStatus } from './api';
import { boxText, buildingText, mqttText, precisionText, streamText } from './health';

describe('health in words', () => {
  it('keeps the box apart from the drone', () => {
    expect(boxText({ ok: true, reason: null })).toEqual({ text: 'working', level: 'ok' });
    expect(boxText({ ok: false, reason: 'the model is still loading' }).text).toBe('not counting: the model is still loading');
    expect(boxText({ ok: false, reason: 'unreachable' }).text).toContain('not answering');
    expect(boxText(null).level).toBeUndefined();
    expect(streamText('waiting')).toBe('no drone streaming yet');
    expect(streamText('live')).toBe('drone video arriving');
    expect(streamText('something-new')).toBe('something-new');
  });

  it('says whether the box reaches its MQTT broker, and what waits or was lost', () => {
    const base = { enabled: true, connected: true, broker: '10.0.0.2:1883', client_id: 'gate-3', queued: 0, dropped: 0, last_error: null };
    expect(mqttText(null)).toBeNull();
    expect(mqttText({ ...base, enabled: false })).toBeNull();
    expect(mqttText(base)).toEqual({ text: 'publishing to 10.0.0.2:1883', detail: ' as gate-3', level: 'ok' });
    expect(mqttText({ ...base, dropped: 4 })?.level).toBe('warn');
    const down = mqttText({ ...base, connected: false, queued: 12, dropped: 3, last_error: 'cannot reach the broker' });
    expect(down).toEqual({
      text: 'not connected',
      detail: ' (cannot reach the broker); 12 queued, 3 dropped, counting goes on',
      level: 'bad',
    });
  });

  it('says in which numbers the model runs, and why', () => {
    const status = (model: object, ep: string | null = 'cpu') => parseStatus({ state: 'live', execution_provider: ep, model });
    const int8 = status({ precision: 'int8', precision_reason: 'the INT8 twin of csrnet.onnx', file: '/m/csrnet-int8.onnx' });
    expect(int8?.model?.file).toBe('/m/csrnet-int8.onnx');
    expect(precisionText(int8)).toEqual({ text: 'cpu · INT8', detail: 'the INT8 twin of csrnet.onnx', level: 'ok' });
    const fallback = status({ precision: 'fp32', precision_reason: 'there is no INT8 twin csrnet-int8.onnx beside it' });
    expect(precisionText(fallback)).toEqual({ text: 'cpu · FP32', detail: 'there is no INT8 twin csrnet-int8.onnx beside it', level: 'warn' });
    expect(precisionText(status({ precision: 'fp16', precision_reason: null }, 'tensorrt'))).toEqual({ text: 'tensorrt · FP16', detail: null, level: 'ok' });
    // An older daemon says nothing of the precision: the provider alone.
    expect(precisionText(status({}, 'cuda')).text).toBe('cuda');
    expect(precisionText(status({}, null)).text).toBe('—');
  });

  it('shows a TensorRT engine build with its start and the time so far, by the box clock', () => {
    const s = parseStatus({
      state: 'waiting',
      model: { building: { what: 'the TensorRT engine', started_ms: 1_000, elapsed_ms: 192_000 } },
    });
    const now = new Date(2026, 11, 7, 14, 5, 12).getTime();
    expect(buildingText(s?.model?.building ?? null, now)).toBe(
      'building the TensorRT engine, started at 14:02:00 (3 min 12 s so far); counting starts when it is done',
    );
    expect(buildingText(null, now)).toBeNull();
    expect(parseStatus({ state: 'live', model: { building: { started_ms: 3 } } })?.model?.building).toBeNull();
  });
});
