//! Source: where frames come from, and what state the stream is in.
//!
//! This module is plain Rust with no GStreamer in it: it checks the source URL, keeps the
//! stream's state machine and computes the backoff between attempts to attach. The GStreamer
//! edge in [`crate::decode`] drives it with what it sees (a frame arrived, the pipeline failed)
//! and with the clock.
//!
//! ```text
//!              first frame                 no frame for stall_ms
//!   waiting ──────────────▶ live ───────────────────────────────▶ stalled
//!      ▲                     ▲  ◀──────────── frame ──────────────┘  │
//!      │                     │                                       │ reconnect_after_ms,
//!      │                     └──── first frame ──── reconnecting ◀───┘ or an error / end
//!      └── (only at start: never attached yet)
//! ```

use std::fmt;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// The source URL, checked: what `source.url`, `source.demo_url` and `skycountd analyze` take.
///
/// It is parsed once, with the `url` crate, where it enters (the configuration's deserializer,
/// or [`str::parse`] for a command-line argument); the pipeline receives this type, never the
/// string. Live URLs are kept as written (GStreamer gets exactly what the user gave); a file URL
/// becomes its percent-decoded path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceUrl {
    /// rtmp:// or rtmps://
    Rtmp(String),
    /// rtsp:// or rtsps://
    Rtsp(String),
    /// A local file (a recorded flight).
    File(std::path::PathBuf),
}

/// The longest source URL taken, in bytes: far beyond any real one (a host, a port, a path and a
/// key), short enough that no URL can flood a log or a status line.
pub const MAX_URL_BYTES: usize = 2048;

/// What an error shows of a URL it refuses: its start, never more than a line of it.
const SHOWN_CHARS: usize = 80;

/// Why a source URL is refused. Each shows at most [`SHOWN_CHARS`] characters of the URL (see
/// [`shown`]), so that a huge or binary value never floods the error.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SourceUrlError {
    #[error("{0} is not a URL skycountd can read: use rtmp://, rtsp:// or file://")]
    Scheme(String),
    #[error("{0} names no host: use e.g. rtmp://127.0.0.1:1935/live/drone")]
    NoHost(String),
    #[error("{0} names no file: use file:///absolute/path.mp4")]
    NoPath(String),
    #[error("{0} is not a valid URL ({1}): use e.g. rtsp://127.0.0.1:8554/live/drone")]
    Malformed(String, String),
    #[error("the URL is {len} bytes long ({start} …): at most {MAX_URL_BYTES} are taken; check that the value is the URL alone")]
    TooLong { len: usize, start: String },
    #[error("{url} contains the control character {ch:?}{decoded}: a URL is printable text (write a space in a file name as %20)")]
    Control {
        url: String,
        ch: char,
        decoded: &'static str,
    },
}

/// `text` quoted for an error, cut after [`SHOWN_CHARS`] characters.
fn shown(text: &str) -> String {
    match text.char_indices().nth(SHOWN_CHARS) {
        None => format!("{text:?}"),
        Some((i, _)) => format!("{:?}…", &text[..i]),
    }
}

impl SourceUrl {
    /// Checks `url` (see [`SourceUrl`]); the same as `url.parse()`. Refused besides what the
    /// `url` crate refuses: more than [`MAX_URL_BYTES`], and control characters, raw or
    /// percent-encoded in a file's path (GStreamer takes C strings: a NUL would cut the path, or
    /// panic in glib).
    pub fn parse(url: &str) -> Result<Self, SourceUrlError> {
        let text = url.trim();
        if text.len() > MAX_URL_BYTES {
            return Err(SourceUrlError::TooLong {
                len: text.len(),
                start: shown(text),
            });
        }
        if let Some(ch) = text.chars().find(|c| c.is_control()) {
            return Err(SourceUrlError::Control {
                url: shown(text),
                ch,
                decoded: "",
            });
        }
        let parsed = url::Url::parse(text).map_err(|e| match e {
            url::ParseError::RelativeUrlWithoutBase => SourceUrlError::Scheme(shown(text)),
            url::ParseError::EmptyHost => SourceUrlError::NoHost(shown(text)),
            other => SourceUrlError::Malformed(shown(text), other.to_string()),
        })?;
        match parsed.scheme() {
            scheme @ ("rtmp" | "rtmps" | "rtsp" | "rtsps") => {
                if parsed.host_str().is_none_or(str::is_empty) {
                    return Err(SourceUrlError::NoHost(shown(text)));
                }
                Ok(if scheme.starts_with("rtmp") {
                    Self::Rtmp(text.into())
                } else {
                    Self::Rtsp(text.into())
                })
            }
            // file:///abs/path or file://localhost/abs/path, percent-decoded.
            "file" => match parsed.to_file_path() {
                Ok(path) if path.as_os_str().len() > 1 => {
                    let decoded = path.to_string_lossy();
                    if let Some(ch) = decoded.chars().find(|c| c.is_control()) {
                        return Err(SourceUrlError::Control {
                            url: shown(text),
                            ch,
                            decoded: " (percent-encoded)",
                        });
                    }
                    Ok(Self::File(path))
                }
                _ => Err(SourceUrlError::NoPath(shown(text))),
            },
            _ => Err(SourceUrlError::Scheme(shown(text))),
        }
    }

