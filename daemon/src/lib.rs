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
//! - [`decode`]: the GStreamer pipeline and the supervisor that keeps it attached.
//! - [`sample`]: the one-frame slot between the decoder and the model.
//! - [`infer`]: ONNX Runtime: loading the library and the model, running it.
//! - [`analyse`]: from a density map to a count and a small grid for heatmaps.
//! - [`publish`]: the hub of latest results and the server that shares them.
//! - [`mediamtx`]: the media server beside skycountd: its rendered configuration and its watch.
//! - [`hotspot`]: the Wi-Fi hotspot's rendered hostapd, dnsmasq and networkd files.
//! - [`secret`]: the stream key and hotspot passphrase generated once and kept.
//! - [`worker`]: the model thread (sample → infer → analyse → publish).
//! - [`daemon`], [`analyze`], [`service`]: the commands and life as a systemd service.
//!
//! GStreamer, ONNX Runtime and HTTP stay at the edges (`decode::pipeline`, `infer`,
//! `publish::server`); everything between them is plain Rust that tests drive directly.

pub mod analyse;
pub mod analyze;
pub mod config;
pub mod daemon;
pub mod decode;
pub mod hotspot;
pub mod infer;
pub mod mediamtx;
pub mod publish;
pub mod sample;
pub mod secret;
pub mod service;
pub mod source;
pub mod worker;
