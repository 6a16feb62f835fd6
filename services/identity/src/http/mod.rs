//! Identity's HTTP API. Each resource contributes a router; this module merges them.

mod auth;
pub mod failure;
mod users;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::request::Parts;
use platform::Problem;
use platform::auth::JwtVerifier;

use crate::accounts::Accounts;

#[derive(Clone)]
pub struct AppState {
    pub accounts: Arc<Accounts>,
    pub verifier: Arc<JwtVerifier>,
    /// Peers whose `X-Forwarded-For` is believed (the gateway).
    pub trusted_proxies: Arc<Vec<IpAddr>>,
}

impl FromRef<AppState> for Arc<JwtVerifier> {
    fn from_ref(state: &AppState) -> Self {
        state.verifier.clone()
    }
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(auth::router())
        .merge(users::router())
        .with_state(state)
}

/// The client's address: the peer's, or, when the peer is a trusted proxy, the last address that
/// proxy appended to `X-Forwarded-For`.
pub struct ClientAddress(pub IpAddr);

impl FromRequestParts<AppState> for ClientAddress {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::from([127, 0, 0, 1]), |c| c.0.ip());
        let trusted = peer.is_loopback() || state.trusted_proxies.contains(&peer);
        let forwarded = trusted
            .then(|| parts.headers.get_all("x-forwarded-for").iter().next_back())
            .flatten()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|v| v.trim().parse::<IpAddr>().ok());
        Ok(Self(forwarded.unwrap_or(peer)))
    }
}
