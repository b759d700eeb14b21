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
//!
//! In which numbers it runs is `model.precision` ([`Precision`]). A float model may have an INT8
//! twin beside it, `<stem>-int8.onnx` ([`int8_twin`]), made by `models/quantize.py` (its
//! convolutions mostly in 8-bit integers, 1.5 to 1.7 times faster on an AVX2 CPU: docs/benchmarks.md). The twin's card says from
//! which float file it was made (its sha256) and whether it passed its checks against it when it
//! was built ([`Int8Card`]); a twin of another float model, or one that failed, is never run: with
//! `auto` the float model runs instead and the status says why, with `int8` loading fails with
//! the reason. On TensorRT `auto` runs the float model in FP16 (`model.tensorrt_fp16`).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ort::ep::{self, ExecutionProvider as _};
use ort::session::{RunOptions, Session};
use ort::value::{TensorElementType, TensorRef, ValueType};

use crate::config::{ExecutionProviderKind, ModelSettings, Precision};

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
    #[error("{0}")]
    Precision(String),
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
    /// `skycount.calibrated_range` ("low,high"): where the truth lies around this model's count
    /// after an operator calibration whose box check agreed, as multiples of it, measured on data
    /// it was not trained on (`skycountd eval --mode calibrated:N` prints it).
    pub calibrated_range: Option<(f64, f64)>,
    /// `skycount.spacing_target_px`: the spacing between neighbouring people, in analysis pixels,
    /// at which this model counts best (what calibration scales the taps' spacing to).
    pub spacing_target_px: Option<f64>,
    pub card: Option<serde_json::Value>,
    /// An INT8 model's card (`skycount.precision = int8`); `None` for a float model.
    pub int8: Option<Int8Card>,
}

/// What an INT8 model says of itself (`models/quantize.py` writes it): the float model it was
/// made from and how it fared against it when it was built.
#[derive(Debug, Clone, PartialEq)]
pub struct Int8Card {
    /// `skycount.float_model`: the float model's file name and the sha256 of its contents.
    pub float_file: String,
    pub float_sha256: String,
    /// `skycount.int8_checks`: whether the count held against the float model's on the check
    /// sets, and if not, why.
    pub checks_passed: bool,
    pub problems: Vec<String>,
    /// The largest of the check sets' mean drift against the float model, in %.
    pub mean_drift_pct: Option<f64>,
}

/// The most problems of an INT8 card that are kept, and their length.
const MAX_PROBLEMS: usize = 8;
const MAX_PROBLEM_CHARS: usize = 300;

/// The analysis scales a model may ask for (as `analysis.scale` allows).
pub const MODEL_SCALE_RANGE: std::ops::RangeInclusive<f64> = 0.05..=4.0;

/// The spacings a model may ask calibration for, in analysis pixels.
pub const SPACING_TARGET_RANGE: std::ops::RangeInclusive<f64> = 2.0..=64.0;

/// The bounds a model may declare for its uncalibrated and calibrated ranges, as multiples of its
/// count.
pub const UNCALIBRATED_LOW: std::ops::RangeInclusive<f64> = 0.01..=1.0;
pub const UNCALIBRATED_HIGH: std::ops::RangeInclusive<f64> = 1.0..=100.0;

/// The largest card a model may carry.
const MAX_CARD_BYTES: usize = 64 * 1024;

/// A "low,high" range of multiples of the count at metadata `key` (`skycount.uncalibrated_range`,
/// `skycount.calibrated_range`): `None` when absent, an error saying what is wrong when malformed.
fn range(get: &impl Fn(&str) -> Option<String>, key: &str) -> Result<Option<(f64, f64)>, String> {
    let Some(v) = get(key) else {
        return Ok(None);
    };
    let parsed = v.split_once(',').and_then(|(lo, hi)| {
        Some((
            lo.trim().parse::<f64>().ok()?,
            hi.trim().parse::<f64>().ok()?,
        ))
    });
    match parsed {
        Some((lo, hi)) if UNCALIBRATED_LOW.contains(&lo) && UNCALIBRATED_HIGH.contains(&hi) => {
            Ok(Some((lo, hi)))
        }
        _ => Err(format!(
            "its {key} {:?} is not \"low,high\" with low from 0.01 to 1 and high from 1 to 100",
            v.chars().take(40).collect::<String>()
        )),
    }
}

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
        let uncalibrated_range = range(&get, "skycount.uncalibrated_range")?;
        let calibrated_range = range(&get, "skycount.calibrated_range")?;
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
        let int8 = match get("skycount.precision") {
            None => None,
            Some(v) => match v.trim() {
                "fp32" => None,
                "int8" => Some(Int8Card::from_metadata(&get)?),
                _ => {
                    return Err(format!(
                        "its skycount.precision {:?} is not \"int8\" or \"fp32\"",
                        short(&v)
                    ))
                }
            },
        };
        Ok(Self {
            name,
            analysis_scale,
            uncalibrated_range,
            calibrated_range,
            spacing_target_px,
            card,
            int8,
        })
    }
}

