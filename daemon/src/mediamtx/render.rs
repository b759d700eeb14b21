//! `skycountd render-mediamtx`: MediaMTX's configuration from skycount.toml.
//!
//! Only what differs from MediaMTX's defaults, or what skycount relies on, is written; every key
//! exists in the default configuration of [`super::PINNED_VERSION`] with the same YAML type
//! (`daemon/tests/mediamtx_render.rs` checks it against the reference copy).
//!
//! What the rendered file does:
//!
//! - **Ingest**: the drone publishes RTMP to `stream.path` as user `drone` with the stream key
//!   (stored as a SHA-256 hash). A drone that reconnects replaces its stale session at once
//!   (`overridePublisher`), which is also what drops every reader of that path: skycountd's
//!   watch notices the new publisher and asks the decoder to re-attach at once.
//! - **skycountd** reads `stream.path` over loopback (RTSP on 127.0.0.1 only, or RTMP): loopback
//!   clients may read without credentials.
//! - **Browsers** play over WebRTC. With `mediamtx.always_available`, they play
//!   `stream.view_path`, which MediaMTX keeps available while the drone is away (an offline
//!   picture plays meanwhile) and which the ingest path feeds by `forward`; otherwise they play
//!   `stream.path`. No STUN or TURN server is named: the box is often offline, and a public STUN
//!   server only delays or breaks ICE there. The hotspot's and LAN's addresses are announced.
//! - **Control API and metrics** listen on loopback only; HLS, SRT, MoQ, playback and pprof are
//!   off.

use std::fmt::Write as _;

use base64::Engine as _;
use serde_norway::{Mapping, Value};
use sha2::Digest as _;

use super::key::PUBLISH_USER;
use crate::config::Settings;

/// A track of `mediamtx.always_available_tracks`: `CODEC` or `CODEC:RATE:CHANNELS[:mulaw]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Track {
    pub codec: &'static str,
    pub sample_rate: Option<u32>,
    pub channels: Option<u32>,
    pub mu_law: bool,
}

/// Codecs MediaMTX takes without a sample rate and channel count.
const PLAIN: &[&str] = &["H264", "H265", "AV1", "VP9", "Opus"];
/// Codecs that need them.
const AUDIO: &[&str] = &["MPEG4Audio", "G711", "LPCM"];

impl Track {
    pub fn parse(spec: &str) -> Result<Self, String> {
        let mut parts = spec.split(':');
        let name = parts.next().unwrap_or_default().trim();
        let expected = "expected H264, H265, AV1, VP9, Opus, or MPEG4Audio/G711/LPCM with \
                        :RATE:CHANNELS, e.g. \"MPEG4Audio:44100:2\" (G711 may end with :mulaw)";
        let rest: Vec<&str> = parts.map(str::trim).collect();
        if let Some(codec) = PLAIN.iter().find(|c| c.eq_ignore_ascii_case(name)) {
            if !rest.is_empty() {
                return Err(format!(
                    "{spec:?}: {codec} takes no rate or channels; {expected}"
                ));
            }
            return Ok(Self {
                codec,
                sample_rate: None,
                channels: None,
                mu_law: false,
            });
        }
        let Some(codec) = AUDIO.iter().find(|c| c.eq_ignore_ascii_case(name)) else {
            return Err(format!("{spec:?}: unknown codec; {expected}"));
        };
        let (rate, channels, law) = match rest.as_slice() {
            [r, c] => (r, c, None),
            [r, c, l] if *codec == "G711" => (r, c, Some(*l)),
            _ => {
                return Err(format!(
                    "{spec:?}: {codec} needs :RATE:CHANNELS; {expected}"
                ))
            }
        };
        let min_rate = if *codec == "MPEG4Audio" { 22050 } else { 8000 };
        let rate: u32 = rate
            .parse()
            .ok()
            .filter(|r| (min_rate..=192_000).contains(r))
            .ok_or_else(|| {
                format!("{spec:?}: sample rate {rate:?} is not {min_rate} to 192000 Hz")
            })?;
        let channels: u32 = channels
            .parse()
            .ok()
            .filter(|c| (1..=8).contains(c))
            .ok_or_else(|| format!("{spec:?}: channels {channels:?} is not 1 to 8"))?;
        let mu_law = match law {
            None | Some("alaw") => false,
            Some("mulaw") => true,
            Some(other) => return Err(format!("{spec:?}: {other:?} is not \"mulaw\" or \"alaw\"")),
        };
        Ok(Self {
            codec,
            sample_rate: Some(rate),
            channels: Some(channels),
            mu_law,
        })
    }

