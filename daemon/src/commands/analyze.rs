//! `skycountd analyze IMAGE|URL…`: the model on a still image or a stream, from the command line.
//!
//! Prints one JSON object per line per analysis. A still image is analysed at its own resolution
//! unless `--size` is given; a stream (rtmp://, rtsp://, file:// or a video file's path) goes
//! through the same pipeline as the daemon's, newest frame first, until it ends or `--max`
//! analyses have been printed. Several streams are analysed at once, sharing the model in turns.

use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use serde_json::json;

use crate::config::Settings;
use std::collections::HashMap;

use crate::engine::{Engine, EngineOptions};
use crate::event::{self, Event};
use crate::infer::Model;
use crate::sample::StreamId;
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

/// Analyses streams through the daemon's own engine, printing each analysis as it comes. Several
/// streams are analysed at once, taking turns on the one model as the daemon's drones do (at
/// most `analysis.max_streams`); each line says its `stream` (the URL's path, made a name).
/// `max` caps the analyses printed per stream; it ends when every stream has had them, or has
/// ended (a file) or failed.
pub async fn streams(settings: &Settings, urls: &[String], max: Option<u64>) -> anyhow::Result<()> {
    let parsed = urls
        .iter()
        .map(|u| SourceUrl::parse(u).with_context(|| format!("cannot analyse {u}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let limit = settings.analysis.max_streams as usize;
    if parsed.len() > limit {
        bail!(
            "{} streams given, {limit} at most share the model (analysis.max_streams): \
             raise it in the configuration or analyse fewer at once",
            parsed.len()
        );
    }
    let names = stream_names(&parsed);
    let Some((first, rest)) = parsed.split_first() else {
        return Ok(());
    };
    let mut opts = EngineOptions::from_settings(settings, true);
    opts.decode.url = first.clone();
    opts.model.alerts.stream = names[0].to_string();
    // A recording analysed on purpose needs no stand-in.
    opts.decode.demo = None;
    crate::decode::pipeline::init().map_err(anyhow::Error::msg)?;
    // Fail early and clearly when the model cannot load.
    drop(Model::load(&settings.model)?);

    let (sink, mut events) = event::channel();
    let engine = Engine::start(opts, sink)?;
    for (url, name) in rest.iter().zip(&names[1..]) {
        engine
            .add_stream(name.clone(), url.clone())
            .map_err(anyhow::Error::msg)?;
    }
    let mut printed: HashMap<StreamId, u64> = names.iter().map(|n| (n.clone(), 0)).collect();
    let mut last_error: HashMap<StreamId, String> = HashMap::new();
    let mut model_error = None;
    // The channel closes when every stage has ended (the recordings are done, or failed).
    while let Some(e) = events.recv().await {
        match e {
            Event::Analysed { analysis, .. } => {
                let n = printed.entry(analysis.stream.clone()).or_default();
                if max.is_some_and(|m| *n >= m) {
                    continue;
                }
                println!("{}", serde_json::to_string(&*analysis)?);
                *n += 1;
                if max.is_some_and(|m| printed.values().all(|n| *n >= m)) {
                    break;
                }
            }
            Event::Stream { stream, report } => match report.error {
                Some(e) if last_error.get(&stream) != Some(&e) => {
                    let label = if names.len() > 1 {
                        format!("{stream}: ")
                    } else {
                        String::new()
                    };
                    eprintln!("skycountd: {label}{}: {e}", report.state);
                    last_error.insert(stream, e);
                }
                _ => {}
            },
            Event::Model(report) => model_error = report.error.or(model_error),
            _ => {}
        }
    }
    engine.shutdown(Duration::from_secs(2)).await;
    if let Some(e) = model_error {
        bail!("{e}");
    }
    let silent: Vec<String> = urls
        .iter()
        .zip(&names)
        .filter(|(_, n)| printed.get(*n).is_none_or(|p| *p == 0))
        .map(|(url, n)| match last_error.get(n) {
            Some(e) => format!("{url}: no frame was analysed ({e})"),
            None => format!("{url}: no frame was analysed"),
        })
        .collect();
    if !silent.is_empty() {
        bail!("{}", silent.join("; "));
    }
    Ok(())
}

/// Each stream's name: its URL's path made a name (`live_north`), numbered when two are alike.
fn stream_names(urls: &[SourceUrl]) -> Vec<StreamId> {
    let mut names: Vec<StreamId> = Vec::new();
    for url in urls {
        let key = crate::store::stream_key(url);
        let mut name = key.clone();
        let mut n = 1;
        while names.iter().any(|s| s.as_str() == name) {
            n += 1;
            name = format!("{key}-{n}");
        }
        names.push(StreamId::new(name));
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_named_by_their_path_and_numbered_when_alike() {
        let urls: Vec<SourceUrl> = [
            "rtmp://127.0.0.1/live/north",
            "rtmp://10.0.0.2/live/north",
            "rtsp://127.0.0.1:8554/live/south",
        ]
        .iter()
        .map(|u| SourceUrl::parse(u).unwrap())
        .collect();
        let names: Vec<String> = stream_names(&urls).iter().map(|n| n.to_string()).collect();
        assert_eq!(names, ["live_north", "live_north-2", "live_south"]);
    }
}
