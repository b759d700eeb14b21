//! Several drones on one model: analyses, interval and staleness per stream with 1, 2 and 3
//! live streams, in one run.
//!
//!   cargo bench --bench streams                     (60 s per step, the real model at 640x360)
//!   BENCH_SECONDS=120 BENCH_MODEL=… BENCH_PRECISION=fp32|int8|auto cargo bench --bench streams
//!
//! nginx-rtmp on loopback is fed by GStreamer x264 publishers (1280x720, 30 fps, like a drone's
//! app); the release `skycountd analyze` reads 1, then 2, then 3 of them at once. Printed per
//! step and stream: analyses per minute, the interval between two analyses of the stream
//! (median), staleness (the age of the analysed frame when its result is ready; median and
//! 95th percentile) and the model's time per analysis, then the ratios to the one-stream step.
//! The sharing is fair when every stream of a step has the same analyses per minute; the
//! physical limit is an interval of N inferences and a staleness of about one.

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;

fn median(v: &mut [f64]) -> f64 {
    pct(v, 0.5)
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * p).round() as usize]
}

#[derive(Default)]
struct Stream {
    at_ms: Vec<f64>,
    staleness: Vec<f64>,
    inference: Vec<f64>,
}

/// One step's figures per stream: (analyses/min, interval, staleness median, p95, inference).
type Row = (String, f64, f64, f64, f64, f64);

fn step(urls: &[String], config: &std::path::Path, seconds: u64) -> Vec<Row> {
    let mut child = bin()
        .env("MALLOC_ARENA_MAX", "2")
        .arg("--config")
        .arg(config)
        .arg("analyze")
        .args(urls)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("cannot run skycountd analyze");
    let out = BufReader::new(child.stdout.take().unwrap());
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in out.lines().map_while(Result::ok) {
            if tx.send((Instant::now(), line)).is_err() {
                return;
            }
        }
    });
    // The first 15 s are not counted: the model loads and every decoder attaches.
    let warm_until = Instant::now() + Duration::from_secs(15);
    let end = warm_until + Duration::from_secs(seconds);
    let mut per: BTreeMap<String, Stream> = BTreeMap::new();
    while let Ok((at, line)) = lines.recv_timeout(end.saturating_duration_since(Instant::now())) {
        if at > end {
            break;
        }
        if at < warm_until {
            continue;
        }
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        let s = per
            .entry(v["stream"].as_str().unwrap_or("?").into())
            .or_default();
        s.at_ms.push(v["wall_time_ms"].as_f64().unwrap_or(0.0));
        s.staleness
            .push(v["staleness_ms"].as_f64().unwrap_or(f64::NAN));
        s.inference
            .push(v["inference_ms"].as_f64().unwrap_or(f64::NAN));
    }
    let _ = child.kill();
    let _ = child.wait();
    per.into_iter()
        .map(|(name, mut s)| {
            let mut gaps: Vec<f64> = s.at_ms.windows(2).map(|w| w[1] - w[0]).collect();
            let per_min = s.at_ms.len() as f64 * 60.0 / seconds as f64;
            (
                name,
                per_min,
                median(&mut gaps),
                median(&mut s.staleness),
                pct(&mut s.staleness, 0.95),
                median(&mut s.inference),
            )
        })
        .collect()
}

fn main() {
    let seconds: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let model = std::env::var_os("BENCH_MODEL")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(real_model);
    let precision = std::env::var("BENCH_PRECISION").unwrap_or_else(|_| "auto".into());
    let rtmp = RtmpServer::start();
    let names = ["north", "stage", "park"];
    let urls: Vec<String> = names.iter().map(|n| rtmp.url(n)).collect();
    let _publishers: Vec<Proc> = urls.iter().map(|u| publish(u, 1280, 720, 30)).collect();
    wait_for(Duration::from_secs(30), || {
        (rtmp.publishes() >= 3).then_some(())
    })
    .expect("the publishers reach nginx");
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &format!(
            "[model]\npath = \"{}\"\nexecution_providers = [\"cpu\"]\nprecision = \"{precision}\"\n\
             [analysis]\nmax_streams = 3\n",
            model.display()
        ),
    );
    println!(
        "model {} ({precision}), 1280x720 30 fps streams, {seconds} s per step after 15 s of warm-up",
        model.display()
    );
    println!(
        "{:>7} {:>8} {:>12} {:>12} {:>14} {:>14} {:>12}",
        "streams",
        "stream",
        "analyses/min",
        "interval ms",
        "staleness ms",
        "staleness p95",
        "inference ms"
    );
    let mut first: Option<(f64, f64, f64)> = None;
    for n in 1..=3 {
        let rows = step(&urls[..n], &config, seconds);
        for (name, per_min, interval, stale, p95, inference) in &rows {
            println!(
                "{n:>7} {name:>8} {per_min:>12.1} {interval:>12.0} {stale:>14.0} {p95:>14.0} {inference:>12.0}"
            );
        }
        let mean = |f: fn(&Row) -> f64| rows.iter().map(f).sum::<f64>() / rows.len().max(1) as f64;
        let (per_min, interval, stale) = (mean(|r| r.1), mean(|r| r.2), mean(|r| r.3));
        let spread = rows.iter().map(|r| r.1).fold(f64::NAN, f64::max)
            / rows.iter().map(|r| r.1).fold(f64::NAN, f64::min);
        match first {
            None => first = Some((per_min, interval, stale)),
            Some((p1, i1, s1)) => println!(
                "{n} streams against 1: analyses per stream x{:.2} (fair: x{:.2}), interval x{:.2}, staleness x{:.2}; most/least analysed stream {spread:.2}",
                per_min / p1,
                1.0 / n as f64,
                interval / i1,
                stale / s1
            ),
        }
    }
}
