//! Fault figures: what the real daemon does when the drone drops out again and again, when many
//! viewers watch for a long time, and when viewers stop reading. Prints figures; asserts only
//! that the daemon is still running (a dead daemon has no figures to give).
//!
//!   cargo bench --bench faults                      # churn, soak and slow, in turn
//!   BENCH_FAULT=churn BENCH_CYCLES=100 cargo bench --bench faults
//!   BENCH_FAULT=soak BENCH_SECONDS=3600 BENCH_CLIENTS=50 cargo bench --bench faults
//!   BENCH_FAULT=slow BENCH_SECONDS=300 BENCH_SLOW=20 cargo bench --bench faults
//!   BENCH_MODEL=models/out/csrnet.onnx BENCH_SIZE=160x96   (the defaults)
//!
//! Everything runs on loopback: nginx-rtmp as the media server, GStreamer x264 publishers, the
//! release skycountd with the real CSRNet at a small analysis size (so that a 2-core machine
//! analyses several frames a second), Socket.IO clients of rust_socketio.
//!
//! - **churn**: the publisher stops (a clean end of stream, or kill -9) and comes back after a
//!   gap of 0.5 s, 3 s or 10 s, cycling through the six combinations. Recovery is the time from
//!   the publisher's start to the first analysis after it (it includes the publisher's own
//!   start-up: x264 and the RTMP handshake, ~0.3 s).
//! - **soak**: one live stream, `BENCH_CLIENTS` Socket.IO clients; resident memory every 10 s,
//!   analyses per minute, errors and warnings in the daemon's log.
//! - **slow**: `BENCH_SLOW` WebSocket clients that join the Socket.IO namespace and then never
//!   read, more joining every 30 s, beside one normal client; resident memory over time and
//!   whether the normal client and `/api/health` still get their answers.

