//! Itinera's booking service: seat inventory per flight and cabin (created from catalog's flight
//! events), bookings, and their life cycle. Taking seats and recording a booking are one
//! transaction, so no seat is ever sold twice; every change is published through the outbox.

pub mod bookings;
pub mod domain;
pub mod error;
mod http;
mod replica;
mod saga;
pub mod store;
mod watch;

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

use crate::bookings::Bookings;
use crate::watch::StatusWatch;

pub const SERVICE: ServiceSpec = ServiceSpec {
    name: "booking",
    default_port: 5002,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Clone, Debug)]
pub struct Config {
    pub settings: Settings,
    /// How long a booking awaiting payment holds its seats.
    pub hold: Duration,
    /// How long a booking request waits for its payment to settle.
    pub confirm_wait: Duration,
    /// How often to look for holds that have run out.
    pub expiry_interval: Duration,
}

impl Config {
    pub fn load(source: &ConfigSource, mode: RunMode) -> Result<Self, ConfigError> {
        Ok(Self {
            settings: Settings::load(source, SERVICE, mode)?,
            hold: source
                .seconds("BOOKING_HOLD_SECS")?
                .unwrap_or(Duration::from_secs(15 * 60)),
            confirm_wait: source
                .parse::<u64>("BOOKING_CONFIRM_WAIT_MS")?
                .map_or(Duration::from_secs(3), Duration::from_millis),
            expiry_interval: source
                .parse::<u64>("BOOKING_EXPIRY_INTERVAL_MS")?
                .map_or(Duration::from_secs(1), Duration::from_millis)
                .max(Duration::from_millis(10)),
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
    bus: Arc<dyn EventBus>,
    flights: platform::events::Subscription,
    payments: platform::events::Subscription,
    watch: Arc<StatusWatch>,
    expiry_interval: Duration,
}

/// The consumer groups (and inbox names) of the booking service.
pub const FLIGHTS_CONSUMER: &str = "booking.flights";
pub const PAYMENTS_CONSUMER: &str = "booking.payments";

impl Application {
    /// Builds the service and subscribes it to flight and payment events on `bus`.
    pub async fn build(config: Config, bus: Arc<dyn EventBus>) -> anyhow::Result<Self> {
        let settings = &config.settings;
        let db = platform::events::prepare_database(&settings.database, &MIGRATOR).await?;
        let watch = Arc::new(StatusWatch::default());
        let state = http::AppState {
            bookings: Arc::new(Bookings {
                db: db.clone(),
                hold: config.hold,
                confirm_wait: config.confirm_wait,
                watch: watch.clone(),
            }),
            verifier: Arc::new(JwtVerifier::remote(&settings.jwt)),
        };
        let router = ServiceRouter::standard(settings, env!("CARGO_PKG_VERSION"), &db)
            .build(http::router(state));
        let flights = bus.subscribe(FLIGHTS_CONSUMER, &[topics::FLIGHTS]);
        let payments = bus.subscribe(PAYMENTS_CONSUMER, &[topics::PAYMENTS]);
        let listener = platform::http::bind(settings.host, settings.port).await?;
        Ok(Self {
            registration: platform::discovery::Registration::from_settings(
                settings,
                listener.local_addr()?.port(),
            ),
            listener,
            router,
            db,
            bus,
            flights,
            payments,
            watch,
            expiry_interval: config.expiry_interval,
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
        let flights = Consumer::new(
            FLIGHTS_CONSUMER,
            self.db.clone(),
            Arc::new(replica::FlightReplica),
        )
        .with_bus(self.bus.clone());
        let flights = tokio::spawn(flights.run(self.flights, shutdown.clone()));
        let payments = Consumer::new(
            PAYMENTS_CONSUMER,
            self.db.clone(),
            Arc::new(saga::PaymentEvents),
        )
        .with_bus(self.bus.clone());
        let payments = tokio::spawn(payments.run(self.payments, shutdown.clone()));
        let watch = {
            let (watch, db, shutdown) = (self.watch.clone(), self.db.clone(), shutdown.clone());
            tokio::spawn(async move { watch.run(db, shutdown).await })
        };
        let expiry = tokio::spawn(expire_holds(
            self.db.clone(),
            self.expiry_interval,
            shutdown.clone(),
        ));
        let served = platform::http::serve(self.listener, self.router, shutdown).await;
        let _ = tokio::join!(relay, flights, payments, watch, expiry);
        if let Some(registration) = registration {
            let _ = registration.await;
        }
        served.context("booking HTTP server")
    }
}

/// Expires holds that ran out without payment, until `shutdown`. Several instances may run this:
/// each due booking is locked by one of them and skipped by the others.
async fn expire_holds(db: sqlx::PgPool, interval: Duration, shutdown: CancellationToken) {
    const BATCH: i64 = 200;
    loop {
        let pause = match bookings::expire_holds(&db, BATCH).await {
            Ok(n) if n as i64 == BATCH => Duration::ZERO,
            Ok(_) => interval,
            Err(e) => {
                tracing::warn!(error = %e, "expiring holds failed; retrying");
                interval
            }
        };
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(pause) => {}
        }
    }
}
