//! Home Assistant MQTT discovery: retained configs that make the box's sensors appear there.
//!
//! The schema is Home Assistant's own documentation: "MQTT Discovery" (the topic
//! `<discovery_prefix>/<component>/[<node_id>/]<object_id>/config`, object ids of
//! `[a-zA-Z0-9_-]`, the `device` and `origin` maps, an empty retained payload to remove an
//! entity), "MQTT Sensor" (`state_topic` required; `unique_id`, `name`, `value_template`,
//! `unit_of_measurement`, `state_class`, `json_attributes_topic`, `availability_topic` with
//! `payload_available`/`payload_not_available`) and "MQTT Binary sensor" (`payload_on`,
//! `payload_off`, `device_class`), at home-assistant.io/integrations/mqtt,
//! /integrations/sensor.mqtt and /integrations/binary_sensor.mqtt. Full key names are used
//! (not the abbreviations), so that a person can read them in any MQTT client.
//!
//! One device per box (`identifiers: ["skycount_<box>"]`) holds, per stream: a `sensor` for the
//! count (the smoothed count as its state, the whole payload as attributes), a `sensor` per
//! zone, and a `binary_sensor` that is on while any zone alerts. Every config is published
//! retained at each (re)connect; a zone that is gone gets an empty retained config, which
//! removes its entity.

use serde_json::{json, Value};

use super::messages::{level, Topics, OFFLINE, ONLINE};
use super::outbox::Message;

/// Where the box's entities are described.
#[derive(Debug, Clone)]
pub struct Discovery {
    pub prefix: String,
    pub box_name: String,
    pub stream_key: String,
    pub version: String,
}

impl Discovery {
    fn device(&self) -> Value {
        json!({
            "identifiers": [format!("skycount_{}", self.box_name)],
            "name": self.box_name,
            "manufacturer": "skycount",
            "model": "skycount crowd counter",
            "sw_version": self.version,
        })
    }

    /// `<box>_<stream>`: the node of every object id.
    fn node(&self) -> String {
        format!("{}_{}", self.box_name, level(&self.stream_key))
    }

    fn common(&self, t: &Topics, unique_id: String, name: String, state_topic: String) -> Value {
        json!({
            "name": name,
            "unique_id": unique_id,
            "state_topic": state_topic,
            "availability_topic": t.availability(),
            "payload_available": ONLINE,
            "payload_not_available": OFFLINE,
            "device": self.device(),
            "origin": { "name": "skycount", "sw_version": self.version },
        })
    }

    fn topic(&self, component: &str, object_id: &str) -> String {
        format!("{}/{component}/{object_id}/config", self.prefix)
    }

    /// The count sensor and the alert binary sensor of the stream.
    pub fn stream(&self, t: &Topics) -> Vec<Message> {
        let node = self.node();
        let mut count = self.common(
            t,
            format!("skycount_{node}_count"),
            format!("People {}", self.stream_key),
            t.count(),
        );
        count["value_template"] = json!("{{ value_json.smoothed }}");
        count["unit_of_measurement"] = json!("people");
        count["state_class"] = json!("measurement");
        count["icon"] = json!("mdi:account-group");
        count["json_attributes_topic"] = json!(t.count());
        let mut alert = self.common(
            t,
            format!("skycount_{node}_alert"),
            format!("Crowd alert {}", self.stream_key),
            t.alerting(),
        );
        alert["value_template"] = json!("{{ 'ON' if value_json.alerting else 'OFF' }}");
        alert["payload_on"] = json!("ON");
        alert["payload_off"] = json!("OFF");
        alert["device_class"] = json!("problem");
        alert["json_attributes_topic"] = json!(t.alerting());
        vec![
            Message::retained(
                self.topic("sensor", &format!("{node}_count")),
                to_vec(&count),
            ),
            Message::retained(
                self.topic("binary_sensor", &format!("{node}_alert")),
                to_vec(&alert),
            ),
        ]
    }

    fn zone_topic(&self, zone: &str) -> String {
        self.topic("sensor", &format!("{}_zone_{}", self.node(), level(zone)))
    }

    /// The sensor of one zone.
    pub fn zone(&self, t: &Topics, zone: &str) -> Message {
        let node = self.node();
        let mut v = self.common(
            t,
            format!("skycount_{node}_zone_{}", level(zone)),
            format!("People in {zone}"),
            t.zone(zone),
        );
        v["value_template"] = json!("{{ value_json.count }}");
        v["unit_of_measurement"] = json!("people");
        v["state_class"] = json!("measurement");
        v["icon"] = json!("mdi:account-group-outline");
        v["json_attributes_topic"] = json!(t.zone(zone));
        Message::retained(self.zone_topic(zone), to_vec(&v))
    }

    /// Removes a zone's entity from Home Assistant (an empty retained config).
    pub fn remove_zone(&self, zone: &str) -> Message {
        Message::retained(self.zone_topic(zone), Vec::new())
    }
}

fn to_vec(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).expect("JSON values serialise")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d() -> (Discovery, Topics) {
        (
            Discovery {
                prefix: "homeassistant".into(),
                box_name: "box-a".into(),
                stream_key: "live_drone".into(),
                version: "0.1.0".into(),
            },
            Topics::new("skycount", "box-a", "live_drone"),
        )
    }

    #[test]
    fn configs_carry_the_documented_keys_and_distinct_ids() {
        let (d, t) = d();
        let mut msgs = d.stream(&t);
        msgs.push(d.zone(&t, "Stage front"));
        let topics: Vec<_> = msgs.iter().map(|m| m.topic.as_str()).collect();
        assert_eq!(
            topics,
            [
                "homeassistant/sensor/box-a_live_drone_count/config",
                "homeassistant/binary_sensor/box-a_live_drone_alert/config",
                "homeassistant/sensor/box-a_live_drone_zone_Stage_front/config",
            ]
        );
        let mut ids = Vec::new();
        for m in &msgs {
            assert!(m.retain);
            let v: Value = serde_json::from_slice(&m.payload).unwrap();
            for key in [
                "name",
                "unique_id",
                "state_topic",
                "availability_topic",
                "value_template",
                "device",
            ] {
                assert!(v.get(key).is_some(), "{} lacks {key}: {v}", m.topic);
            }
            assert_eq!(v["availability_topic"], "skycount/box-a/availability");
            assert_eq!(v["device"]["identifiers"], json!(["skycount_box-a"]));
            assert_eq!(v["device"]["sw_version"], "0.1.0");
            ids.push(v["unique_id"].as_str().unwrap().to_string());
        }
        let count: Value = serde_json::from_slice(&msgs[0].payload).unwrap();
        assert_eq!(count["state_topic"], "skycount/box-a/live_drone/count");
        assert_eq!(count["unit_of_measurement"], "people");
        let zone: Value = serde_json::from_slice(&msgs[2].payload).unwrap();
        assert_eq!(
            zone["state_topic"],
            "skycount/box-a/live_drone/zone/Stage_front"
        );
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 3, "unique ids are distinct: {ids:?}");
        let gone = d.remove_zone("Stage front");
        assert_eq!(gone.topic, msgs[2].topic);
        assert!(gone.payload.is_empty() && gone.retain);
    }
}