    /// Whether frames arrive at the pace of the world (and must not be waited for).
    pub fn is_live(&self) -> bool {
        !matches!(self, Self::File(_))
    }

    /// The URL with any credentials or stream key hidden, for logs and the dashboard.
    pub fn redacted(&self) -> String {
        match self {
            Self::Rtmp(u) | Self::Rtsp(u) => redact(u),
            Self::File(p) => format!("file://{}", p.display()),
        }
    }

    /// The URL in full, credentials included, as it loads again (`check-config`'s TOML): a live
    /// URL as written, a file as a `file://` URL with its path percent-encoded.
    pub fn as_url(&self) -> String {
        match self {
            Self::Rtmp(u) | Self::Rtsp(u) => u.clone(),
            Self::File(p) => url::Url::from_file_path(p)
                .map(String::from)
                .unwrap_or_else(|()| format!("file://{}", p.display())),
        }
    }
}

impl std::str::FromStr for SourceUrl {
    type Err = SourceUrlError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// The redacted form (see [`SourceUrl::redacted`]): what may be shown.
impl fmt::Display for SourceUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// As the full URL (see [`SourceUrl::as_url`]), so that a serialized configuration loads again.
impl Serialize for SourceUrl {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.as_url())
    }
}

impl<'de> Deserialize<'de> for SourceUrl {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// `url` with its user name, password, query (where MediaMTX's RTMP form carries the key) and
/// fragment replaced by `…`. `url` was checked by [`SourceUrl::parse`].
fn redact(url: &str) -> String {
    let Ok(u) = url::Url::parse(url.trim()) else {
        return "(unreadable URL)".into();
    };
    let mut out = format!("{}://", u.scheme());
    if !u.username().is_empty() || u.password().is_some() {
        out.push_str("…@");
    }
    out.push_str(u.host_str().unwrap_or_default());
    if let Some(port) = u.port() {
        out.push_str(&format!(":{port}"));
    }
    out.push_str(u.path());
    if u.query().is_some() {
        out.push_str("?…");
    }
    if u.fragment().is_some() {
        out.push_str("#…");
    }
    out
}

/// What the dashboard shows about the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StreamState {
    /// Never attached yet: no drone has streamed since the daemon started.
    Waiting,
    /// Frames are arriving.
    Live,
    /// Attached, but no frame for `stall_ms`.
    Stalled,
    /// The stream was lost; attaching again with backoff.
    Reconnecting,
}

impl StreamState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Live => "live",
            Self::Stalled => "stalled",
            Self::Reconnecting => "reconnecting",
        }
    }

    /// Its number in the `skycount_stream_state` metric.
    pub fn code(self) -> i64 {
        match self {
            Self::Waiting => 0,
            Self::Live => 1,
            Self::Stalled => 2,
            Self::Reconnecting => 3,
        }
    }
}

impl fmt::Display for StreamState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Exponential backoff between attempts, capped.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max,
            next: initial,
        }
    }

    /// The wait before the next attempt; each call doubles the one after, up to the cap.
    pub fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(self.max);
        d
    }

    /// After a success, start again from the initial wait.
    pub fn reset(&mut self) {
        self.next = self.initial;
    }
}

/// What the supervisor must do after telling the tracker the time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Keep the pipeline.
    Keep,
    /// Tear the pipeline down and attach again.
    Reattach,
}

