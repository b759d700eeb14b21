//! What a hostile viewer (or a careless tool) sends, against the real daemon on loopback: none of
//! it may exhaust the box or get past its checks (issue 22).
//!
//! - The `Host` header: missing or repeated answers `400`; `0.0.0.0` is not one of the box's
//!   names.
//! - The CSRF check compares the whole `Origin` (scheme, host, port) and refuses one it cannot
//!   read.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;

const PIN: &str = "hostile-test-pin";

/// A source nothing answers on: the daemon serves without analysing.
fn nowhere() -> String {
    format!("rtmp://127.0.0.1:{}/live/none", free_port())
}

/// Sends `request` as it is and returns the answer's status line.
fn raw(port: u16, request: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !answer.windows(2).any(|w| w == b"\r\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or("")
        .to_string()
}

#[test]
fn the_host_must_be_one_and_the_box_s_and_the_origin_wholly_the_box_s() {
    let state = tempfile::tempdir().unwrap();
    let port = free_port();
    let d = Daemon::start(&test_config(
        &nowhere(),
        port,
        &tiny_model(),
        &operator_section(PIN, state.path()),
    ));
    let get = |host_lines: &str, version: &str| {
        raw(
            port,
            &format!("GET /api/status HTTP/{version}\r\n{host_lines}Connection: close\r\n\r\n"),
        )
    };
    let ok = format!("Host: 127.0.0.1:{port}\r\n");
    assert!(get(&ok, "1.1").contains(" 200 "), "the box's own address");
    assert!(
        get("", "1.1").contains(" 400 "),
        "no Host: {}",
        get("", "1.1")
    );
    assert!(
        get("", "1.0").contains(" 400 "),
        "no Host in HTTP/1.0 either"
    );
    let twice = format!("{ok}Host: evil.example\r\n");
    assert!(
        get(&twice, "1.1").contains(" 400 "),
        "two Hosts: {}",
        get(&twice, "1.1")
    );
    let unspecified = format!("Host: 0.0.0.0:{port}\r\n");
    assert!(
        get(&unspecified, "1.1").contains(" 421 "),
        "0.0.0.0 is nobody's name: {}",
        get(&unspecified, "1.1")
    );

    // A change from a page whose origin is not the box's own is refused, session or not.
    let cookie = sign_in(&d, PIN);
    let change = |origin: &[u8]| {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let body = br#"{"masks": []}"#;
        let mut req = format!(
            "PUT /api/operator/masks HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nCookie: {cookie}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\nOrigin: ",
            body.len()
        )
        .into_bytes();
        req.extend_from_slice(origin);
        req.extend_from_slice(b"\r\n\r\n");
        req.extend_from_slice(body);
        s.write_all(&req).unwrap();
        let mut answer = String::new();
        let _ = s.read_to_string(&mut answer);
        answer.lines().next().unwrap_or("").to_string()
    };
    let own = format!("http://127.0.0.1:{port}");
    assert!(
        change(own.as_bytes()).contains(" 200 "),
        "{}",
        change(own.as_bytes())
    );
    for foreign in [
        format!("evil://127.0.0.1:{port}"),
        format!("https://127.0.0.1:{port}"),
        format!("http://127.0.0.1:{}", port.wrapping_add(1)),
        "null".to_string(),
        "http://évil.example".to_string(),
        format!("http://127.0.0.1:{port}\u{00e9}"),
    ] {
        let line = change(foreign.as_bytes());
        assert!(line.contains(" 403 "), "Origin {foreign:?}: {line}");
    }
    // Bytes that are not text at all.
    let line = change(b"http://\xff\xfe.example");
    assert!(line.contains(" 403 "), "{line}");
}
