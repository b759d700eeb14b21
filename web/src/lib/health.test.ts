import { describe, expect, it } from 'vitest';
import { boxText, mqttText, streamText } from './health';

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
});
