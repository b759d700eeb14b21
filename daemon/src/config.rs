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
//! not parse is reported like any other mistake, with its key.
//!
//! Each `[section]` of the file lives in the submodule of its name, with its settings type, its
//! defaults, its own types and the checks of its own rules (`check`, answering the keys within
//! the section), and their tests:
//!
//! | section | module | what it is |
//! | --- | --- | --- |
//! | `[source]` | [`source`] | where the video comes from, losing it, the demo recording |
//! | `[decode]` | [`decode`] | the H.264/H.265 decoder |
//! | `[model]` | [`model`] | the network, its execution providers and precision |
//! | `[analysis]` | [`analysis`] | the grid, the analysis size, tiles, smoothing, alerts, state |
//! | `[server]` | [`server`] | the HTTP port and the dashboard's files |
//! | `[stream]` | [`stream`] | the pilot's path, key and pairing; MediaMTX's path rules |
//! | `[mediamtx]` | [`mediamtx`] | the media server's API, watch and viewers' tracks ([`track`]) |
//! | `[hotspot]` | [`hotspot`] | the Wi-Fi network, its DHCP range and passphrase |
//! | `[operator]` | [`operator`] | the operator's passphrase, sessions and host names |
//! | `[mqtt]` | [`mqtt`] | the MQTT broker and Home Assistant discovery |
//! | `[history]` | [`history`] | the counts kept over time |
//! | `[update]` | [`update`] | software updates with RAUC |
//! | `[log]` | [`log`] | the log level |
//!
//! This module keeps the whole ([`Settings`]), reading it ([`load`], with the `config` crate),
//! the error ([`ConfigError`]) and the rules that hold for every value (a length, no control
//! characters) or between sections (each TCP port once, the grid against the model's output,
//! `auto`'s URL from `[stream]`). Every section's types are re-exported here
//! (`config::StreamSettings`). [`printable`] is what "printable" means for the names and
//! passphrases people type. Nothing here or in the submodules depends on the parts of skycountd
//! that use them.
//!
//! No input is trusted to be small or sane: every number has a range (`model.threads = 10^8`
//! would allocate until the box dies; a backoff of 9.2e18 ms never retries), every string a
//! length and no control characters (a NUL cuts the C string GStreamer gets), the file is read
//! up to [`MAX_FILE_BYTES`], and an error lists at most 20 problems, each on lines cut to a few
//! hundred characters, however large or deep the input that caused it.

pub mod analysis;
pub mod decode;
pub mod history;
pub mod hotspot;
pub mod log;
pub mod mediamtx;
pub mod model;
pub mod mqtt;
pub mod operator;
pub mod printable;
pub mod server;
pub mod source;
pub mod stream;
pub mod track;
pub mod update;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use self::analysis::AnalysisSettings;
pub use self::decode::DecodeSettings;
pub use self::history::HistorySettings;
pub use self::hotspot::{DhcpRange, HotspotSettings};
pub use self::log::{LogLevel, LogSettings};
pub use self::mediamtx::MediamtxSettings;
pub use self::model::{ExecutionProviderKind, ModelSettings, Precision};
pub use self::mqtt::MqttSettings;
pub use self::operator::OperatorSettings;
pub use self::server::ServerSettings;
pub use self::source::{SourceSettings, SourceSpec, AUTO};
pub use self::stream::{check_path_name, check_stream_key, ReadProtocol, StreamSettings};
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
/// Each section's own rules are its module's `check`; the rules that hold for every value or
/// between sections are here.
fn validate(s: &Settings) -> Vec<(String, String)> {
    let mut errors = Vec::new();
    let mut bad = |key: &str, problem: String| errors.push((key.to_string(), problem));
    for (key, problem) in source::check(&s.source) {
        bad(&format!("source.{key}"), problem);
    }
    for (key, problem) in model::check(&s.model) {
        bad(&format!("model.{key}"), problem);
    }
    // Every string: a length and no control characters (a NUL cuts a C string; a newline breaks
    // the files rendered from them). Narrower rules per key are the sections'.
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
    for (key, problem) in analysis::check(a) {
        bad(&format!("analysis.{key}"), problem);
    }
    for (key, problem) in stream::check(&s.stream) {
        bad(&format!("stream.{key}"), problem);
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
    for (key, problem) in mediamtx::check(&s.mediamtx) {
        bad(&format!("mediamtx.{key}"), problem);
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
    for (key, problem) in decode::check(&s.decode) {
        bad(&format!("decode.{key}"), problem);
    }
    errors
}

/// The most entries a list in the configuration may have.
const MAX_LIST: usize = 32;
/// The longest string value taken (a path's PATH_MAX).
const MAX_TEXT_BYTES: usize = 4096;

/// Why `v` is not in `lo..=hi` (in `unit`), or `None`.
/// A drone's name under `Settings::drone_prefix` (`north` in `live/north`): one level, of the
/// characters a configured path takes (`check_path_name`, less the slash), at most 64. The rendered
/// mediamtx.yml's drones' path, pairing and the roster all use this rule.
pub fn is_drone_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && name != "."
        && name != ".."
}

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
        self.path_url(&self.stream.path)
    }

    /// Where several drones publish beside `stream.path`: its first part with a slash (`live/`),
    /// when `analysis.max_streams` allows more than one stream, the source is MediaMTX (`auto`)
    /// and the path has such a part. Each drone publishes to `<prefix><name>` (one level).
    pub fn drone_prefix(&self) -> Option<String> {
        if self.analysis.max_streams < 2 || !matches!(self.source.url, SourceSpec::Auto) {
            return None;
        }
        let (first, _) = self.stream.path.split_once('/')?;
        (!first.is_empty()).then(|| format!("{first}/"))
    }

    /// Where skycountd reads MediaMTX's path `path` (`live/north`), over loopback.
    pub fn path_url(&self, path: &str) -> SourceUrl {
        let port = match self.stream.read_protocol {
            ReadProtocol::Rtsp => self.stream.rtsp_port,
            ReadProtocol::Rtmp => self.stream.rtmp_port,
        };
        let url = format!("{}://127.0.0.1:{port}/{path}", self.stream.read_protocol);
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
        assert_eq!(s.log.level.filter(), ::log::LevelFilter::Info);
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
}
