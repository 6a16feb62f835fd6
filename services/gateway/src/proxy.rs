//! Forwarding one request to one upstream instance.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::uri::{PathAndQuery, Uri};
use axum::http::{StatusCode, request};
use axum::response::{IntoResponse, Response};
use http_body_util::Limited;
use hyper_util::client::legacy::Client as PooledClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use platform::Problem;
use platform::auth::{JwtVerifier, bearer_token};

use crate::client_address::{Client, TrustedProxies};
use crate::live::{Kind, LiveBody, LiveConnections, LiveSlot};
use crate::metrics::{
    ClassLabels, GatewayMetrics, InstanceLabels, KindLabels, LiveLabels, ServiceLabels,
    UpstreamLabels,
};
use crate::rate_limit::{Decision, LimitClass, RateLimiter};
use crate::upstream::{Lease, Outcome, Unavailable, Upstreams};

pub type HttpClient = PooledClient<HttpConnector, Body>;

pub fn http_client() -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(Duration::from_secs(2)));
    PooledClient::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(256)
        .build(connector)
}

/// Whether a route needs a valid access token before the request leaves the gateway.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Registration, login and the like: forwarded as they are.
    Public,
    /// A missing, expired or forged token is refused here with 401; the service verifies the
    /// token again itself.
    Authenticated,
    /// Reads (GET, HEAD) are public, like flight search; writes need a valid token.
    PublicReads,
}

/// One proxied route: which service, who may call it, how often, how long it may take.
#[derive(Clone, Debug)]
pub struct Route {
    pub upstreams: Arc<Upstreams>,
    pub access: Access,
    pub limit: LimitClass,
    pub timeout: Duration,
    /// Socket.IO: each session's requests go to the instance that opened it.
    pub sessions: bool,
    /// Answers are event streams: each takes a slot under the caps on open streams.
    pub streams: bool,
}

/// What the gateway shares between requests.
pub struct Proxy {
    pub client: HttpClient,
    pub verifier: Arc<JwtVerifier>,
    pub body_limit: usize,
    pub retries: RetryBudget,
    pub limiter: RateLimiter,
    pub metrics: GatewayMetrics,
    pub sessions: crate::sessions::Sessions,
    pub trusted_proxies: TrustedProxies,
    pub live: LiveConnections,
}

/// Headers that describe one connection, not the message, and are never forwarded (RFC 9110 7.6.1).
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in HOP_BY_HOP.iter().chain(named.iter()) {
        headers.remove(name);
    }
}

/// A problem raised by the gateway itself, saying which side failed and whether retrying is safe.
fn gateway_problem(
    status: StatusCode,
    detail: String,
    side: &str,
    service: &str,
    retryable: bool,
) -> Problem {
    Problem::new(status, detail)
        .with_type(match side {
            "client" => "invalid-request",
            _ => "upstream-unavailable",
        })
        .with_extension("side", side)
        .with_extension("service", service)
        .with_extension("retryable", retryable)
}

/// Retries may add at most this share of the requests of the current second (plus a small
/// floor), so that retries cannot multiply the load on a service that is already struggling.
pub struct RetryBudget {
    ratio: f64,
    floor: u64,
    second: AtomicU64,
    requests: AtomicU64,
    retries: AtomicU64,
}

impl RetryBudget {
    pub fn new(ratio: f64, floor: u64) -> Self {
        Self {
            ratio,
            floor,
            second: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            retries: AtomicU64::new(0),
        }
    }

    fn roll(&self) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if self.second.swap(now, Ordering::Relaxed) != now {
            self.requests.store(0, Ordering::Relaxed);
            self.retries.store(0, Ordering::Relaxed);
        }
    }

    fn request(&self) {
        self.roll();
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Takes a retry from the budget if there is one left.
    fn try_retry(&self) -> bool {
        self.roll();
        let allowed =
            self.floor + (self.requests.load(Ordering::Relaxed) as f64 * self.ratio) as u64;
        self.retries.fetch_add(1, Ordering::Relaxed) < allowed
    }
}

