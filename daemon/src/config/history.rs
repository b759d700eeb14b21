//! `[history]`'s own type and checks: where the flight history is kept, how much of it, and how
//! flights and snapshots are cut. `crate::history` records it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// `[history]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HistorySettings {
    /// Record analyses, alerts and the operator's changes, grouped into flights.
    pub enabled: bool,
    /// The SQLite database; unset: `history.sqlite` in `analysis.state_dir`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// The most the database may hold, in MiB (16 to 1048576); the oldest flights go first.
    pub max_mb: u64,
    /// Flights older than this many days are deleted (1 to 3650).
    pub retention_days: u32,
    /// A flight ends once no analysis of the drone's stream came for this long (5 to 86400 s).
    pub flight_gap_s: u32,
    /// A snapshot (JPEG and density grid) is kept this often during a flight (10 to 3600 s),
    /// besides the one at its peak.
    pub snapshot_every_s: u32,
}

impl Default for HistorySettings {
    fn default() -> Self {
        Self {
            enabled: true,
            path: None,
            max_mb: 512,
            retention_days: 90,
            flight_gap_s: 120,
            snapshot_every_s: 60,
        }
    }
}

impl HistorySettings {
    /// The database's path: `path`, or `history.sqlite` in `state_dir`.
    pub fn db_path(&self, state_dir: &Path) -> PathBuf {
        self.path
            .clone()
            .unwrap_or_else(|| state_dir.join("history.sqlite"))
    }
}

/// Every problem with `h`, as (key within `[history]`, problem).
pub fn check(h: &HistorySettings) -> Vec<(&'static str, String)> {
    let mut problems = Vec::new();
    for (key, v, lo, hi, unit) in [
        ("max_mb", h.max_mb, 16, 1 << 20, "MiB"),
        (
            "retention_days",
            u64::from(h.retention_days),
            1,
            3650,
            "days",
        ),
        ("flight_gap_s", u64::from(h.flight_gap_s), 5, 86_400, "s"),
        (
            "snapshot_every_s",
            u64::from(h.snapshot_every_s),
            10,
            3600,
            "s",
        ),
    ] {
        if !(lo..=hi).contains(&v) {
            problems.push((
                key,
                format!("{v} is out of range: expected {lo} to {hi} {unit}"),
            ));
        }
    }
    if let Some(p) = &h.path {
        if p.file_name().is_none() || p.as_os_str().is_empty() {
            problems.push((
                "path",
                format!(
                    "{} is not a file's path: name the database file (or leave it unset)",
                    p.display()
                ),
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_pass_and_every_number_is_ranged() {
        assert!(check(&HistorySettings::default()).is_empty());
        let bad = HistorySettings {
            max_mb: 1,
            retention_days: 0,
            flight_gap_s: 1_000_000,
            snapshot_every_s: 5,
            path: Some(PathBuf::from("/")),
            ..HistorySettings::default()
        };
        let problems = check(&bad);
        let keys: Vec<_> = problems.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            keys,
            [
                "max_mb",
                "retention_days",
                "flight_gap_s",
                "snapshot_every_s",
                "path"
            ]
        );
        assert_eq!(
            problems[0].1,
            "1 is out of range: expected 16 to 1048576 MiB"
        );
    }

    #[test]
    fn the_database_sits_in_the_state_dir_unless_a_path_is_set() {
        let h = HistorySettings::default();
        assert_eq!(
            h.db_path(Path::new("/var/lib/skycount/analysis")),
            Path::new("/var/lib/skycount/analysis/history.sqlite")
        );
        let h = HistorySettings {
            path: Some("/data/h.db".into()),
            ..h
        };
        assert_eq!(h.db_path(Path::new("/x")), Path::new("/data/h.db"));
    }
}
