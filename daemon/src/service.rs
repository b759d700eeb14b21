//! Living as a systemd service: logging, readiness, the watchdog.
//!
//! Under systemd (`JOURNAL_STREAM` set and pointing at the journal) logs go to the journal with
//! their priority; otherwise to stderr. `sd_notify` messages are sent only when systemd asked for
//! them (`NOTIFY_SOCKET`), so the same binary runs by hand unchanged.

use std::time::Duration;

use sd_notify::NotifyState;

/// Sets up logging at `level` (`RUST_LOG` wins when set).
pub fn init_logging(level: &str) {
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| level.to_string());
    let max = filter
        .parse::<log::LevelFilter>()
        .unwrap_or(log::LevelFilter::Info);
    if systemd_journal_logger::connected_to_journal() {
        if let Ok(journal) = systemd_journal_logger::JournalLog::new() {
            if journal.install().is_ok() {
                log::set_max_level(max);
                return;
            }
        }
    }
    let _ = env_logger::Builder::new()
        .parse_filters(&filter)
        .format_timestamp_millis()
        .target(env_logger::Target::Stderr)
        .try_init();
}

/// Changes the log level (on reload).
pub fn set_level(level: &str) {
    if std::env::var_os("RUST_LOG").is_none() {
        if let Ok(l) = level.parse::<log::LevelFilter>() {
            log::set_max_level(l);
        }
    }
}

pub fn notify_ready(status: &str) {
    let _ = sd_notify::notify(&[NotifyState::Ready, NotifyState::Status(status)]);
}

pub fn notify_status(status: &str) {
    let _ = sd_notify::notify(&[NotifyState::Status(status)]);
}

/// Reloading, with the monotonic time systemd ≥ 253 matches to its reload (it fails a reload
/// whose RELOADING=1 comes without it); older ones ignore the field.
pub fn notify_reloading() {
    let mut states = vec![NotifyState::Reloading];
    states.extend(NotifyState::monotonic_usec_now().ok());
    let _ = sd_notify::notify(&states);
}

pub fn notify_stopping() {
    let _ = sd_notify::notify(&[NotifyState::Stopping]);
}

pub fn notify_watchdog() {
    let _ = sd_notify::notify(&[NotifyState::Watchdog]);
}

/// How often to ping the watchdog: half of `WatchdogSec`, when systemd set one.
pub fn watchdog_interval() -> Option<Duration> {
    sd_notify::watchdog_enabled().map(|d| d / 2)
}
