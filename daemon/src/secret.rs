//! Secrets skycountd makes once and keeps: the pilot's stream key and the hotspot's passphrase.
//!
//! Both follow one rule: a value set in skycount.toml wins; when there is none, the first start
//! generates one from the system's random source and keeps it in a file under the service's
//! StateDirectory, so that it survives reboots and every command that needs it (the daemon,
//! `render-mediamtx`, `render-hotspot`) reads the same one. A kept value is never overwritten:
//! deleting the file is how a user asks for a new one.

use std::io::{Read, Write};
use std::path::Path;

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

/// A new random value: `len` characters drawn uniformly from `alphabet`.
pub fn generate(alphabet: &[u8], len: usize) -> std::io::Result<String> {
    assert!(
        !alphabet.is_empty() && alphabet.len() <= 256,
        "alphabet of 1 to 256 characters"
    );
    let mut f = std::fs::File::open("/dev/urandom")?;
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    // Rejection sampling keeps every character equally likely.
    let limit = 256 - (256 % alphabet.len());
    while out.len() < len {
        f.read_exact(&mut buf)?;
        for &b in &buf {
            if (b as usize) < limit && out.len() < len {
                out.push(alphabet[b as usize % alphabet.len()] as char);
            }
        }
    }
    Ok(out)
}

/// The value kept in `file`, or `None` when there is no file yet.
pub fn read(kind: &Kind, file: &Path) -> Result<Option<String>, String> {
    match std::fs::read_to_string(file) {
        Ok(text) => {
            let value = text.trim_end_matches(['\n', '\r']).to_string();
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
pub fn create(kind: &Kind, file: &Path) -> Result<String, String> {
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
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
    }
    let value = generate(kind.alphabet, kind.len)
        .map_err(|e| format!("cannot generate a {}: {e}", kind.what))?;
    let opened = {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(kind.mode)
            .open(file)
    };
    match opened {
        Ok(mut f) => {
            use std::os::unix::fs::PermissionsExt;
            // Whatever the umask.
            f.set_permissions(std::fs::Permissions::from_mode(kind.mode))
                .and_then(|_| f.write_all(format!("{value}\n").as_bytes()))
                .and_then(|_| f.sync_all())
                .map_err(|e| format!("{}: cannot write the {}: {e}", file.display(), kind.what))?;
            log::info!("generated a new {}, kept in {}", kind.what, file.display());
            Ok(value)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read(kind, file)?
            .ok_or_else(|| format!("{}: the {} file vanished", file.display(), kind.what)),
        Err(e) => Err(format!(
            "{}: cannot keep a generated {}: {e} ({})",
            file.display(),
            kind.what,
            kind.setting
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
