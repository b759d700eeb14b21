//! `[model]`'s own types and checks: the crowd-counting network, the ONNX Runtime execution
//! providers to try and the precision it runs in. `crate::infer` loads it.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::out_of_range;

/// The most ONNX Runtime threads `model.threads` may ask for.
const MAX_THREADS: u64 = 64;

/// An ONNX Runtime execution provider skycountd knows how to ask for, by its name in the TOML,
/// the logs and the status.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum ExecutionProviderKind {
    Tensorrt,
    Cuda,
    Cpu,
}

impl ExecutionProviderKind {
    pub fn name(self) -> &'static str {
        self.into()
    }
}

/// `model.precision`: in which numbers the model runs.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    Serialize,
    Deserialize,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum Precision {
    /// On the CPU, the model's INT8 twin (`<stem>-int8.onnx` beside it, made by
    /// models/quantize.py) when it is there, was made from this very model and passed its checks,
    /// else the model itself in FP32; on TensorRT the model in FP16 (`tensorrt_fp16`), on CUDA
    /// in FP32.
    #[default]
    Auto,
    /// The model as it is, in 32-bit floats (TensorRT: FP16 when `tensorrt_fp16`).
    Fp32,
    /// The INT8 twin, on every execution provider; refused when there is none or it failed its
    /// checks.
    Int8,
}

/// `[model]`: the crowd-counting network and the runtime that runs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ModelSettings {
    /// The ONNX model: u8 RGB `[1,H,W,3]` in, density `[1,1,H/8,W/8]` out (see models/).
    pub path: PathBuf,
    /// The default analysis size, as a budget of pixels: a frame is analysed at the size that holds
    /// `input_width × input_height` pixels with the frame's own aspect (a 16:9 frame at exactly
    /// this size, a 4:3 or portrait one not squeezed), unless `analysis.scale`, the model's card or
    /// an operator's calibration says otherwise.
    pub input_width: u32,
    pub input_height: u32,
    /// Tried in this order; the first that works is used and reported.
    pub execution_providers: Vec<ExecutionProviderKind>,
    /// Threads ONNX Runtime may use for one run; 0 lets it choose (one per core).
    pub threads: usize,
    /// libonnxruntime.so to load; when unset, `ORT_DYLIB_PATH`, then the system's library path.
    pub onnxruntime_library: Option<PathBuf>,
    /// Where TensorRT keeps the engines it builds, so only the first start is slow.
    pub cache_dir: PathBuf,
    /// Let TensorRT run in half precision.
    pub tensorrt_fp16: bool,
    /// In which numbers the model runs: `auto`, `fp32` or `int8` ([`Precision`]).
    pub precision: Precision,
}

impl Default for ModelSettings {
    fn default() -> Self {
        Self {
            path: "/usr/share/skycount/models/csrnet-drone.onnx".into(),
            input_width: 640,
            input_height: 360,
            execution_providers: vec![
                ExecutionProviderKind::Tensorrt,
                ExecutionProviderKind::Cuda,
                ExecutionProviderKind::Cpu,
            ],
            threads: 0,
            onnxruntime_library: None,
            cache_dir: "/var/lib/skycount/tensorrt".into(),
            tensorrt_fp16: true,
            precision: Precision::Auto,
        }
    }
}

/// Every problem of `[model]`, as (key within `[model]`, problem).
pub fn check(m: &ModelSettings) -> Vec<(&'static str, String)> {
    let mut problems = Vec::new();
    // threads = 10^8 allocates until the box runs out of memory.
    if let Some(problem) = out_of_range(
        m.threads as u64,
        0,
        MAX_THREADS,
        "threads (0: one per core)",
    ) {
        problems.push(("threads", problem));
    }
    for (key, v) in [
        ("input_width", m.input_width),
        ("input_height", m.input_height),
    ] {
        if !(8..=4096).contains(&v) {
            problems.push((
                key,
                format!("{v} is out of range: expected 8 to 4096 pixels"),
            ));
        }
    }
    if m.execution_providers.is_empty() {
        problems.push((
            "execution_providers",
            "is empty: list at least \"cpu\"".into(),
        ));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_tables_read_and_print_alike() {
        use std::str::FromStr;
        for kind in [
            ExecutionProviderKind::Tensorrt,
            ExecutionProviderKind::Cuda,
            ExecutionProviderKind::Cpu,
        ] {
            assert_eq!(ExecutionProviderKind::from_str(kind.name()), Ok(kind));
            assert_eq!(kind.to_string(), kind.name());
            assert_eq!(
                serde_json::to_string(&kind).unwrap(),
                format!("\"{}\"", kind.name())
            );
        }
    }
}
