//! Configuration: one TOML file, every key with a documented default.
//!
//! The file (default `/etc/skycount/skycount.toml`, `--config PATH`) is read with the `config`
//! crate and layered under environment overrides named `SKYCOUNT_<SECTION>__<KEY>`, so
//! `SKYCOUNT_SERVER__LISTEN=127.0.0.1:8080` replaces `[server] listen`. The commented example in
//! `docs/skycount.example.toml` documents every key; `skycountd check-config` prints the
//! effective result.
//!
//! Mistakes are caught here, before anything starts, and reported with the file (or environment
//! variable), the key and what was expected:
//!
//! ```text
//! /etc/skycount/skycount.toml: unknown key `source.ulr`; [source] takes: url, stall_ms, …
//! /etc/skycount/skycount.toml: `server.listen` = "80": expected an address such as 0.0.0.0:80
//! ```
//!
//! Values are parsed once, here, into the types the rest of skycountd uses: source URLs
//! ([`SourceSpec`], [`SourceUrl`]), the hotspot's network ([`Ipv4Net`], [`DhcpRange`]), tracks
//! ([`Track`]), the log level ([`LogLevel`]); durations stay `*_ms` integers. A value that does
//! not parse is reported like any other mistake, with its key; the checks of the values' own
//! rules live beside their types in the submodules ([`history`], [`hotspot`], [`mqtt`], [`stream`], [`track`], [`update`]), so that
//! this module depends on none of the parts that use it.
//!
//! No input is trusted to be small or sane: every number has a range (`model.threads = 10^8`
//! would allocate until the box dies; a backoff of 9.2e18 ms never retries), every string a
//! length and no control characters (a NUL cuts the C string GStreamer gets), the file is read
//! up to [`MAX_FILE_BYTES`], and an error lists at most 20 problems, each on lines cut to a few
//! hundred characters, however large or deep the input that caused it.

pub mod history;
pub mod hotspot;
pub mod mqtt;
pub mod operator;
pub mod printable;
pub mod stream;
pub mod track;
pub mod update;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use self::history::HistorySettings;
pub use self::hotspot::DhcpRange;
pub use self::mqtt::MqttSettings;
pub use self::operator::OperatorSettings;
pub use self::stream::{check_path_name, check_stream_key};
pub use self::track::{Codec, Track};
pub use self::update::UpdateSettings;
pub use crate::source::{SourceUrl, SourceUrlError};
pub use ipnet::Ipv4Net;

/// Where the configuration is read from when `--config` is not given.
pub const DEFAULT_PATH: &str = "/etc/skycount/skycount.toml";
/// Prefix of the environment variables that override keys.
pub const ENV_PREFIX: &str = "SKYCOUNT";

/// The whole effective configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Settings {
    pub source: SourceSettings,
    pub decode: DecodeSettings,
    pub model: ModelSettings,
    pub analysis: AnalysisSettings,
    pub server: ServerSettings,
    pub stream: StreamSettings,
    pub mediamtx: MediamtxSettings,
    pub hotspot: HotspotSettings,
    pub operator: OperatorSettings,
    pub mqtt: MqttSettings,
    pub history: HistorySettings,
    pub update: UpdateSettings,
    pub log: LogSettings,
}

/// `[source]`: where the video comes from and how losing it is handled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SourceSettings {
    /// rtmp://, rtsp:// or file:// (a recorded flight); `auto` (or empty): MediaMTX on this box
    /// over loopback, with `stream.read_protocol` (see [`Settings::source_url`]).
    pub url: SourceSpec,
    /// A live stream with no frame for this long is reported `stalled`.
    pub stall_ms: u64,
    /// A stream stalled for this long is torn down and re-attached (`reconnecting`).
    pub reconnect_after_ms: u64,
    /// First wait between attempts to attach to the source.
    pub backoff_initial_ms: u64,
    /// Longest wait between attempts (the backoff doubles up to this).
    pub backoff_max_ms: u64,
    /// file:// sources start again at the end instead of stopping.
    pub loop_file: bool,
    /// Jitter buffer for rtsp:// sources.
    pub rtsp_latency_ms: u32,
    /// A file:// recording analysed while no drone streams (empty in the TOML: none). Its results
    /// are marked `demo` so that nobody takes them for the live crowd.
    #[serde(with = "empty_is_none")]
    pub demo_url: Option<SourceUrl>,
    /// How long the source must be without frames before the demo starts.
    pub demo_after_ms: u64,
}

impl Default for SourceSettings {
    fn default() -> Self {
        Self {
            url: SourceSpec::Auto,
            stall_ms: 1000,
            reconnect_after_ms: 3000,
            backoff_initial_ms: 200,
            backoff_max_ms: 1000,
            loop_file: true,
            rtsp_latency_ms: 100,
            demo_url: None,
            demo_after_ms: 5000,
        }
    }
}

/// `source.url`: MediaMTX on this box, or a URL of its own.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SourceSpec {
    /// `auto` (or empty): MediaMTX on this box over loopback (see [`Settings::source_url`]).
    #[default]
    Auto,
    Url(SourceUrl),
}

impl SourceSpec {
    /// The URL when one is set (not `auto`).
    pub fn url(&self) -> Option<&SourceUrl> {
        match self {
            Self::Auto => None,
            Self::Url(u) => Some(u),
        }
    }
}

impl FromStr for SourceSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.is_empty() || s.eq_ignore_ascii_case(AUTO) {
            return Ok(Self::Auto);
        }
        s.parse()
            .map(Self::Url)
            .map_err(|e| format!("{e} (or \"auto\": MediaMTX on this box)"))
    }
}

impl Serialize for SourceSpec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Auto => s.serialize_str(AUTO),
            Self::Url(u) => u.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for SourceSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// An optional URL that the TOML leaves empty for "none" (`source.demo_url`).
mod empty_is_none {
    use super::SourceUrl;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<SourceUrl>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(u) => u.serialize(s),
            None => s.serialize_str(""),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SourceUrl>, D::Error> {
        let text = String::deserialize(d)?;
        if text.trim().is_empty() {
            return Ok(None);
        }
        text.parse().map(Some).map_err(serde::de::Error::custom)
    }
}

/// `[decode]`: the H.264/H.265 decoder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DecodeSettings {
    /// `auto` probes the GStreamer registry (nvv4l2decoder, v4l2, VA-API, then libav);
    /// or the name of a GStreamer decoder element to use instead.
    pub decoder: String,
}

impl Default for DecodeSettings {
    fn default() -> Self {
        Self {
            decoder: "auto".into(),
        }
    }
}

/// An ONNX Runtime execution provider skycountd knows how to ask for, by its name in the TOML,
/// the logs and the status.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum ExecutionProviderKind {
    Tensorrt,
    Cuda,
    Cpu,
}

impl ExecutionProviderKind {
    pub fn name(self) -> &'static str {
        self.into()
    }
}

/// `model.precision`: in which numbers the model runs.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    Serialize,
    Deserialize,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum Precision {
    /// On the CPU, the model's INT8 twin (`<stem>-int8.onnx` beside it, made by
    /// models/quantize.py) when it is there, was made from this very model and passed its checks,
    /// else the model itself in FP32; on TensorRT the model in FP16 (`tensorrt_fp16`), on CUDA
    /// in FP32.
    #[default]
    Auto,
    /// The model as it is, in 32-bit floats (TensorRT: FP16 when `tensorrt_fp16`).
    Fp32,
    /// The INT8 twin, on every execution provider; refused when there is none or it failed its
    /// checks.
    Int8,
}

/// `[model]`: the crowd-counting network and the runtime that runs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ModelSettings {
    /// The ONNX model: u8 RGB `[1,H,W,3]` in, density `[1,1,H/8,W/8]` out (see models/).
    pub path: PathBuf,
    /// The default analysis size, as a budget of pixels: a frame is analysed at the size that holds
    /// `input_width × input_height` pixels with the frame's own aspect (a 16:9 frame at exactly
    /// this size, a 4:3 or portrait one not squeezed), unless `analysis.scale`, the model's card or
    /// an operator's calibration says otherwise.
    pub input_width: u32,
    pub input_height: u32,
    /// Tried in this order; the first that works is used and reported.
    pub execution_providers: Vec<ExecutionProviderKind>,
    /// Threads ONNX Runtime may use for one run; 0 lets it choose (one per core).
    pub threads: usize,
    /// libonnxruntime.so to load; when unset, `ORT_DYLIB_PATH`, then the system's library path.
    pub onnxruntime_library: Option<PathBuf>,
    /// Where TensorRT keeps the engines it builds, so only the first start is slow.
    pub cache_dir: PathBuf,
    /// Let TensorRT run in half precision.
    pub tensorrt_fp16: bool,
    /// In which numbers the model runs: `auto`, `fp32` or `int8` ([`Precision`]).
    pub precision: Precision,
}

