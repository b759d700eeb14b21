//! # skycountd
//!
//! Turns a drone's live video into crowd counts and density heatmaps, on the local network alone.
//!
//! Data flows one way, one module per stage:
//!
//! ```text
//! source ──▶ decode ──▶ sample ──▶ infer ──▶ analyse ──▶ publish
//! (URL,      (GStreamer: (newest     (ONNX      (count,     (HTTP, Socket.IO,
//!  state)     demux,      frame       Runtime:   density     metrics, dashboard)
//!             decode,     wins)       CSRNet)    grid)
//!             scale)
//! ```
//!
//! - [`config`]: the one TOML file, its defaults and its errors.
//! - [`source`]: source URLs and the stream's state machine (waiting, live, stalled, reconnecting).
//! - [`decode`]: the supervisor that keeps a pipeline attached, and its GStreamer edge.
//! - [`sample`]: the one-frame slot between the decoder and the model.
//! - [`infer`]: ONNX Runtime: loading the library and the model, running it.
//! - [`analyse`]: from a density map to a count and a small grid for heatmaps.
//! - [`engine`]: the stages above as one object: its threads, its stop, its progress.
//! - [`event`]: the typed events the stages emit, and [`wire`]: what viewers are sent.
//! - [`publish`]: the hub built from the events, the server that shares it, and the MQTT
//!   publisher that follows it.
//! - [`history`]: flights, analyses and alerts kept in SQLite (a follower of the hub's feed),
//!   read back by `publish::history`.
//! - [`mediamtx`]: the media server beside skycountd: its rendered configuration and its watch.
//! - [`hotspot`]: the Wi-Fi hotspot's rendered hostapd, dnsmasq and networkd files.
//! - [`secret`]: the stream key and hotspot passphrase generated once and kept.
//! - [`store`]: what the operator set (calibration, masks, tapped frames), kept per stream path.
//! - [`update`]: software updates of the whole box with RAUC (A/B slots, fallback).
//! - [`commands`]: `run` and `analyze`, thin callers of the engine; [`service`]: life under
//!   systemd.
//!
//! Control and status never flow backwards: stages emit [`event::Event`]s and know nothing of
//! who reads them; only `commands`, `main` and the hub's followers (`history`) import `publish`.
//!
//! GStreamer, ONNX Runtime and HTTP stay at the edges (`decode::pipeline`, `infer`,
//! `publish::server`); everything between them is plain Rust that tests drive directly.

pub mod analyse;
pub mod commands;
pub mod config;
pub mod decode;
pub mod engine;
pub mod event;
pub mod history;
pub mod hotspot;
pub mod infer;
pub mod mediamtx;
pub mod publish;
pub mod sample;
pub mod secret;
pub mod service;
pub mod source;
pub mod store;
pub mod update;
pub mod wire;
