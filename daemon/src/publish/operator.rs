//! Operator actions over HTTP: freeze a frame, calibrate (a proposal with its verdict and
//! preview, then an explicit apply), reset, set masks and zones, acknowledge alerts
//! (`/api/operator/*`). With several drones, `?stream=<name>` makes a request the named
//! drone's ([`Operator::for_stream`](super::actions::Operator::for_stream)); without it, the
//! configured stream's.
//!
//! These are the requests that change what the box counts, and so what the operator role
//! protects: every route here, reading or changing, sits behind the gate
//! ([`publish::auth::gate`](super::auth::gate)), which refuses requests that come from another
//! site's page (a foreign `Origin`: cross-site request forgery), then every request without the
//! operator's session.
//!
//! The work itself is done behind the [`Operator`] trait (`publish::actions`), which
//! `skycountd run` implements over the engine and the store; the HTTP edge only parses, checks
//! sizes and words the answers. The model routes are `publish::models`, a sibling that shares
//! the trait and the gate and not this module; `publish::server` merges both. This module
//! imports `publish::auth` and `publish::actions`, and nothing imports it but `publish::server`.

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde_json::json;

use super::actions::{Op, OpError};
use super::auth::{behind_gate, Auth, NO_STORE};
use crate::analyse::calibrate::Request as CalibrationRequest;
use crate::wire::{Mask, Zone};