impl Default for ModelSettings {
    fn default() -> Self {
        Self {
            path: "/usr/share/skycount/models/csrnet-drone.onnx".into(),
            input_width: 640,
            input_height: 360,
            execution_providers: vec![
                ExecutionProviderKind::Tensorrt,
                ExecutionProviderKind::Cuda,
                ExecutionProviderKind::Cpu,
            ],
            threads: 0,
            onnxruntime_library: None,
            cache_dir: "/var/lib/skycount/tensorrt".into(),
            tensorrt_fp16: true,
            precision: Precision::Auto,
        }
    }
}

/// `[analysis]`: what is made of the model's output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AnalysisSettings {
    /// Size of the density grid sent to viewers (at most the model's output size).
    pub grid_width: u32,
    pub grid_height: u32,
    /// The analysis size as a fraction of the decoded frame's (1.0: native; above 1: upsampled,
    /// for people seen from high up). 0: the `model.input_width` × `model.input_height` budget. An operator's
    /// calibration replaces it for its stream path.
    pub scale: f64,
    /// The largest analysis width, whatever the scale asks for (time and memory grow with it).
    pub max_width: u32,
    /// Run the model on tiles of this size (0: one run on the whole picture). Execution
    /// providers built for one input shape (TensorRT engines) want this.
    pub tile_width: u32,
    pub tile_height: u32,
    /// Context around each tile's core, in pixels (a multiple of 8).
    pub tile_margin: u32,
    /// The smoothed count and its band cover the analyses of this long.
    pub smooth_ms: u64,
    /// A zone's smoothed count must stay at or above its limit this long to raise an alert, and
    /// below the clearing level this long to clear it (`analyse::alerts`).
    pub alert_hold_ms: u64,
    /// An alert clears below `limit × (1 − alert_hysteresis)` (0 to 0.9).
    pub alert_hysteresis: f64,
    /// Where calibrations, masks and the frames the operator tapped are kept, per stream path.
    pub state_dir: PathBuf,
    /// The most frozen frames kept per stream path (1 to 100000); beyond, the oldest go, those
    /// never tapped first (`store`).
    pub max_frozen_frames: u32,
}

impl Default for AnalysisSettings {
    fn default() -> Self {
        Self {
            grid_width: 80,
            grid_height: 45,
            scale: 0.0,
            max_width: 3840,
            tile_width: 0,
            tile_height: 0,
            tile_margin: 64,
            smooth_ms: 10_000,
            alert_hold_ms: 3_000,
            alert_hysteresis: 0.1,
            state_dir: PathBuf::from("/var/lib/skycount/analysis"),
            max_frozen_frames: 200,
        }
    }
}

/// `[server]`: the HTTP and Socket.IO port.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerSettings {
    pub listen: SocketAddr,
    /// The dashboard's built files (web/dist); a placeholder page is served when absent.
    pub web_dir: PathBuf,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 80)),
            web_dir: "/usr/share/skycount/web".into(),
        }
    }
}

/// `source.url` that means "MediaMTX on this box".
pub const AUTO: &str = "auto";

/// How skycountd reads the drone's stream from MediaMTX over loopback; its name is the URL
/// scheme.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum ReadProtocol {
    Rtsp,
    Rtmp,
}

/// `[stream]`: how the pilot publishes to MediaMTX on this box, and how viewers and skycountd
/// read it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StreamSettings {
    /// The MediaMTX path the drone publishes to (and skycountd reads).
    pub path: String,
    /// The path browsers play: the drone's stream, kept available while the drone is away
    /// (`mediamtx.always_available`). Unused when that is off: browsers play `path`.
    pub view_path: String,
    /// The publish key (the password of user `drone`); empty: generated on first start and kept
    /// in `key_file`.
    pub key: String,
    /// Where a generated key is kept so that it survives reboots.
    pub key_file: PathBuf,
    pub rtmp_port: u16,
    /// MediaMTX's RTSP port (loopback only).
    pub rtsp_port: u16,
    /// MediaMTX's WebRTC (WHEP) port.
    pub webrtc_port: u16,
    /// How skycountd reads the stream from MediaMTX when `source.url` is `auto`.
    pub read_protocol: ReadProtocol,
    /// Pairing by approval: MediaMTX asks skycountd about every client (its `authMethod: http`),
    /// and a drone without the key may publish once the operator allows its address
    /// (`mediamtx::pairing`). Off: MediaMTX checks the key itself, as before.
    pub pairing: bool,
    /// How long the operator's approval of an address lasts, in minutes (1 to 43200, 30 days).
    pub approval_minutes: u32,
}

impl Default for StreamSettings {
    fn default() -> Self {
        Self {
            path: "live/drone".into(),
            view_path: "live/drone/view".into(),
            key: String::new(),
            key_file: "/var/lib/skycount/stream-key".into(),
            rtmp_port: 1935,
            rtsp_port: 8554,
            webrtc_port: 8889,
            read_protocol: ReadProtocol::Rtsp,
            pairing: true,
            approval_minutes: 1440,
        }
    }
}

impl StreamSettings {
    /// The path browsers play.
    pub fn browser_path(&self, mediamtx: &MediamtxSettings) -> &str {
        if mediamtx.always_available {
            &self.view_path
        } else {
            &self.path
        }
    }
}

/// `[mediamtx]`: the media server beside skycountd, its rendered configuration and its watch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MediamtxSettings {
    /// Poll MediaMTX's Control API and report what it says in the status.
    pub watch: bool,
    /// MediaMTX's Control API (v3); loopback only.
    pub api: SocketAddr,
    /// MediaMTX's Prometheus metrics; loopback only.
    pub metrics: SocketAddr,
    /// How often the Control API is asked.
    pub poll_ms: u64,
    /// Where `skycountd render-mediamtx` writes mediamtx.yml.
    pub config_out: PathBuf,
    /// Hosts or addresses WebRTC viewers reach the box by, beyond the hotspot address and the
    /// addresses of its interfaces.
    pub additional_hosts: Vec<String>,
    /// Keep viewers connected while the drone is away (an "offline" picture plays meanwhile).
    pub always_available: bool,
    /// The tracks the drone publishes, exactly: `H264`, `H265`, or e.g.
    /// `MPEG4Audio:44100:2` for AAC audio. MediaMTX refuses a stream that differs for viewers.
    pub always_available_tracks: Vec<Track>,
    /// MediaMTX's WebRTC ICE port (UDP).
    pub webrtc_udp_port: u16,
}

impl Default for MediamtxSettings {
    fn default() -> Self {
        Self {
            watch: true,
            api: SocketAddr::from(([127, 0, 0, 1], 9997)),
            metrics: SocketAddr::from(([127, 0, 0, 1], 9998)),
            poll_ms: 1000,
            config_out: "/run/mediamtx/mediamtx.yml".into(),
            additional_hosts: Vec::new(),
            always_available: true,
            always_available_tracks: vec![Track {
                codec: Codec::H264,
                sample_rate: None,
                channels: None,
                mu_law: false,
            }],
            webrtc_udp_port: 8189,
        }
    }
}

/// `[hotspot]`: the Wi-Fi network the pilot's phone and the viewers join.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HotspotSettings {
    pub enabled: bool,
    /// The Wi-Fi interface hostapd runs the access point on.
    pub interface: String,
    pub ssid: String,
    /// WPA2 passphrase, 8 to 63 printable ASCII characters; empty: generated on the first
    /// `render-hotspot` and kept in `passphrase_file`.
    pub passphrase: String,
    /// Where a generated passphrase is kept (the hotspot unit's StateDirectory).
    pub passphrase_file: PathBuf,
    /// ISO 3166 country code for the radio's regulatory domain; empty: the world domain
    /// (2.4 GHz channels 1 to 11 only).
    pub country: String,
    /// 1 to 13 (2.4 GHz), or 36 to 48 and 149 to 165 (5 GHz, needs `country`).
    pub channel: u8,
    /// The box's address and prefix on the hotspot ([`HotspotSettings::box_addr`]: the address
    /// alone).
    pub address: Ipv4Net,
    /// Addresses handed out by DHCP: "FIRST-LAST".
    pub dhcp_range: DhcpRange,
    /// Answer every DNS name with the box's address, so that a phone that joins opens the
    /// dashboard.
    pub captive_portal: bool,
}

