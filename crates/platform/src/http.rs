//! The HTTP edge every service shares: operational endpoints, request ids, access log, metrics,
//! body limits, problem+json for every rejection, and graceful serving.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json as AxumJson, Router};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::net::TcpListener;
use tracing::Instrument;

use crate::error::{ErrorCause, Problem};
use crate::metrics::Metrics;
use crate::readiness::ReadinessCheck;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// How long in-flight requests may take to finish once shutdown has begun.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// What a service says about itself on `/version` and in its metrics.
#[derive(Clone, Debug)]
pub struct ServiceInfo {
    pub name: String,
    pub version: &'static str,
    pub mode: crate::config::Mode,
}

#[derive(Clone)]
struct OpsState {
    info: ServiceInfo,
    started: Instant,
    metrics: Metrics,
    checks: Arc<Vec<Box<dyn ReadinessCheck>>>,
}

/// Wraps a service's API router with everything every service has.
pub struct ServiceRouter {
    info: ServiceInfo,
    metrics: Metrics,
    checks: Vec<Box<dyn ReadinessCheck>>,
    body_limit: usize,
    /// The database whose event tables `/events` reports, when the service has one.
    events: Option<sqlx::PgPool>,
}

impl ServiceRouter {
    pub fn new(info: ServiceInfo, metrics: Metrics) -> Self {
        Self {
            info,
            metrics,
            checks: Vec::new(),
            body_limit: 64 * 1024,
            events: None,
        }
    }

    /// The usual edge of a service with a database: its name and version, metrics of its own,
    /// `/ready` checking the database and every configured dependency, its body limit.
    pub fn standard(
        settings: &crate::config::Settings,
        version: &'static str,
        db: &sqlx::PgPool,
    ) -> Self {
        Self::standard_with_metrics(settings, version, db, |_| {})
    }

    /// [`ServiceRouter::standard`], with metrics of the service's own registered beside the HTTP
    /// ones.
    pub fn standard_with_metrics(
        settings: &crate::config::Settings,
        version: &'static str,
        db: &sqlx::PgPool,
        register: impl FnOnce(&mut prometheus_client::registry::Registry),
    ) -> Self {
        Self::with_metrics(settings, version, register)
            .check(crate::readiness::PostgresCheck(db.clone()))
            .checks_for(settings)
    }

    /// The edge of a service with its name, version and body limit from `settings`, and metrics
    /// of its own beside the HTTP ones; no readiness checks yet.
    pub fn with_metrics(
        settings: &crate::config::Settings,
        version: &'static str,
        register: impl FnOnce(&mut prometheus_client::registry::Registry),
    ) -> Self {
        Self::new(
            ServiceInfo {
                name: settings.service_name.clone(),
                version,
                mode: settings.mode,
            },
            Metrics::new(&settings.service_name, register),
        )
        .body_limit(settings.body_limit)
    }

    /// Serves `/events`: the backlog of `db`'s outbox and its dead letters.
    #[must_use]
    pub fn events(mut self, db: sqlx::PgPool) -> Self {
        self.events = Some(db);
        self
    }

    #[must_use]
    pub fn check(mut self, check: impl ReadinessCheck) -> Self {
        self.checks.push(Box::new(check));
        self
    }

    /// Adds checks for every dependency the settings name (Redis, Kafka).
    #[must_use]
    pub fn checks_for(mut self, settings: &crate::config::Settings) -> Self {
        self.checks
            .extend(crate::readiness::configured_dependencies(settings));
        self
    }

    #[must_use]
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// The finished router: `api` plus `/health`, `/ready`, `/metrics`, `/version`, problem+json
    /// fallbacks, metrics by route template, request ids and the access log.
    pub fn build(self, api: Router) -> Router {
        let ops = OpsState {
            info: self.info.clone(),
            started: Instant::now(),
            metrics: self.metrics.clone(),
            checks: Arc::new(self.checks),
        };
        let mut operational = Router::new()
            .route("/health", get(health))
            .route("/ready", get(ready))
            .route("/metrics", get(render_metrics))
            .route("/version", get(version))
            .with_state(ops);
        if let Some(db) = self.events {
            operational =
                operational.route("/events", get(crate::events::status::serve).with_state(db));
        }
        api.merge(operational)
            .fallback(not_found)
            .method_not_allowed_fallback(method_not_allowed)
            .layer(middleware::from_fn_with_state(
                self.metrics,
                crate::metrics::track,
            ))
            .layer(axum::extract::DefaultBodyLimit::max(self.body_limit))
            .layer(middleware::from_fn_with_state(
                Arc::new(self.info),
                access_log,
            ))
            .layer(middleware::from_fn(run_to_completion))
    }
}

