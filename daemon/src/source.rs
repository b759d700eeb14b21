//! Source: where frames come from, and what state the stream is in.
//!
//! This module is plain Rust with no GStreamer in it: it parses the source URL, keeps the
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

use serde::Serialize;

/// The source URL, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceUrl {
    Rtmp(String),
    Rtsp(String),
    /// A local file (a recorded flight).
    File(std::path::PathBuf),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SourceUrlError {
    #[error("{0:?} is not a URL skycountd can read: use rtmp://, rtsp:// or file://")]
    Scheme(String),
    #[error("{0:?} names no host: use e.g. rtmp://127.0.0.1:1935/live/drone")]
    NoHost(String),
    #[error("{0:?} names no file: use file:///absolute/path.mp4")]
    NoPath(String),
}

impl SourceUrl {
    pub fn parse(url: &str) -> Result<Self, SourceUrlError> {
        let url = url.trim();
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| SourceUrlError::Scheme(url.into()))?;
        match scheme.to_ascii_lowercase().as_str() {
            "rtmp" | "rtmps" | "rtsp" | "rtsps" => {
                let host = rest.split(['/', '?']).next().unwrap_or_default();
                if host.is_empty() {
                    return Err(SourceUrlError::NoHost(url.into()));
                }
                Ok(if scheme.starts_with("rtmp") {
                    Self::Rtmp(url.into())
                } else {
                    Self::Rtsp(url.into())
                })
            }
            "file" => {
                // file:///abs/path or file://localhost/abs/path
                let path = rest.strip_prefix("localhost").unwrap_or(rest);
                if !path.starts_with('/') || path.len() < 2 {
                    return Err(SourceUrlError::NoPath(url.into()));
                }
                Ok(Self::File(percent_decode(path).into()))
            }
            _ => Err(SourceUrlError::Scheme(url.into())),
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
}

impl fmt::Display for SourceUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

fn redact(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, _)) => (b, Some("?…")),
        None => (url, None),
    };
    let base = match base.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('@') {
            Some((_, host)) if !host.contains('/') || rest.find('@') < rest.find('/') => {
                format!("{scheme}://…@{host}")
            }
            _ => base.to_string(),
        },
        None => base.to_string(),
    };
    format!("{base}{}", query.unwrap_or(""))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
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
        assert!(matches!(
            SourceUrl::parse("rtsp://box:8554/a"),
            Ok(SourceUrl::Rtsp(_))
        ));
        assert_eq!(
            SourceUrl::parse("file:///var/flights/a%20b.mp4"),
            Ok(SourceUrl::File("/var/flights/a b.mp4".into()))
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
            SourceUrl::parse("file://relative.mp4"),
            Err(SourceUrlError::NoPath(_))
        ));
        assert!(!SourceUrl::parse("file:///a.mp4").unwrap().is_live());
    }

    #[test]
    fn secrets_are_hidden() {
        let u = SourceUrl::parse("rtsp://user:pw@127.0.0.1:8554/live?key=secret").unwrap();
        assert_eq!(u.redacted(), "rtsp://…@127.0.0.1:8554/live?…");
        let u = SourceUrl::parse("rtmp://127.0.0.1/live/drone").unwrap();
        assert_eq!(u.redacted(), "rtmp://127.0.0.1/live/drone");
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