impl Default for HotspotSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            interface: "wlan0".into(),
            ssid: "skycount".into(),
            passphrase: String::new(),
            passphrase_file: "/var/lib/skycount-hotspot/passphrase".into(),
            country: String::new(),
            channel: 6,
            address: Ipv4Net::new(std::net::Ipv4Addr::new(192, 168, 50, 1), 24)
                .expect("24 is a prefix length"),
            dhcp_range: DhcpRange {
                first: std::net::Ipv4Addr::new(192, 168, 50, 10),
                last: std::net::Ipv4Addr::new(192, 168, 50, 250),
            },
            captive_portal: true,
        }
    }
}

/// `[log]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct LogSettings {
    /// error, warn, info, debug or trace; `RUST_LOG` overrides it.
    pub level: LogLevel,
}

/// `log.level`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    Serialize,
    Deserialize,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::AsRefStr,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum LogLevel {
    Error,
    Warn,
    #[default]
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The `log` crate's filter for it.
    pub fn filter(self) -> log::LevelFilter {
        match self {
            Self::Error => log::LevelFilter::Error,
            Self::Warn => log::LevelFilter::Warn,
            Self::Info => log::LevelFilter::Info,
            Self::Debug => log::LevelFilter::Debug,
            Self::Trace => log::LevelFilter::Trace,
        }
    }
}

/// A configuration that cannot be used, with where it came from.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read the configuration: {reason}\n  (run without --config to use the defaults, or fix the path)")]
    Unreadable { path: String, reason: String },
    #[error("{origin}: {problem}")]
    Invalid { origin: String, problem: String },
    #[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))]
    Many(Vec<ConfigError>),
}

/// Where the configuration was read from, for messages.
#[derive(Debug, Clone)]
pub struct Origin {
    pub file: Option<PathBuf>,
}

impl Origin {
    fn describe(&self) -> String {
        match &self.file {
            Some(p) => p.display().to_string(),
            None => "configuration (built-in defaults)".into(),
        }
    }
}

/// Reads the configuration: `explicit` must exist; without it the default path is read when it
/// exists and the built-in defaults are used when it does not.
pub fn load(explicit: Option<&Path>) -> Result<(Settings, Origin), ConfigError> {
    let env: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| k.starts_with(&format!("{ENV_PREFIX}_")))
        .collect();
    load_from(explicit, Path::new(DEFAULT_PATH), &env)
}

/// [`load`] with the default path and the environment given, for tests.
pub fn load_from(
    explicit: Option<&Path>,
    default_path: &Path,
    env: &[(String, String)],
) -> Result<(Settings, Origin), ConfigError> {
    let file = match explicit {
        Some(p) => {
            if let Err(e) = std::fs::metadata(p) {
                return Err(ConfigError::Unreadable {
                    path: p.display().to_string(),
                    reason: e.to_string(),
                });
            }
            Some(p.to_path_buf())
        }
        None if default_path.exists() => Some(default_path.to_path_buf()),
        None => None,
    };
    let origin = Origin { file };

    let mut builder = config::Config::builder();
    if let Some(p) = &origin.file {
        let text = read_capped(p)?;
        builder = builder.add_source(config::File::from_str(&text, config::FileFormat::Toml));
    }
    let env_map: config::Map<String, String> = env.iter().cloned().collect();
    builder = builder.add_source(
        config::Environment::with_prefix(ENV_PREFIX)
            .prefix_separator("_")
            .separator("__")
            .try_parsing(true)
            .list_separator(",")
            .with_list_parse_key("model.execution_providers")
            .with_list_parse_key("mediamtx.additional_hosts")
            .with_list_parse_key("mediamtx.always_available_tracks")
            .source(Some(env_map)),
    );
    let env_keys: BTreeMap<String, String> = env
        .iter()
        .filter_map(|(k, _)| {
            let rest = k.strip_prefix(&format!("{ENV_PREFIX}_"))?;
            Some((rest.to_lowercase().replace("__", "."), k.clone()))
        })
        .collect();
    let where_ = |key: &str| -> String {
        match env_keys.get(key.split('[').next().unwrap_or(key)) {
            Some(var) => format!("environment variable {var}"),
            None => origin.describe(),
        }
    };

    // A value that does not parse stops serde at once; to name every such value in one go, each
    // is reported and replaced by its default, and the rest is read again.
    let mut errors = Vec::new();
    let mut replaced: Vec<String> = Vec::new();
    let settings = loop {
        let merged = builder.build_cloned().map_err(|e| {
            tidy(vec![ConfigError::Invalid {
                origin: origin.describe(),
                problem: format!("not valid TOML: {e}"),
            }])
            .expect("an error")
        })?;
        let mut unknown = Vec::new();
        let mut unknown_count = 0usize;
        // Unknown keys are collected (not rejected by serde at the first) so that all are named;
        // past MAX_ERRORS they are only counted.
        let parsed: Result<Settings, config::ConfigError> =
            serde_ignored::deserialize(merged, |path| {
                unknown_count += 1;
                if unknown.len() < MAX_ERRORS - 1 {
                    unknown.push(path.to_string());
                }
            });
        if !unknown.is_empty() {
            let mut errors = unknown
                .iter()
                .map(|key| ConfigError::Invalid {
                    origin: where_(key),
                    problem: format!("unknown key `{key}`; {}", known_keys_hint(key)),
                })
                .collect::<Vec<_>>();
            if unknown_count > unknown.len() {
                errors.push(ConfigError::Invalid {
                    origin: origin.describe(),
                    problem: format!(
                        "and {} more unknown keys (not listed): is this a skycount configuration?",
                        unknown_count - unknown.len()
                    ),
                });
            }
            return Err(tidy(errors).expect("an unknown key"));
        }
        match parsed {
            Ok(s) => break s,
            Err(e) => {
                let (key, error) = type_error(e, &where_);
                errors.push(error);
                let default = key
                    .as_deref()
                    .map(|k| k.split('[').next().unwrap_or(k))
                    .filter(|k| !replaced.iter().any(|r| r == k))
                    .and_then(|k| Some((k.to_string(), default_value(k)?)));
                let Some((key, value)) = default else {
                    return Err(tidy(errors).expect("an error"));
                };
                builder = builder.set_override(key.as_str(), value).map_err(|e| {
                    ConfigError::Invalid {
                        origin: where_(&key),
                        problem: format!("`{key}`: {e}"),
                    }
                })?;
                replaced.push(key);
            }
        }
    };
    // Problems that follow from a replaced value (e.g. a port clash with its default) are not
    // the user's: those naming a replaced key are left out.
    for (key, problem) in validate(&settings) {
        if replaced
            .iter()
            .any(|r| key.as_str() == r || problem.contains(r.as_str()))
        {
            continue;
        }
        errors.push(ConfigError::Invalid {
            origin: where_(&key),
            problem: format!("`{key}`: {problem}"),
        });
    }
    match tidy(errors) {
        None => Ok((settings, origin)),
        Some(e) => Err(e),
    }
}

/// The most a configuration file may be. A real one is a few kilobytes; the cap bounds the work
/// (and the messages) a runaway file can cause.
pub const MAX_FILE_BYTES: u64 = 256 * 1024;

/// The most problems listed at once; the rest are counted.
const MAX_ERRORS: usize = 20;

/// The longest line of an error; longer ones (a huge value quoted back) are cut.
const MAX_LINE_CHARS: usize = 300;

/// Reads the configuration file, refusing one larger than [`MAX_FILE_BYTES`] without reading
/// the rest of it.
fn read_capped(p: &Path) -> Result<String, ConfigError> {
    use std::io::Read;
    let unreadable = |reason: String| ConfigError::Unreadable {
        path: p.display().to_string(),
        reason,
    };
    let file = std::fs::File::open(p).map_err(|e| unreadable(e.to_string()))?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| unreadable(e.to_string()))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(ConfigError::Invalid {
            origin: p.display().to_string(),
            problem: format!(
                "is larger than {} KiB: a skycount configuration is a few kilobytes; is this \
                 the right file?",
                MAX_FILE_BYTES / 1024
            ),
        });
    }
    String::from_utf8(bytes).map_err(|e| ConfigError::Invalid {
        origin: p.display().to_string(),
        problem: format!(
            "is not UTF-8 text (byte {}): save it as UTF-8",
            e.utf8_error().valid_up_to()
        ),
    })
}

