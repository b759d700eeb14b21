//! `skycountd run`: the engine, the viewers' server and the MediaMTX watch, as a service.
//!
//! ```text
//!   Engine (source + model threads) ─┐
//!   MediaMTX watch ──────────────────┴─▶ events ─▶ Hub ─▶ axum + socketioxide: /api/*, /metrics,
//!                                          │        │       Socket.IO, the dashboard
//!                                          │        ├─ feed() ─▶ history recorder ─▶ SQLite
//!                                          │        └─ feed() ─▶ MQTT publisher (when [mqtt] is on)
//!                                          └─ PublisherChanged ─▶ engine.reattach()
//!   updater (software updates: uploads, USB sticks, RAUC) ─▶ /api/update, /api/operator/update/*
//! ```
//!
//! One [`CancellationToken`] stops everything that is async (the server, the watch, the event
//! loop); the history recorder is stopped once the engine has (it writes what it holds, the
//! engine's last analyses included, before it returns); the engine has its own and is stopped through [`Engine::shutdown`]; the MQTT publisher says
//! `offline` to its broker before it ends. SIGTERM and SIGINT
//! stop the daemon within 2 s; SIGHUP reads the configuration again and applies what can change
//! safely while running: the source, the decoder, the model, the analysis grid and the log level.
//! A configuration that no longer loads is reported and the running one kept.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;

use crate::commands::operator::BoxOperator;
use crate::config::{self, Settings};
use crate::engine::progress::Limits;
use crate::engine::roster::{Change, Roster};
use crate::engine::{model, Engine, EngineOptions};
use crate::event::{self, Event, Events};
use crate::mediamtx;
use crate::publish::auth::Auth;
use crate::publish::hub::Hub;
use crate::publish::server::{self, StreamAccess};
use crate::sample::StreamId;
use crate::service;
use crate::store::models::ModelShelf;
use crate::store::Store;

/// How long stopping may take in all (systemd's TimeoutStopSec is longer; the README says 2 s).
const STOP_WITHIN: Duration = Duration::from_millis(1500);

