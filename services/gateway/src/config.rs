//! The gateway's configuration: its own settings and the instances of every service behind it.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::http::HeaderValue;
use contracts::services::BACKENDS;
use platform::config::{ConfigError, ConfigSource, RunMode, Settings};
use platform::service::Service;

use crate::Gateway;
use crate::client_address::TrustedProxies;
use crate::live::LiveLimits;
use crate::rate_limit::LimitConfig;
use crate::upstream::Upstreams;

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
    /// Proxies whose `X-Forwarded-For` names the client (`GATEWAY_TRUSTED_PROXIES`).
    pub trusted_proxies: TrustedProxies,
    /// Caps on open WebSockets and event streams per user and per address.
    pub live: LiveLimits,
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
            trusted_proxies: TrustedProxies::load(source)?,
            live: LiveLimits::load(source)?,
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

impl Config {
    /// The instances of one service behind the gateway.
    pub(crate) fn upstream(&self, service: &str) -> anyhow::Result<Arc<Upstreams>> {
        self.upstreams
            .iter()
            .find(|u| u.service == service)
            .cloned()
            .with_context(|| format!("{service} is not among the gateway's upstreams"))
    }
}
