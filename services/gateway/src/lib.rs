//! Itinera's API gateway: the one entry point on port 4000.
//!
//! It routes the seed 002 paths and the resource API to the services that own them, refuses
//! requests with a missing or bad access token before they leave the gateway (verifying tokens
//! locally against identity's JWKS), balances each service's instances by requests in flight,
//! ejects failing instances (passive outlier detection and active `/ready` checks: the circuit
//! breaker), retries idempotent requests on another instance within a budget, and answers for
//! itself on `/api/gateway/status` and `/api/discovery/status`.

pub mod metrics;
pub mod proxy;
pub mod rate_limit;
pub mod sessions;
pub mod upstream;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, any, get};
use platform::auth::JwtVerifier;
use platform::config::{ConfigError, ConfigSource, RunMode, ServiceSpec, Settings};
use platform::readiness::{CheckFuture, ReadinessCheck};
use platform::service::{Context, Host, Job, Parts, Service, TaskContext};
use serde::Serialize;

use crate::metrics::GatewayMetrics;
use crate::proxy::{Access, HttpClient, Proxy, RetryBudget, Route};
use crate::rate_limit::{LimitClass, LimitConfig, RateLimiter};
use crate::upstream::{HealthState, InstanceStatus, Outcome, Source, Upstreams};
use anyhow::Context as _;
use contracts::services::BACKENDS;

/// The gateway, as the host runs it.
pub struct Gateway;

/// A gateway instance, built and ready to run.
pub type Application = Host<Gateway>;
/// How long a Socket.IO long-polling request may wait for its answer.
const LIVE_POLL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// The gateway's configuration.
#[derive(Clone, Debug)]
pub struct Config {
    pub settings: Settings,
    /// The instances of every service behind the gateway (`contracts::services::BACKENDS`).
    pub upstreams: Vec<Arc<Upstreams>>,
    /// How long an upstream may take to answer.
    pub upstream_timeout: Duration,
    /// Per service, from `<SERVICE>_TIMEOUT_MS`, where it differs.
    pub service_timeouts: std::collections::HashMap<&'static str, Duration>,
    /// How often each instance's `/ready` is checked (zero: never).
    pub health_interval: Duration,
    /// How often instances are looked up again in the registry or DNS.
    pub discovery_interval: Duration,
    /// Retries may add this share of the requests (per second) on top of a floor of 10.
    pub retry_budget: f64,
    pub rate_limits: LimitConfig,
    /// Origins a browser may call the API from (`CORS_ALLOWED_ORIGINS`); empty: no CORS headers.
    pub cors_origins: Vec<HeaderValue>,
    /// Gzip responses for clients that accept it (`GATEWAY_COMPRESSION`).
    pub compression: bool,
}

impl Config {
    pub fn load(source: &ConfigSource, mode: RunMode) -> Result<Self, ConfigError> {
        let mut settings = Settings::load(source, Gateway::SPEC, mode)?;
        // Bodies pass through the gateway to services that apply their own, smaller limits.
        settings.body_limit = source
            .parse("GATEWAY_BODY_LIMIT_BYTES")?
            .unwrap_or(1024 * 1024);
        Ok(Self {
            settings,
            upstreams: BACKENDS
                .iter()
                .map(|spec| Upstreams::load(source, spec.name, spec.default_port))
                .collect::<Result<_, _>>()?,
            upstream_timeout: source
                .seconds("GATEWAY_UPSTREAM_TIMEOUT_SECS")?
                .unwrap_or(Duration::from_secs(30)),
            service_timeouts: BACKENDS
                .iter()
                .map(|spec| spec.name)
                .filter_map(|service| {
                    let key = format!("{}_TIMEOUT_MS", service.to_ascii_uppercase());
                    match source.parse::<u64>(&key) {
                        Ok(Some(ms)) if ms > 0 => Some(Ok((service, Duration::from_millis(ms)))),
                        Ok(Some(_)) => {
                            Some(Err(ConfigError::invalid(&key, "0", "must be more than 0")))
                        }
                        Ok(None) => None,
                        Err(e) => Some(Err(e)),
                    }
                })
                .collect::<Result<_, _>>()?,
            health_interval: source
                .parse::<u64>("GATEWAY_HEALTH_INTERVAL_MS")?
                .map_or(Duration::from_secs(2), Duration::from_millis),
            discovery_interval: source
                .parse::<u64>("GATEWAY_DISCOVERY_INTERVAL_MS")?
                .map_or(Duration::from_secs(1), Duration::from_millis)
                .max(Duration::from_millis(50)),
            retry_budget: f64::from(
                source
                    .parse::<u8>("GATEWAY_RETRY_BUDGET_PERCENT")?
                    .unwrap_or(20)
                    .min(100),
            ) / 100.0,
            rate_limits: LimitConfig::load(source)?,
            cors_origins: match source.get("CORS_ALLOWED_ORIGINS") {
                None => Vec::new(),
                Some(list) => list
                    .split(',')
                    .map(str::trim)
                    .filter(|o| !o.is_empty())
                    .map(|origin| {
                        let valid = origin == "*"
                            || origin.starts_with("http://")
                            || origin.starts_with("https://");
                        HeaderValue::from_str(origin)
                            .ok()
                            .filter(|_| valid)
                            .ok_or_else(|| {
                                ConfigError::invalid(
                                    "CORS_ALLOWED_ORIGINS",
                                    origin,
                                    "expected * or origins like https://app.example.com",
                                )
                            })
                    })
                    .collect::<Result<_, _>>()?,
            },
            compression: source.flag("GATEWAY_COMPRESSION")?.unwrap_or(true),
        })
    }
}

