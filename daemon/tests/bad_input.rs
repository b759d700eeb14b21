//! Bad input of every kind gets a clear message, never a panic, and never takes the service down:
//! a missing or corrupt model, a missing ONNX Runtime, an unknown key, a wrong type, an
//! unreachable source, a file that is not video, a stream that is not H.264/H.265, a live stream
//! with audio and no video (RTMP), motion JPEG over RTSP, a corpus of broken files, and more idle
//! connections than the daemon has file descriptors.

mod common;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use common::*;

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn assert_no_panic(o: &Output) {
    let e = stderr(o);
    assert!(!e.contains("panicked"), "panicked:\n{e}");
    assert!(!e.contains("RUST_BACKTRACE"), "panicked:\n{e}");
}

fn check_config(toml: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), toml);
    bin()
        .arg("--config")
        .arg(&path)
        .arg("check-config")
        .output()
        .unwrap()
}

#[test]
fn unknown_key_and_wrong_type_are_refused_with_file_key_and_expectation() {
    let o = check_config("[model]\npaht = \"/x.onnx\"\n");
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(e.contains("skycount.toml: unknown key `model.paht`"), "{e}");
    assert!(e.contains("did you mean `path`?"), "{e}");
    assert_no_panic(&o);

    let o = check_config("[source]\nstall_ms = \"soon\"\n");
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(e.contains("skycount.toml"), "{e}");
    assert!(e.contains("`source.stall_ms`"), "{e}");
    assert!(e.contains("soon"), "{e}");
    assert_no_panic(&o);

    let o = bin()
        .args(["--config", "/nonexistent/skycount.toml", "check-config"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("/nonexistent/skycount.toml: cannot read"));

    // And a good file prints the effective configuration.
    let o = check_config("[server]\nlisten = \"127.0.0.1:8080\"\n");
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("listen = \"127.0.0.1:8080\""), "{out}");
    assert!(out.contains("[model]"), "{out}");
}

#[test]
fn missing_corrupt_model_and_missing_runtime_are_clear_for_analyze() {
    let img = tempfile::Builder::new().suffix(".png").tempfile().unwrap();
    image::RgbImage::from_pixel(64, 48, image::Rgb([90, 120, 30]))
        .save(img.path())
        .unwrap();
    let img = img.path().to_str().unwrap();

    let o = analyze(&["--model", "/nonexistent/csrnet.onnx", img], |_| {});
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("/nonexistent/csrnet.onnx does not exist"), "{e}");
    assert!(e.contains("models/make.sh"), "{e}");
    assert_no_panic(&o);

    let corrupt = tempfile::Builder::new().suffix(".onnx").tempfile().unwrap();
    std::fs::write(
        corrupt.path(),
        b"this is not a protobuf, it is a shopping list",
    )
    .unwrap();
    let o = analyze(&["--model", corrupt.path().to_str().unwrap(), img], |_| {});
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("is not a model ONNX Runtime can load"), "{e}");
    assert_no_panic(&o);

    let model = tiny_model();
    let o = analyze(&["--model", model.to_str().unwrap(), img], |c| {
        c.env("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so");
    });
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("ONNX Runtime could not be loaded"), "{e}");
    assert!(e.contains("/nonexistent/libonnxruntime.so"), "{e}");
    assert!(e.contains("ORT_DYLIB_PATH"), "{e}");
    assert_no_panic(&o);

    // The tiny model itself works on the same image.
    let o = analyze(&["--model", model.to_str().unwrap(), img], |_| {});
    assert!(o.status.success(), "{}", stderr(&o));
    let line: serde_json::Value =
        serde_json::from_slice(o.stdout.split(|&b| b == b'\n').next().unwrap()).unwrap();
    assert_eq!(line["input_width"], 64);
    assert!(line["count"].as_f64().is_some());
    assert!(line["inference_ms"].as_f64().unwrap() > 0.0);
}

