import type { ReactNode } from 'react';
import type { Analysis, MediamtxReport, Status, StreamInfo } from '../lib/api';
import { historyLine } from '../lib/history';
import { DASH, fmtAnalysisScale, fmtDuration, fmtMs, fmtRate, lastKnownOnly } from '../lib/format';
import { lastKnownText, type Freshness } from '../lib/freshness';
import type { LinkInfo } from '../lib/link';
import type { WhepStatus } from '../lib/whep';
import {
  boxText,
  buildingText,
  mqttText,
  pastStreamText,
  precisionText,
  streamText,
  type Health,
  type Level,
} from '../lib/health';
import { SoftwareRow } from './SoftwareRow';


interface Props {
  status: Status | null;
  analysis: Analysis | null;
  link: LinkInfo;
  whep: WhepStatus;
  info: StreamInfo | null;
  health: Health | null;
  /** how long the stream has been in its state, when the box's clock allows telling */
  stateAgeMs: number | null;
  /** analyses per second measured from received events */
  measuredRate: number | null;
  /** whether the box is reachable: when not, its figures are the last known ones */
  fresh: Freshness;
}

const STREAM_LEVEL: Record<string, Level> = { live: 'ok', waiting: 'idle', stalled: 'bad', reconnecting: 'warn' };
const LINK_LEVEL: Record<string, Level> = { connected: 'ok', connecting: 'warn', reconnecting: 'bad', disconnected: 'bad' };
const WHEP_TEXT: Record<string, string> = {
  idle: 'starting',
  connecting: 'connecting',
  connected: 'playing',
  'no-stream': 'no stream',
  unreachable: 'unreachable',
  failed: 'retrying',
  stopped: 'stopped',
};
const WHEP_LEVEL: Record<string, Level> = {
  idle: 'idle',
  connecting: 'warn',
  connected: 'ok',
  'no-stream': 'idle',
  unreachable: 'bad',
  failed: 'bad',
  stopped: 'idle',
};

function Row({
  label,
  testid,
  value,
  level,
  stale,
  children,
}: {
  label: string;
  testid: string;
  value?: string | number | null;
  level?: Level;
  /** the last known figure of a box that does not answer: greyed, no colour */
  stale?: boolean;
  children: ReactNode;
}) {
  const cls = [stale ? 'stale' : null, !stale && level ? `lvl lvl-${level}` : null].filter(Boolean).join(' ');
  return (
    <>
      <dt>{label}</dt>
      <dd data-testid={testid} data-value={value ?? undefined} data-stale={stale ? 'true' : undefined} className={cls || undefined}>
        {children}
        {stale && <small> ({lastKnownOnly})</small>}
      </dd>
    </>
  );
}

const msLevel = (ms: number | null | undefined, warn: number, bad: number): Level | undefined =>
  ms == null || !Number.isFinite(ms) ? undefined : ms > bad ? 'bad' : ms > warn ? 'warn' : 'ok';

/** MediaMTX not answering: bad; answering without a drone: idle; a drone publishing: ok. */
function mediamtxLevel(m: MediamtxReport): Level | undefined {
  if (m.reachable === false) return 'bad';
  if (m.b_frames_warning) return 'warn';
  if (m.publisher === true) return 'ok';
  if (m.reachable === true) return 'idle';
  return undefined;
}

