//! Itinera's catalog service: airports, aircraft types and their seat maps, flights with fares and
//! status, and the flight search read model (kept current from booking's events).
//!
//! Every flight change is published (`flight.scheduled`, `flight.updated`,
//! `flight.status-changed`) through the transactional outbox.

mod cache;
pub mod demo;
mod directory;
pub mod domain;
pub mod error;
mod http;
mod projection;
pub mod schedule;
pub mod store;

use std::sync::Arc;

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

use crate::schedule::Catalog;

pub const SERVICE: ServiceSpec = ServiceSpec {
    name: "catalog",
    default_port: 5004,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Clone, Debug)]
pub struct Config {
    pub settings: Settings,
    /// Days of flights the demo schedule covers.
    pub seed_days: u32,
    /// Flights a day on each demo route (1 to 4).
    pub seed_flights_per_day: u32,
    /// How long a search answer is reused; zero turns the cache off.
    pub search_cache_ttl: std::time::Duration,
}

impl Config {
    pub fn load(source: &ConfigSource, mode: RunMode) -> Result<Self, ConfigError> {
        let seed_days = source.parse::<u32>("SEED_DAYS")?.unwrap_or(30);
        if !(1..=366).contains(&seed_days) {
            return Err(ConfigError::invalid(
                "SEED_DAYS",
                &seed_days.to_string(),
                "must be 1 to 366",
            ));
        }
        let seed_flights_per_day = source.parse::<u32>("SEED_FLIGHTS_PER_DAY")?.unwrap_or(1);
        if !(1..=4).contains(&seed_flights_per_day) {
            return Err(ConfigError::invalid(
                "SEED_FLIGHTS_PER_DAY",
                &seed_flights_per_day.to_string(),
                "must be 1 to 4",
            ));
        }
        Ok(Self {
            settings: Settings::load(source, SERVICE, mode)?,
            seed_days,
            seed_flights_per_day,
            search_cache_ttl: std::time::Duration::from_millis(
                source.parse::<u64>("SEARCH_CACHE_TTL_MS")?.unwrap_or(1_000),
            ),
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
    catalog: Arc<Catalog>,
    bus: Arc<dyn EventBus>,
    subscription: platform::events::Subscription,
    seed: http::SeedSize,
}

impl Application {
    /// Builds the service and subscribes it to booking events on `bus`.
    pub async fn build(config: Config, bus: Arc<dyn EventBus>) -> anyhow::Result<Self> {
        let settings = &config.settings;
        let db = platform::events::prepare_database(&settings.database, &MIGRATOR).await?;
        let catalog = Arc::new(Catalog::new(db.clone(), config.search_cache_ttl));
        let state = http::AppState {
            catalog: catalog.clone(),
            verifier: Arc::new(JwtVerifier::remote(&settings.jwt)),
            seed: http::SeedSize {
                days: config.seed_days,
                per_day: config.seed_flights_per_day,
            },
        };
        let router = ServiceRouter::standard(settings, env!("CARGO_PKG_VERSION"), &db)
            .build(http::router(state));
        let subscription = bus.subscribe("catalog.seats-left", &[topics::BOOKINGS]);
        let listener = platform::http::bind(settings.host, settings.port).await?;
        Ok(Self {
            registration: platform::discovery::Registration::from_settings(
                settings,
                listener.local_addr()?.port(),
            ),
            listener,
            router,
            catalog,
            bus,
            subscription,
            seed: http::SeedSize {
                days: config.seed_days,
                per_day: config.seed_flights_per_day,
            },
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map_or(0, |a| a.port())
    }

    /// Loads the demo schedule if there are no flights (what `GET /seed` does).
    pub async fn seed_demo(&self) -> anyhow::Result<bool> {
        let first_day = chrono::Utc::now().date_naive() + chrono::Duration::days(1);
        self.catalog
            .seed_demo(first_day, self.seed.days, self.seed.per_day)
            .await
            .map_err(|e| anyhow::anyhow!("loading the demo schedule: {e}"))
    }

    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let registration = self
            .registration
            .map(|registration| tokio::spawn(registration.run(shutdown.clone())));
        let relay = tokio::spawn(
            Relay::new(self.catalog.db.clone(), self.bus.clone()).run(shutdown.clone()),
        );
        let consumer = Consumer::new(
            "catalog.seats-left",
            self.catalog.db.clone(),
            Arc::new(projection::SeatsLeft),
        )
        .with_bus(self.bus.clone());
        let consumer = tokio::spawn(consumer.run(self.subscription, shutdown.clone()));
        let served = platform::http::serve(self.listener, self.router, shutdown).await;
        let _ = tokio::join!(relay, consumer);
        if let Some(registration) = registration {
            let _ = registration.await;
        }
        served.context("catalog HTTP server")
    }
}
