//! The commands that run the engine: thin callers of [`crate::engine`].
//!
//! - [`run`]: the daemon, with the viewers' server and the MediaMTX watch.
//! - [`analyze`]: the model on still images or a recording, one JSON line per analysis.

pub mod analyze;
pub mod run;
