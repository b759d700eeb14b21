//! Property-based tests (proptest, stable Rust) of the three parsers that take input from
//! outside: the configuration loader, the source URL parser and the interpreter of MediaMTX's
//! Control API answers. Whatever they are given, they never panic, their errors stay short and
//! on one line per problem, and what they accept is consistent (a configuration that loads
//! prints to TOML that loads to the same; a URL that parses prints to one that parses the same).
//!
//! Unit tier: no external program. A failing case is shrunk and kept by proptest in
//! `daemon/tests/properties.proptest-regressions` (commit it with the fix).

use std::path::Path;

use proptest::prelude::*;
use serde_json::{json, Value};
use skycountd::config::{self, Settings, SourceUrl};
use skycountd::mediamtx::api::{interpret, ApiError, Context, Path as ApiPath};

// ---------------------------------------------------------------------------------------------
// The configuration loader

/// Every `section.key` of the configuration, from its defaults.
fn known_keys() -> Vec<(String, String)> {
    let defaults = toml::Value::try_from(Settings::default()).unwrap();
    let mut keys = Vec::new();
    for (section, table) in defaults.as_table().unwrap() {
        for key in table.as_table().unwrap().keys() {
            keys.push((section.clone(), key.clone()));
        }
    }
    keys
}

/// A TOML value of any type, with the edges numbers and strings have.
fn toml_value() -> impl Strategy<Value = toml::Value> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(toml::Value::Integer),
        prop_oneof![
            Just(0i64),
            Just(1),
            Just(-1),
            Just(65535),
            Just(65536),
            0..5000i64
        ]
        .prop_map(toml::Value::Integer),
        any::<f64>()
            .prop_filter("TOML floats print", |f| f.is_finite())
            .prop_map(toml::Value::Float),
        any::<bool>().prop_map(toml::Value::Boolean),
        "\\PC{0,40}".prop_map(toml::Value::String),
        any::<String>().prop_map(toml::Value::String),
        prop_oneof![
            Just("auto".to_string()),
            Just("rtmp://127.0.0.1:1935/live/drone".to_string()),
            Just("file:///tmp/a%00b.mp4".to_string()),
            Just("127.0.0.1:8080".to_string()),
            Just("cpu".to_string()),
            Just("H264".to_string()),
            Just("10.0.0.1/24".to_string()),
        ]
        .prop_map(toml::Value::String),
    ];
    leaf.prop_recursive(2, 8, 4, |inner| {
        prop::collection::vec(inner, 0..4).prop_map(toml::Value::Array)
    })
}

/// A configuration file: known and unknown keys, in known and unknown sections.
fn config_text() -> impl Strategy<Value = String> {
    let keys = known_keys();
    let entry = (
        prop::sample::select(keys),
        "[a-z_]{1,8}",
        0..4u8,
        toml_value(),
    )
        .prop_map(|((section, key), other, which, value)| {
            let (section, key) = match which {
                0 => (other, key),
                1 => (section, other),
                _ => (section, key),
            };
            (section, key, value)
        });
    prop::collection::vec(entry, 0..12).prop_map(|entries| {
        let mut root = toml::Table::new();
        for (section, key, value) in entries {
            let table = root
                .entry(section)
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if let toml::Value::Table(t) = table {
                t.insert(key, value);
            }
        }
        toml::to_string(&root).unwrap_or_default()
    })
}

/// Loads `text` as the configuration file, with `env` as the environment.
fn load(text: &str, env: &[(String, String)]) -> Result<Settings, config::ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("skycount.toml");
    std::fs::write(&path, text).unwrap();
    config::load_from(Some(&path), Path::new("/nonexistent"), env).map(|(s, _)| s)
}

/// An error a person can read: no line longer than a few hundred characters, a bounded count.
fn assert_brief(err: &str) -> Result<(), TestCaseError> {
    let lines: Vec<&str> = err.lines().collect();
    prop_assert!(lines.len() <= 200, "{} lines", lines.len());
    for l in lines {
        prop_assert!(
            l.chars().count() <= 400,
            "a line of {} characters: {}",
            l.chars().count(),
            l.chars().take(120).collect::<String>()
        );
    }
    Ok(())
}