async fn health(State(ops): State<OpsState>) -> impl IntoResponse {
    AxumJson(serde_json::json!({
        "status": "ok",
        "service": ops.info.name,
        "uptime": ops.started.elapsed().as_secs_f64(),
    }))
}

async fn ready(State(ops): State<OpsState>) -> Response {
    let mut all_ok = true;
    let mut results = serde_json::Map::new();
    let mut failures = serde_json::Map::new();
    for check in ops.checks.iter() {
        let outcome = match tokio::time::timeout(Duration::from_secs(2), check.check()).await {
            Ok(Ok(())) => "ok".to_owned(),
            Ok(Err(e)) => {
                tracing::warn!(check = check.name(), error = %e, "readiness check failed");
                all_ok = false;
                if check.explains() {
                    failures.insert(check.name().to_owned(), serde_json::Value::String(e));
                }
                "unavailable".to_owned()
            }
            Err(_) => {
                tracing::warn!(check = check.name(), "readiness check timed out");
                all_ok = false;
                "timeout".to_owned()
            }
        };
        results.insert(check.name().to_owned(), serde_json::Value::String(outcome));
    }
    let status = if all_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let mut body = serde_json::json!({
        "status": if all_ok { "ready" } else { "unavailable" },
        "service": ops.info.name,
        "checks": results,
    });
    if !failures.is_empty() {
        body["failures"] = serde_json::Value::Object(failures);
    }
    (status, AxumJson(body)).into_response()
}

async fn render_metrics(State(ops): State<OpsState>) -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        ops.metrics.render(),
    )
}

async fn version(State(ops): State<OpsState>) -> impl IntoResponse {
    AxumJson(serde_json::json!({
        "service": ops.info.name,
        "version": ops.info.version,
        "mode": ops.info.mode.as_str(),
        "commit": option_env!("ITINERA_GIT_SHA").unwrap_or("unknown"),
    }))
}

async fn not_found(request: Request) -> Problem {
    Problem::not_found(format!(
        "No route for {} {}",
        request.method(),
        request.uri().path()
    ))
}

async fn method_not_allowed(request: Request) -> Problem {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "{} is not allowed on {}",
            request.method(),
            request.uri().path()
        ),
    )
    .with_type("method-not-allowed")
}

/// The `Idempotency-Key` header, if any: 1 to 255 visible ASCII characters, or a 400.
pub fn idempotency_key(headers: &axum::http::HeaderMap) -> Result<Option<String>, Problem> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(key)
            if !key.is_empty() && key.len() <= 255 && key.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            Ok(Some(key.to_owned()))
        }
        _ => Err(Problem::bad_request(
            "Idempotency-Key must be 1 to 255 visible ASCII characters",
        )),
    }
}

/// Runs a request that may change something (any method but GET, HEAD, OPTIONS and TRACE) in a
/// task of its own, so that it finishes even if its client goes away. Without it, a client that
/// disconnects drops the handler wherever it stands, in the middle of a transaction or between
/// two writes that belong together; with it, the request is either done or not done.
async fn run_to_completion(request: Request, next: Next) -> Response {
    if request.method().is_safe() {
        return next.run(request).await;
    }
    let (method, path) = (request.method().clone(), request.uri().path().to_owned());
    match tokio::spawn(next.run(request).in_current_span()).await {
        Ok(response) => response,
        Err(e) => {
            // Outside the access log, which ran inside the task: logged here.
            tracing::error!(%method, path, error = %e, "request task failed");
            Problem::internal(format!("the request's task failed: {e}")).into_response()
        }
    }
}

