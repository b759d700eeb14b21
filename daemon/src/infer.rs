//! Infer: the ONNX Runtime edge. Loads the model once and runs it on one frame at a time.
//!
//! ONNX Runtime is loaded at run time (`ort`'s `load-dynamic`), from `model.onnxruntime_library`,
//! else `ORT_DYLIB_PATH`, else the system's library path, so one skycountd binary runs with the
//! CPU build on a laptop and the TensorRT/CUDA build on a Jetson. Execution providers are tried
//! in the configured order: the first that accepts the model is used and reported, and each one
//! that does not is logged with its reason.
//!
//! The model contract (see `models/README.md`): input `u8 [1, H, W, 3]` RGB, the ImageNet
//! normalisation folded into the graph; output `f32 [1, 1, H/8, W/8]`, a density map whose sum is
//! the count.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ort::ep::{self, ExecutionProvider as _};
use ort::session::{RunOptions, Session};
use ort::value::{TensorElementType, TensorRef, ValueType};

use crate::config::{ExecutionProviderKind, ModelSettings};

pub mod cache;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("ONNX Runtime could not be loaded ({tried}): {reason}\n  install it (scripts/setup.sh takes libonnxruntime.so from the PyPI onnxruntime wheel) and set model.onnxruntime_library or ORT_DYLIB_PATH to its path")]
    Runtime { tried: String, reason: String },
    #[error("model file {0} does not exist: build it with models/make.sh, or set model.path")]
    Missing(PathBuf),
    #[error("model file {path} cannot be read: {reason}")]
    Unreadable { path: PathBuf, reason: String },
    #[error(
        "{path} is not a model ONNX Runtime can load: {reason}\n  rebuild it with models/make.sh"
    )]
    Invalid { path: PathBuf, reason: String },
    #[error("{path} does not fit skycountd: {reason}\n  skycountd feeds u8 RGB [1,H,W,3] and reads a density map [1,1,h,w]; build the model with models/build_csrnet.py")]
    Contract { path: PathBuf, reason: String },
    #[error("the model failed on a {width}x{height} frame: {reason}")]
    Run {
        width: u32,
        height: u32,
        reason: String,
    },
}

/// What a model file says about itself, in its ONNX `metadata_props`. `models/finetune.py` writes
/// `skycount.card` (the model's card: its data, settings and figures, JSON) and
/// `skycount.analysis_scale` (the scale it was trained to count at, used when neither a calibration
/// nor `analysis.scale` sets one); the stock model has neither.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelInfo {
    /// The card's name, else the file's name without `.onnx`.
    pub name: String,
    pub analysis_scale: Option<f64>,
    /// `skycount.uncalibrated_range` ("low,high"): where the truth lies around this model's count
    /// without calibration, as multiples of it, measured on data it was not trained on.
    pub uncalibrated_range: Option<(f64, f64)>,
    /// `skycount.spacing_target_px`: the spacing between neighbouring people, in analysis pixels,
    /// at which this model counts best (what calibration scales the taps' spacing to).
    pub spacing_target_px: Option<f64>,
    pub card: Option<serde_json::Value>,
}

/// The analysis scales a model may ask for (as `analysis.scale` allows).
pub const MODEL_SCALE_RANGE: std::ops::RangeInclusive<f64> = 0.05..=4.0;

/// The spacings a model may ask calibration for, in analysis pixels.
pub const SPACING_TARGET_RANGE: std::ops::RangeInclusive<f64> = 2.0..=64.0;

/// The uncalibrated range's bounds a model may declare, as multiples of its count.
pub const UNCALIBRATED_LOW: std::ops::RangeInclusive<f64> = 0.01..=1.0;
pub const UNCALIBRATED_HIGH: std::ops::RangeInclusive<f64> = 1.0..=100.0;

/// The largest card a model may carry.
const MAX_CARD_BYTES: usize = 64 * 1024;

