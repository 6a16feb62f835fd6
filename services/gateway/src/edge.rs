//! Compression and CORS at the gateway's edge.

use std::time::Duration;

use axum::Router;

use crate::config::Config;

/// Compression of answers for clients that accept gzip, and CORS for the configured origins (a
/// preflight is answered here, before authentication).
pub(crate) fn with_edge_layers(router: Router, config: &Config) -> Router {
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
