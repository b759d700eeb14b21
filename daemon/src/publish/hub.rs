//! The hub: the latest of everything viewers see, built from the engine's events.
//!
//! `skycountd run` feeds every [`Event`] to [`Hub::apply`]; HTTP handlers and the Socket.IO task
//! read from here. Nothing upstream knows the hub exists. Writers never wait for readers: the
//! latest analysis sits in a `watch` channel, so a slow viewer only ever misses old results.
//!
//! The hub also keeps the *open* alerts (raised, and not yet both cleared and acknowledged; at
//! most [`MAX_OPEN_ALERTS`]) for `status.alerts`, so a dashboard opened late still shows them.
//!
//! Those that must see *every* result in order (the history recorder, MQTT) follow
//! [`Hub::feed`] instead: a bounded broadcast of [`Feed`] items. A follower that falls more than
//! [`FEED_CAPACITY`] items behind loses the oldest and is told how many (`RecvError::Lagged`), so
//! it can count them; the engine never waits for it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use parking_lot::{Mutex, RwLock};
use tokio::sync::{broadcast, watch, Notify};

use super::metrics::Metrics;
use crate::analyse::Setup;
use crate::engine::roster::Place;
use crate::event::Event;
use crate::sample::Frame;
use crate::wire::{
    unix_ms, Alert, Analysis, AnalysisReport, HistoryReport, MediaMtxReport, ModelReport,
    MqttReport, Rates, Status, StreamReport, StreamSummary, Totals,
};

/// Items a follower of [`Hub::feed`] may fall behind before it loses the oldest (about 20 s of
/// analyses at the highest rates seen).
pub const FEED_CAPACITY: usize = 512;

/// Open alerts kept for the status; beyond it the oldest is dropped.
pub const MAX_OPEN_ALERTS: usize = 64;

/// The last analysed frame as JPEG, or why it could not be encoded.
pub type SnapshotJpeg = Result<Arc<Vec<u8>>, String>;

/// What the hub passes on, in the order it took it in.
#[derive(Debug, Clone)]
pub enum Feed {
    Analysis(Arc<Analysis>),
    Stream(StreamReport),
    Alert(Alert),
    Setup(Setup),
}

struct RateWindow {
    samples: Vec<(Instant, Totals)>,
}

pub struct Hub {
    pub metrics: Metrics,
    stream: RwLock<StreamReport>,
    model: RwLock<ModelReport>,
    analysis: watch::Sender<Option<Arc<Analysis>>>,
    /// Woken when the status changed in a way viewers should see at once.
    pub status_changed: Notify,
    last_frame: Mutex<Option<(u64, Frame)>>,
    snapshot: Mutex<Option<(u64, Arc<Vec<u8>>)>>,
    rates: Mutex<(RateWindow, Rates)>,
    started: Instant,
    mediamtx: RwLock<Option<MediaMtxReport>>,
    setup: RwLock<Setup>,
    feed: broadcast::Sender<Feed>,
    /// Open alerts, oldest first.
    alerts: RwLock<Vec<Alert>>,
    /// Each alert as it changes, for the viewers' `alert` event.
    alert_events: broadcast::Sender<Alert>,
    mqtt: RwLock<MqttReport>,
    history: RwLock<HistoryReport>,
    /// Every stream's summary, the configured one first (`note`, `set_roster`).
    streams: RwLock<Vec<StreamSummary>>,
    /// The other streams' last analysis and its frame (JPEG once asked), for the viewers who
    /// watch them.
    others: Mutex<HashMap<String, Other>>,
    /// The other streams' analyses as they come (Socket.IO sends each to its stream's room).
    other_analyses: broadcast::Sender<Arc<Analysis>>,
    /// The other streams' setups (the operator's calibration, masks and zones), by name.
    other_setups: Mutex<HashMap<String, Setup>>,
}