/// Set on a response by a proxy: the upstream instance that answered, for the access log.
#[derive(Clone, Debug)]
pub struct Upstream(pub Arc<str>);

/// Request id in and out, the caller's trace id in the span, one log line per request, and the
/// cause of every 5xx logged here rather than where the error was built.
async fn access_log(
    State(info): State<Arc<ServiceInfo>>,
    mut request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let request_id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_valid_request_id(v))
        .map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_owned);
    let header_value =
        HeaderValue::from_str(&request_id).unwrap_or(HeaderValue::from_static("invalid"));
    request
        .headers_mut()
        .insert(REQUEST_ID, header_value.clone());
    // Continue the caller's W3C trace, or start one, so every hop logs the same trace id.
    let trace_id = match request
        .headers()
        .get(&TRACEPARENT)
        .and_then(|v| v.to_str().ok())
        .and_then(trace_id_of)
    {
        Some(trace_id) => trace_id,
        None => {
            let (traceparent, trace_id) = new_traceparent();
            if let Ok(value) = HeaderValue::from_str(&traceparent) {
                request.headers_mut().insert(TRACEPARENT, value);
            }
            trace_id
        }
    };

    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let span = tracing::info_span!(
        "request",
        service = %info.name,
        request_id = %request_id,
        trace_id = %trace_id,
        method = %method,
        path = %path,
    );
    let mut response = next.run(request).instrument(span.clone()).await;
    response.headers_mut().insert(REQUEST_ID, header_value);

    let status = response.status().as_u16();
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let _entered = span.enter();
    let upstream = response.extensions().get::<Upstream>().map(|u| u.0.clone());
    let upstream = upstream.as_deref().unwrap_or("-");
    if let Some(cause) = response.extensions().get::<ErrorCause>() {
        if response.status().is_server_error() {
            tracing::error!(status, latency_ms, upstream, cause = %cause.0, "request failed");
        } else {
            tracing::warn!(status, latency_ms, upstream, cause = %cause.0, "request refused");
        }
    } else if is_probe(&path) && response.status().is_success() {
        tracing::debug!(status, latency_ms, upstream, "request served");
    } else {
        tracing::info!(status, latency_ms, upstream, "request served");
    }
    response
}

/// Health, readiness, metrics and version probes. Answered 2xx they are logged at debug: load
/// balancers, the gateway's active checks and scrapers call them every few seconds, and at info
/// they would bury every other line.
fn is_probe(path: &str) -> bool {
    matches!(path, "/health" | "/ready" | "/metrics" | "/version")
}

fn is_valid_request_id(value: &str) -> bool {
    !value.is_empty() && value.len() <= 128 && value.bytes().all(|b| b.is_ascii_graphic())
}

/// The trace id of a W3C `traceparent` header (`00-<32 hex>-<16 hex>-<2 hex>`), if it is valid.
pub fn trace_id_of(traceparent: &str) -> Option<String> {
    let mut parts = traceparent.split('-');
    let (version, trace, parent, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
    let valid = hex(version, 2)
        && version != "ff"
        && hex(trace, 32)
        && trace.bytes().any(|b| b != b'0')
        && hex(parent, 16)
        && parent.bytes().any(|b| b != b'0')
        && hex(flags, 2);
    valid.then(|| trace.to_ascii_lowercase())
}

/// A new sampled `traceparent` and its trace id.
pub fn new_traceparent() -> (String, String) {
    let trace_id = uuid::Uuid::new_v4().simple().to_string();
    let span_id = &uuid::Uuid::new_v4().simple().to_string()[..16];
    (format!("00-{trace_id}-{span_id}-01"), trace_id)
}

/// Binds a listener; port 0 picks a free port.
pub async fn bind(host: std::net::IpAddr, port: u16) -> std::io::Result<TcpListener> {
    TcpListener::bind(SocketAddr::new(host, port))
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {host}:{port}: {e}")))
}

pub use crate::server::{ServerLimits, serve};

/// Which page of a list a request asks for: `page` from 1, `pageSize` from 1 to
/// [`PageRequest::MAX_SIZE`] (default [`PageRequest::DEFAULT_SIZE`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRequest {
    pub page: u32,
    pub page_size: u32,
}

