//! Forwarding one request to one upstream instance.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::uri::{PathAndQuery, Uri};
use axum::http::{StatusCode, request};
use axum::response::{IntoResponse, Response};
use http_body_util::Limited;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use platform::Problem;
use platform::auth::{JwtVerifier, bearer_token};

use crate::upstream::Upstreams;

pub type HttpClient = Client<HttpConnector, Body>;

pub fn http_client() -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(Duration::from_secs(2)));
    Client::builder(TokioExecutor::new())
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

/// One proxied route: which service, who may call it, how long it may take.
#[derive(Clone, Debug)]
pub struct Route {
    pub upstreams: Arc<Upstreams>,
    pub access: Access,
    pub timeout: Duration,
}

/// What the gateway shares between requests.
pub struct Proxy {
    pub client: HttpClient,
    pub verifier: Arc<JwtVerifier>,
    pub body_limit: usize,
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
        let service = route.upstreams.service;
        let (mut parts, body) = request.into_parts();
        let needs_token = match route.access {
            Access::Public => false,
            Access::Authenticated => true,
            Access::PublicReads => !matches!(
                parts.method,
                axum::http::Method::GET | axum::http::Method::HEAD
            ),
        };
        if needs_token {
            let token = bearer_token(&parts)?;
            self.verifier.verify(token).await?;
        }
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

        let instance = route.upstreams.pick().ok_or_else(|| {
            gateway_problem(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("No instance of {service} is available"),
                "upstream",
                service,
                true,
            )
        })?;
        let path = parts.uri.path_and_query().map_or("/", PathAndQuery::as_str);
        let uri: Uri = format!("{}{}", instance.base, path)
            .parse()
            .map_err(|_| Problem::bad_request("The request target is not a valid URI"))?;
        prepare_headers(&mut parts, peer);
        parts.uri = uri;
        parts.version = axum::http::Version::HTTP_11;
        let upstream_request =
            axum::http::Request::from_parts(parts, Body::new(Limited::new(body, self.body_limit)));

        let response = match tokio::time::timeout(
            route.timeout,
            self.client.request(upstream_request),
        )
        .await
        {
            Ok(Ok(response)) => response,
            Ok(Err(e)) => {
                let detail = if e.is_connect() {
                    format!(
                        "{} ({service}) is unavailable; retry shortly",
                        instance.name
                    )
                } else {
                    format!("{} ({service}) failed to answer", instance.name)
                };
                return Err(gateway_problem(
                    StatusCode::BAD_GATEWAY,
                    detail,
                    "upstream",
                    service,
                    e.is_connect(),
                )
                .with_retry_after(1)
                .with_cause(format!("{e:?}")));
            }
            Err(_) => {
                return Err(gateway_problem(
                    StatusCode::GATEWAY_TIMEOUT,
                    format!(
                        "{} ({service}) did not answer within {:?}",
                        instance.name, route.timeout
                    ),
                    "upstream",
                    service,
                    false,
                ));
            }
        };
        let (mut parts, body) = response.into_parts();
        strip_hop_by_hop(&mut parts.headers);
        Ok(Response::from_parts(parts, Body::new(body)))
    }
}

/// Removes connection headers and records the client in `X-Forwarded-*`. The Authorization header
/// and the `traceparent` (which the access-log middleware has already set) are forwarded as they came.
fn prepare_headers(parts: &mut request::Parts, peer: SocketAddr) {
    let host = parts.headers.get(header::HOST).cloned();
    strip_hop_by_hop(&mut parts.headers);
    parts.headers.remove(header::HOST);

    let client = peer.ip().to_string();
    let forwarded_for = match parts
        .headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
    {
        Some(previous) => format!("{previous}, {client}"),
        None => client,
    };
    if let Ok(value) = HeaderValue::from_str(&forwarded_for) {
        parts.headers.insert("x-forwarded-for", value);
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
        prepare_headers(&mut parts, "192.0.2.1:5555".parse().unwrap());
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
        prepare_headers(&mut parts, "127.0.0.1:1".parse().unwrap());
        assert_eq!(parts.headers[&TRACEPARENT], traceparent);
    }
}