/// Another stream's last analysis, the frame it was made from, and that frame as JPEG once
/// a viewer asked for it.
struct Other {
    analysis: Arc<Analysis>,
    frame: Frame,
    jpeg: Option<Arc<Vec<u8>>>,
}

impl Hub {
    pub fn new(source: String, model: ModelReport) -> Arc<Self> {
        let (analysis, _) = watch::channel(None);
        Arc::new(Self {
            metrics: Metrics::new(),
            stream: RwLock::new(StreamReport::waiting(source)),
            model: RwLock::new(model),
            analysis,
            status_changed: Notify::new(),
            last_frame: Mutex::new(None),
            snapshot: Mutex::new(None),
            rates: Mutex::new((
                RateWindow {
                    samples: Vec::new(),
                },
                Rates::default(),
            )),
            started: Instant::now(),
            mediamtx: RwLock::new(None),
            setup: RwLock::new(Setup::default()),
            feed: broadcast::channel(FEED_CAPACITY).0,
            alerts: RwLock::new(Vec::new()),
            alert_events: broadcast::channel(MAX_OPEN_ALERTS).0,
            mqtt: RwLock::new(MqttReport::default()),
            history: RwLock::new(HistoryReport::off()),
            streams: RwLock::new(Vec::new()),
            others: Mutex::new(HashMap::new()),
            other_analyses: broadcast::channel(FEED_CAPACITY).0,
            other_setups: Mutex::new(HashMap::new()),
        })
    }

    /// Takes in one event from the engine or the MediaMTX watch.
    pub fn apply(&self, event: Event) {
        self.note(&event);
        match event {
            Event::FrameDecoded { replaced, .. } => {
                self.metrics.frames_decoded.inc();
                if replaced {
                    self.metrics.frames_skipped.inc();
                }
            }
            Event::Reattaching { .. } => {
                self.metrics.reattaches.inc();
            }
            Event::Stream { report, .. } => {
                self.pass_on(|| Feed::Stream(report.clone()));
                self.set_stream(report)
            }
            Event::Model(report) => self.set_model(report),
            Event::Analysed { analysis, frame } => {
                // The frame is stored first: a follower that takes the snapshot of this analysis
                // (the history's peak) gets this frame, not the one before.
                self.publish(analysis.clone(), frame);
                self.pass_on(|| Feed::Analysis(analysis));
            }
            Event::MediaMtx(report) => self.set_mediamtx(report),
            Event::Setup(setup) => {
                self.pass_on(|| Feed::Setup(setup.clone()));
                // Under the setup's lock: an analysis published at the same time either sets
                // its zones before they are forgotten or sees the new zones (see `publish`).
                let mut current = self.setup.write();
                if setup.zones != current.zones {
                    self.metrics.forget_zones();
                }
                *current = setup;
                drop(current);
                self.status_changed.notify_one();
            }
            Event::Alert(alert) => {
                self.pass_on(|| Feed::Alert(alert.clone()));
                self.set_alert(alert);
                self.status_changed.notify_one();
            }
            // For the engine and its roster, not the viewers.
            Event::PublisherChanged | Event::Published(_) => {}
        }
    }

    /// The configured stream's name and MediaMTX path (when it is read from MediaMTX): first in
    /// the status's `streams`.
    pub fn set_configured(&self, stream: &str, path: Option<String>) {
        let mut streams = self.streams.write();
        streams.retain(|s| s.stream != stream);
        for s in streams.iter_mut() {
            s.configured = false;
        }
        streams.insert(0, StreamSummary::new(stream, path, true));
    }