/// Runs the daemon until SIGTERM or SIGINT.
pub async fn run(config_path: Option<PathBuf>, settings: Settings) -> anyhow::Result<()> {
    crate::decode::pipeline::init().map_err(anyhow::Error::msg)?;
    let opts = EngineOptions::from_settings(&settings, false);
    let hub = Hub::new(
        opts.decode.url.redacted(),
        model::report_for(&settings.model),
    );

    let listener = tokio::net::TcpListener::bind(settings.server.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} (server.listen): is another program using the port, or does binding it need CAP_NET_BIND_SERVICE?",
                settings.server.listen
            )
        })?;

    let (events, events_rx) = event::channel();
    // An uploaded model runs instead of model.path until it is rolled back.
    let shelf = ModelShelf::new(&settings.analysis.state_dir);
    let uploaded = shelf.current_path();
    if let Some(p) = &uploaded {
        log::info!(
            "running the uploaded model {} (not model.path)",
            p.display()
        );
    }
    let mut engine = Engine::start_with_model(opts, events.clone(), uploaded)?;
    let watchdog = service::watchdog_interval();
    if let Some(every) = watchdog {
        // Pinged every half of WatchdogSec: a loop silent for a whole WatchdogSec is stuck.
        engine.set_progress_limits(Limits::for_watchdog(every * 2));
    }
    let engine = Arc::new(engine);
    let stop = CancellationToken::new();

    // The pilot's key: generated and kept on first start when the TOML has none. Without it the
    // daemon still counts; the dashboard says why there is no URL to publish to.
    let key = mediamtx::key::resolve(&settings.stream, true);
    if let Err(e) = &key {
        log::warn!("no stream key to show the pilot: {e}");
    }
    let operator = BoxOperator::start(
        engine.clone(),
        hub.clone(),
        Store::new(&settings.analysis.state_dir, &settings.source_url())
            .keeping_frames(settings.analysis.max_frozen_frames as usize),
        settings.source_url().redacted(),
        shelf,
    );
    // Software updates (RAUC): asks for RAUC's presence once, off the async workers.
    let updater = {
        let u = settings.update.clone();
        tokio::task::spawn_blocking(move || crate::update::Updater::new(u)).await?
    };
    tokio::spawn(updater.clone().watch_usb(stop.clone()));
    // MediaMTX asks skycountd who may publish when pairing is on (mediamtx::pairing); its
    // approvals live as long as this process.
    let pairing = settings
        .stream
        .pairing
        .then(|| crate::publish::pairing::Edge {
            pairing: Arc::new(crate::mediamtx::pairing::Pairing::from_settings(
                &settings,
                key.as_deref().ok(),
            )),
            listen: settings.server.listen.ip(),
            // A revoked approval's stream is ended through the Control API.
            api: Some(mediamtx::api::Client::new(
                settings.mediamtx.api,
                Duration::from_secs(2),
            )),
        });
    let (app, io) = server::router(
        hub.clone(),
        StreamAccess::from_settings(&settings, key),
        settings.server.web_dir.clone(),
        Some(Arc::new(operator.clone())),
        Arc::new(Auth::from_settings(&settings)),
        settings
            .history
            .enabled
            .then(|| settings.history.db_path(&settings.analysis.state_dir)),
        Some(updater),
        pairing,
    );
    let roster = Streams::from_settings(&settings, operator);
    hub.set_configured(
        engine.primary().as_str(),
        matches!(settings.source.url, config::SourceSpec::Auto)
            .then(|| settings.stream.path.clone()),
    );
    let event_loop = tokio::spawn(apply_events(events_rx, hub.clone(), engine.clone(), roster));
    tokio::spawn(server::broadcast(hub.clone(), io.clone()));
    if settings.mediamtx.watch {
        tokio::spawn(mediamtx::watch::run(
            events.clone(),
            mediamtx::watch::WatchOptions::from_settings(&settings),
            stop.clone(),
        ));
    }
    // MQTT follows the hub like a viewer; it never holds up counting (publish::mqtt).
    let mqtt = crate::publish::mqtt::Options::from_settings(&settings)
        .map(|opts| crate::publish::mqtt::spawn(hub.clone(), opts, stop.clone()));
    // The flight history follows the hub's feed and stops with everything else, flushing.
    let history = settings.history.enabled.then(|| {
        let opts = crate::history::recorder::Options::from_settings(
            &settings.history,
            &settings.analysis.state_dir,
            crate::store::stream_key(&settings.source_url()),
        );
        // Its own stop, after the engine's: the last analyses are kept.
        let done = CancellationToken::new();
        let task = tokio::spawn(crate::history::recorder::run(
            hub.clone(),
            hub.feed(),
            Some(hub.subscribe_other_analyses()),
            opts,
            done.clone(),
        ));
        (task, done)
    });
    // Only the stages hold senders from here on.
    drop(events);
    let server_task = {
        let stop = stop.clone();
        tokio::spawn(server::serve(listener, app, io, async move {
            stop.cancelled().await
        }))
    };
    log::info!(
        "skycountd {} listening on http://{}",
        env!("CARGO_PKG_VERSION"),
        settings.server.listen
    );
    service::notify_ready("starting: waiting for the stream");
    if let Some(every) = watchdog {
        tokio::spawn(feed_watchdog(
            every,
            engine.clone(),
            hub.clone(),
            stop.clone(),
        ));
    }

    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    let mut current = settings;
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => {
                service::notify_reloading();
                reload(config_path.as_deref(), &mut current, &engine);
                service::notify_ready("configuration reloaded");
            }
        }
    }

    log::info!("stopping");
    service::notify_stopping();
    stop.cancel();
    let deadline = tokio::time::Instant::now() + STOP_WITHIN;
    engine.shutdown(STOP_WITHIN).await;
    // Every stage has ended: the event loop applies what they sent last (the history keeps it),
    // then has nothing more to read.
    let mut event_loop = event_loop;
    let _ = tokio::time::timeout(Duration::from_millis(100), &mut event_loop).await;
    event_loop.abort();
    // The history writes its last batch while MQTT finishes telling the broker `offline`.
    if let Some((_, done)) = &history {
        done.cancel();
    }
    // MQTT has been telling the broker `offline` meanwhile (it gives up within 0.5 s).
    if let Some(task) = mqtt {
        let _ = tokio::time::timeout_at(deadline, task).await;
    }
    if let Some((task, _)) = history {
        // One transaction to write: a moment even when the engine took all of STOP_WITHIN.
        let until = deadline.max(tokio::time::Instant::now() + Duration::from_millis(300));
        if tokio::time::timeout_at(until, task).await.is_err() {
            log::warn!("the history did not finish writing in time; its last second may be lost");
        }
    }
    // Viewers' connections are closed by the server; never wait longer than this for them.
    if tokio::time::timeout_at(deadline, server_task)
        .await
        .is_err()
    {
        log::warn!("the HTTP server did not stop in time; leaving anyway");
    }
    Ok(())
}

