//! The operator's actions carried out: the store keeps them, the engine applies them.
//!
//! One [`BoxOperator`] per daemon, acting on the configured stream; [`Operator::for_stream`]
//! gives the same operator acting on another drone analysed now (several drones, `engine::roster`).
//! Each stream path has its own setup (calibration, masks and zones) and its own store
//! (`<state_dir>/<stream key>/`): every change is written to that store first and handed to the
//! engine only once it is kept, so what the box counts with is always what survives a restart, and
//! a drone that comes back on the same path is counted with what the operator set for it.
//!
//! A calibration is computed and judged first (a *proposal*, kept in memory for
//! [`PROPOSAL_TTL`]), and applied only when the operator applies it, to the stream it was made
//! on; its frame and taps become training data then.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::analyse::calibrate::{self, Request};
use crate::analyse::{mask, zones, Setup};
use crate::engine::Engine;
use crate::event::Event;
use crate::infer::Model;
use crate::publish::actions::{BoxFuture, Frozen, Op, OpError, Operator};
use crate::publish::body::{BodyWriter, Chunks};
use crate::publish::hub::Hub;
use crate::publish::models::MAX_MODEL_BYTES;
use crate::publish::snapshot;
use crate::sample::StreamId;
use crate::store::models::{ModelShelf, Shelf};
use crate::store::{export, Store};
use crate::wire::{
    unix_ms, Alert, Calibration, CalibrationProposal, Mask, ModelShelfReport, VerdictLevel, Zone,
};

/// How long a calibration can be applied after it was computed.
pub const PROPOSAL_TTL: Duration = Duration::from_secs(600);
/// Proposals kept at once; the oldest goes first.
const MAX_PROPOSALS: usize = 8;

/// A calibration computed and judged, not yet applied.
struct Proposal {
    id: String,
    /// The stream it was made on: applied to that one only.
    stream: StreamId,
    made: Instant,
    calibration: Calibration,
    request: Request,
}

/// One stream's setup as kept: its store and what the engine counts it with.
struct Kept {
    id: StreamId,
    /// The configured stream (the status shows its setup in full).
    configured: bool,
    store: Store,
    /// The stream path, as the training data names it.
    name: String,
    setup: Mutex<Setup>,
}

impl Kept {
    fn load(id: StreamId, configured: bool, store: Store, name: String) -> Self {
        let setup = store.load();
        if setup.calibration.is_some() || !setup.masks.is_empty() || !setup.zones.is_empty() {
            log::info!(
                "kept for {name}: {}, {} mask(s), {} zone(s)",
                setup
                    .calibration
                    .as_ref()
                    .map(|c| format!("calibration ({})", c.message))
                    .unwrap_or_else(|| "no calibration".into()),
                setup.masks.len(),
                setup.zones.len()
            );
        }
        Self {
            id,
            configured,
            store,
            name,
            setup: Mutex::new(setup),
        }
    }
}

/// What every stream's operator shares: the engine, the hub, the model shelf, the proposals and
/// the other streams' setups.
struct Shared {
    engine: Arc<Engine>,
    /// The configured stream's setup.
    configured: Arc<Kept>,
    hub: Arc<Hub>,
    /// Uploaded models. The settings a new one is checked with are the engine's: they follow
    /// a reload.
    shelf: ModelShelf,
    /// One model change at a time (an upload or a rollback).
    switching: tokio::sync::Mutex<()>,
    /// Calibrations computed and not yet applied, oldest first.
    proposals: Mutex<Vec<Proposal>>,
    /// The other streams analysed now, by name.
    others: Mutex<HashMap<StreamId, Arc<Kept>>>,
}

/// The operator acting on one stream (see the module docs).
pub struct BoxOperator {
    shared: Arc<Shared>,
    kept: Arc<Kept>,
}

impl BoxOperator {
    /// Loads the configured stream's kept setup and hands it to the engine.
    pub fn start(
        engine: Arc<Engine>,
        hub: Arc<Hub>,
        store: Store,
        stream: String,
        shelf: ModelShelf,
    ) -> Arc<Self> {
        let kept = Arc::new(Kept::load(engine.primary().clone(), true, store, stream));
        let setup = kept.setup.lock().clone();
        engine.set_setup(setup.clone());
        hub.apply(Event::Setup(setup));
        Arc::new(Self {
            shared: Arc::new(Shared {
                engine,
                configured: kept.clone(),
                hub,
                shelf,
                switching: tokio::sync::Mutex::new(()),
                proposals: Mutex::new(Vec::new()),
                others: Mutex::new(HashMap::new()),
            }),
            kept,
        })
    }

