//! The HTTP edge: axum routes and the Socket.IO layer (socketioxide) on one listener.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use socketioxide::extract::SocketRef;
use socketioxide::SocketIo;
use tower_http::services::{ServeDir, ServeFile};
use tower_http::set_header::SetResponseHeaderLayer;

use super::actions::Op;
use super::auth::{behind_gate, Auth};
use super::hub::Hub;
use crate::config::{Settings, StreamSettings};
use crate::mediamtx::key::PUBLISH_USER;
use crate::wire::StreamInfo;

/// What the HTTP edge tells the pilot and the viewers about where the stream is.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamAccess {
    pub stream: StreamSettings,
    /// The path browsers play (`stream.view_path` with `mediamtx.always_available`).
    pub browser_path: String,
    /// The publish key, or why there is none.
    pub key: Result<String, String>,
    /// The dashboard's URL on the hotspot when it runs a captive portal: phones' connectivity
    /// checks are redirected there.
    pub portal_url: Option<String>,
}

impl StreamAccess {
    pub fn from_settings(s: &Settings, key: Result<String, String>) -> Self {
        let portal_url = (s.hotspot.enabled && s.hotspot.captive_portal)
            .then(|| s.hotspot.dashboard_url(s.server.listen.port()));
        Self {
            stream: s.stream.clone(),
            browser_path: s.stream.browser_path(&s.mediamtx).to_string(),
            key,
            portal_url,
        }
    }
}

impl From<StreamSettings> for StreamAccess {
    /// Browsers play the ingest path; no key; no portal (tests, and boxes without MediaMTX).
    fn from(stream: StreamSettings) -> Self {
        Self {
            browser_path: stream.path.clone(),
            stream,
            key: Err("no stream key configured".into()),
            portal_url: None,
        }
    }
}

#[derive(Clone)]
struct AppState {
    hub: Arc<Hub>,
    access: Arc<StreamAccess>,
    auth: Arc<Auth>,
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
/// as `host` (a name [`Auth`]'s host names allow). The publish URL, whose key lets anyone take
/// over the stream, is only for the `operator`; viewers get `null` there.
pub fn stream_info(access: &StreamAccess, host: &str, operator: bool) -> StreamInfo {
    let stream = &access.stream;
    let path = &stream.path;
    let view = &access.browser_path;
    let (app, name) = match path.rsplit_once('/') {
        Some((app, name)) => (format!("/{app}"), name.to_string()),
        None => (String::new(), path.clone()),
    };
    let credentials = match &access.key {
        Ok(key) => format!("?user={PUBLISH_USER}&pass={key}"),
        Err(_) => String::new(),
    };
    let server = format!("rtmp://{host}:{}{app}", stream.rtmp_port);
    let pilot = |s: String| operator.then_some(s);
    StreamInfo {
        path: path.clone(),
        view_path: view.clone(),
        whep_url: format!("http://{host}:{}/{view}/whep", stream.webrtc_port),
        player_url: format!("http://{host}:{}/{view}/", stream.webrtc_port),
        operator,
        rtmp_url: pilot(format!("{server}/{name}{credentials}")),
        rtmp_server: pilot(server),
        rtmp_stream_key: pilot(format!("{name}{credentials}")),
        key_error: if operator {
            access.key.as_ref().err().cloned()
        } else {
            None
        },
        qr_url: "/api/stream/qr.svg".into(),
        snapshot_url: "/api/snapshot.jpg".into(),
    }
}

/// An SVG QR code of `text`.
pub fn qr_svg(text: &str) -> Result<String, String> {
    let code = qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M)
        .map_err(|e| format!("cannot make a QR code of the URL: {e}"))?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(240, 240)
        .quiet_zone(true)
        .build())
}

fn request_host(headers: &HeaderMap) -> String {
    host_of(headers.get(header::HOST).and_then(|h| h.to_str().ok()))
}

async fn get_stream_info(State(app): State<AppState>, headers: HeaderMap) -> Response {
    let operator = app.auth.is_operator(&headers);
    (
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Json(stream_info(&app.access, &request_host(&headers), operator)),
    )
        .into_response()
}

