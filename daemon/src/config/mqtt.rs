//! `[mqtt]`'s own type and checks: the broker the box publishes its counts, status and alerts
//! to, and the names it publishes them under. `crate::publish::mqtt` does the publishing.
//!
//! Off by default. A box at an event with others is told apart by its name (`client_id`), which
//! is also the MQTT client id and a level of every topic: `<topic_prefix>/<name>/…`. Left empty,
//! the name is the hotspot's SSID when the hotspot is on (each box at one event has its own, or
//! the pilots could not tell them apart), else the host name; see docs/mqtt.md.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The longest box name (`client_id`): short enough for every broker's client ids, Home
/// Assistant's object ids and a topic level.
pub const MAX_NAME: usize = 64;
/// The longest topic prefix.
pub const MAX_PREFIX: usize = 128;

/// `[mqtt]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MqttSettings {
    pub enabled: bool,
    /// The broker's host name or address.
    pub host: String,
    /// 1883 for plain MQTT, 8883 for MQTT over TLS.
    pub port: u16,
    /// The box's name on the broker (client id and topic level): letters, digits, `-` and `_`.
    /// Empty: the hotspot's SSID when the hotspot is on, else the host name, made to fit.
    pub client_id: String,
    /// Empty: connect without a user name.
    pub username: String,
    /// The broker password; or leave it empty and put it in `password_file`. Never logged.
    pub password: String,
    /// A file holding the password (its first line), read at start; empty: none.
    pub password_file: PathBuf,
    /// MQTT over TLS; the broker's certificate is checked against `ca_file`.
    pub tls: bool,
    /// PEM certificates of the authorities that may sign the broker's certificate (Debian's
    /// own trust store is /etc/ssl/certs/ca-certificates.crt). Needed with `tls`.
    pub ca_file: PathBuf,
    /// The first level(s) of every topic the box publishes (not Home Assistant's).
    pub topic_prefix: String,
    /// Publish Home Assistant MQTT discovery, so the box's sensors appear there by themselves.
    pub discovery: bool,
    /// Home Assistant's discovery prefix (its default is `homeassistant`).
    pub discovery_prefix: String,
    /// Counts are published at most this often per stream (the latest wins), in ms; alerts and
    /// status changes go at once.
    pub count_interval_ms: u64,
    /// Messages kept while the broker is away or slow (counts are dropped first, oldest first).
    pub queue: usize,
    /// Seconds between MQTT pings while nothing else is sent; the broker declares the box gone
    /// (and publishes its `offline` will) after 1.5 times this.
    pub keepalive_s: u64,
    /// Waits between attempts to reach the broker: doubled after each failure up to the most.
    pub backoff_initial_ms: u64,
    pub backoff_max_ms: u64,
}

impl Default for MqttSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            host: "localhost".into(),
            port: 1883,
            client_id: String::new(),
            username: String::new(),
            password: String::new(),
            password_file: PathBuf::new(),
            tls: false,
            ca_file: PathBuf::new(),
            topic_prefix: "skycount".into(),
            discovery: true,
            discovery_prefix: "homeassistant".into(),
            count_interval_ms: 1000,
            queue: 1000,
            keepalive_s: 30,
            backoff_initial_ms: 500,
            backoff_max_ms: 30_000,
        }
    }
}

/// Whether `name` can be a box name: 1 to [`MAX_NAME`] ASCII letters, digits, `-` and `_` (a
/// valid MQTT client id on every broker, topic level and Home Assistant object id).
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        let shown: String = name.chars().take(40).collect();
        Err(format!(
            "{shown:?} is not a box name: 1 to {MAX_NAME} letters, digits, '-' and '_'"
        ))
    }
}

