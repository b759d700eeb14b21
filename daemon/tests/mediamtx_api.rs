//! The Control API client and the watch against a stand-in MediaMTX answering as its
//! openapi.yaml says (fixtures checked against the spec's schemas), including errors, rubbish and
//! a dead server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};
use skycountd::event::{self, Event, Events};
use skycountd::mediamtx::api::{interpret, ApiError, BFrames, Client, Context};
use skycountd::mediamtx::watch::{poll_once, Tracker, WatchOptions};
use skycountd::publish::hub::Hub;
use skycountd::wire::ModelReport;

mod common;

/// What the stand-in answers for a path name: status and body.
type Answer = Arc<Mutex<Box<dyn Fn(&str) -> (u16, String) + Send>>>;

fn serve(answer: Answer) -> SocketAddr {
    let app = Router::new()
        .route(
            "/v3/paths/get/{*name}",
            get(
                |State(a): State<Answer>, UrlPath(name): UrlPath<String>| async move {
                    let (status, body) = (a.lock().unwrap())(&name);
                    (
                        StatusCode::from_u16(status).unwrap(),
                        [("content-type", "application/json")],
                        body,
                    )
                        .into_response()
                },
            ),
        )
        .route(
            "/v3/paths/list",
            get(|State(a): State<Answer>| async move {
                let (status, body) = (a.lock().unwrap())("?list");
                (
                    StatusCode::from_u16(status).unwrap(),
                    [("content-type", "application/json")],
                    body,
                )
                    .into_response()
            }),
        )
        .route(
            "/v3/info",
            get(|| async {
                (
                    [("content-type", "application/json")],
                    r#"{"version":"v1.20.1","started":"2026-08-22T10:00:00Z"}"#,
                )
            }),
        )
        .with_state(answer);
    common::serve_router(app)
}

fn answer(f: impl Fn(&str) -> (u16, String) + Send + 'static) -> Answer {
    Arc::new(Mutex::new(Box::new(f)))
}

fn spec() -> &'static serde_norway::Value {
    static SPEC: std::sync::OnceLock<serde_norway::Value> = std::sync::OnceLock::new();
    SPEC.get_or_init(|| {
        let p = PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/reference/mediamtx/openapi.yaml"
        ));
        serde_norway::from_str(
            &std::fs::read_to_string(&p).unwrap_or_else(|e| {
                panic!("{}: {e} (MediaMTX's reference openapi.yaml)", p.display())
            }),
        )
        .unwrap()
    })
}

/// Fails when `v` has a key the spec's `schema` does not list (recursively for the nested
/// schemas the client reads), so fixtures stay shaped like real answers.
fn assert_spec_shaped(v: &Value, schema: &str) {
    let spec = spec();
    let props = spec["components"]["schemas"][schema]["properties"]
        .as_mapping()
        .unwrap_or_else(|| panic!("no schema {schema}"))
        .clone();
    for (k, val) in v.as_object().unwrap() {
        assert!(
            props.contains_key(k.as_str()),
            "{k} is not a property of {schema} in openapi.yaml"
        );
        let nested = match (schema, k.as_str()) {
            ("Path", "source") => Some("PathSource"),
            ("Path", "readers") => Some("PathReader"),
            ("Path", "tracks2") => Some("PathTrack"),
            ("PathTrack", "codecProps") => None,
            _ => None,
        };
        if let Some(n) = nested {
            match val {
                Value::Array(items) => items.iter().for_each(|i| assert_spec_shaped(i, n)),
                Value::Object(_) => assert_spec_shaped(val, n),
                _ => {}
            }
        }
        if (schema, k.as_str()) == ("PathTrack", "codecProps") && val.is_object() {
            let codec = v["codec"].as_str().unwrap();
            let props_schema = match codec {
                "H264" => "PathTrackCodecPropsH264",
                "MPEG-4 Audio" => "PathTrackCodecPropsMPEG4Audio",
                other => panic!("no fixture schema for {other}"),
            };
            assert_spec_shaped(val, props_schema);
        }
    }
}

