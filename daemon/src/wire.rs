//! Wire types: what skycountd sends to its viewers, exactly as `docs/api.md` describes it.
//!
//! Every type here is plain data with `Serialize`; the stages fill them in and `publish` sends
//! them. A change to a field here is a change to the API: change `docs/api.md` in the same commit.
//!
//! - [`Analysis`] and [`DensityGrid`]: the `analysis` event.
//! - [`Status`] with [`StreamReport`], [`ModelReport`], [`Rates`], [`Totals`] and
//!   [`MediaMtxReport`], [`HistoryReport`]: the `status` event and `GET /api/status`.
//! - [`StreamInfo`]: `GET /api/stream/info`.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde::{Serialize, Serializer};

use crate::source::StreamState;

/// Unix time in milliseconds.
pub fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as u64
}

/// The density grid sent with each analysis.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DensityGrid {
    pub width: u32,
    pub height: u32,
    /// People in the densest cell: a cell holds `data / 255 * max` people.
    pub max: f32,
    /// Row-major, top-left first; base64 in JSON.
    #[serde(serialize_with = "as_base64")]
    pub data: Vec<u8>,
}

fn as_base64<S: Serializer>(data: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(data))
}

/// One result of the model on one frame: the `analysis` event.
#[derive(Debug, Clone, Serialize)]
pub struct Analysis {
    /// The stream analysed (its path's key, `live_drone`).
    pub stream: crate::sample::StreamId,
    /// Increasing per stream.
    pub seq: u64,
    pub count: f64,
    pub inference_ms: f64,
    pub staleness_ms: f64,
    pub frame_pts_ms: Option<u64>,
    pub wall_time_ms: u64,
    /// The analysis size: the picture the model saw.
    pub input_width: u32,
    pub input_height: u32,
    /// The decoded frame it was made from.
    pub frame_width: u32,
    pub frame_height: u32,
    /// Model runs this analysis took.
    pub tiles: u32,
    /// The model's sum with the masks applied, before the calibration's factor.
    pub raw_count: f64,
    /// The median count of the last `analysis.smooth_ms`.
    pub smoothed: f64,
    /// The honest range around `smoothed`.
    pub band: [f64; 2],
    /// A calibration from the operator's taps is applied.
    pub calibrated: bool,
    /// Made from the demo recording while no drone streams.
    pub demo: bool,
    pub density: DensityGrid,
    /// Per-zone counts, in the order of the stream's zones (empty without zones).
    pub zones: Vec<ZoneCount>,
    /// Whether the camera moves, and whether zones are paused for it (`analyse::motion`).
    pub camera: Camera,
}

#[cfg(test)]
impl Analysis {
    /// A small analysis for tests: a 16x8 frame, a 2-cell map, `count` both raw and smoothed.
    pub fn example(seq: u64, wall_time_ms: u64, count: f64) -> Self {
        Self {
            stream: crate::sample::StreamId::new("live_drone"),
            seq,
            count,
            inference_ms: 1.0,
            staleness_ms: 1.0,
            frame_pts_ms: None,
            wall_time_ms,
            input_width: 16,
            input_height: 8,
            frame_width: 16,
            frame_height: 8,
            tiles: 1,
            raw_count: count,
            smoothed: count,
            band: [count - 1.0, count + 1.0],
            calibrated: false,
            demo: false,
            zones: Vec::new(),
            camera: Camera::UNKNOWN,
            density: DensityGrid {
                width: 2,
                height: 1,
                max: 1.0,
                data: vec![0, 255],
            },
        }
    }
}

/// What the camera did, for one analysis (`analysis.camera`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Camera {
    /// The picture had enough texture to tell; when false, nothing below is known (and nothing
    /// is paused).
    pub judged: bool,
    /// The camera is moving (or has not been still for `analyse::motion::SETTLE` yet).
    pub moving: bool,
    /// The view is not the one the zones were set on.
    pub away: bool,
    /// Zones are paused: `moving` or `away`.
    pub zones_paused: bool,
    /// Frame widths per second the picture moved, over the last second or so.
    pub speed: f64,
    /// How far the picture is from the zones' view, in fractions of the frame's width and
    /// height (null when it does not match it at all, or before the zones' view is known).
    pub offset: Option<[f64; 2]>,
}

