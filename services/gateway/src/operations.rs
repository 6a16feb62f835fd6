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
    let client = proxy.trusted_proxies.client(peer.ip(), &parts.headers);
    if let Some(refused) = proxy
        .limiter
        .check(LimitClass::Address, &client.key)
        .await
        .filter(|d| !d.allowed)
    {
        let mut response = refused.refusal(LimitClass::Address).into_response();
        refused.headers(response.headers_mut());
        return response;
    }
    let token = match bearer_token(&parts) {
        Ok(token) => token,
        Err(AuthError::Missing) => {
            return Problem::new(
                StatusCode::UNAUTHORIZED,
                format!("{path} needs an ops or admin access token in production mode"),
            )
            .with_type("unauthenticated")
            .into_response();
        }
        Err(other) => return Problem::from(other).into_response(),
    };
    proxy.metrics.token_verifications.inc();
    let caller = match proxy.verifier.verify(token).await {
        Ok(caller) => caller,
        Err(e) => return Problem::from(e).into_response(),
    };
    if let Err(problem) = caller.require(&[Role::Ops, Role::Admin]) {
        return problem.into_response();
    }
    next.run(Request::from_parts(parts, body)).await
}
