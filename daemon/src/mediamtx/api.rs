//! MediaMTX's Control API (v3): the few answers skycountd reads, and what they mean for the
//! pilot.
//!
//! The types follow MediaMTX's `openapi.yaml` (schemas `Path`, `PathSource`, `PathReader`,
//! `PathTrack`, `PathTrackCodecPropsH264`, `Info`, `Error`). Fields are read leniently: a field
//! missing from an older or newer MediaMTX is its default, never an error. The current fields are
//! used (`online`, `available`, `tracks2`, `inboundBytes`); the deprecated `ready`, `tracks` and
//! `bytesReceived` only when the current ones are absent.
//!
//! The client is blocking (ureq, plain HTTP on loopback, short timeouts); the watch runs it off
//! the async workers.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

/// `Path`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Path {
    pub name: String,
    pub conf_name: String,
    pub available: Option<bool>,
    pub online: Option<bool>,
    /// Deprecated: `available` replaces it.
    pub ready: Option<bool>,
    pub online_time: Option<String>,
    pub source: Option<PathSource>,
    pub tracks2: Option<Vec<PathTrack>>,
    /// Deprecated: `tracks2` replaces it.
    pub tracks: Option<Vec<String>>,
    pub readers: Vec<PathReader>,
    pub inbound_bytes: Option<u64>,
    /// Deprecated: `inboundBytes` replaces it.
    pub bytes_received: Option<u64>,
}

/// `PathList`: one page of paths.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PathList {
    pub item_count: u64,
    pub page_count: u64,
    pub items: Vec<Path>,
}

/// The most paths read from one answer of `/v3/paths/list`: a field box has a few drones; more
/// paths than this (a flood) are not read, so they cannot cost memory or time.
pub const PATHS_READ: usize = 200;

/// `PathSource`: who provides the stream (`rtmpConn` for a drone over RTMP).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct PathSource {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
}

/// `PathReader`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct PathReader {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
}

/// `PathTrack`: a codec label (`H264`, `MPEG-4 Audio`, …) and its properties.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PathTrack {
    pub codec: String,
    pub codec_props: Option<CodecProps>,
}

/// The union of the `PathTrackCodecProps*` schemas' fields that skycountd uses.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct CodecProps {
    pub width: Option<u64>,
    pub height: Option<u64>,
    /// H.264/H.265: "Baseline", "Main", "High", …; AV1/VP9 give a number, read as absent.
    #[serde(deserialize_with = "string_or_none")]
    pub profile: Option<String>,
    pub sample_rate: Option<u64>,
    pub channel_count: Option<u64>,
    pub mu_law: Option<bool>,
}

fn string_or_none<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => Some(s),
        _ => None,
    })
}

/// `Info`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Info {
    pub version: String,
    pub started: String,
}

/// `Error`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ErrorBody {
    pub error: String,
    pub status: String,
}

impl Path {
    pub fn is_online(&self) -> bool {
        self.online
            .or(self.available)
            .or(self.ready)
            .unwrap_or(false)
    }

    /// The tracks as codec labels, from `tracks2` (or the deprecated `tracks`).
    pub fn codecs(&self) -> Vec<String> {
        match &self.tracks2 {
            Some(t) => t.iter().map(|t| t.codec.clone()).collect(),
            None => self.tracks.clone().unwrap_or_default(),
        }
    }

    /// The first video track.
    pub fn video(&self) -> Option<&PathTrack> {
        self.tracks2
            .as_ref()?
            .iter()
            .find(|t| matches!(t.codec.as_str(), "H264" | "H265" | "AV1" | "VP9" | "VP8"))
    }

    pub fn bytes_in(&self) -> u64 {
        self.inbound_bytes.or(self.bytes_received).unwrap_or(0)
    }
}

/// What went wrong asking the Control API.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApiError {
    #[error("media server not answering at {addr}: {reason}")]
    Unreachable { addr: String, reason: String },
    #[error("media server has no path {path:?}: {message}")]
    NotFound { path: String, message: String },
    #[error("media server answered HTTP {status}: {message}")]
    Status { status: u16, message: String },
    #[error("media server answered something that is not its API's JSON: {0}")]
    Malformed(String),
}

/// A blocking client of the Control API.
#[derive(Clone)]
pub struct Client {
    addr: SocketAddr,
    agent: ureq::Agent,
}