#[derive(Clone)]
struct GatewayState {
    proxy: Arc<Proxy>,
    upstreams: Vec<Arc<Upstreams>>,
    started: Instant,
    port: u16,
}

impl Config {
    /// The instances of one service behind the gateway.
    fn upstream(&self, service: &str) -> anyhow::Result<Arc<Upstreams>> {
        self.upstreams
            .iter()
            .find(|u| u.service == service)
            .cloned()
            .with_context(|| format!("{service} is not among the gateway's upstreams"))
    }
}

impl Service for Gateway {
    type Config = Config;
    const SPEC: ServiceSpec = contracts::services::GATEWAY;

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
        });
        let upstreams = config.upstreams.clone();
        let state = GatewayState {
            proxy,
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
            })
        };
        let login = route("identity", Access::Public, LimitClass::Login)?;
        let identity_public = route("identity", Access::Public, LimitClass::Default)?;
        let identity_private = route("identity", Access::Authenticated, LimitClass::Default)?;
        let catalog_public = route("catalog", Access::Public, LimitClass::Search)?;
        let catalog_reads = route("catalog", Access::PublicReads, LimitClass::Search)?;
        let booking = route("booking", Access::Authenticated, LimitClass::Default)?;
        let notification = route("notification", Access::Authenticated, LimitClass::Default)?;
        let payment = route("payment", Access::Authenticated, LimitClass::Default)?;
        // Socket.IO checks the token itself when a client connects (browsers send it in the
        // Socket.IO `auth` payload, which the gateway never sees). A long-polling request is held
        // until there is something to send, up to the ping interval (25 s).
        let live = Route {
            sessions: true,
            timeout: notification.timeout.max(LIVE_POLL_TIMEOUT),
            ..route("notification", Access::Public, LimitClass::Default)?
        };
        let api = Router::new()
            .route("/api/gateway/status", get(status))
            .route("/api/discovery/status", get(discovery))
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
            .route("/api/flights/{*rest}", forward(&catalog_reads))
            .route("/api/airports", forward(&catalog_reads))
            .route("/api/aircraft", forward(&catalog_reads))
            .route("/api/aircraft/{*rest}", forward(&catalog_reads))
            .route("/api/bookings", forward(&booking))
            .route("/api/bookings/{*rest}", forward(&booking))
            .route("/api/notifications", forward(&notification))
            .route("/api/notifications/{*rest}", forward(&notification))
            .route("/api/subscriptions", forward(&notification))
            .route("/api/subscriptions/{*rest}", forward(&notification))
            .route(
                "/api/auth/user-subscriptions/{*rest}",
                forward(&notification),
            )
            .route("/api/live/{*rest}", forward(&notification))
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
        let router = with_edge_layers(edge.build(api), &config);
        let mut parts = Parts::new(router);
        if !config.health_interval.is_zero() {
            for upstreams in &upstreams {
                let (upstreams, client) = (upstreams.clone(), client.clone());
                let interval = config.health_interval;
                parts = parts.runs(Job::new(
                    format!("health checks of {}", upstreams.service),
                    move |task| check_health(upstreams, client, interval, task),
                ));
            }
        }
        // Instances from the registry or DNS are looked up once before the first request.
        if upstreams.iter().any(|u| u.is_dynamic()) {
            let mut discovery = Discovery::connect(settings, config.discovery_interval).await?;
            for upstreams in &upstreams {
                discovery.refresh(upstreams).await;
            }
            parts = parts.runs(Job::new("discovery", move |task| {
                discovery.run(upstreams, task)
            }));
        }
        Ok(parts)
    }
}

