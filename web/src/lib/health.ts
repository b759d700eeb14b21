// The box's health in words for a person. The daemon separates the two: /api/health says whether
// the box itself works (the daemon and its model); the stream's state says whether a drone
// streams. No drone yet is not the box being down.

/** /api/health's answer: the box works (ok), or why not ('unreachable' when it did not answer). */
export interface Health {
  ok: boolean;
  reason: string | null;
}

import type { ModelBuilding, MqttReport, Status } from './api';
import { fmtClock, fmtDuration } from './format';

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

const PRECISION_TEXT: Record<string, string> = { int8: 'INT8', fp16: 'FP16', fp32: 'FP32' };

/** In which numbers the model runs, for the "Runs on" row: "cpu · INT8" and why. On a CPU, FP32
 * is a warning when the reason says the INT8 twin was wanted and not usable (four times slower);
 * a missing figure says nothing. */
export function precisionText(s: Status | null): { text: string; detail: string | null; level: Level | undefined } {
  const ep = s?.execution_provider ?? null;
  const p = s?.model?.precision ?? null;
  if (!ep) return { text: '—', detail: null, level: undefined };
  const numbers = p ? (PRECISION_TEXT[p] ?? p) : null;
  const text = numbers ? `${ep} · ${numbers}` : ep;
  const detail = s?.model?.precision_reason ?? null;
  let level: Level = ep === 'cpu' ? 'warn' : 'ok';
  if (ep === 'cpu' && p === 'int8') level = 'ok';
  return { text, detail, level };
}

/** A slow step of the model's loading (a TensorRT engine build): what, since when, how long so
 * far. The elapsed time is the box's (its clock may differ from this device's); the start is
 * shown in this device's time, back from now by that much. */
export function buildingText(b: ModelBuilding | null, nowMs: number): string | null {
  if (!b) return null;
  const elapsed = b.elapsed_ms ?? null;
  const started = elapsed !== null ? nowMs - elapsed : b.started_ms;
  const since = started !== null ? `, started at ${fmtClock(started)}` : '';
  const sofar = elapsed !== null ? ` (${fmtDuration(elapsed / 1000)} so far)` : '';
  return `building ${b.what}${since}${sofar}; counting starts when it is done`;
}
