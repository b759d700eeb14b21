//! Life as a systemd service: READY, STATUS and WATCHDOG reach $NOTIFY_SOCKET; SIGHUP applies a
//! changed source without a restart (and refuses a broken file, keeping the running one); SIGTERM
//! stops within 2 s.

mod common;

use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use common::*;

fn hup(d: &Daemon) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(d.proc.child.id() as i32),
        nix::sys::signal::Signal::SIGHUP,
    )
    .unwrap();
}

#[test]
fn notifies_systemd_ready_status_and_watchdog() {
    let dir = tempfile::tempdir().unwrap();
    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();

    let port = free_port();
    let cfg = test_config("rtmp://127.0.0.1:1/live/none", port, &tiny_model(), "");
    let mut d = Daemon::start_with(&cfg, |c| {
        c.env("NOTIFY_SOCKET", &sock_path);
        c.env("WATCHDOG_USEC", "400000"); // pings every 200 ms
    });

    let mut got: Vec<String> = Vec::new();
    let end = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 4096];
    while Instant::now() < end {
        if let Ok(n) = sock.recv(&mut buf) {
            got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        let all = got.join("\n");
        if all.contains("READY=1")
            && all.matches("WATCHDOG=1").count() >= 2
            && all.contains("STATUS=stream")
        {
            break;
        }
    }
    let all = got.join("\n");
    assert!(all.contains("READY=1"), "{all}");
    assert!(all.matches("WATCHDOG=1").count() >= 2, "{all}");
    assert!(all.contains("STATUS=stream waiting"), "{all}");

    let (exit, took) = d
        .proc
        .terminate(Duration::from_secs(5))
        .expect("stops on SIGTERM");
    assert!(exit.success());
    assert!(took <= Duration::from_secs(2), "{} ms", took.as_millis());
    let mut tail = String::new();
    while let Ok(n) = sock.recv(&mut buf) {
        tail.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(tail.contains("STOPPING=1"), "{tail}");
}

#[test]
fn sighup_applies_a_new_source_and_keeps_the_running_one_on_a_bad_file() {
    let rtmp = RtmpServer::start();
    let url = rtmp.url("drone");
    let _publisher = publish(&url, 640, 360, 30);
    let port = free_port();
    let closed = free_port();
    let before = format!("rtmp://127.0.0.1:{closed}/live/drone");
    let mut d = Daemon::start(&test_config(&before, port, &tiny_model(), ""));
    assert_eq!(d.status()["state"], "waiting");

    // A broken file is refused; the daemon keeps running with what it had.
    let cfg_path = d.dir.path().join("skycount.toml");
    std::fs::write(&cfg_path, "[source]\nurl = 5\n").unwrap();
    hup(&d);
    std::thread::sleep(Duration::from_millis(500));
    assert!(d.proc.alive(), "a bad reload must not stop the daemon");
    assert!(d.status()["source"]
        .as_str()
        .unwrap()
        .contains(&closed.to_string()));

    // The new source is attached without a restart.
    std::fs::write(&cfg_path, test_config(&url, port, &tiny_model(), "")).unwrap();
    hup(&d);
    let status = wait_for(Duration::from_secs(15), || {
        let s = d.status();
        (s["state"] == "live").then_some(s)
    })
    .unwrap_or_else(|| panic!("the reloaded source did not go live: {}", d.status()));
    assert_eq!(status["source"], url.as_str());
    assert!(d.proc.alive());
}

#[test]
fn sigterm_interrupts_a_long_model_run_and_stops_within_2_s() {
    // The real model takes seconds per run on a small CPU: stopping must not wait for it.
    let rtmp = RtmpServer::start();
    let url = rtmp.url("drone");
    let _publisher = publish(&url, 640, 360, 30);
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("stderr.log");
    let cfg = test_config(&url, port, &real_model(), "")
        .replace("input_width = 320", "input_width = 640")
        .replace("input_height = 176", "input_height = 352");
    let mut d = Daemon::start_with(&cfg, |c| {
        c.stderr(std::fs::File::create(&log).unwrap());
    });
    // Wait for one analysis, then stop while the next run is in progress.
    wait_for(Duration::from_secs(60), || {
        (d.status()["totals"]["frames_analysed"].as_u64() >= Some(1)).then_some(())
    })
    .expect("no analysis with the real model");
    std::thread::sleep(Duration::from_millis(300));
    let (exit, took) = d.proc.terminate(Duration::from_secs(10)).expect("stops");
    let stderr = std::fs::read_to_string(&log).unwrap();
    assert!(exit.success(), "{exit}\n{stderr}");
    assert!(
        took <= Duration::from_secs(2),
        "stopping took {} ms",
        took.as_millis()
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        !stderr.contains("ERROR"),
        "a clean stop logs no error:\n{stderr}"
    );
}

#[test]
fn a_source_wedged_in_a_gstreamer_call_starves_the_watchdog() {
    // A FIFO nobody writes: GStreamer's filesrc blocks in open() and the source thread with it.
    // The thread is alive; it makes no progress. systemd must be told (no more WATCHDOG=1).
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("wedge.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let log = dir.path().join("stderr.log");
    let port = free_port();
    let cfg = test_config(
        &format!("file://{}", fifo.display()),
        port,
        &tiny_model(),
        "",
    );
    let mut d = Daemon::start_with(&cfg, |c| {
        c.env("NOTIFY_SOCKET", &sock_path);
        c.env("WATCHDOG_USEC", "2000000"); // pings every second; 2 s of silence is stuck
        c.stderr(std::fs::File::create(&log).unwrap());
    });
    // Pings may come while the model loads and before the source has been silent for 2 s; after
    // that, none. Watch for 8 s and find the last ping.
    let started = Instant::now();
    let mut last_ping = None;
    let end = started + Duration::from_secs(8);
    let mut buf = [0u8; 4096];
    while Instant::now() < end {
        if let Ok(n) = sock.recv(&mut buf) {
            if String::from_utf8_lossy(&buf[..n]).contains("WATCHDOG=1") {
                last_ping = Some(started.elapsed());
            }
        }
    }
    let stderr = std::fs::read_to_string(&log).unwrap();
    let last = last_ping.unwrap_or_default();
    assert!(
        last < Duration::from_secs(5),
        "WATCHDOG=1 still sent {} ms after start with a wedged source:\n{stderr}",
        last.as_millis()
    );
    assert!(
        stderr.contains("the source thread has not moved"),
        "says why:\n{stderr}"
    );
    assert!(d.proc.alive(), "systemd, not skycountd, decides to restart");
    // Stopping does not wait for the wedged thread forever.
    let (exit, took) = d.proc.terminate(Duration::from_secs(5)).expect("stops");
    assert!(exit.success(), "{exit}");
    assert!(took <= Duration::from_secs(3), "{} ms", took.as_millis());
}

#[test]
fn sighup_switches_the_model_on_a_live_stream_and_refuses_a_broken_one() {
    let rtmp = RtmpServer::start();
    let url = rtmp.url("drone");
    let _publisher = publish(&url, 640, 360, 30);
    let port = free_port();
    let mut d = Daemon::start(&test_config(&url, port, &tiny_model(), ""));
    let analysed = |d: &Daemon| {
        d.status()["totals"]["frames_analysed"]
            .as_u64()
            .unwrap_or(0)
    };
    wait_for(Duration::from_secs(30), || {
        (analysed(&d) >= 3).then_some(())
    })
    .expect("no analyses on the live stream");

    // Another model file (a copy: same contract), applied while frames flow.
    let other = d.dir.path().join("other.onnx");
    std::fs::copy(tiny_model(), &other).unwrap();
    let cfg_path = d.dir.path().join("skycount.toml");
    std::fs::write(&cfg_path, test_config(&url, port, &other, "")).unwrap();
    let before = analysed(&d);
    hup(&d);
    let switched_at = wait_for(Duration::from_secs(15), || {
        let s = d.status();
        (s["model"]["path"] == other.display().to_string()).then(|| analysed(&d))
    })
    .unwrap_or_else(|| panic!("the new model was not switched in: {}", d.status()));
    assert!(
        switched_at <= before + 3,
        "switched after {} analyses on a live stream (within one, plus the status's lag)",
        switched_at - before
    );
    wait_for(Duration::from_secs(15), || {
        (analysed(&d) >= switched_at + 2).then_some(())
    })
    .expect("the new model does not count");

    // A broken model: refused, the running one keeps counting, the status says why.
    let broken = d.dir.path().join("broken.onnx");
    std::fs::write(&broken, b"not a model").unwrap();
    std::fs::write(&cfg_path, test_config(&url, port, &broken, "")).unwrap();
    hup(&d);
    let status = wait_for(Duration::from_secs(15), || {
        let s = d.status();
        s["model"]["reload_error"].is_string().then_some(s)
    })
    .unwrap_or_else(|| panic!("the refusal is not in the status: {}", d.status()));
    assert!(
        status["model"]["reload_error"]
            .as_str()
            .unwrap()
            .contains("broken.onnx"),
        "{status}"
    );
    assert_eq!(status["model"]["path"], other.display().to_string());
    assert_eq!(status["model"]["error"], serde_json::Value::Null);
    let now = analysed(&d);
    wait_for(Duration::from_secs(15), || {
        (analysed(&d) >= now + 2).then_some(())
    })
    .expect("the running model stopped counting after a refused reload");
    assert_eq!(d.get("/api/health").unwrap().0, 200);
    assert!(d.proc.alive());
}
