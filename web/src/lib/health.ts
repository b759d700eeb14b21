// The box's health in words for a person. The daemon separates the two: /api/health says whether
// the box itself works (the daemon and its model); the stream's state says whether a drone
// streams. No drone yet is not the box being down.

/** /api/health's answer: the box works (ok), or why not ('unreachable' when it did not answer). */
export interface Health {
  ok: boolean;
  reason: string | null;
}

import type { MqttReport } from './api';

export type Level = 'ok' | 'warn' | 'bad' | 'idle';

/** The box itself: working, not working (and why), or not answering. */
export function boxText(h: Health | null): { text: string; level: Level | undefined } {
  if (!h) return { text: '—', level: undefined };
  if (h.ok) return { text: 'working', level: 'ok' };
  if (h.reason === 'unreachable') return { text: 'not answering (is the box on, and this device on its network?)', level: 'bad' };
  return { text: `not counting: ${h.reason ?? 'no reason given'}`, level: 'bad' };
}

/** The MQTT publisher, for a person: the state, then the details; null when it is off (no
 * line shown). */
export function mqttText(m: MqttReport | null): { text: string; detail: string; level: Level } | null {
  if (!m?.enabled) return null;
  const lost = m.dropped ? `, ${m.dropped} dropped` : '';
  if (m.connected) {
    const name = m.client_id ? ` as ${m.client_id}` : '';
    const waiting = m.queued ? `, ${m.queued} queued` : '';
    return { text: `publishing to ${m.broker ?? 'the broker'}`, detail: `${name}${waiting}${lost}`, level: m.dropped ? 'warn' : 'ok' };
  }
  const why = m.last_error ?? 'connecting';
  return { text: 'not connected', detail: ` (${why}); ${m.queued ?? 0} queued${lost}, counting goes on`, level: 'bad' };
}

const STREAM_TEXT: Record<string, string> = {
  live: 'drone video arriving',
  waiting: 'no drone streaming yet',
  stalled: 'drone video stopped arriving',
  reconnecting: 'reconnecting to the drone',
};

/** The drone's stream, for a person; unknown states are shown as they are. */
export function streamText(state: string | null): string {
  if (state === null) return '—';
  return STREAM_TEXT[state] ?? state;
}

const PAST_STREAM_TEXT: Record<string, string> = {
  live: 'the drone’s video was arriving then',
  waiting: 'no drone was streaming then',
  stalled: 'the drone’s video had stopped arriving then',
  reconnecting: 'it was reconnecting to the drone then',
};

/** The drone's stream as last known, in the past tense: what the box said before it stopped
 * answering (never to be read as now). */
export function pastStreamText(state: string): string {
  return PAST_STREAM_TEXT[state] ?? `${state} then`;
}
