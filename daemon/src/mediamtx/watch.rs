//! The watch: polls MediaMTX's Control API every `mediamtx.poll_ms` and emits what it means
//! ([`Event::MediaMtx`]). It never stops skycountd: a media server that does not answer is
//! reported as such and asked again at the next tick.
//!
//! When a drone (re)appears on the ingest path, or replaces its own stale session (a new source
//! id: MediaMTX then drops every reader, its issue 5242), the watch emits
//! [`Event::PublisherChanged`]; `skycountd run` then asks the engine to re-attach at once instead
//! of waiting out its backoff.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::api::{interpret, Client, Context, Path};
use crate::config::Settings;
use crate::event::{Event, EventSink};

/// What the watch needs from the configuration.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    pub api: SocketAddr,
    pub every: Duration,
    pub ingest: String,
    /// The browsers' path, when it is not the ingest path.
    pub view: Option<String>,
    /// Where the pilot publishes, without the key, for "no drone on …".
    pub publish_url: String,
    /// Whether to list every path that has a publisher (several drones: `Event::Published`).
    pub list_paths: bool,
}

impl WatchOptions {
    pub fn from_settings(s: &Settings) -> Self {
        let host = if s.hotspot.enabled {
            s.hotspot.box_addr().to_string()
        } else {
            "<box>".into()
        };
        Self {
            api: s.mediamtx.api,
            every: Duration::from_millis(s.mediamtx.poll_ms),
            ingest: s.stream.path.clone(),
            view: s
                .mediamtx
                .always_available
                .then(|| s.stream.view_path.clone()),
            publish_url: format!("rtmp://{host}:{}/{}", s.stream.rtmp_port, s.stream.path),
            // Several drones are read from MediaMTX only when the configured one is.
            list_paths: s.drone_prefix().is_some(),
        }
    }
}

/// How long a drone must be online before a viewers' path that is not is reported as refused.
const SETTLE: Duration = Duration::from_secs(3);

/// The memory of the watch between polls: what turns answers into events.
#[derive(Debug, Default)]
pub struct Tracker {
    online_since: Option<Instant>,
    source_id: Option<String>,
    version: Option<String>,
}

impl Tracker {
    /// Notes the ingest path's answer; true when the decoder should re-attach now: the drone
    /// came online, or a new session replaced the one it was reading.
    pub fn observe(&mut self, ingest: Option<&Path>, now: Instant) -> bool {
        let online = ingest.is_some_and(Path::is_online);
        let id = ingest
            .filter(|p| p.is_online())
            .and_then(|p| p.source.as_ref())
            .map(|s| s.id.clone());
        let was_online = self.online_since.is_some();
        let reattach = match (was_online, online) {
            (false, true) => true,
            (true, true) => id.is_some() && self.source_id.is_some() && id != self.source_id,
            _ => false,
        };
        if online && (!was_online || reattach) {
            self.online_since = Some(now);
        } else if !online {
            self.online_since = None;
        }
        self.source_id = id;
        reattach
    }

    fn settled(&self, now: Instant) -> bool {
        self.online_since
            .is_some_and(|t| now.saturating_duration_since(t) >= SETTLE)
    }
}

/// One poll: asks the API and emits what it means.
pub fn poll_once(client: &Client, opts: &WatchOptions, tracker: &mut Tracker, events: &EventSink) {
    let ingest = client.path(&opts.ingest);
    let now = Instant::now();
    if ingest.is_ok() && tracker.version.is_none() {
        tracker.version = client.info().ok().map(|i| i.version);
    } else if ingest.is_err() {
        // Ask again once it answers: it may have been restarted with another version.
        tracker.version = None;
    }
    let view = match (&opts.view, &ingest) {
        (Some(v), Ok(_)) => Some(client.path(v)),
        _ => None,
    };
    if tracker.observe(ingest.as_ref().ok(), now) {
        log::info!(
            "a drone is publishing to {}: re-attaching at once",
            opts.ingest
        );
        events.emit(Event::PublisherChanged);
    }
    let ctx = Context {
        publish_url: opts.publish_url.clone(),
        api: opts.api,
        separate_view_path: opts.view.is_some(),
        settled: tracker.settled(now),
        // No decoder reports B-frames yet: MediaMTX's profile is what tells.
        b_frames_seen: None,
    };
    let answered = ingest.is_ok();
    events.emit(Event::MediaMtx(interpret(
        ingest,
        view,
        tracker.version.clone(),
        &ctx,
    )));
    // Every drone publishing, for the roster (several streams). Not asked of a server that
    // did not answer: a roster must not take a dead server for "no drone".
    if opts.list_paths && answered {
        match client.published() {
            Ok(paths) => events.emit(Event::Published(paths)),
            Err(e) => log::debug!("the media server's path list: {e}"),
        }
    }
}

/// Polls until `stop` is cancelled.
pub async fn run(events: EventSink, opts: WatchOptions, stop: CancellationToken) {
    let client = Client::new(
        opts.api,
        opts.every
            .clamp(Duration::from_millis(200), Duration::from_secs(2)),
    );
    let mut tracker = Tracker::default();
    let mut tick = tokio::time::interval(opts.every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.cancelled() => return,
        }
        let (client, o, e) = (client.clone(), opts.clone(), events.clone());
        let mut t = std::mem::take(&mut tracker);
        match tokio::task::spawn_blocking(move || {
            poll_once(&client, &o, &mut t, &e);
            t
        })
        .await
        {
            Ok(t) => tracker = t,
            Err(e) => log::error!("the MediaMTX watch failed: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mediamtx::api::PathSource;

    fn path(online: bool, id: &str) -> Path {
        Path {
            online: Some(online),
            source: online.then(|| PathSource {
                kind: "rtmpConn".into(),
                id: id.into(),
            }),
            ..Path::default()
        }
    }

    #[test]
    fn a_drone_that_appears_or_replaces_itself_asks_for_a_reattach() {
        let mut t = Tracker::default();
        let now = Instant::now();
        assert!(!t.observe(Some(&path(false, "")), now), "nobody yet");
        assert!(t.observe(Some(&path(true, "a")), now), "drone appears");
        assert!(!t.observe(Some(&path(true, "a")), now), "same session");
        assert!(
            t.observe(Some(&path(true, "b")), now),
            "drone reconnected (5242)"
        );
        assert!(!t.observe(None, now), "API down: nothing to do");
        assert!(t.observe(Some(&path(true, "b")), now), "back: attach now");
        assert!(!t.observe(Some(&path(false, "")), now));
    }

    #[test]
    fn the_viewers_path_is_judged_only_once_settled() {
        let mut t = Tracker::default();
        let t0 = Instant::now();
        t.observe(Some(&path(true, "a")), t0);
        assert!(!t.settled(t0 + Duration::from_secs(1)));
        assert!(t.settled(t0 + SETTLE));
    }
}
