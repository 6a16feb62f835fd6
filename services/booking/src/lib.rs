//! Itinera's booking service: seat inventory per flight and cabin (created from catalog's flight
//! events), bookings, and their life cycle. Taking seats and recording a booking are one
//! transaction, so no seat is ever sold twice; every change is published through the outbox.

pub mod bookings;
mod config;
pub mod domain;
pub mod error;
mod events;
mod http;
mod jobs;
pub mod products;
pub mod store;

use std::sync::Arc;
use std::time::Duration;

use contracts::events::topics;
use platform::auth::JwtVerifier;
use platform::config::{ConfigError, ConfigSource, RunMode, ServiceSpec, Settings};
use platform::service::{Context, Host, Job, Parts, Service};

use crate::bookings::Bookings;
use crate::jobs::settlement::StatusWatch;

pub use config::Config;

/// The booking service, as the host runs it.
pub struct Booking;

/// A booking instance, built and ready to run.
pub type Application = Host<Booking>;

/// The consumer groups (and inbox names) of the booking service.
pub const FLIGHTS_CONSUMER: &str = "booking.flights";
pub const PAYMENTS_CONSUMER: &str = "booking.payments";
pub const LISTINGS_CONSUMER: &str = "booking.listings";

impl Service for Booking {
    type Config = Config;
    const SPEC: ServiceSpec = contracts::services::BOOKING;

    fn load(source: &ConfigSource, mode: RunMode) -> Result<Config, ConfigError> {
        Config::load(source, mode)
    }

    fn settings(config: &Config) -> &Settings {
        &config.settings
    }

    fn migrator() -> Option<&'static sqlx::migrate::Migrator> {
        Some(&MIGRATOR)
    }

    /// Serves bookings; keeps its flight replica from catalog's events and settles bookings from
    /// payment's; wakes waiting requests when a booking settles; expires unpaid holds.
    async fn build(config: Config, context: &Context) -> anyhow::Result<Parts> {
        let db = context.db()?;
        let watch = Arc::new(StatusWatch::default());
        let state = http::AppState {
            bookings: Arc::new(Bookings {
                db: db.clone(),
                hold: config.hold,
                confirm_wait: config.confirm_wait,
                watch: watch.clone(),
                unpaid: config.unpaid,
            }),
            verifier: Arc::new(JwtVerifier::remote(&config.settings.jwt)),
        };
        let router = context
            .edge(env!("CARGO_PKG_VERSION"))
            .build(http::router(state));
        let watched = db.clone();
        Ok(Parts::new(router)
            .publishes()
            .consumes(
                FLIGHTS_CONSUMER,
                &[topics::FLIGHTS],
                events::flights::FlightReplica,
            )
            .consumes(
                LISTINGS_CONSUMER,
                &[topics::LISTINGS],
                events::listings::ListingReplica,
            )
            .consumes(
                PAYMENTS_CONSUMER,
                &[topics::PAYMENTS],
                events::payments::PaymentEvents,
            )
            .runs(Job::new("settlement watch", move |task| async move {
                watch.run(watched, task.shutdown).await;
            }))
            .runs(
                Job::new("hold expiry", move |task| {
                    jobs::hold_expiry::expire_holds(db, config.expiry_interval, task)
                })
                .stalls_after(config.expiry_interval.max(Duration::from_secs(1)) * 60),
            ))
    }
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");
