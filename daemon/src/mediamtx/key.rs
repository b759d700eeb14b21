//! The pilot's publish key.
//!
//! The drone publishes as user [`PUBLISH_USER`] with the key as password
//! (`rtmp://box:1935/live/drone?user=drone&pass=KEY`, MediaMTX's form for RTMP). The key is
//! `stream.key` when set; otherwise it is generated on first start and kept in
//! `stream.key_file` (`/var/lib/skycount/stream-key`, the unit's StateDirectory), so that it
//! survives reboots and so that `render-mediamtx` and the daemon agree on it.

use std::io::{Read, Write};
use std::path::Path;

use crate::config::StreamSettings;

/// The user the drone publishes as.
pub const PUBLISH_USER: &str = "drone";
/// Length of a generated key (about 143 bits).
pub const GENERATED_LEN: usize = 24;

const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";

/// Whether `key` can be a publish key: 8 to 64 letters, digits, `_`, `-` or `.`, so that it goes
/// into a URL unescaped and MediaMTX accepts it as a plain credential.
pub fn check(key: &str) -> Result<(), String> {
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

/// A new random key from the system's random source (letters and digits, no look-alikes).
pub fn generate() -> std::io::Result<String> {
    let mut f = std::fs::File::open("/dev/urandom")?;
    let mut out = String::with_capacity(GENERATED_LEN);
    let mut buf = [0u8; 64];
    // Rejection sampling keeps every character equally likely.
    let limit = 256 - (256 % ALPHABET.len());
    while out.len() < GENERATED_LEN {
        f.read_exact(&mut buf)?;
        for &b in &buf {
            if (b as usize) < limit && out.len() < GENERATED_LEN {
                out.push(ALPHABET[b as usize % ALPHABET.len()] as char);
            }
        }
    }
    Ok(out)
}

/// The key in force: `stream.key`, or the one kept in `stream.key_file`; with `create`, one is
/// generated and kept there when there is none yet.
pub fn resolve(stream: &StreamSettings, create: bool) -> Result<String, String> {
    if !stream.key.is_empty() {
        return Ok(stream.key.clone());
    }
    let file = &stream.key_file;
    match read(file) {
        Ok(Some(key)) => Ok(key),
        Ok(None) if create => create_in(file),
        Ok(None) => Err(format!(
            "{}: no stream key yet (stream.key is empty and skycountd has not generated one: \
             start skycountd first, or set stream.key)",
            file.display()
        )),
        Err(e) => Err(e),
    }
}

fn read(file: &Path) -> Result<Option<String>, String> {
    match std::fs::read_to_string(file) {
        Ok(text) => {
            let key = text.trim().to_string();
            check(&key).map_err(|e| {
                format!(
                    "{}: the kept stream key {e}; delete the file to generate a new one \
                     (the pilot must then use the new URL)",
                    file.display()
                )
            })?;
            Ok(Some(key))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!(
            "{}: cannot read the stream key: {e} (stream.key_file)",
            file.display()
        )),
    }
}

fn create_in(file: &Path) -> Result<String, String> {
    let dir = file.parent().filter(|d| !d.as_os_str().is_empty());
    if let Some(dir) = dir {
        if !dir.is_dir() {
            return Err(format!(
                "{}: cannot keep a generated stream key: {} does not exist (systemd's \
                 StateDirectory= creates it; or set stream.key or stream.key_file)",
                file.display(),
                dir.display()
            ));
        }
    }
    let key = generate().map_err(|e| format!("cannot generate a stream key: {e}"))?;
    let opened = {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o640)
            .open(file)
    };
    match opened {
        Ok(mut f) => {
            use std::os::unix::fs::PermissionsExt;
            // Whatever the umask: the owner writes, the group (MediaMTX's render) reads.
            f.set_permissions(std::fs::Permissions::from_mode(0o640))
                .and_then(|_| f.write_all(format!("{key}\n").as_bytes()))
                .and_then(|_| f.sync_all())
                .map_err(|e| format!("{}: cannot write the stream key: {e}", file.display()))?;
            log::info!("generated a new stream key, kept in {}", file.display());
            Ok(key)
        }
        // Another process (render-mediamtx, or a second start) made it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            read(file)?.ok_or_else(|| format!("{}: the stream key file vanished", file.display()))
        }
        Err(e) => Err(format!(
            "{}: cannot keep a generated stream key: {e} (stream.key_file)",
            file.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn keys_that_would_break_the_url_are_refused() {
        assert!(check("short").is_err());
        assert!(check("has space in it").is_err());
        assert!(check("amp&ersand1").is_err());
        assert!(check("Good_key-1.2").is_ok());
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
