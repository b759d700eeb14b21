//! `[mediamtx]`'s own type and checks: the media server beside skycountd, its rendered
//! configuration and the watch on its Control API. `crate::mediamtx` renders and watches it;
//! its ports are checked against the others on the box with the rules between sections, in
//! `config`.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::track::{Codec, Track};

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

/// Every problem of `[mediamtx]` on its own, as (key within `[mediamtx]`, problem).
pub fn check(m: &MediamtxSettings) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    for (key, addr) in [("api", m.api), ("metrics", m.metrics)] {
        if !addr.ip().is_loopback() {
            problems.push((
                key.to_string(),
                format!("{addr} is not a loopback address: MediaMTX's {key} stays on this box (use 127.0.0.1:{})", addr.port()),
            ));
        }
    }
    if !(100..=60_000).contains(&m.poll_ms) {
        problems.push((
            "poll_ms".into(),
            format!(
                "{} is out of range: expected 100 to 60000 milliseconds",
                m.poll_ms
            ),
        ));
    }
    for (i, host) in m.additional_hosts.iter().enumerate() {
        if host.is_empty()
            || host.len() > 253
            || !host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-:".contains(c))
        {
            problems.push((
                format!("additional_hosts[{i}]"),
                format!("{host:?}: expected a host name or an IP address"),
            ));
        }
    }
    if m.always_available && m.always_available_tracks.is_empty() {
        problems.push((
            "always_available_tracks".into(),
            "is empty: list the drone's tracks, e.g. [\"H264\"]".into(),
        ));
    }
    problems
}