impl Camera {
    /// Not judged: nothing paused.
    pub const UNKNOWN: Camera = Camera {
        judged: false,
        moving: false,
        away: false,
        zones_paused: false,
        speed: 0.0,
        offset: None,
    };
}

/// An area the operator counts on its own (the stage front, an exit): a polygon in fractions of
/// the frame (0..1 on both axes), like a [`Mask`], with an optional limit that raises an alert.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Zone {
    pub name: String,
    /// Vertices in order (the polygon closes itself).
    pub points: Vec<[f64; 2]>,
    /// People; crossing it (held for a while) raises an alert. None: no alert.
    #[serde(default)]
    pub limit: Option<u32>,
}

/// One zone's part of an analysis.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ZoneCount {
    pub name: String,
    /// People in the zone (masks and the calibration's factor applied, like `count`).
    pub count: f64,
    /// The zone's share of the whole count, 0..1 (0 when the count is 0).
    pub share: f64,
    pub limit: Option<u32>,
    /// An alert is raised for this zone and not yet cleared.
    pub alerting: bool,
}

/// An alert: a zone's count held above its limit (`alert` event, history, MQTT).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    /// Unique on this box (increasing).
    pub id: u64,
    /// The stream path's key (`live_drone`).
    pub stream: String,
    pub zone: String,
    pub limit: u32,
    /// The smoothed count in the zone when the alert was raised.
    pub count: f64,
    pub raised_ms: u64,
    /// When the count fell back below the limit (with hysteresis); None while it holds.
    pub cleared_ms: Option<u64>,
    /// When an operator acknowledged it; None until then.
    pub acknowledged_ms: Option<u64>,
}

/// An area not counted: a polygon in fractions of the frame (0..1 on both axes).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mask {
    pub name: String,
    /// Vertices in order (the polygon closes itself).
    pub points: Vec<[f64; 2]>,
}

/// The operator's calibration of one stream path (`status.calibration`).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Calibration {
    pub at_ms: u64,
    /// The analysis size as a fraction of the frame's.
    pub scale: f64,
    /// Multiplies the model's count (1.0: none; see docs/accuracy.md for why).
    pub factor: f64,
    pub frame_width: u32,
    pub frame_height: u32,
    /// The box the operator tapped in: x, y, width, height in the frozen frame's pixels.
    #[serde(rename = "box")]
    pub area: [u32; 4],
    /// People tapped in the box.
    pub taps: u32,
    /// The median distance from a tapped person to the nearest other, in frame pixels.
    pub spacing_px: f64,
    /// What the model counts in the box at `scale`.
    pub model_in_box: f64,
    /// `1 - |model_in_box - taps| / taps`, at least 0.
    pub agreement: f64,
    /// The rule's typical whole-frame relative error (measured: docs/accuracy.md).
    pub expected_error: f64,
    /// Where the whole frame's truth is expected, as multiples of the count: from the box check
    /// (the model's count in the box against the taps; docs/accuracy.md).
    #[serde(default = "wide_range")]
    pub range: [f64; 2],
    /// The frame and the taps, kept as training data (the frame's id).
    pub frame_id: String,
    pub message: String,
    /// What the box check says of it, with the reason and what to do (null for a calibration
    /// kept before verdicts were).
    #[serde(default)]
    pub verdict: Option<Verdict>,
}

/// How far a calibration can be trusted (`analyse::calibrate::judge`, docs/accuracy.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VerdictLevel {
    /// The model agrees with the taps in the box, and enough people were tapped.
    Good,
    /// It may be applied, but the count will be less sure (a wider band, or few taps).
    Doubtful,
    /// Its band would be wider than the uncalibrated one: it cannot be applied.
    Refused,
}

/// The verdict on a calibration: a level, why, and what to do, in the operator's words.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Verdict {
    pub level: VerdictLevel,
    pub reason: String,
    pub advice: String,
}

/// What the whole frozen frame counts now and with a proposed calibration (one model run at
/// each size, masks applied), for the operator to see before applying it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CalibrationPreview {
    /// The count at the analysis size in use now, and where its truth lies.
    pub now: FrameCount,
    /// The count at the proposed calibration's size, and where its truth lies.
    pub proposed: FrameCount,
}