    /// Another drone joined the engine as `id`: its path's kept setup (`store`, `name` its
    /// path) is loaded and applied from its first analysis.
    pub fn stream_added(&self, id: StreamId, store: Store, name: String) {
        let kept = Kept::load(id.clone(), false, store, name);
        let setup = kept.setup.lock().clone();
        if setup != Setup::default() {
            self.shared.engine.set_setup_of(id.clone(), setup.clone());
        }
        self.shared.hub.set_setup_of(id.as_str(), Some(&setup));
        self.shared.others.lock().insert(id, Arc::new(kept));
    }

    /// The drone `id` left the engine: its setup stays on disk for when it comes back.
    pub fn stream_removed(&self, id: &StreamId) {
        self.shared.others.lock().remove(id);
        self.shared.hub.set_setup_of(id.as_str(), None);
        self.shared.proposals.lock().retain(|p| p.stream != *id);
    }

    fn report(&self, shelf: Shelf) -> ModelShelfReport {
        ModelShelfReport {
            shelf,
            configured_path: self
                .shared
                .engine
                .model_settings()
                .path
                .display()
                .to_string(),
            max_upload_bytes: MAX_MODEL_BYTES,
        }
    }

    /// Runs what `shelf` says is current; on failure writes `before` back and says why.
    async fn switch_to(&self, shelf: &Shelf, before: &Shelf) -> Result<(), OpError> {
        let path = shelf.current.as_ref().map(|e| self.shared.shelf.path_of(e));
        if let Err(e) = self.shared.engine.switch_model(path).await {
            if let Err(w) = self.shared.shelf.write(before) {
                log::error!("{w}");
            }
            return Err(OpError::Unusable(format!(
                "the box could not switch to it ({e}); the running model keeps counting"
            )));
        }
        Ok(())
    }

    /// Keeps a changed setup of this operator's stream, then applies it.
    fn change(&self, f: impl FnOnce(&mut Setup)) -> Result<Setup, OpError> {
        let kept = &self.kept;
        let mut setup = kept.setup.lock();
        let mut new = setup.clone();
        f(&mut new);
        kept.store.save(&new).map_err(OpError::Failed)?;
        *setup = new.clone();
        self.shared
            .engine
            .set_setup_of(kept.id.clone(), new.clone());
        // The status says so at once, not one analysis later.
        if kept.configured {
            self.shared.hub.apply(Event::Setup(new.clone()));
        } else {
            self.shared.hub.set_setup_of(kept.id.as_str(), Some(&new));
        }
        Ok(new)
    }

    /// The last analysed frame of this operator's stream.
    fn last_frame(&self) -> Option<crate::sample::Frame> {
        if self.kept.configured {
            self.shared.hub.last_frame()
        } else {
            self.shared.hub.last_frame_of(self.kept.id.as_str())
        }
    }

    /// Where a kept frame of this stream is served.
    fn frame_url(&self, id: &str) -> String {
        if self.kept.configured {
            format!("/api/operator/frames/{id}.jpg")
        } else {
            format!("/api/operator/frames/{id}.jpg?stream={}", self.kept.id)
        }
    }
}

impl Operator for Arc<BoxOperator> {
    fn freeze(&self) -> Result<Frozen, OpError> {
        let frame = self.last_frame().ok_or_else(|| {
            OpError::Conflict("no frame has been analysed yet: wait for the drone's video".into())
        })?;
        let jpeg = snapshot::encode_jpeg(&frame).map_err(OpError::Failed)?;
        let id = self.kept.store.save_frame(&jpeg).map_err(OpError::Failed)?;
        Ok(Frozen {
            image_url: self.frame_url(&id),
            frame_id: id,
            width: frame.width,
            height: frame.height,
        })
    }

    fn frame(&self, id: &str) -> Option<Vec<u8>> {
        self.kept.store.frame(id)
    }

