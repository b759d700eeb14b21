//! History: what happened during each flight, kept on the box's disk so that it survives
//! restarts and power cuts, for the report after the event.
//!
//! The live dashboard shows the latest count and forgets it; a safety officer later asks what
//! the peak was, and when, and which alerts fired. The history answers from one SQLite file
//! (`history.path`, by default `history.sqlite` in `analysis.state_dir`):
//!
//! ```text
//!   engine ─▶ Hub ─feed()─▶ recorder ──batch/s──▶ writer thread ─▶ history.sqlite (WAL)
//!                                                                      │
//!   dashboard ◀── GET /api/history/flights… (publish::history) ◀───────┘ read-only
//! ```
//!
//! - [`flights`]: cutting analyses into flights (a flight ends once the drone has been gone for
//!   `history.flight_gap_s`), plain Rust driven by timestamps.
//! - [`recorder`]: follows [`Hub::feed`](crate::publish::hub::Hub::feed), keeps every analysis
//!   (time, total, smoothed, band, per-zone counts, stream state), alert and setup change, a
//!   snapshot (JPEG + density grid) at each flight's peak and every `history.snapshot_every_s`,
//!   and commits a batch at least once a second from its own thread.
//! - [`db`]: the schema (migrated by `PRAGMA user_version`), the writes, and pruning (oldest
//!   first, past `history.retention_days` or over `history.max_mb`).
//! - [`read`]: the flights, a flight's series (thinned to a bound), alerts, events, the peak
//!   snapshot and the CSV export, for `publish::history`.
//!
//! What survives what:
//! - **kill -9 or a crash**: every committed batch (WAL): at most the last second is lost, and the
//!   file always passes `PRAGMA integrity_check`. The flight left open goes on if skycountd is
//!   back within `flight_gap_s`, and is ended at its last analysis otherwise.
//! - **a power cut**: the same, plus what the OS had not yet written of the last commits
//!   (`synchronous = NORMAL`: WAL frames are synced at checkpoints, not at each commit).
//! - **a full or failing disk**: history pauses (the status says "history paused: disk full
//!   …"), counting goes on, rows are dropped and counted in `status.history.lost_rows`, and
//!   writing resumes by itself once a retry (1 s, doubling up to 30 s) succeeds.
//!
//! Like `publish`'s Socket.IO task and the MQTT bridge, the recorder is a follower of the hub:
//! nothing upstream waits for it.

pub mod db;
pub mod flights;
pub mod read;
pub mod recorder;
