//! MQTT: the box's counts, status and alerts on a broker, and Home Assistant discovery.
//!
//! A follower of the hub like the dashboard, for machines: an operations room's broker, Home
//! Assistant, Node-RED. It reads [`Hub::feed`] (every analysis, stream change, alert and setup
//! change, in order), and the other drones' analyses ([`Hub::subscribe_other_analyses`]: each
//! drone its own `Lane` of topics and entities), and publishes JSON under
//! `<topic_prefix>/<box>/…` ([`messages`] has the layout, docs/mqtt.md the reference).
//!
//! ```text
//!   Hub::feed ─▶ publisher task ─▶ Outbox (bounded) ─▶ rumqttc client ─▶ broker
//!                  │ counts: the latest, at most        ▲
//!                  │ every count_interval_ms            │ Up / Down
//!                  └ alerts, status: at once            └── link task: polls the connection,
//!                                                           reconnects with capped backoff
//! ```
//!
//! Counting never waits for MQTT. The hub does not wait for this task (a follower that falls
//! behind the feed loses the oldest items and is told how many: `status.mqtt.lagged`); this
//! task never waits for the broker: a message goes to the client only while the link is up and
//! the client has room, and waits in the [`outbox::Outbox`] otherwise, which drops counts first
//! when full and counts what it drops (`status.mqtt.dropped`).
//!
//! Every message is QoS 1 (at least once): what the client had not sent, or sent without a
//! PUBACK, when the link broke goes back to the outbox and is sent again after it comes back
//! (a repeat is possible, a silent loss is not), so the only losses are the outbox's, and they
//! are counted. Count messages carry a number `n` (1, 2, … for this run), so a follower sees
//! the gaps too.
//!
//! The broker is told the box is `online` (retained, on `…/availability`) at each connection,
//! and `offline` by the will when the box vanishes, or by the box itself when it stops cleanly.
//! Home Assistant's discovery configs ([`discovery`]) are published at each connection too, so
//! a Home Assistant that starts later, or a broker that lost its retained messages, still gets
//! them.