    fn to_yaml(&self) -> Value {
        let mut m = Mapping::new();
        m.insert("codec".into(), self.codec.into());
        if let (Some(r), Some(c)) = (self.sample_rate, self.channels) {
            m.insert("sampleRate".into(), Value::from(r));
            m.insert("channelCount".into(), Value::from(c));
        }
        if self.codec == "G711" {
            m.insert("muLaw".into(), self.mu_law.into());
        }
        Value::Mapping(m)
    }
}

/// MediaMTX's form of a hashed credential: `sha256:` and the base64 of the digest.
pub fn sha256_credential(secret: &str) -> String {
    let digest = sha2::Sha256::digest(secret.as_bytes());
    format!(
        "sha256:{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

fn map<const N: usize>(pairs: [(&str, Value); N]) -> Value {
    let mut m = Mapping::new();
    for (k, v) in pairs {
        m.insert(Value::from(k), v);
    }
    Value::Mapping(m)
}

fn strings<I: IntoIterator<Item = S>, S: Into<String>>(items: I) -> Value {
    Value::Sequence(items.into_iter().map(|s| Value::String(s.into())).collect())
}

fn perm(action: &str, path: Option<&str>) -> Value {
    match path {
        Some(p) => map([("action", action.into()), ("path", p.into())]),
        None => map([("action", action.into())]),
    }
}

/// The hosts WebRTC viewers are told to reach the box by: the hotspot's address, the configured
/// ones and `found` (the addresses of the box's interfaces when rendering), without repeats.
pub fn webrtc_hosts(settings: &Settings, found: &[String]) -> Vec<String> {
    let mut hosts: Vec<String> = Vec::new();
    if settings.hotspot.enabled {
        if let Ok(net) = crate::hotspot::Ipv4Net::parse(&settings.hotspot.address) {
            hosts.push(net.addr.to_string());
        }
    }
    hosts.extend(settings.mediamtx.additional_hosts.iter().cloned());
    hosts.extend(found.iter().cloned());
    let mut seen = std::collections::HashSet::new();
    hosts.retain(|h| seen.insert(h.clone()));
    hosts
}

/// The addresses of the box's interfaces that are up, loopback and link-local left out.
pub fn interface_addresses() -> Vec<String> {
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for a in addrs {
        if !a.flags.contains(nix::net::if_::InterfaceFlags::IFF_UP) {
            continue;
        }
        let Some(ip) = a
            .address
            .as_ref()
            .and_then(|s| s.as_sockaddr_in().map(|v4| v4.ip()))
        else {
            continue;
        };
        if !ip.is_loopback() && !ip.is_link_local() && !ip.is_unspecified() {
            out.push(ip.to_string());
        }
    }
    out
}

/// mediamtx.yml for `settings`, with the publish `key` and the WebRTC `hosts` (see
/// [`webrtc_hosts`]). `origin` names the TOML it comes from, for the header.
pub fn render(settings: &Settings, key: &str, hosts: &[String], origin: &str) -> String {
    let s = &settings.stream;
    let m = &settings.mediamtx;
    let ingest = s.path.as_str();
    let browsers = s.browser_path(m);
    let local = strings(["127.0.0.1", "::1"]);

    // Loopback: skycountd reads the ingest path; the forward publishes the viewers' path; the API
    // and metrics answer.
    let mut local_perms = vec![perm("read", Some(ingest))];
    if m.always_available {
        local_perms.push(perm("publish", Some(browsers)));
        local_perms.push(perm("read", Some(browsers)));
    }
    local_perms.push(perm("api", None));
    local_perms.push(perm("metrics", None));

    let users = Value::Sequence(vec![
        map([
            ("user", PUBLISH_USER.into()),
            ("pass", sha256_credential(key).into()),
            ("ips", Value::Sequence(vec![])),
            (
                "permissions",
                Value::Sequence(vec![perm("publish", Some(ingest))]),
            ),
        ]),
        map([
            ("user", "any".into()),
            ("ips", local),
            ("permissions", Value::Sequence(local_perms)),
        ]),
        map([
            ("user", "any".into()),
            ("ips", Value::Sequence(vec![])),
            (
                "permissions",
                Value::Sequence(vec![perm("read", Some(browsers))]),
            ),
        ]),
    ]);

    let mut ingest_conf = vec![
        ("source", Value::from("publisher")),
        ("overridePublisher", true.into()),
    ];
    let mut paths = Mapping::new();
    if m.always_available {
        ingest_conf.push((
            "forward",
            Value::Sequence(vec![map([(
                "dest",
                format!("rtsp://127.0.0.1:{}/{browsers}", s.rtsp_port).into(),
            )])]),
        ));
        let mut pm = Mapping::new();
        for (k, v) in ingest_conf {
            pm.insert(k.into(), v);
        }
        paths.insert(ingest.into(), Value::Mapping(pm));
        paths.insert(
            browsers.into(),
            map([
                ("source", "publisher".into()),
                ("overridePublisher", true.into()),
                ("alwaysAvailable", true.into()),
                (
                    "alwaysAvailableTracks",
                    Value::Sequence(
                        m.always_available_tracks
                            .iter()
                            .filter_map(|t| Track::parse(t).ok())
                            .map(|t| t.to_yaml())
                            .collect(),
                    ),
                ),
            ]),
        );
    } else {
        let mut pm = Mapping::new();
        for (k, v) in ingest_conf {
            pm.insert(k.into(), v);
        }
        paths.insert(ingest.into(), Value::Mapping(pm));
    }

    let doc = map([
        ("logLevel", "info".into()),
        ("logDestinations", strings(["stdout"])),
        ("authMethod", "internal".into()),
        ("authInternalUsers", users),
        ("api", true.into()),
        ("apiAddress", m.api.to_string().into()),
        ("metrics", true.into()),
        ("metricsAddress", m.metrics.to_string().into()),
        ("pprof", false.into()),
        ("playback", false.into()),
        ("rtsp", true.into()),
        ("rtspTransports", strings(["tcp"])),
        ("rtspAddress", format!("127.0.0.1:{}", s.rtsp_port).into()),
        ("rtmp", true.into()),
        ("rtmpAddress", format!(":{}", s.rtmp_port).into()),
        ("hls", false.into()),
        ("webrtc", true.into()),
        ("webrtcAddress", format!(":{}", s.webrtc_port).into()),
        ("webrtcEncryption", false.into()),
        (
            "webrtcLocalUDPAddress",
            format!(":{}", m.webrtc_udp_port).into(),
        ),
        ("webrtcLocalTCPAddress", "".into()),
        ("webrtcIPsFromInterfaces", true.into()),
        ("webrtcAdditionalHosts", strings(hosts.iter().cloned())),
        ("webrtcICEServers2", Value::Sequence(vec![])),
        ("srt", false.into()),
        ("moq", false.into()),
        ("paths", Value::Mapping(paths)),
    ]);

    let body = serde_norway::to_string(&doc).expect("a YAML mapping serialises");
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# mediamtx.yml for MediaMTX {}, rendered by `skycountd render-mediamtx` from {origin}.\n\
         # Do not edit: change skycount.toml and restart mediamtx.service, which renders it again.\n\
         # The drone publishes to rtmp://<box>:{}/{ingest}?user={PUBLISH_USER}&pass=<stream key>.",
        super::PINNED_VERSION,
        s.rtmp_port
    );
    out.push_str(&body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracks_parse_like_mediamtx_checks_them() {
        assert_eq!(Track::parse("h264").unwrap().codec, "H264");
        let aac = Track::parse("MPEG4Audio:44100:2").unwrap();
        assert_eq!((aac.sample_rate, aac.channels), (Some(44100), Some(2)));
        assert!(Track::parse("G711:8000:1:mulaw").unwrap().mu_law);
        assert!(Track::parse("MPEG4Audio").is_err());
        assert!(
            Track::parse("MPEG4Audio:8000:2").is_err(),
            "AAC needs 22050 Hz or more"
        );
        assert!(Track::parse("H264:90000").is_err());
        assert!(Track::parse("MJPEG").is_err());
    }

    #[test]
    fn the_hash_is_mediamtx_form() {
        // echo -n "mypass" | openssl dgst -binary -sha256 | openssl base64 (MediaMTX's docs)
        assert_eq!(
            sha256_credential("mypass"),
            "sha256:6nHCWnpgIka0w5gkuFVniJSpb0O7m3ExnDlwCh4EUiI="
        );
    }
}
