//! MQTT against a real broker: Debian's mosquitto on a loopback port, two real skycountd
//! publishing to it under their own names, one subscriber (rumqttc) seeing both.
//!
//! - Both boxes' counts, status and availability arrive; Home Assistant's discovery configs
//!   carry the keys its documentation asks for, point at topics that carry data, and have
//!   distinct unique ids.
//! - The broker is killed mid-flight and started again: the boxes keep analysing, say in
//!   `status.mqtt` that they are disconnected and what waits or was dropped, reconnect by
//!   themselves, say `online` again, and what the subscriber misses is exactly what the bounded
//!   queue dropped (count messages are numbered).
//! - A box that stops says `offline`; one that is killed gets `offline` from its will.
//! - docs/mqtt.md's bridge: a box publishing to its own mosquitto reaches a central one.
//! - TLS with a CA file and a password from a file; a wrong password is refused and said so.
//! - A broker that hangs (SIGSTOP: a link gone without a word) holds nothing up; the box finds
//!   out by its keep-alive, and once the broker is back nothing is missing, not even what was in
//!   flight when it hung.
//!
//! Also prints the figure of docs/mqtt.md: messages per second at the default rates.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use rumqttc::{Client, Event, MqttOptions, Packet, QoS};
use serde_json::Value;

#[derive(Debug, Clone)]
struct Msg {
    at: Instant,
    topic: String,
    payload: Vec<u8>,
}

impl Msg {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.payload)
            .unwrap_or_else(|e| panic!("{} is not JSON ({e}): {:?}", self.topic, self.text()))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.payload).into_owned()
    }
}

/// A subscriber to `skycount/#` and `homeassistant/#` with a session the broker keeps (QoS 1),
/// that reconnects by itself.
struct Observer {
    seen: Arc<Mutex<Vec<Msg>>>,
    done: Arc<AtomicBool>,
}

impl Observer {
    fn start(port: u16) -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let done = Arc::new(AtomicBool::new(false));
        let subscribed = Arc::new(AtomicBool::new(false));
        let mut opts = MqttOptions::new("observer", "127.0.0.1", port);
        opts.set_clean_session(false)
            .set_keep_alive(Duration::from_secs(5))
            .set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut connection) = Client::new(opts, 100);
        {
            let (seen, done, subscribed) = (seen.clone(), done.clone(), subscribed.clone());
            std::thread::spawn(move || {
                for event in connection.iter() {
                    if done.load(Ordering::Relaxed) {
                        return;
                    }
                    match event {
                        // A session the broker kept has its subscriptions: subscribing again
                        // would replay the retained messages as if new.
                        Ok(Event::Incoming(Packet::ConnAck(ack))) if !ack.session_present => {
                            for t in ["skycount/#", "homeassistant/#"] {
                                client.try_subscribe(t, QoS::AtLeastOnce).unwrap();
                            }
                        }
                        Ok(Event::Incoming(Packet::SubAck(_))) => {
                            subscribed.store(true, Ordering::Relaxed)
                        }
                        Ok(Event::Incoming(Packet::Publish(p))) => seen.lock().unwrap().push(Msg {
                            at: Instant::now(),
                            topic: p.topic.clone(),
                            payload: p.payload.to_vec(),
                        }),
                        Ok(_) => {}
                        Err(_) => std::thread::sleep(Duration::from_millis(100)),
                    }
                }
            });
        }
        wait_for(Duration::from_secs(10), || {
            subscribed.load(Ordering::Relaxed).then_some(())
        })
        .expect("the observer did not subscribe");
        Self { seen, done }
    }

    fn on(&self, topic: &str) -> Vec<Msg> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|m| m.topic == topic)
            .cloned()
            .collect()
    }

    fn under(&self, prefix: &str) -> Vec<Msg> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|m| m.topic.starts_with(prefix))
            .cloned()
            .collect()
    }

    /// The count messages' numbers `n` seen from `box_name`, without repeats (QoS 1 may
    /// deliver one twice).
    fn numbers(&self, box_name: &str) -> BTreeSet<u64> {
        self.on(&format!("skycount/{box_name}/live_drone/count"))
            .iter()
            .map(|m| m.json()["n"].as_u64().expect("a count has n"))
            .collect()
    }
}

