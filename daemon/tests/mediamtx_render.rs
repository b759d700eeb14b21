//! `render-mediamtx` against MediaMTX's own default configuration and API spec (the reference
//! copies in ../shared/reference/mediamtx/, from the pinned version): every rendered key exists
//! there with a compatible YAML type, and the file does what skycount relies on.

use std::path::PathBuf;
use std::process::Command;

use serde_norway::Value;
use skycountd::config::Settings;
use skycountd::mediamtx::{self, render};

fn reference(name: &str) -> PathBuf {
    let p = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/reference/mediamtx/"
    ))
    .join(name);
    assert!(
        p.is_file(),
        "{} is missing: the MediaMTX reference files (default mediamtx.yml, openapi.yaml) must \
         sit in shared/reference/mediamtx beside the repository",
        p.display()
    );
    p
}

fn yaml(path: &PathBuf) -> Value {
    serde_norway::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn default_config() -> Value {
    yaml(&reference("mediamtx.yml"))
}

/// The property names of an OpenAPI schema.
fn schema_properties(name: &str) -> Vec<String> {
    let spec = yaml(&reference("openapi.yaml"));
    let props = &spec["components"]["schemas"][name]["properties"];
    props
        .as_mapping()
        .unwrap_or_else(|| panic!("openapi.yaml has no schema {name}"))
        .keys()
        .map(|k| k.as_str().unwrap().to_string())
        .collect()
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Sequence(_) => "sequence",
        Value::Mapping(_) => "mapping",
        Value::Tagged(_) => "tagged",
    }
}

/// `ours` fits where MediaMTX's default has `theirs`: same YAML type; an unset (null) default
/// takes a string.
fn compatible(ours: &Value, theirs: &Value) -> bool {
    kind(ours) == kind(theirs) || (theirs.is_null() && ours.is_string())
}

/// Checks a mapping of ours against MediaMTX's; items of sequences of mappings are checked against
/// the union of the default's items (or the OpenAPI schema named in `item_schemas` when the
/// default list is empty).
fn check_mapping(ours: &Value, theirs: &Value, at: &str, errors: &mut Vec<String>) {
    let (Some(ours), Some(theirs)) = (ours.as_mapping(), theirs.as_mapping()) else {
        errors.push(format!("{at}: not a mapping on both sides"));
        return;
    };
    for (k, v) in ours {
        let key = k.as_str().unwrap_or("?");
        let here = if at.is_empty() {
            key.to_string()
        } else {
            format!("{at}.{key}")
        };
        let Some(d) = theirs.get(k) else {
            errors.push(format!(
                "{here}: not a key of MediaMTX's default configuration"
            ));
            continue;
        };
        if !compatible(v, d) {
            errors.push(format!(
                "{here}: ours is a {}, MediaMTX's default a {}",
                kind(v),
                kind(d)
            ));
            continue;
        }
        if let (Some(items), Some(defaults)) = (v.as_sequence(), d.as_sequence()) {
            check_items(items, defaults, &here, errors);
        }
    }
}

fn check_items(items: &[Value], defaults: &[Value], at: &str, errors: &mut Vec<String>) {
    let schema = match at.rsplit('.').next().unwrap_or(at) {
        "alwaysAvailableTracks" => Some("AlwaysAvailableTrack"),
        "forward" => Some("PathConfForwardDest"),
        _ => None,
    };
    if defaults.is_empty() {
        for (i, item) in items.iter().enumerate() {
            match (item, schema) {
                (Value::String(_), None) => {}
                (Value::Mapping(m), Some(schema)) => {
                    let known = schema_properties(schema);
                    for k in m.keys() {
                        let k = k.as_str().unwrap_or("?");
                        if !known.iter().any(|p| p == k) {
                            errors.push(format!("{at}[{i}].{k}: not in MediaMTX's {schema}"));
                        }
                    }
                }
                _ => errors.push(format!(
                    "{at}[{i}]: a {} where MediaMTX's default list is empty and no schema is known",
                    kind(item)
                )),
            }
        }
        return;
    }
    // The union of the default items' keys, each with its first type.
    let mut union = serde_norway::Mapping::new();
    for d in defaults {
        match d.as_mapping() {
            Some(m) => {
                for (k, v) in m {
                    if !union.contains_key(k) || union[k].is_null() {
                        union.insert(k.clone(), v.clone());
                    }
                }
            }
            None => {
                for (i, item) in items.iter().enumerate() {
                    if kind(item) != kind(d) {
                        errors.push(format!(
                            "{at}[{i}]: a {}, MediaMTX's default items are {}",
                            kind(item),
                            kind(d)
                        ));
                    }
                }
                return;
            }
        }
    }
    let union = Value::Mapping(union);
    for (i, item) in items.iter().enumerate() {
        check_mapping(item, &union, &format!("{at}[{i}]"), errors);
    }
}

