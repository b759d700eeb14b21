//! What the operator can do, as the HTTP edges see it: the [`Operator`] trait, which
//! `skycountd run` implements over the engine and the store, its shared handle [`Op`], and
//! [`OpError`], which says why an action was refused and words it as an HTTP answer.
//!
//! The edges that serve it import this module and not each other: `publish::operator` (freeze,
//! calibrate, masks, zones, alerts) and `publish::models` (the model shelf and training data),
//! each behind the gate (`publish::auth::gate`); `publish::server` merges them. This module
//! imports none of them.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::json;

use super::body::Chunks;
use crate::analyse::calibrate::Request as CalibrationRequest;
use crate::wire::{Alert, Calibration, CalibrationProposal, Mask, ModelShelfReport, Zone};

pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Why an operator action was refused, and what the answer's status is.
#[derive(Debug, Clone, PartialEq)]
pub enum OpError {
    /// The request is wrong: 400.
    Bad(String),
    /// It names nothing the box has: 404.
    NotFound(String),
    /// Not possible right now (no frame yet): 409.
    Conflict(String),
    /// The body is too large: 413.
    TooLarge(String),
    /// Well-formed but unusable (a model that does not load or breaks the contract): 422.
    Unusable(String),
    /// The box failed (a disk that cannot be written): 500.
    Failed(String),
}

impl IntoResponse for OpError {
    fn into_response(self) -> Response {
        let (code, msg) = match self {
            Self::Bad(m) => (StatusCode::BAD_REQUEST, m),
            Self::NotFound(m) => (StatusCode::NOT_FOUND, m),
            Self::Conflict(m) => (StatusCode::CONFLICT, m),
            Self::TooLarge(m) => (StatusCode::PAYLOAD_TOO_LARGE, m),
            Self::Unusable(m) => (StatusCode::UNPROCESSABLE_ENTITY, m),
            Self::Failed(m) => (StatusCode::INTERNAL_SERVER_ERROR, m),
        };
        (code, Json(json!({ "error": msg }))).into_response()
    }
}

/// A frame kept for calibrating.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Frozen {
    pub frame_id: String,
    pub width: u32,
    pub height: u32,
    pub image_url: String,
}

/// What the operator can do; `skycountd run` implements it.
pub trait Operator: Send + Sync {
    fn freeze(&self) -> Result<Frozen, OpError>;
    /// A kept frame's JPEG.
    fn frame(&self, id: &str) -> Option<Vec<u8>>;
    /// Computes a calibration and judges it, without applying it: the proposal to apply.
    fn calibrate(&self, req: CalibrationRequest)
        -> BoxFuture<Result<CalibrationProposal, OpError>>;
    /// Applies a proposal (not a refused one): the calibration as kept.
    fn apply_calibration(&self, id: String) -> BoxFuture<Result<Calibration, OpError>>;
    fn reset_calibration(&self) -> Result<(), OpError>;
    fn set_masks(&self, masks: Vec<Mask>) -> Result<Vec<Mask>, OpError>;
    /// Keeps and applies the zones (checked: `Unusable` says what is wrong with which).
    fn set_zones(&self, zones: Vec<Zone>) -> Result<Vec<Zone>, OpError>;
    /// Acknowledges an open alert: the alert as it is now.
    fn acknowledge_alert(&self, id: u64) -> BoxFuture<Result<Alert, OpError>>;
    /// Names the stream's drone (checked: 1 to 64 printable characters; `None`: no name); the
    /// name as kept.
    fn rename(&self, _name: Option<String>) -> Result<Option<String>, OpError> {
        Err(not_here())
    }

    /// The same operator acting on another stream analysed now (`live_north`: its frames,
    /// calibration, masks and zones, kept under its own path); `NotFound` when no such stream is
    /// analysed. By default there is only the configured stream.
    fn for_stream(&self, stream: &str) -> Result<Op, OpError> {
        Err(OpError::NotFound(format!(
            "no stream {stream:?} is analysed here"
        )))
    }

    // Models and training data (publish::models is their HTTP edge). Not every operator has
    // them: by default they answer that they are not available.

    /// The model shelf: what runs, what a rollback returns to.
    fn models(&self) -> Result<ModelShelfReport, OpError> {
        Err(not_here())
    }
    /// A temporary file to receive an upload into.
    fn model_incoming(&self) -> Result<tempfile::NamedTempFile, OpError> {
        Err(not_here())
    }
    /// Checks a received model, keeps it and switches to it; the running one stays on failure.
    fn upload_model(
        &self,
        _file: tempfile::NamedTempFile,
        _name: String,
    ) -> BoxFuture<Result<ModelShelfReport, OpError>> {
        Box::pin(async { Err(not_here()) })
    }
    /// Switches back to the model before.
    fn rollback_model(&self) -> BoxFuture<Result<ModelShelfReport, OpError>> {
        Box::pin(async { Err(not_here()) })
    }
    /// The annotated frames as one tar archive (`store::export`): its file name, and its bytes
    /// as they are made.
    fn annotations(&self) -> BoxFuture<Result<(String, Chunks), OpError>> {
        Box::pin(async { Err(not_here()) })
    }
}

fn not_here() -> OpError {
    OpError::NotFound("not available on this box".into())
}

/// The operator as the routes hold it.
pub type Op = Arc<dyn Operator>;

/// An operator for the HTTP edges' tests.
#[cfg(test)]
pub(super) mod testing {
    use super::*;

    /// Accepts everything; counts nothing.
    pub struct Yes;

    impl Operator for Yes {
        fn freeze(&self) -> Result<Frozen, OpError> {
            Err(OpError::Conflict("no frame yet".into()))
        }
        fn frame(&self, id: &str) -> Option<Vec<u8>> {
            (id == "1").then(|| vec![0xff, 0xd8, 0xff, 0xd9])
        }
        fn calibrate(
            &self,
            _: CalibrationRequest,
        ) -> BoxFuture<Result<CalibrationProposal, OpError>> {
            Box::pin(async { Err(OpError::Bad("no".into())) })
        }
        fn apply_calibration(&self, id: String) -> BoxFuture<Result<Calibration, OpError>> {
            Box::pin(async move { Err(OpError::NotFound(format!("no proposal {id}"))) })
        }
        fn reset_calibration(&self) -> Result<(), OpError> {
            Ok(())
        }
        fn set_masks(&self, masks: Vec<Mask>) -> Result<Vec<Mask>, OpError> {
            Ok(masks)
        }
        fn set_zones(&self, zones: Vec<Zone>) -> Result<Vec<Zone>, OpError> {
            Ok(zones)
        }
        fn acknowledge_alert(&self, id: u64) -> BoxFuture<Result<Alert, OpError>> {
            Box::pin(async move { Err(OpError::NotFound(format!("no open alert {id}"))) })
        }
    }
}
