//! The model thread: takes the newest frame, runs the model, analyses, and emits the result.
//!
//! It runs on its own thread because a model run blocks for as long as it takes (tens of
//! milliseconds on a Jetson, seconds on a small CPU). While it runs, the decoder keeps replacing
//! the frame waiting in the slot, so the next run always starts on the newest picture.
//!
//! Each analysis goes through the zones' alert states ([`analyse::alerts`]) before it is sent,
//! so its zones say whether they are alerting, and every raised, cleared or acknowledged alert
//! follows as an `Event::Alert` right after the analysis that changed it. Analyses of the demo
//! recording (no drone streaming) are not judged: a recording is no crowd to alert on; nor are
//! the zones while the camera moves (`analysis.camera.zones_paused`): their alerts are held.
//!
//! Reloads are looked at before every frame, so a change reaches the very next analysis even on a
//! live stream. A new model (another path, size, provider or thread count, or the same file
//! replaced on disk) is loaded beside the running one and swapped in only once it has loaded; one
//! that does not load is refused with its reason in the status (`model.reload_error`) while the
//! running one keeps counting. With no model at all (the first load failed), loading is tried
//! again every [`RETRY_AFTER`] and at every reload; the daemon stays up either way.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;

use super::progress::{ModelPhase, Progress};
use crate::analyse::alerts::Alerts;
use crate::analyse::{self, Analyser, Setup};
use crate::config::ModelSettings;
use crate::event::{Event, EventSink};
use crate::infer::{Interrupt, LoadStep, Model, ModelError};
use crate::sample::{Lanes, StreamId};
use crate::wire::{unix_ms, Alert, Building, Calibration, CalibrationPreview, ModelReport};

/// How long to wait before trying a model that failed to load again.
pub const RETRY_AFTER: Duration = Duration::from_secs(10);

/// How long one wait for a frame lasts before the thread looks at reloads and the token again.
const TAKE_WAIT: Duration = Duration::from_millis(200);

/// What the model thread runs with; replaced as a whole on reload.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelOptions {
    pub model: ModelSettings,
    pub analysis: analyse::Options,
    pub alerts: analyse::alerts::Options,
}

/// A frozen frame to calibrate on, and where the answer goes: the calibration (not applied) and
/// what the whole frame counts now and with it.
pub struct CalibrationJob {
    /// The stream whose setup (masks) the calibration is made with.
    pub stream: StreamId,
    pub rgb: Vec<u8>,
    pub width: u32,
    pub height: u32,
    pub request: analyse::calibrate::Request,
    pub reply: tokio::sync::oneshot::Sender<Result<(Calibration, CalibrationPreview), String>>,
}

/// Where the answer to an acknowledgement goes: the alert as it is now, or why not.
pub type AckReply = tokio::sync::oneshot::Sender<Result<Alert, String>>;

/// Where the outcome of a reload goes: `Ok` once the model asked for runs, or why it was refused.
pub type ReloadReply = tokio::sync::oneshot::Sender<Result<(), String>>;

/// What the engine asks of the model thread, looked at before every frame. Newest wins for
/// options and setups (a reload replaced by a newer one is answered "superseded"); calibrations
/// and acknowledgements queue.
#[derive(Default)]
pub struct Requests {
    reload: Mutex<Option<(ModelOptions, Option<ReloadReply>)>>,
    setups: Mutex<HashMap<StreamId, Setup>>,
    forget: Mutex<Vec<StreamId>>,
    calibrations: Mutex<Vec<CalibrationJob>>,
    acks: Mutex<Vec<(u64, AckReply)>>,
}

impl Requests {
    pub fn reload(&self, opts: ModelOptions, reply: Option<ReloadReply>) {
        if let Some((_, Some(old))) = self.reload.lock().replace((opts, reply)) {
            let _ = old.send(Err("superseded by a newer change".into()));
        }
    }

    /// What the operator set for `stream`, from its next analysis on.
    pub fn setup(&self, stream: StreamId, setup: Setup) {
        self.setups.lock().insert(stream, setup);
    }

    /// `stream` was removed: its analysis state goes.
    pub fn forget(&self, stream: StreamId) {
        self.setups.lock().remove(&stream);
        self.forget.lock().push(stream);
    }

    pub fn calibrate(&self, job: CalibrationJob) {
        self.calibrations.lock().push(job);
    }