impl Client {
    /// A client of the API at `addr`; no request waits longer than `timeout`.
    pub fn new(addr: SocketAddr, timeout: Duration) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .timeout_connect(Some(timeout.min(Duration::from_millis(500))))
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
            .into();
        Self { addr, agent }
    }

    /// A GET (or a POST with no body) of `route`: the answer's body when it is 200, else what
    /// the error says (`path` names what a 404 did not find).
    fn send(&self, post: bool, route: &str, path: &str) -> Result<String, ApiError> {
        let url = format!("http://{}{route}", self.addr);
        let sent = if post {
            self.agent.post(&url).send_empty()
        } else {
            self.agent.get(&url).call()
        };
        let mut resp = sent.map_err(|e| ApiError::Unreachable {
            addr: self.addr.to_string(),
            reason: e.to_string(),
        })?;
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .with_config()
            .limit(4 * 1024 * 1024)
            .read_to_string()
            .map_err(|e| ApiError::Unreachable {
                addr: self.addr.to_string(),
                reason: format!("the answer broke off: {e}"),
            })?;
        if status == 200 {
            return Ok(body);
        }
        let message = serde_json::from_str::<ErrorBody>(&body)
            .ok()
            .map(|b| b.error)
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| body.chars().take(200).collect());
        Err(if status == 404 {
            ApiError::NotFound {
                path: path.to_string(),
                message,
            }
        } else {
            ApiError::Status { status, message }
        })
    }

    fn get<T: for<'de> Deserialize<'de>>(&self, route: &str, path: &str) -> Result<T, ApiError> {
        let body = self.send(false, route, path)?;
        serde_json::from_str(&body).map_err(|e| ApiError::Malformed(e.to_string()))
    }

    /// `GET /v3/paths/get/{name}`.
    pub fn path(&self, name: &str) -> Result<Path, ApiError> {
        self.get(&format!("/v3/paths/get/{name}"), name)
    }

    /// `GET /v3/paths/list`: the names of the paths that have a publisher now, from the
    /// first [`PATHS_READ`] paths.
    pub fn published(&self) -> Result<Vec<String>, ApiError> {
        let list: PathList = self.get(
            &format!("/v3/paths/list?page=0&itemsPerPage={PATHS_READ}"),
            "",
        )?;
        Ok(list
            .items
            .into_iter()
            .take(PATHS_READ)
            .filter(Path::is_online)
            .map(|p| p.name)
            .collect())
    }

    /// `GET /v3/info`.
    pub fn info(&self) -> Result<Info, ApiError> {
        self.get("/v3/info", "")
    }

    /// `POST /v3/rtmpconns/kick/{id}`: ends an RTMP connection (a drone whose approval the
    /// operator revoked). `NotFound` when it has ended already.
    pub fn kick_rtmp(&self, id: &str) -> Result<(), ApiError> {
        if id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
        {
            return Err(ApiError::Malformed(format!(
                "{:?} is not a connection id",
                id.chars().take(64).collect::<String>()
            )));
        }
        self.send(true, &format!("/v3/rtmpconns/kick/{id}"), id)
            .map(|_| ())
    }
}

pub use crate::wire::{BFrames, MediaMtxReport};

/// What skycountd knows beside the API's answers, to interpret them.
#[derive(Debug, Clone)]
pub struct Context {
    /// Where the pilot publishes, for "no drone on …" (no key in it).
    pub publish_url: String,
    pub api: SocketAddr,
    /// The browsers' path differs from the ingest path (`always_available`).
    pub separate_view_path: bool,
    /// The drone has been online long enough for the forward to the viewers' path to be up.
    pub settled: bool,
    /// The decoder saw B-frames (`Some(false)`: it looked and saw none).
    pub b_frames_seen: Option<bool>,
}

impl MediaMtxReport {
    fn empty(message: String) -> Self {
        Self {
            reachable: false,
            version: None,
            publisher: false,
            source_type: None,
            codec: None,
            tracks: Vec::new(),
            width: None,
            height: None,
            h264_profile: None,
            bytes_received: 0,
            readers: 0,
            viewers: 0,
            viewers_live: false,
            b_frames: BFrames::Unknown,
            b_frames_warning: None,
            message,
        }
    }
}

/// The track list in `mediamtx.always_available_tracks` form, for the hint when MediaMTX refuses
/// the drone's tracks on the viewers' path.
pub fn track_specs(path: &Path) -> Vec<String> {
    let Some(tracks) = &path.tracks2 else {
        return path.codecs();
    };
    tracks
        .iter()
        .map(|t| {
            let p = t.codec_props.clone().unwrap_or_default();
            let rate_ch = || {
                format!(
                    ":{}:{}",
                    p.sample_rate.unwrap_or(48000),
                    p.channel_count.unwrap_or(2)
                )
            };
            match t.codec.as_str() {
                "MPEG-4 Audio" => format!("MPEG4Audio{}", rate_ch()),
                "G711" => format!(
                    "G711{}{}",
                    rate_ch(),
                    if p.mu_law == Some(true) { ":mulaw" } else { "" }
                ),
                "LPCM" => format!("LPCM{}", rate_ch()),
                other => other.to_string(),
            }
        })
        .collect()
}

/// The longest label (codec, profile, source type, version) taken from an answer.
const MAX_LABEL: usize = 32;
/// The most tracks reported.
const MAX_TRACKS: usize = 8;
/// The longest message made of an answer.
const MAX_MESSAGE: usize = 600;

/// `text` cut to `max` characters: whatever MediaMTX (or whatever answers in its place) sends,
/// the status stays a few lines.
fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((i, _)) => format!("{}…", &text[..i]),
    }
}