    /// Keeps the summary of the stream an event is about (any stream, the configured one or
    /// another): its decoder's state and its last analysis.
    pub fn note(&self, event: &Event) {
        let (name, report, analysis) = match event {
            Event::Stream { stream, report } => (stream.as_str(), Some(report), None),
            Event::Analysed { analysis, .. } => (analysis.stream.as_str(), None, Some(analysis)),
            _ => return,
        };
        let mut streams = self.streams.write();
        let Some(s) = streams.iter_mut().find(|s| s.stream == name) else {
            // Not on the roster (removed a moment ago): nothing to keep.
            return;
        };
        if let Some(r) = report {
            if !matches!(s.state.as_str(), "ended" | "refused") {
                s.state = r.state.as_str().to_string();
            }
            s.reason = r.error.clone();
            s.demo = r.demo;
        }
        if let Some(a) = analysis {
            s.count = Some(a.count);
            s.smoothed = Some(a.smoothed);
            s.band = Some(a.band);
            s.analysed_ms = Some(a.wall_time_ms);
            s.analyses += 1;
            s.demo = a.demo;
            if !s.configured {
                drop(streams);
                if let Event::Analysed { analysis, frame } = event {
                    self.others.lock().insert(
                        analysis.stream.to_string(),
                        Other {
                            analysis: analysis.clone(),
                            frame: frame.clone(),
                            jpeg: None,
                        },
                    );
                    let _ = self.other_analyses.send(analysis.clone());
                }
            }
        }
    }

    /// Whether `stream` is another stream than the configured one that is analysed (listed,
    /// and not refused).
    pub fn is_other(&self, stream: &str) -> bool {
        self.streams
            .read()
            .iter()
            .any(|s| s.stream == stream && !s.configured && s.state != "refused")
    }

    /// Another stream's last analysis.
    pub fn latest_of(&self, stream: &str) -> Option<Arc<Analysis>> {
        self.others.lock().get(stream).map(|o| o.analysis.clone())
    }

    /// Another stream's last analysed frame (the operator freezes it to calibrate that stream).
    pub fn last_frame_of(&self, stream: &str) -> Option<Frame> {
        self.others.lock().get(stream).map(|o| o.frame.clone())
    }

    /// The other streams' analyses from now on.
    pub fn subscribe_other_analyses(&self) -> broadcast::Receiver<Arc<Analysis>> {
        self.other_analyses.subscribe()
    }

    /// Another stream's last analysed frame as JPEG, with the `seq` of its analysis.
    pub fn snapshot_jpeg_of_stream(&self, stream: &str) -> Option<(u64, SnapshotJpeg)> {
        let (seq, frame) = {
            let others = self.others.lock();
            let o = others.get(stream)?;
            if let Some(j) = &o.jpeg {
                return Some((o.analysis.seq, Ok(j.clone())));
            }
            (o.analysis.seq, o.frame.clone())
        };
        // Encoded outside the lock; kept unless a newer frame came meanwhile.
        let jpeg = super::snapshot::encode_jpeg(&frame).map(Arc::new);
        if let Ok(j) = &jpeg {
            if let Some(o) = self.others.lock().get_mut(stream) {
                if o.analysis.seq == seq {
                    o.jpeg = Some(j.clone());
                }
            }
        }
        Some((seq, jpeg))
    }

    /// The roster's places (several drones): streams added, ended or refused; the ones it no
    /// longer lists leave the summary.
    pub fn set_roster(&self, places: &[(String, Option<String>, Place)]) {
        let mut streams = self.streams.write();
        let before = streams.clone();
        streams.retain(|s| s.configured || places.iter().any(|(n, _, _)| *n == s.stream));
        self.others
            .lock()
            .retain(|name, _| places.iter().any(|(n, _, _)| n == name));
        for (name, path, state) in places {
            let s = match streams.iter().position(|s| s.stream == *name) {
                Some(i) => &mut streams[i],
                None => {
                    streams.push(StreamSummary::new(name, path.clone(), false));
                    streams.last_mut().expect("just pushed")
                }
            };
            match state {
                Place::Analysed { ended_at: None } => {
                    if matches!(s.state.as_str(), "ended" | "refused") {
                        s.state = "waiting".into();
                        s.reason = None;
                    }
                }
                Place::Analysed { ended_at: Some(_) } => s.state = "ended".into(),
                Place::Refused => {
                    s.state = "refused".into();
                    s.reason = Some(
                        "the box analyses as many streams as analysis.max_streams allows: \
                         one must end first"
                            .into(),
                    );
                }
            }
        }
        let changed = *streams != before;
        drop(streams);
        if changed {
            self.status_changed.notify_one();
        }
    }

