//! `[operator]`'s own type and checks: who may change what the box counts, and the names the
//! box answers to. `crate::publish::auth` enforces them.
//!
//! The operator signs in with a passphrase (a PIN of digits is a passphrase too). It is set here
//! (`passphrase`), or generated on the first start and shown on the console's login banner
//! (`banner_file`); either way skycountd keeps only its argon2 hash (`hash_file`), and the
//! operator can change it from the dashboard unless it is set here.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The shortest passphrase accepted (a six-digit PIN); brute force is held off by the login's
/// growing delays, not by length alone (see docs/security.md).
pub const MIN_PASSPHRASE: usize = 6;
/// The longest passphrase accepted (argon2 hashes any length; this bounds the work per attempt).
pub const MAX_PASSPHRASE: usize = 128;
/// The longest name in `host_names` (a DNS name is at most 253 characters).
pub const MAX_HOST_NAME: usize = 253;

/// `[operator]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OperatorSettings {
    /// The operator's passphrase or PIN; empty: generated on the first start, kept hashed in
    /// `hash_file` and shown in `banner_file` until the operator changes it.
    pub passphrase: String,
    /// Where the passphrase's argon2 hash (a PHC string) is kept.
    pub hash_file: PathBuf,
    /// The console banner that shows a generated passphrase (linked from /etc/issue.d).
    pub banner_file: PathBuf,
    /// The open sessions, kept as SHA-256 hashes of their tokens with their expiry, so that a
    /// restart of skycountd signs nobody out.
    pub sessions_file: PathBuf,
    /// How long a sign-in lasts, in minutes (1 to 10080, a week).
    pub session_minutes: u32,
    /// More names the box answers to (a DNS name given to it on a LAN), besides its addresses,
    /// its host name, `localhost`, `skycount.lan` and the hotspot's address.
    pub host_names: Vec<String>,
}

impl Default for OperatorSettings {
    fn default() -> Self {
        Self {
            passphrase: String::new(),
            hash_file: "/var/lib/skycount/operator.phc".into(),
            banner_file: "/var/lib/skycount/operator.issue".into(),
            sessions_file: "/var/lib/skycount/operator.sessions".into(),
            session_minutes: 720,
            host_names: Vec::new(),
        }
    }
}

/// Whether `p` can be an operator passphrase: [`MIN_PASSPHRASE`] to [`MAX_PASSPHRASE`]
/// printable characters (`config::printable`: no control, invisible or direction-changing one,
/// which nobody could type back for sure).
pub fn check_passphrase(p: &str) -> Result<(), String> {
    let n = p.chars().count();
    if !(MIN_PASSPHRASE..=MAX_PASSPHRASE).contains(&n) {
        return Err(format!(
            "is {n} characters long; it must have {MIN_PASSPHRASE} to {MAX_PASSPHRASE}"
        ));
    }
    super::printable::check(p)
}

/// Whether `name` can be a host name the box answers to: letters, digits, `-` and `.`, at most
/// [`MAX_HOST_NAME`] characters.
pub fn check_host_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= MAX_HOST_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    if ok {
        Ok(())
    } else {
        let shown: String = name.chars().take(40).collect();
        Err(format!(
            "{shown:?} is not a host name (1 to {MAX_HOST_NAME} letters, digits, '-' and '.')"
        ))
    }
}

/// Every problem with `o`, as (key within `[operator]`, problem).
pub fn check(o: &OperatorSettings) -> Vec<(&'static str, String)> {
    let mut problems = Vec::new();
    if !o.passphrase.is_empty() {
        if let Err(e) = check_passphrase(&o.passphrase) {
            problems.push(("passphrase", e));
        }
    }
    if !(1..=10080).contains(&o.session_minutes) {
        problems.push((
            "session_minutes",
            format!("is {}; it must be 1 to 10080 (a week)", o.session_minutes),
        ));
    }
    if o.host_names.len() > 32 {
        problems.push((
            "host_names",
            format!("has {} names; at most 32", o.host_names.len()),
        ));
    }
    for name in o.host_names.iter().take(32) {
        if let Err(e) = check_host_name(name) {
            problems.push(("host_names", e));
        }
    }
    for (key, path) in [
        ("hash_file", &o.hash_file),
        ("banner_file", &o.banner_file),
        ("sessions_file", &o.sessions_file),
    ] {
        if path.as_os_str().is_empty() || path.file_name().is_none() {
            problems.push((key, format!("{} is not a file's path", path.display())));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_pass_and_bad_values_are_named() {
        assert!(check(&OperatorSettings::default()).is_empty());
        let bad = OperatorSettings {
            passphrase: "12345".into(),
            session_minutes: 0,
            host_names: vec!["ok.example".into(), "evil\u{0}name".into(), "x".repeat(300)],
            hash_file: PathBuf::new(),
            ..OperatorSettings::default()
        };
        let keys: Vec<_> = check(&bad).into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            [
                "passphrase",
                "session_minutes",
                "host_names",
                "host_names",
                "hash_file"
            ]
        );
        let long = check_host_name(&"y".repeat(100_000)).unwrap_err();
        assert!(
            long.len() < 200,
            "the error shows a line, not the input: {long}"
        );
        assert!(check_passphrase("123456").is_ok());
        assert!(check_passphrase("tab\there").is_err());
        // Invisible and direction-changing characters cannot be typed back reliably.
        for p in [
            "pass\u{200b}word",
            "\u{202e}drowssap",
            "pass\u{2028}word",
            "pass\u{00ad}word",
        ] {
            let err = check_passphrase(p).unwrap_err();
            assert!(err.contains("U+"), "{p:?}: {err}");
        }
        assert!(check_passphrase("Kennwort für die Bühne").is_ok());
        assert!(check_passphrase(&"p".repeat(129)).is_err());
    }
}
