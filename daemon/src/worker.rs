//! The analysis worker: takes the newest frame, runs the model, analyses, publishes.
//!
//! It runs on its own thread because a model run blocks for as long as it takes (tens of
//! milliseconds on a Jetson, seconds on a small CPU). While it runs, the decoder keeps replacing
//! the frame waiting in the slot, so the next run always starts on the newest picture.
//! A model that cannot be loaded is reported (status, health) and tried again; the daemon stays up.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use crate::analyse::Analysis;
use crate::config::{AnalysisSettings, ModelSettings};
use crate::infer::{Interrupt, Model};
use crate::publish::hub::{unix_ms, Hub, ModelReport};
use crate::sample::LatestFrame;

/// How long to wait before trying a model that failed to load again.
const RELOAD_AFTER: Duration = Duration::from_secs(10);

/// What the worker reads; the daemon replaces it on reload.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerSettings {
    pub model: ModelSettings,
    pub analysis: AnalysisSettings,
}

pub fn report_for(model: &ModelSettings) -> ModelReport {
    ModelReport {
        path: model.path.display().to_string(),
        input_width: model.input_width,
        input_height: model.input_height,
        execution_provider: None,
        error: None,
    }
}

/// Stops the worker from another thread, interrupting a model run in progress so that the
/// daemon stops within its 2 s even when one run takes longer.
#[derive(Default)]
pub struct Stop {
    flag: AtomicBool,
    run: Mutex<Option<Interrupt>>,
}

impl Stop {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn stop(&self) {
        self.flag.store(true, Ordering::Relaxed);
        if let Some(i) = self.run.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            i.interrupt();
        }
    }

    fn load(&self, ordering: Ordering) -> bool {
        self.flag.load(ordering)
    }

    fn watch(&self, model: &Model) {
        *self.run.lock().unwrap_or_else(|p| p.into_inner()) = Some(model.interrupt_handle());
    }
}

/// Runs until stopped, or until the slot is closed and empty.
pub fn run(
    settings: Arc<RwLock<WorkerSettings>>,
    slot: Arc<LatestFrame>,
    hub: Arc<Hub>,
    stop: Arc<Stop>,
) {
    let mut seq = 0u64;
    let current = || settings.read().unwrap_or_else(|p| p.into_inner()).clone();
    'load: while !stop.load(Ordering::Relaxed) {
        let mine = current();
        let mut model = match Model::load(&mine.model) {
            Ok(m) => m,
            Err(e) => {
                log::error!("{e}");
                hub.set_model(ModelReport {
                    error: Some(e.to_string()),
                    ..report_for(&mine.model)
                });
                let until = Instant::now() + RELOAD_AFTER;
                while Instant::now() < until && !stop.load(Ordering::Relaxed) {
                    if current() != mine {
                        continue 'load;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                continue;
            }
        };
        stop.watch(&model);
        hub.set_model(ModelReport {
            execution_provider: Some(model.provider().name().into()),
            ..report_for(&mine.model)
        });
        while !stop.load(Ordering::Relaxed) {
            let Some(frame) = slot.take(Duration::from_millis(200)) else {
                if slot.is_closed() {
                    return;
                }
                let now = current();
                if now.model != mine.model {
                    log::info!("model settings changed: loading the model again");
                    continue 'load;
                }
                continue;
            };
            let grid = settings
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .analysis
                .clone();
            match model.run_frame(&frame) {
                Ok((density, took)) => {
                    seq += 1;
                    let analysis = Analysis {
                        seq,
                        count: density.count(),
                        inference_ms: took.as_secs_f64() * 1000.0,
                        staleness_ms: frame.decoded_at.elapsed().as_secs_f64() * 1000.0,
                        frame_pts_ms: frame.pts_ms,
                        wall_time_ms: unix_ms(SystemTime::now()),
                        input_width: frame.width,
                        input_height: frame.height,
                        demo: frame.demo,
                        density: density.to_grid(grid.grid_width, grid.grid_height),
                    };
                    hub.publish(analysis, frame);
                }
                Err(_) if stop.load(Ordering::Relaxed) => return,
                Err(e) => log::warn!("{e}"),
            }
        }
    }
}