    /// Another stream's setup, as the operator kept it (`None`: it left the engine).
    pub fn set_setup_of(&self, stream: &str, setup: Option<&Setup>) {
        {
            let mut setups = self.other_setups.lock();
            match setup {
                Some(s) => setups.insert(stream.to_string(), s.clone()),
                None => setups.remove(stream),
            };
        }
        self.status_changed.notify_one();
    }

    /// Every stream's summary, the configured one first, each with its setup.
    pub fn streams(&self) -> Vec<StreamSummary> {
        let mut streams = self.streams.read().clone();
        let setups = self.other_setups.lock();
        for s in &mut streams {
            let setup = if s.configured {
                self.setup()
            } else {
                setups.get(&s.stream).cloned().unwrap_or_default()
            };
            s.name = setup.name;
            s.calibration = setup.calibration;
            s.masks = setup.masks;
            s.zones = setup.zones;
        }
        streams
    }

    /// Follows everything the hub passes on from now (see the module docs).
    pub fn feed(&self) -> broadcast::Receiver<Feed> {
        self.feed.subscribe()
    }

    /// Each alert as it changes (raised, cleared, acknowledged), for the viewers.
    pub fn subscribe_alerts(&self) -> broadcast::Receiver<Alert> {
        self.alert_events.subscribe()
    }

    /// Keeps an alert's news in the open list (see the module docs) and passes it to the viewers.
    fn set_alert(&self, alert: Alert) {
        let mut open = self.alerts.write();
        let closed = alert.cleared_ms.is_some() && alert.acknowledged_ms.is_some();
        match open.iter().position(|a| a.id == alert.id) {
            Some(i) if closed => {
                open.remove(i);
            }
            Some(i) => open[i] = alert.clone(),
            None if closed => {}
            None => {
                if alert.cleared_ms.is_none() && alert.acknowledged_ms.is_none() {
                    self.metrics.alerts_raised.inc();
                }
                open.push(alert.clone());
                if open.len() > MAX_OPEN_ALERTS {
                    open.remove(0);
                }
            }
        }
        drop(open);
        let _ = self.alert_events.send(alert);
    }

    /// The open alerts, oldest first.
    pub fn alerts(&self) -> Vec<Alert> {
        self.alerts.read().clone()
    }

    /// Passes an item on to the feed's followers, built only when there is one.
    fn pass_on(&self, item: impl FnOnce() -> Feed) {
        if self.feed.receiver_count() > 0 {
            let _ = self.feed.send(item());
        }
    }

    /// The history recorder's latest report; viewers are told at once when its state changed.
    pub fn set_history(&self, report: HistoryReport) {
        let mut cur = self.history.write();
        let changed = (cur.state, &cur.reason) != (report.state, &report.reason);
        *cur = report;
        drop(cur);
        if changed {
            self.status_changed.notify_one();
        }
    }

    /// The MediaMTX watch's latest report; viewers are told at once when its meaning changed.
    fn set_mediamtx(&self, report: MediaMtxReport) {
        let mut cur = self.mediamtx.write();
        let changed = cur.as_ref().map(|c| {
            (
                &c.message,
                c.publisher,
                &c.b_frames_warning,
                c.viewers,
                c.reachable,
            )
        }) != Some((
            &report.message,
            report.publisher,
            &report.b_frames_warning,
            report.viewers,
            report.reachable,
        ));
        if changed {
            match (&*cur, report.reachable) {
                (Some(c), true) if !c.reachable => log::info!("MediaMTX: {}", report.message),
                (_, false) => log::warn!("MediaMTX: {}", report.message),
                _ => log::info!("MediaMTX: {}", report.message),
            }
            if let Some(w) = &report.b_frames_warning {
                if cur.as_ref().and_then(|c| c.b_frames_warning.as_ref()) != Some(w) {
                    log::warn!("{w}");
                }
            }
        }
        *cur = Some(report);
        drop(cur);
        if changed {
            self.status_changed.notify_one();
        }
    }

