//! Several drones at once: three live RTMP publishers on nginx-rtmp, one `skycountd analyze`
//! reading all three through the one model. Every stream is analysed, the model's turns are
//! shared fairly, and a drone that goes and comes back costs the others no pause.
#![cfg(feature = "integration")]

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;

/// One printed analysis: its stream and when it was made (the daemon's wall clock, ms).
struct Line {
    stream: String,
    at_ms: u64,
}

/// `skycountd analyze URL…` with its analyses arriving on a channel.
struct Analyzer {
    child: Child,
    lines: mpsc::Receiver<Line>,
    _dir: tempfile::TempDir,
}

/// A configuration for `analyze`: the tiny model at `width`x`height` on one thread, quick
/// reconnects, `analysis.max_streams` as given.
fn config(dir: &std::path::Path, width: u32, height: u32, max_streams: u32) -> std::path::PathBuf {
    write_config(
        dir,
        &format!(
            "[source]\nstall_ms = 1000\nreconnect_after_ms = 2000\n\
             backoff_initial_ms = 200\nbackoff_max_ms = 1000\n\
             [model]\npath = \"{}\"\ninput_width = {width}\ninput_height = {height}\n\
             execution_providers = [\"cpu\"]\nthreads = 1\n\
             [analysis]\ngrid_width = 40\ngrid_height = 22\nmax_streams = {max_streams}\n",
            tiny_model().display()
        ),
    )
}

impl Analyzer {
    fn start(urls: &[String]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path(), 640, 352, 3);
        let mut child = bin()
            .arg("--config")
            .arg(&cfg)
            .arg("analyze")
            .args(urls)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("cannot run skycountd analyze");
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let v: serde_json::Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("not an analysis ({e}): {line}"));
                let line = Line {
                    stream: v["stream"]
                        .as_str()
                        .expect("every analysis says its stream")
                        .into(),
                    at_ms: v["wall_time_ms"].as_u64().unwrap(),
                };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Self {
            child,
            lines,
            _dir: dir,
        }
    }

    /// The analyses printed until `done` says so or `limit` passes.
    fn read_until(&self, limit: Duration, mut done: impl FnMut(&[Line]) -> bool) -> Vec<Line> {
        let end = Instant::now() + limit;
        let mut seen = Vec::new();
        while !done(&seen) {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => seen.push(l),
                Err(_) => break,
            }
        }
        seen
    }
}

impl Drop for Analyzer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The tests here measure pauses and shares of a model on two cores: one at a time, so that
/// none of them is the load that disturbs another.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

fn per_stream(lines: &[Line]) -> BTreeMap<&str, Vec<u64>> {
    let mut m: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for l in lines {
        m.entry(l.stream.as_str()).or_default().push(l.at_ms);
    }
    m
}

fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v[v.len() / 2]
}

fn intervals(times: &[u64]) -> Vec<u64> {
    times.windows(2).map(|w| w[1] - w[0]).collect()
}