/// A path with a drone publishing over RTMP, as MediaMTX v1.20 answers it.
fn online(profile: &str, source_id: &str, audio: bool) -> Value {
    let mut tracks2 = vec![json!({
        "codec": "H264",
        "codecProps": {"width": 1920, "height": 1080, "profile": profile, "level": "4.1"}
    })];
    let mut tracks = vec![json!("H264")];
    if audio {
        tracks2.push(json!({
            "codec": "MPEG-4 Audio",
            "codecProps": {"sampleRate": 44100, "channelCount": 2}
        }));
        tracks.push(json!("MPEG-4 Audio"));
    }
    let v = json!({
        "name": "live/drone",
        "confName": "live/drone",
        "source": {"type": "rtmpConn", "id": source_id},
        "ready": true,
        "readyTime": "2026-08-22T10:00:01Z",
        "available": true,
        "availableTime": "2026-08-22T10:00:01Z",
        "online": true,
        "onlineTime": "2026-08-22T10:00:01Z",
        "tracks": tracks,
        "tracks2": tracks2,
        "readers": [
            {"type": "rtspSession", "id": "1c5e3c1e-0f0c-4a43-9b7f-1d2b8d9c0a11"},
            {"type": "hidden", "id": ""}
        ],
        "inboundBytes": 1234567,
        "outboundBytes": 2345678,
        "inboundFramesInError": 0,
        "bytesReceived": 1234567,
        "bytesSent": 2345678
    });
    assert_spec_shaped(&v, "Path");
    v
}

fn offline(name: &str) -> Value {
    let v = json!({
        "name": name, "confName": name, "source": null,
        "ready": false, "readyTime": null, "available": false, "availableTime": null,
        "online": false, "onlineTime": null,
        "tracks": [], "tracks2": [], "readers": [],
        "inboundBytes": 0, "outboundBytes": 0, "inboundFramesInError": 0,
        "bytesReceived": 0, "bytesSent": 0
    });
    assert_spec_shaped(&v, "Path");
    v
}

/// The viewers' path: always available, online only while the forward feeds it.
fn view(online: bool, webrtc_viewers: usize) -> Value {
    let mut v = offline("live/drone/view");
    v["available"] = json!(true);
    v["online"] = json!(online);
    v["tracks2"] = json!([{"codec": "H264", "codecProps": {"width": 1920, "height": 1080, "profile": "High", "level": "4.1"}}]);
    v["readers"] = json!((0..webrtc_viewers)
        .map(|i| json!({"type": "webRTCSession", "id": format!("{i}")}))
        .collect::<Vec<_>>());
    assert_spec_shaped(&v, "Path");
    v
}

fn error(msg: &str) -> String {
    let v = json!({"status": "error", "error": msg});
    assert_spec_shaped(&v, "Error");
    v.to_string()
}

fn ctx(addr: SocketAddr) -> Context {
    Context {
        publish_url: "rtmp://192.168.50.1:1935/live/drone".into(),
        api: addr,
        separate_view_path: false,
        settled: true,
        b_frames_seen: None,
    }
}

fn client(addr: SocketAddr) -> Client {
    Client::new(addr, Duration::from_millis(800))
}

#[test]
fn a_drone_publishing_h264() {
    let body = online("High", "a", false).to_string();
    let addr = serve(answer(move |_| (200, body.clone())));
    let c = client(addr);
    let path = c.path("live/drone").unwrap();
    assert!(path.is_online());
    assert_eq!(path.bytes_in(), 1234567);
    let r = interpret(Ok(path), None, Some(c.info().unwrap().version), &ctx(addr));
    assert!(r.reachable && r.publisher);
    assert_eq!(r.codec.as_deref(), Some("H264"));
    assert_eq!((r.width, r.height), (Some(1920), Some(1080)));
    assert_eq!(r.source_type.as_deref(), Some("rtmpConn"));
    assert_eq!(r.readers, 2);
    assert_eq!(r.bytes_received, 1234567);
    assert_eq!(r.version.as_deref(), Some("v1.20.1"));
    assert_eq!(r.message, "drone connected, H264 1920x1080");
    // High profile allows B-frames: a hedged hint until the decoder has looked.
    assert_eq!(r.b_frames, BFrames::Possible);
    let hint = r.b_frames_warning.unwrap();
    assert!(
        hint.contains("High profile") && hint.contains("Baseline"),
        "{hint}"
    );
}

