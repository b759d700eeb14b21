//! The HTTP edge: axum routes and the Socket.IO layer (socketioxide) on one listener.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use serde_json::json;
use socketioxide::extract::SocketRef;
use socketioxide::SocketIo;
use tower_http::services::{ServeDir, ServeFile};

use super::hub::Hub;
use crate::config::StreamSettings;

#[derive(Clone)]
struct AppState {
    hub: Arc<Hub>,
    stream: StreamSettings,
}

/// `GET /api/stream/info`.
#[derive(Debug, Serialize, PartialEq)]
pub struct StreamInfo {
    pub path: String,
    pub whep_url: String,
    pub player_url: String,
    pub rtmp_url: String,
    pub snapshot_url: String,
}

/// The host part of a `Host` header (`box.local:80` → `box.local`, `[fe80::1]:80` → `[fe80::1]`).
pub fn host_of(host_header: Option<&str>) -> String {
    let host = host_header.map(str::trim).filter(|h| !h.is_empty());
    match host {
        Some(h) if h.starts_with('[') => match h.find(']') {
            Some(end) => h[..=end].to_string(),
            None => "localhost".into(),
        },
        Some(h) => h.split(':').next().unwrap_or("localhost").to_string(),
        None => "localhost".into(),
    }
}

/// Where the browser plays the video and the pilot publishes, for a browser that reached the box
/// as `host`.
pub fn stream_info(stream: &StreamSettings, host: &str) -> StreamInfo {
    let path = &stream.path;
    StreamInfo {
        path: path.clone(),
        whep_url: format!("http://{host}:{}/{path}/whep", stream.webrtc_port),
        player_url: format!("http://{host}:{}/{path}/", stream.webrtc_port),
        rtmp_url: format!("rtmp://{host}:{}/{path}", stream.rtmp_port),
        snapshot_url: "/api/snapshot.jpg".into(),
    }
}

async fn get_stream_info(State(app): State<AppState>, headers: HeaderMap) -> Json<StreamInfo> {
    let host = host_of(headers.get(header::HOST).and_then(|h| h.to_str().ok()));
    Json(stream_info(&app.stream, &host))
}

async fn get_status(State(app): State<AppState>) -> Response {
    Json(app.hub.status()).into_response()
}

async fn get_health(State(app): State<AppState>) -> Response {
    match app.hub.health() {
        Ok(()) => Json(json!({"ok": true})).into_response(),
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"ok": false, "reason": reason})),
        )
            .into_response(),
    }
}

async fn get_metrics(State(app): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        app.hub.metrics.encode(),
    )
        .into_response()
}

async fn get_snapshot(State(app): State<AppState>) -> Response {
    let hub = app.hub.clone();
    // Encoding takes a few milliseconds: keep it off the async workers.
    let jpeg = tokio::task::spawn_blocking(move || hub.snapshot_jpeg()).await;
    match jpeg {
        Ok(Some(Ok(bytes))) => (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg")),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
            bytes.as_ref().clone(),
        )
            .into_response(),
        Ok(None) => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "no frame has been analysed yet"})),
        )
            .into_response(),
        Ok(Some(Err(e))) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({ "error": e })),
        )
            .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({ "error": e.to_string() })),
        )
            .into_response(),
    }
}

fn placeholder(web_dir: &Path) -> Html<String> {
    Html(format!(
        "<!doctype html><meta charset=utf-8><meta name=viewport content='width=device-width'>\
         <title>skycount</title><body style='font:18px system-ui;margin:2em'>\
         <h1>skycount is running</h1>\
         <p>The dashboard is not installed (looked in <code>{}</code>; build it with \
         <code>cd web &amp;&amp; npm ci &amp;&amp; npm run build</code> and set <code>server.web_dir</code>).</p>\
         <p><a href='/api/status'>status</a> · <a href='/api/health'>health</a> · \
         <a href='/api/stream/info'>stream</a> · <a href='/metrics'>metrics</a> · \
         <a href='/api/snapshot.jpg'>last analysed frame</a></p>",
        html_escape(&web_dir.display().to_string())
    ))
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The whole app: API routes, Socket.IO, and the dashboard (or a placeholder).
pub fn router(hub: Arc<Hub>, stream: StreamSettings, web_dir: PathBuf) -> (Router, SocketIo) {
    let (layer, io) = SocketIo::builder().build_layer();
    {
        let hub = hub.clone();
        io.ns("/", move |socket: SocketRef| {
            let hub = hub.clone();
            async move {
                // A viewer that connects sees the latest at once, not at the next analysis.
                let _ = socket.emit("status", &hub.status());
                if let Some(a) = hub.latest_analysis() {
                    let _ = socket.emit("analysis", &*a);
                }
            }
        });
    }
    let api = Router::new()
        .route("/api/stream/info", get(get_stream_info))
        .route("/api/status", get(get_status))
        .route("/api/health", get(get_health))
        .route("/api/snapshot.jpg", get(get_snapshot))
        .route("/metrics", get(get_metrics))
        .with_state(AppState {
            hub: hub.clone(),
            stream,
        });
    let index = web_dir.join("index.html");
    let app = if index.is_file() {
        api.fallback_service(ServeDir::new(&web_dir).not_found_service(ServeFile::new(index)))
    } else {
        log::warn!(
            "no dashboard at {} (no index.html): serving a placeholder page",
            web_dir.display()
        );
        let dir = web_dir.clone();
        api.fallback(move || {
            let dir = dir.clone();
            async move { placeholder(&dir) }
        })
    };
    (app.layer(layer), io)
}

/// Pushes every new analysis, and the status once a second and whenever it changes.
pub async fn broadcast(hub: Arc<Hub>, io: SocketIo) {
    let analyses = {
        let hub = hub.clone();
        let io = io.clone();
        async move {
            let mut rx = hub.subscribe_analyses();
            while rx.changed().await.is_ok() {
                let latest = rx.borrow_and_update().clone();
                if let Some(a) = latest {
                    let _ = io.emit("analysis", &*a).await;
                }
            }
        }
    };
    let statuses = async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = tick.tick() => hub.sample_rates(Instant::now()),
                _ = hub.status_changed.notified() => {}
            }
            let _ = io.emit("status", &hub.status()).await;
        }
    };
    tokio::join!(analyses, statuses);
}

/// Serves until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    io: SocketIo,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            // Long-lived Socket.IO connections would hold a graceful shutdown open.
            io.close().await;
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_header_forms() {
        assert_eq!(host_of(Some("192.168.50.1")), "192.168.50.1");
        assert_eq!(host_of(Some("192.168.50.1:8080")), "192.168.50.1");
        assert_eq!(host_of(Some("skycount.local")), "skycount.local");
        assert_eq!(host_of(Some("[fe80::1]:80")), "[fe80::1]");
        assert_eq!(host_of(None), "localhost");
        assert_eq!(host_of(Some("")), "localhost");
    }

    #[test]
    fn stream_urls_follow_the_host_the_browser_used() {
        let s = StreamSettings::default();
        let hotspot = stream_info(&s, "192.168.50.1");
        assert_eq!(hotspot.whep_url, "http://192.168.50.1:8889/live/drone/whep");
        assert_eq!(hotspot.player_url, "http://192.168.50.1:8889/live/drone/");
        assert_eq!(hotspot.rtmp_url, "rtmp://192.168.50.1:1935/live/drone");
        let lan = stream_info(&s, "10.0.0.7");
        assert_eq!(lan.rtmp_url, "rtmp://10.0.0.7:1935/live/drone");
    }
}
