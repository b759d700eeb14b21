//! `skycountd eval MANIFEST…`: how right the count is, on annotated images, through the daemon's
//! own analysis path.
//!
//! A manifest is the format of `../shared/testdata` and of the box's own exported frames: a CSV
//! with at least `file` and `gt_count` columns (files relative to the CSV), and beside it
//! `gt_points.json`, `{file: [[x, y], …]}` in the image's pixels (needed for calibrated modes).
//!
//! Each `--mode` is analysed on every image and reported per image and in total (mean absolute
//! error, mean absolute relative error):
//!
//! - `default`: what the daemon does with this configuration and no calibration; `default:F` the
//!   same size times F across (`--consistency` adds `default:0.5` and `default:2` and reports how
//!   much the count moves between them: a model that counts people, not texture, moves little);
//! - `scale:S` (a fraction of the image's size), `size:WxH`;
//! - `calibrated:N`: the operator's calibration replayed from the ground truth. For each image,
//!   `--boxes` boxes are drawn (seeded): the smallest 16:9 box around a random person that holds
//!   at least N people; the people in it are the taps. The calibration is made exactly as the
//!   dashboard's (`Analyser::calibrate`), then the whole image is analysed with it. The error is
//!   reported on the whole image and outside the box (what the taps did not tell).
//!
//! Beside the manifest, an optional `ignore_regions.json` (`{file: [[x, y, w, h], …]}`, the
//! VisDrone set's regions nobody annotated) is applied as masks: nothing is counted there, as the
//! operator's masks do on the box.
//!
//! Every row carries the band the dashboard would show for that analysis (the model's uncalibrated
//! range, or the calibration's) and whether it held the truth; the totals give, per set and mode,
//! the mean absolute error and relative error per image and per scene (a manifest's `clip` or
//! `group` column, else the file name without its last `_N`: frames of one scene are near
//! duplicates), the share of images whose band held the truth and the band's median width, and the
//! same over the images with at least [`MANY_PEOPLE`] people.
//!
//! Under the `default` mode's totals it prints the uncalibrated range these images measure: the
//! multiples of the count between which the truth lay in [`FIT_SHARE`] of them (truth over count,
//! the central share). Measured on images a model never saw, that is what its card's
//! `skycount.uncalibrated_range` should say (models/README.md); measured on others, it is optimistic.
//!
//! Density maps are cached per image and analysis size within one run, so modes and boxes that
//! land on the same size cost one model run.
//!
//! `--against PRECISION` analyses every image and mode a second time with `model.precision` set to
//! that (e.g. the INT8 twin `--against fp32`) and reports how far the count moved from it, per
//! image and per set ([`Drift`], [`DriftTotal`]); `--max-drift`, `--max-image-drift` and
//! `--max-error-increase` make it fail past the limits the INT8 twins are held to.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use rand::{RngExt as _, SeedableRng as _};
use serde::Serialize;

use crate::analyse::calibrate::Request;
use crate::analyse::{calibrate, mask, Analyser, Density, Options, Setup};
use crate::config::{Precision, Settings};
use crate::infer::Model;

/// One way of analysing.
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    /// The default size times this factor across (1: the default).
    Default(f64),
    Scale(f64),
    Size(u32, u32),
    Calibrated(usize),
}

impl std::str::FromStr for Mode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "{s:?} is not a mode: use default, default:F (0.1 to 8), scale:S (0.05 to 4), size:WxH or calibrated:N ({} to {})",
                calibrate::MIN_TAPS,
                calibrate::MAX_TAPS
            )
        };
        match s.split_once(':') {
            None if s == "default" => Ok(Self::Default(1.0)),
            Some(("default", v)) => v
                .parse::<f64>()
                .ok()
                .filter(|v| (0.1..=8.0).contains(v))
                .map(Self::Default)
                .ok_or_else(bad),
            Some(("scale", v)) => v
                .parse::<f64>()
                .ok()
                .filter(|v| (0.05..=4.0).contains(v))
                .map(Self::Scale)
                .ok_or_else(bad),
            Some(("size", v)) => {
                let (w, h) = v.split_once(['x', 'X']).ok_or_else(bad)?;
                let (w, h) = (w.parse().map_err(|_| bad())?, h.parse().map_err(|_| bad())?);
                if (8..=8192).contains(&w) && (8..=8192).contains(&h) {
                    Ok(Self::Size(w, h))
                } else {
                    Err(bad())
                }
            }
            Some(("calibrated", v)) => v
                .parse::<usize>()
                .ok()
                .filter(|n| (calibrate::MIN_TAPS..=calibrate::MAX_TAPS).contains(n))
                .map(Self::Calibrated)
                .ok_or_else(bad),
            _ => Err(bad()),
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Default(k) if *k == 1.0 => write!(f, "default"),
            Self::Default(k) => write!(f, "default:{k}"),
            Self::Scale(s) => write!(f, "scale:{s}"),
            Self::Size(w, h) => write!(f, "size:{w}x{h}"),
            Self::Calibrated(n) => write!(f, "calibrated:{n}"),
        }
    }
}

/// What `eval` is asked to do.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    pub manifests: Vec<PathBuf>,
    pub modes: Vec<Mode>,
    /// Calibration boxes per image.
    pub boxes: usize,
    pub seed: u64,
    /// Only the files whose name contains one of these (all when empty).
    pub only: Vec<String>,
    /// Fail when a mode's mean absolute relative error (%) over all images is above this.
    pub max_error: Option<f64>,
    pub json: bool,
    /// Also analyse at half and twice the default size and report how much the count moves.
    pub consistency: bool,
    /// Analyse everything again with `model.precision` set to this, and report the drift.
    pub against: Option<Precision>,
    /// With `against`: the limits (in %, and points for the error), per set and over all.
    pub limits: DriftLimits,
}

/// How far a count may move from the baseline's (`--against`): each `None` is not checked.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DriftLimits {
    /// The mean of |drift| over a set's images, in %.
    pub mean: Option<f64>,
    /// |drift| on any image with at least [`MANY_PEOPLE`] people whose count moved by more than
    /// [`COUNT_RESOLUTION`], in %.
    pub image: Option<f64>,
    /// How many points the mean absolute relative error against the truth may grow.
    pub error_increase: Option<f64>,
}

/// Images with at least this many people are also totalled apart: on a nearly empty image a
/// relative error says little (two people counted as three is 50 % off).
pub const MANY_PEOPLE: f64 = 20.0;

/// A count that moves by less than this many people has not changed (the dashboard shows
/// whole people): the per-image drift limit leaves it alone. On a VisDrone frame with 20 people
/// that the model counts as 1.2, INT8's 1.28 is 8 % more but a tenth of a person.
pub const COUNT_RESOLUTION: f64 = 0.5;

