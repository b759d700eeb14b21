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
//! - `default`: what the daemon does with this configuration and no calibration;
//! - `scale:S` (a fraction of the image's size), `size:WxH`;
//! - `calibrated:N`: the operator's calibration replayed from the ground truth. For each image,
//!   `--boxes` boxes are drawn (seeded): the smallest 16:9 box around a random person that holds
//!   at least N people; the people in it are the taps. The calibration is made exactly as the
//!   dashboard's (`Analyser::calibrate`), then the whole image is analysed with it. The error is
//!   reported on the whole image and outside the box (what the taps did not tell).
//!
//! Density maps are cached per image and analysis size within one run, so modes and boxes that
//! land on the same size cost one model run.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use rand::{RngExt as _, SeedableRng as _};
use serde::Serialize;

use crate::analyse::calibrate::Request;
use crate::analyse::{calibrate, Analyser, Density, Options, Setup};
use crate::config::Settings;
use crate::infer::Model;

/// One way of analysing.
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    Default,
    Scale(f64),
    Size(u32, u32),
    Calibrated(usize),
}

impl std::str::FromStr for Mode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "{s:?} is not a mode: use default, scale:S (0.05 to 4), size:WxH or calibrated:N ({} to {})",
                calibrate::MIN_TAPS,
                calibrate::MAX_TAPS
            )
        };
        match s.split_once(':') {
            None if s == "default" => Ok(Self::Default),
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
            Self::Default => write!(f, "default"),
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
}

/// One annotated image.
struct Item {
    set: String,
    file: String,
    path: PathBuf,
    truth: f64,
    points: Option<Vec<[f64; 2]>>,
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
}