impl PageRequest {
    pub const DEFAULT_SIZE: u32 = 20;
    pub const MAX_SIZE: u32 = 100;

    /// From a request's `page` and `pageSize`, refusing values out of range with a 400.
    pub fn new(page: Option<u32>, page_size: Option<u32>) -> Result<Self, Problem> {
        let page = page.unwrap_or(1);
        let page_size = page_size.unwrap_or(Self::DEFAULT_SIZE);
        if page == 0 || !(1..=Self::MAX_SIZE).contains(&page_size) {
            return Err(Problem::bad_request(format!(
                "page starts at 1 and pageSize is 1 to {}",
                Self::MAX_SIZE
            )));
        }
        Ok(Self { page, page_size })
    }

    /// Rows to return (SQL `LIMIT`).
    pub fn limit(&self) -> i64 {
        i64::from(self.page_size)
    }

    /// Rows to skip (SQL `OFFSET`).
    pub fn offset(&self) -> i64 {
        i64::from(self.page - 1) * i64::from(self.page_size)
    }
}

/// One page of a list, in the one shape every list has: `items`, `page`, `pageSize`, `total`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub page: u32,
    pub page_size: u32,
    /// Rows in the whole list.
    pub total: i64,
}

impl<T> Paged<T> {
    pub fn new(items: Vec<T>, request: PageRequest, total: i64) -> Self {
        Self {
            items,
            page: request.page,
            page_size: request.page_size,
            total,
        }
    }
}

/// JSON body extractor whose rejections are problem+json with a message that says what is wrong.
///
/// A whole number written with a fraction or an exponent (`2.0`, `1e3`) is the same JSON number as
/// `2` or `1000` (RFC 8259 section 6), and clients whose numbers are all floats send it so; an
/// integer field takes it, below 2^53. A fraction a double can tell from zero is still refused
/// (`1.0000000000000001` cannot be told from `1.0`, as for every client that reads JSON numbers as
/// doubles).
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        use axum::extract::rejection::JsonRejection;
        let content_type = req.headers().get(axum::http::header::CONTENT_TYPE).cloned();
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| match e.status() {
                StatusCode::PAYLOAD_TOO_LARGE => too_large(),
                status => Problem::new(status, e.body_text()),
            })?;
        // The body is read once; the JSON extractor checks the content type and parses it.
        let mut buffered = Request::new(axum::body::Body::from(bytes.clone()));
        if let Some(content_type) = content_type {
            buffered
                .headers_mut()
                .insert(axum::http::header::CONTENT_TYPE, content_type);
        }
        match AxumJson::<T>::from_request(buffered, state).await {
            Ok(AxumJson(value)) => Ok(Self(value)),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Expected a JSON body with `Content-Type: application/json`",
            )
            .with_type("unsupported-media-type")),
            Err(JsonRejection::JsonSyntaxError(e)) => Err(Problem::bad_request(format!(
                "The request body is not valid JSON: {}",
                inner_message(&e)
            ))),
            Err(JsonRejection::JsonDataError(e)) => whole_numbers_as_integers(&bytes)
                .and_then(|value| serde_json::from_value(value).ok())
                .map(Self)
                .ok_or_else(|| {
                    Problem::bad_request(format!(
                        "The request body does not have the expected shape: {}",
                        inner_message(&e)
                    ))
                }),
            Err(other) => Err(Problem::new(other.status(), other.body_text())),
        }
    }
}

fn too_large() -> Problem {
    Problem::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "The request body is too large",
    )
    .with_type("payload-too-large")
}

