//! What the updater keeps in `update.dir`, on the data partition (which no update touches):
//!
//! ```text
//! <update.dir>/.incoming-XXXXXX.raucb   an upload being received (deleted if it breaks off)
//! <update.dir>/bundle.raucb             the upload RAUC checks and installs (deleted after)
//! <update.dir>/pending.json             installed, not yet confirmed: the slot to confirm
//! <update.dir>/last.json                the last update's outcome, for the dashboard
//! <update.dir>/usb-tried.json           bundles found on USB sticks and already tried
//! ```
//!
//! `pending.json` is written once RAUC has installed and switched the boot order; `skycountd
//! confirm-boot` reads it after the reboot, marks the slot good or bad and replaces it with the
//! outcome in `last.json`. Every write is atomic (a power cut leaves the old file or the new).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::secret::write_atomically;

/// How an update ended, for the dashboard (`last.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::Display)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum Outcome {
    /// The bundle was refused before anything was written (signature, compatible, size, …).
    Refused,
    /// RAUC failed while installing; the running slot and the boot order are unchanged.
    Failed,
    /// Installed into the other slot; it runs after the next reboot.
    Installed,
    /// The new slot came up healthy and was marked good.
    Updated,
    /// The new slot did not come up healthy (or did not boot): the box runs the old one again.
    RolledBack,
    /// Left unfinished (skycountd or the box stopped during it); RAUC's status says where things are.
    Interrupted,
}

/// Where a bundle came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::Display)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum Source {
    Upload,
    Usb,
}

/// `last.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Last {
    pub outcome: Outcome,
    /// The bundle's version, when it was read.
    pub version: Option<String>,
    /// The file's name as uploaded or found.
    pub bundle: Option<String>,
    pub source: Option<Source>,
    /// What happened, in words (RAUC's own words kept in it).
    pub message: String,
    pub at_ms: u64,
}

/// `pending.json`: installed into `to`, not yet confirmed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    pub version: Option<String>,
    pub bundle: Option<String>,
    pub source: Source,
    /// The bootname of the slot that ran when it was installed.
    pub from: String,
    /// The bootname of the slot it was installed into.
    pub to: String,
    pub at_ms: u64,
}

/// The folder and its files.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

/// The most bundles remembered in `usb-tried.json`.
const USB_TRIED: usize = 32;

impl Store {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The upload RAUC checks and installs.
    pub fn bundle_path(&self) -> PathBuf {
        self.dir.join("bundle.raucb")
    }

