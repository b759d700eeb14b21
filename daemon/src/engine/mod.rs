//! The engine: the counting pipeline as one object, from the sources to the analyses.
//!
//! ```text
//!  [source thread, per stream]              [model thread, one]
//!  decode::supervise ──put──▶ lane ─┐
//!  decode::supervise ──put──▶ lane ─┼─take_next─▶ model::run ──▶ infer ──▶ analyse (per stream)
//!        │              (sample::Lanes)                │
//!        └──────── Event (stream, frames) ─────────────┴── Event (model, analysis) ──▶ EventSink
//! ```
//!
//! [`Engine::start`] builds the configured stream's source thread and the model thread; more
//! streams join with [`Engine::add_stream`] (up to `analysis.max_streams`) and leave with
//! [`Engine::remove_stream`]. Each stream has its own decoder, reconnects and backoff, and the
//! model keeps its analysis state (setup, smoothing, alerts) per stream; the streams take turns
//! on the one model (`sample::Lanes`), so N streams each get about one analysis in N. Every
//! event says its stream. The engine keeps the join handles, one [`CancellationToken`] that stops
//! them all (each stream a child of it), and the beats that say they are making progress
//! ([`progress`]). Whoever starts it reads the events: `skycountd run` turns them into what
//! viewers see (`publish`), `skycountd analyze` prints them. Control goes the other way, through
//! the engine's methods only: [`Engine::reload`], [`Engine::reattach`], [`Engine::shutdown`].

pub mod model;
pub mod progress;
pub mod roster;

use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;

use crate::analyse::calibrate::Request;
use crate::analyse::Setup;
use crate::config::Settings;
use crate::decode::{self, Control, DecodeOptions};
use crate::event::{EventSink, WeakEventSink};
use crate::infer::Interrupt;
use crate::sample::{Lanes, LatestFrame, StreamId};
use crate::wire::{Calibration, CalibrationPreview};
pub use model::ModelOptions;
use progress::{Limits, Progress};

/// Everything the engine runs with.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineOptions {
    /// The configured stream's.
    pub decode: DecodeOptions,
    pub model: ModelOptions,
    /// The most streams analysed at once (`analysis.max_streams`).
    pub max_streams: usize,
}

impl EngineOptions {
    /// The engine's options from the configuration; `stop_at_end` for the `analyze` command.
    pub fn from_settings(s: &Settings, stop_at_end: bool) -> Self {
        let src = &s.source;
        let ms = Duration::from_millis;
        Self {
            decode: DecodeOptions {
                url: s.source_url(),
                demo: src.demo_url.clone(),
                demo_after: ms(src.demo_after_ms),
                stall: ms(src.stall_ms),
                reconnect_after: ms(src.reconnect_after_ms),
                backoff_initial: ms(src.backoff_initial_ms),
                backoff_max: ms(src.backoff_max_ms),
                loop_file: src.loop_file,
                rtsp_latency_ms: src.rtsp_latency_ms,
                decoder: s.decode.decoder.clone(),
                stop_at_end,
            },
            model: ModelOptions {
                model: s.model.clone(),
                analysis: crate::analyse::Options::from_settings(s),
                alerts: crate::analyse::alerts::Options {
                    hold: ms(s.analysis.alert_hold_ms),
                    hysteresis: s.analysis.alert_hysteresis,
                    smooth: ms(s.analysis.smooth_ms),
                    stream: crate::store::stream_key(&s.source_url()),
                },
            },
            max_streams: s.analysis.max_streams as usize,
        }
    }
}

/// Makes a source for each stream (a GStreamer pipeline's maker; a fake in tests).
pub type Sources = Arc<dyn Fn() -> Box<dyn decode::Source + Send> + Send + Sync>;

/// One stream's source thread and what the engine keeps to steer it.
struct StreamThread {
    id: StreamId,
    control: mpsc::Sender<Control>,
    cancel: CancellationToken,
    slot: Arc<LatestFrame>,
    progress: Arc<Progress>,
    handle: Option<JoinHandle<()>>,
    /// What it runs with now.
    opts: DecodeOptions,
}