/// One frame's count at one analysis size.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FrameCount {
    pub count: f64,
    /// `count` times the range the truth is expected in (the calibration's, or uncalibrated).
    pub band: [f64; 2],
    pub width: u32,
    pub height: u32,
    /// The count is called calibrated (a calibration whose band is no wider than the
    /// uncalibrated one of the model in use).
    pub calibrated: bool,
}

/// `POST /api/operator/calibration`'s answer: a calibration computed, not yet applied.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CalibrationProposal {
    /// Applied by `POST /api/operator/calibration/<id>/apply`.
    pub id: String,
    pub calibration: Calibration,
    pub preview: CalibrationPreview,
    /// How long it can be applied for.
    pub expires_in_s: u64,
}

/// The range of a calibration kept before ranges were: as wide as without calibration.
fn wide_range() -> [f64; 2] {
    [0.5, 2.0]
}

/// How the box analyses right now (`status.analysis`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AnalysisReport {
    /// The analysis size of the last analysis (null before the first).
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub scale: Option<f64>,
    /// `calibration` or `default`.
    pub from: &'static str,
    pub tiles: Option<u32>,
    pub analysed_fps: f64,
}

/// The stream part of the status, as the decode supervisor reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StreamReport {
    pub state: StreamState,
    pub state_since_ms: u64,
    pub error: Option<String>,
    pub source: String,
    pub decoder: Option<String>,
    pub codec: Option<String>,
    /// The demo recording is being analysed because no drone streams.
    pub demo: bool,
}

impl StreamReport {
    /// Before the supervisor has said anything.
    pub fn waiting(source: String) -> Self {
        Self {
            state: StreamState::Waiting,
            state_since_ms: unix_ms(SystemTime::now()),
            error: None,
            source,
            decoder: None,
            codec: None,
            demo: false,
        }
    }
}

/// One model the operator uploaded (kept in the store's model shelf).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct ShelfEntry {
    /// The file in the shelf's folder (named by its content's SHA-256).
    pub file: String,
    pub name: String,
    pub sha256: String,
    pub bytes: u64,
    /// When it was uploaded, ms since the Unix epoch.
    pub added_ms: u64,
    /// The analysis scale its card asks for.
    pub analysis_scale: Option<f64>,
}

/// Which uploaded model runs and which one a rollback returns to (`None`: the configured
/// `model.path`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct Shelf {
    pub current: Option<ShelfEntry>,
    pub previous: Option<ShelfEntry>,
}

/// `GET /api/operator/model`: the shelf, what is configured and how large an upload may be.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelShelfReport {
    #[serde(flatten)]
    pub shelf: Shelf,
    pub configured_path: String,
    pub max_upload_bytes: u64,
}

/// The model part of the status.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelReport {
    pub path: String,
    pub input_width: u32,
    pub input_height: u32,
    /// Sent at the top level of the status as `execution_provider`.
    #[serde(skip)]
    pub execution_provider: Option<String>,
    /// Why no model is running, when none is.
    pub error: Option<String>,
    /// Why the last model asked for (by a reload) was refused while this one keeps counting.
    pub reload_error: Option<String>,
    /// The running model's name (its card's, else its file's); `None` before one is loaded.
    pub name: Option<String>,
    /// The analysis scale the model asks for (a fine-tuned model's card), if any.
    pub analysis_scale: Option<f64>,
    /// A short summary of a fine-tuned model's card ([`CardSummary`]); `None` for a model
    /// without one.
    pub card: Option<CardSummary>,
    /// When the running model was loaded, in milliseconds since the Unix epoch.
    pub loaded_at_ms: Option<u64>,
    /// The file that runs: `path`, or its INT8 twin (`models/quantize.py`); `None` before one
    /// is loaded.
    pub file: Option<String>,
    /// In which numbers it runs: `fp32`, `fp16` (TensorRT) or `int8`; `None` before one is
    /// loaded.
    pub precision: Option<String>,
    /// Why in those numbers, in words: "the INT8 twin of csrnet.onnx: …", "there is no INT8
    /// twin csrnet-int8.onnx beside it (models/make.sh builds one)", …
    pub precision_reason: Option<String>,
    /// Something slow the model's loading does now (a TensorRT engine build); `None` otherwise.
    pub building: Option<Building>,
}