/// Until every one of `names` has at least `n` analyses.
fn each_has<'a>(names: &'a [&'a str], n: usize) -> impl FnMut(&[Line]) -> bool + 'a {
    move |seen| {
        let m = per_stream(seen);
        names.iter().all(|s| m.get(s).is_some_and(|v| v.len() >= n))
    }
}

#[test]
fn three_drones_share_the_model_fairly_and_one_leaving_does_not_pause_the_others() {
    let _one = one_at_a_time();
    let rtmp = RtmpServer::start();
    let names = ["live_north", "live_stage", "live_park"];
    let urls: Vec<String> = ["north", "stage", "park"]
        .iter()
        .map(|s| rtmp.url(s))
        .collect();
    // 640x360 frames at 15 fps each: the decoders always have a frame waiting, so the model
    // (the tiny model at 640x352, on one thread) is what limits the analyses.
    let mut publishers: Vec<Proc> = urls.iter().map(|u| publish(u, 640, 360, 15)).collect();
    wait_for(Duration::from_secs(30), || {
        (rtmp.publishes() >= 3).then_some(())
    })
    .expect("the three publishers reach nginx");

    let a = Analyzer::start(&urls);
    // Warm up: every stream analysed a few times (decoders attached, model loaded).
    let warm = a.read_until(Duration::from_secs(90), each_has(&names, 3));
    let got = per_stream(&warm);
    for s in names {
        assert!(
            got.get(s).is_some_and(|v| v.len() >= 3),
            "{s} was not analysed within 90 s: {:?}",
            got.iter().map(|(k, v)| (*k, v.len())).collect::<Vec<_>>()
        );
    }

    // Fair shares: 60 analyses of the three streams in turn.
    let shared = a.read_until(Duration::from_secs(180), |seen| seen.len() >= 60);
    assert!(
        shared.len() >= 60,
        "only {} analyses in 180 s",
        shared.len()
    );
    let span_ms = shared.last().unwrap().at_ms - shared.first().unwrap().at_ms;
    let m = per_stream(&shared);
    let per_minute: Vec<(&str, f64)> = names
        .iter()
        .map(|s| {
            let n = m.get(s).map_or(0, Vec::len);
            (*s, n as f64 * 60_000.0 / span_ms.max(1) as f64)
        })
        .collect();
    eprintln!("analyses per stream per minute, three streams: {per_minute:?}");
    for s in names {
        let share = m.get(s).map_or(0, Vec::len) as f64 / shared.len() as f64;
        assert!(
            (0.25..=0.42).contains(&share),
            "{s} had {:.0} % of the analyses (fair: 33 %): {per_minute:?}",
            share * 100.0
        );
    }
    let own_interval: BTreeMap<&str, u64> = names
        .iter()
        .map(|s| (*s, median(intervals(&m[s]))))
        .collect();
    // The longest gap of each while all three stream: what the machine's own load does (CI runs
    // other programs beside this one). A drone leaving may cost no more than that.
    let steady_worst: BTreeMap<&str, u64> = names
        .iter()
        .map(|s| (*s, intervals(&m[s]).into_iter().max().unwrap_or(0)))
        .collect();

    // One drone goes: the other two go on without a gap longer than two of their own intervals.
    publishers[1].kill();
    let gone_at = Instant::now();
    let without = a.read_until(Duration::from_secs(15), |_| {
        gone_at.elapsed() > Duration::from_secs(8)
    });
    // It comes back: analysed again, the others still undisturbed.
    publishers[1] = publish(&urls[1], 640, 360, 15);
    let back = a.read_until(Duration::from_secs(90), |seen| {
        per_stream(seen)
            .get("live_stage")
            .is_some_and(|v| v.len() >= 3)
    });
    assert!(
        per_stream(&back)
            .get("live_stage")
            .is_some_and(|v| v.len() >= 3),
        "the drone that came back was not analysed again within 90 s"
    );
    // From the last analysis before the kill to the end: the gaps the leaving and the coming back
    // could cause.
    let after: Vec<&Line> = without.iter().chain(&back).collect();
    for s in ["live_north", "live_park"] {
        let times: Vec<u64> = m[s]
            .last()
            .copied()
            .into_iter()
            .chain(after.iter().filter(|l| l.stream == s).map(|l| l.at_ms))
            .collect();
        let worst = intervals(&times).into_iter().max().unwrap();
        let limit = (2 * own_interval[s]).max(steady_worst[s] + own_interval[s] / 2);
        eprintln!(
            "{s}: interval {} ms with three streams (longest {} ms), longest gap {worst} ms while \
             live_stage went and came back (limit {limit} ms)",
            own_interval[s], steady_worst[s]
        );
        assert!(
            worst <= limit,
            "{s} paused {worst} ms (its interval: {} ms, its longest gap before: {} ms)",
            own_interval[s],
            steady_worst[s]
        );
    }
    let stage = per_stream(&without).get("live_stage").map_or(0, Vec::len);
    assert!(
        stage <= 1,
        "live_stage analysed {stage} times after its publisher was killed"
    );
}

#[test]
fn more_streams_than_max_streams_are_refused_with_the_setting_named() {
    let _one = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), 320, 176, 2);
    let out = analyze(
        &[
            "--config",
            cfg.to_str().unwrap(),
            "rtmp://127.0.0.1:1/live/a",
            "rtmp://127.0.0.1:1/live/b",
            "rtmp://127.0.0.1:1/live/c",
        ],
        |_| {},
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("3 streams given") && err.contains("analysis.max_streams"),
        "{err}"
    );
}

