//! Prometheus metrics: counters the stages bump, read by `GET /metrics`.
//!
//! Labels have bounded values only: the stream's four states, and the zones' names (at most
//! `analyse::zones::MAX_ZONES`, and a zone removed by the operator is removed here too).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

use crate::source::StreamState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabel {
    pub state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ZoneLabel {
    pub zone: String,
}

/// Every figure skycountd exports. The types are atomics: cheap to bump from any thread.
pub struct Metrics {
    pub frames_decoded: Counter,
    pub frames_skipped: Counter,
    pub frames_analysed: Counter,
    pub reattaches: Counter,
    pub inference_seconds: Histogram,
    pub staleness_seconds: Histogram,
    pub last_staleness_seconds: Gauge<f64, AtomicU64>,
    pub last_count: Gauge<f64, AtomicU64>,
    pub stream_state: Family<StateLabel, Gauge>,
    pub zone_people: Family<ZoneLabel, Gauge<f64, AtomicU64>>,
    pub alerts_raised: Counter,
    /// The MQTT publisher's figures (`status.mqtt`), set from its report.
    pub mqtt_connected: Gauge,
    pub mqtt_queued: Gauge,
    pub mqtt_published: Counter,
    pub mqtt_dropped: Counter,
    registry: Registry,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let buckets = [
            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0,
        ];
        let mut m = Self {
            frames_decoded: Counter::default(),
            frames_skipped: Counter::default(),
            frames_analysed: Counter::default(),
            reattaches: Counter::default(),
            inference_seconds: Histogram::new(buckets),
            staleness_seconds: Histogram::new(buckets),
            last_staleness_seconds: Gauge::default(),
            last_count: Gauge::default(),
            stream_state: Family::default(),
            zone_people: Family::default(),
            alerts_raised: Counter::default(),
            mqtt_connected: Gauge::default(),
            mqtt_queued: Gauge::default(),
            mqtt_published: Counter::default(),
            mqtt_dropped: Counter::default(),
            registry: Registry::with_prefix("skycount"),
        };
        let registry = &mut m.registry;
        registry.register(
            "frames_decoded",
            "Frames decoded from the source",
            m.frames_decoded.clone(),
        );
        registry.register(
            "frames_skipped",
            "Decoded frames replaced by a newer one before the model was free",
            m.frames_skipped.clone(),
        );
        registry.register(
            "frames_analysed",
            "Frames the model analysed",
            m.frames_analysed.clone(),
        );
        registry.register(
            "source_reattaches",
            "Times the source pipeline was rebuilt after a failure or a stall",
            m.reattaches.clone(),
        );
        registry.register(
            "inference_seconds",
            "Time of one model run",
            m.inference_seconds.clone(),
        );
        registry.register(
            "staleness_seconds",
            "Age of the analysed frame when its result was ready",
            m.staleness_seconds.clone(),
        );
        registry.register(
            "last_staleness_seconds",
            "Staleness of the latest analysis",
            m.last_staleness_seconds.clone(),
        );
        registry.register(
            "count",
            "People counted in the latest analysis",
            m.last_count.clone(),
        );
        registry.register(
            "stream_state",
            "1 for the stream's current state, 0 for the others",
            m.stream_state.clone(),
        );
        registry.register(
            "zone_people",
            "People counted in each zone in the latest analysis",
            m.zone_people.clone(),
        );
        registry.register(
            "alerts_raised",
            "Zone alerts raised (a zone's count held at or above its limit)",
            m.alerts_raised.clone(),
        );
        registry.register(
            "mqtt_connected",
            "1 while the MQTT broker is connected (0 when it is not, or [mqtt] is off)",
            m.mqtt_connected.clone(),
        );
        registry.register(
            "mqtt_queued",
            "MQTT messages waiting for the broker",
            m.mqtt_queued.clone(),
        );
        registry.register(
            "mqtt_published",
            "MQTT messages handed to the broker's client",
            m.mqtt_published.clone(),
        );
        registry.register(
            "mqtt_dropped",
            "MQTT messages dropped because the queue was full (counts first, never alerts)",
            m.mqtt_dropped.clone(),
        );
        m.set_state(StreamState::Waiting);
        m
    }

    /// The MQTT publisher's latest report. Its totals are the publisher's own, kept since the
    /// start: they are copied, not added.
    pub fn set_mqtt(&self, report: &crate::wire::MqttReport) {
        use std::sync::atomic::Ordering::Relaxed;
        self.mqtt_connected.set(i64::from(report.connected));
        self.mqtt_queued
            .set(i64::try_from(report.queued).unwrap_or(i64::MAX));
        self.mqtt_published.inner().store(report.published, Relaxed);
        self.mqtt_dropped.inner().store(report.dropped, Relaxed);
    }

    /// The zones' counts of the latest analysis (those of the zones that exist: the hub's
    /// choice).
    pub fn set_zones<'a>(&self, zones: impl IntoIterator<Item = &'a crate::wire::ZoneCount>) {
        for z in zones {
            self.zone_people
                .get_or_create(&ZoneLabel {
                    zone: escape_label(&z.name),
                })
                .set(z.count);
        }
    }

    /// The operator changed the zones: the old ones leave the exposition; the next analysis made
    /// with the new ones gives them.
    pub fn forget_zones(&self) {
        self.zone_people.clear();
    }

    pub fn set_state(&self, state: StreamState) {
        for s in [
            StreamState::Waiting,
            StreamState::Live,
            StreamState::Stalled,
            StreamState::Reconnecting,
        ] {
            self.stream_state
                .get_or_create(&StateLabel { state: s.as_str() })
                .set(i64::from(s == state));
        }
    }

    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

/// A label value as the text format wants it: prometheus-client writes values as they are, and a
/// zone's name (the operator's words) may hold `"` or `\`.
fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_every_family() {
        let m = Metrics::new();
        m.frames_decoded.inc_by(30);
        m.frames_skipped.inc_by(29);
        m.frames_analysed.inc();
        m.inference_seconds.observe(0.8);
        m.set_state(StreamState::Live);
        m.alerts_raised.inc();
        m.set_zones(&[crate::wire::ZoneCount {
            name: "stage \"front\" \\ left".into(),
            count: 12.5,
            share: 0.5,
            limit: None,
            alerting: false,
        }]);
        m.set_mqtt(&crate::wire::MqttReport {
            enabled: true,
            connected: true,
            queued: 3,
            published: 120,
            dropped: 7,
            ..Default::default()
        });
        let text = m.encode();
        for needle in [
            "skycount_frames_decoded_total 30",
            "skycount_frames_skipped_total 29",
            "skycount_frames_analysed_total 1",
            "skycount_inference_seconds_bucket{le=\"1.0\"} 1",
            "skycount_stream_state{state=\"live\"} 1",
            "skycount_stream_state{state=\"waiting\"} 0",
            "skycount_staleness_seconds_count 0",
            "skycount_alerts_raised_total 1",
            r#"skycount_zone_people{zone="stage \"front\" \\ left"} 12.5"#,
            "skycount_mqtt_connected 1",
            "skycount_mqtt_queued 3",
            "skycount_mqtt_published_total 120",
            "skycount_mqtt_dropped_total 7",
        ] {
            assert!(text.contains(needle), "{needle} missing from:\n{text}");
        }
        m.forget_zones();
        assert!(!m.encode().contains("skycount_zone_people{"));
    }
}