fn check_against_reference(rendered: &str) {
    let ours: Value = serde_norway::from_str(rendered).expect("the rendered file is YAML");
    let theirs = default_config();
    let mut errors = Vec::new();
    let mut top = ours.as_mapping().unwrap().clone();
    let paths = top.remove("paths").expect("paths are rendered");
    check_mapping(&Value::Mapping(top), &theirs, "", &mut errors);
    for (name, conf) in paths.as_mapping().unwrap() {
        let name = name.as_str().expect("path names are strings");
        // The drones' paths are MediaMTX's regular-expression form (`~^…$`); the rest are names.
        if name != DRONES {
            mediamtx::check_path_name(name).unwrap();
        }
        check_mapping(
            conf,
            &theirs["pathDefaults"],
            &format!("paths.{name}"),
            &mut errors,
        );
    }
    assert!(
        errors.is_empty(),
        "rendered keys MediaMTX {} would refuse or misread:\n{}\n\n{rendered}",
        mediamtx::PINNED_VERSION,
        errors.join("\n")
    );
    // goccy/go-yaml as MediaMTX uses it reads YAML 1.1's yes/no/on/off as booleans.
    for line in rendered
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
    {
        let value = line.rsplit(": ").next().unwrap_or("").trim();
        assert!(
            !["yes", "no", "on", "off"].contains(&value.to_ascii_lowercase().as_str()),
            "{line:?} would be read as a boolean"
        );
    }
}

fn settings(toml: &str) -> Settings {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("skycount.toml");
    std::fs::write(&f, toml).unwrap();
    skycountd::config::load_from(Some(&f), &dir.path().join("none"), &[])
        .unwrap()
        .0
}

const KEY: &str = "PilotKey2024xyz";

#[test]
fn every_rendered_key_is_mediamtx_own_with_its_type() {
    for toml in [
        "",
        "[mediamtx]\nalways_available = false\n",
        "[hotspot]\nenabled = true\npassphrase = \"12345678\"\n\
         [mediamtx]\nalways_available_tracks = [\"H264\", \"MPEG4Audio:44100:2\", \"G711:8000:1:mulaw\"]\n\
         additional_hosts = [\"skycount.local\"]\n",
        "[stream]\npath = \"drone\"\nview_path = \"viewers\"\nrtmp_port = 1936\nrtsp_port = 8555\nwebrtc_port = 8890\n",
        "[stream]\npairing = false\n",
        "[server]\nlisten = \"[::]:8080\"\n",
    ] {
        let s = settings(toml);
        let hosts = render::webrtc_hosts(&s, &["10.1.2.3".to_string()]);
        check_against_reference(&render::render(&s, KEY, &hosts, "test.toml"));
    }
}

