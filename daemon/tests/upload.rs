//! Models uploaded from the dashboard (`/api/operator/model`) and the annotations exported for
//! fine-tuning (`/api/operator/annotations.tar`), against the real daemon on a live stream.
//!
//! Fixtures come from `models/make_test_models.py` (run by models/make.sh): a tiny model with a
//! card, one that takes float pixels, one whose map is not 1/8 of the frame.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;

fn fixture(name: &str) -> PathBuf {
    let p = repo_root().join("models/out/test").join(name);
    assert!(
        p.exists(),
        "{} is missing: run models/make.sh (scripts/setup.sh does)",
        p.display()
    );
    p
}

const PIN: &str = "upload-test-pin";

/// An operator GET: (status, body).
fn get(d: &Daemon, cookie: &str, path: &str) -> (u16, Vec<u8>) {
    let mut res = agent()
        .get(&format!("{}{path}", d.base()))
        .header("Cookie", cookie)
        .call()
        .unwrap();
    (res.status().as_u16(), res.body_mut().read_to_vec().unwrap())
}

fn get_json(d: &Daemon, cookie: &str, path: &str) -> serde_json::Value {
    let (code, body) = get(d, cookie, path);
    assert_eq!(code, 200, "{}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).unwrap()
}

/// An operator request with a body: (status, JSON answer).
fn send(
    d: &Daemon,
    cookie: &str,
    method: &str,
    path: &str,
    body: &[u8],
) -> (u16, serde_json::Value) {
    let url = format!("{}{path}", d.base());
    let req = match method {
        "PUT" => agent().put(&url),
        "POST" => agent().post(&url),
        other => panic!("{other}"),
    };
    let mut res = req
        .header("Content-Type", "application/octet-stream")
        .header("Cookie", cookie)
        .send(body)
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let code = res.status().as_u16();
    let text = res.body_mut().read_to_string().unwrap();
    (
        code,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    )
}

/// A PUT whose body is `chunks` chunks of 1 MiB sent with chunked encoding (no length), or
/// nothing at all with a declared `Content-Length`; returns the status line the daemon answered.
fn raw_put(port: u16, cookie: &str, declared: Option<u64>, chunks: usize) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let head = match declared {
        Some(n) => format!("PUT /api/operator/model HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nCookie: {cookie}\r\nContent-Length: {n}\r\n\r\n"),
        None => format!("PUT /api/operator/model HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nCookie: {cookie}\r\nTransfer-Encoding: chunked\r\n\r\n"),
    };
    s.write_all(head.as_bytes()).unwrap();
    let chunk = vec![0u8; 1 << 20];
    for _ in 0..chunks {
        // The daemon may answer and close before everything is sent: that is the point.
        if s.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
            .is_err()
            || s.write_all(&chunk).is_err()
            || s.write_all(b"\r\n").is_err()
        {
            break;
        }
    }
    if declared.is_none() {
        let _ = s.write_all(b"0\r\n\r\n");
    }
    status_line(&mut s)
}

fn config(url: &str, port: u16, state: &Path) -> String {
    let operator = operator_section(PIN, state);
    test_config(url, port, &tiny_model(), &operator).replace(
        "[analysis]\n",
        &format!("[analysis]\nstate_dir = \"{}\"\n", state.display()),
    )
}

fn analysed(d: &Daemon) -> u64 {
    d.status()["totals"]["frames_analysed"]
        .as_u64()
        .unwrap_or(0)
}

fn counting(d: &Daemon) {
    let now = analysed(d);
    wait_for(Duration::from_secs(30), || {
        (analysed(d) >= now + 2).then_some(())
    })
    .unwrap_or_else(|| panic!("the box stopped counting: {}", d.status()));
}