#[test]
fn b_frames_from_the_profile_and_the_decoder() {
    let body = online("Baseline", "a", false).to_string();
    let addr = serve(answer(move |_| (200, body.clone())));
    let c = client(addr);
    let r = interpret(c.path("live/drone"), None, None, &ctx(addr));
    assert_eq!(r.b_frames, BFrames::No);
    assert_eq!(r.b_frames_warning, None);

    let body = online("High", "a", false).to_string();
    let addr = serve(answer(move |_| (200, body.clone())));
    let c = client(addr);
    let seen = Context {
        b_frames_seen: Some(true),
        ..ctx(addr)
    };
    let r = interpret(c.path("live/drone"), None, None, &seen);
    assert_eq!(r.b_frames, BFrames::Yes);
    let w = r.b_frames_warning.unwrap();
    assert!(
        w.contains("has B-frames") && w.contains("B-frames to 0"),
        "{w}"
    );
    let none_seen = Context {
        b_frames_seen: Some(false),
        ..ctx(addr)
    };
    let r = interpret(c.path("live/drone"), None, None, &none_seen);
    assert_eq!(r.b_frames, BFrames::No);
}

#[test]
fn no_drone() {
    let body = offline("live/drone").to_string();
    let addr = serve(answer(move |_| (200, body.clone())));
    let c = client(addr);
    let r = interpret(c.path("live/drone"), None, None, &ctx(addr));
    assert!(r.reachable && !r.publisher);
    assert_eq!(r.codec, None);
    assert_eq!(r.message, "no drone on rtmp://192.168.50.1:1935/live/drone");
}

#[test]
fn a_media_server_with_another_configuration() {
    let body = error("path not found");
    let addr = serve(answer(move |_| (404, body.clone())));
    let c = client(addr);
    let e = c.path("live/drone").unwrap_err();
    assert_eq!(
        e,
        ApiError::NotFound {
            path: "live/drone".into(),
            message: "path not found".into()
        }
    );
    let r = interpret(Err(e), None, None, &ctx(addr));
    assert!(r.reachable && !r.publisher);
    assert!(
        r.message.contains("does not know the path live/drone"),
        "{}",
        r.message
    );
    assert!(
        r.message.contains("restart mediamtx.service"),
        "{}",
        r.message
    );
}

#[test]
fn server_errors_and_rubbish() {
    let body = error("terminated");
    let addr = serve(answer(move |_| (500, body.clone())));
    let c = client(addr);
    let e = c.path("live/drone").unwrap_err();
    assert_eq!(
        e,
        ApiError::Status {
            status: 500,
            message: "terminated".into()
        }
    );
    let r = interpret(Err(e), None, None, &ctx(addr));
    assert!(r.reachable && !r.publisher);
    assert!(r.message.contains("HTTP 500: terminated"), "{}", r.message);

    let addr = serve(answer(|_| (200, "{\"online\": tru".into())));
    let e = client(addr).path("live/drone").unwrap_err();
    assert!(matches!(e, ApiError::Malformed(_)), "{e:?}");
    let r = interpret(Err(e), None, None, &ctx(addr));
    assert!(r.message.contains("not its API's JSON"), "{}", r.message);

    let addr = serve(answer(|_| (502, "<html>bad gateway</html>".into())));
    let e = client(addr).path("live/drone").unwrap_err();
    assert_eq!(
        e,
        ApiError::Status {
            status: 502,
            message: "<html>bad gateway</html>".into()
        }
    );
}

#[test]
fn a_dead_server() {
    // A port nobody listens on.
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let started = Instant::now();
    let e = client(addr).path("live/drone").unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(matches!(e, ApiError::Unreachable { .. }), "{e:?}");
    let r = interpret(Err(e), None, None, &ctx(addr));
    assert!(!r.reachable && !r.publisher);
    assert!(
        r.message.starts_with("media server not answering"),
        "{}",
        r.message
    );
}

#[test]
fn a_server_that_hangs_is_given_up_on() {
    // Accepts, never answers.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let _keep = std::thread::spawn(move || {
        let conns: Vec<_> = l.incoming().take(1).collect();
        std::thread::sleep(Duration::from_secs(3));
        drop(conns);
    });
    let started = Instant::now();
    let e = client(addr).path("live/drone").unwrap_err();
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "{:?}",
        started.elapsed()
    );
    assert!(matches!(e, ApiError::Unreachable { .. }), "{e:?}");
}

