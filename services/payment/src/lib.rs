//! Itinera's payment service: card payments through a processor adapter (a simulated processor
//! for development and tests), wallets, refunds by fare rule, transaction history and receipts.
//! It is the payment side of the booking saga: it charges for each `booking.created`, voids or
//! refunds when a booking ends, and answers with `payment.succeeded`, `payment.failed` and
//! `payment.refunded`.

mod config;
pub mod domain;
pub mod error;
mod events;
mod http;
pub mod jobs;
pub mod processor;
pub mod store;

use std::sync::Arc;
use std::time::Duration;

use contracts::events::topics;
use platform::auth::JwtVerifier;
use platform::config::{ConfigError, ConfigSource, RunMode, ServiceSpec, Settings};
use platform::service::{Context, Host, Job, Parts, Service};

use crate::jobs::charges::Worker;
use crate::processor::{CardProcessor, SimulatedProcessor};

pub use config::Config;

/// The payment service, as the host runs it.
pub struct Payment;

/// A payment instance, built and ready to run.
pub type Application = Host<Payment>;

/// The consumer group (and inbox name) of the payment service.
pub const CONSUMER: &str = "payment.bookings";
/// The consumer group that follows flights' departures for refund quotes.
pub const FLIGHTS_CONSUMER: &str = "payment.flights";

impl Service for Payment {
    type Config = Config;
    const SPEC: ServiceSpec = contracts::services::PAYMENT;

    fn load(source: &ConfigSource, mode: RunMode) -> Result<Config, ConfigError> {
        Config::load(source, mode)
    }

    fn settings(config: &Config) -> &Settings {
        &config.settings
    }

    fn migrator() -> Option<&'static sqlx::migrate::Migrator> {
        Some(&MIGRATOR)
    }

    /// Serves cards, wallets, payments and receipts; records a payment for each new booking and
    /// voids or refunds it when the booking ends; the worker charges and refunds what is due.
    async fn build(config: Config, context: &Context) -> anyhow::Result<Parts> {
        let db = context.db()?;
        let processor: Arc<dyn CardProcessor> = Arc::new(SimulatedProcessor::install(&db).await?);
        let state = http::AppState {
            db: db.clone(),
            verifier: Arc::new(JwtVerifier::remote(&config.settings.jwt)),
            processor: processor.clone(),
            processor_timeout: config.worker.processor_timeout,
            max_cards: config.max_cards,
            policy: config.refunds,
        };
        let router = context
            .edge(env!("CARGO_PKG_VERSION"))
            .build(http::router(state));
        let bookings = events::bookings::BookingEvents {
            sandbox_token: config
                .sandbox
                .then(|| processor.sandbox_token().map(str::to_owned))
                .flatten(),
            policy: config.refunds,
        };
        // The worker beats while calls are in flight; at worst it records a batch after a lookup
        // and a charge, each under the processor's timeout.
        let stall = config.worker.processor_timeout * 4 + Duration::from_secs(60);
        let worker = Worker {
            db,
            processor,
            config: config.worker,
        };
        Ok(Parts::new(router)
            .note("simulated card processor: 4242 4242 4242 4242 approves, 4000 0000 0000 0002 declines")
            .publishes()
            .consumes(CONSUMER, &[topics::BOOKINGS], bookings)
            .consumes(FLIGHTS_CONSUMER, &[topics::FLIGHTS], events::flights::FlightTimes)
            .runs(Job::new("payment worker", move |task| worker.run(task)).stalls_after(stall)))
    }
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");
