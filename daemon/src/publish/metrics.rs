//! Prometheus metrics: counters the stages bump, read by `GET /metrics`.

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
        m.set_state(StreamState::Waiting);
        m
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
        let text = m.encode();
        for needle in [
            "skycount_frames_decoded_total 30",
            "skycount_frames_skipped_total 29",
            "skycount_frames_analysed_total 1",
            "skycount_inference_seconds_bucket{le=\"1.0\"} 1",
            "skycount_stream_state{state=\"live\"} 1",
            "skycount_stream_state{state=\"waiting\"} 0",
            "skycount_staleness_seconds_count 0",
        ] {
            assert!(text.contains(needle), "{needle} missing from:\n{text}");
        }
    }
}
