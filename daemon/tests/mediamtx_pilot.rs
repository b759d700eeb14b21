//! The pilot's view over HTTP: the RTMP URL with the key and its QR code for the operator only,
//! the operator's sign-in, the names the box answers to, the security headers and the captive
//! portal's redirects, and pairing by approval (MediaMTX's authentication requests, the
//! operator's approvals), from a real server on loopback.

use std::net::SocketAddr;
use std::time::Duration;

use skycountd::config::Settings;
use skycountd::publish::auth::{Auth, HostNames};
use skycountd::publish::hub::Hub;
use skycountd::publish::server::{self, StreamAccess, CONNECTIVITY_CHECKS};
use skycountd::wire::ModelReport;

fn hub() -> std::sync::Arc<Hub> {
    Hub::new(
        "rtsp://127.0.0.1:8554/live/drone".into(),
        ModelReport {
            path: "m.onnx".into(),
            input_width: 64,
            input_height: 64,
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
        },
    )
}

const PIN: &str = "pilot-pin-42";

async fn start(access: StreamAccess) -> SocketAddr {
    start_pairing(access, None).await
}

async fn start_pairing(
    access: StreamAccess,
    pairing: Option<skycountd::publish::pairing::Edge>,
) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hosts = HostNames::exactly(&["skycount.lan"], &["192.168.50.1".parse().unwrap()]);
    let auth = std::sync::Arc::new(Auth::for_tests(PIN, hosts));
    let (app, io) = server::router(
        hub(),
        access,
        "/nonexistent/web".into(),
        None,
        auth,
        None,
        None,
        pairing,
    );
    tokio::spawn(server::serve(listener, app, io, std::future::pending()));
    addr
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(5)))
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into()
}

