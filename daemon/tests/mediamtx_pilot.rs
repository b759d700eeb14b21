//! The pilot's view over HTTP: the RTMP URL with the key, its QR code, and the captive portal's
//! redirects, from a real server on loopback.

use std::net::SocketAddr;
use std::time::Duration;

use skycountd::config::Settings;
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
        },
    )
}

async fn start(access: StreamAccess) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (app, io) = server::router(hub(), access, "/nonexistent/web".into(), None);
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

async fn get(url: String, host: &'static str) -> (u16, Option<String>, Option<String>, String) {
    tokio::task::spawn_blocking(move || {
        let mut r = agent().get(&url).header("Host", host).call().unwrap();
        let header = |n: &str| {
            r.headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let (ct, loc) = (header("content-type"), header("location"));
        let body = r.body_mut().read_to_string().unwrap_or_default();
        (r.status().as_u16(), ct, loc, body)
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pilot_sees_the_url_with_the_key_and_its_qr_code() {
    let mut s = Settings::default();
    s.hotspot.enabled = true;
    s.hotspot.passphrase = "12345678".into();
    let addr = start(StreamAccess::from_settings(&s, Ok("Key4Pilot99".into()))).await;

    let (status, _, _, body) = get(format!("http://{addr}/api/stream/info"), "192.168.50.1").await;
    assert_eq!(status, 200);
    let info: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        info["rtmp_url"],
        "rtmp://192.168.50.1:1935/live/drone?user=drone&pass=Key4Pilot99"
    );
    assert_eq!(
        info["whep_url"],
        "http://192.168.50.1:8889/live/drone/view/whep"
    );
    assert_eq!(info["qr_url"], "/api/stream/qr.svg");

    let (status, ct, _, svg) =
        get(format!("http://{addr}/api/stream/qr.svg"), "192.168.50.1").await;
    assert_eq!(status, 200);
    assert_eq!(ct.as_deref(), Some("image/svg+xml"));
    assert!(svg.contains("<svg") && svg.contains("</svg>"), "{svg}");

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
    let (_, _, _, body) = get(format!("http://{addr}/api/stream/info"), "10.0.0.7").await;
    let info: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(info["rtmp_url"], "rtmp://10.0.0.7:1935/live/drone");
    assert!(info["key_error"]
        .as_str()
        .unwrap()
        .contains("no stream key yet"));
    let (status, _, _, body) = get(format!("http://{addr}/api/stream/qr.svg"), "10.0.0.7").await;
    assert_eq!(status, 503);
    assert!(body.contains("no stream key"), "{body}");
    // No hotspot: the probe paths are the dashboard's like any other.
    let (status, _, location, _) = get(format!("http://{addr}/generate_204"), "10.0.0.7").await;
    assert_eq!((status, location), (200, None));
}