/// Safe to send again: reads, and writes that carry an `Idempotency-Key` (the service answers a
/// repeat with the first result).
fn idempotent(parts: &request::Parts) -> bool {
    matches!(
        parts.method,
        axum::http::Method::GET | axum::http::Method::HEAD | axum::http::Method::OPTIONS
    ) || parts.headers.contains_key("idempotency-key")
}

/// Most instances one request is tried on.
const MAX_ATTEMPTS: usize = 3;

/// What one attempt came to.
enum Attempt {
    Answered(Response),
    /// No answer; the flag says whether the request may be sent elsewhere (not after a
    /// timeout: the route's time is spent).
    Failed(Problem, bool),
}

impl Proxy {
    pub async fn forward(&self, route: &Route, peer: SocketAddr, request: Request) -> Response {
        match self.try_forward(route, peer, request).await {
            Ok(response) => response,
            Err(problem) => problem.into_response(),
        }
    }

    async fn try_forward(
        &self,
        route: &Route,
        peer: SocketAddr,
        request: Request,
    ) -> Result<Response, Problem> {
        let (parts, body) = request.into_parts();
        let client = self.trusted_proxies.client(peer.ip(), &parts.headers);
        // Every request from an address counts before the gateway spends anything on it, the
        // signature check of whatever token it carries included.
        let by_address = self.limiter.check(LimitClass::Address, &client.key).await;
        if let Some(refused) = by_address.as_ref().filter(|d| !d.allowed) {
            return Ok(self.refuse(refused, LimitClass::Address));
        }
        let needs_token = match route.access {
            Access::Public => false,
            Access::Authenticated => true,
            Access::PublicReads => !matches!(
                parts.method,
                axum::http::Method::GET | axum::http::Method::HEAD
            ),
        };
        let (caller, expires) = if needs_token {
            let token = bearer_token(&parts)?;
            self.metrics.token_verifications.inc();
            let caller = self.verifier.verify(token).await?;
            let expires = caller.expires_at.timestamp();
            (Some(caller), Some(expires))
        } else {
            (None, None)
        };
        // Login-like routes are limited per address whoever calls; the rest per user when the
        // token is known.
        let key = match (&caller, route.limit) {
            (Some(caller), class) if class != LimitClass::Login => {
                format!("user:{}", caller.user_id)
            }
            _ => format!("ip:{}", client.key),
        };
        let by_class = self.limiter.check(route.limit, &key).await;
        if let Some(refused) = by_class.as_ref().filter(|d| !d.allowed) {
            return Ok(self.refuse(refused, route.limit));
        }
        let user = caller.as_ref().map(|caller| caller.user_id);
        let sent = if is_upgrade(&parts) {
            // A WebSocket (or other upgrade) stays with one instance per caller.
            match self.open_live(Kind::WebSocket, user, &client) {
                Ok(slot) => {
                    self.tunnel(route, &client, parts, &key, slot, expires)
                        .await
                }
                Err(problem) => Err(problem),
            }
        } else if route.sessions {
            self.send_in_session(route, &client, parts, body).await
        } else if route.streams {
            match self.open_live(Kind::Stream, user, &client) {
                Ok(slot) => self
                    .send(route, &client, parts, body)
                    .await
                    .map(|response| self.stream(response, slot, expires)),
                Err(problem) => Err(problem),
            }
        } else {
            self.send(route, &client, parts, body).await
        };
        let mut response = match sent {
            Ok(response) => response,
            Err(problem) => problem.into_response(),
        };
        // The limit closest to refusing is the one the client needs to know about.
        let shown = match (&by_address, &by_class) {
            (Some(address), Some(class)) if address.remaining < class.remaining => Some(address),
            (_, Some(class)) => Some(class),
            (address, None) => address.as_ref(),
        };
        if let Some(decision) = shown {
            decision.headers(response.headers_mut());
        }
        Ok(response)
    }