/// The stream's state machine. It knows nothing of GStreamer: the caller reports frames,
/// failures and the time.
///
/// The state follows the time since the last frame, whatever happened to the pipeline: frames
/// that stopped a moment ago are `stalled` (the supervisor may already be attaching again behind
/// the scenes), frames that stopped `reconnect_after` ago are `reconnecting`. A pipeline is
/// replaced when it gave no frame for `reconnect_after`.
#[derive(Debug, Clone)]
pub struct StreamTracker {
    state: StreamState,
    since: Instant,
    /// The last frame of any pipeline: what the state follows.
    last_frame: Option<Instant>,
    created: Instant,
    attached_at: Instant,
    /// Whether the current pipeline has delivered a frame.
    attached_live: bool,
    stall: Duration,
    reconnect_after: Duration,
    error: Option<String>,
}

impl StreamTracker {
    pub fn new(now: Instant, stall: Duration, reconnect_after: Duration) -> Self {
        Self {
            state: StreamState::Waiting,
            since: now,
            last_frame: None,
            created: now,
            attached_at: now,
            attached_live: false,
            stall,
            reconnect_after,
            error: None,
        }
    }

    pub fn state(&self) -> StreamState {
        self.state
    }

    /// When the current state began.
    pub fn since(&self) -> Instant {
        self.since
    }