pub mod discovery;
pub mod messages;
pub mod outbox;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use rumqttc::{
    AsyncClient, ConnectionError, Event, EventLoop, LastWill, MqttOptions, Outgoing, QoS, Request,
    TlsConfiguration, Transport,
};
use tokio::sync::{broadcast::error::RecvError, mpsc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use self::discovery::Discovery;
use self::messages::{Topics, OFFLINE, ONLINE};
use self::outbox::{Message, Outbox};
use super::hub::{Feed, Hub};
use crate::config::Settings;
use crate::wire::{unix_ms, Analysis, MqttReport};

/// Requests the MQTT client holds before it takes no more (the outbox holds the rest).
const CLIENT_CAPACITY: usize = 64;
/// How often the task looks whether a count is due and the client has room again.
const TICK: Duration = Duration::from_millis(100);
/// The status is published again this often even when nothing changed (rates, uptime).
const STATUS_EVERY: Duration = Duration::from_secs(60);
/// How often the status is compared with the last published one (the model and the health are
/// not in the feed).
const STATUS_CHECK: Duration = Duration::from_secs(1);
/// How long a clean stop waits for `offline` and the disconnect to reach the broker.
const STOP_WAIT: Duration = Duration::from_millis(500);

/// What the publisher needs from `[mqtt]`, with the box's name and the stream resolved.
#[derive(Debug, Clone)]
pub struct Options {
    pub host: String,
    pub port: u16,
    pub box_name: String,
    pub username: String,
    /// Set in the TOML (else read from `password_file` at start).
    pub password: String,
    pub password_file: PathBuf,
    pub ca_file: Option<PathBuf>,
    pub topic_prefix: String,
    /// Home Assistant's discovery prefix; `None`: no discovery.
    pub discovery_prefix: Option<String>,
    pub count_interval: Duration,
    pub queue: usize,
    pub keepalive: Duration,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// The stream path's key (`live_drone`), as the store names it.
    pub stream_key: String,
}

impl Options {
    /// `None` when `[mqtt]` is off.
    pub fn from_settings(s: &Settings) -> Option<Self> {
        let m = &s.mqtt;
        if !m.enabled {
            return None;
        }
        let host_name = nix::unistd::gethostname()
            .ok()
            .map(|h| h.to_string_lossy().into_owned());
        let ssid = s.hotspot.enabled.then_some(s.hotspot.ssid.as_str());
        Some(Self {
            host: m.host.clone(),
            port: m.port,
            box_name: box_name(&m.client_id, ssid, host_name.as_deref()),
            username: m.username.clone(),
            password: m.password.clone(),
            password_file: m.password_file.clone(),
            ca_file: m.tls.then(|| m.ca_file.clone()),
            topic_prefix: m.topic_prefix.clone(),
            discovery_prefix: m.discovery.then(|| m.discovery_prefix.clone()),
            count_interval: Duration::from_millis(m.count_interval_ms),
            queue: m.queue,
            keepalive: Duration::from_secs(m.keepalive_s),
            backoff_initial: Duration::from_millis(m.backoff_initial_ms),
            backoff_max: Duration::from_millis(m.backoff_max_ms),
            stream_key: crate::store::stream_key(&s.source_url()),
        })
    }

    fn broker(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// The box's name on the broker: `client_id` when set, else the hotspot's SSID (when the
/// hotspot is on), else the host name, made a topic level; `skycount` when none gives one.
pub fn box_name(client_id: &str, ssid: Option<&str>, host_name: Option<&str>) -> String {
    if !client_id.is_empty() {
        return client_id.to_string();
    }
    [ssid, host_name]
        .into_iter()
        .flatten()
        .map(str::trim)
        .find(|n| !n.is_empty())
        .map(messages::level)
        .unwrap_or_else(|| "skycount".into())
}

/// Starts publishing; the task ends when `stop` is cancelled (after telling the broker the box
/// is `offline`, when it is connected).
pub fn spawn(hub: Arc<Hub>, opts: Options, stop: CancellationToken) -> JoinHandle<()> {
    log::info!(
        "MQTT: publishing to {} as {:?} under {}/{}",
        opts.broker(),
        opts.box_name,
        opts.topic_prefix,
        opts.box_name
    );
    tokio::spawn(run(hub, opts, stop))
}

/// The rumqttc options: the will, the credentials, TLS. Errors say which file is at fault.
fn connect_options(o: &Options, topics: &Topics) -> Result<MqttOptions, String> {
    let mut m = MqttOptions::new(o.box_name.clone(), o.host.clone(), o.port);
    m.set_keep_alive(o.keepalive)
        .set_clean_session(true)
        .set_max_packet_size(256 * 1024, 256 * 1024)
        .set_last_will(LastWill::new(
            topics.availability(),
            OFFLINE,
            QoS::AtLeastOnce,
            true,
        ));
    if !o.username.is_empty() {
        let password = if o.password_file.as_os_str().is_empty() {
            o.password.clone()
        } else {
            let text = std::fs::read_to_string(&o.password_file).map_err(|e| {
                format!(
                    "cannot read mqtt.password_file {}: {e}",
                    o.password_file.display()
                )
            })?;
            text.lines().next().unwrap_or_default().to_string()
        };
        m.set_credentials(o.username.clone(), password);
    }
    if let Some(ca_file) = &o.ca_file {
        let ca = std::fs::read(ca_file)
            .map_err(|e| format!("cannot read mqtt.ca_file {}: {e}", ca_file.display()))?;
        // rustls is built with ring alone; say so once for the whole process (a second call
        // finds it installed, which is fine).
        let _ = rustls::crypto::ring::default_provider().install_default();
        m.set_transport(Transport::tls_with_config(TlsConfiguration::Simple {
            ca,
            alpn: None,
            client_auth: None,
        }));
    }
    Ok(m)
}

/// What the link task tells the publisher.
#[derive(Debug)]
enum Link {
    Up,
    /// Why, and what the client held unsent or unacknowledged: (topic, payload, retain).
    Down(String, Vec<(String, Vec<u8>, bool)>),
}

/// Polls the connection (which is what makes rumqttc send, receive and reconnect), and waits
/// with a capped, doubling backoff after each failure.
async fn keep_connected(
    mut eventloop: EventLoop,
    tx: mpsc::UnboundedSender<Link>,
    broker: String,
    (initial, max): (Duration, Duration),
    stop: CancellationToken,
) {
    let mut wait = initial;
    loop {
        let event = tokio::select! {
            _ = stop.cancelled() => return,
            e = eventloop.poll() => e,
        };
        match event {
            Ok(Event::Incoming(rumqttc::Packet::ConnAck(_))) => {
                wait = initial;
                let _ = tx.send(Link::Up);
            }
            // Our clean stop: the DISCONNECT is on the wire.
            Ok(Event::Outgoing(Outgoing::Disconnect)) => return,
            Ok(_) => {}
            Err(e) => {
                // rumqttc keeps what it had not sent or had no PUBACK for, and forgets it when
                // the broker starts a new session (a restarted broker does): it goes back to the
                // outbox instead, where only the outbox's policy may drop it, and counts it.
                let unsent = eventloop
                    .pending
                    .drain(..)
                    .filter_map(|r| match r {
                        Request::Publish(p) => Some((p.topic, p.payload.to_vec(), p.retain)),
                        _ => None,
                    })
                    .collect();
                let _ = tx.send(Link::Down(describe(&e, &broker), unsent));
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(wait) => {}
                }
                wait = (wait * 2).min(max);
            }
        }
    }
}

/// A connection error in words for the status.
fn describe(e: &ConnectionError, broker: &str) -> String {
    match e {
        ConnectionError::Io(io) => format!("cannot reach the broker at {broker}: {io}"),
        ConnectionError::ConnectionRefused(code) => {
            format!("the broker at {broker} refused the connection: {code:?} (check mqtt.username, mqtt.password and mqtt.client_id)")
        }
        ConnectionError::MqttState(rumqttc::StateError::AwaitPingResp) => {
            format!("the broker at {broker} stopped answering (no reply to a keep-alive ping)")
        }
        ConnectionError::MqttState(rumqttc::StateError::ConnectionAborted) => {
            format!("the broker at {broker} closed the connection")
        }
        ConnectionError::NetworkTimeout => {
            format!("the broker at {broker} did not answer in time")
        }
        ConnectionError::Tls(t) => format!("TLS with {broker} failed: {t} (check mqtt.ca_file)"),
        other => format!("lost the broker at {broker}: {other}"),
    }
}

/// One stream's counts on the broker: its topics, its Home Assistant entities, the newest
/// analysis not yet published.
struct Lane {
    topics: Topics,
    discovery: Option<Discovery>,
    /// The newest analysis not yet published, and when a count last went out.
    pending: Option<Arc<Analysis>>,
    last_count: Option<Instant>,
    /// Count messages made (the `n` of the next is one more).
    made: u64,
    /// Zones with a discovery config published.
    zones: Vec<String>,
    /// The zones alerting in the last published state of the alert sensor.
    alerting: Option<Vec<String>>,
}

impl Lane {
    fn new(topics: Topics, discovery: Option<Discovery>) -> Self {
        Self {
            topics,
            discovery,
            pending: None,
            last_count: None,
            made: 0,
            zones: Vec::new(),
            alerting: None,
        }
    }

    /// The counts of the newest analysis, when one is due.
    fn due_counts(&mut self, now: Instant, interval: Duration, out: &mut Outbox) {
        if self
            .last_count
            .is_some_and(|t| now.duration_since(t) < interval)
        {
            return;
        }
        let Some(a) = self.pending.take() else {
            return;
        };
        // Keep the cadence (one per interval on average, though the check runs on a 100 ms
        // tick); after a pause without analyses, start from now.
        self.last_count = Some(match self.last_count {
            Some(t) if now.duration_since(t) < 2 * interval => t + interval,
            _ => now,
        });
        self.made += 1;
        for m in messages::counts(&self.topics, &a, self.made) {
            out.push(m);
        }
        let alerting: Vec<String> = a
            .zones
            .iter()
            .filter(|z| z.alerting)
            .map(|z| z.name.clone())
            .collect();
        if self.alerting.as_ref() != Some(&alerting) {
            out.push(messages::alerting(&self.topics, &alerting));
            self.alerting = Some(alerting);
        }
    }

    /// Discovery configs for `zones`: new ones described, gone ones removed.
    fn set_zones(&mut self, zones: Vec<String>, out: &mut Outbox) {
        if let Some(d) = &self.discovery {
            for gone in self.zones.iter().filter(|z| !zones.contains(z)) {
                out.push(d.remove_zone(gone));
            }
            for new in zones.iter().filter(|z| !self.zones.contains(z)) {
                out.push(d.zone(&self.topics, new));
            }
        }
        self.zones = zones;
    }

    /// Its entities and its alert state, for a new connection.
    fn on_connect(&self, first: &mut Vec<Message>) {
        if let Some(d) = &self.discovery {
            first.extend(d.stream(&self.topics));
            first.extend(self.zones.iter().map(|z| d.zone(&self.topics, z)));
        }
        if let Some(a) = &self.alerting {
            first.push(messages::alerting(&self.topics, a));
        }
    }
}

/// The publisher's own state between feed items: the box's status, the configured stream's
/// lane and one more lane for each other drone analysed (several drones).
struct Publisher {
    box_name: String,
    topic_prefix: String,
    count_interval: Duration,
    /// What the last published status said (its [`messages::status_key`]).
    status_key: Option<serde_json::Value>,
    configured: Lane,
    /// The other drones' lanes, by stream; a drone no longer listed leaves ([`Publisher::forget_gone`]).
    others: std::collections::BTreeMap<String, Lane>,
}

impl Publisher {
    /// The counts of the newest analyses, where due.
    fn due_counts(&mut self, now: Instant, out: &mut Outbox) {
        let interval = self.count_interval;
        self.configured.due_counts(now, interval, out);
        for lane in self.others.values_mut() {
            lane.due_counts(now, interval, out);
        }
    }

    /// One item of the hub's feed: an analysis waits for its turn (the latest wins); a stream
    /// change, an alert or new zones are queued at once.
    fn take(&mut self, item: Feed, hub: &Hub, out: &mut Outbox) {
        match item {
            Feed::Analysis(a) => self.configured.pending = Some(a),
            Feed::Stream(s) => out.push(self.status(hub, Some(s))),
            Feed::Alert(a) => {
                out.push(messages::alert(&self.configured.topics, &self.box_name, &a))
            }
            Feed::Setup(s) => self.configured.set_zones(zone_names(&s), out),
        }
    }

    /// Another drone's analysis (`Hub::subscribe_other_analyses`): its lane is made on its first
    /// one, with its Home Assistant entities; its zones are the analysis's.
    fn take_other(&mut self, a: Arc<Analysis>, out: &mut Outbox) {
        let stream = a.stream.to_string();
        let lane = self.others.entry(stream.clone()).or_insert_with(|| {
            let topics = Topics::new(&self.topic_prefix, &self.box_name, &stream);
            let discovery = self.configured.discovery.as_ref().map(|d| Discovery {
                stream_key: stream.clone(),
                ..d.clone()
            });
            if let Some(d) = &discovery {
                for m in d.stream(&topics) {
                    out.push(m);
                }
            }
            Lane::new(topics, discovery)
        });
        let zones: Vec<String> = a.zones.iter().map(|z| z.name.clone()).collect();
        if zones != lane.zones {
            lane.set_zones(zones, out);
        }
        lane.pending = Some(a);
    }

    /// Drops the lanes of drones the hub no longer lists (their entities stay in Home
    /// Assistant, unavailable with the box or showing their last value).
    fn forget_gone(&mut self, hub: &Hub) {
        if self.others.is_empty() {
            return;
        }
        let listed = hub.streams();
        self.others
            .retain(|name, _| listed.iter().any(|s| s.stream == *name && !s.configured));
    }

    /// The status message, remembered as the last published; `stream` is the feed's newer
    /// report when the hub has not applied it yet.
    fn status(&mut self, hub: &Hub, stream: Option<crate::wire::StreamReport>) -> Message {
        let mut s = hub.status();
        if let Some(stream) = stream {
            s.stream = stream;
        }
        let key = messages::status_key(&s, &hub.health());
        let m = messages::status(
            &self.configured.topics,
            &key,
            &s,
            unix_ms(SystemTime::now()),
        );
        self.status_key = Some(key);
        m
    }

    /// The status again when something in it changed that the feed does not carry (the model
    /// loaded or failed, a calibration).
    fn status_if_changed(&mut self, hub: &Hub, out: &mut Outbox) {
        let s = hub.status();
        if self.status_key.as_ref() != Some(&messages::status_key(&s, &hub.health())) {
            out.push(self.status(hub, None));
        }
    }

    /// What a new connection is told first: online, discovery, the status, the alert states.
    fn on_connect(&mut self, hub: &Hub) -> Vec<Message> {
        let mut first = vec![Message::retained(
            self.configured.topics.availability(),
            ONLINE.into(),
        )];
        self.configured.on_connect(&mut first);
        first.push(self.status(hub, None));
        for lane in self.others.values() {
            lane.on_connect(&mut first);
        }
        first
    }
}

async fn run(hub: Arc<Hub>, opts: Options, stop: CancellationToken) {
    let topics = Topics::new(&opts.topic_prefix, &opts.box_name, &opts.stream_key);
    let mut report = MqttReport {
        enabled: true,
        connected: false,
        broker: Some(opts.broker()),
        client_id: Some(opts.box_name.clone()),
        ..MqttReport::default()
    };
    let mqtt_options = match connect_options(&opts, &topics) {
        Ok(o) => o,
        Err(e) => {
            log::error!("MQTT: {e}; not publishing (counting goes on)");
            report.last_error = Some(e);
            hub.set_mqtt(report);
            return;
        }
    };
    let (client, eventloop) = AsyncClient::new(mqtt_options, CLIENT_CAPACITY);
    let (link_tx, mut link_rx) = mpsc::unbounded_channel();
    let link_stop = CancellationToken::new();
    let mut link = tokio::spawn(keep_connected(
        eventloop,
        link_tx,
        opts.broker(),
        (opts.backoff_initial, opts.backoff_max),
        link_stop.clone(),
    ));

    let mut publisher = Publisher {
        box_name: opts.box_name.clone(),
        topic_prefix: opts.topic_prefix.clone(),
        count_interval: opts.count_interval,
        status_key: None,
        configured: Lane::new(
            topics.clone(),
            opts.discovery_prefix.as_ref().map(|prefix| Discovery {
                prefix: prefix.clone(),
                box_name: opts.box_name.clone(),
                stream_key: opts.stream_key.clone(),
                version: env!("CARGO_PKG_VERSION").into(),
            }),
        ),
        others: std::collections::BTreeMap::new(),
    };
    let mut feed = hub.feed();
    let mut others = hub.subscribe_other_analyses();
    let mut outbox = Outbox::new(opts.queue);
    // Described at the first connection (on_connect); later changes come through the feed.
    publisher.configured.zones = zone_names(&hub.setup());
    let mut tick = tokio::time::interval(TICK);
    let mut status_tick = tokio::time::interval(STATUS_EVERY);
    status_tick.tick().await;
    let mut change_tick = tokio::time::interval(STATUS_CHECK);
    change_tick.tick().await;
    let mut published = 0u64;
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            item = feed.recv() => match item {
                Ok(item) => publisher.take(item, &hub, &mut outbox),
                Err(RecvError::Lagged(n)) => report.lagged += n,
                Err(RecvError::Closed) => break,
            },
            // Another drone's analysis (its latest wins, as the configured one's).
            item = others.recv() => match item {
                Ok(a) => publisher.take_other(a, &mut outbox),
                Err(RecvError::Lagged(n)) => report.lagged += n,
                Err(RecvError::Closed) => break,
            },
            Some(link) = link_rx.recv() => match link {
                Link::Up => {
                    log::info!("MQTT: connected to {}", opts.broker());
                    report.connected = true;
                    report.last_error = None;
                    // Before anything queued: a follower learns the box is online first.
                    for m in publisher.on_connect(&hub) {
                        match send(&client, &m) {
                            Ok(()) => published += 1,
                            Err(()) => outbox.push(m),
                        }
                    }
                }
                Link::Down(why, unsent) => {
                    published = published.saturating_sub(unsent.len() as u64);
                    outbox.requeue(
                        unsent
                            .into_iter()
                            .map(|(topic, payload, retain)| topics.message(topic, payload, retain))
                            .collect(),
                    );
                    if report.connected || report.last_error.as_ref() != Some(&why) {
                        log::warn!("MQTT: {why}; retrying (counting goes on)");
                    }
                    report.connected = false;
                    report.last_error = Some(why);
                }
            },
            _ = tick.tick() => {}
            _ = status_tick.tick() => outbox.push(publisher.status(&hub, None)),
            _ = change_tick.tick() => {
                publisher.status_if_changed(&hub, &mut outbox);
                publisher.forget_gone(&hub);
            }
        }
        publisher.due_counts(Instant::now(), &mut outbox);
        if report.connected {
            while let Some(m) = outbox.pop() {
                if send(&client, &m).is_err() {
                    // The client is full (a slow broker): the message waits here.
                    outbox.unpop(m);
                    break;
                }
                published += 1;
            }
        }
        report.queued = outbox.len();
        report.dropped = outbox.dropped();
        report.published = published;
        hub.set_mqtt(report.clone());
    }

    // A clean stop: tell the broker (the will is only for when the box vanishes).
    let mut ended = false;
    if report.connected {
        let _ = client.try_publish(topics.availability(), QoS::AtLeastOnce, true, OFFLINE);
        let _ = client.try_disconnect();
        ended = tokio::time::timeout(STOP_WAIT, &mut link).await.is_ok();
        if !ended {
            log::warn!("MQTT: the broker did not take the disconnect in time");
        }
    }
    if !ended {
        link_stop.cancel();
        let _ = link.await;
    }
    report.connected = false;
    hub.set_mqtt(report);
}