#[test]
fn the_service_stays_up_and_reports_a_missing_model_and_runtime() {
    let port = free_port();
    let cfg = test_config(
        "rtmp://127.0.0.1:1/live/none",
        port,
        Path::new("/nonexistent/csrnet.onnx"),
        "",
    );
    let mut d = Daemon::start(&cfg);
    let reason = wait_for(Duration::from_secs(10), || {
        let (code, body) = d.get("/api/health").ok()?;
        let v: serde_json::Value = serde_json::from_slice(&body).ok()?;
        let r = v["reason"].as_str()?.to_string();
        (code == 503 && r.contains("does not exist")).then_some(r)
    })
    .expect("health does not report the missing model");
    assert!(reason.contains("/nonexistent/csrnet.onnx"), "{reason}");
    let status = d.status();
    assert!(
        status["model"]["error"]
            .as_str()
            .unwrap()
            .contains("models/make.sh"),
        "{status}"
    );
    assert!(d.proc.alive(), "a missing model must not stop the service");
    drop(d);

    let port = free_port();
    let cfg = test_config("rtmp://127.0.0.1:1/live/none", port, &tiny_model(), "");
    let mut d = Daemon::start_with(&cfg, |c| {
        c.env("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so");
    });
    wait_for(Duration::from_secs(10), || {
        let s = d.status();
        s["model"]["error"]
            .as_str()
            .filter(|e| e.contains("ONNX Runtime could not be loaded"))
            .map(|_| ())
    })
    .expect("status does not report the missing ONNX Runtime");
    assert!(d.proc.alive());
}

#[test]
fn an_unreachable_source_is_reported_and_retried() {
    let closed = free_port(); // nothing listens here
    let port = free_port();
    let url = format!("rtmp://127.0.0.1:{closed}/live/drone");
    let mut d = Daemon::start(&test_config(&url, port, &tiny_model(), ""));
    let status = wait_for(Duration::from_secs(10), || {
        let s = d.status();
        s["error"].as_str().is_some().then_some(s)
    })
    .expect("no error reported for an unreachable source");
    assert_eq!(status["state"], "waiting", "{status}");
    let err = status["error"].as_str().unwrap();
    assert!(err.contains(&format!("127.0.0.1:{closed}")), "{err}");
    std::thread::sleep(Duration::from_secs(2));
    let (_, metrics) = d.get("/metrics").unwrap();
    let metrics = String::from_utf8(metrics).unwrap();
    let attempts: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("skycount_source_reattaches_total "))
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(attempts >= 2.0, "retried: {attempts}");
    assert!(d.proc.alive());
}

#[test]
fn a_file_that_is_not_video_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let notes = dir.path().join("flight.mp4");
    std::fs::write(
        &notes,
        "pilot notes: wind 12 kt, battery 2 swapped at 14:05\n".repeat(50),
    )
    .unwrap();
    let url = format!("file://{}", notes.display());

    let e = refused_by_analyze_and_reported_by_the_daemon(&url, "flight.mp4");
    assert!(e.contains("flight.mp4"), "{e}");
    assert!(e.contains("text file"), "says what GStreamer found: {e}");
    assert!(
        e.contains("is it a video recording"),
        "says what is expected: {e}"
    );
}

/// `skycountd analyze URL` fails with a message and no panic; the daemon on the same URL stays up
/// and reports an error naming `in_status` in `/api/status`. Returns analyze's message.
fn refused_by_analyze_and_reported_by_the_daemon(url: &str, in_status: &str) -> String {
    let o = analyze(&["--model", tiny_model().to_str().unwrap(), url], |_| {});
    assert!(!o.status.success());
    assert_no_panic(&o);
    let port = free_port();
    let mut d = Daemon::start(&test_config(url, port, &tiny_model(), ""));
    let status = wait_for(Duration::from_secs(10), || {
        let s = d.status();
        s["error"].as_str().is_some().then_some(s)
    })
    .unwrap_or_else(|| panic!("no error reported in /api/status for {url}"));
    assert!(
        status["error"].as_str().unwrap().contains(in_status),
        "{status}"
    );
    assert!(d.proc.alive());
    stderr(&o)
}

#[test]
fn a_stream_that_is_not_h264_or_h265_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let vp8 = dir.path().join("vp8.webm");
    gst_launch(&format!(
        "videotestsrc num-buffers=30 ! video/x-raw,width=320,height=240,framerate=30/1 ! vp8enc ! webmmux ! filesink location={}",
        vp8.display()
    ));
    let url = format!("file://{}", vp8.display());

    let e = refused_by_analyze_and_reported_by_the_daemon(&url, "vp8");
    assert!(e.contains("vp8, not H.264 or H.265"), "{e}");
    assert!(e.contains("H.264"), "tells what to change: {e}");
}

