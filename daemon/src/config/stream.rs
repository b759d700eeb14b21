//! `[stream]`'s checks: MediaMTX path names and the pilot's publish key, as MediaMTX and the
//! RTMP URL take them. `crate::mediamtx` uses the values; the rules live here with the settings.

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