impl Drop for Observer {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
    }
}

fn mqtt_config(port: u16, name: &str, extra: &str) -> String {
    format!(
        "[mqtt]\nenabled = true\nhost = \"127.0.0.1\"\nport = {port}\nclient_id = \"{name}\"\n\
         keepalive_s = 5\nbackoff_initial_ms = 200\nbackoff_max_ms = 1000\n{extra}"
    )
}

/// The box's `/metrics`, name to value (families without labels).
fn metric_values(d: &Daemon) -> std::collections::HashMap<String, f64> {
    let (code, body) = d.get("/metrics").unwrap();
    assert_eq!(code, 200);
    String::from_utf8(body)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(' '))
        .filter_map(|(k, v)| Some((k.to_string(), v.trim().parse().ok()?)))
        .collect()
}

fn mqtt_status(d: &Daemon) -> Value {
    d.status()["mqtt"].clone()
}

#[test]
fn two_boxes_publish_to_one_broker_and_survive_it_restarting() {
    let dir = tempfile::tempdir().unwrap();
    let broker_port = free_port();
    let mut broker = mosquitto(broker_port, dir.path(), "");
    let observer = Observer::start(broker_port);

    let (_rtsp, url) = rtsp_server(None);
    // Box a at the default rates; box b counts five times a second into a queue of 10, so that
    // an outage of a few seconds overflows it.
    let mut a = Daemon::start(&test_config(
        &url,
        free_port(),
        &tiny_model(),
        &mqtt_config(broker_port, "box-a", ""),
    ));
    let mut b = Daemon::start(&test_config(
        &url,
        free_port(),
        &tiny_model(),
        &mqtt_config(
            broker_port,
            "box-b",
            "count_interval_ms = 200\nqueue = 10\n",
        ),
    ));

    // Both boxes' counts reach the one subscriber.
    wait_for(Duration::from_secs(40), || {
        (observer.numbers("box-a").len() >= 2 && observer.numbers("box-b").len() >= 5).then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "counts from both boxes expected; a: {}, b: {}",
            mqtt_status(&a),
            mqtt_status(&b)
        )
    });
    let count = observer
        .on("skycount/box-a/live_drone/count")
        .pop()
        .unwrap()
        .json();
    for key in [
        "n",
        "seq",
        "time",
        "total",
        "smoothed",
        "band",
        "calibrated",
        "demo",
    ] {
        assert!(count.get(key).is_some(), "a count lacks {key}: {count}");
    }
    for name in ["box-a", "box-b"] {
        let avail = observer.on(&format!("skycount/{name}/availability"));
        assert_eq!(
            avail.last().map(Msg::text).as_deref(),
            Some("online"),
            "{name}"
        );
        // The status follows the stream and the model as they come up.
        let topic = format!("skycount/{name}/status");
        wait_for(Duration::from_secs(10), || {
            let last = observer.on(&topic).last()?.json();
            (last["state"] == "live"
                && last["health"] == "ok"
                && last["execution_provider"] == "cpu")
                .then_some(())
        })
        .unwrap_or_else(|| {
            panic!(
                "{name}'s status: {:?}",
                observer.on(&topic).last().map(Msg::text)
            )
        });
        let s = mqtt_status(if name == "box-a" { &a } else { &b });
        assert_eq!(s["connected"], true, "{s}");
        assert_eq!(s["client_id"], name, "{s}");
        assert_eq!(s["broker"], format!("127.0.0.1:{broker_port}"), "{s}");
        let m = metric_values(if name == "box-a" { &a } else { &b });
        assert_eq!(m.get("skycount_mqtt_connected"), Some(&1.0), "{m:?}");
        assert!(m["skycount_mqtt_published_total"] >= 1.0, "{m:?}");
    }

    // Home Assistant discovery, against its documented schema.
    let configs = observer.under("homeassistant/");
    let mut unique_ids = BTreeSet::new();
    let mut kinds = BTreeSet::new();
    for m in &configs {
        let parts: Vec<&str> = m.topic.split('/').collect();
        assert_eq!(
            parts.len(),
            4,
            "<prefix>/<component>/<object_id>/config: {}",
            m.topic
        );
        assert_eq!(parts[3], "config");
        assert!(
            parts[2]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "object ids are [a-zA-Z0-9_-]: {}",
            m.topic
        );
        let v = m.json();
        // state_topic is the one key Home Assistant requires; the rest are what makes an entity
        // of a device, unique and with its availability.
        for key in [
            "state_topic",
            "unique_id",
            "name",
            "availability_topic",
            "device",
        ] {
            assert!(v.get(key).is_some(), "{} lacks {key}: {v}", m.topic);
        }
        let device = &v["device"];
        assert!(
            device["identifiers"]
                .as_array()
                .is_some_and(|a| !a.is_empty()),
            "{v}"
        );
        for key in ["name", "model", "sw_version"] {
            assert!(device[key].is_string(), "device.{key}: {v}");
        }
        match parts[1] {
            "sensor" => {
                assert_eq!(v["unit_of_measurement"], "people", "{v}");
                assert!(v["value_template"].as_str().unwrap().contains("value_json"));
            }
            "binary_sensor" => {
                assert_eq!(
                    (v["payload_on"].as_str(), v["payload_off"].as_str()),
                    (Some("ON"), Some("OFF"))
                );
            }
            other => panic!("unexpected component {other}"),
        }
        // The topics it names carry data.
        let state = v["state_topic"].as_str().unwrap();
        let avail = v["availability_topic"].as_str().unwrap();
        wait_for(Duration::from_secs(10), || {
            (!observer.on(state).is_empty()).then_some(())
        })
        .unwrap_or_else(|| panic!("nothing published on {state} ({})", m.topic));
        assert!(!observer.on(avail).is_empty(), "nothing on {avail}");
        unique_ids.insert(v["unique_id"].as_str().unwrap().to_string());
        kinds.insert(m.topic.clone());
    }
    assert_eq!(
        kinds.len(),
        4,
        "a count sensor and an alert sensor per box: {kinds:?}"
    );
    assert_eq!(
        unique_ids.len(),
        4,
        "unique ids are distinct: {unique_ids:?}"
    );

    // The figure: messages per second from box a at the default rates (no zones).
    let window = Duration::from_secs(6);
    let from = Instant::now();
    std::thread::sleep(window);
    let in_window = observer
        .under("skycount/box-a/")
        .iter()
        .filter(|m| m.at >= from && m.at < from + window)
        .count();
    let rate = in_window as f64 / window.as_secs_f64();
    let bytes = observer
        .on("skycount/box-a/live_drone/count")
        .pop()
        .unwrap()
        .payload
        .len();
    eprintln!(
        "FIGURE mqtt messages per second, one box at the default rates, no zones: {rate:.2}; \
         a count message is {bytes} bytes"
    );
    assert!(
        rate <= 1.5,
        "counts are rate-limited to one a second: {rate}"
    );

    // The broker dies mid-flight.
    let analysed = |d: &Daemon| d.status()["totals"]["frames_analysed"].as_u64().unwrap();
    let before = (analysed(&a), analysed(&b));
    broker
        .terminate(Duration::from_secs(5))
        .expect("mosquitto stops");
    let during = wait_for(Duration::from_secs(20), || {
        let s = mqtt_status(&b);
        (s["connected"] == false && s["dropped"].as_u64() > Some(0)).then_some(s)
    })
    .unwrap_or_else(|| {
        panic!(
            "box b should report the outage and drop: {}",
            mqtt_status(&b)
        )
    });
    eprintln!("box b during the outage: {during}");
    assert!(
        during["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("broker")),
        "{during}"
    );
    assert_eq!(
        during["queued"], 10,
        "the queue is full and bounded: {during}"
    );
    let m = metric_values(&b);
    assert_eq!(m.get("skycount_mqtt_connected"), Some(&0.0), "{m:?}");
    assert_eq!(m.get("skycount_mqtt_queued"), Some(&10.0), "{m:?}");
    assert!(m["skycount_mqtt_dropped_total"] >= 1.0, "{m:?}");
    let a_during = mqtt_status(&a);
    assert_eq!(a_during["connected"], false, "{a_during}");
    // Counting goes on.
    wait_for(Duration::from_secs(10), || {
        (analysed(&a) > before.0 + 2 && analysed(&b) > before.1 + 2).then_some(())
    })
    .expect("the boxes keep analysing while the broker is away");
    assert!(a.proc.alive() && b.proc.alive());

    // The broker comes back on the same port: both reconnect by themselves.
    let restarted = Instant::now();
    broker = mosquitto(broker_port, dir.path(), "");
    for (name, d) in [("box-a", &a), ("box-b", &b)] {
        wait_for(Duration::from_secs(20), || {
            let s = mqtt_status(d);
            (s["connected"] == true && s["queued"] == 0 && s["last_error"].is_null()).then_some(())
        })
        .unwrap_or_else(|| panic!("{name} did not reconnect: {}", mqtt_status(d)));
        wait_for(Duration::from_secs(10), || {
            observer
                .on(&format!("skycount/{name}/availability"))
                .iter()
                .any(|m| m.at > restarted && m.text() == "online")
                .then_some(())
        })
        .unwrap_or_else(|| panic!("{name} is not online again"));
        assert_eq!(
            retained(broker_port, &format!("skycount/{name}/availability")).as_deref(),
            Some("online")
        );
    }
    // Counts flow again, and what the subscriber missed is exactly what the queue dropped.
    let last_b = *observer.numbers("box-b").last().unwrap();
    wait_for(Duration::from_secs(10), || {
        (observer.numbers("box-b").last() > Some(&(last_b + 3))).then_some(())
    })
    .expect("box b's counts resume");
    for (name, d) in [("box-a", &a), ("box-b", &b)] {
        let s = mqtt_status(d);
        let seen = observer.numbers(name);
        let last = *seen.last().unwrap();
        // The newest may still be on its way; count up to one the observer has.
        let missed = last - seen.len() as u64;
        eprintln!(
            "{name}: {} count messages seen up to n={last}, {missed} missed; status {s}",
            seen.len()
        );
        assert_eq!(
            missed,
            s["dropped"].as_u64().unwrap(),
            "{name}: the subscriber misses exactly what the queue dropped: {s}"
        );
        if name == "box-a" {
            assert_eq!(missed, 0, "box a's queue of 1000 holds the outage: {s}");
        } else {
            assert!(missed > 0, "box b's queue of 10 overflowed: {s}");
        }
    }

    // A box that stops says offline; one that vanishes gets offline from its will.
    let (exit, took) = a
        .proc
        .terminate(Duration::from_secs(5))
        .expect("box a stops");
    assert!(exit.success(), "{exit}");
    assert!(took <= Duration::from_secs(2), "stopping took {took:?}");
    wait_for(Duration::from_secs(5), || {
        (observer
            .on("skycount/box-a/availability")
            .last()
            .map(Msg::text)
            .as_deref()
            == Some("offline"))
        .then_some(())
    })
    .expect("box a said offline when it stopped");
    b.proc.kill();
    wait_for(Duration::from_secs(15), || {
        (observer
            .on("skycount/box-b/availability")
            .last()
            .map(Msg::text)
            .as_deref()
            == Some("offline"))
        .then_some(())
    })
    .expect("box b's will said offline when it was killed");
    assert_eq!(
        retained(broker_port, "skycount/box-b/availability").as_deref(),
        Some("offline")
    );
    drop(broker);
}