#[test]
fn a_recorded_flight_is_analysed_by_the_analyze_command() {
    let dir = tempfile::tempdir().unwrap();
    let mp4 = dir.path().join("flight.mp4");
    gst_launch(&format!(
        "videotestsrc num-buffers=60 pattern=ball ! video/x-raw,width=640,height=360,framerate=30/1 ! x264enc bframes=0 key-int-max=30 ! h264parse ! mp4mux ! filesink location={}",
        mp4.display()
    ));
    // `analyze` on a video file path goes through the daemon's pipeline, newest frame first.
    let o = analyze(
        &[
            "--model",
            tiny_model().to_str().unwrap(),
            "--max",
            "3",
            mp4.to_str().unwrap(),
        ],
        |_| {},
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    for l in &lines {
        assert!(
            l["count"].as_f64().is_some() && l["inference_ms"].as_f64().is_some(),
            "{l}"
        );
        assert_eq!(l["input_width"], 640, "the model's configured size");
    }
}

#[test]
fn h265_recordings_are_decoded_too() {
    let dir = tempfile::tempdir().unwrap();
    let mkv = dir.path().join("flight-h265.mkv");
    gst_launch(&format!(
        "videotestsrc num-buffers=30 pattern=ball ! video/x-raw,width=640,height=360,framerate=30/1 ! x265enc speed-preset=ultrafast key-int-max=15 ! h265parse ! matroskamux ! filesink location={}",
        mkv.display()
    ));
    let port = free_port();
    let url = format!("file://{}", mkv.display());
    let d = Daemon::start(&test_config(&url, port, &tiny_model(), ""));
    let status = wait_for(Duration::from_secs(15), || {
        let s = d.status();
        (s["codec"] == "h265" && s["totals"]["frames_analysed"].as_u64() > Some(0)).then_some(s)
    })
    .unwrap_or_else(|| panic!("H.265 was not analysed: {}", d.status()));
    assert_decoder_for(&status, Codec::H265);
}

/// 1100 connections that send nothing, against a daemon limited to 1024 open files (a default
/// soft limit): health and the dashboard still answer at once, and the idle ones are closed.
/// Before the connection limits, every descriptor went to them and `/api/health` timed out for
/// as long as they stayed open.
#[test]
fn idle_connections_cannot_starve_health() {
    use std::io::Read;
    use std::os::unix::process::CommandExt;

    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    // This test holds 1100 sockets itself.
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    assert!(
        hard >= 2048,
        "the test needs 2048 open files (hard limit {hard})"
    );
    setrlimit(Resource::RLIMIT_NOFILE, hard, hard).unwrap();

    let port = free_port();
    let cfg = test_config("rtmp://127.0.0.1:1/live/none", port, &tiny_model(), "");
    let d = Daemon::start_with(&cfg, |c| {
        // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            c.pre_exec(|| {
                setrlimit(Resource::RLIMIT_NOFILE, 1024, 1024).map_err(std::io::Error::from)
            });
        }
    });
    // The box is up (daemon and model) while no drone streams: 200, and the stream's state.
    let health = wait_for(Duration::from_secs(30), || {
        let (code, body) = d.get("/api/health").ok()?;
        (code == 200).then(|| serde_json::from_slice::<serde_json::Value>(&body).unwrap())
    })
    .expect("health answers 200 once the model is loaded, stream or not");
    assert_eq!(health["ok"], true, "{health}");
    assert_ne!(health["stream"]["state"], "live", "{health}");

    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut idle = Vec::new();
    for _ in 0..1100 {
        match std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
            Ok(s) => idle.push(s),
            Err(e) => panic!("connection {} failed: {e}", idle.len()),
        }
    }
    let started = std::time::Instant::now();
    for path in ["/api/health", "/"] {
        let (code, body) = d
            .get(path)
            .unwrap_or_else(|e| panic!("{path} with 1100 idle connections open: {e}"));
        assert_eq!(code, 200, "{path}: {}", String::from_utf8_lossy(&body));
    }
    let took = started.elapsed();
    // A loaded 2-core machine answers in milliseconds; the bound is generous.
    assert!(took < Duration::from_secs(5), "health and / took {took:?}");
    eprintln!("health and the dashboard answered in {took:?} with 1100 idle connections open");

    // Idle connections are closed: the oldest to make room, every other after the 10 s given
    // to send a request.
    let first = &mut idle[0];
    first
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(
        first.read(&mut buf).unwrap_or(0),
        0,
        "an idle connection is closed"
    );
    let last = idle.last_mut().unwrap();
    last.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let closed_at = std::time::Instant::now();
    assert_eq!(last.read(&mut buf).unwrap_or(0), 0);
    assert!(closed_at.elapsed() < Duration::from_secs(25));
    drop(idle);
    assert_eq!(d.get("/api/health").unwrap().0, 200);
}