    fn calibrate(&self, req: Request) -> BoxFuture<Result<CalibrationProposal, OpError>> {
        let me = self.clone();
        Box::pin(async move {
            let jpeg = me.kept.store.frame(&req.frame_id).ok_or_else(|| {
                OpError::NotFound(format!("no frame {:?}: freeze one first", req.frame_id))
            })?;
            // The box against the frame's size, from its header alone: decoding a full-size
            // frame takes seconds on a small box, and is done only for a request that can work.
            let (w, h) = image::ImageReader::with_format(
                std::io::Cursor::new(&jpeg),
                image::ImageFormat::Jpeg,
            )
            .into_dimensions()
            .map_err(|e| OpError::Failed(format!("the kept frame cannot be read: {e}")))?;
            calibrate::check_in_frame(&req, w, h).map_err(OpError::Bad)?;
            let img = tokio::task::spawn_blocking(move || {
                image::load_from_memory_with_format(&jpeg, image::ImageFormat::Jpeg)
                    .map(|i| i.to_rgb8())
            })
            .await
            .map_err(|e| OpError::Failed(e.to_string()))?
            .map_err(|e| OpError::Failed(format!("the kept frame cannot be read: {e}")))?;
            let (w, h) = img.dimensions();
            let (calibration, preview) = me
                .shared
                .engine
                .calibrate(me.kept.id.clone(), img.into_raw(), w, h, req.clone())
                .await
                .map_err(OpError::Bad)?;
            let id = format!("{}-{}", calibration.at_ms, req.taps.len());
            let verdict = calibration
                .verdict
                .as_ref()
                .map(|v| format!("{:?}", v.level).to_lowercase())
                .unwrap_or_default();
            log::info!(
                "calibration proposed for {} ({verdict}, not applied): {}",
                me.kept.name,
                calibration.message
            );
            let mut proposals = me.shared.proposals.lock();
            proposals.retain(|p| p.made.elapsed() < PROPOSAL_TTL && p.id != id);
            if proposals.len() >= MAX_PROPOSALS {
                proposals.remove(0);
            }
            proposals.push(Proposal {
                id: id.clone(),
                stream: me.kept.id.clone(),
                made: Instant::now(),
                calibration: calibration.clone(),
                request: req,
            });
            Ok(CalibrationProposal {
                id,
                calibration,
                preview,
                expires_in_s: PROPOSAL_TTL.as_secs(),
            })
        })
    }

    fn apply_calibration(&self, id: String) -> BoxFuture<Result<Calibration, OpError>> {
        let me = self.clone();
        Box::pin(async move {
            let found = {
                let mut proposals = me.shared.proposals.lock();
                proposals.retain(|p| p.made.elapsed() < PROPOSAL_TTL);
                let i = proposals
                    .iter()
                    .position(|p| p.id == id && p.stream == me.kept.id)
                    .ok_or_else(|| {
                    OpError::NotFound(format!(
                        "no calibration {id:?} to apply on {}: it expired ({} min after it was made), was applied already or was made on another stream; calibrate again",
                        me.kept.id,
                        PROPOSAL_TTL.as_secs() / 60
                    ))
                })?;
                if let Some(v) = proposals[i]
                    .calibration
                    .verdict
                    .as_ref()
                    .filter(|v| v.level == VerdictLevel::Refused)
                {
                    return Err(OpError::Unusable(format!(
                        "this calibration was refused: {} {}",
                        v.reason, v.advice
                    )));
                }
                proposals.remove(i)
            };
            me.kept
                .store
                .save_taps(&found.request, &me.kept.name)
                .map_err(OpError::Failed)?;
            // Applied now: the time in force is the apply's.
            let calibration = Calibration {
                at_ms: unix_ms(std::time::SystemTime::now()),
                ..found.calibration
            };
            me.change(|s| s.calibration = Some(calibration.clone()))?;
            log::info!("calibrated {}: {}", me.kept.name, calibration.message);
            Ok(calibration)
        })
    }

    fn reset_calibration(&self) -> Result<(), OpError> {
        self.change(|s| s.calibration = None)?;
        log::info!("calibration of {} reset", self.kept.name);
        Ok(())
    }

    fn set_masks(&self, masks: Vec<Mask>) -> Result<Vec<Mask>, OpError> {
        mask::validate(&masks).map_err(OpError::Bad)?;
        let masks: Vec<Mask> = masks
            .into_iter()
            .map(|m| Mask {
                name: m.name.trim().to_string(),
                ..m
            })
            .collect();
        let kept = self.change(|s| s.masks = masks)?;
        log::info!("{} mask(s) set for {}", kept.masks.len(), self.kept.name);
        Ok(kept.masks)
    }

    fn set_zones(&self, zones: Vec<Zone>) -> Result<Vec<Zone>, OpError> {
        zones::validate(&zones).map_err(OpError::Unusable)?;
        let zones: Vec<Zone> = zones
            .into_iter()
            .map(|z| Zone {
                name: z.name.trim().to_string(),
                ..z
            })
            .collect();
        let kept = self.change(|s| s.zones = zones)?;
        log::info!("{} zone(s) set for {}", kept.zones.len(), self.kept.name);
        Ok(kept.zones)
    }