/// A slow step of loading a model, while it lasts: what and since when.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Building {
    /// In words: "the TensorRT engine for csrnet.onnx".
    pub what: String,
    /// When it started, in milliseconds since the Unix epoch (the box's clock).
    pub started_ms: u64,
    /// How long it has taken so far, by the box's clock, when the status was made.
    pub elapsed_ms: u64,
}

/// What the status says of a fine-tuned model's card (models/finetune.py): its name, when it
/// was made and from how much. The status goes to every viewer once a second; the whole card (up
/// to 64 KB: settings, figures before and after) stays in the model file (`skycount.card`) and in
/// the `.json` beside it that finetune.py writes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CardSummary {
    /// The model's name (the card's, filtered as an upload's: `infer::clean_name`).
    pub name: String,
    /// When it was made, as the card says (at most 40 printable ASCII characters).
    pub created: Option<String>,
    /// Frames and people it was trained on.
    pub frames: Option<u64>,
    pub people: Option<u64>,
}

impl CardSummary {
    /// The summary of `card` for the model named `name`.
    pub fn of(name: &str, card: &serde_json::Value) -> Self {
        let created = card["created"].as_str().map(|c| {
            c.chars()
                .filter(|c| c.is_ascii_graphic() || *c == ' ')
                .take(40)
                .collect()
        });
        Self {
            name: name.to_string(),
            created,
            frames: card["data"]["frames"].as_u64(),
            people: card["data"]["people"].as_u64(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Rates {
    pub decoded_fps: f64,
    pub analysed_fps: f64,
    pub skipped_fps: f64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Totals {
    pub frames_decoded: u64,
    pub frames_skipped: u64,
    pub frames_analysed: u64,
}

/// Whether the drone's H.264 may hold B-frames, which browsers do not play over WebRTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BFrames {
    /// Not known (no H.264 stream, or MediaMTX did not say its profile).
    Unknown,
    /// Baseline profile: B-frames are impossible.
    No,
    /// A profile that allows them (Main, High, …); not seen yet.
    Possible,
    /// The decoder saw frames out of presentation order.
    Yes,
}

/// The `mediamtx` object of the status.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MediaMtxReport {
    /// The Control API answered.
    pub reachable: bool,
    /// MediaMTX's version, from `/v3/info`.
    pub version: Option<String>,
    /// A drone publishes to `stream.path`.
    pub publisher: bool,
    /// What publishes (`rtmpConn`, `rtspSession`, …).
    pub source_type: Option<String>,
    /// The video codec (`H264`, `H265`, …).
    pub codec: Option<String>,
    /// Every track's codec label.
    pub tracks: Vec<String>,
    pub width: Option<u64>,
    pub height: Option<u64>,
    pub h264_profile: Option<String>,
    /// Bytes received on `stream.path` since MediaMTX started.
    pub bytes_received: u64,
    /// Readers of `stream.path` (skycountd, the forward to viewers).
    pub readers: usize,
    /// WebRTC viewers of the browsers' path.
    pub viewers: usize,
    /// The browsers' path plays the drone (false: the offline picture, or nothing).
    pub viewers_live: bool,
    pub b_frames: BFrames,
    /// What to tell the pilot about B-frames, when it matters.
    pub b_frames_warning: Option<String>,
    /// One sentence for the dashboard.
    pub message: String,
}

/// The `status` event and `GET /api/status`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Status {
    #[serde(flatten)]
    pub stream: StreamReport,
    pub execution_provider: Option<String>,
    pub model: ModelReport,
    pub rates: Rates,
    pub totals: Totals,
    pub last_inference_ms: Option<f64>,
    pub last_staleness_ms: Option<f64>,
    pub uptime_s: u64,
    pub version: &'static str,
    /// What MediaMTX says about the drone's stream; null when it is not watched.
    pub mediamtx: Option<MediaMtxReport>,
    pub analysis: AnalysisReport,
    pub calibration: Option<Calibration>,
    pub masks: Vec<Mask>,
    /// The operator's zones for this stream path.
    pub zones: Vec<Zone>,
    /// Open alerts (raised, and not yet both cleared and acknowledged), oldest first.
    pub alerts: Vec<Alert>,
    /// The flight history's state and what it keeps.
    pub history: HistoryReport,
    /// The MQTT publisher (`[mqtt]`); `enabled: false` and nothing else when it is off.
    pub mqtt: MqttReport,
    /// Every stream analysed (or refused), the configured one first.
    pub streams: Vec<StreamSummary>,
}

/// One drone's stream in the status's `streams` list: the small summary of every stream that
/// every viewer gets (several drones).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StreamSummary {
    /// The stream's name (its path's key, `live_north`): what analyses and alerts say.
    pub stream: String,
    /// MediaMTX's path (`live/north`); null for a source that is not on MediaMTX.
    pub path: Option<String>,
    /// The configured stream (the one the rest of the status describes).
    pub configured: bool,
    /// `waiting`, `live`, `stalled`, `reconnecting` (the decoder's), `ended` (its drone stopped
    /// publishing; kept a while) or `refused` (publishing, but the box analyses
    /// `analysis.max_streams` already).
    pub state: String,
    /// Why, when refused or in error.
    pub reason: Option<String>,
    /// The last analysis: its count, smoothed count and band, when it was made.
    pub count: Option<f64>,
    pub smoothed: Option<f64>,
    pub band: Option<[f64; 2]>,
    pub analysed_ms: Option<u64>,
    /// Analyses of this stream since it joined.
    pub analyses: u64,
    pub demo: bool,
    /// The name the operator gave this drone; null: none (the dashboard shows its path's last
    /// part).
    pub name: Option<String>,
    /// The operator's calibration, masks and zones for this stream (the configured stream's are
    /// also the status's own `calibration`, `masks` and `zones`).
    pub calibration: Option<Calibration>,
    pub masks: Vec<Mask>,
    pub zones: Vec<Zone>,
}

impl StreamSummary {
    pub fn new(stream: &str, path: Option<String>, configured: bool) -> Self {
        Self {
            stream: stream.to_string(),
            path,
            configured,
            state: "waiting".into(),
            reason: None,
            count: None,
            smoothed: None,
            band: None,
            analysed_ms: None,
            analyses: 0,
            demo: false,
            name: None,
            calibration: None,
            masks: Vec::new(),
            zones: Vec::new(),
        }
    }
}

/// The `mqtt` object of the status: is the box reaching its broker, and what waits or was lost.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MqttReport {
    pub enabled: bool,
    pub connected: bool,
    /// `host:port`.
    pub broker: Option<String>,
    /// The box's name on the broker (its client id and topic level).
    pub client_id: Option<String>,
    /// Messages waiting for the broker (bounded by `mqtt.queue`).
    pub queued: usize,
    /// Messages dropped because the queue was full (counts first), since the start.
    pub dropped: u64,
    /// Messages handed to the MQTT client since the start.
    pub published: u64,
    /// Items of the hub's feed the publisher fell too far behind to see (none in practice).
    pub lagged: u64,
    /// Why the broker was last lost or refused; null once connected again.
    pub last_error: Option<String>,
}