/// Compression of answers for clients that accept gzip, and CORS for the configured origins (a
/// preflight is answered here, before authentication).
fn with_edge_layers(router: Router, config: &Config) -> Router {
    let router = if config.compression {
        router.layer(tower_http::compression::CompressionLayer::new())
    } else {
        router
    };
    if config.cors_origins.is_empty() {
        return router;
    }
    use axum::http::{HeaderName, Method};
    use tower_http::cors::{AllowOrigin, CorsLayer};
    let origins = if config.cors_origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(config.cors_origins.clone())
    };
    let header = HeaderName::from_static;
    router.layer(
        CorsLayer::new()
            .allow_origin(origins)
            .allow_methods([
                Method::GET,
                Method::HEAD,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
                Method::OPTIONS,
            ])
            .allow_headers([
                header("authorization"),
                header("content-type"),
                header("idempotency-key"),
                header("prefer"),
                header("x-request-id"),
                header("traceparent"),
            ])
            .expose_headers([
                header("ratelimit-limit"),
                header("ratelimit-remaining"),
                header("ratelimit-reset"),
                header("ratelimit-policy"),
                header("retry-after"),
                header("x-request-id"),
                header("idempotent-replayed"),
            ])
            .max_age(Duration::from_secs(600)),
    )
}

/// Looks up the instances of services found through the registry or DNS.
struct Discovery {
    redis: Option<redis::aio::ConnectionManager>,
    prefix: String,
    interval: Duration,
}

impl Discovery {
    async fn connect(settings: &Settings, interval: Duration) -> anyhow::Result<Self> {
        let redis = match &settings.redis_url {
            Some(url) => Some(
                redis::aio::ConnectionManager::new(redis::Client::open(url.as_str())?)
                    .await
                    .map_err(|e| {
                        anyhow::anyhow!(
                            "service discovery: Redis at {} is not reachable: {e}",
                            platform::config::redact_url(url)
                        )
                    })?,
            ),
            None => None,
        };
        Ok(Self {
            redis,
            prefix: settings.discovery.prefix.clone(),
            interval,
        })
    }

    /// Replaces the service's instances with what the registry or DNS says now; when the lookup
    /// fails, the last known instances stay.
    async fn refresh(&mut self, upstreams: &Upstreams) {
        let service = upstreams.service;
        let found: Result<Vec<(String, String)>, String> = match &upstreams.source {
            Source::Static(_) => return,
            Source::Registry => match self.redis.as_mut() {
                Some(redis) => platform::discovery::instances(redis, &self.prefix, service)
                    .await
                    .map(|entries| entries.into_iter().map(|e| (e.instance, e.url)).collect())
                    .map_err(|e| e.to_string()),
                None => Err("no REDIS_URL".into()),
            },
            Source::Dns { host, port } => tokio::net::lookup_host((host.as_str(), *port))
                .await
                .map(|addresses| {
                    let mut found: Vec<(String, String)> = addresses
                        .map(|address| {
                            (
                                format!("{service}_{}", address.ip()),
                                format!("http://{address}"),
                            )
                        })
                        .collect();
                    found.sort();
                    found.dedup();
                    found
                })
                .map_err(|e| e.to_string()),
        };
        match found {
            Ok(found) => upstreams.replace(found),
            Err(e) => {
                tracing::warn!(service, error = %e, "discovery failed; keeping the last known instances")
            }
        }
    }