    pub fn acknowledge(&self, id: u64, reply: AckReply) {
        self.acks.lock().push((id, reply));
    }
}

/// What the model thread shares with the engine around it.
pub struct Stage {
    /// Every stream's newest frame, taken in turns.
    pub lanes: Arc<Lanes>,
    pub events: EventSink,
    pub cancel: CancellationToken,
    pub progress: Arc<Progress>,
    pub requests: Arc<Requests>,
    /// The running model's interrupt, for the engine to cut a long run short at shutdown.
    pub interrupt: Arc<Mutex<Option<Interrupt>>>,
}

/// The status's model part for these settings, before anything is known.
pub fn report_for(model: &ModelSettings) -> ModelReport {
    ModelReport {
        path: model.path.display().to_string(),
        input_width: model.input_width,
        input_height: model.input_height,
        execution_provider: None,
        error: None,
        reload_error: None,
        name: None,
        analysis_scale: None,
        card: None,
        loaded_at_ms: None,
        file: None,
        precision: None,
        precision_reason: None,
        building: None,
    }
}

/// What identifies a file on disk: a replaced file is loaded again at a reload.
fn stamp_of(path: &std::path::Path) -> Option<(u64, SystemTime)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.len(), m.modified().ok()?))
}

/// What identifies the model on disk: its file and its INT8 twin's (a twin built, rebuilt or
/// deleted beside it changes what `model.precision` chooses).
type Stamp = [Option<(u64, SystemTime)>; 2];

fn file_stamp(model: &ModelSettings) -> Stamp {
    [
        stamp_of(&model.path),
        stamp_of(&crate::infer::int8_twin(&model.path)),
    ]
}

/// The model in use and what it was loaded from.
struct Loaded {
    model: Model,
    settings: ModelSettings,
    stamp: Stamp,
    at: SystemTime,
}

impl Loaded {
    /// The status's model part while this model runs.
    fn report(&self) -> ModelReport {
        let info = self.model.info();
        ModelReport {
            execution_provider: Some(self.model.provider().name().into()),
            name: Some(info.name.clone()),
            analysis_scale: info.analysis_scale,
            card: info
                .card
                .as_ref()
                .map(|c| crate::wire::CardSummary::of(&info.name, c)),
            loaded_at_ms: self
                .at
                .duration_since(SystemTime::UNIX_EPOCH)
                .ok()
                .map(|d| d.as_millis() as u64),
            file: Some(self.model.path().display().to_string()),
            precision: Some(self.model.numbers().to_string()),
            precision_reason: Some(self.model.numbers_why().to_string()),
            ..report_for(&self.settings)
        }
    }
}

/// The status's words for a slow step of loading, started at `at`.
fn building(step: &LoadStep, at: SystemTime) -> Building {
    match step {
        LoadStep::BuildingEngine { .. } => Building {
            what: "the TensorRT engine (the first start with this model: minutes on a Jetson; it is kept for the next starts)".into(),
            started_ms: unix_ms(at),
            elapsed_ms: 0,
        },
    }
}

/// What the model keeps for one stream: its analyser (setup, smoothing, camera motion) and its
/// zones' alerts.
struct PerStream {
    analyser: Analyser,
    alerts: Alerts,
}

/// The alert options of stream `id`: every alert says the stream it was raised on.
fn alert_options(opts: &ModelOptions, id: &StreamId) -> analyse::alerts::Options {
    analyse::alerts::Options {
        stream: id.to_string(),
        ..opts.alerts.clone()
    }
}

/// The state of `id` in `streams`, made with `opts` (and the model in use) when it has none.
fn per_stream<'a>(
    streams: &'a mut HashMap<StreamId, PerStream>,
    opts: &ModelOptions,
    model: Option<&Loaded>,
    id: &StreamId,
) -> &'a mut PerStream {
    streams.entry(id.clone()).or_insert_with(|| {
        let mut analyser = Analyser::new(opts.analysis.clone(), Setup::default());
        if let Some(l) = model {
            analyser.set_model(l.model.info());
        }
        let alerts = Alerts::new(alert_options(opts, id));
        PerStream { analyser, alerts }
    })
}