/// `status.history`: whether the flight history records, and how much it keeps.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryReport {
    pub enabled: bool,
    /// `ok` (recording), `paused` (see `reason`; counting goes on, it retries by itself) or
    /// `off` (`history.enabled = false`).
    pub state: &'static str,
    /// Why it is paused, in one sentence ("history paused: disk full …").
    pub reason: Option<String>,
    /// Bytes of data kept, and the most it may keep (`history.max_mb`).
    pub bytes: u64,
    pub max_bytes: u64,
    /// When the oldest flight kept began.
    pub oldest_ms: Option<u64>,
    pub flights: u64,
    /// Rows (analyses, alerts, events, snapshots) not written since the start: the history fell
    /// behind, or was paused.
    pub lost_rows: u64,
}

impl HistoryReport {
    /// `history.enabled = false`, or before the recorder has said anything.
    pub fn off() -> Self {
        Self {
            enabled: false,
            state: "off",
            reason: None,
            bytes: 0,
            max_bytes: 0,
            oldest_ms: None,
            flights: 0,
            lost_rows: 0,
        }
    }
}

/// `GET /api/stream/info`.
#[derive(Debug, Serialize, PartialEq)]
pub struct StreamInfo {
    /// The path the drone publishes to.
    pub path: String,
    /// The path browsers play.
    pub view_path: String,
    pub whep_url: String,
    pub player_url: String,
    /// Whether the request came with the operator's session: only then are the publish URL and
    /// its parts given (they hold the key); a viewer gets `null` for them.
    pub operator: bool,
    /// The whole URL the pilot enters in the drone app, key included.
    pub rtmp_url: Option<String>,
    /// The same, split for apps that ask for a server and a stream key apart.
    pub rtmp_server: Option<String>,
    pub rtmp_stream_key: Option<String>,
    /// Why the URL has no key, when it has none.
    pub key_error: Option<String>,
    /// A QR code of `rtmp_url` (SVG).
    pub qr_url: String,
    pub snapshot_url: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn analysis_json_shape_matches_the_api() {
        let a = Analysis {
            frame_pts_ms: Some(1000),
            ..Analysis::example(7, 1, 1.5)
        };
        let v = serde_json::to_value(&a).unwrap();
        assert_eq!(v["density"]["data"], "AP8=");
        assert_eq!(v["density"]["width"], 2);
        assert_eq!(v["seq"], 7);
        assert_eq!(v["frame_pts_ms"], 1000);
    }

