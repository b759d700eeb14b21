//! Pairing by approval over HTTP (`crate::mediamtx::pairing` decides):
//!
//! - `POST /api/mediamtx/auth`: MediaMTX's authentication request (`authMethod: http`). Only
//!   this box may ask (a client on loopback, or on the address skycountd listens on): anyone else
//!   could otherwise try stream keys here or fill the operator's list with made-up requests.
//!   200 allows; 401 refuses (MediaMTX's docs: RTSP and WebRTC clients then send credentials);
//!   400 for a body that is not MediaMTX's.
//! - `/api/operator/pairing*`: the requests waiting and the approvals, and allowing, refusing
//!   and revoking, for the operator only (behind `auth::gate`: viewers get 401).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::auth::{behind_gate, Auth};
use crate::mediamtx::pairing::{AuthRequest, Decision, Now, Pairing, PairingError, AUTH_PATH};

/// The largest body MediaMTX's request may have (its fields are a few hundred bytes).
const BODY_LIMIT: usize = 16 * 1024;

/// What the routes need: the decisions, and the address skycountd listens on (MediaMTX may ask
/// there when it is not a wildcard).
#[derive(Clone)]
pub struct Edge {
    pub pairing: Arc<Pairing>,
    pub listen: IpAddr,
    /// MediaMTX's Control API, to end the connections of a revoked approval (`None`: not ended,
    /// only refused from then on).
    pub api: Option<crate::mediamtx::api::Client>,
}

fn error(code: StatusCode, msg: impl Into<String>) -> Response {
    (code, Json(json!({ "error": msg.into() }))).into_response()
}

/// Whether `peer` is this box asking: loopback, or the one address skycountd listens on.
pub fn from_this_box(peer: IpAddr, listen: IpAddr) -> bool {
    peer.is_loopback() || (!listen.is_unspecified() && peer == listen)
}

async fn mediamtx_auth(State(edge): State<Edge>, req: Request) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    match peer {
        Some(p) if from_this_box(p, edge.listen) => {}
        _ => {
            return error(
                StatusCode::FORBIDDEN,
                "only the media server on this box asks here",
            )
        }
    }
    let bytes = match axum::body::to_bytes(req.into_body(), BODY_LIMIT).await {
        Ok(b) => b,
        Err(_) => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the body is over {BODY_LIMIT} bytes"),
            )
        }
    };
    let ask: AuthRequest = match serde_json::from_slice(&bytes) {
        Ok(a) => a,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("not MediaMTX's authentication request: {e}"),
            )
        }
    };
    match edge.pairing.decide(&ask, Now::real()) {
        Decision::Allowed(why) => Json(json!({ "allowed": true, "why": why })).into_response(),
        Decision::Refused { why, .. } => error(StatusCode::UNAUTHORIZED, why),
        Decision::Bad(why) => error(StatusCode::BAD_REQUEST, why),
    }
}

/// The operator's choice: which address, which path.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Choice {
    address: IpAddr,
    path: String,
}

async fn choice(req: Request) -> Result<Choice, Response> {
    let bytes = axum::body::to_bytes(req.into_body(), BODY_LIMIT)
        .await
        .map_err(|_| {
            error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the body is over {BODY_LIMIT} bytes"),
            )
        })?;
    serde_json::from_slice(&bytes).map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            format!("expected {{\"address\": \"192.168.50.23\", \"path\": \"live/drone\"}}: {e}"),
        )
    })
}

fn answer(r: Result<serde_json::Value, PairingError>) -> Response {
    match r {
        Ok(v) => Json(v).into_response(),
        Err(e @ PairingError::NotFound(_)) => error(StatusCode::NOT_FOUND, e.to_string()),
        Err(e @ (PairingError::Full(_) | PairingError::Off)) => {
            error(StatusCode::CONFLICT, e.to_string())
        }
    }
}

async fn list(State(edge): State<Edge>) -> Response {
    Json(edge.pairing.list(Now::real())).into_response()
}

/// `POST /api/operator/pairing/{allow|refuse|revoke}`.
async fn act(State(edge): State<Edge>, Path(action): Path<String>, req: Request) -> Response {
    let c = match choice(req).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let (p, now) = (&edge.pairing, Now::real());
    answer(match action.as_str() {
        "allow" => p
            .allow(c.address, &c.path, now)
            .map(|a| json!({ "approval": a })),
        "refuse" => p
            .refuse(c.address, &c.path, now)
            .map(|()| json!({ "refused": true })),
        "revoke" => match p.revoke(c.address, &c.path, now) {
            Ok(conns) => {
                let ended = end_connections(edge.api.clone(), conns, &c).await;
                Ok(json!({ "revoked": true, "ended": ended }))
            }
            Err(e) => Err(e),
        },
        _ => Err(PairingError::NotFound(
            "the operator may allow, refuse or revoke".into(),
        )),
    })
}

/// Ends the RTMP connections a revoked approval let in, through MediaMTX's Control API: how
/// many it ended (one that has ended already is not counted).
async fn end_connections(
    api: Option<crate::mediamtx::api::Client>,
    conns: Vec<String>,
    c: &Choice,
) -> usize {
    let Some(api) = api else { return 0 };
    if conns.is_empty() {
        return 0;
    }
    let who = format!("{} on {}", c.address, c.path);
    tokio::task::spawn_blocking(move || {
        let mut ended = 0;
        for id in conns {
            match api.kick_rtmp(&id) {
                Ok(()) => {
                    log::info!("ended the stream of {who} (RTMP connection {id}): its approval was revoked");
                    ended += 1;
                }
                Err(crate::mediamtx::api::ApiError::NotFound { .. }) => {}
                Err(e) => log::warn!("could not end the stream of {who} (RTMP connection {id}): {e}"),
            }
        }
        ended
    })
    .await
    .unwrap_or(0)
}

/// MediaMTX's route and the operator's; none without `pairing` (tests, tools).
pub fn routes(edge: Option<Edge>, auth: Arc<Auth>) -> Router {
    let Some(edge) = edge else {
        return Router::new();
    };
    let media_server = Router::new()
        .route(AUTH_PATH, post(mediamtx_auth))
        .with_state(edge.clone());
    let operator = Router::new()
        .route("/api/operator/pairing", get(list))
        .route("/api/operator/pairing/{action}", post(act));
    let operator = behind_gate(operator, auth).with_state(edge);
    media_server.merge(operator)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_box_may_ask() {
        let any: IpAddr = "0.0.0.0".parse().unwrap();
        let lan: IpAddr = "192.168.50.1".parse().unwrap();
        for (peer, listen, ok) in [
            ("127.0.0.1", any, true),
            ("::1", any, true),
            ("127.0.0.5", lan, true),
            ("192.168.50.1", lan, true),
            ("192.168.50.23", lan, false),
            ("192.168.50.23", any, false),
            ("0.0.0.0", any, false),
        ] {
            assert_eq!(from_this_box(peer.parse().unwrap(), listen), ok, "{peer}");
        }
    }
}