/// The running pipeline. Dropping it without [`Engine::shutdown`] cancels it without waiting.
pub struct Engine {
    cancel: CancellationToken,
    requests: Arc<model::Requests>,
    interrupt: Arc<Mutex<Option<Interrupt>>>,
    lanes: Arc<Lanes>,
    progress: Arc<Progress>,
    limits: Limits,
    /// The options as configured (without the model override).
    running: Mutex<EngineOptions>,
    /// An uploaded model to run instead of `model.path` (the store's model shelf).
    model_override: Mutex<Option<PathBuf>>,
    /// The configured stream (`source` and `[stream]`): always first, never removed.
    primary: StreamId,
    /// Every stream's source thread, the configured one first.
    streams: Mutex<Vec<StreamThread>>,
    sources: Sources,
    /// Held weakly: the channel closes once every thread has ended (how `analyze` knows the
    /// recordings are done).
    events: WeakEventSink,
    model: Mutex<Option<JoinHandle<()>>>,
}

impl Engine {
    /// Starts the source and model threads; everything they do arrives as events on `events`.
    pub fn start(opts: EngineOptions, events: EventSink) -> anyhow::Result<Self> {
        Self::start_with(opts, events, None, gst_sources())
    }

    /// [`Engine::start`] running the model at `model` (an uploaded one) instead of `model.path`;
    /// `None`: the configured one. See [`Engine::switch_model`].
    pub fn start_with_model(
        opts: EngineOptions,
        events: EventSink,
        model: Option<PathBuf>,
    ) -> anyhow::Result<Self> {
        Self::start_with(opts, events, model, gst_sources())
    }

    /// [`Engine::start_with_model`] with other sources (tests).
    pub fn start_with(
        opts: EngineOptions,
        events: EventSink,
        model_override: Option<PathBuf>,
        sources: Sources,
    ) -> anyhow::Result<Self> {
        let cancel = CancellationToken::new();
        let lanes = Lanes::new();
        let progress = Arc::new(Progress::new(Instant::now()));
        let requests = Arc::new(model::Requests::default());
        let interrupt = Arc::new(Mutex::new(None));
        let primary = StreamId::new(&opts.model.alerts.stream);

        let model_stage = model::Stage {
            lanes: lanes.clone(),
            events: events.clone(),
            cancel: cancel.clone(),
            progress: progress.clone(),
            requests: requests.clone(),
            interrupt: interrupt.clone(),
        };
        let mut model_opts = opts.model.clone();
        if let Some(p) = &model_override {
            model_opts.model.path = p.clone();
        }
        let engine = Self {
            cancel,
            requests,
            interrupt,
            lanes,
            progress: progress.clone(),
            limits: Limits::default(),
            running: Mutex::new(opts.clone()),
            model_override: Mutex::new(model_override),
            primary: primary.clone(),
            streams: Mutex::new(Vec::new()),
            sources,
            events: events.downgrade(),
            model: Mutex::new(None),
        };
        // The configured stream beats the engine's own progress; added streams beat their own.
        let first = engine.spawn_source(primary, opts.decode, progress, events)?;
        engine.streams.lock().push(first);
        let model = std::thread::Builder::new()
            .name("model".into())
            .spawn(move || model::run(model_opts, &model_stage))?;
        *engine.model.lock() = Some(model);
        Ok(engine)
    }