/// A stand-in for MediaMTX's Control API (the routes and shapes `tests/mediamtx_api.rs` checks
/// against openapi.yaml): the paths in `online` have a publisher.
fn control_api(online: std::sync::Arc<std::sync::Mutex<Vec<String>>>) -> std::net::SocketAddr {
    use axum::extract::{Path as UrlPath, State};
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    use axum::routing::get;
    type Online = std::sync::Arc<std::sync::Mutex<Vec<String>>>;
    fn path(name: &str) -> serde_json::Value {
        serde_json::json!({
            "name": name, "confName": "all_others", "online": true, "ready": true,
            "source": {"type": "rtmpConn", "id": format!("id-{name}")},
            "tracks2": [{"codec": "H264", "codecProps": {"width": 640, "height": 360, "profile": "Baseline", "level": "3.0"}}],
            "readers": [], "inboundBytes": 1000
        })
    }
    let app = axum::Router::new()
        .route(
            "/v3/paths/get/{*name}",
            get(
                |State(o): State<Online>, UrlPath(name): UrlPath<String>| async move {
                    if o.lock().unwrap().contains(&name) {
                        axum::Json(path(&name)).into_response()
                    } else {
                        (
                            StatusCode::NOT_FOUND,
                            axum::Json(serde_json::json!({"error": "path not found"})),
                        )
                            .into_response()
                    }
                },
            ),
        )
        .route(
            "/v3/paths/list",
            get(|State(o): State<Online>| async move {
                let items: Vec<serde_json::Value> =
                    o.lock().unwrap().iter().map(|n| path(n)).collect();
                axum::Json(serde_json::json!({
                    "itemCount": items.len(), "pageCount": 1, "items": items
                }))
            }),
        )
        .route(
            "/v3/info",
            get(|| async { axum::Json(serde_json::json!({"version": "v1.20.1"})) }),
        )
        .with_state(online);
    serve_router(app)
}

/// The summary of `name` in `GET /api/streams`.
fn summary(d: &Daemon, name: &str) -> Option<serde_json::Value> {
    d.get_json("/api/streams")
        .as_array()?
        .iter()
        .find(|s| s["stream"] == name)
        .cloned()
}

