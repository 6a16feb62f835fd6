//! The gateway's own metrics, beside the HTTP metrics every service has: what each upstream
//! instance answered and how fast, retries, ejections and rate-limit refusals.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UpstreamLabels {
    /// The upstream service (`service` is the gateway's own label).
    pub upstream: String,
    pub instance: String,
    /// `2xx` … `5xx`, or `unreachable`, `timeout`.
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct InstanceLabels {
    pub upstream: String,
    pub instance: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ServiceLabels {
    pub upstream: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClassLabels {
    pub class: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LiveLabels {
    /// `websocket` or `stream`.
    pub kind: String,
    /// The cap that refused: `user` or `address`.
    pub per: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: String,
}

type LatencyFamily = Family<InstanceLabels, Histogram, fn() -> Histogram>;

fn latency() -> Histogram {
    Histogram::new([
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ])
}

#[derive(Clone)]
pub struct GatewayMetrics {
    pub upstream_requests: Family<UpstreamLabels, Counter>,
    pub upstream_latency: LatencyFamily,
    pub retries: Family<ServiceLabels, Counter>,
    pub ejections: Family<InstanceLabels, Counter>,
    pub rate_limited: Family<ClassLabels, Counter>,
    /// Access tokens the gateway checked (signature, or its cache of tokens already checked).
    pub token_verifications: Counter,
    pub live_refused: Family<LiveLabels, Counter>,
    pub live_expired: Family<KindLabels, Counter>,
}

impl Default for GatewayMetrics {
    fn default() -> Self {
        Self {
            upstream_requests: Family::default(),
            upstream_latency: Family::new_with_constructor(latency),
            retries: Family::default(),
            ejections: Family::default(),
            rate_limited: Family::default(),
            token_verifications: Counter::default(),
            live_refused: Family::default(),
            live_expired: Family::default(),
        }
    }
}

impl GatewayMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "gateway_upstream_requests",
            "Requests sent to each upstream instance, by outcome",
            self.upstream_requests.clone(),
        );
        registry.register(
            "gateway_upstream_latency_seconds",
            "Time until each upstream instance answered",
            self.upstream_latency.clone(),
        );
        registry.register(
            "gateway_retries",
            "Idempotent requests sent again to another instance",
            self.retries.clone(),
        );
        registry.register(
            "gateway_ejections",
            "Times an instance was taken out of service",
            self.ejections.clone(),
        );
        registry.register(
            "gateway_rate_limited",
            "Requests refused by a rate limit, by class",
            self.rate_limited.clone(),
        );
        registry.register(
            "gateway_token_verifications",
            "Access tokens checked by the gateway",
            self.token_verifications.clone(),
        );
        registry.register(
            "gateway_live_refused",
            "WebSockets and event streams refused by a cap on open ones, by kind and cap",
            self.live_refused.clone(),
        );
        registry.register(
            "gateway_live_expired",
            "WebSockets and event streams closed because their access token expired",
            self.live_expired.clone(),
        );
    }
}