/// `line` cut to [`MAX_LINE_CHARS`] characters.
fn cut_line(line: &str) -> String {
    match line.char_indices().nth(MAX_LINE_CHARS) {
        None => line.to_string(),
        Some((i, _)) => format!("{}… (cut)", &line[..i]),
    }
}

/// One error for a list, with at most [`MAX_ERRORS`] problems listed and no line longer than
/// [`MAX_LINE_CHARS`]: whatever the input, an error is a few lines a person can read.
fn tidy(errors: Vec<ConfigError>) -> Option<ConfigError> {
    let total = errors.len();
    let mut out: Vec<ConfigError> = errors
        .into_iter()
        .take(MAX_ERRORS)
        .map(|e| match e {
            ConfigError::Invalid { origin, problem } => ConfigError::Invalid {
                origin: cut_line(&origin),
                // A TOML syntax error shows the line at fault under its message: a few lines,
                // each cut.
                problem: problem
                    .lines()
                    .take(8)
                    .map(cut_line)
                    .collect::<Vec<_>>()
                    .join("\n"),
            },
            other => other,
        })
        .collect();
    if total > MAX_ERRORS {
        out.push(ConfigError::Invalid {
            origin: "configuration".into(),
            problem: format!("and {} more problems (not listed)", total - MAX_ERRORS),
        });
    }
    ConfigError::from_list(out)
}

impl ConfigError {
    /// One error for a list of them; `None` for none.
    fn from_list(mut errors: Vec<ConfigError>) -> Option<ConfigError> {
        match errors.len() {
            0 => None,
            1 => errors.pop(),
            _ => Some(ConfigError::Many(errors)),
        }
    }
}

/// The default of `key` (`section.name`), as the `config` crate's value.
fn default_value(key: &str) -> Option<config::Value> {
    fn convert(v: &toml::Value) -> config::Value {
        let kind = match v {
            toml::Value::String(s) => config::ValueKind::String(s.clone()),
            toml::Value::Integer(i) => config::ValueKind::I64(*i),
            toml::Value::Float(f) => config::ValueKind::Float(*f),
            toml::Value::Boolean(b) => config::ValueKind::Boolean(*b),
            toml::Value::Datetime(d) => config::ValueKind::String(d.to_string()),
            toml::Value::Array(a) => config::ValueKind::Array(a.iter().map(convert).collect()),
            toml::Value::Table(t) => {
                config::ValueKind::Table(t.iter().map(|(k, v)| (k.clone(), convert(v))).collect())
            }
        };
        config::Value::new(None, kind)
    }
    let defaults = toml::Value::try_from(Settings::default()).ok()?;
    let (section, name) = key.split_once('.')?;
    match defaults.get(section)?.get(name) {
        Some(v) => Some(convert(v)),
        // Unset by default (`model.onnxruntime_library`).
        None => optional_keys(section)
            .contains(&name)
            .then(|| config::Value::new(None, config::ValueKind::Nil)),
    }
}

/// Turns a `config` type error into one that names the key and what it expects; with the key.
fn type_error(
    e: config::ConfigError,
    where_: &dyn Fn(&str) -> String,
) -> (Option<String>, ConfigError) {
    let text = e.to_string();
    // config names the key as "for key `a.b`"; keep its wording and point at the right origin.
    let key = text
        .split("for key `")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
        .map(str::to_owned);
    match key {
        Some(key) => {
            let problem = text.split(" for key `").next().unwrap_or(&text).to_string();
            let error = ConfigError::Invalid {
                origin: where_(&key),
                problem: format!("`{key}`: {problem}{}", expected_hint(&key)),
            };
            (Some(key), error)
        }
        None => (
            None,
            ConfigError::Invalid {
                origin: where_(""),
                problem: text,
            },
        ),
    }
}

fn expected_hint(key: &str) -> &'static str {
    match key.split('[').next().unwrap_or(key) {
        "server.listen" => " (expected an address such as \"0.0.0.0:80\")",
        "model.execution_providers" => {
            " (expected a list drawn from \"tensorrt\", \"cuda\", \"cpu\")"
        }
        "model.precision" => " (expected \"auto\", \"fp32\" or \"int8\")",
        "stream.read_protocol" => " (expected \"rtsp\" or \"rtmp\")",
        "mediamtx.api" | "mediamtx.metrics" => {
            " (expected a loopback address such as \"127.0.0.1:9997\")"
        }
        "stream.rtmp_port"
        | "stream.rtsp_port"
        | "stream.webrtc_port"
        | "mediamtx.webrtc_udp_port"
        | "mqtt.port" => " (expected a port number, 1 to 65535)",
        "hotspot.channel" => " (expected a Wi-Fi channel number such as 6 or 36)",
        "hotspot.address" => " (expected ADDRESS/PREFIX such as \"192.168.50.1/24\")",
        "log.level" => " (expected error, warn, info, debug or trace)",
        _ => "",
    }
}

fn known_keys_hint(key: &str) -> String {
    let defaults = toml::Value::try_from(Settings::default()).expect("defaults serialise");
    let mut parts = key.split('.');
    let section = parts.next().unwrap_or_default();
    let table = defaults.as_table().expect("a table");
    match table.get(section).and_then(|v| v.as_table()) {
        Some(t) => match parts.next() {
            Some(name) => {
                let mut keys: Vec<&str> = t.keys().map(String::as_str).collect();
                keys.extend(optional_keys(section));
                format!(
                    "{}[{section}] takes: {}",
                    did_you_mean(name, &keys),
                    keys.join(", ")
                )
            }
            None => format!("[{section}] is a section, not a value"),
        },
        None => {
            let sections: Vec<&str> = table.keys().map(String::as_str).collect();
            format!(
                "{}the sections are: {}",
                did_you_mean(section, &sections),
                sections.join(", ")
            )
        }
    }
}