    /// Creates the folder (mode 0750) when it is missing.
    pub fn ensure(&self) -> Result<(), String> {
        use std::os::unix::fs::DirBuilderExt as _;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o750)
            .create(&self.dir)
            .map_err(|e| {
                format!(
                    "cannot create {}: {e} (update.dir must be writable by skycountd)",
                    self.dir.display()
                )
            })
    }

    /// A temporary file in the folder to receive an upload into (deleted when dropped).
    pub fn incoming(&self) -> Result<tempfile::NamedTempFile, String> {
        self.ensure()?;
        tempfile::Builder::new()
            .prefix(".incoming-")
            .suffix(".raucb")
            .tempfile_in(&self.dir)
            .map_err(|e| format!("cannot write in {}: {e}", self.dir.display()))
    }

    /// Deletes uploads left behind by a skycountd that stopped during one (a power cut).
    pub fn clean_leftovers(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(".incoming-") || name == "bundle.raucb" {
                if let Err(err) = std::fs::remove_file(e.path()) {
                    log::warn!("cannot delete the old upload {}: {err}", e.path().display());
                } else {
                    log::info!("deleted {} (an upload left unfinished)", e.path().display());
                }
            }
        }
    }

    fn read<T: serde::de::DeserializeOwned>(&self, name: &str) -> Option<T> {
        let path = self.dir.join(name);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                log::warn!("cannot read {}: {e}", path.display());
                return None;
            }
        };
        match serde_json::from_str(&text) {
            Ok(v) => Some(v),
            Err(e) => {
                log::warn!("{} is not readable ({e}); ignored", path.display());
                None
            }
        }
    }

    fn write<T: Serialize>(&self, name: &str, v: &T) -> Result<(), String> {
        self.ensure()?;
        let path = self.dir.join(name);
        let json = serde_json::to_vec_pretty(v).map_err(|e| e.to_string())?;
        write_atomically(&path, &json, 0o640)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))
    }

    pub fn last(&self) -> Option<Last> {
        self.read("last.json")
    }

    /// Records an outcome; a failure to is logged (the update itself is not undone for it).
    pub fn set_last(&self, last: &Last) {
        match &last.outcome {
            Outcome::Refused | Outcome::Failed | Outcome::RolledBack | Outcome::Interrupted => {
                log::warn!("update {}: {}", last.outcome, last.message)
            }
            _ => log::info!("update {}: {}", last.outcome, last.message),
        }
        if let Err(e) = self.write("last.json", last) {
            log::error!("cannot keep the update's outcome: {e}");
        }
    }

    pub fn pending(&self) -> Option<Pending> {
        self.read("pending.json")
    }

    pub fn set_pending(&self, p: &Pending) -> Result<(), String> {
        self.write("pending.json", p)
    }

    pub fn clear_pending(&self) {
        let path = self.dir.join("pending.json");
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => log::error!("cannot delete {}: {e}", path.display()),
        }
    }

    /// Whether a bundle (by [`BundleInfo::identity`](super::rauc::BundleInfo::identity)) was
    /// already tried from a USB stick.
    pub fn usb_tried(&self, identity: &str) -> bool {
        self.read::<Vec<String>>("usb-tried.json")
            .is_some_and(|v| v.iter().any(|i| i == identity))
    }

    pub fn add_usb_tried(&self, identity: &str) {
        let mut v: Vec<String> = self.read("usb-tried.json").unwrap_or_default();
        v.retain(|i| i != identity);
        v.push(identity.to_string());
        let keep = v.len().saturating_sub(USB_TRIED);
        v.drain(..keep);
        if let Err(e) = self.write("usb-tried.json", &v) {
            log::error!("cannot remember the USB bundle: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_and_pending_updates_are_kept_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("update"));
        assert_eq!((store.last(), store.pending()), (None, None));
        let last = Last {
            outcome: Outcome::RolledBack,
            version: Some("1.2.0".into()),
            bundle: Some("skycount-1.2.0.raucb".into()),
            source: Some(Source::Usb),
            message: "not healthy".into(),
            at_ms: 5,
        };
        store.set_last(&last);
        assert_eq!(store.last(), Some(last));
        let text = std::fs::read_to_string(dir.path().join("update/last.json")).unwrap();
        assert!(
            text.contains("\"rolled-back\"") && text.contains("\"usb\""),
            "{text}"
        );
        let p = Pending {
            version: None,
            bundle: None,
            source: Source::Upload,
            from: "A".into(),
            to: "B".into(),
            at_ms: 1,
        };
        store.set_pending(&p).unwrap();
        assert_eq!(store.pending(), Some(p));
        store.clear_pending();
        store.clear_pending();
        assert_eq!(store.pending(), None);
        // A damaged file is ignored, not fatal.
        std::fs::write(dir.path().join("update/last.json"), b"{oops").unwrap();
        assert_eq!(store.last(), None);
    }

    #[test]
    fn usb_bundles_are_remembered_up_to_a_bound() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        assert!(!store.usb_tried("rootfs=1"));
        for i in 0..40 {
            store.add_usb_tried(&format!("rootfs={i}"));
        }
        assert!(store.usb_tried("rootfs=39"));
        assert!(!store.usb_tried("rootfs=1"), "the oldest are forgotten");
    }

    #[test]
    fn leftover_uploads_are_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let t = store.incoming().unwrap();
        let (_, kept) = t.keep().unwrap();
        std::fs::write(store.bundle_path(), b"x").unwrap();
        std::fs::write(dir.path().join("last.json"), b"{}").unwrap();
        store.clean_leftovers();
        assert!(!kept.exists() && !store.bundle_path().exists());
        assert!(dir.path().join("last.json").exists());
    }
}