#[test]
fn a_box_reaches_a_central_broker_through_its_own_bridged_one() {
    let central_dir = tempfile::tempdir().unwrap();
    let central_port = free_port();
    let _central = mosquitto(central_port, central_dir.path(), "");
    let observer = Observer::start(central_port);

    // The box's own broker, bridged as docs/mqtt.md shows.
    let local_dir = tempfile::tempdir().unwrap();
    let local_port = free_port();
    let _local = mosquitto(
        local_port,
        local_dir.path(),
        &format!(
            "connection central\naddress 127.0.0.1:{central_port}\n\
             topic skycount/# out 1\ntopic homeassistant/# out 1\n\
             cleansession false\nnotifications true\n\
             notification_topic skycount/bridges/gate-3/state\nremote_clientid bridge-gate-3\n"
        ),
    );
    let (_rtsp, url) = rtsp_server(None);
    let _box = Daemon::start(&test_config(
        &url,
        free_port(),
        &tiny_model(),
        &mqtt_config(local_port, "gate-3", ""),
    ));

    wait_for(Duration::from_secs(40), || {
        (observer.numbers("gate-3").len() >= 2).then_some(())
    })
    .expect("the box's counts reach the central broker through the bridge");
    for topic in [
        "skycount/gate-3/availability",
        "skycount/gate-3/status",
        "homeassistant/sensor/gate-3_live_drone_count/config",
        "homeassistant/binary_sensor/gate-3_live_drone_alert/config",
    ] {
        assert!(
            !observer.on(topic).is_empty(),
            "{topic} did not cross the bridge"
        );
    }
    assert_eq!(
        observer
            .on("skycount/gate-3/availability")
            .last()
            .map(Msg::text)
            .as_deref(),
        Some("online")
    );
    assert_eq!(
        retained(central_port, "skycount/bridges/gate-3/state").as_deref(),
        Some("1"),
        "the bridge says it is up"
    );
}

