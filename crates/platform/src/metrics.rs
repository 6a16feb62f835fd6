//! Prometheus metrics, one registry per service so that `itinera up` keeps them apart.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: String,
    /// The route template (`/api/users/{id}`), never the raw path, so cardinality stays bounded.
    pub route: String,
    pub status: u16,
}

type HistogramFamily = Family<HttpLabels, Histogram, fn() -> Histogram>;

/// The metrics of one service.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    requests: Family<HttpLabels, Counter>,
    latency: HistogramFamily,
}

fn latency_histogram() -> Histogram {
    Histogram::new([
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ])
}

impl Metrics {
    /// A registry with the HTTP metrics; `extra` may register the service's own metrics.
    pub fn new(service: &str, extra: impl FnOnce(&mut Registry)) -> Self {
        let mut registry = Registry::with_labels(
            [(
                std::borrow::Cow::Borrowed("service"),
                std::borrow::Cow::Owned(service.to_owned()),
            )]
            .into_iter(),
        );
        let requests = Family::<HttpLabels, Counter>::default();
        let latency: HistogramFamily = Family::new_with_constructor(latency_histogram);
        registry.register("http_requests", "HTTP requests served", requests.clone());
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency from first byte in to response head out",
            latency.clone(),
        );
        extra(&mut registry);
        Self {
            registry: Arc::new(registry),
            requests,
            latency,
        }
    }

    pub fn observe(&self, labels: &HttpLabels, seconds: f64) {
        self.requests.get_or_create(labels).inc();
        self.latency.get_or_create(labels).observe(seconds);
    }

    /// The Prometheus text exposition of every metric in the registry.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// The method as a metrics label: the standard methods by name, anything else as `OTHER`, so a
/// client that makes methods up cannot create a new series with each.
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "OTHER",
    }
}

/// Middleware recording count and latency by method, route template and status.
pub async fn track(State(metrics): State<Metrics>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(request.method()).to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "<unmatched>".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    let labels = HttpLabels {
        method,
        route,
        status: response.status().as_u16(),
    };
    metrics.observe(&labels, started.elapsed().as_secs_f64());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn made_up_methods_share_one_series() {
        use tower::ServiceExt;
        let metrics = Metrics::new("identity", |_| {});
        let app = axum::Router::new()
            .route("/api/things", axum::routing::any(|| async { "ok" }))
            .layer(axum::middleware::from_fn_with_state(metrics.clone(), track));
        for method in ["GET", "BREW", "WHEN", "X-ANYTHING"] {
            let request = axum::http::Request::builder()
                .method(method)
                .uri("/api/things")
                .body(axum::body::Body::empty())
                .unwrap();
            app.clone().oneshot(request).await.unwrap();
        }
        let text = metrics.render();
        assert!(
            text.contains(r#"http_requests_total{service="identity",method="OTHER",route="/api/things",status="200"} 3"#),
            "{text}"
        );
        assert!(text.contains(r#"method="GET",route="/api/things",status="200"} 1"#));
        for made_up in ["BREW", "WHEN", "X-ANYTHING"] {
            assert!(!text.contains(made_up), "{made_up} became a label: {text}");
        }
    }

    #[test]
    fn renders_counts_and_histograms_by_route_template() {
        let metrics = Metrics::new("identity", |_| {});
        let labels = HttpLabels {
            method: "GET".into(),
            route: "/api/users/{id}".into(),
            status: 200,
        };
        metrics.observe(&labels, 0.003);
        metrics.observe(&labels, 0.2);
        let text = metrics.render();
        assert!(
            text.contains(r#"http_requests_total{service="identity",method="GET",route="/api/users/{id}",status="200"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(r#"le="0.005",method="GET",route="/api/users/{id}",status="200"} 1"#),
            "{text}"
        );
    }
}