/// Hands `m` to the client (QoS 1) without waiting; `Err` when the client has no room.
fn send(client: &AsyncClient, m: &Message) -> Result<(), ()> {
    client
        .try_publish(&m.topic, QoS::AtLeastOnce, m.retain, m.payload.clone())
        .map_err(|_| ())
}

fn zone_names(setup: &crate::analyse::Setup) -> Vec<String> {
    setup.zones.iter().map(|z| z.name.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::messages::tests::{analysis, zone};
    use super::*;

    #[test]
    fn the_box_name_comes_from_the_config_the_hotspot_or_the_host() {
        assert_eq!(box_name("stage-left", Some("x"), Some("y")), "stage-left");
        assert_eq!(box_name("", Some("Gate 3"), Some("skycount")), "Gate_3");
        assert_eq!(box_name("", None, Some("jetson-07")), "jetson-07");
        assert_eq!(box_name("", Some(" "), None), "skycount");
    }

    fn publisher(interval_ms: u64) -> Publisher {
        Publisher {
            box_name: "b".into(),
            topic_prefix: "p".into(),
            count_interval: Duration::from_millis(interval_ms),
            status_key: None,
            configured: Lane::new(
                Topics::new("p", "b", "s"),
                Some(Discovery {
                    prefix: "ha".into(),
                    box_name: "b".into(),
                    stream_key: "s".into(),
                    version: "0".into(),
                }),
            ),
            others: Default::default(),
        }
    }

    fn topics(out: &mut Outbox) -> Vec<String> {
        std::iter::from_fn(|| out.pop()).map(|m| m.topic).collect()
    }

    #[test]
    fn counts_are_rate_limited_and_the_latest_wins() {
        let mut p = publisher(1000);
        let mut out = Outbox::new(100);
        let t0 = Instant::now();
        p.configured.pending = Some(Arc::new(analysis(vec![zone("stage", 3.0, false)])));
        p.due_counts(t0, &mut out);
        assert_eq!(
            topics(&mut out),
            ["p/b/s/count", "p/b/s/zone/stage", "p/b/s/alerting"]
        );
        // Two analyses within the interval: nothing yet, then only the newer.
        let mut newer = analysis(vec![zone("stage", 12.0, true)]);
        p.configured.pending = Some(Arc::new(analysis(vec![])));
        p.due_counts(t0 + Duration::from_millis(300), &mut out);
        newer.seq = 43;
        p.configured.pending = Some(Arc::new(newer));
        p.due_counts(t0 + Duration::from_millis(600), &mut out);
        assert!(out.is_empty());
        p.due_counts(t0 + Duration::from_millis(1000), &mut out);
        let msgs: Vec<_> = std::iter::from_fn(|| out.pop()).collect();
        let count: serde_json::Value = serde_json::from_slice(&msgs[0].payload).unwrap();
        assert_eq!(
            (count["seq"].as_u64(), count["n"].as_u64()),
            (Some(43), Some(2))
        );
        // The zone began alerting: the alert sensor's state goes with it.
        assert_eq!(msgs.last().unwrap().topic, "p/b/s/alerting");
        assert_eq!(
            msgs.last().unwrap().payload,
            br#"{"alerting":true,"zones":["stage"]}"#
        );
        // The cadence holds on a coarse tick: due at 2000 and 3000 ms, whenever checked after.
        let ms = |n| t0 + Duration::from_millis(n);
        for (at, due) in [(2050, true), (2950, false), (3000, true)] {
            p.configured.pending = Some(Arc::new(analysis(vec![])));
            p.due_counts(ms(at), &mut out);
            assert_eq!(!out.is_empty(), due, "at {at} ms");
            while out.pop().is_some() {}
        }
        // Nothing new: nothing published.
        p.configured.pending = None;
        p.due_counts(ms(5000), &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn the_hubs_feed_becomes_status_alerts_zones_and_counts() {
        use crate::event::Event;
        use crate::source::StreamState;
        let hub = Hub::new(
            "rtsp://127.0.0.1/live/drone".into(),
            crate::engine::model::report_for(&crate::config::Settings::default().model),
        );
        let mut feed = hub.feed();
        let mut live = crate::wire::StreamReport::waiting("rtsp://x".into());
        live.state = StreamState::Live;
        hub.apply(Event::Stream {
            stream: crate::sample::StreamId::new("live_drone"),
            report: live,
        });
        let alert = crate::wire::Alert {
            id: 1,
            stream: "live_drone".into(),
            zone: "stage".into(),
            limit: 10,
            count: 12.0,
            raised_ms: 5,
            cleared_ms: None,
            acknowledged_ms: None,
        };
        hub.apply(Event::Alert(alert));
        hub.apply(Event::Setup(crate::analyse::Setup {
            zones: vec![crate::wire::Zone {
                name: "stage".into(),
                points: vec![[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]],
                limit: Some(10),
            }],
            ..Default::default()
        }));
        let mut p = publisher(1000);
        let mut out = Outbox::new(100);
        for _ in 0..3 {
            p.take(feed.try_recv().unwrap(), &hub, &mut out);
        }
        p.take(
            Feed::Analysis(Arc::new(analysis(vec![zone("stage", 12.0, true)]))),
            &hub,
            &mut out,
        );
        p.due_counts(Instant::now(), &mut out);
        let msgs: Vec<_> = std::iter::from_fn(|| out.pop()).collect();
        let topics: Vec<_> = msgs.iter().map(|m| m.topic.as_str()).collect();
        assert_eq!(
            topics,
            [
                "p/b/status",
                "p/b/alert",
                "ha/sensor/b_s_zone_stage/config",
                "p/b/s/count",
                "p/b/s/zone/stage",
                "p/b/s/alerting"
            ]
        );
        let status: serde_json::Value = serde_json::from_slice(&msgs[0].payload).unwrap();
        assert_eq!(status["state"], "live");
        // A stream change the hub has not applied yet: the status says the feed's newer state.
        let mut stalled = hub.stream();
        stalled.state = StreamState::Stalled;
        p.take(Feed::Stream(stalled), &hub, &mut out);
        let newer: serde_json::Value = serde_json::from_slice(&out.pop().unwrap().payload).unwrap();
        assert_eq!(newer["state"], "stalled");
        let alert: serde_json::Value = serde_json::from_slice(&msgs[1].payload).unwrap();
        assert_eq!(
            (alert["zone"].as_str(), alert["box"].as_str()),
            (Some("stage"), Some("b"))
        );
        // The box comes online with its entities, zones included, and its last alert state.
        let first: Vec<_> = p.on_connect(&hub).into_iter().map(|m| m.topic).collect();
        assert_eq!(
            first,
            [
                "p/b/availability",
                "ha/sensor/b_s_count/config",
                "ha/binary_sensor/b_s_alert/config",
                "ha/sensor/b_s_zone_stage/config",
                "p/b/s/alerting",
                "p/b/status"
            ]
        );
    }

    #[test]
    fn the_status_is_published_again_when_the_model_comes_up() {
        use crate::event::Event;
        let report = crate::engine::model::report_for(&crate::config::Settings::default().model);
        let hub = Hub::new("rtsp://x".into(), report.clone());
        let mut p = publisher(1000);
        let mut out = Outbox::new(100);
        let first: serde_json::Value =
            serde_json::from_slice(&p.status(&hub, None).payload).unwrap();
        assert_eq!(first["health"], "the model is still loading");
        p.status_if_changed(&hub, &mut out);
        assert!(out.is_empty(), "nothing changed");
        hub.apply(Event::Model(crate::wire::ModelReport {
            execution_provider: Some("cpu".into()),
            ..report
        }));
        p.status_if_changed(&hub, &mut out);
        let again: serde_json::Value = serde_json::from_slice(&out.pop().unwrap().payload).unwrap();
        assert_eq!(
            (
                again["health"].as_str(),
                again["execution_provider"].as_str()
            ),
            (Some("ok"), Some("cpu"))
        );
        p.status_if_changed(&hub, &mut out);
        assert!(out.is_empty(), "published once");
    }

    #[test]
    fn every_other_drone_gets_its_own_topics_entities_and_zones() {
        use crate::sample::StreamId;
        let hub = Hub::new(
            "rtsp://127.0.0.1/live/drone".into(),
            crate::engine::model::report_for(&crate::config::Settings::default().model),
        );
        hub.set_configured("live_drone", Some("live/drone".into()));
        let place = crate::engine::roster::Place::Analysed { ended_at: None };
        hub.set_roster(&[("live_north".into(), Some("live/north".into()), place)]);
        let mut p = publisher(1000);
        let mut out = Outbox::new(100);
        let of = |stream: &str, zones| {
            let mut a = analysis(zones);
            a.stream = StreamId::new(stream);
            Arc::new(a)
        };
        p.take_other(of("live_north", vec![zone("gate", 4.0, false)]), &mut out);
        p.configured.pending = Some(Arc::new(analysis(vec![])));
        p.due_counts(Instant::now(), &mut out);
        assert_eq!(
            topics(&mut out),
            [
                "ha/sensor/b_live_north_count/config",
                "ha/binary_sensor/b_live_north_alert/config",
                "ha/sensor/b_live_north_zone_gate/config",
                "p/b/s/count",
                "p/b/s/alerting",
                "p/b/live_north/count",
                "p/b/live_north/zone/gate",
                "p/b/live_north/alerting"
            ]
        );
        // Its count numbers are its own (a follower of one drone sees no gaps).
        p.take_other(of("live_north", vec![]), &mut out);
        p.due_counts(Instant::now() + Duration::from_secs(1), &mut out);
        let msgs: Vec<_> = std::iter::from_fn(|| out.pop()).collect();
        assert_eq!(msgs[0].topic, "ha/sensor/b_live_north_zone_gate/config");
        assert!(msgs[0].payload.is_empty(), "its zone is gone");
        let count = msgs
            .iter()
            .find(|m| m.topic == "p/b/live_north/count")
            .unwrap();
        let count: serde_json::Value = serde_json::from_slice(&count.payload).unwrap();
        assert_eq!(count["n"], 2);
        // A new connection hears of it too; once the hub no longer lists it, it is forgotten.
        let first: Vec<_> = p.on_connect(&hub).into_iter().map(|m| m.topic).collect();
        assert!(
            first.contains(&"ha/sensor/b_live_north_count/config".to_string()),
            "{first:?}"
        );
        p.forget_gone(&hub);
        assert_eq!(p.others.len(), 1, "still listed");
        hub.set_roster(&[]);
        p.forget_gone(&hub);
        assert!(p.others.is_empty());
    }

    #[test]
    fn zones_are_described_and_removed_in_home_assistant() {
        let mut p = publisher(1000);
        let mut out = Outbox::new(100);
        p.configured
            .set_zones(vec!["stage".into(), "exit".into()], &mut out);
        assert_eq!(
            topics(&mut out),
            [
                "ha/sensor/b_s_zone_stage/config",
                "ha/sensor/b_s_zone_exit/config"
            ]
        );
        p.configured
            .set_zones(vec!["exit".into(), "bar".into()], &mut out);
        let msgs: Vec<_> = std::iter::from_fn(|| out.pop()).collect();
        assert_eq!(msgs[0].topic, "ha/sensor/b_s_zone_stage/config");
        assert!(
            msgs[0].payload.is_empty(),
            "a gone zone's entity is removed"
        );
        assert_eq!(msgs[1].topic, "ha/sensor/b_s_zone_bar/config");
        assert_eq!(msgs.len(), 2);
    }
}
