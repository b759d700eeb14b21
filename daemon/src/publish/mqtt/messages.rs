//! What the box publishes: its topics and their JSON payloads, made from the hub's items.
//!
//! Plain functions from data to [`Message`]s, so that tests check every topic and payload
//! without a broker. The layout (docs/mqtt.md is the reference for users):
//!
//! ```text
//! <prefix>/<box>/availability          online | offline   retained; the last will is offline
//! <prefix>/<box>/status                the box's state     retained; on every change
//! <prefix>/<box>/alert                 each alert change   (raised, cleared, acknowledged)
//! <prefix>/<box>/<stream>/count        the count           at most every count_interval_ms
//! <prefix>/<box>/<stream>/zone/<zone>  one zone's count    with the count
//! <prefix>/<box>/<stream>/alerting     {"alerting": bool}  retained; on change
//! ```
//!
//! `<box>` is the box's name (`mqtt.client_id`), `<stream>` the stream path's key (`live_drone`,
//! as in the store) and `<zone>` the zone's name made topic-safe by [`level`].

use serde_json::json;

use super::outbox::Message;
use crate::wire::{Alert, Analysis, Status};

/// The payloads of the availability topic.
pub const ONLINE: &str = "online";
pub const OFFLINE: &str = "offline";

/// `text` as one topic level and Home Assistant id: ASCII letters, digits, `-` and `_` kept,
/// anything else (`/`, `+`, `#`, spaces, accents) becomes `_`; never empty.
pub fn level(text: &str) -> String {
    let s: String = text
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() {
        "_".into()
    } else {
        s
    }
}

/// The topics of one box and stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Topics {
    /// `<prefix>/<box>`.
    pub base: String,
    /// `<prefix>/<box>/<stream>`.
    pub stream: String,
}

impl Topics {
    pub fn new(prefix: &str, box_name: &str, stream_key: &str) -> Self {
        let base = format!("{prefix}/{box_name}");
        let stream = format!("{base}/{}", level(stream_key));
        Self { base, stream }
    }

    pub fn availability(&self) -> String {
        format!("{}/availability", self.base)
    }

    pub fn status(&self) -> String {
        format!("{}/status", self.base)
    }

    pub fn alert(&self) -> String {
        format!("{}/alert", self.base)
    }

    pub fn count(&self) -> String {
        format!("{}/count", self.stream)
    }

    pub fn zone(&self, zone: &str) -> String {
        format!("{}/zone/{}", self.stream, level(zone))
    }

    pub fn alerting(&self) -> String {
        format!("{}/alerting", self.stream)
    }

    /// A message the client gave back, with the kind it was made with: retained ones and
    /// alerts are kept, the rest (counts and zones) are counts.
    pub fn message(&self, topic: String, payload: Vec<u8>, retain: bool) -> Message {
        if retain {
            Message::retained(topic, payload)
        } else if topic == self.alert() {
            Message::event(topic, payload)
        } else {
            Message::count(topic, payload)
        }
    }
}