    pub fn mediamtx(&self) -> Option<MediaMtxReport> {
        self.mediamtx.read().clone()
    }

    /// The MQTT publisher's report; viewers are told at once when it connected, lost its
    /// broker or had a new error (the queue's figures follow with the next status).
    pub fn set_mqtt(&self, report: MqttReport) {
        self.metrics.set_mqtt(&report);
        let mut cur = self.mqtt.write();
        let changed = (cur.connected, &cur.last_error) != (report.connected, &report.last_error);
        *cur = report;
        drop(cur);
        if changed {
            self.status_changed.notify_one();
        }
    }

    /// The supervisor's report; viewers are told at once when it changed.
    fn set_stream(&self, report: StreamReport) {
        let mut cur = self.stream.write();
        if *cur != report {
            if cur.state == report.state && report.error.is_some() && cur.error != report.error {
                log::warn!(
                    "stream {}: {}",
                    report.state,
                    report.error.as_deref().unwrap_or_default()
                );
            }
            if cur.state != report.state {
                self.metrics.set_state(report.state);
                log::info!(
                    "stream {}{}",
                    report.state,
                    report
                        .error
                        .as_deref()
                        .map(|e| format!(": {e}"))
                        .unwrap_or_default()
                );
            }
            *cur = report;
            drop(cur);
            self.status_changed.notify_one();
        }
    }

    pub fn stream(&self) -> StreamReport {
        self.stream.read().clone()
    }

    fn set_model(&self, report: ModelReport) {
        *self.model.write() = report;
        self.status_changed.notify_one();
    }

    pub fn model(&self) -> ModelReport {
        self.model.read().clone()
    }

    /// A new analysis and the frame it was made from.
    fn publish(&self, analysis: Arc<Analysis>, frame: Frame) {
        self.metrics.frames_analysed.inc();
        self.metrics
            .inference_seconds
            .observe(analysis.inference_ms / 1000.0);
        self.metrics
            .staleness_seconds
            .observe(analysis.staleness_ms / 1000.0);
        self.metrics
            .last_staleness_seconds
            .set(analysis.staleness_ms / 1000.0);
        self.metrics.last_count.set(analysis.count);
        // While the camera moves the zones cover other ground: their gauges keep what they
        // counted last.
        if !analysis.camera.zones_paused {
            // Only the zones the operator has now: an analysis made with the zones before a
            // change may finish after it, and must not bring the removed ones back.
            let setup = self.setup.read();
            self.metrics.set_zones(
                analysis
                    .zones
                    .iter()
                    .filter(|z| setup.zones.iter().any(|s| s.name == z.name)),
            );
        }
        *self.last_frame.lock() = Some((analysis.seq, frame));
        self.analysis.send_replace(Some(analysis));
    }

    pub fn latest_analysis(&self) -> Option<Arc<Analysis>> {
        self.analysis.borrow().clone()
    }

    pub fn subscribe_analyses(&self) -> watch::Receiver<Option<Arc<Analysis>>> {
        self.analysis.subscribe()
    }

    /// The last analysed frame as JPEG, encoded once per analysis and only when asked for, with
    /// the seq of the analysis made from it (a viewer draws that analysis over it, no other).
    pub fn snapshot_jpeg(&self) -> Option<(u64, SnapshotJpeg)> {
        let seq = self.last_frame.lock().as_ref().map(|(s, _)| *s)?;
        // The frame may be replaced in between: then the next one's seq and JPEG, together.
        match self.snapshot_jpeg_of(Some(seq)) {
            Some(jpeg) => Some((seq, jpeg)),
            None => self.snapshot_jpeg(),
        }
    }