    fn refuse(&self, decision: &Decision, class: LimitClass) -> Response {
        self.metrics
            .rate_limited
            .get_or_create(&ClassLabels {
                class: class.name().to_owned(),
            })
            .inc();
        let mut response = decision.refusal(class).into_response();
        decision.headers(response.headers_mut());
        response
    }

    /// A slot under the caps on open WebSockets or streams, or the 429 that names the cap.
    fn open_live(
        &self,
        kind: Kind,
        user: Option<i64>,
        client: &Client,
    ) -> Result<LiveSlot, Problem> {
        self.live.open(kind, user, &client.key).map_err(|reached| {
            self.metrics
                .live_refused
                .get_or_create(&LiveLabels {
                    kind: kind.name().to_owned(),
                    per: reached.per.name().to_owned(),
                })
                .inc();
            reached.problem()
        })
    }

    /// An answer on a streaming route: an event stream keeps its slot while it is open and ends
    /// when the caller's token expires; any other answer (a refusal) gives the slot back at once.
    fn stream(&self, response: Response, slot: LiveSlot, expires: Option<i64>) -> Response {
        let is_stream = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        if !is_stream {
            return response;
        }
        let (parts, body) = response.into_parts();
        let expired = self
            .metrics
            .live_expired
            .get_or_create(&KindLabels {
                kind: Kind::Stream.name().to_owned(),
            })
            .clone();
        let body = LiveBody::new(
            body,
            Some(slot),
            expires.map(crate::live::until),
            move || {
                expired.inc();
            },
        );
        Response::from_parts(parts, Body::new(body))
    }

    /// Sends the request to an instance, and to others when that is safe and worthwhile.
    async fn send(
        &self,
        route: &Route,
        client: &Client,
        mut parts: request::Parts,
        body: Body,
    ) -> Result<Response, Problem> {
        let service = route.upstreams.service;
        let declared_length = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared_length.is_some_and(|len| len > self.body_limit) {
            return Err(gateway_problem(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("The request body is larger than {} bytes", self.body_limit),
                "client",
                service,
                false,
            ));
        }
        let path = target_of(&parts);
        // Most reads have no body at all: nothing to buffer (decided before the hop-by-hop
        // headers, `Transfer-Encoding` among them, are removed).
        let bodiless = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .is_none_or(|v| v == "0")
            && !parts.headers.contains_key(header::TRANSFER_ENCODING);
        prepare_headers(&mut parts, client);
        parts.version = axum::http::Version::HTTP_11;
        self.retries.request();

        // A request that may be sent again keeps its body, to send it to another instance.
        let retryable = idempotent(&parts);
        let mut body = Some(body);
        let buffered = if retryable && bodiless {
            Some(bytes::Bytes::new())
        } else if retryable {
            // Read within the route's timeout: a body trickled in a byte at a time would otherwise
            // hold the connection for as long as its sender likes.
            let read = axum::body::to_bytes(body.take().unwrap_or_default(), self.body_limit);
            let bytes = tokio::time::timeout(route.timeout, read)
                .await
                .map_err(|_| {
                    gateway_problem(
                        StatusCode::REQUEST_TIMEOUT,
                        format!(
                            "The request body did not arrive within {} s",
                            route.timeout.as_secs_f64()
                        ),
                        "client",
                        service,
                        false,
                    )
                })?
                .map_err(|_| {
                    gateway_problem(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        format!("The request body is larger than {} bytes", self.body_limit),
                        "client",
                        service,
                        false,
                    )
                })?;
            Some(bytes)
        } else {
            None
        };

        let mut tried = Vec::with_capacity(MAX_ATTEMPTS);
        loop {
            let lease = route
                .upstreams
                .pick(&tried)
                .map_err(|unavailable| circuit_open(service, &unavailable))?;
            tried.push(lease.instance.clone());
            let uri: Uri = format!("{}{path}", lease.instance.base)
                .parse()
                .map_err(|_| Problem::bad_request("The request target is not a valid URI"))?;
            let mut attempt_parts = parts.clone();
            attempt_parts.uri = uri;
            let attempt_body = match &buffered {
                Some(bytes) => Body::from(bytes.clone()),
                None => Body::new(Limited::new(
                    body.take().unwrap_or_default(),
                    self.body_limit,
                )),
            };
            let upstream_request = axum::http::Request::from_parts(attempt_parts, attempt_body);
            let attempt = self.attempt(route, &lease, upstream_request).await;
            let worth_retrying = match &attempt {
                Attempt::Answered(response) => matches!(
                    response.status(),
                    StatusCode::BAD_GATEWAY
                        | StatusCode::SERVICE_UNAVAILABLE
                        | StatusCode::GATEWAY_TIMEOUT
                ),
                Attempt::Failed(_, elsewhere) => *elsewhere,
            };
            let again = retryable
                && worth_retrying
                && tried.len() < MAX_ATTEMPTS.min(route.upstreams.instances().len())
                && self.retries.try_retry();
            if again {
                tracing::info!(instance = %lease.instance.name, service, "retrying on another instance");
                self.metrics
                    .retries
                    .get_or_create(&ServiceLabels {
                        upstream: service.to_owned(),
                    })
                    .inc();
                continue;
            }
            return match attempt {
                Attempt::Answered(response) => Ok(response),
                Attempt::Failed(problem, _) => Err(problem),
            };
        }
    }

