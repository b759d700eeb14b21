//! `[stream]`'s own types and checks: how the pilot publishes to MediaMTX on this box (the path,
//! the key, pairing by approval) and how viewers and skycountd read it, with MediaMTX's rules for
//! path names and the publish key as the RTMP URL takes it. `crate::mediamtx` uses the values;
//! the rules live here with the settings.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::mediamtx::MediamtxSettings;

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

/// Every problem of `[stream]` on its own, as (key within `[stream]`, problem).
pub fn check(s: &StreamSettings) -> Vec<(&'static str, String)> {
    let mut problems = Vec::new();
    for (key, path) in [("path", &s.path), ("view_path", &s.view_path)] {
        if let Err(e) = check_path_name(path) {
            problems.push((key, format!("{path:?} is a path MediaMTX refuses: {e}")));
        }
    }
    if !s.key.is_empty() {
        if let Err(e) = check_stream_key(&s.key) {
            problems.push(("key", e));
        }
    }
    if !(1..=43200).contains(&s.approval_minutes) {
        problems.push((
            "approval_minutes",
            format!("is {}; it must be 1 to 43200 (30 days)", s.approval_minutes),
        ));
    }
    if s.key.is_empty() && s.key_file.as_os_str().is_empty() {
        problems.push((
            "key_file",
            "is empty while stream.key is empty too: set a key, or a file to keep a generated one in"
                .into(),
        ));
    }
    problems
}

/// Whether MediaMTX accepts `name` as the name of a path (its `IsValidPathName`, and no `~`:
/// names starting with one are regular expressions).
pub fn check_path_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("it is empty".into());
    }
    if name.starts_with('~') {
        return Err("a name starting with ~ is a regular expression, not a path".into());
    }
    if name.starts_with('/') || name.ends_with('/') {
        return Err("it may not start or end with /".into());
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "_-./".contains(*c)))
    {
        return Err(format!(
            "{c:?} is not allowed: only letters, digits and _ - . /"
        ));
    }
    if name
        .split('/')
        .any(|s| s == "." || s == ".." || s.is_empty())
    {
        return Err("it may not have empty, . or .. segments".into());
    }
    // MediaMTX reads YAML 1.1's yes/no/on/off as booleans, even as keys.
    if ["yes", "no", "on", "off", "true", "false"]
        .iter()
        .any(|b| name.eq_ignore_ascii_case(b))
    {
        return Err(format!(
            "{name:?} reads as a yes/no value in MediaMTX's YAML"
        ));
    }
    if name == "all" || name == "all_others" {
        return Err(format!("{name:?} is MediaMTX's name for every other path"));
    }
    Ok(())
}

/// Whether `key` can be a publish key: 8 to 64 letters, digits, `_`, `-` or `.`, so that it goes
/// into a URL unescaped and MediaMTX accepts it as a plain credential.
pub fn check_stream_key(key: &str) -> Result<(), String> {
    if !(8..=64).contains(&key.len()) {
        return Err(format!(
            "is {} characters long: expected 8 to 64 (or empty to generate one)",
            key.len()
        ));
    }
    if let Some(c) = key
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "_-.".contains(*c)))
    {
        return Err(format!(
            "contains {c:?}: use only letters, digits, _ - and . (it goes into the RTMP URL)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_tables_read_and_print_alike() {
        assert_eq!(ReadProtocol::Rtmp.to_string(), "rtmp");
    }

    #[test]
    fn path_names_as_mediamtx_checks_them() {
        for ok in ["live/drone", "drone", "a_b-c.d/e", "live/drone/view"] {
            assert!(check_path_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "/live",
            "live/",
            "~^live",
            "live drone",
            "live/../x",
            "live//x",
            "all_others",
            "live/dröne",
            "live?x",
            "on",
            "No",
        ] {
            assert!(check_path_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn keys_that_would_break_the_url_are_refused() {
        assert!(check_stream_key("short").is_err());
        assert!(check_stream_key("has space in it").is_err());
        assert!(check_stream_key("amp&ersand1").is_err());
        assert!(check_stream_key("Good_key-1.2").is_ok());
    }
}
