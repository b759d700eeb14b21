import { describe, expect, it } from 'vitest';
import { boxText, streamText } from './health';

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
});
