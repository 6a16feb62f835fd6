//! Itinera's API gateway: the one entry point on port 4000.
//!
//! It routes the seed 002 paths and the resource API to the services that own them, refuses
//! requests with a missing or bad access token before they leave the gateway (verifying tokens
//! locally against identity's JWKS), balances each service's instances by requests in flight,
//! ejects failing instances (passive outlier detection and active `/ready` checks: the circuit
//! breaker), retries idempotent requests on another instance within a budget, and answers for
//! itself on `/api/gateway/status` and `/api/discovery/status`.

pub mod client_address;
mod config;
mod discovery;
mod edge;
mod health;
pub mod live;
pub mod metrics;
mod operations;
pub mod proxy;
pub mod rate_limit;
pub mod sessions;
mod status;
pub mod upstream;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::routing::get;
use platform::auth::JwtVerifier;
use platform::config::{ConfigError, ConfigSource, RunMode, ServiceSpec, Settings};
use platform::service::{Context, Host, Job, Parts, Service};

pub use crate::config::Config;
use crate::discovery::Discovery;
use crate::health::{UpstreamCheck, check_health};
use crate::metrics::GatewayMetrics;
use crate::proxy::{Access, Proxy, RetryBudget, Route};
use crate::rate_limit::{LimitClass, RateLimiter};
use crate::status::{GatewayState, discovery, forward, openapi, status};

/// The gateway, as the host runs it.
pub struct Gateway;

/// A gateway instance, built and ready to run.
pub type Application = Host<Gateway>;

/// How long the health-check and discovery loops may go without a round before `/ready` calls
/// them stalled (a round waits at most a few seconds on each instance, Redis or DNS).
const TASK_STALL: std::time::Duration = std::time::Duration::from_secs(120);
/// How long a Socket.IO long-polling request may wait for its answer.
const LIVE_POLL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);
/// The web service's pages: the traveller site and the admin portal. Everything else that is
/// not the API stays a 404 problem from the gateway.
const WEB_PATHS: [&str; 24] = [
    "/",
    "/login",
    "/register",
    "/logout",
    "/live",
    "/trip",
    "/assets/{*rest}",
    "/flights",
    "/flights/{*rest}",
    "/hotels",
    "/hotels/{*rest}",
    "/cars",
    "/cars/{*rest}",
    "/bookings",
    "/bookings/{*rest}",
    "/account",
    "/account/{*rest}",
    "/notifications",
    "/notifications/{*rest}",
    "/following",
    "/following/{*rest}",
    "/admin",
    "/admin/{*rest}",
    "/favicon.ico",
];

impl Service for Gateway {
    type Config = Config;
    const SPEC: ServiceSpec = contracts::services::GATEWAY;
    const DISCOVERABLE: bool = false;

    fn load(source: &ConfigSource, mode: RunMode) -> Result<Config, ConfigError> {
        Config::load(source, mode)
    }

    fn settings(config: &Config) -> &Settings {
        &config.settings
    }

