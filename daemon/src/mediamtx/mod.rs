//! MediaMTX, the media server beside skycountd: its configuration, rendered from ours, and the
//! watch over its Control API.
//!
//! ```text
//!  skycount.toml ──render──▶ /run/mediamtx/mediamtx.yml ──▶ mediamtx ◀──poll /v3/paths/get── skycountd
//!                                                          (RTMP in, RTSP to skycountd,    (hub: "drone
//!                                                           WebRTC to browsers)             connected, H264")
//! ```
//!
//! - [`render`]: `skycountd render-mediamtx`: mediamtx.yml from skycount.toml.
//! - [`key`]: the pilot's publish key: set in the TOML, or generated once and kept.
//! - [`api`]: the Control API (v3) client and what its answers mean for the pilot.
//! - [`watch`]: the task that polls it and puts the result in the hub.
//!
//! The version skycount is built and tested against is [`PINNED_VERSION`]: every key rendered
//! exists in its default configuration (tests check this against the reference copy of it), and
//! MediaMTX refuses keys it does not know, so an older MediaMTX does not start with this file.

pub mod api;
pub mod key;
pub mod render;
pub mod watch;

/// The MediaMTX release skycount renders for and is tested against. It needs at least v1.20.0
/// (`forward`), v1.19.3 (`runOnAvailable` names) and v1.16.0 (`alwaysAvailable`).
pub const PINNED_VERSION: &str = "v1.20.1";

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
