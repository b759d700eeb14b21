//! Does a software update slow the count? Analyses per minute of the real daemon on a live
//! 1280x720 30 fps stream with the real model, with nothing else going on, while bundles are
//! uploaded (each refused after the upload: only the upload's cost), and while they are uploaded
//! and installed by RAUC (into a loop-device slot of the test bed).
//!
//!   sudo -E cargo bench --bench update           (60 s a phase, 300 MB bundles)
//!   BENCH_PHASE_S=120 BENCH_BUNDLE_MB=500 BENCH_MODEL=… sudo -E cargo bench --bench update
//!
//! Uploads go over loopback as fast as the daemon takes them: the worst case (a phone on the
//! hotspot sends a few MB/s). Needs root and what the update tests need (scripts/rauc-testbed).
//! Printed: each phase's analyses per minute, its ratio to the quiet phase, the uploads' and
//! installs' count and throughput, and the model's median inference time per phase.

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;

const PIN: &str = "update-bench-pin";

fn analysed(d: &Daemon) -> (u64, f64) {
    let s = d.status();
    (
        s["totals"]["frames_analysed"].as_u64().unwrap_or(0),
        s["last_inference_ms"].as_f64().unwrap_or(f64::NAN),
    )
}

struct Phase {
    name: &'static str,
    per_minute: f64,
    inference_ms: f64,
    uploads: u64,
    bytes: u64,
    installs: u64,
}

/// Counts analyses for `seconds` while `load` runs in a thread (until the phase ends).
fn phase(
    d: &Daemon,
    name: &'static str,
    seconds: u64,
    load: impl FnOnce(Arc<AtomicBool>, Arc<AtomicU64>, Arc<AtomicU64>, Arc<AtomicU64>) + Send + 'static,
) -> Phase {
    let stop = Arc::new(AtomicBool::new(false));
    let (uploads, bytes, installs) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let worker = {
        let (stop, uploads, bytes, installs) = (
            stop.clone(),
            uploads.clone(),
            bytes.clone(),
            installs.clone(),
        );
        std::thread::spawn(move || load(stop, uploads, bytes, installs))
    };
    let (n0, _) = analysed(d);
    let t0 = Instant::now();
    let mut inference = Vec::new();
    while t0.elapsed() < Duration::from_secs(seconds) {
        std::thread::sleep(Duration::from_secs(2));
        let (_, ms) = analysed(d);
        if ms.is_finite() {
            inference.push(ms);
        }
    }
    let (n1, _) = analysed(d);
    let elapsed = t0.elapsed().as_secs_f64();
    stop.store(true, Ordering::SeqCst);
    let _ = worker.join();
    inference.sort_by(|a, b| a.total_cmp(b));
    Phase {
        name,
        per_minute: (n1 - n0) as f64 * 60.0 / elapsed,
        inference_ms: inference
            .get(inference.len() / 2)
            .copied()
            .unwrap_or(f64::NAN),
        uploads: uploads.load(Ordering::SeqCst),
        bytes: bytes.load(Ordering::SeqCst),
        installs: installs.load(Ordering::SeqCst),
    }
}

