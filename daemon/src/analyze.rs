//! `skycountd analyze IMAGE|URL…`: the model on a still image or a stream, from the command line.
//!
//! Prints one JSON object per line per analysis. A still image is analysed at its own resolution
//! unless `--size` is given; a stream (rtmp://, rtsp://, file:// or a video file's path) goes
//! through the same pipeline as the daemon's, newest frame first, until it ends or `--max`
//! analyses have been printed.

use std::io::Write as _;
use std::path::Path;
use std::sync::{mpsc, Arc, RwLock};
use std::time::Instant;

use anyhow::{bail, Context as _};
use serde_json::json;

use crate::config::Settings;
use crate::daemon::{decode_options, worker_settings};
use crate::decode::{self, Control};
use crate::infer::Model;
use crate::publish::hub::Hub;
use crate::sample::LatestFrame;
use crate::worker;

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

/// Analyses a stream through the daemon's own pipeline.
pub async fn stream(settings: &Settings, url: &str, max: Option<u64>) -> anyhow::Result<()> {
    let mut settings = settings.clone();
    settings.source.url = match url.parse() {
        Ok(u) => crate::config::SourceSpec::Url(u),
        Err(e) => bail!("{e}"),
    };
    decode::init().map_err(anyhow::Error::msg)?;
    // Fail early and clearly when the model cannot load.
    drop(Model::load(&settings.model)?);

    let hub = Hub::new(url.to_string(), worker::report_for(&settings.model));
    let slot = LatestFrame::new();
    let (control, control_rx) = mpsc::channel();
    let source = {
        let (slot, hub) = (slot.clone(), hub.clone());
        let opts = decode_options(&settings, true);
        std::thread::spawn(move || {
            decode::supervise(opts, slot.clone(), hub, control_rx);
            slot.close();
        })
    };
    let stop = worker::Stop::new();
    let model = {
        let shared = Arc::new(RwLock::new(worker_settings(&settings)));
        let (slot, hub, stop) = (slot.clone(), hub.clone(), stop.clone());
        std::thread::spawn(move || worker::run(shared, slot, hub, stop))
    };

    let mut rx = hub.subscribe_analyses();
    let mut printed = 0u64;
    let mut last_error = None;
    loop {
        let changed =
            tokio::time::timeout(std::time::Duration::from_millis(200), rx.changed()).await;
        if let Some(a) = rx.borrow_and_update().clone() {
            if changed.is_ok() {
                println!("{}", serde_json::to_string(&*a)?);
                printed += 1;
            }
        }
        let stream = hub.stream();
        if stream.error != last_error {
            if let Some(e) = &stream.error {
                eprintln!("skycountd: {}: {e}", stream.state);
            }
            last_error = stream.error;
        }
        if max.is_some_and(|m| printed >= m) {
            break;
        }
        if model.is_finished() {
            // The last result may have landed after the wait above.
            if rx.has_changed().unwrap_or(false) {
                if let Some(a) = rx.borrow_and_update().clone() {
                    println!("{}", serde_json::to_string(&*a)?);
                    printed += 1;
                }
            }
            break;
        }
    }
    stop.stop();
    let _ = control.send(Control::Stop);
    slot.close();
    let _ = source.join();
    if let Some(e) = hub.model().error {
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