    /// How long the source has given no frame (since the start, when it never has).
    pub fn quiet_for(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.last_frame.unwrap_or(self.created))
    }

    /// The last failure, in words, until the stream is live again.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    fn set(&mut self, state: StreamState, now: Instant) {
        if self.state != state {
            self.state = state;
            self.since = now;
        }
    }

    /// A new pipeline is attaching.
    pub fn attaching(&mut self, now: Instant) {
        self.attached_at = now;
        self.attached_live = false;
    }

    /// A decoded frame arrived.
    pub fn frame(&mut self, now: Instant) {
        self.last_frame = Some(now);
        self.attached_live = true;
        self.error = None;
        self.set(StreamState::Live, now);
    }

    /// The pipeline failed or ended: it must be rebuilt. The frames have stopped.
    pub fn failed(&mut self, now: Instant, reason: impl Into<String>) {
        self.error = Some(reason.into());
        self.attached_live = false;
        if self.state == StreamState::Live {
            self.set(StreamState::Stalled, now);
        }
        self.escalate(now);
    }

    /// Moves stalled → reconnecting as time passes without frames (never back: only a frame
    /// makes the stream live again).
    fn escalate(&mut self, now: Instant) {
        let Some(last) = self.last_frame else {
            return; // never live: waiting
        };
        let quiet = now.saturating_duration_since(last);
        if quiet >= self.reconnect_after {
            if self.error.is_none() {
                self.error = Some(format!("no frame for {} ms", quiet.as_millis()));
            }
            self.set(StreamState::Reconnecting, now);
        } else if quiet >= self.stall && self.state == StreamState::Live {
            self.set(StreamState::Stalled, now);
        }
    }

    /// Called regularly: updates the state with the time, and says when the attached pipeline
    /// has given nothing for too long and should be replaced.
    pub fn tick(&mut self, now: Instant) -> Verdict {
        self.escalate(now);
        let quiet_since = if self.attached_live {
            self.last_frame.unwrap_or(self.attached_at)
        } else {
            self.attached_at
        };
        if now.saturating_duration_since(quiet_since) >= self.reconnect_after {
            Verdict::Reattach
        } else {
            Verdict::Keep
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked() {
        assert_eq!(
            SourceUrl::parse("rtmp://127.0.0.1:1935/live/drone"),
            Ok(SourceUrl::Rtmp("rtmp://127.0.0.1:1935/live/drone".into()))
        );
        assert_eq!(
            SourceUrl::parse(" RTMPS://box/live/drone?user=drone&pass=k "),
            Ok(SourceUrl::Rtmp(
                "RTMPS://box/live/drone?user=drone&pass=k".into()
            )),
            "kept as written, trimmed"
        );
        assert!(matches!(
            SourceUrl::parse("rtsp://box:8554/a"),
            Ok(SourceUrl::Rtsp(_))
        ));
        assert!(matches!(
            SourceUrl::parse("rtsps://[::1]:8322/a"),
            Ok(SourceUrl::Rtsp(_))
        ));
        assert_eq!(
            SourceUrl::parse("file:///var/flights/a%20b.mp4"),
            Ok(SourceUrl::File("/var/flights/a b.mp4".into()))
        );
        assert_eq!(
            SourceUrl::parse("file://localhost/var/flights/%C3%BC.mp4"),
            Ok(SourceUrl::File("/var/flights/ü.mp4".into()))
        );
        assert!(matches!(
            SourceUrl::parse("http://x/y"),
            Err(SourceUrlError::Scheme(_))
        ));
        assert!(matches!(
            SourceUrl::parse("/var/a.mp4"),
            Err(SourceUrlError::Scheme(_))
        ));
        assert!(matches!(
            SourceUrl::parse("rtmp:///live"),
            Err(SourceUrlError::NoHost(_))
        ));
        assert!(matches!(
            SourceUrl::parse("rtsp://"),
            Err(SourceUrlError::NoHost(_))
        ));
        assert!(matches!(
            SourceUrl::parse("file://relative.mp4"),
            Err(SourceUrlError::NoPath(_))
        ));
        assert!(matches!(
            SourceUrl::parse("file:///"),
            Err(SourceUrlError::NoPath(_))
        ));
        assert!(matches!(
            SourceUrl::parse("rtsp://box:99999/a"),
            Err(SourceUrlError::Malformed(..))
        ));
        assert!(!SourceUrl::parse("file:///a.mp4").unwrap().is_live());
        assert!("rtsp://box/a".parse::<SourceUrl>().unwrap().is_live());
    }

    #[test]
    fn huge_urls_and_control_characters_are_refused_without_echoing_them() {
        // The issue's probes: a 20 MB URL, and a NUL (which panicked in glib in debug builds).
        let huge = format!("rtmp://box/{}", "a".repeat(20 << 20));
        let err = SourceUrl::parse(&huge).unwrap_err();
        assert!(matches!(err, SourceUrlError::TooLong { len, .. } if len == huge.len()));
        let text = err.to_string();
        assert!(text.len() < 300, "{} bytes of error", text.len());
        assert!(text.contains("at most 2048"), "{text}");
        let at_limit = format!("rtmp://box/{}", "a".repeat(MAX_URL_BYTES - 11));
        assert!(SourceUrl::parse(&at_limit).is_ok());

        for bad in [
            "rtmp://box/live\0drone",
            "file:///var/a\0.mp4",
            "rtsp://box/a\nb",
        ] {
            let err = SourceUrl::parse(bad).unwrap_err();
            assert!(
                matches!(err, SourceUrlError::Control { .. }),
                "{bad:?}: {err}"
            );
            assert!(err.to_string().contains("control character"), "{err}");
        }
        let err = SourceUrl::parse("file:///var/a%00b.mp4").unwrap_err();
        assert!(
            err.to_string().contains("'\\0'") && err.to_string().contains("percent-encoded"),
            "{err}"
        );
        // In a live URL a percent-encoded NUL stays encoded: GStreamer gets printable text.
        assert!(SourceUrl::parse("rtsp://box/a%00b").is_ok());
        // A long bad URL is shown by its start.
        let err = SourceUrl::parse(&format!("http://{}", "x".repeat(1000))).unwrap_err();
        assert!(err.to_string().len() < 200, "{err}");
    }

    #[test]
    fn secrets_are_hidden() {
        let u = SourceUrl::parse("rtsp://user:pw@127.0.0.1:8554/live?key=secret").unwrap();
        assert_eq!(u.redacted(), "rtsp://…@127.0.0.1:8554/live?…");
        assert_eq!(u.to_string(), u.redacted(), "Display is the redacted form");
        let u = SourceUrl::parse("rtmp://127.0.0.1/live/drone").unwrap();
        assert_eq!(u.redacted(), "rtmp://127.0.0.1/live/drone");
        let u = SourceUrl::parse("rtmp://box:1935/live/drone?user=drone&pass=Key1").unwrap();
        assert_eq!(u.redacted(), "rtmp://box:1935/live/drone?…");
        let u = SourceUrl::parse("rtsp://only-user@box/a").unwrap();
        assert_eq!(u.redacted(), "rtsp://…@box/a");
        // An @ in the path is no credential.
        let u = SourceUrl::parse("rtsp://box/a@b").unwrap();
        assert_eq!(u.redacted(), "rtsp://box/a@b");
    }

    #[test]
    fn urls_serialize_in_full_and_load_again() {
        for text in [
            "rtsp://user:pw@127.0.0.1:8554/live?key=secret",
            "rtmp://box/live/drone",
            "file:///var/flights/a%20b.mp4",
        ] {
            let u = SourceUrl::parse(text).unwrap();
            assert_eq!(u.as_url(), text);
            let json = serde_json::to_string(&u).unwrap();
            assert_eq!(serde_json::from_str::<SourceUrl>(&json).unwrap(), u);
        }
        let err = serde_json::from_str::<SourceUrl>("\"http://x\"").unwrap_err();
        assert!(
            err.to_string().contains("rtmp://, rtsp:// or file://"),
            "{err}"
        );
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(200), Duration::from_millis(1000));
        let waits: Vec<u128> = (0..5).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(waits, [200, 400, 800, 1000, 1000]);
        b.reset();
        assert_eq!(b.next_delay().as_millis(), 200);
    }

    #[test]
    fn state_machine_walks_live_stalled_reconnecting_live() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut t = StreamTracker::new(t0, ms(1000), ms(3000));
        assert_eq!(t.state(), StreamState::Waiting);
        // Nothing arrives: waiting, and the attach is retried after reconnect_after.
        assert_eq!(t.tick(t0 + ms(500)), Verdict::Keep);
        assert_eq!(t.tick(t0 + ms(3000)), Verdict::Reattach);
        assert_eq!(t.state(), StreamState::Waiting, "never live: still waiting");
        t.attaching(t0 + ms(3100));
        t.frame(t0 + ms(3200));
        assert_eq!(t.state(), StreamState::Live);
        assert_eq!(t.tick(t0 + ms(4000)), Verdict::Keep);
        assert_eq!(t.state(), StreamState::Live);
        assert_eq!(t.tick(t0 + ms(4300)), Verdict::Keep);
        assert_eq!(t.state(), StreamState::Stalled);
        // Frames come back before reconnect_after: live again, no reattach.
        t.frame(t0 + ms(5000));
        assert_eq!(t.state(), StreamState::Live);
        assert_eq!(t.tick(t0 + ms(8000)), Verdict::Reattach);
        assert_eq!(t.state(), StreamState::Reconnecting);
        assert!(t.error().unwrap().contains("no frame for"));
        t.attaching(t0 + ms(8200));
        assert_eq!(t.tick(t0 + ms(9000)), Verdict::Keep);
        assert_eq!(t.state(), StreamState::Reconnecting);
        t.frame(t0 + ms(9100));
        assert_eq!(t.state(), StreamState::Live);
        assert_eq!(t.error(), None);
    }

    #[test]
    fn a_stream_that_ends_is_stalled_then_reconnecting_across_reattaches() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut t = StreamTracker::new(t0, ms(1000), ms(3000));
        t.frame(t0);
        // The publisher disconnects: the server ends the stream at once.
        t.failed(t0 + ms(100), "the stream ended");
        assert_eq!(t.state(), StreamState::Stalled);
        // Attached again at once; still nothing.
        t.attaching(t0 + ms(300));
        assert_eq!(t.tick(t0 + ms(1500)), Verdict::Keep);
        assert_eq!(
            t.state(),
            StreamState::Stalled,
            "not live again without a frame"
        );
        t.failed(t0 + ms(1600), "the stream ended");
        t.attaching(t0 + ms(2000));
        assert_eq!(t.tick(t0 + ms(3000)), Verdict::Keep);
        assert_eq!(t.state(), StreamState::Reconnecting);
        assert_eq!(t.error(), Some("the stream ended"));
        t.frame(t0 + ms(3500));
        assert_eq!(t.state(), StreamState::Live);
    }

    #[test]
    fn failures_before_and_after_first_frame() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut t = StreamTracker::new(t0, ms(1000), ms(3000));
        t.failed(t0 + ms(10), "connection refused");
        assert_eq!(t.state(), StreamState::Waiting);
        assert_eq!(t.error(), Some("connection refused"));
        t.frame(t0 + ms(20));
        t.failed(t0 + ms(30), "end of stream");
        assert_eq!(t.state(), StreamState::Stalled);
        assert_eq!(t.since(), t0 + ms(30));
        t.tick(t0 + ms(3020));
        assert_eq!(t.state(), StreamState::Reconnecting);
    }
}