#[test]
fn the_daemon_analyses_every_drone_on_the_media_server_up_to_max_streams() {
    let _one = one_at_a_time();
    let rtmp = RtmpServer::start();
    let paths = ["drone", "north", "park"];
    let mut publishers: Vec<Proc> = paths
        .iter()
        .map(|p| publish(&rtmp.url(p), 320, 180, 15))
        .collect();
    wait_for(Duration::from_secs(30), || {
        (rtmp.publishes() >= 3).then_some(())
    })
    .expect("the three publishers reach nginx");
    let online = std::sync::Arc::new(std::sync::Mutex::new(
        paths
            .iter()
            .map(|p| format!("live/{p}"))
            .collect::<Vec<_>>(),
    ));
    let api = control_api(online.clone());
    let state = tempfile::tempdir().unwrap();
    let port = free_port();
    // A real MQTT broker: every drone analysed gets its own topics and Home Assistant entities.
    let (broker_port, broker_dir) = (free_port(), tempfile::tempdir().unwrap());
    let _broker = mosquitto(broker_port, broker_dir.path(), "");
    // Two streams at most: the configured live/drone and the first other drone listed.
    let config = format!(
        "[source]\nstall_ms = 1000\nreconnect_after_ms = 2000\nbackoff_initial_ms = 200\nbackoff_max_ms = 1000\n\
         [stream]\npath = \"live/drone\"\nrtmp_port = {}\nread_protocol = \"rtmp\"\npairing = false\n\
         key = \"0123456789abcdef01234567\"\n\
         [model]\npath = \"{}\"\ninput_width = 320\ninput_height = 176\nexecution_providers = [\"cpu\"]\nthreads = 1\n\
         [analysis]\nstate_dir = \"{}\"\nmax_streams = 2\n\
         [server]\nlisten = \"127.0.0.1:{port}\"\nweb_dir = \"/nonexistent/web\"\n\
         [mediamtx]\nwatch = true\napi = \"{api}\"\npoll_ms = 200\n\
         [mqtt]\nenabled = true\nhost = \"127.0.0.1\"\nport = {broker_port}\nclient_id = \"field\"\n\
         backoff_initial_ms = 200\nbackoff_max_ms = 1000\n{}",
        rtmp.port,
        tiny_model().display(),
        state.path().display(),
        operator_section("streams-test-pass", state.path()),
    );
    let d = Daemon::start(&config);
    let analysed = |name: &str| summary(&d, name).and_then(|s| s["analyses"].as_u64());
    wait_for(Duration::from_secs(60), || {
        (analysed("live_drone")? >= 3 && analysed("live_north")? >= 3).then_some(())
    })
    .unwrap_or_else(|| panic!("both streams analysed: {}", d.get_json("/api/streams")));
    let park = summary(&d, "live_park").expect("the third drone is listed");
    assert_eq!(park["state"], "refused", "{park}");
    assert!(
        park["reason"]
            .as_str()
            .unwrap()
            .contains("analysis.max_streams"),
        "{park}"
    );
    assert_eq!(park["analyses"], 0);
    let north = summary(&d, "live_north").unwrap();
    assert_eq!(north["state"], "live");
    assert_eq!(north["path"], "live/north");
    assert_eq!(north["configured"], false);
    assert!(north["band"][0].as_f64().unwrap() <= north["band"][1].as_f64().unwrap());
    let status = d.status();
    assert_eq!(status["streams"][0]["stream"], "live_drone");
    assert_eq!(status["streams"][0]["configured"], true);

    // MQTT: north's counts on its own topic, its Home Assistant sensor beside the configured
    // drone's; nothing for the refused park.
    for stream in ["live_drone", "live_north"] {
        let (_, count) = first_message(
            broker_port,
            &format!("skycount/field/{stream}/count"),
            Duration::from_secs(15),
        )
        .unwrap_or_else(|| panic!("{stream}'s counts reach the broker"));
        let count: serde_json::Value = serde_json::from_str(&count).unwrap();
        assert!(count["total"].as_f64().is_some(), "{count}");
        let config = retained(
            broker_port,
            &format!("homeassistant/sensor/field_{stream}_count/config"),
        )
        .unwrap_or_else(|| panic!("{stream}'s sensor is described"));
        assert!(
            config.contains(&format!("skycount/field/{stream}/count")),
            "{config}"
        );
    }
    assert_eq!(
        first_message(
            broker_port,
            "skycount/field/live_park/#",
            Duration::from_secs(3)
        ),
        None,
        "a refused drone publishes nothing"
    );

    // The history: each analysed drone's flight under its own stream, none for park.
    let flights = wait_for(Duration::from_secs(20), || {
        let f = d.get_json("/api/history/flights")["flights"].clone();
        let streams: std::collections::BTreeSet<String> = f
            .as_array()?
            .iter()
            .filter_map(|f| Some(f["stream"].as_str()?.to_string()))
            .collect();
        (streams.len() == 2).then_some(streams)
    })
    .unwrap_or_else(|| panic!("two flights: {}", d.get_json("/api/history/flights")));
    assert_eq!(
        flights.into_iter().collect::<Vec<_>>(),
        ["live_drone", "live_north"]
    );

    // A viewer watches one stream: the one it names when it connects, else the configured one;
    // it receives that stream's analyses alone.
    let watch = |query: &str| {
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let s = seen.clone();
        let client = rust_socketio::ClientBuilder::new(format!("{}/{query}", d.base()))
            .transport_type(rust_socketio::TransportType::Websocket)
            .on("analysis", move |p: rust_socketio::Payload, _| {
                if let rust_socketio::Payload::Text(v) = p {
                    s.lock()
                        .unwrap()
                        .push(v[0]["stream"].as_str().unwrap_or("?").into());
                }
            })
            .connect()
            .expect("Socket.IO");
        (client, seen)
    };
    let (north_viewer, north_seen) = watch("?stream=live_north");
    let (plain_viewer, plain_seen) = watch("");
    let (refused_viewer, refused_seen) = watch("?stream=live_park");
    wait_for(Duration::from_secs(30), || {
        let n = north_seen.lock().unwrap().len();
        let p = plain_seen.lock().unwrap().len();
        let r = refused_seen.lock().unwrap().len();
        (n >= 4 && p >= 4 && r >= 4).then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "every viewer receives analyses: north {:?}, plain {:?}, refused {:?}",
            north_seen.lock().unwrap(),
            plain_seen.lock().unwrap(),
            refused_seen.lock().unwrap()
        )
    });
    for (seen, want) in [
        (&north_seen, "live_north"),
        (&plain_seen, "live_drone"),
        // A stream not analysed (refused) is no stream to watch: the configured one instead.
        (&refused_seen, "live_drone"),
    ] {
        let seen = seen.lock().unwrap();
        assert!(seen.iter().all(|s| s == want), "{want}: {seen:?}");
    }
    for c in [north_viewer, plain_viewer, refused_viewer] {
        let _ = c.disconnect();
    }
    // The frame of the other stream's analysis, named by its seq.
    let (code, jpeg) = d.get("/api/snapshot.jpg?stream=live_north").unwrap();
    assert_eq!(code, 200);
    assert_eq!(&jpeg[..2], &[0xFF, 0xD8], "a JPEG");

    // The operator masks the whole of north's frame (`?stream=`): north counts nothing from its
    // next analyses, the configured drone counts as before, and the mask is kept under north's
    // path.
    let cookie = sign_in(&d, "streams-test-pass");
    let operator = |method: &str, path: &str, body: &str| {
        let url = format!("{}{path}", d.base());
        let mut res = match method {
            "PUT" => agent()
                .put(&url)
                .header("Cookie", &cookie)
                .header("Content-Type", "application/json")
                .send(body.to_string()),
            _ => agent()
                .post(&url)
                .header("Cookie", &cookie)
                .header("Content-Type", "application/json")
                .send(body.to_string()),
        }
        .unwrap();
        let text = res.body_mut().read_to_string().unwrap_or_default();
        (res.status().as_u16(), text)
    };
    let count = |name: &str| summary(&d, name).and_then(|s| s["count"].as_f64());
    assert!(
        count("live_north").unwrap() > 0.0,
        "north counts something before its mask"
    );
    let whole = r#"{"masks": [{"name": "all of it", "points": [[0,0],[1,0],[1,1],[0,1]]}]}"#;
    let (code, body) = operator("PUT", "/api/operator/masks?stream=live_north", whole);
    assert_eq!(code, 200, "{body}");
    let kept = std::fs::read_to_string(state.path().join("live_north/setup.json"))
        .expect("north's setup is kept under its path");
    assert!(kept.contains("all of it"), "{kept}");
    let from = analysed("live_north").unwrap();
    wait_for(Duration::from_secs(30), || {
        let s = summary(&d, "live_north")?;
        (s["analyses"].as_u64()? >= from + 3 && s["count"].as_f64()? == 0.0).then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "north counts nothing under its mask: {}",
            d.get_json("/api/streams")
        )
    });
    assert!(
        count("live_drone").unwrap() > 0.0,
        "the configured drone is not masked"
    );
    let masks = d.status()["masks"].clone();
    assert_eq!(
        masks,
        serde_json::json!([]),
        "the status's masks are the configured drone's"
    );
    // The operator names north: the summary says so; a name with a control character is refused.
    let (code, body) = operator(
        "PUT",
        "/api/operator/name?stream=live_north",
        r#"{"name": " North gate "}"#,
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(summary(&d, "live_north").unwrap()["name"], "North gate");
    assert_eq!(
        summary(&d, "live_drone").unwrap()["name"],
        serde_json::Value::Null
    );
    let (code, body) = operator(
        "PUT",
        "/api/operator/name?stream=live_north",
        "{\"name\": \"a\\u0007b\"}",
    );
    assert_eq!(code, 400, "{body}");
    assert_eq!(
        summary(&d, "live_north").unwrap()["name"],
        "North gate",
        "the name before is kept"
    );
    // A frozen frame of north is north's, and named with it.
    let (code, body) = operator("POST", "/api/operator/freeze?stream=live_north", "");
    assert_eq!(code, 200, "{body}");
    let frozen: serde_json::Value = serde_json::from_str(&body).unwrap();
    let url = frozen["image_url"].as_str().unwrap();
    assert!(url.ends_with("?stream=live_north"), "{url}");
    assert_eq!(
        (frozen["width"].as_u64(), frozen["height"].as_u64()),
        (Some(320), Some(180))
    );
    // A stream not analysed (refused, or unknown) has no setup to change.
    for name in ["live_park", "live_nowhere"] {
        let (code, body) = operator("PUT", &format!("/api/operator/masks?stream={name}"), whole);
        assert_eq!(code, 404, "{name}: {body}");
        assert!(body.contains("/api/streams"), "{body}");
    }
    assert!(!state.path().join("live_park").join("setup.json").exists());

    // north goes: shown as ended (its place kept for it a while), the configured drone goes on.
    publishers[1].kill();
    online.lock().unwrap().retain(|p| p != "live/north");
    wait_for(Duration::from_secs(20), || {
        (summary(&d, "live_north")?["state"] == "ended").then_some(())
    })
    .unwrap_or_else(|| panic!("north ended: {}", d.get_json("/api/streams")));
    let before = analysed("live_drone").unwrap();
    wait_for(Duration::from_secs(20), || {
        (analysed("live_drone")? >= before + 3).then_some(())
    })
    .expect("the configured drone is still analysed");
    assert_eq!(summary(&d, "live_park").unwrap()["state"], "refused");

    // north comes back: attached again at once.
    publishers[1] = publish(&rtmp.url("north"), 320, 180, 15);
    online.lock().unwrap().push("live/north".into());
    let back_from = analysed("live_north").unwrap();
    wait_for(Duration::from_secs(60), || {
        let s = summary(&d, "live_north")?;
        (s["state"] == "live" && s["analyses"].as_u64()? >= back_from + 2).then_some(())
    })
    .unwrap_or_else(|| panic!("north analysed again: {}", d.get_json("/api/streams")));
    assert_eq!(
        count("live_north"),
        Some(0.0),
        "north comes back with its mask"
    );

    // A new daemon on the same state: north is counted with the mask kept for its path.
    drop(d);
    // north listed before park again, so that it gets the one place beside the configured drone
    online.lock().unwrap().sort();
    let d = Daemon::start(&config);
    let analysed = |name: &str| summary(&d, name).and_then(|s| s["analyses"].as_u64());
    wait_for(Duration::from_secs(60), || {
        (analysed("live_drone")? >= 3 && analysed("live_north")? >= 3).then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "both streams analysed again: {}",
            d.get_json("/api/streams")
        )
    });
    let north = summary(&d, "live_north").unwrap();
    assert_eq!(
        north["count"], 0.0,
        "north's mask survives a restart: {north}"
    );
    assert_eq!(north["name"], "North gate", "and its name: {north}");
    assert!(
        summary(&d, "live_drone").unwrap()["count"]
            .as_f64()
            .unwrap()
            > 0.0
    );
}
