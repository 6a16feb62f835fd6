//! The gateway's own operational endpoints in production mode. `/metrics`, `/ready` and
//! `/api/discovery/status` tell an outsider which services run where, which instances are failing
//! and how busy the platform is, so in production only staff (ops, admin) may read them at the
//! gateway, the public entry point. Each service keeps its own open to scrapers on its own port,
//! which is not public. In demo mode they stay open.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use platform::Problem;
use platform::auth::{AuthError, Role, bearer_token};

use crate::proxy::Proxy;
use crate::rate_limit::LimitClass;
use crate::status::GatewayState;

/// The paths only staff may read in production mode.
pub(crate) const STAFF_ONLY: [&str; 3] = ["/metrics", "/ready", "/api/discovery/status"];

/// Lets a request for a staff-only path through only with an ops or admin token: 401 without
/// one, 403 for anyone else. The client's address is counted first, as for every proxied request.
pub(crate) async fn staff_only(
    State(proxy): State<Arc<Proxy>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    if !STAFF_ONLY.contains(&path) {
        return next.run(request).await;
    }
    let path = path.to_owned();
    let (parts, body) = request.into_parts();
    if let Err(refused) = require_staff(&proxy, peer, &parts, &path).await {
        return refused;
    }
    next.run(Request::from_parts(parts, body)).await
}

/// Refuses a request for `path` unless it carries an ops or admin token: 401 without one, 403
/// for anyone else. The client's address is counted first, as for every proxied request.
pub(crate) async fn require_staff(
    proxy: &Proxy,
    peer: SocketAddr,
    parts: &axum::http::request::Parts,
    path: &str,
) -> Result<(), Response> {
    let client = proxy.trusted_proxies.client(peer.ip(), &parts.headers);
    if let Some(refused) = proxy
        .limiter
        .check(LimitClass::Address, &client.key)
        .await
        .filter(|d| !d.allowed)
    {
        let mut response = refused.refusal(LimitClass::Address).into_response();
        refused.headers(response.headers_mut());
        return Err(response);
    }
    let token = match bearer_token(parts) {
        Ok(token) => token,
        Err(AuthError::Missing) => {
            return Err(Problem::new(
                StatusCode::UNAUTHORIZED,
                format!("{path} needs an ops or admin access token"),
            )
            .with_type("unauthenticated")
            .into_response());
        }
        Err(other) => return Err(Problem::from(other).into_response()),
    };
    proxy.metrics.token_verifications.inc();
    let caller = match proxy.verifier.verify(token).await {
        Ok(caller) => caller,
        Err(e) => return Err(Problem::from(e).into_response()),
    };
    caller
        .require(&[Role::Ops, Role::Admin])
        .map_err(IntoResponse::into_response)
}

/// One instance's event backlog, or why it could not be read.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct InstanceEvents {
    instance: String,
    url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    events: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// `GET /api/operations/events`, for ops and admins in either mode: every instance's `/events`
/// (outbox backlog, dead letters), asked in parallel with a 2-second deadline each. Services
/// without a database (the web pages) are left out.
pub(crate) async fn events(
    State(state): State<GatewayState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let (parts, _) = request.into_parts();
    if let Err(refused) = require_staff(&state.proxy, peer, &parts, "/api/operations/events").await
    {
        return refused;
    }
    let mut asked = tokio::task::JoinSet::new();
    for upstreams in &state.upstreams {
        for instance in upstreams.instances().iter() {
            let (service, client) = (upstreams.service, state.proxy.client.clone());
            let (name, base) = (instance.name.clone(), instance.base.clone());
            asked.spawn(async move {
                let (events, error) = match instance_events(&client, &base).await {
                    Ok(Some(events)) => (Some(events), None),
                    Ok(None) => return None,
                    Err(e) => (None, Some(e)),
                };
                Some((
                    service,
                    InstanceEvents {
                        instance: name,
                        url: base,
                        events,
                        error,
                    },
                ))
            });
        }
    }
    let mut services: std::collections::BTreeMap<&str, Vec<InstanceEvents>> = Default::default();
    while let Some(done) = asked.join_next().await {
        if let Ok(Some((service, instance))) = done {
            services.entry(service).or_default().push(instance);
        }
    }
    for instances in services.values_mut() {
        instances.sort_by(|a, b| a.instance.cmp(&b.instance));
    }
    axum::Json(serde_json::json!({ "services": services })).into_response()
}

/// The instance's `/events`: `None` when it serves none (no database), an error when it does
/// not answer in time or answers something else.
async fn instance_events(
    client: &crate::proxy::HttpClient,
    base: &str,
) -> Result<Option<serde_json::Value>, String> {
    use http_body_util::BodyExt;
    let request = axum::http::Request::get(format!("{base}/events"))
        .body(axum::body::Body::empty())
        .map_err(|e| e.to_string())?;
    let response = tokio::time::timeout(std::time::Duration::from_secs(2), client.request(request))
        .await
        .map_err(|_| "no answer within 2 s".to_owned())?
        .map_err(|e| format!("unreachable: {e}"))?;
    match response.status() {
        StatusCode::NOT_FOUND => return Ok(None),
        status if !status.is_success() => return Err(format!("answered {status}")),
        _ => {}
    }
    let body = tokio::time::timeout(
        std::time::Duration::from_secs(2),
        http_body_util::Limited::new(response.into_body(), 64 * 1024).collect(),
    )
    .await
    .map_err(|_| "no answer within 2 s".to_owned())?
    .map_err(|e| e.to_string())?
    .to_bytes();
    serde_json::from_slice(&body)
        .map(Some)
        .map_err(|e| format!("unreadable: {e}"))
}
