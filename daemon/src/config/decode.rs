//! `[decode]`'s own type and check: which H.264/H.265 decoder GStreamer runs. `crate::decode`
//! probes for it.

use serde::{Deserialize, Serialize};

/// `[decode]`: the H.264/H.265 decoder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DecodeSettings {
    /// `auto` probes the GStreamer registry (nvv4l2decoder, v4l2, VA-API, then libav);
    /// or the name of a GStreamer decoder element to use instead.
    pub decoder: String,
}

impl Default for DecodeSettings {
    fn default() -> Self {
        Self {
            decoder: "auto".into(),
        }
    }
}

/// Every problem of `[decode]`, as (key within `[decode]`, problem).
pub fn check(d: &DecodeSettings) -> Vec<(&'static str, String)> {
    let mut problems = Vec::new();
    let decoder = d.decoder.trim();
    if decoder.is_empty() {
        problems.push((
            "decoder",
            "is empty: use \"auto\" or a GStreamer decoder element name".into(),
        ));
    } else if decoder.len() > 64
        || !decoder
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-".contains(c))
    {
        problems.push((
            "decoder",
            format!(
                "{:?} is not a GStreamer element name: use \"auto\" or a name such as \"avdec_h264\" (letters, digits, _ and -; see gst-inspect-1.0)",
                decoder.chars().take(64).collect::<String>()
            ),
        ));
    }
    problems
}