impl ModelInfo {
    /// Reads the info from the metadata entries (key, value) of a model at `path`.
    pub fn from_metadata(
        path: &Path,
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, String> {
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "model".into());
        let analysis_scale = match get("skycount.analysis_scale") {
            None => None,
            Some(v) => match v.trim().parse::<f64>() {
                Ok(s) if MODEL_SCALE_RANGE.contains(&s) => Some(s),
                _ => {
                    return Err(format!(
                        "its skycount.analysis_scale {:?} is not a number from 0.05 to 4",
                        v.chars().take(40).collect::<String>()
                    ))
                }
            },
        };
        let short = |v: &str| v.chars().take(40).collect::<String>();
        let uncalibrated_range = match get("skycount.uncalibrated_range") {
            None => None,
            Some(v) => {
                let parsed = v.split_once(',').and_then(|(lo, hi)| {
                    Some((
                        lo.trim().parse::<f64>().ok()?,
                        hi.trim().parse::<f64>().ok()?,
                    ))
                });
                match parsed {
                    Some((lo, hi))
                        if UNCALIBRATED_LOW.contains(&lo) && UNCALIBRATED_HIGH.contains(&hi) =>
                    {
                        Some((lo, hi))
                    }
                    _ => {
                        return Err(format!(
                            "its skycount.uncalibrated_range {:?} is not \"low,high\" with low from 0.01 to 1 and high from 1 to 100",
                            short(&v)
                        ))
                    }
                }
            }
        };
        let spacing_target_px = match get("skycount.spacing_target_px") {
            None => None,
            Some(v) => match v.trim().parse::<f64>() {
                Ok(s) if SPACING_TARGET_RANGE.contains(&s) => Some(s),
                _ => {
                    return Err(format!(
                        "its skycount.spacing_target_px {:?} is not a number from 2 to 64",
                        short(&v)
                    ))
                }
            },
        };
        let card = match get("skycount.card") {
            None => None,
            Some(v) if v.len() > MAX_CARD_BYTES => {
                return Err(format!(
                    "its skycount.card is {} bytes, more than {MAX_CARD_BYTES}",
                    v.len()
                ))
            }
            Some(v) => match serde_json::from_str::<serde_json::Value>(&v) {
                Ok(c @ serde_json::Value::Object(_)) => Some(c),
                _ => return Err("its skycount.card is not a JSON object".into()),
            },
        };
        let name = card
            .as_ref()
            .and_then(|c| c.get("name"))
            .and_then(|n| n.as_str())
            .and_then(clean_name)
            .unwrap_or(stem);
        Ok(Self {
            name,
            analysis_scale,
            uncalibrated_range,
            spacing_target_px,
            card,
        })
    }
}

/// A model's name as the box shows and keeps it, from an upload's `?name=` or a card's `name`
/// alike: the last part of a path, without `.onnx`, in letters, digits, `-`, `_` and `.`, at
/// most 64 of them; `None` when nothing is left of it.
pub fn clean_name(raw: &str) -> Option<String> {
    let raw = raw.trim();
    let raw = raw.rsplit(['/', '\\']).next().unwrap_or(raw);
    let raw = raw.strip_suffix(".onnx").unwrap_or(raw);
    let name: String = raw
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .take(64)
        .collect();
    (!name.trim_matches('.').is_empty()).then_some(name)
}

/// The model's output for one frame: people per cell, at 1/8 of the input's size. What it means
/// (the count, the grid viewers get) is [`crate::analyse`]'s business.
#[derive(Debug, Clone)]
pub struct DensityMap {
    pub width: usize,
    pub height: usize,
    /// Row-major, `width * height` values.
    pub values: Vec<f32>,
}

static ENVIRONMENT: OnceLock<ort::environment::Environment> = OnceLock::new();

/// Where ONNX Runtime is looked for, in order.
fn runtime_candidates(settings: &ModelSettings) -> Vec<PathBuf> {
    if let Some(p) = &settings.onnxruntime_library {
        return vec![p.clone()];
    }
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        return vec![PathBuf::from(p)];
    }
    vec!["libonnxruntime.so".into(), "libonnxruntime.so.1".into()]
}

