//! Publish: the HTTP API, the Socket.IO events and the dashboard's files, on one port.
//!
//! [`hub`] holds the latest of everything; [`server`] serves it. See `docs/api.md` for the
//! contract the dashboard relies on.

pub mod hub;
pub mod metrics;
pub mod models;
pub mod operator;
pub mod server;
pub mod snapshot;
