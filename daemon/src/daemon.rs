//! `skycountd run`: wires the stages together and lives as a service.
//!
//! ```text
//!  [source thread]  decode::supervise ──put──▶ LatestFrame ──take──▶ worker::run  [model thread]
//!                        │ stream state                                   │ analyses
//!                        └──────────────────────▶ Hub ◀──────────────────┘
//!                                                  │
//!                    [tokio] axum + socketioxide: /api/*, /metrics, Socket.IO, dashboard
//! ```
//!
//! SIGTERM and SIGINT stop it (within 2 s); SIGHUP reads the configuration again and applies what
//! can change safely while running: the source, the decoder, the model, the analysis grid and the
//! log level. A configuration that no longer loads is reported and the running one kept.

use std::path::PathBuf;
use std::sync::{mpsc, Arc, RwLock};
use std::time::Duration;

use anyhow::Context as _;
use tokio::signal::unix::{signal, SignalKind};

use crate::config::{self, Settings};
use crate::decode::{self, Control, DecodeOptions};
use crate::mediamtx;
use crate::publish::hub::Hub;
use crate::publish::server::{self, StreamAccess};
use crate::sample::LatestFrame;
use crate::service;
use crate::worker::{self, WorkerSettings};

/// The supervisor's options; `source.url` is the effective one (`auto` resolved to MediaMTX on
/// this box, see [`Settings::source_url`]).
pub fn decode_options(s: &Settings, stop_at_end: bool) -> DecodeOptions {
    let mut source = s.source.clone();
    source.url = config::SourceSpec::Url(s.source_url());
    DecodeOptions {
        source,
        decoder: s.decode.decoder.clone(),
        width: s.model.input_width,
        height: s.model.input_height,
        stop_at_end,
    }
}

pub fn worker_settings(s: &Settings) -> WorkerSettings {
    WorkerSettings {
        model: s.model.clone(),
        analysis: s.analysis.clone(),
    }
}

fn redacted_source(s: &Settings) -> String {
    s.source_url().redacted()
}

/// Runs the daemon until SIGTERM or SIGINT.
pub async fn run(config_path: Option<PathBuf>, settings: Settings) -> anyhow::Result<()> {
    decode::init().map_err(anyhow::Error::msg)?;
    let hub = Hub::new(
        redacted_source(&settings),
        worker::report_for(&settings.model),
    );
    let slot = LatestFrame::new();

    let listener = tokio::net::TcpListener::bind(settings.server.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} (server.listen): is another program using the port, or does binding it need CAP_NET_BIND_SERVICE?",
                settings.server.listen
            )
        })?;

    let (control, control_rx) = mpsc::channel();
    let source_thread = {
        let (slot, hub) = (slot.clone(), hub.clone());
        let opts = decode_options(&settings, false);
        std::thread::Builder::new()
            .name("source".into())
            .spawn(move || decode::supervise(opts, slot, hub, control_rx))?
    };
    let stop = worker::Stop::new();
    let shared = Arc::new(RwLock::new(worker_settings(&settings)));
    let model_thread = Arc::new({
        let (shared, slot, hub, stop) = (shared.clone(), slot.clone(), hub.clone(), stop.clone());
        std::thread::Builder::new()
            .name("model".into())
            .spawn(move || worker::run(shared, slot, hub, stop))?
    });

    // The pilot's key: generated and kept on first start when the TOML has none. Without it the
    // daemon still counts; the dashboard says why there is no URL to publish to.
    let key = mediamtx::key::resolve(&settings.stream, true);
    if let Err(e) = &key {
        log::warn!("no stream key to show the pilot: {e}");
    }
    let (app, io) = server::router(
        hub.clone(),
        StreamAccess::from_settings(&settings, key),
        settings.server.web_dir.clone(),
    );
    tokio::spawn(server::broadcast(hub.clone(), io.clone()));
    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    if settings.mediamtx.watch {
        tokio::spawn(mediamtx::watch::run(
            hub.clone(),
            mediamtx::watch::WatchOptions::from_settings(&settings),
            shutdown_rx.clone(),
        ));
    }
    let server_task = {
        let mut rx = shutdown_rx.clone();
        tokio::spawn(server::serve(listener, app, io, async move {
            let _ = rx.wait_for(|s| *s).await;
        }))
    };
    log::info!(
        "skycountd {} listening on http://{}",
        env!("CARGO_PKG_VERSION"),
        settings.server.listen
    );
    service::notify_ready("starting: waiting for the stream");

    // The watchdog is fed only while both worker threads are alive.
    if let Some(every) = service::watchdog_interval() {
        let hub = hub.clone();
        let threads_alive = {
            let m = model_thread.clone();
            move || !source_thread.is_finished() && !m.is_finished()
        };
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                if threads_alive() {
                    service::notify_watchdog();
                } else {
                    log::error!("a worker thread has stopped: not feeding the watchdog");
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
        });
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
                reload(config_path.as_deref(), &mut current, &control, &shared);
                service::notify_ready("configuration reloaded");
            }
        }
    }

    log::info!("stopping");
    service::notify_stopping();
    stop.stop();
    let _ = control.send(Control::Stop);
    slot.close();
    let _ = shutdown_tx.send(true);
    // The model run in progress was interrupted: let the thread end before the process does,
    // so ONNX Runtime is not torn down under it.
    let until = std::time::Instant::now() + Duration::from_millis(1000);
    while !model_thread.is_finished() && std::time::Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Viewers' connections are closed by the server; never wait longer than this for them.
    if tokio::time::timeout(Duration::from_millis(1500), server_task)
        .await
        .is_err()
    {
        log::warn!("the HTTP server did not stop in time; leaving anyway");
    }
    Ok(())
}

/// Applies a re-read configuration; keeps the running one when it does not load.
fn reload(
    path: Option<&std::path::Path>,
    current: &mut Settings,
    control: &mpsc::Sender<Control>,
    shared: &Arc<RwLock<WorkerSettings>>,
) {
    let new = match config::load(path) {
        Ok((s, _)) => s,
        Err(e) => {
            log::error!("reload refused, keeping the running configuration:\n{e}");
            return;
        }
    };
    service::set_level(new.log.level.as_str());
    if decode_options(&new, false).source != current.source
        || new.decode != current.decode
        || (new.model.input_width, new.model.input_height)
            != (current.model.input_width, current.model.input_height)
    {
        log::info!("source settings changed: attaching again");
        let _ = control.send(Control::Reload(decode_options(&new, false)));
    }
    *shared.write().unwrap_or_else(|p| p.into_inner()) = worker_settings(&new);
    if new.server != current.server
        || new.stream != current.stream
        || new.mediamtx != current.mediamtx
        || new.hotspot != current.hotspot
    {
        log::warn!(
            "[server], [stream], [mediamtx] and [hotspot] changes take effect at the next restart \
             (of skycount.target, which renders MediaMTX's and the hotspot's files again)"
        );
    }
    log::info!("configuration reloaded");
    *current = new;
}
