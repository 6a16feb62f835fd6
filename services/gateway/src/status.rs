//! What the gateway answers itself: seed 002's status and discovery status, the OpenAPI
//! document, and the handler that forwards a route.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{ConnectInfo, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, any};
use serde::Serialize;

use crate::proxy::{Proxy, Route};
use crate::upstream::{InstanceStatus, Upstreams};

#[derive(Clone)]
pub(crate) struct GatewayState {
    pub(crate) proxy: Arc<Proxy>,
    pub(crate) upstreams: Vec<Arc<Upstreams>>,
    pub(crate) started: Instant,
    pub(crate) port: u16,
}

/// A handler for every method that forwards to `route`.
pub(crate) fn forward(route: &Route) -> MethodRouter<GatewayState> {
    let route = route.clone();
    any(
        move |State(state): State<GatewayState>,
              ConnectInfo(peer): ConnectInfo<SocketAddr>,
              request: Request| {
            let route = route.clone();
            async move { state.proxy.forward(&route, peer, request).await }
        },
    )
}

#[derive(Serialize)]
pub(crate) struct GatewayStatus {
    status: &'static str,
    port: u16,
    uptime: f64,
}

/// Seed 002's `GET /api/gateway/status`.
pub(crate) async fn status(State(state): State<GatewayState>) -> Response {
    axum::Json(GatewayStatus {
        status: "Gateway is running",
        port: state.port,
        uptime: state.started.elapsed().as_secs_f64(),
    })
    .into_response()
}

#[derive(Serialize)]
pub(crate) struct DiscoveryStatus {
    status: &'static str,
    services: std::collections::BTreeMap<&'static str, Vec<InstanceStatus>>,
}

/// Seed 002's `GET /api/discovery/status`: every instance of every service (`url`, `instance`),
/// with what the gateway knows of its health.
pub(crate) async fn discovery(State(state): State<GatewayState>) -> Response {
    axum::Json(DiscoveryStatus {
        status: "Service Discovery is running",
        services: state
            .upstreams
            .iter()
            .map(|upstreams| (upstreams.service, upstreams.status()))
            .collect(),
    })
    .into_response()
}

/// The OpenAPI document of everything reached through the gateway.
pub(crate) async fn openapi() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/yaml")],
        include_str!("../../../docs/openapi.yaml"),
    )
        .into_response()
}