    /// The frame analysis `seq` was made from as JPEG, if it is still the last analysed frame
    /// (`None` for `seq`: whichever is).
    pub fn snapshot_jpeg_of(&self, seq: Option<u64>) -> Option<SnapshotJpeg> {
        let (last, frame) = self.last_frame.lock().clone()?;
        if seq.is_some_and(|s| s != last) {
            return None;
        }
        let seq = last;
        let mut cache = self.snapshot.lock();
        if let Some((s, jpeg)) = cache.as_ref() {
            if *s == seq {
                return Some(Ok(jpeg.clone()));
            }
        }
        let jpeg = super::snapshot::encode_jpeg(&frame).map(Arc::new);
        if let Ok(j) = &jpeg {
            *cache = Some((seq, j.clone()));
        }
        Some(jpeg)
    }

    /// Samples the counters; called once a second. Rates are averaged over the last 5 s.
    pub fn sample_rates(&self, now: Instant) {
        let totals = self.totals();
        let mut guard = self.rates.lock();
        let (window, rates) = &mut *guard;
        window.samples.push((now, totals));
        window
            .samples
            .retain(|(t, _)| now.saturating_duration_since(*t) <= Duration::from_millis(5500));
        if let (Some((t0, a)), Some((t1, b))) = (window.samples.first(), window.samples.last()) {
            let dt = t1.saturating_duration_since(*t0).as_secs_f64();
            if dt > 0.0 {
                *rates = Rates {
                    decoded_fps: (b.frames_decoded - a.frames_decoded) as f64 / dt,
                    analysed_fps: (b.frames_analysed - a.frames_analysed) as f64 / dt,
                    skipped_fps: (b.frames_skipped - a.frames_skipped) as f64 / dt,
                };
            }
        }
    }

    fn totals(&self) -> Totals {
        Totals {
            frames_decoded: self.metrics.frames_decoded.get(),
            frames_skipped: self.metrics.frames_skipped.get(),
            frames_analysed: self.metrics.frames_analysed.get(),
        }
    }

    /// What the operator set, as applied.
    pub fn setup(&self) -> Setup {
        self.setup.read().clone()
    }

    /// The last analysed frame (at its native size), for the operator to freeze.
    pub fn last_frame(&self) -> Option<Frame> {
        self.last_frame.lock().as_ref().map(|(_, f)| f.clone())
    }

    pub fn status(&self) -> Status {
        let latest = self.latest_analysis();
        let mut model = self.model();
        if let Some(b) = &mut model.building {
            b.elapsed_ms = unix_ms(SystemTime::now()).saturating_sub(b.started_ms);
        }
        let setup = self.setup();
        let rates = self.rates.lock().1;
        Status {
            stream: self.stream(),
            execution_provider: model.execution_provider.clone(),
            model,
            rates,
            totals: self.totals(),
            last_inference_ms: latest.as_ref().map(|a| a.inference_ms),
            last_staleness_ms: latest.as_ref().map(|a| a.staleness_ms),
            uptime_s: self.started.elapsed().as_secs(),
            version: env!("CARGO_PKG_VERSION"),
            mediamtx: self.mediamtx(),
            analysis: AnalysisReport {
                width: latest.as_ref().map(|a| a.input_width),
                height: latest.as_ref().map(|a| a.input_height),
                scale: latest
                    .as_ref()
                    .map(|a| f64::from(a.input_width) / f64::from(a.frame_width.max(1))),
                from: if setup.calibration.is_some() {
                    "calibration"
                } else {
                    "default"
                },
                tiles: latest.as_ref().map(|a| a.tiles),
                analysed_fps: rates.analysed_fps,
            },
            calibration: setup.calibration,
            masks: setup.masks,
            zones: setup.zones,
            alerts: self.alerts(),
            mqtt: self.mqtt.read().clone(),
            history: self.history.read().clone(),
            streams: self.streams(),
        }
    }

