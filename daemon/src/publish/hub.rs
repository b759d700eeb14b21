//! The hub: the latest of everything, where the stages leave it and the server reads it.
//!
//! The source supervisor reports the stream's state, the model worker reports the model and each
//! analysis; HTTP handlers and the Socket.IO task read from here. Writers never wait for readers:
//! the latest analysis sits in a `watch` channel, so a slow viewer only ever misses old results.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tokio::sync::{watch, Notify};

use super::metrics::Metrics;
use crate::analyse::Analysis;
use crate::mediamtx::api::MediaMtxReport;
use crate::sample::Frame;
use crate::source::StreamState;

/// The stream part of the status, as the supervisor reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StreamReport {
    pub state: StreamState,
    pub state_since_ms: u64,
    pub error: Option<String>,
    pub source: String,
    pub decoder: Option<String>,
    pub codec: Option<String>,
    /// The demo recording is being analysed because no drone streams.
    pub demo: bool,
}

/// The model part of the status.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelReport {
    pub path: String,
    pub input_width: u32,
    pub input_height: u32,
    #[serde(skip)]
    pub execution_provider: Option<String>,
    /// Why the model is not running, when it is not.
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Rates {
    pub decoded_fps: f64,
    pub analysed_fps: f64,
    pub skipped_fps: f64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Totals {
    pub frames_decoded: u64,
    pub frames_skipped: u64,
    pub frames_analysed: u64,
}

/// The `status` event and `GET /api/status`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Status {
    #[serde(flatten)]
    pub stream: StreamReport,
    pub execution_provider: Option<String>,
    pub model: ModelReport,
    pub rates: Rates,
    pub totals: Totals,
    pub last_inference_ms: Option<f64>,
    pub last_staleness_ms: Option<f64>,
    pub uptime_s: u64,
    pub version: &'static str,
    /// What MediaMTX says about the drone's stream; null when it is not watched.
    pub mediamtx: Option<MediaMtxReport>,
}

/// Unix time in milliseconds.
pub fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as u64
}

/// A wall-clock time for an `Instant` in the recent past.
pub fn wall_ms_of(at: Instant) -> u64 {
    let ago = Instant::now().saturating_duration_since(at);
    unix_ms(SystemTime::now() - ago)
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
    /// Set when the decoder should attach again now (a drone appeared on MediaMTX).
    reattach: AtomicBool,
    /// What the decoder saw of B-frames: 0 not looked, 1 none, 2 some.
    b_frames: AtomicU8,
}

impl Hub {
    pub fn new(source: String, model: ModelReport) -> Arc<Self> {
        let (analysis, _) = watch::channel(None);
        Arc::new(Self {
            metrics: Metrics::new(),
            stream: RwLock::new(StreamReport {
                state: StreamState::Waiting,
                state_since_ms: unix_ms(SystemTime::now()),
                error: None,
                source,
                decoder: None,
                codec: None,
                demo: false,
            }),
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
            reattach: AtomicBool::new(false),
            b_frames: AtomicU8::new(0),
        })
    }

    /// The MediaMTX watch's latest report; viewers are told at once when its meaning changed.
    pub fn set_mediamtx(&self, report: MediaMtxReport) {
        let mut cur = self.mediamtx.write().unwrap_or_else(|p| p.into_inner());
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
        self.mediamtx
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Asks the decode supervisor to attach again at once (the MediaMTX watch calls this when a
    /// drone starts publishing, or replaces its own stale session, which drops every reader).
    pub fn request_reattach(&self) {
        self.reattach.store(true, Ordering::Release);
    }

    /// For the decode supervisor, at each tick: true once per [`Hub::request_reattach`]. When
    /// true and no frame came for a while, it should drop its pipeline (if any) and attach now,
    /// skipping the backoff.
    pub fn take_reattach_request(&self) -> bool {
        self.reattach.swap(false, Ordering::AcqRel)
    }

    /// For the decoder: whether the H.264 it decodes has B-frames (frames out of presentation
    /// order). Browsers cannot play those over WebRTC; the pilot is told which setting to change.
    pub fn report_b_frames(&self, seen: bool) {
        let v = if seen { 2 } else { 1 };
        if self.b_frames.swap(v, Ordering::AcqRel) != v {
            self.status_changed.notify_one();
        }
    }

    /// What the decoder reported with [`Hub::report_b_frames`], if anything.
    pub fn b_frames_seen(&self) -> Option<bool> {
        match self.b_frames.load(Ordering::Acquire) {
            1 => Some(false),
            2 => Some(true),
            _ => None,
        }
    }

    /// The supervisor's report; viewers are told at once when it changed.
    pub fn set_stream(&self, report: StreamReport) {
        let mut cur = self.stream.write().unwrap_or_else(|p| p.into_inner());
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
        self.stream
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn set_model(&self, report: ModelReport) {
        *self.model.write().unwrap_or_else(|p| p.into_inner()) = report;
        self.status_changed.notify_one();
    }

    pub fn model(&self) -> ModelReport {
        self.model.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// A new analysis and the frame it was made from.
    pub fn publish(&self, analysis: Analysis, frame: Frame) {
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
        *self.last_frame.lock().unwrap_or_else(|p| p.into_inner()) = Some((analysis.seq, frame));
        self.analysis.send_replace(Some(Arc::new(analysis)));
    }

    pub fn latest_analysis(&self) -> Option<Arc<Analysis>> {
        self.analysis.borrow().clone()
    }

    pub fn subscribe_analyses(&self) -> watch::Receiver<Option<Arc<Analysis>>> {
        self.analysis.subscribe()
    }

    /// The last analysed frame as JPEG, encoded once per analysis and only when asked for.
    pub fn snapshot_jpeg(&self) -> Option<Result<Arc<Vec<u8>>, String>> {
        let (seq, frame) = self
            .last_frame
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()?;
        let mut cache = self.snapshot.lock().unwrap_or_else(|p| p.into_inner());
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
        let mut guard = self.rates.lock().unwrap_or_else(|p| p.into_inner());
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

    pub fn status(&self) -> Status {
        let latest = self.latest_analysis();
        let model = self.model();
        Status {
            stream: self.stream(),
            execution_provider: model.execution_provider.clone(),
            model,
            rates: self.rates.lock().unwrap_or_else(|p| p.into_inner()).1,
            totals: self.totals(),
            last_inference_ms: latest.as_ref().map(|a| a.inference_ms),
            last_staleness_ms: latest.as_ref().map(|a| a.staleness_ms),
            uptime_s: self.started.elapsed().as_secs(),
            version: env!("CARGO_PKG_VERSION"),
            mediamtx: self.mediamtx(),
        }
    }

    /// `Ok` while the pipeline and the model are up; otherwise why not.
    pub fn health(&self) -> Result<(), String> {
        let model = self.model();
        if let Some(e) = model.error {
            return Err(format!("model not running: {e}"));
        }
        if model.execution_provider.is_none() {
            return Err("model still loading".into());
        }
        let stream = self.stream();
        if stream.state != StreamState::Live {
            return Err(match stream.error {
                Some(e) => format!("stream {}: {e}", stream.state),
                None => format!("stream {}", stream.state),
            });
        }
        Ok(())
    }
}
