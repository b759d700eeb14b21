//! `[analysis]`'s own type and checks: what is made of the model's output (the grid sent to
//! viewers, the analysis size, tiles, smoothing, alerts) and where the operator's calibrations
//! and masks are kept. `crate::analyse` and `crate::engine` use it. The density grid's limit
//! depends on `[model]` and is checked with the other rules between sections, in `config`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::out_of_range;

/// `[analysis]`: what is made of the model's output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AnalysisSettings {
    /// Size of the density grid sent to viewers (at most the model's output size).
    pub grid_width: u32,
    pub grid_height: u32,
    /// The analysis size as a fraction of the decoded frame's (1.0: native; above 1: upsampled,
    /// for people seen from high up). 0: the `model.input_width` × `model.input_height` budget. An operator's
    /// calibration replaces it for its stream path.
    pub scale: f64,
    /// The largest analysis width, whatever the scale asks for (time and memory grow with it).
    pub max_width: u32,
    /// Run the model on tiles of this size (0: one run on the whole picture). Execution
    /// providers built for one input shape (TensorRT engines) want this.
    pub tile_width: u32,
    pub tile_height: u32,
    /// Context around each tile's core, in pixels (a multiple of 8).
    pub tile_margin: u32,
    /// The smoothed count and its band cover the analyses of this long.
    pub smooth_ms: u64,
    /// A zone's smoothed count must stay at or above its limit this long to raise an alert, and
    /// below the clearing level this long to clear it (`analyse::alerts`).
    pub alert_hold_ms: u64,
    /// An alert clears below `limit × (1 − alert_hysteresis)` (0 to 0.9).
    pub alert_hysteresis: f64,
    /// Where calibrations, masks and the frames the operator tapped are kept, per stream path.
    pub state_dir: PathBuf,
    /// The most frozen frames kept per stream path (1 to 100000); beyond, the oldest go, those
    /// never tapped first (`store`).
    pub max_frozen_frames: u32,
    /// The most streams analysed at once (1 to 8), sharing the one model in turns: each of N
    /// streams gets about one analysis in N, so its picture is N inferences old at most.
    pub max_streams: u32,
}

impl Default for AnalysisSettings {
    fn default() -> Self {
        Self {
            grid_width: 80,
            grid_height: 45,
            scale: 0.0,
            max_width: 3840,
            tile_width: 0,
            tile_height: 0,
            tile_margin: 64,
            smooth_ms: 10_000,
            alert_hold_ms: 3_000,
            alert_hysteresis: 0.1,
            state_dir: PathBuf::from("/var/lib/skycount/analysis"),
            max_frozen_frames: 200,
            max_streams: 3,
        }
    }
}

/// Every problem of `[analysis]` on its own, as (key within `[analysis]`, problem).
pub fn check(a: &AnalysisSettings) -> Vec<(&'static str, String)> {
    let mut problems = Vec::new();
    let mut bad = |key: &'static str, problem: String| problems.push((key, problem));
    if !(a.scale == 0.0 || (0.05..=4.0).contains(&a.scale)) {
        bad(
            "scale",
            format!(
                "{} is out of range: expected 0 (use model.input_width x input_height) or 0.05 to 4",
                a.scale
            ),
        );
    }
    if !(64..=7680).contains(&a.max_width) {
        bad(
            "max_width",
            format!(
                "{} is out of range: expected 64 to 7680 pixels",
                a.max_width
            ),
        );
    }
    match (a.tile_width, a.tile_height) {
        (0, 0) => {}
        (w, h) if (64..=4096).contains(&w) && (64..=4096).contains(&h) && w.is_multiple_of(8) && h.is_multiple_of(8) => {
            if a.tile_margin * 2 + 8 > w.min(h) {
                bad(
                    "tile_margin",
                    format!("{} leaves no core in a {w}x{h} tile: use at most {}", a.tile_margin, (w.min(h) - 8) / 2),
                );
            }
        }
        (w, h) => bad(
            "tile_width",
            format!("{w}x{h} is not a tile size: use 0 and 0 (no tiles), or multiples of 8 from 64 to 4096"),
        ),
    }
    if !a.tile_margin.is_multiple_of(8) || a.tile_margin > 512 {
        bad(
            "tile_margin",
            format!(
                "{} is not a margin: use a multiple of 8 up to 512",
                a.tile_margin
            ),
        );
    }
    if !(1_000..=600_000).contains(&a.smooth_ms) {
        bad(
            "smooth_ms",
            format!(
                "{} is out of range: expected 1000 to 600000 ms",
                a.smooth_ms
            ),
        );
    }
    if a.alert_hold_ms > 600_000 {
        bad(
            "alert_hold_ms",
            format!(
                "{} is out of range: expected 0 to 600000 ms",
                a.alert_hold_ms
            ),
        );
    }
    if let Some(e) = out_of_range(u64::from(a.max_frozen_frames), 1, 100_000, "frames") {
        bad("max_frozen_frames", e);
    }
    if let Some(e) = out_of_range(u64::from(a.max_streams), 1, 8, "streams") {
        bad("max_streams", e);
    }
    if !(0.0..=0.9).contains(&a.alert_hysteresis) {
        bad(
            "alert_hysteresis",
            format!(
                "{} is out of range: expected 0 to 0.9 (a share of the limit)",
                a.alert_hysteresis
            ),
        );
    }
    problems
}