/// The factors across of the default size that `--consistency` compares.
pub const CONSISTENCY_FACTORS: [f64; 3] = [0.5, 1.0, 2.0];

/// One annotated image.
struct Item {
    set: String,
    /// Frames of one scene are near duplicates: totals are also made per scene.
    scene: String,
    file: String,
    path: PathBuf,
    truth: f64,
    points: Option<Vec<[f64; 2]>>,
    /// Regions nobody annotated, x, y, w, h in the image's pixels: masked.
    ignore: Vec<[f64; 4]>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub set: String,
    pub file: String,
    pub mode: String,
    pub truth: f64,
    pub predicted: f64,
    pub error: f64,
    pub relative_error: f64,
    /// Calibrated modes: the mean absolute relative error outside the boxes.
    pub outside_relative_error: Option<f64>,
    pub analysis_width: u32,
    pub analysis_height: u32,
    /// Calibrated modes: boxes replayed (the row's figures are means over them).
    pub boxes: usize,
    pub scene: String,
    /// The band the dashboard would show (calibrated modes: of the first box).
    pub band: [f64; 2],
    /// The share of analyses whose band held the truth (0 or 1, or over the boxes).
    pub covered: f64,
    /// Calibrated modes: truth / count of each box whose box check agreed (what the model's
    /// `skycount.calibrated_range` is fitted on: [`fitted_calibrated_range`]).
    #[serde(skip)]
    pub agreed: Vec<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Total {
    pub set: String,
    pub mode: String,
    pub images: usize,
    pub scenes: usize,
    pub mae: f64,
    pub mean_relative_error: f64,
    /// The mean over scenes of each scene's mean relative error.
    pub mean_relative_error_per_scene: f64,
    pub mean_outside_relative_error: Option<f64>,
    /// The share of images whose band held the truth.
    pub band_coverage: f64,
    /// The band's median width, (high − low) / count.
    pub median_band_width: f64,
}

fn read_manifest(path: &Path) -> anyhow::Result<Vec<Item>> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let set = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "images".into());
    let mut reader = csv::Reader::from_path(path)
        .with_context(|| format!("cannot read the manifest {}", path.display()))?;
    let headers = reader.headers()?.clone();
    let col = |name: &str| {
        headers.iter().position(|h| h == name).with_context(|| {
            format!(
                "{} has no `{name}` column (it needs `file` and `gt_count`)",
                path.display()
            )
        })
    };
    let (file_col, count_col) = (col("file")?, col("gt_count")?);
    let scene_col = ["clip", "group", "stream"]
        .iter()
        .find_map(|name| headers.iter().position(|h| h == *name));
    let points: Option<HashMap<String, Vec<[f64; 2]>>> = {
        let p = dir.join("gt_points.json");
        if p.exists() {
            let text = std::fs::read_to_string(&p)
                .with_context(|| format!("cannot read {}", p.display()))?;
            Some(
                serde_json::from_str(&text)
                    .with_context(|| format!("{} is not {{file: [[x, y], …]}}", p.display()))?,
            )
        } else {
            None
        }
    };
    let ignore: HashMap<String, Vec<[f64; 4]>> = {
        let p = dir.join("ignore_regions.json");
        if p.exists() {
            let text = std::fs::read_to_string(&p)
                .with_context(|| format!("cannot read {}", p.display()))?;
            serde_json::from_str(&text)
                .with_context(|| format!("{} is not {{file: [[x, y, w, h], …]}}", p.display()))?
        } else {
            HashMap::new()
        }
    };
    let mut items = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.with_context(|| format!("{} line {}", path.display(), i + 2))?;
        let file = record.get(file_col).unwrap_or_default().to_string();
        let truth: f64 = record
            .get(count_col)
            .unwrap_or_default()
            .trim()
            .parse()
            .with_context(|| {
                format!(
                    "{} line {}: gt_count is not a number",
                    path.display(),
                    i + 2
                )
            })?;
        // Images in sub-folders are sets of their own (`crowd/beach_webcam`).
        let set = match file.rsplit_once('/') {
            Some((sub, _)) => format!("{set}/{sub}"),
            None => set.clone(),
        };
        let scene = scene_col
            .and_then(|c| record.get(c))
            .filter(|v| !v.is_empty())
            .map(str::to_string)
            .unwrap_or_else(|| scene_of(&file));
        items.push(Item {
            set,
            scene,
            ignore: ignore.get(&file).cloned().unwrap_or_default(),
            path: dir.join(&file),
            points: points.as_ref().and_then(|p| p.get(&file).cloned()),
            file,
            truth,
        });
    }
    Ok(items)
}

/// The scene of a file without a scene column: its name without the extension and a last `_N`
/// (`dronecrowd_seq011_4.jpg` is scene `dronecrowd_seq011`), as models/fielddata.py groups frames.
fn scene_of(file: &str) -> String {
    let stem = Path::new(file)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    match stem.rsplit_once('_') {
        Some((head, tail)) if !head.is_empty() && tail.bytes().all(|b| b.is_ascii_digit()) => {
            head.to_string()
        }
        _ => stem,
    }
}

/// Masks over an image's ignored regions (x, y, w, h in its pixels), as the operator's masks.
fn ignore_masks(regions: &[[f64; 4]], w: u32, h: u32) -> Vec<crate::wire::Mask> {
    let (fw, fh) = (f64::from(w), f64::from(h));
    regions
        .iter()
        .enumerate()
        .map(|(i, [x, y, rw, rh])| {
            let (x0, y0) = ((x / fw).clamp(0.0, 1.0), (y / fh).clamp(0.0, 1.0));
            let (x1, y1) = (
                ((x + rw) / fw).clamp(0.0, 1.0),
                ((y + rh) / fh).clamp(0.0, 1.0),
            );
            crate::wire::Mask {
                name: format!("ignored {i}"),
                points: vec![[x0, y0], [x1, y0], [x1, y1], [x0, y1]],
            }
        })
        .collect()
}

/// The band a single analysis of `count` shows with `range` (as the dashboard's smoother).
fn band(count: f64, range: (f64, f64)) -> [f64; 2] {
    [
        (count * range.0.min(1.0)).max(0.0),
        count * range.1.max(1.0),
    ]
}

