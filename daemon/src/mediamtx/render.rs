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
//! - **Pairing** (`stream.pairing`, on by default): `authMethod: http`, MediaMTX asks skycountd
//!   about every client (`super::pairing` answers with the same rules as the internal users
//!   written here, plus the operator's approvals of keyless drones). With skycountd down,
//!   MediaMTX refuses every client, publishers included, until it is back.

use std::fmt::Write as _;

use base64::Engine as _;
use serde::Serialize;
use sha2::Digest as _;

use super::key::PUBLISH_USER;
pub use crate::config::Track;
use crate::config::{Codec, Settings};

/// MediaMTX's form of a hashed credential: `sha256:` and the base64 of the digest.
pub fn sha256_credential(secret: &str) -> String {
    let digest = sha2::Sha256::digest(secret.as_bytes());
    format!(
        "sha256:{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// The hosts WebRTC viewers are told to reach the box by: the hotspot's address, the configured
/// ones and `found` (the addresses of the box's interfaces when rendering), without repeats.
pub fn webrtc_hosts(settings: &Settings, found: &[String]) -> Vec<String> {
    let mut hosts: Vec<String> = Vec::new();
    if settings.hotspot.enabled {
        hosts.push(settings.hotspot.box_addr().to_string());
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

/// mediamtx.yml: the keys skycount writes, each as MediaMTX's default configuration names and
/// types it. Field order is the file's order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MediamtxYml<'a> {
    log_level: &'a str,
    log_destinations: Vec<&'a str>,
    auth_method: &'a str,
    auth_internal_users: Vec<User<'a>>,
    /// With pairing: where MediaMTX asks skycountd.
    #[serde(rename = "authHTTPAddress", skip_serializing_if = "Option::is_none")]
    auth_http_address: Option<String>,
    /// With pairing: no action is left out, skycountd answers them all.
    #[serde(rename = "authHTTPExclude", skip_serializing_if = "Option::is_none")]
    auth_http_exclude: Option<Vec<Permission<'a>>>,
    api: bool,
    api_address: String,
    metrics: bool,
    metrics_address: String,
    pprof: bool,
    playback: bool,
    rtsp: bool,
    rtsp_transports: Vec<&'a str>,
    rtsp_address: String,
    rtmp: bool,
    rtmp_address: String,
    hls: bool,
    webrtc: bool,
    webrtc_address: String,
    webrtc_encryption: bool,
    #[serde(rename = "webrtcLocalUDPAddress")]
    webrtc_local_udp_address: String,
    #[serde(rename = "webrtcLocalTCPAddress")]
    webrtc_local_tcp_address: &'a str,
    #[serde(rename = "webrtcIPsFromInterfaces")]
    webrtc_ips_from_interfaces: bool,
    webrtc_additional_hosts: &'a [String],
    /// None: no STUN or TURN (see the module's docs).
    #[serde(rename = "webrtcICEServers2")]
    webrtc_ice_servers: Vec<IceServer>,
    srt: bool,
    moq: bool,
    paths: Paths<'a>,
}

/// `authInternalUsers[]`.
#[derive(Serialize)]
struct User<'a> {
    user: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pass: Option<String>,
    ips: Vec<&'a str>,
    permissions: Vec<Permission<'a>>,
}

/// `authInternalUsers[].permissions[]`.
#[derive(Serialize)]
struct Permission<'a> {
    action: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<&'a str>,
}

impl<'a> Permission<'a> {
    fn on(action: &'a str, path: &'a str) -> Self {
        Self {
            action,
            path: Some(path),
        }
    }

    fn any(action: &'a str) -> Self {
        Self { action, path: None }
    }
}

/// `webrtcICEServers2[]` (none is written).
#[derive(Serialize)]
struct IceServer {
    url: String,
}

/// `paths`: path names to their configuration, in this order.
struct Paths<'a>(Vec<(&'a str, PathConf)>);

impl Serialize for Paths<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(name, conf)| (name, conf)))
    }
}

/// `paths.NAME` (`pathDefaults`' keys).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PathConf {
    source: &'static str,
    override_publisher: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    forward: Option<Vec<ForwardDest>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    always_available: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    always_available_tracks: Option<Vec<AlwaysAvailableTrack>>,
}

/// `pathDefaults.forward[]`.
#[derive(Serialize)]
struct ForwardDest {
    dest: String,
}

/// `pathDefaults.alwaysAvailableTracks[]`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AlwaysAvailableTrack {
    codec: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    sample_rate: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    channel_count: Option<u32>,
    /// G711 only.
    #[serde(skip_serializing_if = "Option::is_none")]
    mu_law: Option<bool>,
}

impl From<&Track> for AlwaysAvailableTrack {
    fn from(t: &Track) -> Self {
        let (sample_rate, channel_count) = match (t.sample_rate, t.channels) {
            (Some(r), Some(c)) => (Some(r), Some(c)),
            _ => (None, None),
        };
        Self {
            codec: t.codec.into(),
            sample_rate,
            channel_count,
            mu_law: (t.codec == Codec::G711).then_some(t.mu_law),
        }
    }
}

