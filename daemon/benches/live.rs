//! Staleness, memory and CPU of the real daemon on a live 1280x720 30 fps stream.
//!
//!   cargo bench --bench live                      (5 minutes, the real model at 640x360)
//!   BENCH_SECONDS=60 BENCH_MODEL=… BENCH_PRECISION=fp32|int8|auto cargo bench --bench live
//!
//! A real RTMP server (nginx-rtmp) on loopback is fed by a GStreamer x264 publisher; the release
//! skycountd reads it. Printed: staleness (age of the analysed frame when its result is ready)
//! per minute, to show it stays flat, against the 1.2 x inference + 100 ms target; resident
//! memory at steady state (with `MALLOC_ARENA_MAX=2`, as skycountd.service sets it); CPU time
//! by thread group (decode = GStreamer's threads, model = the model thread and ONNX Runtime's
//! pool, which inherits its name).

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use rust_socketio::{ClientBuilder, Payload, RawClient};

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * p).round() as usize]
}

/// CPU seconds per thread name, from /proc.
fn cpu_by_thread(pid: u32) -> BTreeMap<String, f64> {
    let tick = 100.0; // USER_HZ on Linux
    let mut out = BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for t in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(t.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = stat[open + 1..close].to_string();
        let f: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        let (u, s): (f64, f64) = (f[11].parse().unwrap_or(0.0), f[12].parse().unwrap_or(0.0));
        *out.entry(name).or_insert(0.0) += (u + s) / tick;
    }
    out
}

fn group(name: &str) -> &'static str {
    match name {
        "model" => "model (ONNX Runtime)",
        n if n.starts_with("tokio") || n == "skycountd" => "server and other",
        _ => "decode (GStreamer)",
    }
}