#[test]
fn viewers_path_refusing_the_drone_s_tracks_is_explained() {
    let (ingest, viewers) = (
        online("High", "a", true).to_string(),
        view(false, 0).to_string(),
    );
    let addr = serve(answer(move |name| match name {
        "live/drone" => (200, ingest.clone()),
        _ => (200, viewers.clone()),
    }));
    let c = client(addr);
    let separate = Context {
        separate_view_path: true,
        ..ctx(addr)
    };
    let r = interpret(
        c.path("live/drone"),
        Some(c.path("live/drone/view")),
        None,
        &separate,
    );
    assert!(r.publisher && !r.viewers_live, "{r:?}");
    assert!(
        r.message
            .contains("set mediamtx.always_available_tracks = [\"H264\", \"MPEG4Audio:44100:2\"]"),
        "{}",
        r.message
    );
    // Not before the forward had its chance.
    let early = Context {
        settled: false,
        ..separate
    };
    let r = interpret(
        c.path("live/drone"),
        Some(c.path("live/drone/view")),
        None,
        &early,
    );
    assert_eq!(r.message, "drone connected, H264 1920x1080");
}

#[test]
fn the_watch_fills_the_hub_and_asks_for_a_reattach() {
    let state = Arc::new(Mutex::new(0u8));
    let s = state.clone();
    let answers = [
        offline("live/drone").to_string(),
        online("Baseline", "first", false).to_string(),
        online("Baseline", "second", false).to_string(),
        view(false, 0).to_string(),
        view(true, 3).to_string(),
    ];
    let addr = serve(answer(move |name| {
        let phase = *s.lock().unwrap() as usize;
        let i = match name {
            "live/drone" => phase.min(2),
            _ => 3 + phase.min(1),
        };
        (200, answers[i].clone())
    }));
    let hub = Hub::new(
        "rtsp://127.0.0.1:8554/live/drone".into(),
        ModelReport {
            path: "m.onnx".into(),
            input_width: 64,
            input_height: 64,
            execution_provider: None,
            error: None,
            reload_error: None,
            name: None,
            analysis_scale: None,
            card: None,
            loaded_at_ms: None,
            file: None,
            precision: None,
            precision_reason: None,
            building: None,
        },
    );
    let opts = WatchOptions {
        api: addr,
        every: Duration::from_millis(100),
        ingest: "live/drone".into(),
        view: Some("live/drone/view".into()),
        publish_url: "rtmp://192.168.50.1:1935/live/drone".into(),
        list_paths: false,
    };
    let c = client(addr);
    let mut t = Tracker::default();
    let (sink, mut events) = event::channel();
    // What `skycountd run` does with the watch's events: the hub takes them in; a new
    // publisher is for the engine (counted here).
    let mut poll = |client: &Client, t: &mut Tracker| -> bool {
        poll_once(client, &opts, t, &sink);
        drain(&mut events, &hub)
    };

    assert!(!poll(&c, &mut t));
    let status = serde_json::to_value(hub.status()).unwrap();
    assert_eq!(status["mediamtx"]["publisher"], json!(false));
    assert_eq!(status["mediamtx"]["version"], json!("v1.20.1"));
    assert_eq!(
        status["mediamtx"]["message"],
        json!("no drone on rtmp://192.168.50.1:1935/live/drone")
    );

    *state.lock().unwrap() = 1;
    assert!(poll(&c, &mut t), "the drone appeared: attach now");
    let status = serde_json::to_value(hub.status()).unwrap();
    assert_eq!(status["mediamtx"]["publisher"], json!(true));
    assert_eq!(status["mediamtx"]["codec"], json!("H264"));
    assert_eq!(status["mediamtx"]["viewers"], json!(3));
    assert_eq!(status["mediamtx"]["b_frames"], json!("no"));

    assert!(!poll(&c, &mut t), "same publisher");

    // The drone reconnected: MediaMTX replaced the session and dropped its readers.
    *state.lock().unwrap() = 2;
    assert!(poll(&c, &mut t), "a new session: attach now");

    // MediaMTX goes away: skycountd says so and carries on.
    let dead = client({
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    });
    assert!(!poll(&dead, &mut t));
    let status = serde_json::to_value(hub.status()).unwrap();
    assert_eq!(status["mediamtx"]["reachable"], json!(false));
    assert!(status["mediamtx"]["message"]
        .as_str()
        .unwrap()
        .starts_with("media server not answering"));
    assert_eq!(
        status["state"],
        json!("waiting"),
        "the stream's own state is untouched"
    );
}