#[test]
fn the_file_does_what_skycount_relies_on() {
    let s = settings(
        "[hotspot]\nenabled = true\npassphrase = \"12345678\"\n\
         [mediamtx]\nadditional_hosts = [\"skycount.local\"]\n",
    );
    let hosts = render::webrtc_hosts(&s, &["10.1.2.3".to_string()]);
    let text = render::render(&s, KEY, &hosts, "test.toml");
    let y: Value = serde_norway::from_str(&text).unwrap();

    // Ports and loopback-only services.
    assert_eq!(y["rtmpAddress"], Value::from(":1935"));
    assert_eq!(y["webrtcAddress"], Value::from(":8889"));
    assert_eq!(y["rtspAddress"], Value::from("127.0.0.1:8554"));
    assert_eq!(y["apiAddress"], Value::from("127.0.0.1:9997"));
    assert_eq!(y["metricsAddress"], Value::from("127.0.0.1:9998"));
    assert_eq!(y["api"], Value::from(true));
    for off in ["hls", "srt", "moq", "pprof", "playback"] {
        assert_eq!(y[off], Value::from(false), "{off}");
    }

    // WebRTC offline: no STUN/TURN; the hotspot, the configured and the found addresses.
    assert_eq!(y["webrtcICEServers2"], Value::Sequence(vec![]));
    assert!(!text.contains("stun:") && !text.contains("turn:"));
    let announced: Vec<&str> = y["webrtcAdditionalHosts"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(announced, ["192.168.50.1", "skycount.local", "10.1.2.3"]);

    // Credentials: the key never in clear; the drone may only publish, only to its path.
    assert!(!text.contains(KEY), "the key is stored hashed");
    let users = y["authInternalUsers"].as_sequence().unwrap();
    let drone = &users[0];
    assert_eq!(drone["user"], Value::from("drone"));
    assert_eq!(
        drone["pass"],
        Value::from(render::sha256_credential(KEY).as_str())
    );
    // With several drones (analysis.max_streams, 3 by default) to any one level under live/.
    assert_eq!(
        drone["permissions"],
        serde_norway::from_str::<Value>(&format!(
            "[{{action: publish, path: live/drone}}, {{action: publish, path: '{DRONES}'}}]"
        ))
        .unwrap()
    );
    // Loopback reads the ingest path without credentials (skycountd), feeds the viewers' path
    // (the forward) and uses the API and metrics.
    let local = &users[1];
    assert_eq!(local["user"], Value::from("any"));
    assert_eq!(
        local["ips"],
        serde_norway::from_str::<Value>("[127.0.0.1, '::1']").unwrap()
    );
    let actions: Vec<(String, String)> = local["permissions"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["action"].as_str().unwrap().to_string(),
                p["path"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    for want in [
        ("read", "live/drone"),
        ("read", DRONES),
        ("publish", "live/drone/view"),
        ("api", ""),
        ("metrics", ""),
    ] {
        assert!(
            actions.iter().any(|(a, p)| a == want.0 && p == want.1),
            "{want:?} in {actions:?}"
        );
    }
    // Everyone else may only read what browsers play.
    let anyone = &users[2];
    assert_eq!(anyone["ips"], Value::Sequence(vec![]));
    assert_eq!(
        anyone["permissions"],
        serde_norway::from_str::<Value>("[{action: read, path: live/drone/view}]").unwrap()
    );
    assert_eq!(
        users.len(),
        3,
        "no other user: MediaMTX's permissive default is gone"
    );

    // Paths: the ingest replaces a stale publisher and feeds the always-available viewers' path.
    let ingest = &y["paths"]["live/drone"];
    assert_eq!(ingest["overridePublisher"], Value::from(true));
    assert_eq!(
        ingest["forward"][0]["dest"],
        Value::from("rtsp://127.0.0.1:8554/live/drone/view")
    );
    let view = &y["paths"]["live/drone/view"];
    assert_eq!(view["alwaysAvailable"], Value::from(true));
    assert_eq!(
        view["alwaysAvailableTracks"][0]["codec"],
        Value::from("H264")
    );
    // Every other drone's path (MediaMTX takes exact names before expressions, so live/drone
    // keeps its forward): a publisher that replaces a stale one, nothing else.
    let drones = &y["paths"][DRONES];
    assert_eq!(drones["source"], Value::from("publisher"));
    assert_eq!(drones["overridePublisher"], Value::from(true));
    assert!(drones.get("forward").is_none());
}

/// The drones' paths as rendered: one level under live/, MediaMTX's path characters less '/'.
const DRONES: &str = "~^live/[A-Za-z0-9_.-]{1,64}$";

#[test]
fn with_one_stream_only_the_configured_path_is_a_drone_s() {
    let s = settings("[analysis]\nmax_streams = 1\n");
    let text = render::render(&s, KEY, &[], "t");
    assert!(!text.contains("~^"), "{text}");
    let y: Value = serde_norway::from_str(&text).unwrap();
    assert_eq!(y["paths"].as_mapping().unwrap().len(), 2);
    assert_eq!(
        y["authInternalUsers"][0]["permissions"],
        serde_norway::from_str::<Value>("[{action: publish, path: live/drone}]").unwrap()
    );
    // A source that is not MediaMTX's: no drones' path either.
    let s = settings("[source]\nurl = \"rtsp://10.0.0.9/cam\"\n");
    assert!(!render::render(&s, KEY, &[], "t").contains("~^"));
}

#[test]
fn with_pairing_mediamtx_asks_skycountd_and_without_it_checks_the_key_itself() {
    let asks = |toml: &str| {
        let text = render::render(&settings(toml), KEY, &[], "t");
        let y: Value = serde_norway::from_str(&text).unwrap();
        (
            y["authMethod"].as_str().unwrap().to_string(),
            y.get("authHTTPAddress")
                .map(|v| v.as_str().unwrap().to_string()),
            y.get("authHTTPExclude").cloned(),
            text,
        )
    };
    // On by default: every action asked (none excluded), at skycountd's listener over loopback.
    let (method, address, exclude, text) = asks("");
    assert_eq!(method, "http");
    assert_eq!(
        address.as_deref(),
        Some("http://127.0.0.1:80/api/mediamtx/auth")
    );
    assert_eq!(exclude, Some(Value::Sequence(vec![])));
    assert!(
        text.contains("with no key once the operator allows it"),
        "{text}"
    );
    assert_eq!(
        skycountd::mediamtx::pairing::AUTH_PATH,
        "/api/mediamtx/auth",
        "the route skycountd serves"
    );
    let (_, address, _, _) = asks("[server]\nlisten = \"192.168.50.1:8080\"\n");
    assert_eq!(
        address.as_deref(),
        Some("http://192.168.50.1:8080/api/mediamtx/auth")
    );
    let (_, address, _, _) = asks("[server]\nlisten = \"[::]:8080\"\n");
    assert_eq!(
        address.as_deref(),
        Some("http://[::1]:8080/api/mediamtx/auth")
    );
    // Off: MediaMTX's own users check the key, as before pairing existed.
    let (method, address, exclude, text) = asks("[stream]\npairing = false\n");
    assert_eq!(method, "internal");
    assert_eq!((address, exclude), (None, None));
    assert!(!text.contains("operator allows"), "{text}");
}

#[test]
fn without_always_available_browsers_play_the_ingest_path() {
    let s = settings("[mediamtx]\nalways_available = false\n");
    let text = render::render(&s, KEY, &[], "t");
    let y: Value = serde_norway::from_str(&text).unwrap();
    let paths = y["paths"].as_mapping().unwrap();
    assert_eq!(paths.len(), 2, "live/drone and the other drones' paths");
    assert!(y["paths"]["live/drone"].get("forward").is_none());
    assert_eq!(
        y["authInternalUsers"][2]["permissions"],
        serde_norway::from_str::<Value>("[{action: read, path: live/drone}]").unwrap()
    );
}

#[test]
fn the_command_writes_the_file_with_the_kept_key() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("stream-key");
    let out = dir.path().join("run/mediamtx.yml");
    let config = dir.path().join("skycount.toml");
    std::fs::write(
        &config,
        format!(
            "[stream]\nkey_file = \"{}\"\n[mediamtx]\nconfig_out = \"{}\"\n",
            key_file.display(),
            out.display()
        ),
    )
    .unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_skycountd"))
            .arg("--config")
            .arg(&config)
            .args(args)
            .output()
            .unwrap()
    };
    // No key yet and not asked to create one: a clear refusal, nothing written.
    let o = run(&["render-mediamtx"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("no stream key yet"), "{err}");
    assert!(!out.exists());

    let o = run(&["render-mediamtx", "--create-key"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let key = std::fs::read_to_string(&key_file)
        .unwrap()
        .trim()
        .to_string();
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.contains(&render::sha256_credential(&key)));
    check_against_reference(&text);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&out).unwrap().permissions().mode() & 0o777,
        0o640
    );

    // The pilot's URL carries the same key.
    let o = run(&["pilot-url", "--host", "192.168.50.1"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        format!("rtmp://192.168.50.1:1935/live/drone?user=drone&pass={key}")
    );
}

#[test]
fn bad_configurations_render_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("skycount.toml");
    let out = dir.path().join("mediamtx.yml");
    for (toml, expect) in [
        ("[stream]\npath = \"live/drone cam\"\n", "`stream.path`"),
        (
            "[stream]\nrtsp_port = 1935\n",
            "port 1935 is also stream.rtmp_port's",
        ),
        (
            "[mediamtx]\nmetrics = \"0.0.0.0:9998\"\n",
            "not a loopback address",
        ),
    ] {
        std::fs::write(&config, toml).unwrap();
        let o = Command::new(env!("CARGO_BIN_EXE_skycountd"))
            .arg("--config")
            .arg(&config)
            .args(["render-mediamtx", "--create-key", "--out"])
            .arg(&out)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{toml}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(expect), "{toml}: {err}");
        assert!(err.contains("skycount.toml"), "names the file: {err}");
        assert!(!out.exists());
    }
}

#[test]
fn the_check_catches_what_mediamtx_would_refuse() {
    let s = settings("[mediamtx]\nalways_available_tracks = [\"MPEG4Audio:44100:2\"]\n");
    let good = render::render(&s, KEY, &[], "t");
    for (from, to) in [
        ("moq: false", "moqEnabled: false"), // unknown key
        ("api: true", "api: 'yes please'"),  // wrong type
        ("overridePublisher: true", "overridePublisher: 1"),
        ("codec: MPEG4Audio", "codecName: MPEG4Audio"), // not in AlwaysAvailableTrack
        ("- dest: rtsp", "- destination: rtsp"),        // not in PathConfForwardDest
        ("  - action: metrics", "  - action: metrics\n    paths: x"), // not a permission key
        ("hls: false", "hls: no"),                      // read as a YAML 1.1 boolean
    ] {
        assert!(good.contains(from), "{from}");
        let bad = good.replacen(from, to, 1);
        let caught = std::panic::catch_unwind(|| check_against_reference(&bad)).is_err();
        assert!(caught, "{to:?} was not caught");
    }
}