fn main() {
    let seconds: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    let model = std::env::var_os("BENCH_MODEL")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(real_model);
    // `model.precision`: the daemon's default (auto: the INT8 twin beside the model on a CPU when
    // its checks passed) unless BENCH_PRECISION says otherwise.
    let precision = std::env::var("BENCH_PRECISION").unwrap_or_else(|_| "auto".into());
    let rtmp = RtmpServer::start();
    let url = rtmp.url("drone");
    let port = free_port();
    let config = format!(
        "[source]\nurl = \"{url}\"\n[model]\npath = \"{}\"\nexecution_providers = [\"cpu\"]\n\
         precision = \"{precision}\"\n[server]\nlisten = \"127.0.0.1:{port}\"\nweb_dir = \"/nonexistent\"\n[log]\nlevel = \"warn\"\n",
        model.display()
    );
    // As skycountd.service runs it: glibc's malloc with two arenas, not one per thread.
    let daemon = Daemon::start_with(&config, |c| {
        c.env("MALLOC_ARENA_MAX", "2");
    });
    let pid = daemon.proc.child.id();
    let _publisher = publish(&url, 1280, 720, 30);

    let seen: Arc<Mutex<Vec<(Instant, serde_json::Value)>>> = Arc::default();
    let s = seen.clone();
    let client = ClientBuilder::new(daemon.base())
        .transport_type(rust_socketio::TransportType::Websocket)
        .on("analysis", move |p: Payload, _: RawClient| {
            if let Payload::Text(v) = p {
                s.lock().unwrap().push((Instant::now(), v[0].clone()));
            }
        })
        .connect()
        .expect("Socket.IO");

    let started = Instant::now();
    let warmup = Duration::from_secs(30.min(seconds / 5));
    let mut rss = Vec::new();
    let mut cpu_start = None;
    println!(
        "live bench: {seconds} s of 1280x720 30 fps H.264, model {}",
        model.display()
    );
    while started.elapsed() < Duration::from_secs(seconds) {
        std::thread::sleep(Duration::from_secs(5));
        if started.elapsed() >= warmup {
            rss.push(rss_mib(pid));
            if cpu_start.is_none() {
                cpu_start = Some((Instant::now(), cpu_by_thread(pid)));
            }
        }
    }
    let cpu_end = (Instant::now(), cpu_by_thread(pid));
    let _ = client.disconnect();
    let status = daemon.status();

    let events = seen.lock().unwrap().clone();
    println!("analyses: {}", events.len());
    println!(
        "{:>6} {:>9} {:>16} {:>16} {:>16} {:>12}",
        "minute", "analyses", "staleness med", "staleness p95", "staleness max", "inference"
    );
    let minutes = seconds.div_ceil(60);
    let mut all_stale = Vec::new();
    let mut all_inf = Vec::new();
    for m in 0..minutes {
        let (a, b) = (
            Duration::from_secs(m * 60),
            Duration::from_secs((m + 1) * 60),
        );
        let mut st: Vec<f64> = Vec::new();
        let mut inf: Vec<f64> = Vec::new();
        for (t, e) in &events {
            let at = t.duration_since(started);
            if at >= a && at < b {
                st.push(e["staleness_ms"].as_f64().unwrap());
                inf.push(e["inference_ms"].as_f64().unwrap());
            }
        }
        all_stale.extend(st.iter().copied());
        all_inf.extend(inf.iter().copied());
        let n = st.len();
        println!(
            "{:>6} {:>9} {:>13.0} ms {:>13.0} ms {:>13.0} ms {:>9.0} ms",
            m + 1,
            n,
            median(&mut st.clone()),
            pct(&mut st.clone(), 0.95),
            st.iter().copied().fold(f64::NAN, f64::max),
            median(&mut inf)
        );
    }
    let lag: Vec<f64> = events
        .iter()
        .map(|(_, e)| e["staleness_ms"].as_f64().unwrap() - e["inference_ms"].as_f64().unwrap())
        .collect();
    println!(
        "staleness - inference (the frame's wait beyond the model run): median {:.1} ms, p95 {:.1} ms, max {:.1} ms",
        median(&mut lag.clone()),
        pct(&mut lag.clone(), 0.95),
        lag.iter().copied().fold(f64::NAN, f64::max)
    );
    let inf = median(&mut all_inf);
    let target = 1.2 * inf + 100.0;
    println!(
        "staleness overall: median {:.0} ms, p95 {:.0} ms; target 1.2 x inference ({inf:.0} ms) + 100 ms = {target:.0} ms",
        median(&mut all_stale.clone()),
        pct(&mut all_stale, 0.95)
    );
    println!(
        "model file {}, precision {} ({})",
        status["model"]["file"], status["model"]["precision"], status["model"]["precision_reason"]
    );
    println!(
        "frames: decoded {}, skipped {}, analysed {}",
        status["totals"]["frames_decoded"],
        status["totals"]["frames_skipped"],
        status["totals"]["frames_analysed"]
    );
    println!(
        "resident memory at steady state: median {:.0} MiB (samples every 5 s after {} s)",
        median(&mut rss),
        warmup.as_secs()
    );
    if let Some((t0, c0)) = cpu_start {
        let wall = cpu_end.0.duration_since(t0).as_secs_f64();
        let mut groups: BTreeMap<&str, f64> = BTreeMap::new();
        let mut threads: Vec<(f64, &str)> = Vec::new();
        for (name, secs) in &cpu_end.1 {
            let used = secs - c0.get(name).copied().unwrap_or(0.0);
            *groups.entry(group(name)).or_insert(0.0) += used;
            threads.push((used, name));
        }
        threads.sort_by(|a, b| b.0.total_cmp(&a.0));
        let busiest: Vec<String> = threads
            .iter()
            .take(8)
            .map(|(used, name)| format!("{name} {:.1}%", used / wall * 100.0))
            .collect();
        println!("busiest threads: {}", busiest.join(", "));
        for (g, secs) in groups {
            println!("cpu {g:<22} {:6.1} % of one core", secs / wall * 100.0);
        }
    }
}