/// Whether `prefix` can begin a topic the box publishes to: 1 to [`MAX_PREFIX`] bytes, no
/// wildcard (`+`, `#`), no NUL, no empty level (a leading, trailing or doubled `/`), and not
/// `$` first (the broker's own topics).
pub fn check_topic_prefix(prefix: &str) -> Result<(), String> {
    let shown: String = prefix.chars().take(40).collect();
    let why = if prefix.is_empty() || prefix.len() > MAX_PREFIX {
        Some(format!("must have 1 to {MAX_PREFIX} bytes"))
    } else if let Some(c) = prefix.chars().find(|c| matches!(c, '+' | '#' | '\0')) {
        Some(format!(
            "has {c:?}: wildcards and NUL are not allowed in a topic one publishes to"
        ))
    } else if prefix.split('/').any(str::is_empty) {
        Some("has an empty level (a leading, trailing or doubled '/')".into())
    } else if prefix.starts_with('$') {
        Some("starts with '$': such topics are the broker's own".into())
    } else if prefix.chars().any(char::is_whitespace) {
        Some("has a space: topics with spaces are a trap for every client's command line".into())
    } else {
        None
    };
    match why {
        None => Ok(()),
        Some(why) => Err(format!("{shown:?} {why}")),
    }
}

/// Every problem with `m`, as (key within `[mqtt]`, problem). Only an enabled `[mqtt]` is
/// checked (like `[hotspot]`): an unused section cannot stop the box.
pub fn check(m: &MqttSettings) -> Vec<(&'static str, String)> {
    let mut problems = Vec::new();
    if !m.enabled {
        return problems;
    }
    let host_ok = !m.host.is_empty()
        && m.host.len() <= 253
        && m.host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-:".contains(c));
    if !host_ok {
        problems.push((
            "host",
            format!(
                "{:?}: expected the broker's host name or IP address",
                m.host.chars().take(40).collect::<String>()
            ),
        ));
    }
    if m.port == 0 {
        problems.push(("port", "is 0: expected a port number, 1 to 65535".into()));
    }
    if !m.client_id.is_empty() {
        if let Err(e) = check_name(&m.client_id) {
            problems.push(("client_id", e));
        }
    }
    if m.username.len() > 256 {
        problems.push(("username", "is longer than 256 bytes".into()));
    }
    if m.password.len() > 256 {
        problems.push(("password", "is longer than 256 bytes".into()));
    }
    if !m.password.is_empty() && !m.password_file.as_os_str().is_empty() {
        problems.push((
            "password_file",
            "is set while mqtt.password is set too: keep the password in one place".into(),
        ));
    }
    let has_password = !m.password.is_empty() || !m.password_file.as_os_str().is_empty();
    if has_password && m.username.is_empty() {
        problems.push((
            "username",
            "is empty while a password is set: MQTT sends a password only with a user name".into(),
        ));
    }
    if m.tls && m.ca_file.as_os_str().is_empty() {
        problems.push((
            "ca_file",
            "is empty while mqtt.tls is on: name the PEM file of the authority that signed the \
             broker's certificate (the system's: /etc/ssl/certs/ca-certificates.crt)"
                .into(),
        ));
    }
    if !m.tls && !m.ca_file.as_os_str().is_empty() {
        problems.push((
            "ca_file",
            "is set while mqtt.tls is off: turn tls on, or leave ca_file empty".into(),
        ));
    }
    for (key, prefix) in [
        ("topic_prefix", &m.topic_prefix),
        ("discovery_prefix", &m.discovery_prefix),
    ] {
        if let Err(e) = check_topic_prefix(prefix) {
            problems.push((key, e));
        }
    }
    for (key, v, lo, hi, unit) in [
        (
            "count_interval_ms",
            m.count_interval_ms,
            100,
            3_600_000,
            "ms",
        ),
        ("queue", m.queue as u64, 10, 100_000, "messages"),
        ("keepalive_s", m.keepalive_s, 5, 3600, "s"),
        ("backoff_initial_ms", m.backoff_initial_ms, 10, 60_000, "ms"),
        ("backoff_max_ms", m.backoff_max_ms, 10, 600_000, "ms"),
    ] {
        if !(lo..=hi).contains(&v) {
            problems.push((
                key,
                format!("{v} is out of range: expected {lo} to {hi} {unit}"),
            ));
        }
    }
    if m.backoff_initial_ms > m.backoff_max_ms {
        problems.push((
            "backoff_initial_ms",
            format!(
                "{} is above mqtt.backoff_max_ms ({}): the first wait is the shortest",
                m.backoff_initial_ms, m.backoff_max_ms
            ),
        ));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on() -> MqttSettings {
        MqttSettings {
            enabled: true,
            ..MqttSettings::default()
        }
    }

    #[test]
    fn defaults_pass_and_an_unused_section_is_not_checked() {
        assert!(check(&on()).is_empty());
        let off = MqttSettings {
            port: 0,
            topic_prefix: "#".into(),
            ..MqttSettings::default()
        };
        assert!(check(&off).is_empty());
    }

    #[test]
    fn bad_values_are_named() {
        let bad = MqttSettings {
            host: "broker host".into(),
            port: 0,
            client_id: "box one".into(),
            password: "secret".into(),
            password_file: "/etc/skycount/mqtt.pass".into(),
            tls: true,
            topic_prefix: "events/+/x".into(),
            discovery_prefix: "/homeassistant".into(),
            count_interval_ms: 10,
            queue: 1,
            keepalive_s: 1,
            backoff_initial_ms: 50_000,
            backoff_max_ms: 1000,
            ..on()
        };
        let keys: Vec<_> = check(&bad).into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            [
                "host",
                "port",
                "client_id",
                "password_file",
                "username",
                "ca_file",
                "topic_prefix",
                "discovery_prefix",
                "count_interval_ms",
                "queue",
                "keepalive_s",
                "backoff_initial_ms"
            ]
        );
    }

    #[test]
    fn topic_prefixes_follow_the_mqtt_rules() {
        for good in ["skycount", "festival/2026", "a-b_c.d"] {
            assert!(check_topic_prefix(good).is_ok(), "{good}");
        }
        for (bad, says) in [
            ("", "1 to"),
            ("a/#", "wildcards"),
            ("a+b", "wildcards"),
            ("a\0b", "NUL"),
            ("a//b", "empty level"),
            ("a/", "empty level"),
            ("$SYS", "broker's own"),
            ("a b", "space"),
        ] {
            let e = check_topic_prefix(bad).unwrap_err();
            assert!(e.contains(says), "{bad:?}: {e}");
        }
        let long = check_topic_prefix(&"x".repeat(100_000)).unwrap_err();
        assert!(long.len() < 200, "the error quotes a line: {long}");
    }

    #[test]
    fn the_section_loads_names_its_keys_and_hides_the_password() {
        use crate::config::load_from;
        use std::path::Path;
        let load = |text: &str| {
            let f = tempfile::NamedTempFile::new().unwrap();
            std::fs::write(f.path(), text).unwrap();
            load_from(Some(f.path()), Path::new("/x"), &[])
        };
        let (s, _) = load(
            "[mqtt]\nenabled = true\nhost = \"10.0.0.2\"\nclient_id = \"gate-3\"\n\
             username = \"box\"\npassword = \"hunter22\"\n",
        )
        .unwrap();
        assert_eq!((s.mqtt.host.as_str(), s.mqtt.port), ("10.0.0.2", 1883));
        let shown = s.to_toml_redacted();
        assert!(
            !shown.contains("hunter22") && shown.contains("(set, not shown)"),
            "{shown}"
        );
        let err =
            load("[mqtt]\nenabled = true\ntopic_prefix = \"a/#\"\nqueue = 5\nkeepalve_s = 3\n")
                .unwrap_err()
                .to_string();
        assert!(
            err.contains("unknown key `mqtt.keepalve_s`") && err.contains("keepalive_s"),
            "{err}"
        );
        let err = load("[mqtt]\nenabled = true\ntopic_prefix = \"a/#\"\nqueue = 5\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`mqtt.topic_prefix`: \"a/#\" has '#'"),
            "{err}"
        );
        assert!(
            err.contains("`mqtt.queue`: 5 is out of range: expected 10 to 100000"),
            "{err}"
        );
        let err = load("[mqtt]\nenabled = true\nport = 70000\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`mqtt.port`") && err.contains("1 to 65535"),
            "{err}"
        );
    }

    #[test]
    fn box_names_are_short_plain_words() {
        assert!(check_name("stage-left_2").is_ok());
        for bad in ["", "a/b", "a+b", "é", &"n".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }
}