/// Waits for `/api/status` to carry an error containing `wanted`; returns the status.
fn status_error_containing(d: &Daemon, limit: Duration, wanted: &str) -> serde_json::Value {
    let mut last = serde_json::Value::Null;
    wait_for(limit, || {
        last = d.status();
        last["error"]
            .as_str()
            .is_some_and(|e| e.contains(wanted))
            .then(|| last.clone())
    })
    .unwrap_or_else(|| panic!("no error with {wanted:?} within {limit:?}: {last}"))
}

#[test]
fn a_live_stream_with_audio_and_no_video_says_so() {
    // Before: "waiting", then "reconnecting: the stream ended"; never what the stream was.
    let rtmp = RtmpServer::start();
    let url = rtmp.url("drone");
    let child = std::process::Command::new("gst-launch-1.0")
        .arg("-q")
        .args(
            format!(
                "audiotestsrc is-live=true wave=sine ! audioconvert ! avenc_aac ! aacparse \
                 ! flvmux streamable=true ! rtmp2sink location={url}"
            )
            .split_whitespace(),
        )
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("cannot start gst-launch-1.0");
    let _publisher = Proc {
        child,
        name: "audio publisher",
    };
    let port = free_port();
    let d = Daemon::start(&test_config(&url, port, &tiny_model(), ""));
    let status = status_error_containing(&d, Duration::from_secs(30), "no video track");
    let e = status["error"].as_str().unwrap();
    assert!(
        e.contains("only audio (AAC or MP3)"),
        "says what it is: {e}"
    );
    assert!(e.contains("H.264 video"), "says what is needed: {e}");
    assert_eq!(status["state"], "waiting", "{status}");
    assert!(
        status["codec"].is_null() && status["decoder"].is_null(),
        "{status}"
    );
    // Still said after the next attempts, not replaced by "no frame" or "ended".
    std::thread::sleep(Duration::from_secs(4));
    let status = d.status();
    assert!(
        status["error"]
            .as_str()
            .is_some_and(|e| e.contains("no video track")),
        "{status}"
    );
}

#[test]
fn motion_jpeg_over_rtsp_says_so() {
    // Before: the JPEG pad was dropped without a word, and the stream looked silent.
    let (_server, url) = rtsp_server(Some(
        "videotestsrc is-live=true ! video/x-raw,format=I420,width=320,height=240,framerate=10/1 \
         ! jpegenc ! rtpjpegpay name=pay0 pt=26",
    ));
    let port = free_port();
    let d = Daemon::start(&test_config(&url, port, &tiny_model(), ""));
    let status = status_error_containing(&d, Duration::from_secs(30), "MJPEG");
    let e = status["error"].as_str().unwrap();
    assert!(e.contains("not H.264 or H.265"), "{e}");
    assert!(e.contains("encoder to H.264"), "says what to change: {e}");
    assert!(d.status()["totals"]["frames_analysed"] == 0, "{status}");
}

/// Runs `skycountd analyze` on `file` with a time limit: (exit success, stderr).
fn analyze_within(file: &Path, limit: Duration) -> (bool, String) {
    let mut child = bin()
        .args([
            "analyze",
            "--model",
            tiny_model().to_str().unwrap(),
            "--max",
            "3",
        ])
        .arg(file)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("cannot run skycountd analyze");
    let status = wait_for(limit, || child.try_wait().ok().flatten());
    let Some(status) = status else {
        let _ = child.kill();
        panic!("analyze {} did not finish within {limit:?}", file.display());
    };
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    (status.success(), err)
}