#[derive(Debug, Clone, Serialize)]
pub struct Total {
    pub set: String,
    pub mode: String,
    pub images: usize,
    pub mae: f64,
    pub mean_relative_error: f64,
    pub mean_outside_relative_error: Option<f64>,
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
        items.push(Item {
            set,
            path: dir.join(&file),
            points: points.as_ref().and_then(|p| p.get(&file).cloned()),
            file,
            truth,
        });
    }
    Ok(items)
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
    cache: HashMap<(u32, u32), Density>,
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
            let d = self.analyser.density(&mut self.model, rgb, w, h, size)?;
            self.cache.insert(size, d);
        }
        Ok(&self.cache[&size])
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
    let needs_points = opts.modes.iter().any(|m| matches!(m, Mode::Calibrated(_)));
    if needs_points {
        if let Some(i) = items.iter().find(|i| i.points.is_none()) {
            bail!(
                "{}: calibrated modes need its points in gt_points.json beside the manifest",
                i.file
            );
        }
    }
    let model = Model::load(&settings.model)?;
    let mut analyser = Analyser::new(Options::from_settings(settings), Setup::default());
    analyser.set_model_scale(model.info().analysis_scale);
    let mut ev = Evaluator {
        model,
        analyser,
        cache: HashMap::new(),
    };
    let mut rows = Vec::new();
    for item in &items {
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
        for mode in &opts.modes {
            let row = |predicted: f64, size: (u32, u32), outside: Option<f64>, boxes: usize| Row {
                set: item.set.clone(),
                file: item.file.clone(),
                mode: mode.to_string(),
                truth: item.truth,
                predicted,
                error: predicted - item.truth,
                relative_error: (predicted - item.truth).abs() / item.truth.max(1.0),
                outside_relative_error: outside,
                analysis_width: size.0,
                analysis_height: size.1,
                boxes,
            };
            let size = match mode {
                Mode::Default => Some(ev.analyser.size_for(w, h)),
                Mode::Scale(s) => Some(crate::analyse::size_at(w, h, *s, u32::MAX)),
                Mode::Size(sw, sh) => Some((*sw, *sh)),
                Mode::Calibrated(_) => None,
            };
            if let Some(size) = size {
                let d = ev.density(rgb, w, h, size)?;
                rows.push(row(d.map.count(), d.size, None, 0));
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
            rows.push(r);
        }
        if !opts.json {
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
    let totals = totals(&rows);
    if opts.json {
        for r in &rows {
            println!("{}", serde_json::to_string(r)?);
        }
        for t in &totals {
            println!("{}", serde_json::to_string(t)?);
        }
    } else {
        print!("{}", markdown(&rows, &totals));
    }
    if let Some(max) = opts.max_error {
        for t in totals.iter().filter(|t| t.set == "all") {
            if t.mean_relative_error * 100.0 > max {
                bail!(
                    "mode {}: mean absolute relative error {:.1} % is above the limit {max} %",
                    t.mode,
                    t.mean_relative_error * 100.0
                );
            }
        }
    }
    Ok(totals)
}

/// Totals per set and mode, and over all sets ("all").
pub fn totals(rows: &[Row]) -> Vec<Total> {
    let mut keys: Vec<(String, String)> = Vec::new();
    for r in rows {
        for set in [r.set.clone(), "all".to_string()] {
            let k = (set, r.mode.clone());
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
    }
    keys.into_iter()
        .map(|(set, mode)| {
            let sel: Vec<&Row> = rows
                .iter()
                .filter(|r| r.mode == mode && (set == "all" || r.set == set))
                .collect();
            let n = sel.len() as f64;
            let outside: Vec<f64> = sel
                .iter()
                .filter_map(|r| r.outside_relative_error)
                .collect();
            Total {
                images: sel.len(),
                mae: sel.iter().map(|r| r.error.abs()).sum::<f64>() / n,
                mean_relative_error: sel.iter().map(|r| r.relative_error).sum::<f64>() / n,
                mean_outside_relative_error: (!outside.is_empty())
                    .then(|| outside.iter().sum::<f64>() / outside.len() as f64),
                set,
                mode,
            }
        })
        .collect()
}

/// The report as Markdown tables: per image, then totals.
pub fn markdown(rows: &[Row], totals: &[Total]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| set | image | mode | analysis size | truth | predicted | error | relative error | outside the box |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    );
    for r in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {}x{} | {:.0} | {:.1} | {:+.1} | {:.0} % | {} |",
            r.set,
            r.file,
            r.mode,
            r.analysis_width,
            r.analysis_height,
            r.truth,
            r.predicted,
            r.error,
            r.relative_error * 100.0,
            r.outside_relative_error
                .map(|e| format!("{:.0} %", e * 100.0))
                .unwrap_or_else(|| "-".into())
        );
    }
    let _ = writeln!(
        out,
        "\n| set | mode | images | MAE | mean abs. relative error | outside the box |\n| --- | --- | --- | --- | --- | --- |"
    );
    for t in totals {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.1} | {:.1} % | {} |",
            t.set,
            t.mode,
            t.images,
            t.mae,
            t.mean_relative_error * 100.0,
            t.mean_outside_relative_error
                .map(|e| format!("{:.1} %", e * 100.0))
                .unwrap_or_else(|| "-".into())
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_and_refuse_nonsense() {
        assert_eq!("default".parse(), Ok(Mode::Default));
        assert_eq!("scale:0.5".parse(), Ok(Mode::Scale(0.5)));
        assert_eq!("size:1280x720".parse(), Ok(Mode::Size(1280, 720)));
        assert_eq!("calibrated:25".parse(), Ok(Mode::Calibrated(25)));
        for bad in ["scale:9", "size:1x1", "calibrated:2", "auto", "scale:x"] {
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

    #[test]
    fn totals_are_per_set_and_over_all() {
        let row = |set: &str, truth, predicted| Row {
            set: set.into(),
            file: "f".into(),
            mode: "default".into(),
            truth,
            predicted,
            error: predicted - truth,
            relative_error: (predicted - truth).abs() / truth,
            outside_relative_error: None,
            analysis_width: 8,
            analysis_height: 8,
            boxes: 0,
        };
        let t = totals(&[row("a", 100.0, 150.0), row("b", 100.0, 90.0)]);
        let all = t.iter().find(|t| t.set == "all").unwrap();
        assert_eq!(all.images, 2);
        assert!((all.mae - 30.0).abs() < 1e-9);
        assert!((all.mean_relative_error - 0.3).abs() < 1e-9);
        assert!(markdown(&[], &t).contains("| all | default | 2 | 30.0 | 30.0 % | - |"));
    }
}