    /// Sends one attempt to the leased instance and reports the outcome to its health.
    async fn attempt(
        &self,
        route: &Route,
        lease: &Lease,
        request: axum::http::Request<Body>,
    ) -> Attempt {
        let service = route.upstreams.service;
        let instance = &lease.instance;
        let policy = &route.upstreams.outlier;
        let started = std::time::Instant::now();
        let result = tokio::time::timeout(route.timeout, self.client.request(request)).await;
        let outcome = match &result {
            Ok(Ok(response)) => format!("{}xx", response.status().as_u16() / 100),
            Ok(Err(_)) => "unreachable".to_owned(),
            Err(_) => "timeout".to_owned(),
        };
        let labels = InstanceLabels {
            upstream: service.to_owned(),
            instance: instance.name.clone(),
        };
        self.metrics
            .upstream_latency
            .get_or_create(&labels)
            .observe(started.elapsed().as_secs_f64());
        self.metrics
            .upstream_requests
            .get_or_create(&UpstreamLabels {
                upstream: service.to_owned(),
                instance: instance.name.clone(),
                outcome,
            })
            .inc();
        let report = |outcome| {
            if instance.report(outcome, policy) {
                self.metrics.ejections.get_or_create(&labels).inc();
            }
        };
        match result {
            Ok(Ok(response)) => {
                report(if response.status().is_server_error() {
                    Outcome::Failure
                } else {
                    Outcome::Success
                });
                let (mut parts, body) = response.into_parts();
                strip_hop_by_hop(&mut parts.headers);
                // The access log names the instance that answered.
                parts
                    .extensions
                    .insert(platform::http::Upstream(Arc::from(instance.name.as_str())));
                Attempt::Answered(Response::from_parts(parts, Body::new(body)))
            }
            Ok(Err(e)) => {
                report(Outcome::Failure);
                let detail = if e.is_connect() {
                    format!(
                        "{} ({service}) is unavailable; retry shortly",
                        instance.name
                    )
                } else {
                    format!("{} ({service}) failed to answer", instance.name)
                };
                Attempt::Failed(
                    gateway_problem(
                        StatusCode::BAD_GATEWAY,
                        detail,
                        "upstream",
                        service,
                        e.is_connect(),
                    )
                    .with_retry_after(1)
                    .with_cause(format!("{e:?}")),
                    true,
                )
            }
            Err(_) => {
                report(Outcome::Failure);
                Attempt::Failed(
                    gateway_problem(
                        StatusCode::GATEWAY_TIMEOUT,
                        format!(
                            "{} ({service}) did not answer within {:?}",
                            instance.name, route.timeout
                        ),
                        "upstream",
                        service,
                        false,
                    ),
                    false,
                )
            }
        }
    }
}

