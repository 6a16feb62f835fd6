//! Itinera's payment service: card payments through a processor adapter (a simulated processor
//! for development and tests), wallets, refunds by fare rule, transaction history and receipts.
//! It is the payment side of the booking saga: it charges for each `booking.created`, voids or
//! refunds when a booking ends, and answers with `payment.succeeded`, `payment.failed` and
//! `payment.refunded`.

pub mod cards;
mod http;
pub mod processor;
pub mod refunds;
mod saga;
pub mod store;
pub mod worker;

use std::sync::Arc;
use std::time::Duration;

use contracts::events::topics;
use platform::auth::JwtVerifier;
use platform::config::{ConfigError, ConfigSource, RunMode, ServiceSpec, Settings};
use platform::service::{Context, Host, Job, Parts, Service};

use crate::processor::{CardProcessor, SimulatedProcessor};
use crate::refunds::RefundPolicy;
use crate::worker::{Worker, WorkerConfig};

/// The payment service, as the host runs it.
pub struct Payment;

/// A payment instance, built and ready to run.
pub type Application = Host<Payment>;

/// The consumer group (and inbox name) of the payment service.
pub const CONSUMER: &str = "payment.bookings";

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
        let processor: Arc<dyn CardProcessor> = Arc::new(SimulatedProcessor { db: db.clone() });
        let state = http::AppState {
            db: db.clone(),
            verifier: Arc::new(JwtVerifier::remote(&config.settings.jwt)),
            processor: processor.clone(),
            processor_timeout: config.worker.processor_timeout,
        };
        let router = context
            .edge(env!("CARGO_PKG_VERSION"))
            .build(http::router(state));
        let bookings = saga::BookingEvents {
            processor: processor.clone(),
            policy: config.refunds,
        };
        // A charge may take the processor's whole timeout; the worker beats between jobs.
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
            .runs(Job::new("payment worker", move |task| worker.run(task)).stalls_after(stall)))
    }
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Clone, Debug)]
pub struct Config {
    pub settings: Settings,
    pub worker: WorkerConfig,
    pub refunds: RefundPolicy,
}

impl Config {
    pub fn load(source: &ConfigSource, mode: RunMode) -> Result<Self, ConfigError> {
        if let Some(processor) = source.get("PAYMENT_PROCESSOR")
            && processor != "simulated"
        {
            return Err(ConfigError::invalid(
                "PAYMENT_PROCESSOR",
                processor,
                "the only processor built in is `simulated`",
            ));
        }
        let defaults = WorkerConfig::default();
        let millis = |key: &str, default: Duration| -> Result<Duration, ConfigError> {
            Ok(source
                .parse::<u64>(key)?
                .map_or(default, Duration::from_millis))
        };
        let late_fee_percent = source.parse::<u8>("REFUND_LATE_FEE_PERCENT")?.unwrap_or(25);
        if late_fee_percent > 100 {
            return Err(ConfigError::invalid(
                "REFUND_LATE_FEE_PERCENT",
                &late_fee_percent.to_string(),
                "a percentage is 0 to 100",
            ));
        }
        let max_attempts = source
            .parse::<i32>("PAYMENT_MAX_ATTEMPTS")?
            .unwrap_or(defaults.max_attempts);
        if max_attempts < 1 {
            return Err(ConfigError::invalid(
                "PAYMENT_MAX_ATTEMPTS",
                &max_attempts.to_string(),
                "at least 1",
            ));
        }
        Ok(Self {
            settings: Settings::load(source, Payment::SPEC, mode)?,
            worker: WorkerConfig {
                processor_timeout: millis(
                    "PAYMENT_PROCESSOR_TIMEOUT_MS",
                    defaults.processor_timeout,
                )?,
                max_attempts,
                retry_base: millis("PAYMENT_RETRY_BASE_MS", defaults.retry_base)?,
                poll_interval: defaults.poll_interval,
            },
            refunds: RefundPolicy {
                full_refund_before: chrono::Duration::hours(
                    source
                        .parse::<i64>("REFUND_FULL_BEFORE_HOURS")?
                        .unwrap_or(24),
                ),
                late_fee_percent,
            },
        })
    }
}