/// The QR code of the publish URL: the operator's only (viewers get 401: it holds the key).
async fn get_stream_qr(State(app): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(refused) = app.auth.check(&headers) {
        return refused;
    }
    let info = stream_info(&app.access, &request_host(&headers), true);
    if let Some(e) = info.key_error {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "error": format!("no stream key: {e}") })),
        )
            .into_response();
    }
    match qr_svg(info.rtmp_url.as_deref().unwrap_or_default()) {
        Ok(svg) => (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("image/svg+xml"),
                ),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
            svg,
        )
            .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({ "error": e })),
        )
            .into_response(),
    }
}

/// The addresses phones, tablets and laptops fetch to learn whether a network is online.
pub const CONNECTIVITY_CHECKS: &[&str] = &[
    "/generate_204",
    "/gen_204",
    "/hotspot-detect.html",
    "/library/test/success.html",
    "/connecttest.txt",
    "/ncsi.txt",
    "/canonical.html",
    "/success.txt",
];

async fn get_status(State(app): State<AppState>) -> Response {
    Json(app.hub.status()).into_response()
}

/// Every stream analysed or refused (several drones), the configured one first.
async fn get_streams(State(app): State<AppState>) -> Response {
    Json(app.hub.streams()).into_response()
}

/// The box's health (200 while the daemon and its model are up) and, beside it, the stream's
/// state: no drone streaming is not the box being down.
async fn get_health(State(app): State<AppState>) -> Response {
    let stream = app.hub.stream();
    let stream = json!({ "state": stream.state, "error": stream.error });
    match app.hub.health() {
        Ok(()) => Json(json!({"ok": true, "stream": stream})).into_response(),
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"ok": false, "reason": reason, "stream": stream})),
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

/// The header of `/api/snapshot.jpg` that names the analysis (its `seq`) made from the frame: the
/// dashboard draws that analysis's heatmap and zone counts over it, and no other.
pub const SEQ_HEADER: &str = "x-skycount-seq";