/// The smallest 16:9 box around `center` that holds at least `n` of `points`, inside the image.
pub fn box_around(points: &[[f64; 2]], center: [f64; 2], n: usize, w: u32, h: u32) -> [f64; 4] {
    let (fw, fh) = (f64::from(w), f64::from(h));
    let place = |bw: f64| {
        let bh = bw * 9.0 / 16.0;
        let x = (center[0] - bw / 2.0).clamp(0.0, (fw - bw).max(0.0));
        let y = (center[1] - bh / 2.0).clamp(0.0, (fh - bh).max(0.0));
        [x, y, bw.min(fw), bh.min(fh)]
    };
    let holds = |b: [f64; 4]| {
        points
            .iter()
            .filter(|p| p[0] >= b[0] && p[0] <= b[0] + b[2] && p[1] >= b[1] && p[1] <= b[1] + b[3])
            .count()
    };
    let (mut lo, mut hi) = (16.0, fw.max(fh * 16.0 / 9.0));
    for _ in 0..40 {
        let mid = (lo + hi) / 2.0;
        if holds(place(mid)) >= n {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    place(hi)
}

fn inside(b: [f64; 4], p: [f64; 2]) -> bool {
    p[0] >= b[0] && p[0] <= b[0] + b[2] && p[1] >= b[1] && p[1] <= b[1] + b[3]
}

struct Evaluator {
    model: Model,
    analyser: Analyser,
    /// The density maps of the image in hand, per analysis size, masked.
    cache: HashMap<(u32, u32), Density>,
    masks: Vec<crate::wire::Mask>,
}

impl Evaluator {
    fn density(
        &mut self,
        rgb: &[u8],
        w: u32,
        h: u32,
        size: (u32, u32),
    ) -> anyhow::Result<&Density> {
        if !self.cache.contains_key(&size) {
            let mut d = self.analyser.density(&mut self.model, rgb, w, h, size)?;
            if !self.masks.is_empty() {
                let weights = mask::weights(&self.masks, d.map.width, d.map.height);
                mask::apply(&mut d.map, &weights);
            }
            self.cache.insert(size, d);
        }
        Ok(&self.cache[&size])
    }

    /// The whole image at `mode`'s size (None for calibrated modes).
    fn size(&self, mode: &Mode, w: u32, h: u32, max_width: u32) -> Option<(u32, u32)> {
        match mode {
            Mode::Default(k) if *k == 1.0 => Some(self.analyser.size_for(w, h)),
            Mode::Default(k) => {
                let (dw, _) = self.analyser.size_for(w, h);
                let scale = f64::from(dw) / f64::from(w.max(1)) * k;
                Some(crate::analyse::size_at(w, h, scale, max_width))
            }
            Mode::Scale(s) => Some(crate::analyse::size_at(w, h, *s, u32::MAX)),
            Mode::Size(sw, sh) => Some((*sw, *sh)),
            Mode::Calibrated(_) => None,
        }
    }
}

/// Runs the evaluation; prints the table (or JSON lines) and returns the totals.
pub fn run(settings: &Settings, opts: &EvalOptions) -> anyhow::Result<Vec<Total>> {
    let mut items = Vec::new();
    for m in &opts.manifests {
        items.extend(read_manifest(m)?);
    }
    if !opts.only.is_empty() {
        items.retain(|i| opts.only.iter().any(|o| i.file.contains(o.as_str())));
    }
    if items.is_empty() {
        bail!("no images to evaluate");
    }
    let mut modes = opts.modes.clone();
    if opts.consistency {
        for k in CONSISTENCY_FACTORS {
            if !modes.contains(&Mode::Default(k)) {
                modes.push(Mode::Default(k));
            }
        }
    }
    let needs_points = modes.iter().any(|m| matches!(m, Mode::Calibrated(_)));
    if needs_points {
        if let Some(i) = items.iter().find(|i| i.points.is_none()) {
            bail!(
                "{}: calibrated modes need its points in gt_points.json beside the manifest",
                i.file
            );
        }
    }
    let rows = evaluate(settings, &items, &modes, opts, !opts.json)?;
    let totals = totals(&rows);
    let consistency = if opts.consistency {
        consistency(&rows)
    } else {
        Vec::new()
    };
    let drift = match opts.against {
        None => None,
        Some(p) => {
            let mut base = settings.clone();
            base.model.precision = p;
            let base_rows = evaluate(&base, &items, &modes, opts, false)?;
            let d = drifts(&rows, &base_rows);
            let t = drift_totals(&d);
            Some((d, t))
        }
    };
    if opts.json {
        for r in &rows {
            println!("{}", serde_json::to_string(r)?);
        }
        for t in &totals {
            println!("{}", serde_json::to_string(t)?);
        }
        for c in &consistency {
            println!("{}", serde_json::to_string(c)?);
        }
        if let Some((d, t)) = &drift {
            for r in d {
                println!("{}", serde_json::to_string(r)?);
            }
            for r in t {
                println!("{}", serde_json::to_string(r)?);
            }
        }
    } else {
        print!("{}", markdown(&rows, &totals, &consistency));
        if let Some((lo, hi)) = fitted_range(&rows, FIT_SHARE) {
            println!(
                "\nUncalibrated range these images measure: the truth lay between {lo:.2} and {hi:.2} times the count in {:.0} % of them (the `default` mode; a model card's skycount.uncalibrated_range = \"{lo},{hi}\" when these images are unseen by the model).",
                FIT_SHARE * 100.0
            );
        }
        if let Some((lo, hi)) = fitted_calibrated_range(&rows, FIT_SHARE) {
            let boxes: usize = rows.iter().map(|r| r.agreed.len()).sum();
            println!(
                "\nCalibrated range these images measure: where the box check agreed ({boxes} boxes), the truth lay between {lo:.2} and {hi:.2} times the count in {:.0} % of them (the calibrated modes; a model card's skycount.calibrated_range = \"{lo},{hi}\" when these images are unseen by the model).",
                FIT_SHARE * 100.0
            );
        }
        if let Some((d, t)) = &drift {
            print!("{}", drift_markdown(d, t, opts.against.unwrap_or_default()));
        }
    }
    if let Some(max) = opts.max_error {
        for t in totals.iter().filter(|t| t.set == ALL) {
            if t.mean_relative_error * 100.0 > max {
                bail!(
                    "mode {}: mean absolute relative error {:.1} % is above the limit {max} %",
                    t.mode,
                    t.mean_relative_error * 100.0
                );
            }
        }
    }
    if let Some((_, t)) = &drift {
        let problems = check_drift(t, &opts.limits);
        if !problems.is_empty() {
            bail!(
                "the count moved past the limits against {}:\n  {}",
                opts.against.unwrap_or_default(),
                problems.join("\n  ")
            );
        }
    }
    Ok(totals)
}

/// Every item analysed in every mode with `settings`: the rows. Progress goes to stderr when
/// `progress`.
fn evaluate(
    settings: &Settings,
    items: &[Item],
    modes: &[Mode],
    opts: &EvalOptions,
    progress: bool,
) -> anyhow::Result<Vec<Row>> {
    let model = Model::load(&settings.model)?;
    eprintln!(
        "model {} on {}, in {} ({})",
        model.path().display(),
        model.provider(),
        model.numbers(),
        model.numbers_why()
    );
    let mut analyser = Analyser::new(Options::from_settings(settings), Setup::default());
    analyser.set_model(model.info());
    let mut ev = Evaluator {
        model,
        analyser,
        cache: HashMap::new(),
        masks: Vec::new(),
    };
    let uncalibrated = ev.analyser.uncalibrated_range();
    let mut rows = Vec::new();
    for item in items {
        let img = image::ImageReader::open(&item.path)
            .with_context(|| format!("cannot open {}", item.path.display()))?
            .with_guessed_format()?
            .decode()
            .with_context(|| {
                format!(
                    "{} is not an image skycountd can decode",
                    item.path.display()
                )
            })?
            .to_rgb8();
        let (w, h) = img.dimensions();
        let rgb = img.as_raw();
        ev.cache.clear();
        ev.masks = ignore_masks(&item.ignore, w, h);
        for mode in modes {
            let row = |predicted: f64, size: (u32, u32), outside: Option<f64>, boxes: usize| Row {
                set: item.set.clone(),
                file: item.file.clone(),
                scene: item.scene.clone(),
                mode: mode.to_string(),
                truth: item.truth,
                predicted,
                error: predicted - item.truth,
                relative_error: (predicted - item.truth).abs() / item.truth.max(1.0),
                outside_relative_error: outside,
                analysis_width: size.0,
                analysis_height: size.1,
                boxes,
                band: band(predicted, uncalibrated),
                covered: 0.0,
                agreed: Vec::new(),
            };
            let holds = |b: [f64; 2]| {
                if b[0] <= item.truth && item.truth <= b[1] {
                    1.0
                } else {
                    0.0
                }
            };
            if let Some(size) = ev.size(mode, w, h, settings.analysis.max_width) {
                let d = ev.density(rgb, w, h, size)?;
                let mut r = row(d.map.count(), d.size, None, 0);
                r.covered = holds(r.band);
                rows.push(r);
                continue;
            }
            let Mode::Calibrated(n) = mode else { continue };
            let points = item.points.as_deref().unwrap_or_default();
            let mut rng = rand::rngs::StdRng::seed_from_u64(
                opts.seed
                    ^ item
                        .file
                        .bytes()
                        .fold(0u64, |a, b| a.wrapping_mul(31) ^ u64::from(b)),
            );
            let (mut pred, mut rel, mut out_rel, mut sizes) = (0.0, 0.0, 0.0, (0u32, 0u32));
            let (mut covered, mut first_band, mut agreed) = (0.0, None, Vec::new());
            let mut done = 0;
            for _ in 0..opts.boxes {
                if points.len() < *n {
                    break;
                }
                let center = points[rng.random_range(0..points.len())];
                let area = box_around(points, center, *n, w, h);
                let taps: Vec<[f64; 2]> = points
                    .iter()
                    .copied()
                    .filter(|p| inside(area, *p))
                    .take(calibrate::MAX_TAPS)
                    .collect();
                let req = Request {
                    frame_id: "eval".into(),
                    area,
                    taps,
                };
                let c = ev
                    .analyser
                    .calibrate(&mut ev.model, rgb, w, h, &req)
                    .map_err(anyhow::Error::msg)?;
                let size = crate::analyse::size_at(w, h, c.scale, settings.analysis.max_width);
                let d = ev.density(rgb, w, h, size)?;
                let whole = d.map.count() * c.factor;
                let in_box = calibrate::sum_in_box(
                    &d.map.values,
                    d.map.width,
                    d.map.height,
                    (0, 0, w, h),
                    d.size,
                    area,
                ) * c.factor;
                let truth_out = points.iter().filter(|p| !inside(area, **p)).count() as f64;
                let b = band(whole, (c.range[0], c.range[1]));
                covered += holds(b);
                first_band.get_or_insert(b);
                let q = c.model_in_box / f64::from(c.taps.max(1));
                if (calibrate::CHECK_RATIO.0..=calibrate::CHECK_RATIO.1).contains(&q) {
                    agreed.push(item.truth / whole.max(1.0));
                }
                pred += whole;
                rel += (whole - item.truth).abs() / item.truth.max(1.0);
                out_rel += ((whole - in_box) - truth_out).abs() / truth_out.max(1.0);
                sizes = d.size;
                done += 1;
            }
            if done == 0 {
                continue;
            }
            let k = done as f64;
            let mut r = row(pred / k, sizes, Some(out_rel / k), done);
            r.relative_error = rel / k;
            r.covered = covered / k;
            r.band = first_band.unwrap_or(r.band);
            r.agreed = agreed;
            rows.push(r);
        }
        if progress {
            for r in rows.iter().filter(|r| r.file == item.file) {
                eprintln!(
                    "{:<40} {:<14} truth {:>6.0}  predicted {:>7.1}  {:>+6.0} %  at {}x{}",
                    r.file,
                    r.mode,
                    r.truth,
                    r.predicted,
                    r.error / r.truth.max(1.0) * 100.0,
                    r.analysis_width,
                    r.analysis_height
                );
            }
        }
    }
    Ok(rows)
}

/// One image in one mode against the baseline (`--against`).
#[derive(Debug, Clone, Serialize)]
pub struct Drift {
    pub set: String,
    pub file: String,
    pub mode: String,
    pub truth: f64,
    pub predicted: f64,
    /// The baseline's count.
    pub baseline: f64,
    /// (predicted − baseline) / baseline.
    pub drift: f64,
    pub relative_error: f64,
    pub baseline_relative_error: f64,
}

/// The drift over a set (a manifest, one of its folders, or all) in one mode.
#[derive(Debug, Clone, Serialize)]
pub struct DriftTotal {
    pub set: String,
    pub mode: String,
    pub images: usize,
    /// The mean of |drift|.
    pub mean_drift: f64,
    pub max_drift: f64,
    /// Images with at least [`MANY_PEOPLE`] people, and the largest |drift| among those whose
    /// count moved by more than [`COUNT_RESOLUTION`] people (what `--max-image-drift` judges).
    pub images_many: usize,
    pub max_drift_many: Option<f64>,
    pub worst_file_many: Option<String>,
    /// Mean absolute relative error against the truth, and the baseline's.
    pub error: f64,
    pub baseline_error: f64,
    /// Whether the limits are checked on this total: a whole manifest or all of them (a
    /// manifest's folders are shown, not judged on their own).
    pub checked: bool,
}

/// Rows matched with the baseline's (same set, image and mode).
pub fn drifts(rows: &[Row], base: &[Row]) -> Vec<Drift> {
    rows.iter()
        .filter_map(|r| {
            let b = base
                .iter()
                .find(|b| b.set == r.set && b.file == r.file && b.mode == r.mode)?;
            Some(Drift {
                set: r.set.clone(),
                file: r.file.clone(),
                mode: r.mode.clone(),
                truth: r.truth,
                predicted: r.predicted,
                baseline: b.predicted,
                drift: (r.predicted - b.predicted) / b.predicted.abs().max(1e-9),
                relative_error: r.relative_error,
                baseline_relative_error: b.relative_error,
            })
        })
        .collect()
}

/// Per set (each folder, each manifest with folders, all) and mode.
pub fn drift_totals(d: &[Drift]) -> Vec<DriftTotal> {
    let mut keys: Vec<(String, String, bool)> = Vec::new();
    let mut add = |k: (String, String, bool)| {
        if !keys.iter().any(|(s, m, _)| *s == k.0 && *m == k.1) {
            keys.push(k);
        }
    };
    for r in d {
        let top = r.set.split('/').next().unwrap_or(&r.set).to_string();
        add((r.set.clone(), r.mode.clone(), top == r.set));
        if top != r.set {
            add((top, r.mode.clone(), true));
        }
    }
    let modes: Vec<String> = d.iter().fold(Vec::new(), |mut m, r| {
        if !m.contains(&r.mode) {
            m.push(r.mode.clone());
        }
        m
    });
    for m in modes {
        add((ALL.into(), m, true));
    }
    keys.into_iter()
        .map(|(set, mode, checked)| {
            let sel: Vec<&Drift> = d
                .iter()
                .filter(|r| {
                    r.mode == mode
                        && (set == ALL || r.set == set || r.set.starts_with(&format!("{set}/")))
                })
                .collect();
            let many: Vec<&&Drift> = sel.iter().filter(|r| r.truth >= MANY_PEOPLE).collect();
            let worst = many
                .iter()
                .filter(|r| (r.predicted - r.baseline).abs() > COUNT_RESOLUTION)
                .max_by(|a, b| a.drift.abs().total_cmp(&b.drift.abs()));
            DriftTotal {
                images: sel.len(),
                mean_drift: mean(sel.iter().map(|r| r.drift.abs())),
                max_drift: sel.iter().map(|r| r.drift.abs()).fold(0.0, f64::max),
                images_many: many.len(),
                max_drift_many: worst.map(|r| r.drift.abs()),
                worst_file_many: worst.map(|r| r.file.clone()),
                error: mean(sel.iter().map(|r| r.relative_error)),
                baseline_error: mean(sel.iter().map(|r| r.baseline_relative_error)),
                checked,
                set,
                mode,
            }
        })
        .collect()
}

/// What exceeds `limits`, in words; empty when everything holds.
pub fn check_drift(totals: &[DriftTotal], limits: &DriftLimits) -> Vec<String> {
    let mut out = Vec::new();
    for t in totals.iter().filter(|t| t.checked) {
        let at = format!("{} ({})", t.set, t.mode);
        if let Some(max) = limits.mean {
            if t.mean_drift * 100.0 > max {
                out.push(format!(
                    "{at}: the count moved by {:.2} % on average, the limit is {max} %",
                    t.mean_drift * 100.0
                ));
            }
        }
        if let (Some(max), Some(d)) = (limits.image, t.max_drift_many) {
            if d * 100.0 > max {
                out.push(format!(
                    "{at}: {} moved by {:.2} %, the limit is {max} % on images with at least {MANY_PEOPLE} people (whose count moved by more than {COUNT_RESOLUTION})",
                    t.worst_file_many.as_deref().unwrap_or("?"),
                    d * 100.0
                ));
            }
        }
        if let Some(max) = limits.error_increase {
            let more = (t.error - t.baseline_error) * 100.0;
            if more > max {
                out.push(format!(
                    "{at}: the error against the truth is {:.1} %, {more:.1} points above the baseline's {:.1} % (the limit is {max})",
                    t.error * 100.0,
                    t.baseline_error * 100.0
                ));
            }
        }
    }
    out
}

/// The drift as Markdown tables: per image, then per set.
pub fn drift_markdown(d: &[Drift], totals: &[DriftTotal], against: Precision) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nAgainst {against}: the same images and modes, the count's drift from the baseline's.\n\n| set | image | mode | truth | baseline | predicted | drift |\n| --- | --- | --- | --- | --- | --- | --- |"
    );
    for r in d {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.0} | {:.2} | {:.2} | {:+.2} % |",
            r.set,
            r.file,
            r.mode,
            r.truth,
            r.baseline,
            r.predicted,
            r.drift * 100.0
        );
    }
    let _ = writeln!(
        out,
        "\n| set | mode | images | mean abs. drift | largest | largest, >= 20 people, moved > 0.5 | error against the truth | baseline's |\n| --- | --- | --- | --- | --- | --- | --- | --- |"
    );
    for t in totals {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.2} % | {:.2} % | {} | {} | {} |",
            t.set,
            t.mode,
            t.images,
            t.mean_drift * 100.0,
            t.max_drift * 100.0,
            t.max_drift_many
                .map(|m| format!(
                    "{:.2} % ({} of {})",
                    m * 100.0,
                    t.worst_file_many.as_deref().unwrap_or("?"),
                    t.images_many
                ))
                .unwrap_or_else(|| "-".into()),
            pct(t.error),
            pct(t.baseline_error)
        );
    }
    out
}

