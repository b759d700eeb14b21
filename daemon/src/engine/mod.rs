//! The engine: the counting pipeline as one object, from the source to the analyses.
//!
//! ```text
//!  [source thread]                         [model thread]
//!  decode::supervise ──put──▶ LatestFrame ──take──▶ model::run ──▶ infer ──▶ analyse
//!        │                                               │
//!        └──────────── Event (stream, frames) ───────────┴── Event (model, analysis) ──▶ EventSink
//! ```
//!
//! [`Engine::start`] builds the frame slot and both threads; the engine keeps their join handles,
//! one [`CancellationToken`] that stops them, and the beats that say they are making progress
//! ([`progress`]). Whoever starts it reads the events: `skycountd run` turns them into what
//! viewers see (`publish`), `skycountd analyze` prints them. Control goes the other way, through
//! the engine's methods only: [`Engine::reload`], [`Engine::reattach`], [`Engine::shutdown`].

pub mod model;
pub mod progress;

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
use crate::event::EventSink;
use crate::infer::Interrupt;
use crate::sample::LatestFrame;
use crate::wire::{Calibration, CalibrationPreview};
pub use model::ModelOptions;
use progress::{Limits, Progress};

/// Everything the engine runs with.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineOptions {
    pub decode: DecodeOptions,
    pub model: ModelOptions,
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
        }
    }
}

/// The running pipeline. Dropping it without [`Engine::shutdown`] cancels it without waiting.
pub struct Engine {
    cancel: CancellationToken,
    control: mpsc::Sender<Control>,
    requests: Arc<model::Requests>,
    interrupt: Arc<Mutex<Option<Interrupt>>>,
    slot: Arc<LatestFrame>,
    progress: Arc<Progress>,
    limits: Limits,
    /// The options as configured (without the model override).
    running: Mutex<EngineOptions>,
    /// An uploaded model to run instead of `model.path` (the store's model shelf).
    model_override: Mutex<Option<PathBuf>>,
    source: Mutex<Option<JoinHandle<()>>>,
    model: Mutex<Option<JoinHandle<()>>>,
}

impl Engine {
    /// Starts the source and model threads; everything they do arrives as events on `events`.
    pub fn start(opts: EngineOptions, events: EventSink) -> anyhow::Result<Self> {
        Self::spawn(opts, events, decode::pipeline::GstSource, None)
    }

    /// [`Engine::start`] running the model at `model` (an uploaded one) instead of `model.path`;
    /// `None`: the configured one. See [`Engine::switch_model`].
    pub fn start_with_model(
        opts: EngineOptions,
        events: EventSink,
        model: Option<PathBuf>,
    ) -> anyhow::Result<Self> {
        Self::spawn(opts, events, decode::pipeline::GstSource, model)
    }

    /// [`Engine::start`] with another [`decode::Source`] (tests).
    pub fn start_with(
        opts: EngineOptions,
        events: EventSink,
        source: impl decode::Source + Send + 'static,
    ) -> anyhow::Result<Self> {
        Self::spawn(opts, events, source, None)
    }

    fn spawn(
        opts: EngineOptions,
        events: EventSink,
        mut source: impl decode::Source + Send + 'static,
        model_override: Option<PathBuf>,
    ) -> anyhow::Result<Self> {
        let cancel = CancellationToken::new();
        let slot = LatestFrame::new();
        let progress = Arc::new(Progress::new(Instant::now()));
        let (control, control_rx) = mpsc::channel();
        let requests = Arc::new(model::Requests::default());
        let interrupt = Arc::new(Mutex::new(None));

        let source_stage = decode::Stage {
            slot: slot.clone(),
            events: events.clone(),
            control: control_rx,
            cancel: cancel.clone(),
            heartbeat: {
                let progress = progress.clone();
                Box::new(move || progress.source_beat(Instant::now()))
            },
        };
        let decode_opts = opts.decode.clone();
        let source = std::thread::Builder::new()
            .name("source".into())
            .spawn(move || {
                decode::supervise(&mut source, decode_opts, &source_stage);
                // No more frames will come: the model thread ends once it took the last one.
                source_stage.slot.close();
            })?;

        let model_stage = model::Stage {
            slot: slot.clone(),
            events,
            cancel: cancel.clone(),
            progress: progress.clone(),
            requests: requests.clone(),
            interrupt: interrupt.clone(),
        };
        let mut model_opts = opts.model.clone();
        if let Some(p) = &model_override {
            model_opts.model.path = p.clone();
        }
        let model = std::thread::Builder::new()
            .name("model".into())
            .spawn(move || model::run(model_opts, &model_stage))?;

        Ok(Self {
            cancel,
            control,
            requests,
            interrupt,
            slot,
            progress,
            limits: Limits::default(),
            running: Mutex::new(opts),
            model_override: Mutex::new(model_override),
            source: Mutex::new(Some(source)),
            model: Mutex::new(Some(model)),
        })
    }

    /// Applies new options: the source is attached again only when its options changed; the
    /// model thread takes the rest before its next frame (and loads the model file again when
    /// its settings changed or the file was replaced). A model override stays in force.
    pub fn reload(&self, opts: EngineOptions) {
        let mut running = self.running.lock();
        if opts.decode != running.decode {
            let _ = self.control.send(Control::Reload(opts.decode.clone()));
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

    /// What the operator set (calibration, masks): applied from the next frame on.
    pub fn set_setup(&self, setup: Setup) {
        self.requests.setup(setup);
    }

    /// Calibrates on a frozen frame (packed RGB at its native size), on the model thread between
    /// two analyses: the calibration (judged, not applied) and what the whole frame counts now
    /// and with it. Fails when the request does not fit the frame or no model is loaded.
    pub async fn calibrate(
        &self,
        rgb: Vec<u8>,
        width: u32,
        height: u32,
        request: Request,
    ) -> Result<(Calibration, CalibrationPreview), String> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.requests.calibrate(model::CalibrationJob {
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
        let _ = self.control.send(Control::Reattach);
    }

    /// Judges progress against these limits (by default [`Limits::default`]).
    pub fn set_progress_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// `Ok` while both threads make progress (see [`progress`]); otherwise what is stuck.
    pub fn progress(&self) -> Result<(), String> {
        if self
            .source
            .lock()
            .as_ref()
            .is_none_or(JoinHandle::is_finished)
        {
            return Err("the source thread has ended".into());
        }
        if self
            .model
            .lock()
            .as_ref()
            .is_none_or(JoinHandle::is_finished)
        {
            return Err("the model thread has ended".into());
        }
        progress::verdict(&self.progress.read(Instant::now()), &self.limits)
    }

    fn cancel(&self) {
        self.cancel.cancel();
        // Wake the model thread if it waits for a frame, and cut a long model run short.
        self.slot.close();
        if let Some(i) = self.interrupt.lock().as_ref() {
            i.interrupt();
        }
    }

    /// Stops both threads and waits for them, for at most `within`. A thread stuck in a call
    /// that never returns is left behind (and named in the log): the process is ending anyway.
    pub async fn shutdown(&self, within: Duration) {
        self.cancel();
        let deadline = tokio::time::Instant::now() + within;
        let handles = [
            ("model", self.model.lock().take()),
            ("source", self.source.lock().take()),
        ];
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

impl Drop for Engine {
    fn drop(&mut self) {
        self.cancel();
    }
}