#[test]
fn a_corpus_of_broken_recordings_gives_clear_errors_and_no_panic() {
    // Made here from one small gst-made recording (nothing big is committed): every way a file
    // handed to `analyze` (or set as source.url/demo_url) can be broken.
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.mp4");
    gst_launch(&format!(
        "videotestsrc num-buffers=30 pattern=ball ! video/x-raw,width=320,height=240,framerate=30/1 ! x264enc bframes=0 key-int-max=10 ! h264parse ! mp4mux ! filesink location={}",
        good.display()
    ));
    let es = dir.path().join("good.h264");
    gst_launch(&format!(
        "videotestsrc num-buffers=30 pattern=ball ! video/x-raw,width=320,height=240,framerate=30/1 ! x264enc bframes=0 key-int-max=10 ! h264parse ! video/x-h264,stream-format=byte-stream ! filesink location={}",
        es.display()
    ));
    let audio = dir.path().join("audio-only.mp4");
    gst_launch(&format!(
        "audiotestsrc num-buffers=40 ! audioconvert ! avenc_aac ! aacparse ! mp4mux ! filesink location={}",
        audio.display()
    ));
    let mp4 = std::fs::read(&good).unwrap();
    let h264 = std::fs::read(&es).unwrap();
    // A small deterministic generator: the same corpus every run.
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut noise = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect()
    };
    let mut corrupt = |bytes: &[u8]| -> Vec<u8> {
        let mut out = bytes.to_vec();
        let n = out.len();
        let junk = noise(n / 3);
        for (i, b) in junk.iter().enumerate().step_by(7) {
            out[n / 3 + i] ^= b | 1;
        }
        out
    };
    let corrupt_mp4 = corrupt(&mp4);
    let corrupt_h264 = corrupt(&h264);
    let mut huge = mp4.clone();
    // The sample entry claims 65535x65535 pictures (the stream's own SPS says 320x240).
    let at = huge
        .windows(4)
        .position(|w| w == b"avc1")
        .expect("an avc1 sample entry");
    huge[at + 28..at + 32].copy_from_slice(&[0xff; 4]);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty.mp4", Vec::new()),
        ("garbage.mp4", noise(200_000)),
        ("truncated-half.mp4", mp4[..mp4.len() / 2].to_vec()),
        ("truncated-head.mp4", mp4[..mp4.len().min(1024)].to_vec()),
        ("corrupt.mp4", corrupt_mp4),
        ("corrupt.h264", corrupt_h264),
        ("truncated.h264", h264[..h264.len() / 3].to_vec()),
        ("huge-dimensions.mp4", huge),
        ("audio-only.mp4", std::fs::read(&audio).unwrap()),
        (
            "text.mkv",
            b"1\n00:00:01,000 --> 00:00:02,000\nnot a video\n".repeat(100),
        ),
    ];
    let mut summary = Vec::new();
    for (name, bytes) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        let (ok, err) = analyze_within(&path, Duration::from_secs(120));
        assert!(!err.contains("panicked"), "{name}: panicked:\n{err}");
        assert!(!err.contains("RUST_BACKTRACE"), "{name}: panicked:\n{err}");
        if !ok {
            // A failure names the file and says something a person can act on, briefly.
            assert!(
                err.contains(name),
                "{name}: the error does not name the file:\n{err}"
            );
            assert!(
                err.lines().count() <= 20,
                "{name}: {} lines:\n{err}",
                err.lines().count()
            );
            assert!(
                err.lines().all(|l| l.chars().count() <= 600),
                "{name}: a long line:\n{err}"
            );
        }
        summary.push(if ok {
            format!("{name}: analysed")
        } else {
            format!(
                "{name}: refused: {}",
                err.lines().last().unwrap_or_default()
            )
        });
    }
    // Those with nothing decodable in them must fail, not "succeed" with no analysis.
    for name in [
        "empty.mp4",
        "garbage.mp4",
        "truncated-head.mp4",
        "audio-only.mp4",
        "text.mkv",
    ] {
        let line = summary.iter().find(|l| l.starts_with(name)).unwrap();
        assert!(line.contains(": refused: "), "{line}");
    }
    let line = summary
        .iter()
        .find(|l| l.starts_with("audio-only.mp4"))
        .unwrap();
    assert!(line.contains("no video track"), "{line}");
    // Subtitles alone are named as such, not taken for a file that never started.
    let line = summary.iter().find(|l| l.starts_with("text.mkv")).unwrap();
    assert!(line.contains("no video track, only subtitles"), "{line}");
    // The decoder's refusal says what the stream claimed, in words, not GStreamer's "Noformat".
    let line = summary
        .iter()
        .find(|l| l.starts_with("huge-dimensions.mp4"))
        .unwrap();
    if line.contains(": refused: ") {
        assert!(line.contains("65535x65535"), "{line}");
        assert!(!line.contains("Noformat"), "{line}");
    }
    eprintln!("{}", summary.join("\n"));
}