/// The share of images the fitted uncalibrated range holds (the central 90 %: wider than the 80 %
/// the band must hold on unseen images, so that a range fitted on a few dozen images still holds).
pub const FIT_SHARE: f64 = 0.9;

/// The uncalibrated range that `rows` of the `default` mode measure: the lowest and highest
/// truth/count ratios of the central `share` of the images with people (each count taken as at
/// least one person), rounded outwards to 0.05, and clamped to straddle 1 as the band does.
/// `None` with fewer than 10 such images.
pub fn fitted_range(rows: &[Row], share: f64) -> Option<(f64, f64)> {
    central_range(
        rows.iter()
            .filter(|r| r.mode == "default" && r.truth > 0.0)
            .map(|r| r.truth / r.predicted.max(1.0))
            .collect(),
        share,
    )
}

/// The calibrated range that `rows` of the calibrated modes measure: as [`fitted_range`], over
/// the boxes whose box check agreed (the band [`calibrate::range_for`] gives them is the model's
/// `skycount.calibrated_range`; the others' is that range divided by q). `None` with
/// fewer than 10 such boxes.
pub fn fitted_calibrated_range(rows: &[Row], share: f64) -> Option<(f64, f64)> {
    central_range(
        rows.iter().flat_map(|r| r.agreed.iter().copied()).collect(),
        share,
    )
}