struct Thread<'a> {
    stage: &'a Stage,
    opts: ModelOptions,
    streams: HashMap<StreamId, PerStream>,
    loaded: Option<Loaded>,
    /// The settings to load when nothing is loaded, and when that was last tried.
    wanted: ModelSettings,
    last_try: Option<Instant>,
}

/// Runs until cancelled, or until the slot is closed and empty.
pub fn run(opts: ModelOptions, stage: &Stage) {
    // The configured stream is known from the start: its setup may come before its first frame.
    let primary = StreamId::new(&opts.alerts.stream);
    let mut t = Thread {
        stage,
        wanted: opts.model.clone(),
        opts,
        streams: HashMap::new(),
        loaded: None,
        last_try: None,
    };
    t.stream(&primary);
    t.run();
}

impl Thread<'_> {
    /// The state of `id`, made on its first frame (or setup).
    fn stream(&mut self, id: &StreamId) -> &mut PerStream {
        per_stream(&mut self.streams, &self.opts, self.loaded.as_ref(), id)
    }

    fn load(&self, settings: &ModelSettings) -> Result<Loaded, ModelError> {
        self.stage
            .progress
            .model_beat(Instant::now(), ModelPhase::Loading);
        let stamp = file_stamp(settings);
        // A slow step (a TensorRT engine build) is shown in the status while it lasts, over
        // what was shown before (the running model's report during a reload).
        let shown = match &self.loaded {
            Some(l) => l.report(),
            None => report_for(settings),
        };
        let events = &self.stage.events;
        let model = Model::load_with(settings, &mut |step| {
            events.emit(Event::Model(ModelReport {
                building: Some(building(&step, SystemTime::now())),
                ..shown.clone()
            }));
        })?;
        Ok(Loaded {
            model,
            settings: settings.clone(),
            stamp,
            at: SystemTime::now(),
        })
    }

    fn use_model(&mut self, loaded: Loaded) {
        *self.stage.interrupt.lock() = Some(loaded.model.interrupt_handle());
        for s in self.streams.values_mut() {
            s.analyser.set_model(loaded.model.info());
        }
        self.stage.events.emit(Event::Model(loaded.report()));
        self.loaded = Some(loaded);
    }

    /// Applies the newest reload request, if any, and answers it.
    fn apply_reload(&mut self) {
        let Some((opts, reply)) = self.stage.requests.reload.lock().take() else {
            return;
        };
        let answer = self.reload(opts);
        if let Some(reply) = reply {
            let _ = reply.send(answer);
        }
    }

    fn reload(&mut self, opts: ModelOptions) -> Result<(), String> {
        for (id, s) in &mut self.streams {
            s.analyser.set_options(opts.analysis.clone());
            s.alerts.set_options(alert_options(&opts, id));
        }
        self.opts = opts.clone();
        self.wanted = opts.model.clone();
        let Some(running) = &self.loaded else {
            // Nothing runs: try the new settings at once.
            self.last_try = None;
            self.retry_load();
            return match &self.loaded {
                Some(_) => Ok(()),
                None => Err(format!(
                    "the model {} could not be loaded (see the status)",
                    opts.model.path.display()
                )),
            };
        };
        if running.settings == opts.model && running.stamp == file_stamp(&opts.model) {
            return Ok(());
        }
        log::info!(
            "loading the model {} beside the running one",
            opts.model.path.display()
        );
        match self.load(&opts.model) {
            Ok(new) => {
                log::info!("model switched to {}", opts.model.path.display());
                self.use_model(new);
                Ok(())
            }
            Err(e) => {
                log::error!("model reload refused, the running model keeps counting: {e}");
                self.stage.events.emit(Event::Model(ModelReport {
                    reload_error: Some(e.to_string()),
                    ..running.report()
                }));
                Err(e.to_string())
            }
        }
    }

    /// With no model loaded: tries to load one now and then.
    fn retry_load(&mut self) {
        if self.last_try.is_some_and(|t| t.elapsed() < RETRY_AFTER) {
            return;
        }
        self.last_try = Some(Instant::now());
        let wanted = self.wanted.clone();
        match self.load(&wanted) {
            Ok(l) => self.use_model(l),
            Err(e) => {
                log::error!("{e}");
                self.stage.events.emit(Event::Model(ModelReport {
                    error: Some(e.to_string()),
                    ..report_for(&wanted)
                }));
            }
        }
    }

    /// Applies a new setup, answers acknowledgements and calibrations (each one model run on the
    /// frozen frame).
    fn apply_operator(&mut self) {
        for id in std::mem::take(&mut *self.stage.requests.forget.lock()) {
            self.streams.remove(&id);
        }
        let setups = std::mem::take(&mut *self.stage.requests.setups.lock());
        for (id, setup) in setups {
            self.stream(&id).analyser.set_setup(setup);
        }
        let acks = std::mem::take(&mut *self.stage.requests.acks.lock());
        for (id, reply) in acks {
            let wall = unix_ms(SystemTime::now());
            let acked = self
                .streams
                .values_mut()
                .find_map(|s| s.alerts.acknowledge(id, wall));
            let answer = match acked {
                Some(alert) => {
                    log::info!("alert {id} acknowledged by the operator");
                    self.stage.events.emit(Event::Alert(alert.clone()));
                    Ok(alert)
                }
                None => Err(format!(
                    "no open alert {id}: it was closed already (cleared and acknowledged) or never raised"
                )),
            };
            let _ = reply.send(answer);
        }
        let jobs = std::mem::take(&mut *self.stage.requests.calibrations.lock());
        for job in jobs {
            let analyser = &mut per_stream(
                &mut self.streams,
                &self.opts,
                self.loaded.as_ref(),
                &job.stream,
            )
            .analyser;
            let answer = match self.loaded.as_mut() {
                None => Err("the model is not loaded yet: try again in a moment".to_string()),
                Some(l) => {
                    self.stage
                        .progress
                        .model_beat(Instant::now(), ModelPhase::Running);
                    analyser
                        .calibrate(&mut l.model, &job.rgb, job.width, job.height, &job.request)
                        .and_then(|c| {
                            self.stage
                                .progress
                                .model_beat(Instant::now(), ModelPhase::Running);
                            let p = analyser
                                .preview(&mut l.model, &job.rgb, job.width, job.height, &c)
                                .map_err(|e| e.to_string())?;
                            Ok((c, p))
                        })
                }
            };
            let _ = job.reply.send(answer);
        }
    }

    fn run(&mut self) {
        let progress = &self.stage.progress;
        loop {
            if self.stage.cancel.is_cancelled() {
                return;
            }
            self.apply_reload();
            self.apply_operator();
            if self.loaded.is_none() {
                self.retry_load();
                if self.loaded.is_none() {
                    if self.stage.lanes.is_done() {
                        return;
                    }
                    progress.model_beat(Instant::now(), ModelPhase::Idle);
                    std::thread::sleep(Duration::from_millis(100));
                    continue;
                }
            }
            progress.model_beat(Instant::now(), ModelPhase::Idle);
            // The streams take turns: see `sample::Lanes`.
            let Some(frame) = self.stage.lanes.take_next(TAKE_WAIT) else {
                if self.stage.lanes.is_done() {
                    return;
                }
                continue;
            };
            if self.stage.cancel.is_cancelled() {
                return;
            }
            if self.loaded.is_none() {
                continue;
            }
            self.stream(&frame.stream);
            let (Some(loaded), Some(stream)) =
                (self.loaded.as_mut(), self.streams.get_mut(&frame.stream))
            else {
                continue;
            };
            progress.model_beat(Instant::now(), ModelPhase::Running);
            match stream.analyser.analyse(&mut loaded.model, &frame) {
                Ok(mut analysis) => {
                    let now = Instant::now();
                    progress
                        .model_ran(now, Duration::from_secs_f64(analysis.inference_ms / 1000.0));
                    // The demo recording stands in while no drone streams: not a crowd to alert on.
                    // While the camera moves the zones cover other ground: their alerts are held.
                    let changed = if analysis.demo {
                        Vec::new()
                    } else if analysis.camera.zones_paused {
                        stream.alerts.hold(&mut analysis.zones);
                        Vec::new()
                    } else {
                        stream
                            .alerts
                            .observe(now, analysis.wall_time_ms, &mut analysis.zones)
                    };
                    self.stage.events.emit(Event::Analysed {
                        analysis: Arc::new(analysis),
                        frame,
                    });
                    for alert in changed {
                        self.stage.events.emit(Event::Alert(alert));
                    }
                }
                Err(_) if self.stage.cancel.is_cancelled() => return,
                Err(e) => log::warn!("{e}"),
            }
        }
    }
}