export function HealthPanel({ status, analysis, link, whep, info, health, stateAgeMs, measuredRate, fresh }: Props) {
  const state = status?.state ?? null;
  const lost = fresh.lost;
  const inference = analysis?.inference_ms ?? status?.last_inference_ms ?? null;
  const staleness = analysis?.staleness_ms ?? status?.last_staleness_ms ?? null;
  const rate = status?.rates?.analysed_fps ?? measuredRate;
  const mediamtx = status?.mediamtx ?? null;
  const box = boxText(health);
  const runsOn = precisionText(status);
  // The build's elapsed time is as of the newest status: its start is counted back from when
  // that status arrived (not from now, which would move it while the box does not answer).
  const building = buildingText(status?.model?.building ?? null, fresh.lastKnownAt ?? Date.now());
  const mqtt = mqttText(status?.mqtt ?? null);
  return (
    <section className="panel health" aria-label="Box health">
      <h2>Box health</h2>
      <dl>
        {lost ? (
          // The box does not answer: whatever the drone does is not known here.
          <Row label="Drone" testid="stream-state" value="unknown" level="idle">
            unknown: the box is not answering
            {state && (
              <small>
                {' '}
                ({lastKnownText(fresh)}, {pastStreamText(state)})
              </small>
            )}
          </Row>
        ) : (
          <Row label="Drone" testid="stream-state" value={state} level={state ? (STREAM_LEVEL[state] ?? 'warn') : undefined}>
            {streamText(state)}
            {stateAgeMs !== null && <small> for {fmtDuration(stateAgeMs / 1000)}</small>}
            {status?.demo && <small> · demo recording analysed</small>}
          </Row>
        )}
        {status?.error && (
          <Row label="Stream error" testid="stream-error" value={status.error} level="bad" stale={lost}>
            {status.error}
          </Row>
        )}
        {mediamtx?.message && (
          <Row label="Media server" testid="mediamtx" value={mediamtx.message} level={mediamtxLevel(mediamtx)} stale={lost}>
            {mediamtx.message}
          </Row>
        )}
        {mediamtx?.b_frames_warning && (
          <Row label="Drone video" testid="mediamtx-b-frames" value={mediamtx.b_frames_warning} level="bad">
            {mediamtx.b_frames_warning}
          </Row>
        )}
        <Row label="Live video" testid="video-link" value={whep.state} level={WHEP_LEVEL[whep.state]}>
          {WHEP_TEXT[whep.state] ?? whep.state}
          {whep.attempt > 0 && whep.state !== 'connected' && <small> (try {whep.attempt + 1})</small>}
        </Row>
        <Row label="Decoder" testid="decoder" value={status?.decoder} stale={lost}>
          {status?.decoder ?? DASH}
          {status?.codec && <small> ({status.codec})</small>}
        </Row>
        {building && (
          <Row label="Model" testid="model-building" value={status?.model?.building?.what} level="warn" stale={lost}>
            {building}
          </Row>
        )}
        <Row label="Runs on" testid="execution-provider" value={status?.execution_provider} level={runsOn.level} stale={lost}>
          <span data-testid="precision" data-value={status?.model?.precision ?? undefined}>
            {runsOn.text}
          </span>
          {runsOn.detail && <small> ({runsOn.detail})</small>}
        </Row>
        <Row label="Inference" testid="inference-ms" value={inference} level={msLevel(inference, 1500, 5000)} stale={lost}>
          {fmtMs(inference)}
        </Row>
        <Row label="Staleness" testid="staleness-ms" value={staleness} level={msLevel(staleness, 2000, 10_000)} stale={lost}>
          {fmtMs(staleness)}
        </Row>
        <Row label="Analyses" testid="analyses-per-second" value={rate} stale={lost}>
          {fmtRate(rate)}
          {status?.rates?.analysed_fps != null && measuredRate !== null && <small> (received {fmtRate(measuredRate)})</small>}
        </Row>
        {status?.analysis && (
          <Row label="Analysis" testid="analysis-scale" value={status.analysis.scale} level={status.analysis.from === 'calibration' ? 'ok' : undefined} stale={lost}>
            {fmtAnalysisScale(status.analysis)}
          </Row>
        )}
        <Row label="Link" testid="link-state" value={link.state} level={LINK_LEVEL[link.state]}>
          {link.state}
          {link.state !== 'connected' && link.attempt > 0 && <small> (try {link.attempt})</small>}
        </Row>
        <Row label="Box" testid="daemon-health" value={health ? (health.ok ? 'ok' : 'down') : null} level={box.level}>
          {box.text}
        </Row>
        {mqtt && (
          <Row label="MQTT" testid="mqtt" value={status?.mqtt?.connected ? 'connected' : 'disconnected'} level={mqtt.level} stale={lost}>
            {mqtt.text}
            {mqtt.detail && <small>{mqtt.detail}</small>}
          </Row>
        )}
        {status?.history && (
          <Row label="History" testid="history-state" value={status.history.state} level={historyLine(status.history).level} stale={lost}>
            {historyLine(status.history).text}
          </Row>
        )}
        {info?.operator && (
          <Row label="Publish to" testid="rtmp-url" value={info.rtmp_url}>
            <code className="rtmp">{info.rtmp_url ?? DASH}</code>
          </Row>
        )}
        <SoftwareRow stale={lost} />
      </dl>
      {status && (
        <p className="muted small">
          skycountd {status.version ?? '?'} · {lost ? 'not answering' : `up ${fmtDuration(status.uptime_s)}`}
          {!lost && status.rates?.decoded_fps != null && <> · decoding {fmtRate(status.rates.decoded_fps)}</>}
        </p>
      )}
    </section>
  );
}