    fn rename(&self, name: Option<String>) -> Result<Option<String>, OpError> {
        let name = name.map(|n| n.trim().to_string()).filter(|n| !n.is_empty());
        if let Some(n) = &name {
            if n.chars().count() > crate::analyse::polygon::MAX_NAME {
                return Err(OpError::Bad(format!(
                    "a drone's name has 1 to {} printable characters",
                    crate::analyse::polygon::MAX_NAME
                )));
            }
            crate::config::printable::check(n)
                .map_err(|e| OpError::Bad(format!("the name {e}")))?;
        }
        let kept = self.change(|s| s.name = name)?;
        log::info!(
            "{} named {}",
            self.kept.name,
            kept.name.as_deref().unwrap_or("(no name)")
        );
        Ok(kept.name)
    }

    fn acknowledge_alert(&self, id: u64) -> BoxFuture<Result<Alert, OpError>> {
        let engine = self.shared.engine.clone();
        Box::pin(async move { engine.acknowledge(id).await.map_err(OpError::NotFound) })
    }

    fn for_stream(&self, stream: &str) -> Result<Op, OpError> {
        let id = StreamId::new(stream);
        let kept = if id == self.shared.configured.id {
            Some(self.shared.configured.clone())
        } else {
            self.shared.others.lock().get(&id).cloned()
        };
        let kept = kept.ok_or_else(|| {
            OpError::NotFound(format!(
                "no drone {stream:?} is analysed now: GET /api/streams lists the streams (their `stream`)"
            ))
        })?;
        Ok(Arc::new(Arc::new(BoxOperator {
            shared: self.shared.clone(),
            kept,
        })))
    }

    fn models(&self) -> Result<ModelShelfReport, OpError> {
        Ok(self.report(self.shared.shelf.state()))
    }

    fn model_incoming(&self) -> Result<tempfile::NamedTempFile, OpError> {
        self.shared.shelf.incoming().map_err(OpError::Failed)
    }

    fn upload_model(
        &self,
        file: tempfile::NamedTempFile,
        name: String,
    ) -> BoxFuture<Result<ModelShelfReport, OpError>> {
        let me = self.clone();
        Box::pin(async move {
            let _one = me.shared.switching.lock().await;
            let (path, settings) = (file.path().to_path_buf(), me.shared.engine.model_settings());
            let info = tokio::task::spawn_blocking(move || Model::probe(&path, &settings))
                .await
                .map_err(|e| OpError::Failed(e.to_string()))?
                .map_err(|e| OpError::Unusable(format!("the uploaded model was refused: {e}")))?;
            let name = if info.card.is_some() { info.name } else { name };
            let entry = me
                .shared
                .shelf
                .keep(file, &name, info.analysis_scale)
                .map_err(OpError::Failed)?;
            let before = me.shared.shelf.state();
            let shelf = me
                .shared
                .shelf
                .activate(entry.clone())
                .map_err(OpError::Failed)?;
            me.switch_to(&shelf, &before).await?;
            log::info!(
                "model {} uploaded ({} bytes, sha256 {}) and in use",
                entry.name,
                entry.bytes,
                entry.sha256
            );
            Ok(me.report(shelf))
        })
    }

    fn rollback_model(&self) -> BoxFuture<Result<ModelShelfReport, OpError>> {
        let me = self.clone();
        Box::pin(async move {
            let _one = me.shared.switching.lock().await;
            let before = me.shared.shelf.state();
            let shelf = me.shared.shelf.rollback().map_err(OpError::Conflict)?;
            me.switch_to(&shelf, &before).await?;
            log::info!(
                "model rolled back to {}",
                shelf
                    .current
                    .as_ref()
                    .map(|e| e.name.clone())
                    .unwrap_or_else(|| format!(
                        "the configured {}",
                        me.shared.engine.model_settings().path.display()
                    ))
            );
            Ok(me.report(shelf))
        })
    }

    fn annotations(&self) -> BoxFuture<Result<(String, Chunks), OpError>> {
        let frames = self.kept.store.frames();
        let name = format!(
            "skycount-annotations-{}.tar",
            self.kept
                .store
                .dir()
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        );
        Box::pin(async move {
            // Written on a blocking thread while it is sent: memory holds a few chunks, never the
            // whole archive (hundreds of full-resolution frames on a box with 2 GB).
            let (mut out, chunks) = BodyWriter::new();
            tokio::task::spawn_blocking(move || {
                match export::write_archive(&frames, &mut out).map_err(|e| e.to_string()) {
                    Ok(n) => match out.finish() {
                        Ok(()) => log::info!("annotated frames: {n} exported"),
                        Err(e) => log::warn!("annotated frames: the export stopped: {e}"),
                    },
                    Err(e) => {
                        log::warn!("annotated frames: the export stopped: {e}");
                        out.fail(e);
                    }
                }
            });
            Ok((name, chunks))
        })
    }
}