impl Proxy {
    /// The instance for a Socket.IO request: the session's own, or any for a new session.
    fn session_lease(&self, route: &Route, sid: Option<&str>) -> Result<Lease, Problem> {
        let upstreams = &route.upstreams;
        let service = upstreams.service;
        let Some(sid) = sid else {
            return upstreams
                .pick(&[])
                .map_err(|unavailable| circuit_open(service, &unavailable));
        };
        if let Some(lease) = self
            .sessions
            .instance(sid)
            .and_then(|base| upstreams.pick_instance(&base))
        {
            return Ok(lease);
        }
        upstreams
            .pick_sticky(sid)
            .map_err(|unavailable| circuit_open(service, &unavailable))
    }

    /// Forwards one Socket.IO long-polling request to its session's instance (never elsewhere:
    /// no other instance knows the session), and remembers where a new session was opened.
    async fn send_in_session(
        &self,
        route: &Route,
        client: &Client,
        mut parts: request::Parts,
        body: Body,
    ) -> Result<Response, Problem> {
        let sid = crate::sessions::sid_of(parts.uri.query()).map(str::to_owned);
        let lease = self.session_lease(route, sid.as_deref())?;
        let path = target_of(&parts);
        prepare_headers(&mut parts, client);
        parts.version = axum::http::Version::HTTP_11;
        parts.uri = format!("{}{path}", lease.instance.base)
            .parse()
            .map_err(|_| Problem::bad_request("The request target is not a valid URI"))?;
        let request =
            axum::http::Request::from_parts(parts, Body::new(Limited::new(body, self.body_limit)));
        let response = match self.attempt(route, &lease, request).await {
            Attempt::Answered(response) => response,
            Attempt::Failed(problem, _) => return Err(problem),
        };
        if sid.is_some() || response.status() != StatusCode::OK {
            return Ok(response);
        }
        // A handshake: its answer is small and names the new session.
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, 64 * 1024).await.map_err(|e| {
            gateway_problem(
                StatusCode::BAD_GATEWAY,
                format!(
                    "{} ({}) sent an unreadable handshake",
                    lease.instance.name, route.upstreams.service
                ),
                "upstream",
                route.upstreams.service,
                false,
            )
            .with_cause(e)
        })?;
        if let Some(sid) = crate::sessions::sid_in_handshake(&bytes) {
            self.sessions.remember(sid, lease.instance.base.clone());
        }
        Ok(Response::from_parts(parts, Body::from(bytes)))
    }
}

/// The path and query a request asks for, to send on to an instance.
fn target_of(parts: &request::Parts) -> String {
    parts
        .uri
        .path_and_query()
        .map_or("/", PathAndQuery::as_str)
        .to_owned()
}

/// The copy buffer of each direction of a tunnel.
const TUNNEL_BUFFER: usize = 4096;

/// A request to switch protocols (`Connection: upgrade` with an `Upgrade` header).
fn is_upgrade(parts: &request::Parts) -> bool {
    parts.headers.contains_key(header::UPGRADE)
        && parts
            .headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|token| token.trim().eq_ignore_ascii_case("upgrade"))
}