impl Int8Card {
    fn from_metadata(get: &impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let json = |key: &str| -> Result<serde_json::Map<String, serde_json::Value>, String> {
            let text = get(key).ok_or_else(|| {
                format!("it says it is an INT8 model but has no {key}: build it with models/quantize.py")
            })?;
            if text.len() > MAX_CARD_BYTES {
                return Err(format!(
                    "its {key} is {} bytes, more than {MAX_CARD_BYTES}",
                    text.len()
                ));
            }
            match serde_json::from_str(&text) {
                Ok(serde_json::Value::Object(o)) => Ok(o),
                _ => Err(format!("its {key} is not a JSON object")),
            }
        };
        let float = json("skycount.float_model")?;
        let text = |o: &serde_json::Map<String, serde_json::Value>, k: &str| {
            o.get(k).and_then(|v| v.as_str()).map(str::to_string)
        };
        let float_sha256 = text(&float, "sha256")
            .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or("its skycount.float_model has no sha256 (64 hex digits)")?
            .to_ascii_lowercase();
        let float_file = text(&float, "file")
            .and_then(|f| clean_name(&f))
            .map(|n| format!("{n}.onnx"))
            .ok_or("its skycount.float_model has no file name")?;
        let checks = json("skycount.int8_checks")?;
        let checks_passed = checks
            .get("passed")
            .and_then(|v| v.as_bool())
            .ok_or("its skycount.int8_checks has no \"passed\": true or false")?;
        let problems = checks
            .get("problems")
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|p| p.as_str())
                    .take(MAX_PROBLEMS)
                    .map(|p| {
                        p.chars()
                            .filter(|c| !c.is_control())
                            .take(MAX_PROBLEM_CHARS)
                            .collect()
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mean_drift_pct = checks
            .get("sets")
            .and_then(|v| v.as_object())
            .and_then(|sets| {
                sets.values()
                    .filter_map(|s| s.get("mean_drift_pct")?.as_f64())
                    .filter(|d| d.is_finite())
                    .reduce(f64::max)
            });
        Ok(Self {
            float_file,
            float_sha256,
            checks_passed,
            problems,
            mean_drift_pct,
        })
    }
}

/// Where a float model's INT8 twin is: `<stem>-int8.onnx` beside it.
pub fn int8_twin(path: &Path) -> PathBuf {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into());
    path.with_file_name(format!("{stem}-int8.onnx"))
}

/// Whether `twin` (its card) may stand in for the float model whose contents hash to
/// `float_sha256`; why not, in words, when it may not.
pub fn twin_fits(twin: &Path, info: &ModelInfo, float_sha256: &str) -> Result<(), String> {
    let name = twin.display();
    let Some(card) = &info.int8 else {
        return Err(format!(
            "{name} is not an INT8 model (its card has no skycount.precision = int8): rebuild it with models/make.sh"
        ));
    };
    if card.float_sha256 != float_sha256 {
        return Err(format!(
            "{name} was made from another {} (sha256 {}…, this one is {}…): rebuild it with models/make.sh",
            card.float_file,
            &card.float_sha256[..12],
            &float_sha256[..12.min(float_sha256.len())]
        ));
    }
    if !card.checks_passed {
        return Err(format!(
            "{name} failed its checks against the float model when it was built ({})",
            if card.problems.is_empty() {
                "no reason given".to_string()
            } else {
                card.problems.join("; ")
            }
        ));
    }
    Ok(())
}

/// In which numbers a loaded model runs, as the status shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::Display, strum::IntoStaticStr)]
#[strum(serialize_all = "lowercase")]
pub enum Numbers {
    Fp32,
    Fp16,
    Int8,
}

