//! Publish: the HTTP API, the Socket.IO events and the dashboard's files, on one port.
//!
//! [`hub`] holds the latest of everything; [`server`] serves it over the connections [`conn`]
//! keeps in bounds; [`auth`] says who is the operator, and [`operator`] is what the operator may
//! do; [`pairing`] answers MediaMTX about who may publish, and lets the operator approve drones. [`update`] serves software updates (`crate::update`). [`mqtt`] follows the hub too, and publishes to an MQTT broker. See `docs/api.md` for the contract the dashboard relies on, `docs/security.md` for the
//! roles.

pub mod auth;
pub mod body;
pub mod conn;
pub mod history;
pub mod hub;
pub mod metrics;
pub mod models;
pub mod mqtt;
pub mod operator;
pub mod pairing;
pub mod server;
pub mod snapshot;
pub mod update;