/// Runs `openssl` with `args` in `dir`.
fn openssl(dir: &Path, args: &str) {
    let ok = Command::new("openssl")
        .args(args.split_whitespace())
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("cannot run openssl")
        .success();
    assert!(ok, "openssl {args} failed");
}

#[test]
fn tls_with_a_ca_file_and_a_password_from_a_file() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A CA of our own, and the broker's certificate for 127.0.0.1 signed by it.
    let ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    openssl(
        d,
        &format!("req -x509 {ec} -keyout ca.key -out ca.crt -days 1 -subj /CN=skycount-test-ca"),
    );
    openssl(
        d,
        &format!("req {ec} -keyout server.key -out server.csr -subj /CN=127.0.0.1"),
    );
    std::fs::write(d.join("san.cnf"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    openssl(
        d,
        "x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 1 -extfile san.cnf",
    );
    let ok = Command::new("mosquitto_passwd")
        .args(["-c", "-b", "passwd", "box", "s3cret pass"])
        .current_dir(d)
        .status()
        .expect("cannot run mosquitto_passwd")
        .success();
    assert!(ok);
    for f in ["server.key", "server.crt", "ca.crt", "passwd"] {
        std::fs::set_permissions(d.join(f), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    std::fs::write(d.join("right.pass"), "s3cret pass\n").unwrap();
    std::fs::write(d.join("wrong.pass"), "guess\n").unwrap();

    // A plain listener for the observer; TLS with passwords for the boxes.
    let (plain, tls) = (free_port(), free_port());
    let _broker = mosquitto_with(
        d,
        &format!(
            "per_listener_settings true\n\
             listener {plain} 127.0.0.1\nallow_anonymous true\n\
             listener {tls} 127.0.0.1\ncafile {d}/ca.crt\ncertfile {d}/server.crt\n\
             keyfile {d}/server.key\nallow_anonymous false\npassword_file {d}/passwd\n",
            d = d.display()
        ),
        tls,
    );
    let observer = Observer::start(plain);
    let secure = |pass: &str| {
        format!(
            "tls = true\nca_file = \"{d}/ca.crt\"\nusername = \"box\"\npassword_file = \"{d}/{pass}\"\n",
            d = d.display()
        )
    };
    let (_rtsp, url) = rtsp_server(None);
    let good = Daemon::start(&test_config(
        &url,
        free_port(),
        &tiny_model(),
        &mqtt_config(tls, "tls-box", &secure("right.pass")),
    ));
    // This one needs no stream: only its link to the broker is looked at.
    let bad = Daemon::start(&test_config(
        "rtsp://127.0.0.1:9/none",
        free_port(),
        &tiny_model(),
        &mqtt_config(tls, "bad-box", &secure("wrong.pass")),
    ));

    wait_for(Duration::from_secs(40), || {
        (observer.numbers("tls-box").len() >= 2).then_some(())
    })
    .unwrap_or_else(|| panic!("no counts over TLS: {}", mqtt_status(&good)));
    assert_eq!(mqtt_status(&good)["connected"], true);
    let refused = wait_for(Duration::from_secs(20), || {
        let s = mqtt_status(&bad);
        s["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("refused"))
            .then_some(s)
    })
    .unwrap_or_else(|| panic!("a wrong password is reported: {}", mqtt_status(&bad)));
    assert_eq!(refused["connected"], false, "{refused}");
    assert!(
        !refused.to_string().contains("guess"),
        "the password is never shown: {refused}"
    );
    assert!(observer.under("skycount/bad-box/").is_empty());
}

#[test]
fn a_broker_that_hangs_holds_nothing_up_and_loses_nothing() {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let broker = mosquitto(port, dir.path(), "");
    let pid = Pid::from_raw(broker.child.id() as i32);
    let observer = Observer::start(port);
    let (_rtsp, url) = rtsp_server(None);
    let d = Daemon::start(&test_config(
        &url,
        free_port(),
        &tiny_model(),
        &mqtt_config(port, "hung-box", "count_interval_ms = 200\n"),
    ));
    wait_for(Duration::from_secs(40), || {
        (observer.numbers("hung-box").len() >= 5).then_some(())
    })
    .unwrap_or_else(|| panic!("no counts: {}", mqtt_status(&d)));

    kill(pid, Signal::SIGSTOP).unwrap();
    let analysed = || d.status()["totals"]["frames_analysed"].as_u64().unwrap();
    let before = analysed();
    // Keep-alive 5 s: the box notices within two of them (and a connection timeout).
    let noticed = wait_for(Duration::from_secs(30), || {
        let s = mqtt_status(&d);
        (s["connected"] == false && s["queued"].as_u64() > Some(0)).then_some(s)
    });
    let after = analysed();
    kill(pid, Signal::SIGCONT).unwrap();
    let noticed =
        noticed.unwrap_or_else(|| panic!("a hung broker goes unnoticed: {}", mqtt_status(&d)));
    eprintln!("while the broker hung: {noticed}");
    assert!(
        noticed["last_error"].as_str().is_some_and(
            |e| e.contains("stopped answering") || e.contains("did not answer in time")
        ),
        "{noticed}"
    );
    assert!(
        after > before + 5,
        "counting went on while the broker hung ({before} -> {after})"
    );

    wait_for(Duration::from_secs(30), || {
        let s = mqtt_status(&d);
        (s["connected"] == true && s["queued"] == 0).then_some(())
    })
    .unwrap_or_else(|| panic!("no reconnection after the broker woke: {}", mqtt_status(&d)));
    let last = *observer.numbers("hung-box").last().unwrap();
    wait_for(Duration::from_secs(15), || {
        (observer.numbers("hung-box").last() > Some(&(last + 3))).then_some(())
    })
    .expect("counts resume");
    let seen = observer.numbers("hung-box");
    let missed = seen.last().unwrap() - seen.len() as u64;
    let s = mqtt_status(&d);
    assert_eq!(s["dropped"], 0, "a queue of 1000 holds the hang: {s}");
    assert_eq!(missed, 0, "nothing is missing, in flight or queued: {s}");
}
