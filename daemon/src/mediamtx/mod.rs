//! MediaMTX, the media server beside skycountd: its configuration, rendered from ours, and the
//! watch over its Control API.
//!
//! ```text
//!  skycount.toml ──render──▶ /run/mediamtx/mediamtx.yml ──▶ mediamtx ◀──poll /v3/paths/get── skycountd
//!                                                          (RTMP in, RTSP to skycountd,    (hub: "drone
//!                                                           WebRTC to browsers)             connected, H264")
//! ```
//!
//! - [`render`]: `skycountd render-mediamtx`: mediamtx.yml from skycount.toml.
//! - [`key`]: the pilot's publish key: set in the TOML, or generated once and kept.
//! - [`pairing`]: skycountd's answers to MediaMTX's authentication requests (`authMethod: http`):
//!   the key, the operator's approvals, and the requests waiting for one.
//! - [`api`]: the Control API (v3) client and what its answers mean for the pilot.
//! - [`watch`]: the task that polls it and puts the result in the hub.
//!
//! The version skycount is built and tested against is [`PINNED_VERSION`]: every key rendered
//! exists in its default configuration (tests check this against the reference copy of it), and
//! MediaMTX refuses keys it does not know, so an older MediaMTX does not start with this file.

pub mod api;
pub mod key;
pub mod pairing;
pub mod render;
pub mod watch;

/// The MediaMTX release skycount renders for and is tested against. It needs at least v1.20.0
/// (`forward`), v1.19.3 (`runOnAvailable` names) and v1.16.0 (`alwaysAvailable`).
pub const PINNED_VERSION: &str = "v1.20.1";

/// Whether MediaMTX accepts `name` as the name of a path (the rule lives with `[stream]`).
pub use crate::config::check_path_name;
