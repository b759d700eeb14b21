//! `[update]`'s own type and checks: software updates of the whole box with RAUC (signed A/B
//! bundles, docs/update.md). `crate::update` runs them.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The bounds of `max_bundle_mb`: a bundle is a whole root file system (hundreds of MB); the
/// least is for tests.
pub const BUNDLE_MB: (u64, u64) = (1, 16 * 1024);
/// The bounds of `confirm_timeout_s`: long enough for a first TensorRT engine build on the
/// Jetson, short enough that a box that never comes up falls back within the hour.
pub const CONFIRM_S: (u32, u32) = (5, 3600);

/// `[update]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UpdateSettings {
    /// Offer software updates (the dashboard's Software update, USB sticks). Without RAUC on the
    /// machine they are reported unavailable, and nothing else changes.
    pub enabled: bool,
    /// The `rauc` command (a D-Bus client of the RAUC service, which does the installing).
    pub rauc: PathBuf,
    /// RAUC's system configuration for the commands that read it (`rauc --conf`); empty: RAUC's
    /// own search (/etc/rauc, /run/rauc, /usr/lib/rauc).
    pub rauc_config: PathBuf,
    /// Where an uploaded bundle is kept while RAUC checks and installs it, and the record of the
    /// last update: on the data partition, which updates never touch.
    pub dir: PathBuf,
    /// The largest bundle accepted, in MB.
    pub max_bundle_mb: u64,
    /// Where `skycount-usb@.service` mounts USB sticks (a bundle at the top of a stick is
    /// installed); empty: sticks are ignored.
    pub usb_dir: PathBuf,
    /// Written to ask for the reboot into the updated slot (`skycount-reboot.path` reboots);
    /// empty: the operator cannot reboot from the dashboard.
    pub reboot_file: PathBuf,
    /// `skycountd confirm-boot`: how long a freshly updated slot has to report healthy before it
    /// is marked bad and the box reboots into the other one.
    pub confirm_timeout_s: u32,
}

impl Default for UpdateSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            rauc: "rauc".into(),
            rauc_config: PathBuf::new(),
            dir: "/var/lib/skycount/update".into(),
            max_bundle_mb: 2048,
            usb_dir: "/run/skycount-usb".into(),
            reboot_file: "/run/skycount/reboot".into(),
            confirm_timeout_s: 600,
        }
    }
}

impl UpdateSettings {
    pub fn max_bundle_bytes(&self) -> u64 {
        self.max_bundle_mb * 1_000_000
    }
}

/// Every problem with `u`, as (key within `[update]`, problem).
pub fn check(u: &UpdateSettings) -> Vec<(&'static str, String)> {
    let mut problems = Vec::new();
    let (lo, hi) = BUNDLE_MB;
    if !(lo..=hi).contains(&u.max_bundle_mb) {
        problems.push((
            "max_bundle_mb",
            format!(
                "{} is out of range: expected {lo} to {hi} MB",
                u.max_bundle_mb
            ),
        ));
    }
    let (lo, hi) = CONFIRM_S;
    if !(lo..=hi).contains(&u.confirm_timeout_s) {
        problems.push((
            "confirm_timeout_s",
            format!(
                "{} is out of range: expected {lo} to {hi} s",
                u.confirm_timeout_s
            ),
        ));
    }
    if u.enabled {
        if u.rauc.as_os_str().is_empty() {
            problems.push(("rauc", "is empty: name the rauc command (\"rauc\")".into()));
        }
        if !u.dir.is_absolute() {
            problems.push((
                "dir",
                format!(
                    "{:?} is not an absolute path: name a folder on the data partition",
                    u.dir
                ),
            ));
        }
    }
    for (key, p) in [("usb_dir", &u.usb_dir), ("reboot_file", &u.reboot_file)] {
        if !p.as_os_str().is_empty() && !p.is_absolute() {
            problems.push((
                key,
                format!("{p:?} is not an absolute path (or leave it empty)"),
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_pass_and_numbers_and_paths_are_checked() {
        assert!(check(&UpdateSettings::default()).is_empty());
        let bad = UpdateSettings {
            max_bundle_mb: 0,
            confirm_timeout_s: 1,
            rauc: PathBuf::new(),
            dir: "update".into(),
            usb_dir: "usb".into(),
            reboot_file: PathBuf::new(),
            ..UpdateSettings::default()
        };
        let keys: Vec<_> = check(&bad).into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            [
                "max_bundle_mb",
                "confirm_timeout_s",
                "rauc",
                "dir",
                "usb_dir"
            ]
        );
        // Off: the command and the folder are not needed.
        let off = UpdateSettings {
            enabled: false,
            rauc: PathBuf::new(),
            dir: PathBuf::new(),
            ..UpdateSettings::default()
        };
        assert!(check(&off).is_empty());
        assert_eq!(UpdateSettings::default().max_bundle_bytes(), 2_048_000_000);
    }
}