    /// The gateway keeps no database.
    fn migrator() -> Option<&'static platform::service::Migrator> {
        None
    }

    /// Routes every public path to the service that owns it; checks the health of every
    /// instance, and looks instances up in the registry or DNS.
    async fn build(config: Config, context: &Context) -> anyhow::Result<Parts> {
        let settings = &config.settings;
        let port = context.port;
        let client = proxy::http_client();
        let gateway_metrics = GatewayMetrics::default();
        let proxy = Arc::new(Proxy {
            metrics: gateway_metrics.clone(),
            client: client.clone(),
            verifier: Arc::new(JwtVerifier::remote(&settings.jwt)),
            body_limit: settings.body_limit,
            retries: RetryBudget::new(config.retry_budget, 10),
            limiter: RateLimiter::new(config.rate_limits.clone(), settings.redis_url.as_deref())
                .await?,
            sessions: sessions::Sessions::default(),
            trusted_proxies: config.trusted_proxies.clone(),
            live: live::LiveConnections::new(config.live),
        });
        let upstreams = config.upstreams.clone();
        let state = GatewayState {
            proxy: proxy.clone(),
            upstreams: upstreams.clone(),
            started: Instant::now(),
            port,
        };
        let route = |service: &str, access, limit| -> anyhow::Result<Route> {
            let upstreams = config.upstream(service)?;
            Ok(Route {
                timeout: config
                    .service_timeouts
                    .get(upstreams.service)
                    .copied()
                    .unwrap_or(config.upstream_timeout),
                upstreams,
                access,
                limit,
                sessions: false,
                streams: false,
            })
        };
        let login = route("identity", Access::Public, LimitClass::Login)?;
        let identity_public = route("identity", Access::Public, LimitClass::Default)?;
        let identity_private = route("identity", Access::Authenticated, LimitClass::Default)?;
        let catalog_public = route("catalog", Access::Public, LimitClass::Search)?;
        let catalog_reads = route("catalog", Access::PublicReads, LimitClass::Search)?;
        let booking = route("booking", Access::Authenticated, LimitClass::Default)?;
        // A flight's seat map names no one: read like flight search.
        let booking_public = route("booking", Access::Public, LimitClass::Search)?;
        let notification = route("notification", Access::Authenticated, LimitClass::Default)?;
        let payment = route("payment", Access::Authenticated, LimitClass::Default)?;
        // Pages check the session cookie themselves; a page is a public read for rate limits.
        let pages = route("web", Access::Public, LimitClass::Search)?;
        // Socket.IO checks the token itself when a client connects (browsers send it in the
        // Socket.IO `auth` payload, which the gateway never sees). A long-polling request is held
        // until there is something to send, up to the ping interval (25 s).
        let live = Route {
            sessions: true,
            timeout: notification.timeout.max(LIVE_POLL_TIMEOUT),
            ..route("notification", Access::Public, LimitClass::Default)?
        };
        // Server-Sent Events: each open stream counts under the caps on open streams.
        let live_streams = Route {
            streams: true,
            ..notification.clone()
        };
        let api = WEB_PATHS
            .iter()
            .fold(Router::new(), |router, path| {
                router.route(path, forward(&pages))
            })
            .route("/api/gateway/status", get(status))
            .route("/api/discovery/status", get(discovery))
            .route("/api/operations/events", get(operations::events))
            .route("/api/openapi.yaml", get(openapi))
            .route("/api/auth/register", forward(&login))
            .route("/api/auth/login", forward(&login))
            .route("/api/auth/refresh", forward(&login))
            .route("/api/auth/logout", forward(&identity_public))
            .route("/api/auth/simulate-failure", forward(&identity_public))
            .route("/api/auth/{*rest}", forward(&identity_private))
            .route("/api/users", forward(&identity_private))
            .route("/api/users/{*rest}", forward(&identity_private))
            .route("/.well-known/jwks.json", forward(&identity_public))
            // Seed 002's flight API.
            .route("/seed", forward(&catalog_public))
            .route("/api/flight/search-flights", forward(&catalog_public))
            .route("/api/flight/book-flight", forward(&booking))
            .route("/api/flight/bookings/{*rest}", forward(&booking))
            .route("/api/flight/cancel-booking/{*rest}", forward(&booking))
            // The resource API.
            .route("/api/flights", forward(&catalog_reads))
            .route("/api/flights/{flight_id}", forward(&catalog_reads))
            // Booking owns seat inventory, so a flight's seat map is booking's; every other path
            // under a flight is catalog's. (A catch-all right after `/api/flights/` would clash
            // with the `{flight_id}` of the seat map's route.)
            .route("/api/flights/{flight_id}/seats", forward(&booking_public))
            .route("/api/flights/{flight_id}/{*rest}", forward(&catalog_reads))
            .route("/api/airports", forward(&catalog_reads))
            .route("/api/aircraft", forward(&catalog_reads))
            .route("/api/aircraft/{*rest}", forward(&catalog_reads))
            // Seed 003's listings (hotels, cars, their reviews) and the search across products.
            .route("/api/listings/{*rest}", forward(&catalog_reads))
            .route("/api/search", forward(&catalog_reads))
            .route("/api/bookings", forward(&booking))
            .route("/api/bookings/{*rest}", forward(&booking))
            .route("/api/trips", forward(&booking))
            .route("/api/trips/{*rest}", forward(&booking))
            .route("/api/notifications", forward(&notification))
            .route("/api/notifications/{*rest}", forward(&notification))
            .route("/api/subscriptions", forward(&notification))
            .route("/api/subscriptions/{*rest}", forward(&notification))
            .route(
                "/api/auth/user-subscriptions/{*rest}",
                forward(&notification),
            )
            .route("/api/live/{*rest}", forward(&live_streams))
            .route("/socket.io", forward(&live))
            .route("/socket.io/", forward(&live))
            .route("/api/payments", forward(&payment))
            .route("/api/payments/{*rest}", forward(&payment))
            .with_state(state);

        // Ready while every service behind it has an instance that answers.
        let edge = upstreams.iter().fold(
            context.edge_with_metrics(env!("CARGO_PKG_VERSION"), |registry| {
                gateway_metrics.register(registry);
            }),
            |edge, upstreams| {
                edge.check(UpstreamCheck {
                    client: client.clone(),
                    upstreams: upstreams.clone(),
                })
            },
        );
        let mut router = edge.build(api);
        if !settings.mode.is_demo() {
            router = router.layer(axum::middleware::from_fn_with_state(
                proxy,
                operations::staff_only,
            ));
        }
        let router = edge::with_edge_layers(router, &config);
        let mut parts = Parts::new(router);
        if !config.health_interval.is_zero() {
            for upstreams in &upstreams {
                let (upstreams, client) = (upstreams.clone(), client.clone());
                let interval = config.health_interval;
                parts = parts.runs(
                    Job::new(
                        format!("health checks of {}", upstreams.service),
                        move |task| check_health(upstreams, client, interval, task),
                    )
                    .stalls_after(TASK_STALL),
                );
            }
        }
        // Instances from the registry or DNS are looked up once before the first request.
        if upstreams.iter().any(|u| u.is_dynamic()) {
            let mut discovery = Discovery::connect(settings, config.discovery_interval).await?;
            for upstreams in &upstreams {
                discovery.refresh(upstreams).await;
            }
            parts = parts.runs(
                Job::new("discovery", move |task| discovery.run(upstreams, task))
                    .stalls_after(TASK_STALL),
            );
        }
        Ok(parts)
    }
}