/// Turns the API's answers into the status: `ingest` for `stream.path`, `view` for the
/// browsers' path (when separate), `version` from `/v3/info`. Labels, lists and the message are
/// capped (see [`MAX_LABEL`], [`MAX_TRACKS`], [`MAX_MESSAGE`]).
pub fn interpret(
    ingest: Result<Path, ApiError>,
    view: Option<Result<Path, ApiError>>,
    version: Option<String>,
    ctx: &Context,
) -> MediaMtxReport {
    let mut r = interpret_uncapped(ingest, view, version.map(|v| cut(&v, MAX_LABEL)), ctx);
    let label = |v: &mut Option<String>| {
        if let Some(s) = v.as_mut() {
            *s = cut(s, MAX_LABEL);
        }
    };
    label(&mut r.codec);
    label(&mut r.source_type);
    label(&mut r.h264_profile);
    r.tracks.truncate(MAX_TRACKS);
    for t in &mut r.tracks {
        *t = cut(t, MAX_LABEL);
    }
    r.message = cut(&r.message, MAX_MESSAGE);
    if let Some(w) = r.b_frames_warning.as_mut() {
        *w = cut(w, MAX_MESSAGE);
    }
    r
}

fn interpret_uncapped(
    ingest: Result<Path, ApiError>,
    view: Option<Result<Path, ApiError>>,
    version: Option<String>,
    ctx: &Context,
) -> MediaMtxReport {
    let path = match ingest {
        Ok(p) => p,
        Err(e) => {
            let message = match &e {
                ApiError::Unreachable { .. } => format!(
                    "media server not answering on {} (is mediamtx.service running?)",
                    ctx.api
                ),
                ApiError::NotFound { path, .. } => format!(
                    "media server does not know the path {path}: it runs a configuration that \
                     is not skycount's (restart mediamtx.service to render it again)"
                ),
                other => other.to_string(),
            };
            let mut r = MediaMtxReport::empty(message);
            r.reachable = !matches!(e, ApiError::Unreachable { .. });
            r.version = version;
            return r;
        }
    };
    let mut r = MediaMtxReport::empty(String::new());
    r.reachable = true;
    r.version = version;
    r.publisher = path.is_online();
    r.source_type = path.source.as_ref().map(|s| s.kind.clone());
    r.tracks = path.codecs();
    r.bytes_received = path.bytes_in();
    r.readers = path.readers.len();
    let video = path.video();
    r.codec = video
        .map(|v| v.codec.clone())
        .or_else(|| r.tracks.first().cloned());
    if let Some(props) = video.and_then(|v| v.codec_props.as_ref()) {
        r.width = props.width.filter(|w| *w > 0);
        r.height = props.height.filter(|h| *h > 0);
        if video.map(|v| v.codec.as_str()) == Some("H264") {
            r.h264_profile = props.profile.clone().filter(|p| !p.is_empty());
        }
    }
    let (viewers_path, view_error) = match view {
        None => (Some(&path), None),
        Some(Ok(ref v)) => (Some(v), None),
        Some(Err(ref e)) => (None, Some(e.to_string())),
    };
    if let Some(v) = viewers_path {
        r.viewers = v
            .readers
            .iter()
            .filter(|x| x.kind == "webRTCSession")
            .count();
        r.viewers_live = v.is_online();
    }

    if r.publisher && r.codec.as_deref() == Some("H264") {
        r.b_frames = match (ctx.b_frames_seen, r.h264_profile.as_deref()) {
            (Some(true), _) => BFrames::Yes,
            (_, Some("Baseline")) => BFrames::No,
            (Some(false), _) => BFrames::No,
            (None, Some(_)) => BFrames::Possible,
            (None, None) => BFrames::Unknown,
        };
        r.b_frames_warning = match r.b_frames {
            BFrames::Yes => Some(
                "The drone's H.264 has B-frames, which browsers cannot play over WebRTC (the \
                 counting is not affected). In the streaming app's video or encoder settings, \
                 choose the Baseline profile, or set B-frames to 0."
                    .into(),
            ),
            BFrames::Possible => Some(format!(
                "The drone's H.264 uses the {} profile, which allows B-frames; browsers cannot \
                 play B-frames over WebRTC (the counting is not affected). If the video stays \
                 black in browsers, choose the Baseline profile, or set B-frames to 0, in the \
                 streaming app's video or encoder settings.",
                r.h264_profile.as_deref().unwrap_or("?")
            )),
            _ => None,
        };
    }

    r.message = if r.publisher {
        let mut m = format!(
            "drone connected, {}",
            r.codec.as_deref().unwrap_or("no video")
        );
        if let (Some(w), Some(h)) = (r.width, r.height) {
            m.push_str(&format!(" {w}x{h}"));
        }
        if ctx.separate_view_path && ctx.settled && !r.viewers_live {
            let why = match view_error {
                Some(e) => format!("viewers' path: {e}"),
                None => format!(
                    "MediaMTX refuses its tracks ({}) for viewers: set \
                     mediamtx.always_available_tracks = [{}] and restart",
                    r.tracks.join(", "),
                    track_specs(&path)
                        .iter()
                        .map(|t| format!("\"{t}\""))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            m.push_str(&format!("; browsers see the offline picture: {why}"));
        }
        m
    } else {
        format!("no drone on {}", ctx.publish_url)
    };
    r
}