#[path = "../tests/common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use rust_socketio::{ClientBuilder, Payload, RawClient};

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn stats(v: &[f64]) -> String {
    if v.is_empty() {
        return "none".into();
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    format!(
        "min {:.2} s, median {:.2} s, max {:.2} s (n = {})",
        s[0],
        s[s.len() / 2],
        s[s.len() - 1],
        s.len()
    )
}

/// The daemon under test, its log in a file.
struct Under {
    daemon: Daemon,
    log: PathBuf,
    _logdir: tempfile::TempDir,
}

fn start_daemon(url: &str) -> Under {
    let model = std::env::var_os("BENCH_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(real_model);
    let (w, h) = std::env::var("BENCH_SIZE")
        .ok()
        .and_then(|s| {
            let (w, h) = s.split_once('x')?;
            Some((w.parse().ok()?, h.parse().ok()?))
        })
        .unwrap_or((160u32, 96u32));
    let port = free_port();
    let config = format!(
        "[source]\nurl = \"{url}\"\n\
         [model]\npath = \"{}\"\ninput_width = {w}\ninput_height = {h}\nexecution_providers = [\"cpu\"]\n\
         [analysis]\ngrid_width = {}\ngrid_height = {}\n\
         [server]\nlisten = \"127.0.0.1:{port}\"\nweb_dir = \"/nonexistent\"\n\
         [mediamtx]\nwatch = false\n[log]\nlevel = \"info\"\n",
        model.display(),
        w / 8,
        h / 8
    );
    let logdir = tempfile::tempdir().unwrap();
    let log = logdir.path().join("skycountd.log");
    let file = std::fs::File::create(&log).unwrap();
    let daemon = Daemon::start_with(&config, |c| {
        c.stderr(file);
    });
    println!(
        "daemon: model {} at {w}x{h}, source/backoff settings at their defaults",
        model.display()
    );
    Under {
        daemon,
        log,
        _logdir: logdir,
    }
}

/// Error and warning lines of the daemon's log: (errors, warnings, a few examples).
fn log_problems(log: &Path) -> (usize, usize, Vec<String>) {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let (mut errors, mut warnings, mut examples) = (0, 0, Vec::new());
    for line in text.lines() {
        let e = line.contains(" ERROR ") || line.contains("panicked");
        let w = line.contains(" WARN ");
        errors += e as usize;
        warnings += w as usize;
        if (e || w) && examples.len() < 5 {
            examples.push(line.chars().take(200).collect());
        }
    }
    (errors, warnings, examples)
}

fn report_log(under: &Under) {
    let (errors, warnings, examples) = log_problems(&under.log);
    println!("daemon log: {errors} error lines, {warnings} warning lines");
    for e in examples {
        println!("  {e}");
    }
}

/// A Socket.IO client recording when each analysis arrived.
fn listener(base: &str, seen: Arc<Mutex<Vec<Instant>>>) -> rust_socketio::client::Client {
    ClientBuilder::new(base)
        .transport_type(rust_socketio::TransportType::Websocket)
        .on("analysis", move |p: Payload, _: RawClient| {
            if let Payload::Text(_) = p {
                seen.lock().unwrap().push(Instant::now());
            }
        })
        .connect()
        .expect("Socket.IO client cannot connect")
}

/// A publisher that can be stopped cleanly (`-e`: SIGINT sends end-of-stream) or killed; its
/// stderr goes to `stderr` when given (churn keeps it to explain slow recoveries).
fn publisher(url: &str, w: u32, h: u32, fps: u32, stderr: Option<std::fs::File>) -> Proc {
    let pipeline = format!(
        "videotestsrc is-live=true pattern=ball ! video/x-raw,width={w},height={h},framerate={fps}/1 \
         ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={fps} bframes=0 \
         ! video/x-h264,profile=baseline ! h264parse ! flvmux streamable=true ! rtmp2sink location={url}"
    );
    let mut cmd = Command::new("gst-launch-1.0");
    if stderr.is_some() {
        // Warnings, and the RTMP client's connection steps with their times.
        cmd.env("GST_DEBUG", "*:2,rtmp2*:4");
    }
    let child = cmd
        .args(["-q", "-e"])
        .args(pipeline.split_whitespace())
        .stdout(Stdio::null())
        .stderr(stderr.map(Stdio::from).unwrap_or_else(Stdio::null))
        .spawn()
        .expect("cannot start gst-launch-1.0");
    Proc {
        child,
        name: "publisher",
    }
}

fn signal(p: &Proc, sig: nix::sys::signal::Signal) {
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(p.child.id() as i32), sig);
}

/// A recovery slower than this is explained in the output: the daemon's log and the
/// publisher's own messages over that cycle.
const SLOW_RECOVERY: f64 = 5.0;

fn churn() {
    let cycles: usize = env_or("BENCH_CYCLES", 100);
    let live_for = Duration::from_secs(2);
    println!(
        "== churn: {cycles} cycles, load average at start {}",
        load()
    );
    let rtmp = RtmpServer::start();
    let url = rtmp.url("drone");
    let mut under = start_daemon(&url);
    let pid = under.daemon.proc.child.id();
    let seen: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let client = listener(&under.daemon.base(), seen.clone());
    let rss_start = rss_mib(pid);
    let pubdir = tempfile::tempdir().unwrap();
    let gaps = [0.5, 3.0, 10.0];
    let mut by: Vec<((bool, f64), Vec<f64>)> = Vec::new();
    let mut rss_after: Vec<f64> = Vec::new();
    let mut slow: Vec<String> = Vec::new();
    let mut missed = 0;
    let started = Instant::now();
    for i in 0..cycles {
        let kill = i % 2 == 1;
        let gap = gaps[(i / 2) % 3];
        let what = if kill { "kill -9" } else { "a clean stop" };
        let log_from = std::fs::metadata(&under.log).map(|m| m.len()).unwrap_or(0);
        let publog = pubdir.path().join(format!("publisher-{i}.log"));
        let mut p = publisher(&url, 640, 360, 30, std::fs::File::create(&publog).ok());
        let t0 = Instant::now();
        let first = wait_for(Duration::from_secs(30), || {
            seen.lock()
                .unwrap()
                .iter()
                .rev()
                .find(|t| **t > t0)
                .copied()
        });
        let secs = first.map(|t| t.duration_since(t0).as_secs_f64());
        match secs {
            Some(secs) => match by.iter_mut().find(|(k, _)| *k == (kill, gap)) {
                Some((_, v)) => v.push(secs),
                None => by.push(((kill, gap), vec![secs])),
            },
            None => missed += 1,
        }
        if secs.is_none_or(|s| s > SLOW_RECOVERY) {
            // The cycle before this one ended with `what` (of cycle i - 1) and its gap.
            let prev = i.checked_sub(1).map(|j| {
                format!(
                    "{} and a {} s gap",
                    if j % 2 == 1 {
                        "kill -9"
                    } else {
                        "a clean stop"
                    },
                    gaps[(j / 2) % 3]
                )
            });
            slow.push(explain_slow(
                i,
                secs,
                prev.as_deref().unwrap_or("the first start"),
                &under.log,
                log_from,
                &publog,
            ));
        }
        std::thread::sleep(live_for);
        if kill {
            signal(&p, nix::sys::signal::Signal::SIGKILL);
        } else {
            signal(&p, nix::sys::signal::Signal::SIGINT);
        }
        let _ = wait_for(Duration::from_secs(5), || p.child.try_wait().ok().flatten());
        p.kill();
        let _ = std::fs::remove_file(&publog);
        assert!(
            under.daemon.proc.alive(),
            "skycountd exited during cycle {i} (after {what})"
        );
        std::thread::sleep(Duration::from_secs_f64(gap));
        rss_after.push(rss_mib(pid));
    }
    let all: Vec<f64> = by.iter().flat_map(|(_, v)| v.iter().copied()).collect();
    println!(
        "churn: {cycles} cycles in {:.0} s; the daemon never exited; recoveries missed (no analysis within 30 s): {missed}",
        started.elapsed().as_secs_f64()
    );
    println!("recovery, all: {}", stats(&all));
    println!("(each row: the cycle that follows the one that ended this way)");
    by.sort_by(|a, b| a.0 .1.total_cmp(&b.0 .1).then(a.0 .0.cmp(&b.0 .0)));
    for ((kill, gap), v) in &by {
        println!(
            "  after {} and a {gap} s gap: {}",
            if *kill { "kill -9" } else { "a clean stop" },
            stats(v)
        );
    }
    println!(
        "resident memory: {rss_start:.1} MiB at start; load average at end {}",
        load()
    );
    print_rss_per_cycle(&rss_after);
    for s in &slow {
        println!("{s}");
    }
    let _ = client.disconnect();
    report_log(&under);
}

/// Resident memory after each cycle: a few samples and the growth per cycle, fitted from the
/// tenth cycle on (the first pipelines and ONNX Runtime's arenas settle before that).
fn print_rss_per_cycle(rss: &[f64]) {
    let n = rss.len();
    let marks: Vec<String> = [1, 2, 5, 10, 25, 50, 75, 100, 200, 500]
        .into_iter()
        .filter(|&c| c <= n)
        .chain((n > 0).then_some(n))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .map(|c| format!("{c}: {:.1}", rss[c - 1]))
        .collect();
    println!("resident memory after cycle (MiB): {}", marks.join(", "));
    if n >= 20 {
        let pts: Vec<(f64, f64)> = (9..n).map(|i| (i as f64, rss[i])).collect();
        let k = pts.len() as f64;
        let (mx, my) = (
            pts.iter().map(|p| p.0).sum::<f64>() / k,
            pts.iter().map(|p| p.1).sum::<f64>() / k,
        );
        let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
        let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
        let peak = rss.iter().copied().fold(f64::MIN, f64::max);
        println!(
            "resident memory from cycle 10 to {n}: {:+.3} MiB per cycle (least squares), {:.1} -> {:.1} MiB, peak {peak:.1} MiB",
            sxy / sxx,
            rss[9],
            rss[n - 1]
        );
    }
}

/// What happened in a slow cycle: the daemon's log lines written during it and the publisher's
/// own messages (a few lines of each).
fn explain_slow(
    cycle: usize,
    secs: Option<f64>,
    after: &str,
    log: &Path,
    log_from: u64,
    publog: &Path,
) -> String {
    let text = std::fs::read(log).unwrap_or_default();
    let daemon = String::from_utf8_lossy(&text[(log_from as usize).min(text.len())..]).into_owned();
    let publisher = std::fs::read_to_string(publog).unwrap_or_default();
    let lines = |t: &str| -> String {
        t.lines()
            .take(25)
            .map(|l| format!("    {}\n", l.chars().take(220).collect::<String>()))
            .collect()
    };
    format!(
        "slow cycle {cycle} (after {after}): {}\n  daemon log during it:\n{}  publisher:\n{}",
        match secs {
            Some(s) => format!("first analysis after {s:.2} s"),
            None => "no analysis within 30 s".into(),
        },
        lines(&daemon),
        lines(&publisher)
    )
}

fn soak() {
    let seconds: u64 = env_or("BENCH_SECONDS", 3600);
    let clients: usize = env_or("BENCH_CLIENTS", 50);
    println!(
        "== soak: {seconds} s, {clients} Socket.IO clients, 640x360 15 fps H.264; load average at start {}",
        load()
    );
    let rtmp = RtmpServer::start();
    let url = rtmp.url("drone");
    let mut under = start_daemon(&url);
    let pid = under.daemon.proc.child.id();
    let _publisher = publisher(&url, 640, 360, 15, None);
    let seen: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let first = listener(&under.daemon.base(), seen.clone());
    wait_for(Duration::from_secs(60), || {
        (!seen.lock().unwrap().is_empty()).then_some(())
    })
    .expect("no analysis within 60 s");
    let received = Arc::new(AtomicU64::new(0));
    let others: Vec<_> = (1..clients)
        .map(|_| {
            let r = received.clone();
            ClientBuilder::new(under.daemon.base())
                .transport_type(rust_socketio::TransportType::Websocket)
                .on("analysis", move |_: Payload, _: RawClient| {
                    r.fetch_add(1, Ordering::Relaxed);
                })
                .connect()
                .expect("Socket.IO client cannot connect")
        })
        .collect();
    // Memory from here: every client connected and the first analyses made.
    std::thread::sleep(Duration::from_secs(10));
    let started = Instant::now();
    let analyses_before = seen.lock().unwrap().len();
    let received_before = received.load(Ordering::Relaxed);
    let mut samples: Vec<(f64, f64)> = Vec::new();
    while started.elapsed() < Duration::from_secs(seconds) {
        samples.push((started.elapsed().as_secs_f64(), rss_mib(pid)));
        std::thread::sleep(Duration::from_secs(10));
        assert!(under.daemon.proc.alive(), "skycountd exited");
    }
    samples.push((started.elapsed().as_secs_f64(), rss_mib(pid)));
    let times: Vec<Instant> = seen.lock().unwrap()[analyses_before..].to_vec();
    let minutes = seconds.div_ceil(60);
    let per_minute: Vec<usize> = (0..minutes)
        .map(|m| {
            let (a, b) = (
                started + Duration::from_secs(m * 60),
                started + Duration::from_secs((m + 1) * 60),
            );
            times.iter().filter(|t| **t >= a && **t < b).count()
        })
        .collect();
    let (rss0, rss1) = (samples[0].1, samples[samples.len() - 1].1);
    let peak = samples.iter().map(|s| s.1).fold(f64::NAN, f64::max);
    println!(
        "resident memory: {rss0:.1} MiB at start, {rss1:.1} MiB at end ({:+.1} %), peak {peak:.1} MiB",
        (rss1 - rss0) / rss0 * 100.0
    );
    let mins: Vec<String> = samples
        .iter()
        .filter(|(t, _)| (*t as u64).is_multiple_of(300) || *t as u64 % 300 < 10)
        .map(|(t, r)| format!("{:.0} min {r:.1}", t / 60.0))
        .collect();
    println!("  every ~5 min: {}", mins.join(", "));
    println!("analyses per minute (client 1): {per_minute:?}");
    let lo = per_minute.iter().min().copied().unwrap_or(0);
    let hi = per_minute.iter().max().copied().unwrap_or(0);
    println!(
        "  min {lo}, max {hi}; the other {} clients received {} analyses in all ({:.1} % of {} x {})",
        clients - 1,
        received.load(Ordering::Relaxed) - received_before,
        (received.load(Ordering::Relaxed) - received_before) as f64
            / ((clients - 1) as f64 * times.len().max(1) as f64)
            * 100.0,
        clients - 1,
        times.len()
    );
    println!("load average at end {}", load());
    for c in others {
        let _ = c.disconnect();
    }
    let _ = first.disconnect();
    report_log(&under);
}

/// A WebSocket client that joins the Socket.IO namespace and then reads nothing, ever.
fn silent_client(port: u16) -> Option<TcpStream> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    // The smallest receive buffer: the daemon's writes back up at once.
    let _ = nix::sys::socket::setsockopt(&s, nix::sys::socket::sockopt::RcvBuf, &4096);
    write!(
        s,
        "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
         Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n"
    )
    .ok()?;
    let mut reader = BufReader::new(s.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    if !line.contains("101") {
        return None;
    }
    loop {
        line.clear();
        reader.read_line(&mut line).ok()?;
        if line == "\r\n" {
            break;
        }
    }
    // One masked text frame, "40": join the namespace "/".
    let mask = [1u8, 2, 3, 4];
    let payload: Vec<u8> = b"40"
        .iter()
        .enumerate()
        .map(|(i, b)| b ^ mask[i % 4])
        .collect();
    let mut frame = vec![0x81, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend_from_slice(&payload);
    s.write_all(&frame).ok()?;
    Some(s)
}

fn slow() {
    let seconds: u64 = env_or("BENCH_SECONDS", 300);
    let n: usize = env_or("BENCH_SLOW", 20);
    println!(
        "== slow: {seconds} s, {n} clients that never read (+5 every 30 s), one normal client; load average at start {}",
        load()
    );
    let rtmp = RtmpServer::start();
    let url = rtmp.url("drone");
    let mut under = start_daemon(&url);
    let pid = under.daemon.proc.child.id();
    let port = under.daemon.port;
    let _publisher = publisher(&url, 640, 360, 15, None);
    let seen: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let normal = listener(&under.daemon.base(), seen.clone());
    wait_for(Duration::from_secs(60), || {
        (!seen.lock().unwrap().is_empty()).then_some(())
    })
    .expect("no analysis within 60 s");
    std::thread::sleep(Duration::from_secs(10));
    let baseline = rss_mib(pid);
    let mut silent: Vec<TcpStream> = (0..n).filter_map(|_| silent_client(port)).collect();
    println!(
        "resident memory before the silent clients: {baseline:.1} MiB; {} joined",
        silent.len()
    );
    let started = Instant::now();
    let mut samples = Vec::new();
    let mut health_worst = Duration::ZERO;
    while started.elapsed() < Duration::from_secs(seconds) {
        std::thread::sleep(Duration::from_secs(10));
        let t = started.elapsed().as_secs();
        if t % 30 < 10 {
            silent.extend((0..5).filter_map(|_| silent_client(port)));
        }
        let asked = Instant::now();
        let ok = under.daemon.get("/api/health").is_ok();
        health_worst = health_worst.max(asked.elapsed());
        let recent = seen
            .lock()
            .unwrap()
            .iter()
            .filter(|x| x.elapsed() < Duration::from_secs(10))
            .count();
        samples.push((t, rss_mib(pid), ok, recent));
        assert!(under.daemon.proc.alive(), "skycountd exited");
    }
    for (t, rss, ok, recent) in &samples {
        println!(
            "  {t:>4} s: {rss:6.1} MiB, health answered {ok}, normal client got {recent} analyses in the last 10 s"
        );
    }
    let peak = samples.iter().map(|s| s.1).fold(f64::NAN, f64::max);
    let end = samples.last().map(|s| s.1).unwrap_or(f64::NAN);
    println!(
        "slow: {} silent connections opened; resident memory {baseline:.1} MiB before, peak {peak:.1} MiB, {end:.1} MiB at end; slowest /api/health {:.0} ms; load average at end {}",
        silent.len(),
        health_worst.as_secs_f64() * 1000.0,
        load()
    );
    let _ = normal.disconnect();
    report_log(&under);
}

fn main() {
    // `cargo bench` passes --bench; nothing else is read from the command line.
    let which = std::env::var("BENCH_FAULT").unwrap_or_else(|_| "all".into());
    if which == "churn" || which == "all" {
        churn();
    }
    if which == "soak" || which == "all" {
        soak();
    }
    if which == "slow" || which == "all" {
        slow();
    }
}
