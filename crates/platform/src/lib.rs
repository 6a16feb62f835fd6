//! What every Itinera service shares.
//!
//! A service is a library that implements [`service::Service`]: it declares what it serves,
//! consumes and runs, and the [`service::Host`] runs it the same way in every topology.
//! Configuration, telemetry, errors, the database, authentication, events and shutdown come from
//! here so that every service behaves the same at its edges.

pub mod auth;
pub mod config;
pub mod db;
pub mod discovery;
pub mod error;
pub mod events;
pub mod http;
pub mod metrics;
pub mod money;
pub mod readiness;
pub mod server;
pub mod service;
pub mod shutdown;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
pub mod time;

pub use error::Problem;