impl Proxy {
    /// Forwards an upgrade (a WebSocket handshake) to the caller's instance and, once the
    /// instance switches protocols, copies bytes both ways until either side closes or the
    /// caller's token expires. The tunnel holds `slot` while it is open.
    async fn tunnel(
        &self,
        route: &Route,
        client: &Client,
        mut parts: request::Parts,
        key: &str,
        slot: LiveSlot,
        expires: Option<i64>,
    ) -> Result<Response, Problem> {
        let service = route.upstreams.service;
        let client_upgrade = parts
            .extensions
            .remove::<hyper::upgrade::OnUpgrade>()
            .ok_or_else(|| Problem::bad_request("This connection cannot be upgraded"))?;
        let sid = crate::sessions::sid_of(parts.uri.query());
        let lease = match sid {
            Some(sid) if route.sessions => self.session_lease(route, Some(sid))?,
            _ => route
                .upstreams
                .pick_sticky(key)
                .map_err(|unavailable| circuit_open(service, &unavailable))?,
        };
        let upgrade = parts.headers.get(header::UPGRADE).cloned();
        let path = target_of(&parts);
        prepare_headers(&mut parts, client);
        // The hop-by-hop headers that ask for the upgrade go on to the instance.
        parts
            .headers
            .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        if let Some(upgrade) = upgrade {
            parts.headers.insert(header::UPGRADE, upgrade);
        }
        parts.version = axum::http::Version::HTTP_11;
        parts.uri = format!("{}{path}", lease.instance.base)
            .parse()
            .map_err(|_| Problem::bad_request("The request target is not a valid URI"))?;
        let request = axum::http::Request::from_parts(parts, Body::empty());
        let mut response =
            match tokio::time::timeout(route.timeout, self.client.request(request)).await {
                Ok(Ok(response)) => {
                    lease
                        .instance
                        .report(Outcome::Success, &route.upstreams.outlier);
                    response
                }
                Ok(Err(e)) => {
                    lease
                        .instance
                        .report(Outcome::Failure, &route.upstreams.outlier);
                    return Err(gateway_problem(
                        StatusCode::BAD_GATEWAY,
                        format!(
                            "{} ({service}) is unavailable; retry shortly",
                            lease.instance.name
                        ),
                        "upstream",
                        service,
                        true,
                    )
                    .with_cause(format!("{e:?}")));
                }
                Err(_) => {
                    lease
                        .instance
                        .report(Outcome::Failure, &route.upstreams.outlier);
                    return Err(gateway_problem(
                        StatusCode::GATEWAY_TIMEOUT,
                        format!(
                            "{} ({service}) did not answer the upgrade in time",
                            lease.instance.name
                        ),
                        "upstream",
                        service,
                        false,
                    ));
                }
            };
        if response.status() != StatusCode::SWITCHING_PROTOCOLS {
            // Refused (not found, not authorised): the answer goes back as it is.
            let (mut parts, body) = response.into_parts();
            strip_hop_by_hop(&mut parts.headers);
            return Ok(Response::from_parts(parts, Body::new(body)));
        }
        let upstream_upgrade = hyper::upgrade::on(&mut response);
        let instance = lease.instance.name.clone();
        let expired = self
            .metrics
            .live_expired
            .get_or_create(&KindLabels {
                kind: Kind::WebSocket.name().to_owned(),
            })
            .clone();
        tokio::spawn(async move {
            // The lease (an outstanding request) and the slot last as long as the connection.
            let (_lease, _slot) = (lease, slot);
            let (client, upstream) = match tokio::try_join!(client_upgrade, upstream_upgrade) {
                Ok(both) => both,
                Err(e) => {
                    tracing::warn!(instance, error = %e, "upgrade failed");
                    return;
                }
            };
            let mut client = hyper_util::rt::TokioIo::new(client);
            let mut upstream = hyper_util::rt::TokioIo::new(upstream);
            let expiry = async {
                match expires {
                    Some(expires) => tokio::time::sleep(crate::live::until(expires)).await,
                    None => std::future::pending().await,
                }
            };
            let token_expired = tokio::select! {
                // WebSocket messages are small and tunnels many: 4 KiB each way, not 8 KiB.
                copied = tokio::io::copy_bidirectional_with_sizes(
                    &mut client,
                    &mut upstream,
                    TUNNEL_BUFFER,
                    TUNNEL_BUFFER,
                ) => {
                    if let Err(e) = copied {
                        tracing::debug!(instance, error = %e, "tunnel closed");
                    }
                    false
                }
                () = expiry => true,
            };
            if token_expired {
                // Both connections close now: the client must come back with a fresh token.
                use tokio::io::AsyncWriteExt as _;
                tracing::debug!(instance, "tunnel closed: the access token expired");
                expired.inc();
                let _ = tokio::join!(client.shutdown(), upstream.shutdown());
            }
        });
        let (parts, _) = response.into_parts();
        Ok(Response::from_parts(parts, Body::empty()))
    }
}