/// `?stream=<name>`: another stream's last analysed frame (the configured stream's without).
async fn get_snapshot(State(app): State<AppState>, req: Request) -> Response {
    let hub = app.hub.clone();
    let stream = watched_stream(req.uri().query()).filter(|s| hub.is_other(s));
    // Encoding takes a few milliseconds: keep it off the async workers.
    let jpeg = tokio::task::spawn_blocking(move || match stream {
        Some(s) => hub.snapshot_jpeg_of_stream(&s),
        None => hub.snapshot_jpeg(),
    })
    .await;
    match jpeg {
        Ok(Some((seq, Ok(bytes)))) => {
            let mut r =
                super::snapshot::jpeg_response(super::snapshot::shared_body(bytes), "no-store");
            r.headers_mut().insert(SEQ_HEADER, HeaderValue::from(seq));
            r
        }
        Ok(None) => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "no frame has been analysed yet"})),
        )
            .into_response(),
        Ok(Some((_, Err(e)))) => (
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

/// The Content-Security-Policy of every answer: scripts and styles from the box's own files only
/// (the built dashboard has no inline script; React sets styles through the DOM, which CSP
/// allows), WHEP requests to MediaMTX's WebRTC port on whichever name the box was reached by,
/// no framing by any site, no plugins, forms posting nowhere else.
pub fn csp(webrtc_port: u16) -> String {
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
         media-src 'self' blob:; connect-src 'self' http://*:{webrtc_port} https://*:{webrtc_port}; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// Refuses a request without exactly one `Host` header (400: which one would the URLs of
/// `/api/stream/info` be built from?), and one for a `Host` that is not one of the box's names
/// (see `publish::auth`): a page of another site that DNS rebinding pointed here, or a forged
/// header. With the hotspot's captive portal on, a browser that asks for another site is sent
/// to the dashboard instead (every name resolves to the box).
async fn check_host(State(app): State<AppState>, req: Request, next: Next) -> Response {
    let mut hosts = req.headers().get_all(header::HOST).iter();
    let host = match (hosts.next(), hosts.next()) {
        (Some(h), None) => h.to_str().unwrap_or("\u{0}"),
        (first, _) => {
            let error = if first.is_none() {
                "the request has no Host header: send the box's address or name in it (HTTP/1.1 \
                 requires one)"
            } else {
                "the request has more than one Host header: send one"
            };
            return (StatusCode::BAD_REQUEST, Json(json!({ "error": error }))).into_response();
        }
    };
    if app.auth.hosts.allows(host) {
        return next.run(req).await;
    }
    if let Some(portal) = &app.access.portal_url {
        if matches!(*req.method(), Method::GET | Method::HEAD) {
            return Redirect::to(portal).into_response();
        }
    }
    let shown: String = host.chars().take(64).collect();
    (
        StatusCode::MISDIRECTED_REQUEST,
        Json(json!({
            "error": format!("this box does not answer to the name {shown:?}: use its address, or add the name to operator.host_names")
        })),
    )
        .into_response()
}

/// The whole app: API routes, Socket.IO, and the dashboard (or a placeholder), with the
/// operator's sign-in ([`Auth`]), the host check and the security headers on every answer.
// One argument per optional service (operator, history, update, pairing), each `None` in tests
// and tools that go without it.
#[allow(clippy::too_many_arguments)]
pub fn router(
    hub: Arc<Hub>,
    access: impl Into<StreamAccess>,
    web_dir: PathBuf,
    operator: Option<Op>,
    auth: Arc<Auth>,
    history: Option<PathBuf>,
    update: Option<Arc<crate::update::Updater>>,
    pairing: Option<super::pairing::Edge>,
) -> (Router, SocketIo) {
    let access: StreamAccess = access.into();
    let (layer, io) = SocketIo::builder().build_layer();
    {
        let hub = hub.clone();
        // Clients only listen: no event from a client is handled, so none can change anything.
        // An event that changes something must check `Auth::is_operator` on the socket's
        // request headers (`socket.req_parts().headers`) first.
        //
        // A viewer watches one stream, chosen when it connects (`?stream=live_north` in the
        // handshake's query; to watch another, it connects again): it joins that stream's room
        // and receives that stream's analyses alone. Without one, or naming no other stream
        // listed now, it watches the configured stream, as before. Everyone gets the status.
        io.ns("/", move |socket: SocketRef| {
            let hub = hub.clone();
            async move {
                let asked = watched_stream(socket.req_parts().uri.query());
                let other = asked.filter(|s| hub.is_other(s));
                let (room, latest) = match &other {
                    Some(s) => (room_of(s), hub.latest_of(s)),
                    None => (CONFIGURED_ROOM.to_string(), hub.latest_analysis()),
                };
                socket.join(room);
                // A viewer that connects sees the latest at once, not at the next analysis.
                let _ = socket.emit("status", &hub.status());
                if let Some(a) = latest {
                    let _ = socket.emit("analysis", &*a);
                }
            }
        });
    }
    let api = Router::new()
        .route("/api/stream/info", get(get_stream_info))
        .route("/api/stream/qr.svg", get(get_stream_qr))
        .route("/api/status", get(get_status))
        .route("/api/streams", get(get_streams))
        .route("/api/health", get(get_health))
        .route("/api/snapshot.jpg", get(get_snapshot))
        .route("/metrics", get(get_metrics));
    let mut portal_routes = Router::new();
    if let Some(portal) = &access.portal_url {
        // A phone that joins the hotspot finds itself "behind a captive portal" and opens the
        // dashboard in its sign-in window. These answer whatever the Host (the phone asks for
        // its vendor's name, which the hotspot's DNS points here), and echo none of it.
        let to = portal.clone();
        for probe in CONNECTIVITY_CHECKS {
            let to = to.clone();
            portal_routes =
                portal_routes.route(probe, get(move || async move { Redirect::to(&to) }));
        }
    }
    let csp = HeaderValue::from_str(&csp(access.stream.webrtc_port)).expect("ASCII");
    let state = AppState {
        hub: hub.clone(),
        access: Arc::new(access),
        auth: auth.clone(),
    };
    let api = api
        .with_state(state.clone())
        .merge(super::operator::routes(operator.clone(), auth.clone()))
        .merge(super::models::routes(operator, auth.clone()))
        .merge(super::history::routes(history.clone()))
        .merge(behind_gate(
            super::history::operator_routes(history),
            auth.clone(),
        ))
        .merge(super::update::routes(update.clone()))
        .merge(behind_gate(
            super::update::operator_routes(update),
            auth.clone(),
        ))
        .merge(super::pairing::routes(pairing, auth.clone()))
        .merge(super::auth::routes(auth));
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
    let app = app
        .layer(layer)
        .layer(middleware::from_fn_with_state(state, check_host))
        .merge(portal_routes)
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            csp,
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ));
    (app, io)
}