/// The body with every whole number written as a float (`2.0`) turned into an integer, if it has
/// any; `None` when there is nothing to turn (the body's refusal stands as it is).
fn whole_numbers_as_integers(body: &[u8]) -> Option<serde_json::Value> {
    fn walk(value: &mut serde_json::Value) -> bool {
        match value {
            serde_json::Value::Number(n) if n.is_f64() => {
                // From 2^53 on, doubles skip integers (…993.0 reads as …992), so a float there
                // may not be the number that was written; leave those alone.
                const EXACT: f64 = 9_007_199_254_740_992.0;
                match n.as_f64() {
                    Some(f) if f.fract() == 0.0 && f.abs() < EXACT => {
                        *value = serde_json::Value::from(f as i64);
                        true
                    }
                    _ => false,
                }
            }
            // Every member is walked, so no short-circuiting `any`.
            serde_json::Value::Array(items) => {
                let mut changed = false;
                for item in items {
                    changed |= walk(item);
                }
                changed
            }
            serde_json::Value::Object(members) => {
                let mut changed = false;
                for member in members.values_mut() {
                    changed |= walk(member);
                }
                changed
            }
            _ => false,
        }
    }
    let mut value: serde_json::Value = serde_json::from_slice(body).ok()?;
    walk(&mut value).then_some(value)
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        AxumJson(self.0).into_response()
    }
}

/// Query-string extractor with problem+json rejections.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Self(q.0))
            .map_err(|e| {
                Problem::bad_request(format!("Invalid query string: {}", inner_message(&e)))
            })
    }
}

/// Path-parameter extractor with problem+json rejections.
#[derive(Debug, Clone, Copy, Default)]
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Self(p.0))
            .map_err(|e| {
                Problem::bad_request(format!("Invalid path parameter: {}", inner_message(&e)))
            })
    }
}

/// The innermost message of an extractor rejection, without axum's generic prefix.
fn inner_message(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(source) = current.source() {
        current = source;
    }
    current.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_is_parsed_strictly() {
        assert_eq!(
            trace_id_of("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").as_deref(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
        ] {
            assert_eq!(trace_id_of(bad), None, "{bad}");
        }
    }

    #[derive(Debug, serde::Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Counts {
        seats: i64,
        rows: Vec<u32>,
        share: Option<f64>,
    }

    async fn counts(body: &str) -> Result<Counts, Problem> {
        let request = Request::builder()
            .header("content-type", "application/json")
            .body(axum::body::Body::from(body.to_owned()))
            .unwrap();
        Json::<Counts>::from_request(request, &())
            .await
            .map(|j| j.0)
    }

    #[tokio::test]
    async fn whole_numbers_written_as_floats_fill_integer_fields() {
        let expected = Counts {
            seats: -2466,
            rows: vec![12, 1000],
            share: Some(0.5),
        };
        assert_eq!(
            counts(r#"{"seats": -2466.0, "rows": [12.0, 1e3], "share": 0.5}"#)
                .await
                .unwrap(),
            expected
        );
        assert_eq!(
            counts(r#"{"seats": -2466, "rows": [12, 1000], "share": 0.5}"#)
                .await
                .unwrap(),
            expected
        );
        for refused in [
            r#"{"seats": 2.5, "rows": []}"#,
            r#"{"seats": 1.0, "rows": [-1.0]}"#,
            r#"{"seats": 1.0, "rows": [], "extra": 1}"#,
            r#"{"seats": "1", "rows": []}"#,
            // Past 2^53 a double is not the number written (…993.0 would read as …992).
            r#"{"seats": 9007199254740993.0, "rows": []}"#,
        ] {
            let problem = counts(refused).await.unwrap_err();
            assert_eq!(problem.status, StatusCode::BAD_REQUEST, "{refused}");
            assert!(
                problem
                    .detail
                    .starts_with("The request body does not have the expected shape"),
                "{refused}: {problem}"
            );
        }
    }

    #[tokio::test]
    async fn a_body_without_a_json_content_type_is_415() {
        let request = Request::builder()
            .body(axum::body::Body::from(r#"{"seats": 1, "rows": []}"#))
            .unwrap();
        let problem = Json::<Counts>::from_request(request, &())
            .await
            .unwrap_err();
        assert_eq!(problem.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }

    #[test]
    fn request_ids_are_bounded_visible_ascii() {
        assert!(is_valid_request_id("abc-123"));
        assert!(!is_valid_request_id(""));
        assert!(!is_valid_request_id("has space"));
        assert!(!is_valid_request_id(&"x".repeat(129)));
    }
}
