//! Secrets skycountd makes once and keeps: the pilot's stream key and the hotspot's passphrase.
//!
//! Both follow one rule: a value set in skycount.toml wins; when there is none, the first start
//! generates one from the system's random source and keeps it in a file under the service's
//! StateDirectory, so that it survives reboots and every command that needs it (the daemon,
//! `render-mediamtx`, `render-hotspot`) reads the same one. A kept value is never overwritten:
//! deleting the file is how a user asks for a new one.

//!
//! Files are written atomically ([`write_atomically`]): a crash or a full disk leaves no part of
//! a value behind. A kept file that is empty all the same (an older skycountd on a full disk, a
//! user's `truncate`) counts as absent: a new value is generated into it.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use rand::seq::IndexedRandom;
use rand::SeedableRng;

/// What is kept, for messages and for checking what is read back.
pub struct Kind {
    /// "stream key", "hotspot passphrase".
    pub what: &'static str,
    /// The setting naming the file: "stream.key_file".
    pub setting: &'static str,
    /// The setting that, when set, makes the file unnecessary: "stream.key".
    pub value_setting: &'static str,
    /// Who has to learn the new value when the file is deleted.
    pub on_change: &'static str,
    /// The characters and length of a generated value.
    pub alphabet: &'static [u8],
    pub len: usize,
    /// The file's permissions.
    pub mode: u32,
    /// Whether a value read back is usable.
    pub check: fn(&str) -> Result<(), String>,
}

/// A new random value: `len` characters drawn uniformly from `alphabet` (ASCII), by a ChaCha
/// generator seeded from the operating system's random source.
pub fn generate(alphabet: &[u8], len: usize) -> Result<String, String> {
    assert!(
        !alphabet.is_empty() && alphabet.is_ascii(),
        "an alphabet of ASCII characters"
    );
    let mut rng = rand::rngs::StdRng::try_from_rng(&mut rand::rngs::SysRng)
        .map_err(|e| format!("the system's random source failed: {e}"))?;
    Ok((0..len)
        .map(|_| char::from(*alphabet.choose(&mut rng).expect("a non-empty alphabet")))
        .collect())
}

/// The value kept in `file`, or `None` when there is no file yet (or an empty one).
pub fn read(kind: &Kind, file: &Path) -> Result<Option<String>, String> {
    match std::fs::read_to_string(file) {
        Ok(text) => {
            let value = text.trim_end_matches(['\n', '\r']).to_string();
            if value.is_empty() {
                log::warn!(
                    "{}: the kept {} is empty (left by a full disk?): it counts as none",
                    file.display(),
                    kind.what
                );
                return Ok(None);
            }
            (kind.check)(&value).map_err(|e| {
                format!(
                    "{}: the kept {} {e}; delete the file to generate a new one ({})",
                    file.display(),
                    kind.what,
                    kind.on_change
                )
            })?;
            Ok(Some(value))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!(
            "{}: cannot read the {}: {e} ({})",
            file.display(),
            kind.what,
            kind.setting
        )),
    }
}

/// Generates a value and keeps it in `file`; when another process made the file first, theirs.
/// An empty file is replaced.
pub fn create(kind: &Kind, file: &Path) -> Result<String, String> {
    let dir = file
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !dir.is_dir() {
        return Err(format!(
            "{}: cannot keep a generated {}: {} does not exist (systemd's StateDirectory= \
             creates it; or set {} or {})",
            file.display(),
            kind.what,
            dir.display(),
            kind.value_setting,
            kind.setting
        ));
    }
    let value = generate(kind.alphabet, kind.len)
        .map_err(|e| format!("cannot generate a {}: {e}", kind.what))?;
    let cannot = |e: std::io::Error| {
        format!(
            "{}: cannot keep a generated {}: {e} ({})",
            file.display(),
            kind.what,
            kind.setting
        )
    };
    let text = format!("{value}\n");
    match persist(file, text.as_bytes(), kind.mode, false) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            match read(kind, file)? {
                // Another process kept one first: theirs.
                Some(theirs) => return Ok(theirs),
                // An empty one: replaced, and what is there then is the value (ours, or that of
                // a process that replaced it at the same moment).
                None => {
                    persist(file, text.as_bytes(), kind.mode, true).map_err(cannot)?;
                    return read(kind, file)?.ok_or_else(|| {
                        format!("{}: the {} file vanished", file.display(), kind.what)
                    });
                }
            }
        }
        Err(e) => return Err(cannot(e)),
    }
    log::info!("generated a new {}, kept in {}", kind.what, file.display());
    Ok(value)
}

/// Writes `bytes` to `path` atomically with `mode` (whatever the umask), replacing it.
pub fn write_atomically(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    persist(path, bytes, mode, true)
}

/// A temporary file beside `path`, written, synced and renamed to it (`replace`: over an existing
/// one; otherwise `AlreadyExists` when there is one); then the directory is synced so that the
/// rename survives a power cut.
fn persist(path: &Path, bytes: &[u8], mode: u32, replace: bool) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    if replace {
        tmp.persist(path).map_err(|e| e.error)?;
    } else {
        tmp.persist_noclobber(path).map_err(|e| e.error)?;
    }
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind() -> Kind {
        Kind {
            what: "test secret",
            setting: "test.file",
            value_setting: "test.value",
            on_change: "nobody minds",
            alphabet: b"abc",
            len: 10,
            mode: 0o640,
            check: |v| {
                if v.len() == 10 {
                    Ok(())
                } else {
                    Err("is not 10 characters long".into())
                }
            },
        }
    }

    #[test]
    fn a_value_is_created_once_with_its_mode_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secret");
        assert_eq!(read(&kind(), &file).unwrap(), None);
        let first = create(&kind(), &file).unwrap();
        assert_eq!(first.len(), 10);
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            format!("{first}\n")
        );
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o640, "{mode:o}");
        // Another process that comes second gets the first one's.
        assert_eq!(create(&kind(), &file).unwrap(), first);
        assert_eq!(read(&kind(), &file).unwrap(), Some(first));
        // No temporary file is left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn an_empty_file_counts_as_none_and_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secret");
        for empty in ["", "\n"] {
            std::fs::write(&file, empty).unwrap();
            assert_eq!(read(&kind(), &file).unwrap(), None);
            let made = create(&kind(), &file).unwrap();
            assert_eq!(read(&kind(), &file).unwrap(), Some(made));
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o640, "{mode:o}");
        }
        // A file with a value that is wrong is explained, not replaced.
        std::fs::write(&file, "short\n").unwrap();
        let err = create(&kind(), &file).unwrap_err();
        assert!(err.contains("delete the file"), "{err}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "short\n");
    }

    #[test]
    fn atomic_writes_replace_with_the_mode_asked() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("out.conf");
        write_atomically(&file, b"one", 0o600).unwrap();
        write_atomically(&file, b"two", 0o644).unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "two");
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o644, "{mode:o}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn every_character_of_the_alphabet_appears_and_nothing_else() {
        let s = generate(b"ab", 2000).unwrap();
        assert_eq!(s.len(), 2000);
        let a = s.chars().filter(|&c| c == 'a').count();
        assert!(s.chars().all(|c| c == 'a' || c == 'b'));
        // Uniform: 1000 expected; 850..1150 is more than 9 standard deviations wide.
        assert!((850..1150).contains(&a), "{a} of 2000");
    }
}