/// One decimal is all a count means.
fn tenth(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

fn to_vec(v: serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(&v).expect("JSON values serialise")
}

/// The count message and one per zone (none while the camera moves: `camera.zones_paused`), for
/// one analysis. `n` numbers the count messages of this run (1, 2, …), so a follower can tell how
/// many it missed.
pub fn counts(t: &Topics, a: &Analysis, n: u64) -> Vec<Message> {
    let mut out = vec![Message::count(
        t.count(),
        to_vec(json!({
            "n": n,
            "seq": a.seq,
            "time": a.wall_time_ms,
            "total": tenth(a.count),
            "smoothed": tenth(a.smoothed),
            "band": [tenth(a.band[0]), tenth(a.band[1])],
            "calibrated": a.calibrated,
            "demo": a.demo,
        })),
    )];
    // While the camera moves the zones cover other ground: their counts mean nothing.
    let zones = if a.camera.zones_paused {
        &[][..]
    } else {
        &a.zones[..]
    };
    for z in zones {
        out.push(Message::count(
            t.zone(&z.name),
            to_vec(json!({
                "n": n,
                "seq": a.seq,
                "time": a.wall_time_ms,
                "zone": z.name,
                "count": tenth(z.count),
                "share": (z.share * 1000.0).round() / 1000.0,
                "limit": z.limit,
                "alerting": z.alerting,
            })),
        ));
    }
    out
}

/// Whether any zone of `a` is alerting: the state of the alert binary sensor.
pub fn alerting(t: &Topics, zones: &[String]) -> Message {
    Message::retained(
        t.alerting(),
        to_vec(json!({ "alerting": !zones.is_empty(), "zones": zones })),
    )
}

/// An alert as it is now (raised, cleared or acknowledged).
pub fn alert(t: &Topics, box_name: &str, a: &Alert) -> Message {
    let mut v = serde_json::to_value(a).expect("an alert serialises");
    v["box"] = json!(box_name);
    v["state"] = json!(if a.cleared_ms.is_some() {
        "cleared"
    } else {
        "raised"
    });
    Message::event(t.alert(), to_vec(v))
}

/// What in the status is worth publishing again when it changes (not the clock, the uptime or
/// the rates, which change all the time).
pub fn status_key(s: &Status, health: &Result<(), String>) -> serde_json::Value {
    json!({
        "state": s.stream.state,
        "state_since": s.stream.state_since_ms,
        "demo": s.stream.demo,
        "error": s.stream.error,
        "decoder": s.stream.decoder,
        "model": s.model.name,
        "execution_provider": s.execution_provider,
        "health": match health { Ok(()) => "ok".to_string(), Err(e) => e.clone() },
        "calibrated": s.calibration.is_some(),
    })
}

/// The box's status, small enough for any broker: the stream, the model and the health (its
/// [`status_key`]), with the time, the analysis rate, the version and the uptime.
pub fn status(t: &Topics, key: &serde_json::Value, s: &Status, now_ms: u64) -> Message {
    let mut v = key.clone();
    v["time"] = json!(now_ms);
    v["analysed_fps"] = json!((s.rates.analysed_fps * 100.0).round() / 100.0);
    v["version"] = json!(s.version);
    v["uptime_s"] = json!(s.uptime_s);
    Message::retained(t.status(), to_vec(v))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::wire::{DensityGrid, ZoneCount};

    pub fn analysis(zones: Vec<ZoneCount>) -> Analysis {
        Analysis {
            count: 12.345,
            inference_ms: 10.0,
            staleness_ms: 20.0,
            frame_width: 32,
            frame_height: 16,
            raw_count: 12.0,
            band: [8.04, 16.5],
            calibrated: true,
            density: DensityGrid {
                width: 1,
                height: 1,
                max: 0.0,
                data: vec![0],
            },
            zones,
            ..Analysis::example(42, 1_700_000_000_000, 11.96)
        }
    }

    pub fn zone(name: &str, count: f64, alerting: bool) -> ZoneCount {
        ZoneCount {
            name: name.into(),
            count,
            share: 0.4567,
            limit: Some(10),
            alerting,
        }
    }

    fn json(m: &Message) -> serde_json::Value {
        serde_json::from_slice(&m.payload).unwrap()
    }

    #[test]
    fn names_become_safe_topic_levels() {
        assert_eq!(level("Stage front"), "Stage_front");
        assert_eq!(level("a/b+c#d"), "a_b_c_d");
        assert_eq!(level("live_drone"), "live_drone");
        assert_eq!(level("sortie.été"), "sortie__t_");
        assert_eq!(level(""), "_");
        assert_eq!(level(&"x".repeat(500)).len(), 64);
    }

    #[test]
    fn counts_and_zones_have_their_documented_fields() {
        let t = Topics::new("skycount", "box-a", "live_drone");
        let a = analysis(vec![
            zone("Stage front", 5.04, true),
            zone("exit/1", 0.0, false),
        ]);
        let msgs = counts(&t, &a, 7);
        let topics: Vec<_> = msgs.iter().map(|m| m.topic.as_str()).collect();
        assert_eq!(
            topics,
            [
                "skycount/box-a/live_drone/count",
                "skycount/box-a/live_drone/zone/Stage_front",
                "skycount/box-a/live_drone/zone/exit_1"
            ]
        );
        assert!(msgs.iter().all(|m| !m.retain));
        let c = json(&msgs[0]);
        assert_eq!(c["n"], 7);
        assert_eq!(c["seq"], 42);
        assert_eq!(c["total"], 12.3);
        assert_eq!(c["smoothed"], 12.0);
        assert_eq!(c["band"], json!([8.0, 16.5]));
        assert_eq!(c["calibrated"], true);
        assert_eq!(c["time"], 1_700_000_000_000u64);
        let z = json(&msgs[1]);
        assert_eq!(z["zone"], "Stage front");
        assert_eq!(z["count"], 5.0);
        assert_eq!(z["share"], 0.457);
        assert_eq!(z["limit"], 10);
        assert_eq!(z["alerting"], true);
    }

    #[test]
    fn alerts_say_which_box_and_whether_they_hold() {
        let t = Topics::new("p", "b", "s");
        let mut a = Alert {
            id: 3,
            stream: "live_drone".into(),
            zone: "stage".into(),
            limit: 10,
            count: 12.0,
            raised_ms: 5,
            cleared_ms: None,
            acknowledged_ms: None,
        };
        let m = alert(&t, "b", &a);
        assert_eq!(m.topic, "p/b/alert");
        assert!(!m.retain);
        let v = json(&m);
        assert_eq!(
            (v["box"].as_str(), v["state"].as_str()),
            (Some("b"), Some("raised"))
        );
        assert_eq!(v["zone"], "stage");
        a.cleared_ms = Some(9);
        assert_eq!(json(&alert(&t, "b", &a))["state"], "cleared");
        let on = alerting(&t, &["stage".into()]);
        assert!(on.retain);
        assert_eq!(json(&on), json!({"alerting": true, "zones": ["stage"]}));
        assert_eq!(json(&alerting(&t, &[]))["alerting"], false);
    }
}