    /// The box's health: `Ok` while the daemon runs and its model is loaded, whether or not a
    /// drone streams (the stream's state is reported beside it, not as a failure); otherwise
    /// why not.
    pub fn health(&self) -> Result<(), String> {
        let model = self.model();
        if let Some(e) = model.error {
            return Err(format!("the model is not running: {e}"));
        }
        if let Some(b) = model.building {
            return Err(format!("the model is still loading: building {}", b.what));
        }
        if model.execution_provider.is_none() {
            return Err("the model is still loading".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::StreamState;
    use crate::wire::{Alert, StreamReport};

    fn alert(id: u64) -> Alert {
        Alert {
            id,
            stream: "live_drone".into(),
            zone: "stage".into(),
            limit: 10,
            count: 12.0,
            raised_ms: 1,
            cleared_ms: None,
            acknowledged_ms: None,
        }
    }

    #[test]
    fn the_feed_passes_on_in_order_and_says_how_much_a_slow_follower_lost() {
        let hub = Hub::new(
            "rtmp://x/live/drone".into(),
            crate::engine::model::report_for(&crate::config::Settings::default().model),
        );
        hub.apply(Event::Alert(alert(0))); // nobody follows yet: not kept
        let mut follower = hub.feed();
        let mut live = StreamReport::waiting("rtmp://x/live/drone".into());
        live.state = StreamState::Live;
        hub.apply(Event::Stream {
            stream: crate::sample::StreamId::new("live_drone"),
            report: live,
        });
        hub.apply(Event::Alert(alert(1)));
        assert!(matches!(follower.try_recv(), Ok(Feed::Stream(s)) if s.state == StreamState::Live));
        assert!(matches!(follower.try_recv(), Ok(Feed::Alert(a)) if a.id == 1));
        assert!(follower.try_recv().is_err());

        for id in 0..FEED_CAPACITY as u64 + 5 {
            hub.apply(Event::Alert(alert(id)));
        }
        match follower.try_recv() {
            Err(broadcast::error::TryRecvError::Lagged(n)) => assert_eq!(n, 5),
            other => panic!("expected the follower to be told it lost 5, got {other:?}"),
        }
        assert!(matches!(follower.try_recv(), Ok(Feed::Alert(a)) if a.id == 5));
    }

    #[test]
    fn the_snapshot_of_an_analysis_is_its_own_frame_or_none() {
        let hub = Hub::new(
            "rtmp://x/live/drone".into(),
            crate::engine::model::report_for(&crate::config::Settings::default().model),
        );
        let mut follower = hub.feed();
        assert!(hub.snapshot_jpeg_of(Some(1)).is_none(), "before the first");
        for (seq, shade) in [(1u64, 10u8), (2, 200)] {
            hub.apply(Event::Analysed {
                analysis: Arc::new(Analysis::example(seq, seq * 1000, 5.0)),
                frame: crate::sample::Frame::packed(16, 8, vec![shade; 16 * 8 * 3]),
            });
            assert!(matches!(follower.try_recv(), Ok(Feed::Analysis(a)) if a.seq == seq));
            let jpeg = hub.snapshot_jpeg_of(Some(seq)).unwrap().unwrap();
            let pixel = image::load_from_memory(&jpeg).unwrap().to_rgb8()[(8, 4)][0];
            assert!(
                pixel.abs_diff(shade) < 8,
                "analysis {seq}: {pixel} vs {shade}"
            );
        }
        assert!(
            hub.snapshot_jpeg_of(Some(1)).is_none(),
            "analysis 1's frame was replaced by 2's"
        );
        assert_eq!(
            hub.snapshot_jpeg().map(|(seq, _)| seq),
            Some(2),
            "with its seq"
        );
    }

    #[test]
    fn removed_zones_leave_the_metrics_and_a_late_analysis_does_not_bring_them_back() {
        let hub = Hub::new(
            "rtmp://x/live/drone".into(),
            crate::engine::model::report_for(&crate::config::Settings::default().model),
        );
        let zones = |names: &[&str]| Setup {
            zones: names
                .iter()
                .map(|n| crate::wire::Zone {
                    name: n.to_string(),
                    points: vec![[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]],
                    limit: None,
                })
                .collect(),
            ..Setup::default()
        };
        // An analysis made with these zones' counts.
        let analysed = |seq: u64, names: &[&str]| Event::Analysed {
            analysis: Arc::new(Analysis {
                zones: names
                    .iter()
                    .map(|n| crate::wire::ZoneCount {
                        name: n.to_string(),
                        count: 311.5,
                        share: 0.5,
                        limit: None,
                        alerting: false,
                    })
                    .collect(),
                ..Analysis::example(seq, seq * 1000, 623.0)
            }),
            frame: crate::sample::Frame::packed(16, 8, vec![0; 16 * 8 * 3]),
        };
        let exported = |hub: &Hub| -> Vec<String> {
            hub.metrics
                .encode()
                .lines()
                .filter(|l| l.starts_with("skycount_zone_people{"))
                .map(str::to_owned)
                .collect()
        };
        hub.apply(Event::Setup(zones(&["old"])));
        hub.apply(analysed(1, &["old"]));
        assert_eq!(
            exported(&hub),
            [r#"skycount_zone_people{zone="old"} 311.5"#]
        );
        // The operator replaces the zones; the analysis under way was made with the old ones
        // and arrives after the change.
        hub.apply(Event::Setup(zones(&["new"])));
        assert!(exported(&hub).is_empty());
        hub.apply(analysed(2, &["old"]));
        assert!(exported(&hub).is_empty(), "{:?}", exported(&hub));
        hub.apply(analysed(3, &["new"]));
        assert_eq!(
            exported(&hub),
            [r#"skycount_zone_people{zone="new"} 311.5"#]
        );
        // Fifteen changes later, and then no zones at all: nothing old is left.
        for i in 0..15 {
            let name = format!("new{i}");
            hub.apply(Event::Setup(zones(&[&name])));
            hub.apply(analysed(4 + i, &["new"]));
            hub.apply(analysed(4 + i, &[&name]));
        }
        assert_eq!(
            exported(&hub),
            [r#"skycount_zone_people{zone="new14"} 311.5"#]
        );
        hub.apply(Event::Setup(Setup::default()));
        hub.apply(analysed(30, &["new14"]));
        assert!(exported(&hub).is_empty(), "{:?}", exported(&hub));
    }

    #[test]
    fn open_alerts_are_kept_until_cleared_and_acknowledged_and_bounded() {
        let hub = Hub::new(
            "rtmp://x/live/drone".into(),
            crate::engine::model::report_for(&crate::config::Settings::default().model),
        );
        let mut viewers = hub.subscribe_alerts();
        hub.apply(Event::Alert(alert(7)));
        assert_eq!(hub.status().alerts, vec![alert(7)]);
        assert_eq!(viewers.try_recv().unwrap(), alert(7));
        let cleared = Alert {
            cleared_ms: Some(5),
            ..alert(7)
        };
        hub.apply(Event::Alert(cleared.clone()));
        assert_eq!(
            hub.status().alerts,
            vec![cleared.clone()],
            "open until acknowledged"
        );
        hub.apply(Event::Alert(Alert {
            acknowledged_ms: Some(6),
            ..cleared
        }));
        assert!(hub.status().alerts.is_empty());
        assert_eq!(hub.metrics.alerts_raised.get(), 1);
        for id in 0..MAX_OPEN_ALERTS as u64 + 3 {
            hub.apply(Event::Alert(alert(100 + id)));
        }
        let open = hub.alerts();
        assert_eq!(open.len(), MAX_OPEN_ALERTS);
        assert_eq!(open[0].id, 103, "the oldest dropped");
    }
}