    #[test]
    fn the_stream_report_is_flattened_into_the_status() {
        let s = Status {
            stream: StreamReport::waiting("rtmp://x/live".into()),
            execution_provider: Some("cpu".into()),
            model: ModelReport {
                path: "m.onnx".into(),
                input_width: 64,
                input_height: 32,
                execution_provider: Some("cpu".into()),
                error: None,
                reload_error: None,
                name: None,
                analysis_scale: None,
                card: None,
                loaded_at_ms: None,
                file: None,
                precision: None,
                precision_reason: None,
                building: None,
            },
            rates: Rates::default(),
            totals: Totals::default(),
            last_inference_ms: None,
            last_staleness_ms: None,
            uptime_s: 0,
            version: "0",
            mediamtx: None,
            analysis: AnalysisReport {
                width: None,
                height: None,
                scale: None,
                from: "default",
                tiles: None,
                analysed_fps: 0.0,
            },
            calibration: None,
            masks: Vec::new(),
            zones: Vec::new(),
            alerts: Vec::new(),
            mqtt: MqttReport::default(),
            history: HistoryReport::off(),
            streams: vec![StreamSummary::new(
                "live_drone",
                Some("live/drone".into()),
                true,
            )],
        };
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["streams"][0]["stream"], "live_drone");
        assert_eq!(v["streams"][0]["state"], "waiting");
        assert_eq!(v["mqtt"]["enabled"], false);
        assert_eq!(v["state"], "waiting");
        assert_eq!(v["execution_provider"], "cpu");
        assert!(v["model"].get("execution_provider").is_none());
        assert_eq!(v["model"]["reload_error"], serde_json::Value::Null);
    }

    #[test]
    fn a_model_card_is_summed_up_in_a_few_fields() {
        // A card as large as a model may carry (64 KB): settings, figures, evaluation tables.
        let card = serde_json::json!({
            "name": "market-2026",
            "created": "2026-12-02T10:50:31Z\u{202e}<script>",
            "data": {"frames": 40, "people": 3120, "groups": vec!["g"; 2000]},
            "eval": {"rows": vec!["x".repeat(20); 2500]},
        });
        assert!(card.to_string().len() > 50_000);
        let s = CardSummary::of("market-2026", &card);
        assert_eq!(
            s,
            CardSummary {
                name: "market-2026".into(),
                created: Some("2026-12-02T10:50:31Z<script>".into()),
                frames: Some(40),
                people: Some(3120),
            }
        );
        assert!(serde_json::to_string(&s).unwrap().len() < 200);
        let none = CardSummary::of("x", &serde_json::json!({"created": 7}));
        assert_eq!((none.created, none.frames), (None, None));
    }
}