/// Turns every event into what viewers see; a new publisher on MediaMTX re-attaches the engine;
/// the drones publishing on MediaMTX join and leave the engine (the roster). The hub keeps a
/// summary of every stream and shows the configured one in full.
async fn apply_events(mut events: Events, hub: Arc<Hub>, engine: Arc<Engine>, mut roster: Streams) {
    while let Some(e) = events.recv().await {
        match &e {
            Event::PublisherChanged => engine.reattach(),
            Event::Published(paths) => roster.follow(paths, &engine, &hub),
            _ => {}
        }
        if e.stream().is_none_or(|s| s == engine.primary().as_str()) {
            hub.apply(e);
        } else {
            hub.note(&e);
        }
    }
}

/// The drones on MediaMTX beside the configured one, and how to read them (`engine::roster`).
struct Streams {
    /// None when only the configured stream is analysed (`Settings::drone_prefix`).
    roster: Option<Roster>,
    /// Reads a MediaMTX path over loopback, as the configured stream is read.
    settings: Settings,
    /// Keeps each drone's setup (calibration, masks, zones) under its path.
    operator: Arc<BoxOperator>,
}

impl Streams {
    fn from_settings(s: &Settings, operator: Arc<BoxOperator>) -> Self {
        Self {
            roster: s.drone_prefix().map(|prefix| {
                Roster::new(
                    &prefix,
                    vec![s.stream.path.clone(), s.stream.view_path.clone()],
                    s.analysis.max_streams as usize,
                )
            }),
            settings: s.clone(),
            operator,
        }
    }

    /// Takes in the paths publishing now: streams added, attached again or removed, and the
    /// hub's summary kept.
    fn follow(&mut self, published: &[String], engine: &Engine, hub: &Hub) {
        let Some(roster) = self.roster.as_mut() else {
            return;
        };
        let settings = &self.settings;
        let name = |path: &str| StreamId::new(crate::store::stream_key(&settings.path_url(path)));
        for change in roster.update(published, std::time::Instant::now()) {
            match change {
                Change::Add(path) => {
                    let url = settings.path_url(&path);
                    let store = Store::new(&settings.analysis.state_dir, &url)
                        .keeping_frames(settings.analysis.max_frozen_frames as usize);
                    match engine.add_stream(name(&path), url) {
                        Ok(()) => self.operator.stream_added(name(&path), store, path.clone()),
                        Err(e) => {
                            log::warn!("the drone on {path} is not analysed: {e}");
                            roster.drop_path(&path);
                        }
                    }
                }
                Change::Back(path) => engine.reattach_stream(&name(&path)),
                Change::Remove(path) => {
                    self.operator.stream_removed(&name(&path));
                    if let Err(e) = engine.remove_stream(&name(&path)) {
                        log::warn!("{e}");
                    }
                }
            }
        }
        let places: Vec<_> = roster
            .places()
            .iter()
            .map(|(path, place)| (name(path).to_string(), Some(path.clone()), place.clone()))
            .collect();
        hub.set_roster(&places);
    }
}

/// Feeds systemd's watchdog while the engine makes progress, and keeps its status line current.
async fn feed_watchdog(
    every: Duration,
    engine: Arc<Engine>,
    hub: Arc<Hub>,
    stop: CancellationToken,
) {
    let mut tick = tokio::time::interval(every);
    let mut stuck = false;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.cancelled() => return,
        }
        match engine.progress() {
            Ok(()) => {
                if stuck {
                    log::info!("the engine is making progress again: feeding the watchdog");
                }
                stuck = false;
                service::notify_watchdog();
            }
            Err(why) => {
                if !stuck {
                    log::error!("{why}: not feeding the watchdog (systemd restarts skycountd)");
                }
                stuck = true;
            }
        }
        let s = hub.status();
        service::notify_status(&format!(
            "stream {}, {:.1} analyses/s{}",
            s.stream.state,
            s.rates.analysed_fps,
            hub.latest_analysis()
                .map(|a| format!(", count {:.0}", a.count))
                .unwrap_or_default()
        ));
    }
}

/// Applies a re-read configuration; keeps the running one when it does not load.
fn reload(path: Option<&std::path::Path>, current: &mut Settings, engine: &Engine) {
    let new = match config::load(path) {
        Ok((s, _)) => s,
        Err(e) => {
            log::error!("reload refused, keeping the running configuration:\n{e}");
            return;
        }
    };
    service::set_level(new.log.level.as_str());
    engine.reload(EngineOptions::from_settings(&new, false));
    if new.server != current.server
        || new.stream != current.stream
        || new.mediamtx != current.mediamtx
        || new.hotspot != current.hotspot
        || new.operator != current.operator
        || new.mqtt != current.mqtt
    {
        log::warn!(
            "[server], [stream], [mediamtx], [hotspot], [operator] and [mqtt] changes take effect at the \
             next restart (of skycount.target, which renders MediaMTX's and the hotspot's files \
             again)"
        );
    }
    log::info!("configuration reloaded");
    *current = new;
}
