//! The station daemon: a durable print-and-encode job queue, one task per lane, an HTTP API with
//! roles, crash recovery and a hash-chained audit log, on SQLite or PostgreSQL.
//!
//! Layout (after mini-redis): [`store`] is the durable queue and the only code that touches the
//! database; [`job`] the state machine it enforces; [`audit`] the hash chain; [`lane`] one worker
//! per lane with the [`lane::CardEncoder`] and [`lane::Printer`] traits; [`server`] the `Station`
//! handle, start-up recovery and shutdown; [`api`] the axum routes, one module per resource;
//! [`auth`] bearer tokens and roles; [`config`] the TOML file; [`cli`] the `ecard station` and
//! `ecard audit` commands; [`throughput`] issue 19's measurement (the bench's and `ecard bench
//! throughput`'s). Personal data (the enrollment record) is stored but never logged: logs
//! carry job ids, application ids and card numbers.
#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod api;
pub mod audit;
pub mod auth;
pub mod backup;
pub mod chip;
#[cfg(test)]
mod chip_tests;
pub mod cleanup;
pub mod cli;
pub mod config;
pub mod console;
#[cfg(test)]
mod face_tests;
pub mod job;
pub mod lane;
#[cfg(test)]
mod lane_tests;
pub mod private;
pub mod qa;
pub mod server;
mod shutdown;
pub mod signing;
pub mod station_id;
pub mod stats;
pub mod status;
pub mod stock;
pub mod store;
#[cfg(test)]
mod testutil;
pub mod throughput;
pub mod tls;
pub mod vault;
