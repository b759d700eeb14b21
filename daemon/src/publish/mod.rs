//! Publish: the HTTP API, the Socket.IO events and the dashboard's files, on one port.
//!
//! [`hub`] holds the latest of everything; [`server`] serves it over the connections [`conn`]
//! keeps in bounds. [`auth`] says who is the operator and holds the gate every operator route
//! sits behind; [`actions`] is what the operator may do (the trait `skycountd run` implements),
//! served over HTTP by [`operator`] (freeze, calibrate, masks, zones, alerts) and [`models`]
//! (models and training data); [`pairing`] answers MediaMTX about who may publish, and lets the
//! operator approve drones. [`history`] serves the flights kept, [`update`] software updates
//! (`crate::update`). [`mqtt`] follows the hub too, and publishes to an MQTT broker. See
//! `docs/api.md` for the contract the dashboard relies on, `docs/security.md` for the roles.
//!
//! The imports go one way: [`auth`] and [`actions`] import no route set; the route sets
//! ([`operator`], [`models`], [`pairing`], [`history`], [`update`]) import them and never each
//! other; [`server`], above them all, merges the route sets into the one app.

pub mod actions;
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