/// Loads ONNX Runtime once per process (it allows one environment per process).
pub fn environment(
    settings: &ModelSettings,
) -> Result<&'static ort::environment::Environment, ModelError> {
    if let Some(env) = ENVIRONMENT.get() {
        return Ok(env);
    }
    let candidates = runtime_candidates(settings);
    let mut reasons = Vec::new();
    for path in &candidates {
        match ort::init_from(path) {
            Ok(builder) => {
                let env =
                    builder
                        .with_name("skycountd")
                        .build()
                        .map_err(|e| ModelError::Runtime {
                            tried: path.display().to_string(),
                            reason: e.to_string(),
                        })?;
                log::info!("ONNX Runtime loaded from {}", path.display());
                return Ok(ENVIRONMENT.get_or_init(|| env));
            }
            Err(e) => reasons.push(e.to_string()),
        }
    }
    Err(ModelError::Runtime {
        tried: candidates
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
        reason: reasons.join("; "),
    })
}

/// Interrupts the model run in progress (at shutdown), from any thread.
#[derive(Clone)]
pub struct Interrupt([std::sync::Arc<RunOptions>; 2]);

impl Interrupt {
    pub fn interrupt(&self) {
        for options in &self.0 {
            if let Err(e) = options.terminate() {
                log::debug!("cannot interrupt the model run: {e}");
            }
        }
    }
}

/// The run options of a run that ends by handing the CPU arena's free memory back to the
/// system (see [`Model::run`]).
fn shrinking_run_options() -> Result<RunOptions, ort::Error> {
    let mut options = RunOptions::new()?;
    options.set("memory.enable_memory_arena_shrinkage", "cpu:0")?;
    Ok(options)
}

/// A loaded model, ready to run.
pub struct Model {
    session: Session,
    run_options: std::sync::Arc<RunOptions>,
    /// [`shrinking_run_options`], for the first run at a smaller input than the run before.
    shrinking: std::sync::Arc<RunOptions>,
    /// The last run's input, in pixels.
    last_pixels: u64,
    input: String,
    output: String,
    provider: ExecutionProviderKind,
    path: PathBuf,
    info: ModelInfo,
}