/// The Socket.IO room of the viewers who watch the configured stream.
const CONFIGURED_ROOM: &str = "configured";

/// The Socket.IO room of the viewers who watch another stream.
fn room_of(stream: &str) -> String {
    format!("stream:{stream}")
}

/// The stream a viewer asks to watch: `stream=<name>` in the handshake's query (a name as the
/// streams list gives it: letters, digits, `_`, `-`, `.`, at most 100).
fn watched_stream(query: Option<&str>) -> Option<String> {
    let value = query?
        .split('&')
        .find_map(|kv| kv.strip_prefix("stream="))?;
    (!value.is_empty()
        && value.len() <= 100
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    .then(|| value.to_string())
}

/// Pushes every new analysis (to the viewers who watch its stream), every alert's change, and the status once a second and whenever it
/// changes. Ends when
/// the server is shut down (the namespace is gone once `io.close()` ran).
pub async fn broadcast(hub: Arc<Hub>, io: SocketIo) {
    // `SocketIo::emit` panics once the namespace is closed; `of` says so instead.
    // `room`: only the viewers in it (an analysis goes to those who watch its stream); `None`:
    // everyone.
    let emit =
        |io: &SocketIo, room: Option<String>, event: &'static str, data: serde_json::Value| {
            let ns = io.of("/");
            async move {
                match ns {
                    Some(ns) => {
                        let _ = match room {
                            Some(r) => ns.to(r).emit(event, &data).await,
                            None => ns.emit(event, &data).await,
                        };
                        true
                    }
                    None => false,
                }
            }
        };
    let analyses = {
        let hub = hub.clone();
        let io = io.clone();
        async move {
            let mut rx = hub.subscribe_analyses();
            while rx.changed().await.is_ok() {
                let latest = rx.borrow_and_update().clone();
                if let Some(a) = latest {
                    let data = serde_json::to_value(&*a).unwrap_or_default();
                    if !emit(&io, Some(CONFIGURED_ROOM.into()), "analysis", data).await {
                        return;
                    }
                }
            }
        }
    };
    let others = {
        let mut rx = hub.subscribe_other_analyses();
        let io = io.clone();
        async move {
            loop {
                match rx.recv().await {
                    Ok(a) => {
                        let data = serde_json::to_value(&*a).unwrap_or_default();
                        if !emit(&io, Some(room_of(a.stream.as_str())), "analysis", data).await {
                            return;
                        }
                    }
                    // A viewer that fell behind gets the next one: each analysis is whole.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
            }
        }
    };
    let alerts = {
        let mut rx = hub.subscribe_alerts();
        let io = io.clone();
        async move {
            loop {
                match rx.recv().await {
                    Ok(alert) => {
                        let data = serde_json::to_value(&alert).unwrap_or_default();
                        if !emit(&io, None, "alert", data).await {
                            return;
                        }
                    }
                    // Missed ones are in `status.alerts` as they are now.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
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
            let data = serde_json::to_value(hub.status()).unwrap_or_default();
            if !emit(&io, None, "status", data).await {
                return;
            }
        }
    };
    tokio::join!(analyses, others, alerts, statuses);
}

/// Serves until `shutdown` resolves, within the connection limits of `publish::conn` (fitted
/// under the process's open-file limit, which is raised to its hard limit first).
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    io: SocketIo,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = super::conn::Limits::for_file_limit(super::conn::raise_file_limit());
    super::conn::serve(listener, app, limits, async move {
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
    fn a_viewer_asks_for_a_stream_by_its_name_only() {
        assert_eq!(
            watched_stream(Some("EIO=4&transport=websocket&stream=live_north")),
            Some("live_north".into())
        );
        assert_eq!(watched_stream(Some("stream=")), None);
        assert_eq!(watched_stream(Some("stream=../etc")), None);
        assert_eq!(watched_stream(Some("stream=a%2Fb")), None);
        assert_eq!(
            watched_stream(Some(&format!("stream={}", "a".repeat(101)))),
            None
        );
        assert_eq!(watched_stream(None), None);
        assert_eq!(room_of("live_north"), "stream:live_north");
    }

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
        let access = StreamAccess::from(StreamSettings::default());
        let hotspot = stream_info(&access, "192.168.50.1", true);
        assert_eq!(hotspot.whep_url, "http://192.168.50.1:8889/live/drone/whep");
        assert_eq!(hotspot.player_url, "http://192.168.50.1:8889/live/drone/");
        assert_eq!(
            hotspot.rtmp_url.as_deref(),
            Some("rtmp://192.168.50.1:1935/live/drone")
        );
        assert!(hotspot.key_error.is_some());
        let lan = stream_info(&access, "10.0.0.7", true);
        assert_eq!(
            lan.rtmp_url.as_deref(),
            Some("rtmp://10.0.0.7:1935/live/drone")
        );
    }

    #[test]
    fn the_pilot_gets_the_url_with_the_key_and_viewers_the_view_path() {
        let settings = Settings::default();
        let access = StreamAccess::from_settings(&settings, Ok("Key123abc".into()));
        let info = stream_info(&access, "192.168.50.1", true);
        let url = info.rtmp_url.clone().unwrap();
        assert_eq!(
            url,
            "rtmp://192.168.50.1:1935/live/drone?user=drone&pass=Key123abc"
        );
        assert_eq!(
            info.rtmp_server.as_deref(),
            Some("rtmp://192.168.50.1:1935/live")
        );
        assert_eq!(
            info.rtmp_stream_key.as_deref(),
            Some("drone?user=drone&pass=Key123abc")
        );
        assert_eq!(
            info.whep_url,
            "http://192.168.50.1:8889/live/drone/view/whep"
        );
        assert_eq!(info.key_error, None);
        let svg = qr_svg(&url).unwrap();
        assert!(svg.starts_with("<?xml") && svg.contains("<svg"), "{svg}");
        // A viewer gets where to watch, never the key.
        let viewer = stream_info(&access, "192.168.50.1", false);
        assert_eq!(viewer.whep_url, info.whep_url);
        let text = serde_json::to_string(&viewer).unwrap();
        assert_eq!(
            (viewer.rtmp_url, viewer.rtmp_server, viewer.rtmp_stream_key),
            (None, None, None)
        );
        assert!(!text.contains("Key123abc"), "{text}");
    }

    #[test]
    fn the_portal_is_the_dashboard_on_the_hotspot() {
        let mut settings = Settings::default();
        assert_eq!(
            StreamAccess::from_settings(&settings, Err(String::new())).portal_url,
            None
        );
        settings.hotspot.enabled = true;
        assert_eq!(
            StreamAccess::from_settings(&settings, Err(String::new()))
                .portal_url
                .as_deref(),
            Some("http://192.168.50.1/")
        );
        settings.server.listen = "0.0.0.0:8080".parse().unwrap();
        assert_eq!(
            StreamAccess::from_settings(&settings, Err(String::new()))
                .portal_url
                .as_deref(),
            Some("http://192.168.50.1:8080/")
        );
    }
}