    async fn run(mut self, upstreams: Vec<Arc<Upstreams>>, task: TaskContext) {
        loop {
            task.heartbeat.beat();
            tokio::select! {
                () = task.shutdown.cancelled() => return,
                () = tokio::time::sleep(self.interval) => {}
            }
            for upstreams in upstreams.iter().filter(|u| u.is_dynamic()) {
                self.refresh(upstreams).await;
            }
        }
    }
}

/// Active health checks: each instance's `/ready` on a timer, reported like a request. An
/// ejected instance is checked only once its ejection has run out (the check is its probation).
async fn check_health(
    upstreams: Arc<Upstreams>,
    client: HttpClient,
    interval: Duration,
    task: TaskContext,
) {
    loop {
        task.heartbeat.beat();
        tokio::select! {
            () = task.shutdown.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
        for instance in upstreams.instances().iter() {
            if instance.state() == HealthState::Ejected {
                continue;
            }
            let Ok(request) = axum::http::Request::get(format!("{}/ready", instance.base))
                .body(axum::body::Body::empty())
            else {
                continue;
            };
            let ready = matches!(
                tokio::time::timeout(interval.min(Duration::from_secs(2)), client.request(request)).await,
                Ok(Ok(response)) if response.status().is_success()
            );
            let outcome = if ready {
                Outcome::Success
            } else {
                Outcome::Failure
            };
            if instance.report(outcome, &upstreams.outlier) {
                tracing::warn!(instance = %instance.name, "not ready: ejected by the active check");
            }
        }
    }
}

/// A handler for every method that forwards to `route`.
fn forward(route: &Route) -> MethodRouter<GatewayState> {
    let route = route.clone();
    any(
        move |State(state): State<GatewayState>,
              ConnectInfo(peer): ConnectInfo<SocketAddr>,
              request: Request| {
            let route = route.clone();
            async move { state.proxy.forward(&route, peer, request).await }
        },
    )
}

#[derive(Serialize)]
struct GatewayStatus {
    status: &'static str,
    port: u16,
    uptime: f64,
}

/// Seed 002's `GET /api/gateway/status`.
async fn status(State(state): State<GatewayState>) -> Response {
    axum::Json(GatewayStatus {
        status: "Gateway is running",
        port: state.port,
        uptime: state.started.elapsed().as_secs_f64(),
    })
    .into_response()
}

#[derive(Serialize)]
struct DiscoveryStatus {
    status: &'static str,
    services: std::collections::BTreeMap<&'static str, Vec<InstanceStatus>>,
}

/// Seed 002's `GET /api/discovery/status`: every instance of every service (`url`, `instance`),
/// with what the gateway knows of its health.
async fn discovery(State(state): State<GatewayState>) -> Response {
    axum::Json(DiscoveryStatus {
        status: "Service Discovery is running",
        services: state
            .upstreams
            .iter()
            .map(|upstreams| (upstreams.service, upstreams.status()))
            .collect(),
    })
    .into_response()
}

/// The OpenAPI document of everything reached through the gateway.
async fn openapi() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/yaml")],
        include_str!("../../../docs/openapi.yaml"),
    )
        .into_response()
}

/// Ready while at least one instance of each upstream service answers `/health`.
struct UpstreamCheck {
    client: HttpClient,
    upstreams: Arc<Upstreams>,
}

impl ReadinessCheck for UpstreamCheck {
    fn name(&self) -> &'static str {
        self.upstreams.service
    }

    fn check(&self) -> CheckFuture<'_> {
        Box::pin(async move {
            let mut last_error = String::from("no instances configured");
            for instance in self.upstreams.instances().iter() {
                let uri = format!("{}/health", instance.base);
                let request = axum::http::Request::get(&uri)
                    .body(axum::body::Body::empty())
                    .map_err(|e| e.to_string())?;
                match self.client.request(request).await {
                    Ok(response) if response.status().is_success() => return Ok(()),
                    Ok(response) => {
                        last_error = format!("{} answered {}", instance.name, response.status())
                    }
                    Err(e) => last_error = format!("{}: {e}", instance.name),
                }
            }
            Err(last_error)
        })
    }
}
