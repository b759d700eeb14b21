//! The HTTP edge of models and training data, behind the operator gate (`publish::auth::gate`):
//!
//! - `GET /api/operator/model`: the model shelf (what runs, what a rollback returns to).
//! - `PUT /api/operator/model?name=N`: the body is an ONNX file. It is streamed to disk (never
//!   held in memory) and refused past [`MAX_MODEL_BYTES`] with 413; then checked (it loads, runs on
//!   a test frame, keeps the contract) and switched to without a restart, or refused with 422 and
//!   the reason while the running model keeps counting.
//! - `POST /api/operator/model/rollback`: back to the model before (the configured one after the
//!   first upload).
//! - `GET /api/operator/annotations.tar`: the frames the operator annotated, for
//!   `models/finetune.py`.
//!
//! The work is the [`Operator`](super::actions::Operator)'s (`publish::actions`), as for the
//! other operator routes (`publish::operator`), which this module does not import.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::StreamExt as _;
use tokio::io::AsyncWriteExt as _;

use super::actions::{Op, OpError};
use super::auth::{behind_gate, Auth};

/// The largest model accepted (the stock CSRNet is 65 MB).
pub const MAX_MODEL_BYTES: u64 = 256 * 1024 * 1024;

#[derive(serde::Deserialize)]
struct UploadQuery {
    name: Option<String>,
}

/// A model's name from an upload's `name`: its file name without `.onnx`, in letters, digits,
/// `-`, `_` and `.`, at most 64 of them (`infer::clean_name`, as a card's name is filtered);
/// `uploaded` when nothing is left.
pub fn model_name(given: Option<&str>) -> String {
    given
        .and_then(crate::infer::clean_name)
        .unwrap_or_else(|| "uploaded".into())
}

fn too_large() -> OpError {
    OpError::TooLarge(format!(
        "the model is larger than {} MB: skycount takes CSRNet models (65 MB)",
        MAX_MODEL_BYTES >> 20
    ))
}

async fn shelf(State(op): State<Op>) -> Response {
    match op.models() {
        Ok(r) => Json(r).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn receive(
    op: &Op,
    headers: &HeaderMap,
    body: Body,
) -> Result<tempfile::NamedTempFile, OpError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_MODEL_BYTES) {
        return Err(too_large());
    }
    let incoming = op.model_incoming()?;
    let failed = |e: std::io::Error| OpError::Failed(format!("cannot keep the upload: {e}"));
    let mut file = tokio::fs::File::from_std(incoming.as_file().try_clone().map_err(failed)?);
    let mut stream = body.into_data_stream();
    let mut received = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| OpError::Bad(format!("the upload broke off: {e}")))?;
        received += chunk.len() as u64;
        if received > MAX_MODEL_BYTES {
            return Err(too_large());
        }
        file.write_all(&chunk).await.map_err(failed)?;
    }
    file.flush().await.map_err(failed)?;
    if received == 0 {
        return Err(OpError::Bad(
            "the upload is empty: send the .onnx file as the request's body".into(),
        ));
    }
    Ok(incoming)
}

async fn upload(
    State(op): State<Op>,
    Query(q): Query<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let file = match receive(&op, &headers, body).await {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    match op.upload_model(file, model_name(q.name.as_deref())).await {
        Ok(r) => Json(r).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn rollback(State(op): State<Op>) -> Response {
    match op.rollback_model().await {
        Ok(r) => Json(r).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn annotations(State(op): State<Op>) -> Response {
    match op.annotations().await {
        Ok((name, chunks)) => (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/x-tar"),
                ),
                (
                    header::CONTENT_DISPOSITION,
                    HeaderValue::from_str(&format!("attachment; filename=\"{name}\""))
                        .unwrap_or(HeaderValue::from_static("attachment")),
                ),
            ],
            super::body::body(chunks),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

/// The model routes, behind the gate and kept by no browser ([`behind_gate`]); none without an
/// operator (`publish::operator` answers 503 for every `/api/operator/*` route then). Uploads
/// stream to disk with a cap of their own ([`MAX_MODEL_BYTES`]), so the default body limit is
/// off for them.
pub fn routes(op: Option<Op>, auth: Arc<Auth>) -> Router {
    let Some(op) = op else {
        return Router::new();
    };
    let routes = Router::new()
        .route(
            "/api/operator/model",
            get(shelf).put(upload).layer(DefaultBodyLimit::disable()),
        )
        .route("/api/operator/model/rollback", post(rollback))
        .route("/api/operator/annotations.tar", get(annotations));
    behind_gate(routes, auth).with_state(op)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::publish::actions::testing::Yes;
    use crate::publish::auth::HostNames;
    use axum::http::header;
    use tower::ServiceExt as _;

    #[test]
    fn names_are_kept_to_safe_characters() {
        assert_eq!(model_name(Some("csrnet-market.onnx")), "csrnet-market");
        assert_eq!(model_name(Some("C:\\models\\a b.onnx")), "ab");
        assert_eq!(model_name(Some("../../etc/passwd")), "passwd");
        assert_eq!(model_name(Some("..")), "uploaded");
        assert_eq!(model_name(None), "uploaded");
        assert_eq!(model_name(Some(&"x".repeat(500))).len(), 64);
    }

    /// The model routes are the operator's alone, like every `/api/operator/*` route: a viewer
    /// gets 401, a foreign page 403, and no answer is kept by the browser.
    #[tokio::test]
    async fn the_model_routes_sit_behind_the_gate() {
        let auth = Arc::new(Auth::for_tests("op-pin-1", HostNames::default()));
        let token = auth
            .login("192.168.50.9".parse().unwrap(), "op-pin-1")
            .await
            .unwrap();
        let operator = format!("skycount_session={token}");
        for (method, path, cookie, origin, expected) in [
            (
                "GET",
                "/api/operator/model",
                "skycount_session=forged",
                None,
                401,
            ),
            ("PUT", "/api/operator/model", "", None, 401),
            ("GET", "/api/operator/annotations.tar", "", None, 401),
            // Signed in: through the gate to the operator, who has no models here (the trait's
            // default answers 404).
            ("GET", "/api/operator/model", operator.as_str(), None, 404),
            (
                "POST",
                "/api/operator/model/rollback",
                operator.as_str(),
                Some("http://evil.example"),
                403,
            ),
        ] {
            let mut req = axum::http::Request::builder()
                .method(method)
                .uri(path)
                .header(header::HOST, "192.168.50.1")
                .header(header::COOKIE, cookie);
            if let Some(o) = origin {
                req = req.header(header::ORIGIN, o);
            }
            let op: Op = Arc::new(Yes);
            let res = routes(Some(op), auth.clone())
                .oneshot(req.body(Body::from("x")).unwrap())
                .await
                .unwrap();
            assert_eq!(res.status().as_u16(), expected, "{method} {path}");
            assert_eq!(
                res.headers().get(header::CACHE_CONTROL).unwrap(),
                "no-store",
                "{method} {path}"
            );
        }
    }
}