/// The central `share` of truth/count `ratios`, rounded outwards to 0.05 and straddling 1.
fn central_range(mut ratios: Vec<f64>, share: f64) -> Option<(f64, f64)> {
    if ratios.len() < 10 {
        return None;
    }
    ratios.sort_by(f64::total_cmp);
    let last = (ratios.len() - 1) as f64;
    let tail = (1.0 - share) / 2.0;
    let lo = ratios[(tail * last).floor() as usize];
    let hi = ratios[((1.0 - tail) * last).ceil() as usize];
    // Outwards to the 0.05 grid (a ratio on the grid, up to rounding, stays where it is).
    let lo = ((lo * 20.0 + 1e-9).floor() / 20.0).clamp(0.01, 1.0);
    let hi = ((hi * 20.0 - 1e-9).ceil() / 20.0).clamp(1.0, 100.0);
    Some((lo, hi))
}

/// The label of the totals over all sets, and over its images with many people.
pub const ALL: &str = "all";
pub const ALL_MANY: &str = "all, >= 20 people";

/// Totals per set and mode, over all sets ([`ALL`]) and over the images of all sets with at least
/// [`MANY_PEOPLE`] people ([`ALL_MANY`]).
pub fn totals(rows: &[Row]) -> Vec<Total> {
    let mut keys: Vec<(String, String)> = Vec::new();
    let mut add = |k: (String, String)| {
        if !keys.contains(&k) {
            keys.push(k);
        }
    };
    for r in rows {
        add((r.set.clone(), r.mode.clone()));
    }
    let mut modes: Vec<&str> = Vec::new();
    for r in rows {
        if !modes.contains(&r.mode.as_str()) {
            modes.push(&r.mode);
        }
    }
    let some_few = rows.iter().any(|r| r.truth < MANY_PEOPLE);
    let some_many = rows.iter().any(|r| r.truth >= MANY_PEOPLE);
    for m in modes {
        add((ALL.into(), m.into()));
        if some_few && some_many {
            add((ALL_MANY.into(), m.into()));
        }
    }
    keys.into_iter()
        .map(|(set, mode)| {
            let sel: Vec<&Row> = rows
                .iter()
                .filter(|r| {
                    r.mode == mode
                        && match set.as_str() {
                            ALL => true,
                            ALL_MANY => r.truth >= MANY_PEOPLE,
                            s => r.set == s,
                        }
                })
                .collect();
            total(set, mode, &sel)
        })
        .collect()
}

