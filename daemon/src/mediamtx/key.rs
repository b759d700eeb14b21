//! The pilot's publish key.
//!
//! The drone publishes as user [`PUBLISH_USER`] with the key as password
//! (`rtmp://box:1935/live/drone?user=drone&pass=KEY`, MediaMTX's form for RTMP). The key is
//! `stream.key` when set; otherwise it is generated on first start and kept in
//! `stream.key_file` (`/var/lib/skycount/stream-key`, the unit's StateDirectory; see
//! [`crate::secret`]), so that it
//! survives reboots and so that `render-mediamtx` and the daemon agree on it.

pub use crate::config::check_stream_key as check;
use crate::config::StreamSettings;
use crate::secret;

/// The user the drone publishes as.
pub const PUBLISH_USER: &str = "drone";
/// Length of a generated key (about 143 bits).
pub const GENERATED_LEN: usize = 24;

const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";

/// How the generated key is kept (see [`crate::secret`]).
const KEPT: secret::Kind = secret::Kind {
    what: "stream key",
    setting: "stream.key_file",
    value_setting: "stream.key",
    on_change: "the pilot must then use the new URL",
    alphabet: ALPHABET,
    len: GENERATED_LEN,
    // The owner (skycountd) writes; the group (MediaMTX's render) reads.
    mode: 0o640,
    check,
};

/// A new random key from the system's random source (letters and digits, no look-alikes).
pub fn generate() -> Result<String, String> {
    secret::generate(ALPHABET, GENERATED_LEN)
}

/// The key in force: `stream.key`, or the one kept in `stream.key_file`; with `create`, one is
/// generated and kept there when there is none yet.
pub fn resolve(stream: &StreamSettings, create: bool) -> Result<String, String> {
    if !stream.key.is_empty() {
        return Ok(stream.key.clone());
    }
    let file = &stream.key_file;
    match secret::read(&KEPT, file)? {
        Some(key) => Ok(key),
        None if create => secret::create(&KEPT, file),
        None => Err(format!(
            "{}: no stream key yet (stream.key is empty and skycountd has not generated one: \
             start skycountd first, or set stream.key)",
            file.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn stream(key: &str, file: &Path) -> StreamSettings {
        StreamSettings {
            key: key.into(),
            key_file: file.into(),
            ..StreamSettings::default()
        }
    }

    #[test]
    fn generated_keys_are_valid_and_differ() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert_eq!(a.len(), GENERATED_LEN);
        check(&a).unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn a_generated_key_is_kept_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("stream-key");
        let s = stream("", &file);
        assert!(resolve(&s, false)
            .unwrap_err()
            .contains("no stream key yet"));
        let first = resolve(&s, true).unwrap();
        assert_eq!(resolve(&s, true).unwrap(), first, "kept across starts");
        assert_eq!(resolve(&s, false).unwrap(), first, "render reads the same");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0o040, "owner and group only: {mode:o}");
        // A key in the TOML wins.
        assert_eq!(
            resolve(&stream("fromtoml1", &file), true).unwrap(),
            "fromtoml1"
        );
    }

    #[test]
    fn unusable_key_files_are_explained() {
        let dir = tempfile::tempdir().unwrap();
        let missing_dir = dir.path().join("nope/stream-key");
        let err = resolve(&stream("", &missing_dir), true).unwrap_err();
        assert!(err.contains("does not exist"), "{err}");
        let file = dir.path().join("stream-key");
        std::fs::write(&file, "bad key!\n").unwrap();
        let err = resolve(&stream("", &file), true).unwrap_err();
        assert!(err.contains("delete the file"), "{err}");
    }
}