/// What the loader accepts prints to TOML that loads to the same settings.
fn assert_round_trip(s: &Settings) -> Result<(), TestCaseError> {
    let again = load(&s.to_toml(), &[]);
    prop_assert!(again.is_ok(), "{:?}", again.err().map(|e| e.to_string()));
    prop_assert_eq!(&again.unwrap(), s);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn any_configuration_file_loads_or_is_refused_briefly(text in config_text()) {
        match load(&text, &[]) {
            Ok(s) => assert_round_trip(&s)?,
            Err(e) => assert_brief(&e.to_string())?,
        }
    }

    #[test]
    fn any_text_as_a_configuration_file_is_refused_briefly(text in any::<String>()) {
        if let Err(e) = load(&text, &[]) {
            assert_brief(&e.to_string())?;
        }
    }

    #[test]
    fn any_environment_override_loads_or_is_refused_briefly(
        (section, key) in prop::sample::select(known_keys()),
        value in prop_oneof!["\\PC{0,60}", any::<String>().prop_map(|s| s.replace('\0', "")),
                             any::<i64>().prop_map(|i| i.to_string())],
    ) {
        let var = format!("SKYCOUNT_{}__{}", section.to_uppercase(), key.to_uppercase());
        match load("", &[(var, value)]) {
            Ok(s) => assert_round_trip(&s)?,
            Err(e) => assert_brief(&e.to_string())?,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The source URL parser

/// URL-ish text: schemes skycountd takes and others, credentials, hosts, ports, paths with any
/// characters (percent-encoded or not), queries.
fn url_text() -> impl Strategy<Value = String> {
    let scheme = prop_oneof![
        Just("rtmp"),
        Just("rtmps"),
        Just("rtsp"),
        Just("RTSP"),
        Just("file"),
        Just("http"),
        Just(""),
    ];
    let user = prop_oneof![
        Just(String::new()),
        Just("drone:S3cr3tPW@".to_string()),
        "[a-z]{1,5}@",
    ];
    let host = prop_oneof![
        Just("127.0.0.1".to_string()),
        Just("[::1]".to_string()),
        Just("localhost".to_string()),
        Just(String::new()),
        "[a-z0-9.-]{1,20}",
        "\\PC{0,10}",
    ];
    let port = prop_oneof![
        Just(String::new()),
        (0u32..100_000).prop_map(|p| format!(":{p}"))
    ];
    let path = prop_oneof![
        "(/[a-zA-Z0-9._~-]{0,10}){0,4}",
        "/\\PC{0,30}",
        "/(%[0-9A-Fa-f]{2}|[a-z]){0,10}",
        any::<String>().prop_map(|s| format!("/{s}")),
    ];
    let query = prop_oneof![
        Just(String::new()),
        Just("?user=drone&pass=S3cr3tPW".to_string()),
        "\\?\\PC{0,10}",
    ];
    (scheme, user, host, port, path, query)
        .prop_map(|(s, u, h, p, pa, q)| format!("{s}://{u}{h}{p}{pa}{q}"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    #[test]
    fn any_url_parses_consistently_or_is_refused_on_one_short_line(
        text in prop_oneof![url_text(), any::<String>(), "\\PC{0,3000}"]
    ) {
        match SourceUrl::parse(&text) {
            Ok(u) => {
                // It prints to a URL that parses to the same.
                prop_assert_eq!(SourceUrl::parse(&u.as_url()), Ok(u.clone()));
                // Nothing that reaches GStreamer has a control character (a NUL panicked glib).
                match &u {
                    SourceUrl::File(p) => {
                        prop_assert!(!p.to_string_lossy().chars().any(char::is_control));
                    }
                    SourceUrl::Rtmp(s) | SourceUrl::Rtsp(s) => {
                        prop_assert!(!s.chars().any(char::is_control));
                        prop_assert!(s.len() <= 2048);
                    }
                }
                // What may be shown hides the password and the key.
                prop_assert!(!u.redacted().contains("S3cr3tPW"), "{}", u.redacted());
            }
            Err(e) => {
                let shown = e.to_string();
                prop_assert!(!shown.contains('\n'), "{shown}");
                prop_assert!(shown.chars().count() < 400, "{} characters", shown.chars().count());
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// MediaMTX's Control API answers

/// JSON shaped like a `Path` answer, with every field of any type, and unknown fields.
fn path_json() -> impl Strategy<Value = Value> {
    let scalar = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON numbers", |f| f.is_finite())
            .prop_map(Value::from),
        "\\PC{0,20}".prop_map(Value::from),
        any::<String>().prop_map(Value::from),
        (1usize..5000).prop_map(|n| Value::from("H".repeat(n))),
        prop_oneof![
            Just("H264"),
            Just("H265"),
            Just("MPEG-4 Audio"),
            Just("G711"),
            Just("LPCM"),
            Just("Baseline"),
            Just("High"),
            Just("webRTCSession"),
            Just("rtmpConn")
        ]
        .prop_map(Value::from),
    ];
    let fields = [
        "name",
        "confName",
        "available",
        "online",
        "ready",
        "onlineTime",
        "source",
        "tracks2",
        "tracks",
        "readers",
        "inboundBytes",
        "bytesReceived",
        "codec",
        "codecProps",
        "width",
        "height",
        "profile",
        "sampleRate",
        "channelCount",
        "muLaw",
        "type",
        "id",
        "extra",
    ];
    scalar.prop_recursive(4, 64, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..10).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(fields.to_vec()), inner), 0..8).prop_map(
                |kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            ),
        ]
    })
}

fn api_error() -> impl Strategy<Value = ApiError> {
    let text = prop_oneof![
        "\\PC{0,40}",
        any::<String>(),
        (1usize..100_000).prop_map(|n| "x".repeat(n))
    ];
    (0..4u8, text, any::<u16>()).prop_map(|(k, t, status)| match k {
        0 => ApiError::Unreachable {
            addr: "127.0.0.1:9997".into(),
            reason: t,
        },
        1 => ApiError::NotFound {
            path: "live/drone".into(),
            message: t,
        },
        2 => ApiError::Status { status, message: t },
        _ => ApiError::Malformed(t),
    })
}

fn context(separate: bool, settled: bool, b: Option<bool>) -> Context {
    Context {
        publish_url: "rtmp://192.168.50.1:1935/live/drone".into(),
        api: "127.0.0.1:9997".parse().unwrap(),
        separate_view_path: separate,
        settled,
        b_frames_seen: b,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn any_api_answer_is_interpreted_without_panic_and_briefly(
        ingest in prop_oneof![path_json().prop_map(Ok), api_error().prop_map(Err)],
        view in prop_oneof![Just(None), path_json().prop_map(|v| Some(Ok(v))),
                            api_error().prop_map(|e| Some(Err(e)))],
        version in prop_oneof![Just(None), any::<String>().prop_map(Some)],
        separate in any::<bool>(), settled in any::<bool>(),
        b in prop_oneof![Just(None), any::<bool>().prop_map(Some)],
    ) {
        // The client's JSON step: a shape serde refuses is the client's Malformed error.
        let as_path = |v: Value| serde_json::from_value::<ApiPath>(v)
            .map_err(|e| ApiError::Malformed(e.to_string()));
        let ingest = ingest.and_then(as_path);
        let view = view.map(|v| v.and_then(as_path));
        let online = ingest.as_ref().map(|p| p.is_online()).unwrap_or(false);
        let answered = ingest.is_ok();
        let r = interpret(ingest, view, version, &context(separate, settled, b));
        prop_assert_eq!(r.publisher, online);
        prop_assert_eq!(r.reachable || !answered, true);
        if answered && !online {
            prop_assert!(r.message.starts_with("no drone on "), "{}", r.message);
        }
        prop_assert!(r.message.chars().count() <= 601, "{} characters", r.message.chars().count());
        prop_assert!(r.tracks.len() <= 8);
        for label in r.tracks.iter().chain(&r.codec).chain(&r.h264_profile).chain(&r.source_type)
            .chain(&r.version)
        {
            prop_assert!(label.chars().count() <= 33, "{label:?}");
        }
        if let Some(w) = &r.b_frames_warning {
            prop_assert!(w.chars().count() <= 601);
        }
    }
}

#[test]
fn a_huge_codec_label_and_a_huge_error_stay_brief() {
    // The cases the properties found worth pinning: MediaMTX (or something in its place)
    // answering with megabytes where a label belongs.
    let huge = "H".repeat(1 << 20);
    let path: ApiPath = serde_json::from_value(json!({
        "name": "live/drone", "online": true,
        "tracks2": (0..50).map(|_| json!({"codec": huge})).collect::<Vec<_>>(),
    }))
    .unwrap();
    let r = interpret(
        Ok(path),
        None,
        Some(huge.clone()),
        &context(false, false, None),
    );
    assert!(r.message.len() < 2000, "{}", r.message.len());
    assert_eq!(r.tracks.len(), 8);
    let r = interpret(
        Err(ApiError::Malformed(huge)),
        None,
        None,
        &context(false, false, None),
    );
    assert!(r.message.len() < 2000, "{}", r.message.len());
}