fn mean(v: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = v.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    if n == 0 {
        f64::NAN
    } else {
        sum / n as f64
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn total(set: String, mode: String, sel: &[&Row]) -> Total {
    let mut scenes: Vec<((&str, &str), Vec<f64>)> = Vec::new();
    for r in sel {
        let scene = (r.set.as_str(), r.scene.as_str());
        match scenes.iter_mut().find(|(s, _)| *s == scene) {
            Some((_, v)) => v.push(r.relative_error),
            None => scenes.push((scene, vec![r.relative_error])),
        }
    }
    let outside: Vec<f64> = sel
        .iter()
        .filter_map(|r| r.outside_relative_error)
        .collect();
    Total {
        images: sel.len(),
        scenes: scenes.len(),
        mae: mean(sel.iter().map(|r| r.error.abs())),
        mean_relative_error: mean(sel.iter().map(|r| r.relative_error)),
        mean_relative_error_per_scene: mean(scenes.iter().map(|(_, v)| mean(v.iter().copied()))),
        mean_outside_relative_error: (!outside.is_empty()).then(|| mean(outside.into_iter())),
        band_coverage: mean(sel.iter().map(|r| r.covered)),
        median_band_width: median(
            sel.iter()
                .map(|r| (r.band[1] - r.band[0]) / r.predicted.max(1e-9))
                .collect(),
        ),
        set,
        mode,
    }
}

/// How much the count moves with the analysis size, per image: the largest of its counts at
/// [`CONSISTENCY_FACTORS`] of the default size over the smallest (each count taken as at least one
/// person, so that an empty image does not divide by nothing).
#[derive(Debug, Clone, Serialize)]
pub struct Consistency {
    pub set: String,
    pub images: usize,
    pub median_ratio: f64,
    pub worst_ratio: f64,
    pub worst_file: String,
}

pub fn consistency(rows: &[Row]) -> Vec<Consistency> {
    let modes: Vec<String> = CONSISTENCY_FACTORS
        .iter()
        .map(|k| Mode::Default(*k).to_string())
        .collect();
    let mut per_image: Vec<(&str, &str, Vec<f64>)> = Vec::new();
    for r in rows.iter().filter(|r| modes.contains(&r.mode)) {
        match per_image
            .iter_mut()
            .find(|(s, f, _)| *s == r.set && *f == r.file)
        {
            Some((_, _, v)) => v.push(r.predicted.max(1.0)),
            None => per_image.push((&r.set, &r.file, vec![r.predicted.max(1.0)])),
        }
    }
    per_image.retain(|(_, _, v)| v.len() == modes.len());
    let ratio = |v: &[f64]| {
        v.iter().copied().fold(f64::MIN, f64::max) / v.iter().copied().fold(f64::MAX, f64::min)
    };
    let mut sets: Vec<&str> = per_image.iter().map(|(s, _, _)| *s).collect();
    sets.dedup();
    sets.push(ALL);
    sets.dedup();
    sets.into_iter()
        .filter_map(|set| {
            let sel: Vec<(&str, f64)> = per_image
                .iter()
                .filter(|(s, _, _)| set == ALL || *s == set)
                .map(|(_, f, v)| (*f, ratio(v)))
                .collect();
            let worst = sel.iter().copied().max_by(|a, b| a.1.total_cmp(&b.1))?;
            Some(Consistency {
                set: set.to_string(),
                images: sel.len(),
                median_ratio: median(sel.iter().map(|(_, r)| *r).collect()),
                worst_ratio: worst.1,
                worst_file: worst.0.to_string(),
            })
        })
        .collect()
}

fn pct(v: f64) -> String {
    if v.is_finite() {
        format!("{:.1} %", v * 100.0)
    } else {
        "-".into()
    }
}

/// The report as Markdown tables: per image, then totals, then (when measured) consistency.
pub fn markdown(rows: &[Row], totals: &[Total], consistency: &[Consistency]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| set | image | mode | analysis size | truth | predicted | error | relative error | band | outside the box |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    );
    for r in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {}x{} | {:.0} | {:.1} | {:+.1} | {:.0} % | {:.0}–{:.0}{} | {} |",
            r.set,
            r.file,
            r.mode,
            r.analysis_width,
            r.analysis_height,
            r.truth,
            r.predicted,
            r.error,
            r.relative_error * 100.0,
            r.band[0],
            r.band[1],
            if r.covered >= 1.0 {
                ""
            } else if r.covered <= 0.0 {
                " (misses)"
            } else {
                " (some miss)"
            },
            r.outside_relative_error
                .map(|e| format!("{:.0} %", e * 100.0))
                .unwrap_or_else(|| "-".into())
        );
    }
    let _ = writeln!(
        out,
        "\n| set | mode | images | scenes | MAE | mean abs. relative error | per scene | band holds the truth | band width (median) | outside the box |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    );
    for t in totals {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {:.1} | {} | {} | {:.0} % | {:.0} % | {} |",
            t.set,
            t.mode,
            t.images,
            t.scenes,
            t.mae,
            pct(t.mean_relative_error),
            pct(t.mean_relative_error_per_scene),
            t.band_coverage * 100.0,
            t.median_band_width * 100.0,
            t.mean_outside_relative_error
                .map(pct)
                .unwrap_or_else(|| "-".into())
        );
    }
    if !consistency.is_empty() {
        let _ = writeln!(
            out,
            "\nCount at 0.5x, 1x and 2x the default size: the largest over the smallest, per image.\n\n| set | images | median | worst | worst image |\n| --- | --- | --- | --- | --- |"
        );
        for c in consistency {
            let _ = writeln!(
                out,
                "| {} | {} | {:.2} | {:.2} | {} |",
                c.set, c.images, c.median_ratio, c.worst_ratio, c.worst_file
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_and_refuse_nonsense() {
        assert_eq!("default".parse(), Ok(Mode::Default(1.0)));
        assert_eq!("default:0.5".parse(), Ok(Mode::Default(0.5)));
        assert_eq!(Mode::Default(2.0).to_string(), "default:2");
        assert_eq!(Mode::Default(1.0).to_string(), "default");
        assert_eq!("scale:0.5".parse(), Ok(Mode::Scale(0.5)));
        assert_eq!("size:1280x720".parse(), Ok(Mode::Size(1280, 720)));
        assert_eq!("calibrated:25".parse(), Ok(Mode::Calibrated(25)));
        for bad in [
            "scale:9",
            "size:1x1",
            "calibrated:2",
            "auto",
            "scale:x",
            "default:0",
            "default:99",
        ] {
            assert!(bad.parse::<Mode>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_box_is_the_smallest_16_9_box_holding_n_people() {
        // People on a grid every 10 px.
        let points: Vec<[f64; 2]> = (0..50)
            .flat_map(|y| (0..90).map(move |x| [x as f64 * 10.0 + 5.0, y as f64 * 10.0 + 5.0]))
            .collect();
        let b = box_around(&points, [455.0, 255.0], 40, 900, 500);
        let held = points.iter().filter(|p| inside(b, **p)).count();
        assert!((40..60).contains(&held), "{held} in {b:?}");
        assert!((b[2] / b[3] - 16.0 / 9.0).abs() < 1e-6);
        // Near the edge the box is shifted inside the image.
        let b = box_around(&points, [2.0, 2.0], 40, 900, 500);
        assert!(b[0] >= 0.0 && b[1] >= 0.0, "{b:?}");
    }

    fn row(set: &str, scene: &str, truth: f64, predicted: f64) -> Row {
        Row {
            set: set.into(),
            file: format!("{scene}_{truth}_{predicted}"),
            scene: scene.into(),
            mode: "default".into(),
            truth,
            predicted,
            error: predicted - truth,
            relative_error: (predicted - truth).abs() / truth,
            outside_relative_error: None,
            analysis_width: 8,
            analysis_height: 8,
            boxes: 0,
            band: band(predicted, (0.5, 2.0)),
            covered: if predicted * 0.5 <= truth && truth <= predicted * 2.0 {
                1.0
            } else {
                0.0
            },
            agreed: Vec::new(),
        }
    }

    #[test]
    fn drift_against_a_baseline_is_judged_per_manifest_and_over_all() {
        // set, truth, baseline (FP32), predicted (INT8)
        let cases = [
            ("drone", 30.0, 30.0, 30.3),
            ("drone", 40.0, 40.0, 41.0),
            ("crowd/dense", 100.0, 100.0, 101.0),
            ("crowd/sparse", 5.0, 5.0, 5.4),
        ];
        let rows: Vec<Row> = cases.iter().map(|c| row(c.0, "s", c.1, c.3)).collect();
        let mut base: Vec<Row> = cases.iter().map(|c| row(c.0, "s", c.1, c.2)).collect();
        // The baseline's rows are matched by set, file and mode, not by position.
        base.reverse();
        for (b, c) in base.iter_mut().zip(cases.iter().rev()) {
            b.file = format!("s_{}_{}", c.1, c.3);
        }
        let d = drifts(&rows, &base);
        assert_eq!(d.len(), 4);
        assert!((d[1].drift - 0.025).abs() < 1e-9, "{:?}", d[1]);
        let t = drift_totals(&d);
        let get = |set: &str| t.iter().find(|t| t.set == set).unwrap();
        assert!(get("crowd").checked && !get("crowd/dense").checked && get(ALL).checked);
        assert_eq!(get("crowd").images, 2);
        assert!((get("drone").mean_drift - 0.0175).abs() < 1e-9);
        assert_eq!(get("drone").worst_file_many.as_deref(), Some("s_40_41"));
        // 8 % on an image with 5 people weighs on the mean only.
        assert_eq!(get("crowd").images_many, 1);
        // 8 % on an image of 20 people the model counts as 1.25: a tenth of a person, not judged.
        let small = [row("v", "s", 20.0, 1.35)];
        let small_base = [row("v", "s", 20.0, 1.25)];
        let mut small_base = small_base;
        small_base[0].file = small[0].file.clone();
        let st = drift_totals(&drifts(&small, &small_base));
        assert_eq!((st[0].images_many, st[0].max_drift_many), (1, None));
        let limits = DriftLimits {
            mean: Some(2.0),
            image: Some(5.0),
            error_increase: None,
        };
        let problems = check_drift(&t, &limits);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].starts_with("crowd (default): the count moved by 4.50 %"));
        assert!(
            problems[1].starts_with("all (default): the count moved by 3.1"),
            "{problems:?}"
        );
        let loose = DriftLimits {
            mean: Some(5.0),
            image: Some(2.0),
            error_increase: Some(1.0),
        };
        let problems = check_drift(&t, &loose);
        assert!(
            problems
                .iter()
                .any(|p| p.contains("s_40_41 moved by 2.50 %")),
            "{problems:?}"
        );
        assert!(
            problems.iter().any(|p| p.contains("points above")),
            "{problems:?}"
        );
        assert!(check_drift(&t, &DriftLimits::default()).is_empty());
        let md = drift_markdown(&d, &t, Precision::Fp32);
        assert!(
            md.contains("Against fp32") && md.contains("| +2.50 % |"),
            "{md}"
        );
    }

    #[test]
    fn totals_are_per_set_per_scene_over_all_and_over_crowded_images() {
        let rows = [
            row("a", "s1", 100.0, 150.0),
            row("a", "s1", 100.0, 150.0),
            row("a", "s1", 100.0, 150.0),
            row("b", "s2", 10.0, 9.0),
        ];
        let t = totals(&rows);
        let all = t.iter().find(|t| t.set == ALL).unwrap();
        assert_eq!((all.images, all.scenes), (4, 2));
        assert!((all.mae - 151.0 / 4.0).abs() < 1e-9);
        assert!((all.mean_relative_error - 1.6 / 4.0).abs() < 1e-9);
        // Three near-identical frames of one scene do not outweigh the other scene.
        assert!((all.mean_relative_error_per_scene - 0.3).abs() < 1e-9);
        assert_eq!(all.band_coverage, 1.0);
        assert!((all.median_band_width - 1.5).abs() < 1e-9);
        let many = t.iter().find(|t| t.set == ALL_MANY).unwrap();
        assert_eq!(many.images, 3, "only the images with 20 people or more");
        assert!((many.mean_relative_error - 0.5).abs() < 1e-9);
        let md = markdown(&rows, &t, &[]);
        assert!(
            md.contains("| all | default | 4 | 2 | 37.8 | 40.0 % | 30.0 % | 100 % | 150 % | - |"),
            "{md}"
        );
        // A band that misses the truth is counted and shown as missing.
        let t = totals(&[row("a", "s", 100.0, 20.0), row("a", "t", 100.0, 100.0)]);
        assert_eq!(t[0].band_coverage, 0.5);
        assert!(markdown(&[row("a", "s", 100.0, 20.0)], &t, &[]).contains("(misses)"));
    }

    #[test]
    fn the_fitted_range_holds_the_central_share_of_truth_over_count() {
        // Truth over count 0.5, 0.6, ..., 1.9 (15 images); plus one empty image, ignored.
        let mut rows: Vec<Row> = (0..15)
            .map(|i| {
                row(
                    "s",
                    &format!("{i}"),
                    10.0,
                    10.0 / (0.5 + 0.1 * f64::from(i)),
                )
            })
            .collect();
        rows.push(row("s", "empty", 0.0, 3.0));
        let (lo, hi) = fitted_range(&rows, 0.9).unwrap();
        // The central 90 % of 15 ratios drops none at 5 % of 14 = 0.7 (floor 0, ceil 14).
        assert_eq!((lo, hi), (0.5, 1.9));
        let (lo, hi) = fitted_range(&rows, 0.6).unwrap();
        // 20 % of 14 = 2.8: the 3rd ratio from each end, rounded outwards to 0.05.
        assert_eq!((lo, hi), (0.7, 1.7));
        // A model that always undercounts: the band still reaches the count itself.
        let under: Vec<Row> = (0..12)
            .map(|i| row("s", &format!("{i}"), 20.0, 10.0))
            .collect();
        assert_eq!(fitted_range(&under, 0.9), Some((1.0, 2.0)));
        // Too few images to say.
        assert_eq!(fitted_range(&rows[..9], 0.9), None);
    }

    #[test]
    fn the_fitted_calibrated_range_is_over_the_boxes_whose_check_agreed() {
        // Two calibrated images: 6 and 5 boxes whose check agreed, truth over count 1.0 to 2.0.
        let cal = |i: usize, agreed: Vec<f64>| Row {
            mode: Mode::Calibrated(25).to_string(),
            agreed,
            ..row("s", &format!("c{i}"), 30.0, 30.0)
        };
        let rows = vec![
            cal(0, vec![1.0, 1.1, 1.2, 1.3, 1.4, 1.5]),
            cal(1, vec![1.6, 1.7, 1.8, 1.9, 2.0]),
            // The default mode's rows do not count.
            row("s", "d", 90.0, 10.0),
        ];
        assert_eq!(fitted_calibrated_range(&rows, 0.9), Some((1.0, 2.0)));
        assert_eq!(fitted_calibrated_range(&rows, 0.6), Some((1.0, 1.8)));
        assert_eq!(fitted_calibrated_range(&rows[1..], 0.9), None, "5 boxes");
    }

    #[test]
    fn consistency_is_the_spread_of_counts_across_sizes() {
        let at = |mode: Mode, file: &str, predicted: f64| Row {
            mode: mode.to_string(),
            file: file.into(),
            ..row("a", "s", 100.0, predicted)
        };
        let rows = [
            at(Mode::Default(0.5), "x", 50.0),
            at(Mode::Default(1.0), "x", 100.0),
            at(Mode::Default(2.0), "x", 200.0),
            at(Mode::Default(0.5), "y", 90.0),
            at(Mode::Default(1.0), "y", 100.0),
            at(Mode::Default(2.0), "y", 110.0),
            // An empty image: counts below one person are taken as one.
            at(Mode::Default(0.5), "z", 0.0),
            at(Mode::Default(1.0), "z", 0.2),
            at(Mode::Default(2.0), "z", 1.5),
        ];
        let c = consistency(&rows);
        let all = c.iter().find(|c| c.set == ALL).unwrap();
        assert_eq!(all.images, 3);
        assert!((all.worst_ratio - 4.0).abs() < 1e-9);
        assert_eq!(all.worst_file, "x");
        assert!((all.median_ratio - 1.5).abs() < 1e-9, "{all:?}");
    }

    #[test]
    fn scenes_come_from_file_names_without_a_scene_column() {
        assert_eq!(scene_of("dronecrowd_seq011_4.jpg"), "dronecrowd_seq011");
        assert_eq!(scene_of("sub/IMG_12.jpg"), "IMG");
        assert_eq!(scene_of("1660114800.jpg"), "1660114800");
        assert_eq!(scene_of("frame_a.jpg"), "frame_a");
    }

    #[test]
    fn ignored_regions_become_masks_that_count_nothing() {
        let masks = ignore_masks(
            &[[0.0, 0.0, 50.0, 100.0], [90.0, 90.0, 50.0, 50.0]],
            100,
            100,
        );
        assert_eq!(masks.len(), 2);
        assert_eq!(
            masks[0].points,
            vec![[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]]
        );
        assert_eq!(masks[1].points[2], [1.0, 1.0], "clamped to the image");
        let mut map = crate::infer::DensityMap {
            width: 4,
            height: 2,
            values: vec![1.0; 8],
        };
        mask::apply(&mut map, &mask::weights(&masks[..1], 4, 2));
        assert!((map.count() - 4.0).abs() < 1e-6, "{}", map.count());
    }
}