fn leftovers(state: &Path) -> Vec<String> {
    std::fs::read_dir(state.join(".models"))
        .map(|d| {
            d.flatten()
                .map(|f| f.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(".incoming"))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn an_uploaded_model_is_checked_switched_to_kept_and_rolled_back() {
    let rtmp = RtmpServer::start();
    let url = rtmp.url("drone");
    let _publisher = publish(&url, 640, 360, 15);
    let state = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = config(&url, port, state.path());
    let mut d = Daemon::start(&cfg);
    counting(&d);
    let (code, _) = d.get("/api/operator/model").unwrap();
    assert_eq!(code, 401, "a viewer sees no models");
    let (code, _) = send(&d, "", "PUT", "/api/operator/model", b"x");
    assert_eq!(code, 401, "nor uploads one");
    let op = sign_in(&d, PIN);
    let shelf = get_json(&d, &op, "/api/operator/model");
    assert_eq!(shelf["current"], serde_json::Value::Null, "{shelf}");
    assert_eq!(d.status()["model"]["name"], "csrnet-tiny");

    // A good model with a card: checked, switched to while frames flow, its scale used.
    let good = std::fs::read(fixture("csrnet-tiny-card.onnx")).unwrap();
    let (code, shelf) = send(&d, &op, "PUT", "/api/operator/model?name=x.onnx", &good);
    assert_eq!(code, 200, "{shelf}");
    assert_eq!(shelf["current"]["name"], "tiny-card", "the card names it");
    assert_eq!(shelf["previous"], serde_json::Value::Null);
    let status = d.status();
    assert_eq!(status["model"]["name"], "tiny-card", "{status}");
    assert_eq!(status["model"]["analysis_scale"], 0.25);
    assert_eq!(status["model"]["card"]["name"], "tiny-card");
    // A summary goes to every viewer, not the card itself (its settings, its figures).
    assert!(
        status["model"]["card"].get("settings").is_none(),
        "{status}"
    );
    assert!(status["model"]["loaded_at_ms"].as_u64().is_some());
    counting(&d);
    // 640x360 at the card's 0.25: 160x88 (whole density cells).
    wait_for(Duration::from_secs(15), || {
        (d.status()["analysis"]["width"] == 160).then_some(())
    })
    .unwrap_or_else(|| panic!("the card's scale is not used: {}", d.status()["analysis"]));

    // A corrupt file, a model with the wrong contract, one whose map has the wrong size: each
    // refused with its reason; the running model keeps counting.
    let corrupt = b"ONNX? no: this is not a model".repeat(1000);
    for (body, expect) in [
        (corrupt, "not a model ONNX Runtime can load"),
        (
            std::fs::read(fixture("wrong-input.onnx")).unwrap(),
            "does not fit skycountd",
        ),
        (
            std::fs::read(fixture("wrong-output.onnx")).unwrap(),
            "expected 8x6",
        ),
    ] {
        let (code, answer) = send(&d, &op, "PUT", "/api/operator/model", &body);
        assert_eq!(code, 422, "{answer}");
        let msg = answer["error"].as_str().unwrap_or_default();
        assert!(msg.contains(expect), "{msg}");
        assert_eq!(d.status()["model"]["name"], "tiny-card");
    }
    let (code, answer) = send(&d, &op, "PUT", "/api/operator/model", b"");
    assert_eq!(code, 400, "{answer}");
    counting(&d);

    // Too large: refused by its declared length at once, and by counting when it streams.
    let line = raw_put(port, &op, Some(300 << 20), 0);
    assert!(line.contains(" 413 "), "declared 300 MB: {line}");
    let line = raw_put(port, &op, None, 270);
    assert!(line.contains(" 413 "), "streamed 270 MB: {line}");
    assert!(
        leftovers(state.path()).is_empty(),
        "{:?}",
        leftovers(state.path())
    );
    assert_eq!(
        get_json(&d, &op, "/api/operator/model")["current"]["name"],
        "tiny-card"
    );

    // Rollback: to the configured model, then forward again.
    let (code, shelf) = send(&d, &op, "POST", "/api/operator/model/rollback", b"");
    assert_eq!(code, 200, "{shelf}");
    assert_eq!(shelf["current"], serde_json::Value::Null);
    assert_eq!(shelf["previous"]["name"], "tiny-card");
    assert_eq!(d.status()["model"]["name"], "csrnet-tiny");
    assert_eq!(
        d.status()["model"]["analysis_scale"],
        serde_json::Value::Null
    );
    counting(&d);
    let (code, shelf) = send(&d, &op, "POST", "/api/operator/model/rollback", b"");
    assert_eq!(code, 200, "{shelf}");
    assert_eq!(shelf["current"]["name"], "tiny-card");

    // Kept across a restart.
    d.proc.terminate(Duration::from_secs(5));
    let d = Daemon::start(&cfg);
    wait_for(Duration::from_secs(30), || {
        (d.status()["model"]["name"] == "tiny-card").then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "the uploaded model is not used after a restart: {}",
            d.status()
        )
    });
    counting(&d);
    assert_eq!(d.get("/api/health").unwrap().0, 200);
}

#[test]
fn annotated_frames_are_exported_for_fine_tuning() {
    let rtmp = RtmpServer::start();
    let url = rtmp.url("drone");
    let _publisher = publish(&url, 640, 360, 15);
    let state = tempfile::tempdir().unwrap();
    let d = Daemon::start(&config(&url, free_port(), state.path()));
    counting(&d);
    let op = sign_in(&d, PIN);

    let (code, frozen) = send(&d, &op, "POST", "/api/operator/freeze", b"");
    assert_eq!(code, 200, "{frozen}");
    let id = frozen["frame_id"].as_str().unwrap().to_string();
    let taps: Vec<[f64; 2]> = (0..6)
        .map(|i| [100.0 + 12.0 * f64::from(i), 100.0])
        .collect();
    let body =
        serde_json::json!({ "frame_id": id, "box": [80.0, 80.0, 120.0, 60.0], "taps": taps });
    let (code, answer) = send(
        &d,
        &op,
        "POST",
        "/api/operator/calibration",
        body.to_string().as_bytes(),
    );
    assert_eq!(code, 200, "{answer}");
    // A proposal; applied, its frame and taps are kept (training data).
    let apply = format!(
        "/api/operator/calibration/{}/apply",
        answer["id"].as_str().unwrap()
    );
    let (code, applied) = send(&d, &op, "POST", &apply, b"");
    assert_eq!(code, 200, "{applied} (the proposal: {answer})");

    assert_eq!(d.get("/api/operator/annotations.tar").unwrap().0, 401);
    let (code, tar) = get(&d, &op, "/api/operator/annotations.tar");
    assert_eq!(code, 200);
    let mut files = std::collections::BTreeMap::new();
    for e in tar::Archive::new(&tar[..]).entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        files.insert(name, data);
    }
    let manifest = String::from_utf8(files["skycount-annotations/manifest.csv"].clone()).unwrap();
    let row = manifest.lines().nth(1).unwrap_or_default();
    assert!(
        row.starts_with(&format!(
            "{id}.jpg,640,360,6,drone,\"80.0,80.0,120.0,60.0\","
        )),
        "{manifest}"
    );
    let points: serde_json::Value =
        serde_json::from_slice(&files["skycount-annotations/gt_points.json"]).unwrap();
    assert_eq!(points[format!("{id}.jpg")].as_array().unwrap().len(), 6);
    let jpeg = &files[&format!("skycount-annotations/{id}.jpg")];
    assert_eq!(
        image::load_from_memory(jpeg).unwrap().dimensions(),
        (640, 360),
        "the frame at the stream's own size"
    );

    // A large export is sent while it is written, never held in memory whole: 160 annotated
    // frames of 1 MiB each (the frame above with 1 MiB of padding after its end, as a
    // full-resolution frame weighs), read slowly. The daemon's memory must not grow by the
    // archive's size before its first bytes arrive.
    let frames = find_file(state.path(), &format!("{id}.jpg"))
        .expect("the frozen frame in the state folder")
        .parent()
        .unwrap()
        .to_path_buf();
    let mut big = std::fs::read(frames.join(format!("{id}.jpg"))).unwrap();
    big.resize(big.len() + (1 << 20), 0x5a);
    let taps = std::fs::read_to_string(frames.join(format!("{id}.json"))).unwrap();
    for i in 0..160 {
        let copy = format!("copy{i}");
        std::fs::write(frames.join(format!("{copy}.jpg")), &big).unwrap();
        let t = taps.replace(&format!("\"{id}.jpg\""), &format!("\"{copy}.jpg\""));
        std::fs::write(frames.join(format!("{copy}.json")), t).unwrap();
    }
    let pid = d.proc.child.id();
    let before = rss_mib(pid);
    let mut res = agent()
        .get(&format!("{}/api/operator/annotations.tar", d.base()))
        .header("Cookie", &op)
        .call()
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let mut body = res.body_mut().with_config().limit(1 << 30).reader();
    let mut first = vec![0u8; 4 << 20];
    body.read_exact(&mut first).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let during = rss_mib(pid);
    let mut rest = Vec::new();
    body.read_to_end(&mut rest).unwrap();
    let total = first.len() + rest.len();
    let archive_mib = total as f64 / f64::from(1 << 20);
    eprintln!(
        "export: {archive_mib:.0} MiB archive; daemon RSS {before:.0} MiB before, {during:.0} MiB \
         with the first 4 MiB read"
    );
    assert!(archive_mib > 160.0, "{archive_mib} MiB");
    assert!(
        during - before < 48.0,
        "the daemon grew {:.0} MiB while sending a {archive_mib:.0} MiB archive",
        during - before
    );
    let mut all = first;
    all.extend(rest);
    let names = tar::Archive::new(&all[..])
        .entries()
        .unwrap()
        .filter(|e| e.is_ok())
        .count();
    assert_eq!(names, 2 + 161, "manifest, points and every frame");
}

/// The file called `name` somewhere under `dir`.
fn find_file(dir: &Path, name: &str) -> Option<PathBuf> {
    std::fs::read_dir(dir).ok()?.flatten().find_map(|e| {
        let p = e.path();
        if p.is_dir() {
            find_file(&p, name)
        } else {
            p.file_name().is_some_and(|n| n == name).then_some(p)
        }
    })
}

use image::GenericImageView as _;

/// A SIGHUP that changes `model.path` changes what the operator's view calls the configured
/// model, and what a rollback to it runs (it used to keep the path skycountd started with).
#[test]
fn the_configured_model_follows_a_reload() {
    let state = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = config("rtmp://127.0.0.1:1/live/none", port, state.path());
    let d = Daemon::start(&cfg);
    let op = sign_in(&d, PIN);
    let before = get_json(&d, &op, "/api/operator/model");
    assert_eq!(
        before["configured_path"],
        tiny_model().display().to_string(),
        "{before}"
    );

    let other = state.path().join("renamed-tiny.onnx");
    std::fs::copy(tiny_model(), &other).unwrap();
    let changed = cfg.replace(
        &format!("path = \"{}\"", tiny_model().display()),
        &format!("path = \"{}\"", other.display()),
    );
    assert_ne!(changed, cfg, "the test config names the tiny model");
    write_config(d.dir.path(), &changed);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(d.proc.child.id() as i32),
        nix::sys::signal::Signal::SIGHUP,
    )
    .unwrap();
    let want = other.display().to_string();
    wait_for(Duration::from_secs(15), || {
        (get_json(&d, &op, "/api/operator/model")["configured_path"] == want.as_str()).then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "after the reload the operator still sees {}",
            get_json(&d, &op, "/api/operator/model")
        )
    });
}
