//! The HTTP edge of software updates (`crate::update`):
//!
//! - `GET /api/update`: the running version and slot, the other slot's version, what the
//!   updater is doing (RAUC's step and percentage while it installs) and the last update's
//!   outcome. Read-only, for every viewer.
//! - `PUT /api/operator/update/bundle?name=N`: the body is a `.raucb` bundle, streamed to the data
//!   partition (never held in memory); 413 past `update.max_bundle_mb`, 507 when the data
//!   partition has no room, 409 while another update is under way, 422 when RAUC refuses it
//!   (signature, format, compatible) with the reason. 202 once the install has started: follow
//!   it with `GET /api/update`.
//! - `POST /api/operator/update/reboot`: reboots into the installed slot (409 when nothing is
//!   installed). The dashboard asks the operator first.
//!
//! The two operator routes sit behind the operator's gate (`publish::auth::gate`): the
//! session and the same-origin check.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use futures_util::StreamExt as _;
use serde_json::json;

use crate::update::{Refusal, Updater};

#[derive(Clone)]
struct Up(Option<Arc<Updater>>);

fn refusal(r: Refusal) -> Response {
    let code = match &r {
        Refusal::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        Refusal::Busy(_) => StatusCode::CONFLICT,
        Refusal::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        Refusal::NoSpace(_) => StatusCode::INSUFFICIENT_STORAGE,
        Refusal::Bad(_) => StatusCode::BAD_REQUEST,
        Refusal::Unusable(_) => StatusCode::UNPROCESSABLE_ENTITY,
        Refusal::Failed(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    (code, Json(json!({ "error": r.to_string() }))).into_response()
}

fn not_here() -> Response {
    refusal(Refusal::Unavailable(
        "software updates are not available here".into(),
    ))
}

async fn report(State(Up(up)): State<Up>) -> Response {
    let Some(up) = up else { return not_here() };
    match tokio::task::spawn_blocking(move || up.report()).await {
        Ok(r) => (
            [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
            Json(r),
        )
            .into_response(),
        Err(e) => refusal(Refusal::Failed(e.to_string())),
    }
}

#[derive(serde::Deserialize)]
struct UploadQuery {
    name: Option<String>,
}

async fn upload(
    State(Up(up)): State<Up>,
    Query(q): Query<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(up) = up else { return not_here() };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let mut receiving = match up.begin_upload(q.name.as_deref().unwrap_or(""), declared) {
        Ok(r) => r,
        Err(e) => return refusal(e),
    };
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => return refusal(receiving.broke_off(e.to_string())),
        };
        if let Err(e) = receiving.write(&chunk).await {
            return refusal(e);
        }
    }
    match receiving.finish().await {
        Ok(r) => (StatusCode::ACCEPTED, Json(r)).into_response(),
        Err(e) => refusal(e),
    }
}

async fn reboot(State(Up(up)): State<Up>) -> Response {
    let Some(up) = up else { return not_here() };
    match up.request_reboot() {
        Ok(a) => (StatusCode::ACCEPTED, Json(json!({ "activity": a }))).into_response(),
        Err(e) => refusal(e),
    }
}

/// `GET /api/update`, for everyone.
pub fn routes(up: Option<Arc<Updater>>) -> Router {
    Router::new()
        .route("/api/update", get(report))
        .with_state(Up(up))
}

/// The operator's update actions; the caller puts them behind the operator's gate.
pub fn operator_routes(up: Option<Arc<Updater>>) -> Router {
    Router::new()
        .route(
            "/api/operator/update/bundle",
            put(upload).layer(DefaultBodyLimit::disable()),
        )
        .route("/api/operator/update/reboot", post(reboot))
        .with_state(Up(up))
}