/// Hands every waiting event to the hub; true when one of them asked for a re-attach.
fn drain(events: &mut Events, hub: &Hub) -> bool {
    let mut reattach = false;
    while let Ok(e) = events.try_recv() {
        reattach |= matches!(e, Event::PublisherChanged);
        hub.apply(e);
    }
    reattach
}

#[test]
fn every_drone_publishing_is_listed_for_the_roster() {
    // The route and its paging are MediaMTX's (openapi.yaml).
    let list = &spec()["paths"]["/v3/paths/list"]["get"];
    assert_eq!(list["operationId"].as_str(), Some("pathsList"));
    let params: Vec<&str> = list["parameters"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert!(params.contains(&"page") && params.contains(&"itemsPerPage"));
    assert_eq!(
        list["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].as_str(),
        Some("#/components/schemas/PathList")
    );
    let mut north = online("Baseline", "n", false);
    north["name"] = json!("live/north");
    let body = json!({
        "itemCount": 3,
        "pageCount": 1,
        "items": [online("Baseline", "d", false), offline("live/park"), north],
    });
    assert_spec_shaped(&body, "PathList");
    for item in body["items"].as_array().unwrap() {
        assert_spec_shaped(item, "Path");
    }
    let body = body.to_string();
    let ingest = online("Baseline", "d", false).to_string();
    let addr = serve(answer(move |name| match name {
        "?list" => (200, body.clone()),
        _ => (200, ingest.clone()),
    }));
    assert_eq!(
        client(addr).published().unwrap(),
        ["live/drone", "live/north"],
        "only the paths with a publisher"
    );
    // The watch hands them on when asked to list paths.
    let opts = WatchOptions {
        api: addr,
        every: Duration::from_millis(100),
        ingest: "live/drone".into(),
        view: None,
        publish_url: "rtmp://192.168.50.1:1935/live/drone".into(),
        list_paths: true,
    };
    let (sink, mut events) = event::channel();
    poll_once(&client(addr), &opts, &mut Tracker::default(), &sink);
    let mut published = None;
    while let Ok(e) = events.try_recv() {
        if let Event::Published(p) = e {
            published = Some(p);
        }
    }
    assert_eq!(
        published.as_deref(),
        Some(&["live/drone".to_string(), "live/north".to_string()][..])
    );
    // A list that is not the API's is an error, not "no drone".
    let addr = serve(answer(|_| (200, r#"{"items": "nope"}"#.into())));
    assert!(matches!(
        client(addr).published(),
        Err(ApiError::Malformed(_))
    ));
}

#[test]
fn ending_a_revoked_drone_s_connection_is_the_api_s_own_call() {
    // The route and method skycountd uses are MediaMTX's (openapi.yaml), answering `OK`.
    let kick = &spec()["paths"]["/v3/rtmpconns/kick/{id}"]["post"];
    assert_eq!(kick["operationId"].as_str(), Some("rtmpConnsKick"));
    assert_eq!(
        kick["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].as_str(),
        Some("#/components/schemas/OK")
    );
    // An id that is not one is refused before anything is sent (it goes into the URL).
    let c = client("127.0.0.1:9".parse().unwrap());
    for bad in ["", "../paths/get/x", "a b", &"f".repeat(65)] {
        assert!(
            matches!(c.kick_rtmp(bad), Err(ApiError::Malformed(_))),
            "{bad:?}"
        );
    }
    // Nothing listens at port 9 of loopback: the error says so.
    assert!(matches!(
        c.kick_rtmp("5e6a3d8c-7bd1-4d0f-a3b9-3c7a1f6e2d10"),
        Err(ApiError::Unreachable { .. })
    ));
}
