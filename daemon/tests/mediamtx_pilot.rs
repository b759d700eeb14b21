//! The pilot's view over HTTP: the RTMP URL with the key and its QR code for the operator only,
//! the operator's sign-in, the names the box answers to, the security headers and the captive
//! portal's redirects, from a real server on loopback.

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
