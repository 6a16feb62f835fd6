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

use anyhow::Context;
use contracts::events::topics;
use platform::auth::JwtVerifier;
use platform::config::{ConfigError, ConfigSource, RunMode, ServiceSpec, Settings};
use platform::events::EventBus;
use platform::events::consumer::Consumer;
use platform::events::relay::Relay;
use platform::http::ServiceRouter;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::processor::{CardProcessor, SimulatedProcessor};
use crate::refunds::RefundPolicy;
use crate::worker::{Worker, WorkerConfig};

pub const SERVICE: ServiceSpec = ServiceSpec {
    name: "payment",
    default_port: 5005,
};

/// The consumer group (and inbox name) of the payment service.
pub const CONSUMER: &str = "payment.bookings";

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
            settings: Settings::load(source, SERVICE, mode)?,
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

/// Creates the database if needed and applies migrations, without serving.
pub async fn migrate(config: &Config) -> anyhow::Result<()> {
    platform::events::prepare_database(&config.settings.database, &MIGRATOR).await?;
    Ok(())
}

pub struct Application {
    /// This instance's entry in the service registry (with `REDIS_URL`).
    registration: Option<platform::discovery::Registration>,
    listener: TcpListener,
    router: axum::Router,
    db: sqlx::PgPool,
    config: Config,
    processor: Arc<dyn CardProcessor>,
    bus: Arc<dyn EventBus>,
    subscription: platform::events::Subscription,
}

impl Application {
    /// Builds the service and subscribes it to booking events on `bus`.
    pub async fn build(config: Config, bus: Arc<dyn EventBus>) -> anyhow::Result<Self> {
        let settings = &config.settings;
        let db = platform::events::prepare_database(&settings.database, &MIGRATOR).await?;
        let processor: Arc<dyn CardProcessor> = Arc::new(SimulatedProcessor::install(&db).await?);
        let state = http::AppState {
            db: db.clone(),
            verifier: Arc::new(JwtVerifier::remote(&settings.jwt)),
            processor: processor.clone(),
            processor_timeout: config.worker.processor_timeout,
        };
        let router = ServiceRouter::standard(settings, env!("CARGO_PKG_VERSION"), &db)
            .build(http::router(state));
        let subscription = bus.subscribe(CONSUMER, &[topics::BOOKINGS]);
        let listener = platform::http::bind(settings.host, settings.port).await?;
        Ok(Self {
            registration: platform::discovery::Registration::from_settings(
                settings,
                listener.local_addr()?.port(),
            ),
            listener,
            router,
            db,
            config,
            processor,
            bus,
            subscription,
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map_or(0, |a| a.port())
    }

    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let registration = self
            .registration
            .map(|registration| tokio::spawn(registration.run(shutdown.clone())));
        let relay =
            tokio::spawn(Relay::new(self.db.clone(), self.bus.clone()).run(shutdown.clone()));
        let handler = saga::BookingEvents {
            processor: self.processor.clone(),
            policy: self.config.refunds,
        };
        let consumer =
            Consumer::new(CONSUMER, self.db.clone(), Arc::new(handler)).with_bus(self.bus.clone());
        let consumer = tokio::spawn(consumer.run(self.subscription, shutdown.clone()));
        let worker = Worker {
            db: self.db.clone(),
            processor: self.processor,
            config: self.config.worker,
        };
        let worker = tokio::spawn(worker.run(shutdown.clone()));
        let served = platform::http::serve(self.listener, self.router, shutdown).await;
        let _ = tokio::join!(relay, consumer, worker);
        if let Some(registration) = registration {
            let _ = registration.await;
        }
        served.context("payment HTTP server")
    }
}