impl Model {
    /// Loads ONNX Runtime (once) and the model, trying the execution providers in order.
    pub fn load(settings: &ModelSettings) -> Result<Self, ModelError> {
        let path = settings.path.clone();
        match std::fs::metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ModelError::Missing(path))
            }
            Err(e) => {
                return Err(ModelError::Unreadable {
                    path,
                    reason: e.to_string(),
                })
            }
            Ok(m) if !m.is_file() => {
                return Err(ModelError::Unreadable {
                    path,
                    reason: "not a regular file".into(),
                })
            }
            Ok(_) => {}
        }
        let env = environment(settings)?;
        let mut last_error = None;
        for &kind in &settings.execution_providers {
            match Self::session(env, settings, kind) {
                Ok(session) => {
                    let (input, output) = check_contract(&session, &path)?;
                    let info = read_info(&session, &path)?;
                    log::info!(
                        "model {} loaded on the {kind} execution provider",
                        path.display()
                    );
                    let runtime = |e: ort::Error| ModelError::Runtime {
                        tried: "RunOptions".into(),
                        reason: e.to_string(),
                    };
                    let run_options = RunOptions::new().map_err(runtime)?;
                    let shrinking = shrinking_run_options().map_err(runtime)?;
                    return Ok(Self {
                        session,
                        run_options: std::sync::Arc::new(run_options),
                        shrinking: std::sync::Arc::new(shrinking),
                        last_pixels: 0,
                        input,
                        output,
                        provider: kind,
                        path,
                        info,
                    });
                }
                Err(SessionError::Provider(reason)) => {
                    log::warn!("execution provider {kind} is not usable here: {reason}; trying the next one");
                    last_error = Some(format!("{kind}: {reason}"));
                }
                Err(SessionError::Model(reason)) => {
                    if kind == ExecutionProviderKind::Cpu {
                        return Err(ModelError::Invalid { path, reason });
                    }
                    log::warn!("execution provider {kind} could not take the model: {reason}; trying the next one");
                    last_error = Some(format!("{kind}: {reason}"));
                }
            }
        }
        Err(ModelError::Invalid {
            path,
            reason: format!(
                "no configured execution provider could run it (last: {})",
                last_error.unwrap_or_else(|| "none configured".into())
            ),
        })
    }

    fn session(
        env: &ort::environment::Environment,
        settings: &ModelSettings,
        kind: ExecutionProviderKind,
    ) -> Result<Session, SessionError> {
        let provider_err = |e: ort::Error<_>| SessionError::Provider(e.to_string());
        let mut builder = Session::builder(env)
            .map_err(|e| SessionError::Provider(e.to_string()))?
            .with_intra_threads(settings.threads)
            .map_err(provider_err)?;
        builder = match kind {
            ExecutionProviderKind::Tensorrt => {
                if !ep::TensorRT::is_available().unwrap_or(false) {
                    return Err(SessionError::Provider(
                        "this ONNX Runtime build has no TensorRT provider".into(),
                    ));
                }
                // One folder per model and runtime: an update that changes either builds anew.
                let runtime = format!(
                    "ONNX Runtime: {}\nTensorRT: {}",
                    ort::info(),
                    cache::tensorrt_libraries().join(", ")
                );
                let engines = cache::engine_dir(&settings.cache_dir, &settings.path, &runtime)
                    .unwrap_or_else(|e| {
                        log::warn!(
                            "{e}; TensorRT's engines go to {}",
                            settings.cache_dir.display()
                        );
                        settings.cache_dir.clone()
                    });
                builder
                    .with_execution_providers([ep::TensorRT::default()
                        .with_fp16(settings.tensorrt_fp16)
                        .with_engine_cache(true)
                        .with_engine_cache_path(engines.display())
                        .with_timing_cache(true)
                        .with_timing_cache_path(engines.display())
                        .build()
                        .error_on_failure()])
                    .map_err(provider_err)?
            }
            ExecutionProviderKind::Cuda => {
                if !ep::CUDA::is_available().unwrap_or(false) {
                    return Err(SessionError::Provider(
                        "this ONNX Runtime build has no CUDA provider".into(),
                    ));
                }
                builder
                    .with_execution_providers([ep::CUDA::default().build().error_on_failure()])
                    .map_err(provider_err)?
            }
            ExecutionProviderKind::Cpu => builder,
        };
        builder
            .commit_from_file(&settings.path)
            .map_err(|e| SessionError::Model(e.to_string()))
    }

    /// A handle that interrupts this model's run in progress.
    pub fn interrupt_handle(&self) -> Interrupt {
        Interrupt([self.run_options.clone(), self.shrinking.clone()])
    }

    pub fn provider(&self) -> ExecutionProviderKind {
        self.provider
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// Checks a model file before it replaces the running one: it loads on the CPU, takes a
    /// small test frame and gives a density map of the contract's size with finite values.
    pub fn probe(path: &Path, settings: &ModelSettings) -> Result<ModelInfo, ModelError> {
        let settings = ModelSettings {
            path: path.to_path_buf(),
            execution_providers: vec![ExecutionProviderKind::Cpu],
            ..settings.clone()
        };
        let mut model = Self::load(&settings)?;
        let (w, h) = (64u32, 48u32);
        let frame: Vec<u8> = (0..w * h * 3).map(|i| (i * 37 % 251) as u8).collect();
        let (map, _) = model.run(&frame, w, h)?;
        let contract = |reason: String| ModelError::Contract {
            path: path.to_path_buf(),
            reason,
        };
        if (map.width, map.height) != ((w / 8) as usize, (h / 8) as usize) {
            return Err(contract(format!(
                "a {w}x{h} frame gave a {}x{} density map, expected {}x{}",
                map.width,
                map.height,
                w / 8,
                h / 8
            )));
        }
        if map.values.iter().any(|v| !v.is_finite()) {
            return Err(contract(format!(
                "a {w}x{h} test frame gave values that are not finite numbers"
            )));
        }
        Ok(model.info)
    }

    /// Runs the model on packed RGB rows; returns the density map and the time of the run alone.
    pub fn run(
        &mut self,
        rgb: &[u8],
        width: u32,
        height: u32,
    ) -> Result<(DensityMap, Duration), ModelError> {
        let run_err = |reason: String| ModelError::Run {
            width,
            height,
            reason,
        };
        let expected = width as usize * height as usize * 3;
        if rgb.len() != expected {
            return Err(run_err(format!(
                "{} bytes of pixels, expected {expected}",
                rgb.len()
            )));
        }
        let shape = [1usize, height as usize, width as usize, 3];
        let tensor =
            TensorRef::from_array_view((shape, rgb)).map_err(|e| run_err(e.to_string()))?;
        // ONNX Runtime's CPU arena keeps the most that any input needed and gives nothing back
        // by itself: after a calibration at scale 2 (a 1920x1080 run) the daemon stayed 1 GB
        // larger once back at 640x360. So the first run at a smaller input than the run before
        // ends by handing the arena's free regions back to the system; runs at one size (tiles
        // included) pay nothing. Measured by benches/ort_memory.rs (docs/benchmarks.md).
        let pixels = u64::from(width) * u64::from(height);
        let options = if pixels < self.last_pixels {
            &self.shrinking
        } else {
            &self.run_options
        };
        self.last_pixels = pixels;
        let started = Instant::now();
        let outputs = self
            .session
            .run_with_options(ort::inputs![self.input.as_str() => tensor], &**options)
            .map_err(|e| run_err(e.to_string()))?;
        let took = started.elapsed();
        let (shape, values) = outputs[self.output.as_str()]
            .try_extract_tensor::<f32>()
            .map_err(|e| run_err(e.to_string()))?;
        let dims: &[i64] = shape;
        let (h, w) = match dims {
            [1, 1, h, w] | [1, h, w] => (*h as usize, *w as usize),
            other => return Err(run_err(format!("density map of shape {other:?}"))),
        };
        Ok((
            DensityMap {
                width: w,
                height: h,
                values: values.to_vec(),
            },
            took,
        ))
    }
}

