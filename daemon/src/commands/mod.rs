//! The commands that run the engine: thin callers of [`crate::engine`].
//!
//! - [`run`]: the daemon, with the viewers' server and the MediaMTX watch.
//! - [`analyze`]: the model on still images or a recording, one JSON line per analysis.
//! - [`eval`]: how right the count is on annotated images, through the same analysis path.
//! - [`operator`]: the operator's actions (calibration, masks) kept and applied.

pub mod analyze;
pub mod eval;
pub mod operator;
pub mod run;