/// Something slow the loading of a model is about to do, for the status to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadStep {
    /// TensorRT builds its engine for this model (no engine in the cache yet): minutes on a
    /// Jetson.
    BuildingEngine { engines: PathBuf },
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
pub struct Interrupt(std::sync::Arc<RunOptions>);

impl Interrupt {
    pub fn interrupt(&self) {
        if let Err(e) = self.0.terminate() {
            log::debug!("cannot interrupt the model run: {e}");
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
    /// [`shrinking_run_options`]: every run's.
    run_options: std::sync::Arc<RunOptions>,
    input: String,
    output: String,
    provider: ExecutionProviderKind,
    /// The file that runs: `model.path`, or its INT8 twin.
    path: PathBuf,
    info: ModelInfo,
    numbers: Numbers,
    /// Why it runs in these numbers, in words.
    numbers_why: String,
}

/// A session on one file, with what its file says of itself.
struct Opened {
    session: Session,
    input: String,
    output: String,
    info: ModelInfo,
}

impl Model {
    /// Loads ONNX Runtime (once) and the model, trying the execution providers in order.
    pub fn load(settings: &ModelSettings) -> Result<Self, ModelError> {
        Self::load_with(settings, &mut |_| {})
    }

    /// [`Model::load`], telling `step` before something slow (a TensorRT engine build).
    pub fn load_with(
        settings: &ModelSettings,
        step: &mut dyn FnMut(LoadStep),
    ) -> Result<Self, ModelError> {
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
        let twin = int8_twin(&path);
        let has_twin = settings.precision != Precision::Fp32 && twin.is_file();
        let mut last_error = None;
        for &kind in &settings.execution_providers {
            // The INT8 twin first, where it is wanted on this provider.
            let wants_twin = match settings.precision {
                Precision::Int8 => true,
                Precision::Auto => kind == ExecutionProviderKind::Cpu,
                Precision::Fp32 => false,
            };
            let mut not_twin = None;
            if wants_twin && has_twin {
                match Self::open(env, settings, kind, &twin, step) {
                    Ok(o) => {
                        let fits = cache::file_sha256(&path)
                            .and_then(|sha| twin_fits(&twin, &o.info, &sha));
                        match fits {
                            Ok(()) => {
                                let why = format!(
                                    "the INT8 twin of {}{}",
                                    file_name(&path),
                                    o.info
                                        .int8
                                        .as_ref()
                                        .and_then(|c| c.mean_drift_pct)
                                        .map(|d| format!(
                                            ": its count was within {d:.1} % of FP32 on average when it was checked"
                                        ))
                                        .unwrap_or_default()
                                );
                                return Self::ready(o, kind, twin, Numbers::Int8, why);
                            }
                            Err(reason) if settings.precision == Precision::Int8 => {
                                return Err(ModelError::Precision(format!(
                                    "model.precision is \"int8\" but {reason}"
                                )))
                            }
                            Err(reason) => {
                                log::warn!("{reason}; the float model runs instead");
                                not_twin = Some(reason);
                            }
                        }
                    }
                    Err(SessionError::Provider(reason)) => {
                        log::warn!("execution provider {kind} is not usable here: {reason}; trying the next one");
                        last_error = Some(format!("{kind}: {reason}"));
                        continue;
                    }
                    Err(SessionError::Model(reason)) if settings.precision == Precision::Int8 => {
                        if kind == ExecutionProviderKind::Cpu {
                            return Err(ModelError::Invalid { path: twin, reason });
                        }
                        log::warn!("execution provider {kind} could not take {}: {reason}; trying the next one", twin.display());
                        last_error = Some(format!("{kind}: {reason}"));
                        continue;
                    }
                    Err(SessionError::Model(reason)) => {
                        log::warn!(
                            "{} does not load on {kind}: {reason}; the float model runs instead",
                            twin.display()
                        );
                        not_twin = Some(format!("{} does not load: {reason}", twin.display()));
                    }
                    Err(SessionError::Load(e)) if settings.precision == Precision::Int8 => {
                        return Err(*e)
                    }
                    Err(SessionError::Load(e)) => {
                        log::warn!("{e}; the float model runs instead");
                        not_twin = Some(e.to_string());
                    }
                }
            } else if wants_twin && settings.precision == Precision::Auto {
                not_twin = Some(format!(
                    "there is no INT8 twin {} beside it (models/make.sh builds one)",
                    file_name(&twin)
                ));
            }
            // The model itself.
            match Self::open(env, settings, kind, &path, step) {
                Ok(o) => {
                    let (numbers, why) = match (&o.info.int8, settings.precision) {
                        (Some(_), Precision::Fp32) => {
                            return Err(ModelError::Precision(format!(
                                "{} is an INT8 model and model.precision is \"fp32\": set model.path to a float model, or model.precision to \"auto\"",
                                path.display()
                            )))
                        }
                        (Some(card), _) if !card.checks_passed => {
                            return Err(ModelError::Precision(format!(
                                "{} is an INT8 model that failed its checks against its float model {} when it was built ({}): use the float model",
                                path.display(),
                                card.float_file,
                                card.problems.join("; ")
                            )))
                        }
                        (Some(card), _) => (
                            Numbers::Int8,
                            format!("an INT8 model, made from {}", card.float_file),
                        ),
                        (None, Precision::Int8) => {
                            return Err(ModelError::Precision(format!(
                                "model.precision is \"int8\" but {} is a float model without an INT8 twin beside it ({}): build one with models/quantize.py (models/make.sh and models/finetune.py do), or set model.precision to \"auto\"",
                                path.display(),
                                file_name(&twin)
                            )))
                        }
                        (None, precision) => {
                            let fp16 =
                                kind == ExecutionProviderKind::Tensorrt && settings.tensorrt_fp16;
                            let numbers = if fp16 { Numbers::Fp16 } else { Numbers::Fp32 };
                            let why = match (not_twin, precision) {
                                (Some(reason), _) => reason,
                                (None, Precision::Fp32) => "model.precision is \"fp32\"".into(),
                                (None, _) if fp16 => {
                                    "TensorRT in half precision (model.tensorrt_fp16)".into()
                                }
                                (None, _) => format!("the float model on {kind}"),
                            };
                            (numbers, why)
                        }
                    };
                    return Self::ready(o, kind, path, numbers, why);
                }
                Err(SessionError::Load(e)) => return Err(*e),
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

    /// A session on `file` with provider `kind`, its contract checked and its card read.
    fn open(
        env: &ort::environment::Environment,
        settings: &ModelSettings,
        kind: ExecutionProviderKind,
        file: &Path,
        step: &mut dyn FnMut(LoadStep),
    ) -> Result<Opened, SessionError> {
        let session = Self::session(env, settings, kind, file, step)?;
        let (input, output) =
            check_contract(&session, file).map_err(|e| SessionError::Load(Box::new(e)))?;
        let info = read_info(&session, file).map_err(|e| SessionError::Load(Box::new(e)))?;
        Ok(Opened {
            session,
            input,
            output,
            info,
        })
    }

    fn ready(
        o: Opened,
        kind: ExecutionProviderKind,
        path: PathBuf,
        numbers: Numbers,
        why: String,
    ) -> Result<Self, ModelError> {
        log::info!(
            "model {} loaded on the {kind} execution provider, in {numbers}: {why}",
            path.display()
        );
        let runtime = |e: ort::Error| ModelError::Runtime {
            tried: "RunOptions".into(),
            reason: e.to_string(),
        };
        Ok(Self {
            session: o.session,
            run_options: std::sync::Arc::new(shrinking_run_options().map_err(runtime)?),
            input: o.input,
            output: o.output,
            provider: kind,
            path,
            info: o.info,
            numbers,
            numbers_why: why,
        })
    }

    fn session(
        env: &ort::environment::Environment,
        settings: &ModelSettings,
        kind: ExecutionProviderKind,
        file: &Path,
        step: &mut dyn FnMut(LoadStep),
    ) -> Result<Session, SessionError> {
        let provider_err = |e: ort::Error<_>| SessionError::Provider(e.to_string());
        let mut builder = Session::builder(env)
            .map_err(|e| SessionError::Provider(e.to_string()))?
            .with_intra_threads(settings.threads)
            .map_err(provider_err)?;
        let int8 = file != settings.path;
        let mut warm_up = false;
        builder = match kind {
            ExecutionProviderKind::Tensorrt => {
                if !ep::TensorRT::is_available().unwrap_or(false) {
                    return Err(SessionError::Provider(
                        "this ONNX Runtime build has no TensorRT provider".into(),
                    ));
                }
                // One folder per model, runtime and precision: an update that changes any of
                // them builds anew.
                let runtime = format!(
                    "ONNX Runtime: {}\nTensorRT: {}\nfp16: {}, int8: {int8}",
                    ort::info(),
                    cache::tensorrt_libraries().join(", "),
                    settings.tensorrt_fp16,
                );
                let engines = cache::engine_dir(&settings.cache_dir, file, &runtime)
                    .unwrap_or_else(|e| {
                        log::warn!(
                            "{e}; TensorRT's engines go to {}",
                            settings.cache_dir.display()
                        );
                        settings.cache_dir.clone()
                    });
                if !cache::has_engine(&engines) {
                    log::info!(
                        "building the TensorRT engine for {} into {} (the first start with this model: minutes on a Jetson)",
                        file.display(),
                        engines.display()
                    );
                    step(LoadStep::BuildingEngine {
                        engines: engines.clone(),
                    });
                    warm_up = true;
                }
                // An INT8 twin carries its quantization (QDQ), which TensorRT reads as explicit
                // INT8 (FP16 where it keeps floats). TensorRT takes only signed, symmetric
                // activations; models/quantize.py's are unsigned (measured more accurate), so
                // TensorRT refuses today's twins and `int8` falls to the next provider.
                builder
                    .with_execution_providers([ep::TensorRT::default()
                        .with_fp16(settings.tensorrt_fp16 || int8)
                        .with_int8(int8)
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
        let mut session = builder
            .commit_from_file(file)
            .map_err(|e| SessionError::Model(e.to_string()))?;
        if warm_up {
            // TensorRT builds the engine for the input's shape at the first run: one at the
            // default analysis size now, while the status says the engine is being built.
            let (w, h) = (
                settings.input_width as usize,
                settings.input_height as usize,
            );
            let pixels = vec![0u8; w * h * 3];
            let input = TensorRef::from_array_view(([1usize, h, w, 3], &pixels[..]))
                .map_err(|e| SessionError::Model(e.to_string()))?;
            let name = session
                .inputs()
                .first()
                .map(|i| i.name().to_string())
                .unwrap_or_else(|| "image".into());
            session
                .run(ort::inputs![name.as_str() => input])
                .map_err(|e| SessionError::Model(format!("building the TensorRT engine: {e}")))?;
        }
        Ok(session)
    }

    /// A handle that interrupts this model's run in progress.
    pub fn interrupt_handle(&self) -> Interrupt {
        Interrupt(self.run_options.clone())
    }

    pub fn provider(&self) -> ExecutionProviderKind {
        self.provider
    }

    /// The file that runs: `model.path`, or its INT8 twin.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// In which numbers it runs.
    pub fn numbers(&self) -> Numbers {
        self.numbers
    }

    /// Why it runs in those numbers, in words (what the status shows beside them).
    pub fn numbers_why(&self) -> &str {
        &self.numbers_why
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
        // larger once back at 640x360, and even at one size the arena held ~110 MiB between
        // runs. So every run ends by handing the arena's free regions back to the system: on a
        // live stream at 640x360 (drone model, INT8) 295 instead of 406 MiB resident, for 6 to
        // 8 % more time per run, measured interleaved (benches/live.rs, benches/ort_memory.rs:
        // docs/benchmarks.md).
        let options = &self.run_options;
        let started = Instant::now();
        let outputs = self
            .session
            .run_with_options(ort::inputs![self.input.as_str() => tensor], options)
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
    /// The model loaded but does not fit skycountd (its contract, its card).
    Load(Box<ModelError>),
}

/// A path's file name, for messages.
fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
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

    #[test]
    fn a_card_s_ranges_are_read_and_bad_ones_refused_by_name() {
        let info = |key: &'static str, value: &'static str| {
            ModelInfo::from_metadata(Path::new("/m/csrnet-x.onnx"), move |k| {
                (k == key).then(|| value.to_string())
            })
        };
        let ok = info("skycount.calibrated_range", " 0.7 , 2.5").unwrap();
        assert_eq!(ok.calibrated_range, Some((0.7, 2.5)));
        assert_eq!(ok.uncalibrated_range, None);
        let ok = info("skycount.uncalibrated_range", "0.2,11").unwrap();
        assert_eq!(ok.uncalibrated_range, Some((0.2, 11.0)));
        assert_eq!(ok.calibrated_range, None);
        for bad in ["1.2,2", "0.5,0.9", "0.5", "a,b", "0,2", "0.5,101"] {
            let e = info("skycount.calibrated_range", bad).unwrap_err();
            assert!(
                e.contains("skycount.calibrated_range") && e.contains("low from 0.01 to 1"),
                "{bad}: {e}"
            );
        }
    }
}