    /// A source thread for stream `id`, putting into a new lane.
    fn spawn_source(
        &self,
        id: StreamId,
        opts: DecodeOptions,
        progress: Arc<Progress>,
        events: EventSink,
    ) -> anyhow::Result<StreamThread> {
        let slot = self.lanes.add(id.clone());
        let (control, control_rx) = mpsc::channel();
        let cancel = self.cancel.child_token();
        let stage = decode::Stage {
            stream: id.clone(),
            slot: slot.clone(),
            events,
            control: control_rx,
            cancel: cancel.clone(),
            heartbeat: {
                let progress = progress.clone();
                Box::new(move || progress.source_beat(Instant::now()))
            },
        };
        let mut source = (self.sources)();
        let running = opts.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("source {id}"))
            .spawn(move || {
                decode::supervise(source.as_mut(), opts, &stage);
                // No more frames will come: the model takes what is left of this stream.
                stage.slot.close();
            });
        let handle = match spawned {
            Ok(h) => h,
            Err(e) => {
                self.lanes.remove(&slot);
                return Err(e.into());
            }
        };
        Ok(StreamThread {
            id,
            control,
            cancel,
            slot,
            progress,
            handle: Some(handle),
            opts: running,
        })
    }

    /// The configured stream's name.
    pub fn primary(&self) -> &StreamId {
        &self.primary
    }

    /// Analyses one more stream (at `url`, with the configured stream's other decode options)
    /// beside the others, sharing the model in turns, with its own decoder, reconnects and
    /// analysis state (calibration, masks, zones and alerts start empty until `skycountd run`
    /// hands over the ones kept for its path: [`Engine::set_setup_of`]). Refused when it is
    /// analysed already or when `analysis.max_streams` are.
    pub fn add_stream(&self, id: StreamId, url: crate::source::SourceUrl) -> Result<(), String> {
        let (max, opts) = {
            let running = self.running.lock();
            (running.max_streams, added_stream(&running.decode, url))
        };
        let mut streams = self.streams.lock();
        if streams.iter().any(|s| s.id == id) {
            return Err(format!("the stream {id} is analysed already"));
        }
        if streams.len() >= max {
            return Err(format!(
                "{} streams are analysed already, the most this box is set to share its model \
                 between (analysis.max_streams = {max}): stop one first, or raise the setting",
                streams.len()
            ));
        }
        let events = self
            .events
            .upgrade()
            .ok_or("the engine has stopped: nobody reads its events")?;
        let progress = Arc::new(Progress::new(Instant::now()));
        let thread = self
            .spawn_source(id.clone(), opts, progress, events)
            .map_err(|e| format!("cannot start a source thread for {id}: {e}"))?;
        log::info!("stream {id} added: {} analysed now", streams.len() + 1);
        streams.push(thread);
        Ok(())
    }

    /// Stops analysing a stream that was added (the configured one stays): its source thread
    /// ends, its waiting frame is dropped and the model forgets its analysis state. Nothing waits
    /// for the thread: a pipeline stuck in a call is left behind, as at shutdown.
    pub fn remove_stream(&self, id: &StreamId) -> Result<(), String> {
        if *id == self.primary {
            return Err(format!(
                "{id} is the configured stream: it is analysed as long as skycountd runs"
            ));
        }
        let mut streams = self.streams.lock();
        let Some(i) = streams.iter().position(|s| s.id == *id) else {
            return Err(format!("no stream {id} is analysed"));
        };
        let thread = streams.remove(i);
        thread.cancel.cancel();
        self.lanes.remove(&thread.slot);
        self.requests.forget(id.clone());
        log::info!("stream {id} removed: {} analysed now", streams.len());
        Ok(())
    }

    /// Applies new options: the source is attached again only when its options changed; the
    /// model thread takes the rest before its next frame (and loads the model file again when
    /// its settings changed or the file was replaced). A model override stays in force.
    /// Added streams keep their own URL and take the rest of the new decode options.
    pub fn reload(&self, opts: EngineOptions) {
        let mut running = self.running.lock();
        for s in self.streams.lock().iter_mut() {
            let new = if s.id == self.primary {
                opts.decode.clone()
            } else {
                added_stream(&opts.decode, s.opts.url.clone())
            };
            if new != s.opts {
                let _ = s.control.send(Control::Reload(new.clone()));
                s.opts = new;
            }
        }
        *running = opts;
        let model = self.effective_model(&running);
        self.requests.reload(model, None);
    }

    /// Runs the model at `path` instead of the configured one (`None`: the configured one again),
    /// from the next frame on. Answers once the model runs, or with why it was refused (then the
    /// running model keeps counting and the override is undone).
    pub async fn switch_model(&self, path: Option<PathBuf>) -> Result<(), String> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let before = {
            let running = self.running.lock();
            let before = std::mem::replace(&mut *self.model_override.lock(), path);
            self.requests
                .reload(self.effective_model(&running), Some(reply));
            before
        };
        let result = answer
            .await
            .unwrap_or_else(|_| Err("skycountd is stopping".into()));
        if result.is_err() {
            *self.model_override.lock() = before;
        }
        result
    }

    /// The configured `[model]` settings as of the last reload (without an uploaded model's
    /// override): what a new model is checked with, and what "the configured model" is.
    pub fn model_settings(&self) -> crate::config::ModelSettings {
        self.running.lock().model.model.clone()
    }

    /// The model options with the override applied.
    fn effective_model(&self, running: &EngineOptions) -> ModelOptions {
        let mut model = running.model.clone();
        if let Some(p) = &*self.model_override.lock() {
            model.model.path = p.clone();
        }
        model
    }

    /// What the operator set (calibration, masks) for the configured stream: applied from the
    /// next frame on.
    pub fn set_setup(&self, setup: Setup) {
        self.set_setup_of(self.primary.clone(), setup);
    }

    /// What the operator set for stream `id`: applied from its next frame on.
    pub fn set_setup_of(&self, id: StreamId, setup: Setup) {
        self.requests.setup(id, setup);
    }

    /// Calibrates stream `stream` on a frozen frame of it (packed RGB at its native size), on
    /// the model thread between two analyses, with that stream's analysis state (its masks):
    /// the calibration (judged, not applied) and what the whole frame counts now and with it.
    /// Fails when the request does not fit the frame or no model is loaded.
    pub async fn calibrate(
        &self,
        stream: StreamId,
        rgb: Vec<u8>,
        width: u32,
        height: u32,
        request: Request,
    ) -> Result<(Calibration, CalibrationPreview), String> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.requests.calibrate(model::CalibrationJob {
            stream,
            rgb,
            width,
            height,
            request,
            reply,
        });
        answer
            .await
            .unwrap_or_else(|_| Err("skycountd is stopping".into()))
    }

    /// The operator acknowledged alert `id`: the alert as it is now (also sent as an
    /// `Event::Alert`), or why not (no open alert has that id).
    pub async fn acknowledge(&self, id: u64) -> Result<crate::wire::Alert, String> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.requests.acknowledge(id, reply);
        answer
            .await
            .unwrap_or_else(|_| Err("skycountd is stopping".into()))
    }

    /// A drone (re)appeared on the media server: attach now unless frames are flowing.
    pub fn reattach(&self) {
        self.reattach_stream(&self.primary);
    }

    /// A drone (re)appeared on stream `id`: attach now unless frames are flowing.
    pub fn reattach_stream(&self, id: &StreamId) {
        if let Some(s) = self.streams.lock().iter().find(|s| s.id == *id) {
            let _ = s.control.send(Control::Reattach);
        }
    }

    /// Judges progress against these limits (by default [`Limits::default`]).
    pub fn set_progress_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// `Ok` while every thread makes progress (see [`progress`]); otherwise what is stuck.
    pub fn progress(&self) -> Result<(), String> {
        let now = Instant::now();
        for s in self.streams.lock().iter() {
            if s.handle.as_ref().is_none_or(JoinHandle::is_finished) {
                return Err(format!("the source thread of {} has ended", s.id));
            }
            let quiet = s.progress.read(now).source_quiet;
            if s.id != self.primary && quiet > self.limits.source {
                return Err(format!(
                    "the source thread of {} has not moved for {} s (a GStreamer call that does not return?)",
                    s.id,
                    quiet.as_secs()
                ));
            }
        }
        if self
            .model
            .lock()
            .as_ref()
            .is_none_or(JoinHandle::is_finished)
        {
            return Err("the model thread has ended".into());
        }
        progress::verdict(&self.progress.read(now), &self.limits)
    }

    fn cancel(&self) {
        self.cancel.cancel();
        // Wake the model thread if it waits for a frame, and cut a long model run short.
        self.lanes.close_all();
        if let Some(i) = self.interrupt.lock().as_ref() {
            i.interrupt();
        }
    }

    /// Stops both threads and waits for them, for at most `within`. A thread stuck in a call
    /// that never returns is left behind (and named in the log): the process is ending anyway.
    pub async fn shutdown(&self, within: Duration) {
        self.cancel();
        let deadline = tokio::time::Instant::now() + within;
        let mut handles = vec![("model".to_string(), self.model.lock().take())];
        for s in self.streams.lock().iter_mut() {
            handles.push((format!("source ({})", s.id), s.handle.take()));
        }
        for (name, handle) in handles {
            let Some(handle) = handle else { continue };
            let joined = tokio::task::spawn_blocking(move || handle.join());
            match tokio::time::timeout_at(deadline, joined).await {
                Ok(Ok(Ok(()))) => {}
                Ok(_) => log::error!("the {name} thread panicked"),
                Err(_) => log::warn!("the {name} thread did not stop in time; leaving it"),
            }
        }
    }
}

/// GStreamer pipelines, one per stream.
fn gst_sources() -> Sources {
    Arc::new(|| Box::new(decode::pipeline::GstSource))
}

/// An added stream's decode options: the configured ones at `url`, with no demo recording (it
/// stands in for the configured drone alone).
fn added_stream(configured: &DecodeOptions, url: crate::source::SourceUrl) -> DecodeOptions {
    DecodeOptions {
        url,
        demo: None,
        ..configured.clone()
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.cancel();
    }
}
