//! What a hostile viewer (or a careless tool) sends, against the real daemon on loopback: none of
//! it may exhaust the box or get past its checks (issue 22).
//!
//! - The `Host` header: missing or repeated answers `400`; `0.0.0.0` is not one of the box's
//!   names.
//! - The CSRF check compares the whole `Origin` (scheme, host, port) and refuses one it cannot
//!   read.
//! - An invalid calibration is refused from its shape alone, before the frozen frame is decoded
//!   or the engine asked; frozen frames are capped (`analysis.max_frozen_frames`) and answered
//!   `Cache-Control: no-store`.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;

const PIN: &str = "hostile-test-pin";

/// A source nothing answers on: the daemon serves without analysing.
fn nowhere() -> String {
    format!("rtmp://127.0.0.1:{}/live/none", free_port())
}

/// Sends `request` as it is and returns the answer's status line.
fn raw(port: u16, request: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !answer.windows(2).any(|w| w == b"\r\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or("")
        .to_string()
}

#[test]
fn the_host_must_be_one_and_the_box_s_and_the_origin_wholly_the_box_s() {
    let state = tempfile::tempdir().unwrap();
    let port = free_port();
    let d = Daemon::start(&test_config(
        &nowhere(),
        port,
        &tiny_model(),
        &operator_section(PIN, state.path()),
    ));
    let get = |host_lines: &str, version: &str| {
        raw(
            port,
            &format!("GET /api/status HTTP/{version}\r\n{host_lines}Connection: close\r\n\r\n"),
        )
    };
    let ok = format!("Host: 127.0.0.1:{port}\r\n");
    assert!(get(&ok, "1.1").contains(" 200 "), "the box's own address");
    assert!(
        get("", "1.1").contains(" 400 "),
        "no Host: {}",
        get("", "1.1")
    );
    assert!(
        get("", "1.0").contains(" 400 "),
        "no Host in HTTP/1.0 either"
    );
    let twice = format!("{ok}Host: evil.example\r\n");
    assert!(
        get(&twice, "1.1").contains(" 400 "),
        "two Hosts: {}",
        get(&twice, "1.1")
    );
    let unspecified = format!("Host: 0.0.0.0:{port}\r\n");
    assert!(
        get(&unspecified, "1.1").contains(" 421 "),
        "0.0.0.0 is nobody's name: {}",
        get(&unspecified, "1.1")
    );

    // A change from a page whose origin is not the box's own is refused, session or not.
    let cookie = sign_in(&d, PIN);
    let change = |origin: &[u8]| {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let body = br#"{"masks": []}"#;
        let mut req = format!(
            "PUT /api/operator/masks HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nCookie: {cookie}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\nOrigin: ",
            body.len()
        )
        .into_bytes();
        req.extend_from_slice(origin);
        req.extend_from_slice(b"\r\n\r\n");
        req.extend_from_slice(body);
        s.write_all(&req).unwrap();
        let mut answer = String::new();
        let _ = s.read_to_string(&mut answer);
        answer.lines().next().unwrap_or("").to_string()
    };
    let own = format!("http://127.0.0.1:{port}");
    assert!(
        change(own.as_bytes()).contains(" 200 "),
        "{}",
        change(own.as_bytes())
    );
    for foreign in [
        format!("evil://127.0.0.1:{port}"),
        format!("https://127.0.0.1:{port}"),
        format!("http://127.0.0.1:{}", port.wrapping_add(1)),
        "null".to_string(),
        "http://évil.example".to_string(),
        format!("http://127.0.0.1:{port}\u{00e9}"),
    ] {
        let line = change(foreign.as_bytes());
        assert!(line.contains(" 403 "), "Origin {foreign:?}: {line}");
    }
    // Bytes that are not text at all.
    let line = change(b"http://\xff\xfe.example");
    assert!(line.contains(" 403 "), "{line}");
}

/// A 1920x1080 recording (a drone's native size), looping as the daemon's source.
fn clip_1080(dir: &Path) -> PathBuf {
    let clip = dir.join("flight-1080.mp4");
    gst_launch(&format!(
        "videotestsrc num-buffers=30 pattern=snow ! video/x-raw,width=1920,height=1080,framerate=15/1 ! x264enc bframes=0 key-int-max=15 speed-preset=ultrafast ! h264parse ! mp4mux ! filesink location={}",
        clip.display()
    ));
    clip
}

/// An operator request with a JSON body: (status, answer, time taken).
fn timed(d: &Daemon, cookie: &str, path: &str, body: &str) -> (u16, String, Duration) {
    let started = Instant::now();
    let mut res = agent()
        .post(&format!("{}{path}", d.base()))
        .header("Content-Type", "application/json")
        .header("Cookie", cookie)
        .send(body.to_string())
        .unwrap();
    let code = res.status().as_u16();
    let text = res.body_mut().read_to_string().unwrap();
    (code, text, started.elapsed())
}

#[test]
fn a_bad_calibration_is_refused_before_any_work_and_frozen_frames_are_capped() {
    let dir = tempfile::tempdir().unwrap();
    let clip = clip_1080(dir.path());
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    let cfg = test_config(
        &format!("file://{}", clip.display()),
        free_port(),
        &tiny_model(),
        &operator_section(PIN, &state),
    )
    .replace(
        "[analysis]\n",
        &format!(
            "[analysis]\nstate_dir = \"{}\"\nmax_frozen_frames = 3\n",
            state.display()
        ),
    );
    let d = Daemon::start(&cfg);
    let cookie = sign_in(&d, PIN);
    let freeze = || {
        wait_for(Duration::from_secs(60), || {
            let (code, body, _) = timed(&d, &cookie, "/api/operator/freeze", "");
            (code == 200).then(|| serde_json::from_str::<serde_json::Value>(&body).unwrap())
        })
        .expect("a frame to freeze within 60 s")
    };
    let frozen = freeze();
    assert_eq!(frozen["width"], 1920, "{frozen}");
    let id = frozen["frame_id"].as_str().unwrap().to_string();

    let grid = |n: usize| -> Vec<[f64; 2]> {
        (0..n)
            .map(|i| [410.0 + (i % 40) as f64 * 9.0, 310.0 + (i / 40) as f64 * 9.0])
            .collect()
    };
    let request = |taps: Vec<[f64; 2]>, area: [f64; 4]| {
        serde_json::json!({"frame_id": id, "box": area, "taps": taps}).to_string()
    };
    let area = [400.0, 300.0, 380.0, 260.0];
    let (code, body, valid) = timed(
        &d,
        &cookie,
        "/api/operator/calibration",
        &request(grid(25), area),
    );
    assert_eq!(code, 200, "{body}");
    // Refused for their shape alone: no decoding, no model.
    for (what, req) in [
        ("1001 taps", request(grid(1001), area)),
        ("an empty box", request(grid(25), [400.0, 300.0, 2.0, 2.0])),
        (
            "a box off the frame",
            request(grid(25), [1800.0, 300.0, 380.0, 260.0]),
        ),
    ] {
        let (code, body, took) = timed(&d, &cookie, "/api/operator/calibration", &req);
        println!(
            "{what}: {} ms (a valid one: {} ms)",
            took.as_millis(),
            valid.as_millis()
        );
        assert_eq!(code, 400, "{what}: {body}");
        assert!(
            took < Duration::from_millis(300) && took * 4 < valid,
            "{what} took {} ms, a valid calibration {} ms: the frame was decoded or the engine \
             asked first",
            took.as_millis(),
            valid.as_millis()
        );
    }

    // Operator-only answers are not kept by the browser.
    let mut res = agent()
        .get(&format!("{}/api/operator/frames/{id}.jpg", d.base()))
        .header("Cookie", &cookie)
        .call()
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(
        res.headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    let _ = res.body_mut().read_to_vec();

    // Frozen frames are capped: the newest three are kept, the calibrated one first of all.
    let mut ids = vec![id.clone()];
    for _ in 0..4 {
        ids.push(freeze()["frame_id"].as_str().unwrap().to_string());
    }
    let frames = state.join("flight-1080/frames");
    let kept: Vec<String> = std::fs::read_dir(&frames)
        .unwrap_or_else(|e| panic!("{}: {e}", frames.display()))
        .flatten()
        .map(|f| f.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".jpg"))
        .collect();
    assert_eq!(kept.len(), 3, "{kept:?}");
    let code = |id: &str| {
        agent()
            .get(&format!("{}/api/operator/frames/{id}.jpg", d.base()))
            .header("Cookie", &cookie)
            .call()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(code(&ids[4]), 200, "the newest is kept");
    assert_eq!(code(&ids[1]), 404, "the oldest untapped went");
    assert_eq!(
        code(&id),
        200,
        "the tapped frame (training data) is kept before untapped ones"
    );
}
