//! Zones and alerts against the real daemon on a live stream: the operator puts zones (bad ones
//! are refused with the reason, viewers cannot), each analysis carries the zones' counts (a zone
//! over the whole frame counts `count`; two halves add up to it), the zones survive a restart, a
//! low limit raises an alert that the status, Socket.IO and /metrics show, and the operator
//! acknowledges it.

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use rust_socketio::{ClientBuilder, Payload, RawClient};
use serde_json::{json, Value};

const PIN: &str = "zones-test-pin";

fn config(url: &str, port: u16, state: &Path) -> String {
    let operator = operator_section(PIN, state);
    test_config(url, port, &tiny_model(), &operator).replace(
        "[analysis]\n",
        &format!(
            "[analysis]\nstate_dir = \"{}\"\nsmooth_ms = 1000\nalert_hold_ms = 500\n",
            state.display()
        ),
    )
}

/// A request with a JSON body (`cookie` empty: none), with an `Origin` when given.
fn send(
    d: &Daemon,
    cookie: &str,
    origin: Option<&str>,
    method: &str,
    path: &str,
    body: &Value,
) -> (u16, Value) {
    let url = format!("{}{path}", d.base());
    let mut req = match method {
        "PUT" => agent().put(&url),
        "POST" => agent().post(&url),
        other => panic!("{other}"),
    }
    .header("Content-Type", "application/json");
    if !cookie.is_empty() {
        req = req.header("Cookie", cookie);
    }
    if let Some(o) = origin {
        req = req.header("Origin", o);
    }
    let mut res = req
        .send(body.to_string())
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let code = res.status().as_u16();
    let text = res.body_mut().read_to_string().unwrap();
    (
        code,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[derive(Default)]
struct Seen {
    analyses: Vec<Value>,
    alerts: Vec<Value>,
}

fn listen(base: &str, seen: Arc<Mutex<Seen>>) -> rust_socketio::client::Client {
    let a = seen.clone();
    let s = seen;
    ClientBuilder::new(base)
        .transport_type(rust_socketio::TransportType::Websocket)
        .on("analysis", move |p: Payload, _: RawClient| {
            if let Payload::Text(v) = p {
                a.lock().unwrap().analyses.push(v[0].clone());
            }
        })
        .on("alert", move |p: Payload, _: RawClient| {
            if let Payload::Text(v) = p {
                s.lock().unwrap().alerts.push(v[0].clone());
            }
        })
        .connect()
        .expect("Socket.IO client cannot connect")
}

/// The next analysis that has `n` zones.
fn zoned_analysis(seen: &Arc<Mutex<Seen>>, n: usize) -> Value {
    let from = seen.lock().unwrap().analyses.len();
    wait_for(Duration::from_secs(30), || {
        let s = seen.lock().unwrap();
        s.analyses[from.min(s.analyses.len())..]
            .iter()
            .find(|a| a["zones"].as_array().is_some_and(|z| z.len() == n))
            .cloned()
    })
    .unwrap_or_else(|| panic!("no analysis with {n} zones within 30 s"))
}

const WHOLE: [[f64; 2]; 4] = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]];
const LEFT: [[f64; 2]; 4] = [[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]];
const RIGHT: [[f64; 2]; 4] = [[0.5, 0.0], [1.0, 0.0], [1.0, 1.0], [0.5, 1.0]];

