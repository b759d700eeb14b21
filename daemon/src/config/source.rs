//! `[source]`'s own types and checks: where the video comes from (`auto`: MediaMTX on this box,
//! or a URL of its own), the demo recording, and how losing the stream is handled.
//! `crate::source` attaches to it; `Settings::source_url` turns `auto` into MediaMTX's URL.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::out_of_range;
use crate::source::SourceUrl;

/// `[source]`: where the video comes from and how losing it is handled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SourceSettings {
    /// rtmp://, rtsp:// or file:// (a recorded flight); `auto` (or empty): MediaMTX on this box
    /// over loopback, with `stream.read_protocol` (see [`Settings::source_url`](super::Settings::source_url)).
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
    /// `auto` (or empty): MediaMTX on this box over loopback (see [`Settings::source_url`](super::Settings::source_url)).
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

/// `source.url` that means "MediaMTX on this box".
pub const AUTO: &str = "auto";

/// Every problem of `[source]`, as (key within `[source]`, problem).
pub fn check(src: &SourceSettings) -> Vec<(&'static str, String)> {
    let mut problems = Vec::new();
    if let Some(u) = &src.demo_url {
        if u.is_live() {
            problems.push((
                "demo_url",
                format!(
                    "{} must be a file:// recording (or empty for no demo)",
                    u.redacted()
                ),
            ));
        }
    }
    // Every number within what makes sense for it: a value far outside is a typo or a probe, and
    // some would hurt (a backoff of 9.2e18 ms never retries).
    for (key, v, lo, hi, unit) in [
        ("stall_ms", src.stall_ms, 100, 60_000, "ms"),
        (
            "reconnect_after_ms",
            src.reconnect_after_ms,
            100,
            600_000,
            "ms",
        ),
        (
            "backoff_initial_ms",
            src.backoff_initial_ms,
            10,
            60_000,
            "ms",
        ),
        ("backoff_max_ms", src.backoff_max_ms, 10, 600_000, "ms"),
        (
            "rtsp_latency_ms",
            u64::from(src.rtsp_latency_ms),
            0,
            10_000,
            "ms",
        ),
        ("demo_after_ms", src.demo_after_ms, 100, 3_600_000, "ms"),
    ] {
        if let Some(problem) = out_of_range(v, lo, hi, unit) {
            problems.push((key, problem));
        }
    }
    if src.backoff_initial_ms > src.backoff_max_ms {
        problems.push((
            "backoff_initial_ms",
            format!(
                "{} is above source.backoff_max_ms ({}): the first wait is the shortest",
                src.backoff_initial_ms, src.backoff_max_ms
            ),
        ));
    }
    if src.reconnect_after_ms < src.stall_ms {
        problems.push((
            "reconnect_after_ms",
            format!(
                "{} is below source.stall_ms ({}): a stream is stalled before it is re-attached",
                src.reconnect_after_ms, src.stall_ms
            ),
        ));
    }
    problems
}
