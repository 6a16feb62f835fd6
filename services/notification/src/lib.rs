//! Itinera's notification service. It keeps the contact data it needs from identity's events (no
//! synchronous calls), turns user and booking events into notifications from a template per type
//! and channel, stores them, and delivers them: email over SMTP, a webhook for SMS or push
//! providers, and an in-app inbox.

mod delivery;
mod http;
mod inbox;
pub mod live;
mod subscriptions;
pub mod templates;

use std::sync::Arc;

use anyhow::Context;
use contracts::events::topics;
use platform::auth::JwtVerifier;
use platform::config::{ConfigError, ConfigSource, RunMode, ServiceSpec, Settings};
use platform::events::EventBus;
use platform::events::consumer::Consumer;
use platform::http::ServiceRouter;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use delivery::Channels;

pub const SERVICE: ServiceSpec = ServiceSpec {
    name: "notification",
    default_port: 5003,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Clone, Debug)]
pub struct Config {
    pub settings: Settings,
    pub channels: Channels,
    /// `LIVE_REDIS_PREFIX`: the Redis channel and keys of the live fan-out (with `REDIS_URL`).
    pub live_prefix: String,
}

impl Config {
    pub fn load(source: &ConfigSource, mode: RunMode) -> Result<Self, ConfigError> {
        let smtp = match source.get("SMTP_URL") {
            None => None,
            Some(url) => {
                let rest = url.strip_prefix("smtp://").ok_or_else(|| {
                    ConfigError::invalid("SMTP_URL", url, "expected smtp://host:port")
                })?;
                let (host, port) = rest
                    .trim_end_matches('/')
                    .rsplit_once(':')
                    .unwrap_or((rest, "25"));
                let port = port
                    .parse::<u16>()
                    .map_err(|e| ConfigError::invalid("SMTP_URL", url, e))?;
                if host.is_empty() {
                    return Err(ConfigError::invalid(
                        "SMTP_URL",
                        url,
                        "expected smtp://host:port",
                    ));
                }
                Some((host.to_owned(), port))
            }
        };
        let from = source
            .get("SMTP_FROM")
            .unwrap_or("Itinera <no-reply@itinera.local>")
            .to_owned();
        if from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(ConfigError::invalid(
                "SMTP_FROM",
                &from,
                "expected Name <address@host>",
            ));
        }
        let webhook = source.get("NOTIFICATION_WEBHOOK_URL").map(str::to_owned);
        if let Some(url) = &webhook
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(ConfigError::invalid(
                "NOTIFICATION_WEBHOOK_URL",
                url,
                "expected an http(s) URL",
            ));
        }
        let live_prefix = source
            .get("LIVE_REDIS_PREFIX")
            .unwrap_or("itinera:live:")
            .to_owned();
        Ok(Self {
            live_prefix,
            settings: Settings::load(source, SERVICE, mode)?,
            channels: Channels {
                smtp,
                from,
                webhook,
            },
        })
    }
}

/// Creates the database if needed and applies migrations, without serving.
pub async fn migrate(config: &Config) -> anyhow::Result<()> {
    platform::events::prepare_database(&config.settings.database, &MIGRATOR).await?;
    Ok(())
}

/// The consumer group (and inbox name) of the notification service.
pub const CONSUMER: &str = "notification.events";

pub struct Application {
    /// This instance's entry in the service registry (with `REDIS_URL`).
    registration: Option<platform::discovery::Registration>,
    listener: TcpListener,
    router: axum::Router,
    db: sqlx::PgPool,
    config: Config,
    bus: Arc<dyn EventBus>,
    subscription: platform::events::Subscription,
    live: Arc<live::Live>,
}

impl Application {
    /// Builds the service and subscribes it to user and booking events on `bus`.
    pub async fn build(config: Config, bus: Arc<dyn EventBus>) -> anyhow::Result<Self> {
        let settings = &config.settings;
        let db = platform::events::prepare_database(&settings.database, &MIGRATOR).await?;
        let verifier = Arc::new(JwtVerifier::remote(&settings.jwt));
        let fanout = match &settings.redis_url {
            Some(url) => Some(
                live::Fanout::new(url, &config.live_prefix)
                    .map_err(|e| ConfigError::invalid("REDIS_URL", url, e))?,
            ),
            None => None,
        };
        let live_metrics = live::LiveMetrics::default();
        let (live, socket_layer) =
            live::Live::new(db.clone(), verifier.clone(), fanout, live_metrics.clone());
        let state = http::AppState {
            db: db.clone(),
            verifier,
            live: live.clone(),
        };
        // Socket.IO answers under /socket.io/ before the API router sees the request.
        let router = ServiceRouter::standard_with_metrics(
            settings,
            env!("CARGO_PKG_VERSION"),
            &db,
            |registry| live_metrics.register(registry),
        )
        .build(http::router(state))
        .layer(socket_layer)
        .layer(axum::middleware::map_request(live::detach_head));
        let subscription = bus.subscribe(
            CONSUMER,
            &[topics::USERS, topics::FLIGHTS, topics::BOOKINGS],
        );
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
            bus,
            subscription,
            live,
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map_or(0, |a| a.port())
    }

    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let registration = self
            .registration
            .map(|registration| tokio::spawn(registration.run(shutdown.clone())));
        let notifier = inbox::Notifier {
            email: self.config.channels.smtp.is_some(),
            webhook: self.config.channels.webhook.is_some(),
            live: self.live.clone(),
        };
        let live = tokio::spawn(self.live.clone().run(shutdown.clone()));
        let consumer =
            Consumer::new(CONSUMER, self.db.clone(), Arc::new(notifier)).with_bus(self.bus.clone());
        let consumer = tokio::spawn(consumer.run(self.subscription, shutdown.clone()));
        let deliverer = delivery::Deliverer::new(self.db.clone(), self.config.channels.clone());
        let deliverer = tokio::spawn(deliverer.run(shutdown.clone()));
        let served = platform::http::serve(self.listener, self.router, shutdown).await;
        let _ = tokio::join!(consumer, deliverer, live);
        if let Some(registration) = registration {
            let _ = registration.await;
        }
        served.context("notification HTTP server")
    }
}