/// Every instance of the service is ejected: seed 002's breaker answer, at once.
fn circuit_open(service: &str, unavailable: &Unavailable) -> Problem {
    let detail = match &unavailable.instance {
        Some(instance) => format!("{instance} is temporarily unavailable due to failures."),
        None => format!("No instance of {service} is available"),
    };
    gateway_problem(
        StatusCode::SERVICE_UNAVAILABLE,
        detail,
        "upstream",
        service,
        true,
    )
    .with_type("circuit-open")
    .with_retry_after(unavailable.retry_after.as_secs().max(1))
}

/// Removes connection headers and records the client in `X-Forwarded-*` (the chain ends with the
/// client the gateway settled on). The Authorization header and the `traceparent` (which the
/// access-log middleware has already set) are forwarded as they came.
fn prepare_headers(parts: &mut request::Parts, client: &Client) {
    let host = parts.headers.get(header::HOST).cloned();
    strip_hop_by_hop(&mut parts.headers);
    parts.headers.remove(header::HOST);

    match HeaderValue::from_str(&client.forwarded_for) {
        Ok(value) => {
            parts.headers.insert("x-forwarded-for", value);
        }
        Err(_) => {
            parts.headers.remove("x-forwarded-for");
        }
    }
    parts
        .headers
        .insert("x-forwarded-proto", HeaderValue::from_static("http"));
    if let Some(host) = host {
        parts.headers.insert("x-forwarded-host", host);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use platform::http::TRACEPARENT;

    #[test]
    fn connection_headers_are_not_forwarded_and_the_client_is_recorded() {
        let (mut parts, ()) = axum::http::Request::builder()
            .uri("/api/users/me")
            .header(header::HOST, "localhost:4000")
            .header(header::CONNECTION, "keep-alive, x-secret-hop")
            .header("x-secret-hop", "1")
            .header("keep-alive", "timeout=5")
            .header("x-forwarded-for", "203.0.113.9")
            .header(header::AUTHORIZATION, "Bearer abc")
            .body(())
            .unwrap()
            .into_parts();
        let client = TrustedProxies::default().client("192.0.2.1".parse().unwrap(), &parts.headers);
        prepare_headers(&mut parts, &client);
        let h = &parts.headers;
        assert!(h.get(header::CONNECTION).is_none());
        assert!(h.get("x-secret-hop").is_none());
        assert!(h.get("keep-alive").is_none());
        assert!(h.get(header::HOST).is_none());
        assert_eq!(h["x-forwarded-for"], "203.0.113.9, 192.0.2.1");
        assert_eq!(h["x-forwarded-host"], "localhost:4000");
        assert_eq!(h[header::AUTHORIZATION], "Bearer abc");
    }

    #[test]
    fn a_traceparent_is_passed_through_unchanged() {
        let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let (mut parts, ()) = axum::http::Request::builder()
            .header(TRACEPARENT, traceparent)
            .body(())
            .unwrap()
            .into_parts();
        let client = TrustedProxies::default().client("127.0.0.1".parse().unwrap(), &parts.headers);
        prepare_headers(&mut parts, &client);
        assert_eq!(parts.headers[&TRACEPARENT], traceparent);
    }
}
