//! `skycountd analyze IMAGE|URL…`: the model on a still image or a stream, from the command line.
//!
//! Prints one JSON object per line per analysis. A still image is analysed at its own resolution
//! unless `--size` is given; a stream (rtmp://, rtsp://, file:// or a video file's path) goes
//! through the same pipeline as the daemon's, newest frame first, until it ends or `--max`
//! analyses have been printed.

use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use serde_json::json;

use crate::config::Settings;
use crate::engine::{Engine, EngineOptions};
use crate::event::{self, Event};
use crate::infer::Model;
use crate::source::SourceUrl;

/// What to analyse.
pub enum Input {
    Image(std::path::PathBuf),
    Stream(String),
}

impl Input {
    /// A URL is a stream; a path is an image when it decodes as one, else a video file.
    pub fn classify(arg: &str) -> anyhow::Result<Self> {
        if arg.contains("://") {
            return Ok(Self::Stream(arg.to_string()));
        }
        let path = Path::new(arg);
        let reader = image::ImageReader::open(path)
            .with_context(|| format!("cannot open {arg}"))?
            .with_guessed_format()
            .with_context(|| format!("cannot read {arg}"))?;
        if reader.format().is_some() {
            Ok(Self::Image(path.to_path_buf()))
        } else {
            let abs = std::fs::canonicalize(path).with_context(|| format!("cannot open {arg}"))?;
            Ok(Self::Stream(format!("file://{}", abs.display())))
        }
    }
}

/// Analyses still images with one model load.
pub fn images(
    settings: &Settings,
    paths: &[std::path::PathBuf],
    size: Option<(u32, u32)>,
) -> anyhow::Result<()> {
    let mut model = Model::load(&settings.model)?;
    let mut out = std::io::stdout().lock();
    for path in paths {
        let img = image::ImageReader::open(path)
            .with_context(|| format!("cannot open {}", path.display()))?
            .with_guessed_format()?
            .decode()
            .with_context(|| format!("{} is not an image skycountd can decode", path.display()))?
            .to_rgb8();
        let img = match size {
            Some((w, h)) if (w, h) != img.dimensions() => {
                image::imageops::resize(&img, w, h, image::imageops::FilterType::Triangle)
            }
            _ => img,
        };
        let (w, h) = img.dimensions();
        let started = Instant::now();
        let (density, took) = model.run(img.as_raw(), w, h)?;
        let grid = density.to_grid(settings.analysis.grid_width, settings.analysis.grid_height);
        let line = json!({
            "input": path.display().to_string(),
            "count": density.count(),
            "inference_ms": took.as_secs_f64() * 1000.0,
            "total_ms": started.elapsed().as_secs_f64() * 1000.0,
            "input_width": w,
            "input_height": h,
            "density_width": density.width,
            "density_height": density.height,
            "execution_provider": model.provider().name(),
            "density": grid,
        });
        writeln!(out, "{line}")?;
    }
    Ok(())
}

/// Analyses a stream through the daemon's own engine, printing each analysis as it comes.
pub async fn stream(settings: &Settings, url: &str, max: Option<u64>) -> anyhow::Result<()> {
    let mut opts = EngineOptions::from_settings(settings, true);
    opts.decode.url = SourceUrl::parse(url)?;
    // A recording analysed on purpose needs no stand-in.
    opts.decode.demo = None;
    crate::decode::pipeline::init().map_err(anyhow::Error::msg)?;
    // Fail early and clearly when the model cannot load.
    drop(Model::load(&settings.model)?);

    let (sink, mut events) = event::channel();
    let engine = Engine::start(opts, sink)?;
    let mut printed = 0u64;
    let mut last_error = None;
    let mut model_error = None;
    // The channel closes when both stages have ended (the recording is done, or failed).
    while let Some(e) = events.recv().await {
        match e {
            Event::Analysed { analysis, .. } => {
                println!("{}", serde_json::to_string(&*analysis)?);
                printed += 1;
                if max.is_some_and(|m| printed >= m) {
                    break;
                }
            }
            Event::Stream(report) if report.error != last_error => {
                if let Some(e) = &report.error {
                    eprintln!("skycountd: {}: {e}", report.state);
                }
                last_error = report.error;
            }
            Event::Model(report) => model_error = report.error.or(model_error),
            _ => {}
        }
    }
    engine.shutdown(Duration::from_secs(2)).await;
    if let Some(e) = model_error {
        bail!("{e}");
    }
    if printed == 0 {
        bail!(
            "{url}: no frame was analysed{}",
            last_error.map(|e| format!(" ({e})")).unwrap_or_default()
        );
    }
    Ok(())
}