/// The largest body an operator request may have (1000 taps or 32 masks of 64 points fit easily).
const BODY_LIMIT: usize = 256 * 1024;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct MasksBody {
    masks: Vec<Mask>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ZonesBody {
    zones: Vec<Zone>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct NameBody {
    name: Option<String>,
}

#[derive(serde::Deserialize)]
struct StreamQuery {
    stream: Option<String>,
}

/// The operator acting on the stream the request names (`?stream=live_north`: one of the
/// drones analysed now, `GET /api/streams`), or on the configured stream when it names none.
struct OnStream(Op);

impl FromRequestParts<Op> for OnStream {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, op: &Op) -> Result<Self, Response> {
        let Query(q) = Query::<StreamQuery>::try_from_uri(&parts.uri)
            .map_err(|e| OpError::Bad(format!("the query does not fit: {e}")).into_response())?;
        match q.stream {
            None => Ok(Self(op.clone())),
            Some(s) => op.for_stream(&s).map(Self).map_err(|e| e.into_response()),
        }
    }
}

/// Parses a JSON body into `T`, answering 400 with the reason when it does not fit.
fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, OpError> {
    serde_json::from_slice(body)
        .map_err(|e| OpError::Bad(format!("the request's JSON does not fit: {e}")))
}

async fn freeze(OnStream(op): OnStream) -> Response {
    match tokio::task::spawn_blocking(move || op.freeze()).await {
        Ok(Ok(f)) => Json(f).into_response(),
        Ok(Err(e)) => e.into_response(),
        Err(e) => OpError::Failed(e.to_string()).into_response(),
    }
}

async fn frame(OnStream(op): OnStream, Path(name): Path<String>) -> Response {
    let Some(id) = name.strip_suffix(".jpg") else {
        return OpError::NotFound(format!("no frame {name:?}")).into_response();
    };
    match op.frame(id) {
        Some(jpeg) => super::snapshot::jpeg_response(jpeg, NO_STORE),
        None => OpError::NotFound(format!("no frame {id:?}: freeze one first")).into_response(),
    }
}

async fn calibrate(OnStream(op): OnStream, body: axum::body::Bytes) -> Response {
    let req: CalibrationRequest = match parse(&body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    // Cheap before expensive: a request that cannot be a calibration is refused before the
    // frozen frame is decoded and the model asked.
    if let Err(e) = crate::analyse::calibrate::check_shape(&req) {
        return OpError::Bad(e).into_response();
    }
    match op.calibrate(req).await {
        Ok(c) => Json(c).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn apply_calibration(OnStream(op): OnStream, Path(id): Path<String>) -> Response {
    match op.apply_calibration(id).await {
        Ok(c) => Json(c).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn reset(OnStream(op): OnStream) -> Response {
    match op.reset_calibration() {
        Ok(()) => Json(json!({ "ok": true })).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn masks(OnStream(op): OnStream, body: axum::body::Bytes) -> Response {
    let body: MasksBody = match parse(&body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    match op.set_masks(body.masks) {
        Ok(m) => Json(json!({ "masks": m })).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn zones(OnStream(op): OnStream, body: axum::body::Bytes) -> Response {
    let body: ZonesBody = match parse(&body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    match op.set_zones(body.zones) {
        Ok(z) => Json(json!({ "zones": z })).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn rename(OnStream(op): OnStream, body: axum::body::Bytes) -> Response {
    let body: NameBody = match parse(&body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    match op.rename(body.name) {
        Ok(name) => Json(json!({ "name": name })).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn acknowledge(State(op): State<Op>, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<u64>() else {
        return OpError::NotFound(format!("no alert {id:?}: alert ids are numbers"))
            .into_response();
    };
    match op.acknowledge_alert(id).await {
        Ok(a) => Json(a).into_response(),
        Err(e) => e.into_response(),
    }
}

/// The routes above, behind the gate and kept by no browser ([`behind_gate`]); without an
/// operator (tests, tools) every `/api/operator/*` route answers 503.
pub fn routes(op: Option<Op>, auth: Arc<Auth>) -> Router {
    let Some(op) = op else {
        return Router::new().route(
            "/api/operator/{*rest}",
            axum::routing::any(|| async {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    Json(json!({ "error": "operator actions are not available here" })),
                )
            }),
        );
    };
    let routes = Router::new()
        .route("/api/operator/freeze", post(freeze))
        .route("/api/operator/frames/{name}", get(frame))
        .route("/api/operator/calibration", post(calibrate).delete(reset))
        .route(
            "/api/operator/calibration/{id}/apply",
            post(apply_calibration),
        )
        .route("/api/operator/masks", put(masks))
        .route("/api/operator/zones", put(zones))
        .route("/api/operator/name", put(rename))
        .route("/api/operator/alerts/{id}/ack", post(acknowledge))
        .layer(DefaultBodyLimit::max(BODY_LIMIT));
    behind_gate(routes, auth).with_state(op)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::publish::actions::testing::Yes;
    use crate::publish::auth::HostNames;
    use axum::body::Body;
    use axum::http::{header, HeaderValue};
    use tower::ServiceExt as _;

    /// Sends a request as a signed-in operator.
    async fn send(method: &str, path: &str, origin: Option<&str>, body: &str) -> (u16, String) {
        send_as(true, method, path, origin, body).await
    }

    async fn send_as(
        operator: bool,
        method: &str,
        path: &str,
        origin: Option<&str>,
        body: &str,
    ) -> (u16, String) {
        let origin = origin.map(|o| HeaderValue::from_str(o).unwrap());
        let (code, _, body) =
            request(operator, method, path, "192.168.50.1:8080", origin, body).await;
        (code, body)
    }

    /// A request with `Host: host` and the given `Origin`: (status, headers, body).
    async fn request(
        operator: bool,
        method: &str,
        path: &str,
        host: &str,
        origin: Option<HeaderValue>,
        body: &str,
    ) -> (u16, axum::http::HeaderMap, String) {
        let auth = Arc::new(Auth::for_tests("op-pin-1", HostNames::default()));
        let token = auth
            .login("192.168.50.9".parse().unwrap(), "op-pin-1")
            .await
            .unwrap();
        let mut req = axum::http::Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, host);
        if let Some(o) = origin {
            req = req.header(header::ORIGIN, o);
        }
        if operator {
            req = req.header(header::COOKIE, format!("skycount_session={token}"));
        } else {
            req = req.header(header::COOKIE, "skycount_session=forged");
        }
        let res = routes(Some(Arc::new(Yes)), auth)
            .oneshot(req.body(Body::from(body.to_string())).unwrap())
            .await
            .unwrap();
        let code = res.status().as_u16();
        let headers = res.headers().clone();
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap();
        (code, headers, String::from_utf8_lossy(&bytes).into_owned())
    }

    #[tokio::test]
    async fn the_whole_origin_must_be_the_box_s_own() {
        let masks = r#"{"masks": []}"#;
        let put = |host: &'static str, origin: HeaderValue| {
            request(
                true,
                "PUT",
                "/api/operator/masks",
                host,
                Some(origin),
                masks,
            )
        };
        let text = |s: &'static str| HeaderValue::from_static(s);
        for (host, origin) in [
            ("192.168.50.1:8080", text("http://192.168.50.1:8080")),
            ("192.168.50.1", text("http://192.168.50.1")),
            // The default port, written or not.
            ("192.168.50.1:80", text("http://192.168.50.1")),
            ("192.168.50.1", text("http://192.168.50.1:80")),
            ("SkyCount.LAN:8080", text("http://skycount.lan:8080")),
            ("[fe80::1]:8080", text("http://[fe80::1]:8080")),
        ] {
            let (code, _, body) = put(host, origin.clone()).await;
            assert_eq!(code, 200, "Host {host}, Origin {origin:?}: {body}");
        }
        for origin in [
            text("evil://192.168.50.1:8080"),
            text("https://192.168.50.1:8080"),
            text("http://192.168.50.1:8081"),
            text("http://192.168.50.1"),
            text("http://user@192.168.50.1:8080"),
            text("http://192.168.50.1:8080/path"),
            text("null"),
            text(""),
            // Not ASCII: unreadable as an origin, so foreign.
            HeaderValue::from_bytes("http://évil.example".as_bytes()).unwrap(),
            HeaderValue::from_bytes(b"http://192.168.50.1:8080\xff").unwrap(),
        ] {
            let (code, _, body) = put("192.168.50.1:8080", origin.clone()).await;
            assert_eq!(code, 403, "Origin {origin:?}: {body}");
        }
    }

    #[tokio::test]
    async fn operator_answers_are_not_kept_by_the_browser() {
        for (method, path, body) in [
            ("GET", "/api/operator/frames/1.jpg", ""),
            ("PUT", "/api/operator/masks", r#"{"masks": []}"#),
            ("DELETE", "/api/operator/calibration", ""),
            ("GET", "/api/operator/frames/2.jpg", ""),
        ] {
            for operator in [true, false] {
                let (code, headers, _) =
                    request(operator, method, path, "192.168.50.1:8080", None, body).await;
                assert_eq!(
                    headers
                        .get(header::CACHE_CONTROL)
                        .map(|v| v.to_str().unwrap()),
                    Some("no-store"),
                    "{method} {path} ({code})"
                );
            }
        }
    }

    #[tokio::test]
    async fn without_the_session_nothing_is_done_or_shown() {
        for (method, path, body) in [
            ("PUT", "/api/operator/masks", r#"{"masks": []}"#),
            ("PUT", "/api/operator/zones", r#"{"zones": []}"#),
            ("POST", "/api/operator/alerts/1/ack", ""),
            ("POST", "/api/operator/freeze", ""),
            ("DELETE", "/api/operator/calibration", ""),
            ("POST", "/api/operator/calibration", "{}"),
            ("POST", "/api/operator/calibration/p1/apply", ""),
            ("GET", "/api/operator/frames/f1.jpg", ""),
        ] {
            let (code, answer) = send_as(false, method, path, None, body).await;
            assert_eq!(code, 401, "{method} {path}: {answer}");
            assert!(answer.contains("sign in"), "{answer}");
            // A foreign page is refused first, with or without a session.
            if method != "GET" {
                let (code, _) =
                    send_as(false, method, path, Some("http://evil.example"), body).await;
                assert_eq!(code, 403, "{method} {path}");
            }
        }
    }

    #[tokio::test]
    async fn changes_from_another_site_are_refused() {
        let masks = r#"{"masks": []}"#;
        let (code, body) = send(
            "PUT",
            "/api/operator/masks",
            Some("http://evil.example"),
            masks,
        )
        .await;
        assert_eq!(code, 403, "{body}");
        assert!(body.contains("evil.example"), "{body}");
        let (code, _) = send(
            "PUT",
            "/api/operator/masks",
            Some("http://192.168.50.1:8080"),
            masks,
        )
        .await;
        assert_eq!(code, 200, "the box's own dashboard");
        let (code, _) = send("PUT", "/api/operator/masks", None, masks).await;
        assert_eq!(code, 200, "tools that send no Origin");
        let (code, _) = send("DELETE", "/api/operator/calibration", Some("null"), "").await;
        assert_eq!(code, 403, "an opaque origin");
    }

    #[tokio::test]
    async fn bad_bodies_get_reasons_and_sizes_are_capped() {
        let (code, body) = send("PUT", "/api/operator/masks", None, "{not json").await;
        assert_eq!(code, 400);
        assert!(body.contains("JSON"), "{body}");
        let (code, body) = send(
            "PUT",
            "/api/operator/masks",
            None,
            r#"{"masks": [], "x": 1}"#,
        )
        .await;
        assert_eq!(code, 400, "unknown fields are refused: {body}");
        let huge = format!(r#"{{"masks": [], "pad": "{}"}}"#, "x".repeat(300 * 1024));
        let (code, _) = send("PUT", "/api/operator/masks", None, &huge).await;
        assert_eq!(code, 413);
        let (code, body) = send("POST", "/api/operator/freeze", None, "").await;
        assert_eq!(code, 409, "{body}");
        let (code, _) = send("GET", "/api/operator/frames/../../etc/passwd.jpg", None, "").await;
        assert_eq!(code, 404);
        let (code, body) = send(
            "PUT",
            "/api/operator/zones",
            None,
            r#"{"zones": [{"name": "a"}]}"#,
        )
        .await;
        assert_eq!(code, 400, "a zone without points: {body}");
        // A calibration that cannot be one is refused before the operator is asked.
        let taps: Vec<[f64; 2]> = (0..1001)
            .map(|i| [10.0 + f64::from(i % 30), 10.0])
            .collect();
        let req = json!({"frame_id": "1", "box": [0, 0, 100, 100], "taps": taps}).to_string();
        let (code, body) = send("POST", "/api/operator/calibration", None, &req).await;
        assert_eq!(code, 400, "{body}");
        assert!(body.contains("1001 taps"), "{body}");
        let (code, body) = send("POST", "/api/operator/alerts/abc/ack", None, "").await;
        assert_eq!(code, 404, "{body}");
        let (code, body) = send("POST", "/api/operator/alerts/17/ack", None, "").await;
        assert_eq!(code, 404, "{body}");
        assert!(body.contains("no open alert 17"), "{body}");
    }

    #[tokio::test]
    async fn a_request_for_another_stream_needs_the_session_and_a_stream_analysed_now() {
        let masks = r#"{"masks": []}"#;
        let (code, _) = send("PUT", "/api/operator/masks", None, masks).await;
        assert_eq!(code, 200, "the configured stream");
        let (code, body) = send("PUT", "/api/operator/masks?stream=live_north", None, masks).await;
        assert_eq!(code, 404, "this operator has no other stream: {body}");
        assert!(body.contains("live_north"), "{body}");
        let (code, body) = send("POST", "/api/operator/freeze?stream=live_north", None, "").await;
        assert_eq!(code, 404, "{body}");
        let (code, body) = send_as(
            false,
            "PUT",
            "/api/operator/masks?stream=live_north",
            None,
            masks,
        )
        .await;
        assert_eq!(code, 401, "the gate answers first: {body}");
        let (code, body) = send("PUT", "/api/operator/masks?stream=a&stream=b", None, masks).await;
        assert_eq!(code, 400, "{body}");
    }

    #[tokio::test]
    async fn without_an_operator_the_routes_say_so() {
        let auth = Arc::new(Auth::for_tests("op-pin-1", HostNames::default()));
        let res = routes(None, auth)
            .oneshot(
                axum::http::Request::builder()
                    .method("POST")
                    .uri("/api/operator/freeze")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 503);
    }
}