fn did_you_mean(name: &str, known: &[&str]) -> String {
    known
        .iter()
        .map(|k| (strsim::damerau_levenshtein(name, k), k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min()
        .map(|(_, k)| format!("did you mean `{k}`? "))
        .unwrap_or_default()
}

/// Keys whose default is "unset", so they do not show in the serialised defaults.
fn optional_keys(section: &str) -> &'static [&'static str] {
    match section {
        "model" => &["onnxruntime_library"],
        "history" => &["path"],
        _ => &[],
    }
}

/// The rules between and within parsed values, as (key, problem): every one, not the first.
fn validate(s: &Settings) -> Vec<(String, String)> {
    let mut errors = Vec::new();
    let mut bad = |key: &str, problem: String| errors.push((key.to_string(), problem));
    if let Some(u) = &s.source.demo_url {
        if u.is_live() {
            bad(
                "source.demo_url",
                format!(
                    "{} must be a file:// recording (or empty for no demo)",
                    u.redacted()
                ),
            );
        }
    }
    // Every number within what makes sense for it: a value far outside is a typo or a probe, and
    // some would hurt (threads = 10^8 allocates until the box runs out of memory; a backoff of
    // 9.2e18 ms never retries).
    let src = &s.source;
    for (key, v, lo, hi, unit) in [
        ("source.stall_ms", src.stall_ms, 100, 60_000, "ms"),
        (
            "source.reconnect_after_ms",
            src.reconnect_after_ms,
            100,
            600_000,
            "ms",
        ),
        (
            "source.backoff_initial_ms",
            src.backoff_initial_ms,
            10,
            60_000,
            "ms",
        ),
        (
            "source.backoff_max_ms",
            src.backoff_max_ms,
            10,
            600_000,
            "ms",
        ),
        (
            "source.rtsp_latency_ms",
            u64::from(src.rtsp_latency_ms),
            0,
            10_000,
            "ms",
        ),
        (
            "source.demo_after_ms",
            src.demo_after_ms,
            100,
            3_600_000,
            "ms",
        ),
        (
            "model.threads",
            s.model.threads as u64,
            0,
            MAX_THREADS,
            "threads (0: one per core)",
        ),
    ] {
        if let Some(problem) = out_of_range(v, lo, hi, unit) {
            bad(key, problem);
        }
    }
    if src.backoff_initial_ms > src.backoff_max_ms {
        bad(
            "source.backoff_initial_ms",
            format!(
                "{} is above source.backoff_max_ms ({}): the first wait is the shortest",
                src.backoff_initial_ms, src.backoff_max_ms
            ),
        );
    }
    if src.reconnect_after_ms < src.stall_ms {
        bad(
            "source.reconnect_after_ms",
            format!(
                "{} is below source.stall_ms ({}): a stream is stalled before it is re-attached",
                src.reconnect_after_ms, src.stall_ms
            ),
        );
    }
    // Every string: a length and no control characters (a NUL cuts a C string; a newline breaks
    // the files rendered from them). Narrower rules per key follow.
    if let Ok(toml::Value::Table(sections)) = toml::Value::try_from(s) {
        for (section, table) in &sections {
            let Some(table) = table.as_table() else {
                continue;
            };
            for (name, value) in table {
                let key = format!("{section}.{name}");
                let items: Vec<(String, &str)> = match value {
                    toml::Value::String(v) => vec![(key.clone(), v.as_str())],
                    toml::Value::Array(a) => a
                        .iter()
                        .enumerate()
                        .filter_map(|(i, v)| Some((format!("{key}[{i}]"), v.as_str()?)))
                        .collect(),
                    _ => continue,
                };
                if items.len() > MAX_LIST {
                    bad(
                        &key,
                        format!("has {} entries: at most {MAX_LIST} are taken", items.len()),
                    );
                }
                for (key, text) in items {
                    if let Some(problem) = check_text(text) {
                        bad(&key, problem);
                    }
                }
            }
        }
    }
    for (key, v) in [
        ("model.input_width", s.model.input_width),
        ("model.input_height", s.model.input_height),
    ] {
        if !(8..=4096).contains(&v) {
            bad(
                key,
                format!("{v} is out of range: expected 8 to 4096 pixels"),
            );
        }
    }
    if s.model.execution_providers.is_empty() {
        bad(
            "model.execution_providers",
            "is empty: list at least \"cpu\"".into(),
        );
    }
    let a = &s.analysis;
    // The density map has one cell per 8x8 pixels of the analysis size; a grid finer than it
    // would only repeat cells. At `scale = 0` that size is model.input_*; otherwise it follows
    // the stream, at most max_width wide. The default grid (80x45, the default size's) is not
    // the user's choice: it shrinks to a smaller model output by itself.
    let default_grid = {
        let d = AnalysisSettings::default();
        (a.grid_width, a.grid_height) == (d.grid_width, d.grid_height)
    };
    for (key, v, most, why) in [
        (
            "analysis.grid_width",
            a.grid_width,
            if a.scale == 0.0 {
                s.model.input_width / 8
            } else {
                a.max_width / 8
            },
            if a.scale == 0.0 {
                "model.input_width / 8, the model's output"
            } else {
                "analysis.max_width / 8"
            },
        ),
        (
            "analysis.grid_height",
            a.grid_height,
            if a.scale == 0.0 {
                s.model.input_height / 8
            } else {
                1024
            },
            if a.scale == 0.0 {
                "model.input_height / 8, the model's output"
            } else {
                "the largest grid"
            },
        ),
    ] {
        let most = if default_grid {
            1024
        } else {
            most.clamp(1, 1024)
        };
        if !(1..=most).contains(&v) {
            bad(
                key,
                format!("{v} is out of range: expected 1 to {most} cells ({why})"),
            );
        }
    }
    if !(a.scale == 0.0 || (0.05..=4.0).contains(&a.scale)) {
        bad(
            "analysis.scale",
            format!(
                "{} is out of range: expected 0 (use model.input_width x input_height) or 0.05 to 4",
                a.scale
            ),
        );
    }
    if !(64..=7680).contains(&a.max_width) {
        bad(
            "analysis.max_width",
            format!(
                "{} is out of range: expected 64 to 7680 pixels",
                a.max_width
            ),
        );
    }
    match (a.tile_width, a.tile_height) {
        (0, 0) => {}
        (w, h) if (64..=4096).contains(&w) && (64..=4096).contains(&h) && w.is_multiple_of(8) && h.is_multiple_of(8) => {
            if a.tile_margin * 2 + 8 > w.min(h) {
                bad(
                    "analysis.tile_margin",
                    format!("{} leaves no core in a {w}x{h} tile: use at most {}", a.tile_margin, (w.min(h) - 8) / 2),
                );
            }
        }
        (w, h) => bad(
            "analysis.tile_width",
            format!("{w}x{h} is not a tile size: use 0 and 0 (no tiles), or multiples of 8 from 64 to 4096"),
        ),
    }
    if !a.tile_margin.is_multiple_of(8) || a.tile_margin > 512 {
        bad(
            "analysis.tile_margin",
            format!(
                "{} is not a margin: use a multiple of 8 up to 512",
                a.tile_margin
            ),
        );
    }
    if !(1_000..=600_000).contains(&a.smooth_ms) {
        bad(
            "analysis.smooth_ms",
            format!(
                "{} is out of range: expected 1000 to 600000 ms",
                a.smooth_ms
            ),
        );
    }
    if a.alert_hold_ms > 600_000 {
        bad(
            "analysis.alert_hold_ms",
            format!(
                "{} is out of range: expected 0 to 600000 ms",
                a.alert_hold_ms
            ),
        );
    }
    if let Some(e) = out_of_range(u64::from(a.max_frozen_frames), 1, 100_000, "frames") {
        bad("analysis.max_frozen_frames", e);
    }
    if !(0.0..=0.9).contains(&a.alert_hysteresis) {
        bad(
            "analysis.alert_hysteresis",
            format!(
                "{} is out of range: expected 0 to 0.9 (a share of the limit)",
                a.alert_hysteresis
            ),
        );
    }
    for (key, path) in [
        ("stream.path", &s.stream.path),
        ("stream.view_path", &s.stream.view_path),
    ] {
        if let Err(e) = check_path_name(path) {
            bad(key, format!("{path:?} is a path MediaMTX refuses: {e}"));
        }
    }
    if s.mediamtx.always_available && s.stream.view_path == s.stream.path {
        bad(
            "stream.view_path",
            format!(
                "{:?} is also stream.path: browsers play a path of their own while \
                 mediamtx.always_available is on",
                s.stream.view_path
            ),
        );
    }
    if !s.stream.key.is_empty() {
        if let Err(e) = check_stream_key(&s.stream.key) {
            bad("stream.key", e);
        }
    }
    if !(1..=43200).contains(&s.stream.approval_minutes) {
        bad(
            "stream.approval_minutes",
            format!(
                "is {}; it must be 1 to 43200 (30 days)",
                s.stream.approval_minutes
            ),
        );
    }
    if s.stream.key.is_empty() && s.stream.key_file.as_os_str().is_empty() {
        bad(
            "stream.key_file",
            "is empty while stream.key is empty too: set a key, or a file to keep a generated one in"
                .into(),
        );
    }
    for (key, addr) in [
        ("mediamtx.api", s.mediamtx.api),
        ("mediamtx.metrics", s.mediamtx.metrics),
    ] {
        if !addr.ip().is_loopback() {
            bad(
                key,
                format!("{addr} is not a loopback address: MediaMTX's {} stays on this box (use 127.0.0.1:{})", key.trim_start_matches("mediamtx."), addr.port()),
            );
        }
    }
    if !(100..=60_000).contains(&s.mediamtx.poll_ms) {
        bad(
            "mediamtx.poll_ms",
            format!(
                "{} is out of range: expected 100 to 60000 milliseconds",
                s.mediamtx.poll_ms
            ),
        );
    }
    for (i, host) in s.mediamtx.additional_hosts.iter().enumerate() {
        if host.is_empty()
            || host.len() > 253
            || !host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-:".contains(c))
        {
            bad(
                &format!("mediamtx.additional_hosts[{i}]"),
                format!("{host:?}: expected a host name or an IP address"),
            );
        }
    }
    if s.mediamtx.always_available && s.mediamtx.always_available_tracks.is_empty() {
        bad(
            "mediamtx.always_available_tracks",
            "is empty: list the drone's tracks, e.g. [\"H264\"]".into(),
        );
    }
    // Every TCP port on the box once; the ICE port is UDP and only meets the other UDP ports.
    let mut ports: Vec<(&str, u16)> = vec![
        ("server.listen", s.server.listen.port()),
        ("stream.rtmp_port", s.stream.rtmp_port),
        ("stream.rtsp_port", s.stream.rtsp_port),
        ("stream.webrtc_port", s.stream.webrtc_port),
        ("mediamtx.api", s.mediamtx.api.port()),
        ("mediamtx.metrics", s.mediamtx.metrics.port()),
    ];
    ports.retain(|(_, p)| *p != 0);
    for (i, (a, pa)) in ports.iter().enumerate() {
        if let Some((b, _)) = ports[..i].iter().find(|(_, pb)| pb == pa) {
            bad(
                a,
                format!("port {pa} is also {b}'s: each needs a port of its own"),
            );
        }
    }
    for (key, port) in [
        ("stream.rtmp_port", s.stream.rtmp_port),
        ("stream.rtsp_port", s.stream.rtsp_port),
        ("stream.webrtc_port", s.stream.webrtc_port),
        ("mediamtx.webrtc_udp_port", s.mediamtx.webrtc_udp_port),
    ] {
        if port == 0 {
            bad(key, "is 0: expected a port number, 1 to 65535".into());
        }
    }
    if s.hotspot.enabled {
        for (key, problem) in hotspot::check(&s.hotspot) {
            bad(&format!("hotspot.{key}"), problem);
        }
    }
    for (key, problem) in operator::check(&s.operator) {
        bad(&format!("operator.{key}"), problem);
    }
    for (key, problem) in mqtt::check(&s.mqtt) {
        bad(&format!("mqtt.{key}"), problem);
    }
    for (key, problem) in history::check(&s.history) {
        bad(&format!("history.{key}"), problem);
    }
    for (key, problem) in update::check(&s.update) {
        bad(&format!("update.{key}"), problem);
    }
    let decoder = s.decode.decoder.trim();
    if decoder.is_empty() {
        bad(
            "decode.decoder",
            "is empty: use \"auto\" or a GStreamer decoder element name".into(),
        );
    } else if decoder.len() > 64
        || !decoder
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-".contains(c))
    {
        bad(
            "decode.decoder",
            format!(
                "{:?} is not a GStreamer element name: use \"auto\" or a name such as \"avdec_h264\" (letters, digits, _ and -; see gst-inspect-1.0)",
                decoder.chars().take(64).collect::<String>()
            ),
        );
    }
    errors
}

/// The most ONNX Runtime threads `model.threads` may ask for.
const MAX_THREADS: u64 = 64;
/// The most entries a list in the configuration may have.
const MAX_LIST: usize = 32;
/// The longest string value taken (a path's PATH_MAX).
const MAX_TEXT_BYTES: usize = 4096;

/// Why `v` is not in `lo..=hi` (in `unit`), or `None`.
fn out_of_range(v: u64, lo: u64, hi: u64, unit: &str) -> Option<String> {
    (!(lo..=hi).contains(&v)).then(|| format!("{v} is out of range: expected {lo} to {hi} {unit}"))
}

/// Why a string value cannot be used whatever its key: too long, or a control character in it.
fn check_text(text: &str) -> Option<String> {
    if text.len() > MAX_TEXT_BYTES {
        return Some(format!(
            "is {} bytes long: at most {MAX_TEXT_BYTES} are taken",
            text.len()
        ));
    }
    text.chars().find(|c| c.is_control()).map(|c| {
        format!("contains the control character {c:?}: use printable text (a NUL or a line break cannot be passed on)")
    })
}

impl Settings {
    /// The URL skycountd reads: `source.url`, or for `auto` MediaMTX on this box over loopback.
    /// No credentials are needed there: MediaMTX lets loopback clients read (see
    /// `mediamtx::render`).
    pub fn source_url(&self) -> SourceUrl {
        if let SourceSpec::Url(u) = &self.source.url {
            return u.clone();
        }
        let port = match self.stream.read_protocol {
            ReadProtocol::Rtsp => self.stream.rtsp_port,
            ReadProtocol::Rtmp => self.stream.rtmp_port,
        };
        let url = format!(
            "{}://127.0.0.1:{port}/{}",
            self.stream.read_protocol, self.stream.path
        );
        match self.stream.read_protocol {
            ReadProtocol::Rtsp => SourceUrl::Rtsp(url),
            ReadProtocol::Rtmp => SourceUrl::Rtmp(url),
        }
    }

    /// The effective configuration as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("settings serialise to TOML")
    }

    /// [`Settings::to_toml`] with the secrets (`stream.key`, `hotspot.passphrase`,
    /// `operator.passphrase`, `mqtt.password`) hidden, for
    /// `check-config`, whose output may end up in a journal or a bug report.
    pub fn to_toml_redacted(&self) -> String {
        let mut s = self.clone();
        for secret in [
            &mut s.stream.key,
            &mut s.hotspot.passphrase,
            &mut s.operator.passphrase,
            &mut s.mqtt.password,
        ] {
            if !secret.is_empty() {
                *secret = "(set, not shown)".into();
            }
        }
        s.to_toml()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    fn load_text(text: &str, env: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let f = write(text);
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        load_from(Some(f.path()), Path::new("/nonexistent"), &env).map(|(s, _)| s)
    }

    #[test]
    fn no_file_gives_the_documented_defaults() {
        let (s, origin) = load_from(None, Path::new("/nonexistent/skycount.toml"), &[]).unwrap();
        assert!(origin.file.is_none());
        assert_eq!(s, Settings::default());
        assert_eq!(s.server.listen.to_string(), "0.0.0.0:80");
        assert_eq!(s.source.url, SourceSpec::Auto);
        assert_eq!(s.source_url().as_url(), "rtsp://127.0.0.1:8554/live/drone");
        assert!(matches!(s.source_url(), SourceUrl::Rtsp(_)));
        assert_eq!(s.hotspot.address.to_string(), "192.168.50.1/24");
        assert_eq!(s.log.level.filter(), log::LevelFilter::Info);
        assert_eq!(
            s.model.path,
            PathBuf::from("/usr/share/skycount/models/csrnet-drone.onnx")
        );
    }

    #[test]
    fn the_example_file_documents_every_key_and_loads_to_the_defaults() {
        let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/skycount.example.toml");
        let text = std::fs::read_to_string(example).unwrap();
        // Every key of the defaults appears in the example, commented or not.
        let defaults = toml::Value::try_from(Settings::default()).unwrap();
        for (section, table) in defaults.as_table().unwrap() {
            assert!(
                text.contains(&format!("[{section}]")),
                "[{section}] missing"
            );
            for key in table.as_table().unwrap().keys() {
                assert!(
                    text.lines().any(|l| l
                        .trim_start_matches(['#', ' '])
                        .starts_with(&format!("{key} ="))),
                    "{section}.{key} is not documented in the example"
                );
            }
        }
        let (s, _) = load_from(Some(Path::new(example)), Path::new("/x"), &[]).unwrap();
        assert_eq!(s, Settings::default());
    }

    #[test]
    fn file_values_and_environment_overrides() {
        let s = load_text(
            "[server]\nlisten = \"127.0.0.1:8080\"\n[model]\nthreads = 2\n",
            &[
                ("SKYCOUNT_MODEL__THREADS", "4"),
                ("SKYCOUNT_SOURCE__URL", "rtsp://127.0.0.1:8554/live/drone"),
                ("SKYCOUNT_MODEL__EXECUTION_PROVIDERS", "cuda,cpu"),
            ],
        )
        .unwrap();
        assert_eq!(s.server.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(s.model.threads, 4, "environment wins over the file");
        assert_eq!(
            s.source.url,
            SourceSpec::Url(SourceUrl::Rtsp("rtsp://127.0.0.1:8554/live/drone".into()))
        );
        assert_eq!(
            s.model.execution_providers,
            vec![ExecutionProviderKind::Cuda, ExecutionProviderKind::Cpu]
        );
    }

    #[test]
    fn unknown_keys_name_the_file_the_key_and_the_known_keys() {
        let err = load_text("[source]\nulr = \"rtmp://x/y\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains(".tmp"), "names the file: {err}");
        assert!(err.contains("unknown key `source.ulr`"), "{err}");
        assert!(err.contains("did you mean `url`?"), "{err}");
        assert!(err.contains("[source] takes: "), "{err}");
        assert!(err.contains("stall_ms"), "{err}");

        let err = load_text("[sourse]\nurl = \"x\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown key `sourse`"), "{err}");
        assert!(err.contains("did you mean `source`?"), "{err}");
        assert!(err.contains("the sections are: "), "{err}");

        let err = load_text("", &[("SKYCOUNT_SERVER__PORT", "80")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("environment variable SKYCOUNT_SERVER__PORT"),
            "{err}"
        );
        assert!(err.contains("unknown key `server.port`"), "{err}");
    }

    #[test]
    fn wrong_types_name_the_key_and_what_was_expected() {
        let err = load_text("[model]\nthreads = \"many\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("`model.threads`"), "{err}");
        assert!(err.contains("many"), "{err}");

        let err = load_text("[server]\nlisten = \"80\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("`server.listen`"), "{err}");
        assert!(err.contains("0.0.0.0:80"), "{err}");

        let err = load_text("[model]\nexecution_providers = [\"gpu\"]\n", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("model.execution_providers"), "{err}");
        assert!(err.contains("tensorrt"), "{err}");

        let err = load_text("[model]\nprecision = \"int4\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("`model.precision`"), "{err}");
        assert!(err.contains("\"auto\", \"fp32\" or \"int8\""), "{err}");
        let s = load_text("[model]\nprecision = \"int8\"\n", &[]).unwrap();
        assert_eq!(s.model.precision, Precision::Int8);
        let s = load_text("", &[("SKYCOUNT_MODEL__PRECISION", "fp32")]).unwrap();
        assert_eq!(s.model.precision, Precision::Fp32);
        assert_eq!(Settings::default().model.precision, Precision::Auto);
    }

    #[test]
    fn invalid_values_are_refused_with_every_problem_listed() {
        let err = load_text(
            "[source]\nurl = \"http://x/y\"\n[analysis]\ngrid_width = 0\n",
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("`source.url`"), "{err}");
        assert!(err.contains("rtmp://, rtsp:// or file://"), "{err}");
        assert!(err.contains("`analysis.grid_width`"), "{err}");

        let err = load_text(
            "[analysis]\nalert_hold_ms = 700000\nalert_hysteresis = 1.5\nmax_frozen_frames = 0\n",
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("`analysis.alert_hold_ms`"), "{err}");
        assert!(err.contains("`analysis.alert_hysteresis`"), "{err}");
        assert!(
            err.contains(
                "`analysis.max_frozen_frames`: 0 is out of range: expected 1 to 100000 frames"
            ),
            "{err}"
        );
    }

    #[test]
    fn broken_toml_and_missing_files_are_clear() {
        let err = load_text("[source\nurl=", &[]).unwrap_err().to_string();
        assert!(err.contains("not valid TOML"), "{err}");
        let err = load_from(Some(Path::new("/no/such/file.toml")), Path::new("/x"), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("/no/such/file.toml: cannot read"), "{err}");
    }

    #[test]
    fn auto_reads_mediamtx_over_loopback_with_the_chosen_protocol() {
        let s = load_text(
            "[stream]\nread_protocol = \"rtmp\"\nrtmp_port = 1936\n",
            &[],
        )
        .unwrap();
        assert_eq!(
            s.source_url(),
            SourceUrl::Rtmp("rtmp://127.0.0.1:1936/live/drone".into())
        );
        let s = load_text("[source]\nurl = \"file:///x.mp4\"\n", &[]).unwrap();
        assert_eq!(s.source_url(), SourceUrl::File("/x.mp4".into()));
        for auto in ["", "AUTO", " auto "] {
            let s = load_text(&format!("[source]\nurl = \"{auto}\"\n"), &[]).unwrap();
            assert_eq!(s.source.url, SourceSpec::Auto, "{auto:?}");
        }
        let err = load_text("[stream]\nread_protocol = \"srt\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`stream.read_protocol`") && err.contains("\"rtsp\" or \"rtmp\""),
            "{err}"
        );
    }

    #[test]
    fn the_whole_box_is_checked_before_anything_starts() {
        // The issue's bad inputs: an invalid SSID, a short passphrase, a port clash, a path
        // MediaMTX would refuse. Each is named with the file, the key and what is expected.
        let err = load_text(
            "[hotspot]\nenabled = true\nssid = \"\"\npassphrase = \"short\"\n\
             [stream]\npath = \"~^live\"\nwebrtc_port = 80\n",
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains(".tmp"), "names the file: {err}");
        assert!(
            err.contains("`hotspot.ssid`") && err.contains("1 to 32 bytes"),
            "{err}"
        );
        assert!(
            err.contains("`hotspot.passphrase`") && err.contains("8 to 63"),
            "{err}"
        );
        assert!(
            err.contains("`stream.path`") && err.contains("regular expression"),
            "{err}"
        );
        assert!(
            err.contains("`stream.webrtc_port`") && err.contains("port 80 is also server.listen's"),
            "{err}"
        );
        // Through the environment too.
        let err = load_text("", &[("SKYCOUNT_MEDIAMTX__API", "0.0.0.0:9997")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("environment variable SKYCOUNT_MEDIAMTX__API"),
            "{err}"
        );
        assert!(err.contains("not a loopback address"), "{err}");
        let err = load_text("[stream]\nkey = \"has space\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("`stream.key`"), "{err}");
        for minutes in ["0", "43201"] {
            let err = load_text(&format!("[stream]\napproval_minutes = {minutes}\n"), &[])
                .unwrap_err()
                .to_string();
            assert!(err.contains("`stream.approval_minutes`"), "{err}");
        }
        let pairing = load_text("[stream]\npairing = false\napproval_minutes = 60\n", &[])
            .unwrap()
            .stream;
        assert!(!pairing.pairing && pairing.approval_minutes == 60);
        let err = load_text(
            "[mediamtx]\nalways_available_tracks = [\"MPEG4Audio\"]\n",
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("`mediamtx.always_available_tracks[0]`") && err.contains("RATE"),
            "{err}"
        );
        let err = load_text("[stream]\nview_path = \"live/drone\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("`stream.view_path`"), "{err}");
        // A hotspot that is off is not checked.
        load_text("[hotspot]\nssid = \"\"\n", &[]).unwrap();
    }

    #[test]
    fn check_config_hides_the_secrets() {
        let s = load_text(
            "[stream]\nkey = \"SecretKey1\"\n[hotspot]\npassphrase = \"wifi secret\"\n",
            &[],
        )
        .unwrap();
        let text = s.to_toml_redacted();
        assert!(
            !text.contains("SecretKey1") && !text.contains("wifi secret"),
            "{text}"
        );
        assert!(text.contains("(set, not shown)"));
    }

    #[test]
    fn effective_configuration_round_trips_through_toml() {
        let s = Settings::default();
        let text = s.to_toml();
        let f = write(&text);
        let (back, _) = load_from(Some(f.path()), Path::new("/x"), &[]).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn typed_values_round_trip_through_check_config() {
        let s = load_text(
            "[source]\nurl = \"rtsp://u:p@cam.local:8554/a?x=1\"\n\
             demo_url = \"file:///var/flights/a%20b.mp4\"\n\
             [mediamtx]\nalways_available_tracks = [\"h264\", \"mpeg4audio:44100:2\", \"G711:8000:1:mulaw\"]\n\
             [hotspot]\naddress = \"10.42.0.1/16\"\ndhcp_range = \"10.42.1.1-10.42.9.254\"\n\
             [log]\nlevel = \"debug\"\n",
            &[],
        )
        .unwrap();
        assert_eq!(
            s.source.demo_url,
            Some(SourceUrl::File("/var/flights/a b.mp4".into()))
        );
        assert_eq!(s.hotspot.box_addr(), std::net::Ipv4Addr::new(10, 42, 0, 1));
        assert_eq!(s.log.level, LogLevel::Debug);
        let text = s.to_toml_redacted();
        assert!(text.contains("level = \"debug\""), "{text}");
        assert!(text.contains("address = \"10.42.0.1/16\""), "{text}");
        assert!(text.contains("\"MPEG4Audio:44100:2\""), "{text}");
        assert!(
            text.contains("demo_url = \"file:///var/flights/a%20b.mp4\""),
            "{text}"
        );
        let f = write(&text);
        let (back, _) = load_from(Some(f.path()), Path::new("/x"), &[]).unwrap();
        assert_eq!(back, s);
        // No demo: an empty string, as before.
        assert!(Settings::default().to_toml().contains("demo_url = \"\""));
    }

    #[test]
    fn values_that_do_not_parse_are_all_named_with_their_key() {
        let err = load_text(
            "[source]\nurl = \"rtsp://\"\ndemo_url = \"rtsp://cam/a\"\n\
             [hotspot]\naddress = \"192.168.50.1\"\ndhcp_range = \"192.168.50.10\"\n\
             [log]\nlevel = \"loud\"\n[model]\nthreads = \"many\"\n\
             [server]\nlisten = \"80\"\n[stream]\nwebrtc_port = 80\n",
            &[],
        )
        .unwrap_err()
        .to_string();
        for expected in [
            "`source.url`: \"rtsp://\" names no host",
            "`source.demo_url`: rtsp://cam/a must be a file:// recording",
            "`hotspot.address`",
            "192.168.50.1/24",
            "`hotspot.dhcp_range`: \"192.168.50.10\": expected \"FIRST-LAST\"",
            "`log.level`",
            "expected error, warn, info, debug or trace",
            "`model.threads`",
            "`server.listen`",
        ] {
            assert!(err.contains(expected), "{expected}: {err}");
        }
        // server.listen's default (port 80) is no clash of the user's making.
        assert!(!err.contains("stream.webrtc_port"), "{err}");
        assert!(err.contains(".tmp"), "names the file: {err}");
        // Through the environment, with the variable named.
        let err = load_text("", &[("SKYCOUNT_HOTSPOT__ADDRESS", "10.0.0.1/40")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("environment variable SKYCOUNT_HOTSPOT__ADDRESS")
                && err.contains("`hotspot.address`"),
            "{err}"
        );
        // A prefix the hotspot cannot use is refused when the hotspot is on.
        let err = load_text(
            "[hotspot]\nenabled = true\npassphrase = \"12345678\"\naddress = \"10.0.0.1/31\"\n",
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("`hotspot.address`") && err.contains("8 to 30"),
            "{err}"
        );
    }

    #[test]
    fn numbers_out_of_their_range_are_refused_with_the_range() {
        // The issue's probes: 10^8 threads (memory grew until killed), a backoff never retried.
        let err = load_text(
            "[model]\nthreads = 100000000\n[source]\nbackoff_initial_ms = 9.2e18\n\
             backoff_max_ms = 9200000000000000000\nstall_ms = 0\nrtsp_latency_ms = 4000000000\n",
            &[],
        )
        .unwrap_err()
        .to_string();
        for expected in [
            "`model.threads`: 100000000 is out of range: expected 0 to 64 threads",
            "`source.backoff_initial_ms`",
            "`source.backoff_max_ms`: 9200000000000000000 is out of range: expected 10 to 600000 ms",
            "`source.stall_ms`: 0 is out of range: expected 100 to 60000 ms",
            "`source.rtsp_latency_ms`: 4000000000 is out of range: expected 0 to 10000 ms",
        ] {
            assert!(err.contains(expected), "{expected}: {err}");
        }
        let err = load_text(
            "[source]\nbackoff_initial_ms = 900\nbackoff_max_ms = 800\n",
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("`source.backoff_initial_ms`: 900 is above source.backoff_max_ms (800)"),
            "{err}"
        );
        // The limits themselves are taken.
        load_text(
            "[model]\nthreads = 64\n[source]\nbackoff_initial_ms = 10\nbackoff_max_ms = 600000\n",
            &[],
        )
        .unwrap();
    }

    #[test]
    fn a_grid_finer_than_the_models_output_is_refused() {
        let err = load_text(
            "[model]\ninput_width = 320\ninput_height = 176\n\
             [analysis]\ngrid_width = 41\ngrid_height = 23\n",
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("`analysis.grid_width`: 41 is out of range: expected 1 to 40 cells (model.input_width / 8"),
            "{err}"
        );
        assert!(err.contains("`analysis.grid_height`: 23"), "{err}");
        load_text(
            "[model]\ninput_width = 320\ninput_height = 176\n[analysis]\ngrid_width = 40\ngrid_height = 22\n",
            &[],
        )
        .unwrap();
        // The default grid shrinks to a smaller model by itself.
        load_text("[model]\ninput_width = 320\ninput_height = 176\n", &[]).unwrap();
    }

    #[test]
    fn strings_are_checked_for_length_and_control_characters() {
        // A NUL in the URL panicked in glib (debug) or cut the URL (release).
        let err = load_text("[source]\nurl = \"rtmp://box/live\\u0000drone\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`source.url`") && err.contains("control character '\\0'"),
            "{err}"
        );
        let err = load_text(
            "[model]\npath = \"/x/a\\nb.onnx\"\n[decode]\ndecoder = \"avdec_h264 ! fakesink\"\n",
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("`model.path`: contains the control character '\\n'"),
            "{err}"
        );
        assert!(
            err.contains("`decode.decoder`") && err.contains("not a GStreamer element name"),
            "{err}"
        );
        // A 20 MB URL through the environment: refused, and not echoed.
        let huge = format!("rtsp://box/{}", "a".repeat(20 << 20));
        let err = load_text("", &[("SKYCOUNT_SOURCE__URL", &huge)])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("at most 2048"),
            "{}",
            &err[..err.len().min(500)]
        );
        assert!(err.len() < 1000, "{} bytes of error", err.len());
        let long_path = format!("/{}", "p".repeat(5000));
        let err = load_text("", &[("SKYCOUNT_ANALYSIS__STATE_DIR", &long_path)])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`analysis.state_dir`: is 5001 bytes long: at most 4096"),
            "{err}"
        );
        let hosts = vec!["\"h\""; 40].join(",");
        let err = load_text(&format!("[mediamtx]\nadditional_hosts = [{hosts}]\n"), &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`mediamtx.additional_hosts`: has 40 entries: at most 32"),
            "{err}"
        );
    }

    #[test]
    fn runaway_files_are_refused_quickly_and_briefly() {
        // Too large: refused before parsing (200,000 unknown keys took 57 s and printed 37 MB).
        let big: String = (0..200_000).map(|i| format!("k{i} = 1\n")).collect();
        let started = std::time::Instant::now();
        let err = load_text(&big, &[]).unwrap_err().to_string();
        assert!(err.contains("larger than 256 KiB"), "{err}");
        assert!(err.lines().count() == 1 && err.len() < 300, "{err}");
        // Many unknown keys that fit: the first 20 are named, the rest counted.
        let many: String = (0..20_000).map(|i| format!("k{i} = 1\n")).collect();
        assert!(many.len() < 256 * 1024);
        let err = load_text(&many, &[]).unwrap_err().to_string();
        assert!(err.contains("unknown key `k"), "{}", &err[..500]);
        assert!(err.contains("more unknown keys (not listed)"), "{err}");
        assert!(err.lines().count() <= 21, "{} lines", err.lines().count());
        assert!(err.len() < 20_000, "{} bytes", err.len());
        // Deep nesting (echoed 400-600 KB): a short error.
        let deep = format!("a = {}1{}\n", "[".repeat(100_000), "]".repeat(100_000));
        let err = load_text(&deep, &[]).unwrap_err().to_string();
        assert!(err.len() < 4000, "{} bytes: {}", err.len(), &err[..500]);
        assert!(
            err.lines().all(|l| l.chars().count() < 320),
            "no long line: {err}"
        );
        // Long values quoted back by a type error are cut too.
        let err = load_text(
            &format!("[model]\nthreads = \"{}\"\n", "x".repeat(100_000)),
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("`model.threads`") && err.len() < 1000,
            "{}",
            err.len()
        );
        // Not UTF-8.
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), b"[source]\nurl = \"\xff\xfe\"\n").unwrap();
        let err = load_from(Some(f.path()), Path::new("/x"), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("is not UTF-8 text"), "{err}");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "took {:?}",
            started.elapsed()
        );
    }

    #[test]
    fn name_tables_read_and_print_alike() {
        use std::str::FromStr;
        for kind in [
            ExecutionProviderKind::Tensorrt,
            ExecutionProviderKind::Cuda,
            ExecutionProviderKind::Cpu,
        ] {
            assert_eq!(ExecutionProviderKind::from_str(kind.name()), Ok(kind));
            assert_eq!(kind.to_string(), kind.name());
            assert_eq!(
                serde_json::to_string(&kind).unwrap(),
                format!("\"{}\"", kind.name())
            );
        }
        assert_eq!(ReadProtocol::Rtmp.to_string(), "rtmp");
        assert_eq!(LogLevel::from_str("trace"), Ok(LogLevel::Trace));
        assert_eq!(LogLevel::Warn.as_ref(), "warn");
    }
}