/// An answer: status, content type, location, body, and every header.
struct Answer {
    status: u16,
    ct: Option<String>,
    location: Option<String>,
    body: String,
    headers: Vec<(String, String)>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

async fn send(
    method: &'static str,
    url: String,
    headers: Vec<(&'static str, String)>,
    body: Option<String>,
) -> Answer {
    tokio::task::spawn_blocking(move || {
        let agent = agent();
        let mut r = match body {
            Some(b) => {
                let mut req = agent.post(&url);
                if method == "PUT" {
                    req = agent.put(&url);
                }
                for (n, v) in &headers {
                    req = req.header(*n, v);
                }
                req.header("Content-Type", "application/json")
                    .send(b.as_bytes())
                    .unwrap()
            }
            None => {
                let mut req = agent.get(&url);
                for (n, v) in &headers {
                    req = req.header(*n, v);
                }
                req.call().unwrap()
            }
        };
        let all: Vec<(String, String)> = r
            .headers()
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        let header = |n: &str| {
            r.headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let (ct, loc) = (header("content-type"), header("location"));
        let body = r.body_mut().read_to_string().unwrap_or_default();
        Answer {
            status: r.status().as_u16(),
            ct,
            location: loc,
            body,
            headers: all,
        }
    })
    .await
    .unwrap()
}

async fn get(url: String, host: &'static str) -> (u16, Option<String>, Option<String>, String) {
    let a = send("GET", url, vec![("Host", host.to_string())], None).await;
    (a.status, a.ct, a.location, a.body)
}

/// Signs in as the operator from the box's own page: the session cookie to send back.
async fn sign_in(addr: SocketAddr, host: &'static str) -> String {
    let a = send(
        "POST",
        format!("http://{addr}/api/auth/login"),
        vec![("Host", host.into()), ("Origin", format!("http://{host}"))],
        Some(format!(r#"{{"passphrase": "{PIN}"}}"#)),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let cookie = a.header("set-cookie").expect("a session cookie").to_owned();
    assert!(
        cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Strict")
            && cookie.contains("Max-Age="),
        "{cookie}"
    );
    cookie.split(';').next().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pilot_sees_the_url_with_the_key_and_its_qr_code() {
    let mut s = Settings::default();
    s.hotspot.enabled = true;
    s.hotspot.passphrase = "12345678".into();
    let addr = start(StreamAccess::from_settings(&s, Ok("Key4Pilot99".into()))).await;

    // A viewer: where to watch, never the key; no QR code.
    let (status, _, _, body) = get(format!("http://{addr}/api/stream/info"), "192.168.50.1").await;
    assert_eq!(status, 200);
    assert!(!body.contains("Key4Pilot99"), "{body}");
    let info: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(info["operator"], false);
    assert_eq!(info["rtmp_url"], serde_json::Value::Null);
    assert_eq!(info["rtmp_stream_key"], serde_json::Value::Null);
    assert_eq!(
        info["whep_url"],
        "http://192.168.50.1:8889/live/drone/view/whep"
    );
    let (status, _, _, body) =
        get(format!("http://{addr}/api/stream/qr.svg"), "192.168.50.1").await;
    assert_eq!(status, 401, "{body}");
    assert!(!body.contains("Key4Pilot99"));

    // The operator signs in and sees the URL with the key, and its QR code.
    let cookie = sign_in(addr, "192.168.50.1").await;
    let as_operator = |path: &str| {
        send(
            "GET",
            format!("http://{addr}{path}"),
            vec![("Host", "192.168.50.1".into()), ("Cookie", cookie.clone())],
            None,
        )
    };
    let a = as_operator("/api/stream/info").await;
    let info: serde_json::Value = serde_json::from_str(&a.body).unwrap();
    assert_eq!(info["operator"], true);
    assert_eq!(
        info["rtmp_url"],
        "rtmp://192.168.50.1:1935/live/drone?user=drone&pass=Key4Pilot99"
    );
    assert_eq!(info["qr_url"], "/api/stream/qr.svg");

    let a = as_operator("/api/stream/qr.svg").await;
    assert_eq!(a.status, 200);
    assert_eq!(a.ct.as_deref(), Some("image/svg+xml"));
    assert!(
        a.body.contains("<svg") && a.body.contains("</svg>"),
        "{}",
        a.body
    );

    // Signed out, the cookie is worth nothing.
    let out = send(
        "POST",
        format!("http://{addr}/api/auth/logout"),
        vec![("Host", "192.168.50.1".into()), ("Cookie", cookie.clone())],
        Some("{}".into()),
    )
    .await;
    assert_eq!(out.status, 200);
    assert_eq!(as_operator("/api/stream/qr.svg").await.status, 401);

    // A phone that joins the hotspot checks connectivity: it is sent to the dashboard.
    for probe in CONNECTIVITY_CHECKS {
        let (status, _, location, _) = get(
            format!("http://{addr}{probe}"),
            "connectivitycheck.gstatic.com",
        )
        .await;
        assert!((300..400).contains(&status), "{probe}: {status}");
        assert_eq!(location.as_deref(), Some("http://192.168.50.1/"), "{probe}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_key_or_a_portal() {
    let addr = start(StreamAccess::from_settings(
        &Settings::default(),
        Err("/var/lib/skycount/stream-key: no stream key yet".into()),
    ))
    .await;
    let cookie = sign_in(addr, "127.0.0.1").await;
    let with = |path: &str| {
        send(
            "GET",
            format!("http://{addr}{path}"),
            vec![("Host", "127.0.0.1".into()), ("Cookie", cookie.clone())],
            None,
        )
    };
    let info: serde_json::Value =
        serde_json::from_str(&with("/api/stream/info").await.body).unwrap();
    assert_eq!(info["rtmp_url"], "rtmp://127.0.0.1:1935/live/drone");
    assert!(info["key_error"]
        .as_str()
        .unwrap()
        .contains("no stream key yet"));
    let a = with("/api/stream/qr.svg").await;
    assert_eq!(a.status, 503);
    assert!(a.body.contains("no stream key"), "{}", a.body);
    // A name the box does not answer to is refused, before it can be put in a URL.
    let (status, _, _, body) = get(format!("http://{addr}/api/stream/info"), "10.0.0.7").await;
    assert_eq!(status, 421, "{body}");
    // No hotspot: the probe paths are the dashboard's like any other.
    let (status, _, location, _) = get(format!("http://{addr}/generate_204"), "127.0.0.1").await;
    assert_eq!((status, location), (200, None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_hosts_origins_and_guesses_are_refused() {
    let addr = start(StreamAccess::from_settings(
        &Settings::default(),
        Ok("Key4Pilot99".into()),
    ))
    .await;
    // Huge and forged Host headers: refused with a short answer, never echoed, never a 500.
    for host in [
        "h".repeat(3 * 1024),
        "x".repeat(60 * 1024),
        "evil.example".into(),
    ] {
        let a = send(
            "GET",
            format!("http://{addr}/api/stream/info"),
            vec![("Host", host.clone())],
            None,
        )
        .await;
        assert_eq!(a.status, 421, "{} bytes", host.len());
        assert!(a.body.len() < 400, "{}", a.body);
        let a = send(
            "GET",
            format!("http://{addr}/api/stream/qr.svg"),
            vec![("Host", host.clone())],
            None,
        )
        .await;
        assert_eq!(a.status, 421);
    }
    // The dashboard's answers carry the security headers.
    let a = send(
        "GET",
        format!("http://{addr}/"),
        vec![("Host", "skycount.lan".into())],
        None,
    )
    .await;
    assert_eq!(a.status, 200);
    let csp = a.header("content-security-policy").unwrap_or_default();
    assert!(
        csp.contains("script-src 'self'")
            && !csp.contains("unsafe-inline")
            && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(a.header("x-content-type-options"), Some("nosniff"));
    // Signing in from another site's page (login CSRF) is refused, as is any change from it.
    let a = send(
        "POST",
        format!("http://{addr}/api/auth/login"),
        vec![
            ("Host", "192.168.50.1".into()),
            ("Origin", "http://evil.example".into()),
        ],
        Some(format!(r#"{{"passphrase": "{PIN}"}}"#)),
    )
    .await;
    assert_eq!(a.status, 403, "{}", a.body);
    assert!(a.header("set-cookie").is_none());
    let cookie = sign_in(addr, "192.168.50.1").await;
    let a = send(
        "PUT",
        format!("http://{addr}/api/auth/passphrase"),
        vec![
            ("Host", "192.168.50.1".into()),
            ("Origin", "http://evil.example".into()),
            ("Cookie", cookie.clone()),
        ],
        Some(r#"{"current": "x", "new": "yyyyyyyy"}"#.into()),
    )
    .await;
    assert_eq!(a.status, 403, "{}", a.body);
    // Guessing: three tries, then the client is told to wait, growing.
    let guess = |n: u32| {
        send(
            "POST",
            format!("http://{addr}/api/auth/login"),
            vec![("Host", "192.168.50.1".into())],
            Some(format!(r#"{{"passphrase": "guess-{n}"}}"#)),
        )
    };
    let (mut codes, mut wait) = (Vec::new(), None);
    for n in 0..6 {
        let a = guess(n).await;
        if a.status == 429 && wait.is_none() {
            wait = a.header("retry-after").map(|w| w.parse::<u64>().unwrap());
        }
        codes.push(a.status);
    }
    // 4 answered at once (3 free tries, then one that sets a 1 s wait), then 429 until the wait
    // is over (6 requests take far less than a second even on a loaded machine; a slower one
    // would see a fifth 401 and still a 429 after it).
    assert_eq!(&codes[..3], [401, 401, 401], "{codes:?}");
    assert!(codes[3..].contains(&429), "{codes:?}");
    assert!((1..=300).contains(&wait.unwrap()), "{wait:?}");
    // The session answer tells the dashboard who it is.
    let a = send(
        "GET",
        format!("http://{addr}/api/auth/session"),
        vec![("Host", "192.168.50.1".into()), ("Cookie", cookie)],
        None,
    )
    .await;
    let s: serde_json::Value = serde_json::from_str(&a.body).unwrap();
    assert_eq!(s["operator"], true, "{}", a.body);
}

/// The `id` MediaMTX gives the drone's RTMP connection.
const CONN_ID: &str = "5e6a3d8c-7bd1-4d0f-a3b9-3c7a1f6e2d10";

/// A stand-in for MediaMTX's Control API that ends RTMP connections
/// (`POST /v3/rtmpconns/kick/{id}`, answering its `OK`) and records which.
async fn fake_control_api() -> (SocketAddr, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use axum::extract::{Path, State};
    type Kicked = std::sync::Arc<std::sync::Mutex<Vec<String>>>;
    let kicked: Kicked = Default::default();
    let app = axum::Router::new()
        .route(
            "/v3/rtmpconns/kick/{id}",
            axum::routing::post(
                |State(k): State<Kicked>, Path(id): Path<String>| async move {
                    k.lock().unwrap().push(id);
                    axum::Json(serde_json::json!({ "status": "ok" }))
                },
            ),
        )
        .with_state(kicked.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, kicked)
}

/// MediaMTX's authentication request, as its documentation gives the body.
fn mediamtx_asks(action: &str, path: &str, ip: &str, user: &str, pass: &str) -> String {
    serde_json::json!({
        "user": user,
        "password": pass,
        "token": "",
        "ip": ip,
        "action": action,
        "path": path,
        "protocol": "rtmp",
        "id": CONN_ID,
        "query": if user.is_empty() { String::new() } else { format!("user={user}&pass={pass}") },
        "userAgent": ""
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mediamtx_asks_and_the_operator_alone_approves_a_drone() {
    let mut s = Settings::default();
    s.hotspot.enabled = true;
    s.hotspot.passphrase = "12345678".into();
    let pairing = std::sync::Arc::new(skycountd::mediamtx::pairing::Pairing::from_settings(
        &s,
        Some("Key4Pilot99"),
    ));
    let (api, kicked) = fake_control_api().await;
    let edge = skycountd::publish::pairing::Edge {
        pairing,
        listen: "0.0.0.0".parse().unwrap(),
        api: Some(skycountd::mediamtx::api::Client::new(
            api,
            Duration::from_secs(2),
        )),
    };
    let addr = start_pairing(
        StreamAccess::from_settings(&s, Ok("Key4Pilot99".into())),
        Some(edge),
    )
    .await;
    // MediaMTX on this box asks over loopback, as authHTTPAddress tells it.
    let auth_url = format!("http://{addr}/api/mediamtx/auth");
    let asks = |body: String| {
        send(
            "POST",
            auth_url.clone(),
            vec![("Host", format!("127.0.0.1:{}", addr.port()))],
            Some(body),
        )
    };
    let drone = "192.168.50.23";
    for (action, path, ip, user, pass, status) in [
        ("api", "", "127.0.0.1", "", "", 200),
        ("metrics", "", "127.0.0.1", "", "", 200),
        ("api", "", drone, "", "", 401),
        ("pprof", "", "127.0.0.1", "", "", 401),
        ("playback", "live/drone", "127.0.0.1", "", "", 401),
        ("read", "live/drone/view", drone, "", "", 200),
        ("read", "live/drone", "127.0.0.1", "", "", 200),
        ("read", "live/drone", drone, "", "", 401),
        ("publish", "live/drone/view", "127.0.0.1", "", "", 200),
        ("publish", "live/drone", drone, "drone", "Key4Pilot99", 200),
        ("publish", "live/drone", drone, "drone", "Key4Pilot98", 401),
        ("publish", "live/drone", drone, "", "", 401),
        (
            "launch",
            "live/drone",
            "127.0.0.1",
            "drone",
            "Key4Pilot99",
            401,
        ),
    ] {
        let a = asks(mediamtx_asks(action, path, ip, user, pass)).await;
        assert_eq!(a.status, status, "{action} {path} from {ip}: {}", a.body);
    }
    for bad in [
        "not json",
        r#"{"action": "publish", "ip": "nowhere"}"#,
        "[1, 2]",
    ] {
        let a = asks(bad.into()).await;
        assert_eq!(a.status, 400, "{bad}: {}", a.body);
    }

    // A viewer sees no request, and can neither allow nor refuse nor revoke.
    let choice = format!(r#"{{"address": "{drone}", "path": "live/drone"}}"#);
    // From the box's own page, with the operator's session cookie or none.
    let from_page =
        |cookie: Option<&str>, method: &'static str, path: &str, body: Option<String>| {
            let mut headers = vec![
                ("Host", "192.168.50.1".to_string()),
                ("Origin", "http://192.168.50.1".to_string()),
            ];
            headers.extend(cookie.map(|c| ("Cookie", c.to_string())));
            send(method, format!("http://{addr}{path}"), headers, body)
        };
    let viewer = |method: &'static str, path: &str, body: Option<String>| {
        from_page(None, method, path, body)
    };
    let a = viewer("GET", "/api/operator/pairing", None).await;
    assert_eq!(a.status, 401, "{}", a.body);
    assert!(!a.body.contains(drone), "{}", a.body);
    for action in ["allow", "refuse", "revoke"] {
        let a = viewer(
            "POST",
            &format!("/api/operator/pairing/{action}"),
            Some(choice.clone()),
        )
        .await;
        assert_eq!(a.status, 401, "a viewer's {action}: {}", a.body);
    }
    let a = viewer("GET", "/api/stream/info", None).await;
    assert!(!a.body.contains(drone), "{}", a.body);
    let a = viewer("GET", "/api/status", None).await;
    assert!(!a.body.contains(drone), "{}", a.body);
    // The drone asks again meanwhile (its app retries).
    let a = asks(mediamtx_asks("publish", "live/drone", drone, "", "")).await;
    assert_eq!(a.status, 401, "{}", a.body);

    // The operator sees the request, allows it; the drone's next attempt is let in.
    let cookie = sign_in(addr, "192.168.50.1").await;
    let operator = |method: &'static str, path: &str, body: Option<String>| {
        from_page(Some(&cookie), method, path, body)
    };
    let a = operator("GET", "/api/operator/pairing", None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.header("cache-control"), Some("no-store"));
    let listing: serde_json::Value = serde_json::from_str(&a.body).unwrap();
    assert_eq!(listing["enabled"], true);
    assert_eq!(listing["approval_minutes"], 1440);
    let requests = listing["requests"].as_array().unwrap();
    assert_eq!(requests.len(), 1, "{listing}");
    assert_eq!(requests[0]["address"], drone);
    assert_eq!(requests[0]["path"], "live/drone");
    assert!(requests[0]["attempts"].as_u64().unwrap() >= 2, "{listing}");
    let a = operator(
        "POST",
        "/api/operator/pairing/allow",
        Some(r#"{"address": "192.168.50.99", "path": "live/drone"}"#.into()),
    )
    .await;
    assert_eq!(a.status, 404, "{}", a.body);
    let a = operator("POST", "/api/operator/pairing/allow", Some("{}".into())).await;
    assert_eq!(a.status, 400, "{}", a.body);
    let a = operator("POST", "/api/operator/pairing/launch", Some(choice.clone())).await;
    assert_eq!(a.status, 404, "{}", a.body);
    let a = operator("POST", "/api/operator/pairing/allow", Some(choice.clone())).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let approval: serde_json::Value = serde_json::from_str(&a.body).unwrap();
    assert_eq!(
        approval["approval"]["expires_ms"].as_u64().unwrap()
            - approval["approval"]["approved_ms"].as_u64().unwrap(),
        24 * 3600 * 1000
    );
    let a = asks(mediamtx_asks("publish", "live/drone", drone, "", "")).await;
    assert_eq!(a.status, 200, "{}", a.body);
    // Only that address, only that path.
    let a = asks(mediamtx_asks(
        "publish",
        "live/drone",
        "192.168.50.24",
        "",
        "",
    ))
    .await;
    assert_eq!(a.status, 401, "{}", a.body);
    let a = asks(mediamtx_asks("publish", "live/drone/view", drone, "", "")).await;
    assert_eq!(a.status, 401, "{}", a.body);

    // Revoked: the stream it let in is ended through the Control API (MediaMTX's `id` of the
    // connection), and the drone is refused again, and waiting again.
    let a = operator("POST", "/api/operator/pairing/revoke", Some(choice.clone())).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let revoked: serde_json::Value = serde_json::from_str(&a.body).unwrap();
    assert_eq!(revoked["ended"], 1, "{revoked}");
    assert_eq!(*kicked.lock().unwrap(), [CONN_ID]);
    let a = asks(mediamtx_asks("publish", "live/drone", drone, "", "")).await;
    assert_eq!(a.status, 401, "{}", a.body);
    let a = operator("POST", "/api/operator/pairing/refuse", Some(choice.clone())).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let a = operator("GET", "/api/operator/pairing", None).await;
    let listing: serde_json::Value = serde_json::from_str(&a.body).unwrap();
    let left: Vec<_> = listing["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["address"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(left, ["192.168.50.24"], "{listing}");
    assert_eq!(listing["approvals"], serde_json::json!([]));
}