/// The URL MediaMTX asks skycountd at with pairing on: skycountd's listener, reached over
/// loopback when it listens on every address.
pub fn auth_http_address(settings: &Settings) -> String {
    let listen = settings.server.listen;
    let host = match listen.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => "127.0.0.1".to_string(),
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => "[::1]".to_string(),
        std::net::IpAddr::V4(ip) => ip.to_string(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
    };
    format!(
        "http://{host}:{}{}",
        listen.port(),
        super::pairing::AUTH_PATH
    )
}

/// `text` with the characters a regular expression gives a meaning escaped.
fn regex_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
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
    let local = vec!["127.0.0.1", "::1"];

    // Loopback: skycountd reads the ingest path; the forward publishes the viewers' path; the API
    // and metrics answer.
    // Several drones: every path one level under the prefix (`live/north`) is published to and
    // read like the configured one (MediaMTX's regular-expression paths, `~^…`), the viewers'
    // path excepted (it has its own entry, and a name with a slash does not match).
    let drones = settings
        .drone_prefix()
        .map(|p| format!("~^{}[A-Za-z0-9_.-]{{1,64}}$", regex_escape(&p)));
    let mut local_perms = vec![Permission::on("read", ingest)];
    if let Some(d) = &drones {
        local_perms.push(Permission::on("read", d));
    }
    if m.always_available {
        local_perms.push(Permission::on("publish", browsers));
        local_perms.push(Permission::on("read", browsers));
    }
    local_perms.push(Permission::any("api"));
    local_perms.push(Permission::any("metrics"));

    let users = vec![
        User {
            user: PUBLISH_USER,
            pass: Some(sha256_credential(key)),
            ips: vec![],
            permissions: std::iter::once(Permission::on("publish", ingest))
                .chain(drones.iter().map(|d| Permission::on("publish", d)))
                .collect(),
        },
        User {
            user: "any",
            pass: None,
            ips: local,
            permissions: local_perms,
        },
        User {
            user: "any",
            pass: None,
            ips: vec![],
            permissions: vec![Permission::on("read", browsers)],
        },
    ];

    let mut ingest_conf = PathConf {
        source: "publisher",
        override_publisher: true,
        forward: None,
        always_available: None,
        always_available_tracks: None,
    };
    let mut paths = Vec::new();
    if m.always_available {
        ingest_conf.forward = Some(vec![ForwardDest {
            dest: format!("rtsp://127.0.0.1:{}/{browsers}", s.rtsp_port),
        }]);
        paths.push((ingest, ingest_conf));
        paths.push((
            browsers,
            PathConf {
                source: "publisher",
                override_publisher: true,
                forward: None,
                always_available: Some(true),
                always_available_tracks: Some(
                    m.always_available_tracks.iter().map(Into::into).collect(),
                ),
            },
        ));
    } else {
        paths.push((ingest, ingest_conf));
    }
    if let Some(d) = &drones {
        paths.push((
            d.as_str(),
            PathConf {
                source: "publisher",
                override_publisher: true,
                forward: None,
                always_available: None,
                always_available_tracks: None,
            },
        ));
    }

    let doc = MediamtxYml {
        log_level: "info",
        log_destinations: vec!["stdout"],
        auth_method: if s.pairing { "http" } else { "internal" },
        auth_internal_users: users,
        auth_http_address: s.pairing.then(|| auth_http_address(settings)),
        auth_http_exclude: s.pairing.then(Vec::new),
        api: true,
        api_address: m.api.to_string(),
        metrics: true,
        metrics_address: m.metrics.to_string(),
        pprof: false,
        playback: false,
        rtsp: true,
        rtsp_transports: vec!["tcp"],
        rtsp_address: format!("127.0.0.1:{}", s.rtsp_port),
        rtmp: true,
        rtmp_address: format!(":{}", s.rtmp_port),
        hls: false,
        webrtc: true,
        webrtc_address: format!(":{}", s.webrtc_port),
        webrtc_encryption: false,
        webrtc_local_udp_address: format!(":{}", m.webrtc_udp_port),
        webrtc_local_tcp_address: "",
        webrtc_ips_from_interfaces: true,
        webrtc_additional_hosts: hosts,
        webrtc_ice_servers: Vec::new(),
        srt: false,
        moq: false,
        paths: Paths(paths),
    };

    let body = serde_norway::to_string(&doc).expect("mediamtx.yml serialises");
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# mediamtx.yml for MediaMTX {}, rendered by `skycountd render-mediamtx` from {origin}.\n\
         # Do not edit: change skycount.toml and restart mediamtx.service, which renders it again.\n\
         # The drone publishes to rtmp://<box>:{}/{ingest}?user={PUBLISH_USER}&pass=<stream key>{}.",
        super::PINNED_VERSION,
        s.rtmp_port,
        if s.pairing {
            ",\n# or with no key once the operator allows it: MediaMTX asks skycountd about every \
             client (authMethod: http;\n# authInternalUsers below are then unused, skycountd \
             applies the same rules)"
        } else {
            ""
        }
    );
    out.push_str(&body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_mediamtx_form() {
        // echo -n "mypass" | openssl dgst -binary -sha256 | openssl base64 (MediaMTX's docs)
        assert_eq!(
            sha256_credential("mypass"),
            "sha256:6nHCWnpgIka0w5gkuFVniJSpb0O7m3ExnDlwCh4EUiI="
        );
    }
}