fn main() {
    let phase_s: u64 = env_or("BENCH_PHASE_S", 60);
    let bundle_mb: u64 = env_or("BENCH_BUNDLE_MB", 300);
    let model = std::env::var_os("BENCH_MODEL")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(real_model);
    let slot_mb = (bundle_mb + 64).to_string();
    let tb = Testbed::up_with(&[("TESTBED_SLOT_MB", &slot_mb)]);
    println!("update bench: building two {bundle_mb} MB bundles");
    let payload_kb = (bundle_mb * 1000) as u32;
    let good = std::fs::read(tb.bundle("9.0.0", "skycount-testbed", "dev", payload_kb)).unwrap();
    let refused =
        std::fs::read(tb.bundle("9.0.1", "skycount-testbed", "stranger", payload_kb)).unwrap();

    let rtmp = RtmpServer::start();
    let url = rtmp.url("drone");
    let port = free_port();
    let state = tempfile::tempdir().unwrap();
    let config = format!(
        "[source]\nurl = \"{url}\"\n[model]\npath = \"{}\"\nexecution_providers = [\"cpu\"]\n\
         [server]\nlisten = \"127.0.0.1:{port}\"\nweb_dir = \"/nonexistent\"\n[log]\nlevel = \"warn\"\n\
         [analysis]\nstate_dir = \"{s}/analysis\"\n{}\
         [update]\nrauc_config = \"{}\"\ndir = \"{s}/update\"\nusb_dir = \"\"\nmax_bundle_mb = {}\n",
        model.display(),
        operator_section(PIN, state.path()),
        tb.env["RAUC_CONF"],
        bundle_mb * 2,
        s = state.path().display(),
    );
    let envs = tb.envs();
    let daemon = Arc::new(Daemon::start_with(&config, |c| {
        c.envs(envs);
    }));
    let _publisher = publish(&url, 1280, 720, 30);
    let cookie = sign_in(&daemon, PIN);
    println!(
        "update bench: {phase_s} s a phase, 1280x720 30 fps H.264, model {}, {} MB bundles",
        model.display(),
        good.len() / 1_000_000
    );
    // Warm up: the stream live and the model running.
    wait_for(Duration::from_secs(120), || {
        (analysed(&daemon).0 >= 5).then_some(())
    })
    .expect("no analyses");
    std::thread::sleep(Duration::from_secs(15));

    let mut phases = Vec::new();
    phases.push(phase(&daemon, "quiet", phase_s, |_, _, _, _| {}));
    {
        let (d, c, body) = (daemon.clone(), cookie.clone(), refused.clone());
        phases.push(phase(
            &daemon,
            "uploading",
            phase_s,
            move |stop, uploads, bytes, _| {
                while !stop.load(Ordering::SeqCst) {
                    let (code, answer) = put_bundle(&d, &c, "bench.raucb", &body, false);
                    assert_eq!(
                        code, 422,
                        "the stranger's bundle is refused after its upload: {answer}"
                    );
                    uploads.fetch_add(1, Ordering::SeqCst);
                    bytes.fetch_add(body.len() as u64, Ordering::SeqCst);
                }
            },
        ));
    }
    {
        let (d, c, body) = (daemon.clone(), cookie.clone(), good.clone());
        phases.push(phase(
            &daemon,
            "uploading and installing",
            phase_s,
            move |stop, uploads, bytes, installs| {
                while !stop.load(Ordering::SeqCst) {
                    let (code, answer) = put_bundle(&d, &c, "bench.raucb", &body, false);
                    assert_eq!(code, 202, "{answer}");
                    uploads.fetch_add(1, Ordering::SeqCst);
                    bytes.fetch_add(body.len() as u64, Ordering::SeqCst);
                    let done = wait_for(Duration::from_secs(600), || {
                        let r = d.get_json("/api/update");
                        (r["activity"]["state"] == "installed" || r["activity"]["state"] == "idle")
                            .then_some(r)
                    })
                    .expect("the install ended");
                    assert_eq!(done["activity"]["state"], "installed", "{done}");
                    installs.fetch_add(1, Ordering::SeqCst);
                }
            },
        ));
    }
    let quiet = phases[0].per_minute;
    println!();
    println!("| phase | analyses/min | ratio to quiet | median inference ms | uploads | MB/s uploaded | installs |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for p in &phases {
        println!(
            "| {} | {:.1} | {:.3} | {:.0} | {} | {:.0} | {} |",
            p.name,
            p.per_minute,
            p.per_minute / quiet,
            p.inference_ms,
            p.uploads,
            p.bytes as f64 / 1e6 / phase_s as f64,
            p.installs
        );
    }
}