#[test]
fn zones_count_survive_a_restart_and_raise_alerts_the_operator_acknowledges() {
    let rtmp = RtmpServer::start();
    let url = rtmp.url("drone");
    let _publisher = publish(&url, 640, 360, 15);
    let state = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = config(&url, port, state.path());
    let mut d = Daemon::start(&cfg);
    let seen = Arc::new(Mutex::new(Seen::default()));
    let client = listen(&d.base(), seen.clone());
    let plain = zoned_analysis(&seen, 0);
    assert_eq!(plain["zones"], json!([]), "no zones yet: {plain}");

    let zones = json!({"zones": [
        {"name": "whole", "points": WHOLE},
        {"name": " left ", "points": LEFT},
        {"name": "right", "points": RIGHT, "limit": 100000},
    ]});
    // Viewers change nothing; nor does another site's page.
    let (code, _) = send(&d, "", None, "PUT", "/api/operator/zones", &zones);
    assert_eq!(code, 401);
    let (code, _) = send(
        &d,
        "",
        None,
        "POST",
        "/api/operator/alerts/1/ack",
        &json!({}),
    );
    assert_eq!(code, 401);
    let op = sign_in(&d, PIN);
    let (code, _) = send(
        &d,
        &op,
        Some("http://evil.example"),
        "PUT",
        "/api/operator/zones",
        &zones,
    );
    assert_eq!(code, 403);

    // Bad zones: 422 with the reason, and nothing changes.
    for (bad, want) in [
        (
            json!({"zones": [{"name": "bow tie", "points": [[0.1, 0.1], [0.6, 0.5], [0.6, 0.1], [0.1, 0.3]]}]}),
            "cross",
        ),
        (
            json!({"zones": [{"name": "a", "points": LEFT}, {"name": "a", "points": RIGHT}]}),
            "another zone has this name",
        ),
        (
            json!({"zones": [{"name": "a", "points": [[0.0, 0.0], [1.5, 0.0], [0.0, 1.0]]}]}),
            "outside the frame",
        ),
        (
            json!({"zones": [{"name": "a", "points": [[0.1, 0.1], [0.2, 0.2], [0.3, 0.3]]}]}),
            "no area",
        ),
        (
            json!({"zones": [{"name": "a", "points": LEFT, "limit": 0}]}),
            "limit of 0",
        ),
    ] {
        let (code, answer) = send(&d, &op, None, "PUT", "/api/operator/zones", &bad);
        assert_eq!(code, 422, "{bad}: {answer}");
        let error = answer["error"].as_str().unwrap_or_default();
        assert!(error.contains(want), "{error} (wanted {want})");
    }
    assert_eq!(d.status()["zones"], json!([]));

    let (code, answer) = send(&d, &op, None, "PUT", "/api/operator/zones", &zones);
    assert_eq!(code, 200, "{answer}");
    assert_eq!(answer["zones"][1]["name"], "left", "names are trimmed");
    let status = d.status();
    assert_eq!(status["zones"], answer["zones"], "{status}");

    // The counts add up: the whole frame is `count`, the halves share it.
    let a = zoned_analysis(&seen, 3);
    let count = a["count"].as_f64().unwrap();
    let z = |i: usize, key: &str| a["zones"][i][key].as_f64().unwrap();
    let close = |x: f64, y: f64| (x - y).abs() <= 1e-6 * count.max(1.0);
    assert!(count > 0.0, "the tiny model counts something: {a}");
    assert!(close(z(0, "count"), count), "{a}");
    assert!(close(z(1, "count") + z(2, "count"), count), "{a}");
    assert!(close(z(1, "share") + z(2, "share"), 1.0), "{a}");
    assert_eq!(a["zones"][2]["limit"], 100000);
    assert_eq!(a["zones"][2]["alerting"], false);
    assert_eq!(a["zones"][0]["limit"], Value::Null);
    eprintln!("counts: whole {count:.3}, left {:.3}", z(1, "count"));

    // /metrics has a gauge per zone.
    let (_, metrics) = d.get("/metrics").unwrap();
    let metrics = String::from_utf8(metrics).unwrap();
    for zone in ["whole", "left", "right"] {
        assert!(
            metrics.contains(&format!("skycount_zone_people{{zone=\"{zone}\"}}")),
            "{zone} missing from /metrics:\n{metrics}"
        );
    }

    // Kept on disk: a restart counts the same zones.
    client.disconnect().unwrap();
    d.proc
        .terminate(Duration::from_secs(10))
        .expect("skycountd did not stop");
    let d = Daemon::start(&cfg);
    assert_eq!(d.status()["zones"], answer["zones"], "zones kept");
    let op = sign_in(&d, PIN);
    let seen = Arc::new(Mutex::new(Seen::default()));
    let client = listen(&d.base(), seen.clone());
    let after = zoned_analysis(&seen, 3);
    assert_eq!(after["zones"][1]["name"], "left");

    // A limit well under the whole frame's count (half of it; the moving test pattern makes it
    // vary): an alert within the hold (0.5 s) and the smoothing (1 s), seen in the status, on
    // Socket.IO and in /metrics.
    let limit = ((count / 2.0).floor() as u64).max(1);
    let low = json!({"zones": [{"name": "whole", "points": WHOLE, "limit": limit}]});
    let (code, answer) = send(&d, &op, None, "PUT", "/api/operator/zones", &low);
    assert_eq!(code, 200, "{answer}");
    let alert = wait_for(Duration::from_secs(30), || {
        let s = d.status();
        s["alerts"].as_array()?.first().cloned()
    })
    .unwrap_or_else(|| panic!("no alert within 30 s at a limit of {limit}: {}", d.status()));
    assert_eq!(alert["zone"], "whole", "{alert}");
    assert_eq!(alert["stream"], "live_drone", "{alert}");
    assert_eq!(alert["limit"], limit);
    assert!(alert["count"].as_f64().unwrap() >= limit as f64, "{alert}");
    assert_eq!(alert["cleared_ms"], Value::Null);
    assert_eq!(alert["acknowledged_ms"], Value::Null);
    let id = alert["id"].as_u64().unwrap();
    assert!(
        id >= alert["raised_ms"].as_u64().unwrap(),
        "ids from the clock: {alert}"
    );
    wait_for(Duration::from_secs(10), || {
        let s = seen.lock().unwrap();
        s.alerts.iter().any(|a| a["id"] == id).then_some(())
    })
    .expect("the alert event reached Socket.IO");
    let alerting = zoned_analysis(&seen, 1);
    assert_eq!(alerting["zones"][0]["alerting"], true, "{alerting}");
    let (_, metrics) = d.get("/metrics").unwrap();
    assert!(String::from_utf8(metrics)
        .unwrap()
        .contains("skycount_alerts_raised_total 1"));

    // Acknowledged: still open (it has not cleared), marked, and told to every viewer.
    let (code, _) = send(
        &d,
        &op,
        None,
        "POST",
        "/api/operator/alerts/999/ack",
        &json!({}),
    );
    assert_eq!(code, 404);
    let (code, acked) = send(
        &d,
        &op,
        None,
        "POST",
        &format!("/api/operator/alerts/{id}/ack"),
        &json!({}),
    );
    assert_eq!(code, 200, "{acked}");
    assert_eq!(acked["id"], id);
    assert!(acked["acknowledged_ms"].as_u64().is_some(), "{acked}");
    // The status is the hub's snapshot, which takes the acknowledgement from the engine's
    // events: it may be a moment behind the answer (seen on a clean-clone CI run).
    let open = wait_for(Duration::from_secs(10), || {
        let open = d.status()["alerts"].clone();
        (open[0]["acknowledged_ms"] == acked["acknowledged_ms"]).then_some(open)
    })
    .unwrap_or_else(|| d.status()["alerts"].clone());
    assert_eq!(
        open[0]["acknowledged_ms"], acked["acknowledged_ms"],
        "{open}"
    );
    wait_for(Duration::from_secs(10), || {
        let s = seen.lock().unwrap();
        s.alerts
            .iter()
            .any(|a| a["id"] == id && a["acknowledged_ms"].is_u64())
            .then_some(())
    })
    .expect("the acknowledgement reached Socket.IO");

    // The limit removed: the alert clears and, acknowledged already, closes.
    let none = json!({"zones": [{"name": "whole", "points": WHOLE}]});
    let (code, _) = send(&d, &op, None, "PUT", "/api/operator/zones", &none);
    assert_eq!(code, 200);
    wait_for(Duration::from_secs(30), || {
        d.status()["alerts"].as_array()?.is_empty().then_some(())
    })
    .unwrap_or_else(|| panic!("the alert stayed open: {}", d.status()));
    client.disconnect().unwrap();
}