enum SessionError {
    /// The provider cannot be used on this machine.
    Provider(String),
    /// The provider is there but the model did not load on it.
    Model(String),
}

/// Checks the model takes u8 NHWC RGB and gives one float map; returns the input and output names.
fn check_contract(session: &Session, path: &Path) -> Result<(String, String), ModelError> {
    let contract = |reason: String| ModelError::Contract {
        path: path.to_path_buf(),
        reason,
    };
    let [input] = session.inputs() else {
        return Err(contract(format!(
            "it has {} inputs, expected one",
            session.inputs().len()
        )));
    };
    match input.dtype() {
        ValueType::Tensor { ty, shape, .. }
            if *ty == TensorElementType::Uint8 && shape.len() == 4 && shape[3] == 3 => {}
        other => return Err(contract(format!("its input {:?} is {other}", input.name()))),
    }
    let Some(output) = session.outputs().first() else {
        return Err(contract("it has no output".into()));
    };
    match output.dtype() {
        ValueType::Tensor { ty, .. } if *ty == TensorElementType::Float32 => {}
        other => {
            return Err(contract(format!(
                "its output {:?} is {other}",
                output.name()
            )))
        }
    }
    Ok((input.name().to_string(), output.name().to_string()))
}

/// The model's own metadata (see [`ModelInfo`]).
fn read_info(session: &Session, path: &Path) -> Result<ModelInfo, ModelError> {
    let meta = session.metadata().map_err(|e| ModelError::Invalid {
        path: path.to_path_buf(),
        reason: format!("its metadata cannot be read: {e}"),
    })?;
    ModelInfo::from_metadata(path, |key| meta.custom(key)).map_err(|reason| ModelError::Contract {
        path: path.to_path_buf(),
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_card_s_name_is_filtered_like_an_upload_s() {
        let info = |card: &str| {
            let card = card.to_string();
            ModelInfo::from_metadata(Path::new("/m/csrnet-x.onnx"), move |k| {
                (k == "skycount.card").then(|| card.clone())
            })
            .unwrap()
        };
        assert_eq!(info(r#"{"name": "market-2026"}"#).name, "market-2026");
        assert_eq!(
            info(r#"{"name": "<img src=x>\u202emarket"}"#).name,
            "imgsrcxmarket"
        );
        assert_eq!(info(r#"{"name": "../../etc/passwd"}"#).name, "passwd");
        assert_eq!(
            info(&format!(r#"{{"name": "{}"}}"#, "n".repeat(500)))
                .name
                .len(),
            64
        );
        // Nothing usable: the file's name.
        assert_eq!(info(r#"{"name": "\u200b\u202e"}"#).name, "csrnet-x");
        assert_eq!(info(r#"{"name": ".."}"#).name, "csrnet-x");
        assert_eq!(info(r#"{"name": 7}"#).name, "csrnet-x");
    }
}
